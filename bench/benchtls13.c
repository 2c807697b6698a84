/* SPDX-License-Identifier: MIT */
/*
 * benchtls13.c: the minimal TLS 1.3 client of benchtls13.h.
 *
 * One connection: the ClientHello goes out with a fresh X25519 key; the
 * server's records are read into one buffer and taken a record at a time
 * (plaintext up to the ServerHello, then AES-128-GCM with the handshake
 * keys, then the application keys); handshake messages are gathered across
 * records and handled in order (ServerHello, EncryptedExtensions,
 * Certificate, CertificateVerify, Finished), each added to a running
 * SHA-256 transcript. After the server Finished checks out, the client
 * Finished is queued and the keys switch to the application keys; the first
 * write sends the Finished and the request in one write(). A resumed
 * handshake offers the ticket's PSK (its binder over the ClientHello up to
 * the binders) and, when the server takes it, starts the key schedule from
 * that PSK and goes from EncryptedExtensions to Finished. NewSessionTickets
 * after the handshake become the connection's newest session (PSK from the
 * resumption master secret and the ticket's nonce).
 *
 * Where the CPU goes: the per-process context holds what OpenSSL would
 * otherwise look up per connection (the AES-GCM cipher contexts, the X25519
 * key generation context, the key schedule's constant first steps, the
 * server's decoded EC key with the certificate bytes it came from). SHA-256,
 * HMAC and ECDSA use the low-level calls (no provider fetch per use).
 */
/* SHA256_*, EC_KEY and ECDSA_verify are deprecated in 3.0 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "benchtls13.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchtls.h"

enum {
    REC_MAX = 5 + 16384 + 256, /* a TLSCiphertext at its largest */
    /* a streams context's read buffer: a server's write of several records
     * (sserooms seals up to 64 KiB per write) comes in with one read() */
    IN_CAP_STREAMS = 4 * REC_MAX,
    HS_MAX = 64 * 1024, /* a handshake message (the certificate chain) */
};

enum { S_HELLO, S_EE, S_CERT, S_CV, S_FIN, S_APP, S_BROKEN };

struct btls13_ctx {
    EVP_CIPHER_CTX *seal, *open; /* AES-128-GCM, re-keyed per record (open: up to
                                    the application key, see btls13.app_open) */
    EVP_PKEY_CTX *keygen;        /* X25519 */
    uint8_t derived0[32];        /* Derive-Secret(Early Secret (no PSK), "derived", "") */
    uint8_t alpn[64];            /* the ALPN extension, ready to send */
    size_t alpn_len;
    size_t in_cap;     /* each connection's read buffer */
    uint8_t *cert_der; /* the last server certificate, and its key */
    size_t cert_len;
    EC_KEY *cert_key;
};

struct btls13_session {
    uint8_t psk[32];
    uint32_t age_add;
    uint64_t received_ms; /* CLOCK_MONOTONIC */
    size_t ticket_len;
    uint8_t ticket[]; /* the server's opaque ticket */
};

typedef struct traffic {
    uint8_t key[16], iv[12];
    uint64_t seq;
} traffic;

struct btls13 {
    btls13_ctx *ctx;
    int fd, state;
    EVP_PKEY *eph; /* our X25519 key */
    SHA256_CTX transcript;
    uint8_t c_hs[32], s_hs[32], hs_secret[32];
    uint8_t early_derived[32]; /* Derive-Secret(Early Secret with the offered PSK, "derived", "") */
    uint8_t res_master[32];    /* resumption_master_secret, for the tickets */
    traffic rd, wr;
    int rd_on;                /* server records are encrypted */
    EVP_CIPHER_CTX *app_open; /* from the server Finished on: keyed once with
                                 the application key (the shared context is
                                 re-keyed per record: about 0.5 us each) */
    int offered;              /* a PSK was offered */
    int resumed;              /* and the server took it */
    btls13_session *newest;   /* the newest ticket the server sent */
    uint8_t *in;
    size_t in_cap;
    size_t in_len, in_off;     /* raw records read; in_off: the first not taken */
    size_t pend_off, pend_len; /* application data decrypted, not yet returned */
    uint8_t *hs;
    size_t hs_len, hs_cap;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
};

/* --- hashing and the key schedule ----------------------------------------- */

