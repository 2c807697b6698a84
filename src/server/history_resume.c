/* SPDX-License-Identifier: MIT */
/*
 * history_resume.c: streams that resume with Last-Event-ID, the reset
 * event, and history broadcasts (see history.h, docs/resume.md).
 *
 * A stream asking to resume has already joined its rooms (stream.c) when
 * sr_history_resume runs:
 * - history in memory: the kept frames after its id are queued at once;
 *   nothing else can run in between, so the seam with live messages is
 *   exact.
 * - history in the adapter (Redis): the fetch is asynchronous. Until it
 *   answers, the stream's live frames are held in its sr_resume
 *   (broadcast.c calls sr_resume_hold) instead of queued. The adapter's
 *   fetch only reads the history once the stream's subscriptions are
 *   active, so a message is either in the answer (id <= the answer's
 *   newest counter) or arrives live afterwards: the answer is queued, then
 *   the held frames whose id is newer than the answer's newest counter
 *   (older ones were in the answer, or precede the resumed id). Redis
 *   orders the subscriber connection's messages, but not those against the
 *   script's answer on the publisher connection: a message in the answer may
 *   still arrive live after it. So the stream keeps the answer's newest
 *   counter as resume_floor and drops live frames up to it until the first
 *   newer one passes (from then on, the subscriber's order holds).
 * When the id cannot be resumed (another epoch, dropped history, unknown
 * id, the adapter failed, too much arrived meanwhile) the stream gets the
 * reset event: "id: <newest id>" (so the browser's next reconnect resumes
 * from there), "event: <cfg.reset_event>", and data
 * {"reason":"...","lastEventId":"<given>","resumeAfter":"<newest id>"},
 * then live messages newer than that.
 *
 * A replay larger than half the stream's queue limit is cut: what fits is
 * sent and the stream is ended, so the client reconnects with the id of the
 * last message it got and continues (never dropped as a slow consumer and
 * resuming from the same id again).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/history.h"
#include "server/recover.h"

#define SR_LAST_ID_MAX 128 /* bytes of a given id echoed in the reset */

struct sr_resume {
    sr_server *srv;                /* NULL once orphaned by shutdown */
    struct sr_resume *prev, *next; /* the history's list */
    uint64_t conn_id;
    sr_frame **held; /* live frames meanwhile, in order */
    size_t n_held, cap_held, held_bytes;
    int overflow; /* held more than the queue limit */
    int bad_id;   /* not an id of this history's form */
    int fill;     /* a connected stream's fill after a
                     recovery (recover.c), not a resume */
    int no_epoch; /* a fill from no known id: an empty
                     epoch answers that nothing was missed */
    size_t last_len;
    char last_id[SR_LAST_ID_MAX + 1];
};

/* --- frames ------------------------------------------------------------- */

/* The counter of a frame's "id: <epoch>-<counter>" line when its epoch is
 * `epoch`, else 0 (no id, or not a history id of this epoch). */
static uint64_t frame_counter(const sr_frame *f, const char *epoch) {
    if (f->len < 5 || memcmp(f->bytes, "id: ", 4) != 0) return 0;
    const char *id = f->bytes + 4;
    const char *nl = memchr(id, '\n', f->len - 4);
    if (!nl) return 0;
    char e[SR_SEQUENCE_EPOCH_MAX + 1];
    uint64_t counter;
    if (sr_history_parse_id(id, (size_t)(nl - id), e, sizeof e, &counter) < 0) return 0;
    return strcmp(e, epoch) == 0 ? counter : 0;
}

/* epoch NULL: the newest id is not known (the adapter failed); the frame
 * then has no id, so the browser keeps its own and can resume later. */
