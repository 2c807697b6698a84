/* SPDX-License-Identifier: MIT */
/*
 * test_redis_churn.c: subscriptions stay exact under churn. Two sserooms
 * nodes on one redis-server; clients open and close streams on random rooms
 * of either node, 400 slots (about 200 streams live at any time) over 50
 * rooms, 10,000 opens + closes in all. Half the opens wait for the response
 * head, half do not (the stream may be closed before the node even read the
 * request), so joins and leaves land while SUBSCRIBE / UNSUBSCRIBE commands
 * are in flight. Once the nodes have caught up, Redis's PUBSUB CHANNELS must
 * list exactly the rooms with members on A or B, NUMSUB of each channel must
 * be the number of nodes with members there, and a publish to every room
 * must reach exactly the rooms B holds.
 *
 * The random sequence is printed as a seed; SR_SEED=<n> replays it.
 */
#include "srt_nodes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000

enum { SLOTS = 400, ROOMS = 50, OPS = 10000, MAX_ROOMS_PER_STREAM = 3 };

typedef struct slot {
    srt_conn conn;
    bool open;
    bool head_read;
    int node; /* 0: A, 1: B */
    int n_rooms;
    int rooms[MAX_ROOMS_PER_STREAM];
} slot;

static srt_proc nodes[2];
static srt_redis *redis;
static slot slots[SLOTS];

static void close_all_slots(void) {
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].open) srt_conn_close(&slots[i].conn);
        slots[i].open = false;
    }
}

static int teardown(void **state) {
    close_all_slots();
    return srt_nodes_teardown(state);
}

static void read_head(slot *s) {
    srt_response r;
    int rc = srt_http_read_head(&s->conn, &r, WAIT_MS);
    if (rc != 0) {
        srt_response_free(&r);
        fail_msg("stream on node %c: no response head (%d)", 'A' + s->node, rc);
    }
    srt_check_status(&r, 200);
    srt_response_free(&r);
    s->head_read = true;
}

/* Opens a stream on a random node in 1..3 random rooms of r0..r<span-1>. */
static void open_slot(slot *s, int span, unsigned *seed) {
    s->node = (int)(rand_r(seed) % 2);
    s->n_rooms = rand_r(seed) % 8 == 0 ? 2 + (int)(rand_r(seed) % (MAX_ROOMS_PER_STREAM - 1)) : 1;
    char path[128] = "/sse?";
    size_t len = strlen(path);
    for (int k = 0; k < s->n_rooms; k++) {
        int room;
        bool dup;
        do { /* distinct rooms, so the bookkeeping matches the server's */
            room = (int)(rand_r(seed) % (unsigned)span);
            dup = false;
            for (int j = 0; j < k; j++) dup |= s->rooms[j] == room;
        } while (dup);
        s->rooms[k] = room;
        len += (size_t)snprintf(path + len, sizeof path - len, "%sroom=r%d", k ? "&" : "", room);
    }
    int port = nodes[s->node].port;
    int rc = srt_conn_open(&s->conn, port, WAIT_MS);
    if (rc == 0) rc = srt_http_send_request(&s->conn, "GET", path, NULL, NULL, 0, WAIT_MS);
    if (rc != 0) fail_msg("opening %s on node %c: %s", path, 'A' + s->node, strerror(-rc));
    s->open = true;
    s->head_read = false;
    if (rand_r(seed) % 2) read_head(s);
}

/* members[node][room] according to the slots that are open. */
static void expected_members(long long members[2][ROOMS]) {
    memset(members, 0, sizeof(long long) * 2 * ROOMS);
    for (int i = 0; i < SLOTS; i++) {
        if (!slots[i].open) continue;
        for (int k = 0; k < slots[i].n_rooms; k++) members[slots[i].node][slots[i].rooms[k]]++;
    }
}

/* True when node's /rooms lists exactly the expected rooms and counts;
 * describes the first difference in `why`. */
static bool rooms_match(int node, long long members[2][ROOMS], char *why, size_t cap) {
    char **names;
    long long *counts;
    size_t n = srt_node_rooms(nodes[node].port, &names, &counts);
    long long seen[ROOMS] = {0};
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        int room = -1;
        if (sscanf(names[i], "r%d", &room) != 1 || room < 0 || room >= ROOMS) {
            snprintf(why, cap, "node %c lists unknown room %s", 'A' + node, names[i]);
            ok = false;
        } else {
            seen[room] = counts[i];
        }
    }
    for (int room = 0; room < ROOMS && ok; room++) {
        if (seen[room] != members[node][room]) {
            snprintf(why, cap, "node %c room r%d: %lld members listed, %lld expected", 'A' + node,
                     room, seen[room], members[node][room]);
            ok = false;
        }
    }
    srt_redis_free_strings(names, n);
    free(counts);
    return ok;
}

