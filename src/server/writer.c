/* SPDX-License-Identifier: MIT */
/*
 * writer.c: writer threads: each owns the send queues of the streams handed
 * to it and does all writes to their sockets (see writer.h for the split
 * with the main loop; writer_feed.c is the main loop's side).
 *
 * Commands: the main loop appends fixed-size commands (attach, frame, end,
 * detach) to a writer's pending array during a loop turn; at the end of the
 * turn the array is swapped with the writer's inbox under the writer's
 * mutex (or appended when the writer has not taken the previous one yet,
 * so batches coalesce while a writer is busy) and the writer is woken with
 * uv_async_send. Arrays are reused, so a steady fan-out allocates nothing
 * per recipient. The writer appends frames to per-stream send queues (the
 * main loop's queue type, sse/sendq.h, made from the writer's own slab
 * pool at a stream's first frame and given back once drained) and then
 * does one write per stream that got frames in the batch (through its
 * transport, transport.h: one sendmsg for plain TCP): several
 * broadcasts of one turn leave in one write. On EAGAIN a uv_poll for
 * writable on that socket (in the writer's own loop) resumes it.
 *
 * Stream slots: the main loop picks a slot number for each stream (the
 * least-loaded writer, a freed slot first) and reuses it only after the
 * writer said "gone" for it; commands for a slot the writer already let go
 * of are stale and ignored (frames released). Batches are handled in
 * order, so a reused slot's attach always follows its stale commands.
 *
 * Frame references are atomic; the main loop takes the references of a
 * run of one frame in one addition, and the writer releases the ones it
 * wrote in runs (one atomic subtraction per frame per batch, not per
 * stream).
 *
 * HTTP/2: a writer can own an HTTP/2 connection (the parent; its streams
 * stay on the main loop as connections without sockets). Its slot has no
 * queue: the session (h2conn.c) is the queue. The main loop's stream
 * frames, ends and resets come as commands naming the stream, and the
 * writer applies them to the session under the session's lock, which the
 * main loop takes for what it does itself (reading requests and window
 * updates, answering, GOAWAY); a run of commands for one connection takes
 * the lock once. The writer then writes the session's output like a
 * stream's queue, and hands streams the session closed meanwhile back to
 * the main loop (SR_GONE_H2_STREAMS), which closes them.
 *
 * Heartbeats: one timer per writer drives a wheel of SR_WHEEL_BUCKETS
 * buckets; stream slot s belongs to bucket s % SR_WHEEL_BUCKETS and each
 * tick visits one bucket, so a heartbeat interval is spread over its
 * ticks. A stream written to within the last half interval is skipped.
 *
 * Counters (bytes out, heartbeats, slow consumers, latency) are per writer,
 * relaxed atomics written only by that writer, summed when read. A
 * sendmsg's bytes reach the client before consume() counts them: `sending`
 * is odd meanwhile, and a reader waits it out (sr_writers_add_stats), so
 * /metrics read after a client got a frame has counted it.
 */
#include "server/writer_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

static int gones_push(sr_wgones *a, sr_wgone g) {
    if (a->len == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        sr_wgone *v = realloc(a->v, cap * sizeof(*v));
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->len++] = g;
    return 0;
}

/* --- frame references released in runs ----------------------------------- */

static void release_flush(sr_wrelease *r) {
    for (uint32_t i = 0; i < r->len; i++) {
        sr_frame *f = r->f[i];
        if (atomic_fetch_sub_explicit(&f->refs, r->n[i], memory_order_acq_rel) == r->n[i]) free(f);
    }
    r->len = 0;
}

static void release(sr_wrelease *r, sr_frame *f) {
    for (uint32_t i = 0; i < r->len; i++) {
        if (r->f[i] == f) {
            r->n[i]++;
            return;
        }
    }
    if (r->len == 8) release_flush(r);
    r->f[r->len] = f;
    r->n[r->len++] = 1;
}

/* --- writer side ----------------------------------------------------------- */

static void hand_back(sr_writer *w) {
    if (w->gone.len == 0) return;
    struct sr_writers *set = w->set;
    uv_mutex_lock(&set->back_lock);
    for (size_t i = 0; i < w->gone.len; i++) {
        if (gones_push(&set->back, w->gone.v[i]) < 0) {
            /* out of memory: keep the rest for the next callback */
            memmove(w->gone.v, w->gone.v + i, (w->gone.len - i) * sizeof(*w->gone.v));
            w->gone.len -= i;
            uv_mutex_unlock(&set->back_lock);
            uv_async_send(&set->back_async);
            return;
        }
    }
    uv_mutex_unlock(&set->back_lock);
    w->gone.len = 0;
    uv_async_send(&set->back_async);
}

