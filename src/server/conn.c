/* SPDX-License-Identifier: MIT */
/*
 * conn.c: one client connection's socket I/O and its send queue.
 *
 * Reads land in the server's scratch buffer; a connection that owes a
 * PROXY protocol header (clients.c) first has it parsed, its bytes kept
 * until the header is complete; while the connection reads
 * requests the HTTP parser copies what it keeps, and once it is a stream
 * reads are only watched for EOF, so a stream holds no read buffer; a plain
 * stream's socket then leaves its libuv handle for the server's idle set
 * (idle.c: c->tcp NULL, c->fd), so an idle stream holds no handle. While a
 * response waits for the adapter (a sequenced publish), later pipelined
 * requests are held unparsed, so responses keep the order of requests;
 * past a bound reading stops until the response is out. A plain publish
 * waiting for the adapter's acknowledgement does not hold the requests
 * after it: its answer's place is reserved in the send queue (a hole,
 * sr_conn_hole) and filled when the answer is known; nothing queued after a
 * hole is written before it, so answers keep the order of requests while
 * a pipelining publisher keeps its throughput. A stream request waits for
 * the holes before it (its queue moves to the stream). A client that
 * half-closes (EOF) after pipelining requests gets every answer to what it
 * sent: EOF stops reading, the requests already read (held ones too) are
 * answered, the answers (holes filled) flush, then the connection closes; a
 * request cut short by the EOF gets none, and a stream request that waited
 * for holes is not started. A reset closes at once. A client
 * that pipelines faster than it reads the answers is held back the same
 * way: past max_queue_bytes of queued answers its requests stay unread
 * (TCP backpressure) until a flush finds half of them written. The
 * same holds when all HTTP connections together pin more than
 * max_http_buffer_bytes (answers, held requests, parser buffers; counted in
 * limits.c): then any connection with answers still queued reads no
 * further request until they are out. The
 * keep-alive timer never takes a connection whose answers are still going
 * out for idle, and restarts once they are all out; one whose answers make
 * no progress for a whole request timeout is closed as a stalled reader
 * (docs/pipelining.md).
 *
 * Writes: the queue is a ring of references to shared frames. Enqueueing
 * only marks the connection dirty; the server's check handle flushes every
 * dirty connection once per loop turn through its transport
 * (sr_transport_send, transport.h: plain TCP is one sendmsg over all
 * queued frames, TLS seals them first), and hands any rest to a single
 * uv_write (the frames, or the transport's sealed bytes) whose callback
 * continues; a stream without a handle instead has the idle set watch its
 * socket for writable, and flushes again then. Reads go through the transport too: a TLS connection's bytes
 * are opened (handshake answers queued as the transport's pending bytes)
 * before the HTTP layer sees plaintext. A stream whose queued bytes would pass the limit is
 * doomed (closed as a slow consumer once the current fan-out is over), so
 * one slow reader never grows memory or delays the others.
 *
 * With writer threads (writer.c) a stream's queue and writes move to its
 * writer once it is a stream (c->wslot set): enqueueing hands the frame to
 * the writer's batch, and closing waits for the writer's "gone" before the
 * socket is closed (sr_conn_writer_gone).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "http/proxy_protocol.h"
#include "server/internal.h"
#include "server/tls_server.h"
#include "server/transport.h"
#include "server/writer.h"

#define SR_MAX_IOV 1024 /* IOV_MAX: at a high publish rate one writev carries a whole loop turn */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    sr_conn *c = h->data;
    *buf = uv_buf_init(c->srv->scratch, sizeof(c->srv->scratch));
}

static void on_http_state_closed(uv_handle_t *h) {
    sr_conn_http *hs = h->data;
    sr_http_request_release(&hs->req);
    free(hs);
}

static void release_http_state(sr_conn *c) {
    sr_conn_http *hs = c->http;
    if (!hs) return;
    sr_http_budget_update(c); /* a stream or a closing connection pins nothing */
    c->http = NULL;
    if (hs->wait) { /* the pending response will find no connection */
        hs->wait->conn = NULL;
        hs->wait = NULL;
    }
    for (sr_http_wait *w = hs->holes; w; w = w->next) w->conn = NULL; /* likewise */
    hs->holes = NULL;
    hs->n_holes = 0;
    sr_buf_free(&hs->held);
    free(hs->set_cookie);
    hs->set_cookie = NULL;
    if (hs->view) {
        free(hs->view->error);
        free(hs->view);
        hs->view = NULL;
    }
    uv_timer_stop(&hs->timer);
    hs->timer.data = hs;
    uv_close((uv_handle_t *)&hs->timer, on_http_state_closed);
}

static void start_timer(sr_conn *c, uint32_t ms);

/* True when request bytes arrived that the loop has not read yet: after a
 * long loop turn (a big fan-out) the timer runs before the read does, and
 * then it is the server that is late, not the client. Only asked between
 * requests: a request's own deadline stays strict (slowloris). */
