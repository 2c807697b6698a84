/* SPDX-License-Identifier: MIT */
/*
 * json_utf8.h: the one UTF-8 sequence classifier shared by the JSON
 * scanner, the string decoder, sr_json_quote and sr_json_utf8_repair, so
 * that all of them agree on what is invalid and how much of it one U+FFFD
 * replaces.
 *
 * The rule is the WHATWG "maximal subpart" one (TextDecoder, Node's
 * Buffer.toString): a lead byte followed by the continuation bytes that
 * are still allowed after it is one replaced unit; a byte that is neither
 * a valid lead nor an allowed continuation is a unit of its own. ASCII is
 * never swallowed into a replaced unit, which is why a string scanner can
 * skip invalid bytes without ever missing a closing quote.
 */
#ifndef SR_JSON_UTF8_H
#define SR_JSON_UTF8_H

#include <stddef.h>

/* For p < end with *p >= 0x80: the length (2..4) of the valid sequence at
 * p, or 0 when it is invalid, *subpart then receiving how many bytes
 * (1..3) one U+FFFD stands for. */
static inline size_t sr_json_utf8_seq(const unsigned char *p, const unsigned char *end,
                                      size_t *subpart) {
    unsigned c = p[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the next byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;      /* no overlong forms */
        else if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;      /* no overlong forms */
        else if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *subpart = 1; /* continuation byte, C0, C1, F5..FF */
        return 0;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if ((size_t)(end - p) <= i) break;
        unsigned b = p[i];
        if (b < lo || b > hi) break;
        lo = 0x80;
        hi = 0xBF;
    }
    if (i > need) return need + 1;
    *subpart = i;
    return 0;
}

#endif /* SR_JSON_UTF8_H */
