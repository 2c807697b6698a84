/* SPDX-License-Identifier: MIT */
/*
 * srt_cluster.c: a loopback Redis Cluster for tests (see srt_cluster.h).
 *
 * Built by hand rather than with `redis-cli --cluster create`, whose join
 * wait sleeps whole seconds: every master gets its slot range with
 * CLUSTER ADDSLOTSRANGE, every node MEETs node 0, and once all nodes know
 * each other the replicas REPLICATE their masters. Settled means: every
 * running node says cluster_state:ok and its CLUSTER SLOTS names, for each
 * slot, the same running node as the others do.
 */
#include "srt_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srt_check.h"
#include "srt_util.h"

#define MAX_NODES 12

struct srt_cluster {
    srt_redis *nodes[MAX_NODES];
    char ids[MAX_NODES][48];
    size_t n;
    char seeds[256];
};

static const char *const node_args[] = {"--cluster-enabled",
                                        "yes",
                                        "--cluster-config-file",
                                        "nodes.conf",
                                        "--cluster-node-timeout",
                                        "1000",
                                        "--cluster-replica-validity-factor",
                                        "0",
                                        "--cluster-require-full-coverage",
                                        "no",
                                        "--repl-diskless-sync",
                                        "yes",
                                        "--repl-diskless-sync-delay",
                                        "0",
                                        "--repl-ping-replica-period",
                                        "1",
                                        NULL};

size_t srt_cluster_size(const srt_cluster *c) {
    return c->n;
}

srt_redis *srt_cluster_node(srt_cluster *c, size_t i) {
    return i < c->n ? c->nodes[i] : NULL;
}

const char *srt_cluster_seeds(const srt_cluster *c) {
    return c->seeds;
}

const char *srt_cluster_node_id(const srt_cluster *c, size_t i) {
    return i < c->n ? c->ids[i] : "";
}

int srt_cluster_node_by_port(const srt_cluster *c, int port) {
    for (size_t i = 0; i < c->n; i++)
        if (srt_redis_port(c->nodes[i]) == port) return (int)i;
    return -1;
}

void srt_cluster_free(srt_cluster *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) srt_redis_free(c->nodes[i]);
    free(c);
}

/* Runs a command expecting +OK (or any non-error); 0 or -1. */
static int ok(srt_redis *r, const char *what, redisReply *rep) {
    int good = rep && rep->type != REDIS_REPLY_ERROR;
    if (!good)
        fprintf(stderr, "srt_cluster: %s on port %d: %s\n", what, srt_redis_port(r),
                rep ? rep->str : "no connection");
    if (rep) freeReplyObject(rep);
    return good ? 0 : -1;
}

/* The owner port of every slot as node r sees it (0: none); -1 on error. */
static int slot_owners(srt_redis *r, int *owner) {
    redisReply *rep = srt_redis_command(r, "CLUSTER SLOTS");
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        if (rep) freeReplyObject(rep);
        return -1;
    }
    memset(owner, 0, 16384 * sizeof *owner);
    for (size_t i = 0; i < rep->elements; i++) {
        redisReply *range = rep->element[i];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) continue;
        redisReply *m = range->element[2];
        if (m->type != REDIS_REPLY_ARRAY || m->elements < 2) continue;
        for (long long s = range->element[0]->integer; s <= range->element[1]->integer && s < 16384;
             s++)
            owner[s] = (int)m->element[1]->integer;
    }
    freeReplyObject(rep);
    return 0;
}

static int state_ok(srt_redis *r) {
    redisReply *rep = srt_redis_command(r, "CLUSTER INFO");
    int good = rep && rep->type == REDIS_REPLY_STRING && strstr(rep->str, "cluster_state:ok");
    if (rep) freeReplyObject(rep);
    return good;
}

static int settled_once(srt_cluster *c) {
    static int first[16384], other[16384];
    int have = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (!srt_redis_running(c->nodes[i])) continue;
        if (!state_ok(c->nodes[i])) return 0;
        int *owners = have ? other : first;
        if (slot_owners(c->nodes[i], owners) != 0) return 0;
        if (have && memcmp(first, other, sizeof first) != 0) return 0;
        have = 1;
    }
    if (!have) return 0;
    for (int s = 0; s < 16384; s++) {
        int k = srt_cluster_node_by_port(c, first[s]);
        if (k < 0 || !srt_redis_running(c->nodes[k])) return 0;
    }
    return 1;
}

