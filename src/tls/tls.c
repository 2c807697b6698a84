/* SPDX-License-Identifier: MIT */
/*
 * tls.c: the TLS engine (see tls.h): contexts and sessions over OpenSSL 3,
 * reading from a memory BIO and writing into a buffer of the session's own
 * through a small BIO method ("sr_out"), so the caller decides when and
 * from which thread the bytes reach a socket. Finished TLS 1.3 server
 * sessions continue without the SSL object (the compact record layer,
 * compact.c); the state both files share is in tls_int.h.
 */
#include "tls/tls.h"
#include "tls/tls_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <threads.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <openssl/x509v3.h>

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* Frames shorter than this are gathered into one record with their
 * neighbours (a record costs 22 bytes and an AEAD pass). */
#define SR_TLS_GATHER 4096

const char *const sr_tls_fail_names[SR_TLS_FAIL_COUNT] = {"protocol", "version", "certificate",
                                                          "timeout", "eof"};

/* --- the output BIO --------------------------------------------------------- */

static BIO_METHOD *out_method;
static once_flag out_once = ONCE_FLAG_INIT;

/* --- the output buffer -------------------------------------------------------
 *
 * A session's output buffer lives only while it holds bytes for the
 * socket (an idle stream holds none). A stream's flush seals its frames
 * into it and the socket usually takes them all at once, so each flush
 * would malloc and free a buffer: instead a drained buffer is kept as its
 * thread's spare (one per thread, up to SPARE_MAX) and the next session
 * that seals on that thread takes it. The spare is freed when its thread
 * ends (tss destructor). */

#define SPARE_MAX (256 * 1024)
/* a sealing's worth of wire bytes: SR_TLS_SEAL_MAX and its record
 * overhead (see sr_tls_out_reserve) */
#define OUT_SNUG (SR_TLS_SEAL_MAX + 1024)

static tss_t spare_key;
static once_flag spare_once = ONCE_FLAG_INIT;
static bool spare_ok;
static _Thread_local char *spare;
static _Thread_local size_t spare_cap;

static void spare_init(void) {
    spare_ok = tss_create(&spare_key, free) == thrd_success;
}

static void spare_set(char *p, size_t cap) {
    spare = p;
    spare_cap = cap;
    tss_set(spare_key, p);
}

/* Makes room for `more` bytes after out_len; 0, or -1 (oom set). */
int sr_tls_out_reserve(sr_tls *t, size_t more) {
    size_t need = t->out_len + more;
    if (!t->out && spare) { /* the thread's spare (see above) */
        t->out = spare;
        t->out_cap = spare_cap;
        spare_set(NULL, 0);
    }
    if (need <= t->out_cap) return 0;
    size_t cap = t->out_cap ? t->out_cap : 4096;
    while (cap < need) cap *= 2;
    /* Past 64 KiB, only what is needed (in 16 KiB steps): doubling took a
     * whole sealing (64 KiB and its record headers) to 128 KiB, where
     * glibc's malloc maps each block and unmaps it when freed, so every
     * flush of a stream that fell behind paid page faults on the fresh
     * block and a TLB flush on its release (a fifth of the server's CPU in
     * a profile at S1-TLS 1,000 msg/s). */
    if (cap > OUT_SNUG) cap = need > OUT_SNUG ? (need + 16383) & ~(size_t)16383 : OUT_SNUG;
    char *p = realloc(t->out, cap);
    if (!p) {
        t->oom = 1;
        return -1;
    }
    t->out = p;
    t->out_cap = cap;
    return 0;
}

