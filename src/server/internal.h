/* SPDX-License-Identifier: MIT */
/*
 * internal.h: the server's and connections' private structures, shared by
 * the files of src/server, one concern each:
 * - the server: server.c the server object (config, hooks, adapter,
 *   free), listen.c listening, accept.c accepting, flush.c the end-of-turn
 *   flush and heartbeats, shutdown.c the server's handles and the graceful
 *   shutdown, ids.c the id table;
 * - connections: conn.c a connection's life, conn_read.c its requests in,
 *   sendq.c its send queue and writes, transport.c the seam between a send
 *   queue and its socket (plain TCP, TLS), tls_server.c TLS for clients,
 *   h2conn.c HTTP/2 connections and their streams (h2_available.c whether
 *   the build has them), idle.c streams without a libuv handle, writer.c
 *   and writer_feed.c writer threads;
 * - requests: routes.c request dispatch, respond.c responses, publish.c
 *   POST /publish, stream.c opening streams, info.c the information
 *   endpoints, static.c the demo page's files, auth.c, auth_token.c and
 *   auth_tickets.c authorization, revoke.c ending streams for it, clients.c
 *   where a client's address comes from behind proxies, limits.c
 *   connections per client address and refusal counters;
 * - messages: broadcast.c fan-out and rooms, batch.c one turn's broadcasts
 *   to a room, remote.c delivery from other nodes, memory_bus.c the
 *   in-process bus, sequence.c ordered event ids, history.c and
 *   history_resume.c the history and resuming streams, recover.c no silent
 *   gap after a lost subscription, presence.c and presence_events.c
 *   presence;
 * - observe.c logs and /metrics, process.c the process's samples.
 *
 * One owner per piece of state: struct sr_server keeps the server's own
 * fields (its loop, config copy, listener and per-turn handles, connection
 * lists, adapter, the public counters) and one pointer per file whose state
 * it is, to an opaque struct that only that file defines, allocates (its
 * *_new, from sr_server_new) and frees (its *_free, from sr_server_free):
 * remote, seq, limits, observe, batching, ids, hooks, accept_errors,
 * presence, idle, h2, recover, clients, auth, history, writers. Other files
 * reach that state through the owner's functions. Handles that libuv needs
 * at a stable address live in their owner's struct; all of the server's
 * own handles are counted by sr_server_*_init (timer, poll, async) and
 * closed by sr_server_close_handle (open_handles, shutdown.c). server.c bounds
 * sizeof(struct sr_server) with a static assertion.
 */
#ifndef SR_SERVER_INTERNAL_H
#define SR_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/slab.h"
#include "common/table.h"
#include "http/forwarded.h"
#include "http/request.h"
#include "loop/defer.h"
#include "rooms/registry.h"
#include "sse/frame.h"
#include "sse/sendq.h"
#include "sserooms.h"

typedef enum sr_conn_kind {                    /* one bit in sr_conn */
                            SR_CONN_HTTP = 0,  /* reading requests */
                            SR_CONN_STREAM = 1 /* an open SSE stream */
} sr_conn_kind;

/* A response that waits for the adapter (POST /publish: with a sequence or
 * history, the id; else the adapter's acknowledgement, publish_acked).
 * It and its connection point at each other; whichever ends first unlinks. */
typedef struct sr_http_wait {
    sr_conn *conn; /* NULL once the connection closed */
    int delivered; /* a plain publish: the local streams it reached */
    /* A plain publish answered in place (no blocking): its answer's place
     * in the send queue, and what the answer's head needs from its request,
     * which is no longer the connection's current one when it is filled. */
    struct sr_frame *hole;
    struct sr_http_wait *prev, *next; /* the connection's holes (c->http->holes) */
    uint8_t keep, head;
    char *cors;  /* the CORS header lines, or NULL */
    size_t cost; /* its bytes for Redis (sr_publish_cost): c->http->hole_bytes */
    size_t key_len;
    char key[]; /* the sequence key, for error messages */
} sr_http_wait;

/* What a connection needs only while it reads requests; freed when it
 * becomes a stream, so an idle stream holds no parser and no buffers. */
typedef struct sr_conn_http {
    sr_http_request req;
    uv_timer_t timer;        /* request / keep-alive timeout */
    struct sr_request *view; /* the public view handed to the accept hook */
    sr_http_wait *wait;      /* set while the response waits for the adapter */
    sr_http_wait *holes;     /* answers whose place is reserved in the queue */
    uint32_t n_holes;
    size_t hole_bytes;       /* what the holes' publishes weigh (their cost) */
    uint8_t deferred : 1;    /* a parsed request (a stream) waits for the holes */
    char *set_cookie;        /* a "Set-Cookie: ...\r\n" line for the stream's
                                head (auth_tickets.c's session), or NULL */
    sr_buf held;             /* bytes read meanwhile: later pipelined requests */
    uint64_t out_ms;         /* loop time answer bytes were last written (sendq.c) */
    uint64_t req_began_ms;   /* loop time the current request's first byte came */
    size_t out_wq;           /* libuv's write queue size then */
    uint32_t out_kq;         /* bytes the kernel held for the client at the last look */
    sr_ip peer;              /* the TCP peer, or the PROXY header's source (clients.c) */
    sr_ip client;            /* the client of the current request (clients.c) */
    uint8_t backlog : 1;     /* requests wait unread until queued answers drain */
    uint8_t has_client : 1;  /* client is set (and counted in c->addr) */
    uint8_t await_proxy : 1; /* the PROXY header is still to come; held keeps
                                its first bytes */
    uint8_t forwarded : 1;   /* peer is a trusted proxy: each request's
                                headers name its client */
    uint8_t eof : 1;         /* the client half-closed: no more requests; what
                                was read is answered, then the connection ends */
    uint8_t h2_checked : 1;  /* its first bytes were looked at for the
                                HTTP/2 preface (conn_read.c) */
    uint8_t h2_alpn : 1;     /* TLS ALPN chose h2: the preface must come */
    uint64_t read_ns;        /* uv_hrtime() of the last read (conn_read.c) */
    uint64_t answer_ns;      /* a publish's read time, given to its answer's
                                frame to time it (routes.c, sendq.c) */
    size_t pinned;           /* its share of srv->limits->http_pinned (limits.c) */
} sr_conn_http;

