/* SPDX-License-Identifier: MIT */
/*
 * test_sequence_http.c: POST /publish with "sequence" on the real sserooms
 * binary, over sockets: ids assigned in memory without Redis; two nodes on
 * one redis-server publishing sequenced messages as fast as they can, with
 * every client (on the publishing nodes too, in one or two target rooms)
 * receiving every message exactly once in increasing id order, byte for
 * byte; the asynchronous response keeping pipelined requests in order, also
 * when reading has to stop; a client that half-closes after pipelining
 * getting every answer; Redis down giving 503; the sequence being a name
 * under the adapter's prefix, never a Redis key (issue #18: another
 * application's key and a room's history key stay untouched, a refused call
 * writes nothing, Redis's error text is not echoed, the in-memory table
 * cannot be filled for good); and a client closing its
 * connection while its response waits for Redis (the node must not crash:
 * the sanitizer build runs this too, and every node must exit cleanly).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "srt_check.h"
#include "srt_redis.h"

#define WAIT_MS 20000

/* --- helpers ------------------------------------------------------------ */

static void start_node(srt_proc *p, srt_redis *redis, const char *const *extra) {
    const char *args[16];
    size_t n = 0;
    if (redis) {
        args[n++] = "--redis";
        args[n++] = srt_redis_url(redis);
    }
    for (size_t i = 0; extra && extra[i] && n < 15; i++) args[n++] = extra[i];
    args[n] = NULL;
    srt_proc_opts o = {.args = args};
    if (srt_proc_start(p, &o) != 0) fail_msg("could not start sserooms");
}

/* /healthz answers `status` within WAIT_MS. */
static void wait_health(int port, int status) {
    int64_t deadline = srt_now_ms() + WAIT_MS;
    int last = 0;
    while (srt_now_ms() < deadline) {
        srt_response r;
        if (srt_http_get(port, "/healthz", &r) == 0) last = r.status;
        srt_response_free(&r);
        if (last == status) return;
        srt_sleep_ms(20);
    }
    fail_msg("/healthz on port %d stayed %d, expected %d", port, last, status);
}

/* Redis reports `n` subscribers on `channel`. */
static void wait_numsub(srt_redis *redis, const char *channel, long long n) {
    int64_t deadline = srt_now_ms() + WAIT_MS;
    long long have = -1;
    while (srt_now_ms() < deadline) {
        redisReply *r = srt_redis_command(redis, "PUBSUB NUMSUB %s", channel);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) have = r->element[1]->integer;
        if (r) freeReplyObject(r);
        if (have == n) return;
        srt_sleep_ms(10);
    }
    fail_msg("%s has %lld subscribers, expected %lld", channel, have, n);
}

/* Waits until the node has read everything sent on c, or has stopped
 * reading it: it holds the requests behind one that waits, and stops past
 * `hold_limit` held bytes (max_header_bytes + max_body_bytes); `first` is
 * the bytes of the request that waits (not held). */
static void wait_node_read(const srt_conn *c, size_t first, size_t hold_limit) {
    int64_t deadline = srt_now_ms() + WAIT_MS;
    long unread = -1;
    for (;;) {
        unread = srt_conn_unread_by_peer(c);
        if (unread < 0) fail_msg("the node's end of the connection is not in /proc/net/tcp");
        if (unread == 0 || c->sent - (size_t)unread - first > hold_limit) return;
        if (srt_now_ms() >= deadline) break;
        srt_sleep_ms(5);
    }
    fail_msg("the node left %ld of %zu bytes unread and holds no more than %zu", unread, c->sent,
             hold_limit);
}

static void send_publish(srt_conn *c, const char *json) {
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    int rc = srt_http_send_request(c, "POST", "/publish", headers, json, strlen(json), WAIT_MS);
    if (rc != 0) fail_msg("sending a request failed: %s", strerror(-rc));
}

static void read_response(srt_conn *c, srt_response *r) {
    int rc = srt_http_read_response(c, r, WAIT_MS);
    if (rc != 0) fail_msg("reading a response failed: %s", strerror(-rc));
}

/* One POST /publish on a new connection: the status and the body. */
static int publish(int port, const char *json, srt_response *r) {
    int rc = srt_http_publish(port, json, r);
    if (rc != 0) fail_msg("POST /publish failed: %s", strerror(-rc));
    return r->status;
}

