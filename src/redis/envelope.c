/* SPDX-License-Identifier: MIT */
/*
 * envelope.c: encodes and checks the Redis envelope (see envelope.h).
 *
 * Encoding writes the keys in the reference's order with data and meta
 * copied verbatim, so a C node and a Node node produce the same bytes.
 * Decoding never builds a tree: the JSON scanner validates the payload
 * once and hands back spans; "data" is forwarded as its original text.
 * When a string in the payload holds invalid UTF-8 the whole payload is
 * first repaired the way Node decodes a Buffer, so what we forward is what
 * JSON.parse + JSON.stringify would have produced there.
 */
#include "redis/envelope.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"

/* ---------------------------------------------------------------- encode */

typedef struct outbuf {
    char *p;
    size_t cap;
    size_t len;
} outbuf;

static void put(outbuf *o, const char *s, size_t n) {
    if (o->len + n <= o->cap) memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_str(outbuf *o, const char *s) {
    put(o, s, strlen(s));
}

static void put_quoted(outbuf *o, const char *s) {
    size_t n = strlen(s);
    if (o->p && o->len <= o->cap) o->len += sr_json_quote(s, n, o->p + o->len, o->cap - o->len);
    else o->len += sr_json_quote(s, n, NULL, 0);
}

/* id_at NULL: msg's id (if any) is written; else msg->id is ignored, the id
 * is written as "" and *id_at is the offset between its quotes. dedup: the
 * multi-room de-duplication key, last (NULL or "": none). */
static size_t encode(const sr_message *msg, const char *node_id, const char *meta, size_t meta_len,
                     const char *dedup, char *out, size_t cap, size_t *id_at) {
    outbuf o = {out, out ? cap : 0, 0};
    const char *data = msg->data ? msg->data : "null";
    size_t data_len = !msg->data                  ? 4
                      : msg->data_len == SIZE_MAX ? strlen(msg->data)
                                                  : msg->data_len;
    put_str(&o, "{\"v\":1,\"m\":{");
    if (msg->event && *msg->event) {
        put_str(&o, "\"event\":");
        put_quoted(&o, msg->event);
        put_str(&o, ",");
    }
    put_str(&o, "\"data\":");
    put(&o, data, data_len);
    if (id_at) {
        put_str(&o, ",\"id\":\"");
        *id_at = o.len;
        put_str(&o, "\"");
    } else if (msg->id && *msg->id) {
        put_str(&o, ",\"id\":");
        put_quoted(&o, msg->id);
    }
    if (msg->retry > 0) {
        char num[24];
        int n = snprintf(num, sizeof num, ",\"retry\":%u", (unsigned)msg->retry);
        put(&o, num, (size_t)n);
    }
    put_str(&o, "},\"n\":");
    put_quoted(&o, node_id ? node_id : "");
    if (meta && meta_len > 0) {
        put_str(&o, ",\"meta\":");
        put(&o, meta, meta_len);
    }
    if (dedup && *dedup) {
        put_str(&o, ",\"dedup\":");
        put_quoted(&o, dedup);
    }
    put_str(&o, "}");
    return o.len;
}

size_t sr_envelope_encode(const sr_message *msg, const char *node_id, const char *meta,
                          size_t meta_len, char *out, size_t cap) {
    return encode(msg, node_id, meta, meta_len, NULL, out, cap, NULL);
}

char *sr_envelope_encode_id_slot(const sr_message *msg, const char *node_id, const char *meta,
                                 size_t meta_len, size_t *out_len, size_t *id_at) {
    size_t need = encode(msg, node_id, meta, meta_len, NULL, NULL, 0, id_at);
    char *buf = malloc(need + 1);
    if (!buf) return NULL;
    encode(msg, node_id, meta, meta_len, NULL, buf, need, id_at);
    buf[need] = '\0';
    *out_len = need;
    return buf;
}

char *sr_envelope_encode_alloc(const sr_message *msg, const char *node_id, const char *meta,
                               size_t meta_len, size_t *out_len) {
    return sr_envelope_encode_dedup(msg, node_id, meta, meta_len, NULL, out_len);
}

char *sr_envelope_encode_dedup(const sr_message *msg, const char *node_id, const char *meta,
                               size_t meta_len, const char *dedup, size_t *out_len) {
    size_t need = encode(msg, node_id, meta, meta_len, dedup, NULL, 0, NULL);
    char *buf = malloc(need + 1);
    if (!buf) return NULL;
    encode(msg, node_id, meta, meta_len, dedup, buf, need, NULL);
    buf[need] = '\0';
    if (out_len) *out_len = need;
    return buf;
}

/* ---------------------------------------------------------------- decode */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void) {
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* JSON.parse value semantics: 1, 1.0, 1e0 and 1.00000000000000000001 all
 * are the double 1. strtod_l in the C locale rounds exactly as V8 does. */
static int number_is_one(const sr_json_value *v) {
    char small[64];
    char *buf = v->len < sizeof small ? small : malloc(v->len + 1);
    if (!buf) return 0;
    memcpy(buf, v->p, v->len);
    buf[v->len] = '\0';
    pthread_once(&c_locale_once, make_c_locale);
    double d = c_locale ? strtod_l(buf, NULL, c_locale) : strtod(buf, NULL);
    if (buf != small) free(buf);
    return d == 1.0;
}

/* The text JavaScript's String(n) gives for the number whose JSON text is
 * v (ECMAScript Number::toString: the shortest digits that read back as the
 * same double, plain from 1e-6 up to 1e21, exponent form outside): "5" for
 * 5, 5.0 and 5e0, "1e+21", "1.5e-7", "0" for -0, "Infinity" for 1e400.
 * Writes at most 32 bytes and a NUL into out; returns the length. */
static size_t js_number_text(const sr_json_value *v, char *out) {
    char small[64];
    char *buf = v->len < sizeof small ? small : malloc(v->len + 1);
    if (!buf) return 0;
    memcpy(buf, v->p, v->len);
    buf[v->len] = '\0';
    pthread_once(&c_locale_once, make_c_locale);
    double d = c_locale ? strtod_l(buf, NULL, c_locale) : strtod(buf, NULL);
    if (buf != small) free(buf);
    if (isinf(d)) return (size_t)snprintf(out, 33, "%s", d < 0 ? "-Infinity" : "Infinity");
    if (d == 0) return (size_t)snprintf(out, 33, "0");
    /* the shortest %.*e that reads back as d; printed in the C locale */
    char e[40];
    locale_t prev = c_locale ? uselocale(c_locale) : (locale_t)0;
    for (int prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, d);
        if ((c_locale ? strtod_l(e, NULL, c_locale) : strtod(e, NULL)) == d) break;
    }
    if (prev) uselocale(prev);
    /* e is [-]D[.DDD]e(+|-)X: the digits, then n, the position of the
     * decimal point counted from the first digit */
    char digits[24];
    size_t k = 0, o = 0;
    const char *p = e;
    if (*p == '-') out[o++] = *p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0') k--;
    long n = strtol(p + 1, NULL, 10) + 1;
    if ((long)k <= n && n <= 21) {
        memcpy(out + o, digits, k), o += k;
        for (long i = (long)k; i < n; i++) out[o++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(out + o, digits, (size_t)n), o += (size_t)n;
        out[o++] = '.';
        memcpy(out + o, digits + n, k - (size_t)n), o += k - (size_t)n;
    } else if (-6 < n && n <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (long i = n; i < 0; i++) out[o++] = '0';
        memcpy(out + o, digits, k), o += k;
    } else {
        out[o++] = digits[0];
        if (k > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, k - 1), o += k - 1;
        }
        o += (size_t)snprintf(out + o, 8, "e%c%ld", n - 1 < 0 ? '-' : '+', labs(n - 1));
    }
    out[o] = '\0';
    return o;
}