/* --- a stream's send queue: made at its first frame, given back drained --- */

static size_t queued_bytes(const sr_wstream *s) {
    return s->q ? s->q->bytes : 0;
}

/* Gives s's queue (empty) back to the writer's pool. */
static void queue_put(sr_writer *w, sr_wstream *s) {
    SR_ASSERT(s->q->len == 0);
    sr_sendq_release(s->q);
    sr_slab_free(&w->qpool, s->q);
    s->q = NULL;
}

static void on_poll_closed(uv_handle_t *h) {
    free(h->data);
}

/* Lets go of slot s: drops its queue and tells the main loop. */
static void let_go(sr_writer *w, uint32_t slot, sr_gone_reason why) {
    sr_wstream *s = slot_at(w, slot);
    if (s->state == SLOT_FREE) return;
    if (s->q) {
        for (sr_frame *f; (f = sr_sendq_pop(s->q));) release(&w->rel, f);
        queue_put(w, s);
    }
    if (s->poll) {
        /* stops watching the fd now, before the main loop may close it */
        s->poll->poll.data = s->poll;
        uv_close((uv_handle_t *)&s->poll->poll, on_poll_closed);
    }
    if (why == SR_GONE_SLOW) atomic_fetch_add_explicit(&w->slow, 1, memory_order_relaxed);
    sr_wgone g = {s->conn, slot, w->ix, (uint16_t)why};
    uint8_t dirty = s->dirty;
    memset(s, 0, sizeof(*s));
    s->dirty = dirty;                         /* still listed; flush skips free slots */
    if (gones_push(&w->gone, g) < 0) abort(); /* cannot lose a stream's end */
}

static void latency(sr_writer *w, uint64_t us, uint32_t msgs) {
    size_t i = 0;
    while (i < SR_LATENCY_BUCKETS && us > sr_latency_bounds_us[i]) i++;
    atomic_fetch_add_explicit(&w->latency[i], msgs, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->latency_sum_us, us * msgs, memory_order_relaxed);
}

static void consume(sr_writer *w, sr_wstream *s, size_t bytes) {
    atomic_fetch_add_explicit(&w->bytes_out, bytes, memory_order_relaxed);
    uint64_t now = 0;
    for (sr_frame *f; s->q && (f = sr_sendq_written(s->q, &bytes));) {
        if (f->born_ns) {
            if (!now) now = uv_hrtime();
            latency(w, now > f->born_ns ? (now - f->born_ns) / 1000 : 0, f->msgs);
        }
        release(&w->rel, f);
    }
    if (s->q && s->q->len == 0) queue_put(w, s); /* drained: an idle stream keeps none */
}

static void flush(sr_writer *w, uint32_t slot);

/* --- HTTP/2 connections ----------------------------------------------------- */

/* The bytes and publish-to-write times a flush counted. */
static void h2_count_writes(sr_writer *w, sr_h2c_wctx *x) {
    if (x->bytes) atomic_fetch_add_explicit(&w->bytes_out, x->bytes, memory_order_relaxed);
    if (x->timed) {
        for (size_t i = 0; i <= SR_LATENCY_BUCKETS; i++)
            if (x->latency[i])
                atomic_fetch_add_explicit(&w->latency[i], x->latency[i], memory_order_relaxed);
        atomic_fetch_add_explicit(&w->latency_sum_us, x->latency_sum_us, memory_order_relaxed);
        memset(x->latency, 0, sizeof(x->latency));
        x->latency_sum_us = 0;
        x->timed = false;
    }
    x->bytes = 0;
}

static void h2_account(sr_writer *w, uint32_t slot, sr_h2c_wctx *x) {
    h2_count_writes(w, x);
    if (x->slow) atomic_fetch_add_explicit(&w->slow, x->slow, memory_order_relaxed);
    if (x->closed) {
        sr_wgone g = {slot_at(w, slot)->conn, slot, w->ix, SR_GONE_H2_STREAMS};
        if (gones_push(&w->gone, g) < 0) abort(); /* cannot lose a stream's end */
    }
    x->slow = 0;
    x->closed = false;
}

/* Lets go of the session lock a run of commands held. */
static void h2_drop(sr_writer *w) {
    sr_conn *c = w->h2_held;
    if (!c) return;
    w->h2_held = NULL;
    sr_h2c_wunlock(c);
    h2_account(w, w->h2_slot, &w->h2_ctx);
}

