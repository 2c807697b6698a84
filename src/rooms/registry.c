/* SPDX-License-Identifier: MIT */
/*
 * registry.c: the room index of one event-loop thread (see registry.h).
 *
 * Rooms live in a chained hash table with a power-of-two bucket count,
 * keyed by sr_hash (seeded SipHash) of the name; it doubles when there are
 * more rooms than buckets and halves when there are fewer than an eighth
 * (never below MIN_BUCKETS). A failed resize is harmless: the table keeps
 * working at its old size.
 *
 * Why not common/table.h, the library's one hash table: this index is on
 * the path of every join, leave and broadcast, and a micro-measure (1M
 * joins, 3M finds and 1M leaves over 100,000 rooms, then 10M finds over
 * 1,000 rooms; best of 5 runs, thread CPU time, -O2) put sr_table behind
 * it: find 154 ns against 94 ns with 100,000 rooms, 17.9 ns against
 * 14.7 ns with 1,000, join 375 against 284 ns, leave 146 against 106 ns.
 * The chained buckets cost 8 bytes a bucket plus the room's own `next`,
 * sr_table's slots 16 bytes each at a lower load, and a room is reached
 * through its slot anyway; so the rooms keep their intrusive chains.
 *
 * Each room has a dense array of member pointers (swap-remove on leave);
 * each member has its memberships as (room, index-in-room) pairs in join
 * order, first in the member's inline slots, then in a heap array. When a
 * leave moves the room's last member into the freed slot, that member's
 * membership of the room is found (memberships are few) and its index
 * fixed. Membership removal inside a member shifts, to keep join order.
 *
 * Room events: SR_ROOM_CREATED runs after the first member was added (the
 * room is linked and findable); SR_ROOM_EMPTIED after the last member was
 * removed, while the room is still linked (its name is readable), and the
 * room is unlinked and freed right after. SR_ROOM_JOINED follows every
 * join (after CREATED), SR_ROOM_LEFT every leave (before EMPTIED), with the
 * member count already changed (presence counts from them). The callback must not join,
 * leave or free through the registry (read-only calls are fine): it runs in
 * the middle of those operations.
 *
 * Delivery de-duplication: each member keeps the stamp of the last delivery
 * that reached it; sr_registry_visit skips members already carrying the
 * delivery's stamp, so a member in several target rooms is visited once.
 * Each membership keeps the last stamp handed out when it was made, so a
 * later delivery can tell who was a member when an earlier one was made
 * (remote.c, for the copies of one multi-room message).
 */
#include "rooms/registry.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

#define MIN_BUCKETS 16u
#define MIN_ROOM_MEMBERS 4u
#define MIN_HEAP_MEMBERSHIPS 4u

/* A member stamp no delivery ever uses (sr_registry_new_stamp skips it):
 * sr_registry_visit marks excluded members with it for the duration of one
 * call. */
#define STAMP_EXCLUDED UINT64_MAX

struct sr_registry {
    sr_room **buckets;
    size_t n_buckets; /* power of two, >= MIN_BUCKETS */
    size_t n_rooms;
    uint64_t last_stamp;
    sr_room_event_fn on_event;
    sr_member *event_member; /* during SR_ROOM_JOINED / SR_ROOM_LEFT */
    void *ud;
};

/* ------------------------------------------------------------------ */
/* Hash table                                                           */
/* ------------------------------------------------------------------ */

sr_registry *sr_registry_new(sr_room_event_fn fn, void *ud) {
    sr_registry *reg = calloc(1, sizeof *reg);
    if (!reg) return NULL;
    reg->buckets = calloc(MIN_BUCKETS, sizeof *reg->buckets);
    if (!reg->buckets) {
        free(reg);
        return NULL;
    }
    reg->n_buckets = MIN_BUCKETS;
    reg->on_event = fn;
    reg->ud = ud;
    return reg;
}

static void room_free(sr_room *room) {
    free(room->members);
    free(room);
}

static void member_reset(sr_member *m);

