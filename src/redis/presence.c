/* SPDX-License-Identifier: MIT */
/*
 * presence.c: cluster-wide room presence through Redis (see presence.h for
 * the keys): the liveness key and incarnation, the coalesced writes of
 * the ledger (presence_ledger.c: this node's local counts), the reads
 * that reap dead nodes, and the join/leave events.
 *
 * Liveness: every ttl/3 the node SETs its liveness key to its incarnation
 * (PX ttl, GET). When the old value was not ours (nil: the TTL ran out or
 * Redis lost its data), when a connection came (back) up, or when a write
 * failed (its effect unknown), the node takes a new random incarnation,
 * SETs it, and only once Redis confirmed that writes its whole ledger
 * again; readers reap whatever the old incarnation left. Room
 * writes wait for that confirmation, so a reader can never see entries
 * that carry an incarnation the liveness key does not hold yet.
 *
 * Write script (one room group; KEYS per room: the nodes hash, the users
 * hash, this node's users hash, the events channel): HSETs "<count>:<inc>"
 * (HDEL for 0), and for each user sent, its absolute count on this node:
 * the difference to the node's users hash goes into the users hash with
 * HINCRBY; a user that goes from 0 to more, or back to 0, is published as
 * "j:<user>" / "l:<user>" on the events channel when events are on (SPUBLISH
 * in cluster mode: the channel has the room's hash tag). Read: HGETALL the
 * nodes hash and HLEN the users hash, and in the same round trip the
 * liveness key of each node known from earlier reads (this node from the
 * start): MGET in the script in classic mode, GETs sent with it in cluster
 * mode (other slots); a node found that was not known is GOT after, and
 * known from then on, a known node whose key is gone is forgotten. The
 * entries whose incarnation differs are reaped by a script that
 * rechecks the incarnation, subtracts the node's users from the users hash
 * (publishing the leaves) and deletes them; then the room is read again.
 * With members, HSCAN pages the users hash: the cursor is Redis's, with
 * ".<n>" when the page Redis gave was longer than the limit (a small hash
 * comes whole) and its first n entries were answered already.
 *
 * Room index (GET /rooms?scope=cluster): every write also sends this
 * incarnation's changes of its room index (presence.h), the heartbeat
 * keeps the index's TTL with the liveness key's and the node in the
 * registry; a page of rooms is the sorted union of the live nodes' pages.
 *
 * Scripts are sent with EVAL (no script cache to lose; see sequence.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "redis/cluster_int.h"
#include "redis/presence.h"

#define SR_PRESENCE_FLUSH_MS 20
#define SR_PRESENCE_ROOMS_PER_EVAL 500
#define SR_PRESENCE_REAP_ROOMS_PER_BEAT 1000
#define SR_PRESENCE_KNOWN_MAX 256

/* ------------------------------------------------------------ state */

enum { LIVE_UNKNOWN = 0, LIVE_SETTING, LIVE_OK };

struct sr_rpresence {
    sr_redis_adapter *a;
    uv_timer_t flush_timer; /* data: this */
    uv_timer_t beat_timer;
    uint32_t ttl_ms;
    int events;
    int closing;
    int handles_open;
    int live; /* LIVE_* */
    int beat_inflight;
    int ever_live; /* LIVE_OK was reached once: a loss is a reassert */
    char inc[17];  /* this incarnation, random hex */
    sr_pledger ledger;
    char *live_key; /* <prefix>presence:node:{<id>} */
    sr_rpresence_counters n;
    sr_rpresence_event_fn event_fn;
    void *event_ud;
    char *idx_key; /* <prefix>presence:rooms:{<id>}: this node's rooms */
    char *reg_key; /* <prefix>presence:nodes: node -> expiry (ms) */
    char **known;  /* nodes seen in rooms: reads GET their liveness */
    size_t n_known, cap_known;
};

static const char write_script[] =
    "local node, inc, pub = ARGV[1], ARGV[2], ARGV[3]\n"
    "local a = 4\n"
    "for r = 0, #KEYS / 4 - 1 do\n"
    "  local H, U, N, E = KEYS[r*4+1], KEYS[r*4+2], KEYS[r*4+3], KEYS[r*4+4]\n"
    "  local count, nu = ARGV[a], tonumber(ARGV[a+1])\n"
    "  a = a + 2\n"
    "  if count == '0' then redis.call('HDEL', H, node)\n"
    "  else redis.call('HSET', H, node, count .. ':' .. inc) end\n"
    "  for i = 1, nu do\n"
    "    local u, c = ARGV[a], tonumber(ARGV[a+1])\n"
    "    a = a + 2\n"
    "    local old = tonumber(redis.call('HGET', N, u) or '0')\n"
    "    if c ~= old then\n"
    "      if c == 0 then redis.call('HDEL', N, u) else redis.call('HSET', N, u, c) end\n"
    "      local t = redis.call('HINCRBY', U, u, c - old)\n"
    "      local before = t - (c - old)\n"
    "      if t <= 0 then redis.call('HDEL', U, u) end\n"
    "      if pub ~= '' then\n"
    "        if before <= 0 and t > 0 then redis.call(pub, E, 'j:' .. u)\n"
    "        elseif before > 0 and t <= 0 then redis.call(pub, E, 'l:' .. u) end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return 1\n";

/* KEYS: the nodes hash, the users hash, then (classic mode) the liveness
 * keys of the known nodes, whose values come as a third element. */
static const char read_script[] =
    "local r = {redis.call('HGETALL', KEYS[1]), redis.call('HLEN', KEYS[2])}\n"
    "if #KEYS > 2 then r[3] = redis.call('MGET', unpack(KEYS, 3)) end\n"
    "return r\n";

/* KEYS: nodes hash, users hash, events channel, then the users hash of each
 * node in ARGV (after pub): node, value seen, ... */
