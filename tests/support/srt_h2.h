/* SPDX-License-Identifier: MIT */
/*
 * srt_h2.h: a small blocking HTTP/2 client for integration tests.
 *
 * nghttp2's client session over one srt_conn (cleartext, prior knowledge:
 * the server runs with --h2c). Requests open streams (up to SRT_H2_MAX
 * per client); srt_h2_pump sends what the session has and reads what
 * arrives for up to a timeout, feeding the session, and the per-stream
 * status, fields and data collect in st[]. Waits are polls with deadlines,
 * so a misbehaving server fails a test instead of hanging it. With a
 * window given at open the client sends no WINDOW_UPDATE (a reader that
 * stopped reading, for slow-consumer tests).
 */
#ifndef SRT_H2_H
#define SRT_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "srt_http.h"
#include "srt_util.h"

#define SRT_H2_MAX 64

typedef struct srt_h2_stream {
    int32_t sid;
    int status;     /* :status, 0 until the HEADERS came */
    srt_buf fields; /* "name: value\n" per response field */
    srt_buf data;   /* the DATA bytes */
    bool closed;
    uint32_t error; /* its RST_STREAM / close error code */
    srt_buf body;   /* the request body still to send from body_off */
    size_t body_off;
} srt_h2_stream;

typedef struct srt_h2 {
    srt_conn conn;
    void *session; /* nghttp2_session */
    srt_h2_stream st[SRT_H2_MAX];
    int n;
    bool goaway;
    uint32_t goaway_error;
    int32_t goaway_last;
} srt_h2;

/* Connects and sends the preface and SETTINGS (window: the initial stream
 * window, 0 for the default; non-zero also stops WINDOW_UPDATEs). 0 or -1. */
int srt_h2_open(srt_h2 *h, int port, uint32_t window);
/* The same from a local address of its own (src_ip, e.g. "127.0.0.2";
 * NULL: any), so that per-address limits see another client. */
int srt_h2_open_from(srt_h2 *h, int port, uint32_t window, const char *src_ip);
/* Opens a stream: GET path (body NULL) or POST path with a JSON body.
 * Extra headers as "name", "value" pairs, NULL-terminated (may be NULL).
 * The index into st[], or -1. */
int srt_h2_request(srt_h2 *h, const char *method, const char *path, const char *body,
                   const char *const *headers);
/* Writes what the session has to say, then reads for up to timeout_ms
 * (returning early once something was read). 0, or -1 when the server
 * closed the connection (h->conn.eof) or the session failed. */
int srt_h2_pump(srt_h2 *h, int timeout_ms);
/* Pumps until st[i].data holds `text` (true) or the timeout passes. */
bool srt_h2_wait_data(srt_h2 *h, int i, const char *text, int timeout_ms);
/* Pumps until st[i] has its status (true) or the timeout passes. */
bool srt_h2_wait_status(srt_h2 *h, int i, int timeout_ms);
/* Pumps until st[i] is closed (true) or the timeout passes. */
bool srt_h2_wait_closed(srt_h2 *h, int i, int timeout_ms);
/* Pumps until the server closed the connection (true) or the timeout. */
bool srt_h2_wait_eof(srt_h2 *h, int timeout_ms);
/* Resets stream i (RST_STREAM CANCEL) and sends it. */
void srt_h2_reset(srt_h2 *h, int i);
/* Bytes consumed by the application on stream i, so the window reopens
 * (with a window given at open). */
void srt_h2_consume(srt_h2 *h, int i, size_t n);
void srt_h2_close(srt_h2 *h);

#endif