/* The public sr_request: a view over a parsed request. */
struct sr_request {
    const sr_http_request *req;
    sr_conn *conn;
    char peer[64];
    char id[48];    /* "<connection id>-<request number>" */
    char *error;    /* set by the accept hook */
    int responded;  /* sr_respond was called */
    uint32_t reqno; /* the connection's request number it shows */
};

/* A write in flight: libuv owns the buffers until the callback. */
typedef struct sr_write {
    uv_write_t req;
    sr_conn *conn;
    uint32_t n_frames; /* frames at the head of the queue this write carries */
    size_t sealed;     /* or: wire bytes of the connection's transport */
    struct sr_write *next_free;
} sr_write;

struct sr_conn {
    uv_tcp_t *tcp; /* its socket's handle (tcp->data is the
                      connection); NULL once it is an idle
                      stream watched by idle.c through fd */
    sr_server *srv;
    sr_member member;
    uint64_t id;
    void *userdata;
    sr_conn *prev, *next; /* the server's connection list */
    sr_conn *dirty_next;  /* the server's to-flush list */
    sr_conn *doomed_next; /* the server's to-close list */
    sr_conn_http *http;   /* only while reading requests */

    struct sr_sendq *sq; /* its send queue while frames wait (sendq.c);
                            NULL: empty (an idle stream holds none) */
    union {
        sr_write *inflight; /* with a handle: at most one uv_write at a time */
        sr_conn *reap_next; /* without one (it never writes through libuv),
                               once closed: the server's list of
                               connections to free (idle.c) */
    };
    struct sr_transport *xport; /* NULL: plain TCP; else TLS (transport.h),
                                   owned by whoever owns the writes */
    struct sr_h2_conn *h2;      /* an HTTP/2 connection: its session (h2conn.c) */
    struct sr_h2_child *h2s;    /* an HTTP/2 stream: a child with no socket of
                                   its own, written through its parent */

    uint8_t kind : 1; /* sr_conn_kind (a bit: the flags, wix and
                         the ints below then leave no hole) */
    uint8_t dirty : 1;
    uint8_t doomed : 1;          /* close once the current fan-out ends */
    uint8_t closing : 1;         /* uv_close called */
    uint8_t end_after_flush : 1; /* close when the queue is empty */
    uint8_t read_stopped : 1;
    uint8_t in_hash : 1;
    uint8_t detached : 1;       /* left its rooms, close hook called */
    uint8_t w_end_sent : 1;     /* writer threads: end asked (writer.c) */
    uint8_t w_detach_sent : 1;  /* writer threads: detach asked */
    uint8_t notify_sent : 1;    /* TLS: close_notify queued after the last answer */
    uint8_t out_wait : 1;       /* idle.c: its full socket is watched for writable */
    uint16_t wix;               /* writer threads: its writer */
    uint32_t wslot;             /* writer threads: slot + 1; 0 = written here */
    uint32_t requests;          /* requests read on this connection */
    int fd;                     /* without a handle (tcp NULL): its socket,
                                   watched by the server's idle set (idle.c);
                                   -1 once closed */
    struct sr_addr_count *addr; /* its client address's entry (limits.c) */
    char *user;                 /* the "sub" of the JWT that opened the
                                   stream (auth_token.c), NULL: anonymous;
                                   presence counts users by it */
    struct sr_conn_hist *hist;  /* history and recovery state, made at its
                                   first use (sr_conn_hist_of); NULL: none */
    int64_t auth_deadline_ms;   /* with auth: Unix ms when its token (exp +
                                   leeway) runs out; 0: none (revoke.c) */
    uint64_t auth_subject;      /* with auth: its token's subject hash
                                   (sr_auth_subject_hash); 0: unknown */
};

/* What every idle stream costs (issue #14: at most 400 B per idle stream
 * with writer threads): grow it only with a reason, or move the new field
 * to a part made on demand (sr_conn_http, sr_conn_hist, sr_sendq). */
_Static_assert(sizeof(struct sr_conn) <= 240, "an idle stream's sr_conn stays small");

/* A connection's send queue (c->sq, sse/sendq.h) is a block of the
 * server's sendq_pool made at the first frame and given back once
 * everything is written, so that idle streams (and streams written by a
 * writer thread) hold only the NULL pointer. */

/* Frames and bytes queued for c (not yet written). */
static inline uint32_t sr_conn_queued(const sr_conn *c) {
    return c->sq ? c->sq->len : 0;
}
static inline size_t sr_conn_queued_bytes(const sr_conn *c) {
    return c->sq ? c->sq->bytes : 0;
}

/* What only some streams need: a history replay or fill, a recovery
 * round. Made at the first write (sr_conn_hist_of) and freed with the
 * connection, so an idle stream that never resumed nor was in a recovery
 * holds none of it; readers use sr_conn_hist_peek. */
typedef struct sr_conn_hist {
    struct sr_resume *resume; /* set while its history replay is fetched
                                 (history_resume.c): live frames wait there */
    uint64_t resume_floor;    /* after a replay from the adapter: live
                                 frames with history ids up to this one were
                                 in the replay (dropped until a newer one) */
    uint64_t recover_round;   /* the last recovery round it was in (recover.c) */
    uint64_t hist_floor;      /* its newest history counter known from a
                                 replay or fill, of epoch generation hist_gen */
    uint32_t hist_gen;
    uint8_t refill; /* a recovery came while its replay was in
                       flight: fill again once it is written */
} sr_conn_hist;