static void write_reset(sr_conn *c, const char *event, sr_reset_reason why, const char *last_id,
                        size_t last_len, const char *epoch, uint64_t counter) {
    char id[SR_SEQUENCE_ID_MAX] = "";
    if (epoch) snprintf(id, sizeof id, "%s-%012llu", epoch, (unsigned long long)counter);
    sr_buf data;
    sr_buf_init(&data);
    sr_buf_puts(&data, "{\"reason\":");
    sr_buf_json_str(&data, sr_reset_reason_name(why), strlen(sr_reset_reason_name(why)));
    sr_buf_puts(&data, ",\"lastEventId\":");
    sr_buf_json_str(&data, last_id, last_len);
    sr_buf_puts(&data, ",\"resumeAfter\":");
    if (epoch) sr_buf_json_str(&data, id, strlen(id));
    else sr_buf_puts(&data, "null");
    sr_buf_puts(&data, "}");
    sr_frame *f = data.oom
                      ? NULL
                      : sr_frame_encode(id, strlen(id), event, strlen(event), data.p, data.len, 0);
    sr_buf_free(&data);
    if (!f) {
        sr_conn_end(c); /* no silent gap: the client reconnects */
        return;
    }
    sr_conn_enqueue(c, f);
    sr_frame_unref(f);
    c->srv->stats.messages_out++;
    sr_log(c->srv, SR_LOG_INFO, c->id, "stream resume from \"%.*s\": %s, reset", (int)last_len,
           last_id, sr_reset_reason_name(why));
}

/* Queues the replay, then `held` frames newer than `newest` (ids of
 * `epoch`; other frames always). Cut at half the queue limit, then the
 * stream ends (see the top comment). */
static void write_replay(sr_conn *c, sr_frame *const *frames, size_t n, sr_frame *const *held,
                         size_t n_held, const char *epoch, uint64_t newest) {
    size_t budget = c->srv->cfg.max_queue_bytes / 2, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += frames[i]->len;
        if (i > 0 && bytes > budget) {
            sr_log(c->srv, SR_LOG_INFO, c->id,
                   "stream resume: %zu of %zu messages fit in the queue; ending the stream so "
                   "that the client continues from there",
                   i, n);
            sr_conn_end(c);
            return;
        }
        /* a kept frame carries its publish time: a copy keeps replays out of
         * the publish-to-write latency of /metrics */
        sr_frame *f = frames[i]->born_ns ? sr_frame_raw(frames[i]->bytes, frames[i]->len) : NULL;
        if (frames[i]->born_ns && !f) {
            sr_conn_end(c); /* out of memory: the client reconnects from what it got */
            return;
        }
        sr_conn_enqueue(c, f ? f : frames[i]);
        if (f) sr_frame_unref(f);
    }
    c->srv->stats.messages_out += n;
    for (size_t i = 0; i < n_held; i++) {
        uint64_t counter = frame_counter(held[i], epoch);
        if (counter && counter <= newest) continue;
        sr_conn_enqueue(c, held[i]);
    }
}

/* --- holding live frames ------------------------------------------------ */

void sr_resume_hold(sr_conn *c, sr_frame *f) {
    struct sr_resume *r = c->hist->resume; /* held only while it is set */
    if (r->overflow) return;
    if (r->held_bytes + f->len > c->srv->cfg.max_queue_bytes) {
        r->overflow = 1; /* answered with the reset; the held frames are useless */
        for (size_t i = 0; i < r->n_held; i++) sr_frame_unref(r->held[i]);
        r->n_held = 0;
        return;
    }
    if (r->n_held == r->cap_held) {
        size_t cap = r->cap_held ? r->cap_held * 2 : 16;
        sr_frame **grown = realloc(r->held, cap * sizeof(*grown));
        if (!grown) {
            r->overflow = 1;
            return;
        }
        r->held = grown;
        r->cap_held = cap;
    }
    sr_frame_ref(f);
    r->held[r->n_held++] = f;
    r->held_bytes += f->len;
}

static void resume_free(struct sr_resume *r) {
    for (size_t i = 0; i < r->n_held; i++) sr_frame_unref(r->held[i]);
    free(r->held);
    free(r);
}

