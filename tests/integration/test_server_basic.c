/* SPDX-License-Identifier: MIT */
/*
 * test_server_basic.c: the sserooms binary's command line and its normal
 * HTTP behaviour, over real sockets: --version/--help/bad flags, settings
 * from the environment, /healthz /rooms /stats, subscribe + publish byte for
 * byte, multi-room de-duplication, room isolation, data fidelity, the retry
 * field, multi-line data, keep-alive, disconnect cleanup, heartbeats and
 * CORS. Every test starts its own server on a free port.
 */
#include "srt_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- command line ------------------------------------------------------ */

static void run_expect(const char *const *args, const char *const *env, int status) {
    srt_run_result r;
    int st = srt_run(args, env, 5000, &r);
    if (st != status) {
        fprintf(stderr, "args:");
        for (const char *const *a = args; *a; a++) fprintf(stderr, " '%s'", *a);
        fprintf(stderr, "\nstdout: %s\nstderr: %s\n", r.out, r.err);
        srt_run_result_free(&r);
        fail_msg("expected exit status %d, got %d", status, st);
    }
    if (status == 2 && r.err_len == 0) {
        srt_run_result_free(&r);
        fail_msg("a usage error must be explained on stderr");
    }
    srt_run_result_free(&r);
}

static void test_version_help_and_bad_flags(void **state) {
    (void)state;
    srt_run_result r;
    assert_int_equal(srt_run((const char *[]){"--version", NULL}, NULL, 5000, &r), 0);
    assert_string_equal(r.out, "sserooms 0.1.0\n");
    srt_run_result_free(&r);

    assert_int_equal(srt_run((const char *[]){"--help", NULL}, NULL, 5000, &r), 0);
    static const char *const documented[] = {"--host",
                                             "--port",
                                             "--heartbeat-ms",
                                             "--max-queue-bytes",
                                             "--max-header-bytes",
                                             "--max-body-bytes",
                                             "--request-timeout-ms",
                                             "--max-rooms-per-conn",
                                             "--max-room-len",
                                             "--max-connections",
                                             "--cors-origin",
                                             "--publish-key",
                                             "--redis",
                                             "--channel-prefix",
                                             "--node-id",
                                             "--version",
                                             "SSEROOMS_"};
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++) {
        if (!strstr(r.out, documented[i])) {
            fprintf(stderr, "--help output:\n%s\n", r.out);
            srt_run_result_free(&r);
            fail_msg("--help does not mention %s", documented[i]);
        }
    }
    srt_run_result_free(&r);

    run_expect((const char *[]){"--no-such-flag", NULL}, NULL, 2);
    run_expect((const char *[]){"--port", "notaport", NULL}, NULL, 2);
    run_expect((const char *[]){"--port", "70000", NULL}, NULL, 2);
    run_expect((const char *[]){"--port", NULL}, NULL, 2);
    run_expect((const char *[]){"--heartbeat-ms", "-1", NULL}, NULL, 2);
    run_expect((const char *[]){"--max-queue-bytes", "12abc", NULL}, NULL, 2);
    run_expect((const char *[]){"--max-rooms-per-conn", "", NULL}, NULL, 2);
    run_expect((const char *[]){"extra-positional", NULL}, NULL, 2);
    /* a bad value from the environment is just as fatal */
    run_expect((const char *[]){"--host", "127.0.0.1", NULL},
               (const char *[]){"SSEROOMS_PORT=notaport", NULL}, 2);
}

/* Reads blocks until a heartbeat comment; fails after timeout_ms. */
static void expect_heartbeat(srt_sse *s, int timeout_ms) {
    char *block;
    int rc = srt_sse_next(s, &block, NULL, timeout_ms);
    if (rc != 0) fail_msg("no heartbeat within %d ms (%d)", timeout_ms, rc);
    bool ok = strcmp(block, ": heartbeat\n\n") == 0;
    if (!ok) srt_dump_bytes("  block", block, strlen(block));
    free(block);
    assert_true(ok);
}

