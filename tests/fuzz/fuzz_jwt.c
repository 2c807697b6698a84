/* SPDX-License-Identifier: MIT */
/*
 * fuzz_jwt.c: libFuzzer target for the JWT verifier (src/auth/jwt.h):
 * base64url, the header and claims JSON, the algorithm pinning and the
 * signature check, with an HS256 secret and the RS256 test key pair of
 * tests/data/auth.
 *
 * The first input byte picks the verifier (bit 0: HS256 or RS256) and the
 * mode (bit 1):
 *  - raw: the rest is a token. Whatever it is, a token the verifier
 *    accepts must carry exactly the signature the test's key gives over its
 *    signing input (HMAC-SHA256, or RSA PKCS#1 v1.5, which is deterministic,
 *    made here with the private key): nothing else may pass.
 *  - signed: the rest is "<header JSON>\0<payload JSON>"; the target signs
 *    it with the test's key, so the header and claim checks behind the
 *    signature get fuzzed too. Then: verifying twice gives the same answer;
 *    on success the claims payload is the payload given; the same token with
 *    one signature or payload character changed is refused; a verifier with
 *    another key refuses it; and an HS256 token over the same text whose
 *    "secret" is the RSA public key PEM (the classic forgery) is refused by
 *    the RS256 verifier.
 * The verifiers check at a fixed time, so the corpus replays the same.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/base64url.h"
#include "auth/jwt.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000
#define FUZZ_JWT_MAX_INPUT 16384

static const char hs_secret[] = "fuzz-hs256-secret-0123456789abcdef-0123456789";
static const char hs_other_secret[] = "fuzz-hs256-OTHER-secret-0123456789abcdef-0123";

static sr_jwt_verifier *hs_verifier, *hs_other, *rs_verifier, *rs_other;
static EVP_PKEY *rs_private;
static char *rs_public_pem;
static size_t rs_public_pem_len;

static char *read_key(const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", SR_FUZZ_KEYS_DIR, name);
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL, "cannot open %s", path);
    char *buf = calloc(1, 65536);
    FUZZ_CHECK(buf != NULL, "out of memory");
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    if (len) *len = n;
    return buf;
}

static sr_jwt_verifier *make(sr_jwt_alg alg, const char *secret, const char *pem_file, int rs) {
    sr_jwt_config cfg = {0};
    cfg.alg = alg;
    if (secret) {
        cfg.secret = secret;
        cfg.secret_len = strlen(secret);
    }
    char path[1024];
    if (pem_file) {
        snprintf(path, sizeof path, "%s/%s", SR_FUZZ_KEYS_DIR, pem_file);
        cfg.public_key_file = path;
    }
    if (rs) {
        cfg.exp_optional = 1;
        cfg.issuer = "https://issuer.example";
    } else {
        cfg.leeway_s = 30;
        cfg.audience = "sserooms";
    }
    sr_jwt_verifier *v = NULL;
    char err[256] = "";
    int rc = sr_jwt_verifier_new(&cfg, &v, err, sizeof err);
    FUZZ_CHECK(rc == SR_JWT_OK, "verifier: %s", err);
    return v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    hs_verifier = make(SR_JWT_HS256, hs_secret, NULL, 0);
    hs_other = make(SR_JWT_HS256, hs_other_secret, NULL, 0);
    rs_verifier = make(SR_JWT_RS256, NULL, "rsa_public.pem", 1);
    rs_other = make(SR_JWT_RS256, NULL, "rsa2_public.pem", 1);
    size_t n;
    char *pem = read_key("rsa_private.pem", &n);
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    rs_private = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    free(pem);
    FUZZ_CHECK(rs_private != NULL, "cannot read rsa_private.pem");
    rs_public_pem = read_key("rsa_public.pem", &rs_public_pem_len);
    return 0;
}

/* The signature of in[0..n) with the test's key (rs: RSA, else HMAC with
 * key/key_len), base64url-encoded into out. Returns its length. */
static size_t sign(int rs, const void *key, size_t key_len, const char *in, size_t n, char *out,
                   size_t cap) {
    unsigned char sig[512];
    size_t sig_len = sizeof sig;
    if (rs) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        FUZZ_CHECK(md != NULL, "out of memory");
        FUZZ_CHECK(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, rs_private) == 1 &&
                       EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)in, n) == 1,
                   "RSA signing failed");
        EVP_MD_CTX_free(md);
    } else {
        unsigned int len = 0;
        FUZZ_CHECK(HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)in, n, sig, &len),
                   "HMAC failed");
        sig_len = len;
    }
    ssize_t m = sr_b64url_encode(sig, sig_len, out, cap);
    FUZZ_CHECK(m > 0, "signature does not fit");
    return (size_t)m;
}

static int verify(const sr_jwt_verifier *v, const char *tok, size_t len, sr_jwt_claims *claims) {
    memset(claims, 0, sizeof *claims);
    int rc = sr_jwt_verify(v, tok, len, NOW, claims);
    FUZZ_CHECK(rc <= 0 && rc >= SR_JWT_ECONFIG && rc != SR_JWT_ECONFIG, "unknown status %d", rc);
    FUZZ_CHECK(claims->detail != NULL, "no detail");
    if (rc != SR_JWT_OK) FUZZ_CHECK(claims->payload == NULL, "payload held after a refusal");
    return rc;
}

