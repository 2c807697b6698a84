/* SPDX-License-Identifier: MIT */
/*
 * presence_keys.c: how the presence files (presence_int.h) address Redis:
 * the key names of a room and of a node (presence.h), the connection that
 * takes a key's commands (the publisher, or in cluster mode the publisher
 * of the shard owning its slot), the stale-map check on an error, and the
 * argument vector that builds a command of many keys and values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/presence_int.h"

/* <prefix>{<room>}<suffix>[<node>] */
char *sr_rpresence_room_key(const sr_redis_adapter *a, const char *room, size_t len,
                            const char *suffix, const char *node, size_t *out_len) {
    size_t slen = strlen(suffix), nlen = node ? strlen(node) : 0;
    size_t n = a->prefix_len + len + slen + nlen + 3;
    char *k = malloc(n);
    if (!k) return NULL;
    *out_len = (size_t)snprintf(k, n, "%s{%.*s}%s%s", a->prefix, (int)len, room, suffix,
                                node ? node : "");
    return k;
}

char *sr_rpresence_live_key(const sr_redis_adapter *a, const char *node, size_t nlen,
                            size_t *out_len) {
    size_t n = a->prefix_len + nlen + 20;
    char *k = malloc(n);
    if (!k) return NULL;
    *out_len = (size_t)snprintf(k, n, "%spresence:node:{%.*s}", a->prefix, (int)nlen, node);
    return k;
}

/* <prefix>presence:rooms:{<node>}: in the slot of the node's liveness key */
char *sr_rpresence_index_key(const sr_redis_adapter *a, const char *node, size_t nlen,
                             size_t *out_len) {
    size_t n = a->prefix_len + nlen + 20;
    char *k = malloc(n);
    if (!k) return NULL;
    *out_len = (size_t)snprintf(k, n, "%spresence:rooms:{%.*s}", a->prefix, (int)nlen, node);
    return k;
}

/* The connection that takes commands for key: the publisher (classic) or
 * the publisher of the shard owning its slot; NULL when not up. */
sr_rconn *sr_rpresence_route(const sr_rpresence *p, const char *key, size_t len) {
    const sr_redis_adapter *a = p->a;
    sr_rconn *c = a->pub;
    if (a->cluster) {
        rshard *s = sr_rcluster_owner(a->cluster, key, len);
        c = s ? s->pub : NULL;
    }
    return c && sr_rconn_get_state(c) == SR_RCONN_UP ? c : NULL;
}

/* A MOVED/ASK or CLUSTERDOWN answer: the slot map is stale. */
void sr_rpresence_maybe_refresh(sr_rpresence *p, const char *err) {
    if (p->a->cluster && err &&
        (!strncmp(err, "MOVED", 5) || !strncmp(err, "ASK", 3) || !strncmp(err, "CLUSTERDOWN", 11) ||
         !strncmp(err, "TRYAGAIN", 8)))
        sr_rcluster_request_refresh(p->a->cluster, 0);
}

const char *sr_rpresence_pub_verb(const sr_rpresence *p) {
    return !p->events ? "" : p->a->cluster ? "SPUBLISH" : "PUBLISH";
}

void sr_rpresence_av_push(argvec *av, const char *s, size_t len) {
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
void sr_rpresence_av_own(argvec *av, char *s, size_t len) {
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
    sr_rpresence_av_push(av, s, len);
}

/* av_own for a key whose length sr_rpresence_room_key wrote into *len (read only after
 * the call: argument evaluation order is unspecified). */
void sr_rpresence_av_key(argvec *av, char *key, const size_t *len) {
    sr_rpresence_av_own(av, key, key ? *len : 0);
}

void sr_rpresence_av_num(argvec *av, uint64_t v) {
    char *s = malloc(24);
    int n = s ? snprintf(s, 24, "%llu", (unsigned long long)v) : 0;
    sr_rpresence_av_own(av, s, (size_t)n);
}

void sr_rpresence_av_free(argvec *av) {
    for (size_t i = 0; i < av->n_owned; i++) free(av->owned[i]);
    free(av->owned);
    free(av->v);
    free(av->l);
}