static void test_settings_from_environment(void **state) {
    (void)state;
    /* host, port and heartbeat all from SSEROOMS_* variables */
    srt_proc p;
    srt_proc_opts opts = {
        .no_listen_flags = true,
        .env = (const char *[]){"SSEROOMS_HOST=127.0.0.1", "SSEROOMS_PORT=0",
                                "SSEROOMS_HEARTBEAT_MS=200", NULL},
    };
    assert_int_equal(srt_proc_start(&p, &opts), 0);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=env");
    expect_heartbeat(&s, 3000);
    srt_sse_close(&s);
    srt_check_stop(&p);

    /* a flag wins over its variable */
    srt_proc_opts opts2 = {
        .args = (const char *[]){"--heartbeat-ms", "200", NULL},
        .env = (const char *[]){"SSEROOMS_HEARTBEAT_MS=600000", NULL},
    };
    assert_int_equal(srt_proc_start(&p, &opts2), 0);
    srt_check_sse_open(&s, p.port, "/sse?room=env");
    expect_heartbeat(&s, 3000);
    srt_sse_close(&s);
    srt_check_stop(&p);
}

/* ---- info endpoints ------------------------------------------------------ */

static void test_info_endpoints(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_check_healthy(p.port);

    srt_response r;
    assert_int_equal(srt_http_get(p.port, "/rooms", &r), 0);
    srt_check_status(&r, 200);
    assert_int_equal(srt_rooms_count(r.body), 0);
    srt_response_free(&r);

    static const char *const keys[] = {"connections",      "streams",          "rooms",
                                       "messages_in",      "messages_out",     "bytes_out",
                                       "slow_disconnects", "rejected_requests"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_true(srt_check_stat(p.port, keys[i]) >= 0);
    assert_int_equal(srt_check_stat(p.port, "streams"), 0);
    assert_int_equal(srt_check_stat(p.port, "messages_in"), 0);

    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=counted");
    srt_check_publish_delivered(p.port, "{\"room\":\"counted\",\"data\":1}", 1);
    srt_check_frame(&s, "data: 1\n\n");
    assert_int_equal(srt_check_stat(p.port, "streams"), 1);
    assert_int_equal(srt_check_stat(p.port, "rooms"), 1);
    assert_int_equal(srt_check_stat(p.port, "messages_in"), 1);
    assert_int_equal(srt_check_stat(p.port, "messages_out"), 1);
    assert_true(srt_check_stat(p.port, "bytes_out") >= (long long)strlen("data: 1\n\n"));
    assert_true(srt_check_stat(p.port, "connections") >= 1);
    srt_sse_close(&s);
    srt_check_stop(&p);
}

/* ---- publish and receive --------------------------------------------------- */

static void test_publish_byte_exact(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=chat");

    /* exactly what `curl -d '...' http://.../publish` sends */
    static const char *const curl_headers[] = {"User-Agent: curl/7.88.1", "Accept: */*",
                                               "Content-Type: application/x-www-form-urlencoded",
                                               NULL};
    const char *body = "{\"room\":\"chat\",\"event\":\"message\",\"data\":{\"from\":\"system\","
                       "\"text\":\"Hi\"},\"id\":\"1\"}";
    srt_response r;
    assert_int_equal(srt_http_request(p.port, "POST", "/publish", curl_headers, body, &r), 0);
    srt_check_status(&r, 200);
    long long delivered = -1;
    assert_true(srt_json_int(r.body, "delivered", &delivered));
    assert_int_equal(delivered, 1);
    srt_response_free(&r);

    srt_check_frame(&s, "id: 1\nevent: message\ndata: {\"from\":\"system\",\"text\":\"Hi\"}\n\n");
    srt_check_quiet(&s, 200);
    srt_sse_close(&s);
    srt_check_stop(&p);
}

static void test_multi_room_once(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_sse both, only_b;
    srt_check_sse_open(&both, p.port, "/sse?room=a&room=b");
    srt_check_sse_open(&only_b, p.port, "/sse?room=b");
    srt_check_publish_delivered(p.port, "{\"rooms\":[\"a\",\"b\"],\"data\":\"x\",\"id\":\"m1\"}",
                                2);
    srt_check_frame(&both, "id: m1\ndata: \"x\"\n\n");
    srt_check_frame(&only_b, "id: m1\ndata: \"x\"\n\n");
    srt_check_quiet(&both, 300);
    srt_check_quiet(&only_b, 10);

    /* listing a room twice changes nothing either */
    srt_check_publish_delivered(p.port, "{\"rooms\":[\"b\",\"a\",\"b\"],\"data\":2}", 2);
    srt_check_frame(&both, "data: 2\n\n");
    srt_check_frame(&only_b, "data: 2\n\n");
    srt_check_quiet(&both, 300);
    srt_sse_close(&both);
    srt_sse_close(&only_b);
    srt_check_stop(&p);
}

static void test_room_isolation(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_sse x, y;
    srt_check_sse_open(&x, p.port, "/sse?room=x");
    srt_check_sse_open(&y, p.port, "/sse?room=y");
    srt_check_publish_delivered(p.port, "{\"room\":\"x\",\"data\":\"for x\"}", 1);
    srt_check_publish_delivered(p.port, "{\"room\":\"nobody\",\"data\":0}", 0);
    srt_check_frame(&x, "data: \"for x\"\n\n");
    srt_check_quiet(&y, 300);
    srt_check_quiet(&x, 10);
    srt_check_publish_delivered(p.port, "{\"room\":\"y\",\"data\":\"for y\"}", 1);
    srt_check_frame(&y, "data: \"for y\"\n\n");
    srt_check_quiet(&x, 100);
    srt_sse_close(&x);
    srt_sse_close(&y);
    srt_check_stop(&p);
}

static void test_data_byte_identical(void **state) {
    (void)state;
    static const char *const values[] = {"0.1",
                                         "1e21",
                                         "0.30000000000000004",
                                         "\"[DONE]\"",
                                         "null",
                                         "\"\\ud800\"",
                                         "\"a\\u0000b\"",
                                         "12345678901234567890",
                                         "-0",
                                         "1E+2",
                                         "true",
                                         "\"\\/\\\"\\\\\"",
                                         "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
                                         "[]",
                                         "{}",
                                         "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}",
                                         "\"\\uD83D\\uDE00\""};
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=fidelity");
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char body[256], frame[256];
        snprintf(body, sizeof body, "{\"room\":\"fidelity\",\"data\":%s}", values[i]);
        snprintf(frame, sizeof frame, "data: %s\n\n", values[i]);
        srt_check_publish_delivered(p.port, body, 1);
        srt_check_frame(&s, frame);
    }
    srt_sse_close(&s);
    srt_check_stop(&p);
}

