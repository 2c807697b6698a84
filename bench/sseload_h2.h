/* SPDX-License-Identifier: MIT */
/*
 * sseload_h2.h: one HTTP/2 client connection of sseload, carrying many
 * EventSource streams (libnghttp2's client session with memory I/O).
 *
 * sseload.c opens the socket and does the TLS handshake (ALPN h2), or none
 * for cleartext HTTP/2 with prior knowledge; from then on this module owns
 * the bytes: sseload_h2_io() reads what the socket has, feeds it to the
 * session and writes what the session has to say (SETTINGS, WINDOW_UPDATE,
 * requests), keeping what the socket does not take for the next EPOLLOUT.
 * Flow control: each stream's window is 1 MiB and the connection's 16 MiB,
 * and nghttp2 sends WINDOW_UPDATE as data is consumed (its automatic
 * window updates), so a slow reader shows up as a shut window at the
 * server, as it would with a browser. Each stream's events reach sseload
 * through the hooks with the stream's user pointer.
 */
#ifndef BENCH_SSELOAD_H2_H
#define BENCH_SSELOAD_H2_H

#include <stddef.h>
#include <stdint.h>

#include "benchtls.h"

typedef struct sseload_h2 sseload_h2;

typedef struct sseload_h2_hooks {
    /* bytes were read from the socket; the frames in them follow (the
     * caller reads its clock here, once per read rather than per frame) */
    void (*on_read)(void);
    /* the response head of a stream arrived (":status") */
    void (*on_status)(void *stream, int status);
    /* body bytes of a stream */
    void (*on_data)(void *stream, const uint8_t *data, size_t len);
    /* the stream ended (END_STREAM or RST_STREAM) */
    void (*on_close)(void *stream);
} sseload_h2_hooks;

/* A session on an established connection (ssl NULL: cleartext, prior
 * knowledge). NULL when out of memory. */
sseload_h2 *sseload_h2_new(int fd, SSL *ssl, const sseload_h2_hooks *hooks);
/* Submits GET path (with :scheme, :authority, Accept: text/event-stream)
 * as a new stream whose hooks get `stream`. 0 or -1. */
int sseload_h2_get(sseload_h2 *h, const char *scheme, const char *authority, const char *path,
                   void *stream);
/* Reads and writes what is due. 0, or -1 when the connection is broken or
 * the session ended (GOAWAY and nothing left, protocol error, EOF). */
int sseload_h2_io(sseload_h2 *h);
/* Frees the session (no callbacks); the caller closes the socket. */
void sseload_h2_free(sseload_h2 *h);

#endif
