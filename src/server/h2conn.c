/* SPDX-License-Identifier: MIT */
/*
 * h2conn.c: HTTP/2 connections and their streams (src/http2 on sockets).
 *
 * An HTTP/2 connection is an ordinary sr_conn (its socket, its transport:
 * plain TCP for --h2c, TLS when ALPN chose h2) that holds a session
 * (c->h2) instead of an HTTP/1.1 parser. Every stream the client opens is
 * a connection of its own too, a child (c->h2s) with no socket: its
 * request is handed to the HTTP/1.1 request parser as the equivalent
 * HTTP/1.1 text, so routes, limits, authorization, trusted proxies and
 * streams work unchanged; it joins rooms, gets heartbeats, history replays
 * and batched broadcasts as any stream does, and closes on its own (the
 * client's RST_STREAM, a slow consumer, the end of a response) without
 * touching its siblings. A stream counts against max_connections and its
 * client's max_connections_per_addr as the HTTP/1.1 connection it stands
 * for would (a connection with n streams counts 1 + n); one over a limit
 * is answered 503 or 429 on that stream, counted (limits "refused" and
 * http2 "refused_streams"), and its siblings go on. Its uv_tcp_t is initialised but never opened,
 * so the usual uv_close defers its free past the current callbacks.
 *
 * What a child writes goes to the session instead of a socket: the first
 * bytes, an HTTP/1.1 response head, become the HEADERS (connection-
 * specific fields dropped); every later frame is queued on the stream by
 * reference (the shared frame of a broadcast stays one copy, each stream
 * adds only its DATA frame header). The session refuses a frame past
 * max_queue_bytes on a stream whose flow-control window (or the
 * connection's, or the socket) stays shut: the child is closed as a slow
 * consumer, with RST_STREAM(CANCEL), counted as for HTTP/1.1.
 *
 * The parent writes the session's output through the transport seam
 * (sr_transport_send): segments become one iovec array, the rest goes to
 * one uv_write when the socket is full.
 *
 * With writer threads the connection moves to one of them (writer.h) once
 * its session runs and no write is in flight, as an HTTP/1.1 stream does;
 * its children stay on the main loop. From then on the session and the
 * transport are shared: the writer writes the output (sr_h2c_wflush) and
 * the main loop still reads requests and window updates, each under the
 * session's lock (hc->lock, recursive: a request's answer is written from
 * inside the read). A child's frames, its END_STREAM and its reset go to
 * the writer as commands (sr_writer_h2), so they reach the session in the
 * order the main loop made them, behind its response head, which the main
 * loop submits itself; a slow consumer is found and reset by the writer.
 * Streams the session closes while the writer holds it (their END_STREAM or
 * RST_STREAM went out) are listed (hc->closed) and closed by the main loop
 * (sr_h2c_reap); a child that closes first takes itself off that list.
 * Shutdown (sr_conn_end of the parent) sends GOAWAY(NO_ERROR); the
 * connection closes once its streams ended and the output is written.
 * A protocol violation is counted, answered by the session (RST_STREAM
 * or GOAWAY), logged, and disturbs nobody else.
 */
#include <nghttp2/nghttp2.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "http2/h2.h"
#include "server/internal.h"
#include "server/tls_server.h"
#include "server/transport.h"
#include "server/writer.h"

#define H2_MAX_IOV 512
#define H2_MAX_HEAD 65536 /* a response head larger than this is refused */

/* The streams a writer's commands name: a small number and a generation
 * (writer.h's id: gen << H2_K_BITS | k) instead of the stream id, so the
 * writer reaches the stream's handle without the session's lookup by id
 * (a hash lookup and cache misses per recipient of a broadcast). An entry
 * is cleared when the session closes its stream; a command for an entry
 * cleared or reused since is stale (its generation differs) and dropped. */
#define H2_K_BITS 13
#define H2_K_MAX (1u << H2_K_BITS)
typedef struct h2_entry {
    sr_h2_stream *st; /* NULL: free */
    int32_t sid;
    uint32_t gen; /* 1..0xffff */
} h2_entry;

/* A stream the session closed while the writer held it. */
typedef struct h2_closed {
    sr_conn *child;
    int slow; /* reset as a slow consumer */
} h2_closed;

