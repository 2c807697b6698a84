/* SPDX-License-Identifier: MIT */
/*
 * conn_int.h: one Redis connection's state, shared by conn.c (the
 * connection: attempts, commands, replies, keepalive, life cycle) and
 * conn_tls.c (its TLS layer for rediss://). Not for other files.
 */
#ifndef SR_REDIS_CONN_INT_H
#define SR_REDIS_CONN_INT_H

#include <sys/socket.h>

#include "loop/defer.h"
#include "redis/conn.h"
#include "tls/tls.h"

/* conn.c: a getaddrinfo in flight, and one entry of the reply FIFO */
typedef struct resolve_req resolve_req;
typedef struct pending pending;

/* One connection attempt: the socket handle, its connect request and its
 * reply reader (and, for rediss://, the TLS session). Orphaned (owner =
 * NULL) when the attempt is torn down; libuv's late callbacks then only
 * free memory. */
typedef struct transport {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
    uv_connect_t connect_req;
    sr_rconn *owner; /* NULL once orphaned */
    redisReader *reader;
    char *rbuf;
    sr_tls *tls;     /* rediss://: the session; NULL for plain TCP */
    int feed_failed; /* the reader refused what the session opened */
} transport;

/* One uv_write of formatted commands (or TLS records) and its buffers. */
typedef struct write_req {
    uv_write_t req;
    transport *t;
    unsigned nbufs;
    uv_buf_t bufs[];
} write_req;

struct sr_rconn {
    uv_loop_t *loop;
    sr_rconn_callbacks cbs;
    void (*on_unsolicited)(void *ud, sr_rconn *c, redisReply *push);
    void (*on_drain)(void *ud, sr_rconn *c);
    sr_rconn_options opts;
    sr_redis_url url;
    char where[300];
    char last_error[512];
    sr_rconn_state state;
    int started;

    transport *t;
    resolve_req *resolving;
    struct sockaddr_storage *addrs; /* from getaddrinfo, tried in order */
    size_t n_addrs, next_addr;
    enum { PHASE_RESOLVE, PHASE_CONNECT, PHASE_HANDSHAKE } phase;
    char connect_err[400];

    uv_timer_t connect_timer; /* bounds one attempt */
    uv_timer_t retry_timer;   /* back-off before the next attempt */
    uv_timer_t ping_timer;    /* keepalive */
    int open_handles;
    uint64_t retry_due;
    unsigned attempt; /* failures since the last success */
    int ping_outstanding;
    uint64_t up_count;

    /* formatted commands not yet handed to uv_write */
    uv_buf_t *out;
    unsigned n_out, cap_out;
    size_t out_bytes;
    sr_defer *flush;

    /* reply FIFO (ring) */
    pending *fifo;
    size_t fifo_head, fifo_len, fifo_cap;
};

/* conn.c */
/* The one path for every failure: record, tear down, schedule the retry,
 * fail pending commands, tell the owner. */
void sr_rconn_fail(sr_rconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees the formatted commands not yet handed to uv_write. */
void sr_rconn_free_out(sr_rconn *c);
/* Queues AUTH, SELECT and PING: the connection is up once PING answers. */
void sr_rconn_send_handshake(sr_rconn *c);
/* A write_req's uv_write is done. */
void sr_rconn_on_write(uv_write_t *req, int status);

/* conn_tls.c */
/* Starts the TLS session on a connected transport (its ClientHello). */
void sr_rconn_tls_start(sr_rconn *c, transport *t);
/* Seals the queued commands into records and writes them (once the
 * handshake is done; they wait for it until then). */
void sr_rconn_tls_flush(sr_rconn *c);
/* TLS bytes read: opened into the reply reader; the Redis handshake starts
 * once the TLS one is done. 0, or -1 after failing the connection. */
int sr_rconn_tls_read(sr_rconn *c, transport *t, const char *in, size_t len);

#endif