/* Asserts a 200 {"delivered":delivered,"id":"<id>"}; returns the id (malloc'd). */
static char *check_sequenced(const srt_response *r, long long delivered, const char *id) {
    srt_check_status(r, 200);
    long long d = -1;
    char *got = srt_json_string(r->body, "id");
    if (!srt_json_int(r->body, "delivered", &d) || !got)
        fail_msg("not {\"delivered\":N,\"id\":\"...\"}: %s", r->body);
    if (delivered >= 0) assert_int_equal(d, delivered);
    if (id) assert_string_equal(got, id);
    return got;
}

/* The counter of "<epoch>-<12 digits>", checking the form. */
static long long counter_of(const char *id) {
    const char *dash = strchr(id, '-');
    if (!dash || strlen(dash + 1) != 12 || dash == id)
        fail_msg("\"%s\" is not <epoch>-<12 digits>", id);
    for (const char *p = id; *p; p++)
        if (p != dash && (*p < '0' || *p > '9')) fail_msg("\"%s\" is not digits", id);
    return strtoll(dash + 1, NULL, 10);
}

/* --- without Redis ------------------------------------------------------ */

static void test_memory_ids(void **state) {
    (void)state;
    srt_proc p;
    start_node(&p, NULL, NULL);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=r");
    srt_response r;

    publish(p.port, "{\"room\":\"r\",\"data\":{\"a\":1},\"sequence\":\"k\"}", &r);
    free(check_sequenced(&r, 1, "0-000000000001"));
    srt_response_free(&r);
    srt_check_frame(&s, "id: 0-000000000001\ndata: {\"a\":1}\n\n");

    publish(p.port,
            "{\"room\":\"r\",\"event\":\"e\",\"data\":\"x\",\"retry\":10,\"sequence\":\"k\","
            "\"epoch\":\"7\",\"id\":null}",
            &r);
    free(check_sequenced(&r, 1, "7-000000000002"));
    srt_response_free(&r);
    srt_check_frame(&s, "id: 7-000000000002\nevent: e\ndata: \"x\"\nretry: 10\n\n");

    publish(p.port, "{\"rooms\":[\"r\",\"empty\"],\"data\":2,\"sequence\":\"other\"}", &r);
    free(check_sequenced(&r, 1, "0-000000000001")); /* another key, another counter */
    srt_response_free(&r);
    srt_check_frame(&s, "id: 0-000000000001\ndata: 2\n\n");

    publish(p.port, "{\"room\":\"r\",\"data\":3,\"sequence\":\"k\",\"local\":true}", &r);
    free(check_sequenced(&r, 1, "0-000000000003"));
    srt_response_free(&r);
    srt_check_frame(&s, "id: 0-000000000003\ndata: 3\n\n");

    /* refusals name the problem and use no id */
    static const struct {
        const char *body;
        const char *word;
    } bad[] = {
        {"{\"room\":\"r\",\"data\":1,\"sequence\":\"k\",\"id\":\"5\"}", "sequence"},
        {"{\"room\":\"r\",\"data\":1,\"sequence\":\"k\",\"epoch\":\"1a\"}", "epoch"},
        {"{\"room\":\"r\",\"data\":1,\"sequence\":\"k\",\"epoch\":\"\"}", "epoch"},
        {"{\"room\":\"r\",\"data\":1,\"sequence\":\"k\",\"epoch\":7}", "epoch"},
        {"{\"room\":\"r\",\"data\":1,\"epoch\":\"7\"}", "epoch"},
        {"{\"room\":\"r\",\"data\":1,\"sequence\":\"\"}", "sequence"},
        {"{\"room\":\"r\",\"data\":1,\"sequence\":5}", "sequence"},
        {"{\"room\":\"r\",\"data\":1,\"sequence\":\"a\\u0000b\"}", "sequence"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        publish(p.port, bad[i].body, &r);
        srt_check_json_error(&r, 400, bad[i].word);
        srt_response_free(&r);
    }
    char *long_key = malloc(700);
    snprintf(long_key, 700, "{\"room\":\"r\",\"data\":1,\"sequence\":\"%0600d\"}", 0);
    publish(p.port, long_key, &r);
    srt_check_json_error(&r, 400, "sequence");
    srt_response_free(&r);
    free(long_key);

    publish(p.port, "{\"room\":\"r\",\"data\":4,\"sequence\":\"k\"}", &r);
    free(check_sequenced(&r, 1, "0-000000000004"));
    srt_response_free(&r);
    srt_check_frame(&s, "id: 0-000000000004\ndata: 4\n\n");
    srt_sse_close(&s);
    srt_check_stop(&p);
}

/* --- two nodes on Redis --------------------------------------------------- */

enum { CONNS_PER_NODE = 4, PER_CONN = 125, TOTAL = 2 * CONNS_PER_NODE * PER_CONN };

/* Both nodes publish TOTAL sequenced messages at once to rooms r and x;
 * clients: a1 (r) and a2 (r, x) on node A, b1 (r) and b2 (x) on node B. */
static void test_two_nodes_concurrent(void **state) {
    (void)state;
    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc nodes[2];
    for (int i = 0; i < 2; i++) start_node(&nodes[i], redis, NULL);
    for (int i = 0; i < 2; i++) wait_health(nodes[i].port, 200);
    srt_sse clients[4];
    srt_check_sse_open(&clients[0], nodes[0].port, "/sse?room=r");
    srt_check_sse_open(&clients[1], nodes[0].port, "/sse?room=r&room=x");
    srt_check_sse_open(&clients[2], nodes[1].port, "/sse?room=r");
    srt_check_sse_open(&clients[3], nodes[1].port, "/sse?room=x");
    wait_numsub(redis, "sse:room:r", 2);
    wait_numsub(redis, "sse:room:x", 2);

    /* every connection gets its requests in turns, so both nodes work at once */
    srt_conn conns[2 * CONNS_PER_NODE];
    for (int c = 0; c < 2 * CONNS_PER_NODE; c++)
        assert_int_equal(srt_conn_open(&conns[c], nodes[c / CONNS_PER_NODE].port, WAIT_MS), 0);
    for (int i = 0; i < PER_CONN; i++) {
        for (int c = 0; c < 2 * CONNS_PER_NODE; c++) {
            char json[160];
            snprintf(json, sizeof json,
                     "{\"rooms\":[\"r\",\"x\"],\"event\":\"tick\",\"data\":{\"c\":%d,\"i\":%d},"
                     "\"sequence\":\"seq:race\"}",
                     c, i);
            send_publish(&conns[c], json);
        }
    }
    /* responses: on each connection in request order, so increasing ids */
    char **data_of = calloc(TOTAL + 1, sizeof *data_of);
    for (int c = 0; c < 2 * CONNS_PER_NODE; c++) {
        long long last = 0;
        for (int i = 0; i < PER_CONN; i++) {
            srt_response r;
            read_response(&conns[c], &r);
            char *id = check_sequenced(&r, 2, NULL); /* two local clients in r or x */
            long long n = counter_of(id);
            if (strncmp(id, "0-", 2) != 0 || n < 1 || n > TOTAL || n <= last || data_of[n])
                fail_msg("connection %d, request %d: id %s after %lld", c, i, id, last);
            last = n;
            char data[64];
            snprintf(data, sizeof data, "{\"c\":%d,\"i\":%d}", c, i);
            data_of[n] = strdup(data);
            free(id);
            srt_response_free(&r);
        }
        srt_conn_close(&conns[c]);
    }
    /* every client: all TOTAL, once each, in increasing id order, byte-exact */
    for (int k = 0; k < 4; k++) {
        for (int n = 1; n <= TOTAL; n++) {
            char expect[160];
            snprintf(expect, sizeof expect, "id: 0-%012d\nevent: tick\ndata: %s\n\n", n,
                     data_of[n]);
            char *block = NULL;
            int rc = srt_sse_next_event(&clients[k], &block, NULL, WAIT_MS);
            if (rc != 0) fail_msg("client %d: no event %d (%d)", k, n, rc);
            if (!srt_bytes_equal("sequenced frame", block, strlen(block), expect))
                fail_msg("client %d: event %d out of order or wrong", k, n);
            free(block);
        }
    }
    /* and nothing more: a final message is the next thing each client gets */
    srt_response r;
    publish(nodes[1].port, "{\"rooms\":[\"r\",\"x\"],\"data\":\"end\",\"sequence\":\"seq:race\"}",
            &r);
    free(check_sequenced(&r, 2, "0-000000001001"));
    srt_response_free(&r);
    for (int k = 0; k < 4; k++)
        srt_check_frame(&clients[k], "id: 0-000000001001\ndata: \"end\"\n\n");

    /* local: an id from the shared counter, delivered on node A only */
    publish(nodes[0].port,
            "{\"rooms\":[\"r\",\"x\"],\"data\":\"local\",\"sequence\":\"seq:race\",\"local\":true}",
            &r);
    free(check_sequenced(&r, 2, "0-000000001002"));
    srt_response_free(&r);
    publish(nodes[1].port, "{\"rooms\":[\"r\",\"x\"],\"data\":\"last\",\"sequence\":\"seq:race\"}",
            &r);
    free(check_sequenced(&r, 2, "0-000000001003"));
    srt_response_free(&r);
    for (int k = 0; k < 2; k++)
        srt_check_frame(&clients[k], "id: 0-000000001002\ndata: \"local\"\n\n");
    for (int k = 0; k < 4; k++)
        srt_check_frame(&clients[k], "id: 0-000000001003\ndata: \"last\"\n\n");

    redisReply *v = srt_redis_command(redis, "GET sse:room:seq:seq:race");
    assert_non_null(v);
    assert_string_equal(v->str, "1003"); /* the INCRBY counter the reference would share */
    freeReplyObject(v);
    for (int k = 0; k < 4; k++) srt_sse_close(&clients[k]);
    for (int n = 1; n <= TOTAL; n++) free(data_of[n]);
    free(data_of);
    for (int i = 0; i < 2; i++) srt_check_stop(&nodes[i]);
    srt_redis_free(redis);
}

/* Pipelined requests are answered in order while sequenced ones wait for
 * Redis, also when more arrives than the node holds (it stops reading). */
static void test_pipelined_order(void **state) {
    (void)state;
    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    static const char *const small[] = {"--max-header-bytes", "512", "--max-body-bytes", "512",
                                        NULL};
    start_node(&p, redis, small);
    wait_health(p.port, 200);
    srt_conn c;
    assert_int_equal(srt_conn_open(&c, p.port, WAIT_MS), 0);
    enum { N = 120 };
    /* Redis paused: everything below is read (up to the bound) while the first waits */
    assert_int_equal(kill(srt_redis_pid(redis), SIGSTOP), 0);
    size_t first = 0;
    for (int i = 0; i < N; i++) {
        if (i == 1) first = c.sent;
        if (i % 10 == 5) {
            srt_http_send_request(&c, "GET", "/healthz", NULL, NULL, 0, WAIT_MS);
        } else if (i % 10 == 7) {
            send_publish(&c, "{\"room\":\"r\",\"data\":0,\"sequence\":\"s\",\"epoch\":\"x\"}");
        } else if (i % 10 == 8) {
            send_publish(&c, "{\"room\":\"r\",\"data\":0}"); /* no sequence: answered at once */
        } else {
            char json[200];
            snprintf(json, sizeof json,
                     "{\"room\":\"r\",\"data\":{\"i\":%d,\"pad\":\"%0100d\"},"
                     "\"sequence\":\"s\"}",
                     i, 0);
            send_publish(&c, json);
        }
    }
    wait_node_read(&c, first, 512 + 512);
    assert_int_equal(kill(srt_redis_pid(redis), SIGCONT), 0);
    long long last = 0;
    for (int i = 0; i < N; i++) {
        srt_response r;
        read_response(&c, &r);
        if (i % 10 == 5) {
            srt_check_status(&r, 200);
            assert_non_null(strstr(r.body, "\"status\":\"ok\""));
        } else if (i % 10 == 7) {
            srt_check_json_error(&r, 400, "epoch");
        } else if (i % 10 == 8) {
            srt_check_status(&r, 200);
            assert_string_equal(r.body, "{\"delivered\":0}\n");
        } else {
            char *id = check_sequenced(&r, 0, NULL);
            assert_int_equal(counter_of(id), last + 1);
            last++;
            free(id);
        }
        srt_response_free(&r);
    }
    assert_int_equal(last, N - 3 * (N / 10));
    srt_conn_close(&c);
    srt_check_stop(&p);
    srt_redis_free(redis);
}

/* A client that pipelines requests and then half-closes (shutdown
 * SHUT_WR: it sends nothing more but reads on) gets every answer, in
 * order, and then the server's EOF: without Redis (all answered at once),
 * and with Redis paused so that the first (sequenced) answer waits and the
 * rest are held unparsed when the EOF arrives. */
static void pipeline_then_half_close(int port, srt_redis *paused) {
    srt_conn c;
    assert_int_equal(srt_conn_open(&c, port, WAIT_MS), 0);
    if (paused) assert_int_equal(kill(srt_redis_pid(paused), SIGSTOP), 0);
    send_publish(&c, paused ? "{\"room\":\"r\",\"data\":1,\"sequence\":\"h\"}"
                            : "{\"room\":\"r\",\"data\":1}");
    assert_int_equal(srt_http_send_request(&c, "GET", "/healthz", NULL, NULL, 0, WAIT_MS), 0);
    send_publish(&c, "{\"room\":\"r\",\"data\":2}");
    assert_int_equal(srt_http_send_request(&c, "GET", "/rooms", NULL, NULL, 0, WAIT_MS), 0);
    assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
    if (paused) {
        /* a request on another connection is answered after the server saw
         * the EOF sent before it (loopback: both are ready in one poll) */
        srt_response other;
        assert_int_equal(srt_http_get(port, "/rooms", &other), 0);
        srt_check_status(&other, 200);
        srt_response_free(&other);
        assert_int_equal(kill(srt_redis_pid(paused), SIGCONT), 0);
    }
    srt_response r;
    read_response(&c, &r);
    if (paused) free(check_sequenced(&r, 0, NULL));
    else srt_check_status(&r, 200);
    srt_response_free(&r);
    read_response(&c, &r);
    srt_check_status(&r, 200);
    assert_non_null(strstr(r.body, "\"status\""));
    srt_response_free(&r);
    read_response(&c, &r);
    srt_check_status(&r, 200);
    assert_string_equal(r.body, "{\"delivered\":0}\n");
    srt_response_free(&r);
    read_response(&c, &r);
    srt_check_status(&r, 200);
    srt_response_free(&r);
    /* then the server ends the connection */
    assert_int_equal(srt_conn_wait_eof(&c, WAIT_MS), 0);
    assert_int_equal(c.in.len, 0);
    srt_conn_close(&c);
}

static void test_half_close_after_pipelining(void **state) {
    (void)state;
    srt_proc plain;
    start_node(&plain, NULL, NULL);
    wait_health(plain.port, 200);
    pipeline_then_half_close(plain.port, NULL);
    srt_check_stop(&plain);

    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    start_node(&p, redis, NULL);
    wait_health(p.port, 200);
    pipeline_then_half_close(p.port, redis);
    srt_check_stop(&p);
    srt_redis_free(redis);
}

/* --- failures ------------------------------------------------------------- */

static void test_redis_down_503(void **state) {
    (void)state;
    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    start_node(&p, redis, NULL);
    wait_health(p.port, 200);
    srt_response r;
    publish(p.port, "{\"room\":\"r\",\"data\":1,\"sequence\":\"k\"}", &r);
    free(check_sequenced(&r, 0, "0-000000000001"));
    srt_response_free(&r);

    assert_int_equal(srt_redis_stop(redis), 0);
    wait_health(p.port, 503);
    publish(p.port, "{\"room\":\"r\",\"data\":1,\"sequence\":\"k\"}", &r);
    srt_check_json_error(&r, 503, "redis");
    assert_string_equal(srt_response_header(&r, "Connection"), "close");
    srt_response_free(&r);
    publish(p.port, "{\"room\":\"r\",\"data\":1,\"sequence\":\"k\",\"local\":true}", &r);
    srt_check_json_error(&r, 503, "redis");
    srt_response_free(&r);
    /* without a sequence a publish still reaches local streams, and says it
     * reached no other node */
    publish(p.port, "{\"room\":\"r\",\"data\":1}", &r);
    srt_check_json_error(&r, 503, "not published to other nodes");
    srt_response_free(&r);
    publish(p.port, "{\"room\":\"r\",\"data\":1,\"local\":true}", &r);
    srt_check_status(&r, 200);
    srt_response_free(&r);

    /* a counter past its end is a conflict, not a wrong id */
    assert_int_equal(srt_redis_restart(redis), 0);
    wait_health(p.port, 200);
    redisReply *v = srt_redis_command(redis, "SET sse:room:seq:k 999999999999");
    freeReplyObject(v);
    publish(p.port, "{\"room\":\"r\",\"data\":1,\"sequence\":\"k\"}", &r);
    srt_check_json_error(&r, 409, "sequence");
    srt_response_free(&r);
    v = srt_redis_command(redis, "SET sse:room:seq:k abc");
    freeReplyObject(v);
    publish(p.port, "{\"room\":\"r\",\"data\":1,\"sequence\":\"k\"}", &r);
    srt_check_json_error(&r, 409, "sequence");
    srt_response_free(&r);
    publish(p.port, "{\"room\":\"r\",\"data\":1,\"sequence\":\"k2\"}", &r);
    free(check_sequenced(&r, 0, "0-000000000001"));
    srt_response_free(&r);
    srt_check_stop(&p);
    srt_redis_free(redis);
}

/* Clients that go away (close) while their response waits for Redis: the
 * node must not crash, and handles what they sent. */
static void test_client_gone_before_reply(void **state) {
    (void)state;
    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    start_node(&p, redis, NULL);
    wait_health(p.port, 200);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=r");
    wait_numsub(redis, "sse:room:r", 1);

    assert_int_equal(kill(srt_redis_pid(redis), SIGSTOP), 0);
    srt_conn gone[3], stays;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(srt_conn_open(&gone[i], p.port, WAIT_MS), 0);
        send_publish(&gone[i], "{\"room\":\"r\",\"data\":\"gone\",\"sequence\":\"k\"}");
        if (i > 0) send_publish(&gone[i], "{\"room\":\"r\",\"data\":\"held\",\"sequence\":\"k\"}");
        if (i > 1) srt_http_send_request(&gone[i], "GET", "/stats", NULL, NULL, 0, WAIT_MS);
    }
    assert_int_equal(srt_conn_open(&stays, p.port, WAIT_MS), 0);
    send_publish(&stays, "{\"room\":\"r\",\"data\":\"stays\",\"sequence\":\"k\"}");
    /* the node has read all they sent (well under its hold limit) */
    for (int i = 0; i < 3; i++) wait_node_read(&gone[i], 0, SIZE_MAX);
    wait_node_read(&stays, 0, SIZE_MAX);
    for (int i = 0; i < 3; i++) srt_conn_close(&gone[i]);
    /* the node sees them close before Redis answers: over loopback their
     * FINs are queued at the node before this request, so it reads the
     * EOFs no later than the turn that answers it */
    (void)srt_check_stat(p.port, "requests_total");
    assert_int_equal(kill(srt_redis_pid(redis), SIGCONT), 0);

    srt_response r;
    read_response(&stays, &r);
    char *stays_id = check_sequenced(&r, 1, NULL);
    srt_response_free(&r);
    srt_conn_close(&stays);
    /* every request the gone clients sent was handled and published, in id
     * order with the one that stayed: their close is only an EOF to the
     * node, which cannot tell it from a half-close (whose client reads its
     * answers on), so the requests they had pipelined behind count too */
    int seen[3] = {0, 0, 0}; /* gone, held, stays */
    for (int n = 1; n <= 6; n++) {
        char *block = NULL;
        assert_int_equal(srt_sse_next_event(&s, &block, NULL, WAIT_MS), 0);
        char id[32];
        snprintf(id, sizeof id, "0-%012d", n);
        char expect[3][96];
        const char *data[] = {"gone", "held", "stays"};
        int which = -1;
        for (int k = 0; k < 3; k++) {
            snprintf(expect[k], sizeof expect[k], "id: %s\ndata: \"%s\"\n\n", id, data[k]);
            if (strcmp(block, expect[k]) == 0) which = k;
        }
        if (which < 0) fail_msg("event %d: %s", n, block);
        if (which == 2 && strcmp(id, stays_id) != 0)
            fail_msg("stays has id %s, not %s", stays_id, id);
        seen[which]++;
        free(block);
    }
    assert_int_equal(seen[0], 3);
    assert_int_equal(seen[1], 2);
    assert_int_equal(seen[2], 1);
    free(stays_id);
    redisReply *v = srt_redis_command(redis, "GET sse:room:seq:k");
    assert_non_null(v);
    assert_string_equal(v->str, "6");
    freeReplyObject(v);
    srt_check_healthy(p.port);
    srt_sse_close(&s);
    srt_check_stop(&p);
    srt_redis_free(redis);
}

