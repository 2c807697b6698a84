/* SPDX-License-Identifier: MIT */
/*
 * test_auth_signed.c: the HMAC-signed texts of tickets and session cookies
 * (src/auth/signed.c): a round trip; a changed payload, a changed MAC, a
 * wrong key, a missing dot, a short MAC and padding are all refused; a
 * derived key differs from the secret's other labels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/signed.h"

static unsigned char key[SR_SIGNED_KEY_LEN], other[SR_SIGNED_KEY_LEN];

static void make_keys(void) {
    const char *secret = "0123456789abcdef0123456789abcdef";
    assert_int_equal(sr_signed_derive_key(secret, strlen(secret), "tickets", key), 0);
    assert_int_equal(sr_signed_derive_key(secret, strlen(secret), "other", other), 0);
    assert_memory_not_equal(key, other, SR_SIGNED_KEY_LEN);
}

static void test_round_trip_and_tampering(void **state) {
    (void)state;
    make_keys();
    const char *payload = "{\"r\":[\"a\",\"chat:*\"],\"x\":1700000000000}";
    char text[512], out[512];
    ssize_t n = sr_signed_make(key, payload, strlen(payload), text, sizeof text);
    assert_true(n > 0 && (size_t)n == strlen(text) && (size_t)n == sr_signed_len(strlen(payload)));
    assert_int_equal(sr_signed_open(key, text, (size_t)n, out, sizeof out),
                     (ssize_t)strlen(payload));
    assert_string_equal(out, payload);

    assert_int_equal(sr_signed_open(other, text, (size_t)n, out, sizeof out), -1); /* wrong key */
    char bad[512];
    memcpy(bad, text, (size_t)n + 1);
    bad[3] = bad[3] == 'A' ? 'B' : 'A'; /* the payload */
    assert_int_equal(sr_signed_open(key, bad, (size_t)n, out, sizeof out), -1);
    memcpy(bad, text, (size_t)n + 1);
    bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A'; /* the MAC */
    assert_int_equal(sr_signed_open(key, bad, (size_t)n, out, sizeof out), -1);
    const char *dot = strchr(text, '.');
    assert_int_equal(sr_signed_open(key, text, (size_t)(dot - text), out, sizeof out), -1);
    assert_int_equal(sr_signed_open(key, text, (size_t)n - 1, out, sizeof out), -1); /* short MAC */
    memcpy(bad, text, (size_t)n);
    bad[n] = '=';
    bad[n + 1] = '\0';
    assert_int_equal(sr_signed_open(key, bad, strlen(bad), out, sizeof out), -1);
    assert_int_equal(sr_signed_open(key, "", 0, out, sizeof out), -1);
    assert_int_equal(sr_signed_make(key, payload, strlen(payload), text, 10), -1); /* no room */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_tampering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
