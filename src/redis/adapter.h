/* SPDX-License-Identifier: MIT */
/*
 * adapter.h: the Redis Pub/Sub adapter: rooms shared between nodes.
 *
 * Two connections: the publisher (PUBLISH <prefix><room> <envelope>, once
 * per room, pipelined) and the subscriber (the channels of rooms with local
 * members, kept exact by subs.h). Received envelopes are checked
 * (envelope.h); those from other nodes are handed to `deliver`, those
 * carrying our own node id are dropped as an echo. Everything is counted
 * for /stats, and health() says why Redis is unreachable.
 *
 * The constructor takes the delivery callback so the adapter works (and is
 * tested) without a server; sr_server_use_redis (use.c) wires it to one.
 */
#ifndef SR_REDIS_ADAPTER_H
#define SR_REDIS_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "sserooms.h"

typedef struct sr_redis_adapter sr_redis_adapter;

/* Hands one message from another node to the local members of room.
 * dedup is the envelope's de-duplication key (NULL when it has none; see
 * envelope.h), the same in every copy of one multi-room publish.
 * Returns the delivery count or a negative code (counted, not fatal). */
typedef int (*sr_redis_deliver_fn)(void *ud, const char *room, size_t room_len,
                                   const sr_message *msg, const char *dedup);

/* A room's subscription was lost at lost_ms and Redis confirmed it again
 * at now_ms (wall clock ms): its streams may have missed messages. */
typedef void (*sr_redis_recovered_fn)(void *ud, const char *room, size_t room_len, uint64_t lost_ms,
                                      uint64_t now_ms);
/* Sets the hook (the server's sr_server_room_recovered). */
void sr_redis_adapter_on_recovered(sr_redis_adapter *a, sr_redis_recovered_fn fn, void *ud);

/* A state change to log (transitions.c): level an SR_LOG_*, msg one line
 * ("redis lost: subscriber: connection lost: closed by 127.0.0.1:6379"). */
typedef void (*sr_redis_log_fn)(void *ud, int level, const char *msg);
void sr_redis_adapter_on_log(sr_redis_adapter *a, sr_redis_log_fn fn, void *ud);
/* A user's first stream in the cluster joined room (joined 1), or its last
 * left (0): presence events (presence.h), when presence_events is on. */
typedef void (*sr_redis_presence_fn)(void *ud, const char *room, size_t room_len, const char *user,
                                     size_t user_len, int joined);
void sr_redis_adapter_on_presence(sr_redis_adapter *a, sr_redis_presence_fn fn, void *ud);

typedef struct sr_redis_counters {
    uint64_t published;        /* room publishes Redis acknowledged (PUBLISH, or
                                  a history/sequence script's PUBLISH per room) */
    uint64_t publish_failures; /* room publishes not sent, failed, or dropped
                                  from a full outbox (same unit as published) */
    uint64_t received;         /* messages received on subscribed channels */
    uint64_t delivered;        /* envelopes handed to deliver */
    uint64_t invalid_json, not_object, bad_version, bad_fields, foreign_channel;
    uint64_t own_echo;          /* envelopes carrying our node id */
    uint64_t presence_events;   /* presence joins and leaves received (presence.c);
                                   received = delivered + dropped + own_echo + these */
    uint64_t reconnects;        /* times a connection came back up */
    uint64_t outbox;            /* publishes held for the reconnect */
    uint64_t subscribed;        /* channels Redis confirms on the subscriber */
    uint64_t sequenced;         /* ids Redis assigned (sequence.c) */
    uint64_t sequence_failures; /* sequenced calls that got no id */
    uint64_t recoveries;        /* room subscriptions confirmed again after a loss */
    uint64_t tls_failures;      /* TLS handshakes with Redis refused (rediss://) */
} sr_redis_counters;

/* Validates opts (URL, prefix), connects both connections in the
 * background, and returns at once. SR_EINVAL with a message in err when
 * the options are bad; SR_ENOMEM. */
int sr_redis_adapter_new(sr_redis_adapter **out, uv_loop_t *loop, const sr_redis_options *opts,
                         sr_redis_deliver_fn deliver, void *deliver_ud, char *err, size_t errcap);
/* Closes both connections (pending publishes fail) and frees the adapter;
 * its libuv handles finish closing on the loop. No callback after this. */
void sr_redis_adapter_close(sr_redis_adapter *a);

int sr_redis_adapter_subscribe(sr_redis_adapter *a, const char *room);
int sr_redis_adapter_unsubscribe(sr_redis_adapter *a, const char *room);
/* Encodes the envelope once and PUBLISHes it to every room's channel; with
 * several rooms the envelope carries a key unique to this publish
 * ("<random hex made once per adapter>:<counter>") so that the copies are
 * recognised as one message. 0, or SR_EADAPTER when some could not be sent
 * (counted). */
