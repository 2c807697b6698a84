/* SPDX-License-Identifier: MIT */
/*
 * presence.c: cluster-wide room presence through Redis (see presence.h):
 * the ledger of this node's local counts, the coalesced writes that carry
 * them to Redis with the liveness refresh, and the room reads.
 *
 * Keys (room names never contain '{' or '}', so none of them is a room):
 *   <prefix>{<room>}:presence    hash, node id -> local connections
 *   <prefix>presence:node:<id>   string "1", PX ttl: the node is alive
 * The write script SETs the liveness key with GET first, then HSETs (or
 * HDELs, for 0) the node's field of every dirty room; it answers whether
 * the liveness key existed. When it did not, and this was not the node's
 * first write, the node's older entries may be gone (Redis lost its data,
 * or a reader found the node dead and removed them): the whole ledger is
 * written again. The read script sums the fields whose liveness key
 * exists and HDELs the rest, so a dead node's entries go with the first
 * read after its TTL. Both are sent with EVAL (see sequence.c for why not
 * EVALSHA). Classic mode only: the liveness key lives in another slot than
 * a room's hash, which one cluster script cannot reach.
 *
 * Coalescing: joins and leaves only touch the ledger; a timer of
 * SR_PRESENCE_FLUSH_MS (started by the first change) sends all dirty rooms
 * in one EVAL, and a heartbeat timer (ttl/3) refreshes the liveness key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "redis/adapter_int.h"
#include "redis/presence.h"

#define SR_PRESENCE_FLUSH_MS 20
#define SR_PRESENCE_ROOMS_PER_EVAL 1000

/* ------------------------------------------------------------ ledger */

void sr_pledger_init(sr_pledger *l) { memset(l, 0, sizeof *l); }

