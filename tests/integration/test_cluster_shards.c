/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_shards.c: /stats and /healthz list every shard of a Redis
 * Cluster, on a real loopback cluster of 9 masters (no replicas, to stay
 * light on a small machine): they used to list the first 8, and the
 * adapter's JSON had to fit a 4 KiB buffer. Each shard's address appears
 * once in each answer, with its own slots, and the slots add up to 16384.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srt_cluster.h"
#include "srt_nodes.h"
#include "srt_util.h"

#define WAIT_MS 20000
#define MASTERS 9

static srt_cluster *cluster;
static srt_proc node;

static int setup(void **state) {
    (void)state;
    int64_t t0 = srt_now_ms();
    cluster = srt_cluster_start(MASTERS, 0);
    if (!cluster) return -1;
    fprintf(stderr, "cluster of %d up in %lld ms\n", MASTERS, (long long)(srt_now_ms() - t0));
    return 0;
}

static int teardown(void **state) {
    srt_teardown_servers(state);
    srt_cluster_free(cluster);
    return 0;
}

/* Occurrences of needle in hay. */
static size_t count_of(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Asserts that body lists every master once, and returns the sum of the
 * listed shards' slots. */
static long long check_shards(const char *what, const char *body) {
    size_t listed = count_of(body, "{\"addr\":");
    if (listed != MASTERS) fail_msg("%s lists %zu shards, not %d: %s", what, listed, MASTERS, body);
    long long slots = 0;
    for (size_t m = 0; m < MASTERS; m++) {
        char addr[64];
        snprintf(addr, sizeof addr, "{\"addr\":\"127.0.0.1:%d\",",
                 srt_redis_port(srt_cluster_node(cluster, m)));
        const char *at = strstr(body, addr);
        if (!at || count_of(body, addr) != 1)
            fail_msg("%s: shard %s listed %zu times", what, addr, count_of(body, addr));
        const char *s = strstr(at, "\"slots\":");
        assert_non_null(s);
        slots += strtoll(s + 8, NULL, 10);
    }
    return slots;
}

static void test_every_shard_listed(void **state) {
    (void)state;
    srt_cluster_node_start(&node, srt_cluster_seeds(cluster), "node-shards", NULL);
    srt_node_wait_health(node.port, 200, WAIT_MS);
    srt_response r;
    assert_int_equal(srt_http_get(node.port, "/stats", &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(check_shards("/stats", r.body), 16384);
    srt_response_free(&r);
    char *health = NULL;
    assert_int_equal(srt_node_health(node.port, &health), 200);
    assert_int_equal(check_shards("/healthz", health), 16384);
    free(health);
    /* srt_cluster_shard_stat reads the same list: the 9th shard is there */
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d",
             srt_redis_port(srt_cluster_node(cluster, MASTERS - 1)));
    assert_true(srt_cluster_shard_stat(node.port, addr, NULL, "slots") > 0);
    srt_check_stop(&node);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_shard_listed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