/* What an HTTP/2 connection holds. */
struct sr_h2_conn {
    sr_h2 *session;
    sr_conn *streams; /* its open children */
    size_t n_streams;
    uv_write_t wreq; /* one write in flight at a time */
    size_t w_bytes;  /* session output bytes it carries */
    size_t w_sealed; /* or: the transport's sealed bytes */
    uint8_t writing : 1;
    uint8_t logged : 1;  /* its end was logged */
    uint8_t shared : 1;  /* main loop: on a writer thread, every session call locks */
    uint64_t violations; /* the session's count, already added to the server's */
    /* with a writer thread: the session, the transport and what follows,
     * under lock. On a cache line of their own: the writer writes them
     * while the main loop reads the fields above for every frame of every
     * stream. */
    _Alignas(64) uv_mutex_t lock;
    uint64_t now_ns;   /* the clock for on_frame_written, read once per consume */
    sr_h2c_wctx *wctx; /* the writer's, while it holds the lock */
    int finish;        /* GOAWAY sent and no stream left: close once all is out */
    int notified; /* TLS close_notify queued (here, not in sr_conn's bits: the writer sets it) */
    h2_closed *closed; /* streams closed on the writer, for sr_h2c_reap */
    size_t n_closed, cap_closed;
    h2_entry *tab; /* the streams by number (see h2_entry) */
    uint32_t n_tab, cap_tab;
    uint32_t *free_k; /* numbers free for reuse */
    uint32_t n_free_k;
    uint32_t gen;
};

static void lock(sr_conn *c) {
    if (c->h2->shared) uv_mutex_lock(&c->h2->lock);
}

static void unlock(sr_conn *c) {
    if (c->h2->shared) uv_mutex_unlock(&c->h2->lock);
}

/* What a stream (child) holds. */
typedef struct sr_h2_child {
    sr_conn *parent;      /* NULL once unlinked */
    sr_conn *prev, *next; /* the parent's children */
    int32_t sid;
    sr_h2_stream *st;     /* the session's handle of the stream, NULL once gone */
    sr_buf head;          /* the response head until its blank line */
    uint32_t ref;         /* its writer commands' id (h2_entry), 0: none */
    uint8_t answered : 1; /* HEADERS submitted */
    uint8_t gone : 1;     /* the session closed the stream (or the connection went) */
    uint8_t reset : 1;    /* close with RST_STREAM(CANCEL): a slow consumer */
} sr_h2_child;

/* The server's HTTP/2 counters (srv->h2). */
typedef struct sr_h2_counters {
    uint64_t connections, streams; /* open now */
    uint64_t on_writers;           /* connections open now that writer threads write */
    uint64_t connections_total, streams_total;
    uint64_t violations;               /* clients' protocol errors */
    atomic_uint_fast64_t slow_streams; /* streams closed as slow consumers (main
                                          loop or writer threads) */
    uint64_t refused_streams;          /* refused: over a limit (429/503), or shutting down */
} sr_h2_counters;

int sr_h2c_counters_new(sr_server *srv) {
    srv->h2 = calloc(1, sizeof(*srv->h2));
    return srv->h2 ? SR_OK : SR_ENOMEM;
}

void sr_h2c_counters_free(sr_server *srv) {
    free(srv->h2);
    srv->h2 = NULL;
}

uint64_t sr_h2c_streams(const sr_server *srv) {
    return srv->h2->streams;
}

void sr_h2c_count_violation(sr_server *srv) {
    srv->h2->violations++;
}

void sr_h2c_count_refused(sr_server *srv) {
    srv->h2->refused_streams++;
}

static void add_violations(sr_conn *c) {
    uint64_t now = sr_h2_stats_of(c->h2->session)->violations;
    if (now > c->h2->violations) {
        c->srv->h2->violations += now - c->h2->violations;
        c->h2->violations = now;
    }
}

/* --- children --------------------------------------------------------- */

static void link_child(sr_conn *parent, sr_conn *child) {
    sr_h2_child *hs = child->h2s;
    hs->parent = parent;
    hs->next = parent->h2->streams;
    if (hs->next) hs->next->h2s->prev = child;
    parent->h2->streams = child;
    parent->h2->n_streams++;
    parent->srv->h2->streams++;
}

/* A connection that sent GOAWAY and has no stream left closes once its
 * output is out (out_finished, on the main loop or its writer). */
static void update_finish(sr_conn *parent) {
    struct sr_h2_conn *hc = parent->h2;
    int finish = parent->end_after_flush && hc->n_streams == 0;
    if (finish == hc->finish) return;
    lock(parent);
    hc->finish = finish;
    unlock(parent);
}

/* Under lock: child closes on the main loop first, off the reap list. */
static void forget_closed(struct sr_h2_conn *hc, const sr_conn *child) {
    for (size_t i = 0; i < hc->n_closed; i++) {
        if (hc->closed[i].child == child) {
            hc->closed[i] = hc->closed[--hc->n_closed];
            return;
        }
    }
}

