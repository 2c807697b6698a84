/* SPDX-License-Identifier: MIT */
/*
 * srt_json.c: a tiny strict JSON reader for the tests (see srt_json.h).
 * Values are found by skipping over text with a recursive descent that only
 * validates; nothing is converted except the few integers and strings the
 * tests ask for.
 */
#include "srt_json.h"

#include <stdlib.h>
#include <string.h>

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static const char *skip_string(const char *p, const char *e) {
    if (p >= e || *p != '"') return NULL;
    for (p++; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;
        if (c == '\\') {
            if (++p >= e) return NULL;
            if (*p == 'u') {
                for (int i = 0; i < 4; i++) {
                    if (++p >= e || hexval(*p) < 0) return NULL;
                }
            } else if (!strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return NULL;
}

static const char *skip_digits(const char *p, const char *e) {
    const char *s = p;
    while (p < e && *p >= '0' && *p <= '9') p++;
    return p == s ? NULL : p;
}

static const char *skip_number(const char *p, const char *e) {
    if (p < e && *p == '-') p++;
    if (p < e && *p == '0') p++;
    else if (!(p = skip_digits(p, e))) return NULL;
    if (p < e && *p == '.' && !(p = skip_digits(p + 1, e))) return NULL;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (!(p = skip_digits(p, e))) return NULL;
    }
    return p;
}

static const char *skip_value(const char *p, const char *e, int depth) {
    p = ws(p, e);
    if (p >= e || depth > 64) return NULL;
    switch (*p) {
    case '"': return skip_string(p, e);
    case '{':
    case '[': {
        char close = *p == '{' ? '}' : ']';
        bool object = *p == '{';
        p = ws(p + 1, e);
        if (p < e && *p == close) return p + 1;
        for (;;) {
            if (object) {
                if (!(p = skip_string(ws(p, e), e))) return NULL;
                p = ws(p, e);
                if (p >= e || *p != ':') return NULL;
                p++;
            }
            if (!(p = skip_value(p, e, depth + 1))) return NULL;
            p = ws(p, e);
            if (p < e && *p == ',') {
                p++;
                continue;
            }
            if (p < e && *p == close) return p + 1;
            return NULL;
        }
    }
    case 't': return e - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f': return e - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n': return e - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default: return skip_number(p, e);
    }
}

bool srt_json_valid(const char *s, size_t len) {
    const char *e = s + len;
    const char *p = skip_value(s, e, 0);
    return p && ws(p, e) == e;
}

bool srt_json_member(const char *json, size_t len, const char *key, const char **val,
                     size_t *vlen) {
    if (!json || !srt_json_valid(json, len)) return false;
    const char *e = json + len;
    const char *p = ws(json, e);
    if (*p != '{') return false;
    p = ws(p + 1, e);
    size_t klen = strlen(key);
    while (p < e && *p == '"') {
        const char *kend = skip_string(p, e);
        bool match = (size_t)(kend - p) == klen + 2 && memcmp(p + 1, key, klen) == 0;
        p = ws(kend, e) + 1; /* past ':' */
        const char *vstart = ws(p, e);
        const char *vend = skip_value(vstart, e, 0);
        if (match) {
            *val = vstart;
            *vlen = (size_t)(vend - vstart);
            return true;
        }
        p = ws(vend, e);
        if (*p == ',') p = ws(p + 1, e);
    }
    return false;
}

bool srt_json_int(const char *json, const char *key, long long *out) {
    const char *v;
    size_t n;
    if (!srt_json_member(json, strlen(json), key, &v, &n) || n == 0 || n > 19) return false;
    char tmp[24];
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    char *end;
    long long x = strtoll(tmp, &end, 10);
    if (*end != '\0') return false;
    *out = x;
    return true;
}

char *srt_json_string(const char *json, const char *key) {
    const char *v;
    size_t n;
    if (!srt_json_member(json, strlen(json), key, &v, &n) || n < 2 || v[0] != '"') return NULL;
    char *out = malloc(n);
    if (!out) abort();
    size_t k = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        char c = v[i];
        if (c != '\\') {
            out[k++] = c;
            continue;
        }
        c = v[++i];
        switch (c) {
        case 'n': out[k++] = '\n'; break;
        case 't': out[k++] = '\t'; break;
        case 'r': out[k++] = '\r'; break;
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case 'u': {
            int cp = 0;
            for (int j = 0; j < 4; j++) cp = cp * 16 + hexval(v[++i]);
            out[k++] = cp > 0 && cp < 0x80 ? (char)cp : '?';
            break;
        }
        default: out[k++] = c; break;
        }
    }
    out[k] = '\0';
    return out;
}

bool srt_json_array_elem(const char *val, size_t vlen, size_t idx, const char **elem,
                         size_t *elen) {
    const char *e = val + vlen;
    const char *p = ws(val, e);
    if (p >= e || *p != '[' || !skip_value(p, e, 0)) return false;
    p = ws(p + 1, e);
    if (*p == ']') return false;
    for (size_t i = 0;; i++) {
        const char *end = skip_value(p, e, 0);
        if (i == idx) {
            *elem = p;
            *elen = (size_t)(end - p);
            return true;
        }
        p = ws(end, e);
        if (*p != ',') return false;
        p = ws(p + 1, e);
    }
}

/* Calls back for each room entry; returns the entry count or -1. */
static long long rooms_scan(const char *rooms_json, const char *room, long long *members) {
    const char *arr;
    size_t alen;
    if (!rooms_json || !srt_json_member(rooms_json, strlen(rooms_json), "rooms", &arr, &alen))
        return -1;
    long long count = 0;
    const char *el;
    size_t elen;
    for (size_t i = 0; srt_json_array_elem(arr, alen, i, &el, &elen); i++) {
        char *copy = malloc(elen + 1);
        if (!copy) abort();
        memcpy(copy, el, elen);
        copy[elen] = '\0';
        char *name = srt_json_string(copy, "name");
        long long m;
        bool ok = name && srt_json_int(copy, "members", &m);
        if (ok && room && strcmp(name, room) == 0) *members = m;
        free(name);
        free(copy);
        if (!ok) return -1;
        count++;
    }
    return count;
}

long long srt_rooms_members(const char *rooms_json, const char *room) {
    long long members = 0;
    if (rooms_scan(rooms_json, room, &members) < 0) return -1;
    return members;
}

long long srt_rooms_count(const char *rooms_json) {
    return rooms_scan(rooms_json, NULL, NULL);
}
