/* SPDX-License-Identifier: MIT */
/*
 * adapter.c: the Redis Pub/Sub adapter (see adapter.h).
 *
 * Publishing encodes the envelope once and queues one PUBLISH per room on
 * the publisher connection; the connection writes everything queued in a
 * loop turn at once. While the publisher is down, publishes are counted as
 * failures, or held in a bounded outbox (FIFO of PUBLISH commands sharing
 * one refcounted payload) that is replayed in order when it comes back.
 * publish_acked is the same with an answer for a caller that must not
 * claim success early (POST /publish): done runs once Redis answered every
 * PUBLISH (or the connection failed them); a publish held in the outbox,
 * or refused at once (down without outbox, output full), is told at once.
 * Back-pressure: while the publisher connection holds more than 8 MiB that
 * Redis has not read, publishes (both kinds) wait in a FIFO in the adapter,
 * in order, and go out as writes complete (the connection's drain
 * callback), instead of piling up to the connection's 64 MiB cap and being
 * refused there; a waiting caller is answered when Redis acknowledged its
 * message. If the connection goes down meanwhile they go to the outbox, or
 * fail and say so.
 *
 * A publish to several rooms carries a de-duplication key (envelope.h),
 * this adapter's random base and a counter, handed on to deliver by the
 * receiving nodes.
 *
 * Receiving runs on the subscriber's push callback: channel -> room (the
 * prefix cut off), payload -> envelope checks, then our own echo is
 * dropped and the rest is handed to deliver. Every drop is counted by
 * reason; nothing a publisher sends can crash the node.
 *
 * After the subscriber (re)connects, publishes wait (outbox or failure)
 * until Redis has confirmed every subscription again, so that this node's
 * streams do not miss what it publishes itself; a room channel confirmed
 * again after a loss is reported to the server (recovered hook), which
 * fills or warns its streams (server/recover.c). State changes (connected,
 * lost, auth refused, resubscribed, canary timeout) are logged once each
 * by transitions.c, per shard in cluster mode.
 */
#include "redis/adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/abi.h"
#include "common/buf.h"
#include "common/hash.h"
#include "redis/adapter_int.h"
#include "redis/canary.h"
#include "redis/cluster.h"
#include "redis/envelope.h"
#include "redis/history.h"
#include "redis/presence.h"
#include "tls/tls.h"
#include "json/json.h"

/* ------------------------------------------------------------ options */

static void options_defaults(sr_redis_options *opts) {
    memset(opts, 0, sizeof *opts);
    opts->url = NULL; /* redis://127.0.0.1:6379 */
    opts->channel_prefix = "sse:room:";
    opts->connect_timeout_ms = 2000;
    opts->ping_interval_ms = 5000;
    opts->reconnect_min_ms = 100;
    opts->reconnect_max_ms = 2000;
    opts->canary_interval_ms = 1000;
    opts->canary_timeout_ms = 5000;
    opts->presence_ttl_ms = 10000;
}

/* Made whole here, copied out at the program's size ("ABI", sserooms.h). */
void sr_redis_options_init_(sr_redis_options *opts, size_t opts_size) {
    sr_redis_options full;
    options_defaults(&full);
    sr_abi_copy_out(opts, opts_size, &full, sizeof full);
}

