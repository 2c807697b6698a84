/* SPDX-License-Identifier: MIT */
/*
 * test_auth_claims.c: the claim checks of the JWT verifier (exp, nbf, iat
 * and their leeway boundaries, NumericDate forms, exp required or not,
 * iss, aud) and the refusals of half-made or unsafe verifier
 * configurations (missing or short secrets, a PEM as HMAC secret, keys of
 * the wrong type, size or curve, private keys, unreadable files).
 * Tokens are HS256 ones built by test_auth_tokens.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/jwt.h"
#include "test_auth_tokens.h"

/* Verifies an HS256 token with the payload under verifier v. */
static int pay(const sr_jwt_verifier *v, const char *payload, int64_t now) {
    return check(v, hs_token(payload), now);
}

static int payf(const sr_jwt_verifier *v, int64_t now, const char *fmt, long long a) {
    char payload[256];
    snprintf(payload, sizeof payload, fmt, a);
    return pay(v, payload, now);
}

static void test_exp(void **state) {
    (void)state;
    sr_jwt_verifier *v = verifier(SR_JWT_HS256, 0);
    /* Valid strictly before exp (RFC 7519 4.1.4). */
    assert_int_equal(payf(v, NOW, "{\"exp\":%lld}", NOW + 1), SR_JWT_OK);
    assert_int_equal(payf(v, NOW, "{\"exp\":%lld}", NOW), SR_JWT_EEXPIRED);
    assert_int_equal(payf(v, NOW, "{\"exp\":%lld}", NOW - 1), SR_JWT_EEXPIRED);
    assert_int_equal(payf(v, NOW, "{\"exp\":%lld}", 0), SR_JWT_EEXPIRED);
    assert_int_equal(payf(v, NOW, "{\"exp\":%lld}", -5), SR_JWT_EEXPIRED);
    /* Fractional and exponent forms. */
    assert_int_equal(pay(v, "{\"exp\":1700000000.5}", NOW), SR_JWT_OK);
    assert_int_equal(pay(v, "{\"exp\":1699999999.999}", NOW), SR_JWT_EEXPIRED);
    assert_int_equal(pay(v, "{\"exp\":1.7000006e9}", NOW), SR_JWT_OK);
    assert_int_equal(pay(v, "{\"exp\":17000000e2}", NOW), SR_JWT_EEXPIRED);
    assert_int_equal(pay(v, "{\"exp\":1E10}", NOW), SR_JWT_OK);
    /* Any number of digits. */
    char payload[300];
    snprintf(payload, sizeof payload, "{\"exp\":1800000000.%0200d}", 1);
    assert_int_equal(pay(v, payload, NOW), SR_JWT_OK);
    snprintf(payload, sizeof payload, "{\"exp\":0.%0200d1e210}", 0);
    assert_int_equal(pay(v, payload, NOW), SR_JWT_EEXPIRED); /* 1e9 */
    /* The last of duplicate members counts (JSON.parse). */
    assert_int_equal(pay(v, "{\"exp\":1,\"exp\":1800000000}", NOW), SR_JWT_OK);
    assert_int_equal(pay(v, "{\"exp\":1800000000,\"exp\":1}", NOW), SR_JWT_EEXPIRED);
    /* Not a NumericDate. */
    const char *bad[] = {"{\"exp\":\"1800000000\"}", "{\"exp\":null}", "{\"exp\":true}",
                         "{\"exp\":[1800000000]}",   "{\"exp\":{}}",   "{\"exp\":1e400}",
                         "{\"exp\":-1e400}",         "{\"exp\":0x10}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(pay(v, bad[i], NOW), SR_JWT_ECLAIMS);
    /* Required by default, optional by configuration. */
    sr_jwt_claims c;
    char *t = hs_token("{\"sub\":\"x\"}");
    assert_int_equal(sr_jwt_verify(v, t, strlen(t), NOW, &c), SR_JWT_ECLAIMS);
    assert_string_equal(c.detail, "token has no exp");
    sr_jwt_config cfg = {.alg = SR_JWT_HS256,
                         .secret = hs_secret,
                         .secret_len = strlen(hs_secret),
                         .exp_optional = 1};
    sr_jwt_verifier *opt = make_verifier(&cfg);
    assert_int_equal(sr_jwt_verify(opt, t, strlen(t), NOW, &c), SR_JWT_OK);
    assert_false(c.has_exp);
    sr_jwt_claims_free(&c);
    free(t);
    assert_int_equal(pay(opt, "{\"exp\":\"soon\"}", NOW), SR_JWT_ECLAIMS);
    assert_int_equal(payf(opt, NOW, "{\"exp\":%lld}", NOW), SR_JWT_EEXPIRED);
    sr_jwt_verifier_free(opt);
    sr_jwt_verifier_free(v);
}

static void test_nbf_iat(void **state) {
    (void)state;
    sr_jwt_verifier *v = verifier(SR_JWT_HS256, 0);
    const char *nbf = "{\"exp\":1800000000,\"nbf\":%lld}";
    assert_int_equal(payf(v, NOW, nbf, NOW), SR_JWT_OK);
    assert_int_equal(payf(v, NOW, nbf, NOW - 100), SR_JWT_OK);
    assert_int_equal(payf(v, NOW, nbf, NOW + 1), SR_JWT_ENOTYET);
    assert_int_equal(payf(v, NOW, nbf, NOW + 100), SR_JWT_ENOTYET);
    assert_int_equal(pay(v, "{\"exp\":1800000000,\"nbf\":1700000000.5}", NOW), SR_JWT_ENOTYET);
    assert_int_equal(pay(v, "{\"exp\":1800000000,\"nbf\":\"0\"}", NOW), SR_JWT_ECLAIMS);
    const char *iat = "{\"exp\":1800000000,\"iat\":%lld}";
    assert_int_equal(payf(v, NOW, iat, NOW), SR_JWT_OK);
    assert_int_equal(payf(v, NOW, iat, NOW + 1), SR_JWT_ENOTYET);
    assert_int_equal(pay(v, "{\"exp\":1800000000,\"iat\":null}", NOW), SR_JWT_ECLAIMS);
    /* exp is checked before nbf. */
    assert_int_equal(pay(v, "{\"exp\":1,\"nbf\":1800000000}", NOW), SR_JWT_EEXPIRED);
    sr_jwt_verifier_free(v);
}

/* With a leeway L: valid while now < exp + L, and from nbf - L; iat may
 * be up to L ahead. Both sides of every boundary. */
static void test_leeway_boundaries(void **state) {
    (void)state;
    const unsigned leeway = 30;
    sr_jwt_verifier *v = verifier(SR_JWT_HS256, leeway);
    const char *exp = "{\"exp\":%lld}";
    assert_int_equal(payf(v, NOW, exp, NOW - leeway + 1), SR_JWT_OK);
    assert_int_equal(payf(v, NOW, exp, NOW - leeway), SR_JWT_EEXPIRED);
    assert_int_equal(pay(v, "{\"exp\":1699999970.001}", NOW), SR_JWT_OK);
    assert_int_equal(pay(v, "{\"exp\":1699999969.999}", NOW), SR_JWT_EEXPIRED);
    const char *nbf = "{\"exp\":1800000000,\"nbf\":%lld}";
    assert_int_equal(payf(v, NOW, nbf, NOW + leeway), SR_JWT_OK);
    assert_int_equal(payf(v, NOW, nbf, NOW + leeway + 1), SR_JWT_ENOTYET);
    assert_int_equal(pay(v, "{\"exp\":1800000000,\"nbf\":1700000030.001}", NOW), SR_JWT_ENOTYET);
    const char *iat = "{\"exp\":1800000000,\"iat\":%lld}";
    assert_int_equal(payf(v, NOW, iat, NOW + leeway), SR_JWT_OK);
    assert_int_equal(payf(v, NOW, iat, NOW + leeway + 1), SR_JWT_ENOTYET);
    /* The same token moves across the boundary as the clock does. */
    char *t = hs_token("{\"exp\":1700000100,\"nbf\":1700000050}");
    assert_int_equal(verify(v, t, 1700000050 - leeway - 1), SR_JWT_ENOTYET);
    assert_int_equal(verify(v, t, 1700000050 - leeway), SR_JWT_OK);
    assert_int_equal(verify(v, t, 1700000100 + leeway - 1), SR_JWT_OK);
    assert_int_equal(verify(v, t, 1700000100 + leeway), SR_JWT_EEXPIRED);
    free(t);
    sr_jwt_verifier_free(v);
}

static sr_jwt_verifier *with_iss_aud(const char *iss, const char *aud) {
    sr_jwt_config cfg = {.alg = SR_JWT_HS256,
                         .secret = hs_secret,
                         .secret_len = strlen(hs_secret),
                         .issuer = iss,
                         .audience = aud};
    return make_verifier(&cfg);
}

static void test_issuer_audience(void **state) {
    (void)state;
    sr_jwt_verifier *plain = verifier(SR_JWT_HS256, 0);
    sr_jwt_verifier *iss = with_iss_aud("https://auth.example", NULL);
    sr_jwt_verifier *aud = with_iss_aud(NULL, "sserooms");
    const char *p;
    p = "{\"exp\":1800000000,\"iss\":\"https://auth.example\"}";
    assert_int_equal(pay(iss, p, NOW), SR_JWT_OK);
    assert_int_equal(pay(plain, p, NOW), SR_JWT_OK);
    p = "{\"exp\":1800000000,\"iss\":\"https:\\/\\/auth.example\"}"; /* escaped '/' */
    assert_int_equal(pay(iss, p, NOW), SR_JWT_OK);
    assert_int_equal(pay(iss, "{\"exp\":1800000000,\"iss\":\"https://auth.example/\"}", NOW),
                     SR_JWT_EISSUER);
    assert_int_equal(pay(iss, "{\"exp\":1800000000,\"iss\":\"https://AUTH.example\"}", NOW),
                     SR_JWT_EISSUER);
    assert_int_equal(pay(iss, "{\"exp\":1800000000}", NOW), SR_JWT_EISSUER);
    assert_int_equal(pay(iss, "{\"exp\":1800000000,\"iss\":7}", NOW), SR_JWT_ECLAIMS);
    assert_int_equal(pay(plain, "{\"exp\":1800000000,\"iss\":[]}", NOW), SR_JWT_ECLAIMS);

    assert_int_equal(pay(aud, "{\"exp\":1800000000,\"aud\":\"sserooms\"}", NOW), SR_JWT_OK);
    assert_int_equal(pay(aud, "{\"exp\":1800000000,\"aud\":[\"x\",\"sserooms\"]}", NOW), SR_JWT_OK);
    assert_int_equal(pay(aud, "{\"exp\":1800000000,\"aud\":[\"sserooms\",\"x\"]}", NOW), SR_JWT_OK);
    assert_int_equal(pay(aud, "{\"exp\":1800000000,\"aud\":[\"x\",\"y\"]}", NOW), SR_JWT_EAUDIENCE);
    assert_int_equal(pay(aud, "{\"exp\":1800000000,\"aud\":[]}", NOW), SR_JWT_EAUDIENCE);
    assert_int_equal(pay(aud, "{\"exp\":1800000000,\"aud\":\"sserooms2\"}", NOW), SR_JWT_EAUDIENCE);
    assert_int_equal(pay(aud, "{\"exp\":1800000000}", NOW), SR_JWT_EAUDIENCE);
    assert_int_equal(pay(aud, "{\"exp\":1800000000,\"aud\":[\"sserooms\",1]}", NOW),
                     SR_JWT_ECLAIMS);
    assert_int_equal(pay(aud, "{\"exp\":1800000000,\"aud\":{\"a\":\"sserooms\"}}", NOW),
                     SR_JWT_ECLAIMS);
    /* A token made for some audience is not for a verifier that has none. */
    assert_int_equal(pay(plain, "{\"exp\":1800000000,\"aud\":\"sserooms\"}", NOW),
                     SR_JWT_EAUDIENCE);
    /* Time is checked before iss and aud. */
    assert_int_equal(pay(aud, "{\"exp\":1,\"aud\":\"other\"}", NOW), SR_JWT_EEXPIRED);
    /* A lone surrogate decodes to U+FFFD, but is not U+FFFD. */
    sr_jwt_verifier *repl = with_iss_aud("\xef\xbf\xbd", NULL);
    assert_int_equal(pay(repl, "{\"exp\":1800000000,\"iss\":\"\\ufffd\"}", NOW), SR_JWT_OK);
    assert_int_equal(pay(repl, "{\"exp\":1800000000,\"iss\":\"\\ud800\"}", NOW), SR_JWT_EISSUER);
    sr_jwt_verifier_free(repl);
    sr_jwt_verifier_free(plain);
    sr_jwt_verifier_free(iss);
    sr_jwt_verifier_free(aud);
}

static void test_custom_claim_names(void **state) {
    (void)state;
    sr_jwt_config cfg = {.alg = SR_JWT_ES256,
                         .public_key_file = DATA "ec_public.pem",
                         .rooms_claim = "sse_rooms",
                         .publish_claim = "sse_publish"};
    sr_jwt_verifier *v = make_verifier(&cfg);
    assert_string_equal(sr_jwt_verifier_rooms_claim(v), "sse_rooms");
    assert_string_equal(sr_jwt_verifier_publish_claim(v), "sse_publish");
    sr_jwt_verifier_free(v);
    v = verifier(SR_JWT_RS256, 0);
    assert_string_equal(sr_jwt_verifier_rooms_claim(v), "rooms");
    assert_string_equal(sr_jwt_verifier_publish_claim(v), "publish");
    sr_jwt_verifier_free(v);
}

/* Each configuration must be refused with a message naming the problem. */
static void expect_config_error(const sr_jwt_config *cfg, const char *needle) {
    sr_jwt_verifier *v = (sr_jwt_verifier *)1;
    char err[256] = "x";
    int rc = sr_jwt_verifier_new(cfg, &v, err, sizeof err);
    if (rc != SR_JWT_ECONFIG)
        fail_msg("config accepted (rc %d), expected an error about '%s'", rc, needle);
    assert_null(v);
    if (!strstr(err, needle)) fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_config_refusals(void **state) {
    (void)state;
    const char *sec = hs_secret;
    size_t sl = strlen(sec);
    char *ec_pem = read_text(DATA "ec_public.pem", NULL);
    char *rsa_priv_pem = read_text(DATA "rsa_private.pem", NULL);
    sr_jwt_config c;

    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_ALG_NONE, .secret = sec, .secret_len = sl},
                        "algorithm");
    expect_config_error(&(sr_jwt_config){.alg = (sr_jwt_alg)42, .secret = sec, .secret_len = sl},
                        "algorithm");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_HS256}, "secret");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_HS256, .secret = sec, .secret_len = 31},
                        "32");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_HS256,
                                         .secret = sec,
                                         .secret_len = sl,
                                         .public_key_file = DATA "rsa_public.pem"},
                        "public key");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_HS256,
                                         .secret = ec_pem,
                                         .secret_len = strlen(ec_pem)},
                        "PEM");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_RS256}, "exactly one");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_RS256, .secret = sec, .secret_len = sl},
                        "not a secret");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_RS256,
                                         .public_key_pem = rsa_public_pem,
                                         .public_key_file = DATA "rsa_public.pem"},
                        "exactly one");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_RS256,
                                         .public_key_file = DATA "does-not-exist.pem"},
                        "does-not-exist.pem");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_RS256, .public_key_pem = ec_pem}, "RSA");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_RS256,
                                         .public_key_file = DATA "rsa1024_public.pem"},
                        "2048");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_ES256, .public_key_pem = rsa_public_pem},
                        "P-256");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_ES256,
                                         .public_key_file = DATA "ec384_public.pem"},
                        "P-256");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_RS256, .public_key_pem = rsa_priv_pem},
                        "private key");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_RS256,
                                         .public_key_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                                           "-----END PUBLIC KEY-----\n"},
                        "not a PEM public key");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_RS256, .public_key_pem = "hello"},
                        "not a PEM public key");
    /* A PEM text cut short (length given explicitly). */
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_RS256,
                                         .public_key_pem = rsa_public_pem,
                                         .public_key_pem_len = strlen(rsa_public_pem) / 2},
                        "not a PEM public key");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_HS256,
                                         .secret = sec,
                                         .secret_len = sl,
                                         .leeway_s = SR_JWT_MAX_LEEWAY + 1},
                        "leeway");
    expect_config_error(
        &(sr_jwt_config){.alg = SR_JWT_HS256, .secret = sec, .secret_len = sl, .issuer = ""},
        "issuer");
    expect_config_error(
        &(sr_jwt_config){.alg = SR_JWT_HS256, .secret = sec, .secret_len = sl, .rooms_claim = ""},
        "claim");
    expect_config_error(&(sr_jwt_config){.alg = SR_JWT_HS256,
                                         .secret = sec,
                                         .secret_len = sl,
                                         .max_token_len = 1u << 20},
                        "cap");
    sr_jwt_verifier *v = NULL;
    assert_int_equal(sr_jwt_verifier_new(NULL, &v, NULL, 0), SR_JWT_ECONFIG);

    /* Accepted forms: PKCS#1 "RSA PUBLIC KEY" text, a PEM without its
     * final newline, a 32-byte secret, the maximum leeway. */
    c = (sr_jwt_config){.alg = SR_JWT_RS256};
    char *pkcs1 = read_text(DATA "rsa_public_pkcs1.pem", NULL);
    c.public_key_pem = pkcs1;
    v = make_verifier(&c);
    assert_int_equal(check(v, rs_token("{\"exp\":1800000000}"), NOW), SR_JWT_OK);
    sr_jwt_verifier_free(v);
    free(pkcs1);
    c = (sr_jwt_config){.alg = SR_JWT_RS256,
                        .public_key_pem = rsa_public_pem,
                        .public_key_pem_len = strlen(rsa_public_pem) - 1};
    v = make_verifier(&c);
    sr_jwt_verifier_free(v);
    c = (sr_jwt_config){.alg = SR_JWT_HS256,
                        .secret = sec,
                        .secret_len = 32,
                        .leeway_s = SR_JWT_MAX_LEEWAY};
    v = make_verifier(&c);
    sr_jwt_verifier_free(v);
    sr_jwt_verifier_free(NULL);
    free(ec_pem);
    free(rsa_priv_pem);
}

