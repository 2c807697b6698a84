/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c: the library with two writer threads (cfg.threads = 3),
 * in process, over real sockets.
 *
 * The server runs on this thread's loop (its writer threads write the
 * streams); the clients are plain non-blocking sockets read while the test
 * turns the loop. Checked: fan-out to many streams in several rooms
 * arrives exactly once and in order on every stream, with bytes_out,
 * messages_out and the latency histogram agreeing with what the clients
 * read; a slow consumer is dropped while a reader gets everything;
 * closing, evicting and resetting streams while frames are in flight
 * (ASan watches for use after free); sr_close after a final message; a
 * graceful shutdown delivers what was queued; the heartbeat wheel sends
 * heartbeats to an idle stream and none to a busy one.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "srt_http.h"
#include "srt_redis.h"
#include "sserooms.h"

static uv_loop_t *loop;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- clients -------------------------------------------------------------- */

typedef struct client {
    int fd;
    char *buf;
    size_t len, cap;
    size_t total; /* bytes received, ever */
    int eof;
} client;

static client *client_open(int port, const char *path, int rcvbuf) {
    client *c = calloc(1, sizeof(*c));
    c->fd = srt_http_open_get(port, path, rcvbuf);
    assert_true(c->fd >= 0);
    return c;
}

static void client_read(client *c) {
    while (!c->eof) {
        if (c->cap - c->len < 65536) {
            c->cap = c->cap ? c->cap * 2 : 131072;
            c->buf = realloc(c->buf, c->cap + 1);
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            c->total += (size_t)n;
            c->buf[c->len] = '\0';
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) c->eof = 1;
        return;
    }
}

static void client_free(client *c) {
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    free(c);
}

/* Turns the loop and reads every client once. */
static void pump(client **cs, size_t n) {
    uv_run(loop, UV_RUN_NOWAIT);
    for (size_t i = 0; i < n; i++)
        if (cs[i]) client_read(cs[i]);
}

typedef int (*done_fn)(client **cs, size_t n, void *ud);

/* Pumps until done says so or ms pass; returns done's last answer. */
static int pump_until(client **cs, size_t n, done_fn done, void *ud, unsigned ms) {
    uint64_t end = now_ms() + ms;
    for (;;) {
        pump(cs, n);
        int d = done(cs, n, ud);
        if (d || now_ms() >= end) return d;
        usleep(500);
    }
}

static size_t count_of(const char *hay, const char *needle) {
    size_t k = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle)) k++;
    return k;
}

static int heads_done(client **cs, size_t n, void *ud) {
    (void)ud;
    for (size_t i = 0; i < n; i++)
        if (!cs[i]->buf || !strstr(cs[i]->buf, "\r\n\r\n")) return 0;
    return 1;
}

/* Bytes from the start of the body. */
static const char *body(client *c) {
    const char *p = c->buf ? strstr(c->buf, "\r\n\r\n") : NULL;
    return p ? p + 4 : "";
}

/* The client has a whole response: its head and Content-Length bytes. */
static int response_complete(const client *c) {
    const char *head_end = c->buf ? strstr(c->buf, "\r\n\r\n") : NULL;
    const char *len = c->buf ? strcasestr(c->buf, "\r\nContent-Length:") : NULL;
    if (!head_end || !len || len > head_end) return 0;
    size_t want = strtoull(len + strlen("\r\nContent-Length:"), NULL, 10);
    return c->len - (size_t)(head_end + 4 - c->buf) >= want;
}

/* --- server ----------------------------------------------------------------- */

typedef struct fixture {
    sr_server *srv;
    int closed;
    int shut;
} fixture;

static void on_close(void *ud, sr_conn *conn) {
    (void)conn;
    ((fixture *)ud)->closed++;
}

static void on_shutdown(void *ud, sr_server *srv) {
    (void)srv;
    ((fixture *)ud)->shut = 1;
}

static fixture *start(uint32_t heartbeat_ms, size_t max_queue) {
    fixture *f = calloc(1, sizeof(*f));
    sr_config cfg;
    sr_config_init(&cfg);
    cfg.port = 0;
    cfg.threads = 3; /* two writer threads beside this loop */
    cfg.heartbeat_ms = heartbeat_ms;
    cfg.max_connections_per_addr = 0;
    if (max_queue) cfg.max_queue_bytes = max_queue;
    assert_int_equal(sr_server_new(&f->srv, loop, &cfg), 0);
    assert_int_equal(sr_server_listen(f->srv), 0);
    sr_server_on_close(f->srv, on_close, f);
    return f;
}

