/* SPDX-License-Identifier: MIT */
/*
 * test_redis_envelope.c: byte-exact envelope encoding (the reference's
 * JSON.stringify output) and every reason a received payload is dropped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis/envelope.h"

static char *encode(const sr_message *m, const char *node, const char *meta) {
    size_t len = 0;
    char *s = sr_envelope_encode_alloc(m, node, meta, meta ? strlen(meta) : 0, &len);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    return s;
}

static void test_encode_wire_example(void **state) {
    sr_message m = {.id = "1",
                    .event = "message",
                    .data = "{\"from\":\"system\",\"text\":\"Hi\"}",
                    .data_len = SIZE_MAX,
                    .retry = 5000};
    char *s = encode(&m, "node-1", "{\"tier\":\"gold\"}");
    assert_string_equal(s, "{\"v\":1,\"m\":{\"event\":\"message\",\"data\":{\"from\":\"system\","
                           "\"text\":\"Hi\"},\"id\":\"1\",\"retry\":5000},\"n\":\"node-1\","
                           "\"meta\":{\"tier\":\"gold\"}}");
    free(s);
}

static void test_encode_optional_fields_absent(void **state) {
    sr_message m = {.data = "\"[DONE]\"", .data_len = SIZE_MAX, .id = "", .event = ""};
    char *s = encode(&m, "abc", NULL);
    assert_string_equal(s, "{\"v\":1,\"m\":{\"data\":\"[DONE]\"},\"n\":\"abc\"}");
    free(s);
    /* data given by length, not NUL-terminated; retry without id/event */
    const char buf[] = "[1,2]xxxx";
    sr_message m2 = {.data = buf, .data_len = 5, .retry = 1};
    s = encode(&m2, "n", NULL);
    assert_string_equal(s, "{\"v\":1,\"m\":{\"data\":[1,2],\"retry\":1},\"n\":\"n\"}");
    free(s);
}

static void test_encode_quotes_strings(void **state) {
    sr_message m = {.data = "null",
                    .data_len = SIZE_MAX,
                    .id = "a\"b\\c",
                    .event = "\x01\xc3\xa9t\xc3\xa9"};
    char *s = encode(&m, "n\tx", NULL);
    assert_string_equal(s, "{\"v\":1,\"m\":{\"event\":\"\\u0001\xc3\xa9t\xc3\xa9\",\"data\":null,"
                           "\"id\":\"a\\\"b\\\\c\"},\"n\":\"n\\tx\"}");
    free(s);
}

static void test_encode_measure_and_small_buffer(void **state) {
    sr_message m = {.data = "{\"k\":\"v\"}", .data_len = SIZE_MAX, .id = "42", .event = "e"};
    size_t need = sr_envelope_encode(&m, "node", "{}", 2, NULL, 0);
    char expect[256];
    size_t n = sr_envelope_encode(&m, "node", "{}", 2, expect, sizeof expect);
    assert_int_equal(n, need);
    expect[n] = '\0';
    /* every shorter buffer: same length reported, no byte past cap written */
    for (size_t cap = 0; cap < need; cap++) {
        char buf[256];
        memset(buf, '#', sizeof buf);
        assert_int_equal(sr_envelope_encode(&m, "node", "{}", 2, buf, cap), need);
        for (size_t i = cap; i < sizeof buf; i++) assert_int_equal(buf[i], '#');
    }
}

/* ------------------------------------------------------------ decode */

static sr_envelope_status dec(const char *payload, sr_envelope *env) {
    return sr_envelope_decode(payload, strlen(payload), 1000, env);
}

static void expect_status(const char *payload, sr_envelope_status want) {
    sr_envelope env;
    sr_envelope_status st = dec(payload, &env);
    if (st != want)
        fail_msg("%s: got %s, want %s", payload, sr_envelope_status_name(st),
                 sr_envelope_status_name(want));
    if (st == SR_ENVELOPE_OK) sr_envelope_release(&env);
    else assert_null(env.strings);
}

