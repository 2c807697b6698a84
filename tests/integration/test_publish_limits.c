/* SPDX-License-Identifier: MIT */
/*
 * test_publish_limits.c: what POST /publish promises about other nodes,
 * on two real sserooms nodes sharing a real redis-server (issue #18,
 * findings 2 and 5):
 *
 * 1. No silent loss: the review's amplification reproduction, scaled down.
 *    Redis is paused (SIGSTOP) while node A gets four publishes to 200 rooms
 *    of 200 KiB each (~160 MB of PUBLISH), with the publish budget off, more
 *    than the publisher connection's 64 MiB output cap; legitimate
 *    publishes follow. Once Redis runs again, every publish answered 200
 *    must have reached the client on node B; the others must say so (503
 *    with the reason). With back-pressure they wait in line instead.
 *    With Redis paused, pipelined answers keep the order of requests (the
 *    publishes hold their places, the others do not wait), and a stream
 *    opened on the same connection starts after them.
 * 2. The publish budget: rooms x message bytes over --max-publish-bytes is
 *    refused with 413 naming the figures, counted, nothing published; the
 *    same publish with "local":true is not sent anywhere and passes.
 * 3. Redis down: a publish answers 503 with the reason (its local streams
 *    still got it), or 202 {"queued":true} when --redis-outbox holds it,
 *    and the queued message reaches node B once Redis is back.
 * 4. One nesting limit: data nested 998 deep (the deepest that still fits
 *    the Redis reader's 1000 inside the 2-level envelope) is delivered on
 *    node B byte for byte; 999 deep is refused at publish with a 400 that
 *    says why, on every path (local too), and nothing reaches B.
 */
#include "srt_nodes.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 20000

static srt_proc nodes[2];
static srt_redis *redis;

#define PORT_A (nodes[0].port)
#define PORT_B (nodes[1].port)

static void start_pair(const char *const *extra_a) {
    redis = srt_nodes_redis_start();
    srt_node_start(&nodes[0], srt_redis_url(redis), "limits-a", extra_a);
    srt_node_start(&nodes[1], srt_redis_url(redis), "limits-b", NULL);
    srt_node_wait_health(PORT_A, 200, WAIT_MS);
    srt_node_wait_health(PORT_B, 200, WAIT_MS);
}

static void stop_pair(void) {
    srt_check_stop(&nodes[0]);
    srt_check_stop(&nodes[1]);
    srt_nodes_redis_free(redis);
    redis = NULL;
}

/* Waits until the node has read every byte sent on c (it holds requests
 * behind one that waits for Redis): the receive queue of its end is empty. */
static void wait_node_read_all(const srt_conn *c) {
    int64_t deadline = srt_now_ms() + WAIT_MS;
    long unread;
    while ((unread = srt_conn_unread_by_peer(c)) != 0) {
        if (unread < 0) fail_msg("the node's end of the connection is not in /proc/net/tcp");
        if (srt_now_ms() > deadline)
            fail_msg("the node left %ld of %zu bytes unread", unread, c->sent);
        srt_sleep_ms(5);
    }
}

static void send_publish(srt_conn *c, const char *json, size_t len) {
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    int rc = srt_http_send_request(c, "POST", "/publish", headers, json, len, WAIT_MS);
    if (rc != 0) fail_msg("sending a publish failed: %s", strerror(-rc));
}

/* {"rooms":["big0",...,"big<n-1>"],"data":"<pad x's>"} */
static char *amplified_body(int n_rooms, size_t pad, size_t *len) {
    srt_buf b = {0};
    srt_buf_appendf(&b, "%s", "{\"rooms\":[");
    for (int i = 0; i < n_rooms; i++) srt_buf_appendf(&b, "%s\"big%d\"", i ? "," : "", i);
    srt_buf_appendf(&b, "%s", "],\"data\":\"");
    char *xs = malloc(pad);
    assert_non_null(xs);
    memset(xs, 'x', pad);
    srt_buf_append(&b, xs, pad);
    free(xs);
    srt_buf_appendf(&b, "%s", "\"}");
    *len = b.len;
    return b.data;
}

/* The integer member `key` of the object member `obj` of /stats. */
static long long stats_nested(int port, const char *obj, const char *key) {
    srt_response r;
    assert_int_equal(srt_http_get(port, "/stats", &r), 0);
    const char *val;
    size_t vlen;
    if (!srt_json_member(r.body, strlen(r.body), obj, &val, &vlen))
        fail_msg("/stats has no \"%s\": %s", obj, r.body);
    char *sub = strndup(val, vlen);
    long long v = -1;
    if (!srt_json_int(sub, key, &v)) fail_msg("/stats \"%s\" has no \"%s\"", obj, key);
    free(sub);
    srt_response_free(&r);
    return v;
}

