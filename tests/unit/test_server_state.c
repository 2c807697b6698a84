/* SPDX-License-Identifier: MIT */
/*
 * test_server_state.c: one owner per piece of the server's state.
 *
 * struct sr_server holds no subsystem state inline: each file's group
 * (remote.c's seen ring, limits.c's address table, observe.c's histograms,
 * the read buffer, ...) is an opaque struct of that file behind a pointer,
 * allocated by the file's init and freed by its teardown. The first test
 * prints the struct's size as a diagnostic and fails once it passes
 * SR_SERVER_STATE_BOUND, so an array cannot creep back inline (server.c
 * has the same bound as a static assertion).
 *
 * The server's own handles (its timers and polls, and those of auth.c,
 * presence.c, recover.c, observe.c, idle.c) are counted as they are
 * initialised and counted down as they close: the other tests listen on
 * a loop of their own with every handle-owning feature on, shut down, and
 * check that the shutdown completed and that uv_loop_close then finds no
 * handle left (a handle counted and never closed would keep the shutdown
 * from completing; one closed and never counted would end it early, with
 * the handle still open: UV_EBUSY, or SR_ASSERT in the Debug build).
 * The id table (ids.c), state of the server's own, is checked here too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/internal.h"
#include "sserooms.h"

/* What it may weigh: its own fields, the config copy, the adapter's table,
 * the public counters and server.c's own few handles (2072 bytes on x86-64
 * Linux when the groups moved out; 115064 before). */
#define SR_SERVER_STATE_BOUND 2304

static void test_size_bound(void **state) {
    (void)state;
    fprintf(stderr, "# sizeof(struct sr_server) = %zu bytes (bound %d)\n", sizeof(struct sr_server),
            SR_SERVER_STATE_BOUND);
    assert_true(sizeof(struct sr_server) <= SR_SERVER_STATE_BOUND);
}

/* Made and freed without listening: every group allocated and freed (ASan
 * reports a leak otherwise), and the caller's loop left alone. */
static void test_new_free_unlistened(void **state) {
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    sr_server *srv = NULL;
    assert_int_equal(sr_server_new(&srv, &loop, NULL), SR_OK);
    assert_int_equal(srv->open_handles, 0);
    sr_server_free(srv);
    srv = NULL;
    assert_int_equal(sr_server_new(&srv, NULL, NULL), SR_OK); /* a loop of its own */
    sr_server_free(srv);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ids.c: streams found by id (sr_conn_find) while others come and go, a
 * closing or doomed one not at all; the table grows past several rebuilds
 * and keeps finding every stream after removals in the middle of probe
 * runs. */
static void test_id_table(void **state) {
    (void)state;
    enum { N = 3000 };
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    sr_server *srv = NULL;
    assert_int_equal(sr_server_new(&srv, &loop, NULL), SR_OK);
    sr_conn *conns = calloc(N, sizeof(*conns));
    assert_non_null(conns);
    for (size_t i = 0; i < N; i++) {
        conns[i].id = 1 + 7 * (uint64_t)i; /* not consecutive: HTTP ones between */
        sr_server_id_insert(srv, &conns[i]);
        assert_true(conns[i].in_hash);
    }
    for (size_t i = 0; i < N; i++) assert_ptr_equal(sr_conn_find(srv, conns[i].id), &conns[i]);
    assert_null(sr_conn_find(srv, 2)); /* never a stream */
    for (size_t i = 0; i < N; i += 2) {
        sr_server_id_remove(srv, &conns[i]);
        assert_false(conns[i].in_hash);
        sr_server_id_remove(srv, &conns[i]); /* a second time: nothing */
    }
    for (size_t i = 0; i < N; i++)
        assert_ptr_equal(sr_conn_find(srv, conns[i].id), i % 2 ? &conns[i] : NULL);
    conns[1].doomed = 1;
    conns[3].closing = 1;
    assert_null(sr_conn_find(srv, conns[1].id));
    assert_null(sr_conn_find(srv, conns[3].id));
    assert_ptr_equal(sr_conn_find(srv, conns[5].id), &conns[5]);
    for (size_t i = 0; i < N; i += 2) { /* back in, after the removals */
        sr_server_id_insert(srv, &conns[i]);
        assert_ptr_equal(sr_conn_find(srv, conns[i].id), &conns[i]);
    }
    for (size_t i = 0; i < N; i++) sr_server_id_remove(srv, &conns[i]);
    for (size_t i = 0; i < N; i++) assert_null(sr_conn_find(srv, conns[i].id));
    free(conns);
    sr_server_free(srv);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void on_shutdown(void *ud, sr_server *srv) {
    (void)srv;
    (*(int *)ud)++;
}

/* Listens with cfg on a loop of the test's, shuts down, runs the loop until
 * it has nothing left, and checks what that left behind. */
static void listen_and_shut_down(sr_config *cfg) {
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    cfg->host = "127.0.0.1";
    cfg->port = 0;
    sr_server *srv = NULL;
    assert_int_equal(sr_server_new(&srv, &loop, cfg), SR_OK);
    assert_int_equal(sr_server_listen(srv), SR_OK);
    assert_true(srv->open_handles > 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    int done = 0;
    sr_server_shutdown(srv, on_shutdown, &done);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once no handle is active */
    assert_int_equal(done, 1);
    assert_int_equal(srv->open_handles, 0);
    sr_server_free(srv);
    assert_int_equal(uv_loop_close(&loop), 0); /* no handle of the server left */
}

static void test_handles_plain(void **state) {
    (void)state;
    sr_config cfg;
    sr_config_init(&cfg);
    listen_and_shut_down(&cfg);
}

/* auth.c's two timers, the stats room's timer, presence events and writer
 * threads on. */
static void test_handles_every_feature(void **state) {
    (void)state;
    sr_config cfg;
    sr_config_init(&cfg);
    cfg.auth_alg = "HS256";
    cfg.auth_secret = "0123456789abcdef0123456789abcdef";
    cfg.stats_room = "stats";
    cfg.presence_events = 1;
    cfg.threads = 2;
    listen_and_shut_down(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_new_free_unlistened),
        cmocka_unit_test(test_id_table),
        cmocka_unit_test(test_handles_plain),
        cmocka_unit_test(test_handles_every_feature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
