/* SPDX-License-Identifier: MIT */
/*
 * test_redis_nodes.c: two and three sserooms nodes sharing rooms through one
 * real redis-server, over sockets: byte-exact cross-node frames (and the
 * envelope on the wire), no echo duplicate on the publishing node, room
 * isolation, both directions at once, concurrent publishes, unsubscribe
 * stopping delivery, multi-room de-duplication across nodes (12 rooms, with
 * and without id, history off and on), and hand-made
 * bad envelopes PUBLISHed straight into Redis (counted by reason, never
 * delivered, node stays healthy).
 *
 * "Nothing else arrived" is shown without sleeping: after the message under
 * test, a sentinel is published from the same node to a room the client is
 * in. One node's publishes reach Redis over one connection, in order, and
 * Redis delivers them to each subscriber in order, so a duplicate or a leak
 * would show up before the sentinel.
 *
 * With SR_MEASURE_HOP=1 in the environment the binary runs no tests and
 * instead measures the latency a Redis hop adds (see measure_hop).
 */
#include "srt_nodes.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 10000

static srt_proc nodes[3];
static srt_redis *redis;
static const char *const node_ids[3] = {"node-a", "node-b", "node-c"};

#define PORT_A (nodes[0].port)
#define PORT_B (nodes[1].port)
#define PORT_C (nodes[2].port)

/* One Redis and n nodes on it, all healthy. */
static void cluster_start(size_t n) {
    redis = srt_nodes_redis_start();
    for (size_t i = 0; i < n; i++)
        srt_node_start(&nodes[i], srt_redis_url(redis), node_ids[i], NULL);
    for (size_t i = 0; i < n; i++) srt_node_wait_health(nodes[i].port, 200, WAIT_MS);
}

/* Stops the nodes, asserting each exits cleanly (sanitizer reports at exit
 * make the status non-zero), then Redis. */
static void cluster_stop(size_t n) {
    for (size_t i = 0; i < n; i++) srt_check_stop(&nodes[i]);
    srt_nodes_redis_free(redis);
    redis = NULL;
}

/* Opens a stream on `path` and waits until Redis reports `subscribers`
 * subscribers on the channel of `room` (the stream's node among them). */
static void open_subscribed(srt_sse *s, int port, const char *path, const char *room,
                            long long subscribers) {
    srt_check_sse_open(s, port, path);
    char channel[128];
    snprintf(channel, sizeof channel, "sse:room:%s", room);
    srt_nodes_wait_numsub(redis, channel, subscribers, WAIT_MS);
}

/* ---- two nodes: byte-exact delivery, no echo duplicate ----------------------------- */

static void test_cross_node_byte_exact(void **state) {
    (void)state;
    cluster_start(2);
    srt_sse on_a, on_b;
    open_subscribed(&on_b, PORT_B, "/sse?room=chat", "chat", 1);
    open_subscribed(&on_a, PORT_A, "/sse?room=chat", "chat", 2);
    srt_rawsub wire;
    srt_rawsub_open(&wire, redis, "sse:room:chat");
    long long published = 0;

    /* the reference README's example, exactly as curl sends it */
    srt_check_publish_delivered(PORT_A,
                                "{\"room\":\"chat\",\"event\":\"message\",\"data\":{\"from\":"
                                "\"system\",\"text\":\"Hi\"},\"id\":\"1\"}",
                                1);
    published++;
    const char *hi = "id: 1\nevent: message\ndata: {\"from\":\"system\",\"text\":\"Hi\"}\n\n";
    srt_node_expect_event(&on_b, hi);
    srt_node_expect_event(&on_a, hi);
    char *env = srt_rawsub_next(&wire, NULL, WAIT_MS);
    bool same =
        srt_bytes_equal("envelope", env, strlen(env),
                        "{\"v\":1,\"m\":{\"event\":\"message\",\"data\":{\"from\":\"system\","
                        "\"text\":\"Hi\"},\"id\":\"1\"},\"n\":\"node-a\"}");
    free(env);
    assert_true(same);

    /* data is forwarded as its original text, whatever a JSON library would
     * re-print it as */
    static const char *const values[] = {"0.1",
                                         "1e21",
                                         "0.30000000000000004",
                                         "\"[DONE]\"",
                                         "null",
                                         "\"\\ud800\"",
                                         "\"a\\u0000b\"",
                                         "12345678901234567890",
                                         "-0",
                                         "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
                                         "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}",
                                         "\"\\uD83D\\uDE00\"",
                                         "[]",
                                         "true"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char body[256], frame[256], envelope[256];
        snprintf(body, sizeof body, "{\"room\":\"chat\",\"data\":%s}", values[i]);
        snprintf(frame, sizeof frame, "data: %s\n\n", values[i]);
        snprintf(envelope, sizeof envelope, "{\"v\":1,\"m\":{\"data\":%s},\"n\":\"node-a\"}",
                 values[i]);
        srt_check_publish_delivered(PORT_A, body, 1);
        published++;
        srt_node_expect_event(&on_b, frame);
        srt_node_expect_event(&on_a, frame);
        env = srt_rawsub_next(&wire, NULL, WAIT_MS);
        same = srt_bytes_equal("envelope", env, strlen(env), envelope);
        free(env);
        assert_true(same);
    }

    /* every field, and meta: it travels in the envelope, never to clients */
    srt_check_publish_delivered(PORT_A,
                                "{\"room\":\"chat\",\"retry\":5000,\"data\":1,\"event\":\"tick\","
                                "\"id\":\"7\",\"meta\":{\"tenant\":\"t1\",\"n\":[1,2]}}",
                                1);
    published++;
    srt_node_expect_event(&on_b, "id: 7\nevent: tick\ndata: 1\nretry: 5000\n\n");
    srt_node_expect_event(&on_a, "id: 7\nevent: tick\ndata: 1\nretry: 5000\n\n");
    env = srt_rawsub_next(&wire, NULL, WAIT_MS);
    same = srt_bytes_equal(
        "envelope", env, strlen(env),
        "{\"v\":1,\"m\":{\"event\":\"tick\",\"data\":1,\"id\":\"7\",\"retry\":5000},"
        "\"n\":\"node-a\",\"meta\":{\"tenant\":\"t1\",\"n\":[1,2]}}");
    free(env);
    assert_true(same);
    srt_rawsub_close(&wire);

    /* "local": true stays on the node: B's client sees the sentinel next */
    srt_check_publish_delivered(PORT_A, "{\"room\":\"chat\",\"data\":\"only A\",\"local\":true}",
                                1);
    srt_node_expect_event(&on_a, "data: \"only A\"\n\n");
    srt_check_publish_delivered(PORT_A, "{\"room\":\"chat\",\"data\":\"sentinel\"}", 1);
    published++;
    srt_node_expect_event(&on_b, "data: \"sentinel\"\n\n");
    srt_node_expect_event(&on_a, "data: \"sentinel\"\n\n");

    /* A gets its own publishes back from Redis and drops them: once every
     * echo has been processed, A's client still has exactly one copy each */
    srt_node_wait_redis_stat(PORT_A, NULL, "own_echo", published, WAIT_MS);
    srt_check_quiet(&on_a, 300);
    assert_int_equal(srt_node_redis_stat(PORT_A, NULL, "own_echo"), published);
    assert_int_equal(srt_node_redis_stat(PORT_A, NULL, "delivered"), 0);
    assert_int_equal(srt_node_redis_stat(PORT_A, NULL, "published"), published);
    assert_int_equal(srt_node_redis_stat(PORT_A, NULL, "publish_failures"), 0);
    assert_int_equal(srt_node_redis_stat(PORT_B, NULL, "received"), published);
    assert_int_equal(srt_node_redis_stat(PORT_B, NULL, "delivered"), published);
    assert_int_equal(srt_node_redis_stat(PORT_B, NULL, "own_echo"), 0);
    assert_int_equal(srt_node_redis_stat(PORT_B, NULL, "subscribed"), 1);
    char *st = srt_node_redis_state(PORT_B);
    assert_string_equal(st, "up");
    free(st);
    srt_check_quiet(&on_b, 10);

    srt_sse_close(&on_a);
    srt_sse_close(&on_b);
    cluster_stop(2);
}

