/* SPDX-License-Identifier: MIT */
/*
 * conn.c: one Redis connection on libuv (see conn.h for the behaviour):
 * its connection attempts (resolve, connect, handshake, back-off), the
 * command pipeline and reply FIFO, keepalive and its life cycle. Its TLS
 * layer (rediss://) is conn_tls.c; both share conn_int.h.
 *
 * Each connection attempt gets a fresh `transport` (the socket handle, its
 * connect request and its reply reader). Tearing an attempt down orphans
 * the transport (owner = NULL) and closes its handle; libuv's late
 * callbacks for it (connect, write, read, close) see the orphan and only
 * free memory. A pending getaddrinfo is orphaned the same way. So a loss,
 * a timeout and sr_rconn_close all take the same short path, and nothing
 * of an old attempt can touch a new one.
 *
 * Commands are formatted into separate buffers and written together with
 * one uv_write (an iovec) at the end of the loop turn (see loop/defer.h). The
 * reply FIFO is a ring of (callback, expected confirmations) entries.
 */
#include "redis/conn.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "loop/defer.h"
#include "redis/conn_int.h"
#include "sserooms.h"
#include "tls/tls.h"

#define READ_BUF_SIZE 65536
#define DEFAULT_MAX_UNWRITTEN (64u << 20)

struct resolve_req {
    uv_getaddrinfo_t req;
    sr_rconn *owner; /* NULL once orphaned */
};

enum entry_kind { ENTRY_USER = 0, ENTRY_PUBSUB, ENTRY_HANDSHAKE, ENTRY_PING };

struct pending {
    sr_rconn_reply_fn cb;
    void *ud;
    uint32_t remaining; /* confirmations still expected (pub/sub commands) */
    uint8_t kind;
    uint8_t confirm; /* pub/sub: index in confirm_words, or NO_CONFIRM_WORD */
};

/* The confirmation each pub/sub verb gets (its own name in lower case). */
static const char *const confirm_words[] = {"subscribe",    "unsubscribe", "psubscribe",
                                            "punsubscribe", "ssubscribe",  "sunsubscribe"};
#define N_CONFIRM_WORDS (sizeof confirm_words / sizeof *confirm_words)
#define NO_CONFIRM_WORD 0xff

static void start_attempt(sr_rconn *c);

/* ------------------------------------------------------------ helpers */

static void set_error(sr_rconn *c, const char *msg) {
    snprintf(c->last_error, sizeof c->last_error, "%s", msg);
}

static int fifo_push(sr_rconn *c, sr_rconn_reply_fn cb, void *ud, uint32_t remaining, int kind) {
    if (c->fifo_len == c->fifo_cap) {
        size_t ncap = c->fifo_cap ? c->fifo_cap * 2 : 64;
        pending *n = malloc(ncap * sizeof *n);
        if (!n) return SR_ENOMEM;
        for (size_t i = 0; i < c->fifo_len; i++) n[i] = c->fifo[(c->fifo_head + i) % c->fifo_cap];
        free(c->fifo);
        c->fifo = n;
        c->fifo_cap = ncap;
        c->fifo_head = 0;
    }
    pending *p = &c->fifo[(c->fifo_head + c->fifo_len) % c->fifo_cap];
    p->cb = cb;
    p->ud = ud;
    p->remaining = remaining;
    p->kind = (uint8_t)kind;
    p->confirm = NO_CONFIRM_WORD;
    c->fifo_len++;
    return 0;
}

static pending fifo_pop(sr_rconn *c) {
    pending p = c->fifo[c->fifo_head];
    c->fifo_head = (c->fifo_head + 1) % c->fifo_cap;
    c->fifo_len--;
    return p;
}

void sr_rconn_free_out(sr_rconn *c) {
    for (unsigned i = 0; i < c->n_out; i++) redisFreeCommand(c->out[i].base);
    c->n_out = 0;
    c->out_bytes = 0;
}

/* Orphans and closes the current transport and any pending resolve. */
static void on_transport_closed(uv_handle_t *h) {
    transport *t = h->data;
    if (t->reader) redisReaderFree(t->reader);
    sr_tls_free(t->tls);
    free(t->rbuf);
    free(t);
}

