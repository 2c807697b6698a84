/*
 * auth.c: authorization of the server's endpoints with JWTs (src/auth).
 *
 * Configured by the auth_* fields of sr_config: sr_config_check (public)
 * and sr_auth_new build the verifier the same way, so a configuration the
 * command checked is the one the server runs with. With auth on:
 *  - GET /sse (sr_auth_stream, before the accept hook): a ticket
 *    (?ticket=) is redeemed, else a token is taken from the Authorization
 *    header, ?token= or the cookie, verified, and its "rooms" claim must
 *    allow every ?room=; else 401 / 403 and nothing is joined; the
 *    token's "sub" becomes the stream's user (presence counts users);
 *  - POST /publish (sr_auth_bearer_grants + sr_auth_publish_allowed): a
 *    Bearer token whose "publish" claim allows every target room;
 *  - POST /tickets (sr_auth_tickets): a Bearer token buys a single-use
 *    ticket bound to rooms its "rooms" claim allows, within the limits of
 *    its subject ("sub", else the token): max_tickets_per_subject live and
 *    ticket_rate a second (429), and a full store answers 503 instead of
 *    evicting anyone's ticket.
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

#include "auth/grants.h"
#include "auth/jwt.h"
#include "auth/tickets.h"
#include "common/hash.h"
#include "json/json.h"
#include "server/history.h"
#include "server/internal.h"

#define SR_AUTH_DEFAULT_COOKIE "sserooms_token"
#define SR_AUTH_DEFAULT_LEEWAY 30u
#define SR_AUTH_MAX_SECRET_FILE 65536u

struct sr_auth {
    sr_jwt_verifier *verifier;
    sr_ticket_store *tickets;
    char *cookie;
    uint32_t ttl_ms;
    uv_timer_t sweep_timer;
    int timer_started;
    uint64_t fail_missing, fail_invalid, fail_expired, fail_forbidden, fail_ticket;
};

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
static int build_verifier(const sr_config *cfg, sr_jwt_verifier **out, char *err, size_t cap) {
    if (err && cap) err[0] = '\0';
    if (out) *out = NULL;
    if (!cfg->auth_alg) {
        static const char *const names[] = {"auth-secret", "auth-secret-file", "auth-public-key",
                                            "auth-issuer", "auth-audience"};
        const char *set[] = {cfg->auth_secret, cfg->auth_secret_file, cfg->auth_public_key_file,
                             cfg->auth_issuer, cfg->auth_audience};
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
    if (cfg->auth_cookie && !cookie_name_ok(cfg->auth_cookie))
        return set_err(err, cap, "auth-cookie '%.64s': not a cookie name", cfg->auth_cookie);
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

int sr_config_check(const sr_config *cfg, char *err, size_t errcap) {
    if (!cfg) return set_err(err, errcap, "no configuration%s", "");
    sr_cidr *ranges;
    size_t n_ranges;
    int rc = sr_trusted_parse(cfg, &ranges, &n_ranges, err, errcap); /* clients.c */
    free(ranges);
    if (rc < 0) return rc;
    if (sr_history_config_check(cfg, err, errcap) < 0) return SR_EINVAL; /* history.c */
    if (cfg->ipv6_prefix_len > 128)
        return set_err(err, errcap, "ipv6-prefix-len: at most %s bits", "128");
    return build_verifier(cfg, NULL, err, errcap);
}

int sr_auth_new(sr_server *srv, const sr_config *in) {
    sr_config *c = &srv->cfg;
    sr_jwt_verifier *v = NULL;
    int rc = build_verifier(in, &v, NULL, 0);
    /* the server keeps no pointer to the caller's auth strings, and no secret */
    c->auth_secret = c->auth_secret_file = c->auth_public_key_file = NULL;
    c->auth_issuer = c->auth_audience = c->auth_alg = c->auth_cookie = NULL;
    if (rc < 0 || !v) return rc;
    sr_auth *a = calloc(1, sizeof(*a));
    if (!a) goto oom;
    srv->auth = a;
    a->verifier = v;
    a->tickets = sr_ticket_store_new(0);
    if (a->tickets) {
        sr_ticket_limits lim = {.per_subject = in->max_tickets_per_subject,
                                .rate_per_s = in->ticket_rate,
                                .burst = in->ticket_rate > UINT32_MAX / 2 ? UINT32_MAX
                                                                         : 2 * in->ticket_rate};
        sr_ticket_store_set_limits(a->tickets, &lim);
    }
    a->cookie = strdup(in->auth_cookie ? in->auth_cookie : SR_AUTH_DEFAULT_COOKIE);
    a->ttl_ms = in->ticket_ttl_ms ? in->ticket_ttl_ms : SR_TICKET_DEFAULT_TTL_MS;
    if (!a->tickets || !a->cookie) return SR_ENOMEM; /* sr_auth_free releases what was made */
    c->auth_alg = sr_jwt_alg_name(sr_jwt_verifier_alg(v));
    c->auth_cookie = a->cookie;
    c->ticket_ttl_ms = a->ttl_ms;
    return SR_OK;
oom:
    sr_jwt_verifier_free(v);
    return SR_ENOMEM;
}

static void on_sweep(uv_timer_t *t) {
    sr_server *srv = t->data;
    sr_ticket_sweep(srv->auth->tickets, uv_now(srv->loop));
}

