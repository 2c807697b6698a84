/* SPDX-License-Identifier: MIT */
/*
 * test_http2.c: HTTP/2 against the real binary over real sockets, with
 * --h2c (cleartext, prior knowledge) and over TLS (ALPN h2, a CA the test
 * makes): curl --http2-prior-knowledge, curl --http2 over TLS and curl
 * --http1.1 (plain and TLS) receive byte-identical SSE frames, with
 * --threads 1 and 2, and publishes over HTTP/2 reach them; 12 EventSource
 * streams on one connection all receive (with --threads 1 and 2), and
 * POST /publish works on the same connection; a stream closes on its own
 * (the client's RST_STREAM leaves its room, its siblings go on); a
 * Last-Event-ID replay arrives on its stream; a stream
 * whose flow-control window stays shut is a slow consumer under
 * --max-queue-bytes and is reset while a healthy subscriber keeps
 * receiving; connections whose clients reset their sockets mid-stream,
 * round after round, disturb no other subscriber, nor a shutdown under
 * load; protocol violations are answered with GOAWAY, counted, and
 * disturb nobody; shutdown sends GOAWAY; --h2-max-streams is the
 * advertised SETTINGS_MAX_CONCURRENT_STREAMS; without --h2c the preface is
 * not HTTP/2; each stream counts against --max-connections and
 * --max-connections-per-addr (1 + n per connection), and the stream past
 * a limit is answered 503 or 429 alone, counted.
 *
 * The cases that name no --threads run twice (CMake): integration.test_http2
 * at --threads 1, where the main loop writes the connection, and
 * .threads2, where a writer thread owns it (its streams' frames, ends and
 * resets travel to it as commands; slow consumers are found there).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "srt_check.h"
#include "srt_h2.h"
#include "srt_http.h"
#include "srt_json.h"
#include "srt_proc.h"
#include "srt_redis.h"
#include "srt_sse.h"
#include "srt_tls.h"

/* A member of object `obj` of a GET /stats answer. */
static long long stats_member(const srt_response *r, const char *obj, const char *key) {
    const char *v;
    size_t vlen;
    assert_true(srt_json_member(r->body, r->body_len, obj, &v, &vlen));
    char *text = strndup(v, vlen);
    long long out = -1;
    assert_true(srt_json_int(text, key, &out));
    free(text);
    return out;
}

/* A member of the "http2" object of GET /stats. */
static long long h2_stat(int port, const char *key) {
    srt_response r;
    assert_int_equal(srt_http_get(port, "/stats", &r), 0);
    srt_check_status(&r, 200);
    long long out = stats_member(&r, "http2", key);
    srt_response_free(&r);
    return out;
}

/* The same over an open keep-alive connection (an observer that is
 * counted already, for tests at a connection limit). */
static long long kept_stat(srt_conn *c, const char *obj, const char *key) {
    srt_response r;
    assert_int_equal(srt_http_send_request(c, "GET", "/stats", NULL, NULL, 0, SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_http_read_response(c, &r, SRT_TIMEOUT_MS), 0);
    srt_check_status(&r, 200);
    long long out = stats_member(&r, obj, key);
    srt_response_free(&r);
    return out;
}

/* A sample of GET /metrics (a line "name value"). */
static double metric(int port, const char *name) {
    srt_response r;
    assert_int_equal(srt_http_get(port, "/metrics", &r), 0);
    srt_check_status(&r, 200);
    size_t n = strlen(name);
    double v = -1;
    for (const char *l = r.body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, name, n) == 0 && l[n] == ' ') {
            v = strtod(l + n + 1, NULL);
            break;
        }
    srt_response_free(&r);
    if (v < 0) fail_msg("no sample %s in /metrics", name);
    return v;
}

/* --- curl, in the background ------------------------------------------------ */

static pid_t spawn(const char *const *argv) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void reap(pid_t pid) {
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    srt_buf b = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) srt_buf_append(&b, tmp, n);
    fclose(f);
    *len = b.len;
    if (!b.data) srt_buf_append(&b, "", 0);
    return b.data;
}

/* Waits until the file holds exactly `expected`. */
static bool file_becomes(const char *path, const char *expected, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    for (;;) {
        size_t len = 0;
        char *got = slurp(path, &len);
        bool same = got && len == strlen(expected) && memcmp(got, expected, len) == 0;
        bool longer = got && len > strlen(expected);
        free(got);
        if (same) return true;
        if (longer || srt_ms_left(deadline) == 0) return false;
        srt_sleep_ms(20);
    }
}

