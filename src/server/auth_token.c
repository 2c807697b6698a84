/* SPDX-License-Identifier: MIT */
/*
 * auth_token.c: the JWT checks of the server's endpoints: finding a
 * token (Authorization: Bearer, ?token=, the cookie) and verifying it
 * with the one key or the key set (reloaded by sr_server_reload_auth),
 * its grants for POST /publish (sr_auth_bearer_grants,
 * sr_auth_publish_allowed, sr_auth_sequence_allowed), the admin
 * endpoints (sr_auth_admin: the admin key or "admin": true), and the
 * GET /sse gate (sr_auth_stream): a session cookie, else a ticket
 * (both auth_tickets.c), else a token whose "rooms" claim allows every
 * ?room=. A stream let in keeps its deadline ("exp" + leeway), ticket
 * subject and user ("sub", for presence). Every refusal is answered
 * (401, 403, 503) and counted by reason; tokens are never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/grants.h"
#include "auth/jwks.h"
#include "auth/jwt.h"
#include "common/hash.h"
#include "server/auth_int.h"
#include "server/internal.h"
#include "json/json.h"

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
const char *sr_auth_cookie_value(const sr_http_request *req, const char *name, size_t *len) {
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
char *sr_auth_sub_user(const char *sub) {
    size_t n = strlen(sub);
    if (n == 0 || n > 256) return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)sub[i] < 0x20 || sub[i] == 0x7f) return NULL;
    return strndup(sub, n);
}

/* Verifies token[0..len) with its verifier into *claims (the caller
 * frees them): the verifier, or NULL after answering 401 (503 when out of
 * memory) and counting why. Each message starts with prefix; invalid
 * names what a token that fails verification is not. */
static const sr_jwt_verifier *check_token(sr_conn *c, const char *token, size_t len,
                                          const char *prefix, const char *invalid,
                                          sr_jwt_claims *claims) {
    sr_auth *a = c->srv->auth;
    char msg[256];
    const char *why_key = NULL;
    const sr_jwt_verifier *ver = pick_verifier(a, token, len, &why_key);
    if (!ver) {
        a->fail_invalid++;
        snprintf(msg, sizeof(msg), "%sinvalid token: %s", prefix, why_key);
        sr_routes_error(c, 401, msg, false);
        return NULL;
    }
    int rc = sr_jwt_verify(ver, token, len, (int64_t)time(NULL), claims);
    if (rc == SR_JWT_ENOMEM) {
        sr_routes_error(c, 503, "out of memory", false);
        return NULL;
    }
    if (rc != SR_JWT_OK) {
        if (rc == SR_JWT_EEXPIRED) a->fail_expired++;
        else a->fail_invalid++;
        snprintf(msg, sizeof(msg), "%s%s: %s", prefix,
                 rc == SR_JWT_EEXPIRED ? "token expired" : invalid,
                 claims->detail ? claims->detail : sr_jwt_strerror(rc));
        sr_routes_error(c, 401, msg, false);
        return NULL;
    }
    return ver;
}

/* Verifies token[0..len) and reads its grants (and, when subject is not
 * NULL, its ticket subject; when exp_s is not NULL, its "exp", 0 without).
 * 0, or -1 after answering 401 (or 503) and counting why. */
static int verify_token(sr_conn *c, const char *token, size_t len, sr_grants *g, tok_info *info) {
    sr_auth *a = c->srv->auth;
    sr_jwt_claims claims;
    char msg[256];
    const sr_jwt_verifier *ver = check_token(c, token, len, "", "invalid token", &claims);
    if (!ver) return -1;
    if (info) {
        info->subject = token_subject(&claims.root, token, len, info->sub, sizeof(info->sub));
        info->exp_s = claims.has_exp ? (int64_t)claims.exp : 0;
    }
    const char *why = NULL;
    int rc = sr_grants_from_payload(g, &claims.root, sr_jwt_verifier_rooms_claim(ver),
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

void sr_auth_refuse_room(sr_conn *c, const char *what, const char *room) {
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
int sr_auth_bearer_info(sr_conn *c, sr_grants *g, tok_info *info) {
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
    return sr_auth_bearer_info(c, g, NULL);
}

int sr_auth_publish_allowed(sr_conn *c, const sr_grants *g, const char *const *rooms, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!sr_grants_allow(g, SR_GRANT_PUBLISH, rooms[i], strlen(rooms[i]))) {
            c->srv->auth->fail_forbidden++;
            sr_auth_refuse_room(c, "the token's publish claim does not allow", rooms[i]);
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
        sr_routes_error(c, 401,
                        a ? "admin endpoint: send Authorization: Bearer <admin key or a "
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
    if (!check_token(c, tok, len, "admin endpoint: ", "neither the admin key nor a valid token",
                     &claims))
        return -1;
    int admin = payload_admin(&claims.root);
    sr_jwt_claims_free(&claims);
    if (admin) return 0;
    a->fail_forbidden++;
    sr_routes_error(c, 403, "admin endpoint: the token has no \"admin\":true claim", false);
    return -1;
}

/* --- GET /sse -------------------------------------------------------------- */

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
    if (sr_auth_session_stream(c, rooms, lens, n_rooms) == 0) {
        rc = 0;
        goto out;
    }
    const char *ticket = sr_http_query(req, "ticket", 0);
    if (ticket) {
        rc = sr_auth_redeem_ticket(c, ticket, rooms, lens, n_rooms);
        goto out;
    }
    size_t len = 0;
    const char *tok = bearer(req, &len);
    if (!tok && (tok = sr_http_query(req, "token", 0))) len = strlen(tok);
    if (!tok || !*tok) tok = sr_auth_cookie_value(req, a->cookie, &len);
    if (!tok) {
        a->fail_missing++;
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "missing token: send Authorization: Bearer <JWT>, ?token=<JWT>, the %s cookie, "
                 "or ?ticket= from POST /tickets",
                 a->cookie);
        sr_routes_error(c, 401, msg, false);
        goto out;
    }
    sr_grants g;
    sr_grants_init(&g);
    tok_info info;
    if (verify_token(c, tok, len, &g, &info) == 0) {
        free(c->user);
        c->user = sr_auth_sub_user(info.sub); /* presence counts the stream under its "sub" */
        rc = 0;
        /* the stream ends when the token would no longer be accepted */
        c->auth_deadline_ms = info.exp_s ? (info.exp_s + (int64_t)srv->cfg.auth_leeway_s) * 1000
                                         : 0;
        c->auth_subject = info.subject;
        for (size_t i = 0; i < n_rooms; i++) {
            if (!sr_grants_allow(&g, SR_GRANT_SUBSCRIBE, rooms[i], lens[i])) {
                a->fail_forbidden++;
                sr_auth_refuse_room(c, "the token's rooms claim does not allow", rooms[i]);
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
