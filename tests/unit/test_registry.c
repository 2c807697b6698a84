/* SPDX-License-Identifier: MIT */
/*
 * test_registry.c: the room registry: join / leave / leave-all, room
 * events, swap-remove index fix-up, table growth and shrink, iteration,
 * allocation failures (delivery visits are in test_registry_visit.c).
 *
 * The randomized test runs 100k operations over 200 members x 50 rooms and
 * compares the registry with a plain reference model (a membership matrix
 * plus each member's rooms in join order) every CHECK_EVERY operations,
 * in alternating phases that fill and drain the rooms.
 * Allocation failures are injected through linker-wrapped malloc, calloc
 * and realloc (see rooms.cmake): fail_alloc_at(k) makes the k-th next
 * allocation fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rooms/registry.h"

/* ------------------------------------------------------------------ */
/* Allocation failure injection                                         */
/* ------------------------------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static long alloc_countdown = -1; /* < 0: never fail */
static long alloc_failures;

static int alloc_should_fail(void) {
    if (alloc_countdown < 0) return 0;
    if (alloc_countdown-- == 0) {
        alloc_failures++;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n) {
    return alloc_should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
    return alloc_should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
    return alloc_should_fail() ? NULL : __real_realloc(p, n);
}

static void fail_alloc_at(long k) {
    alloc_countdown = k;
}

static void fail_alloc_never(void) {
    alloc_countdown = -1;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

#define MAX_EVENTS 64

/* Records room events, and checks what must hold when each one fires. */
typedef struct event_log {
    sr_registry *reg;
    size_t n;
    sr_room_event ev[MAX_EVENTS];
    char name[MAX_EVENTS][32];
} event_log;

static void log_event(void *ud, sr_room *room, sr_room_event ev) {
    event_log *log = ud;
    if (ev == SR_ROOM_JOINED || ev == SR_ROOM_LEFT) return; /* counted in test_member_events */
    assert_true(log->n < MAX_EVENTS);
    assert_true(room->name_len < sizeof log->name[0]);
    assert_int_equal(room->name[room->name_len], '\0');
    /* Both events fire while the room is findable under its name. */
    assert_ptr_equal(sr_registry_find(log->reg, room->name, room->name_len), room);
    if (ev == SR_ROOM_CREATED) assert_int_equal(room->n_members, 1);
    else assert_int_equal(room->n_members, 0);
    log->ev[log->n] = ev;
    memcpy(log->name[log->n], room->name, room->name_len + 1);
    log->n++;
}

static void expect_event(const event_log *log, size_t i, sr_room_event ev, const char *name) {
    assert_true(i < log->n);
    assert_int_equal(log->ev[i], ev);
    assert_string_equal(log->name[i], name);
}

static int join(sr_registry *reg, sr_member *m, const char *name) {
    return sr_registry_join(reg, m, name, strlen(name));
}

static int leave(sr_registry *reg, sr_member *m, const char *name) {
    return sr_registry_leave(reg, m, name, strlen(name));
}

static sr_room *find(sr_registry *reg, const char *name) {
    return sr_registry_find(reg, name, strlen(name));
}

/* m's rooms, in order, are exactly names[0..n). */
static void expect_rooms(const sr_member *m, const char *const *names, uint32_t n) {
    assert_int_equal(m->n_rooms, n);
    for (uint32_t i = 0; i < n; i++) {
        const sr_room *room = m->rooms[i].room;
        assert_string_equal(room->name, names[i]);
        assert_true(m->rooms[i].index < room->n_members);
        assert_ptr_equal(room->members[m->rooms[i].index], m);
    }
}

static int member_is_zero(const sr_member *m) {
    sr_member zero;
    memset(&zero, 0, sizeof zero);
    return memcmp(m, &zero, sizeof zero) == 0;
}

/* ------------------------------------------------------------------ */
/* Join, leave, leave-all, room events                                  */
/* ------------------------------------------------------------------ */

static void test_join_leave_order_and_events(void **state) {
    (void)state;
    event_log log = {0};
    sr_registry *reg = sr_registry_new(log_event, &log);
    assert_non_null(reg);
    log.reg = reg;
    sr_member m1 = {0}, m2 = {0};

    assert_int_equal(join(reg, &m1, "a"), 0);
    assert_int_equal(join(reg, &m1, "b"), 0);
    assert_int_equal(join(reg, &m1, "c"), 0);
    assert_int_equal(join(reg, &m1, "b"), 1); /* twice */
    assert_int_equal(join(reg, &m1, "a"), 1);
    const char *abc[] = {"a", "b", "c"};
    expect_rooms(&m1, abc, 3);
    assert_int_equal(sr_registry_room_count(reg), 3);
    assert_int_equal(log.n, 3);
    expect_event(&log, 0, SR_ROOM_CREATED, "a");
    expect_event(&log, 1, SR_ROOM_CREATED, "b");
    expect_event(&log, 2, SR_ROOM_CREATED, "c");

    /* A second member: no new event for an existing room. */
    assert_int_equal(join(reg, &m2, "b"), 0);
    assert_int_equal(join(reg, &m2, "a"), 0);
    assert_int_equal(log.n, 3);
    sr_room *b = find(reg, "b");
    assert_non_null(b);
    assert_int_equal(b->n_members, 2);
    assert_ptr_equal(b->members[0], &m1);
    assert_ptr_equal(b->members[1], &m2);
    assert_true(sr_registry_is_member(&m2, b));
    assert_false(sr_registry_is_member(&m2, find(reg, "c")));

    /* m1 leaves b: m2 is swapped into slot 0 and its index fixed; m1's
     * other rooms keep their order. */
    assert_int_equal(leave(reg, &m1, "b"), 0);
    assert_int_equal(b->n_members, 1);
    assert_ptr_equal(b->members[0], &m2);
    const char *ac[] = {"a", "c"};
    expect_rooms(&m1, ac, 2);
    const char *ba[] = {"b", "a"};
    expect_rooms(&m2, ba, 2);
    assert_false(sr_registry_is_member(&m1, b));

    /* Not a member (any more), unknown room. */
    assert_int_equal(leave(reg, &m1, "b"), 1);
    assert_int_equal(leave(reg, &m1, "zzz"), 1);
    assert_int_equal(leave(reg, &m1, "aa"), 1);
    assert_int_equal(leave(reg, &m1, ""), 1);
    assert_int_equal(log.n, 3);

    /* Leave-all in reverse join order: c empties (m1 only), a does not. */
    sr_registry_leave_all(reg, &m1);
    assert_true(member_is_zero(&m1));
    assert_int_equal(log.n, 4);
    expect_event(&log, 3, SR_ROOM_EMPTIED, "c");
    assert_null(find(reg, "c"));
    assert_int_equal(sr_registry_room_count(reg), 2);
    sr_registry_leave_all(reg, &m1); /* nothing left: no-op */
    assert_int_equal(log.n, 4);

    assert_int_equal(leave(reg, &m2, "a"), 0);
    expect_event(&log, 4, SR_ROOM_EMPTIED, "a");
    assert_int_equal(leave(reg, &m2, "b"), 0);
    expect_event(&log, 5, SR_ROOM_EMPTIED, "b");
    assert_int_equal(log.n, 6);
    assert_int_equal(sr_registry_room_count(reg), 0);
    assert_int_equal(m2.n_rooms, 0);

    /* A member can rejoin after leave-all, and the room is created again. */
    assert_int_equal(join(reg, &m1, "c"), 0);
    expect_event(&log, 6, SR_ROOM_CREATED, "c");
    sr_registry_leave_all(reg, &m1);
    expect_event(&log, 7, SR_ROOM_EMPTIED, "c");
    assert_int_equal(sr_registry_room_count(reg), 0);
    sr_registry_free(reg);
}

/* Leave-all empties rooms in reverse join order. */
static void test_leave_all_reverse_order(void **state) {
    (void)state;
    event_log log = {0};
    sr_registry *reg = sr_registry_new(log_event, &log);
    assert_non_null(reg);
    log.reg = reg;
    sr_member m = {0};
    const char *names[] = {"r1", "r2", "r3", "r4", "r5", "r6"};
    for (int i = 0; i < 6; i++) assert_int_equal(join(reg, &m, names[i]), 0);
    expect_rooms(&m, names, 6);
    sr_registry_leave_all(reg, &m);
    assert_int_equal(log.n, 12);
    for (int i = 0; i < 6; i++) {
        expect_event(&log, (size_t)i, SR_ROOM_CREATED, names[i]);
        expect_event(&log, (size_t)(6 + i), SR_ROOM_EMPTIED, names[5 - i]);
    }
    assert_true(member_is_zero(&m));
    assert_int_equal(sr_registry_room_count(reg), 0);
    sr_registry_free(reg);
}

/* Memberships start inline, move to the heap beyond SR_MEMBER_INLINE_ROOMS
 * and come back when few are left; leave_at keeps join order. */
static void test_inline_heap_and_leave_at(void **state) {
    (void)state;
    sr_registry *reg = sr_registry_new(NULL, NULL);
    assert_non_null(reg);
    sr_member m = {0};
    const char *names[] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"};
    for (int i = 0; i < SR_MEMBER_INLINE_ROOMS; i++) {
        assert_int_equal(join(reg, &m, names[i]), 0);
        assert_ptr_equal(m.rooms, m.inline_rooms);
    }
    for (int i = SR_MEMBER_INLINE_ROOMS; i < 10; i++) assert_int_equal(join(reg, &m, names[i]), 0);
    assert_ptr_not_equal(m.rooms, m.inline_rooms);
    assert_true(m.cap_rooms >= 10);
    expect_rooms(&m, names, 10);

    sr_registry_leave_at(reg, &m, 4); /* n4 */
    sr_registry_leave_at(reg, &m, 0); /* n0 */
    sr_registry_leave_at(reg, &m, 7); /* last: n9 */
    sr_registry_leave_at(reg, &m, 7); /* out of range: ignored */
    sr_registry_leave_at(reg, &m, UINT32_MAX);
    const char *left[] = {"n1", "n2", "n3", "n5", "n6", "n7", "n8"};
    expect_rooms(&m, left, 7);
    assert_null(find(reg, "n4"));
    assert_int_equal(sr_registry_room_count(reg), 7);

    /* Down to the inline capacity: back inline. */
    for (int i = 0; i < 5; i++) sr_registry_leave_at(reg, &m, 1);
    const char *rest[] = {"n1", "n8"};
    expect_rooms(&m, rest, 2);
    assert_ptr_equal(m.rooms, m.inline_rooms);
    assert_int_equal(m.cap_rooms, SR_MEMBER_INLINE_ROOMS);

    assert_int_equal(leave(reg, &m, "n8"), 0);
    assert_int_equal(leave(reg, &m, "n1"), 0);
    assert_int_equal(m.n_rooms, 0);
    assert_int_equal(sr_registry_room_count(reg), 0);
    /* Leave-all of a heap member frees the array (ASan checks). */
    for (int i = 0; i < 10; i++) assert_int_equal(join(reg, &m, names[i]), 0);
    sr_registry_leave_all(reg, &m);
    assert_true(member_is_zero(&m));
    sr_registry_free(reg);
}

/* Many members in one room: CREATED exactly once, EMPTIED exactly once
 * when the last leaves, whatever the order; the member array grows and
 * shrinks. */
static void test_room_events_exactly_once(void **state) {
    (void)state;
    enum { N = 1000 };
    event_log log = {0};
    sr_registry *reg = sr_registry_new(log_event, &log);
    assert_non_null(reg);
    log.reg = reg;
    sr_member *ms = calloc(N, sizeof *ms);
    assert_non_null(ms);
    for (int i = 0; i < N; i++) assert_int_equal(join(reg, &ms[i], "shared"), 0);
    assert_int_equal(log.n, 1);
    expect_event(&log, 0, SR_ROOM_CREATED, "shared");
    sr_room *room = find(reg, "shared");
    assert_int_equal(room->n_members, N);
    assert_true(room->cap_members >= N && room->cap_members <= 2 * N);

    /* Leave from the middle outwards, checking every member's index. */
    for (int k = 0; k < N - 10; k++) {
        int i = (k * 7919) % N; /* 7919 is prime to 1000: a permutation */
        if (ms[i].n_rooms == 0) {
            assert_int_equal(leave(reg, &ms[i], "shared"), 1);
            continue;
        }
        assert_int_equal(leave(reg, &ms[i], "shared"), 0);
    }
    room = find(reg, "shared");
    assert_non_null(room);
    assert_int_equal(log.n, 1);
    assert_true(room->cap_members >= room->n_members && room->cap_members >= 4);
    assert_true(room->cap_members < 4 * room->n_members + 8); /* it shrank */
    for (uint32_t j = 0; j < room->n_members; j++) {
        sr_member *m = room->members[j];
        assert_int_equal(m->n_rooms, 1);
        assert_int_equal(m->rooms[0].index, j);
    }
    for (int i = 0; i < N; i++) sr_registry_leave_all(reg, &ms[i]);
    assert_int_equal(log.n, 2);
    expect_event(&log, 1, SR_ROOM_EMPTIED, "shared");
    assert_int_equal(sr_registry_room_count(reg), 0);
    free(ms);
    sr_registry_free(reg);
}

/* ------------------------------------------------------------------ */
/* Randomized operations against a reference model                      */
/* ------------------------------------------------------------------ */

#define MODEL_MEMBERS 200
#define MODEL_ROOMS 50
#define MODEL_OPS 100000
#define CHECK_EVERY 100
#define PHASE_OPS 5000
#define RARE_ODDS 20

typedef struct model {
    sr_registry *reg;
    sr_member members[MODEL_MEMBERS];
    unsigned char in[MODEL_MEMBERS][MODEL_ROOMS];
    int order[MODEL_MEMBERS][MODEL_ROOMS]; /* room ids in join order */
    int n_order[MODEL_MEMBERS];
    int live[MODEL_ROOMS]; /* per the callbacks */
    long created, emptied;
    uint32_t peak_member_rooms, peak_room_members;
} model;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rng(uint32_t bound) {
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)(((rng_state * 0x2545f4914f6cdd1dULL) >> 32) % bound);
}

static int room_id(const sr_room *room) {
    assert_int_equal(room->name_len, 7);
    assert_memory_equal(room->name, "room-", 5);
    int id = (room->name[5] - '0') * 10 + (room->name[6] - '0');
    assert_true(id >= 0 && id < MODEL_ROOMS);
    return id;
}

static void model_event(void *ud, sr_room *room, sr_room_event ev) {
    model *md = ud;
    if (ev == SR_ROOM_JOINED || ev == SR_ROOM_LEFT) {
        /* the count has already changed; the room stays linked meanwhile */
        assert_ptr_equal(sr_registry_find(md->reg, room->name, room->name_len), room);
        return;
    }
    int id = room_id(room);
    if (ev == SR_ROOM_CREATED) {
        assert_false(md->live[id]);
        assert_int_equal(room->n_members, 1);
        md->live[id] = 1;
        md->created++;
    } else {
        assert_int_equal(ev, SR_ROOM_EMPTIED);
        assert_true(md->live[id]);
        assert_int_equal(room->n_members, 0);
        md->live[id] = 0;
        md->emptied++;
    }
}

static void model_name(int id, char out[8]) {
    snprintf(out, 8, "room-%02d", id);
}

static void model_remove(model *md, int mi, int ri) {
    md->in[mi][ri] = 0;
    int *order = md->order[mi];
    int k = 0;
    while (order[k] != ri) k++;
    memmove(&order[k], &order[k + 1], (size_t)(md->n_order[mi] - k - 1) * sizeof *order);
    md->n_order[mi]--;
}

static void model_check(model *md) {
    char name[8];
    size_t live_rooms = 0;
    for (int r = 0; r < MODEL_ROOMS; r++) {
        model_name(r, name);
        sr_room *room = sr_registry_find(md->reg, name, 7);
        uint32_t expect = 0;
        for (int m = 0; m < MODEL_MEMBERS; m++) expect += md->in[m][r];
        assert_int_equal(md->live[r], expect > 0);
        if (expect == 0) {
            assert_null(room);
            continue;
        }
        live_rooms++;
        assert_non_null(room);
        assert_int_equal(room->n_members, expect);
        if (expect > md->peak_room_members) md->peak_room_members = expect;
        assert_true(room->cap_members >= room->n_members && room->cap_members >= 4);
        for (uint32_t j = 0; j < room->n_members; j++) {
            const sr_member *m = room->members[j];
            int mi = (int)(m - md->members);
            assert_true(mi >= 0 && mi < MODEL_MEMBERS);
            assert_true(md->in[mi][r]);
        }
    }
    assert_int_equal(sr_registry_room_count(md->reg), live_rooms);
    assert_int_equal(md->created - md->emptied, (long)live_rooms);
    for (int mi = 0; mi < MODEL_MEMBERS; mi++) {
        const sr_member *m = &md->members[mi];
        assert_int_equal(m->n_rooms, md->n_order[mi]);
        if (m->n_rooms > md->peak_member_rooms) md->peak_member_rooms = m->n_rooms;
        if (m->n_rooms == 0) assert_null(m->rooms);
        else if (m->n_rooms <= SR_MEMBER_INLINE_ROOMS) assert_ptr_equal(m->rooms, m->inline_rooms);
        assert_true(m->n_rooms <= m->cap_rooms || m->rooms == NULL);
        for (uint32_t i = 0; i < m->n_rooms; i++) {
            const sr_room *room = m->rooms[i].room;
            assert_int_equal(room_id(room), md->order[mi][i]);
            assert_true(m->rooms[i].index < room->n_members);
            assert_ptr_equal(room->members[m->rooms[i].index], m);
        }
    }
}

static void test_random_against_model(void **state) {
    (void)state;
    model *md = calloc(1, sizeof *md);
    assert_non_null(md);
    md->reg = sr_registry_new(model_event, md);
    assert_non_null(md->reg);
    char name[8];
    long joins = 0, leaves = 0, leave_ats = 0, leave_alls = 0;
    for (long op = 0; op < MODEL_OPS; op++) {
        int mi = (int)rng(MODEL_MEMBERS);
        sr_member *m = &md->members[mi];
        /* Alternate filling and draining phases, so that rooms are
         * created and emptied many times over, and members move between
         * inline and heap memberships. */
        const int draining = (op / PHASE_OPS) % 2;
        uint32_t kind = rng(100);
        if (draining) kind = kind < 15 ? 0 : kind < 45 ? 60 : kind < 75 ? 90 : 99;
        if (kind < 55) {
            /* Rooms 25..49 are joined rarely: they hold few members and
             * are created and emptied over and over. */
            int ri = (int)rng(MODEL_ROOMS);
            if (ri >= MODEL_ROOMS / 2 && rng(RARE_ODDS) != 0) ri -= MODEL_ROOMS / 2;
            model_name(ri, name);
            int rc = sr_registry_join(md->reg, m, name, 7);
            assert_int_equal(rc, md->in[mi][ri] ? 1 : 0);
            if (rc == 0) {
                md->in[mi][ri] = 1;
                md->order[mi][md->n_order[mi]++] = ri;
            }
            joins++;
        } else if (kind < 88) {
            int ri = (int)rng(MODEL_ROOMS);
            model_name(ri, name);
            int rc = sr_registry_leave(md->reg, m, name, 7);
            assert_int_equal(rc, md->in[mi][ri] ? 0 : 1);
            if (rc == 0) model_remove(md, mi, ri);
            leaves++;
        } else if (kind < 98) {
            if (md->n_order[mi] > 0) {
                uint32_t i = rng((uint32_t)md->n_order[mi]);
                int ri = md->order[mi][i];
                sr_registry_leave_at(md->reg, m, i);
                model_remove(md, mi, ri);
                leave_ats++;
            }
        } else {
            sr_registry_leave_all(md->reg, m);
            assert_true(member_is_zero(m));
            while (md->n_order[mi] > 0) model_remove(md, mi, md->order[mi][md->n_order[mi] - 1]);
            leave_alls++;
        }
        if (op % CHECK_EVERY == 0) model_check(md);
    }
    model_check(md);
    /* The mix really exercised every operation, rooms were created and
     * emptied many times, members went well past their inline slots and
     * rooms past their first member array. */
    assert_true(joins > 30000 && leaves > 25000 && leave_ats > 8000 && leave_alls > 10000);
    assert_true(md->created > 600 && md->emptied > 600);
    assert_true(md->peak_member_rooms > 10 && md->peak_room_members > 50);

    for (int mi = 0; mi < MODEL_MEMBERS; mi++) {
        sr_registry_leave_all(md->reg, &md->members[mi]);
        md->n_order[mi] = 0;
        memset(md->in[mi], 0, sizeof md->in[mi]);
    }
    model_check(md);
    assert_int_equal(sr_registry_room_count(md->reg), 0);
    assert_int_equal(md->created, md->emptied);
    sr_registry_free(md->reg);
    free(md);
}

/* ------------------------------------------------------------------ */
/* Table growth and shrink, iteration                                    */
/* ------------------------------------------------------------------ */

static int is_pow2(size_t v) {
    return v != 0 && (v & (v - 1)) == 0;
}

/* One SR_ROOM_JOINED / SR_ROOM_LEFT as seen by the callback: who, and the
 * room's member count then. */
typedef struct member_log {
    sr_registry *reg;
    int n;
    sr_room_event ev[16];
    sr_member *who[16];
    uint32_t members[16];
} member_log;

static void log_member_event(void *ud, sr_room *room, sr_room_event ev) {
    member_log *log = ud;
    if (ev != SR_ROOM_JOINED && ev != SR_ROOM_LEFT) {
        assert_null(sr_registry_event_member(log->reg));
        return;
    }
    assert_true(log->n < 16);
    log->ev[log->n] = ev;
    log->who[log->n] = sr_registry_event_member(log->reg);
    log->members[log->n++] = room->n_members;
}

/* Every join and leave is reported once, after the count changed, with
 * the member concerned (presence counts from them). */
static void test_member_events(void **state) {
    (void)state;
    member_log log = {0};
    sr_registry *reg = sr_registry_new(log_member_event, &log);
    log.reg = reg;
    sr_member a = {0}, b = {0};
    assert_int_equal(join(reg, &a, "r"), 0);
    assert_int_equal(join(reg, &b, "r"), 0);
    assert_int_equal(join(reg, &b, "r"), 1); /* already in: no event */
    assert_int_equal(sr_registry_leave(reg, &a, "r", 1), 0);
    sr_registry_leave_all(reg, &b);
    assert_int_equal(log.n, 4);
    assert_int_equal(log.ev[0], SR_ROOM_JOINED);
    assert_ptr_equal(log.who[0], &a);
    assert_int_equal(log.members[0], 1);
    assert_ptr_equal(log.who[1], &b);
    assert_int_equal(log.members[1], 2);
    assert_int_equal(log.ev[2], SR_ROOM_LEFT);
    assert_ptr_equal(log.who[2], &a);
    assert_int_equal(log.members[2], 1);
    assert_int_equal(log.ev[3], SR_ROOM_LEFT);
    assert_ptr_equal(log.who[3], &b);
    assert_int_equal(log.members[3], 0);
    assert_null(sr_registry_event_member(reg));
    sr_registry_free(reg);
}

/* counts[0]: rooms created, [1]: emptied, [2]: joins, [3]: leaves. */
static void count_event(void *ud, sr_room *room, sr_room_event ev) {
    long *counts = ud;
    (void)room;
    counts[ev == SR_ROOM_CREATED ? 0 : ev == SR_ROOM_EMPTIED ? 1 : ev == SR_ROOM_JOINED ? 2 : 3]++;
}

/* Every room once through the iterator; returns how many. */
static size_t iterate_all(sr_registry *reg, unsigned char *seen_room, size_t n_names) {
    sr_registry_iter it = {0};
    size_t count = 0;
    sr_room *room;
    while ((room = sr_registry_next(reg, &it)) != NULL) {
        unsigned id = (unsigned)strtoul(room->name + 1, NULL, 10);
        assert_true(id < n_names);
        assert_int_equal(seen_room[id], 0);
        seen_room[id] = 1;
        count++;
    }
    assert_null(sr_registry_next(reg, &it)); /* stays at the end */
    return count;
}

static void test_table_growth_and_shrink(void **state) {
    (void)state;
    enum { N = 100000 };
    long counts[4] = {0, 0, 0, 0};
    sr_registry *reg = sr_registry_new(count_event, counts);
    assert_non_null(reg);
    assert_int_equal(sr_registry_bucket_count(reg), 16);
    sr_registry_iter it0 = {0};
    assert_null(sr_registry_next(reg, &it0));

    sr_member *ms = calloc(N, sizeof *ms);
    unsigned char *seen_room = calloc(N, 1);
    assert_true(ms && seen_room);
    char name[16];
    size_t max_buckets = 0;
    for (int i = 0; i < N; i++) {
        int len = snprintf(name, sizeof name, "r%d", i);
        assert_int_equal(sr_registry_join(reg, &ms[i], name, (size_t)len), 0);
        size_t b = sr_registry_bucket_count(reg);
        assert_true(is_pow2(b));
        assert_true(sr_registry_room_count(reg) <= b); /* grows when rooms > buckets */
        if (b > max_buckets) max_buckets = b;
    }
    assert_int_equal(sr_registry_room_count(reg), N);
    assert_int_equal(max_buckets, 131072); /* the smallest power of two >= N */
    assert_int_equal(counts[0], N);
    for (int i = 0; i < N; i++) {
        int len = snprintf(name, sizeof name, "r%d", i);
        sr_room *room = sr_registry_find(reg, name, (size_t)len);
        assert_non_null(room);
        assert_ptr_equal(room->members[0], &ms[i]);
    }
    assert_null(find(reg, "r100000"));
    assert_null(find(reg, "r"));
    assert_int_equal(iterate_all(reg, seen_room, N), N);

    /* Leave all but 10: the table shrinks as rooms go. */
    for (int i = 0; i < N - 10; i++) {
        sr_registry_leave_all(reg, &ms[i]);
        size_t b = sr_registry_bucket_count(reg);
        size_t rooms = sr_registry_room_count(reg);
        assert_true(is_pow2(b) && b >= 16);
        assert_true(b == 16 || rooms >= b / 8); /* shrinks when rooms < buckets/8 */
    }
    assert_int_equal(sr_registry_room_count(reg), 10);
    assert_int_equal(sr_registry_bucket_count(reg), 64);
    memset(seen_room, 0, N);
    assert_int_equal(iterate_all(reg, seen_room, N), 10);
    for (int i = N - 10; i < N; i++) {
        assert_int_equal(seen_room[i], 1);
        int len = snprintf(name, sizeof name, "r%d", i);
        assert_non_null(sr_registry_find(reg, name, (size_t)len));
    }
    for (int i = N - 10; i < N; i++) sr_registry_leave_all(reg, &ms[i]);
    assert_int_equal(sr_registry_room_count(reg), 0);
    assert_int_equal(sr_registry_bucket_count(reg), 16);
    assert_int_equal(counts[0], N);
    assert_int_equal(counts[1], N);
    it0 = (sr_registry_iter){0};
    assert_null(sr_registry_next(reg, &it0));
    sr_registry_free(reg);
    free(ms);
    free(seen_room);
}

/* Freeing a registry with rooms still in it frees them, without events,
 * and resets their members. */
static void test_free_with_rooms(void **state) {
    (void)state;
    long counts[4] = {0, 0, 0, 0};
    sr_registry *reg = sr_registry_new(count_event, counts);
    assert_non_null(reg);
    sr_member m[3] = {{0}};
    char name[16];
    for (int i = 0; i < 40; i++) {
        int len = snprintf(name, sizeof name, "f%d", i);
        assert_int_equal(sr_registry_join(reg, &m[i % 3], name, (size_t)len), 0);
        assert_int_equal(sr_registry_join(reg, &m[(i + 1) % 3], name, (size_t)len), 0);
    }
    assert_int_equal(counts[0], 40);
    assert_ptr_not_equal(m[0].rooms, m[0].inline_rooms);
    sr_registry_free(reg);
    assert_int_equal(counts[1], 0);
    /* The members were reset, their heap arrays freed (ASan checks). */
    for (int i = 0; i < 3; i++) assert_true(member_is_zero(&m[i]));
    sr_registry_free(NULL);
}

/* ------------------------------------------------------------------ */
/* Odd input                                                            */
/* ------------------------------------------------------------------ */

static void test_names_are_bytes(void **state) {
    (void)state;
    event_log log = {0};
    sr_registry *reg = sr_registry_new(log_event, &log);
    assert_non_null(reg);
    log.reg = reg;
    sr_member m = {0};
    /* Names are compared by length and bytes: embedded NULs, prefixes and
     * the empty name are distinct rooms; the copy is NUL-terminated. */
    assert_int_equal(sr_registry_join(reg, &m, "ab\0c", 4), 0);
    assert_int_equal(sr_registry_join(reg, &m, "ab", 2), 0);
    assert_int_equal(sr_registry_join(reg, &m, "ab\0d", 4), 0);
    assert_int_equal(sr_registry_join(reg, &m, "", 0), 0);
    assert_int_equal(sr_registry_join(reg, &m, NULL, 0), 1); /* NULL,0 is "" */
    assert_int_equal(sr_registry_room_count(reg), 4);
    sr_room *r = sr_registry_find(reg, "ab\0c", 4);
    assert_non_null(r);
    assert_int_equal(r->name_len, 4);
    assert_memory_equal(r->name, "ab\0c", 5);
    assert_ptr_not_equal(r, sr_registry_find(reg, "ab\0d", 4));
    assert_int_equal(sr_registry_leave(reg, &m, "ab\0x", 4), 1);
    assert_int_equal(sr_registry_leave(reg, &m, "ab\0d", 4), 0);
    assert_int_equal(sr_registry_leave(reg, &m, NULL, 0), 0);
    assert_null(sr_registry_find(reg, "", 0));

    /* NULL arguments: refused, nothing changes, nothing crashes. */
    assert_int_equal(sr_registry_join(NULL, &m, "a", 1), -1);
    assert_int_equal(sr_registry_join(reg, NULL, "a", 1), -1);
    assert_int_equal(sr_registry_join(reg, &m, NULL, 3), -1);
    assert_int_equal(sr_registry_leave(reg, &m, NULL, 3), 1);
    assert_int_equal(sr_registry_leave(NULL, &m, "ab", 2), 1);
    assert_null(sr_registry_find(reg, NULL, 3));
    assert_null(sr_registry_find(NULL, "ab", 2));
    sr_registry_leave_at(reg, NULL, 0);
    sr_registry_leave_all(reg, NULL);
    assert_false(sr_registry_is_member(NULL, r));
    assert_false(sr_registry_is_member(&m, NULL));
    assert_int_equal(sr_registry_room_count(NULL), 0);
    assert_int_equal(sr_registry_room_count(reg), 2);

    sr_registry_leave_all(reg, &m);
    assert_int_equal(sr_registry_room_count(reg), 0);
    assert_int_equal(log.n, 8);
    sr_registry_free(reg);
}

/* Every allocation of a scenario is made to fail in turn: each failing
 * join returns -1 and changes nothing, every other call behaves normally,
 * and nothing leaks (ASan). */
static void test_allocation_failures(void **state) {
    (void)state;
    char name[16];
    long k;
    for (k = 0;; k++) {
        long created = 0, emptied = 0;
        long counts[4] = {0, 0, 0, 0};
        alloc_failures = 0;
        fail_alloc_at(k);
        sr_registry *reg = sr_registry_new(count_event, counts);
        if (!reg) {
            assert_int_equal(alloc_failures, 1);
            continue;
        }
        sr_member m[6];
        memset(m, 0, sizeof m);
        /* Six members in six shared rooms (room arrays grow past 4,
         * memberships go to the heap), and member 0 in 30 more rooms (the
         * table grows past 16 buckets). */
        for (int r = 0; r < 36; r++) {
            int len = snprintf(name, sizeof name, "o%d", r);
            for (int i = 0; i < 6; i++) {
                if (r >= 6 && i > 0) break;
                uint32_t before_rooms = m[i].n_rooms;
                size_t before_count = sr_registry_room_count(reg);
                sr_room *before_room = sr_registry_find(reg, name, (size_t)len);
                uint32_t before_members = before_room ? before_room->n_members : 0;
                int rc = sr_registry_join(reg, &m[i], name, (size_t)len);
                if (rc == -1) {
                    assert_int_equal(m[i].n_rooms, before_rooms);
                    assert_int_equal(sr_registry_room_count(reg), before_count);
                    sr_room *room = sr_registry_find(reg, name, (size_t)len);
                    assert_ptr_equal(room, before_room);
                    if (room) {
                        assert_int_equal(room->n_members, before_members);
                        assert_false(sr_registry_is_member(&m[i], room));
                    }
                    if (m[i].n_rooms == 0) assert_true(member_is_zero(&m[i]));
                    continue;
                }
                assert_int_equal(rc, 0);
                if (!before_room) created++;
            }
        }
        /* Leaves (with shrinking reallocs that may fail harmlessly). */
        for (int r = 0; r < 36; r += 2) {
            int len = snprintf(name, sizeof name, "o%d", r);
            for (int i = 0; i < 6; i++) {
                sr_room *room = sr_registry_find(reg, name, (size_t)len);
                int was = room && sr_registry_is_member(&m[i], room);
                assert_int_equal(sr_registry_leave(reg, &m[i], name, (size_t)len), was ? 0 : 1);
            }
        }
        emptied = counts[1];
        for (int i = 0; i < 6; i++) sr_registry_leave_all(reg, &m[i]);
        assert_int_equal(sr_registry_room_count(reg), 0);
        assert_int_equal(counts[0], created);
        assert_true(counts[1] >= emptied && counts[1] == counts[0]);
        sr_registry_free(reg);
        fail_alloc_never();
        if (alloc_failures == 0) break; /* the scenario made fewer than k allocations */
    }
    assert_true(k > 40); /* many distinct allocation sites were hit */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_leave_order_and_events),
        cmocka_unit_test(test_leave_all_reverse_order),
        cmocka_unit_test(test_inline_heap_and_leave_at),
        cmocka_unit_test(test_room_events_exactly_once),
        cmocka_unit_test(test_member_events),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_table_growth_and_shrink),
        cmocka_unit_test(test_free_with_rooms),
        cmocka_unit_test(test_names_are_bytes),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
