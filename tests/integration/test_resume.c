/* SPDX-License-Identifier: MIT */
/*
 * test_resume.c: Last-Event-ID resume (docs/resume.md) on the real binary,
 * real sockets, and a real redis-server for the multi-node cases.
 *
 * - a stream in three rooms disconnects, 50 messages go to those rooms (some
 *   to several at once, others to a room it is not in), and it reconnects
 *   with its last id: exactly the 50, in order, each once, then live ones;
 *   on one node (history in memory) and across two nodes (history in Redis,
 *   reconnecting to the other node);
 * - the reset event: an id older than what is kept (count and age bounds,
 *   in memory and in Redis),
 *   from another epoch (restart), unknown, or Redis unavailable; a custom
 *   event name;
 * - POST /publish with a publisher-given id while history is on: 400
 *   (a local publish keeps its id and stays out of the history);
 * - a replay larger than half the queue limit, sent in parts (the stream
 *   ends after each, the client continues from its last id);
 * - configuration errors; memory stays bounded (Release builds: RSS).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "srt_check.h"
#include "srt_nodes.h"

/* A node with history answers a publish only once its Redis connection is
 * up (503 "redis connecting" before): wait for /healthz, which is 200 only
 * after Redis confirmed the subscriptions, so no publish races the start. */
static void node_start_ready(srt_proc *p, const char *url, const char *id,
                             const char *const *extra) {
    srt_node_start(p, url, id, extra);
    srt_node_wait_health(p->port, 200, SRT_TIMEOUT_MS);
}

#define ROOMS "room=r1&room=r2&room=r3"

/* POSTs body to /publish, asserts 200 and returns the "id" (malloc'd). */
static char *publish_id(int port, const char *body) {
    srt_response r;
    assert_int_equal(srt_http_publish(port, body, &r), 0);
    srt_check_status(&r, 200);
    const char *at = strstr(r.body, "\"id\":\"");
    assert_non_null(at);
    at += 6;
    const char *end = strchr(at, '"');
    assert_non_null(end);
    char *id = strndup(at, (size_t)(end - at));
    srt_response_free(&r);
    return id;
}

static void open_resume(srt_sse *s, int port, const char *rooms, const char *last_id) {
    char path[256], header[256] = "";
    snprintf(path, sizeof path, "/sse?%s", rooms);
    if (last_id) snprintf(header, sizeof header, "Last-Event-ID: %s", last_id);
    const char *headers[] = {header, NULL};
    int rc = srt_sse_open_ex(s, port, path, last_id ? headers : NULL, NULL, SRT_TIMEOUT_MS);
    assert_int_equal(rc, 0);
}

static void expect_message(srt_sse *s, const char *id, const char *data) {
    char want[512];
    snprintf(want, sizeof want, "id: %s\ndata: %s\n\n", id, data);
    srt_node_expect_event(s, want);
}

/* The reset event's exact frame. after NULL: no id (adapter failed). */
static void expect_reset(srt_sse *s, const char *event, const char *reason, const char *last_id,
                         const char *after) {
    char want[1024];
    if (after)
        snprintf(want, sizeof want,
                 "id: %s\nevent: %s\ndata: {\"reason\":\"%s\",\"lastEventId\":\"%s\","
                 "\"resumeAfter\":\"%s\"}\n\n",
                 after, event, reason, last_id, after);
    else
        snprintf(want, sizeof want,
                 "event: %s\ndata: {\"reason\":\"%s\",\"lastEventId\":\"%s\","
                 "\"resumeAfter\":null}\n\n",
                 event, reason, last_id);
    srt_node_expect_event(s, want);
}

/* "<epoch>-<counter>" of the same epoch as id, counter n. */
static void id_with_counter(const char *id, unsigned long long n, char *out, size_t cap) {
    const char *dash = strchr(id, '-');
    assert_non_null(dash);
    snprintf(out, cap, "%.*s-%012llu", (int)(dash - id), id, n);
}

static void wait_subscribed(srt_redis *r, const char *room) {
    if (!r) return;
    char channel[128];
    snprintf(channel, sizeof channel, "sse:room:%s", room);
    srt_nodes_wait_numsub(r, channel, 1, SRT_TIMEOUT_MS);
}

