/* SPDX-License-Identifier: MIT */
/*
 * signed.c: HMAC-SHA256-signed texts (signed.h): base64url(payload) "."
 * base64url(mac). The MAC covers the payload bytes, not their encoding;
 * base64url decoding is strict (base64url.h), so one payload has exactly
 * one accepted text. MACs are compared with CRYPTO_memcmp.
 */
#include "auth/signed.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/base64url.h"

#define MAC_LEN 32u

static int mac(const unsigned char *key, size_t key_len, const void *p, size_t n,
               unsigned char out[MAC_LEN]) {
    unsigned int out_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, p, n, out, &out_len) || out_len != MAC_LEN)
        return -1;
    return 0;
}

int sr_signed_derive_key(const void *secret, size_t len, const char *label,
                         unsigned char out[SR_SIGNED_KEY_LEN]) {
    return mac(secret, len, label, strlen(label), out);
}

size_t sr_signed_len(size_t n) {
    return sr_b64url_encoded_len(n) + 1 + sr_b64url_encoded_len(MAC_LEN);
}

ssize_t sr_signed_make(const unsigned char key[SR_SIGNED_KEY_LEN], const void *payload, size_t n,
                       char *out, size_t cap) {
    if (n > SR_SIGNED_MAX_PAYLOAD || cap < sr_signed_len(n) + 1) return -1;
    unsigned char m[MAC_LEN];
    if (mac(key, SR_SIGNED_KEY_LEN, payload, n, m) < 0) return -1;
    ssize_t a = sr_b64url_encode(payload, n, out, cap);
    if (a < 0) return -1;
    out[a] = '.';
    ssize_t b = sr_b64url_encode(m, MAC_LEN, out + a + 1, cap - (size_t)a - 1);
    OPENSSL_cleanse(m, sizeof(m));
    return b < 0 ? -1 : a + 1 + b;
}

ssize_t sr_signed_open(const unsigned char key[SR_SIGNED_KEY_LEN], const char *text, size_t len,
                       char *out, size_t cap) {
    const char *dot = memchr(text, '.', len);
    if (!dot) return -1;
    size_t plen = (size_t)(dot - text), mlen = len - plen - 1;
    if (mlen != sr_b64url_encoded_len(MAC_LEN) ||
        sr_b64url_decoded_max(plen) > SR_SIGNED_MAX_PAYLOAD ||
        cap < sr_b64url_decoded_max(plen) + 1)
        return -1;
    unsigned char got[MAC_LEN + 2], want[MAC_LEN];
    if (sr_b64url_decode(dot + 1, mlen, got, sizeof(got)) != (ssize_t)MAC_LEN) return -1;
    ssize_t n = sr_b64url_decode(text, plen, out, cap - 1);
    if (n < 0 || mac(key, SR_SIGNED_KEY_LEN, out, (size_t)n, want) < 0) return -1;
    if (CRYPTO_memcmp(got, want, MAC_LEN) != 0) {
        OPENSSL_cleanse(out, (size_t)n);
        return -1;
    }
    out[n] = '\0';
    return n;
}
