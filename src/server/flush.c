/* SPDX-License-Identifier: MIT */
/*
 * flush.c: the end-of-turn flush and the heartbeats: what writes the
 * frames queued during a loop turn, and what keeps idle streams alive.
 *
 * One end-of-turn defer (loop/defer.h, every-turn mode) runs after every
 * poll phase and flushes each connection that had frames queued during
 * that turn, so frames queued by several broadcasts in one turn leave in
 * one writev; the answers go first, then one slice of the fan-out sweep
 * (batch.c) is delivered and written, and while slices are left the next
 * poll does not block. One timer sends the shared heartbeat frame to
 * every stream. With writer threads (writer.c, started at listen, stopped
 * when the server's handles close) the flush also hands each writer its
 * batch, and streams owned by a writer get their heartbeats from the
 * writer's wheel instead. The defer and the timer are the server's fields
 * (srv->end_of_turn, srv->heartbeat_timer): listen.c starts them through
 * here, shutdown.c closes them through here.
 */
#include "server/internal.h"
#include "server/writer.h"

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

int sr_flush_prepare(sr_server *srv) {
    sr_defer_free(srv->end_of_turn); /* from an earlier listen that failed */
    srv->end_of_turn = sr_defer_new(srv->loop, on_end_of_turn, srv);
    return srv->end_of_turn ? SR_OK : SR_ENOMEM;
}

void sr_flush_start(sr_server *srv) {
    sr_defer_every_turn(srv->end_of_turn);
    srv->open_handles++; /* the end-of-turn defer: on_end_of_turn_closed counts it back */
    sr_server_timer_init(srv, &srv->heartbeat_timer);
    if (srv->cfg.heartbeat_ms)
        uv_timer_start(&srv->heartbeat_timer, on_heartbeat, srv->cfg.heartbeat_ms,
                       srv->cfg.heartbeat_ms);
    uv_unref((uv_handle_t *)&srv->heartbeat_timer);
}

void sr_flush_stop_heartbeats(sr_server *srv) {
    uv_timer_stop(&srv->heartbeat_timer);
}

static void on_end_of_turn_closed(void *ud) {
    sr_server *srv = ud;
    srv->open_handles--;
    sr_server_handle_closed(srv);
}

void sr_flush_close(sr_server *srv) {
    sr_defer_close(srv->end_of_turn, on_end_of_turn_closed);
    srv->end_of_turn = NULL;
    sr_server_close_handle(srv, (uv_handle_t *)&srv->heartbeat_timer);
}

void sr_flush_free(sr_server *srv) {
    sr_defer_free(srv->end_of_turn); /* a listen that failed, or no shutdown */
    srv->end_of_turn = NULL;
}