void sr_pledger_free(sr_pledger *l) {
    for (size_t i = 0; i < l->cap; i++) {
        sr_pledger_entry *e = l->buckets[i];
        while (e) {
            sr_pledger_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(l->buckets);
    free(l->dirty);
    memset(l, 0, sizeof *l);
}

static sr_pledger_entry *ledger_find(const sr_pledger *l, const char *room, size_t len,
                                     uint64_t hash) {
    if (!l->cap) return NULL;
    for (sr_pledger_entry *e = l->buckets[hash & (l->cap - 1)]; e; e = e->next)
        if (e->hash == hash && e->len == len && memcmp(e->name, room, len) == 0) return e;
    return NULL;
}

static int ledger_grow(sr_pledger *l) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    sr_pledger_entry **b = calloc(cap, sizeof *b);
    if (!b) return SR_ENOMEM;
    for (size_t i = 0; i < l->cap; i++) {
        sr_pledger_entry *e = l->buckets[i];
        while (e) {
            sr_pledger_entry *next = e->next;
            e->next = b[e->hash & (cap - 1)];
            b[e->hash & (cap - 1)] = e;
            e = next;
        }
    }
    free(l->buckets);
    l->buckets = b;
    l->cap = cap;
    return 0;
}

static int mark_dirty(sr_pledger *l, sr_pledger_entry *e) {
    if (e->dirty) return 0;
    if (l->n_dirty == l->cap_dirty) {
        size_t cap = l->cap_dirty ? l->cap_dirty * 2 : 64;
        sr_pledger_entry **d = realloc(l->dirty, cap * sizeof *d);
        if (!d) return SR_ENOMEM;
        l->dirty = d;
        l->cap_dirty = cap;
    }
    l->dirty[l->n_dirty++] = e;
    e->dirty = 1;
    return 0;
}

int sr_pledger_set(sr_pledger *l, const char *room, size_t len, uint32_t count) {
    uint64_t hash = sr_hash(room, len);
    sr_pledger_entry *e = ledger_find(l, room, len, hash);
    if (!e) {
        if (count == 0) return 0; /* never written: nothing to remove */
        if (l->len + 1 > l->cap && ledger_grow(l) < 0) return SR_ENOMEM;
        e = calloc(1, sizeof *e + len + 1);
        if (!e) return SR_ENOMEM;
        e->hash = hash;
        e->len = len;
        memcpy(e->name, room, len);
        e->next = l->buckets[hash & (l->cap - 1)];
        l->buckets[hash & (l->cap - 1)] = e;
        l->len++;
    }
    e->count = count;
    return mark_dirty(l, e);
}

uint32_t sr_pledger_get(const sr_pledger *l, const char *room, size_t len) {
    const sr_pledger_entry *e = ledger_find(l, room, len, sr_hash(room, len));
    return e ? e->count : 0;
}

int sr_pledger_mark_all(sr_pledger *l) {
    for (size_t i = 0; i < l->cap; i++)
        for (sr_pledger_entry *e = l->buckets[i]; e; e = e->next)
            if (mark_dirty(l, e) < 0) return SR_ENOMEM;
    return 0;
}

size_t sr_pledger_take_dirty(sr_pledger *l, sr_pledger_entry ***out) {
    size_t n = l->n_dirty;
    for (size_t i = 0; i < n; i++) l->dirty[i]->dirty = 0;
    l->n_dirty = 0;
    *out = l->dirty;
    return n;
}

void sr_pledger_prune(sr_pledger *l) {
    for (size_t i = 0; i < l->cap; i++) {
        sr_pledger_entry **pp = &l->buckets[i];
        while (*pp) {
            sr_pledger_entry *e = *pp;
            if (e->count == 0 && !e->dirty) {
                *pp = e->next;
                free(e);
                l->len--;
            } else {
                pp = &e->next;
            }
        }
    }
}

/* ------------------------------------------------------------ Redis */

struct sr_rpresence {
    sr_redis_adapter *a;
    uv_timer_t flush_timer; /* data: this */
    uv_timer_t beat_timer;
    uint32_t ttl_ms;
    int closing;
    int handles_open;
    int written_once;       /* a write went through: a missing liveness key
                               now means our entries may be gone */
    int writing;            /* EVALs in flight */
    sr_pledger ledger;
    char *live_key;         /* <prefix>presence:node:<id> */
    char *live_prefix;      /* <prefix>presence:node: */
    sr_rpresence_counters n;
};

static const char write_script[] =
    "local was = redis.call('SET', KEYS[1], '1', 'PX', ARGV[2], 'GET')\n"
    "for i = 2, #KEYS do\n"
    "  local c = ARGV[i + 1]\n"
    "  if c == '0' then redis.call('HDEL', KEYS[i], ARGV[1])\n"
    "  else redis.call('HSET', KEYS[i], ARGV[1], c) end\n"
    "end\n"
    "if was then return 1 end\n"
    "return 0\n";

static const char read_script[] =
    "local h = redis.call('HGETALL', KEYS[1])\n"
    "local conns, nodes = 0, 0\n"
    "for i = 1, #h, 2 do\n"
    "  if redis.call('EXISTS', ARGV[1] .. h[i]) == 1 then\n"
    "    conns = conns + tonumber(h[i + 1]); nodes = nodes + 1\n"
    "  else redis.call('HDEL', KEYS[1], h[i]) end\n"
    "end\n"
    "return {conns, nodes}\n";

static char *room_key(const sr_redis_adapter *a, const char *room, size_t len, size_t *out_len) {
    size_t n = a->prefix_len + len + 12;
    char *k = malloc(n + 1);
    if (!k) return NULL;
    *out_len = (size_t)snprintf(k, n + 1, "%s{%.*s}:presence", a->prefix, (int)len, room);
    return k;
}

static void arm_flush(sr_rpresence *p);

/* Every EVAL in flight holds p: presence close comes before the connection
 * close that fails them, and p is freed only once its timers have closed,
 * a loop turn later, so the failed replies still find it (closing). */
static void on_write_reply(void *ud, redisReply *reply, const char *err) {
    sr_rpresence *p = ud;
    p->writing--;
    if (p->closing) return;
    if (err || !reply || reply->type != REDIS_REPLY_INTEGER) {
        /* the connection failed or Redis refused: everything is written
         * again when the connection is back (on_up), or at the next flush */
        if (sr_pledger_mark_all(&p->ledger) == 0 && reply) arm_flush(p);
        return;
    }
    if (reply->integer == 0 && p->written_once) {
        p->n.reasserts++;
        if (sr_pledger_mark_all(&p->ledger) == 0) arm_flush(p);
    }
    p->written_once = 1;
}

/* EVAL write_script 1+n <live key> <room keys...> <node> <ttl> <counts...> */
static int send_one(sr_rpresence *p, sr_pledger_entry **rooms, size_t n) {
    sr_redis_adapter *a = p->a;
    size_t argc = 4 + n + 2 + n;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *lens = calloc(argc, sizeof *lens);
    char **owned = calloc(n + 1, sizeof *owned);
    char *nums = malloc(n * 11 + 1);
    char nkeys[24], ttl[24];
    int rc = argv && lens && owned && nums ? 0 : SR_ENOMEM;
    size_t k = 0;
    if (rc == 0) {
        argv[k] = "EVAL", lens[k++] = 4;
        argv[k] = write_script, lens[k++] = sizeof write_script - 1;
        lens[k] = (size_t)snprintf(nkeys, sizeof nkeys, "%zu", n + 1), argv[k++] = nkeys;
        argv[k] = p->live_key, lens[k++] = strlen(p->live_key);
        for (size_t i = 0; i < n && rc == 0; i++) {
            owned[i] = room_key(a, rooms[i]->name, rooms[i]->len, &lens[k]);
            if (!owned[i]) rc = SR_ENOMEM;
            argv[k++] = owned[i];
        }
        argv[k] = a->node_id, lens[k++] = a->node_id_len;
        lens[k] = (size_t)snprintf(ttl, sizeof ttl, "%u", p->ttl_ms), argv[k++] = ttl;
        for (size_t i = 0; i < n; i++) {
            char *num = nums + i * 11;
            lens[k] = (size_t)snprintf(num, 11, "%u", rooms[i]->count), argv[k++] = num;
        }
    }
    if (rc == 0) rc = sr_rconn_command(a->pub, (int)k, argv, lens, on_write_reply, p);
    if (rc == 0) {
        p->writing++;
        p->n.writes++;
        p->n.rooms_written += n;
        if (n == 0) p->n.heartbeats++;
    }
    if (owned)
        for (size_t i = 0; i < n; i++) free(owned[i]);
    free(owned);
    free(nums);
    free(argv);
    free(lens);
    return rc;
}

/* Sends every dirty room (SR_PRESENCE_ROOMS_PER_EVAL a script, pipelined)
 * with the liveness refresh; at least one script, the heartbeat. */
static void send_write(sr_rpresence *p) {
    sr_redis_adapter *a = p->a;
    if (p->closing || !a->pub || sr_rconn_get_state(a->pub) != SR_RCONN_UP) return;
    sr_pledger_entry **dirty;
    size_t n = sr_pledger_take_dirty(&p->ledger, &dirty);
    size_t done = 0;
    do {
        size_t take = n - done > SR_PRESENCE_ROOMS_PER_EVAL ? SR_PRESENCE_ROOMS_PER_EVAL : n - done;
        if (send_one(p, dirty + done, take) < 0) break;
        done += take;
    } while (done < n);
    if (done < n) {
        /* not sent: they stay dirty (copied first: marking grows the list) */
        size_t rest = n - done;
        sr_pledger_entry **keep = malloc(rest * sizeof *keep);
        if (keep) {
            memcpy(keep, dirty + done, rest * sizeof *keep);
            for (size_t i = 0; i < rest; i++) sr_pledger_set(&p->ledger, keep[i]->name, keep[i]->len, keep[i]->count);
            free(keep);
        }
        arm_flush(p);
    }
    sr_pledger_prune(&p->ledger);
}

static void on_flush_timer(uv_timer_t *t) { send_write(t->data); }

static void arm_flush(sr_rpresence *p) {
    if (p->closing || uv_is_active((uv_handle_t *)&p->flush_timer)) return;
    uv_timer_start(&p->flush_timer, on_flush_timer, SR_PRESENCE_FLUSH_MS, 0);
}

static void on_beat_timer(uv_timer_t *t) {
    sr_rpresence *p = t->data;
    send_write(p);
}

static void on_handle_closed(uv_handle_t *h) {
    sr_rpresence *p = h->data;
    if (--p->handles_open == 0) free(p);
}

sr_rpresence *sr_rpresence_new(sr_redis_adapter *a, uint32_t ttl_ms) {
    sr_rpresence *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->a = a;
    p->ttl_ms = ttl_ms ? ttl_ms : 10000;
    sr_pledger_init(&p->ledger);
    size_t n = a->prefix_len + 15 + a->node_id_len;
    p->live_key = malloc(n + 1);
    p->live_prefix = malloc(a->prefix_len + 15);
    if (!p->live_key || !p->live_prefix) {
        free(p->live_key);
        free(p->live_prefix);
        free(p);
        return NULL;
    }
    snprintf(p->live_key, n + 1, "%spresence:node:%s", a->prefix, a->node_id);
    snprintf(p->live_prefix, a->prefix_len + 15, "%spresence:node:", a->prefix);
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
    free(p->live_prefix);
    p->live_key = p->live_prefix = NULL;
    uv_close((uv_handle_t *)&p->flush_timer, on_handle_closed);
    uv_close((uv_handle_t *)&p->beat_timer, on_handle_closed);
}

void sr_rpresence_set(sr_rpresence *p, const char *room, uint32_t count) {
    if (!p || p->closing) return;
    p->n.changes++;
    if (sr_pledger_set(&p->ledger, room, strlen(room), count) == 0) arm_flush(p);
}

void sr_rpresence_on_up(sr_rpresence *p) {
    if (!p || p->closing) return;
    if (sr_pledger_mark_all(&p->ledger) == 0) send_write(p);
}

typedef struct read_call {
    sr_rpresence *p;
    sr_presence_fn fn;
    void *ud;
    char room[];
} read_call;

static void on_read_reply(void *ud, redisReply *r, const char *err) {
    read_call *rc = ud;
    sr_presence ans = {0};
    ans.room = rc->room;
    ans.cluster = 1;
    if (!err && r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER &&
        r->element[0]->integer >= 0 && r->element[1]->integer >= 0) {
        ans.connections = (uint64_t)r->element[0]->integer;
        ans.nodes = (uint64_t)r->element[1]->integer;
        if (!rc->p->closing) rc->p->n.reads++;
    } else {
        ans.rc = r ? SR_EADAPTER : SR_ECLOSED;
        ans.why = err ? err : "unexpected reply from redis";
        if (r && !rc->p->closing) rc->p->n.read_failures++;
    }
    rc->fn(rc->ud, &ans);
    free(rc);
}

int sr_rpresence_read(sr_rpresence *p, const char *room, sr_presence_fn fn, void *ud) {
    sr_redis_adapter *a = p->a;
    if (p->closing) return SR_ECLOSED;
    if (!a->pub || sr_rconn_get_state(a->pub) != SR_RCONN_UP) return SR_EADAPTER;
    size_t len = strlen(room), klen;
    read_call *rc = malloc(sizeof *rc + len + 1);
    char *key = room_key(a, room, len, &klen);
    if (!rc || !key) {
        free(rc);
        free(key);
        return SR_ENOMEM;
    }
    rc->p = p;
    rc->fn = fn;
    rc->ud = ud;
    memcpy(rc->room, room, len + 1);
    const char *argv[] = {"EVAL", read_script, "1", key, p->live_prefix};
    size_t lens[] = {4, sizeof read_script - 1, 1, klen, strlen(p->live_prefix)};
    int r = sr_rconn_command(a->pub, 5, argv, lens, on_read_reply, rc);
    free(key);
    if (r < 0) free(rc);
    return r;
}

void sr_rpresence_counters_get(const sr_rpresence *p, sr_rpresence_counters *out) {
    if (p) *out = p->n;
    else memset(out, 0, sizeof *out);
}
