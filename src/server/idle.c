/* SPDX-License-Identifier: MIT */
/*
 * idle.c: streams without a libuv handle.
 *
 * Once a connection is an SSE stream (plain or TLS, not HTTP/2), the main
 * loop needs little of its socket: it notices the client going away (EOF
 * or an error; what a client sends on a plain stream is read and dropped)
 * and, without writer threads, writes to it and waits for writable when
 * the socket is full. A TLS stream's bytes go through the same call as
 * with a handle (sr_conn_stream_read, conn_read.c): opened by its
 * transport while this loop owns it (a close_notify ends the stream, a
 * bad record fails it, a KeyUpdate is answered), dropped once a writer
 * thread owns it (then EOF ends it, transport.h). A uv_tcp_t (248 bytes) for that was the biggest
 * part of an idle stream's memory, so the socket moves out of it: it is dup'd, the handle is closed
 * (closing the old fd) and freed, and the new fd joins one epoll set of the server's own, which a
 * single uv_poll_t watches on the main loop (an epoll fd is itself pollable). Per stream that
 * leaves the kernel's epoll item and c->fd. HTTP/2 connections keep their handle, and so does a
 * stream with a uv_write in flight until it completes (sendq.c's on_write moves it then).
 *
 * Events (level-triggered): readable, peer closed or error: the socket is
 * read into the server's scratch buffer until it would block, a few reads
 * at most per event as libuv does; EOF or an error closes the stream
 * (sr_conn_close_now). Writable, watched only while a send found the
 * socket full (sr_idle_want_out, from sendq.c's flush): the flush goes on.
 * With writer threads the writer writes to the same fd from its own loop
 * (writer.c) and this set only reads; the fd is closed after the writer's
 * "gone", as the handle was.
 *
 * Memory: what a connection needed while it read its request (its HTTP
 * state, parser buffers, the handle) is freed when it becomes an idle
 * stream, but the heap keeps those pages between what is still in use, so
 * after a burst of opens the process held about 100 bytes more per stream
 * than it uses. Streams made idle arm a one-shot timer; when it fires
 * (four times a second at most, during a burst and once after it) the free
 * pages go back to the system (glibc's malloc_trim). The sr_conn itself
 * comes from the server's slab pool (conn.c), so no malloc header or
 * fragmentation sits between streams.
 *
 * Freeing: a connection with a handle is freed by the handle's close
 * callback, after the loop turn's callbacks. One without is put on the
 * server's reap list (srv->idle) when its socket closes and freed at the end of the
 * flush check (flush.c), when none of the turn's lists (dirty, doomed, a
 * batch of events here) can point at it any more, and at shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/internal.h"

#define SR_IDLE_EVENTS 256      /* events taken per epoll_wait */
#define SR_IDLE_ROUNDS 64       /* epoll_waits per wake-up while each fills its array */
#define SR_IDLE_READS 32        /* reads per event for a client that keeps sending */
#define SR_IDLE_TRIM_MS 250     /* a trim at most this often */
#define SR_IDLE_TRIM_STREAMS 64 /* streams made idle since the last trim */

static void on_idle_events(uv_poll_t *h, int status, int events);

/* The server's idle set (srv->idle). */
struct sr_idle {
    int epfd;       /* the epoll set; -1: not made yet */
    uv_poll_t poll; /* watches epfd on the loop */
    bool poll_open;
    sr_conn *reap;         /* closed ones to free at the end of the turn */
    uv_timer_t trim_timer; /* gives the heap's free pages back after
                              streams opened (on_idle_trim) */
    bool trim_open;        /* trim_timer initialised, not closed yet */
    uint32_t taken;        /* streams made idle since the last trim */
};

int sr_idle_new(sr_server *srv) {
    srv->idle = calloc(1, sizeof(*srv->idle));
    if (!srv->idle) return SR_ENOMEM;
    srv->idle->epfd = -1;
    return SR_OK;
}

void sr_idle_free(sr_server *srv) {
    free(srv->idle);
    srv->idle = NULL;
}