static const char reap_script[] =
    "local H, U, E, pub = KEYS[1], KEYS[2], KEYS[3], ARGV[1]\n"
    "local reaped = 0\n"
    "for i = 2, #ARGV, 2 do\n"
    "  local node, seen = ARGV[i], ARGV[i+1]\n"
    "  if redis.call('HGET', H, node) == seen then\n"
    "    local N = KEYS[3 + i / 2]\n"
    "    local us = redis.call('HGETALL', N)\n"
    "    for j = 1, #us, 2 do\n"
    "      local t = redis.call('HINCRBY', U, us[j], -tonumber(us[j+1]))\n"
    "      if t <= 0 then\n"
    "        redis.call('HDEL', U, us[j])\n"
    "        if pub ~= '' and t + tonumber(us[j+1]) > 0 then redis.call(pub, E, 'l:' .. us[j]) end\n"
    "      end\n"
    "    end\n"
    "    redis.call('DEL', N)\n"
    "    redis.call('HDEL', H, node)\n"
    "    reaped = reaped + 1\n"
    "  end\n"
    "end\n"
    "return reaped\n";

/* The room index of this incarnation (KEYS: the liveness key, the index;
 * ARGV: incarnation, ttl, then "+<room>" / "-<room>"): written only while
 * the liveness key is ours, and expiring with it. */
