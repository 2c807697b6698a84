/* SPDX-License-Identifier: MIT */
/*
 * auth.c: authorization of the server's endpoints with JWTs (src/auth).
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
 *    routes.c): the admin key as a Bearer token, or a JWT with
 *    "admin": true; open when neither auth nor an admin key is set.
 * Refusals are counted by reason for /stats and /metrics. Expired tickets
 * are swept by one timer. Tokens and tickets are never logged: the error
 * messages only say which check failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/grants.h"
#include "auth/jwks.h"
#include "auth/jwt.h"
#include "auth/signed.h"
#include "auth/tickets.h"
#include "common/abi.h"
#include "common/hash.h"
#include "json/json.h"
#include "server/history.h"
#include "server/internal.h"
#include "server/tls_server.h"

#define SR_AUTH_DEFAULT_COOKIE "sserooms_token"
#define SR_AUTH_DEFAULT_LEEWAY 30u
#define SR_AUTH_MAX_SECRET_FILE 65536u

struct sr_auth {
    sr_jwt_verifier *verifier; /* one key; NULL with a key set (jwks) */
    sr_jwks *jwks;             /* --auth-jwks: keys by kid, replaced on reload */
    char *jwks_path;
    sr_jwt_config base;        /* what a reloaded key set is built with */
    char *base_issuer, *base_audience;
    sr_ticket_store *tickets;
    char *cookie;
    uint32_t ttl_ms;
    uv_timer_t sweep_timer;
    uv_timer_t expiry_timer; /* ends streams whose token ran out (revoke.c) */
    int timer_started;
    char *expiry_event;
    char *session_cookie;    /* the cookie a redeemed ticket sets (docs/security.md) */
    unsigned char ticket_key[SR_SIGNED_KEY_LEN]; /* signs tickets and sessions */
    char instance[17];       /* this process, in the tickets it issues (hex) */
    uint64_t fail_missing, fail_invalid, fail_expired, fail_forbidden, fail_ticket;
    uint64_t ended_expired, ended_disconnected;
    uint64_t ticket_replays;   /* refused: Redis says another redemption came first */
    uint64_t ticket_unchecked; /* refused 503: Redis could not say (fails closed) */
};

