/* SPDX-License-Identifier: MIT */
/*
 * benchtls.h: the benchmark tools' TLS client side (OpenSSL 3), shared by
 * sseload (HTTP/1.1 and HTTP/2 streams over TLS, TLS churn) and ssepub
 * (publishes over TLS). sseload --churn's handshakes use the cheaper
 * benchtls13.h client instead when the server completes one with it.
 *
 * One client SSL_CTX per process: no certificate check (the bench talks to
 * its own loopback servers with a throw-away certificate; no chain is even
 * built), X25519 key shares (P-256 also listed, for TLS 1.2 servers), EC certificate keys decoded
 * by OpenSSL's legacy code rather than 3.0's slow decoders (see benchtls.c; the environment
 * variable BENCHTLS_DECODER=1 keeps 3.0's default, to compare the client's cost per handshake),
 * ALPN set to what the tool speaks, partial writes and moving write buffers allowed (the tools keep
 * growing write buffers), buffers released while idle (10,000 idle client streams), read-ahead on
 * (one read() takes what the socket holds; the tools read until "try again", as edge-triggered
 * epoll wants). Resumption is per connection slot, as each browser resumes its own session: the
 * tool keeps the session a connection ended with (benchtls_session) and offers it on the slot's
 * next connection (TLS 1.3 tickets may be single use, so one shared ticket would mostly fail). The
 * I/O calls map OpenSSL's WANT_READ/WANT_WRITE to "try again" for the tools' edge-triggered epoll
 * loops.
 */
#ifndef BENCH_BENCHTLS_H
#define BENCH_BENCHTLS_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <sys/types.h>

/* A client context offering ALPN protocol alpn ("h2" or "http/1.1");
 * resume 0: ask for no session tickets. NULL with a message on stderr. */
SSL_CTX *benchtls_client_ctx(const char *alpn, int resume);
/* An SSL on the connected (or connecting) socket fd, in client mode, with
 * SNI host, offering session `offer` when not NULL. NULL on error. */
SSL *benchtls_new(SSL_CTX *ctx, int fd, const char *host, SSL_SESSION *offer);
/* The session ssl can be resumed with, replacing (and freeing) old; old
 * when ssl has none. */
SSL_SESSION *benchtls_session(SSL *ssl, SSL_SESSION *old);
/* Drives the handshake: 1 done, 0 wants more I/O, -1 failed. */
int benchtls_handshake(SSL *ssl);
/* 1 when the handshake resumed a session. */
int benchtls_resumed(SSL *ssl);
/* 1 when the server picked ALPN protocol proto. */
int benchtls_alpn_is(SSL *ssl, const char *proto);

#define BENCHTLS_AGAIN (-1) /* nothing now: wait for the socket */
#define BENCHTLS_ERROR (-2) /* the connection is broken */

/* Reads or writes like read()/write(): bytes (> 0), 0 at a clean end
 * (read only), BENCHTLS_AGAIN or BENCHTLS_ERROR. When ssl is NULL they are
 * plain read()/write() on fd with the same return convention. */
ssize_t benchtls_read(SSL *ssl, int fd, void *buf, size_t n);
ssize_t benchtls_write(SSL *ssl, int fd, const void *buf, size_t n);
/* Frees ssl (no close_notify: the bench drops connections hard). */
void benchtls_free(SSL *ssl);

#endif