static void teardown_transport(sr_rconn *c) {
    if (c->resolving) {
        c->resolving->owner = NULL;
        uv_cancel((uv_req_t *)&c->resolving->req);
        c->resolving = NULL;
    }
    if (c->t) {
        c->t->owner = NULL;
        uv_close(&c->t->u.handle, on_transport_closed);
        c->t = NULL;
    }
    free(c->addrs);
    c->addrs = NULL;
    c->n_addrs = c->next_addr = 0;
    sr_rconn_free_out(c);
}

/* Fails every pending command with err; the ring is detached first so that
 * callbacks see an empty FIFO. */
static void fail_pending(sr_rconn *c, const char *err) {
    pending *ring = c->fifo;
    size_t head = c->fifo_head, len = c->fifo_len, cap = c->fifo_cap;
    c->fifo = NULL;
    c->fifo_head = c->fifo_len = c->fifo_cap = 0;
    for (size_t i = 0; i < len; i++) {
        pending *p = &ring[(head + i) % cap];
        if (p->cb) p->cb(p->ud, NULL, err);
    }
    free(ring);
}

static uint32_t backoff_ms(sr_rconn *c) {
    uint64_t lo = c->opts.reconnect_min_ms, hi = lo;
    for (unsigned i = 0; i < c->attempt && hi < c->opts.reconnect_max_ms; i++) hi *= 2;
    if (hi > c->opts.reconnect_max_ms) hi = c->opts.reconnect_max_ms;
    if (lo > hi) lo = hi;
    uint32_t r = 0;
    if (sr_random_bytes(&r, sizeof r) != 0) r = (uint32_t)uv_hrtime();
    return (uint32_t)(lo + r % (hi - lo + 1));
}

static void on_retry_timer(uv_timer_t *h) {
    sr_rconn *c = h->data;
    if (c->state == SR_RCONN_DOWN) start_attempt(c);
}

/* The one path for every failure: record, tear down, schedule the retry,
 * fail pending commands, tell the owner. */
void sr_rconn_fail(sr_rconn *c, const char *fmt, ...) {
    if (c->state == SR_RCONN_CLOSED || c->state == SR_RCONN_DOWN) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_error(c, msg);
    teardown_transport(c);
    uv_timer_stop(&c->connect_timer);
    uv_timer_stop(&c->ping_timer);
    c->ping_outstanding = 0;
    c->state = SR_RCONN_DOWN;
    uint32_t delay = backoff_ms(c);
    if (c->attempt < 64) c->attempt++;
    c->retry_due = uv_now(c->loop) + delay;
    uv_timer_start(&c->retry_timer, on_retry_timer, delay, 0);
    fail_pending(c, msg);
    if (c->state == SR_RCONN_DOWN && c->cbs.on_down) c->cbs.on_down(c->cbs.ud, c, msg);
}

/* ------------------------------------------------------------ writing */

void sr_rconn_on_write(uv_write_t *req, int status) {
    write_req *w = (write_req *)req;
    transport *t = w->t;
    for (unsigned i = 0; i < w->nbufs; i++) redisFreeCommand(w->bufs[i].base);
    free(w);
    if (status < 0 && t->owner)
        sr_rconn_fail(t->owner, "write error %s (%s)", uv_err_name(status), t->owner->where);
    else if (t->owner && t->owner->on_drain && t->owner->state == SR_RCONN_UP)
        t->owner->on_drain(t->owner->cbs.ud, t->owner);
}

static void flush_out(void *ud) {
    sr_rconn *c = ud;
    if (!c->n_out) return;
    if (!c->t) {
        sr_rconn_free_out(c);
        return;
    }
    if (c->t->tls) {
        sr_rconn_tls_flush(c);
        return;
    }
    write_req *w = malloc(sizeof *w + c->n_out * sizeof(uv_buf_t));
    if (!w) {
        sr_rconn_fail(c, "out of memory writing to %s", c->where);
        return;
    }
    w->t = c->t;
    w->nbufs = c->n_out;
    memcpy(w->bufs, c->out, c->n_out * sizeof(uv_buf_t));
    c->n_out = 0;
    c->out_bytes = 0;
    int rc = uv_write(&w->req, &c->t->u.stream, w->bufs, w->nbufs, sr_rconn_on_write);
    if (rc < 0) {
        for (unsigned i = 0; i < w->nbufs; i++) redisFreeCommand(w->bufs[i].base);
        free(w);
        sr_rconn_fail(c, "write error %s (%s)", uv_err_name(rc), c->where);
    }
}

