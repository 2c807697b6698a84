/* SPDX-License-Identifier: MIT */
/*
 * test_library.c: the embedding API, in process, over real sockets.
 *
 * The servers run on this thread's loop; the test's clients are plain
 * non-blocking sockets, and while waiting for bytes the test turns the
 * loop (uv_run NOWAIT), so no threads are needed. Covers what only the
 * library exposes: the accept hook, except lists, sr_send, sr_close,
 * room close/evict, room queries, the close hook, the in-process bus
 * between two servers (remote delivery and its de-duplication, joins
 * between the copies of one multi-room message), argument
 * errors, graceful shutdown, that broadcasts batched within one loop
 * turn (src/server/batch.c) keep publish order and membership exactly,
 * also when a room's sweep runs in slices over several turns (a publish
 * answered mid-sweep, joins, leaves and closes between slices),
 * that sr_request_peer is the client a trusted proxy names, and
 * sr_server_room_recovered (an adapter's lost and regained subscription:
 * the gap event, once per stream), sr_presence_rooms's pages without an
 * adapter, and structs from a newer header (the sized calls of the ABI
 * scheme).
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

/* --- a tiny client ------------------------------------------------------ */

typedef struct client {
    int fd;
    char buf[65536];
    size_t len;
    size_t pos; /* bytes already consumed */
    int eof;
} client;

static uv_loop_t *loop;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Turns the loop and reads what the client has, once. */
static void pump(client *c) {
    uv_run(loop, UV_RUN_NOWAIT);
    if (!c || c->eof) return;
    for (;;) {
        if (c->len + 1 >= sizeof(c->buf)) return; /* full: the caller consumes first */
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1, 0);
        if (n > 0) {
            c->len += (size_t)n;
            c->buf[c->len] = '\0';
            continue;
        }
        if (n == 0) c->eof = 1;
        return;
    }
}

static void pump_for(client *c, unsigned ms) {
    uint64_t end = now_ms() + ms;
    while (now_ms() < end) {
        pump(c);
        usleep(1000);
    }
}

static client *client_open(int port, const char *path) {
    client *c = calloc(1, sizeof(*c));
    c->fd = srt_http_open_get(port, path, 0);
    assert_true(c->fd >= 0);
    return c;
}

static void client_free(client *c) {
    close(c->fd);
    free(c);
}

/* Waits for the response head; returns the status code. */
static int client_status(client *c) {
    uint64_t end = now_ms() + 3000;
    while (now_ms() < end && !strstr(c->buf, "\r\n\r\n") && !c->eof) {
        pump(c);
        usleep(500);
    }
    char *head_end = strstr(c->buf, "\r\n\r\n");
    assert_non_null(head_end);
    c->pos = (size_t)(head_end + 4 - c->buf);
    int status = 0;
    sscanf(c->buf, "HTTP/1.1 %d", &status);
    return status;
}

/* Next SSE block (through the blank line), or NULL after the timeout. */
static char *client_event(client *c, unsigned timeout_ms) {
    uint64_t end = now_ms() + timeout_ms;
    for (;;) {
        char *start = c->buf + c->pos;
        char *blank = strstr(start, "\n\n");
        if (blank) {
            size_t n = (size_t)(blank + 2 - start);
            char *out = malloc(n + 1);
            memcpy(out, start, n);
            out[n] = '\0';
            c->pos += n;
            if (c->pos > sizeof(c->buf) / 2) { /* room for long streams */
                memmove(c->buf, c->buf + c->pos, c->len - c->pos + 1);
                c->len -= c->pos;
                c->pos = 0;
            }
            return out;
        }
        if (now_ms() >= end || c->eof) return NULL;
        pump(c);
        usleep(500);
    }
}

static void expect_event(client *c, const char *want) {
    char *ev = client_event(c, 3000);
    if (!ev) fail_msg("no event, wanted %s", want);
    assert_string_equal(ev, want);
    free(ev);
}

static void expect_no_event(client *c, unsigned ms) {
    char *ev = client_event(c, ms);
    if (ev) fail_msg("unexpected event: %s", ev);
}

static void expect_eof(client *c) {
    uint64_t end = now_ms() + 3000;
    while (!c->eof && now_ms() < end) {
        pump(c);
        usleep(500);
    }
    assert_true(c->eof);
}

/* --- server fixtures ---------------------------------------------------- */

typedef struct fixture {
    sr_server *srv;
    sr_conn *accepted[16];
    size_t n_accepted;
    int closed;
    int refuse_status; /* when set, the hook refuses */
    int custom;        /* when set, the hook joins "hook-room" only */
} fixture;

static int on_accept(void *ud, sr_conn *conn, sr_request *req) {
    fixture *f = ud;
    if (f->refuse_status) {
        sr_request_set_error(req, "no entry for you");
        return f->refuse_status;
    }
    assert_string_equal(sr_request_method(req), "GET");
    assert_string_equal(sr_request_path(req), "/sse");
    assert_string_equal(sr_request_peer(req), "127.0.0.1");
    assert_string_equal(sr_request_header(req, "host"), "t");
    if (f->n_accepted < 16) f->accepted[f->n_accepted++] = conn;
    sr_conn_set_userdata(conn, f);
    if (f->custom) {
        assert_int_equal(sr_join(conn, "hook-room"), 0);
        return SR_ACCEPT_CUSTOM;
    }
    return SR_ACCEPT;
}

static void on_close(void *ud, sr_conn *conn) {
    fixture *f = ud;
    assert_ptr_equal(sr_conn_userdata(conn), f);
    f->closed++;
}

/* slice: cfg.sweep_slice_streams, or UINT32_MAX for the default */
static fixture *start_server_sliced(uint32_t slice) {
    fixture *f = calloc(1, sizeof(*f));
    sr_config cfg;
    sr_config_init(&cfg);
    cfg.port = 0;
    cfg.heartbeat_ms = 0;
    if (slice != UINT32_MAX) cfg.sweep_slice_streams = slice;
    assert_int_equal(sr_server_new(&f->srv, loop, &cfg), 0);
    assert_int_equal(sr_server_listen(f->srv), 0);
    sr_server_on_accept(f->srv, on_accept, f);
    sr_server_on_close(f->srv, on_close, f);
    return f;
}

static fixture *start_server(void) {
    return start_server_sliced(UINT32_MAX);
}

static void shutdown_done(void *ud, sr_server *srv) {
    (void)srv;
    *(int *)ud = 1;
}

