/* SPDX-License-Identifier: MIT */
/*
 * fuzz_util.h: small helpers shared by the libFuzzer targets (header-only).
 *
 * FUZZ_CHECK turns a broken invariant into an abort with a message, which
 * libFuzzer reports as a crash and saves the input for. fuzz_rng is a tiny
 * deterministic generator seeded from input bytes, so that choices such as
 * where to split a stream are part of the input and replay exactly.
 * fuzz_bytes is a growable byte string for transcripts that two runs over
 * the same input compare.
 */
#ifndef SR_FUZZ_UTIL_H
#define SR_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* xorshift32; a zero seed is replaced so the sequence never sticks at 0. */
typedef struct fuzz_rng {
    uint32_t s;
} fuzz_rng;

static inline void fuzz_rng_seed(fuzz_rng *r, const uint8_t *b, size_t n) {
    uint32_t s = 0x9e3779b9u;
    for (size_t i = 0; i < n; i++) s = (s ^ b[i]) * 0x01000193u;
    r->s = s ? s : 1;
}

static inline uint32_t fuzz_rng_next(fuzz_rng *r) {
    uint32_t x = r->s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    r->s = x;
    return x;
}

/* A value in [1, max]. */
static inline size_t fuzz_rng_upto(fuzz_rng *r, size_t max) {
    return max <= 1 ? 1 : 1 + fuzz_rng_next(r) % max;
}

typedef struct fuzz_bytes {
    char *p;
    size_t len, cap;
} fuzz_bytes;

static inline void fuzz_bytes_put(fuzz_bytes *b, const void *data, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        char *p = realloc(b->p, cap);
        FUZZ_CHECK(p != NULL, "out of memory");
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

/* A length-prefixed field, so that concatenations cannot collide. */
static inline void fuzz_bytes_field(fuzz_bytes *b, const void *data, size_t n) {
    uint64_t len = n;
    fuzz_bytes_put(b, &len, sizeof len);
    fuzz_bytes_put(b, data, n);
}

static inline void fuzz_bytes_int(fuzz_bytes *b, long long v) {
    fuzz_bytes_put(b, &v, sizeof v);
}

static inline void fuzz_bytes_free(fuzz_bytes *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Whether the memory [p, p+n) lies inside [base, base+size). */
static inline int fuzz_within(const void *p, size_t n, const void *base, size_t size) {
    const char *c = p, *b = base;
    return c >= b && n <= size && (size_t)(c - b) <= size - n;
}

#endif
