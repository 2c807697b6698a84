/* SPDX-License-Identifier: MIT */
/*
 * sseload.c: the SSE load generator (one process, one epoll loop).
 *
 *   sseload --url 'http://127.0.0.1:PORT/sse?room={room}' --conns N [--rooms R]
 *           [--sources K] [--connect-rate C] [--duration SEC] [--json FILE]
 *           [--ready-file FILE] [--h2 [--streams-per-conn S]] [--stop-after D] [--quiet]
 *   sseload --churn --url ... --conns N --duration SEC [--tls-resume] [--stop-after C]
 *           [--json FILE]
 *
 * https:// URLs speak TLS (benchtls.h: OpenSSL, no certificate check, ALPN
 * http/1.1, or h2 with --h2). --h2 puts the N streams on ceil(N / S)
 * HTTP/2 connections, S streams each (default 100), through libnghttp2's
 * client session with flow control (sseload_h2.c); with an http:// URL it
 * is cleartext HTTP/2 with prior knowledge. A stream's response head is fed
 * to its sseparse parser as an HTTP/1.1 head, its DATA as the body, so both
 * protocols share the SSE parsing and the checks below.
 *
 * Load mode opens N streams (connection i in room r<i % R>, from source
 * address 127.0.0.<1 + i % K>), paced at C connects/s with a bounded number
 * of handshakes in flight, announces "ready <connected> <failed>" once every
 * stream has its response head or failed, then measures deliveries for
 * --duration seconds (or until SIGINT/SIGTERM, or --stop-after D deliveries
 * counted: scripts and tests wait for the tool rather than a time). Each
 * connection has its own
 * sseparse parser; the benchmark data ({"t","s","k"}) gives the latency
 * (receive time − t, CLOCK_REALTIME µs) and the sequence checks (a jump
 * forward is a gap, counted in the step of the message after the hole; a
 * step back or repeat is a reorder). Reads use one shared 256 KiB buffer and
 * one clock reading per read() (for HTTP/2, per read of the carrier's
 * socket, not per DATA frame); nothing is allocated or copied per event
 * (sseparse hands a complete event's data line over in place). TLS
 * HTTP/1.1 streams are level-triggered once their request is out, so a
 * wake-up costs one read(), not a second one that says "try again".
 *
 * Churn mode keeps N slots each looping connect → GET → response head →
 * close, and counts completed cycles and errors per second. Over TLS each
 * cycle is a full handshake, or with --tls-resume one resuming the newest
 * session ticket the server sent: the handshake-rate measurement (the
 * report counts handshakes and resumptions). The full handshakes go through
 * benchtls13.c's minimal TLS 1.3 client, which costs the tool far less CPU
 * than OpenSSL 3.0's, when the server completes one handshake with it at the
 * start (lite_probe), resumed ones too (each slot keeps the newest ticket
 * its previous connection got); otherwise through OpenSSL.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchnet.h"
#include "benchtls13.h"
#include "sseload.h"
#include "sseload_h2.h"
#include "sseparse.h"

enum { C_IDLE, C_CONNECTING, C_TLS, C_HEAD, C_STREAM, C_DEAD };

typedef struct conn {
    int fd;
    uint8_t state;
    uint8_t verdict; /* set by on_head, acted on once the parser returns */
    uint32_t idx;
    uint64_t last_s;
    uint64_t started_ns;
    ssep parser;
    SSL *ssl;     /* HTTP/1.1 over TLS */
    btls13 *lite; /* or over benchtls13.c's client (see lite_probe) */
} conn;

/* --h2: one TCP (+ TLS) connection carrying the streams first .. first+n-1
 * of conns[]; those streams have no socket of their own */
typedef struct carrier {
    int fd;
    uint8_t state; /* C_CONNECTING, C_TLS, C_STREAM (session up), C_DEAD */
    uint32_t first, n;
    uint64_t started_ns;
    SSL *ssl;
    sseload_h2 *h2;
} carrier;

/* epoll data: a conn's index, or a carrier's with this bit */
#define CARRIER_TAG (UINT64_C(1) << 32)

typedef struct opts {
    const char *url, *json, *ready_file;
    long conns, rooms, sources, connect_rate, max_pending;
    long streams_per_conn, stop_after;
    double duration, timeout;
    int quiet, churn, h2, tls_resume;
} opts;

