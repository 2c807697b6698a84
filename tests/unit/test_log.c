/* SPDX-License-Identifier: MIT */
/*
 * test_log.c: the sserooms command's log line formatting (app/log.c),
 * compiled into the test: what a client can put into a log line (a URL
 * path, a room name) never reaches the terminal or the log file raw.
 * C0 controls and DEL were already escaped; C1 controls (U+009B is CSI)
 * and the bidi embeddings, overrides and isolates (U+202A-U+202E,
 * U+2066-U+2069) are escaped as \u00xx / \u20xx too (issue #18, finding
 * 7), in the message and in field values, in text and in JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static char *line(app_log_format f, const char *msg, const char *field) {
    struct timespec ts = {0, 0};
    app_log_field fields[1] = {{.key = "path", .str = field}};
    size_t len = 0;
    char *out = app_log_format_line(f, &ts, APP_LOG_INFO, 7, msg, fields, field ? 1 : 0, &len);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

/* No byte sequence of a C1 control or a bidi control is left in s. */
static void assert_inert(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) fail_msg("raw C1 control in: %s", s);
        if (p[0] == 0xe2 && p[1] && app_log_deceptive_cp(p, 3))
            fail_msg("raw bidi control in: %s", s);
        if (*p < 0x20 && *p != '\n') fail_msg("raw C0 control in: %s", s);
    }
}

static void test_deceptive_ranges(void **state) {
    (void)state;
    for (unsigned cp = 0x80; cp <= 0x9f; cp++) {
        unsigned char s[2] = {0xc2, (unsigned char)cp};
        assert_int_equal(app_log_deceptive_cp(s, 2), cp);
    }
    assert_int_equal(app_log_deceptive_cp((const unsigned char *)"\xc2\xa0", 2), 0);
    assert_int_equal(app_log_deceptive_cp((const unsigned char *)"\xc3\xa9", 2), 0);
    for (unsigned cp = 0x2020; cp <= 0x2070; cp++) {
        unsigned char s[3] = {0xe2, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)),
                              (unsigned char)(0x80 | (cp & 0x3f))};
        int want = (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
        assert_int_equal(app_log_deceptive_cp(s, 3), want ? cp : 0);
    }
}

static void test_text_and_json_lines(void **state) {
    (void)state;
    /* CSI 2 J (clear screen), RLO, LRI ... PDI in the message and a field */
    const char *evil = "/a\xc2\x9b"
                       "2J\xe2\x80\xae"
                       "cod.exe\xe2\x81\xa6x\xe2\x81\xa9\x1b[0m";
    char *t = line(APP_LOG_TEXT, evil, evil);
    assert_inert(t);
    assert_non_null(strstr(t, " info /a\\u009b2J\\u202ecod.exe\\u2066x\\u2069\\u001b[0m conn=7 "));
    /* the field value holds escapes, so it is quoted */
    assert_non_null(strstr(t, " path=\"/a\\u009b2J\\u202ecod.exe\\u2066x\\u2069\\u001b[0m\"\n"));
    free(t);

    char *j = line(APP_LOG_JSON, evil, evil);
    assert_inert(j);
    assert_non_null(strstr(j, "\"msg\":\"/a\\u009b2J\\u202ecod.exe\\u2066x\\u2069\\u001b[0m\""));
    assert_non_null(strstr(j, "\"path\":\"/a\\u009b2J\\u202ecod.exe\\u2066x\\u2069\\u001b[0m\"}"));
    free(j);

    /* ordinary UTF-8 (é, no-break space, €, U+2029) stays as it is, bare */
    char *ok = line(APP_LOG_TEXT, "caf\xc3\xa9", "\xe2\x82\xac\xc2\xa0\xe2\x80\xa9");
    assert_non_null(strstr(ok, " info caf\xc3\xa9 conn=7 path=\xe2\x82\xac\xc2\xa0\xe2\x80\xa9\n"));
    free(ok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deceptive_ranges),
        cmocka_unit_test(test_text_and_json_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
