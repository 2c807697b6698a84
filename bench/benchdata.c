/* SPDX-License-Identifier: MIT */
/*
 * benchdata.c: formatting and scanning the benchmark payload (benchdata.h).
 * The scanner is deliberately small: flat objects only, which is all the
 * publisher sends; anything else is "not ours" and counted as other. The
 * publisher's exact layout is read first without the general scanner: its
 * numbers eight digits at a time, its padding checked for quotes and
 * backslashes in one pass (scan.h).
 */
#include "benchdata.h"

#include "scan.h"

#include <stdio.h>
#include <string.h>

size_t benchdata_format(char *out, size_t cap, uint64_t t, uint64_t s, uint64_t k, size_t size) {
    char head[96];
    int n = snprintf(head, sizeof(head), "{\"t\":%llu,\"s\":%llu,\"k\":%llu,\"p\":\"",
                     (unsigned long long)t, (unsigned long long)s, (unsigned long long)k);
    size_t total = (size_t)n + 2; /* closing quote and brace */
    size_t pad = size > total ? size - total : 0;
    total += pad;
    if (total > cap) return 0;
    memcpy(out, head, (size_t)n);
    memset(out + n, 'x', pad);
    out[(size_t)n + pad] = '"';
    out[(size_t)n + pad + 1] = '}';
    return total;
}

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* p at an opening quote; returns the byte after the closing quote or NULL.
 * memchr finds the candidates (the padding makes strings the bulk of the
 * data); a quote preceded by an odd run of backslashes is escaped. */
static const char *skip_string(const char *p, const char *end) {
    for (p++; p < end;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return NULL;
        size_t bs = 0;
        while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\') bs++;
        if (bs % 2 == 0) return q + 1;
        p = q + 1;
    }
    return NULL;
}

/* The value of the 8 ASCII digits at p, or -1 when they are not all
 * digits: all eight at once in a 64-bit word (little-endian loads), the
 * usual SWAR reduction (pairs, then fours, then the eight). */
static int digits8(const char *p, uint64_t *out) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w;
    memcpy(&w, p, 8);
    /* every byte 0x30..0x39: high nibble 3, and still 3 after adding 6 */
    if ((w & 0xF0F0F0F0F0F0F0F0u) != 0x3030303030303030u ||
        ((w + 0x0606060606060606u) & 0xF0F0F0F0F0F0F0F0u) != 0x3030303030303030u)
        return -1;
    w -= 0x3030303030303030u;
    w = (w * 10 + (w >> 8)) & 0x00FF00FF00FF00FFu;   /* 4 values 0..99 */
    w = (w * 100 + (w >> 16)) & 0x0000FFFF0000FFFFu; /* 2 values 0..9999 */
    *out = (w & 0xFFFFFFFFu) * 10000 + (w >> 32);
    return 0;
#else
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return 0;
#endif
}

/* Digits at *pp up to the byte `stop`; advances *pp past stop. Runs of 8
 * digits go at once (a publish time in µs has 16), at most two of them so
 * the value stays below 10^16 and the byte loop's overflow check holds. */
static int fast_uint(const char **pp, const char *end, char stop, uint64_t *out) {
    const char *p = *pp;
    uint64_t v = 0, eight;
    const char *first = p;
    for (int i = 0; i < 2 && end - p >= 8 && digits8(p, &eight) == 0; i++) {
        v = v * 100000000u + eight;
        p += 8;
    }
    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*p++ - '0');
    }
    if (p == first || p == end || *p != stop) return -1;
    *out = v;
    *pp = p + 1;
    return 0;
}

/* The publisher's exact layout, {"t":T,"s":S,"k":K,"p":"<no quote or
 * backslash>"}, read without the general scanner. -1 means "not that
 * layout" (the general scanner decides), not "invalid". */
static int parse_fast(const char *data, size_t len, uint64_t *t, uint64_t *s, uint64_t *k) {
    const char *p = data, *end = data + len;
    if (len < 24 || memcmp(p, "{\"t\":", 5) != 0) return -1;
    p += 5;
    if (fast_uint(&p, end, ',', t) < 0 || end - p < 4 || memcmp(p, "\"s\":", 4) != 0) return -1;
    p += 4;
    if (fast_uint(&p, end, ',', s) < 0 || end - p < 4 || memcmp(p, "\"k\":", 4) != 0) return -1;
    p += 4;
    if (fast_uint(&p, end, ',', k) < 0 || end - p < 7 || memcmp(p, "\"p\":\"", 5) != 0) return -1;
    p += 5;
    if (end[-1] != '}' || end[-2] != '"' || end - 2 < p) return -1;
    if (scan_either(p, end - 2, '"', '\\')) return -1;
    return 0;
}

int benchdata_parse(const char *data, size_t len, uint64_t *t, uint64_t *s, uint64_t *k) {
    if (parse_fast(data, len, t, s, k) == 0) return 0;
    const char *p = data, *end = data + len;
    int got = 0;
    p = skip_ws(p, end);
    if (p == end || *p != '{') return -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') return -1;
    while (p < end) {
        if (*p != '"') return -1;
        const char *key = p + 1;
        const char *after = skip_string(p, end);
        if (!after) return -1;
        size_t klen = (size_t)(after - 1 - key);
        p = skip_ws(after, end);
        if (p == end || *p != ':') return -1;
        p = skip_ws(p + 1, end);
        if (p == end) return -1;
        uint64_t *slot = NULL;
        if (klen == 1 && *key == 't') slot = t;
        else if (klen == 1 && *key == 's') slot = s;
        else if (klen == 1 && *key == 'k') slot = k;
        if (*p >= '0' && *p <= '9') {
            uint64_t v = 0;
            for (; p < end && *p >= '0' && *p <= '9'; p++) {
                if (v > (UINT64_MAX - 9) / 10) return -1;
                v = v * 10 + (uint64_t)(*p - '0');
            }
            if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) {
                if (slot) return -1; /* t, s, k must be integers */
                while (p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' ||
                                   *p == 'E' || *p == '+' || *p == '-'))
                    p++;
            } else if (slot) {
                *slot = v;
                got |= slot == t ? 1 : slot == s ? 2 : 4;
            }
        } else if (slot) {
            return -1;
        } else if (*p == '"') {
            p = skip_string(p, end);
            if (!p) return -1;
        } else if (*p == '-') {
            for (p++; p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' ||
                                  *p == '+' || *p == '-');
                 p++)
                ;
        } else if (end - p >= 4 && (memcmp(p, "true", 4) == 0 || memcmp(p, "null", 4) == 0)) {
            p += 4;
        } else if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
            p += 5;
        } else {
            return -1;
        }
        p = skip_ws(p, end);
        if (p == end) return -1;
        if (*p == '}') {
            p = skip_ws(p + 1, end);
            return p == end && got == 7 ? 0 : -1;
        }
        if (*p != ',') return -1;
        p = skip_ws(p + 1, end);
    }
    return -1;
}
