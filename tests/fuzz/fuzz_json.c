/* SPDX-License-Identifier: MIT */
/*
 * fuzz_json.c: libFuzzer target for the JSON scanner (src/json/json.h).
 *
 * The whole input is the JSON text, so JSON files are seeds as they are.
 * Whatever the verdict:
 *  - the verdict does not depend on the nesting limit except through the
 *    "nesting deeper than the limit" error, and an error other than that
 *    one is the same error at the same offset under any limit;
 *  - sr_json_utf8_repair gives exactly what the WHATWG UTF-8 decoder (Node's
 *    Buffer.toString) gives, written here from the Encoding Standard; it is
 *    idempotent, and the repaired text gets the same verdict and type
 *    (JSON.parse sees the repaired text);
 *  - sr_json_quote measures what it writes, writes nothing when it does not
 *    fit, and its literal decodes back to the repaired input.
 * On acceptance every value is walked: each span lies inside its parent and
 * validates on its own as exactly that value; arrays and objects iterate
 * in order without overlap; strings decode within 3*len+1 bytes (and need
 * exactly decoded+1) to what a reference JSON.parse (WHATWG decoding, then
 * escapes as UTF-16 units, lone surrogates as U+FFFD) gives, with the same
 * flags, and survive quote -> decode; numbers convert to u64
 * exactly as an independent string-based reference says; object_get finds,
 * for each member name, the last member of that name, also through its
 * path for more than 16 keys.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DEPTH 1000
#define DEPTH_MSG "nesting deeper than the limit"
#define MAX_LOOKUP_MEMBERS 128 /* members whose name is looked up */

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t need;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i <= need) return 0;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += need + 1;
    }
    return 1;
}

/* ---- references, written from the specifications, not from src/json ---- */

/* The WHATWG UTF-8 decoder (Encoding Standard, "UTF-8 decoder"), which is
 * what Node's Buffer.toString runs: code points into out (at most n of
 * them), U+FFFD for each maximal invalid subpart; *replaced counts those. */
static size_t whatwg_decode(const unsigned char *p, size_t n, uint32_t *out, size_t *replaced) {
    size_t o = 0, i = 0;
    uint32_t cp = 0;
    unsigned needed = 0, seen = 0, lower = 0x80, upper = 0xBF;
    *replaced = 0;
    while (i < n) {
        unsigned b = p[i];
        if (needed == 0) {
            i++;
            if (b <= 0x7F) {
                out[o++] = b;
            } else if (b >= 0xC2 && b <= 0xDF) {
                needed = 1, cp = b & 0x1F;
            } else if (b >= 0xE0 && b <= 0xEF) {
                if (b == 0xE0) lower = 0xA0;
                if (b == 0xED) upper = 0x9F;
                needed = 2, cp = b & 0xF;
            } else if (b >= 0xF0 && b <= 0xF4) {
                if (b == 0xF0) lower = 0x90;
                if (b == 0xF4) upper = 0x8F;
                needed = 3, cp = b & 0x7;
            } else {
                out[o++] = 0xFFFD, ++*replaced;
            }
            continue;
        }
        if (b < lower || b > upper) { /* b is processed again */
            cp = needed = seen = 0, lower = 0x80, upper = 0xBF;
            out[o++] = 0xFFFD, ++*replaced;
            continue;
        }
        i++;
        lower = 0x80, upper = 0xBF;
        cp = cp << 6 | (b & 0x3F);
        if (++seen == needed) {
            out[o++] = cp;
            cp = needed = seen = 0;
        }
    }
    if (needed) out[o++] = 0xFFFD, ++*replaced;
    return o;
}

