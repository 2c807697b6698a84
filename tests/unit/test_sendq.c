/* SPDX-License-Identifier: MIT */
/*
 * test_sendq.c: the one send queue (src/sse/sendq.c) that the main loop
 * and the writer threads share: frames keep their order across the inline
 * ring, growth and wrap-around; the byte count follows pushes, partial and
 * whole writes and pops; the iovec stops at a hole and starts at the
 * written offset; a filled hole is written in its place; references move
 * in and out without being counted by the queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sse/sendq.h"

static sr_frame *frame(const char *s) {
    sr_frame *f = sr_frame_raw(s, strlen(s));
    assert_non_null(f);
    return f;
}

static sr_frame *hole(void) {
    sr_frame *f = frame("");
    f->hole = 1;
    return f;
}

/* What one write of the whole iovec would put on the wire. */
static size_t wire(const sr_sendq *q, char *out, size_t cap) {
    struct iovec iov[64];
    size_t n = sr_sendq_iov(q, iov, 64), len = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(len + iov[i].iov_len <= cap);
        memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    out[len] = '\0';
    return len;
}

/* Pops and releases everything; the queue is empty and on its inline ring. */
static void drain(sr_sendq *q) {
    for (sr_frame *f; (f = sr_sendq_pop(q));) sr_frame_unref(f);
    assert_int_equal(q->bytes, 0);
    sr_sendq_release(q);
    assert_ptr_equal(q->ring, q->inline_ring);
}

static void test_order_across_growth_and_wrap(void **state) {
    (void)state;
    sr_sendq q;
    sr_sendq_init(&q);
    assert_int_equal(q.cap, 2);
    char name[16];
    uint32_t next_in = 0, next_out = 0;
    size_t bytes = 0;
    /* pushes and pops interleaved so the head walks round each ring size */
    for (int round = 0; round < 200; round++) {
        int push = 1 + round % 5, pop = round % 4;
        for (int i = 0; i < push; i++) {
            snprintf(name, sizeof(name), "f%u\n", next_in++);
            sr_frame *f = frame(name);
            bytes += f->len;
            assert_int_equal(sr_sendq_push(&q, f), 0);
            assert_int_equal(q.bytes, bytes);
        }
        for (int i = 0; i < pop && q.len > 0; i++) {
            sr_frame *f = sr_sendq_pop(&q);
            snprintf(name, sizeof(name), "f%u\n", next_out++);
            assert_int_equal(f->len, strlen(name));
            assert_memory_equal(f->bytes, name, f->len);
            bytes -= f->len;
            assert_int_equal(q.bytes, bytes);
            sr_frame_unref(f);
        }
    }
    assert_true(q.cap > 2); /* it grew onto the heap */
    assert_int_equal(q.len, next_in - next_out);
    for (uint32_t i = 0; i < q.len; i++) {
        snprintf(name, sizeof(name), "f%u\n", next_out + i);
        assert_memory_equal(sr_sendq_at(&q, i)->bytes, name, strlen(name));
    }
    drain(&q);
}

static void test_written_partial_and_whole(void **state) {
    (void)state;
    sr_sendq q;
    sr_sendq_init(&q);
    assert_int_equal(sr_sendq_push(&q, frame("abc")), 0);
    assert_int_equal(sr_sendq_push(&q, frame("defg")), 0);
    assert_int_equal(sr_sendq_push(&q, frame("hi")), 0);
    char out[64];
    assert_int_equal(wire(&q, out, sizeof(out)), 9);
    assert_string_equal(out, "abcdefghi");
    assert_int_equal(sr_sendq_head_bytes(&q, 2), 7);

    size_t n = 2; /* "ab": part of the first frame */
    assert_null(sr_sendq_written(&q, &n));
    assert_int_equal(n, 0);
    assert_int_equal(q.off, 2);
    assert_int_equal(q.bytes, 7);
    wire(&q, out, sizeof(out));
    assert_string_equal(out, "cdefghi");
    assert_int_equal(sr_sendq_head_bytes(&q, 2), 5);

    n = 4; /* "c" ends the first, "def" is part of the second */
    sr_frame *f = sr_sendq_written(&q, &n);
    assert_non_null(f);
    assert_memory_equal(f->bytes, "abc", 3);
    sr_frame_unref(f);
    assert_int_equal(n, 3);
    assert_null(sr_sendq_written(&q, &n));
    assert_int_equal(q.off, 3);
    assert_int_equal(q.bytes, 3);

    n = 3; /* "g" and "hi": both left */
    f = sr_sendq_written(&q, &n);
    assert_memory_equal(f->bytes, "defg", 4);
    sr_frame_unref(f);
    f = sr_sendq_written(&q, &n);
    assert_memory_equal(f->bytes, "hi", 2);
    sr_frame_unref(f);
    assert_int_equal(n, 0);
    assert_null(sr_sendq_written(&q, &n));
    assert_int_equal(q.len, 0);
    assert_int_equal(q.bytes, 0);
    assert_int_equal(q.off, 0);
    drain(&q);
}

