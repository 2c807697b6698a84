/* SPDX-License-Identifier: MIT */
/*
 * old_program.c: a program built against an older header (sserooms_0_1_0.h,
 * whose sr_config, sr_adapter, sr_stats and sr_redis_options are smaller
 * than today's), linked with the current shared library and run under
 * ASan. Every struct of the old size lives on this program's stack, so a
 * library that wrote or read its own, larger struct whole (as SOVERSION 0
 * did) is reported as a stack-buffer-overflow; with the sized calls of
 * SOVERSION 1 the library touches only the old fields, takes its defaults
 * for the rest, and the old fields mean what they meant.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sserooms_0_1_0.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

typedef struct old_adapter {
    int publishes;
    int closes;
    char last_room[16];
} old_adapter;

static int old_subscribe(void *ctx, const char *room) {
    (void)ctx;
    (void)room;
    return 0;
}

static int old_unsubscribe(void *ctx, const char *room) {
    (void)ctx;
    (void)room;
    return 0;
}

static int old_publish(void *ctx, const char *const *rooms, size_t n_rooms, const sr_message *msg,
                       const char *meta, size_t meta_len) {
    (void)msg;
    (void)meta;
    (void)meta_len;
    old_adapter *a = ctx;
    a->publishes++;
    if (n_rooms == 1) snprintf(a->last_room, sizeof a->last_room, "%s", rooms[0]);
    return 0;
}

static void old_close(void *ctx) {
    ((old_adapter *)ctx)->closes++;
}

#ifdef SR_ABI_BEFORE_SIZES
static void on_shutdown(sr_server *srv, void *ud) {
    (void)srv;
    *(int *)ud = 1;
}
#else
static void on_shutdown(void *ud, sr_server *srv) {
    (void)srv;
    *(int *)ud = 1;
}
#endif

int main(void) {
    uv_loop_t loop;
    CHECK(uv_loop_init(&loop) == 0);

    /* sr_config_init fills the old struct, and only it */
    sr_config cfg;
    sr_config_init(&cfg);
    CHECK(cfg.port == 8080);
    CHECK(cfg.max_room_len == 128);
    CHECK(cfg.sse_path && strcmp(cfg.sse_path, "/sse") == 0);
    CHECK(cfg.enable_publish == 1);

    /* sr_server_new reads the old fields, and they count */
    cfg.port = 0;
    cfg.max_room_len = 5;
    sr_server *srv = NULL;
    CHECK(sr_server_new(&srv, &loop, &cfg) == SR_OK);

    /* an adapter with the members of 0.1.0: the library takes no later
     * member from past its end */
    old_adapter state = {0};
    sr_adapter ad;
    memset(&ad, 0, sizeof ad);
    ad.ctx = &state;
    ad.name = "old";
    ad.subscribe = old_subscribe;
    ad.unsubscribe = old_unsubscribe;
    ad.publish = old_publish;
    ad.close = old_close;
    CHECK(sr_server_set_adapter(srv, &ad) == SR_OK);

    const char *too_long[] = {"abcdef"};
    const char *room[] = {"abcde"};
    sr_message msg = {.data = "{\"n\":1}", .data_len = 7};
    CHECK(sr_broadcast(srv, too_long, 1, &msg, NULL) == SR_EROOM); /* max_room_len 5 */
    CHECK(sr_broadcast(srv, room, 1, &msg, NULL) >= 0);
    for (int turn = 0; turn < 100 && state.publishes == 0; turn++) uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(state.publishes == 1);
    CHECK(strcmp(state.last_room, "abcde") == 0);

    /* sr_server_stats fills the old struct, and only it */
    sr_stats st;
    memset(&st, 0xab, sizeof st);
    sr_server_stats(srv, &st);
    CHECK(st.messages_in == 1);
    CHECK(st.adapter_errors == 0);
    CHECK(st.streams == 0);

    /* the Redis options: defaults into the old struct; a bad URL is refused
     * with the reason, before any connection is tried */
    sr_redis_options ro;
    sr_redis_options_init(&ro);
    CHECK(ro.channel_prefix && strcmp(ro.channel_prefix, "sse:room:") == 0);
    CHECK(ro.reconnect_max_ms == 2000);
    ro.url = "redis://127.0.0.1:notaport";
    char why[256] = "";
#ifdef SR_ABI_BEFORE_SIZES
    ro.error_buf = why;
    ro.error_buf_len = sizeof why;
    int rc = sr_server_use_redis(srv, &ro);
#else
    int rc = sr_server_use_redis(srv, &ro, why, sizeof why);
#endif
    CHECK(rc == SR_EINVAL);
    CHECK(why[0] != '\0');

    int done = 0;
    sr_server_shutdown(srv, on_shutdown, &done);
    for (int turn = 0; turn < 1000 && !done; turn++) uv_run(&loop, UV_RUN_ONCE);
    CHECK(done);
    CHECK(state.closes == 1);
    sr_server_free(srv);
    CHECK(uv_loop_close(&loop) == 0);
    printf("old header, new library: ok (%s)\n", why);
    return 0;
}
