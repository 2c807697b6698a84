/* SPDX-License-Identifier: MIT */
/*
 * adapter_receive.c: the Redis adapter's receive side. Receiving runs on
 * the subscriber's push callback (classic mode; cluster.c hands its
 * shards' messages to the same path): channel -> room (the prefix cut
 * off), payload -> envelope checks, then our own echo is dropped and the
 * rest is handed to deliver with the envelope's de-duplication key.
 * Presence events ("<prefix>{room}..." channels) go to presence.c, the
 * canary's probes to canary.c, subscription confirmations to
 * adapter_subscribe.c's set. Every drop is counted by reason; nothing a
 * publisher sends can crash the node. A close from inside deliver frees
 * the adapter here, once deliver returned.
 */
#include <string.h>

#include "redis/adapter_int.h"
#include "redis/canary.h"
#include "redis/envelope.h"
#include "redis/presence.h"

/* ------------------------------------------------------------ receiving */

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
        int r = sr_rpresence_on_message(a->presence, channel->str, (size_t)channel->len, body->str,
                                        (size_t)body->len);
        a->delivering--;
        if (r == SR_RPRESENCE_EVENT) a->n.presence_events++;
        else if (r == SR_RPRESENCE_MALFORMED) a->n.bad_fields++;
        else a->n.foreign_channel++; /* not a channel we subscribe, or presence is off */
        if (a->free_later && !a->delivering) {
            sr_redis_adapter_free(a);
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
        sr_redis_adapter_free(a); /* deliver closed the adapter */
        return 1;
    }
    return 0;
}

void sr_redis_adapter_on_sub_push(void *ud, sr_rconn *c, redisReply *push) {
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
            sr_redis_adapter_outbox_replay(a); /* held until the resubscribe was confirmed */
            a->n.outbox = a->ob_len;
        }
    }
    a->n.subscribed = sr_redis_adapter_room_channels_confirmed(a);
}