int srt_cluster_wait_settled(srt_cluster *c, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    while (srt_now_ms() < deadline) {
        if (settled_once(c)) return 0;
        srt_sleep_ms(50);
    }
    fprintf(stderr, "srt_cluster: not settled within %d ms\n", timeout_ms);
    return -1;
}

int srt_cluster_slot_master(srt_cluster *c, unsigned slot, int ask) {
    static int owners[16384];
    for (size_t i = 0; i < c->n && ask < 0; i++)
        if (srt_redis_running(c->nodes[i])) ask = (int)i;
    if (ask < 0 || slot >= 16384 || slot_owners(c->nodes[ask], owners) != 0) return -1;
    return srt_cluster_node_by_port(c, owners[slot]);
}

/* Every node knows n nodes (CLUSTER NODES has n lines) and none is still
 * in the handshake. */
static int all_met(srt_cluster *c) {
    for (size_t i = 0; i < c->n; i++) {
        redisReply *rep = srt_redis_command(c->nodes[i], "CLUSTER NODES");
        size_t lines = 0;
        int handshake = 0;
        if (rep && rep->type == REDIS_REPLY_STRING) {
            for (const char *p = rep->str; *p; p++) lines += *p == '\n';
            handshake = strstr(rep->str, "handshake") != NULL || strstr(rep->str, "noaddr") != NULL;
        }
        if (rep) freeReplyObject(rep);
        if (lines != c->n || handshake) return 0;
    }
    return 1;
}

srt_cluster *srt_cluster_start(int masters, int replicas) {
    size_t total = (size_t)masters * (size_t)(1 + replicas);
    if (masters < 1 || replicas < 0 || total > MAX_NODES) return NULL;
    srt_cluster *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    for (size_t i = 0; i < total; i++) {
        if (!(c->nodes[i] = srt_redis_start(node_args, 0))) goto fail;
        c->n++;
        redisReply *rep = srt_redis_command(c->nodes[i], "CLUSTER MYID");
        if (!rep || rep->type != REDIS_REPLY_STRING) {
            if (rep) freeReplyObject(rep);
            goto fail;
        }
        snprintf(c->ids[i], sizeof c->ids[i], "%s", rep->str);
        freeReplyObject(rep);
    }
    snprintf(c->seeds, sizeof c->seeds, "redis://127.0.0.1:%d,redis://127.0.0.1:%d",
             srt_redis_port(c->nodes[0]), srt_redis_port(c->nodes[total > 1 ? 1 : 0]));
    for (int m = 0; m < masters; m++) {
        int lo = 16384 * m / masters, hi = 16384 * (m + 1) / masters - 1;
        if (ok(c->nodes[m], "ADDSLOTSRANGE",
               srt_redis_command(c->nodes[m], "CLUSTER ADDSLOTSRANGE %d %d", lo, hi)) != 0)
            goto fail;
    }
    for (size_t i = 1; i < total; i++)
        if (ok(c->nodes[i], "MEET",
               srt_redis_command(c->nodes[i], "CLUSTER MEET 127.0.0.1 %d",
                                 srt_redis_port(c->nodes[0]))) != 0)
            goto fail;
    int64_t deadline = srt_now_ms() + 15000;
    while (!all_met(c)) {
        if (srt_now_ms() > deadline) {
            fprintf(stderr, "srt_cluster: nodes did not meet\n");
            goto fail;
        }
        srt_sleep_ms(50);
    }
    for (size_t i = (size_t)masters; i < total; i++) {
        size_t m = (i - (size_t)masters) % (size_t)masters;
        if (ok(c->nodes[i], "REPLICATE",
               srt_redis_command(c->nodes[i], "CLUSTER REPLICATE %s", c->ids[m])) != 0)
            goto fail;
    }
    if (srt_cluster_wait_settled(c, 20000) != 0) goto fail;
    return c;
fail:
    srt_cluster_free(c);
    return NULL;
}