/* A frame popped after part of it was written takes the rest off the
 * count (the writer drops a stream's queue mid-frame). */
static void test_pop_after_partial_write(void **state) {
    (void)state;
    sr_sendq q;
    sr_sendq_init(&q);
    assert_int_equal(sr_sendq_push(&q, frame("hello")), 0);
    assert_int_equal(sr_sendq_push(&q, frame("world")), 0);
    size_t n = 3;
    assert_null(sr_sendq_written(&q, &n));
    sr_frame *f = sr_sendq_pop(&q);
    sr_frame_unref(f);
    assert_int_equal(q.bytes, 5);
    assert_int_equal(q.off, 0);
    char out[16];
    wire(&q, out, sizeof(out));
    assert_string_equal(out, "world");
    drain(&q);
}

static void test_hole_holds_back_what_follows(void **state) {
    (void)state;
    sr_sendq q;
    sr_sendq_init(&q);
    sr_frame *h = hole();
    assert_int_equal(sr_sendq_push(&q, frame("A")), 0);
    assert_int_equal(sr_sendq_push(&q, h), 0);
    assert_int_equal(sr_sendq_push(&q, frame("C")), 0);
    char out[16];
    assert_int_equal(wire(&q, out, sizeof(out)), 1);
    assert_string_equal(out, "A");
    size_t n = 1;
    sr_frame_unref(sr_sendq_written(&q, &n));
    assert_int_equal(wire(&q, out, sizeof(out)), 0); /* the hole is the head */

    sr_frame *answer = frame("BB");
    assert_true(sr_sendq_holds(&q, h));
    assert_int_equal(sr_sendq_replace(&q, h, answer), 1);
    sr_frame_unref(h); /* the queue's reference, given back by the caller */
    assert_false(sr_sendq_holds(&q, h));
    assert_int_equal(q.bytes, 3);
    wire(&q, out, sizeof(out));
    assert_string_equal(out, "BBC");

    sr_frame *stranger = frame("x");
    assert_int_equal(sr_sendq_replace(&q, stranger, stranger), 0);
    assert_int_equal(q.bytes, 3);
    sr_frame_unref(stranger);
    drain(&q);
}

/* The iovec is capped at max entries and the queue holds the frames by
 * reference: the same frame queued twice is two entries, one pointer. */
static void test_iov_cap_and_shared_frames(void **state) {
    (void)state;
    sr_sendq q;
    sr_sendq_init(&q);
    sr_frame *f = frame("shared\n");
    for (int i = 0; i < 10; i++) {
        sr_frame_ref(f);
        assert_int_equal(sr_sendq_push(&q, f), 0);
    }
    assert_int_equal(atomic_load(&f->refs), 11); /* the queue counts none itself */
    struct iovec iov[4];
    assert_int_equal(sr_sendq_iov(&q, iov, 4), 4);
    for (int i = 0; i < 4; i++) assert_ptr_equal(iov[i].iov_base, f->bytes);
    drain(&q);
    assert_int_equal(atomic_load(&f->refs), 1);
    sr_frame_unref(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_across_growth_and_wrap),
        cmocka_unit_test(test_written_partial_and_whole),
        cmocka_unit_test(test_pop_after_partial_write),
        cmocka_unit_test(test_hole_holds_back_what_follows),
        cmocka_unit_test(test_iov_cap_and_shared_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