static void test_fields_retry_meta_local(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=r");
    srt_check_publish_delivered(
        p.port, "{\"retry\":5000,\"data\":1,\"event\":\"tick\",\"id\":\"7\",\"room\":\"r\"}", 1);
    srt_check_frame(&s, "id: 7\nevent: tick\ndata: 1\nretry: 5000\n\n");
    /* retry 0 and empty id / event are "not set" */
    srt_check_publish_delivered(
        p.port, "{\"room\":\"r\",\"data\":2,\"retry\":0,\"id\":\"\",\"event\":\"\"}", 1);
    srt_check_frame(&s, "data: 2\n\n");
    srt_check_publish_delivered(p.port, "{\"room\":\"r\",\"event\":\"e\",\"data\":3,\"retry\":1}",
                                1);
    srt_check_frame(&s, "event: e\ndata: 3\nretry: 1\n\n");
    /* meta is never sent to clients; local changes nothing on one node */
    srt_check_publish_delivered(
        p.port, "{\"room\":\"r\",\"data\":4,\"meta\":{\"tenant\":\"t1\"},\"local\":true}", 1);
    srt_check_frame(&s, "data: 4\n\n");
    srt_check_publish_delivered(p.port, "{\"room\":\"r\",\"data\":5,\"local\":false}", 1);
    srt_check_frame(&s, "data: 5\n\n");
    srt_check_quiet(&s, 100);
    srt_sse_close(&s);
    srt_check_stop(&p);
}

