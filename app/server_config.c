/* SPDX-License-Identifier: MIT */
/*
 * server_config.c: the library's configuration built from the command's
 * settings (options.c): sr_config and sr_redis_options filled from the
 * checked values (app_server_config_build), the authorization settings
 * that make no sense together (app_settings_check_auth), and the demo
 * page's folder. Strings are not copied: they point into the settings,
 * which outlive the server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"

int app_settings_check_auth(const app_settings *s, char *err, size_t errcap) {
    static const app_opt_id auth_opts[] = {
        APP_OPT_AUTH_ALG,          APP_OPT_AUTH_SECRET,   APP_OPT_AUTH_SECRET_FILE,
        APP_OPT_AUTH_PUBLIC_KEY,   APP_OPT_AUTH_JWKS,     APP_OPT_AUTH_LEEWAY,
        APP_OPT_AUTH_ISSUER,       APP_OPT_AUTH_AUDIENCE, APP_OPT_AUTH_COOKIE,
        APP_OPT_AUTH_EXPIRY_EVENT, APP_OPT_TICKET_TTL,    APP_OPT_MAX_TICKETS_PER_SUBJECT,
        APP_OPT_TICKET_RATE,       APP_OPT_TICKET_SECRET};
    const app_value *v = s->v;
    app_settings defaults;
    app_settings_init(&defaults);
    int chosen = -1; /* the first auth setting given a value of its own */
    for (size_t i = 0; i < sizeof auth_opts / sizeof auth_opts[0] && chosen < 0; i++) {
        const app_value *o = &v[auth_opts[i]], *d = &defaults.v[auth_opts[i]];
        /* a default written out (a --check-config report used as a file) is
         * no choice: unset strings and default values are neutral */
        int neutral = app_opt_defs[auth_opts[i]].kind == APP_KIND_NUM
                          ? o->num == d->num
                          : !o->str || (d->str && strcmp(o->str, d->str) == 0);
        if (o->source != APP_SRC_DEFAULT && !neutral) chosen = (int)auth_opts[i];
    }
    app_settings_free(&defaults);
    if (chosen < 0) return 0;
    const char *name = app_opt_defs[chosen].name;
    const char *where = v[chosen].where ? v[chosen].where : "?";
    if (v[APP_OPT_ANONYMOUS].num) {
        snprintf(err, errcap,
                 "anonymous is on but %s (%s) is set: choose anonymous access or "
                 "JWT authorization, not both",
                 name, where);
        return -1;
    }
    if (!v[APP_OPT_AUTH_ALG].str) {
        snprintf(err, errcap,
                 "%s (%s) is set but auth-alg is not: authorization would be "
                 "half-configured (set auth-alg HS256, RS256 or ES256)",
                 name, where);
        return -1;
    }
    return 0;
}

