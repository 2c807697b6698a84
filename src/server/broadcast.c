/* SPDX-License-Identifier: MIT */
/*
 * broadcast.c: fan-out and the room API.
 *
 * A broadcast is encoded once into a frame; the registry visits each member
 * of the target rooms once (a delivery stamp de-duplicates members of
 * several target rooms) and each gets a reference to the same frame. Slow
 * consumers found during the fan-out are only doomed; they are closed once
 * it ends, because closing changes the member arrays being iterated.
 * Local members get the message first, then the adapter publishes it.
 * With history on (cfg.history), sr_broadcast hands non-local broadcasts to
 * history_resume.c, which assigns the ordered id; a stream whose replay is
 * still being fetched holds its live frames (sr_resume_hold) instead of
 * queueing them.
 */
#include <stdlib.h>
#include <string.h>

#include "server/history.h"
#include "server/internal.h"
#include "json/json.h"

int sr_msg_parts_from(const sr_message *msg, unsigned max_depth, sr_msg_parts *out) {
    if (!msg || !msg->data) return SR_EINVAL;
    memset(out, 0, sizeof(*out));
    out->id = msg->id ? msg->id : "";
    out->id_len = strlen(out->id);
    out->event = msg->event ? msg->event : "";
    out->event_len = strlen(out->event);
    if (sr_sse_has_newline(out->id, out->id_len) || sr_sse_has_newline(out->event, out->event_len))
        return SR_ENEWLINE;
    size_t len = msg->data_len == SIZE_MAX ? strlen(msg->data) : msg->data_len;
    sr_json_value v;
    unsigned flags = 0;
    if (sr_json_validate(msg->data, len, max_depth, &v, &flags, NULL) != 0) return SR_EJSON;
    /* data is written as given; surrounding whitespace is not part of it */
    out->data = v.p;
    out->data_len = v.len;
    out->retry = msg->retry;
    return SR_OK;
}

typedef struct fanout_ctx {
    sr_frame *frame;
    size_t delivered;
} fanout_ctx;

int sr_deliver_to(sr_conn *c, sr_frame *f) {
    if (sr_conn_is_ending(c)) return 0;
    if (sr_conn_hist_peek(c)->resume) { /* its replay comes first (history_resume.c) */
        sr_resume_hold(c, f);
        return 1;
    }
    if (sr_conn_hist_peek(c)->resume_floor && sr_resume_filter(c, f))
        return 0; /* replayed already */
    sr_conn_enqueue(c, f);
    return !c->doomed;
}

static void deliver_member(void *ud, sr_member *m) {
    fanout_ctx *fx = ud;
    fx->delivered += (size_t)sr_deliver_to(sr_conn_of_member(m), fx->frame);
}

/* frame: already encoded (a new reference is taken), or NULL: encoded here
 * when some member needs it. may_batch: a broadcast to one room with no
 * except list may wait for the end of the loop turn with the room's other
 * broadcasts (batch.c); "delivered" is then the room's member count. */
static int fanout_frame(sr_server *srv, sr_room *const *rooms, size_t n, const sr_msg_parts *m,
                        sr_frame *frame, sr_conn *const *except, size_t n_except, uint64_t stamp,
                        bool may_batch) {
    size_t members = 0;
    for (size_t i = 0; i < n; i++)
        if (rooms[i]) members += rooms[i]->n_members;
    if (members == 0) return 0;
    fanout_ctx fx = {0};
    if (frame) {
        sr_frame_ref(frame);
        fx.frame = frame;
    } else {
        fx.frame = sr_frame_encode(m->id, m->id_len, m->event, m->event_len, m->data, m->data_len,
                                   m->retry);
        if (!fx.frame) return SR_ENOMEM;
        fx.frame->born_ns = uv_hrtime();
    }
    if (may_batch && n == 1 && n_except == 0 && sr_batch_add(srv, rooms[0], fx.frame) == SR_OK) {
        sr_frame_unref(fx.frame);
        srv->stats.messages_out += members;
        return (int)(members > INT32_MAX ? INT32_MAX : members);
    }
    sr_batch_barrier(srv); /* the pending batch was published first */
    sr_member *except_small[16];
    sr_member **ex = except_small;
    if (n_except > 16 && !(ex = malloc(n_except * sizeof(*ex)))) {
        sr_frame_unref(fx.frame);
        return SR_ENOMEM;
    }
    for (size_t i = 0; i < n_except; i++) ex[i] = except[i] ? &except[i]->member : NULL;
    srv->fanout_depth++;
    sr_registry_visit(rooms, n, ex, n_except, stamp, deliver_member, &fx);
    srv->fanout_depth--;
    if (ex != except_small) free(ex);
    sr_frame_unref(fx.frame);
    srv->stats.messages_out += fx.delivered;
    sr_server_close_doomed(srv);
    return (int)(fx.delivered > INT32_MAX ? INT32_MAX : fx.delivered);
}

