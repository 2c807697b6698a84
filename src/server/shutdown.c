/* SPDX-License-Identifier: MIT */
/*
 * shutdown.c: the server's own handles, counted, and the graceful
 * shutdown that waits for them.
 *
 * Every handle of the server's (timers, polls and asyncs of any file, not
 * the connections') is counted in open_handles by the helper that
 * initialises it (sr_server_*_init) and counted down by
 * sr_server_close_handle's callback. sr_server_shutdown stops accepting,
 * closes the adapter, ends every stream once what is queued for it is
 * written and gives them SR_SHUTDOWN_GRACE_MS to drain (then cuts them);
 * once no connection is left it closes the server's handles, and the
 * shutdown's callback runs when the count is back at 0.
 */
#include "server/internal.h"
#include "server/recover.h"
#include "server/writer.h"

#define SR_SHUTDOWN_GRACE_MS 2000

static void on_server_handle_closed(uv_handle_t *h);

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

static void close_server_handles(sr_server *srv) {
    if (!srv->handles_ready) return;
    srv->handles_ready = false;
    sr_writers_stop(srv);  /* streams they still hold close now */
    sr_idle_shutdown(srv); /* and are freed */
    sr_flush_close(srv);
    sr_server_close_handle(srv, (uv_handle_t *)&srv->grace_timer);
    sr_recover_close(srv);
    sr_presence_close(srv);
    sr_stats_room_close(srv);
    sr_auth_close(srv);
}

/* Calls fn on every connection; fn may unlink the one it is given. */
static void each_conn(sr_server *srv, void (*fn)(sr_conn *c)) {
    sr_conn *c = srv->conns;
    while (c) {
        sr_conn *next = c->next;
        fn(c);
        c = next;
    }
}

static void on_grace_timeout(uv_timer_t *t) {
    sr_server *srv = t->data;
    each_conn(srv, sr_conn_close_now); /* streams that could not drain in time are cut */
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
    sr_accept_stop(srv);
    sr_flush_stop_heartbeats(srv);
    each_conn(srv, sr_conn_end); /* every stream ends once what is queued for it is written */
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
