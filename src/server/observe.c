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
 * The publish-to-write latency histogram is fed by sendq.c each time a
 * message frame is completely written to a stream; writer threads keep
 * their own (writer.c), added in when /metrics is written. The publish
 * answer histogram (request read to answer written) is fed by sendq.c too;
 * /stats gives its p50 and p99, interpolated within the buckets, and the
 * counts and times of batch.c's sweep slices.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"
#include "server/recover.h"
#include "server/tls_server.h"
#include "server/writer.h"

const uint64_t sr_latency_bounds_us[SR_LATENCY_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
};

/* What the GET /metrics histograms and the sweep counters count. */
typedef struct sr_metrics {
    uint64_t latency_count[SR_LATENCY_BUCKETS + 1]; /* last: +Inf */
    uint64_t latency_sum_us;
    uint64_t rejected_by_reason[16]; /* indexed like observe.c's reason table */
    uint64_t rejected_other;
    /* POST /publish: request read to answer written (sendq.c), in the
     * buckets above */
    uint64_t answer_count[SR_LATENCY_BUCKETS + 1];
    uint64_t answer_sum_us;
    /* the sliced sweeps of batch.c: each slice timed with its writes */
    uint64_t sweeps, sweep_slices;
    uint64_t sweep_forced; /* sweeps a barrier completed at once */
    uint64_t sweep_slice_ns, sweep_slice_max_ns;
} sr_metrics;

/* The server's observing state (srv->observe). */
struct sr_observe {
    sr_metrics metrics;
    uv_timer_t stats_timer;     /* cfg.stats_room broadcasts */
    sr_log_fn fn;               /* the log hook */
    sr_log_fields_fn fields_fn; /* or: set instead of fn (sr_server_on_log_fields) */
    void *ud;
    int level; /* its minimum level */
};

int sr_observe_new(sr_server *srv) {
    srv->observe = calloc(1, sizeof(*srv->observe));
    return srv->observe ? SR_OK : SR_ENOMEM;
}

void sr_observe_free(sr_server *srv) {
    free(srv->observe);
    srv->observe = NULL;
}

void sr_metrics_sweep(sr_server *srv, sr_sweep_count which) {
    sr_metrics *m = &srv->observe->metrics;
    if (which == SR_SWEEP_BEGUN) m->sweeps++;
    else if (which == SR_SWEEP_SLICE) m->sweep_slices++;
    else m->sweep_forced++;
}

void sr_metrics_slice_time(sr_server *srv, uint64_t ns) {
    sr_metrics *m = &srv->observe->metrics;
    m->sweep_slice_ns += ns;
    if (ns > m->sweep_slice_max_ns) m->sweep_slice_max_ns = ns;
}

void sr_server_on_log(sr_server *srv, sr_log_fn fn, void *ud, int min_level) {
    srv->observe->fn = fn;
    srv->observe->fields_fn = NULL;
    srv->observe->ud = ud;
    srv->observe->level = min_level;
}

void sr_server_on_log_fields(sr_server *srv, sr_log_fields_fn fn, void *ud, int min_level) {
    srv->observe->fields_fn = fn;
    srv->observe->fn = NULL;
    srv->observe->ud = ud;
    srv->observe->level = min_level;
}