static int shut_done(client **cs, size_t n, void *ud) {
    (void)cs, (void)n;
    return ((fixture *)ud)->shut;
}

static void stop(fixture *f, client **cs, size_t n) {
    sr_server_shutdown(f->srv, on_shutdown, f);
    assert_true(pump_until(cs, n, shut_done, f, 10000));
    sr_server_free(f->srv);
    free(f);
}

static int broadcast(sr_server *srv, const char *const *rooms, size_t n_rooms, const char *id,
                     const char *data) {
    sr_message m = {.id = id, .data = data, .data_len = SIZE_MAX};
    return sr_broadcast(srv, rooms, n_rooms, &m, NULL);
}

/* --- fan-out ---------------------------------------------------------------- */

enum { FAN_STREAMS = 240, FAN_MESSAGES = 300 };

typedef struct fan_state {
    size_t expected_bytes[FAN_STREAMS]; /* body bytes each should get */
} fan_state;

static int fan_done(client **cs, size_t n, void *ud) {
    fan_state *st = ud;
    for (size_t i = 0; i < n; i++)
        if (strlen(body(cs[i])) < st->expected_bytes[i]) return 0;
    return 1;
}

/* Stream i joins room i % 4, and every third one also room "all". */
static int member_of(size_t i, int room) {
    return (int)(i % 4) == room || (room == 4 && i % 3 == 0);
}

static void test_fanout_exactly_once_in_order(void **state) {
    (void)state;
    fixture *f = start(0, 0);
    int port = sr_server_port(f->srv);
    static const char *names[] = {"r0", "r1", "r2", "r3", "all"};
    client *cs[FAN_STREAMS];
    for (size_t i = 0; i < FAN_STREAMS; i++) {
        char path[128];
        if (i % 3 == 0) snprintf(path, sizeof path, "/sse?room=r%zu&room=all", i % 4);
        else snprintf(path, sizeof path, "/sse?room=r%zu", i % 4);
        cs[i] = client_open(port, path, 0);
    }
    assert_true(pump_until(cs, FAN_STREAMS, heads_done, NULL, 10000));
    size_t head_bytes = 0;
    for (size_t i = 0; i < FAN_STREAMS; i++) head_bytes += (size_t)(body(cs[i]) - cs[i]->buf);

    /* several broadcasts per loop turn: they leave in one write per stream */
    static fan_state st;
    static char expect[FAN_STREAMS][FAN_MESSAGES * 40];
    size_t expect_len[FAN_STREAMS] = {0};
    size_t deliveries = 0;
    for (int m = 0; m < FAN_MESSAGES; m++) {
        const char *targets[2];
        size_t nt = 0;
        targets[nt++] = names[m % 5];
        if (m % 7 == 0) targets[nt++] = names[(m + 1) % 5]; /* overlapping rooms */
        char id[16], data[32];
        snprintf(id, sizeof id, "%d", m);
        snprintf(data, sizeof data, "{\"m\":%d}", m);
        size_t want = 0;
        char frame[64];
        int flen = snprintf(frame, sizeof frame, "id: %d\ndata: {\"m\":%d}\n\n", m, m);
        for (size_t i = 0; i < FAN_STREAMS; i++) {
            int in = 0;
            for (size_t t = 0; t < nt; t++)
                in |= member_of(i, strcmp(targets[t], "all") == 0 ? 4 : targets[t][1] - '0');
            if (!in) continue;
            memcpy(expect[i] + expect_len[i], frame, (size_t)flen);
            expect_len[i] += (size_t)flen;
            want++;
        }
        assert_int_equal(broadcast(f->srv, targets, nt, id, data), (int)want);
        deliveries += want;
        if (m % 10 == 9) pump(cs, FAN_STREAMS);
    }
    for (size_t i = 0; i < FAN_STREAMS; i++) st.expected_bytes[i] = expect_len[i];
    assert_true(pump_until(cs, FAN_STREAMS, fan_done, &st, 20000));
    pump(cs, FAN_STREAMS);
    size_t body_bytes = 0;
    for (size_t i = 0; i < FAN_STREAMS; i++) {
        expect[i][expect_len[i]] = '\0';
        const char *got = body(cs[i]);
        if (strcmp(got, expect[i]) != 0) {
            size_t k = 0;
            while (got[k] && got[k] == expect[i][k]) k++;
            fail_msg("stream %zu: got %zu bytes, wanted %zu (first difference at byte %zu)", i,
                     strlen(got), expect_len[i], k);
        }
        body_bytes += expect_len[i];
    }
    sr_stats s;
    sr_server_stats(f->srv, &s);
    assert_int_equal(s.streams, FAN_STREAMS);
    assert_int_equal(s.messages_out, deliveries);
    assert_int_equal(s.bytes_out, head_bytes + body_bytes); /* summed over the writers */

    /* the latency histogram counts each delivered frame once */
    client *mc = client_open(port, "/metrics", 0);
    client *all[FAN_STREAMS + 1];
    memcpy(all, cs, sizeof cs);
    all[FAN_STREAMS] = mc;
    uint64_t end = now_ms() + 5000;
    while (!response_complete(mc) && now_ms() < end) pump(all, FAN_STREAMS + 1);
    assert_true(response_complete(mc));
    const char *cnt = strstr(mc->buf ? mc->buf : "", "sserooms_delivery_latency_seconds_count ");
    assert_non_null(cnt);
    assert_int_equal(strtoull(cnt + strlen("sserooms_delivery_latency_seconds_count "), NULL, 10),
                     deliveries);
    client_free(mc);

    stop(f, cs, FAN_STREAMS);
    for (size_t i = 0; i < FAN_STREAMS; i++) client_free(cs[i]);
}

