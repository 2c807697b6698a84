/* SPDX-License-Identifier: MIT */
/*
 * observe.c: what the server tells about itself besides /stats: log events
 * to the embedder's log hook, GET /metrics in the Prometheus text format
 * (written here: no C client library is packaged; base units, seconds and
 * bytes, `_total` on counters, one unit per family; the process and build
 * samples come from process.c), and the optional stats
 * room that receives the /stats JSON every interval (the demo page's live
 * panel).
 *
 * The publish-to-write latency histogram is fed by conn.c each time a
 * message frame is completely written to a stream; writer threads keep
 * their own (writer.c), added in when /metrics is written.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/internal.h"
#include "server/recover.h"
#include "server/tls_server.h"
#include "server/writer.h"

const uint64_t sr_latency_bounds_us[SR_LATENCY_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
};

void sr_server_on_log(sr_server *srv, sr_log_fn fn, void *ud, int min_level) {
    srv->log_fn = fn;
    srv->log_fields_fn = NULL;
    srv->log_ud = ud;
    srv->log_level = min_level;
}

void sr_server_on_log_fields(sr_server *srv, sr_log_fields_fn fn, void *ud, int min_level) {
    srv->log_fields_fn = fn;
    srv->log_fn = NULL;
    srv->log_ud = ud;
    srv->log_level = min_level;
}

/* one line: no request text may break it */
static void one_line(char *line) {
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

void sr_log(sr_server *srv, int level, uint64_t conn_id, const char *fmt, ...) {
    if ((!srv->log_fn && !srv->log_fields_fn) || level < srv->log_level) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    one_line(line);
    if (srv->log_fields_fn) srv->log_fields_fn(srv->log_ud, level, conn_id, line, NULL, 0);
    else srv->log_fn(srv->log_ud, level, conn_id, line);
}

void sr_log_kv(sr_server *srv, int level, uint64_t conn_id, const char *msg,
               const sr_log_field *fields, size_t n_fields, const char *fmt, ...) {
    if ((!srv->log_fn && !srv->log_fields_fn) || level < srv->log_level) return;
    if (srv->log_fields_fn) {
        char line[512];
        snprintf(line, sizeof line, "%s", msg);
        one_line(line);
        srv->log_fields_fn(srv->log_ud, level, conn_id, line, fields, n_fields);
        return;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    one_line(line);
    srv->log_fn(srv->log_ud, level, conn_id, line);
}

void sr_metrics_latency(sr_server *srv, uint64_t us, uint32_t msgs) {
    size_t i = 0;
    while (i < SR_LATENCY_BUCKETS && us > sr_latency_bounds_us[i]) i++;
    srv->metrics.latency_count[i] += msgs;
    srv->metrics.latency_sum_us += us * msgs;
}

static const struct {
    int status;
    const char *reason;
} reject_reasons[] = {
    {400, "bad_request"}, {401, "unauthorized"},      {403, "forbidden"},
    {404, "not_found"},   {405, "method_not_allowed"}, {408, "timeout"},
    {409, "conflict"},    {413, "body_too_large"},     {414, "url_too_long"},
    {429, "too_many"},    {431, "headers_too_large"},  {503, "unavailable"},
};
#define N_REASONS (sizeof(reject_reasons) / sizeof(reject_reasons[0]))

_Static_assert(sizeof(reject_reasons) / sizeof(reject_reasons[0]) <= 16, "see sr_metrics");

void sr_metrics_rejected(sr_server *srv, int status) {
    for (size_t i = 0; i < N_REASONS; i++) {
        if (reject_reasons[i].status == status) {
            srv->metrics.rejected_by_reason[i]++;
            return;
        }
    }
    srv->metrics.rejected_other++;
}

static void counter(sr_buf *b, const char *name, const char *help, uint64_t v) {
    sr_buf_printf(b, "# HELP sserooms_%s %s\n# TYPE sserooms_%s counter\nsserooms_%s %llu\n", name, help,
                  name, name, (unsigned long long)v);
}

static void gauge(sr_buf *b, const char *name, const char *help, uint64_t v) {
    sr_buf_printf(b, "# HELP sserooms_%s %s\n# TYPE sserooms_%s gauge\nsserooms_%s %llu\n", name, help,
                  name, name, (unsigned long long)v);
}

void sr_routes_metrics(sr_conn *c) {
    sr_server *srv = c->srv;
    sr_stats s;
    sr_server_stats(srv, &s);
    sr_buf b;
    sr_buf_init(&b);
    gauge(&b, "connections", "Open TCP connections.", s.connections);
    gauge(&b, "streams", "Open SSE streams.", s.streams);
    gauge(&b, "rooms", "Rooms with local members.", s.rooms);
    counter(&b, "streams_total", "SSE streams accepted.", s.streams_total);
    counter(&b, "requests_total", "HTTP requests read.", s.requests_total);
    counter(&b, "messages_received_total", "Broadcasts received (API and POST /publish).", s.messages_in);
    counter(&b, "messages_remote_total", "Messages received from other nodes.", s.messages_remote_in);
    counter(&b, "messages_delivered_total", "Message frames queued to streams.", s.messages_out);
    counter(&b, "bytes_out_total", "Bytes written to sockets.", s.bytes_out);
    counter(&b, "heartbeats_total", "Heartbeat comments queued.", s.heartbeats);
    counter(&b, "slow_consumer_disconnects_total", "Streams dropped because their send queue was full, and HTTP connections whose answers could not be written for a request timeout.",
            s.slow_disconnects);
    counter(&b, "publish_failures_total",
            "Broadcasts (one per message, whatever its rooms) the adapter refused at once; "
            "sserooms_redis_publish_failures_total counts room publishes, later failures included.",
            s.adapter_errors);
    sr_accept_metrics(srv, &b);
    sr_buf_puts(&b, "# HELP sserooms_rejected_requests_total Requests refused, by reason.\n"
                    "# TYPE sserooms_rejected_requests_total counter\n");
    for (size_t i = 0; i < N_REASONS; i++)
        sr_buf_printf(&b, "sserooms_rejected_requests_total{reason=\"%s\"} %llu\n", reject_reasons[i].reason,
                      (unsigned long long)srv->metrics.rejected_by_reason[i]);
    sr_buf_printf(&b, "sserooms_rejected_requests_total{reason=\"other\"} %llu\n",
                  (unsigned long long)srv->metrics.rejected_other);
    sr_limits_metrics(srv, &b);
    sr_clients_metrics(srv, &b);
    sr_h2c_metrics(srv, &b);
    sr_tls_metrics(srv, &b);
    sr_buf_puts(&b, "# HELP sserooms_delivery_latency_seconds Time from a message's encoding on this node "
                    "to its last byte written to a stream.\n"
                    "# TYPE sserooms_delivery_latency_seconds histogram\n");
    uint64_t latency[SR_LATENCY_BUCKETS + 1], latency_sum_us = srv->metrics.latency_sum_us;
    memcpy(latency, srv->metrics.latency_count, sizeof(latency));
    sr_writers_add_latency(srv, latency, &latency_sum_us); /* writer threads' share */
    uint64_t cum = 0;
    for (size_t i = 0; i < SR_LATENCY_BUCKETS; i++) {
        cum += latency[i];
        sr_buf_printf(&b, "sserooms_delivery_latency_seconds_bucket{le=\"%g\"} %llu\n",
                      (double)sr_latency_bounds_us[i] / 1e6, (unsigned long long)cum);
    }
    cum += latency[SR_LATENCY_BUCKETS];
    sr_buf_printf(&b,
                  "sserooms_delivery_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                  "sserooms_delivery_latency_seconds_sum %.6f\n"
                  "sserooms_delivery_latency_seconds_count %llu\n",
                  (unsigned long long)cum, (double)latency_sum_us / 1e6,
                  (unsigned long long)cum);
    sr_auth_metrics_text(srv, &b);
    if (srv->has_adapter) sr_recover_metrics(srv, &b);
    if (srv->has_adapter && srv->adapter.metrics_text) {
        size_t need = srv->adapter.metrics_text(srv->adapter.ctx, NULL, 0);
        if (sr_buf_reserve(&b, need) == 0) {
            size_t n = srv->adapter.metrics_text(srv->adapter.ctx, b.p + b.len, need + 1);
            if (n <= need) {
                b.len += n;
                b.p[b.len] = '\0';
            }
        }
    }
    sr_process_metrics(srv, &b);
    if (b.oom) {
        sr_routes_error(c, 503, "out of memory", false);
    } else {
        sr_routes_body(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len, NULL);
    }
    sr_buf_free(&b);
}

static void on_stats_tick(uv_timer_t *t) {
    sr_server *srv = t->data;
    if (srv->shutting_down || !srv->cfg.stats_room) return;
    if (sr_room_count(srv, srv->cfg.stats_room) == 0) return;
    sr_buf b;
    sr_buf_init(&b);
    sr_stats_json(srv, &b);
    if (!b.oom) {
        sr_msg_parts m = {.event = "stats", .event_len = 5, .id = "", .data = b.p, .data_len = b.len};
        const char *rooms[] = {srv->cfg.stats_room};
        sr_broadcast_opts local = {.local = 1};
        sr_broadcast_parts(srv, rooms, 1, &m, &local);
        srv->stats.messages_in--; /* the server's own reports are not publishes */
    }
    sr_buf_free(&b);
}

void sr_stats_room_start(sr_server *srv) {
    uv_timer_init(srv->loop, &srv->stats_timer);
    srv->stats_timer.data = srv;
    if (srv->cfg.stats_room && srv->cfg.stats_interval_ms)
        uv_timer_start(&srv->stats_timer, on_stats_tick, srv->cfg.stats_interval_ms,
                       srv->cfg.stats_interval_ms);
    uv_unref((uv_handle_t *)&srv->stats_timer);
}
