/* SPDX-License-Identifier: MIT */
/*
 * test_abi.c: the copies between a program's struct and the library's of
 * another size (src/common/abi.c): an older program's smaller struct is
 * read and written only up to its size; a newer program's larger one is
 * taken when the fields the library does not know are zero, refused when
 * one is set, and zeroed past the library's size when filled. And the
 * version functions against the generated header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/abi.h"
#include <sserooms/error.h>

typedef struct lib_struct {
    uint32_t a, b, c, d;
} lib_struct;

static void test_copy_in_older(void **state) {
    (void)state;
    lib_struct defaults = {1, 2, 3, 4};
    uint32_t older[2] = {10, 20}; /* a program that knows a and b */
    assert_int_equal(sr_abi_copy_in(&defaults, sizeof defaults, older, sizeof older), SR_OK);
    assert_int_equal(defaults.a, 10);
    assert_int_equal(defaults.b, 20);
    assert_int_equal(defaults.c, 3); /* the library's default stays */
    assert_int_equal(defaults.d, 4);
}

static void test_copy_in_newer(void **state) {
    (void)state;
    lib_struct dst = {1, 2, 3, 4};
    uint32_t newer[6] = {10, 20, 30, 40, 0, 0};
    assert_int_equal(sr_abi_copy_in(&dst, sizeof dst, newer, sizeof newer), SR_OK);
    assert_int_equal(dst.d, 40);
    lib_struct kept = {1, 2, 3, 4};
    newer[5] = 7; /* a field this library does not know, set */
    assert_int_equal(sr_abi_copy_in(&kept, sizeof kept, newer, sizeof newer), SR_EINVAL);
    assert_int_equal(kept.a, 1); /* nothing taken */
    assert_int_equal(sr_abi_copy_in(&kept, sizeof kept, NULL, sizeof newer), SR_EINVAL);
    assert_int_equal(sr_abi_copy_in(&kept, sizeof kept, newer, 0), SR_EINVAL);
}

static void test_copy_out(void **state) {
    (void)state;
    lib_struct src = {1, 2, 3, 4};
    uint32_t older[3] = {9, 9, 9};
    sr_abi_copy_out(older, 2 * sizeof(uint32_t), &src, sizeof src);
    assert_int_equal(older[0], 1);
    assert_int_equal(older[1], 2);
    assert_int_equal(older[2], 9); /* past the program's size: untouched */
    uint32_t newer[6];
    memset(newer, 0xff, sizeof newer);
    sr_abi_copy_out(newer, sizeof newer, &src, sizeof src);
    assert_int_equal(newer[3], 4);
    assert_int_equal(newer[4], 0); /* fields the library does not know: zero */
    assert_int_equal(newer[5], 0);
}

/* sr_version_hex and sr_version say the same version, the generated
 * header's (sserooms/version.h, from project(VERSION)) */
static void test_version(void **state) {
    (void)state;
    assert_int_equal(sr_version_hex(), SR_VERSION_HEX);
    char text[32];
    snprintf(text, sizeof text, "%lu.%lu.%lu", sr_version_hex() >> 16,
             (sr_version_hex() >> 8) & 0xff, sr_version_hex() & 0xff);
    assert_string_equal(text, sr_version());
    assert_string_equal(SR_VERSION_STRING, sr_version());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_in_older),
        cmocka_unit_test(test_copy_in_newer),
        cmocka_unit_test(test_copy_out),
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
