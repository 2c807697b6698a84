/* SPDX-License-Identifier: MIT */
/*
 * writer_feed.c: the main loop's side of the writer threads: it numbers
 * each stream's slot in its writer, appends commands to the writer's
 * pending batch, hands batches over at the end of a loop turn, takes the
 * writers' "gone" answers, sums their counters, and starts and stops them.
 * See writer.h and writer.c.
 */
#include "server/writer_int.h"

#include <sched.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* threads counts the caller's loop too: on 2 cores, the loop and one
 * writer measured better than the loop and two writers at sustained rates
 * (bench/RESULTS-engine.md), and a writer per core would oversubscribe. */
unsigned sr_writers_wanted(const sr_config *cfg) {
    unsigned n = cfg->threads;
    if (n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (unsigned)cores : 1;
    }
    if (n <= 1) return 0;
    n--;
    return n > SR_MAX_WRITERS ? SR_MAX_WRITERS : n;
}

static int cmds_push(sr_wcmds *a, uint32_t slot, int32_t op_fd, void *ptr) {
    if (a->len == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        sr_wcmd *v = realloc(a->v, cap * sizeof(*v));
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->len++] = (sr_wcmd){slot, op_fd, ptr};
    return 0;
}

/* --- main loop side ----------------------------------------------------- */

static void on_back(uv_async_t *a) {
    sr_server *srv = a->data; /* one of the server's handles (sr_server_async_init) */
    struct sr_writers *set = srv->writers;
    uv_mutex_lock(&set->back_lock);
    sr_wgones t = set->back;
    set->back = set->back_work;
    set->back_work = t;
    uv_mutex_unlock(&set->back_lock);
    for (size_t i = 0; i < set->back_work.len; i++) {
        sr_wgone g = set->back_work.v[i];
        if (g.reason == SR_GONE_H2_STREAMS) { /* not a let-go: the slot stays */
            sr_h2c_reap(g.conn);
            continue;
        }
        sr_writer *w = &set->w[g.writer];
        /* the free list was sized when the slot was made: never grows here */
        w->free_slots[w->n_free++] = g.slot;
        w->live--;
        sr_conn_writer_gone(g.conn, (sr_gone_reason)g.reason);
    }
    set->back_work.len = 0;
}

static void mark_pending(sr_server *srv) {
    struct sr_writers *set = srv->writers;
    if (set->pending) return;
    set->pending = true;
    /* a batch queued outside I/O callbacks must not wait for the next I/O */
    sr_server_want_check(srv);
}

static void push(sr_conn *c, int op, void *ptr) {
    sr_writer *w = &c->srv->writers->w[c->wix];
    if (cmds_push(&w->pend, c->wslot - 1, op, ptr) < 0) {
        /* out of memory: a frame is dropped for this stream (released) */
        if (op == CMD_FRAME) sr_frame_unref(ptr);
        if (op == CMD_END || op == CMD_DETACH) abort(); /* would leak the connection */
        return;
    }
    mark_pending(c->srv);
}

int sr_writer_attach(sr_conn *c) {
    sr_server *srv = c->srv;
    struct sr_writers *set = srv->writers;
    if (!set || set->stopped || c->inflight || c->out_wait || c->closing) return -1;
    uv_os_fd_t fd = c->fd; /* a stream without a handle (idle.c) */
    if (c->tcp && uv_fileno((uv_handle_t *)c->tcp, &fd) != 0) return -1;
    if (fd < 0 || fd > (INT32_MAX >> 2)) return -1;
    sr_writer *w = &set->w[0];
    for (unsigned i = 1; i < set->n; i++)
        if (set->w[i].live < w->live) w = &set->w[i];
    uint32_t slot;
    if (w->n_free > 0) {
        slot = w->free_slots[--w->n_free];
    } else {
        if (w->next_slot == w->cap_free) { /* room to free every slot made */
            size_t cap = w->cap_free ? w->cap_free * 2 : 256;
            uint32_t *v = realloc(w->free_slots, cap * sizeof(*v));
            if (!v) return -1;
            w->free_slots = v;
            w->cap_free = cap;
        }
        slot = w->next_slot++;
    }
    if (cmds_push(&w->pend, slot, CMD_ATTACH | (fd << 2), c) < 0) {
        w->free_slots[w->n_free++] = slot;
        return -1;
    }
    w->live++;
    c->wslot = slot + 1;
    c->wix = w->ix;
    mark_pending(srv);
    /* what was queued before (the response head) goes first, in order */
    for (sr_frame *f; (f = sr_conn_queue_pop(c));) push(c, CMD_FRAME, f);
    return 0;
}

/* Adds the references counted for the current run of one frame. */
static void refs_settle(sr_writer *w) {
    if (w->ref_frame && w->ref_count > 1)
        atomic_fetch_add_explicit(&w->ref_frame->refs, w->ref_count - 1, memory_order_relaxed);
    w->ref_frame = NULL;
    w->ref_count = 0;
}

/* One reference to f for a command in w's batch. A fan-out queues the same
 * frame for thousands of streams in a row: the first takes a real reference
 * (which keeps f alive), the others are only counted and added in one
 * atomic operation before the batch is handed over, so the frame's cache
 * line is not written once per recipient while writers read it. */