/* ---- 1. no silent loss ------------------------------------------------------ */

enum { LEGIT = 20, FLOODS = 4 };

static void test_no_silent_loss(void **state) {
    (void)state;
    static const char *const no_budget[] = {"--max-publish-bytes", "0", NULL};
    start_pair(no_budget);
    srt_sse on_b;
    srt_check_sse_open(&on_b, PORT_B, "/sse?room=legit");
    srt_nodes_wait_numsub(redis, "sse:room:legit", 1, WAIT_MS);

    size_t flood_len;
    char *flood = amplified_body(200, 200 * 1024, &flood_len); /* ~40 MB of PUBLISH each */
    assert_int_equal(kill(srt_redis_pid(redis), SIGSTOP), 0);
    srt_conn floods[FLOODS], legit[LEGIT];
    long long handled = srt_check_stat(PORT_A, "requests_total");
    for (int i = 0; i < FLOODS; i++) {
        assert_int_equal(srt_conn_open(&floods[i], PORT_A, WAIT_MS), 0);
        send_publish(&floods[i], flood, flood_len);
    }
    /* the floods were handled (~160 MB of PUBLISH, over the publisher
     * connection's 64 MiB cap) before the legitimate publishes come */
    int64_t deadline = srt_now_ms() + WAIT_MS;
    while (srt_check_stat(PORT_A, "requests_total") < handled + 1 + FLOODS) {
        if (srt_now_ms() > deadline) fail_msg("node A did not handle the floods");
        srt_sleep_ms(10);
    }
    for (int i = 0; i < LEGIT; i++) {
        char json[96];
        int n = snprintf(json, sizeof json, "{\"room\":\"legit\",\"data\":%d,\"id\":\"%d\"}", i, i);
        assert_int_equal(srt_conn_open(&legit[i], PORT_A, WAIT_MS), 0);
        send_publish(&legit[i], json, (size_t)n);
    }
    /* every request is read while Redis is still stopped */
    for (int i = 0; i < LEGIT; i++) wait_node_read_all(&legit[i]);
    assert_int_equal(kill(srt_redis_pid(redis), SIGCONT), 0);

    int ok[LEGIT] = {0}, n_ok = 0, n_refused = 0;
    for (int i = 0; i < LEGIT; i++) {
        srt_response r;
        int rc = srt_http_read_response(&legit[i], &r, WAIT_MS);
        if (rc != 0) fail_msg("publish %d: no answer (%d)", i, rc);
        if (r.status == 200) {
            ok[i] = 1;
            n_ok++;
        } else {
            /* a failure is said: 503 with the reason, never a 200 */
            srt_check_json_error(&r, 503, "not published to other nodes");
            n_refused++;
        }
        srt_response_free(&r);
        srt_conn_close(&legit[i]);
    }
    for (int i = 0; i < FLOODS; i++) {
        srt_response r;
        if (srt_http_read_response(&floods[i], &r, WAIT_MS) == 0) srt_response_free(&r);
        srt_conn_close(&floods[i]);
    }
    printf("  legitimate publishes: %d answered 200, %d refused\n", n_ok, n_refused);
    /* every publish answered 200 reached node B: a sentinel published after
     * them all (same node, same Redis connection) comes last; it is sent
     * again until one arrives, in case the output was still full for it */
    int got[LEGIT] = {0}, end = 0;
    for (int tries = 0; tries < 20 && !end; tries++) {
        srt_response r;
        assert_int_equal(srt_http_publish(PORT_A,
                                          "{\"room\":\"legit\",\"data\":\"end\",\"id\":\"end\"}",
                                          &r),
                         0);
        srt_response_free(&r);
        char *ev;
        while (!end && srt_sse_next_event(&on_b, &ev, NULL, 1000) == 0) {
            int seq = -1;
            if (strstr(ev, "id: end\n")) end = 1;
            else if (sscanf(ev, "id: %d\n", &seq) == 1 && seq >= 0 && seq < LEGIT) got[seq] = 1;
            free(ev);
        }
    }
    assert_true(end);
    for (int i = 0; i < LEGIT; i++)
        if (ok[i] && !got[i]) fail_msg("publish %d was answered 200 but never reached node B", i);
    /* back-pressure: the floods waited in line instead of overflowing */
    assert_int_equal(srt_node_redis_stat(PORT_A, NULL, "publish_failures"), 0);
    assert_int_equal(n_ok, LEGIT);
    free(flood);
    srt_sse_close(&on_b);
    stop_pair();
}

/* Answers held in place keep the order of pipelined requests while Redis
 * is paused (publishes, an error, /healthz), and a stream opened on the same
 * connection starts after them, then gets what is published to it. */
