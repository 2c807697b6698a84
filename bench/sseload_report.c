/* SPDX-License-Identifier: MIT */
/*
 * sseload_report.c: sseload's counters and reports (sseload.h).
 *
 * A latency is recorded once, in the histogram of the message's step (k in
 * its data); the whole run's histogram is the sum of the steps', added up
 * when it is read (once a second and at the end) rather than recorded twice
 * per delivery. The progress line's last second is the run's histogram
 * minus a copy taken at the start of the second.
 * Rates are deliveries over the span between the first and the last
 * delivery, for the run and for each step, so the pauses between steps and
 * the time before the first publish do not dilute them.
 */
#include <stdlib.h>
#include <string.h>

#include "benchdata.h"
#include "sseload.h"

void load_event(load_stats *st, uint64_t *last_s, const char *data, size_t len, uint64_t now_ns,
                uint64_t recv_us) {
    uint64_t t, s, k;
    if (benchdata_parse(data, len, &t, &s, &k) < 0) {
        st->other++;
        return;
    }
    uint64_t gaps = 0;
    if (s > *last_s) {
        gaps = s - *last_s - 1;
        *last_s = s;
    } else {
        st->reorders++;
    }
    load_record(st, now_ns, recv_us > t ? recv_us - t : 0, k, gaps);
}

void load_record(load_stats *st, uint64_t now_ns, uint64_t latency_us, uint64_t k, uint64_t gaps) {
    st->deliveries++;
    st->sec_deliveries++;
    if (!st->first_ns) st->first_ns = now_ns;
    st->last_ns = now_ns;
    st->gaps += gaps;
    load_step *s = k < SSELOAD_MAX_STEPS ? st->steps[k] : NULL;
    if (!s) {
        if (k >= SSELOAD_MAX_STEPS || !(s = calloc(1, sizeof(*s)))) {
            hist_record(&st->rest, latency_us);
            return;
        }
        st->steps[k] = s;
        if (k + 1 > st->max_step) st->max_step = (uint32_t)k + 1;
    }
    s->deliveries++;
    s->gaps += gaps;
    if (!s->first_ns) s->first_ns = now_ns;
    s->last_ns = now_ns;
    hist_record(&s->h, latency_us);
}

/* st->total from the steps' histograms and st->rest */
static void total_sync(load_stats *st) {
    st->total = st->rest;
    for (uint32_t k = 0; k < st->max_step; k++)
        if (st->steps[k]) hist_merge(&st->total, &st->steps[k]->h);
}

static double ms(uint64_t us) {
    return (double)us / 1000.0;
}

static double since(uint64_t from_ns, uint64_t to_ns) {
    return from_ns && to_ns > from_ns ? (double)(to_ns - from_ns) / 1e9 : 0;
}

static double rate(uint64_t n, uint64_t first_ns, uint64_t last_ns) {
    double span = since(first_ns, last_ns);
    return span > 0 ? (double)n / span : 0;
}

void load_progress(load_stats *st, uint64_t now_ns, int churn) {
    double t = since(st->start_ns, now_ns);
    if (churn) {
        fprintf(stderr,
                "[%6.1fs] cycles/s %llu errors/s %llu | cycles %llu errors %llu (refused %llu "
                "reset %llu non-200 %llu timeout %llu)\n",
                t, (unsigned long long)st->sec_cycles, (unsigned long long)st->sec_errors,
                (unsigned long long)st->cycles, (unsigned long long)st->errors,
                (unsigned long long)st->refused, (unsigned long long)st->resets,
                (unsigned long long)st->non200, (unsigned long long)st->timeouts);
        load_tick(st);
        return;
    }
    total_sync(st);
    fprintf(stderr,
            "[%6.1fs] connected %llu/%llu failed %llu closed %llu | deliveries/s %llu p50 %.2fms "
            "p99 %.2fms | gaps %llu reorders %llu other %llu\n",
            t, (unsigned long long)st->connected, (unsigned long long)st->conns,
            (unsigned long long)st->failed, (unsigned long long)st->closed,
            (unsigned long long)st->sec_deliveries,
            ms(hist_quantile_since(&st->total, &st->sec_base, 0.5)),
            ms(hist_quantile_since(&st->total, &st->sec_base, 0.99)), (unsigned long long)st->gaps,
            (unsigned long long)st->reorders, (unsigned long long)st->other);
    load_tick(st);
}

void load_tick(load_stats *st) {
    st->sec_deliveries = st->sec_cycles = st->sec_errors = 0;
    total_sync(st);
    st->sec_base = st->total;
}

