/* SPDX-License-Identifier: MIT */
/*
 * json.c: sr_json_validate, the validating scanner (see json.h).
 *
 * A goto state machine over the bytes, one pass, no recursion. The only
 * memory it keeps per open container is one bit (array or object), held
 * in a 64 Ki-level bit stack in the frame; a heap bit stack is used only
 * when nesting goes deeper than that and max_depth allows it. max_depth
 * is checked before a container is opened, so a flood of '[' stops at
 * max_depth + 1 bytes.
 *
 * String bodies are skipped eight bytes at a time (a SWAR test for '"',
 * '\\', bytes below 0x20 and bytes from 0x80), then byte by byte through a
 * class table; non-ASCII is checked with the shared UTF-8 classifier and
 * invalid sequences are only flagged, because JSON.parse sees U+FFFD
 * there and accepts it. Outside strings any byte from 0x80 is rejected
 * (its U+FFFD, or U+00A0 / U+2028 / U+FEFF, are not JSON whitespace).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "json/json_utf8.h"

/* Bit-stack levels kept in the frame (8 KiB). */
#define INLINE_LEVELS 65536u

enum { C_PLAIN = 0, C_QUOTE, C_BACKSLASH, C_CONTROL, C_HIGH };

#define X8(c) c, c, c, c, c, c, c, c
/* Byte classes inside a string body. */
static const unsigned char string_class[256] = {
    /* raw control characters are not allowed in JSON strings */
    X8(C_CONTROL),        X8(C_CONTROL),       X8(C_CONTROL), X8(C_CONTROL), ['"'] = C_QUOTE,
    ['\\'] = C_BACKSLASH, [0x80] = X8(C_HIGH), X8(C_HIGH),    X8(C_HIGH),    X8(C_HIGH),
    X8(C_HIGH),           X8(C_HIGH),          X8(C_HIGH),    X8(C_HIGH),    X8(C_HIGH),
    X8(C_HIGH),           X8(C_HIGH),          X8(C_HIGH),    X8(C_HIGH),    X8(C_HIGH),
    X8(C_HIGH),           X8(C_HIGH),
};
#undef X8

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Whether any of the eight bytes in x is '"', '\\', below 0x20 or from
 * 0x80 (the classic has-zero / has-less tricks, exact as a yes/no). */
static inline int any_special(uint64_t x) {
    uint64_t below_space = (x - ONES * 0x20) & ~x;
    uint64_t q = x ^ (ONES * '"');
    uint64_t is_quote = (q - ONES) & ~q;
    uint64_t b = x ^ (ONES * '\\');
    uint64_t is_backslash = (b - ONES) & ~b;
    return ((below_space | is_quote | is_backslash | x) & HIGHS) != 0;
}

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

static inline int is_digit(unsigned c) {
    return c - '0' < 10u;
}

static inline int is_hex(unsigned c) {
    return c - '0' < 10u || (c | 0x20u) - 'a' < 6u;
}

/* p is at an opening quote. Returns the byte after the closing quote, or
 * NULL with *at / *msg describing the error. */
static const unsigned char *scan_string(const unsigned char *p, const unsigned char *end,
                                        unsigned *flags, const unsigned char **at,
                                        const char **msg) {
    const unsigned char *open = p++;
    for (;;) {
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            if (any_special(x)) break;
            p += 8;
        }
        while (p < end && string_class[*p] == C_PLAIN) p++;
        if (p == end) {
            *at = open;
            *msg = "unterminated string";
            return NULL;
        }
        switch (string_class[*p]) {
        case C_QUOTE: return p + 1;
        case C_BACKSLASH:
            if (end - p < 2) {
                *at = open;
                *msg = "unterminated string";
                return NULL;
            }
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't': p += 2; break;
            case 'u':
                for (int i = 2; i < 6; i++) {
                    if (end - p <= i) {
                        *at = open;
                        *msg = "unterminated string";
                        return NULL;
                    }
                    if (!is_hex(p[i])) {
                        *at = p + i;
                        *msg = "bad \\u escape (needs 4 hex digits)";
                        return NULL;
                    }
                }
                p += 6;
                break;
            default:
                *at = p + 1;
                *msg = "bad escape in string";
                return NULL;
            }
            break;
        case C_CONTROL:
            *at = p;
            *msg = "control character in string";
            return NULL;
        default: { /* C_HIGH */
            size_t subpart;
            size_t n = sr_json_utf8_seq(p, end, &subpart);
            if (n) {
                p += n;
            } else {
                *flags |= SR_JSON_F_INVALID_UTF8;
                p += subpart;
            }
            break;
        }
        }
    }
}

/* p is at '-' or a digit. Returns the byte after the number, or NULL with
 * *at set to the offending byte. */
static const unsigned char *scan_number(const unsigned char *p, const unsigned char *end,
                                        const unsigned char **at) {
    if (*p == '-') p++;
    if (p == end || !is_digit(*p)) goto bad;
    if (*p == '0') {
        p++;
    } else {
        while (p < end && is_digit(*p)) p++;
    }
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p)) goto bad;
        while (p < end && is_digit(*p)) p++;
    }
    if (p < end && (*p | 0x20) == 'e') {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p == end || !is_digit(*p)) goto bad;
        while (p < end && is_digit(*p)) p++;
    }
    return p;
bad:
    *at = p;
    return NULL;
}

/* The array/object kind of every open container, one bit each. */
typedef struct kind_stack {
    uint64_t *bits;
    size_t cap; /* levels */
    uint64_t *heap;
} kind_stack;

