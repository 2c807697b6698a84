/* SPDX-License-Identifier: MIT */
/*
 * test_auth.c: JWT verification (src/auth/jwt.c, jwt_claims.c).
 *
 * Independent vectors first: the three signed examples of RFC 7515
 * appendix A (HS256, RS256, ES256), whose public keys are committed as PEM
 * under tests/data/auth (built from the RFC's JWK values; see the README
 * there). Then tokens built here, signed with OpenSSL from the committed
 * private keys, so that every refusal is explicit: wrong key, alg none,
 * mismatched algorithms, HS256 forged with the RSA public key as HMAC
 * secret, time claims and their leeway boundaries, tampering, bad
 * base64url, wrong part counts, non-object payloads, the length cap,
 * typ/crit, iss/aud, and verifier configuration errors. Every token is
 * verified from a heap copy of exactly its length, so ASan builds catch
 * any read past its end.
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

#include "auth/base64url.h"
#include "auth/grants.h"
#include "auth/jwt.h"
#include "test_auth_tokens.h"

#define EXP_OK "{\"exp\":1700000600,\"rooms\":[\"a\"]}"

/* ---- RFC 7515 appendix A ---------------------------------------------- */

#define RFC_PAYLOAD                                                                                \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl" \
    "fQ"
#define RFC_EXP ((int64_t)1300819380)

static void test_rfc7515_a1_hs256(void **state) {
    (void)state;
    unsigned char key[64];
    const char *k = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAz"
                    "Zr1Z9CAow";
    assert_int_equal(sr_b64url_decode(k, strlen(k), key, sizeof key), 64);
    sr_jwt_config cfg = {.alg = SR_JWT_HS256, .secret = key, .secret_len = 64};
    sr_jwt_verifier *v = make_verifier(&cfg);
    const char *tok = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." RFC_PAYLOAD
                      ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    sr_jwt_claims c;
    assert_int_equal(sr_jwt_verify(v, tok, strlen(tok), RFC_EXP - 1, &c), SR_JWT_OK);
    assert_string_equal(c.detail, "ok");
    assert_true(c.has_exp);
    assert_true(c.exp == 1300819380.0);
    static const char *const keys[] = {"http://example.com/is_root", "iss"};
    sr_json_value vals[2];
    assert_int_equal(sr_json_object_get(&c.root, keys, 2, vals), 0);
    assert_int_equal(vals[0].type, SR_JSON_TRUE);
    assert_int_equal(vals[1].type, SR_JSON_STRING);
    sr_jwt_claims_free(&c);
    assert_int_equal(verify(v, tok, RFC_EXP), SR_JWT_EEXPIRED);
    sr_jwt_verifier_free(v);
}

static void test_rfc7515_a2_rs256(void **state) {
    (void)state;
    sr_jwt_config cfg = {.alg = SR_JWT_RS256, .public_key_file = DATA "rfc7515_a2_rsa_public.pem"};
    sr_jwt_verifier *v = make_verifier(&cfg);
    const char *tok =
        "eyJhbGciOiJSUzI1NiJ9." RFC_PAYLOAD
        ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8"
        "W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPv"
        "kSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1ph"
        "CnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    assert_int_equal(verify(v, tok, RFC_EXP - 1), SR_JWT_OK);
    assert_int_equal(verify(v, tok, RFC_EXP), SR_JWT_EEXPIRED);
    sr_jwt_verifier_free(v);
}

static void test_rfc7515_a3_es256(void **state) {
    (void)state;
    sr_jwt_config cfg = {.alg = SR_JWT_ES256, .public_key_file = DATA "rfc7515_a3_ec_public.pem"};
    sr_jwt_verifier *v = make_verifier(&cfg);
    const char *tok = "eyJhbGciOiJFUzI1NiJ9." RFC_PAYLOAD
                      ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKT"
                      "UJqPP3-Kg6NU1Q";
    assert_int_equal(verify(v, tok, RFC_EXP - 1), SR_JWT_OK);
    /* The same signature with r and s swapped must not verify. */
    unsigned char sig[64], swapped[64];
    const char *s64 = strrchr(tok, '.') + 1;
    assert_int_equal(sr_b64url_decode(s64, strlen(s64), sig, sizeof sig), 64);
    memcpy(swapped, sig + 32, 32);
    memcpy(swapped + 32, sig, 32);
    char *s = b64(swapped, 64);
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s%s", (int)(s64 - tok), tok, s);
    free(s);
    assert_int_equal(verify(v, buf, RFC_EXP - 1), SR_JWT_ESIGNATURE);
    sr_jwt_verifier_free(v);
}

