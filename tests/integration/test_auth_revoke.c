/* SPDX-License-Identifier: MIT */
/*
 * test_auth_revoke.c: streams that end on the server's initiative (issue
 * #17, point 2; src/server/revoke.c), against the real binary, HS256
 * tokens signed here (test_auth_tokens.c):
 *  - a stream opened with a token expiring in 2 s receives, then gets the
 *    --auth-expiry-event event {"reason":"expired"} and is closed; a
 *    stream with a long token stays; counted in /stats and /metrics;
 *  - POST /disconnect {"sub":"bob"} on node A ends bob's streams on node B
 *    (two nodes, one real redis-server) and leaves alice's; {"room":...}
 *    likewise; {"conn":ID} ends one stream of the answering node; refused
 *    without the admin key (401), with a bad body (400), and when no admin
 *    gate is configured (403).
 */
#include "srt_check.h"
#include "srt_nodes.h"
#include "srt_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_auth_tokens.h"

#define ADMIN "revoke-admin-key"
#define PUBKEY "revoke-publish-key"
#define WAIT_MS 10000

static srt_proc nodes[2];
static srt_redis *redis;

/* An HS256 token for sub with rooms ["*"], expiring exp_in seconds from now. */
static char *tok(const char *sub, long exp_in) {
    char payload[256];
    snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"exp\":%ld,\"rooms\":[\"*\"]}", sub,
             (long)time(NULL) + exp_in);
    return hs_token(payload);
}

static void open_as(srt_sse *s, int port, const char *room, const char *token) {
    char path[2048];
    snprintf(path, sizeof path, "/sse?room=%s&token=%s", room, token);
    srt_check_sse_open(s, port, path);
}

static int post_json(int port, const char *path, const char *key, const char *body, char **out) {
    char h[256];
    snprintf(h, sizeof h, "Authorization: Bearer %s", key ? key : "");
    const char *hdrs[] = {"Content-Type: application/json", key ? h : NULL, NULL};
    srt_response r;
    assert_int_equal(srt_http_request(port, "POST", path, hdrs, body, &r), 0);
    int status = r.status;
    if (out) *out = strdup(r.body ? r.body : "");
    srt_response_free(&r);
    return status;
}

static void publish(int port, const char *room, const char *data) {
    char body[256];
    snprintf(body, sizeof body, "{\"room\":\"%s\",\"data\":%s}", room, data);
    assert_int_equal(post_json(port, "/publish", PUBKEY, body, NULL), 200);
}

/* The stream's next event is the expiry event with this reason, then EOF. */
static void expect_ended(srt_sse *s, const char *event, const char *reason) {
    char want[256];
    snprintf(want, sizeof want, "event: %s\ndata: {\"reason\":\"%s\"}\n\n", event, reason);
    char *block = NULL;
    int rc = srt_sse_next_event(s, &block, NULL, WAIT_MS);
    if (rc != 0) fail_msg("no event before %s (rc %d)", reason, rc);
    if (strcmp(block, want) != 0) fail_msg("expected %s got %s", want, block);
    free(block);
    assert_int_equal(srt_sse_wait_eof(s, NULL, WAIT_MS), 0);
}

static void test_stream_ends_at_exp(void **state) {
    (void)state;
    srt_proc p;
    srt_http_set_admin_key(ADMIN);
    assert_int_equal(srt_server_start(&p, "--auth-alg", "HS256", "--auth-secret", hs_secret,
                                      "--auth-leeway-s", "0", "--admin-key", ADMIN, "--publish-key",
                                      PUBKEY, "--heartbeat-ms", "0", NULL),
                     0);
    char *short_tok = tok("shorty", 2), *long_tok = tok("longer", 600);
    srt_sse s, keep;
    open_as(&s, p.port, "a", short_tok);
    open_as(&keep, p.port, "a", long_tok);
    srt_check_room_members(p.port, "a", 2, SRT_TIMEOUT_MS);
    publish(p.port, "a", "1");
    assert_true(srt_sse_expect(&s, "data: 1\n\n", SRT_TIMEOUT_MS));
    assert_true(srt_sse_expect(&keep, "data: 1\n\n", SRT_TIMEOUT_MS));
    expect_ended(&s, "auth-expired", "expired");
    srt_check_room_members(p.port, "a", 1, SRT_TIMEOUT_MS);
    publish(p.port, "a", "2"); /* the long token's stream is still there */
    assert_true(srt_sse_expect(&keep, "data: 2\n\n", SRT_TIMEOUT_MS));
    srt_response r;
    assert_int_equal(srt_http_get(p.port, "/stats", &r), 0);
    assert_non_null(strstr(r.body, "\"streams_ended\":{\"expired\":1,\"disconnected\":0}"));
    srt_response_free(&r);
    assert_int_equal(srt_http_get(p.port, "/metrics", &r), 0);
    assert_non_null(strstr(r.body, "sserooms_auth_streams_ended_total{reason=\"expired\"} 1\n"));
    srt_response_free(&r);
    srt_sse_close(&s);
    srt_sse_close(&keep);
    srt_check_stop(&p);

    /* the event's name is --auth-expiry-event */
    assert_int_equal(srt_server_start(&p, "--auth-alg", "HS256", "--auth-secret", hs_secret,
                                      "--auth-leeway-s", "0", "--auth-expiry-event", "relogin",
                                      "--heartbeat-ms", "0", NULL),
                     0);
    free(short_tok);
    short_tok = tok("shorty", 1);
    open_as(&s, p.port, "a", short_tok);
    expect_ended(&s, "relogin", "expired");
    srt_sse_close(&s);
    srt_check_stop(&p);
    srt_http_set_admin_key(NULL);
    free(short_tok), free(long_tok);
}