static void make_uuid_v4(char out[37]) {
    unsigned char b[16];
    if (sr_random_bytes(b, sizeof b) != 0) {
        uint64_t t = uv_hrtime() ^ (uint64_t)(uintptr_t)out;
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)(i * 37);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* ------------------------------------------------------------ payloads */

static payload *payload_new(const char *data, size_t len) {
    payload *p = malloc(sizeof *p + len + 1);
    if (!p) return NULL;
    p->refs = 1;
    p->len = len;
    memcpy(p->data, data, len);
    p->data[len] = '\0';
    return p;
}

static void payload_unref(payload *p) {
    if (p && --p->refs == 0) free(p);
}

/* ------------------------------------------------------------ publishing */

static void on_publish_reply(void *ud, redisReply *reply, const char *err) {
    sr_redis_adapter *a = ud;
    if (err) a->n.publish_failures++;
    else a->n.published++;
}

static int send_publish(sr_redis_adapter *a, const char *channel, size_t channel_len,
                        const char *body, size_t body_len) {
    const char *argv[3] = {"PUBLISH", channel, body};
    size_t lens[3] = {7, channel_len, body_len};
    return sr_rconn_command(a->pub, 3, argv, lens, on_publish_reply, a);
}

static void outbox_drop_oldest(sr_redis_adapter *a) {
    outbox_item *it = &a->outbox[a->ob_head];
    free(it->channel);
    payload_unref(it->body);
    a->ob_head = (a->ob_head + 1) % a->outbox_max;
    a->ob_len--;
}

/* Holds one PUBLISH for the reconnect; 0 or SR_ENOMEM. */
static int outbox_put(sr_redis_adapter *a, const char *channel, size_t channel_len, payload *body) {
    char *ch = malloc(channel_len + 1);
    if (!ch) return SR_ENOMEM;
    memcpy(ch, channel, channel_len);
    ch[channel_len] = '\0';
    if (a->ob_len == a->outbox_max) {
        outbox_drop_oldest(a);
        a->n.publish_failures++;
    }
    outbox_item *it = &a->outbox[(a->ob_head + a->ob_len) % a->outbox_max];
    it->channel = ch;
    it->channel_len = channel_len;
    it->body = body;
    body->refs++;
    a->ob_len++;
    return 0;
}

int sr_redis_adapter_can_publish(const sr_redis_adapter *a) {
    return a->pub && a->sub && sr_rconn_get_state(a->pub) == SR_RCONN_UP &&
           sr_rconn_get_state(a->sub) == SR_RCONN_UP && !sr_rsubs_resyncing(a->subs);
}

static void outbox_replay(sr_redis_adapter *a) {
    while (a->ob_len > 0 && sr_redis_adapter_can_publish(a)) {
        outbox_item *it = &a->outbox[a->ob_head];
        if (send_publish(a, it->channel, it->channel_len, it->body->data, it->body->len) != 0)
            break; /* output full: the rest waits for the next reconnect */
        outbox_drop_oldest(a);
    }
}

char *sr_redis_adapter_channel(const sr_redis_adapter *a, const char *room, size_t room_len,
                               char *buf, size_t cap, size_t *len) {
    size_t n = a->prefix_len + room_len;
    char *ch = n < cap ? buf : malloc(n + 1);
    if (!ch) return NULL;
    memcpy(ch, a->prefix, a->prefix_len);
    memcpy(ch + a->prefix_len, room, room_len);
    ch[n] = '\0';
    *len = n;
    return ch;
}

/* back-pressure (below) */
static void park_drain(sr_redis_adapter *a);
static int must_park(sr_redis_adapter *a);
static int park(sr_redis_adapter *a, struct acked_call *call, const char *const *rooms,
                size_t n_rooms, const char *body, size_t body_len);

/* The envelope of one publish: a publish to several rooms carries this
 * adapter's next de-duplication key, the same in every per-room copy
 * (envelope.h); a one-room envelope is the reference's bytes. */
static char *encode_publish(sr_redis_adapter *a, size_t n_rooms, const sr_message *msg,
                            const char *meta, size_t meta_len, size_t *body_len) {
    char dedup[40] = "";
    if (n_rooms > 1)
        snprintf(dedup, sizeof dedup, "%s:%llu", a->dedup_base,
                 (unsigned long long)++a->dedup_next);
    return sr_envelope_encode_dedup(msg, a->node_id, meta, meta_len, dedup, body_len);
}

int sr_redis_adapter_publish(sr_redis_adapter *a, const char *const *rooms, size_t n_rooms,
                             const sr_message *msg, const char *meta, size_t meta_len) {
    if (a->closed) return SR_ECLOSED;
    if (n_rooms == 0) return 0;
    size_t body_len = 0;
    char *body = encode_publish(a, n_rooms, msg, meta, meta_len, &body_len);
    if (!body) {
        a->n.publish_failures += n_rooms;
        return SR_ENOMEM;
    }
    payload *held = NULL;
    int failed = 0;
    if (a->cluster) { /* no outbox: a shard that is down fails its rooms */
        for (size_t i = 0; i < n_rooms; i++) {
            char stack[512];
            size_t clen = 0;
            char *ch = sr_redis_adapter_channel(a, rooms[i], strlen(rooms[i]), stack, sizeof stack,
                                                &clen);
            if (!ch || sr_rcluster_publish(a->cluster, ch, clen, &held, body, body_len) != 0) {
                a->n.publish_failures++;
                failed = 1;
            }
            if (ch != stack) free(ch);
        }
        sr_rcluster_payload_unref(held);
        free(body);
        return failed ? SR_EADAPTER : 0;
    }
    int up = sr_redis_adapter_can_publish(a);
    if (up) outbox_replay(a); /* keep order with anything still held */
    if (up) park_drain(a);
    if (up && a->ob_len == 0 && must_park(a)) { /* back-pressure: wait in line */
        int rc = park(a, NULL, rooms, n_rooms, body, body_len);
        if (rc != 0) a->n.publish_failures += n_rooms;
        free(body);
        return rc == 0 ? 0 : SR_EADAPTER;
    }
    for (size_t i = 0; i < n_rooms; i++) {
        char stack[512];
        size_t clen = 0;
        char *ch = sr_redis_adapter_channel(a, rooms[i], strlen(rooms[i]), stack, sizeof stack,
                                            &clen);
        int rc = SR_ENOMEM;
        if (ch && up && a->ob_len == 0) {
            rc = send_publish(a, ch, clen, body, body_len);
        } else if (ch && a->outbox_max > 0) {
            if (!held) held = payload_new(body, body_len);
            rc = held ? outbox_put(a, ch, clen, held) : SR_ENOMEM;
        }
        if (rc != 0) {
            a->n.publish_failures++;
            failed = 1;
        }
        if (ch != stack) free(ch);
    }
    payload_unref(held);
    free(body);
    a->n.outbox = a->ob_len;
    return failed ? SR_EADAPTER : 0;
}

/* One publish whose caller waits for Redis (sr_redis_adapter_publish_acked):
 * the PUBLISHes still unanswered, and what went wrong. */
typedef struct acked_call {
    sr_redis_adapter *a;
    sr_sequence_fn done;
    void *ud;
    size_t pending; /* PUBLISHes sent, reply not back yet */
    size_t failed;  /* rooms not published */
    size_t queued;  /* rooms held in the outbox */
    char why[160];  /* the first failure */
} acked_call;

static int acked_status(acked_call *call) {
    if (call->failed) return SR_EADAPTER;
    return call->queued ? 1 : 0;
}

/* Drops one of the call's holds (a PUBLISH without its reply, or the hold
 * of its sending); the last one tells the caller. */
static void acked_release(acked_call *call) {
    if (--call->pending) return;
    sr_sequence_fn done = call->done;
    void *done_ud = call->ud;
    int rc = acked_status(call);
    char why[sizeof call->why];
    memcpy(why, call->why, sizeof why);
    free(call);
    done(done_ud, rc, rc < 0 ? why : rc ? "queued" : "published"); /* last: may close the adapter */
}

static void acked_fail(acked_call *call, const char *why) {
    if (!call->failed++) snprintf(call->why, sizeof call->why, "%s", why);
}

static void on_acked_reply(void *ud, redisReply *reply, const char *err) {
    (void)reply;
    acked_call *call = ud;
    if (err) {
        call->a->n.publish_failures++;
        acked_fail(call, call->a->closed ? "the redis adapter closed before redis answered"
                                         : "redis did not acknowledge the PUBLISH (connection "
                                           "lost or refused)");
    } else {
        call->a->n.published++;
    }
    acked_release(call);
}

/* ------------------------------------------------------------ back-pressure */

/* Publisher output (bytes Redis has not read yet) past which publishes wait
 * in order in the adapter instead of piling up in the connection until its
 * cap (64 MiB) refuses them: one publish is at most max_publish_bytes. */
#define SR_REDIS_PUBLISH_HIGH_WATER (8u << 20)

static int must_park(sr_redis_adapter *a) {
    return a->parked || sr_rconn_unwritten(a->pub) > SR_REDIS_PUBLISH_HIGH_WATER;
}

static void parked_free(parked_publish *p) {
    for (size_t i = 0; i < p->n; i++) free(p->channels[i]);
    free(p->channels);
    free(p->lens);
    payload_unref(p->body);
    free(p);
}

/* Holds a publish (body shared, channels copied) at the end of the FIFO;
 * 0 or SR_ENOMEM. The call, if any, keeps one hold until it is sent. */
static int park(sr_redis_adapter *a, acked_call *call, const char *const *rooms, size_t n_rooms,
                const char *body, size_t body_len) {
    parked_publish *p = calloc(1, sizeof *p);
    if (!p) return SR_ENOMEM;
    p->channels = calloc(n_rooms, sizeof *p->channels);
    p->lens = calloc(n_rooms, sizeof *p->lens);
    p->body = payload_new(body, body_len);
    if (!p->channels || !p->lens || !p->body) goto fail;
    for (; p->n < n_rooms; p->n++)
        if (!(p->channels[p->n] = sr_redis_adapter_channel(a, rooms[p->n], strlen(rooms[p->n]),
                                                           NULL, 0, &p->lens[p->n])))
            goto fail;
    p->call = call;
    if (call) call->pending++;
    if (a->parked_tail) a->parked_tail->next = p;
    else a->parked = p;
    a->parked_tail = p;
    return 0;
fail:
    parked_free(p);
    return SR_ENOMEM;
}

static parked_publish *unpark(sr_redis_adapter *a) {
    parked_publish *p = a->parked;
    if (!p) return NULL;
    a->parked = p->next;
    if (!a->parked) a->parked_tail = NULL;
    p->next = NULL;
    return p;
}

/* Sends what waits while the output is below the mark. */
static void park_drain(sr_redis_adapter *a) {
    if (a->draining || a->closed) return;
    a->draining = 1;
    while (a->parked && sr_rconn_get_state(a->pub) == SR_RCONN_UP &&
           sr_rconn_unwritten(a->pub) <= SR_REDIS_PUBLISH_HIGH_WATER) {
        parked_publish *p = unpark(a);
        for (size_t i = 0; i < p->n; i++) {
            const char *argv[3] = {"PUBLISH", p->channels[i], p->body->data};
            size_t lens[3] = {7, p->lens[i], p->body->len};
            int rc = sr_rconn_command(a->pub, 3, argv, lens,
                                      p->call ? on_acked_reply : on_publish_reply,
                                      p->call ? (void *)p->call : (void *)a);
            if (rc == 0 && p->call) p->call->pending++;
            if (rc != 0) {
                a->n.publish_failures++;
                if (p->call) acked_fail(p->call, "the redis publisher's output is full");
            }
        }
        acked_call *call = p->call;
        parked_free(p);
        if (call) acked_release(call); /* its sending hold */
        if (a->closed) break;
    }
    a->draining = 0;
}

/* The publisher went down (or the adapter closes): what waits goes to the
 * outbox when there is one, else fails. */
static void park_flush_down(sr_redis_adapter *a, const char *why) {
    parked_publish *p;
    while ((p = unpark(a))) {
        for (size_t i = 0; i < p->n; i++) {
            int rc = !a->closed && a->outbox_max > 0
                         ? outbox_put(a, p->channels[i], p->lens[i], p->body)
                         : SR_EADAPTER;
            if (rc == 0 && p->call) p->call->queued++;
            if (rc != 0) {
                a->n.publish_failures++;
                if (p->call) acked_fail(p->call, why);
            }
        }
        acked_call *call = p->call;
        parked_free(p);
        if (call) acked_release(call);
    }
    a->n.outbox = a->ob_len;
}

static void on_pub_drain(void *ud, sr_rconn *c) {
    (void)c;
    park_drain(ud);
}

static void on_pub_down(void *ud, sr_rconn *c, const char *err) {
    sr_redis_history_on_pub(ud, 0); /* fetches waiting for the publisher fail */
    park_flush_down(ud, "redis became unreachable before the publish could be sent");
    sr_redis_transition_down(ud, c, err);
}

int sr_redis_adapter_publish_acked(sr_redis_adapter *a, const char *const *rooms, size_t n_rooms,
                                   const sr_message *msg, const char *meta, size_t meta_len,
                                   sr_sequence_fn done, void *ud, char *why, size_t why_cap) {
    if (a->closed) return SR_ECLOSED;
    if (a->cluster || !done) return SR_EINVAL;
    if (n_rooms == 0) return SR_EINVAL;
    acked_call *call = calloc(1, sizeof *call);
    size_t body_len = 0;
    char *body = call ? encode_publish(a, n_rooms, msg, meta, meta_len, &body_len) : NULL;
    if (!body) {
        a->n.publish_failures += n_rooms;
        free(call);
        if (why && why_cap) snprintf(why, why_cap, "out of memory");
        return SR_ENOMEM;
    }
    call->a = a;
    call->done = done;
    call->ud = ud;
    call->pending = 1; /* held until every room is handled, so no reply finishes it early */
    payload *held = NULL;
    int up = sr_rconn_get_state(a->pub) == SR_RCONN_UP;
    if (up) outbox_replay(a); /* keep order with anything still held */
    if (up) park_drain(a);
    if (up && a->ob_len == 0 && must_park(a)) { /* back-pressure: wait in line */
        int rc = park(a, call, rooms, n_rooms, body, body_len);
        free(body);
        if (rc == 0) {
            call->pending--; /* the park's hold replaces this one */
            return 0;
        }
        a->n.publish_failures += n_rooms;
        free(call);
        if (why && why_cap) snprintf(why, why_cap, "out of memory");
        return SR_ENOMEM;
    }
    for (size_t i = 0; i < n_rooms; i++) {
        char stack[512];
        size_t clen = 0;
        char *ch = sr_redis_adapter_channel(a, rooms[i], strlen(rooms[i]), stack, sizeof stack,
                                            &clen);
        int rc = SR_ENOMEM;
        const char *fail = "out of memory";
        if (ch && up && a->ob_len == 0) {
            const char *argv[3] = {"PUBLISH", ch, body};
            size_t lens[3] = {7, clen, body_len};
            rc = sr_rconn_command(a->pub, 3, argv, lens, on_acked_reply, call);
            if (rc == 0) call->pending++;
            else if (rc == SR_EQUEUE)
                fail = "the redis publisher's output is full (redis is not "
                       "reading fast enough)";
        } else if (ch && a->outbox_max > 0) {
            if (!held) held = payload_new(body, body_len);
            rc = held ? outbox_put(a, ch, clen, held) : SR_ENOMEM;
            if (rc == 0) call->queued++;
        } else if (ch) {
            fail = "redis is unreachable";
        }
        if (rc != 0) {
            a->n.publish_failures++;
            if (!call->failed++) snprintf(call->why, sizeof call->why, "%s", fail);
        }
        if (ch != stack) free(ch);
    }
    payload_unref(held);
    free(body);
    a->n.outbox = a->ob_len;
    if (--call->pending) return 0; /* done runs when the last reply is back */
    int rc = acked_status(call);
    if (rc < 0 && why && why_cap) snprintf(why, why_cap, "%s", call->why);
    free(call);
    return rc;
}

/* ------------------------------------------------------------ subscriptions */

static int set_wanted(sr_redis_adapter *a, const char *room, int wanted) {
    if (a->closed) return SR_ECLOSED;
    char stack[512];
    size_t clen = 0;
    char *ch = sr_redis_adapter_channel(a, room, strlen(room), stack, sizeof stack, &clen);
    if (!ch) return SR_ENOMEM;
    int rc = a->cluster ? sr_rcluster_set_wanted(a->cluster, ch, clen, wanted)
                        : sr_rsubs_set(a->subs, ch, clen, wanted);
    if (ch != stack) free(ch);
    return rc;
}

int sr_redis_adapter_subscribe(sr_redis_adapter *a, const char *room) {
    return set_wanted(a, room, 1);
}

int sr_redis_adapter_unsubscribe(sr_redis_adapter *a, const char *room) {
    return set_wanted(a, room, 0);
}

/* ------------------------------------------------------------ receiving */

static void free_adapter(sr_redis_adapter *a);

int sr_redis_adapter_on_message(sr_redis_adapter *a, const redisReply *channel,
                                const redisReply *body) {
    a->n.received++;
    if (channel->type != REDIS_REPLY_STRING || body->type != REDIS_REPLY_STRING) {
        a->n.bad_fields++;
        return 0;
    }
    if ((size_t)channel->len < a->prefix_len ||
        memcmp(channel->str, a->prefix, a->prefix_len) != 0) {
        a->n.foreign_channel++;
        return 0;
    }
    if ((size_t)channel->len > a->prefix_len && channel->str[a->prefix_len] == '{') {
        /* <prefix>{room}...: presence events, never a room (no room name
         * has a '{') */
        a->delivering++;
        sr_rpresence_on_message(a->presence, channel->str, (size_t)channel->len, body->str,
                                (size_t)body->len);
        a->delivering--;
        if (a->free_later && !a->delivering) {
            free_adapter(a);
            return 1;
        }
        return 0;
    }
    sr_envelope env;
    switch (sr_envelope_decode(body->str, (size_t)body->len, SR_WIRE_JSON_DEPTH, &env)) {
    case SR_ENVELOPE_OK: break;
    case SR_ENVELOPE_INVALID_JSON: a->n.invalid_json++; return 0;
    case SR_ENVELOPE_NOT_OBJECT: a->n.not_object++; return 0;
    case SR_ENVELOPE_BAD_VERSION: a->n.bad_version++; return 0;
    case SR_ENVELOPE_BAD_FIELDS: a->n.bad_fields++; return 0;
    case SR_ENVELOPE_NOMEM: return 0;
    }
    if (env.node_id_len == a->node_id_len && memcmp(env.node_id, a->node_id, a->node_id_len) == 0) {
        a->n.own_echo++;
    } else if (!a->closed) {
        a->n.delivered++;
        a->delivering++;
        a->deliver(a->deliver_ud, channel->str + a->prefix_len,
                   (size_t)channel->len - a->prefix_len, &env.msg, env.dedup);
        a->delivering--;
    }
    sr_envelope_release(&env);
    if (a->free_later && !a->delivering) {
        free_adapter(a); /* deliver closed the adapter */
        return 1;
    }
    return 0;
}

/* Channels Redis confirms on the subscriber, the canary's left out. */
static uint64_t room_channels_confirmed(const sr_redis_adapter *a) {
    size_t n = sr_rsubs_confirmed_count(a->subs);
    if (a->canary && sr_canary_confirmed(a->canary) && n > 0) n--;
    return n;
}

static void on_sub_push(void *ud, sr_rconn *c, redisReply *push) {
    sr_redis_adapter *a = ud;
    const redisReply *kind = push->element[0];
    if (a->closed) return;
    if (kind->len == 7 && memcmp(kind->str, "message", 7) == 0) {
        const redisReply *ch = push->element[1], *body = push->element[2];
        if (a->canary && ch->type == REDIS_REPLY_STRING && body->type == REDIS_REPLY_STRING &&
            sr_canary_is_channel(a->canary, ch->str, ch->len)) {
            sr_canary_on_message(a->canary, body->str, body->len);
            return;
        }
        if (sr_redis_adapter_on_message(a, ch, body)) return;
    } else {
        sr_rsubs_on_push(a->subs, push); /* may report a recovered room */
        if (a->closed) return;
        if (a->canary) sr_canary_on_confirm(a->canary, push);
        sr_redis_transition_subscribed(a);
        if (a->ob_len && sr_redis_adapter_can_publish(a)) {
            outbox_replay(a); /* held until the resubscribe was confirmed */
            a->n.outbox = a->ob_len;
        }
    }
    a->n.subscribed = room_channels_confirmed(a);
}

void sr_redis_adapter_on_recovered(sr_redis_adapter *a, sr_redis_recovered_fn fn, void *ud) {
    a->recovered = fn;
    a->recovered_ud = ud;
}

void sr_redis_adapter_channel_recovered(sr_redis_adapter *a, const char *channel, size_t len,
                                        uint64_t lost_ms) {
    if (a->closed || !a->recovered || len < a->prefix_len ||
        memcmp(channel, a->prefix, a->prefix_len) != 0 ||
        (len > a->prefix_len && channel[a->prefix_len] == '{') || /* presence events */
        (a->canary && sr_canary_is_channel(a->canary, channel, len)))
        return;
    a->n.recoveries++;
    a->recovered(a->recovered_ud, channel + a->prefix_len, len - a->prefix_len, lost_ms,
                 sr_rsubs_wall_ms());
}

static void on_subs_recovered(void *ud, const char *channel, size_t len, uint64_t lost_ms) {
    sr_redis_adapter_channel_recovered(ud, channel, len, lost_ms);
}

static void on_sub_up(void *ud, sr_rconn *c) {
    sr_redis_adapter *a = ud;
    if (sr_rconn_up_count(c) > 1) a->n.reconnects++;
    sr_rsubs_on_up(a->subs);
    sr_redis_transition_up(a, c);
}

static void on_sub_down(void *ud, sr_rconn *c, const char *err) {
    sr_redis_adapter *a = ud;
    sr_rsubs_on_down(a->subs);
    if (a->canary) sr_canary_on_down(a->canary);
    a->n.subscribed = 0;
    sr_redis_transition_down(a, c, err);
}

static void on_pub_up(void *ud, sr_rconn *c) {
    sr_redis_adapter *a = ud;
    if (sr_rconn_up_count(c) > 1) a->n.reconnects++;
    sr_redis_history_on_pub(a, 1);
    sr_rpresence_on_up(a->presence);
    outbox_replay(a); /* when the subscriber is also back and resubscribed */
    a->n.outbox = a->ob_len;
    park_drain(a);
    sr_redis_transition_up(a, c);
}

/* ------------------------------------------------------------ life cycle */

static char *dup_str(const char *s) {
    return strdup(s ? s : "");
}

/* A connection's TLS handshake was refused: a warning, once per attempt
 * (attempts back off to reconnect_max_ms). */
static void tls_failed(void *ud, const char *why) {
    sr_redis_adapter *a = ud;
    if (!a->log) return;
    char line[600];
    snprintf(line, sizeof line, "redis: %s", why);
    a->log(a->log_ud, SR_LOG_WARN, line);
}

int sr_redis_adapter_new(sr_redis_adapter **out, uv_loop_t *loop, const sr_redis_options *opts,
                         sr_redis_deliver_fn deliver, void *deliver_ud, char *err, size_t errcap) {
    *out = NULL;
    if (err && errcap) err[0] = '\0';
    sr_redis_options defaults;
    sr_redis_options_init(&defaults);
    if (!opts) opts = &defaults;
    if (!deliver || !loop) return SR_EINVAL;
    sr_redis_adapter *a = calloc(1, sizeof *a);
    if (!a) return SR_ENOMEM;
    int rc = sr_redis_url_parse(opts->url ? opts->url : "redis://127.0.0.1:6379", &a->url, err,
                                errcap);
    if (rc) {
        free(a);
        return rc;
    }
    a->loop = loop;
    a->deliver = deliver;
    a->deliver_ud = deliver_ud;
    a->outbox_max = opts->outbox_max;
    a->seq_ttl_ms = 2592000000u; /* the server's defaults (sr_config_init) until use.c sets them */
    a->seq_max_names = 65536;
    a->prefix = dup_str(opts->channel_prefix ? opts->channel_prefix : defaults.channel_prefix);
    char uuid[37];
    make_uuid_v4(uuid);
    /* the keys' base: a restarted node (same --node-id) makes other keys */
    uint64_t base = 0;
    if (sr_random_bytes(&base, sizeof base) != 0) base = uv_hrtime() ^ (uint64_t)(uintptr_t)a;
    snprintf(a->dedup_base, sizeof a->dedup_base, "%016llx", (unsigned long long)base);
    a->node_id = dup_str(opts->node_id && *opts->node_id ? opts->node_id : uuid);
    size_t seq_len = a->node_id ? strlen(a->node_id) + 5 : 0;
    if (seq_len && (a->seq_node_id = malloc(seq_len)))
        snprintf(a->seq_node_id, seq_len, "%s/seq", a->node_id);
    if (a->outbox_max) a->outbox = calloc(a->outbox_max, sizeof *a->outbox);
    rc = SR_ENOMEM;
    if (!a->prefix || !a->node_id || !a->seq_node_id || (a->outbox_max && !a->outbox)) goto fail;
    a->prefix_len = strlen(a->prefix);
    a->node_id_len = strlen(a->node_id);
    rc = SR_EINVAL;
    if (opts->cluster && opts->url) {
        if (err && errcap)
            snprintf(err, errcap, "redis: give either a URL or cluster seed nodes, not both");
        goto fail;
    }

    sr_rconn_options co;
    memset(&co, 0, sizeof co);
    if (a->url.tls || (opts->cluster && strstr(opts->cluster, "rediss://"))) {
        char why[300];
        sr_tls_client_opts to = {.ca_file = opts->tls_ca_file,
                                 .cert_file = opts->tls_cert_file,
                                 .key_file = opts->tls_key_file};
        if (!(a->tls = sr_tls_client_ctx(&to, why, sizeof why))) {
            if (err && errcap) snprintf(err, errcap, "redis: %s", why);
            goto fail;
        }
        co.tls = a->tls;
        co.tls_failures = &a->n.tls_failures;
        co.on_tls_failure = tls_failed;
        co.tls_failure_ud = a;
    }
    co.url = &a->url;
    co.connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : 2000;
    co.ping_interval_ms = opts->ping_interval_ms;
    co.reconnect_min_ms = opts->reconnect_min_ms ? opts->reconnect_min_ms : 1;
    co.reconnect_max_ms = opts->reconnect_max_ms;
    rc = SR_ENOMEM;
    if (opts->presence_ttl_ms && /* 0: presence off */
        !(a->presence = sr_rpresence_new(a, opts->presence_ttl_ms, opts->presence_events)))
        goto fail;
    if (opts->cluster) {
        if ((rc = sr_rcluster_new(&a->cluster, a, opts->cluster, &co, opts->canary_interval_ms,
                                  opts->canary_timeout_ms, err, errcap)) != 0)
            goto fail;
        *out = a;
        return 0;
    }
    co.name = "publisher";
    sr_rconn_callbacks pub_cbs = {on_pub_up, on_pub_down, NULL, a};
    if ((rc = sr_rconn_new(&a->pub, loop, &co, &pub_cbs)) != 0) goto fail;
    sr_rconn_on_drain(a->pub, on_pub_drain);
    co.name = "subscriber";
    co.pubsub = 1;
    sr_rconn_callbacks sub_cbs = {on_sub_up, on_sub_down, on_sub_push, a};
    if ((rc = sr_rconn_new(&a->sub, loop, &co, &sub_cbs)) != 0) goto fail;
    if ((rc = sr_rsubs_new(&a->subs, loop, a->sub)) != 0) goto fail;
    sr_rsubs_on_recovered(a->subs, on_subs_recovered, a);
    a->canary_interval_ms = opts->canary_interval_ms;
    if (opts->canary_interval_ms) {
        char name[512];
        int len = snprintf(name, sizeof name, "sserooms:canary:%.400s", a->node_id);
        rc = SR_ENOMEM;
        if (!(a->canary = sr_canary_new(loop, a->pub, a->sub, 0, opts->canary_interval_ms,
                                        opts->canary_timeout_ms)) ||
            sr_canary_set_channel(a->canary, name, (size_t)len) != 0 ||
            sr_rsubs_set(a->subs, name, (size_t)len, 1) != 0)
            goto fail;
    }
    rc = SR_ENOMEM;
    sr_rconn_start(a->pub);
    sr_rconn_start(a->sub);
    *out = a;
    return 0;
fail:
    a->closed = 1;
    sr_redis_adapter_close(a);
    return rc;
}

static void free_adapter(sr_redis_adapter *a) {
    sr_canary_free(a->canary);
    sr_rcluster_free(a->cluster);
    sr_rsubs_free(a->subs);
    while (a->ob_len > 0) outbox_drop_oldest(a);
    free(a->outbox);
    for (parked_publish *p = a->parked, *next; p; p = next) { /* close told their callers */
        next = p->next;
        parked_free(p);
    }
    free(a->prefix);
    free(a->node_id);
    free(a->seq_node_id);
    sr_redis_url_free(&a->url);
    sr_tls_ctx_unref(a->tls); /* each connection held its own reference */
    free(a);
}

void sr_redis_adapter_close(sr_redis_adapter *a) {
    if (!a || a->free_later) return;
    a->closed = 1;
    sr_redis_history_on_pub(a, 0);   /* fetches waiting for the publisher fail */
    sr_rpresence_close(a->presence); /* before the publisher fails its EVALs */
    park_flush_down(a, "the redis adapter closed before the publish could be sent");
    if (a->pub) sr_rconn_close(a->pub);
    if (a->sub) sr_rconn_close(a->sub);
    if (a->cluster) sr_rcluster_close(a->cluster);
    if (a->delivering) a->free_later = 1; /* freed when deliver returns */
    else free_adapter(a);
}

/* ------------------------------------------------------------ health, stats */

const char *sr_redis_adapter_state(const sr_redis_adapter *a) {
    if (a->cluster) return sr_rcluster_state(a->cluster);
    sr_rconn_state p = sr_rconn_get_state(a->pub), s = sr_rconn_get_state(a->sub);
    if (p == SR_RCONN_UP && s == SR_RCONN_UP) return "up";
    if (p == SR_RCONN_CONNECTING || s == SR_RCONN_CONNECTING) return "connecting";
    return "down";
}

int sr_redis_adapter_health(sr_redis_adapter *a, char *reason, size_t cap) {
    if (a->cluster) return sr_rcluster_health(a->cluster, reason, cap);
    sr_rconn *down = NULL;
    if (sr_rconn_get_state(a->pub) != SR_RCONN_UP) down = a->pub;
    else if (sr_rconn_get_state(a->sub) != SR_RCONN_UP) down = a->sub;
    if (!down && sr_rsubs_resyncing(a->subs)) {
        if (reason && cap)
            snprintf(reason, cap, "redis resubscribing: %zu of %zu channels not confirmed yet",
                     sr_rsubs_pending_count(a->subs), sr_rsubs_wanted_count(a->subs));
        return 1;
    }
    if (!down) {
        if (reason && cap) reason[0] = '\0';
        return 0;
    }
    if (!reason || !cap) return 1;
    const char *err = sr_rconn_last_error(down);
    int64_t retry = sr_rconn_retry_in_ms(down);
    if (!*err) snprintf(reason, cap, "redis connecting to %s", sr_rconn_where(down));
    else if (retry >= 0)
        snprintf(reason, cap, "redis unreachable: %s (retry in %lld ms)", err, (long long)retry);
    else snprintf(reason, cap, "redis unreachable: %s (reconnecting)", err);
    return 1;
}

void sr_redis_adapter_counters(const sr_redis_adapter *a, sr_redis_counters *out) {
    *out = a->n;
    out->outbox = a->ob_len;
    if (a->cluster) out->subscribed = sr_rcluster_subscribed(a->cluster);
}

const char *sr_redis_adapter_node_id(const sr_redis_adapter *a) {
    return a->node_id;
}

size_t sr_redis_adapter_stats_json(sr_redis_adapter *a, char *out, size_t cap) {
    size_t qlen = sr_json_quote(a->node_id, a->node_id_len, NULL, 0);
    char *node = malloc(qlen + 1);
    if (!node) return 0;
    sr_json_quote(a->node_id, a->node_id_len, node, qlen);
    node[qlen] = '\0';
    const sr_redis_counters *n = &a->n;
    /* listed once a sequence was used, so the common output stays as it was */
    char seq[96] = "";
    if (n->sequenced || n->sequence_failures)
        snprintf(seq, sizeof seq, "\"sequenced\":%llu,\"sequence_failures\":%llu,",
                 (unsigned long long)n->sequenced, (unsigned long long)n->sequence_failures);
    /* the liveness canary (classic) or the shards (cluster mode) */
    sr_buf extra;
    sr_buf_init(&extra);
    sr_canary_stats st = {0};
    if (a->canary) sr_canary_get_stats(a->canary, &st);
    /* listed once the canary matters (a probe late by more than an
     * interval, or a rebuild), so the common output stays as it was */
    if (a->canary && (st.timeouts || st.waiting_ms > a->canary_interval_ms)) {
        sr_buf_printf(&extra,
                      "\"canary\":{\"lag_ms\":%llu,\"waiting_ms\":%llu,\"probes\":%llu,"
                      "\"timeouts\":%llu},",
                      (unsigned long long)st.lag_ms, (unsigned long long)st.waiting_ms,
                      (unsigned long long)st.probes, (unsigned long long)st.timeouts);
    }
    if (a->tls) /* rediss:// only, so the common output stays as it was */
        sr_buf_printf(&extra, "\"tls_failures\":%llu,", (unsigned long long)a->n.tls_failures);
    if (a->cluster) {
        sr_rcluster_stats_json(a->cluster, &extra);
        sr_buf_puts(&extra, ","); /* the helper writes a leading comma: moved below */
    }
    const char *extra_text = extra.oom || !extra.p ? "" : extra.p;
    if (a->cluster && *extra_text == ',') extra_text++;
    uint64_t subscribed = a->cluster ? sr_rcluster_subscribed(a->cluster)
                                     : room_channels_confirmed(a);
    int len = snprintf(out, cap,
                       ",\"redis\":{\"state\":\"%s\",\"published\":%llu,\"publish_failures\":%llu,"
                       "\"received\":%llu,\"delivered\":%llu,\"dropped\":{\"invalid_json\":%llu,"
                       "\"not_object\":%llu,\"bad_version\":%llu,\"bad_fields\":%llu,"
                       "\"foreign_channel\":%llu},\"own_echo\":%llu,\"reconnects\":%llu,"
                       "\"subscribed\":%llu,\"outbox\":%llu,%s%s\"node_id\":%s}",
                       sr_redis_adapter_state(a), (unsigned long long)n->published,
                       (unsigned long long)n->publish_failures, (unsigned long long)n->received,
                       (unsigned long long)n->delivered, (unsigned long long)n->invalid_json,
                       (unsigned long long)n->not_object, (unsigned long long)n->bad_version,
                       (unsigned long long)n->bad_fields, (unsigned long long)n->foreign_channel,
                       (unsigned long long)n->own_echo, (unsigned long long)n->reconnects,
                       (unsigned long long)subscribed, (unsigned long long)a->ob_len, seq,
                       extra_text, node);
    sr_buf_free(&extra);
    free(node);
    if (len < 0) {
        if (cap) out[0] = '\0';
        return 0;
    }
    if ((size_t)len >= cap) { /* too small: say how much it needs */
        if (cap) out[0] = '\0';
        return (size_t)len + 1;
    }
    return (size_t)len;
}

/* ------------------------------------------------------------ sr_adapter */

static int vt_subscribe(void *ctx, const char *room) {
    return sr_redis_adapter_subscribe(ctx, room);
}

static int vt_unsubscribe(void *ctx, const char *room) {
    return sr_redis_adapter_unsubscribe(ctx, room);
}

static int vt_publish(void *ctx, const char *const *rooms, size_t n_rooms, const sr_message *msg,
                      const char *meta, size_t meta_len) {
    return sr_redis_adapter_publish(ctx, rooms, n_rooms, msg, meta, meta_len);
}

static int vt_publish_acked(void *ctx, const char *const *rooms, size_t n_rooms,
                            const sr_message *msg, const char *meta, size_t meta_len,
                            sr_sequence_fn done, void *ud, char *why, size_t why_cap) {
    return sr_redis_adapter_publish_acked(ctx, rooms, n_rooms, msg, meta, meta_len, done, ud, why,
                                          why_cap);
}

static void vt_close(void *ctx) {
    sr_redis_adapter_close(ctx);
}

static int vt_health(void *ctx, char *reason, size_t cap) {
    return sr_redis_adapter_health(ctx, reason, cap);
}

static size_t vt_stats_json(void *ctx, char *out, size_t cap) {
    return sr_redis_adapter_stats_json(ctx, out, cap);
}

static int vt_sequence_next(void *ctx, const char *key, const char *epoch, sr_sequence_fn done,
                            void *ud) {
    return sr_redis_adapter_sequence_next(ctx, key, epoch, done, ud);
}

static int vt_publish_sequenced(void *ctx, const char *const *rooms, size_t n_rooms,
                                const sr_message *msg, const char *meta, size_t meta_len,
                                const char *key, const char *epoch, sr_sequence_fn done, void *ud) {
    return sr_redis_adapter_publish_sequenced(ctx, rooms, n_rooms, msg, meta, meta_len, key, epoch,
                                              done, ud);
}

static size_t vt_metrics_text(void *ctx, char *out, size_t cap) {
    return sr_redis_adapter_metrics_text(ctx, out, cap);
}

static void vt_presence_set(void *ctx, const char *room, uint32_t count, const char *user,
                            int delta) {
    sr_rpresence_set(((sr_redis_adapter *)ctx)->presence, room, count, user, delta);
}

static int vt_presence_read(void *ctx, const char *room, const sr_presence_query *q,
                            sr_presence_fn fn, void *ud) {
    return sr_rpresence_read(((sr_redis_adapter *)ctx)->presence, room, q, fn, ud);
}

static int vt_presence_rooms(void *ctx, const char *after, unsigned limit, sr_presence_names_fn fn,
                             void *ud) {
    return sr_rpresence_rooms(((sr_redis_adapter *)ctx)->presence, after, limit, fn, ud);
}

void sr_redis_adapter_on_presence(sr_redis_adapter *a, sr_redis_presence_fn fn, void *ud) {
    sr_rpresence_on_event(a->presence, fn, ud);
}

void sr_redis_adapter_vtable(sr_redis_adapter *a, sr_adapter *out) {
    memset(out, 0, sizeof *out);
    out->ctx = a;
    out->name = "redis";
    out->subscribe = vt_subscribe;
    out->unsubscribe = vt_unsubscribe;
    out->publish = vt_publish;
    /* cluster mode publishes through per-shard connections without a
     * per-command answer: the server then answers from publish's result */
    out->publish_acked = a->cluster ? NULL : vt_publish_acked;
    out->close = vt_close;
    out->health = vt_health;
    out->stats_json = vt_stats_json;
    /* cluster mode: one script cannot INCR a key and PUBLISH to rooms of
     * other slots; without these the server answers SR_EADAPTER */
    out->sequence_next = a->cluster ? NULL : vt_sequence_next;
    out->publish_sequenced = a->cluster ? NULL : vt_publish_sequenced;
    out->metrics_text = vt_metrics_text;
    sr_redis_history_vtable(a, out); /* resume history (history.c) */
    out->presence_set = a->presence ? vt_presence_set : NULL;
    out->presence_read = a->presence ? vt_presence_read : NULL;
    out->presence_rooms = a->presence ? vt_presence_rooms : NULL;
}