/* ---- valid tokens, wrong keys ------------------------------------------- */

static void test_valid_tokens(void **state) {
    (void)state;
    sr_jwt_verifier *hs = verifier(SR_JWT_HS256, 0), *rs = verifier(SR_JWT_RS256, 0);
    sr_jwt_verifier *es = verifier(SR_JWT_ES256, 0);
    const char *payload = "{\"sub\":\"u1\",\"exp\":1700000600.25,\"rooms\":[\"chat:*\"],"
                          "\"publish\":[\"news\"]}";
    sr_jwt_verifier *vs[3] = {hs, rs, es};
    char *toks[3] = {hs_token(payload), rs_token(payload), es_token(payload)};
    for (int i = 0; i < 3; i++) {
        sr_jwt_claims c;
        assert_int_equal(sr_jwt_verify(vs[i], toks[i], strlen(toks[i]), NOW, &c), SR_JWT_OK);
        assert_string_equal(c.payload, payload);
        assert_int_equal(c.payload_len, strlen(payload));
        assert_true(c.has_exp && c.exp == 1700000600.25);
        sr_grants g;
        sr_grants_init(&g);
        assert_int_equal(sr_grants_from_payload(&g, &c.root, sr_jwt_verifier_rooms_claim(vs[i]),
                                                sr_jwt_verifier_publish_claim(vs[i]), NULL),
                         0);
        assert_true(sr_grants_allow(&g, SR_GRANT_SUBSCRIBE, "chat:1", 6));
        assert_false(sr_grants_allow(&g, SR_GRANT_SUBSCRIBE, "news", 4));
        assert_true(sr_grants_allow(&g, SR_GRANT_PUBLISH, "news", 4));
        sr_grants_free(&g);
        sr_jwt_claims_free(&c);
        free(toks[i]);
    }
    /* Each verifier refuses the other two kinds by their alg. */
    assert_int_equal(check(hs, rs_token(payload), NOW), SR_JWT_EALG);
    assert_int_equal(check(rs, es_token(payload), NOW), SR_JWT_EALG);
    assert_int_equal(check(es, hs_token(payload), NOW), SR_JWT_EALG);
    assert_int_equal(sr_jwt_verifier_alg(es), SR_JWT_ES256);
    sr_jwt_verifier_free(hs);
    sr_jwt_verifier_free(rs);
    sr_jwt_verifier_free(es);
}

static void test_wrong_key(void **state) {
    (void)state;
    sr_jwt_verifier *hs = verifier(SR_JWT_HS256, 0), *rs = verifier(SR_JWT_RS256, 0);
    sr_jwt_verifier *es = verifier(SR_JWT_ES256, 0);
    const char *other = "another-secret-of-at-least-32-bytes!!";
    assert_int_equal(check(hs, token("{\"alg\":\"HS256\"}", EXP_OK, SIG_HMAC, other, strlen(other)),
                           NOW),
                     SR_JWT_ESIGNATURE);
    assert_int_equal(check(rs, token("{\"alg\":\"RS256\"}", EXP_OK, SIG_RSA, rsa2_key, 0), NOW),
                     SR_JWT_ESIGNATURE);
    assert_int_equal(check(es, token("{\"alg\":\"ES256\"}", EXP_OK, SIG_EC, ec2_key, 0), NOW),
                     SR_JWT_ESIGNATURE);
    /* The second RSA pair verifies its own tokens (the keys are sound). */
    sr_jwt_config cfg = {.alg = SR_JWT_RS256, .public_key_file = DATA "rsa2_public.pem"};
    sr_jwt_verifier *rs2 = make_verifier(&cfg);
    assert_int_equal(check(rs2, token("{\"alg\":\"RS256\"}", EXP_OK, SIG_RSA, rsa2_key, 0), NOW),
                     SR_JWT_OK);
    assert_int_equal(check(rs2, rs_token(EXP_OK), NOW), SR_JWT_ESIGNATURE);
    sr_jwt_verifier_free(rs2);
    sr_jwt_verifier_free(hs);
    sr_jwt_verifier_free(rs);
    sr_jwt_verifier_free(es);
}

