/* SPDX-License-Identifier: MIT */
/*
 * presence.c: cluster-wide room presence through Redis (see presence.h for
 * the keys): the presence object (life cycle, the entry points that feed
 * the ledger), its liveness key and incarnation, and the join/leave
 * events. The other jobs are in presence_write.c (the coalesced writes),
 * presence_read.c (reads that reap dead nodes), presence_rooms.c (the
 * cluster-wide room list) and presence_keys.c (key names, routing, command
 * arguments); they share presence_int.h. The ledger (this node's local
 * counts) is presence_ledger.c.
 *
 * Liveness: every ttl/3 the node SETs its liveness key to its incarnation
 * (PX ttl, GET). When the old value was not ours (nil: the TTL ran out or
 * Redis lost its data), when a connection came (back) up, or when a write
 * failed (its effect unknown), the node takes a new random incarnation,
 * SETs it, and only once Redis confirmed that writes its whole ledger
 * again; readers reap whatever the old incarnation left. Room
 * writes wait for that confirmation, so a reader can never see entries
 * that carry an incarnation the liveness key does not hold yet. The
 * heartbeat also keeps the room index's TTL with the liveness key's and
 * the node in the registry of nodes (presence_rooms.c reads them), and,
 * with events on, reads this node's rooms so that dead nodes' users leave.
 *
 * Events: a room with members here has its events channel subscribed; a
 * message "j:<user>" / "l:<user>" on it is a join / leave (presence_write.c
 * and presence_read.c's reap script publish them).
 *
 * Scripts are sent with EVAL (no script cache to lose; see sequence.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "redis/presence_int.h"

#define SR_PRESENCE_REAP_ROOMS_PER_BEAT 1000

/* The registry of nodes (KEYS: it; ARGV: node, ttl): this node until its
 * liveness key's TTL runs out, by Redis's clock; entries an hour past that
 * are dropped, so restarts with new ids leave nothing for long. */
static const char register_script[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)\n"
    "return 1\n";

/* ------------------------------------------------------------ liveness */

static void new_incarnation(sr_rpresence *p) {
    uint8_t r[8] = {0};
    if (sr_random_bytes(r, sizeof r) < 0) {
        uint64_t t = uv_hrtime();
        memcpy(r, &t, sizeof r);
    }
    for (int i = 0; i < 8; i++) snprintf(p->inc + 2 * i, 3, "%02x", r[i]);
}

static void on_set_reply(void *ud, redisReply *reply, const char *err) {
    sr_rpresence *p = ud;
    p->beat_inflight = 0;
    if (p->closing) return;
    if (err || !reply) {
        sr_rpresence_maybe_refresh(p, err);
        p->live = LIVE_UNKNOWN;
        return;
    }
    if (p->ever_live) p->n.reasserts++;
    p->ever_live = 1;
    p->live = LIVE_OK;
    /* the SET came with a DEL of the room index: every room goes in again */
    size_t pos = 0;
    for (sr_pledger_entry *e; (e = sr_table_next(&p->ledger.entries, &pos));) e->indexed = 0;
    sr_pledger_mark_all(&p->ledger);
    sr_rpresence_send_write(p);
}

/* ZADDs this node to the registry of nodes, till its TTL runs out. */
static void send_register(sr_rpresence *p) {
    size_t rlen = strlen(p->reg_key);
    sr_rconn *c = sr_rpresence_route(p, p->reg_key, rlen);
    if (!c) return; /* the next beat */
    char ttl[24];
    const char *argv[] = {"EVAL", register_script, "1", p->reg_key, p->a->node_id, ttl};
    size_t lens[] = {
        4,    sizeof register_script - 1, 1,
        rlen, p->a->node_id_len,          (size_t)snprintf(ttl, sizeof ttl, "%u", p->ttl_ms)};
    sr_rconn_command(c, 6, argv, lens, NULL, NULL);
}

/* SET <live key> <new incarnation> PX ttl and DEL the old incarnation's
 * room index (same slot, in order): then the whole ledger. */
