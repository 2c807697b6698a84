/* SPDX-License-Identifier: MIT */
/*
 * adapter_int.h: the Redis adapter's state, shared by the files that make
 * up the adapter: adapter.c (the object: options, life cycle, health,
 * stats, the vtable), adapter_publish.c (publishing, outbox,
 * back-pressure), adapter_receive.c (receiving), adapter_subscribe.c
 * (subscriptions and their recovery), sequence.c (ordered event ids),
 * history.c (resume history in Redis), claim.c (one-time claims),
 * metrics.c (Prometheus samples), transitions.c (state changes as log
 * lines) and, through cluster_int.h, the cluster mode (cluster.c,
 * cluster_map.c) and presence (presence_int.h). Not for other modules.
 */
#ifndef SR_REDIS_ADAPTER_INT_H
#define SR_REDIS_ADAPTER_INT_H

#include "redis/adapter.h"
#include "redis/conn.h"
#include "redis/subs.h"
#include "redis/url.h"

typedef struct payload {
    size_t refs;
    size_t len;
    char data[];
} payload;

typedef struct outbox_item {
    char *channel;
    size_t channel_len;
    payload *body;
} outbox_item;

/* A publish held back while the publisher connection's output is over its
 * high-water mark (back-pressure, adapter_publish.c): sent in order once Redis
 * has read enough. call: its waiting caller (NULL for a plain publish). */
typedef struct parked_publish {
    struct parked_publish *next;
    struct acked_call *call;
    payload *body;
    size_t n;
    char **channels;
    size_t *lens;
} parked_publish;

/* What transitions.c said last about one Redis (classic mode) or one
 * shard (cluster mode), so that each transition is logged once. */
typedef struct sr_redis_logstate {
    int up;              /* "connected" said last */
    int last;            /* SR_REDIS_LOGGED_*: the failure said last */
    int resub_pending;   /* a reconnect's resubscribe to report */
    uint64_t down_since; /* loop ms of "lost"; 0: never up */
} sr_redis_logstate;

struct sr_redis_adapter {
    uv_loop_t *loop;
    sr_redis_deliver_fn deliver;
    void *deliver_ud;
    char *prefix;
    size_t prefix_len;
    char *node_id;
    size_t node_id_len;
    char *seq_node_id;   /* "<node id>/seq": the "n" of sequenced envelopes */
    char dedup_base[17]; /* random hex, made once: with dedup_next the key
                            of each multi-room publish (envelope.h) */
    uint64_t dedup_next;
    uint32_t seq_ttl_ms;    /* sequence counters unused this long expire (0: never) */
    unsigned seq_max_names; /* counters kept at most, least recently used dropped (0: any) */
    size_t outbox_max;
    sr_redis_url url;
    struct sr_tls_ctx *tls; /* rediss://: the client context of every connection */
    sr_rconn *pub;
    sr_rconn *sub;
    sr_rsubs *subs;
    int closed;
    int delivering; /* inside deliver: a close then frees afterwards */
    int free_later;
    sr_redis_counters n;
    outbox_item *outbox; /* ring of outbox_max */
    size_t ob_head, ob_len;
    parked_publish *parked, *parked_tail; /* FIFO, see parked_publish */
    int draining;                         /* inside park_drain */
    struct sr_canary *canary;             /* classic mode: the subscriber's canary */
    uint32_t canary_interval_ms;
    struct sr_rcluster *cluster;      /* cluster mode (cluster.h): pub/sub are NULL */
    struct fetch_call *fetch_waiting; /* history fetches waiting for the publisher */
    struct sr_rpresence *presence;    /* classic mode: presence.c */
    sr_redis_recovered_fn recovered;  /* a room's subscription is back (server) */
    void *recovered_ud;
    sr_redis_log_fn log; /* state changes (transitions.c) */
    void *log_ud;
    sr_redis_logstate log_state; /* classic mode: what transitions.c said last */
};

enum {
    SR_REDIS_LOGGED_NOTHING,
    SR_REDIS_LOGGED_LOST,
    SR_REDIS_LOGGED_AUTH,
    SR_REDIS_LOGGED_UNREACHABLE
};