static void test_curl_h2c_byte_identical(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--h2c", NULL), 0);
    char url[128], h1_out[512], h2_out[512], h2_head[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/sse?room=curl", p.port);
    snprintf(h1_out, sizeof(h1_out), "%s/test-logs/h2-curl-h1.%d", SR_TEST_BINARY_DIR,
             (int)getpid());
    snprintf(h2_out, sizeof(h2_out), "%s/test-logs/h2-curl-h2.%d", SR_TEST_BINARY_DIR,
             (int)getpid());
    snprintf(h2_head, sizeof(h2_head), "%s/test-logs/h2-curl-h2-head.%d", SR_TEST_BINARY_DIR,
             (int)getpid());
    const char *h1[] = {"curl", "-sS", "-N",   "--http1.1", "--max-time",
                        "60",   "-o",  h1_out, url,         NULL};
    const char *h2[] = {"curl",       "-sS",   "-N", "--http2-prior-knowledge",
                        "--max-time", "60",    "-o", h2_out,
                        "-D",         h2_head, url,  NULL};
    pid_t c1 = spawn(h1), c2 = spawn(h2);
    srt_check_room_members(p.port, "curl", 2, SRT_TIMEOUT_MS);
    srt_check_publish_delivered(
        p.port, "{\"rooms\":[\"curl\"],\"event\":\"message\",\"id\":\"1\",\"data\":{\"a\":[1,2]}}",
        2);
    srt_check_publish_delivered(p.port, "{\"rooms\":[\"curl\"],\"data\":\"[DONE]\",\"retry\":5000}",
                                2);
    srt_check_publish_delivered(p.port, "{\"rooms\":[\"curl\"],\"event\":\"x\",\"data\":null}", 2);
    const char *expected = "id: 1\nevent: message\ndata: {\"a\":[1,2]}\n\n"
                           "data: \"[DONE]\"\nretry: 5000\n\n"
                           "event: x\ndata: null\n\n";
    assert_true(file_becomes(h1_out, expected, SRT_TIMEOUT_MS));
    assert_true(file_becomes(h2_out, expected, SRT_TIMEOUT_MS));
    reap(c1);
    reap(c2);
    size_t len;
    char *head = slurp(h2_head, &len);
    assert_non_null(head);
    assert_non_null(strstr(head, "HTTP/2 200"));
    assert_non_null(strstr(head, "content-type: text/event-stream"));
    assert_null(strcasestr(head, "connection:")); /* RFC 9113 §8.2.2 */
    assert_null(strcasestr(head, "keep-alive"));
    free(head);
    unlink(h1_out);
    unlink(h2_out);
    unlink(h2_head);
    assert_true(h2_stat(p.port, "connections_total") >= 1);
    srt_check_stop(&p);
}

/* Over TLS: ALPN h2. curl --http2 and curl --http1.1 receive the same
 * bytes, which are those of the plain HTTP run above. */
static void tls_byte_identical(const char *threads) {
    srt_tls_ca ca;
    srt_tls_cert cert;
    assert_int_equal(srt_tls_ca_make(&ca, "sserooms h2 test CA"), 0);
    assert_int_equal(srt_tls_cert_make(&ca, "server", "localhost", "DNS:localhost,IP:127.0.0.1",
                                       true, &cert),
                     0);
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--tls-cert", cert.cert, "--tls-key", cert.key,
                                      "--threads", threads, "--heartbeat-ms", "0", NULL),
                     0);
    char url[128], h1_out[256], h2_out[256], h2_log[256];
    snprintf(url, sizeof(url), "https://localhost:%d/sse?room=tls", p.port);
    snprintf(h1_out, sizeof(h1_out), "%s/h1.out", ca.dir);
    snprintf(h2_out, sizeof(h2_out), "%s/h2.out", ca.dir);
    snprintf(h2_log, sizeof(h2_log), "%s/h2.log", ca.dir);
    const char *h1[] = {"curl",       "-sS", "-N", "--http1.1", "--cacert", ca.cert,
                        "--max-time", "60",  "-o", h1_out,      url,        NULL};
    const char *h2[] = {"curl",       "-sS", "-N", "-v",   "--http2", "--cacert", ca.cert,
                        "--max-time", "60",  "-o", h2_out, url,       NULL};
    pid_t c1 = srt_cmd_spawn(h1, "/dev/null"), c2 = srt_cmd_spawn(h2, h2_log);
    assert_true(c1 > 0 && c2 > 0);
    /* the members are counted over TLS too: ask over HTTPS with curl */
    char rooms_url[128];
    snprintf(rooms_url, sizeof(rooms_url), "https://localhost:%d/rooms", p.port);
    int64_t deadline = srt_now_ms() + SRT_TIMEOUT_MS;
    for (;;) {
        const char *argv[] = {"curl", "-sS", "--cacert", ca.cert, rooms_url, NULL};
        char *out = NULL;
        assert_int_equal(srt_cmd_run(argv, NULL, SRT_TIMEOUT_MS, &out), 0);
        bool two = srt_rooms_members(out, "tls") == 2;
        free(out);
        if (two) break;
        assert_true(srt_ms_left(deadline) > 0);
        srt_sleep_ms(50);
    }
    char pub_url[128];
    snprintf(pub_url, sizeof(pub_url), "https://localhost:%d/publish", p.port);
    static const char *const msgs[] = {
        "{\"rooms\":[\"tls\"],\"event\":\"message\",\"id\":\"1\",\"data\":{\"a\":[1,2]}}",
        "{\"rooms\":[\"tls\"],\"data\":\"[DONE]\",\"retry\":5000}",
        "{\"rooms\":[\"tls\"],\"event\":\"x\",\"data\":null}",
    };
    for (int i = 0; i < 3; i++) { /* published over HTTP/2 too */
        const char *argv[] = {"curl", "-sS",   "--http2", "--cacert", ca.cert,
                              "-d",   msgs[i], pub_url,   NULL};
        char *out = NULL;
        assert_int_equal(srt_cmd_run(argv, NULL, SRT_TIMEOUT_MS, &out), 0);
        assert_non_null(strstr(out, "\"delivered\":2"));
        free(out);
    }
    const char *expected = "id: 1\nevent: message\ndata: {\"a\":[1,2]}\n\n"
                           "data: \"[DONE]\"\nretry: 5000\n\n"
                           "event: x\ndata: null\n\n";
    assert_true(file_becomes(h1_out, expected, SRT_TIMEOUT_MS));
    assert_true(file_becomes(h2_out, expected, SRT_TIMEOUT_MS));
    srt_cmd_stop(c1);
    srt_cmd_stop(c2);
    size_t len;
    char *log = slurp(h2_log, &len);
    assert_non_null(log);
    if (!strstr(log, "ALPN: server accepted h2") || !strstr(log, "< HTTP/2 200")) {
        fprintf(stderr, "curl -v said:\n%s\n", log);
        fail_msg("curl --http2 did not get h2 by ALPN");
    }
    assert_null(strcasestr(log, "< connection:"));
    free(log);
    srt_check_stop(&p);
    srt_tls_ca_remove(&ca);
}