static void test_messages(void **state) {
    (void)state;
    for (int code = 1; code >= -14; code--) {
        const char *m = sr_jwt_strerror(code);
        assert_non_null(m);
        assert_true(m[0] != '\0');
    }
    assert_string_equal(sr_jwt_strerror(SR_JWT_EALG), "token algorithm not accepted");
    assert_string_equal(sr_jwt_alg_name(SR_JWT_RS256), "RS256");
    assert_null(sr_jwt_alg_name(SR_JWT_ALG_NONE));
    /* Details name the check that failed. */
    sr_jwt_verifier *v = verifier(SR_JWT_HS256, 0);
    sr_jwt_claims c;
    char *t = hs_token("{\"exp\":1}");
    assert_int_equal(sr_jwt_verify(v, t, strlen(t), NOW, &c), SR_JWT_EEXPIRED);
    assert_string_equal(c.detail, "token expired (exp)");
    assert_null(c.payload);
    free(t);
    assert_int_equal(sr_jwt_verify(v, NULL, 0, NOW, &c), SR_JWT_EMALFORMED);
    assert_int_equal(sr_jwt_verify(NULL, "a.b.c", 5, NOW, &c), SR_JWT_EMALFORMED);
    assert_int_equal(sr_jwt_verify(v, "a.b.c", 5, NOW, NULL), SR_JWT_EMALFORMED);
    sr_jwt_claims_free(NULL);
    sr_jwt_verifier_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_nbf_iat),
        cmocka_unit_test(test_leeway_boundaries),
        cmocka_unit_test(test_issuer_audience),
        cmocka_unit_test(test_custom_claim_names),
        cmocka_unit_test(test_config_refusals),
        cmocka_unit_test(test_messages),
    };
    return cmocka_run_group_tests(tests, auth_keys_setup, auth_keys_teardown);
}
