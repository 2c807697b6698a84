/* SPDX-License-Identifier: MIT */
/*
 * tls_int.h: the TLS engine's state, shared by tls.c (contexts, sessions
 * on OpenSSL, the output buffer) and compact.c (the compact record layer
 * that a finished TLS 1.3 server session continues on). Not for other
 * modules.
 */
#ifndef SR_TLS_INT_H
#define SR_TLS_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "tls/tls.h"

/* Plaintext sealed per sr_tls_seal call: bounds a session's output buffer. */
#define SR_TLS_SEAL_MAX (64 * 1024)

struct sr_tls_ctx {
    SSL_CTX *ssl;
    atomic_int refs;
    bool server;
    bool offer_h2;
    char *server_name; /* clients: SNI and the checked name */
};

/* TLS 1.3 application records, one direction (the compact record layer). */
typedef struct lite_dir {
    uint8_t secret[48]; /* the traffic secret (for KeyUpdate) */
    uint8_t key[32];
    uint8_t iv[12];
    uint64_t seq;
} lite_dir;

/* A server session after its handshake, without the SSL object. */
typedef struct sr_tls_lite {
    const EVP_CIPHER *cipher;
    const EVP_MD *md;
    uint8_t key_len, secret_len;
    lite_dir rd, wr; /* no cipher context: the thread's is keyed per seal (compact.c) */
    uint8_t *in;     /* a partial record received, freed when empty */
    size_t in_len;
} sr_tls_lite;

/* The application traffic secrets, caught from the key log callback until
 * the session goes compact. */
typedef struct lite_secrets {
    uint8_t client[48], server[48];
    uint8_t client_len, server_len;
} lite_secrets;

struct sr_tls {
    SSL *ssl; /* NULL once compact */
    sr_tls_ctx *ctx;
    BIO *rbio; /* wire bytes in (memory BIO) */
    char *out; /* wire bytes out, given up when drained (tls.c: the spare) */
    size_t out_off, out_len, out_cap;
    char *err; /* OpenSSL's words, once failed */
    uint8_t failed : 1;
    uint8_t oom : 1;
    uint8_t fail_reason;
    /* the way to the compact record layer (server sessions, TLS 1.3) */
    uint8_t wr_app : 1;  /* our Finished is written: records from now on are application ones */
    uint8_t rd_app : 1;  /* the peer's Finished is read */
    uint8_t no_lite : 1; /* stays on OpenSSL (TLS 1.2, a KeyUpdate seen, an odd cipher) */
    uint8_t resumed : 1; /* kept for sr_tls_resumed once compact */
    uint64_t wr_records, rd_records; /* application records so far, each way */
    lite_secrets *secrets;
    sr_tls_lite *lite;
    char alpn[16]; /* kept once compact */
};

/* tls.c: makes room for `more` bytes at the end of t's output buffer;
 * 0, or -1 (t->oom set) when out of memory. */
int sr_tls_out_reserve(sr_tls *t, size_t more);

/* compact.c */
/* Fetches the AEAD ciphers once per process (call_once). */
void sr_tls_lite_fetch(void);
void sr_tls_lite_free(sr_tls_lite *L);
/* Seals n iovecs as application records (type) into t's output. */
ssize_t sr_tls_lite_seal(sr_tls *t, const struct iovec *iov, size_t n, uint8_t type);
/* Opens wire bytes of a compact session, plaintext to deliver. */
int sr_tls_lite_input(sr_tls *t, const char *in, size_t len, sr_tls_deliver deliver, void *ud);
/* OpenSSL's key log and message callbacks of server sessions. */
void sr_tls_on_keylog(const SSL *ssl, const char *line);
void sr_tls_on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg);
void sr_tls_secrets_free(sr_tls *t);
/* Drops the SSL object of a finished TLS 1.3 server session when it can. */
void sr_tls_try_compact(sr_tls *t);

#endif
