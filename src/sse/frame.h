/* SPDX-License-Identifier: MIT */
/*
 * frame.h: SSE frames, encoded once and shared.
 *
 * A broadcast is encoded into one immutable frame with a reference count;
 * every receiving connection queues a pointer to the same frame and
 * releases it once written. The count is atomic so that several loop
 * threads can share one frame. The encoder writes exactly what the Node
 * reference writes (fields id, event, data, retry in that order).
 */
#ifndef SR_SSE_FRAME_H
#define SR_SSE_FRAME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sr_frame {
    atomic_uint refs;
    uint32_t len;
    uint32_t msgs;    /* messages it carries: 1, or more for a batch of one
                         room's broadcasts (server/batch.c) */
    uint16_t hole;    /* 1: the place of an HTTP answer not known yet
                         (server/sendq.c sr_conn_hole); nothing after it is
                         written until it is filled */
    uint16_t answer;  /* 1: the answer to a publish; born_ns is the time its
                         request was read (server/sendq.c times it) */
    uint64_t born_ns; /* uv_hrtime() when a message was encoded (a batch:
                         its first message); 0 for heads, responses and
                         heartbeats (not timed), but see answer */
    char bytes[];
} sr_frame;

/* Bytes needed to encode the message (see sr_sse_encode). */
size_t sr_sse_encoded_len(const char *id, size_t id_len, const char *event, size_t event_len,
                          const char *data, size_t data_len, uint32_t retry);
/* Writes the frame: "id: <id>\n" when id_len > 0, "event: <event>\n" when
 * event_len > 0, one "data: <line>\n" per line of data (lines split at CR,
 * LF or CRLF, so a raw CR can never end a field early), "retry: <n>\n" when
 * retry > 0, then "\n". out must hold sr_sse_encoded_len bytes. Returns
 * bytes written. */
size_t sr_sse_encode(char *out, const char *id, size_t id_len, const char *event, size_t event_len,
                     const char *data, size_t data_len, uint32_t retry);

/* A new frame (refs = 1) holding the encoded message; NULL when out of memory
 * or larger than 4 GiB. */
sr_frame *sr_frame_encode(const char *id, size_t id_len, const char *event, size_t event_len,
                          const char *data, size_t data_len, uint32_t retry);
/* A new frame (refs = 1) holding raw bytes (comments, heartbeats). */
sr_frame *sr_frame_raw(const char *bytes, size_t len);
/* A new frame (refs = 1) holding the bytes of frames[0..n) in order: msgs
 * is their sum, born_ns the first one's. NULL when out of memory or larger
 * than 4 GiB. */
sr_frame *sr_frame_concat(sr_frame *const *frames, size_t n);

static inline void sr_frame_ref(sr_frame *f) {
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}
void sr_frame_unref(sr_frame *f);

/* 1 if s[0..len) contains CR or LF (such ids and event names are refused). */
int sr_sse_has_newline(const char *s, size_t len);

#endif