static const char index_script[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
    "for i = 3, #ARGV do\n"
    "  local r = ARGV[i]\n"
    "  if r:sub(1, 1) == '+' then redis.call('ZADD', KEYS[2], 0, r:sub(2))\n"
    "  else redis.call('ZREM', KEYS[2], r:sub(2)) end\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[2])\n"
    "return 1\n";

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

/* The nodes whose registry entry has not run out (KEYS: the registry). */
static const char nodes_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')\n";

/* A page of one node's room index (KEYS: its liveness key, its index;
 * ARGV: the lexical start, the limit); nil when the node is not alive. */
static const char list_script[] =
    "if not redis.call('GET', KEYS[1]) then return false end\n"
    "return redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], '+', 'LIMIT', 0, tonumber(ARGV[2]))\n";

/* <prefix>{<room>}<suffix>[<node>] */
static char *room_key(const sr_redis_adapter *a, const char *room, size_t len, const char *suffix,
                      const char *node, size_t *out_len) {
    size_t slen = strlen(suffix), nlen = node ? strlen(node) : 0;
    size_t n = a->prefix_len + len + slen + nlen + 3;
    char *k = malloc(n);
    if (!k) return NULL;
    *out_len = (size_t)snprintf(k, n, "%s{%.*s}%s%s", a->prefix, (int)len, room, suffix,
                                node ? node : "");
    return k;
}

static char *live_key_of(const sr_redis_adapter *a, const char *node, size_t nlen,
                         size_t *out_len) {
    size_t n = a->prefix_len + nlen + 20;
    char *k = malloc(n);
    if (!k) return NULL;
    *out_len = (size_t)snprintf(k, n, "%spresence:node:{%.*s}", a->prefix, (int)nlen, node);
    return k;
}

/* <prefix>presence:rooms:{<node>}: in the slot of the node's liveness key */
static char *index_key_of(const sr_redis_adapter *a, const char *node, size_t nlen,
                          size_t *out_len) {
    size_t n = a->prefix_len + nlen + 20;
    char *k = malloc(n);
    if (!k) return NULL;
    *out_len = (size_t)snprintf(k, n, "%spresence:rooms:{%.*s}", a->prefix, (int)nlen, node);
    return k;
}

/* The connection that takes commands for key: the publisher (classic) or
 * the publisher of the shard owning its slot; NULL when not up. */
static sr_rconn *route(const sr_rpresence *p, const char *key, size_t len) {
    const sr_redis_adapter *a = p->a;
    sr_rconn *c = a->pub;
    if (a->cluster) {
        rshard *s = sr_rcluster_owner(a->cluster, key, len);
        c = s ? s->pub : NULL;
    }
    return c && sr_rconn_get_state(c) == SR_RCONN_UP ? c : NULL;
}

/* A MOVED/ASK or CLUSTERDOWN answer: the slot map is stale. */
static void maybe_refresh(sr_rpresence *p, const char *err) {
    if (p->a->cluster && err &&
        (!strncmp(err, "MOVED", 5) || !strncmp(err, "ASK", 3) || !strncmp(err, "CLUSTERDOWN", 11) ||
         !strncmp(err, "TRYAGAIN", 8)))
        sr_rcluster_request_refresh(p->a->cluster, 0);
}

static const char *pub_verb(const sr_rpresence *p) {
    return !p->events ? "" : p->a->cluster ? "SPUBLISH" : "PUBLISH";
}

static void arm_flush(sr_rpresence *p);
static void send_beat(sr_rpresence *p);

/* ------------------------------------------------------------ writes */

/* Every command in flight holds p: presence close comes before the
 * connection closes that fail them, and p is freed a loop turn later,
 * once its timers have closed, so the failed replies still find it. */
static void on_write_reply(void *ud, redisReply *reply, const char *err) {
    sr_rpresence *p = ud;
    if (p->closing || (!err && reply)) return;
    /* lost, refused or moved: what Redis holds is unknown now, and rooms
     * whose 0 was in it are no longer in the ledger to be written again.
     * The next heartbeat starts a new incarnation: readers reap every
     * entry of the old one, and the whole ledger is written again. */
    maybe_refresh(p, err);
    p->live = LIVE_UNKNOWN;
}

typedef struct argvec {
    const char **v;
    size_t *l;
    size_t n, cap;
    char **owned;
    size_t n_owned, cap_owned;
    int oom;
} argvec;

static void av_push(argvec *av, const char *s, size_t len) {
    if (av->oom) return;
    if (av->n == av->cap) {
        size_t cap = av->cap ? av->cap * 2 : 64;
        const char **v = realloc(av->v, cap * sizeof *v);
        if (v) av->v = v;
        size_t *l = realloc(av->l, cap * sizeof *l);
        if (l) av->l = l;
        if (!v || !l) {
            av->oom = 1;
            return;
        }
        av->cap = cap;
    }
    av->v[av->n] = s;
    av->l[av->n++] = len;
}

/* Pushes s and frees it with the vector. */
static void av_own(argvec *av, char *s, size_t len) {
    if (!s) {
        av->oom = 1;
        return;
    }
    if (av->n_owned == av->cap_owned) {
        size_t cap = av->cap_owned ? av->cap_owned * 2 : 64;
        char **o = realloc(av->owned, cap * sizeof *o);
        if (!o) {
            free(s);
            av->oom = 1;
            return;
        }
        av->owned = o;
        av->cap_owned = cap;
    }
    av->owned[av->n_owned++] = s;
    av_push(av, s, len);
}

/* av_own for a key whose length room_key wrote into *len (read only after
 * the call: argument evaluation order is unspecified). */
static void av_key(argvec *av, char *key, const size_t *len) {
    av_own(av, key, key ? *len : 0);
}

static void av_num(argvec *av, uint64_t v) {
    char *s = malloc(24);
    int n = s ? snprintf(s, 24, "%llu", (unsigned long long)v) : 0;
    av_own(av, s, (size_t)n);
}

static void av_free(argvec *av) {
    for (size_t i = 0; i < av->n_owned; i++) free(av->owned[i]);
    free(av->owned);
    free(av->v);
    free(av->l);
}

/* One EVAL of write_script for rooms[0..n) (one slot in cluster mode). */
static int send_rooms(sr_rpresence *p, sr_pledger_entry **rooms, size_t n) {
    sr_redis_adapter *a = p->a;
    argvec keys = {0}, args = {0};
    size_t klen = 0;
    for (size_t i = 0; i < n; i++) {
        const sr_pledger_entry *r = rooms[i];
        av_key(&keys, room_key(a, r->name, r->len, ":presence", NULL, &klen), &klen);
        av_key(&keys, room_key(a, r->name, r->len, ":presence:users", NULL, &klen), &klen);
        av_key(&keys, room_key(a, r->name, r->len, ":presence:users:", a->node_id, &klen), &klen);
        av_key(&keys, room_key(a, r->name, r->len, ":presence:events", NULL, &klen), &klen);
        av_num(&args, r->count);
        sr_pledger_entry **users = NULL;
        size_t nu = r->users ? sr_pledger_take_dirty(r->users, &users) : 0;
        av_num(&args, nu);
        for (size_t j = 0; j < nu; j++) {
            av_push(&args, users[j]->name, users[j]->len);
            av_num(&args, users[j]->count);
        }
    }
    argvec all = {0};
    char nk[24];
    av_push(&all, "EVAL", 4);
    av_push(&all, write_script, sizeof write_script - 1);
    av_push(&all, nk, (size_t)snprintf(nk, sizeof nk, "%zu", keys.n));
    for (size_t i = 0; i < keys.n; i++) av_push(&all, keys.v[i], keys.l[i]);
    av_push(&all, a->node_id, a->node_id_len);
    av_push(&all, p->inc, strlen(p->inc));
    const char *pub = pub_verb(p);
    av_push(&all, pub, strlen(pub));
    for (size_t i = 0; i < args.n; i++) av_push(&all, args.v[i], args.l[i]);
    int rc = SR_ENOMEM;
    if (!keys.oom && !args.oom && !all.oom) {
        sr_rconn *c = route(p, keys.v[0], keys.l[0]);
        rc = c ? sr_rconn_command(c, (int)all.n, all.v, all.l, on_write_reply, p) : SR_EADAPTER;
    }
    if (rc == 0) {
        p->n.writes++;
        p->n.rooms_written += n;
    }
    av_free(&keys);
    av_free(&args);
    av_free(&all);
    return rc;
}

#define SR_PRESENCE_INDEX_PER_EVAL 1000

/* The index changes among rooms[0..n) (a room that got members is added,
 * one left empty removed; the others are not sent, so churn in a room
 * that stays occupied costs the index nothing), SR_PRESENCE_INDEX_PER_EVAL
 * per script. Reorders rooms. */
static int send_index(sr_rpresence *p, sr_pledger_entry **rooms, size_t n) {
    size_t changed = 0;
    for (size_t i = 0; i < n; i++)
        if ((rooms[i]->count > 0) != rooms[i]->indexed) {
            sr_pledger_entry *e = rooms[i];
            rooms[i] = rooms[changed];
            rooms[changed++] = e;
        }
    if (changed == 0) return 0;
    n = changed;
    size_t lk = strlen(p->live_key), ik = strlen(p->idx_key);
    sr_rconn *c = route(p, p->idx_key, ik);
    if (!c) return SR_EADAPTER;
    char ttl[24];
    size_t ttl_len = (size_t)snprintf(ttl, sizeof ttl, "%u", p->ttl_ms);
    for (size_t i = 0; i < n; i++) rooms[i]->indexed = rooms[i]->count > 0;
    for (size_t i = 0; i < n; i += SR_PRESENCE_INDEX_PER_EVAL) {
        size_t m = n - i < SR_PRESENCE_INDEX_PER_EVAL ? n - i : SR_PRESENCE_INDEX_PER_EVAL;
        argvec av = {0};
        av_push(&av, "EVAL", 4);
        av_push(&av, index_script, sizeof index_script - 1);
        av_push(&av, "2", 1);
        av_push(&av, p->live_key, lk);
        av_push(&av, p->idx_key, ik);
        av_push(&av, p->inc, strlen(p->inc));
        av_push(&av, ttl, ttl_len);
        for (size_t j = i; j < i + m; j++) {
            const sr_pledger_entry *r = rooms[j];
            char *op = malloc(r->len + 1);
            if (op) {
                op[0] = r->count ? '+' : '-';
                memcpy(op + 1, r->name, r->len);
            }
            av_own(&av, op, r->len + 1);
        }
        int rc = av.oom ? SR_ENOMEM : sr_rconn_command(c, (int)av.n, av.v, av.l, on_write_reply, p);
        av_free(&av);
        if (rc < 0) return rc;
    }
    return 0;
}

static unsigned room_slot(const sr_pledger_entry *e) {
    return sr_keyslot(e->name, e->len);
}

static int by_slot(const void *x, const void *y) {
    unsigned a = room_slot(*(sr_pledger_entry *const *)x),
             b = room_slot(*(sr_pledger_entry *const *)y);
    return a < b ? -1 : a > b;
}

/* Sends every dirty room: one script per SR_PRESENCE_ROOMS_PER_EVAL rooms
 * (classic), one per slot (cluster). Rooms not sent stay dirty. */
static void send_write(sr_rpresence *p) {
    if (p->closing || p->live != LIVE_OK) return;
    sr_pledger_entry **taken;
    size_t n = sr_pledger_take_dirty(&p->ledger, &taken);
    if (n == 0) return;
    sr_pledger_entry **dirty = malloc(n * sizeof *dirty);
    if (!dirty) {
        for (size_t i = 0; i < n; i++) sr_pledger_mark_dirty(&p->ledger, taken[i]);
        return;
    }
    memcpy(dirty, taken, n * sizeof *dirty);
    if (p->a->cluster) qsort(dirty, n, sizeof *dirty, by_slot);
    size_t i = 0;
    int failed = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && j - i < SR_PRESENCE_ROOMS_PER_EVAL &&
               (!p->a->cluster || room_slot(dirty[j]) == room_slot(dirty[i])))
            j++;
        if (send_rooms(p, dirty + i, j - i) < 0) {
            failed = 1;
            for (size_t k = i; k < j; k++) {
                sr_pledger_mark_dirty(&p->ledger, dirty[k]);
                if (dirty[k]->users) sr_pledger_mark_all(dirty[k]->users);
            }
        }
        i = j;
    }
    /* the index after the rooms: a name listed is then (about to be)
     * counted. A change it lost starts a new incarnation, which writes the
     * whole index again. */
    if (send_index(p, dirty, n) < 0) p->live = LIVE_UNKNOWN;
    free(dirty);
    sr_pledger_prune(&p->ledger);
    (void)failed; /* retried by the next change or heartbeat */
}

