/* SPDX-License-Identifier: MIT */
/*
 * tls.h: the TLS engine: OpenSSL 3 sessions over memory, no sockets.
 *
 * A session is fed the wire bytes its connection read (sr_tls_input) and
 * gives back plaintext through a callback; what it must send (handshake,
 * tickets, alerts, records sealed from plaintext by sr_tls_seal) collects
 * in its own output buffer, which the caller writes to the socket and then
 * acknowledges (sr_tls_pending / sr_tls_sent). The read side is a memory
 * BIO; the write side a small BIO of ours that appends to that output
 * buffer, so sealed records are written from where OpenSSL put them, with
 * no copy, and the session gives the buffer up whenever it drains (to be
 * its thread's spare for the next session's flush, tls.c; an idle stream
 * holds none; SSL_MODE_RELEASE_BUFFERS frees OpenSSL's own).
 *
 * A TLS 1.3 server session drops its SSL object (about 14.5 KB) once the
 * handshake is over and seals and opens its records itself with the
 * application traffic keys (tls.c, "the compact record layer"), with no
 * cipher context of its own (each thread keys one per seal: compact.c),
 * so an idle stream over TLS holds about 400 bytes of TLS state (this
 * session, its keys, the server's transport). TLS 1.2 sessions and client
 * sessions stay on OpenSSL throughout.
 *
 * Why memory and not SSL on the fd: the main loop reads every socket with
 * libuv and a writer thread writes a stream's socket; a session that does
 * no I/O of its own can move from the main loop (handshake, HTTP) to the
 * writer (stream) with its connection (server/transport.h), and is unit
 * tested by pumping bytes between a client and a server session in
 * memory. The cost: kernel TLS, which OpenSSL drives only through a
 * socket BIO, is not used; sr_tls_ktls_probe says whether the kernel would
 * offer it, and the server reports the path it uses.
 *
 * A context (sr_tls_ctx) is one SSL_CTX: a server's certificate, key,
 * minimum version, ALPN and session tickets, or a client's CA, server-name
 * check and optional client certificate. Contexts are reference counted:
 * a reload makes a new one for new sessions while open sessions keep
 * theirs. Everything here is thread-compatible: one session is used by
 * one thread at a time.
 */
#ifndef SR_TLS_TLS_H
#define SR_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct sr_tls_ctx sr_tls_ctx;
typedef struct sr_tls sr_tls;

typedef struct sr_tls_server_opts {
    const char *cert_file;             /* PEM, the full chain */
    const char *key_file;              /* PEM */
    const char *min_version;           /* "1.2" (NULL) or "1.3" */
    bool offer_h2;                     /* ALPN: "h2" before "http/1.1" */
    const sr_tls_ctx *keep_tickets_of; /* a reload: resume its tickets */
} sr_tls_server_opts;

typedef struct sr_tls_client_opts {
    const char *ca_file;   /* NULL: the system's trust store */
    const char *cert_file; /* optional client certificate (PEM) */
    const char *key_file;
    const char *server_name; /* SNI and the name the certificate must have */
    const char *alpn;        /* optional, wire format ("\x08http/1.1") */
} sr_tls_client_opts;

/* Why a handshake failed (counted by the server). */
typedef enum sr_tls_fail {
    SR_TLS_FAIL_PROTOCOL = 0, /* not TLS, or a malformed message */
    SR_TLS_FAIL_VERSION,      /* no version in common (below --tls-min-version) */
    SR_TLS_FAIL_CERT,         /* the peer's certificate was refused */
    SR_TLS_FAIL_TIMEOUT,      /* not done within the request timeout */
    SR_TLS_FAIL_EOF,          /* the peer left during the handshake */
    SR_TLS_FAIL_COUNT
} sr_tls_fail;

extern const char *const sr_tls_fail_names[SR_TLS_FAIL_COUNT];

/* Makes a context; NULL with a one-line reason in err. */
sr_tls_ctx *sr_tls_server_ctx(const sr_tls_server_opts *o, char *err, size_t errlen);
sr_tls_ctx *sr_tls_client_ctx(const sr_tls_client_opts *o, char *err, size_t errlen);
void sr_tls_ctx_ref(sr_tls_ctx *ctx);
void sr_tls_ctx_unref(sr_tls_ctx *ctx);

/* A session of ctx (the server or client side, as ctx was made). NULL when
 * out of memory. A client session then starts with sr_tls_start (after
 * sr_tls_set_session, to resume). */
sr_tls *sr_tls_new(sr_tls_ctx *ctx);
/* Clients: the server name sent (SNI) and checked in its certificate (an
 * IP address literal is checked as one), instead of the context's. 0, -1. */
int sr_tls_set_server_name(sr_tls *t, const char *name);
/* Clients: makes the ClientHello (pending). 0, or -1. */
int sr_tls_start(sr_tls *t);
void sr_tls_free(sr_tls *t);

/* Receives opened plaintext; nonzero stops sr_tls_input. */
typedef int (*sr_tls_deliver)(void *ud, const char *p, size_t len);

/* Feeds wire bytes. 0: fine (plaintext delivered, replies pending);
 * 1: the peer closed the session (close_notify); -1: failed (see
 * sr_tls_failure; a fatal alert for the peer may be pending). */
int sr_tls_input(sr_tls *t, const char *in, size_t len, sr_tls_deliver deliver, void *ud);
/* Seals plaintext into records; returns the bytes taken (at most a bound
 * per call, so the output stays small), or -1. Before the handshake is
 * done it takes nothing (0). */
ssize_t sr_tls_seal(sr_tls *t, const struct iovec *iov, size_t n);
/* Bytes to write to the socket, and how many of them went. */
size_t sr_tls_pending(const sr_tls *t, const char **p);
void sr_tls_sent(sr_tls *t, size_t n);
/* Bytes allocated for those wire bytes (0 while it holds none): a whole
 * sealing stays under malloc's mmap threshold (sr_tls_out_reserve). */
size_t sr_tls_out_capacity(const sr_tls *t);
/* Queues a close_notify. */
void sr_tls_close(sr_tls *t);

bool sr_tls_handshake_done(const sr_tls *t);
/* Whether a server session dropped its SSL object after a TLS 1.3
 * handshake and seals and opens records itself (tls.c: the compact record
 * layer, about 400 bytes per session instead of about 15 KB). */
bool sr_tls_compact(const sr_tls *t);
bool sr_tls_resumed(const sr_tls *t);
/* The negotiated ALPN protocol ("" when none) and version ("TLSv1.3"). */
const char *sr_tls_alpn(const sr_tls *t);
const char *sr_tls_version(const sr_tls *t);
/* Why it failed, and OpenSSL's words for it. */
sr_tls_fail sr_tls_failure(const sr_tls *t);
const char *sr_tls_error(const sr_tls *t);

/* Client sessions: a session to resume (from sr_tls_get_session of an
 * earlier one), opaque. */
void *sr_tls_get_session(const sr_tls *t);
int sr_tls_set_session(sr_tls *t, void *session);
void sr_tls_session_free(void *session);

/* Whether the kernel offers TLS offload (the "tls" TCP ULP): 1 yes, 0 no. */
int sr_tls_ktls_probe(void);

#endif