/* The node id, channel prefix options on two nodes that agree on a prefix,
 * and a third using the default one: it shares nothing with them. */
static void test_prefix_and_node_id_options(void **state) {
    (void)state;
    redis = srt_nodes_redis_start();
    const char *const prefixed[] = {"--channel-prefix", "app1/", NULL};
    srt_node_start(&nodes[0], srt_redis_url(redis), "custom-a", prefixed);
    srt_node_start(&nodes[1], srt_redis_url(redis), "custom-b", prefixed);
    srt_node_start(&nodes[2], srt_redis_url(redis), "plain-c", NULL);
    for (int i = 0; i < 3; i++) srt_node_wait_health(nodes[i].port, 200, WAIT_MS);
    srt_sse on_b, on_c;
    srt_check_sse_open(&on_b, PORT_B, "/sse?room=r");
    srt_check_sse_open(&on_c, PORT_C, "/sse?room=r");
    srt_nodes_wait_numsub(redis, "app1/r", 1, WAIT_MS);
    srt_nodes_wait_numsub(redis, "sse:room:r", 1, WAIT_MS);
    srt_rawsub wire;
    srt_rawsub_open(&wire, redis, "app1/r");

    srt_check_publish_delivered(PORT_A, "{\"room\":\"r\",\"data\":\"p\",\"id\":\"x\"}", 0);
    srt_node_expect_event(&on_b, "id: x\ndata: \"p\"\n\n");
    char *env = srt_rawsub_next(&wire, NULL, WAIT_MS);
    bool same = srt_bytes_equal("envelope", env, strlen(env),
                                "{\"v\":1,\"m\":{\"data\":\"p\",\"id\":\"x\"},\"n\":\"custom-a\"}");
    free(env);
    assert_true(same);
    srt_rawsub_close(&wire);

    /* C (default prefix) got nothing: its next event is its own node's */
    srt_check_publish_delivered(PORT_C, "{\"room\":\"r\",\"data\":\"c\"}", 1);
    srt_node_expect_event(&on_c, "data: \"c\"\n\n");
    srt_node_wait_redis_stat(PORT_C, NULL, "own_echo", 1, WAIT_MS);
    assert_int_equal(srt_node_redis_stat(PORT_C, NULL, "received"), 1); /* its own echo */
    assert_int_equal(srt_node_redis_stat(PORT_C, NULL, "delivered"), 0);

    srt_response r;
    assert_int_equal(srt_http_get(PORT_A, "/stats", &r), 0);
    assert_non_null(strstr(r.body, "\"node_id\":\"custom-a\""));
    srt_response_free(&r);

    srt_sse_close(&on_b);
    srt_sse_close(&on_c);
    cluster_stop(3);
}

/* ---- three nodes -------------------------------------------------------------------- */

