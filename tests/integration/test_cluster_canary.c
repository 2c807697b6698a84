/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_canary.c: the liveness canary rebuilds a wedged subscriber
 * connection, in the classic mode (one redis-server) and in cluster mode
 * (3 masters, srt_cluster), and says so in /metrics and /stats.
 *
 * The connection is wedged with CLIENT PAUSE <ms> ALL on its server: the
 * TCP connection stays up but nothing is answered or delivered, so only
 * the canary can see it (the keepalive PING would too, after 5-10 s; the
 * canary here runs every 200 ms with a 1,000 ms timeout). Each test asserts
 * the canary timed out and the subscriber was rebuilt within 10 s of the
 * pause, that the lag shows while it waits, and that delivery works again
 * once the pause is over. Also: cluster mode refuses sequenced publishing,
 * and the command refuses --redis with --redis-cluster, cluster mode with
 * resume history, a database number, a password on a later seed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/slot.h"
#include "srt_cluster.h"
#include "srt_nodes.h"
#include "srt_util.h"

#define WAIT_MS 10000
#define PAUSE_MS 3000

static const char *const canary_args[] = {"--redis-canary-interval-ms", "200",
                                          "--redis-canary-timeout-ms", "1000", NULL};

static long long data_of(const char *block) {
    const char *d = strstr(block, "data: ");
    if (!d) fail_msg("event without data: %s", block);
    return strtoll(d + 6, NULL, 10);
}

/* Publishes on `from` until the stream gets one (the subscriber may still
 * be coming back); fails after timeout_ms. */
static void wait_delivery(int from, const char *room, srt_sse *s, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    for (int i = 0; srt_now_ms() < deadline; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"room\":\"%s\",\"data\":%d}", room, i);
        srt_response r;
        if (srt_http_publish(from, body, &r) == 0) srt_response_free(&r);
        char *block = NULL;
        if (srt_sse_next_event(s, &block, NULL, 200) == 0) {
            assert_true(data_of(block) >= 0);
            free(block);
            return;
        }
    }
    fail_msg("no delivery in room %s within %d ms", room, timeout_ms);
}

/* Polls /metrics until `sample` >= min; returns the ms it took. */
static int64_t wait_metric(int port, const char *sample, long long min, int timeout_ms) {
    int64_t t0 = srt_now_ms();
    while (srt_metric(port, sample) < min) {
        if (srt_now_ms() - t0 > timeout_ms)
            fail_msg("%s stayed below %lld for %d ms", sample, min, timeout_ms);
        srt_sleep_ms(20);
    }
    return srt_now_ms() - t0;
}

static void pause_server(srt_redis *r) {
    redisReply *rep = srt_redis_command(r, "CLIENT PAUSE %d ALL", PAUSE_MS);
    assert_non_null(rep);
    assert_int_not_equal(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);
}

static void test_classic_wedged_subscriber(void **state) {
    static srt_proc a, b;
    srt_redis *redis = srt_nodes_redis_start();
    srt_node_start(&a, srt_redis_url(redis), "node-a", canary_args);
    srt_node_start(&b, srt_redis_url(redis), "node-b", canary_args);
    srt_node_wait_health(a.port, 200, WAIT_MS);
    srt_node_wait_health(b.port, 200, WAIT_MS);
    srt_sse s;
    srt_check_sse_open(&s, a.port, "/sse?room=live");
    srt_nodes_wait_numsub(redis, "sse:room:live", 1, WAIT_MS);
    wait_delivery(b.port, "live", &s, WAIT_MS);
    /* the canary works and is no room: PUBSUB CHANNELS sse:room:* is unchanged */
    wait_metric(a.port, "sserooms_redis_canary_probes_total", 2, WAIT_MS);
    size_t n = 0;
    char **rooms = srt_redis_channels(redis, "sse:room:*", &n);
    assert_int_equal(n, 1);
    srt_redis_free_strings(rooms, n);
    assert_int_equal(srt_node_redis_stat(a.port, NULL, "subscribed"), 1);
    assert_int_equal(srt_metric(a.port, "sserooms_redis_canary_timeouts_total"), 0);
    long long reconnects = srt_node_redis_stat(a.port, NULL, "reconnects");

    pause_server(redis);
    int64_t took = wait_metric(a.port, "sserooms_redis_canary_timeouts_total", 1, WAIT_MS);
    fprintf(stderr, "classic: wedged subscriber detected after %lld ms\n", (long long)took);
    assert_true(took < WAIT_MS);
    /* rebuilt: it comes back up once the pause ends, and delivers */
    srt_node_wait_redis_stat(a.port, NULL, "reconnects", reconnects + 1, WAIT_MS);
    srt_node_wait_health(a.port, 200, WAIT_MS);
    wait_delivery(b.port, "live", &s, WAIT_MS);
    assert_true(srt_node_redis_stat(a.port, "canary", "timeouts") >= 1);
    srt_sse_close(&s);
    srt_check_stop(&a);
    srt_check_stop(&b);
    srt_nodes_redis_free(redis);
}