static opts o = {.rooms = 1,
                 .sources = 8,
                 .connect_rate = 5000,
                 .max_pending = 500,
                 .timeout = 5,
                 .streams_per_conn = 100};
static SSL_CTX *tls;                   /* https URLs */
static SSL_SESSION **sessions;         /* --tls-resume: each slot's last session */
static btls13_ctx *lite;               /* benchtls13's client, when the server takes it */
static btls13_session **lite_sessions; /* --tls-resume with lite: each slot's newest ticket */
static carrier *carriers;
static long ncarriers;
static char authority[300];
static bench_url url;
static conn *conns;
static load_stats st;
static int ep;
/* Time in sseload is CLOCK_REALTIME in ns throughout (one clock reading per
 * read() serves both the latency, against the publisher's realtime stamp,
 * and the step spans); a short run does not meet clock steps. */
static uint64_t now_ns, recv_us; /* the clock at the current read() */

static uint64_t real_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static long pending; /* connecting or waiting for the head */
static volatile sig_atomic_t stop_flag;
static uint32_t *idle; /* churn: slots waiting to reconnect */
static long n_idle;
static char rbuf[256 * 1024];
static char path_prefix[2048], path_suffix[2048];
static int has_room_marker;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void usage(void) {
    fprintf(
        stderr,
        "usage: sseload --url 'http://127.0.0.1:PORT/sse?room={room}' --conns N [--rooms R]\n"
        "               [--sources K] [--connect-rate C] [--max-pending P] [--duration SEC]\n"
        "               [--timeout SEC] [--json FILE] [--ready-file FILE]\n"
        "               [--h2 [--streams-per-conn S]] [--stop-after DELIVERIES] [--quiet]\n"
        "       sseload --churn --url URL --conns N --duration SEC [--sources K] [--timeout SEC]\n"
        "               [--tls-resume] [--stop-after CYCLES] [--json FILE] [--quiet]\n"
        "URL: http:// or https:// (TLS, no certificate check)\n");
    exit(2);
}

/* --- connection life --------------------------------------------------- */

static void conn_close(conn *c) {
    if (sessions && c->ssl) sessions[c->idx] = benchtls_session(c->ssl, sessions[c->idx]);
    if (lite_sessions && c->lite)
        lite_sessions[c->idx] = btls13_session_take(c->lite, lite_sessions[c->idx]);
    benchtls_free(c->ssl);
    c->ssl = NULL;
    btls13_free(c->lite);
    c->lite = NULL;
    if (c->fd >= 0) close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
    if (c->state == C_CONNECTING || c->state == C_TLS || c->state == C_HEAD) pending--;
}

/* A churn slot's cycle ended (well or not): it reconnects in this same
 * loop turn (after the current batch of events). */
static void churn_next(conn *c) {
    conn_close(c);
    c->state = C_IDLE;
    idle[n_idle++] = c->idx;
}

static void conn_fail(conn *c, uint64_t *counter) {
    st.errors++;
    if (counter) (*counter)++;
    if (o.churn) {
        st.sec_errors++;
        churn_next(c);
        return;
    }
    if (c->state == C_STREAM) st.closed++;
    else st.failed++;
    conn_close(c);
    c->state = C_DEAD;
}

static void carrier_start(carrier *h);

static void conn_start(conn *c) {
    if (o.h2) { /* the first stream of its carrier starts the carrier */
        carrier_start(&carriers[c->idx / (uint32_t)o.streams_per_conn]);
        return;
    }
    int src = o.sources > 0 ? (int)(1 + c->idx % (uint32_t)o.sources) : 0;
    int fd = bench_connect(&url.addr, src);
    c->started_ns = now_ns;
    if (fd < 0) {
        c->state = C_CONNECTING;
        pending++;
        conn_fail(c, -fd == ECONNREFUSED ? &st.refused : NULL);
        return;
    }
    c->fd = fd;
    c->state = C_CONNECTING;
    pending++;
    ssep_reset(&c->parser);
    c->last_s = 0;
    if (lite ? !(c->lite = btls13_new(lite, fd, url.host,
                                      lite_sessions ? lite_sessions[c->idx] : NULL))
             : tls && !(c->ssl = benchtls_new(tls, fd, url.host,
                                              sessions ? sessions[c->idx] : NULL))) {
        conn_fail(c, NULL);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = c->idx};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) conn_fail(c, NULL);
}