static void test_decode_full(void **state) {
    const char *p =
        "{\"v\":1,\"m\":{\"event\":\"chat\",\"data\":{ \"a\" : [1, 2.50, \"\\u00e9\"] },"
        "\"id\":\"0-000000000007\",\"retry\":2500},\"n\":\"node-B\","
        "\"meta\":{\"tenant\":\"t1\"}}";
    sr_envelope env;
    assert_int_equal(dec(p, &env), SR_ENVELOPE_OK);
    assert_int_equal(env.msg.data_len, strlen("{ \"a\" : [1, 2.50, \"\\u00e9\"] }"));
    assert_memory_equal(env.msg.data, "{ \"a\" : [1, 2.50, \"\\u00e9\"] }", env.msg.data_len);
    assert_string_equal(env.msg.event, "chat");
    assert_string_equal(env.msg.id, "0-000000000007");
    assert_int_equal(env.msg.retry, 2500);
    assert_string_equal(env.node_id, "node-B");
    assert_int_equal(env.node_id_len, 6);
    assert_int_equal(env.meta_len, strlen("{\"tenant\":\"t1\"}"));
    assert_memory_equal(env.meta, "{\"tenant\":\"t1\"}", env.meta_len);
    sr_envelope_release(&env);
}

static void test_decode_minimal_and_roundtrip(void **state) {
    sr_envelope env;
    assert_int_equal(dec("{\"v\":1,\"m\":{\"data\":null},\"n\":\"x\"}", &env), SR_ENVELOPE_OK);
    assert_null(env.msg.event);
    assert_null(env.msg.id);
    assert_int_equal(env.msg.retry, 0);
    assert_null(env.meta);
    assert_int_equal(env.msg.data_len, 4);
    assert_memory_equal(env.msg.data, "null", 4);
    sr_envelope_release(&env);

    /* empty id / event are absent, retry 0 is absent */
    assert_int_equal(
        dec("{\"v\":1,\"m\":{\"event\":\"\",\"data\":1,\"id\":\"\",\"retry\":0},\"n\":\"\"}", &env),
        SR_ENVELOPE_OK);
    assert_null(env.msg.event);
    assert_null(env.msg.id);
    assert_string_equal(env.node_id, "");
    sr_envelope_release(&env);

    sr_message m = {.data = "[\"x\",{\"y\":-0.0e+5}]",
                    .data_len = SIZE_MAX,
                    .id = "i",
                    .event = "ev",
                    .retry = 7};
    char *s = encode(&m, "me", "{\"a\":1}");
    assert_int_equal(dec(s, &env), SR_ENVELOPE_OK);
    assert_int_equal(env.msg.data_len, strlen(m.data));
    assert_memory_equal(env.msg.data, m.data, env.msg.data_len);
    assert_string_equal(env.msg.id, "i");
    assert_string_equal(env.msg.event, "ev");
    assert_int_equal(env.msg.retry, 7);
    assert_string_equal(env.node_id, "me");
    sr_envelope_release(&env);
    free(s);
}