static void hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *m1, size_t l1,
                        const uint8_t *m2, size_t l2, uint8_t out[32]) {
    uint8_t pad[64], inner[32];
    SHA256_CTX h;
    memset(pad, 0, sizeof(pad));
    memcpy(pad, key, key_len); /* key_len <= 32 here */
    for (int i = 0; i < 64; i++) pad[i] ^= 0x36;
    SHA256_Init(&h);
    SHA256_Update(&h, pad, 64);
    if (l1) SHA256_Update(&h, m1, l1);
    if (l2) SHA256_Update(&h, m2, l2);
    SHA256_Final(inner, &h);
    for (int i = 0; i < 64; i++) pad[i] ^= 0x36 ^ 0x5c;
    SHA256_Init(&h);
    SHA256_Update(&h, pad, 64);
    SHA256_Update(&h, inner, 32);
    SHA256_Final(out, &h);
}

void btls13_expand_label(const uint8_t secret[32], const char *label, const uint8_t *context,
                         size_t context_len, uint8_t *out, size_t out_len) {
    uint8_t info[2 + 1 + 6 + 255 + 1 + 255 + 1], t[32];
    size_t ll = strlen(label), n = 0;
    info[n++] = 0;
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(6 + ll);
    memcpy(info + n, "tls13 ", 6);
    memcpy(info + n + 6, label, ll);
    n += 6 + ll;
    info[n++] = (uint8_t)context_len;
    if (context_len) memcpy(info + n, context, context_len);
    n += context_len;
    info[n++] = 1; /* T(1): out_len <= 32 needs one block */
    hmac_sha256(secret, 32, info, n, NULL, 0, t);
    memcpy(out, t, out_len);
}

static void transcript_hash(const btls13 *t, uint8_t out[32]) {
    SHA256_CTX copy = t->transcript;
    SHA256_Final(out, &copy);
}

static void set_traffic(traffic *tr, const uint8_t secret[32]) {
    btls13_expand_label(secret, "key", NULL, 0, tr->key, 16);
    btls13_expand_label(secret, "iv", NULL, 0, tr->iv, 12);
    tr->seq = 0;
}

static void nonce_of(const traffic *tr, uint8_t nonce[12]) {
    memcpy(nonce, tr->iv, 12);
    for (int i = 0; i < 8; i++) nonce[11 - i] ^= (uint8_t)(tr->seq >> (8 * i));
}

/* --- context ---------------------------------------------------------------- */

btls13_ctx *btls13_ctx_new(const char *alpn) {
    btls13_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return NULL;
    ctx->in_cap = REC_MAX;
    ctx->seal = EVP_CIPHER_CTX_new();
    ctx->open = EVP_CIPHER_CTX_new();
    ctx->keygen = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
    EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    int ok = ctx->seal && ctx->open && ctx->keygen && aes &&
             EVP_EncryptInit_ex2(ctx->seal, aes, NULL, NULL, NULL) == 1 &&
             EVP_DecryptInit_ex2(ctx->open, aes, NULL, NULL, NULL) == 1 &&
             EVP_PKEY_keygen_init(ctx->keygen) == 1;
    EVP_CIPHER_free(aes); /* the cipher contexts keep their references */
    size_t alen = alpn ? strlen(alpn) : 0;
    if (!ok || alen > sizeof(ctx->alpn) - 7) {
        btls13_ctx_free(ctx);
        ERR_clear_error();
        return NULL;
    }
    /* Early Secret = HKDF-Extract(0, 0); then its "derived" secret: the same
     * for every handshake without a PSK */
    uint8_t zeros[32] = {0}, early[32], empty_hash[32];
    hmac_sha256(zeros, 32, zeros, 32, NULL, 0, early);
    SHA256((const uint8_t *)"", 0, empty_hash);
    btls13_expand_label(early, "derived", empty_hash, 32, ctx->derived0, 32);
    if (alen) { /* extension 16: list length, then one length-prefixed name */
        uint8_t *a = ctx->alpn;
        a[0] = 0;
        a[1] = 16;
        a[2] = 0;
        a[3] = (uint8_t)(alen + 3);
        a[4] = 0;
        a[5] = (uint8_t)(alen + 1);
        a[6] = (uint8_t)alen;
        memcpy(a + 7, alpn, alen);
        ctx->alpn_len = 7 + alen;
    }
    return ctx;
}

void btls13_ctx_free(btls13_ctx *ctx) {
    if (!ctx) return;
    EVP_CIPHER_CTX_free(ctx->seal);
    EVP_CIPHER_CTX_free(ctx->open);
    EVP_PKEY_CTX_free(ctx->keygen);
    EC_KEY_free(ctx->cert_key);
    free(ctx->cert_der);
    free(ctx);
}

/* --- output ------------------------------------------------------------------ */