static size_t put_utf8(uint32_t cp, unsigned char *o) {
    if (cp < 0x80) return o[0] = (unsigned char)cp, 1;
    if (cp < 0x800)
        return o[0] = (unsigned char)(0xC0 | cp >> 6), o[1] = (unsigned char)(0x80 | (cp & 0x3F)),
               2;
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12), o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18), o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Buffer.from(buf.toString()): the bytes Node holds after decoding. */
static unsigned char *ref_repair(const unsigned char *p, size_t n, size_t *len) {
    uint32_t *cps = malloc((n + 1) * sizeof *cps);
    unsigned char *out = malloc(3 * n + 1);
    FUZZ_CHECK(cps && out, "oom");
    size_t replaced, m = whatwg_decode(p, n, cps, &replaced), o = 0;
    for (size_t i = 0; i < m; i++) o += put_utf8(cps[i], out + o);
    free(cps);
    *len = o;
    return out;
}

static int hexdig(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* JSON.parse of a validated string literal, as UTF-16 code units, then
 * written as UTF-8 with each lone surrogate as U+FFFD (what Node writes):
 * the expected output and SR_JSON_S_* flags of sr_json_string_decode. */
static unsigned char *ref_decode(const char *lit, size_t n, size_t *len, unsigned *flags) {
    uint32_t *cps = malloc(n * sizeof *cps);
    uint16_t *units = malloc(2 * n * sizeof *units);
    unsigned char *out = malloc(3 * n + 1);
    FUZZ_CHECK(cps && units && out, "oom");
    size_t replaced, m = whatwg_decode((const unsigned char *)lit + 1, n - 2, cps, &replaced),
                     u = 0;
    *flags = replaced ? SR_JSON_S_INVALID_UTF8 : 0;
    for (size_t i = 0; i < m; i++) {
        uint32_t c = cps[i];
        if (c != '\\') {
            if (c >= 0x10000) {
                units[u++] = (uint16_t)(0xD800 + ((c - 0x10000) >> 10));
                units[u++] = (uint16_t)(0xDC00 + ((c - 0x10000) & 0x3FF));
            } else {
                units[u++] = (uint16_t)c;
            }
            continue;
        }
        c = cps[++i];
        switch (c) {
        case 'b': units[u++] = '\b'; break;
        case 'f': units[u++] = '\f'; break;
        case 'n': units[u++] = '\n'; break;
        case 'r': units[u++] = '\r'; break;
        case 't': units[u++] = '\t'; break;
        case 'u': {
            unsigned v = 0;
            for (int k = 1; k <= 4; k++) v = v * 16 + (unsigned)hexdig(cps[i + (size_t)k]);
            units[u++] = (uint16_t)v;
            i += 4;
            break;
        }
        default: units[u++] = (uint16_t)c; /* " \ / */
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < u; i++) {
        uint32_t c = units[i];
        if (c >= 0xD800 && c <= 0xDBFF && i + 1 < u && units[i + 1] >= 0xDC00 &&
            units[i + 1] <= 0xDFFF) {
            c = 0x10000 + ((c - 0xD800) << 10) + (units[++i] - 0xDC00u);
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            c = 0xFFFD;
            *flags |= SR_JSON_S_LONE_SURROGATE;
        }
        if (c == 0) *flags |= SR_JSON_S_NUL;
        if (c < 0x20) *flags |= SR_JSON_S_CONTROL;
        o += put_utf8(c, out + o);
    }
    free(cps);
    free(units);
    *len = o;
    return out;
}

static int is_ws(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Reference for sr_json_number_u64 with max UINT64_MAX, by string
 * manipulation of the digits instead of arithmetic: the digits D (integer
 * and fraction parts) are S * 10^z with S from the first to the last
 * nonzero digit, so the value is S * 10^(exp - |fraction| + z). */
static int ref_number_u64(const char *s, size_t len, uint64_t *out) {
    size_t i = 0;
    int negative = 0;
    if (i < len && s[i] == '-') negative = 1, i++;
    char sig[24];
    size_t ns = 0, zeros = 0, nfrac = 0;
    int too_long = 0, in_frac = 0;
    for (; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            in_frac = 1;
            continue;
        }
        if (c < '0' || c > '9') break;
        if (in_frac) nfrac++;
        if (c == '0') {
            if (ns) zeros++;
            continue;
        }
        /* a nonzero digit: the zeros before it are significant */
        for (; zeros; zeros--) {
            if (ns < 21) sig[ns++] = '0';
            else too_long = 1;
        }
        if (ns < 21) sig[ns++] = c;
        else too_long = 1;
    }
    long long e = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < len && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        for (; i < len; i++)
            if (e < 100000000) e = e * 10 + (s[i] - '0');
        if (eneg) e = -e;
    }
    if (ns == 0) { /* zero, however written */
        *out = 0;
        return 0;
    }
    /* more than 20 significant digits: too big, or not an integer */
    if (negative || too_long || ns > 20) return -1;
    e += (long long)zeros - (long long)nfrac;
    if (e < 0 || (long long)ns + e > 20) return -1;
    char text[32];
    memcpy(text, sig, ns);
    for (long long k = 0; k < e; k++) text[ns + (size_t)k] = '0';
    size_t tl = ns + (size_t)e;
    text[tl] = '\0';
    if (tl == 20 && strcmp(text, "18446744073709551615") > 0) return -1;
    *out = strtoull(text, NULL, 10);
    return 0;
}

static void check_number(const sr_json_value *v) {
    uint64_t got = 0, want = 0;
    int rc = sr_json_number_u64(v, UINT64_MAX, &got);
    int ref = ref_number_u64(v->p, v->len, &want);
    FUZZ_CHECK(rc == ref, "number_u64 of %.*s: %d, reference %d", (int)v->len, v->p, rc, ref);
    if (rc != 0) return;
    FUZZ_CHECK(got == want, "number_u64 of %.*s: %llu, reference %llu", (int)v->len, v->p,
               (unsigned long long)got, (unsigned long long)want);
    uint64_t again = 0;
    FUZZ_CHECK(sr_json_number_u64(v, got, &again) == 0 && again == got, "max == value refused");
    if (got > 0)
        FUZZ_CHECK(sr_json_number_u64(v, got - 1, &again) != 0, "max below value accepted");
}

/* Decodes a string value with the documented capacities; returns the
 * malloc'd text (NUL-terminated), its length and flags. */
static char *decode_string(const sr_json_value *v, size_t *len, unsigned *flags) {
    size_t cap = 3 * v->len + 1;
    char *out = malloc(cap);
    FUZZ_CHECK(out != NULL, "oom");
    ssize_t n = sr_json_string_decode(v, out, cap, flags);
    FUZZ_CHECK(n >= 0, "decode of a validated string failed: %.*s", (int)v->len, v->p);
    FUZZ_CHECK((size_t)n < cap && out[n] == '\0', "decode wrote %zd of %zu", n, cap);
    FUZZ_CHECK(utf8_valid((const unsigned char *)out, (size_t)n), "decoded string is not UTF-8");
    /* exactly n+1 bytes are needed */
    char *tight = malloc((size_t)n + 1);
    FUZZ_CHECK(tight != NULL, "oom");
    unsigned fl2 = 0;
    FUZZ_CHECK(sr_json_string_decode(v, tight, (size_t)n + 1, &fl2) == n, "decode with cap n+1");
    FUZZ_CHECK(memcmp(tight, out, (size_t)n + 1) == 0 && fl2 == *flags,
               "decode differs with cap n+1");
    FUZZ_CHECK(sr_json_string_decode(v, tight, (size_t)n, &fl2) == -1, "decode fit in n bytes");
    free(tight);
    FUZZ_CHECK(!(*flags & SR_JSON_S_NUL) == !memchr(out, '\0', (size_t)n), "NUL flag");
    size_t want_len = 0;
    unsigned want_flags = 0;
    unsigned char *want = ref_decode(v->p, v->len, &want_len, &want_flags);
    FUZZ_CHECK(want_len == (size_t)n && memcmp(want, out, want_len) == 0,
               "%.*s decodes to %zd bytes, JSON.parse would give %zu", (int)v->len, v->p, n,
               want_len);
    FUZZ_CHECK(want_flags == *flags, "%.*s: flags %#x, expected %#x", (int)v->len, v->p, *flags,
               want_flags);
    free(want);
    *len = (size_t)n;
    return out;
}

/* quote(s) is a JSON string literal that decodes to the UTF-8-repaired s;
 * measuring and writing agree, and a short buffer is left untouched. */
static void check_quote(const char *s, size_t len) {
    size_t need = sr_json_quote(s, len, NULL, 0);
    FUZZ_CHECK(need >= 2 && need <= 6 * len + 2, "quote needs %zu for %zu bytes", need, len);
    char *q = malloc(need + 1);
    FUZZ_CHECK(q != NULL, "oom");
    memset(q, 0x5A, need + 1);
    FUZZ_CHECK(sr_json_quote(s, len, q, need - 1) == need, "quote measure with short cap");
    for (size_t i = 0; i <= need; i++) FUZZ_CHECK(q[i] == 0x5A, "quote wrote into a short buffer");
    FUZZ_CHECK(sr_json_quote(s, len, q, need + 1) == need, "quote measure != write");
    FUZZ_CHECK(q[need] == 0x5A, "quote wrote past its length");
    sr_json_value v;
    unsigned vflags = 0;
    FUZZ_CHECK(sr_json_validate(q, need, 0, &v, &vflags, NULL) == 0,
               "quoted text is not JSON: %.*s", (int)need, q);
    FUZZ_CHECK(v.type == SR_JSON_STRING && v.p == q && v.len == need && vflags == 0,
               "quoted value");
    size_t rlen = 0;
    char *repaired = sr_json_utf8_repair(s, len, &rlen);
    FUZZ_CHECK(repaired != NULL, "oom");
    size_t dlen = 0;
    unsigned dflags = 0;
    char *decoded = decode_string(&v, &dlen, &dflags);
    FUZZ_CHECK(dlen == rlen && memcmp(decoded, repaired, rlen) == 0, "quote -> decode != repair");
    FUZZ_CHECK(!(dflags & (SR_JSON_S_LONE_SURROGATE | SR_JSON_S_INVALID_UTF8)),
               "quote left bad text");
    free(decoded);
    free(repaired);
    free(q);
}

typedef struct member {
    sr_json_value val;
    char *name; /* decoded; NULL when the name can never be looked up */
    size_t name_len;
} member;

static void walk(const sr_json_value *v, const char *base, size_t size, unsigned depth);

static void check_object_lookups(const sr_json_value *obj, member *m, size_t n) {
    /* one key per call, and all of them (up to 20) in one call */
    const char *keys[20];
    size_t nkeys = 0, key_member[20];
    /* every member is kept, so a duplicate past the checked ones still counts */
    for (size_t i = 0; i < n && i < MAX_LOOKUP_MEMBERS; i++) {
        if (!m[i].name) continue;
        size_t last = i;
        for (size_t j = i + 1; j < n; j++)
            if (m[j].name && m[j].name_len == m[i].name_len &&
                memcmp(m[j].name, m[i].name, m[i].name_len) == 0)
                last = j;
        sr_json_value got;
        const char *key = m[i].name;
        FUZZ_CHECK(sr_json_object_get(obj, &key, 1, &got) == 0, "object_get on an object");
        FUZZ_CHECK(got.type == m[last].val.type && got.p == m[last].val.p &&
                       got.len == m[last].val.len,
                   "object_get(\"%s\") is not the last member of that name", key);
        if (nkeys < 20) {
            keys[nkeys] = key;
            key_member[nkeys++] = last;
        }
    }
    if (nkeys == 0) return;
    sr_json_value got[20];
    FUZZ_CHECK(sr_json_object_get(obj, keys, nkeys, got) == 0, "object_get");
    for (size_t k = 0; k < nkeys; k++)
        FUZZ_CHECK(got[k].p == m[key_member[k]].val.p, "object_get with %zu keys, key %zu", nkeys,
                   k);
}

static void walk_children(const sr_json_value *v, const char *base, size_t size, unsigned depth) {
    sr_json_iter it;
    sr_json_iter_begin(v, &it);
    const char *prev_end = v->p + 1;
    const char *close = v->p + v->len - 1;
    if (v->type == SR_JSON_ARRAY) {
        sr_json_value e;
        while (sr_json_array_next(&it, &e)) {
            FUZZ_CHECK(e.p >= prev_end && e.p + e.len <= close, "element outside its array");
            walk(&e, base, size, depth + 1);
            prev_end = e.p + e.len;
        }
        FUZZ_CHECK(!sr_json_array_next(&it, &e), "array iteration restarted");
        for (const char *q = prev_end; q < close; q++)
            FUZZ_CHECK(is_ws((unsigned char)*q), "array tail");
        return;
    }
    member *m = NULL;
    size_t n = 0, cap = 0;
    sr_json_value k, val;
    while (sr_json_object_next(&it, &k, &val)) {
        FUZZ_CHECK(k.type == SR_JSON_STRING && k.p >= prev_end && k.p + k.len <= val.p &&
                       val.p + val.len <= close,
                   "member outside its object");
        walk(&k, base, size, depth + 1);
        walk(&val, base, size, depth + 1);
        prev_end = val.p + val.len;
        {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                m = realloc(m, cap * sizeof *m);
                FUZZ_CHECK(m != NULL, "oom");
            }
            unsigned fl = 0;
            size_t nl = 0;
            char *name = decode_string(&k, &nl, &fl);
            /* a NUL cannot be in a C key; a lone surrogate matches no UTF-8 key */
            if (fl & (SR_JSON_S_NUL | SR_JSON_S_LONE_SURROGATE)) {
                free(name);
                name = NULL;
            }
            m[n].val = val;
            m[n].name = name;
            m[n].name_len = nl;
            n++;
        }
    }
    FUZZ_CHECK(!sr_json_object_next(&it, &k, &val), "object iteration restarted");
    for (const char *q = prev_end; q < close; q++)
        FUZZ_CHECK(is_ws((unsigned char)*q), "object tail");
    check_object_lookups(v, m, n);
    for (size_t i = 0; i < n; i++) free(m[i].name);
    free(m);
    sr_json_value not_obj = {SR_JSON_ARRAY, "[]", 2}, out;
    const char *key = "x";
    FUZZ_CHECK(sr_json_object_get(&not_obj, &key, 1, &out) == -1, "object_get on an array");
}

