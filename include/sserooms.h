/* SPDX-License-Identifier: MIT */
/*
 * sserooms.h: the public API of libsserooms.
 *
 * libsserooms is a Server-Sent Events fan-out server with rooms that runs
 * on a libuv loop (the caller's or its own). Browsers connect with plain
 * EventSource to GET /sse?room=A&room=B; a broadcast to a room reaches every
 * member, on this node and, through an adapter (in-memory by default,
 * Redis Pub/Sub for several nodes), on every other node. The SSE frames and
 * the Redis envelope are byte-compatible with the Node.js reference
 * @opinionated-machine/sse-rooms-redis.
 *
 * Conventions: every symbol starts with sr_ / SR_; handles are opaque;
 * functions that can fail return a negative SR_E* code (sr_strerror names
 * it). All functions must be called on the server's loop thread, except
 * sr_strerror, sr_version, sr_version_hex and sr_config_init. The Redis
 * adapter's API is in <sserooms/redis.h>, included here.
 */
#ifndef SSEROOMS_H
#define SSEROOMS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <sserooms/error.h> /* SR_E* codes, sr_strerror, SR_API, the version */

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* ABI: a program keeps working with a newer library                    */
/* ------------------------------------------------------------------ */

/* The structs a program allocates and the library reads or fills whole
 * (sr_config, sr_adapter, sr_stats, sr_redis_options) travel with their
 * size, as zlib's do: the calls that take them are macros that pass
 * sizeof(the struct) as the program's header declares it to a function of
 * the same name with a trailing underscore. Fields are only ever appended
 * to these structs, so the size tells the library which fields the program
 * has: it reads and writes only those, and takes the defaults
 * (sr_config_init) for the rest. A program built against a newer header (a
 * larger size) is accepted when the fields this library does not know are
 * zero, and refused with SR_EINVAL rather than silently ignored otherwise.
 *
 * The other structs a program passes in (sr_message, sr_broadcast_opts,
 * sr_presence_query, sr_log_field) never change: a new option is a new
 * struct or a new function. Structs the library hands to callbacks
 * (sr_presence, sr_presence_member, sr_history_reply) may grow at their
 * end; a program reads the fields it knows.
 *
 * SR_ABI_VERSION (sserooms/version.h) is the shared library's SOVERSION
 * (libsserooms.so.1). It is raised only when this scheme cannot keep an
 * older program running: a field reordered or removed, a function's
 * arguments changed. It became 1 when the sizes were introduced: programs
 * built against the headers of SOVERSION 0 must be rebuilt.
 *
 * Error detail: a synchronous call that can say why it failed takes a
 * buffer (char *err, size_t errcap; NULL is allowed); an asynchronous one
 * says why in its callback's text. */

/* ------------------------------------------------------------------ */
/* Types                                                                */
/* ------------------------------------------------------------------ */

typedef struct sr_server sr_server;   /* one listening SSE rooms server */
typedef struct sr_conn sr_conn;       /* one SSE stream (a subscriber) */
typedef struct sr_request sr_request; /* an HTTP request, read-only view */

/* One SSE message. Strings are NUL-terminated; NULL or "" means absent. */
typedef struct sr_message {
    const char *id;    /* "id:" field; must not contain CR or LF */
    const char *event; /* "event:" field; must not contain CR or LF */
    const char *data;  /* JSON text of the value, written verbatim */
    size_t data_len;   /* bytes of data; SIZE_MAX means strlen(data) */
    uint32_t retry;    /* "retry:" in ms; 0 means absent */
} sr_message;

/* Completion of a call that waits for an adapter (see "Ordered event ids"),
 * run exactly once on the loop thread. rc >= 0: success, and `text` is the
 * event id; rc < 0: an SR_E* code, and `text` says why ("redis unreachable:
 * ..."). `text` is valid during the call only. */
typedef void (*sr_sequence_fn)(void *ud, int rc, const char *text);

/* One user of a room (sr_presence_get with members): a token's "sub". */
typedef struct sr_presence_member {
    const char *user;
    uint64_t connections; /* its streams in the room, all nodes */
} sr_presence_member;

/* What sr_presence_get asks for; NULL: the counts only. */
typedef struct sr_presence_query {
    int members;        /* nonzero: a page of the users too */
    unsigned limit;     /* users per page, 1..1000 (0: 100) */
    const char *cursor; /* NULL or "": the first page; else the
                           next_cursor of the previous answer */
} sr_presence_query;

/* Who is in a room (sr_presence_get), valid during the callback only. */
typedef struct sr_presence {
    int rc;          /* 0, or an SR_E* code: no answer (why) */
    const char *why; /* rc < 0: the reason */
    const char *room;
    uint64_t connections;              /* streams in the room on every live node */
    uint64_t users;                    /* distinct users ("sub") among them; streams
                                          without a user are not counted here */
    uint64_t nodes;                    /* live nodes with streams in the room */
    int cluster;                       /* 1: counted across nodes by the adapter;
                                          0: this node alone (no presence adapter) */
    const sr_presence_member *members; /* with query->members: a page */
    size_t n_members;
    const char *next_cursor; /* NULL: that was the last page */
} sr_presence;
typedef void (*sr_presence_fn)(void *ud, const sr_presence *p);

/* One room of sr_presence_rooms: its counts as in sr_presence. */
typedef struct sr_presence_room {
    const char *room;
    uint64_t members;     /* this node's streams in it */
    uint64_t connections; /* streams on every live node */
    uint64_t users;
    uint64_t nodes;
} sr_presence_room;

/* A page of the rooms with streams anywhere (sr_presence_rooms), in byte
 * order of their names, valid during the callback only. */
typedef struct sr_presence_room_page {
    int rc; /* 0, or an SR_E* code: no answer (why) */
    const char *why;
    const sr_presence_room *rooms;
    size_t n_rooms;          /* may be fewer than the limit on any page */
    const char *next_cursor; /* NULL: that was the last page */
    int cluster;             /* as in sr_presence */
} sr_presence_room_page;
typedef void (*sr_presence_rooms_fn)(void *ud, const sr_presence_room_page *p);

/* A page of room names from an adapter (sr_adapter.presence_rooms): rc 0
 * and names[0..n) in byte order, more nonzero when names may follow the
 * last; or rc < 0 and why. Valid during the call only. */
