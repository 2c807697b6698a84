/* SPDX-License-Identifier: MIT */
/*
 * server.c: the server's life cycle: configuration, listening (a failure
 * says its cause: sr_server_listen_error), accepting (accept4 on a poll
 * handle, so that fd exhaustion is counted and logged, see "accepting"),
 * the per-loop-turn flush, heartbeats, statistics and graceful shutdown.
 *
 * One end-of-turn defer (loop/defer.h, every-turn mode) runs after every
 * poll phase and flushes each
 * connection that had frames queued during that turn, so frames queued by
 * several broadcasts in one turn leave in one writev; the answers go first,
 * then one slice of the fan-out sweep (batch.c) is delivered and written,
 * and while slices are left the next poll does not block. One timer sends the
 * shared heartbeat frame to every stream. With writer threads (writer.c,
 * started at listen, stopped when the server's handles close) the check
 * also hands each writer its batch, and streams owned by a writer get
 * their heartbeats from the writer's wheel instead.
 *
 * State: sr_server_new allocates each file's group of state through that
 * file's *_new (see internal.h) and sr_server_free frees them, those that
 * hold handles after the loop closed them; server.c's own groups are the
 * id table, the program's hooks and the accept-error counters. Every
 * handle of the server's (here and in the other files) is counted in
 * open_handles by the helper that initialises it and counted down by
 * sr_server_close_handle's callback: the shutdown ends when the count is 0
 * and no connection is left.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/abi.h"
#include "server/internal.h"
#include "server/recover.h"
#include "server/tls_server.h"
#include "server/writer.h"
#include "json/json.h"

/* The library's default writer threads (1: none); a build may set another
 * one (-DSR_DEFAULT_THREADS=2 runs the whole test suite threaded). */
#ifndef SR_DEFAULT_THREADS
#define SR_DEFAULT_THREADS 1
#endif

#define SR_SHUTDOWN_GRACE_MS 2000

/* The time bound of a slice of a fan-out sweep (batch.c), in microseconds.
 * A request that comes during a slice waits for its end: 2 ms keeps a
 * sequential publisher's answer p99 under 10 ms with room to spare, and
 * whatever a stream costs on the machine (a written stream: 2-20 us, so
 * 100-1000 streams a slice), while the loop turns between slices (an
 * epoll_wait that returns at once) cost well under 1% of the sweep. */
#define SR_DEFAULT_SWEEP_SLICE_US 2000

static void on_server_handle_closed(uv_handle_t *h);
static void count_handle(sr_server *srv, uv_handle_t *h);

/* The accept(2) failures counted and their log window (see "accepting"). */
struct sr_accept_errors {
    uint64_t by_reason[4]; /* by SR_ACCEPT_ERR_* */
    uint64_t dropped;      /* connections closed at once for lack of fds */
    uint64_t log_ms;       /* loop time of the last accept-error line */
    uint64_t unlogged;     /* errors since that line */
};

/* The program's hooks. */
struct sr_hooks {
    sr_accept_fn accept_fn;
    void *accept_ud;
    sr_close_fn close_fn;
    void *close_ud;
    sr_request_fn request_fn;
    void *request_ud;
};

/* id -> stream lookup for sr_conn_find: open addressing (see the end). */
struct sr_id_table {
    sr_conn **slots;
    size_t cap, len;
};

/* What struct sr_server may weigh: its own fields, the config copy, the
 * adapter's table, the public counters and the few handles of server.c.
 * Each subsystem's state is an opaque struct of its file behind a pointer;
 * an array put back inline trips this (test_server_state prints the size). */
#define SR_SERVER_SIZE_MAX 2304
_Static_assert(sizeof(struct sr_server) <= SR_SERVER_SIZE_MAX,
               "struct sr_server holds subsystem state inline: give it an owner's struct");

static void config_defaults(sr_config *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->host = "127.0.0.1";
    cfg->port = 8080;
    cfg->backlog = 511;
    cfg->heartbeat_ms = 30000;
    cfg->max_queue_bytes = 1024 * 1024;
    cfg->max_http_buffer_bytes = 64u * 1024 * 1024;
    cfg->max_header_bytes = 8 * 1024;
    cfg->max_body_bytes = 1024 * 1024;
    cfg->request_timeout_ms = 10000;
    cfg->keepalive_timeout_ms = 5000;
    cfg->max_rooms_per_conn = 64;
    cfg->max_room_len = 128;
    cfg->max_json_depth = 1000;
    cfg->enable_publish = 1;
    cfg->enable_info = 1;
    cfg->enable_metrics = 1;
    cfg->sse_path = "/sse";
    cfg->stats_interval_ms = 1000;
    cfg->auth_leeway_s = 30;
    cfg->auth_cookie = "sserooms_token";
    cfg->auth_expiry_event = "auth-expired";
    cfg->ticket_ttl_ms = 30000;
    cfg->max_tickets_per_subject = 100;
    cfg->ticket_rate = 10;
    cfg->max_connections_per_addr = 256;
    cfg->ipv6_prefix_len = 64;
    cfg->max_message_bytes = 256 * 1024;
    cfg->threads = SR_DEFAULT_THREADS;
    cfg->sequence_max_names = 65536;
    cfg->sequence_ttl_ms = 2592000000u; /* 30 days */
    cfg->max_publish_bytes = 16u * 1024 * 1024;
    cfg->h2_max_streams = 128;
    cfg->presence_debounce_ms = 2000;
    cfg->sweep_slice_us = SR_DEFAULT_SWEEP_SLICE_US;
}

