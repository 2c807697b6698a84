/* SPDX-License-Identifier: MIT */
/*
 * table.h: the one hash table of the library: open addressing with linear
 * probing over an array of (hash, item pointer) slots, the items owned by
 * the caller. Pure code (no libuv).
 *
 * The caller hashes its keys (sr_hash for names from clients, so that
 * chosen keys cannot collide on purpose) and says what equal means; the
 * table keeps each item's full 64-bit hash, so a probe compares hashes and
 * calls eq only on a match, and growing never hashes again.
 *
 * Removal leaves a tombstone, so removing the current item while walking
 * the table (sr_table_next) is safe and moves nothing. Inserting may
 * rebuild the slot array (sized for the live items, so it also shrinks
 * after many removals and drops the tombstones); it must not happen during
 * a walk. The load (live + tombstones) stays at most 3/4.
 */
#ifndef SR_COMMON_TABLE_H
#define SR_COMMON_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t hash;
    void *item; /* NULL: empty; sr_table_tomb: removed */
} sr_table_slot;

typedef struct {
    sr_table_slot *slots;
    size_t cap;   /* a power of two, 0 before the first insert */
    size_t len;   /* live items */
    size_t tombs; /* removed slots not yet reused */
} sr_table;

/* Whether item has the key the caller looks for. */
typedef bool (*sr_table_eq_fn)(const void *item, const void *key);

extern char sr_table_tomb[1];

/* A zeroed sr_table is an empty table; this is that. */
void sr_table_init(sr_table *t);
/* Frees the slots (not the items) and empties t. */
void sr_table_free(sr_table *t);
/* The item with this hash for which eq(item, key) holds, or NULL. */
void *sr_table_find(const sr_table *t, uint64_t hash, sr_table_eq_fn eq, const void *key);
/* Adds item (not already in t: the caller found nothing first). 0, or -1
 * when out of memory (t is unchanged). Not during a walk. */
int sr_table_insert(sr_table *t, uint64_t hash, void *item);
/* Makes room for n live items in all, so that as many inserts cannot fail
 * (a caller that must not fail halfway). 0 or -1. Not during a walk. */
int sr_table_reserve(sr_table *t, size_t n);
/* Removes and returns the item found as by sr_table_find, or NULL. */
void *sr_table_remove(sr_table *t, uint64_t hash, sr_table_eq_fn eq, const void *key);
/* Removes this very item (compared by address); whether it was there. */
bool sr_table_remove_item(sr_table *t, uint64_t hash, const void *item);
/* The walk: *pos starts at 0; returns the next live item, or NULL at the
 * end. The current item may be removed between calls. */
void *sr_table_next(const sr_table *t, size_t *pos);

#endif