/* Under lock: numbers child's stream (hs->ref; 0 when out of numbers). */
static void entry_add(struct sr_h2_conn *hc, sr_h2_child *hs) {
    uint32_t k;
    if (hc->n_free_k) {
        k = hc->free_k[--hc->n_free_k];
    } else {
        if (hc->n_tab == H2_K_MAX) return;
        if (hc->n_tab == hc->cap_tab) {
            uint32_t cap = hc->cap_tab ? hc->cap_tab * 2 : 16;
            h2_entry *t = realloc(hc->tab, cap * sizeof(*t));
            uint32_t *f = t ? realloc(hc->free_k, cap * sizeof(*f)) : NULL;
            if (t) hc->tab = t;
            if (!f) return; /* no number: its frames take the locked path */
            hc->free_k = f;
            hc->cap_tab = cap;
        }
        k = hc->n_tab++;
    }
    hc->gen = hc->gen % 0xffff + 1; /* 1..0xffff */
    hc->tab[k] = (h2_entry){hs->st, hs->sid, hc->gen};
    hs->ref = hc->gen << H2_K_BITS | k;
}

/* Under lock: the session closed stream sid; its number is free again. */
static void entry_remove(struct sr_h2_conn *hc, int32_t sid) {
    for (uint32_t k = 0; k < hc->n_tab; k++) {
        if (hc->tab[k].st && hc->tab[k].sid == sid) {
            hc->tab[k].st = NULL;
            hc->free_k[hc->n_free_k++] = k; /* sized with the table: never grows here */
            return;
        }
    }
}

static void unlink_child(sr_conn *child) {
    sr_h2_child *hs = child->h2s;
    sr_conn *parent = hs->parent;
    if (!parent) return;
    if (hs->prev) hs->prev->h2s->next = hs->next;
    else parent->h2->streams = hs->next;
    if (hs->next) hs->next->h2s->prev = hs->prev;
    hs->prev = hs->next = NULL;
    hs->parent = NULL;
    parent->h2->n_streams--;
    parent->srv->h2->streams--;
    update_finish(parent);
}

static int field_is(const sr_h2_kv *f, const char *name) {
    return f->name_len == strlen(name) && memcmp(f->name, name, f->name_len) == 0;
}

/* The request as HTTP/1.1 text: the request line, Host from :authority,
 * the fields (cookies joined, RFC 9113 §8.2.3), Content-Length, the body.
 * nghttp2 has refused CR, LF and NUL in fields already. */
static void request_text(const sr_h2_request *r, sr_buf *b) {
    sr_buf_printf(b, "%s %s HTTP/1.1\r\n", r->method, r->path);
    if (r->authority[0]) sr_buf_printf(b, "host: %s\r\n", r->authority);
    int cookies = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        const sr_h2_kv *f = &r->headers[i];
        if ((r->authority[0] && field_is(f, "host")) || field_is(f, "content-length") ||
            field_is(f, "te") || field_is(f, "expect") || field_is(f, "cookie") ||
            sr_h2_connection_specific(f->name, f->name_len))
            continue;
        sr_buf_append(b, f->name, f->name_len);
        sr_buf_append(b, ": ", 2);
        sr_buf_append(b, f->value, f->value_len);
        sr_buf_append(b, "\r\n", 2);
    }
    for (size_t i = 0; i < r->n_headers; i++) {
        const sr_h2_kv *f = &r->headers[i];
        if (!field_is(f, "cookie")) continue;
        sr_buf_puts(b, cookies++ ? "; " : "cookie: ");
        sr_buf_append(b, f->value, f->value_len);
    }
    if (cookies) sr_buf_append(b, "\r\n", 2);
    if (r->body_len || strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0)
        sr_buf_printf(b, "content-length: %zu\r\n", r->body_len);
    sr_buf_append(b, "\r\n", 2);
    sr_buf_append(b, r->body, r->body_len);
}

