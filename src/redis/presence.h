/* SPDX-License-Identifier: MIT */
/*
 * presence.h: cluster-wide room presence through Redis (presence.c and
 * the files it names) and the pure ledger (presence_ledger.c).
 *
 * Per room R (every key carries the hash tag {R}, so one script reaches all
 * of a room's keys, in classic and in cluster mode; room names never
 * contain '{', so none of them can be taken for a room channel):
 *   <prefix>{R}:presence               hash  node id -> "<count>:<incarnation>"
 *   <prefix>{R}:presence:users         hash  user -> connections, all nodes
 *   <prefix>{R}:presence:users:<node>  hash  user -> connections on <node>
 *   <prefix>{R}:presence:events        channel of join/leave events
 * and per node <prefix>presence:node:{<node>} = its incarnation, PX ttl,
 * <prefix>presence:rooms:{<node>} = the zset (scores 0, by name) of the
 * rooms it has members in, kept by this incarnation and expiring with the
 * liveness key (same slot), and in <prefix>presence:nodes (zset) the
 * node, scored by when its liveness runs out (Redis's clock): GET
 * /rooms?scope=cluster pages the union of the live nodes' indexes.
 *
 * A node's room entries count only while its liveness key holds the
 * incarnation they carry: a reader GETs the liveness keys of the nodes it
 * finds and removes the entries of the dead (and their users) in one
 * script, conditional on the incarnation it saw, so nothing a node wrote
 * after coming back can be removed. A node whose liveness key was gone
 * (TTL ran out, Redis lost its data) takes a new incarnation and writes
 * its whole ledger again.
 *
 * Writes are coalesced: joins and leaves only change the ledger (room ->
 * count and user -> count, dirty flags); the dirty rooms go out together
 * at most every SR_PRESENCE_FLUSH_MS, one EVAL for all of them in classic
 * mode, one per slot in cluster mode.
 */
#ifndef SR_REDIS_PRESENCE_H
#define SR_REDIS_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "common/table.h"
#include "sserooms.h"

/* --- the ledger: pure, unit-tested ------------------------------------- */

typedef struct sr_pledger sr_pledger;

typedef struct sr_pledger_entry {
    uint64_t hash;
    uint32_t count;    /* local connections */
    uint8_t dirty;     /* in the dirty list */
    uint8_t indexed;   /* rooms: in this incarnation's room index */
    sr_pledger *users; /* rooms: user -> count (NULL: none yet) */
    size_t len;
    char name[];
} sr_pledger_entry;

struct sr_pledger {
    sr_table entries;         /* of sr_pledger_entry, by name (walk: sr_table_next) */
    sr_pledger_entry **dirty; /* entries to write */
    size_t n_dirty, cap_dirty;
};

void sr_pledger_init(sr_pledger *l);
void sr_pledger_free(sr_pledger *l);
/* Records the room's local count and marks it dirty; with user (not NULL),
 * adds delta to the user's count in the room and marks it dirty too.
 * 0 or SR_ENOMEM. */
int sr_pledger_set(sr_pledger *l, const char *room, size_t len, uint32_t count, const char *user,
                   size_t ulen, int delta);
/* The entry of room (NULL when unknown). */
sr_pledger_entry *sr_pledger_find(const sr_pledger *l, const char *name, size_t len);
/* Puts e on l's dirty list (once). 0 or SR_ENOMEM. */
int sr_pledger_mark_dirty(sr_pledger *l, sr_pledger_entry *e);
/* Marks every entry dirty, and every user of every room. 0 or SR_ENOMEM. */
int sr_pledger_mark_all(sr_pledger *l);
/* Takes the dirty list: *out gets the entries (valid until the next call
 * that changes the ledger), their flags are cleared. Returns how many. */
size_t sr_pledger_take_dirty(sr_pledger *l, sr_pledger_entry ***out);
/* Forgets the entries whose count is 0, not dirty, and without users. */
void sr_pledger_prune(sr_pledger *l);

/* --- the Redis side ---------------------------------------------------- */

struct sr_redis_adapter;
typedef struct sr_rpresence sr_rpresence;

typedef struct sr_rpresence_counters {
    uint64_t changes; /* joins and leaves recorded */
    uint64_t writes;  /* scripts that wrote rooms */
    uint64_t rooms_written;
    uint64_t heartbeats; /* liveness refreshes */
    uint64_t reasserts;  /* times the whole state was written again */
    uint64_t reads;      /* reads answered */
    uint64_t read_failures;
    uint64_t reaped; /* dead nodes' room entries removed */
    uint64_t events; /* join/leave events received */
} sr_rpresence_counters;

/* A user's first connection in the cluster joined the room (joined 1), or
 * its last one left (0). */
typedef void (*sr_rpresence_event_fn)(void *ud, const char *room, size_t room_len, const char *user,
                                      size_t user_len, int joined);

/* ttl_ms: the liveness TTL (0: 10000). events: publish and receive join
 * and leave events. */
sr_rpresence *sr_rpresence_new(struct sr_redis_adapter *a, uint32_t ttl_ms, int events);
void sr_rpresence_on_event(sr_rpresence *p, sr_rpresence_event_fn fn, void *ud);
void sr_rpresence_close(sr_rpresence *p);
/* The room now has `count` local connections; user (NULL: anonymous) has
 * delta more (or fewer) of them. */
void sr_rpresence_set(sr_rpresence *p, const char *room, uint32_t count, const char *user,
                      int delta);
/* A connection to Redis came up (again): write everything again. */
void sr_rpresence_on_up(sr_rpresence *p);
/* Reads the room: 0 and fn(ud, &answer) later, or a negative code and fn
 * never runs (SR_EADAPTER: Redis unreachable). q may be NULL. */
int sr_rpresence_read(sr_rpresence *p, const char *room, const sr_presence_query *q,
                      sr_presence_fn fn, void *ud);
/* A page of the rooms with members on live nodes (sr_adapter's
 * presence_rooms): 0 and fn later, or a negative code and fn never runs. */
int sr_rpresence_rooms(sr_rpresence *p, const char *after, unsigned limit, sr_presence_names_fn fn,
                       void *ud);
/* A message on a channel <prefix>{...: SR_RPRESENCE_EVENT when it was a
 * join or leave on a room's events channel (counted, and handed to the
 * event callback unless closing), SR_RPRESENCE_NOT_OURS when the channel is
 * not a presence events channel (or p is NULL), SR_RPRESENCE_MALFORMED when
 * the body (or the room) is not an event's. The caller counts the last
 * two as drops. */
enum { SR_RPRESENCE_MALFORMED = -1, SR_RPRESENCE_NOT_OURS = 0, SR_RPRESENCE_EVENT = 1 };
int sr_rpresence_on_message(sr_rpresence *p, const char *channel, size_t len, const char *body,
                            size_t body_len);
void sr_rpresence_counters_get(const sr_rpresence *p, sr_rpresence_counters *out);

#endif
