/* SPDX-License-Identifier: MIT */
/*
 * table.c: the open-addressing hash table of table.h: linear probing from
 * hash & (cap - 1), tombstones for removal, and one rebuild (sized for the
 * live items) whenever live + tombstones would pass 3/4 of the slots.
 */
#include "common/table.h"

#include <stdlib.h>
#include <string.h>

char sr_table_tomb[1];

#define MIN_CAP 8u

void sr_table_init(sr_table *t) {
    memset(t, 0, sizeof *t);
}

void sr_table_free(sr_table *t) {
    free(t->slots);
    sr_table_init(t);
}

static bool live(const sr_table_slot *s) {
    return s->item && s->item != sr_table_tomb;
}

static sr_table_slot *find_slot(const sr_table *t, uint64_t hash, sr_table_eq_fn eq,
                                const void *key) {
    if (!t->cap) return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        sr_table_slot *s = &t->slots[i];
        if (!s->item) return NULL;
        if (s->hash == hash && s->item != sr_table_tomb && eq(s->item, key)) return s;
    }
}

void *sr_table_find(const sr_table *t, uint64_t hash, sr_table_eq_fn eq, const void *key) {
    sr_table_slot *s = find_slot(t, hash, eq, key);
    return s ? s->item : NULL;
}

/* Places an item known to be absent; the first empty or removed slot of
 * its probe sequence takes it. */
static void place(sr_table *t, uint64_t hash, void *item) {
    size_t mask = t->cap - 1;
    size_t i = (size_t)hash & mask;
    while (live(&t->slots[i])) i = (i + 1) & mask;
    if (t->slots[i].item == sr_table_tomb) t->tombs--;
    t->slots[i].hash = hash;
    t->slots[i].item = item;
    t->len++;
}

static bool fits(size_t cap, size_t used) {
    return used <= cap / 4 * 3;
}

/* Rebuilds the slots at the least power of two that holds `want` live
 * items within the load; the tombstones go. */
static int rebuild(sr_table *t, size_t want) {
    size_t cap = MIN_CAP;
    while (!fits(cap, want)) {
        if (cap > SIZE_MAX / 2 / sizeof(sr_table_slot)) return -1;
        cap *= 2;
    }
    sr_table_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    sr_table old = *t;
    t->slots = slots;
    t->cap = cap;
    t->len = 0;
    t->tombs = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (live(&old.slots[i])) place(t, old.slots[i].hash, old.slots[i].item);
    free(old.slots);
    return 0;
}

int sr_table_reserve(sr_table *t, size_t n) {
    if (n < t->len) n = t->len;
    if (t->cap && fits(t->cap, n + t->tombs)) return 0;
    return rebuild(t, n);
}

int sr_table_insert(sr_table *t, uint64_t hash, void *item) {
    if (!t->cap || !fits(t->cap, t->len + t->tombs + 1)) {
        /* room for twice the live items: a table that only churns
         * (inserts and removals) rebuilds at most every cap/4 inserts */
        size_t want = t->len + 1 > SIZE_MAX / 2 ? t->len + 1 : 2 * (t->len + 1);
        if (rebuild(t, want) != 0 && (!t->cap || !fits(t->cap, t->len + t->tombs + 1))) return -1;
    }
    place(t, hash, item);
    return 0;
}

static void *take(sr_table *t, sr_table_slot *s) {
    void *item = s->item;
    s->item = sr_table_tomb;
    t->len--;
    t->tombs++;
    return item;
}

void *sr_table_remove(sr_table *t, uint64_t hash, sr_table_eq_fn eq, const void *key) {
    sr_table_slot *s = find_slot(t, hash, eq, key);
    return s ? take(t, s) : NULL;
}

bool sr_table_remove_item(sr_table *t, uint64_t hash, const void *item) {
    if (!t->cap || !item) return false;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)hash & mask; t->slots[i].item; i = (i + 1) & mask)
        if (t->slots[i].item == item) {
            take(t, &t->slots[i]);
            return true;
        }
    return false;
}

void *sr_table_next(const sr_table *t, size_t *pos) {
    while (*pos < t->cap) {
        const sr_table_slot *s = &t->slots[(*pos)++];
        if (live(s)) return s->item;
    }
    return NULL;
}