static void on_flush_timer(uv_timer_t *t) {
    send_write(t->data);
}

static void arm_flush(sr_rpresence *p) {
    if (p->closing || uv_is_active((uv_handle_t *)&p->flush_timer)) return;
    uv_timer_start(&p->flush_timer, on_flush_timer, SR_PRESENCE_FLUSH_MS, 0);
}

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
        maybe_refresh(p, err);
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
    send_write(p);
}

/* ZADDs this node to the registry of nodes, till its TTL runs out. */
static void send_register(sr_rpresence *p) {
    size_t rlen = strlen(p->reg_key);
    sr_rconn *c = route(p, p->reg_key, rlen);
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
    sr_rconn *c = route(p, p->live_key, klen);
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
        maybe_refresh(p, err);
        p->live = LIVE_UNKNOWN;
        return;
    }
    p->n.heartbeats++;
    if (reply->type == REDIS_REPLY_STRING && strlen(p->inc) == (size_t)reply->len &&
        memcmp(reply->str, p->inc, (size_t)reply->len) == 0) {
        send_write(p); /* still us: anything dirty goes out now */
        return;
    }
    /* the key was gone (or not ours): readers may have reaped us */
    send_set(p);
}

static void reap_rooms(sr_rpresence *p);

static void send_beat(sr_rpresence *p) {
    if (p->closing || p->beat_inflight) return;
    if (p->live != LIVE_OK) {
        send_set(p);
        return;
    }
    size_t klen = strlen(p->live_key);
    sr_rconn *c = route(p, p->live_key, klen);
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

static void on_beat_timer(uv_timer_t *t) {
    sr_rpresence *p = t->data;
    send_beat(p);
    if (p->events) reap_rooms(p);
}

/* ------------------------------------------------------------ reads */

typedef struct read_call {
    sr_rpresence *p;
    sr_presence_fn fn; /* NULL: a reap on the heartbeat, nobody waits */
    void *ud;
    int members;
    unsigned limit;
    char cursor[24]; /* Redis's HSCAN cursor */
    size_t skip;     /* entries of that HSCAN page already given */
    int rounds;
    int failed;
    int closed;
    char why[256];
    size_t pending; /* replies still awaited in this stage */
    /* from the read script */
    size_t n_nodes;
    char **node, **seen;  /* node id, its "<count>:<inc>" */
    char **live;          /* the liveness key's value (NULL: none) */
    char **kn, **kn_live; /* the known nodes asked with the script, their values */
    size_t n_kn;
    uint64_t users;
    /* members */
    sr_presence_member *m;
    char **m_names;
    size_t n_m;
    char next[48];
    size_t room_len;
    char room[];
} read_call;

static void read_stage1(read_call *rc);

static void clear_nodes(read_call *rc) {
    for (size_t i = 0; i < rc->n_nodes; i++) {
        free(rc->node[i]);
        free(rc->seen[i]);
        if (rc->live) free(rc->live[i]);
    }
    free(rc->node);
    free(rc->seen);
    free(rc->live);
    rc->node = rc->seen = rc->live = NULL;
    rc->n_nodes = 0;
    for (size_t j = 0; j < rc->n_kn; j++) {
        free(rc->kn[j]);
        free(rc->kn_live[j]);
    }
    free(rc->kn);
    free(rc->kn_live);
    rc->kn = rc->kn_live = NULL;
    rc->n_kn = 0;
}

static void read_free(read_call *rc) {
    clear_nodes(rc);
    for (size_t i = 0; i < rc->n_m; i++) free(rc->m_names[i]);
    free(rc->m_names);
    free(rc->m);
    free(rc);
}

static void fail_read(read_call *rc, int closed, const char *why) {
    if (!rc->failed) snprintf(rc->why, sizeof rc->why, "%s", why ? why : "no reply");
    rc->failed = 1;
    rc->closed |= closed;
}

/* The incarnation part of "<count>:<inc>". */
static const char *inc_of(const char *v) {
    const char *c = strchr(v, ':');
    return c ? c + 1 : "";
}

static void finish(read_call *rc) {
    sr_rpresence *p = rc->p;
    sr_presence ans = {0};
    ans.room = rc->room;
    ans.cluster = 1;
    if (rc->failed) {
        ans.rc = rc->closed || p->closing ? SR_ECLOSED : SR_EADAPTER;
        ans.why = rc->why;
        if (!p->closing) p->n.read_failures++;
    } else {
        for (size_t i = 0; i < rc->n_nodes; i++) {
            if (!rc->live[i] || strcmp(rc->live[i], inc_of(rc->seen[i])) != 0) continue;
            ans.connections += strtoull(rc->seen[i], NULL, 10);
            ans.nodes++;
        }
        ans.users = rc->users;
        ans.members = rc->m;
        ans.n_members = rc->n_m;
        ans.next_cursor = rc->members && rc->next[0] && strcmp(rc->next, "0") != 0 ? rc->next
                                                                                   : NULL;
        p->n.reads++;
    }
    if (rc->fn) rc->fn(rc->ud, &ans);
    read_free(rc);
}

static void on_hscan(void *ud, redisReply *r, const char *err) {
    read_call *rc = ud;
    if (err || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        fail_read(rc, !r, err ? err : "unexpected HSCAN reply");
        finish(rc);
        return;
    }
    const redisReply *list = r->element[1];
    size_t total = list->elements / 2, from = rc->skip < total ? rc->skip : total;
    size_t n = total - from > rc->limit ? rc->limit : total - from;
    if (from + n <
        total) /* a page bigger than the limit (a small hash comes whole): the rest next */
        snprintf(rc->next, sizeof rc->next, "%s.%zu", rc->cursor, from + n);
    else snprintf(rc->next, sizeof rc->next, "%.*s", (int)r->element[0]->len, r->element[0]->str);
    rc->m = calloc(n ? n : 1, sizeof *rc->m);
    rc->m_names = calloc(n ? n : 1, sizeof *rc->m_names);
    if (!rc->m || !rc->m_names) {
        fail_read(rc, 0, "out of memory");
        finish(rc);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *u = list->element[2 * (from + i)], *c = list->element[2 * (from + i) + 1];
        if (u->type != REDIS_REPLY_STRING || c->type != REDIS_REPLY_STRING) continue;
        char *name = malloc((size_t)u->len + 1);
        if (!name) continue;
        memcpy(name, u->str, (size_t)u->len);
        name[u->len] = '\0';
        rc->m_names[rc->n_m] = name;
        rc->m[rc->n_m].user = name;
        rc->m[rc->n_m].connections = strtoull(c->str, NULL, 10);
        rc->n_m++;
    }
    finish(rc);
}

static void read_members(read_call *rc) {
    sr_rpresence *p = rc->p;
    size_t klen = 0;
    char *key = room_key(p->a, rc->room, rc->room_len, ":presence:users", NULL, &klen);
    sr_rconn *c = key ? route(p, key, klen) : NULL;
    char count[24];
    const char *argv[] = {"HSCAN", key, rc->cursor, "COUNT", count};
    size_t lens[] = {5, klen, strlen(rc->cursor), 5,
                     (size_t)snprintf(count, sizeof count, "%u", rc->limit)};
    int r = c ? sr_rconn_command(c, 5, argv, lens, on_hscan, rc) : SR_EADAPTER;
    free(key);
    if (r < 0) {
        fail_read(rc, 0, "redis unreachable");
        finish(rc);
    }
}

/* Stage 2 is complete: reap the dead, or answer. */
static void after_live(read_call *rc) {
    sr_rpresence *p = rc->p;
    if (rc->failed || p->closing) {
        if (p->closing) fail_read(rc, 1, "the redis adapter closed");
        finish(rc);
        return;
    }
    size_t dead = 0;
    for (size_t i = 0; i < rc->n_nodes; i++)
        if (!rc->live[i] || strcmp(rc->live[i], inc_of(rc->seen[i])) != 0) dead++;
    if (dead == 0 || rc->rounds >= 2) {
        if (rc->members) read_members(rc);
        else finish(rc);
        return;
    }
    /* reap, then read again (the users count changes with it) */
    sr_redis_adapter *a = p->a;
    argvec av = {0};
    size_t klen = 0;
    char nk[24];
    av_push(&av, "EVAL", 4);
    av_push(&av, reap_script, sizeof reap_script - 1);
    av_push(&av, nk, (size_t)snprintf(nk, sizeof nk, "%zu", 3 + dead));
    av_key(&av, room_key(a, rc->room, rc->room_len, ":presence", NULL, &klen), &klen);
    av_key(&av, room_key(a, rc->room, rc->room_len, ":presence:users", NULL, &klen), &klen);
    av_key(&av, room_key(a, rc->room, rc->room_len, ":presence:events", NULL, &klen), &klen);
    for (size_t i = 0; i < rc->n_nodes; i++)
        if (!rc->live[i] || strcmp(rc->live[i], inc_of(rc->seen[i])) != 0)
            av_key(&av, room_key(a, rc->room, rc->room_len, ":presence:users:", rc->node[i], &klen),
                   &klen);
    const char *pub = pub_verb(p);
    av_push(&av, pub, strlen(pub));
    for (size_t i = 0; i < rc->n_nodes; i++)
        if (!rc->live[i] || strcmp(rc->live[i], inc_of(rc->seen[i])) != 0) {
            av_push(&av, rc->node[i], strlen(rc->node[i]));
            av_push(&av, rc->seen[i], strlen(rc->seen[i]));
        }
    sr_rconn *c = av.oom ? NULL : route(p, av.v[3], av.l[3]);
    int r = c ? sr_rconn_command(c, (int)av.n, av.v, av.l, NULL, NULL) : SR_EADAPTER;
    av_free(&av);
    if (r < 0) {
        fail_read(rc, 0, "redis unreachable");
        finish(rc);
        return;
    }
    p->n.reaped += dead;
    /* the reap and the new read go to the same connection: in order */
    clear_nodes(rc);
    read_stage1(rc);
}

/* A liveness GET's context: the call, the node index, and whether it is
 * one of the known nodes asked with the script (1) or a node the script
 * found that was not known (0). */
typedef struct live_get {
    read_call *rc;
    size_t i;
    int known;
} live_get;

static void stage1_done(read_call *rc);

static void on_live_get(void *ud, redisReply *r, const char *err) {
    live_get *g = ud;
    read_call *rc = g->rc;
    char **slot = g->known ? &rc->kn_live[g->i] : &rc->live[g->i];
    int known = g->known;
    free(g);
    if (err || !r) fail_read(rc, !r, err);
    else if (r->type == REDIS_REPLY_STRING && !*slot) *slot = strndup(r->str, (size_t)r->len);
    if (--rc->pending == 0) {
        if (known) stage1_done(rc);
        else after_live(rc);
    }
}

/* GETs the liveness key of node for the call (see live_get): 0, or a
 * negative code (the call then failed). */
static int send_live_get(read_call *rc, const char *node, size_t i, int known) {
    sr_rpresence *p = rc->p;
    size_t klen = 0;
    char *key = live_key_of(p->a, node, strlen(node), &klen);
    sr_rconn *c = key ? route(p, key, klen) : NULL;
    live_get *g = malloc(sizeof *g);
    int res = SR_EADAPTER;
    if (c && g) {
        g->rc = rc;
        g->i = i;
        g->known = known;
        const char *argv[] = {"GET", key};
        size_t lens[] = {3, klen};
        res = sr_rconn_command(c, 2, argv, lens, on_live_get, g);
    }
    free(key);
    if (res < 0) {
        free(g);
        fail_read(rc, 0, "redis unreachable");
    }
    return res;
}

/* The index of node among the known ones, SIZE_MAX when not known. */
static size_t known_index(const sr_rpresence *p, const char *node) {
    for (size_t i = 0; i < p->n_known; i++)
        if (strcmp(p->known[i], node) == 0) return i;
    return SIZE_MAX;
}

/* Remembers node, so the next reads GET its liveness key with the script
 * (at most SR_PRESENCE_KNOWN_MAX nodes; past that, the two round trips). */
static void known_add(sr_rpresence *p, const char *node) {
    if (p->n_known >= SR_PRESENCE_KNOWN_MAX || known_index(p, node) != SIZE_MAX) return;
    if (p->n_known == p->cap_known) {
        size_t cap = p->cap_known ? p->cap_known * 2 : 16;
        char **k = realloc(p->known, cap * sizeof *k);
        if (!k) return;
        p->known = k;
        p->cap_known = cap;
    }
    char *dup = strdup(node);
    if (dup) p->known[p->n_known++] = dup;
}

static void known_remove(sr_rpresence *p, const char *node) {
    size_t i = known_index(p, node);
    if (i == SIZE_MAX) return;
    free(p->known[i]);
    p->known[i] = p->known[--p->n_known];
}

/* The script and the known nodes' GETs are back: take each node's liveness
 * from them; GET only the nodes that were not known (a second round). */
static void stage1_done(read_call *rc) {
    sr_rpresence *p = rc->p;
    if (rc->failed || p->closing) {
        after_live(rc);
        return;
    }
    /* a known node whose key is gone drops out of the known ones (it comes
     * back when a room hash names it again) */
    for (size_t j = 0; j < rc->n_kn; j++)
        if (!rc->kn_live[j]) known_remove(p, rc->kn[j]);
    size_t missing = 0;
    for (size_t i = 0; i < rc->n_nodes; i++) {
        size_t j = 0;
        while (j < rc->n_kn && strcmp(rc->kn[j], rc->node[i]) != 0) j++;
        if (j < rc->n_kn) {
            rc->live[i] = rc->kn_live[j] ? strdup(rc->kn_live[j]) : NULL;
            continue;
        }
        missing++;
    }
    if (missing == 0) {
        after_live(rc);
        return;
    }
    rc->pending = 1;
    for (size_t i = 0; i < rc->n_nodes; i++) {
        size_t j = 0;
        while (j < rc->n_kn && strcmp(rc->kn[j], rc->node[i]) != 0) j++;
        if (j < rc->n_kn) continue;
        known_add(p, rc->node[i]);
        if (send_live_get(rc, rc->node[i], i, 0) == 0) rc->pending++;
    }
    if (--rc->pending == 0) after_live(rc);
}

static void on_read_script(void *ud, redisReply *r, const char *err) {
    read_call *rc = ud;
    sr_rpresence *p = rc->p;
    if (err || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[1]->type != REDIS_REPLY_INTEGER ||
        (r->elements > 2 &&
         (r->element[2]->type != REDIS_REPLY_ARRAY || r->element[2]->elements != rc->n_kn))) {
        if (r && err) maybe_refresh(p, err);
        fail_read(rc, !r, err ? err : "unexpected reply from redis");
    } else {
        /* classic mode: the known nodes' liveness values came with it */
        for (size_t j = 0; r->elements > 2 && j < rc->n_kn; j++) {
            const redisReply *v = r->element[2]->element[j];
            if (v->type == REDIS_REPLY_STRING) rc->kn_live[j] = strndup(v->str, (size_t)v->len);
        }
        const redisReply *h = r->element[0];
        size_t n = h->elements / 2;
        rc->users = r->element[1]->integer > 0 ? (uint64_t)r->element[1]->integer : 0;
        rc->node = calloc(n ? n : 1, sizeof *rc->node);
        rc->seen = calloc(n ? n : 1, sizeof *rc->seen);
        rc->live = calloc(n ? n : 1, sizeof *rc->live);
        if (!rc->node || !rc->seen || !rc->live) fail_read(rc, 0, "out of memory");
        for (size_t i = 0; i < n && !rc->failed; i++) {
            const redisReply *k = h->element[2 * i], *v = h->element[2 * i + 1];
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
            char *kk = strndup(k->str, (size_t)k->len), *vv = strndup(v->str, (size_t)v->len);
            if (!kk || !vv) {
                free(kk);
                free(vv);
                continue;
            }
            rc->node[rc->n_nodes] = kk;
            rc->seen[rc->n_nodes++] = vv;
        }
    }
    if (--rc->pending == 0) stage1_done(rc);
}

/* One round trip when the room's nodes are known: in classic mode the
 * read script MGETs the known nodes' liveness keys itself (one command,
 * one reply); in cluster mode those keys live on other shards, so a GET of
 * each goes out with the script, to its shard. */
static void read_stage1(read_call *rc) {
    sr_rpresence *p = rc->p;
    rc->rounds++;
    size_t hlen = 0, ulen = 0;
    char *h = room_key(p->a, rc->room, rc->room_len, ":presence", NULL, &hlen);
    char *u = room_key(p->a, rc->room, rc->room_len, ":presence:users", NULL, &ulen);
    sr_rconn *c = h && u ? route(p, h, hlen) : NULL;
    int r = SR_EADAPTER;
    rc->kn = calloc(p->n_known ? p->n_known : 1, sizeof *rc->kn);
    rc->kn_live = calloc(p->n_known ? p->n_known : 1, sizeof *rc->kn_live);
    /* a heartbeat's reap has nobody waiting: only the room's own nodes */
    for (size_t j = 0; rc->fn && rc->kn && j < p->n_known; j++) {
        if (!(rc->kn[rc->n_kn] = strdup(p->known[j]))) break;
        rc->n_kn++;
    }
    int in_script = !p->a->cluster && rc->n_kn > 0;
    argvec av = {0};
    char nk[24];
    size_t klen = 0;
    av_push(&av, "EVAL", 4);
    av_push(&av, read_script, sizeof read_script - 1);
    av_push(&av, nk, (size_t)snprintf(nk, sizeof nk, "%zu", 2 + (in_script ? rc->n_kn : 0)));
    av_push(&av, h, hlen);
    av_push(&av, u, ulen);
    for (size_t j = 0; in_script && j < rc->n_kn; j++)
        av_key(&av, live_key_of(p->a, rc->kn[j], strlen(rc->kn[j]), &klen), &klen);
    if (c && rc->kn && rc->kn_live && h && u && !av.oom)
        r = sr_rconn_command(c, (int)av.n, av.v, av.l, on_read_script, rc);
    av_free(&av);
    free(h);
    free(u);
    if (r < 0) {
        fail_read(rc, 0, "redis unreachable");
        finish(rc);
        return;
    }
    rc->pending = 2; /* the script, and this function's own share */
    for (size_t j = 0; !in_script && j < rc->n_kn && !rc->failed; j++)
        if (send_live_get(rc, rc->kn[j], j, 1) == 0) rc->pending++;
    if (--rc->pending == 0) stage1_done(rc);
}

int sr_rpresence_read(sr_rpresence *p, const char *room, const sr_presence_query *q,
                      sr_presence_fn fn, void *ud) {
    if (!p || p->closing) return SR_ECLOSED;
    size_t len = strlen(room), hlen = 0;
    char *h = room_key(p->a, room, len, ":presence", NULL, &hlen);
    sr_rconn *c = h ? route(p, h, hlen) : NULL;
    free(h);
    if (!c) return SR_EADAPTER;
    read_call *rc = calloc(1, sizeof *rc + len + 1);
    if (!rc) return SR_ENOMEM;
    rc->p = p;
    rc->fn = fn;
    rc->ud = ud;
    rc->room_len = len;
    memcpy(rc->room, room, len + 1);
    if (q && q->members) {
        rc->members = 1;
        rc->limit = q->limit ? q->limit : 100;
        /* "<HSCAN cursor>[.<entries of its page already given>]" */
        const char *cur = q->cursor && *q->cursor ? q->cursor : "0";
        size_t clen = strcspn(cur, ".");
        snprintf(rc->cursor, sizeof rc->cursor, "%.*s", (int)(clen < 21 ? clen : 21), cur);
        rc->skip = cur[clen] == '.' ? (size_t)strtoull(cur + clen + 1, NULL, 10) : 0;
    }
    read_stage1(rc); /* answers later, never before this returns */
    return 0;
}

/* ------------------------------------------------------------ room list */

/* A page of the rooms listed by live nodes: the registry gives the nodes,
 * one script per node (its slot) gives its next `limit` rooms after the
 * cursor while its liveness key exists, and the sorted union's first
 * `limit` names are the page. */
typedef struct rooms_call {
    sr_rpresence *p;
    sr_presence_names_fn fn;
    void *ud;
    unsigned limit;
    size_t pending; /* node scripts still out (+1 while sending) */
    int failed, more;
    char why[256];
    char **names;
    size_t n, cap;
    char after[]; /* "" or the last name of the previous page */
} rooms_call;

static void rooms_call_free(rooms_call *rc) {
    for (size_t i = 0; i < rc->n; i++) free(rc->names[i]);
    free(rc->names);
    free(rc);
}

static void rooms_fail(rooms_call *rc, const char *why) {
    if (!rc->failed) snprintf(rc->why, sizeof rc->why, "%s", why ? why : "no reply");
    rc->failed = 1;
}

static int by_name(const void *x, const void *y) {
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void rooms_finish(rooms_call *rc) {
    sr_rpresence *p = rc->p;
    if (rc->failed || p->closing) {
        int code = p->closing ? SR_ECLOSED : SR_EADAPTER;
        rc->fn(rc->ud, code, p->closing ? "the redis adapter closed" : rc->why, NULL, 0, 0);
        if (!p->closing) p->n.read_failures++;
        rooms_call_free(rc);
        return;
    }
    if (rc->n) qsort(rc->names, rc->n, sizeof *rc->names, by_name);
    size_t d = 0;
    for (size_t i = 0; i < rc->n; i++) {
        if (d && strcmp(rc->names[d - 1], rc->names[i]) == 0) {
            free(rc->names[i]);
            continue;
        }
        rc->names[d++] = rc->names[i];
    }
    rc->n = d;
    if (d > rc->limit) { /* the names past the limit come on the next page */
        for (size_t i = rc->limit; i < d; i++) free(rc->names[i]);
        rc->n = rc->limit;
        rc->more = 1;
    }
    p->n.reads++;
    rc->fn(rc->ud, 0, NULL, (const char *const *)rc->names, rc->n, rc->more);
    rooms_call_free(rc);
}

static void on_node_rooms(void *ud, redisReply *r, const char *err) {
    rooms_call *rc = ud;
    if (err || !r) {
        if (r && err) maybe_refresh(rc->p, err);
        rooms_fail(rc, err);
    } else if (r->type == REDIS_REPLY_ARRAY) {
        if (r->elements >= rc->limit) rc->more = 1; /* this node may list more */
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_STRING) continue;
            if (rc->n == rc->cap) {
                size_t cap = rc->cap ? rc->cap * 2 : 64;
                char **v = realloc(rc->names, cap * sizeof *v);
                if (!v) {
                    rooms_fail(rc, "out of memory");
                    break;
                }
                rc->names = v;
                rc->cap = cap;
            }
            char *name = strndup(e->str, (size_t)e->len);
            if (!name) {
                rooms_fail(rc, "out of memory");
                break;
            }
            rc->names[rc->n++] = name;
        }
    } /* nil: that node is not alive */
    if (--rc->pending == 0) rooms_finish(rc);
}