static void h2_hold(sr_writer *w, uint32_t slot) {
    sr_conn *c = slot_at(w, slot)->conn;
    if (w->h2_held == c) return;
    h2_drop(w);
    memset(&w->h2_ctx, 0, sizeof(w->h2_ctx));
    w->h2_held = c;
    w->h2_slot = slot;
    sr_h2c_wlock(c, &w->h2_ctx);
}

static void wait_writable(sr_writer *w, uint32_t slot);
static void mark(sr_writer *w, uint32_t slot);

/* Writes an HTTP/2 connection's output (sr_h2c_wflush). */
static void flush_h2(sr_writer *w, uint32_t slot) {
    sr_wstream *s = slot_at(w, slot);
    h2_drop(w);
    sr_h2c_wctx x;
    memset(&x, 0, sizeof(x));
    bool blocked = false;
    sr_h2c_wlock(s->conn, &x);
    atomic_fetch_add_explicit(&w->sending, 1, memory_order_seq_cst); /* odd */
    int rc = sr_h2c_wflush(s->conn, s->fd, &blocked);
    h2_count_writes(w, &x);
    atomic_fetch_add_explicit(&w->sending, 1, memory_order_release); /* even: counted */
    sr_h2c_wunlock(s->conn);
    h2_account(w, slot, &x);
    s->last_write_ms = (uint32_t)uv_now(&w->loop);
    if (rc != 0) {
        let_go(w, slot, rc < 0 ? SR_GONE_ERROR : SR_GONE_ASKED);
        return;
    }
    if (blocked) wait_writable(w, slot);
}

/* A command for an HTTP/2 connection's slot: sid 0 is the connection
 * itself (a detach lets it go; anything else is "write what is due"). */
static void run_h2_command(sr_writer *w, const sr_wcmd *cmd, int op) {
    sr_wstream *s = slot_at(w, cmd->slot); /* live: run_command judged stale ones */
    int32_t sid = (int32_t)((uint32_t)cmd->op_fd >> 2);
    if (sid == 0) {
        if (op == CMD_DETACH) {
            if (w->h2_held == s->conn) h2_drop(w); /* before the main loop may free it */
            let_go(w, cmd->slot, SR_GONE_ASKED);
            return;
        }
        mark(w, cmd->slot);
        return;
    }
    h2_hold(w, cmd->slot);
    if (op == CMD_FRAME) {
        sr_h2c_wcommand(s->conn, SR_WH2_FRAME, sid, cmd->ptr, 0);
        release(&w->rel, cmd->ptr);
    } else if (op == CMD_END) {
        sr_h2c_wcommand(s->conn, SR_WH2_END, sid, NULL, 0);
    } else {
        sr_h2c_wcommand(s->conn, SR_WH2_RESET, sid, NULL, (uint32_t)(uintptr_t)cmd->ptr);
    }
    mark(w, cmd->slot);
}

static void on_writable(uv_poll_t *p, int status, int events) {
    (void)events;
    sr_wpoll *wp = p->data;
    sr_writer *w = wp->w;
    sr_wstream *s = slot_at(w, wp->slot);
    if (status < 0) {
        let_go(w, wp->slot, SR_GONE_ERROR);
    } else {
        s->waiting = 0;
        flush(w, wp->slot); /* may let go (closing p) or wait again */
        if (s->state != SLOT_FREE && !s->waiting) uv_poll_stop(p);
    }
    release_flush(&w->rel);
    hand_back(w);
}

static void wait_writable(sr_writer *w, uint32_t slot) {
    sr_wstream *s = slot_at(w, slot);
    if (!s->poll) {
        sr_wpoll *wp = malloc(sizeof(*wp));
        if (!wp || uv_poll_init_socket(&w->loop, &wp->poll, s->fd) != 0) {
            free(wp);
            let_go(w, slot, SR_GONE_ERROR);
            return;
        }
        wp->w = w;
        wp->slot = slot;
        wp->poll.data = wp;
        s->poll = wp;
    }
    if (uv_poll_start(&s->poll->poll, UV_WRITABLE, on_writable) != 0) {
        let_go(w, slot, SR_GONE_ERROR);
        return;
    }
    s->waiting = 1;
}

/* Writes what slot has queued through its transport (transport.h): one
 * sendmsg of up to SR_WRITER_IOV frames at a time for plain TCP, sealed
 * records for TLS, until done or the socket is full. */
