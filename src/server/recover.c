/* SPDX-License-Identifier: MIT */
/*
 * recover.c: no silent gap for streams that stay connected while their
 * node loses its Redis subscription and gets it back (docs/resume.md,
 * "Streams that stay connected").
 *
 * The adapter reports each room whose subscription Redis confirmed again
 * after a loss (sr_server_room_recovered: the connection dropped, Redis
 * restarted or failed over, a cluster slot moved), with the wall-clock
 * times of the loss and of the confirmation. Messages published to the
 * room in between may not have reached this node. Right then, before any
 * later message of the subscriber is delivered, each member stream of the
 * room:
 *
 * - history in the adapter (Redis): is filled like a resume
 *   (history_resume.c's sr_history_fill): its live frames are held, the
 *   history after the newest id this node delivered is fetched (the fetch
 *   runs once every subscription is active), queued in order, then the
 *   held frames newer than the answer. When the history cannot answer, the
 *   stream gets the reset event ("epoch", "gone", "unavailable").
 * - otherwise (history off, or kept in memory): gets the gap event
 *   (cfg.gap_event, default "gap") with data
 *   {"reason":"redis","from":<lost ms>,"to":<confirmed ms>}, without an id
 *   (the browser keeps its Last-Event-ID).
 *
 * "The newest id this node delivered" is the watermark `w`: the newest
 * history counter that arrived live from the adapter. The subscriber
 * delivers in Redis's order, so every message of a subscribed room up to
 * it has arrived. A stream that resumed to a newer id keeps that as its
 * own floor (c->hist->hist_floor), used when newer. With no watermark yet (this
 * node never got a history message) the fill asks with an empty epoch:
 * an answer of an epoch that holds no message means nothing was missed,
 * anything else gets the reset.
 *
 * A recovery is one round: it opens with the first room recovered and
 * closes once its fills are all answered and nothing happened for
 * SR_RECOVER_QUIET_MS; a stream is counted (and gets a gap event) once per
 * round, and the round is logged once when it closes, with the time from
 * the first confirmation to the last stream filled or reset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "server/history.h"
#include "server/recover.h"

#define SR_RECOVER_QUIET_MS 200

struct sr_recover {
    /* the watermark: newest history id delivered live */
    char w_epoch[SR_SEQUENCE_EPOCH_MAX + 1];
    uint64_t w_counter;
    uint32_t w_gen; /* changes with w_epoch */
    /* the open round */
    bool open;
    uint64_t round; /* its number (streams remember the last one) */
    uint64_t started_ms, from_ms, to_ms, last_done_ms;
    uint64_t rooms, streams, filled, messages, resets, gaps;
    size_t fills_pending;
    sr_recover_totals totals;
    uv_timer_t timer; /* closes a round once it is quiet */
};

static uint64_t wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

int sr_recover_new(sr_server *srv) {
    srv->recover = calloc(1, sizeof(*srv->recover));
    return srv->recover ? SR_OK : SR_ENOMEM;
}

void sr_recover_start(sr_server *srv) {
    sr_server_timer_init(srv, &srv->recover->timer);
    uv_unref((uv_handle_t *)&srv->recover->timer);
}

void sr_recover_close(sr_server *srv) {
    sr_server_close_handle(srv, (uv_handle_t *)&srv->recover->timer);
}

static struct sr_recover *get(sr_server *srv) {
    return srv->recover;
}

void sr_recover_free(sr_server *srv) {
    free(srv->recover);
    srv->recover = NULL;
}

/* --- the watermark ------------------------------------------------------- */

void sr_recover_note_live(sr_server *srv, const char *id, size_t len) {
    if (len < 14 || !srv->cfg.history || !sr_history_in_adapter(srv)) return;
    char epoch[SR_SEQUENCE_EPOCH_MAX + 1];
    uint64_t counter;
    if (sr_history_parse_id(id, len, epoch, sizeof epoch, &counter) < 0) return;
    struct sr_recover *r = get(srv);
    if (!r) return;
    if (strcmp(epoch, r->w_epoch) != 0) {
        snprintf(r->w_epoch, sizeof r->w_epoch, "%s", epoch);
        r->w_counter = counter;
        r->w_gen++;
    } else if (counter > r->w_counter) {
        r->w_counter = counter;
    }
}

void sr_recover_note_floor(sr_server *srv, sr_conn *c, const char *epoch, uint64_t counter,
                           int from_adapter) {
    struct sr_recover *r = get(srv);
    if (!r || !epoch) return;
    if (from_adapter && strcmp(epoch, r->w_epoch) != 0) {
        /* the adapter's answer tells the current epoch (none known yet, or
         * Redis lost its data): the watermark starts again in it */
        snprintf(r->w_epoch, sizeof r->w_epoch, "%s", epoch);
        r->w_counter = 0;
        r->w_gen++;
    }
    if (strcmp(epoch, r->w_epoch) != 0) return;
    const sr_conn_hist *seen = sr_conn_hist_peek(c);
    if (seen->hist_gen != r->w_gen || counter > seen->hist_floor) {
        sr_conn_hist *hs = sr_conn_hist_of(c);
        if (!hs) return; /* out of memory: a later fill starts at the watermark */
        hs->hist_floor = counter;
        hs->hist_gen = r->w_gen;
    }
}

