/* SPDX-License-Identifier: MIT */
/*
 * test_sse.c: the SSE encoder writes exactly the reference's frames.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sse/frame.h"

static void expect_frame(const char *id, const char *event, const char *data, uint32_t retry,
                         const char *want) {
    size_t idl = id ? strlen(id) : 0, evl = event ? strlen(event) : 0;
    sr_frame *f = sr_frame_encode(id, idl, event, evl, data, strlen(data), retry);
    assert_non_null(f);
    assert_int_equal(f->len, strlen(want));
    assert_memory_equal(f->bytes, want, f->len);
    assert_int_equal(sr_sse_encoded_len(id, idl, event, evl, data, strlen(data), retry), f->len);
    sr_frame_unref(f);
}

static void test_reference_example(void **state) {
    (void)state;
    expect_frame("1", "message", "{\"from\":\"system\",\"text\":\"Hi\"}", 0,
                 "id: 1\nevent: message\ndata: {\"from\":\"system\",\"text\":\"Hi\"}\n\n");
}

static void test_optional_fields(void **state) {
    (void)state;
    expect_frame(NULL, NULL, "null", 0, "data: null\n\n");
    expect_frame("", "", "\"[DONE]\"", 0, "data: \"[DONE]\"\n\n");
    expect_frame(NULL, "tick", "1", 0, "event: tick\ndata: 1\n\n");
    expect_frame("7", NULL, "{}", 0, "id: 7\ndata: {}\n\n");
    expect_frame("7", "e", "[]", 5000, "id: 7\nevent: e\ndata: []\nretry: 5000\n\n");
    expect_frame(NULL, NULL, "0", 4294967295u, "data: 0\nretry: 4294967295\n\n");
    expect_frame(NULL, NULL, "0", 1, "data: 0\nretry: 1\n\n");
}

static void test_multiline_data(void **state) {
    (void)state;
    expect_frame(NULL, NULL, "{\n\"a\":1\n}", 0, "data: {\ndata: \"a\":1\ndata: }\n\n");
    /* CR and CRLF end lines too, so a raw CR can never end a field early */
    expect_frame(NULL, NULL, "[1,\r2]", 0, "data: [1,\ndata: 2]\n\n");
    expect_frame(NULL, NULL, "[1,\r\n2]", 0, "data: [1,\ndata: 2]\n\n");
    expect_frame(NULL, NULL, "[1,\n\r2]", 0, "data: [1,\ndata: \ndata: 2]\n\n");
    expect_frame(NULL, NULL, "[1\n\n]", 0, "data: [1\ndata: \ndata: ]\n\n");
}

static void test_refcount(void **state) {
    (void)state;
    sr_frame *f = sr_frame_raw(": heartbeat\n\n", 13);
    assert_non_null(f);
    sr_frame_ref(f);
    sr_frame_ref(f);
    assert_int_equal(atomic_load(&f->refs), 3);
    sr_frame_unref(f);
    sr_frame_unref(f);
    assert_int_equal(atomic_load(&f->refs), 1);
    assert_memory_equal(f->bytes, ": heartbeat\n\n", 13);
    sr_frame_unref(f); /* freed: ASan reports a leak or double free otherwise */
}

static void test_newline_check(void **state) {
    (void)state;
    assert_false(sr_sse_has_newline("abc", 3));
    assert_true(sr_sse_has_newline("a\nb", 3));
    assert_true(sr_sse_has_newline("a\rb", 3));
    assert_false(sr_sse_has_newline("", 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_example), cmocka_unit_test(test_optional_fields),
        cmocka_unit_test(test_multiline_data),    cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_newline_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