/* The scenario of the issue: from port_a to port_b (the same port: one
 * node). redis: to wait for subscriptions (NULL: in memory). */
static void resume_fifty(int port_a, int port_b, srt_redis *redis) {
    srt_sse s;
    open_resume(&s, port_a, ROOMS, NULL);
    wait_subscribed(redis, "r1");
    char *first = publish_id(port_a, "{\"room\":\"r1\",\"data\":\"first\"}");
    expect_message(&s, first, "\"first\"");
    srt_sse_close(&s);
    srt_check_room_members(port_a, "r1", 0, SRT_TIMEOUT_MS);

    static const char *const targets[] = {"\"room\":\"r1\"", "\"room\":\"r2\"", "\"room\":\"r3\"",
                                          "\"rooms\":[\"r1\",\"r2\",\"r3\"]",
                                          "\"rooms\":[\"r2\",\"r3\"]"};
    char *ids[50];
    for (int i = 0; i < 50; i++) {
        char body[256];
        snprintf(body, sizeof body, "{%s,\"data\":%d}", targets[i % 5], i);
        ids[i] = publish_id(i % 2 ? port_b : port_a, body); /* publishers on both nodes */
        if (i % 10 == 3) free(publish_id(port_a, "{\"room\":\"elsewhere\",\"data\":0}"));
    }
    open_resume(&s, port_b, ROOMS, first);
    for (int i = 0; i < 50; i++) {
        char data[16];
        snprintf(data, sizeof data, "%d", i);
        expect_message(&s, ids[i], data);
    }
    wait_subscribed(redis, "r2");
    char *live = publish_id(port_a, "{\"rooms\":[\"r2\",\"r3\"],\"data\":\"live\"}");
    expect_message(&s, live, "\"live\"");
    srt_check_quiet(&s, 200); /* nothing twice */
    srt_sse_close(&s);
    for (int i = 0; i < 50; i++) free(ids[i]);
    free(first);
    free(live);
}

static void test_resume_single_node(void **state) {
    (void)state;
    static srt_proc p;
    assert_int_equal(srt_server_start(&p, "--history", "1000", NULL), 0);
    resume_fifty(p.port, p.port, NULL);
    srt_check_stop(&p);
}

static void test_resume_two_nodes(void **state) {
    (void)state;
    static srt_proc a, b;
    srt_redis *r = srt_nodes_redis_start();
    const char *extra[] = {"--history", "1000", "--history-ttl-ms", "60000", NULL};
    node_start_ready(&a, srt_redis_url(r), "node-a", extra);
    node_start_ready(&b, srt_redis_url(r), "node-b", extra);
    resume_fifty(a.port, b.port, r);
    srt_check_stop(&a);
    srt_check_stop(&b);
    srt_nodes_redis_free(r);
}

/* A stream that gets `first`, disconnects, misses 10 messages of r1. */
static char *miss_ten(int port, srt_redis *redis, char **newest) {
    srt_sse s;
    open_resume(&s, port, "room=r1", NULL);
    wait_subscribed(redis, "r1");
    char *first = publish_id(port, "{\"room\":\"r1\",\"data\":\"first\"}");
    expect_message(&s, first, "\"first\"");
    srt_sse_close(&s);
    srt_check_room_members(port, "r1", 0, SRT_TIMEOUT_MS);
    for (int i = 0; i < 10; i++) {
        free(*newest);
        *newest = publish_id(port, "{\"room\":\"r1\",\"data\":\"missed\"}");
    }
    return first;
}

static void check_too_old(int port, srt_redis *redis, const char *event) {
    char *newest = NULL;
    char *first = miss_ten(port, redis, &newest);
    srt_sse s;
    open_resume(&s, port, "room=r1", first);
    expect_reset(&s, event, "gone", first, newest);
    wait_subscribed(redis, "r1");
    char *live = publish_id(port, "{\"room\":\"r1\",\"data\":\"live\"}");
    expect_message(&s, live, "\"live\"");
    srt_sse_close(&s);
    /* an id past the newest, and one that is no id of this history */
    char future[64];
    id_with_counter(live, 999999, future, sizeof future);
    open_resume(&s, port, "room=r1", future);
    expect_reset(&s, event, "unknown", future, live);
    srt_sse_close(&s);
    open_resume(&s, port, "room=r1", "not-an-id");
    expect_reset(&s, event, "unknown", "not-an-id", live);
    srt_sse_close(&s);
    free(first);
    free(newest);
    free(live);
}

