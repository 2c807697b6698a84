/* SPDX-License-Identifier: MIT */
/*
 * presence_write.c: the coalesced writes of the presence ledger
 * (presence_ledger.c: this node's local counts) to Redis. Joins and leaves
 * only change the ledger; the dirty rooms go out together at most every
 * SR_PRESENCE_FLUSH_MS (and on each heartbeat), once this incarnation is
 * live (presence.c).
 *
 * Write script (one room group; KEYS per room: the nodes hash, the users
 * hash, this node's users hash, the events channel): HSETs "<count>:<inc>"
 * (HDEL for 0), and for each user sent, its absolute count on this node:
 * the difference to the node's users hash goes into the users hash with
 * HINCRBY; a user that goes from 0 to more, or back to 0, is published as
 * "j:<user>" / "l:<user>" on the events channel when events are on (SPUBLISH
 * in cluster mode: the channel has the room's hash tag). One EVAL per
 * SR_PRESENCE_ROOMS_PER_EVAL rooms in classic mode, one per slot in cluster
 * mode.
 *
 * Room index (GET /rooms?scope=cluster): every write also sends this
 * incarnation's changes of its room index (presence.h), after the rooms.
 * A write that failed makes the next heartbeat start a new incarnation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/presence_int.h"

#define SR_PRESENCE_FLUSH_MS 20
#define SR_PRESENCE_ROOMS_PER_EVAL 500

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
    sr_rpresence_maybe_refresh(p, err);
    p->live = LIVE_UNKNOWN;
}

/* One EVAL of write_script for rooms[0..n) (one slot in cluster mode). */
static int send_rooms(sr_rpresence *p, sr_pledger_entry **rooms, size_t n) {
    sr_redis_adapter *a = p->a;
    argvec keys = {0}, args = {0};
    size_t klen = 0;
    for (size_t i = 0; i < n; i++) {
        const sr_pledger_entry *r = rooms[i];
        sr_rpresence_av_key(&keys,
                            sr_rpresence_room_key(a, r->name, r->len, ":presence", NULL, &klen),
                            &klen);
        sr_rpresence_av_key(&keys,
                            sr_rpresence_room_key(a, r->name, r->len, ":presence:users", NULL,
                                                  &klen),
                            &klen);
        sr_rpresence_av_key(&keys,
                            sr_rpresence_room_key(a, r->name, r->len,
                                                  ":presence:users:", a->node_id, &klen),
                            &klen);
        sr_rpresence_av_key(&keys,
                            sr_rpresence_room_key(a, r->name, r->len, ":presence:events", NULL,
                                                  &klen),
                            &klen);
        sr_rpresence_av_num(&args, r->count);
        sr_pledger_entry **users = NULL;
        size_t nu = r->users ? sr_pledger_take_dirty(r->users, &users) : 0;
        sr_rpresence_av_num(&args, nu);
        for (size_t j = 0; j < nu; j++) {
            sr_rpresence_av_push(&args, users[j]->name, users[j]->len);
            sr_rpresence_av_num(&args, users[j]->count);
        }
    }
    argvec all = {0};
    char nk[24];
    sr_rpresence_av_push(&all, "EVAL", 4);
    sr_rpresence_av_push(&all, write_script, sizeof write_script - 1);
    sr_rpresence_av_push(&all, nk, (size_t)snprintf(nk, sizeof nk, "%zu", keys.n));
    for (size_t i = 0; i < keys.n; i++) sr_rpresence_av_push(&all, keys.v[i], keys.l[i]);
    sr_rpresence_av_push(&all, a->node_id, a->node_id_len);
    sr_rpresence_av_push(&all, p->inc, strlen(p->inc));
    const char *pub = sr_rpresence_pub_verb(p);
    sr_rpresence_av_push(&all, pub, strlen(pub));
    for (size_t i = 0; i < args.n; i++) sr_rpresence_av_push(&all, args.v[i], args.l[i]);
    int rc = SR_ENOMEM;
    if (!keys.oom && !args.oom && !all.oom) {
        sr_rconn *c = sr_rpresence_route(p, keys.v[0], keys.l[0]);
        rc = c ? sr_rconn_command(c, (int)all.n, all.v, all.l, on_write_reply, p) : SR_EADAPTER;
    }
    if (rc == 0) {
        p->n.writes++;
        p->n.rooms_written += n;
    }
    sr_rpresence_av_free(&keys);
    sr_rpresence_av_free(&args);
    sr_rpresence_av_free(&all);
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
    sr_rconn *c = sr_rpresence_route(p, p->idx_key, ik);
    if (!c) return SR_EADAPTER;
    char ttl[24];
    size_t ttl_len = (size_t)snprintf(ttl, sizeof ttl, "%u", p->ttl_ms);
    for (size_t i = 0; i < n; i++) rooms[i]->indexed = rooms[i]->count > 0;
    for (size_t i = 0; i < n; i += SR_PRESENCE_INDEX_PER_EVAL) {
        size_t m = n - i < SR_PRESENCE_INDEX_PER_EVAL ? n - i : SR_PRESENCE_INDEX_PER_EVAL;
        argvec av = {0};
        sr_rpresence_av_push(&av, "EVAL", 4);
        sr_rpresence_av_push(&av, index_script, sizeof index_script - 1);
        sr_rpresence_av_push(&av, "2", 1);
        sr_rpresence_av_push(&av, p->live_key, lk);
        sr_rpresence_av_push(&av, p->idx_key, ik);
        sr_rpresence_av_push(&av, p->inc, strlen(p->inc));
        sr_rpresence_av_push(&av, ttl, ttl_len);
        for (size_t j = i; j < i + m; j++) {
            const sr_pledger_entry *r = rooms[j];
            char *op = malloc(r->len + 1);
            if (op) {
                op[0] = r->count ? '+' : '-';
                memcpy(op + 1, r->name, r->len);
            }
            sr_rpresence_av_own(&av, op, r->len + 1);
        }
        int rc = av.oom ? SR_ENOMEM : sr_rconn_command(c, (int)av.n, av.v, av.l, on_write_reply, p);
        sr_rpresence_av_free(&av);
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
void sr_rpresence_send_write(sr_rpresence *p) {
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
    sr_rpresence_send_write(t->data);
}

void sr_rpresence_arm_flush(sr_rpresence *p) {
    if (p->closing || uv_is_active((uv_handle_t *)&p->flush_timer)) return;
    uv_timer_start(&p->flush_timer, on_flush_timer, SR_PRESENCE_FLUSH_MS, 0);
}