/* --- the name is not a Redis key (issue #18, finding 1) -------------------- */

/* A string value of key in Redis (malloc'd), or NULL when it has none. */
static char *redis_get(srt_redis *redis, const char *key) {
    redisReply *v = srt_redis_command(redis, "GET %s", key);
    assert_non_null(v);
    char *s = v->type == REDIS_REPLY_STRING ? strdup(v->str) : NULL;
    freeReplyObject(v);
    return s;
}

/* "VERB key value" (three words, no spaces inside). */
static void redis_do(srt_redis *redis, const char *verb, const char *key, const char *value) {
    redisReply *v = srt_redis_command(redis, "%s %s %s", verb, key, value);
    assert_non_null(v);
    assert_int_not_equal(v->type, REDIS_REPLY_ERROR);
    freeReplyObject(v);
}

/* The review's reproduction: another application's integer key named as the
 * sequence stays untouched; the counter lives under the adapter's prefix. */
static void test_other_keys_untouched(void **state) {
    (void)state;
    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    start_node(&p, redis, NULL);
    wait_health(p.port, 200);
    redis_do(redis, "SET", "app:balance:42", "100");
    srt_response r;
    publish(p.port, "{\"room\":\"zz\",\"data\":1,\"sequence\":\"app:balance:42\",\"local\":true}",
            &r);
    free(check_sequenced(&r, 0, "0-000000000001"));
    srt_response_free(&r);
    char *v = redis_get(redis, "app:balance:42");
    assert_string_equal(v, "100");
    free(v);
    v = redis_get(redis, "sse:room:seq:app:balance:42");
    assert_string_equal(v, "1");
    free(v);
    /* names that are keys elsewhere, hash tags, globs, spaces: 400, nothing written */
    static const char *const bad[] = {"{sse:room:}#h:r", "a{b}c",    "x*", "a b",
                                      "seq#names",       "caf\u00e9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[160];
        snprintf(json, sizeof json, "{\"room\":\"zz\",\"data\":1,\"sequence\":\"%s\"}", bad[i]);
        publish(p.port, json, &r);
        srt_check_json_error(&r, 400, "sequence name");
        srt_response_free(&r);
    }
    /* app:balance:42, the counter, the names index: nothing else but the
     * node's presence keys (issue #15) */
    redisReply *k = srt_redis_command(redis, "KEYS *");
    assert_int_equal(k->type, REDIS_REPLY_ARRAY);
    size_t others = 0;
    for (size_t i = 0; i < k->elements; i++)
        if (!strstr(k->element[i]->str, "presence")) others++;
    assert_int_equal(others, 3);
    freeReplyObject(k);
    srt_check_stop(&p);
    srt_redis_free(redis);
}