/* c's history state for reading: all zero when it has none. */
extern const sr_conn_hist sr_conn_hist_none;
static inline const sr_conn_hist *sr_conn_hist_peek(const sr_conn *c) {
    return c->hist ? c->hist : &sr_conn_hist_none;
}
/* c's history state for writing, made zeroed at the first call; NULL when
 * out of memory (conn.c). */
sr_conn_hist *sr_conn_hist_of(sr_conn *c);

/* In-memory sequence counters (servers without Redis; see sequence.c):
 * a hash table of pointers to counters, which are also on a list from the
 * most to the least recently used, so that a full table drops its least
 * recently used counter for a new name and expired ones are found last. */
typedef struct sr_seq_counter {
    struct sr_seq_counter *newer, *older; /* the use list */
    uint64_t hash;
    uint64_t value;   /* the last id's counter */
    uint64_t used_ms; /* when it last gave an id (uv_hrtime, ms) */
    size_t key_len;
    char key[];
} sr_seq_counter;

typedef struct sr_seq_table {
    sr_table counters; /* sr_seq_counter by key (its hash: sr_hash of the key) */
    sr_seq_counter *newest, *oldest;
    uint64_t evicted; /* dropped for a new name (table full) */
} sr_seq_table;

typedef struct sr_seq_job sr_seq_job;
typedef struct sr_auth sr_auth; /* auth_int.h */

/* Open connections of one client address (see limits.c). */
typedef struct sr_addr_count {
    uint64_t hash; /* its key in sr_addr_table.entries */
    uint32_t count;
    uint8_t addr[16]; /* IPv6, or IPv4-mapped IPv6 */
} sr_addr_count;

typedef struct sr_addr_table {
    sr_table entries; /* sr_addr_count by address: those with open connections */
    uint8_t key[16];  /* SipHash key, random */
} sr_addr_table;

/* The limits whose refusals /stats and /metrics count. */
typedef enum sr_limit_id {
    SR_LIMIT_CONNECTIONS = 0,      /* max_connections: 503 */
    SR_LIMIT_CONNECTIONS_PER_ADDR, /* max_connections_per_addr: 429 */
    SR_LIMIT_ROOMS_PER_CONN,       /* max_rooms_per_conn: 400 */
    SR_LIMIT_ROOM_NAME,            /* max_room_len and characters: 400 */
    SR_LIMIT_HEADER_BYTES,         /* max_header_bytes: 431 */
    SR_LIMIT_REQUEST_TIME,         /* request_timeout_ms: 408 */
    SR_LIMIT_BODY_BYTES,           /* max_body_bytes: 413 */
    SR_LIMIT_MESSAGE_BYTES,        /* max_message_bytes: 413 / SR_ETOOBIG */
    SR_LIMIT_HTTP_BUFFER,          /* max_http_buffer_bytes: reading held back */
    SR_LIMIT_PUBLISH_BYTES,        /* max_publish_bytes: 413 / SR_ETOOBIG */
    SR_LIMIT_COUNT
} sr_limit_id;

/* Why a connection that owed a PROXY header was closed (clients.c). */
typedef enum sr_proxy_error {
    SR_PROXY_ERR_MALFORMED = 0, /* not a valid v1/v2 header */
    SR_PROXY_ERR_TRUNCATED,     /* the peer closed in the middle of it */
    SR_PROXY_ERR_TIMEOUT,       /* not complete within request_timeout_ms */
    SR_PROXY_ERR_COUNT
} sr_proxy_error;

/* Publish-to-write latency buckets of GET /metrics, in microseconds. */
#define SR_LATENCY_BUCKETS 14
extern const uint64_t sr_latency_bounds_us[SR_LATENCY_BUCKETS];

/* The size of the server's read buffer (srv->scratch). */
#define SR_SCRATCH_SIZE 65536

struct sr_server {
    uv_loop_t *loop;
    uv_loop_t *own_loop; /* sr_server_new made the loop (NULL: the caller's) */
    sr_config cfg;
    char **strings; /* copies of cfg's strings, freed at the end */
    size_t n_strings;

    uv_poll_t listener; /* the listening socket: accept4 is ours (accept.c) */
    int listen_fd;
    char listen_error[256];                 /* sr_server_listen_error */
    int reserve_fd;                         /* kept open to be closed when fds run out (accept.c) */
    struct sr_accept_errors *accept_errors; /* accept(2) failures, counted (accept.c) */
    uint64_t created_unix_ms; /* wall clock at sr_server_new: process_start_time_seconds
                                 when /proc cannot say (process.c) */
    sr_defer *end_of_turn;    /* flushes dirty connections and sweeps once per loop
                                 turn (every turn; armed: poll does not block; flush.c) */
    uv_timer_t heartbeat_timer;
    uv_timer_t grace_timer; /* bounds a graceful shutdown */
    int open_handles;       /* the server's own handles (sr_server_timer_init,
                               ...) not closed yet: shutdown waits for 0 */
    bool listening;
    bool handles_ready;
    bool shutting_down;
    bool shutdown_done;
    sr_shutdown_fn shutdown_cb;
    void *shutdown_ud;
    int bound_port;

    sr_registry *reg;
    sr_adapter adapter;
    bool has_adapter;
    sr_memory_bus *bus;

    sr_conn *conns;               /* every connection (doubly linked) */
    sr_conn *dirty;               /* connections with frames to write */
    sr_conn *doomed;              /* connections to close after a fan-out */
    int fanout_depth;             /* >0 while iterating room members */
    struct sr_batching *batching; /* this turn's broadcasts to one room and the
                                   sweep in progress (batch.c) */
    uint64_t next_conn_id;

    struct sr_id_table *ids; /* id -> stream lookup for sr_conn_find (ids.c) */

    sr_write *free_writes;
    sr_frame *heartbeat_frame;
    sr_frame *sse_head_frame; /* the response head without CORS lines */
    char *scratch;            /* SR_SCRATCH_SIZE bytes: every read lands here;
                                 parsers copy what they keep */

