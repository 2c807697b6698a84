/* SPDX-License-Identifier: MIT */
/*
 * test_limits.c: every configurable limit, hit against the real binary,
 * and the message size limit of the library API.
 *
 * For each limit the test goes over it and checks the status and the JSON
 * error, that its counter under /stats "refused" (and the /metrics sample)
 * moved by exactly what the test did, and that the server keeps serving: a
 * stream opened at the start still receives a publish made at the end.
 * Connections per address use several loopback source addresses
 * (127.0.0.2, 127.0.0.3...), so one address's count is seen not to touch
 * another's, and /stats "client_addresses" shows entries freed when an
 * address's last connection closes; and over IPv6 (::1) through the
 * library, where an address's place is seen to free when a connection
 * closes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "srt_check.h"
#include "srt_http.h"
#include "srt_json.h"
#include "srt_proc.h"
#include "srt_sse.h"
#include "sserooms.h"

/* /stats once, as a malloc'd body. */
static char *get_stats(int port) {
    srt_response r;
    assert_int_equal(srt_http_get(port, "/stats", &r), 0);
    srt_check_status(&r, 200);
    assert_true(srt_json_valid(r.body, r.body_len));
    char *body = strdup(r.body);
    srt_response_free(&r);
    assert_non_null(body);
    return body;
}

/* The integer member `key` of the object member `obj` of /stats. */
static long long nested(int port, const char *obj, const char *key) {
    char *body = get_stats(port);
    const char *val;
    size_t vlen;
    if (!srt_json_member(body, strlen(body), obj, &val, &vlen)) {
        fprintf(stderr, "  /stats: %s\n", body);
        free(body);
        fail_msg("/stats has no \"%s\" object", obj);
    }
    char *sub = strndup(val, vlen);
    long long v = -1;
    bool ok = sub && srt_json_int(sub, key, &v);
    free(sub);
    if (!ok) {
        fprintf(stderr, "  /stats: %s\n", body);
        free(body);
        fail_msg("/stats \"%s\" has no integer \"%s\"", obj, key);
    }
    free(body);
    return v;
}

static long long refused(int port, const char *limit) {
    return nested(port, "refused", limit);
}

/* The value of the /metrics sample line starting with `sample` ("name{...} "). */
static long long metric(int port, const char *sample) {
    srt_response r;
    assert_int_equal(srt_http_get(port, "/metrics", &r), 0);
    srt_check_status(&r, 200);
    const char *p = strstr(r.body, sample);
    while (p && p != r.body && p[-1] != '\n') p = strstr(p + 1, sample);
    if (!p) {
        srt_response_free(&r);
        fail_msg("/metrics has no sample %s", sample);
    }
    long long v = strtoll(p + strlen(sample), NULL, 10);
    srt_response_free(&r);
    return v;
}

static void open_stream_from(srt_sse *s, int port, const char *path, const char *src_ip) {
    srt_conn_opts o = {.src_ip = src_ip};
    int rc = srt_sse_open_ex(s, port, path, NULL, &o, SRT_TIMEOUT_MS);
    if (rc != 0) fail_msg("stream %s from %s did not open (%d)", path, src_ip, rc);
}

/* A connection from src_ip that sends nothing gets 429 + JSON, then EOF. */
static void expect_refused_from(int port, const char *src_ip, int status, const char *keyword) {
    srt_conn c;
    srt_conn_opts o = {.src_ip = src_ip};
    assert_int_equal(srt_conn_open_ex(&c, port, &o, SRT_TIMEOUT_MS), 0);
    srt_response r;
    assert_int_equal(srt_http_read_response(&c, &r, SRT_TIMEOUT_MS), 0);
    srt_check_json_error(&r, status, keyword);
    srt_response_free(&r);
    assert_int_equal(srt_conn_wait_eof(&c, SRT_TIMEOUT_MS), 0);
    srt_conn_close(&c);
}

static void wait_stat(int port, const char *obj, const char *key, long long want) {
    int64_t deadline = srt_now_ms() + 5000;
    long long v;
    while ((v = obj ? nested(port, obj, key) : srt_check_stat(port, key)) != want) {
        if (srt_ms_left(deadline) <= 0)
            fail_msg("%s.%s stayed %lld, expected %lld", obj ? obj : "stats", key, v, want);
        srt_sleep_ms(20);
    }
}

/* Asks /stats on the open keep-alive connection c until "connections" is
 * `want` (c counts itself); it stays open afterwards. */
