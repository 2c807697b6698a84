/* SPDX-License-Identifier: MIT */
/*
 * auth.c: authorization of the server's endpoints with JWTs (src/auth):
 * its configuration, lifetime and counters. This file builds and frees
 * the state (struct sr_auth, auth_int.h), runs its timers and writes its
 * /stats and /metrics; the checks are auth_token.c's (tokens, the admin
 * endpoints, the GET /sse gate) and auth_tickets.c's (signed tickets and
 * sessions, their claim in Redis, POST /tickets).
 *
 * Configured by the auth_* fields of sr_config: sr_config_check (public)
 * and sr_auth_new build the verifier the same way, so a configuration the
 * command checked is the one the server runs with. With auth on:
 *  - GET /sse (sr_auth_stream, before the accept hook): a valid session
 *    cookie covering every ?room= lets it in; else a ticket (?ticket=) is
 *    redeemed (and sets that cookie), else a token is taken from the
 *    Authorization header, ?token= or the cookie, verified, and its "rooms"
 *    claim must allow every ?room=; else 401 / 403 and nothing is joined;
 *    the token's "sub" (carried by the ticket and the session too)
 *    becomes the stream's user (presence counts users);
 *  - POST /publish (sr_auth_bearer_grants + sr_auth_publish_allowed): a
 *    Bearer token whose "publish" claim allows every target room, and with
 *    "sequence", whose "sequences" claim allows that name
 *    (sr_auth_sequence_allowed);
 *  - POST /tickets (sr_auth_tickets): a Bearer token buys a signed ticket
 *    (any node with the ticket key accepts it; single-use on this one,
 *    and with Redis on every node: claimed there with SET NX before the
 *    stream opens, 503 when Redis cannot say)
 *    bound to rooms its "rooms" claim allows, within the limits of
 *    its subject ("sub", else the token): max_tickets_per_subject live and
 *    ticket_rate a second (429), and a full store answers 503 instead of
 *    evicting anyone's ticket.
 *  - a stream opened with a token keeps its deadline ("exp" + leeway) and
 *    subject on the connection; the expiry timer (every 250 ms) has
 *    revoke.c end those past it, after the --auth-expiry-event event;
 *  - with auth_jwks_file, the keys of a JSON Web Key Set picked by the
 *    token header's "kid" (src/auth/jwks.c), replaced as a whole by
 *    sr_server_reload_auth (the command: on SIGHUP) or kept when the new
 *    file is bad;
 *  - the admin endpoints (sr_auth_admin, for the routes marked admin in
 *    routes.c; checked in auth_token.c): the admin key as a Bearer token, or a JWT with
 *    "admin": true; open when neither auth nor an admin key is set.
 * Refusals are counted by reason for /stats and /metrics. Expired tickets
 * are swept by one timer. Tokens and tickets are never logged: the error
 * messages only say which check failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/jwks.h"
#include "auth/jwt.h"
#include "auth/signed.h"
#include "auth/tickets.h"
#include "common/abi.h"
#include "server/auth_int.h"
#include "server/history.h"
#include "server/internal.h"
#include "server/tls_server.h"

#define SR_AUTH_DEFAULT_COOKIE "sserooms_token"
#define SR_AUTH_DEFAULT_LEEWAY 30u
#define SR_AUTH_MAX_SECRET_FILE 65536u
#define SR_AUTH_DEFAULT_EXPIRY_EVENT "auth-expired"
#define SR_AUTH_EXPIRY_TICK_MS 250u
#define SR_AUTH_TICKET_KEY_LABEL "sserooms ticket key v1"

/* --- configuration ------------------------------------------------------ */

static int set_err(char *err, size_t cap, const char *fmt, const char *a) {
    if (err && cap) snprintf(err, cap, fmt, a);
    return SR_EINVAL;
}

