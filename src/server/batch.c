/* SPDX-License-Identifier: MIT */
/*
 * batch.c: one loop turn's broadcasts to one room, delivered together, and
 * in slices.
 *
 * Under load a room gets many broadcasts per loop turn (a turn that writes
 * to 10,000 streams takes ~100 ms on one core). Delivering each at once
 * costs a queue entry, a frame reference and a visit of every member's
 * connection per message; the writes at the end of the turn then carry one
 * iovec per message. Instead, consecutive broadcasts to the same single
 * room (no except list) are kept here, and at the end of the turn (the
 * server's check handle) or at the first thing that must not overtake
 * them they are concatenated into one frame that each member gets once:
 * one visit, one reference and one iovec per member per turn, whatever the
 * rate. That is what the raw baseline of the benchmark does.
 *
 * Slices. At the end of a turn the pending batch becomes the sweep in
 * progress (srv->batching->sweep), and each turn's check delivers one slice of it,
 * whose writes then go out, before the loop polls again. A slice ends
 * after cfg.sweep_slice_us microseconds, its writes included (the clock is
 * read every SR_SWEEP_CHUNK streams, after writing them), or after
 * cfg.sweep_slice_streams members, whichever comes first (0: no such
 * bound; both 0: the whole room in one turn). So a request read meanwhile (a
 * publish) is answered in its own turn, before the next slice's stream
 * writes (flush.c writes the answers first), instead of after a sweep of
 * the whole room. Broadcasts made while a sweep is in progress gather in
 * the next pending batch, which becomes the next sweep once this one is
 * done: each member gets the sweeps in order.
 *
 * Order and membership stay exactly as if every broadcast had been
 * delivered when it was made, because the batch, and the rest of the
 * sweep in progress, are delivered first ("barrier", sr_batch_barrier)
 * whenever something else could see the difference:
 *  - a broadcast to another room, to several rooms or with an except list,
 *    and a remote message de-duplicated across rooms (fanout_frame);
 *  - anything queued to a stream by other paths: sr_send, replays,
 *    heartbeats (sr_conn_enqueue);
 *  - a membership change: join, leave, a stream closing or ending
 *    (broadcast.c, conn.c, stream.c), so no stream receives a message
 *    published before it joined, or misses one published before it left;
 *    and so the members of a room never change while its sweep is in
 *    progress (the sweep walks them by index);
 *  - a batch past SR_BATCH_MAX_BYTES (then only the sweep in progress is
 *    completed, and the full batch becomes the next sweep), and server
 *    shutdown.
 * Only one room's batch is pending at a time: with several, a stream in two
 * of them could receive their messages in another order than published.
 * A stream whose history replay is in progress (history_resume.c) needs
 * each message's own frame (its id): it gets the frames one by one.
 *
 * The rules are checked (SR_ASSERT, live in Debug builds): no membership
 * change while a batch is pending or a sweep in progress (server.c's room
 * event hook), nothing queued to a stream past a pending batch (sendq.c),
 * no batch delivered inside another fan-out (the barrier comes before
 * it), no broadcast batched and no barrier taken from inside a slice, and
 * a room's member count unchanged between the slices of its sweep.
 */
#include <stdlib.h>

#include "server/internal.h"

/* A bigger batch is delivered at once: it bounds the memory held and the
 * size of the frame every member queues. */
#define SR_BATCH_MAX_BYTES (256 * 1024)

/* Streams delivered and written between two looks at the clock when a
 * slice is bounded in time (cfg.sweep_slice_us). */
#define SR_SWEEP_CHUNK 64

/* Broadcasts to one room waiting for the end of the loop turn (batch.c). */
typedef struct sr_batch {
    sr_room *room;     /* NULL: none pending */
    sr_frame **frames; /* in publish order, a reference each */
    size_t n, cap;
    size_t bytes;
} sr_batch;

/* A batch being delivered, slice by slice (batch.c): the members of room
 * from index next on have not had it yet. */