int sr_fanout(sr_server *srv, sr_room *const *rooms, size_t n, const sr_msg_parts *m,
              sr_conn *const *except, size_t n_except, uint64_t stamp, bool may_batch) {
    return fanout_frame(srv, rooms, n, m, NULL, except, n_except, stamp, may_batch);
}

int sr_broadcast_frame(sr_server *srv, const char *const *rooms, size_t n_rooms,
                       const sr_msg_parts *m, sr_frame *frame, const sr_broadcast_opts *opts) {
    sr_room *small[16];
    sr_room **found = small;
    if (n_rooms > 16 && !(found = malloc(n_rooms * sizeof(*found)))) return SR_ENOMEM;
    for (size_t i = 0; i < n_rooms; i++)
        found[i] = sr_registry_find(srv->reg, rooms[i], strlen(rooms[i]));
    int delivered = fanout_frame(srv, found, n_rooms, m, frame, opts ? opts->except : NULL,
                                 opts ? opts->n_except : 0, sr_registry_new_stamp(srv->reg), true);
    if (found != small) free(found);
    if (delivered < 0) return delivered;
    srv->stats.messages_in++;
    if ((!opts || !opts->local) && srv->has_adapter && srv->adapter.publish) {
        sr_message msg = {
            .id = m->id_len ? m->id : NULL,
            .event = m->event_len ? m->event : NULL,
            .data = m->data,
            .data_len = m->data_len,
            .retry = m->retry,
        };
        int rc = srv->adapter.publish(srv->adapter.ctx, rooms, n_rooms, &msg,
                                      opts ? opts->meta : NULL, opts ? opts->meta_len : 0);
        if (rc < 0) srv->stats.adapter_errors++;
    }
    return delivered;
}

int sr_broadcast_parts(sr_server *srv, const char *const *rooms, size_t n_rooms,
                       const sr_msg_parts *m, const sr_broadcast_opts *opts) {
    return sr_broadcast_frame(srv, rooms, n_rooms, m, NULL, opts);
}

static void history_broadcast_done(void *ud, int rc, const char *text) {
    (void)ud; /* failures are counted as adapter errors by sequence.c */
    (void)rc;
    (void)text;
}

int sr_broadcast(sr_server *srv, const char *const *rooms, size_t n_rooms, const sr_message *msg,
                 const sr_broadcast_opts *opts) {
    if (!srv || !rooms || n_rooms == 0 || !msg) return SR_EINVAL;
    if (srv->shutting_down) return SR_ECLOSED;
    for (size_t i = 0; i < n_rooms; i++) {
        if (!rooms[i]) return SR_EINVAL;
        int rc = sr_room_name_check(rooms[i], strlen(rooms[i]), srv->cfg.max_room_len);
        if (rc < 0) return rc;
    }
    unsigned depth = sr_limit_data_depth(srv);
    if (opts && opts->meta && opts->meta_len) {
        sr_json_value v;
        if (sr_json_validate(opts->meta, opts->meta_len, depth + 1, &v, NULL, NULL) != 0)
            return SR_EJSON;
    }
    sr_msg_parts m;
    int rc = sr_msg_parts_from(msg, depth, &m);
    if (rc < 0) return rc;
    rc = sr_limit_message(srv, m.data_len);
    if (rc < 0) return rc;
    rc = sr_limit_publish(srv, sr_publish_cost(srv, n_rooms, &m, opts ? opts->meta_len : 0,
                                               opts && opts->local));
    if (rc < 0) return rc;
    if (srv->cfg.history && !(opts && opts->local)) {
        /* the id comes from the history (docs/resume.md) */
        if (m.id_len) return SR_EINVAL;
        int delivered = 0;
        char text[256];
        rc = sr_history_start(srv, rooms, n_rooms, &m, opts, history_broadcast_done, NULL,
                              &delivered, text, sizeof(text));
        return rc < 0 ? rc : delivered;
    }
    return sr_broadcast_parts(srv, rooms, n_rooms, &m, opts);
}