#define SR_AUTH_DEFAULT_EXPIRY_EVENT "auth-expired"
#define SR_AUTH_EXPIRY_TICK_MS 250u
#define SR_AUTH_TICKET_KEY_LABEL "sserooms ticket key v1"
#define SR_AUTH_SESSION_DEFAULT_MS (3600u * 1000u) /* a token without exp */
#define SR_AUTH_SESSION_MAX_MS (24u * 3600u * 1000u)

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
        return set_err(err, cap, failed ? "auth-secret-file '%s': read error"
                                        : "auth-secret-file '%s': larger than 64 KiB", path);
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
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *s))
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
                                            "auth-issuer", "auth-audience", "ticket-secret", "auth-jwks"};
        const char *set[] = {cfg->auth_secret, cfg->auth_secret_file, cfg->auth_public_key_file,
                             cfg->auth_issuer, cfg->auth_audience, cfg->ticket_secret,
                             cfg->auth_jwks_file};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (set[i])
                return set_err(err, cap, "%s is set but auth-alg is not: authorization would be "
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
            return set_err(err, cap, "auth-jwks replaces auth-secret, auth-secret-file and "
                                     "auth-public-key: give one of them%s", "");
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
            return set_err(err, cap, "auth-public-key is for RS256/ES256; %s takes auth-secret or "
                                     "auth-secret-file", "HS256");
        if (cfg->auth_secret && cfg->auth_secret_file)
            return set_err(err, cap, "give auth-secret or auth-secret-file, not both%s", "");
        if (!cfg->auth_secret && !cfg->auth_secret_file)
            return set_err(err, cap, "auth-alg HS256 needs auth-secret or auth-secret-file (at "
                                     "least %s bytes)", "32");
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
    else if (ticket_key)
        keyed = RAND_bytes(ticket_key, SR_SIGNED_KEY_LEN) == 1;
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
        return set_err(err, errcap, "%s", "the configuration sets fields this library "
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
    if (sr_tls_config_check(cfg, err, errcap) < 0) return SR_EINVAL;     /* tls_server.c */
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
    if (!a->tickets || !a->cookie || !a->expiry_event || !a->session_cookie) return SR_ENOMEM; /* sr_auth_free releases what was made */
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
    uv_timer_start(&a->expiry_timer, on_expiry_tick, SR_AUTH_EXPIRY_TICK_MS, SR_AUTH_EXPIRY_TICK_MS);
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

/* --- finding and verifying tokens ---------------------------------------- */

/* The verifier for a token: the one key, or the key set's by "kid". */
static const sr_jwt_verifier *pick_verifier(const sr_auth *a, const char *tok, size_t len,
                                            const char **why) {
    if (!a->jwks) return a->verifier;
    return sr_jwks_pick(a->jwks, tok, len, why);
}

int sr_server_reload_auth(sr_server *srv, char *err, size_t errcap) {
    if (err && errcap) err[0] = '\0';
    if (!srv || !srv->auth || !srv->auth->jwks) {
        if (err && errcap) snprintf(err, errcap, "no key set (auth-jwks) to reload");
        return SR_ESTATE;
    }
    sr_auth *a = srv->auth;
    sr_jwks *fresh = NULL;
    char why[256] = "";
    int rc = sr_jwks_load(a->jwks_path, &a->base, &fresh, why, sizeof(why));
    if (rc != SR_JWT_OK) { /* the keys in use stay */
        if (err && errcap) snprintf(err, errcap, "%s", rc == SR_JWT_ENOMEM ? "out of memory" : why);
        return rc == SR_JWT_ENOMEM ? SR_ENOMEM : SR_EINVAL;
    }
    sr_jwks_free(a->jwks);
    a->jwks = fresh;
    return (int)sr_jwks_count(fresh);
}

/* The token of "Authorization: Bearer <token>", or NULL; *len its length. */
static const char *bearer(const sr_http_request *req, size_t *len) {
    const char *h = sr_http_header(req, "authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return NULL;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h);
    while (n && h[n - 1] == ' ') n--;
    *len = n;
    return n ? h : NULL;
}

/* The value of cookie `name` in the Cookie header, or NULL. */
static const char *cookie_value(const sr_http_request *req, const char *name, size_t *len) {
    const char *h = sr_http_header(req, "cookie");
    size_t name_len = strlen(name);
    while (h && *h) {
        while (*h == ' ' || *h == ';') h++;
        size_t pair = strcspn(h, ";");
        if (pair > name_len && strncmp(h, name, name_len) == 0 && h[name_len] == '=') {
            const char *v = h + name_len + 1;
            size_t n = pair - name_len - 1;
            while (n && v[n - 1] == ' ') n--;
            if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
                v++;
                n -= 2;
            }
            *len = n;
            return n ? v : NULL;
        }
        h += pair;
    }
    return NULL;
}

/* Who a token speaks for, as the ticket store's subject id: its "sub"
 * claim (decoded), else the token itself, hashed under the process's
 * random key with a prefix that keeps the two kinds apart. Different
 * tokens of one "sub" share its ticket limits. */
uint64_t sr_auth_subject_hash(const char *sub, size_t len) {
    char buf[520];
    buf[0] = 's';
    if (len > sizeof(buf) - 1) len = sizeof(buf) - 1;
    memcpy(buf + 1, sub, len);
    return sr_hash(buf, len + 1);
}

/* What a verified token says about its holder, for tickets and sessions. */
typedef struct tok_info {
    uint64_t subject; /* token_subject */
    int64_t exp_s;    /* "exp", 0 without */
    char sub[520];    /* "sub" decoded, "" without */
} tok_info;

static uint64_t token_subject(const sr_json_value *payload, const char *token, size_t len,
                              char *sub_out, size_t sub_cap) {
    static const char *const key[] = {"sub"};
    sr_json_value sub;
    char buf[520];
    if (sub_out && sub_cap) sub_out[0] = '\0';
    if (sr_json_object_get(payload, key, 1, &sub) == 0 && sub.type == SR_JSON_STRING) {
        unsigned flags = 0;
        ssize_t n = sr_json_string_decode(&sub, buf, sizeof(buf) - 1, &flags);
        if (n >= 0 && !(flags & SR_JSON_S_NUL)) {
            buf[n] = '\0';
            if (sub_out && sub_cap > (size_t)n) memcpy(sub_out, buf, (size_t)n + 1);
            return sr_auth_subject_hash(buf, (size_t)n);
        }
    }
    uint64_t h = sr_hash(token, len);
    return h ^ sr_hash("t", 1); /* never equal to a "sub" hash but by chance */
}

/* The token's "sub" (decoded by token_subject) as a string for presence
 * (NULL: none, or not a plain string of 1..256 bytes without control
 * characters). */
static char *sub_user(const char *sub) {
    size_t n = strlen(sub);
    if (n == 0 || n > 256) return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)sub[i] < 0x20 || sub[i] == 0x7f) return NULL;
    return strndup(sub, n);
}

/* Verifies token[0..len) and reads its grants (and, when subject is not
 * NULL, its ticket subject; when exp_s is not NULL, its "exp", 0 without).
 * 0, or -1 after answering 401 (or 503) and counting why. */