typedef struct sr_sweep {
    sr_room *room;     /* NULL: no sweep in progress */
    sr_frame **frames; /* the batch's messages, a reference each */
    size_t n, cap;
    sr_frame *all;    /* their concatenation; NULL: one by one */
    uint64_t stamp;   /* the delivery stamp of this sweep */
    uint32_t next;    /* next member index in room->members */
    uint32_t members; /* room->n_members when it began: membership
                         cannot change while a sweep is in progress */
} sr_sweep;

/* The server's batching state (srv->batching). */
struct sr_batching {
    sr_batch batch; /* this turn's broadcasts to one room */
    sr_sweep sweep; /* the batch being delivered in slices */
    bool sweeping;  /* inside a slice: barriers are no-ops there */
};

int sr_batch_new(sr_server *srv) {
    srv->batching = calloc(1, sizeof(*srv->batching));
    return srv->batching ? SR_OK : SR_ENOMEM;
}

/* Both also answer after sr_batch_free (connections closing at the end of
 * sr_server_free): nothing pending then. */
int sr_batch_pending(const sr_server *srv) {
    const struct sr_batching *b = srv->batching;
    return b && (b->batch.room || b->sweep.room);
}

int sr_batch_sweeping(const sr_server *srv) {
    return srv->batching && srv->batching->sweeping;
}

void sr_batch_barrier(sr_server *srv) {
    if (sr_batch_pending(srv) && !srv->batching->sweeping) sr_batch_deliver(srv);
}

static void deliver_batch_member(void *ud, sr_member *m) {
    const sr_sweep *sw = ud;
    sr_conn *c = sr_conn_of_member(m);
    /* a replay in progress needs each message's id; without the
     * concatenation (out of memory) each goes on its own */
    if (!sw->all || (c->hist && (c->hist->resume || c->hist->resume_floor))) {
        for (size_t i = 0; i < sw->n; i++) sr_deliver_to(c, sw->frames[i]);
        return;
    }
    sr_deliver_to(c, sw->all);
}

/* The pending batch becomes the sweep in progress. */
static void begin_sweep(sr_server *srv) {
    SR_ASSERT(!srv->batching->sweep.room && srv->batching->batch.room &&
              srv->batching->batch.n > 0);
    sr_batch b = srv->batching->batch;
    srv->batching->batch = (sr_batch){0};
    srv->batching->sweep = (sr_sweep){.room = b.room,
                                      .frames = b.frames,
                                      .n = b.n,
                                      .cap = b.cap,
                                      .stamp = sr_registry_new_stamp(srv->reg),
                                      .members = b.room->n_members};
    if (b.n == 1) {
        srv->batching->sweep.all = b.frames[0];
        sr_frame_ref(srv->batching->sweep.all);
    } else {
        srv->batching->sweep.all = sr_frame_concat(b.frames, b.n);
    }
    sr_metrics_sweep(srv, SR_SWEEP_BEGUN);
}

static void end_sweep(sr_server *srv) {
    sr_sweep sw = srv->batching->sweep;
    srv->batching->sweep = (sr_sweep){0};
    if (sw.all) sr_frame_unref(sw.all);
    for (size_t i = 0; i < sw.n; i++) sr_frame_unref(sw.frames[i]);
    if (!srv->batching->batch.frames) { /* kept for the next batch */
        srv->batching->batch.frames = sw.frames;
        srv->batching->batch.cap = sw.cap;
    } else {
        free(sw.frames);
    }
}

/* Delivers the sweep to its next `max` members (0: all the rest). */
static void run_slice(sr_server *srv, uint32_t max) {
    sr_sweep *sw = &srv->batching->sweep;
    SR_ASSERT(!srv->batching->sweeping);
    /* every membership change is a barrier: it completed the sweep first */
    SR_ASSERT(sw->room->n_members == sw->members);
    srv->batching->sweeping = true;
    srv->fanout_depth++;
    sr_registry_visit_range(sw->room, &sw->next, max, sw->stamp, deliver_batch_member, sw);
    srv->fanout_depth--;
    srv->batching->sweeping = false;
    SR_ASSERT(srv->fanout_depth >= 0);
    SR_ASSERT(sw->room->n_members == sw->members); /* a slice changes no membership */
    if (sw->next >= sw->members) end_sweep(srv);
}