/* --- slow consumer ------------------------------------------------------------ */

typedef struct slow_state {
    fixture *f;
    size_t want;
} slow_state;

static int slow_done(client **cs, size_t n, void *ud) {
    (void)n;
    slow_state *st = ud;
    sr_stats s;
    sr_server_stats(st->f->srv, &s);
    return s.slow_disconnects == 1 && st->f->closed == 1 && strlen(body(cs[0])) >= st->want;
}

static void test_slow_consumer_dropped(void **state) {
    (void)state;
    fixture *f = start(0, 32 * 1024);
    int port = sr_server_port(f->srv);
    client *cs[2];
    cs[0] = client_open(port, "/sse?room=feed", 0);
    cs[1] = client_open(port, "/sse?room=feed", 2048); /* never read after the head */
    assert_true(pump_until(cs, 2, heads_done, NULL, 10000));
    client *reader[1] = {cs[0]};
    char data[1100];
    memset(data, 'x', sizeof data);
    data[0] = '"';
    data[sizeof data - 2] = '"';
    data[sizeof data - 1] = '\0';
    size_t want = 0;
    const char *room[] = {"feed"};
    for (int m = 0; m < 2000 && f->closed == 0; m++) {
        char id[16];
        snprintf(id, sizeof id, "%d", m);
        assert_true(broadcast(f->srv, room, 1, id, data) >= 1);
        want += strlen("id: \ndata: \n\n") + strlen(id) + strlen(data);
        pump(reader, 1); /* the non-reader's socket fills up */
        if (m % 50 == 49) usleep(1000);
    }
    slow_state st = {f, want};
    if (!pump_until(reader, 1, slow_done, &st, 15000)) {
        sr_stats s;
        sr_server_stats(f->srv, &s);
        fail_msg("slow_disconnects %llu, closed %d, reader has %zu of %zu bytes",
                 (unsigned long long)s.slow_disconnects, f->closed, strlen(body(cs[0])), want);
    }
    assert_int_equal(sr_room_count(f->srv, "feed"), 1);
    /* the reader got everything, in order */
    const char *p = body(cs[0]);
    for (int m = 0; *p; m++) {
        char idl[24];
        snprintf(idl, sizeof idl, "id: %d\n", m);
        assert_memory_equal(p, idl, strlen(idl));
        p = strstr(p, "\n\n");
        assert_non_null(p);
        p += 2;
    }
    stop(f, cs, 2);
    client_free(cs[0]);
    client_free(cs[1]);
}

/* --- closing while frames are in flight ----------------------------------------- */

enum { FLIGHT_STREAMS = 60 };