static void test_data_text_kept_as_sent(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=m");
    /* a raw newline in JSON whitespace splits into data lines */
    srt_check_publish_delivered(p.port, "{\"room\":\"m\",\"data\":{\n\"a\":1}}", 1);
    srt_check_frame(&s, "data: {\ndata: \"a\":1}\n\n");
    srt_check_publish_delivered(p.port, "{\"room\":\"m\",\"data\":[1,\n2,\n3]}", 1);
    srt_check_frame(&s, "data: [1,\ndata: 2,\ndata: 3]\n\n");
    /* inner whitespace is kept, whitespace around the value is not part of it */
    srt_check_publish_delivered(p.port, "{\"room\":\"m\",\"data\": [ 1 , 2 ] , \"id\":\"w\"}", 1);
    srt_check_frame(&s, "id: w\ndata: [ 1 , 2 ]\n\n");
    srt_sse_close(&s);
    srt_check_stop(&p);
}

/* ---- connections ------------------------------------------------------------ */

static void test_keep_alive(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=ka");

    srt_conn c;
    assert_int_equal(srt_conn_open(&c, p.port, SRT_TIMEOUT_MS), 0);
    srt_response r;
    assert_int_equal(srt_http_send_request(&c, "GET", "/healthz", NULL, NULL, 0, SRT_TIMEOUT_MS),
                     0);
    assert_int_equal(srt_http_read_response(&c, &r, SRT_TIMEOUT_MS), 0);
    srt_check_status(&r, 200);
    srt_response_free(&r);

    const char *body = "{\"room\":\"ka\",\"data\":\"one connection\"}";
    assert_int_equal(srt_http_send_request(&c, "POST", "/publish",
                                           (const char *[]){"Content-Type: application/json", NULL},
                                           body, strlen(body), SRT_TIMEOUT_MS),
                     0);
    assert_int_equal(srt_http_read_response(&c, &r, SRT_TIMEOUT_MS), 0);
    srt_check_status(&r, 200);
    long long delivered = -1;
    assert_true(srt_json_int(r.body, "delivered", &delivered));
    assert_int_equal(delivered, 1);
    srt_response_free(&r);
    srt_check_frame(&s, "data: \"one connection\"\n\n");

    assert_int_equal(srt_http_send_request(&c, "GET", "/rooms", NULL, NULL, 0, SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_http_read_response(&c, &r, SRT_TIMEOUT_MS), 0);
    srt_check_status(&r, 200);
    assert_int_equal(srt_rooms_members(r.body, "ka"), 1);
    srt_response_free(&r);

    /* two pipelined requests in one write get two responses in order */
    assert_int_equal(srt_conn_send_str(&c,
                                       "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                       "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
                                       SRT_TIMEOUT_MS),
                     0);
    assert_int_equal(srt_http_read_response(&c, &r, SRT_TIMEOUT_MS), 0);
    srt_check_status(&r, 200);
    srt_response_free(&r);
    assert_int_equal(srt_http_read_response(&c, &r, SRT_TIMEOUT_MS), 0);
    srt_check_status(&r, 404);
    srt_response_free(&r);

    /* Connection: close is honoured */
    assert_int_equal(srt_http_send_request(&c, "GET", "/healthz",
                                           (const char *[]){"Connection: close", NULL}, NULL, 0,
                                           SRT_TIMEOUT_MS),
                     0);
    assert_int_equal(srt_http_read_response(&c, &r, SRT_TIMEOUT_MS), 0);
    srt_check_status(&r, 200);
    srt_response_free(&r);
    assert_int_equal(srt_conn_wait_eof(&c, 3000), 0);
    srt_conn_close(&c);
    srt_sse_close(&s);
    srt_check_stop(&p);
}

static void test_disconnect_cleanup(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_sse one, two;
    srt_check_sse_open(&one, p.port, "/sse?room=chat&room=side");
    srt_check_sse_open(&two, p.port, "/sse?room=chat");
    srt_check_room_members(p.port, "chat", 2, 1000);
    srt_check_room_members(p.port, "side", 1, 1000);
    assert_int_equal(srt_check_stat(p.port, "streams"), 2);

    srt_sse_close(&one);
    srt_check_room_members(p.port, "chat", 1, 3000);
    srt_check_room_members(p.port, "side", 0, 3000);
    srt_check_publish_delivered(p.port, "{\"room\":\"chat\",\"data\":1}", 1);
    srt_check_frame(&two, "data: 1\n\n");

    srt_sse_close(&two);
    srt_check_room_members(p.port, "chat", 0, 3000);
    srt_response r;
    assert_int_equal(srt_http_get(p.port, "/rooms", &r), 0);
    assert_int_equal(srt_rooms_count(r.body), 0);
    srt_response_free(&r);
    assert_int_equal(srt_check_stat(p.port, "streams"), 0);
    assert_int_equal(srt_check_stat(p.port, "rooms"), 0);
    srt_check_publish_delivered(p.port, "{\"room\":\"chat\",\"data\":2}", 0);
    srt_check_stop(&p);
}

static void test_heartbeat(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--heartbeat-ms", "200", NULL), 0);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=hb");
    expect_heartbeat(&s, 3000);
    int64_t start = srt_now_ms();
    expect_heartbeat(&s, 3000);
    expect_heartbeat(&s, 3000);
    int64_t two = srt_now_ms() - start;
    /* two intervals of 200 ms: not a burst, not far late */
    if (two < 250 || two > 2000)
        fail_msg("two heartbeat intervals took %lld ms (want ~400)", (long long)two);
    /* frames and heartbeats interleave cleanly */
    srt_check_publish_delivered(p.port, "{\"room\":\"hb\",\"data\":1}", 1);
    char *block;
    assert_int_equal(srt_sse_next_event(&s, &block, NULL, 3000), 0);
    assert_string_equal(block, "data: 1\n\n");
    free(block);
    srt_sse_close(&s);
    srt_check_stop(&p);

    /* --heartbeat-ms 0 disables heartbeats */
    assert_int_equal(srt_server_start(&p, "--heartbeat-ms", "0", NULL), 0);
    srt_check_sse_open(&s, p.port, "/sse?room=hb");
    srt_check_quiet(&s, 500);
    srt_sse_close(&s);
    srt_check_stop(&p);
}