int sr_redis_adapter_publish(sr_redis_adapter *a, const char *const *rooms, size_t n_rooms,
                             const sr_message *msg, const char *meta, size_t meta_len);
/* The bounds of the sequence counters in Redis (sequence.c): a counter
 * unused for ttl_ms expires (0: never), and past max_names names the least
 * recently used are dropped (0: no bound). The server's sequence_ttl_ms and
 * sequence_max_names (use.c); until set, 30 days and 65536. */
void sr_redis_adapter_sequence_limits(sr_redis_adapter *a, uint32_t ttl_ms, unsigned max_names);
/* The same, for a caller that waits for Redis: returns 0 and calls done
 * once (never before returning) when every PUBLISH was sent: rc 0 once Redis
 * acknowledged them all, SR_EADAPTER (reason in text) when one failed.
 * Returns 1 (done not called) when every room that could not be sent is
 * held in the outbox for the reconnect, or a negative code with the reason
 * in why (done not called): SR_EADAPTER when Redis is unreachable without an
 * outbox or the publisher's output is full, SR_ENOMEM, SR_EINVAL (cluster
 * mode, no rooms). Counted like publish. */
int sr_redis_adapter_publish_acked(sr_redis_adapter *a, const char *const *rooms, size_t n_rooms,
                                   const sr_message *msg, const char *meta, size_t meta_len,
                                   sr_sequence_fn done, void *ud, char *why, size_t why_cap);
/* Ordered event ids (sequence.c; the contract of the sr_adapter members of
 * the same names). The next id of key, "<epoch>-<12-digit counter>" after
 * INCRBY key 1, with nothing published. 0 and done(ud, 0, id) or
 * done(ud, negative, reason) later; SR_EADAPTER at once when the publisher
 * connection is not up (done not called). */
int sr_redis_adapter_sequence_next(sr_redis_adapter *a, const char *key, const char *epoch,
                                   sr_sequence_fn done, void *ud);
/* The same, and in the same Lua script the envelope of msg with that id
 * (msg->id ignored; "n" is "<node id>/seq", so that every node, this one
 * included, delivers it) is PUBLISHed to every room's channel. */
int sr_redis_adapter_publish_sequenced(sr_redis_adapter *a, const char *const *rooms,
                                       size_t n_rooms, const sr_message *msg, const char *meta,
                                       size_t meta_len, const char *key, const char *epoch,
                                       sr_sequence_fn done, void *ud);
/* One-time claims shared by the nodes (claim.c): the replay protection of
 * signed tickets. done's rc: 1 when this call claimed id first, 0 when it
 * was claimed before (and has not expired), SR_EADAPTER with the reason in
 * why when Redis could not say. */
typedef void (*sr_redis_claim_fn)(void *ud, int rc, const char *why);
/* SET <prefix>ticket:{id} 1 NX PX ttl_ms, on the shard owning the key in
 * cluster mode. 0 and done exactly once later (never before returning;
 * a close fails it), or at once SR_EADAPTER (Redis not up), SR_ENOMEM or
 * SR_EINVAL, and done never runs. */
int sr_redis_adapter_claim(sr_redis_adapter *a, const char *id, size_t len, uint32_t ttl_ms,
                           sr_redis_claim_fn done, void *ud);
/* 0 when both connections are up; else 1 and a reason in reason[0..cap). */
int sr_redis_adapter_health(sr_redis_adapter *a, char *reason, size_t cap);
/* Writes ,"redis":{...} (see the sr_adapter stats_json contract); returns
 * the bytes written, or, when it does not fit in cap, the buffer size it
 * needs (> cap; out then holds ""). */
size_t sr_redis_adapter_stats_json(sr_redis_adapter *a, char *out, size_t cap);

void sr_redis_adapter_counters(const sr_redis_adapter *a, sr_redis_counters *out);
/* Prometheus samples (metrics.c); returns the bytes needed, writes them
 * (NUL-terminated) only when they fit in cap. */
size_t sr_redis_adapter_metrics_text(sr_redis_adapter *a, char *out, size_t cap);
const char *sr_redis_adapter_node_id(const sr_redis_adapter *a);
/* "up" (both connections up), "connecting" or "down". */
const char *sr_redis_adapter_state(const sr_redis_adapter *a);
/* Fills *out with the sr_adapter vtable over a (name "redis"). */
void sr_redis_adapter_vtable(sr_redis_adapter *a, sr_adapter *out);
/* Where warnings go (a refused TLS handshake with Redis, and why). */

#endif