static int out_write(BIO *b, const char *data, int len) {
    sr_tls *t = BIO_get_data(b);
    if (len <= 0) return 0;
    if (sr_tls_out_reserve(t, (size_t)len) < 0) return -1;
    memcpy(t->out + t->out_len, data, (size_t)len);
    t->out_len += (size_t)len;
    return len;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int out_create(BIO *b) {
    BIO_set_init(b, 1);
    return 1;
}

static void make_out_method(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sr_out");
    if (!m) return;
    BIO_meth_set_write(m, out_write);
    BIO_meth_set_ctrl(m, out_ctrl);
    BIO_meth_set_create(m, out_create);
    out_method = m;
}

/* --- contexts ---------------------------------------------------------------- */

static once_flag lite_once = ONCE_FLAG_INIT;

static void set_err(char *err, size_t errlen, const char *what, const char *file) {
    if (!err || !errlen) return;
    char ossl[160] = "";
    unsigned long e = ERR_peek_last_error();
    if (e) ERR_error_string_n(e, ossl, sizeof(ossl));
    snprintf(err, errlen, "%s%s%s%s%s", what, file ? " " : "", file ? file : "", e ? ": " : "",
             ossl);
    ERR_clear_error();
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
    (void)ssl;
    const sr_tls_ctx *ctx = arg;
    static const unsigned char h2[] = "\x02h2";
    static const unsigned char h1[] = "\x08http/1.1";
    /* the server's preference: h2 (when built in), then http/1.1 */
    for (int pass = ctx->offer_h2 ? 0 : 1; pass < 2; pass++) {
        const unsigned char *want = pass == 0 ? h2 : h1;
        for (unsigned i = 0; i < inlen;) {
            unsigned l = in[i];
            if (i + 1 + l > inlen) break;
            if (l == want[0] && memcmp(in + i + 1, want + 1, l) == 0) {
                *out = in + i + 1;
                *outlen = (unsigned char)l;
                return SSL_TLSEXT_ERR_OK;
            }
            i += 1 + l;
        }
    }
    return SSL_TLSEXT_ERR_NOACK; /* no protocol in common: go on without ALPN */
}

static int parse_min_version(const char *v) {
    if (!v || !strcmp(v, "1.2") || !strcmp(v, "TLSv1.2")) return TLS1_2_VERSION;
    if (!strcmp(v, "1.3") || !strcmp(v, "TLSv1.3")) return TLS1_3_VERSION;
    return -1;
}

static sr_tls_ctx *ctx_wrap(SSL_CTX *ssl, bool server) {
    sr_tls_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return NULL;
    ctx->ssl = ssl;
    ctx->server = server;
    atomic_init(&ctx->refs, 1);
    return ctx;
}

sr_tls_ctx *sr_tls_server_ctx(const sr_tls_server_opts *o, char *err, size_t errlen) {
    call_once(&out_once, make_out_method);
    call_once(&spare_once, spare_init);
    if (!out_method) {
        set_err(err, errlen, "TLS: out of memory", NULL);
        return NULL;
    }
    int minv = parse_min_version(o->min_version);
    if (minv < 0) {
        snprintf(err, errlen, "TLS: minimum version '%s' is neither 1.2 nor 1.3", o->min_version);
        return NULL;
    }
    if (!o->cert_file || !o->key_file) {
        snprintf(err, errlen, "TLS: a certificate needs its key, and a key its certificate");
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());
    if (!ssl) {
        set_err(err, errlen, "TLS: cannot make a context", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ssl, minv);
    SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_COMPRESSION);
    /* TLS 1.3: AES-128-GCM with SHA-256 first (OpenSSL's default puts
     * AES-256-GCM with SHA-384 first: the handshake's transcript hash and
     * key schedule on SHA-384, which no CPU extension speeds up, and 14 AES
     * rounds a block instead of 10); ChaCha20 first for clients that put it
     * first (phones without AES instructions) */
    if (SSL_CTX_set_ciphersuites(ssl, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                      "TLS_CHACHA20_POLY1305_SHA256") != 1) {
        set_err(err, errlen, "TLS: cannot set the TLS 1.3 cipher suites", NULL);
        SSL_CTX_free(ssl);
        return NULL;
    }
    /* idle streams give OpenSSL's record buffers back; the chain sent is
     * the certificate file's (a full chain), so no handshake looks for one
     * in the context's certificate store (an X509_STORE_CTX and a chain
     * build per handshake when the file holds the leaf alone) */
    SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
    /* resumption by tickets only (stateless): no per-session server cache */
    SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_set_num_tickets(ssl, 1);
    /* the compact record layer after the handshake (below) */
    call_once(&lite_once, sr_tls_lite_fetch);
    SSL_CTX_set_keylog_callback(ssl, sr_tls_on_keylog);
    SSL_CTX_set_msg_callback(ssl, sr_tls_on_msg);
    if (SSL_CTX_use_certificate_chain_file(ssl, o->cert_file) != 1) {
        set_err(err, errlen, "TLS: cannot load the certificate", o->cert_file);
        SSL_CTX_free(ssl);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ssl, o->key_file, SSL_FILETYPE_PEM) != 1) {
        set_err(err, errlen, "TLS: cannot load the key", o->key_file);
        SSL_CTX_free(ssl);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ssl) != 1) {
        set_err(err, errlen, "TLS: the key does not match the certificate", o->key_file);
        SSL_CTX_free(ssl);
        return NULL;
    }
    if (o->keep_tickets_of) { /* tickets issued before a reload still resume */
        unsigned char keys[80];
        if (SSL_CTX_get_tlsext_ticket_keys(o->keep_tickets_of->ssl, keys, sizeof(keys)) == 1)
            SSL_CTX_set_tlsext_ticket_keys(ssl, keys, sizeof(keys));
        OPENSSL_cleanse(keys, sizeof(keys));
    }
    sr_tls_ctx *ctx = ctx_wrap(ssl, true);
    if (!ctx) {
        SSL_CTX_free(ssl);
        snprintf(err, errlen, "TLS: out of memory");
        return NULL;
    }
    ctx->offer_h2 = o->offer_h2;
    SSL_CTX_set_alpn_select_cb(ssl, alpn_select, ctx);
    return ctx;
}

