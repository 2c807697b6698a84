/* SPDX-License-Identifier: MIT */
/*
 * auth_tickets.c: subscribe tickets and the sessions they open, with
 * JWT authorization on: POST /tickets (sr_auth_tickets) trades a Bearer
 * token for a signed ticket bound to rooms its "rooms" claim allows,
 * within its subject's limits (max_tickets_per_subject live, ticket_rate
 * a second: 429; a full store: 503); GET /sse redeems a ticket
 * (sr_auth_redeem_ticket) or a session cookie (sr_auth_session_stream)
 * for auth_token.c's gate. A ticket is single-use on the node that
 * issued it, and with Redis on every node (claimed with SET NX before
 * the stream opens, 503 when Redis cannot say). Tickets are never
 * logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/grants.h"
#include "auth/signed.h"
#include "auth/tickets.h"
#include "server/auth_int.h"
#include "server/internal.h"
#include "json/json.h"

#define SR_AUTH_SESSION_DEFAULT_MS (3600u * 1000u) /* a token without exp */
#define SR_AUTH_SESSION_MAX_MS (24u * 3600u * 1000u)

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
    c->user = sr_auth_sub_user(g->sub);
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
int sr_auth_session_stream(sr_conn *c, const char **rooms, const size_t *lens, size_t n) {
    sr_auth *a = c->srv->auth;
    size_t len = 0;
    const char *v = sr_auth_cookie_value(&c->http->req, a->session_cookie, &len);
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
    grant_claims g; /* what the ticket grants, applied once claimed */
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
int sr_auth_redeem_ticket(sr_conn *c, const char *ticket, const char **rooms, const size_t *lens,
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
        sr_routes_error(c, 403,
                        "ticket refused: a requested room is not in the ticket's rooms "
                        "(the ticket is used up)",
                        false);
    } else {
        sr_routes_error(c, 401,
                        rc == SR_TICKET_EEXPIRED
                            ? "ticket refused: expired"
                            : "ticket refused: unknown, already used or expired",
                        false);
    }
    return -1;
}

/* --- POST /tickets --------------------------------------------------------- */

/* Reads {"rooms":[...]} into l (names checked like ?room=); 0 or -1 with
 * the reason in err. */
static int ticket_rooms(sr_server *srv, const char *body, size_t len, sr_grant_list *l, char *err,
                        size_t cap) {
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
        ssize_t n = el.type == SR_JSON_STRING
                        ? sr_json_string_decode(&el, name, sizeof(name), &sflags)
                        : -1;
        if (n < 0 || (sflags & SR_JSON_S_NUL) ||
            sr_room_name_check(name, (size_t)n, srv->cfg.max_room_len) < 0) {
            snprintf(err, cap,
                     "\"rooms\" must hold valid room names: 1 to %zu characters of "
                     "A-Z a-z 0-9 and -_.:@/=+~!$*,;",
                     srv->cfg.max_room_len);
            return -1;
        }
        int rc = sr_grant_list_add(l, name, (size_t)n);
        if (rc < 0) {
            snprintf(err, cap,
                     rc == SR_ENOMEM ? "out of memory"
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
    if (sr_auth_bearer_info(c, &g, &info) < 0) return;
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
            sr_auth_refuse_room(c, "the token's rooms claim does not allow", name);
            goto out;
        }
    }
    char ticket[SR_TICKET_LEN + 1];
    int rc = sr_ticket_issue(a->tickets, info.subject, &l, a->ttl_ms, uv_now(srv->loop), ticket);
    if (rc != SR_TICKET_OK) {
        char msg[256];
        if (rc == SR_TICKET_ERATE)
            snprintf(msg, sizeof(msg),
                     "ticket refused: at most %u tickets a second for one "
                     "subject (burst %u); slow down",
                     srv->cfg.ticket_rate, 2 * srv->cfg.ticket_rate);
        else if (rc == SR_TICKET_EQUOTA)
            snprintf(msg, sizeof(msg),
                     "ticket refused: this subject already holds %u live "
                     "tickets; redeem them or let them expire",
                     srv->cfg.max_tickets_per_subject);
        else snprintf(msg, sizeof(msg), "ticket refused: %s", sr_ticket_strerror(rc));
        sr_routes_error(c, rc == SR_TICKET_ERATE || rc == SR_TICKET_EQUOTA ? 429 : 503, msg, false);
        goto out;
    }
    /* the nonce is the store's ticket; what the client gets is signed */
    char *signed_ticket = sign_grant(a, 't', ticket, wall_ms() + a->ttl_ms, info.exp_s, info.sub,
                                     &l);
    if (!signed_ticket) {
        sr_ticket_redeem(a->tickets, ticket, strlen(ticket), NULL, NULL, 0, uv_now(srv->loop),
                         NULL);
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