/* the request path of a connection (its room in place of {room}) */
static void request_path(const conn *c, char *out, size_t cap) {
    if (has_room_marker)
        snprintf(out, cap, "%sr%lu%s", path_prefix, (unsigned long)(c->idx % (uint32_t)o.rooms),
                 path_suffix);
    else snprintf(out, cap, "%s", url.path);
}

static void send_request(conn *c) {
    char req[4400], path[4200];
    request_path(c, path, sizeof(path));
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\n\r\n",
                     path, authority);
    /* one small write into an empty socket (or TLS record): all or nothing */
    ssize_t w = c->lite ? btls13_write(c->lite, req, (size_t)n)
                        : benchtls_write(c->ssl, c->fd, req, (size_t)n);
    if (w != n) {
        conn_fail(c, w == BENCHTLS_ERROR && errno == ECONNREFUSED ? &st.refused : NULL);
        return;
    }
    c->state = C_HEAD;
    if ((c->ssl || c->lite) && !o.churn) { /* level-triggered from here on: see on_readable */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = c->idx};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) conn_fail(c, NULL);
    }
}

/* a TLS handshake finished: count it (and whether it resumed a session) */
static void count_handshake(SSL *ssl, const btls13 *t) {
    st.handshakes++;
    if (t) st.lite++; /* by benchtls13.c's client */
    if (t ? btls13_resumed(t) : benchtls_resumed(ssl)) st.resumed++;
}

/* --- parser callbacks -------------------------------------------------- */

enum { V_NONE, V_CYCLE_DONE, V_NON200 };

static void on_head(void *ud, int status) {
    conn *c = ud;
    if (status != 200 || o.churn) {
        c->verdict = status != 200 ? V_NON200 : V_CYCLE_DONE;
        ssep_stop(&c->parser); /* the connection is closed once the parser returns */
        return;
    }
    pending--;
    c->state = C_STREAM;
    st.connected++;
}

static void on_event(void *ud, const char *type, size_t type_len, const char *data, size_t len) {
    conn *c = ud;
    (void)type;
    (void)type_len;
    load_event(&st, &c->last_s, data, len, now_ns, recv_us);
}

static void on_comment(void *ud, const char *text, size_t len) {
    (void)ud;
    (void)text;
    (void)len;
    st.comments++;
}

static const ssep_callbacks callbacks = {.on_head = on_head,
                                         .on_event = on_event,
                                         .on_comment = on_comment};

/* --- readiness ----------------------------------------------------------- */

static void on_readable(conn *c) {
    for (;;) {
        /* benchtls13's records are parsed where they were decrypted */
        const char *got = rbuf;
        ssize_t n = c->lite ? btls13_read_in_place(c->lite, &got)
                            : benchtls_read(c->ssl, c->fd, rbuf, sizeof(rbuf));
        if (n > 0) {
            now_ns = real_ns();
            recv_us = now_ns / 1000;
            int rc = ssep_feed(&c->parser, got, (size_t)n);
            if (rc < 0) { /* not HTTP, or broken chunking */
                conn_fail(c, NULL);
                return;
            }
            if (rc > 0) {
                int verdict = c->verdict;
                c->verdict = V_NONE;
                if (verdict == V_NON200) {
                    conn_fail(c, &st.non200);
                } else if (verdict == V_CYCLE_DONE) {
                    st.cycles++;
                    st.sec_cycles++;
                    churn_next(c);
                }
                return;
            }
            /* edge-triggered: a short plain read drained the socket; TLS may hold more */
            if (!c->ssl && !c->lite && (size_t)n < sizeof(rbuf)) return;
            /* A TLS read returns one record, and whether the socket holds
             * more is unknown; reading on to "try again" would cost a second
             * read() per wake-up. A TLS stream is level-triggered instead
             * (send_request): it reads on only while OpenSSL (or benchtls13)
             * holds a record, and epoll reports it again while the socket
             * holds more. Churn slots stay edge-triggered (one response
             * head, then close). */
            if (c->ssl && !o.churn && !SSL_has_pending(c->ssl)) return;
            if (c->lite && !o.churn && !btls13_has_record(c->lite)) return;
            continue;
        }
        if (n == 0) {
            if (o.churn) {
                conn_fail(c, &st.eof_early);
            } else if (c->state == C_STREAM) {
                st.closed++;
                conn_close(c);
                c->state = C_DEAD;
            } else {
                conn_fail(c, &st.eof_early);
            }
            return;
        }
        if (n == BENCHTLS_AGAIN) return;
        conn_fail(c, !c->ssl && !c->lite && errno == ECONNREFUSED ? &st.refused : &st.resets);
        return;
    }
}

