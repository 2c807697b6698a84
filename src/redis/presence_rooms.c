/* SPDX-License-Identifier: MIT */
/*
 * presence_rooms.c: the cluster-wide room list (GET /rooms?scope=cluster).
 * Each live incarnation keeps the index of the rooms it has members in
 * (presence_write.c) and its entry in the registry of nodes (presence.c's
 * heartbeat); a page of rooms is the sorted union of the live nodes'
 * pages after the cursor, cut to the limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/presence_int.h"

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
        if (r && err) sr_rpresence_maybe_refresh(rc->p, err);
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
        if (r && err) sr_rpresence_maybe_refresh(p, err);
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
        char *live = sr_rpresence_live_key(p->a, node->str, (size_t)node->len, &llen);
        char *idx = sr_rpresence_index_key(p->a, node->str, (size_t)node->len, &ilen);
        sr_rconn *c = live && idx ? sr_rpresence_route(p, live, llen) : NULL;
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
    sr_rconn *c = sr_rpresence_route(p, p->reg_key, rlen);
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