static int verify_token(sr_conn *c, const char *token, size_t len, sr_grants *g, tok_info *info) {
    sr_server *srv = c->srv;
    sr_auth *a = srv->auth;
    sr_jwt_claims claims;
    char msg[256];
    const char *why_key = NULL;
    const sr_jwt_verifier *ver = pick_verifier(a, token, len, &why_key);
    if (!ver) {
        a->fail_invalid++;
        snprintf(msg, sizeof(msg), "invalid token: %s", why_key);
        sr_routes_error(c, 401, msg, false);
        return -1;
    }
    int rc = sr_jwt_verify(ver, token, len, (int64_t)time(NULL), &claims);
    if (rc == SR_JWT_ENOMEM) {
        sr_routes_error(c, 503, "out of memory", false);
        return -1;
    }
    if (rc != SR_JWT_OK) {
        if (rc == SR_JWT_EEXPIRED) a->fail_expired++;
        else a->fail_invalid++;
        snprintf(msg, sizeof(msg), "%s: %s", rc == SR_JWT_EEXPIRED ? "token expired" : "invalid token",
                 claims.detail ? claims.detail : sr_jwt_strerror(rc));
        sr_routes_error(c, 401, msg, false);
        return -1;
    }
    if (info) {
        info->subject = token_subject(&claims.root, token, len, info->sub, sizeof(info->sub));
        info->exp_s = claims.has_exp ? (int64_t)claims.exp : 0;
    }
    const char *why = NULL;
    rc = sr_grants_from_payload(g, &claims.root, sr_jwt_verifier_rooms_claim(ver),
                                sr_jwt_verifier_publish_claim(ver), &why);
    sr_jwt_claims_free(&claims);
    if (rc == SR_ENOMEM) {
        sr_routes_error(c, 503, "out of memory", false);
        return -1;
    }
    if (rc < 0) {
        a->fail_invalid++;
        snprintf(msg, sizeof(msg), "invalid token: %s", why ? why : "malformed room claim");
        sr_routes_error(c, 401, msg, false);
        return -1;
    }
    return 0;
}

static void refuse_room(sr_conn *c, const char *what, const char *room) {
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_puts(&b, what);
    sr_buf_puts(&b, " room ");
    sr_buf_json_str(&b, room, strnlen(room, 64));
    sr_routes_error(c, 403, b.oom ? what : b.p, false);
    sr_buf_free(&b);
}

/* The Bearer token's grants (and what it says of its holder); 0 or -1
 * after answering. */
static int bearer_grants(sr_conn *c, sr_grants *g, tok_info *info) {
    size_t len = 0;
    const char *tok = bearer(&c->http->req, &len);
    if (!tok) {
        c->srv->auth->fail_missing++;
        sr_routes_error(c, 401, "missing token: send Authorization: Bearer <JWT>", false);
        return -1;
    }
    return verify_token(c, tok, len, g, info);
}

int sr_auth_bearer_grants(sr_conn *c, sr_grants *g) {
    return bearer_grants(c, g, NULL);
}

int sr_auth_publish_allowed(sr_conn *c, const sr_grants *g, const char *const *rooms, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!sr_grants_allow(g, SR_GRANT_PUBLISH, rooms[i], strlen(rooms[i]))) {
            c->srv->auth->fail_forbidden++;
            refuse_room(c, "the token's publish claim does not allow", rooms[i]);
            return -1;
        }
    }
    return 0;
}

int sr_auth_sequence_allowed(sr_conn *c, const sr_grants *g, const char *name) {
    if (sr_grants_allow(g, SR_GRANT_SEQUENCE, name, strlen(name))) return 0;
    c->srv->auth->fail_forbidden++;
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_puts(&b, "the token's sequences claim does not allow sequence ");
    sr_buf_json_str(&b, name, strnlen(name, 64));
    sr_routes_error(c, 403, b.oom ? "the token's sequences claim does not allow it" : b.p, false);
    sr_buf_free(&b);
    return -1;
}

/* --- the admin endpoints ----------------------------------------------------- */

/* Whether the verified payload carries "admin": true. */
static int payload_admin(const sr_json_value *payload) {
    static const char *const key[] = {"admin"};
    sr_json_value v;
    return sr_json_object_get(payload, key, 1, &v) == 0 && v.type == SR_JSON_TRUE;
}

