/* SPDX-License-Identifier: MIT */
/*
 * test_sequence_lib.c: the library calls sr_sequence_next and
 * sr_broadcast_sequenced on a server using a real redis-server, in process
 * (the server runs on this test's loop): completions come later, never
 * before the call returns; ids continue one shared counter whichever call
 * takes them; a local-only broadcast takes its id from Redis too; Redis
 * down is refused at once; and a shutdown while Redis has not answered
 * completes the pending calls with SR_ECLOSED before it returns.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "srt_redis.h"
#include "sserooms.h"
#include "sserooms/redis.h"

typedef struct answer {
    int calls;
    int rc;
    char text[512];
} answer;

static void on_answer(void *ud, int rc, const char *text) {
    answer *an = ud;
    an->calls++;
    an->rc = rc;
    snprintf(an->text, sizeof an->text, "%s", text ? text : "(null)");
}

static int answered(void *ud) {
    return ((answer *)ud)->calls > 0;
}

typedef struct fixture {
    srt_redis *redis;
    uv_loop_t loop;
    sr_server *srv;
    int shut;
} fixture;

static void on_shutdown(void *ud, sr_server *srv) {
    (void)srv;
    ((fixture *)ud)->shut = 1;
}

/* Redis is up for the server when a sequence_next is taken and answered. */
static int redis_up(void *ud) {
    fixture *f = ud;
    answer an = {0};
    if (sr_sequence_next(f->srv, "probe", NULL, on_answer, &an) != 0) return 0;
    srt_uv_run_until(&f->loop, answered, &an, 2000);
    return an.calls == 1 && an.rc == 0;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->redis = srt_redis_start(NULL, 0);
    assert_non_null(f->redis);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(sr_server_new(&f->srv, &f->loop, NULL), 0);
    sr_redis_options o;
    sr_redis_options_init(&o);
    o.url = srt_redis_url(f->redis);
    o.reconnect_min_ms = 10;
    o.reconnect_max_ms = 100;
    assert_int_equal(sr_server_use_redis(f->srv, &o, NULL, 0), 0);
    assert_true(srt_uv_run_until(&f->loop, redis_up, f, 5000));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    if (!f->shut) sr_server_shutdown(f->srv, on_shutdown, f);
    assert_true(f->shut);
    sr_server_free(f->srv);
    assert_int_equal(srt_uv_loop_drain_close(&f->loop), 0);
    srt_redis_free(f->redis);
    free(f);
    return 0;
}

static void test_shared_counter(void **state) {
    fixture *f = *state;
    answer a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0};
    const char *rooms[] = {"r", "s"};
    sr_message msg = {.event = "e", .data = "{\"x\":1}", .data_len = SIZE_MAX};
    sr_broadcast_opts local = {.local = 1};
    assert_int_equal(sr_sequence_next(f->srv, "seq:lib", NULL, on_answer, &a1), 0);
    assert_int_equal(sr_broadcast_sequenced(f->srv, rooms, 2, &msg, NULL, "seq:lib", "5", on_answer,
                                            &a2),
                     0);
    assert_int_equal(sr_broadcast_sequenced(f->srv, rooms, 1, &msg, &local, "seq:lib", NULL,
                                            on_answer, &a3),
                     0);
    assert_int_equal(sr_sequence_next(f->srv, "seq:lib", "5", on_answer, &a4), 0);
    assert_int_equal(a1.calls + a2.calls + a3.calls + a4.calls, 0); /* all wait for Redis */
    assert_true(srt_uv_run_until(&f->loop, answered, &a4, 3000));
    assert_string_equal(a1.text, "0-000000000001");
    assert_int_equal(a2.rc, 0); /* no local members */
    assert_string_equal(a2.text, "5-000000000002");
    assert_int_equal(a3.rc, 0);
    assert_string_equal(a3.text, "0-000000000003");
    assert_string_equal(a4.text, "5-000000000004");
    redisReply *v = srt_redis_command(f->redis, "GET sse:room:seq:seq:lib");
    assert_non_null(v);
    assert_string_equal(v->str, "4");
    freeReplyObject(v);
    /* the broadcast was published, the local one was not */
    sr_stats st;
    sr_server_stats(f->srv, &st);
    assert_int_equal(st.messages_in, 2);
    assert_int_equal(st.adapter_errors, 0);
}

static void test_redis_down_refused(void **state) {
    fixture *f = *state;
    assert_int_equal(srt_redis_stop(f->redis), 0);
    srt_uv_run_until(&f->loop, NULL, NULL, 200);
    answer an = {0};
    const char *rooms[] = {"r"};
    sr_message msg = {.data = "1", .data_len = 1};
    assert_int_equal(sr_sequence_next(f->srv, "k", NULL, on_answer, &an), SR_EADAPTER);
    assert_int_equal(sr_broadcast_sequenced(f->srv, rooms, 1, &msg, NULL, "k", NULL, on_answer,
                                            &an),
                     SR_EADAPTER);
    assert_int_equal(an.calls, 0);
    sr_stats st;
    sr_server_stats(f->srv, &st);
    assert_int_equal(st.adapter_errors, 1);
}

static void test_shutdown_with_calls_pending(void **state) {
    fixture *f = *state;
    assert_int_equal(kill(srt_redis_pid(f->redis), SIGSTOP), 0);
    answer a1 = {0}, a2 = {0};
    const char *rooms[] = {"r"};
    sr_message msg = {.data = "1", .data_len = 1};
    assert_int_equal(sr_sequence_next(f->srv, "k", NULL, on_answer, &a1), 0);
    assert_int_equal(sr_broadcast_sequenced(f->srv, rooms, 1, &msg, NULL, "k", NULL, on_answer,
                                            &a2),
                     0);
    srt_uv_run_until(&f->loop, NULL, NULL, 50); /* sent; Redis does not answer */
    assert_int_equal(a1.calls + a2.calls, 0);
    sr_server_shutdown(f->srv, on_shutdown, f);
    assert_int_equal(a1.calls, 1);
    assert_int_equal(a1.rc, SR_ECLOSED);
    assert_int_equal(a2.calls, 1);
    assert_int_equal(a2.rc, SR_ECLOSED);
    assert_int_equal(sr_sequence_next(f->srv, "k", NULL, on_answer, &a1), SR_ECLOSED);
    assert_int_equal(kill(srt_redis_pid(f->redis), SIGCONT), 0);
    srt_uv_run_until(&f->loop, NULL, NULL, 50);
    assert_int_equal(a1.calls + a2.calls, 2); /* never twice */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shared_counter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_down_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_with_calls_pending, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
