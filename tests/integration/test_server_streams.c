/* SPDX-License-Identifier: MIT */
/*
 * test_server_streams.c: stream behaviour of the sserooms binary under
 * load and at the edges: a slow consumer is disconnected while a fast one
 * receives every message in order, many messages keep their order on many
 * streams, abrupt disconnects and junk from clients are survived, graceful
 * shutdown on SIGTERM/SIGINT, and one publish fanned out to 2,000 idle
 * streams.
 */
#include "srt_check.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PAYLOAD_BYTES 8000

static void big_frame(srt_buf *frame, srt_buf *body, int i) {
    srt_buf_consume(frame, frame->len);
    srt_buf_consume(body, body->len);
    srt_buf pad = {0};
    srt_buf_appendf(&pad, "%d:", i);
    while (pad.len < PAYLOAD_BYTES) srt_buf_append(&pad, "x", 1);
    srt_buf_appendf(body, "{\"room\":\"feed\",\"id\":\"%d\",\"data\":\"%s\"}", i, pad.data);
    srt_buf_appendf(frame, "id: %d\ndata: \"%s\"\n\n", i, pad.data);
    srt_buf_free(&pad);
}

static long long publish_on(srt_conn *pub, const srt_buf *body) {
    assert_int_equal(srt_http_send_request(pub, "POST", "/publish", NULL, body->data, body->len,
                                           SRT_TIMEOUT_MS),
                     0);
    srt_response r;
    assert_int_equal(srt_http_read_response(pub, &r, SRT_TIMEOUT_MS), 0);
    srt_check_status(&r, 200);
    long long delivered = -1;
    assert_true(srt_json_int(r.body, "delivered", &delivered));
    srt_response_free(&r);
    return delivered;
}

static void test_slow_consumer_disconnected(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--max-queue-bytes", "65536", NULL), 0);
    srt_sse slow, fast;
    /* a small receive buffer so the kernel cannot soak up the backlog */
    srt_conn_opts small = {.rcvbuf = 4096};
    assert_int_equal(srt_sse_open_ex(&slow, p.port, "/sse?room=feed", NULL, &small, SRT_TIMEOUT_MS),
                     0);
    srt_check_sse_open(&fast, p.port, "/sse?room=feed");
    srt_check_room_members(p.port, "feed", 2, 1000);

    srt_conn pub;
    assert_int_equal(srt_conn_open(&pub, p.port, SRT_TIMEOUT_MS), 0);
    srt_buf frame = {0}, body = {0};
    int dropped_at = 0, last = 0;
    /* ~4 MB is normally enough; keep going (up to 16 MB) until the slow
     * stream is dropped, since kernel buffer sizes vary */
    for (int i = 1; i <= 2048 && (dropped_at == 0 || i <= dropped_at + 16); i++) {
        big_frame(&frame, &body, i);
        long long delivered = publish_on(&pub, &body);
        if (dropped_at == 0 && delivered == 1) dropped_at = i;
        if (delivered != (dropped_at ? 1 : 2))
            fail_msg("message %d delivered to %lld streams (slow dropped at %d)", i, delivered,
                     dropped_at);
        srt_check_frame(&fast, frame.data);
        last = i;
    }
    if (dropped_at == 0)
        fail_msg("the stream that never reads was not dropped after %d messages", last);
    fprintf(stderr, "slow stream dropped at message %d (%.1f MB published)\n", dropped_at,
            dropped_at * (double)PAYLOAD_BYTES / 1e6);
    assert_int_equal(srt_check_stat(p.port, "slow_disconnects"), 1);
    srt_check_room_members(p.port, "feed", 1, 3000);

    /* the slow stream now reads what the kernel held, in order, then EOF */
    int got = 0;
    for (;;) {
        char *block;
        int rc = srt_sse_next(&slow, &block, NULL, SRT_TIMEOUT_MS);
        if (rc != 0) {
            assert_int_equal(rc, SRT_SSE_EOF);
            break;
        }
        got++;
        big_frame(&frame, &body, got);
        bool eq = srt_bytes_equal("slow stream block", block, strlen(block), frame.data);
        free(block);
        assert_true(eq);
    }
    fprintf(stderr, "slow stream received %d complete frames before EOF\n", got);
    assert_true(got < dropped_at);

    /* the fast stream is unaffected */
    srt_check_quiet(&fast, 50);
    srt_check_publish_delivered(p.port, "{\"room\":\"feed\",\"data\":\"after\"}", 1);
    srt_check_frame(&fast, "data: \"after\"\n\n");
    long rss = 0, hwm = 0;
    assert_int_equal(srt_proc_mem(&p, &rss, &hwm), 0);
    fprintf(stderr, "server RSS %ld kB, peak %ld kB\n", rss, hwm);

    srt_buf_free(&frame);
    srt_buf_free(&body);
    srt_conn_close(&pub);
    srt_sse_close(&slow);
    srt_sse_close(&fast);
    srt_check_stop(&p);
}