/* The idle set, made at the first stream that can use it. */
static int idle_set_open(sr_server *srv) {
    if (srv->idle->poll_open) return 0;
    if (!srv->handles_ready) return -1; /* not listening, or shutting down */
    if (!srv->idle->trim_open) {
        if (sr_server_timer_init(srv, &srv->idle->trim_timer) != 0) return -1;
        srv->idle->trim_open = true;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -1;
    if (sr_server_poll_init(srv, &srv->idle->poll, ep) != 0) {
        close(ep);
        return -1;
    }
    if (uv_poll_start(&srv->idle->poll, UV_READABLE, on_idle_events) != 0) {
        /* closed like the server's other handles: it was initialised */
        srv->idle->epfd = ep;
        srv->idle->poll_open = true;
        return -1;
    }
    srv->idle->epfd = ep;
    srv->idle->poll_open = true;
    return 0;
}

static void on_handle_freed(uv_handle_t *h) {
    free(h);
}

static void on_idle_trim(uv_timer_t *t) {
    sr_server *srv = t->data;
    if (srv->idle->taken < SR_IDLE_TRIM_STREAMS) return;
    srv->idle->taken = 0;
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

int sr_idle_take(sr_conn *c) {
    sr_server *srv = c->srv;
    if (!c->tcp || c->h2 || c->h2s || c->inflight || c->closing || c->kind != SR_CONN_STREAM)
        return -1;
    if (idle_set_open(srv) < 0) return -1;
    uv_os_fd_t old;
    if (uv_fileno((uv_handle_t *)c->tcp, &old) != 0) return -1;
    int fd = fcntl(old, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return -1; /* no fd to spare: it keeps its handle */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(srv->idle->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return -1;
    }
    uv_tcp_t *t = c->tcp;
    c->tcp = NULL;
    c->fd = fd;
    c->read_stopped = 0;
    uv_close((uv_handle_t *)t, on_handle_freed); /* closes the old fd now */
    srv->idle->taken++;
    if (!uv_is_active((uv_handle_t *)&srv->idle->trim_timer))
        uv_timer_start(&srv->idle->trim_timer, on_idle_trim, SR_IDLE_TRIM_MS, 0);
    return 0;
}

int sr_idle_want_out(sr_conn *c, bool on) {
    if (c->out_wait == on) return 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(c->srv->idle->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) return -1;
    c->out_wait = on;
    return 0;
}

void sr_idle_forget(sr_conn *c) {
    if (c->fd < 0) return;
    epoll_ctl(c->srv->idle->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->out_wait = 0;
}

void sr_idle_close_fd(sr_conn *c) {
    sr_server *srv = c->srv;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->reap_next = srv->idle->reap;
    srv->idle->reap = c;
    sr_server_want_check(srv); /* the check frees it, also when nothing else happens */
}

void sr_idle_reap(sr_server *srv) {
    /* one at a time from the head: freeing the last connection during a
     * shutdown closes the server's handles, which reaps again */
    while (srv->idle->reap) {
        sr_conn *c = srv->idle->reap;
        srv->idle->reap = c->reap_next;
        sr_conn_free(c);
    }
}

/* Reads what a stream's client sent (dropped, or opened by its TLS
 * transport: sr_conn_stream_read); closes it at EOF or an error. */
static void idle_read(sr_conn *c) {
    sr_server *srv = c->srv;
    for (int i = 0; i < SR_IDLE_READS; i++) {
        ssize_t n = recv(c->fd, srv->scratch, SR_SCRATCH_SIZE, MSG_DONTWAIT);
        if (n > 0) {
            if (sr_conn_stream_read(c, srv->scratch, (size_t)n) < 0) return; /* closed */
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        sr_conn_close_now(c); /* EOF or reset: nothing more can be delivered */
        return;
    }
}

static void on_idle_events(uv_poll_t *h, int status, int events) {
    (void)status;
    (void)events;
    sr_server *srv = h->data;
    struct epoll_event ev[SR_IDLE_EVENTS];
    /* Take every ready stream in this wake-up, as libuv's own poll phase
     * does (it repeats a full epoll_wait up to 48 times): when a fan-out
     * outruns its readers, thousands of streams wait for writable at once,
     * and serving only one array of them per loop turn (while every turn
     * also delivers a slice of the sweep) let the backlog grow faster than
     * it drained: seconds of latency that never came back down. */
    for (int round = 0; round < SR_IDLE_ROUNDS; round++) {
        int n = epoll_wait(srv->idle->epfd, ev, SR_IDLE_EVENTS, 0);
        for (int i = 0; i < n; i++) {
            /* a connection closed by an earlier event of this batch (the
             * close hook may close others) is still allocated: reaped later */
            sr_conn *c = ev[i].data.ptr;
            if (c->closing) continue;
            if ((ev[i].events & EPOLLOUT) && c->out_wait) {
                if (sr_idle_want_out(c, false) != 0) {
                    sr_conn_close_now(c);
                    continue;
                }
                sr_conn_flush(c); /* may find it full again, and watch again */
                if (c->closing) continue;
            }
            if (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) idle_read(c);
        }
        if (n < SR_IDLE_EVENTS) break;
    }
    sr_server_close_doomed(srv);
}

void sr_idle_shutdown(sr_server *srv) {
    sr_idle_reap(srv);
    if (srv->idle->trim_open) {
        srv->idle->trim_open = false;
        sr_server_close_handle(srv, (uv_handle_t *)&srv->idle->trim_timer);
    }
    if (!srv->idle->poll_open) return;
    srv->idle->poll_open = false;
    sr_server_close_handle(srv, (uv_handle_t *)&srv->idle->poll);
    close(srv->idle->epfd); /* a poll handle leaves its fd open */
    srv->idle->epfd = -1;
}
