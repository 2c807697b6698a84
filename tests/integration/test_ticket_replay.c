/* SPDX-License-Identifier: MIT */
/*
 * test_ticket_replay.c: signed tickets single-use on every node through
 * Redis (issue #17, docs/security.md "Tickets across nodes"), against two
 * real sserooms nodes sharing a real redis-server, HS256 tokens signed here
 * (test_auth_tokens.c):
 *  - a ticket of node A redeemed on A is refused 401 on B, and one first
 *    redeemed on B is refused on A (before, each node let it in once);
 *    the claim is one key <prefix>ticket:{...} in Redis whose PTTL is the
 *    ticket's TTL plus the clock-skew margin; the session cookie of the
 *    first redemption still lets the reconnect in on either node; the
 *    refusals are counted (/stats auth.tickets_replayed, /metrics);
 *  - the same on a 3-master Redis Cluster (--redis-cluster): the claim
 *    goes to the shard owning its key's slot, and a replay on the other
 *    node is refused;
 *  - with Redis down a ticket is refused 503 saying why (fails closed:
 *    nobody can tell whether another node redeemed it), counted as
 *    tickets_unchecked, while a reconnect with the session cookie still
 *    gets in; once Redis is back the same ticket opens its stream.
 */
#include "srt_check.h"
#include "srt_cluster.h"
#include "srt_json.h"
#include "srt_nodes.h"
#include "srt_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_auth_tokens.h"

#define ADMIN "replay-admin-key"
#define WAIT_MS 10000

static srt_proc nodes[2];

static void start_nodes(srt_redis *redis) {
    const char *const extra[] = {"--auth-alg", "HS256", "--auth-secret", hs_secret, "--admin-key",
                                 ADMIN,        NULL};
    srt_http_set_admin_key(ADMIN); /* /stats and /metrics are admin endpoints */
    srt_node_start(&nodes[0], srt_redis_url(redis), "node-a", extra);
    srt_node_start(&nodes[1], srt_redis_url(redis), "node-b", extra);
    for (int i = 0; i < 2; i++) srt_node_wait_health(nodes[i].port, 200, WAIT_MS);
}

/* POST /tickets on port for rooms ["a"] with alice's token: the ticket
 * (malloc'd). */
static char *ask_ticket(int port) {
    char *tok = hs_token("{\"sub\":\"alice\",\"exp\":9999999999,\"rooms\":[\"a\"]}");
    char h[4096];
    snprintf(h, sizeof h, "Authorization: Bearer %s", tok);
    const char *hdrs[] = {"Content-Type: application/json", h, NULL};
    srt_response r;
    assert_int_equal(srt_http_request(port, "POST", "/tickets", hdrs, "{\"rooms\":[\"a\"]}", &r),
                     0);
    if (r.status != 200) fail_msg("POST /tickets: %d %s", r.status, r.body);
    char *ticket = srt_json_string(r.body, "ticket");
    assert_non_null(ticket);
    srt_response_free(&r);
    free(tok);
    return ticket;
}

/* GET /sse?room=a&ticket=<ticket> on port, with a Cookie header when
 * cookie_hdr is not NULL: the status (200: a stream, closed again); on 200
 * the Set-Cookie value in *cookie (malloc'd) when cookie is not NULL; the
 * error body otherwise in *body when body is not NULL. */
static int redeem(int port, const char *ticket, const char *cookie_hdr, char **cookie,
                  char **body) {
    char path[2048];
    snprintf(path, sizeof path, "/sse?room=a&ticket=%s", ticket);
    srt_sse s;
    const char *hdrs[] = {cookie_hdr, NULL};
    int rc = srt_sse_open_ex(&s, port, path, cookie_hdr ? hdrs : NULL, NULL, WAIT_MS);
    assert_true(rc >= 0);
    if (cookie) {
        const char *sc = rc == 0 ? srt_response_header(&s.head, "Set-Cookie") : NULL;
        *cookie = sc ? strdup(sc) : NULL;
    }
    if (body) *body = strdup(rc != 0 && s.head.body ? s.head.body : "");
    srt_sse_close(&s);
    return rc == 0 ? 200 : rc;
}