static int flight_done(client **cs, size_t n, void *ud) {
    (void)ud;
    for (size_t i = 0; i < n; i++) {
        if (i % 4 == 0 || i % 4 == 1) { /* room closed, or sr_close after a last message */
            if (!cs[i]->eof) return 0;
        }
    }
    return 1;
}

static void test_close_evict_reset_in_flight(void **state) {
    (void)state;
    fixture *f = start(0, 4 * 1024 * 1024);
    int port = sr_server_port(f->srv);
    client *cs[FLIGHT_STREAMS];
    sr_conn *conns[FLIGHT_STREAMS];
    for (size_t i = 0; i < FLIGHT_STREAMS; i++) {
        char path[64];
        snprintf(path, sizeof path, "/sse?room=g%zu&room=every", i % 4);
        cs[i] = client_open(port, path, 4096);
    }
    assert_true(pump_until(cs, FLIGHT_STREAMS, heads_done, NULL, 10000));
    const char *every[] = {"every"};
    assert_int_equal(sr_room_members(f->srv, "every", conns, FLIGHT_STREAMS), FLIGHT_STREAMS);

    /* big frames: most stay queued in the writers while we close */
    size_t big = 48 * 1024;
    char *data = malloc(big + 3);
    memset(data, 'y', big + 2);
    data[0] = '"';
    data[big + 1] = '"';
    data[big + 2] = '\0';
    for (int m = 0; m < 6; m++) {
        char id[8];
        snprintf(id, sizeof id, "%d", m);
        assert_int_equal(broadcast(f->srv, every, 1, id, data), FLIGHT_STREAMS);
    }
    uv_run(loop, UV_RUN_NOWAIT); /* handed to the writers, partly written */
    assert_int_equal(sr_room_close(f->srv, "g0"), FLIGHT_STREAMS / 4);
    for (size_t i = 1; i < FLIGHT_STREAMS; i += 4) { /* a last message, then close */
        sr_message last = {.event = "bye", .data = "{}", .data_len = SIZE_MAX};
        assert_int_equal(sr_send(conns[i], &last), SR_OK);
        sr_close(conns[i]);
    }
    assert_int_equal(sr_room_evict(f->srv, "g2"), FLIGHT_STREAMS / 4);
    for (size_t i = 3; i < FLIGHT_STREAMS; i += 4) { /* the peers reset */
        struct linger lg = {1, 0};
        setsockopt(cs[i]->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(cs[i]->fd);
        cs[i]->fd = -1;
        cs[i]->eof = 1;
    }
    for (int m = 6; m < 9; m++) { /* more to the survivors meanwhile */
        char id[8];
        snprintf(id, sizeof id, "%d", m);
        broadcast(f->srv, every, 1, id, data);
    }
    assert_true(pump_until(cs, FLIGHT_STREAMS, flight_done, NULL, 20000));
    /* the sr_close'd streams got all six messages and the last one first */
    for (size_t i = 1; i < FLIGHT_STREAMS; i += 4) {
        const char *b = body(cs[i]);
        assert_int_equal(count_of(b, "\n\n"), 7);
        assert_non_null(strstr(b, "event: bye\ndata: {}\n\n"));
        assert_int_equal(strlen(strstr(b, "event: bye")), strlen("event: bye\ndata: {}\n\n"));
    }
    /* evicted streams stay open and still get sr_send */
    for (size_t i = 2; i < FLIGHT_STREAMS; i += 4) {
        assert_false(cs[i]->eof);
        sr_conn *c = sr_conn_find(f->srv, sr_conn_id(conns[i]));
        assert_ptr_equal(c, conns[i]);
        sr_message hi = {.data = "1", .data_len = SIZE_MAX};
        assert_int_equal(sr_send(c, &hi), SR_OK);
    }
    uint64_t end = now_ms() + 10000;
    for (;;) {
        pump(cs, FLIGHT_STREAMS);
        int all = 1;
        for (size_t i = 2; i < FLIGHT_STREAMS; i += 4)
            if (!strstr(body(cs[i]), "data: 1\n\n")) all = 0;
        if (all || now_ms() > end) break;
        usleep(500);
    }
    for (size_t i = 2; i < FLIGHT_STREAMS; i += 4) {
        const char *b = body(cs[i]);
        assert_int_equal(count_of(b, "\n\n"), 10); /* nine to "every" + the sr_send */
    }
    free(data);
    stop(f, cs, FLIGHT_STREAMS);
    for (size_t i = 0; i < FLIGHT_STREAMS; i++) client_free(cs[i]);
}

/* --- graceful shutdown ------------------------------------------------------------ */

static void test_shutdown_delivers_queued(void **state) {
    (void)state;
    fixture *f = start(0, 8 * 1024 * 1024);
    int port = sr_server_port(f->srv);
    client *cs[3];
    for (size_t i = 0; i < 3; i++) cs[i] = client_open(port, "/sse?room=s", 4096);
    assert_true(pump_until(cs, 3, heads_done, NULL, 10000));
    size_t big = 200 * 1024;
    char *data = malloc(big + 3);
    memset(data, 'z', big + 2);
    data[0] = '"';
    data[big + 1] = '"';
    data[big + 2] = '\0';
    const char *room[] = {"s"};
    for (int m = 0; m < 5; m++) assert_int_equal(broadcast(f->srv, room, 1, NULL, data), 3);
    sr_server_shutdown(f->srv, on_shutdown, f); /* with about 1 MB queued per stream */
    uint64_t end = now_ms() + 20000;
    while ((!f->shut || !cs[0]->eof || !cs[1]->eof || !cs[2]->eof) && now_ms() < end) {
        pump(cs, 3);
        usleep(200);
    }
    assert_true(f->shut);
    size_t frame = strlen("data: \n\n") + big + 2;
    for (size_t i = 0; i < 3; i++) {
        assert_true(cs[i]->eof);
        assert_int_equal(strlen(body(cs[i])), 5 * frame);
    }
    sr_server_free(f->srv);
    free(f);
    free(data);
    for (size_t i = 0; i < 3; i++) client_free(cs[i]);
}

/* --- heartbeat wheel ----------------------------------------------------------------- */

static void test_heartbeat_wheel(void **state) {
    (void)state;
    fixture *f = start(200, 0);
    int port = sr_server_port(f->srv);
    client *cs[2];
    cs[0] = client_open(port, "/sse?room=quiet", 0);
    cs[1] = client_open(port, "/sse?room=busy", 0);
    assert_true(pump_until(cs, 2, heads_done, NULL, 10000));
    const char *busy[] = {"busy"};
    uint64_t start_ms = now_ms(), next = start_ms;
    int sent = 0;
    while (now_ms() - start_ms < 1500) {
        if (now_ms() >= next) { /* every 40 ms: never idle for half an interval */
            assert_int_equal(broadcast(f->srv, busy, 1, NULL, "1"), 1);
            sent++;
            next += 40;
        }
        pump(cs, 2);
        usleep(1000);
    }
    /* every broadcast sent has arrived (the last ones were still in flight) */
    uint64_t end = now_ms() + 10000;
    while (count_of(body(cs[1]), "data: 1\n\n") < (size_t)sent && now_ms() < end) pump(cs, 2);
    size_t quiet_hb = count_of(body(cs[0]), ": heartbeat\n\n");
    size_t busy_hb = count_of(body(cs[1]), ": heartbeat\n\n");
    /* 1.5 s at 200 ms: 7 intervals; the wheel skips nothing idle */
    if (quiet_hb < 4 || quiet_hb > 10)
        fail_msg("idle stream got %zu heartbeats in 1.5 s", quiet_hb);
    assert_int_equal(busy_hb, 0);
    assert_int_equal(count_of(body(cs[1]), "data: 1\n\n"), (size_t)sent);
    sr_stats s;
    sr_server_stats(f->srv, &s);
    assert_true(s.heartbeats >= quiet_hb && s.heartbeats <= quiet_hb + 1);
    stop(f, cs, 2);
    client_free(cs[0]);
    client_free(cs[1]);
}

int main(void) {
    uv_loop_t l;
    uv_loop_init(&l);
    loop = &l;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fanout_exactly_once_in_order),
        cmocka_unit_test(test_slow_consumer_dropped),
        cmocka_unit_test(test_close_evict_reset_in_flight),
        cmocka_unit_test(test_shutdown_delivers_queued),
        cmocka_unit_test(test_heartbeat_wheel),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* every server was freed: nothing of theirs may stay on the loop */
    if (srt_uv_loop_drain_close(loop) != 0) {
        fprintf(stderr, "uv_loop_close: the loop still had handles after the tests\n");
        rc = 1;
    }
    return rc;
}