static void wait_connections_on(srt_conn *c, long long want) {
    int64_t deadline = srt_now_ms() + 5000;
    long long v = -1;
    for (;;) {
        srt_response r;
        assert_int_equal(srt_http_send_request(c, "GET", "/stats", NULL, NULL, 0, SRT_TIMEOUT_MS),
                         0);
        assert_int_equal(srt_http_read_response(c, &r, SRT_TIMEOUT_MS), 0);
        srt_check_status(&r, 200);
        assert_true(srt_json_int(r.body, "connections", &v));
        srt_response_free(&r);
        if (v == want) return;
        if (srt_ms_left(deadline) <= 0)
            fail_msg("stats.connections stayed %lld, expected %lld", v, want);
        srt_sleep_ms(20);
    }
}

static void test_limits_reported(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--max-connections", "40", "--max-connections-per-addr",
                                      "4", "--max-rooms-per-conn", "3", "--max-room-len", "16",
                                      "--max-header-bytes", "1024", "--request-timeout-ms", "700",
                                      "--max-body-bytes", "4096", "--max-message-bytes", "100",
                                      NULL),
                     0);
    assert_int_equal(nested(p.port, "limits", "max_connections"), 40);
    assert_int_equal(nested(p.port, "limits", "max_connections_per_addr"), 4);
    assert_int_equal(nested(p.port, "limits", "max_rooms_per_conn"), 3);
    assert_int_equal(nested(p.port, "limits", "max_room_len"), 16);
    assert_int_equal(nested(p.port, "limits", "max_header_bytes"), 1024);
    assert_int_equal(nested(p.port, "limits", "request_timeout_ms"), 700);
    assert_int_equal(nested(p.port, "limits", "max_body_bytes"), 4096);
    assert_int_equal(nested(p.port, "limits", "max_message_bytes"), 100);
    static const char *const names[] = {"connections", "connections_per_addr", "rooms_per_conn",
                                        "room_name",   "header_bytes",         "request_time",
                                        "body_bytes",  "message_bytes"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_int_equal(refused(p.port, names[i]), 0);
    assert_int_equal(metric(p.port, "sserooms_limit_bytes{name=\"max_message_bytes\"} "), 100);
    srt_check_stop(&p);

    /* the defaults */
    assert_int_equal(srt_server_start(&p, NULL), 0);
    assert_int_equal(nested(p.port, "limits", "max_connections_per_addr"), 256);
    assert_int_equal(nested(p.port, "limits", "max_message_bytes"), 262144);
    assert_int_equal(nested(p.port, "limits", "max_connections"), 0);
    srt_check_stop(&p);
}

static void test_connections_per_address(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--max-connections-per-addr", "4", NULL), 0);
    srt_sse witness;
    open_stream_from(&witness, p.port, "/sse?room=w", "127.0.0.1");

    srt_sse s[4];
    for (int i = 0; i < 4; i++) open_stream_from(&s[i], p.port, "/sse?room=a", "127.0.0.2");
    srt_check_room_members(p.port, "a", 4, 2000);
    /* 127.0.0.1 (the witness and this request) and 127.0.0.2 */
    assert_int_equal(nested(p.port, "limits", "client_addresses"), 2);

    expect_refused_from(p.port, "127.0.0.2", 429, "connections");
    expect_refused_from(p.port, "127.0.0.2", 429, "connections");
    assert_int_equal(refused(p.port, "connections_per_addr"), 2);
    assert_int_equal(metric(p.port,
                            "sserooms_limit_refusals_total{limit=\"connections_per_addr\"} "),
                     2);
    assert_int_equal(metric(p.port, "sserooms_rejected_requests_total{reason=\"too_many\"} "), 2);

    /* another address is not affected */
    srt_sse other;
    open_stream_from(&other, p.port, "/sse?room=a", "127.0.0.3");
    srt_check_room_members(p.port, "a", 5, 2000);

    /* one closes: its address may connect once more */
    srt_sse_close(&s[0]);
    srt_check_room_members(p.port, "a", 4, 2000);
    wait_stat(p.port, NULL, "connections", 5 + 1); /* 3 + other + witness + this request */
    open_stream_from(&s[0], p.port, "/sse?room=a", "127.0.0.2");
    srt_check_room_members(p.port, "a", 5, 2000);
    expect_refused_from(p.port, "127.0.0.2", 429, "connections");
    assert_int_equal(refused(p.port, "connections_per_addr"), 3);

    /* when an address's last connection closes its entry goes */
    assert_int_equal(nested(p.port, "limits", "client_addresses"), 3);
    for (int i = 0; i < 4; i++) srt_sse_close(&s[i]);
    srt_sse_close(&other);
    wait_stat(p.port, "limits", "client_addresses", 1);

    srt_check_publish_delivered(p.port, "{\"room\":\"w\",\"data\":\"still here\"}", 1);
    srt_check_frame(&witness, "data: \"still here\"\n\n");
    srt_sse_close(&witness);
    srt_check_healthy(p.port);
    srt_check_stop(&p);
}