int sr_auth_admin(sr_conn *c) {
    sr_server *srv = c->srv;
    sr_auth *a = srv->auth;
    const char *key = srv->cfg.admin_key;
    int keyed = key && *key;
    if (!a && !keyed) return 0; /* nothing configured: open, as before */
    size_t len = 0;
    const char *tok = bearer(&c->http->req, &len);
    if (!tok) {
        if (a) a->fail_missing++;
        sr_routes_error(c, 401, a ? "admin endpoint: send Authorization: Bearer <admin key or a "
                                    "JWT with \"admin\":true>"
                                  : "admin endpoint: send Authorization: Bearer <admin key>",
                        false);
        return -1;
    }
    if (keyed && sr_routes_key_equal(tok, len, key, strlen(key))) return 0;
    if (!a) {
        sr_routes_error(c, 401, "admin endpoint: wrong admin key", false);
        return -1;
    }
    sr_jwt_claims claims;
    const char *why_key = NULL;
    const sr_jwt_verifier *ver = pick_verifier(a, tok, len, &why_key);
    if (!ver) {
        a->fail_invalid++;
        char msg[256];
        snprintf(msg, sizeof(msg), "admin endpoint: invalid token: %s", why_key);
        sr_routes_error(c, 401, msg, false);
        return -1;
    }
    int rc = sr_jwt_verify(ver, tok, len, (int64_t)time(NULL), &claims);
    if (rc == SR_JWT_ENOMEM) {
        sr_routes_error(c, 503, "out of memory", false);
        return -1;
    }
    if (rc != SR_JWT_OK) {
        if (rc == SR_JWT_EEXPIRED) a->fail_expired++;
        else a->fail_invalid++;
        char msg[256];
        snprintf(msg, sizeof(msg), "admin endpoint: %s: %s",
                 rc == SR_JWT_EEXPIRED ? "token expired" : "neither the admin key nor a valid token",
                 claims.detail ? claims.detail : sr_jwt_strerror(rc));
        sr_routes_error(c, 401, msg, false);
        return -1;
    }
    int admin = payload_admin(&claims.root);
    sr_jwt_claims_free(&claims);
    if (admin) return 0;
    a->fail_forbidden++;
    sr_routes_error(c, 403, "admin endpoint: the token has no \"admin\":true claim", false);
    return -1;
}

/* --- GET /sse -------------------------------------------------------------- */

/* --- signed tickets and sessions ---------------------------------------------

 * A ticket (POST /tickets) and a session cookie (set when a ticket opens a
 * stream) are one signed JSON payload (signed.h) under the ticket key, so
 * any node of the cluster checks them alone:
 *   {"k":"t"|"s","i":issuer,"n":nonce,"x":valid-until ms,"e":token exp s,
 *    "u":token sub,"r":[room patterns]}
 * "i" is the issuing process: there the ticket is also in the store and
 * single-use (sr_ticket_redeem). A session lets a reconnecting EventSource
 * (which replays the used ticket's URL) in for the same rooms until the
 * token's exp. docs/security.md, "Tickets across nodes", has the threat
 * model. */

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct grant_claims {
    char kind;
    char instance[24];
    char nonce[64];
    int64_t until_ms, exp_s;
    char sub[520];
    sr_grant_list rooms;
} grant_claims;

/* The signed text of a grant (malloc'd), or NULL (out of memory, or a
 * payload over SR_SIGNED_MAX_PAYLOAD). */
static char *sign_grant(const sr_auth *a, char kind, const char *nonce, int64_t until_ms,
                        int64_t exp_s, const char *sub, const sr_grant_list *l) {
    sr_buf p;
    sr_buf_init(&p);
    sr_buf_printf(&p, "{\"k\":\"%c\",\"i\":\"%s\",\"n\":", kind, a->instance);
    sr_buf_json_str(&p, nonce, strlen(nonce));
    sr_buf_printf(&p, ",\"x\":%lld,\"e\":%lld,\"u\":", (long long)until_ms, (long long)exp_s);
    sr_buf_json_str(&p, sub, strlen(sub));
    sr_buf_puts(&p, ",\"r\":[");
    for (size_t i = 0; i < l->n; i++) {
        if (i) sr_buf_puts(&p, ",");
        char name[SR_GRANT_MAX_PATTERN + 2]; /* a prefix pattern gets its '*' back */
        snprintf(name, sizeof(name), "%s%s", l->items[i].text, l->items[i].prefix ? "*" : "");
        sr_buf_json_str(&p, name, strlen(name));
    }
    sr_buf_puts(&p, "]}");
    char *out = NULL;
    if (!p.oom && p.len <= SR_SIGNED_MAX_PAYLOAD) {
        size_t cap = sr_signed_len(p.len) + 1;
        out = malloc(cap);
        if (out && sr_signed_make(a->ticket_key, p.p, p.len, out, cap) < 0) {
            free(out);
            out = NULL;
        }
    }
    sr_buf_free(&p);
    return out;
}

static int json_text(const sr_json_value *v, char *out, size_t cap) {
    unsigned flags = 0;
    if (v->type != SR_JSON_STRING) return -1;
    ssize_t n = sr_json_string_decode(v, out, cap - 1, &flags);
    if (n < 0 || (flags & SR_JSON_S_NUL)) return -1;
    out[n] = '\0';
    return 0;
}

/* Checks and reads a signed grant of kind; 0 (g->rooms then holds its
 * rooms: free with sr_grant_list_free) or -1. */
