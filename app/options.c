/* SPDX-License-Identifier: MIT */
/*
 * options.c: the settings table of the sserooms command and the checks and
 * bookkeeping behind it (see options.h): defaults, setting a value from a
 * source (file, environment, flag) with its checks, the unknown SSEROOMS_*
 * variables, and showing values back. Values are parsed once, when set,
 * into their typed form; the text shown by --check-config is printed back
 * from that typed form, so what is shown is what the server will use.
 * Defaults come from the library's own sr_config_init and
 * sr_redis_options_init, never restated here (one deliberate exception:
 * threads, see app_settings_init). Turning the settings into the library's
 * configuration is server_config.c's.
 */
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

static const char *const log_formats[] = {"text", "json", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const off_on[] = {"off", "on", NULL};
static const char *const tls_versions[] = {"1.2", "1.3", NULL};

#define NUM(lo, hi) .kind = APP_KIND_NUM, .min = (lo), .max = (hi)

const app_opt_def app_opt_defs[APP_OPT_COUNT] = {
    [APP_OPT_HOST] = {"host", "SSEROOMS_HOST", .kind = APP_KIND_HOST, .arg = "ADDR",
                      .help = "address to listen on (IPv4 or IPv6 literal; 0.0.0.0 or :: for all)"},
    [APP_OPT_PORT] = {"port", "SSEROOMS_PORT", NUM(0, 65535), .arg = "PORT",
                      .help = "port to listen on; 0 picks a free one"},
    [APP_OPT_HEARTBEAT] = {"heartbeat-ms", "SSEROOMS_HEARTBEAT_MS", NUM(0, UINT32_MAX), .arg = "MS",
                           .help = "heartbeat comment interval in ms; 0 disables"},
    [APP_OPT_MAX_QUEUE] = {"max-queue-bytes", "SSEROOMS_MAX_QUEUE_BYTES", NUM(1, SIZE_MAX),
                           .arg = "N",
                           .help = "bytes queued for one stream before it is dropped as a slow "
                                   "consumer; answers queued for a pipelining client before "
                                   "its next requests wait"},
    [APP_OPT_MAX_HTTP_BUFFER] = {"max-http-buffer-bytes", "SSEROOMS_MAX_HTTP_BUFFER_BYTES",
                                 NUM(0, SIZE_MAX), .arg = "N",
                                 .help = "answers queued and request bytes held for all HTTP "
                                         "(non-stream) connections together; past it they read "
                                         "no further request until their answers are out; 0 = "
                                         "no limit"},
    [APP_OPT_MAX_HEADER] = {"max-header-bytes", "SSEROOMS_MAX_HEADER_BYTES", NUM(256, SIZE_MAX),
                            .arg = "N", .help = "bytes of request line + headers"},
    [APP_OPT_MAX_BODY] = {"max-body-bytes", "SSEROOMS_MAX_BODY_BYTES", NUM(1, SIZE_MAX), .arg = "N",
                          .help = "bytes of a request body"},
    [APP_OPT_REQ_TIMEOUT] = {"request-timeout-ms", "SSEROOMS_REQUEST_TIMEOUT_MS",
                             NUM(1, UINT32_MAX), .arg = "MS",
                             .help = "time to send a whole request, in ms"},
    [APP_OPT_KEEPALIVE] = {"keepalive-timeout-ms", "SSEROOMS_KEEPALIVE_TIMEOUT_MS",
                           NUM(1, UINT32_MAX), .arg = "MS",
                           .help = "idle keep-alive connection lifetime, in ms"},
    [APP_OPT_MAX_ROOMS] = {"max-rooms-per-conn", "SSEROOMS_MAX_ROOMS_PER_CONN", NUM(1, UINT_MAX),
                           .arg = "N", .help = "rooms one stream may join"},
    [APP_OPT_MAX_ROOM_LEN] = {"max-room-len", "SSEROOMS_MAX_ROOM_LEN", NUM(1, 65536), .arg = "N",
                              .help = "bytes in a room name"},
    [APP_OPT_MAX_CONNS] = {"max-connections", "SSEROOMS_MAX_CONNECTIONS", NUM(0, SIZE_MAX),
                           .arg = "N", .help = "open connections (past it: 503); 0 = no limit"},
    [APP_OPT_MAX_CONNS_PER_ADDR] = {"max-connections-per-addr", "SSEROOMS_MAX_CONNECTIONS_PER_ADDR",
                                    NUM(0, SIZE_MAX), .arg = "N",
                                    .help = "open connections from one client address (past it: "
                                            "429); 0 = no limit"},
    [APP_OPT_IPV6_PREFIX_LEN] = {"ipv6-prefix-len", "SSEROOMS_IPV6_PREFIX_LEN", NUM(1, 128),
                                 .arg = "N",
                                 .help = "IPv6 clients count as one address per /N prefix for "
                                         "max-connections-per-addr; 128 = each address alone"},
    [APP_OPT_MAX_MESSAGE] = {"max-message-bytes", "SSEROOMS_MAX_MESSAGE_BYTES", NUM(0, SIZE_MAX),
                             .arg = "N",
                             .help = "bytes of one message's data JSON (past it: 413); 0 = no "
                                     "limit"},
    [APP_OPT_MAX_PUBLISH] = {"max-publish-bytes", "SSEROOMS_MAX_PUBLISH_BYTES", NUM(0, SIZE_MAX),
                             .arg = "N",
                             .help = "rooms x message bytes of one publish sent to other nodes "
                                     "(past it: 413); 0 = no limit"},
    [APP_OPT_THREADS] = {"threads", "SSEROOMS_THREADS", NUM(0, 64), .arg = "N",
                         .help = "threads: the main loop plus N-1 that write SSE streams; 1 = all "
                                 "on one loop, 0 = one per core"},
    [APP_OPT_SWEEP_SLICE_US] =
        {"sweep-slice-us", "SSEROOMS_SWEEP_SLICE_US", NUM(0, 4294967295u), .arg = "N",
         .help = "microseconds a room's fan-out writes per loop turn, requests "
                 "(a publish's answer) being read and answered between; 0 = no "
                 "time bound"},
    [APP_OPT_SWEEP_SLICE] = {"sweep-slice", "SSEROOMS_SWEEP_SLICE", NUM(0, 4294967295u), .arg = "N",
                             .help =
                                 "streams a room's fan-out writes per loop turn at most; 0 = no "
                                 "count bound (with sweep-slice-us 0 too: the whole room at once)"},
    [APP_OPT_TRUSTED_PROXY] = {"trusted-proxy", "SSEROOMS_TRUSTED_PROXY", .kind = APP_KIND_LIST,
                               .flags = APP_OPTF_EMPTY_UNSETS, .arg = "CIDR",
                               .unset_text = "no proxy trusted: the TCP peer is the client",
                               .help =
                                   "a proxy in this range (10.0.0.0/8, ::1, 127.0.0.1/32) names "
                                   "the client in X-Forwarded-For or Forwarded; repeatable or "
                                   "comma-separated"},
    [APP_OPT_PROXY_PROTOCOL] = {"proxy-protocol", "SSEROOMS_PROXY_PROTOCOL", .kind = APP_KIND_ENUM,
                                .flags = APP_OPTF_SWITCH, .arg = "[on|off]", .choices = off_on,
                                .help = "connections (from a trusted-proxy, when set) begin with "
                                        "a PROXY protocol v1/v2 header naming the client"},
    [APP_OPT_H2C] = {"h2c", "SSEROOMS_H2C", .kind = APP_KIND_ENUM, .flags = APP_OPTF_SWITCH,
                     .arg = "[on|off]", .choices = off_on,
                     .help = "also speak cleartext HTTP/2 with prior knowledge (connections that "
                             "begin with the HTTP/2 preface)"},
    [APP_OPT_H2_MAX_STREAMS] = {"h2-max-streams", "SSEROOMS_H2_MAX_STREAMS", NUM(1, 2147483647),
                                .arg = "N",
                                .help = "concurrent streams per HTTP/2 connection "
                                        "(SETTINGS_MAX_CONCURRENT_STREAMS)"},
    [APP_OPT_TLS_CERT] = {"tls-cert", "SSEROOMS_TLS_CERT", .kind = APP_KIND_STR,
                          .flags = APP_OPTF_EMPTY_UNSETS, .arg = "FILE",
                          .unset_text = "none: plain HTTP",
                          .help = "serve HTTPS with this certificate (PEM, the full chain); "
                                  "reloaded on SIGHUP"},
    [APP_OPT_TLS_KEY] = {"tls-key", "SSEROOMS_TLS_KEY", .kind = APP_KIND_STR,
                         .flags = APP_OPTF_EMPTY_UNSETS, .arg = "FILE", .unset_text = "none",
                         .help = "the private key of --tls-cert (PEM); reloaded on SIGHUP"},
    [APP_OPT_TLS_MIN_VERSION] = {"tls-min-version", "SSEROOMS_TLS_MIN_VERSION",
                                 .kind = APP_KIND_ENUM, .arg = "1.2|1.3", .choices = tls_versions,
                                 .help = "oldest TLS version accepted"},
    [APP_OPT_CORS] = {"cors-origin", "SSEROOMS_CORS_ORIGIN", .kind = APP_KIND_LIST,
                      .flags = APP_OPTF_EMPTY_UNSETS, .arg = "ORIGIN",
                      .unset_text = "no origin allowed",
                      .help = "allowed CORS origin; repeatable or comma-separated; * allows any"},
    [APP_OPT_PUBLISH_KEY] = {"publish-key", "SSEROOMS_PUBLISH_KEY", .kind = APP_KIND_STR,
                             .flags = APP_OPTF_SECRET | APP_OPTF_EMPTY_UNSETS, .arg = "KEY",
                             .unset_text = "anyone who reaches the port may publish",
                             .help = "require Authorization: Bearer KEY on POST /publish"},
    [APP_OPT_ADMIN_KEY] =
        {"admin-key", "SSEROOMS_ADMIN_KEY",
         .kind = APP_KIND_STR, .flags = APP_OPTF_SECRET | APP_OPTF_EMPTY_UNSETS, .arg = "KEY",
         .unset_text = "with auth on: a JWT with \"admin\":true; else open",
         .help = "require Authorization: Bearer KEY (or, with auth on, a JWT "
                 "with \"admin\":true) on /rooms, /stats, /metrics, POST /disconnect"},
    [APP_OPT_ANONYMOUS] = {"anonymous", "SSEROOMS_ANONYMOUS", .kind = APP_KIND_ENUM,
                           .flags = APP_OPTF_SWITCH, .arg = "[on|off]", .choices = off_on,
                           .help = "allow streams and publishes without a token (the default "
                                   "when no auth option is set; any auth option turns it off, "
                                   "and giving both is refused)"},
    [APP_OPT_AUTH_ALG] = {"auth-alg", "SSEROOMS_AUTH_ALG", .kind = APP_KIND_STR,
                          .flags = APP_OPTF_EMPTY_UNSETS, .arg = "HS256|RS256|ES256",
                          .unset_text = "no JWT authorization (anonymous access)",
                          .help = "require a JWT signed with this algorithm on GET /sse, POST "
                                  "/publish and POST /tickets"},
    [APP_OPT_AUTH_SECRET] = {"auth-secret", "SSEROOMS_AUTH_SECRET", .kind = APP_KIND_STR,
                             .flags = APP_OPTF_SECRET | APP_OPTF_EMPTY_UNSETS, .arg = "SECRET",
                             .unset_text = "none",
                             .help = "HS256 shared secret, at least 32 bytes"},
    [APP_OPT_AUTH_SECRET_FILE] = {"auth-secret-file", "SSEROOMS_AUTH_SECRET_FILE",
                                  .kind = APP_KIND_STR, .flags = APP_OPTF_EMPTY_UNSETS,
                                  .arg = "FILE", .unset_text = "none",
                                  .help = "read the HS256 secret from FILE (one trailing newline "
                                          "dropped)"},
    [APP_OPT_AUTH_PUBLIC_KEY] = {"auth-public-key", "SSEROOMS_AUTH_PUBLIC_KEY",
                                 .kind = APP_KIND_STR, .flags = APP_OPTF_EMPTY_UNSETS,
                                 .arg = "FILE", .unset_text = "none",
                                 .help = "RS256/ES256 public key, a PEM file"},
    [APP_OPT_AUTH_JWKS] = {"auth-jwks", "SSEROOMS_AUTH_JWKS", .kind = APP_KIND_STR,
                           .flags = APP_OPTF_EMPTY_UNSETS, .arg = "FILE", .unset_text = "none",
                           .help = "a JSON Web Key Set file instead of auth-secret / "
                                   "auth-public-key: tokens pick their key by \"kid\"; re-read "
                                   "on SIGHUP"},
    [APP_OPT_AUTH_LEEWAY] = {"auth-leeway-s", "SSEROOMS_AUTH_LEEWAY_S", NUM(0, 86400), .arg = "N",
                             .help = "clock skew allowed on a token's exp/nbf/iat, in seconds"},
    [APP_OPT_AUTH_ISSUER] = {"auth-issuer", "SSEROOMS_AUTH_ISSUER", .kind = APP_KIND_STR,
                             .flags = APP_OPTF_EMPTY_UNSETS, .arg = "ISS",
                             .unset_text = "iss not checked",
                             .help = "a token's iss must equal ISS"},
    [APP_OPT_AUTH_AUDIENCE] = {"auth-audience", "SSEROOMS_AUTH_AUDIENCE", .kind = APP_KIND_STR,
                               .flags = APP_OPTF_EMPTY_UNSETS, .arg = "AUD",
                               .unset_text = "tokens carrying aud are refused",
                               .help = "a token's aud must name AUD"},
    [APP_OPT_AUTH_COOKIE] = {"auth-cookie", "SSEROOMS_AUTH_COOKIE", .kind = APP_KIND_STR,
                             .arg = "NAME", .help = "cookie that may carry the token of GET /sse"},
    [APP_OPT_AUTH_EXPIRY_EVENT] = {"auth-expiry-event", "SSEROOMS_AUTH_EXPIRY_EVENT",
                                   .kind = APP_KIND_STR, .arg = "NAME",
                                   .help = "event sent to a stream before it is closed because "
                                           "its token expired or POST /disconnect named it"},
    [APP_OPT_TICKET_TTL] = {"ticket-ttl-ms", "SSEROOMS_TICKET_TTL_MS", NUM(1, 3600000), .arg = "MS",
                            .help = "lifetime of a single-use ticket from POST /tickets, in ms"},
    [APP_OPT_TICKET_SECRET] = {"ticket-secret", "SSEROOMS_TICKET_SECRET", .kind = APP_KIND_STR,
                               .flags = APP_OPTF_SECRET | APP_OPTF_EMPTY_UNSETS, .arg = "SECRET",
                               .unset_text =
                                   "derived from auth-secret (HS256); else this node's own",
                               .help = "at least 32 bytes, the same on every node: signs tickets "
                                       "and session cookies so that any node accepts them"},
    [APP_OPT_MAX_TICKETS_PER_SUBJECT] = {"max-tickets-per-subject",
                                         "SSEROOMS_MAX_TICKETS_PER_SUBJECT", NUM(0, UINT_MAX),
                                         .arg = "N",
                                         .help = "live tickets one token subject may hold "
                                                 "(past it: 429); 0 = no limit"},
    [APP_OPT_TICKET_RATE] = {"ticket-rate", "SSEROOMS_TICKET_RATE", NUM(0, UINT_MAX), .arg = "N",
                             .help = "tickets a second one token subject may ask for, in bursts "
                                     "of twice that (past it: 429); 0 = no limit"},
    [APP_OPT_HISTORY] = {"history", "SSEROOMS_HISTORY", NUM(0, SR_HISTORY_MAX), .arg = "N",
                         .help = "messages kept per room for Last-Event-ID resume (ids assigned "
                                 "by the server, docs/resume.md); 0 = off"},
    [APP_OPT_HISTORY_TTL] = {"history-ttl-ms", "SSEROOMS_HISTORY_TTL_MS", NUM(0, UINT32_MAX),
                             .arg = "MS",
                             .help = "kept messages older than this are dropped, in ms; 0 = no "
                                     "age bound"},
    [APP_OPT_HISTORY_MAX_BYTES] = {"history-max-bytes", "SSEROOMS_HISTORY_MAX_BYTES",
                                   NUM(0, SIZE_MAX), .arg = "N",
                                   .help = "in-memory history of all rooms together, in bytes; 0 "
                                           "= 64 MiB"},
    [APP_OPT_RESET_EVENT] = {"reset-event", "SSEROOMS_RESET_EVENT", .kind = APP_KIND_STR,
                             .arg = "NAME",
                             .help = "event name of the reset sent when a Last-Event-ID cannot "
                                     "be resumed"},
    [APP_OPT_GAP_EVENT] = {"gap-event", "SSEROOMS_GAP_EVENT", .kind = APP_KIND_STR, .arg = "NAME",
                           .help = "event name sent to connected streams whose room's Redis "
                                   "subscription was lost and came back (history off)"},
    [APP_OPT_SEQ_MAX_NAMES] = {"sequence-max-names", "SSEROOMS_SEQUENCE_MAX_NAMES",
                               NUM(0, UINT32_MAX), .arg = "N",
                               .help = "sequence counters kept (in memory, or in Redis); past it "
                                       "the least recently used is dropped; 0 = no bound"},
    [APP_OPT_SEQ_TTL] = {"sequence-ttl-ms", "SSEROOMS_SEQUENCE_TTL_MS", NUM(0, UINT32_MAX),
                         .arg = "MS",
                         .help = "a sequence counter unused this long expires (starts again at "
                                 "1), in ms; 0 = never"},
    [APP_OPT_REDIS] = {"redis", "SSEROOMS_REDIS", .kind = APP_KIND_STR,
                       .env_alias = "SSEROOMS_REDIS_URL", /* its name before the rule */
                       .flags = APP_OPTF_URL_SECRET | APP_OPTF_EMPTY_UNSETS, .arg = "URL",
                       .unset_text = "rooms stay in memory on this node",
                       .help = "share rooms through Redis: redis://[[user]:password@]host[:port]"
                               "[/db] or unix:///path/to.sock[?db=N]"},
    [APP_OPT_PREFIX] = {"channel-prefix", "SSEROOMS_CHANNEL_PREFIX", .kind = APP_KIND_STR,
                        .arg = "PREFIX", .help = "Redis channel = prefix + room name"},
    [APP_OPT_NODE_ID] = {"node-id", "SSEROOMS_NODE_ID", .kind = APP_KIND_STR,
                         .flags = APP_OPTF_EMPTY_UNSETS, .arg = "ID",
                         .unset_text = "a random UUID at each start",
                         .help = "this node's id in Redis envelopes"},
    [APP_OPT_REDIS_OUTBOX] = {"redis-outbox", "SSEROOMS_REDIS_OUTBOX", NUM(0, SIZE_MAX), .arg = "N",
                              .help = "publishes held while Redis is unreachable (0: counted and "
                                      "dropped)"},
    [APP_OPT_REDIS_CLUSTER] = {"redis-cluster", "SSEROOMS_REDIS_CLUSTER", .kind = APP_KIND_STR,
                               .flags = APP_OPTF_URL_SECRET | APP_OPTF_EMPTY_UNSETS,
                               .arg = "URL[,URL...]", .unset_text = "no Redis Cluster",
                               .help =
                                   "share rooms through a Redis Cluster (sharded Pub/Sub): seed "
                                   "nodes redis://[[user]:password@]host:port, comma-separated "
                                   "(credentials on the first only); not with --redis"},
    [APP_OPT_REDIS_TLS_CA] = {"redis-tls-ca", "SSEROOMS_REDIS_TLS_CA", .kind = APP_KIND_STR,
                              .flags = APP_OPTF_EMPTY_UNSETS, .arg = "FILE",
                              .unset_text = "the system's trust store",
                              .help = "rediss://: the CA (PEM) that signed the Redis servers' "
                                      "certificates; their host name is checked"},
    [APP_OPT_REDIS_TLS_CERT] = {"redis-tls-cert", "SSEROOMS_REDIS_TLS_CERT", .kind = APP_KIND_STR,
                                .flags = APP_OPTF_EMPTY_UNSETS, .arg = "FILE", .unset_text = "none",
                                .help = "rediss://: a client certificate (PEM) for Redis servers "
                                        "that ask for one (needs --redis-tls-key)"},
    [APP_OPT_REDIS_TLS_KEY] = {"redis-tls-key", "SSEROOMS_REDIS_TLS_KEY", .kind = APP_KIND_STR,
                               .flags = APP_OPTF_EMPTY_UNSETS, .arg = "FILE", .unset_text = "none",
                               .help = "rediss://: the key of --redis-tls-cert (PEM)"},
    [APP_OPT_REDIS_CANARY_INTERVAL] = {"redis-canary-interval-ms",
                                       "SSEROOMS_REDIS_CANARY_INTERVAL_MS", NUM(0, UINT32_MAX),
                                       .arg = "MS",
                                       .help = "liveness canary probe interval on each Redis "
                                               "subscriber connection, in ms; 0 disables"},
    [APP_OPT_REDIS_CANARY_TIMEOUT] = {"redis-canary-timeout-ms", "SSEROOMS_REDIS_CANARY_TIMEOUT_MS",
                                      NUM(1, UINT32_MAX), .arg = "MS",
                                      .help = "a canary probe not back within this rebuilds the "
                                              "subscriber connection, in ms"},
    [APP_OPT_PRESENCE_TTL] = {"presence-ttl-ms", "SSEROOMS_PRESENCE_TTL_MS", NUM(0, UINT32_MAX),
                              .arg = "MS",
                              .help = "GET /presence with Redis: a node that stops refreshing its "
                                      "liveness key (every ttl/3) drops out of every count after "
                                      "this, in ms; 0 turns presence in Redis off"},
    [APP_OPT_PRESENCE_EVENTS] =
        {"presence-events", "SSEROOMS_PRESENCE_EVENTS", .kind = APP_KIND_ENUM,
         .flags = APP_OPTF_SWITCH, .arg = "[on|off]", .choices = off_on,
         .help = "send \"event: presence\" {\"joined\"|\"left\":<sub>} to a "
                 "room's streams when a user's first stream in the cluster "
                 "joins or its last leaves (JWT users only)"},
    [APP_OPT_PRESENCE_DEBOUNCE] = {"presence-debounce-ms", "SSEROOMS_PRESENCE_DEBOUNCE_MS",
                                   NUM(0, UINT32_MAX), .arg = "MS",
                                   .help = "a leave followed by a join of the same user within "
                                           "this makes no presence event, in ms"},
    [APP_OPT_LOG_FORMAT] = {"log-format", "SSEROOMS_LOG_FORMAT", .kind = APP_KIND_ENUM,
                            .arg = "text|json", .choices = log_formats,
                            .help = "log lines on stderr: text, or JSON lines"},
    [APP_OPT_LOG_LEVEL] = {"log-level", "SSEROOMS_LOG_LEVEL", .kind = APP_KIND_ENUM,
                           .arg = "debug|info|warn|error", .choices = log_levels,
                           .help = "least severe level logged"},
    [APP_OPT_DEMO] = {"demo", "SSEROOMS_DEMO", .kind = APP_KIND_ENUM, .flags = APP_OPTF_SWITCH,
                      .arg = "[on|off]", .choices = off_on,
                      .help = "serve the demo chat page on / (from --web-root, or the installed "
                              "web folder) and its live stats room sserooms:stats"},
    [APP_OPT_WEB_ROOT] = {"web-root", "SSEROOMS_WEB_ROOT", .kind = APP_KIND_STR,
                          .flags = APP_OPTF_EMPTY_UNSETS, .arg = "DIR",
                          .unset_text = "no static files (with --demo: the installed web folder)",
                          .help = "serve the files of DIR on / (index.html) and /NAME"},
};

int app_opt_find(const char *name) {
    for (int i = 0; i < APP_OPT_COUNT; i++)
        if (strcmp(app_opt_defs[i].name, name) == 0) return i;
    return -1;
}

const char *app_source_name(app_source src) {
    switch (src) {
    case APP_SRC_FILE: return "file";
    case APP_SRC_ENV: return "env";
    case APP_SRC_FLAG: return "flag";
    default: return "default";
    }
}

/* ---- defaults ------------------------------------------------------------ */

static void set_default_str(app_value *v, const char *s) {
    v->str = s ? strdup(s) : NULL; /* a failed strdup leaves it unset */
}

void app_settings_init(app_settings *s) {
    memset(s, 0, sizeof *s);
    sr_config cfg;
    sr_redis_options ro;
    sr_config_init(&cfg);
    sr_redis_options_init(&ro);
    app_value *v = s->v;
    set_default_str(&v[APP_OPT_HOST], cfg.host);
    v[APP_OPT_PORT].num = (uint64_t)cfg.port;
    v[APP_OPT_HEARTBEAT].num = cfg.heartbeat_ms;
    v[APP_OPT_MAX_QUEUE].num = cfg.max_queue_bytes;
    v[APP_OPT_MAX_HTTP_BUFFER].num = cfg.max_http_buffer_bytes;
    v[APP_OPT_MAX_HEADER].num = cfg.max_header_bytes;
    v[APP_OPT_MAX_BODY].num = cfg.max_body_bytes;
    v[APP_OPT_REQ_TIMEOUT].num = cfg.request_timeout_ms;
    v[APP_OPT_KEEPALIVE].num = cfg.keepalive_timeout_ms;
    v[APP_OPT_MAX_ROOMS].num = cfg.max_rooms_per_conn;
    v[APP_OPT_MAX_ROOM_LEN].num = cfg.max_room_len;
    v[APP_OPT_MAX_CONNS].num = cfg.max_connections;
    v[APP_OPT_MAX_CONNS_PER_ADDR].num = cfg.max_connections_per_addr;
    v[APP_OPT_IPV6_PREFIX_LEN].num = cfg.ipv6_prefix_len;
    v[APP_OPT_MAX_MESSAGE].num = cfg.max_message_bytes;
    v[APP_OPT_MAX_PUBLISH].num = cfg.max_publish_bytes;
    v[APP_OPT_SEQ_MAX_NAMES].num = cfg.sequence_max_names;
    v[APP_OPT_SEQ_TTL].num = cfg.sequence_ttl_ms;
    v[APP_OPT_H2_MAX_STREAMS].num = cfg.h2_max_streams;
    v[APP_OPT_SWEEP_SLICE_US].num = cfg.sweep_slice_us;
    v[APP_OPT_SWEEP_SLICE].num = cfg.sweep_slice_streams;
    /* the command uses one thread per core; the library's default (1)
     * keeps an embedder's process single-threaded */
    v[APP_OPT_THREADS].num = 0;
    set_default_str(&v[APP_OPT_PUBLISH_KEY], cfg.publish_key);
    v[APP_OPT_AUTH_LEEWAY].num = cfg.auth_leeway_s;
    set_default_str(&v[APP_OPT_AUTH_COOKIE], cfg.auth_cookie);
    set_default_str(&v[APP_OPT_AUTH_EXPIRY_EVENT], cfg.auth_expiry_event);
    v[APP_OPT_TICKET_TTL].num = cfg.ticket_ttl_ms;
    v[APP_OPT_MAX_TICKETS_PER_SUBJECT].num = cfg.max_tickets_per_subject;
    v[APP_OPT_TICKET_RATE].num = cfg.ticket_rate;
    v[APP_OPT_HISTORY].num = cfg.history;
    v[APP_OPT_HISTORY_TTL].num = cfg.history_ttl_ms;
    v[APP_OPT_HISTORY_MAX_BYTES].num = cfg.history_max_bytes;
    set_default_str(&v[APP_OPT_RESET_EVENT], cfg.reset_event[0] ? cfg.reset_event : "reset");
    set_default_str(&v[APP_OPT_GAP_EVENT], cfg.gap_event[0] ? cfg.gap_event : "gap");
    set_default_str(&v[APP_OPT_REDIS], ro.url);
    set_default_str(&v[APP_OPT_PREFIX], ro.channel_prefix);
    set_default_str(&v[APP_OPT_NODE_ID], ro.node_id && *ro.node_id ? ro.node_id : NULL);
    v[APP_OPT_REDIS_OUTBOX].num = ro.outbox_max;
    set_default_str(&v[APP_OPT_REDIS_CLUSTER], ro.cluster);
    v[APP_OPT_REDIS_CANARY_INTERVAL].num = ro.canary_interval_ms;
    v[APP_OPT_REDIS_CANARY_TIMEOUT].num = ro.canary_timeout_ms;
    v[APP_OPT_PRESENCE_TTL].num = ro.presence_ttl_ms;
    v[APP_OPT_PRESENCE_DEBOUNCE].num = cfg.presence_debounce_ms;
    v[APP_OPT_LOG_FORMAT].num = APP_LOG_TEXT;
    v[APP_OPT_LOG_LEVEL].num = APP_LOG_INFO;
}

static void clear_items(app_value *v) {
    for (size_t i = 0; i < v->n_items; i++) {
        free(v->items[i].text);
        free(v->items[i].where);
    }
    free(v->items);
    v->items = NULL;
    v->n_items = 0;
}

void app_settings_free(app_settings *s) {
    for (int i = 0; i < APP_OPT_COUNT; i++) {
        free(s->v[i].str);
        free(s->v[i].where);
        clear_items(&s->v[i]);
    }
    memset(s, 0, sizeof *s);
}

/* ---- checking values ----------------------------------------------------- */

static int has_control(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

static int parse_num(const char *s, uint64_t *out) {
    if (!*s) return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = n;
    return 0;
}

static int is_ip_literal(const char *s) {
    unsigned char buf[sizeof(struct in6_addr)];
    return uv_inet_pton(AF_INET, s, buf) == 0 || uv_inet_pton(AF_INET6, s, buf) == 0;
}

/* "an integer from 1 to 65536" / "an integer of at least 256" */
static void describe_range(const app_opt_def *d, char *buf, size_t cap) {
    if (d->max == SIZE_MAX || d->max == UINT32_MAX || d->max == UINT_MAX)
        snprintf(buf, cap, "a whole number of at least %llu (up to %llu)",
                 (unsigned long long)d->min, (unsigned long long)d->max);
    else
        snprintf(buf, cap, "a whole number from %llu to %llu", (unsigned long long)d->min,
                 (unsigned long long)d->max);
}

/* How a refused value is quoted in messages: secrets are never echoed. */
static const char *quoted(const app_opt_def *d, const char *text, char *buf, size_t cap) {
    if (d->flags & APP_OPTF_SECRET) return "(hidden)";
    if (d->flags & APP_OPTF_URL_SECRET) {
        char masked[512];
        snprintf(buf, cap, "'%s'", app_mask_url(text, masked, sizeof masked));
        return buf;
    }
    snprintf(buf, cap, "'%.200s%s'", text, strlen(text) > 200 ? "..." : "");
    return buf;
}

static int append_items(const app_opt_def *d, app_value *v, const char *text, const char *where,
                        char *err, size_t errcap) {
    char *copy = strdup(text);
    if (!copy) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t') tok++;
        size_t len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t')) tok[--len] = '\0';
        if (!len) continue;
        if (strpbrk(tok, " \t")) {
            snprintf(err, errcap,
                     "invalid value '%.200s': a %s value has no spaces (separate "
                     "values with commas)",
                     tok, d->name);
            rc = -1;
            break;
        }
        app_list_item *grown = realloc(v->items, (v->n_items + 1) * sizeof *grown);
        if (!grown) {
            snprintf(err, errcap, "out of memory");
            rc = -1;
            break;
        }
        v->items = grown;
        app_list_item *it = &v->items[v->n_items];
        it->text = strdup(tok);
        it->where = strdup(where ? where : "");
        if (!it->text || !it->where) {
            free(it->text);
            free(it->where);
            snprintf(err, errcap, "out of memory");
            rc = -1;
            break;
        }
        v->n_items++;
    }
    free(copy);
    return rc;
}

int app_settings_set(app_settings *s, app_opt_id id, const char *text, app_source source,
                     const char *where, char *err, size_t errcap) {
    const app_opt_def *d = &app_opt_defs[id];
    app_value *v = &s->v[id];
    char q[600];
    if (has_control(text)) {
        snprintf(err, errcap, "invalid value %s: control characters are not allowed",
                 quoted(d, text, q, sizeof q));
        return -1;
    }
    if (source == APP_SRC_FILE && v->source == APP_SRC_FILE && d->kind != APP_KIND_LIST) {
        const char *colon = v->where ? strrchr(v->where, ':') : NULL;
        snprintf(err, errcap, "already set on line %s", colon ? colon + 1 : "?");
        return -1;
    }
    uint64_t n = 0;
    char *str = NULL;
    switch (d->kind) {
    case APP_KIND_NUM: {
        if (parse_num(text, &n) < 0 || n < d->min || n > d->max) {
            char range[128];
            describe_range(d, range, sizeof range);
            snprintf(err, errcap, "invalid value %s: expected %s", quoted(d, text, q, sizeof q),
                     range);
            return -1;
        }
        break;
    }
    case APP_KIND_ENUM: {
        int found = -1;
        for (int i = 0; d->choices[i]; i++)
            if (strcmp(d->choices[i], text) == 0) found = i;
        if (found < 0) {
            char list[128] = "";
            for (int i = 0; d->choices[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                         d->choices[i]);
            snprintf(err, errcap, "invalid value %s: expected one of %s",
                     quoted(d, text, q, sizeof q), list);
            return -1;
        }
        n = (uint64_t)found;
        break;
    }
    case APP_KIND_HOST:
        if (!is_ip_literal(text)) {
            snprintf(err, errcap,
                     "invalid value %s: expected an IPv4 or IPv6 address such as 127.0.0.1, "
                     "0.0.0.0 or ::",
                     quoted(d, text, q, sizeof q));
            return -1;
        }
        /* fall through */
    case APP_KIND_STR:
        if (*text || !(d->flags & APP_OPTF_EMPTY_UNSETS)) {
            str = strdup(text);
            if (!str) {
                snprintf(err, errcap, "out of memory");
                return -1;
            }
        }
        break;
    case APP_KIND_LIST:
        if (v->source != source) clear_items(v); /* a stronger source replaces the list */
        if (append_items(d, v, text, where, err, errcap) < 0) return -1;
        break;
    }
    char *where_copy = where ? strdup(where) : NULL;
    if (where && !where_copy) {
        free(str);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    if (d->kind == APP_KIND_STR || d->kind == APP_KIND_HOST) {
        free(v->str);
        v->str = str;
    } else if (d->kind != APP_KIND_LIST) {
        v->num = n;
    }
    free(v->where);
    v->where = where_copy;
    v->source = source;
    return 0;
}

int app_settings_apply_env(app_settings *s, FILE *err_out) {
    int bad = 0;
    for (int i = 0; i < APP_OPT_COUNT; i++) {
        const app_opt_def *d = &app_opt_defs[i];
        const char *var = d->env, *text = getenv(var);
        const char *alias_text = d->env_alias ? getenv(d->env_alias) : NULL;
        if (alias_text && text && strcmp(alias_text, text) != 0) {
            /* which one was meant cannot be guessed; values stay unprinted
             * (they may hold a password) */
            fprintf(err_out, "sserooms: %s and %s are both set, to different values: set %s only\n",
                    var, d->env_alias, var);
            bad = 1;
            continue;
        }
        if (!text && alias_text) {
            var = d->env_alias;
            text = alias_text;
        }
        if (!text) continue;
        char err[768];
        if (app_settings_set(s, (app_opt_id)i, text, APP_SRC_ENV, var, err, sizeof err) < 0) {
            fprintf(err_out, "sserooms: %s: %s\n", var, err);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

/* Edits (insertions, deletions, substitutions) from a to b, each compared
 * on at most its first 127 bytes: variable names are short, and a long
 * one is far from every known name anyway. */
static size_t edit_distance(const char *a, const char *b) {
    enum { MAX = 127 };
    size_t la = strnlen(a, MAX), lb = strnlen(b, MAX);
    size_t row[MAX + 1];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0]; /* row[i-1][j-1] */
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j]; /* row[i-1][j] */
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int is_known_env(const char *name, size_t len) {
    if (len == strlen(APP_ENV_CONFIG) && memcmp(name, APP_ENV_CONFIG, len) == 0) return 1;
    for (int i = 0; i < APP_OPT_COUNT; i++) {
        const app_opt_def *d = &app_opt_defs[i];
        if (strlen(d->env) == len && memcmp(name, d->env, len) == 0) return 1;
        if (d->env_alias && strlen(d->env_alias) == len && memcmp(name, d->env_alias, len) == 0)
            return 1;
    }
    return 0;
}

size_t app_env_unknown(void (*found)(const char *var, const char *closest, void *ud), void *ud) {
    static const char prefix[] = "SSEROOMS_";
    size_t n = 0;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, prefix, sizeof prefix - 1) != 0) continue;
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
        if (is_known_env(*e, len)) continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), *e);
        /* the suggestion is a current name, never the alias */
        const char *closest = APP_ENV_CONFIG;
        size_t best = edit_distance(name, closest);
        for (int i = 0; i < APP_OPT_COUNT; i++) {
            size_t d = edit_distance(name, app_opt_defs[i].env);
            if (d < best) {
                best = d;
                closest = app_opt_defs[i].env;
            }
        }
        found(name, closest, ud);
        n++;
    }
    return n;
}

