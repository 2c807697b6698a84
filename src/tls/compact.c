/* SPDX-License-Identifier: MIT */
/*
 * compact.c: the TLS engine's compact record layer (see tls_int.h), and
 * the OpenSSL callbacks that prepare it (the traffic secrets, the record
 * counts); how it works is said below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include "tls/tls_int.h"

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
 * application record). A record is sealed as RFC 8446 §5.2 says (inner
 * content type appended, the header as additional data, the nonce the IV
 * xor the sequence number): all the frames of a flush, up to 16 KiB, go
 * into one record in the output buffer: a long frame is encrypted from
 * where it lies into the record, short ones are gathered there first and
 * encrypted in place (lite_record_out). The session holds no cipher
 * context: an AES-GCM one is about 1.2 KB, more than the rest of an idle
 * session, so each thread has one (a tss_t, freed when the thread ends)
 * that each sr_tls_lite_seal call keys with the session's write key, and
 * that opens the records received too (an SSE stream rarely sends any).
 * Keying costs once per seal call, not per record (test_tls's
 * seal_cost_per_record prints it). A KeyUpdate from the peer is followed
 * (and answered when it asks); a close_notify ends the session as before;
 * anything else but application data is a protocol failure. TLS 1.2
 * sessions and sessions that saw a KeyUpdate during the handshake phase
 * stay on OpenSSL.
 */

#define LITE_MAX_PLAIN 16384
#define LITE_TAG 16
#define LITE_OVERHEAD (5 + 1 + LITE_TAG) /* header, inner type, tag */

static EVP_CIPHER *lite_aes128, *lite_aes256, *lite_chacha;
/* HMAC-SHA256 and HMAC-SHA384 contexts without a key, copied for each
 * expansion: OpenSSL 3.0's one-shot HMAC() fetches the MAC and the digest
 * by name at every call (4 calls per session going compact) */
static EVP_MAC_CTX *lite_hmac256, *lite_hmac384;

static EVP_MAC_CTX *hmac_template(EVP_MAC *mac, const char *digest) {
    EVP_MAC_CTX *m = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest,
                                                            0),
                           OSSL_PARAM_construct_end()};
    if (m && EVP_MAC_CTX_set_params(m, params) != 1) {
        EVP_MAC_CTX_free(m);
        m = NULL;
    }
    return m;
}

static tss_t lite_thread_cx; /* the calling thread's cipher context */
static bool lite_thread_cx_made;

static void lite_thread_cx_free(void *cx) {
    EVP_CIPHER_CTX_free(cx);
}

void sr_tls_lite_fetch(void) {
    lite_aes128 = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    lite_aes256 = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    lite_chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    lite_hmac256 = hmac_template(mac, "SHA256");
    lite_hmac384 = hmac_template(mac, "SHA384");
    EVP_MAC_free(mac); /* the contexts hold their own reference */
    lite_thread_cx_made = tss_create(&lite_thread_cx, lite_thread_cx_free) == thrd_success;
    ERR_clear_error();
}

/* The calling thread's cipher context, made at its first use; NULL when
 * out of memory (sessions then do not go compact: sr_tls_try_compact). */
static EVP_CIPHER_CTX *lite_cx(void) {
    if (!lite_thread_cx_made) return NULL;
    EVP_CIPHER_CTX *cx = tss_get(lite_thread_cx);
    if (cx) return cx;
    if (!(cx = EVP_CIPHER_CTX_new())) return NULL;
    if (tss_set(lite_thread_cx, cx) != thrd_success) {
        EVP_CIPHER_CTX_free(cx);
        return NULL;
    }
    return cx;
}

/* HKDF-Expand-Label(secret, label, "", len) for len <= the hash length:
 * one HMAC block (RFC 8446 §7.1, RFC 5869 §2.3). 0, or -1. */
static int expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
                        const char *label, uint8_t *out, size_t len) {
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
    size_t got = 0;
    const EVP_MAC_CTX *tpl = EVP_MD_get_size(md) == 48 ? lite_hmac384 : lite_hmac256;
    EVP_MAC_CTX *m = tpl && (size_t)EVP_MD_get_size(md) >= len ? EVP_MAC_CTX_dup(tpl) : NULL;
    int ok = m && EVP_MAC_init(m, secret, secret_len, NULL) == 1 &&
             EVP_MAC_update(m, info, n) == 1 && EVP_MAC_final(m, block, &got, sizeof(block)) == 1 &&
             got >= len;
    EVP_MAC_CTX_free(m);
    if (ok) memcpy(out, block, len);
    OPENSSL_cleanse(block, sizeof(block));
    return ok ? 0 : -1;
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
    if (expand_label(L->md, d->secret, L->secret_len, "traffic upd", next, L->secret_len) < 0)
        return -1;
    memcpy(d->secret, next, L->secret_len);
    OPENSSL_cleanse(next, sizeof(next));
    return lite_keys(L, d);
}

