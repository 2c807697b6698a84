/* SPDX-License-Identifier: MIT */
/*
 * tls.c: the TLS engine (see tls.h): contexts and sessions over OpenSSL 3,
 * reading from a memory BIO and writing into a buffer of the session's own
 * through a small BIO method ("sr_out"), so the caller decides when and
 * from which thread the bytes reach a socket. Finished TLS 1.3 server
 * sessions continue without the SSL object (the compact record layer,
 * described where it is defined).
 */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <unistd.h>
#include <sys/socket.h>

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

/* Plaintext sealed per sr_tls_seal call: bounds a session's output buffer. */
#define SR_TLS_SEAL_MAX (64 * 1024)
/* Frames shorter than this are gathered into one record with their
 * neighbours (a record costs 22 bytes and an AEAD pass). */
#define SR_TLS_GATHER 4096

const char *const sr_tls_fail_names[SR_TLS_FAIL_COUNT] = {"protocol", "version", "certificate",
                                                          "timeout", "eof"};

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
    lite_dir rd, wr;
    EVP_CIPHER_CTX *wctx; /* keyed with wr.key; the nonce is set per record */
    uint8_t *in;          /* a partial record received, freed when empty */
    size_t in_len;
} sr_tls_lite;

/* The application traffic secrets, caught from the key log callback until
 * the session goes compact. */
typedef struct lite_secrets {
    uint8_t client[48], server[48];
    uint8_t client_len, server_len;
} lite_secrets;

struct sr_tls {
    SSL *ssl;            /* NULL once compact */
    sr_tls_ctx *ctx;
    BIO *rbio;           /* wire bytes in (memory BIO) */
    char *out;           /* wire bytes out, freed when drained */
    size_t out_off, out_len, out_cap;
    char *err;           /* OpenSSL's words, once failed */
    uint8_t failed : 1;
    uint8_t oom : 1;
    uint8_t fail_reason;
    /* the way to the compact record layer (server sessions, TLS 1.3) */
    uint8_t wr_app : 1;     /* our Finished is written: records from now on are application ones */
    uint8_t rd_app : 1;     /* the peer's Finished is read */
    uint8_t no_lite : 1;    /* stays on OpenSSL (TLS 1.2, a KeyUpdate seen, an odd cipher) */
    uint8_t resumed : 1;    /* kept for sr_tls_resumed once compact */
    uint64_t wr_records, rd_records; /* application records so far, each way */
    lite_secrets *secrets;
    sr_tls_lite *lite;
    char alpn[16];          /* kept once compact */
};

/* --- the output BIO --------------------------------------------------------- */

static BIO_METHOD *out_method;
static once_flag out_once = ONCE_FLAG_INIT;

/* Makes room for `more` bytes after out_len; 0, or -1 (oom set). */
static int out_reserve(sr_tls *t, size_t more) {
    size_t need = t->out_len + more;
    if (need <= t->out_cap) return 0;
    size_t cap = t->out_cap ? t->out_cap : 4096;
    while (cap < need) cap *= 2;
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
    if (out_reserve(t, (size_t)len) < 0) return -1;
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

static void lite_fetch(void);
static void lite_free(sr_tls_lite *L);
static void secrets_free(sr_tls *t);
static once_flag lite_once = ONCE_FLAG_INIT;
static void on_keylog(const SSL *ssl, const char *line);
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                   void *arg);

