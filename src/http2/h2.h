/* SPDX-License-Identifier: MIT */
/*
 * h2.h: one HTTP/2 server connection, over libnghttp2, with memory I/O.
 *
 * Pure code, like http/request.h: bytes read from the peer go in
 * (sr_h2_recv), the bytes to send come out as a list of segments
 * (sr_h2_out_peek / sr_h2_out_consumed), and what happens on the streams
 * is told through callbacks (a complete request, a closed stream). No
 * socket, no loop: the caller owns the I/O, so plain TCP, TLS and the tests
 * drive it alike. HPACK and framing are nghttp2's; nothing here parses
 * frames by hand.
 *
 * Shared payloads: a stream's response body is a queue of references to
 * sr_frame (the same reference-counted frames the HTTP/1.1 send queue
 * holds). nghttp2 is asked for DATA frames with NGHTTP2_DATA_FLAG_NO_COPY,
 * and its send_data_callback emits each one as the 9-byte frame header,
 * copied into a small arena shared by all control output, followed by
 * segments that point into the shared frames themselves. So a broadcast to
 * N streams is N frame headers plus N references to one payload: no copy
 * of the payload per recipient.
 *
 * Bounds: the output produced and not yet taken by the caller stops
 * growing at max_out_bytes (nghttp2 is told WOULDBLOCK and resumes on the
 * next peek); a stream whose flow-control window (or its connection's, or
 * the socket) stays shut keeps its data queued, and a send past
 * max_queue_bytes is refused with SR_EQUEUE: the caller treats it as a
 * slow consumer, exactly as for HTTP/1.1. SETTINGS_MAX_CONCURRENT_STREAMS
 * is max_streams. A request's header block and body are bounded; past the
 * bound the request is still delivered, with error_status 431 or 413, so
 * the caller answers it. A protocol violation of the peer is counted;
 * nghttp2 answers it with RST_STREAM (stream errors) or GOAWAY (connection
 * errors, after which sr_h2_recv returns -1 and the caller closes once the
 * output is written).
 */
#ifndef SR_HTTP2_H2_H
#define SR_HTTP2_H2_H

#include <stddef.h>
#include <stdint.h>

#include "sse/frame.h"

typedef struct sr_h2 sr_h2;
typedef struct sr_h2_stream sr_h2_stream; /* one stream of a session (sr_h2_stream_of) */

typedef struct sr_h2_kv {
    const char *name; /* lower case, NUL-terminated */
    size_t name_len;
    const char *value; /* NUL-terminated */
    size_t value_len;
} sr_h2_kv;

/* A complete request, valid during the on_request callback only. */
typedef struct sr_h2_request {
    int32_t stream_id;
    int error_status;   /* 0, or 431 (header block too big), 413 (body too big) */
    const char *method; /* the pseudo-header fields, "" when absent */
    const char *scheme;
    const char *authority;
    const char *path;
    const sr_h2_kv *headers; /* the regular fields, in order */
    size_t n_headers;
    const char *body;
    size_t body_len;
} sr_h2_request;

typedef struct sr_h2_callbacks {
    /* A request whose END_STREAM arrived. The callee may answer at once
     * (sr_h2_respond and friends may be called from here). */
    void (*on_request)(void *ud, const sr_h2_request *req);
    /* A stream the peer opened is closed: its response ended, either side
     * reset it, or the connection ended. stream_ud is what
     * sr_h2_set_stream_ud stored (NULL if nothing). error is the HTTP/2
     * error code (0: NO_ERROR). Not called from sr_h2_free. */
    void (*on_stream_close)(void *ud, int32_t stream_id, void *stream_ud, uint32_t error);
    /* The last byte of a queued frame (one stream's copy of it) was
     * consumed from the output (sr_h2_out_consumed): for delivery
     * latency. May be NULL. */
    void (*on_frame_written)(void *ud, const sr_frame *f);
} sr_h2_callbacks;

typedef struct sr_h2_config {
    uint32_t max_streams;    /* SETTINGS_MAX_CONCURRENT_STREAMS */
    size_t max_header_bytes; /* a request's header names and values */
    size_t max_body_bytes;   /* a request's body */
    size_t max_queue_bytes;  /* a stream's response bytes waiting to be framed */
    size_t max_out_bytes;    /* output produced, not yet taken by the caller */
} sr_h2_config;

/* A piece of output: len bytes at frame->bytes + off. The frame stays
 * referenced by the layer until the bytes are consumed. */
typedef struct sr_h2_seg {
    sr_frame *frame;
    uint32_t off, len;
} sr_h2_seg;

