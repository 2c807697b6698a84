/* SPDX-License-Identifier: MIT */
/*
 * cluster.c: the cluster mode's shards (see cluster.h), all that is done
 * per shard: its connections and subscription set, SPUBLISH with MOVED/ASK
 * redirections, received smessages, and the shards' state, health, /stats
 * and /metrics. The slot map and its refreshes (which shards there are)
 * live in cluster_map.c.
 *
 * A publish carries its own small context (channel, shared body, hops) so
 * a redirected SPUBLISH can be sent again to the node Redis named. A shard
 * is only freed by a map refresh (a master that left) or by close, both
 * outside its own connections' callbacks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/cluster_int.h"
#include "redis/presence.h"
#include "json/json.h"

#define MAX_HOPS 3

/* ------------------------------------------------------------ lookup */

rshard *sr_rcluster_owner(const sr_rcluster *cl, const char *channel, size_t len) {
    if (!cl->have_map) return NULL;
    uint16_t m = cl->map.owner[sr_keyslot(channel, len)];
    return m == SR_SLOT_NONE || m >= cl->n_shards ? NULL : cl->shards[m];
}

rshard *sr_rcluster_find_shard(const sr_rcluster *cl, const char *host, int port) {
    for (size_t i = 0; i < cl->n_shards; i++)
        if (cl->shards[i]->port == port && strcmp(cl->shards[i]->host, host) == 0)
            return cl->shards[i];
    return NULL;
}

/* ------------------------------------------------------------ receiving */

static void update_subscribed(sr_rcluster *cl) {
    cl->a->n.subscribed = sr_rcluster_subscribed(cl);
}

static void on_sub_push(void *ud, sr_rconn *c, redisReply *push) {
    rshard *s = ud;
    sr_rcluster *cl = s->cl;
    if (cl->closed) return;
    const redisReply *kind = push->element[0];
    if (kind->len == 8 && memcmp(kind->str, "smessage", 8) == 0) {
        const redisReply *ch = push->element[1], *body = push->element[2];
        if (ch->type == REDIS_REPLY_STRING && body->type == REDIS_REPLY_STRING &&
            sr_canary_is_channel(s->canary, ch->str, ch->len)) {
            sr_canary_on_message(s->canary, body->str, body->len);
            return;
        }
        s->received++;
        sr_redis_adapter_on_message(cl->a, ch, body); /* may free everything: return */
        return;
    }
    sr_rsubs_on_push(s->subs, push);
    sr_canary_on_confirm(s->canary, push);
    update_subscribed(cl);
    sr_redis_shard_transition_subscribed(cl->a, &s->log_state, s->addr, s->sub, s->subs);
}

/* A sunsubscribe nobody asked for: the channel's slot moved away. */
static void on_sub_unsolicited(void *ud, sr_rconn *c, redisReply *push) {
    rshard *s = ud;
    sr_rcluster *cl = s->cl;
    if (cl->closed) return;
    sr_rsubs_on_push(s->subs, push);
    sr_canary_on_confirm(s->canary, push);
    const redisReply *ch = push->element[1];
    if (ch->type == REDIS_REPLY_STRING) sr_rsubs_forget(s->subs, ch->str, ch->len);
    update_subscribed(cl);
    sr_rcluster_request_refresh(cl, 0);
}

static void on_subs_error(void *ud, const char *err) {
    rshard *s = ud;
    if (strncmp(err, "MOVED ", 6) == 0) s->cl->moved++;
    sr_rcluster_request_refresh(s->cl, 0);
}

/* A room channel confirmed again on this shard after a loss (the shard's
 * connection, or the slot moved here from a failed or old owner). */
static void on_subs_recovered(void *ud, const char *channel, size_t len, uint64_t lost_ms) {
    rshard *s = ud;
    if (s->cl->closed || sr_canary_is_channel(s->canary, channel, len)) return;
    sr_redis_adapter_channel_recovered(s->cl->a, channel, len, lost_ms);
}

/* The shard's state changes go to the log once each (transitions.c). */
static void log_up(rshard *s, sr_rconn *c) {
    sr_redis_shard_transition_up(s->cl->a, &s->log_state, s->addr, s->pub, s->sub, s->subs, c);
}

static void on_sub_up(void *ud, sr_rconn *c) {
    rshard *s = ud;
    if (sr_rconn_up_count(c) > 1) s->cl->a->n.reconnects++;
    sr_rsubs_on_up(s->subs);
    log_up(s, c);
}