static void test_order_on_many_streams(void **state) {
    (void)state;
    enum { STREAMS = 5, MESSAGES = 200 };
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_sse s[STREAMS];
    for (int k = 0; k < STREAMS; k++)
        srt_check_sse_open(&s[k], p.port, k % 2 ? "/sse?room=o&room=other" : "/sse?room=o");
    srt_conn pub;
    assert_int_equal(srt_conn_open(&pub, p.port, SRT_TIMEOUT_MS), 0);
    for (int i = 1; i <= MESSAGES; i++) {
        srt_buf body = {0};
        srt_buf_appendf(&body,
                        "{\"rooms\":[\"o\",\"other\"],\"event\":\"n\",\"id\":\"%d\","
                        "\"data\":{\"n\":%d}}",
                        i, i);
        assert_int_equal(publish_on(&pub, &body), STREAMS);
        srt_buf_free(&body);
    }
    for (int k = 0; k < STREAMS; k++) {
        for (int i = 1; i <= MESSAGES; i++) {
            char want[128];
            snprintf(want, sizeof want, "id: %d\nevent: n\ndata: {\"n\":%d}\n\n", i, i);
            srt_check_frame(&s[k], want);
        }
        srt_check_quiet(&s[k], k == 0 ? 100 : 0);
    }
    assert_int_equal(srt_check_stat(p.port, "messages_in"), MESSAGES);
    assert_int_equal(srt_check_stat(p.port, "messages_out"), MESSAGES * STREAMS);
    for (int k = 0; k < STREAMS; k++) srt_sse_close(&s[k]);
    srt_conn_close(&pub);
    srt_check_stop(&p);
}

static void test_abrupt_clients(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);

    /* a stream reset by its client */
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=gone");
    struct linger lg = {1, 0};
    setsockopt(s.conn.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    srt_sse_close(&s);
    srt_check_room_members(p.port, "gone", 0, 3000);
    srt_check_publish_delivered(p.port, "{\"room\":\"gone\",\"data\":1}", 0);

    /* a stream whose client keeps sending junk after its request */
    srt_sse junk;
    srt_check_sse_open(&junk, p.port, "/sse?room=junk");
    char noise[4096];
    memset(noise, 'z', sizeof noise);
    for (int i = 0; i < 64; i++) {
        if (srt_conn_send(&junk.conn, noise, sizeof noise, 1000) != 0)
            break; /* the server may close such a stream: fine */
    }
    srt_check_healthy(p.port);
    long long n = srt_check_publish(p.port, "{\"room\":\"junk\",\"data\":2}");
    assert_true(n == 0 || n == 1);
    srt_sse_close(&junk);

    /* a client that disconnects in the middle of a request */
    srt_conn c;
    assert_int_equal(srt_conn_open(&c, p.port, SRT_TIMEOUT_MS), 0);
    assert_int_equal(
        srt_conn_send_str(&c, "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{",
                          SRT_TIMEOUT_MS),
        0);
    srt_conn_close(&c);
    /* and many streams opened and closed at once */
    for (int i = 0; i < 50; i++) {
        srt_sse t;
        srt_check_sse_open(&t, p.port, "/sse?room=churn&room=gone");
        srt_sse_close(&t);
    }
    srt_check_room_members(p.port, "churn", 0, 3000);
    srt_check_room_members(p.port, "junk", 0, 3000);
    srt_check_healthy(p.port);
    assert_true(srt_proc_alive(&p));
    srt_check_stop(&p);
}