static void on_ready(conn *c, uint32_t events) {
    if (c->state == C_CONNECTING) {
        if (events & (EPOLLERR | EPOLLHUP)) {
            int err = 0;
            socklen_t el = sizeof(err);
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            conn_fail(c, err == ECONNREFUSED ? &st.refused : &st.resets);
            return;
        }
        if (!(events & EPOLLOUT)) return;
        if (c->ssl || c->lite) c->state = C_TLS;
        else send_request(c);
    }
    if (c->state == C_TLS) {
        int rc = c->lite ? btls13_handshake(c->lite) : benchtls_handshake(c->ssl);
        if (rc < 0) {
            conn_fail(c, &st.tls_failed);
            return;
        }
        if (rc == 0) return;
        count_handshake(c->ssl, c->lite);
        send_request(c);
    }
    if (c->state != C_HEAD && c->state != C_STREAM) return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) on_readable(c);
}

/* --- HTTP/2 carriers (--h2) ---------------------------------------------- */

/* A carrier broke: its streams end (those with a head count as closed by
 * the server, the others as failed). */
static void carrier_fail(carrier *h, uint64_t *counter) {
    sseload_h2_free(h->h2);
    h->h2 = NULL;
    benchtls_free(h->ssl);
    h->ssl = NULL;
    if (h->fd >= 0) close(h->fd);
    h->fd = -1;
    h->state = C_DEAD;
    for (uint32_t i = h->first; i < h->first + h->n; i++) {
        conn *c = &conns[i];
        if (c->state == C_STREAM) {
            st.closed++;
            c->state = C_DEAD;
        } else if (c->state != C_DEAD && c->state != C_IDLE) {
            conn_fail(c, counter);
        }
    }
}

static void carrier_start(carrier *h) {
    int src = o.sources > 0 ? (int)(1 + (uint64_t)(h - carriers) % (uint64_t)o.sources) : 0;
    h->started_ns = now_ns;
    for (uint32_t i = h->first; i < h->first + h->n; i++) {
        conn *c = &conns[i];
        c->state = C_CONNECTING;
        c->started_ns = now_ns;
        c->last_s = 0;
        ssep_reset(&c->parser);
        pending++;
    }
    h->state = C_CONNECTING;
    int fd = bench_connect(&url.addr, src);
    if (fd < 0) {
        carrier_fail(h, -fd == ECONNREFUSED ? &st.refused : NULL);
        return;
    }
    h->fd = fd;
    if (tls && !(h->ssl = benchtls_new(tls, fd, url.host, NULL))) {
        carrier_fail(h, NULL);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = CARRIER_TAG | (uint64_t)(h - carriers)};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) carrier_fail(h, NULL);
}

static void h2_on_status(void *stream, int status) {
    conn *c = stream;
    if (c->state != C_HEAD) return;
    /* the stream's head, as the HTTP/1.1 head the parser knows: the body
     * then runs until the stream ends */
    char head[64];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d H2\r\n\r\n", status);
    if (ssep_feed(&c->parser, head, (size_t)n) != 0) {
        int verdict = c->verdict;
        c->verdict = V_NONE;
        conn_fail(c, verdict == V_NON200 ? &st.non200 : NULL);
    }
}

/* the receive time of every frame in what was just read */
static void h2_on_read(void) {
    now_ns = real_ns();
    recv_us = now_ns / 1000;
}

static void h2_on_data(void *stream, const uint8_t *data, size_t len) {
    conn *c = stream;
    if (c->state != C_STREAM) return; /* a stream failed here: the rest is ignored */
    if (ssep_feed(&c->parser, (const char *)data, len) < 0) conn_fail(c, NULL);
}

static void h2_on_close(void *stream) {
    conn *c = stream;
    if (c->state == C_STREAM) {
        st.closed++;
        c->state = C_DEAD;
    } else if (c->state == C_HEAD) {
        conn_fail(c, &st.eof_early);
    }
}