    struct sr_sequence *seq; /* in-memory counters and calls waiting for
                                the adapter (sequence.c) */

    struct sr_remote *remote; /* remote copies recently delivered (remote.c) */

    struct sr_hooks *hooks; /* the accept, close and request hooks (server.c) */

    sr_auth *auth;                       /* JWT authorization; NULL: anonymous */
    struct sr_server_tls *tls;           /* TLS for clients (tls_server.c); NULL: plain */
    sr_stats stats;                      /* the public counters, written by every file */
    struct sr_observe *observe;          /* /metrics histograms, the log hook, the stats
                                            room's timer (observe.c) */
    struct sr_limits *limits;            /* connections per client address, refusals,
                                            the HTTP budget (limits.c) */
    struct sr_clients *clients;          /* trusted proxies and their counters (clients.c) */
    struct sr_history *history;          /* cfg.history > 0: ids, kept messages and
                                            replays in flight (history*.c) */
    struct sr_writers *writers;          /* writer threads (writer.c); NULL: none */
    struct sr_recover *recover;          /* watermark, recovery rounds and their timer
                                            (recover.c) */
    struct sr_h2_counters *h2;           /* HTTP/2 counters (h2conn.c) */
    struct sr_presence_events *presence; /* debounced leave events (presence_events.c) */
    /* With Redis (sr_server_set_ticket_claim from use.c, cleared when the
     * adapter is replaced): the one-time claim that makes a signed ticket
     * single-use on every node (auth_tickets.c). NULL: tickets are single-use on
     * their issuing node only. */
    sr_claim_fn ticket_claim;
    void *ticket_claim_ctx;
    struct sr_idle *idle;    /* streams without a libuv handle: their epoll
                                set and the closed ones to free (idle.c) */
    sr_slab_pool conn_pool;  /* every sr_conn's block (conn.c): no malloc
                                header, no fragmentation between streams */
    sr_slab_pool sendq_pool; /* the send queues of connections with
                                frames waiting (sendq.c) */
};

/* conn.c (a connection's life), conn_read.c (requests in), sendq.c (the
 * send queue and its writes) */
sr_conn *sr_conn_new(sr_server *srv);
int sr_conn_start(sr_conn *c);                 /* after uv_accept */
void sr_conn_enqueue(sr_conn *c, sr_frame *f); /* takes a new reference */
void sr_conn_enqueue_bytes(sr_conn *c, const char *bytes, size_t len);
void sr_conn_flush(sr_conn *c);
void sr_conn_close_now(sr_conn *c);
void sr_conn_end(sr_conn *c); /* close after the queue drains */
void sr_server_flush_dirty(sr_server *srv);
void sr_server_close_doomed(sr_server *srv);
void sr_conn_become_stream(sr_conn *c);
/* After the response of a request that waited (c->http->wait): goes on
 * with the requests that arrived meanwhile. */
void sr_conn_resume(sr_conn *c);
/* Reserves the place of w's answer at the end of the send queue (an HTTP
 * connection): nothing queued after it is written until sr_conn_fill puts
 * the answer there, so answers keep the order of requests while later
 * pipelined requests go on being handled. Links w to c (release unlinks
 * it). SR_OK, or SR_ENOMEM. */
int sr_conn_hole(sr_conn *c, sr_http_wait *w);
/* Puts the answer bytes in w's place and unlinks w; the queue writes on.
 * When it was the last hole, a request deferred for it is handled. */
void sr_conn_fill(sr_conn *c, sr_http_wait *w, const char *bytes, size_t len);
/* Answers held in place at most per connection; past it a publish blocks
 * the connection's later requests (c->http->wait) until it is answered. */
#define SR_CONN_MAX_HOLES 1024
/* ... and at most this many bytes of publishes (sr_publish_cost) in them:
 * a pipelining client cannot make the node hold more than this for it. */
#define SR_CONN_MAX_HOLE_BYTES (16u << 20)
/* Takes the first frame out of c's queue (its reference with it), NULL
 * when it is empty: the queue moving to a writer thread (writer_feed.c). */
sr_frame *sr_conn_queue_pop(sr_conn *c);
/* Request bytes for c, as if read from its socket (HTTP/2 streams). */
void sr_conn_feed(sr_conn *c, const char *data, size_t len);
void sr_conn_mark_dirty(sr_conn *c);
void sr_conn_doom(sr_conn *c); /* close once the fan-out is over */
/* TLS: ALPN chose h2, so the connection speaks HTTP/2 from its first byte. */
void sr_conn_use_h2(sr_conn *c);
/* Bytes read from a stream's socket (idle.c): dropped for a plain stream
 * or one whose writer thread owns its transport, else opened by its TLS
 * transport (a close_notify or a failure closes it, a KeyUpdate's answer
 * is flushed). 0, or -1 when c was closed. */
int sr_conn_stream_read(sr_conn *c, const char *data, size_t len);

/* idle.c: streams without a libuv handle */
/* Moves c's socket out of its uv_tcp_t (closed and freed) into the
 * server's idle set: a stream (plain or TLS) not written by this loop
 * right now. 0, or -1 when it keeps its handle (HTTP/2, a write in
 * flight, no fd to spare). */
int sr_idle_take(sr_conn *c);
/* A full socket: watch it for writable (then sr_conn_flush) or stop.
 * 0, or -1 (epoll failed: close it). */
int sr_idle_want_out(sr_conn *c, bool on);
/* Stops watching c's socket (it is closing; the fd stays open). */
void sr_idle_forget(sr_conn *c);
/* Closes c's socket and frees c at the end of the loop turn. */
void sr_idle_close_fd(sr_conn *c);
/* Frees the connections closed so far (end of the flush check, shutdown). */
void sr_idle_reap(sr_server *srv);
/* Closes the idle set's poll handle (at shutdown). */
void sr_idle_shutdown(sr_server *srv);
int sr_idle_new(sr_server *srv);   /* SR_OK or SR_ENOMEM; the set is made later */
void sr_idle_free(sr_server *srv); /* after its handle closed */
/* conn.c: frees a connection whose socket is closed. */
void sr_conn_free(sr_conn *c);