/* Decodes an optional string member into *dst (NULL when absent or empty).
 * Returns 0, or -1 when present but not a string or holding CR, LF or NUL
 * (which would inject SSE fields or be cut short). With allow_number a
 * number is taken too, as the text JavaScript prints for it (the reference
 * writes `id: ${id}`, so "id":5 is the id "5"). */
static int take_string(const sr_json_value *v, char **cursor, const char **dst, size_t *dst_len,
                       int forbid_newlines, int allow_number) {
    *dst = NULL;
    if (dst_len) *dst_len = 0;
    if (v->type == SR_JSON_NONE) return 0;
    if (allow_number && v->type == SR_JSON_NUMBER) {
        size_t n = js_number_text(v, *cursor);
        if (n == 0) return -1;
        *dst = *cursor;
        if (dst_len) *dst_len = n;
        *cursor += n + 1;
        return 0;
    }
    if (v->type != SR_JSON_STRING) return -1;
    unsigned flags = 0;
    ssize_t n = sr_json_string_decode(v, *cursor, 3 * v->len + 1, &flags);
    if (n < 0 || (flags & SR_JSON_S_NUL)) return -1;
    if (forbid_newlines && memchr(*cursor, '\n', (size_t)n)) return -1;
    if (forbid_newlines && memchr(*cursor, '\r', (size_t)n)) return -1;
    if (n > 0 || !forbid_newlines) *dst = *cursor;
    if (dst_len) *dst_len = (size_t)n;
    *cursor += (size_t)n + 1;
    return 0;
}