/* The program's sr_config may be older (smaller) or newer than ours: the
 * defaults are made whole here and copied out at the program's size. */
void sr_config_init_(sr_config *cfg, size_t cfg_size) {
    sr_config full;
    config_defaults(&full);
    sr_abi_copy_out(cfg, cfg_size, &full, sizeof full);
}

static const char *keep_string(sr_server *srv, const char *s) {
    if (!s) return NULL;
    char *copy = strdup(s);
    char **grown = realloc(srv->strings, (srv->n_strings + 1) * sizeof(*grown));
    if (!copy || !grown) {
        free(copy);
        if (grown) srv->strings = grown;
        return NULL;
    }
    srv->strings = grown;
    srv->strings[srv->n_strings++] = copy;
    return copy;
}

static void on_room_event(void *ud, sr_room *room, sr_room_event ev) {
    sr_server *srv = ud;
    /* batch.c's rules: a membership change is a barrier, and never made
     * while members are iterated */
    SR_ASSERT(!sr_batch_pending(srv));
    SR_ASSERT(srv->fanout_depth == 0);
    if (!srv->has_adapter) return;
    if (ev == SR_ROOM_JOINED || ev == SR_ROOM_LEFT) {
        sr_presence_room_changed(srv, room, sr_registry_event_member(srv->reg),
                                 ev == SR_ROOM_JOINED);
        return;
    }
    if (ev == SR_ROOM_CREATED && srv->adapter.subscribe)
        srv->adapter.subscribe(srv->adapter.ctx, room->name);
    else if (ev == SR_ROOM_EMPTIED && srv->adapter.unsubscribe)
        srv->adapter.unsubscribe(srv->adapter.ctx, room->name);
}

static int copy_config(sr_server *srv, const sr_config *in) {
    srv->cfg = *in;
    sr_config *c = &srv->cfg;
    c->host = keep_string(srv, in->host ? in->host : "127.0.0.1");
    c->sse_path = keep_string(srv, in->sse_path ? in->sse_path : "/sse");
    if (!c->host || !c->sse_path) return SR_ENOMEM;
    if (in->publish_key && !(c->publish_key = keep_string(srv, in->publish_key))) return SR_ENOMEM;
    if (in->admin_key && !(c->admin_key = keep_string(srv, in->admin_key))) return SR_ENOMEM;
    if (in->web_root && !(c->web_root = keep_string(srv, in->web_root))) return SR_ENOMEM;
    if (in->stats_room && !(c->stats_room = keep_string(srv, in->stats_room))) return SR_ENOMEM;
    if (c->stats_room &&
        sr_room_name_check(c->stats_room, strlen(c->stats_room), c->max_room_len) < 0)
        return SR_EROOM;
    if (in->n_cors_origins) {
        const char **origins = calloc(in->n_cors_origins, sizeof(*origins));
        if (!origins) return SR_ENOMEM;
        for (size_t i = 0; i < in->n_cors_origins; i++) {
            origins[i] = keep_string(srv, in->cors_origins[i]);
            if (!origins[i]) {
                free(origins);
                return SR_ENOMEM;
            }
        }
        /* the array itself is kept as a string slot so it is freed with them */
        char **grown = realloc(srv->strings, (srv->n_strings + 1) * sizeof(*grown));
        if (!grown) {
            free(origins);
            return SR_ENOMEM;
        }
        srv->strings = grown;
        srv->strings[srv->n_strings++] = (char *)origins;
        c->cors_origins = origins;
    } else {
        c->cors_origins = NULL;
    }
    if (c->max_room_len == 0 || c->max_rooms_per_conn == 0 || c->max_header_bytes < 64 ||
        c->max_queue_bytes == 0 || c->max_json_depth == 0 || c->port < 0 || c->port > 65535)
        return SR_EINVAL;
    return SR_OK;
}