static void set_err(char *err, size_t errlen, const char *what, const char *file) {
    if (!err || !errlen) return;
    char ossl[160] = "";
    unsigned long e = ERR_peek_last_error();
    if (e) ERR_error_string_n(e, ossl, sizeof(ossl));
    snprintf(err, errlen, "%s%s%s%s%s", what, file ? " " : "", file ? file : "", e ? ": " : "", ossl);
    ERR_clear_error();
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg) {
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
                                 SSL_OP_NO_COMPRESSION);
    /* idle streams give OpenSSL's record buffers back */
    SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    /* resumption by tickets only (stateless): no per-session server cache */
    SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_set_num_tickets(ssl, 1);
    /* the compact record layer after the handshake (below) */
    call_once(&lite_once, lite_fetch);
    SSL_CTX_set_keylog_callback(ssl, on_keylog);
    SSL_CTX_set_msg_callback(ssl, on_msg);
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
    if (o->alpn && SSL_CTX_set_alpn_protos(ssl, (const unsigned char *)o->alpn, (unsigned)strlen(o->alpn)) != 0) {
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
    if (r == 1 || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return t->oom ? fail(t) : 0;
    return fail(t);
}

void sr_tls_free(sr_tls *t) {
    if (!t) return;
    SSL_free(t->ssl); /* frees both BIOs (NULL once compact) */
    lite_free(t->lite);
    secrets_free(t);
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
    case SSL_R_VERSION_TOO_LOW:
        return SR_TLS_FAIL_VERSION;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
        return SR_TLS_FAIL_CERT;
    default:
        return SR_TLS_FAIL_PROTOCOL;
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
        snprintf(buf, sizeof(buf), "certificate verify failed: %s", X509_verify_cert_error_string(verify));
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

/* --- the compact record layer ---------------------------------------------------
 *
 * An SSL object costs about 14.5 KB per session on OpenSSL 3.0 (7.6 KB of
 * it the SSL structure itself, the rest its cipher and digest contexts,
 * session, certificate copy, key shares, locks and BIOs), whatever its
 * buffers do. Once a TLS 1.3 server session has finished its handshake,
 * all it still does is seal and open application records with two AEAD
 * keys, so it drops the SSL object and keeps only those: the traffic
 * secrets (caught from the key log callback), the keys and IVs derived
 * from them (RFC 8446 §7.3), the record sequence numbers (counted from
 * OpenSSL's message callback: every record after a side's Finished is an
 * application record), and one cipher context for writing. A record is
 * sealed as RFC 8446 §5.2 says (inner content type appended, the header as
 * additional data, the nonce the IV xor the sequence number), straight
 * from the caller's iovecs into the output buffer; records received are
 * opened with a cipher context made for the occasion (an SSE stream
 * rarely sends any). A KeyUpdate from the peer is followed (and answered
 * when it asks); a close_notify ends the session as before; anything else
 * but application data is a protocol failure. TLS 1.2 sessions and
 * sessions that saw a KeyUpdate during the handshake phase stay on OpenSSL.
 */

#define LITE_MAX_PLAIN 16384
#define LITE_TAG 16
#define LITE_OVERHEAD (5 + 1 + LITE_TAG) /* header, inner type, tag */

static EVP_CIPHER *lite_aes128, *lite_aes256, *lite_chacha;

static void lite_fetch(void) {
    lite_aes128 = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    lite_aes256 = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    lite_chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
    ERR_clear_error();
}

/* HKDF-Expand-Label(secret, label, "", len) for len <= the hash length:
 * one HMAC block (RFC 8446 §7.1, RFC 5869 §2.3). 0, or -1. */
static int expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len, const char *label,
                        uint8_t *out, size_t len) {
    uint8_t info[2 + 1 + 255 + 1 + 1];
    size_t ll = 6 + strlen(label), n = 0;
    info[n++] = (uint8_t)(len >> 8);
    info[n++] = (uint8_t)len;
    info[n++] = (uint8_t)ll;
    memcpy(info + n, "tls13 ", 6);
    memcpy(info + n + 6, label, ll - 6);
    n += ll;
    info[n++] = 0; /* no context */
    info[n++] = 1; /* the block counter */
    uint8_t block[EVP_MAX_MD_SIZE];
    unsigned got = 0;
    if ((size_t)EVP_MD_get_size(md) < len ||
        !HMAC(md, secret, (int)secret_len, info, n, block, &got) || got < len)
        return -1;
    memcpy(out, block, len);
    OPENSSL_cleanse(block, sizeof(block));
    return 0;
}

/* The key and IV of d from its secret; the sequence starts again. */
static int lite_keys(const sr_tls_lite *L, lite_dir *d) {
    d->seq = 0;
    if (expand_label(L->md, d->secret, L->secret_len, "key", d->key, L->key_len) < 0 ||
        expand_label(L->md, d->secret, L->secret_len, "iv", d->iv, 12) < 0)
        return -1;
    return 0;
}

/* The next traffic secret (KeyUpdate, RFC 8446 §7.2). */
static int lite_update(sr_tls_lite *L, lite_dir *d) {
    uint8_t next[48];
    if (expand_label(L->md, d->secret, L->secret_len, "traffic upd", next, L->secret_len) < 0) return -1;
    memcpy(d->secret, next, L->secret_len);
    OPENSSL_cleanse(next, sizeof(next));
    return lite_keys(L, d);
}

static void lite_nonce(const lite_dir *d, uint8_t nonce[12]) {
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++) nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

static void lite_free(sr_tls_lite *L) {
    if (!L) return;
    EVP_CIPHER_CTX_free(L->wctx);
    free(L->in);
    OPENSSL_cleanse(L, sizeof(*L));
    free(L);
}

static int lite_fail(sr_tls *t, const char *why) {
    if (t->failed) return -1;
    t->failed = 1;
    t->fail_reason = SR_TLS_FAIL_PROTOCOL;
    free(t->err);
    t->err = strdup(why);
    ERR_clear_error();
    return -1;
}

/* Seals one record of `len` plaintext bytes taken from iov (from *i, *off
 * on) with inner content type `type` into o (len + LITE_OVERHEAD bytes). */
static int lite_record_out(sr_tls_lite *L, uint8_t type, const struct iovec *iov, size_t *i, size_t *off,
                           size_t len, uint8_t *o) {
    size_t clen = len + 1 + LITE_TAG;
    o[0] = 23; /* application_data */
    o[1] = 3;
    o[2] = 3;
    o[3] = (uint8_t)(clen >> 8);
    o[4] = (uint8_t)clen;
    uint8_t nonce[12];
    lite_nonce(&L->wr, nonce);
    int outl = 0;
    if (!EVP_EncryptInit_ex2(L->wctx, NULL, NULL, nonce, NULL) ||
        !EVP_EncryptUpdate(L->wctx, NULL, &outl, o, 5))
        return -1;
    uint8_t *c = o + 5;
    size_t got = 0;
    while (got < len) {
        while (iov[*i].iov_len == *off) {
            (*i)++;
            *off = 0;
        }
        size_t take = iov[*i].iov_len - *off;
        if (take > len - got) take = len - got;
        if (!EVP_EncryptUpdate(L->wctx, c + got, &outl, (const uint8_t *)iov[*i].iov_base + *off, (int)take) ||
            (size_t)outl != take)
            return -1;
        got += take;
        *off += take;
    }
    if (!EVP_EncryptUpdate(L->wctx, c + len, &outl, &type, 1) || outl != 1 ||
        !EVP_EncryptFinal_ex(L->wctx, c + len + 1, &outl) || outl != 0 ||
        !EVP_CIPHER_CTX_ctrl(L->wctx, EVP_CTRL_AEAD_GET_TAG, LITE_TAG, c + len + 1))
        return -1;
    L->wr.seq++;
    return 0;
}

static ssize_t lite_seal(sr_tls *t, const struct iovec *iov, size_t n, uint8_t type) {
    sr_tls_lite *L = t->lite;
    size_t total = 0;
    for (size_t i = 0; i < n && total < SR_TLS_SEAL_MAX; i++) total += iov[i].iov_len;
    if (total > SR_TLS_SEAL_MAX) total = SR_TLS_SEAL_MAX;
    if (total == 0 && type == 23) return 0;
    size_t records = total ? (total + LITE_MAX_PLAIN - 1) / LITE_MAX_PLAIN : 1;
    if (out_reserve(t, total + records * LITE_OVERHEAD) < 0) return lite_fail(t, "out of memory");
    uint8_t *o = (uint8_t *)t->out + t->out_len;
    size_t i = 0, off = 0, left = total;
    do {
        size_t len = left < LITE_MAX_PLAIN ? left : LITE_MAX_PLAIN;
        if (lite_record_out(L, type, iov, &i, &off, len, o) < 0) return lite_fail(t, "TLS: sealing failed");
        o += len + LITE_OVERHEAD;
        left -= len;
    } while (left);
    t->out_len += total + records * LITE_OVERHEAD;
    return (ssize_t)total;
}

/* Opens one whole record (header included) into plain (its inner
 * content: *plen bytes, type *type). 0, or -1. */
static int lite_open(sr_tls_lite *L, const uint8_t *rec, size_t len, uint8_t *plain, size_t *plen,
                     uint8_t *type) {
    if (len < 5 + 1 + LITE_TAG) return -1;
    size_t clen = len - 5 - LITE_TAG;
    uint8_t nonce[12];
    lite_nonce(&L->rd, nonce);
    EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
    int outl = 0, fin = 0, ok = cx && EVP_DecryptInit_ex2(cx, L->cipher, L->rd.key, nonce, NULL) &&
                                EVP_DecryptUpdate(cx, NULL, &outl, rec, 5) &&
                                EVP_DecryptUpdate(cx, plain, &outl, rec + 5, (int)clen) &&
                                (size_t)outl == clen &&
                                EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_AEAD_SET_TAG, LITE_TAG,
                                                    (void *)(rec + 5 + clen)) &&
                                EVP_DecryptFinal_ex(cx, plain + clen, &fin);
    EVP_CIPHER_CTX_free(cx);
    if (!ok) return -1;
    L->rd.seq++;
    size_t k = clen; /* the inner type is the last non-zero byte */
    while (k > 0 && plain[k - 1] == 0) k--;
    if (k == 0) return -1;
    *type = plain[k - 1];
    *plen = k - 1;
    return 0;
}

