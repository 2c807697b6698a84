/* SPDX-License-Identifier: MIT */
/*
 * test_redis_subs.c: the subscription set against a real redis-server.
 * After any sequence of wanted/unwanted changes (and Redis restarts), the
 * connection's channels in Redis (PUBSUB CHANNELS) equal the wanted set.
 * Confirmation and loss: joins are never reported as recovered; after a
 * Redis restart every wanted channel (also those joined while it was down)
 * is reported once, when Redis confirms it, and the set counts as
 * resyncing until then; the carry-over of a loss between sets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <signal.h>

#include "redis/conn.h"
#include "redis/subs.h"
#include "srt_redis.h"
#include "sserooms.h"

#define N_CHANNELS 300

typedef struct fixture {
    srt_redis *redis;
    uv_loop_t loop;
    sr_redis_url url;
    sr_rconn *c;
    sr_rsubs *subs;
    int ups;
    int ping_done;
    int resync_at_up;          /* sr_rsubs_resyncing right after the last on_up */
    int recovered[N_CHANNELS]; /* reports per channel */
    uint64_t lost_at[N_CHANNELS];
    unsigned char model[N_CHANNELS]; /* what the test wants */
} fixture;

static void on_up(void *ud, sr_rconn *c) {
    fixture *f = ud;
    f->ups++;
    sr_rsubs_on_up(f->subs);
    f->resync_at_up = sr_rsubs_resyncing(f->subs);
}

static void on_down(void *ud, sr_rconn *c, const char *err) {
    sr_rsubs_on_down(((fixture *)ud)->subs);
}

static void on_push(void *ud, sr_rconn *c, redisReply *r) {
    sr_rsubs_on_push(((fixture *)ud)->subs, r);
}

static void on_recovered(void *ud, const char *channel, size_t len, uint64_t lost_ms) {
    fixture *f = ud;
    int i = -1;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)len, channel);
    if (sscanf(name, "t:room-%d", &i) != 1 || i < 0 || i >= N_CHANNELS)
        fail_msg("recovered: unexpected channel %s", name);
    f->recovered[i]++;
    f->lost_at[i] = lost_ms;
}

static int is_up(void *ud) {
    return sr_rconn_get_state(((fixture *)ud)->c) == SR_RCONN_UP;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->redis = srt_redis_start(NULL, 0);
    assert_non_null(f->redis);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(sr_redis_url_parse(srt_redis_url(f->redis), &f->url, NULL, 0), 0);
    sr_rconn_options o = {0};
    o.url = &f->url;
    o.pubsub = 1;
    o.connect_timeout_ms = 500;
    o.ping_interval_ms = 1000;
    o.reconnect_min_ms = 10;
    o.reconnect_max_ms = 50;
    sr_rconn_callbacks cbs = {on_up, on_down, on_push, f};
    assert_int_equal(sr_rconn_new(&f->c, &f->loop, &o, &cbs), 0);
    assert_int_equal(sr_rsubs_new(&f->subs, &f->loop, f->c), 0);
    sr_rsubs_on_recovered(f->subs, on_recovered, f);
    sr_rconn_start(f->c);
    assert_true(srt_uv_run_until(&f->loop, is_up, f, 3000));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    sr_rconn_close(f->c);
    sr_rsubs_free(f->subs);
    sr_redis_url_free(&f->url);
    assert_int_equal(srt_uv_loop_drain_close(&f->loop), 0);
    srt_redis_free(f->redis);
    free(f);
    return 0;
}

static void name_of(int i, char *buf, size_t cap) {
    snprintf(buf, cap, "t:room-%d", i);
}

static void set(fixture *f, int i, int wanted) {
    char name[32];
    name_of(i, name, sizeof name);
    assert_int_equal(sr_rsubs_set(f->subs, name, strlen(name), wanted), 0);
    f->model[i] = (unsigned char)wanted;
}

static void on_ping(void *ud, redisReply *r, const char *err) {
    fixture *f = ud;
    f->ping_done = err ? -1 : 1;
}

static int ping_done(void *ud) {
    return ((fixture *)ud)->ping_done != 0;
}

/* Lets the end-of-turn flush run, then waits for a PING sent after it:
 * Redis has then executed every SUBSCRIBE/UNSUBSCRIBE before it. */
static void settle(fixture *f) {
    assert_true(srt_uv_run_until(&f->loop, is_up, f, 5000));
    uv_run(&f->loop, UV_RUN_NOWAIT);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    f->ping_done = 0;
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    assert_int_equal(sr_rconn_command(f->c, 1, argv, lens, on_ping, f), 0);
    assert_true(srt_uv_run_until(&f->loop, ping_done, f, 5000));
    assert_int_equal(f->ping_done, 1);
}