static void on_down(void *ud, sr_rconn *c, const char *err) {
    rshard *s = ud;
    sr_redis_shard_transition_down(s->cl->a, &s->log_state, s->addr, s->pub, c, err);
    if (c == s->sub) {
        sr_rsubs_on_down(s->subs);
        sr_canary_on_down(s->canary);
        update_subscribed(s->cl);
    }
    /* a master that died may have been replaced: look again soon */
    sr_rcluster_request_refresh(s->cl, 0);
}

static void on_pub_up(void *ud, sr_rconn *c) {
    rshard *s = ud;
    if (sr_rconn_up_count(c) > 1) s->cl->a->n.reconnects++;
    sr_rpresence_on_up(s->cl->a->presence); /* a failover may have lost presence */
    log_up(s, c);
}

/* ------------------------------------------------------------ shards */

rshard *sr_rcluster_shard_new(sr_rcluster *cl, const char *host, int port) {
    rshard *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cl = cl;
    s->port = port;
    s->host = strdup(host);
    if (!s->host) goto fail;
    snprintf(s->addr, sizeof s->addr, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    sr_redis_url u = cl->seeds[0];
    u.host = s->host;
    u.port = port;
    sr_rconn_options co = cl->co;
    co.url = &u;
    co.name = "publisher";
    co.pubsub = 0;
    sr_rconn_callbacks pub_cbs = {on_pub_up, on_down, NULL, s};
    if (sr_rconn_new(&s->pub, cl->loop, &co, &pub_cbs) != 0) goto fail;
    co.name = "subscriber";
    co.pubsub = 1;
    sr_rconn_callbacks sub_cbs = {on_sub_up, on_down, on_sub_push, s};
    if (sr_rconn_new(&s->sub, cl->loop, &co, &sub_cbs) != 0) goto fail;
    sr_rconn_on_unsolicited(s->sub, on_sub_unsolicited);
    if (sr_rsubs_new(&s->subs, cl->loop, s->sub) != 0) goto fail;
    sr_rsubs_set_sharded(s->subs, on_subs_error, s);
    sr_rsubs_on_recovered(s->subs, on_subs_recovered, s);
    s->canary = sr_canary_new(cl->loop, s->pub, s->sub, 1, cl->canary_interval_ms,
                              cl->canary_timeout_ms);
    if (!s->canary) goto fail;
    sr_rconn_start(s->pub);
    sr_rconn_start(s->sub);
    return s;
fail:
    sr_rcluster_shard_free(s);
    return NULL;
}

void sr_rcluster_shard_free(rshard *s) {
    if (!s) return;
    for (size_t i = 0; i < SR_SLOTS; i++)
        if (s->cl->first_hop[i] == s) s->cl->first_hop[i] = NULL;
    if (s->pub) sr_rconn_close(s->pub);
    if (s->sub) sr_rconn_close(s->sub);
    sr_canary_free(s->canary);
    sr_rsubs_free(s->subs);
    free(s->host);
    free(s);
}

/* The shard's canary channel: sserooms:canary:<node id>:{<n>}, the first
 * n whose slot the shard owns (hash tag: only n decides the slot). */
void sr_rcluster_place_canary(sr_rcluster *cl, rshard *s) {
    const char *cur = sr_canary_channel(s->canary);
    size_t cur_len = strlen(cur);
    if (cur_len && sr_rcluster_owner(cl, cur, cur_len) == s) return;
    char name[512];
    for (unsigned n = 0; n < 1000000; n++) {
        int len = snprintf(name, sizeof name, "sserooms:canary:%.400s:{%u}", cl->a->node_id, n);
        if (len < 0 || (size_t)len >= sizeof name) return;
        if (sr_rcluster_owner(cl, name, (size_t)len) != s) continue;
        if (cur_len) sr_rsubs_set(s->subs, cur, cur_len, 0);
        if (sr_canary_set_channel(s->canary, name, (size_t)len) == 0)
            sr_rsubs_set(s->subs, name, (size_t)len, 1);
        return;
    }
}

/* ------------------------------------------------------------ publishing */

typedef struct publish_ctx {
    sr_rcluster *cl;
    payload *body;
    unsigned hops;
    unsigned slot;
    size_t channel_len;
    char channel[];
} publish_ctx;

void sr_rcluster_payload_unref(payload *p) {
    if (p && --p->refs == 0) free(p);
}

static int send_spublish(rshard *s, publish_ctx *ctx, int asking);

static void on_spublish_reply(void *ud, redisReply *reply, const char *err) {
    publish_ctx *ctx = ud;
    sr_rcluster *cl = ctx->cl;
    sr_redis_adapter *a = cl->a;
    rshard *owner = cl->closed ? NULL : sr_rcluster_owner(cl, ctx->channel, ctx->channel_len);
    if (!err) {
        a->n.published++;
        if (owner) owner->published++;
        goto done;
    }
    if (!reply && !cl->closed) sr_rcluster_request_refresh(cl, 0); /* the shard failed */
    int ask = 0, port = 0;
    unsigned slot = 0;
    char host[256];
    if (reply && !cl->closed && ctx->hops < MAX_HOPS &&
        sr_slot_parse_redirect(err, &ask, &slot, host, sizeof host, &port)) {
        if (ask) cl->asked++;
        else {
            cl->moved++;
            sr_rcluster_request_refresh(cl, 0);
        }
        rshard *to = sr_rcluster_find_shard(cl, host, port);
        ctx->hops++;
        if (to && send_spublish(to, ctx, ask) == 0) return; /* ctx lives on */
    }
    a->n.publish_failures++;
    if (owner) owner->publish_failures++;
done:
    if (cl->inflight[ctx->slot]) cl->inflight[ctx->slot]--;
    sr_rcluster_payload_unref(ctx->body);
    free(ctx);
}

static int send_spublish(rshard *s, publish_ctx *ctx, int asking) {
    if (sr_rconn_get_state(s->pub) != SR_RCONN_UP) return SR_EADAPTER;
    if (asking) {
        static const char *const argv[1] = {"ASKING"};
        static const size_t lens[1] = {6};
        int rc = sr_rconn_command(s->pub, 1, argv, lens, NULL, NULL);
        if (rc) return rc;
    }
    const char *argv[3] = {"SPUBLISH", ctx->channel, ctx->body->data};
    size_t lens[3] = {8, ctx->channel_len, ctx->body->len};
    return sr_rconn_command(s->pub, 3, argv, lens, on_spublish_reply, ctx);
}

int sr_rcluster_publish(sr_rcluster *cl, const char *channel, size_t len, payload **shared,
                        const char *body, size_t body_len) {
    unsigned slot = sr_keyslot(channel, len);
    rshard *s = sr_rcluster_owner(cl, channel, len);
    if (!s) {
        sr_rcluster_request_refresh(cl, 0);
        return SR_EADAPTER;
    }
    /* behind earlier messages of the slot still in flight (see cluster_int.h) */
    rshard *prev = cl->inflight[slot] ? cl->first_hop[slot] : NULL;
    if (prev && sr_rconn_get_state(prev->pub) == SR_RCONN_UP) s = prev;
    if (!*shared && (*shared = malloc(sizeof **shared + body_len + 1))) {
        (*shared)->refs = 1; /* the caller's */
        (*shared)->len = body_len;
        memcpy((*shared)->data, body, body_len);
        (*shared)->data[body_len] = '\0';
    }
    publish_ctx *ctx = *shared ? malloc(sizeof *ctx + len + 1) : NULL;
    if (!ctx) {
        s->publish_failures++;
        return SR_ENOMEM;
    }
    payload *p = *shared;
    p->refs++;
    ctx->cl = cl;
    ctx->body = p;
    ctx->hops = 0;
    ctx->slot = slot;
    ctx->channel_len = len;
    memcpy(ctx->channel, channel, len);
    ctx->channel[len] = '\0';
    int rc = send_spublish(s, ctx, 0);
    if (rc) {
        s->publish_failures++;
        sr_rcluster_payload_unref(p);
        free(ctx);
        return rc;
    }
    cl->inflight[slot]++;
    cl->first_hop[slot] = s;
    return 0;
}

int sr_rcluster_set_wanted(sr_rcluster *cl, const char *channel, size_t len, int wanted) {
    int rc = sr_rsubs_set(cl->all, channel, len, wanted);
    if (rc) return rc;
    rshard *s = sr_rcluster_owner(cl, channel, len);
    if (s && (rc = sr_rsubs_set(s->subs, channel, len, wanted)) != 0 && wanted)
        sr_rsubs_set(cl->all, channel, len, 0);
    return rc;
}

/* ------------------------------------------------------------ life cycle */

/* Splits seeds on commas into cl->seeds. */
static int parse_seeds(sr_rcluster *cl, const char *seeds, char *err, size_t errcap) {
    size_t cap = 1;
    for (const char *p = seeds; *p; p++) cap += *p == ',';
    cl->seeds = calloc(cap, sizeof *cl->seeds);
    if (!cl->seeds) return SR_ENOMEM;
    const char *p = seeds;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t')) p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
        if (n) {
            char *one = malloc(n + 9);
            if (!one) return SR_ENOMEM;
            int has_scheme = memmem(p, n, "://", 3) != NULL;
            snprintf(one, n + 9, "%s%.*s", has_scheme ? "" : "redis://", (int)n, p);
            sr_redis_url *u = &cl->seeds[cl->n_seeds];
            int rc = sr_redis_url_parse(one, u, err, errcap);
            free(one);
            if (rc) return rc;
            cl->n_seeds++;
            if (cl->n_seeds > 1 && (u->password || u->user)) {
                /* one password for all nodes, and logs mask only the first URL's */
                snprintf(err, errcap,
                         "redis cluster: give user and password on the first seed only");
                return SR_EINVAL;
            }
            if (u->is_unix || u->db) {
                snprintf(err, errcap, "redis cluster: %s",
                         u->is_unix
                             ? "a seed is a Unix socket (cluster nodes are reached over TCP)"
                             : "a seed names a database (Redis Cluster has only database 0)");
                return SR_EINVAL;
            }
        }
        if (!end) break;
        p = end + 1;
    }
    if (!cl->n_seeds) {
        snprintf(err, errcap, "redis cluster: no seed node given");
        return SR_EINVAL;
    }
    return 0;
}

