/* SPDX-License-Identifier: MIT */
/*
 * hist.c: the log-linear histogram of hist.h.
 */
#include "hist.h"

#include <string.h>

void hist_reset(hist *h) {
    memset(h, 0, sizeof(*h));
}

unsigned hist_bucket_of(uint64_t v) {
    if (v < HIST_LINEAR) return (unsigned)v;
    if (v >> (HIST_MAX_EXP + 1)) v = (UINT64_C(1) << (HIST_MAX_EXP + 1)) - 1;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 7 .. HIST_MAX_EXP */
    unsigned shift = e - 6;                          /* leaves 7 bits: 64..127 */
    return HIST_LINEAR + (e - 7) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

uint64_t hist_bucket_top(unsigned idx) {
    if (idx < HIST_LINEAR) return idx;
    unsigned e = (idx - HIST_LINEAR) / HIST_SUB + 7;
    uint64_t sub = (idx - HIST_LINEAR) % HIST_SUB + HIST_SUB;
    unsigned shift = e - 6;
    return ((sub + 1) << shift) - 1;
}

void hist_record(hist *h, uint64_t v) {
    if (h->count == 0 || v < h->min) h->min = v;
    if (v > h->max) h->max = v;
    h->count++;
    h->buckets[hist_bucket_of(v)]++;
}

void hist_merge(hist *dst, const hist *src) {
    if (!src->count) return;
    if (dst->count == 0 || src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
    dst->count += src->count;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) dst->buckets[i] += src->buckets[i];
}

uint64_t hist_quantile(const hist *h, double q) {
    if (!h->count) return 0;
    if (q <= 0) return h->min;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > h->count) rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t top = hist_bucket_top(i);
            return top > h->max ? h->max : top;
        }
    }
    return h->max;
}

uint64_t hist_quantile_since(const hist *h, const hist *base, double q) {
    uint64_t n = h->count - base->count;
    if (!n) return 0;
    uint64_t rank = (uint64_t)(q * (double)n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i] - base->buckets[i];
        if (seen >= rank) {
            uint64_t top = hist_bucket_top(i);
            return top > h->max ? h->max : top;
        }
    }
    return h->max;
}
