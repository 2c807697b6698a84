/* SPDX-License-Identifier: MIT */
/*
 * ssepub.c: the benchmark publisher (one process, one epoll loop).
 *
 *   ssepub --target URL --proto sserooms|nchan|redis [--rooms R]
 *          [--rates 10,50,100,...] [--step-seconds S] [--pause-seconds P]
 *          [--size BYTES] [--conns M] [--inflight 1|N|window]
 *          [--channel-prefix sse:room:] [--node-id ID] [--json FILE] [--quiet]
 *
 * URL: http://, https:// (TLS, HTTP/1.1 by ALPN, no certificate check: the
 * bench's own servers) or redis://.
 *
 * For each rate of --rates (messages/s over all rooms) it publishes for S
 * seconds, then stays silent for P seconds. Message i of the run goes to
 * room r<i % R> with that room's next sequence number (from 1, never reset
 * between steps) and the step index k in its data. Pacing: at every loop
 * turn the number due is floor(elapsed × rate); everything due and not yet
 * sent goes out at once (catch-up), so a late turn does not lower the rate.
 * Room r is published on connection r % M only (so at most R connections
 * are opened), so that each room's
 * messages stay in sequence order. --inflight says how many requests a
 * connection carries at once: `1` is a sequential publisher (one request
 * at a time on one keep-alive connection, --conns 1: a backend worker or a
 * curl loop), N pipelines up to N, `window` (the default; --max-inflight F
 * is the same with F) pipelines 2 s of the peak rate per connection, at
 * least 1024. While the next message's connection is full it stays due, and
 * whatever is still unsent at the end of the step is reported as missed
 * (the step "did not keep up"). Every reply's answer time (request queued to
 * reply read) goes into its step's histogram: p50/p99/max per step.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ssepub.h"

static volatile sig_atomic_t stop_flag;
static int quiet;
static const char *json_path;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void usage(void) {
    fprintf(stderr,
            "usage: ssepub --target URL --proto sserooms|nchan|redis [--rooms R]\n"
            "              [--rates 10,50,100,200,500] [--step-seconds S] [--pause-seconds P]\n"
            "              [--size BYTES] [--conns M] [--inflight 1|N|window]\n"
            "              [--channel-prefix sse:room:] [--node-id ID] [--json FILE] [--quiet]\n");
    exit(2);
}

static pub P;
static double step_seconds = 5, pause_seconds = 2;

/* Services every connection's events for up to timeout_ms. */
static void poll_once(int timeout_ms) {
    struct epoll_event evs[64];
    int n = epoll_wait(P.ep, evs, 64, timeout_ms);
    uint64_t now = bench_mono_ns();
    for (int i = 0; i < n; i++) {
        pub_conn *c = evs[i].data.ptr;
        if (c->fd < 0) continue;
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
            pub_conn_drop(&P, c, now);
            continue;
        }
        if (c->connecting) {
            if (pub_conn_connecting(&P, c, evs[i].events) < 0) {
                pub_conn_drop(&P, c, now);
                continue;
            }
            if (c->connecting) continue;
        }
        if ((evs[i].events & EPOLLIN) && pub_conn_read(&P, c) < 0) {
            pub_conn_drop(&P, c, now);
            continue;
        }
        if (pub_conn_flush(c) < 0) pub_conn_drop(&P, c, now);
    }
    for (int i = 0; i < P.nconns; i++) { /* reopen dropped connections after a pause */
        pub_conn *c = &P.conns[i];
        if (c->fd < 0 && now >= c->retry_at_ns && pub_conn_open(&P, c) < 0)
            c->retry_at_ns = now + 100000000ull;
    }
}

static uint64_t total_inflight(void) {
    uint64_t n = 0;
    for (int i = 0; i < P.nconns; i++) n += P.conns[i].inflight;
    return n;
}

/* The connection that carries a room's messages: always the same one, so
 * that a room's messages reach the server in sequence order (requests on
 * different connections may be handled in any order). NULL while it is
 * full, connecting or down: the message stays due. */
static pub_conn *pick_conn(uint32_t room) {
    pub_conn *c = &P.conns[room % (uint32_t)P.nconns];
    if (c->fd >= 0 && !c->connecting && c->inflight < P.max_inflight) return c;
    return NULL;
}

static uint64_t msg_counter;