static int open_grant(const sr_auth *a, const char *text, size_t len, char kind, grant_claims *g) {
    char payload[SR_SIGNED_MAX_PAYLOAD + 8];
    sr_grant_list_init(&g->rooms);
    ssize_t n = sr_signed_open(a->ticket_key, text, len, payload, sizeof(payload));
    if (n < 0) return -1;
    sr_json_value top, v[7];
    sr_json_error jerr = {0};
    unsigned flags = 0;
    static const char *const keys[7] = {"k", "i", "n", "x", "e", "u", "r"};
    if (sr_json_validate(payload, (size_t)n, 8, &top, &flags, &jerr) != 0 ||
        top.type != SR_JSON_OBJECT)
        return -1;
    sr_json_object_get(&top, keys, 7, v);
    char k[4];
    uint64_t until = 0, exp = 0;
    if (json_text(&v[0], k, sizeof(k)) < 0 || k[0] != kind || k[1] ||
        json_text(&v[1], g->instance, sizeof(g->instance)) < 0 ||
        json_text(&v[2], g->nonce, sizeof(g->nonce)) < 0 || v[3].type != SR_JSON_NUMBER ||
        sr_json_number_u64(&v[3], INT64_MAX, &until) != 0 || v[4].type != SR_JSON_NUMBER ||
        sr_json_number_u64(&v[4], INT64_MAX / 1000, &exp) != 0 ||
        json_text(&v[5], g->sub, sizeof(g->sub)) < 0 || v[6].type != SR_JSON_ARRAY ||
        sr_grant_list_from_json(&g->rooms, &v[6], NULL) != 0)
        return -1;
    g->kind = kind;
    g->until_ms = (int64_t)until;
    g->exp_s = (int64_t)exp;
    return 0;
}

/* The stream's deadline, subject and user from a grant: the ticket carries
 * the token's "sub", so a stream opened by a ticket or its session is the
 * same user for presence as one opened by the token itself. */
static void grant_to_conn(sr_conn *c, const grant_claims *g) {
    c->auth_deadline_ms = g->exp_s ? (g->exp_s + (int64_t)c->srv->cfg.auth_leeway_s) * 1000 : 0;
    c->auth_subject = g->sub[0] ? sr_auth_subject_hash(g->sub, strlen(g->sub)) : 0;
    free(c->user);
    c->user = sub_user(g->sub);
}

/* After a ticket opened the stream: the session cookie for its reconnects,
 * valid for the same rooms until the token's exp (1 h without; 24 h at
 * most), scoped to the stream path, out of reach of scripts. */
static void set_session(sr_conn *c, const grant_claims *g) {
    sr_auth *a = c->srv->auth;
    int64_t now = wall_ms();
    int64_t until = g->exp_s ? g->exp_s * 1000 : now + SR_AUTH_SESSION_DEFAULT_MS;
    if (until > now + (int64_t)SR_AUTH_SESSION_MAX_MS) until = now + SR_AUTH_SESSION_MAX_MS;
    if (until <= now) return;
    char *text = sign_grant(a, 's', "", until, g->exp_s, g->sub, &g->rooms);
    if (!text) return; /* no session: a reconnect needs a new ticket */
    const char *proto = sr_http_header(&c->http->req, "x-forwarded-proto");
    int secure = proto && strncasecmp(proto, "https", 5) == 0;
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_printf(&b, "Set-Cookie: %s=%s; Path=%s; Max-Age=%lld; HttpOnly; SameSite=Strict%s\r\n",
                  a->session_cookie, text, c->srv->cfg.sse_path, (long long)((until - now) / 1000),
                  secure ? "; Secure" : "");
    free(text);
    free(c->http->set_cookie);
    c->http->set_cookie = b.oom ? NULL : strdup(b.p);
    sr_buf_free(&b);
}

/* A valid session cookie covering every room: 0 (the stream is let in),
 * else -1 and nothing answered (a stale cookie is no reason to refuse a
 * request that also carries a ticket or token). */
static int session_stream(sr_conn *c, const char **rooms, const size_t *lens, size_t n) {
    sr_auth *a = c->srv->auth;
    size_t len = 0;
    const char *v = cookie_value(&c->http->req, a->session_cookie, &len);
    if (!v) return -1;
    grant_claims g;
    int rc = -1;
    if (open_grant(a, v, len, 's', &g) == 0 && wall_ms() < g.until_ms &&
        sr_grant_list_allows_all(&g.rooms, rooms, lens, n)) {
        grant_to_conn(c, &g);
        rc = 0;
    }
    sr_grant_list_free(&g.rooms);
    return rc;
}

