/* SPDX-License-Identifier: MIT */
/*
 * limits.c: the limits that keep one client from taking the server: the
 * count of open connections per client address, the size of one message's
 * data, the budget of bytes all HTTP connections together may pin, and
 * the refusal counters of every limit, which /stats ("limits" and
 * "refused") and /metrics report next to the configured values.
 *
 * Connections per address: a hash table (common/table.h) from the client address
 * (16 bytes: IPv6, or IPv4 as its IPv4-mapped IPv6 form, so that a dual-
 * stack listener counts one client once; clients.c says which address is
 * the client's: the TCP peer, a PROXY header's source, or what a trusted
 * proxy forwarded) to the count of its open connections. Each connection keeps a pointer to its
 * entry, so the close path needs no lookup and no getpeername (which fails once the peer has
 * reset). An entry is freed when its count drops to 0, so the table holds
 * only addresses with open connections. It is keyed by SipHash with a
 * random key of its own, so clients cannot pick addresses that all
 * collide. An IPv6 address
 * counts as its /ipv6_prefix_len prefix (default /64: one host usually
 * holds a whole /64), an IPv4 address on its own (sr_addr_group, a pure
 * function of the address, so it applies the same to an address that a
 * trusted proxy reports).
 *
 * HTTP budget (issue #18, finding 6): every HTTP (non-stream) connection
 * pins bytes: answers queued for it, pipelined requests held unparsed and
 * the parser's buffers. Each connection's share is kept in c->http->pinned and
 * their sum in srv->limits->http_pinned, brought up to date by sr_http_budget_update
 * wherever conn.c, conn_read.c or sendq.c changes one of them. Past max_http_buffer_bytes a
 * connection with answers still queued reads no further request until
 * they are written (conn_read.c), so clients that pipeline and never read stop
 * at the budget together, not at max_queue_bytes each; a connection with
 * nothing queued still gets its next request read, so other clients are
 * served meanwhile.
 */
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/hash.h"
#include "server/internal.h"

static const char *const limit_names[SR_LIMIT_COUNT] = {
    [SR_LIMIT_CONNECTIONS] = "connections",
    [SR_LIMIT_CONNECTIONS_PER_ADDR] = "connections_per_addr",
    [SR_LIMIT_ROOMS_PER_CONN] = "rooms_per_conn",
    [SR_LIMIT_ROOM_NAME] = "room_name",
    [SR_LIMIT_HEADER_BYTES] = "header_bytes",
    [SR_LIMIT_REQUEST_TIME] = "request_time",
    [SR_LIMIT_BODY_BYTES] = "body_bytes",
    [SR_LIMIT_MESSAGE_BYTES] = "message_bytes",
    [SR_LIMIT_HTTP_BUFFER] = "http_buffer",
    [SR_LIMIT_PUBLISH_BYTES] = "publish_bytes",
};

/* The server's limits state (srv->limits). */
struct sr_limits {
    sr_addr_table addrs;              /* open connections per client address */
    uint64_t refused[SR_LIMIT_COUNT]; /* refusals, by limit */
    size_t http_pinned;               /* bytes all HTTP connections pin */
    size_t http_pinned_peak;
};

int sr_limits_new(sr_server *srv) {
    srv->limits = calloc(1, sizeof(*srv->limits));
    return srv->limits ? SR_OK : SR_ENOMEM;
}

const sr_addr_table *sr_addr_table_of(const sr_server *srv) {
    return &srv->limits->addrs;
}

void sr_limit_refused(sr_server *srv, sr_limit_id which) {
    if ((unsigned)which < SR_LIMIT_COUNT) srv->limits->refused[which]++;
}

int sr_limit_message(sr_server *srv, size_t data_len) {
    if (srv->cfg.max_message_bytes && data_len > srv->cfg.max_message_bytes) {
        sr_limit_refused(srv, SR_LIMIT_MESSAGE_BYTES);
        return SR_ETOOBIG;
    }
    return SR_OK;
}

size_t sr_publish_cost(const sr_server *srv, size_t n_rooms, const sr_msg_parts *m, size_t meta_len,
                       int local) {
    if (local || !srv->has_adapter) return 0;
    size_t one = m->data_len + meta_len + m->id_len + m->event_len;
    return one && n_rooms > SIZE_MAX / one ? SIZE_MAX : n_rooms * one;
}

