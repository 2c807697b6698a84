/* SPDX-License-Identifier: MIT */
/*
 * canary.h: the liveness canary of one subscriber connection.
 *
 * A connection can look healthy (TCP up, PINGs even answered) and still
 * deliver nothing: a paused server, a proxy that stopped forwarding one
 * direction, a lost subscription. So every interval_ms the canary PUBLISHes
 * (SPUBLISH on a cluster shard) a numbered probe, through the publisher
 * connection, to a private channel the subscriber connection subscribes
 * to, and waits for it to come back on the subscriber. When it has not come
 * back within timeout_ms the subscriber is dropped (sr_rconn_drop: rebuilt
 * and resubscribed after the back-off) and the timeout counted. The last
 * round trip is kept as the lag shown on /healthz, /stats and /metrics.
 *
 * The owner subscribes the channel (in its subscription set, so it is
 * resubscribed with the rooms) and routes to the canary the messages and
 * confirmations of that channel and the subscriber's losses. Probes start
 * once the channel's subscription is confirmed.
 */
#ifndef SR_REDIS_CANARY_H
#define SR_REDIS_CANARY_H

#include <stddef.h>
#include <stdint.h>

#include "redis/conn.h"

typedef struct sr_canary sr_canary;

typedef struct sr_canary_stats {
    uint64_t probes;     /* probes published */
    uint64_t returned;   /* probes that came back in time */
    uint64_t timeouts;   /* probes that did not: the subscriber was rebuilt */
    uint64_t lag_ms;     /* the last round trip */
    uint64_t waiting_ms; /* age of the probe in flight, 0 if none */
} sr_canary_stats;

/* sharded: SPUBLISH / ssubscribe confirmations instead of PUBLISH /
 * subscribe. interval_ms 0: never probes. timeout_ms 0: 5000. NULL when
 * out of memory. */
sr_canary *sr_canary_new(uv_loop_t *loop, sr_rconn *pub, sr_rconn *sub, int sharded,
                         uint32_t interval_ms, uint32_t timeout_ms);
/* Stops it; freed once libuv closed its timers. Close the connections
 * first (their pending callbacks may still refer to it). */
void sr_canary_free(sr_canary *k);

/* Sets the channel (copied): a probe in flight is forgotten and probes
 * wait for the new channel's confirmation. 0 or SR_ENOMEM. */
int sr_canary_set_channel(sr_canary *k, const char *channel, size_t len);
const char *sr_canary_channel(const sr_canary *k);
int sr_canary_is_channel(const sr_canary *k, const char *channel, size_t len);

/* Wire these: a message on the canary channel, a (un)subscribe
 * confirmation of any channel, the subscriber going down. */
void sr_canary_on_message(sr_canary *k, const char *body, size_t len);
void sr_canary_on_confirm(sr_canary *k, const redisReply *push);
void sr_canary_on_down(sr_canary *k);

/* 1 while the subscriber confirms the canary channel. */
int sr_canary_confirmed(const sr_canary *k);
void sr_canary_get_stats(const sr_canary *k, sr_canary_stats *out);

#endif