static void flush(sr_writer *w, uint32_t slot) {
    sr_wstream *s = slot_at(w, slot);
    if (s->state == SLOT_FREE || s->waiting) return;
    if (s->h2) {
        flush_h2(w, slot);
        return;
    }
    /* a queue exists only while frames wait (the heartbeat wheel and the
     * end command read "no queue" as "nothing to write") */
    SR_ASSERT(!s->q || s->q->len > 0);
    struct iovec iov[SR_WRITER_IOV];
    const char *sealed;
    while (s->q || sr_transport_pending(s->xport, &sealed)) {
        size_t n = s->q ? sr_sendq_iov(s->q, iov, SR_WRITER_IOV) : 0;
        bool blocked;
        atomic_fetch_add_explicit(&w->sending, 1, memory_order_seq_cst); /* odd */
        ssize_t r = sr_transport_send(s->xport, s->fd, iov, n, &blocked);
        if (r >= 0) {
            s->last_write_ms = (uint32_t)uv_now(&w->loop);
            consume(w, s, (size_t)r);
        }
        atomic_fetch_add_explicit(&w->sending, 1, memory_order_release); /* even: counted */
        if (r < 0) {
            let_go(w, slot, SR_GONE_ERROR);
            return;
        }
        if (blocked) {
            wait_writable(w, slot);
            return;
        }
        if (r == 0) break; /* nothing taken (a transport not ready): not a spin */
    }
    if (s->state == SLOT_ENDING) let_go(w, slot, SR_GONE_ASKED);
}

static void mark(sr_writer *w, uint32_t slot) {
    sr_wstream *s = slot_at(w, slot);
    if (s->dirty) return;
    if (w->n_dirty == w->cap_dirty) {
        size_t cap = w->cap_dirty ? w->cap_dirty * 2 : 256;
        uint32_t *d = realloc(w->dirty, cap * sizeof(*d));
        if (!d) { /* cannot list it: write now */
            flush(w, slot);
            return;
        }
        w->dirty = d;
        w->cap_dirty = cap;
    }
    s->dirty = 1;
    w->dirty[w->n_dirty++] = slot;
}

static int slots_reserve(sr_writer *w, uint32_t slot) {
    while (slot / SR_SLOT_CHUNK >= w->n_chunks) {
        sr_wstream **v = realloc(w->chunks, (w->n_chunks + 1) * sizeof(*v));
        if (!v) return -1;
        w->chunks = v;
        /* not cleared: a slot is zeroed when first used, so the rest of the
         * chunk stays untouched memory */
        if (!(v[w->n_chunks] = malloc(SR_SLOT_CHUNK * sizeof(sr_wstream)))) return -1;
        w->n_chunks++;
    }
    while (w->n_slots <= slot) {
        memset(slot_at(w, w->n_slots), 0, sizeof(sr_wstream));
        w->n_slots++;
    }
    return 0;
}

/* Appends f to slot's ring; the reference moves with it. */
static void queue_frame(sr_writer *w, uint32_t slot, sr_frame *f) {
    sr_wstream *s = slot_at(w, slot);
    if (s->state != SLOT_LIVE) {
        release(&w->rel, f); /* stale: the slot was let go */
        return;
    }
    if (queued_bytes(s) + f->len > w->max_queue_bytes && f->born_ns && !s->waiting) {
        /* a batch that merged many turns may hold more than the limit for a
         * socket that is not full: write what is queued before judging */
        flush(w, slot);
        if (s->state != SLOT_LIVE) {
            release(&w->rel, f);
            return;
        }
    }
    if (queued_bytes(s) + f->len > w->max_queue_bytes && f->born_ns) {
        release(&w->rel, f);
        let_go(w, slot, SR_GONE_SLOW);
        return;
    }
    if (!s->q && (s->q = sr_slab_alloc(&w->qpool))) sr_sendq_init(s->q);
    if (!s->q || sr_sendq_push(s->q, f) < 0) { /* out of memory: it cannot keep up */
        release(&w->rel, f);
        let_go(w, slot, SR_GONE_SLOW);
        return;
    }
    mark(w, slot);
}

