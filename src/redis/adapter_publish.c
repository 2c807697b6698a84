/* SPDX-License-Identifier: MIT */
/*
 * adapter_publish.c: the Redis adapter's publish side (classic mode; the
 * cluster mode's publishes go through cluster.c).
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
 * After the subscriber (re)connects, publishes wait (outbox or failure)
 * until Redis has confirmed every subscription again
 * (sr_redis_adapter_can_publish), so that this node's streams do not miss
 * what it publishes itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/adapter_int.h"
#include "redis/cluster.h"
#include "redis/envelope.h"
#include "redis/history.h"
#include "redis/presence.h"

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

void sr_redis_adapter_outbox_drop_oldest(sr_redis_adapter *a) {
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
        sr_redis_adapter_outbox_drop_oldest(a);
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

void sr_redis_adapter_outbox_replay(sr_redis_adapter *a) {
    while (a->ob_len > 0 && sr_redis_adapter_can_publish(a)) {
        outbox_item *it = &a->outbox[a->ob_head];
        if (send_publish(a, it->channel, it->channel_len, it->body->data, it->body->len) != 0)
            break; /* output full: the rest waits for the next reconnect */
        sr_redis_adapter_outbox_drop_oldest(a);
    }
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
    if (up) sr_redis_adapter_outbox_replay(a); /* keep order with anything still held */
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

void sr_redis_adapter_parked_free(parked_publish *p) {
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
    sr_redis_adapter_parked_free(p);
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
        sr_redis_adapter_parked_free(p);
        if (call) acked_release(call); /* its sending hold */
        if (a->closed) break;
    }
    a->draining = 0;
}

/* The publisher went down (or the adapter closes): what waits goes to the
 * outbox when there is one, else fails. */
void sr_redis_adapter_park_flush_down(sr_redis_adapter *a, const char *why) {
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
        sr_redis_adapter_parked_free(p);
        if (call) acked_release(call);
    }
    a->n.outbox = a->ob_len;
}

void sr_redis_adapter_on_pub_drain(void *ud, sr_rconn *c) {
    (void)c;
    park_drain(ud);
}

void sr_redis_adapter_on_pub_down(void *ud, sr_rconn *c, const char *err) {
    sr_redis_history_on_pub(ud, 0); /* fetches waiting for the publisher fail */
    sr_redis_adapter_park_flush_down(ud,
                                     "redis became unreachable before the publish could be sent");
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
    if (up) sr_redis_adapter_outbox_replay(a); /* keep order with anything still held */
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

void sr_redis_adapter_on_pub_up(void *ud, sr_rconn *c) {
    sr_redis_adapter *a = ud;
    if (sr_rconn_up_count(c) > 1) a->n.reconnects++;
    sr_redis_history_on_pub(a, 1);
    sr_rpresence_on_up(a->presence);
    sr_redis_adapter_outbox_replay(a); /* when the subscriber is also back and resubscribed */
    a->n.outbox = a->ob_len;
    park_drain(a);
    sr_redis_transition_up(a, c);
}