static void lite_nonce(const lite_dir *d, uint8_t nonce[12]) {
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++) nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

void sr_tls_lite_free(sr_tls_lite *L) {
    if (!L) return;
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

/* A piece at least this long is encrypted straight from the caller's
 * buffer into the record; shorter ones are gathered (see below). */
#define LITE_DIRECT_MIN 512

/* n bytes at in encrypted to out (in == out: in place); 0, or -1. */
static int lite_encrypt(EVP_CIPHER_CTX *wctx, uint8_t *out, const uint8_t *in, size_t n) {
    int outl = 0;
    return EVP_EncryptUpdate(wctx, out, &outl, in, (int)n) && (size_t)outl == n ? 0 : -1;
}

/* Seals one record of `len` plaintext bytes taken from iov (from *i, *off
 * on) with inner content type `type` into o (len + LITE_OVERHEAD bytes),
 * with wctx keyed with L's write key. Each EVP call costs about as much as
 * sealing 100 bytes, and a GCM pass over many small pieces takes the slow
 * path for every partial block, where one pass over a long run takes the
 * stitched one: so short pieces (a heartbeat, one small message each) are
 * gathered into the record and encrypted there in one pass, and a long
 * piece (a broadcast batch, shared by every stream of the room) is
 * encrypted from where it lies into the record, without a copy of it in
 * between (that copy took about 3% of the server's CPU at S1-TLS
 * 500 msg/s). */
static int lite_record_out(sr_tls_lite *L, EVP_CIPHER_CTX *wctx, uint8_t type,
                           const struct iovec *iov, size_t *i, size_t *off, size_t len,
                           uint8_t *o) {
    size_t clen = len + 1 + LITE_TAG;
    o[0] = 23; /* application_data */
    o[1] = 3;
    o[2] = 3;
    o[3] = (uint8_t)(clen >> 8);
    o[4] = (uint8_t)clen;
    uint8_t *c = o + 5;
    uint8_t nonce[12];
    lite_nonce(&L->wr, nonce);
    int outl = 0, fin = 0;
    if (!EVP_EncryptInit_ex2(wctx, NULL, NULL, nonce, NULL) ||
        !EVP_EncryptUpdate(wctx, NULL, &outl, o, 5))
        return -1;
    size_t got = 0, gathered = 0; /* c[gathered, got): copied, not yet encrypted */
    while (got < len) {
        while (iov[*i].iov_len == *off) {
            (*i)++;
            *off = 0;
        }
        size_t take = iov[*i].iov_len - *off;
        if (take > len - got) take = len - got;
        const uint8_t *src = (const uint8_t *)iov[*i].iov_base + *off;
        if (take >= LITE_DIRECT_MIN) {
            if ((gathered < got &&
                 lite_encrypt(wctx, c + gathered, c + gathered, got - gathered)) ||
                lite_encrypt(wctx, c + got, src, take))
                return -1;
            gathered = got + take;
        } else {
            memcpy(c + got, src, take);
        }
        got += take;
        *off += take;
    }
    c[len] = type;
    if (lite_encrypt(wctx, c + gathered, c + gathered, len + 1 - gathered)) return -1;
    /* the tag through the parameter, not EVP_CIPHER_CTX_ctrl (which
     * builds the same parameter on every call) */
    OSSL_PARAM tag[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, c + len + 1,
                                                           LITE_TAG),
                         OSSL_PARAM_construct_end()};
    if (!EVP_EncryptFinal_ex(wctx, c + len + 1, &fin) || fin != 0 ||
        !EVP_CIPHER_CTX_get_params(wctx, tag))
        return -1;
    L->wr.seq++;
    return 0;
}

