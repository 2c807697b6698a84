/* SPDX-License-Identifier: MIT */
/*
 * clients.c: where a connection's client address comes from, so that the
 * per-address limit (limits.c), the logs, sr_request_peer and /stats see
 * the client and not a proxy in front of it.
 *
 * At accept the TCP peer is looked at (and nothing else is trusted by
 * default, so this is the client):
 *  - with proxy_protocol, a peer allowed to send a PROXY header (any peer
 *    when no trusted_proxies are set, else only trusted ones) must send one
 *    first (conn_read.c reads it with the pure parser of http/proxy_protocol.c);
 *    its source becomes the connection's peer, and a missing or malformed
 *    header closes the connection, counted by reason;
 *  - a peer in trusted_proxies is a proxy: each request on the connection
 *    names its client in X-Forwarded-For / Forwarded (http/forwarded.c),
 *    read when the request is complete; a keep-alive connection from a proxy
 *    carries many clients' requests, so it is counted against the current
 *    request's client, and moves when the next request names another;
 *  - any other peer is the client, counted at once.
 * An HTTP/2 stream counts as one more connection of its client (as the
 * HTTP/1.1 connection it stands for would), on top of its parent
 * connection: a connection with n open streams counts 1 + n.
 * What the pure functions get is (peer address, header lines or PROXY
 * bytes), never a socket, so other transports can feed them the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "http/proxy_protocol.h"
#include "server/internal.h"

static const char *const proxy_error_names[SR_PROXY_ERR_COUNT] = {
    [SR_PROXY_ERR_MALFORMED] = "malformed",
    [SR_PROXY_ERR_TRUNCATED] = "truncated",
    [SR_PROXY_ERR_TIMEOUT] = "timeout",
};

int sr_trusted_parse(const sr_config *cfg, sr_cidr **out, size_t *n, char *err, size_t errcap) {
    *out = NULL;
    *n = 0;
    if (!cfg->n_trusted_proxies) return SR_OK;
    if (!cfg->trusted_proxies) {
        if (err && errcap)
            snprintf(err, errcap, "n_trusted_proxies is set but trusted_proxies is NULL");
        return SR_EINVAL;
    }
    sr_cidr *r = calloc(cfg->n_trusted_proxies, sizeof(*r));
    if (!r) return SR_ENOMEM;
    for (size_t i = 0; i < cfg->n_trusted_proxies; i++) {
        const char *text = cfg->trusted_proxies[i] ? cfg->trusted_proxies[i] : "";
        int rc = sr_cidr_parse(text, &r[i]);
        if (rc < 0) {
            if (err && errcap)
                snprintf(err, errcap,
                         rc == -2 ? "trusted-proxy '%.100s': bits are set past the prefix length "
                                    "(write the network's first address, e.g. 10.0.0.0/8)"
                                  : "trusted-proxy '%.100s': expected an IPv4 or IPv6 address or "
                                    "CIDR range such as 10.0.0.0/8, 127.0.0.1 or ::1/128",
                         text);
            free(r);
            return SR_EINVAL;
        }
    }
    *out = r;
    *n = cfg->n_trusted_proxies;
    return SR_OK;
}

/* The server's state behind proxies (srv->clients): the trusted ranges
 * and the counters. */
typedef struct sr_clients {
    sr_cidr *trusted; /* cfg.trusted_proxies, parsed */
    size_t n_trusted;
    uint64_t proxy_headers; /* PROXY headers accepted */
    uint64_t proxy_errors[SR_PROXY_ERR_COUNT];
    uint64_t forwarded; /* requests whose client a forwarding header named */
} sr_clients;

int sr_clients_new(sr_server *srv, const sr_config *in) {
    srv->clients = calloc(1, sizeof(*srv->clients));
    if (!srv->clients) return SR_ENOMEM;
    int rc = sr_trusted_parse(in, &srv->clients->trusted, &srv->clients->n_trusted, NULL, 0);
    /* the server keeps the parsed ranges, no pointer to the caller's strings */
    srv->cfg.trusted_proxies = NULL;
    srv->cfg.n_trusted_proxies = srv->clients->n_trusted;
    srv->cfg.proxy_protocol = in->proxy_protocol ? 1 : 0;
    return rc;
}

void sr_clients_free(sr_server *srv) {
    if (!srv->clients) return;
    free(srv->clients->trusted);
    free(srv->clients);
    srv->clients = NULL;
}