/* Formats and queues one command with its FIFO entry. */
static int enqueue(sr_rconn *c, int argc, const char **argv, const size_t *argvlen,
                   sr_rconn_reply_fn cb, void *ud, uint32_t remaining, int kind) {
    if (!c->t) return SR_ESTATE;
    size_t queued = c->out_bytes + uv_stream_get_write_queue_size(&c->t->u.stream);
    if (queued > c->opts.max_unwritten_bytes) return SR_EQUEUE;
    if (c->n_out == c->cap_out) {
        unsigned ncap = c->cap_out ? c->cap_out * 2 : 32;
        uv_buf_t *n = realloc(c->out, ncap * sizeof *n);
        if (!n) return SR_ENOMEM;
        c->out = n;
        c->cap_out = ncap;
    }
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0 || !cmd) return SR_ENOMEM;
    if (fifo_push(c, cb, ud, remaining, kind) != 0) {
        redisFreeCommand(cmd);
        return SR_ENOMEM;
    }
    c->out[c->n_out++] = uv_buf_init(cmd, (unsigned)len);
    c->out_bytes += (size_t)len;
    sr_defer_arm(c->flush);
    return 0;
}

int sr_rconn_command(sr_rconn *c, int argc, const char *const *argv, const size_t *argvlen,
                     sr_rconn_reply_fn cb, void *ud) {
    if (c->state != SR_RCONN_UP) return SR_ESTATE;
    if (argc < 1) return SR_EINVAL;
    return enqueue(c, argc, (const char **)argv, argvlen, cb, ud, 1, ENTRY_USER);
}

int sr_rconn_pubsub_command(sr_rconn *c, const char *verb, size_t n, const char *const *channels,
                            const size_t *lens, sr_rconn_reply_fn cb, void *ud) {
    if (c->state != SR_RCONN_UP) return SR_ESTATE;
    if (n == 0 || n > 100000) return SR_EINVAL;
    const char **argv = malloc((n + 1) * sizeof *argv);
    size_t *argvlen = malloc((n + 1) * sizeof *argvlen);
    int rc = SR_ENOMEM;
    if (argv && argvlen) {
        argv[0] = verb;
        argvlen[0] = strlen(verb);
        memcpy(argv + 1, channels, n * sizeof *argv);
        memcpy(argvlen + 1, lens, n * sizeof *argvlen);
        rc = enqueue(c, (int)n + 1, argv, argvlen, cb, ud, (uint32_t)n, ENTRY_PUBSUB);
        if (rc == 0) {
            pending *p = &c->fifo[(c->fifo_head + c->fifo_len - 1) % c->fifo_cap];
            for (size_t i = 0; i < N_CONFIRM_WORDS; i++)
                if (strcasecmp(verb, confirm_words[i]) == 0) p->confirm = (uint8_t)i;
        }
    }
    free(argv);
    free(argvlen);
    return rc;
}

/* ------------------------------------------------------------ keepalive */

static void on_ping_reply(void *ud, redisReply *reply, const char *err) {
    sr_rconn *c = ud;
    if (!err) c->ping_outstanding = 0;
    else if (reply) sr_rconn_fail(c, "PING failed: %s", err);
}

static void on_ping_timer(uv_timer_t *h) {
    sr_rconn *c = h->data;
    if (c->state != SR_RCONN_UP) return;
    if (c->ping_outstanding) {
        sr_rconn_fail(c, "no PING reply within %u ms (%s)", c->opts.ping_interval_ms, c->where);
        return;
    }
    static const char *const argv[] = {"PING"};
    static const size_t lens[] = {4};
    if (enqueue(c, 1, (const char **)argv, lens, on_ping_reply, c, 1, ENTRY_PING) == 0)
        c->ping_outstanding = 1;
}

/* ------------------------------------------------------------ reading */

static int is_word(const redisReply *r, const char *w) {
    size_t n = strlen(w);
    return r->type == REDIS_REPLY_STRING && r->len == n && strncasecmp(r->str, w, n) == 0;
}

/* 0: not a push; 1: a message; 2: a (un)subscribe confirmation. */
static int push_kind(const redisReply *r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return 0;
    const redisReply *k = r->element[0];
    if (is_word(k, "message") || is_word(k, "pmessage") || is_word(k, "smessage")) return 1;
    if (is_word(k, "subscribe") || is_word(k, "unsubscribe") || is_word(k, "psubscribe") ||
        is_word(k, "punsubscribe") || is_word(k, "ssubscribe") || is_word(k, "sunsubscribe"))
        return 2;
    return 0;
}