static int out_reserve(btls13 *t, size_t more) {
    if (t->out_off == t->out_len) t->out_off = t->out_len = 0;
    if (t->out_len + more <= t->out_cap) return 0;
    size_t cap = t->out_cap ? t->out_cap : 1024;
    while (cap < t->out_len + more) cap *= 2;
    uint8_t *p = realloc(t->out, cap);
    if (!p) return -1;
    t->out = p;
    t->out_cap = cap;
    return 0;
}

/* 1 all sent, 0 the socket is full, -1 broken */
static int flush(btls13 *t) {
    while (t->out_off < t->out_len) {
        ssize_t w = write(t->fd, t->out + t->out_off, t->out_len - t->out_off);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ENOTCONN) return 0;
            return -1;
        }
        t->out_off += (size_t)w;
    }
    return 1;
}

/* Appends one encrypted record of inner type `type` carrying data. */
static int seal_record(btls13 *t, uint8_t type, const uint8_t *data, size_t len) {
    if (out_reserve(t, 5 + len + 1 + 16) < 0) return -1;
    uint8_t *rec = t->out + t->out_len, nonce[12];
    size_t clen = len + 1 + 16;
    rec[0] = 0x17;
    rec[1] = 3;
    rec[2] = 3;
    rec[3] = (uint8_t)(clen >> 8);
    rec[4] = (uint8_t)clen;
    nonce_of(&t->wr, nonce);
    EVP_CIPHER_CTX *c = t->ctx->seal;
    int n1 = 0, n2 = 0, n3 = 0;
    if (EVP_EncryptInit_ex2(c, NULL, t->wr.key, nonce, NULL) != 1 ||
        EVP_EncryptUpdate(c, NULL, &n1, rec, 5) != 1 ||
        EVP_EncryptUpdate(c, rec + 5, &n2, data, (int)len) != 1 ||
        EVP_EncryptUpdate(c, rec + 5 + n2, &n3, &type, 1) != 1 ||
        EVP_EncryptFinal_ex(c, rec + 5 + n2 + n3, &n1) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, rec + 5 + len + 1) != 1)
        return -1;
    t->wr.seq++;
    t->out_len += 5 + clen;
    return 0;
}