typedef void (*sr_presence_names_fn)(void *ud, int rc, const char *why, const char *const *names,
                                     size_t n, int more);

/* The bounds of a room's history (sr_config.history, history_ttl_ms). */
typedef struct sr_history_limits {
    unsigned max_messages;
    uint32_t ttl_ms; /* 0: no age bound */
} sr_history_limits;

/* An adapter's answer to history_fetch, valid during the callback only. */
typedef struct sr_history_reply {
    int rc;                     /* 0, or an SR_E* code: no answer (why) */
    const char *why;            /* rc < 0: the reason */
    const char *status;         /* "ok", "epoch" (another epoch), "gone"
                                   (some was dropped), "unknown" (after the
                                   newest id) */
    const char *epoch;          /* the current epoch */
    uint64_t counter;           /* the newest id's counter (0: none yet) */
    const sr_message *messages; /* "ok": the messages after the id */
    size_t n_messages;
} sr_history_reply;
typedef void (*sr_history_fn)(void *ud, const sr_history_reply *reply);

/* Options of one broadcast; a NULL pointer means all defaults. */
typedef struct sr_broadcast_opts {
    int local;              /* nonzero: deliver on this node only */
    sr_conn *const *except; /* these connections do not receive it */
    size_t n_except;
    const char *meta; /* optional JSON text, given to the adapter  */
    size_t meta_len;  /* (never sent to clients); 0 = no meta      */
} sr_broadcast_opts;

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

/* Kept as written: clang-format 14 folds a multi-line comment into the macro. */
/* clang-format off */
#define SR_HISTORY_MAX 100000 /* sr_config.history: messages per room */
#define SR_WIRE_JSON_DEPTH 1000 /* JSON nesting the Redis adapter reads an
                                   envelope with: a message's data may nest
                                   998 levels (the envelope adds 2) */
#define SR_RESET_EVENT_MAX 63  /* sr_config.reset_event: bytes */
/* clang-format on */