/* The rest of the sweep in progress, at once. */
static void finish_sweep(sr_server *srv) {
    if (!srv->batching->sweep.room) return;
    sr_metrics_sweep(srv, SR_SWEEP_FORCED);
    run_slice(srv, 0);
    SR_ASSERT(!srv->batching->sweep.room);
}

void sr_batch_deliver(sr_server *srv) {
    SR_ASSERT(!srv->batching->sweeping);
    /* never inside another fan-out: its visit would overwrite the stamps
     * that one de-duplicates with (a barrier comes before a fan-out) */
    SR_ASSERT(srv->fanout_depth == 0);
    finish_sweep(srv);
    if (srv->batching->batch.room) {
        begin_sweep(srv);
        run_slice(srv, 0);
    }
    SR_ASSERT(!sr_batch_pending(srv));
    sr_server_close_doomed(srv);
}

int sr_batch_step(sr_server *srv) {
    SR_ASSERT(!srv->batching->sweeping);
    if (!srv->batching->sweep.room) {
        if (!srv->batching->batch.room) return 0;
        begin_sweep(srv);
    }
    const uint32_t max = srv->cfg.sweep_slice_streams;
    const uint64_t budget_ns = (uint64_t)srv->cfg.sweep_slice_us * 1000;
    if (!budget_ns) {
        run_slice(srv, max);
    } else { /* chunks, each written before the clock is read */
        const uint64_t began = uv_hrtime();
        uint32_t done = 0;
        while (srv->batching->sweep.room) {
            uint32_t n = max && max - done < SR_SWEEP_CHUNK ? max - done : SR_SWEEP_CHUNK;
            run_slice(srv, n);
            done += n;
            if (max && done >= max) break;
            sr_server_flush_dirty(srv);
            if (uv_hrtime() - began >= budget_ns) break;
        }
    }
    sr_metrics_sweep(srv, SR_SWEEP_SLICE);
    sr_server_close_doomed(srv);
    return 1;
}

int sr_batch_add(sr_server *srv, sr_room *room, sr_frame *f) {
    SR_ASSERT(!srv->batching->sweeping); /* a delivery never broadcasts */
    sr_batch *b = &srv->batching->batch;
    if (b->room && b->room != room) {
        sr_batch_deliver(srv);
    } else if (b->room && b->bytes + f->len > SR_BATCH_MAX_BYTES) {
        /* full: the sweep before it is completed, and it becomes the next
         * sweep (sliced at the end of turns); what follows starts anew */
        finish_sweep(srv);
        begin_sweep(srv);
        sr_server_close_doomed(srv);
        /* a close just now was a barrier: it delivered all */
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        sr_frame **v = realloc(b->frames, cap * sizeof(*v));
        if (!v) return SR_ENOMEM;
        b->frames = v;
        b->cap = cap;
    }
    sr_frame_ref(f);
    b->frames[b->n++] = f;
    b->bytes += f->len;
    b->room = room;
    sr_server_want_check(srv);
    return SR_OK;
}

void sr_batch_free(sr_server *srv) {
    if (!srv->batching) return;
    for (size_t i = 0; i < srv->batching->batch.n; i++)
        sr_frame_unref(srv->batching->batch.frames[i]);
    free(srv->batching->batch.frames);
    srv->batching->batch = (sr_batch){0};
    if (srv->batching->sweep.all) sr_frame_unref(srv->batching->sweep.all);
    for (size_t i = 0; i < srv->batching->sweep.n; i++)
        sr_frame_unref(srv->batching->sweep.frames[i]);
    free(srv->batching->sweep.frames);
    free(srv->batching);
    srv->batching = NULL;
}