/* A confirmation that is not the one the command at the head expects. */
static int unsolicited(const sr_rconn *c, const redisReply *r) {
    if (c->fifo_len == 0) return 1;
    const pending *head = &c->fifo[c->fifo_head];
    if (head->kind != ENTRY_PUBSUB) return 1;
    return head->confirm != NO_CONFIRM_WORD &&
           !is_word(r->element[0], confirm_words[head->confirm]);
}

static void dispatch(sr_rconn *c, redisReply *r) {
    int kind = c->opts.pubsub ? push_kind(r) : 0;
    if (kind == 1) {
        if (c->cbs.on_push) c->cbs.on_push(c->cbs.ud, c, r);
        return;
    }
    if (kind == 2 && c->on_unsolicited && unsolicited(c, r)) {
        c->on_unsolicited(c->cbs.ud, c, r);
        return;
    }
    if (c->fifo_len == 0) {
        sr_rconn_fail(c, "protocol error: a reply nobody asked for (%s)", c->where);
        return;
    }
    pending *head = &c->fifo[c->fifo_head];
    if (kind == 2) {
        if (head->kind != ENTRY_PUBSUB) {
            sr_rconn_fail(c, "protocol error: unexpected subscription confirmation (%s)", c->where);
            return;
        }
        if (c->cbs.on_push) c->cbs.on_push(c->cbs.ud, c, r);
        if (c->state != SR_RCONN_UP) return;
        head = &c->fifo[c->fifo_head];
        if (--head->remaining > 0) return;
    } else if (head->kind == ENTRY_PUBSUB && r->type != REDIS_REPLY_ERROR) {
        sr_rconn_fail(c, "protocol error: unexpected reply to a subscription command (%s)",
                      c->where);
        return;
    }
    pending p = fifo_pop(c);
    const char *err = r->type == REDIS_REPLY_ERROR ? (r->str ? r->str : "error") : NULL;
    if (p.cb) p.cb(p.ud, r, err);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    transport *t = h->data;
    *buf = uv_buf_init(t->rbuf, READ_BUF_SIZE);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    transport *t = s->data;
    sr_rconn *c = t->owner;
    if (!c) return;
    if (nread < 0) {
        if (nread == UV_EOF) sr_rconn_fail(c, "connection lost: closed by %s", c->where);
        else sr_rconn_fail(c, "connection lost: %s (%s)", uv_err_name((int)nread), c->where);
        return;
    }
    if (nread == 0) return;
    if (t->tls) {
        if (sr_rconn_tls_read(c, t, buf->base, (size_t)nread) < 0) return;
    } else if (redisReaderFeed(t->reader, buf->base, (size_t)nread) != REDIS_OK) {
        sr_rconn_fail(c, "protocol error: %s (%s)", t->reader->errstr, c->where);
        return;
    }
    while (t->owner == c) {
        void *reply = NULL;
        if (redisReaderGetReply(t->reader, &reply) != REDIS_OK) {
            sr_rconn_fail(c, "protocol error: %s (%s)", t->reader->errstr, c->where);
            return;
        }
        if (!reply) break;
        dispatch(c, reply);
        freeReplyObject(reply);
    }
}

/* ------------------------------------------------------------ connecting */

static void became_up(sr_rconn *c) {
    uv_timer_stop(&c->connect_timer);
    c->state = SR_RCONN_UP;
    c->attempt = 0;
    c->last_error[0] = '\0';
    c->ping_outstanding = 0;
    c->up_count++;
    if (c->opts.ping_interval_ms)
        uv_timer_start(&c->ping_timer, on_ping_timer, c->opts.ping_interval_ms,
                       c->opts.ping_interval_ms);
    if (c->cbs.on_up) c->cbs.on_up(c->cbs.ud, c);
}

static void on_handshake_reply(void *ud, redisReply *reply, const char *err) {
    sr_rconn *c = ud;
    if (c->state != SR_RCONN_CONNECTING) return;
    if (err) {
        sr_rconn_fail(c, "handshake with %s failed: %s", c->where, err);
        return;
    }
    /* The PING goes last: when it is answered the handshake is complete. */
    if (c->fifo_len == 0) became_up(c);
}