typedef struct sr_config {
    const char *host;                /* "127.0.0.1" */
    int port;                        /* 8080; 0 picks a free port */
    int backlog;                     /* 511 */
    uint32_t heartbeat_ms;           /* 30000; 0 disables heartbeats */
    size_t max_queue_bytes;          /* 1 MiB: a slower reader is disconnected */
    size_t max_header_bytes;         /* 8 KiB: request line + headers */
    size_t max_body_bytes;           /* 1 MiB: POST bodies */
    uint32_t request_timeout_ms;     /* 10000: time to send a whole request */
    uint32_t keepalive_timeout_ms;   /* 5000: idle keep-alive connection */
    unsigned max_rooms_per_conn;     /* 64 */
    size_t max_room_len;             /* 128 bytes */
    unsigned max_json_depth;         /* 1000: JSON nesting read in bodies; a
                                        message's data may nest 2 levels less
                                        (and at most SR_WIRE_JSON_DEPTH - 2),
                                        so that in the 2-level envelope every
                                        node reads it (POST /publish: 400,
                                        sr_broadcast: SR_EJSON) */
    size_t max_connections;          /* 0 = unlimited (bounded by fds) */
    const char *const *cors_origins; /* allowed Origins; "*" = any; NULL = none */
    size_t n_cors_origins;
    const char *publish_key; /* if set, POST /publish needs
                                Authorization: Bearer <key> */
    int enable_publish;      /* 1: serve POST /publish */
    int enable_info;         /* 1: serve /healthz, /rooms, /stats */
    const char *sse_path;    /* "/sse" */
    /* The fields above are those of the first release, in its order (an
     * older program's struct is a prefix of this one: see "ABI"); every
     * later field is appended below, never inserted above. */
    size_t max_http_buffer_bytes;    /* 64 MiB: answers queued and request bytes
                                        held for all HTTP (non-stream)
                                        connections together; past it each
                                        of them reads no further request until
                                        its own answers are out; 0 = none */
    size_t max_connections_per_addr; /* 256: open connections from one client
                                        address (IPv6, or IPv4); over it the
                                        connection gets 429 and is closed;
                                        0 = unlimited */
    unsigned ipv6_prefix_len;        /* 64: IPv6 clients are counted per
                                        /N prefix for max_connections_per_addr
                                        (1..128; 128: each address alone);
                                        IPv4 per address; 0 means 64 */
    size_t max_message_bytes;        /* 256 KiB: the data JSON text of one
                                        message (POST /publish answers 413,
                                        sr_broadcast / sr_send give SR_ETOOBIG,
                                        remote messages are dropped); 0 = none */
    const char *admin_key;           /* if set: the admin endpoints (/rooms,
                                        /stats, /metrics, POST /disconnect)
                                        need Authorization: Bearer <key>, or,
                                        with auth_alg set, a JWT with
                                        "admin": true. With auth_alg set and
                                        no admin_key, only such a JWT. With
                                        neither, they are open as before */
    int enable_metrics;              /* 1: serve GET /metrics (Prometheus text) */
    const char *web_root;            /* if set: GET / serves web_root/index.html
                                        and GET /NAME the file NAME in it */
    const char *stats_room;          /* if set: the /stats JSON is broadcast
                                        locally as event "stats" to this room */
    uint32_t stats_interval_ms;      /* 1000: period of those broadcasts */
    /* Presence (GET /presence, sr_presence_get). presence_events: a room's
     * streams get "event: presence" with {"joined":"<sub>"} when a user's
     * first stream anywhere in the cluster joins and {"left":"<sub>"} when
     * its last one leaves (users are JWT "sub"s: anonymous streams make
     * none); a leave followed by a join of the same user within
     * presence_debounce_ms makes no event at all. With Redis, also set
     * sr_redis_options.presence_events. */
    int presence_events;
    uint32_t presence_debounce_ms; /* 2000 */

    /* Authorization with JWT (see "Authorization" below). auth_alg NULL
     * (and every other auth_* string NULL): anonymous access, as before. */
    const char *auth_alg;             /* NULL: off; "HS256", "RS256" or "ES256" */
    const char *auth_secret;          /* HS256: the shared secret, >= 32 bytes */
    const char *auth_secret_file;     /* HS256: or read it from this file (one
                                         trailing newline is dropped) */
    const char *auth_public_key_file; /* RS256/ES256: PEM public key file */
    const char *auth_jwks_file;       /* instead of the secret / public key: a
                                         JSON Web Key Set file; each token picks
                                         its key by its header's "kid"
                                         (sr_server_reload_auth re-reads it) */
    unsigned auth_leeway_s;           /* 30: clock skew allowed on exp/nbf/iat */
    const char *auth_issuer;          /* if set: "iss" must equal it */
    const char *auth_audience;        /* if set: "aud" must name it (unset:
                                         tokens carrying "aud" are refused) */
    const char *auth_cookie;          /* "sserooms_token": cookie that may carry
                                         the token of GET /sse */
    const char *auth_expiry_event;    /* "auth-expired": event sent to a stream
                                         opened with a token when that token
                                         (exp + auth_leeway_s) runs out, or on
                                         POST /disconnect, before it is closed */
    uint32_t ticket_ttl_ms;           /* 30000: lifetime of POST /tickets tickets */
    const char *ticket_secret;        /* >= 32 bytes, the same on every node:
                                         signs tickets and session cookies so
                                         any node accepts them. NULL: derived
                                         from the HS256 secret; with RS256 /
                                         ES256 a key of this process only
                                         (tickets then work on this node) */
    unsigned max_tickets_per_subject; /* 100: live tickets of one subject (the
                                       token's "sub", else the token); past
                                       it 429; 0 = no limit */
    unsigned ticket_rate;             /* 10: tickets a second for one subject,
                                         bursts of twice that; past it 429;
                                         0 = no limit. A full store (10,000)
                                         answers 503 and evicts nothing */

    /* Threads. 1 (the default): everything runs on the caller's loop.
     * N >= 2: the caller's loop plus N - 1 writer threads that do the
     * socket writes of SSE streams (each stream belongs to one); 0: one
     * thread per core. Hooks, rooms, the adapter and HTTP stay on the
     * caller's loop either way. With writer threads, sr_send cannot see a
     * slow consumer at once (it answers SR_OK; the stream is then dropped
     * as one). */
    unsigned threads;

    /* Resume with Last-Event-ID (docs/resume.md). history 0: off, as before.
     * history N: every broadcast gets an ordered id "<epoch>-<12 digits>"
     * (a publisher-given id is refused), the last N messages of each room
     * are kept (in memory; in Redis with the Redis adapter), and a stream
     * opened with Last-Event-ID (or ?lastEventId=) first gets what it missed,
     * or the reset event when that is no longer known. */
    unsigned history;                         /* 0: off; messages kept per room, at
                                                 most SR_HISTORY_MAX */
    uint32_t history_ttl_ms;                  /* 0: no age bound; else kept messages
                                                 older than this are dropped */
    size_t history_max_bytes;                 /* in-memory history of all rooms
                                                 together; 0 means 64 MiB */
    char reset_event[SR_RESET_EVENT_MAX + 1]; /* "" means "reset" */

    /* Behind proxies and load balancers (README "Behind a proxy"). Limits,
     * logs, sr_request_peer and /stats then see the client, not the proxy. */
    const char *const *trusted_proxies; /* CIDR ranges ("10.0.0.0/8", "::1/128",
                                       a lone address is one host): a request
                                       from such a peer takes its client
                                       address from X-Forwarded-For (the
                                       rightmost address not in these ranges;
                                       without that header, Forwarded for=);
                                       other peers' such headers are ignored.
                                       NULL: no proxy is trusted */
    size_t n_trusted_proxies;
    int proxy_protocol; /* 1: every connection (from a trusted
                           proxy, when trusted_proxies is set;
                           others are plain clients) begins with
                           a PROXY protocol v1 or v2 header, whose
                           source is the client; a missing or
                           malformed one closes the connection */
    /* The event streams get when their room's subscription to the adapter
     * (Redis) was lost and came back and no history can fill what they may
     * have missed (history off): data {"reason":"redis","from":<ms>,"to":<ms>}
     * (wall clock), no id. With history in the adapter the streams are
     * filled instead, or get the reset event. docs/resume.md. */
    char gap_event[SR_RESET_EVENT_MAX + 1]; /* "" means "gap" */
    /* Ordered-id counters (see "Ordered event ids"): how many names a
     * server (or, with Redis, the shared Redis) keeps at most, the least
     * recently used one being dropped for a new one past it; and how long an
     * unused counter lives. A dropped or expired counter starts again at 1. */
    unsigned sequence_max_names; /* 65536; 0 = no bound */
    uint32_t sequence_ttl_ms;    /* 2592000000 (30 days); 0 = never */
    /* Publish budget: a non-local broadcast whose rooms x message bytes
     * (data + meta + id + event) pass this is refused (POST /publish answers
     * 413, sr_broadcast gives SR_ETOOBIG): each room is one copy of the
     * envelope sent to Redis. 0 = none. */
    size_t max_publish_bytes; /* 16 MiB */

    /* HTTP/2 (README "HTTP/2"): every EventSource a stream on one
     * connection, POST /publish and the other routes too. */
    int h2c;                 /* 1: a connection that begins with the
                                HTTP/2 client preface speaks cleartext
                                HTTP/2 (prior knowledge); others stay
                                HTTP/1.1 */
    uint32_t h2_max_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS per
                                HTTP/2 connection; 0 means 128 */
    /* TLS (docs/tls.md). Both files set: every connection speaks TLS
     * (ALPN h2 and http/1.1), with session tickets; a handshake must be done
     * within request_timeout_ms. NULL: plain HTTP, as before. */
    const char *tls_cert_file;   /* PEM: the certificate, then its chain */
    const char *tls_key_file;    /* PEM: its private key */
    const char *tls_min_version; /* NULL or "1.2"; or "1.3" */
    /* Fan-out in slices (README, --sweep-slice-us): the broadcasts one
     * room gets in a loop turn are delivered together at its end, a slice
     * of its streams per loop turn, so that requests (a publish and its
     * answer) are read and answered between the slices instead of after
     * the whole room. A slice ends after either bound; 0 = no such bound,
     * both 0 = the whole room in one turn. */
    uint32_t sweep_slice_us;      /* 2000: microseconds, writes included */
    uint32_t sweep_slice_streams; /* 0: streams */
    /* New fields go here, at the end (see "ABI"). */
} sr_config;

/* Fills *cfg with the defaults above. */
#define sr_config_init(cfg) sr_config_init_((cfg), sizeof(sr_config))
SR_API void sr_config_init_(sr_config *cfg, size_t cfg_size);