static bool trusted(const sr_server *srv, const sr_ip *ip) {
    return sr_cidr_match(srv->clients->trusted, srv->clients->n_trusted, ip);
}

/* The TCP peer of c; 0, or -1 when it has none that is an IP address. */
static int tcp_peer(sr_conn *c, sr_ip *out) {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(c->tcp, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET6) {
        memcpy(out->b, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        return 0;
    }
    if (ss.ss_family == AF_INET) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(out->b, mapped, 12);
        memcpy(out->b + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        return 0;
    }
    return -1;
}

/* Makes ip the client of c and counts it; 0, or -1 when refused (over
 * max_connections_per_addr: 429; out of memory: 503; answered, closing). */
static int count_client(sr_conn *c, const sr_ip *ip) {
    sr_server *srv = c->srv;
    c->http->client = *ip;
    c->http->has_client = 1;
    int64_t n = sr_addr_acquire(srv, c, ip);
    if (n < 0) {
        sr_routes_error(c, 503, "out of memory", true);
        return -1;
    }
    if (srv->cfg.max_connections_per_addr && (uint64_t)n > srv->cfg.max_connections_per_addr) {
        sr_limit_refused(srv, SR_LIMIT_CONNECTIONS_PER_ADDR);
        if (c->h2s) sr_h2c_count_refused(srv); /* 429 on the stream; the connection goes on */
        sr_routes_error(c, 429, "too many connections from this address", true);
        return -1;
    }
    return 0;
}

/* The connection's peer is known (TCP, or a PROXY header's source): a
 * trusted proxy's requests will name their clients; anyone else is one. */
static int peer_known(sr_conn *c, const sr_ip *peer) {
    c->http->peer = *peer;
    if (trusted(c->srv, peer)) {
        c->http->forwarded = 1;
        return 0;
    }
    return count_client(c, peer);
}

void sr_client_accept(sr_conn *c) {
    sr_server *srv = c->srv;
    if (sr_conn_start(c) != SR_OK) return; /* closed */
    sr_ip peer;
    if (tcp_peer(c, &peer) != 0) return; /* no IP peer: not counted */
    if (srv->cfg.proxy_protocol && (!srv->clients->n_trusted || trusted(srv, &peer))) {
        c->http->peer = peer;
        c->http->await_proxy = 1;
        return;
    }
    peer_known(c, &peer);
}

int sr_client_proxy_done(sr_conn *c, const sr_proxy_header *h) {
    sr_server *srv = c->srv;
    srv->clients->proxy_headers++;
    c->http->await_proxy = 0;
    /* LOCAL (a balancer's health check) and non-TCP sources: the balancer
     * itself is the peer */
    sr_ip peer = h->has_addr ? h->src : c->http->peer;
    return peer_known(c, &peer);
}

void sr_client_proxy_failed(sr_conn *c, sr_proxy_error reason, const char *why) {
    sr_server *srv = c->srv;
    if ((unsigned)reason < SR_PROXY_ERR_COUNT) srv->clients->proxy_errors[reason]++;
    char peer[SR_IP_TEXT_MAX];
    sr_ip_format(&c->http->peer, peer, sizeof(peer));
    sr_log(srv, SR_LOG_WARN, c->id, "connection %llu from %s: PROXY header %s%s%s, closed",
           (unsigned long long)c->id, peer, proxy_error_names[reason], why ? ": " : "",
           why ? why : "");
    c->http->await_proxy = 0;
    sr_conn_close_now(c);
}

int sr_client_request(sr_conn *c) {
    sr_conn_http *hs = c->http;
    if (!hs->forwarded) return 0; /* the client is the connection's */
    sr_server *srv = c->srv;
    const sr_http_request *req = &hs->req;
    sr_ip client;
    if (sr_forwarded_client(srv->clients->trusted, srv->clients->n_trusted, &hs->peer, req->headers,
                            req->n_headers, &client))
        srv->clients->forwarded++;
    if (hs->has_client && c->addr && sr_ip_equal(&client, &hs->client)) return 0; /* counted */
    sr_addr_release(srv, c);
    return count_client(c, &client);
}

int sr_client_stream(sr_conn *child, const sr_conn *parent) {
    const sr_conn_http *ph = parent->http;
    sr_conn_http *ch = child->http;
    if (!ph || !ch) return 0;
    ch->peer = ph->peer;
    ch->forwarded = ph->forwarded;
    if (ph->forwarded || !ph->has_client) return 0; /* named by its request, or no IP peer */
    return count_client(child, &ph->client);
}

const char *sr_client_text(const sr_conn *c, char *buf, size_t cap) {
    if (c->http && c->http->has_client) return sr_ip_format(&c->http->client, buf, cap);
    snprintf(buf, cap, "-");
    return buf;
}

/* --- reporting ---------------------------------------------------------- */

#define TOP_CLIENTS 10

/* The addresses with the most open connections, most first. */
static size_t top_clients(sr_server *srv, const sr_addr_count **top) {
    size_t n = 0;
    const sr_addr_table *t = sr_addr_table_of(srv);
    size_t pos = 0;
    for (const sr_addr_count *e; (e = sr_table_next(&t->entries, &pos));) {
        if (n == TOP_CLIENTS && e->count <= top[n - 1]->count) continue;
        size_t k = n < TOP_CLIENTS ? n++ : n - 1;
        while (k > 0 && top[k - 1]->count < e->count) {
            top[k] = top[k - 1];
            k--;
        }
        top[k] = e;
    }
    return n;
}

void sr_clients_json(sr_server *srv, sr_buf *b) {
    const sr_clients *cl = srv->clients;
    sr_buf_printf(
        b,
        ",\"proxy\":{\"trusted_proxies\":%zu,\"proxy_protocol\":%s,\"proxy_headers\":%llu,"
        "\"proxy_header_errors\":{",
        cl->n_trusted, srv->cfg.proxy_protocol ? "true" : "false",
        (unsigned long long)cl->proxy_headers);
    for (int i = 0; i < SR_PROXY_ERR_COUNT; i++)
        sr_buf_printf(b, "%s\"%s\":%llu", i ? "," : "", proxy_error_names[i],
                      (unsigned long long)cl->proxy_errors[i]);
    sr_buf_printf(b, "},\"forwarded_requests\":%llu},\"top_clients\":[",
                  (unsigned long long)cl->forwarded);
    const sr_addr_count *top[TOP_CLIENTS];
    size_t n = top_clients(srv, top);
    for (size_t i = 0; i < n; i++) {
        char text[SR_IP_TEXT_MAX];
        sr_ip ip;
        memcpy(ip.b, top[i]->addr, sizeof(ip.b));
        /* an IPv6 client is counted per prefix (sr_addr_group): say which */
        unsigned plen = srv->cfg.ipv6_prefix_len ? srv->cfg.ipv6_prefix_len
                                                 : SR_IPV6_PREFIX_DEFAULT;
        int grouped = !sr_ip_is_v4(&ip) && plen < 128;
        sr_buf_printf(b, "%s{\"address\":\"%s", i ? "," : "",
                      sr_ip_format(&ip, text, sizeof(text)));
        if (grouped) sr_buf_printf(b, "/%u", plen);
        sr_buf_printf(b, "\",\"connections\":%u}", (unsigned)top[i]->count);
    }
    sr_buf_puts(b, "]");
}

void sr_clients_metrics(sr_server *srv, sr_buf *b) {
    const sr_clients *cl = srv->clients;
    sr_buf_printf(b,
                  "# HELP sserooms_proxy_headers_total PROXY protocol headers accepted\n"
                  "# TYPE sserooms_proxy_headers_total counter\n"
                  "sserooms_proxy_headers_total %llu\n"
                  "# HELP sserooms_proxy_header_errors_total Connections closed for their PROXY "
                  "protocol header, by reason\n"
                  "# TYPE sserooms_proxy_header_errors_total counter\n",
                  (unsigned long long)cl->proxy_headers);
    for (int i = 0; i < SR_PROXY_ERR_COUNT; i++)
        sr_buf_printf(b, "sserooms_proxy_header_errors_total{reason=\"%s\"} %llu\n",
                      proxy_error_names[i], (unsigned long long)cl->proxy_errors[i]);
    sr_buf_printf(b,
                  "# HELP sserooms_forwarded_requests_total Requests from trusted proxies whose "
                  "client address X-Forwarded-For or Forwarded gave\n"
                  "# TYPE sserooms_forwarded_requests_total counter\n"
                  "sserooms_forwarded_requests_total %llu\n",
                  (unsigned long long)cl->forwarded);
}