static void run_step(int k) {
    pub_step *s = &P.steps[k];
    uint64_t start = bench_mono_ns();
    uint64_t len_ns = (uint64_t)(step_seconds * 1e9);
    uint64_t total_due = (uint64_t)(s->rate * step_seconds + 1e-9);
    s->start_ns = start;
    if (!quiet)
        fprintf(stderr, "ssepub: step %d: %.0f msg/s for %.1f s (%llu messages)\n", k, s->rate,
                step_seconds, (unsigned long long)total_due);
    for (;;) {
        uint64_t now = bench_mono_ns();
        uint64_t el = now - start;
        int last = el >= len_ns || stop_flag;
        uint64_t due = last ? total_due : (uint64_t)((double)el / 1e9 * s->rate) + 1;
        if (due > total_due) due = total_due;
        s->due = due;
        while (s->sent < due) {
            uint32_t room = (uint32_t)(msg_counter % P.rooms);
            pub_conn *c = pick_conn(room);
            if (!c) break;
            uint64_t t = bench_mono_ns();
            if (!s->first_ns) s->first_ns = t;
            s->last_ns = t;
            pub_conn_queue(&P, c, room, ++P.seq[room], (uint16_t)k);
            msg_counter++;
            s->sent++;
        }
        for (int i = 0; i < P.nconns; i++)
            if (pub_conn_flush(&P.conns[i]) < 0) pub_conn_drop(&P, &P.conns[i], now);
        if (last) break;
        /* Sleep until the next message is due, at least 1 ms: faster rates
         * go out in small catch-up batches (each stamped when written)
         * rather than by spinning on a 2-core machine. While messages wait
         * for a full connection, the replies that free it wake us. */
        int timeout = 5;
        if (s->sent >= due) {
            double next_at = (double)(s->sent + 1) / s->rate * 1e9;
            double wait_ms = (next_at - (double)el) / 1e6;
            timeout = wait_ms < 1 ? 1 : wait_ms > 50 ? 50 : (int)(wait_ms + 0.999);
        }
        uint64_t left_ms = (len_ns - el) / 1000000 + 1;
        if ((uint64_t)timeout > left_ms) timeout = (int)left_ms;
        poll_once(timeout);
    }
}

static void pause_for(double secs) {
    uint64_t end = bench_mono_ns() + (uint64_t)(secs * 1e9);
    while (!stop_flag) {
        uint64_t now = bench_mono_ns();
        if (now >= end) break;
        uint64_t left_ms = (end - now) / 1000000;
        poll_once(left_ms > 50 ? 50 : (int)left_ms);
    }
}

static const char *inflight_desc = "window";

static double answer_ms(const hist *h, double q) {
    return h ? (double)hist_quantile(h, q) / 1000.0 : 0;
}

/* "answers":n,"answer_p50_us":..,"answer_p99_us":..,"answer_max_us":.. */
static void json_answer(FILE *f, const hist *h) {
    fprintf(f,
            "\"answers\":%llu,\"answer_p50_us\":%llu,\"answer_p99_us\":%llu,\"answer_max_us\":%llu",
            (unsigned long long)(h ? h->count : 0),
            (unsigned long long)(h ? hist_quantile(h, 0.5) : 0),
            (unsigned long long)(h ? hist_quantile(h, 0.99) : 0),
            (unsigned long long)(h ? h->max : 0));
}