static void on_nodes(void *ud, redisReply *r, const char *err) {
    rooms_call *rc = ud;
    sr_rpresence *p = rc->p;
    if (err || !r || r->type != REDIS_REPLY_ARRAY) {
        if (r && err) maybe_refresh(p, err);
        rooms_fail(rc, err ? err : "unexpected reply from redis");
        rooms_finish(rc);
        return;
    }
    size_t slen = strlen(rc->after);
    char *start = malloc(slen + 2), limit[24];
    size_t limit_len = (size_t)snprintf(limit, sizeof limit, "%u", rc->limit);
    if (!start) {
        rooms_fail(rc, "out of memory");
        rooms_finish(rc);
        return;
    }
    /* "-": from the first name; "(<after>": the names after it */
    if (slen) snprintf(start, slen + 2, "(%s", rc->after);
    else strcpy(start, "-");
    rc->pending = 1;
    for (size_t i = 0; i < r->elements && !p->closing; i++) {
        const redisReply *node = r->element[i];
        if (node->type != REDIS_REPLY_STRING) continue;
        size_t llen = 0, ilen = 0;
        char *live = live_key_of(p->a, node->str, (size_t)node->len, &llen);
        char *idx = index_key_of(p->a, node->str, (size_t)node->len, &ilen);
        sr_rconn *c = live && idx ? route(p, live, llen) : NULL;
        int res = SR_EADAPTER;
        if (c) {
            const char *argv[] = {"EVAL", list_script, "2", live, idx, start, limit};
            size_t lens[] = {4, sizeof list_script - 1, 1, llen, ilen, strlen(start), limit_len};
            res = sr_rconn_command(c, 7, argv, lens, on_node_rooms, rc);
        }
        free(live);
        free(idx);
        if (res < 0) rooms_fail(rc, "redis unreachable");
        else rc->pending++;
    }
    free(start);
    if (--rc->pending == 0) rooms_finish(rc);
}