/* h2conn.c: HTTP/2 connections (c->h2) and their streams (c->h2s) */
int sr_h2c_start(sr_conn *c); /* the preface came: c speaks HTTP/2 */
void sr_h2c_read(sr_conn *c, const char *data, size_t len);
void sr_h2c_flush(sr_conn *c);     /* writes the session's output */
void sr_h2c_end(sr_conn *c);       /* GOAWAY, close once its streams ended */
int sr_h2c_idle(const sr_conn *c); /* 1: no open stream */
void sr_h2c_closing(sr_conn *c);   /* closes its streams */
/* A stream's bytes: the first are its HTTP/1.1 response head. 0, or
 * SR_EQUEUE (a slow consumer) or another error: close the stream. */
int sr_h2c_stream_write(sr_conn *c, sr_frame *f);
void sr_h2c_stream_closed(sr_conn *c);       /* ends or resets the stream */
void sr_h2c_free(sr_conn *c);                /* at the handle's close */
void sr_h2c_json(sr_server *srv, sr_buf *b); /* ,"http2":{...} in /stats */
void sr_h2c_metrics(sr_server *srv, sr_buf *b);
int sr_h2c_counters_new(sr_server *srv); /* SR_OK or SR_ENOMEM */
void sr_h2c_counters_free(sr_server *srv);
uint64_t sr_h2c_streams(const sr_server *srv); /* open HTTP/2 streams */
void sr_h2c_count_violation(sr_server *srv);   /* a client's protocol error */
void sr_h2c_count_refused(sr_server *srv);     /* a stream refused */
/* Main loop: streams of c that closed while its writer held the session
 * (writer.h, SR_GONE_H2_STREAMS) are closed now. */
void sr_h2c_reap(sr_conn *c);
/* Main loop: takes c's session lock when a writer shares it (true), for
 * the transport's input (conn_read.c); sr_h2c_release lets go. */
bool sr_h2c_hold(sr_conn *c);
void sr_h2c_release(sr_conn *c);

/* h2conn.c, the writer thread's side of an HTTP/2 connection it owns
 * (writer.c). Everything between sr_h2c_wlock and sr_h2c_wunlock runs under
 * the session's lock, which the main loop takes for its own session calls;
 * the context collects what the writer accounts for. */
typedef struct sr_h2c_wctx {
    uint64_t latency[SR_LATENCY_BUCKETS + 1]; /* frames written, by publish-to-write time */
    uint64_t latency_sum_us;
    bool timed;    /* latency has counts */
    size_t bytes;  /* bytes written to the socket */
    uint32_t slow; /* streams reset as slow consumers */
    bool closed;   /* streams closed: the main loop reaps them */
} sr_h2c_wctx;
void sr_h2c_wlock(sr_conn *c, sr_h2c_wctx *x);
void sr_h2c_wunlock(sr_conn *c);
/* Applies a stream command (writer.h, SR_WH2_*); f's reference stays the
 * caller's. */
void sr_h2c_wcommand(sr_conn *c, int what, int32_t sid, sr_frame *f, uint32_t error);
/* Writes the session's output to fd: 0 (*blocked when the socket is
 * full), 1 when the connection is done (close it), -1 on error. */
int sr_h2c_wflush(sr_conn *c, int fd, bool *blocked);

/* routes.c (dispatch), respond.c (responses) */
void sr_routes_dispatch(sr_conn *c); /* a complete request */
void sr_routes_error(sr_conn *c, int status, const char *message, bool close_after);
void sr_routes_json(sr_conn *c, int status, const char *json, size_t len,
                    const char *extra_headers);
void sr_routes_body(sr_conn *c, int status, const char *content_type, const char *body, size_t len,
                    const char *extra_headers);
/* Appends s[0..n) as a JSON string with sr_json_quote_inert: whatever the
 * server writes from client text escapes C0, C1 and bidi controls. */
void sr_buf_json_str(sr_buf *b, const char *s, size_t n);
/* 0: no grant; SR_CORS_ANY: allowed by "*"; SR_CORS_LISTED: named in
 * cors_origins, the only case that also allows credentials (cookies). */
enum { SR_CORS_ANY = 1, SR_CORS_LISTED = 2 };
int sr_cors_allowed(const sr_server *srv, const char *origin);
/* Appends the CORS response lines for origin (none when not allowed). */
void sr_cors_lines(const sr_server *srv, const char *origin, sr_buf *b);

/* info.c */
void sr_stats_json(sr_server *srv, sr_buf *b); /* the /stats object */
void sr_info_healthz(sr_conn *c);
void sr_info_livez(sr_conn *c);
void sr_info_readyz(sr_conn *c);
void sr_info_rooms(sr_conn *c);
/* presence.c: GET /presence; presence_events.c: the room's local count
 * changed (join/leave). */
void sr_presence_http(sr_conn *c);
/* GET /rooms?scope=cluster: a page of the rooms with members anywhere. */
void sr_presence_rooms_http(sr_conn *c);
void sr_presence_room_changed(sr_server *srv, const sr_room *room, const sr_member *m, int joined);
/* A user's first stream in the cluster joined room (joined 1) or its last
 * left (0): debounced, then "event: presence" to the room's streams. */
void sr_presence_event(sr_server *srv, const char *room, size_t room_len, const char *user,
                       size_t user_len, int joined);
int sr_presence_new(sr_server *srv);    /* SR_OK or SR_ENOMEM */
void sr_presence_start(sr_server *srv); /* at listen: the debounce timer */
void sr_presence_close(sr_server *srv); /* at shutdown: closes the timer */
/* Frees the debounce state (after the timer closed). */
void sr_presence_free(sr_server *srv);
void sr_info_stats(sr_conn *c);
void sr_adapter_stats_json(sr_server *srv, sr_buf *b);