static void on_request(void *ud, const sr_h2_request *r) {
    sr_conn *parent = ud;
    sr_server *srv = parent->srv;
    sr_h2 *session = parent->h2->session;
    if (parent->closing || parent->end_after_flush) {
        sr_h2_reset(session, r->stream_id, NGHTTP2_REFUSED_STREAM);
        srv->h2->refused_streams++;
        return;
    }
    if (r->error_status) { /* a header block or body over its limit */
        sr_limit_refused(srv, r->error_status == 413 ? SR_LIMIT_BODY_BYTES : SR_LIMIT_HEADER_BYTES);
        sr_metrics_rejected(srv, r->error_status);
        srv->stats.rejected_requests++;
        sr_h2_respond(session, r->stream_id, r->error_status, NULL, 0, 0);
        return;
    }
    /* every open stream counts against max_connections next to the
     * connections, as an HTTP/1.1 connection per stream would (the parent
     * counted itself at accept) */
    bool over = srv->cfg.max_connections &&
                srv->stats.connections + srv->h2->streams + 1 > srv->cfg.max_connections;
    sr_conn *child = sr_conn_new(srv);
    sr_h2_child *hs = child ? calloc(1, sizeof(*hs)) : NULL;
    if (!hs) {
        if (child) sr_conn_close_now(child); /* not a stream yet: an ordinary close */
        sr_h2_reset(session, r->stream_id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    srv->stats.connections--; /* a stream, not a connection (see on_conn_closed) */
    sr_buf_init(&hs->head);
    hs->sid = r->stream_id;
    child->h2s = hs;
    link_child(parent, child);
    srv->h2->streams_total++;
    sr_h2_set_stream_ud(session, r->stream_id, child);
    hs->st = sr_h2_stream_of(session, r->stream_id);
    entry_add(parent->h2, hs); /* under lock: this runs inside sr_h2c_read */
    if (over) { /* answered on the stream as HTTP/1.1 is at accept; the connection goes on */
        sr_limit_refused(srv, SR_LIMIT_CONNECTIONS);
        srv->h2->refused_streams++;
        sr_routes_error(child, 503, "too many connections", true);
        return;
    }
    /* the client is the connection's, counted once more for this stream,
     * or from a trusted proxy each request names its own (clients.c) */
    if (sr_client_stream(child, parent) != 0) return; /* 429 on the stream */
    sr_buf text;
    sr_buf_init(&text);
    request_text(r, &text);
    if (text.oom) {
        sr_buf_free(&text);
        sr_conn_close_now(child);
        return;
    }
    sr_conn_feed(child, text.p, text.len);
    sr_buf_free(&text);
    /* answered at once, and not a stream: the response is complete */
    if (!child->closing && !child->end_after_flush && child->kind == SR_CONN_HTTP && child->http &&
        !child->http->wait)
        sr_conn_end(child);
}

/* Publish-to-write latency, as sendq.c's consume() records it for HTTP/1.1. */
static void on_frame_written(void *ud, const sr_frame *f) {
    sr_conn *parent = ud;
    struct sr_h2_conn *hc = parent->h2;
    if (!hc->now_ns) hc->now_ns = uv_hrtime(); /* not once per stream */
    uint64_t now = hc->now_ns;
    uint64_t us = now > f->born_ns ? (now - f->born_ns) / 1000 : 0;
    sr_h2c_wctx *x = hc->wctx;
    if (!x) {
        sr_metrics_latency(parent->srv, us, f->msgs);
        return;
    }
    /* on the writer: summed here, added to its histogram once per flush */
    size_t i = 0;
    while (i < SR_LATENCY_BUCKETS && us > sr_latency_bounds_us[i]) i++;
    x->latency[i] += f->msgs;
    x->latency_sum_us += us * f->msgs;
    x->timed = true;
}

/* Under lock, on the writer thread: child's stream closed (slow: reset as
 * a slow consumer); sr_h2c_reap closes child on the main loop. */
static void closed_push(struct sr_h2_conn *hc, sr_conn *child, int slow) {
    if (hc->n_closed == hc->cap_closed) {
        size_t cap = hc->cap_closed ? hc->cap_closed * 2 : 16;
        h2_closed *v = realloc(hc->closed, cap * sizeof(*v));
        if (!v) abort(); /* cannot lose a stream's end */
        hc->closed = v;
        hc->cap_closed = cap;
    }
    hc->closed[hc->n_closed++] = (h2_closed){child, slow};
    hc->wctx->closed = true;
}

static void on_stream_close(void *ud, int32_t sid, void *stream_ud, uint32_t error) {
    (void)error;
    sr_conn *parent = ud;
    sr_conn *child = stream_ud;
    struct sr_h2_conn *hc = parent->h2;
    entry_remove(hc, sid);
    if (!child) return; /* a stream already left by its child, or never given one */
    if (hc->wctx) {     /* on the writer thread: listed, closed by the main loop */
        closed_push(hc, child, 0);
        return;
    }
    child->h2s->gone = 1;
    child->h2s->st = NULL;
    /* the client reset it or the connection ends it: closed after the
     * current fan-out, never inside the session's callbacks */
    sr_conn_doom(child);
    sr_server_want_check(parent->srv);
}

int sr_h2c_stream_write(sr_conn *c, sr_frame *f) {
    sr_h2_child *hs = c->h2s;
    sr_conn *parent = hs->parent;
    if (!parent || hs->gone || parent->closing) return SR_ECLOSED;
    struct sr_h2_conn *hc = parent->h2;
    sr_h2 *session = hc->session;
    int rc = SR_OK;
    if (!hs->answered) {
        sr_buf_append(&hs->head, f->bytes, f->len);
        if (hs->head.oom) return SR_ENOMEM;
        const char *end = memmem(hs->head.p, hs->head.len, "\r\n\r\n", 4);
        if (!end) return hs->head.len > H2_MAX_HEAD ? SR_ETOOBIG : SR_OK;
        size_t head_len = (size_t)(end - hs->head.p) + 4;
        hs->answered = 1;
        sr_frame *rest = hs->head.len > head_len
                             ? sr_frame_raw(hs->head.p + head_len, hs->head.len - head_len)
                             : NULL;
        lock(parent); /* the head goes in here, ahead of anything the writer gets for it */
        rc = sr_h2_respond_http1(session, hs->sid, hs->head.p, head_len, 1);
        if (rc == SR_OK && hs->head.len > head_len)
            rc = rest ? sr_h2_send(session, hs->sid, rest) : SR_ENOMEM;
        unlock(parent);
        sr_frame_unref(rest);
        sr_buf_free(&hs->head);
    } else if (hc->shared && hs->ref) {
        /* its writer queues it, in order, and finds a slow consumer */
        sr_writer_h2(parent, SR_WH2_FRAME, (int32_t)hs->ref, f, 0);
        return SR_OK;
    } else if (hc->shared) {
        lock(parent); /* by id: a handle may be gone with a stream the writer closed */
        rc = sr_h2_send(session, hs->sid, f);
        unlock(parent);
    } else {
        rc = sr_h2_send_on(session, hs->st, f); /* a broadcast: no lookup per stream */
    }
    if (rc == SR_EQUEUE) {
        hs->reset = 1;
        atomic_fetch_add_explicit(&parent->srv->h2->slow_streams, 1, memory_order_relaxed);
    }
    sr_conn_mark_dirty(parent);
    return rc;
}

void sr_h2c_stream_closed(sr_conn *c) {
    sr_h2_child *hs = c->h2s;
    sr_conn *parent = hs->parent;
    if (parent) {
        struct sr_h2_conn *hc = parent->h2;
        if (!hs->gone && !parent->closing) {
            sr_h2 *session = hc->session;
            int reset = hs->reset || !hs->answered;
            uint32_t error = hs->reset ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR;
            lock(parent);
            sr_h2_set_stream_ud(session, hs->sid, NULL); /* no callback reaches it any more */
            forget_closed(hc, c);
            if (hc->shared && hs->sid < SR_WH2_MAX_SID) {
                unlock(parent);
                /* behind the frames its writer has yet to queue */
                sr_writer_h2(parent, reset ? SR_WH2_RESET : SR_WH2_END, hs->sid, NULL, error);
            } else {
                if (reset) sr_h2_reset(session, hs->sid, error);
                else sr_h2_end(session, hs->sid); /* after what is queued */
                unlock(parent);
            }
            sr_conn_mark_dirty(parent);
        } else if (hc->shared) {
            lock(parent);
            forget_closed(hc, c);
            unlock(parent);
        }
        unlink_child(c);
    }
    sr_buf_free(&hs->head);
}

/* --- the connection ------------------------------------------------------ */

int sr_h2c_start(sr_conn *c) {
    sr_server *srv = c->srv;
    /* aligned: see the lock's cache line */
    size_t size = (sizeof(struct sr_h2_conn) + 63) & ~(size_t)63;
    struct sr_h2_conn *hc = aligned_alloc(64, size);
    if (hc) memset(hc, 0, sizeof(*hc));
    if (!hc) return SR_ENOMEM;
    size_t out = srv->cfg.max_queue_bytes;
    if (out < 16384) out = 16384;
    if (out > 262144) out = 262144;
    sr_h2_config cfg = {
        .max_streams = srv->cfg.h2_max_streams ? srv->cfg.h2_max_streams : 128,
        .max_header_bytes = srv->cfg.max_header_bytes,
        .max_body_bytes = srv->cfg.max_body_bytes,
        .max_queue_bytes = srv->cfg.max_queue_bytes,
        .max_out_bytes = out,
    };
    sr_h2_callbacks cb = {.on_request = on_request,
                          .on_stream_close = on_stream_close,
                          .on_frame_written = on_frame_written};
    if (uv_mutex_init_recursive(&hc->lock) != 0) {
        free(hc);
        return SR_ENOMEM;
    }
    hc->session = sr_h2_new(&cfg, &cb, c);
    if (!hc->session) {
        uv_mutex_destroy(&hc->lock);
        free(hc);
        return SR_ENOMEM;
    }
    hc->wreq.data = c;
    c->h2 = hc;
    srv->h2->connections++;
    srv->h2->connections_total++;
    return SR_OK;
}

/* Closes every stream of c (the connection is going). */
static void close_children(sr_conn *c) {
    struct sr_h2_conn *hc = c->h2;
    /* its writer may write the session until it lets go: no callback may
     * reach the children from now on */
    if (hc->shared) {
        lock(c);
        for (sr_conn *k = hc->streams; k; k = k->h2s->next)
            sr_h2_set_stream_ud(hc->session, k->h2s->sid, NULL);
        hc->n_closed = 0;
        unlock(c);
    }
    while (c->h2->streams) {
        sr_conn *child = c->h2->streams;
        child->h2s->gone = 1;
        child->h2s->st = NULL;
        sr_conn_close_now(child);                         /* unlinks it */
        if (c->h2->streams == child) unlink_child(child); /* it was closing already */
    }
}

void sr_h2c_read(sr_conn *c, const char *data, size_t len) {
    struct sr_h2_conn *hc = c->h2;
    lock(c);
    int rc = sr_h2_recv(hc->session, (const uint8_t *)data, len);
    add_violations(c);
    unlock(c);
    if (rc < 0) {
        if (!hc->logged) {
            hc->logged = 1;
            sr_log(c->srv, SR_LOG_INFO, c->id, "HTTP/2 connection %llu: %s, closing",
                   (unsigned long long)c->id, sr_h2_error(hc->session));
        }
        close_children(c);
        c->end_after_flush = 1;
        update_finish(c);
    }
    sr_conn_mark_dirty(c);
}

static void flush_more(sr_conn *c);

static void on_h2_write(uv_write_t *req, int status) {
    sr_conn *c = req->data;
    struct sr_h2_conn *hc = c->h2;
    hc->writing = 0;
    if (status < 0) {
        if (status != UV_ECANCELED) sr_conn_close_now(c);
        return;
    }
    if (hc->w_sealed) {
        c->xport->vt->sent(c->xport, hc->w_sealed);
    } else {
        hc->now_ns = 0;
        sr_h2_out_consumed(hc->session, hc->w_bytes);
        c->srv->stats.bytes_out += hc->w_bytes;
    }
    if (c->http) c->http->out_ms = uv_now(c->srv->loop);
    sr_conn_flush(c);
}

static size_t segs_to_iov(const sr_h2_seg *segs, size_t n, uv_buf_t *iov) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        iov[i] = uv_buf_init(segs[i].frame->bytes + segs[i].off, segs[i].len);
        total += segs[i].len;
    }
    return total;
}