sr_tls_ctx *sr_tls_client_ctx(const sr_tls_client_opts *o, char *err, size_t errlen) {
    call_once(&out_once, make_out_method);
    call_once(&spare_once, spare_init);
    if (!out_method) {
        snprintf(err, errlen, "TLS: out of memory");
        return NULL;
    }
    if ((o->cert_file != NULL) != (o->key_file != NULL)) {
        snprintf(err, errlen, "TLS: a client certificate needs its key, and a key its certificate");
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *ssl = SSL_CTX_new(TLS_client_method());
    if (!ssl) {
        set_err(err, errlen, "TLS: cannot make a context", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
    int ok = o->ca_file ? SSL_CTX_load_verify_locations(ssl, o->ca_file, NULL)
                        : SSL_CTX_set_default_verify_paths(ssl);
    if (ok != 1) {
        set_err(err, errlen, "TLS: cannot load the CA", o->ca_file);
        SSL_CTX_free(ssl);
        return NULL;
    }
    if (o->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(ssl, o->cert_file) != 1) {
            set_err(err, errlen, "TLS: cannot load the client certificate", o->cert_file);
            SSL_CTX_free(ssl);
            return NULL;
        }
        if (SSL_CTX_use_PrivateKey_file(ssl, o->key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ssl) != 1) {
            set_err(err, errlen, "TLS: cannot load the client key", o->key_file);
            SSL_CTX_free(ssl);
            return NULL;
        }
    }
    if (o->alpn && SSL_CTX_set_alpn_protos(ssl, (const unsigned char *)o->alpn,
                                           (unsigned)strlen(o->alpn)) != 0) {
        set_err(err, errlen, "TLS: bad ALPN list", NULL);
        SSL_CTX_free(ssl);
        return NULL;
    }
    sr_tls_ctx *ctx = ctx_wrap(ssl, false);
    if (ctx && o->server_name && !(ctx->server_name = strdup(o->server_name))) {
        free(ctx);
        ctx = NULL;
    }
    if (!ctx) {
        SSL_CTX_free(ssl);
        snprintf(err, errlen, "TLS: out of memory");
        return NULL;
    }
    return ctx;
}

void sr_tls_ctx_ref(sr_tls_ctx *ctx) {
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
}

void sr_tls_ctx_unref(sr_tls_ctx *ctx) {
    if (!ctx || atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1) return;
    SSL_CTX_free(ctx->ssl);
    free(ctx->server_name);
    free(ctx);
}

/* --- sessions ---------------------------------------------------------------- */

static int is_ip_literal(const char *name) {
    unsigned char buf[16];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

static int fail(sr_tls *t);

sr_tls *sr_tls_new(sr_tls_ctx *ctx) {
    sr_tls *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(out_method);
    if (!t->ssl || !t->rbio || !wbio) {
        SSL_free(t->ssl);
        BIO_free(t->rbio);
        BIO_free(wbio);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_mem_eof_return(t->rbio, -1); /* empty means "more later", not EOF */
    BIO_set_data(wbio, t);
    SSL_set_bio(t->ssl, t->rbio, wbio);
    SSL_set_app_data(t->ssl, t);
    sr_tls_ctx_ref(ctx);
    t->ctx = ctx;
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (ctx->server_name && *ctx->server_name) sr_tls_set_server_name(t, ctx->server_name);
    }
    return t;
}

int sr_tls_set_server_name(sr_tls *t, const char *name) {
    if (!name || !*name) return 0;
    if (!t->ssl) return -1;
    int ok;
    if (is_ip_literal(name)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name) == 1;
    } else {
        ok = SSL_set_tlsext_host_name(t->ssl, name) == 1 && SSL_set1_host(t->ssl, name) == 1;
    }
    ERR_clear_error();
    return ok ? 0 : -1;
}

int sr_tls_start(sr_tls *t) {
    if (!t->ssl) return -1;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    int e = SSL_get_error(t->ssl, r);
    if (r == 1 || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return t->oom ? fail(t) : 0;
    return fail(t);
}

void sr_tls_free(sr_tls *t) {
    if (!t) return;
    SSL_free(t->ssl); /* frees both BIOs (NULL once compact) */
    sr_tls_lite_free(t->lite);
    sr_tls_secrets_free(t);
    sr_tls_ctx_unref(t->ctx);
    free(t->out);
    free(t->err);
    free(t);
}

static sr_tls_fail classify(unsigned long e, long verify) {
    if (verify != X509_V_OK) return SR_TLS_FAIL_CERT;
    if (ERR_GET_LIB(e) != ERR_LIB_SSL) return SR_TLS_FAIL_PROTOCOL;
    switch (ERR_GET_REASON(e)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW: return SR_TLS_FAIL_VERSION;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR: return SR_TLS_FAIL_CERT;
    default: return SR_TLS_FAIL_PROTOCOL;
    }
}

/* Marks the session failed with OpenSSL's reason; -1. */
static int fail(sr_tls *t) {
    if (t->failed) return -1;
    t->failed = 1;
    unsigned long e = ERR_peek_last_error();
    long verify = t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;
    if (t->ctx->server) verify = X509_V_OK; /* clients send no certificate here */
    t->fail_reason = (uint8_t)(t->oom ? SR_TLS_FAIL_PROTOCOL : classify(e, verify));
    char buf[200];
    if (t->oom) {
        snprintf(buf, sizeof(buf), "out of memory");
    } else if (verify != X509_V_OK) {
        snprintf(buf, sizeof(buf), "certificate verify failed: %s",
                 X509_verify_cert_error_string(verify));
    } else if (e) {
        ERR_error_string_n(e, buf, sizeof(buf));
    } else {
        snprintf(buf, sizeof(buf), "TLS session failed");
    }
    free(t->err);
    t->err = strdup(buf);
    ERR_clear_error();
    return -1;
}

bool sr_tls_compact(const sr_tls *t) {
    return t->lite != NULL;
}

int sr_tls_input(sr_tls *t, const char *in, size_t len, sr_tls_deliver deliver, void *ud) {
    if (t->failed) return -1;
    if (t->lite) return sr_tls_lite_input(t, in, len, deliver, ud);
    ERR_clear_error();
    if (len > 0 && BIO_write(t->rbio, in, (int)len) != (int)len) {
        t->oom = 1;
        return fail(t);
    }
    if (!SSL_is_init_finished(t->ssl)) {
        int r = SSL_do_handshake(t->ssl);
        if (r != 1) {
            int e = SSL_get_error(t->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return t->oom ? fail(t) : 0;
            return fail(t);
        }
    }
    char buf[16384];
    for (;;) {
        size_t got = 0;
        if (SSL_read_ex(t->ssl, buf, sizeof(buf), &got) == 1) {
            if (deliver && deliver(ud, buf, got) != 0) {
                /* the caller reads no more (an SSE stream from now on): the
                 * stream's last chance on this thread to drop the SSL object,
                 * since an idle stream may never get input again */
                if (t->oom) return fail(t);
                sr_tls_try_compact(t);
                return 0;
            }
            continue;
        }
        int e = SSL_get_error(t->ssl, 0);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (t->oom) return fail(t);
            sr_tls_try_compact(t); /* all read: the SSL object may go */
            return 0;
        }
        if (e == SSL_ERROR_ZERO_RETURN) return 1;
        return fail(t);
    }
}

static int write_all(sr_tls *t, const char *p, size_t len) {
    size_t w = 0;
    if (SSL_write_ex(t->ssl, p, len, &w) != 1 || w != len || t->oom) return fail(t);
    return 0;
}

ssize_t sr_tls_seal(sr_tls *t, const struct iovec *iov, size_t n) {
    if (t->failed) return -1;
    if (t->lite) return sr_tls_lite_seal(t, iov, n, 23);
    if (!SSL_is_init_finished(t->ssl)) return 0;
    ERR_clear_error();
    char stage[SR_TLS_GATHER * 4];
    size_t staged = 0, taken = 0;
    for (size_t i = 0; i < n && taken < SR_TLS_SEAL_MAX; i++) {
        const char *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        if (len > SR_TLS_SEAL_MAX - taken) len = SR_TLS_SEAL_MAX - taken;
        if (len < SR_TLS_GATHER) { /* small: gathered with its neighbours */
            if (staged + len > sizeof(stage)) {
                if (write_all(t, stage, staged) < 0) return -1;
                staged = 0;
            }
            memcpy(stage + staged, p, len);
            staged += len;
        } else { /* big: sealed where it is */
            if (staged && write_all(t, stage, staged) < 0) return -1;
            staged = 0;
            if (write_all(t, p, len) < 0) return -1;
        }
        taken += len;
    }
    if (staged && write_all(t, stage, staged) < 0) return -1;
    return (ssize_t)taken;
}

size_t sr_tls_out_capacity(const sr_tls *t) {
    return t->out_cap;
}

size_t sr_tls_pending(const sr_tls *t, const char **p) {
    *p = t->out + t->out_off;
    return t->out_len - t->out_off;
}

void sr_tls_sent(sr_tls *t, size_t n) {
    t->out_off += n;
    if (t->out_off < t->out_len) return;
    /* drained: an idle session holds no buffer; the thread keeps it */
    if (spare_ok && !spare && t->out_cap <= SPARE_MAX) spare_set(t->out, t->out_cap);
    else free(t->out);
    t->out = NULL;
    t->out_off = t->out_len = t->out_cap = 0;
}

void sr_tls_close(sr_tls *t) {
    if (t->failed) return;
    if (t->lite) {
        static const uint8_t close_notify[2] = {1, 0}; /* warning, close_notify */
        struct iovec v = {(void *)close_notify, sizeof(close_notify)};
        sr_tls_lite_seal(t, &v, 1, 21);
        return;
    }
    if (!SSL_is_init_finished(t->ssl)) return;
    ERR_clear_error();
    SSL_shutdown(t->ssl);
    ERR_clear_error();
}

bool sr_tls_handshake_done(const sr_tls *t) {
    return t->lite || SSL_is_init_finished(t->ssl);
}

bool sr_tls_resumed(const sr_tls *t) {
    return t->lite ? t->resumed : SSL_session_reused(t->ssl);
}

const char *sr_tls_alpn(const sr_tls *t) {
    if (t->lite) return t->alpn;
    static _Thread_local char name[32];
    const unsigned char *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(t->ssl, &p, &len);
    if (len >= sizeof(name)) len = 0;
    if (len) memcpy(name, p, len);
    name[len] = 0;
    return name;
}

const char *sr_tls_version(const sr_tls *t) {
    return t->lite ? "TLSv1.3" : SSL_get_version(t->ssl);
}

sr_tls_fail sr_tls_failure(const sr_tls *t) {
    return (sr_tls_fail)t->fail_reason;
}

const char *sr_tls_error(const sr_tls *t) {
    return t->err ? t->err : "";
}

void *sr_tls_get_session(const sr_tls *t) {
    return t->ssl ? SSL_get1_session(t->ssl) : NULL;
}

int sr_tls_set_session(sr_tls *t, void *session) {
    return t->ssl && SSL_set_session(t->ssl, session) == 1 ? 0 : -1;
}

void sr_tls_session_free(void *session) {
    SSL_SESSION_free(session);
}

int sr_tls_ktls_probe(void) {
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
    if (f) {
        char line[256] = "";
        char *got = fgets(line, sizeof(line), f);
        fclose(f);
        if (got && strstr(line, "tls")) return 1;
    }
    /* not loaded yet: asking for it loads the module when there is one */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int rc = setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", 3);
    int err = errno;
    close(fd);
    return rc == 0 || err == ENOTCONN;
}
