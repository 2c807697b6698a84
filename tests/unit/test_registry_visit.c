/* SPDX-License-Identifier: MIT */
/*
 * test_registry_visit.c: sr_registry_visit, the de-duplicating walk over
 * the members of several rooms that a broadcast delivers through: a member
 * in several target rooms is visited once, NULL and repeated rooms are
 * harmless, excluded members (even thousands, repeated, in several rooms)
 * are never visited nor counted nor left marked, and stamps carry over
 * between visits of one delivery; and sr_registry_visit_range, one room's
 * visit in slices (batch.c's sweep).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rooms/registry.h"

static int join(sr_registry *reg, sr_member *m, const char *name) {
    return sr_registry_join(reg, m, name, strlen(name));
}

static sr_room *find(sr_registry *reg, const char *name) {
    return sr_registry_find(reg, name, strlen(name));
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint32_t rng(uint32_t bound) {
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)(((rng_state * 0x2545f4914f6cdd1dULL) >> 32) % bound);
}

typedef struct visit_log {
    size_t n;
    size_t cap;
    sr_member **seen;
} visit_log;

static void record_visit(void *ud, sr_member *m) {
    visit_log *vl = ud;
    assert_true(vl->n < vl->cap);
    vl->seen[vl->n++] = m;
}

static void test_visit_dedup_nulls_duplicates(void **state) {
    (void)state;
    sr_registry *reg = sr_registry_new(NULL, NULL);
    assert_non_null(reg);
    sr_member m[5] = {{0}};
    /* m0 in x, y, z; m1 in x; m2 in y, z; m3 in w (not targeted); m4 in z. */
    assert_int_equal(join(reg, &m[0], "x"), 0);
    assert_int_equal(join(reg, &m[0], "y"), 0);
    assert_int_equal(join(reg, &m[0], "z"), 0);
    assert_int_equal(join(reg, &m[1], "x"), 0);
    assert_int_equal(join(reg, &m[2], "y"), 0);
    assert_int_equal(join(reg, &m[2], "z"), 0);
    assert_int_equal(join(reg, &m[3], "w"), 0);
    assert_int_equal(join(reg, &m[4], "z"), 0);
    sr_room *x = find(reg, "x"), *y = find(reg, "y"), *z = find(reg, "z");

    sr_member *seen[16];
    visit_log vl = {0, 16, seen};
    sr_room *targets[] = {x, NULL, y, x, z, NULL, z, y};
    uint64_t s1 = sr_registry_new_stamp(reg);
    assert_true(s1 != 0);
    size_t n = sr_registry_visit(targets, 8, NULL, 0, s1, record_visit, &vl);
    assert_int_equal(n, 4);
    assert_int_equal(vl.n, 4);
    /* Order: x's members, then y's new ones, then z's new ones. */
    assert_ptr_equal(seen[0], &m[0]);
    assert_ptr_equal(seen[1], &m[1]);
    assert_ptr_equal(seen[2], &m[2]);
    assert_ptr_equal(seen[3], &m[4]);
    for (int i = 0; i < 5; i++) assert_int_equal(m[i].stamp == s1, i != 3);

    /* Same stamp again: everyone was reached already. */
    vl.n = 0;
    assert_int_equal(sr_registry_visit(targets, 8, NULL, 0, s1, record_visit, &vl), 0);
    assert_int_equal(vl.n, 0);

    /* A fresh stamp reaches them again; fn may be NULL; no rooms at all. */
    uint64_t s2 = sr_registry_new_stamp(reg);
    assert_true(s2 != s1 && s2 != 0);
    assert_int_equal(sr_registry_visit(targets, 8, NULL, 0, s2, NULL, NULL), 4);
    uint64_t s3 = sr_registry_new_stamp(reg);
    assert_int_equal(sr_registry_visit(NULL, 0, NULL, 0, s3, record_visit, &vl), 0);
    sr_room *only_nulls[] = {NULL, NULL};
    assert_int_equal(sr_registry_visit(only_nulls, 2, NULL, 0, s3, record_visit, &vl), 0);
    /* Stamp 0 is never issued and is refused (zeroed members carry it). */
    assert_int_equal(sr_registry_visit(targets, 8, NULL, 0, 0, record_visit, &vl), 0);
    assert_int_equal(vl.n, 0);

    /* Exclusion: m0 is in three targets and still never visited. */
    uint64_t s4 = sr_registry_new_stamp(reg);
    sr_member *except[] = {&m[0], NULL, &m[0], &m[3]};
    vl.n = 0;
    assert_int_equal(sr_registry_visit(targets, 8, except, 4, s4, record_visit, &vl), 3);
    for (size_t i = 0; i < vl.n; i++) assert_ptr_not_equal(seen[i], &m[0]);
    assert_true(m[0].stamp != s4); /* left unmarked */
    /* ... so a later visit of the same delivery without exclusion gets it. */
    vl.n = 0;
    assert_int_equal(sr_registry_visit(targets, 8, NULL, 0, s4, record_visit, &vl), 1);
    assert_ptr_equal(seen[0], &m[0]);

    for (int i = 0; i < 5; i++) sr_registry_leave_all(reg, &m[i]);
    assert_int_equal(sr_registry_room_count(reg), 0);
    sr_registry_free(reg);
}

/* A long except list (thousands, with duplicates, NULLs, and members in
 * none of the target rooms) over members in several target rooms. */