static void test_room_isolation(void **state) {
    (void)state;
    cluster_start(3);
    srt_sse on_b, on_c;
    /* rooms whose names are prefixes of one another, with separators */
    open_subscribed(&on_b, PORT_B, "/sse?room=chat", "chat", 1);
    open_subscribed(&on_c, PORT_C, "/sse?room=chat:general", "chat:general", 1);

    srt_check_publish_delivered(PORT_A, "{\"room\":\"chat\",\"data\":\"to chat\"}", 0);
    srt_check_publish_delivered(PORT_A, "{\"room\":\"chat:general\",\"data\":\"to general\"}", 0);
    srt_check_publish_delivered(PORT_A, "{\"room\":\"chat:gen\",\"data\":\"to nobody\"}", 0);
    srt_check_publish_delivered(PORT_A, "{\"rooms\":[\"chat\",\"chat:general\"],\"data\":\"both\"}",
                                0);
    srt_node_expect_event(&on_b, "data: \"to chat\"\n\n");
    srt_node_expect_event(&on_b, "data: \"both\"\n\n");
    srt_node_expect_event(&on_c, "data: \"to general\"\n\n");
    srt_node_expect_event(&on_c, "data: \"both\"\n\n");
    /* a publish on C for chat reaches B, not C's own chat:general client */
    srt_check_publish_delivered(PORT_C, "{\"room\":\"chat\",\"data\":\"from C\"}", 0);
    srt_node_expect_event(&on_b, "data: \"from C\"\n\n");
    srt_check_publish_delivered(PORT_A, "{\"rooms\":[\"chat\",\"chat:general\"],\"data\":\"end\"}",
                                0);
    srt_node_expect_event(&on_b, "data: \"end\"\n\n");
    srt_node_expect_event(&on_c, "data: \"end\"\n\n");
    assert_int_equal(srt_node_redis_stat(PORT_C, NULL, "delivered"), 3);
    assert_int_equal(srt_node_redis_stat(PORT_B, NULL, "delivered"), 4);

    srt_sse_close(&on_b);
    srt_sse_close(&on_c);
    cluster_stop(3);
}

/* A and B both publish at the same time to the room they share; each client
 * gets everything, its node's local messages included, once each. */
static void test_both_directions_at_once(void **state) {
    (void)state;
    cluster_start(3);
    srt_sse on_a, on_b, on_c;
    open_subscribed(&on_a, PORT_A, "/sse?room=duo", "duo", 1);
    open_subscribed(&on_b, PORT_B, "/sse?room=duo", "duo", 2);
    open_subscribed(&on_c, PORT_C, "/sse?room=duo", "duo", 3);

    enum { PER_NODE = 20 };
    char bodies[2][PER_NODE][96];
    const char *from_a[PER_NODE], *from_b[PER_NODE];
    const char *all[2 * PER_NODE];
    char frames[2 * PER_NODE][96];
    for (int i = 0; i < PER_NODE; i++) {
        snprintf(bodies[0][i], sizeof bodies[0][i],
                 "{\"room\":\"duo\",\"data\":\"a%d\",\"id\":\"a%d\"}", i, i);
        snprintf(bodies[1][i], sizeof bodies[1][i],
                 "{\"room\":\"duo\",\"data\":\"b%d\",\"id\":\"b%d\"}", i, i);
        from_a[i] = bodies[0][i];
        from_b[i] = bodies[1][i];
        snprintf(frames[i], sizeof frames[i], "id: a%d\ndata: \"a%d\"\n\n", i, i);
        snprintf(frames[PER_NODE + i], sizeof frames[i], "id: b%d\ndata: \"b%d\"\n\n", i, i);
        all[i] = frames[i];
        all[PER_NODE + i] = frames[PER_NODE + i];
    }
    /* all 40 requests are written before any answer is read */
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    srt_conn ca[PER_NODE], cb[PER_NODE];
    for (int i = 0; i < PER_NODE; i++) {
        assert_int_equal(srt_conn_open(&ca[i], PORT_A, WAIT_MS), 0);
        assert_int_equal(srt_conn_open(&cb[i], PORT_B, WAIT_MS), 0);
    }
    for (int i = 0; i < PER_NODE; i++) {
        assert_int_equal(srt_http_send_request(&ca[i], "POST", "/publish", headers, from_a[i],
                                               strlen(from_a[i]), WAIT_MS),
                         0);
        assert_int_equal(srt_http_send_request(&cb[i], "POST", "/publish", headers, from_b[i],
                                               strlen(from_b[i]), WAIT_MS),
                         0);
    }
    for (int i = 0; i < 2 * PER_NODE; i++) {
        srt_conn *c = i < PER_NODE ? &ca[i] : &cb[i - PER_NODE];
        srt_response r;
        assert_int_equal(srt_http_read_response(c, &r, WAIT_MS), 0);
        srt_check_status(&r, 200);
        long long delivered = -1;
        assert_true(srt_json_int(r.body, "delivered", &delivered));
        assert_int_equal(delivered, 1);
        srt_response_free(&r);
        srt_conn_close(c);
    }
    srt_node_expect_events_any_order(&on_a, all, 2 * PER_NODE);
    srt_node_expect_events_any_order(&on_b, all, 2 * PER_NODE);
    srt_node_expect_events_any_order(&on_c, all, 2 * PER_NODE);
    /* nothing more: sentinels from both publishers */
    srt_check_publish_delivered(PORT_A, "{\"room\":\"duo\",\"data\":\"sa\"}", 1);
    srt_check_publish_delivered(PORT_B, "{\"room\":\"duo\",\"data\":\"sb\"}", 1);
    const char *sentinels[] = {"data: \"sa\"\n\n", "data: \"sb\"\n\n"};
    srt_node_expect_events_any_order(&on_a, sentinels, 2);
    srt_node_expect_events_any_order(&on_b, sentinels, 2);
    srt_node_expect_events_any_order(&on_c, sentinels, 2);
    assert_int_equal(srt_node_redis_stat(PORT_C, NULL, "delivered"), 2 * PER_NODE + 2);

    srt_sse_close(&on_a);
    srt_sse_close(&on_b);
    srt_sse_close(&on_c);
    cluster_stop(3);
}

