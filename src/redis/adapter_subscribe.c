/* SPDX-License-Identifier: MIT */
/*
 * adapter_subscribe.c: the Redis adapter's subscriptions (classic mode:
 * the set of wanted room channels on the subscriber, subs.c; cluster mode:
 * cluster.c) and their recovery. After the subscriber (re)connects, subs.c
 * subscribes every wanted channel again; a room channel confirmed again
 * after a loss is reported to the server (recovered hook), which fills or
 * warns its streams (server/recover.c). State changes (connected, lost,
 * auth refused, resubscribed, canary timeout) are logged once each by
 * transitions.c, per shard in cluster mode.
 */
#include <stdlib.h>
#include <string.h>

#include "redis/adapter_int.h"
#include "redis/canary.h"
#include "redis/cluster.h"

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

/* Channels Redis confirms on the subscriber, the canary's left out. */
uint64_t sr_redis_adapter_room_channels_confirmed(const sr_redis_adapter *a) {
    size_t n = sr_rsubs_confirmed_count(a->subs);
    if (a->canary && sr_canary_confirmed(a->canary) && n > 0) n--;
    return n;
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

void sr_redis_adapter_on_subs_recovered(void *ud, const char *channel, size_t len,
                                        uint64_t lost_ms) {
    sr_redis_adapter_channel_recovered(ud, channel, len, lost_ms);
}

void sr_redis_adapter_on_sub_up(void *ud, sr_rconn *c) {
    sr_redis_adapter *a = ud;
    if (sr_rconn_up_count(c) > 1) a->n.reconnects++;
    sr_rsubs_on_up(a->subs);
    sr_redis_transition_up(a, c);
}

void sr_redis_adapter_on_sub_down(void *ud, sr_rconn *c, const char *err) {
    sr_redis_adapter *a = ud;
    sr_rsubs_on_down(a->subs);
    if (a->canary) sr_canary_on_down(a->canary);
    a->n.subscribed = 0;
    sr_redis_transition_down(a, c, err);
}