/* ---- CORS -------------------------------------------------------------------- */

static void expect_cors_ex(int port, const char *path, const char *origin, bool allowed,
                           bool credentials) {
    char hdr[256];
    snprintf(hdr, sizeof hdr, "Origin: %s", origin);
    srt_sse s;
    int rc = srt_sse_open_ex(&s, port, path, (const char *[]){hdr, NULL}, NULL, SRT_TIMEOUT_MS);
    if (allowed) {
        assert_int_equal(rc, 0);
        const char *acao = srt_response_header(&s.head, "Access-Control-Allow-Origin");
        if (!acao || strcmp(acao, origin) != 0)
            fail_msg("Origin %s: Access-Control-Allow-Origin is \"%s\"", origin,
                     acao ? acao : "(absent)");
        const char *vary = srt_response_header(&s.head, "Vary");
        if (!vary || !strcasestr(vary, "Origin")) fail_msg("Origin %s: no Vary: Origin", origin);
        /* credentials (cookies) only for an origin listed by name, never by "*" */
        const char *acac = srt_response_header(&s.head, "Access-Control-Allow-Credentials");
        if (credentials && (!acac || strcmp(acac, "true") != 0))
            fail_msg("Origin %s: Access-Control-Allow-Credentials is \"%s\", not true", origin,
                     acac ? acac : "(absent)");
        if (!credentials && acac)
            fail_msg("Origin %s (allowed by *): Access-Control-Allow-Credentials: %s", origin,
                     acac);
    } else {
        /* refused or served without the header: either way no CORS grant */
        assert_true(rc == 0 || rc == 403);
        assert_null(srt_response_header(&s.head, "Access-Control-Allow-Origin"));
    }
    srt_sse_close(&s);
}

static void expect_cors(int port, const char *path, const char *origin, bool allowed) {
    expect_cors_ex(port, path, origin, allowed, true);
}

