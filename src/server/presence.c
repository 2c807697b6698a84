/* SPDX-License-Identifier: MIT */
/*
 * presence.c: who is in a room across the cluster, read: sr_presence_get,
 * the GET /presence endpoint, sr_presence_rooms and GET /rooms?scope=cluster
 * (the join/leave feed and the presence events are presence_events.c's).
 *
 * A read asks the adapter's presence_read when it
 * has one and answers later; without one it answers at once from this
 * node's registry (users counted and paged by sorting the members' users;
 * the cursor is then an offset).
 *
 * sr_presence_rooms (GET /rooms?scope=cluster) pages the rooms with
 * members anywhere: the adapter's presence_rooms gives a page of names (in
 * byte order, after the cursor: the hex of the previous page's last name),
 * or without one this node's registry does; then each room is read as
 * above, and the page goes out once all are back.
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

static sr_conn *member_conn(const sr_member *m) {
    return (sr_conn *)(void *)((char *)m - offsetof(sr_conn, member));
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
            sr_buf_printf(&b, ",\"connections\":%llu}",
                          (unsigned long long)p->members[i].connections);
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

/* --- sr_presence_rooms, GET /rooms?scope=cluster --------------------------- */

/* A cursor of the room list is the hex of the last name of the previous
 * page (room names may hold '+', which a query string would turn into a
 * space). Decodes it into out (cap bytes): 0, or -1 when it is not one. */
static int rooms_cursor_decode(const sr_server *srv, const char *cursor, char *out, size_t cap) {
    size_t n = strnlen(cursor, 2 * cap + 1);
    if (n == 0 || n % 2 || n / 2 >= cap) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char h = cursor[2 * i + (size_t)k];
            int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        out[i] = (char)v;
    }
    out[n / 2] = '\0';
    return sr_room_name_check(out, n / 2, srv->cfg.max_room_len) < 0 ? -1 : 0;
}

/* One sr_presence_rooms call: the page's names, then their counts. */
typedef struct rooms_call {
    sr_server *srv;
    sr_presence_rooms_fn fn;
    void *ud;
    size_t n, pending;
    int failed, rc, more;
    char why[256];
    sr_presence_room *items;
    char **names;
} rooms_call;

typedef struct rooms_slot {
    rooms_call *rc;
    size_t i;
} rooms_slot;

static void rooms_call_free(rooms_call *rc) {
    for (size_t i = 0; i < rc->n; i++) free(rc->names[i]);
    free(rc->names);
    free(rc->items);
    free(rc);
}

static void rooms_fail(rooms_call *rc, int code, const char *why) {
    if (!rc->failed) {
        rc->rc = code;
        snprintf(rc->why, sizeof rc->why, "%s", why && *why ? why : sr_strerror(code));
    }
    rc->failed = 1;
}

/* Everything is back: the page (rooms emptied meanwhile left out). */
static void rooms_finish(rooms_call *rc) {
    sr_presence_room_page page = {0};
    page.cluster = rc->srv->has_adapter && rc->srv->adapter.presence_read;
    char *next = NULL;
    if (rc->failed) {
        page.rc = rc->rc;
        page.why = rc->why;
    } else {
        size_t kept = 0;
        for (size_t i = 0; i < rc->n; i++)
            if (rc->items[i].connections || rc->items[i].members) rc->items[kept++] = rc->items[i];
        page.rooms = rc->items;
        page.n_rooms = kept;
        if (rc->more && rc->n) {
            const char *last = rc->names[rc->n - 1];
            size_t len = strlen(last);
            if ((next = malloc(2 * len + 1))) {
                for (size_t i = 0; i < len; i++)
                    snprintf(next + 2 * i, 3, "%02x", (unsigned char)last[i]);
                page.next_cursor = next;
            } else {
                page.rc = SR_ENOMEM;
                page.why = "out of memory";
            }
        }
    }
    rc->fn(rc->ud, &page);
    free(next);
    rooms_call_free(rc);
}

static void on_room_count(void *ud, const sr_presence *p) {
    rooms_slot *s = ud;
    rooms_call *rc = s->rc;
    if (p->rc < 0) rooms_fail(rc, p->rc, p->why);
    else {
        rc->items[s->i].connections = p->connections;
        rc->items[s->i].users = p->users;
        rc->items[s->i].nodes = p->nodes;
    }
    free(s);
    if (--rc->pending == 0) rooms_finish(rc);
}

