/* SPDX-License-Identifier: MIT */
/*
 * canary.c: the liveness canary (see canary.h).
 *
 * Two timers: `tick` repeats every interval and sends a probe when none is
 * in flight; `deadline` is started with each probe and, if the probe has
 * not come back when it fires, drops the subscriber. A probe's body is its
 * number, so a late probe from before a reconnect is recognised as stale
 * and ignored. The reply to the PUBLISH only matters when it is an error
 * (SPUBLISH got MOVED, say): the probe can then never arrive, so it is
 * forgotten rather than counted against the subscriber.
 */
#include "redis/canary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sserooms.h"

struct sr_canary {
    uv_loop_t *loop;
    sr_rconn *pub, *sub;
    int sharded;
    uint32_t interval_ms, timeout_ms;
    uv_timer_t tick, deadline;
    int open_handles;
    int closed;
    char *channel;
    size_t channel_len;
    int confirmed; /* the subscriber confirmed the channel */
    uint64_t next_seq;
    uint64_t waiting; /* the probe in flight, 0 if none */
    uint64_t sent_at; /* uv_now of its PUBLISH */
    sr_canary_stats st;
};

static void on_deadline(uv_timer_t *h) {
    sr_canary *k = h->data;
    if (k->closed || !k->waiting) return;
    k->waiting = 0;
    k->confirmed = 0;
    k->st.timeouts++;
    char why[160];
    snprintf(why, sizeof why, "liveness canary: no message back within %u ms", k->timeout_ms);
    sr_rconn_drop(k->sub, why); /* its on_down comes back to sr_canary_on_down */
}

static void on_probe_reply(void *ud, redisReply *reply, const char *err) {
    sr_canary *k = ud;
    if (!err || k->closed || !k->waiting) return;
    /* The probe cannot arrive (refused, or the publisher failed): forget it. */
    k->waiting = 0;
    uv_timer_stop(&k->deadline);
}

static void on_tick(uv_timer_t *h) {
    sr_canary *k = h->data;
    if (k->closed || k->waiting || !k->confirmed || !k->channel) return;
    if (sr_rconn_get_state(k->pub) != SR_RCONN_UP || sr_rconn_get_state(k->sub) != SR_RCONN_UP)
        return;
    char body[24];
    uint64_t seq = ++k->next_seq;
    int n = snprintf(body, sizeof body, "%llu", (unsigned long long)seq);
    const char *argv[3] = {k->sharded ? "SPUBLISH" : "PUBLISH", k->channel, body};
    size_t lens[3] = {strlen(argv[0]), k->channel_len, (size_t)n};
    if (sr_rconn_command(k->pub, 3, argv, lens, on_probe_reply, k) != 0) return;
    k->waiting = seq;
    k->sent_at = uv_now(k->loop);
    k->st.probes++;
    uv_timer_start(&k->deadline, on_deadline, k->timeout_ms, 0);
}

sr_canary *sr_canary_new(uv_loop_t *loop, sr_rconn *pub, sr_rconn *sub, int sharded,
                         uint32_t interval_ms, uint32_t timeout_ms) {
    sr_canary *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->loop = loop;
    k->pub = pub;
    k->sub = sub;
    k->sharded = sharded;
    k->interval_ms = interval_ms;
    k->timeout_ms = timeout_ms ? timeout_ms : 5000;
    uv_timer_init(loop, &k->tick);
    uv_timer_init(loop, &k->deadline);
    k->tick.data = k->deadline.data = k;
    k->open_handles = 2;
    if (interval_ms) uv_timer_start(&k->tick, on_tick, interval_ms, interval_ms);
    return k;
}

static void on_closed(uv_handle_t *h) {
    sr_canary *k = h->data;
    if (--k->open_handles == 0) {
        free(k->channel);
        free(k);
    }
}

void sr_canary_free(sr_canary *k) {
    if (!k || k->closed) return;
    k->closed = 1;
    uv_close((uv_handle_t *)&k->tick, on_closed);
    uv_close((uv_handle_t *)&k->deadline, on_closed);
}

static void forget_probe(sr_canary *k) {
    k->waiting = 0;
    uv_timer_stop(&k->deadline);
}

int sr_canary_set_channel(sr_canary *k, const char *channel, size_t len) {
    char *ch = malloc(len + 1);
    if (!ch) return SR_ENOMEM;
    memcpy(ch, channel, len);
    ch[len] = '\0';
    free(k->channel);
    k->channel = ch;
    k->channel_len = len;
    k->confirmed = 0;
    forget_probe(k);
    return 0;
}

const char *sr_canary_channel(const sr_canary *k) {
    return k->channel ? k->channel : "";
}

int sr_canary_is_channel(const sr_canary *k, const char *channel, size_t len) {
    return k->channel && len == k->channel_len && memcmp(channel, k->channel, len) == 0;
}

void sr_canary_on_message(sr_canary *k, const char *body, size_t len) {
    if (k->closed || !k->waiting) return;
    char want[24];
    int n = snprintf(want, sizeof want, "%llu", (unsigned long long)k->waiting);
    if ((size_t)n != len || memcmp(body, want, len) != 0) return; /* stale or foreign */
    k->st.lag_ms = uv_now(k->loop) - k->sent_at;
    k->st.returned++;
    forget_probe(k);
}

void sr_canary_on_confirm(sr_canary *k, const redisReply *push) {
    if (push->type != REDIS_REPLY_ARRAY || push->elements < 2) return;
    const redisReply *kind = push->element[0], *ch = push->element[1];
    if (kind->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING) return;
    if (!sr_canary_is_channel(k, ch->str, ch->len)) return;
    const char *sub = k->sharded ? "ssubscribe" : "subscribe";
    const char *unsub = k->sharded ? "sunsubscribe" : "unsubscribe";
    if (kind->len == strlen(sub) && memcmp(kind->str, sub, kind->len) == 0) {
        k->confirmed = 1;
    } else if (kind->len == strlen(unsub) && memcmp(kind->str, unsub, kind->len) == 0) {
        k->confirmed = 0;
        forget_probe(k);
    }
}

void sr_canary_on_down(sr_canary *k) {
    k->confirmed = 0;
    forget_probe(k);
}

int sr_canary_confirmed(const sr_canary *k) {
    return k->confirmed;
}

void sr_canary_get_stats(const sr_canary *k, sr_canary_stats *out) {
    *out = k->st;
    out->waiting_ms = k->waiting ? uv_now(k->loop) - k->sent_at : 0;
}
