/* SPDX-License-Identifier: MIT */
/*
 * test_hash.c: SipHash-1-3 known answers, the seeded sr_hash, and
 * sr_random_bytes.
 *
 * Known answers: the 64-bit SipHash-1-3 outputs for messages 00, 00 01,
 * ..., 00..3e (lengths 0..63) under key 00 01 .. 0f, as published with the
 * reference-implementation vectors in the Swift standard library's
 * SipHash tests, and under the all-zero key, as published in OCaml's
 * SipHash-1-3 tests (whose empty-message value is also Rust's
 * DefaultHasher::new() output for no input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "common/hash.h"

static const uint64_t siphash13_key_00_0f[64] = {
    0xabac0158050fc4dcULL, 0xc9f49bf37d57ca93ULL, 0x82cb9b024dc7d44dULL, 0x8bf80ab8e7ddf7fbULL,
    0xcf75576088d38328ULL, 0xdef9d52f49533b67ULL, 0xc50d2b50c59f22a7ULL, 0xd3927d989bb11140ULL,
    0x369095118d299a8eULL, 0x25a48eb36c063de4ULL, 0x79de85ee92ff097fULL, 0x70c118c1f94dc352ULL,
    0x78a384b157b4d9a2ULL, 0x306f760c1229ffa7ULL, 0x605aa111c0f95d34ULL, 0xd320d86d2a519956ULL,
    0xcc4fdd1a7d908b66ULL, 0x9cf2689063dbd80cULL, 0x8ffc389cb473e63eULL, 0xf21f9de58d297d1cULL,
    0xc0dc2f46a6cce040ULL, 0xb992abfe2b45f844ULL, 0x7ffe7b9ba320872eULL, 0x525a0e7fdae6c123ULL,
    0xf464aeb267349c8cULL, 0x45cd5928705b0979ULL, 0x3a3e35e3ca9913a5ULL, 0xa91dc74e4ade3b35ULL,
    0xfb0bed02ef6cd00dULL, 0x88d93cb44ab1e1f4ULL, 0x540f11d643c5e663ULL, 0x2370dd1f8c21d1bcULL,
    0x81157b6c16a7b60dULL, 0x4d54b9e57a8ff9bfULL, 0x759f12781f2a753eULL, 0xcea1a3bebf186b91ULL,
    0x2cf508d3ada26206ULL, 0xb6101c2da3c33057ULL, 0xb3f47496ae3a36a1ULL, 0x626b57547b108392ULL,
    0xc1d2363299e41531ULL, 0x667cc1923f1ad944ULL, 0x65704ffec8138825ULL, 0x24f280d1c28949a6ULL,
    0xc2ca1cedfaf8876bULL, 0xc2164bfc9f042196ULL, 0xa16e9c9368b1d623ULL, 0x49fb169c8b5114fdULL,
    0x9f3143f8df074c46ULL, 0xc6fdaf2412cc86b3ULL, 0x7eaf49d10a52098fULL, 0x1cf313559d292f9aULL,
    0xc44a30dda2f41f12ULL, 0x36fae98943a71ed0ULL, 0x318fb34c73f0bce6ULL, 0xa27abf3670a7e980ULL,
    0xb4bcc0db243c6d75ULL, 0x23f8d852fdb71513ULL, 0x8f035f4da67d8a08ULL, 0xd89cd0e5b7e8f148ULL,
    0xf6f4e6bcf7a644eeULL, 0xaec59ad80f1837f2ULL, 0xc3b2f6154b6694e0ULL, 0x9d199062b7bbb3a8ULL,
};

static const uint64_t siphash13_key_zero[64] = {
    0xd1fba762150c532cULL, 0x68a914128e01e473ULL, 0x010bac45c41e3669ULL, 0x4d4c9a4a8ef6e0adULL,
    0x7cc43f98813e4dbdULL, 0x5abe2169dff36275ULL, 0xe3c25f87624f1cdbULL, 0x2f098ab0c751325aULL,
    0xead411e67ebe2eeaULL, 0x75927f9d95124362ULL, 0xaf9f77a65ab51a1dULL, 0xfe64ce8b6617fcffULL,
    0xa6baf4fb0f9fe1c2ULL, 0xa0cf3211850f8e0dULL, 0x7f86049379fbfe67ULL, 0xf30eb725bb91c9eaULL,
    0x8972188433a5c5b7ULL, 0x4883c49a2c009c1dULL, 0xadc2c0b63044067dULL, 0x091f4a3329f87d19ULL,
    0x639e355ae68c0100ULL, 0xb17bef2cb5213239ULL, 0xf8aeb1066236ccfeULL, 0x37332b1389daa4ffULL,
    0x31185a47af932f3aULL, 0xebf352e82ae23e2fULL, 0xed36ff242fe478b2ULL, 0x2454d97d299299dfULL,
    0x8cd57fe8130d0ac7ULL, 0xbe98eb2faf0a0e85ULL, 0xd427c34ee09470c6ULL, 0x169739443111d49bULL,
    0x31ef8061c910629bULL, 0x7fb71d24dfa4c9f6ULL, 0x92771f49e836d389ULL, 0x3c393cf6f0853bc3ULL,
    0xac77921fcc642bd3ULL, 0x422a9751192ff266ULL, 0xc680ae8a8c584ddfULL, 0x6c76b6d34bb6d26bULL,
    0x95bc321ab41d8206ULL, 0x908a3a97a6d37669ULL, 0xfcaf3c64874dd0b4ULL, 0xf689479b32b84a44ULL,
    0xd857641079efd1fdULL, 0x8b581578722633f7ULL, 0x83cb09d35ea7bcd4ULL, 0x8485f7f5ae725a0dULL,
    0xfe1f2445ba50237fULL, 0x23cece041d7866b0ULL, 0x416687480b336c09ULL, 0xf15960da7e7f3892ULL,
    0xded6177b9826835aULL, 0xf80dae51668be6beULL, 0x17ecc6ee6647df18ULL, 0x5220d642b4a52110ULL,
    0xa4f0cf4ba4adc016ULL, 0xe5125bb26d1f2976ULL, 0x851b0e75f580d256ULL, 0x12605250a37e39acULL,
    0xd95a713568daebf1ULL, 0xcdcf4a42ec0dd605ULL, 0xa5c708712b617164ULL, 0x385d3e39e5f37359ULL,
};

#define N_THREADS 4

static void *hash_in_thread(void *arg) {
    uint64_t *out = arg;
    *out = sr_hash("first use from many threads", 27);
    return NULL;
}

/* Must run first: the first sr_hash calls of the process race to seed the
 * key; pthread_once must make them all agree. */