/* Handshake messages after the handshake: only KeyUpdate. 0, or -1. */
static int lite_handshake(sr_tls *t, const uint8_t *p, size_t len) {
    sr_tls_lite *L = t->lite;
    while (len > 0) {
        if (len < 4) return -1;
        size_t mlen = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (p[0] != 24 /* key_update */ || mlen != 1 || len < 5 || p[4] > 1) return -1;
        if (lite_update(L, &L->rd) < 0) return -1;
        if (p[4] == 1) { /* update_requested: say ours, then use the next keys */
            static const uint8_t ku[5] = {24, 0, 0, 1, 0};
            struct iovec v = {(void *)ku, sizeof(ku)};
            if (lite_seal(t, &v, 1, 22) < 0 || lite_update(L, &L->wr) < 0 ||
                !EVP_EncryptInit_ex2(L->wctx, L->cipher, L->wr.key, NULL, NULL))
                return -1;
        }
        p += 5;
        len -= 5;
    }
    return 0;
}

static int lite_input(sr_tls *t, const char *in, size_t len, sr_tls_deliver deliver, void *ud) {
    sr_tls_lite *L = t->lite;
    const uint8_t *p = (const uint8_t *)in;
    size_t n = len;
    if (L->in_len) { /* after a partial record */
        uint8_t *grown = realloc(L->in, L->in_len + len);
        if (!grown) return lite_fail(t, "out of memory");
        memcpy(grown + L->in_len, in, len);
        L->in = grown;
        L->in_len += len;
        p = L->in;
        n = L->in_len;
    }
    uint8_t plain[LITE_MAX_PLAIN + 256];
    size_t used = 0;
    int rc = 0;
    while (rc == 0 && n - used >= 5) {
        const uint8_t *h = p + used;
        size_t rlen = (size_t)h[3] << 8 | h[4];
        if (h[0] != 23 || h[1] != 3 || rlen > LITE_MAX_PLAIN + 256)
            return lite_fail(t, "TLS: unexpected record after the handshake");
        if (n - used < 5 + rlen) break;
        size_t plen = 0;
        uint8_t type = 0;
        if (lite_open(L, h, 5 + rlen, plain, &plen, &type) < 0) return lite_fail(t, "TLS: bad record mac");
        used += 5 + rlen;
        if (type == 23) {
            if (plen && deliver && deliver(ud, (const char *)plain, plen) != 0) rc = 2;
        } else if (type == 21) { /* an alert: close_notify ends it, anything else fails it */
            if (plen != 2) return lite_fail(t, "TLS: malformed alert");
            if (plain[1] == 0) rc = 1;
            else return lite_fail(t, "TLS: the peer sent a fatal alert");
        } else if (type != 22 || lite_handshake(t, plain, plen) < 0) {
            return lite_fail(t, "TLS: unexpected message after the handshake");
        }
    }
    size_t rest = n - used;
    if (rest == 0) {
        free(L->in);
        L->in = NULL;
        L->in_len = 0;
    } else if (p == L->in) {
        memmove(L->in, L->in + used, rest);
        L->in_len = rest;
    } else {
        L->in = malloc(rest);
        if (!L->in) return lite_fail(t, "out of memory");
        memcpy(L->in, p + used, rest);
        L->in_len = rest;
    }
    if (t->oom) return lite_fail(t, "out of memory");
    return rc == 2 ? 0 : rc;
}

