/* SPDX-License-Identifier: MIT */
/*
 * presence_read.c: the reads of a room's presence (GET /presence with
 * Redis), which reap dead nodes on the way. Read: HGETALL the nodes hash
 * and HLEN the users hash, and in the same round trip the liveness key of
 * each node known from earlier reads (this node from the start): MGET in
 * the script in classic mode, GETs sent with it in cluster mode (other
 * slots); a node found that was not known is GOT after, and known from
 * then on, a known node whose key is gone is forgotten. The entries whose
 * incarnation differs are reaped by a script that rechecks the
 * incarnation, subtracts the node's users from the users hash (publishing
 * the leaves) and deletes them; then the room is read again. With
 * members, HSCAN pages the users hash: the cursor is Redis's, with ".<n>"
 * when the page Redis gave was longer than the limit (a small hash comes
 * whole) and its first n entries were answered already.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/presence_int.h"

#define SR_PRESENCE_KNOWN_MAX 256

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
    char *key = sr_rpresence_room_key(p->a, rc->room, rc->room_len, ":presence:users", NULL, &klen);
    sr_rconn *c = key ? sr_rpresence_route(p, key, klen) : NULL;
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
    sr_rpresence_av_push(&av, "EVAL", 4);
    sr_rpresence_av_push(&av, reap_script, sizeof reap_script - 1);
    sr_rpresence_av_push(&av, nk, (size_t)snprintf(nk, sizeof nk, "%zu", 3 + dead));
    sr_rpresence_av_key(&av,
                        sr_rpresence_room_key(a, rc->room, rc->room_len, ":presence", NULL, &klen),
                        &klen);
    sr_rpresence_av_key(&av,
                        sr_rpresence_room_key(a, rc->room, rc->room_len, ":presence:users", NULL,
                                              &klen),
                        &klen);
    sr_rpresence_av_key(&av,
                        sr_rpresence_room_key(a, rc->room, rc->room_len, ":presence:events", NULL,
                                              &klen),
                        &klen);
    for (size_t i = 0; i < rc->n_nodes; i++)
        if (!rc->live[i] || strcmp(rc->live[i], inc_of(rc->seen[i])) != 0)
            sr_rpresence_av_key(&av,
                                sr_rpresence_room_key(a, rc->room, rc->room_len,
                                                      ":presence:users:", rc->node[i], &klen),
                                &klen);
    const char *pub = sr_rpresence_pub_verb(p);
    sr_rpresence_av_push(&av, pub, strlen(pub));
    for (size_t i = 0; i < rc->n_nodes; i++)
        if (!rc->live[i] || strcmp(rc->live[i], inc_of(rc->seen[i])) != 0) {
            sr_rpresence_av_push(&av, rc->node[i], strlen(rc->node[i]));
            sr_rpresence_av_push(&av, rc->seen[i], strlen(rc->seen[i]));
        }
    sr_rconn *c = av.oom ? NULL : sr_rpresence_route(p, av.v[3], av.l[3]);
    int r = c ? sr_rconn_command(c, (int)av.n, av.v, av.l, NULL, NULL) : SR_EADAPTER;
    sr_rpresence_av_free(&av);
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
    char *key = sr_rpresence_live_key(p->a, node, strlen(node), &klen);
    sr_rconn *c = key ? sr_rpresence_route(p, key, klen) : NULL;
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
void sr_rpresence_known_add(sr_rpresence *p, const char *node) {
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
        sr_rpresence_known_add(p, rc->node[i]);
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
        if (r && err) sr_rpresence_maybe_refresh(p, err);
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
    char *h = sr_rpresence_room_key(p->a, rc->room, rc->room_len, ":presence", NULL, &hlen);
    char *u = sr_rpresence_room_key(p->a, rc->room, rc->room_len, ":presence:users", NULL, &ulen);
    sr_rconn *c = h && u ? sr_rpresence_route(p, h, hlen) : NULL;
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
    sr_rpresence_av_push(&av, "EVAL", 4);
    sr_rpresence_av_push(&av, read_script, sizeof read_script - 1);
    sr_rpresence_av_push(&av, nk,
                         (size_t)snprintf(nk, sizeof nk, "%zu", 2 + (in_script ? rc->n_kn : 0)));
    sr_rpresence_av_push(&av, h, hlen);
    sr_rpresence_av_push(&av, u, ulen);
    for (size_t j = 0; in_script && j < rc->n_kn; j++)
        sr_rpresence_av_key(&av, sr_rpresence_live_key(p->a, rc->kn[j], strlen(rc->kn[j]), &klen),
                            &klen);
    if (c && rc->kn && rc->kn_live && h && u && !av.oom)
        r = sr_rconn_command(c, (int)av.n, av.v, av.l, on_read_script, rc);
    sr_rpresence_av_free(&av);
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
    char *h = sr_rpresence_room_key(p->a, room, len, ":presence", NULL, &hlen);
    sr_rconn *c = h ? sr_rpresence_route(p, h, hlen) : NULL;
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