/* ---- showing values ------------------------------------------------------ */

const char *app_mask_url(const char *url, char *buf, size_t cap) {
    static const char mask[] = "********";
    const char *scheme_end = strstr(url, "://");
    const char *start = scheme_end ? scheme_end + 3 : url;
    const char *at = NULL;
    if (scheme_end && strncmp(url, "unix://", 7) == 0) {
        at = *start == '/' ? NULL : strstr(start, "@/");
    } else if (strchr(start, ',')) {
        /* a list (--redis-cluster seeds): mask up to the last '@' of all;
         * masking too much never shows a password */
        at = strrchr(start, '@');
    } else {
        size_t auth = strcspn(start, "/?#");
        for (size_t i = 0; i < auth; i++)
            if (start[i] == '@') at = start + i;
    }
    if (!at) {
        snprintf(buf, cap, "%s", url);
        return buf;
    }
    const char *colon = memchr(start, ':', (size_t)(at - start));
    const char *keep_end = colon ? colon + 1 : start; /* "user:" stays, or nothing */
    snprintf(buf, cap, "%.*s%s%s", (int)(keep_end - url), url, mask, at);
    return buf;
}

const char *app_settings_show(const app_settings *s, app_opt_id id, size_t index, char *buf,
                              size_t cap) {
    const app_opt_def *d = &app_opt_defs[id];
    const app_value *v = &s->v[id];
    switch (d->kind) {
    case APP_KIND_NUM: snprintf(buf, cap, "%llu", (unsigned long long)v->num); break;
    case APP_KIND_ENUM: snprintf(buf, cap, "%s", d->choices[v->num]); break;
    case APP_KIND_LIST:
        snprintf(buf, cap, "%s", index < v->n_items ? v->items[index].text : "");
        break;
    default:
        if (!v->str) snprintf(buf, cap, "%s", "");
        else if (d->flags & APP_OPTF_SECRET) snprintf(buf, cap, "%s", "********");
        else if (d->flags & APP_OPTF_URL_SECRET) app_mask_url(v->str, buf, cap);
        else snprintf(buf, cap, "%s", v->str);
    }
    return buf;
}