static void test_cluster_wedged_shard(void **state) {
    static srt_proc a, b;
    srt_cluster *cl = srt_cluster_start(3, 0);
    assert_non_null(cl);
    srt_cluster_node_start(&a, srt_cluster_seeds(cl), "node-a", canary_args);
    srt_cluster_node_start(&b, srt_cluster_seeds(cl), "node-b", canary_args);
    srt_node_wait_health(a.port, 200, WAIT_MS);
    srt_node_wait_health(b.port, 200, WAIT_MS);
    srt_sse s;
    srt_check_sse_open(&s, a.port, "/sse?room=live");
    const char *channel = "sse:room:live";
    int owner = srt_cluster_slot_master(cl, sr_keyslot(channel, strlen(channel)), -1);
    assert_true(owner >= 0);
    wait_delivery(b.port, "live", &s, WAIT_MS);
    char addr[32], sample[128];
    snprintf(addr, sizeof addr, "127.0.0.1:%d",
             srt_redis_port(srt_cluster_node(cl, (size_t)owner)));
    snprintf(sample, sizeof sample, "sserooms_redis_shard_canary_timeouts_total{shard=\"%s\"}",
             addr);
    assert_int_equal(srt_metric(a.port, sample), 0);
    for (size_t m = 0; m < 3; m++) {
        char other[32];
        snprintf(other, sizeof other, "127.0.0.1:%d", srt_redis_port(srt_cluster_node(cl, m)));
        long long probes = 0;
        int64_t deadline = srt_now_ms() + WAIT_MS;
        while ((probes = srt_cluster_shard_stat(a.port, other, "canary", "probes")) < 2 &&
               srt_now_ms() < deadline)
            srt_sleep_ms(20);
        assert_true(probes >= 2); /* one canary per shard */
    }

    pause_server(srt_cluster_node(cl, (size_t)owner));
    /* while it waits, the lag shows */
    int64_t t0 = srt_now_ms();
    long long lag = 0;
    while ((lag = srt_cluster_shard_stat(a.port, addr, "canary", "waiting_ms")) < 300 &&
           srt_now_ms() - t0 < WAIT_MS)
        srt_sleep_ms(20);
    assert_true(lag >= 300);
    wait_metric(a.port, sample, 1, WAIT_MS);
    int64_t took = srt_now_ms() - t0; /* from the pause */
    fprintf(stderr, "cluster: wedged shard subscriber detected after %lld ms\n", (long long)took);
    assert_true(took < WAIT_MS);
    assert_true(srt_metric(a.port, "sserooms_redis_canary_timeouts_total") >= 1);
    /* the other shards' canaries never timed out */
    for (size_t m = 0; m < 3; m++) {
        if ((int)m == owner) continue;
        char other[32];
        snprintf(other, sizeof other, "127.0.0.1:%d", srt_redis_port(srt_cluster_node(cl, m)));
        assert_int_equal(srt_cluster_shard_stat(a.port, other, "canary", "timeouts"), 0);
    }
    srt_node_wait_health(a.port, 200, WAIT_MS);
    wait_delivery(b.port, "live", &s, WAIT_MS);

    /* sequenced publishing needs one script over rooms of many slots: refused */
    srt_response r;
    assert_int_equal(srt_http_publish(b.port, "{\"room\":\"live\",\"data\":1,\"sequence\":\"k\"}",
                                      &r),
                     0);
    srt_check_json_error(&r, 503, NULL);
    if (!strstr(r.body, "no shared sequences")) fail_msg("unexpected refusal: %s", r.body);
    srt_response_free(&r);

    srt_sse_close(&s);
    srt_check_stop(&a);
    srt_check_stop(&b);
    srt_cluster_free(cl);
}

/* The command refuses args with exit status 2 and `reason` in its log. */
static void expect_refused(const char *const *args, const char *reason) {
    static srt_proc p;
    srt_proc_opts opts = {.args = args};
    assert_int_not_equal(srt_proc_start(&p, &opts), 0);
    assert_int_equal(srt_proc_wait(&p, 5000), 2);
    FILE *f = fopen(p.log_path, "r");
    assert_non_null(f);
    char log[4096];
    size_t n = fread(log, 1, sizeof log - 1, f);
    log[n] = '\0';
    fclose(f);
    if (!strstr(log, reason)) fail_msg("log lacks \"%s\": %s", reason, log);
}

static void test_refused_combinations(void **state) {
    const char *both[] = {"--redis", "redis://127.0.0.1:1", "--redis-cluster",
                          "redis://127.0.0.1:2", NULL};
    expect_refused(both, "either a URL or cluster seed nodes");
    const char *history[] = {"--redis-cluster", "redis://127.0.0.1:2", "--history", "10", NULL};
    expect_refused(history, "no shared resume history");
    const char *db[] = {"--redis-cluster", "redis://127.0.0.1:2/3", NULL};
    expect_refused(db, "only database 0");
    const char *late_password[] = {"--redis-cluster", "127.0.0.1:2,redis://:pw@127.0.0.1:3", NULL};
    expect_refused(late_password, "on the first seed only");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_classic_wedged_subscriber, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_cluster_wedged_shard, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_refused_combinations, srt_teardown_servers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
