/* SPDX-License-Identifier: MIT */
/*
 * routes.c: which handler answers a request: sr_routes_dispatch, the one
 * entry for every complete HTTP request (HTTP/1.1, or an HTTP/2 stream).
 *
 * In order: a shutting-down server refuses (503); OPTIONS is the CORS
 * preflight (respond.c); the stream path opens a stream (stream.c, behind
 * the JWT gate of auth_token.c); POST /tickets (auth_tickets.c) and
 * POST /publish (publish.c) come next; then the fixed endpoints, rows of
 * one table (routes[]: GET /healthz, /livez, /readyz, /rooms, /stats,
 * /presence (presence.c), /metrics and POST /disconnect (revoke.c)), a
 * row marked admin being gated by sr_auth_admin; then static files
 * (--web-root, static.c), the embedder's request hook
 * (sr_server_on_request), and else 404. The responses themselves are
 * written by respond.c.
 */
#include <string.h>

#include <http_parser.h>

#include "server/internal.h"
#include "server/routes_int.h"

static void reject(sr_conn *c, int status, const char *message) {
    sr_routes_error(c, status, message, false);
}

/* The fixed endpoints besides the stream, /tickets and /publish. Being
 * an admin endpoint is a property of the route: .admin = 1 puts it behind
 * sr_auth_admin (the admin key, or a JWT with "admin": true, when auth or
 * an admin key is configured), so a new endpoint opts in with one flag. */
enum { SR_ROUTE_GET = 1, SR_ROUTE_HEAD = 2, SR_ROUTE_POST = 4 };
enum { SR_ROUTE_INFO = 1, SR_ROUTE_METRICS = 2 }; /* which cfg.enable_* switch serves it */

typedef struct sr_route {
    const char *path;
    unsigned methods; /* SR_ROUTE_* bits */
    unsigned needs;   /* SR_ROUTE_INFO / SR_ROUTE_METRICS */
    int admin;
    void (*handle)(sr_conn *c);
    const char *wrong_method; /* the 405's message */
} sr_route;

/* GET /rooms: this node's members, or (scope=cluster) a page of every
 * room of the cluster with its presence counts (presence.c). */
static void rooms_http(sr_conn *c) {
    const char *scope = sr_http_query(&c->http->req, "scope", 0);
    if (!scope || strcmp(scope, "node") == 0) sr_info_rooms(c);
    else if (strcmp(scope, "cluster") == 0) sr_presence_rooms_http(c);
    else sr_routes_error(c, 400, "scope: give scope=cluster or scope=node", false);
}

static const sr_route routes[] = {
    /* probes: HEAD too (load balancers and k8s use either); never admin */
    {"/healthz", SR_ROUTE_GET | SR_ROUTE_HEAD, SR_ROUTE_INFO, 0, sr_info_healthz,
     "use GET or HEAD"},
    {"/livez", SR_ROUTE_GET | SR_ROUTE_HEAD, SR_ROUTE_INFO, 0, sr_info_livez, "use GET or HEAD"},
    {"/readyz", SR_ROUTE_GET | SR_ROUTE_HEAD, SR_ROUTE_INFO, 0, sr_info_readyz, "use GET or HEAD"},
    /* room names (user:alice) and counters: admin */
    {"/rooms", SR_ROUTE_GET, SR_ROUTE_INFO, 1, rooms_http, "use GET"},
    /* who is in a room, cluster-wide (presence.c) */
    {"/presence", SR_ROUTE_GET, SR_ROUTE_INFO, 1, sr_presence_http, "use GET"},
    {"/stats", SR_ROUTE_GET, SR_ROUTE_INFO, 1, sr_info_stats, "use GET"},
    {"/metrics", SR_ROUTE_GET, SR_ROUTE_METRICS, 1, sr_routes_metrics, "use GET"},
    /* ends streams by sub, room or connection id, on every node (revoke.c) */
    {"/disconnect", SR_ROUTE_POST, 0, 1, sr_revoke_http, "use POST"},
};

static unsigned method_bit(int method) {
    return method == HTTP_GET    ? SR_ROUTE_GET
           : method == HTTP_HEAD ? SR_ROUTE_HEAD
           : method == HTTP_POST ? SR_ROUTE_POST
                                 : 0;
}

static const sr_route *find_route(const sr_server *srv, const char *path) {
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const sr_route *r = &routes[i];
        if (strcmp(path, r->path) != 0) continue;
        if ((r->needs & SR_ROUTE_INFO) && !srv->cfg.enable_info) return NULL;
        if ((r->needs & SR_ROUTE_METRICS) && !srv->cfg.enable_metrics) return NULL;
        return r;
    }
    return NULL;
}

void sr_routes_dispatch(sr_conn *c) {
    sr_server *srv = c->srv;
    const sr_http_request *req = &c->http->req;
    const char *path = req->path;
    int method = req->method;
    c->http->answer_ns = 0; /* set for a publish only, below */
    if (srv->shutting_down) {
        reject(c, 503, "server is shutting down");
        return;
    }
    if (method == HTTP_OPTIONS) {
        sr_routes_preflight(c);
        return;
    }
    if (strcmp(path, srv->cfg.sse_path) == 0) {
        if (method != HTTP_GET) reject(c, 405, "use GET to open a stream");
        else sr_stream_open(c);
        return;
    }
    if (srv->auth && strcmp(path, "/tickets") == 0) {
        if (method != HTTP_POST) reject(c, 405, "use POST to ask for a ticket");
        else sr_auth_tickets(c);
        return;
    }
    if (srv->cfg.enable_publish && strcmp(path, "/publish") == 0) {
        /* its answer is timed from the read that completed it (conn.c) */
        if (!c->h2s) c->http->answer_ns = c->http->read_ns ? c->http->read_ns : uv_hrtime();
        if (method != HTTP_POST) reject(c, 405, "use POST to publish");
        else sr_publish_http(c);
        return;
    }
    const sr_route *r = find_route(srv, path);
    if (r) {
        if (!(r->methods & method_bit(method))) reject(c, 405, r->wrong_method);
        else if (r->admin && sr_auth_admin(c) < 0) return; /* answered 401 / 403 */
        else r->handle(c);
        return;
    }
    if (srv->cfg.web_root && (method == HTTP_GET || method == HTTP_HEAD) && sr_static_serve(c))
        return;
    void *request_ud;
    sr_request_fn request_fn = sr_server_request_hook(srv, &request_ud);
    if (request_fn) {
        sr_request *view = sr_request_view(c);
        if (!view) {
            reject(c, 503, "out of memory");
            return;
        }
        int rc = request_fn(request_ud, view);
        if (rc == 0 && view->responded) return;
        if (rc == 0 && !view->responded) {
            reject(c, 500, "request hook answered nothing");
            return;
        }
    }
    reject(c, 404, "not found");
}
