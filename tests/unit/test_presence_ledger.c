/* SPDX-License-Identifier: MIT */
/*
 * test_presence_ledger.c: the presence ledger (src/redis/presence_ledger.c),
 * the pure part that coalesces joins and leaves: a room's count and its users'
 * counts, each room and user dirty at most once however often it changes
 * before a write, everything marked again for a re-assert, and the entries
 * that reached zero forgotten once written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "redis/presence.h"

static int set(sr_pledger *l, const char *room, uint32_t count, const char *user, int delta) {
    return sr_pledger_set(l, room, strlen(room), count, user, user ? strlen(user) : 0, delta);
}

static uint32_t count_of(const sr_pledger *l, const char *room) {
    const sr_pledger_entry *e = sr_pledger_find(l, room, strlen(room));
    return e ? e->count : UINT32_MAX;
}

static uint32_t user_count(const sr_pledger *l, const char *room, const char *user) {
    const sr_pledger_entry *e = sr_pledger_find(l, room, strlen(room));
    if (!e || !e->users) return UINT32_MAX;
    const sr_pledger_entry *u = sr_pledger_find(e->users, user, strlen(user));
    return u ? u->count : UINT32_MAX;
}

/* 10,000 changes to 3 rooms make 3 dirty entries: one write each. */
static void test_coalesces(void **state) {
    (void)state;
    sr_pledger l;
    sr_pledger_init(&l);
    const char *rooms[] = {"a", "b", "c"};
    for (uint32_t i = 0; i < 10000; i++) assert_int_equal(set(&l, rooms[i % 3], i, NULL, 0), 0);
    sr_pledger_entry **d;
    size_t n = sr_pledger_take_dirty(&l, &d);
    assert_int_equal(n, 3);
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        assert_false(d[i]->dirty);
        sum += d[i]->count;
    }
    assert_int_equal(sum, 9999 + 9998 + 9997); /* the last count of each */
    assert_int_equal(sr_pledger_take_dirty(&l, &d), 0);
    assert_int_equal(set(&l, "b", 7, NULL, 0), 0);
    assert_int_equal(sr_pledger_take_dirty(&l, &d), 1);
    assert_string_equal(d[0]->name, "b");
    sr_pledger_free(&l);
}

/* Users: +1/-1 per stream, dirty once, never below zero. */
static void test_users(void **state) {
    (void)state;
    sr_pledger l;
    sr_pledger_init(&l);
    assert_int_equal(set(&l, "chat", 1, "alice", 1), 0);
    assert_int_equal(set(&l, "chat", 2, "alice", 1), 0);
    assert_int_equal(set(&l, "chat", 3, "bob", 1), 0);
    assert_int_equal(set(&l, "chat", 2, "alice", -1), 0);
    assert_int_equal(set(&l, "chat", 3, NULL, 1), 0); /* anonymous: room only */
    assert_int_equal(count_of(&l, "chat"), 3);
    assert_int_equal(user_count(&l, "chat", "alice"), 1);
    assert_int_equal(user_count(&l, "chat", "bob"), 1);
    sr_pledger_entry *room = sr_pledger_find(&l, "chat", 4);
    sr_pledger_entry **d;
    assert_int_equal(sr_pledger_take_dirty(room->users, &d), 2);
    assert_int_equal(set(&l, "chat", 2, "bob", -1), 0);
    assert_int_equal(set(&l, "chat", 2, "bob", -1), 0); /* one too many */
    assert_int_equal(user_count(&l, "chat", "bob"), 0);
    assert_int_equal(sr_pledger_take_dirty(room->users, &d), 1);
    sr_pledger_free(&l);
}

/* A re-assert marks every room and every user; nothing twice. */
static void test_mark_all(void **state) {
    (void)state;
    sr_pledger l;
    sr_pledger_init(&l);
    assert_int_equal(set(&l, "x", 1, "u1", 1), 0);
    assert_int_equal(set(&l, "y", 2, "u2", 1), 0);
    assert_int_equal(set(&l, "y", 2, "u3", 1), 0);
    sr_pledger_entry **d;
    sr_pledger_take_dirty(&l, &d);
    assert_int_equal(set(&l, "x", 1, NULL, 0), 0); /* x dirty again already */
    assert_int_equal(sr_pledger_mark_all(&l), 0);
    assert_int_equal(sr_pledger_take_dirty(&l, &d), 2);
    sr_pledger_entry *y = sr_pledger_find(&l, "y", 1);
    assert_int_equal(sr_pledger_take_dirty(y->users, &d), 2);
    sr_pledger_free(&l);
}

/* Zero counts are forgotten once written (not while still dirty). */
static void test_prune(void **state) {
    (void)state;
    sr_pledger l;
    sr_pledger_init(&l);
    assert_int_equal(set(&l, "gone", 1, "u", 1), 0);
    assert_int_equal(set(&l, "kept", 1, NULL, 0), 0);
    assert_int_equal(set(&l, "gone", 0, "u", -1), 0);
    sr_pledger_prune(&l);
    assert_non_null(sr_pledger_find(&l, "gone", 4)); /* its 0 is not written yet */
    sr_pledger_entry **d;
    sr_pledger_take_dirty(&l, &d);
    sr_pledger_entry *gone = sr_pledger_find(&l, "gone", 4);
    sr_pledger_take_dirty(gone->users, &d);
    sr_pledger_prune(&l);
    assert_null(sr_pledger_find(&l, "gone", 4));
    assert_non_null(sr_pledger_find(&l, "kept", 4));
    assert_int_equal(l.entries.len, 1);
    sr_pledger_free(&l);
}

/* Many rooms: the table grows and finds every one. */
static void test_many_rooms(void **state) {
    (void)state;
    sr_pledger l;
    sr_pledger_init(&l);
    char name[32];
    for (uint32_t i = 0; i < 20000; i++) {
        snprintf(name, sizeof name, "room-%u", i);
        assert_int_equal(set(&l, name, i + 1, NULL, 0), 0);
    }
    for (uint32_t i = 0; i < 20000; i += 7) {
        snprintf(name, sizeof name, "room-%u", i);
        assert_int_equal(count_of(&l, name), i + 1);
    }
    assert_int_equal(count_of(&l, "room-20000"), UINT32_MAX);
    sr_pledger_entry **d;
    assert_int_equal(sr_pledger_take_dirty(&l, &d), 20000);
    sr_pledger_free(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coalesces),  cmocka_unit_test(test_users),
        cmocka_unit_test(test_mark_all),   cmocka_unit_test(test_prune),
        cmocka_unit_test(test_many_rooms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