static void test_connections_in_all(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--max-connections", "4", NULL), 0);
    srt_sse s[2];
    open_stream_from(&s[0], p.port, "/sse?room=a", "127.0.0.2");
    open_stream_from(&s[1], p.port, "/sse?room=a", "127.0.0.3");
    srt_check_room_members(p.port, "a", 2, 2000);
    /* two streams + two idle connections are the limit: the fifth is refused.
     * The first idle one asks /stats until the server counts just the
     * streams and itself, so the connections of the requests before are
     * gone (a request on a connection of its own would leave one more) */
    srt_conn idle[2];
    assert_int_equal(srt_conn_open(&idle[0], p.port, SRT_TIMEOUT_MS), 0);
    wait_connections_on(&idle[0], 3);
    assert_int_equal(srt_conn_open(&idle[1], p.port, SRT_TIMEOUT_MS), 0);
    expect_refused_from(p.port, "127.0.0.4", 503, "connections");
    /* the refused one and idle[1] gone (else the next request, one too
     * many, would be refused too), then idle[0] */
    srt_conn_close(&idle[1]);
    wait_connections_on(&idle[0], 3);
    srt_conn_close(&idle[0]);
    wait_stat(p.port, NULL, "connections", 3); /* the streams + the stats request */
    assert_int_equal(refused(p.port, "connections"), 1);
    assert_int_equal(refused(p.port, "connections_per_addr"), 0);
    assert_int_equal(metric(p.port, "sserooms_rejected_requests_total{reason=\"unavailable\"} "),
                     1);
    srt_check_publish_delivered(p.port, "{\"room\":\"a\",\"data\":1}", 2);
    srt_check_frame(&s[0], "data: 1\n\n");
    srt_sse_close(&s[0]);
    srt_sse_close(&s[1]);
    srt_check_stop(&p);
}

static void get_expect(int port, const char *path, int status, const char *keyword) {
    srt_response r;
    assert_int_equal(srt_http_get(port, path, &r), 0);
    srt_check_json_error(&r, status, keyword);
    srt_response_free(&r);
}

static void publish_expect(int port, const char *body, size_t len, int status,
                           const char *keyword) {
    srt_response r;
    assert_int_equal(srt_http_request_ex(port, "POST", "/publish",
                                         (const char *[]){"Content-Type: application/json", NULL},
                                         body, len, &r, SRT_TIMEOUT_MS),
                     0);
    srt_check_json_error(&r, status, keyword);
    srt_response_free(&r);
}

