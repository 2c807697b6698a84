/* SPDX-License-Identifier: MIT */
/*
 * conn.c: one client connection's life: created on accept, turned into a
 * stream, ended (after its answers are out) or closed at once, freed once
 * its socket is closed; and the public sr_conn accessors. What it reads is
 * conn_read.c's, what it sends sendq.c's.
 *
 * A connection that reads requests has its HTTP state (parser, timer,
 * held bytes, holes, its HTTP budget share) in c->http, released when it
 * becomes a stream or closes, so a stream holds no read-side memory. The
 * sr_conn itself is a block of the server's slab pool (srv->conn_pool: no
 * malloc header, no fragmentation between streams), and its history and
 * recovery state (c->hist) is made only at its first use
 * (sr_conn_hist_of), so an idle stream holds neither. Closing takes a stream
 * out of its rooms first (what was published before it left still
 * reaches it, and the embedder's close hook runs once).
 *
 * With writer threads (writer.c) a stream's queue and writes belong to its
 * writer once it is a stream (c->wslot set): closing waits for the
 * writer's "gone" before the socket is closed (sr_conn_writer_gone).
 */
#include <stdlib.h>

#include "server/conn_int.h"
#include "server/internal.h"
#include "server/transport.h"
#include "server/writer.h"

static void on_http_state_closed(uv_handle_t *h) {
    sr_conn_http *hs = h->data;
    sr_http_request_release(&hs->req);
    free(hs);
}

static void release_http_state(sr_conn *c) {
    sr_conn_http *hs = c->http;
    if (!hs) return;
    sr_http_budget_update(c); /* a stream or a closing connection pins nothing */
    c->http = NULL;
    if (hs->wait) { /* the pending response will find no connection */
        hs->wait->conn = NULL;
        hs->wait = NULL;
    }
    for (sr_http_wait *w = hs->holes; w; w = w->next) w->conn = NULL; /* likewise */
    hs->holes = NULL;
    hs->n_holes = 0;
    sr_buf_free(&hs->held);
    free(hs->set_cookie);
    hs->set_cookie = NULL;
    if (hs->view) {
        free(hs->view->error);
        free(hs->view);
        hs->view = NULL;
    }
    uv_timer_stop(&hs->timer);
    hs->timer.data = hs;
    uv_close((uv_handle_t *)&hs->timer, on_http_state_closed);
}

sr_conn *sr_conn_new(sr_server *srv) {
    sr_conn *c = sr_slab_alloc(&srv->conn_pool); /* zeroed */
    if (!c) return NULL;
    c->http = calloc(1, sizeof(*c->http));
    c->tcp = malloc(sizeof(*c->tcp));
    if (!c->http || !c->tcp || uv_tcp_init(srv->loop, c->tcp) != 0) {
        free(c->tcp);
        free(c->http);
        sr_slab_free(&srv->conn_pool, c);
        return NULL;
    }
    c->tcp->data = c;
    c->fd = -1;
    c->srv = srv;
    c->id = srv->next_conn_id++;
    c->http->out_ms = uv_now(srv->loop);
    sr_http_limits limits = {
        .max_header_bytes = srv->cfg.max_header_bytes,
        .max_body_bytes = srv->cfg.max_body_bytes,
        .max_headers = 100,
        .require_host = 1,
    };
    sr_http_request_init(&c->http->req, &limits);
    uv_timer_init(srv->loop, &c->http->timer);
    c->http->timer.data = c;
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    srv->stats.connections++;
    return c;
}

void sr_conn_free(sr_conn *c) {
    sr_server *srv = c->srv;
    for (sr_frame *f; (f = sr_conn_queue_pop(c));) sr_frame_unref(f);
    sr_transport_free(c->xport);
    if (c->prev) c->prev->next = c->next;
    else srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (!c->h2s) srv->stats.connections--; /* an HTTP/2 stream was never one */
    sr_h2c_free(c);
    sr_addr_release(srv, c);
    sr_http_budget_update(c); /* closing: its share drops to 0 */
    free(c->user);
    free(c->hist);
    sr_slab_free(&srv->conn_pool, c);
    sr_server_conn_gone(srv);
}

const sr_conn_hist sr_conn_hist_none;