/* --- single use on every node: the claim in Redis ----------------------------
 *
 * With Redis, a ticket that passed every local check is claimed there
 * (SET NX, src/redis/claim.c) before the stream opens: the first node to
 * claim it lets it in, every later redemption on any node is refused 401.
 * The claim's key lives as long as the ticket could still be accepted,
 * plus SR_AUTH_CLAIM_SKEW_MS for nodes whose clocks run behind. When Redis
 * cannot answer, the ticket is refused 503 (fails closed): letting it in
 * would make a leaked ticket redeemable once per node during an outage,
 * and the page loses nothing, as it asks for a new ticket and retries (a
 * reconnect carrying the session cookie never needs Redis). */

#define SR_AUTH_CLAIM_SKEW_MS 60000u

typedef struct ticket_claim_wait {
    sr_http_wait *w; /* the connection's wait (w->conn NULL: it closed meanwhile) */
    size_t n_rooms;
    grant_claims g;  /* what the ticket grants, applied once claimed */
} ticket_claim_wait;

static void ticket_unchecked(sr_conn *c, const char *why) {
    char msg[400];
    c->srv->auth->ticket_unchecked++;
    snprintf(msg, sizeof msg,
             "ticket not checked: %s; it cannot be proven unused on the other nodes: retry "
             "when Redis is back",
             why && *why ? why : "redis unreachable");
    sr_routes_error(c, 503, msg, false);
}

static void on_ticket_claimed(void *ud, int rc, const char *why) {
    ticket_claim_wait *tw = ud;
    sr_conn *c = tw->w->conn;
    if (c) {
        sr_auth *a = c->srv->auth;
        c->http->wait = NULL;
        if (rc == 1 && !c->srv->shutting_down) {
            grant_to_conn(c, &tw->g);
            set_session(c, &tw->g);
            sr_stream_open_authorized(c, tw->n_rooms);
        } else if (rc == 0) {
            a->fail_ticket++;
            a->ticket_replays++;
            sr_routes_error(c, 401, "ticket refused: already used (on this or another node)",
                            false);
        } else {
            ticket_unchecked(c, rc == 1 ? "the server is shutting down" : why);
        }
        if (c->kind == SR_CONN_HTTP && c->http) sr_conn_resume(c);
    }
    sr_grant_list_free(&tw->g.rooms);
    free(tw->w);
    free(tw);
}

/* Claims g's ticket in Redis for the stream c (g's rooms move to the
 * claim): 1 (the stream waits for the answer), or -1 after answering 503. */
static int claim_ticket(sr_conn *c, grant_claims *g, size_t n_rooms) {
    sr_server *srv = c->srv;
    int64_t left = g->until_ms - wall_ms();
    uint32_t ttl = (uint32_t)(left > 0 ? left : 1) + SR_AUTH_CLAIM_SKEW_MS;
    ticket_claim_wait *tw = calloc(1, sizeof *tw);
    sr_http_wait *w = calloc(1, sizeof *w + 1);
    if (!tw || !w) {
        free(tw);
        free(w);
        sr_grant_list_free(&g->rooms);
        sr_routes_error(c, 503, "out of memory", false);
        return -1;
    }
    w->conn = c;
    tw->w = w;
    tw->n_rooms = n_rooms;
    tw->g = *g;
    sr_grant_list_init(&g->rooms);
    c->http->wait = w; /* linked first: the answer never comes before this returns */
    int rc = srv->ticket_claim(srv->ticket_claim_ctx, tw->g.nonce, strlen(tw->g.nonce), ttl,
                               on_ticket_claimed, tw);
    if (rc == 0) return 1;
    c->http->wait = NULL;
    sr_grant_list_free(&tw->g.rooms);
    free(tw);
    free(w);
    if (rc == SR_ENOMEM) sr_routes_error(c, 503, "out of memory", false);
    else ticket_unchecked(c, "redis unreachable");
    return -1;
}

/* 0 (let in), -1 (answered), 1 (waits for its claim in Redis). */
static int redeem_ticket(sr_conn *c, const char *ticket, const char **rooms, const size_t *lens,
                         size_t n) {
    sr_server *srv = c->srv;
    sr_auth *a = srv->auth;
    grant_claims g;
    int rc = SR_TICKET_EUNKNOWN;
    if (open_grant(a, ticket, strlen(ticket), 't', &g) == 0) {
        if (wall_ms() >= g.until_ms) rc = SR_TICKET_EEXPIRED;
        else if (!sr_grant_list_allows_all(&g.rooms, rooms, lens, n)) rc = SR_TICKET_EROOMS;
        else if (strcmp(g.instance, a->instance) == 0) /* ours: single-use here */
            rc = sr_ticket_redeem(a->tickets, g.nonce, strlen(g.nonce), rooms, lens, n,
                                  uv_now(srv->loop), NULL);
        else rc = SR_TICKET_OK; /* another node's, checked by its signature */
    }
    if (rc == SR_TICKET_OK && srv->ticket_claim && srv->has_adapter)
        return claim_ticket(c, &g, n); /* and single-use on every node */
    if (rc == SR_TICKET_OK) {
        grant_to_conn(c, &g);
        set_session(c, &g);
        sr_grant_list_free(&g.rooms);
        return 0;
    }
    sr_grant_list_free(&g.rooms);
    a->fail_ticket++;
    if (rc == SR_TICKET_EROOMS) {
        sr_routes_error(c, 403, "ticket refused: a requested room is not in the ticket's rooms "
                                "(the ticket is used up)", false);
    } else {
        sr_routes_error(c, 401, rc == SR_TICKET_EEXPIRED
                                    ? "ticket refused: expired"
                                    : "ticket refused: unknown, already used or expired", false);
    }
    return -1;
}

