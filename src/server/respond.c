/* SPDX-License-Identifier: MIT */
/*
 * respond.c: the HTTP responses every endpoint shares: a body with its
 * head (sr_routes_body), JSON (sr_routes_json), the JSON error every
 * refusal sends (sr_routes_error: counted, logged with the request, client
 * text escaped by sr_buf_json_str), the CORS lines (sr_cors_lines) and the
 * CORS preflight, and sr_respond, an embedder's request hook's answer.
 *
 * Every response carries Cache-Control: no-store unless the caller set its
 * own, and the CORS lines of an allowed Origin. Keep-alive follows the
 * request, except that a 5xx or a shutting-down server closes the
 * connection after the answer, and says so.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "http/response.h"
#include "server/internal.h"
#include "server/routes_int.h"
#include "json/json.h"

void sr_buf_json_str(sr_buf *b, const char *s, size_t n) {
    size_t need = sr_json_quote_inert(s, n, NULL, 0);
    if (sr_buf_reserve(b, need) < 0) return;
    b->len += sr_json_quote_inert(s, n, b->p + b->len, need);
    b->p[b->len] = '\0';
}

int sr_cors_allowed(const sr_server *srv, const char *origin) {
    if (!origin || !*origin) return 0;
    int any = 0;
    for (size_t i = 0; i < srv->cfg.n_cors_origins; i++) {
        const char *o = srv->cfg.cors_origins[i];
        if (strcasecmp(o, origin) == 0) return SR_CORS_LISTED;
        if (strcmp(o, "*") == 0) any = 1;
    }
    return any ? SR_CORS_ANY : 0;
}

void sr_cors_lines(const sr_server *srv, const char *origin, sr_buf *b) {
    int how = sr_cors_allowed(srv, origin);
    if (!how) return;
    /* an origin with CR/LF cannot reach here: the HTTP parser refuses it */
    sr_buf_printf(b, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", origin);
    /* cookies (EventSource withCredentials) only for origins named one by
     * one: "*" must never let every site read streams with the user's
     * cookies */
    if (how == SR_CORS_LISTED) sr_buf_puts(b, "Access-Control-Allow-Credentials: true\r\n");
}

/* CORS lines for the current request, appended to b. */
void sr_routes_cors_headers(sr_conn *c, sr_buf *b) {
    const char *origin = c->http ? sr_http_header(&c->http->req, "origin") : NULL;
    sr_cors_lines(c->srv, origin, b);
}

int sr_routes_keep_alive(sr_conn *c) {
    return c->http && c->http->req.state == SR_HTTP_DONE && c->http->req.keep_alive &&
           !c->srv->shutting_down;
}

void sr_routes_body(sr_conn *c, int status, const char *content_type, const char *body, size_t len,
                    const char *extra) {
    sr_buf b;
    sr_buf_init(&b);
    sr_buf extra_b;
    sr_buf_init(&extra_b);
    sr_routes_cors_headers(c, &extra_b);
    if (extra) sr_buf_puts(&extra_b, extra);
    if (!extra || !strstr(extra, "Cache-Control:"))
        sr_buf_puts(&extra_b, "Cache-Control: no-store\r\n");
    int keep = sr_routes_keep_alive(c) && status < 500; /* a 5xx closes: say so */
    int head = c->http && c->http->req.method == HTTP_HEAD;
    sr_http_response_head(&b, status, keep, content_type, (long long)len, extra_b.p);
    if (!head) sr_buf_append(&b, body, len);
    if (!b.oom && !extra_b.oom) sr_conn_enqueue_bytes(c, b.p, b.len);
    sr_buf_free(&b);
    sr_buf_free(&extra_b);
    if (!keep) sr_conn_end(c);
}

void sr_routes_json(sr_conn *c, int status, const char *json, size_t len, const char *extra) {
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_append(&b, json, len);
    sr_buf_append(&b, "\n", 1);
    if (b.oom) sr_conn_close_now(c);
    else sr_routes_body(c, status, "application/json", b.p, b.len, extra);
    sr_buf_free(&b);
}