/* --- rounds -------------------------------------------------------------- */

static void arm(sr_server *srv) {
    if (srv->handles_ready)
        uv_timer_start(&srv->recover->timer, sr_recover_on_timer, SR_RECOVER_QUIET_MS, 0);
}

void sr_recover_on_timer(uv_timer_t *h) {
    sr_server *srv = h->data;
    struct sr_recover *r = srv->recover;
    if (!r || !r->open || r->fills_pending) return;
    r->open = false;
    uint64_t took = r->last_done_ms > r->started_ms ? r->last_done_ms - r->started_ms : 0;
    r->totals.recoveries++;
    r->totals.last_ms = took;
    r->totals.last_done_ms = r->last_done_ms ? r->last_done_ms : r->started_ms;
    r->totals.last_down_ms = r->to_ms > r->from_ms ? r->to_ms - r->from_ms : 0;
    sr_log(srv, r->resets || r->gaps ? SR_LOG_WARN : SR_LOG_INFO, 0,
           "redis recovery: %llu rooms subscribed again after %llu ms without; %llu streams "
           "affected: %llu filled (%llu messages), %llu reset, %llu gap events; last stream "
           "done %llu ms after the first confirmation",
           (unsigned long long)r->rooms, (unsigned long long)r->totals.last_down_ms,
           (unsigned long long)r->streams, (unsigned long long)r->filled,
           (unsigned long long)r->messages, (unsigned long long)r->resets,
           (unsigned long long)r->gaps, (unsigned long long)took);
}

static struct sr_recover *touch_round(sr_server *srv, uint64_t from_ms, uint64_t to_ms) {
    struct sr_recover *r = get(srv);
    if (!r) return NULL;
    if (!r->open) {
        r->open = true;
        r->round++;
        r->started_ms = to_ms;
        r->from_ms = from_ms;
        r->to_ms = to_ms;
        r->last_done_ms = to_ms;
        r->rooms = r->streams = r->filled = r->messages = r->resets = r->gaps = 0;
    }
    if (from_ms < r->from_ms) r->from_ms = from_ms;
    if (to_ms > r->to_ms) r->to_ms = to_ms;
    arm(srv);
    return r;
}

void sr_recover_fill_done(sr_server *srv, int reset, size_t messages, int pending) {
    struct sr_recover *r = srv->recover;
    if (!r) return;
    if (reset) {
        r->resets++;
        r->totals.resets++;
    } else if (messages) { /* a fill that found nothing missing is no gap */
        r->filled++;
        r->messages += messages;
        r->totals.filled++;
        r->totals.messages_filled += messages;
    }
    if (pending && r->open && r->fills_pending) {
        r->fills_pending--;
        r->last_done_ms = wall_ms();
        arm(srv);
    }
}

/* --- a recovered room ---------------------------------------------------- */

typedef struct visit_ctx {
    sr_server *srv;
    struct sr_recover *r;
    uint64_t from_ms, to_ms;
    sr_frame *gap; /* history off: the gap event's frame */
} visit_ctx;

static void fill_stream(visit_ctx *v, sr_conn *c) {
    struct sr_recover *r = v->r;
    const sr_conn_hist *seen = sr_conn_hist_peek(c);
    if (seen->resume) { /* a replay or fill in flight: one more after it */
        c->hist->refill = 1;
        return;
    }
    const char *epoch = r->w_epoch;
    uint64_t after = r->w_counter;
    if (seen->hist_gen == r->w_gen && seen->hist_floor > after) after = seen->hist_floor;
    if (sr_history_fill(c, epoch, after)) r->fills_pending++;
}

void sr_recover_fill_started(sr_server *srv) {
    struct sr_recover *r = srv->recover;
    if (r && r->open) r->fills_pending++;
    else if (r) { /* the round closed meanwhile: its done call must not count */
        uint64_t now = wall_ms();
        touch_round(srv, now, now)->fills_pending++;
    }
}

void sr_recover_refill(sr_server *srv, sr_conn *c) {
    uint64_t now = wall_ms();
    struct sr_recover *r = touch_round(srv, now, now);
    if (!r) return;
    visit_ctx v = {srv, r, now, now, NULL};
    fill_stream(&v, c);
}