static sr_frame *make_sse_head(void) {
    static const char head[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\n"
                               "Connection: keep-alive\r\n"
                               "X-Accel-Buffering: no\r\n"
                               "\r\n";
    return sr_frame_raw(head, sizeof(head) - 1);
}

int sr_server_new_(sr_server **out, uv_loop_t *loop, const sr_config *in, size_t cfg_size) {
    if (!out) return SR_EINVAL;
    *out = NULL;
    /* the program's fields over the defaults of those it does not have */
    sr_config full;
    config_defaults(&full);
    if (in && sr_abi_copy_in(&full, sizeof full, in, cfg_size) < 0) return SR_EINVAL;
    const sr_config *cfg = &full;
    sr_server *srv = calloc(1, sizeof(*srv));
    if (!srv) return SR_ENOMEM;
    srv->listen_fd = srv->reserve_fd = -1;
    sr_slab_init(&srv->conn_pool, sizeof(sr_conn));
    sr_slab_init(&srv->sendq_pool, sizeof(sr_sendq));
    uv_timeval64_t now;
    if (uv_gettimeofday(&now) == 0)
        srv->created_unix_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_usec / 1000;
    /* each file's state, allocated by its owner */
    int rc = SR_ENOMEM;
    srv->accept_errors = calloc(1, sizeof(*srv->accept_errors));
    srv->hooks = calloc(1, sizeof(*srv->hooks));
    srv->ids = calloc(1, sizeof(*srv->ids));
    srv->scratch = malloc(SR_SCRATCH_SIZE);
    if (!srv->accept_errors || !srv->hooks || !srv->ids || !srv->scratch) goto fail;
    if ((rc = sr_remote_new(srv)) < 0 || (rc = sr_sequence_new(srv)) < 0 ||
        (rc = sr_limits_new(srv)) < 0 || (rc = sr_observe_new(srv)) < 0 ||
        (rc = sr_batch_new(srv)) < 0 || (rc = sr_presence_new(srv)) < 0 ||
        (rc = sr_idle_new(srv)) < 0 || (rc = sr_h2c_counters_new(srv)) < 0 ||
        (rc = sr_recover_new(srv)) < 0)
        goto fail;
    rc = copy_config(srv, cfg);
    if (rc == SR_OK) rc = sr_clients_new(srv, cfg);
    if (rc == SR_OK) rc = sr_auth_new(srv, cfg);
    if (rc == SR_OK) rc = sr_tls_server_new(srv, cfg, NULL, 0);
    if (rc < 0) goto fail;
    if (loop) {
        srv->loop = loop;
    } else {
        uv_loop_t *own = malloc(sizeof(*own));
        if (!own || uv_loop_init(own) != 0) {
            free(own);
            rc = own ? SR_EIO : SR_ENOMEM;
            goto fail;
        }
        srv->loop = srv->own_loop = own;
    }
    srv->reg = sr_registry_new(on_room_event, srv);
    srv->heartbeat_frame = sr_frame_raw(": heartbeat\n\n", 13);
    srv->sse_head_frame = make_sse_head();
    if (!srv->reg || !srv->heartbeat_frame || !srv->sse_head_frame) {
        rc = SR_ENOMEM;
        goto fail;
    }
    srv->next_conn_id = 1;
    *out = srv;
    return SR_OK;
fail:
    sr_server_free(srv);
    return rc;
}

void sr_server_get_config_(const sr_server *srv, sr_config *out, size_t out_size) {
    sr_abi_copy_out(out, out_size, &srv->cfg, sizeof srv->cfg);
}

void sr_server_log(sr_server *srv, int level, const char *msg) {
    sr_log(srv, level, 0, "%s", msg);
}

void sr_server_presence_event(sr_server *srv, const char *room, size_t room_len, const char *user,
                              size_t user_len, int joined) {
    sr_presence_event(srv, room, room_len, user, user_len, joined);
}

uv_loop_t *sr_server_loop(sr_server *srv) {
    return srv->loop;
}

int sr_server_port(const sr_server *srv) {
    return srv->listening ? srv->bound_port : SR_ESTATE;
}

void sr_server_want_check(sr_server *srv) {
    /* the loop's next poll returns at once; the end-of-turn flush then runs */
    if (srv->handles_ready) sr_defer_arm(srv->end_of_turn);
}

/* The end of every loop turn: first the answers (and whatever else) queued
 * in this turn are written, then one slice of the fan-out sweep (batch.c)
 * is delivered and written; while a sweep has slices left the flush stays
 * armed, which keeps the loop's next poll from blocking, so the requests
 * that came meanwhile are read before the next slice (loop/defer.h). */
static void on_end_of_turn(void *ud) {
    sr_server *srv = ud;
    sr_server_close_doomed(srv);
    sr_server_flush_dirty(srv);
    uint64_t began = uv_hrtime();
    int sliced = sr_batch_step(srv);
    sr_server_flush_dirty(srv);
    sr_writers_handover(srv);
    if (sliced) sr_metrics_slice_time(srv, uv_hrtime() - began);
    if (!srv->dirty && !sr_writers_pending(srv) && !sr_batch_pending(srv))
        sr_defer_cancel(srv->end_of_turn);
    else sr_server_want_check(srv);
    sr_idle_reap(srv); /* last: nothing of this turn points at them now */
}

static void on_heartbeat(uv_timer_t *t) {
    sr_server *srv = t->data;
    sr_batch_barrier(srv); /* before the walk: a batch is not delivered inside one */
    srv->fanout_depth++;
    for (sr_conn *c = srv->conns; c; c = c->next) {
        if (c->kind != SR_CONN_STREAM || sr_conn_is_ending(c)) continue;
        if (c->wslot) continue; /* its writer thread's wheel sends them */
        sr_conn_enqueue(c, srv->heartbeat_frame);
        srv->stats.heartbeats++;
    }
    srv->fanout_depth--;
    sr_server_close_doomed(srv);
}

/* --- accepting ---------------------------------------------------------------
 * accept4 is called here rather than by libuv (uv_listen), because libuv
 * meets EMFILE with its own reserve-fd trick and tells nobody: here each
 * failure is counted by reason (/stats, /metrics) and logged at most once
 * per SR_ACCEPT_LOG_WINDOW_MS, and when fds run out the reserve fd is
 * closed to accept and at once close what waits in the backlog (the
 * clients see a reset instead of hanging), then opened again. */

#define SR_ACCEPT_LOG_WINDOW_MS 10000
#define SR_ACCEPT_BATCH 256 /* accepts per readiness, so one listener cannot starve the loop */

static const char *const accept_err_names[] = {"emfile", "enfile", "nomem", "other"};

static void open_reserve_fd(sr_server *srv) {
    if (srv->reserve_fd < 0) srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Counts one accept failure and logs it unless a line was written less
 * than a window ago; the next line says how many went unlogged. */
static void accept_failed(sr_server *srv, int err, uint64_t dropped) {
    int reason = err == EMFILE                     ? SR_ACCEPT_ERR_EMFILE
                 : err == ENFILE                   ? SR_ACCEPT_ERR_ENFILE
                 : err == ENOMEM || err == ENOBUFS ? SR_ACCEPT_ERR_NOMEM
                                                   : SR_ACCEPT_ERR_OTHER;
    struct sr_accept_errors *ae = srv->accept_errors;
    ae->by_reason[reason]++;
    ae->dropped += dropped;
    uint64_t now = uv_now(srv->loop);
    if (ae->log_ms && now - ae->log_ms < SR_ACCEPT_LOG_WINDOW_MS) {
        ae->unlogged++;
        return;
    }
    const char *hint =
        reason == SR_ACCEPT_ERR_EMFILE
            ? ": the process is out of file descriptors (raise LimitNOFILE / ulimit -n)"
        : reason == SR_ACCEPT_ERR_ENFILE ? ": the system is out of file descriptors"
                                         : "";
    sr_log(srv, SR_LOG_ERROR, 0,
           "accept failed: %s (%s)%s; %llu waiting connections closed; %llu more accept errors "
           "in the last %u s",
           strerror(err), accept_err_names[reason], hint, (unsigned long long)dropped,
           (unsigned long long)ae->unlogged, (unsigned)(SR_ACCEPT_LOG_WINDOW_MS / 1000));
    ae->log_ms = now ? now : 1;
    ae->unlogged = 0;
}

/* Out of fds: frees the reserve fd to take the waiting connections off the
 * backlog and close them, so the listener does not spin on them. */
static uint64_t shed_backlog(sr_server *srv) {
    uint64_t n = 0;
    if (srv->reserve_fd >= 0) {
        close(srv->reserve_fd);
        srv->reserve_fd = -1;
    }
    for (;;) {
        int s = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (s < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            break;
        }
        close(s);
        n++;
    }
    open_reserve_fd(srv);
    return n;
}

static void take_connection(sr_server *srv, int fd) {
    sr_conn *c = sr_conn_new(srv);
    if (!c) {
        close(fd); /* out of memory: drop it */
        srv->stats.rejected_requests++;
        return;
    }
    if (uv_tcp_open(c->tcp, fd) != 0) {
        close(fd);
        sr_conn_close_now(c);
        return;
    }
    if (sr_tls_server_on(srv) && sr_tls_server_accept(c) < 0) {
        sr_conn_close_now(c);
        return;
    }
    /* HTTP/2 streams count as the connections they stand for (h2conn.c) */
    if (srv->cfg.max_connections &&
        srv->stats.connections + sr_h2c_streams(srv) > srv->cfg.max_connections) {
        sr_limit_refused(srv, SR_LIMIT_CONNECTIONS);
        sr_conn_start(c);
        sr_routes_error(c, 503, "too many connections", true);
        return;
    }
    sr_client_accept(c); /* starts it; counts its address when it is the client's */
}

static void on_listener_readable(uv_poll_t *h, int status, int events) {
    sr_server *srv = h->data;
    if (status < 0 || srv->shutting_down) return;
    for (int i = 0; i < SR_ACCEPT_BATCH; i++) {
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            take_connection(srv, fd);
            continue;
        }
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) return;
        if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
        /* EMFILE, ENFILE, ENOMEM, ENOBUFS...: shed what waits, or it spins */
        accept_failed(srv, err, shed_backlog(srv));
        return;
    }
}

