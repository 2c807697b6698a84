/* SPDX-License-Identifier: MIT */
/*
 * test_faults_redis.c: Redis killed (SIGKILL) and restarted under load.
 *
 * Two nodes, A and B, share a real redis-server; 20 subscribers on each
 * listen to room r; a feed publishes 200 sequence-numbered messages a
 * second on A. After half a second Redis is killed with SIGKILL; both
 * nodes must report 503 on /healthz; 2 s after the kill Redis is started
 * again on the same port; the feed goes on for 2 s after both nodes are
 * healthy again. Checked: A's subscribers receive every message, the
 * outage included, in order and byte for byte, and every publish answers
 * 200 {"delivered":20} once Redis took it, or 503 during the outage; B's subscribers never receive
 * a message twice or out of order, and receive every message published after both nodes were
 * healthy again, and each missed message was announced by the gap event
 * (docs/resume.md); both nodes' peak RSS stays under the bound; both answer
 * /healthz 200 and exit 0 on SIGTERM.
 */
#include "srt_faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    SUBS = 20,      /* subscribers per node */
    RATE = 200,     /* messages a second, on A */
    DOWN_MS = 2000, /* Redis is restarted this long after the kill */
    AFTER_MS = 2000 /* traffic after both nodes are healthy again */
};

#define WAIT_MS SRT_BY_BUILD(15000, 45000)
/* Measured peak: 3.9 MB per node in a release build, 22.6 MB with ASan;
 * the bounds allow 5.5-6x that. */
#define RSS_BOUND_KB SRT_BY_BUILD(24L * 1024, 128L * 1024)

static srt_proc nodes[2];
static srt_redis *redis;
static srt_pacer feed; /* static: the teardown stops it after a failure */

#define PORT_A (nodes[0].port)
#define PORT_B (nodes[1].port)

/* Reads both sets for ms milliseconds. */
static void pump_for(srt_seqset *a, srt_seqset *b, int ms) {
    int64_t until = srt_now_ms() + ms;
    while (srt_now_ms() < until) {
        srt_seqset_pump(a, 5);
        srt_seqset_pump(b, 5);
    }
}

/* Reads both sets until both nodes answer /healthz with `status`; returns
 * the time (srt_nodes_now_us) of the later of the two answers. */
static int64_t pump_until_health(srt_seqset *a, srt_seqset *b, int status) {
    int64_t deadline = srt_now_ms() + WAIT_MS;
    int64_t when[2] = {0, 0};
    while (!when[0] || !when[1]) {
        if (srt_now_ms() >= deadline)
            fail_msg("/healthz did not answer %d on both nodes within %d ms (A %s, B %s)", status,
                     WAIT_MS, when[0] ? "did" : "did not", when[1] ? "did" : "did not");
        for (int i = 0; i < 2; i++) {
            if (!when[i] && srt_node_health(nodes[i].port, NULL) == status)
                when[i] = srt_nodes_now_us();
        }
        pump_for(a, b, 20);
    }
    return when[0] > when[1] ? when[0] : when[1];
}