void sr_h2c_flush(sr_conn *c) {
    struct sr_h2_conn *hc = c->h2;
    if (c->closing) return;
    if (hc->shared) { /* its writer writes */
        sr_writer_h2(c, SR_WH2_KICK, 0, NULL, 0);
        return;
    }
    if (hc->writing) return;
    /* to a writer thread, with nothing in flight on this loop */
    if (c->srv->writers && !c->end_after_flush && !c->wslot && sr_conn_queued(c) == 0 &&
        sr_writer_attach(c) == 0) {
        hc->shared = 1;
        c->srv->h2->on_writers++;
        sr_writer_h2(c, SR_WH2_KICK, 0, NULL, 0);
        return;
    }
    flush_more(c);
}

/* Writes the session's output through the transport until all of it is
 * out or the socket is full (*blocked): the bytes taken, or -1. The main
 * loop (flush_more) and the writer thread (sr_h2c_wflush) both write
 * with it. */
static ssize_t out_write(sr_conn *c, int fd, bool *blocked) {
    struct sr_h2_conn *hc = c->h2;
    sr_h2_seg segs[H2_MAX_IOV];
    uv_buf_t iov[H2_MAX_IOV];
    const char *sealed;
    size_t total = 0;
    *blocked = false;
    for (;;) {
        size_t n = sr_h2_out_peek(hc->session, segs, H2_MAX_IOV);
        if (n == 0 && !sr_transport_pending(c->xport, &sealed)) break;
        segs_to_iov(segs, n, iov);
        ssize_t w = sr_transport_send(c->xport, fd, (const struct iovec *)iov, n, blocked);
        if (w < 0) return -1;
        if (w > 0) {
            hc->now_ns = 0;
            sr_h2_out_consumed(hc->session, (size_t)w);
            total += (size_t)w;
        }
        /* full; or nothing taken: TLS before its handshake, or all out */
        if (*blocked || w == 0) break;
    }
    return (ssize_t)total;
}