static void test_graceful_shutdown(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=s");
    srt_conn partial, idle;
    assert_int_equal(srt_conn_open(&partial, p.port, SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_conn_send_str(&partial, "GET /heal", SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_conn_open(&idle, p.port, SRT_TIMEOUT_MS), 0);
    srt_response r;
    assert_int_equal(srt_http_send_request(&idle, "GET", "/healthz", NULL, NULL, 0, SRT_TIMEOUT_MS),
                     0);
    assert_int_equal(srt_http_read_response(&idle, &r, SRT_TIMEOUT_MS), 0);
    srt_response_free(&r);

    for (int i = 1; i <= 3; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"room\":\"s\",\"data\":%d}", i);
        srt_check_publish_delivered(p.port, body, 1);
    }
    int port = p.port;
    assert_int_equal(srt_proc_signal(&p, SIGTERM), 0);
    /* the queued frames arrive, then a clean end of stream */
    srt_check_frame(&s, "data: 1\n\n");
    srt_check_frame(&s, "data: 2\n\n");
    srt_check_frame(&s, "data: 3\n\n");
    size_t more = 0;
    assert_int_equal(srt_sse_wait_eof(&s, &more, 5000), 0);
    assert_int_equal(more, 0);
    assert_int_equal(s.conn.err, 0);
    assert_int_equal(srt_conn_wait_eof(&partial, 5000), 0);
    assert_int_equal(srt_conn_wait_eof(&idle, 5000), 0);
    assert_int_equal(srt_proc_wait(&p, 10000), 0);

    srt_conn late;
    assert_true(srt_conn_open(&late, port, 2000) < 0);
    srt_conn_close(&partial);
    srt_conn_close(&idle);
    srt_sse_close(&s);

    /* SIGINT too */
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_check_sse_open(&s, p.port, "/sse?room=s");
    srt_check_room_members(p.port, "s", 1, 1000);
    assert_int_equal(srt_proc_stop(&p, SIGINT, 10000), 0);
    assert_int_equal(srt_sse_wait_eof(&s, NULL, 5000), 0);
    srt_sse_close(&s);
}

static void test_fanout_2000_streams(void **state) {
    (void)state;
    enum { N = 2000 };
    srt_proc p;
    /* every stream comes from 127.0.0.1 */
    assert_int_equal(srt_server_start(&p, "--max-connections-per-addr", "0", NULL), 0);
    long rss0 = 0, hwm0 = 0;
    assert_int_equal(srt_proc_mem(&p, &rss0, &hwm0), 0);

    srt_fleet f;
    int64_t t0 = srt_now_ms();
    assert_int_equal(srt_fleet_open(&f, p.port, "/sse?room=big", N, 60000), 0);
    int64_t t1 = srt_now_ms();
    srt_check_room_members(p.port, "big", N, 10000);
    assert_int_equal(srt_check_stat(p.port, "streams"), N);
    long rss1 = 0, hwm1 = 0;
    assert_int_equal(srt_proc_mem(&p, &rss1, &hwm1), 0);

    const char *frame = "id: f1\nevent: fan\ndata: {\"to\":\"everyone\"}\n\n";
    int64_t t2 = srt_now_ms();
    srt_check_publish_delivered(
        p.port, "{\"room\":\"big\",\"event\":\"fan\",\"id\":\"f1\",\"data\":{\"to\":\"everyone\"}}",
        N);
    size_t matched = srt_fleet_expect_all(&f, frame, 30000);
    int64_t t3 = srt_now_ms();
    fprintf(stderr,
            "%d streams: opened in %lld ms; one publish reached %zu in %lld ms; server RSS "
            "%ld kB idle, %ld kB with streams (%.2f kB/stream), peak %ld kB\n",
            N, (long long)(t1 - t0), matched, (long long)(t3 - t2), rss0, rss1,
            (double)(rss1 - rss0) / N, hwm1);
    assert_int_equal(matched, N);

    srt_fleet_close(&f);
    srt_check_room_members(p.port, "big", 0, 15000);
    assert_int_equal(srt_check_stat(p.port, "streams"), 0);
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_slow_consumer_disconnected, srt_teardown_servers),
        cmocka_unit_test_teardown(test_order_on_many_streams, srt_teardown_servers),
        cmocka_unit_test_teardown(test_abrupt_clients, srt_teardown_servers),
        cmocka_unit_test_teardown(test_graceful_shutdown, srt_teardown_servers),
        cmocka_unit_test_teardown(test_fanout_2000_streams, srt_teardown_servers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