/* Makes room for level `depth` (0-based). */
static int kind_stack_reserve(kind_stack *ks, size_t depth, size_t max_depth) {
    if (depth < ks->cap) return 0;
    size_t want = ks->cap * 2;
    if (want > max_depth) want = max_depth;
    want = (want + 63) & ~(size_t)63;
    uint64_t *grown = realloc(ks->heap, want / 8);
    if (!grown) return -1;
    if (!ks->heap) memcpy(grown, ks->bits, ks->cap / 8);
    ks->heap = ks->bits = grown;
    ks->cap = want;
    return 0;
}

int sr_json_validate(const char *s, size_t len, unsigned max_depth, sr_json_value *out,
                     unsigned *flags, sr_json_error *err) {
    uint64_t inline_bits[INLINE_LEVELS / 64];
    kind_stack ks = {inline_bits, INLINE_LEVELS, NULL};
    const unsigned char *p, *end, *base, *start, *at = NULL;
    const char *msg = NULL;
    size_t depth = 0;
    unsigned fl = 0;

    if (!s) {
        if (len) {
            msg = "no input";
            goto fail_at_start;
        }
        s = "";
    }
    base = (const unsigned char *)s;
    end = base + len;
    p = skip_ws(base, end);
    if (p == end) {
        msg = "empty input";
        at = end;
        goto fail;
    }
    start = p;

value: /* p < end, not whitespace */
    switch (*p) {
    case '{':
    case '[': {
        if (depth >= max_depth) {
            at = p;
            msg = "nesting deeper than the limit";
            goto fail;
        }
        if (kind_stack_reserve(&ks, depth, max_depth) != 0) {
            at = p;
            msg = "out of memory";
            goto fail;
        }
        int is_object = *p == '{';
        uint64_t bit = UINT64_C(1) << (depth & 63);
        if (is_object) ks.bits[depth >> 6] |= bit;
        else ks.bits[depth >> 6] &= ~bit;
        depth++;
        p = skip_ws(p + 1, end);
        if (p == end) goto fail_end;
        if (*p == (is_object ? '}' : ']')) {
            p++;
            depth--;
            goto after_value;
        }
        if (is_object) goto member_key;
        goto value;
    }
    case '"':
        p = scan_string(p, end, &fl, &at, &msg);
        if (!p) goto fail;
        goto after_value;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        p = scan_number(p, end, &at);
        if (!p) {
            msg = at == end ? "unexpected end of input" : "bad number";
            goto fail;
        }
        goto after_value;
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0) goto bad_literal;
        p += 4;
        goto after_value;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0) goto bad_literal;
        p += 5;
        goto after_value;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0) goto bad_literal;
        p += 4;
        goto after_value;
    default:
        at = p;
        msg = p == base && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0
                  ? "unexpected character (a UTF-8 byte order mark)"
                  : "unexpected character";
        goto fail;
    }

member_key: /* p < end, not whitespace, inside an object */
    if (*p != '"') {
        at = p;
        msg = "expected a string (member name)";
        goto fail;
    }
    p = scan_string(p, end, &fl, &at, &msg);
    if (!p) goto fail;
    p = skip_ws(p, end);
    if (p == end) goto fail_end;
    if (*p != ':') {
        at = p;
        msg = "expected ':' after a member name";
        goto fail;
    }
    p = skip_ws(p + 1, end);
    if (p == end) goto fail_end;
    goto value;

after_value:
    if (depth == 0) goto done;
    p = skip_ws(p, end);
    if (p == end) goto fail_end;
    {
        size_t top = depth - 1;
        int in_object = (int)((ks.bits[top >> 6] >> (top & 63)) & 1);
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            if (p == end) goto fail_end;
            if (in_object) goto member_key;
            goto value;
        }
        if (*p == (in_object ? '}' : ']')) {
            p++;
            depth--;
            goto after_value;
        }
        at = p;
        msg = in_object ? "expected ',' or '}'" : "expected ',' or ']'";
        goto fail;
    }

done : {
    const unsigned char *value_end = p;
    p = skip_ws(p, end);
    if (p != end) {
        at = p;
        msg = "trailing characters";
        goto fail;
    }
    free(ks.heap);
    if (out) {
        static const sr_json_type type_of_first[256] = {
            ['{'] = SR_JSON_OBJECT, ['['] = SR_JSON_ARRAY,  ['"'] = SR_JSON_STRING,
            ['-'] = SR_JSON_NUMBER, ['0'] = SR_JSON_NUMBER, ['1'] = SR_JSON_NUMBER,
            ['2'] = SR_JSON_NUMBER, ['3'] = SR_JSON_NUMBER, ['4'] = SR_JSON_NUMBER,
            ['5'] = SR_JSON_NUMBER, ['6'] = SR_JSON_NUMBER, ['7'] = SR_JSON_NUMBER,
            ['8'] = SR_JSON_NUMBER, ['9'] = SR_JSON_NUMBER, ['t'] = SR_JSON_TRUE,
            ['f'] = SR_JSON_FALSE,  ['n'] = SR_JSON_NULL,
        };
        out->type = type_of_first[*start];
        out->p = (const char *)start;
        out->len = (size_t)(value_end - start);
    }
    if (flags) *flags = fl;
    return 0;
}

bad_literal:
    at = p;
    msg = "unexpected character";
    goto fail;
fail_end:
    at = end;
    msg = "unexpected end of input";
fail:
    free(ks.heap);
    if (err) {
        err->offset = (size_t)(at - base);
        err->msg = msg;
    }
    return -1;
fail_at_start:
    if (err) {
        err->offset = 0;
        err->msg = msg;
    }
    return -1;
}
