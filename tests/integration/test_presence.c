/* SPDX-License-Identifier: MIT */
/*
 * test_presence.c: GET /presence across nodes sharing one real redis-server
 * (issue #15): exact counts under churn (10,000 streams opened and closed at
 * random over 50 rooms on three nodes), a node killed with SIGKILL dropping
 * out of every count within its liveness TTL, counts right again after a
 * Redis restart that lost everything, the answers of a node without Redis,
 * users counted by JWT "sub" (once in users, per tab in connections) and
 * paged, join/leave events once per user and none for a reconnect within
 * the debounce, a killed node's users leaving, the 400s for a bad
 * room, limit or cursor, and GET /rooms?scope=cluster paging every room
 * with members on a live node (a room only on another node listed, and
 * gone with that node), and that a read is one Redis command once its
 * nodes are known (classic mode).
 *
 * Every check waits on state (a bounded poll of /presence), never a fixed
 * sleep: the nodes write their counts coalesced, a few ms after a change.
 */
#include "srt_cluster.h"
#include "srt_json.h"
#include "srt_nodes.h"
#include "srt_util.h"
#include "test_auth_tokens.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 15000
#define ROOMS 50
#define NODES 3

static srt_proc nodes[NODES];
static srt_redis *redis;
static srt_cluster *cluster; /* cluster-mode runs: a 3-master Redis Cluster */
static int cluster_mode;
static const char *const node_ids[NODES] = {"node-a", "node-b", "node-c"};

/* The backend of the running test: one redis-server, or in cluster mode a
 * 3-master cluster (presence keys spread over its slots by room). */
static void backend_start(void) {
    if (cluster_mode) {
        cluster = srt_cluster_start(3, 0);
        assert_non_null(cluster);
    } else {
        redis = srt_nodes_redis_start();
    }
}

static void backend_stop(void) {
    if (cluster) srt_cluster_free(cluster);
    cluster = NULL;
    if (redis) srt_nodes_redis_free(redis);
    redis = NULL;
}

static void node_start(int i, const char *const *extra) {
    if (cluster_mode)
        srt_cluster_node_start(&nodes[i], srt_cluster_seeds(cluster), node_ids[i], extra);
    else srt_node_start(&nodes[i], srt_redis_url(redis), node_ids[i], extra);
}

static int classic_setup(void **state) {
    (void)state;
    cluster_mode = 0;
    return 0;
}

static int cluster_setup(void **state) {
    (void)state;
    cluster_mode = 1;
    return 0;
}

/* srt_nodes_teardown kills the servers and frees the redis-servers a
 * failed test left; the cluster is ours. */
/* the admin key of the nodes started with auth on (/presence is then an
 * admin endpoint, #17) */
#define ADMIN_KEY "presence-test-admin-key-0123456789abcdef"

static int teardown(void **state) {
    srt_http_set_admin_key(NULL);
    int rc = srt_nodes_teardown(state);
    redis = NULL;
    if (cluster) srt_cluster_free(cluster);
    cluster = NULL;
    return rc;
}

/* GET /presence?room=<room> on port: the status; *conns and *n_nodes from a 200. */
static int presence(int port, const char *room, long long *conns, long long *n_nodes, char **body) {
    char path[256];
    snprintf(path, sizeof path, "/presence?room=%s", room);
    srt_response r;
    int rc = srt_http_get(port, path, &r);
    if (rc < 0) return -1;
    int status = r.status;
    if (status == 200) {
        assert_true(srt_json_valid(r.body, r.body_len));
        assert_true(srt_json_int(r.body, "connections", conns));
        assert_true(srt_json_int(r.body, "nodes", n_nodes));
    }
    if (body) *body = strdup(r.body ? r.body : "");
    srt_response_free(&r);
    return status;
}

/* Polls /presence on port until the room has `want` connections on `want_nodes`
 * nodes; fails with the last answer after timeout_ms. */
