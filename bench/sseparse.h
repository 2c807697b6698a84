/* SPDX-License-Identifier: MIT */
/*
 * sseparse.h: a streaming HTTP/1.1 response + Server-Sent Events parser.
 *
 * Bytes arrive in arbitrary pieces (one read() at a time). The parser reads
 * the response head (status, Transfer-Encoding, Content-Length), undoes
 * chunked transfer coding when present, and runs the body through the
 * WHATWG event-stream rules: lines end at CR, LF or CRLF (a CRLF may be
 * split across reads), a leading BOM is skipped, ':' lines are comments,
 * "field: value" with the single space after the colon optional, data lines
 * are joined with LF, an empty line dispatches the event (none when no data
 * line was seen), event/id/retry are kept. In DISCARD mode the body is
 * skipped and, for keep-alive responses with a known length or chunked
 * coding, the parser starts over on the next response head.
 *
 * Buffers are allocated once by ssep_init (line_cap bytes for a line that
 * straddles reads, data_cap bytes for an event's data); longer lines and
 * data are truncated (counted in ->truncated), never reallocated. An event
 * whose data is one line complete in the piece being fed reaches on_event
 * without being copied (the pointer is into that piece).
 */
#ifndef BENCH_SSEPARSE_H
#define BENCH_SSEPARSE_H

#include <stddef.h>
#include <stdint.h>

typedef enum ssep_mode { SSEP_SSE, SSEP_DISCARD } ssep_mode;

typedef struct ssep_callbacks {
    /* the response head is complete */
    void (*on_head)(void *ud, int status);
    /* an event was dispatched; type is "message" when no event field came */
    void (*on_event)(void *ud, const char *type, size_t type_len, const char *data,
                     size_t data_len);
    /* a comment line (":...") */
    void (*on_comment)(void *ud, const char *text, size_t len);
    /* a response body with a known end (Content-Length or chunked) ended */
    void (*on_response_end)(void *ud);
} ssep_callbacks;

typedef struct ssep {
    const ssep_callbacks *cb;
    void *ud;
    ssep_mode mode;
    uint8_t state;
    uint8_t chunked;
    uint8_t saw_status;
    uint8_t sse_cr;     /* the last body byte was a CR: a following LF belongs to it */
    uint8_t bom_seen;   /* BOM bytes matched so far at body start; 3 = done */
    uint8_t data_any;   /* a data field was seen for the pending event */
    uint8_t chunk_flag; /* chunk size: a digit seen; trailer: the line has bytes */
    int status;
    int64_t content_length;
    uint64_t remaining; /* of the current chunk or Content-Length body */
    char *line;
    uint32_t line_len, line_cap;
    char *data;
    uint32_t data_len, data_cap;
    /* the pending event's only data line while it is still in the buffer
     * being fed (sseparse.c), else NULL */
    const char *data_ref;
    uint32_t data_ref_len;
    char type[32];
    uint32_t type_len;
    char last_id[64];
    uint32_t last_id_len;
    uint32_t retry;
    uint64_t truncated; /* lines or data cut at the buffer size */
} ssep;

/* 0, or -1 when out of memory. */
int ssep_init(ssep *p, ssep_mode mode, const ssep_callbacks *cb, void *ud, uint32_t line_cap,
              uint32_t data_cap);
void ssep_free(ssep *p);
/* Back to "expecting a response head" (a new connection on the same slot). */
void ssep_reset(ssep *p);
/* Feeds bytes. 0; 1 when a callback called ssep_stop (the rest of the
 * bytes are ignored); -1 on a malformed head or chunk framing (the parser
 * then refuses further input until ssep_reset). */
int ssep_feed(ssep *p, const char *buf, size_t len);
/* Called from a callback: stop parsing; ssep_feed returns 1 and ignores
 * input until ssep_reset. */
void ssep_stop(ssep *p);
/* 1 once the head is complete (and the body is being read). */
int ssep_in_body(const ssep *p);

#endif