static void test_concurrent_publishes(void **state) {
    (void)state;
    cluster_start(3);
    srt_sse on_a, on_b, on_c;
    open_subscribed(&on_a, PORT_A, "/sse?room=burst", "burst", 1);
    open_subscribed(&on_b, PORT_B, "/sse?room=burst", "burst", 2);
    open_subscribed(&on_c, PORT_C, "/sse?room=burst", "burst", 3);
    enum { N = 10 };
    char bodies[N][96], frames[N][96];
    const char *body_ptrs[N], *frame_ptrs[N];
    for (int i = 0; i < N; i++) {
        snprintf(bodies[i], sizeof bodies[i],
                 "{\"room\":\"burst\",\"event\":\"n\",\"data\":{\"i\":%d},\"id\":\"c%d\"}", i, i);
        snprintf(frames[i], sizeof frames[i], "id: c%d\nevent: n\ndata: {\"i\":%d}\n\n", i, i);
        body_ptrs[i] = bodies[i];
        frame_ptrs[i] = frames[i];
    }
    long long delivered[N];
    srt_nodes_publish_parallel(PORT_A, body_ptrs, N, delivered);
    for (int i = 0; i < N; i++) assert_int_equal(delivered[i], 1);
    srt_node_expect_events_any_order(&on_a, frame_ptrs, N);
    srt_node_expect_events_any_order(&on_b, frame_ptrs, N);
    srt_node_expect_events_any_order(&on_c, frame_ptrs, N);
    srt_check_publish_delivered(PORT_A, "{\"room\":\"burst\",\"data\":\"end\"}", 1);
    srt_node_expect_event(&on_a, "data: \"end\"\n\n");
    srt_node_expect_event(&on_b, "data: \"end\"\n\n");
    srt_node_expect_event(&on_c, "data: \"end\"\n\n");
    srt_node_wait_redis_stat(PORT_A, NULL, "published", N + 1, WAIT_MS);
    assert_int_equal(srt_node_redis_stat(PORT_A, NULL, "publish_failures"), 0);

    srt_sse_close(&on_a);
    srt_sse_close(&on_b);
    srt_sse_close(&on_c);
    cluster_stop(3);
}

/* Polls /stats until redis.<key> == value; fails after WAIT_MS. */
static void wait_redis_stat_equal(int port, const char *key, long long value) {
    int64_t deadline = srt_now_ms() + WAIT_MS;
    long long got;
    while ((got = srt_node_redis_stat(port, NULL, key)) != value) {
        if (srt_now_ms() >= deadline) fail_msg("redis.%s is %lld, expected %lld", key, got, value);
        srt_sleep_ms(5);
    }
}

/* Polls PUBSUB CHANNELS <channel> until it lists the channel (present) or
 * not; fails after WAIT_MS. */
static void wait_channel(const char *channel, bool present) {
    int64_t deadline = srt_now_ms() + WAIT_MS;
    for (;;) {
        size_t n;
        char **list = srt_redis_channels(redis, channel, &n);
        srt_redis_free_strings(list, n);
        if ((n == 1) == present) return;
        if (srt_now_ms() >= deadline)
            fail_msg("PUBSUB CHANNELS %s lists %zu channels, expected %d", channel, n, present);
        srt_sleep_ms(5);
    }
}

static void test_unsubscribe_stops_delivery(void **state) {
    (void)state;
    cluster_start(3);
    srt_sse leaver, stayer;
    open_subscribed(&leaver, PORT_B, "/sse?room=leave", "leave", 1);
    open_subscribed(&stayer, PORT_B, "/sse?room=stay", "stay", 1);
    srt_node_wait_redis_stat(PORT_B, NULL, "subscribed", 2, WAIT_MS);

    srt_check_publish_delivered(PORT_A, "{\"room\":\"leave\",\"data\":\"first\"}", 0);
    srt_node_expect_event(&leaver, "data: \"first\"\n\n");

    /* the last member leaves: B unsubscribes, the channel disappears */
    srt_sse_close(&leaver);
    srt_check_room_members(PORT_B, "leave", 0, WAIT_MS);
    wait_channel("sse:room:leave", false);
    assert_int_equal(srt_nodes_numsub(redis, "sse:room:leave"), 0);
    wait_redis_stat_equal(PORT_B, "subscribed", 1);
    long long received = srt_node_redis_stat(PORT_B, NULL, "received");
    long long remote_in = srt_check_stat(PORT_B, "messages_remote_in");

    /* a later publish reaches nobody on B; the sentinel after it does */
    srt_check_publish_delivered(PORT_A, "{\"room\":\"leave\",\"data\":\"second\"}", 0);
    srt_check_publish_delivered(PORT_A, "{\"room\":\"stay\",\"data\":\"sentinel\"}", 0);
    srt_node_expect_event(&stayer, "data: \"sentinel\"\n\n");
    assert_int_equal(srt_node_redis_stat(PORT_B, NULL, "received"), received + 1);
    assert_int_equal(srt_check_stat(PORT_B, "messages_remote_in"), remote_in + 1);

    /* and joining again subscribes again */
    open_subscribed(&leaver, PORT_B, "/sse?room=leave", "leave", 1);
    srt_check_publish_delivered(PORT_A, "{\"room\":\"leave\",\"data\":\"third\"}", 0);
    srt_node_expect_event(&leaver, "data: \"third\"\n\n");

    /* closing every stream of a node empties its subscriptions */
    srt_sse_close(&leaver);
    srt_sse_close(&stayer);
    wait_channel("sse:room:leave", false);
    wait_channel("sse:room:stay", false);
    wait_redis_stat_equal(PORT_B, "subscribed", 0);
    cluster_stop(3);
}

