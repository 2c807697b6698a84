/* SPDX-License-Identifier: MIT */
/*
 * test_cluster.c: sserooms in Redis Cluster mode (--redis-cluster) on a
 * real loopback cluster of 3 masters with a replica each (srt_cluster),
 * with two sserooms nodes: A holds the streams, B publishes.
 *
 *  - 1,000 rooms spread over the 3 shards: every room's channel is
 *    SSUBSCRIBEd on its owner and nowhere else (PUBSUB SHARDNUMSUB on each
 *    master), each shard's subscriber receives only its own rooms' messages
 *    (A's per-shard counters in /stats and /metrics), and every message
 *    published on B reaches A; one message to 12 rooms (on every shard)
 *    reaches A's stream in all of them once, with and without an id.
 *  - a slot moved to another master (SETSLOT IMPORTING/MIGRATING/NODE):
 *    A follows it (Redis's sunsubscribe, a map refresh, SSUBSCRIBE on the
 *    new owner) and nothing published after the move is lost or reordered;
 *    B, with its old map, follows MOVED; and a room joined on A after its
 *    slot moved unseen is SSUBSCRIBEd on the old owner, gets MOVED, and
 *    lands on the new one.
 *  - a master killed with SIGKILL: its replica is promoted, A and B find
 *    the new master, delivery resumes, /healthz is ok again.
 *
 * One cluster and one pair of nodes serve the three tests, in this order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/slot.h"
#include "srt_cluster.h"
#include "srt_nodes.h"
#include "srt_util.h"

#define WAIT_MS 15000
#define N_ROOMS 1000

static srt_cluster *cluster;
static srt_proc node_a, node_b;
static srt_sse wide; /* A's stream in all N_ROOMS rooms */

static const char *const node_args[] = {"--max-rooms-per-conn",
                                        "2000",
                                        "--max-header-bytes",
                                        "65536",
                                        "--redis-canary-interval-ms",
                                        "200",
                                        "--redis-canary-timeout-ms",
                                        "2000",
                                        NULL};

static char *addr_of(size_t node) {
    static char buf[4][32];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "127.0.0.1:%d", srt_redis_port(srt_cluster_node(cluster, node)));
    return b;
}

static int setup(void **state) {
    int64_t t0 = srt_now_ms();
    cluster = srt_cluster_start(3, 1);
    if (!cluster) return -1;
    fprintf(stderr, "cluster of 6 up in %lld ms\n", (long long)(srt_now_ms() - t0));
    return 0;
}

static int teardown(void **state) {
    srt_teardown_servers(state);
    srt_cluster_free(cluster);
    return 0;
}

/* The master (node index) owning channel's slot. */
static int owner_of(const char *channel) {
    return srt_cluster_slot_master(cluster, sr_keyslot(channel, strlen(channel)), -1);
}

/* The next event that is not a gap event: a slot move makes a node tell its
 * streams that messages may have been missed meanwhile (docs/resume.md,
 * "Streams that stay connected"); gaps_seen counts them. */
static int gaps_seen;
static char *next_message(srt_sse *s, int timeout_ms) {
    for (;;) {
        char *block = srt_node_next_event(s, timeout_ms);
        if (strncmp(block, "event: gap\n", 11) != 0) return block;
        gaps_seen++;
        free(block);
    }
}

static long long data_of(const char *block) {
    const char *d = strstr(block, "data: ");
    if (!d) fail_msg("event without data: %s", block);
    return strtoll(d + 6, NULL, 10);
}