static void test_decode_version_values(void **state) {
    expect_status("{\"v\":1.0,\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_OK);
    expect_status("{\"v\":1e0,\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_OK);
    expect_status("{\"v\":10E-1,\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_OK);
    expect_status("{\"v\":0.1e1,\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_OK);
    /* JSON.parse: duplicate keys, the last wins */
    expect_status("{\"v\":2,\"v\":1,\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_OK);
    expect_status("{\"v\":1,\"v\":2,\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_BAD_VERSION);
    /* escaped key names are compared decoded */
    expect_status("{\"\\u0076\":1,\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_OK);
    expect_status("{\"v\":\"1\",\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_BAD_VERSION);
    expect_status("{\"v\":2,\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_BAD_VERSION);
    expect_status("{\"v\":1.5,\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_BAD_VERSION);
    expect_status("{\"v\":-1,\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_BAD_VERSION);
    expect_status("{\"v\":true,\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_BAD_VERSION);
    expect_status("{\"v\":null,\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_BAD_VERSION);
    expect_status("{\"v\":[1],\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_BAD_VERSION);
    expect_status("{\"m\":{\"data\":1},\"n\":\"x\"}", SR_ENVELOPE_BAD_VERSION);
    expect_status("{}", SR_ENVELOPE_BAD_VERSION);
}

static void test_decode_invalid_and_not_object(void **state) {
    expect_status("", SR_ENVELOPE_INVALID_JSON);
    expect_status("{", SR_ENVELOPE_INVALID_JSON);
    expect_status("not json", SR_ENVELOPE_INVALID_JSON);
    expect_status("{\"v\":1,}", SR_ENVELOPE_INVALID_JSON);
    expect_status("{\"v\":1} x", SR_ENVELOPE_INVALID_JSON);
    expect_status("{'v':1}", SR_ENVELOPE_INVALID_JSON);
    expect_status("\xef\xbb\xbf{}", SR_ENVELOPE_INVALID_JSON);
    expect_status("[1]", SR_ENVELOPE_NOT_OBJECT);
    expect_status("\"str\"", SR_ENVELOPE_NOT_OBJECT);
    expect_status("1", SR_ENVELOPE_NOT_OBJECT);
    expect_status("null", SR_ENVELOPE_NOT_OBJECT);
    expect_status(" true ", SR_ENVELOPE_NOT_OBJECT);
    /* a NUL byte inside the payload is not JSON */
    sr_envelope env;
    const char with_nul[] = "{\"v\":1,\0\"m\":{\"data\":1},\"n\":\"x\"}";
    assert_int_equal(sr_envelope_decode(with_nul, sizeof with_nul - 1, 1000, &env),
                     SR_ENVELOPE_INVALID_JSON);
    /* nesting beyond the limit */
    size_t depth = 1200;
    char *deep = malloc(2 * depth + 64);
    size_t n = (size_t)sprintf(deep, "{\"v\":1,\"m\":{\"data\":");
    for (size_t i = 0; i < depth; i++) deep[n++] = '[';
    for (size_t i = 0; i < depth; i++) deep[n++] = ']';
    n += (size_t)sprintf(deep + n, "},\"n\":\"x\"}");
    assert_int_equal(sr_envelope_decode(deep, n, 1000, &env), SR_ENVELOPE_INVALID_JSON);
    assert_int_equal(sr_envelope_decode(deep, n, 5000, &env), SR_ENVELOPE_OK);
    sr_envelope_release(&env);
    free(deep);
}

static void test_decode_bad_fields(void **state) {
    const char *bad[] = {
        "{\"v\":1,\"n\":\"x\"}",          /* m missing */
        "{\"v\":1,\"m\":[],\"n\":\"x\"}", /* m not an object */
        "{\"v\":1,\"m\":\"hi\",\"n\":\"x\"}",
        "{\"v\":1,\"m\":null,\"n\":\"x\"}",
        "{\"v\":1,\"m\":{},\"n\":\"x\"}", /* data missing */
        "{\"v\":1,\"m\":{\"event\":\"e\"},\"n\":\"x\"}",
        "{\"v\":1,\"m\":{\"data\":1,\"event\":null},\"n\":\"x\"}", /* neither string nor number */
        "{\"v\":1,\"m\":{\"data\":1,\"event\":true},\"n\":\"x\"}",
        "{\"v\":1,\"m\":{\"data\":1,\"id\":[\"a\"]},\"n\":\"x\"}",
        "{\"v\":1,\"m\":{\"data\":1,\"id\":{}},\"n\":\"x\"}",
        "{\"v\":1,\"m\":{\"data\":1,\"retry\":-1},\"n\":\"x\"}", /* retry not a u32 */
        "{\"v\":1,\"m\":{\"data\":1,\"retry\":1.5},\"n\":\"x\"}",
        "{\"v\":1,\"m\":{\"data\":1,\"retry\":\"5\"},\"n\":\"x\"}",
        "{\"v\":1,\"m\":{\"data\":1,\"retry\":1e20},\"n\":\"x\"}",
        "{\"v\":1,\"m\":{\"data\":1,\"retry\":4294967296},\"n\":\"x\"}",
        "{\"v\":1,\"m\":{\"data\":1}}",         /* n missing */
        "{\"v\":1,\"m\":{\"data\":1},\"n\":5}", /* n not a string */
        "{\"v\":1,\"m\":{\"data\":1},\"n\":null}",
        "{\"v\":1,\"m\":{\"data\":1,\"id\":\"a\\nb\"},\"n\":\"x\"}", /* field injection */
        "{\"v\":1,\"m\":{\"data\":1,\"id\":\"a\\rb\"},\"n\":\"x\"}",
        "{\"v\":1,\"m\":{\"data\":1,\"event\":\"x\\r\\ndata: evil\"},\"n\":\"x\"}",
        "{\"v\":1,\"m\":{\"data\":1,\"event\":\"a\\u000ab\"},\"n\":\"x\"}",
        "{\"v\":1,\"m\":{\"data\":1,\"id\":\"a\\u0000b\"},\"n\":\"x\"}", /* NUL would cut it */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_status(bad[i], SR_ENVELOPE_BAD_FIELDS);
    expect_status("{\"v\":1,\"m\":{\"data\":1,\"retry\":4294967295},\"n\":\"x\"}", SR_ENVELOPE_OK);
    expect_status("{\"v\":1,\"m\":{\"data\":1,\"retry\":5e3},\"n\":\"x\"}", SR_ENVELOPE_OK);
    /* a tab in an id is allowed (only CR and LF break the SSE framing) */
    expect_status("{\"v\":1,\"m\":{\"data\":1,\"id\":\"a\\tb\"},\"n\":\"x\"}", SR_ENVELOPE_OK);
}

/* Numeric id/event: the reference hands m to its room manager as parsed,
 * which writes `id: ${id}`, so a number is written as JavaScript's String()
 * prints it. */
static void test_decode_numeric_id_and_event(void **state) {
    static const struct {
        const char *json, *text;
    } nums[] = {
        {"5", "5"},
        {"-5", "-5"},
        {"5.0", "5"},
        {"5e0", "5"},
        {"0", "0"},
        {"-0", "0"},
        {"0.1", "0.1"},
        {"1.5e-7", "1.5e-7"},
        {"0.000001", "0.000001"},
        {"1e-7", "1e-7"},
        {"123456789012345678901", "123456789012345680000"},
        {"1e21", "1e+21"},
        {"1.2345e25", "1.2345e+25"},
        {"9007199254740993", "9007199254740992"},
        {"0.30000000000000004", "0.30000000000000004"},
        {"1e400", "Infinity"},
        {"-1e400", "-Infinity"},
        {"5e-324", "5e-324"},
        {"1.7976931348623157e308", "1.7976931348623157e+308"},
        {"12.50", "12.5"},
        {"100", "100"},
        {"1E2", "100"},
        {"-0.0000012", "-0.0000012"},
    };
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        char p[256];
        snprintf(p, sizeof p, "{\"v\":1,\"m\":{\"event\":%s,\"data\":1,\"id\":%s},\"n\":\"x\"}",
                 nums[i].json, nums[i].json);
        sr_envelope env;
        assert_int_equal(dec(p, &env), SR_ENVELOPE_OK);
        assert_string_equal(env.msg.id, nums[i].text);
        assert_string_equal(env.msg.event, nums[i].text);
        sr_envelope_release(&env);
    }
}

/* The de-duplication key: written last, only when given, read back; a key
 * that is no usable string is ignored, not a reason to drop the message. */
static void test_dedup_key(void **state) {
    sr_message m = {.id = "", .event = "e", .data = "1", .data_len = SIZE_MAX};
    size_t len = 0;
    char *s = sr_envelope_encode_dedup(&m, "n1", "{\"t\":1}", 7, "0123456789abcdef:7", &len);
    assert_string_equal(s, "{\"v\":1,\"m\":{\"event\":\"e\",\"data\":1},\"n\":\"n1\","
                           "\"meta\":{\"t\":1},\"dedup\":\"0123456789abcdef:7\"}");
    assert_int_equal(len, strlen(s));
    sr_envelope env;
    assert_int_equal(dec(s, &env), SR_ENVELOPE_OK);
    assert_string_equal(env.dedup, "0123456789abcdef:7");
    assert_int_equal(env.dedup_len, 18);
    assert_null(env.msg.id);
    sr_envelope_release(&env);
    free(s);
    s = sr_envelope_encode_dedup(&m, "n1", NULL, 0, "", &len);
    assert_string_equal(s, "{\"v\":1,\"m\":{\"event\":\"e\",\"data\":1},\"n\":\"n1\"}");
    free(s);
    assert_int_equal(dec("{\"v\":1,\"m\":{\"data\":1},\"n\":\"x\"}", &env), SR_ENVELOPE_OK);
    assert_null(env.dedup);
    sr_envelope_release(&env);
    const char *ignored[] = {
        "{\"v\":1,\"m\":{\"data\":1},\"n\":\"x\",\"dedup\":5}",
        "{\"v\":1,\"m\":{\"data\":1},\"n\":\"x\",\"dedup\":null}",
        "{\"v\":1,\"m\":{\"data\":1},\"n\":\"x\",\"dedup\":\"\"}",
        "{\"v\":1,\"m\":{\"data\":1},\"n\":\"x\",\"dedup\":\"a\\nb\"}",
        "{\"v\":1,\"m\":{\"data\":1},\"n\":\"x\",\"dedup\":\"a\\u0000b\"}",
    };
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) {
        assert_int_equal(dec(ignored[i], &env), SR_ENVELOPE_OK);
        assert_null(env.dedup);
        sr_envelope_release(&env);
    }
}

static void test_decode_unicode_repair(void **state) {
    sr_envelope env;
    /* lone surrogate escapes in id/event decode to U+FFFD, as Node writes */
    assert_int_equal(
        dec("{\"v\":1,\"m\":{\"data\":1,\"id\":\"x\\ud800y\",\"event\":\"\\ud83d\\ude00\"},\"n\":\"n\"}",
            &env),
        SR_ENVELOPE_OK);
    assert_string_equal(env.msg.id, "x\xef\xbf\xbdy");
    assert_string_equal(env.msg.event, "\xf0\x9f\x98\x80");
    sr_envelope_release(&env);
    /* raw invalid UTF-8 inside data: forwarded repaired (U+FFFD per maximal subpart) */
    const char p[] = "{\"v\":1,\"m\":{\"data\":\"a\xff"
                     "b\xe2\x82\",\"id\":\"i\"},\"n\":\"n\"}";
    assert_int_equal(sr_envelope_decode(p, sizeof p - 1, 1000, &env), SR_ENVELOPE_OK);
    const char want[] = "\"a\xef\xbf\xbd"
                        "b\xef\xbf\xbd\"";
    assert_int_equal(env.msg.data_len, sizeof want - 1);
    assert_memory_equal(env.msg.data, want, sizeof want - 1);
    assert_string_equal(env.msg.id, "i");
    sr_envelope_release(&env);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_wire_example),
        cmocka_unit_test(test_encode_optional_fields_absent),
        cmocka_unit_test(test_encode_quotes_strings),
        cmocka_unit_test(test_encode_measure_and_small_buffer),
        cmocka_unit_test(test_decode_full),
        cmocka_unit_test(test_decode_minimal_and_roundtrip),
        cmocka_unit_test(test_decode_version_values),
        cmocka_unit_test(test_decode_invalid_and_not_object),
        cmocka_unit_test(test_decode_bad_fields),
        cmocka_unit_test(test_decode_unicode_repair),
        cmocka_unit_test(test_decode_numeric_id_and_event),
        cmocka_unit_test(test_dedup_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
