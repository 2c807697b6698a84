/* SPDX-License-Identifier: MIT */
/*
 * history.c: the history kept in memory (see history.h, docs/resume.md).
 *
 * Ids: "<epoch>-<counter, 12 digits>". The epoch is the wall-clock time in
 * milliseconds when the server first needed its history (strictly greater
 * than any epoch made before in this process), so a restart changes it and
 * ids of before the restart are recognised as "another epoch"; the counter
 * starts at 1 in each epoch, so an id is never given twice.
 *
 * Storage: a message is one entry holding its encoded frame (the frame the
 * live fan-out queues, shared), its counter and time. Each room with kept
 * messages has a ring of entry pointers in id order, at most
 * cfg.history long; every entry is also on a global list in id order
 * (= time order), which the age bound (cfg.history_ttl_ms) and the byte
 * bound (cfg.history_max_bytes, all rooms together) trim from its oldest
 * end. The oldest entry of the global list is at the head of the ring of
 * every room still holding it (anything older in that ring would be older
 * still on the global list), so trimming is O(1) per room. An entry is
 * freed when no room holds it; a room whose ring becomes empty is freed,
 * and the newest counter it ever dropped is folded into forgotten_max.
 * Rooms are found by name in an sr_table (common/table.h, keyed by the
 * seeded sr_hash); its slot array counts in the byte bound too.
 *
 * What was lost: each room remembers the newest counter it dropped
 * (dropped_max); a resume from id X needs dropped_max <= X for each of the
 * stream's rooms (forgotten_max for rooms without a record), else it gets
 * the reset event ("gone"). Trimming by age is lazy: it runs on each
 * history broadcast and each resume; the byte bound holds at all times.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/hash.h"
#include "common/table.h"
#include "server/history.h"

typedef struct hist_room hist_room;

typedef struct hist_entry {
    struct hist_entry *older, *newer; /* the global list */
    sr_frame *frame;
    uint64_t counter;
    uint64_t t_ms;      /* uv_now when kept */
    size_t bytes;       /* what it accounts for in h->bytes */
    uint32_t n_rooms;   /* slots in rooms[] */
    uint32_t live;      /* rooms still holding it */
    hist_room *rooms[]; /* NULL once that room dropped it */
} hist_entry;

struct hist_room {
    uint64_t hash; /* sr_hash of the name: its key in h->rooms */
    hist_entry **ring;
    uint32_t head, len, cap;
    uint64_t dropped_max; /* the newest counter dropped from this room */
    size_t name_len;
    char name[];
};

struct sr_history {
    sr_server *srv;
    char epoch[SR_SEQUENCE_EPOCH_MAX + 1];
    uint64_t counter; /* the newest id's */
    unsigned max_messages;
    uint64_t ttl_ms;
    size_t max_bytes;
    char reset_event[SR_RESET_EVENT_MAX + 1];
    sr_table rooms; /* hist_room by name; its slots count in bytes */
    hist_entry *oldest, *newest;
    size_t n_entries, bytes;
    uint64_t forgotten_max;
    struct sr_resume *resumes;                  /* history_resume.c */
    char live_epoch[SR_SEQUENCE_EPOCH_MAX + 1]; /* the adapter's, last seen */
};

static const char *const reason_names[] = {"none",    "epoch",       "gone",
                                           "unknown", "unavailable", "overflow"};

const char *sr_reset_reason_name(sr_reset_reason r) {
    return (unsigned)r < sizeof(reason_names) / sizeof(reason_names[0]) ? reason_names[r]
                                                                        : "unknown";
}

/* --- configuration and ids ---------------------------------------------- */

static int reset_event_ok(const char *name, size_t cap) {
    size_t n = strnlen(name, cap);
    if (n == cap) return 0; /* not terminated */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 0x21 || ch == 0x7f || ch == ':') return 0;
    }
    return 1;
}

int sr_history_config_check(const sr_config *cfg, char *err, size_t errcap) {
    const char *why = NULL;
    if (cfg->history > SR_HISTORY_MAX)
        why = "history: at most "
              "100000"
              " messages per room";
    else if (!reset_event_ok(cfg->reset_event, sizeof(cfg->reset_event)))
        why = "reset-event: 1 to 63 printable characters, no spaces and no ':'";
    else if (!reset_event_ok(cfg->gap_event, sizeof(cfg->gap_event)))
        why = "gap-event: 1 to 63 printable characters, no spaces and no ':'";
    else if (!cfg->history && (cfg->history_ttl_ms || cfg->history_max_bytes))
        why = "history-ttl-ms and history-max-bytes need history (messages kept per room) > 0";
    else if (cfg->history && cfg->history_max_bytes && cfg->history_max_bytes < 65536)
        why = "history-max-bytes: at least 65536";
    if (!why) return SR_OK;
    if (err && errcap) snprintf(err, errcap, "%s", why);
    return SR_EINVAL;
}