static void resume_unlink(sr_history *h, struct sr_resume *r) {
    struct sr_resume **head = sr_history_resumes(h);
    if (r->prev) r->prev->next = r->next;
    else *head = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

int sr_resume_filter(sr_conn *c, const sr_frame *f) {
    const char *epoch = c->srv->history ? sr_history_live_epoch(c->srv->history) : "";
    uint64_t counter = frame_counter(f, epoch);
    if (!counter) return 0;                         /* not a history id of that epoch */
    if (counter <= c->hist->resume_floor) return 1; /* called only when it is set */
    c->hist->resume_floor = 0;
    return 0;
}

/* --- replay from the adapter -------------------------------------------- */

static sr_reset_reason reply_reason(const struct sr_resume *r, const sr_history_reply *reply) {
    if (reply->rc < 0 || !reply->status || !reply->epoch) return SR_RESET_UNAVAILABLE;
    if (r->bad_id) return SR_RESET_UNKNOWN;
    if (strcmp(reply->status, "ok") == 0) return r->overflow ? SR_RESET_OVERFLOW : SR_RESET_NONE;
    if (strcmp(reply->status, "epoch") == 0)
        return r->no_epoch && reply->counter == 0 ? SR_RESET_NONE : SR_RESET_EPOCH;
    if (strcmp(reply->status, "gone") == 0) return SR_RESET_GONE;
    return SR_RESET_UNKNOWN;
}

static void fetched(struct sr_resume *r, const sr_history_reply *reply, int *reset, size_t *n_out);

/* A fill counts in its recovery round; a stream that got another recovery
 * meanwhile is filled again from where this answer left it. */
static void on_fetched(void *ud, const sr_history_reply *reply) {
    struct sr_resume *r = ud;
    sr_server *srv = r->srv;
    int fill = r->fill, reset = 1;
    size_t n = 0;
    uint64_t conn_id = r->conn_id;
    fetched(r, reply, &reset, &n); /* frees r */
    if (!srv) return;
    if (fill) sr_recover_fill_done(srv, reset, n, 1);
    sr_conn *c = sr_conn_find(srv, conn_id);
    if (!c || !sr_conn_hist_peek(c)->refill || c->hist->resume || sr_conn_is_ending(c)) return;
    c->hist->refill = 0;
    sr_recover_refill(srv, c);
}

static void fetched(struct sr_resume *r, const sr_history_reply *reply, int *reset, size_t *n_out) {
    sr_server *srv = r->srv;
    if (!srv) {
        resume_free(r);
        return;
    }
    resume_unlink(srv->history, r);
    /* the pending batch (batch.c) was published while this stream held its
     * live frames: it must reach the held list before the replay is written */
    sr_batch_barrier(srv);
    sr_conn *c = sr_conn_find(srv, r->conn_id);
    if (!c || sr_conn_hist_peek(c)->resume != r) {
        resume_free(r);
        return;
    }
    sr_conn_hist *hs = c->hist; /* it had r: made */
    hs->resume = NULL;
    if (sr_conn_is_ending(c)) {
        resume_free(r);
        return;
    }
    sr_reset_reason why = reply_reason(r, reply);
    const char *epoch = why == SR_RESET_UNAVAILABLE ? "0" : reply->epoch;
    uint64_t newest = why == SR_RESET_UNAVAILABLE ? 0 : reply->counter;
    if (why == SR_RESET_UNAVAILABLE) {
        sr_log(srv, SR_LOG_WARN, c->id, "stream resume: history unavailable: %s",
               reply->why ? reply->why : "no answer");
        /* the newest id is not known: every held frame follows the reset */
        write_reset(c, sr_history_reset_event(srv->history), why, r->last_id, r->last_len, NULL, 0);
        write_replay(c, NULL, 0, r->held, r->n_held, epoch, 0);
        resume_free(r);
        return;
    }
    sr_history_set_live_epoch(srv->history, epoch);
    if (r->fill && why == SR_RESET_EPOCH) {
        /* A connected stream, and Redis lost the history (or has a new
         * epoch): everything of the new epoch came after what the stream
         * has. The reset says so ("resumeAfter": the new epoch's start),
         * and the stream is filled again from there, the frames held so
         * far kept for after that fill. */
        write_reset(c, sr_history_reset_event(srv->history), why, r->last_id, r->last_len, epoch,
                    0);
        hs->resume_floor = 0;
        sr_recover_note_floor(srv, c, epoch, 0, 1);
        if (newest > 0 && sr_history_fill(c, epoch, 0) && hs->resume) {
            struct sr_resume *again = hs->resume; /* nothing held there yet */
            free(again->held);
            again->held = r->held;
            again->n_held = r->n_held;
            again->cap_held = r->cap_held;
            again->held_bytes = r->held_bytes;
            again->overflow = r->overflow;
            r->held = NULL;
            r->n_held = r->cap_held = 0;
            sr_recover_fill_started(srv);
        } else if (!hs->resume) {
            write_replay(c, NULL, 0, r->held, r->n_held, epoch, 0);
        }
        resume_free(r);
        return;
    }
    hs->resume_floor = newest;
    sr_recover_note_floor(srv, c, epoch, newest, 1);
    if (why != SR_RESET_NONE) {
        write_reset(c, sr_history_reset_event(srv->history), why, r->last_id, r->last_len, epoch,
                    newest);
        write_replay(c, NULL, 0, r->held, r->n_held, epoch, newest);
        resume_free(r);
        return;
    }
    *reset = 0;
    *n_out = reply->n_messages;
    size_t n = reply->n_messages;
    sr_frame **frames = calloc(n ? n : 1, sizeof(*frames));
    size_t made = 0;
    for (size_t i = 0; frames && i < n; i++) {
        const sr_message *m = &reply->messages[i];
        const char *id = m->id ? m->id : "", *ev = m->event ? m->event : "";
        size_t data_len = m->data_len == SIZE_MAX ? strlen(m->data) : m->data_len;
        if (!(frames[made] = sr_frame_encode(id, strlen(id), ev, strlen(ev), m->data, data_len,
                                             m->retry)))
            break;
        made++;
    }
    if (made < n) { /* out of memory: end the stream; the client reconnects */
        sr_conn_end(c);
    } else {
        write_replay(c, frames, n, r->held, r->n_held, epoch, newest);
        sr_log(srv, SR_LOG_DEBUG, c->id, "stream resume from \"%s\": %zu messages replayed",
               r->last_id, n);
    }
    for (size_t i = 0; i < made; i++) sr_frame_unref(frames[i]);
    free(frames);
    resume_free(r);
}

/* Returns 1 when the fetch was started, 0 when it failed at once (then
 * already answered as "unavailable"). */
static int resume_from_adapter(sr_conn *c, sr_history *h, const char *const *rooms, size_t n_rooms,
                               const char *epoch, uint64_t after, const char *last_id, size_t len,
                               int bad_id, int fill) {
    sr_server *srv = c->srv;
    struct sr_resume *r = sr_conn_hist_of(c) ? calloc(1, sizeof(*r)) : NULL;
    if (!r) {
        sr_conn_end(c);
        return 0;
    }
    r->srv = srv;
    r->conn_id = c->id;
    r->bad_id = bad_id;
    r->fill = fill;
    r->no_epoch = fill && !*epoch;
    r->last_len = len > SR_LAST_ID_MAX ? SR_LAST_ID_MAX : len;
    memcpy(r->last_id, last_id, r->last_len);
    sr_history_limits lim = {.max_messages = srv->cfg.history, .ttl_ms = srv->cfg.history_ttl_ms};
    c->hist->resume = r;
    struct sr_resume **head = sr_history_resumes(h);
    r->next = *head;
    if (r->next) r->next->prev = r;
    *head = r;
    int rc = srv->adapter.history_fetch(srv->adapter.ctx, rooms, n_rooms, epoch, after, &lim,
                                        on_fetched, r);
    if (rc < 0) {
        sr_history_reply failed = {.rc = rc, .why = sr_strerror(rc)};
        if (fill) { /* answered here: not counted as a pending fill */
            r->fill = 0;
            on_fetched(r, &failed);
            sr_recover_fill_done(srv, 1, 0, 0);
            return 0;
        }
        on_fetched(r, &failed);
        return 0;
    }
    return 1;
}

/* --- opening a stream --------------------------------------------------- */

const char *sr_history_last_id(sr_conn *c) {
    if (!c->srv->cfg.history || !c->http) return NULL;
    const char *id = sr_http_header(&c->http->req, "last-event-id");
    if (!id || !*id) id = sr_http_query(&c->http->req, "lastEventId", 0);
    return id && *id ? id : NULL;
}

void sr_history_resume(sr_conn *c, const char *last_id, size_t len) {
    sr_server *srv = c->srv;
    sr_history *h = sr_history_get(srv);
    if (c->member.n_rooms == 0 || c->closing || c->end_after_flush) return;
    sr_batch_barrier(srv); /* what was published before the replay's snapshot */
    if (!h) {              /* out of memory: no silent gap, the client reconnects */
        sr_conn_end(c);
        return;
    }
    const char *small[16];
    const char **rooms = small;
    size_t n_rooms = c->member.n_rooms;
    if (n_rooms > 16 && !(rooms = malloc(n_rooms * sizeof(*rooms)))) {
        sr_conn_end(c);
        return;
    }
    sr_conn_rooms(c, rooms, n_rooms);
    char epoch[SR_SEQUENCE_EPOCH_MAX + 1];
    uint64_t after = 0;
    int bad_id = sr_history_parse_id(last_id, len, epoch, sizeof epoch, &after) < 0;
    if (bad_id) epoch[0] = '\0';
    if (sr_history_in_adapter(srv)) {
        if (!bad_id) sr_recover_note_floor(srv, c, epoch, after, 0);
        resume_from_adapter(c, h, rooms, n_rooms, epoch, after, last_id, len, bad_id, 0);
    } else {
        sr_reset_reason why = bad_id                                    ? SR_RESET_UNKNOWN
                              : strcmp(epoch, sr_history_epoch(h)) != 0 ? SR_RESET_EPOCH
                                                                        : SR_RESET_NONE;
        sr_frame **frames = NULL;
        size_t n = 0;
        if (why == SR_RESET_NONE) why = sr_history_collect(h, rooms, n_rooms, after, &frames, &n);
        if (why != SR_RESET_NONE)
            write_reset(c, sr_history_reset_event(h), why, last_id,
                        len > SR_LAST_ID_MAX ? SR_LAST_ID_MAX : len, sr_history_epoch(h),
                        sr_history_counter(h));
        else write_replay(c, frames, n, NULL, 0, sr_history_epoch(h), sr_history_counter(h));
        for (size_t i = 0; i < n; i++) sr_frame_unref(frames[i]);
        free(frames);
    }
    if (rooms != small) free(rooms);
}

int sr_history_fill(sr_conn *c, const char *epoch, uint64_t after) {
    sr_server *srv = c->srv;
    sr_history *h = sr_history_get(srv);
    if (!h || !sr_history_in_adapter(srv) || sr_conn_hist_peek(c)->resume ||
        c->member.n_rooms == 0 || c->closing || c->end_after_flush)
        return 0;
    sr_batch_barrier(srv); /* what was published before belongs before the fill */
    const char *small[16];
    const char **rooms = small;
    size_t n_rooms = c->member.n_rooms;
    if (n_rooms > 16 && !(rooms = malloc(n_rooms * sizeof(*rooms)))) {
        sr_conn_end(c); /* no silent gap: the client reconnects and resumes */
        return 0;
    }
    sr_conn_rooms(c, rooms, n_rooms);
    /* the reset's "lastEventId": the id the stream is filled after */
    char last[SR_SEQUENCE_ID_MAX] = "";
    if (*epoch) snprintf(last, sizeof last, "%s-%012llu", epoch, (unsigned long long)after);
    int started = resume_from_adapter(c, h, rooms, n_rooms, epoch, after, last, strlen(last), 0, 1);
    if (rooms != small) free(rooms);
    return started;
}

void sr_history_shutdown(sr_server *srv) {
    if (!srv->history) return;
    struct sr_resume **head = sr_history_resumes(srv->history);
    while (*head) {
        struct sr_resume *r = *head;
        resume_unlink(srv->history, r);
        sr_conn *c = sr_conn_find(srv, r->conn_id);
        if (c && sr_conn_hist_peek(c)->resume == r) c->hist->resume = NULL;
        r->srv = NULL; /* the adapter's answer, if it ever comes, frees it */
        for (size_t i = 0; i < r->n_held; i++) sr_frame_unref(r->held[i]);
        r->n_held = 0;
    }
}

/* --- broadcasting ------------------------------------------------------- */

int sr_history_start(sr_server *srv, const char *const *rooms, size_t n_rooms,
                     const sr_msg_parts *m, const sr_broadcast_opts *opts, sr_sequence_fn done,
                     void *ud, int *delivered, char *text, size_t text_cap) {
    *delivered = 0;
    text[0] = '\0';
    if (srv->shutting_down) {
        snprintf(text, text_cap, "server is shutting down");
        return SR_ECLOSED;
    }
    if (sr_history_in_adapter(srv))
        return sr_sequence_start_history(srv, rooms, n_rooms, m, opts, done, ud, delivered, text,
                                         text_cap);
    char id[SR_SEQUENCE_ID_MAX];
    int rc = sr_history_publish_local(srv, rooms, n_rooms, m, opts, id, sizeof id);
    if (rc < 0) {
        snprintf(text, text_cap, "%s",
                 rc == SR_ETOOBIG ? "history counter exhausted" : sr_strerror(rc));
        return rc;
    }
    *delivered = rc;
    snprintf(text, text_cap, "%s", id);
    return 0;
}