static void report(double cu, double cs, double wall) {
    uint64_t sent = 0, ok = 0, err = 0, missed = 0;
    printf("ssepub: %s -> %s://%s:%d%s, %u rooms, %zu-byte data, %d connections\n",
           P.proto == PROTO_SSEROOMS ? "sserooms"
           : P.proto == PROTO_NCHAN  ? "nchan"
                                     : "redis",
           P.url.scheme, P.url.host, P.url.port, P.proto == PROTO_REDIS ? "" : P.url.path, P.rooms,
           P.size, P.nconns);
    printf("  %4s %10s %10s %12s %10s %8s %8s %10s %10s  %s\n", "step", "rate", "sent",
           "achieved/s", "ok", "errors", "missed", "answer p50", "answer p99", "kept up");
    for (int k = 0; k < P.nsteps; k++) {
        pub_step *s = &P.steps[k];
        uint64_t target = (uint64_t)(s->rate * step_seconds + 1e-9);
        uint64_t miss = target > s->sent ? target - s->sent : 0;
        double achieved = (double)s->sent / step_seconds;
        printf("  %4d %10.0f %10llu %12.1f %10llu %8llu %8llu %8.2fms %8.2fms  %s\n", k, s->rate,
               (unsigned long long)s->sent, achieved, (unsigned long long)s->ok,
               (unsigned long long)s->errors, (unsigned long long)miss, answer_ms(s->answer, 0.5),
               answer_ms(s->answer, 0.99),
               miss          ? "NO: could not keep up"
               : s->start_ns ? "yes"
                             : "not run");
        sent += s->sent, ok += s->ok, err += s->errors, missed += miss;
    }
    printf("  total sent %llu ok %llu errors %llu missed %llu, unanswered %llu, reconnects %llu\n",
           (unsigned long long)sent, (unsigned long long)ok, (unsigned long long)err,
           (unsigned long long)missed, (unsigned long long)total_inflight(),
           (unsigned long long)P.conn_errors);
    printf("  answer time: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%llu answers; in flight per "
           "connection: %s)\n",
           answer_ms(&P.answer_all, 0.5), answer_ms(&P.answer_all, 0.99),
           (double)P.answer_all.max / 1000.0, (unsigned long long)P.answer_all.count,
           inflight_desc);
    printf("  own cpu: user %.2f s, sys %.2f s (%.0f%% of one core)\n", cu, cs,
           wall > 0 ? 100 * (cu + cs) / wall : 0);
    fflush(stdout);
    if (!json_path) return;
    FILE *f = fopen(json_path, "w");
    if (!f) {
        perror(json_path);
        return;
    }
    fprintf(f,
            "{\"proto\":\"%s\",\"tls\":%s,\"rooms\":%u,\"size\":%zu,\"conns\":%d,"
            "\"inflight\":\"%s\",\"max_inflight\":%u,\"step_seconds\":%.3f,\"steps\":[",
            P.proto == PROTO_SSEROOMS ? "sserooms"
            : P.proto == PROTO_NCHAN  ? "nchan"
                                      : "redis",
            P.tls ? "true" : "false", P.rooms, P.size, P.nconns, inflight_desc, P.max_inflight,
            step_seconds);
    for (int k = 0; k < P.nsteps; k++) {
        pub_step *s = &P.steps[k];
        uint64_t target = (uint64_t)(s->rate * step_seconds + 1e-9);
        uint64_t miss = target > s->sent ? target - s->sent : 0;
        fprintf(f,
                "%s{\"k\":%d,\"rate\":%.3f,\"target\":%llu,\"sent\":%llu,\"achieved_rate\":%.3f,"
                "\"ok\":%llu,\"errors\":%llu,\"missed\":%llu,\"kept_up\":%s,",
                k ? "," : "", k, s->rate, (unsigned long long)target, (unsigned long long)s->sent,
                (double)s->sent / step_seconds, (unsigned long long)s->ok,
                (unsigned long long)s->errors, (unsigned long long)miss,
                miss || !s->start_ns ? "false" : "true");
        json_answer(f, s->answer);
        fputc('}', f);
    }
    fprintf(f,
            "],\"sent\":%llu,\"ok\":%llu,\"errors\":%llu,\"missed\":%llu,\"unanswered\":%llu,"
            "\"reconnects\":%llu,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,",
            (unsigned long long)sent, (unsigned long long)ok, (unsigned long long)err,
            (unsigned long long)missed, (unsigned long long)total_inflight(),
            (unsigned long long)P.conn_errors, cu, cs);
    json_answer(f, &P.answer_all);
    fputs("}\n", f);
    fclose(f);
}