/* A multi-room publish goes to Redis once per room: a remote connection in
 * several of the rooms gets it once, with an id (de-duplicated by id, as the
 * reference does) and without (by the envelope's de-duplication key). */
static void test_multi_room_dedup_across_nodes(void **state) {
    (void)state;
    cluster_start(3);
    srt_sse local_ab, b_ab, b_b, c_ab;
    open_subscribed(&b_ab, PORT_B, "/sse?room=a&room=b", "a", 1);
    srt_nodes_wait_numsub(redis, "sse:room:b", 1, WAIT_MS);
    srt_check_sse_open(&b_b, PORT_B, "/sse?room=b");
    open_subscribed(&c_ab, PORT_C, "/sse?room=b&room=a", "a", 2);
    srt_nodes_wait_numsub(redis, "sse:room:b", 2, WAIT_MS);
    srt_check_sse_open(&local_ab, PORT_A, "/sse?room=a&room=b");
    srt_nodes_wait_numsub(redis, "sse:room:a", 3, WAIT_MS);
    srt_nodes_wait_numsub(redis, "sse:room:b", 3, WAIT_MS);

    srt_check_publish_delivered(PORT_A, "{\"rooms\":[\"a\",\"b\"],\"data\":\"x\",\"id\":\"d1\"}",
                                1);
    srt_check_publish_delivered(PORT_A, "{\"rooms\":[\"b\"],\"data\":\"s1\",\"id\":\"s1\"}", 1);
    const char *d1 = "id: d1\ndata: \"x\"\n\n", *s1 = "id: s1\ndata: \"s1\"\n\n";
    srt_sse *all[] = {&local_ab, &b_ab, &b_b, &c_ab};
    for (size_t i = 0; i < 4; i++) {
        srt_node_expect_event(all[i], d1);
        srt_node_expect_event(all[i], s1);
    }

    /* no id: still once per connection, and no id: line */
    srt_check_publish_delivered(PORT_A, "{\"rooms\":[\"a\",\"b\"],\"data\":\"no id\"}", 1);
    srt_check_publish_delivered(PORT_A, "{\"rooms\":[\"b\"],\"data\":\"s2\",\"id\":\"s2\"}", 1);
    const char *noid = "data: \"no id\"\n\n", *s2 = "id: s2\ndata: \"s2\"\n\n";
    for (size_t i = 0; i < 4; i++) {
        srt_node_expect_event(all[i], noid);
        srt_node_expect_event(all[i], s2);
    }

    /* three rooms, a connection in two of them, another only in the third */
    srt_sse b_c;
    open_subscribed(&b_c, PORT_B, "/sse?room=c", "c", 1);
    srt_check_publish_delivered(PORT_A, "{\"rooms\":[\"a\",\"b\",\"c\"],\"data\":3,\"id\":\"d3\"}",
                                1);
    srt_check_publish_delivered(PORT_A, "{\"rooms\":[\"b\",\"c\"],\"data\":0,\"id\":\"s3\"}", 1);
    srt_node_expect_event(&b_ab, "id: d3\ndata: 3\n\n");
    srt_node_expect_event(&b_ab, "id: s3\ndata: 0\n\n");
    srt_node_expect_event(&b_c, "id: d3\ndata: 3\n\n");
    srt_node_expect_event(&b_c, "id: s3\ndata: 0\n\n");
    srt_node_expect_event(&b_b, "id: d3\ndata: 3\n\n");
    srt_node_expect_event(&b_b, "id: s3\ndata: 0\n\n");

    for (size_t i = 0; i < 4; i++) srt_sse_close(all[i]);
    srt_sse_close(&b_c);
    cluster_stop(3);
}

/* ---- one message, twelve rooms ------------------------------------------------ */

/* Twelve rooms c1..c12 as a query string and as a JSON array. */
#define TWELVE_QUERY                                                                               \
    "/sse?room=c1&room=c2&room=c3&room=c4&room=c5&room=c6&room=c7&room=c8&room=c9"                 \
    "&room=c10&room=c11&room=c12"
#define TWELVE_JSON                                                                                \
    "[\"c1\",\"c2\",\"c3\",\"c4\",\"c5\",\"c6\",\"c7\",\"c8\",\"c9\",\"c10\",\"c11\",\"c12\"]"

/* Reads one event and asserts it ends with `tail` and has an "id: " line
 * first exactly when `id` is not NULL ("*": any id), then the sentinel. */
