/* SPDX-License-Identifier: MIT */
/*
 * test_redis_url.c: the redis:// and unix:// URL parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "redis/url.h"
#include <sserooms/error.h>

static sr_redis_url parse_ok(const char *s) {
    sr_redis_url u;
    char err[256];
    int rc = sr_redis_url_parse(s, &u, err, sizeof err);
    if (rc != 0) fail_msg("%s: %s", s, err);
    return u;
}

static void expect_error(const char *s, const char *needle) {
    sr_redis_url u;
    char err[256];
    int rc = sr_redis_url_parse(s, &u, err, sizeof err);
    if (rc != SR_EINVAL) fail_msg("%s: expected SR_EINVAL, got %d", s, rc);
    if (!strstr(err, needle)) fail_msg("%s: error '%s' lacks '%s'", s, err, needle);
    assert_null(u.host);
    assert_null(u.password);
    assert_null(u.user);
    assert_null(u.path);
}

static void test_defaults(void **state) {
    sr_redis_url u = parse_ok("redis://localhost");
    assert_int_equal(u.is_unix, 0);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_null(u.user);
    assert_null(u.password);
    sr_redis_url_free(&u);

    u = parse_ok("redis://127.0.0.1:6380/");
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 0);
    sr_redis_url_free(&u);
}

static void test_auth_and_db(void **state) {
    sr_redis_url u = parse_ok("redis://alice:p%40ss%3Aw%2Fd@redis.example:7000/3");
    assert_string_equal(u.user, "alice");
    assert_string_equal(u.password, "p@ss:w/d");
    assert_string_equal(u.host, "redis.example");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 3);
    sr_redis_url_free(&u);

    u = parse_ok("redis://:secret@h");
    assert_null(u.user);
    assert_string_equal(u.password, "secret");
    sr_redis_url_free(&u);

    /* no colon: the password alone (redis-cli) */
    u = parse_ok("redis://secret@h:1");
    assert_null(u.user);
    assert_string_equal(u.password, "secret");
    assert_int_equal(u.port, 1);
    sr_redis_url_free(&u);

    /* an unescaped '@' in the password: the last '@' ends the userinfo */
    u = parse_ok("redis://u:a@b@h");
    assert_string_equal(u.user, "u");
    assert_string_equal(u.password, "a@b");
    assert_string_equal(u.host, "h");
    sr_redis_url_free(&u);

    u = parse_ok("redis://:@h");
    assert_null(u.password);
    sr_redis_url_free(&u);
}

static void test_ipv6(void **state) {
    sr_redis_url u = parse_ok("redis://[::1]:6390/2");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 2);
    char where[64];
    sr_redis_url_describe(&u, where, sizeof where);
    assert_string_equal(where, "[::1]:6390");
    sr_redis_url_free(&u);

    u = parse_ok("redis://[fe80::1]");
    assert_string_equal(u.host, "fe80::1");
    assert_int_equal(u.port, 6379);
    sr_redis_url_free(&u);
}

static void test_unix(void **state) {
    sr_redis_url u = parse_ok("unix:///tmp/redis.sock");
    assert_int_equal(u.is_unix, 1);
    assert_string_equal(u.path, "/tmp/redis.sock");
    assert_null(u.host);
    assert_int_equal(u.db, 0);
    char where[64];
    sr_redis_url_describe(&u, where, sizeof where);
    assert_string_equal(where, "/tmp/redis.sock");
    sr_redis_url_free(&u);

    u = parse_ok("unix:///var/run/redis/r.sock?db=5");
    assert_string_equal(u.path, "/var/run/redis/r.sock");
    assert_int_equal(u.db, 5);
    sr_redis_url_free(&u);

    u = parse_ok("unix://bob:pa%20ss@/tmp/r.sock?db=1");
    assert_string_equal(u.user, "bob");
    assert_string_equal(u.password, "pa ss");
    assert_string_equal(u.path, "/tmp/r.sock");
    assert_int_equal(u.db, 1);
    sr_redis_url_free(&u);
}

/* rediss://: the same forms, over TLS */
static void test_tls(void **state) {
    (void)state;
    sr_redis_url u = parse_ok("rediss://bob:pw@cache.example:6380/2");
    assert_int_equal(u.tls, 1);
    assert_string_equal(u.host, "cache.example");
    assert_int_equal(u.port, 6380);
    assert_string_equal(u.user, "bob");
    assert_string_equal(u.password, "pw");
    assert_int_equal(u.db, 2);
    sr_redis_url_free(&u);
    u = parse_ok("redis://cache.example");
    assert_int_equal(u.tls, 0);
    sr_redis_url_free(&u);
}

static void test_errors(void **state) {
    expect_error("", "empty");
    expect_error("http://h", "does not start with redis://, rediss:// or unix://");
    expect_error("rediss://", "missing host");
    expect_error("rediss://h:0", "bad port");
    expect_error("redis://", "missing host");
    expect_error("redis://:6379", "missing host");
    expect_error("redis://h:0", "bad port");
    expect_error("redis://h:65536", "bad port");
    expect_error("redis://h:abc", "bad port");
    expect_error("redis://h:", "bad port");
    expect_error("redis://h/x", "bad database number");
    expect_error("redis://h/-1", "bad database number");
    expect_error("redis://h?db=1", "no query");
    expect_error("redis://[::1", "unterminated IPv6");
    expect_error("redis://[]:1", "empty IPv6");
    expect_error("redis://[zz]:1", "IPv6");
    expect_error("redis://[::1]x", "unexpected text after the host");
    expect_error("redis://u:p%4@h", "percent-escape in the password");
    expect_error("redis://u:p%00@h", "percent-escape in the password");
    expect_error("redis://u%zz:p@h", "percent-escape in the user name");
    expect_error("redis://user:@h", "needs a password");
    expect_error("redis://h h", "bad character in host");
    expect_error("unix://tmp/sock", "absolute");
    expect_error("unix:///", "missing unix socket path");
    expect_error("unix:///tmp/s?foo=1", "unknown query");
    expect_error("unix:///tmp/s?db=x", "bad database number");
    expect_error("unix:///tmp/s?db=1&x", "unexpected");
}

static void test_error_buffer_small(void **state) {
    sr_redis_url u;
    char err[8];
    assert_int_equal(sr_redis_url_parse("nope", &u, err, sizeof err), SR_EINVAL);
    assert_true(strlen(err) < sizeof err);
    assert_int_equal(sr_redis_url_parse("nope", &u, NULL, 0), SR_EINVAL);
    assert_int_equal(sr_redis_url_parse(NULL, &u, NULL, 0), SR_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_auth_and_db),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_buffer_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
