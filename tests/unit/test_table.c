/* SPDX-License-Identifier: MIT */
/*
 * test_table.c: the generic hash table (src/common/table.c): find, insert
 * and remove; growth with every item still found; tombstones reused and a
 * walk that removes as it goes; keys whose hashes all collide; a churning
 * table that stays small and shrinks after mass removal; and a long random sequence
 * of operations checked step by step against a plain array.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/hash.h"
#include "common/table.h"

typedef struct {
    uint32_t key;
    int value;
} item;

static bool item_eq(const void *it, const void *key) {
    return ((const item *)it)->key == *(const uint32_t *)key;
}

static uint64_t good_hash(uint32_t key) {
    return sr_hash(&key, sizeof key);
}

/* live + tombstones within 3/4 of a power-of-two capacity */
static void assert_shape(const sr_table *t) {
    if (!t->cap) return;
    assert_int_equal(t->cap & (t->cap - 1), 0);
    assert_true(t->len + t->tombs <= t->cap / 4 * 3);
    size_t live = 0, tombs = 0;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].item == sr_table_tomb) tombs++;
        else if (t->slots[i].item) live++;
    }
    assert_int_equal(live, t->len);
    assert_int_equal(tombs, t->tombs);
}

static void empty_table_finds_nothing(void **state) {
    (void)state;
    sr_table t;
    sr_table_init(&t);
    uint32_t k = 7;
    assert_null(sr_table_find(&t, good_hash(k), item_eq, &k));
    assert_null(sr_table_remove(&t, good_hash(k), item_eq, &k));
    assert_false(sr_table_remove_item(&t, good_hash(k), &k));
    size_t pos = 0;
    assert_null(sr_table_next(&t, &pos));
    sr_table_free(&t);
}

static void grows_and_finds_every_item(void **state) {
    (void)state;
    enum { N = 20000 };
    item *items = calloc(N, sizeof *items);
    assert_non_null(items);
    sr_table t = {0};
    size_t last_cap = 0;
    int grew = 0;
    for (uint32_t i = 0; i < N; i++) {
        items[i].key = i * 2654435761u;
        items[i].value = (int)i;
        assert_int_equal(sr_table_insert(&t, good_hash(items[i].key), &items[i]), 0);
        if (t.cap != last_cap) {
            grew++;
            last_cap = t.cap;
            assert_shape(&t);
        }
    }
    assert_true(grew > 5);
    assert_int_equal(t.len, N);
    assert_shape(&t);
    for (uint32_t i = 0; i < N; i++) {
        item *it = sr_table_find(&t, good_hash(items[i].key), item_eq, &items[i].key);
        assert_ptr_equal(it, &items[i]);
    }
    uint32_t absent = 1;
    assert_null(sr_table_find(&t, good_hash(absent), item_eq, &absent));
    size_t pos = 0, seen = 0;
    long sum = 0;
    for (item *it; (it = sr_table_next(&t, &pos));) {
        seen++;
        sum += it->value;
    }
    assert_int_equal(seen, N);
    assert_int_equal(sum, (long)N * (N - 1) / 2);
    sr_table_free(&t);
    assert_int_equal(t.cap, 0);
    free(items);
}

/* Every key hashes the same: the probe sequence is one long run, eq tells
 * them apart, and a removal in the middle of the run (a tombstone) does
 * not hide the items after it. */
static void colliding_keys_and_tombstones(void **state) {
    (void)state;
    enum { N = 40 };
    item items[N];
    sr_table t = {0};
    for (uint32_t i = 0; i < N; i++) {
        items[i] = (item){.key = i, .value = (int)i};
        assert_int_equal(sr_table_insert(&t, 42, &items[i]), 0);
    }
    for (uint32_t i = 0; i < N; i += 2) {
        uint32_t k = i;
        assert_ptr_equal(sr_table_remove(&t, 42, item_eq, &k), &items[i]);
        assert_null(sr_table_remove(&t, 42, item_eq, &k));
    }
    assert_int_equal(t.len, N / 2);
    assert_int_equal(t.tombs, N / 2);
    assert_shape(&t);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t k = i;
        assert_ptr_equal(sr_table_find(&t, 42, item_eq, &k), i % 2 ? &items[i] : NULL);
    }
    /* re-inserted items reuse the tombstones of their run */
    size_t cap = t.cap;
    for (uint32_t i = 0; i < N; i += 2) assert_int_equal(sr_table_insert(&t, 42, &items[i]), 0);
    assert_int_equal(t.cap, cap);
    assert_true(t.tombs < N / 2);
    assert_shape(&t);
    /* by address: the item itself, not another one with an equal key */
    item twin = {.key = 3};
    assert_false(sr_table_remove_item(&t, 42, &twin));
    assert_true(sr_table_remove_item(&t, 42, &items[3]));
    assert_null(sr_table_find(&t, 42, item_eq, &twin.key));
    sr_table_free(&t);
}

/* Removing the current item during a walk: every item is still visited
 * exactly once, and the table is empty at the end. */
