/* SPDX-License-Identifier: MIT */
/*
 * revoke.c: ending streams on the server's initiative, for authorization:
 *  - expiry: a stream opened with a token carries its deadline ("exp" +
 *    leeway, conn->auth_deadline_ms, set by auth_token.c); sr_revoke_sweep, run
 *    by auth.c's expiry timer every 250 ms, sends such a stream past its
 *    deadline the --auth-expiry-event event ({"reason":"expired"}), so the
 *    page fetches a fresh token, then ends it;
 *  - POST /disconnect (an admin route, routes.c): {"sub":"bob"},
 *    {"room":"chat:1"} or {"conn":"42"} ends the matching streams the same
 *    way ({"reason":"disconnected"}). "sub" and "room" reach every node:
 *    the request is published on the adapter's control channel
 *    (SR_CONTROL_ROOM, a name no client may join, so Node reference nodes,
 *    which subscribe only to rooms with members, never read it) and each
 *    other node applies it in sr_revoke_control. "conn" ids are per node:
 *    it acts on the node that answers.
 * The scan walks the connection list: O(streams) per tick, no allocation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"
#include "json/json.h"

typedef enum { BY_SUB, BY_ROOM, BY_CONN } revoke_by;

typedef struct revoke_target {
    revoke_by by;
    uint64_t subject;    /* BY_SUB */
    const sr_room *room; /* BY_ROOM: NULL when no local member */
    uint64_t conn_id;    /* BY_CONN */
} revoke_target;

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int stream_live(const sr_conn *c) {
    return c->kind == SR_CONN_STREAM && !sr_conn_is_ending(c);
}

/* Tells the page why (the expiry event), then ends the stream. */
static void end_stream(sr_server *srv, sr_conn *c, int disconnected) {
    const char *data = disconnected ? "{\"reason\":\"disconnected\"}" : "{\"reason\":\"expired\"}";
    sr_message m = {.event = sr_auth_expiry_event(srv), .data = data, .data_len = strlen(data)};
    sr_send(c, &m); /* a full queue ends it anyway */
    sr_log(srv, SR_LOG_INFO, c->id, "stream %llu ended: %s", (unsigned long long)c->id,
           disconnected ? "disconnected (POST /disconnect)" : "its token expired");
    sr_auth_count_ended(srv, disconnected);
    sr_close(c);
}

void sr_revoke_sweep(sr_server *srv) {
    if (srv->shutting_down) return;
    int64_t now = wall_ms();
    for (sr_conn *c = srv->conns, *next; c; c = next) {
        next = c->next; /* sr_close may unlink c */
        if (c->auth_deadline_ms && now >= c->auth_deadline_ms && stream_live(c)) {
            c->auth_deadline_ms = 0;
            end_stream(srv, c, 0);
        }
    }
}

static int in_room(const sr_conn *c, const sr_room *room) {
    for (uint32_t i = 0; i < c->member.n_rooms; i++)
        if (c->member.rooms[i].room == room) return 1;
    return 0;
}

/* Ends the local streams matching t; returns how many. */
static int apply(sr_server *srv, const revoke_target *t) {
    if (t->by == BY_ROOM && !t->room) return 0;
    int n = 0;
    for (sr_conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (!stream_live(c)) continue;
        int hit = t->by == BY_SUB    ? c->auth_subject && c->auth_subject == t->subject
                  : t->by == BY_ROOM ? in_room(c, t->room)
                                     : c->id == t->conn_id;
        if (!hit) continue;
        end_stream(srv, c, 1);
        n++;
    }
    return n;
}

/* Reads {"sub":S} | {"room":R} | {"conn":"N"} into t; the decoded text in
 * text[0..cap). 0, or -1 with the reason in err. */
