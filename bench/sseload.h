/* SPDX-License-Identifier: MIT */
/*
 * sseload.h: what the SSE load generator counts, and its reports.
 *
 * sseload.c runs the connections and feeds deliveries in here;
 * sseload_report.c keeps the totals, the per-second window and the
 * per-step figures (each with a log-linear latency histogram) and prints
 * the progress line and the final text and JSON reports.
 */
#ifndef BENCH_SSELOAD_H
#define BENCH_SSELOAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"

#define SSELOAD_MAX_STEPS 1024

typedef struct load_step {
    uint64_t deliveries;
    uint64_t gaps;
    uint64_t first_ns, last_ns; /* receive times (CLOCK_REALTIME ns) */
    hist h;
} load_step;

typedef struct load_stats {
    /* connections */
    uint64_t conns, connected, failed, closed, errors;
    /* events */
    uint64_t deliveries, gaps, reorders, other, comments;
    uint64_t first_ns, last_ns; /* receive times of the first/last delivery */
    /* the whole run's latencies: the sum of the steps' histograms and
     * `rest`, brought up to date when read (progress, tick, report), so a
     * delivery is recorded in one histogram only */
    hist total;
    hist rest; /* deliveries with no step record (k too large, no memory) */
    /* the current one-second window of the progress line: `total` as it
     * was at the start of the window */
    uint64_t sec_deliveries;
    hist sec_base;
    load_step *steps[SSELOAD_MAX_STEPS];
    uint32_t max_step; /* highest k seen + 1 */
    uint64_t ready_ns, start_ns;
    /* churn mode */
    uint64_t cycles, sec_cycles, sec_errors;
    uint64_t refused, resets, non200, timeouts, eof_early;
    /* TLS: handshakes done, of which resumed, of which by benchtls13.c's
     * client (churn); failed handshakes; TLS connections whose server did
     * not pick h2 (--h2) */
    uint64_t handshakes, resumed, lite, tls_failed, no_h2;
} load_stats;

/* One event's data arrived on a stream (received at now_ns, the same
 * clock reading in µs as recv_us): the benchmark payload (benchdata.h) is
 * a delivery, checked against the stream's last sequence number *last_s (a
 * jump forward is a gap, counted in the step of this message; a step back
 * or repeat is a reorder); anything else counts as other. */
void load_event(load_stats *st, uint64_t *last_s, const char *data, size_t len, uint64_t now_ns,
                uint64_t recv_us);
/* Records one benchmark delivery: latency in µs, the step, the gaps the
 * message revealed before it on its connection. */
void load_record(load_stats *st, uint64_t now_ns, uint64_t latency_us, uint64_t k, uint64_t gaps);
/* Prints the progress line of the last second to stderr and starts a new
 * window. */
void load_progress(load_stats *st, uint64_t now_ns, int churn);
/* Starts a new one-second window without printing (--quiet). */
void load_tick(load_stats *st);
/* The final report as text (stdout) and, when path is set, as JSON. */
void load_report(load_stats *st, uint64_t end_ns, int churn, const char *json_path,
                 double cpu_user_s, double cpu_sys_s);
void load_stats_free(load_stats *st);

#endif