/* With all output out: 0 while the connection goes on, 1 when it is done
 * (close it), -1 when a TLS close_notify was queued first (write again). */
static int out_finished(sr_conn *c) {
    struct sr_h2_conn *hc = c->h2;
    if (sr_h2_out_bytes(hc->session) > 0) return 0;
    /* a finished session, or the end of a shutdown */
    if (!sr_h2_want_close(hc->session) && !hc->finish) return 0;
    if (c->xport && !hc->notified && sr_tls_conn_ready(c)) { /* TLS ends with close_notify */
        hc->notified = 1;
        sr_tls_conn_close_notify(c);
        return -1;
    }
    return 1;
}

static void flush_more(sr_conn *c) {
    struct sr_h2_conn *hc = c->h2;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)c->tcp, &fd) != 0) {
        sr_conn_close_now(c);
        return;
    }
    bool blocked;
    ssize_t w = out_write(c, fd, &blocked);
    if (w < 0) {
        sr_conn_close_now(c);
        return;
    }
    if (w > 0) {
        c->srv->stats.bytes_out += (size_t)w;
        if (c->http) c->http->out_ms = uv_now(c->srv->loop);
    }
    if (blocked) { /* the socket is full: one uv_write of the rest, continued in on_h2_write */
        sr_h2_seg segs[H2_MAX_IOV];
        uv_buf_t iov[H2_MAX_IOV];
        const char *sealed;
        size_t n;
        hc->w_sealed = sr_transport_pending(c->xport, &sealed);
        if (hc->w_sealed) {
            iov[0] = uv_buf_init((char *)sealed, (unsigned)hc->w_sealed);
            n = 1;
            hc->w_bytes = 0;
        } else {
            n = sr_h2_out_peek(hc->session, segs, H2_MAX_IOV);
            hc->w_bytes = segs_to_iov(segs, n, iov);
        }
        if (n > 0) {
            if (uv_write(&hc->wreq, (uv_stream_t *)c->tcp, iov, (unsigned)n, on_h2_write) != 0) {
                sr_conn_close_now(c);
                return;
            }
            hc->writing = 1;
            return;
        }
    }
    int done = out_finished(c);
    if (done < 0) flush_more(c); /* the close_notify */
    else if (done > 0) sr_conn_close_now(c);
}