int srt_cluster_move_slot(srt_cluster *c, unsigned slot, size_t from, size_t to) {
    if (from >= c->n || to >= c->n) return -1;
    srt_redis *src = c->nodes[from], *dst = c->nodes[to];
    if (ok(dst, "SETSLOT IMPORTING",
           srt_redis_command(dst, "CLUSTER SETSLOT %u IMPORTING %s", slot, c->ids[from])) != 0)
        return -1;
    if (ok(src, "SETSLOT MIGRATING",
           srt_redis_command(src, "CLUSTER SETSLOT %u MIGRATING %s", slot, c->ids[to])) != 0)
        return -1;
    /* no keys to MIGRATE: channels are not keys; then hand the slot over,
     * destination first (as redis-cli does) */
    if (ok(dst, "SETSLOT NODE",
           srt_redis_command(dst, "CLUSTER SETSLOT %u NODE %s", slot, c->ids[to])) != 0)
        return -1;
    if (ok(src, "SETSLOT NODE",
           srt_redis_command(src, "CLUSTER SETSLOT %u NODE %s", slot, c->ids[to])) != 0)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        if (i == from || i == to || !srt_redis_running(c->nodes[i])) continue;
        redisReply *rep = srt_redis_command(c->nodes[i], "CLUSTER SETSLOT %u NODE %s", slot,
                                            c->ids[to]);
        if (rep) freeReplyObject(rep); /* replicas refuse: they learn it by gossip */
    }
    return 0;
}

/* ---- sserooms nodes on a cluster ---------------------------------------- */

void srt_cluster_node_start(srt_proc *p, const char *seeds, const char *node_id,
                            const char *const *extra) {
    const char *args[40];
    size_t n = 0;
    args[n++] = "--redis-cluster";
    args[n++] = seeds;
    args[n++] = "--node-id";
    args[n++] = node_id;
    for (size_t i = 0; extra && extra[i] && n < 39; i++) args[n++] = extra[i];
    args[n] = NULL;
    srt_proc_opts opts = {.args = args};
    if (srt_proc_start(p, &opts) != 0)
        fail_msg("node %s did not start with --redis-cluster %s", node_id, seeds);
}

static bool member(const char *json, size_t len, const char *key, const char **v, size_t *vlen) {
    /* srt_json_member wants a NUL-terminated object: copy the slice */
    char *copy = strndup(json, len);
    if (!copy) return false;
    const char *val;
    size_t n;
    bool ok = srt_json_member(copy, len, key, &val, &n);
    if (ok) {
        *v = json + (val - copy);
        *vlen = n;
    }
    free(copy);
    return ok;
}

long long srt_cluster_shard_stat(int port, const char *addr, const char *group, const char *key) {
    srt_response r;
    if (srt_http_get(port, "/stats", &r) != 0 || r.status != 200) fail_msg("GET /stats failed");
    const char *redis = NULL, *cl = NULL, *shards = NULL, *shard = NULL;
    size_t redis_len = 0, cl_len = 0, shards_len = 0, shard_len = 0;
    long long out = -1;
    if (!member(r.body, r.body_len, "redis", &redis, &redis_len) ||
        !member(redis, redis_len, "cluster", &cl, &cl_len) ||
        !member(cl, cl_len, "shards", &shards, &shards_len))
        fail_msg("/stats has no redis.cluster.shards: %s", r.body);
    for (size_t i = 0; srt_json_array_elem(shards, shards_len, i, &shard, &shard_len); i++) {
        char *obj = strndup(shard, shard_len);
        char *a = obj ? srt_json_string(obj, "addr") : NULL;
        if (a && strcmp(a, addr) == 0) {
            const char *g;
            size_t glen;
            char *inner = NULL;
            if (group && member(obj, shard_len, group, &g, &glen)) inner = strndup(g, glen);
            const char *where = group ? inner : obj;
            if (where && !srt_json_int(where, key, &out)) out = -1;
            free(inner);
        }
        free(a);
        free(obj);
    }
    srt_response_free(&r);
    return out;
}

long long srt_metric(int port, const char *sample) {
    srt_response r;
    if (srt_http_get(port, "/metrics", &r) != 0 || r.status != 200) fail_msg("GET /metrics failed");
    long long out = -1;
    size_t n = strlen(sample);
    for (const char *line = r.body; line && *line;) {
        const char *end = strchr(line, '\n');
        if (strncmp(line, sample, n) == 0 && line[n] == ' ') {
            out = strtoll(line + n + 1, NULL, 10);
            break;
        }
        line = end ? end + 1 : NULL;
    }
    srt_response_free(&r);
    return out;
}

long long srt_cluster_shardnumsub(srt_redis *r, const char *channel) {
    redisReply *rep = srt_redis_command(r, "PUBSUB SHARDNUMSUB %s", channel);
    long long n = -1;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[1]->type == REDIS_REPLY_INTEGER)
        n = rep->element[1]->integer;
    if (rep) freeReplyObject(rep);
    return n;
}