static void put16(uint8_t *p, size_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put24(uint8_t *p, size_t v) {
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The ClientHello, in the output and the transcript; offering session
 * `offer` (pre_shared_key, the last extension, with its binder) when not
 * NULL. */
static int client_hello(btls13 *t, const char *host, const btls13_session *offer) {
    uint8_t pub[32];
    size_t pub_len = sizeof(pub);
    if (EVP_PKEY_keygen(t->ctx->keygen, &t->eph) != 1 ||
        EVP_PKEY_get_raw_public_key(t->eph, pub, &pub_len) != 1 || pub_len != 32)
        return -1;
    size_t host_len = host && strspn(host, "0123456789.") != strlen(host) ? strlen(host) : 0;
    size_t psk_room = offer ? 4 + 2 + 2 + offer->ticket_len + 4 + 2 + 1 + 32 : 0;
    if (host_len > 255 || out_reserve(t, 512 + psk_room) < 0) return -1;
    uint8_t *r = t->out + t->out_len, *m = r + 5, *p = m + 4;
    *p++ = 3; /* legacy_version TLS 1.2 */
    *p++ = 3;
    if (RAND_bytes(p, 32) != 1) return -1;
    p += 32;
    *p++ = 0; /* no legacy_session_id (no middlebox compatibility mode) */
    static const uint8_t fixed[] = {
        0, 2, 0x13, 0x01, /* cipher_suites: TLS_AES_128_GCM_SHA256 */
        1, 0,             /* compression: null */
    };
    memcpy(p, fixed, sizeof(fixed));
    p += sizeof(fixed);
    uint8_t *ext_len = p;
    p += 2;
    static const uint8_t exts[] = {
        0x00, 0x0a, 0, 4, 0, 2, 0x00, 0x1d, /* supported_groups: x25519 */
        0x00, 0x0d, 0, 4, 0, 2, 0x04, 0x03, /* signature_algorithms: ecdsa_secp256r1_sha256 */
        0x00, 0x2b, 0, 3, 2, 0x03, 0x04,    /* supported_versions: TLS 1.3 */
        /* psk_key_exchange_modes: psk_dhe_ke, as browsers send it, so the
         * server issues its session tickets as it would to them */
        0x00, 0x2d, 0, 2, 1, 0x01, 0x00, 0x33, 0, 38, 0, 36, 0x00, 0x1d, 0,
        32, /* key_share: x25519, then the key */
    };
    memcpy(p, exts, sizeof(exts));
    p += sizeof(exts);
    memcpy(p, pub, 32);
    p += 32;
    if (host_len) { /* server_name: list, one host_name entry */
        put16(p, 0);
        put16(p + 2, host_len + 5);
        put16(p + 4, host_len + 3);
        p[6] = 0;
        put16(p + 7, host_len);
        memcpy(p + 9, host, host_len);
        p += 9 + host_len;
    }
    memcpy(p, t->ctx->alpn, t->ctx->alpn_len);
    p += t->ctx->alpn_len;
    uint8_t *binder = NULL;
    if (offer) { /* pre_shared_key: one identity, one binder */
        size_t il = 2 + offer->ticket_len + 4;
        put16(p, 41);
        put16(p + 2, 2 + il + 2 + 1 + 32);
        put16(p + 4, il);
        put16(p + 6, offer->ticket_len);
        memcpy(p + 8, offer->ticket, offer->ticket_len);
        p += 8 + offer->ticket_len;
        uint32_t age = (uint32_t)(mono_ms() - offer->received_ms) + offer->age_add;
        p[0] = (uint8_t)(age >> 24);
        p[1] = (uint8_t)(age >> 16);
        p[2] = (uint8_t)(age >> 8);
        p[3] = (uint8_t)age;
        p += 4;
        put16(p, 1 + 32);
        p[2] = 32;
        binder = p + 3;
        p += 3 + 32;
    }
    put16(ext_len, (size_t)(p - ext_len - 2));
    size_t body = (size_t)(p - m - 4);
    m[0] = 1;
    put24(m + 1, body);
    r[0] = 0x16;
    r[1] = 3;
    r[2] = 1;
    put16(r + 3, body + 4);
    if (offer) { /* the binder: over the ClientHello up to the binders list */
        uint8_t early[32], zeros[32] = {0}, empty_hash[32], binder_key[32], fk[32], th[32];
        SHA256((const uint8_t *)"", 0, empty_hash);
        hmac_sha256(zeros, 32, offer->psk, 32, NULL, 0, early);
        btls13_expand_label(early, "res binder", empty_hash, 32, binder_key, 32);
        btls13_expand_label(binder_key, "finished", NULL, 0, fk, 32);
        SHA256(m, (size_t)(binder - 3 - m), th);
        hmac_sha256(fk, 32, th, 32, NULL, 0, binder);
        btls13_expand_label(early, "derived", empty_hash, 32, t->early_derived, 32);
        t->offered = 1;
    }
    SHA256_Update(&t->transcript, m, body + 4);
    t->out_len += (size_t)(p - r);
    return 0;
}

btls13 *btls13_new(btls13_ctx *ctx, int fd, const char *host, const btls13_session *offer) {
    btls13 *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->ctx = ctx;
    t->fd = fd;
    t->in_cap = ctx->in_cap;
    t->in = malloc(t->in_cap);
    /* touched now: its pages' first-touch faults would otherwise land in
     * the measurement, as reads grow under load */
    if (t->in && t->in_cap > REC_MAX) memset(t->in, 0, t->in_cap);
    SHA256_Init(&t->transcript);
    if (!t->in || client_hello(t, host, offer) < 0) {
        btls13_free(t);
        ERR_clear_error();
        return NULL;
    }
    return t;
}

void btls13_free(btls13 *t) {
    if (!t) return;
    EVP_PKEY_free(t->eph);
    EVP_CIPHER_CTX_free(t->app_open);
    OPENSSL_cleanse(t->c_hs, sizeof(t->c_hs));
    OPENSSL_cleanse(t->s_hs, sizeof(t->s_hs));
    free(t->in);
    free(t->hs);
    free(t->out);
    free(t->newest);
    free(t);
}

int btls13_resumed(const btls13 *t) {
    return t->resumed;
}

btls13_session *btls13_session_take(btls13 *t, btls13_session *old) {
    if (!t || !t->newest) return old;
    free(old);
    btls13_session *s = t->newest;
    t->newest = NULL;
    return s;
}

void btls13_session_free(btls13_session *s) {
    free(s);
}

/* --- the server's handshake messages ----------------------------------------- */

static int server_hello(btls13 *t, const uint8_t *b, size_t len) {
    /* HelloRetryRequest's "random": SHA-256("HelloRetryRequest") */
    static const uint8_t hrr[32] = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11,
                                    0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
                                    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e,
                                    0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
    if (len < 2 + 32 + 1) return -1;
    if (memcmp(b + 2, hrr, 32) == 0) return -1;
    size_t p = 34, sid = b[p++];
    if (p + sid + 2 + 1 + 2 > len) return -1;
    p += sid;
    if (b[p] != 0x13 || b[p + 1] != 0x01 || b[p + 2] != 0) return -1;
    p += 3;
    size_t ext_end = p + 2 + ((size_t)b[p] << 8 | b[p + 1]);
    p += 2;
    if (ext_end > len) return -1;
    int tls13 = 0, psk = 0;
    const uint8_t *peer = NULL;
    while (p + 4 <= ext_end) {
        unsigned type = (unsigned)b[p] << 8 | b[p + 1];
        size_t el = (size_t)b[p + 2] << 8 | b[p + 3];
        p += 4;
        if (p + el > ext_end) return -1;
        if (type == 0x2b && el == 2 && b[p] == 3 && b[p + 1] == 4) tls13 = 1;
        if (type == 0x33 && el == 36 && b[p] == 0 && b[p + 1] == 0x1d && b[p + 2] == 0 &&
            b[p + 3] == 32)
            peer = b + p + 4;
        if (type == 41) { /* pre_shared_key: the one identity offered */
            if (!t->offered || el != 2 || b[p] != 0 || b[p + 1] != 0) return -1;
            psk = 1;
        }
        p += el;
    }
    if (!tls13 || !peer) return -1;
    t->resumed = psk;
    /* the shared secret (OpenSSL refuses an all-zero X25519 result) */
    uint8_t shared[32];
    size_t shared_len = sizeof(shared);
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer, 32);
    EVP_PKEY_CTX *d = pk ? EVP_PKEY_CTX_new_from_pkey(NULL, t->eph, NULL) : NULL;
    int ok = d && EVP_PKEY_derive_init(d) == 1 && EVP_PKEY_derive_set_peer(d, pk) == 1 &&
             EVP_PKEY_derive(d, shared, &shared_len) == 1 && shared_len == 32;
    EVP_PKEY_CTX_free(d);
    EVP_PKEY_free(pk);
    if (!ok) return -1;
    hmac_sha256(psk ? t->early_derived : t->ctx->derived0, 32, shared, 32, NULL, 0, t->hs_secret);
    OPENSSL_cleanse(shared, sizeof(shared));
    uint8_t th[32];
    transcript_hash(t, th); /* ClientHello..ServerHello */
    btls13_expand_label(t->hs_secret, "c hs traffic", th, 32, t->c_hs, 32);
    btls13_expand_label(t->hs_secret, "s hs traffic", th, 32, t->s_hs, 32);
    set_traffic(&t->rd, t->s_hs);
    set_traffic(&t->wr, t->c_hs);
    t->rd_on = 1;
    return 0;
}

/* The end-entity certificate's key: the cached one while the bytes match. */
static int certificate(btls13 *t, const uint8_t *b, size_t len) {
    if (len < 1 || (size_t)1 + b[0] + 3 + 3 > len) return -1;
    size_t p = 1 + b[0] + 3; /* request context, then the list's length */
    size_t cl = (size_t)b[p] << 16 | (size_t)b[p + 1] << 8 | b[p + 2];
    p += 3;
    if (cl == 0 || p + cl > len) return -1;
    const uint8_t *der = b + p;
    btls13_ctx *ctx = t->ctx;
    if (ctx->cert_key && ctx->cert_len == cl && memcmp(ctx->cert_der, der, cl) == 0) return 0;
    const uint8_t *q = der;
    X509 *x = d2i_X509(NULL, &q, (long)cl);
    EVP_PKEY *pk = x ? X509_get0_pubkey(x) : NULL;
    EC_KEY *ec = pk && EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC ? EVP_PKEY_get1_EC_KEY(pk) : NULL;
    X509_free(x);
    if (!ec || EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) != NID_X9_62_prime256v1) {
        EC_KEY_free(ec);
        ERR_clear_error();
        return -1;
    }
    uint8_t *copy = malloc(cl);
    if (!copy) {
        EC_KEY_free(ec);
        return -1;
    }
    memcpy(copy, der, cl);
    free(ctx->cert_der);
    EC_KEY_free(ctx->cert_key);
    ctx->cert_der = copy;
    ctx->cert_len = cl;
    ctx->cert_key = ec;
    return 0;
}