int sr_rcluster_new(sr_rcluster **out, sr_redis_adapter *a, const char *seeds,
                    const sr_rconn_options *co, uint32_t canary_interval_ms,
                    uint32_t canary_timeout_ms, char *err, size_t errcap) {
    *out = NULL;
    sr_rcluster *cl = calloc(1, sizeof *cl);
    if (!cl) return SR_ENOMEM;
    cl->a = a;
    cl->loop = a->loop;
    cl->co = *co;
    cl->canary_interval_ms = canary_interval_ms;
    cl->canary_timeout_ms = canary_timeout_ms;
    for (size_t i = 0; i < SR_SLOTS; i++) cl->map.owner[i] = SR_SLOT_NONE;
    int rc = parse_seeds(cl, seeds ? seeds : "", err, errcap);
    if (rc == 0) rc = sr_rsubs_new(&cl->all, cl->loop, NULL);
    if (rc == 0) rc = sr_rcluster_map_init(cl);
    if (rc) {
        if (rc == SR_ENOMEM && err && errcap) snprintf(err, errcap, "out of memory");
        sr_rcluster_close(cl);
        sr_rcluster_free(cl);
        return rc;
    }
    *out = cl;
    return 0;
}

void sr_rcluster_close(sr_rcluster *cl) {
    if (!cl || cl->closed) return;
    cl->closed = 1;
    for (size_t i = 0; i < cl->n_shards; i++) {
        sr_rconn_close(cl->shards[i]->pub);
        sr_rconn_close(cl->shards[i]->sub);
    }
    sr_rcluster_map_close(cl);
}

