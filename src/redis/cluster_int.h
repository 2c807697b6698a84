/* SPDX-License-Identifier: MIT */
/*
 * cluster_int.h: the cluster mode's state, shared by cluster.c (shards,
 * publishing, receiving, stats) and cluster_map.c (the control connection,
 * slot map refreshes and moving rooms between shards). Not for other
 * modules.
 */
#ifndef SR_REDIS_CLUSTER_INT_H
#define SR_REDIS_CLUSTER_INT_H

#include "redis/adapter_int.h"
#include "redis/canary.h"
#include "redis/cluster.h"
#include "redis/slot.h"

#define SR_CLUSTER_REFRESH_GAP_MS 250
#define SR_CLUSTER_REFRESH_EVERY_MS 10000

typedef struct rshard {
    sr_rcluster *cl;
    char *host;
    int port;
    char addr[300]; /* "host:port", for stats and messages */
    sr_rconn *pub, *sub;
    sr_rsubs *subs; /* sharded; holds the canary channel too */
    sr_canary *canary;
    unsigned n_slots;
    uint64_t received, published, publish_failures;
    sr_redis_logstate log_state; /* its transitions said last (transitions.c) */
} rshard;

struct sr_rcluster {
    sr_redis_adapter *a;
    uv_loop_t *loop;
    sr_rconn_options co;
    uint32_t canary_interval_ms, canary_timeout_ms;
    sr_redis_url *seeds;
    size_t n_seeds;
    int closed;

    sr_rsubs *all;   /* every wanted room channel (sends nothing) */
    rshard **shards; /* the masters of the current map, map order */
    size_t n_shards;
    sr_slot_map map;
    int have_map;
    int use_cluster_slots; /* the server does not know CLUSTER SHARDS */

    sr_rconn *control;
    size_t control_index; /* candidate it talks to */
    char control_where[300];
    char control_host[256]; /* for endpoints Redis reports as "?" */
    int freed;
    uv_timer_t refresh_timer, control_timer;
    int open_handles;
    int refresh_in_flight, refresh_again;
    uint64_t refresh_due;
    uint64_t refreshes, refresh_failures, moved, asked;
    /* per slot: publishes not yet answered, and the shard the latest was
     * first sent to; while some are in flight, a slot's publishes keep
     * going there (and follow MOVED in order) so that a map change cannot
     * let a later message overtake an earlier one */
    uint32_t inflight[SR_SLOTS];
    rshard *first_hop[SR_SLOTS];
    char last_error[700];
};

/* cluster_map.c */
int sr_rcluster_map_init(sr_rcluster *cl);
/* Asks for a map refresh within delay_ms (rate-limited). */
void sr_rcluster_request_refresh(sr_rcluster *cl, uint32_t delay_ms);
void sr_rcluster_map_close(sr_rcluster *cl);

/* cluster.c */
/* The shard owning channel's slot, or NULL. */
rshard *sr_rcluster_owner(const sr_rcluster *cl, const char *channel, size_t len);
rshard *sr_rcluster_shard_new(sr_rcluster *cl, const char *host, int port);
/* Closes its connections (failing its pending publishes) and frees it. */
void sr_rcluster_shard_free(rshard *s);
rshard *sr_rcluster_find_shard(const sr_rcluster *cl, const char *host, int port);
/* Points the shard's canary at a channel of a slot it owns (when its
 * current one is not); subscribes it in the shard's set. */
void sr_rcluster_place_canary(sr_rcluster *cl, rshard *s);

#endif