static void test_visit_long_except_list(void **state) {
    (void)state;
    enum { N = 6000, N_EXCEPT = 2500 };
    sr_registry *reg = sr_registry_new(NULL, NULL);
    assert_non_null(reg);
    sr_member *ms = calloc(N, sizeof *ms);
    unsigned char *excluded = calloc(N, 1);
    unsigned char *targeted = calloc(N, 1);
    unsigned *hits = calloc(N, sizeof *hits);
    sr_member **except = calloc(N_EXCEPT, sizeof *except);
    sr_member **seen = calloc(N, sizeof *seen);
    assert_true(ms && excluded && targeted && hits && except && seen);
    const char *names[] = {"t0", "t1", "t2", "other"};
    for (int i = 0; i < N; i++) {
        /* Bits 0..2: target rooms; bit 3: a room outside the targets. */
        unsigned mask = (unsigned)(i * 2654435761u >> 7) & 15;
        if (mask == 0) mask = 8;
        for (int r = 0; r < 4; r++)
            if (mask & (1u << r)) assert_int_equal(join(reg, &ms[i], names[r]), 0);
        targeted[i] = (mask & 7) != 0;
    }
    for (int k = 0; k < N_EXCEPT; k++) {
        if (k % 97 == 0) {
            except[k] = NULL;
            continue;
        }
        int i = (int)rng(N); /* duplicates happen */
        except[k] = &ms[i];
        excluded[i] = 1;
    }
    sr_room *targets[] = {find(reg, "t0"), find(reg, "t1"), find(reg, "t2"), find(reg, "t1")};
    size_t expect = 0, expect_excluded_targets = 0;
    for (int i = 0; i < N; i++) {
        expect += targeted[i] && !excluded[i];
        expect_excluded_targets += targeted[i] && excluded[i];
    }
    assert_true(expect > 1000 && expect_excluded_targets > 1000);

    visit_log vl = {0, N, seen};
    uint64_t stamp = sr_registry_new_stamp(reg);
    size_t n = sr_registry_visit(targets, 4, except, N_EXCEPT, stamp, record_visit, &vl);
    assert_int_equal(n, expect);
    assert_int_equal(vl.n, expect);
    for (size_t k = 0; k < vl.n; k++) hits[seen[k] - ms]++;
    for (int i = 0; i < N; i++) {
        assert_int_equal(hits[i], targeted[i] && !excluded[i] ? 1 : 0);
        assert_int_equal(ms[i].stamp == stamp, targeted[i] && !excluded[i]);
    }

    /* The same delivery continued without exclusion reaches exactly the
     * excluded targeted members; excluded members reached earlier by this
     * delivery keep their stamp when excluded again. */
    vl.n = 0;
    n = sr_registry_visit(targets, 4, NULL, 0, stamp, record_visit, &vl);
    assert_int_equal(n, expect_excluded_targets);
    for (size_t k = 0; k < vl.n; k++) assert_true(excluded[seen[k] - ms]);
    sr_member *again[] = {&ms[0], &ms[1], &ms[2]};
    assert_int_equal(sr_registry_visit(targets, 4, again, 3, stamp, record_visit, &vl), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(ms[i].stamp == stamp, targeted[i]);

    for (int i = 0; i < N; i++) sr_registry_leave_all(reg, &ms[i]);
    assert_int_equal(sr_registry_room_count(reg), 0);
    sr_registry_free(reg);
    free(ms);
    free(excluded);
    free(targeted);
    free(hits);
    free(except);
    free(seen);
}

/* sr_registry_visit_range: slices of one room's visit add up to the whole
 * visit in member order, each member once; a bound of 0 visits the rest;
 * a member already carrying the stamp is skipped but passed over; the
 * cursor never passes the member count. */
static void test_visit_range_slices(void **state) {
    (void)state;
    sr_registry *reg = sr_registry_new(NULL, NULL);
    assert_non_null(reg);
    enum { N = 10 };
    sr_member m[N];
    memset(m, 0, sizeof m);
    for (int i = 0; i < N; i++) assert_int_equal(join(reg, &m[i], "r"), 0);
    sr_room *r = find(reg, "r");
    sr_member *seen[N];
    visit_log vl = {0, N, seen};
    uint64_t st = sr_registry_new_stamp(reg);
    m[5].stamp = st; /* reached earlier by the same delivery */
    uint32_t next = 0;
    assert_int_equal(sr_registry_visit_range(r, &next, 3, st, record_visit, &vl), 3);
    assert_int_equal(next, 3);
    assert_int_equal(sr_registry_visit_range(r, &next, 3, st, record_visit, &vl),
                     2); /* m5 skipped */
    assert_int_equal(next, 6);
    assert_int_equal(sr_registry_visit_range(r, &next, 0, st, record_visit, &vl), 4);
    assert_int_equal(next, N);
    assert_int_equal(sr_registry_visit_range(r, &next, 3, st, record_visit, &vl), 0);
    assert_int_equal(next, N);
    assert_int_equal(vl.n, N - 1);
    for (size_t i = 0, k = 0; i < N; i++) {
        if (i == 5) continue;
        assert_ptr_equal(seen[k++], &m[i]);
    }
    for (int i = 0; i < N; i++) assert_true(m[i].stamp == st);
    /* a stamp of 0 or a NULL room visits nothing */
    next = 0;
    assert_int_equal(sr_registry_visit_range(r, &next, 0, 0, record_visit, &vl), 0);
    assert_int_equal(sr_registry_visit_range(NULL, &next, 0, st, record_visit, &vl), 0);
    assert_int_equal(next, 0);
    sr_registry_free(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_visit_dedup_nulls_duplicates),
        cmocka_unit_test(test_visit_long_except_list),
        cmocka_unit_test(test_visit_range_slices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
