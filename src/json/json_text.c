/*
 * json_text.c: producing text: sr_json_quote (JSON.stringify's string
 * escaping) and sr_json_utf8_repair (Node's UTF-8 decoding, invalid
 * sequences replaced by U+FFFD).
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

/* One pass of sr_json_quote: writes to out when it is not NULL. */
static size_t quote_pass(const unsigned char *p, const unsigned char *end, unsigned char *out) {
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
                if (out) memcpy(out + n, (const char[]){'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}, 6);
                n += 6;
            }
            p++;
        } else {
            size_t subpart, len = sr_json_utf8_seq(p, end, &subpart);
            if (len) {
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

size_t sr_json_quote(const char *s, size_t len, char *out, size_t cap) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    if (!s) len = 0;
    size_t need = quote_pass(p, p + len, NULL);
    if (out && need <= cap) quote_pass(p, p + len, (unsigned char *)out);
    return need;
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