void sr_accept_stats_json(sr_server *srv, sr_buf *b) {
    sr_buf_puts(b, ",\"accept_errors\":{");
    for (int i = 0; i < 4; i++)
        sr_buf_printf(b, "%s\"%s\":%llu", i ? "," : "", accept_err_names[i],
                      (unsigned long long)srv->accept_errors->by_reason[i]);
    sr_buf_printf(b, "},\"accept_dropped\":%llu", (unsigned long long)srv->accept_errors->dropped);
}

void sr_accept_metrics(sr_server *srv, sr_buf *b) {
    sr_buf_puts(b, "# HELP sserooms_accept_errors_total accept(2) failures, by reason (emfile: "
                   "the process is out of fds; enfile: the system is).\n"
                   "# TYPE sserooms_accept_errors_total counter\n");
    for (int i = 0; i < 4; i++)
        sr_buf_printf(b, "sserooms_accept_errors_total{reason=\"%s\"} %llu\n", accept_err_names[i],
                      (unsigned long long)srv->accept_errors->by_reason[i]);
    sr_buf_printf(
        b,
        "# HELP sserooms_accept_dropped_total Connections closed unserved after an "
        "accept error, to clear the backlog.\n"
        "# TYPE sserooms_accept_dropped_total counter\nsserooms_accept_dropped_total %llu\n",
        (unsigned long long)srv->accept_errors->dropped);
}