sr_conn_hist *sr_conn_hist_of(sr_conn *c) {
    if (!c->hist) c->hist = calloc(1, sizeof(*c->hist));
    return c->hist;
}

static void on_conn_closed(uv_handle_t *h) {
    sr_conn *c = h->data;
    free(h);
    sr_conn_free(c);
}

/* Closes c's socket: its handle, or the fd of a stream without one. */
static void close_socket(sr_conn *c) {
    if (c->tcp) uv_close((uv_handle_t *)c->tcp, on_conn_closed);
    else sr_idle_close_fd(c);
}

/* Takes a stream out of its rooms and tells the embedder, once. */
static void detach_stream(sr_conn *c) {
    sr_server *srv = c->srv;
    sr_batch_barrier(srv); /* what was published before it left reaches it */
    if (c->kind == SR_CONN_STREAM && !c->detached) {
        c->detached = 1;
        void *close_ud;
        sr_close_fn close_fn = sr_server_close_hook(srv, &close_ud);
        if (close_fn) close_fn(close_ud, c);
        sr_server_id_remove(srv, c);
        srv->stats.streams--;
    }
    /* also covers rooms joined by an accept hook that then refused */
    sr_registry_leave_all(srv->reg, &c->member);
}

void sr_conn_close_now(sr_conn *c) {
    if (c->closing) return;
    detach_stream(c);
    c->closing = 1;
    release_http_state(c);
    if (c->h2) sr_h2c_closing(c);        /* its streams close with it */
    if (c->h2s) sr_h2c_stream_closed(c); /* ends or resets its stream */
    if (c->tcp) uv_read_stop((uv_stream_t *)c->tcp);
    else sr_idle_forget(c);
    if (c->wslot) { /* the socket closes once its writer let go of it */
        sr_writer_detach(c);
        return;
    }
    close_socket(c);
}

void sr_conn_writer_gone(sr_conn *c, sr_gone_reason why) {
    c->wslot = 0;
    if (why == SR_GONE_SLOW && !c->closing)
        sr_log(c->srv, SR_LOG_WARN, c->id, "stream %llu: slow consumer, disconnected",
               (unsigned long long)c->id);
    if (!c->closing) {
        sr_conn_close_now(c);
        return;
    }
    close_socket(c);
}

struct sr_transport *sr_conn_transport(const sr_conn *c) {
    return c->xport;
}

bool sr_conn_is_h2(const sr_conn *c) {
    return c->h2 != NULL;
}

void sr_conn_end(sr_conn *c) {
    if (c->closing) return;
    if (c->http) { /* a client that reads none of its last answers is not kept forever */
        uv_timer_stop(&c->http->timer);
        sr_conn_start_timer(c, c->srv->cfg.request_timeout_ms);
    }
    if (c->h2) { /* GOAWAY; it closes once its streams ended */
        sr_h2c_end(c);
        return;
    }
    detach_stream(c);
    c->end_after_flush = 1;
    if (c->wslot) {
        sr_writer_end(c);
        return;
    }
    if (sr_conn_queued(c) == 0 && !c->inflight) {
        sr_conn_close_now(c);
        return;
    }
    sr_conn_mark_dirty(c);
}

void sr_conn_become_stream(sr_conn *c) {
    sr_server *srv = c->srv;
    c->kind = SR_CONN_STREAM;
    release_http_state(c);
    srv->stats.streams++;
    srv->stats.streams_total++;
    sr_server_id_insert(srv, c);
    /* its socket leaves its handle when nothing needs it (idle.c); -1: it
     * keeps it */
    sr_idle_take(c);
    /* -1: it stays on this loop; an HTTP/2 stream always does (its bytes
     * go through its parent's session) */
    if (srv->writers && !c->h2s) sr_writer_attach(c);
}

/* --- public connection API -------------------------------------------- */

uint64_t sr_conn_id(const sr_conn *c) {
    return c->id;
}

void sr_conn_set_userdata(sr_conn *c, void *ud) {
    c->userdata = ud;
}

void *sr_conn_userdata(const sr_conn *c) {
    return c->userdata;
}

sr_server *sr_conn_server(const sr_conn *c) {
    return c->srv;
}

void sr_close(sr_conn *c) {
    if (!c) return;
    if (c->srv->fanout_depth > 0) {
        sr_conn_doom(c);
        return;
    }
    sr_conn_end(c);
}
