/* SPDX-License-Identifier: MIT */
/*
 * srt_cluster.h: a real Redis Cluster on loopback for tests.
 *
 * srt_cluster_start runs masters + masters*replicas redis-servers
 * (srt_redis: free high ports, private temp dirs, dying with the test) with
 * --cluster-enabled yes and a short cluster-node-timeout, so a replica
 * takes over a killed master in about 1-3 s; it builds the cluster itself
 * (CLUSTER ADDSLOTSRANGE, MEET, REPLICATE: no redis-cli sleeps) with the
 * slots split evenly over the masters, and returns once every node agrees
 * that every slot has a master. Helpers find a slot's master, move a slot
 * (SETSLOT IMPORTING/MIGRATING/NODE, as redis-cli --cluster reshard does),
 * and wait for the cluster to settle after a failover.
 */
#ifndef SRT_CLUSTER_H
#define SRT_CLUSTER_H

#include <stddef.h>

#include "srt_redis.h"

typedef struct srt_cluster srt_cluster;

/* NULL on failure (reason on stderr). Nodes 0..masters-1 start as masters,
 * the rest as their replicas (node masters + m*replicas + k replicates k). */
srt_cluster *srt_cluster_start(int masters, int replicas);
void srt_cluster_free(srt_cluster *c);
size_t srt_cluster_size(const srt_cluster *c);
srt_redis *srt_cluster_node(srt_cluster *c, size_t i);
/* "redis://127.0.0.1:<port of node 0>,redis://127.0.0.1:<node 1>" */
const char *srt_cluster_seeds(const srt_cluster *c);
/* The node id (40 hex) of node i, as it reported at start. */
const char *srt_cluster_node_id(const srt_cluster *c, size_t i);
/* Index of the running node that is master of slot, as node `ask` (or the
 * first running node when ask is -1) sees it; -1 if none. */
int srt_cluster_slot_master(srt_cluster *c, unsigned slot, int ask);
/* Index of the node whose port is port; -1. */
int srt_cluster_node_by_port(const srt_cluster *c, int port);
/* Waits until every running node reports cluster_state:ok and all of them
 * name the same running master for every slot. 0, or -1 after timeout_ms. */
int srt_cluster_wait_settled(srt_cluster *c, int timeout_ms);
/* Moves slot (holding no keys) from node `from` to master `to`. 0 or -1. */
int srt_cluster_move_slot(srt_cluster *c, unsigned slot, size_t from, size_t to);

/* ---- sserooms nodes on a cluster (these fail the running cmocka test) ---- */

struct srt_proc;
/* Starts `sserooms --redis-cluster <seeds> --node-id <id> [extra...]`. */
void srt_cluster_node_start(struct srt_proc *p, const char *seeds, const char *node_id,
                            const char *const *extra);
/* A member of the shard with address addr ("127.0.0.1:port") in /stats
 * "redis"."cluster"."shards" (group NULL) or in its "canary" object
 * (group "canary"); -1 when the shard is not listed. */
long long srt_cluster_shard_stat(int port, const char *addr, const char *group, const char *key);
/* The value of the /metrics sample whose name-and-labels text is exactly
 * `sample` (e.g. "sserooms_redis_canary_timeouts_total" or
 * "sserooms_redis_shard_received_total{shard=\"127.0.0.1:7001\"}"); -1
 * when absent. */
long long srt_metric(int port, const char *sample);
/* PUBSUB SHARDNUMSUB channel on node r; -1 on error. */
long long srt_cluster_shardnumsub(srt_redis *r, const char *channel);

#endif