static void test_curl_tls_h2_byte_identical(void **state) {
    (void)state;
    tls_byte_identical("1");
}

static void test_curl_tls_h2_writer_threads(void **state) {
    (void)state;
    tls_byte_identical("2");
}

/* --- many streams on one connection ------------------------------------------ */

static void twelve_streams(const char *threads) {
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--h2c", "--threads", threads, NULL), 0);
    srt_h2 h;
    assert_int_equal(srt_h2_open(&h, p.port, 0), 0);
    int idx[12];
    for (int i = 0; i < 12; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/sse?room=r%d", i);
        idx[i] = srt_h2_request(&h, "GET", path, NULL, NULL);
        assert_true(idx[i] >= 0);
    }
    for (int i = 0; i < 12; i++) {
        assert_true(srt_h2_wait_status(&h, idx[i], SRT_TIMEOUT_MS));
        assert_int_equal(h.st[idx[i]].status, 200);
        assert_non_null(strstr(h.st[idx[i]].fields.data, "content-type: text/event-stream"));
        assert_null(strstr(h.st[idx[i]].fields.data, "connection:"));
    }
    /* a plain HTTP/1.1 subscriber too */
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=r3");
    srt_check_room_members(p.port, "r3", 2, SRT_TIMEOUT_MS);
    assert_int_equal(h2_stat(p.port, "connections"), 1);
    assert_int_equal(h2_stat(p.port, "streams"), 12);
    /* one publish to all twelve rooms, over HTTP/2 on the same connection */
    int pub = srt_h2_request(
        &h, "POST", "/publish",
        "{\"rooms\":[\"r0\",\"r1\",\"r2\",\"r3\",\"r4\",\"r5\",\"r6\",\"r7\",\"r8\","
        "\"r9\",\"r10\",\"r11\"],\"event\":\"tick\",\"id\":\"7\",\"data\":{\"n\":7}}",
        NULL);
    assert_true(pub >= 0);
    assert_true(srt_h2_wait_closed(&h, pub, SRT_TIMEOUT_MS));
    assert_int_equal(h.st[pub].status, 200);
    assert_non_null(strstr(h.st[pub].data.data, "\"delivered\":13"));
    const char *frame = "id: 7\nevent: tick\ndata: {\"n\":7}\n\n";
    for (int i = 0; i < 12; i++) {
        assert_true(srt_h2_wait_data(&h, idx[i], frame, SRT_TIMEOUT_MS));
        assert_string_equal(h.st[idx[i]].data.data, frame); /* exactly the frame */
    }
    srt_check_frame(&s, frame);
    /* each write timed once, by this loop or by the writer thread that
     * owns the connection */
    assert_int_equal((long long)metric(p.port, "sserooms_delivery_latency_seconds_count"), 13);
    assert_int_equal(h2_stat(p.port, "on_writer_threads"), strcmp(threads, "1") == 0 ? 0 : 1);
    /* a second publish over HTTP/1.1 */
    srt_check_publish_delivered(p.port, "{\"rooms\":[\"r11\"],\"data\":2}", 1);
    assert_true(srt_h2_wait_data(&h, idx[11], "data: 2\n\n", SRT_TIMEOUT_MS));
    srt_sse_close(&s);
    srt_h2_close(&h);
    srt_check_room_members(p.port, "r0", 0, SRT_TIMEOUT_MS);
    assert_int_equal(h2_stat(p.port, "streams"), 0);
    srt_check_stop(&p);
}

static void test_twelve_streams_one_connection(void **state) {
    (void)state;
    twelve_streams("1");
}

static void test_twelve_streams_writer_threads(void **state) {
    (void)state;
    twelve_streams("2");
}

/* A stream the client resets leaves its room; its siblings go on. */
/* A publish over HTTP/2 to a Redis-backed node is answered once Redis took
 * it (issue #18: 200 means acknowledged), and a stopped Redis gives 503 on
 * the stream, with the connection and its other streams going on. */