void sr_h2c_end(sr_conn *c) {
    if (!c->end_after_flush) {
        lock(c);
        sr_h2_goaway(c->h2->session); /* no new streams; the open ones end on their own */
        unlock(c);
        c->end_after_flush = 1;
        update_finish(c);
    }
    sr_conn_mark_dirty(c);
}

bool sr_h2c_hold(sr_conn *c) {
    if (!c->h2 || !c->h2->shared) return false;
    uv_mutex_lock(&c->h2->lock);
    return true;
}

void sr_h2c_release(sr_conn *c) {
    uv_mutex_unlock(&c->h2->lock);
}

void sr_h2c_reap(sr_conn *c) {
    struct sr_h2_conn *hc = c->h2;
    if (!hc) return;
    lock(c);
    h2_closed *list = hc->closed;
    size_t n = hc->n_closed;
    hc->closed = NULL;
    hc->n_closed = hc->cap_closed = 0;
    unlock(c);
    for (size_t i = 0; i < n; i++) {
        sr_conn *child = list[i].child;
        child->h2s->gone = 1;
        child->h2s->st = NULL;
        if (list[i].slow)
            sr_log(c->srv, SR_LOG_WARN, child->id,
                   "HTTP/2 stream %llu: slow consumer (flow-control window shut), reset",
                   (unsigned long long)child->id);
        sr_conn_doom(child); /* closed after the current fan-out */
    }
    free(list);
    if (n) sr_server_want_check(c->srv);
}

/* --- the writer thread's side (writer.c) ------------------------------------ */

void sr_h2c_wlock(sr_conn *c, sr_h2c_wctx *x) {
    uv_mutex_lock(&c->h2->lock);
    c->h2->wctx = x;
}

void sr_h2c_wunlock(sr_conn *c) {
    c->h2->wctx = NULL;
    uv_mutex_unlock(&c->h2->lock);
}

