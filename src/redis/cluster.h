/* SPDX-License-Identifier: MIT */
/*
 * cluster.h: the Redis adapter's cluster mode: sharded Pub/Sub over a
 * Redis Cluster.
 *
 * The slot map is read (CLUSTER SHARDS, or CLUSTER SLOTS on servers
 * without it) over a control connection to a seed node or a known master.
 * Every master that owns slots is a shard with its own publisher and
 * subscriber connections, subscription set (SSUBSCRIBE / SUNSUBSCRIBE,
 * batched per slot) and liveness canary on a channel whose slot it owns.
 * A room's channel (the same <prefix><room> as the classic mode) is
 * SSUBSCRIBEd on the shard owning its keyslot, and SPUBLISHed there, so
 * each shard's subscriber receives only its own rooms' messages.
 *
 * The map is read again (at most every 250 ms, and every 10 s anyway) on a
 * MOVED reply, on the sunsubscribe Redis sends when a slot moves away, on
 * any shard connection loss, and while a shard is down or slots are
 * unowned; each refresh moves rooms to their new owners (unsubscribed on
 * the old, subscribed on the new, in per-slot batches) and closes the
 * connections of masters that left. Publishing follows MOVED and ASK
 * redirections at once (up to 3 hops). Envelopes received go through the
 * adapter's common receive path (adapter_receive.c), so nothing else
 * changes.
 */
#ifndef SR_REDIS_CLUSTER_H
#define SR_REDIS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "redis/conn.h"

typedef struct sr_rcluster sr_rcluster;
struct sr_redis_adapter;

/* seeds: "redis://host:port[,redis://host:port...]" (also "host:port");
 * user and password of the first seed are used on every node; a database
 * number or a Unix socket is refused. co: connection options (url
 * ignored). SR_EINVAL with a reason in err, SR_ENOMEM. Starts connecting. */
int sr_rcluster_new(sr_rcluster **out, struct sr_redis_adapter *a, const char *seeds,
                    const sr_rconn_options *co, uint32_t canary_interval_ms,
                    uint32_t canary_timeout_ms, char *err, size_t errcap);
/* Closes every connection; no callback after this. */
void sr_rcluster_close(sr_rcluster *cl);
/* Frees what close left (after close). */
void sr_rcluster_free(sr_rcluster *cl);

/* channel = <prefix><room>. 0 or SR_ENOMEM. */
int sr_rcluster_set_wanted(sr_rcluster *cl, const char *channel, size_t len, int wanted);
/* SPUBLISHes body to channel's owner; 0, or a negative code (counted by
 * the caller as a failure; later failures are counted in the adapter).
 * *shared: the refcounted copy of body the publishes of one message share
 * (made on first use when NULL; the caller drops its reference with
 * sr_rcluster_payload_unref once done). */
struct payload;
int sr_rcluster_publish(sr_rcluster *cl, const char *channel, size_t len, struct payload **shared,
                        const char *body, size_t body_len);
void sr_rcluster_payload_unref(struct payload *p);

/* "up" (a full slot map and every shard connection up), "connecting", "down". */
const char *sr_rcluster_state(const sr_rcluster *cl);
/* 0 when up; else 1 and why in reason. */
int sr_rcluster_health(const sr_rcluster *cl, char *reason, size_t cap);
/* Channels the shards confirm, canaries left out. */
uint64_t sr_rcluster_subscribed(const sr_rcluster *cl);
/* Appends ,"cluster":{...} (slots covered, refreshes, per shard: address,
 * state, slots, subscribed, received, published, canary). */
void sr_rcluster_stats_json(const sr_rcluster *cl, sr_buf *b);
/* Appends the per-shard Prometheus samples. */
void sr_rcluster_metrics_text(const sr_rcluster *cl, sr_buf *b);
/* Canary figures summed over the shards (lag_ms: the largest). */
void sr_rcluster_canary_totals(const sr_rcluster *cl, uint64_t *probes, uint64_t *timeouts,
                               uint64_t *lag_ms);

#endif
