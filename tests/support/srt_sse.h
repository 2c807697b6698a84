/* SPDX-License-Identifier: MIT */
/*
 * srt_sse.h: reading Server-Sent Events streams in integration tests.
 *
 * srt_sse_open sends `GET <path>` and checks the response head: status 200,
 * the four stream headers with their exact values, and no Content-Length or
 * Transfer-Encoding (the body is a raw, close-delimited byte stream). Then
 * srt_sse_next returns the next event block as raw bytes, up to and
 * including the blank line that ends it, so tests compare frames byte for
 * byte. srt_fleet opens many idle streams at once (non-blocking connects,
 * several 127.0.0.x source addresses when there are many) to check fan-out
 * and memory.
 */
#ifndef SRT_SSE_H
#define SRT_SSE_H

#include "srt_http.h"

#include <stdbool.h>
#include <stddef.h>

/* srt_sse_next / srt_sse_wait_eof results besides 0 and -ETIMEDOUT */
#define SRT_SSE_EOF 1 /* the server ended the stream */

typedef struct srt_sse {
    srt_conn conn;
    srt_response head; /* the response head (status, headers) */
} srt_sse;

/* Opens a stream. Returns 0 when the server answered 200 with valid stream
 * headers; the HTTP status (> 0, e.g. 400) when it answered something else
 * (the body is then in s->head.body); or a negative errno (-EPROTO when a
 * stream header is missing or wrong, with the reason on stderr). `headers`
 * are extra request headers or NULL; `opts` may be NULL. */
int srt_sse_open_ex(srt_sse *s, int port, const char *path, const char *const *headers,
                    const srt_conn_opts *opts, int timeout_ms);
int srt_sse_open(srt_sse *s, int port, const char *path);
/* Next event block (up to and including "\n\n"), malloc'd and
 * NUL-terminated in *block (length in *len, may be NULL). 0, SRT_SSE_EOF
 * (the stream ended; a partial block stays in s->conn.in), or -ETIMEDOUT. */
int srt_sse_next(srt_sse *s, char **block, size_t *len, int timeout_ms);
/* Like srt_sse_next, skipping comment-only blocks (heartbeats). */
int srt_sse_next_event(srt_sse *s, char **block, size_t *len, int timeout_ms);
/* Reads the next block and compares it byte for byte with `expected`;
 * true when equal (a mismatch or timeout is described on stderr). */
bool srt_sse_expect(srt_sse *s, const char *expected, int timeout_ms);
/* True when no byte and no EOF arrives within ms milliseconds (bytes that
 * did arrive are dumped to stderr and kept). */
bool srt_sse_expect_nothing(srt_sse *s, int ms);
/* Reads until the server closes the stream, counting the complete blocks
 * that arrived on the way (in *blocks, may be NULL). 0 on EOF (c->err tells
 * a reset from a clean close), -ETIMEDOUT otherwise. */
int srt_sse_wait_eof(srt_sse *s, size_t *blocks, int timeout_ms);
void srt_sse_close(srt_sse *s);

/* Many idle streams on one path. */
typedef struct srt_fleet_conn {
    int fd;
    size_t have; /* bytes of the expected block received so far */
    bool ok;     /* all of it received and equal so far */
} srt_fleet_conn;

typedef struct srt_fleet {
    srt_fleet_conn *conns;
    size_t n;
} srt_fleet;

/* Opens n streams on `path`, 128 connects in flight at a time, spreading
 * them over source addresses 127.0.0.1, .2, ... (16,000 per address), and
 * checks each answered 200 with Content-Type: text/event-stream. 0, or -1
 * (after closing them all; the reason on stderr). */
int srt_fleet_open(srt_fleet *f, int port, const char *path, size_t n, int timeout_ms);
/* Reads `expected` (exactly its bytes, nothing more or less is checked
 * here) from every stream; returns how many got exactly those bytes
 * within timeout_ms. */
size_t srt_fleet_expect_all(srt_fleet *f, const char *expected, int timeout_ms);
/* The same from the source addresses 127.0.0.<first_source>, then the
 * next one every per_source streams (first_source >= 1, per_source >= 1). */
int srt_fleet_open_from(srt_fleet *f, int port, const char *path, size_t n, unsigned first_source,
                        size_t per_source, int timeout_ms);
void srt_fleet_close(srt_fleet *f);

#endif