static void test_reset_single_node(void **state) {
    (void)state;
    static srt_proc p;
    assert_int_equal(srt_server_start(&p, "--history", "5", NULL), 0);
    check_too_old(p.port, NULL, "reset");

    /* a restart makes a new epoch: ids of before are from another epoch */
    char *before = publish_id(p.port, "{\"room\":\"r1\",\"data\":1}");
    srt_check_stop(&p);
    assert_int_equal(srt_server_start(&p, "--history", "5", "--reset-event", "history-reset", NULL),
                     0);
    char *now = publish_id(p.port, "{\"room\":\"r2\",\"data\":2}");
    assert_string_not_equal(before, now);
    srt_sse s;
    open_resume(&s, p.port, "room=r1", before);
    expect_reset(&s, "history-reset", "epoch", before, now);
    srt_sse_close(&s);
    srt_check_stop(&p);
    free(before);
    free(now);
}

/* With --history-ttl-ms 300 (redis: to wait for subscriptions, or NULL). */
static void check_age_bound(int port, srt_redis *redis) {
    srt_sse s;
    open_resume(&s, port, "room=r1", NULL);
    wait_subscribed(redis, "r1");
    char *first = publish_id(port, "{\"room\":\"r1\",\"data\":1}");
    expect_message(&s, first, "1");
    srt_sse_close(&s);
    srt_check_room_members(port, "r1", 0, SRT_TIMEOUT_MS);
    char *second = publish_id(port, "{\"room\":\"r1\",\"data\":2}");
    /* within the age bound: replayed */
    open_resume(&s, port, "room=r1", first);
    expect_message(&s, second, "2");
    srt_sse_close(&s);
    srt_check_room_members(port, "r1", 0, SRT_TIMEOUT_MS);
    srt_sleep_ms(700);
    open_resume(&s, port, "room=r1", first);
    expect_reset(&s, "reset", "gone", first, second);
    srt_sse_close(&s);
    /* resuming from the newest id misses nothing: no reset even so */
    open_resume(&s, port, "room=r1", second);
    srt_check_quiet(&s, 200);
    srt_sse_close(&s);
    free(first);
    free(second);
}

static void test_reset_by_age(void **state) {
    (void)state;
    static srt_proc p;
    assert_int_equal(srt_server_start(&p, "--history", "100", "--history-ttl-ms", "300", NULL), 0);
    check_age_bound(p.port, NULL);
    srt_check_stop(&p);
}

static void test_reset_by_age_redis(void **state) {
    (void)state;
    static srt_proc a;
    srt_redis *r = srt_nodes_redis_start();
    const char *extra[] = {"--history", "100", "--history-ttl-ms", "300", NULL};
    node_start_ready(&a, srt_redis_url(r), "node-a", extra);
    check_age_bound(a.port, r);
    srt_check_stop(&a);
    srt_nodes_redis_free(r);
}

static void test_reset_two_nodes(void **state) {
    (void)state;
    static srt_proc a;
    srt_redis *r = srt_nodes_redis_start();
    const char *extra[] = {"--history", "5", NULL};
    node_start_ready(&a, srt_redis_url(r), "node-a", extra);
    check_too_old(a.port, r, "reset");

    /* Redis unreachable during the replay: the reset, without an id */
    char *last = publish_id(a.port, "{\"room\":\"r1\",\"data\":1}");
    assert_int_equal(srt_redis_stop(r), 0);
    srt_node_wait_health(a.port, 503, SRT_TIMEOUT_MS);
    srt_sse s;
    open_resume(&s, a.port, "room=r1", last);
    expect_reset(&s, "reset", "unavailable", last, NULL);
    srt_sse_close(&s);
    /* and a publish cannot get an id: 503, nothing delivered out of order */
    srt_response resp;
    assert_int_equal(srt_http_publish(a.port, "{\"room\":\"r1\",\"data\":2}", &resp), 0);
    srt_check_json_error(&resp, 503, NULL);
    srt_response_free(&resp);

    /* Redis comes back empty: a new epoch, never an id given twice */
    assert_int_equal(srt_redis_restart(r), 0);
    srt_node_wait_health(a.port, 200, SRT_TIMEOUT_MS);
    char *after = publish_id(a.port, "{\"room\":\"r2\",\"data\":3}");
    assert_true(strncmp(after, last, strchr(last, '-') - last) != 0);
    open_resume(&s, a.port, "room=r1", last);
    expect_reset(&s, "reset", "epoch", last, after);
    srt_sse_close(&s);
    free(last);
    free(after);
    srt_check_stop(&a);
    srt_nodes_redis_free(r);
}

