/* SPDX-License-Identifier: MIT */
/*
 * test_addr.c: sr_addr_group, the key of the per-address connection limit
 * (issue #18, finding 6): two IPv6 addresses of one /64 are one key by
 * default, of two /64s two keys; other prefix lengths cut at their bit;
 * IPv4(-mapped) addresses are never grouped; in place works.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/addr.h"

static void key_of(const char *text, unsigned prefix, uint8_t out[16]) {
    uint8_t a[16];
    if (strchr(text, ':')) {
        assert_int_equal(inet_pton(AF_INET6, text, a), 1);
    } else {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(a, mapped, 12);
        assert_int_equal(inet_pton(AF_INET, text, a + 12), 1);
    }
    sr_addr_group(a, prefix, out);
}

static int same(const char *x, const char *y, unsigned prefix) {
    uint8_t a[16], b[16];
    key_of(x, prefix, a);
    key_of(y, prefix, b);
    return memcmp(a, b, 16) == 0;
}

static void test_ipv6_default_64(void **state) {
    (void)state;
    assert_true(same("2001:db8:1:2::1", "2001:db8:1:2:ffff:eeee:dddd:cccc", 0));
    assert_true(same("2001:db8:1:2::1", "2001:db8:1:2::2", 64));
    assert_false(same("2001:db8:1:2::1", "2001:db8:1:3::1", 0));
    assert_false(same("2001:db8:1:2::1", "2001:db9:1:2::1", 0));
    uint8_t k[16], want[16];
    key_of("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 0, k);
    assert_int_equal(inet_pton(AF_INET6, "2001:db8:1:2::", want), 1);
    assert_memory_equal(k, want, 16);
}

static void test_other_prefixes(void **state) {
    (void)state;
    /* 128: each address alone */
    assert_false(same("2001:db8::1", "2001:db8::2", 128));
    assert_true(same("2001:db8::1", "2001:db8::1", 128));
    assert_false(same("2001:db8::1", "2001:db8::2", 200)); /* clamped to 128 */
    /* 56 cuts inside the 7th byte's boundary: 2001:db8:1:ff00::/56 */
    assert_true(same("2001:db8:1:ff00::1", "2001:db8:1:ffff::1", 56));
    assert_false(same("2001:db8:1:ff00::1", "2001:db8:1:fe00::1", 56));
    /* 60: a bit boundary in the middle of a byte */
    assert_true(same("2001:db8:1:20::1", "2001:db8:1:2f::1", 60));
    assert_false(same("2001:db8:1:20::1", "2001:db8:1:30::1", 60));
    /* 1: only the top bit */
    assert_true(same("2001::", "7fff::1", 1));
    assert_false(same("2001::", "8001::", 1));
}

static void test_ipv4_never_grouped(void **state) {
    (void)state;
    assert_false(same("127.0.0.2", "127.0.0.3", 0));
    assert_false(same("10.0.0.1", "10.0.0.2", 1));
    assert_true(same("192.0.2.7", "192.0.2.7", 64));
    /* in place */
    uint8_t a[16], b[16];
    assert_int_equal(inet_pton(AF_INET6, "2001:db8:1:2:3:4:5:6", a), 1);
    memcpy(b, a, 16);
    sr_addr_group(a, 64, a);
    sr_addr_group(b, 64, b);
    assert_memory_equal(a, b, 16);
    assert_int_equal(a[8], 0);
    assert_int_equal(a[7], 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv6_default_64),
        cmocka_unit_test(test_other_prefixes),
        cmocka_unit_test(test_ipv4_never_grouped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