/* The distinct users among a room's local streams. */
static uint64_t local_users(const sr_room *r) {
    const char **users = calloc(r->n_members ? r->n_members : 1, sizeof *users);
    if (!users) return 0;
    size_t nu = 0, distinct = 0;
    for (size_t i = 0; i < r->n_members; i++) {
        const char *u = member_conn(r->members[i])->user;
        if (u) users[nu++] = u;
    }
    qsort(users, nu, sizeof *users, by_user);
    for (size_t i = 0; i < nu; i++)
        if (i == 0 || strcmp(users[i - 1], users[i]) != 0) distinct++;
    free(users);
    return distinct;
}

/* The page's names are known: each room's counts from the adapter, or
 * from this node's registry. */
static void on_room_names(void *ud, int code, const char *why, const char *const *names, size_t n,
                          int more) {
    rooms_call *rc = ud;
    sr_server *srv = rc->srv;
    if (code < 0) {
        rooms_fail(rc, code, why);
        rooms_finish(rc);
        return;
    }
    rc->more = more;
    rc->items = calloc(n ? n : 1, sizeof *rc->items);
    rc->names = calloc(n ? n : 1, sizeof *rc->names);
    if (!rc->items || !rc->names) {
        rooms_fail(rc, SR_ENOMEM, "out of memory");
        rooms_finish(rc);
        return;
    }
    for (; rc->n < n; rc->n++)
        if (!(rc->names[rc->n] = strdup(names[rc->n]))) break;
    if (rc->n < n) {
        rooms_fail(rc, SR_ENOMEM, "out of memory");
        rooms_finish(rc);
        return;
    }
    int remote = srv->has_adapter && srv->adapter.presence_read && !srv->shutting_down;
    rc->pending = rc->n + 1; /* + this function's own share, dropped below */
    for (size_t i = 0; i < rc->n; i++) {
        sr_presence_room *it = &rc->items[i];
        it->room = rc->names[i];
        const sr_room *r = sr_registry_find(srv->reg, it->room, strlen(it->room));
        it->members = r ? r->n_members : 0;
        if (!remote) {
            it->connections = it->members;
            it->nodes = it->members > 0;
            it->users = r ? local_users(r) : 0;
            rc->pending--;
            continue;
        }
        rooms_slot *s = malloc(sizeof *s);
        if (s) s->rc = rc, s->i = i;
        int res = s ? srv->adapter.presence_read(srv->adapter.ctx, it->room, NULL, on_room_count, s)
                    : SR_ENOMEM;
        if (res < 0) {
            free(s);
            rooms_fail(rc, res, res == SR_EADAPTER ? "redis unreachable" : NULL);
            rc->pending--;
        }
    }
    if (srv->shutting_down && srv->has_adapter && srv->adapter.presence_read)
        rooms_fail(rc, SR_ECLOSED, NULL);
    if (--rc->pending == 0) rooms_finish(rc);
}

/* This node's rooms after `after`, the first `limit` by name. */
static void local_names(rooms_call *rc, const char *after, size_t limit) {
    sr_server *srv = rc->srv;
    size_t total = sr_registry_room_count(srv->reg), n = 0;
    const char **names = calloc(total ? total : 1, sizeof *names);
    if (!names) {
        on_room_names(rc, SR_ENOMEM, "out of memory", NULL, 0, 0);
        return;
    }
    sr_registry_iter it = {0};
    sr_room *r;
    while ((r = sr_registry_next(srv->reg, &it)) && n < total)
        if (r->n_members && strcmp(r->name, after) > 0) names[n++] = r->name;
    qsort(names, n, sizeof *names, by_user);
    on_room_names(rc, 0, NULL, names, n > limit ? limit : n, n > limit);
    free(names);
}

int sr_presence_rooms(sr_server *srv, const sr_presence_query *q, sr_presence_rooms_fn fn,
                      void *ud) {
    if (!srv || !fn) return SR_EINVAL;
    if (q && q->limit > SR_PRESENCE_LIMIT_MAX) return SR_EINVAL;
    size_t cap = srv->cfg.max_room_len + 1;
    char *after = calloc(1, cap);
    if (!after) return SR_ENOMEM;
    if (q && q->cursor && *q->cursor && rooms_cursor_decode(srv, q->cursor, after, cap) < 0) {
        free(after);
        return SR_EINVAL;
    }
    if (srv->shutting_down) {
        free(after);
        return SR_ECLOSED;
    }
    unsigned limit = q && q->limit ? q->limit : SR_PRESENCE_LIMIT_DEFAULT;
    rooms_call *rc = calloc(1, sizeof *rc);
    if (!rc) {
        free(after);
        return SR_ENOMEM;
    }
    rc->srv = srv;
    rc->fn = fn;
    rc->ud = ud;
    int res = 0;
    if (srv->has_adapter && srv->adapter.presence_rooms) {
        res = srv->adapter.presence_rooms(srv->adapter.ctx, after, limit, on_room_names, rc);
        if (res < 0) free(rc);
    } else {
        local_names(rc, after, limit); /* counts now, or from presence_read later */
    }
    free(after);
    return res;
}

