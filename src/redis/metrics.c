/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: the Redis adapter's Prometheus samples for GET /metrics:
 * connection state, reconnects, publishes and their failures, envelopes
 * received, delivered and dropped by reason, subscribed channels, the
 * liveness canary (lag in seconds: base units), and in cluster mode the per-shard samples
 * (cluster.c).
 */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "redis/adapter_int.h"
#include "redis/canary.h"
#include "redis/cluster.h"
#include "redis/presence.h"

static void sample(sr_buf *b, const char *type, const char *name, const char *help,
                   const char *labels, uint64_t v) {
    if (help)
        sr_buf_printf(b, "# HELP sserooms_redis_%s %s\n# TYPE sserooms_redis_%s %s\n", name, help,
                      name, type);
    sr_buf_printf(b, "sserooms_redis_%s%s %llu\n", name, labels ? labels : "",
                  (unsigned long long)v);
}

size_t sr_redis_adapter_metrics_text(sr_redis_adapter *a, char *out, size_t cap) {
    sr_redis_counters k;
    sr_redis_adapter_counters(a, &k);
    sr_buf b;
    sr_buf_init(&b);
    const char *state = sr_redis_adapter_state(a);
    sample(&b, "gauge", "up", "1 when both Redis connections are up.", NULL,
           strcmp(state, "up") == 0);
    sample(&b, "counter", "reconnects_total", "Times a Redis connection came back up.", NULL,
           k.reconnects);
    sample(&b, "counter", "tls_failures_total", "TLS handshakes with Redis refused (rediss://).",
           NULL, k.tls_failures);
    /* one room each: a broadcast to N rooms counts N here (and, when it
     * fails at once, 1 in sserooms_publish_failures_total) */
    sample(&b, "counter", "published_total",
           "Room publishes Redis acknowledged (a PUBLISH, or a history or sequence script's "
           "PUBLISH per room).",
           NULL, k.published);
    sample(&b, "counter", "publish_failures_total",
           "Room publishes that did not reach Redis: not sent, failed, or dropped from a full "
           "outbox (same unit as sserooms_redis_published_total).",
           NULL, k.publish_failures);
    sample(&b, "gauge", "outbox", "Publishes held until Redis is back.", NULL, k.outbox);
    sample(&b, "gauge", "subscribed_channels", "Channels Redis confirms on the subscriber.", NULL,
           k.subscribed);
    sample(&b, "counter", "envelopes_received_total", "Messages received on subscribed channels.",
           NULL, k.received);
    sample(&b, "counter", "envelopes_delivered_total", "Envelopes handed to local delivery.", NULL,
           k.delivered);
    sample(&b, "counter", "own_echo_total",
           "Envelopes from this node, dropped as already delivered.", NULL, k.own_echo);
    sample(&b, "counter", "presence_events_total",
           "Presence joins and leaves received on rooms' events channels.", NULL,
           k.presence_events);
    sample(&b, "counter", "envelopes_dropped_total", "Envelopes dropped, by reason.",
           "{reason=\"invalid_json\"}", k.invalid_json);
    sample(&b, "counter", "envelopes_dropped_total", NULL, "{reason=\"not_object\"}", k.not_object);
    sample(&b, "counter", "envelopes_dropped_total", NULL, "{reason=\"bad_version\"}",
           k.bad_version);
    sample(&b, "counter", "envelopes_dropped_total", NULL, "{reason=\"bad_fields\"}", k.bad_fields);
    sample(&b, "counter", "envelopes_dropped_total", NULL, "{reason=\"foreign_channel\"}",
           k.foreign_channel);
    sample(&b, "counter", "sequenced_total", "Ordered ids Redis assigned.", NULL, k.sequenced);
    sample(&b, "counter", "sequence_failures_total", "Sequenced calls that got no id.", NULL,
           k.sequence_failures);
    sr_rpresence_counters pc;
    sr_rpresence_counters_get(a->presence, &pc);
    sample(&b, "counter", "presence_changes_total", "Joins and leaves recorded for presence.", NULL,
           pc.changes);
    sample(&b, "counter", "presence_writes_total",
           "Presence scripts sent (coalesced changes and liveness refreshes).", NULL, pc.writes);
    sample(&b, "counter", "presence_reasserts_total",
           "Times this node wrote its whole presence again (Redis lost it).", NULL, pc.reasserts);
    sample(&b, "counter", "presence_reads_total", "Presence reads Redis answered.", NULL, pc.reads);
    sample(&b, "counter", "presence_read_failures_total", "Presence reads Redis refused.", NULL,
           pc.read_failures);
    sr_buf_printf(&b,
                  "# HELP sserooms_redis_presence_coalescing_ratio Joins and leaves per presence "
                  "write since start.\n# TYPE sserooms_redis_presence_coalescing_ratio gauge\n"
                  "sserooms_redis_presence_coalescing_ratio %.3f\n",
                  pc.writes ? (double)pc.changes / (double)pc.writes : 0.0);
    uint64_t probes = 0, timeouts = 0, lag = 0;
    if (a->canary) {
        sr_canary_stats st;
        sr_canary_get_stats(a->canary, &st);
        probes = st.probes;
        timeouts = st.timeouts;
        lag = st.waiting_ms > st.lag_ms ? st.waiting_ms : st.lag_ms;
    } else if (a->cluster) {
        sr_rcluster_canary_totals(a->cluster, &probes, &timeouts, &lag);
    }
    sr_buf_printf(
        &b,
        "# HELP sserooms_redis_canary_lag_seconds Liveness canary round trip, or the wait "
        "so far when a probe is late (largest shard).\n"
        "# TYPE sserooms_redis_canary_lag_seconds gauge\n"
        "sserooms_redis_canary_lag_seconds %.3f\n",
        (double)lag / 1000.0);
    sample(&b, "counter", "canary_probes_total", "Liveness canary probes published.", NULL, probes);
    sample(&b, "counter", "canary_timeouts_total",
           "Canary probes that did not come back: the subscriber connection was rebuilt.", NULL,
           timeouts);
    if (a->cluster) sr_rcluster_metrics_text(a->cluster, &b);
    size_t n = b.oom ? 0 : b.len;
    if (n && out && n < cap) memcpy(out, b.p, n + 1);
    sr_buf_free(&b);
    return n;
}