static void wait_presence(int port, const char *room, long long want, long long want_nodes,
                          int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    long long conns = -1, n = -1;
    int status = 0;
    do {
        status = presence(port, room, &conns, &n, NULL);
        if (status == 200 && conns == want && n == want_nodes) return;
        srt_sleep_ms(10);
    } while (srt_ms_left(deadline) > 0);
    fail_msg("presence of %s on port %d: status %d, connections %lld (want %lld), nodes %lld "
             "(want %lld)",
             room, port, status, conns, want, n, want_nodes);
}

/* Polls /rooms on port until `room` has `want` local members. */
static void wait_local(int port, const char *room, long long want, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    long long have = -1;
    do {
        srt_response r;
        if (srt_http_get(port, "/rooms", &r) >= 0 && r.status == 200) {
            have = srt_rooms_members(r.body, room);
            if (have < 0) have = 0;
        }
        srt_response_free(&r);
        if (have == want) return;
        srt_sleep_ms(10);
    } while (srt_ms_left(deadline) > 0);
    fail_msg("room %s on port %d: %lld local members, want %lld", room, port, have, want);
}

typedef struct open_stream {
    int fd;
    int node;
    int room;
} open_stream;

static void test_exact_under_churn(void **state) {
    (void)state;
    srt_raise_nofile(4096);
    backend_start();
    /* closed streams count against the per-address limit until their node
     * has read the EOF: no limit, so that no open is refused */
    const char *const extra[] = {"--max-connections-per-addr", "0", NULL};
    for (int i = 0; i < NODES; i++) node_start(i, extra);
    for (int i = 0; i < NODES; i++) srt_node_wait_health(nodes[i].port, 200, WAIT_MS);

    enum { TOTAL = 10000, MAX_OPEN = 400 };
    open_stream *open = calloc(MAX_OPEN, sizeof *open);
    size_t n_open = 0;
    long long expect[NODES][ROOMS] = {{0}};
    srand(15);
    for (int k = 0; k < TOTAL; k++) {
        /* close at random once many are open (and sometimes before) */
        while (n_open > 0 && (n_open >= MAX_OPEN || rand() % 3 == 0)) {
            size_t victim = (size_t)rand() % n_open;
            close(open[victim].fd);
            expect[open[victim].node][open[victim].room]--;
            open[victim] = open[--n_open];
        }
        int node = rand() % NODES, room = rand() % ROOMS;
        char path[64];
        snprintf(path, sizeof path, "/sse?room=p%d", room);
        int fd = srt_http_open_get(nodes[node].port, path, 0);
        assert_true(fd >= 0);
        open[n_open++] = (open_stream){fd, node, room};
        expect[node][room]++;
    }
    /* each node's local counts first (its streams are all accepted and
     * the closed ones gone), then the cluster-wide answer on every node */
    char room[16];
    for (int r = 0; r < ROOMS; r++) {
        snprintf(room, sizeof room, "p%d", r);
        long long sum = 0, with = 0;
        for (int i = 0; i < NODES; i++) {
            wait_local(nodes[i].port, room, expect[i][r], WAIT_MS);
            sum += expect[i][r];
            with += expect[i][r] > 0;
        }
        for (int i = 0; i < NODES; i++) wait_presence(nodes[i].port, room, sum, with, WAIT_MS);
    }
    /* and every stream closed: every room empty everywhere */
    for (size_t i = 0; i < n_open; i++) close(open[i].fd);
    free(open);
    for (int r = 0; r < ROOMS; r++) {
        snprintf(room, sizeof room, "p%d", r);
        for (int i = 0; i < NODES; i++) wait_presence(nodes[i].port, room, 0, 0, WAIT_MS);
    }
    for (int i = 0; i < NODES; i++) srt_check_stop(&nodes[i]);
    backend_stop();
}

static void open_n(srt_sse *s, size_t n, int port, const char *path) {
    for (size_t i = 0; i < n; i++) assert_int_equal(srt_sse_open(&s[i], port, path), 0);
}

static void close_n(srt_sse *s, size_t n) {
    for (size_t i = 0; i < n; i++) srt_sse_close(&s[i]);
}