static void stop_server(fixture *f) {
    int done = 0;
    sr_server_shutdown(f->srv, shutdown_done, &done);
    uint64_t end = now_ms() + 5000;
    while (!done && now_ms() < end) uv_run(loop, UV_RUN_NOWAIT);
    assert_true(done);
    sr_server_free(f->srv);
    free(f);
}

static client *open_stream(fixture *f, const char *path) {
    client *c = client_open(sr_server_port(f->srv), path);
    assert_int_equal(client_status(c), 200);
    return c;
}

/* --- tests ------------------------------------------------------------- */

static void test_except_and_multiroom(void **state) {
    (void)state;
    fixture *f = start_server();
    client *a = open_stream(f, "/sse?room=a");
    client *ab = open_stream(f, "/sse?room=a&room=b");
    assert_int_equal(f->n_accepted, 2);
    const char *rooms[] = {"a", "b"};
    sr_message m = {.id = "1", .event = "e", .data = "{\"x\":1}", .data_len = SIZE_MAX};
    assert_int_equal(sr_broadcast(f->srv, rooms, 2, &m, NULL), 2);
    expect_event(a, "id: 1\nevent: e\ndata: {\"x\":1}\n\n");
    expect_event(ab, "id: 1\nevent: e\ndata: {\"x\":1}\n\n");
    expect_no_event(ab, 200); /* in a and b, yet once */

    sr_conn *except[] = {f->accepted[0]};
    sr_broadcast_opts opts = {.except = except, .n_except = 1};
    m.id = "2";
    assert_int_equal(sr_broadcast(f->srv, rooms, 2, &m, &opts), 1);
    expect_event(ab, "id: 2\nevent: e\ndata: {\"x\":1}\n\n");
    expect_no_event(a, 200);
    client_free(a);
    client_free(ab);
    stop_server(f);
}

static void test_room_recovered(void **state) {
    (void)state;
    fixture *f = start_server();
    client *a = open_stream(f, "/sse?room=a");
    client *ab = open_stream(f, "/sse?room=a&room=b");
    client *c = open_stream(f, "/sse?room=c");
    const char *rooms[] = {"a"};
    sr_message m = {.id = "1", .data = "1", .data_len = SIZE_MAX};
    assert_int_equal(sr_broadcast(f->srv, rooms, 1, &m, NULL), 2); /* batched, pending */
    /* two rooms back in one turn: a stream in both is told once, after what
     * was published before */
    sr_server_room_recovered(f->srv, "a", 1, 1000, 1250);
    sr_server_room_recovered(f->srv, "b", 1, 900, 1260);
    sr_server_room_recovered(f->srv, "nobody", 6, 900, 1260);
    expect_event(a, "id: 1\ndata: 1\n\n");
    expect_event(a, "event: gap\ndata: {\"reason\":\"redis\",\"from\":1000,\"to\":1250}\n\n");
    expect_event(ab, "id: 1\ndata: 1\n\n");
    expect_event(ab, "event: gap\ndata: {\"reason\":\"redis\",\"from\":1000,\"to\":1250}\n\n");
    expect_no_event(ab, 100);
    expect_no_event(c, 100);
    sr_server_room_recovered(NULL, "a", 1, 1, 2); /* ignored */
    client_free(a);
    client_free(ab);
    client_free(c);
    stop_server(f);
}

static void test_room_queries_and_send(void **state) {
    (void)state;
    fixture *f = start_server();
    client *c = open_stream(f, "/sse?room=z&room=y&room=x");
    sr_conn *conn = f->accepted[0];
    const char *names[8];
    assert_int_equal(sr_conn_rooms(conn, names, 8), 3);
    assert_string_equal(names[0], "z");
    assert_string_equal(names[1], "y");
    assert_string_equal(names[2], "x");
    assert_int_equal(sr_rooms(f->srv, names, 8), 3);
    assert_int_equal(sr_room_count(f->srv, "y"), 1);
    assert_int_equal(sr_room_count(f->srv, "nope"), 0);
    sr_conn *members[4];
    assert_int_equal(sr_room_members(f->srv, "x", members, 4), 1);
    assert_ptr_equal(members[0], conn);
    assert_ptr_equal(sr_conn_find(f->srv, sr_conn_id(conn)), conn);
    assert_ptr_equal(sr_conn_server(conn), f->srv);

    assert_int_equal(sr_leave(conn, "y"), 0);
    assert_int_equal(sr_leave(conn, "y"), 1);
    assert_int_equal(sr_join(conn, "x"), 1);
    assert_int_equal(sr_join(conn, "bad room"), SR_EROOM);
    assert_int_equal(sr_room_count(f->srv, "y"), 0);

    sr_message m = {.data = "\"hello\"", .data_len = SIZE_MAX, .retry = 250};
    assert_int_equal(sr_send(conn, &m), 0);
    expect_event(c, "data: \"hello\"\nretry: 250\n\n");

    sr_leave_all(conn);
    assert_int_equal(sr_conn_rooms(conn, names, 8), 0);
    assert_int_equal(sr_rooms(f->srv, names, 8), 0);
    client_free(c);
    stop_server(f);
}

/* What sr_presence_rooms gave: "<name>:<members>:<connections>:<nodes>"
 * joined by ',', and the next cursor. */
typedef struct rooms_seen {
    int calls, rc, cluster;
    char list[256];
    char next[64];
} rooms_seen;

static void on_rooms_page(void *ud, const sr_presence_room_page *p) {
    rooms_seen *s = ud;
    s->calls++;
    s->rc = p->rc;
    s->cluster = p->cluster;
    size_t len = 0;
    s->list[0] = '\0';
    for (size_t i = 0; i < p->n_rooms; i++)
        len += (size_t)snprintf(s->list + len, sizeof s->list - len, "%s%s:%llu:%llu:%llu",
                                i ? "," : "", p->rooms[i].room,
                                (unsigned long long)p->rooms[i].members,
                                (unsigned long long)p->rooms[i].connections,
                                (unsigned long long)p->rooms[i].nodes);
    snprintf(s->next, sizeof s->next, "%s", p->next_cursor ? p->next_cursor : "");
}

/* sr_presence_rooms without an adapter: this node's rooms by name, paged
 * by the hex cursor, answered before the call returns. */