/* The review's reproduction with --history: naming a room's history key as
 * the sequence must not block that room. */
static void test_history_room_not_blocked(void **state) {
    (void)state;
    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    static const char *const hist[] = {"--history", "10", NULL};
    start_node(&p, redis, hist);
    wait_health(p.port, 200);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=victim");
    wait_numsub(redis, "sse:room:victim", 1);
    srt_response r;
    publish(p.port,
            "{\"room\":\"x\",\"data\":1,\"local\":true,\"sequence\":\"{sse:room:}#h:victim\"}", &r);
    srt_check_json_error(&r, 400, "sequence");
    srt_response_free(&r);
    redisReply *k = srt_redis_command(redis, "EXISTS {sse:room:}#h:victim");
    assert_int_equal(k->integer, 0);
    freeReplyObject(k);
    for (int i = 0; i < 3; i++) { /* the victim room keeps working */
        publish(p.port, "{\"room\":\"victim\",\"data\":\"still here\"}", &r);
        srt_check_status(&r, 200);
        srt_response_free(&r);
        char *block = NULL;
        assert_int_equal(srt_sse_next_event(&s, &block, NULL, WAIT_MS), 0);
        assert_non_null(strstr(block, "data: \"still here\""));
        free(block);
    }
    srt_sse_close(&s);
    srt_check_stop(&p);
    srt_redis_free(redis);
}