int sr_limit_publish(sr_server *srv, size_t cost) {
    if (srv->cfg.max_publish_bytes && cost > srv->cfg.max_publish_bytes) {
        sr_limit_refused(srv, SR_LIMIT_PUBLISH_BYTES);
        return SR_ETOOBIG;
    }
    return SR_OK;
}

unsigned sr_limit_data_depth(const sr_server *srv) {
    unsigned read = srv->cfg.max_json_depth < SR_WIRE_JSON_DEPTH ? srv->cfg.max_json_depth
                                                                 : SR_WIRE_JSON_DEPTH;
    return read > 2 ? read - 2 : 1;
}

/* --- the HTTP budget ----------------------------------------------------- */

/* What c pins now: nothing once it is a stream or closing. */
static size_t pinned_by(const sr_conn *c) {
    const sr_conn_http *hs = c->http;
    if (!hs || c->closing || c->kind != SR_CONN_HTTP) return 0;
    return sr_conn_queued_bytes(c) + hs->held.len + hs->req.head_cap + hs->req.body_cap;
}

void sr_http_budget_update(sr_conn *c) {
    sr_server *srv = c->srv;
    sr_conn_http *hs = c->http;
    if (!hs) return; /* its share went with its HTTP state (conn.c) */
    size_t now = pinned_by(c);
    srv->limits->http_pinned = srv->limits->http_pinned - hs->pinned + now;
    hs->pinned = now;
    if (srv->limits->http_pinned > srv->limits->http_pinned_peak)
        srv->limits->http_pinned_peak = srv->limits->http_pinned;
}

int sr_http_budget_over(const sr_server *srv) {
    return srv->cfg.max_http_buffer_bytes &&
           srv->limits->http_pinned > srv->cfg.max_http_buffer_bytes;
}

/* --- connections per address ------------------------------------------- */

static bool addr_is(const void *item, const void *key) {
    const sr_addr_count *e = item;
    return memcmp(e->addr, key, sizeof(e->addr)) == 0;
}

int64_t sr_addr_acquire(sr_server *srv, sr_conn *c, const sr_ip *addr) {
    if (c->addr) return c->addr->count;
    uint8_t key[16]; /* IPv6 counted per prefix (sr_addr_group), IPv4 whole */
    sr_addr_group(addr->b, srv->cfg.ipv6_prefix_len, key);
    sr_addr_table *t = &srv->limits->addrs;
    if (!t->entries.cap && sr_random_bytes(t->key, sizeof(t->key)) != 0) {
        /* no random source: a fixed key still spreads ordinary addresses */
        memset(t->key, 0x5a, sizeof(t->key));
    }
    uint64_t hash = sr_siphash13(key, sizeof(addr->b), t->key);
    sr_addr_count *e = sr_table_find(&t->entries, hash, addr_is, key);
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e) return -1;
        e->hash = hash;
        memcpy(e->addr, key, sizeof(addr->b));
        if (sr_table_insert(&t->entries, hash, e) != 0) {
            free(e);
            return -1;
        }
    }
    e->count++;
    c->addr = e;
    return e->count;
}

void sr_addr_release(sr_server *srv, sr_conn *c) {
    sr_addr_count *e = c->addr;
    if (!e) return;
    c->addr = NULL;
    if (--e->count > 0) return;
    sr_table_remove_item(&srv->limits->addrs.entries, e->hash, e);
    free(e);
}

void sr_limits_free(sr_server *srv) {
    if (!srv->limits) return;
    sr_table *t = &srv->limits->addrs.entries;
    size_t pos = 0;
    for (sr_addr_count *e; (e = sr_table_next(t, &pos));) free(e);
    sr_table_free(t);
    free(srv->limits);
    srv->limits = NULL;
}

/* --- reporting ---------------------------------------------------------- */