void sr_auth_start(sr_server *srv) {
    sr_auth *a = srv->auth;
    if (!a) return;
    uv_timer_init(srv->loop, &a->sweep_timer);
    a->sweep_timer.data = srv;
    uint32_t every = a->ttl_ms < 1000 ? 1000 : a->ttl_ms > 10000 ? 10000 : a->ttl_ms;
    uv_timer_start(&a->sweep_timer, on_sweep, every, every);
    uv_unref((uv_handle_t *)&a->sweep_timer);
    a->timer_started = 1;
    srv->open_handles++;
}

void sr_auth_close(sr_server *srv, uv_close_cb done) {
    sr_auth *a = srv->auth;
    if (!a || !a->timer_started) return;
    a->timer_started = 0;
    uv_close((uv_handle_t *)&a->sweep_timer, done);
}

void sr_auth_free(sr_server *srv) {
    sr_auth *a = srv->auth;
    if (!a) return;
    sr_jwt_verifier_free(a->verifier);
    sr_ticket_store_free(a->tickets);
    free(a->cookie);
    free(a);
    srv->auth = NULL;
}

/* --- finding and verifying tokens ---------------------------------------- */

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
static uint64_t token_subject(const sr_json_value *payload, const char *token, size_t len) {
    static const char *const key[] = {"sub"};
    sr_json_value sub;
    char buf[520];
    buf[0] = 's';
    if (sr_json_object_get(payload, key, 1, &sub) == 0 && sub.type == SR_JSON_STRING) {
        unsigned flags = 0;
        ssize_t n = sr_json_string_decode(&sub, buf + 1, sizeof(buf) - 1, &flags);
        if (n >= 0) return sr_hash(buf, (size_t)n + 1);
    }
    uint64_t h = sr_hash(token, len);
    return h ^ sr_hash("t", 1); /* never equal to a "sub" hash but by chance */
}

/* The token's "sub" as a string for presence (NULL: none, or not a plain
 * string of 1..256 bytes without control characters). */
static char *token_user(const sr_json_value *payload) {
    static const char *const key[] = {"sub"};
    sr_json_value sub;
    char buf[257];
    if (sr_json_object_get(payload, key, 1, &sub) != 0 || sub.type != SR_JSON_STRING) return NULL;
    unsigned flags = 0;
    ssize_t n = sr_json_string_decode(&sub, buf, sizeof(buf) - 1, &flags);
    if (n <= 0 || n > 256) return NULL;
    for (ssize_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) return NULL;
    return strndup(buf, (size_t)n);
}

/* Verifies token[0..len) and reads its grants (and, when subject is not
 * NULL, its ticket subject; when user is not NULL, its "sub" for presence,
 * malloc'd or NULL). 0, or -1 after answering 401 (or 503) and counting
 * why. */
static int verify_token(sr_conn *c, const char *token, size_t len, sr_grants *g,
                        uint64_t *subject, char **user) {
    sr_server *srv = c->srv;
    sr_auth *a = srv->auth;
    sr_jwt_claims claims;
    int rc = sr_jwt_verify(a->verifier, token, len, (int64_t)time(NULL), &claims);
    char msg[256];
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
    if (subject) *subject = token_subject(&claims.root, token, len);
    if (user) *user = token_user(&claims.root);
    const char *why = NULL;
    rc = sr_grants_from_payload(g, &claims.root, sr_jwt_verifier_rooms_claim(a->verifier),
                                sr_jwt_verifier_publish_claim(a->verifier), &why);
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

/* The Bearer token's grants and subject; 0 or -1 after answering. */
static int bearer_grants(sr_conn *c, sr_grants *g, uint64_t *subject) {
    size_t len = 0;
    const char *tok = bearer(&c->http->req, &len);
    if (!tok) {
        c->srv->auth->fail_missing++;
        sr_routes_error(c, 401, "missing token: send Authorization: Bearer <JWT>", false);
        return -1;
    }
    return verify_token(c, tok, len, g, subject, NULL);
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

/* --- GET /sse -------------------------------------------------------------- */

static int redeem_ticket(sr_conn *c, const char *ticket, const char **rooms, const size_t *lens,
                         size_t n) {
    sr_server *srv = c->srv;
    sr_auth *a = srv->auth;
    int rc = sr_ticket_redeem(a->tickets, ticket, strlen(ticket), rooms, lens, n, uv_now(srv->loop),
                              NULL);
    if (rc == SR_TICKET_OK) return 0;
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
    char *user = NULL; /* set even when a later check refuses the token */
    if (verify_token(c, tok, len, &g, NULL, &user) == 0) {
        free(c->user);
        c->user = user; /* presence counts the stream under its "sub" */
        user = NULL;
        rc = 0;
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
    free(user);
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
    uint64_t subject = 0;
    if (bearer_grants(c, &g, &subject) < 0) return;
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
    int rc = sr_ticket_issue(a->tickets, subject, &l, a->ttl_ms, uv_now(srv->loop), ticket);
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
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_printf(&b, "{\"ticket\":\"%s\",\"expires_in_ms\":%u,\"rooms\":[", ticket, a->ttl_ms);
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
                  "\"ticket_subjects\":%zu,\"max_tickets_per_subject\":%u,\"ticket_rate\":%u}",
                  srv->cfg.auth_alg, (unsigned long long)a->fail_missing,
                  (unsigned long long)a->fail_invalid, (unsigned long long)a->fail_expired,
                  (unsigned long long)a->fail_forbidden, (unsigned long long)a->fail_ticket,
                  (unsigned long long)t.issued, (unsigned long long)t.redeemed, t.live,
                  (unsigned long long)t.rate_limited, (unsigned long long)t.subject_capped,
                  (unsigned long long)t.full, t.subjects, srv->cfg.max_tickets_per_subject,
                  srv->cfg.ticket_rate);
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
}