static void take_ref(sr_writer *w, sr_frame *f) {
    if (w->ref_frame == f) {
        w->ref_count++;
        return;
    }
    refs_settle(w);
    sr_frame_ref(f);
    w->ref_frame = f;
    w->ref_count = 1;
}

void sr_writer_frame(sr_conn *c, sr_frame *f) {
    sr_writer *w = &c->srv->writers->w[c->wix];
    if (cmds_push(&w->pend, c->wslot - 1, CMD_FRAME, f) < 0) return; /* out of memory: dropped */
    take_ref(w, f);
    mark_pending(c->srv);
}

void sr_writer_h2(sr_conn *parent, int what, int32_t sid, sr_frame *f, uint32_t error) {
    sr_writer *w = &parent->srv->writers->w[parent->wix];
    int op = what == SR_WH2_END ? CMD_END : what == SR_WH2_RESET ? CMD_DETACH : CMD_FRAME;
    void *ptr = what == SR_WH2_FRAME   ? (void *)f
                : what == SR_WH2_RESET ? (void *)(uintptr_t)error
                                       : NULL;
    SR_ASSERT(sid >= 0 && sid < SR_WH2_MAX_SID);
    int32_t op_fd = (int32_t)((uint32_t)op | ((uint32_t)sid << 2));
    if (cmds_push(&w->pend, parent->wslot - 1, op_fd, ptr) < 0) {
        if (what == SR_WH2_END || what == SR_WH2_RESET) abort(); /* would leave the stream open */
        return; /* out of memory: a frame is dropped for this stream, as in sr_writer_frame */
    }
    if (what == SR_WH2_FRAME) take_ref(w, f);
    mark_pending(parent->srv);
}

void sr_writer_end(sr_conn *c) {
    if (c->w_end_sent || c->w_detach_sent) return;
    c->w_end_sent = 1;
    push(c, CMD_END, NULL);
}

void sr_writer_detach(sr_conn *c) {
    if (c->w_detach_sent) return;
    c->w_detach_sent = 1;
    push(c, CMD_DETACH, NULL);
}

bool sr_writers_pending(const sr_server *srv) {
    return srv->writers && srv->writers->pending;
}

void sr_writers_handover(sr_server *srv) {
    struct sr_writers *set = srv->writers;
    if (!set || !set->pending || set->stopped) return;
    set->pending = false;
    for (unsigned i = 0; i < set->n; i++) {
        sr_writer *w = &set->w[i];
        if (w->pend.len == 0) continue;
        refs_settle(w); /* before the writer may release them */
        uv_mutex_lock(&w->lock);
        if (w->inbox.len == 0) {
            sr_wcmds t = w->inbox;
            w->inbox = w->pend;
            w->pend = t;
        } else {
            /* the writer has not taken the last batch yet: they merge */
            size_t need = w->inbox.len + w->pend.len;
            if (need > w->inbox.cap) {
                sr_wcmd *v = realloc(w->inbox.v, need * 2 * sizeof(*v));
                if (!v) { /* keep it for the next turn */
                    uv_mutex_unlock(&w->lock);
                    set->pending = true;
                    continue;
                }
                w->inbox.v = v;
                w->inbox.cap = need * 2;
            }
            memcpy(w->inbox.v + w->inbox.len, w->pend.v, w->pend.len * sizeof(*w->pend.v));
            w->inbox.len = need;
        }
        uv_mutex_unlock(&w->lock);
        w->pend.len = 0;
        uv_async_send(&w->wake);
    }
}

/* Waits until the write w may be in the middle of is counted: its bytes
 * may already be with a client that now asks for the counters. One
 * non-blocking sendmsg and its bookkeeping: microseconds, unless the
 * writer thread is preempted there. */
static void settle(sr_writer *w) {
    uint64_t seq = atomic_load_explicit(&w->sending, memory_order_acquire);
    if (!(seq & 1)) return;
    while (atomic_load_explicit(&w->sending, memory_order_acquire) == seq) sched_yield();
}

void sr_writers_add_stats(const sr_server *srv, sr_stats *out) {
    const struct sr_writers *set = srv->writers;
    if (!set) return;
    for (unsigned i = 0; i < set->n; i++) {
        sr_writer *w = &set->w[i];
        settle(w);
        out->bytes_out += atomic_load_explicit(&w->bytes_out, memory_order_relaxed);
        out->heartbeats += atomic_load_explicit(&w->heartbeats, memory_order_relaxed);
        out->slow_disconnects += atomic_load_explicit(&w->slow, memory_order_relaxed);
    }
}

void sr_writers_add_latency(const sr_server *srv, uint64_t *counts, uint64_t *sum_us) {
    const struct sr_writers *set = srv->writers;
    if (!set) return;
    for (unsigned i = 0; i < set->n; i++) {
        sr_writer *w = &set->w[i];
        settle(w);
        for (size_t b = 0; b <= SR_LATENCY_BUCKETS; b++)
            counts[b] += atomic_load_explicit(&w->latency[b], memory_order_relaxed);
        *sum_us += atomic_load_explicit(&w->latency_sum_us, memory_order_relaxed);
    }
}