static void test_killed_node_drops_out(void **state) {
    (void)state;
    backend_start();
    const char *const extra[] = {"--presence-ttl-ms", "1500", NULL};
    for (int i = 0; i < 2; i++) node_start(i, extra);
    for (int i = 0; i < 2; i++) srt_node_wait_health(nodes[i].port, 200, WAIT_MS);
    srt_sse a[5], b[3];
    open_n(a, 5, nodes[0].port, "/sse?room=lobby");
    open_n(b, 3, nodes[1].port, "/sse?room=lobby");
    wait_presence(nodes[0].port, "lobby", 8, 2, WAIT_MS);
    wait_presence(nodes[1].port, "lobby", 8, 2, WAIT_MS);
    /* GET /rooms?scope=cluster: this node's rooms with the cluster's counts */
    srt_response r;
    assert_int_equal(srt_http_get(nodes[0].port, "/rooms?scope=cluster", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body,
                        "{\"rooms\":[{\"name\":\"lobby\",\"members\":5,\"connections\":8,"
                        "\"users\":0,\"nodes\":2}],\"next_cursor\":null,\"scope\":\"cluster\"}\n");
    srt_response_free(&r);
    assert_int_equal(srt_http_get(nodes[0].port, "/rooms?scope=galaxy", &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "scope: give scope=cluster or scope=node"));
    srt_response_free(&r);

    assert_int_equal(srt_proc_signal(&nodes[0], SIGKILL), 0);
    srt_proc_wait(&nodes[0], 5000);
    int64_t killed = srt_now_ms();
    /* gone once its liveness key expired: within the TTL (1500 ms) plus
     * the poll; the bound here is generous for a loaded machine */
    wait_presence(nodes[1].port, "lobby", 3, 1, 1500 + 5000);
    long long waited = srt_now_ms() - killed;
    print_message("killed node gone from the count after %lld ms (ttl 1500)\n", waited);

    close_n(a, 5);
    close_n(b, 3);
    wait_presence(nodes[1].port, "lobby", 0, 0, WAIT_MS);
    srt_check_stop(&nodes[1]);
    backend_stop();
}

static void test_redis_restart(void **state) {
    (void)state;
    backend_start();
    for (int i = 0; i < 2; i++) node_start(i, NULL);
    for (int i = 0; i < 2; i++) srt_node_wait_health(nodes[i].port, 200, WAIT_MS);
    srt_sse a[4], b[2];
    open_n(a, 4, nodes[0].port, "/sse?room=x&room=y");
    open_n(b, 2, nodes[1].port, "/sse?room=y");
    wait_presence(nodes[1].port, "x", 4, 1, WAIT_MS);
    wait_presence(nodes[1].port, "y", 6, 2, WAIT_MS);

    /* no persistence: the restarted Redis has no key at all */
    assert_int_equal(srt_redis_kill9(redis), 0);
    assert_int_equal(srt_redis_restart(redis), 0);
    redisReply *keys = srt_redis_command(redis, "DBSIZE");
    assert_non_null(keys);
    freeReplyObject(keys);
    wait_presence(nodes[0].port, "x", 4, 1, WAIT_MS);
    wait_presence(nodes[0].port, "y", 6, 2, WAIT_MS);
    wait_presence(nodes[1].port, "y", 6, 2, WAIT_MS);
    /* and it keeps counting afterwards */
    srt_sse_close(&a[0]);
    wait_presence(nodes[1].port, "y", 5, 2, WAIT_MS);
    long long reasserts = 0;
    srt_response m;
    assert_int_equal(srt_http_get(nodes[0].port, "/metrics", &m), 0);
    const char *line = strstr(m.body, "\nsserooms_redis_presence_reasserts_total ");
    assert_non_null(line);
    reasserts = atoll(line + strlen("\nsserooms_redis_presence_reasserts_total "));
    srt_response_free(&m);
    assert_true(reasserts >= 1);

    close_n(a + 1, 3);
    close_n(b, 2);
    for (int i = 0; i < 2; i++) srt_check_stop(&nodes[i]);
    backend_stop();
}

/* Without Redis: the node's own count; bad input: 400 with the reason. */
static void test_single_node_and_bad_input(void **state) {
    (void)state;
    srt_proc *p = &nodes[0];
    assert_int_equal(srt_server_start(p, NULL), 0);
    srt_sse s[2];
    open_n(s, 2, p->port, "/sse?room=solo");
    wait_local(p->port, "solo", 2, WAIT_MS);
    char *body = NULL;
    long long conns = -1, n = -1;
    assert_int_equal(presence(p->port, "solo", &conns, &n, &body), 200);
    assert_string_equal(
        body, "{\"room\":\"solo\",\"connections\":2,\"users\":0,\"nodes\":1,\"scope\":\"node\"}\n");
    free(body);
    assert_int_equal(presence(p->port, "empty", &conns, &n, NULL), 200);
    assert_int_equal(conns, 0);
    srt_response rooms;
    assert_int_equal(srt_http_get(p->port, "/rooms?scope=cluster&limit=5", &rooms), 0);
    assert_int_equal(rooms.status, 200);
    assert_string_equal(rooms.body,
                        "{\"rooms\":[{\"name\":\"solo\",\"members\":2,\"connections\":2,"
                        "\"users\":0,\"nodes\":1}],\"next_cursor\":null,\"scope\":\"node\"}\n");
    srt_response_free(&rooms);

    static const struct {
        const char *path;
        const char *says;
    } bad[] = {
        {"/presence", "room: give one room"},
        {"/presence?room=", "room: give one room"},
        {"/presence?room=a%20b", "room: invalid name"},
        {"/presence?room=%7Bx%7D", "room: invalid name"},
        {"/presence?room=a&room=b", "room: give exactly one room"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        srt_response r;
        assert_int_equal(srt_http_get(p->port, bad[i].path, &r), 0);
        if (r.status != 400 || !strstr(r.body, bad[i].says))
            fail_msg("%s: %d %s", bad[i].path, r.status, r.body);
        srt_response_free(&r);
    }
    srt_response r;
    assert_int_equal(srt_http_request(p->port, "POST", "/presence?room=solo", NULL, "", &r), 0);
    assert_int_equal(r.status, 405);
    srt_response_free(&r);
    close_n(s, 2);
    srt_check_stop(p);
}

/* An HS256 token (the test secret) for sub (NULL: a token without "sub",
 * an anonymous stream), allowed in every room. */
static char *user_token(const char *sub) {
    char payload[256], subj[64] = "";
    long now = (long)time(NULL);
    if (sub) snprintf(subj, sizeof subj, "\"sub\":\"%s\",", sub);
    snprintf(payload, sizeof payload, "{%s\"iat\":%ld,\"exp\":%ld,\"rooms\":[\"*\"]}", subj,
             now - 5, now + 600);
    return hs_token(payload);
}

/* Waits until n subscribers listen on the events channel of room (the
 * nodes with streams in it, once their subscription is confirmed). */
static void wait_events_subscribed(const char *room, long long n) {
    char channel[128];
    snprintf(channel, sizeof channel, "sse:room:{%s}:presence:events", room);
    if (!cluster_mode) {
        srt_nodes_wait_numsub(redis, channel, n, WAIT_MS);
        return;
    }
    int64_t deadline = srt_now_ms() + WAIT_MS;
    long long have = 0;
    do {
        have = 0;
        for (size_t i = 0; i < srt_cluster_size(cluster); i++) {
            long long k = srt_cluster_shardnumsub(srt_cluster_node(cluster, i), channel);
            if (k > 0) have += k;
        }
        if (have == n) return;
        srt_sleep_ms(10);
    } while (srt_ms_left(deadline) > 0);
    fail_msg("%s: %lld subscribers, want %lld", channel, have, n);
}

static void open_as(srt_sse *s, int port, const char *room, const char *sub) {
    char *tok = user_token(sub);
    char path[1024];
    snprintf(path, sizeof path, "/sse?room=%s&token=%s", room, tok);
    free(tok);
    assert_int_equal(srt_sse_open(s, port, path), 0);
}

static void expect_presence_event(srt_sse *s, const char *what, const char *user) {
    char want[256];
    snprintf(want, sizeof want, "event: presence\ndata: {\"%s\":\"%s\"}\n\n", what, user);
    srt_node_expect_event(s, want);
}

/* GET path on port: 200 and the body (malloc'd). */
static char *get_ok(int port, const char *path) {
    srt_response r;
    assert_int_equal(srt_http_get(port, path, &r), 0);
    if (r.status != 200) fail_msg("%s: %d %s", path, r.status, r.body);
    char *body = strdup(r.body);
    srt_response_free(&r);
    return body;
}

static void test_users_and_events(void **state) {
    (void)state;
    backend_start();
    const char *const extra[] = {"--auth-alg",
                                 "HS256",
                                 "--auth-secret",
                                 hs_secret,
                                 "--presence-events",
                                 "--presence-debounce-ms",
                                 "1500",
                                 "--presence-ttl-ms",
                                 "1500",
                                 "--admin-key",
                                 ADMIN_KEY,
                                 NULL};
    /* with auth on, /presence is an admin endpoint (#17): the test's GETs
     * send the admin key */
    srt_http_set_admin_key(ADMIN_KEY);
    for (int i = 0; i < 2; i++) node_start(i, extra);
    for (int i = 0; i < 2; i++) srt_node_wait_health(nodes[i].port, 200, WAIT_MS);
    int A = nodes[0].port, B = nodes[1].port;

    srt_sse watcher, alice1, alice2, bob, carol;
    /* the watcher is anonymous (a token without "sub"): it gets the events
     * and makes none */
    open_as(&watcher, B, "chat", NULL);
    wait_events_subscribed("chat", 1);
    open_as(&alice1, A, "chat", "alice");
    expect_presence_event(&watcher, "joined", "alice");
    if (!cluster_mode) {
        /* malformed events on the room's events channel: dropped, counted as
         * bad_fields beside the one real event, and never shown to the
         * watcher (its next event below is bob's) */
        static const char *const junk[] = {"x:mallory", "j", "j-mallory"};
        for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
            assert_true(srt_redis_publish(redis, "sse:room:{chat}:presence:events", junk[i],
                                          strlen(junk[i])) >= 1);
        srt_node_wait_redis_stat(B, "dropped", "bad_fields", 3, WAIT_MS);
        assert_int_equal(srt_node_redis_stat(B, "dropped", "bad_fields"), 3);
        assert_int_equal(srt_node_redis_stat(B, NULL, "presence_events"), 1);
    }
    /* a second tab on the other node: counted, not announced */
    open_as(&alice2, B, "chat", "alice");
    wait_presence(A, "chat", 3, 2, WAIT_MS);
    char *body = get_ok(A, "/presence?room=chat");
    assert_non_null(strstr(body, "\"connections\":3,\"users\":1,\"nodes\":2"));
    free(body);
    body = get_ok(B, "/presence?room=chat&members=1");
    assert_non_null(strstr(body, "{\"user\":\"alice\",\"connections\":2}"));
    assert_null(strstr(body, "watcher"));
    assert_non_null(strstr(body, "\"next_cursor\":null"));
    free(body);

    /* both tabs gone, then back within the debounce: no event at all */
    srt_sse_close(&alice1);
    srt_sse_close(&alice2);
    wait_presence(A, "chat", 1, 1, WAIT_MS);
    open_as(&alice1, A, "chat", "alice");
    wait_presence(B, "chat", 2, 2, WAIT_MS);
    /* sentinel: bob joins and leaves; a leave of alice that was not
     * cancelled would have come due before bob's */
    open_as(&bob, A, "chat", "bob");
    expect_presence_event(&watcher, "joined", "bob");
    srt_sse_close(&bob);
    expect_presence_event(&watcher, "left", "bob");

    /* carol only on A; A is killed: after the TTL B reaps A's entries and
     * alice (whose only tab was on A) and carol leave */
    open_as(&carol, A, "chat", "carol");
    expect_presence_event(&watcher, "joined", "carol");
    wait_presence(B, "chat", 3, 2, WAIT_MS);
    assert_int_equal(srt_proc_signal(&nodes[0], SIGKILL), 0);
    srt_proc_wait(&nodes[0], 5000);
    const char *left[] = {"event: presence\ndata: {\"left\":\"alice\"}\n\n",
                          "event: presence\ndata: {\"left\":\"carol\"}\n\n"};
    srt_node_expect_events_any_order(&watcher, left, 2);
    body = get_ok(B, "/presence?room=chat");
    assert_non_null(strstr(body, "\"connections\":1,\"users\":0,\"nodes\":1"));
    free(body);

    /* bad paging input */
    static const struct {
        const char *path;
        const char *says;
    } bad[] = {
        {"/presence?room=chat&members=1&limit=0", "limit: give a number of users from 1 to 1000"},
        {"/presence?room=chat&members=1&limit=1001", "limit: give a number"},
        {"/presence?room=chat&members=1&limit=ten", "limit: give a number"},
        {"/presence?room=chat&members=1&cursor=abc", "cursor: give the next_cursor"},
        {"/presence?room=chat&members=1&cursor=123456789012345678901",
         "cursor: give the next_cursor"},
        {"/presence?room=chat&members=yes", "members: give members=1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        srt_response r;
        assert_int_equal(srt_http_get(B, bad[i].path, &r), 0);
        if (r.status != 400 || !strstr(r.body, bad[i].says))
            fail_msg("%s: %d %s", bad[i].path, r.status, r.body);
        srt_response_free(&r);
    }
    srt_sse_close(&alice1);
    srt_sse_close(&carol);
    srt_sse_close(&watcher);
    srt_check_stop(&nodes[1]);
    backend_stop();
}

/* Paging 250 users with limit 100: every user once, over several pages. */
static void test_members_paged(void **state) {
    (void)state;
    backend_start();
    const char *const extra[] = {"--auth-alg", "HS256", "--auth-secret", hs_secret, "--admin-key",
                                 ADMIN_KEY,    NULL};
    srt_http_set_admin_key(ADMIN_KEY); /* /presence is an admin endpoint with auth on */
    node_start(0, extra);
    srt_node_wait_health(nodes[0].port, 200, WAIT_MS);
    enum { USERS = 250 };
    srt_sse *s = calloc(USERS, sizeof *s);
    char sub[32];
    for (int i = 0; i < USERS; i++) {
        snprintf(sub, sizeof sub, "user%03d", i);
        open_as(&s[i], nodes[0].port, "big", sub);
    }
    wait_presence(nodes[0].port, "big", USERS, 1, WAIT_MS);
    int seen[USERS] = {0};
    char cursor[32] = "";
    int pages = 0;
    do {
        char path[128];
        snprintf(path, sizeof path, "/presence?room=big&members=1&limit=100%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        char *body = get_ok(nodes[0].port, path);
        assert_non_null(strstr(body, "\"users\":250"));
        for (const char *p = body; (p = strstr(p, "\"user\":\"user")); p += 10)
            seen[atoi(p + 12)]++;
        char *next = srt_json_string(body, "next_cursor");
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        free(next);
        free(body);
        pages++;
    } while (cursor[0] && pages < 100);
    assert_true(pages > 1);
    for (int i = 0; i < USERS; i++)
        if (seen[i] < 1) fail_msg("user%03d on no page", i);
    for (int i = 0; i < USERS; i++) srt_sse_close(&s[i]);
    free(s);
    srt_check_stop(&nodes[0]);
    backend_stop();
}

/* Every page of GET /rooms?scope=cluster&limit=<limit> on port, walked
 * by next_cursor: "<name>:<members>:<connections>:<nodes>" joined by ','
 * into out; each page holds at most `limit` rooms, all in name order.
 * False when a page was not a 200 (out then says why). */
static bool cluster_rooms(int port, int limit, char *out, size_t cap) {
    char cursor[600] = "", last[256] = "";
    size_t len = 0;
    out[0] = '\0';
    for (int pages = 0; pages < 1000; pages++) {
        char path[800];
        snprintf(path, sizeof path, "/rooms?scope=cluster&limit=%d%s%s", limit,
                 cursor[0] ? "&cursor=" : "", cursor);
        srt_response r = {0};
        if (srt_http_get(port, path, &r) < 0 || r.status != 200) {
            snprintf(out, cap, "%s: status %d %s", path, r.status, r.body ? r.body : "");
            srt_response_free(&r);
            return false;
        }
        assert_true(srt_json_valid(r.body, r.body_len));
        const char *rooms;
        size_t rlen, n = 0;
        assert_true(srt_json_member(r.body, r.body_len, "rooms", &rooms, &rlen));
        const char *e;
        size_t elen;
        for (; srt_json_array_elem(rooms, rlen, n, &e, &elen); n++) {
            char *one = strndup(e, elen);
            char *name = srt_json_string(one, "name");
            long long m = -1, conns = -1, k = -1;
            assert_non_null(name);
            assert_true(srt_json_int(one, "members", &m) &&
                        srt_json_int(one, "connections", &conns) && srt_json_int(one, "nodes", &k));
            if (strcmp(name, last) <= 0) fail_msg("%s after %s: not in name order", name, last);
            snprintf(last, sizeof last, "%s", name);
            len += (size_t)snprintf(out + len, cap - len, "%s%s:%lld:%lld:%lld", len ? "," : "",
                                    name, m, conns, k);
            assert_true(len < cap);
            free(name);
            free(one);
        }
        assert_true(n <= (size_t)limit);
        char *next = srt_json_string(r.body, "next_cursor");
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        free(next);
        srt_response_free(&r);
        if (!cursor[0]) return true;
    }
    fail_msg("GET /rooms?scope=cluster: no last page after 1000 pages");
    return false;
}

/* Polls cluster_rooms until it gives `want`. */
static void wait_cluster_rooms(int port, int limit, const char *want, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    char have[4096];
    do {
        if (cluster_rooms(port, limit, have, sizeof have) && strcmp(have, want) == 0) return;
        srt_sleep_ms(20);
    } while (srt_ms_left(deadline) > 0);
    fail_msg("rooms of the cluster on port %d (limit %d): %s, want %s", port, limit, have, want);
}

/* GET /rooms?scope=cluster lists the rooms with members on any live node,
 * paged: a room only on node B is listed by node A, and goes with B when
 * B is killed (within B's TTL, no sweeper). */
static void test_cluster_room_list(void **state) {
    (void)state;
    backend_start();
    const char *const extra[] = {"--presence-ttl-ms", "1500", NULL};
    for (int i = 0; i < 2; i++) node_start(i, extra);
    for (int i = 0; i < 2; i++) srt_node_wait_health(nodes[i].port, 200, WAIT_MS);
    srt_sse a[3], b[5];
    open_n(a, 2, nodes[0].port, "/sse?room=r1");
    open_n(a + 2, 1, nodes[0].port, "/sse?room=r3");
    open_n(b, 3, nodes[1].port, "/sse?room=only-b");
    open_n(b + 3, 1, nodes[1].port, "/sse?room=r2");
    open_n(b + 4, 1, nodes[1].port, "/sse?room=r3");
    /* name:members (this node's):connections:nodes */
    wait_cluster_rooms(nodes[0].port, 1, "only-b:0:3:1,r1:2:2:1,r2:0:1:1,r3:1:2:2", WAIT_MS);
    wait_cluster_rooms(nodes[0].port, 3, "only-b:0:3:1,r1:2:2:1,r2:0:1:1,r3:1:2:2", WAIT_MS);
    wait_cluster_rooms(nodes[1].port, 100, "only-b:3:3:1,r1:0:2:1,r2:1:1:1,r3:1:2:2", WAIT_MS);

    static const struct {
        const char *path;
        const char *says;
    } bad[] = {
        {"/rooms?scope=cluster&limit=0", "limit: give a number of rooms from 1 to 1000"},
        {"/rooms?scope=cluster&limit=1001", "limit: give a number of rooms from 1 to 1000"},
        {"/rooms?scope=cluster&limit=x", "limit: give a number of rooms from 1 to 1000"},
        {"/rooms?scope=cluster&cursor=zz", "cursor: give the next_cursor of the previous page"},
        {"/rooms?scope=cluster&cursor=723", "cursor: give the next_cursor of the previous page"},
        {"/rooms?scope=cluster&cursor=7b787d", "cursor: give the next_cursor of the previous page"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        srt_response r;
        assert_int_equal(srt_http_get(nodes[0].port, bad[i].path, &r), 0);
        if (r.status != 400 || !strstr(r.body, bad[i].says))
            fail_msg("%s: %d %s", bad[i].path, r.status, r.body);
        srt_response_free(&r);
    }

    assert_int_equal(srt_proc_signal(&nodes[1], SIGKILL), 0);
    srt_proc_wait(&nodes[1], 5000);
    int64_t killed = srt_now_ms();
    wait_cluster_rooms(nodes[0].port, 1, "r1:2:2:1,r3:1:1:1", 1500 + 5000);
    print_message("killed node's rooms gone from the list after %lld ms (ttl 1500)\n",
                  (long long)(srt_now_ms() - killed));
    close_n(a, 3);
    close_n(b, 5);
    wait_cluster_rooms(nodes[0].port, 2, "", WAIT_MS);
    srt_check_stop(&nodes[0]);
    backend_stop();
}

/* Redis's count of calls of `cmd` (INFO commandstats), 0 when never called. */
static long long redis_calls(const char *cmd) {
    redisReply *r = srt_redis_command(redis, "INFO commandstats");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    char want[64];
    snprintf(want, sizeof want, "cmdstat_%s:calls=", cmd);
    const char *at = strstr(r->str, want);
    long long n = at ? atoll(at + strlen(want)) : 0;
    freeReplyObject(r);
    return n;
}

/* A read of a room whose nodes the reader knows is one command in classic
 * mode: the script reads the liveness keys itself (no GET per node, and no
 * second round trip). */
static void test_read_one_command(void **state) {
    (void)state;
    backend_start();
    for (int i = 0; i < 2; i++) node_start(i, NULL);
    for (int i = 0; i < 2; i++) srt_node_wait_health(nodes[i].port, 200, WAIT_MS);
    srt_sse a[2], b[1];
    open_n(a, 2, nodes[0].port, "/sse?room=lobby");
    open_n(b, 1, nodes[1].port, "/sse?room=lobby");
    wait_presence(nodes[0].port, "lobby", 3, 2, WAIT_MS); /* node-b is known from here on */
    long long gets = redis_calls("get"), evals = redis_calls("eval");
    enum { READS = 20 };
    long long conns = -1, n = -1;
    for (int i = 0; i < READS; i++) {
        assert_int_equal(presence(nodes[0].port, "lobby", &conns, &n, NULL), 200);
        assert_int_equal(conns, 3);
        assert_int_equal(n, 2);
    }
    long long got = redis_calls("get") - gets, evaled = redis_calls("eval") - evals;
    print_message("%d reads: %lld GET, %lld EVAL\n", READS, got, evaled);
    assert_int_equal(got, 0);
    assert_true(evaled >= READS);
    close_n(a, 2);
    close_n(b, 1);
    for (int i = 0; i < 2; i++) srt_check_stop(&nodes[i]);
    backend_stop();
}

/* SR_PRESENCE_CLUSTER=1: only the cluster-mode group (registered as its
 * own ctest, test_presence_cluster). */
int main(void) {
    const struct CMUnitTest classic[] = {
        cmocka_unit_test_teardown(test_single_node_and_bad_input, teardown),
        cmocka_unit_test_setup_teardown(test_killed_node_drops_out, classic_setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_restart, classic_setup, teardown),
        cmocka_unit_test_setup_teardown(test_exact_under_churn, classic_setup, teardown),
        cmocka_unit_test_setup_teardown(test_users_and_events, classic_setup, teardown),
        cmocka_unit_test_setup_teardown(test_members_paged, classic_setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_room_list, classic_setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_one_command, classic_setup, teardown),
    };
    const struct CMUnitTest in_cluster[] = {
        cmocka_unit_test_setup_teardown(test_exact_under_churn, cluster_setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_node_drops_out, cluster_setup, teardown),
        cmocka_unit_test_setup_teardown(test_users_and_events, cluster_setup, teardown),
        cmocka_unit_test_setup_teardown(test_members_paged, cluster_setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_room_list, cluster_setup, teardown),
    };
    const char *mode = getenv("SR_PRESENCE_CLUSTER");
    if (mode && strcmp(mode, "1") == 0)
        return cmocka_run_group_tests_name("cluster", in_cluster, NULL, NULL);
    return cmocka_run_group_tests_name("classic", classic, NULL, NULL);
}