static void raw_token(int rs, const char *tok, size_t len) {
    const sr_jwt_verifier *v = rs ? rs_verifier : hs_verifier;
    sr_jwt_claims claims;
    if (verify(v, tok, len, &claims) != SR_JWT_OK) return;
    const char *dot = memrchr(tok, '.', len);
    FUZZ_CHECK(dot != NULL, "accepted a token without a dot");
    size_t in_len = (size_t)(dot - tok);
    char expected[1024];
    size_t n = sign(rs, hs_secret, strlen(hs_secret), tok, in_len, expected, sizeof expected);
    FUZZ_CHECK(len - in_len - 1 == n && memcmp(dot + 1, expected, n) == 0,
               "accepted a signature the test's key did not make");
    sr_jwt_claims_free(&claims);
}

/* header.payload with its signature into out; returns the token length and
 * sets *sig_at to where the signature starts. */
static size_t build(int rs, const void *key, size_t key_len, const char *header, size_t hlen,
                    const char *payload, size_t plen, char *out, size_t cap, size_t *sig_at) {
    ssize_t a = sr_b64url_encode(header, hlen, out, cap);
    FUZZ_CHECK(a >= 0, "header does not fit");
    out[a] = '.';
    ssize_t b = sr_b64url_encode(payload, plen, out + a + 1, cap - (size_t)a - 1);
    FUZZ_CHECK(b >= 0, "payload does not fit");
    size_t in_len = (size_t)a + 1 + (size_t)b;
    out[in_len] = '.';
    *sig_at = in_len + 1;
    return *sig_at + sign(rs, key, key_len, out, in_len, out + *sig_at, cap - *sig_at);
}

/* Changes tok[i] into another base64url character. */
static void tamper(char *tok, size_t i, uint32_t r) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char c = alphabet[r % 64];
    if (c == tok[i]) c = alphabet[(r + 1) % 64];
    tok[i] = c;
}

static void signed_token(int rs, const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul) return;
    const char *header = (const char *)data, *payload = (const char *)nul + 1;
    size_t hlen = (size_t)(nul - data), plen = size - hlen - 1;
    static char tok[4 * FUZZ_JWT_MAX_INPUT / 3 + 1024];
    size_t sig_at;
    size_t len = build(rs, hs_secret, strlen(hs_secret), header, hlen, payload, plen, tok,
                       sizeof tok, &sig_at);
    const sr_jwt_verifier *v = rs ? rs_verifier : hs_verifier;
    sr_jwt_claims c1, c2;
    int rc = verify(v, tok, len, &c1);
    int rc2 = verify(v, tok, len, &c2);
    FUZZ_CHECK(rc == rc2, "two verifications disagree: %d then %d", rc, rc2);
    if (rc == SR_JWT_OK) {
        FUZZ_CHECK(c1.payload_len == plen && memcmp(c1.payload, payload, plen) == 0,
                   "claims payload differs from the signed payload");
        FUZZ_CHECK(c1.payload[plen] == '\0', "payload not NUL-terminated");
        sr_jwt_claims_free(&c1);
        sr_jwt_claims_free(&c2);
    }

    sr_jwt_claims c;
    FUZZ_CHECK(verify(rs ? rs_other : hs_other, tok, len, &c) != SR_JWT_OK,
               "a verifier with another key accepted the token");

    fuzz_rng rng;
    fuzz_rng_seed(&rng, data, size);
    /* one signature character changed */
    size_t i = sig_at + fuzz_rng_upto(&rng, len - sig_at) - 1;
    char saved = tok[i];
    tamper(tok, i, fuzz_rng_next(&rng));
    FUZZ_CHECK(verify(v, tok, len, &c) != SR_JWT_OK, "accepted a changed signature");
    tok[i] = saved;
    /* one payload character changed (when there is a payload) */
    const char *dot = memchr(tok, '.', len);
    size_t p0 = (size_t)(dot - tok) + 1, p_len = sig_at - 1 - p0;
    if (p_len) {
        i = p0 + fuzz_rng_upto(&rng, p_len) - 1;
        tamper(tok, i, fuzz_rng_next(&rng));
        FUZZ_CHECK(verify(v, tok, len, &c) != SR_JWT_OK, "accepted a changed payload");
    }

    if (rs) {
        /* HS256 "signed" with the RSA public key as the secret */
        len = build(0, rs_public_pem, rs_public_pem_len, header, hlen, payload, plen, tok,
                    sizeof tok, &sig_at);
        FUZZ_CHECK(verify(rs_verifier, tok, len, &c) != SR_JWT_OK,
                   "accepted an HS256 token keyed with the RSA public key");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > FUZZ_JWT_MAX_INPUT) return 0;
    int rs = data[0] & 1;
    if (data[0] & 2) signed_token(rs, data + 1, size - 1);
    else raw_token(rs, (const char *)data + 1, size - 1);
    return 0;
}