static const sseload_h2_hooks h2_hooks = {.on_read = h2_on_read,
                                          .on_status = h2_on_status,
                                          .on_data = h2_on_data,
                                          .on_close = h2_on_close};

static void carrier_ready(carrier *h, uint32_t events) {
    if (h->state == C_CONNECTING) {
        if (events & (EPOLLERR | EPOLLHUP)) {
            int err = 0;
            socklen_t el = sizeof(err);
            getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            carrier_fail(h, err == ECONNREFUSED ? &st.refused : &st.resets);
            return;
        }
        if (!(events & EPOLLOUT)) return;
        h->state = h->ssl ? C_TLS : C_HEAD;
    }
    if (h->state == C_TLS) {
        int rc = benchtls_handshake(h->ssl);
        if (rc < 0) {
            carrier_fail(h, &st.tls_failed);
            return;
        }
        if (rc == 0) return;
        count_handshake(h->ssl, NULL);
        if (!benchtls_alpn_is(h->ssl, "h2")) { /* the server speaks no HTTP/2 over TLS */
            st.no_h2++;
            carrier_fail(h, NULL);
            return;
        }
        h->state = C_HEAD;
    }
    if (h->state == C_HEAD) { /* the session starts: every stream's request at once */
        h->h2 = sseload_h2_new(h->fd, h->ssl, &h2_hooks);
        if (!h->h2) {
            carrier_fail(h, NULL);
            return;
        }
        char path[4200];
        for (uint32_t i = h->first; i < h->first + h->n; i++) {
            conn *c = &conns[i];
            if (c->state != C_CONNECTING) continue; /* timed out meanwhile */
            request_path(c, path, sizeof(path));
            if (sseload_h2_get(h->h2, tls ? "https" : "http", authority, path, c) < 0)
                conn_fail(c, NULL);
            else c->state = C_HEAD;
        }
        h->state = C_STREAM;
    }
    if (h->state == C_STREAM && sseload_h2_io(h->h2) < 0) carrier_fail(h, &st.resets);
}

/* --- options ------------------------------------------------------------- */

static long num_arg(const char *v, long min) {
    char *e;
    long n = strtol(v, &e, 10);
    if (*e || n < min) usage();
    return n;
}

static void parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--churn")) o.churn = 1;
        else if (!strcmp(a, "--quiet")) o.quiet = 1;
        else if (!strcmp(a, "--h2")) o.h2 = 1;
        else if (!strcmp(a, "--tls-resume")) o.tls_resume = 1;
        else if (!v) usage();
        else if (!strcmp(a, "--url")) o.url = v, i++;
        else if (!strcmp(a, "--conns")) o.conns = num_arg(v, 1), i++;
        else if (!strcmp(a, "--rooms")) o.rooms = num_arg(v, 1), i++;
        else if (!strcmp(a, "--sources")) o.sources = num_arg(v, 0), i++;
        else if (!strcmp(a, "--connect-rate")) o.connect_rate = num_arg(v, 0), i++;
        else if (!strcmp(a, "--max-pending")) o.max_pending = num_arg(v, 1), i++;
        else if (!strcmp(a, "--duration")) o.duration = atof(v), i++;
        else if (!strcmp(a, "--timeout")) o.timeout = atof(v), i++;
        else if (!strcmp(a, "--json")) o.json = v, i++;
        else if (!strcmp(a, "--ready-file")) o.ready_file = v, i++;
        else if (!strcmp(a, "--streams-per-conn")) o.streams_per_conn = num_arg(v, 1), i++;
        else if (!strcmp(a, "--stop-after")) o.stop_after = num_arg(v, 1), i++;
        else usage();
    }
    if (!o.url || o.conns <= 0 || o.timeout <= 0 || o.duration < 0 || (o.h2 && o.churn)) usage();
    if (o.sources > 254) o.sources = 254;
}

static void split_room_marker(void) {
    const char *m = strstr(url.path, "{room}");
    if (!m) return;
    has_room_marker = 1;
    snprintf(path_prefix, sizeof(path_prefix), "%.*s", (int)(m - url.path), url.path);
    snprintf(path_suffix, sizeof(path_suffix), "%s", m + 6);
}

static void announce_ready(void) {
    char line[128];
    snprintf(line, sizeof(line), "ready %llu %llu\n", (unsigned long long)st.connected,
             (unsigned long long)st.failed);
    fputs(line, stdout);
    fflush(stdout);
    if (o.ready_file && bench_write_file_atomic(o.ready_file, line) < 0)
        fprintf(stderr, "sseload: cannot write %s\n", o.ready_file);
}

