/*
 * conn.c: one client connection's socket I/O and its send queue.
 *
 * Reads land in the server's scratch buffer; a connection that owes a
 * PROXY protocol header (clients.c) first has it parsed, its bytes kept
 * until the header is complete; while the connection reads
 * requests the HTTP parser copies what it keeps, and once it is a stream
 * reads are only watched for EOF, so a stream holds no read buffer. While a
 * response waits for the adapter (a sequenced publish), later pipelined
 * requests are held unparsed, so responses keep the order of requests;
 * past a bound reading stops until the response is out. A client that
 * half-closes (EOF) after pipelining requests gets every answer to what it
 * sent: EOF stops reading, the requests already read (held ones too) are
 * answered, the answers flush, then the connection closes; a request cut
 * short by the EOF gets none. A reset closes at once. A client
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
 * dirty connection once per loop turn with uv_try_write over all queued
 * frames (one writev), and hands any rest to a single uv_write whose
 * callback continues. A stream whose queued bytes would pass the limit is
 * doomed (closed as a slow consumer once the current fan-out is over), so
 * one slow reader never grows memory or delays the others.
 *
 * With writer threads (writer.c) a stream's queue and writes move to its
 * writer once it is a stream (c->wslot set): enqueueing hands the frame to
 * the writer's batch, and closing waits for the writer's "gone" before the
 * socket is closed (sr_conn_writer_gone).
 */
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "http/proxy_protocol.h"
#include "server/internal.h"
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
    c->http = NULL;
    if (hs->wait) { /* the pending response will find no connection */
        hs->wait->conn = NULL;
        hs->wait = NULL;
    }
    sr_buf_free(&hs->held);
    if (hs->view) {
        free(hs->view->error);
        free(hs->view);
        hs->view = NULL;
    }
    uv_timer_stop(&hs->timer);
    hs->timer.data = hs;
    uv_close((uv_handle_t *)&hs->timer, on_http_state_closed);
    sr_http_budget_update(c); /* a stream or a closing connection pins nothing */
}

static void start_timer(sr_conn *c, uint32_t ms);

/* True when request bytes arrived that the loop has not read yet: after a
 * long loop turn (a big fan-out) the timer runs before the read does, and
 * then it is the server that is late, not the client. Only asked between
 * requests: a request's own deadline stays strict (slowloris). */
static int unread_bytes_waiting(sr_conn *c) {
    uv_os_fd_t fd;
    if (c->read_stopped || uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) return 0;
    char byte;
    return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* True when the answers the kernel still holds for the client (sent but
 * not yet acknowledged, or not sent) changed since the last look: the
 * client is still reading what was written, so it is not idle yet. */
static int kernel_queue_moved(sr_conn *c) {
    uv_os_fd_t fd;
    int outq = 0;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 || ioctl(fd, SIOCOUTQ, &outq) != 0) return 0;
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
    size_t wq = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
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
    if (!c->end_after_flush && sr_http_request_started(&c->http->req)) {
        if (c->http->req.state == SR_HTTP_PARTIAL) {
            sr_limit_refused(srv, SR_LIMIT_REQUEST_TIME);
            sr_routes_error(c, 408, "request not complete in time", true);
        } else {
            sr_conn_close_now(c);
        }
        return;
    }
    if (c->q_len > 0) {
        if (!output_stalled(c)) {
            start_timer(c, srv->cfg.request_timeout_ms);
            return;
        }
        srv->stats.slow_disconnects++;
        sr_log(srv, SR_LOG_WARN, c->id,
               "connection %llu: %zu response bytes not read by the client in %u ms, disconnected",
               (unsigned long long)c->id, c->q_bytes, (unsigned)srv->cfg.request_timeout_ms);
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
    sr_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->http = calloc(1, sizeof(*c->http));
    if (!c->http || uv_tcp_init(srv->loop, &c->tcp) != 0) {
        free(c->http);
        free(c);
        return NULL;
    }
    c->tcp.data = c;
    c->srv = srv;
    c->id = srv->next_conn_id++;
    c->http->out_ms = uv_now(srv->loop);
    c->q = c->q_inline;
    c->q_cap = (uint32_t)(sizeof(c->q_inline) / sizeof(c->q_inline[0]));
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
    if (c->read_stopped) return;
    uv_read_stop((uv_stream_t *)&c->tcp);
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
    uv_tcp_nodelay(&c->tcp, 1);
    start_timer(c, c->srv->cfg.request_timeout_ms);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        sr_conn_close_now(c);
        return SR_EIO;
    }
    return SR_OK;
}

