/* SPDX-License-Identifier: MIT */
/*
 * embed.c: libsserooms inside your own program, on your own libuv loop.
 *
 * - An accept hook authorizes each stream (?user=NAME is required here;
 *   a real program would check a session or a token) and picks its rooms:
 *   the rooms the client asked for, plus a private room "user:NAME".
 * - A timer broadcasts the time to room "clock" every second; anything
 *   published to "user:NAME" reaches only that user's streams.
 *
 *   ./example_embed 9000 &
 *   curl -N 'http://127.0.0.1:9000/sse?user=ada&room=clock'
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sserooms.h>

static int on_accept(void *ud, sr_conn *conn, sr_request *req) {
    (void)ud;
    const char *user = sr_request_query(req, "user", 0);
    if (!user || !*user) {
        sr_request_set_error(req, "add ?user=NAME");
        return 401;
    }
    char room[160];
    snprintf(room, sizeof(room), "user:%s", user);
    if (sr_join(conn, room) < 0) {
        sr_request_set_error(req, "invalid user name");
        return 400;
    }
    const char *wanted;
    for (size_t i = 0; (wanted = sr_request_query(req, "room", i)); i++) {
        int rc = sr_join(conn, wanted);
        if (rc < 0) {
            sr_request_set_error(req, sr_strerror(rc));
            return 400;
        }
    }
    return SR_ACCEPT_CUSTOM; /* the rooms were joined here */
}

static void on_tick(uv_timer_t *t) {
    sr_server *srv = t->data;
    char data[64];
    snprintf(data, sizeof(data), "{\"now\":%lld}", (long long)time(NULL));
    const char *rooms[] = {"clock"};
    sr_message msg = {.event = "tick", .data = data, .data_len = SIZE_MAX};
    int n = sr_broadcast(srv, rooms, 1, &msg, NULL);
    if (n < 0) fprintf(stderr, "broadcast: %s\n", sr_strerror(n));
}

static void on_close(void *ud, sr_conn *conn) {
    (void)ud;
    fprintf(stderr, "stream %llu closed\n", (unsigned long long)sr_conn_id(conn));
}

int main(int argc, char **argv) {
    uv_loop_t *loop = uv_default_loop();
    sr_config cfg;
    sr_config_init(&cfg);
    cfg.port = argc > 1 ? atoi(argv[1]) : 9000;
    cfg.heartbeat_ms = 15000;

    sr_server *srv;
    int rc = sr_server_new(&srv, loop, &cfg);
    if (rc == 0) rc = sr_server_listen(srv);
    if (rc < 0) {
        fprintf(stderr, "sserooms: %s\n", sr_strerror(rc));
        return 1;
    }
    sr_server_on_accept(srv, on_accept, NULL);
    sr_server_on_close(srv, on_close, NULL);

    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    tick.data = srv;
    uv_timer_start(&tick, on_tick, 1000, 1000);

    printf("example listening on http://127.0.0.1:%d\n", sr_server_port(srv));
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