/* True when PUBSUB CHANNELS sse:room:* is exactly the rooms with members on
 * a node, and each channel's NUMSUB is the number of such nodes. */
static bool channels_match(long long members[2][ROOMS], char *why, size_t cap) {
    size_t n;
    char **channels = srt_redis_channels(redis, "sse:room:*", &n);
    bool listed[ROOMS] = {false};
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        int room = -1;
        if (sscanf(channels[i], "sse:room:r%d", &room) != 1 || room < 0 || room >= ROOMS) {
            snprintf(why, cap, "unexpected channel %s", channels[i]);
            ok = false;
        } else {
            listed[room] = true;
        }
    }
    srt_redis_free_strings(channels, n);
    for (int room = 0; room < ROOMS && ok; room++) {
        long long nodes_with = (members[0][room] > 0) + (members[1][room] > 0);
        if (listed[room] != (nodes_with > 0)) {
            snprintf(why, cap, "channel sse:room:r%d %s listed, but %lld nodes have members", room,
                     listed[room] ? "is" : "is not", nodes_with);
            ok = false;
            break;
        }
        char channel[32];
        snprintf(channel, sizeof channel, "sse:room:r%d", room);
        long long numsub = srt_nodes_numsub(redis, channel);
        if (numsub != nodes_with) {
            snprintf(why, cap, "NUMSUB %s is %lld, %lld nodes have members", channel, numsub,
                     nodes_with);
            ok = false;
        }
    }
    return ok;
}

/* Polls until both nodes' /rooms and Redis agree with the slots. */
static void wait_settled(long long members[2][ROOMS], const char *when) {
    int64_t start = srt_now_ms(), deadline = start + WAIT_MS;
    char why[256] = "";
    for (;;) {
        if (rooms_match(0, members, why, sizeof why) && rooms_match(1, members, why, sizeof why) &&
            channels_match(members, why, sizeof why))
            break;
        if (srt_now_ms() >= deadline)
            fail_msg("%s: not settled after %d ms: %s", when, WAIT_MS, why);
        srt_sleep_ms(20);
    }
    printf("  %s: settled in %lld ms\n", when, (long long)(srt_now_ms() - start));
}

static long long rooms_on(long long members[2][ROOMS], int node) {
    long long n = 0;
    for (int room = 0; room < ROOMS; room++) n += members[node][room] > 0;
    return n;
}

/* Random opens and closes among the first n_slots slots, in rooms
 * r0..r<span-1>, until `ops` were made; *live tracks the open streams. */
static int churn(int n_slots, int span, int ops, int *live, unsigned *seed) {
    int opens = 0, closes = 0, max_live = *live;
    int64_t t0 = srt_now_ms();
    while (opens + closes < ops) {
        slot *s = &slots[rand_r(seed) % (unsigned)n_slots];
        if (s->open) {
            srt_conn_close(&s->conn);
            s->open = false;
            closes++;
            (*live)--;
        } else {
            open_slot(s, span, seed);
            opens++;
            if (++*live > max_live) max_live = *live;
        }
    }
    printf("  %d slots over %d rooms: %d opens + %d closes in %lld ms, %d streams live at the "
           "end (at most %d)\n",
           n_slots, span, opens, closes, (long long)(srt_now_ms() - t0), *live, max_live);
    return opens + closes;
}

/* calls=N of one command in INFO commandstats (-1 when absent). */
static long long command_calls(const char *command) {
    redisReply *rep = srt_redis_command(redis, "INFO commandstats");
    long long calls = -1;
    char key[64];
    snprintf(key, sizeof key, "cmdstat_%s:calls=", command);
    const char *p = rep && rep->type == REDIS_REPLY_STRING ? strstr(rep->str, key) : NULL;
    if (p) calls = strtoll(p + strlen(key), NULL, 10);
    if (rep) freeReplyObject(rep);
    return calls;
}