void sr_h2c_wcommand(sr_conn *c, int what, int32_t sid, sr_frame *f, uint32_t error) {
    struct sr_h2_conn *hc = c->h2;
    switch (what) {
    case SR_WH2_FRAME: {
        uint32_t ref = (uint32_t)sid, k = ref & (H2_K_MAX - 1);
        if (k >= hc->n_tab || !hc->tab[k].st || hc->tab[k].gen != ref >> H2_K_BITS)
            break; /* stale: its stream closed */
        sid = hc->tab[k].sid;
        int rc = sr_h2_send_on(hc->session, hc->tab[k].st, f);
        if (rc != SR_EQUEUE && rc != SR_ENOMEM) break; /* SR_ESTATE: ended or reset already */
        /* a slow consumer (or no memory for its queue): reset, and its
         * child closes on the main loop now, not when the reset is out */
        sr_conn *child = sr_h2_stream_ud(hc->session, sid);
        sr_h2_set_stream_ud(hc->session, sid, NULL);
        sr_h2_reset(hc->session, sid, rc == SR_EQUEUE ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
        if (rc == SR_EQUEUE) {
            hc->wctx->slow++;
            atomic_fetch_add_explicit(&c->srv->h2->slow_streams, 1, memory_order_relaxed);
        }
        if (child) closed_push(hc, child, rc == SR_EQUEUE);
        break;
    }
    case SR_WH2_END: sr_h2_end(hc->session, sid); break;
    case SR_WH2_RESET: sr_h2_reset(hc->session, sid, error); break;
    default: break;
    }
}

int sr_h2c_wflush(sr_conn *c, int fd, bool *blocked) {
    for (;;) {
        ssize_t w = out_write(c, fd, blocked);
        if (w < 0) return -1;
        c->h2->wctx->bytes += (size_t)w;
        if (*blocked) return 0;
        int done = out_finished(c);
        if (done >= 0) return done; /* -1: its close_notify goes out first */
    }
}

int sr_h2c_idle(const sr_conn *c) {
    return c->h2->n_streams == 0;
}

void sr_h2c_closing(sr_conn *c) {
    close_children(c);
    c->srv->h2->connections--;
    if (c->h2->shared) c->srv->h2->on_writers--;
}

void sr_h2c_free(sr_conn *c) {
    if (c->h2) {
        sr_h2_free(c->h2->session);
        uv_mutex_destroy(&c->h2->lock);
        free(c->h2->closed);
        free(c->h2->tab);
        free(c->h2->free_k);
        free(c->h2);
        c->h2 = NULL;
    }
    if (c->h2s) {
        sr_buf_free(&c->h2s->head);
        free(c->h2s);
        c->h2s = NULL;
    }
}

/* --- reporting ------------------------------------------------------------- */

void sr_h2c_json(sr_server *srv, sr_buf *b) {
    sr_h2_counters *h = srv->h2;
    sr_buf_printf(b,
                  ",\"http2\":{\"h2c\":%s,\"max_streams\":%u,\"connections\":%llu,"
                  "\"on_writer_threads\":%llu,\"streams\":%llu,"
                  "\"connections_total\":%llu,\"streams_total\":%llu,\"protocol_errors\":%llu,"
                  "\"slow_streams\":%llu,\"refused_streams\":%llu}",
                  srv->cfg.h2c ? "true" : "false",
                  (unsigned)(srv->cfg.h2_max_streams ? srv->cfg.h2_max_streams : 128),
                  (unsigned long long)h->connections, (unsigned long long)h->on_writers,
                  (unsigned long long)h->streams, (unsigned long long)h->connections_total,
                  (unsigned long long)h->streams_total, (unsigned long long)h->violations,
                  (unsigned long long)atomic_load_explicit(&h->slow_streams, memory_order_relaxed),
                  (unsigned long long)h->refused_streams);
}

void sr_h2c_metrics(sr_server *srv, sr_buf *b) {
    sr_h2_counters *h = srv->h2;
    sr_metric_gauge(b, "http2_connections", "Open HTTP/2 connections", h->connections);
    sr_metric_gauge(b, "http2_connections_on_writer_threads",
                    "Open HTTP/2 connections whose output writer threads write", h->on_writers);
    sr_metric_gauge(b, "http2_streams", "Open HTTP/2 streams (requests and event streams)",
                    h->streams);
    sr_metric_counter(b, "http2_streams_total", "HTTP/2 streams opened", h->streams_total);
    sr_metric_counter(b, "http2_protocol_errors_total",
                      "HTTP/2 protocol violations of clients (answered with RST_STREAM or GOAWAY)",
                      h->violations);
    sr_metric_counter(b, "http2_slow_streams_total",
                      "HTTP/2 streams closed as slow consumers (flow-control window shut past "
                      "max_queue_bytes)",
                      atomic_load_explicit(&h->slow_streams, memory_order_relaxed));
    sr_metric_counter(b, "http2_refused_streams_total",
                      "HTTP/2 streams refused: over max_connections (503) or "
                      "max_connections_per_addr (429), or while shutting down (RST_STREAM "
                      "REFUSED_STREAM)",
                      h->refused_streams);
}
