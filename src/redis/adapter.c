/* SPDX-License-Identifier: MIT */
/*
 * adapter.c: the Redis Pub/Sub adapter object (see adapter.h): its
 * options, creating it (the publisher and subscriber connections, their
 * TLS, the canary, presence and, in cluster mode, the shards), closing and
 * freeing it, health, the stats JSON and the sr_adapter vtable. The rest
 * of the adapter is in the files that share adapter_int.h:
 * adapter_publish.c (the publish side: envelope, PUBLISH, outbox,
 * back-pressure, publish_acked), adapter_receive.c (the receive side:
 * push callback, envelope checks, echo drop, deliver) and
 * adapter_subscribe.c (subscriptions and their recovery after a
 * reconnect).
 *
 * A close from inside deliver (a->delivering) only marks the adapter;
 * adapter_receive.c frees it once deliver returned.
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
    sr_rconn_callbacks pub_cbs = {sr_redis_adapter_on_pub_up, sr_redis_adapter_on_pub_down, NULL,
                                  a};
    if ((rc = sr_rconn_new(&a->pub, loop, &co, &pub_cbs)) != 0) goto fail;
    sr_rconn_on_drain(a->pub, sr_redis_adapter_on_pub_drain);
    co.name = "subscriber";
    co.pubsub = 1;
    sr_rconn_callbacks sub_cbs = {sr_redis_adapter_on_sub_up, sr_redis_adapter_on_sub_down,
                                  sr_redis_adapter_on_sub_push, a};
    if ((rc = sr_rconn_new(&a->sub, loop, &co, &sub_cbs)) != 0) goto fail;
    if ((rc = sr_rsubs_new(&a->subs, loop, a->sub)) != 0) goto fail;
    sr_rsubs_on_recovered(a->subs, sr_redis_adapter_on_subs_recovered, a);
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

void sr_redis_adapter_free(sr_redis_adapter *a) {
    sr_canary_free(a->canary);
    sr_rcluster_free(a->cluster);
    sr_rsubs_free(a->subs);
    while (a->ob_len > 0) sr_redis_adapter_outbox_drop_oldest(a);
    free(a->outbox);
    for (parked_publish *p = a->parked, *next; p; p = next) { /* close told their callers */
        next = p->next;
        sr_redis_adapter_parked_free(p);
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
    sr_redis_adapter_park_flush_down(a,
                                     "the redis adapter closed before the publish could be sent");
    if (a->pub) sr_rconn_close(a->pub);
    if (a->sub) sr_rconn_close(a->sub);
    if (a->cluster) sr_rcluster_close(a->cluster);
    if (a->delivering) a->free_later = 1; /* freed when deliver returns */
    else sr_redis_adapter_free(a);
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
    char seq[160] = "";
    int sl = 0;
    if (n->sequenced || n->sequence_failures)
        sl = snprintf(seq, sizeof seq, "\"sequenced\":%llu,\"sequence_failures\":%llu,",
                      (unsigned long long)n->sequenced, (unsigned long long)n->sequence_failures);
    if (n->presence_events && sl >= 0 && (size_t)sl < sizeof seq) /* likewise, once one came */
        snprintf(seq + sl, sizeof seq - (size_t)sl, "\"presence_events\":%llu,",
                 (unsigned long long)n->presence_events);
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
                                     : sr_redis_adapter_room_channels_confirmed(a);
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