static void test_rooms_spread_over_shards(void **state) {
    srt_cluster_node_start(&node_a, srt_cluster_seeds(cluster), "node-a", node_args);
    srt_cluster_node_start(&node_b, srt_cluster_seeds(cluster), "node-b", node_args);
    srt_node_wait_health(node_a.port, 200, WAIT_MS);
    srt_node_wait_health(node_b.port, 200, WAIT_MS);

    srt_buf path = {0};
    srt_buf_appendf(&path, "/sse?room=r0");
    for (int i = 1; i < N_ROOMS; i++) srt_buf_appendf(&path, "&room=r%d", i);
    srt_buf_append(&path, "", 1);
    srt_check_sse_open(&wide, node_a.port, path.data);
    srt_buf_free(&path);
    srt_node_wait_redis_stat(node_a.port, NULL, "subscribed", N_ROOMS, WAIT_MS);

    /* where Redis says each room lives, and where A subscribed it */
    long long per_shard[3] = {0, 0, 0};
    for (int i = 0; i < N_ROOMS; i++) {
        char ch[32];
        snprintf(ch, sizeof ch, "sse:room:r%d", i);
        int owner = owner_of(ch);
        assert_true(owner >= 0 && owner < 3);
        per_shard[owner]++;
        for (int m = 0; m < 3; m++) {
            long long n = srt_cluster_shardnumsub(srt_cluster_node(cluster, (size_t)m), ch);
            if (n != (m == owner))
                fail_msg("%s: SHARDNUMSUB on node %d is %lld, owner is node %d", ch, m, n, owner);
        }
    }
    for (int m = 0; m < 3; m++) {
        assert_true(per_shard[m] > 250); /* the rooms really are spread */
        assert_int_equal(srt_cluster_shard_stat(node_a.port, addr_of((size_t)m), NULL,
                                                "subscribed"),
                         per_shard[m]);
    }

    /* one message per room, from B */
    for (int i = 0; i < N_ROOMS; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"room\":\"r%d\",\"data\":%d}", i, i);
        srt_check_publish_delivered(node_b.port, body, 0);
    }
    static unsigned char seen[N_ROOMS];
    for (int i = 0; i < N_ROOMS; i++) {
        char *block = next_message(&wide, WAIT_MS);
        long long v = data_of(block);
        free(block);
        assert_true(v >= 0 && v < N_ROOMS);
        if (seen[v]++) fail_msg("room r%lld's message arrived twice", v);
    }
    /* each shard's subscriber received exactly its own rooms' messages */
    for (int m = 0; m < 3; m++) {
        assert_int_equal(srt_cluster_shard_stat(node_a.port, addr_of((size_t)m), NULL, "received"),
                         per_shard[m]);
        char sample[128];
        snprintf(sample, sizeof sample, "sserooms_redis_shard_received_total{shard=\"%s\"}",
                 addr_of((size_t)m));
        assert_int_equal(srt_metric(node_a.port, sample), per_shard[m]);
        snprintf(sample, sizeof sample, "sserooms_redis_shard_published_total{shard=\"%s\"}",
                 addr_of((size_t)m));
        assert_int_equal(srt_metric(node_b.port, sample), per_shard[m]);
        /* the canary runs on every shard, and is not counted as a room */
        assert_true(srt_cluster_shard_stat(node_a.port, addr_of((size_t)m), "canary", "probes") >
                    0);
    }
    assert_int_equal(srt_node_redis_stat(node_a.port, NULL, "received"), N_ROOMS);
    assert_int_equal(srt_node_redis_stat(node_a.port, NULL, "delivered"), N_ROOMS);
    assert_int_equal(srt_node_redis_stat(node_b.port, NULL, "published"), N_ROOMS);
    assert_int_equal(srt_node_redis_stat(node_b.port, NULL, "publish_failures"), 0);

    /* one message to 12 rooms (over every shard): one SPUBLISH per room,
     * and A's stream, in all of them, gets it once (same id) */
    srt_check_publish_delivered(
        node_b.port,
        "{\"rooms\":[\"r0\",\"r1\",\"r2\",\"r3\",\"r4\",\"r5\",\"r6\",\"r7\","
        "\"r8\",\"r9\",\"r10\",\"r11\"],\"data\":7777,\"id\":\"multi-1\"}",
        0);
    char *block = next_message(&wide, WAIT_MS);
    assert_int_equal(data_of(block), 7777);
    free(block);
    srt_node_wait_redis_stat(node_a.port, NULL, "received", N_ROOMS + 12, WAIT_MS);
    assert_true(srt_sse_expect_nothing(&wide, 200));
    assert_int_equal(srt_node_redis_stat(node_b.port, NULL, "published"), N_ROOMS + 12);

    /* the same without an id (the envelope's de-duplication key): once, and
     * no id line. Then one sentinel per room: each travels behind that
     * room's copy on the copy's shard, so once all 12 are there every copy
     * has been handled, and a second delivery would have shown. */
    srt_check_publish_delivered(
        node_b.port,
        "{\"rooms\":[\"r0\",\"r1\",\"r2\",\"r3\",\"r4\",\"r5\",\"r6\",\"r7\","
        "\"r8\",\"r9\",\"r10\",\"r11\"],\"data\":8888}",
        0);
    for (int i = 0; i < 12; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"room\":\"r%d\",\"data\":%d}", i, 9000 + i);
        srt_check_publish_delivered(node_b.port, body, 0);
    }
    int copies = 0, sentinels = 0;
    while (sentinels < 12) {
        block = srt_node_next_event(&wide, WAIT_MS);
        long long v = data_of(block);
        if (v == 8888) {
            copies++;
            if (strncmp(block, "id: ", 4) == 0) fail_msg("an id line nobody asked for: %s", block);
        } else if (v >= 9000 && v < 9012) {
            sentinels++;
        } else {
            fail_msg("unexpected event %s", block);
        }
        free(block);
    }
    if (copies != 1) fail_msg("the 12-room message without an id arrived %d times", copies);
}

