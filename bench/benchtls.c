/* SPDX-License-Identifier: MIT */
/*
 * benchtls.c: the helpers of benchtls.h.
 *
 * A full handshake costs the client more than the server under OpenSSL
 * 3.0 (650-780 us of CPU against the server's ~430 us, issue #12), so the
 * handshake scenario measured the tool; the context set-up below keeps the
 * client's share to what a TLS 1.3 client must do (an X25519 key share,
 * checking the CertificateVerify signature):
 *  - no certificate chain verification at all (a verify callback that
 *    accepts): with SSL_VERIFY_NONE OpenSSL still builds and checks the
 *    chain, only to ignore the result;
 *  - X25519 as the only key share (OpenSSL sends one for the first group
 *    listed), and P-256 listed after it only because a TLS 1.2 server
 *    (nginx 1.22's default) may sign with a P-256 key only when the client
 *    lists that curve;
 *  - the server's EC public key decoded by OpenSSL's legacy EC code: 3.0
 *    decodes the key of every certificate it parses through OSSL_DECODER,
 *    which collects every decoder of every provider each time (~140 us per
 *    handshake here, the biggest part of the client's cost; 3.2 caches
 *    them). A pkey method for EC registered by an engine of ours sends
 *    X509_PUBKEY decoding down the legacy path (x509_pubkey_decode); the
 *    method is OpenSSL's own, so the signature check is unchanged.
 */
/* the ENGINE and EVP_PKEY_METHOD calls below are deprecated in 3.0 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "benchtls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifndef OPENSSL_NO_ENGINE
#include <openssl/engine.h>
#endif

/* The chain is not checked (the bench's own throw-away certificate). */
static int accept_chain(X509_STORE_CTX *store, void *arg) {
    (void)store;
    (void)arg;
    return 1;
}

#ifndef OPENSSL_NO_ENGINE
static const int legacy_nids[] = {EVP_PKEY_EC};

static int legacy_pkey_meths(ENGINE *e, EVP_PKEY_METHOD **meth, const int **nids, int nid) {
    (void)e;
    if (!meth) {
        *nids = legacy_nids;
        return 1;
    }
    *meth = nid == EVP_PKEY_EC ? (EVP_PKEY_METHOD *)EVP_PKEY_meth_find(EVP_PKEY_EC) : NULL;
    return *meth != NULL;
}

/* Registers the engine (once per process); without it (no engine support,
 * or a failure) the decoding stays on OpenSSL's default path. */
static void legacy_ec_register(void) {
    ENGINE *e = ENGINE_new();
    if (!e) return;
    if (ENGINE_set_id(e, "sserooms-bench-legacy-ec") && ENGINE_set_name(e, "legacy EC keys") &&
        ENGINE_set_pkey_meths(e, legacy_pkey_meths) && ENGINE_add(e))
        ENGINE_register_pkey_meths(e);
    ENGINE_free(e); /* the engine list keeps its own reference */
    ERR_clear_error();
}
#endif

static void client_once(void) {
#ifndef OPENSSL_NO_ENGINE
    if (!getenv("BENCHTLS_DECODER")) legacy_ec_register();
#endif
}

SSL_CTX *benchtls_client_ctx(const char *alpn, int resume) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, client_once);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        fprintf(stderr, "bench: SSL_CTX_new failed\n");
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, accept_chain, NULL);
    if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1) {
        fprintf(stderr, "bench: OpenSSL has no X25519\n");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* one read() for what the socket holds, not two per record (header,
     * then body): a server's handshake flight is six records or more */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* and a read buffer of several records: a stream that fell behind has
     * many 16 KiB records queued, and OpenSSL's default buffer holds one,
     * so each record cost its own read() and wake-up (plain streams read
     * 256 KiB at once). 64 KiB stays under malloc's mmap threshold, so the
     * buffer released between reads (SSL_MODE_RELEASE_BUFFERS) is the same
     * warm heap block for the next connection, not a fresh mapping. */
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
    unsigned char wire[32];
    size_t len = strlen(alpn);
    if (len == 0 || len >= sizeof(wire)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    wire[0] = (unsigned char)len;
    memcpy(wire + 1, alpn, len);
    if (SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)(len + 1)) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* the tools keep sessions themselves (benchtls_session); OpenSSL takes
     * in TLS 1.3 tickets only with the client cache mode on */
    if (resume) {
        SSL_CTX_set_session_cache_mode(ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    return ctx;
}

SSL *benchtls_new(SSL_CTX *ctx, int fd, const char *host, SSL_SESSION *offer) {
    SSL *ssl = SSL_new(ctx);
    if (!ssl) return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    /* SNI only for names (RFC 6066: not for IP literals) */
    if (host && strspn(host, "0123456789.") != strlen(host)) SSL_set_tlsext_host_name(ssl, host);
    if (offer) SSL_set_session(ssl, offer);
    return ssl;
}

int benchtls_handshake(SSL *ssl) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) return 1;
    int e = SSL_get_error(ssl, rc);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

SSL_SESSION *benchtls_session(SSL *ssl, SSL_SESSION *old) {
    SSL_SESSION *s = ssl ? SSL_get1_session(ssl) : NULL;
    if (!s || !SSL_SESSION_is_resumable(s)) {
        if (s) SSL_SESSION_free(s);
        return old;
    }
    if (old) SSL_SESSION_free(old);
    return s;
}

int benchtls_resumed(SSL *ssl) {
    return SSL_session_reused(ssl) == 1;
}

int benchtls_alpn_is(SSL *ssl, const char *proto) {
    const unsigned char *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl, &p, &len);
    return p && len == strlen(proto) && memcmp(p, proto, len) == 0;
}

static ssize_t ssl_result(SSL *ssl, int rc) {
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return BENCHTLS_AGAIN;
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    return BENCHTLS_ERROR;
}

ssize_t benchtls_read(SSL *ssl, int fd, void *buf, size_t n) {
    if (!ssl) {
        ssize_t r = read(fd, buf, n);
        if (r >= 0) return r;
        return errno == EAGAIN || errno == EINTR ? BENCHTLS_AGAIN : BENCHTLS_ERROR;
    }
    size_t got = 0;
    ERR_clear_error();
    int rc = SSL_read_ex(ssl, buf, n, &got);
    if (rc == 1) return (ssize_t)got;
    return ssl_result(ssl, rc);
}

ssize_t benchtls_write(SSL *ssl, int fd, const void *buf, size_t n) {
    if (!ssl) {
        ssize_t w = write(fd, buf, n);
        if (w >= 0) return w;
        return errno == EAGAIN || errno == EINTR ? BENCHTLS_AGAIN : BENCHTLS_ERROR;
    }
    size_t put = 0;
    ERR_clear_error();
    int rc = SSL_write_ex(ssl, buf, n, &put);
    if (rc == 1) return (ssize_t)put;
    ssize_t r = ssl_result(ssl, rc);
    return r == 0 ? BENCHTLS_ERROR : r;
}

void benchtls_free(SSL *ssl) {
    if (!ssl) return;
    /* marked as shut down, or SSL_free takes the session for a broken one
     * and makes it not resumable */
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl);
}