/* transitions.c, called from the connections' callbacks (classic mode). */
void sr_redis_transition_up(sr_redis_adapter *a, sr_rconn *c);
void sr_redis_transition_down(sr_redis_adapter *a, sr_rconn *c, const char *err);
/* After a subscription confirmation: "resubscribed" once all are back. */
void sr_redis_transition_subscribed(sr_redis_adapter *a);
/* The same for one shard of the cluster mode (its publisher pub, its
 * subscriber sub and subscription set subs), the lines naming it by addr
 * ("shard 127.0.0.1:7001"), its state in *st. */
void sr_redis_shard_transition_up(sr_redis_adapter *a, sr_redis_logstate *st, const char *addr,
                                  sr_rconn *pub, sr_rconn *sub, sr_rsubs *subs, sr_rconn *c);
void sr_redis_shard_transition_down(sr_redis_adapter *a, sr_redis_logstate *st, const char *addr,
                                    sr_rconn *pub, sr_rconn *c, const char *err);
void sr_redis_shard_transition_subscribed(sr_redis_adapter *a, sr_redis_logstate *st,
                                          const char *addr, sr_rconn *sub, sr_rsubs *subs);

/* A room channel's subscription confirmed again after a loss: reports the
 * room (prefix cut off; canary and foreign channels are ignored). */
void sr_redis_adapter_channel_recovered(sr_redis_adapter *a, const char *channel, size_t len,
                                        uint64_t lost_ms);

/* Classic mode: publishes go out only while both connections are up and
 * the subscriber has re-subscribed (so that this node's own streams get
 * what it publishes, and get it from Redis in order). */
int sr_redis_adapter_can_publish(const sr_redis_adapter *a);

/* The common receive path (checks, echo, deliver) of a message on a room
 * channel. Returns 1 when deliver closed the adapter and it is now freed:
 * the caller must return at once without touching it. */
int sr_redis_adapter_on_message(sr_redis_adapter *a, const redisReply *channel,
                                const redisReply *body);

/* Builds prefix+room into buf (or a malloc'd buffer when it does not fit
 * in cap); NULL when out of memory. */
char *sr_redis_adapter_channel(const sr_redis_adapter *a, const char *room, size_t room_len,
                               char *buf, size_t cap, size_t *len);

/* adapter.c: frees the adapter (after sr_redis_adapter_close; from
 * adapter_receive.c when deliver closed it). */
void sr_redis_adapter_free(sr_redis_adapter *a);

/* adapter_publish.c: the publisher connection's callbacks, and what the
 * other adapter files do to the outbox and the back-pressure FIFO. */
void sr_redis_adapter_on_pub_up(void *ud, sr_rconn *c);
void sr_redis_adapter_on_pub_down(void *ud, sr_rconn *c, const char *err);
void sr_redis_adapter_on_pub_drain(void *ud, sr_rconn *c);
/* Drops the oldest PUBLISH held in the outbox. */
void sr_redis_adapter_outbox_drop_oldest(sr_redis_adapter *a);
/* Sends what the outbox holds, in order, while publishing is possible. */
void sr_redis_adapter_outbox_replay(sr_redis_adapter *a);
void sr_redis_adapter_parked_free(parked_publish *p);
/* The publisher went down (or the adapter closes): what waits in the
 * back-pressure FIFO goes to the outbox when there is one, else fails. */
void sr_redis_adapter_park_flush_down(sr_redis_adapter *a, const char *why);

/* adapter_receive.c: the subscriber connection's push callback. */
void sr_redis_adapter_on_sub_push(void *ud, sr_rconn *c, redisReply *push);

/* adapter_subscribe.c: the subscriber connection's and its subscription
 * set's callbacks. */
void sr_redis_adapter_on_sub_up(void *ud, sr_rconn *c);
void sr_redis_adapter_on_sub_down(void *ud, sr_rconn *c, const char *err);
void sr_redis_adapter_on_subs_recovered(void *ud, const char *channel, size_t len,
                                        uint64_t lost_ms);
/* Channels Redis confirms on the subscriber, the canary's left out. */
uint64_t sr_redis_adapter_room_channels_confirmed(const sr_redis_adapter *a);

#endif
