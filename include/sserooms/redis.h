/* SPDX-License-Identifier: MIT */
/*
 * sserooms/redis.h: the Redis Pub/Sub adapter's public API (src/redis),
 * apart from the core API. <sserooms.h> includes it, so programs that
 * include only that keep working; it includes <sserooms.h> for sr_server.
 * The sized calls follow the ABI scheme that sserooms.h describes.
 */
#ifndef SSEROOMS_REDIS_H
#define SSEROOMS_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <sserooms.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Rooms across nodes through Redis Pub/Sub, wire-compatible with the
 * Node.js reference: channel <prefix><room>, envelope
 * {"v":1,"m":{...},"n":"<node id>","meta":...}. Two connections to Redis
 * (publisher, subscriber), each kept alive with PING and reconnected with
 * exponential back-off and jitter; while Redis is unreachable local rooms
 * keep working and /healthz reports the reason. Ordered event ids
 * (sr_sequence_next, sr_broadcast_sequenced) use INCRBY on the shared key,
 * inside one Lua script that also PUBLISHes a sequenced message. */
typedef struct sr_redis_options {
    const char *url;             /* NULL: redis://127.0.0.1:6379;
                                    redis://[[user]:password@]host[:port][/db]
                                    (percent-escapes in user and password,
                                    [::1] for IPv6) or
                                    unix:///path/to/socket[?db=N] */
    const char *channel_prefix;  /* "sse:room:" */
    const char *node_id;         /* NULL or "": a random UUID v4 */
    uint32_t connect_timeout_ms; /* 2000: resolve + connect + AUTH/SELECT */
    uint32_t ping_interval_ms;   /* 5000 (both connections); a PING not
                                    answered within it marks Redis down */
    uint32_t reconnect_min_ms;   /* 100: first back-off step */
    uint32_t reconnect_max_ms;   /* 2000: back-off ceiling; each delay is
                                    random in [min, min(max, min*2^n)] */
    size_t outbox_max;           /* 0: publishes made while Redis is
                                    unreachable are counted and dropped;
                                    N: up to N are held (oldest dropped
                                    first) and sent in order on reconnect */
    /* Liveness canary (docs/cluster.md): every interval a probe is
     * published to a private channel (sserooms:canary:<node id>...) that
     * the subscriber connection subscribes to; one not back within the
     * timeout means the subscriber is dead: it is rebuilt. */
    uint32_t canary_interval_ms; /* 1000; 0 disables the canary */
    uint32_t canary_timeout_ms;  /* 5000 (0 also means 5000) */
    /* Redis Cluster mode (docs/cluster.md): seed nodes, comma-separated
     * redis://[[user]:password@]host:port URLs (or host:port); url must then
     * be NULL. Rooms use sharded Pub/Sub (SSUBSCRIBE/SPUBLISH on the shard
     * owning the channel's slot). Ordered ids (sequence_next,
     * publish_sequenced) and history are not available in this mode. */
    const char *cluster; /* NULL: classic mode (url) */
    /* TLS, for rediss:// URLs and cluster seeds (docs/tls.md): the server's
     * certificate must be signed by tls_ca_file (NULL: the system's trust
     * store) for the URL's host; a client certificate is sent when both
     * tls_cert_file and tls_key_file are set. */
    const char *tls_ca_file;
    const char *tls_cert_file;
    const char *tls_key_file;
    /* Presence (sr_presence_get, GET /presence): this node's per-room
     * counts are written to Redis, coalesced, and tied to a liveness key
     * refreshed every ttl/3 that expires after ttl. */
    uint32_t presence_ttl_ms; /* 10000; 0: presence off (nothing is
                                 written, reads answer from this node) */
    int presence_events;      /* nonzero: publish and receive the
                                 join/leave events of users (set it
                                 with sr_config.presence_events) */
    /* New fields go here, at the end (see "ABI" in sserooms.h). */
} sr_redis_options;

/* Fills *opts with the defaults above. */
#define sr_redis_options_init(opts) sr_redis_options_init_((opts), sizeof(sr_redis_options))
SR_API void sr_redis_options_init_(sr_redis_options *opts, size_t opts_size);
/* Creates the Redis adapter on the server's loop and installs it (opts
 * NULL: the defaults). The node serves local rooms at once and joins the
 * cluster when Redis is reachable. SR_EINVAL with a sentence in err (may be
 * NULL) for a bad URL, cluster mode with resume history, or options from a
 * newer header that set fields this library does not know. */
#define sr_server_use_redis(srv, opts, err, errcap)                                                \
    sr_server_use_redis_((srv), (opts), sizeof(sr_redis_options), (err), (errcap))
SR_API int sr_server_use_redis_(sr_server *srv, const sr_redis_options *opts, size_t opts_size,
                                char *err, size_t errcap);

#ifdef __cplusplus
}
#endif
#endif /* SSEROOMS_REDIS_H */