/* The key log callback: keeps the application traffic secrets of a
 * server session until it goes compact. */
static void on_keylog(const SSL *ssl, const char *line) {
    sr_tls *t = SSL_get_app_data(ssl);
    if (!t || t->no_lite) return;
    bool client = strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0;
    if (!client && strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) != 0) return;
    const char *hex = strchr(line + 24, ' ');
    if (!hex) return;
    hex++;
    size_t hl = strlen(hex);
    if (hl % 2 || hl / 2 > 48) return;
    if (!t->secrets && !(t->secrets = calloc(1, sizeof(*t->secrets)))) return;
    uint8_t *dst = client ? t->secrets->client : t->secrets->server;
    for (size_t i = 0; i < hl; i++) {
        char ch = hex[i];
        int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
              : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
        if (v < 0) return;
        dst[i / 2] = (uint8_t)(i % 2 ? (dst[i / 2] << 4) | v : v);
    }
    if (client) t->secrets->client_len = (uint8_t)(hl / 2);
    else t->secrets->server_len = (uint8_t)(hl / 2);
}

/* The message callback: counts the application records each way. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                   void *arg) {
    (void)version;
    (void)arg;
    sr_tls *t = SSL_get_app_data(ssl);
    if (!t) return;
    if (content_type == SSL3_RT_HEADER) {
        if (write_p && t->wr_app) t->wr_records++;
        if (!write_p && t->rd_app) t->rd_records++;
    } else if (content_type == SSL3_RT_HANDSHAKE && len > 0) {
        uint8_t type = *(const uint8_t *)buf;
        if (type == SSL3_MT_FINISHED) {
            if (write_p) t->wr_app = 1;
            else t->rd_app = 1;
        } else if (type == SSL3_MT_KEY_UPDATE) {
            t->no_lite = 1;
        }
    }
}

static void secrets_free(sr_tls *t) {
    if (!t->secrets) return;
    OPENSSL_cleanse(t->secrets, sizeof(*t->secrets));
    free(t->secrets);
    t->secrets = NULL;
}

/* Drops the SSL object of a finished TLS 1.3 server session when nothing
 * of it is left half-done; otherwise leaves it as it is. */