/* Parses what arrived, handling each complete request in turn. */
static void feed_requests(sr_conn *c, const char *data, size_t len) {
    size_t off = 0;
    while (off < len && c->kind == SR_CONN_HTTP && c->http && !c->closing && !c->end_after_flush) {
        sr_http_request *req = &c->http->req;
        if (!sr_http_request_started(req)) {
            int over_budget = c->q_bytes > 0 && sr_http_budget_over(c->srv);
            if (c->q_bytes > backlog_limit(c) || over_budget) { /* it reads slower than it asks */
                if (over_budget && c->q_bytes <= backlog_limit(c))
                    sr_limit_refused(c->srv, SR_LIMIT_HTTP_BUFFER);
                c->http->backlog = 1;
                stop_reading(c);
                hold_bytes(c, data + off, len - off);
                return;
            }
            start_timer(c, c->srv->cfg.request_timeout_ms);
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
    if (c->http->wait || c->http->backlog) return; /* more answers to come */
    sr_conn_end(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    sr_conn *c = s->data;
    if (nread == 0) return;
    if (nread == UV_EOF && c->kind == SR_CONN_HTTP && c->http && !c->closing &&
        !c->http->await_proxy) {
        /* half-closed: the client sends nothing more but may still read */
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
        sr_conn_close_now(c);
        return;
    }
    if (c->kind == SR_CONN_STREAM || c->closing || c->end_after_flush) return; /* ignored */
    if (c->http && c->http->await_proxy) read_proxy_header(c, buf->base, (size_t)nread);
    else if (c->http && (c->http->wait || c->http->backlog)) hold_bytes(c, buf->base, (size_t)nread);
    else feed_requests(c, buf->base, (size_t)nread);
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
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) sr_conn_close_now(c);
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
    if (hs->backlog && c->q_bytes <= backlog_limit(c) / 2 &&
        (c->q_bytes == 0 || !sr_http_budget_over(c->srv))) {
        hs->backlog = 0; /* no response waits meanwhile: a backlog begins between requests */
        feed_held(c);
        if (!c->http || c->closing) return;
    }
    if (c->q_len == 0 && !hs->backlog && !hs->wait && !c->end_after_flush &&
        !sr_http_request_started(&hs->req))
        start_timer(c, c->srv->cfg.keepalive_timeout_ms);
}

void sr_conn_resume(sr_conn *c) {
    if (c->closing || c->end_after_flush || !c->http || c->http->wait) return;
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

static int queue_grow(sr_conn *c) {
    uint32_t cap = c->q_cap * 2;
    sr_frame **q = malloc(cap * sizeof(*q));
    if (!q) return -1;
    for (uint32_t i = 0; i < c->q_len; i++) q[i] = c->q[(c->q_head + i) % c->q_cap];
    if (c->q != c->q_inline) free(c->q);
    c->q = q;
    c->q_cap = cap;
    c->q_head = 0;
    return 0;
}

static void enqueue_frame(sr_conn *c, sr_frame *f, int limited) {
    if (c->closing || c->doomed || c->end_after_flush) return;
    if (c->wslot) { /* its writer thread queues it and counts the limit */
        sr_writer_frame(c, f);
        return;
    }
    if (limited && c->q_bytes + f->len > c->srv->cfg.max_queue_bytes) {
        c->srv->stats.slow_disconnects++;
        sr_log(c->srv, SR_LOG_WARN, c->id, "stream %llu: slow consumer (%zu bytes queued), disconnected",
               (unsigned long long)c->id, c->q_bytes);
        doom(c);
        return;
    }
    if (c->q_len == c->q_cap && queue_grow(c) < 0) {
        doom(c); /* out of memory: this connection cannot keep up */
        return;
    }
    sr_frame_ref(f);
    c->q[(c->q_head + c->q_len) % c->q_cap] = f;
    c->q_len++;
    c->q_bytes += f->len;
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
    /* responses and stream heads are small and bounded: never a slow consumer */
    enqueue_frame(c, f, 0);
    sr_frame_unref(f);
}

/* Drops `bytes` written from the head of the queue; a message frame that
 * is now fully written gives its publish-to-write latency to /metrics. */
static void consume(sr_conn *c, size_t bytes) {
    c->srv->stats.bytes_out += bytes;
    if (c->http && bytes) c->http->out_ms = uv_now(c->srv->loop); /* see output_stalled */
    uint64_t now = 0;
    while (bytes > 0 && c->q_len > 0) {
        sr_frame *f = c->q[c->q_head];
        size_t left = f->len - c->q_off;
        if (bytes < left) {
            c->q_off += (uint32_t)bytes;
            c->q_bytes -= bytes;
            break;
        }
        bytes -= left;
        c->q_bytes -= left;
        c->q_off = 0;
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
        if (f->born_ns) {
            if (!now) now = uv_hrtime();
            sr_metrics_latency(c->srv, now > f->born_ns ? (now - f->born_ns) / 1000 : 0, f->msgs);
        }
        sr_frame_unref(f);
    }
    if (c->http) sr_http_budget_update(c);
}

static size_t fill_iov(sr_conn *c, uv_buf_t *iov, size_t max) {
    size_t n = 0;
    for (uint32_t i = 0; i < c->q_len && n < max; i++) {
        sr_frame *f = c->q[(c->q_head + i) % c->q_cap];
        uint32_t off = i == 0 ? c->q_off : 0;
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

static void flush_queue(sr_conn *c) {
    if (c->closing || c->inflight || c->wslot) return;
    uv_buf_t iov[SR_MAX_IOV];
    while (c->q_len > 0) {
        size_t n = fill_iov(c, iov, SR_MAX_IOV);
        size_t total = 0;
        for (size_t i = 0; i < n; i++) total += iov[i].len;
        int w = uv_try_write((uv_stream_t *)&c->tcp, iov, (unsigned)n);
        if (w == UV_EAGAIN || w == UV_ENOSYS) w = 0;
        if (w < 0) {
            sr_conn_close_now(c);
            return;
        }
        consume(c, (size_t)w);
        if ((size_t)w == total) continue; /* all of it: more may be queued */
        /* the socket is full: hand the rest to libuv and continue in on_write */
        sr_write *wr = c->srv->free_writes;
        if (wr) {
            c->srv->free_writes = wr->next_free;
        } else if (!(wr = malloc(sizeof(*wr)))) {
            sr_conn_close_now(c);
            return;
        }
        n = fill_iov(c, iov, SR_MAX_IOV);
        wr->conn = c;
        wr->n_frames = (uint32_t)n;
        if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, iov, (unsigned)n, on_write) != 0) {
            wr->next_free = c->srv->free_writes;
            c->srv->free_writes = wr;
            sr_conn_close_now(c);
            return;
        }
        c->inflight = wr;
        return;
    }
    if (c->end_after_flush) sr_conn_close_now(c);
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
    size_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        sr_frame *f = c->q[(c->q_head + i) % c->q_cap];
        bytes += f->len - (i == 0 ? c->q_off : 0);
    }
    consume(c, bytes);
    sr_conn_flush(c);
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

static void on_conn_closed(uv_handle_t *h) {
    sr_conn *c = h->data;
    sr_server *srv = c->srv;
    while (c->q_len > 0) {
        sr_frame_unref(c->q[c->q_head]);
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
    }
    if (c->q != c->q_inline) free(c->q);
    if (c->prev) c->prev->next = c->next;
    else srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    srv->stats.connections--;
    sr_addr_release(srv, c);
    sr_http_budget_update(c); /* closing: its share drops to 0 */
    free(c->user);
    free(c);
    sr_server_conn_gone(srv);
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
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (c->wslot) { /* the socket closes once its writer let go of it */
        sr_writer_detach(c);
        return;
    }
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
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
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

void sr_conn_end(sr_conn *c) {
    if (c->closing) return;
    if (c->http) { /* a client that reads none of its last answers is not kept forever */
        uv_timer_stop(&c->http->timer);
        start_timer(c, c->srv->cfg.request_timeout_ms);
    }
    detach_stream(c);
    c->end_after_flush = 1;
    if (c->wslot) {
        sr_writer_end(c);
        return;
    }
    if (c->q_len == 0 && !c->inflight) {
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
    if (srv->writers) sr_writer_attach(c); /* -1: it stays on this loop */
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