static void visit_member(void *ud, sr_member *m) {
    visit_ctx *v = ud;
    sr_conn *c = sr_conn_of_member(m);
    if (sr_conn_is_ending(c)) return;
    if (sr_conn_hist_peek(c)->recover_round != v->r->round) {
        sr_conn_hist *hs = sr_conn_hist_of(c);
        if (!hs) { /* out of memory: it cannot be told of the gap */
            sr_conn_doom(c);
            return;
        }
        hs->recover_round = v->r->round;
        v->r->streams++;
        v->r->totals.streams++;
    } else if (v->gap) {
        return; /* one gap event per stream and round */
    }
    if (v->gap) {
        sr_conn_enqueue(c, v->gap);
        v->srv->stats.messages_out++;
        v->r->gaps++;
        v->r->totals.gap_events++;
    } else {
        fill_stream(v, c);
    }
}

static sr_frame *gap_frame(sr_server *srv, uint64_t from_ms, uint64_t to_ms) {
    char data[96];
    int n = snprintf(data, sizeof data, "{\"reason\":\"redis\",\"from\":%llu,\"to\":%llu}",
                     (unsigned long long)from_ms, (unsigned long long)to_ms);
    const char *ev = srv->cfg.gap_event[0] ? srv->cfg.gap_event : "gap";
    return sr_frame_encode("", 0, ev, strlen(ev), data, (size_t)n, 0);
}

void sr_server_room_recovered(sr_server *srv, const char *room, size_t room_len, uint64_t lost_ms,
                              uint64_t now_ms) {
    if (!srv || !room || srv->shutting_down) return;
    if (room_len == sizeof(SR_CONTROL_ROOM) - 1 && memcmp(room, SR_CONTROL_ROOM, room_len) == 0)
        return; /* the control channel (revoke.c): no streams to recover */
    if (!lost_ms || lost_ms > now_ms) lost_ms = now_ms;
    struct sr_recover *r = touch_round(srv, lost_ms, now_ms);
    if (!r) return;
    r->rooms++;
    r->totals.rooms++;
    sr_room *room_rec = sr_registry_find(srv->reg, room, room_len);
    if (!room_rec || !room_rec->n_members) return;
    /* what was published before must reach the streams before the event */
    sr_batch_barrier(srv);
    visit_ctx v = {srv, r, lost_ms, now_ms, NULL};
    bool fill = srv->cfg.history && sr_history_in_adapter(srv) && sr_history_get(srv);
    if (!fill && !(v.gap = gap_frame(srv, lost_ms, now_ms))) return; /* out of memory */
    sr_registry_visit(&room_rec, 1, NULL, 0, sr_registry_new_stamp(srv->reg), visit_member, &v);
    if (v.gap) sr_frame_unref(v.gap);
}

void sr_recover_totals_get(const sr_server *srv, sr_recover_totals *out) {
    memset(out, 0, sizeof *out);
    if (srv->recover) *out = srv->recover->totals;
}

void sr_recover_json(sr_server *srv, sr_buf *b) {
    sr_recover_totals t;
    sr_recover_totals_get(srv, &t);
    sr_buf_printf(b,
                  ",\"recovery\":{\"recoveries\":%llu,\"rooms\":%llu,\"streams_affected\":%llu,"
                  "\"gaps_filled\":%llu,\"messages_filled\":%llu,\"resets_sent\":%llu,"
                  "\"gap_events_sent\":%llu,\"last_ms\":%llu,\"last_down_ms\":%llu,"
                  "\"last_done_at\":%llu}",
                  (unsigned long long)t.recoveries, (unsigned long long)t.rooms,
                  (unsigned long long)t.streams, (unsigned long long)t.filled,
                  (unsigned long long)t.messages_filled, (unsigned long long)t.resets,
                  (unsigned long long)t.gap_events, (unsigned long long)t.last_ms,
                  (unsigned long long)t.last_down_ms, (unsigned long long)t.last_done_ms);
}

void sr_recover_metrics(sr_server *srv, sr_buf *b) {
    sr_recover_totals t;
    sr_recover_totals_get(srv, &t);
    sr_metric_counter(
        b, "recoveries_total",
        "times subscriptions came back after Redis was lost (restart, failover, slot move)",
        t.recoveries);
    sr_metric_counter(b, "recovery_streams_affected_total",
                      "streams in rooms whose subscription was lost and came back", t.streams);
    sr_metric_counter(b, "recovery_gaps_filled_total",
                      "connected streams filled from the history after a recovery", t.filled);
    sr_metric_counter(b, "recovery_messages_filled_total", "messages sent by those fills",
                      t.messages_filled);
    sr_metric_counter(
        b, "recovery_resets_total",
        "connected streams sent the reset event after a recovery (history could not fill)",
        t.resets);
    sr_metric_counter(b, "recovery_gap_events_total",
                      "gap events sent after a recovery (history off)", t.gap_events);
    sr_buf_printf(b,
                  "# HELP sserooms_recovery_last_seconds time from the first confirmation to the "
                  "last stream filled or reset, in the last recovery\n"
                  "# TYPE sserooms_recovery_last_seconds gauge\n"
                  "sserooms_recovery_last_seconds %.3f\n",
                  (double)t.last_ms / 1000.0);
}
