/*
 * main.c: the sserooms command. It reads options from flags and SSEROOMS_*
 * environment variables (flags win), starts a server on its own loop
 * through the public API only, and stops gracefully on SIGINT/SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sserooms.h"

typedef enum opt_kind { OPT_STR, OPT_U32, OPT_SIZE, OPT_PORT, OPT_LIST, OPT_FLAG } opt_kind;

typedef struct app_opts {
    sr_config cfg;
    sr_redis_options redis;
    const char *redis_url; /* set only by --redis / SSEROOMS_REDIS_URL */
    const char *origins[64];
    size_t n_origins;
    char *origin_storage[64];
    size_t n_storage;
} app_opts;

typedef struct opt_def {
    const char *name;
    const char *env;
    opt_kind kind;
    const char *arg;
    const char *help;
} opt_def;

enum {
    O_HOST, O_PORT, O_HEARTBEAT, O_MAX_QUEUE, O_MAX_HEADER, O_MAX_BODY, O_REQ_TIMEOUT,
    O_KEEPALIVE, O_MAX_ROOMS, O_MAX_ROOM_LEN, O_MAX_CONNS, O_CORS, O_PUBLISH_KEY, O_REDIS,
    O_PREFIX, O_NODE_ID, O_REDIS_OUTBOX, O_COUNT
};

static const opt_def defs[O_COUNT] = {
    [O_HOST] = {"host", "SSEROOMS_HOST", OPT_STR, "ADDR", "address to listen on (default 127.0.0.1)"},
    [O_PORT] = {"port", "SSEROOMS_PORT", OPT_PORT, "PORT", "port to listen on; 0 picks a free one (default 8080)"},
    [O_HEARTBEAT] = {"heartbeat-ms", "SSEROOMS_HEARTBEAT_MS", OPT_U32, "MS", "heartbeat comment interval; 0 disables (default 30000)"},
    [O_MAX_QUEUE] = {"max-queue-bytes", "SSEROOMS_MAX_QUEUE_BYTES", OPT_SIZE, "N", "bytes queued for one stream before it is dropped as a slow consumer (default 1048576)"},
    [O_MAX_HEADER] = {"max-header-bytes", "SSEROOMS_MAX_HEADER_BYTES", OPT_SIZE, "N", "request line + headers (default 8192)"},
    [O_MAX_BODY] = {"max-body-bytes", "SSEROOMS_MAX_BODY_BYTES", OPT_SIZE, "N", "request body (default 1048576)"},
    [O_REQ_TIMEOUT] = {"request-timeout-ms", "SSEROOMS_REQUEST_TIMEOUT_MS", OPT_U32, "MS", "time to send a whole request (default 10000)"},
    [O_KEEPALIVE] = {"keepalive-timeout-ms", "SSEROOMS_KEEPALIVE_TIMEOUT_MS", OPT_U32, "MS", "idle keep-alive connection lifetime (default 5000)"},
    [O_MAX_ROOMS] = {"max-rooms-per-conn", "SSEROOMS_MAX_ROOMS_PER_CONN", OPT_U32, "N", "rooms one stream may join (default 64)"},
    [O_MAX_ROOM_LEN] = {"max-room-len", "SSEROOMS_MAX_ROOM_LEN", OPT_SIZE, "N", "bytes in a room name (default 128)"},
    [O_MAX_CONNS] = {"max-connections", "SSEROOMS_MAX_CONNECTIONS", OPT_SIZE, "N", "open connections; 0 = no limit (default 0)"},
    [O_CORS] = {"cors-origin", "SSEROOMS_CORS_ORIGIN", OPT_LIST, "ORIGIN", "allowed CORS origin; repeatable or comma-separated; * allows any"},
    [O_PUBLISH_KEY] = {"publish-key", "SSEROOMS_PUBLISH_KEY", OPT_STR, "KEY", "require Authorization: Bearer KEY on POST /publish"},
    [O_REDIS] = {"redis", "SSEROOMS_REDIS_URL", OPT_STR, "URL", "share rooms through Redis: redis://[user:pass@]host:port[/db] or unix:///path"},
    [O_PREFIX] = {"channel-prefix", "SSEROOMS_CHANNEL_PREFIX", OPT_STR, "PREFIX", "Redis channel prefix (default sse:room:)"},
    [O_NODE_ID] = {"node-id", "SSEROOMS_NODE_ID", OPT_STR, "ID", "this node's id in envelopes (default: a random UUID)"},
    [O_REDIS_OUTBOX] = {"redis-outbox", "SSEROOMS_REDIS_OUTBOX", OPT_SIZE, "N", "publishes held while Redis is unreachable (default 0: counted and dropped)"},
};