/* A counter at its end answers 409 and is left as it was (the range check
 * runs before any write); a key of another type answers 409 without
 * Redis's words (WRONGTYPE...), which only the log gets. */
static void test_refused_before_any_write(void **state) {
    (void)state;
    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    start_node(&p, redis, NULL);
    wait_health(p.port, 200);
    redis_do(redis, "SET", "sse:room:seq:full", "999999999999");
    srt_response r;
    for (int i = 0; i < 2; i++) {
        publish(p.port, "{\"room\":\"r\",\"data\":1,\"sequence\":\"full\"}", &r);
        srt_check_json_error(&r, 409, "sequence");
        srt_response_free(&r);
    }
    char *v = redis_get(redis, "sse:room:seq:full");
    assert_string_equal(v, "999999999999");
    free(v);
    srt_check_stop(&p);
    srt_redis_free(redis);
}

static void test_error_text_not_echoed(void **state) {
    (void)state;
    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    start_node(&p, redis, NULL);
    wait_health(p.port, 200);
    redis_do(redis, "SADD", "sse:room:seq:h", "member");
    redis_do(redis, "SET", "sse:room:seq:t", "not-a-number");
    static const char *const bodies[] = {
        "{\"room\":\"r\",\"data\":1,\"sequence\":\"h\"}",
        "{\"room\":\"r\",\"data\":1,\"sequence\":\"t\",\"local\":true}",
    };
    for (size_t i = 0; i < 2; i++) {
        srt_response r;
        publish(p.port, bodies[i], &r);
        srt_check_json_error(&r, 409, "sequence");
        if (strstr(r.body, "WRONGTYPE") || strstr(r.body, "Operation against") ||
            strstr(r.body, "ERR") || strstr(r.body, "not an integer"))
            fail_msg("the answer echoes Redis: %s", r.body);
        srt_response_free(&r);
    }
    srt_response st;
    assert_int_equal(srt_http_get(p.port, "/stats", &st), 0);
    assert_non_null(strstr(st.body, "\"sequence_failures\":2")); /* counted */
    srt_response_free(&st);
    srt_check_stop(&p);
    srt_redis_free(redis);
}

