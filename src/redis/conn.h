/* SPDX-License-Identifier: MIT */
/*
 * conn.h: one RESP2 connection to Redis on a libuv loop, kept alive.
 *
 * It resolves and connects (TCP or Unix socket) within a connect timeout,
 * authenticates (AUTH password / AUTH user password), selects the database,
 * and confirms the server answers (PING) before it reports "up". Commands
 * are pipelined: each is formatted once, queued, and everything queued in
 * one loop turn goes out in one write; replies are matched to commands in
 * FIFO order. In pub/sub mode, message and (un)subscribe arrays go to the
 * push callback; a SUBSCRIBE/UNSUBSCRIBE of N channels is complete after
 * its N confirmations. A PING is sent every ping_interval_ms; a PING still
 * unanswered at the next tick means the connection is dead. On any loss
 * every pending command fails, then it reconnects after an exponential
 * back-off with jitter.
 *
 * Only hiredis's reply reader and command formatter are used.
 */
#ifndef SR_REDIS_CONN_H
#define SR_REDIS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "redis/url.h"

typedef struct sr_rconn sr_rconn;

typedef enum sr_rconn_state {
    SR_RCONN_DOWN = 0,   /* not connected (a retry is scheduled once started) */
    SR_RCONN_CONNECTING, /* resolving, connecting or in the handshake */
    SR_RCONN_UP,         /* commands are accepted */
    SR_RCONN_CLOSED      /* sr_rconn_close was called */
} sr_rconn_state;

/* Completion of one command: reply is the reply (for a (un)subscribe, the
 * last confirmation), err is NULL on success. On an error reply, reply is
 * the error and err its text; when the connection failed first, reply is
 * NULL and err says why. The reply is freed after the callback returns. */
typedef void (*sr_rconn_reply_fn)(void *ud, redisReply *reply, const char *err);

typedef struct sr_rconn_callbacks {
    /* The handshake completed; commands are accepted from now on. */
    void (*on_up)(void *ud, sr_rconn *c);
    /* The connection (or an attempt) failed; pending commands have already
     * failed and a retry is scheduled. Not called after sr_rconn_close. */
    void (*on_down)(void *ud, sr_rconn *c, const char *err);
    /* Pub/sub mode: a "message"/"subscribe"/"unsubscribe"/... array. */
    void (*on_push)(void *ud, sr_rconn *c, redisReply *push);
    void *ud;
} sr_rconn_callbacks;

/* Optional, pub/sub mode: fn(cbs.ud, c, push) gets a confirmation that
 * answers no command of ours (Redis Cluster sends "sunsubscribe" when a
 * channel's slot moves away). Without it such a push is a protocol error. */
void sr_rconn_on_unsolicited(sr_rconn *c, void (*fn)(void *ud, sr_rconn *c, redisReply *push));

typedef struct sr_rconn_options {
    const sr_redis_url *url;     /* copied */
    const char *name;            /* "publisher", "subscriber": for messages */
    int pubsub;                  /* 1: route pub/sub arrays to on_push */
    uint32_t connect_timeout_ms; /* resolve + connect + handshake */
    uint32_t ping_interval_ms;   /* 0 disables the keepalive PING */
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    size_t max_unwritten_bytes; /* queued output over this: SR_EQUEUE (0: 64 MiB) */
    struct sr_tls_ctx *tls;     /* set: TLS with this client context (src/tls),
                                   the URL's host being the name checked;
                                   the connection holds a reference */
    uint64_t *tls_failures;     /* optional: counts TLS handshakes refused */
    /* optional: told why each refused TLS handshake failed (a warning) */
    void (*on_tls_failure)(void *ud, const char *why);
    void *tls_failure_ud;
} sr_rconn_options;

int sr_rconn_new(sr_rconn **out, uv_loop_t *loop, const sr_rconn_options *opts,
                 const sr_rconn_callbacks *cbs);
/* Starts the first connection attempt (at once). */
void sr_rconn_start(sr_rconn *c);
/* Queues a command with one reply. cb may be NULL. Returns 0, SR_ESTATE
 * when the connection is not up, SR_EQUEUE when too much output is
 * waiting, SR_ENOMEM. On failure cb is not called. */
int sr_rconn_command(sr_rconn *c, int argc, const char *const *argv, const size_t *argvlen,
                     sr_rconn_reply_fn cb, void *ud);
/* Queues "<verb> ch1 ... chN" (SUBSCRIBE / UNSUBSCRIBE, pub/sub mode),
 * complete after its N confirmations. Same returns. */
int sr_rconn_pubsub_command(sr_rconn *c, const char *verb, size_t n, const char *const *channels,
                            const size_t *lens, sr_rconn_reply_fn cb, void *ud);
/* Optional: fn(cbs.ud, c) runs each time a write to Redis completed while
 * up, so that an owner holding commands back (back-pressure) can send more. */
void sr_rconn_on_drain(sr_rconn *c, void (*fn)(void *ud, sr_rconn *c));
/* Command bytes queued and not yet taken by the kernel (0 when not up). */
size_t sr_rconn_unwritten(const sr_rconn *c);
/* Fails the connection now with `why` and reconnects (after the back-off). */
void sr_rconn_drop(sr_rconn *c, const char *why);
/* Fails pending commands ("connection closed") and closes everything;
 * the memory is freed once libuv has closed the handles. No callback runs
 * after this returns. */
void sr_rconn_close(sr_rconn *c);

sr_rconn_state sr_rconn_get_state(const sr_rconn *c);
const char *sr_rconn_state_name(sr_rconn_state st); /* "up", "connecting", "down", "closed" */
/* The last failure ("connect ECONNREFUSED 127.0.0.1:6399"); "" if none
 * since the connection last came up. */
const char *sr_rconn_last_error(const sr_rconn *c);
/* Milliseconds until the next attempt; -1 unless a retry is scheduled. */
int64_t sr_rconn_retry_in_ms(const sr_rconn *c);
/* How many times the connection came up (1 after the first connect). */
uint64_t sr_rconn_up_count(const sr_rconn *c);
/* "127.0.0.1:6379" or the socket path. */
const char *sr_rconn_where(const sr_rconn *c);

#endif
