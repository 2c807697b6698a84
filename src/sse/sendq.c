/* SPDX-License-Identifier: MIT */
/*
 * sendq.c: the send queue's ring of shared frame references (see
 * sendq.h): push and grow, the iovec of what is to write, and counting
 * written bytes off the head. The owners (server/sendq.c on the main
 * loop, server/writer.c in a writer thread) decide when to write, what a
 * full queue means (the slow-consumer limit) and how a written frame's
 * reference is released.
 */
#include "sse/sendq.h"

#include <stdlib.h>

void sr_sendq_init(sr_sendq *q) {
    q->ring = q->inline_ring;
    q->cap = (uint32_t)(sizeof(q->inline_ring) / sizeof(q->inline_ring[0]));
    q->head = q->len = q->off = 0;
    q->bytes = 0;
}

void sr_sendq_release(sr_sendq *q) {
    if (q->ring != q->inline_ring) free(q->ring);
    sr_sendq_init(q);
}

static int grow(sr_sendq *q) {
    uint32_t cap = q->cap * 2;
    sr_frame **ring = malloc(cap * sizeof(*ring));
    if (!ring) return -1;
    for (uint32_t i = 0; i < q->len; i++) ring[i] = sr_sendq_at(q, i);
    if (q->ring != q->inline_ring) free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int sr_sendq_push(sr_sendq *q, sr_frame *f) {
    if (q->len == q->cap && grow(q) < 0) return -1;
    q->ring[(q->head + q->len) % q->cap] = f;
    q->len++;
    q->bytes += f->len;
    return 0;
}

/* Takes the head out; the caller has counted its bytes off already. */
static sr_frame *take_head(sr_sendq *q) {
    sr_frame *f = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    q->off = 0;
    return f;
}

sr_frame *sr_sendq_pop(sr_sendq *q) {
    if (q->len == 0) return NULL;
    q->bytes -= q->ring[q->head]->len - q->off;
    return take_head(q);
}

size_t sr_sendq_iov(const sr_sendq *q, struct iovec *iov, size_t max) {
    size_t n = 0;
    for (uint32_t i = 0; i < q->len && n < max; i++) {
        sr_frame *f = sr_sendq_at(q, i);
        if (f->hole) break; /* an answer not known yet: what follows waits */
        uint32_t off = i == 0 ? q->off : 0;
        iov[n].iov_base = f->bytes + off;
        iov[n++].iov_len = f->len - off;
    }
    return n;
}

size_t sr_sendq_head_bytes(const sr_sendq *q, uint32_t n) {
    size_t bytes = 0;
    for (uint32_t i = 0; i < n && i < q->len; i++) bytes += sr_sendq_at(q, i)->len;
    return n > 0 && q->len > 0 ? bytes - q->off : 0;
}

sr_frame *sr_sendq_written(sr_sendq *q, size_t *bytes) {
    if (*bytes == 0 || q->len == 0) return NULL;
    size_t left = q->ring[q->head]->len - q->off;
    if (*bytes < left) {
        q->off += (uint32_t)*bytes;
        q->bytes -= *bytes;
        *bytes = 0;
        return NULL;
    }
    *bytes -= left;
    q->bytes -= left;
    return take_head(q);
}

int sr_sendq_holds(const sr_sendq *q, const sr_frame *f) {
    for (uint32_t i = 0; i < q->len; i++)
        if (sr_sendq_at(q, i) == f) return 1;
    return 0;
}

int sr_sendq_replace(sr_sendq *q, const sr_frame *old, sr_frame *with) {
    for (uint32_t i = 0; i < q->len; i++) {
        uint32_t at = (q->head + i) % q->cap;
        if (q->ring[at] != old) continue;
        q->ring[at] = with;
        /* a hole is never partly written: off is 0 unless it is the head
         * and was written, which a hole cannot be */
        q->bytes = q->bytes - old->len + with->len;
        return 1;
    }
    return 0;
}