const char *sr_server_listen_error(const sr_server *srv) {
    return srv ? srv->listen_error : "";
}

/* Says in srv->listen_error why bind(2) or listen(2) failed, by errno. */
static void explain_bind_error(sr_server *srv, const char *call, int err) {
    const char *host = srv->cfg.host;
    int port = srv->cfg.port;
    char *out = srv->listen_error;
    size_t cap = sizeof srv->listen_error;
    switch (err) {
    case EACCES:
    case EPERM:
        snprintf(out, cap,
                 "permission denied: port %d is below 1024, which needs root or "
                 "CAP_NET_BIND_SERVICE (use a port >= 1024, e.g. behind a proxy)",
                 port);
        break;
    case EADDRINUSE:
        snprintf(out, cap, "address in use: another process listens on %s port %d", host, port);
        break;
    case EADDRNOTAVAIL:
        snprintf(out, cap, "address %s is not on any interface of this host", host);
        break;
    default: snprintf(out, cap, "%s %s port %d: %s", call, host, port, strerror(err)); break;
    }
}

int sr_server_listen(sr_server *srv) {
    if (!srv || srv->listening || srv->shutting_down) return SR_ESTATE;
    srv->listen_error[0] = '\0';
    struct sockaddr_storage addr;
    int rc;
    if (strchr(srv->cfg.host, ':'))
        rc = uv_ip6_addr(srv->cfg.host, srv->cfg.port, (struct sockaddr_in6 *)&addr);
    else rc = uv_ip4_addr(srv->cfg.host, srv->cfg.port, (struct sockaddr_in *)&addr);
    if (rc != 0) {
        snprintf(srv->listen_error, sizeof srv->listen_error,
                 "unknown address: host \"%s\" is not an IPv4 or IPv6 address (names are not "
                 "resolved)",
                 srv->cfg.host);
        return SR_EINVAL;
    }
    /* bind and listen on a plain socket first: a failure then leaves no
     * libuv handle behind that would need the loop to run to be closed (a
     * defer makes its handles only once started) */
    sr_defer_free(srv->end_of_turn); /* from an earlier listen that failed */
    srv->end_of_turn = sr_defer_new(srv->loop, on_end_of_turn, srv);
    if (!srv->end_of_turn) return SR_ENOMEM;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        explain_bind_error(srv, "socket", errno);
        return SR_EIO;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t alen = addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    int bound_ok = bind(fd, (struct sockaddr *)&addr, alen) == 0;
    if (!bound_ok || listen(fd, srv->cfg.backlog) != 0) {
        int err = errno;
        close(fd);
        explain_bind_error(srv, bound_ok ? "listen" : "bind", err);
        return err == EADDRINUSE ? SR_EADDRINUSE : SR_EIO;
    }
    if (uv_poll_init_socket(srv->loop, &srv->listener, fd) != 0) {
        close(fd);
        return SR_EIO;
    }
    srv->listen_fd = fd;
    count_handle(srv, (uv_handle_t *)&srv->listener);
    open_reserve_fd(srv);
    uv_poll_start(&srv->listener, UV_READABLE, on_listener_readable);
    struct sockaddr_storage bound;
    socklen_t len = sizeof(bound);
    getsockname(fd, (struct sockaddr *)&bound, &len);
    srv->bound_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                        : ((struct sockaddr_in *)&bound)->sin_port);

    sr_defer_every_turn(srv->end_of_turn);
    srv->open_handles++; /* the end-of-turn defer: on_end_of_turn_closed counts it back */
    sr_server_timer_init(srv, &srv->heartbeat_timer);
    if (srv->cfg.heartbeat_ms)
        uv_timer_start(&srv->heartbeat_timer, on_heartbeat, srv->cfg.heartbeat_ms,
                       srv->cfg.heartbeat_ms);
    uv_unref((uv_handle_t *)&srv->heartbeat_timer);
    sr_server_timer_init(srv, &srv->grace_timer);
    sr_recover_start(srv);
    sr_presence_start(srv);
    unsigned writers = sr_writers_wanted(&srv->cfg);
    if (writers && sr_writers_start(srv, writers) < 0) {
        /* no threads to be had: everything stays on this loop */
        sr_log(srv, SR_LOG_WARN, 0, "writer threads could not start; writing from the main loop");
        sr_writers_stop(srv);
    }
    sr_stats_room_start(srv);
    sr_auth_start(srv);
    srv->handles_ready = true;
    srv->listening = true;
    return SR_OK;
}

