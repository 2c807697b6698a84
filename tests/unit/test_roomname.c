/* SPDX-License-Identifier: MIT */
/*
 * test_roomname.c: sr_room_name_check, the room-name rule of the public
 * API: exactly the documented byte set, 1..max_len bytes, NULL refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sserooms.h"

static void test_room_name_check(void **state) {
    (void)state;
    const char *ok_names[] = {"a",
                              "Room-1",
                              "chat:general",
                              "user@example.com",
                              "a/b/c",
                              "k=v+w~x",
                              "x!y$z*,;",
                              "under_score.dot",
                              "0123456789",
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_.:@/=+~!$*,;"};
    for (size_t i = 0; i < sizeof ok_names / sizeof ok_names[0]; i++)
        assert_int_equal(sr_room_name_check(ok_names[i], strlen(ok_names[i]), 128), 0);

    const char *bad_names[] = {"a b",       "a%20b",       "a&b",      "a?b",    "a#b",
                               "tab\there", "new\nline",   "quote\"",  "apos'",  "back\\slash",
                               "<tag>",     "caf\xc3\xa9", "pipe|",    "brace{", "caret^",
                               "grave`",    "paren(",      "bracket[", "\x7f",   "del\x01"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        assert_int_equal(sr_room_name_check(bad_names[i], strlen(bad_names[i]), 128), SR_EROOM);

    /* Every single byte: exactly the documented set passes. */
    const char *allowed = "-_.:@/=+~!$*,;";
    for (int c = 0; c < 256; c++) {
        char b = (char)c;
        int expect_ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || (c != 0 && strchr(allowed, c) != NULL);
        assert_int_equal(sr_room_name_check(&b, 1, 128), expect_ok ? 0 : SR_EROOM);
    }

    /* Length: 1..max_len; embedded NUL is a bad byte; NULL refused. */
    char long_name[300];
    memset(long_name, 'x', sizeof long_name);
    assert_int_equal(sr_room_name_check(long_name, 128, 128), 0);
    assert_int_equal(sr_room_name_check(long_name, 129, 128), SR_EROOM);
    assert_int_equal(sr_room_name_check(long_name, 300, 300), 0);
    assert_int_equal(sr_room_name_check(long_name, 1, 0), SR_EROOM);
    assert_int_equal(sr_room_name_check("", 0, 128), SR_EROOM);
    assert_int_equal(sr_room_name_check("ab\0c", 4, 128), SR_EROOM);
    assert_int_equal(sr_room_name_check(NULL, 0, 128), SR_EROOM);
    assert_int_equal(sr_room_name_check(NULL, 5, 128), SR_EROOM);
    /* Only len bytes are read: a valid prefix of a longer buffer passes. */
    assert_int_equal(sr_room_name_check("abc def", 3, 128), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_room_name_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
