/* SPDX-License-Identifier: MIT */
/*
 * json.h: a validating JSON scanner that never builds a tree.
 *
 * It accepts exactly what JavaScript's JSON.parse accepts (after the bytes
 * are decoded as UTF-8 with replacement of invalid sequences, which is what
 * the Node reference does with an HTTP body or a Redis payload) and rejects
 * the rest. Values are returned as spans of the original text, so `data`
 * is forwarded byte for byte and never re-printed. The scanner is
 * iterative (no recursion); nesting deeper than a caller-given limit is
 * rejected with a clear error.
 *
 * Pure code: no I/O, no allocation except sr_json_utf8_repair (and
 * sr_json_validate's bit stack once nesting passes 65536 levels, which
 * only a max_depth above that allows).
 */
#ifndef SR_JSON_H
#define SR_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum sr_json_type {
    SR_JSON_NONE = 0, /* absent (lookup found nothing) */
    SR_JSON_NULL,
    SR_JSON_FALSE,
    SR_JSON_TRUE,
    SR_JSON_NUMBER,
    SR_JSON_STRING,
    SR_JSON_ARRAY,
    SR_JSON_OBJECT
} sr_json_type;

/* A value: its type and the span of its text (strings include quotes,
 * containers their brackets). Spans point into the caller's buffer. */
typedef struct sr_json_value {
    sr_json_type type;
    const char *p;
    size_t len;
} sr_json_value;

/* Why a text was rejected: a static message and the byte offset. */
typedef struct sr_json_error {
    size_t offset;
    const char *msg; /* e.g. "unexpected character", "unterminated string",
                        "nesting deeper than the limit", "trailing characters",
                        "empty input" */
} sr_json_error;

/* Result flags of sr_json_validate. */
/* Kept as written: clang-format 14 folds a multi-line comment into the macro. */
/* clang-format off */
#define SR_JSON_F_INVALID_UTF8 0x1u /* a string holds invalid UTF-8: the text
                                       must go through sr_json_utf8_repair to
                                       match what JSON.parse+stringify give */
/* clang-format on */

/* Validates that s[0..len) is exactly one JSON value with optional JSON
 * whitespace (space, \t, \n, \r) around it. On success returns 0, fills *out
 * with the value's type and span (without the surrounding whitespace) and
 * *flags (may be NULL). On failure returns -1 and fills *err (may be NULL).
 * A UTF-8 BOM is rejected, as JSON.parse rejects U+FEFF. Invalid UTF-8
 * outside strings is rejected; inside strings it is accepted (flagged).
 * max_depth is the most containers that may be open at once: a top-level
 * [] or {} is depth 1, [[]] depth 2; max_depth 0 allows scalars only.
 * Deeper text fails with "nesting deeper than the limit" at the offset of
 * the first bracket too many. */
int sr_json_validate(const char *s, size_t len, unsigned max_depth, sr_json_value *out,
                     unsigned *flags, sr_json_error *err);

/* Looks up members of a validated object. For each keys[i] (UTF-8, compared
 * with the member names after their escapes are decoded) out[i] receives the
 * value of the LAST member with that name (JSON.parse semantics), or type
 * SR_JSON_NONE. Returns -1 if obj is not an object, else 0. */
int sr_json_object_get(const sr_json_value *obj, const char *const *keys, size_t nkeys,
                       sr_json_value *out);

/* Iteration over a validated array or object. */
typedef struct sr_json_iter {
    const char *p;
    const char *end;
} sr_json_iter;

void sr_json_iter_begin(const sr_json_value *container, sr_json_iter *it);
/* Next array element: 1 and *out filled, or 0 at the end. */
int sr_json_array_next(sr_json_iter *it, sr_json_value *out);
/* Next object member: 1 and *key (a string span) and *val filled, or 0. */
int sr_json_object_next(sr_json_iter *it, sr_json_value *key, sr_json_value *val);

/* Flags of sr_json_string_decode. */
#define SR_JSON_S_NUL 0x1u            /* contains U+0000 */
#define SR_JSON_S_LONE_SURROGATE 0x2u /* a lone surrogate escape, written as U+FFFD */
#define SR_JSON_S_INVALID_UTF8 0x4u   /* invalid raw UTF-8, written as U+FFFD */
#define SR_JSON_S_CONTROL 0x8u        /* contains a character below U+0020 */

/* Decodes a validated string value (quotes included) into UTF-8 at out,
 * NUL-terminated. Lone surrogates and invalid UTF-8 become U+FFFD (what
 * Node writes for them) and are flagged. Needs cap >= str->len + 1 (the
 * decoded text is never longer than the escaped one... except invalid bytes,
 * so cap >= 3 * str->len + 1 is always enough). Returns the decoded length,
 * or -1 if cap is too small or str is not a string. */
ssize_t sr_json_string_decode(const sr_json_value *str, char *out, size_t cap, unsigned *flags);

/* Integer value of a number span. 0 and *out set when the number is an
 * integer (no fraction or exponent, or one that still gives an integer, as
 * 5e3) within [0, max]; -1 otherwise. The test is on the exact decimal
 * value of the text (1.0 and 0.5e1 are integers, 1.5 and 1e-1 are not;
 * 18446744073709551615 is UINT64_MAX), and -0 counts as 0. */
int sr_json_number_u64(const sr_json_value *num, uint64_t max, uint64_t *out);

/* Writes s[0..len) (UTF-8) as a JSON string literal exactly as
 * JSON.stringify writes it: \" \\ \b \f \n \r \t, other characters below
 * U+0020 as \u00xx (lower-case hex), invalid UTF-8 sequences as U+FFFD
 * (as sr_json_utf8_repair: what the Node string holds), everything else
 * verbatim. Returns the number of bytes the literal needs; writes it
 * (all of it, no NUL) only when it fits in cap, so the caller may call
 * with cap 0 to measure. */
size_t sr_json_quote(const char *s, size_t len, char *out, size_t cap);

/* sr_json_quote, and also the C1 controls (U+0080-U+009F: U+009B is a
 * terminal's CSI) and the bidi embeddings, overrides and isolates
 * (U+202A-U+202E, U+2066-U+2069) as \u escapes (lower-case hex), so that
 * client text the server echoes (a room name in an error body) can neither
 * drive a terminal nor reorder what a reader sees. Still JSON for the same
 * string. Messages keep sr_json_quote: their bytes must be Node's. */
size_t sr_json_quote_inert(const char *s, size_t len, char *out, size_t cap);

/* Returns a malloc'd copy of s[0..len) with every invalid UTF-8 sequence
 * replaced by U+FFFD following the WHATWG "maximal subpart" rule (as
 * TextDecoder and Node's Buffer.toString do), length in *out_len; NULL when
 * out of memory. The copy is also NUL-terminated (out of *out_len). */
char *sr_json_utf8_repair(const char *s, size_t len, size_t *out_len);

#endif /* SR_JSON_H */
