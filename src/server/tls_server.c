/* SPDX-License-Identifier: MIT */
/*
 * tls_server.c: TLS for the server's clients (see tls_server.h).
 *
 * The context is made once from the configuration (sr_server_new refuses
 * a certificate or key it cannot load) and again by sr_server_reload_tls
 * (SIGHUP in the command): new connections get the new context while the
 * open ones keep theirs (reference counted by the engine), so no stream
 * is dropped; the session ticket keys move to the new context, so clients
 * resume across a reload.
 *
 * Each accepted connection gets a TLS transport (transport.h) around an
 * engine session (src/tls). Its input runs on the main loop, which counts
 * completed and resumed handshakes there; failures are counted by reason
 * (protocol, version, certificate, timeout, eof) when conn_read.c closes the
 * connection, logged at debug level only, since a scanner may send
 * thousands. Sessions that went compact (tls.h: no SSL object after a
 * TLS 1.3 handshake) are counted too. A handshake has the request timeout of the connection's
 * first request (conn_read.c's timer already runs from accept).
 *
 * Encryption is in user space (the engine works on memory, see tls.h);
 * the kernel's TLS offload is probed once and reported next to the path
 * in use in the start-up log, /stats and /metrics.
 */
#include "server/tls_server.h"

#include <stdlib.h>
#include <string.h>

#include "server/transport.h"
#include "tls/tls.h"

struct sr_server_tls {
    sr_tls_ctx *ctx;
    char *cert, *key, *min_version;
    bool kernel_offers; /* the kernel has the tls ULP */
    uint64_t handshakes, resumed, reloads, reload_failures;
    uint64_t failures[SR_TLS_FAIL_COUNT];
    uint64_t compact; /* sessions that dropped their SSL object (tls.h) */
};

typedef struct tls_transport {
    sr_transport base;
    sr_tls *tls;
    struct sr_server_tls *owner; /* counters: used on the main loop only */
    uint8_t counted;             /* the handshake was counted (done or failed) */
    uint8_t compact;             /* its going compact was counted */
} tls_transport;

/* --- the transport ------------------------------------------------------- */

static int tt_input(sr_transport *t, const char *in, size_t len, sr_transport_deliver deliver,
                    void *ud) {
    tls_transport *x = (tls_transport *)t;
    bool was_ready = sr_tls_handshake_done(x->tls);
    int rc = sr_tls_input(x->tls, in, len, deliver, ud);
    if (!was_ready && !x->counted && sr_tls_handshake_done(x->tls)) {
        x->counted = 1;
        x->owner->handshakes++;
        if (sr_tls_resumed(x->tls)) x->owner->resumed++;
    }
    if (!x->compact && sr_tls_compact(x->tls)) {
        x->compact = 1;
        x->owner->compact++;
    }
    return rc;
}

static ssize_t tt_seal(sr_transport *t, const struct iovec *iov, size_t n) {
    return sr_tls_seal(((tls_transport *)t)->tls, iov, n);
}

static size_t tt_pending(sr_transport *t, const char **p) {
    return sr_tls_pending(((tls_transport *)t)->tls, p);
}

static void tt_sent(sr_transport *t, size_t n) {
    sr_tls_sent(((tls_transport *)t)->tls, n);
}

static void tt_free(sr_transport *t) {
    tls_transport *x = (tls_transport *)t;
    sr_tls_free(x->tls);
    free(x);
}

static const sr_transport_vt tls_vt = {
    .name = "tls",
    .input = tt_input,
    .seal = tt_seal,
    .pending = tt_pending,
    .sent = tt_sent,
    .free = tt_free,
};

static tls_transport *tls_of(const sr_conn *c) {
    return c->xport && c->xport->vt == &tls_vt ? (tls_transport *)c->xport : NULL;
}

bool sr_tls_conn_alpn_h2(const sr_conn *c) {
    tls_transport *x = tls_of(c);
    return x && sr_tls_handshake_done(x->tls) && strcmp(sr_tls_alpn(x->tls), "h2") == 0;
}

/* --- the context ----------------------------------------------------------- */

static sr_tls_ctx *make_ctx(const char *cert, const char *key, const char *minv,
                            const sr_tls_ctx *old, char *err, size_t errlen) {
    sr_tls_server_opts o = {
        .cert_file = cert,
        .key_file = key,
        .min_version = minv,
        .offer_h2 = sr_h2_available(),
        .keep_tickets_of = old,
    };
    return sr_tls_server_ctx(&o, err, errlen);
}

