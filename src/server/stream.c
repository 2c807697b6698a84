/* SPDX-License-Identifier: MIT */
/*
 * stream.c: turning a GET on the SSE path into a stream.
 *
 * The ?room= names are checked first (count, length, characters), then
 * the token or ticket when authorization is on (auth_token.c), then the
 * embedder's accept hook may refuse the stream or pick its rooms, then the
 * response head is queued and the connection becomes a stream: its parser
 * and timer are freed, and from then on it only receives frames.
 * With history on, a Last-Event-ID (header or ?lastEventId=) is kept across
 * that and the stream resumes from it once it is a stream (history_resume.c).
 * Also the public sr_request accessors the hook uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/response.h"
#include "server/history.h"
#include "server/internal.h"

static void refuse(sr_conn *c, int status, const char *message) {
    sr_batch_barrier(c->srv);
    sr_registry_leave_all(c->srv->reg, &c->member);
    sr_routes_error(c, status, message, false);
}

/* The client address (clients.c) as the view's peer text; "" when the
 * connection has no IP peer. */
static void view_peer(sr_conn *c, sr_request *v) {
    _Static_assert(sizeof(v->peer) >= SR_IP_TEXT_MAX, "peer text");
    if (c->http->has_client) sr_ip_format(&c->http->client, v->peer, sizeof(v->peer));
    else v->peer[0] = '\0';
}

sr_request *sr_request_view(sr_conn *c) {
    sr_request *v = c->http->view;
    if (v && v->reqno == c->requests) return v;
    if (v) { /* a view of the previous request on this keep-alive connection */
        free(v->error);
        v->error = NULL;
        v->responded = 0;
        v->reqno = c->requests;
        snprintf(v->id, sizeof(v->id), "%llu-%u", (unsigned long long)c->id, c->requests);
        view_peer(c, v); /* behind a proxy each request may be another client's */
        return v;
    }
    v = calloc(1, sizeof(*v));
    if (!v) return NULL;
    v->reqno = c->requests;
    v->req = &c->http->req;
    v->conn = c;
    snprintf(v->id, sizeof(v->id), "%llu-%u", (unsigned long long)c->id, c->requests);
    view_peer(c, v);
    c->http->view = v;
    return v;
}

static int write_head(sr_conn *c) {
    const char *origin = sr_http_header(&c->http->req, "origin");
    if (!sr_cors_allowed(c->srv, origin) && !c->http->set_cookie) {
        sr_conn_enqueue(c, c->srv->sse_head_frame);
        return 0;
    }
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_puts(&b, "HTTP/1.1 200 OK\r\n"
                    "Content-Type: text/event-stream\r\n"
                    "Cache-Control: no-cache\r\n"
                    "Connection: keep-alive\r\n"
                    "X-Accel-Buffering: no\r\n");
    sr_cors_lines(c->srv, origin, &b);
    if (c->http->set_cookie) sr_buf_puts(&b, c->http->set_cookie); /* auth_tickets.c's session */
    sr_buf_puts(&b, "\r\n");
    if (b.oom) return -1;
    sr_conn_enqueue_bytes(c, b.p, b.len);
    sr_buf_free(&b);
    return 0;
}

void sr_stream_open(sr_conn *c) {
    sr_server *srv = c->srv;
    const sr_http_request *req = &c->http->req;
    size_t n_rooms = 0;
    char msg[256];
    for (const char *room; (room = sr_http_query(req, "room", n_rooms)); n_rooms++) {
        if (n_rooms >= srv->cfg.max_rooms_per_conn) {
            snprintf(msg, sizeof(msg), "too many rooms: at most %u per connection",
                     srv->cfg.max_rooms_per_conn);
            sr_limit_refused(srv, SR_LIMIT_ROOMS_PER_CONN);
            refuse(c, 400, msg);
            return;
        }
        if (sr_room_name_check(room, strlen(room), srv->cfg.max_room_len) < 0) {
            sr_limit_refused(srv, SR_LIMIT_ROOM_NAME);
            sr_buf b;
            sr_buf_init(&b);
            sr_buf_puts(&b, "invalid room name ");
            sr_buf_json_str(&b, room, strlen(room) > 64 ? 64 : strlen(room));
            sr_buf_printf(&b, ": 1 to %zu characters of A-Z a-z 0-9 and -_.:@/=+~!$*,; allowed",
                          srv->cfg.max_room_len);
            refuse(c, 400, b.oom ? "invalid room name" : b.p);
            sr_buf_free(&b);
            return;
        }
    }
    /* answered 401/403, or a ticket's claim waits for Redis */
    if (srv->auth && sr_auth_stream(c, n_rooms) != 0) return;
    sr_stream_open_authorized(c, n_rooms);
}