/* PUBSUB CHANNELS t:* equals the model exactly. */
static void check_redis_matches_model(fixture *f) {
    size_t n = 0;
    char **chans = srt_redis_channels(f->redis, "t:*", &n);
    unsigned char seen[N_CHANNELS] = {0};
    for (size_t k = 0; k < n; k++) {
        int i = -1;
        if (sscanf(chans[k], "t:room-%d", &i) != 1 || i < 0 || i >= N_CHANNELS)
            fail_msg("unexpected channel %s", chans[k]);
        if (!f->model[i]) fail_msg("channel %s subscribed but not wanted", chans[k]);
        seen[i] = 1;
    }
    size_t wanted = 0;
    for (int i = 0; i < N_CHANNELS; i++) {
        if (f->model[i] && !seen[i]) fail_msg("channel t:room-%d wanted but not subscribed", i);
        wanted += f->model[i];
    }
    assert_int_equal(n, wanted);
    assert_int_equal(sr_rsubs_wanted_count(f->subs), wanted);
    assert_int_equal(sr_rsubs_confirmed_count(f->subs), wanted);
    srt_redis_free_strings(chans, n);
}

static void test_random_operations_end_exact(void **state) {
    fixture *f = *state;
    unsigned seed = 12345;
    int ops = 0;
    while (ops < 10000) {
        int burst = 1 + (int)(rand_r(&seed) % 60);
        for (int k = 0; k < burst && ops < 10000; k++, ops++) {
            int i = (int)(rand_r(&seed) % N_CHANNELS);
            set(f, i, (int)(rand_r(&seed) % 2));
        }
        /* let the loop run between bursts: commands go out and come back
         * while the next changes are made */
        switch (rand_r(&seed) % 3) {
        case 0: break; /* several bursts in one turn */
        case 1: uv_run(&f->loop, UV_RUN_NOWAIT); break;
        case 2: srt_uv_run_until(&f->loop, NULL, NULL, 1); break;
        }
    }
    settle(f);
    check_redis_matches_model(f);
}