static void test_publish_acknowledged_by_redis(void **state) {
    (void)state;
    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--h2c", "--redis", srt_redis_url(redis), NULL), 0);
    srt_h2 h;
    assert_int_equal(srt_h2_open(&h, p.port, 0), 0);
    int sub = srt_h2_request(&h, "GET", "/sse?room=ack", NULL, NULL);
    assert_true(sub >= 0);
    assert_true(srt_h2_wait_status(&h, sub, SRT_TIMEOUT_MS));
    srt_check_room_members(p.port, "ack", 1, SRT_TIMEOUT_MS);
    int pub = srt_h2_request(&h, "POST", "/publish", "{\"room\":\"ack\",\"data\":1}", NULL);
    assert_true(pub >= 0);
    assert_true(srt_h2_wait_closed(&h, pub, SRT_TIMEOUT_MS));
    assert_int_equal(h.st[pub].status, 200);
    assert_non_null(strstr(h.st[pub].data.data, "\"delivered\":1"));
    assert_true(srt_h2_wait_data(&h, sub, "data: 1\n\n", SRT_TIMEOUT_MS));
    assert_int_equal(srt_redis_stop(redis), 0);
    int down = srt_h2_request(&h, "POST", "/publish", "{\"room\":\"ack\",\"data\":2}", NULL);
    assert_true(down >= 0);
    assert_true(srt_h2_wait_closed(&h, down, SRT_TIMEOUT_MS));
    assert_int_equal(h.st[down].status, 503); /* delivered here, not to other nodes */
    assert_true(srt_h2_wait_data(&h, sub, "data: 2\n\n", SRT_TIMEOUT_MS));
    srt_h2_close(&h);
    srt_check_stop(&p);
    srt_redis_free(redis);
}

static void test_stream_closes_alone(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--h2c", "--heartbeat-ms", "200", NULL), 0);
    srt_h2 h;
    assert_int_equal(srt_h2_open(&h, p.port, 0), 0);
    int a = srt_h2_request(&h, "GET", "/sse?room=a", NULL, NULL);
    int b = srt_h2_request(&h, "GET", "/sse?room=b", NULL, NULL);
    assert_true(srt_h2_wait_status(&h, a, SRT_TIMEOUT_MS) &&
                srt_h2_wait_status(&h, b, SRT_TIMEOUT_MS));
    assert_true(srt_h2_wait_data(&h, b, ": heartbeat\n\n", SRT_TIMEOUT_MS)); /* per stream */
    srt_check_room_members(p.port, "a", 1, SRT_TIMEOUT_MS);
    srt_h2_reset(&h, a);
    srt_check_room_members(p.port, "a", 0, SRT_TIMEOUT_MS);
    srt_check_publish_delivered(p.port, "{\"rooms\":[\"b\"],\"data\":\"still\"}", 1);
    assert_true(srt_h2_wait_data(&h, b, "data: \"still\"\n\n", SRT_TIMEOUT_MS));
    assert_false(h.st[b].closed);
    assert_int_equal(h2_stat(p.port, "protocol_errors"), 0);
    srt_h2_close(&h);
    srt_check_stop(&p);
}

/* Last-Event-ID over HTTP/2: the replay arrives on the stream, then live
 * messages, exactly as over HTTP/1.1. */
static void test_history_replay_per_stream(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--h2c", "--history", "10", NULL), 0);
    srt_h2 h;
    assert_int_equal(srt_h2_open(&h, p.port, 0), 0);
    int first = srt_h2_request(&h, "GET", "/sse?room=hist", NULL, NULL);
    assert_true(srt_h2_wait_status(&h, first, SRT_TIMEOUT_MS));
    srt_check_room_members(p.port, "hist", 1, SRT_TIMEOUT_MS);
    for (int i = 1; i <= 3; i++) {
        char json[64];
        snprintf(json, sizeof(json), "{\"rooms\":[\"hist\"],\"data\":%d}", i);
        srt_check_publish_delivered(p.port, json, 1);
    }
    assert_true(srt_h2_wait_data(&h, first, "data: 3\n\n", SRT_TIMEOUT_MS));
    /* the id of the first message */
    const char *d = h.st[first].data.data;
    assert_true(strncmp(d, "id: ", 4) == 0);
    char id[64];
    size_t n = strcspn(d + 4, "\n");
    assert_true(n < sizeof(id));
    memcpy(id, d + 4, n);
    id[n] = '\0';
    const char *after = strstr(d, "data: 1\n\n");
    assert_non_null(after);
    after += strlen("data: 1\n\n"); /* the frames of messages 2 and 3 */
    const char *hdr[] = {"last-event-id", id, NULL};
    int again = srt_h2_request(&h, "GET", "/sse?room=hist", NULL, hdr);
    assert_true(srt_h2_wait_data(&h, again, "data: 3\n\n", SRT_TIMEOUT_MS));
    assert_string_equal(h.st[again].data.data, after);
    srt_check_publish_delivered(p.port, "{\"rooms\":[\"hist\"],\"data\":4}", 2);
    assert_true(srt_h2_wait_data(&h, again, "data: 4\n\n", SRT_TIMEOUT_MS));
    srt_h2_close(&h);
    srt_check_stop(&p);
}