static void send_set(sr_rpresence *p) {
    size_t klen = strlen(p->live_key);
    sr_rconn *c = sr_rpresence_route(p, p->live_key, klen);
    if (!c) return;
    new_incarnation(p);
    char ttl[24];
    const char *argv[] = {"SET", p->live_key, p->inc, "PX", ttl};
    size_t lens[] = {3, klen, strlen(p->inc), 2,
                     (size_t)snprintf(ttl, sizeof ttl, "%u", p->ttl_ms)};
    if (sr_rconn_command(c, 5, argv, lens, on_set_reply, p) == 0) {
        p->live = LIVE_SETTING;
        p->beat_inflight = 1;
        const char *del[] = {"DEL", p->idx_key};
        size_t del_lens[] = {3, strlen(p->idx_key)};
        sr_rconn_command(c, 2, del, del_lens, NULL, NULL);
        send_register(p);
    }
}

static void on_beat_reply(void *ud, redisReply *reply, const char *err) {
    sr_rpresence *p = ud;
    p->beat_inflight = 0;
    if (p->closing) return;
    if (err || !reply) {
        sr_rpresence_maybe_refresh(p, err);
        p->live = LIVE_UNKNOWN;
        return;
    }
    p->n.heartbeats++;
    if (reply->type == REDIS_REPLY_STRING && strlen(p->inc) == (size_t)reply->len &&
        memcmp(reply->str, p->inc, (size_t)reply->len) == 0) {
        sr_rpresence_send_write(p); /* still us: anything dirty goes out now */
        return;
    }
    /* the key was gone (or not ours): readers may have reaped us */
    send_set(p);
}

static void send_beat(sr_rpresence *p) {
    if (p->closing || p->beat_inflight) return;
    if (p->live != LIVE_OK) {
        send_set(p);
        return;
    }
    size_t klen = strlen(p->live_key);
    sr_rconn *c = sr_rpresence_route(p, p->live_key, klen);
    if (!c) return;
    char ttl[24];
    const char *argv[] = {"SET", p->live_key, p->inc, "PX", ttl, "GET"};
    size_t lens[] = {3, klen, strlen(p->inc), 2, (size_t)snprintf(ttl, sizeof ttl, "%u", p->ttl_ms),
                     3};
    if (sr_rconn_command(c, 6, argv, lens, on_beat_reply, p) == 0) {
        p->beat_inflight = 1;
        /* the room index lives as long as the liveness key */
        const char *exp[] = {"PEXPIRE", p->idx_key, ttl};
        size_t exp_lens[] = {7, strlen(p->idx_key), lens[4]};
        sr_rconn_command(c, 3, exp, exp_lens, NULL, NULL);
        send_register(p);
    }
}

/* With events on, each heartbeat reads the rooms this node has members in,
 * so a dead node's users leave (and are announced) without anyone asking. */
static void reap_rooms(sr_rpresence *p) {
    size_t done = 0, pos = 0;
    for (sr_pledger_entry *e;
         done < SR_PRESENCE_REAP_ROOMS_PER_BEAT && (e = sr_table_next(&p->ledger.entries, &pos));)
        if (e->count > 0 && sr_rpresence_read(p, e->name, NULL, NULL, NULL) == 0) done++;
}

static void on_beat_timer(uv_timer_t *t) {
    sr_rpresence *p = t->data;
    send_beat(p);
    if (p->events) reap_rooms(p);
}

/* ------------------------------------------------------------ events */

static void set_event_channel(sr_rpresence *p, const char *room, size_t len, int wanted) {
    size_t clen;
    char *ch = sr_rpresence_room_key(p->a, room, len, ":presence:events", NULL, &clen);
    if (!ch) return;
    if (p->a->cluster) sr_rcluster_set_wanted(p->a->cluster, ch, clen, wanted);
    else sr_rsubs_set(p->a->subs, ch, clen, wanted);
    free(ch);
}