/* Publishes data 0..n-1 to room from B and expects them, in order, on s. */
static void expect_in_order(srt_sse *s, const char *room, int base, int n) {
    for (int i = 0; i < n; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"room\":\"%s\",\"data\":%d}", room, base + i);
        srt_check_publish(node_b.port, body);
    }
    for (int i = 0; i < n; i++) {
        char *block = next_message(s, WAIT_MS);
        long long v = data_of(block);
        free(block);
        if (v != base + i) fail_msg("%s: expected data %d, got %lld", room, base + i, v);
    }
}

static void test_slot_migration(void **state) {
    const char *room = "moving", *channel = "sse:room:moving";
    srt_sse s;
    srt_check_sse_open(&s, node_a.port, "/sse?room=moving");
    int from = owner_of(channel);
    assert_true(from >= 0);
    int64_t deadline = srt_now_ms() + WAIT_MS;
    while (srt_cluster_shardnumsub(srt_cluster_node(cluster, (size_t)from), channel) != 1) {
        if (srt_now_ms() > deadline) fail_msg("A never subscribed %s", channel);
        srt_sleep_ms(10);
    }
    expect_in_order(&s, room, 0, 5);
    int to = (from + 1) %
             3; /* another master (nodes 0..2 are the masters until the failover test) */
    unsigned slot = sr_keyslot(channel, strlen(channel));
    long long moved_before = srt_metric(node_a.port, "sserooms_redis_cluster_refreshes_total");
    assert_int_equal(srt_cluster_move_slot(cluster, slot, (size_t)from, (size_t)to), 0);
    /* the move is complete once the new owner has A's subscription */
    deadline = srt_now_ms() + WAIT_MS;
    while (srt_cluster_shardnumsub(srt_cluster_node(cluster, (size_t)to), channel) != 1) {
        if (srt_now_ms() > deadline) fail_msg("A never resubscribed %s on the new owner", channel);
        srt_sleep_ms(10);
    }
    assert_int_equal(srt_cluster_shardnumsub(srt_cluster_node(cluster, (size_t)from), channel), 0);
    assert_true(srt_metric(node_a.port, "sserooms_redis_cluster_refreshes_total") > moved_before);
    /* B may still have the old map: MOVED sends it to the new owner */
    gaps_seen = 0;
    expect_in_order(&s, room, 100, 50);
    assert_int_equal(gaps_seen, 1); /* A told its stream: the room moved */
    assert_int_equal(srt_node_redis_stat(node_b.port, NULL, "publish_failures"), 0);
    fprintf(stderr, "slot %u moved from node %d to node %d; B followed %lld MOVED replies\n", slot,
            from, to, srt_metric(node_b.port, "sserooms_redis_cluster_moved_total"));
    srt_sse_close(&s);

    /* a slot where A has no room moves: A learns nothing (no sunsubscribe)
     * until it SSUBSCRIBEs there on the old owner and gets MOVED */
    const char *late = "sse:room:late";
    unsigned late_slot = sr_keyslot(late, strlen(late));
    int late_from = owner_of(late), late_to = (late_from + 1) % 3;
    assert_true(late_slot != slot);
    long long a_moved = srt_metric(node_a.port, "sserooms_redis_cluster_moved_total");
    assert_int_equal(srt_cluster_move_slot(cluster, late_slot, (size_t)late_from, (size_t)late_to),
                     0);
    srt_sse l;
    srt_check_sse_open(&l, node_a.port, "/sse?room=late");
    deadline = srt_now_ms() + WAIT_MS;
    while (srt_cluster_shardnumsub(srt_cluster_node(cluster, (size_t)late_to), late) != 1) {
        if (srt_now_ms() > deadline) fail_msg("A never subscribed %s on its new owner", late);
        srt_sleep_ms(10);
    }
    assert_true(srt_metric(node_a.port, "sserooms_redis_cluster_moved_total") > a_moved);
    expect_in_order(&l, "late", 0, 10);
    srt_sse_close(&l);
}