static void test_publish_rules(void **state) {
    (void)state;
    static srt_proc p;
    assert_int_equal(srt_server_start(&p, "--history", "10", NULL), 0);
    srt_response r;
    assert_int_equal(srt_http_publish(p.port, "{\"room\":\"r1\",\"data\":1,\"id\":\"mine\"}", &r),
                     0);
    srt_check_json_error(&r, 400, "history");
    srt_response_free(&r);
    assert_int_equal(srt_http_publish(p.port, "{\"room\":\"r1\",\"data\":1,\"sequence\":\"k\"}",
                                      &r),
                     0);
    srt_check_json_error(&r, 400, "history");
    srt_response_free(&r);

    srt_sse s;
    open_resume(&s, p.port, "room=r1", NULL);
    char *first = publish_id(p.port, "{\"room\":\"r1\",\"data\":1}");
    expect_message(&s, first, "1");
    /* local: delivered with its own id, not kept */
    srt_check_publish_delivered(p.port,
                                "{\"room\":\"r1\",\"data\":2,\"id\":\"mine\",\"local\":true}", 1);
    expect_message(&s, "mine", "2");
    char *third = publish_id(p.port, "{\"room\":\"r1\",\"data\":3}");
    expect_message(&s, third, "3");
    srt_sse_close(&s);
    /* ?lastEventId= for clients that cannot set headers */
    char path[256];
    snprintf(path, sizeof path, "/sse?room=r1&lastEventId=%s", first);
    srt_check_sse_open(&s, p.port, path);
    expect_message(&s, third, "3");
    srt_check_quiet(&s, 200);
    srt_sse_close(&s);
    /* without history the id is the publisher's, as before */
    srt_check_stop(&p);
    assert_int_equal(srt_server_start(&p, NULL), 0);
    open_resume(&s, p.port, "room=r1", first);
    srt_check_publish_delivered(p.port, "{\"room\":\"r1\",\"data\":1,\"id\":\"mine\"}", 1);
    srt_check_frame(&s, "id: mine\ndata: 1\n\n");
    srt_sse_close(&s);
    srt_check_stop(&p);
    free(first);
    free(third);
}

/* A replay larger than half the queue limit comes in parts: the stream ends
 * after what fits and the client continues from the last id it got. */
static void test_replay_in_parts(void **state) {
    (void)state;
    static srt_proc p;
    assert_int_equal(srt_server_start(&p, "--history", "1000", "--max-queue-bytes", "65536", NULL),
                     0);
    srt_sse s;
    open_resume(&s, p.port, "room=r1", NULL);
    char *first = publish_id(p.port, "{\"room\":\"r1\",\"data\":\"first\"}");
    expect_message(&s, first, "\"first\"");
    srt_sse_close(&s);
    srt_check_room_members(p.port, "r1", 0, SRT_TIMEOUT_MS);
    char body[1200], data[1100];
    memset(data, 'x', sizeof data);
    data[sizeof data - 1] = '\0';
    char *ids[200];
    for (int i = 0; i < 200; i++) { /* 200 KiB: more than 32 KiB at a time */
        snprintf(body, sizeof body, "{\"room\":\"r1\",\"data\":\"%d %s\"}", i, data);
        ids[i] = publish_id(p.port, body);
    }
    char last[64];
    snprintf(last, sizeof last, "%s", first);
    int got = 0, parts = 0;
    while (got < 200 && parts < 50) {
        open_resume(&s, p.port, "room=r1", last);
        parts++;
        char *block;
        int rc;
        while ((rc = srt_sse_next_event(&s, &block, NULL, SRT_TIMEOUT_MS)) == 0) {
            char want[1300];
            snprintf(want, sizeof want, "id: %s\ndata: \"%d %s\"\n\n", ids[got], got, data);
            if (strcmp(block, want) != 0) fail_msg("part %d: message %d differs", parts, got);
            free(block);
            snprintf(last, sizeof last, "%s", ids[got]);
            if (++got == 200) break;
        }
        if (got < 200) assert_int_equal(rc, SRT_SSE_EOF); /* ended after a part */
        srt_sse_close(&s);
    }
    assert_int_equal(got, 200);
    assert_true(parts >= 4); /* 200 KiB in parts of at most 32 KiB */
    for (int i = 0; i < 200; i++) free(ids[i]);
    free(first);
    srt_check_stop(&p);
}