static int certificate_verify(btls13 *t, const uint8_t *b, size_t len) {
    if (len < 4 || b[0] != 0x04 || b[1] != 0x03) return -1; /* ecdsa_secp256r1_sha256 */
    size_t sl = (size_t)b[2] << 8 | b[3];
    if (4 + sl != len) return -1;
    static const char context[] = "TLS 1.3, server CertificateVerify";
    uint8_t content[64 + sizeof(context) + 32], digest[32];
    memset(content, 0x20, 64);
    memcpy(content + 64, context, sizeof(context)); /* with its 0 byte */
    transcript_hash(t, content + 64 + sizeof(context));
    SHA256(content, sizeof(content), digest);
    int ok = ECDSA_verify(0, digest, 32, b + 4, (int)sl, t->ctx->cert_key) == 1;
    ERR_clear_error();
    return ok ? 0 : -1;
}

/* The server Finished; then the client's is queued and the keys switch. */
static int server_finished(btls13 *t, const uint8_t *b, size_t len, const uint8_t *msg,
                           size_t msg_len) {
    uint8_t th[32], fk[32], want[32];
    transcript_hash(t, th); /* ..CertificateVerify */
    btls13_expand_label(t->s_hs, "finished", NULL, 0, fk, 32);
    hmac_sha256(fk, 32, th, 32, NULL, 0, want);
    if (len != 32 || CRYPTO_memcmp(want, b, 32) != 0) return -1;
    SHA256_Update(&t->transcript, msg, msg_len);
    transcript_hash(t, th); /* ..server Finished */
    uint8_t derived[32], master[32], zeros[32] = {0}, c_ap[32], s_ap[32], empty_hash[32];
    SHA256((const uint8_t *)"", 0, empty_hash);
    btls13_expand_label(t->hs_secret, "derived", empty_hash, 32, derived, 32);
    hmac_sha256(derived, 32, zeros, 32, NULL, 0, master);
    btls13_expand_label(master, "c ap traffic", th, 32, c_ap, 32);
    btls13_expand_label(master, "s ap traffic", th, 32, s_ap, 32);
    uint8_t fin[4 + 32] = {20, 0, 0, 32};
    btls13_expand_label(t->c_hs, "finished", NULL, 0, fk, 32);
    hmac_sha256(fk, 32, th, 32, NULL, 0, fin + 4);
    if (seal_record(t, 0x16, fin, sizeof(fin)) < 0) return -1;
    SHA256_Update(&t->transcript, fin, sizeof(fin));
    transcript_hash(t, th); /* ..client Finished */
    btls13_expand_label(master, "res master", th, 32, t->res_master, 32);
    set_traffic(&t->wr, c_ap);
    set_traffic(&t->rd, s_ap);
    OPENSSL_cleanse(master, sizeof(master));
    OPENSSL_cleanse(c_ap, sizeof(c_ap));
    OPENSSL_cleanse(s_ap, sizeof(s_ap));
    if (!(t->app_open = EVP_CIPHER_CTX_new()) ||
        EVP_DecryptInit_ex2(t->app_open, EVP_CIPHER_CTX_get0_cipher(t->ctx->open), t->rd.key, NULL,
                            NULL) != 1) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* Keeps the ticket as the connection's newest session. */
static int new_session_ticket(btls13 *t, const uint8_t *b, size_t len) {
    if (len < 4 + 4 + 1) return -1;
    uint32_t age_add = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
    size_t nl = b[8], p = 9 + nl;
    if (p + 2 > len) return -1;
    const uint8_t *nonce = b + 9;
    size_t tl = (size_t)b[p] << 8 | b[p + 1];
    p += 2;
    if (tl == 0 || p + tl + 2 > len) return -1;
    btls13_session *s = malloc(sizeof(*s) + tl);
    if (!s) return -1;
    btls13_expand_label(t->res_master, "resumption", nonce, nl, s->psk, 32);
    s->age_add = age_add;
    s->received_ms = mono_ms();
    s->ticket_len = tl;
    memcpy(s->ticket, b + p, tl);
    free(t->newest);
    t->newest = s;
    return 0;
}

/* One whole handshake message (with its 4-byte header). */
static int handshake_message(btls13 *t, const uint8_t *msg, size_t len) {
    uint8_t type = msg[0];
    const uint8_t *b = msg + 4;
    size_t bl = len - 4;
    int rc = -1;
    switch (t->state) {
    case S_HELLO:
        if (type != 2) return -1;
        SHA256_Update(&t->transcript, msg, len);
        rc = server_hello(t, b, bl);
        t->state = S_EE;
        return rc;
    case S_EE: /* a resumed handshake has no Certificate */
        rc = type == 8 ? 0 : -1;
        t->state = t->resumed ? S_FIN : S_CERT;
        break;
    case S_CERT: /* a CertificateRequest (13) is not supported */
        rc = type == 11 ? certificate(t, b, bl) : -1;
        t->state = S_CV;
        break;
    case S_CV:
        rc = type == 15 ? certificate_verify(t, b, bl) : -1;
        t->state = S_FIN;
        break;
    case S_FIN:
        if (type != 20 || server_finished(t, b, bl, msg, len) < 0) return -1;
        t->state = S_APP;
        return 0;
    case S_APP: /* KeyUpdate is not supported */
        return type == 4 ? new_session_ticket(t, b, bl) : -1;
    default: return -1;
    }
    if (rc == 0) SHA256_Update(&t->transcript, msg, len);
    return rc;
}

static int handshake_bytes(btls13 *t, const uint8_t *p, size_t n) {
    if (t->hs_len + n > HS_MAX) return -1;
    if (t->hs_len + n > t->hs_cap) {
        size_t cap = t->hs_cap ? t->hs_cap : 4096;
        while (cap < t->hs_len + n) cap *= 2;
        uint8_t *q = realloc(t->hs, cap);
        if (!q) return -1;
        t->hs = q;
        t->hs_cap = cap;
    }
    memcpy(t->hs + t->hs_len, p, n);
    t->hs_len += n;
    size_t off = 0;
    while (t->hs_len - off >= 4) {
        const uint8_t *m = t->hs + off;
        size_t ml = 4 + ((size_t)m[1] << 16 | (size_t)m[2] << 8 | m[3]);
        if (ml > HS_MAX) return -1;
        if (t->hs_len - off < ml) break;
        int was_plain = !t->rd_on;
        if (handshake_message(t, m, ml) < 0) return -1;
        off += ml;
        /* the keys change at the ServerHello: nothing may follow it in its record */
        if (was_plain && t->hs_len != off) return -1;
    }
    memmove(t->hs, t->hs + off, t->hs_len - off);
    t->hs_len -= off;
    return 0;
}

/* --- records ------------------------------------------------------------------ */

/* Takes the next whole record out of t->in: 1 with its (decrypted) content
 * type and payload, 0 when none is whole yet, -1 on a bad record. */
static int next_record(btls13 *t, uint8_t *type, uint8_t **payload, size_t *len) {
    if (t->in_len - t->in_off < 5) return 0;
    uint8_t *r = t->in + t->in_off;
    size_t rl = (size_t)r[3] << 8 | r[4];
    if (rl > REC_MAX - 5) return -1;
    if (t->in_len - t->in_off < 5 + rl) return 0;
    t->in_off += 5 + rl;
    *type = r[0];
    *payload = r + 5;
    *len = rl;
    if (r[0] == 0x14) return t->state < S_APP ? 1 : -1; /* ChangeCipherSpec: ignored */
    if (!t->rd_on) return r[0] == 0x16 || r[0] == 0x15 ? 1 : -1;
    if (r[0] != 0x17 || rl < 17) return -1;
    uint8_t nonce[12];
    nonce_of(&t->rd, nonce);
    /* the connection's own context once keyed, else the shared one */
    EVP_CIPHER_CTX *c = t->app_open ? t->app_open : t->ctx->open;
    const uint8_t *key = t->app_open ? NULL : t->rd.key;
    int n1 = 0, n2 = 0;
    size_t cl = rl - 16;
    if (EVP_DecryptInit_ex2(c, NULL, key, nonce, NULL) != 1 ||
        EVP_DecryptUpdate(c, NULL, &n1, r, 5) != 1 ||
        EVP_DecryptUpdate(c, r + 5, &n2, r + 5, (int)cl) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, r + 5 + cl) != 1 ||
        EVP_DecryptFinal_ex(c, r + 5 + n2, &n1) != 1) {
        ERR_clear_error();
        return -1;
    }
    t->rd.seq++;
    while (cl > 0 && r[5 + cl - 1] == 0) cl--; /* the padding */
    if (cl == 0) return -1;
    *type = r[5 + cl - 1];
    *len = cl - 1;
    return 1;
}