void sr_rcluster_free(sr_rcluster *cl) {
    if (!cl) return;
    for (size_t i = 0; i < cl->n_shards; i++) sr_rcluster_shard_free(cl->shards[i]);
    free(cl->shards);
    sr_slot_map_free(&cl->map);
    sr_rsubs_free(cl->all);
    for (size_t i = 0; i < cl->n_seeds; i++) sr_redis_url_free(&cl->seeds[i]);
    free(cl->seeds);
    /* the timers of cluster_map.c free cl once closed (or now, if never opened) */
    cl->freed = 1;
    if (cl->open_handles == 0) free(cl);
}

/* ------------------------------------------------------------ state, stats */

static int shard_up(const rshard *s) {
    return sr_rconn_get_state(s->pub) == SR_RCONN_UP && sr_rconn_get_state(s->sub) == SR_RCONN_UP;
}

const char *sr_rcluster_state(const sr_rcluster *cl) {
    if (!cl->have_map) return "connecting";
    int connecting = 0, down = cl->map.covered < SR_SLOTS || cl->n_shards == 0;
    for (size_t i = 0; i < cl->n_shards; i++) {
        if (shard_up(cl->shards[i])) continue;
        if (sr_rconn_get_state(cl->shards[i]->pub) == SR_RCONN_CONNECTING ||
            sr_rconn_get_state(cl->shards[i]->sub) == SR_RCONN_CONNECTING)
            connecting = 1;
        else down = 1;
    }
    return down ? "down" : connecting ? "connecting" : "up";
}