static void test_presence_rooms_local(void **state) {
    (void)state;
    fixture *f = start_server();
    client *c = open_stream(f, "/sse?room=z&room=y&room=x");
    client *d = open_stream(f, "/sse?room=y");
    rooms_seen s = {0};
    sr_presence_query q = {.limit = 2};
    assert_int_equal(sr_presence_rooms(f->srv, &q, on_rooms_page, &s), 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.cluster, 0);
    assert_string_equal(s.list, "x:1:1:1,y:2:2:1");
    assert_string_equal(s.next, "79"); /* "y" */
    q.cursor = "79";
    assert_int_equal(sr_presence_rooms(f->srv, &q, on_rooms_page, &s), 0);
    assert_int_equal(s.calls, 2);
    assert_string_equal(s.list, "z:1:1:1");
    assert_string_equal(s.next, "");
    assert_int_equal(sr_presence_rooms(f->srv, NULL, on_rooms_page, &s), 0);
    assert_string_equal(s.list, "x:1:1:1,y:2:2:1,z:1:1:1");

    sr_presence_query bad_limit = {.limit = 1001}, bad_cursor = {.cursor = "zz"},
                      bad_name = {.cursor = "7b787d"}; /* "{x}" */
    assert_int_equal(sr_presence_rooms(f->srv, &bad_limit, on_rooms_page, &s), SR_EINVAL);
    assert_int_equal(sr_presence_rooms(f->srv, &bad_cursor, on_rooms_page, &s), SR_EINVAL);
    assert_int_equal(sr_presence_rooms(f->srv, &bad_name, on_rooms_page, &s), SR_EINVAL);
    assert_int_equal(sr_presence_rooms(f->srv, NULL, NULL, NULL), SR_EINVAL);
    assert_int_equal(s.calls, 3);
    client_free(c);
    client_free(d);
    stop_server(f);
}

static void test_argument_errors(void **state) {
    (void)state;
    fixture *f = start_server();
    const char *rooms[] = {"a"};
    const char *bad_rooms[] = {"a b"};
    sr_message bad_json = {.data = "{nope", .data_len = SIZE_MAX};
    sr_message bad_id = {.id = "1\n2", .data = "1", .data_len = SIZE_MAX};
    sr_message bad_event = {.event = "x\ry", .data = "1", .data_len = SIZE_MAX};
    sr_message ok = {.data = "1", .data_len = SIZE_MAX};
    assert_int_equal(sr_broadcast(f->srv, rooms, 1, &bad_json, NULL), SR_EJSON);
    assert_int_equal(sr_broadcast(f->srv, rooms, 1, &bad_id, NULL), SR_ENEWLINE);
    assert_int_equal(sr_broadcast(f->srv, rooms, 1, &bad_event, NULL), SR_ENEWLINE);
    assert_int_equal(sr_broadcast(f->srv, bad_rooms, 1, &ok, NULL), SR_EROOM);
    assert_int_equal(sr_broadcast(f->srv, rooms, 0, &ok, NULL), SR_EINVAL);
    sr_broadcast_opts bad_meta = {.meta = "{", .meta_len = 1};
    assert_int_equal(sr_broadcast(f->srv, rooms, 1, &ok, &bad_meta), SR_EJSON);
    assert_int_equal(sr_broadcast(f->srv, rooms, 1, &ok, NULL), 0); /* nobody there */
    assert_string_equal(sr_strerror(SR_EJSON), "invalid JSON");
    assert_string_equal(sr_strerror(12345), "unknown error");
    stop_server(f);
}

/* A program built against a newer header (see "ABI" in sserooms.h): its
 * larger structs are taken while the fields this library does not know are
 * zero, refused with the reason when one is set, and zeroed past the
 * library's fields when the library fills them. */
static int no_subscribe(void *ctx, const char *room) {
    (void)ctx;
    (void)room;
    return 0;
}

static void test_newer_header_structs(void **state) {
    (void)state;
    uv_loop_t newer_loop;
    assert_int_equal(uv_loop_init(&newer_loop), 0);
    struct {
        sr_config cfg;
        uint64_t unknown;
    } newer;
    memset(&newer, 0xff, sizeof newer);
    sr_config_init_(&newer.cfg, sizeof newer);
    assert_int_equal(newer.unknown, 0);
    assert_int_equal(newer.cfg.max_room_len, 128);
    newer.cfg.port = 0;
    newer.cfg.max_room_len = 7;
    newer.unknown = 1;
    char err[256] = "";
    assert_int_equal(sr_config_check_(&newer.cfg, sizeof newer, err, sizeof err), SR_EINVAL);
    assert_non_null(strstr(err, "newer sserooms"));
    sr_server *srv = NULL;
    assert_int_equal(sr_server_new_(&srv, &newer_loop, &newer.cfg, sizeof newer), SR_EINVAL);
    assert_null(srv);
    newer.unknown = 0;
    assert_int_equal(sr_config_check_(&newer.cfg, sizeof newer, err, sizeof err), SR_OK);
    assert_int_equal(sr_server_new_(&srv, &newer_loop, &newer.cfg, sizeof newer), SR_OK);
    sr_config running;
    sr_server_get_config(srv, &running);
    assert_int_equal(running.max_room_len, 7);

    struct {
        sr_adapter ad;
        int (*unknown)(void *ctx, const char *room);
    } adapter;
    memset(&adapter, 0, sizeof adapter);
    adapter.ad.name = "newer";
    adapter.unknown = no_subscribe;
    assert_int_equal(sr_server_set_adapter_(srv, &adapter.ad, sizeof adapter), SR_EINVAL);
    adapter.unknown = NULL;
    assert_int_equal(sr_server_set_adapter_(srv, &adapter.ad, sizeof adapter), SR_OK);

    struct {
        sr_stats st;
        uint64_t unknown;
    } stats;
    memset(&stats, 0xff, sizeof stats);
    sr_server_stats_(srv, &stats.st, sizeof stats);
    assert_int_equal(stats.st.streams, 0);
    assert_int_equal(stats.unknown, 0);

    struct {
        sr_redis_options o;
        uint64_t unknown;
    } redis;
    memset(&redis, 0xff, sizeof redis);
    sr_redis_options_init_(&redis.o, sizeof redis);
    assert_int_equal(redis.unknown, 0);
    redis.unknown = 1;
    assert_int_equal(sr_server_use_redis_(srv, &redis.o, sizeof redis, err, sizeof err), SR_EINVAL);
    assert_non_null(strstr(err, "newer sserooms"));

    int done = 0;
    sr_server_shutdown(srv, shutdown_done, &done);
    assert_true(done);
    sr_server_free(srv);
    assert_int_equal(uv_loop_close(&newer_loop), 0);
}