/* --- the server's own handles ------------------------------------------- */

static void count_handle(sr_server *srv, uv_handle_t *h) {
    h->data = srv;
    srv->open_handles++;
}

int sr_server_timer_init(sr_server *srv, uv_timer_t *t) {
    int rc = uv_timer_init(srv->loop, t);
    if (rc == 0) count_handle(srv, (uv_handle_t *)t);
    return rc;
}

int sr_server_poll_init(sr_server *srv, uv_poll_t *p, int fd) {
    int rc = uv_poll_init(srv->loop, p, fd);
    if (rc == 0) count_handle(srv, (uv_handle_t *)p);
    return rc;
}

int sr_server_async_init(sr_server *srv, uv_async_t *a, uv_async_cb cb) {
    int rc = uv_async_init(srv->loop, a, cb);
    if (rc == 0) count_handle(srv, (uv_handle_t *)a);
    return rc;
}

void sr_server_close_handle(sr_server *srv, uv_handle_t *h) {
    SR_ASSERT(h->data == srv);
    uv_close(h, on_server_handle_closed);
}

int sr_server_run(sr_server *srv) {
    if (!srv->own_loop) return SR_ESTATE;
    uv_run(srv->loop, UV_RUN_DEFAULT);
    return SR_OK;
}

/* Called whenever one of the server's handles (or a connection) finished
 * closing during shutdown. */
void sr_server_handle_closed(sr_server *srv) {
    if (!srv->shutting_down || srv->shutdown_done) return;
    if (srv->open_handles > 0 || srv->conns) return;
    srv->shutdown_done = true;
    if (srv->shutdown_cb) srv->shutdown_cb(srv->shutdown_ud, srv);
}

static void on_server_handle_closed(uv_handle_t *h) {
    sr_server *srv = h->data;
    SR_ASSERT(srv->open_handles > 0);
    srv->open_handles--;
    sr_server_handle_closed(srv);
}

static void on_end_of_turn_closed(void *ud) {
    sr_server *srv = ud;
    srv->open_handles--;
    sr_server_handle_closed(srv);
}

static void close_server_handles(sr_server *srv) {
    if (!srv->handles_ready) return;
    srv->handles_ready = false;
    sr_writers_stop(srv);  /* streams they still hold close now */
    sr_idle_shutdown(srv); /* and are freed */
    sr_defer_close(srv->end_of_turn, on_end_of_turn_closed);
    srv->end_of_turn = NULL;
    sr_server_close_handle(srv, (uv_handle_t *)&srv->heartbeat_timer);
    sr_server_close_handle(srv, (uv_handle_t *)&srv->grace_timer);
    sr_recover_close(srv);
    sr_presence_close(srv);
    sr_stats_room_close(srv);
    sr_auth_close(srv);
}

static void on_grace_timeout(uv_timer_t *t) {
    sr_server *srv = t->data;
    /* streams that could not drain in time are cut */
    sr_conn *c = srv->conns;
    while (c) {
        sr_conn *next = c->next;
        sr_conn_close_now(c);
        c = next;
    }
    close_server_handles(srv);
}