static void expect_once_then(srt_sse *s, const char *id, const char *tail, const char *sentinel) {
    char *ev = srt_node_next_event(s, WAIT_MS);
    size_t n = strlen(ev), t = strlen(tail);
    if (n < t || strcmp(ev + n - t, tail) != 0) fail_msg("event %s does not end with %s", ev, tail);
    if (!id && strncmp(ev, "id: ", 4) == 0) fail_msg("event %s has an id line", ev);
    if (id && strncmp(ev, "id: ", 4) != 0) fail_msg("event %s has no id line", ev);
    if (id && strcmp(id, "*") != 0 &&
        (strncmp(ev + 4, id, strlen(id)) != 0 || ev[4 + strlen(id)] != '\n'))
        fail_msg("event %s has not the id %s", ev, id);
    free(ev);
    ev = srt_node_next_event(s, WAIT_MS);
    if (!strstr(ev, sentinel))
        fail_msg("expected the sentinel %s, got %s (a duplicate?)", sentinel, ev);
    free(ev);
}

/* Node A publishes one message to 12 rooms; a stream in all of them on
 * node B (and one on A) gets it once, then the sentinel published after
 * it. Variants: with and without a publisher id, history off and on
 * (with history the id is assigned and the local stream gets it back
 * through Redis too). */
static void twelve_rooms(const char *const *extra, bool history) {
    redis = srt_nodes_redis_start();
    for (size_t i = 0; i < 2; i++)
        srt_node_start(&nodes[i], srt_redis_url(redis), node_ids[i], extra);
    for (size_t i = 0; i < 2; i++) srt_node_wait_health(nodes[i].port, 200, WAIT_MS);
    srt_sse on_b, on_a;
    srt_check_sse_open(&on_b, PORT_B, TWELVE_QUERY);
    srt_check_sse_open(&on_a, PORT_A, TWELVE_QUERY);
    for (int r = 1; r <= 12; r++) {
        char channel[32];
        snprintf(channel, sizeof channel, "sse:room:c%d", r);
        srt_nodes_wait_numsub(redis, channel, 2, WAIT_MS);
    }
    const char *bodies[][2] = {
        /* {body, id expected in the frame} */
        {"{\"rooms\":" TWELVE_JSON ",\"event\":\"noid\",\"data\":1}", history ? "*" : NULL},
        {"{\"rooms\":" TWELVE_JSON ",\"event\":\"withid\",\"data\":2,\"id\":\"x1\"}", "x1"},
    };
    const char *tails[] = {"event: noid\ndata: 1\n\n", "event: withid\ndata: 2\n\n"};
    /* with history a publisher-given id is refused (docs/resume.md) */
    for (size_t i = 0; i < (history ? 1u : 2u); i++) {
        srt_check_publish(PORT_A, bodies[i][0]);
        srt_check_publish(PORT_A, "{\"room\":\"c12\",\"event\":\"sentinel\",\"data\":0}");
        expect_once_then(&on_b, bodies[i][1], tails[i], "event: sentinel\n");
        expect_once_then(&on_a, bodies[i][1], tails[i], "event: sentinel\n");
    }
    srt_sse_close(&on_a);
    srt_sse_close(&on_b);
    cluster_stop(2);
}

static void test_twelve_rooms_once(void **state) {
    (void)state;
    twelve_rooms(NULL, false);
}

static void test_twelve_rooms_once_history(void **state) {
    (void)state;
    const char *extra[] = {"--history", "100", NULL};
    twelve_rooms(extra, true);
}

/* ---- echo and bad envelopes ----------------------------------------------------- */

typedef struct bad_envelope {
    const char *payload; /* NULL: 100000 unclosed '[' (built at run time) */
    const char *reason;  /* the /stats "dropped" key it must be counted under */
    size_t len;          /* 0: strlen(payload) */
} bad_envelope;

static const bad_envelope bad_envelopes[] = {
    {"{\"v\":1,\"m\":", "invalid_json", 0},
    {"", "invalid_json", 0},
    {"not json at all", "invalid_json", 0},
    {"{\"v\":1,\"m\":{\"data\":1},\"n\":\"x\"} trailing", "invalid_json", 0},
    {"{\"v\":1,\"m\":{\"data\":01},\"n\":\"x\"}", "invalid_json", 0},
    {"\xff\xfe\x00\x01", "invalid_json", 4},
    {NULL, "invalid_json", 0}, /* 100000 unclosed '[' */
    {"[1,2,3]", "not_object", 0},
    {"\"a string\"", "not_object", 0},
    {"null", "not_object", 0},
    {"{\"v\":\"1\",\"m\":{\"data\":1},\"n\":\"x\"}", "bad_version", 0},
    {"{\"v\":2,\"m\":{\"data\":1},\"n\":\"x\"}", "bad_version", 0},
    {"{\"m\":{\"data\":1},\"n\":\"x\"}", "bad_version", 0},
    {"{\"v\":true,\"m\":{\"data\":1},\"n\":\"x\"}", "bad_version", 0},
    {"{\"v\":1,\"n\":\"x\"}", "bad_fields", 0},
    {"{\"v\":1,\"m\":{\"id\":\"1\",\"event\":\"e\"},\"n\":\"x\"}", "bad_fields", 0},
    {"{\"v\":1,\"m\":{\"data\":1}}", "bad_fields", 0},
    {"{\"v\":1,\"m\":{\"data\":1,\"id\":\"a\\nb\"},\"n\":\"x\"}", "bad_fields", 0},
    {"{\"v\":1,\"m\":{\"data\":1,\"id\":\"a\\r\\nevent: evil\"},\"n\":\"x\"}", "bad_fields", 0},
    {"{\"v\":1,\"m\":{\"data\":1,\"event\":\"a\\rb\"},\"n\":\"x\"}", "bad_fields", 0},
    {"{\"v\":1,\"m\":\"text\",\"n\":\"x\"}", "bad_fields", 0},
    {"{\"v\":1,\"m\":{\"data\":1},\"n\":5}", "bad_fields", 0},
    {"{\"v\":1,\"m\":{\"data\":1,\"retry\":\"5\"},\"n\":\"x\"}", "bad_fields", 0},
    {"{\"v\":1,\"m\":{\"data\":1,\"id\":true},\"n\":\"x\"}", "bad_fields", 0},
    {"{\"v\":1,\"m\":{\"data\":1,\"event\":null},\"n\":\"x\"}", "bad_fields", 0},
};