/* Checks what sr_server_new would refuse in the trusted proxy ranges and
 * the authorization settings
 * (an algorithm without its key, a key without an algorithm, an HS256
 * secret shorter than 32 bytes, an unreadable or unsuitable key file, ...),
 * loading the key as the server would. 0, or SR_EINVAL with a sentence
 * saying why in err (may be NULL), or SR_ENOMEM. */
#define sr_config_check(cfg, err, errcap)                                                          \
    sr_config_check_((cfg), sizeof(sr_config), (err), (errcap))
SR_API int sr_config_check_(const sr_config *cfg, size_t cfg_size, char *err, size_t errcap);

/* Authorization. With auth_alg set every GET on the SSE path needs a JWT
 * signed with that algorithm and key, taken from (first found)
 * ?ticket=, "Authorization: Bearer <JWT>", ?token=, or the auth_cookie
 * cookie; else 401 (with WWW-Authenticate: Bearer). The token's "rooms"
 * claim (an array of exact names or "prefix*" patterns, "*" = any room)
 * must allow every ?room= asked for, else 403 and nothing is joined; the
 * accept hook runs after these checks (a hook answering SR_ACCEPT_CUSTOM
 * joins rooms on its own authority). POST /publish needs a Bearer JWT
 * whose "publish" claim allows every target room (403 otherwise, 401
 * without a valid token) or, when publish_key is set, that key.
 * POST /tickets with a Bearer JWT and {"rooms":["a",...]} (each allowed by
 * its "rooms" claim) answers {"ticket":"...","expires_in_ms":N,"rooms":[...]}:
 * a single-use ticket for ?ticket= on GET /sse, bound to those rooms and
 * valid for ticket_ttl_ms. Tokens are never logged. */

/* Room names accepted everywhere: 1..max_room_len bytes of
 * A-Z a-z 0-9 and - _ . : @ / = + ~ ! $ * , ; (no spaces, no control
 * characters, no '%', '&', '?', '#'). Returns 0 or SR_EROOM. */
SR_API int sr_room_name_check(const char *name, size_t len, size_t max_len);

/* ------------------------------------------------------------------ */
/* Server life cycle                                                    */
/* ------------------------------------------------------------------ */

/* Creates a server on `loop`, or on a loop of its own when loop is NULL.
 * The configuration is copied (strings included); NULL: the defaults.
 * SR_EINVAL for a configuration from a newer header that sets fields this
 * library does not know (see "ABI"). */
#define sr_server_new(out, loop, cfg) sr_server_new_((out), (loop), (cfg), sizeof(sr_config))
SR_API int sr_server_new_(sr_server **out, uv_loop_t *loop, const sr_config *cfg, size_t cfg_size);
/* Fills *out with the server's configuration as it runs (the defaults
 * applied; strings owned by the server, valid until sr_server_free). */
#define sr_server_get_config(srv, out) sr_server_get_config_((srv), (out), sizeof(sr_config))
SR_API void sr_server_get_config_(const sr_server *srv, sr_config *out, size_t out_size);
/* Re-reads the auth_jwks_file key set (key rotation; the command does it
 * on SIGHUP). Returns the number of keys now in use, or SR_ESTATE (no key
 * set configured), SR_EINVAL (the file is bad: the keys in use stay; err
 * says why), SR_ENOMEM. Loop thread only. */
SR_API int sr_server_reload_auth(sr_server *srv, char *err, size_t errcap);

/* Binds and listens on cfg->host:cfg->port. */
SR_API int sr_server_listen(sr_server *srv);
/* Why the last sr_server_listen failed, naming the cause ("permission
 * denied: port 80 is below 1024...", "address 10.9.9.9 is not on any
 * interface of this host", "address in use: ..."); "" after a success. */
SR_API const char *sr_server_listen_error(const sr_server *srv);
/* The bound port (useful with port 0), or a negative code. */
SR_API int sr_server_port(const sr_server *srv);
/* The loop the server runs on. */
SR_API uv_loop_t *sr_server_loop(sr_server *srv);
/* Runs the server's own loop until sr_server_shutdown completes.
 * SR_ESTATE when the server runs on the caller's loop. */
SR_API int sr_server_run(sr_server *srv);
/* Graceful stop: stops accepting, ends every stream cleanly after its queued
 * frames are written (bounded by a short grace period), answers requests in
 * flight, closes the adapter. `done` (may be NULL) runs when all handles are
 * closed, with ud first like every other callback. Safe to call more than
 * once. */
typedef void (*sr_shutdown_fn)(void *ud, sr_server *srv);
SR_API void sr_server_shutdown(sr_server *srv, sr_shutdown_fn done, void *ud);
/* Frees a server whose shutdown has completed (or that never listened). */
SR_API void sr_server_free(sr_server *srv);

/* ------------------------------------------------------------------ */
/* Accepting streams                                                    */
/* ------------------------------------------------------------------ */

/* Returned by an accept hook. Any other value 400..599 refuses the stream
 * with that status (the message set with sr_request_set_error, if any). */
enum sr_accept {
    SR_ACCEPT = 0,       /* accept, and join the rooms named by ?room= */
    SR_ACCEPT_CUSTOM = 1 /* accept; the hook joined the rooms itself */
};

/* Called for each GET on the SSE path after the ?room= names were checked,
 * before any byte of the response is written. `conn` is usable with sr_join
 * and sr_conn_set_userdata. */
typedef int (*sr_accept_fn)(void *ud, sr_conn *conn, sr_request *req);
SR_API void sr_server_on_accept(sr_server *srv, sr_accept_fn fn, void *ud);

/* Called once for each accepted stream as it goes away (client left,
 * sr_close, slow consumer, shutdown). The sr_conn is freed after it returns. */
typedef void (*sr_close_fn)(void *ud, sr_conn *conn);
SR_API void sr_server_on_close(sr_server *srv, sr_close_fn fn, void *ud);

SR_API const char *sr_request_method(const sr_request *req);
SR_API const char *sr_request_path(const sr_request *req);
/* The n-th (from 0) value of query parameter `name`, percent-decoded;
 * NULL when absent. */