static void test_master_failover(void **state) {
    const char *channel = "sse:room:failover";
    srt_sse s;
    srt_check_sse_open(&s, node_a.port, "/sse?room=failover");
    int victim = owner_of(channel);
    assert_true(victim >= 0);
    int64_t deadline = srt_now_ms() + WAIT_MS;
    while (srt_cluster_shardnumsub(srt_cluster_node(cluster, (size_t)victim), channel) != 1) {
        if (srt_now_ms() > deadline) fail_msg("A never subscribed %s", channel);
        srt_sleep_ms(10);
    }
    expect_in_order(&s, "failover", 0, 3);

    int64_t t0 = srt_now_ms();
    assert_int_equal(srt_redis_kill9(srt_cluster_node(cluster, (size_t)victim)), 0);
    /* publish until one gets through: the replica must be promoted and
     * both nodes must find it */
    int got = -1;
    for (int i = 1000; got < 0 && srt_now_ms() < t0 + WAIT_MS; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"room\":\"failover\",\"data\":%d}", i);
        srt_response r;
        if (srt_http_publish(node_b.port, body, &r) == 0) srt_response_free(&r);
        char *block = NULL;
        if (srt_sse_next_event(&s, &block, NULL, 200) == 0) {
            got = (int)data_of(block);
            free(block);
        }
    }
    if (got < 0) fail_msg("no delivery within %d ms of killing the master", WAIT_MS);
    int promoted = owner_of(channel);
    assert_true(promoted >= 3); /* the replica of the victim */
    fprintf(stderr, "delivery resumed %lld ms after the kill, on node %d\n",
            (long long)(srt_now_ms() - t0), promoted);
    srt_node_wait_health(node_a.port, 200, WAIT_MS);
    srt_node_wait_health(node_b.port, 200, WAIT_MS);
    /* drain what the retries left, then exact order again */
    char *block = NULL;
    while (srt_sse_next_event(&s, &block, NULL, 300) == 0) free(block);
    expect_in_order(&s, "failover", 5000, 20);
    assert_int_equal(srt_cluster_shardnumsub(srt_cluster_node(cluster, (size_t)promoted), channel),
                     1);
    srt_sse_close(&s);
    srt_sse_close(&wide);
    srt_check_stop(&node_a);
    srt_check_stop(&node_b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rooms_spread_over_shards),
        cmocka_unit_test(test_slot_migration),
        cmocka_unit_test(test_master_failover),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