sr_envelope_status sr_envelope_decode(const char *payload, size_t len, unsigned max_depth,
                                      sr_envelope *out) {
    memset(out, 0, sizeof *out);
    sr_json_value root;
    unsigned flags = 0;
    if (sr_json_validate(payload, len, max_depth, &root, &flags, NULL) != 0)
        return SR_ENVELOPE_INVALID_JSON;
    char *repaired = NULL;
    if (flags & SR_JSON_F_INVALID_UTF8) {
        size_t rlen = 0;
        repaired = sr_json_utf8_repair(payload, len, &rlen);
        if (!repaired) return SR_ENVELOPE_NOMEM;
        if (sr_json_validate(repaired, rlen, max_depth, &root, &flags, NULL) != 0) {
            free(repaired);
            return SR_ENVELOPE_INVALID_JSON;
        }
    }
    sr_envelope_status st = SR_ENVELOPE_OK;
    char *strings = NULL;
    static const char *const top_keys[] = {"v", "m", "n", "meta", "dedup"};
    static const char *const msg_keys[] = {"data", "event", "id", "retry"};
    sr_json_value top[5], m[4];
    if (root.type != SR_JSON_OBJECT) {
        st = SR_ENVELOPE_NOT_OBJECT;
        goto done;
    }
    sr_json_object_get(&root, top_keys, 5, top);
    if (top[0].type != SR_JSON_NUMBER || !number_is_one(&top[0])) {
        st = SR_ENVELOPE_BAD_VERSION;
        goto done;
    }
    st = SR_ENVELOPE_BAD_FIELDS;
    if (top[1].type != SR_JSON_OBJECT || top[2].type != SR_JSON_STRING) goto done;
    sr_json_object_get(&top[1], msg_keys, 4, m);
    if (m[0].type == SR_JSON_NONE) goto done;
    uint64_t retry = 0;
    if (m[3].type != SR_JSON_NONE &&
        (m[3].type != SR_JSON_NUMBER || sr_json_number_u64(&m[3], UINT32_MAX, &retry) != 0))
        goto done;
    /* a key that is no string is ignored: the reference ignores the member */
    if (top[4].type != SR_JSON_STRING) top[4].type = SR_JSON_NONE;
    /* decoded strings grow at most 3x (\uXXXX of a lone surrogate); a
     * number's JavaScript text takes at most 32 bytes */
    size_t need = 3 * (m[1].len + m[2].len + top[2].len + top[4].len) + 2 * 33 + 4;
    strings = malloc(need);
    if (!strings) {
        st = SR_ENVELOPE_NOMEM;
        goto done;
    }
    char *cursor = strings;
    if (take_string(&m[1], &cursor, &out->msg.event, NULL, 1, 1) != 0) goto done;
    if (take_string(&m[2], &cursor, &out->msg.id, NULL, 1, 1) != 0) goto done;
    if (take_string(&top[2], &cursor, &out->node_id, &out->node_id_len, 0, 0) != 0) goto done;
    /* a key with CR, LF or NUL is as good as none: it only de-duplicates */
    if (take_string(&top[4], &cursor, &out->dedup, &out->dedup_len, 1, 0) != 0) {
        out->dedup = NULL;
        out->dedup_len = 0;
    }
    out->msg.data = m[0].p;
    out->msg.data_len = m[0].len;
    out->msg.retry = (uint32_t)retry;
    if (top[3].type != SR_JSON_NONE) {
        out->meta = top[3].p;
        out->meta_len = top[3].len;
    }
    out->repaired = repaired;
    out->strings = strings;
    return SR_ENVELOPE_OK;
done:
    free(strings);
    free(repaired);
    memset(out, 0, sizeof *out);
    return st;
}

void sr_envelope_release(sr_envelope *env) {
    if (!env) return;
    free(env->repaired);
    free(env->strings);
    memset(env, 0, sizeof *env);
}

const char *sr_envelope_status_name(sr_envelope_status st) {
    switch (st) {
    case SR_ENVELOPE_OK: return "ok";
    case SR_ENVELOPE_INVALID_JSON: return "invalid_json";
    case SR_ENVELOPE_NOT_OBJECT: return "not_object";
    case SR_ENVELOPE_BAD_VERSION: return "bad_version";
    case SR_ENVELOPE_BAD_FIELDS: return "bad_fields";
    case SR_ENVELOPE_NOMEM: return "nomem";
    }
    return "unknown";
}