SR_API const char *sr_request_query(const sr_request *req, const char *name, size_t n);
/* A header value by case-insensitive name; NULL when absent. */
SR_API const char *sr_request_header(const sr_request *req, const char *name);
/* The client's address as text ("127.0.0.1"): the TCP peer, or behind a
 * trusted proxy the address it forwarded (trusted_proxies, proxy_protocol). */
SR_API const char *sr_request_peer(const sr_request *req);
/* Message of the JSON error sent when the hook refuses the stream. */
SR_API void sr_request_set_error(sr_request *req, const char *message);
/* The request body (NULL and *len 0 when there is none). */
SR_API const char *sr_request_body(const sr_request *req, size_t *len);
/* A per-server request id ("<connection id>-<request number>"), for logs. */
SR_API const char *sr_request_id(const sr_request *req);

/* Called for each request that no built-in endpoint serves (before the 404).
 * Return 0 after answering with sr_respond, or SR_ENOTFOUND to let the
 * server answer 404. */
typedef int (*sr_request_fn)(void *ud, sr_request *req);
SR_API void sr_server_on_request(sr_server *srv, sr_request_fn fn, void *ud);
/* Answers a request from an sr_request_fn: status, Content-Type (NULL means
 * application/json), body (copied), and extra header lines ("Name: value\r\n",
 * may be NULL). Once per request. */
SR_API int sr_respond(sr_request *req, int status, const char *content_type, const char *body,
                      size_t len, const char *extra_headers);

/* ------------------------------------------------------------------ */
/* Logging                                                              */
/* ------------------------------------------------------------------ */

enum sr_log_level { SR_LOG_DEBUG = 0, SR_LOG_INFO = 1, SR_LOG_WARN = 2, SR_LOG_ERROR = 3 };
/* Receives the server's log events at or above the level set: conn_id is the
 * connection concerned (0 for none), msg one line without a newline (it
 * names the request id where there is one). */
typedef void (*sr_log_fn)(void *ud, int level, uint64_t conn_id, const char *msg);
SR_API void sr_server_on_log(sr_server *srv, sr_log_fn fn, void *ud, int min_level);
/* One field of a structured log line: a string (str != NULL) or an integer. */
typedef struct sr_log_field {
    const char *key;
    const char *str;
    long long num;
} sr_log_field;
/* Like sr_log_fn, with fields: a refused request is msg "request refused:
 * <why>" with status, method, path, client (the trusted-proxy rule's
 * client address), conn, request (its number on the connection) and ms
 * (since the request began). Lines without fields get n_fields 0. */
typedef void (*sr_log_fields_fn)(void *ud, int level, uint64_t conn_id, const char *msg,
                                 const sr_log_field *fields, size_t n_fields);
/* Sets a fields hook in place of the sr_server_on_log one (which keeps the
 * whole text in msg: "request 7-1 /nope: 404 not found (client ...)"). */
SR_API void sr_server_on_log_fields(sr_server *srv, sr_log_fields_fn fn, void *ud, int min_level);

/* ------------------------------------------------------------------ */
/* Connections and rooms                                                */
/* ------------------------------------------------------------------ */

SR_API uint64_t sr_conn_id(const sr_conn *conn);
SR_API sr_conn *sr_conn_find(sr_server *srv, uint64_t id);
SR_API void sr_conn_set_userdata(sr_conn *conn, void *ud);
SR_API void *sr_conn_userdata(const sr_conn *conn);
SR_API sr_server *sr_conn_server(const sr_conn *conn);

/* 0 joined, 1 already a member, or SR_EROOM / SR_ETOOMANYROOMS / SR_ECLOSED. */
SR_API int sr_join(sr_conn *conn, const char *room);
/* 0 left, 1 was not a member. */
SR_API int sr_leave(sr_conn *conn, const char *room);
SR_API void sr_leave_all(sr_conn *conn);
/* Fills out[0..cap) with the connection's rooms in join order (pointers
 * valid until the membership changes); returns how many it is in. */
SR_API size_t sr_conn_rooms(const sr_conn *conn, const char **out, size_t cap);

/* Local members of `room`; 0 when the room does not exist. */
SR_API size_t sr_room_count(const sr_server *srv, const char *room);
/* Fills out[0..cap) with local members; returns the member count. */
SR_API size_t sr_room_members(const sr_server *srv, const char *room, sr_conn **out, size_t cap);
/* Fills out[0..cap) with the names of rooms having local members;
 * returns the room count. */
SR_API size_t sr_rooms(const sr_server *srv, const char **out, size_t cap);

/* ------------------------------------------------------------------ */
/* Sending                                                              */
/* ------------------------------------------------------------------ */

/* Broadcasts to every member of rooms[0..n_rooms); a connection in several
 * of them receives it once. The frame is encoded once and shared; several
 * broadcasts to the same room in one loop turn are queued together at the
 * end of the turn, in publish order and to the members the room had when
 * each was made. Returns the number of local connections it is queued to
 * (the room's members, for a one-room broadcast), or a negative code
 * (SR_EJSON, SR_ENEWLINE, SR_EROOM, SR_EINVAL, SR_ENOMEM, SR_ETOOBIG: data
 * longer than cfg.max_message_bytes, or a non-local broadcast over
 * cfg.max_publish_bytes; SR_EJSON also for data nested deeper than the
 * wire allows, see max_json_depth). Unless
 * opts->local, the message is then handed to the adapter for other nodes.
 * With cfg.history (docs/resume.md) a non-local broadcast gets its id from
 * the history (msg->id must be NULL or "": SR_EINVAL otherwise) and is kept;
 * with a history-keeping adapter (Redis) the local members receive it when
 * it comes back from the adapter, the count is of those members, and
 * SR_EADAPTER means the adapter could not take it. */
SR_API int sr_broadcast(sr_server *srv, const char *const *rooms, size_t n_rooms,
                        const sr_message *msg, const sr_broadcast_opts *opts);
/* Sends to one connection. 0, or SR_EJSON / SR_ENEWLINE / SR_ECLOSED /
 * SR_ETOOBIG (data over cfg.max_message_bytes) / SR_EQUEUE (then the
 * connection is being closed as a slow consumer). With writer threads
 * (cfg.threads > 1) the queue limit is checked by the stream's writer, so
 * SR_EQUEUE is not returned: the stream is closed as a slow consumer a
 * moment later (counted in slow_disconnects, logged, the close hook runs). */