int sr_rpresence_on_message(sr_rpresence *p, const char *channel, size_t len, const char *body,
                            size_t body_len) {
    const sr_redis_adapter *a = p ? p->a : NULL;
    static const char tail[] = "}:presence:events";
    size_t tl = sizeof tail - 1;
    if (!a || len < a->prefix_len + 1 + tl || channel[a->prefix_len] != '{' ||
        memcmp(channel + len - tl, tail, tl) != 0)
        return SR_RPRESENCE_NOT_OURS;
    const char *room = channel + a->prefix_len + 1;
    size_t room_len = len - a->prefix_len - 1 - tl;
    if (room_len == 0 || body_len < 3 || body[1] != ':' || (body[0] != 'j' && body[0] != 'l'))
        return SR_RPRESENCE_MALFORMED;
    p->n.events++;
    if (!p->closing && p->event_fn)
        p->event_fn(p->event_ud, room, room_len, body + 2, body_len - 2, body[0] == 'j');
    return SR_RPRESENCE_EVENT;
}

void sr_rpresence_on_event(sr_rpresence *p, sr_rpresence_event_fn fn, void *ud) {
    if (!p) return;
    p->event_fn = fn;
    p->event_ud = ud;
}

/* ------------------------------------------------------------ life cycle */

static void on_handle_closed(uv_handle_t *h) {
    sr_rpresence *p = h->data;
    if (--p->handles_open == 0) free(p);
}

sr_rpresence *sr_rpresence_new(sr_redis_adapter *a, uint32_t ttl_ms, int events) {
    sr_rpresence *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->a = a;
    p->ttl_ms = ttl_ms ? ttl_ms : 10000;
    p->events = events;
    sr_pledger_init(&p->ledger);
    size_t klen = 0, rlen = a->prefix_len + 16;
    p->live_key = sr_rpresence_live_key(a, a->node_id, a->node_id_len, &klen);
    p->idx_key = sr_rpresence_index_key(a, a->node_id, a->node_id_len, &klen);
    if ((p->reg_key = malloc(rlen))) snprintf(p->reg_key, rlen, "%spresence:nodes", a->prefix);
    if (!p->live_key || !p->idx_key || !p->reg_key) {
        free(p->live_key);
        free(p->idx_key);
        free(p->reg_key);
        free(p);
        return NULL;
    }
    new_incarnation(p);
    sr_rpresence_known_add(p,
                           a->node_id); /* its own rooms: read in one round trip from the start */
    uv_timer_init(a->loop, &p->flush_timer);
    uv_timer_init(a->loop, &p->beat_timer);
    p->flush_timer.data = p->beat_timer.data = p;
    p->handles_open = 2;
    uint32_t beat = p->ttl_ms / 3 ? p->ttl_ms / 3 : 1;
    uv_timer_start(&p->beat_timer, on_beat_timer, beat, beat);
    uv_unref((uv_handle_t *)&p->beat_timer);
    return p;
}

void sr_rpresence_close(sr_rpresence *p) {
    if (!p || p->closing) return;
    p->closing = 1;
    sr_pledger_free(&p->ledger);
    free(p->live_key);
    free(p->idx_key);
    free(p->reg_key);
    p->live_key = p->idx_key = p->reg_key = NULL;
    for (size_t i = 0; i < p->n_known; i++) free(p->known[i]);
    free(p->known);
    p->known = NULL;
    p->n_known = p->cap_known = 0;
    uv_close((uv_handle_t *)&p->flush_timer, on_handle_closed);
    uv_close((uv_handle_t *)&p->beat_timer, on_handle_closed);
}

void sr_rpresence_set(sr_rpresence *p, const char *room, uint32_t count, const char *user,
                      int delta) {
    if (!p || p->closing) return;
    p->n.changes++;
    size_t len = strlen(room);
    if (p->events) {
        const sr_pledger_entry *e = sr_pledger_find(&p->ledger, room, len);
        uint32_t before = e ? e->count : 0;
        if ((before == 0) != (count == 0)) set_event_channel(p, room, len, count > 0);
    }
    if (sr_pledger_set(&p->ledger, room, len, count, user, user ? strlen(user) : 0, delta) == 0)
        sr_rpresence_arm_flush(p);
}

void sr_rpresence_on_up(sr_rpresence *p) {
    if (!p || p->closing) return;
    /* writes may have been lost with the connection (a restart or
     * failover may have lost everything): a new incarnation, as above */
    p->beat_inflight = 0;
    send_set(p);
}

void sr_rpresence_counters_get(const sr_rpresence *p, sr_rpresence_counters *out) {
    if (p) *out = p->n;
    else memset(out, 0, sizeof *out);
}