void sr_stream_open_authorized(sr_conn *c, size_t n_rooms) {
    sr_server *srv = c->srv;
    const sr_http_request *req = &c->http->req;
    int verdict = SR_ACCEPT;
    void *accept_ud;
    sr_accept_fn accept_fn = sr_server_accept_hook(srv, &accept_ud);
    if (accept_fn) {
        sr_request *view = sr_request_view(c);
        if (!view) {
            refuse(c, 503, "out of memory");
            return;
        }
        verdict = accept_fn(accept_ud, c, view);
        if (c->closing || c->end_after_flush) return; /* the hook closed it */
        if (verdict >= 400 && verdict <= 599) {
            refuse(c, verdict, view->error ? view->error : "stream refused");
            return;
        }
        if (verdict != SR_ACCEPT && verdict != SR_ACCEPT_CUSTOM) {
            refuse(c, 500, "accept hook returned an invalid verdict");
            return;
        }
    }
    if (verdict == SR_ACCEPT) {
        if (n_rooms == 0) {
            refuse(c, 400, "no room given: open the stream with ?room=NAME (repeatable)");
            return;
        }
        for (size_t i = 0; i < n_rooms; i++) {
            int rc = sr_join(c, sr_http_query(req, "room", i));
            if (rc < 0) {
                refuse(c, rc == SR_ENOMEM ? 503 : 400, sr_strerror(rc));
                return;
            }
        }
    }
    if (write_head(c) < 0) {
        refuse(c, 503, "out of memory");
        return;
    }
    /* copied: the request is freed when the connection becomes a stream */
    const char *last_id = sr_history_last_id(c);
    size_t last_len = last_id ? strlen(last_id) : 0;
    char *last_copy = last_id ? strndup(last_id, last_len) : NULL;
    char client[SR_IP_TEXT_MAX];
    sr_client_text(c, client, sizeof(client)); /* the request goes with the stream's start */
    sr_conn_become_stream(c);
    sr_log(srv, SR_LOG_DEBUG, c->id, "request %llu-%u: stream opened, %u rooms (client %s)",
           (unsigned long long)c->id, c->requests, c->member.n_rooms, client);
    if (last_id) {
        if (last_copy) sr_history_resume(c, last_copy, last_len);
        else sr_conn_end(c); /* out of memory: no silent gap, the client reconnects */
        free(last_copy);
    }
}

/* --- sr_request ------------------------------------------------------- */

const char *sr_request_method(const sr_request *r) {
    return http_method_str((enum http_method)r->req->method);
}

const char *sr_request_path(const sr_request *r) {
    return r->req->path;
}

const char *sr_request_query(const sr_request *r, const char *name, size_t n) {
    return sr_http_query(r->req, name, n);
}

const char *sr_request_header(const sr_request *r, const char *name) {
    return sr_http_header(r->req, name);
}

const char *sr_request_peer(const sr_request *r) {
    return r->peer;
}

const char *sr_request_body(const sr_request *r, size_t *len) {
    if (len) *len = r->req->body_len;
    return r->req->body_len ? r->req->body : NULL;
}

const char *sr_request_id(const sr_request *r) {
    return r->id;
}

void sr_request_set_error(sr_request *r, const char *message) {
    free(r->error);
    r->error = message ? strdup(message) : NULL;
}
