/* SPDX-License-Identifier: MIT */
/*
 * publish.c: POST /publish (sr_publish_http, dispatched by routes.c).
 *
 * The body is validated whole with the JSON scanner, the fields it knows
 * are taken as spans of the original text and `data` is forwarded
 * byte for byte. Every refusal names the problem; client text echoed in it
 * is escaped (sr_buf_json_str). The stats room of cfg.stats_room is the
 * server's own: no HTTP publisher may write into it. The body is read with
 * one nesting limit, the one every node can read the message with once it
 * is in the 2-level envelope (sr_limit_data_depth), and a publish to other
 * nodes must fit the publish budget (rooms x bytes, max_publish_bytes).
 * With "sequence" the id comes from a shared counter, named by a checked
 * name (granted by the token's "sequences" claim with JWT on); when that
 * needs Redis the response waits for its reply (the connection holds later
 * requests meanwhile, see conn_read.c) and is written by the completion,
 * unless the client has gone by then. A plain publish to other nodes waits
 * for the adapter's acknowledgement (publish_acked) without holding the
 * requests after it: its answer's place is kept in the send queue (a hole,
 * sendq.c). 200 only once Redis took it, 202 when the outbox holds it, 503
 * with the reason otherwise. Failures the adapter explains with Redis's
 * own text are logged, and the client gets a fixed sentence. Who may
 * publish: the holder of the publish key, or with JWT authorization a
 * token whose "publish" claim allows every room (auth_token.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "auth/grants.h"
#include "http/response.h"
#include "server/history.h"
#include "server/internal.h"
#include "server/routes_int.h"
#include "json/json.h"

#define SR_MAX_PUBLISH_ROOMS 1000

static void reject(sr_conn *c, int status, const char *message) {
    sr_routes_error(c, status, message, false);
}

/* --- POST /publish ----------------------------------------------------- */

/* Constant-time comparison, so the key cannot be guessed byte by byte. */
int sr_routes_key_equal(const char *a, size_t alen, const char *b, size_t blen) {
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < alen; i++) diff |= (unsigned char)(a[i] ^ b[i % (blen ? blen : 1)]);
    return diff == 0;
}

