/* SPDX-License-Identifier: MIT */
/*
 * presence.c: who is in a room across the cluster: sr_presence_get, the
 * GET /presence endpoint, the join/leave feed to the adapter, and the
 * debounced "event: presence" of users joining and leaving.
 *
 * Every join and leave hands the room's new local count, with the stream's
 * user (the JWT "sub", auth.c) and +1/-1, to the adapter's presence_set
 * (server.c's room event hook); the adapter coalesces (Redis:
 * src/redis/presence.c). A read asks the adapter's presence_read when it
 * has one and answers later; without one it answers at once from this
 * node's registry (users counted and paged by sorting the members' users;
 * the cursor is then an offset).
 *
 * Events: the adapter reports a user's first stream in the cluster joining
 * and its last leaving (without a presence adapter, this node's streams
 * are counted instead). A leave waits cfg.presence_debounce_ms in a FIFO
 * (all waits are equal, so the oldest is always due first, one timer); a
 * join of the same user in the same room meanwhile cancels it and is not
 * announced either: a reconnect makes no event. Events go to the room's
 * local streams only (a local broadcast), never through the adapter.
 *
 * GET /rooms?scope=cluster reads every room this node has members in the
 * same way (at most SR_PRESENCE_ROOMS_MAX) and answers once all are back.
 *
 * GET /presence is an info route (registered with /rooms and /stats, one
 * condition in routes.c); while Redis answers, the connection holds its
 * later requests (sr_http_wait, as POST /publish with a sequence does).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

#define SR_PRESENCE_LIMIT_MAX 1000
#define SR_PRESENCE_LIMIT_DEFAULT 100

/* A leave waiting for its debounce. */
typedef struct sr_presence_pending {
    struct sr_presence_pending *next;
    uint64_t due;          /* loop time, ms */
    size_t room_len, user_len;
    char key[];            /* room, NUL, user, NUL */
} sr_presence_pending;

static sr_conn *member_conn(const sr_member *m) {
    return (sr_conn *)(void *)((char *)m - offsetof(sr_conn, member));
}

/* --- events -------------------------------------------------------------- */

static void announce(sr_server *srv, const char *room, const char *user, size_t user_len, int joined) {
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_puts(&b, joined ? "{\"joined\":" : "{\"left\":");
    sr_buf_json_str(&b, user, user_len);
    sr_buf_puts(&b, "}");
    if (!b.oom) {
        sr_message msg = {.event = "presence", .data = b.p, .data_len = b.len};
        sr_broadcast_opts opts = {.local = 1};
        sr_broadcast(srv, &room, 1, &msg, &opts);
    }
    sr_buf_free(&b);
}

static void on_presence_timer(uv_timer_t *t);

static void schedule(sr_server *srv) {
    if (!srv->handles_ready || !srv->presence_pending) return;
    uint64_t now = uv_now(srv->loop), due = srv->presence_pending->due;
    uv_timer_start(&srv->presence_timer, on_presence_timer, due > now ? due - now : 0, 0);
}

static void on_presence_timer(uv_timer_t *t) {
    sr_server *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    while (srv->presence_pending && srv->presence_pending->due <= now) {
        sr_presence_pending *p = srv->presence_pending;
        srv->presence_pending = p->next;
        if (!srv->presence_pending) srv->presence_pending_tail = NULL;
        announce(srv, p->key, p->key + p->room_len + 1, p->user_len, 0);
        free(p);
    }
    schedule(srv);
}

/* Removes the pending leave of (room, user); 1 when there was one. */
static int cancel_leave(sr_server *srv, const char *room, size_t room_len, const char *user,
                        size_t user_len) {
    sr_presence_pending *prev = NULL;
    for (sr_presence_pending *p = srv->presence_pending; p; prev = p, p = p->next) {
        if (p->room_len != room_len || p->user_len != user_len || memcmp(p->key, room, room_len) != 0 ||
            memcmp(p->key + room_len + 1, user, user_len) != 0)
            continue;
        if (prev) prev->next = p->next;
        else srv->presence_pending = p->next;
        if (srv->presence_pending_tail == p) srv->presence_pending_tail = prev;
        free(p);
        return 1;
    }
    return 0;
}

