/* SPDX-License-Identifier: MIT */
/*
 * test_namecheck.c: the byte-table name check (common/namecheck.c), its
 * shared base set, and the sequence-name rule built on them
 * (common/seqname.c): exactly A-Z a-z 0-9 - _ . :, 1..SR_SEQ_NAME_MAX
 * bytes. The room-name rule, built on the same check, is test_roomname.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/namecheck.h"
#include "common/seqname.h"

static int in_base(int c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == ':';
}

static void test_base_table(void **state) {
    (void)state;
    static const uint8_t base[256] = {SR_NAME_BYTES_BASE};
    for (int c = 0; c < 256; c++) assert_int_equal(base[c], in_base(c));
}

static void test_check_with_own_table(void **state) {
    (void)state;
    static const uint8_t xy[256] = {['x'] = 1, ['y'] = 1};
    assert_int_equal(sr_name_bytes_check(xy, "xyyx", 4, 4), 0);
    assert_int_equal(sr_name_bytes_check(xy, "xyyx", 4, 3), -1); /* too long */
    assert_int_equal(sr_name_bytes_check(xy, "xyz", 3, 8), -1);  /* z not allowed */
    assert_int_equal(sr_name_bytes_check(xy, "xyz", 2, 8), 0);   /* only len bytes */
    assert_int_equal(sr_name_bytes_check(xy, "x\0y", 3, 8), -1); /* NUL not allowed */
    assert_int_equal(sr_name_bytes_check(xy, "", 0, 8), -1);
    assert_int_equal(sr_name_bytes_check(xy, NULL, 1, 8), -1);
    static const uint8_t high[256] = {[0xff] = 1};
    assert_int_equal(sr_name_bytes_check(high, "\xff\xff", 2, 8), 0); /* bytes read unsigned */
}

static void test_sequence_names(void **state) {
    (void)state;
    for (int c = 0; c < 256; c++) {
        char b = (char)c;
        assert_int_equal(sr_seq_name_check(&b, 1), in_base(c) ? 0 : -1);
    }
    const char *bad[] = {"a{b}", "h#1", "a*", "a b", "user@x", "a/b", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sr_seq_name_check(bad[i], strlen(bad[i])), -1);
    char name[SR_SEQ_NAME_MAX + 1];
    memset(name, 'a', sizeof name);
    assert_int_equal(sr_seq_name_check(name, SR_SEQ_NAME_MAX), 0);
    assert_int_equal(sr_seq_name_check(name, SR_SEQ_NAME_MAX + 1), -1);
    assert_int_equal(sr_seq_name_check("", 0), -1);
    assert_int_equal(sr_seq_name_check(NULL, 3), -1);
    assert_int_equal(sr_seq_name_check("orders:eu-1_v2.x", 16), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_table),
        cmocka_unit_test(test_check_with_own_table),
        cmocka_unit_test(test_sequence_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