static void test_request_limits(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--max-rooms-per-conn", "3", "--max-room-len", "16",
                                      "--max-header-bytes", "1024", "--request-timeout-ms", "700",
                                      "--max-body-bytes", "4096", "--max-message-bytes", "100",
                                      NULL),
                     0);
    srt_sse witness;
    srt_check_sse_open(&witness, p.port, "/sse?room=w");

    /* rooms per connection */
    get_expect(p.port, "/sse?room=a&room=b&room=c&room=d", 400, "rooms");
    assert_int_equal(refused(p.port, "rooms_per_conn"), 1);

    /* room name length and characters, on a stream and on a publish */
    get_expect(p.port, "/sse?room=abcdefghijklmnopq", 400, "room");
    get_expect(p.port, "/sse?room=a%20b", 400, "room");
    const char *bad_room = "{\"room\":\"a b\",\"data\":1}";
    publish_expect(p.port, bad_room, strlen(bad_room), 400, "room");
    assert_int_equal(refused(p.port, "room_name"), 3);

    /* request header bytes */
    char big[2048];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char header[2100];
    snprintf(header, sizeof header, "X-Big: %s", big);
    srt_response r;
    assert_int_equal(srt_http_request(p.port, "GET", "/healthz", (const char *[]){header, NULL},
                                      NULL, &r),
                     0);
    srt_check_json_error(&r, 431, "headers");
    srt_response_free(&r);
    assert_int_equal(refused(p.port, "header_bytes"), 1);

    /* time to send a whole request */
    srt_conn slow;
    assert_int_equal(srt_conn_open(&slow, p.port, SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_conn_send_str(&slow, "GET /healthz HTTP/1.1\r\nHost: x\r\n",
                                       SRT_TIMEOUT_MS),
                     0);
    int64_t t0 = srt_now_ms();
    assert_int_equal(srt_http_read_response(&slow, &r, SRT_TIMEOUT_MS), 0);
    assert_true(srt_now_ms() - t0 >= 500);
    srt_check_json_error(&r, 408, "time");
    srt_response_free(&r);
    srt_conn_close(&slow);
    assert_int_equal(refused(p.port, "request_time"), 1);

    /* publish body bytes */
    size_t blen = 5000;
    char *body = malloc(blen + 1);
    assert_non_null(body);
    memset(body, ' ', blen);
    memcpy(body, "{\"room\":\"w\",\"data\":1}", 21);
    publish_expect(p.port, body, blen, 413, "body");
    assert_int_equal(refused(p.port, "body_bytes"), 1);

    /* message size: the data text, not the body */
    char msg[256];
    int n = snprintf(msg, sizeof msg, "{\"room\":\"w\",\"data\":\"%0101d\"}", 0); /* 103 bytes */
    publish_expect(p.port, msg, (size_t)n, 413, "data");
    assert_int_equal(refused(p.port, "message_bytes"), 1);
    n = snprintf(msg, sizeof msg, "{\"room\":\"w\",\"event\":\"e\",\"data\":\"%098d\"}",
                 0); /* 100 */
    srt_check_publish_delivered(p.port, msg, 1);
    char *block;
    size_t len;
    assert_int_equal(srt_sse_next_event(&witness, &block, &len, SRT_TIMEOUT_MS), 0);
    assert_non_null(strstr(block, "event: e\n"));
    free(block);
    assert_int_equal(metric(p.port, "sserooms_limit_refusals_total{limit=\"message_bytes\"} "), 1);
    assert_int_equal(metric(p.port, "sserooms_rejected_requests_total{reason=\"body_too_large\"} "),
                     2);

    /* nothing else was counted, and the server still serves */
    assert_int_equal(refused(p.port, "connections"), 0);
    assert_int_equal(refused(p.port, "connections_per_addr"), 0);
    assert_int_equal(refused(p.port, "rooms_per_conn"), 1);
    assert_int_equal(refused(p.port, "room_name"), 3);
    srt_check_publish_delivered(p.port, "{\"room\":\"w\",\"data\":\"after\"}", 1);
    srt_check_frame(&witness, "data: \"after\"\n\n");
    srt_sse_close(&witness);
    srt_check_healthy(p.port);
    free(body);
    srt_check_stop(&p);
}

/* --- the library ---------------------------------------------------------- */

static void on_sequenced(void *ud, int rc, const char *text) {
    (void)text;
    *(int *)ud = rc;
}

static void test_library_message_limit(void **state) {
    (void)state;
    sr_config cfg;
    sr_config_init(&cfg);
    assert_int_equal(cfg.max_message_bytes, 262144);
    assert_int_equal(cfg.max_connections_per_addr, 256);
    cfg.port = 0;
    cfg.max_message_bytes = 8;
    cfg.heartbeat_ms = 0;
    sr_server *srv;
    assert_int_equal(sr_server_new(&srv, NULL, &cfg), SR_OK);
    assert_int_equal(sr_server_listen(srv), SR_OK);

    /* a real stream to send to: a client socket on this thread, the loop
     * run without blocking until the server has joined it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)sr_server_port(srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char req[] = "GET /sse?room=a HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    int64_t deadline = srt_now_ms() + 5000;
    while (sr_room_count(srv, "a") == 0 && srt_ms_left(deadline) > 0) {
        uv_run(sr_server_loop(srv), UV_RUN_NOWAIT);
        srt_sleep_ms(1);
    }
    sr_conn *conn = NULL;
    assert_int_equal(sr_room_members(srv, "a", &conn, 1), 1);

    const char *rooms[] = {"a"};
    sr_message big = {.data = "\"123456789\"", .data_len = SIZE_MAX}; /* 11 bytes */
    sr_message fits = {.data = "\"123456\"", .data_len = SIZE_MAX};   /* 8 bytes */
    assert_int_equal(sr_broadcast(srv, rooms, 1, &big, NULL), SR_ETOOBIG);
    assert_int_equal(sr_send(conn, &big), SR_ETOOBIG);
    int done_rc = 12345;
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 1, &big, NULL, "k", NULL, on_sequenced,
                                            &done_rc),
                     SR_ETOOBIG);
    assert_int_equal(done_rc, 12345); /* never called */
    assert_int_equal(sr_server_deliver_remote(srv, "a", 1, &big), SR_ETOOBIG);
    assert_int_equal(sr_broadcast(srv, rooms, 1, &fits, NULL), 1);
    assert_int_equal(sr_send(conn, &fits), SR_OK);
    assert_int_equal(sr_server_deliver_remote(srv, "a", 1, &fits), 1);
    sr_stats st;
    sr_server_stats(srv, &st);
    assert_int_equal(st.messages_out, 3);

    close(fd);
    sr_server_shutdown(srv, NULL, NULL);
    assert_int_equal(sr_server_run(srv), SR_OK);
    sr_server_free(srv);
}

