/* SPDX-License-Identifier: MIT */
/*
 * history.h: resume with Last-Event-ID (docs/resume.md): ordered history
 * ids, the rooms' kept messages and the replay of what a reconnecting
 * stream missed. Only active when cfg.history > 0.
 *
 * history.c keeps the history in memory (a single node, or any adapter
 * without history members): ids "<epoch>-<counter>" from a node counter and
 * an epoch chosen when the server first needs one, a bounded ring of frames
 * per room, a global list in id order for the age and byte bounds.
 * history_resume.c opens streams with Last-Event-ID (replay from memory at
 * once, or from the adapter while live frames wait), writes the reset event,
 * and starts history broadcasts.
 */
#ifndef SR_SERVER_HISTORY_H
#define SR_SERVER_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "server/internal.h"

#define SR_HISTORY_DEFAULT_MAX_BYTES ((size_t)64 * 1024 * 1024)

typedef struct sr_history sr_history;

/* Why a stream gets the reset event instead of a replay. */
typedef enum sr_reset_reason {
    SR_RESET_NONE = 0,
    SR_RESET_EPOCH,       /* "epoch": the id is from another epoch (restart, lost Redis) */
    SR_RESET_GONE,        /* "gone": messages after it were dropped (count, age, memory) */
    SR_RESET_UNKNOWN,     /* "unknown": not an id of this history, or after the newest */
    SR_RESET_UNAVAILABLE, /* "unavailable": the adapter could not answer */
    SR_RESET_OVERFLOW     /* "overflow": too many live messages while replaying */
} sr_reset_reason;
const char *sr_reset_reason_name(sr_reset_reason r);

/* 0 when the history settings are acceptable, else SR_EINVAL with a
 * sentence in err (may be NULL). */
int sr_history_config_check(const sr_config *cfg, char *err, size_t errcap);

/* The server's history, made at first use (the epoch is chosen then);
 * NULL when cfg.history is 0 or out of memory. */
sr_history *sr_history_get(sr_server *srv);
/* At sr_server_free: the kept messages. */
void sr_history_free(sr_server *srv);
/* True when the adapter keeps the history (history_publish/fetch set). */
bool sr_history_in_adapter(const sr_server *srv);

/* "<digits>-<12 digits>": 0 with the epoch copied into epoch[0..cap) and
 * the counter, or -1. */
int sr_history_parse_id(const char *id, size_t len, char *epoch, size_t cap, uint64_t *counter);

/* --- in memory (history.c) ---------------------------------------------- */

/* The epoch and the newest counter. */
const char *sr_history_epoch(const sr_history *h);
uint64_t sr_history_counter(const sr_history *h);
const char *sr_history_reset_event(const sr_history *h);
/* Assigns the next id (written to id[0..cap), cap >= SR_SEQUENCE_ID_MAX),
 * keeps the message in each room, delivers it locally and hands it to the
 * adapter (memory bus) with that id. The local delivery count, or
 * SR_ETOOBIG (counter exhausted), SR_ENOMEM. */
int sr_history_publish_local(sr_server *srv, const char *const *rooms, size_t n_rooms,
                             const sr_msg_parts *m, const sr_broadcast_opts *opts, char *id,
                             size_t cap);
/* The kept frames of the rooms after `after`, in id order, each once
 * (references the caller releases, in a malloc'd array), or a reset reason
 * (then *out is NULL). */
sr_reset_reason sr_history_collect(sr_history *h, const char *const *rooms, size_t n_rooms,
                                   uint64_t after, sr_frame ***out, size_t *n_out);
/* The epoch of the adapter's history, as its last answer gave it. */
void sr_history_set_live_epoch(sr_history *h, const char *epoch);
const char *sr_history_live_epoch(const sr_history *h);
/* The list of replays waiting for the adapter (history_resume.c's). */
struct sr_resume **sr_history_resumes(sr_history *h);
/* Kept messages, rooms with history and the bytes they take. */
void sr_history_usage(const sr_history *h, size_t *entries, size_t *rooms, size_t *bytes);

/* --- streams and broadcasts (history_resume.c) -------------------------- */

/* Last-Event-ID of a stream request (the header, else ?lastEventId=);
 * NULL when history is off or none was given. */
const char *sr_history_last_id(sr_conn *c);
/* Right after the stream began (sr_conn_become_stream): replays what
 * followed last_id[0..len) in the stream's rooms, or writes the reset
 * event. */
void sr_history_resume(sr_conn *c, const char *last_id, size_t len);
/* Starts a history broadcast of checked arguments (m has no id): the
 * contract of sr_sequence_start (1: done runs later; 0: completed at once
 * with the id in text and *delivered set; < 0 with the reason in text). */
int sr_history_start(sr_server *srv, const char *const *rooms, size_t n_rooms,
                     const sr_msg_parts *m, const sr_broadcast_opts *opts, sr_sequence_fn done,
                     void *ud, int *delivered, char *text, size_t text_cap);
/* At shutdown: replays still waiting for the adapter are dropped. */
void sr_history_shutdown(sr_server *srv);

/* sequence.c: a broadcast through the adapter's history_publish, as a job
 * of the sequenced calls (1, or a negative code with the reason in text). */
int sr_sequence_start_history(sr_server *srv, const char *const *rooms, size_t n_rooms,
                              const sr_msg_parts *m, const sr_broadcast_opts *opts,
                              sr_sequence_fn done, void *ud, int *local_members, char *text,
                              size_t text_cap);

/* broadcast.c: sr_broadcast_parts with a frame already encoded (m->id is
 * its id): local fan-out, then the adapter's publish unless opts->local. */
int sr_broadcast_frame(sr_server *srv, const char *const *rooms, size_t n_rooms,
                       const sr_msg_parts *m, sr_frame *frame, const sr_broadcast_opts *opts);

#endif
