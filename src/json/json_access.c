/* SPDX-License-Identifier: MIT */
/*
 * json_access.c: reading values out of text that sr_json_validate has
 * accepted: member lookup, array/object iteration, string decoding and
 * integer conversion of numbers.
 *
 * Nothing is materialised: iteration walks the container's span and skips
 * each value by bracket counting (strings skipped with their escapes), so
 * a full walk is linear in the span. The walkers trust the text to be
 * valid JSON but never read outside the span they are given, so a value
 * that did not come from the validator cannot make them overrun.
 *
 * Member names are compared after decoding (JSON.parse semantics: a name
 * is the decoded string, and the last duplicate wins). A name holding a
 * lone surrogate escape never equals a UTF-8 key (no UTF-8 text can spell
 * a lone surrogate), while invalid raw UTF-8 in a name compares as U+FFFD,
 * which is what JSON.parse sees there.
 */
#include <stdint.h>
#include <string.h>

#include "json/json.h"
#include "json/json_utf8.h"

typedef const unsigned char *bytes;

static bytes skip_ws(bytes p, bytes end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* p is at an opening quote; returns the byte after the closing quote (or
 * end if there is none). */
static bytes skip_string(bytes p, bytes end) {
    p++;
    while (p < end) {
        unsigned c = *p;
        if (c == '"') return p + 1;
        if (c == '\\' && end - p < 2) return end;
        p += c == '\\' ? 2 : 1;
    }
    return end;
}

/* p < end is at the first byte of a value; returns the byte after it. */
static bytes skip_value(bytes p, bytes end) {
    switch (*p) {
    case '"': return skip_string(p, end);
    case '{':
    case '[': {
        size_t depth = 0;
        while (p < end) {
            unsigned c = *p;
            if (c == '"') {
                p = skip_string(p, end);
                continue;
            }
            p++;
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) return p;
            }
        }
        return end;
    }
    default: /* number or literal: runs up to a delimiter */
        while (p < end && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\n' &&
               *p != '\r' && *p != '\t')
            p++;
        return p;
    }
}

static sr_json_type type_at(bytes p) {
    switch (*p) {
    case '{': return SR_JSON_OBJECT;
    case '[': return SR_JSON_ARRAY;
    case '"': return SR_JSON_STRING;
    case 't': return SR_JSON_TRUE;
    case 'f': return SR_JSON_FALSE;
    case 'n': return SR_JSON_NULL;
    default: return SR_JSON_NUMBER;
    }
}

/* Fills *out with the value starting at p < end; returns the byte after. */
static bytes take_value(bytes p, bytes end, sr_json_value *out) {
    bytes after = skip_value(p, end);
    out->type = type_at(p);
    out->p = (const char *)p;
    out->len = (size_t)(after - p);
    return after;
}

void sr_json_iter_begin(const sr_json_value *container, sr_json_iter *it) {
    if (container && (container->type == SR_JSON_ARRAY || container->type == SR_JSON_OBJECT) &&
        container->p && container->len >= 2) {
        it->p = container->p + 1;
        it->end = container->p + container->len - 1; /* the closing bracket */
    } else {
        it->p = it->end = NULL;
    }
}

/* Moves past whitespace and one separating comma; 0 at the end. */
static int iter_advance(sr_json_iter *it, bytes *p_out) {
    bytes p = (bytes)it->p, end = (bytes)it->end;
    if (!p) return 0;
    p = skip_ws(p, end);
    if (p < end && *p == ',') p = skip_ws(p + 1, end);
    if (p >= end) {
        it->p = it->end;
        return 0;
    }
    *p_out = p;
    return 1;
}

int sr_json_array_next(sr_json_iter *it, sr_json_value *out) {
    bytes p;
    if (!iter_advance(it, &p)) return 0;
    it->p = (const char *)take_value(p, (bytes)it->end, out);
    return 1;
}

int sr_json_object_next(sr_json_iter *it, sr_json_value *key, sr_json_value *val) {
    bytes p, end = (bytes)it->end;
    if (!iter_advance(it, &p)) return 0;
    if (*p != '"') goto malformed;
    p = take_value(p, end, key);
    p = skip_ws(p, end);
    if (p >= end || *p != ':') goto malformed;
    p = skip_ws(p + 1, end);
    if (p >= end) goto malformed;
    it->p = (const char *)take_value(p, end, val);
    return 1;
malformed: /* not validated text: stop rather than guess */
    it->p = it->end;
    return 0;
}

static int hex_value(unsigned c) {
    if (c - '0' < 10u) return (int)(c - '0');
    c |= 0x20u;
    if (c - 'a' < 6u) return (int)(c - 'a' + 10);
    return -1;
}