void sr_presence_event(sr_server *srv, const char *room, size_t room_len, const char *user,
                       size_t user_len, int joined) {
    if (!srv->cfg.presence_events || !srv->handles_ready || srv->shutting_down || user_len == 0) return;
    if (joined) {
        if (cancel_leave(srv, room, room_len, user, user_len)) return; /* a reconnect */
        char *name = strndup(room, room_len);
        if (name) announce(srv, name, user, user_len, 1);
        free(name);
        return;
    }
    sr_presence_pending *p = malloc(sizeof *p + room_len + user_len + 2);
    if (!p) return;
    p->next = NULL;
    p->due = uv_now(srv->loop) + srv->cfg.presence_debounce_ms;
    p->room_len = room_len;
    p->user_len = user_len;
    memcpy(p->key, room, room_len);
    p->key[room_len] = '\0';
    memcpy(p->key + room_len + 1, user, user_len);
    p->key[room_len + 1 + user_len] = '\0';
    if (srv->presence_pending_tail) srv->presence_pending_tail->next = p;
    else srv->presence_pending = p;
    srv->presence_pending_tail = p;
    if (!uv_is_active((uv_handle_t *)&srv->presence_timer)) schedule(srv);
}

void sr_presence_free(sr_server *srv) {
    while (srv->presence_pending) {
        sr_presence_pending *p = srv->presence_pending;
        srv->presence_pending = p->next;
        free(p);
    }
    srv->presence_pending_tail = NULL;
}

/* The streams of user in room on this node. */
static uint32_t local_user_streams(const sr_room *room, const char *user) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < room->n_members; i++) {
        const char *u = member_conn(room->members[i])->user;
        if (u && strcmp(u, user) == 0) n++;
    }
    return n;
}

void sr_presence_room_changed(sr_server *srv, const sr_room *room, const sr_member *m, int joined) {
    const char *user = m ? member_conn(m)->user : NULL;
    if (srv->has_adapter && srv->adapter.presence_set) {
        srv->adapter.presence_set(srv->adapter.ctx, room->name, room->n_members, user, joined ? 1 : -1);
        return;
    }
    /* no presence adapter: this node is the cluster */
    if (!user || !srv->cfg.presence_events) return;
    uint32_t n = local_user_streams(room, user);
    if ((joined && n == 1) || (!joined && n == 0))
        sr_presence_event(srv, room->name, room->name_len, user, strlen(user), joined);
}

/* --- reads ----------------------------------------------------------------- */

