/* SPDX-License-Identifier: MIT */
/*
 * accept.c: accepting connections on the listening socket (listen.c
 * binds it) and counting what fails.
 *
 * accept4 is called here rather than by libuv (uv_listen), because libuv
 * meets EMFILE with its own reserve-fd trick and tells nobody: here each
 * failure is counted by reason (/stats, /metrics) and logged at most once
 * per SR_ACCEPT_LOG_WINDOW_MS, and when fds run out the reserve fd is
 * closed to accept and at once close what waits in the backlog (the
 * clients see a reset instead of hanging), then opened again. The
 * listener is a poll handle on the socket; at most SR_ACCEPT_BATCH
 * connections are taken per readiness. State: the failure counters
 * (struct sr_accept_errors, srv->accept_errors); the listener's handle and
 * the two fds are the server's fields (a handle at a stable address).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/internal.h"
#include "server/tls_server.h"

/* The accept(2) failures counted and their log window. */
struct sr_accept_errors {
    uint64_t by_reason[4]; /* by SR_ACCEPT_ERR_* */
    uint64_t dropped;      /* connections closed at once for lack of fds */
    uint64_t log_ms;       /* loop time of the last accept-error line */
    uint64_t unlogged;     /* errors since that line */
};

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

int sr_accept_new(sr_server *srv) {
    srv->accept_errors = calloc(1, sizeof(*srv->accept_errors));
    return srv->accept_errors ? SR_OK : SR_ENOMEM;
}

void sr_accept_free(sr_server *srv) {
    free(srv->accept_errors);
    srv->accept_errors = NULL;
}

int sr_accept_start(sr_server *srv, int fd) {
    /* on Unix uv_poll_init_socket is uv_poll_init */
    if (sr_server_poll_init(srv, &srv->listener, fd) != 0) return SR_EIO;
    srv->listen_fd = fd;
    open_reserve_fd(srv);
    uv_poll_start(&srv->listener, UV_READABLE, on_listener_readable);
    return SR_OK;
}

void sr_accept_stop(sr_server *srv) {
    sr_server_close_handle(srv, (uv_handle_t *)&srv->listener);
    close(srv->listen_fd); /* a poll handle leaves its fd open; uv_close stopped it */
    srv->listen_fd = -1;
    if (srv->reserve_fd >= 0) close(srv->reserve_fd);
    srv->reserve_fd = -1;
}