SR_API int sr_send(sr_conn *conn, const sr_message *msg);
/* Ends a stream after its queued frames are written. */
SR_API void sr_close(sr_conn *conn);
/* Ends the stream of every member of `room`; returns how many. */
SR_API int sr_room_close(sr_server *srv, const char *room);
/* Removes every member from `room` (their streams stay open); returns how many. */
SR_API int sr_room_evict(sr_server *srv, const char *room);

/* ------------------------------------------------------------------ */
/* Adapter: how rooms reach other nodes                                 */
/* ------------------------------------------------------------------ */

/* The server calls subscribe when a room gets its first local member and
 * unsubscribe when it loses its last; publish for every non-local
 * broadcast (once, with all its rooms; publish_sequenced instead for
 * sr_broadcast_sequenced); close at shutdown. The adapter
 * hands messages from other nodes to sr_server_deliver_remote. Callbacks
 * run on the server's loop; they must not call back into the server
 * synchronously except sr_rooms / sr_room_count. health is optional: it
 * returns 0 when healthy, else 1 and writes a reason. */
typedef struct sr_adapter {
    void *ctx;
    const char *name; /* "memory", "redis" */
    int (*subscribe)(void *ctx, const char *room);
    int (*unsubscribe)(void *ctx, const char *room);
    int (*publish)(void *ctx, const char *const *rooms, size_t n_rooms, const sr_message *msg,
                   const char *meta, size_t meta_len);
    void (*close)(void *ctx);
    int (*health)(void *ctx, char *reason, size_t cap);
    /* optional: appends ",\"key\":value..." JSON members to /stats and
     * /healthz; returns bytes written (at most cap), or, when they do not
     * fit, a number larger than cap: the buffer size they need (nothing
     * usable is written then, and the server calls again with that much) */
    size_t (*stats_json)(void *ctx, char *out, size_t cap);

    /* Optional, NULL when the adapter cannot share ordered ids between nodes
     * (see "Ordered event ids" below; key and epoch arrive checked). Both
     * return 0 and then call done exactly once, never before returning
     * (close calls it with an error for every call still pending), or a
     * negative code (SR_EADAPTER when the backend is unreachable) and never
     * call done. done's rc is 0 with the id, or negative with the reason.
     *
     * sequence_next: the next id of key, nothing published. */
    int (*sequence_next)(void *ctx, const char *key, const char *epoch, sr_sequence_fn done,
                         void *ud);
    /* publish_sequenced: allocates the next id of key and publishes msg
     * (msg->id ignored) with that id to every room, atomically, so that every
     * node receives sequenced messages in id order; the publishing node too:
     * it gets the message back through sr_server_deliver_remote like any
     * other node (the adapter must not drop it as its own echo), and the
     * server does not deliver it locally before. */
    int (*publish_sequenced)(void *ctx, const char *const *rooms, size_t n_rooms,
                             const sr_message *msg, const char *meta, size_t meta_len,
                             const char *key, const char *epoch, sr_sequence_fn done, void *ud);
    /* Optional: appends Prometheus text-format samples (with their # HELP and
     * # TYPE lines, names prefixed sserooms_) to GET /metrics; returns the
     * bytes it needs (writes only when they fit in cap). */
    size_t (*metrics_text)(void *ctx, char *out, size_t cap);

    /* Optional: history kept by the adapter, shared by every node (see
     * docs/resume.md; NULL: the server keeps history in memory). Same
     * contract as publish_sequenced, except that the id comes from the
     * history sequence (its epoch is kept with the counter) and the message
     * is also appended to each room's history, bounded by lim. */
    int (*history_publish)(void *ctx, const char *const *rooms, size_t n_rooms,
                           const sr_message *msg, const char *meta, size_t meta_len,
                           const sr_history_limits *lim, sr_sequence_fn done, void *ud);
    /* Optional (with history_publish): the kept messages of the rooms after
     * id "<epoch>-<after>", in id order, each once. 0 and done exactly once
     * (never before returning), or a negative code and done never runs.
     * The fetch must only see the history once every subscription made
     * before the call is active, so that nothing published afterwards can
     * be missing from both the answer and the live messages. */
    int (*history_fetch)(void *ctx, const char *const *rooms, size_t n_rooms, const char *epoch,
                         uint64_t after, const sr_history_limits *lim, sr_history_fn done,
                         void *ud);
    /* Optional: publish for a caller that waits for the backend's answer
     * (POST /publish answers 200 only once the message reached it). Returns
     * 0 and calls done exactly once, never before returning: rc 0 when every
     * room was accepted, negative with the reason when one was not. Or
     * returns 1 (done never runs) when the message is held for later (an
     * outbox: POST /publish answers 202), or a negative code with the reason
     * in why (done never runs: 503). Without it the server uses publish and
     * answers from its result (negative: 503). */
    int (*publish_acked)(void *ctx, const char *const *rooms, size_t n_rooms, const sr_message *msg,
                         const char *meta, size_t meta_len, sr_sequence_fn done, void *ud,
                         char *why, size_t why_cap);

    /* Optional: presence across nodes (sr_presence_get). presence_set: the
     * room now has `count` local streams (0: none), called on every join
     * and leave, with the stream's user (NULL: none) and +1 / -1 for it;
     * the adapter coalesces. presence_read: the cluster-wide
     * count, with the contract of sequence_next (0 and fn exactly once,
     * never before returning, or a negative code and fn never runs). */
    void (*presence_set)(void *ctx, const char *room, uint32_t count, const char *user, int delta);
    int (*presence_read)(void *ctx, const char *room, const sr_presence_query *q, sr_presence_fn fn,
                         void *ud);
    /* Optional: the names of the rooms with streams on any live node, in
     * byte order, the first `limit` after `after` ("": from the start), for
     * sr_presence_rooms; the contract of presence_read. Without it the
     * rooms listed are this node's. */
    int (*presence_rooms)(void *ctx, const char *after, unsigned limit, sr_presence_names_fn fn,
                          void *ud);
    /* New members go here, at the end (see "ABI"). */
} sr_adapter;

/* Installs an adapter (copied) in place of the in-memory default; rooms that
 * already have members are subscribed. Call before or after listen.
 * SR_EINVAL for an adapter from a newer header with members this library
 * does not know (see "ABI"). */
#define sr_server_set_adapter(srv, adapter)                                                        \
    sr_server_set_adapter_((srv), (adapter), sizeof(sr_adapter))