/* stream.c */
void sr_stream_open(sr_conn *c);
/* The rest of sr_stream_open once authorization let it in (auth_tickets.c calls
 * it after a ticket's claim came back from Redis). */
void sr_stream_open_authorized(sr_conn *c, size_t n_rooms);
sr_request *sr_request_view(sr_conn *c);

/* observe.c: logs, /metrics, the stats room */
void sr_log(sr_server *srv, int level, uint64_t conn_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A line with fields: a fields hook gets msg and the fields, a plain hook
 * the text formatted from fmt (the same line as before fields existed). */
void sr_log_kv(sr_server *srv, int level, uint64_t conn_id, const char *msg,
               const sr_log_field *fields, size_t n_fields, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void sr_metrics_rejected(sr_server *srv, int status);
void sr_metrics_latency(sr_server *srv, uint64_t us, uint32_t msgs); /* msgs messages written */
void sr_metrics_answer(sr_server *srv, uint64_t us); /* a publish's answer written */
/* ,"publish_answer_us":{...},"sweep":{...} in /stats */
void sr_metrics_engine_json(sr_server *srv, sr_buf *b);
void sr_routes_metrics(sr_conn *c);
/* One Prometheus family of one sample without labels: its HELP and TYPE
 * lines and "sserooms_<name> <v>" (name without the sserooms_ prefix). */
void sr_metric_counter(sr_buf *b, const char *name, const char *help, uint64_t v);
void sr_metric_gauge(sr_buf *b, const char *name, const char *help, uint64_t v);
void sr_stats_room_start(sr_server *srv); /* at listen: the stats room's timer */
void sr_stats_room_close(sr_server *srv); /* at shutdown */
int sr_observe_new(sr_server *srv);       /* SR_OK or SR_ENOMEM */
void sr_observe_free(sr_server *srv);     /* after the timer closed */
/* The sweep counters of batch.c and the slice times of flush.c's end-of-turn flush. */
typedef enum sr_sweep_count { SR_SWEEP_BEGUN, SR_SWEEP_SLICE, SR_SWEEP_FORCED } sr_sweep_count;
void sr_metrics_sweep(sr_server *srv, sr_sweep_count which);
void sr_metrics_slice_time(sr_server *srv, uint64_t ns);

/* auth.c, auth_token.c, auth_tickets.c: JWT authorization (NULL srv->auth: every call is a no-op or
 * must not be made). The functions taking a conn answer the request
 * themselves when they return -1. */
struct sr_grants;
int sr_auth_new(sr_server *srv, const sr_config *in); /* after copy_config */
void sr_auth_start(sr_server *srv);                   /* at listen: the sweep timer */
void sr_auth_close(sr_server *srv);                   /* at shutdown */
void sr_auth_free(sr_server *srv);
/* GET /sse, before the accept hook: 0 (let in), -1 (answered), or 1: a
 * ticket's claim waits for Redis (c->http->wait); the stream then goes on
 * in sr_stream_open_authorized, or is answered 401 / 503. */
int sr_auth_stream(sr_conn *c, size_t n_rooms);
int sr_auth_bearer_grants(sr_conn *c, struct sr_grants *g); /* 401 without a valid token */
int sr_auth_publish_allowed(sr_conn *c, const struct sr_grants *g, const char *const *rooms,
                            size_t n); /* 403 for a room not granted */
int sr_auth_sequence_allowed(sr_conn *c, const struct sr_grants *g,
                             const char *name); /* 403: "sequences" claim */
void sr_auth_tickets(sr_conn *c);               /* POST /tickets */
int sr_auth_admin(sr_conn *c);                  /* admin routes: 0, or -1 after answering 401/403 */
uint64_t sr_auth_subject_hash(const char *sub, size_t len); /* a "sub" as conn->auth_subject */
const char *sr_auth_expiry_event(const sr_server *srv);
void sr_auth_count_ended(sr_server *srv, int disconnected); /* streams ended by revoke.c */

/* revoke.c: streams end when their token runs out (sr_revoke_sweep, run by
 * auth.c's expiry timer) or on POST /disconnect, here and, through the
 * adapter's control channel (SR_CONTROL_ROOM), on every node. */
#define SR_CONTROL_ROOM "#sserooms-control" /* never a valid room name */
void sr_revoke_sweep(sr_server *srv);
void sr_revoke_http(sr_conn *c);                              /* POST /disconnect */
int sr_revoke_control(sr_server *srv, const sr_message *msg); /* from another node */
int sr_revoke_wanted(const sr_server *srv);                   /* subscribe the control channel? */
int sr_routes_key_equal(const char *a, size_t alen, const char *b, size_t blen);
void sr_auth_stats_json(sr_server *srv, sr_buf *b); /* ,"auth":{...} in /stats */
void sr_auth_metrics_text(sr_server *srv, sr_buf *b);

/* static.c: files under cfg.web_root */
int sr_static_serve(sr_conn *c); /* 1 served, 0 not a static path */
struct stat;
/* Opens the regular file `name` (one path component) of the folder root
 * for reading without following a symbolic link or blocking (FIFO): the
 * fd with *st filled, or -1 with errno. no_openat2: use the openat +
 * O_NOFOLLOW fallback even where openat2 exists (tests cover both). */
int sr_static_open(const char *root, const char *name, int no_openat2, struct stat *st);

/* broadcast.c */
typedef struct sr_msg_parts {
    const char *id;
    size_t id_len;
    const char *event;
    size_t event_len;
    const char *data;
    size_t data_len;
    uint32_t retry;
} sr_msg_parts;
int sr_msg_parts_from(const sr_message *msg, unsigned max_depth, sr_msg_parts *out);
int sr_fanout(sr_server *srv, sr_room *const *rooms, size_t n, const sr_msg_parts *m,
              sr_conn *const *except, size_t n_except, uint64_t stamp, bool may_batch);
int sr_broadcast_parts(sr_server *srv, const char *const *rooms, size_t n_rooms,
                       const sr_msg_parts *m, const sr_broadcast_opts *opts);
/* Queues f for one member of a fan-out (held or filtered while its replay
 * is in progress); 1 when it was queued or held, 0 when not. */
int sr_deliver_to(sr_conn *c, sr_frame *f);

/* batch.c: this turn's broadcasts to one room, delivered together */
/* Adds f (a new reference) to the pending batch of room, delivering the
 * pending one first when it is for another room or full. */
int sr_batch_add(sr_server *srv, sr_room *room, sr_frame *f);
/* Delivers all of the sweep in progress and the pending batch, if any. */
void sr_batch_deliver(sr_server *srv);
/* The end-of-turn step (flush.c): one slice of the sweep in
 * progress, starting one from the pending batch first when there is none.
 * Returns 1 when a slice ran. */
int sr_batch_step(sr_server *srv);
/* 1 while a sweep or a batch waits for later turns. */
int sr_batch_pending(const sr_server *srv);
/* 1 inside a slice of a sweep. */
int sr_batch_sweeping(const sr_server *srv);
int sr_batch_new(sr_server *srv); /* SR_OK or SR_ENOMEM */
void sr_batch_free(sr_server *srv);
/* Called before anything that must not overtake the pending batch or the
 * sweep in progress; inside a slice, what the slice queues is the sweep. */
void sr_batch_barrier(sr_server *srv);

/* history.c, history_resume.c (see history.h) */
struct sr_resume;
/* The frame of a live message for a connection whose replay is in flight:
 * kept (a new reference) until the replay is written. */
void sr_resume_hold(sr_conn *c, sr_frame *f);
/* For a connection with resume_floor set: 1 when the frame was already in
 * its replay (drop it), else 0 (the floor is cleared once a newer one
 * passes). */
int sr_resume_filter(sr_conn *c, const sr_frame *f);

/* remote.c */
int sr_remote_new(sr_server *srv);   /* SR_OK or SR_ENOMEM */
void sr_remote_free(sr_server *srv); /* also the history (history.c) */

/* sequence.c */
/* Writes "<epoch>-<counter, 12 digits>" into out[0..cap); the id's length,
 * or SR_ETOOBIG (counter 0 or past the maximum, or cap too small). */
int sr_sequence_format(char *out, size_t cap, const char *epoch, uint64_t counter);
/* Starts a sequenced broadcast (rooms != NULL) or an allocation (rooms NULL)
 * of checked arguments (epoch NULL: "0"). Returns 1 when the adapter took it
 * (done runs later, exactly once), 0 when it completed at once (*delivered
 * set, the id in text; done not called), or a negative code with the reason
 * in text (done not called). text_cap >= SR_SEQUENCE_ID_MAX. */
int sr_sequence_start(sr_server *srv, const char *const *rooms, size_t n_rooms,
                      const sr_msg_parts *m, const sr_broadcast_opts *opts, const char *key,
                      const char *epoch, sr_sequence_fn done, void *ud, int *delivered, char *text,
                      size_t text_cap);
/* At shutdown, after the adapter closed: fails the calls still waiting. */
void sr_sequence_shutdown(sr_server *srv);
void sr_seq_table_free(sr_seq_table *t);
int sr_sequence_new(sr_server *srv);             /* SR_OK or SR_ENOMEM */
void sr_sequence_free(sr_server *srv);           /* fails what waits, frees the counters */
sr_seq_table *sr_sequence_table(sr_server *srv); /* this server's own counters */

/* memory_bus.c */
sr_seq_table *sr_memory_bus_sequences(sr_memory_bus *bus);

/* limits.c */
void sr_limit_refused(sr_server *srv, sr_limit_id which);
/* 0, or SR_ETOOBIG (counted) when data_len is over max_message_bytes. */
int sr_limit_message(sr_server *srv, size_t data_len);
/* Counts c against the client address addr (see clients.c for where it
 * comes from); returns the address's count with it, -1 when out of memory.
 * Once per connection, unless sr_addr_release came between. */
int64_t sr_addr_acquire(sr_server *srv, sr_conn *c, const sr_ip *addr);
/* The bytes a broadcast sends to other nodes, as max_publish_bytes counts
 * them: rooms x (data + meta + id + event); 0 when it stays on this node
 * (local, or no adapter). */
size_t sr_publish_cost(const sr_server *srv, size_t n_rooms, const sr_msg_parts *m, size_t meta_len,
                       int local);
/* 0, or SR_ETOOBIG (counted) when cost is over max_publish_bytes. */
int sr_limit_publish(sr_server *srv, size_t cost);
/* The nesting levels a message's data may have: what every node's adapter
 * reads envelopes with (SR_WIRE_JSON_DEPTH, or max_json_depth when lower)
 * less the envelope's two levels, so that a message accepted here is
 * never dropped as too deep by another node. meta may have one more. */
unsigned sr_limit_data_depth(const sr_server *srv);
void sr_addr_release(sr_server *srv, sr_conn *c); /* when c is freed */
int sr_limits_new(sr_server *srv);                /* SR_OK or SR_ENOMEM */
void sr_limits_free(sr_server *srv);              /* after the last connection closed */
/* The open connections per client address (clients.c's top clients). */
const sr_addr_table *sr_addr_table_of(const sr_server *srv);
/* Brings c's share of the HTTP budget (queued answers, held requests,
 * parser buffers while it reads requests) up to date. */
void sr_http_budget_update(sr_conn *c);
/* True when HTTP connections together pin more than max_http_buffer_bytes. */
int sr_http_budget_over(const sr_server *srv);
void sr_limits_json(sr_server *srv, sr_buf *b);    /* ,"limits":{..},"refused":{..} */
void sr_limits_metrics(sr_server *srv, sr_buf *b); /* Prometheus samples */
enum { SR_ACCEPT_ERR_EMFILE, SR_ACCEPT_ERR_ENFILE, SR_ACCEPT_ERR_NOMEM, SR_ACCEPT_ERR_OTHER };
/* Accept errors: ",\"accept_errors\":{...},\"accept_dropped\":N" (accept.c). */
void sr_accept_stats_json(sr_server *srv, sr_buf *b);
/* sserooms_accept_errors_total{reason} and sserooms_accept_dropped_total. */
void sr_accept_metrics(sr_server *srv, sr_buf *b);
/* sserooms_build_info and the process collector's samples (process.c). */
void sr_process_metrics(sr_server *srv, sr_buf *b);

/* clients.c: a connection's client address: its TCP peer, the source of
 * its PROXY header, or (from a trusted proxy) each request's forwarding
 * headers; counted against max_connections_per_addr once known. */
/* Parses cfg->trusted_proxies into *out (malloc'd, *n ranges). 0, or
 * SR_EINVAL with a sentence in err (may be NULL), or SR_ENOMEM. */
int sr_trusted_parse(const sr_config *cfg, sr_cidr **out, size_t *n, char *err, size_t errcap);
int sr_clients_new(sr_server *srv, const sr_config *in); /* after copy_config */
void sr_clients_free(sr_server *srv);
/* A connection just accepted: starts it, and counts it against its peer's
 * address unless a PROXY header or the requests will name the client. */
void sr_client_accept(sr_conn *c);
/* The PROXY header arrived: its source is the connection's peer from now
 * on. 0, or -1 when the connection was refused (answered and ending). */
struct sr_proxy_header;
int sr_client_proxy_done(sr_conn *c, const struct sr_proxy_header *h);
/* The PROXY header failed (why: the parser's reason, or NULL): counted,
 * logged, and the connection closed. */
void sr_client_proxy_failed(sr_conn *c, sr_proxy_error reason, const char *why);
/* A complete request: from a trusted proxy its headers name the client,
 * which is counted instead of the previous request's. 0 to go on, -1 when
 * the request was refused (answered). */
int sr_client_request(sr_conn *c);
/* A new HTTP/2 stream (child) of parent: its peer is the parent's, and it
 * counts once more against its client's address, as an HTTP/1.1
 * connection per stream would (from a trusted proxy, sr_client_request
 * counts it when its request names the client). 0 to go on, -1 when
 * refused (answered 429 on the stream, counted). */
int sr_client_stream(sr_conn *child, const sr_conn *parent);
/* The client address of c's current request as text ("-" when unknown). */
const char *sr_client_text(const sr_conn *c, char *buf, size_t cap);
void sr_clients_json(sr_server *srv, sr_buf *b);    /* ,"proxy":{..},"top_clients":[..] */
void sr_clients_metrics(sr_server *srv, sr_buf *b); /* Prometheus samples */

/* server.c: the program's hooks (sr_server_on_accept, _on_close,
 * _on_request): the function, NULL when none is set, and its ud in *ud. */
sr_accept_fn sr_server_accept_hook(const sr_server *srv, void **ud);
sr_close_fn sr_server_close_hook(const sr_server *srv, void **ud);
sr_request_fn sr_server_request_hook(const sr_server *srv, void **ud);

/* shutdown.c */
/* The server's own handles (timers and polls of any file, not the
 * connections'): each is counted in open_handles by the helper that
 * initialises it (h->data is the server) and counted down by
 * sr_server_close_handle's callback, so the shutdown, which waits for the
 * count to come back to 0, cannot miss one. 0, or a libuv error. */
int sr_server_timer_init(sr_server *srv, uv_timer_t *t);
int sr_server_poll_init(sr_server *srv, uv_poll_t *p, int fd);
int sr_server_async_init(sr_server *srv, uv_async_t *a, uv_async_cb cb);
void sr_server_close_handle(sr_server *srv, uv_handle_t *h);
void sr_server_handle_closed(sr_server *srv);
void sr_server_conn_gone(sr_server *srv); /* a connection finished closing */

/* accept.c: the listener (srv->listener on the socket listen.c bound) */
int sr_accept_new(sr_server *srv); /* SR_OK or SR_ENOMEM: the counters */
void sr_accept_free(sr_server *srv);
/* Starts accepting on the listening socket fd: SR_OK, or SR_EIO (the
 * caller closes fd). */
int sr_accept_start(sr_server *srv, int fd);
void sr_accept_stop(sr_server *srv); /* at shutdown: closes the listener */

/* flush.c: the end-of-turn flush (srv->end_of_turn) and heartbeats */
/* Makes the end-of-turn defer (no handle yet): SR_OK or SR_ENOMEM. */
int sr_flush_prepare(sr_server *srv);
void sr_flush_start(sr_server *srv);           /* at listen: every turn, heartbeats */
void sr_flush_stop_heartbeats(sr_server *srv); /* at shutdown */
void sr_flush_close(sr_server *srv);           /* closes the defer and the timer */
void sr_flush_free(sr_server *srv);            /* a defer never started */
/* Makes the loop run its end-of-turn flush (flushes, batches, hand-overs)
 * this turn instead of blocking in poll first. */
void sr_server_want_check(sr_server *srv);

/* ids.c: id -> stream, for sr_conn_find */
int sr_ids_new(sr_server *srv); /* SR_OK or SR_ENOMEM */
void sr_ids_free(sr_server *srv);
void sr_server_id_insert(sr_server *srv, sr_conn *c);
void sr_server_id_remove(sr_server *srv, sr_conn *c);

static inline sr_conn *sr_conn_of_member(sr_member *m) {
    return (sr_conn *)((char *)m - offsetof(sr_conn, member));
}

/* True when c is on its way out: closed (closing), to be closed once the
 * current fan-out is over (doomed), or to be closed once its queue is
 * written (end_after_flush). Nothing new is queued to such a connection,
 * and it counts no more as a live stream. */
static inline bool sr_conn_is_ending(const sr_conn *c) {
    return c->closing || c->doomed || c->end_after_flush;
}

#endif
