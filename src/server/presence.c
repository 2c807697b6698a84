/* SPDX-License-Identifier: MIT */
/*
 * presence.c: who is in a room across the cluster: sr_presence_get, the
 * GET /presence endpoint, and the join/leave feed to the adapter.
 *
 * Every join and leave hands the room's new local count to the adapter's
 * presence_set (server.c's room event hook calls sr_presence_room_changed);
 * the adapter coalesces them (Redis: src/redis/presence.c). A read asks
 * the adapter's presence_read when it has one and answers later; without
 * one it answers at once from this node's registry (cluster 0, nodes 1).
 * GET /presence?room=R answers {"room":R,"connections":N,"nodes":K,
 * "scope":"cluster"|"node"}; while Redis answers, the connection holds its
 * later requests (sr_http_wait, as POST /publish with a sequence does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

void sr_presence_room_changed(sr_server *srv, const sr_room *room) {
    if (srv->has_adapter && srv->adapter.presence_set)
        srv->adapter.presence_set(srv->adapter.ctx, room->name, room->n_members);
}

int sr_presence_get(sr_server *srv, const char *room, sr_presence_fn fn, void *ud) {
    if (!srv || !fn) return SR_EINVAL;
    if (!room || sr_room_name_check(room, strlen(room), srv->cfg.max_room_len) < 0) return SR_EROOM;
    if (srv->shutting_down) return SR_ECLOSED;
    if (srv->has_adapter && srv->adapter.presence_read)
        return srv->adapter.presence_read(srv->adapter.ctx, room, fn, ud);
    sr_presence ans = {0};
    ans.room = room;
    ans.connections = sr_room_count(srv, room);
    ans.nodes = 1;
    fn(ud, &ans);
    return SR_OK;
}

static void answer(sr_conn *c, const sr_presence *p) {
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_puts(&b, "{\"room\":");
    sr_buf_json_str(&b, p->room, strlen(p->room));
    sr_buf_printf(&b, ",\"connections\":%llu,\"nodes\":%llu,\"scope\":\"%s\"}",
                  (unsigned long long)p->connections, (unsigned long long)p->nodes,
                  p->cluster ? "cluster" : "node");
    if (b.oom) sr_routes_error(c, 503, "out of memory", false);
    else sr_routes_json(c, 200, b.p, b.len, NULL);
    sr_buf_free(&b);
}

static void failed(sr_conn *c, int rc, const char *why) {
    char msg[512];
    snprintf(msg, sizeof msg, "presence: %s", why && *why ? why : sr_strerror(rc));
    sr_routes_error(c, 503, msg, false);
}

/* Answer of a read that went to the adapter. */
static void on_read(void *ud, const sr_presence *p) {
    sr_http_wait *w = ud;
    sr_conn *c = w->conn;
    if (c) {
        c->http->wait = NULL;
        if (p->rc < 0) failed(c, p->rc, p->why);
        else answer(c, p);
        sr_conn_resume(c);
    }
    free(w);
}

/* Answer given before sr_presence_get returned (no presence adapter). */
static void on_read_now(void *ud, const sr_presence *p) { answer(ud, p); }

void sr_presence_http(sr_conn *c) {
    sr_server *srv = c->srv;
    const char *room = sr_http_query(&c->http->req, "room", 0);
    if (!room || !*room) {
        sr_routes_error(c, 400, "room: give one room, GET /presence?room=<name>", false);
        return;
    }
    if (sr_http_query(&c->http->req, "room", 1)) {
        sr_routes_error(c, 400, "room: give exactly one room", false);
        return;
    }
    if (sr_room_name_check(room, strlen(room), srv->cfg.max_room_len) < 0) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "room: invalid name (1..%zu bytes of letters, digits and -_.:@/=+~!$*,;)",
                 (size_t)srv->cfg.max_room_len);
        sr_routes_error(c, 400, msg, false);
        return;
    }
    if (!(srv->has_adapter && srv->adapter.presence_read)) {
        int rc = sr_presence_get(srv, room, on_read_now, c);
        if (rc < 0) failed(c, rc, NULL);
        return;
    }
    sr_http_wait *w = malloc(sizeof *w + 1);
    if (!w) {
        sr_routes_error(c, 503, "out of memory", false);
        return;
    }
    w->conn = c;
    w->key_len = 0;
    w->key[0] = '\0';
    c->http->wait = w; /* linked first: on_read answers, never before this returns */
    int rc = sr_presence_get(srv, room, on_read, w);
    if (rc == 0) return;
    c->http->wait = NULL;
    free(w);
    failed(c, rc, rc == SR_EADAPTER ? "redis unreachable" : NULL);
}