int sr_tls_config_check(const sr_config *cfg, char *err, size_t errlen) {
    if (!cfg->tls_cert_file && !cfg->tls_key_file) {
        if (cfg->tls_min_version) {
            snprintf(err, errlen, "tls_min_version is set without a TLS certificate");
            return SR_EINVAL;
        }
        return SR_OK;
    }
    sr_tls_ctx *ctx = make_ctx(cfg->tls_cert_file, cfg->tls_key_file, cfg->tls_min_version, NULL,
                               err, errlen);
    if (!ctx) return SR_EINVAL;
    sr_tls_ctx_unref(ctx);
    return SR_OK;
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

int sr_tls_server_new(sr_server *srv, const sr_config *cfg, char *err, size_t errlen) {
    /* the server keeps no pointer to the caller's strings */
    srv->cfg.tls_cert_file = srv->cfg.tls_key_file = srv->cfg.tls_min_version = NULL;
    if (!cfg->tls_cert_file && !cfg->tls_key_file && !cfg->tls_min_version) return SR_OK;
    if (sr_tls_config_check(cfg, err, errlen) < 0) return SR_EINVAL;
    struct sr_server_tls *st = calloc(1, sizeof(*st));
    if (!st) return SR_ENOMEM;
    srv->tls = st;
    st->cert = dup_or_null(cfg->tls_cert_file);
    st->key = dup_or_null(cfg->tls_key_file);
    st->min_version = dup_or_null(cfg->tls_min_version);
    if (!st->cert || !st->key || (cfg->tls_min_version && !st->min_version)) return SR_ENOMEM;
    st->ctx = make_ctx(st->cert, st->key, st->min_version, NULL, err, errlen);
    if (!st->ctx) return SR_EINVAL;
    st->kernel_offers = sr_tls_ktls_probe() == 1;
    return SR_OK;
}

void sr_tls_server_free(sr_server *srv) {
    struct sr_server_tls *st = srv->tls;
    if (!st) return;
    sr_tls_ctx_unref(st->ctx);
    free(st->cert);
    free(st->key);
    free(st->min_version);
    free(st);
    srv->tls = NULL;
}

bool sr_tls_server_on(const sr_server *srv) {
    return srv->tls != NULL;
}

int sr_server_reload_tls(sr_server *srv, char *err, size_t errlen) {
    if (!srv) return SR_EINVAL;
    struct sr_server_tls *st = srv->tls;
    if (!st) {
        if (err && errlen) snprintf(err, errlen, "TLS is not on: nothing to reload");
        return SR_ESTATE;
    }
    char why[256] = "";
    sr_tls_ctx *ctx = make_ctx(st->cert, st->key, st->min_version, st->ctx, why, sizeof(why));
    if (!ctx) {
        st->reload_failures++;
        sr_log(srv, SR_LOG_ERROR, 0, "TLS reload failed, the previous certificate stays in use: %s",
               why);
        if (err && errlen) snprintf(err, errlen, "%s", why);
        return SR_EINVAL;
    }
    sr_tls_ctx_unref(st->ctx); /* open sessions keep their own reference */
    st->ctx = ctx;
    st->reloads++;
    sr_log(srv, SR_LOG_INFO, 0, "TLS certificate reloaded from %s", st->cert);
    return SR_OK;
}

/* --- connections -------------------------------------------------------------- */

int sr_tls_server_accept(sr_conn *c) {
    struct sr_server_tls *st = c->srv->tls;
    tls_transport *x = calloc(1, sizeof(*x));
    if (!x) return -1;
    x->tls = sr_tls_new(st->ctx);
    if (!x->tls) {
        free(x);
        return -1;
    }
    x->base.vt = &tls_vt;
    x->owner = st;
    c->xport = &x->base;
    return 0;
}

void sr_tls_server_failed(sr_conn *c, int why) {
    tls_transport *x = tls_of(c);
    if (!x || x->counted) return;
    x->counted = 1;
    sr_tls_fail reason = why >= 0 ? (sr_tls_fail)why : sr_tls_failure(x->tls);
    x->owner->failures[reason]++;
    sr_log(c->srv, SR_LOG_DEBUG, c->id, "connection %llu: TLS handshake failed (%s)%s%s",
           (unsigned long long)c->id, sr_tls_fail_names[reason], why < 0 ? ": " : "",
           why < 0 ? sr_tls_error(x->tls) : "");
}

bool sr_tls_conn_ready(const sr_conn *c) {
    tls_transport *x = tls_of(c);
    return !x || sr_tls_handshake_done(x->tls);
}

void sr_tls_conn_close_notify(sr_conn *c) {
    tls_transport *x = tls_of(c);
    if (x) sr_tls_close(x->tls);
}

const char *sr_tls_server_path(const sr_server *srv) {
    return srv->tls ? "user" : "none";
}

const char *sr_server_tls_path(const sr_server *srv) {
    return srv ? sr_tls_server_path(srv) : "none";
}

int sr_server_tls_kernel_offered(const sr_server *srv) {
    return srv && srv->tls && srv->tls->kernel_offers;
}

/* --- /stats and /metrics ------------------------------------------------------- */

void sr_tls_stats_json(sr_server *srv, sr_buf *b) {
    struct sr_server_tls *st = srv->tls;
    sr_buf_printf(b, ",\"tls\":{\"enabled\":%s,\"path\":\"%s\",\"kernel_tls\":\"%s\"",
                  st ? "true" : "false", sr_tls_server_path(srv),
                  st && st->kernel_offers ? "offered" : "unavailable");
    if (st) {
        sr_buf_printf(
            b, ",\"handshakes\":%llu,\"resumed\":%llu,\"reloads\":%llu,\"reload_failures\":%llu",
            (unsigned long long)st->handshakes, (unsigned long long)st->resumed,
            (unsigned long long)st->reloads, (unsigned long long)st->reload_failures);
        sr_buf_printf(b, ",\"compact_sessions\":%llu", (unsigned long long)st->compact);
        sr_buf_puts(b, ",\"handshake_failures\":{");
        for (int i = 0; i < SR_TLS_FAIL_COUNT; i++)
            sr_buf_printf(b, "%s\"%s\":%llu", i ? "," : "", sr_tls_fail_names[i],
                          (unsigned long long)st->failures[i]);
        sr_buf_puts(b, "}");
    }
    sr_buf_puts(b, "}");
}

void sr_tls_metrics(sr_server *srv, sr_buf *b) {
    struct sr_server_tls *st = srv->tls;
    sr_buf_printf(
        b,
        "# HELP sserooms_tls_info Where TLS records are encrypted: path none (plain HTTP), user "
        "(OpenSSL in user space) or kernel; kernel_tls says whether the kernel offers it.\n"
        "# TYPE sserooms_tls_info gauge\n"
        "sserooms_tls_info{path=\"%s\",kernel_tls=\"%s\"} 1\n",
        sr_tls_server_path(srv), st && st->kernel_offers ? "offered" : "unavailable");
    if (!st) return;
    sr_metric_counter(b, "tls_handshakes_total", "TLS handshakes completed.", st->handshakes);
    sr_metric_counter(b, "tls_resumed_total", "TLS handshakes that resumed a session (ticket).",
                      st->resumed);
    sr_metric_counter(b, "tls_compact_sessions_total",
                      "TLS 1.3 sessions that dropped their OpenSSL object after the handshake "
                      "(records sealed with their keys alone).",
                      st->compact);
    sr_buf_printf(b,
                  "# HELP sserooms_tls_reloads_total Certificate reloads (SIGHUP), by result.\n"
                  "# TYPE sserooms_tls_reloads_total counter\n"
                  "sserooms_tls_reloads_total{result=\"ok\"} %llu\n"
                  "sserooms_tls_reloads_total{result=\"failed\"} %llu\n"
                  "# HELP sserooms_tls_handshake_failures_total TLS handshakes that failed, by "
                  "reason.\n"
                  "# TYPE sserooms_tls_handshake_failures_total counter\n",
                  (unsigned long long)st->reloads, (unsigned long long)st->reload_failures);
    for (int i = 0; i < SR_TLS_FAIL_COUNT; i++)
        sr_buf_printf(b, "sserooms_tls_handshake_failures_total{reason=\"%s\"} %llu\n",
                      sr_tls_fail_names[i], (unsigned long long)st->failures[i]);
}