void sr_registry_free(sr_registry *reg) {
    if (!reg) return;
    for (size_t b = 0; b < reg->n_buckets; b++) {
        sr_room *room = reg->buckets[b];
        while (room) {
            sr_room *next = room->next;
            /* Members still in rooms get their heap arrays freed and are
             * reset (a reset member is skipped in its other rooms). */
            for (uint32_t j = 0; j < room->n_members; j++) member_reset(room->members[j]);
            room_free(room);
            room = next;
        }
    }
    free(reg->buckets);
    free(reg);
}

/* Moves every room into a table of n_buckets buckets; on allocation
 * failure the old table stays. */
static void table_resize(sr_registry *reg, size_t n_buckets) {
    sr_room **nb = calloc(n_buckets, sizeof *nb);
    if (!nb) return;
    const size_t mask = n_buckets - 1;
    for (size_t b = 0; b < reg->n_buckets; b++) {
        sr_room *room = reg->buckets[b];
        while (room) {
            sr_room *next = room->next;
            size_t nb_i = (size_t)room->hash & mask;
            room->next = nb[nb_i];
            nb[nb_i] = room;
            room = next;
        }
    }
    free(reg->buckets);
    reg->buckets = nb;
    reg->n_buckets = n_buckets;
}

static int name_equals(const sr_room *room, uint64_t hash, const char *name, size_t len) {
    return room->hash == hash && room->name_len == len &&
           (len == 0 || memcmp(room->name, name, len) == 0);
}

static sr_room *table_find(const sr_registry *reg, uint64_t hash, const char *name, size_t len) {
    for (sr_room *room = reg->buckets[(size_t)hash & (reg->n_buckets - 1)]; room; room = room->next)
        if (name_equals(room, hash, name, len)) return room;
    return NULL;
}

static void table_link(sr_registry *reg, sr_room *room) {
    size_t b = (size_t)room->hash & (reg->n_buckets - 1);
    room->next = reg->buckets[b];
    reg->buckets[b] = room;
    reg->n_rooms++;
    if (reg->n_rooms > reg->n_buckets && reg->n_buckets <= SIZE_MAX / 2 / sizeof(sr_room *))
        table_resize(reg, reg->n_buckets * 2);
}

static void table_unlink(sr_registry *reg, sr_room *room) {
    sr_room **link = &reg->buckets[(size_t)room->hash & (reg->n_buckets - 1)];
    while (*link != room) link = &(*link)->next;
    *link = room->next;
    reg->n_rooms--;
    if (reg->n_buckets > MIN_BUCKETS && reg->n_rooms < reg->n_buckets / 8)
        table_resize(reg, reg->n_buckets / 2);
}

sr_room *sr_registry_find(const sr_registry *reg, const char *name, size_t len) {
    if (!reg || (!name && len > 0)) return NULL;
    return table_find(reg, sr_hash(name, len), name, len);
}

size_t sr_registry_room_count(const sr_registry *reg) {
    return reg ? reg->n_rooms : 0;
}

size_t sr_registry_bucket_count(const sr_registry *reg) {
    return reg ? reg->n_buckets : 0;
}