static int all_digits(const char *s, size_t n, size_t max) {
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* A cursor is 1..20 digits, and may go on with '.' and 1..10 digits. */
static int cursor_ok(const char *c) {
    size_t n = strnlen(c, 40), head = strcspn(c, ".");
    if (!all_digits(c, head, 20)) return 0;
    return head == n || all_digits(c + head + 1, n - head - 1, 10);
}

static int query_check(const sr_presence_query *q) {
    if (!q) return 0;
    if (q->limit > SR_PRESENCE_LIMIT_MAX) return SR_EINVAL;
    if (q->cursor && *q->cursor && !cursor_ok(q->cursor)) return SR_EINVAL;
    return 0;
}

static int by_user(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The answer from this node's registry. */
static int local_answer(sr_server *srv, const char *room, const sr_presence_query *q,
                        sr_presence_fn fn, void *ud) {
    sr_presence ans = {0};
    ans.room = room;
    sr_room *r = sr_registry_find(srv->reg, room, strlen(room));
    size_t n = r ? r->n_members : 0;
    ans.connections = n;
    ans.nodes = n > 0;
    const char **users = calloc(n ? n : 1, sizeof *users);
    sr_presence_member *members = calloc(n ? n : 1, sizeof *members);
    if (!users || !members) {
        free(users);
        free(members);
        return SR_ENOMEM;
    }
    size_t nu = 0;
    for (size_t i = 0; i < n; i++) {
        const char *u = member_conn(r->members[i])->user;
        if (u) users[nu++] = u;
    }
    qsort(users, nu, sizeof *users, by_user);
    size_t distinct = 0;
    for (size_t i = 0; i < nu; i++) {
        if (distinct && strcmp(members[distinct - 1].user, users[i]) == 0) {
            members[distinct - 1].connections++;
            continue;
        }
        members[distinct].user = users[i];
        members[distinct++].connections = 1;
    }
    ans.users = distinct;
    char next[24];
    if (q && q->members) {
        size_t limit = q->limit ? q->limit : SR_PRESENCE_LIMIT_DEFAULT;
        size_t from = q->cursor && *q->cursor ? (size_t)strtoull(q->cursor, NULL, 10) : 0;
        if (from > distinct) from = distinct;
        size_t to = distinct - from > limit ? from + limit : distinct;
        ans.members = members + from;
        ans.n_members = to - from;
        if (to < distinct) {
            snprintf(next, sizeof next, "%zu", to);
            ans.next_cursor = next;
        }
    }
    fn(ud, &ans);
    free(users);
    free(members);
    return SR_OK;
}

int sr_presence_get(sr_server *srv, const char *room, const sr_presence_query *q, sr_presence_fn fn,
                    void *ud) {
    if (!srv || !fn) return SR_EINVAL;
    if (!room || sr_room_name_check(room, strlen(room), srv->cfg.max_room_len) < 0) return SR_EROOM;
    if (query_check(q) < 0) return SR_EINVAL;
    if (srv->shutting_down) return SR_ECLOSED;
    if (srv->has_adapter && srv->adapter.presence_read)
        return srv->adapter.presence_read(srv->adapter.ctx, room, q, fn, ud);
    return local_answer(srv, room, q, fn, ud);
}

/* --- GET /presence --------------------------------------------------------- */

static void answer(sr_conn *c, const sr_presence *p, int with_members) {
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_puts(&b, "{\"room\":");
    sr_buf_json_str(&b, p->room, strlen(p->room));
    sr_buf_printf(&b, ",\"connections\":%llu,\"users\":%llu,\"nodes\":%llu,\"scope\":\"%s\"",
                  (unsigned long long)p->connections, (unsigned long long)p->users,
                  (unsigned long long)p->nodes, p->cluster ? "cluster" : "node");
    if (with_members) {
        sr_buf_puts(&b, ",\"members\":[");
        for (size_t i = 0; i < p->n_members; i++) {
            sr_buf_puts(&b, i ? ",{\"user\":" : "{\"user\":");
            sr_buf_json_str(&b, p->members[i].user, strlen(p->members[i].user));
            sr_buf_printf(&b, ",\"connections\":%llu}", (unsigned long long)p->members[i].connections);
        }
        sr_buf_puts(&b, "],\"next_cursor\":");
        if (p->next_cursor) sr_buf_json_str(&b, p->next_cursor, strlen(p->next_cursor));
        else sr_buf_puts(&b, "null");
    }
    sr_buf_puts(&b, "}");
    if (b.oom) sr_routes_error(c, 503, "out of memory", false);
    else sr_routes_json(c, 200, b.p, b.len, NULL);
    sr_buf_free(&b);
}

static void failed(sr_conn *c, int rc, const char *why) {
    char msg[512];
    snprintf(msg, sizeof msg, "presence: %s", why && *why ? why : sr_strerror(rc));
    sr_routes_error(c, 503, msg, false);
}

/* Answer of a read that went to the adapter (w->key holds "1" with members). */
static void on_read(void *ud, const sr_presence *p) {
    sr_http_wait *w = ud;
    sr_conn *c = w->conn;
    if (c) {
        c->http->wait = NULL;
        if (p->rc < 0) failed(c, p->rc, p->why);
        else answer(c, p, w->key[0] == '1');
        sr_conn_resume(c);
    }
    free(w);
}

typedef struct now_ctx {
    sr_conn *c;
    int members;
} now_ctx;

/* Answer given before sr_presence_get returned (no presence adapter). */
static void on_read_now(void *ud, const sr_presence *p) {
    now_ctx *n = ud;
    answer(n->c, p, n->members);
}

void sr_presence_http(sr_conn *c) {
    sr_server *srv = c->srv;
    const sr_http_request *req = &c->http->req;
    const char *room = sr_http_query(req, "room", 0);
    char msg[200];
    if (!room || !*room) {
        sr_routes_error(c, 400, "room: give one room, GET /presence?room=<name>", false);
        return;
    }
    if (sr_http_query(req, "room", 1)) {
        sr_routes_error(c, 400, "room: give exactly one room", false);
        return;
    }
    if (sr_room_name_check(room, strlen(room), srv->cfg.max_room_len) < 0) {
        snprintf(msg, sizeof msg,
                 "room: invalid name (1..%zu bytes of letters, digits and -_.:@/=+~!$*,;)",
                 (size_t)srv->cfg.max_room_len);
        sr_routes_error(c, 400, msg, false);
        return;
    }
    sr_presence_query q = {0};
    const char *members = sr_http_query(req, "members", 0);
    const char *limit = sr_http_query(req, "limit", 0);
    const char *cursor = sr_http_query(req, "cursor", 0);
    if (members && strcmp(members, "1") != 0 && strcmp(members, "0") != 0) {
        sr_routes_error(c, 400, "members: give members=1 (or 0)", false);
        return;
    }
    q.members = members && members[0] == '1';
    if (q.members && !srv->auth) {
        sr_routes_error(c, 400, "members: needs JWT authorization (users are the tokens' \"sub\")",
                        false);
        return;
    }
    if (limit) {
        if (!all_digits(limit, strnlen(limit, 5), 4) || strtoul(limit, NULL, 10) < 1 ||
            strtoul(limit, NULL, 10) > SR_PRESENCE_LIMIT_MAX) {
            snprintf(msg, sizeof msg, "limit: give a number of users from 1 to %d (default %d)",
                     SR_PRESENCE_LIMIT_MAX, SR_PRESENCE_LIMIT_DEFAULT);
            sr_routes_error(c, 400, msg, false);
            return;
        }
        q.limit = (unsigned)strtoul(limit, NULL, 10);
    }
    if (cursor && !cursor_ok(cursor)) {
        sr_routes_error(c, 400, "cursor: give the next_cursor of the previous page", false);
        return;
    }
    q.cursor = cursor;
    if (!(srv->has_adapter && srv->adapter.presence_read)) {
        now_ctx n = {c, q.members};
        int rc = sr_presence_get(srv, room, &q, on_read_now, &n);
        if (rc < 0) failed(c, rc, NULL);
        return;
    }
    sr_http_wait *w = malloc(sizeof *w + 2);
    if (!w) {
        sr_routes_error(c, 503, "out of memory", false);
        return;
    }
    w->conn = c;
    w->key_len = 1;
    w->key[0] = q.members ? '1' : '0';
    w->key[1] = '\0';
    c->http->wait = w; /* linked first: on_read answers, never before this returns */
    int rc = sr_presence_get(srv, room, &q, on_read, w);
    if (rc == 0) return;
    c->http->wait = NULL;
    free(w);
    failed(c, rc, rc == SR_EADAPTER ? "redis unreachable" : NULL);
}

/* --- GET /rooms?scope=cluster ---------------------------------------------- */

/* One read per room this node has members in; the answer goes out when the
 * last comes back. */
typedef struct rooms_read {
    sr_http_wait *w;       /* the connection's wait (w->conn NULL: gone) */
    size_t n, pending;
    int failed;
    char why[256];
    struct rooms_item {
        char *name;
        uint64_t local, connections, users, nodes;
    } *items;
} rooms_read;

typedef struct rooms_slot {
    rooms_read *rr;
    size_t i;
} rooms_slot;

#define SR_PRESENCE_ROOMS_MAX 1000

static void rooms_free(rooms_read *rr) {
    for (size_t i = 0; i < rr->n; i++) free(rr->items[i].name);
    free(rr->items);
    free(rr->w);
    free(rr);
}

static void rooms_answer(rooms_read *rr) {
    sr_conn *c = rr->w->conn;
    if (c) {
        c->http->wait = NULL;
        if (rr->failed) {
            failed(c, SR_EADAPTER, rr->why);
        } else {
            sr_buf b;
            sr_buf_init(&b);
            sr_buf_puts(&b, "{\"rooms\":[");
            for (size_t i = 0; i < rr->n; i++) {
                const struct rooms_item *it = &rr->items[i];
                sr_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
                sr_buf_json_str(&b, it->name, strlen(it->name));
                sr_buf_printf(&b, ",\"members\":%llu,\"connections\":%llu,\"users\":%llu,\"nodes\":%llu}",
                              (unsigned long long)it->local, (unsigned long long)it->connections,
                              (unsigned long long)it->users, (unsigned long long)it->nodes);
            }
            sr_buf_puts(&b, "],\"scope\":\"cluster\"}");
            if (b.oom) sr_routes_error(c, 503, "out of memory", false);
            else sr_routes_json(c, 200, b.p, b.len, NULL);
            sr_buf_free(&b);
        }
        sr_conn_resume(c);
    }
    rooms_free(rr);
}

static void on_room_read(void *ud, const sr_presence *p) {
    rooms_slot *s = ud;
    rooms_read *rr = s->rr;
    if (p->rc < 0) {
        if (!rr->failed) snprintf(rr->why, sizeof rr->why, "%s", p->why ? p->why : sr_strerror(p->rc));
        rr->failed = 1;
    } else {
        rr->items[s->i].connections = p->connections;
        rr->items[s->i].users = p->users;
        rr->items[s->i].nodes = p->nodes;
    }
    free(s);
    if (--rr->pending == 0) rooms_answer(rr);
}

void sr_presence_rooms_http(sr_conn *c) {
    sr_server *srv = c->srv;
    if (!(srv->has_adapter && srv->adapter.presence_read)) {
        sr_info_rooms(c); /* this node is the cluster */
        return;
    }
    size_t n = sr_registry_room_count(srv->reg);
    if (n > SR_PRESENCE_ROOMS_MAX) {
        char msg[160];
        snprintf(msg, sizeof msg, "scope: this node has %zu rooms; scope=cluster reads at most %d "
                                  "(use GET /presence?room=)", n, SR_PRESENCE_ROOMS_MAX);
        sr_routes_error(c, 400, msg, false);
        return;
    }
    rooms_read *rr = calloc(1, sizeof *rr);
    sr_http_wait *w = malloc(sizeof *w + 1);
    if (rr) rr->items = calloc(n ? n : 1, sizeof *rr->items);
    if (!rr || !w || !rr->items) {
        if (rr) free(rr->items);
        free(rr);
        free(w);
        sr_routes_error(c, 503, "out of memory", false);
        return;
    }
    w->conn = c;
    w->key_len = 0;
    w->key[0] = '\0';
    rr->w = w;
    sr_registry_iter it = {0};
    sr_room *r;
    while ((r = sr_registry_next(srv->reg, &it)) && rr->n < n) {
        rr->items[rr->n].name = strdup(r->name);
        rr->items[rr->n++].local = r->n_members;
    }
    c->http->wait = w;
    rr->pending = rr->n + 1; /* + this function's own share, dropped below */
    for (size_t i = 0; i < rr->n; i++) {
        rooms_slot *s = malloc(sizeof *s);
        if (s) s->rr = rr, s->i = i;
        int rc = s && rr->items[i].name ? srv->adapter.presence_read(srv->adapter.ctx, rr->items[i].name,
                                                                     NULL, on_room_read, s)
                                        : SR_ENOMEM;
        if (rc < 0) {
            free(s);
            if (!rr->failed)
                snprintf(rr->why, sizeof rr->why, "%s",
                         rc == SR_EADAPTER ? "redis unreachable" : sr_strerror(rc));
            rr->failed = 1;
            rr->pending--;
        }
    }
    if (--rr->pending == 0) rooms_answer(rr); /* nothing went to the adapter */
}