int sr_rpresence_rooms(sr_rpresence *p, const char *after, unsigned limit, sr_presence_names_fn fn,
                       void *ud) {
    if (!p || p->closing) return SR_ECLOSED;
    if (!after) after = "";
    size_t rlen = strlen(p->reg_key), alen = strlen(after);
    sr_rconn *c = route(p, p->reg_key, rlen);
    if (!c) return SR_EADAPTER;
    rooms_call *rc = calloc(1, sizeof *rc + alen + 1);
    if (!rc) return SR_ENOMEM;
    rc->p = p;
    rc->fn = fn;
    rc->ud = ud;
    rc->limit = limit ? limit : 100;
    memcpy(rc->after, after, alen + 1);
    const char *argv[] = {"EVAL", nodes_script, "1", p->reg_key};
    size_t lens[] = {4, sizeof nodes_script - 1, 1, rlen};
    int res = sr_rconn_command(c, 4, argv, lens, on_nodes, rc);
    if (res < 0) free(rc);
    return res < 0 ? SR_EADAPTER : 0;
}

/* With events on, each heartbeat reads the rooms this node has members in,
 * so a dead node's users leave (and are announced) without anyone asking. */
static void reap_rooms(sr_rpresence *p) {
    size_t done = 0, pos = 0;
    for (sr_pledger_entry *e;
         done < SR_PRESENCE_REAP_ROOMS_PER_BEAT && (e = sr_table_next(&p->ledger.entries, &pos));)
        if (e->count > 0 && sr_rpresence_read(p, e->name, NULL, NULL, NULL) == 0) done++;
}