void sr_rconn_send_handshake(sr_rconn *c) {
    c->phase = PHASE_HANDSHAKE;
    int rc = 0;
    if (c->url.password) {
        const char *argv[3] = {"AUTH", c->url.user, c->url.password};
        size_t lens[3] = {4, c->url.user ? strlen(c->url.user) : 0, strlen(c->url.password)};
        if (c->url.user) rc = enqueue(c, 3, argv, lens, on_handshake_reply, c, 1, ENTRY_HANDSHAKE);
        else {
            argv[1] = c->url.password;
            lens[1] = lens[2];
            rc = enqueue(c, 2, argv, lens, on_handshake_reply, c, 1, ENTRY_HANDSHAKE);
        }
    }
    if (rc == 0 && c->url.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", c->url.db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, strlen(db)};
        rc = enqueue(c, 2, argv, lens, on_handshake_reply, c, 1, ENTRY_HANDSHAKE);
    }
    if (rc == 0) {
        const char *argv[1] = {"PING"};
        size_t lens[1] = {4};
        rc = enqueue(c, 1, argv, lens, on_handshake_reply, c, 1, ENTRY_HANDSHAKE);
    }
    if (rc != 0) sr_rconn_fail(c, "handshake with %s failed: %s", c->where, sr_strerror(rc));
}

static void try_next_address(sr_rconn *c);

/* One address failed: try the next one, or fail the attempt. */
static void connect_failed(sr_rconn *c, transport *t, int status) {
    snprintf(c->connect_err, sizeof c->connect_err, "connect %s %s", uv_err_name(status), c->where);
    t->owner = NULL;
    uv_close(&t->u.handle, on_transport_closed);
    c->t = NULL;
    if (c->url.is_unix || c->next_addr >= c->n_addrs) sr_rconn_fail(c, "%s", c->connect_err);
    else try_next_address(c);
}

static void on_connect(uv_connect_t *req, int status) {
    transport *t = req->handle->data;
    sr_rconn *c = t->owner;
    if (!c) return;
    if (status < 0) {
        connect_failed(c, t, status);
        return;
    }
    int rc = uv_read_start(&t->u.stream, on_alloc, on_read);
    if (rc < 0) {
        sr_rconn_fail(c, "connect %s %s", uv_err_name(rc), c->where);
        return;
    }
    if (c->opts.tls) { /* the ClientHello first; the Redis handshake once TLS is up */
        sr_rconn_tls_start(c, t);
        return;
    }
    sr_rconn_send_handshake(c);
}

/* hiredis 0.14 allocates an array's element list from the count the server
 * sends: "*2147483647\r\n" would ask for 16 GiB. Nothing we send gets
 * replies that large, so a larger count is treated as a broken stream. */
#define SR_REDIS_MAX_ARRAY (1 << 20)
static redisReplyObjectFunctions limited_fns;
static void *(*default_create_array)(const redisReadTask *, int);

static void *limited_create_array(const redisReadTask *task, int elements) {
    if (elements > SR_REDIS_MAX_ARRAY) return NULL; /* the reader reports an error */
    return default_create_array(task, elements);
}

static void limit_reader(redisReader *r) {
    if (!default_create_array) {
        limited_fns = *r->fn;
        default_create_array = limited_fns.createArray;
        limited_fns.createArray = limited_create_array;
    }
    r->fn = &limited_fns;
}

static transport *new_transport(sr_rconn *c) {
    transport *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->rbuf = malloc(READ_BUF_SIZE);
    t->reader = redisReaderCreate();
    if (!t->rbuf || !t->reader) {
        if (t->reader) redisReaderFree(t->reader);
        free(t->rbuf);
        free(t);
        return NULL;
    }
    limit_reader(t->reader);
    t->owner = c;
    return t;
}