static void try_compact(sr_tls *t) {
    if (t->lite || t->no_lite || t->failed || !t->ctx->server || !t->wr_app || !t->rd_app) return;
    SSL *ssl = t->ssl;
    if (!SSL_is_init_finished(ssl)) return;
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    uint16_t suite = c ? (uint16_t)(SSL_CIPHER_get_id(c) & 0xffff) : 0;
    const EVP_CIPHER *cipher = suite == 0x1301 ? lite_aes128 : suite == 0x1302 ? lite_aes256
                             : suite == 0x1303 ? lite_chacha : NULL;
    if (SSL_version(ssl) != TLS1_3_VERSION || !cipher || !t->secrets || !t->secrets->client_len ||
        t->secrets->client_len != t->secrets->server_len || SSL_get_shutdown(ssl)) {
        t->no_lite = 1;
        secrets_free(t);
        return;
    }
    if (SSL_has_pending(ssl) || BIO_ctrl_pending(t->rbio)) return; /* a partial record: later */
    sr_tls_lite *L = calloc(1, sizeof(*L));
    if (!L) return;
    L->cipher = cipher;
    L->md = suite == 0x1302 ? EVP_sha384() : EVP_sha256();
    L->key_len = suite == 0x1301 ? 16 : 32;
    L->secret_len = t->secrets->client_len;
    memcpy(L->rd.secret, t->secrets->client, L->secret_len);
    memcpy(L->wr.secret, t->secrets->server, L->secret_len);
    if (lite_keys(L, &L->rd) < 0 || lite_keys(L, &L->wr) < 0 || !(L->wctx = EVP_CIPHER_CTX_new()) ||
        !EVP_EncryptInit_ex2(L->wctx, cipher, L->wr.key, NULL, NULL)) {
        lite_free(L);
        ERR_clear_error();
        return;
    }
    L->rd.seq = t->rd_records;
    L->wr.seq = t->wr_records;
    const unsigned char *alpn = NULL;
    unsigned alen = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alen);
    if (alpn && alen < sizeof(t->alpn)) {
        memcpy(t->alpn, alpn, alen);
        t->alpn[alen] = 0;
    }
    t->resumed = SSL_session_reused(ssl) ? 1 : 0;
    secrets_free(t);
    SSL_free(ssl); /* and both BIOs */
    t->ssl = NULL;
    t->rbio = NULL;
    t->lite = L;
    ERR_clear_error();
}