/* Reads a secret file; one trailing LF or CRLF is dropped. */
static int read_secret_file(const char *path, char **out, size_t *len, char *err, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return set_err(err, cap, "auth-secret-file '%s': cannot be read", path);
    char *buf = malloc(SR_AUTH_MAX_SECRET_FILE + 1);
    if (!buf) {
        fclose(f);
        return SR_ENOMEM;
    }
    size_t n = fread(buf, 1, SR_AUTH_MAX_SECRET_FILE + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || n > SR_AUTH_MAX_SECRET_FILE) {
        OPENSSL_cleanse(buf, n);
        free(buf);
        return set_err(err, cap,
                       failed ? "auth-secret-file '%s': read error"
                              : "auth-secret-file '%s': larger than 64 KiB",
                       path);
    }
    if (n && buf[n - 1] == '\n') n--;
    if (n && buf[n - 1] == '\r') n--;
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return SR_OK;
}

static int cookie_name_ok(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
            strchr("()<>@,;:\\\"/[]?={}", *s))
            return 0;
    return 1;
}

/* Checks the auth settings and, when auth is on and out is not NULL,
 * makes the verifier. */
static int build_verifier(const sr_config *cfg, sr_jwt_verifier **out, sr_jwks **jwks_out,
                          unsigned char ticket_key[SR_SIGNED_KEY_LEN], char *err, size_t cap) {
    if (err && cap) err[0] = '\0';
    if (out) *out = NULL;
    if (jwks_out) *jwks_out = NULL;
    if (cfg->ticket_secret && strlen(cfg->ticket_secret) < 32)
        return set_err(err, cap, "ticket-secret: at least %s bytes", "32");
    if (!cfg->auth_alg) {
        static const char *const names[] = {"auth-secret", "auth-secret-file", "auth-public-key",
                                            "auth-issuer", "auth-audience",    "ticket-secret",
                                            "auth-jwks"};
        const char *set[] = {cfg->auth_secret,   cfg->auth_secret_file, cfg->auth_public_key_file,
                             cfg->auth_issuer,   cfg->auth_audience,    cfg->ticket_secret,
                             cfg->auth_jwks_file};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (set[i])
                return set_err(err, cap,
                               "%s is set but auth-alg is not: authorization would be "
                               "half-configured (set auth-alg HS256, RS256 or ES256)",
                               names[i]);
        return SR_OK;
    }
    sr_jwt_config jc = {0};
    if (sr_jwt_alg_parse(cfg->auth_alg, &jc.alg) < 0)
        return set_err(err, cap, "auth-alg '%.64s': expected HS256, RS256 or ES256", cfg->auth_alg);
    if (cfg->auth_leeway_s > SR_JWT_MAX_LEEWAY)
        return set_err(err, cap, "auth-leeway-s: at most %s seconds", "86400");
    if (cfg->ticket_ttl_ms > SR_TICKET_MAX_TTL_MS)
        return set_err(err, cap, "ticket-ttl-ms: at most %s ms", "3600000");
    if (cfg->auth_expiry_event &&
        (!*cfg->auth_expiry_event || strlen(cfg->auth_expiry_event) > 128 ||
         strpbrk(cfg->auth_expiry_event, "\r\n")))
        return set_err(err, cap, "auth-expiry-event '%.64s': 1 to 128 characters, no line break",
                       cfg->auth_expiry_event);
    if (cfg->auth_cookie && !cookie_name_ok(cfg->auth_cookie))
        return set_err(err, cap, "auth-cookie '%.64s': not a cookie name", cfg->auth_cookie);
    if (cfg->auth_jwks_file) {
        if (cfg->auth_secret || cfg->auth_secret_file || cfg->auth_public_key_file)
            return set_err(err, cap,
                           "auth-jwks replaces auth-secret, auth-secret-file and "
                           "auth-public-key: give one of them%s",
                           "");
        jc.leeway_s = cfg->auth_leeway_s;
        jc.issuer = cfg->auth_issuer;
        jc.audience = cfg->auth_audience;
        sr_jwks *k = NULL;
        char why[256] = "";
        int rc = sr_jwks_load(cfg->auth_jwks_file, &jc, &k, why, sizeof(why));
        if (rc == SR_JWT_ENOMEM) return SR_ENOMEM;
        if (rc != SR_JWT_OK) {
            if (err && cap) snprintf(err, cap, "%s", why);
            return SR_EINVAL;
        }
        /* no shared secret to derive the ticket key from: --ticket-secret,
         * else this process's own */
        int keyed = !ticket_key ||
                    (cfg->ticket_secret
                         ? sr_signed_derive_key(cfg->ticket_secret, strlen(cfg->ticket_secret),
                                                SR_AUTH_TICKET_KEY_LABEL, ticket_key) == 0
                         : RAND_bytes(ticket_key, SR_SIGNED_KEY_LEN) == 1);
        if (!keyed || !jwks_out) {
            sr_jwks_free(k);
            return keyed ? SR_OK : SR_ENOMEM;
        }
        *jwks_out = k;
        return SR_OK;
    }
    char *file_secret = NULL;
    size_t file_len = 0;
    if (jc.alg == SR_JWT_HS256) {
        if (cfg->auth_public_key_file)
            return set_err(err, cap,
                           "auth-public-key is for RS256/ES256; %s takes auth-secret or "
                           "auth-secret-file",
                           "HS256");
        if (cfg->auth_secret && cfg->auth_secret_file)
            return set_err(err, cap, "give auth-secret or auth-secret-file, not both%s", "");
        if (!cfg->auth_secret && !cfg->auth_secret_file)
            return set_err(err, cap,
                           "auth-alg HS256 needs auth-secret or auth-secret-file (at "
                           "least %s bytes)",
                           "32");
        if (cfg->auth_secret_file) {
            int rc = read_secret_file(cfg->auth_secret_file, &file_secret, &file_len, err, cap);
            if (rc < 0) return rc;
            jc.secret = file_secret;
            jc.secret_len = file_len;
        } else {
            jc.secret = cfg->auth_secret;
            jc.secret_len = strlen(cfg->auth_secret);
        }
    } else {
        if (cfg->auth_secret || cfg->auth_secret_file)
            return set_err(err, cap, "auth-secret is for HS256; auth-alg %s takes auth-public-key",
                           cfg->auth_alg);
        if (!cfg->auth_public_key_file)
            return set_err(err, cap, "auth-alg %s needs auth-public-key (a PEM public key file)",
                           cfg->auth_alg);
        jc.public_key_file = cfg->auth_public_key_file;
    }
    jc.leeway_s = cfg->auth_leeway_s;
    jc.issuer = cfg->auth_issuer;
    jc.audience = cfg->auth_audience;
    sr_jwt_verifier *v = NULL;
    char why[256] = "";
    int rc = sr_jwt_verifier_new(&jc, &v, why, sizeof(why));
    /* the key every node derives alike: --ticket-secret, else the HS256
     * secret's; with RS256/ES256 and none given, this process's own */
    int keyed = 0;
    if (ticket_key && cfg->ticket_secret)
        keyed = sr_signed_derive_key(cfg->ticket_secret, strlen(cfg->ticket_secret),
                                     SR_AUTH_TICKET_KEY_LABEL, ticket_key) == 0;
    else if (ticket_key && jc.secret)
        keyed = sr_signed_derive_key(jc.secret, jc.secret_len, SR_AUTH_TICKET_KEY_LABEL,
                                     ticket_key) == 0;
    else if (ticket_key) keyed = RAND_bytes(ticket_key, SR_SIGNED_KEY_LEN) == 1;
    if (ticket_key && !keyed && rc == SR_JWT_OK) {
        sr_jwt_verifier_free(v);
        v = NULL;
        rc = SR_JWT_ENOMEM;
    }
    if (file_secret) {
        OPENSSL_cleanse(file_secret, file_len);
        free(file_secret);
    }
    if (rc == SR_JWT_ENOMEM) return SR_ENOMEM;
    if (rc != SR_JWT_OK) {
        if (err && cap) snprintf(err, cap, "auth-alg %s: %s", cfg->auth_alg, why);
        return SR_EINVAL;
    }
    if (out) *out = v;
    else sr_jwt_verifier_free(v);
    return SR_OK;
}