static void test_accept_hook(void **state) {
    (void)state;
    fixture *f = start_server();
    f->refuse_status = 403;
    client *c = client_open(sr_server_port(f->srv), "/sse?room=a");
    assert_int_equal(client_status(c), 403);
    assert_non_null(strstr(c->buf, "no entry for you"));
    assert_int_equal(sr_room_count(f->srv, "a"), 0);
    client_free(c);

    f->refuse_status = 0;
    f->custom = 1;
    c = open_stream(f, "/sse?room=ignored");
    assert_int_equal(sr_room_count(f->srv, "ignored"), 0);
    assert_int_equal(sr_room_count(f->srv, "hook-room"), 1);
    client_free(c);
    pump_for(NULL, 100);
    assert_int_equal(f->closed, 1); /* the close hook saw the client leave */
    assert_int_equal(sr_room_count(f->srv, "hook-room"), 0);
    stop_server(f);
}

static void test_close_and_evict(void **state) {
    (void)state;
    fixture *f = start_server();
    client *c1 = open_stream(f, "/sse?room=r");
    client *c2 = open_stream(f, "/sse?room=r&room=s");
    assert_int_equal(sr_room_evict(f->srv, "r"), 2);
    assert_int_equal(sr_room_count(f->srv, "r"), 0);
    assert_int_equal(sr_room_count(f->srv, "s"), 1);
    const char *s[] = {"s"};
    sr_message m = {.data = "2", .data_len = SIZE_MAX};
    assert_int_equal(sr_broadcast(f->srv, s, 1, &m, NULL), 1);
    expect_event(c2, "data: 2\n\n");

    /* sr_close: the queued frame is written, then the stream ends */
    sr_message last = {.event = "bye", .data = "null", .data_len = SIZE_MAX};
    assert_int_equal(sr_send(f->accepted[1], &last), 0);
    sr_close(f->accepted[1]);
    expect_event(c2, "event: bye\ndata: null\n\n");
    expect_eof(c2);

    assert_int_equal(sr_join(f->accepted[0], "t"), 0);
    assert_int_equal(sr_room_close(f->srv, "t"), 1);
    expect_eof(c1);
    assert_int_equal(f->closed, 2);
    client_free(c1);
    client_free(c2);
    stop_server(f);
}

static void test_memory_bus(void **state) {
    (void)state;
    sr_memory_bus *bus = sr_memory_bus_new();
    fixture *a = start_server();
    fixture *b = start_server();
    assert_int_equal(sr_server_attach_memory_bus(a->srv, bus), 0);
    assert_int_equal(sr_server_attach_memory_bus(b->srv, bus), 0);
    client *on_a = open_stream(a, "/sse?room=x");
    client *on_b = open_stream(b, "/sse?room=x&room=y");

    const char *x[] = {"x"};
    sr_message m = {.id = "m1", .event = "e", .data = "[1]", .data_len = SIZE_MAX};
    assert_int_equal(sr_broadcast(a->srv, x, 1, &m, NULL), 1); /* local count */
    expect_event(on_a, "id: m1\nevent: e\ndata: [1]\n\n");
    expect_event(on_b, "id: m1\nevent: e\ndata: [1]\n\n");
    expect_no_event(on_a, 100); /* no echo back to the publisher's node */

    /* local: stays on a */
    sr_broadcast_opts local = {.local = 1};
    m.id = "m2";
    sr_broadcast(a->srv, x, 1, &m, &local);
    expect_event(on_a, "id: m2\nevent: e\ndata: [1]\n\n");
    expect_no_event(on_b, 150);

    /* multi-room with an id: b gets it once per room copy -> delivered once */
    const char *xy[] = {"x", "y"};
    m.id = "m3";
    sr_broadcast(a->srv, xy, 2, &m, NULL);
    expect_event(on_b, "id: m3\nevent: e\ndata: [1]\n\n");
    expect_no_event(on_b, 150);
    expect_event(on_a, "id: m3\nevent: e\ndata: [1]\n\n");

    /* without an id too: the bus gives the copies one de-duplication key */
    sr_message noid = {.data = "0", .data_len = SIZE_MAX};
    sr_broadcast(a->srv, xy, 2, &noid, NULL);
    expect_event(on_b, "data: 0\n\n");
    expect_event(on_a, "data: 0\n\n");
    sr_message after = {.data = "\"after\"", .data_len = SIZE_MAX};
    sr_broadcast(a->srv, x, 1, &after, NULL);
    expect_event(on_b, "data: \"after\"\n\n"); /* not a second "data: 0" */
    expect_event(on_a, "data: \"after\"\n\n");

    /* the same id again in the same room is a new message */
    m.id = "m3";
    sr_broadcast(a->srv, x, 1, &m, NULL);
    expect_event(on_b, "id: m3\nevent: e\ndata: [1]\n\n");
    expect_event(on_a, "id: m3\nevent: e\ndata: [1]\n\n");

    client_free(on_a);
    client_free(on_b);
    stop_server(a);
    stop_server(b);
    sr_memory_bus_free(bus);
}

/* The copies of one multi-room message from another node, with joins
 * between them (remote.c's rule): a copy reaches the members of its room
 * that were not in an earlier copy's room when that copy arrived. Copies
 * are handed to the server directly, as an adapter does, so joins can be
 * placed between them; "nothing else arrived" is shown by a sentinel sent
 * afterwards on the same stream. */
static void expect_then_sentinel(client *c, const char *want, sr_conn *conn) {
    sr_message sentinel = {.event = "sentinel", .data = "0", .data_len = SIZE_MAX};
    assert_int_equal(sr_send(conn, &sentinel), 0);
    if (want) expect_event(c, want);
    expect_event(c, "event: sentinel\ndata: 0\n\n");
}