sr_room *sr_registry_next(const sr_registry *reg, sr_registry_iter *it) {
    if (!reg || !it) return NULL;
    if (it->room) {
        if (it->room->next) {
            it->room = it->room->next;
            return it->room;
        }
        it->bucket++;
    }
    for (; it->bucket < reg->n_buckets; it->bucket++) {
        if (reg->buckets[it->bucket]) {
            it->room = reg->buckets[it->bucket];
            return it->room;
        }
    }
    it->room = NULL;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Room member arrays and member membership arrays                      */
/* ------------------------------------------------------------------ */

static sr_room *room_new(const char *name, size_t len, uint64_t hash) {
    if (len > SIZE_MAX - sizeof(sr_room) - 1) return NULL;
    sr_room *room = malloc(sizeof(sr_room) + len + 1);
    if (!room) return NULL;
    room->members = malloc(MIN_ROOM_MEMBERS * sizeof *room->members);
    if (!room->members) {
        free(room);
        return NULL;
    }
    room->next = NULL;
    room->hash = hash;
    room->n_members = 0;
    room->cap_members = MIN_ROOM_MEMBERS;
    room->name_len = len;
    if (len > 0) memcpy(room->name, name, len);
    room->name[len] = '\0';
    return room;
}

/* Makes room for one more member; 0 or -1. */
static int room_reserve(sr_room *room) {
    if (room->n_members < room->cap_members) return 0;
    if (room->cap_members > UINT32_MAX / 2) return -1;
    uint32_t cap = room->cap_members * 2;
    sr_member **members = realloc(room->members, (size_t)cap * sizeof *members);
    if (!members) return -1;
    room->members = members;
    room->cap_members = cap;
    return 0;
}

static void room_maybe_shrink(sr_room *room) {
    if (room->cap_members <= MIN_ROOM_MEMBERS || room->n_members >= room->cap_members / 4) return;
    uint32_t cap = room->cap_members / 2;
    sr_member **members = realloc(room->members, (size_t)cap * sizeof *members);
    if (members) { /* a failed shrink keeps the larger array */
        room->members = members;
        room->cap_members = cap;
    }
}

/* A zeroed member has rooms == NULL: give it its inline slots. */
static void member_init(sr_member *m) {
    if (!m->rooms) {
        m->rooms = m->inline_rooms;
        m->cap_rooms = SR_MEMBER_INLINE_ROOMS;
    }
}

static int member_on_heap(const sr_member *m) {
    return m->rooms != NULL && m->rooms != m->inline_rooms;
}

/* Makes room for one more membership; 0 or -1. */
static int member_reserve(sr_member *m) {
    member_init(m);
    if (m->n_rooms < m->cap_rooms) return 0;
    if (m->cap_rooms > UINT32_MAX / 2) return -1;
    uint32_t cap = m->cap_rooms * 2;
    if (cap < MIN_HEAP_MEMBERSHIPS) cap = MIN_HEAP_MEMBERSHIPS;
    sr_membership *rooms;
    if (member_on_heap(m)) {
        rooms = realloc(m->rooms, (size_t)cap * sizeof *rooms);
    } else {
        rooms = malloc((size_t)cap * sizeof *rooms);
        if (rooms) memcpy(rooms, m->rooms, (size_t)m->n_rooms * sizeof *rooms);
    }
    if (!rooms) return -1;
    m->rooms = rooms;
    m->cap_rooms = cap;
    return 0;
}

/* After a removal (or a failed join): back to the zeroed state when no
 * membership is left, to the inline slots when they suffice, else halve the
 * heap array when it is under a quarter full. */
static void member_maybe_shrink(sr_member *m) {
    if (m->n_rooms == 0) { /* back to the zeroed state (the stamp stays) */
        if (member_on_heap(m)) free(m->rooms);
        m->rooms = NULL;
        m->cap_rooms = 0;
        return;
    }
    if (!member_on_heap(m)) return;
    if (m->n_rooms <= SR_MEMBER_INLINE_ROOMS) {
        memcpy(m->inline_rooms, m->rooms, (size_t)m->n_rooms * sizeof *m->rooms);
        free(m->rooms);
        m->rooms = m->inline_rooms;
        m->cap_rooms = SR_MEMBER_INLINE_ROOMS;
        return;
    }
    if (m->cap_rooms <= MIN_HEAP_MEMBERSHIPS || m->n_rooms >= m->cap_rooms / 4) return;
    uint32_t cap = m->cap_rooms / 2;
    sr_membership *rooms = realloc(m->rooms, (size_t)cap * sizeof *rooms);
    if (rooms) {
        m->rooms = rooms;
        m->cap_rooms = cap;
    }
}

/* Frees a heap membership array and zeroes the member. */
static void member_reset(sr_member *m) {
    if (member_on_heap(m)) free(m->rooms);
    memset(m, 0, sizeof *m);
}

static int member_find_room(const sr_member *m, const sr_room *room) {
    for (uint32_t i = 0; i < m->n_rooms; i++)
        if (m->rooms[i].room == room) return (int)i;
    return -1;
}

int sr_registry_is_member(const sr_member *m, const sr_room *room) {
    if (!m || !room) return 0;
    /* Scan whichever side is shorter. */
    if (room->n_members < m->n_rooms) {
        for (uint32_t i = 0; i < room->n_members; i++)
            if (room->members[i] == m) return 1;
        return 0;
    }
    return member_find_room(m, room) >= 0;
}

uint64_t sr_registry_joined(const sr_member *m, const sr_room *room) {
    if (!m || !room) return UINT64_MAX;
    const int i = member_find_room(m, room);
    return i >= 0 ? m->rooms[i].joined : UINT64_MAX;
}

/* ------------------------------------------------------------------ */
/* Join and leave                                                       */
/* ------------------------------------------------------------------ */

int sr_registry_join(sr_registry *reg, sr_member *m, const char *name, size_t len) {
    if (!reg || !m || (!name && len > 0)) return -1;
    const uint64_t hash = sr_hash(name, len);
    sr_room *room = table_find(reg, hash, name, len);
    if (room && sr_registry_is_member(m, room)) return 1;
    /* Reserve everything first, so that a failure leaves no trace. */
    if (member_reserve(m) != 0) return -1;
    const int created = room == NULL;
    if (created) {
        room = room_new(name, len, hash);
        if (!room) {
            member_maybe_shrink(m);
            return -1;
        }
    } else if (room_reserve(room) != 0) {
        member_maybe_shrink(m);
        return -1;
    }
    const uint32_t index = room->n_members++;
    room->members[index] = m;
    m->rooms[m->n_rooms].room = room;
    m->rooms[m->n_rooms].index = index;
    m->rooms[m->n_rooms].joined = reg->last_stamp;
    m->n_rooms++;
    if (created) {
        table_link(reg, room);
        if (reg->on_event) reg->on_event(reg->ud, room, SR_ROOM_CREATED);
    }
    if (reg->on_event) {
        reg->event_member = m;
        reg->on_event(reg->ud, room, SR_ROOM_JOINED);
        reg->event_member = NULL;
    }
    return 0;
}

/* Removes membership i of m. shrink_member is 0 during leave-all, which
 * frees the whole array at the end instead. */
static void leave_at(sr_registry *reg, sr_member *m, uint32_t i, int shrink_member) {
    sr_room *room = m->rooms[i].room;
    const uint32_t index = m->rooms[i].index;

    /* Swap-remove from the room, then point the moved member's membership
     * at its new slot. */
    const uint32_t last = room->n_members - 1;
    if (index != last) {
        sr_member *moved = room->members[last];
        room->members[index] = moved;
        int j = member_find_room(moved, room);
        moved->rooms[j].index = index;
    }
    room->n_members = last;

    /* Shift, to keep the member's join order. */
    memmove(&m->rooms[i], &m->rooms[i + 1], (size_t)(m->n_rooms - i - 1) * sizeof *m->rooms);
    m->n_rooms--;
    if (shrink_member) member_maybe_shrink(m);

    if (reg->on_event) {
        reg->event_member = m;
        reg->on_event(reg->ud, room, SR_ROOM_LEFT);
        reg->event_member = NULL;
    }
    if (room->n_members == 0) {
        if (reg->on_event) reg->on_event(reg->ud, room, SR_ROOM_EMPTIED);
        table_unlink(reg, room);
        room_free(room);
    } else {
        room_maybe_shrink(room);
    }
}

void sr_registry_leave_at(sr_registry *reg, sr_member *m, uint32_t i) {
    if (!reg || !m || i >= m->n_rooms) return;
    leave_at(reg, m, i, 1);
}

sr_member *sr_registry_event_member(const sr_registry *reg) {
    return reg ? reg->event_member : NULL;
}

int sr_registry_leave(sr_registry *reg, sr_member *m, const char *name, size_t len) {
    if (!reg || !m || (!name && len > 0)) return 1;
    /* The member's own memberships are few; comparing names there needs no
     * hash and finds the index leave_at wants. */
    for (uint32_t i = 0; i < m->n_rooms; i++) {
        const sr_room *room = m->rooms[i].room;
        if (room->name_len == len && (len == 0 || memcmp(room->name, name, len) == 0)) {
            leave_at(reg, m, i, 1);
            return 0;
        }
    }
    return 1;
}

void sr_registry_leave_all(sr_registry *reg, sr_member *m) {
    if (!reg || !m) return;
    /* From the last: nothing to shift. */
    while (m->n_rooms > 0) leave_at(reg, m, m->n_rooms - 1, 0);
    member_reset(m);
}

/* ------------------------------------------------------------------ */
/* Delivery                                                             */
/* ------------------------------------------------------------------ */

uint64_t sr_registry_new_stamp(sr_registry *reg) {
    if (!reg) return 1;
    reg->last_stamp++;
    if (reg->last_stamp == 0 || reg->last_stamp == STAMP_EXCLUDED) reg->last_stamp = 1;
    return reg->last_stamp;
}

/*
 * Excluded members are marked with STAMP_EXCLUDED (not with `stamp`) before
 * the main loop, so the loop skips them with the same test that skips
 * members already reached, without searching the except list per member;
 * afterwards the marks are cleared back to "not reached" so that the call
 * leaves no trace on them: they are neither passed to fn, nor counted, nor
 * left carrying `stamp` (a later visit with the same stamp and no except
 * list reaches them). An excluded member that already carried `stamp`
 * (reached by an earlier visit of the same delivery) is left as it was.
 * Duplicates and NULLs in either list are harmless.
 */
size_t sr_registry_visit(sr_room *const *rooms, size_t n, sr_member *const *except, size_t n_except,
                         uint64_t stamp, sr_member_fn fn, void *ud) {
    if ((!rooms && n > 0) || stamp == 0 || stamp == STAMP_EXCLUDED)
        return 0; /* not a stamp from sr_registry_new_stamp */
    if (!except) n_except = 0;
    for (size_t i = 0; i < n_except; i++)
        if (except[i] && except[i]->stamp != stamp) except[i]->stamp = STAMP_EXCLUDED;

    size_t visited = 0;
    for (size_t r = 0; r < n; r++) {
        const sr_room *room = rooms[r];
        if (!room) continue;
        sr_member *const *members = room->members;
        const uint32_t n_members = room->n_members;
        for (uint32_t j = 0; j < n_members; j++) {
            sr_member *m = members[j];
            if (m->stamp == stamp || m->stamp == STAMP_EXCLUDED) continue;
            m->stamp = stamp;
            visited++;
            if (fn) fn(ud, m);
        }
    }

    for (size_t i = 0; i < n_except; i++)
        if (except[i] && except[i]->stamp == STAMP_EXCLUDED) except[i]->stamp = 0;
    return visited;
}

size_t sr_registry_visit_range(const sr_room *room, uint32_t *next, uint32_t max, uint64_t stamp,
                               sr_member_fn fn, void *ud) {
    if (!room || !next || stamp == 0 || stamp == STAMP_EXCLUDED) return 0;
    const uint32_t n_members = room->n_members;
    const uint32_t from = *next < n_members ? *next : n_members;
    const uint32_t end = max && max < n_members - from ? from + max : n_members;
    size_t visited = 0;
    for (uint32_t j = from; j < end; j++) {
        sr_member *m = room->members[j];
        if (m->stamp == stamp || m->stamp == STAMP_EXCLUDED) continue;
        m->stamp = stamp;
        visited++;
        if (fn) fn(ud, m);
    }
    *next = end;
    return visited;
}