/* ---- algorithm pinning ---------------------------------------------------- */

static void test_alg_none(void **state) {
    (void)state;
    sr_jwt_alg algs[3] = {SR_JWT_HS256, SR_JWT_RS256, SR_JWT_ES256};
    const char *headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",
                             "{\"alg\":\"none\",\"typ\":\"JWT\"}"};
    for (int a = 0; a < 3; a++) {
        sr_jwt_verifier *v = verifier(algs[a], 0);
        for (size_t h = 0; h < sizeof headers / sizeof *headers; h++) {
            /* Unsigned ("h.p.") and with an HMAC signature attached. */
            assert_int_equal(check(v, token(headers[h], EXP_OK, SIG_EMPTY, NULL, 0), NOW),
                             SR_JWT_EALG);
            assert_int_equal(
                check(v, token(headers[h], EXP_OK, SIG_HMAC, hs_secret, strlen(hs_secret)), NOW),
                SR_JWT_EALG);
        }
        /* The verifier's own alg with no signature is a bad signature. */
        char hdr[64];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\"}", sr_jwt_alg_name(algs[a]));
        assert_int_equal(check(v, token(hdr, EXP_OK, SIG_EMPTY, NULL, 0), NOW), SR_JWT_ESIGNATURE);
        sr_jwt_verifier_free(v);
    }
    sr_jwt_alg parsed;
    assert_int_equal(sr_jwt_alg_parse("none", &parsed), -1);
    assert_int_equal(sr_jwt_alg_parse("hs256", &parsed), -1);
    assert_int_equal(sr_jwt_alg_parse("ES256", &parsed), 0);
    assert_int_equal(parsed, SR_JWT_ES256);
}

static void test_alg_mismatch_and_header(void **state) {
    (void)state;
    sr_jwt_verifier *hs = verifier(SR_JWT_HS256, 0), *rs = verifier(SR_JWT_RS256, 0);
    /* RS256 token to an HS256 verifier, HS256 token to an RS256 one. */
    assert_int_equal(check(hs, rs_token(EXP_OK), NOW), SR_JWT_EALG);
    assert_int_equal(check(rs, hs_token(EXP_OK), NOW), SR_JWT_EALG);
    const char *sec = hs_secret;
    size_t sl = strlen(sec);
    assert_int_equal(check(hs, token("{\"alg\":\"hs256\"}", EXP_OK, SIG_HMAC, sec, sl), NOW),
                     SR_JWT_EALG);
    assert_int_equal(check(hs, token("{\"alg\":\"HS256 \"}", EXP_OK, SIG_HMAC, sec, sl), NOW),
                     SR_JWT_EALG);
    assert_int_equal(check(hs, token("{\"alg\":\"HS256\\u0000\"}", EXP_OK, SIG_HMAC, sec, sl), NOW),
                     SR_JWT_EALG);
    assert_int_equal(check(hs, token("{\"alg\":\"HS384\"}", EXP_OK, SIG_HMAC, sec, sl), NOW),
                     SR_JWT_EALG);
    /* Escapes are decoded as JSON.parse does, and the last duplicate wins. */
    assert_int_equal(check(hs, token("{\"alg\":\"HS\\u0032\\u00356\"}", EXP_OK, SIG_HMAC, sec, sl),
                           NOW),
                     SR_JWT_OK);
    assert_int_equal(check(hs,
                           token("{\"alg\":\"HS256\",\"alg\":\"none\"}", EXP_OK, SIG_HMAC, sec, sl),
                           NOW),
                     SR_JWT_EALG);
    assert_int_equal(check(hs,
                           token("{\"alg\":\"none\",\"alg\":\"HS256\"}", EXP_OK, SIG_HMAC, sec, sl),
                           NOW),
                     SR_JWT_OK);
    /* Header shape. */
    const char *bad_headers[] = {"{}",
                                 "{\"alg\":256}",
                                 "{\"alg\":null}",
                                 "[\"HS256\"]",
                                 "\"HS256\"",
                                 "{\"alg\":\"HS256\"",
                                 "not json",
                                 " ",
                                 "{\"alg\":\"HS256\",\"typ\":\"JWE\"}",
                                 "{\"alg\":\"HS256\",\"typ\":\"dpop+jwt\"}",
                                 "{\"alg\":\"HS256\",\"typ\":5}",
                                 "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}",
                                 "{\"alg\":\"HS256\",\"crit\":[]}"};
    for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++) {
        int rc = check(hs, token(bad_headers[i], EXP_OK, SIG_HMAC, sec, sl), NOW);
        if (rc != SR_JWT_EHEADER) fail_msg("header %s: %d", bad_headers[i], rc);
    }
    const char *good_typ[] = {"JWT", "jwt", "at+jwt", "application/jwt", "APPLICATION/AT+JWT"};
    for (size_t i = 0; i < sizeof good_typ / sizeof *good_typ; i++) {
        char hdr[96];
        snprintf(hdr, sizeof hdr, "{\"typ\":\"%s\",\"kid\":\"k1\",\"alg\":\"HS256\"}", good_typ[i]);
        assert_int_equal(check(hs, token(hdr, EXP_OK, SIG_HMAC, sec, sl), NOW), SR_JWT_OK);
    }
    sr_jwt_verifier_free(hs);
    sr_jwt_verifier_free(rs);
}