static void test_random_join_leave(void **state) {
    (void)state;
    srt_raise_nofile(4096);
    const char *seed_env = getenv("SR_SEED");
    unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10)
                             : (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("  seed %u (SR_SEED=%u replays it)\n", seed, seed);
    redis = srt_nodes_redis_start();
    srt_node_start(&nodes[0], srt_redis_url(redis), "churn-a", NULL);
    srt_node_start(&nodes[1], srt_redis_url(redis), "churn-b", NULL);
    srt_node_wait_health(nodes[0].port, 200, WAIT_MS);
    srt_node_wait_health(nodes[1].port, 200, WAIT_MS);

    int live = 0;
    int ops = churn(SLOTS, ROOMS, OPS, &live, &seed);
    assert_true(ops >= OPS);
    assert_true(live >= 100);
    /* the churn reached Redis: rooms kept gaining and losing their last
     * member on a node (each command may carry several channels) */
    long long subscribes = command_calls("subscribe"), unsubscribes = command_calls("unsubscribe");
    printf("  SUBSCRIBE commands %lld, UNSUBSCRIBE commands %lld so far\n", subscribes,
           unsubscribes);
    assert_true(subscribes >= 100 && unsubscribes >= 100);

    /* every stream still open was accepted */
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].open && !slots[i].head_read) read_head(&slots[i]);

    long long members[2][ROOMS];
    expected_members(members);
    wait_settled(members, "after churn");
    long long rooms_a = rooms_on(members, 0), rooms_b = rooms_on(members, 1);
    printf("  rooms with members: A %lld, B %lld (of %d)\n", rooms_a, rooms_b, ROOMS);
    assert_true(rooms_a > 0 && rooms_b > 0);
    for (int node = 0; node < 2; node++) {
        int64_t deadline = srt_now_ms() + WAIT_MS;
        long long want = node ? rooms_b : rooms_a, got;
        while ((got = srt_node_redis_stat(nodes[node].port, NULL, "subscribed")) != want &&
               srt_now_ms() < deadline)
            srt_sleep_ms(10);
        if (got != want)
            fail_msg("node %c: redis.subscribed %lld, %lld rooms have members", 'A' + node, got,
                     want);
    }

    /* then a few hot rooms that keep losing their last member on a node:
     * most joins and leaves now race an in-flight (UN)SUBSCRIBE */
    ops = churn(8, 3, 4000, &live, &seed);
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].open && !slots[i].head_read) read_head(&slots[i]);
    expected_members(members);
    wait_settled(members, "after hot-room churn");
    rooms_a = rooms_on(members, 0);
    rooms_b = rooms_on(members, 1);
    printf("  SUBSCRIBE commands %lld, UNSUBSCRIBE commands %lld in all\n",
           command_calls("subscribe"), command_calls("unsubscribe"));

    /* the subscriptions are in effect: a publish on A to all 50 rooms reaches
     * B once per room B holds, and nowhere else */
    long long received = srt_node_redis_stat(nodes[1].port, NULL, "received");
    char body[1024];
    size_t len = (size_t)snprintf(body, sizeof body, "{\"rooms\":[");
    for (int room = 0; room < ROOMS; room++)
        len += (size_t)snprintf(body + len, sizeof body - len, "%s\"r%d\"", room ? "," : "", room);
    snprintf(body + len, sizeof body - len, "],\"data\":\"all\"}");
    long long streams_a = 0;
    for (int i = 0; i < SLOTS; i++) streams_a += slots[i].open && slots[i].node == 0;
    srt_check_publish_delivered(nodes[0].port, body, streams_a);
    /* then a marker to one room B holds: Redis passes A's publishes on to
     * B's subscription in order, so once the marker is in, any extra copy
     * of the first publish would be too */
    assert_true(rooms_b > 0);
    int marker_room = 0;
    while (members[1][marker_room] == 0) marker_room++;
    snprintf(body, sizeof body, "{\"room\":\"r%d\",\"data\":\"marker\"}", marker_room);
    srt_check_publish_delivered(nodes[0].port, body, members[0][marker_room]);
    srt_node_wait_redis_stat(nodes[1].port, NULL, "received", received + rooms_b + 1, WAIT_MS);
    assert_int_equal(srt_node_redis_stat(nodes[1].port, NULL, "received"), received + rooms_b + 1);

    /* everyone leaves: no channel is left behind */
    close_all_slots();
    expected_members(members);
    wait_settled(members, "after closing all");
    size_t n;
    char **left = srt_redis_channels(redis, "sse:room:*", &n);
    srt_redis_free_strings(left, n);
    assert_int_equal(n, 0);

    srt_check_stop(&nodes[0]);
    srt_check_stop(&nodes[1]);
    srt_nodes_redis_free(redis);
    redis = NULL;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_random_join_leave, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
