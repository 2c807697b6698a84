/* SPDX-License-Identifier: MIT */
/*
 * info.c: the information endpoints: GET /healthz (the adapter's health
 * decides ok or degraded), the probes GET /livez (the process answers) and
 * GET /readyz (ready for traffic: the adapter healthy, which for Redis
 * means connected and every subscription confirmed by Redis), GET /rooms
 * (local rooms and member counts) and GET /stats (the counters, plus the
 * adapter's own figures and the recoveries, recover.c). The probes and
 * /healthz answer HEAD as well.
 */
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"
#include "server/recover.h"
#include "server/tls_server.h"

void sr_adapter_stats_json(sr_server *srv, sr_buf *b) {
    sr_buf_puts(b, ",\"adapter\":");
    const char *name = srv->has_adapter ? (srv->adapter.name ? srv->adapter.name : "custom")
                                        : (srv->bus ? "memory-bus" : "memory");
    sr_buf_json_str(b, name, strlen(name));
    if (srv->has_adapter && srv->adapter.stats_json) {
        /* most fit on the stack; an adapter that needs more says how much
         * (a cluster lists every shard); its figures may grow meanwhile */
        char small[4096];
        char *tmp = small;
        size_t cap = sizeof small;
        for (int tries = 0; tries < 4; tries++) {
            size_t n = srv->adapter.stats_json(srv->adapter.ctx, tmp, cap);
            if (n <= cap) {
                sr_buf_append(b, tmp, n);
                break;
            }
            if (tmp != small) free(tmp);
            cap = n + 256;
            if (!(tmp = malloc(cap))) {
                b->oom = 1;
                return;
            }
        }
        if (tmp != small) free(tmp);
    }
}

void sr_info_healthz(sr_conn *c) {
    sr_server *srv = c->srv;
    char reason[512] = "";
    int degraded = 0;
    if (srv->has_adapter && srv->adapter.health)
        degraded = srv->adapter.health(srv->adapter.ctx, reason, sizeof(reason)) != 0;
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_puts(&b, degraded ? "{\"status\":\"degraded\",\"reason\":" : "{\"status\":\"ok\"");
    if (degraded) sr_buf_json_str(&b, reason, strnlen(reason, sizeof(reason)));
    sr_buf_printf(&b, ",\"version\":\"%s\",\"streams\":%llu", SR_VERSION_STRING,
                  (unsigned long long)srv->stats.streams);
    sr_adapter_stats_json(srv, &b);
    sr_buf_puts(&b, "}");
    if (b.oom) sr_routes_error(c, 503, "out of memory", false);
    else sr_routes_json(c, degraded ? 503 : 200, b.p, b.len, NULL);
    sr_buf_free(&b);
}

void sr_info_livez(sr_conn *c) {
    static const char body[] = "{\"status\":\"alive\"}";
    sr_routes_json(c, 200, body, sizeof body - 1, NULL);
}

void sr_info_readyz(sr_conn *c) {
    sr_server *srv = c->srv;
    char reason[512] = "";
    int not_ready = srv->has_adapter && srv->adapter.health &&
                    srv->adapter.health(srv->adapter.ctx, reason, sizeof(reason)) != 0;
    sr_buf b;
    sr_buf_init(&b);
    if (not_ready) {
        sr_buf_puts(&b, "{\"status\":\"not ready\",\"reason\":");
        sr_buf_json_str(&b, reason, strnlen(reason, sizeof(reason)));
        sr_buf_puts(&b, "}");
    } else {
        sr_buf_puts(&b, "{\"status\":\"ready\"}");
    }
    if (b.oom) sr_routes_error(c, 503, "out of memory", false);
    else sr_routes_json(c, not_ready ? 503 : 200, b.p, b.len, NULL);
    sr_buf_free(&b);
}

void sr_info_rooms(sr_conn *c) {
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_puts(&b, "{\"rooms\":[");
    sr_registry_iter it = {0};
    sr_room *r;
    int first = 1;
    while ((r = sr_registry_next(c->srv->reg, &it))) {
        sr_buf_puts(&b, first ? "{\"name\":" : ",{\"name\":");
        first = 0;
        sr_buf_json_str(&b, r->name, r->name_len);
        sr_buf_puts(&b, ",\"members\":");
        sr_buf_u64(&b, r->n_members);
        sr_buf_puts(&b, "}");
    }
    sr_buf_puts(&b, "]}");
    if (b.oom) sr_routes_error(c, 503, "out of memory", false);
    else sr_routes_json(c, 200, b.p, b.len, NULL);
    sr_buf_free(&b);
}

void sr_stats_json(sr_server *srv, sr_buf *b) {
    sr_stats s;
    sr_server_stats(srv, &s);
    sr_buf_printf(b,
                  "{\"connections\":%llu,\"streams\":%llu,\"rooms\":%llu,\"streams_total\":%llu,"
                  "\"requests_total\":%llu,\"messages_in\":%llu,\"messages_remote_in\":%llu,"
                  "\"messages_out\":%llu,\"bytes_out\":%llu,\"heartbeats\":%llu,"
                  "\"slow_disconnects\":%llu,\"rejected_requests\":%llu,\"adapter_errors\":%llu",
                  (unsigned long long)s.connections, (unsigned long long)s.streams,
                  (unsigned long long)s.rooms, (unsigned long long)s.streams_total,
                  (unsigned long long)s.requests_total, (unsigned long long)s.messages_in,
                  (unsigned long long)s.messages_remote_in, (unsigned long long)s.messages_out,
                  (unsigned long long)s.bytes_out, (unsigned long long)s.heartbeats,
                  (unsigned long long)s.slow_disconnects, (unsigned long long)s.rejected_requests,
                  (unsigned long long)s.adapter_errors);
    sr_accept_stats_json(srv, b);
    sr_limits_json(srv, b);
    sr_clients_json(srv, b);
    sr_h2c_json(srv, b);
    sr_adapter_stats_json(srv, b);
    if (srv->has_adapter) sr_recover_json(srv, b);
    sr_auth_stats_json(srv, b);
    sr_tls_stats_json(srv, b);
    sr_metrics_engine_json(srv, b);
    sr_buf_puts(b, "}");
}

void sr_info_stats(sr_conn *c) {
    sr_buf b;
    sr_buf_init(&b);
    sr_stats_json(c->srv, &b);
    if (b.oom) sr_routes_error(c, 503, "out of memory", false);
    else sr_routes_json(c, 200, b.p, b.len, NULL);
    sr_buf_free(&b);
}