/* Reads what the socket holds: 1 read some, 0 nothing now, -1 broken or
 * ended (*eof set at a clean end). */
static int fill(btls13 *t, int *eof) {
    if (t->in_off > 0) { /* keep only the unprocessed tail */
        memmove(t->in, t->in + t->in_off, t->in_len - t->in_off);
        t->in_len -= t->in_off;
        t->in_off = 0;
    }
    if (t->in_len == t->in_cap) return -1;
    ssize_t n = read(t->fd, t->in + t->in_len, t->in_cap - t->in_len);
    if (n > 0) {
        t->in_len += (size_t)n;
        return 1;
    }
    if (n == 0) {
        *eof = 1;
        return -1;
    }
    return errno == EAGAIN || errno == EINTR || errno == ENOTCONN ? 0 : -1;
}

/* Handles the records taken so far: 1 application data is pending, 0 none,
 * -1 broken, 2 the server closed (close_notify). */
static int records(btls13 *t) {
    uint8_t type, *p;
    size_t len;
    int rc;
    while (t->pend_len == 0 && (rc = next_record(t, &type, &p, &len)) != 0) {
        if (rc < 0) return -1;
        if (type == 0x16) {
            if (len == 0 || handshake_bytes(t, p, len) < 0) return -1;
        } else if (type == 0x15) {
            return len == 2 && p[0] == 1 && p[1] == 0 && t->state == S_APP ? 2 : -1;
        } else if (type == 0x17) {
            if (t->state != S_APP || t->hs_len) return -1;
            t->pend_off = (size_t)(p - t->in);
            t->pend_len = len;
        } else if (type != 0x14) {
            return -1;
        }
    }
    return t->pend_len ? 1 : 0;
}

