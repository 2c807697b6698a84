/* SPDX-License-Identifier: MIT */
/*
 * batch.c: one loop turn's broadcasts to one room, delivered together.
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
 * Order and membership stay exactly as if every broadcast had been
 * delivered when it was made, because the batch is delivered first
 * ("barrier", sr_batch_barrier) whenever something else could see the
 * difference:
 *  - a broadcast to another room, to several rooms or with an except list,
 *    and a remote message de-duplicated across rooms (fanout_frame);
 *  - anything queued to a stream by other paths: sr_send, replays,
 *    heartbeats (sr_conn_enqueue);
 *  - a membership change: join, leave, a stream closing or ending
 *    (broadcast.c, conn.c, stream.c), so no stream receives a message
 *    published before it joined, or misses one published before it left;
 *  - a batch past SR_BATCH_MAX_BYTES, and server shutdown.
 * Only one room's batch is pending at a time: with several, a stream in two
 * of them could receive their messages in another order than published.
 * A stream whose history replay is in progress (history_resume.c) needs
 * each message's own frame (its id): it gets the frames one by one.
 */
#include <stdlib.h>

#include "server/internal.h"

/* A bigger batch is delivered at once: it bounds the memory held and the
 * size of the frame every member queues. */
#define SR_BATCH_MAX_BYTES (256 * 1024)

typedef struct batch_ctx {
    sr_frame *const *frames; /* the messages, one by one */
    size_t n;
    sr_frame *all;           /* their concatenation (frames[0] when n == 1) */
} batch_ctx;

static void deliver_batch_member(void *ud, sr_member *m) {
    batch_ctx *bx = ud;
    sr_conn *c = sr_conn_of_member(m);
    if (c->resume || c->resume_floor) { /* each message's id matters there */
        for (size_t i = 0; i < bx->n; i++) sr_deliver_to(c, bx->frames[i]);
        return;
    }
    sr_deliver_to(c, bx->all);
}

void sr_batch_deliver(sr_server *srv) {
    sr_batch b = srv->batch;
    if (!b.room) return;
    /* taken off first: what the delivery queues must not come back here,
     * and a batch started meanwhile gets an array of its own */
    srv->batch = (sr_batch){0};
    batch_ctx bx = {.frames = b.frames, .n = b.n, .all = NULL};
    if (b.n == 1) {
        bx.all = b.frames[0];
        sr_frame_ref(bx.all);
    } else {
        bx.all = sr_frame_concat(b.frames, b.n);
    }
    srv->fanout_depth++;
    if (bx.all) {
        sr_registry_visit(&b.room, 1, NULL, 0, sr_registry_new_stamp(srv->reg), deliver_batch_member,
                          &bx);
    } else { /* out of memory for the concatenation: one by one */
        for (size_t i = 0; i < b.n; i++) {
            batch_ctx one = {.frames = &b.frames[i], .n = 1, .all = b.frames[i]};
            sr_registry_visit(&b.room, 1, NULL, 0, sr_registry_new_stamp(srv->reg),
                              deliver_batch_member, &one);
        }
    }
    srv->fanout_depth--;
    sr_frame_unref(bx.all);
    for (size_t i = 0; i < b.n; i++) sr_frame_unref(b.frames[i]);
    if (!srv->batch.frames) { /* kept for the next batch */
        srv->batch.frames = b.frames;
        srv->batch.cap = b.cap;
    } else {
        free(b.frames);
    }
    sr_server_close_doomed(srv);
}

int sr_batch_add(sr_server *srv, sr_room *room, sr_frame *f) {
    sr_batch *b = &srv->batch;
    if (b->room && (b->room != room || b->bytes + f->len > SR_BATCH_MAX_BYTES)) sr_batch_deliver(srv);
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
    for (size_t i = 0; i < srv->batch.n; i++) sr_frame_unref(srv->batch.frames[i]);
    free(srv->batch.frames);
    srv->batch = (sr_batch){0};
}
