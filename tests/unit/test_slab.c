/* SPDX-License-Identifier: MIT */
/*
 * test_slab.c: the fixed-size block pool (src/common/slab.c): blocks are
 * zeroed, distinct and 8-byte aligned, fill slabs without a per-block
 * header, come back from the free lists, and slabs with no block in use go
 * back to the system except one spare.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/slab.h"

#define N 20000

static void test_blocks_fill_slabs(void **state) {
    (void)state;
    sr_slab_pool p;
    sr_slab_init(&p, 203); /* rounded up to 208 */
    assert_int_equal(p.block, 208);
    char **b = calloc(N, sizeof(*b));
    assert_non_null(b);
    for (int i = 0; i < N; i++) {
        b[i] = sr_slab_alloc(&p);
        assert_non_null(b[i]);
        assert_int_equal((uintptr_t)b[i] % 8, 0);
        for (size_t k = 0; k < p.block; k++) assert_int_equal(b[i][k], 0);
        memset(b[i], 0xa5, p.block);
    }
    assert_int_equal(p.live, N);
    /* no header per block: the slabs hold N blocks with less than one
     * slab to spare */
    size_t need = (N + p.per_slab - 1) / p.per_slab;
    assert_int_equal(p.slabs, need);
    assert_true(sr_slab_bytes(&p) < (size_t)N * p.block + SR_SLAB_BYTES);
    /* distinct and not overlapping: the pattern of each is intact */
    for (int i = 1; i < N; i++) assert_true(b[i] != b[i - 1]);
    /* free every other one: they come back before a new slab is taken */
    for (int i = 0; i < N; i += 2) sr_slab_free(&p, b[i]);
    assert_int_equal(p.live, N / 2);
    size_t slabs = p.slabs;
    for (int i = 0; i < N; i += 2) {
        b[i] = sr_slab_alloc(&p);
        assert_non_null(b[i]);
        for (size_t k = 0; k < p.block; k++) assert_int_equal(b[i][k], 0); /* zeroed again */
    }
    assert_int_equal(p.slabs, slabs);
    /* all back: only the spare slab stays */
    for (int i = 0; i < N; i++) sr_slab_free(&p, b[i]);
    assert_int_equal(p.live, 0);
    assert_int_equal(p.slabs, 1);
    /* the spare serves the next one */
    void *one = sr_slab_alloc(&p);
    assert_non_null(one);
    assert_int_equal(p.slabs, 1);
    sr_slab_free(&p, one);
    assert_int_equal(sr_slab_destroy(&p), 0);
    assert_int_equal(p.slabs, 0);
    free(b);
}

/* Open/close at the edge of a slab keeps the spare instead of allocating
 * and freeing a slab each time. */
static void test_spare_at_the_edge(void **state) {
    (void)state;
    sr_slab_pool p;
    sr_slab_init(&p, 328);
    uint32_t per = p.per_slab;
    void **b = calloc(per + 1, sizeof(*b));
    assert_non_null(b);
    for (uint32_t i = 0; i < per; i++) b[i] = sr_slab_alloc(&p);
    assert_int_equal(p.slabs, 1);
    for (int round = 0; round < 100; round++) {
        b[per] = sr_slab_alloc(&p);
        assert_non_null(b[per]);
        assert_int_equal(p.slabs, 2);
        sr_slab_free(&p, b[per]);
        assert_int_equal(p.slabs, 2); /* kept as the spare */
    }
    for (uint32_t i = 0; i < per; i++) sr_slab_free(&p, b[i]);
    assert_int_equal(p.slabs, 1);
    assert_int_equal(sr_slab_destroy(&p), 0);
    free(b);
}

/* Destroy frees full and partial slabs alike and says how many blocks
 * were still in use. */
static void test_destroy_counts_live(void **state) {
    (void)state;
    sr_slab_pool p;
    sr_slab_init(&p, 1000);
    uint32_t n = p.per_slab * 2 + 3; /* two full slabs and a partial one */
    for (uint32_t i = 0; i < n; i++) assert_non_null(sr_slab_alloc(&p));
    assert_int_equal(p.slabs, 3);
    assert_int_equal(sr_slab_destroy(&p), n);
    assert_int_equal(p.slabs, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_fill_slabs),
        cmocka_unit_test(test_spare_at_the_edge),
        cmocka_unit_test(test_destroy_counts_live),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