static void test_seed_once_across_threads(void **state) {
    (void)state;
    pthread_t threads[N_THREADS];
    uint64_t results[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, hash_in_thread, &results[i]), 0);
    for (int i = 0; i < N_THREADS; i++) assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (int i = 1; i < N_THREADS; i++) assert_true(results[i] == results[0]);
    assert_true(sr_hash("first use from many threads", 27) == results[0]);
}

static void test_known_answers_key_00_0f(void **state) {
    (void)state;
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++) key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++) msg[i] = (uint8_t)i;
    for (size_t len = 0; len < 64; len++) {
        uint64_t h = sr_siphash13(msg, len, key);
        if (h != siphash13_key_00_0f[len])
            fail_msg("len %zu: got %016llx want %016llx", len, (unsigned long long)h,
                     (unsigned long long)siphash13_key_00_0f[len]);
    }
}

static void test_known_answers_key_zero(void **state) {
    (void)state;
    const uint8_t key[16] = {0};
    uint8_t msg[64];
    for (int i = 0; i < 64; i++) msg[i] = (uint8_t)i;
    for (size_t len = 0; len < 64; len++) {
        uint64_t h = sr_siphash13(msg, len, key);
        if (h != siphash13_key_zero[len])
            fail_msg("len %zu: got %016llx want %016llx", len, (unsigned long long)h,
                     (unsigned long long)siphash13_key_zero[len]);
    }
    /* (NULL, 0) is the empty message. */
    assert_true(sr_siphash13(NULL, 0, key) == siphash13_key_zero[0]);
}