static const char *const drop_reasons[] = {"invalid_json", "not_object", "bad_version",
                                           "bad_fields", "foreign_channel"};

static void test_echo_and_bad_envelopes(void **state) {
    (void)state;
    cluster_start(2);
    srt_sse on_a, on_b;
    open_subscribed(&on_b, PORT_B, "/sse?room=bad", "bad", 1);
    open_subscribed(&on_a, PORT_A, "/sse?room=bad", "bad", 2);

    /* own-node echo: A's publish comes back to A and is dropped there */
    srt_check_publish_delivered(PORT_A, "{\"room\":\"bad\",\"data\":\"echo\",\"id\":\"e1\"}", 1);
    srt_node_expect_event(&on_a, "id: e1\ndata: \"echo\"\n\n");
    srt_node_expect_event(&on_b, "id: e1\ndata: \"echo\"\n\n");
    srt_node_wait_redis_stat(PORT_A, NULL, "own_echo", 1, WAIT_MS);
    /* an envelope carrying B's node id, from anywhere, is an echo for B */
    const char *as_b = "{\"v\":1,\"m\":{\"data\":\"claims B\"},\"n\":\"node-b\"}";
    assert_int_equal(srt_redis_publish(redis, "sse:room:bad", as_b, strlen(as_b)), 2);
    srt_node_wait_redis_stat(PORT_B, NULL, "own_echo", 1, WAIT_MS);
    srt_node_expect_event(&on_a, "data: \"claims B\"\n\n"); /* A delivers it */

    long long expected[5] = {0};
    size_t n_bad = sizeof bad_envelopes / sizeof bad_envelopes[0];
    for (size_t i = 0; i < n_bad; i++) {
        const char *payload = bad_envelopes[i].payload;
        size_t len;
        char *deep = NULL;
        if (payload) {
            len = bad_envelopes[i].len ? bad_envelopes[i].len : strlen(payload);
        } else {
            static const char head[] = "{\"v\":1,\"m\":{\"data\":";
            len = sizeof head - 1 + 100000;
            deep = malloc(len);
            assert_non_null(deep);
            memcpy(deep, head, sizeof head - 1);
            memset(deep + sizeof head - 1, '[', 100000);
            payload = deep;
        }
        long long receivers = srt_redis_publish(redis, "sse:room:bad", payload, len);
        free(deep);
        assert_int_equal(receivers, 2);
        for (size_t k = 0; k < 5; k++)
            if (strcmp(drop_reasons[k], bad_envelopes[i].reason) == 0) expected[k]++;
    }
    /* good envelopes written by hand: key order, v as 1.0, unknown keys and
     * meta do not matter; a numeric id or event is written as JavaScript
     * prints it (the reference writes `id: ${id}`) */
    const char *good[] = {
        "{\"n\":\"hand\",\"m\":{\"id\":\"g1\",\"data\":[1, 2]},\"v\":1}",
        "{\"v\":1.0,\"m\":{\"data\":\"v\",\"event\":\"e\",\"extra\":1},\"n\":\"hand\",\"x\":{}}",
        "{\"v\":1,\"m\":{\"data\":{\"k\":\"\\u00e9\"},\"retry\":10},\"n\":\"hand\",\"meta\":[1]}",
        "{\"v\":1,\"m\":{\"data\":1,\"id\":7,\"event\":1e21},\"n\":\"hand\"}",
    };
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(srt_redis_publish(redis, "sse:room:bad", good[i], strlen(good[i])), 2);
    /* both nodes: none of the bad ones leaked in between */
    srt_sse *clients[] = {&on_b, &on_a};
    for (size_t i = 0; i < 2; i++) {
        srt_node_expect_event(clients[i], "id: g1\ndata: [1, 2]\n\n");
        srt_node_expect_event(clients[i], "event: e\ndata: \"v\"\n\n");
        srt_node_expect_event(clients[i], "data: {\"k\":\"\\u00e9\"}\nretry: 10\n\n");
        srt_node_expect_event(clients[i], "id: 7\nevent: 1e+21\ndata: 1\n\n");
    }
    int ports[] = {PORT_B, PORT_A};
    for (size_t i = 0; i < 2; i++) {
        for (size_t k = 0; k < 5; k++) {
            long long got = srt_node_redis_stat(ports[i], "dropped", drop_reasons[k]);
            if (got != expected[k])
                fail_msg("node %s: dropped.%s is %lld, expected %lld", i ? "A" : "B",
                         drop_reasons[k], got, expected[k]);
        }
        srt_check_healthy(ports[i]);
    }
    /* B: 1 from A + the one claiming B + the bad ones + 4 good ones */
    assert_int_equal(srt_node_redis_stat(PORT_B, NULL, "received"), 1 + 1 + (long long)n_bad + 4);
    assert_int_equal(srt_node_redis_stat(PORT_B, NULL, "delivered"), 1 + 4);
    assert_int_equal(srt_node_redis_stat(PORT_B, NULL, "own_echo"), 1);
    assert_int_equal(srt_node_redis_stat(PORT_A, NULL, "own_echo"), 1);

    /* and normal traffic still flows both ways */
    srt_check_publish_delivered(PORT_A, "{\"room\":\"bad\",\"data\":\"after\"}", 1);
    srt_node_expect_event(&on_b, "data: \"after\"\n\n");
    srt_node_expect_event(&on_a, "data: \"after\"\n\n");
    srt_check_publish_delivered(PORT_B, "{\"room\":\"bad\",\"data\":\"back\"}", 1);
    srt_node_expect_event(&on_a, "data: \"back\"\n\n");
    srt_node_expect_event(&on_b, "data: \"back\"\n\n");
    srt_check_quiet(&on_a, 200);
    srt_check_quiet(&on_b, 10);

    srt_sse_close(&on_a);
    srt_sse_close(&on_b);
    cluster_stop(2);
}