static void test_disconnect_across_nodes(void **state) {
    (void)state;
    srt_http_set_admin_key(ADMIN);
    redis = srt_nodes_redis_start();
    const char *const extra[] = {
        "--auth-alg",    "HS256", "--auth-secret",  hs_secret, "--admin-key", ADMIN,
        "--publish-key", PUBKEY,  "--heartbeat-ms", "0",       NULL};
    srt_node_start(&nodes[0], srt_redis_url(redis), "node-a", extra);
    srt_node_start(&nodes[1], srt_redis_url(redis), "node-b", extra);
    int a = nodes[0].port, b = nodes[1].port;
    srt_node_wait_health(a, 200, WAIT_MS);
    srt_node_wait_health(b, 200, WAIT_MS);
    srt_nodes_wait_numsub(redis, "sse:room:#sserooms-control", 2, WAIT_MS);

    char *bob = tok("bob", 600), *alice = tok("alice", 600);
    srt_sse bob1, bob2, al;
    open_as(&bob1, b, "chat", bob);
    open_as(&bob2, b, "news", bob);
    open_as(&al, b, "chat", alice);
    srt_check_room_members(b, "chat", 2, SRT_TIMEOUT_MS);
    srt_check_room_members(b, "news", 1, SRT_TIMEOUT_MS);

    /* refusals: no key, a bad body */
    assert_int_equal(post_json(a, "/disconnect", NULL, "{\"sub\":\"bob\"}", NULL), 401);
    assert_int_equal(post_json(a, "/disconnect", "nope", "{\"sub\":\"bob\"}", NULL), 401);
    assert_int_equal(post_json(a, "/disconnect", ADMIN, "{\"sub\":\"bob\",\"room\":\"x\"}", NULL),
                     400);
    assert_int_equal(post_json(a, "/disconnect", ADMIN, "{\"sub\":5}", NULL), 400);
    assert_int_equal(post_json(a, "/disconnect", ADMIN, "[]", NULL), 400);

    char *answer = NULL;
    assert_int_equal(post_json(a, "/disconnect", ADMIN, "{\"sub\":\"bob\"}", &answer), 200);
    assert_string_equal(answer, "{\"disconnected\":0,\"cluster\":true}\n"); /* none on A */
    free(answer);
    expect_ended(&bob1, "auth-expired", "disconnected");
    expect_ended(&bob2, "auth-expired", "disconnected");
    srt_check_room_members(b, "chat", 1, SRT_TIMEOUT_MS);
    publish(b, "chat", "\"still here\"");
    assert_true(srt_sse_expect(&al, "data: \"still here\"\n\n", SRT_TIMEOUT_MS));

    /* by room, from A again */
    srt_sse in_x;
    open_as(&in_x, b, "x", alice);
    srt_check_room_members(b, "x", 1, SRT_TIMEOUT_MS);
    assert_int_equal(post_json(a, "/disconnect", ADMIN, "{\"room\":\"x\"}", NULL), 200);
    expect_ended(&in_x, "auth-expired", "disconnected");
    publish(b, "chat", "3");
    assert_true(srt_sse_expect(&al, "data: 3\n\n", SRT_TIMEOUT_MS));

    /* by connection id, on the node that holds it: B's only stream */
    srt_response r;
    assert_int_equal(srt_http_get(b, "/stats", &r), 0);
    assert_non_null(strstr(r.body, "\"disconnected\":3}"));
    srt_response_free(&r);
    char body[64];
    for (int id = 1; id < 64; id++) { /* ids are small counters; find alice's */
        snprintf(body, sizeof body, "{\"conn\":\"%d\"}", id);
        assert_int_equal(post_json(b, "/disconnect", ADMIN, body, &answer), 200);
        int hit = strstr(answer, "\"disconnected\":1") != NULL;
        free(answer);
        if (hit) break;
    }
    expect_ended(&al, "auth-expired", "disconnected");

    srt_sse_close(&bob1), srt_sse_close(&bob2), srt_sse_close(&al), srt_sse_close(&in_x);
    srt_check_stop(&nodes[0]);
    srt_check_stop(&nodes[1]);
    srt_nodes_redis_free(redis);
    redis = NULL;
    free(bob), free(alice);

    /* no admin gate at all: the route refuses rather than open to anyone */
    srt_http_set_admin_key(NULL);
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    assert_int_equal(post_json(p.port, "/disconnect", NULL, "{\"room\":\"a\"}", NULL), 403);
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_stream_ends_at_exp, srt_teardown_servers),
        cmocka_unit_test_teardown(test_disconnect_across_nodes, srt_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, auth_keys_setup, auth_keys_teardown);
}