static void try_next_address(sr_rconn *c) {
    const struct sockaddr *sa = (const struct sockaddr *)&c->addrs[c->next_addr++];
    transport *t = new_transport(c);
    if (!t) {
        sr_rconn_fail(c, "out of memory connecting to %s", c->where);
        return;
    }
    uv_tcp_init(c->loop, &t->u.tcp);
    t->u.handle.data = t;
    c->t = t;
    uv_tcp_nodelay(&t->u.tcp, 1);
    uv_tcp_keepalive(&t->u.tcp, 1, 60);
    c->phase = PHASE_CONNECT;
    int rc = uv_tcp_connect(&t->connect_req, &t->u.tcp, sa, on_connect);
    if (rc < 0) connect_failed(c, t, rc);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    resolve_req *r = (resolve_req *)req;
    sr_rconn *c = r->owner;
    free(r);
    if (!c) {
        uv_freeaddrinfo(res);
        return;
    }
    c->resolving = NULL;
    if (status < 0) {
        uv_freeaddrinfo(res);
        sr_rconn_fail(c, "getaddrinfo %s %s",
                      status == UV_EAI_NONAME ? "ENOTFOUND" : uv_err_name(status), c->url.host);
        return;
    }
    size_t n = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) n++;
    c->addrs = n ? calloc(n, sizeof *c->addrs) : NULL;
    if (!c->addrs) {
        uv_freeaddrinfo(res);
        sr_rconn_fail(c, "getaddrinfo %s %s", n ? "ENOMEM" : "ENOTFOUND", c->url.host);
        return;
    }
    c->n_addrs = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
            memcpy(&c->addrs[c->n_addrs++], ai->ai_addr, ai->ai_addrlen);
    uv_freeaddrinfo(res);
    try_next_address(c);
}

static void on_connect_timeout(uv_timer_t *h) {
    sr_rconn *c = h->data;
    if (c->state != SR_RCONN_CONNECTING) return;
    switch (c->phase) {
    case PHASE_RESOLVE:
        sr_rconn_fail(c, "getaddrinfo ETIMEDOUT %s (no answer within %u ms)", c->url.host,
                      c->opts.connect_timeout_ms);
        break;
    case PHASE_CONNECT:
        sr_rconn_fail(c, "connect ETIMEDOUT %s (no answer within %u ms)", c->where,
                      c->opts.connect_timeout_ms);
        break;
    case PHASE_HANDSHAKE:
        sr_rconn_fail(c, "handshake with %s timed out after %u ms (is it a Redis server?)",
                      c->where, c->opts.connect_timeout_ms);
        break;
    }
}