int sr_send(sr_conn *c, const sr_message *msg) {
    if (!c) return SR_EINVAL;
    if (sr_conn_is_ending(c) || c->kind != SR_CONN_STREAM) return SR_ECLOSED;
    sr_msg_parts m;
    int rc = sr_msg_parts_from(msg, sr_limit_data_depth(c->srv), &m);
    if (rc < 0) return rc;
    rc = sr_limit_message(c->srv, m.data_len);
    if (rc < 0) return rc;
    sr_frame *f = sr_frame_encode(m.id, m.id_len, m.event, m.event_len, m.data, m.data_len,
                                  m.retry);
    if (!f) return SR_ENOMEM;
    f->born_ns = uv_hrtime();
    sr_conn_enqueue(c, f);
    sr_frame_unref(f);
    if (c->doomed) {
        sr_server_close_doomed(c->srv);
        return SR_EQUEUE;
    }
    c->srv->stats.messages_out++;
    return SR_OK;
}

/* --- rooms ------------------------------------------------------------ */

int sr_join(sr_conn *c, const char *room) {
    if (!c || !room) return SR_EINVAL;
    if (sr_conn_is_ending(c)) return SR_ECLOSED;
    sr_server *srv = c->srv;
    size_t len = strlen(room);
    int rc = sr_room_name_check(room, len, srv->cfg.max_room_len);
    if (rc < 0) return rc;
    if (srv->fanout_depth > 0) return SR_ESTATE;
    sr_batch_barrier(srv); /* it does not get what was published before */
    if (c->member.n_rooms >= srv->cfg.max_rooms_per_conn) {
        sr_room *r = sr_registry_find(srv->reg, room, len);
        if (r && sr_registry_is_member(&c->member, r)) return 1;
        return SR_ETOOMANYROOMS;
    }
    rc = sr_registry_join(srv->reg, &c->member, room, len);
    return rc < 0 ? SR_ENOMEM : rc;
}

int sr_leave(sr_conn *c, const char *room) {
    if (!c || !room) return SR_EINVAL;
    if (c->srv->fanout_depth > 0) return SR_ESTATE;
    sr_batch_barrier(c->srv); /* it gets what was published before */
    return sr_registry_leave(c->srv->reg, &c->member, room, strlen(room));
}

void sr_leave_all(sr_conn *c) {
    if (!c || c->srv->fanout_depth > 0) return;
    sr_batch_barrier(c->srv);
    sr_registry_leave_all(c->srv->reg, &c->member);
}

size_t sr_conn_rooms(const sr_conn *c, const char **out, size_t cap) {
    for (uint32_t i = 0; i < c->member.n_rooms && i < cap; i++)
        out[i] = c->member.rooms[i].room->name;
    return c->member.n_rooms;
}

size_t sr_room_count(const sr_server *srv, const char *room) {
    if (!room) return 0;
    sr_room *r = sr_registry_find(srv->reg, room, strlen(room));
    return r ? r->n_members : 0;
}

size_t sr_room_members(const sr_server *srv, const char *room, sr_conn **out, size_t cap) {
    if (!room) return 0;
    sr_room *r = sr_registry_find(srv->reg, room, strlen(room));
    if (!r) return 0;
    for (uint32_t i = 0; i < r->n_members && i < cap; i++)
        out[i] = sr_conn_of_member(r->members[i]);
    return r->n_members;
}

size_t sr_rooms(const sr_server *srv, const char **out, size_t cap) {
    sr_registry_iter it = {0};
    sr_room *r;
    size_t n = 0;
    while ((r = sr_registry_next(srv->reg, &it))) {
        if (n < cap) out[n] = r->name;
        n++;
    }
    return n;
}

/* Collects the members first: closing or evicting changes the arrays. */
static int room_apply(sr_server *srv, const char *room, int close_streams) {
    if (!room || srv->fanout_depth > 0) return room ? SR_ESTATE : SR_EINVAL;
    sr_batch_barrier(srv);
    sr_room *r = sr_registry_find(srv->reg, room, strlen(room));
    if (!r) return 0;
    uint32_t n = r->n_members;
    sr_conn **list = malloc(n * sizeof(*list));
    if (!list) return SR_ENOMEM;
    for (uint32_t i = 0; i < n; i++) list[i] = sr_conn_of_member(r->members[i]);
    size_t len = strlen(room);
    for (uint32_t i = 0; i < n; i++) {
        if (close_streams) sr_conn_end(list[i]);
        else sr_registry_leave(srv->reg, &list[i]->member, room, len);
    }
    free(list);
    return (int)n;
}

int sr_room_close(sr_server *srv, const char *room) {
    return room_apply(srv, room, 1);
}

int sr_room_evict(sr_server *srv, const char *room) {
    return room_apply(srv, room, 0);
}