SR_API int sr_server_set_adapter_(sr_server *srv, const sr_adapter *adapter, size_t adapter_size);

/* For adapters: logs msg (one line) through the server's log hook
 * (sr_server_on_log), as the server's own lines are. */
SR_API void sr_server_log(sr_server *srv, int level, const char *msg);
/* For adapters with presence events: user's first stream in the cluster
 * joined room (joined 1), or its last one left (0); the server debounces
 * it (presence_debounce_ms) and sends "event: presence" to the room's
 * local streams. */
SR_API void sr_server_presence_event(sr_server *srv, const char *room, size_t room_len,
                                     const char *user, size_t user_len, int joined);
/* For adapters shared by several nodes: makes signed tickets single-use on
 * every node. The server calls claim(ctx, id, id_len, ttl_ms, done, ud)
 * before a ticket opens a stream; the adapter records id for ttl_ms unless
 * some node did before, then calls done(ud, rc, why) exactly once: rc 1
 * when this call claimed id first, 0 when it was claimed before, a negative
 * code (why: the reason) when it cannot tell, which refuses the ticket
 * (503). claim returns 0, or a negative code when done will not be called.
 * NULL claim: tickets are single-use on the node that issued them only.
 * Installing another adapter (sr_server_set_adapter) clears it. */
typedef void (*sr_claim_done_fn)(void *ud, int rc, const char *why);
typedef int (*sr_claim_fn)(void *ctx, const char *id, size_t id_len, uint32_t ttl_ms,
                           sr_claim_done_fn done, void *ud);
SR_API void sr_server_set_ticket_claim(sr_server *srv, sr_claim_fn claim, void *ctx);

/* Delivers a message that came from another node to the local members of
 * `room`. A message with an id reaches each connection at most once even when
 * it arrives once per room of a multi-room broadcast; messages without an id
 * are delivered every time. Returns the local delivery count or a negative
 * code. msg->data must be valid JSON (the adapter validated it). */
SR_API int sr_server_deliver_remote(sr_server *srv, const char *room, size_t room_len,
                                    const sr_message *msg);
/* The same for a copy that carries a de-duplication key (NULL or "": none,
 * then as sr_server_deliver_remote): the publisher gives one key, unique to
 * the broadcast, to every per-room copy of a multi-room broadcast, and a
 * connection in several of its rooms receives it once, with or without an
 * id. A copy reaches the members of `room` that were not in the room of an
 * earlier copy of the same key when that copy arrived: a connection that
 * joins a target room between copies gets it from the next copy for one of
 * its rooms unless an earlier copy reached it. The last 1024 messages are
 * remembered per server. */
SR_API int sr_server_deliver_remote_keyed(sr_server *srv, const char *room, size_t room_len,
                                          const sr_message *msg, const char *dedup);

/* For adapters: the subscription of room was lost at lost_ms and is
 * confirmed again at now_ms (wall-clock ms; Redis restarted or failed over,
 * a connection dropped, a cluster slot moved), so its streams may have
 * missed messages. Call it when the subscription is active again, before
 * delivering any later message of the room: with history in the adapter
 * each member stream is filled from it (or gets the reset event), else it
 * gets cfg.gap_event (docs/resume.md). The Redis adapter calls it itself. */
SR_API void sr_server_room_recovered(sr_server *srv, const char *room, size_t room_len,
                                     uint64_t lost_ms, uint64_t now_ms);

/* An in-process bus joining several servers (each on the same loop thread)
 * as if they were nodes: useful for tests and for embedding several
 * listeners. */
typedef struct sr_memory_bus sr_memory_bus;
SR_API sr_memory_bus *sr_memory_bus_new(void);
SR_API void sr_memory_bus_free(sr_memory_bus *bus);
SR_API int sr_server_attach_memory_bus(sr_server *srv, sr_memory_bus *bus);

/* ------------------------------------------------------------------ */
/* Ordered event ids                                                    */
/* ------------------------------------------------------------------ */

/* Event ids "<epoch>-<counter>" with the counter zero-padded to 12 digits
 * ("0-000000000001"), as the reference's createRedisEventIdSequence({key,
 * epoch}) makes them, so clients that keep a high-watermark (numeric counter,
 * same epoch) accept them in order. With the Redis adapter the counter is the
 * integer at Redis key `key`, incremented with INCRBY key 1, shared with every
 * node and with Node.js writers using the same key. Without Redis (in-memory
 * adapter) each server keeps a counter per key, in memory; the servers of one
 * memory bus share theirs. A custom adapter without the sequence members
 * gives SR_EADAPTER.
 *
 * key: a sequence NAME, not a Redis key: 1..SR_SEQUENCE_KEY_MAX bytes of
 * A-Z a-z 0-9 and - _ . : (anything else is SR_EINVAL). With Redis the
 * counter of name N lives at the key "<channel prefix>seq:N"
 * ("sse:room:seq:N" by default), which a Node.js writer shares by giving
 * createRedisEventIdSequence that key; no name can reach another key.
 * epoch: 1..SR_SEQUENCE_EPOCH_MAX ASCII digits, NULL means "0"; counters run
 * 1..SR_SEQUENCE_COUNTER_MAX, and once a counter is at its end every
 * allocation fails with SR_ETOOBIG (never a wrong id, and the counter is left
 * as it was). At most sr_config.sequence_max_names counters are kept (the
 * least recently used is dropped for a new name past that) and a counter
 * unused for sequence_ttl_ms expires; either starts again at 1 (give a new
 * epoch when clients must never see ids go back). SR_SEQUENCE_ID_MAX bytes
 * hold any id with its NUL. */
#define SR_SEQUENCE_KEY_MAX 128
#define SR_SEQUENCE_EPOCH_MAX 32
#define SR_SEQUENCE_COUNTER_MAX 999999999999ULL
#define SR_SEQUENCE_ID_MAX (SR_SEQUENCE_EPOCH_MAX + 14)

/* 0 when the name and epoch (NULL: "0") are acceptable, else SR_EINVAL. */
SR_API int sr_sequence_check(const char *key, const char *epoch);