/* ------------------------------------------------------------ events */

static void set_event_channel(sr_rpresence *p, const char *room, size_t len, int wanted) {
    size_t clen;
    char *ch = room_key(p->a, room, len, ":presence:events", NULL, &clen);
    if (!ch) return;
    if (p->a->cluster) sr_rcluster_set_wanted(p->a->cluster, ch, clen, wanted);
    else sr_rsubs_set(p->a->subs, ch, clen, wanted);
    free(ch);
}

int sr_rpresence_on_message(sr_rpresence *p, const char *channel, size_t len, const char *body,
                            size_t body_len) {
    const sr_redis_adapter *a = p ? p->a : NULL;
    if (!a || len < a->prefix_len + 2 || channel[a->prefix_len] != '{') return 0;
    static const char tail[] = "}:presence:events";
    size_t tl = sizeof tail - 1;
    if (len < a->prefix_len + 1 + tl || memcmp(channel + len - tl, tail, tl) != 0) return 1;
    const char *room = channel + a->prefix_len + 1;
    size_t room_len = len - a->prefix_len - 1 - tl;
    if (p->closing || body_len < 3 || body[1] != ':' || (body[0] != 'j' && body[0] != 'l'))
        return 1;
    p->n.events++;
    if (p->event_fn)
        p->event_fn(p->event_ud, room, room_len, body + 2, body_len - 2, body[0] == 'j');
    return 1;
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
    p->live_key = live_key_of(a, a->node_id, a->node_id_len, &klen);
    p->idx_key = index_key_of(a, a->node_id, a->node_id_len, &klen);
    if ((p->reg_key = malloc(rlen))) snprintf(p->reg_key, rlen, "%spresence:nodes", a->prefix);
    if (!p->live_key || !p->idx_key || !p->reg_key) {
        free(p->live_key);
        free(p->idx_key);
        free(p->reg_key);
        free(p);
        return NULL;
    }
    new_incarnation(p);
    known_add(p, a->node_id); /* its own rooms: read in one round trip from the start */
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
        arm_flush(p);
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