/* HTTP/1.1 over TLS goes through benchtls13.c's TLS 1.3 client when one
 * handshake with it completes: churn's full handshakes cost a fraction of
 * OpenSSL 3.0's client CPU there, and a stream's records cost less to open
 * (a cipher context keyed once per connection, several records per read(),
 * each parsed where it was decrypted, no copy), so the tool keeps up with
 * the server. Otherwise (a TLS 1.2 server such as nginx 1.22, another curve
 * or certificate key) they stay with OpenSSL. BENCHTLS_OPENSSL=1 keeps
 * OpenSSL's, to compare. HTTP/2 carriers always use OpenSSL. */
static void lite_probe(void) {
    lite = btls13_ctx_new("http/1.1");
    int fd = lite ? bench_connect(&url.addr, 0) : -1;
    btls13 *t = fd >= 0 ? btls13_new(lite, fd, url.host, NULL) : NULL;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int rc = t && poll(&p, 1, 2000) == 1 && !(p.revents & (POLLERR | POLLHUP)) ? 0 : -1;
    while (rc == 0 && (rc = btls13_handshake(t)) == 0) {
        p.events = POLLIN;
        if (poll(&p, 1, 2000) != 1) rc = -1;
    }
    btls13_free(t);
    if (fd >= 0) close(fd);
    if (!o.quiet)
        fprintf(stderr, "sseload: TLS by %s\n",
                rc == 1 ? "benchtls13 (TLS 1.3, X25519, AES-128-GCM, ECDSA P-256)"
                        : "OpenSSL (the server did not complete benchtls13's TLS 1.3 handshake)");
    if (rc == 1) {
        if (!o.churn) btls13_ctx_for_streams(lite);
        return;
    }
    btls13_ctx_free(lite);
    lite = NULL;
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    char err[512];
    if (bench_url_parse(&url, o.url, err, sizeof(err)) < 0) {
        fprintf(stderr, "sseload: %s\n", err);
        return 2;
    }
    if ((ntohl(url.addr.sin_addr.s_addr) >> 24) != 127) o.sources = 0; /* not loopback */
    split_room_marker();
    snprintf(authority, sizeof(authority), "%s:%d", url.host, url.port);
    if (!strcmp(url.scheme, "https")) {
        tls = benchtls_client_ctx(o.h2 ? "h2" : "http/1.1", o.tls_resume);
        if (!tls) return 1;
        if (o.tls_resume && !o.h2 && !(sessions = calloc((size_t)o.conns, sizeof(*sessions)))) {
            fprintf(stderr, "sseload: out of memory\n");
            return 1;
        }
        if (!o.h2 && !getenv("BENCHTLS_OPENSSL")) lite_probe();
        if (lite && o.tls_resume &&
            !(lite_sessions = calloc((size_t)o.conns, sizeof(*lite_sessions)))) {
            fprintf(stderr, "sseload: out of memory\n");
            return 1;
        }
    } else if (strcmp(url.scheme, "http") != 0) {
        fprintf(stderr, "sseload: http:// or https:// URLs only\n");
        return 2;
    }
    long nofile = bench_raise_nofile();
    if (nofile > 0 && o.conns + 32 > nofile)
        fprintf(stderr, "sseload: warning: %ld connections but the file limit is %ld\n", o.conns,
                nofile);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    ep = epoll_create1(EPOLL_CLOEXEC);
    conns = calloc((size_t)o.conns, sizeof(*conns));
    idle = calloc(2 * (size_t)o.conns, sizeof(*idle)); /* see the reconnect loop */
    if (o.h2) {
        ncarriers = (o.conns + o.streams_per_conn - 1) / o.streams_per_conn;
        carriers = calloc((size_t)ncarriers, sizeof(*carriers));
        for (long j = 0; carriers && j < ncarriers; j++) {
            carriers[j].fd = -1;
            carriers[j].first = (uint32_t)(j * o.streams_per_conn);
            long left = o.conns - j * o.streams_per_conn;
            carriers[j].n = (uint32_t)(left < o.streams_per_conn ? left : o.streams_per_conn);
        }
    }
    if (ep < 0 || !conns || !idle || (o.h2 && !carriers)) {
        perror("sseload");
        return 1;
    }
    for (long i = 0; i < o.conns; i++) {
        conns[i].fd = -1;
        conns[i].idx = (uint32_t)i;
        if (ssep_init(&conns[i].parser, SSEP_SSE, &callbacks, &conns[i], 512, 512) < 0) {
            fprintf(stderr, "sseload: out of memory\n");
            return 1;
        }
    }
    st.conns = (uint64_t)o.conns;
    now_ns = st.start_ns = real_ns();
    uint64_t next_tick = now_ns + 1000000000ull, next_scan = now_ns;
    uint64_t end_ns = 0;
    long started = 0;
    int ready = 0;
    struct epoll_event evs[1024];
    while (!stop_flag) {
        now_ns = real_ns();
        /* start connections: load mode paced, churn mode all slots at once */
        long allowed = o.conns;
        if (!o.churn && o.connect_rate > 0) {
            double secs = (double)(now_ns - st.start_ns) / 1e9;
            allowed = (long)(secs * (double)o.connect_rate) + 1;
            if (allowed > o.conns) allowed = o.conns;
        }
        while (started < allowed && (o.churn || pending < o.max_pending)) {
            if (o.h2) { /* a carrier at a time, with all its streams */
                carrier *h = &carriers[started / o.streams_per_conn];
                carrier_start(h);
                started += h->n;
            } else {
                conn_start(&conns[started++]);
            }
        }
        if (n_idle) { /* churn slots to reconnect; a slot failing again goes to the end */
            long due = n_idle;
            for (long i = 0; i < due; i++) conn_start(&conns[idle[i]]);
            memmove(idle, idle + due, (size_t)(n_idle - due) * sizeof(*idle));
            n_idle -= due;
        }
        if (!o.churn && !ready && started == o.conns && st.connected + st.failed == st.conns) {
            ready = 1;
            st.ready_ns = now_ns;
            announce_ready();
            if (o.duration > 0) end_ns = now_ns + (uint64_t)(o.duration * 1e9);
        }
        if (o.churn && !end_ns && o.duration > 0)
            end_ns = st.start_ns + (uint64_t)(o.duration * 1e9);
        if (end_ns && now_ns >= end_ns) break;
        if (o.stop_after && (uint64_t)o.stop_after <= (o.churn ? st.cycles : st.deliveries)) break;
        if (now_ns >= next_tick) {
            if (!o.quiet) load_progress(&st, now_ns, o.churn);
            else load_tick(&st);
            next_tick += 1000000000ull;
        }
        if (now_ns >= next_scan) { /* handshakes (and churn cycles) time out */
            next_scan = now_ns + 100000000ull;
            uint64_t limit_ns = (uint64_t)(o.timeout * 1e9);
            for (long i = 0; i < started; i++) {
                conn *c = &conns[i];
                if ((c->state == C_CONNECTING || c->state == C_TLS || c->state == C_HEAD) &&
                    now_ns - c->started_ns > limit_ns)
                    conn_fail(c, &st.timeouts);
            }
        }
        int timeout = started < o.conns ? 1 : 50;
        int n = epoll_wait(ep, evs, 1024, timeout);
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag & CARRIER_TAG) carrier_ready(&carriers[tag & ~CARRIER_TAG], evs[i].events);
            else on_ready(&conns[tag], evs[i].events);
        }
    }
    now_ns = real_ns();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    double cs = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    load_report(&st, now_ns, o.churn, o.json, cu, cs);
    for (long i = 0; i < o.conns; i++) {
        if (conns[i].fd >= 0) close(conns[i].fd);
        benchtls_free(conns[i].ssl);
        btls13_free(conns[i].lite);
        if (sessions && sessions[i]) SSL_SESSION_free(sessions[i]);
        if (lite_sessions) btls13_session_free(lite_sessions[i]);
        ssep_free(&conns[i].parser);
    }
    for (long j = 0; j < ncarriers; j++) {
        sseload_h2_free(carriers[j].h2);
        benchtls_free(carriers[j].ssl);
        if (carriers[j].fd >= 0) close(carriers[j].fd);
    }
    free(carriers);
    free(sessions);
    free(lite_sessions);
    if (tls) SSL_CTX_free(tls);
    btls13_ctx_free(lite);
    free(conns);
    free(idle);
    load_stats_free(&st);
    close(ep);
    return 0;
}