static void run_command(sr_writer *w, const sr_wcmd *cmd) {
    int op = cmd->op_fd & 3;
    if (op == CMD_ATTACH) {
        if (slots_reserve(w, cmd->slot) < 0) {
            /* no room to hold it: hand it straight back to be closed */
            sr_wgone g = {cmd->ptr, cmd->slot, w->ix, SR_GONE_ERROR};
            if (gones_push(&w->gone, g) < 0) abort();
            return;
        }
        sr_wstream *s = slot_at(w, cmd->slot);
        uint8_t dirty = s->dirty;
        memset(s, 0, sizeof(*s));
        s->dirty = dirty;
        s->conn = cmd->ptr;
        s->fd = cmd->op_fd >> 2;
        /* set by the main loop before the attach, which the writer's mutex
         * orders before this: from here on this writer owns it */
        s->xport = sr_conn_transport(cmd->ptr);
        s->h2 = sr_conn_is_h2(cmd->ptr);
        s->state = SLOT_LIVE;
        s->last_write_ms = (uint32_t)uv_now(&w->loop);
        return;
    }
    if (cmd->slot >= w->n_slots) { /* cannot happen: attach comes first */
        if (op == CMD_FRAME && cmd->ptr) release(&w->rel, cmd->ptr);
        return;
    }
    sr_wstream *s = slot_at(w, cmd->slot);
    if (s->state == SLOT_FREE) {
        /* stale: this writer let go of the slot (an error, a slow consumer)
         * and the main loop, not told yet, still sent it commands. Judged
         * before s->h2, which let_go cleared: an HTTP/2 connection's kick
         * is a CMD_FRAME without a frame and must not reach queue_frame. */
        if (op == CMD_FRAME && cmd->ptr) release(&w->rel, cmd->ptr);
        return;
    }
    if (s->h2) {
        run_h2_command(w, cmd, op);
        return;
    }
    if (w->h2_held) h2_drop(w); /* a run of one connection's commands ended */
    switch (op) {
    case CMD_FRAME: queue_frame(w, cmd->slot, cmd->ptr); break;
    case CMD_END:
        if (s->state == SLOT_LIVE) {
            s->state = SLOT_ENDING;
            if (!s->q && !s->waiting) let_go(w, cmd->slot, SR_GONE_ASKED);
        }
        break;
    case CMD_DETACH: let_go(w, cmd->slot, SR_GONE_ASKED); break;
    }
}

static void flush_dirty(sr_writer *w) {
    for (size_t i = 0; i < w->n_dirty; i++) {
        uint32_t slot = w->dirty[i];
        slot_at(w, slot)->dirty = 0;
        flush(w, slot);
    }
    w->n_dirty = 0;
}

static void let_go_all(sr_writer *w) {
    for (uint32_t i = 0; i < w->n_slots; i++) let_go(w, i, SR_GONE_ASKED);
}

static void on_handle_closed(uv_handle_t *h) {
    (void)h;
}

void sr_writer_on_wake(uv_async_t *a) {
    sr_writer *w = a->data;
    uv_mutex_lock(&w->lock);
    sr_wcmds t = w->inbox;
    w->inbox = w->work;
    w->work = t;
    bool stop = w->stop;
    uv_mutex_unlock(&w->lock);
    for (size_t i = 0; i < w->work.len; i++) run_command(w, &w->work.v[i]);
    w->work.len = 0;
    h2_drop(w);
    flush_dirty(w);
    if (stop) {
        let_go_all(w);
        uv_close((uv_handle_t *)&w->wake, on_handle_closed);
        uv_close((uv_handle_t *)&w->wheel_timer, on_handle_closed);
    }
    release_flush(&w->rel);
    hand_back(w);
}

/* One tick of the heartbeat wheel: the streams of one bucket. */
void sr_writer_on_wheel_tick(uv_timer_t *t) {
    sr_writer *w = t->data;
    uint64_t now = uv_now(&w->loop);
    uint32_t b = w->wheel_bucket;
    w->wheel_bucket = (b + 1) % SR_WHEEL_BUCKETS;
    uint64_t sent = 0;
    for (uint32_t slot = b; slot < w->n_slots; slot += SR_WHEEL_BUCKETS) {
        sr_wstream *s = slot_at(w, slot);
        if (s->state != SLOT_LIVE || s->h2 || /* its streams get theirs from the main loop */
            (uint32_t)now - s->last_write_ms < w->heartbeat_ms / 2)
            continue;
        if (s->q) continue; /* data is on its way: no need */
        sr_frame_ref(w->heartbeat_frame);
        queue_frame(w, slot, w->heartbeat_frame);
        s->last_write_ms = (uint32_t)now; /* counted as written even if it waits */
        sent++;
    }
    if (sent) atomic_fetch_add_explicit(&w->heartbeats, sent, memory_order_relaxed);
    flush_dirty(w);
    release_flush(&w->rel);
    hand_back(w);
}

void sr_writer_thread_main(void *arg) {
    sr_writer *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}