static void free_cmd_frames(sr_wcmds *a) {
    for (size_t i = 0; i < a->len; i++)
        if ((a->v[i].op_fd & 3) == CMD_FRAME) sr_frame_unref(a->v[i].ptr);
    a->len = 0;
}

int sr_writers_start(sr_server *srv, unsigned n) {
    struct sr_writers *set = calloc(1, sizeof(*set));
    if (!set) return SR_ENOMEM;
    set->srv = srv;
    set->w = calloc(n, sizeof(*set->w));
    if (!set->w || uv_mutex_init(&set->back_lock) != 0) {
        free(set->w);
        free(set);
        return SR_ENOMEM;
    }
    if (sr_server_async_init(srv, &set->back_async, on_back) != 0) {
        uv_mutex_destroy(&set->back_lock);
        free(set->w);
        free(set);
        return SR_EIO;
    }
    uv_unref((uv_handle_t *)&set->back_async);
    set->back_ready = true;
    srv->writers = set;
    for (unsigned i = 0; i < n; i++) {
        sr_writer *w = &set->w[i];
        w->set = set;
        w->ix = (uint16_t)i;
        w->heartbeat_frame = srv->heartbeat_frame;
        w->heartbeat_ms = srv->cfg.heartbeat_ms;
        w->max_queue_bytes = srv->cfg.max_queue_bytes < SR_WRITER_MAX_QUEUE
                                 ? srv->cfg.max_queue_bytes
                                 : SR_WRITER_MAX_QUEUE;
        /* its streams' queues: used by the thread from its start */
        sr_slab_init(&w->qpool, sizeof(sr_sendq));
        if (uv_mutex_init(&w->lock) != 0) return SR_EIO; /* stop() cleans up the rest */
        if (uv_loop_init(&w->loop) != 0) {
            uv_mutex_destroy(&w->lock);
            return SR_EIO;
        }
        uv_async_init(&w->loop, &w->wake, sr_writer_on_wake);
        w->wake.data = w;
        uv_timer_init(&w->loop, &w->wheel_timer);
        w->wheel_timer.data = w;
        if (w->heartbeat_ms) {
            w->tick_ms = w->heartbeat_ms / SR_WHEEL_BUCKETS;
            if (w->tick_ms == 0) w->tick_ms = 1;
            uv_timer_start(&w->wheel_timer, sr_writer_on_wheel_tick, w->tick_ms, w->tick_ms);
        }
        set->n = i + 1;
        if (uv_thread_create(&w->thread, sr_writer_thread_main, w) != 0) {
            uv_close((uv_handle_t *)&w->wake, NULL);
            uv_close((uv_handle_t *)&w->wheel_timer, NULL);
            uv_run(&w->loop, UV_RUN_DEFAULT);
            uv_loop_close(&w->loop);
            uv_mutex_destroy(&w->lock);
            set->n = i;
            return SR_EIO;
        }
        w->thread_started = true;
    }
    return SR_OK;
}

void sr_writers_stop(sr_server *srv) {
    struct sr_writers *set = srv->writers;
    if (!set) return;
    if (!set->stopped) {
        sr_writers_handover(srv);
        for (unsigned i = 0; i < set->n; i++) {
            sr_writer *w = &set->w[i];
            uv_mutex_lock(&w->lock);
            w->stop = true;
            uv_mutex_unlock(&w->lock);
            uv_async_send(&w->wake);
        }
        for (unsigned i = 0; i < set->n; i++) {
            sr_writer *w = &set->w[i];
            if (!w->thread_started) continue;
            uv_thread_join(&w->thread);
            w->thread_started = false;
            uv_loop_close(&w->loop);
        }
        set->stopped = true;
        /* streams the writers held come back now: their sockets close */
        on_back(&set->back_async);
        if (set->back_ready) {
            set->back_ready = false;
            sr_server_close_handle(srv, (uv_handle_t *)&set->back_async);
        }
    }
}

void sr_writers_free(sr_server *srv) {
    struct sr_writers *set = srv->writers;
    if (!set) return;
    sr_writers_stop(srv);
    for (unsigned i = 0; i < set->n; i++) {
        sr_writer *w = &set->w[i];
        refs_settle(w);
        free_cmd_frames(&w->pend);
        free_cmd_frames(&w->inbox);
        free(w->pend.v);
        free(w->inbox.v);
        free(w->work.v);
        free(w->free_slots);
        for (uint32_t k = 0; k < w->n_chunks; k++) free(w->chunks[k]);
        free(w->chunks);
        free(w->dirty);
        free(w->gone.v);
        /* every queue went back as its stream was let go (at the latest
         * at stop): nothing of the pool is in use */
        size_t queues_left = sr_slab_destroy(&w->qpool);
        SR_ASSERT(queues_left == 0);
        (void)queues_left;
        uv_mutex_destroy(&w->lock);
    }
    free(set->back.v);
    free(set->back_work.v);
    uv_mutex_destroy(&set->back_lock);
    free(set->w);
    free(set);
    srv->writers = NULL;
}