static void walk(const sr_json_value *v, const char *base, size_t size, unsigned depth) {
    FUZZ_CHECK(fuzz_within(v->p, v->len, base, size) && v->len > 0, "span outside the text");
    FUZZ_CHECK(depth <= DEPTH, "walked deeper than the limit");
    /* the span is exactly one value */
    sr_json_value again;
    unsigned fl = 0;
    FUZZ_CHECK(sr_json_validate(v->p, v->len, DEPTH - depth, &again, &fl, NULL) == 0,
               "a span does not validate on its own: %.*s", (int)v->len, v->p);
    FUZZ_CHECK(again.type == v->type && again.p == v->p && again.len == v->len,
               "span re-validates differently");
    switch (v->type) {
    case SR_JSON_NULL: FUZZ_CHECK(v->len == 4 && !memcmp(v->p, "null", 4), "null"); break;
    case SR_JSON_TRUE: FUZZ_CHECK(v->len == 4 && !memcmp(v->p, "true", 4), "true"); break;
    case SR_JSON_FALSE: FUZZ_CHECK(v->len == 5 && !memcmp(v->p, "false", 5), "false"); break;
    case SR_JSON_NUMBER: check_number(v); break;
    case SR_JSON_STRING: {
        size_t n = 0;
        unsigned sf = 0;
        char *s = decode_string(v, &n, &sf);
        FUZZ_CHECK(!(sf & SR_JSON_S_INVALID_UTF8) == !(fl & SR_JSON_F_INVALID_UTF8),
                   "UTF-8 flags disagree");
        check_quote(s, n);
        free(s);
        break;
    }
    case SR_JSON_ARRAY:
    case SR_JSON_OBJECT: walk_children(v, base, size, depth); break;
    default: FUZZ_CHECK(0, "type %d", v->type);
    }
}