static void json_lat(FILE *f, const hist *h) {
    fprintf(f, "\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu",
            (unsigned long long)hist_quantile(h, 0.5), (unsigned long long)hist_quantile(h, 0.9),
            (unsigned long long)hist_quantile(h, 0.99), (unsigned long long)hist_quantile(h, 0.999),
            (unsigned long long)h->max);
}

static void report_churn(load_stats *st, uint64_t end_ns, const char *json_path, double cu,
                         double cs) {
    double span = since(st->start_ns, end_ns);
    double cps = span > 0 ? (double)st->cycles / span : 0;
    double eps = span > 0 ? (double)st->errors / span : 0;
    printf("sseload churn: %llu slots, %.1f s\n", (unsigned long long)st->conns, span);
    printf("  cycles %llu (%.0f connects+disconnects/s)\n", (unsigned long long)st->cycles, cps);
    printf("  errors %llu (%.1f/s): refused %llu, resets %llu, non-200 %llu, timeouts %llu, "
           "closed before head %llu\n",
           (unsigned long long)st->errors, eps, (unsigned long long)st->refused,
           (unsigned long long)st->resets, (unsigned long long)st->non200,
           (unsigned long long)st->timeouts, (unsigned long long)st->eof_early);
    if (st->handshakes || st->tls_failed)
        printf("  tls: handshakes %llu (%.0f/s), resumed %llu, failed %llu, client %s\n",
               (unsigned long long)st->handshakes, span > 0 ? (double)st->handshakes / span : 0,
               (unsigned long long)st->resumed, (unsigned long long)st->tls_failed,
               st->lite ? "benchtls13" : "OpenSSL");
    printf("  own cpu: user %.2f s, sys %.2f s (%.0f%% of one core)\n", cu, cs,
           span > 0 ? 100.0 * (cu + cs) / span : 0);
    if (!json_path) return;
    FILE *f = fopen(json_path, "w");
    if (!f) {
        perror(json_path);
        return;
    }
    fprintf(f,
            "{\"mode\":\"churn\",\"slots\":%llu,\"duration_s\":%.3f,\"cycles\":%llu,"
            "\"cycles_per_s\":%.1f,\"errors\":%llu,\"errors_per_s\":%.2f,\"refused\":%llu,"
            "\"resets\":%llu,\"non200\":%llu,\"timeouts\":%llu,\"closed_before_head\":%llu,"
            "\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"tls_handshakes\":%llu,"
            "\"tls_handshakes_per_s\":%.1f,\"tls_resumed\":%llu,\"tls_failed\":%llu,"
            "\"tls_lite_handshakes\":%llu}\n",
            (unsigned long long)st->conns, span, (unsigned long long)st->cycles, cps,
            (unsigned long long)st->errors, eps, (unsigned long long)st->refused,
            (unsigned long long)st->resets, (unsigned long long)st->non200,
            (unsigned long long)st->timeouts, (unsigned long long)st->eof_early, cu, cs,
            (unsigned long long)st->handshakes, span > 0 ? (double)st->handshakes / span : 0,
            (unsigned long long)st->resumed, (unsigned long long)st->tls_failed,
            (unsigned long long)st->lite);
    fclose(f);
}