static char *get_admin(int port, const char *path) {
    srt_response r;
    assert_int_equal(srt_http_get(port, path, &r), 0);
    srt_check_status(&r, 200);
    char *b = strdup(r.body);
    srt_response_free(&r);
    return b;
}

static void expect_in(int port, const char *path, const char *want) {
    char *b = get_admin(port, path);
    if (!strstr(b, want)) fail_msg("%s on port %d lacks %s: %s", path, port, want, b);
    free(b);
}

/* The claim keys in Redis (<prefix>ticket:*) and the PTTL of the first. */
static size_t claim_keys(srt_redis *redis, long long *pttl) {
    redisReply *r = srt_redis_command(redis, "KEYS sse:room:ticket:*");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    size_t n = r->elements;
    if (n && pttl) {
        redisReply *t = srt_redis_command(redis, "PTTL %s", r->element[0]->str);
        assert_non_null(t);
        *pttl = t->integer;
        assert_non_null(strchr(r->element[0]->str, '{')); /* hash tag: cluster mode too */
        freeReplyObject(t);
    }
    freeReplyObject(r);
    return n;
}

static void test_replay_refused_across_nodes(void **state) {
    (void)state;
    srt_redis *redis = srt_nodes_redis_start();
    start_nodes(redis);
    int A = nodes[0].port, B = nodes[1].port;

    /* issued and redeemed on A, replayed on B */
    char *ticket = ask_ticket(A);
    char *cookie = NULL, *body = NULL;
    assert_int_equal(redeem(A, ticket, NULL, &cookie, NULL), 200);
    assert_non_null(cookie);
    int status = redeem(B, ticket, NULL, NULL, &body);
    if (status != 401 || !strstr(body, "ticket refused: already used"))
        fail_msg("replay on node B: %d %s", status, body);
    free(body);
    long long pttl = 0;
    assert_int_equal(claim_keys(redis, &pttl), 1);
    /* the ticket's 30 s left plus 60 s for clocks running behind */
    if (pttl <= 60000 || pttl > 90000)
        fail_msg("claim PTTL %lld, want 60000 < PTTL <= 90000", pttl);
    /* the reconnect carries the session cookie: in on either node */
    char hdr[4096];
    snprintf(hdr, sizeof hdr, "Cookie: %.*s", (int)strcspn(cookie, ";"), cookie);
    assert_int_equal(redeem(B, ticket, hdr, NULL, NULL), 200);
    assert_int_equal(redeem(A, ticket, hdr, NULL, NULL), 200);
    free(ticket), free(cookie);

    /* issued on A, redeemed first on B: A's own store has not seen it used */
    ticket = ask_ticket(A);
    assert_int_equal(redeem(B, ticket, NULL, NULL, NULL), 200);
    status = redeem(A, ticket, NULL, NULL, &body);
    if (status != 401) fail_msg("replay on node A: %d %s", status, body);
    free(body);
    free(ticket);
    assert_int_equal(claim_keys(redis, NULL), 2);

    expect_in(B, "/stats", "\"tickets_replayed\":1,\"tickets_unchecked\":0");
    expect_in(A, "/stats", "\"tickets_replayed\":1,");
    expect_in(B, "/metrics", "\nsserooms_ticket_replays_total 1\n");
    expect_in(B, "/metrics", "\nsserooms_ticket_unchecked_total 0\n");
    for (int i = 0; i < 2; i++) srt_check_stop(&nodes[i]);
    srt_nodes_redis_free(redis);
}

static srt_cluster *cluster;