/* The classic key confusion: an attacker takes the server's RSA public key
 * (public by definition) and signs an HS256 token with its PEM text as
 * the HMAC secret. A verifier that let the token pick the algorithm would
 * HMAC with "the key" and accept it. */
static void test_hs256_forged_with_rsa_public_key(void **state) {
    (void)state;
    size_t pem_len = strlen(rsa_public_pem);
    sr_jwt_config from_file = {.alg = SR_JWT_RS256, .public_key_file = DATA "rsa_public.pem"};
    sr_jwt_config from_text = {.alg = SR_JWT_RS256, .public_key_pem = rsa_public_pem};
    sr_jwt_verifier *vs[2] = {make_verifier(&from_file), make_verifier(&from_text)};
    for (int i = 0; i < 2; i++) {
        const char *hdrs[] = {"{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"alg\":\"RS256\"}"};
        /* With the PEM as it is, and without its final newline. */
        for (size_t trim = 0; trim < 2; trim++) {
            assert_int_equal(check(vs[i],
                                   token(hdrs[0], EXP_OK, SIG_HMAC, rsa_public_pem, pem_len - trim),
                                   NOW),
                             SR_JWT_EALG);
            /* Claiming RS256 but carrying the HMAC: 32 bytes, not 256. */
            assert_int_equal(check(vs[i],
                                   token(hdrs[1], EXP_OK, SIG_HMAC, rsa_public_pem, pem_len - trim),
                                   NOW),
                             SR_JWT_ESIGNATURE);
        }
        /* The genuine RS256 token still passes. */
        assert_int_equal(check(vs[i], rs_token(EXP_OK), NOW), SR_JWT_OK);
        sr_jwt_verifier_free(vs[i]);
    }
    /* And configuring the public key as an HS256 secret is refused. */
    sr_jwt_config bad = {.alg = SR_JWT_HS256, .secret = rsa_public_pem, .secret_len = pem_len};
    sr_jwt_verifier *v = NULL;
    char err[256] = "";
    assert_int_equal(sr_jwt_verifier_new(&bad, &v, err, sizeof err), SR_JWT_ECONFIG);
    assert_null(v);
    assert_non_null(strstr(err, "PEM"));
}

/* ---- signatures ----------------------------------------------------------- */