int sr_config_check_(const sr_config *in, size_t cfg_size, char *err, size_t errcap) {
    if (!in) return set_err(err, errcap, "no configuration%s", "");
    /* the program's fields over the defaults (see "ABI" in sserooms.h) */
    sr_config full;
    sr_config_init(&full);
    if (sr_abi_copy_in(&full, sizeof full, in, cfg_size) < 0)
        return set_err(err, errcap, "%s",
                       "the configuration sets fields this library "
                       "does not know (a program built for a newer sserooms)");
    const sr_config *cfg = &full;
    sr_cidr *ranges;
    size_t n_ranges;
    int rc = sr_trusted_parse(cfg, &ranges, &n_ranges, err, errcap); /* clients.c */
    free(ranges);
    if (rc < 0) return rc;
    if (sr_history_config_check(cfg, err, errcap) < 0) return SR_EINVAL; /* history.c */
    if (cfg->ipv6_prefix_len > 128)
        return set_err(err, errcap, "ipv6-prefix-len: at most %s bits", "128");
    if (sr_tls_config_check(cfg, err, errcap) < 0) return SR_EINVAL; /* tls_server.c */
    return build_verifier(cfg, NULL, NULL, NULL, err, errcap);
}

int sr_auth_new(sr_server *srv, const sr_config *in) {
    sr_config *c = &srv->cfg;
    sr_jwt_verifier *v = NULL;
    unsigned char key[SR_SIGNED_KEY_LEN];
    sr_jwks *jwks = NULL;
    int rc = build_verifier(in, &v, &jwks, key, NULL, 0);
    /* the server keeps no pointer to the caller's auth strings, and no secret */
    c->auth_secret = c->auth_secret_file = c->auth_public_key_file = NULL;
    c->auth_issuer = c->auth_audience = c->auth_alg = c->auth_cookie = NULL;
    c->auth_expiry_event = NULL;
    c->ticket_secret = NULL;
    c->auth_jwks_file = NULL;
    if (rc < 0 || (!v && !jwks)) {
        OPENSSL_cleanse(key, sizeof(key));
        return rc;
    }
    sr_auth *a = calloc(1, sizeof(*a));
    if (!a) goto oom;
    srv->auth = a;
    a->verifier = v;
    a->jwks = jwks;
    if (jwks) { /* kept for reloads (sr_server_reload_auth) */
        sr_jwt_alg_parse(in->auth_alg, &a->base.alg);
        a->base.leeway_s = in->auth_leeway_s;
        a->jwks_path = strdup(in->auth_jwks_file);
        a->base_issuer = in->auth_issuer ? strdup(in->auth_issuer) : NULL;
        a->base_audience = in->auth_audience ? strdup(in->auth_audience) : NULL;
        a->base.issuer = a->base_issuer;
        a->base.audience = a->base_audience;
        if (!a->jwks_path || (in->auth_issuer && !a->base_issuer) ||
            (in->auth_audience && !a->base_audience))
            return SR_ENOMEM;
    }
    memcpy(a->ticket_key, key, sizeof(key));
    OPENSSL_cleanse(key, sizeof(key));
    uint64_t inst = 0;
    if (RAND_bytes((unsigned char *)&inst, sizeof(inst)) != 1) return SR_ENOMEM;
    snprintf(a->instance, sizeof(a->instance), "%016llx", (unsigned long long)inst);
    a->tickets = sr_ticket_store_new(0);
    if (a->tickets) {
        sr_ticket_limits lim = {.per_subject = in->max_tickets_per_subject,
                                .rate_per_s = in->ticket_rate,
                                .burst = in->ticket_rate > UINT32_MAX / 2 ? UINT32_MAX
                                                                          : 2 * in->ticket_rate};
        sr_ticket_store_set_limits(a->tickets, &lim);
    }
    a->cookie = strdup(in->auth_cookie ? in->auth_cookie : SR_AUTH_DEFAULT_COOKIE);
    a->expiry_event = strdup(in->auth_expiry_event ? in->auth_expiry_event
                                                   : SR_AUTH_DEFAULT_EXPIRY_EVENT);
    size_t cl = strlen(a->cookie ? a->cookie : "") + sizeof("_session");
    a->session_cookie = a->cookie ? malloc(cl) : NULL;
    if (a->session_cookie) snprintf(a->session_cookie, cl, "%s_session", a->cookie);
    a->ttl_ms = in->ticket_ttl_ms ? in->ticket_ttl_ms : SR_TICKET_DEFAULT_TTL_MS;
    if (!a->tickets || !a->cookie || !a->expiry_event || !a->session_cookie)
        return SR_ENOMEM; /* sr_auth_free releases what was made */
    c->auth_alg = sr_jwt_alg_name(sr_jwt_verifier_alg(v ? v : sr_jwks_first(jwks)));
    c->auth_cookie = a->cookie;
    c->auth_expiry_event = a->expiry_event;
    c->ticket_ttl_ms = a->ttl_ms;
    return SR_OK;
oom:
    sr_jwt_verifier_free(v);
    return SR_ENOMEM;
}