static void test_replay_refused_cluster(void **state) {
    (void)state;
    cluster = srt_cluster_start(3, 0);
    assert_non_null(cluster);
    const char *const extra[] = {"--auth-alg", "HS256", "--auth-secret", hs_secret, "--admin-key",
                                 ADMIN,        NULL};
    srt_http_set_admin_key(ADMIN);
    srt_cluster_node_start(&nodes[0], srt_cluster_seeds(cluster), "node-a", extra);
    srt_cluster_node_start(&nodes[1], srt_cluster_seeds(cluster), "node-b", extra);
    for (int i = 0; i < 2; i++) srt_node_wait_health(nodes[i].port, 200, WAIT_MS);
    int A = nodes[0].port, B = nodes[1].port;
    /* several tickets: their keys land on different shards */
    for (int i = 0; i < 6; i++) {
        char *ticket = ask_ticket(A), *body = NULL;
        int first = i % 2 ? B : A, other = i % 2 ? A : B;
        assert_int_equal(redeem(first, ticket, NULL, NULL, NULL), 200);
        int status = redeem(other, ticket, NULL, NULL, &body);
        if (status != 401 || !strstr(body, "ticket refused: already used"))
            fail_msg("cluster replay %d: %d %s", i, status, body);
        free(body);
        free(ticket);
    }
    expect_in(A, "/stats", "\"tickets_replayed\":3,\"tickets_unchecked\":0");
    expect_in(B, "/stats", "\"tickets_replayed\":3,\"tickets_unchecked\":0");
    for (int i = 0; i < 2; i++) srt_check_stop(&nodes[i]);
    srt_cluster_free(cluster);
    cluster = NULL;
}

static void test_redis_down_fails_closed(void **state) {
    (void)state;
    srt_redis *redis = srt_nodes_redis_start();
    start_nodes(redis);
    int A = nodes[0].port, B = nodes[1].port;
    char *first = ask_ticket(A), *cookie = NULL, *body = NULL;
    assert_int_equal(redeem(A, first, NULL, &cookie, NULL), 200);
    assert_non_null(cookie);
    char *second = ask_ticket(A); /* issuing needs no Redis, but ask while all is well */

    assert_int_equal(srt_redis_stop(redis), 0);
    srt_node_wait_health(B, 503, WAIT_MS);
    int status = redeem(B, second, NULL, NULL, &body);
    if (status != 503 || !strstr(body, "ticket not checked: ") ||
        !strstr(body, "cannot be proven unused"))
        fail_msg("ticket with Redis down: %d %s", status, body);
    free(body);
    expect_in(B, "/stats", "\"tickets_replayed\":0,\"tickets_unchecked\":1");
    expect_in(B, "/metrics", "\nsserooms_ticket_unchecked_total 1\n");
    /* a reconnect with the session cookie needs no Redis */
    char hdr[4096];
    snprintf(hdr, sizeof hdr, "Cookie: %.*s", (int)strcspn(cookie, ";"), cookie);
    assert_int_equal(redeem(B, first, hdr, NULL, NULL), 200);

    /* back: the ticket refused for want of an answer was never used */
    assert_int_equal(srt_redis_restart(redis), 0);
    srt_node_wait_health(B, 200, WAIT_MS);
    /* A reconnects on its own schedule: until it has, its claim is 503 */
    srt_node_wait_health(A, 200, WAIT_MS);
    assert_int_equal(redeem(B, second, NULL, NULL, NULL), 200);
    assert_int_equal(redeem(A, second, NULL, NULL, NULL), 401);
    free(first), free(second), free(cookie);
    for (int i = 0; i < 2; i++) srt_check_stop(&nodes[i]);
    srt_nodes_redis_free(redis);
}

static int teardown(void **state) {
    srt_http_set_admin_key(NULL);
    int rc = srt_nodes_teardown(state);
    if (cluster) srt_cluster_free(cluster);
    cluster = NULL;
    return rc;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_replay_refused_across_nodes, teardown),
        cmocka_unit_test_teardown(test_replay_refused_cluster, teardown),
        cmocka_unit_test_teardown(test_redis_down_fails_closed, teardown),
    };
    return cmocka_run_group_tests(tests, auth_keys_setup, auth_keys_teardown);
}
