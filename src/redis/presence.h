/*
 * presence.h: cluster-wide room presence through Redis (presence.c).
 *
 * Each node writes, per room, its own number of local connections into the
 * hash <prefix>{<room>}:presence (field: node id, value: count), and keeps
 * the liveness key <prefix>presence:node:<node id> alive with a TTL. A read
 * of a room sums the fields whose liveness key exists and deletes the
 * others, inside one Lua script, so a node killed with SIGKILL drops out of
 * every count once its liveness key expires, with no sweeper that must stay
 * alive. Room names never contain '{', so these keys can never be taken for
 * a room channel <prefix><room> by a reference node.
 *
 * Writes are coalesced: a join or leave only updates the node's ledger
 * (name -> local count, dirty flag); the dirty rooms go out together in one
 * EVAL at the end of the loop turn, at most one per flush interval. The
 * same EVAL refreshes the liveness key with SET ... GET: when the key was
 * gone (Redis restarted or failed over, or a reader timed us out) the node
 * marks every room dirty and writes its whole state again.
 */
#ifndef SR_REDIS_PRESENCE_H
#define SR_REDIS_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "sserooms.h"

/* --- the ledger: pure, unit-tested ------------------------------------- */

typedef struct sr_pledger_entry {
    struct sr_pledger_entry *next; /* in its bucket */
    uint64_t hash;
    uint32_t count;                /* local connections */
    uint8_t dirty;                 /* in the dirty list */
    size_t len;
    char name[];
} sr_pledger_entry;

typedef struct sr_pledger {
    sr_pledger_entry **buckets; /* cap buckets, a power of two */
    size_t cap, len;
    sr_pledger_entry **dirty;   /* entries to write */
    size_t n_dirty, cap_dirty;
} sr_pledger;

void sr_pledger_init(sr_pledger *l);
void sr_pledger_free(sr_pledger *l);
/* Records the room's local count and marks it dirty. 0 or SR_ENOMEM. */
int sr_pledger_set(sr_pledger *l, const char *room, size_t len, uint32_t count);
/* The recorded count (0 when unknown). */
uint32_t sr_pledger_get(const sr_pledger *l, const char *room, size_t len);
/* Marks every room dirty (to write the whole state again). 0 or SR_ENOMEM. */
int sr_pledger_mark_all(sr_pledger *l);
/* Takes the dirty list: *out gets the entries (valid until the next call
 * that changes the ledger), their flags are cleared. Returns how many. */
size_t sr_pledger_take_dirty(sr_pledger *l, sr_pledger_entry ***out);
/* Forgets the rooms whose count is 0 and that are not dirty (after their
 * HDEL was sent). */
void sr_pledger_prune(sr_pledger *l);

/* --- the Redis side ---------------------------------------------------- */

struct sr_redis_adapter;
typedef struct sr_rpresence sr_rpresence;

typedef struct sr_rpresence_counters {
    uint64_t changes;   /* joins and leaves recorded */
    uint64_t writes;    /* EVALs that wrote rooms */
    uint64_t rooms_written;
    uint64_t heartbeats;/* liveness refreshes */
    uint64_t reasserts; /* times the whole state was written again */
    uint64_t reads;     /* room reads answered */
    uint64_t read_failures;
} sr_rpresence_counters;

/* ttl_ms: the liveness TTL (0: 10000). */
sr_rpresence *sr_rpresence_new(struct sr_redis_adapter *a, uint32_t ttl_ms);
void sr_rpresence_close(sr_rpresence *p);
/* The room now has `count` local connections. */
void sr_rpresence_set(sr_rpresence *p, const char *room, uint32_t count);
/* The publisher connection came up (again): refresh and write at once. */
void sr_rpresence_on_up(sr_rpresence *p);
/* Reads the room: 0 and fn(ud, &answer) later, or a negative code and fn
 * never runs (SR_EADAPTER: Redis unreachable). */
int sr_rpresence_read(sr_rpresence *p, const char *room, sr_presence_fn fn, void *ud);
void sr_rpresence_counters_get(const sr_rpresence *p, sr_rpresence_counters *out);

#endif
