/* SPDX-License-Identifier: MIT */
/*
 * recover.h: streams of rooms whose Redis subscription was lost and came
 * back get the messages they missed from the history, or the reset event,
 * or (history off) the gap event (recover.c).
 */
#ifndef SR_SERVER_RECOVER_H
#define SR_SERVER_RECOVER_H

#include "server/internal.h"

typedef struct sr_recover_totals {
    uint64_t recoveries;      /* rounds closed */
    uint64_t rooms;           /* room subscriptions confirmed again */
    uint64_t streams;         /* streams affected (once per round) */
    uint64_t filled;          /* fills answered from the history */
    uint64_t messages_filled; /* messages those fills sent */
    uint64_t resets;          /* fills answered with the reset event */
    uint64_t gap_events;      /* gap events sent */
    uint64_t last_ms;         /* last round: first confirmation to last stream done */
    uint64_t last_down_ms;    /* last round: the longest time a room was without */
    uint64_t last_done_ms;    /* last round: wall clock when its last stream was done */
} sr_recover_totals;

/* A live message from the adapter carried this id (the watermark). */
void sr_recover_note_live(sr_server *srv, const char *id, size_t len);
/* c has every message up to epoch-counter: a replay or fill answered it
 * (from_adapter: the epoch is current), or it resumed from that id. */
void sr_recover_note_floor(sr_server *srv, sr_conn *c, const char *epoch, uint64_t counter,
                           int from_adapter);
/* A fill finished: with the reset event, or with `messages` messages;
 * pending: it was counted as pending in its round (a fetch was started). */
void sr_recover_fill_done(sr_server *srv, int reset, size_t messages, int pending);
/* A fill started outside a round's visit (a fill again from the start of
 * a new epoch): counted as pending. */
void sr_recover_fill_started(sr_server *srv);
/* c got another recovery while its replay was in flight: fill it again
 * from where that replay left it. */
void sr_recover_refill(sr_server *srv, sr_conn *c);
/* The round's quiet timer (in srv->recover). */
void sr_recover_on_timer(uv_timer_t *h);
int sr_recover_new(sr_server *srv);    /* at sr_server_new: SR_OK or SR_ENOMEM */
void sr_recover_start(sr_server *srv); /* at listen: the timer */
void sr_recover_close(sr_server *srv); /* at shutdown: closes the timer */
void sr_recover_free(sr_server *srv);  /* after the timer closed */

void sr_recover_totals_get(const sr_server *srv, sr_recover_totals *out);
void sr_recover_json(sr_server *srv, sr_buf *b);    /* ,"recovery":{...} */
void sr_recover_metrics(sr_server *srv, sr_buf *b); /* Prometheus samples */

/* history_resume.c: fills a connected stream after a recovery: its rooms'
 * history after epoch-after, held live frames after it, or the reset
 * event. 1 when a fetch was started (sr_recover_fill_done follows), 0 when
 * it completed (or failed) at once. */
int sr_history_fill(sr_conn *c, const char *epoch, uint64_t after);

#endif