static void start_attempt(sr_rconn *c) {
    c->state = SR_RCONN_CONNECTING;
    c->connect_err[0] = '\0';
    uv_timer_start(&c->connect_timer, on_connect_timeout, c->opts.connect_timeout_ms, 0);
    if (c->url.is_unix) {
        transport *t = new_transport(c);
        if (!t) {
            sr_rconn_fail(c, "out of memory connecting to %s", c->where);
            return;
        }
        uv_pipe_init(c->loop, &t->u.pipe, 0);
        t->u.handle.data = t;
        c->t = t;
        c->phase = PHASE_CONNECT;
        uv_pipe_connect(&t->connect_req, &t->u.pipe, c->url.path, on_connect);
        return;
    }
    /* An IP literal needs no resolver round trip. */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (uv_ip4_addr(c->url.host, c->url.port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(c->url.host, c->url.port, (struct sockaddr_in6 *)&ss) == 0) {
        c->addrs = malloc(sizeof ss);
        if (!c->addrs) {
            sr_rconn_fail(c, "out of memory connecting to %s", c->where);
            return;
        }
        memcpy(c->addrs, &ss, sizeof ss);
        c->n_addrs = 1;
        c->next_addr = 0;
        try_next_address(c);
        return;
    }
    resolve_req *r = calloc(1, sizeof *r);
    if (!r) {
        sr_rconn_fail(c, "out of memory resolving %s", c->url.host);
        return;
    }
    r->owner = c;
    c->resolving = r;
    c->phase = PHASE_RESOLVE;
    char port[8];
    snprintf(port, sizeof port, "%d", c->url.port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(c->loop, &r->req, on_resolved, c->url.host, port, &hints);
    if (rc < 0) {
        c->resolving = NULL;
        free(r);
        sr_rconn_fail(c, "getaddrinfo %s %s", uv_err_name(rc), c->url.host);
    }
}

/* ------------------------------------------------------------ life cycle */

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

int sr_rconn_new(sr_rconn **out, uv_loop_t *loop, const sr_rconn_options *opts,
                 const sr_rconn_callbacks *cbs) {
    *out = NULL;
    if (!opts || !opts->url) return SR_EINVAL;
    sr_rconn *c = calloc(1, sizeof *c);
    if (!c) return SR_ENOMEM;
    c->loop = loop;
    c->opts = *opts;
    if (!c->opts.max_unwritten_bytes) c->opts.max_unwritten_bytes = DEFAULT_MAX_UNWRITTEN;
    if (!c->opts.connect_timeout_ms) c->opts.connect_timeout_ms = 2000;
    if (!c->opts.reconnect_min_ms) c->opts.reconnect_min_ms = 1;
    if (c->opts.reconnect_max_ms < c->opts.reconnect_min_ms)
        c->opts.reconnect_max_ms = c->opts.reconnect_min_ms;
    if (cbs) c->cbs = *cbs;
    const sr_redis_url *u = opts->url;
    c->url = *u;
    c->url.host = dup_or_null(u->host);
    c->url.path = dup_or_null(u->path);
    c->url.user = dup_or_null(u->user);
    c->url.password = dup_or_null(u->password);
    c->flush = sr_defer_new(loop, flush_out, c);
    if ((u->host && !c->url.host) || (u->path && !c->url.path) || (u->user && !c->url.user) ||
        (u->password && !c->url.password) || !c->flush) {
        sr_redis_url_free(&c->url);
        if (c->flush) sr_defer_free(c->flush);
        free(c);
        return SR_ENOMEM;
    }
    c->opts.url = NULL;
    if (c->opts.tls) sr_tls_ctx_ref(c->opts.tls);
    sr_redis_url_describe(&c->url, c->where, sizeof c->where);
    uv_timer_init(loop, &c->connect_timer);
    uv_timer_init(loop, &c->retry_timer);
    uv_timer_init(loop, &c->ping_timer);
    c->connect_timer.data = c->retry_timer.data = c->ping_timer.data = c;
    c->open_handles = 3;
    c->state = SR_RCONN_DOWN;
    *out = c;
    return 0;
}

void sr_rconn_on_unsolicited(sr_rconn *c, void (*fn)(void *ud, sr_rconn *c, redisReply *push)) {
    c->on_unsolicited = fn;
}

void sr_rconn_start(sr_rconn *c) {
    if (c->started || c->state != SR_RCONN_DOWN) return;
    c->started = 1;
    start_attempt(c);
}

void sr_rconn_drop(sr_rconn *c, const char *why) {
    if (c->state == SR_RCONN_UP || c->state == SR_RCONN_CONNECTING) sr_rconn_fail(c, "%s", why);
}

static void on_handle_closed(uv_handle_t *h) {
    sr_rconn *c = h->data;
    if (--c->open_handles > 0) return;
    sr_tls_ctx_unref(c->opts.tls);
    free(c->out);
    sr_redis_url_free(&c->url);
    free(c);
}

void sr_rconn_close(sr_rconn *c) {
    if (!c || c->state == SR_RCONN_CLOSED) return;
    c->state = SR_RCONN_CLOSED;
    teardown_transport(c);
    fail_pending(c, "connection closed");
    sr_defer_free(c->flush);
    c->flush = NULL;
    uv_close((uv_handle_t *)&c->connect_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->ping_timer, on_handle_closed);
}

sr_rconn_state sr_rconn_get_state(const sr_rconn *c) {
    return c->state;
}

const char *sr_rconn_state_name(sr_rconn_state st) {
    switch (st) {
    case SR_RCONN_UP: return "up";
    case SR_RCONN_CONNECTING: return "connecting";
    case SR_RCONN_DOWN: return "down";
    case SR_RCONN_CLOSED: return "closed";
    }
    return "unknown";
}

void sr_rconn_on_drain(sr_rconn *c, void (*fn)(void *ud, sr_rconn *c)) {
    c->on_drain = fn;
}

size_t sr_rconn_unwritten(const sr_rconn *c) {
    if (!c->t) return 0;
    return c->out_bytes + uv_stream_get_write_queue_size(&c->t->u.stream);
}

const char *sr_rconn_last_error(const sr_rconn *c) {
    return c->last_error;
}

int64_t sr_rconn_retry_in_ms(const sr_rconn *c) {
    if (c->state != SR_RCONN_DOWN || !uv_is_active((const uv_handle_t *)&c->retry_timer)) return -1;
    uint64_t now = uv_now(c->loop);
    return c->retry_due > now ? (int64_t)(c->retry_due - now) : 0;
}

uint64_t sr_rconn_up_count(const sr_rconn *c) {
    return c->up_count;
}

const char *sr_rconn_where(const sr_rconn *c) {
    return c->where;
}