static int publish_authorized(sr_conn *c) {
    const char *key = c->srv->cfg.publish_key;
    if (!key || !*key) return 1;
    const char *auth = sr_http_header(&c->http->req, "authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) return 0;
    auth += 7;
    while (*auth == ' ') auth++;
    return sr_routes_key_equal(auth, strlen(auth), key, strlen(key));
}

/* Decodes a JSON string value for use as id, event or room name. */
static const char *string_field(const sr_json_value *v, char **owned, const char *what, char *err,
                                size_t errcap) {
    *owned = NULL;
    if (v->type != SR_JSON_STRING) {
        snprintf(err, errcap, "\"%s\" must be a string", what);
        return NULL;
    }
    size_t cap = 3 * v->len + 1;
    char *s = malloc(cap);
    if (!s) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    unsigned flags = 0;
    if (sr_json_string_decode(v, s, cap, &flags) < 0) {
        free(s);
        snprintf(err, errcap, "\"%s\" could not be decoded", what);
        return NULL;
    }
    if (flags & SR_JSON_S_NUL) {
        free(s);
        snprintf(err, errcap, "\"%s\" must not contain U+0000", what);
        return NULL;
    }
    *owned = s;
    return s;
}

typedef struct publish_req {
    const char **rooms;
    char **owned;
    size_t n_rooms, n_owned;
    sr_msg_parts m;
    char *id_owned, *event_owned, *data_owned;
    const char *meta;
    size_t meta_len;
    int local;
    char *sequence, *epoch; /* "sequence": the counter's key; "epoch": digits */
} publish_req;

static void publish_req_free(publish_req *p) {
    for (size_t i = 0; i < p->n_owned; i++) free(p->owned[i]);
    free(p->owned);
    free(p->rooms);
    free(p->id_owned);
    free(p->event_owned);
    free(p->data_owned);
    free(p->sequence);
    free(p->epoch);
}

static int add_room(publish_req *p, sr_server *srv, const sr_json_value *v, char *err,
                    size_t errcap) {
    char *owned;
    const char *name = string_field(v, &owned, "room", err, errcap);
    if (!name) return -1;
    p->owned[p->n_owned++] = owned;
    if (sr_room_name_check(name, strlen(name), srv->cfg.max_room_len) < 0) {
        sr_limit_refused(srv, SR_LIMIT_ROOM_NAME);
        sr_buf b;
        sr_buf_init(&b);
        sr_buf_puts(&b, "invalid room name ");
        sr_buf_json_str(&b, name, strlen(name) > 64 ? 64 : strlen(name));
        snprintf(err, errcap, "%s: 1 to %zu characters of A-Z a-z 0-9 and -_.:@/=+~!$*,; allowed",
                 b.oom ? "" : b.p, srv->cfg.max_room_len);
        sr_buf_free(&b);
        return -1;
    }
    p->rooms[p->n_rooms++] = name;
    return 0;
}

/* "sequence" and "epoch": the id is assigned from the counter at that key. */
static int parse_sequence(publish_req *p, const sr_json_value *seq, const sr_json_value *epoch,
                          char *err, size_t errcap) {
    if (seq->type == SR_JSON_NONE) {
        if (epoch->type == SR_JSON_NONE) return 0;
        snprintf(err, errcap, "\"epoch\" is only valid with \"sequence\"");
        return -1;
    }
    if (p->m.id_len) {
        snprintf(err, errcap,
                 "give either \"id\" or \"sequence\" (which assigns the id), not both");
        return -1;
    }
    if (!string_field(seq, &p->sequence, "sequence", err, errcap)) return -1;
    if (sr_sequence_check(p->sequence, NULL) < 0) {
        snprintf(err, errcap,
                 "\"sequence\" must be a sequence name: 1 to %d characters of "
                 "A-Z a-z 0-9 and -_.: (a name, not a Redis key)",
                 SR_SEQUENCE_KEY_MAX);
        return -1;
    }
    if (epoch->type == SR_JSON_NONE) return 0;
    if (!string_field(epoch, &p->epoch, "epoch", err, errcap)) return -1;
    if (sr_sequence_check(p->sequence, p->epoch) < 0) {
        snprintf(err, errcap, "\"epoch\" must be a string of 1 to %d digits (0-9)",
                 SR_SEQUENCE_EPOCH_MAX);
        return -1;
    }
    return 0;
}

/* Fills p from the body, or writes the reason into err. */
static int parse_publish(sr_server *srv, const char *body, size_t len, publish_req *p, char *err,
                         size_t errcap) {
    sr_json_value top;
    sr_json_error jerr = {0};
    unsigned flags = 0;
    if (len == 0) {
        snprintf(err, errcap, "empty body: expected a JSON object");
        return -1;
    }
    /* one nesting limit everywhere: the body's object plus what "data" may
     * have, so that no other node drops the message as too deep */
    unsigned depth = sr_limit_data_depth(srv);
    if (sr_json_validate(body, len, depth + 1, &top, &flags, &jerr) != 0) {
        if (jerr.msg && strstr(jerr.msg, "nesting"))
            snprintf(err, errcap,
                     "JSON nested too deeply at byte %zu: \"data\" and \"meta\" may nest at most "
                     "%u levels (messages travel to other nodes inside a 2-level envelope)",
                     jerr.offset, depth);
        else
            snprintf(err, errcap, "invalid JSON: %s at byte %zu",
                     jerr.msg ? jerr.msg : "syntax error", jerr.offset);
        return -1;
    }
    if (top.type != SR_JSON_OBJECT) {
        snprintf(err, errcap, "body must be a JSON object");
        return -1;
    }
    enum {
        K_ROOM,
        K_ROOMS,
        K_EVENT,
        K_DATA,
        K_ID,
        K_RETRY,
        K_META,
        K_LOCAL,
        K_SEQUENCE,
        K_EPOCH,
        K_N
    };
    static const char *const keys[K_N] = {"room",  "rooms", "event", "data",     "id",
                                          "retry", "meta",  "local", "sequence", "epoch"};
    sr_json_value v[K_N];
    sr_json_object_get(&top, keys, K_N, v);

    if (v[K_ROOM].type != SR_JSON_NONE && v[K_ROOMS].type != SR_JSON_NONE) {
        snprintf(err, errcap, "give either \"room\" or \"rooms\", not both");
        return -1;
    }
    if (v[K_ROOM].type == SR_JSON_NONE && v[K_ROOMS].type == SR_JSON_NONE) {
        snprintf(err, errcap, "missing \"room\" (a string) or \"rooms\" (an array of strings)");
        return -1;
    }
    size_t n = 1;
    if (v[K_ROOMS].type != SR_JSON_NONE) {
        if (v[K_ROOMS].type != SR_JSON_ARRAY) {
            snprintf(err, errcap, "\"rooms\" must be an array of strings");
            return -1;
        }
        sr_json_iter it;
        sr_json_value el;
        n = 0;
        sr_json_iter_begin(&v[K_ROOMS], &it);
        while (sr_json_array_next(&it, &el)) n++;
        if (n == 0) {
            snprintf(err, errcap, "\"rooms\" must not be empty");
            return -1;
        }
        if (n > SR_MAX_PUBLISH_ROOMS) {
            snprintf(err, errcap, "\"rooms\" has more than %d rooms", SR_MAX_PUBLISH_ROOMS);
            return -1;
        }
    }
    p->rooms = calloc(n, sizeof(*p->rooms));
    p->owned = calloc(n, sizeof(*p->owned));
    if (!p->rooms || !p->owned) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    if (v[K_ROOM].type != SR_JSON_NONE) {
        if (add_room(p, srv, &v[K_ROOM], err, errcap) < 0) return -1;
    } else {
        sr_json_iter it;
        sr_json_value el;
        sr_json_iter_begin(&v[K_ROOMS], &it);
        while (sr_json_array_next(&it, &el)) {
            if (el.type != SR_JSON_STRING) {
                snprintf(err, errcap, "\"rooms\" must be an array of strings");
                return -1;
            }
            if (add_room(p, srv, &el, err, errcap) < 0) return -1;
        }
    }

    if (v[K_DATA].type == SR_JSON_NONE) {
        snprintf(err, errcap, "missing \"data\" (any JSON value)");
        return -1;
    }
    p->m.data = v[K_DATA].p;
    p->m.data_len = v[K_DATA].len;
    if (flags & SR_JSON_F_INVALID_UTF8) {
        /* what JSON.parse would have seen: invalid bytes as U+FFFD */
        size_t fixed_len;
        p->data_owned = sr_json_utf8_repair(p->m.data, p->m.data_len, &fixed_len);
        if (!p->data_owned) {
            snprintf(err, errcap, "out of memory");
            return -1;
        }
        p->m.data = p->data_owned;
        p->m.data_len = fixed_len;
    }
    p->m.id = p->m.event = "";
    if (v[K_EVENT].type != SR_JSON_NONE && v[K_EVENT].type != SR_JSON_NULL) {
        if (!string_field(&v[K_EVENT], &p->event_owned, "event", err, errcap)) return -1;
        p->m.event = p->event_owned;
        p->m.event_len = strlen(p->event_owned);
        if (sr_sse_has_newline(p->m.event, p->m.event_len)) {
            snprintf(err, errcap, "\"event\" must not contain a line break (CR or LF)");
            return -1;
        }
    }
    if (v[K_ID].type != SR_JSON_NONE && v[K_ID].type != SR_JSON_NULL) {
        if (!string_field(&v[K_ID], &p->id_owned, "id", err, errcap)) return -1;
        p->m.id = p->id_owned;
        p->m.id_len = strlen(p->id_owned);
        if (sr_sse_has_newline(p->m.id, p->m.id_len)) {
            snprintf(err, errcap, "\"id\" must not contain a line break (CR or LF)");
            return -1;
        }
    }
    if (v[K_RETRY].type != SR_JSON_NONE && v[K_RETRY].type != SR_JSON_NULL) {
        uint64_t retry;
        if (v[K_RETRY].type != SR_JSON_NUMBER ||
            sr_json_number_u64(&v[K_RETRY], UINT32_MAX, &retry) != 0) {
            snprintf(err, errcap,
                     "\"retry\" must be a non-negative integer (milliseconds, at most %u)",
                     UINT32_MAX);
            return -1;
        }
        p->m.retry = (uint32_t)retry;
    }
    if (v[K_META].type != SR_JSON_NONE) {
        p->meta = v[K_META].p;
        p->meta_len = v[K_META].len;
    }
    if (v[K_LOCAL].type != SR_JSON_NONE) {
        if (v[K_LOCAL].type != SR_JSON_TRUE && v[K_LOCAL].type != SR_JSON_FALSE) {
            snprintf(err, errcap, "\"local\" must be true or false");
            return -1;
        }
        p->local = v[K_LOCAL].type == SR_JSON_TRUE;
    }
    return parse_sequence(p, &v[K_SEQUENCE], &v[K_EPOCH], err, errcap);
}

static void publish_done(sr_conn *c, int delivered, const char *id) {
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_printf(&b, "{\"delivered\":%d", delivered);
    if (id) {
        sr_buf_puts(&b, ",\"id\":");
        sr_buf_json_str(&b, id, strlen(id));
    }
    sr_buf_puts(&b, "}");
    if (b.oom) reject(c, 503, "out of memory");
    else sr_routes_json(c, 200, b.p, b.len, NULL);
    sr_buf_free(&b);
}

/* A sequenced publish that failed: 503 when Redis (or the server) is not
 * there to assign the id, 409 when the counter cannot give one. When the
 * answer came from Redis (redis_said) the client gets a fixed sentence per
 * outcome; the adapter's reason, which may quote Redis's own error text (a
 * key's type, a script error), goes to the log only. Refusals made before
 * anything reached Redis keep the server's own words. Each failure is
 * counted by the adapter (sequence_failures). */
static void sequence_failed(sr_conn *c, int rc, const char *key, size_t key_len, const char *why,
                            bool redis_said) {
    const char *says;
    switch (redis_said ? rc : 0) {
    case 0: says = why && *why ? why : sr_strerror(rc); break; /* our own words */
    case SR_ETOOBIG:
        says = "its counter is at its end (999999999999): use another name or epoch";
        break;
    case SR_EINVAL: says = "its counter does not hold a whole number"; break;
    case SR_ECLOSED: says = "server is shutting down"; break;
    case SR_ENOMEM: says = "out of memory"; break;
    default: says = "redis could not assign the id (unreachable or refused; see the server log)";
    }
    if (redis_said && why && *why)
        sr_log(c->srv, SR_LOG_WARN, c->id, "request %llu-%u: sequence %.*s: %s",
               (unsigned long long)c->id, c->requests, (int)(key_len > 64 ? 64 : key_len), key,
               why);
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_puts(&b, "sequence ");
    sr_buf_json_str(&b, key, key_len > 64 ? 64 : key_len);
    sr_buf_puts(&b, ": ");
    sr_buf_puts(&b, says);
    int status = rc == SR_ETOOBIG || rc == SR_EINVAL ? 409 : 503;
    reject(c, status, b.oom ? sr_strerror(rc) : b.p);
    sr_buf_free(&b);
}

/* The adapter's answer to a waiting sequenced publish. */
static void on_sequenced(void *ud, int rc, const char *text) {
    sr_http_wait *w = ud;
    sr_conn *c = w->conn;
    if (c) {
        c->http->wait = NULL;
        if (rc >= 0) publish_done(c, rc, text);
        else sequence_failed(c, rc, w->key, w->key_len, text, true);
        sr_conn_resume(c);
    }
    free(w);
}

/* With "sequence", or with history on (p->sequence NULL: the history's id,
 * history_resume.c; errors then read "sequence \"history\": ..."). */
static void publish_sequenced(sr_conn *c, publish_req *p, const sr_broadcast_opts *opts) {
    const char *key = p->sequence ? p->sequence : "history";
    size_t key_len = strlen(key);
    sr_http_wait *w = malloc(sizeof(*w) + key_len + 1);
    if (!w) {
        reject(c, 503, "out of memory");
        return;
    }
    w->conn = c;
    w->key_len = key_len;
    memcpy(w->key, key, key_len + 1);
    int delivered = 0;
    char text[512];
    c->http->wait = w; /* linked first: on_sequenced answers (never before this returns) */
    int rc = p->sequence
                 ? sr_sequence_start(c->srv, p->rooms, p->n_rooms, &p->m, opts, p->sequence,
                                     p->epoch, on_sequenced, w, &delivered, text, sizeof(text))
                 : sr_history_start(c->srv, p->rooms, p->n_rooms, &p->m, opts, on_sequenced, w,
                                    &delivered, text, sizeof(text));
    if (rc == 1) return;
    c->http->wait = NULL;
    free(w);
    if (rc < 0) sequence_failed(c, rc, key, key_len, text, false);
    else publish_done(c, delivered, text);
}

/* Why the adapter is not there, from its health, or a generic sentence. */
static void adapter_reason_of(sr_server *srv, char *out, size_t cap) {
    out[0] = '\0';
    if (srv->adapter.health && srv->adapter.health(srv->adapter.ctx, out, cap) != 0 && out[0])
        return;
    snprintf(out, cap, "the %s adapter refused it",
             srv->adapter.name ? srv->adapter.name : "custom");
}

/* A plain publish handed to other nodes: 200 only once the adapter says
 * they can have it. 202 {"queued":true} when it is held for later (the
 * Redis outbox while Redis is unreachable), 503 with the reason when it
 * did not get through (this node's streams got it all the same). */
static void publish_answer(sr_conn *c, int rc, int delivered, const char *why) {
    if (rc == 0) {
        publish_done(c, delivered, NULL);
        return;
    }
    if (rc == 1) {
        char body[64];
        int n = snprintf(body, sizeof body, "{\"delivered\":%d,\"queued\":true}", delivered);
        sr_routes_json(c, 202, body, (size_t)n, NULL);
        return;
    }
    c->srv->stats.adapter_errors++;
    char msg[400];
    snprintf(msg, sizeof msg, "not published to other nodes: %s (this node's streams got it: %d)",
             why && *why ? why : sr_strerror(rc), delivered);
    reject(c, 503, msg);
}

/* The answer of a publish held in place (w->hole), written into its
 * place: the head as its own request wanted it (keep-alive, HEAD, CORS);
 * a 503 here leaves the connection open, as the requests after it were
 * handled already. Counted and logged like the other answers. */
static void fill_answer(sr_conn *c, sr_http_wait *w, int rc, const char *why) {
    sr_server *srv = c->srv;
    sr_buf body, msg, b;
    sr_buf_init(&body);
    sr_buf_init(&msg);
    sr_buf_init(&b);
    int status = rc == 0 ? 200 : rc == 1 ? 202 : 503;
    if (rc == 0) {
        sr_buf_printf(&body, "{\"delivered\":%d}\n", w->delivered);
    } else if (rc == 1) {
        sr_buf_printf(&body, "{\"delivered\":%d,\"queued\":true}\n", w->delivered);
    } else {
        srv->stats.adapter_errors++;
        srv->stats.rejected_requests++;
        sr_metrics_rejected(srv, status);
        sr_buf_printf(&msg, "not published to other nodes: %s (this node's streams got it: %d)",
                      why && *why ? why : sr_strerror(rc), w->delivered);
        sr_log(srv, SR_LOG_WARN, c->id, "request %llu /publish: %d %s", (unsigned long long)c->id,
               status, msg.oom ? "" : msg.p);
        sr_buf_puts(&body, "{\"error\":");
        sr_buf_json_str(&body, msg.p ? msg.p : "", msg.len);
        sr_buf_printf(&body, ",\"status\":%d}\n", status);
    }
    sr_buf extra;
    sr_buf_init(&extra);
    if (w->cors) sr_buf_puts(&extra, w->cors);
    sr_buf_puts(&extra, "Cache-Control: no-store\r\n");
    sr_http_response_head(&b, status, w->keep, "application/json", (long long)body.len, extra.p);
    if (!w->head) sr_buf_append(&b, body.p, body.len);
    if (b.oom || body.oom || extra.oom) sr_conn_fill(c, w, "", 0); /* then closed below */
    else sr_conn_fill(c, w, b.p, b.len);
    if (b.oom || body.oom || extra.oom) sr_conn_close_now(c);
    sr_buf_free(&extra);
    sr_buf_free(&b);
    sr_buf_free(&msg);
    sr_buf_free(&body);
}

static void on_published(void *ud, int rc, const char *text) {
    sr_http_wait *w = ud;
    sr_conn *c = w->conn;
    if (rc > 1) rc = 0; /* 0: published, 1: queued for the reconnect, < 0: failed */
    if (c && w->hole) {
        c->http->hole_bytes -= w->cost;
        fill_answer(c, w, rc, text);
    } else if (c) {
        c->http->wait = NULL;
        publish_answer(c, rc, w->delivered, text);
        sr_conn_resume(c);
    }
    free(w->cors);
    free(w);
}

/* Links w to c for an answer given later: in place when the connection
 * has room for one more (its later requests go on), else as the one
 * answer it waits for (c->http->wait). */
static int wait_for_answer(sr_conn *c, sr_http_wait *w) {
    /* an HTTP/2 stream carries one request: its answer simply waits (its
     * frames go to the session, not to a queue a hole could stand in) */
    if (!c->h2s && c->http->n_holes < SR_CONN_MAX_HOLES &&
        c->http->hole_bytes + w->cost <= SR_CONN_MAX_HOLE_BYTES) {
        sr_buf cors;
        sr_buf_init(&cors);
        sr_routes_cors_headers(c, &cors);
        if (cors.oom) return SR_ENOMEM;
        w->cors = cors.p; /* NULL when there are none */
        w->keep = (uint8_t)sr_routes_keep_alive(c);
        w->head = (uint8_t)(c->http->req.method == HTTP_HEAD);
        int rc = sr_conn_hole(c, w);
        if (rc < 0) {
            sr_buf_free(&cors);
            w->cors = NULL;
            return rc;
        }
        c->http->hole_bytes += w->cost;
        if (!w->keep) sr_conn_end(c); /* no request after this one */
        return SR_OK;
    }
    w->conn = c;
    c->http->wait = w;
    return SR_OK;
}

/* Delivers to this node's streams, then hands the message to the adapter
 * and answers from what the adapter says (publish_answer). */
static void publish_remote(sr_conn *c, publish_req *p, const sr_broadcast_opts *opts) {
    sr_server *srv = c->srv;
    sr_broadcast_opts here = *opts;
    here.local = 1;
    int delivered = sr_broadcast_parts(srv, p->rooms, p->n_rooms, &p->m, &here);
    if (delivered < 0) {
        reject(c, 503, sr_strerror(delivered));
        return;
    }
    sr_message msg = {
        .id = p->m.id_len ? p->m.id : NULL,
        .event = p->m.event_len ? p->m.event : NULL,
        .data = p->m.data,
        .data_len = p->m.data_len,
        .retry = p->m.retry,
    };
    char why[256] = "";
    if (!srv->adapter.publish_acked) { /* it cannot tell more than this */
        int rc = srv->adapter.publish ? srv->adapter.publish(srv->adapter.ctx, p->rooms, p->n_rooms,
                                                             &msg, p->meta, p->meta_len)
                                      : 0;
        if (rc < 0) adapter_reason_of(srv, why, sizeof why);
        publish_answer(c, rc < 0 ? rc : 0, delivered, why);
        return;
    }
    sr_http_wait *w = calloc(1, sizeof(*w) + 1);
    if (!w) {
        reject(c, 503, "out of memory");
        return;
    }
    w->delivered = delivered;
    w->cost = sr_publish_cost(srv, p->n_rooms, &p->m, p->meta_len, 0);
    int rc = srv->adapter.publish_acked(srv->adapter.ctx, p->rooms, p->n_rooms, &msg, p->meta,
                                        p->meta_len, on_published, w, why, sizeof why);
    /* linked before anything else runs: on_published answers (never before
     * publish_acked returned) */
    if (rc == 0 && wait_for_answer(c, w) == SR_OK) return;
    if (rc == 0) { /* no place for the answer: the adapter's done only frees w */
        w->conn = NULL;
        sr_conn_close_now(c);
        return;
    }
    free(w);
    if (rc < 0 && !why[0]) adapter_reason_of(srv, why, sizeof why);
    publish_answer(c, rc, delivered, why);
}

void sr_publish_http(sr_conn *c) {
    sr_server *srv = c->srv;
    /* the publish key's holder may publish anywhere; else, with JWT
     * authorization on, the token's publish claim decides (auth_token.c) */
    int by_key = srv->cfg.publish_key && *srv->cfg.publish_key && publish_authorized(c);
    sr_grants grants;
    sr_grants_init(&grants);
    if (!by_key && srv->auth) {
        if (sr_auth_bearer_grants(c, &grants) < 0) return; /* answered 401 */
    } else if (!publish_authorized(c)) {
        reject(c, 401, "missing or wrong publish key: send Authorization: Bearer <key>");
        return;
    }
    const sr_http_request *req = &c->http->req;
    publish_req p;
    memset(&p, 0, sizeof(p));
    char err[512];
    if (parse_publish(srv, req->body ? req->body : "", req->body_len, &p, err, sizeof(err)) < 0) {
        publish_req_free(&p);
        sr_grants_free(&grants);
        reject(c, 400, err);
        return;
    }
    int allowed = by_key || !srv->auth ||
                  (sr_auth_publish_allowed(c, &grants, p.rooms, p.n_rooms) == 0 &&
                   (!p.sequence || sr_auth_sequence_allowed(c, &grants, p.sequence) == 0));
    sr_grants_free(&grants); /* refused: 403 sent */
    if (!allowed) {
        publish_req_free(&p);
        return;
    }
    /* the stats room (--demo) carries the server's own /stats: nobody may
     * speak in its name over HTTP (docs/security.md) */
    for (size_t i = 0; srv->cfg.stats_room && i < p.n_rooms; i++) {
        if (strcmp(p.rooms[i], srv->cfg.stats_room) == 0) {
            publish_req_free(&p);
            reject(c, 403, "the stats room is written by the server only");
            return;
        }
    }
    if (sr_limit_message(srv, p.m.data_len) < 0) {
        publish_req_free(&p);
        snprintf(err, sizeof(err), "\"data\" too large: its JSON text may have at most %zu bytes",
                 srv->cfg.max_message_bytes);
        reject(c, 413, err);
        return;
    }
    size_t cost = sr_publish_cost(srv, p.n_rooms, &p.m, p.meta_len, p.local);
    if (sr_limit_publish(srv, cost) < 0) {
        snprintf(
            err, sizeof(err),
            "publish too large: %zu rooms x %zu bytes = %zu bytes to send to other nodes, over "
            "the limit of %zu (max-publish-bytes): publish to fewer rooms or send less data",
            p.n_rooms, cost / p.n_rooms, cost, srv->cfg.max_publish_bytes);
        publish_req_free(&p);
        reject(c, 413, err);
        return;
    }
    sr_broadcast_opts opts = {.local = p.local, .meta = p.meta, .meta_len = p.meta_len};
    if (srv->cfg.history && !p.local && (p.m.id_len || p.sequence)) { /* docs/resume.md */
        publish_req_free(&p);
        reject(c, 400,
               "history is on: the server assigns every id; drop \"id\" and \"sequence\" "
               "(or publish with \"local\":true, kept out of the history)");
        return;
    }
    if (p.sequence || (srv->cfg.history && !p.local)) {
        publish_sequenced(c, &p, &opts);
        publish_req_free(&p);
        return;
    }
    if (!p.local && srv->has_adapter) {
        publish_remote(c, &p, &opts);
        publish_req_free(&p);
        return;
    }
    int delivered = sr_broadcast_parts(srv, p.rooms, p.n_rooms, &p.m, &opts);
    publish_req_free(&p);
    if (delivered < 0) {
        reject(c, 503, sr_strerror(delivered));
        return;
    }
    publish_done(c, delivered, NULL);
}