int btls13_handshake(btls13 *t) {
    if (t->state == S_BROKEN) return -1;
    for (;;) {
        int f = flush(t);
        if (f < 0) break;
        if (t->state == S_APP) return 1;
        if (f == 0) return 0;
        int rc = records(t);
        if (rc < 0 || rc == 2) break;
        if (t->state == S_APP) continue; /* flush the client Finished */
        if (rc == 1) break;              /* application data before the Finished */
        int eof = 0;
        int got = fill(t, &eof);
        if (got < 0) break;
        if (got == 0) return 0;
    }
    t->state = S_BROKEN;
    return -1;
}

/* Takes records until application data is pending: 1 then, 0 at the
 * server's close_notify, BENCHTLS_AGAIN or BENCHTLS_ERROR. */
static ssize_t data_pending(btls13 *t) {
    if (t->state != S_APP) return BENCHTLS_ERROR;
    if (flush(t) < 0) return BENCHTLS_ERROR;
    for (;;) {
        int rc = records(t);
        if (rc < 0) {
            t->state = S_BROKEN;
            return BENCHTLS_ERROR;
        }
        if (rc == 2) return 0;
        if (rc == 1) return 1;
        int eof = 0;
        int got = fill(t, &eof);
        if (got == 0) return BENCHTLS_AGAIN;
        if (got < 0) {
            if (!eof) t->state = S_BROKEN;
            return eof ? 0 : BENCHTLS_ERROR;
        }
    }
}

