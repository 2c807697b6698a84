/* SPDX-License-Identifier: MIT */
/*
 * test_defer.c: the end-of-turn scheduler (src/loop/defer.c) on a real
 * libuv loop: arms coalesce into one call, a call wanted from a timer or
 * from the callback itself keeps the loop's next poll from blocking
 * (uv_backend_timeout, the timeout the loop would poll with, is 0), the
 * every-turn mode runs without being armed and without keeping the loop
 * alive, cancel takes an arm back, and closing frees everything so that
 * uv_loop_close succeeds (at once for a defer that never started).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <uv.h>

#include "loop/defer.h"

typedef struct {
    sr_defer *d;
    uv_loop_t *loop;
    int calls;
    int rearm_until;         /* the callback arms again while calls < this */
    int timeout_after_rearm; /* uv_backend_timeout right after arming again */
    int closed;
} probe;

static void on_defer(void *ud) {
    probe *p = ud;
    p->calls++;
    if (p->calls < p->rearm_until) {
        sr_defer_arm(p->d);
        p->timeout_after_rearm = uv_backend_timeout(p->loop);
    }
}

static void on_closed(void *ud) {
    ((probe *)ud)->closed++;
}

static void on_far_timer(uv_timer_t *t) {
    (void)t;
}

static void close_loop(uv_loop_t *loop) {
    uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void arms_coalesce_into_one_call(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    probe p = {.loop = &loop};
    p.d = sr_defer_new(&loop, on_defer, &p);
    assert_non_null(p.d);
    sr_defer_arm(p.d);
    sr_defer_arm(p.d);
    sr_defer_arm(p.d);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns: nothing armed keeps it alive */
    assert_int_equal(p.calls, 1);
    sr_defer_close(p.d, on_closed);
    close_loop(&loop);
    assert_int_equal(p.closed, 1);
}

static void on_arm_timer(uv_timer_t *t) {
    probe *p = t->data;
    sr_defer_arm(p->d);
}

/* Armed from a timer, the call comes in the same turn; armed again from
 * inside the call, the loop must not go to sleep in poll until the far
 * timer (the old uv_prepare-based defer did when the call ran in the
 * prepare phase: the re-arm waited for I/O or the next timer). */
static void armed_work_does_not_wait_for_io(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    probe p = {.loop = &loop, .rearm_until = 2, .timeout_after_rearm = -2};
    p.d = sr_defer_new(&loop, on_defer, &p);
    uv_timer_t arm, far;
    uv_timer_init(&loop, &arm);
    uv_timer_init(&loop, &far);
    arm.data = &p;
    uv_timer_start(&far, on_far_timer, 3600 * 1000, 0);
    /* a fresh loop's first turn has internal work pending (its timeout
     * is 0 whatever else is armed): get past it */
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_true(uv_backend_timeout(&loop) > 0);
    uv_timer_start(&arm, on_arm_timer, 0, 0);
    /* NOWAIT: a defer that failed would otherwise sleep here for an hour */
    while (p.calls < 2) uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(p.timeout_after_rearm, 0);
    assert_int_equal(p.calls, 2);
    /* nothing armed now: the loop would sleep until the far timer */
    assert_true(uv_backend_timeout(&loop) > 0);
    uv_close((uv_handle_t *)&arm, NULL);
    uv_close((uv_handle_t *)&far, NULL);
    sr_defer_free(p.d);
    close_loop(&loop);
}

static void cancel_takes_the_arm_back(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    probe p = {.loop = &loop};
    p.d = sr_defer_new(&loop, on_defer, &p);
    sr_defer_arm(p.d);
    sr_defer_cancel(p.d);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(p.calls, 0);
    sr_defer_arm(p.d);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(p.calls, 1);
    sr_defer_free(p.d);
    close_loop(&loop);
}

static void on_tick(uv_timer_t *t) {
    int *ticks = t->data;
    if (++*ticks == 3) uv_timer_stop(t);
}

/* Every turn: the call comes after each turn without an arm; an unarmed
 * every-turn defer does not keep the loop alive (uv_run returns once the
 * timer is done). */
static void every_turn_runs_unarmed_and_lets_the_loop_exit(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    probe p = {.loop = &loop};
    p.d = sr_defer_new(&loop, on_defer, &p);
    sr_defer_every_turn(p.d);
    int ticks = 0;
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    tick.data = &ticks;
    uv_timer_start(&tick, on_tick, 0, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(ticks, 3);
    assert_true(p.calls >= 3);
    /* armed while something keeps the loop alive: that turn's poll does
     * not block, and one call comes per turn */
    int before = p.calls;
    uv_timer_t far;
    uv_timer_init(&loop, &far);
    uv_timer_start(&far, on_far_timer, 3600 * 1000, 0);
    assert_true(uv_backend_timeout(&loop) > 0);
    sr_defer_arm(p.d);
    assert_int_equal(uv_backend_timeout(&loop), 0);
    uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(p.calls, before + 1);
    uv_close((uv_handle_t *)&far, NULL);
    uv_close((uv_handle_t *)&tick, NULL);
    sr_defer_close(p.d, on_closed);
    close_loop(&loop);
    assert_int_equal(p.closed, 1);
    assert_int_equal(p.calls, before + 1); /* not called while closing */
}

/* A defer that never started has no handles: closing it is immediate and
 * the loop can be closed without running. */
static void unstarted_defer_closes_at_once(void **state) {
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    probe p = {.loop = &loop};
    p.d = sr_defer_new(&loop, on_defer, &p);
    sr_defer_close(p.d, on_closed);
    assert_int_equal(p.closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    sr_defer_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arms_coalesce_into_one_call),
        cmocka_unit_test(armed_work_does_not_wait_for_io),
        cmocka_unit_test(cancel_takes_the_arm_back),
        cmocka_unit_test(every_turn_runs_unarmed_and_lets_the_loop_exit),
        cmocka_unit_test(unstarted_defer_closes_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