static void usage(FILE *out) {
    fprintf(out,
            "usage: sserooms [options]\n\n"
            "Server-Sent Events fan-out with rooms. Clients open GET /sse?room=NAME;\n"
            "POST /publish {\"room\":\"NAME\",\"event\":\"message\",\"data\":{...}} delivers to them.\n\n"
            "options (each also as an environment variable; flags win):\n");
    for (int i = 0; i < O_COUNT; i++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s %s", defs[i].name, defs[i].arg);
        fprintf(out, "  %-28s %s\n  %-28s [%s]\n", left, defs[i].help, "", defs[i].env);
    }
    fprintf(out, "  %-28s %s\n  %-28s %s\n", "-h, --help", "show this help", "-V, --version",
            "print the version");
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return -1;
    *out = v;
    return 0;
}

static int add_origins(app_opts *o, const char *list) {
    char *copy = strdup(list);
    if (!copy || o->n_storage == 64) {
        free(copy);
        return -1;
    }
    o->origin_storage[o->n_storage++] = copy;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (!*tok) continue;
        if (o->n_origins == 64) return -1;
        o->origins[o->n_origins++] = tok;
    }
    return 0;
}

static int apply(app_opts *o, int which, const char *v, const char *source) {
    uint64_t n = 0;
    switch (defs[which].kind) {
    case OPT_U32:
        if (parse_u64(v, UINT32_MAX, &n) < 0) goto bad;
        break;
    case OPT_SIZE:
        if (parse_u64(v, SIZE_MAX, &n) < 0) goto bad;
        break;
    case OPT_PORT:
        if (parse_u64(v, 65535, &n) < 0) goto bad;
        break;
    default:
        break;
    }
    switch (which) {
    case O_HOST: o->cfg.host = v; break;
    case O_PORT: o->cfg.port = (int)n; break;
    case O_HEARTBEAT: o->cfg.heartbeat_ms = (uint32_t)n; break;
    case O_MAX_QUEUE: if (!n) goto bad; o->cfg.max_queue_bytes = n; break;
    case O_MAX_HEADER: if (n < 256) goto bad; o->cfg.max_header_bytes = n; break;
    case O_MAX_BODY: if (!n) goto bad; o->cfg.max_body_bytes = n; break;
    case O_REQ_TIMEOUT: if (!n) goto bad; o->cfg.request_timeout_ms = (uint32_t)n; break;
    case O_KEEPALIVE: if (!n) goto bad; o->cfg.keepalive_timeout_ms = (uint32_t)n; break;
    case O_MAX_ROOMS: if (!n) goto bad; o->cfg.max_rooms_per_conn = (unsigned)n; break;
    case O_MAX_ROOM_LEN: if (!n || n > 65536) goto bad; o->cfg.max_room_len = n; break;
    case O_MAX_CONNS: o->cfg.max_connections = n; break;
    case O_CORS: if (add_origins(o, v) < 0) goto bad; break;
    case O_PUBLISH_KEY: o->cfg.publish_key = v; break;
    case O_REDIS: o->redis_url = v; break;
    case O_PREFIX: o->redis.channel_prefix = v; break;
    case O_NODE_ID: if (!*v) goto bad; o->redis.node_id = v; break;
    case O_REDIS_OUTBOX: o->redis.outbox_max = n; break;
    }
    return 0;
bad:
    fprintf(stderr, "sserooms: invalid value for %s%s: '%s'\n", source,
            source[0] == '-' ? defs[which].name : "", v);
    return -1;
}

