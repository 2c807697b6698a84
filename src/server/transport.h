/* SPDX-License-Identifier: MIT */
/*
 * transport.h: the seam between a connection's send queue and its socket.
 *
 * A connection's bytes reach the wire through one of three transports:
 * plain TCP, TLS, or an HTTP/2 stream multiplexed on a parent
 * connection. Everything above the seam is the same for all of them: the
 * send queue of shared frame references (sendq.c on the main loop, writer.c
 * on a writer thread), the batching of broadcasts (batch.c) and the writer
 * threads' hand-over (writer_feed.c). Below the seam a transport only
 * turns plaintext into wire bytes and wire bytes into plaintext.
 *
 * Plain TCP is the NULL transport: no object, no indirection; a send is
 * one sendmsg of the queued frames (the frames themselves, not a copy).
 * Any other transport is an sr_transport whose vtable seals plaintext into
 * its own "pending" wire bytes (TLS: records in a memory BIO) and opens
 * received wire bytes into plaintext (TLS: records in, handshake answers
 * out as pending bytes). sr_transport_send is the one write primitive both
 * queue owners call: it drains pending wire bytes first, seals as much of
 * the queued plaintext as the transport takes, and writes what the socket
 * accepts, reporting the plaintext bytes taken (the queue consumes them)
 * and whether the socket is full (the owner waits for writable: a
 * uv_write of the pending bytes on the main loop, a uv_poll in a writer).
 *
 * One owner at a time. The state of a transport (TLS: the SSL object, or
 * once compact its keys and sequence numbers) is touched only by the thread that owns
 * the connection's writes: the main loop while the connection reads
 * requests (the handshake and the HTTP exchange happen there), then, once
 * the connection is an SSE stream handed to a writer thread, that writer.
 * The hand-over is the attach command, which travels under the writer's
 * mutex, so the writer sees every change the main loop made before. From
 * then on the main loop still reads the socket (to notice the peer
 * leaving) but does not open what it reads: only EOF or a reset ends such
 * a stream, as with plain TCP (clients send close_notify and then close
 * the connection). A TLS stream the main loop writes itself (no writer
 * threads) still has its input opened, so a close_notify alone ends it.
 * The main loop frees a transport only after the writer answered "gone"
 * for the stream.
 *
 * An HTTP/2 stream fits the same seam one level up (h2conn.c): its frames
 * are not written to a socket of its own but queued, behind a DATA frame
 * header, in its parent connection's HTTP/2 session, whose output the
 * parent writes through its transport (plain or TLS) with
 * sr_transport_send. With writer threads a whole HTTP/2 connection moves
 * to one of them, as a stream does (its session and transport then under
 * the session's lock, which the main loop takes to read requests: see
 * h2conn.c); its streams stay on the main loop. Because the write
 * path is this one function for every owner, both owners also share one
 * queue type (sr_sendq, sse/sendq.h) without touching any transport.
 */
#ifndef SR_SERVER_TRANSPORT_H
#define SR_SERVER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct sr_transport sr_transport;

/* Receives plaintext opened from wire bytes; returns 0 to go on, -1 when
 * the receiver closed the connection (the transport stops at once). */
typedef int (*sr_transport_deliver)(void *ud, const char *p, size_t len);

typedef struct sr_transport_vt {
    const char *name;
    /* Opens wire bytes; plaintext goes to deliver. Wire bytes to send
     * (handshake, alerts) become pending. 0 on success, 1 when the peer
     * ended the session cleanly (close_notify), -1 on a protocol error
     * (the transport counted and logged nothing: the caller does). */
    int (*input)(sr_transport *t, const char *in, size_t len, sr_transport_deliver deliver,
                 void *ud);
    /* Seals up to the first `n` iovecs of plaintext into pending wire
     * bytes; returns the plaintext bytes taken (0 when it holds enough
     * already), or -1 on failure. */
    ssize_t (*seal)(sr_transport *t, const struct iovec *iov, size_t n);
    /* Wire bytes waiting for the socket (*p is stable until sent()). */
    size_t (*pending)(sr_transport *t, const char **p);
    /* `n` pending bytes went to the socket. */
    void (*sent)(sr_transport *t, size_t n);
    void (*free)(sr_transport *t);
} sr_transport_vt;

struct sr_transport {
    const sr_transport_vt *vt;
};

/* Writes queued plaintext to fd through t (NULL: plain TCP, sendmsg of
 * the iovecs as they are). Returns the plaintext bytes taken, which the
 * caller drops from its queue, or -1 when the socket or the transport
 * failed. *blocked is set when the socket took less than offered: the
 * caller waits for writable before calling again (with t, its pending
 * bytes may be all that is left to write, with nothing queued). */
ssize_t sr_transport_send(sr_transport *t, int fd, const struct iovec *iov, size_t n,
                          bool *blocked);

/* Wire bytes t holds for the socket (0 for plain TCP). */
static inline size_t sr_transport_pending(sr_transport *t, const char **p) {
    return t ? t->vt->pending(t, p) : 0;
}

static inline void sr_transport_free(sr_transport *t) {
    if (t) t->vt->free(t);
}

/* The transport's name for logs, /stats and /metrics ("tcp" for NULL). */
static inline const char *sr_transport_name(const sr_transport *t) {
    return t ? t->vt->name : "tcp";
}

#endif