/* A stream whose window stays shut: past --max-queue-bytes it is reset as
 * a slow consumer; a healthy subscriber receives everything. */
static void test_shut_window_slow_consumer(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--h2c", "--max-queue-bytes", "8192", NULL), 0);
    srt_h2 h;
    assert_int_equal(srt_h2_open(&h, p.port, 1024), 0); /* 1 KiB window, never updated */
    int slow = srt_h2_request(&h, "GET", "/sse?room=s", NULL, NULL);
    assert_true(srt_h2_wait_status(&h, slow, SRT_TIMEOUT_MS));
    srt_sse healthy;
    srt_check_sse_open(&healthy, p.port, "/sse?room=s");
    srt_check_room_members(p.port, "s", 2, SRT_TIMEOUT_MS);
    char json[1200];
    char fill[1001];
    memset(fill, 'x', 1000);
    fill[1000] = '\0';
    for (int i = 0; i < 20; i++) {
        snprintf(json, sizeof(json), "{\"rooms\":[\"s\"],\"id\":\"%d\",\"data\":\"%s\"}", i, fill);
        srt_check_publish(p.port, json);
        char expect[1100];
        snprintf(expect, sizeof(expect), "id: %d\ndata: \"%s\"\n\n", i, fill);
        srt_check_frame(&healthy, expect);
    }
    assert_true(srt_h2_wait_closed(&h, slow, SRT_TIMEOUT_MS));
    assert_int_equal(h.st[slow].error, NGHTTP2_CANCEL);
    assert_true(h.st[slow].data.len <= 1024);
    srt_check_room_members(p.port, "s", 1, SRT_TIMEOUT_MS);
    assert_int_equal(h2_stat(p.port, "slow_streams"), 1);
    assert_true(srt_check_stat(p.port, "slow_disconnects") >= 1);
    srt_sse_close(&healthy);
    srt_h2_close(&h);
    srt_check_stop(&p);
}

/* Opens n connections of STREAMS_EACH streams in room g, all answered. */
enum { STREAMS_EACH = 3 };
static void open_g_streams(srt_h2 *h, int n, int port) {
    for (int i = 0; i < n; i++) {
        assert_int_equal(srt_h2_open(&h[i], port, 1 << 20), 0);
        for (int k = 0; k < STREAMS_EACH; k++) {
            int sid = srt_h2_request(&h[i], "GET", "/sse?room=g", NULL, NULL);
            assert_true(srt_h2_wait_status(&h[i], sid, SRT_TIMEOUT_MS));
        }
    }
}

/* Publishes message id to room g with data "fill". */
static void publish_g(int port, int id, const char *fill) {
    char json[700];
    snprintf(json, sizeof(json), "{\"rooms\":[\"g\"],\"id\":\"%d\",\"data\":\"%s\"}", id, fill);
    srt_check_publish(port, json);
}

/* Connections that go while their frames flow: round after round,
 * clients reset their sockets (SO_LINGER 0) with broadcasts on their way
 * to them and more published right after. Their streams leave the room, a
 * healthy subscriber gets every message in order, and a shutdown with
 * streams flowing to connections that do not read exits 0. At --threads 2
 * a writer owns these connections and may fail a write before the main
 * loop reads the reset (test_bench_tools's shutdown case is the one that
 * reliably crashed the writer before its fix). */