int sr_history_parse_id(const char *id, size_t len, char *epoch, size_t cap, uint64_t *counter) {
    const char *dash = memchr(id, '-', len);
    if (!dash) return -1;
    size_t elen = (size_t)(dash - id);
    if (elen == 0 || elen > SR_SEQUENCE_EPOCH_MAX || elen >= cap || len - elen - 1 != 12) return -1;
    for (size_t i = 0; i < elen; i++)
        if (id[i] < '0' || id[i] > '9') return -1;
    uint64_t c = 0;
    for (size_t i = elen + 1; i < len; i++) {
        if (id[i] < '0' || id[i] > '9') return -1;
        c = c * 10 + (uint64_t)(id[i] - '0');
    }
    memcpy(epoch, id, elen);
    epoch[elen] = '\0';
    *counter = c;
    return 0;
}

/* Wall-clock milliseconds, strictly increasing across the process's
 * histories. */
static uint64_t new_epoch(void) {
    static _Atomic uint64_t last;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uint64_t want = (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
    uint64_t prev = atomic_load(&last);
    for (;;) {
        uint64_t e = want > prev ? want : prev + 1;
        if (atomic_compare_exchange_weak(&last, &prev, e)) return e;
    }
}

sr_history *sr_history_get(sr_server *srv) {
    if (srv->history || !srv->cfg.history) return srv->history;
    sr_history *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    h->srv = srv;
    snprintf(h->epoch, sizeof(h->epoch), "%llu", (unsigned long long)new_epoch());
    h->max_messages = srv->cfg.history > SR_HISTORY_MAX ? SR_HISTORY_MAX : srv->cfg.history;
    h->ttl_ms = srv->cfg.history_ttl_ms;
    h->max_bytes = srv->cfg.history_max_bytes ? srv->cfg.history_max_bytes
                                              : SR_HISTORY_DEFAULT_MAX_BYTES;
    const char *ev = reset_event_ok(srv->cfg.reset_event, sizeof(srv->cfg.reset_event)) &&
                             srv->cfg.reset_event[0]
                         ? srv->cfg.reset_event
                         : "reset";
    snprintf(h->reset_event, sizeof(h->reset_event), "%s", ev);
    srv->history = h;
    return h;
}

bool sr_history_in_adapter(const sr_server *srv) {
    return srv->has_adapter && srv->adapter.history_publish && srv->adapter.history_fetch;
}

const char *sr_history_epoch(const sr_history *h) {
    return h->epoch;
}

uint64_t sr_history_counter(const sr_history *h) {
    return h->counter;
}

const char *sr_history_reset_event(const sr_history *h) {
    return h->reset_event;
}

void sr_history_set_live_epoch(sr_history *h, const char *epoch) {
    snprintf(h->live_epoch, sizeof(h->live_epoch), "%s", epoch);
}

const char *sr_history_live_epoch(const sr_history *h) {
    return h->live_epoch;
}

struct sr_resume **sr_history_resumes(sr_history *h) {
    return &h->resumes;
}

void sr_history_usage(const sr_history *h, size_t *entries, size_t *rooms, size_t *bytes) {
    *entries = h ? h->n_entries : 0;
    *rooms = h ? h->rooms.len : 0;
    *bytes = h ? h->bytes : 0;
}

/* --- rooms ---------------------------------------------------------------- */

typedef struct room_key {
    const char *name;
    size_t len;
} room_key;

static bool room_is(const void *item, const void *key) {
    const hist_room *r = item;
    const room_key *k = key;
    return r->name_len == k->len && memcmp(r->name, k->name, k->len) == 0;
}

static hist_room *room_find(sr_history *h, const char *name, size_t len) {
    room_key k = {name, len};
    return sr_table_find(&h->rooms, sr_hash(name, len), room_is, &k);
}

/* The bytes the room table's slot array accounts for. */
static size_t rooms_bytes(const sr_history *h) {
    return h->rooms.cap * sizeof(sr_table_slot);
}

static hist_room *room_get(sr_history *h, const char *name, size_t len) {
    uint64_t hash = sr_hash(name, len);
    room_key k = {name, len};
    hist_room *r = sr_table_find(&h->rooms, hash, room_is, &k);
    if (r) return r;
    r = calloc(1, sizeof(*r) + len + 1);
    if (!r) return NULL;
    r->hash = hash;
    r->name_len = len;
    memcpy(r->name, name, len);
    size_t slots_before = rooms_bytes(h);
    if (sr_table_insert(&h->rooms, hash, r) != 0) {
        free(r);
        return NULL;
    }
    /* the insert may have rebuilt the slots larger or smaller */
    h->bytes = h->bytes - slots_before + rooms_bytes(h);
    h->bytes += sizeof(*r) + len + 1;
    return r;
}

static void room_free(sr_history *h, hist_room *r) {
    sr_table_remove_item(&h->rooms, r->hash, r);
    if (r->dropped_max > h->forgotten_max) h->forgotten_max = r->dropped_max;
    h->bytes -= sizeof(*r) + r->name_len + 1 + (size_t)r->cap * sizeof(*r->ring);
    free(r->ring);
    free(r);
}

/* --- entries -------------------------------------------------------------- */

static void entry_free(sr_history *h, hist_entry *e) {
    if (e->older) e->older->newer = e->newer;
    else h->oldest = e->newer;
    if (e->newer) e->newer->older = e->older;
    else h->newest = e->older;
    h->bytes -= e->bytes;
    h->n_entries--;
    sr_frame_unref(e->frame);
    free(e);
}

/* Room r lets go of e (normally its oldest), remembering it as dropped;
 * an emptied room is freed unless keep_room. */
static void room_drop(sr_history *h, hist_room *r, hist_entry *e, int keep_room) {
    if (r->len && r->ring[r->head] == e) {
        r->head = (r->head + 1) % r->cap;
        r->len--;
    } else { /* not reached while the invariant holds; kept correct anyway */
        uint32_t i = 0;
        while (i < r->len && r->ring[(r->head + i) % r->cap] != e) i++;
        if (i == r->len) return;
        for (; i + 1 < r->len; i++)
            r->ring[(r->head + i) % r->cap] = r->ring[(r->head + i + 1) % r->cap];
        r->len--;
    }
    if (e->counter > r->dropped_max) r->dropped_max = e->counter;
    for (uint32_t i = 0; i < e->n_rooms; i++)
        if (e->rooms[i] == r) {
            e->rooms[i] = NULL;
            break;
        }
    if (--e->live == 0) entry_free(h, e);
    if (r->len == 0 && !keep_room) room_free(h, r);
}

/* Drops the oldest message from every room holding it. */
static void evict_oldest(sr_history *h) {
    hist_entry *e = h->oldest;
    while (h->oldest == e) {
        hist_room *r = NULL;
        for (uint32_t i = 0; i < e->n_rooms && !r; i++) r = e->rooms[i];
        if (!r) { /* held by no room: not reached */
            entry_free(h, e);
            return;
        }
        room_drop(h, r, e, 0);
    }
}

static void trim(sr_history *h) {
    uint64_t now = uv_now(h->srv->loop);
    while (h->oldest && h->ttl_ms && now - h->oldest->t_ms > h->ttl_ms) evict_oldest(h);
    while (h->oldest && h->bytes > h->max_bytes) evict_oldest(h);
}

static int room_push(sr_history *h, hist_room *r, hist_entry *e) {
    if (r->len == h->max_messages) room_drop(h, r, r->ring[r->head], 1);
    if (r->len == r->cap) {
        uint32_t cap = r->cap ? r->cap * 2 : 4;
        if (cap > h->max_messages) cap = h->max_messages;
        hist_entry **ring = malloc(cap * sizeof(*ring));
        if (!ring) return -1;
        for (uint32_t i = 0; i < r->len; i++) ring[i] = r->ring[(r->head + i) % r->cap];
        free(r->ring);
        h->bytes += (size_t)(cap - r->cap) * sizeof(*ring);
        r->ring = ring;
        r->cap = cap;
        r->head = 0;
    }
    r->ring[(r->head + r->len) % r->cap] = e;
    r->len++;
    return 0;
}

/* Keeps frame (a new reference) as the message `counter` of the rooms. */
static void keep(sr_history *h, const char *const *rooms, size_t n_rooms, sr_frame *frame,
                 uint64_t counter) {
    size_t bytes = sizeof(hist_entry) + n_rooms * sizeof(hist_room *) + frame->len;
    hist_entry *e = calloc(1, sizeof(*e) + n_rooms * sizeof(hist_room *));
    if (!e) return; /* out of memory: a resume across it will say "gone" */
    sr_frame_ref(frame);
    e->frame = frame;
    e->counter = counter;
    e->t_ms = uv_now(h->srv->loop);
    e->bytes = bytes;
    e->older = h->newest;
    if (h->newest) h->newest->newer = e;
    else h->oldest = e;
    h->newest = e;
    h->n_entries++;
    h->bytes += bytes;
    for (size_t i = 0; i < n_rooms; i++) {
        size_t len = strlen(rooms[i]);
        hist_room *r = room_get(h, rooms[i], len);
        if (!r) continue;
        int dup = 0;
        for (uint32_t j = 0; j < e->n_rooms && !dup; j++) dup = e->rooms[j] == r;
        if (dup) continue;
        if (room_push(h, r, e) < 0) {
            /* a room that cannot keep it has lost it */
            if (counter > r->dropped_max) r->dropped_max = counter;
            if (r->len == 0) room_free(h, r);
            continue;
        }
        e->rooms[e->n_rooms++] = r;
        e->live++;
    }
    if (e->live == 0) entry_free(h, e);
    trim(h);
}

void sr_history_free(sr_server *srv) {
    sr_history *h = srv->history;
    if (!h) return;
    while (h->oldest) evict_oldest(h);
    sr_table_free(&h->rooms);
    free(h);
    srv->history = NULL;
}

/* --- broadcasting and replaying -------------------------------------------- */

int sr_history_publish_local(sr_server *srv, const char *const *rooms, size_t n_rooms,
                             const sr_msg_parts *m, const sr_broadcast_opts *opts, char *id,
                             size_t cap) {
    sr_history *h = sr_history_get(srv);
    if (!h) return SR_ENOMEM;
    if (h->counter >= SR_SEQUENCE_COUNTER_MAX) return SR_ETOOBIG;
    int len = sr_sequence_format(id, cap, h->epoch, h->counter + 1);
    if (len < 0) return len;
    sr_msg_parts with_id = *m;
    with_id.id = id;
    with_id.id_len = (size_t)len;
    sr_frame *frame = sr_frame_encode(id, (size_t)len, m->event, m->event_len, m->data, m->data_len,
                                      m->retry);
    if (!frame) return SR_ENOMEM;
    frame->born_ns = uv_hrtime();
    h->counter++;
    keep(h, rooms, n_rooms, frame, h->counter);
    int delivered = sr_broadcast_frame(srv, rooms, n_rooms, &with_id, frame, opts);
    sr_frame_unref(frame);
    return delivered;
}

static int by_counter(const void *a, const void *b) {
    const hist_entry *x = *(hist_entry *const *)a, *y = *(hist_entry *const *)b;
    return x->counter < y->counter ? -1 : x->counter > y->counter;
}

sr_reset_reason sr_history_collect(sr_history *h, const char *const *rooms, size_t n_rooms,
                                   uint64_t after, sr_frame ***out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (after > h->counter) return SR_RESET_UNKNOWN;
    trim(h);
    size_t total = 0;
    for (size_t i = 0; i < n_rooms; i++) {
        hist_room *r = room_find(h, rooms[i], strlen(rooms[i]));
        uint64_t lost = r ? r->dropped_max : h->forgotten_max;
        if (lost > after) return SR_RESET_GONE;
        if (r) total += r->len;
    }
    if (after == h->counter || total == 0) return SR_RESET_NONE;
    hist_entry **found = malloc(total * sizeof(*found));
    if (!found) return SR_RESET_UNAVAILABLE;
    size_t n = 0;
    for (size_t i = 0; i < n_rooms; i++) {
        hist_room *r = room_find(h, rooms[i], strlen(rooms[i]));
        /* newest first, down to the first already received */
        for (uint32_t k = r ? r->len : 0; k > 0; k--) {
            hist_entry *e = r->ring[(r->head + k - 1) % r->cap];
            if (e->counter <= after) break;
            found[n++] = e;
        }
    }
    qsort(found, n, sizeof(*found), by_counter);
    sr_frame **frames = malloc((n ? n : 1) * sizeof(*frames));
    if (!frames) {
        free(found);
        return SR_RESET_UNAVAILABLE;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && found[i] == found[i - 1]) continue; /* in several of the rooms */
        sr_frame_ref(found[i]->frame);
        frames[k++] = found[i]->frame;
    }
    free(found);
    *out = frames;
    *n_out = k;
    return SR_RESET_NONE;
}