void load_report(load_stats *st, uint64_t end_ns, int churn, const char *json_path, double cu,
                 double cs) {
    if (churn) {
        report_churn(st, end_ns, json_path, cu, cs);
        return;
    }
    total_sync(st);
    const hist *h = &st->total;
    double dps = rate(st->deliveries, st->first_ns, st->last_ns);
    double run = since(st->ready_ns ? st->ready_ns : st->start_ns, end_ns);
    printf("sseload: %llu connections: connected %llu, failed %llu, closed by server %llu, "
           "errors %llu\n",
           (unsigned long long)st->conns, (unsigned long long)st->connected,
           (unsigned long long)st->failed, (unsigned long long)st->closed,
           (unsigned long long)st->errors);
    if (st->errors)
        printf("  failures: refused %llu, resets %llu, non-200 %llu, timeouts %llu, closed before "
               "head %llu, tls handshake %llu, no h2 %llu\n",
               (unsigned long long)st->refused, (unsigned long long)st->resets,
               (unsigned long long)st->non200, (unsigned long long)st->timeouts,
               (unsigned long long)st->eof_early, (unsigned long long)st->tls_failed,
               (unsigned long long)st->no_h2);
    if (st->handshakes)
        printf("  tls: handshakes %llu, resumed %llu, client %s\n",
               (unsigned long long)st->handshakes, (unsigned long long)st->resumed,
               st->lite ? "benchtls13" : "OpenSSL");
    printf("  deliveries %llu (%.0f/s over %.2f s of traffic), gaps %llu, reorders %llu, other "
           "%llu\n",
           (unsigned long long)st->deliveries, dps, since(st->first_ns, st->last_ns),
           (unsigned long long)st->gaps, (unsigned long long)st->reorders,
           (unsigned long long)st->other);
    printf("  latency ms: p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f\n",
           ms(hist_quantile(h, 0.5)), ms(hist_quantile(h, 0.9)), ms(hist_quantile(h, 0.99)),
           ms(hist_quantile(h, 0.999)), ms(h->max));
    printf("  %4s %12s %12s %8s %9s %9s %9s %9s %9s\n", "step", "deliveries", "per_s", "gaps",
           "p50ms", "p90ms", "p99ms", "p99.9ms", "maxms");
    for (uint32_t k = 0; k < st->max_step; k++) {
        load_step *s = st->steps[k];
        if (!s) continue;
        printf("  %4u %12llu %12.0f %8llu %9.3f %9.3f %9.3f %9.3f %9.3f\n", k,
               (unsigned long long)s->deliveries, rate(s->deliveries, s->first_ns, s->last_ns),
               (unsigned long long)s->gaps, ms(hist_quantile(&s->h, 0.5)),
               ms(hist_quantile(&s->h, 0.9)), ms(hist_quantile(&s->h, 0.99)),
               ms(hist_quantile(&s->h, 0.999)), ms(s->h.max));
    }
    printf("  own cpu: user %.2f s, sys %.2f s (%.0f%% of one core over %.1f s)\n", cu, cs,
           run > 0 ? 100.0 * (cu + cs) / run : 0, run);
    fflush(stdout);
    if (!json_path) return;
    FILE *f = fopen(json_path, "w");
    if (!f) {
        perror(json_path);
        return;
    }
    fprintf(f,
            "{\"mode\":\"load\",\"conns\":%llu,\"connected\":%llu,\"failed\":%llu,\"closed\":%llu,"
            "\"errors\":%llu,\"deliveries\":%llu,\"deliveries_per_s\":%.1f,\"traffic_s\":%.3f,"
            "\"gaps\":%llu,\"reorders\":%llu,\"other\":%llu,\"comments\":%llu,",
            (unsigned long long)st->conns, (unsigned long long)st->connected,
            (unsigned long long)st->failed, (unsigned long long)st->closed,
            (unsigned long long)st->errors, (unsigned long long)st->deliveries, dps,
            since(st->first_ns, st->last_ns), (unsigned long long)st->gaps,
            (unsigned long long)st->reorders, (unsigned long long)st->other,
            (unsigned long long)st->comments);
    fprintf(f,
            "\"refused\":%llu,\"resets\":%llu,\"non200\":%llu,\"timeouts\":%llu,"
            "\"closed_before_head\":%llu,\"tls_handshakes\":%llu,\"tls_resumed\":%llu,"
            "\"tls_failed\":%llu,\"tls_lite_handshakes\":%llu,\"no_h2\":%llu,",
            (unsigned long long)st->refused, (unsigned long long)st->resets,
            (unsigned long long)st->non200, (unsigned long long)st->timeouts,
            (unsigned long long)st->eof_early, (unsigned long long)st->handshakes,
            (unsigned long long)st->resumed, (unsigned long long)st->tls_failed,
            (unsigned long long)st->lite, (unsigned long long)st->no_h2);
    json_lat(f, h);
    fprintf(f, ",\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"run_s\":%.3f,\"steps\":[", cu, cs, run);
    int first = 1;
    uint64_t zero = st->ready_ns ? st->ready_ns : st->start_ns;
    for (uint32_t k = 0; k < st->max_step; k++) {
        load_step *s = st->steps[k];
        if (!s) continue;
        fprintf(f, "%s{\"k\":%u,\"deliveries\":%llu,\"deliveries_per_s\":%.1f,\"gaps\":%llu,",
                first ? "" : ",", k, (unsigned long long)s->deliveries,
                rate(s->deliveries, s->first_ns, s->last_ns), (unsigned long long)s->gaps);
        json_lat(f, &s->h);
        fprintf(f, ",\"first_s\":%.3f,\"last_s\":%.3f}", since(zero, s->first_ns),
                since(zero, s->last_ns));
        first = 0;
    }
    fprintf(f, "]}\n");
    fclose(f);
}

void load_stats_free(load_stats *st) {
    for (uint32_t k = 0; k < SSELOAD_MAX_STEPS; k++) {
        free(st->steps[k]);
        st->steps[k] = NULL;
    }
}