static int unread_bytes_waiting(sr_conn *c) {
    uv_os_fd_t fd;
    if (c->read_stopped || uv_fileno((uv_handle_t *)c->tcp, &fd) != 0) return 0;
    char byte;
    return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* True when the answers the kernel still holds for the client (sent but
 * not yet acknowledged, or not sent) changed since the last look: the
 * client is still reading what was written, so it is not idle yet. */
static int kernel_queue_moved(sr_conn *c) {
    uv_os_fd_t fd;
    int outq = 0;
    if (uv_fileno((uv_handle_t *)c->tcp, &fd) != 0 || ioctl(fd, SIOCOUTQ, &outq) != 0) return 0;
    if ((uint32_t)outq == c->http->out_kq) return 0;
    c->http->out_kq = (uint32_t)outq;
    return 1;
}

/* True when none of the queued responses went out for a whole request
 * timeout: out_ms is when bytes were last written (consume), and a change
 * of libuv's write queue, which counts partly written writes, is progress
 * too. */
static int output_stalled(sr_conn *c) {
    sr_conn_http *hs = c->http;
    size_t wq = uv_stream_get_write_queue_size((const uv_stream_t *)c->tcp);
    uint64_t now = uv_now(c->srv->loop);
    if (wq != hs->out_wq) {
        hs->out_wq = wq;
        hs->out_ms = now;
    }
    return now - hs->out_ms >= c->srv->cfg.request_timeout_ms;
}

/* The request / keep-alive timeout. A request not complete in time is
 * answered 408, strictly. Between requests, a connection whose responses
 * are still going out is not idle: the client may wait for them before it
 * sends more (a pipelining client with a bounded window), so only a whole
 * request_timeout_ms in which none of them could be written closes it, as
 * a stalled reader; its keep-alive restarts once they are all out
 * (sr_conn_http_output). */
static void on_request_timeout(uv_timer_t *t) {
    sr_conn *c = t->data;
    if (!c->http || c->closing) return;
    sr_server *srv = c->srv;
    if (c->http->await_proxy) {
        sr_client_proxy_failed(c, SR_PROXY_ERR_TIMEOUT, NULL);
        return;
    }
    if (!sr_tls_conn_ready(c)) { /* a handshake counts against the request timeout */
        sr_tls_server_failed(c, SR_TLS_FAIL_TIMEOUT);
        sr_conn_close_now(c);
        return;
    }
    if (c->h2) { /* HTTP/2: idle without streams, or not done in time after GOAWAY */
        if (c->end_after_flush) sr_conn_close_now(c);
        else if (sr_h2c_idle(c)) sr_conn_end(c);
        else start_timer(c, srv->cfg.keepalive_timeout_ms);
        return;
    }
    if (!c->end_after_flush && sr_http_request_started(&c->http->req)) {
        if (c->http->req.state == SR_HTTP_PARTIAL) {
            sr_limit_refused(srv, SR_LIMIT_REQUEST_TIME);
            sr_routes_error(c, 408, "request not complete in time", true);
        } else {
            sr_conn_close_now(c);
        }
        return;
    }
    if (sr_conn_queued(c) > 0) {
        if (c->sq->ring[c->sq->head]->hole || !output_stalled(c)) { /* a hole: the adapter is late */
            start_timer(c, srv->cfg.request_timeout_ms);
            return;
        }
        srv->stats.slow_disconnects++;
        sr_log(srv, SR_LOG_WARN, c->id,
               "connection %llu: %zu response bytes not read by the client in %u ms, disconnected",
               (unsigned long long)c->id, c->sq->bytes, (unsigned)srv->cfg.request_timeout_ms);
        sr_conn_close_now(c);
        return;
    }
    if (c->end_after_flush) { /* its last answers are out: it closes */
        sr_conn_close_now(c);
        return;
    }
    if (kernel_queue_moved(c)) { /* the client is still reading its answers */
        start_timer(c, srv->cfg.keepalive_timeout_ms);
        return;
    }
    if (unread_bytes_waiting(c)) { /* a request begins; the read comes later this turn */
        start_timer(c, srv->cfg.request_timeout_ms);
        return;
    }
    sr_conn_close_now(c); /* idle: no request, or idle keep-alive */
}

sr_conn *sr_conn_new(sr_server *srv) {
    sr_conn *c = sr_slab_alloc(&srv->conn_pool); /* zeroed */
    if (!c) return NULL;
    c->http = calloc(1, sizeof(*c->http));
    c->tcp = malloc(sizeof(*c->tcp));
    if (!c->http || !c->tcp || uv_tcp_init(srv->loop, c->tcp) != 0) {
        free(c->tcp);
        free(c->http);
        sr_slab_free(&srv->conn_pool, c);
        return NULL;
    }
    c->tcp->data = c;
    c->fd = -1;
    c->srv = srv;
    c->id = srv->next_conn_id++;
    c->http->out_ms = uv_now(srv->loop);
    sr_http_limits limits = {
        .max_header_bytes = srv->cfg.max_header_bytes,
        .max_body_bytes = srv->cfg.max_body_bytes,
        .max_headers = 100,
        .require_host = 1,
    };
    sr_http_request_init(&c->http->req, &limits);
    uv_timer_init(srv->loop, &c->http->timer);
    c->http->timer.data = c;
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    srv->stats.connections++;
    return c;
}

static void start_timer(sr_conn *c, uint32_t ms) {
    if (c->http && ms) uv_timer_start(&c->http->timer, on_request_timeout, ms, 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Bytes held while a response waits before reading stops: one maximal
 * request. */
static size_t hold_limit(const sr_conn *c) {
    return c->srv->cfg.max_header_bytes + c->srv->cfg.max_body_bytes;
}

/* Response bytes queued for the client past which its later pipelined
 * requests are left unread (TCP backpressure) until the queue is down to
 * half of it (sr_conn_http_output): a client that writes requests faster
 * than it reads the answers is slowed down, not buffered without bound nor
 * dropped. */
static size_t backlog_limit(const sr_conn *c) {
    return c->srv->cfg.max_queue_bytes;
}

static void stop_reading(sr_conn *c) {
    if (c->read_stopped || !c->tcp) return;
    uv_read_stop((uv_stream_t *)c->tcp);
    c->read_stopped = 1;
}

/* Keeps bytes that arrived while a response waits. */
static void hold_bytes(sr_conn *c, const char *data, size_t len) {
    sr_buf *held = &c->http->held;
    sr_buf_append(held, data, len);
    if (held->oom) {
        sr_conn_close_now(c);
        return;
    }
    sr_http_budget_update(c);
    if (held->len > hold_limit(c)) stop_reading(c);
}

int sr_conn_start(sr_conn *c) {
    uv_tcp_nodelay(c->tcp, 1);
    start_timer(c, c->srv->cfg.request_timeout_ms);
    int rc = uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read);
    if (rc != 0) {
        sr_conn_close_now(c);
        return SR_EIO;
    }
    return SR_OK;
}

static int sniff_h2(sr_conn *c, const char *data, size_t len);

/* Parses what arrived, handling each complete request in turn. */
static void feed_requests(sr_conn *c, const char *data, size_t len) {
    if (!c->http->h2_checked && !c->h2s && (c->srv->cfg.h2c || c->http->h2_alpn) &&
        sniff_h2(c, data, len))
        return;
    size_t off = 0;
    while (off < len && c->kind == SR_CONN_HTTP && c->http && !c->closing && !c->end_after_flush) {
        sr_http_request *req = &c->http->req;
        if (!sr_http_request_started(req)) {
            size_t queued = sr_conn_queued_bytes(c);
            int over_budget = queued > 0 && sr_http_budget_over(c->srv);
            if (queued > backlog_limit(c) || over_budget) { /* it reads slower than it asks */
                if (over_budget && queued <= backlog_limit(c))
                    sr_limit_refused(c->srv, SR_LIMIT_HTTP_BUFFER);
                c->http->backlog = 1;
                stop_reading(c);
                hold_bytes(c, data + off, len - off);
                return;
            }
            start_timer(c, c->srv->cfg.request_timeout_ms);
            c->http->req_began_ms = uv_now(c->srv->loop); /* the "ms" of its log line */
        }
        off += sr_http_request_feed(req, data + off, len - off);
        if (req->state == SR_HTTP_ERROR) {
            if (req->status == 431) sr_limit_refused(c->srv, SR_LIMIT_HEADER_BYTES);
            else if (req->status == 413) sr_limit_refused(c->srv, SR_LIMIT_BODY_BYTES);
            sr_routes_error(c, req->status, req->error, true);
            return;
        }
        if (req->state == SR_HTTP_DONE) {
            uv_timer_stop(&c->http->timer);
            c->srv->stats.requests_total++;
            c->requests++;
            if (c->http->n_holes && req->method == HTTP_GET &&
                strcmp(req->path, c->srv->cfg.sse_path) == 0) {
                /* a stream's queue moves to it (and to a writer thread):
                 * it starts once the answers before it are all known */
                c->http->deferred = 1;
                if (off < len) hold_bytes(c, data + off, len - off);
                return;
            }
            /* from a trusted proxy the request names its client first */
            if (sr_client_request(c) == 0) sr_routes_dispatch(c);
            if (c->http && c->http->wait) { /* answered later: keep the rest */
                if (off < len) hold_bytes(c, data + off, len - off);
                return;
            }
            if (c->kind == SR_CONN_HTTP && c->http && !c->closing && !c->end_after_flush) {
                sr_http_request_reset(&c->http->req);
                start_timer(c, c->srv->cfg.keepalive_timeout_ms);
            }
            continue;
        }
        if (req->expect_continue && !req->continue_sent) {
            req->continue_sent = 1;
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            sr_conn_enqueue_bytes(c, cont, sizeof(cont) - 1);
        }
        break; /* PARTIAL: everything was consumed */
    }
}

void sr_conn_feed(sr_conn *c, const char *data, size_t len) {
    feed_requests(c, data, len);
}

void sr_conn_use_h2(sr_conn *c) {
    if (c->http) c->http->h2_alpn = 1;
}

/* A connection's first bytes, when it may speak HTTP/2 (--h2c, or ALPN
 * h2): the client preface makes it an HTTP/2 connection (h2conn.c); the
 * bytes of a preface not complete yet are held; anything else is
 * HTTP/1.1 (with --h2c) or an error (after ALPN h2). 1 when it took the
 * bytes, 0 when they are HTTP/1.1 requests to parse. */
static int sniff_h2(sr_conn *c, const char *data, size_t len) {
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const size_t plen = sizeof(preface) - 1;
    sr_buf *held = &c->http->held;
    size_t have = held->len;
    size_t k = len < plen - have ? len : plen - have;
    if (memcmp(data, preface + have, k) != 0) {
        c->http->h2_checked = 1;
        if (c->http->h2_alpn) {
            sr_log(c->srv, SR_LOG_INFO, c->id, "connection %llu: ALPN h2 without the HTTP/2 preface, closed",
                   (unsigned long long)c->id);
            c->srv->h2.violations++;
            sr_conn_close_now(c);
            return 1;
        }
        if (have) { /* HTTP/1.1 after all: the held bytes first */
            sr_buf kept = *held;
            sr_buf_init(held);
            feed_requests(c, kept.p, kept.len);
            sr_buf_free(&kept);
        }
        return 0;
    }
    if (have + k < plen) {
        sr_buf_append(held, data, len);
        if (held->oom) sr_conn_close_now(c);
        return 1;
    }
    sr_buf_free(held);
    c->http->h2_checked = 1;
    if (sr_h2c_start(c) != SR_OK) {
        sr_conn_close_now(c);
        return 1;
    }
    start_timer(c, c->srv->cfg.keepalive_timeout_ms);
    sr_h2c_read(c, preface, plen);
    if (len > k && !c->closing) sr_h2c_read(c, data + k, len - k);
    return 1;
}

/* The first bytes of a connection that owes a PROXY header: parsed once
 * complete (kept in held until then: every byte of an incomplete header is
 * header), the rest going on as requests. */
static void read_proxy_header(sr_conn *c, const char *data, size_t len) {
    sr_buf *held = &c->http->held;
    const char *p = data;
    size_t n = len;
    if (held->len) {
        sr_buf_append(held, data, len);
        if (held->oom) {
            sr_conn_close_now(c);
            return;
        }
        p = held->p;
        n = held->len;
    }
    sr_proxy_header h;
    const char *why = NULL;
    int rc = sr_proxy_parse((const uint8_t *)p, n, &h, &why);
    if (rc == 0) {
        if (!held->len) sr_buf_append(held, data, len);
        if (held->oom) sr_conn_close_now(c);
        return;
    }
    if (rc < 0) {
        sr_client_proxy_failed(c, SR_PROXY_ERR_MALFORMED, why);
        return;
    }
    sr_buf kept = *held; /* requests may hold bytes again: take these out first */
    sr_buf_init(held);
    if (sr_client_proxy_done(c, &h) == 0 && n > (size_t)rc) feed_requests(c, p + rc, n - (size_t)rc);
    sr_buf_free(&kept);
}

/* After a half-close: once no request waits (for the adapter or for its
 * answers to drain), the connection ends when its answers are out. */
static void end_after_eof(sr_conn *c) {
    if (c->closing || c->end_after_flush || !c->http || !c->http->eof) return;
    if (c->http->wait || c->http->backlog || c->http->deferred) return; /* more answers to come */
    sr_conn_end(c);
}

/* Plaintext from the client, while the connection reads requests. */
static void on_plaintext(sr_conn *c, const char *data, size_t len) {
    if (c->h2) { /* HTTP/2: read also after GOAWAY (window updates, resets) */
        if (!c->closing) sr_h2c_read(c, data, len);
        return;
    }
    if (c->kind == SR_CONN_STREAM || c->closing || c->end_after_flush) return; /* ignored */
    if (c->http && c->http->await_proxy) read_proxy_header(c, data, len);
    else if (c->http && (c->http->wait || c->http->backlog || c->http->deferred))
        hold_bytes(c, data, len);
    else feed_requests(c, data, len);
}

static int deliver_plaintext(void *ud, const char *p, size_t len) {
    sr_conn *c = ud;
    /* the first plaintext after a handshake in which ALPN chose h2 */
    if (c->http && !c->http->h2_checked && !c->http->h2_alpn && sr_tls_conn_alpn_h2(c))
        sr_conn_use_h2(c);
    on_plaintext(c, p, len);
    /* a stream's later bytes are not requests; from the next turn on its
     * writer thread may own the transport */
    return c->closing || c->kind == SR_CONN_STREAM ? -1 : 0;
}

static void mark_dirty(sr_conn *c);

/* Wire bytes of a TLS connection: opened by its transport. 0, or -1 when
 * the connection was closed (a failed handshake is counted). */
static int transport_input(sr_conn *c, const char *data, size_t len) {
    int rc = c->xport->vt->input(c->xport, data, len, deliver_plaintext, c);
    if (c->closing) return -1;
    if (rc != 0) { /* 1: close_notify; -1: failed */
        if (rc < 0) sr_tls_server_failed(c, -1);
        sr_conn_close_now(c);
        return -1;
    }
    const char *p;
    /* handshake answers, and answers held back until the handshake is done */
    if (sr_transport_pending(c->xport, &p) || sr_conn_queued(c) > 0) mark_dirty(c);
    return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    sr_conn *c = s->data;
    if (nread == 0) return;
    if (nread == UV_EOF && c->kind == SR_CONN_HTTP && c->http && !c->closing &&
        !c->http->await_proxy && !c->h2) {
        /* half-closed: the client sends nothing more but may still read
         * (not over HTTP/2: its streams need the client's window updates,
         * and an EventSource's stream never ends on its own) */
        stop_reading(c);
        c->http->eof = 1;
        sr_http_request_eof(&c->http->req); /* a request cut short gets no answer */
        end_after_eof(c);
        return;
    }
    if (nread < 0) {
        /* the peer went away (reset, EOF on a stream, or EOF before its
         * PROXY header): nothing more can be delivered */
        if (c->http && c->http->await_proxy && c->http->held.len)
            sr_client_proxy_failed(c, SR_PROXY_ERR_TRUNCATED, NULL);
        if (c->http) sr_http_request_eof(&c->http->req);
        if (!sr_tls_conn_ready(c)) sr_tls_server_failed(c, SR_TLS_FAIL_EOF);
        sr_conn_close_now(c);
        return;
    }
    if (c->closing) return;
    if (c->http) c->http->read_ns = uv_hrtime(); /* a publish's answer is timed from here */
    if (c->kind == SR_CONN_STREAM || (c->end_after_flush && !c->h2)) {
        /* ignored, but a TLS stream this loop still writes notices the
         * peer's close_notify; one a writer owns ends at EOF (an HTTP/2
         * connection reads on after its GOAWAY: window updates, resets) */
        if (c->xport && !c->wslot && transport_input(c, buf->base, (size_t)nread) < 0) return;
        return;
    }
    if (!c->xport) on_plaintext(c, buf->base, (size_t)nread);
    else if (transport_input(c, buf->base, (size_t)nread) < 0) return;
    if (c->http) sr_http_budget_update(c); /* the parser's buffers may have grown */
    sr_server_close_doomed(c->srv);
}

/* Handles the held requests, then reads on unless they made it wait
 * again: for a response, while what is held is small; for a backlog, not. */
static void feed_held(sr_conn *c) {
    sr_buf held = c->http->held;
    sr_buf_init(&c->http->held);
    if (held.len) feed_requests(c, held.p, held.len);
    sr_buf_free(&held);
    if (c->http) sr_http_budget_update(c);
    if (c->read_stopped && c->http && !c->http->backlog && !c->http->eof &&
        c->http->held.len <= hold_limit(c) && !c->closing && !c->end_after_flush) {
        c->read_stopped = 0;
        if (uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read) != 0) sr_conn_close_now(c);
    }
    end_after_eof(c);
    sr_server_close_doomed(c->srv);
}

/* After a flush of a connection that reads requests: a backlog that is
 * down to half its limit reads on, and a connection whose answers are all
 * out is idle from now (keep-alive). */
static void http_output_done(sr_conn *c) {
    sr_conn_http *hs = c->http;
    /* over the budget, only a connection whose answers are all out reads on */
    size_t queued = sr_conn_queued_bytes(c);
    if (hs->backlog && queued <= backlog_limit(c) / 2 &&
        (queued == 0 || !sr_http_budget_over(c->srv))) {
        hs->backlog = 0; /* no response waits meanwhile: a backlog begins between requests */
        feed_held(c);
        if (!c->http || c->closing) return;
    }
    if (sr_conn_queued(c) == 0 && !hs->backlog && !hs->wait && !c->end_after_flush &&
        !sr_http_request_started(&hs->req))
        start_timer(c, c->srv->cfg.keepalive_timeout_ms);
}

void sr_conn_resume(sr_conn *c) {
    if (c->closing || c->end_after_flush || !c->http || c->http->wait || c->http->deferred) return;
    if (c->h2s) { /* an HTTP/2 stream: its one response is complete */
        sr_conn_end(c);
        return;
    }
    sr_http_request_reset(&c->http->req);
    start_timer(c, c->srv->cfg.keepalive_timeout_ms);
    feed_held(c);
}

static void mark_dirty(sr_conn *c) {
    if (c->dirty) return;
    /* frames queued from a timer or another non-I/O callback must not wait
     * for the next I/O event */
    if (!c->srv->dirty) sr_server_want_check(c->srv);
    c->dirty = 1;
    c->dirty_next = c->srv->dirty;
    c->srv->dirty = c;
}

static void doom(sr_conn *c) {
    if (c->doomed || c->closing) return;
    c->doomed = 1;
    c->doomed_next = c->srv->doomed;
    c->srv->doomed = c;
}

void sr_conn_mark_dirty(sr_conn *c) {
    mark_dirty(c);
}

void sr_conn_doom(sr_conn *c) {
    doom(c);
}

/* c's send queue, made at its first frame; NULL when out of memory. */
static sr_sendq *queue_get(sr_conn *c) {
    if (c->sq) return c->sq;
    sr_sendq *q = sr_slab_alloc(&c->srv->sendq_pool); /* zeroed */
    if (!q) return NULL;
    q->ring = q->inline_ring;
    q->cap = (uint32_t)(sizeof(q->inline_ring) / sizeof(q->inline_ring[0]));
    c->sq = q;
    return q;
}

/* Gives an empty queue back: what is idle holds none. */
static void queue_put_if_empty(sr_conn *c) {
    sr_sendq *q = c->sq;
    if (!q || q->len > 0) return;
    if (q->ring != q->inline_ring) free(q->ring);
    sr_slab_free(&c->srv->sendq_pool, q);
    c->sq = NULL;
}

static int queue_grow(sr_sendq *sq) {
    uint32_t cap = sq->cap * 2;
    sr_frame **q = malloc(cap * sizeof(*q));
    if (!q) return -1;
    for (uint32_t i = 0; i < sq->len; i++) q[i] = sq->ring[(sq->head + i) % sq->cap];
    if (sq->ring != sq->inline_ring) free(sq->ring);
    sq->ring = q;
    sq->cap = cap;
    sq->head = 0;
    return 0;
}

sr_frame *sr_conn_queue_pop(sr_conn *c) {
    sr_sendq *q = c->sq;
    if (!q || q->len == 0) return NULL;
    sr_frame *f = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    q->bytes -= f->len;
    q->off = 0;
    queue_put_if_empty(c);
    return f;
}

static void enqueue_frame(sr_conn *c, sr_frame *f, int limited) {
    if (c->closing || c->doomed || c->end_after_flush) return;
    /* batch.c: nothing reaches a stream ahead of a pending batch; inside a
     * slice, what is queued is the sweep itself */
    SR_ASSERT(c->kind != SR_CONN_STREAM || c->srv->sweeping || !sr_batch_pending(c->srv));
    if (c->h2s) { /* an HTTP/2 stream: onto its parent's session, by reference */
        int rc = sr_h2c_stream_write(c, f);
        if (rc == SR_EQUEUE) {
            c->srv->stats.slow_disconnects++;
            sr_log(c->srv, SR_LOG_WARN, c->id,
                   "HTTP/2 stream %llu: slow consumer (flow-control window shut), reset",
                   (unsigned long long)c->id);
        }
        if (rc != SR_OK) doom(c);
        return;
    }
    if (c->wslot) { /* its writer thread queues it and counts the limit */
        sr_writer_frame(c, f);
        return;
    }
    size_t queued = sr_conn_queued_bytes(c);
    if (limited && queued + f->len > c->srv->cfg.max_queue_bytes) {
        c->srv->stats.slow_disconnects++;
        sr_log(c->srv, SR_LOG_WARN, c->id, "stream %llu: slow consumer (%zu bytes queued), disconnected",
               (unsigned long long)c->id, queued);
        doom(c);
        return;
    }
    sr_sendq *q = queue_get(c);
    if (!q || (q->len == q->cap && queue_grow(q) < 0)) {
        doom(c); /* out of memory: this connection cannot keep up */
        return;
    }
    sr_frame_ref(f);
    q->ring[(q->head + q->len) % q->cap] = f;
    q->len++;
    q->bytes += f->len;
    if (c->http) sr_http_budget_update(c);
    mark_dirty(c);
}

void sr_conn_enqueue(sr_conn *c, sr_frame *f) {
    if (c->kind == SR_CONN_STREAM) sr_batch_barrier(c->srv); /* it must not overtake the batch */
    enqueue_frame(c, f, c->kind == SR_CONN_STREAM);
}

void sr_conn_enqueue_bytes(sr_conn *c, const char *bytes, size_t len) {
    if (c->kind == SR_CONN_STREAM) sr_batch_barrier(c->srv);
    sr_frame *f = sr_frame_raw(bytes, len);
    if (!f) {
        doom(c);
        return;
    }
    if (c->http && c->http->answer_ns && c->kind == SR_CONN_HTTP && !c->h2s) {
        f->answer = 1; /* a publish's answer: timed once written (consume) */
        f->born_ns = c->http->answer_ns;
        c->http->answer_ns = 0;
    }
    /* responses and stream heads are small and bounded: never a slow consumer */
    enqueue_frame(c, f, 0);
    sr_frame_unref(f);
}

int sr_conn_hole(sr_conn *c, sr_http_wait *w) {
    sr_frame *f = sr_frame_raw("", 0);
    if (!f) return SR_ENOMEM;
    f->hole = 1;
    if (c->http && c->http->answer_ns) { /* the publish's read time, for its answer */
        f->born_ns = c->http->answer_ns;
        c->http->answer_ns = 0;
    }
    uint32_t before = sr_conn_queued(c);
    enqueue_frame(c, f, 0);
    sr_frame_unref(f);
    if (sr_conn_queued(c) == before) return SR_ENOMEM; /* not queued: the connection is ending */
    w->hole = f;
    w->conn = c;
    w->prev = NULL;
    w->next = c->http->holes;
    if (w->next) w->next->prev = w;
    c->http->holes = w;
    c->http->n_holes++;
    return SR_OK;
}

void sr_conn_fill(sr_conn *c, sr_http_wait *w, const char *bytes, size_t len) {
    if (w->prev) w->prev->next = w->next;
    else c->http->holes = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->conn = NULL;
    c->http->n_holes--;
    sr_frame *answer = sr_frame_raw(bytes, len);
    sr_sendq *q = c->sq; /* the hole is in it */
    for (uint32_t i = 0; q && i < q->len; i++) {
        uint32_t at = (q->head + i) % q->cap;
        if (q->ring[at] != w->hole) continue;
        if (answer) {
            if (w->hole->born_ns) {
                answer->answer = 1;
                answer->born_ns = w->hole->born_ns;
            }
            q->ring[at] = answer;
            q->bytes += len;
            answer = NULL;
        } else { /* out of memory: the answer is lost, the connection too */
            doom(c);
            w->hole->hole = 0; /* written as nothing until the close */
            break;
        }
        sr_frame_unref(w->hole);
        break;
    }
    if (answer) sr_frame_unref(answer);
    w->hole = NULL;
    mark_dirty(c);
    if (!c->http->n_holes && c->http->deferred && !c->closing && !c->doomed) {
        c->http->deferred = 0;
        if (c->http->eof) { /* half-closed meanwhile: a stream is of no use */
            end_after_eof(c);
        } else {
            /* the stream request that waited (from a trusted proxy it names
             * its client first) */
            if (sr_client_request(c) == 0) sr_routes_dispatch(c);
            if (c->kind == SR_CONN_HTTP && c->http) sr_conn_resume(c);
        }
    }
    sr_server_close_doomed(c->srv);
}

/* Drops `bytes` written from the head of the queue; a message frame that
 * is now fully written gives its publish-to-write latency to /metrics, a
 * publish's answer its request-read-to-answer-written time. */
static void consume(sr_conn *c, size_t bytes) {
    c->srv->stats.bytes_out += bytes;
    if (c->http && bytes) c->http->out_ms = uv_now(c->srv->loop); /* see output_stalled */
    uint64_t now = 0;
    sr_sendq *q = c->sq;
    while (bytes > 0 && q && q->len > 0) {
        sr_frame *f = q->ring[q->head];
        size_t left = f->len - q->off;
        if (bytes < left) {
            q->off += (uint32_t)bytes;
            q->bytes -= bytes;
            break;
        }
        bytes -= left;
        q->bytes -= left;
        q->off = 0;
        q->head = (q->head + 1) % q->cap;
        q->len--;
        if (f->born_ns) {
            if (!now) now = uv_hrtime();
            uint64_t us = now > f->born_ns ? (now - f->born_ns) / 1000 : 0;
            if (f->answer) sr_metrics_answer(c->srv, us);
            else sr_metrics_latency(c->srv, us, f->msgs);
        }
        sr_frame_unref(f);
    }
    queue_put_if_empty(c);
    if (c->http) sr_http_budget_update(c);
}

static size_t fill_iov(sr_conn *c, uv_buf_t *iov, size_t max) {
    size_t n = 0;
    const sr_sendq *q = c->sq;
    for (uint32_t i = 0; q && i < q->len && n < max; i++) {
        sr_frame *f = q->ring[(q->head + i) % q->cap];
        if (f->hole) break; /* an answer not known yet: what follows waits */
        uint32_t off = i == 0 ? q->off : 0;
        iov[n++] = uv_buf_init(f->bytes + off, f->len - off);
    }
    return n;
}

static void on_write(uv_write_t *req, int status);

static void flush_queue(sr_conn *c);

void sr_conn_flush(sr_conn *c) {
    flush_queue(c);
    if (c->http && !c->closing) http_output_done(c);
}

/* uv_buf_t is struct iovec's layout on Unix: the same array serves both. */
_Static_assert(sizeof(uv_buf_t) == sizeof(struct iovec) &&
                   offsetof(uv_buf_t, base) == offsetof(struct iovec, iov_base) &&
                   offsetof(uv_buf_t, len) == offsetof(struct iovec, iov_len),
               "uv_buf_t is an iovec");

static void flush_queue(sr_conn *c) {
    if (c->h2) {
        sr_h2c_flush(c);
        return;
    }
    if (c->closing || c->inflight || c->wslot || c->out_wait) return;
    uv_os_fd_t fd = c->fd; /* a stream without a handle (idle.c) */
    if (c->tcp && uv_fileno((uv_handle_t *)c->tcp, &fd) != 0) {
        sr_conn_close_now(c);
        return;
    }
    uv_buf_t iov[SR_MAX_IOV];
    const char *sealed;
    while (sr_conn_queued(c) > 0 || sr_transport_pending(c->xport, &sealed)) {
        size_t n = fill_iov(c, iov, SR_MAX_IOV);
        /* a hole at the head (sr_conn_fill goes on) and nothing sealed */
        if (n == 0 && !sr_transport_pending(c->xport, &sealed)) return;
        bool blocked;
        ssize_t w = sr_transport_send(c->xport, fd, (const struct iovec *)iov, n, &blocked);
        if (w < 0) {
            sr_conn_close_now(c);
            return;
        }
        consume(c, (size_t)w);
        if (!blocked) {
            if (w > 0) continue; /* all of it: more may be queued */
            break; /* TLS before its handshake is done: answers wait for it */
        }
        if (!c->tcp) { /* the socket is full: its writable event goes on (idle.c) */
            if (sr_idle_want_out(c, true) != 0) sr_conn_close_now(c);
            return;
        }
        /* the socket is full: hand the rest to libuv and continue in on_write */
        sr_write *wr = c->srv->free_writes;
        if (wr) {
            c->srv->free_writes = wr->next_free;
        } else if (!(wr = malloc(sizeof(*wr)))) {
            sr_conn_close_now(c);
            return;
        }
        wr->conn = c;
        wr->sealed = sr_transport_pending(c->xport, &sealed);
        if (wr->sealed) { /* a sealing transport: its wire bytes, not the frames */
            iov[0] = uv_buf_init((char *)sealed, (unsigned)wr->sealed);
            n = 1;
            wr->n_frames = 0;
        } else {
            n = fill_iov(c, iov, SR_MAX_IOV);
            wr->n_frames = (uint32_t)n;
        }
        if (uv_write(&wr->req, (uv_stream_t *)c->tcp, iov, (unsigned)n, on_write) != 0) {
            wr->next_free = c->srv->free_writes;
            c->srv->free_writes = wr;
            sr_conn_close_now(c);
            return;
        }
        c->inflight = wr;
        return;
    }
    if (!c->end_after_flush || sr_conn_queued(c) > 0) return;
    if (c->xport && !c->notify_sent && sr_tls_conn_ready(c)) { /* TLS ends with close_notify */
        c->notify_sent = 1;
        sr_tls_conn_close_notify(c);
        flush_queue(c);
        return;
    }
    sr_conn_close_now(c);
}

static void on_write(uv_write_t *req, int status) {
    sr_write *wr = (sr_write *)req;
    sr_conn *c = wr->conn;
    sr_server *srv = c->srv;
    uint32_t n = wr->n_frames;
    wr->next_free = srv->free_writes;
    srv->free_writes = wr;
    c->inflight = NULL;
    if (status < 0) {
        if (status != UV_ECANCELED) sr_conn_close_now(c);
        return;
    }
    if (wr->sealed) {
        c->xport->vt->sent(c->xport, wr->sealed);
        if (c->http) c->http->out_ms = uv_now(srv->loop); /* see output_stalled */
        sr_conn_flush(c);
        return;
    }
    size_t bytes = 0;
    const sr_sendq *q = c->sq; /* the write carries its first n frames */
    for (uint32_t i = 0; i < n; i++) {
        sr_frame *f = q->ring[(q->head + i) % q->cap];
        bytes += f->len - (i == 0 ? q->off : 0);
    }
    consume(c, bytes);
    sr_conn_flush(c);
    /* a stream that waited for this write: idle again, without its handle */
    if (!c->inflight && c->kind == SR_CONN_STREAM) sr_idle_take(c);
}

void sr_server_flush_dirty(sr_server *srv) {
    while (srv->dirty) {
        sr_conn *c = srv->dirty;
        srv->dirty = c->dirty_next;
        c->dirty_next = NULL;
        c->dirty = 0;
        if (!c->closing) sr_conn_flush(c);
    }
}

void sr_server_close_doomed(sr_server *srv) {
    if (srv->fanout_depth > 0) return;
    while (srv->doomed) {
        sr_conn *c = srv->doomed;
        srv->doomed = c->doomed_next;
        c->doomed_next = NULL;
        sr_conn_close_now(c);
    }
}

void sr_conn_free(sr_conn *c) {
    sr_server *srv = c->srv;
    for (sr_frame *f; (f = sr_conn_queue_pop(c));) sr_frame_unref(f);
    sr_transport_free(c->xport);
    if (c->prev) c->prev->next = c->next;
    else srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (!c->h2s) srv->stats.connections--; /* an HTTP/2 stream was never one */
    sr_h2c_free(c);
    sr_addr_release(srv, c);
    sr_http_budget_update(c); /* closing: its share drops to 0 */
    free(c->user);
    free(c->hist);
    sr_slab_free(&srv->conn_pool, c);
    sr_server_conn_gone(srv);
}

const sr_conn_hist sr_conn_hist_none;

sr_conn_hist *sr_conn_hist_of(sr_conn *c) {
    if (!c->hist) c->hist = calloc(1, sizeof(*c->hist));
    return c->hist;
}

static void on_conn_closed(uv_handle_t *h) {
    sr_conn *c = h->data;
    free(h);
    sr_conn_free(c);
}

/* Closes c's socket: its handle, or the fd of a stream without one. */
static void close_socket(sr_conn *c) {
    if (c->tcp) uv_close((uv_handle_t *)c->tcp, on_conn_closed);
    else sr_idle_close_fd(c);
}

/* Takes a stream out of its rooms and tells the embedder, once. */
static void detach_stream(sr_conn *c) {
    sr_server *srv = c->srv;
    sr_batch_barrier(srv); /* what was published before it left reaches it */
    if (c->kind == SR_CONN_STREAM && !c->detached) {
        c->detached = 1;
        if (srv->close_fn) srv->close_fn(srv->close_ud, c);
        sr_server_id_remove(srv, c);
        srv->stats.streams--;
    }
    /* also covers rooms joined by an accept hook that then refused */
    sr_registry_leave_all(srv->reg, &c->member);
}

void sr_conn_close_now(sr_conn *c) {
    if (c->closing) return;
    detach_stream(c);
    c->closing = 1;
    release_http_state(c);
    if (c->h2) sr_h2c_closing(c);         /* its streams close with it */
    if (c->h2s) sr_h2c_stream_closed(c);  /* ends or resets its stream */
    if (c->tcp) uv_read_stop((uv_stream_t *)c->tcp);
    else sr_idle_forget(c);
    if (c->wslot) { /* the socket closes once its writer let go of it */
        sr_writer_detach(c);
        return;
    }
    close_socket(c);
}

void sr_conn_writer_gone(sr_conn *c, sr_gone_reason why) {
    c->wslot = 0;
    if (why == SR_GONE_SLOW && !c->closing)
        sr_log(c->srv, SR_LOG_WARN, c->id, "stream %llu: slow consumer, disconnected",
               (unsigned long long)c->id);
    if (!c->closing) {
        sr_conn_close_now(c);
        return;
    }
    close_socket(c);
}

struct sr_transport *sr_conn_transport(const sr_conn *c) {
    return c->xport;
}

void sr_conn_end(sr_conn *c) {
    if (c->closing) return;
    if (c->http) { /* a client that reads none of its last answers is not kept forever */
        uv_timer_stop(&c->http->timer);
        start_timer(c, c->srv->cfg.request_timeout_ms);
    }
    if (c->h2) { /* GOAWAY; it closes once its streams ended */
        sr_h2c_end(c);
        return;
    }
    detach_stream(c);
    c->end_after_flush = 1;
    if (c->wslot) {
        sr_writer_end(c);
        return;
    }
    if (sr_conn_queued(c) == 0 && !c->inflight) {
        sr_conn_close_now(c);
        return;
    }
    mark_dirty(c);
}

void sr_conn_become_stream(sr_conn *c) {
    sr_server *srv = c->srv;
    c->kind = SR_CONN_STREAM;
    release_http_state(c);
    srv->stats.streams++;
    srv->stats.streams_total++;
    sr_server_id_insert(srv, c);
    /* its socket leaves its handle when nothing needs it (idle.c); -1: it
     * keeps it */
    sr_idle_take(c);
    /* -1: it stays on this loop; an HTTP/2 stream always does (its bytes
     * go through its parent's session) */
    if (srv->writers && !c->h2s) sr_writer_attach(c);
}

/* --- public connection API -------------------------------------------- */

uint64_t sr_conn_id(const sr_conn *c) {
    return c->id;
}

void sr_conn_set_userdata(sr_conn *c, void *ud) {
    c->userdata = ud;
}

void *sr_conn_userdata(const sr_conn *c) {
    return c->userdata;
}

sr_server *sr_conn_server(const sr_conn *c) {
    return c->srv;
}

void sr_close(sr_conn *c) {
    if (!c) return;
    if (c->srv->fanout_depth > 0) {
        doom(c);
        return;
    }
    sr_conn_end(c);
}