/* Checked after each connection closes during shutdown. */
static void maybe_finish_shutdown(sr_server *srv) {
    if (srv->conns == NULL) {
        uv_timer_stop(&srv->grace_timer);
        close_server_handles(srv);
    }
}

void sr_server_shutdown(sr_server *srv, sr_shutdown_fn done, void *ud) {
    if (!srv) return;
    if (srv->shutting_down) return;
    srv->shutting_down = true;
    srv->shutdown_cb = done;
    srv->shutdown_ud = ud;
    if (srv->has_adapter && srv->adapter.close) {
        srv->has_adapter = false;
        srv->adapter.close(srv->adapter.ctx);
    }
    if (srv->bus) {
        sr_server_attach_memory_bus(srv, NULL);
    }
    sr_sequence_shutdown(srv); /* calls the adapter's close did not complete */
    if (!srv->listening) {
        srv->shutdown_done = true;
        if (done) done(ud, srv);
        return;
    }
    sr_server_close_handle(srv, (uv_handle_t *)&srv->listener);
    close(srv->listen_fd); /* a poll handle leaves its fd open; uv_close stopped it */
    srv->listen_fd = -1;
    if (srv->reserve_fd >= 0) close(srv->reserve_fd);
    srv->reserve_fd = -1;
    uv_timer_stop(&srv->heartbeat_timer);
    /* every stream ends once what is queued for it is written */
    sr_conn *c = srv->conns;
    while (c) {
        sr_conn *next = c->next;
        sr_conn_end(c);
        c = next;
    }
    sr_server_flush_dirty(srv);
    sr_writers_handover(srv);
    if (srv->conns) {
        uv_ref((uv_handle_t *)&srv->grace_timer);
        uv_timer_start(&srv->grace_timer, on_grace_timeout, SR_SHUTDOWN_GRACE_MS, 0);
    } else {
        maybe_finish_shutdown(srv);
    }
}

void sr_server_conn_gone(sr_server *srv) {
    if (srv->shutting_down) maybe_finish_shutdown(srv);
}

void sr_server_free(sr_server *srv) {
    if (!srv) return;
    sr_writers_stop(srv);            /* before the frames the threads may hold */
    sr_defer_free(srv->end_of_turn); /* a listen that failed, or no shutdown */
    srv->end_of_turn = NULL;
    if (srv->has_adapter && srv->adapter.close) srv->adapter.close(srv->adapter.ctx);
    srv->has_adapter = false;
    if (srv->bus) sr_server_attach_memory_bus(srv, NULL);
    sr_sequence_free(srv);
    sr_batch_free(srv); /* before the rooms it points at */
    if (srv->reg) sr_registry_free(srv->reg);
    sr_frame_unref(srv->heartbeat_frame);
    sr_frame_unref(srv->sse_head_frame);
    while (srv->free_writes) {
        sr_write *w = srv->free_writes;
        srv->free_writes = w->next_free;
        free(w);
    }
    sr_remote_free(srv);
    sr_tls_server_free(srv);
    if (srv->own_loop) {
        uv_run(srv->loop, UV_RUN_NOWAIT);
        uv_loop_close(srv->loop);
        free(srv->own_loop);
    }
    /* the groups that hold handles, once those closed */
    sr_auth_free(srv);
    sr_recover_free(srv);
    sr_presence_free(srv);
    sr_observe_free(srv);
    sr_idle_free(srv);
    sr_writers_free(srv);
    sr_limits_free(srv); /* after the last connection closed */
    sr_clients_free(srv);
    sr_h2c_counters_free(srv);
    if (srv->ids) free(srv->ids->slots);
    free(srv->ids);
    free(srv->hooks);
    free(srv->accept_errors);
    free(srv->scratch);
    for (size_t i = 0; i < srv->n_strings; i++) free(srv->strings[i]);
    free(srv->strings);
    sr_slab_destroy(&srv->conn_pool); /* the connections were freed above */
    sr_slab_destroy(&srv->sendq_pool);
    free(srv);
}

void sr_server_on_accept(sr_server *srv, sr_accept_fn fn, void *ud) {
    srv->hooks->accept_fn = fn;
    srv->hooks->accept_ud = ud;
}

void sr_server_on_close(sr_server *srv, sr_close_fn fn, void *ud) {
    srv->hooks->close_fn = fn;
    srv->hooks->close_ud = ud;
}

void sr_server_on_request(sr_server *srv, sr_request_fn fn, void *ud) {
    srv->hooks->request_fn = fn;
    srv->hooks->request_ud = ud;
}

sr_accept_fn sr_server_accept_hook(const sr_server *srv, void **ud) {
    *ud = srv->hooks->accept_ud;
    return srv->hooks->accept_fn;
}