static void test_remote_copies_and_joins(void **state) {
    (void)state;
    fixture *f = start_server();
    client *in1 = open_stream(f, "/sse?room=c1");          /* gets copy 1, then joins c2 */
    client *in2 = open_stream(f, "/sse?room=c2");          /* joins c1 after copy 1 */
    client *in12 = open_stream(f, "/sse?room=c1&room=c2"); /* in both all along */
    client *late = open_stream(f, "/sse?room=z");          /* joins c2 after copy 1 */
    sr_conn *k1 = f->accepted[0], *k2 = f->accepted[1], *k12 = f->accepted[2], *kl = f->accepted[3];
    const char *cases[][2] = {{"key-1", NULL}, {NULL, "id-1"}}; /* {dedup key, id} */
    for (size_t i = 0; i < 2; i++) {
        const char *key = cases[i][0];
        sr_message m = {.id = cases[i][1], .data = "\"m\"", .data_len = SIZE_MAX};
        const char *want = m.id ? "id: id-1\ndata: \"m\"\n\n" : "data: \"m\"\n\n";
        assert_int_equal(sr_server_deliver_remote_keyed(f->srv, "c1", 2, &m, key), 2);
        expect_then_sentinel(in1, want, k1);
        expect_then_sentinel(in12, want, k12);
        expect_then_sentinel(in2, NULL, k2);
        assert_int_equal(sr_join(k1, "c2"), 0); /* had it: must not get it twice */
        assert_int_equal(sr_join(k2, "c1"), 0); /* had not: must not lose it */
        assert_int_equal(sr_join(kl, "c2"), 0); /* a new target member */
        assert_int_equal(sr_server_deliver_remote_keyed(f->srv, "c2", 2, &m, key), 2);
        expect_then_sentinel(in1, NULL, k1);
        expect_then_sentinel(in12, NULL, k12);
        expect_then_sentinel(in2, want, k2);
        expect_then_sentinel(late, want, kl);
        /* a third room, joined by everyone now: nobody gets it again */
        assert_int_equal(sr_join(k1, "c3"), 0);
        assert_int_equal(sr_join(k2, "c3"), 0);
        assert_int_equal(sr_join(k12, "c3"), 0);
        assert_int_equal(sr_join(kl, "c3"), 0);
        assert_int_equal(sr_server_deliver_remote_keyed(f->srv, "c3", 2, &m, key), 0);
        client *all[] = {in1, in2, in12, late};
        sr_conn *conns[] = {k1, k2, k12, kl};
        for (size_t j = 0; j < 4; j++) expect_then_sentinel(all[j], NULL, conns[j]);
        /* the same key again in a room it came for: a duplicate, dropped;
         * the same id again there: a new publish reusing the id */
        int again = sr_server_deliver_remote_keyed(f->srv, "c1", 2, &m, key);
        assert_int_equal(again, key ? 0 : 3);
        for (size_t j = 0; j < 4; j++) {
            int in_c1 = conns[j] != kl;
            expect_then_sentinel(all[j], !key && in_c1 ? want : NULL, conns[j]);
        }
        for (size_t j = 0; j < 4; j++) sr_leave(conns[j], "c3");
        sr_leave(k1, "c2");
        sr_leave(k2, "c1");
        sr_leave(kl, "c2");
    }
    client_free(in1);
    client_free(in2);
    client_free(in12);
    client_free(late);
    stop_server(f);
}

/* The de-duplication memory is bounded: the last 1024 keyed or id'd
 * messages. A copy of a message 1024 others ago is not recognised any
 * more (delivered again); one of a message 1023 others ago still is. */
static void test_remote_memory_bounded(void **state) {
    (void)state;
    fixture *f = start_server();
    client *c = open_stream(f, "/sse?room=b1&room=b2");
    sr_conn *k = f->accepted[0];
    sr_message m = {.data = "1", .data_len = SIZE_MAX};
    for (int round = 0; round < 2; round++) {
        int others = round ? 1024 : 1023;
        char key[32];
        snprintf(key, sizeof key, "k-%d", round);
        assert_int_equal(sr_server_deliver_remote_keyed(f->srv, "b1", 2, &m, key), 1);
        expect_then_sentinel(c, "data: 1\n\n", k);
        sr_message other = {.data = "0", .data_len = SIZE_MAX};
        for (int i = 0; i < others; i++) {
            char okey[32];
            snprintf(okey, sizeof okey, "o-%d-%d", round, i);
            assert_int_equal(sr_server_deliver_remote_keyed(f->srv, "elsewhere", 9, &other, okey),
                             0);
        }
        int again = sr_server_deliver_remote_keyed(f->srv, "b2", 2, &m, key);
        assert_int_equal(again, round ? 1 : 0);
        expect_then_sentinel(c, round ? "data: 1\n\n" : NULL, k);
    }
    client_free(c);
    stop_server(f);
}

/* An adapter whose /stats members need more than the first buffer: it
 * says how much (the sr_adapter stats_json contract), and /stats and
 * /healthz carry all of it (a cluster with many shards did not fit). */
static size_t big_stats_json(void *ctx, char *out, size_t cap) {
    size_t *calls = ctx;
    ++*calls;
    size_t need = strlen(",\"big\":\"\"") + 10000;
    if (need > cap) return need + 1;
    size_t n = (size_t)snprintf(out, cap, ",\"big\":\"");
    memset(out + n, 'x', 10000);
    n += 10000;
    out[n++] = '"';
    return n;
}

/* The body of the response on c (keep-alive: read by Content-Length). */
static const char *client_body(client *c) {
    assert_int_equal(client_status(c), 200);
    const char *cl = strstr(c->buf, "Content-Length: ");
    assert_non_null(cl);
    size_t len = strtoul(cl + 16, NULL, 10);
    uint64_t end = now_ms() + 3000;
    while (c->len - c->pos < len && now_ms() < end && !c->eof) pump(c);
    assert_int_equal(c->len - c->pos, len);
    return c->buf + c->pos;
}

static void test_adapter_stats_any_size(void **state) {
    (void)state;
    fixture *f = start_server();
    size_t calls = 0;
    sr_adapter a = {.ctx = &calls, .name = "big", .stats_json = big_stats_json};
    assert_int_equal(sr_server_set_adapter(f->srv, &a), 0);
    const char *paths[] = {"/stats", "/healthz"};
    for (size_t i = 0; i < 2; i++) {
        client *c = client_open(sr_server_port(f->srv), paths[i]);
        const char *body = client_body(c);
        const char *big = strstr(body, ",\"big\":\"");
        if (!big) fail_msg("%s lacks the adapter's members: %.200s", paths[i], body);
        size_t at = big ? (size_t)(big - body) + 8 : 0; /* past ,"big":" */
        size_t xs = strspn(body + at, "x");
        assert_int_equal(xs, 10000);
        assert_int_equal(body[at + xs], '"');
        client_free(c);
    }
    assert_int_equal(calls, 4); /* asked twice each: too small, then large enough */
    stop_server(f);
}

