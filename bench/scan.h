/* SPDX-License-Identifier: MIT */
/*
 * scan.h: finding the first of two byte values in a range, for the load
 * generator's per-event hot path (sseparse.c: a line's end, CR or LF;
 * benchdata.c: a quote or backslash in the padding).
 *
 * One pass instead of two memchr calls (each of which re-reads the range
 * and pays a call): on x86-64, SSE2 (always present there) compares 16
 * bytes against both values at a time, and a range of 16 bytes or more ends
 * with one overlapping load instead of a byte loop. Elsewhere a plain byte
 * loop. Never reads outside [p, end).
 */
#ifndef BENCH_SCAN_H
#define BENCH_SCAN_H

#include <stddef.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__SSE2__)
/* Bit i set: byte i of the 16 at p is a or b. */
static inline unsigned scan_block(const char *p, __m128i va, __m128i vb) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)));
}
#endif

/* The first byte in [p, end) equal to a or b, or NULL. */
static inline const char *scan_either(const char *p, const char *end, char a, char b) {
#if defined(__SSE2__)
    if (end - p >= 16) {
        const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b);
        while (end - p > 16) {
            unsigned m = scan_block(p, va, vb);
            if (m) return p + __builtin_ctz(m);
            p += 16;
        }
        /* the last block ends at `end`; its first bytes were seen already */
        const char *at = end - 16;
        unsigned m = scan_block(at, va, vb) & (~0u << (p - at));
        return m ? at + __builtin_ctz(m) : NULL;
    }
#endif
    for (; p < end; p++)
        if (*p == a || *p == b) return p;
    return NULL;
}

#endif