static void test_pipelined_answers_in_order(void **state) {
    (void)state;
    start_pair(NULL);
    srt_conn c;
    assert_int_equal(srt_conn_open(&c, PORT_A, WAIT_MS), 0);
    assert_int_equal(kill(srt_redis_pid(redis), SIGSTOP), 0);
    enum { N = 40 };
    for (int i = 0; i < N; i++) {
        char json[96];
        int n = snprintf(json, sizeof json, "{\"room\":\"p%d\",\"data\":%d}", i % 3, i);
        if (i % 10 == 4) send_publish(&c, "{\"room\":\"bad room\",\"data\":1}", 28);
        else if (i % 10 == 7) srt_http_send_request(&c, "GET", "/healthz", NULL, NULL, 0, WAIT_MS);
        else send_publish(&c, json, (size_t)n);
    }
    srt_http_send_request(&c, "GET", "/sse?room=after", NULL, NULL, 0, WAIT_MS);
    wait_node_read_all(&c); /* all of it read while Redis is stopped */
    assert_int_equal(kill(srt_redis_pid(redis), SIGCONT), 0);
    for (int i = 0; i < N; i++) {
        srt_response r;
        assert_int_equal(srt_http_read_response(&c, &r, WAIT_MS), 0);
        if (i % 10 == 4) srt_check_json_error(&r, 400, "room");
        else if (i % 10 == 7) assert_non_null(strstr(r.body, "\"status\":\"ok\""));
        else assert_string_equal(r.body, "{\"delivered\":0}\n");
        srt_response_free(&r);
    }
    srt_response head;
    assert_int_equal(srt_http_read_head(&c, &head, WAIT_MS), 0);
    srt_check_status(&head, 200);
    assert_string_equal(srt_response_header(&head, "Content-Type"), "text/event-stream");
    srt_response_free(&head);
    srt_check_room_members(PORT_A, "after", 1, WAIT_MS);
    srt_conn_close(&c);
    assert_int_equal(srt_node_redis_stat(PORT_A, NULL, "published"), N - N / 10 * 2);
    stop_pair();
}

/* ---- 2. the publish budget -------------------------------------------------- */

static void test_publish_budget(void **state) {
    (void)state;
    start_pair(NULL);
    size_t len;
    /* 100 rooms x 200 KiB = 20 MiB: over the 16 MiB default */
    char *body = amplified_body(100, 200 * 1024, &len);
    srt_response r;
    srt_conn c;
    assert_int_equal(srt_conn_open(&c, PORT_A, WAIT_MS), 0);
    send_publish(&c, body, len);
    assert_int_equal(srt_http_read_response(&c, &r, WAIT_MS), 0);
    srt_check_json_error(&r, 413, "publish too large: 100 rooms x");
    assert_non_null(strstr(r.body, "max-publish-bytes"));
    srt_response_free(&r);
    srt_conn_close(&c);
    assert_int_equal(stats_nested(PORT_A, "refused", "publish_bytes"), 1);
    assert_int_equal(srt_node_redis_stat(PORT_A, NULL, "published"), 0);
    /* 60 rooms x 200 KiB fits */
    free(body);
    body = amplified_body(60, 200 * 1024, &len);
    assert_int_equal(srt_conn_open(&c, PORT_A, WAIT_MS), 0);
    send_publish(&c, body, len);
    assert_int_equal(srt_http_read_response(&c, &r, WAIT_MS), 0);
    srt_check_status(&r, 200);
    srt_response_free(&r);
    srt_conn_close(&c);
    assert_int_equal(srt_node_redis_stat(PORT_A, NULL, "published"), 60);
    free(body);
    stop_pair();
}

/* ---- 3. Redis down ---------------------------------------------------------- */