/* The input may sit at any alignment; the key too. */
static void test_unaligned_input(void **state) {
    (void)state;
    uint8_t keybuf[17], buf[64 + 8];
    for (int i = 0; i < 16; i++) keybuf[1 + i] = (uint8_t)i;
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; len < 64; len++) {
            for (size_t i = 0; i < len; i++) buf[off + i] = (uint8_t)i;
            assert_true(sr_siphash13(buf + off, len, keybuf + 1) == siphash13_key_00_0f[len]);
        }
    }
}

/* sr_hash is a function of its input in one process, and its key is
 * neither of the two well-known test keys. */
static void test_seeded_hash(void **state) {
    (void)state;
    const uint8_t zero[16] = {0};
    uint8_t seq[16];
    for (int i = 0; i < 16; i++) seq[i] = (uint8_t)i;
    const char *names[] = {
        "", "a", "b", "room", "room-1", "room-2", "a-rather-longer-room-name:42"};
    const size_t n = sizeof names / sizeof names[0];
    uint64_t h[sizeof names / sizeof names[0]];
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        h[i] = sr_hash(names[i], len);
        assert_true(h[i] == sr_hash(names[i], len));
        assert_true(h[i] != sr_siphash13(names[i], len, zero));
        assert_true(h[i] != sr_siphash13(names[i], len, seq));
        for (size_t j = 0; j < i; j++) assert_true(h[i] != h[j]);
    }
    /* Only the bytes count, not the pointer. */
    char copy[8];
    memcpy(copy, "room-1", 6);
    assert_true(sr_hash(copy, 6) == h[4]);
    /* Distinguishes a prefix and the same bytes with a trailing NUL. */
    assert_true(sr_hash("room-1", 7) != h[4]);
    assert_true(sr_hash("room-", 5) != h[4]);
}

/* The low bits (the bucket index) of the hashes of sequential names are
 * spread evenly: 16384 names into 256 buckets, no bucket near empty or
 * overfull (expected 64 each; the bounds are > 6 standard deviations). */
static void test_bucket_spread(void **state) {
    (void)state;
    unsigned counts[256] = {0};
    char name[32];
    for (int i = 0; i < 16384; i++) {
        int len = snprintf(name, sizeof name, "room-%d", i);
        counts[sr_hash(name, (size_t)len) & 255]++;
    }
    for (int b = 0; b < 256; b++) {
        assert_true(counts[b] > 16);
        assert_true(counts[b] < 120);
    }
}

static void test_random_bytes(void **state) {
    (void)state;
    uint8_t a[32], b[32];
    const uint8_t zero[32] = {0};
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    assert_int_equal(sr_random_bytes(a, sizeof a), 0);
    assert_int_equal(sr_random_bytes(b, sizeof b), 0);
    assert_memory_not_equal(a, zero, sizeof a);
    assert_memory_not_equal(a, b, sizeof a);

    assert_int_equal(sr_random_bytes(NULL, 0), 0);
    assert_int_equal(sr_random_bytes(a, 0), 0);
    assert_int_equal(sr_random_bytes(NULL, 1), -1);

    /* A large request is filled completely: with 1 MiB of random bytes,
     * every byte value appears (the chance of any missing is ~1e-1700),
     * and the last 4 KiB are not left untouched. */
    size_t big = 1u << 20;
    uint8_t *buf = calloc(1, big);
    assert_non_null(buf);
    assert_int_equal(sr_random_bytes(buf, big), 0);
    unsigned seen[256] = {0};
    for (size_t i = 0; i < big; i++) seen[buf[i]]++;
    for (int v = 0; v < 256; v++) assert_true(seen[v] > 0);
    size_t zeros = 0;
    for (size_t i = big - 4096; i < big; i++) zeros += buf[i] == 0;
    assert_true(zeros < 100);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_once_across_threads),
        cmocka_unit_test(test_known_answers_key_00_0f),
        cmocka_unit_test(test_known_answers_key_zero),
        cmocka_unit_test(test_unaligned_input),
        cmocka_unit_test(test_seeded_hash),
        cmocka_unit_test(test_bucket_spread),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
