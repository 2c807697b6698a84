/* SPDX-License-Identifier: MIT */
/*
 * listen.c: sr_server_listen: binding the listening socket and starting
 * the server's handles (the end-of-turn flush and heartbeats of flush.c,
 * the timers of the other files, the writer threads), then handing the
 * socket to accept.c. A failure says its cause in words
 * (sr_server_listen_error: the port below 1024, the address in use, an
 * address not on this host) and leaves no handle behind: the socket is
 * bound and listening before the first libuv handle is made.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/internal.h"
#include "server/recover.h"
#include "server/writer.h"

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
    if (sr_flush_prepare(srv) < 0) return SR_ENOMEM;
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
    if (sr_accept_start(srv, fd) < 0) {
        close(fd);
        return SR_EIO;
    }
    struct sockaddr_storage bound;
    socklen_t len = sizeof(bound);
    getsockname(fd, (struct sockaddr *)&bound, &len);
    srv->bound_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                        : ((struct sockaddr_in *)&bound)->sin_port);

    sr_flush_start(srv);
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

int sr_server_port(const sr_server *srv) {
    return srv->listening ? srv->bound_port : SR_ESTATE;
}