static const unsigned small_depths[4] = {0, 1, 2, 5};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    sr_json_value v, vs;
    unsigned flags = 0, flags_s = 0;
    sr_json_error err = {0}, err_s = {0};
    int rc = sr_json_validate(s, size, DEPTH, &v, &flags, &err);
    unsigned small = small_depths[size % 4];
    int rc_s = sr_json_validate(s, size, small, &vs, &flags_s, &err_s);

    if (rc != 0) {
        FUZZ_CHECK(rc == -1 && err.msg && err.offset <= size, "error report");
        FUZZ_CHECK(rc_s != 0, "accepted with depth %u, rejected with %u", small, DEPTH);
    } else {
        FUZZ_CHECK(fuzz_within(v.p, v.len, s, size) && v.len > 0, "top span");
        for (const char *q = s; q < v.p; q++)
            FUZZ_CHECK(is_ws((unsigned char)*q), "before the value");
        for (const char *q = v.p + v.len; q < s + size; q++)
            FUZZ_CHECK(is_ws((unsigned char)*q), "after");
    }
    if (rc_s == 0)
        FUZZ_CHECK(vs.type == v.type && vs.p == v.p && vs.len == v.len && flags_s == flags,
                   "depths disagree");
    else if (strcmp(err_s.msg, DEPTH_MSG) != 0)
        FUZZ_CHECK(rc != 0 && err.offset == err_s.offset && strcmp(err.msg, err_s.msg) == 0,
                   "error depends on the depth: '%s' at %zu, '%s' at %zu", err.msg, err.offset,
                   err_s.msg, err_s.offset);

    /* repair: valid, identity on valid UTF-8, idempotent, same verdict */
    size_t rlen = 0;
    char *rep = sr_json_utf8_repair(s, size, &rlen);
    FUZZ_CHECK(rep != NULL && rep[rlen] == '\0', "repair");
    FUZZ_CHECK(utf8_valid((const unsigned char *)rep, rlen), "repaired text is not UTF-8");
    FUZZ_CHECK(rlen <= 3 * size, "repair grew %zu to %zu", size, rlen);
    if (utf8_valid(data, size))
        FUZZ_CHECK(rlen == size && memcmp(rep, s, size) == 0, "repair changed valid UTF-8");
    size_t want_len = 0;
    unsigned char *want = ref_repair(data, size, &want_len);
    FUZZ_CHECK(want_len == rlen && memcmp(want, rep, rlen) == 0,
               "repair differs from the WHATWG decoder");
    free(want);
    size_t r2len = 0;
    char *rep2 = sr_json_utf8_repair(rep, rlen, &r2len);
    FUZZ_CHECK(rep2 && r2len == rlen && memcmp(rep2, rep, rlen) == 0, "repair is not idempotent");
    free(rep2);
    sr_json_value vr;
    unsigned flags_r = 0;
    int rc_r = sr_json_validate(rep, rlen, DEPTH, &vr, &flags_r, NULL);
    FUZZ_CHECK((rc == 0) == (rc_r == 0), "verdict %d, %d after repair", rc, rc_r);
    if (rc == 0) {
        FUZZ_CHECK(vr.type == v.type && flags_r == 0, "repaired value");
        if (!(flags & SR_JSON_F_INVALID_UTF8))
            FUZZ_CHECK(rlen == size, "accepted text needed a repair");
    }
    free(rep);

    check_quote(s, size);
    if (rc == 0) walk(&v, s, size, 0);
    return 0;
}