static void test_redis_down_says_so(void **state) {
    (void)state;
    static const char *const outbox[] = {"--redis-outbox", "100", NULL};
    redis = srt_nodes_redis_start();
    srt_node_start(&nodes[0], srt_redis_url(redis), "down-a", NULL);
    srt_node_start(&nodes[1], srt_redis_url(redis), "down-b", outbox);
    srt_node_wait_health(PORT_A, 200, WAIT_MS);
    srt_node_wait_health(PORT_B, 200, WAIT_MS);
    srt_sse on_a, on_b;
    srt_check_sse_open(&on_a, PORT_A, "/sse?room=r");
    srt_check_sse_open(&on_b, PORT_B, "/sse?room=r");
    srt_nodes_wait_numsub(redis, "sse:room:r", 2, WAIT_MS);

    assert_int_equal(srt_redis_stop(redis), 0);
    srt_node_wait_health(PORT_A, 503, WAIT_MS);
    srt_node_wait_health(PORT_B, 503, WAIT_MS);
    srt_response r;
    assert_int_equal(srt_http_publish(PORT_A, "{\"room\":\"r\",\"data\":\"lost\",\"id\":\"1\"}",
                                      &r),
                     0);
    srt_check_json_error(&r, 503, "not published to other nodes: redis");
    assert_non_null(strstr(r.body, "this node's streams got it: 1"));
    srt_response_free(&r);
    srt_node_expect_event(&on_a, "id: 1\ndata: \"lost\"\n\n");
    assert_int_equal(srt_http_publish(PORT_B, "{\"room\":\"r\",\"data\":\"held\",\"id\":\"2\"}",
                                      &r),
                     0);
    srt_check_status(&r, 202);
    assert_string_equal(r.body, "{\"delivered\":1,\"queued\":true}\n");
    srt_response_free(&r);
    srt_node_expect_event(&on_b, "id: 2\ndata: \"held\"\n\n");

    assert_int_equal(srt_redis_restart(redis), 0);
    srt_node_wait_health(PORT_A, 200, WAIT_MS);
    srt_node_wait_health(PORT_B, 200, WAIT_MS);
    srt_nodes_wait_numsub(redis, "sse:room:r", 2, WAIT_MS);
    /* the held one was sent on the reconnect; A may have subscribed after
     * it went out, so only a publish made now is sure to reach both */
    srt_check_publish_delivered(PORT_B, "{\"room\":\"r\",\"data\":\"back\",\"id\":\"3\"}", 1);
    for (;;) {
        char *ev = srt_node_next_event(&on_a, WAIT_MS);
        int last = strstr(ev, "id: 3\n") != NULL;
        free(ev);
        if (last) break;
    }
    /* B's room lost its subscription: its stream is told (gap event,
     * docs/resume.md) before the next message */
    char *gap = srt_node_next_event(&on_b, WAIT_MS);
    assert_non_null(strstr(gap, "event: gap\ndata: {\"reason\":\"redis\""));
    free(gap);
    srt_node_expect_event(&on_b, "id: 3\ndata: \"back\"\n\n");
    assert_int_equal(srt_node_redis_stat(PORT_B, NULL, "outbox"), 0);
    srt_sse_close(&on_a);
    srt_sse_close(&on_b);
    stop_pair();
}

/* ---- 4. one nesting limit --------------------------------------------------- */

/* {"room":"deep",<local>"data":[[...[0]...]]} with `depth` arrays */
static char *nested_body(int depth, int local, size_t *len) {
    srt_buf b = {0};
    srt_buf_appendf(&b, "{\"room\":\"deep\",%s\"data\":", local ? "\"local\":true," : "");
    for (int i = 0; i < depth; i++) srt_buf_appendf(&b, "%s", "[");
    srt_buf_appendf(&b, "%s", "0");
    for (int i = 0; i < depth; i++) srt_buf_appendf(&b, "%s", "]");
    srt_buf_appendf(&b, "%s", "}");
    *len = b.len;
    return b.data;
}

static void test_nesting_limit_at_the_boundary(void **state) {
    (void)state;
    start_pair(NULL);
    srt_sse on_b;
    srt_check_sse_open(&on_b, PORT_B, "/sse?room=deep");
    srt_nodes_wait_numsub(redis, "sse:room:deep", 1, WAIT_MS);
    srt_response r;
    size_t len;

    /* 999 deep: the envelope would be 1001, which every reader drops */
    for (int local = 0; local < 2; local++) {
        char *body = nested_body(999, local, &len);
        assert_int_equal(srt_http_publish(PORT_A, body, &r), 0);
        srt_check_json_error(&r, 400, "nested too deeply");
        assert_non_null(strstr(r.body, "998"));
        srt_response_free(&r);
        free(body);
    }
    /* 998 deep: accepted, and delivered on the other node byte for byte */
    char *body = nested_body(998, 0, &len);
    assert_int_equal(srt_http_publish(PORT_A, body, &r), 0);
    srt_check_status(&r, 200);
    srt_response_free(&r);
    const char *data = strstr(body, "\"data\":") + 7;
    srt_buf expect = {0};
    srt_buf_appendf(&expect, "%s", "data: ");
    srt_buf_append(&expect, data, strlen(data) - 1); /* without the body's closing brace */
    srt_buf_appendf(&expect, "%s", "\n\n");
    srt_node_expect_event(&on_b, expect.data);
    srt_buf_free(&expect);
    free(body);
    assert_int_equal(srt_node_redis_stat(PORT_B, "dropped", "invalid_json"), 0);
    srt_sse_close(&on_b);
    stop_pair();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_no_silent_loss, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_pipelined_answers_in_order, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_publish_budget, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_redis_down_says_so, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_nesting_limit_at_the_boundary, srt_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
