/* SPDX-License-Identifier: MIT */
/*
 * conn_read.c: the read side of a client connection: requests in, and
 * when to stop reading them (conn.c owns the connection's life, sendq.c
 * its send queue and writes).
 *
 * Reads land in the server's scratch buffer; a connection that owes a
 * PROXY protocol header (clients.c) first has it parsed, its bytes kept
 * until the header is complete; while the connection reads
 * requests the HTTP parser copies what it keeps, and once it is a stream
 * reads are only watched for EOF, so a stream holds no read buffer; a
 * stream's socket (plain or TLS) then leaves its libuv handle for the
 * server's idle set (idle.c: c->tcp NULL, c->fd), so an idle stream holds
 * no handle; what a TLS stream reads there still goes through its
 * transport while this loop owns it (sr_conn_stream_read). While a
 * response waits for the adapter (a sequenced publish), later pipelined
 * requests are held unparsed, so responses keep the order of requests;
 * past a bound reading stops until the response is out. A plain publish
 * waiting for the adapter's acknowledgement does not hold the requests
 * after it: its answer's place is reserved in the send queue (a hole,
 * sr_conn_hole in sendq.c) and filled when the answer is known; nothing
 * queued after a hole is written before it, so answers keep the order of
 * requests while a pipelining publisher keeps its throughput. A stream
 * request waits for the holes before it (its queue moves to the stream). A
 * client that half-closes (EOF) after pipelining requests gets every answer
 * to what it sent: EOF stops reading, the requests already read (held ones
 * too) are answered, the answers (holes filled) flush, then the connection
 * closes; a request cut short by the EOF gets none, and a stream request
 * that waited for holes is not started. A reset closes at once. A client
 * that pipelines faster than it reads the answers is held back the same
 * way: past max_queue_bytes of queued answers its requests stay unread
 * (TCP backpressure) until a flush finds half of them written
 * (sr_conn_http_output). The
 * same holds when all HTTP connections together pin more than
 * max_http_buffer_bytes (answers, held requests, parser buffers; counted in
 * limits.c): then any connection with answers still queued reads no
 * further request until they are out. The
 * keep-alive timer never takes a connection whose answers are still going
 * out for idle, and restarts once they are all out; one whose answers make
 * no progress for a whole request timeout is closed as a stalled reader
 * (docs/pipelining.md).
 *
 * Reads go through the transport: a TLS connection's bytes are opened
 * (handshake answers queued as the transport's pending bytes) before the
 * HTTP layer sees plaintext. An HTTP/2 connection (sniffed from its
 * preface, or chosen by ALPN) hands its bytes to h2conn.c.
 */
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "http/proxy_protocol.h"
#include "server/conn_int.h"
#include "server/internal.h"
#include "server/tls_server.h"
#include "server/transport.h"

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    sr_conn *c = h->data;
    *buf = uv_buf_init(c->srv->scratch, SR_SCRATCH_SIZE);
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
    /* HTTP/2 (after its handshake, if any: its transport may be its
     * writer's now): idle without streams, or not done in time after GOAWAY */
    if (c->h2) {
        if (c->end_after_flush) sr_conn_close_now(c);
        else if (sr_h2c_idle(c)) sr_conn_end(c);
        else start_timer(c, srv->cfg.keepalive_timeout_ms);
        return;
    }
    if (!sr_tls_conn_ready(c)) { /* a handshake counts against the request timeout */
        sr_tls_server_failed(c, SR_TLS_FAIL_TIMEOUT);
        sr_conn_close_now(c);
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
        if (sr_sendq_at(c->sq, 0)->hole || !output_stalled(c)) { /* a hole: the adapter is late */
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
            sr_log(c->srv, SR_LOG_INFO, c->id,
                   "connection %llu: ALPN h2 without the HTTP/2 preface, closed",
                   (unsigned long long)c->id);
            sr_h2c_count_violation(c->srv);
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
    if (sr_client_proxy_done(c, &h) == 0 && n > (size_t)rc)
        feed_requests(c, p + rc, n - (size_t)rc);
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

/* Wire bytes of a TLS connection: opened by its transport. 0, or -1 when
 * the connection was closed (a failed handshake is counted). */
static int transport_input(sr_conn *c, const char *data, size_t len) {
    /* an HTTP/2 connection on a writer: the writer seals with the same
     * transport */
    bool held = sr_h2c_hold(c);
    int rc = c->xport->vt->input(c->xport, data, len, deliver_plaintext, c);
    const char *p;
    bool pending = held; /* shared: the writer looks at what is pending itself */
    if (rc < 0 && !c->closing) sr_tls_server_failed(c, -1); /* reads the transport */
    if (held) sr_h2c_release(c);
    if (c->closing) return -1;
    if (rc != 0) { /* 1: close_notify; -1: failed (counted above) */
        sr_conn_close_now(c);
        return -1;
    }
    /* handshake answers, and answers held back until the handshake is done */
    if (pending || sr_transport_pending(c->xport, &p) || sr_conn_queued(c) > 0)
        sr_conn_mark_dirty(c);
    return 0;
}

int sr_conn_stream_read(sr_conn *c, const char *data, size_t len) {
    if (c->closing) return -1;
    if (!c->xport || c->wslot) return 0; /* plain, or its writer owns the transport */
    return transport_input(c, data, len);
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
        if (!c->h2 && !sr_tls_conn_ready(c)) sr_tls_server_failed(c, SR_TLS_FAIL_EOF);
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

void sr_conn_start_timer(sr_conn *c, uint32_t ms) {
    start_timer(c, ms);
}

void sr_conn_http_output(sr_conn *c) {
    http_output_done(c);
}

void sr_conn_end_after_eof(sr_conn *c) {
    end_after_eof(c);
}