static void test_graceful_shutdown(void **state) {
    (void)state;
    fixture *f = start_server();
    client *c = open_stream(f, "/sse?room=q");
    const char *q[] = {"q"};
    sr_message m = {.data = "\"last\"", .data_len = SIZE_MAX};
    sr_broadcast(f->srv, q, 1, &m, NULL);
    int done = 0;
    sr_server_shutdown(f->srv, shutdown_done, &done);
    /* what was queued before the shutdown still arrives, then EOF */
    expect_event(c, "data: \"last\"\n\n");
    expect_eof(c);
    uint64_t end = now_ms() + 3000;
    while (!done && now_ms() < end) uv_run(loop, UV_RUN_NOWAIT);
    assert_true(done);
    assert_int_equal(sr_broadcast(f->srv, q, 1, &m, NULL), SR_ECLOSED);
    sr_server_free(f->srv);
    free(f);
    client_free(c);
}

/* --- request hook, log hook, web root, stats room ----------------------- */

typedef struct hooks {
    int requests;
    int logs;
    char last_log[512];
    uint64_t last_conn;
} hooks;

static int on_request(void *ud, sr_request *req) {
    hooks *h = ud;
    h->requests++;
    if (strcmp(sr_request_path(req), "/hello") != 0) return SR_ENOTFOUND;
    size_t len = 0;
    const char *body = sr_request_body(req, &len);
    char out[256];
    int n = snprintf(out, sizeof(out), "{\"method\":\"%s\",\"body\":%zu,\"id\":\"%s\"}",
                     sr_request_method(req), body ? len : 0, sr_request_id(req));
    assert_int_equal(sr_respond(req, 201, NULL, out, (size_t)n, "X-Hook: yes\r\n"), 0);
    assert_int_equal(sr_respond(req, 200, NULL, "", 0, NULL), SR_EINVAL); /* once only */
    return 0;
}

static void on_log(void *ud, int level, uint64_t conn_id, const char *msg) {
    hooks *h = ud;
    assert_true(level >= SR_LOG_INFO);
    h->logs++;
    h->last_conn = conn_id;
    snprintf(h->last_log, sizeof(h->last_log), "%s", msg);
}

static void test_request_and_log_hooks(void **state) {
    (void)state;
    fixture *f = start_server();
    hooks h = {0};
    sr_server_on_request(f->srv, on_request, &h);
    sr_server_on_log(f->srv, on_log, &h, SR_LOG_INFO);
    client *c = client_open(sr_server_port(f->srv), "/hello");
    assert_int_equal(client_status(c), 201);
    assert_non_null(strstr(c->buf, "X-Hook: yes\r\n"));
    assert_non_null(strstr(c->buf, "{\"method\":\"GET\",\"body\":0,\"id\":\""));
    client_free(c);
    c = client_open(sr_server_port(f->srv), "/missing");
    assert_int_equal(client_status(c), 404);
    assert_int_equal(h.requests, 2);
    /* the refusal was logged, with its connection and request id */
    assert_int_equal(h.logs, 1);
    assert_true(h.last_conn > 0);
    assert_non_null(strstr(h.last_log, "/missing: 404 not found"));
    client_free(c);
    stop_server(f);
}

static int on_accept_peer(void *ud, sr_conn *conn, sr_request *req) {
    (void)conn;
    snprintf(ud, 64, "%s", sr_request_peer(req));
    return SR_ACCEPT;
}

