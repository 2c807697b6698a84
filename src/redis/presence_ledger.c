/* SPDX-License-Identifier: MIT */
/*
 * presence_ledger.c: the presence ledger (see presence.h), pure code: this
 * node's local count per room and, per room, per user, in the common hash
 * table (common/table.h, keyed by seeded SipHash: rooms and users come
 * from clients), with the list of entries that changed since the last
 * write. presence_write.c takes that list to write Redis and marks
 * entries again when a write could not be sent.
 */
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "redis/presence.h"

void sr_pledger_init(sr_pledger *l) {
    memset(l, 0, sizeof *l);
}

static void entry_free(sr_pledger_entry *e) {
    if (e->users) {
        sr_pledger_free(e->users);
        free(e->users);
    }
    free(e);
}

void sr_pledger_free(sr_pledger *l) {
    size_t pos = 0;
    for (sr_pledger_entry *e; (e = sr_table_next(&l->entries, &pos));) entry_free(e);
    sr_table_free(&l->entries);
    free(l->dirty);
    memset(l, 0, sizeof *l);
}

typedef struct name_key {
    const char *name;
    size_t len;
} name_key;

static bool entry_is(const void *item, const void *key) {
    const sr_pledger_entry *e = item;
    const name_key *k = key;
    return e->len == k->len && memcmp(e->name, k->name, k->len) == 0;
}

static sr_pledger_entry *find_hashed(const sr_pledger *l, const char *name, size_t len,
                                     uint64_t hash) {
    name_key k = {name, len};
    return sr_table_find(&l->entries, hash, entry_is, &k);
}

sr_pledger_entry *sr_pledger_find(const sr_pledger *l, const char *name, size_t len) {
    return find_hashed(l, name, len, sr_hash(name, len));
}

int sr_pledger_mark_dirty(sr_pledger *l, sr_pledger_entry *e) {
    if (e->dirty) return 0;
    if (l->n_dirty == l->cap_dirty) {
        size_t cap = l->cap_dirty ? l->cap_dirty * 2 : 16;
        sr_pledger_entry **d = realloc(l->dirty, cap * sizeof *d);
        if (!d) return SR_ENOMEM;
        l->dirty = d;
        l->cap_dirty = cap;
    }
    l->dirty[l->n_dirty++] = e;
    e->dirty = 1;
    return 0;
}

/* The entry of name, made when missing. */
static sr_pledger_entry *get_entry(sr_pledger *l, const char *name, size_t len) {
    uint64_t hash = sr_hash(name, len);
    sr_pledger_entry *e = find_hashed(l, name, len, hash);
    if (e) return e;
    e = calloc(1, sizeof *e + len + 1);
    if (!e) return NULL;
    e->hash = hash;
    e->len = len;
    memcpy(e->name, name, len);
    if (sr_table_insert(&l->entries, hash, e) != 0) {
        free(e);
        return NULL;
    }
    return e;
}

int sr_pledger_set(sr_pledger *l, const char *room, size_t len, uint32_t count, const char *user,
                   size_t ulen, int delta) {
    sr_pledger_entry *e = get_entry(l, room, len);
    if (!e) return SR_ENOMEM;
    e->count = count;
    if (sr_pledger_mark_dirty(l, e) < 0) return SR_ENOMEM;
    if (!user || delta == 0) return 0;
    if (!e->users) {
        if (!(e->users = calloc(1, sizeof *e->users))) return SR_ENOMEM;
        sr_pledger_init(e->users);
    }
    sr_pledger_entry *u = get_entry(e->users, user, ulen);
    if (!u) return SR_ENOMEM;
    int64_t c = (int64_t)u->count + delta;
    u->count = c < 0 ? 0 : (uint32_t)c;
    return sr_pledger_mark_dirty(e->users, u);
}

int sr_pledger_mark_all(sr_pledger *l) {
    size_t pos = 0;
    for (sr_pledger_entry *e; (e = sr_table_next(&l->entries, &pos));) {
        if (sr_pledger_mark_dirty(l, e) < 0) return SR_ENOMEM;
        if (e->users && sr_pledger_mark_all(e->users) < 0) return SR_ENOMEM;
    }
    return 0;
}

size_t sr_pledger_take_dirty(sr_pledger *l, sr_pledger_entry ***out) {
    size_t n = l->n_dirty;
    for (size_t i = 0; i < n; i++) l->dirty[i]->dirty = 0;
    l->n_dirty = 0;
    *out = l->dirty;
    return n;
}

void sr_pledger_prune(sr_pledger *l) {
    size_t pos = 0;
    for (sr_pledger_entry *e; (e = sr_table_next(&l->entries, &pos));) {
        if (e->users) sr_pledger_prune(e->users);
        if (e->count == 0 && !e->dirty && (!e->users || e->users->entries.len == 0)) {
            sr_table_remove_item(&l->entries, e->hash, e);
            entry_free(e);
        }
    }
}