static void test_redis_kill9_under_load(void **state) {
    (void)state;
    redis = srt_nodes_redis_start();
    srt_node_start(&nodes[0], srt_redis_url(redis), "faults-a", NULL);
    srt_node_start(&nodes[1], srt_redis_url(redis), "faults-b", NULL);
    srt_node_wait_health(PORT_A, 200, WAIT_MS);
    srt_node_wait_health(PORT_B, 200, WAIT_MS);

    srt_seqset on_a, on_b;
    srt_seqset_open(&on_a, PORT_A, "/sse?room=r", SUBS, 0, NULL, WAIT_MS);
    srt_seqset_open(&on_b, PORT_B, "/sse?room=r", SUBS, 0, NULL, WAIT_MS);
    on_b.allow_gaps = true; /* what A published while Redis was away is lost to B */
    srt_nodes_wait_numsub(redis, "sse:room:r", 2, WAIT_MS);
    srt_faults_check_mem(&nodes[0], "A before", RSS_BOUND_KB);
    srt_faults_check_mem(&nodes[1], "B before", RSS_BOUND_KB);

    srt_pacer_start_padded(&feed, PORT_A, "r", RATE, 0, RATE * 120);
    pump_for(&on_a, &on_b, 500);

    assert_int_equal(srt_redis_kill9(redis), 0);
    int64_t killed_ms = srt_now_ms();
    int64_t down_us = pump_until_health(&on_a, &on_b, 503);
    printf("  redis killed; both nodes answered 503 within %lld ms\n",
           (long long)(down_us / 1000 - killed_ms));
    pump_for(&on_a, &on_b, (int)(killed_ms + DOWN_MS - srt_now_ms()));
    size_t sent_down = srt_pacer_count(&feed);
    assert_int_equal(srt_redis_restart(redis), 0);
    int64_t back_us = srt_nodes_now_us();
    int64_t healthy_us = pump_until_health(&on_a, &on_b, 200);
    printf("  redis restarted %lld ms after the kill; both nodes healthy %lld ms later\n",
           (long long)(back_us / 1000 - killed_ms), (long long)((healthy_us - back_us) / 1000));

    pump_for(&on_a, &on_b, AFTER_MS);
    srt_pacer_stop(&feed);
    size_t total = srt_pacer_count(&feed);
    long long last = (long long)total - 1;

    /* A: every publish answered 200 {"delivered":20} when Redis took it, or
     * 503 when it could not reach B (never a 200 that hides the outage); its
     * 20 local subscribers got every message, Redis or not */
    size_t refused = 0;
    for (size_t i = 0; i < total; i++) {
        const srt_pace_rec *r = &feed.recs[i];
        if (r->status == 503) refused++;
        else if (r->status != 200 || r->delivered != SUBS)
            fail_msg("publisher on A: publish %zu answered %d {\"delivered\":%lld}", i, r->status,
                     r->delivered);
    }
    printf("  %zu publishes answered 503 during the outage\n", refused);
    assert_true(refused > 0);
    assert_int_equal(srt_seqset_wait(&on_a, last, WAIT_MS), SUBS);
    assert_int_equal(srt_seqset_failures(&on_a), 0);
    for (size_t i = 0; i < SUBS; i++) assert_int_equal(on_a.s[i].frames, (long long)total);

    /* B: in order, nothing twice, nothing missing after recovery */
    size_t first_after = 0;
    while (first_after < total && feed.recs[first_after].start_us <= healthy_us) first_after++;
    assert_true(first_after < total);
    assert_int_equal(srt_seqset_wait(&on_b, last, WAIT_MS), SUBS);
    assert_int_equal(srt_seqset_failures(&on_b), 0);
    long long missed_least = total, missed_most = 0;
    for (size_t i = 0; i < SUBS; i++) {
        const srt_seqstream *s = &on_b.s[i];
        if (s->last_missing >= (long long)first_after)
            fail_msg("B subscriber %zu missed seq %lld, published after recovery (from seq %zu)", i,
                     s->last_missing, first_after);
        if (s->silent_missing)
            fail_msg("B subscriber %zu missed %lld messages without a gap event before them", i,
                     s->silent_missing);
        missed_least = s->missing < missed_least ? s->missing : missed_least;
        missed_most = s->missing > missed_most ? s->missing : missed_most;
    }
    printf("  %zu published (%zu by the restart); A's subscribers got all; B's got all from "
           "seq %zu (the first published after recovery) on, missing %lld..%lld of the "
           "earlier ones\n",
           total, sent_down, first_after, missed_least, missed_most);
    assert_true(missed_most > 0); /* the outage did cost B messages: it was real */
    assert_true(srt_node_redis_stat(PORT_A, NULL, "reconnects") >= 1);
    assert_true(srt_node_redis_stat(PORT_B, NULL, "reconnects") >= 1);

    srt_faults_check_mem(&nodes[0], "A after", RSS_BOUND_KB);
    srt_faults_check_mem(&nodes[1], "B after", RSS_BOUND_KB);
    srt_pacer_free(&feed);
    srt_seqset_close(&on_a);
    srt_seqset_close(&on_b);
    srt_check_healthy(PORT_A);
    srt_check_healthy(PORT_B);
    srt_check_stop(&nodes[0]);
    srt_check_stop(&nodes[1]);
    srt_nodes_redis_free(redis);
    redis = NULL;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_redis_kill9_under_load, srt_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