int sr_auth_stream(sr_conn *c, size_t n_rooms) {
    sr_server *srv = c->srv;
    sr_auth *a = srv->auth;
    const sr_http_request *req = &c->http->req;
    const char **rooms = calloc(n_rooms ? n_rooms : 1, sizeof(*rooms));
    size_t *lens = calloc(n_rooms ? n_rooms : 1, sizeof(*lens));
    int rc = -1;
    if (!rooms || !lens) {
        sr_routes_error(c, 503, "out of memory", false);
        goto out;
    }
    for (size_t i = 0; i < n_rooms; i++) {
        rooms[i] = sr_http_query(req, "room", i);
        lens[i] = strlen(rooms[i]);
    }
    free(c->http->set_cookie); /* a previous request's, not answered */
    c->http->set_cookie = NULL;
    /* a reconnect replays the used ticket's URL: its session lets it in */
    if (session_stream(c, rooms, lens, n_rooms) == 0) {
        rc = 0;
        goto out;
    }
    const char *ticket = sr_http_query(req, "ticket", 0);
    if (ticket) {
        rc = redeem_ticket(c, ticket, rooms, lens, n_rooms);
        goto out;
    }
    size_t len = 0;
    const char *tok = bearer(req, &len);
    if (!tok && (tok = sr_http_query(req, "token", 0))) len = strlen(tok);
    if (!tok || !*tok) tok = cookie_value(req, a->cookie, &len);
    if (!tok) {
        a->fail_missing++;
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "missing token: send Authorization: Bearer <JWT>, ?token=<JWT>, the %s cookie, "
                 "or ?ticket= from POST /tickets", a->cookie);
        sr_routes_error(c, 401, msg, false);
        goto out;
    }
    sr_grants g;
    sr_grants_init(&g);
    tok_info info;
    if (verify_token(c, tok, len, &g, &info) == 0) {
        free(c->user);
        c->user = sub_user(info.sub); /* presence counts the stream under its "sub" */
        rc = 0;
        /* the stream ends when the token would no longer be accepted */
        c->auth_deadline_ms =
            info.exp_s ? (info.exp_s + (int64_t)srv->cfg.auth_leeway_s) * 1000 : 0;
        c->auth_subject = info.subject;
        for (size_t i = 0; i < n_rooms; i++) {
            if (!sr_grants_allow(&g, SR_GRANT_SUBSCRIBE, rooms[i], lens[i])) {
                a->fail_forbidden++;
                refuse_room(c, "the token's rooms claim does not allow", rooms[i]);
                rc = -1;
                break;
            }
        }
    }
    sr_grants_free(&g);
out:
    free(rooms);
    free(lens);
    return rc;
}

/* --- POST /tickets --------------------------------------------------------- */

/* Reads {"rooms":[...]} into l (names checked like ?room=); 0 or -1 with
 * the reason in err. */
static int ticket_rooms(sr_server *srv, const char *body, size_t len, sr_grant_list *l,
                        char *err, size_t cap) {
    sr_json_value top, rooms, el;
    sr_json_error jerr = {0};
    unsigned flags = 0;
    static const char *const key[] = {"rooms"};
    if (len == 0 || sr_json_validate(body, len, 8, &top, &flags, &jerr) != 0 ||
        top.type != SR_JSON_OBJECT) {
        snprintf(err, cap, "body must be a JSON object: {\"rooms\":[\"a\",...]}");
        return -1;
    }
    sr_json_object_get(&top, key, 1, &rooms);
    if (rooms.type != SR_JSON_ARRAY) {
        snprintf(err, cap, "\"rooms\" must be an array of room names");
        return -1;
    }
    sr_json_iter it;
    sr_json_iter_begin(&rooms, &it);
    while (sr_json_array_next(&it, &el)) {
        if (l->n >= srv->cfg.max_rooms_per_conn) {
            snprintf(err, cap, "too many rooms: at most %u", srv->cfg.max_rooms_per_conn);
            return -1;
        }
        char name[1024];
        unsigned sflags = 0;
        ssize_t n = el.type == SR_JSON_STRING ? sr_json_string_decode(&el, name, sizeof(name), &sflags)
                                              : -1;
        if (n < 0 || (sflags & SR_JSON_S_NUL) ||
            sr_room_name_check(name, (size_t)n, srv->cfg.max_room_len) < 0) {
            snprintf(err, cap, "\"rooms\" must hold valid room names: 1 to %zu characters of "
                               "A-Z a-z 0-9 and -_.:@/=+~!$*,;", srv->cfg.max_room_len);
            return -1;
        }
        int rc = sr_grant_list_add(l, name, (size_t)n);
        if (rc < 0) {
            snprintf(err, cap, rc == SR_ENOMEM ? "out of memory"
                                               : "a room name may hold '*' only at its end");
            return -1;
        }
    }
    if (l->n == 0) {
        snprintf(err, cap, "\"rooms\" must not be empty");
        return -1;
    }
    return 0;
}