static void test_cors(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--cors-origin", "https://a.example", "--cors-origin",
                                      "https://b.example,https://c.example", NULL),
                     0);
    expect_cors(p.port, "/sse?room=c", "https://a.example", true);
    expect_cors(p.port, "/sse?room=c", "https://b.example", true);
    expect_cors(p.port, "/sse?room=c", "https://c.example", true);
    expect_cors(p.port, "/sse?room=c", "https://evil.example", false);
    expect_cors(p.port, "/sse?room=c", "https://a.example.evil", false);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=c");
    assert_null(srt_response_header(&s.head, "Access-Control-Allow-Origin"));
    srt_sse_close(&s);

    /* the publish answer carries the grant too */
    srt_response r;
    assert_int_equal(srt_http_request(p.port, "POST", "/publish",
                                      (const char *[]){"Origin: https://a.example", NULL},
                                      "{\"room\":\"c\",\"data\":1}", &r),
                     0);
    srt_check_status(&r, 200);
    const char *acao = srt_response_header(&r, "Access-Control-Allow-Origin");
    assert_non_null(acao);
    assert_string_equal(acao, "https://a.example");
    const char *acac = srt_response_header(&r, "Access-Control-Allow-Credentials");
    assert_non_null(acac);
    assert_string_equal(acac, "true");
    srt_response_free(&r);
    /* and the preflight */
    assert_int_equal(srt_http_request(p.port, "OPTIONS", "/tickets",
                                      (const char *[]){"Origin: https://b.example",
                                                       "Access-Control-Request-Method: POST", NULL},
                                      NULL, &r),
                     0);
    srt_check_status(&r, 204);
    acac = srt_response_header(&r, "Access-Control-Allow-Credentials");
    assert_non_null(acac);
    assert_string_equal(acac, "true");
    srt_response_free(&r);
    srt_check_stop(&p);

    /* "*" allows any origin, echoed back */
    assert_int_equal(srt_server_start(&p, "--cors-origin", "*", NULL), 0);
    expect_cors_ex(p.port, "/sse?room=c", "https://anything.example", true, false);
    srt_check_stop(&p);
    /* "*" next to a listed origin: credentials for that one only */
    assert_int_equal(srt_server_start(&p, "--cors-origin", "*,https://app.example", NULL), 0);
    expect_cors_ex(p.port, "/sse?room=c", "https://anything.example", true, false);
    expect_cors_ex(p.port, "/sse?room=c", "https://app.example", true, true);
    srt_check_stop(&p);

    /* no --cors-origin: no grant */
    assert_int_equal(srt_server_start(&p, NULL), 0);
    expect_cors(p.port, "/sse?room=c", "https://a.example", false);
    srt_check_stop(&p);

    /* from the environment, as a comma list */
    srt_proc_opts opts = {
        .env = (const char *[]){"SSEROOMS_CORS_ORIGIN=https://x.example,https://y.example", NULL}};
    assert_int_equal(srt_proc_start(&p, &opts), 0);
    expect_cors(p.port, "/sse?room=c", "https://y.example", true);
    expect_cors(p.port, "/sse?room=c", "https://z.example", false);
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_version_help_and_bad_flags, srt_teardown_servers),
        cmocka_unit_test_teardown(test_settings_from_environment, srt_teardown_servers),
        cmocka_unit_test_teardown(test_info_endpoints, srt_teardown_servers),
        cmocka_unit_test_teardown(test_publish_byte_exact, srt_teardown_servers),
        cmocka_unit_test_teardown(test_multi_room_once, srt_teardown_servers),
        cmocka_unit_test_teardown(test_room_isolation, srt_teardown_servers),
        cmocka_unit_test_teardown(test_data_byte_identical, srt_teardown_servers),
        cmocka_unit_test_teardown(test_fields_retry_meta_local, srt_teardown_servers),
        cmocka_unit_test_teardown(test_data_text_kept_as_sent, srt_teardown_servers),
        cmocka_unit_test_teardown(test_keep_alive, srt_teardown_servers),
        cmocka_unit_test_teardown(test_disconnect_cleanup, srt_teardown_servers),
        cmocka_unit_test_teardown(test_heartbeat, srt_teardown_servers),
        cmocka_unit_test_teardown(test_cors, srt_teardown_servers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
