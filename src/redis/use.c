/* SPDX-License-Identifier: MIT */
/*
 * use.c: sr_server_use_redis, the public entry that installs the Redis
 * adapter in a server. Kept apart from adapter.c so the adapter links (and
 * is unit-tested) without the server module: tests link src/redis as an
 * archive, from which this member is only pulled when referenced.
 * Cluster mode with resume history is refused here, where both the server's
 * configuration and the Redis options are known. It also hands the server
 * the adapter's one-time claim (claim.c), which makes signed tickets
 * single-use on every node.
 */
#include <stdio.h>

#include "redis/adapter.h"
#include "server/internal.h"
#include "sserooms.h"

static int deliver_to_server(void *ud, const char *room, size_t room_len, const sr_message *msg,
                             const char *dedup) {
    return sr_server_deliver_remote_keyed(ud, room, room_len, msg, dedup);
}

static void recovered_to_server(void *ud, const char *room, size_t room_len, uint64_t lost_ms,
                                uint64_t now_ms) {
    sr_server_room_recovered(ud, room, room_len, lost_ms, now_ms);
}

static void log_to_server(void *ud, int level, const char *msg) { sr_log(ud, level, 0, "%s", msg); }
static void presence_to_server(void *ud, const char *room, size_t room_len, const char *user,
                               size_t user_len, int joined) {
    sr_presence_event(ud, room, room_len, user, user_len, joined);
}

static int ticket_claim(void *ctx, const char *id, size_t len, uint32_t ttl_ms,
                        void (*done)(void *ud, int rc, const char *why), void *ud) {
    return sr_redis_adapter_claim(ctx, id, len, ttl_ms, done, ud);
}

int sr_server_use_redis(sr_server *srv, const sr_redis_options *opts) {
    if (!srv) return SR_EINVAL;
    if (opts && opts->cluster && srv->cfg.history > 0) {
        /* resume history rides on ordered ids: one script per message over
         * every room, which cannot span the slots of a cluster */
        if (opts->error_buf && opts->error_buf_len)
            snprintf(opts->error_buf, opts->error_buf_len,
                     "redis cluster mode has no ordered ids, so no shared resume history: "
                     "set history to 0, or use a single Redis (--redis)");
        return SR_EINVAL;
    }
    char err[256];
    sr_redis_adapter *a = NULL;
    int rc = sr_redis_adapter_new(&a, sr_server_loop(srv), opts, deliver_to_server, srv, err,
                                  sizeof err);
    if (opts && opts->error_buf && opts->error_buf_len)
        snprintf(opts->error_buf, opts->error_buf_len, "%s", rc ? err : "");
    if (rc) return rc;
    sr_redis_adapter_on_recovered(a, recovered_to_server, srv);
    sr_redis_adapter_sequence_limits(a, srv->cfg.sequence_ttl_ms, srv->cfg.sequence_max_names);
    sr_redis_adapter_on_log(a, log_to_server, srv);
    sr_redis_adapter_on_presence(a, presence_to_server, srv);
    sr_adapter vt;
    sr_redis_adapter_vtable(a, &vt);
    rc = sr_server_set_adapter(srv, &vt);
    if (rc) {
        sr_redis_adapter_close(a);
        return rc;
    }
    /* signed tickets become single-use on every node (auth.c) */
    srv->ticket_claim = ticket_claim;
    srv->ticket_claim_ctx = a;
    return rc;
}