/* A raw stream request with extra header lines; the client reads it. */
static client *client_request(int port, const char *request) {
    client *c = calloc(1, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* the listener's backlog completes the connect without the loop */
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(send(c->fd, request, strlen(request), 0), (ssize_t)strlen(request));
    assert_int_equal(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
    return c;
}

static void test_trusted_proxy_peer(void **state) {
    (void)state;
    sr_config cfg;
    sr_config_init(&cfg);
    cfg.port = 0;
    cfg.heartbeat_ms = 0;
    const char *const bad[] = {"10.0.0.1/8"};
    cfg.trusted_proxies = bad;
    cfg.n_trusted_proxies = 1;
    char err[256] = "";
    assert_int_equal(sr_config_check(&cfg, err, sizeof(err)), SR_EINVAL);
    assert_non_null(strstr(err, "trusted-proxy '10.0.0.1/8'"));
    sr_server *srv = NULL;
    assert_int_equal(sr_server_new(&srv, loop, &cfg), SR_EINVAL);
    assert_null(srv);

    const char *const ranges[] = {"127.0.0.1", "10.0.0.0/8"};
    cfg.trusted_proxies = ranges;
    cfg.n_trusted_proxies = 2;
    assert_int_equal(sr_config_check(&cfg, err, sizeof(err)), 0);
    assert_int_equal(sr_server_new(&srv, loop, &cfg), 0);
    assert_int_equal(sr_server_listen(srv), 0);
    char peer[64] = "";
    sr_server_on_accept(srv, on_accept_peer, peer);
    client *c = client_request(sr_server_port(srv),
                               "GET /sse?room=a HTTP/1.1\r\nHost: t\r\n"
                               "X-Forwarded-For: 6.6.6.6, 198.51.100.4, 10.1.2.3\r\n\r\n");
    assert_int_equal(client_status(c), 200);
    assert_string_equal(peer, "198.51.100.4");
    client_free(c);
    c = client_request(sr_server_port(srv), "GET /sse?room=a HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(client_status(c), 200);
    assert_string_equal(peer, "127.0.0.1");
    client_free(c);
    int done = 0;
    sr_server_shutdown(srv, shutdown_done, &done);
    uint64_t end = now_ms() + 5000;
    while (!done && now_ms() < end) uv_run(loop, UV_RUN_NOWAIT);
    assert_true(done);
    sr_server_free(srv);
}

static void test_web_root_and_stats_room(void **state) {
    (void)state;
    char dir[] = "/tmp/sr-web-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[128];
    snprintf(file, sizeof(file), "%s/index.html", dir);
    FILE *fp = fopen(file, "w");
    fputs("<h1>demo</h1>", fp);
    fclose(fp);
    snprintf(file, sizeof(file), "%s/app.js", dir);
    fp = fopen(file, "w");
    fputs("console.log(1)", fp);
    fclose(fp);

    sr_config cfg;
    sr_config_init(&cfg);
    cfg.port = 0;
    cfg.heartbeat_ms = 0;
    cfg.web_root = dir;
    cfg.stats_room = "sserooms:stats";
    cfg.stats_interval_ms = 50;
    sr_server *srv;
    assert_int_equal(sr_server_new(&srv, loop, &cfg), 0);
    assert_int_equal(sr_server_listen(srv), 0);
    int port = sr_server_port(srv);

    client *c = client_open(port, "/");
    assert_int_equal(client_status(c), 200);
    assert_non_null(strstr(c->buf, "Content-Type: text/html; charset=utf-8"));
    pump_for(c, 50);
    assert_non_null(strstr(c->buf, "<h1>demo</h1>"));
    client_free(c);
    c = client_open(port, "/app.js");
    assert_int_equal(client_status(c), 200);
    assert_non_null(strstr(c->buf, "text/javascript"));
    client_free(c);
    static const char *const refused[] = {"/..%2Fetc%2Fpasswd", "/.hidden", "/nope.html", "/a/b"};
    for (size_t i = 0; i < 4; i++) {
        c = client_open(port, refused[i]);
        assert_int_equal(client_status(c), 404);
        client_free(c);
    }
    /* the stats room gets the /stats JSON as event "stats" */
    c = client_open(port, "/sse?room=sserooms:stats");
    assert_int_equal(client_status(c), 200);
    char *ev = client_event(c, 3000);
    assert_non_null(ev);
    static const char want[] = "event: stats\ndata: {\"connections\":";
    assert_memory_equal(ev, want, sizeof(want) - 1);
    free(ev);
    client_free(c);

    int done = 0;
    sr_server_shutdown(srv, shutdown_done, &done);
    uint64_t end = now_ms() + 5000;
    while (!done && now_ms() < end) uv_run(loop, UV_RUN_NOWAIT);
    assert_true(done);
    sr_server_free(srv);
    snprintf(file, sizeof(file), "%s/index.html", dir);
    unlink(file);
    snprintf(file, sizeof(file), "%s/app.js", dir);
    unlink(file);
    rmdir(dir);
}

/* Broadcasts made in one loop turn wait for its end in one room's batch;
 * everything that could tell the difference must see publish order. */
static void bcast(fixture *f, const char *room, const char *data, int want_delivered) {
    const char *rooms[] = {room};
    sr_message m = {.event = "e", .data = data, .data_len = SIZE_MAX};
    assert_int_equal(sr_broadcast(f->srv, rooms, 1, &m, NULL), want_delivered);
}

static void expect_data(client *c, const char *data) {
    char want[256];
    snprintf(want, sizeof want, "event: e\ndata: %s\n\n", data);
    expect_event(c, want);
}

static void batch_order_across_slices(void);

static void test_batch_order_and_membership(void **state) {
    (void)state;
    fixture *f = start_server();
    client *a = open_stream(f, "/sse?room=a");
    client *ab = open_stream(f, "/sse?room=a&room=b");
    client *late = open_stream(f, "/sse?room=c");
    sr_conn *ca = f->accepted[0], *cab = f->accepted[1], *clate = f->accepted[2];

    /* no loop turn between the calls below, until the expects */
    bcast(f, "a", "1", 2);
    bcast(f, "b", "2", 1);
    bcast(f, "a", "3", 2);
    expect_data(ab, "1"); /* the other room's message stays between */
    expect_data(ab, "2");
    expect_data(ab, "3");
    expect_data(a, "1");
    expect_data(a, "3");

    /* joining after a message: not received; a message after: received */
    bcast(f, "a", "4", 2);
    assert_int_equal(sr_join(clate, "a"), 0);
    bcast(f, "a", "5", 3);
    expect_data(late, "5");
    expect_data(a, "4");
    expect_data(a, "5");

    /* leaving after a message: received; after leaving: not */
    bcast(f, "a", "6", 3);
    assert_int_equal(sr_leave(clate, "a"), 0);
    bcast(f, "a", "7", 2);
    expect_data(late, "6");
    expect_no_event(late, 100);

    /* sr_send and an except list between batched messages */
    bcast(f, "a", "8", 2);
    sr_message direct = {.event = "e", .data = "\"direct\"", .data_len = SIZE_MAX};
    assert_int_equal(sr_send(cab, &direct), 0);
    const char *ra[] = {"a"};
    sr_message m9 = {.event = "e", .data = "9", .data_len = SIZE_MAX};
    sr_conn *except[] = {cab};
    sr_broadcast_opts opts = {.except = except, .n_except = 1};
    assert_int_equal(sr_broadcast(f->srv, ra, 1, &m9, &opts), 1);
    bcast(f, "a", "10", 2);
    const char *ab_want[] = {"4", "5", "6", "7", "8", "\"direct\"", "10"}; /* not 9 */
    for (size_t i = 0; i < sizeof ab_want / sizeof *ab_want; i++) expect_data(ab, ab_want[i]);
    const char *a_want[] = {"6", "7", "8", "9", "10"};
    for (size_t i = 0; i < sizeof a_want / sizeof *a_want; i++) expect_data(a, a_want[i]);
    expect_no_event(ab, 100);

    /* a broadcast to several rooms after a batched one: the batch first,
     * and a member of both rooms gets the second once */
    bcast(f, "a", "100", 2);
    const char *rab[] = {"a", "b"};
    sr_message m101 = {.event = "e", .data = "101", .data_len = SIZE_MAX};
    assert_int_equal(sr_broadcast(f->srv, rab, 2, &m101, NULL), 2);
    expect_data(a, "100");
    expect_data(a, "101");
    expect_data(ab, "100");
    expect_data(ab, "101");
    expect_no_event(ab, 100);

    /* closing after a message: it gets the message, then the end */
    bcast(f, "a", "11", 2);
    sr_close(ca);
    bcast(f, "a", "12", 1);
    expect_data(a, "11");
    expect_eof(a);
    expect_data(ab, "11");
    expect_data(ab, "12");

    /* more than a batch holds (256 KiB), all in one turn: all, in order */
    char data[200];
    char pad[151];
    memset(pad, 'x', 150);
    pad[150] = '\0';
    for (int i = 0; i < 3000; i++) {
        snprintf(data, sizeof data, "{\"n\":%d,\"p\":\"%s\"}", i, pad);
        bcast(f, "a", data, 1);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(data, sizeof data, "{\"n\":%d,\"p\":\"%s\"}", i, pad);
        expect_data(ab, data);
    }
    expect_no_event(ab, 100);
    client_free(a);
    client_free(ab);
    client_free(late);
    stop_server(f);

    batch_order_across_slices();
}

/* What the server wrote to c so far, read without turning the loop: after
 * a given number of turns, exactly what those turns wrote. */
static void read_written(client *c) {
    for (;;) {
        if (c->len + 1 >= sizeof(c->buf)) return;
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1, MSG_DONTWAIT);
        if (n <= 0) return;
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    }
}

static int has_data(client *c, const char *data) {
    char want[256];
    snprintf(want, sizeof want, "event: e\ndata: %s\n\n", data);
    return strstr(c->buf + c->pos, want) != NULL;
}

/* A keep-alive connection for POST /publish, not waited on. */
static client *publisher_open(int port) {
    client *c = calloc(1, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(0x7f000001)};
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return c;
}

static void publisher_send(client *c, const char *room, const char *data) {
    char body[256], req[512];
    int blen = snprintf(body, sizeof body, "{\"rooms\":[\"%s\"],\"event\":\"e\",\"data\":%s}", room,
                        data);
    int n = snprintf(req, sizeof req,
                     "POST /publish HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     blen, body);
    assert_int_equal(send(c->fd, req, (size_t)n, 0), n);
}

/* The publisher's next answer's status, once it is there (0: not yet). */
static int publisher_answer(client *c) {
    read_written(c);
    char *start = c->buf + c->pos;
    char *end = strstr(start, "}\n");
    if (!end) return 0;
    int status = 0;
    sscanf(start, "HTTP/1.1 %d", &status);
    c->pos = (size_t)(end + 2 - c->buf);
    return status;
}

/* A room written one stream per loop turn (sweep_slice_streams 1): a
 * publish that comes while the sweep is in progress is answered in its own
 * turn, long before the sweep ends, and its message is the next sweep's;
 * broadcasts made between slices join the next batch; a join and a leave
 * between slices see the order of the calls exactly. */
static void batch_order_across_slices(void) {
    fixture *f = start_server_sliced(1);
    enum { N = 8 };
    client *s[N];
    for (int i = 0; i < N; i++) s[i] = open_stream(f, "/sse?room=r");
    client *x = open_stream(f, "/sse?room=q"); /* joins r between slices */
    sr_conn *cx = f->accepted[N], *c7 = f->accepted[N - 1], *c6 = f->accepted[N - 2];
    client *pub = publisher_open(sr_server_port(f->srv));
    publisher_send(pub, "nobody", "0");
    int status = 0;
    for (uint64_t end = now_ms() + 3000; !status && now_ms() < end; usleep(500)) {
        uv_run(loop, UV_RUN_NOWAIT);
        status = publisher_answer(pub);
    }
    assert_int_equal(status, 200);

    /* one turn: one slice, the first member only */
    bcast(f, "r", "1", N);
    uv_run(loop, UV_RUN_NOWAIT);
    read_written(s[0]);
    read_written(s[N - 1]);
    assert_true(has_data(s[0], "1"));
    assert_false(has_data(s[N - 1], "1"));

    /* a publish now: answered while the sweep is still going on */
    publisher_send(pub, "r", "2");
    int turns = 0;
    for (status = 0; !status && turns < 2 * N; turns++) {
        uv_run(loop, UV_RUN_NOWAIT);
        status = publisher_answer(pub);
    }
    assert_int_equal(status, 200);
    read_written(s[N - 1]);
    assert_false(has_data(s[N - 1], "1")); /* its slice has not come yet */
    bcast(f, "r", "3", N);                 /* between slices: the next batch */
    for (int i = 0; i < N; i++) {
        expect_data(s[i], "1");
        expect_data(s[i], "2");
        expect_data(s[i], "3");
    }

    /* a join and a leave between slices: the joiner gets what follows
     * only, the leaver what was published before it left */
    bcast(f, "r", "4", N);
    uv_run(loop, UV_RUN_NOWAIT);
    read_written(s[N - 1]);
    assert_false(has_data(s[N - 1], "4"));
    assert_int_equal(sr_join(cx, "r"), 0);
    bcast(f, "r", "5", N + 1);
    uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(sr_leave(c7, "r"), 0);
    bcast(f, "r", "6", N);
    uv_run(loop, UV_RUN_NOWAIT);
    sr_close(c6); /* a close between slices: it gets what came before */
    bcast(f, "r", "7", N - 1);
    for (int i = 0; i < N - 2; i++)
        for (int k = 4; k <= 7; k++) {
            char d[4];
            snprintf(d, sizeof d, "%d", k);
            expect_data(s[i], d);
        }
    expect_data(x, "5");
    expect_data(x, "6");
    expect_data(x, "7");
    expect_data(s[N - 1], "4");
    expect_data(s[N - 1], "5");
    expect_data(s[N - 2], "4");
    expect_data(s[N - 2], "5");
    expect_data(s[N - 2], "6");
    expect_eof(s[N - 2]);
    expect_no_event(s[N - 1], 100);
    expect_no_event(s[0], 100);

    /* the slices are counted in /stats: every turn above delivered one,
     * and each join, leave and close completed a sweep at once */
    client *st = client_open(sr_server_port(f->srv), "/stats");
    assert_int_equal(client_status(st), 200);
    for (uint64_t end = now_ms() + 3000; !strstr(st->buf, "}}\n") && now_ms() < end; usleep(500))
        pump(st);
    const char *sw = strstr(st->buf, "\"sweep\":{");
    assert_non_null(sw);
    unsigned long long slices = 0, forced = 0;
    const char *p = strstr(sw, "\"slices\":");
    assert_non_null(p);
    sscanf(p, "\"slices\":%llu", &slices);
    p = strstr(sw, "\"forced\":");
    assert_non_null(p);
    sscanf(p, "\"forced\":%llu", &forced);
    assert_true(slices >= N);
    assert_true(forced >= 3);
    client_free(st);
    client_free(pub);
    for (int i = 0; i < N; i++) client_free(s[i]);
    client_free(x);
    stop_server(f);
}

int main(void) {
    uv_loop_t l;
    uv_loop_init(&l);
    loop = &l;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_except_and_multiroom),
        cmocka_unit_test(test_room_queries_and_send),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_accept_hook),
        cmocka_unit_test(test_close_and_evict),
        cmocka_unit_test(test_memory_bus),
        cmocka_unit_test(test_remote_copies_and_joins),
        cmocka_unit_test(test_adapter_stats_any_size),
        cmocka_unit_test(test_remote_memory_bounded),
        cmocka_unit_test(test_graceful_shutdown),
        cmocka_unit_test(test_request_and_log_hooks),
        cmocka_unit_test(test_web_root_and_stats_room),
        cmocka_unit_test(test_batch_order_and_membership),

        cmocka_unit_test(test_trusted_proxy_peer),
        cmocka_unit_test(test_room_recovered),
        cmocka_unit_test(test_newer_header_structs),
        cmocka_unit_test(test_presence_rooms_local),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* every server was freed: nothing of theirs may stay on the loop */
    if (srt_uv_loop_drain_close(loop) != 0) {
        fprintf(stderr, "uv_loop_close: the loop still had handles after the tests\n");
        rc = 1;
    }
    return rc;
}
