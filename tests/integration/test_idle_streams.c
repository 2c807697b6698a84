/* SPDX-License-Identifier: MIT */
/*
 * test_idle_streams.c: plain SSE streams give up their libuv TCP handle
 * (src/server/idle.c) and keep every behaviour, in process over real
 * sockets, with and without writer threads.
 *
 * The server runs on this thread's loop (turned with UV_RUN_NOWAIT while
 * the test waits); clients are non-blocking sockets. Asserted: once the
 * streams are open no TCP handle is left on the loop for them (uv_walk);
 * a broadcast reaches every stream; a client that goes away is noticed
 * (close hook, /stats counts); a stream whose socket fills up (a client
 * that does not read, one loop thread) gets every message in order once
 * it reads, and is idle again without a handle afterwards; a graceful
 * shutdown ends the streams and frees everything (ASan checks the rest).
 */
#include <errno.h>
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

#define N_STREAMS 40

static uv_loop_t *loop;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- a client that reads what is there, without blocking --------------- */

typedef struct client {
    int fd;
    char *buf;
    size_t len, cap;
    int eof;
} client;

static void client_read(client *c) {
    if (c->eof) return;
    for (;;) {
        if (c->cap - c->len < 65536) {
            c->cap = c->cap ? c->cap * 2 : 131072;
            c->buf = realloc(c->buf, c->cap + 1);
            assert_non_null(c->buf);
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            c->buf[c->len] = '\0';
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) c->eof = 1;
        return;
    }
}

static client *client_open(int port, const char *path, int rcvbuf) {
    client *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->fd = srt_http_open_get(port, path, rcvbuf);
    assert_true(c->fd >= 0);
    return c;
}

static void client_free(client *c) {
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    free(c);
}

/* Turns the loop and reads every client until pred(ud) holds. */
static int wait_for(client **cs, size_t n, int (*pred)(void *), void *ud, unsigned ms) {
    uint64_t end = now_ms() + ms;
    for (;;) {
        uv_run(loop, UV_RUN_NOWAIT);
        for (size_t i = 0; i < n; i++)
            if (cs[i]) client_read(cs[i]);
        if (pred(ud)) return 1;
        if (now_ms() >= end) return 0;
        usleep(500);
    }
}

typedef struct want_text {
    client **cs;
    size_t n;
    const char *text;
} want_text;

static int all_have(void *ud) {
    want_text *w = ud;
    for (size_t i = 0; i < w->n; i++) {
        const client *c = w->cs[i];
        /* the text is at the end of what came: the tail is enough */
        size_t from = c->len > 16384 ? c->len - 16384 : 0;
        if (!c->buf || !strstr(c->buf + from, w->text)) return 0;
    }
    return 1;
}

/* --- the loop's TCP handles --------------------------------------------- */

static void count_tcp(uv_handle_t *h, void *arg) {
    if (h->type == UV_TCP && !uv_is_closing(h)) (*(int *)arg)++;
}

static int tcp_handles(void) {
    int n = 0;
    uv_walk(loop, count_tcp, &n);
    return n;
}

/* --- the server ---------------------------------------------------------- */

typedef struct fixture {
    sr_server *srv;
    int closed; /* close hook calls */
    int done;   /* shutdown finished */
} fixture;

static void on_close(void *ud, sr_conn *conn) {
    (void)conn;
    ((fixture *)ud)->closed++;
}

static fixture *start_server(unsigned threads, size_t max_queue_bytes) {
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    sr_config cfg;
    sr_config_init(&cfg);
    cfg.port = 0;
    cfg.heartbeat_ms = 0;
    cfg.threads = threads;
    cfg.max_connections_per_addr = 0;
    if (max_queue_bytes) cfg.max_queue_bytes = max_queue_bytes;
    assert_int_equal(sr_server_new(&f->srv, loop, &cfg), 0);
    assert_int_equal(sr_server_listen(f->srv), 0);
    sr_server_on_close(f->srv, on_close, f);
    return f;
}

static void on_shutdown(void *ud, sr_server *srv) {
    (void)srv;
    ((fixture *)ud)->done = 1;
}

static int shutdown_finished(void *ud) {
    return ((fixture *)ud)->done;
}

static int all_eof(void *ud) {
    want_text *w = ud;
    for (size_t i = 0; i < w->n; i++)
        if (w->cs[i] && !w->cs[i]->eof) return 0;
    return 1;
}

static void stop_server(fixture *f, client **cs, size_t n) {
    sr_server_shutdown(f->srv, on_shutdown, f);
    assert_true(wait_for(cs, n, shutdown_finished, f, 10000));
    want_text w = {cs, n, NULL};
    assert_true(wait_for(cs, n, all_eof, &w, 5000)); /* every stream ended */
    sr_server_free(f->srv);
    free(f);
}

static uint64_t streams_open(const fixture *f) {
    sr_stats st;
    sr_server_stats(f->srv, &st);
    return st.streams;
}

typedef struct want_streams {
    fixture *f;
    uint64_t streams;
    int closed;
} want_streams;

static int streams_down_to(void *ud) {
    want_streams *w = ud;
    return streams_open(w->f) == w->streams && w->f->closed == w->closed;
}

/* --- tests ---------------------------------------------------------------- */

/* N idle streams hold no TCP handle on the loop; they still get a
 * broadcast, a client that leaves is noticed, and shutdown ends them. */
