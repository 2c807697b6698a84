/* SPDX-License-Identifier: MIT */
/*
 * presence_events.c: presence changes: every join and leave of a stream
 * fed to the adapter, and the debounced "event: presence" of users
 * joining and leaving (the reads, sr_presence_get and GET /presence,
 * are presence.c's).
 *
 * Every join and leave hands the room's new local count, with the stream's
 * user (the JWT "sub", auth_token.c) and +1/-1, to the adapter's presence_set
 * (server.c's room event hook); the adapter coalesces (Redis:
 * src/redis/presence.c).
 *
 * Events: the adapter reports a user's first stream in the cluster joining
 * and its last leaving (without a presence adapter, this node's streams
 * are counted instead). A leave waits cfg.presence_debounce_ms in a FIFO
 * (all waits are equal, so the oldest is always due first, one timer); a
 * join of the same user in the same room meanwhile cancels it and is not
 * announced either: a reconnect makes no event. Events go to the room's
 * local streams only (a local broadcast), never through the adapter.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

/* A leave waiting for its debounce. */
typedef struct sr_presence_pending {
    struct sr_presence_pending *next;
    uint64_t due; /* loop time, ms */
    size_t room_len, user_len;
    char key[]; /* room, NUL, user, NUL */
} sr_presence_pending;

/* The server's presence state (srv->presence). */
struct sr_presence_events {
    uv_timer_t timer;             /* debounced leave events */
    sr_presence_pending *pending; /* leaves waiting, oldest first */
    sr_presence_pending *pending_tail;
};

int sr_presence_new(sr_server *srv) {
    srv->presence = calloc(1, sizeof(*srv->presence));
    return srv->presence ? SR_OK : SR_ENOMEM;
}

void sr_presence_start(sr_server *srv) {
    sr_server_timer_init(srv, &srv->presence->timer);
    uv_unref((uv_handle_t *)&srv->presence->timer);
}

void sr_presence_close(sr_server *srv) {
    sr_server_close_handle(srv, (uv_handle_t *)&srv->presence->timer);
}

static sr_conn *member_conn(const sr_member *m) {
    return (sr_conn *)(void *)((char *)m - offsetof(sr_conn, member));
}

/* --- events -------------------------------------------------------------- */

static void announce(sr_server *srv, const char *room, const char *user, size_t user_len,
                     int joined) {
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_puts(&b, joined ? "{\"joined\":" : "{\"left\":");
    sr_buf_json_str(&b, user, user_len);
    sr_buf_puts(&b, "}");
    if (!b.oom) {
        sr_message msg = {.event = "presence", .data = b.p, .data_len = b.len};
        sr_broadcast_opts opts = {.local = 1};
        sr_broadcast(srv, &room, 1, &msg, &opts);
    }
    sr_buf_free(&b);
}

static void on_presence_timer(uv_timer_t *t);

static void schedule(sr_server *srv) {
    if (!srv->handles_ready || !srv->presence->pending) return;
    uint64_t now = uv_now(srv->loop), due = srv->presence->pending->due;
    uv_timer_start(&srv->presence->timer, on_presence_timer, due > now ? due - now : 0, 0);
}

static void on_presence_timer(uv_timer_t *t) {
    sr_server *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    while (srv->presence->pending && srv->presence->pending->due <= now) {
        sr_presence_pending *p = srv->presence->pending;
        srv->presence->pending = p->next;
        if (!srv->presence->pending) srv->presence->pending_tail = NULL;
        announce(srv, p->key, p->key + p->room_len + 1, p->user_len, 0);
        free(p);
    }
    schedule(srv);
}

/* Removes the pending leave of (room, user); 1 when there was one. */
static int cancel_leave(sr_server *srv, const char *room, size_t room_len, const char *user,
                        size_t user_len) {
    sr_presence_pending *prev = NULL;
    for (sr_presence_pending *p = srv->presence->pending; p; prev = p, p = p->next) {
        if (p->room_len != room_len || p->user_len != user_len ||
            memcmp(p->key, room, room_len) != 0 ||
            memcmp(p->key + room_len + 1, user, user_len) != 0)
            continue;
        if (prev) prev->next = p->next;
        else srv->presence->pending = p->next;
        if (srv->presence->pending_tail == p) srv->presence->pending_tail = prev;
        free(p);
        return 1;
    }
    return 0;
}

void sr_presence_event(sr_server *srv, const char *room, size_t room_len, const char *user,
                       size_t user_len, int joined) {
    if (!srv->cfg.presence_events || !srv->handles_ready || srv->shutting_down || user_len == 0)
        return;
    if (joined) {
        if (cancel_leave(srv, room, room_len, user, user_len)) return; /* a reconnect */
        char *name = strndup(room, room_len);
        if (name) announce(srv, name, user, user_len, 1);
        free(name);
        return;
    }
    sr_presence_pending *p = malloc(sizeof *p + room_len + user_len + 2);
    if (!p) return;
    p->next = NULL;
    p->due = uv_now(srv->loop) + srv->cfg.presence_debounce_ms;
    p->room_len = room_len;
    p->user_len = user_len;
    memcpy(p->key, room, room_len);
    p->key[room_len] = '\0';
    memcpy(p->key + room_len + 1, user, user_len);
    p->key[room_len + 1 + user_len] = '\0';
    if (srv->presence->pending_tail) srv->presence->pending_tail->next = p;
    else srv->presence->pending = p;
    srv->presence->pending_tail = p;
    if (!uv_is_active((uv_handle_t *)&srv->presence->timer)) schedule(srv);
}

void sr_presence_free(sr_server *srv) {
    if (!srv->presence) return;
    while (srv->presence->pending) {
        sr_presence_pending *p = srv->presence->pending;
        srv->presence->pending = p->next;
        free(p);
    }
    free(srv->presence);
    srv->presence = NULL;
}

/* The streams of user in room on this node. */
static uint32_t local_user_streams(const sr_room *room, const char *user) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < room->n_members; i++) {
        const char *u = member_conn(room->members[i])->user;
        if (u && strcmp(u, user) == 0) n++;
    }
    return n;
}

void sr_presence_room_changed(sr_server *srv, const sr_room *room, const sr_member *m, int joined) {
    const char *user = m ? member_conn(m)->user : NULL;
    if (srv->has_adapter && srv->adapter.presence_set) {
        srv->adapter.presence_set(srv->adapter.ctx, room->name, room->n_members, user,
                                  joined ? 1 : -1);
        return;
    }
    /* no presence adapter: this node is the cluster */
    if (!user || !srv->cfg.presence_events) return;
    uint32_t n = local_user_streams(room, user);
    if ((joined && n == 1) || (!joined && n == 0))
        sr_presence_event(srv, room->name, room->name_len, user, strlen(user), joined);
}
