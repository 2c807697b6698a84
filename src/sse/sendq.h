/* SPDX-License-Identifier: MIT */
/*
 * sendq.h: the send queue, the one queue of frames to write to a client,
 * used by both owners of a stream's writes: the main loop
 * (server/sendq.c, a connection's queue) and the writer threads
 * (server/writer.c, each stream handed to one).
 *
 * A ring of references to shared frames (frame.h): a fan-out queues the
 * same frame for every recipient, so queueing copies a pointer, never the
 * bytes. The ring starts inline (two frames, what a stream mostly holds
 * between writes) and doubles on the heap past that; `off` bytes of the
 * first frame are already written, `bytes` counts what is still to write.
 * The queue does not touch reference counts: a frame pushed moves its
 * reference in, and the same reference comes back out when the frame is
 * popped or fully written (sr_sendq_written), so each owner releases it
 * its own way (the main loop at once, a writer in runs).
 *
 * A hole (sr_frame.hole) is the place of an answer not known yet:
 * sr_sendq_iov stops before it, so nothing after it is written until
 * sr_sendq_replace puts the answer there.
 *
 * Pure code, no locking: a queue belongs to the one thread that writes
 * its stream. Where the sr_sendq itself lives (a block of a slab pool
 * made at the first frame, given back once empty, so that an idle stream
 * holds none) is the owner's business.
 */
#ifndef SR_SSE_SENDQ_H
#define SR_SSE_SENDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "sse/frame.h"

typedef struct sr_sendq {
    sr_frame **ring; /* inline_ring, or the heap past two frames */
    uint32_t head, len, cap, off;
    size_t bytes; /* still to write: the frames' lengths less off */
    sr_frame *inline_ring[2];
} sr_sendq;

/* An empty queue on its inline ring (q may be uninitialised). */
void sr_sendq_init(sr_sendq *q);
/* Frees the heap ring, if any. The queue must be empty (its frames popped
 * and released by the owner); it is an empty queue again afterwards. */
void sr_sendq_release(sr_sendq *q);

/* Appends f; its reference moves into the queue. 0, or -1 when out of
 * memory (nothing queued: the caller still holds the reference). */
int sr_sendq_push(sr_sendq *q, sr_frame *f);
/* Takes the first frame out (its reference with it), NULL when empty.
 * Bytes already written of it are dropped from the count too. */
sr_frame *sr_sendq_pop(sr_sendq *q);

/* The i-th frame from the head (i < q->len). */
static inline sr_frame *sr_sendq_at(const sr_sendq *q, uint32_t i) {
    return q->ring[(q->head + i) % q->cap];
}

/* Fills iov with what is to write, from the head: up to max entries,
 * stopping before the first hole. Returns the entries filled. */
size_t sr_sendq_iov(const sr_sendq *q, struct iovec *iov, size_t max);
/* Bytes still to write of the first n frames (what an iov of n carried). */
size_t sr_sendq_head_bytes(const sr_sendq *q, uint32_t n);

/* Counts *bytes written from the head. Returns the first frame when they
 * complete it (taken out, its reference with it, *bytes less its rest),
 * else NULL (a partial write is kept as off, *bytes = 0). Called until
 * NULL, it hands out every frame a write completed:
 *     while ((f = sr_sendq_written(q, &n))) { time f; release f; }  */
sr_frame *sr_sendq_written(sr_sendq *q, size_t *bytes);

/* 1 when f is queued, else 0. */
int sr_sendq_holds(const sr_sendq *q, const sr_frame *f);
/* Puts `with` in place of `old` (a hole), its reference moving in; the
 * count grows by the difference of lengths. Returns 1, or 0 when old is
 * not queued (nothing changed: the caller keeps both references). The
 * replaced reference is the caller's to release. */
int sr_sendq_replace(sr_sendq *q, const sr_frame *old, sr_frame *with);

#endif