/* The 16-bit unit of a \uXXXX escape at p (p[0] == '\\'), or -1. */
static long escape_unit(bytes p, bytes end) {
    /* p[0] is checked too: after a high surrogate the next bytes need not
     * be an escape at all ("\ud83dXude00" is U+FFFD then "Xude00") */
    if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = hex_value(p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t put_utf8(unsigned char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the character at *pp (inside a string body, before end, not the
 * closing quote) into o[0..4), advancing *pp and OR-ing SR_JSON_S_* into
 * *flags. Returns the byte count, 0 for a malformed escape. */
static size_t decode_char(bytes *pp, bytes end, unsigned char o[4], unsigned *flags) {
    bytes p = *pp;
    unsigned c = *p;
    if (c < 0x80 && c != '\\') {
        if (c == 0) *flags |= SR_JSON_S_NUL;
        if (c < 0x20) *flags |= SR_JSON_S_CONTROL;
        o[0] = (unsigned char)c;
        *pp = p + 1;
        return 1;
    }
    if (c >= 0x80) {
        size_t subpart, n = sr_json_utf8_seq(p, end, &subpart);
        if (n) {
            memcpy(o, p, n);
            *pp = p + n;
            return n;
        }
        *flags |= SR_JSON_S_INVALID_UTF8;
        *pp = p + subpart;
        return put_utf8(o, 0xFFFD);
    }
    if (end - p < 2) return 0;
    unsigned simple;
    switch (p[1]) {
    case '"': simple = '"'; break;
    case '\\': simple = '\\'; break;
    case '/': simple = '/'; break;
    case 'b': simple = '\b'; break;
    case 'f': simple = '\f'; break;
    case 'n': simple = '\n'; break;
    case 'r': simple = '\r'; break;
    case 't': simple = '\t'; break;
    case 'u': {
        long u = escape_unit(p, end);
        if (u < 0) return 0;
        uint32_t cp = (uint32_t)u;
        *pp = p + 6;
        if (u >= 0xD800 && u <= 0xDBFF) {
            long lo = escape_unit(p + 6, end);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                *pp = p + 12;
                return put_utf8(o, 0x10000 + (((cp - 0xD800) << 10) | ((uint32_t)lo - 0xDC00)));
            }
        }
        if (u >= 0xD800 && u <= 0xDFFF) {
            *flags |= SR_JSON_S_LONE_SURROGATE;
            cp = 0xFFFD;
        }
        if (cp == 0) *flags |= SR_JSON_S_NUL;
        if (cp < 0x20) *flags |= SR_JSON_S_CONTROL;
        return put_utf8(o, cp);
    }
    default: return 0;
    }
    if (simple < 0x20) *flags |= SR_JSON_S_CONTROL;
    o[0] = (unsigned char)simple;
    *pp = p + 2;
    return 1;
}

ssize_t sr_json_string_decode(const sr_json_value *str, char *out, size_t cap, unsigned *flags) {
    unsigned fl = 0;
    if (flags) *flags = 0;
    if (!str || str->type != SR_JSON_STRING || !str->p || str->len < 2 || str->p[0] != '"' ||
        str->p[str->len - 1] != '"' || !out)
        return -1;
    bytes p = (bytes)str->p + 1, end = (bytes)str->p + str->len - 1;
    unsigned char *o = (unsigned char *)out;
    size_t n = 0;
    while (p < end) {
        /* plain ASCII runs are copied as they are */
        bytes run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '\\') p++;
        size_t rl = (size_t)(p - run);
        if (rl) {
            if (cap - n <= rl) return -1;
            memcpy(o + n, run, rl);
            n += rl;
            continue;
        }
        unsigned char ch[4];
        size_t cl = decode_char(&p, end, ch, &fl);
        if (cl == 0) return -1;
        if (cap - n <= cl) return -1;
        memcpy(o + n, ch, cl);
        n += cl;
    }
    if (cap - n < 1) return -1;
    o[n] = '\0';
    if (flags) *flags = fl;
    return (ssize_t)n;
}

/* Whether the string span k (quotes included) decodes to exactly the
 * UTF-8 bytes key[0..klen). */
static int name_equals(const sr_json_value *k, const char *key, size_t klen) {
    bytes p = (bytes)k->p + 1, end = (bytes)k->p + k->len - 1;
    bytes want = (bytes)key, want_end = want + klen;
    /* the usual case first: a plain ASCII name */
    if ((size_t)(end - p) == klen && memcmp(p, key, klen) == 0) {
        int plain = 1;
        for (bytes q = p; q < end; q++) {
            if (*q == '\\' || *q >= 0x80) {
                plain = 0;
                break;
            }
        }
        if (plain) return 1;
    }
    while (p < end) {
        unsigned fl = 0;
        unsigned char ch[4];
        size_t cl = decode_char(&p, end, ch, &fl);
        if (cl == 0 || (fl & SR_JSON_S_LONE_SURROGATE)) return 0;
        if ((size_t)(want_end - want) < cl || memcmp(want, ch, cl) != 0) return 0;
        want += cl;
    }
    return want == want_end;
}

int sr_json_object_get(const sr_json_value *obj, const char *const *keys, size_t nkeys,
                       sr_json_value *out) {
    if (!obj || obj->type != SR_JSON_OBJECT) return -1;
    size_t klen_small[16];
    for (size_t i = 0; i < nkeys; i++) {
        out[i].type = SR_JSON_NONE;
        out[i].p = NULL;
        out[i].len = 0;
        if (i < 16) klen_small[i] = keys[i] ? strlen(keys[i]) : 0;
    }
    sr_json_iter it;
    sr_json_value k, v;
    sr_json_iter_begin(obj, &it);
    while (sr_json_object_next(&it, &k, &v)) {
        for (size_t i = 0; i < nkeys; i++) {
            if (!keys[i]) continue;
            size_t klen = i < 16 ? klen_small[i] : strlen(keys[i]);
            if (name_equals(&k, keys[i], klen)) out[i] = v; /* later duplicates overwrite */
        }
    }
    return 0;
}

static int is_digit(unsigned c) {
    return c - '0' < 10u;
}

/* Exponent magnitudes saturate here: past it a nonzero value is far above
 * UINT64_MAX or far below 1 anyway, and int64 arithmetic cannot overflow. */
#define EXP_CAP INT64_C(1000000000000000)

int sr_json_number_u64(const sr_json_value *num, uint64_t max, uint64_t *out) {
    if (!num || num->type != SR_JSON_NUMBER || !num->p || num->len == 0) return -1;
    bytes p = (bytes)num->p, end = p + num->len;
    int negative = 0;
    if (*p == '-') {
        negative = 1;
        p++;
    }
    /* the significant digits: integer part then fraction */
    bytes int_start = p;
    while (p < end && is_digit(*p)) p++;
    bytes int_end = p;
    if (int_end == int_start) return -1;
    if (int_end - int_start > 1 && *int_start == '0') return -1;
    bytes frac_start = int_end, frac_end = int_end;
    if (p < end && *p == '.') {
        frac_start = ++p;
        while (p < end && is_digit(*p)) p++;
        frac_end = p;
        if (frac_end == frac_start) return -1;
    }
    int64_t exp10 = 0;
    if (p < end && (*p | 0x20) == 'e') {
        p++;
        int exp_negative = 0;
        if (p < end && (*p == '+' || *p == '-')) exp_negative = *p++ == '-';
        if (p == end) return -1;
        while (p < end && is_digit(*p)) {
            if (exp10 < EXP_CAP) exp10 = exp10 * 10 + (*p - '0');
            p++;
        }
        if (exp_negative) exp10 = -exp10;
    }
    if (p != end) return -1;

    /* value = digits(int ++ frac) * 10^(exp10 - |frac|), exactly */
    int64_t frac_len = frac_end - frac_start;
    if (frac_len > EXP_CAP) frac_len = EXP_CAP;
    exp10 -= frac_len;
    /* first and last nonzero significant digit */
    bytes first = NULL, last = NULL;
    for (bytes q = int_start; q < int_end; q++)
        if (*q != '0') {
            if (!first) first = q;
            last = q;
        }
    for (bytes q = frac_start; q < frac_end; q++)
        if (*q != '0') {
            if (!first) first = q;
            last = q;
        }
    if (!first) { /* zero, -0 included (JSON.parse gives -0, which equals 0) */
        *out = 0;
        return 0;
    }
    if (negative) return -1;
    /* trailing zeros of the significant digits move into the exponent:
     * zeros after `last` in the integer part, and the (all zero) fraction
     * when `last` is in the integer part */
    if (last < int_end) exp10 += (int_end - last - 1) + frac_len;
    else exp10 += frac_end - last - 1;
    if (exp10 < 0) return -1; /* a nonzero digit after the decimal point */
    uint64_t v = 0;
    size_t ndigits = 0;
    for (bytes q = first; q <= last; q++) {
        if (*q == '.') continue;
        if (++ndigits > 20) return -1;
        unsigned d = *q - '0';
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    for (int64_t e = 0; e < exp10; e++) {
        if (v > UINT64_MAX / 10) return -1;
        v *= 10;
    }
    if (v > max) return -1;
    *out = v;
    return 0;
}