static void test_signature_lengths_and_tampering(void **state) {
    (void)state;
    sr_jwt_verifier *hs = verifier(SR_JWT_HS256, 0), *rs = verifier(SR_JWT_RS256, 0);
    sr_jwt_verifier *es = verifier(SR_JWT_ES256, 0);
    sr_jwt_verifier *vs[3] = {hs, rs, es};
    char *toks[3] = {hs_token(EXP_OK), rs_token(EXP_OK), es_token(EXP_OK)};
    const char *other_json = "{\"exp\":1700000600,\"rooms\":[\"*\"]}";
    char *other = b64(other_json, strlen(other_json));
    for (int i = 0; i < 3; i++) {
        char *t = toks[i];
        size_t len = strlen(t);
        char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
        unsigned char sig[512];
        ssize_t sl = sr_b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig);
        assert_true(sl == 32 || sl == 256 || sl == 64);
        char buf[2048];
        /* Payload swapped for another, signature kept. */
        snprintf(buf, sizeof buf, "%.*s.%s%s", (int)(d1 - t), t, other, d2);
        assert_int_equal(verify(vs[i], buf, NOW), SR_JWT_ESIGNATURE);
        /* Header changed (a typ added), signature kept. */
        const char *h2_json = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"x\":1}";
        char *h2 = b64(h2_json, strlen(h2_json));
        if (i == 0) {
            snprintf(buf, sizeof buf, "%s%s", h2, d1);
            assert_int_equal(verify(vs[i], buf, NOW), SR_JWT_ESIGNATURE);
        }
        free(h2);
        /* One bit of the signature flipped, at the start and the end. */
        for (int pos = 0; pos < 2; pos++) {
            unsigned char flipped[512];
            memcpy(flipped, sig, (size_t)sl);
            flipped[pos ? sl - 1 : 0] ^= 0x01;
            char *s = b64(flipped, (size_t)sl);
            snprintf(buf, sizeof buf, "%.*s.%s", (int)(d2 - t), t, s);
            free(s);
            assert_int_equal(verify(vs[i], buf, NOW), SR_JWT_ESIGNATURE);
        }
        /* One byte short, one byte long. */
        for (int delta = -1; delta <= 1; delta += 2) {
            unsigned char resized[513] = {0};
            memcpy(resized, sig, (size_t)sl);
            char *s = b64(resized, (size_t)(sl + delta));
            snprintf(buf, sizeof buf, "%.*s.%s", (int)(d2 - t), t, s);
            free(s);
            sr_jwt_claims c;
            assert_int_equal(sr_jwt_verify(vs[i], buf, strlen(buf), NOW, &c), SR_JWT_ESIGNATURE);
            assert_string_equal(c.detail, "signature has the wrong length for the algorithm");
        }
        /* The untouched token passes; every prefix of it is refused. */
        assert_int_equal(verify(vs[i], t, NOW), SR_JWT_OK);
        for (size_t cut = 0; cut < len; cut++)
            assert_int_not_equal(verify_n(vs[i], t, cut, NOW), SR_JWT_OK);
        free(t);
    }
    free(other);
    sr_jwt_verifier_free(hs);
    sr_jwt_verifier_free(rs);
    sr_jwt_verifier_free(es);
}

/* ES256 wants raw r||s: the DER form OpenSSL produces is refused, and so
 * are zero or out-of-range r and s. */
