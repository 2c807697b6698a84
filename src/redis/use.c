/* SPDX-License-Identifier: MIT */
/*
 * use.c: sr_server_use_redis, the public entry that installs the Redis
 * adapter in a server. It is the library module sr_redis_use, apart from
 * the rest of src/redis, and speaks to the server through the public API
 * only (sr_server_get_config, sr_server_log, sr_server_presence_event, ...):
 * src/redis then links, and is unit-tested, without the server module.
 * Cluster mode with resume history is refused here, where both the server's
 * configuration and the Redis options are known. It also hands the server
 * the adapter's one-time claim (claim.c), which makes signed tickets
 * single-use on every node.
 */
#include <stdio.h>

#include "common/abi.h"
#include "redis/adapter.h"
#include "sserooms.h"

static int deliver_to_server(void *ud, const char *room, size_t room_len, const sr_message *msg,
                             const char *dedup) {
    return sr_server_deliver_remote_keyed(ud, room, room_len, msg, dedup);
}

static void recovered_to_server(void *ud, const char *room, size_t room_len, uint64_t lost_ms,
                                uint64_t now_ms) {
    sr_server_room_recovered(ud, room, room_len, lost_ms, now_ms);
}

static void log_to_server(void *ud, int level, const char *msg) {
    sr_server_log(ud, level, msg);
}
static void presence_to_server(void *ud, const char *room, size_t room_len, const char *user,
                               size_t user_len, int joined) {
    sr_server_presence_event(ud, room, room_len, user, user_len, joined);
}

static int ticket_claim(void *ctx, const char *id, size_t len, uint32_t ttl_ms,
                        void (*done)(void *ud, int rc, const char *why), void *ud) {
    return sr_redis_adapter_claim(ctx, id, len, ttl_ms, done, ud);
}

static int fail(char *err, size_t errcap, const char *why) {
    if (err && errcap) snprintf(err, errcap, "%s", why);
    return SR_EINVAL;
}

int sr_server_use_redis_(sr_server *srv, const sr_redis_options *in, size_t opts_size, char *err,
                         size_t errcap) {
    if (err && errcap) err[0] = '\0';
    if (!srv) return SR_EINVAL;
    /* the program's fields over the defaults ("ABI" in sserooms.h) */
    sr_redis_options opts;
    sr_redis_options_init(&opts);
    if (in && sr_abi_copy_in(&opts, sizeof opts, in, opts_size) < 0)
        return fail(err, errcap,
                    "the redis options set fields this library does not know "
                    "(a program built for a newer sserooms)");
    sr_config cfg;
    sr_server_get_config(srv, &cfg);
    if (opts.cluster && cfg.history > 0) {
        /* resume history rides on ordered ids: one script per message over
         * every room, which cannot span the slots of a cluster */
        return fail(err, errcap,
                    "redis cluster mode has no ordered ids, so no shared resume history: "
                    "set history to 0, or use a single Redis (--redis)");
    }
    char why[256];
    sr_redis_adapter *a = NULL;
    int rc = sr_redis_adapter_new(&a, sr_server_loop(srv), &opts, deliver_to_server, srv, why,
                                  sizeof why);
    if (rc) {
        if (err && errcap) snprintf(err, errcap, "%s", why);
        return rc;
    }
    sr_redis_adapter_on_recovered(a, recovered_to_server, srv);
    sr_redis_adapter_sequence_limits(a, cfg.sequence_ttl_ms, cfg.sequence_max_names);
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
    sr_server_set_ticket_claim(srv, ticket_claim, a);
    return rc;
}
