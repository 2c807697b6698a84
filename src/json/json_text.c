/* SPDX-License-Identifier: MIT */
/*
 * json_text.c: producing text: sr_json_quote (JSON.stringify's string
 * escaping), sr_json_quote_inert (the same, with C1 controls and bidi
 * controls escaped too, for text the server echoes back) and sr_json_utf8_repair (Node's UTF-8
 * decoding, invalid sequences replaced by U+FFFD).
 *
 * Both walk the input once to measure and once to write, with the shared
 * maximal-subpart classifier (json_utf8.h), so the repaired text and a
 * quoted string agree byte for byte with what Node produces from the same
 * bytes: Buffer.toString() then JSON.stringify().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "json/json_utf8.h"

static const unsigned char replacement[3] = {0xEF, 0xBF, 0xBD};

/* JSON.stringify's short escapes, 0 where it writes \u00xx instead. */
static const char short_escape[0x20] = {
    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
};

/* The code point of the valid sequence p[0..len) (len 2..4) when it is a
 * C1 control (U+0080-U+009F) or a bidi embedding, override or isolate
 * (U+202A-U+202E, U+2066-U+2069): characters that can drive a terminal
 * (U+009B is CSI) or reorder what a reader sees. 0 for anything else. */
static unsigned deceptive_cp(const unsigned char *p, size_t len) {
    if (len == 2 && p[0] == 0xC2 && p[1] <= 0x9F) return p[1];
    if (len == 3 && p[0] == 0xE2) {
        unsigned cp = 0x2000u | ((unsigned)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) return cp;
    }
    return 0;
}

/* One pass of sr_json_quote: writes to out when it is not NULL; inert:
 * deceptive_cp characters are written as \u escapes too. */
static size_t quote_pass(const unsigned char *p, const unsigned char *end, unsigned char *out,
                         int inert) {
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (out) out[n] = '"';
    n++;
    while (p < end) {
        unsigned c = *p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            const unsigned char *run = p;
            while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
            if (out) memcpy(out + n, run, (size_t)(p - run));
            n += (size_t)(p - run);
            continue;
        }
        if (c == '"' || c == '\\') {
            if (out) {
                out[n] = '\\';
                out[n + 1] = (unsigned char)c;
            }
            n += 2;
            p++;
        } else if (c < 0x20) {
            if (short_escape[c]) {
                if (out) {
                    out[n] = '\\';
                    out[n + 1] = (unsigned char)short_escape[c];
                }
                n += 2;
            } else {
                if (out)
                    memcpy(out + n, (const char[]){'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]},
                           6);
                n += 6;
            }
            p++;
        } else {
            size_t subpart, len = sr_json_utf8_seq(p, end, &subpart);
            unsigned cp = len && inert ? deceptive_cp(p, len) : 0;
            if (cp) {
                if (out)
                    memcpy(out + n,
                           (const char[]){'\\', 'u', hex[cp >> 12], hex[(cp >> 8) & 15],
                                          hex[(cp >> 4) & 15], hex[cp & 15]},
                           6);
                n += 6;
                p += len;
            } else if (len) {
                if (out) memcpy(out + n, p, len);
                n += len;
                p += len;
            } else {
                if (out) memcpy(out + n, replacement, 3);
                n += 3;
                p += subpart;
            }
        }
    }
    if (out) out[n] = '"';
    n++;
    return n;
}

static size_t quote(const char *s, size_t len, char *out, size_t cap, int inert) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    if (!s) len = 0;
    size_t need = quote_pass(p, p + len, NULL, inert);
    if (out && need <= cap) quote_pass(p, p + len, (unsigned char *)out, inert);
    return need;
}

size_t sr_json_quote(const char *s, size_t len, char *out, size_t cap) {
    return quote(s, len, out, cap, 0);
}

size_t sr_json_quote_inert(const char *s, size_t len, char *out, size_t cap) {
    return quote(s, len, out, cap, 1);
}

char *sr_json_utf8_repair(const char *s, size_t len, size_t *out_len) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    if (!s) len = 0;
    const unsigned char *end = p + len;

    /* measure: every invalid subpart (1..3 bytes) becomes 3 bytes */
    size_t need = 0;
    int any_invalid = 0;
    for (const unsigned char *q = p; q < end;) {
        if (*q < 0x80) {
            q++;
            need++;
            continue;
        }
        size_t subpart, n = sr_json_utf8_seq(q, end, &subpart);
        if (n) {
            q += n;
            need += n;
        } else {
            q += subpart;
            if (need > SIZE_MAX - 4) return NULL;
            need += 3;
            any_invalid = 1;
        }
    }
    char *out = malloc(need + 1);
    if (!out) return NULL;
    if (!any_invalid) {
        memcpy(out, p, len);
    } else {
        unsigned char *o = (unsigned char *)out;
        for (const unsigned char *q = p; q < end;) {
            if (*q < 0x80) {
                *o++ = *q++;
                continue;
            }
            size_t subpart, n = sr_json_utf8_seq(q, end, &subpart);
            if (n) {
                memcpy(o, q, n);
                o += n;
                q += n;
            } else {
                memcpy(o, replacement, 3);
                o += 3;
                q += subpart;
            }
        }
    }
    out[need] = '\0';
    if (out_len) *out_len = need;
    return out;
}