bool sr_tls_compact(const sr_tls *t) {
    return t->lite != NULL;
}

int sr_tls_input(sr_tls *t, const char *in, size_t len, sr_tls_deliver deliver, void *ud) {
    if (t->failed) return -1;
    if (t->lite) return lite_input(t, in, len, deliver, ud);
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
                try_compact(t);
                return 0;
            }
            continue;
        }
        int e = SSL_get_error(t->ssl, 0);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (t->oom) return fail(t);
            try_compact(t); /* all read: the SSL object may go */
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
    if (t->lite) return lite_seal(t, iov, n, 23);
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

size_t sr_tls_pending(const sr_tls *t, const char **p) {
    *p = t->out + t->out_off;
    return t->out_len - t->out_off;
}

void sr_tls_sent(sr_tls *t, size_t n) {
    t->out_off += n;
    if (t->out_off < t->out_len) return;
    free(t->out); /* drained: an idle session holds no buffer */
    t->out = NULL;
    t->out_off = t->out_len = t->out_cap = 0;
}

void sr_tls_close(sr_tls *t) {
    if (t->failed) return;
    if (t->lite) {
        static const uint8_t close_notify[2] = {1, 0}; /* warning, close_notify */
        struct iovec v = {(void *)close_notify, sizeof(close_notify)};
        lite_seal(t, &v, 1, 21);
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