static void idle_streams(unsigned threads) {
    fixture *f = start_server(threads, 0);
    int port = sr_server_port(f->srv);
    client *cs[N_STREAMS];
    for (size_t i = 0; i < N_STREAMS; i++) cs[i] = client_open(port, "/sse?room=idle", 0);
    want_text head = {cs, N_STREAMS, "\r\n\r\n"};
    assert_true(wait_for(cs, N_STREAMS, all_have, &head, 10000));
    assert_int_equal(streams_open(f), N_STREAMS);
    /* the last handles close in the turn after the last head went out */
    uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(tcp_handles(), 0);

    const char *rooms[] = {"idle"};
    sr_message m = {.id = "7", .event = "e", .data = "{\"n\":7}", .data_len = SIZE_MAX};
    assert_int_equal(sr_broadcast(f->srv, rooms, 1, &m, NULL), N_STREAMS);
    want_text ev = {cs, N_STREAMS, "id: 7\nevent: e\ndata: {\"n\":7}\n\n"};
    assert_true(wait_for(cs, N_STREAMS, all_have, &ev, 10000));

    /* half of the clients go away: noticed without a handle */
    for (size_t i = 0; i < N_STREAMS / 2; i++) {
        client_free(cs[i]);
        cs[i] = NULL;
    }
    want_streams gone = {f, N_STREAMS / 2, N_STREAMS / 2};
    assert_true(wait_for(cs, N_STREAMS, streams_down_to, &gone, 10000));
    assert_int_equal(tcp_handles(), 0);

    stop_server(f, cs + N_STREAMS / 2, N_STREAMS / 2);
    for (size_t i = N_STREAMS / 2; i < N_STREAMS; i++) client_free(cs[i]);
}

static void test_idle_streams_one_thread(void **state) {
    (void)state;
    idle_streams(1);
}

static void test_idle_streams_writer_threads(void **state) {
    (void)state;
    idle_streams(2);
}

/* One loop thread writes a stream without a handle itself: a client that
 * does not read fills its socket; once it reads, every message arrives in
 * order, and the stream is idle without a handle again. */
static void test_full_socket_one_thread(void **state) {
    (void)state;
    enum { MESSAGES = 3000, SIZE = 4000 };
    fixture *f = start_server(1, 64u << 20);
    client *c = client_open(sr_server_port(f->srv), "/sse?room=full", 4096);
    want_text head = {&c, 1, "\r\n\r\n"};
    assert_true(wait_for(&c, 1, all_have, &head, 10000));
    uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(tcp_handles(), 0);
    size_t before = c->len;

    char *data = malloc(SIZE + 3);
    assert_non_null(data);
    data[0] = '"';
    memset(data + 1, 'x', SIZE);
    data[SIZE + 1] = '"';
    data[SIZE + 2] = '\0';
    const char *rooms[] = {"full"};
    char id[16];
    for (int i = 1; i <= MESSAGES; i++) {
        snprintf(id, sizeof(id), "%d", i);
        sr_message m = {.id = id, .event = "big", .data = data, .data_len = SIZE + 2};
        assert_int_equal(sr_broadcast(f->srv, rooms, 1, &m, NULL), 1);
        if (i % 50 == 0) uv_run(loop, UV_RUN_NOWAIT); /* the flush writes what fits */
    }
    free(data);
    uv_run(loop, UV_RUN_NOWAIT);
    /* the socket is full: part of the messages wait in the server */
    sr_stats st;
    sr_server_stats(f->srv, &st);
    size_t event_bytes = strlen("id: 1000\nevent: big\ndata: \n\n") + SIZE + 2;
    assert_true(st.bytes_out - before < (size_t)MESSAGES * event_bytes / 2);
    assert_int_equal(streams_open(f), 1);

    int big = 4 << 20; /* now it reads, at full speed */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    char last[32];
    snprintf(last, sizeof(last), "id: %d\n", MESSAGES);
    want_text all = {&c, 1, last};
    assert_true(wait_for(&c, 1, all_have, &all, 30000));
    /* every message once, in order */
    const char *p = c->buf + before, *stop = c->buf + c->len;
    for (int i = 1; i <= MESSAGES; i++) {
        char want[32];
        int n = snprintf(want, sizeof(want), "id: %d\n", i);
        /* right after the previous one */
        if ((size_t)(stop - p) < (size_t)n || memcmp(p, want, (size_t)n) != 0)
            fail_msg("message %d is not next: %.20s", i, p);
        const char *end = memmem(p + n, (size_t)(stop - p - n), "\n\n", 2);
        assert_non_null(end);
        p = end + 2;
    }
    assert_true(p == stop);
    assert_int_equal(tcp_handles(), 0);

    stop_server(f, &c, 1);
    client_free(c);
}

int main(void) {
    uv_loop_t l;
    uv_loop_init(&l);
    loop = &l;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_streams_one_thread),
        cmocka_unit_test(test_idle_streams_writer_threads),
        cmocka_unit_test(test_full_socket_one_thread),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* every server was freed: nothing of theirs may stay on the loop */
    if (srt_uv_loop_drain_close(loop) != 0) {
        fprintf(stderr, "uv_loop_close: the loop still had handles after the tests\n");
        rc = 1;
    }
    return rc;
}