sr_close_fn sr_server_close_hook(const sr_server *srv, void **ud) {
    *ud = srv->hooks->close_ud;
    return srv->hooks->close_fn;
}

sr_request_fn sr_server_request_hook(const sr_server *srv, void **ud) {
    *ud = srv->hooks->request_ud;
    return srv->hooks->request_fn;
}

void sr_server_set_ticket_claim(sr_server *srv, sr_claim_fn claim, void *ctx) {
    if (!srv) return;
    srv->ticket_claim = claim;
    srv->ticket_claim_ctx = claim ? ctx : NULL;
}

int sr_server_set_adapter_(sr_server *srv, const sr_adapter *in, size_t adapter_size) {
    if (!srv || srv->shutting_down) return SR_ESTATE;
    /* the program's members; those of a newer sr_adapter must be unset */
    sr_adapter full = {0};
    if (in && sr_abi_copy_in(&full, sizeof full, in, adapter_size) < 0) return SR_EINVAL;
    const sr_adapter *adapter = in ? &full : NULL;
    if (srv->has_adapter && srv->adapter.close) srv->adapter.close(srv->adapter.ctx);
    srv->has_adapter = false;
    srv->ticket_claim = NULL; /* the Redis adapter's (use.c sets it again) */
    srv->ticket_claim_ctx = NULL;
    if (!adapter) return SR_OK;
    srv->adapter = *adapter;
    srv->has_adapter = true;
    if (adapter->subscribe) {
        sr_registry_iter it = {0};
        sr_room *room;
        while ((room = sr_registry_next(srv->reg, &it)))
            adapter->subscribe(adapter->ctx, room->name);
        /* POST /disconnect reaches the other nodes there (revoke.c) */
        if (sr_revoke_wanted(srv)) adapter->subscribe(adapter->ctx, SR_CONTROL_ROOM);
    }
    if (adapter->presence_set) {
        sr_registry_iter it = {0};
        sr_room *room;
        while ((room = sr_registry_next(srv->reg, &it)))
            for (uint32_t i = 0; i < room->n_members; i++)
                sr_presence_room_changed(srv, room, room->members[i], 1);
    }
    return SR_OK;
}

void sr_server_stats_(const sr_server *srv, sr_stats *out, size_t out_size) {
    sr_stats full = srv->stats;
    full.rooms = sr_registry_room_count(srv->reg);
    sr_writers_add_stats(srv, &full);
    sr_abi_copy_out(out, out_size, &full, sizeof full);
}

/* --- id -> connection table (open addressing, linear probing) --------- */

static size_t id_slot(uint64_t id, size_t cap) {
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

static int id_table_grow(struct sr_id_table *t) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    sr_conn **slots = calloc(cap, sizeof(*slots));
    if (!slots) return -1;
    for (size_t i = 0; i < t->cap; i++) {
        sr_conn *c = t->slots[i];
        if (!c) continue;
        size_t s = id_slot(c->id, cap);
        while (slots[s]) s = (s + 1) & (cap - 1);
        slots[s] = c;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

void sr_server_id_insert(sr_server *srv, sr_conn *c) {
    /* at most 3/4 full: lookups by id are rare, and the table is a part
     * of every stream's memory */
    struct sr_id_table *t = srv->ids;
    if ((t->len + 1) * 4 > t->cap * 3 && id_table_grow(t) < 0) return;
    size_t s = id_slot(c->id, t->cap);
    while (t->slots[s]) s = (s + 1) & (t->cap - 1);
    t->slots[s] = c;
    t->len++;
    c->in_hash = 1;
}

void sr_server_id_remove(sr_server *srv, sr_conn *c) {
    if (!c->in_hash) return;
    struct sr_id_table *t = srv->ids;
    size_t cap = t->cap;
    size_t s = id_slot(c->id, cap);
    while (t->slots[s] != c) s = (s + 1) & (cap - 1);
    t->slots[s] = NULL;
    t->len--;
    c->in_hash = 0;
    /* re-place the rest of the probe run (backward-shift deletion) */
    size_t j = (s + 1) & (cap - 1);
    while (t->slots[j]) {
        sr_conn *m = t->slots[j];
        t->slots[j] = NULL;
        size_t k = id_slot(m->id, cap);
        while (t->slots[k]) k = (k + 1) & (cap - 1);
        t->slots[k] = m;
        j = (j + 1) & (cap - 1);
    }
}

sr_conn *sr_conn_find(sr_server *srv, uint64_t id) {
    const struct sr_id_table *t = srv->ids;
    if (!t->cap) return NULL;
    size_t s = id_slot(id, t->cap);
    while (t->slots[s]) {
        if (t->slots[s]->id == id) {
            sr_conn *c = t->slots[s];
            return (c->closing || c->doomed) ? NULL : c;
        }
        s = (s + 1) & (t->cap - 1);
    }
    return NULL;
}
