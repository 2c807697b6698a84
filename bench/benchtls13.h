/* SPDX-License-Identifier: MIT */
/*
 * benchtls13.h: a minimal TLS 1.3 client for the bench's HTTP/1.1 over TLS
 * (sseload over https, issue #12): the handshake-rate bench (--churn) and
 * S1-TLS's streams.
 *
 * OpenSSL 3.0's client spent ~350-550 us of CPU per full handshake cycle
 * against sserooms, of which the crypto is ~110 us, so the load generator
 * rather than the server was the limit. This client does the handshakes the
 * bench needs and nothing else: TLS_AES_128_GCM_SHA256, an X25519 key
 * share, an ecdsa_secp256r1_sha256 server signature, resumption with a
 * ticket (psk_dhe_ke: still an X25519 exchange), no client certificate, no
 * early data, no HelloRetryRequest, no KeyUpdate. Everything a client must
 * check is checked: the ServerHello's version, suite, key share and PSK
 * choice, the CertificateVerify signature with the certificate's key, and
 * the server Finished; the PSK binder is computed as RFC 8446 §4.2.11.2 says
 * (the server checks it). The crypto is OpenSSL's (X25519 via EVP, AES-GCM via EVP, SHA-256
 * and ECDSA through the low-level calls that skip 3.0's provider fetches);
 * only the message framing and the key schedule (RFC 8446 §7) are here. The
 * certificate chain is not checked (as benchtls.c: the bench's own
 * throw-away certificate); its key is decoded once and reused while the
 * server sends the same certificate bytes.
 *
 * Streams: with OpenSSL 3.0's SSL_read (its record layer, a copy out of
 * its buffer) the load generator used 91-94% of its core at S1-TLS
 * 200 msg/s, and 81-85% with this client (3 runs each, the same server
 * and deliveries), so it stays ahead of the server. Here a connection opens its
 * application records with its own cipher context, keyed once; a streams
 * context's read buffer takes a server's whole write of several records
 * with one read(); and btls13_read_in_place hands each record's data where
 * it was decrypted.
 *
 * A server that answers otherwise (TLS 1.2, another group or suite, a
 * HelloRetryRequest) fails the handshake: sseload tries one handshake with
 * this client first and keeps the OpenSSL client when it fails.
 * Single-threaded: a context and its connections belong to one thread.
 */
#ifndef BENCH_BENCHTLS13_H
#define BENCH_BENCHTLS13_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct btls13_ctx btls13_ctx;
typedef struct btls13 btls13;
typedef struct btls13_session btls13_session; /* a ticket and its PSK */

/* A context offering ALPN protocol alpn (NULL: none). NULL on error. */
btls13_ctx *btls13_ctx_new(const char *alpn);
void btls13_ctx_free(btls13_ctx *ctx);
/* Connections made from here on are for long streams: a read buffer of
 * several records (one read() takes a server's whole write), touched when
 * the connection is made. The default holds one record (churn). */
void btls13_ctx_for_streams(btls13_ctx *ctx);
/* A client on the connected (or connecting) nonblocking socket fd, with SNI
 * host when it is a name, offering session `offer` when not NULL (PSK with
 * (EC)DHE, psk_dhe_ke). The fd stays the caller's. NULL on error. */
btls13 *btls13_new(btls13_ctx *ctx, int fd, const char *host, const btls13_session *offer);
/* 1 when the server took the offered session. */
int btls13_resumed(const btls13 *t);
/* The newest session ticket t received, replacing (and freeing) old; old
 * when t got none. */
btls13_session *btls13_session_take(btls13 *t, btls13_session *old);
void btls13_session_free(btls13_session *s);
/* Drives the handshake: 1 done (the client Finished may still sit in the
 * output, sent with the first write), 0 wants more I/O, -1 failed. */
int btls13_handshake(btls13 *t);
/* After the handshake, like benchtls_read/benchtls_write: bytes (> 0), 0 at
 * the server's close_notify (read only), BENCHTLS_AGAIN or BENCHTLS_ERROR
 * (benchtls.h). A write is taken whole (what the socket does not take now
 * goes out on later calls). Post-handshake NewSessionTickets are skipped. */
ssize_t btls13_read(btls13 *t, void *buf, size_t n);
ssize_t btls13_write(btls13 *t, const void *buf, size_t n);
/* btls13_read without the copy: *p points at the next record's data, in
 * t's read buffer, valid until the next call on t. */
ssize_t btls13_read_in_place(btls13 *t, const char **p);
/* 1 when a whole record (or data of one) waits in t's buffer, so a read
 * returns data without the socket. */
int btls13_has_record(const btls13 *t);
void btls13_free(btls13 *t);

/* HKDF-Expand-Label with SHA-256 (RFC 8446 §7.1), out_len <= 32; for the
 * tests, which play a man in the middle with the server's secrets. */
void btls13_expand_label(const uint8_t secret[32], const char *label, const uint8_t *context,
                         size_t context_len, uint8_t *out, size_t out_len);

#endif
