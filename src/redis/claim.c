/* SPDX-License-Identifier: MIT */
/*
 * claim.c: one-time claims shared by every node through Redis, the replay
 * protection of signed tickets (docs/security.md, "Tickets across nodes").
 *
 * A claim of id is SET <prefix>ticket:{<id>} 1 NX PX <ttl> on the
 * publisher connection (classic mode) or on the publisher of the shard
 * owning the key's slot (cluster mode; the hash tag makes the slot the
 * id's own, whatever the prefix). Redis answers OK to the first SET and
 * nil to every later one until the key expires, so of all the nodes
 * redeeming one ticket exactly one is told it was first. Any other answer
 * (an error, a lost connection, a MOVED after a resharding, which also
 * asks for a new slot map) is a failure: the caller cannot know whether
 * the ticket was used, and refuses it (fails closed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/adapter_int.h"
#include "redis/cluster_int.h"

typedef struct claim_call {
    sr_redis_adapter *a;
    sr_redis_claim_fn done;
    void *ud;
} claim_call;

static void on_claim_reply(void *ud, redisReply *reply, const char *err) {
    claim_call *cc = ud;
    char why[256];
    if (err || !reply) {
        snprintf(why, sizeof why, "redis: %s", err ? err : "no reply");
        cc->done(cc->ud, SR_EADAPTER, why);
    } else if (reply->type == REDIS_REPLY_STATUS && reply->len == 2 &&
               memcmp(reply->str, "OK", 2) == 0) {
        cc->done(cc->ud, 1, NULL);
    } else if (reply->type == REDIS_REPLY_NIL) {
        cc->done(cc->ud, 0, NULL);
    } else {
        if (reply->type == REDIS_REPLY_ERROR && cc->a->cluster && !cc->a->closed &&
            (!strncmp(reply->str, "MOVED", 5) || !strncmp(reply->str, "ASK", 3) ||
             !strncmp(reply->str, "CLUSTERDOWN", 11) || !strncmp(reply->str, "TRYAGAIN", 8)))
            sr_rcluster_request_refresh(cc->a->cluster, 0);
        snprintf(why, sizeof why, "redis: %.*s",
                 reply->type == REDIS_REPLY_ERROR ? (int)reply->len : 16,
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        cc->done(cc->ud, SR_EADAPTER, why);
    }
    free(cc);
}

int sr_redis_adapter_claim(sr_redis_adapter *a, const char *id, size_t len, uint32_t ttl_ms,
                           sr_redis_claim_fn done, void *ud) {
    if (!a || a->closed || !id || !len || !done || ttl_ms == 0) return SR_EINVAL;
    size_t klen = a->prefix_len + len + sizeof("ticket:{}");
    char *key = malloc(klen);
    claim_call *cc = malloc(sizeof *cc);
    if (!key || !cc) {
        free(key);
        free(cc);
        return SR_ENOMEM;
    }
    klen = (size_t)snprintf(key, klen, "%.*sticket:{%.*s}", (int)a->prefix_len, a->prefix, (int)len,
                            id);
    sr_rconn *c = a->pub;
    if (a->cluster) {
        rshard *s = sr_rcluster_owner(a->cluster, key, klen);
        c = s ? s->pub : NULL;
    }
    char ttl[16];
    const char *argv[] = {"SET", key, "1", "NX", "PX", ttl};
    size_t lens[] = {3, klen, 1, 2, 2, (size_t)snprintf(ttl, sizeof ttl, "%u", ttl_ms)};
    *cc = (claim_call){a, done, ud};
    int rc = c && sr_rconn_get_state(c) == SR_RCONN_UP
                 ? sr_rconn_command(c, 6, argv, lens, on_claim_reply, cc)
                 : SR_EADAPTER;
    free(key);
    if (rc != 0) {
        free(cc);
        return rc == SR_ENOMEM ? SR_ENOMEM : SR_EADAPTER;
    }
    return 0;
}
