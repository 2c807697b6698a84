/* SPDX-License-Identifier: MIT */
/*
 * sendq.c: a connection's send queue on the main loop and its writes (the
 * read side is conn_read.c, the connection's life conn.c).
 *
 * The queue is the one send queue type (sr_sendq, sse/sendq.h: a ring of
 * references to shared frames, the writer threads' too), made from the
 * server's sendq_pool at a connection's first queued frame and given back
 * once everything is written: an idle stream, and every stream a writer
 * thread writes, holds only the NULL c->sq. Enqueueing
 * only marks the connection dirty; the server's check handle flushes every
 * dirty connection once per loop turn through its transport
 * (sr_transport_send, transport.h: plain TCP is one sendmsg over all
 * queued frames, TLS seals them first), and hands any rest to a single
 * uv_write (the frames, or the transport's sealed bytes) whose callback
 * continues; a stream without a handle instead has the idle set watch its
 * socket for writable, and flushes again then. A stream whose queued bytes
 * would pass the limit is doomed (closed as a slow consumer once the
 * current fan-out is over, sr_server_close_doomed), so one slow reader
 * never grows memory or delays the others.
 *
 * A hole (sr_conn_hole) reserves the place of an answer not known yet (a
 * publish waiting for the adapter); nothing queued after it is written
 * before sr_conn_fill puts the answer there, so answers keep the order of
 * requests. Once the last hole is filled, a stream request that waited
 * for them starts.
 *
 * With writer threads (writer.c) a stream's queue and writes move to its
 * writer once it is a stream (c->wslot set): enqueueing hands the frame to
 * the writer's batch; an HTTP/2 stream's frames go onto its parent's
 * session (h2conn.c).
 */
#include <stddef.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "server/conn_int.h"
#include "server/internal.h"
#include "server/tls_server.h"
#include "server/transport.h"
#include "server/writer.h"

#define SR_MAX_IOV 1024 /* IOV_MAX: at a high publish rate one writev carries a whole loop turn */

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
    sr_sendq *q = sr_slab_alloc(&c->srv->sendq_pool);
    if (!q) return NULL;
    sr_sendq_init(q);
    c->sq = q;
    return q;
}

/* Gives an empty queue back: what is idle holds none. */
static void queue_put_if_empty(sr_conn *c) {
    sr_sendq *q = c->sq;
    if (!q || q->len > 0) return;
    sr_sendq_release(q);
    sr_slab_free(&c->srv->sendq_pool, q);
    c->sq = NULL;
}

sr_frame *sr_conn_queue_pop(sr_conn *c) {
    if (!c->sq) return NULL;
    sr_frame *f = sr_sendq_pop(c->sq);
    queue_put_if_empty(c);
    return f;
}

static void enqueue_frame(sr_conn *c, sr_frame *f, int limited) {
    if (sr_conn_is_ending(c)) return;
    /* batch.c: nothing reaches a stream ahead of a pending batch; inside a
     * slice, what is queued is the sweep itself */
    SR_ASSERT(c->kind != SR_CONN_STREAM || sr_batch_sweeping(c->srv) || !sr_batch_pending(c->srv));
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
        sr_log(c->srv, SR_LOG_WARN, c->id,
               "stream %llu: slow consumer (%zu bytes queued), disconnected",
               (unsigned long long)c->id, queued);
        doom(c);
        return;
    }
    sr_sendq *q = queue_get(c);
    if (!q || sr_sendq_push(q, f) < 0) {
        queue_put_if_empty(c);
        doom(c); /* out of memory: this connection cannot keep up */
        return;
    }
    sr_frame_ref(f);
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
    sr_frame *hole = w->hole; /* alive while the queue holds it */
    if (!c->sq || !sr_sendq_holds(c->sq, hole)) {
        sr_frame_unref(answer);
    } else if (answer) {
        if (hole->born_ns) {
            answer->answer = 1;
            answer->born_ns = hole->born_ns;
        }
        sr_sendq_replace(c->sq, hole, answer);
        sr_frame_unref(hole); /* the queue's reference to it */
    } else {
        /* out of memory: the answer is lost, the connection too */
        doom(c);
        hole->hole = 0; /* written as nothing until the close */
    }
    w->hole = NULL;
    mark_dirty(c);
    if (!c->http->n_holes && c->http->deferred && !c->closing && !c->doomed) {
        c->http->deferred = 0;
        if (c->http->eof) { /* half-closed meanwhile: a stream is of no use */
            sr_conn_end_after_eof(c);
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
    for (sr_frame *f; c->sq && (f = sr_sendq_written(c->sq, &bytes));) {
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

static size_t fill_iov(sr_conn *c, struct iovec *iov, size_t max) {
    return c->sq ? sr_sendq_iov(c->sq, iov, max) : 0;
}

static void on_write(uv_write_t *req, int status);

static void flush_queue(sr_conn *c);

void sr_conn_flush(sr_conn *c) {
    flush_queue(c);
    if (c->http && !c->closing) sr_conn_http_output(c);
}

/* uv_buf_t is struct iovec's layout on Unix: the same array serves both
 * (the queue fills iovecs, uv_write takes them as uv_buf_t). */
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
    struct iovec iov[SR_MAX_IOV];
    const char *sealed;
    while (sr_conn_queued(c) > 0 || sr_transport_pending(c->xport, &sealed)) {
        size_t n = fill_iov(c, iov, SR_MAX_IOV);
        /* a hole at the head (sr_conn_fill goes on) and nothing sealed */
        if (n == 0 && !sr_transport_pending(c->xport, &sealed)) return;
        bool blocked;
        ssize_t w = sr_transport_send(c->xport, fd, iov, n, &blocked);
        if (w < 0) {
            sr_conn_close_now(c);
            return;
        }
        consume(c, (size_t)w);
        if (!blocked) {
            if (w > 0) continue; /* all of it: more may be queued */
            break;               /* TLS before its handshake is done: answers wait for it */
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
            iov[0].iov_base = (char *)sealed;
            iov[0].iov_len = wr->sealed;
            n = 1;
            wr->n_frames = 0;
        } else {
            n = fill_iov(c, iov, SR_MAX_IOV);
            wr->n_frames = (uint32_t)n;
        }
        if (uv_write(&wr->req, (uv_stream_t *)c->tcp, (const uv_buf_t *)iov, (unsigned)n,
                     on_write) != 0) {
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
        if (!c->inflight && c->kind == SR_CONN_STREAM) sr_idle_take(c); /* as below */
        return;
    }
    /* the write carried the queue's first n frames */
    consume(c, c->sq ? sr_sendq_head_bytes(c->sq, n) : 0);
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