ssize_t sr_tls_lite_seal(sr_tls *t, const struct iovec *iov, size_t n, uint8_t type) {
    sr_tls_lite *L = t->lite;
    size_t total = 0;
    for (size_t i = 0; i < n && total < SR_TLS_SEAL_MAX; i++) total += iov[i].iov_len;
    if (total > SR_TLS_SEAL_MAX) total = SR_TLS_SEAL_MAX;
    if (total == 0 && type == 23) return 0;
    size_t records = total ? (total + LITE_MAX_PLAIN - 1) / LITE_MAX_PLAIN : 1;
    if (sr_tls_out_reserve(t, total + records * LITE_OVERHEAD) < 0)
        return lite_fail(t, "out of memory");
    EVP_CIPHER_CTX *wctx = lite_cx(); /* keyed here; each record sets its nonce */
    if (!wctx || !EVP_EncryptInit_ex2(wctx, L->cipher, L->wr.key, NULL, NULL))
        return lite_fail(t, "TLS: sealing failed");
    uint8_t *o = (uint8_t *)t->out + t->out_len;
    size_t i = 0, off = 0, left = total;
    do {
        size_t len = left < LITE_MAX_PLAIN ? left : LITE_MAX_PLAIN;
        if (lite_record_out(L, wctx, type, iov, &i, &off, len, o) < 0)
            return lite_fail(t, "TLS: sealing failed");
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
    EVP_CIPHER_CTX *cx = lite_cx();
    int outl = 0, fin = 0,
        ok = cx && EVP_DecryptInit_ex2(cx, L->cipher, L->rd.key, nonce, NULL) &&
             EVP_DecryptUpdate(cx, NULL, &outl, rec, 5) &&
             EVP_DecryptUpdate(cx, plain, &outl, rec + 5, (int)clen) && (size_t)outl == clen &&
             EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_AEAD_SET_TAG, LITE_TAG, (void *)(rec + 5 + clen)) &&
             EVP_DecryptFinal_ex(cx, plain + clen, &fin);
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
            if (sr_tls_lite_seal(t, &v, 1, 22) < 0 || lite_update(L, &L->wr) < 0) return -1;
        }
        p += 5;
        len -= 5;
    }
    return 0;
}

int sr_tls_lite_input(sr_tls *t, const char *in, size_t len, sr_tls_deliver deliver, void *ud) {
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
        if (lite_open(L, h, 5 + rlen, plain, &plen, &type) < 0)
            return lite_fail(t, "TLS: bad record mac");
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
void sr_tls_on_keylog(const SSL *ssl, const char *line) {
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
        int v = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (v < 0) return;
        dst[i / 2] = (uint8_t)(i % 2 ? (dst[i / 2] << 4) | v : v);
    }
    if (client) t->secrets->client_len = (uint8_t)(hl / 2);
    else t->secrets->server_len = (uint8_t)(hl / 2);
}

/* The message callback: counts the application records each way. */
void sr_tls_on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg) {
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

void sr_tls_secrets_free(sr_tls *t) {
    if (!t->secrets) return;
    OPENSSL_cleanse(t->secrets, sizeof(*t->secrets));
    free(t->secrets);
    t->secrets = NULL;
}

/* Drops the SSL object of a finished TLS 1.3 server session when nothing
 * of it is left half-done; otherwise leaves it as it is. */
void sr_tls_try_compact(sr_tls *t) {
    if (t->lite || t->no_lite || t->failed || !t->ctx->server || !t->wr_app || !t->rd_app) return;
    SSL *ssl = t->ssl;
    if (!SSL_is_init_finished(ssl)) return;
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    uint16_t suite = c ? (uint16_t)(SSL_CIPHER_get_id(c) & 0xffff) : 0;
    const EVP_CIPHER *cipher = suite == 0x1301   ? lite_aes128
                               : suite == 0x1302 ? lite_aes256
                               : suite == 0x1303 ? lite_chacha
                                                 : NULL;
    if (SSL_version(ssl) != TLS1_3_VERSION || !cipher || !t->secrets || !t->secrets->client_len ||
        t->secrets->client_len != t->secrets->server_len || SSL_get_shutdown(ssl)) {
        t->no_lite = 1;
        sr_tls_secrets_free(t);
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
    if (lite_keys(L, &L->rd) < 0 || lite_keys(L, &L->wr) < 0 || !lite_cx()) {
        sr_tls_lite_free(L);
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
    sr_tls_secrets_free(t);
    SSL_free(ssl); /* and both BIOs */
    t->ssl = NULL;
    t->rbio = NULL;
    t->lite = L;
    ERR_clear_error();
}