static void test_es256_signature_forms(void **state) {
    (void)state;
    sr_jwt_verifier *es = verifier(SR_JWT_ES256, 0);
    const char *hdr = "{\"alg\":\"ES256\"}";
    char *h = b64(hdr, strlen(hdr)), *p = b64(EXP_OK, strlen(EXP_OK));
    char input[512];
    snprintf(input, sizeof input, "%s.%s", h, p);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[128];
    size_t der_len = sizeof der;
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ec_key), 1);
    assert_int_equal(EVP_DigestSign(ctx, der, &der_len, (unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    char buf[1024];
    char *s = b64(der, der_len);
    snprintf(buf, sizeof buf, "%s.%s", input, s);
    free(s);
    assert_int_equal(verify(es, buf, NOW), SR_JWT_ESIGNATURE);
    /* P-256 group order n. */
    static const unsigned char order[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
                                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                            0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
                                            0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    unsigned char raw[64];
    const unsigned char *dp = der;
    ECDSA_SIG *good = d2i_ECDSA_SIG(NULL, &dp, (long)der_len);
    BN_bn2binpad(ECDSA_SIG_get0_r(good), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(good), raw + 32, 32);
    ECDSA_SIG_free(good);
    unsigned char variants[4][64];
    memcpy(variants[0], raw, 64);
    memset(variants[0], 0, 32); /* r = 0 */
    memcpy(variants[1], raw, 64);
    memset(variants[1] + 32, 0, 32); /* s = 0 */
    memcpy(variants[2], raw, 64);
    memcpy(variants[2], order, 32); /* r = n */
    memset(variants[3], 0xff, 64);  /* both above n */
    for (int i = 0; i < 4; i++) {
        s = b64(variants[i], 64);
        snprintf(buf, sizeof buf, "%s.%s", input, s);
        free(s);
        assert_int_equal(verify(es, buf, NOW), SR_JWT_ESIGNATURE);
    }
    s = b64(raw, 64);
    snprintf(buf, sizeof buf, "%s.%s", input, s);
    free(s);
    assert_int_equal(verify(es, buf, NOW), SR_JWT_OK);
    free(h);
    free(p);
    sr_jwt_verifier_free(es);
}

/* ---- framing and encoding ------------------------------------------------- */

static void test_malformed_and_base64(void **state) {
    (void)state;
    sr_jwt_verifier *hs = verifier(SR_JWT_HS256, 0);
    char *good = hs_token(EXP_OK);
    char *d1 = strchr(good, '.'), *d2 = strrchr(good, '.');
    int hl = (int)(d1 - good), pl = (int)(d2 - d1 - 1);
    const char *sig = d2 + 1;
    char buf[1024];
    /* Two parts, four parts, five parts (JWE), empty parts. */
    snprintf(buf, sizeof buf, "%.*s.%.*s", hl, good, pl, d1 + 1);
    assert_int_equal(verify(hs, buf, NOW), SR_JWT_EMALFORMED);
    snprintf(buf, sizeof buf, "%s.%s", good, sig);
    assert_int_equal(verify(hs, buf, NOW), SR_JWT_EMALFORMED);
    snprintf(buf, sizeof buf, "%s..", good);
    assert_int_equal(verify(hs, buf, NOW), SR_JWT_EMALFORMED);
    snprintf(buf, sizeof buf, ".%.*s.%s", pl, d1 + 1, sig);
    assert_int_equal(verify(hs, buf, NOW), SR_JWT_EMALFORMED);
    snprintf(buf, sizeof buf, "%.*s..%s", hl, good, sig);
    assert_int_equal(verify(hs, buf, NOW), SR_JWT_EMALFORMED);
    const char *junk[] = {"", ".", "..", "...", "abc", "a.b", "a.b.c.d"};
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
        assert_int_equal(verify(hs, junk[i], NOW), SR_JWT_EMALFORMED);

    /* Bad base64url in each part: padding, the standard alphabet's + and /,
     * whitespace, a length of 1 mod 4, non-zero unused bits. */
    const char *part_names[3] = {"header", "payload", "signature"};
    for (int part = 0; part < 3; part++) {
        const char *edits[] = {"=", "==", "+", "/", " ", "\t", "%", "A"};
        for (size_t e = 0; e < sizeof edits / sizeof *edits; e++) {
            if (part == 2 && e == 7)
                continue; /* a longer signature is a length error, tested above */
            const char *start = part == 0 ? good : part == 1 ? d1 + 1 : sig;
            size_t plen = part == 0 ? (size_t)hl : part == 1 ? (size_t)pl : strlen(sig);
            size_t before = (size_t)(start - good) + plen;
            snprintf(buf, sizeof buf, "%.*s%s%s", (int)before, good, edits[e], good + before);
            int rc = verify(hs, buf, NOW);
            /* Appending "A" to a 4k+3 part gives 4k+4: then it is a valid
             * length but different bytes (bad JSON or signature). */
            if (e == 7 && plen % 4 != 0) assert_int_not_equal(rc, SR_JWT_OK);
            else if (rc != SR_JWT_EBASE64)
                fail_msg("%s + '%s': %d (%s)", part_names[part], edits[e], rc, sr_jwt_strerror(rc));
        }
    }
    /* Non-canonical encodings: "e30" is {} ; "e31" decodes the same bytes
     * with a non-zero unused bit. */
    sr_jwt_claims c;
    assert_int_equal(sr_jwt_verify(hs, "e31.e30.AAAA", 12, NOW, &c), SR_JWT_EBASE64);
    assert_string_equal(c.detail, "header is not base64url");
    /* A NUL byte inside the token. */
    memcpy(buf, good, strlen(good) + 1);
    buf[hl + 3] = '\0';
    assert_int_equal(verify_n(hs, buf, strlen(good), NOW), SR_JWT_EBASE64);
    free(good);
    sr_jwt_verifier_free(hs);
}

static void test_payload_not_object(void **state) {
    (void)state;
    sr_jwt_verifier *hs = verifier(SR_JWT_HS256, 0);
    const char *payloads[] = {"[1,2]",
                              "123",
                              "\"exp\"",
                              "null",
                              "true",
                              "not json",
                              "{\"exp\":1700000600",
                              "{\"exp\":1700000600} x",
                              "\xef\xbb\xbf{}"};
    for (size_t i = 0; i < sizeof payloads / sizeof *payloads; i++)
        assert_int_equal(check(hs, hs_token(payloads[i]), NOW), SR_JWT_ECLAIMS);
    /* Deep nesting past the payload limit. */
    char deep[200];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof deep, "{\"exp\":1700000600,\"x\":");
    for (int i = 0; i < 40; i++) deep[n++] = '[';
    for (int i = 0; i < 40; i++) deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    assert_int_equal(check(hs, hs_token(deep), NOW), SR_JWT_ECLAIMS);
    sr_jwt_verifier_free(hs);
}

static void test_length_cap(void **state) {
    (void)state;
    sr_jwt_verifier *hs = verifier(SR_JWT_HS256, 0);
    /* The longest token within the default cap verifies; a longer one
     * is refused before any decoding. */
    char payload[8192];
    char *best = NULL;
    for (size_t fill = 5900; fill < 6200; fill++) {
        int n = snprintf(payload, sizeof payload, "{\"exp\":1700000600,\"f\":\"%0*d\"}", (int)fill,
                         0);
        assert_true(n > 0 && (size_t)n < sizeof payload);
        char *t = hs_token(payload);
        if (strlen(t) <= SR_JWT_DEFAULT_MAX_TOKEN) {
            free(best);
            best = t;
        } else {
            assert_int_equal(verify(hs, t, NOW), SR_JWT_ETOOLONG);
            free(t);
        }
    }
    assert_non_null(best);
    assert_true(strlen(best) >= SR_JWT_DEFAULT_MAX_TOKEN - 2);
    assert_int_equal(verify(hs, best, NOW), SR_JWT_OK);
    free(best);
    /* A huge token of garbage. */
    size_t huge = 1u << 20;
    char *g = malloc(huge);
    memset(g, 'A', huge);
    assert_int_equal(verify_n(hs, g, huge, NOW), SR_JWT_ETOOLONG);
    free(g);
    /* A configured cap. */
    sr_jwt_config cfg = {.alg = SR_JWT_HS256,
                         .secret = hs_secret,
                         .secret_len = strlen(hs_secret),
                         .max_token_len = 200};
    sr_jwt_verifier *small = make_verifier(&cfg);
    char *t = hs_token(EXP_OK);
    assert_true(strlen(t) < 200);
    assert_int_equal(verify(small, t, NOW), SR_JWT_OK);
    free(t);
    assert_int_equal(check(small,
                           hs_token("{\"exp\":1700000600,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxx"
                                    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                    "xxxxxxxxxxxxxxxxxxxxxxxxx\"}"),
                           NOW),
                     SR_JWT_ETOOLONG);
    sr_jwt_verifier_free(small);
    sr_jwt_verifier_free(hs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7515_a1_hs256),
        cmocka_unit_test(test_rfc7515_a2_rs256),
        cmocka_unit_test(test_rfc7515_a3_es256),
        cmocka_unit_test(test_valid_tokens),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_alg_mismatch_and_header),
        cmocka_unit_test(test_hs256_forged_with_rsa_public_key),
        cmocka_unit_test(test_signature_lengths_and_tampering),
        cmocka_unit_test(test_es256_signature_forms),
        cmocka_unit_test(test_malformed_and_base64),
        cmocka_unit_test(test_payload_not_object),
        cmocka_unit_test(test_length_cap),
    };
    return cmocka_run_group_tests(tests, auth_keys_setup, auth_keys_teardown);
}