static void walk_removing_as_it_goes(void **state) {
    (void)state;
    enum { N = 1000 };
    item items[N];
    sr_table t = {0};
    for (uint32_t i = 0; i < N; i++) {
        items[i] = (item){.key = i, .value = 0};
        assert_int_equal(sr_table_insert(&t, good_hash(i) & 0xff, &items[i]), 0);
    }
    size_t pos = 0;
    for (item *it; (it = sr_table_next(&t, &pos));) {
        it->value++;
        assert_true(sr_table_remove_item(&t, good_hash(it->key) & 0xff, it));
    }
    for (uint32_t i = 0; i < N; i++) assert_int_equal(items[i].value, 1);
    assert_int_equal(t.len, 0);
    sr_table_free(&t);
}

/* A table that only churns (a few live items, many distinct keys coming
 * and going) reuses or sheds its tombstones: it stays small, and after
 * mass removal the next rebuild is sized for the items left. */
static void churn_stays_small(void **state) {
    (void)state;
    enum { LIVE = 8, ROUNDS = 100000, BIG = 4096 };
    static item items[BIG];
    sr_table t = {0};
    for (uint32_t i = 0; i < LIVE; i++) {
        items[i].key = i;
        assert_int_equal(sr_table_insert(&t, good_hash(i), &items[i]), 0);
    }
    item extra;
    for (uint32_t r = 0; r < ROUNDS; r++) {
        extra.key = LIVE + r;
        assert_int_equal(sr_table_insert(&t, good_hash(extra.key), &extra), 0);
        assert_true(sr_table_remove_item(&t, good_hash(extra.key), &extra));
        assert_true(t.cap <= 32);
    }
    assert_int_equal(t.len, LIVE);
    assert_shape(&t);
    for (uint32_t i = LIVE; i < BIG; i++) {
        items[i].key = i;
        assert_int_equal(sr_table_insert(&t, good_hash(i), &items[i]), 0);
    }
    size_t big = t.cap;
    for (uint32_t i = LIVE; i < BIG; i++) {
        uint32_t k = i;
        assert_ptr_equal(sr_table_remove(&t, good_hash(k), item_eq, &k), &items[i]);
    }
    for (uint32_t r = 0; t.cap == big; r++) {
        assert_true(r < ROUNDS);
        extra.key = BIG + r;
        assert_int_equal(sr_table_insert(&t, good_hash(extra.key), &extra), 0);
        assert_true(sr_table_remove_item(&t, good_hash(extra.key), &extra));
    }
    assert_true(t.cap <= 32);
    assert_shape(&t);
    for (uint32_t i = 0; i < LIVE; i++) {
        uint32_t k = i;
        assert_ptr_equal(sr_table_find(&t, good_hash(k), item_eq, &k), &items[i]);
    }
    sr_table_free(&t);
}

static void reserve_makes_room_up_front(void **state) {
    (void)state;
    enum { N = 1000 };
    item items[N];
    sr_table t = {0};
    assert_int_equal(sr_table_reserve(&t, N), 0);
    size_t cap = t.cap;
    for (uint32_t i = 0; i < N; i++) {
        items[i].key = i;
        assert_int_equal(sr_table_insert(&t, good_hash(i), &items[i]), 0);
    }
    assert_int_equal(t.cap, cap); /* no rebuild: none of them could fail */
    assert_shape(&t);
    sr_table_free(&t);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* 300000 random finds, inserts, removals (by key and by address) and the
 * odd full walk over 512 possible keys, with a hash that puts them in 64
 * values (long collision runs), each checked against a plain array of
 * which keys are in. */
static void random_operations_match_a_reference(void **state) {
    (void)state;
    enum { KEYS = 512, OPS = 300000 };
    item items[KEYS];
    bool in[KEYS] = {false};
    size_t n_in = 0;
    for (uint32_t k = 0; k < KEYS; k++) items[k] = (item){.key = k, .value = (int)k};
    sr_table t = {0};
    for (int op = 0; op < OPS; op++) {
        uint64_t r = rng();
        uint32_t k = (uint32_t)(r >> 8) % KEYS;
        uint64_t h = good_hash(k) & 63;
        switch (r & 7) {
        case 0:
        case 1:
        case 2:
            if (!in[k]) {
                assert_int_equal(sr_table_insert(&t, h, &items[k]), 0);
                in[k] = true;
                n_in++;
            }
            break;
        case 3:
        case 4:
            assert_ptr_equal(sr_table_remove(&t, h, item_eq, &k), in[k] ? &items[k] : NULL);
            if (in[k]) n_in--;
            in[k] = false;
            break;
        case 5:
            assert_int_equal(sr_table_remove_item(&t, h, &items[k]), in[k]);
            if (in[k]) n_in--;
            in[k] = false;
            break;
        case 6:
            assert_ptr_equal(sr_table_find(&t, h, item_eq, &k), in[k] ? &items[k] : NULL);
            break;
        default:
            if (op % 97 == 0) {
                size_t pos = 0, seen = 0;
                for (item *it; (it = sr_table_next(&t, &pos));) {
                    assert_true(in[it->key]);
                    seen++;
                }
                assert_int_equal(seen, n_in);
                assert_shape(&t);
            }
            break;
        }
        assert_int_equal(t.len, n_in);
    }
    assert_shape(&t);
    sr_table_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_table_finds_nothing),
        cmocka_unit_test(grows_and_finds_every_item),
        cmocka_unit_test(colliding_keys_and_tombstones),
        cmocka_unit_test(walk_removing_as_it_goes),
        cmocka_unit_test(churn_stays_small),
        cmocka_unit_test(reserve_makes_room_up_front),
        cmocka_unit_test(random_operations_match_a_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