typedef struct app {
    sr_server *srv;
    uv_signal_t sigint, sigterm;
} app;

static void on_shutdown_done(sr_server *srv, void *ud) {
    (void)srv;
    app *a = ud;
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
    app *a = h->data;
    fprintf(stderr, "sserooms: %s received, shutting down\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
    sr_server_shutdown(a->srv, on_shutdown_done, a);
}

int main(int argc, char **argv) {
    app_opts o;
    memset(&o, 0, sizeof(o));
    sr_config_init(&o.cfg);
    sr_redis_options_init(&o.redis);
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < O_COUNT; i++) {
        const char *v = getenv(defs[i].env);
        if (v && apply(&o, i, v, defs[i].env) < 0) return 2;
    }
    /* environment origins are replaced, not extended, by --cors-origin */
    int cors_from_flags = 0;
    struct option longopts[O_COUNT + 3];
    for (int i = 0; i < O_COUNT; i++)
        longopts[i] = (struct option){defs[i].name, required_argument, NULL, 1000 + i};
    longopts[O_COUNT] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[O_COUNT + 1] = (struct option){"version", no_argument, NULL, 'V'};
    longopts[O_COUNT + 2] = (struct option){NULL, 0, NULL, 0};
    int ch;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout);
            return 0;
        }
        if (ch == 'V') {
            printf("sserooms %s\n", sr_version());
            return 0;
        }
        if (ch == '?' || ch == ':') {
            fprintf(stderr, "sserooms: %s option '%s'\n", ch == ':' ? "missing value for" : "unknown",
                    argv[optind - 1]);
            fprintf(stderr, "try 'sserooms --help'\n");
            return 2;
        }
        int which = ch - 1000;
        if (which == O_CORS && !cors_from_flags) {
            cors_from_flags = 1;
            o.n_origins = 0;
        }
        if (apply(&o, which, optarg, "--") < 0) return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "sserooms: unexpected argument '%s'\ntry 'sserooms --help'\n", argv[optind]);
        return 2;
    }
    o.cfg.cors_origins = o.origins;
    o.cfg.n_cors_origins = o.n_origins;

    app a;
    memset(&a, 0, sizeof(a));
    int rc = sr_server_new(&a.srv, NULL, &o.cfg);
    if (rc < 0) {
        fprintf(stderr, "sserooms: cannot create the server: %s\n", sr_strerror(rc));
        return 1;
    }
    if (o.redis_url) {
        char why[256] = "";
        o.redis.url = o.redis_url;
        o.redis.error_buf = why;
        o.redis.error_buf_len = sizeof(why);
        rc = sr_server_use_redis(a.srv, &o.redis);
        if (rc < 0) {
            fprintf(stderr, "sserooms: --redis %s: %s\n", o.redis.url, why[0] ? why : sr_strerror(rc));
            sr_server_free(a.srv);
            return 2;
        }
    }
    rc = sr_server_listen(a.srv);
    if (rc < 0) {
        fprintf(stderr, "sserooms: cannot listen on %s:%d: %s\n", o.cfg.host, o.cfg.port, sr_strerror(rc));
        sr_server_shutdown(a.srv, NULL, NULL);
        sr_server_run(a.srv);
        sr_server_free(a.srv);
        return 1;
    }
    uv_loop_t *loop = sr_server_loop(a.srv);
    uv_signal_init(loop, &a.sigint);
    uv_signal_init(loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    const char *host = o.cfg.host;
    int v6 = strchr(host, ':') != NULL;
    printf("sserooms %s listening on http://%s%s%s:%d\n", sr_version(), v6 ? "[" : "", host, v6 ? "]" : "",
           sr_server_port(a.srv));
    fflush(stdout);
    sr_server_run(a.srv);
    sr_server_free(a.srv);
    for (size_t i = 0; i < o.n_storage; i++) free(o.origin_storage[i]);
    return 0;
}