/* Runs the server's loop until fd has read everything up to EOF (at most
 * 5 s); returns what it read (malloc'd). */
static char *read_to_eof(sr_server *srv, int fd) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    int64_t deadline = srt_now_ms() + 5000;
    while (srt_ms_left(deadline) > 0) {
        uv_run(sr_server_loop(srv), UV_RUN_NOWAIT);
        ssize_t n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
        if (n == 0) break;
        if (n > 0) len += (size_t)n;
        else srt_sleep_ms(1);
        if (len + 1 >= cap) break;
    }
    buf[len] = '\0';
    return buf;
}

static int connect6(int port) {
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
                              .sin6_port = htons((uint16_t)port),
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Connections per address over IPv6 (::1), through the library, with the
 * address grouped by its /prefix (sr_addr_group, unit-tested on its own in
 * test_addr: ::1 is the only IPv6 address here, so two addresses of one
 * /64 cannot be shown over sockets). */
static void ipv6_per_address(unsigned prefix) {
    sr_config cfg;
    sr_config_init(&cfg);
    assert_int_equal(cfg.ipv6_prefix_len, 64);
    if (prefix) cfg.ipv6_prefix_len = prefix;
    cfg.host = "::1";
    cfg.port = 0;
    cfg.heartbeat_ms = 0;
    cfg.max_connections_per_addr = 2;
    sr_server *srv;
    assert_int_equal(sr_server_new(&srv, NULL, &cfg), SR_OK);
    int rc = sr_server_listen(srv);
    if (rc != SR_OK) { /* no IPv6 on this machine */
        sr_server_free(srv);
        skip();
    }
    int port = sr_server_port(srv);
    int a = connect6(port), b = connect6(port), c = connect6(port);
    char *answer = read_to_eof(srv, c);
    assert_non_null(strstr(answer, "HTTP/1.1 429 "));
    assert_non_null(strstr(answer, "{\"error\":\"too many connections from this address\""));
    free(answer);
    close(c);
    close(a);
    sr_stats st;
    int64_t deadline = srt_now_ms() + 5000;
    do {
        uv_run(sr_server_loop(srv), UV_RUN_NOWAIT);
        sr_server_stats(srv, &st);
    } while (st.connections != 1 && srt_ms_left(deadline) > 0 && (srt_sleep_ms(1), 1));
    assert_int_equal(st.connections, 1);
    /* a's place is free again */
    int d = connect6(port);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(write(d, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    answer = read_to_eof(srv, d);
    assert_non_null(strstr(answer, "HTTP/1.1 200 "));
    free(answer);
    close(d);
    close(b);
    sr_server_shutdown(srv, NULL, NULL);
    assert_int_equal(sr_server_run(srv), SR_OK);
    sr_server_free(srv);
}

static void test_library_ipv6_per_address(void **state) {
    (void)state;
    ipv6_per_address(0);   /* the default, /64 */
    ipv6_per_address(128); /* each address alone */
    ipv6_per_address(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_limits_reported, srt_teardown_servers),
        cmocka_unit_test_teardown(test_connections_per_address, srt_teardown_servers),
        cmocka_unit_test_teardown(test_connections_in_all, srt_teardown_servers),
        cmocka_unit_test_teardown(test_request_limits, srt_teardown_servers),
        cmocka_unit_test(test_library_message_limit),
        cmocka_unit_test(test_library_ipv6_per_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