/* one line: no request text may break it */
static void one_line(char *line) {
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

void sr_log(sr_server *srv, int level, uint64_t conn_id, const char *fmt, ...) {
    if ((!srv->observe->fn && !srv->observe->fields_fn) || level < srv->observe->level) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    one_line(line);
    if (srv->observe->fields_fn)
        srv->observe->fields_fn(srv->observe->ud, level, conn_id, line, NULL, 0);
    else srv->observe->fn(srv->observe->ud, level, conn_id, line);
}

void sr_log_kv(sr_server *srv, int level, uint64_t conn_id, const char *msg,
               const sr_log_field *fields, size_t n_fields, const char *fmt, ...) {
    if ((!srv->observe->fn && !srv->observe->fields_fn) || level < srv->observe->level) return;
    if (srv->observe->fields_fn) {
        char line[512];
        snprintf(line, sizeof line, "%s", msg);
        one_line(line);
        srv->observe->fields_fn(srv->observe->ud, level, conn_id, line, fields, n_fields);
        return;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    one_line(line);
    srv->observe->fn(srv->observe->ud, level, conn_id, line);
}

void sr_metrics_latency(sr_server *srv, uint64_t us, uint32_t msgs) {
    size_t i = 0;
    while (i < SR_LATENCY_BUCKETS && us > sr_latency_bounds_us[i]) i++;
    srv->observe->metrics.latency_count[i] += msgs;
    srv->observe->metrics.latency_sum_us += us * msgs;
}

void sr_metrics_answer(sr_server *srv, uint64_t us) {
    size_t i = 0;
    while (i < SR_LATENCY_BUCKETS && us > sr_latency_bounds_us[i]) i++;
    srv->observe->metrics.answer_count[i]++;
    srv->observe->metrics.answer_sum_us += us;
}

/* The q-quantile (0 < q < 1) of a histogram in sr_latency_bounds_us
 * buckets, in microseconds: linear within the bucket that holds it, the
 * last bound for the +Inf bucket; 0 when empty. */
static double quantile_us(const uint64_t *count, double q) {
    uint64_t total = 0;
    for (size_t i = 0; i <= SR_LATENCY_BUCKETS; i++) total += count[i];
    if (total == 0) return 0;
    double rank = q * (double)total, below = 0;
    for (size_t i = 0; i < SR_LATENCY_BUCKETS; i++) {
        if (count[i] && below + (double)count[i] >= rank) {
            double lo = i ? (double)sr_latency_bounds_us[i - 1] : 0,
                   hi = (double)sr_latency_bounds_us[i];
            return lo + (hi - lo) * (rank - below) / (double)count[i];
        }
        below += (double)count[i];
    }
    return (double)sr_latency_bounds_us[SR_LATENCY_BUCKETS - 1];
}

void sr_metrics_engine_json(sr_server *srv, sr_buf *b) {
    const sr_metrics *m = &srv->observe->metrics;
    uint64_t n = 0;
    for (size_t i = 0; i <= SR_LATENCY_BUCKETS; i++) n += m->answer_count[i];
    sr_buf_printf(
        b,
        ",\"publish_answer_us\":{\"count\":%llu,\"mean\":%.0f,\"p50\":%.0f,\"p99\":%.0f}"
        ",\"sweep\":{\"slice_us\":%u,\"slice_streams\":%u,\"sweeps\":%llu,\"slices\":%llu,\"forced\":%llu,"
        "\"slice_us_total\":%llu,\"slice_us_max\":%llu}",
        (unsigned long long)n, n ? (double)m->answer_sum_us / (double)n : 0.0,
        quantile_us(m->answer_count, 0.5), quantile_us(m->answer_count, 0.99),
        (unsigned)srv->cfg.sweep_slice_us, (unsigned)srv->cfg.sweep_slice_streams,
        (unsigned long long)m->sweeps, (unsigned long long)m->sweep_slices,
        (unsigned long long)m->sweep_forced, (unsigned long long)(m->sweep_slice_ns / 1000),
        (unsigned long long)(m->sweep_slice_max_ns / 1000));
}

/* A Prometheus histogram in seconds from counts in sr_latency_bounds_us
 * buckets (the last one +Inf) and their sum in microseconds. */
static void histogram_us(sr_buf *b, const char *name, const char *help, const uint64_t *count,
                         uint64_t sum_us) {
    sr_buf_printf(b, "# HELP sserooms_%s %s\n# TYPE sserooms_%s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < SR_LATENCY_BUCKETS; i++) {
        cum += count[i];
        sr_buf_printf(b, "sserooms_%s_bucket{le=\"%g\"} %llu\n", name,
                      (double)sr_latency_bounds_us[i] / 1e6, (unsigned long long)cum);
    }
    cum += count[SR_LATENCY_BUCKETS];
    sr_buf_printf(b,
                  "sserooms_%s_bucket{le=\"+Inf\"} %llu\n"
                  "sserooms_%s_sum %.6f\n"
                  "sserooms_%s_count %llu\n",
                  name, (unsigned long long)cum, name, (double)sum_us / 1e6, name,
                  (unsigned long long)cum);
}

static const struct {
    int status;
    const char *reason;
} reject_reasons[] = {
    {400, "bad_request"}, {401, "unauthorized"},       {403, "forbidden"},
    {404, "not_found"},   {405, "method_not_allowed"}, {408, "timeout"},
    {409, "conflict"},    {413, "body_too_large"},     {414, "url_too_long"},
    {429, "too_many"},    {431, "headers_too_large"},  {503, "unavailable"},
};
#define N_REASONS (sizeof(reject_reasons) / sizeof(reject_reasons[0]))

_Static_assert(sizeof(reject_reasons) / sizeof(reject_reasons[0]) <= 16, "see sr_metrics");

void sr_metrics_rejected(sr_server *srv, int status) {
    for (size_t i = 0; i < N_REASONS; i++) {
        if (reject_reasons[i].status == status) {
            srv->observe->metrics.rejected_by_reason[i]++;
            return;
        }
    }
    srv->observe->metrics.rejected_other++;
}

void sr_metric_counter(sr_buf *b, const char *name, const char *help, uint64_t v) {
    sr_buf_printf(b, "# HELP sserooms_%s %s\n# TYPE sserooms_%s counter\nsserooms_%s %llu\n", name,
                  help, name, name, (unsigned long long)v);
}

void sr_metric_gauge(sr_buf *b, const char *name, const char *help, uint64_t v) {
    sr_buf_printf(b, "# HELP sserooms_%s %s\n# TYPE sserooms_%s gauge\nsserooms_%s %llu\n", name,
                  help, name, name, (unsigned long long)v);
}

void sr_routes_metrics(sr_conn *c) {
    sr_server *srv = c->srv;
    sr_stats s;
    sr_server_stats(srv, &s);
    sr_buf b;
    sr_buf_init(&b);
    sr_metric_gauge(&b, "connections", "Open TCP connections.", s.connections);
    sr_metric_gauge(&b, "streams", "Open SSE streams.", s.streams);
    sr_metric_gauge(&b, "rooms", "Rooms with local members.", s.rooms);
    sr_metric_counter(&b, "streams_total", "SSE streams accepted.", s.streams_total);
    sr_metric_counter(&b, "requests_total", "HTTP requests read.", s.requests_total);
    sr_metric_counter(&b, "messages_received_total", "Broadcasts received (API and POST /publish).",
                      s.messages_in);
    sr_metric_counter(&b, "messages_remote_total", "Messages received from other nodes.",
                      s.messages_remote_in);
    sr_metric_counter(&b, "messages_delivered_total", "Message frames queued to streams.",
                      s.messages_out);
    sr_metric_counter(&b, "bytes_out_total", "Bytes written to sockets.", s.bytes_out);
    sr_metric_counter(&b, "heartbeats_total", "Heartbeat comments queued.", s.heartbeats);
    sr_metric_counter(
        &b, "slow_consumer_disconnects_total",
        "Streams dropped because their send queue was full, and HTTP connections whose answers could not be written for a request timeout.",
        s.slow_disconnects);
    sr_metric_counter(
        &b, "publish_failures_total",
        "Broadcasts (one per message, whatever its rooms) the adapter refused at once; "
        "sserooms_redis_publish_failures_total counts room publishes, later failures included.",
        s.adapter_errors);
    sr_accept_metrics(srv, &b);
    sr_buf_puts(&b, "# HELP sserooms_rejected_requests_total Requests refused, by reason.\n"
                    "# TYPE sserooms_rejected_requests_total counter\n");
    for (size_t i = 0; i < N_REASONS; i++)
        sr_buf_printf(&b, "sserooms_rejected_requests_total{reason=\"%s\"} %llu\n",
                      reject_reasons[i].reason,
                      (unsigned long long)srv->observe->metrics.rejected_by_reason[i]);
    sr_buf_printf(&b, "sserooms_rejected_requests_total{reason=\"other\"} %llu\n",
                  (unsigned long long)srv->observe->metrics.rejected_other);
    sr_limits_metrics(srv, &b);
    sr_clients_metrics(srv, &b);
    sr_h2c_metrics(srv, &b);
    sr_tls_metrics(srv, &b);
    uint64_t latency[SR_LATENCY_BUCKETS + 1], latency_sum_us = srv->observe->metrics.latency_sum_us;
    memcpy(latency, srv->observe->metrics.latency_count, sizeof(latency));
    sr_writers_add_latency(srv, latency, &latency_sum_us); /* writer threads' share */
    histogram_us(
        &b, "delivery_latency_seconds",
        "Time from a message's encoding on this node to its last byte written to a stream.",
        latency, latency_sum_us);
    histogram_us(&b, "publish_answer_seconds",
                 "Time from reading a POST /publish (HTTP/1.1) to its answer's last byte written.",
                 srv->observe->metrics.answer_count, srv->observe->metrics.answer_sum_us);
    const sr_metrics *sm = &srv->observe->metrics;
    sr_metric_counter(&b, "sweeps_total",
                      "Fan-out sweeps: one room's batch of broadcasts delivered to its streams.",
                      sm->sweeps);
    sr_metric_counter(
        &b, "sweep_slices_total",
        "Slices of sweeps delivered at the end of a loop turn (bounded by sweep-slice-us and sweep-slice).",
        sm->sweep_slices);
    sr_metric_counter(
        &b, "sweeps_forced_total",
        "Sweeps completed at once by something that must not overtake them (a join, a leave, "
        "a close, a direct send, another room's broadcast).",
        sm->sweep_forced);
    sr_buf_printf(
        &b,
        "# HELP sserooms_sweep_slice_seconds_total Time spent in slices, their writes included.\n"
        "# TYPE sserooms_sweep_slice_seconds_total counter\n"
        "sserooms_sweep_slice_seconds_total %.6f\n"
        "# HELP sserooms_sweep_slice_max_seconds The longest slice since the start.\n"
        "# TYPE sserooms_sweep_slice_max_seconds gauge\n"
        "sserooms_sweep_slice_max_seconds %.6f\n",
        (double)sm->sweep_slice_ns / 1e9, (double)sm->sweep_slice_max_ns / 1e9);
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
        sr_msg_parts m = {
            .event = "stats", .event_len = 5, .id = "", .data = b.p, .data_len = b.len};
        const char *rooms[] = {srv->cfg.stats_room};
        sr_broadcast_opts local = {.local = 1};
        sr_broadcast_parts(srv, rooms, 1, &m, &local);
        srv->stats.messages_in--; /* the server's own reports are not publishes */
    }
    sr_buf_free(&b);
}

void sr_stats_room_start(sr_server *srv) {
    sr_server_timer_init(srv, &srv->observe->stats_timer);
    if (srv->cfg.stats_room && srv->cfg.stats_interval_ms)
        uv_timer_start(&srv->observe->stats_timer, on_stats_tick, srv->cfg.stats_interval_ms,
                       srv->cfg.stats_interval_ms);
    uv_unref((uv_handle_t *)&srv->observe->stats_timer);
}

void sr_stats_room_close(sr_server *srv) {
    sr_server_close_handle(srv, (uv_handle_t *)&srv->observe->stats_timer);
}