void sr_auth_tickets(sr_conn *c) {
    sr_server *srv = c->srv;
    sr_auth *a = srv->auth;
    const sr_http_request *req = &c->http->req;
    sr_grants g;
    sr_grants_init(&g);
    tok_info info;
    if (bearer_grants(c, &g, &info) < 0) return;
    sr_grant_list l;
    sr_grant_list_init(&l);
    char err[256];
    if (ticket_rooms(srv, req->body ? req->body : "", req->body_len, &l, err, sizeof(err)) < 0) {
        sr_routes_error(c, 400, err, false);
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        char name[SR_GRANT_MAX_PATTERN + 2]; /* as asked: a prefix pattern gets its '*' back */
        snprintf(name, sizeof(name), "%s%s", l.items[i].text, l.items[i].prefix ? "*" : "");
        if (!sr_grants_allow(&g, SR_GRANT_SUBSCRIBE, name, strlen(name))) {
            a->fail_forbidden++;
            refuse_room(c, "the token's rooms claim does not allow", name);
            goto out;
        }
    }
    char ticket[SR_TICKET_LEN + 1];
    int rc = sr_ticket_issue(a->tickets, info.subject, &l, a->ttl_ms, uv_now(srv->loop), ticket);
    if (rc != SR_TICKET_OK) {
        char msg[256];
        if (rc == SR_TICKET_ERATE)
            snprintf(msg, sizeof(msg), "ticket refused: at most %u tickets a second for one "
                     "subject (burst %u); slow down", srv->cfg.ticket_rate, 2 * srv->cfg.ticket_rate);
        else if (rc == SR_TICKET_EQUOTA)
            snprintf(msg, sizeof(msg), "ticket refused: this subject already holds %u live "
                     "tickets; redeem them or let them expire", srv->cfg.max_tickets_per_subject);
        else
            snprintf(msg, sizeof(msg), "ticket refused: %s", sr_ticket_strerror(rc));
        sr_routes_error(c, rc == SR_TICKET_ERATE || rc == SR_TICKET_EQUOTA ? 429 : 503, msg, false);
        goto out;
    }
    /* the nonce is the store's ticket; what the client gets is signed */
    char *signed_ticket = sign_grant(a, 't', ticket, wall_ms() + a->ttl_ms, info.exp_s, info.sub, &l);
    if (!signed_ticket) {
        sr_ticket_redeem(a->tickets, ticket, strlen(ticket), NULL, NULL, 0, uv_now(srv->loop), NULL);
        sr_routes_error(c, 413, "ticket refused: too many or too long room names for one ticket",
                        false);
        goto out;
    }
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_printf(&b, "{\"ticket\":\"%s\",\"expires_in_ms\":%u,\"rooms\":[", signed_ticket,
                  a->ttl_ms);
    free(signed_ticket);
    for (size_t i = 0; i < l.n; i++) {
        if (i) sr_buf_puts(&b, ",");
        char name[SR_GRANT_MAX_PATTERN + 2];
        /* a room ending in '*' became a prefix pattern: put the '*' back */
        snprintf(name, sizeof(name), "%s%s", l.items[i].text, l.items[i].prefix ? "*" : "");
        sr_buf_json_str(&b, name, strlen(name));
    }
    sr_buf_puts(&b, "]}");
    if (b.oom) sr_routes_error(c, 503, "out of memory", false);
    else sr_routes_json(c, 200, b.p, b.len, NULL);
    sr_buf_free(&b);
out:
    sr_grant_list_free(&l);
    sr_grants_free(&g);
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
    } f[] = {{"missing", a ? a->fail_missing : 0},     {"invalid", a ? a->fail_invalid : 0},
             {"expired", a ? a->fail_expired : 0},     {"forbidden", a ? a->fail_forbidden : 0},
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