/* The answer of GET /rooms?scope=cluster. */
static void rooms_answer(sr_conn *c, const sr_presence_room_page *p) {
    if (p->rc < 0) {
        failed(c, p->rc, p->why);
        return;
    }
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_puts(&b, "{\"rooms\":[");
    for (size_t i = 0; i < p->n_rooms; i++) {
        const sr_presence_room *it = &p->rooms[i];
        sr_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
        sr_buf_json_str(&b, it->room, strlen(it->room));
        sr_buf_printf(&b, ",\"members\":%llu,\"connections\":%llu,\"users\":%llu,\"nodes\":%llu}",
                      (unsigned long long)it->members, (unsigned long long)it->connections,
                      (unsigned long long)it->users, (unsigned long long)it->nodes);
    }
    sr_buf_puts(&b, "],\"next_cursor\":");
    if (p->next_cursor) sr_buf_json_str(&b, p->next_cursor, strlen(p->next_cursor));
    else sr_buf_puts(&b, "null");
    sr_buf_printf(&b, ",\"scope\":\"%s\"}", p->cluster ? "cluster" : "node");
    if (b.oom) sr_routes_error(c, 503, "out of memory", false);
    else sr_routes_json(c, 200, b.p, b.len, NULL);
    sr_buf_free(&b);
}

/* w->key[0]: 'C' while sr_presence_rooms runs (an answer then is given
 * as the synchronous one, and w stays for the caller to free: 'D'). */
static void on_rooms(void *ud, const sr_presence_room_page *p) {
    sr_http_wait *w = ud;
    sr_conn *c = w->conn;
    if (w->key[0] == 'C') {
        c->http->wait = NULL;
        rooms_answer(c, p);
        w->key[0] = 'D';
        return;
    }
    if (c) {
        c->http->wait = NULL;
        rooms_answer(c, p);
        sr_conn_resume(c);
    }
    free(w);
}

static void on_rooms_now(void *ud, const sr_presence_room_page *p) {
    rooms_answer(ud, p);
}

void sr_presence_rooms_http(sr_conn *c) {
    sr_server *srv = c->srv;
    const sr_http_request *req = &c->http->req;
    const char *limit = sr_http_query(req, "limit", 0);
    const char *cursor = sr_http_query(req, "cursor", 0);
    sr_presence_query q = {0};
    char msg[200];
    if (limit) {
        if (!all_digits(limit, strnlen(limit, 5), 4) || strtoul(limit, NULL, 10) < 1 ||
            strtoul(limit, NULL, 10) > SR_PRESENCE_LIMIT_MAX) {
            snprintf(msg, sizeof msg, "limit: give a number of rooms from 1 to %d (default %d)",
                     SR_PRESENCE_LIMIT_MAX, SR_PRESENCE_LIMIT_DEFAULT);
            sr_routes_error(c, 400, msg, false);
            return;
        }
        q.limit = (unsigned)strtoul(limit, NULL, 10);
    }
    if (cursor) {
        size_t cap = srv->cfg.max_room_len + 1;
        char *after = malloc(cap);
        int ok = after && rooms_cursor_decode(srv, cursor, after, cap) == 0;
        free(after);
        if (!ok) {
            sr_routes_error(c, 400, "cursor: give the next_cursor of the previous page", false);
            return;
        }
    }
    q.cursor = cursor;
    if (!(srv->has_adapter && (srv->adapter.presence_rooms || srv->adapter.presence_read))) {
        int rc = sr_presence_rooms(srv, &q, on_rooms_now, c); /* this node is the cluster */
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
    w->key[0] = 'C';
    w->key[1] = '\0';
    c->http->wait = w; /* linked first: on_rooms answers, at once or later */
    int rc = sr_presence_rooms(srv, &q, on_rooms, w);
    if (rc == 0 && w->key[0] == 'C') {
        w->key[0] = '\0'; /* answered later */
        return;
    }
    c->http->wait = NULL;
    if (rc < 0) failed(c, rc, rc == SR_EADAPTER ? "redis unreachable" : NULL);
    free(w);
}