int sr_rcluster_health(const sr_rcluster *cl, char *reason, size_t cap) {
    char tmp[2];
    if (!reason || !cap) {
        reason = tmp;
        cap = sizeof tmp;
    }
    reason[0] = '\0';
    if (!cl->have_map) {
        snprintf(reason, cap, "redis cluster: no slot map yet (%s)",
                 cl->last_error[0] ? cl->last_error : "asking the seed nodes");
        return 1;
    }
    for (size_t i = 0; i < cl->n_shards; i++) {
        const rshard *s = cl->shards[i];
        if (shard_up(s) && sr_rsubs_resyncing(s->subs)) {
            snprintf(reason, cap, "redis resubscribing: shard %s: %zu channels not confirmed yet",
                     s->addr, sr_rsubs_pending_count(s->subs));
            return 1;
        }
        if (shard_up(s)) continue;
        const sr_rconn *c = sr_rconn_get_state(s->pub) != SR_RCONN_UP ? s->pub : s->sub;
        const char *err = sr_rconn_last_error(c);
        if (*err) snprintf(reason, cap, "redis unreachable: shard %s: %s", s->addr, err);
        else snprintf(reason, cap, "redis connecting to shard %s", s->addr);
        return 1;
    }
    if (cl->map.covered < SR_SLOTS) {
        snprintf(reason, cap, "redis cluster: %u of %u slots have no master",
                 SR_SLOTS - cl->map.covered, SR_SLOTS);
        return 1;
    }
    return 0;
}

static uint64_t shard_subscribed(const rshard *s) {
    size_t n = sr_rsubs_confirmed_count(s->subs);
    /* the canary's channel is one of them once it is confirmed */
    if (sr_canary_confirmed(s->canary) && n > 0) n--;
    return n;
}

uint64_t sr_rcluster_subscribed(const sr_rcluster *cl) {
    uint64_t n = 0;
    for (size_t i = 0; i < cl->n_shards; i++) n += shard_subscribed(cl->shards[i]);
    return n;
}

void sr_rcluster_canary_totals(const sr_rcluster *cl, uint64_t *probes, uint64_t *timeouts,
                               uint64_t *lag_ms) {
    *probes = *timeouts = *lag_ms = 0;
    for (size_t i = 0; i < cl->n_shards; i++) {
        sr_canary_stats st;
        sr_canary_get_stats(cl->shards[i]->canary, &st);
        *probes += st.probes;
        *timeouts += st.timeouts;
        uint64_t lag = st.waiting_ms > st.lag_ms ? st.waiting_ms : st.lag_ms;
        if (lag > *lag_ms) *lag_ms = lag;
    }
}

void sr_rcluster_stats_json(const sr_rcluster *cl, sr_buf *b) {
    sr_buf_printf(b,
                  ",\"cluster\":{\"slots_covered\":%u,\"refreshes\":%llu,\"refresh_failures\":%llu,"
                  "\"moved\":%llu,\"ask\":%llu,\"shards\":[",
                  cl->have_map ? cl->map.covered : 0, (unsigned long long)cl->refreshes,
                  (unsigned long long)cl->refresh_failures, (unsigned long long)cl->moved,
                  (unsigned long long)cl->asked);
    for (size_t i = 0; i < cl->n_shards; i++) {
        const rshard *s = cl->shards[i];
        sr_canary_stats st;
        sr_canary_get_stats(s->canary, &st);
        sr_buf_puts(b, i ? ",{\"addr\":" : "{\"addr\":");
        char q[700];
        size_t qn = sr_json_quote(s->addr, strlen(s->addr), q, sizeof q - 1);
        if (qn < sizeof q) sr_buf_append(b, q, qn);
        else sr_buf_puts(b, "\"\"");
        sr_buf_printf(b,
                      ",\"state\":\"%s\",\"slots\":%u,\"subscribed\":%llu,\"received\":%llu,"
                      "\"published\":%llu,\"publish_failures\":%llu,\"canary\":{\"lag_ms\":%llu,"
                      "\"waiting_ms\":%llu,\"probes\":%llu,\"timeouts\":%llu}}",
                      shard_up(s) ? "up" : "down", s->n_slots,
                      (unsigned long long)shard_subscribed(s), (unsigned long long)s->received,
                      (unsigned long long)s->published, (unsigned long long)s->publish_failures,
                      (unsigned long long)st.lag_ms, (unsigned long long)st.waiting_ms,
                      (unsigned long long)st.probes, (unsigned long long)st.timeouts);
    }
    sr_buf_puts(b, "]}");
}