int main(int argc, char **argv) {
    const char *target = NULL, *proto = NULL, *rates = "10,50,100,200,500";
    P.rooms = 1;
    P.size = 100;
    P.nconns = 4;
    P.max_inflight = 0;
    P.channel_prefix = "sse:room:";
    P.node_id = "00000000-bench-4000-8000-000000000001";
    int one_conn = 0;
    hist_reset(&P.answer_all);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--target")) target = v;
        else if (!strcmp(a, "--proto")) proto = v;
        else if (!strcmp(a, "--rooms")) P.rooms = (uint32_t)atol(v);
        else if (!strcmp(a, "--rates")) rates = v;
        else if (!strcmp(a, "--step-seconds")) step_seconds = atof(v);
        else if (!strcmp(a, "--pause-seconds")) pause_seconds = atof(v);
        else if (!strcmp(a, "--size")) P.size = (size_t)atol(v);
        else if (!strcmp(a, "--conns")) P.nconns = atoi(v);
        else if (!strcmp(a, "--max-inflight") || !strcmp(a, "--inflight")) {
            if (!strcmp(v, "window")) P.max_inflight = 0, inflight_desc = "window";
            else {
                char *e;
                long n = strtol(v, &e, 10);
                if (*e || n < 1 || n > 65535) usage();
                P.max_inflight = (uint32_t)n;
                inflight_desc = v;
                /* a sequential publisher: one request at a time on one connection */
                if (n == 1) one_conn = 1;
            }
        } else if (!strcmp(a, "--channel-prefix")) P.channel_prefix = v;
        else if (!strcmp(a, "--node-id")) P.node_id = v;
        else if (!strcmp(a, "--json")) json_path = v;
        else usage();
    }
    if (!target || !proto || P.rooms < 1 || P.nconns < 1 || P.nconns > 4096 || step_seconds <= 0 ||
        pause_seconds < 0 || P.size > 1000000)
        usage();
    if (!strcmp(proto, "sserooms")) P.proto = PROTO_SSEROOMS;
    else if (!strcmp(proto, "nchan")) P.proto = PROTO_NCHAN;
    else if (!strcmp(proto, "redis")) P.proto = PROTO_REDIS;
    else usage();
    /* room r rides connection r % M, so connections beyond R would stay idle
     * (and idle keep-alive connections get closed by some servers) */
    if ((uint32_t)P.nconns > P.rooms) P.nconns = (int)P.rooms;
    if (one_conn) P.nconns = 1;
    double rate_list[PUB_MAX_STEPS];
    P.nsteps = bench_parse_list(rates, rate_list, PUB_MAX_STEPS);
    if (P.nsteps < 0) usage();
    double peak_rate = 0;
    for (int k = 0; k < P.nsteps; k++) {
        P.steps[k].rate = rate_list[k];
        if (rate_list[k] > peak_rate) peak_rate = rate_list[k];
    }
    if (!P.max_inflight) {
        /* A fan-out server answers a publish only after a loop turn that may
         * spend ~100 ms writing to 10,000 subscribers, so a connection
         * carries rate x reply-latency requests at once: a fixed 64 capped
         * one room at ~64 / 0.1 s (278-444 msg/s against sserooms at the
         * 500 msg/s step). Allow 2 s of the peak rate per connection (at
         * least 1024): a server slower than that to answer fails the p99
         * limit anyway, so the publisher is never the limit. */
        double per_conn = peak_rate / (double)P.nconns * 2.0;
        P.max_inflight = per_conn > 65535  ? 65535
                         : per_conn < 1024 ? 1024
                                           : (uint32_t)(per_conn + 0.999);
    }
    if (P.max_inflight > 65535) P.max_inflight = 65535;
    char err[512];
    if (bench_url_parse(&P.url, target, err, sizeof(err)) < 0) {
        fprintf(stderr, "ssepub: %s\n", err);
        return 2;
    }
    if (!strcmp(P.url.scheme, "https")) {
        if (P.proto == PROTO_REDIS) usage();
        P.tls = benchtls_client_ctx("http/1.1", 1);
        if (!P.tls) return 1;
    }
    const char *m = strstr(P.url.path, "{room}");
    if (m) {
        P.has_room_marker = 1;
        snprintf(P.path_prefix, sizeof(P.path_prefix), "%.*s", (int)(m - P.url.path), P.url.path);
        snprintf(P.path_suffix, sizeof(P.path_suffix), "%s", m + 6);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    P.seq = calloc(P.rooms, sizeof(*P.seq));
    P.conns = calloc((size_t)P.nconns, sizeof(*P.conns));
    P.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!P.seq || !P.conns || P.ep < 0) {
        perror("ssepub");
        return 1;
    }
    for (int i = 0; i < P.nconns; i++) {
        P.conns[i].fd = -1;
        if (pub_conn_open(&P, &P.conns[i]) < 0) {
            fprintf(stderr, "ssepub: cannot connect to %s\n", target);
            return 1;
        }
    }
    /* wait (at most 5 s) until every connection is established */
    uint64_t t0 = bench_mono_ns();
    for (;;) {
        int up = 0;
        for (int i = 0; i < P.nconns; i++) up += P.conns[i].fd >= 0 && !P.conns[i].connecting;
        if (up == P.nconns) break;
        if (bench_mono_ns() - t0 > 5000000000ull || stop_flag) {
            fprintf(stderr, "ssepub: only %d of %d connections to %s came up\n", up, P.nconns,
                    target);
            return 1;
        }
        poll_once(10);
    }
    for (int k = 0; k < P.nsteps && !stop_flag; k++) {
        run_step(k);
        if (k + 1 < P.nsteps) pause_for(pause_seconds);
    }
    /* collect the replies still in flight (at most 10 s) */
    uint64_t drain_end = bench_mono_ns() + 10000000000ull;
    while (total_inflight() && bench_mono_ns() < drain_end) poll_once(20);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    report((double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
           (double)(bench_mono_ns() - t0) / 1e9);
    for (int i = 0; i < P.nconns; i++) {
        if (P.conns[i].fd >= 0) close(P.conns[i].fd);
        free(P.conns[i].wbuf);
        free(P.conns[i].ring);
        free(P.conns[i].ring_ns);
        benchtls_free(P.conns[i].ssl);
        ssep_free(&P.conns[i].parser);
    }
    for (int k = 0; k < P.nsteps; k++) free(P.steps[k].answer);
    if (P.tls) SSL_CTX_free(P.tls);
    free(P.conns);
    free(P.seq);
    close(P.ep);
    return 0;
}