static void test_connections_going_while_frames_flow(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--h2c", "--max-queue-bytes", "65536", NULL), 0);
    srt_sse healthy;
    srt_check_sse_open(&healthy, p.port, "/sse?room=g");
    char fill[513];
    memset(fill, 'y', 512);
    fill[512] = '\0';
    int id = 0;
    enum { ROUNDS = 12, CONNS = 6 };
    srt_h2 *h = calloc(CONNS, sizeof(*h));
    assert_non_null(h);
    for (int round = 0; round < ROUNDS; round++) {
        open_g_streams(h, CONNS, p.port);
        srt_check_room_members(p.port, "g", 1 + CONNS * STREAMS_EACH, SRT_TIMEOUT_MS);
        publish_g(p.port, id++, fill);
        /* every connection resets its socket, frames on their way to it */
        for (int i = 0; i < CONNS; i++) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            assert_int_equal(setsockopt(h[i].conn.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
            if (i == CONNS / 2) {
                publish_g(p.port, id++, fill);
            }
            srt_h2_close(&h[i]);
        }
        for (int n = 0; n < 4; n++) {
            publish_g(p.port, id++, fill);
        }
        srt_check_room_members(p.port, "g", 1, SRT_TIMEOUT_MS);
    }
    char expect[600];
    for (int i = 0; i < id; i++) {
        snprintf(expect, sizeof(expect), "id: %d\ndata: \"%s\"\n\n", i, fill);
        srt_check_frame(&healthy, expect);
    }
    /* and a shutdown with streams flowing to connections that do not
     * read: each ends with a GOAWAY its writer sends, then lets go */
    open_g_streams(h, CONNS, p.port);
    srt_check_room_members(p.port, "g", 1 + CONNS * STREAMS_EACH, SRT_TIMEOUT_MS);
    for (int n = 0; n < 8; n++) {
        publish_g(p.port, id++, fill);
    }
    srt_check_stop(&p);
    for (int i = 0; i < CONNS; i++) srt_h2_close(&h[i]);
    free(h);
    srt_sse_close(&healthy);
}

/* --- bad input ---------------------------------------------------------------- */

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* Sends raw bytes on a new connection and waits for the server to close
 * it; the bytes it answered in *answer. */
static void raw_violation(int port, const void *bytes, size_t len, srt_buf *answer) {
    srt_conn c;
    assert_int_equal(srt_conn_open(&c, port, SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_conn_send(&c, bytes, len, SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_conn_wait_eof(&c, SRT_TIMEOUT_MS), 0);
    srt_buf_append(answer, c.in.data, c.in.len);
    srt_conn_close(&c);
}

/* The error code of the first GOAWAY frame in bytes, or -1. */
static long goaway_error(const srt_buf *b) {
    size_t pos = 0;
    while (pos + 9 <= b->len) {
        const uint8_t *f = (const uint8_t *)b->data + pos;
        size_t len = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
        if (f[3] == 7 && pos + 9 + 8 <= b->len)
            return (long)((uint32_t)f[13] << 24 | (uint32_t)f[14] << 16 | (uint32_t)f[15] << 8 |
                          f[16]);
        pos += 9 + len;
    }
    return -1;
}

static void test_protocol_violations(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--h2c", NULL), 0);
    srt_h2 h;
    assert_int_equal(srt_h2_open(&h, p.port, 0), 0);
    int ok = srt_h2_request(&h, "GET", "/sse?room=v", NULL, NULL);
    assert_true(srt_h2_wait_status(&h, ok, SRT_TIMEOUT_MS));
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=v");
    srt_check_room_members(p.port, "v", 2, SRT_TIMEOUT_MS);

    /* a DATA frame on stream 0 after the preface and SETTINGS */
    static const uint8_t data0[] = {0, 0, 0, 4, 0, 0, 0, 0, 0, /* SETTINGS */
                                    0, 0, 1, 0, 0, 0, 0, 0, 0, 'x'};
    srt_buf msg = {0}, answer = {0};
    srt_buf_append(&msg, preface, sizeof(preface) - 1);
    srt_buf_append(&msg, data0, sizeof(data0));
    raw_violation(p.port, msg.data, msg.len, &answer);
    assert_int_equal(goaway_error(&answer), NGHTTP2_PROTOCOL_ERROR);
    srt_buf_free(&answer);
    /* HEADERS with a broken HPACK block */
    static const uint8_t badhpack[] = {0, 0, 0, 4, 0, 0, 0, 0,    0,    0,    0,
                                       4, 1, 5, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
    srt_buf_free(&msg);
    srt_buf_append(&msg, preface, sizeof(preface) - 1);
    srt_buf_append(&msg, badhpack, sizeof(badhpack));
    raw_violation(p.port, msg.data, msg.len, &answer);
    assert_int_equal(goaway_error(&answer), NGHTTP2_COMPRESSION_ERROR);
    srt_buf_free(&answer);
    /* a frame larger than SETTINGS_MAX_FRAME_SIZE */
    static const uint8_t huge[] = {0, 0, 0, 4, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 1};
    srt_buf_free(&msg);
    srt_buf_append(&msg, preface, sizeof(preface) - 1);
    srt_buf_append(&msg, huge, sizeof(huge));
    raw_violation(p.port, msg.data, msg.len, &answer);
    assert_int_equal(goaway_error(&answer), NGHTTP2_FRAME_SIZE_ERROR);
    srt_buf_free(&answer);
    srt_buf_free(&msg);
    assert_true(h2_stat(p.port, "protocol_errors") >= 3);

    /* nobody else noticed */
    srt_check_publish_delivered(p.port, "{\"rooms\":[\"v\"],\"data\":1}", 2);
    srt_check_frame(&s, "data: 1\n\n");
    assert_true(srt_h2_wait_data(&h, ok, "data: 1\n\n", SRT_TIMEOUT_MS));
    assert_false(h.st[ok].closed);
    srt_sse_close(&s);
    srt_h2_close(&h);
    srt_check_stop(&p);
}

/* Without --h2c the preface is no HTTP/2: answered as HTTP/1.1 (an error). */
static void test_no_h2c_no_http2(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_conn c;
    assert_int_equal(srt_conn_open(&c, p.port, SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_conn_send(&c, preface, sizeof(preface) - 1, SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_conn_wait_eof(&c, SRT_TIMEOUT_MS), 0);
    assert_true(c.in.len > 9 && memcmp(c.in.data, "HTTP/1.1 ", 9) == 0);
    srt_conn_close(&c);
    assert_int_equal(h2_stat(p.port, "connections_total"), 0);
    srt_check_stop(&p);
}

/* --h2-max-streams is the advertised limit; shutdown sends GOAWAY. */
static void test_max_streams_and_goaway(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--h2c", "--h2-max-streams", "3", NULL), 0);
    srt_h2 h;
    assert_int_equal(srt_h2_open(&h, p.port, 0), 0);
    int a = srt_h2_request(&h, "GET", "/sse?room=g", NULL, NULL);
    assert_true(srt_h2_wait_status(&h, a, SRT_TIMEOUT_MS));
    assert_int_equal(nghttp2_session_get_remote_settings(h.session,
                                                         NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
                     3);
    assert_int_equal(h2_stat(p.port, "max_streams"), 3);
    assert_int_equal(srt_proc_signal(&p, SIGTERM), 0);
    assert_true(srt_h2_wait_eof(&h, SRT_TIMEOUT_MS));
    assert_true(h.goaway);
    assert_int_equal(h.goaway_error, NGHTTP2_NO_ERROR);
    assert_int_equal(h.goaway_last, h.st[a].sid);
    assert_true(h.st[a].closed);
    assert_int_equal(h.st[a].error, NGHTTP2_NO_ERROR); /* ended, not reset */
    assert_int_equal(srt_proc_wait(&p, SRT_TIMEOUT_MS), 0);
    srt_h2_close(&h);
}

/* --- streams against the connection limits ----------------------------------- */

/* Each stream counts against --max-connections-per-addr as the HTTP/1.1
 * connection it stands for would, on top of its connection (1 + n): the
 * stream over the limit is answered 429 on its own, counted, and the
 * connection's other streams go on; HTTP/1.1 connections of the same
 * client share the count. */
static void test_streams_count_per_address(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--h2c", "--max-connections-per-addr", "4", NULL), 0);
    srt_h2 h;
    assert_int_equal(srt_h2_open_from(&h, p.port, 0, "127.0.0.2"), 0); /* counts 1 */
    int st[3];
    for (int i = 0; i < 3; i++) { /* 2, 3, 4 */
        st[i] = srt_h2_request(&h, "GET", "/sse?room=pa", NULL, NULL);
        assert_true(srt_h2_wait_status(&h, st[i], SRT_TIMEOUT_MS));
        assert_int_equal(h.st[st[i]].status, 200);
    }
    int over = srt_h2_request(&h, "GET", "/sse?room=pa", NULL, NULL); /* 5 */
    assert_true(srt_h2_wait_closed(&h, over, SRT_TIMEOUT_MS));
    assert_int_equal(h.st[over].status, 429);
    assert_non_null(strstr(h.st[over].data.data, "too many connections from this address"));
    srt_check_room_members(p.port, "pa", 3, SRT_TIMEOUT_MS);
    assert_int_equal(h2_stat(p.port, "refused_streams"), 1);
    assert_int_equal((long long)metric(p.port, "sserooms_http2_refused_streams_total"), 1);
    assert_int_equal(
        (long long)metric(p.port, "sserooms_limit_refusals_total{limit=\"connections_per_addr\"}"),
        1);
    /* the connection and its streams go on */
    srt_check_publish_delivered(p.port, "{\"room\":\"pa\",\"data\":1}", 3);
    for (int i = 0; i < 3; i++)
        assert_true(srt_h2_wait_data(&h, st[i], "data: 1\n\n", SRT_TIMEOUT_MS));
    /* an HTTP/1.1 connection of the same client finds the count full */
    srt_conn c;
    srt_conn_opts from2 = {.src_ip = "127.0.0.2"};
    assert_int_equal(srt_conn_open_ex(&c, p.port, &from2, SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_conn_send_str(&c, "GET /sse?room=pa HTTP/1.1\r\nHost: x\r\n\r\n",
                                       SRT_TIMEOUT_MS),
                     0);
    assert_int_equal(srt_conn_wait_eof(&c, SRT_TIMEOUT_MS), 0);
    assert_true(c.in.len > 12 && memcmp(c.in.data, "HTTP/1.1 429", 12) == 0);
    srt_conn_close(&c);
    /* a stream that ends gives its count back */
    srt_h2_reset(&h, st[0]);
    assert_true(srt_h2_wait_closed(&h, st[0], SRT_TIMEOUT_MS));
    srt_check_room_members(p.port, "pa", 2, SRT_TIMEOUT_MS);
    for (int i = 0; i < SRT_TIMEOUT_MS / 10 && h2_stat(p.port, "streams") != 2; i++)
        srt_h2_pump(&h, 10);
    assert_int_equal(h2_stat(p.port, "streams"), 2);
    int again = srt_h2_request(&h, "GET", "/sse?room=pa", NULL, NULL);
    assert_true(srt_h2_wait_status(&h, again, SRT_TIMEOUT_MS));
    assert_int_equal(h.st[again].status, 200);
    /* the refusals were all counted, the 429 stream once */
    srt_response r;
    assert_int_equal(srt_http_get(p.port, "/stats", &r), 0);
    assert_int_equal(stats_member(&r, "refused", "connections_per_addr"), 2);
    assert_int_equal(stats_member(&r, "http2", "refused_streams"), 1);
    srt_response_free(&r);
    srt_h2_close(&h);
    srt_check_stop(&p);
}

/* Streams count against --max-connections next to the connections: the
 * stream past it is answered 503 on its own (counted), its siblings go on,
 * and an HTTP/1.1 connection past it is refused as before. */
static void test_streams_count_against_max_connections(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--h2c", "--max-connections", "4", NULL), 0);
    srt_conn obs; /* a keep-alive observer: 1 */
    assert_int_equal(srt_conn_open(&obs, p.port, SRT_TIMEOUT_MS), 0);
    srt_h2 h;
    assert_int_equal(srt_h2_open(&h, p.port, 0), 0);               /* 2 */
    int a = srt_h2_request(&h, "GET", "/sse?room=mc", NULL, NULL); /* 3 */
    int b = srt_h2_request(&h, "GET", "/sse?room=mc", NULL, NULL); /* 4 */
    assert_true(srt_h2_wait_status(&h, a, SRT_TIMEOUT_MS));
    assert_true(srt_h2_wait_status(&h, b, SRT_TIMEOUT_MS));
    assert_int_equal(h.st[a].status, 200);
    assert_int_equal(h.st[b].status, 200);
    int over = srt_h2_request(&h, "GET", "/sse?room=mc", NULL, NULL); /* 5 */
    assert_true(srt_h2_wait_closed(&h, over, SRT_TIMEOUT_MS));
    assert_int_equal(h.st[over].status, 503);
    assert_non_null(strstr(h.st[over].data.data, "too many connections"));
    assert_int_equal(kept_stat(&obs, "refused", "connections"), 1);
    assert_int_equal(kept_stat(&obs, "http2", "refused_streams"), 1);
    assert_int_equal(kept_stat(&obs, "http2", "streams"), 2);
    /* the siblings go on */
    assert_int_equal(srt_http_send_request(&obs, "POST", "/publish",
                                           (const char *const[]){"Content-Type: application/json",
                                                                 NULL},
                                           "{\"room\":\"mc\",\"data\":5}", 22, SRT_TIMEOUT_MS),
                     0);
    srt_response r;
    assert_int_equal(srt_http_read_response(&obs, &r, SRT_TIMEOUT_MS), 0);
    srt_check_status(&r, 200);
    srt_response_free(&r);
    assert_true(srt_h2_wait_data(&h, a, "data: 5\n\n", SRT_TIMEOUT_MS));
    assert_true(srt_h2_wait_data(&h, b, "data: 5\n\n", SRT_TIMEOUT_MS));
    /* with the streams holding the count, an HTTP/1.1 connection is refused */
    srt_conn c;
    assert_int_equal(srt_conn_open(&c, p.port, SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_conn_send_str(&c, "GET /sse?room=mc HTTP/1.1\r\nHost: x\r\n\r\n",
                                       SRT_TIMEOUT_MS),
                     0);
    assert_int_equal(srt_conn_wait_eof(&c, SRT_TIMEOUT_MS), 0);
    assert_true(c.in.len > 12 && memcmp(c.in.data, "HTTP/1.1 503", 12) == 0);
    srt_conn_close(&c);
    assert_int_equal(kept_stat(&obs, "refused", "connections"), 2);
    /* a stream that ends makes room */
    srt_h2_reset(&h, a);
    assert_true(srt_h2_wait_closed(&h, a, SRT_TIMEOUT_MS));
    for (int i = 0; i < SRT_TIMEOUT_MS / 10 && kept_stat(&obs, "http2", "streams") != 1; i++)
        srt_h2_pump(&h, 10);
    assert_int_equal(kept_stat(&obs, "http2", "streams"), 1);
    int again = srt_h2_request(&h, "GET", "/sse?room=mc", NULL, NULL);
    assert_true(srt_h2_wait_status(&h, again, SRT_TIMEOUT_MS));
    assert_int_equal(h.st[again].status, 200);
    assert_int_equal(kept_stat(&obs, "http2", "refused_streams"), 1);
    srt_conn_close(&obs);
    srt_h2_close(&h);
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_curl_h2c_byte_identical, srt_teardown_servers),
        cmocka_unit_test_teardown(test_curl_tls_h2_byte_identical, srt_teardown_servers),
        cmocka_unit_test_teardown(test_curl_tls_h2_writer_threads, srt_teardown_servers),
        cmocka_unit_test_teardown(test_twelve_streams_one_connection, srt_teardown_servers),
        cmocka_unit_test_teardown(test_twelve_streams_writer_threads, srt_teardown_servers),
        cmocka_unit_test_teardown(test_stream_closes_alone, srt_teardown_servers),
        cmocka_unit_test_teardown(test_publish_acknowledged_by_redis, srt_teardown_servers),
        cmocka_unit_test_teardown(test_history_replay_per_stream, srt_teardown_servers),
        cmocka_unit_test_teardown(test_shut_window_slow_consumer, srt_teardown_servers),
        cmocka_unit_test_teardown(test_connections_going_while_frames_flow, srt_teardown_servers),
        cmocka_unit_test_teardown(test_protocol_violations, srt_teardown_servers),
        cmocka_unit_test_teardown(test_no_h2c_no_http2, srt_teardown_servers),
        cmocka_unit_test_teardown(test_max_streams_and_goaway, srt_teardown_servers),
        cmocka_unit_test_teardown(test_streams_count_per_address, srt_teardown_servers),
        cmocka_unit_test_teardown(test_streams_count_against_max_connections, srt_teardown_servers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