ssize_t btls13_read(btls13 *t, void *buf, size_t n) {
    ssize_t rc = data_pending(t);
    if (rc != 1) return rc;
    size_t take = t->pend_len < n ? t->pend_len : n;
    memcpy(buf, t->in + t->pend_off, take);
    t->pend_off += take;
    t->pend_len -= take;
    return (ssize_t)take;
}

ssize_t btls13_read_in_place(btls13 *t, const char **p) {
    ssize_t rc = data_pending(t);
    if (rc != 1) return rc;
    *p = (const char *)t->in + t->pend_off;
    size_t n = t->pend_len;
    t->pend_off += n;
    t->pend_len = 0;
    return (ssize_t)n;
}

void btls13_ctx_for_streams(btls13_ctx *ctx) {
    ctx->in_cap = IN_CAP_STREAMS;
}

int btls13_has_record(const btls13 *t) {
    if (t->pend_len) return 1;
    size_t have = t->in_len - t->in_off;
    if (have < 5) return 0;
    const uint8_t *r = t->in + t->in_off;
    return have >= 5 + ((size_t)r[3] << 8 | r[4]);
}

ssize_t btls13_write(btls13 *t, const void *buf, size_t n) {
    if (t->state != S_APP || n == 0) return BENCHTLS_ERROR;
    const uint8_t *p = buf;
    for (size_t off = 0; off < n;) {
        size_t chunk = n - off < 16384 ? n - off : 16384;
        if (seal_record(t, 0x17, p + off, chunk) < 0) return BENCHTLS_ERROR;
        off += chunk;
    }
    return flush(t) < 0 ? BENCHTLS_ERROR : (ssize_t)n;
}