static void test_flip_while_in_flight(void **state) {
    fixture *f = *state;
    /* join, flush (SUBSCRIBE written), leave + join in the next turn */
    set(f, 1, 1);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    set(f, 1, 0);
    set(f, 1, 1);
    settle(f);
    check_redis_matches_model(f);
    /* leave, then join again with the UNSUBSCRIBE still unanswered */
    set(f, 1, 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    set(f, 1, 1);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    settle(f);
    check_redis_matches_model(f);
    /* join, leave with the SUBSCRIBE in flight */
    set(f, 2, 1);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    set(f, 2, 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    settle(f);
    check_redis_matches_model(f);
}

static void test_batching_and_no_redundant_commands(void **state) {
    fixture *f = *state;
    unsigned long before = sr_rsubs_commands_sent(f->subs);
    /* 2500 channels in one turn: SUBSCRIBE x1000, x1000, x500 */
    char name[32];
    for (int i = 0; i < 2500; i++) {
        snprintf(name, sizeof name, "b:%d", i);
        assert_int_equal(sr_rsubs_set(f->subs, name, strlen(name), 1), 0);
    }
    settle(f);
    assert_int_equal(sr_rsubs_commands_sent(f->subs) - before, 3);
    assert_int_equal(sr_rsubs_confirmed_count(f->subs), 2500);
    /* subscribing again sends nothing; unwanting a never-wanted one neither */
    before = sr_rsubs_commands_sent(f->subs);
    assert_int_equal(sr_rsubs_set(f->subs, "b:7", 3, 1), 0);
    assert_int_equal(sr_rsubs_set(f->subs, "never", 5, 0), 0);
    settle(f);
    assert_int_equal(sr_rsubs_commands_sent(f->subs), before);
    /* wanted then unwanted within one turn: nothing either */
    assert_int_equal(sr_rsubs_set(f->subs, "flash", 5, 1), 0);
    assert_int_equal(sr_rsubs_set(f->subs, "flash", 5, 0), 0);
    settle(f);
    assert_int_equal(sr_rsubs_commands_sent(f->subs), before);
    size_t n = 0;
    char **chans = srt_redis_channels(f->redis, "b:*", &n);
    assert_int_equal(n, 2500);
    srt_redis_free_strings(chans, n);
    chans = srt_redis_channels(f->redis, "flash", &n);
    assert_int_equal(n, 0);
    /* all gone in one turn: UNSUBSCRIBE x1000, x1000, x500 */
    before = sr_rsubs_commands_sent(f->subs);
    for (int i = 0; i < 2500; i++) {
        snprintf(name, sizeof name, "b:%d", i);
        assert_int_equal(sr_rsubs_set(f->subs, name, strlen(name), 0), 0);
    }
    settle(f);
    assert_int_equal(sr_rsubs_commands_sent(f->subs) - before, 3);
    chans = srt_redis_channels(f->redis, "b:*", &n);
    assert_int_equal(n, 0);
    assert_int_equal(sr_rsubs_wanted_count(f->subs), 0);
}

static void test_resubscribe_after_restart(void **state) {
    fixture *f = *state;
    for (int i = 0; i < N_CHANNELS; i += 2) set(f, i, 1);
    settle(f);
    check_redis_matches_model(f);
    assert_int_equal(srt_redis_kill9(f->redis), 0);
    /* changes while Redis is gone */
    for (int i = 0; i < N_CHANNELS; i += 6) set(f, i, 0);
    for (int i = 1; i < N_CHANNELS; i += 10) set(f, i, 1);
    srt_uv_run_until(&f->loop, NULL, NULL, 100);
    assert_int_not_equal(sr_rconn_get_state(f->c), SR_RCONN_UP);
    assert_int_equal(sr_rsubs_confirmed_count(f->subs), 0);
    unsigned long before = sr_rsubs_commands_sent(f->subs);
    assert_int_equal(srt_redis_restart(f->redis), 0);
    settle(f);
    assert_int_equal(f->ups, 2);
    check_redis_matches_model(f);
    /* fewer than 1000 wanted: resubscribed in one command */
    assert_int_equal(sr_rsubs_commands_sent(f->subs) - before, 1);
}

static int resyncing(void *ud) {
    return !sr_rsubs_resyncing(((fixture *)ud)->subs);
}

static void test_lost_and_recovered(void **state) {
    fixture *f = *state;
    for (int i = 0; i < 5; i++) set(f, i, 1);
    settle(f);
    set(f, 5, 1); /* join, leave, join while in flight */
    uv_run(&f->loop, UV_RUN_NOWAIT);
    set(f, 5, 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    set(f, 5, 1);
    settle(f);
    assert_int_equal(sr_rsubs_pending_count(f->subs), 0);
    assert_false(sr_rsubs_resyncing(f->subs));
    for (int i = 0; i < N_CHANNELS; i++) assert_int_equal(f->recovered[i], 0); /* joins only */

    uint64_t t0 = sr_rsubs_wall_ms();
    assert_int_equal(srt_redis_kill9(f->redis), 0);
    srt_uv_run_until(&f->loop, NULL, NULL, 100);
    assert_int_not_equal(sr_rconn_get_state(f->c), SR_RCONN_UP);
    set(f, 7, 1); /* joined while Redis is gone */
    set(f, 2, 0); /* left while it is gone: nobody to tell */
    assert_int_equal(sr_rsubs_pending_count(f->subs), 6);
    assert_int_equal(srt_redis_restart(f->redis), 0);
    assert_true(srt_uv_run_until(&f->loop, is_up, f, 5000));
    /* up, and until Redis answers the SUBSCRIBE the set is resyncing */
    assert_int_equal(f->resync_at_up, 1);
    assert_true(srt_uv_run_until(&f->loop, resyncing, f, 5000));
    settle(f);
    uint64_t t1 = sr_rsubs_wall_ms();
    check_redis_matches_model(f);
    for (int i = 0; i < N_CHANNELS; i++) {
        int want = f->model[i] ? 1 : 0;
        if (f->recovered[i] != want)
            fail_msg("channel %d reported recovered %d times, not %d", i, f->recovered[i], want);
        if (want && (f->lost_at[i] < t0 || f->lost_at[i] > t1))
            fail_msg("channel %d lost at %llu, outside %llu..%llu", i,
                     (unsigned long long)f->lost_at[i], (unsigned long long)t0,
                     (unsigned long long)t1);
    }
    assert_int_equal(sr_rsubs_pending_count(f->subs), 0);
}

static void test_lost_carried_between_sets(void **state) {
    fixture *f = *state;
    sr_rsubs *all = NULL; /* a set without a connection, as cluster.c's master list */
    assert_int_equal(sr_rsubs_new(&all, &f->loop, NULL), 0);
    assert_int_equal(sr_rsubs_set(all, "t:room-1", 8, 1), 0);
    assert_int_equal(sr_rsubs_take_lost(all, "t:room-1", 8), 0);
    sr_rsubs_mark_lost(all, "t:room-1", 8, 1234);
    sr_rsubs_mark_lost(all, "t:room-1", 8, 2000); /* the earlier time stays */
    sr_rsubs_mark_lost(all, "t:room-9", 8, 1000); /* not in the set: nothing */
    assert_int_equal(sr_rsubs_take_lost(all, "t:room-1", 8), 1234);
    assert_int_equal(sr_rsubs_take_lost(all, "t:room-1", 8), 0);
    assert_int_equal(sr_rsubs_take_lost(all, "t:room-9", 8), 0);
    /* a live channel leaving a set counts as lost from now */
    set(f, 3, 1);
    settle(f);
    assert_int_equal(sr_rsubs_lost_or_live(f->subs, "t:room-3", 8, 777), 777);
    assert_int_equal(sr_rsubs_lost_or_live(f->subs, "t:room-4", 8, 777), 0);
    /* marked lost in the connection's set: reported at the next confirmation */
    sr_rsubs_forget(f->subs, "t:room-3", 8); /* as an unasked sunsubscribe does */
    assert_true(sr_rsubs_lost_or_live(f->subs, "t:room-3", 8, 777) != 777);
    sr_rsubs_free(all);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random_operations_end_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_while_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batching_and_no_redundant_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resubscribe_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_and_recovered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_carried_between_sets, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
