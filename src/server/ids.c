/* SPDX-License-Identifier: MIT */
/*
 * ids.c: the id -> stream table behind sr_conn_find (history_resume.c
 * finds a stream again by its id once its replay comes back from the
 * adapter, when the stream may have closed meanwhile).
 *
 * Every stream is in it (conn.c inserts it when it becomes a stream and
 * removes it when it detaches; c->in_hash says so), so its slots are a
 * part of every idle stream's memory. Not an array indexed by the id: ids
 * count every connection of the server's life, HTTP ones too, so the open
 * streams are a sparse subset of them. Open addressing with linear
 * probing over an array of bare pointers, at most 3/4 full, with
 * backward-shift deletion; the key is the stream's own id, mixed by the
 * finaliser of MurmurHash3 (a client cannot choose its id).
 *
 * Deliberately not common/table.c: that table keeps a 64-bit hash next to
 * each pointer (16 B a slot) and rebuilds to twice the live items, so at
 * 10,000 idle streams its slots take 512 KiB against 128 KiB here. Measured
 * with bench/run.sh (make bench-idle, default threads): 424 B per idle
 * stream on common/table.c against 386 B with this table, which would
 * break issue #14's bound of 400 B. The key needs no stored hash (it is in
 * the item and cheap to mix again) and no tombstones (nothing walks it).
 */
#include <stdlib.h>

#include "server/internal.h"

struct sr_id_table {
    sr_conn **slots;
    size_t cap, len;
};

static size_t id_slot(uint64_t id, size_t cap) {
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

static int id_table_grow(struct sr_id_table *t) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    sr_conn **slots = calloc(cap, sizeof(*slots));
    if (!slots) return -1;
    for (size_t i = 0; i < t->cap; i++) {
        sr_conn *c = t->slots[i];
        if (!c) continue;
        size_t s = id_slot(c->id, cap);
        while (slots[s]) s = (s + 1) & (cap - 1);
        slots[s] = c;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

int sr_ids_new(sr_server *srv) {
    srv->ids = calloc(1, sizeof(*srv->ids));
    return srv->ids ? SR_OK : SR_ENOMEM;
}

void sr_ids_free(sr_server *srv) {
    if (srv->ids) free(srv->ids->slots);
    free(srv->ids);
    srv->ids = NULL;
}

void sr_server_id_insert(sr_server *srv, sr_conn *c) {
    /* at most 3/4 full: lookups by id are rare, and the table is a part
     * of every stream's memory; out of memory, the stream is only not
     * found by id (a replay that comes back for it is dropped) */
    struct sr_id_table *t = srv->ids;
    if ((t->len + 1) * 4 > t->cap * 3 && id_table_grow(t) < 0) return;
    size_t s = id_slot(c->id, t->cap);
    while (t->slots[s]) s = (s + 1) & (t->cap - 1);
    t->slots[s] = c;
    t->len++;
    c->in_hash = 1;
}

void sr_server_id_remove(sr_server *srv, sr_conn *c) {
    if (!c->in_hash) return;
    struct sr_id_table *t = srv->ids;
    size_t cap = t->cap;
    size_t s = id_slot(c->id, cap);
    while (t->slots[s] != c) s = (s + 1) & (cap - 1);
    t->slots[s] = NULL;
    t->len--;
    c->in_hash = 0;
    /* re-place the rest of the probe run (backward-shift deletion) */
    size_t j = (s + 1) & (cap - 1);
    while (t->slots[j]) {
        sr_conn *m = t->slots[j];
        t->slots[j] = NULL;
        size_t k = id_slot(m->id, cap);
        while (t->slots[k]) k = (k + 1) & (cap - 1);
        t->slots[k] = m;
        j = (j + 1) & (cap - 1);
    }
}

sr_conn *sr_conn_find(sr_server *srv, uint64_t id) {
    const struct sr_id_table *t = srv->ids;
    if (!t->cap) return NULL;
    size_t s = id_slot(id, t->cap);
    while (t->slots[s]) {
        if (t->slots[s]->id == id) {
            sr_conn *c = t->slots[s];
            return (c->closing || c->doomed) ? NULL : c;
        }
        s = (s + 1) & (t->cap - 1);
    }
    return NULL;
}