/* Allocates the next id of `key`, as the reference's sequence.next() does
 * (INCRBY then format; nothing is published). Returns 0, and done runs once
 * with (0, id) or (negative code, reason): before this returns when counting
 * in memory, later with Redis. Or returns a negative code and done never
 * runs: SR_EINVAL (key, epoch, done), SR_ECLOSED (shutting down),
 * SR_EADAPTER (Redis unreachable, or an adapter without sequences), SR_ENOMEM.
 * Failure codes given to done: SR_EADAPTER (Redis failed or went away),
 * SR_ETOOBIG (counter exhausted), SR_EINVAL (the key holds something other
 * than an integer), SR_ECLOSED (the server shut down first). */
SR_API int sr_sequence_next(sr_server *srv, const char *key, const char *epoch, sr_sequence_fn done,
                            void *ud);

/* Broadcasts msg with the next id of `key` as its id (msg->id is ignored),
 * with the ids of all writers delivered in increasing order everywhere.
 * Returns and calls done as sr_sequence_next does, plus the codes of
 * sr_broadcast for a bad message; done's rc >= 0 is a delivery count.
 *
 * With Redis, one Lua script increments the counter and PUBLISHes the
 * envelope carrying the new id to every room's channel; Redis runs scripts
 * one at a time, so every subscriber receives sequenced messages from any
 * number of nodes in id order. This node's members also receive the message
 * when it comes back from Redis, not before (a smaller id of another node may
 * still be on its way), so done's rc counts the local members of the rooms
 * when Redis's answer arrived, which get it through the node's subscription
 * (a room's first member gets it once that SUBSCRIBE is confirmed, as on any
 * node). The envelope's "n" is "<node id>/seq", so that no node, this one
 * included, drops it as already delivered locally. Without Redis the message
 * is delivered at once (and published on the memory bus) and rc is the local
 * delivery count.
 *
 * opts->local: the id still comes from the shared counter, but the message is
 * only delivered to this node's members, as soon as the id is known; its order
 * against sequenced messages from other nodes is then not guaranteed.
 * opts->except is not supported (SR_EINVAL): local members receive the message
 * the way other nodes do. opts->meta travels in the envelope as usual. */
SR_API int sr_broadcast_sequenced(sr_server *srv, const char *const *rooms, size_t n_rooms,
                                  const sr_message *msg, const sr_broadcast_opts *opts,
                                  const char *key, const char *epoch, sr_sequence_fn done,
                                  void *ud);

/* ------------------------------------------------------------------ */
/* Presence                                                             */
/* ------------------------------------------------------------------ */

/* How many streams `room` has across the cluster (GET /presence). With an
 * adapter that keeps presence (Redis, classic or cluster mode) the count is
 * read from Redis: every node's local count, for the nodes whose liveness
 * key is alive (a node killed drops out within
 * sr_redis_options.presence_ttl_ms; docs/presence.md). Without one, the
 * answer is this node's alone (cluster 0; nodes 1, or 0 for an empty
 * room; members paged by an offset cursor). A
 * stream's user is the "sub" of the JWT that opened it (cfg.auth_*).
 * Returns 0 and fn runs once (at once without Redis, later with it; with
 * rc SR_ECLOSED when the server shuts down first), or a negative code and
 * fn never runs: SR_EROOM (bad name), SR_EINVAL (fn NULL, limit over
 * 1000, a cursor that is not one), SR_EADAPTER
 * (Redis unreachable), SR_ENOMEM. */
SR_API int sr_presence_get(sr_server *srv, const char *room, const sr_presence_query *q,
                           sr_presence_fn fn, void *ud);

/* A page of the rooms with streams on any live node of the cluster (GET
 * /rooms?scope=cluster), each with its counts as sr_presence_get gives
 * them, in byte order of the names. q (NULL: the first 100) gives the
 * limit (rooms per page, 1..1000; 0: 100) and the cursor (the previous
 * page's next_cursor); members is ignored. With Redis the names come from
 * each live node's index of its rooms (a node killed drops out within its
 * presence TTL); without, this node's rooms. A page may hold fewer rooms
 * than the limit (rooms emptied meanwhile are left out) and still have a
 * next_cursor. Returns 0 and fn runs once (at once without an adapter),
 * or a negative code and fn never runs: SR_EINVAL (fn NULL, limit over
 * 1000, a cursor that is not one), SR_EADAPTER, SR_ECLOSED, SR_ENOMEM. */
SR_API int sr_presence_rooms(sr_server *srv, const sr_presence_query *q, sr_presence_rooms_fn fn,
                             void *ud);

/* ------------------------------------------------------------------ */
/* Statistics                                                           */
/* ------------------------------------------------------------------ */

typedef struct sr_stats {
    uint64_t connections;        /* open TCP connections (any kind) */
    uint64_t streams;            /* open SSE streams */
    uint64_t rooms;              /* rooms with local members */
    uint64_t streams_total;      /* streams accepted since start */
    uint64_t requests_total;     /* HTTP requests handled */
    uint64_t messages_in;        /* broadcasts (local API and POST /publish) */
    uint64_t messages_remote_in; /* messages delivered from other nodes */
    uint64_t messages_out;       /* frames queued to streams */
    uint64_t bytes_out;          /* bytes written to sockets */
    uint64_t heartbeats;         /* heartbeat frames queued */
    uint64_t slow_disconnects;   /* streams dropped for a full send queue */
    uint64_t rejected_requests;  /* 4xx/5xx responses */
    uint64_t adapter_errors;     /* adapter publish failures */
    /* New fields go here, at the end (see "ABI"). */
} sr_stats;

#define sr_server_stats(srv, out) sr_server_stats_((srv), (out), sizeof(sr_stats))
SR_API void sr_server_stats_(const sr_server *srv, sr_stats *out, size_t out_size);

/* TLS: reads the certificate and key files again (the paths given at
 * sr_server_new); new connections use them, open ones keep theirs. On
 * failure the previous certificate stays and err says why. SR_ESTATE when
 * TLS is off. */
SR_API int sr_server_reload_tls(sr_server *srv, char *err, size_t errcap);
/* Where TLS records are encrypted: "none" (TLS off), "user" (OpenSSL in
 * user space) or "kernel"; and whether the kernel offers TLS offload. */
SR_API const char *sr_server_tls_path(const sr_server *srv);
SR_API int sr_server_tls_kernel_offered(const sr_server *srv);

#ifdef __cplusplus
}
#endif

/* The Redis adapter, in a header of its own (see there). */
#include <sserooms/redis.h>

#endif /* SSEROOMS_H */
