/*
 * adapter_int.h: the Redis adapter's state, shared by the files that make
 * up the adapter (adapter.c: connections, publishing, receiving, stats;
 * sequence.c: ordered event ids). Not for other modules.
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

struct sr_redis_adapter {
    uv_loop_t *loop;
    sr_redis_deliver_fn deliver;
    void *deliver_ud;
    char *prefix;
    size_t prefix_len;
    char *node_id;
    size_t node_id_len;
    char *seq_node_id;   /* "<node id>/seq": the "n" of sequenced envelopes */
    size_t outbox_max;
    sr_redis_url url;
    struct sr_tls_ctx *tls;  /* rediss://: the client context of every connection */
    void (*warn)(void *ud, const char *msg); /* sr_redis_adapter_on_warning */
    void *warn_ud;
    sr_rconn *pub;
    sr_rconn *sub;
    sr_rsubs *subs;
    int closed;
    int delivering;  /* inside deliver: a close then frees afterwards */
    int free_later;
    sr_redis_counters n;
    outbox_item *outbox; /* ring of outbox_max */
    size_t ob_head, ob_len;
    struct sr_canary *canary;    /* classic mode: the subscriber's canary */
    uint32_t canary_interval_ms;
    struct sr_rcluster *cluster; /* cluster mode (cluster.h): pub/sub are NULL */
};

/* The common receive path (checks, echo, deliver) of a message on a room
 * channel. Returns 1 when deliver closed the adapter and it is now freed:
 * the caller must return at once without touching it. */
int sr_redis_adapter_on_message(sr_redis_adapter *a, const redisReply *channel,
                                const redisReply *body);

/* Builds prefix+room into buf (or a malloc'd buffer when it does not fit
 * in cap); NULL when out of memory. */
char *sr_redis_adapter_channel(const sr_redis_adapter *a, const char *room, size_t room_len,
                               char *buf, size_t cap, size_t *len);

#endif