static void on_expiry_tick(uv_timer_t *t) {
    sr_revoke_sweep(t->data);
}

static void on_sweep(uv_timer_t *t) {
    sr_server *srv = t->data;
    sr_ticket_sweep(srv->auth->tickets, uv_now(srv->loop));
}

void sr_auth_start(sr_server *srv) {
    sr_auth *a = srv->auth;
    if (!a) return;
    sr_server_timer_init(srv, &a->sweep_timer);
    uint32_t every = a->ttl_ms < 1000 ? 1000 : a->ttl_ms > 10000 ? 10000 : a->ttl_ms;
    uv_timer_start(&a->sweep_timer, on_sweep, every, every);
    uv_unref((uv_handle_t *)&a->sweep_timer);
    sr_server_timer_init(srv, &a->expiry_timer);
    uv_timer_start(&a->expiry_timer, on_expiry_tick, SR_AUTH_EXPIRY_TICK_MS,
                   SR_AUTH_EXPIRY_TICK_MS);
    uv_unref((uv_handle_t *)&a->expiry_timer);
    a->timer_started = 1;
}

void sr_auth_close(sr_server *srv) {
    sr_auth *a = srv->auth;
    if (!a || !a->timer_started) return;
    a->timer_started = 0;
    sr_server_close_handle(srv, (uv_handle_t *)&a->sweep_timer);
    sr_server_close_handle(srv, (uv_handle_t *)&a->expiry_timer);
}

