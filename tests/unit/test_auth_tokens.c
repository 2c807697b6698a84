/* SPDX-License-Identifier: MIT */
/*
 * test_auth_tokens.c: the helpers of test_auth_tokens.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/base64url.h"
#include "test_auth_tokens.h"

const char hs_secret[] = "0123456789abcdef0123456789abcdef-test-secret";
EVP_PKEY *rsa_key, *rsa2_key, *ec_key, *ec2_key;
char *rsa_public_pem;

/* ---- helpers ------------------------------------------------------------ */

char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static EVP_PKEY *read_private(const char *name) {
    FILE *f = fopen(name, "rb");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

int auth_keys_setup(void **state) {
    (void)state;
    rsa_key = read_private(DATA "rsa_private.pem");
    rsa2_key = read_private(DATA "rsa2_private.pem");
    ec_key = read_private(DATA "ec_private.pem");
    ec2_key = read_private(DATA "ec2_private.pem");
    rsa_public_pem = read_text(DATA "rsa_public.pem", NULL);
    return 0;
}

int auth_keys_teardown(void **state) {
    (void)state;
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(rsa2_key);
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(ec2_key);
    free(rsa_public_pem);
    return 0;
}

char *b64(const void *p, size_t n) {
    size_t cap = sr_b64url_encoded_len(n) + 1;
    char *out = malloc(cap);
    assert_non_null(out);
    assert_int_equal(sr_b64url_encode(p, n, out, cap), (ssize_t)(cap - 1));
    return out;
}

/* Signature bytes over input; HMAC key is (key, key_len), otherwise key
 * is an EVP_PKEY. ES256 signatures are converted from DER to r||s. */
static size_t sign(sig_kind kind, const void *key, size_t key_len, const char *input,
                   unsigned char *sig) {
    if (kind == SIG_EMPTY) return 0;
    if (kind == SIG_HMAC) {
        unsigned int n = 0;
        assert_non_null(HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)input,
                             strlen(input), sig, &n));
        return n;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[1024];
    size_t der_len = sizeof der;
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, (EVP_PKEY *)key), 1);
    assert_int_equal(EVP_DigestSign(ctx, der, &der_len, (const unsigned char *)input,
                                    strlen(input)),
                     1);
    EVP_MD_CTX_free(ctx);
    if (kind == SIG_RSA) {
        memcpy(sig, der, der_len);
        return der_len;
    }
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    assert_non_null(es);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32), 32);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32), 32);
    ECDSA_SIG_free(es);
    return 64;
}

/* header.payload.signature from JSON texts. */
char *token(const char *header, const char *payload, sig_kind kind, const void *key,
            size_t key_len) {
    char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload));
    size_t in_len = strlen(h) + 1 + strlen(p);
    char *input = malloc(in_len + 1);
    assert_non_null(input);
    snprintf(input, in_len + 1, "%s.%s", h, p);
    unsigned char sig[1024];
    size_t sig_len = sign(kind, key, key_len, input, sig);
    char *s = b64(sig, sig_len);
    char *tok = malloc(in_len + 1 + strlen(s) + 1);
    assert_non_null(tok);
    sprintf(tok, "%s.%s", input, s);
    free(h);
    free(p);
    free(s);
    free(input);
    return tok;
}

char *hs_token(const char *payload) {
    return token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, SIG_HMAC, hs_secret,
                 strlen(hs_secret));
}

char *rs_token(const char *payload) {
    return token("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload, SIG_RSA, rsa_key, 0);
}

char *es_token(const char *payload) {
    return token("{\"alg\":\"ES256\"}", payload, SIG_EC, ec_key, 0);
}

sr_jwt_verifier *make_verifier(const sr_jwt_config *cfg) {
    sr_jwt_verifier *v = NULL;
    char err[256];
    int rc = sr_jwt_verifier_new(cfg, &v, err, sizeof err);
    if (rc != SR_JWT_OK) fail_msg("verifier refused: %s", err);
    return v;
}

sr_jwt_verifier *verifier(sr_jwt_alg alg, unsigned leeway) {
    sr_jwt_config cfg = {.alg = alg, .leeway_s = leeway};
    if (alg == SR_JWT_HS256) {
        cfg.secret = hs_secret;
        cfg.secret_len = strlen(hs_secret);
    } else {
        cfg.public_key_file = alg == SR_JWT_RS256 ? DATA "rsa_public.pem" : DATA "ec_public.pem";
    }
    return make_verifier(&cfg);
}

/* Verifies a heap copy of exactly len bytes; returns the code. */
int verify_n(const sr_jwt_verifier *v, const char *tok, size_t len, int64_t now) {
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, tok, len);
    sr_jwt_claims c;
    int rc = sr_jwt_verify(v, copy, len, now, &c);
    assert_non_null(c.detail);
    if (rc == SR_JWT_OK) {
        assert_non_null(c.payload);
        assert_int_equal(c.root.type, SR_JSON_OBJECT);
    } else {
        assert_null(c.payload);
    }
    sr_jwt_claims_free(&c);
    free(copy);
    return rc;
}

int verify(const sr_jwt_verifier *v, const char *tok, int64_t now) {
    return verify_n(v, tok, strlen(tok), now);
}

/* Verifies and frees a token. */
int check(const sr_jwt_verifier *v, char *tok, int64_t now) {
    int rc = verify(v, tok, now);
    free(tok);
    return rc;
}