void sr_routes_error(sr_conn *c, int status, const char *message, bool close_after) {
    sr_server *srv = c->srv;
    srv->stats.rejected_requests++;
    sr_metrics_rejected(srv, status);
    const char *path = c->http && c->http->req.state == SR_HTTP_DONE ? c->http->req.path : "-";
    char client[SR_IP_TEXT_MAX], msg[256];
    sr_client_text(c, client, sizeof(client));
    const char *method = c->http && c->http->req.state == SR_HTTP_DONE
                             ? http_method_str((enum http_method)c->http->req.method)
                             : "-";
    uint64_t now = uv_now(srv->loop);
    uint64_t began = c->http && c->http->req_began_ms ? c->http->req_began_ms : now;
    snprintf(msg, sizeof msg, "request refused: %s", message);
    const sr_log_field fields[] = {
        {"status", NULL, status},
        {"method", method, 0},
        {"path", path, 0},
        {"client", client, 0},
        {"conn", NULL, (long long)c->id},
        {"request", NULL, c->requests},
        {"ms", NULL, (long long)(now - began)},
    };
    sr_log_kv(srv, status >= 500 ? SR_LOG_WARN : SR_LOG_INFO, c->id, msg, fields,
              sizeof fields / sizeof fields[0], "request %llu-%u %s: %d %s (client %s)",
              (unsigned long long)c->id, c->requests, path, status, message, client);
    sr_buf b;
    sr_buf_init(&b);
    sr_buf_puts(&b, "{\"error\":");
    sr_buf_json_str(&b, message, strlen(message));
    sr_buf_puts(&b, ",\"status\":");
    sr_buf_u64(&b, (uint64_t)status);
    sr_buf_puts(&b, "}");
    if (close_after && c->http) c->http->req.keep_alive = 0;
    const char *extra = NULL;
    if (status == 401) extra = "WWW-Authenticate: Bearer\r\n";
    else if (status == 405) extra = "Allow: GET, POST, OPTIONS\r\n";
    if (!b.oom) sr_routes_json(c, status, b.p, b.len, extra);
    else sr_conn_close_now(c);
    sr_buf_free(&b);
    if (close_after) sr_conn_end(c);
}

void sr_routes_preflight(sr_conn *c) {
    sr_buf b;
    sr_buf_init(&b);
    sr_buf extra;
    sr_buf_init(&extra);
    sr_routes_cors_headers(c, &extra);
    sr_buf_puts(&extra,
                "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                "Access-Control-Allow-Headers: Content-Type, Authorization, Last-Event-ID\r\n"
                "Access-Control-Max-Age: 600\r\n");
    int keep = sr_routes_keep_alive(c);
    sr_http_response_head(&b, 204, keep, NULL, -1, extra.p);
    if (!b.oom && !extra.oom) sr_conn_enqueue_bytes(c, b.p, b.len);
    sr_buf_free(&b);
    sr_buf_free(&extra);
    if (!keep) sr_conn_end(c);
}

int sr_respond(sr_request *req, int status, const char *content_type, const char *body, size_t len,
               const char *extra_headers) {
    if (!req || req->responded || status < 100 || status > 599) return SR_EINVAL;
    sr_conn *c = req->conn;
    if (!c || c->closing || c->end_after_flush || c->kind != SR_CONN_HTTP) return SR_ECLOSED;
    if (extra_headers &&
        (strstr(extra_headers, "\r\n\r\n") || (*extra_headers && !strstr(extra_headers, "\r\n"))))
        return SR_EINVAL; /* complete header lines only: no way to end the head early */
    req->responded = 1;
    if (status >= 400) {
        c->srv->stats.rejected_requests++;
        sr_metrics_rejected(c->srv, status);
    }
    sr_routes_body(c, status, content_type ? content_type : "application/json", body ? body : "",
                   body ? len : 0, extra_headers);
    return SR_OK;
}