void sr_auth_free(sr_server *srv) {
    sr_auth *a = srv->auth;
    if (!a) return;
    sr_jwt_verifier_free(a->verifier);
    sr_jwks_free(a->jwks);
    free(a->jwks_path);
    free(a->base_issuer);
    free(a->base_audience);
    sr_ticket_store_free(a->tickets);
    free(a->cookie);
    free(a->expiry_event);
    free(a->session_cookie);
    OPENSSL_cleanse(a->ticket_key, sizeof(a->ticket_key));
    free(a);
    srv->auth = NULL;
}

const char *sr_auth_expiry_event(const sr_server *srv) {
    return srv->auth ? srv->auth->expiry_event : SR_AUTH_DEFAULT_EXPIRY_EVENT;
}

void sr_auth_count_ended(sr_server *srv, int disconnected) {
    if (!srv->auth) return;
    if (disconnected) srv->auth->ended_disconnected++;
    else srv->auth->ended_expired++;
}

/* --- /stats and /metrics ------------------------------------------------------ */

void sr_auth_stats_json(sr_server *srv, sr_buf *b) {
    sr_auth *a = srv->auth;
    if (!a) {
        sr_buf_puts(b, ",\"auth\":{\"enabled\":false}");
        return;
    }
    sr_ticket_stats t;
    sr_ticket_stats_get(a->tickets, &t);
    sr_buf_printf(b,
                  ",\"auth\":{\"enabled\":true,\"alg\":\"%s\",\"failures\":{\"missing\":%llu,"
                  "\"invalid\":%llu,\"expired\":%llu,\"forbidden\":%llu,\"ticket_refused\":%llu},"
                  "\"tickets_issued\":%llu,\"tickets_redeemed\":%llu,\"tickets_live\":%zu,"
                  "\"tickets_refused\":{\"rate\":%llu,\"subject_cap\":%llu,\"full\":%llu},"
                  "\"ticket_subjects\":%zu,\"max_tickets_per_subject\":%u,\"ticket_rate\":%u,"
                  "\"streams_ended\":{\"expired\":%llu,\"disconnected\":%llu},"
                  "\"tickets_replayed\":%llu,\"tickets_unchecked\":%llu}",
                  srv->cfg.auth_alg, (unsigned long long)a->fail_missing,
                  (unsigned long long)a->fail_invalid, (unsigned long long)a->fail_expired,
                  (unsigned long long)a->fail_forbidden, (unsigned long long)a->fail_ticket,
                  (unsigned long long)t.issued, (unsigned long long)t.redeemed, t.live,
                  (unsigned long long)t.rate_limited, (unsigned long long)t.subject_capped,
                  (unsigned long long)t.full, t.subjects, srv->cfg.max_tickets_per_subject,
                  srv->cfg.ticket_rate, (unsigned long long)a->ended_expired,
                  (unsigned long long)a->ended_disconnected, (unsigned long long)a->ticket_replays,
                  (unsigned long long)a->ticket_unchecked);
}