int app_server_config_build(const app_settings *s, app_server_config *out) {
    memset(out, 0, sizeof *out);
    sr_config_init(&out->server);
    sr_redis_options_init(&out->redis);
    const app_value *v = s->v;
    sr_config *c = &out->server;
    c->host = v[APP_OPT_HOST].str ? v[APP_OPT_HOST].str : c->host;
    c->port = (int)v[APP_OPT_PORT].num;
    c->heartbeat_ms = (uint32_t)v[APP_OPT_HEARTBEAT].num;
    c->max_queue_bytes = (size_t)v[APP_OPT_MAX_QUEUE].num;
    c->max_http_buffer_bytes = (size_t)v[APP_OPT_MAX_HTTP_BUFFER].num;
    c->max_header_bytes = (size_t)v[APP_OPT_MAX_HEADER].num;
    c->max_body_bytes = (size_t)v[APP_OPT_MAX_BODY].num;
    c->request_timeout_ms = (uint32_t)v[APP_OPT_REQ_TIMEOUT].num;
    c->keepalive_timeout_ms = (uint32_t)v[APP_OPT_KEEPALIVE].num;
    c->max_rooms_per_conn = (unsigned)v[APP_OPT_MAX_ROOMS].num;
    c->max_room_len = (size_t)v[APP_OPT_MAX_ROOM_LEN].num;
    c->max_connections = (size_t)v[APP_OPT_MAX_CONNS].num;
    c->max_connections_per_addr = (size_t)v[APP_OPT_MAX_CONNS_PER_ADDR].num;
    c->ipv6_prefix_len = (unsigned)v[APP_OPT_IPV6_PREFIX_LEN].num;
    c->max_message_bytes = (size_t)v[APP_OPT_MAX_MESSAGE].num;
    c->max_publish_bytes = (size_t)v[APP_OPT_MAX_PUBLISH].num;
    c->sequence_max_names = (unsigned)v[APP_OPT_SEQ_MAX_NAMES].num;
    c->sequence_ttl_ms = (uint32_t)v[APP_OPT_SEQ_TTL].num;
    c->threads = (unsigned)v[APP_OPT_THREADS].num;
    c->sweep_slice_us = (uint32_t)v[APP_OPT_SWEEP_SLICE_US].num;
    c->sweep_slice_streams = (uint32_t)v[APP_OPT_SWEEP_SLICE].num;
    c->proxy_protocol = (int)v[APP_OPT_PROXY_PROTOCOL].num;
    c->h2c = (int)v[APP_OPT_H2C].num;
    c->h2_max_streams = (uint32_t)v[APP_OPT_H2_MAX_STREAMS].num;
    c->tls_cert_file = v[APP_OPT_TLS_CERT].str;
    c->tls_key_file = v[APP_OPT_TLS_KEY].str;
    if (c->tls_cert_file || c->tls_key_file)
        c->tls_min_version =
            app_opt_defs[APP_OPT_TLS_MIN_VERSION].choices[v[APP_OPT_TLS_MIN_VERSION].num];
    c->publish_key = v[APP_OPT_PUBLISH_KEY].str;
    c->admin_key = v[APP_OPT_ADMIN_KEY].str;
    c->auth_alg = v[APP_OPT_AUTH_ALG].str;
    c->auth_secret = v[APP_OPT_AUTH_SECRET].str;
    c->auth_secret_file = v[APP_OPT_AUTH_SECRET_FILE].str;
    c->auth_public_key_file = v[APP_OPT_AUTH_PUBLIC_KEY].str;
    c->auth_jwks_file = v[APP_OPT_AUTH_JWKS].str;
    c->auth_leeway_s = (unsigned)v[APP_OPT_AUTH_LEEWAY].num;
    c->auth_issuer = v[APP_OPT_AUTH_ISSUER].str;
    c->auth_audience = v[APP_OPT_AUTH_AUDIENCE].str;
    if (v[APP_OPT_AUTH_COOKIE].str) c->auth_cookie = v[APP_OPT_AUTH_COOKIE].str;
    if (v[APP_OPT_AUTH_EXPIRY_EVENT].str) c->auth_expiry_event = v[APP_OPT_AUTH_EXPIRY_EVENT].str;
    c->ticket_ttl_ms = (uint32_t)v[APP_OPT_TICKET_TTL].num;
    c->ticket_secret = v[APP_OPT_TICKET_SECRET].str;
    c->max_tickets_per_subject = (unsigned)v[APP_OPT_MAX_TICKETS_PER_SUBJECT].num;
    c->ticket_rate = (unsigned)v[APP_OPT_TICKET_RATE].num;
    c->history = (unsigned)v[APP_OPT_HISTORY].num;
    c->history_ttl_ms = (uint32_t)v[APP_OPT_HISTORY_TTL].num;
    c->history_max_bytes = (size_t)v[APP_OPT_HISTORY_MAX_BYTES].num;
    if (v[APP_OPT_RESET_EVENT].str) {
        const char *ev = v[APP_OPT_RESET_EVENT].str;
        size_t n = strnlen(ev, sizeof(c->reset_event));
        /* one too long is left unterminated: sr_config_check refuses it */
        memcpy(c->reset_event, ev, n < sizeof(c->reset_event) ? n + 1 : n);
    }
    if (v[APP_OPT_GAP_EVENT].str) {
        const char *ev = v[APP_OPT_GAP_EVENT].str;
        size_t n = strnlen(ev, sizeof(c->gap_event));
        memcpy(c->gap_event, ev, n < sizeof(c->gap_event) ? n + 1 : n);
    }
    const app_value *cors = &v[APP_OPT_CORS];
    if (cors->n_items) {
        out->cors_origins = calloc(cors->n_items, sizeof *out->cors_origins);
        if (!out->cors_origins) return -1;
        for (size_t i = 0; i < cors->n_items; i++) out->cors_origins[i] = cors->items[i].text;
        c->cors_origins = out->cors_origins;
        c->n_cors_origins = cors->n_items;
    }
    const app_value *trusted = &v[APP_OPT_TRUSTED_PROXY];
    if (trusted->n_items) {
        out->trusted_proxies = calloc(trusted->n_items, sizeof *out->trusted_proxies);
        if (!out->trusted_proxies) return -1;
        for (size_t i = 0; i < trusted->n_items; i++)
            out->trusted_proxies[i] = trusted->items[i].text;
        c->trusted_proxies = out->trusted_proxies;
        c->n_trusted_proxies = trusted->n_items;
    }
    out->redis_url = v[APP_OPT_REDIS].str;
    out->redis.url = out->redis_url;
    out->redis.channel_prefix = v[APP_OPT_PREFIX].str ? v[APP_OPT_PREFIX].str : "";
    out->redis.node_id = v[APP_OPT_NODE_ID].str;
    out->redis.outbox_max = (size_t)v[APP_OPT_REDIS_OUTBOX].num;
    /* cluster seeds also go through redis_url, so that the server starts
     * the Redis adapter; given both, the adapter refuses the combination */
    out->redis.cluster = v[APP_OPT_REDIS_CLUSTER].str;
    if (!out->redis_url) out->redis_url = out->redis.cluster;
    out->redis.tls_ca_file = v[APP_OPT_REDIS_TLS_CA].str;
    out->redis.tls_cert_file = v[APP_OPT_REDIS_TLS_CERT].str;
    out->redis.tls_key_file = v[APP_OPT_REDIS_TLS_KEY].str;
    out->redis.canary_interval_ms = (uint32_t)v[APP_OPT_REDIS_CANARY_INTERVAL].num;
    out->redis.canary_timeout_ms = (uint32_t)v[APP_OPT_REDIS_CANARY_TIMEOUT].num;
    out->redis.presence_ttl_ms = (uint32_t)v[APP_OPT_PRESENCE_TTL].num;
    out->redis.presence_events = (int)v[APP_OPT_PRESENCE_EVENTS].num;
    c->presence_events = (int)v[APP_OPT_PRESENCE_EVENTS].num;
    c->presence_debounce_ms = (uint32_t)v[APP_OPT_PRESENCE_DEBOUNCE].num;
    out->log_format = (int)v[APP_OPT_LOG_FORMAT].num;
    out->log_level = (int)v[APP_OPT_LOG_LEVEL].num;
    c->web_root = v[APP_OPT_WEB_ROOT].str;
    if (v[APP_OPT_DEMO].num) {
        c->stats_room = "sserooms:stats";
        if (!c->web_root) c->web_root = out->web_root_owned = app_default_web_root();
    }
    return 0;
}

/* The demo page: installed next to the binary (PREFIX/share/sserooms/web),
 * else the source tree's web/ folder the binary was built from. */
char *app_default_web_root(void) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char path[4200];
            snprintf(path, sizeof(path), "%s/../share/sserooms/web/index.html", exe);
            if (access(path, R_OK) == 0) {
                path[strlen(path) - strlen("/index.html")] = '\0';
                return strdup(path);
            }
        }
    }
#ifdef SR_SOURCE_WEB_ROOT
    return strdup(SR_SOURCE_WEB_ROOT);
#else
    return NULL;
#endif
}

void app_server_config_free(app_server_config *c) {
    free(c->web_root_owned);
    free(c->cors_origins);
    free(c->trusted_proxies);
    memset(c, 0, sizeof *c);
}