static void check_refused(const char *const *args, const char *words) {
    srt_run_result res;
    int status = srt_run(args, NULL, 10000, &res);
    if (status != 2 || !strstr(res.err, words))
        fprintf(stderr, "status %d, stderr: %s\n", status, res.err);
    assert_int_equal(status, 2);
    assert_non_null(strstr(res.err, words));
    srt_run_result_free(&res);
}

static void test_config_errors(void **state) {
    (void)state;
    const char *bad_name[] = {"--port", "0", "--history", "5", "--reset-event", "a:b", NULL};
    check_refused(bad_name, "reset-event");
    const char *no_history[] = {"--port", "0", "--history-ttl-ms", "500", NULL};
    check_refused(no_history, "need history");
    const char *small[] = {"--port", "0", "--history", "5", "--history-max-bytes", "100", NULL};
    check_refused(small, "history-max-bytes");
}

/* Rooms without members do not make memory grow past the byte bound. */
static void test_memory_bound(void **state) {
    (void)state;
#if SR_TEST_SANITIZE
    skip(); /* the sanitizer's allocator keeps freed memory: RSS says nothing */
#else
    static srt_proc p;
    assert_int_equal(srt_server_start(&p, "--history", "100", "--history-max-bytes", "2097152",
                                      NULL),
                     0);
    long rss0, hwm0, rss1, hwm1;
    char data[1100];
    memset(data, 'x', sizeof data);
    data[0] = '"';
    data[1024] = '"';
    data[1025] = '\0';
    srt_conn c;
    assert_int_equal(srt_conn_open(&c, p.port, SRT_TIMEOUT_MS), 0);
    for (int round = 0; round < 2; round++) {
        if (round == 1) assert_int_equal(srt_proc_mem(&p, &rss0, &hwm0), 0);
        for (int i = 0; i < 10000; i++) {
            char body[1300];
            int n = snprintf(body, sizeof body, "{\"room\":\"empty-%d-%d\",\"data\":%s}", round, i,
                             data);
            const char *headers[] = {"Content-Type: application/json", NULL};
            assert_int_equal(srt_http_send_request(&c, "POST", "/publish", headers, body, (size_t)n,
                                                   SRT_TIMEOUT_MS),
                             0);
            srt_response r;
            assert_int_equal(srt_http_read_response(&c, &r, SRT_TIMEOUT_MS), 0);
            assert_int_equal(r.status, 200);
            srt_response_free(&r);
        }
    }
    srt_conn_close(&c);
    assert_int_equal(srt_proc_mem(&p, &rss1, &hwm1), 0);
    fprintf(stderr,
            "history memory: RSS %ld kB after 10000 messages of 1 KiB to 10000 empty rooms, "
            "%ld kB after 10000 more (bound 2 MiB)\n",
            rss0, rss1);
    assert_true(rss1 - rss0 < 4096); /* the second 10 MB were not kept */
    srt_check_stop(&p);
#endif
}

int main(void) {
    srt_raise_nofile(4096);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_resume_single_node, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_resume_two_nodes, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_reset_single_node, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_reset_by_age, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_reset_by_age_redis, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_reset_two_nodes, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_publish_rules, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_replay_in_parts, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_config_errors, srt_nodes_teardown),
        cmocka_unit_test_teardown(test_memory_bound, srt_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