void sr_auth_metrics_text(sr_server *srv, sr_buf *b) {
    sr_auth *a = srv->auth;
    sr_ticket_stats t = {0};
    if (a) sr_ticket_stats_get(a->tickets, &t);
    const struct {
        const char *reason;
        uint64_t n;
    } f[] = {{"missing", a ? a->fail_missing : 0},
             {"invalid", a ? a->fail_invalid : 0},
             {"expired", a ? a->fail_expired : 0},
             {"forbidden", a ? a->fail_forbidden : 0},
             {"ticket_refused", a ? a->fail_ticket : 0}};
    sr_buf_puts(b, "# HELP sserooms_auth_failures_total Requests refused by authorization, by "
                   "reason.\n# TYPE sserooms_auth_failures_total counter\n");
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        sr_buf_printf(b, "sserooms_auth_failures_total{reason=\"%s\"} %llu\n", f[i].reason,
                      (unsigned long long)f[i].n);
    sr_buf_printf(b,
                  "# HELP sserooms_tickets_issued_total Subscribe tickets issued.\n"
                  "# TYPE sserooms_tickets_issued_total counter\n"
                  "sserooms_tickets_issued_total %llu\n"
                  "# HELP sserooms_tickets_redeemed_total Subscribe tickets redeemed.\n"
                  "# TYPE sserooms_tickets_redeemed_total counter\n"
                  "sserooms_tickets_redeemed_total %llu\n"
                  "# HELP sserooms_ticket_refusals_total POST /tickets refused by a ticket limit.\n"
                  "# TYPE sserooms_ticket_refusals_total counter\n"
                  "sserooms_ticket_refusals_total{reason=\"rate\"} %llu\n"
                  "sserooms_ticket_refusals_total{reason=\"subject_cap\"} %llu\n"
                  "sserooms_ticket_refusals_total{reason=\"full\"} %llu\n",
                  (unsigned long long)t.issued, (unsigned long long)t.redeemed,
                  (unsigned long long)t.rate_limited, (unsigned long long)t.subject_capped,
                  (unsigned long long)t.full);
    sr_buf_printf(b,
                  "# HELP sserooms_auth_streams_ended_total Streams ended by the server: their "
                  "token ran out, or POST /disconnect.\n"
                  "# TYPE sserooms_auth_streams_ended_total counter\n"
                  "sserooms_auth_streams_ended_total{reason=\"expired\"} %llu\n"
                  "sserooms_auth_streams_ended_total{reason=\"disconnected\"} %llu\n",
                  (unsigned long long)(a ? a->ended_expired : 0),
                  (unsigned long long)(a ? a->ended_disconnected : 0));
    sr_buf_printf(b,
                  "# HELP sserooms_ticket_replays_total Ticket redemptions refused because Redis "
                  "had seen the ticket redeemed before, on any node.\n"
                  "# TYPE sserooms_ticket_replays_total counter\n"
                  "sserooms_ticket_replays_total %llu\n"
                  "# HELP sserooms_ticket_unchecked_total Ticket redemptions refused (503) because "
                  "Redis could not say whether the ticket was used.\n"
                  "# TYPE sserooms_ticket_unchecked_total counter\n"
                  "sserooms_ticket_unchecked_total %llu\n",
                  (unsigned long long)(a ? a->ticket_replays : 0),
                  (unsigned long long)(a ? a->ticket_unchecked : 0));
}
