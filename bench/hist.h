/* SPDX-License-Identifier: MIT */
/*
 * hist.h: a log-linear latency histogram (HDR style), no per-sample storage.
 *
 * Values below 128 have their own bucket; above, each power of two is split
 * into 64 buckets, so any reported percentile is within 1/64 (1.6%) above
 * the true value. Values are clamped at 2^40. The exact maximum is kept.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_LINEAR 128
#define HIST_SUB 64
#define HIST_MAX_EXP 40
#define HIST_BUCKETS (HIST_LINEAR + (HIST_MAX_EXP - 7 + 1) * HIST_SUB)

typedef struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t min;
    uint64_t buckets[HIST_BUCKETS];
} hist;

void hist_reset(hist *h);
void hist_record(hist *h, uint64_t v);
/* Adds every sample of src to dst. */
void hist_merge(hist *dst, const hist *src);
/* The value at quantile q (0..1): the upper edge of the bucket holding the
 * q-th sample, capped at the exact maximum; 0 when empty. */
uint64_t hist_quantile(const hist *h, double q);
/* The quantile of the samples recorded in h since it was equal to base
 * (base: an earlier copy of h); 0 when none. Lets a progress line report
 * the last second from a snapshot instead of a second histogram per sample. */
uint64_t hist_quantile_since(const hist *h, const hist *base, double q);
/* Bucket index of a value and the largest value that bucket holds. */
unsigned hist_bucket_of(uint64_t v);
uint64_t hist_bucket_top(unsigned idx);

#endif