void sr_limits_json(sr_server *srv, sr_buf *b) {
    const sr_config *cfg = &srv->cfg;
    sr_buf_printf(b,
                  ",\"limits\":{\"max_connections\":%zu,\"max_connections_per_addr\":%zu,"
                  "\"max_rooms_per_conn\":%u,\"max_room_len\":%zu,\"max_header_bytes\":%zu,"
                  "\"request_timeout_ms\":%u,\"max_body_bytes\":%zu,\"max_message_bytes\":%zu,"
                  "\"client_addresses\":%zu,\"ipv6_prefix_len\":%u,\"max_http_buffer_bytes\":%zu,"
                  "\"http_buffer_bytes\":%zu,\"http_buffer_peak_bytes\":%zu}",
                  cfg->max_connections, cfg->max_connections_per_addr, cfg->max_rooms_per_conn,
                  cfg->max_room_len, cfg->max_header_bytes, (unsigned)cfg->request_timeout_ms,
                  cfg->max_body_bytes, cfg->max_message_bytes, srv->limits->addrs.entries.len,
                  cfg->ipv6_prefix_len ? cfg->ipv6_prefix_len : SR_IPV6_PREFIX_DEFAULT,
                  cfg->max_http_buffer_bytes, srv->limits->http_pinned,
                  srv->limits->http_pinned_peak);
    sr_buf_puts(b, ",\"refused\":{");
    for (int i = 0; i < SR_LIMIT_COUNT; i++) {
        sr_buf_printf(b, "%s\"%s\":%llu", i ? "," : "", limit_names[i],
                      (unsigned long long)srv->limits->refused[i]);
    }
    sr_buf_puts(b, "}");
}

void sr_limits_metrics(sr_server *srv, sr_buf *b) {
    const sr_config *cfg = &srv->cfg;
    sr_buf_puts(b, "# HELP sserooms_limit_refusals_total Requests and connections refused, by the "
                   "limit they went over\n# TYPE sserooms_limit_refusals_total counter\n");
    for (int i = 0; i < SR_LIMIT_COUNT; i++) {
        sr_buf_printf(b, "sserooms_limit_refusals_total{limit=\"%s\"} %llu\n", limit_names[i],
                      (unsigned long long)srv->limits->refused[i]);
    }
    /* one unit per family (Prometheus): counts, bytes, seconds, bits */
    const struct {
        const char *family, *name;
        unsigned long long value;
    } values[] = {
        {"sserooms_limit", "max_connections", cfg->max_connections},
        {"sserooms_limit", "max_connections_per_addr", cfg->max_connections_per_addr},
        {"sserooms_limit", "max_rooms_per_conn", cfg->max_rooms_per_conn},
        {"sserooms_limit_bytes", "max_room_len", cfg->max_room_len},
        {"sserooms_limit_bytes", "max_header_bytes", cfg->max_header_bytes},
        {"sserooms_limit_bytes", "max_body_bytes", cfg->max_body_bytes},
        {"sserooms_limit_bytes", "max_message_bytes", cfg->max_message_bytes},
        {"sserooms_limit_bytes", "max_http_buffer_bytes", cfg->max_http_buffer_bytes},
        {"sserooms_limit_bytes", "max_publish_bytes", cfg->max_publish_bytes},
        {"sserooms_limit_bits", "ipv6_prefix_len",
         cfg->ipv6_prefix_len ? cfg->ipv6_prefix_len : SR_IPV6_PREFIX_DEFAULT},
    };
    static const struct {
        const char *family, *help;
    } families[] = {
        {"sserooms_limit", "The configured count limits (0: unlimited)"},
        {"sserooms_limit_bytes", "The configured size limits in bytes (0: unlimited)"},
        {"sserooms_limit_bits",
         "The configured IPv6 prefix length that groups client addresses, in bits"},
    };
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        sr_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", families[f].family, families[f].help,
                      families[f].family);
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
            if (strcmp(values[i].family, families[f].family) == 0)
                sr_buf_printf(b, "%s{name=\"%s\"} %llu\n", values[i].family, values[i].name,
                              values[i].value);
    }
    sr_buf_printf(b,
                  "# HELP sserooms_limit_seconds The configured time limits in seconds (0: none)\n"
                  "# TYPE sserooms_limit_seconds gauge\n"
                  "sserooms_limit_seconds{name=\"request_timeout\"} %.3f\n",
                  (double)cfg->request_timeout_ms / 1000.0);
    sr_buf_printf(b,
                  "# HELP sserooms_client_addresses Client addresses with open connections\n"
                  "# TYPE sserooms_client_addresses gauge\nsserooms_client_addresses %zu\n",
                  srv->limits->addrs.entries.len);
    sr_buf_printf(b,
                  "# HELP sserooms_http_buffer_bytes Bytes pinned by HTTP connections: "
                  "queued answers, held requests, parser buffers\n"
                  "# TYPE sserooms_http_buffer_bytes gauge\nsserooms_http_buffer_bytes %zu\n",
                  srv->limits->http_pinned);
}