/* Without Redis the counters live in the server: an anonymous flood of new
 * names past the table's bound (65,536 by default) must not refuse every new
 * name after it until a restart. */
static void test_memory_table_not_exhausted(void **state) {
    (void)state;
    srt_proc p;
    start_node(&p, NULL, NULL);
    srt_conn c;
    assert_int_equal(srt_conn_open(&c, p.port, WAIT_MS), 0);
    enum { FLOOD = 65536 + 16, WINDOW = 256 };
    int sent = 0, answered = 0;
    while (answered < FLOOD) {
        while (sent < FLOOD && sent - answered < WINDOW) {
            char json[96];
            snprintf(json, sizeof json, "{\"room\":\"r\",\"data\":1,\"sequence\":\"f%d\"}", sent++);
            send_publish(&c, json);
        }
        srt_response r;
        read_response(&c, &r);
        if (r.status != 200) fail_msg("flood publish %d: %d %s", answered, r.status, r.body);
        srt_response_free(&r);
        answered++;
    }
    srt_conn_close(&c);
    srt_response r;
    publish(p.port, "{\"room\":\"r\",\"data\":1,\"sequence\":\"newcomer\"}", &r);
    free(check_sequenced(&r, 0, "0-000000000001"));
    srt_response_free(&r);
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_memory_ids, srt_teardown_servers),
        cmocka_unit_test_teardown(test_two_nodes_concurrent, srt_teardown_servers),
        cmocka_unit_test_teardown(test_pipelined_order, srt_teardown_servers),
        cmocka_unit_test_teardown(test_half_close_after_pipelining, srt_teardown_servers),
        cmocka_unit_test_teardown(test_redis_down_503, srt_teardown_servers),
        cmocka_unit_test_teardown(test_client_gone_before_reply, srt_teardown_servers),
        cmocka_unit_test_teardown(test_other_keys_untouched, srt_teardown_servers),
        cmocka_unit_test_teardown(test_history_room_not_blocked, srt_teardown_servers),
        cmocka_unit_test_teardown(test_refused_before_any_write, srt_teardown_servers),
        cmocka_unit_test_teardown(test_error_text_not_echoed, srt_teardown_servers),
        cmocka_unit_test_teardown(test_memory_table_not_exhausted, srt_teardown_servers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