typedef struct sr_h2_stats {
    uint64_t violations;   /* protocol errors of the peer (stream or connection) */
    uint64_t slow_streams; /* sends refused with SR_EQUEUE */
    uint64_t requests;     /* complete requests delivered */
} sr_h2_stats;

/* A server session; its SETTINGS are the first output. NULL when out of
 * memory. */
sr_h2 *sr_h2_new(const sr_h2_config *cfg, const sr_h2_callbacks *cb, void *ud);
/* Frees everything, dropping the references to queued frames; no callback
 * is called. */
void sr_h2_free(sr_h2 *h);

/* Feeds bytes read from the peer (the client preface first). 0, or -1 when
 * the connection is over (a protocol violation of the peer, answered with
 * GOAWAY, or out of memory): write the output that is left, then close. */
int sr_h2_recv(sr_h2 *h, const uint8_t *data, size_t len);

/* Produces what is due and fills segs[0..max) with the output waiting to
 * be written, in order; returns the number of segments. */
size_t sr_h2_out_peek(sr_h2 *h, sr_h2_seg *segs, size_t max);
/* Bytes of output waiting (after the last peek). */
size_t sr_h2_out_bytes(const sr_h2 *h);
/* The caller wrote `bytes` from the head of the output. */
void sr_h2_out_consumed(sr_h2 *h, size_t bytes);
/* 1 when the session has nothing more to say or hear (after a GOAWAY both
 * ways or a connection error) and its output is all taken: close. */
int sr_h2_want_close(const sr_h2 *h);

/* Answers a stream: status and fields (names lower case; connection-
 * specific fields are dropped, RFC 9113 §8.2.2). more = 0 ends the stream
 * with the HEADERS frame; otherwise the body follows with sr_h2_send and
 * sr_h2_end. 0, SR_ESTATE (no such stream, or already answered), SR_ENOMEM. */
int sr_h2_respond(sr_h2 *h, int32_t stream_id, int status, const sr_h2_kv *fields, size_t n,
                  int more);
/* The same from an HTTP/1.1 response head ("HTTP/1.1 200 OK\r\nName:
 * value\r\n...\r\n\r\n", len bytes, the blank line included). SR_EINVAL
 * when it is not one. */
int sr_h2_respond_http1(sr_h2 *h, int32_t stream_id, const char *head, size_t len, int more);
/* Queues the bytes of f (a new reference; it stays shared) on an answered
 * stream. 0, SR_ESTATE (no such stream, not answered, ended, or reset by
 * sr_h2_reset), SR_EQUEUE
 * (its queue would pass max_queue_bytes: a slow consumer; not queued). */
int sr_h2_send(sr_h2 *h, int32_t stream_id, sr_frame *f);
/* An open stream's handle, for the calls a long response makes per event:
 * sr_h2_send_on skips sr_h2_send's lookup of the stream by id (a hash
 * lookup in nghttp2 and a cache miss per recipient of a broadcast). NULL
 * when there is no such open stream. The handle stays valid until the
 * stream's on_stream_close (or sr_h2_free); the caller forgets it then. */
sr_h2_stream *sr_h2_stream_of(sr_h2 *h, int32_t stream_id);
/* sr_h2_send on a stream's handle (NULL: SR_ESTATE). */
int sr_h2_send_on(sr_h2 *h, sr_h2_stream *st, sr_frame *f);
/* Ends an answered stream after its queued bytes (END_STREAM). */
int sr_h2_end(sr_h2 *h, int32_t stream_id);
/* Resets a stream (RST_STREAM with error). */
int sr_h2_reset(sr_h2 *h, int32_t stream_id, uint32_t error);
/* Bytes queued on a stream and not framed yet; 0 for no such stream. */
size_t sr_h2_queued(const sr_h2 *h, int32_t stream_id);
/* The caller's pointer of an open stream (NULL: none, or no such stream). */
void *sr_h2_stream_ud(const sr_h2 *h, int32_t stream_id);
/* Attaches the caller's pointer to an open stream (see on_stream_close). */
int sr_h2_set_stream_ud(sr_h2 *h, int32_t stream_id, void *stream_ud);
/* GOAWAY (NO_ERROR) naming the last stream processed: no new streams;
 * those open go on until they end. */
void sr_h2_goaway(sr_h2 *h);

const sr_h2_stats *sr_h2_stats_of(const sr_h2 *h);
/* The error text of the last -1 from sr_h2_recv ("" if none). */
const char *sr_h2_error(const sr_h2 *h);

/* 1 when name (lower case, len bytes) is connection-specific and must not
 * appear in an HTTP/2 message (RFC 9113 §8.2.2). */
int sr_h2_connection_specific(const char *name, size_t len);

#endif