static void shard_sample(sr_buf *b, const char *type, const char *name, const char *help,
                         const sr_rcluster *cl, uint64_t (*get)(const rshard *)) {
    sr_buf_printf(b, "# HELP sserooms_redis_shard_%s %s\n# TYPE sserooms_redis_shard_%s %s\n", name,
                  help, name, type);
    for (size_t i = 0; i < cl->n_shards; i++)
        sr_buf_printf(b, "sserooms_redis_shard_%s{shard=\"%s\"} %llu\n", name, cl->shards[i]->addr,
                      (unsigned long long)get(cl->shards[i]));
}

static uint64_t get_up(const rshard *s) {
    return (uint64_t)shard_up(s);
}
static uint64_t get_slots(const rshard *s) {
    return s->n_slots;
}
static uint64_t get_received(const rshard *s) {
    return s->received;
}
static uint64_t get_published(const rshard *s) {
    return s->published;
}
static uint64_t get_subscribed(const rshard *s) {
    return shard_subscribed(s);
}
static uint64_t get_lag(const rshard *s) {
    sr_canary_stats st;
    sr_canary_get_stats(s->canary, &st);
    return st.waiting_ms > st.lag_ms ? st.waiting_ms : st.lag_ms;
}
static uint64_t get_timeouts(const rshard *s) {
    sr_canary_stats st;
    sr_canary_get_stats(s->canary, &st);
    return st.timeouts;
}

void sr_rcluster_metrics_text(const sr_rcluster *cl, sr_buf *b) {
    sr_buf_printf(b,
                  "# HELP sserooms_redis_cluster_slots_covered Slots with a known master.\n"
                  "# TYPE sserooms_redis_cluster_slots_covered gauge\n"
                  "sserooms_redis_cluster_slots_covered %u\n"
                  "# HELP sserooms_redis_cluster_refreshes_total Slot map reads.\n"
                  "# TYPE sserooms_redis_cluster_refreshes_total counter\n"
                  "sserooms_redis_cluster_refreshes_total %llu\n"
                  "# HELP sserooms_redis_cluster_moved_total MOVED replies received.\n"
                  "# TYPE sserooms_redis_cluster_moved_total counter\n"
                  "sserooms_redis_cluster_moved_total %llu\n",
                  cl->have_map ? cl->map.covered : 0, (unsigned long long)cl->refreshes,
                  (unsigned long long)cl->moved);
    shard_sample(b, "gauge", "up", "1 when both connections of the shard are up.", cl, get_up);
    shard_sample(b, "gauge", "slots", "Slots the shard's master owns.", cl, get_slots);
    shard_sample(b, "gauge", "subscribed_channels", "Room channels the shard confirms.", cl,
                 get_subscribed);
    shard_sample(b, "counter", "received_total", "Room messages received from the shard.", cl,
                 get_received);
    shard_sample(b, "counter", "published_total", "SPUBLISH commands the shard acknowledged.", cl,
                 get_published);
    sr_buf_puts(b, "# HELP sserooms_redis_shard_canary_lag_seconds Liveness canary round trip (or "
                   "wait so far).\n# TYPE sserooms_redis_shard_canary_lag_seconds gauge\n");
    for (size_t i = 0; i < cl->n_shards; i++)
        sr_buf_printf(b, "sserooms_redis_shard_canary_lag_seconds{shard=\"%s\"} %.3f\n",
                      cl->shards[i]->addr, (double)get_lag(cl->shards[i]) / 1000.0);
    shard_sample(b, "counter", "canary_timeouts_total",
                 "Canary probes lost: the subscriber was rebuilt.", cl, get_timeouts);
}