static int parse_target(sr_server *srv, const char *body, size_t len, revoke_target *t, char *text,
                        size_t cap, char *err, size_t errcap) {
    sr_json_value top;
    sr_json_error jerr = {0};
    unsigned flags = 0;
    static const char *const keys[] = {"sub", "room", "conn"};
    sr_json_value v[3];
    if (len == 0 || sr_json_validate(body, len, 8, &top, &flags, &jerr) != 0 ||
        top.type != SR_JSON_OBJECT) {
        snprintf(err, errcap,
                 "body must be a JSON object: {\"sub\":S}, {\"room\":R} or {\"conn\":\"ID\"}");
        return -1;
    }
    sr_json_object_get(&top, keys, 3, v);
    int given = 0, which = -1;
    for (int i = 0; i < 3; i++)
        if (v[i].type != SR_JSON_NONE) given++, which = i;
    if (given != 1) {
        snprintf(err, errcap, "give exactly one of \"sub\", \"room\" or \"conn\"");
        return -1;
    }
    unsigned sflags = 0;
    ssize_t n = v[which].type == SR_JSON_STRING
                    ? sr_json_string_decode(&v[which], text, cap - 1, &sflags)
                    : -1;
    if (n <= 0 || (sflags & SR_JSON_S_NUL)) {
        snprintf(err, errcap, "\"%s\" must be a non-empty string", keys[which]);
        return -1;
    }
    text[n] = '\0';
    memset(t, 0, sizeof(*t));
    t->by = (revoke_by)which;
    if (t->by == BY_SUB) {
        t->subject = sr_auth_subject_hash(text, (size_t)n);
    } else if (t->by == BY_ROOM) {
        if (sr_room_name_check(text, (size_t)n, srv->cfg.max_room_len) < 0) {
            snprintf(err, errcap, "\"room\" is not a valid room name");
            return -1;
        }
        t->room = sr_registry_find(srv->reg, text, (size_t)n);
    } else {
        char *end = NULL;
        unsigned long long id = strtoull(text, &end, 10);
        if (!end || *end || text[0] < '0' || text[0] > '9') {
            snprintf(err, errcap, "\"conn\" must be a connection id: decimal digits");
            return -1;
        }
        t->conn_id = id;
    }
    return 0;
}

int sr_revoke_wanted(const sr_server *srv) {
    return srv->auth || (srv->cfg.admin_key && *srv->cfg.admin_key);
}

void sr_revoke_http(sr_conn *c) {
    sr_server *srv = c->srv;
    if (!sr_revoke_wanted(srv)) {
        /* the route would be open to anyone: it needs an admin gate */
        sr_routes_error(c, 403, "POST /disconnect needs --admin-key or --auth-alg", false);
        return;
    }
    const sr_http_request *req = &c->http->req;
    revoke_target t;
    char text[1024], err[256];
    if (parse_target(srv, req->body ? req->body : "", req->body_len, &t, text, sizeof(text), err,
                     sizeof(err)) < 0) {
        sr_routes_error(c, 400, err, false);
        return;
    }
    int n = apply(srv, &t);
    int cluster = 0;
    if (t.by != BY_CONN && srv->has_adapter && srv->adapter.publish) {
        /* the other nodes apply the request body as it came (re-checked there) */
        static const char *const control[] = {SR_CONTROL_ROOM};
        sr_message m = {.event = "disconnect", .data = req->body, .data_len = req->body_len};
        cluster = srv->adapter.publish(srv->adapter.ctx, control, 1, &m, NULL, 0) == 0;
    }
    char answer[96];
    int len = snprintf(answer, sizeof(answer), "{\"disconnected\":%d,\"cluster\":%s}", n,
                       t.by == BY_CONN ? "false"
                       : cluster       ? "true"
                                       : "false");
    if (t.by != BY_CONN && srv->has_adapter && !cluster) {
        sr_routes_error(c, 503,
                        "disconnected here, but the other nodes could not be told "
                        "(adapter unreachable); retry",
                        false);
        return;
    }
    sr_routes_json(c, 200, answer, (size_t)len, NULL);
}

int sr_revoke_control(sr_server *srv, const sr_message *msg) {
    if (!msg->event || strcmp(msg->event, "disconnect") != 0) return 0; /* newer kinds: ignored */
    size_t len = msg->data_len == SIZE_MAX ? strlen(msg->data) : msg->data_len;
    revoke_target t = {.by = BY_SUB};
    char text[1024], err[256] = "";
    if (parse_target(srv, msg->data, len, &t, text, sizeof(text), err, sizeof(err)) < 0 ||
        t.by == BY_CONN) {
        sr_log(srv, SR_LOG_WARN, 0, "control message dropped: %s",
               *err ? err : "\"conn\" ids are per node");
        return SR_EINVAL;
    }
    return apply(srv, &t);
}