/* ---- latency of the Redis hop (SR_MEASURE_HOP=1) --------------------------------- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void print_stats(const char *what, int64_t *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_i64);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += v[i];
    printf("  %-26s p50 %6lld us   p99 %6lld us   mean %6lld us   max %6lld us\n", what,
           (long long)v[n / 2], (long long)v[(n * 99) / 100], (long long)(sum / (int64_t)n),
           (long long)v[n - 1]);
}

/* Reads one block from s if one is complete or arrives now (no waiting). */
static bool try_block(srt_sse *s) {
    char *block;
    if (srt_sse_next(s, &block, NULL, 0) != 0) return false;
    free(block);
    return true;
}

/* Sequential messages published on A, each received by a client on A
 * (local fan-out) and a client on B (through Redis): the time from the
 * start of the POST to each arrival. */
static void measure_hop(void **state) {
    (void)state;
    cluster_start(2);
    srt_sse on_a, on_b;
    open_subscribed(&on_a, PORT_A, "/sse?room=hop", "hop", 1);
    open_subscribed(&on_b, PORT_B, "/sse?room=hop", "hop", 2);
    srt_conn pub;
    assert_int_equal(srt_conn_open(&pub, PORT_A, WAIT_MS), 0);
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    enum { WARMUP = 100, N = 1000 };
    int64_t *local = calloc(N, sizeof *local), *remote = calloc(N, sizeof *remote);
    int64_t *answer = calloc(N, sizeof *answer), *hop = calloc(N, sizeof *hop);
    assert_true(local && remote && answer && hop);
    for (int i = 0; i < WARMUP + N; i++) {
        char body[96];
        int len = snprintf(body, sizeof body, "{\"room\":\"hop\",\"data\":%d,\"id\":\"%d\"}", i, i);
        int64_t t0 = srt_nodes_now_us(), t_local = 0, t_remote = 0, t_answer = 0;
        assert_int_equal(srt_http_send_request(&pub, "POST", "/publish", headers, body, (size_t)len,
                                               WAIT_MS),
                         0);
        /* the answer's arrival is noted when its first bytes are readable */
        while (!t_local || !t_remote || !t_answer) {
            if (!t_local && try_block(&on_a)) t_local = srt_nodes_now_us();
            if (!t_remote && try_block(&on_b)) t_remote = srt_nodes_now_us();
            struct pollfd pfd[3] = {{on_a.conn.fd, t_local ? 0 : POLLIN, 0},
                                    {on_b.conn.fd, t_remote ? 0 : POLLIN, 0},
                                    {pub.fd, t_answer ? 0 : POLLIN, 0}};
            if (t_local && t_remote && t_answer) break;
            if (poll(pfd, 3, WAIT_MS) <= 0 || srt_nodes_now_us() - t0 > WAIT_MS * 1000LL)
                fail_msg("message %d: %s did not arrive", i,
                         !t_local    ? "A's frame"
                         : !t_remote ? "B's frame"
                                     : "the answer");
            if (!t_answer && (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)))
                t_answer = srt_nodes_now_us();
        }
        srt_response r;
        assert_int_equal(srt_http_read_response(&pub, &r, WAIT_MS), 0);
        srt_check_status(&r, 200);
        srt_response_free(&r);
        if (i >= WARMUP) {
            local[i - WARMUP] = t_local - t0;
            remote[i - WARMUP] = t_remote - t0;
            answer[i - WARMUP] = t_answer - t0;
            hop[i - WARMUP] = t_remote - t_local;
        }
    }
    printf("Redis hop latency, %d sequential publishes on A (after %d warm-up), server %s:\n", N,
           WARMUP, srt_server_bin());
    print_stats("publish -> client on A", local, N);
    print_stats("publish -> client on B", remote, N);
    print_stats("B arrival - A arrival", hop, N);
    print_stats("publish -> HTTP answer", answer, N);
    free(local);
    free(remote);
    free(answer);
    free(hop);
    srt_conn_close(&pub);
    srt_sse_close(&on_a);
    srt_sse_close(&on_b);
    cluster_stop(2);
}

int main(void) {
    const char *measure = getenv("SR_MEASURE_HOP");
    if (measure && strcmp(measure, "1") == 0) {
        const struct CMUnitTest hop_only[] = {
            cmocka_unit_test_teardown(measure_hop, srt_nodes_teardown),
        };
        return cmocka_run_group_tests(hop_only, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cross_node_byte_exact, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_prefix_and_node_id_options, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_room_isolation, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_both_directions_at_once, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_concurrent_publishes, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_unsubscribe_stops_delivery, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_multi_room_dedup_across_nodes, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_twelve_rooms_once, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_twelve_rooms_once_history, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_echo_and_bad_envelopes, srt_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
