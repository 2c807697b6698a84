/* SPDX-License-Identifier: MIT */
/*
 * test_json.c: the JSON scanner (src/json) against JavaScript's JSON.parse.
 *
 * - the JSONTestSuite corpus (318 files), each with the verdict Node 20's
 *   JSON.parse gives it (tests/data/JSONTestSuite/json-parse-verdicts.tsv);
 * - byte-exact spans of `data` values that a parse/re-print would change;
 * - JSON.parse edge cases, error messages/offsets, the depth limit
 *   (including nesting past the 64 Ki levels kept in the frame);
 * - member lookup (last duplicate wins, escaped names), iteration, string
 *   decoding and its flags, sr_json_number_u64, and sr_json_quote /
 *   sr_json_utf8_repair against outputs recorded from Node 20
 *   (`Buffer.from(bytes).toString()`, then `JSON.stringify`); node is not
 *   needed to run the tests.
 * Every input is validated from a heap copy of exactly its length, so
 * ASan builds catch any read past the end.
 *
 * `test_json --throughput` (by hand, not part of the suite) prints the
 * validation speed on a ~1 MB document of chat-like messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <time.h>

#include "json/json.h"

#define CORPUS_DIR SR_TEST_SOURCE_DIR "/tests/data/JSONTestSuite/test_parsing"
#define VERDICTS SR_TEST_SOURCE_DIR "/tests/data/JSONTestSuite/json-parse-verdicts.tsv"

static char *dup_exact(const char *s, size_t n) {
    char *b = malloc(n ? n : 1);
    assert_non_null(b);
    if (n) memcpy(b, s, n);
    return b;
}

/* sr_json_validate on an exact-size heap copy; returns rc and copies err. */
static int check(const char *s, size_t n, unsigned max_depth, sr_json_error *err) {
    char *b = dup_exact(s, n);
    sr_json_value v;
    unsigned fl;
    sr_json_error e = {0, NULL};
    int rc = sr_json_validate(b, n, max_depth, &v, &fl, &e);
    if (rc == 0) {
        assert_true(v.p >= b && v.p + v.len <= b + n);
    } else {
        assert_non_null(e.msg);
        assert_true(e.offset <= n);
    }
    free(b);
    if (err) *err = e;
    return rc;
}

static int check_str(const char *s, unsigned max_depth) {
    return check(s, strlen(s), max_depth, NULL);
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    size_t got;
    while ((got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
    }
    fclose(f);
    *len = n;
    return b;
}

static unsigned char *unhex(const char *hex, size_t *n) {
    size_t len = strlen(hex);
    unsigned char *b = malloc(len / 2 + 1);
    assert_non_null(b);
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        b[i] = (unsigned char)v;
    }
    *n = len / 2;
    return b;
}

/* ---- 1. the corpus --------------------------------------------------- */

#define MAX_VERDICTS 400

static void test_corpus_matches_json_parse(void **state) {
    (void)state;
    size_t tsv_len;
    char *tsv = read_all(VERDICTS, &tsv_len);
    if (!tsv) fail_msg("cannot read %s", VERDICTS);
    /* rows: file \t accept|reject \t note (the notes hold non-UTF-8 bytes) */
    char *names[MAX_VERDICTS];
    int accept[MAX_VERDICTS], seen[MAX_VERDICTS];
    size_t nrows = 0;
    char *line = tsv, *tsv_end = tsv + tsv_len;
    int header = 1;
    while (line < tsv_end) {
        char *nl = memchr(line, '\n', (size_t)(tsv_end - line));
        char *le = nl ? nl : tsv_end;
        char *tab1 = memchr(line, '\t', (size_t)(le - line));
        if (header || le == line) {
            header = 0;
        } else {
            assert_non_null(tab1);
            char *verdict = tab1 + 1;
            char *tab2 = memchr(verdict, '\t', (size_t)(le - verdict));
            size_t vlen = (size_t)((tab2 ? tab2 : le) - verdict);
            assert_true(nrows < MAX_VERDICTS);
            *tab1 = '\0';
            names[nrows] = line;
            if (vlen == 6 && memcmp(verdict, "accept", 6) == 0) accept[nrows] = 1;
            else if (vlen == 6 && memcmp(verdict, "reject", 6) == 0) accept[nrows] = 0;
            else fail_msg("bad verdict for %s", line);
            seen[nrows] = 0;
            nrows++;
        }
        line = le + 1;
    }
    assert_int_equal(nrows, 318);

    DIR *dir = opendir(CORPUS_DIR);
    if (!dir) fail_msg("corpus directory %s is missing", CORPUS_DIR);
    size_t checked = 0, mismatches = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (nl < 5 || strcmp(de->d_name + nl - 5, ".json") != 0) continue;
        size_t row = 0;
        while (row < nrows && strcmp(names[row], de->d_name) != 0) row++;
        if (row == nrows) fail_msg("%s has no verdict", de->d_name);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, de->d_name);
        size_t len;
        char *text = read_all(path, &len);
        assert_non_null(text);
        char *exact = dup_exact(text, len);
        free(text);
        sr_json_value v;
        unsigned fl = 0;
        sr_json_error e;
        int rc = sr_json_validate(exact, len, 10000, &v, &fl, &e);
        if ((rc == 0) != accept[row]) {
            print_error("%s: JSON.parse %s, sr_json_validate %s (%s at %zu)\n", de->d_name,
                        accept[row] ? "accepts" : "rejects", rc == 0 ? "accepts" : "rejects",
                        rc == 0 ? "-" : e.msg, rc == 0 ? (size_t)0 : e.offset);
            mismatches++;
        }
        if (rc == 0) {
            /* invalid UTF-8 can only sit inside strings of an accepted text,
             * so the flag is set exactly when the file is not valid UTF-8 */
            size_t rlen;
            char *fixed = sr_json_utf8_repair(exact, len, &rlen);
            assert_non_null(fixed);
            int valid_utf8 = rlen == len && memcmp(fixed, exact, len) == 0;
            if (((fl & SR_JSON_F_INVALID_UTF8) != 0) == valid_utf8) {
                print_error("%s: invalid-UTF-8 flag %u but file valid=%d\n", de->d_name, fl,
                            valid_utf8);
                mismatches++;
            }
            free(fixed);
            /* the span is the text without the surrounding whitespace */
            const char *ws = " \t\r\n";
            assert_true(v.len > 0 && !strchr(ws, v.p[0]) && !strchr(ws, v.p[v.len - 1]));
            for (const char *q = exact; q < v.p; q++) assert_non_null(strchr(ws, *q));
            for (const char *q = v.p + v.len; q < exact + len; q++) assert_non_null(strchr(ws, *q));
        }
        free(exact);
        seen[row]++;
        checked++;
    }
    closedir(dir);
    for (size_t i = 0; i < nrows; i++)
        if (seen[i] != 1) fail_msg("%s: checked %d times", names[i], seen[i]);
    free(tsv);
    assert_int_equal(mismatches, 0);
    assert_true(checked >= 318);
}

/* ---- 2. byte-exact spans ---------------------------------------------- */

static void test_data_spans_are_byte_exact(void **state) {
    (void)state;
    static const struct {
        const char *text;
        sr_json_type type;
    } values[] = {
        {"0.1", SR_JSON_NUMBER},
        {"1e21", SR_JSON_NUMBER},
        {"0.30000000000000004", SR_JSON_NUMBER},
        {"\"[DONE]\"", SR_JSON_STRING},
        {"null", SR_JSON_NULL},
        {"\"\\ud800\"", SR_JSON_STRING},
        {"\"a\\u0000b\"", SR_JSON_STRING},
        {"12345678901234567890", SR_JSON_NUMBER},
        {"-0", SR_JSON_NUMBER},
        {"1E+2", SR_JSON_NUMBER},
        {"true", SR_JSON_TRUE},
        {"false", SR_JSON_FALSE},
        {"[1, {\"room\":\"x\"} ,[]]", SR_JSON_ARRAY},
        {"{\"data\":{\"data\":1}}", SR_JSON_OBJECT},
        {"\"}\\\"]\"", SR_JSON_STRING},
    };
    static const char *layouts[] = {"{\"room\":\"chat\",\"data\":%s}",
                                    "{ \"room\" : \"chat\" ,\n\t\"data\" :\r\n %s \n}",
                                    "{\"data\":%s,\"room\":\"chat\"}"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
            char text[256];
            int n = snprintf(text, sizeof text, layouts[l], values[i].text);
            char *b = dup_exact(text, (size_t)n);
            sr_json_value top, got[2];
            assert_int_equal(sr_json_validate(b, (size_t)n, 64, &top, NULL, NULL), 0);
            assert_int_equal(top.type, SR_JSON_OBJECT);
            const char *keys[] = {"room", "data"};
            assert_int_equal(sr_json_object_get(&top, keys, 2, got), 0);
            assert_int_equal(got[0].type, SR_JSON_STRING);
            assert_int_equal(got[0].len, 6);
            assert_memory_equal(got[0].p, "\"chat\"", 6);
            assert_int_equal(got[1].type, values[i].type);
            assert_int_equal(got[1].len, strlen(values[i].text));
            assert_memory_equal(got[1].p, values[i].text, got[1].len);
            free(b);
        }
    }
}

/* ---- 3. JSON.parse edge cases ----------------------------------------- */

static void test_json_parse_edge_cases(void **state) {
    (void)state;
    /* verdicts recorded from Node 20's JSON.parse */
    static const char *accepted[] = {
        "-0",
        "1E+2",
        "\"a\\tb\"",
        "\"\xe2\x80\xa8\"",
        "\"\x7f\"",
        "\"\\u0000\"",
        "[1E-7]",
        "-0.0e-0",
        "\"\\uDEAD\"",
        "123 ",
        "\r\n\t 1 \t\r\n",
        "\"\\/\"",
        "[\"\\u00e9\"]",
        "{\"\":0}",
        "[true,false,null]",
        "[1.5E+999]",
        "1e-99999",
        "[-0.1]",
        "12345678901234567890123456789",
        "\"\\ud83d\\ude00\"",
        "\"\\uD83D\"",
        "\"\\uDC00\\uD800\"",
        "{\"a\":1,\"a\":2}",
        "\"\xf0\x9f\x98\x80\"",
        "0",
        "[[],{},[{}]]",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
    };
    static const char *rejected[] = {
        "-",
        "01",
        "1.",
        ".1",
        "+1",
        "0x1",
        "\"\\x\"",
        "\"\\u12\"",
        "[1,]",
        "{\"a\":1,}",
        "{'a':1}",
        "NaN",
        "Infinity",
        "-Infinity",
        "\"a\tb\"",
        "\xc2\xa0[]",
        "[\xe2\x80\xa8]",
        "\xef\xbb\xbf{}",
        "[1]\xc2\xa0",
        "[-]",
        "[1e]",
        "[1e+]",
        "[1.e1]",
        "[-01]",
        "tRue",
        "nul",
        "[] []",
        "{\"a\" 1}",
        "{\"a\":1 \"b\":2}",
        "{1:2}",
        "[\"a\",]",
        "[,1]",
        "[]]",
        "[[]",
        "\"\\UD800\"",
        "1\f",
        "\v1",
        "\"\\'\"",
        "[truee]",
        "[0-1]",
        "[--1]",
        "\"abc",
        "\"\\",
        "\"\\u00",
        "[",
        "{",
        "{\"a\"",
        "{\"a\":",
        "[1",
        "\"a\nb\"",
        "\"\x1f\"",
        "'a'",
        "[1;2]",
        "{\"a\":1}}",
        "undefined",
        "[\xff]",
        "\xff",
        "/* c */ 1",
        "1 // c",
        "0.",
        "1e+-1",
    };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
        if (check_str(accepted[i], 64) != 0) fail_msg("rejected: %s", accepted[i]);
    for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++)
        if (check_str(rejected[i], 64) == 0) fail_msg("accepted: %s", rejected[i]);

    /* U+0000 as a raw byte inside a string is a control character */
    assert_int_equal(check("\"a\0b\"", 5, 64, NULL), -1);
    assert_int_equal(check("\"a\\u0000b\"", 10, 64, NULL), 0);
    /* a NUL after the value is trailing garbage, not an end marker */
    assert_int_equal(check("1\0", 2, 64, NULL), -1);

    /* messages and offsets */
    static const struct {
        const char *text;
        const char *msg;
        size_t offset;
    } errors[] = {
        {"", "empty input", 0},
        {" \t\r\n", "empty input", 4},
        {"[1] x", "trailing characters", 4},
        {"01", "trailing characters", 1},
        {"[1,]", "unexpected character", 3},
        {"\"abc", "unterminated string", 0},
        {"[\"a\\x\"]", "bad escape in string", 4},
        {"\"\\u12g4\"", "bad \\u escape (needs 4 hex digits)", 5},
        {"\"a\tb\"", "control character in string", 2},
        {"[1 2]", "expected ',' or ']'", 3},
        {"{\"a\":1 \"b\"}", "expected ',' or '}'", 7},
        {"{\"a\" 1}", "expected ':' after a member name", 5},
        {"{1:1}", "expected a string (member name)", 1},
        {"[1,", "unexpected end of input", 3},
        {"-", "unexpected end of input", 1},
        {"1.x", "bad number", 2},
        {"\xc2\xa0", "unexpected character", 0},
    };
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        sr_json_error e;
        assert_int_equal(check(errors[i].text, strlen(errors[i].text), 64, &e), -1);
        assert_string_equal(e.msg, errors[i].msg);
        assert_int_equal(e.offset, errors[i].offset);
    }
    sr_json_error e;
    assert_int_equal(check("\xef\xbb\xbf{}", 5, 64, &e), -1);
    assert_int_equal(e.offset, 0);
    assert_non_null(strstr(e.msg, "byte order mark"));

    /* no input at all */
    assert_int_equal(sr_json_validate(NULL, 0, 64, NULL, NULL, &e), -1);
    assert_string_equal(e.msg, "empty input");
    assert_int_equal(sr_json_validate(NULL, 3, 64, NULL, NULL, NULL), -1);
}

static void test_depth_limit(void **state) {
    (void)state;
    sr_json_error e;
    /* depth counts open containers; a top-level [] is depth 1 */
    assert_int_equal(check_str("[[[]]]", 3), 0);
    assert_int_equal(check("[[[[]]]]", 8, 3, &e), -1);
    assert_string_equal(e.msg, "nesting deeper than the limit");
    assert_int_equal(e.offset, 3);
    assert_int_equal(check_str("{\"a\":[{\"b\":1}]}", 3), 0);
    assert_int_equal(check("{\"a\":[{\"b\":{}}]}", 15, 3, &e), -1);
    assert_string_equal(e.msg, "nesting deeper than the limit");
    assert_int_equal(e.offset, 11);
    assert_int_equal(check_str("[[],[],[[]]]", 3), 0);
    /* max_depth 0: scalars only */
    assert_int_equal(check_str("\"x\"", 0), 0);
    assert_int_equal(check_str("[]", 0), -1);
    assert_int_equal(check_str("{}", 0), -1);
    assert_int_equal(check_str("[]", 1), 0);

    /* a flood of '[' stops at the limit */
    size_t n = 100000;
    char *deep = malloc(2 * n);
    assert_non_null(deep);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    assert_int_equal(check(deep, n, 1000, &e), -1);
    assert_string_equal(e.msg, "nesting deeper than the limit");
    assert_int_equal(e.offset, 1000);
    /* exactly at / one above the limit, deeper than the in-frame stack */
    assert_int_equal(check(deep, 2 * n, 100000, NULL), 0);
    assert_int_equal(check(deep, 2 * n, 99999, &e), -1);
    assert_int_equal(e.offset, 99999);
    assert_int_equal(check(deep, n, 200000, &e), -1);
    assert_string_equal(e.msg, "unexpected end of input");
    free(deep);

    /* arrays and objects alternating 80000 deep: the kind of every level
     * past 64 Ki must be remembered to match the closers */
    size_t levels = 80000;
    char *mixed = malloc(levels * 5 + 16);
    assert_non_null(mixed);
    size_t m = 0;
    for (size_t i = 0; i < levels; i++) {
        if (i & 1) {
            memcpy(mixed + m, "{\"k\":", 5);
            m += 5;
        } else {
            mixed[m++] = '[';
        }
    }
    mixed[m++] = '1';
    for (size_t i = levels; i-- > 0;) mixed[m++] = (i & 1) ? '}' : ']';
    assert_int_equal(check(mixed, m, (unsigned)levels, NULL), 0);
    assert_int_equal(check(mixed, m, (unsigned)levels - 1, NULL), -1);
    /* one closer swapped deep inside the heap part of the stack */
    size_t swap = m - 70000;
    mixed[swap] = mixed[swap] == '}' ? ']' : '}';
    assert_int_equal(check(mixed, m, (unsigned)levels, &e), -1);
    assert_int_equal(e.offset, swap);
    free(mixed);
}

/* ---- 4. access ---------------------------------------------------------- */

static void test_object_get(void **state) {
    (void)state;
    const char *text = "{\"a\":1,\"r\\u006fom\":\"x\",\"b\":{\"room\":\"inner\"},\"a\":[2],"
                       "\"caf\\u00e9\":3,\"q\\\"\":4,\"\xff\":6,\"\\ud800\":5,\"e\xcc\x81\":7,"
                       "\"\\ud83d\\ude00\":8,\"\":9}";
    char *b = dup_exact(text, strlen(text));
    sr_json_value top;
    assert_int_equal(sr_json_validate(b, strlen(text), 64, &top, NULL, NULL), 0);
    const char *keys[] = {
        "a", "room",      "b", "caf\xc3\xa9", "q\"", "\xef\xbf\xbd", "zzz", "A", "\xf0\x9f\x98\x80",
        "",  "e\xcc\x81", "ro"};
    const char *want[] = {"[2]", "\"x\"", "{\"room\":\"inner\"}",
                          "3",   "4",     "6",
                          NULL,  NULL,    "8",
                          "9",   "7",     NULL};
    sr_json_value got[12];
    assert_int_equal(sr_json_object_get(&top, keys, 12, got), 0);
    for (size_t i = 0; i < 12; i++) {
        if (!want[i]) {
            assert_int_equal(got[i].type, SR_JSON_NONE);
            continue;
        }
        assert_int_not_equal(got[i].type, SR_JSON_NONE);
        assert_int_equal(got[i].len, strlen(want[i]));
        assert_memory_equal(got[i].p, want[i], got[i].len);
    }
    /* U+FFFD got 6, the raw 0xFF name (JSON.parse sees U+FFFD there), not the
     * later "\ud800" one: a lone surrogate name equals no UTF-8 key */
    assert_int_equal(got[0].type, SR_JSON_ARRAY);

    /* not an object */
    sr_json_value arr = {SR_JSON_ARRAY, "[]", 2};
    assert_int_equal(sr_json_object_get(&arr, keys, 1, got), -1);
    /* empty object */
    sr_json_value empty = {SR_JSON_OBJECT, "{ }", 3};
    assert_int_equal(sr_json_object_get(&empty, keys, 2, got), 0);
    assert_int_equal(got[0].type, SR_JSON_NONE);
    assert_int_equal(got[1].type, SR_JSON_NONE);
    free(b);
}

static void test_iteration(void **state) {
    (void)state;
    const char *text = "[ 1 , \"t]w,o\" ,[3,[4]],{\"a\":\"]\"} ,null,-2.5e+3,true,false,\"\\\"\" ]";
    const char *want[] = {"1",       "\"t]w,o\"", "[3,[4]]", "{\"a\":\"]\"}", "null",
                          "-2.5e+3", "true",      "false",   "\"\\\"\""};
    const sr_json_type types[] = {SR_JSON_NUMBER, SR_JSON_STRING, SR_JSON_ARRAY,
                                  SR_JSON_OBJECT, SR_JSON_NULL,   SR_JSON_NUMBER,
                                  SR_JSON_TRUE,   SR_JSON_FALSE,  SR_JSON_STRING};
    char *b = dup_exact(text, strlen(text));
    sr_json_value top, el;
    assert_int_equal(sr_json_validate(b, strlen(text), 64, &top, NULL, NULL), 0);
    sr_json_iter it;
    sr_json_iter_begin(&top, &it);
    size_t n = 0;
    while (sr_json_array_next(&it, &el)) {
        assert_true(n < 9);
        assert_int_equal(el.type, types[n]);
        assert_int_equal(el.len, strlen(want[n]));
        assert_memory_equal(el.p, want[n], el.len);
        n++;
    }
    assert_int_equal(n, 9);
    assert_int_equal(sr_json_array_next(&it, &el), 0); /* stays at the end */
    free(b);

    text = "{ \"k\" : [1,{\"x\":\"}\"}] ,\"\\u006b\":{},\"e\":\"\"}";
    b = dup_exact(text, strlen(text));
    assert_int_equal(sr_json_validate(b, strlen(text), 64, &top, NULL, NULL), 0);
    const char *want_k[] = {"\"k\"", "\"\\u006b\"", "\"e\""};
    const char *want_v[] = {"[1,{\"x\":\"}\"}]", "{}", "\"\""};
    sr_json_value k, v;
    sr_json_iter_begin(&top, &it);
    n = 0;
    while (sr_json_object_next(&it, &k, &v)) {
        assert_true(n < 3);
        assert_int_equal(k.type, SR_JSON_STRING);
        assert_int_equal(k.len, strlen(want_k[n]));
        assert_memory_equal(k.p, want_k[n], k.len);
        assert_int_equal(v.len, strlen(want_v[n]));
        assert_memory_equal(v.p, want_v[n], v.len);
        n++;
    }
    assert_int_equal(n, 3);
    free(b);

    /* empty containers and non-containers iterate nothing */
    sr_json_value empties[] = {{SR_JSON_ARRAY, "[]", 2},
                               {SR_JSON_ARRAY, "[ \n ]", 5},
                               {SR_JSON_OBJECT, "{}", 2},
                               {SR_JSON_NUMBER, "12", 2},
                               {SR_JSON_STRING, "\"ab\"", 4}};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        sr_json_iter_begin(&empties[i], &it);
        assert_int_equal(sr_json_array_next(&it, &el), 0);
        sr_json_iter_begin(&empties[i], &it);
        assert_int_equal(sr_json_object_next(&it, &k, &v), 0);
    }
}

static void test_string_decode(void **state) {
    (void)state;
    static const struct {
        const char *json;
        const char *want; /* hex of the decoded bytes */
        unsigned flags;
    } cases[] = {
        {"\"plain\"", "706c61696e", 0},
        {"\"a\\u0000b\"", "610062", SR_JSON_S_NUL | SR_JSON_S_CONTROL},
        {"\"\\ud800\"", "efbfbd", SR_JSON_S_LONE_SURROGATE},
        {"\"\\uDC00x\"", "efbfbd78", SR_JSON_S_LONE_SURROGATE},
        {"\"\\ud83d\\ude00\"", "f09f9880", 0},
        {"\"\\uD83D\\uDE00\"", "f09f9880", 0},
        {"\"\\ude00\\ud83d\"", "efbfbdefbfbd", SR_JSON_S_LONE_SURROGATE},
        {"\"\\ud83d\\u0041\"", "efbfbd41", SR_JSON_S_LONE_SURROGATE},
        {"\"\\ud83d\\n\"", "efbfbd0a", SR_JSON_S_LONE_SURROGATE | SR_JSON_S_CONTROL},
        {"\"\\ud83d\\ud83d\\ude00\"", "efbfbdf09f9880", SR_JSON_S_LONE_SURROGATE},
        /* found by fuzz_json: what follows a high surrogate must itself be an escape */
        {"\"\\ud83dXude00\"", "efbfbd587564653030", SR_JSON_S_LONE_SURROGATE},
        {"\"\xff\"", "efbfbd", SR_JSON_S_INVALID_UTF8},
        {"\"\xe0\x80\x41\"", "efbfbdefbfbd41", SR_JSON_S_INVALID_UTF8},
        {"\"caf\xc3\xa9 \\u20ac\"", "636166c3a920e282ac", 0},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "225c2f080c0a0d09", SR_JSON_S_CONTROL},
        {"\"\\u001f\\u007f\"", "1f7f", SR_JSON_S_CONTROL},
        {"\"\"", "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].json);
        char *b = dup_exact(cases[i].json, len);
        sr_json_value v;
        unsigned vflags;
        assert_int_equal(sr_json_validate(b, len, 8, &v, &vflags, NULL), 0);
        assert_int_equal((vflags & SR_JSON_F_INVALID_UTF8) != 0,
                         (cases[i].flags & SR_JSON_S_INVALID_UTF8) != 0);
        size_t wn;
        unsigned char *want = unhex(cases[i].want, &wn);
        size_t cap = 3 * len + 1;
        char *out = malloc(cap);
        assert_non_null(out);
        unsigned fl = 0xff;
        ssize_t n = sr_json_string_decode(&v, out, cap, &fl);
        assert_int_equal(n, (ssize_t)wn);
        assert_memory_equal(out, want, wn);
        assert_int_equal(out[wn], '\0');
        assert_int_equal(fl, cases[i].flags);
        /* exactly decoded length + 1 is enough; one byte less is not */
        assert_int_equal(sr_json_string_decode(&v, out, wn + 1, NULL), (ssize_t)wn);
        assert_int_equal(sr_json_string_decode(&v, out, wn, NULL), -1);
        free(out);
        free(want);
        free(b);
    }
    char out[8];
    sr_json_value num = {SR_JSON_NUMBER, "1", 1};
    assert_int_equal(sr_json_string_decode(&num, out, sizeof out, NULL), -1);
    sr_json_value bad = {SR_JSON_STRING, "\"", 1};
    assert_int_equal(sr_json_string_decode(&bad, out, sizeof out, NULL), -1);
}

static void test_number_u64(void **state) {
    (void)state;
    static const struct {
        const char *text;
        uint64_t max;
        int ok;
        uint64_t want;
    } cases[] = {
        {"5e3", UINT64_MAX, 1, 5000},
        {"1.5", UINT64_MAX, 0, 0},
        {"-1", UINT64_MAX, 0, 0},
        {"-0", UINT64_MAX, 1, 0},
        {"0", 0, 1, 0},
        {"1", 0, 0, 0},
        {"1.0", UINT64_MAX, 1, 1},
        {"0.5e1", UINT64_MAX, 1, 5},
        {"10e-1", UINT64_MAX, 1, 1},
        {"100E-2", UINT64_MAX, 1, 1},
        {"1e-1", UINT64_MAX, 0, 0},
        {"5000", 5000, 1, 5000},
        {"5001", 5000, 0, 0},
        {"4294967295", UINT32_MAX, 1, UINT32_MAX},
        {"4294967296", UINT32_MAX, 0, 0},
        {"18446744073709551615", UINT64_MAX, 1, UINT64_MAX},
        {"18446744073709551616", UINT64_MAX, 0, 0},
        {"1.8446744073709551615e19", UINT64_MAX, 1, UINT64_MAX},
        {"1e19", UINT64_MAX, 1, UINT64_C(10000000000000000000)},
        {"1e20", UINT64_MAX, 0, 0},
        {"0e999999999999999999999", UINT64_MAX, 1, 0},
        {"1e999999999999999999999", UINT64_MAX, 0, 0},
        {"1e-999999999999999999999", UINT64_MAX, 0, 0},
        {"123456789012345678900000000000e-10", UINT64_MAX, 1, UINT64_C(12345678901234567890)},
        {"123456789012345678901234567890e-10", UINT64_MAX, 0, 0},
        {"12.30", UINT64_MAX, 0, 0},
        {"120.0e-1", UINT64_MAX, 1, 12},
        {"0.000", UINT64_MAX, 1, 0},
        {"1.", UINT64_MAX, 0, 0},
        {"01", UINT64_MAX, 0, 0},
        {"1e", UINT64_MAX, 0, 0},
        {"1x", UINT64_MAX, 0, 0},
        {"-", UINT64_MAX, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *b = dup_exact(cases[i].text, strlen(cases[i].text));
        sr_json_value v = {SR_JSON_NUMBER, b, strlen(cases[i].text)};
        uint64_t got = 777;
        int rc = sr_json_number_u64(&v, cases[i].max, &got);
        if (rc != (cases[i].ok ? 0 : -1)) fail_msg("%s: rc %d", cases[i].text, rc);
        if (cases[i].ok) assert_true(got == cases[i].want);
        else assert_true(got == 777);
        free(b);
    }
    uint64_t got;
    sr_json_value str = {SR_JSON_STRING, "\"1\"", 3};
    assert_int_equal(sr_json_number_u64(&str, UINT64_MAX, &got), -1);
}

/* Outputs recorded from Node 20: Buffer.from(bytes).toString() for the
 * repair, JSON.stringify of that string for the quote (hex). */
static const struct {
    const char *name, *in, *repaired, *quoted;
} utf8_cases[] = {
    {"overlong 2-byte", "c0af", "efbfbdefbfbd", "22efbfbdefbfbd22"},
    {"overlong 3-byte", "e080af", "efbfbdefbfbdefbfbd", "22efbfbdefbfbdefbfbd22"},
    {"overlong 4-byte", "f08080af", "efbfbdefbfbdefbfbdefbfbd", "22efbfbdefbfbdefbfbdefbfbd22"},
    {"E0 80 'A'", "e08041", "efbfbdefbfbd41", "22efbfbdefbfbd4122"},
    {"surrogate D800", "eda080", "efbfbdefbfbdefbfbd", "22efbfbdefbfbdefbfbd22"},
    {"CESU pair", "eda0bdedb880", "efbfbdefbfbdefbfbdefbfbdefbfbdefbfbd",
     "22efbfbdefbfbdefbfbdefbfbdefbfbdefbfbd22"},
    {"truncated 3-byte", "61e282", "61efbfbd", "2261efbfbd22"},
    {"truncated 4-byte", "f09f98", "efbfbd", "22efbfbd22"},
    {"truncated 4-byte then A", "f09f9841", "efbfbd41", "22efbfbd4122"},
    {"truncated 2-byte", "c3", "efbfbd", "22efbfbd22"},
    {"lone continuation", "80", "efbfbd", "22efbfbd22"},
    {"continuation run", "4180bf42", "41efbfbdefbfbd42", "2241efbfbdefbfbd4222"},
    {"5-byte form", "f888808080", "efbfbdefbfbdefbfbdefbfbdefbfbd",
     "22efbfbdefbfbdefbfbdefbfbdefbfbd22"},
    {"6-byte form", "fc8480808080", "efbfbdefbfbdefbfbdefbfbdefbfbdefbfbd",
     "22efbfbdefbfbdefbfbdefbfbdefbfbdefbfbd22"},
    {"valid 4-byte", "f09f9880", "f09f9880", "22f09f988022"},
    {"above U+10FFFF", "f4908080", "efbfbdefbfbdefbfbdefbfbd", "22efbfbdefbfbdefbfbdefbfbd22"},
    {"U+10FFFF", "f48fbfbf", "f48fbfbf", "22f48fbfbf22"},
    {"FE FF", "feff", "efbfbdefbfbd", "22efbfbdefbfbd22"},
    {"latin-1", "636166e9", "636166efbfbd", "22636166efbfbd22"},
    {"C1 BF", "c1bf", "efbfbdefbfbd", "22efbfbdefbfbd22"},
    {"E2 '(' A1", "e228a1", "efbfbd28efbfbd", "22efbfbd28efbfbd22"},
    {"valid BMP", "e282acc3a9", "e282acc3a9", "22e282acc3a922"},
    {"empty", "", "", "2222"},
};

static void test_utf8_repair(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        size_t in_len, want_len, out_len = 12345;
        unsigned char *in = unhex(utf8_cases[i].in, &in_len);
        unsigned char *want = unhex(utf8_cases[i].repaired, &want_len);
        char *out = sr_json_utf8_repair((const char *)in, in_len, &out_len);
        assert_non_null(out);
        if (out_len != want_len || memcmp(out, want, want_len) != 0)
            fail_msg("utf8_repair %s", utf8_cases[i].name);
        assert_int_equal(out[out_len], '\0');
        free(out);
        free(want);
        free(in);
    }
}

static void test_quote(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        size_t in_len, want_len;
        unsigned char *in = unhex(utf8_cases[i].in, &in_len);
        unsigned char *want = unhex(utf8_cases[i].quoted, &want_len);
        char out[64];
        assert_int_equal(sr_json_quote((const char *)in, in_len, out, sizeof out), want_len);
        if (memcmp(out, want, want_len) != 0) fail_msg("quote %s", utf8_cases[i].name);
        free(want);
        free(in);
    }
    /* JSON.stringify outputs recorded from Node 20 */
    static const struct {
        const char *in;
        size_t in_len;
        const char *want;
    } cases[] = {
        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
        {"\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\""},
        {"\0\x01\x1f\x7f", 4, "\"\\u0000\\u0001\\u001f\x7f\""},
        {"\x0b\x1b", 2, "\"\\u000b\\u001b\""},
        {"x\xe2\x80\xa8y\xe2\x80\xa9z", 9, "\"x\xe2\x80\xa8y\xe2\x80\xa9z\""},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        {"</script>", 9, "\"</script>\""},
        {"\xef\xbb\xbf", 3, "\"\xef\xbb\xbf\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t want_len = strlen(cases[i].want);
        assert_int_equal(sr_json_quote(cases[i].in, cases[i].in_len, NULL, 0), want_len);
        char out[64];
        memset(out, '#', sizeof out);
        /* too small: nothing is written */
        assert_int_equal(sr_json_quote(cases[i].in, cases[i].in_len, out, want_len - 1), want_len);
        assert_int_equal(out[0], '#');
        assert_int_equal(sr_json_quote(cases[i].in, cases[i].in_len, out, want_len), want_len);
        assert_memory_equal(out, cases[i].want, want_len);
        assert_int_equal(out[want_len], '#');
        /* and it reads back as the same text */
        sr_json_value v;
        assert_int_equal(sr_json_validate(out, want_len, 1, &v, NULL, NULL), 0);
        char dec[64];
        unsigned fl;
        assert_int_equal(sr_json_string_decode(&v, dec, sizeof dec, &fl), (ssize_t)cases[i].in_len);
        assert_memory_equal(dec, cases[i].in, cases[i].in_len);
    }
}

/* sr_json_quote_inert: C1 controls and bidi controls become \u escapes
 * (issue #18, finding 7); the neighbours of those ranges and everything
 * sr_json_quote does stay as they were, and the text reads back the same. */
static void test_quote_inert(void **state) {
    (void)state;
    static const struct {
        const char *in;
        size_t in_len;
        const char *want;
    } cases[] = {
        {"\xc2\x80\xc2\x9b\xc2\x9f", 6, "\"\\u0080\\u009b\\u009f\""},
        /* U+00A0 stays; a lone C2 is U+FFFD as in sr_json_quote */
        {"\xc2\xa0\xc2\x7f", 4, "\"\xc2\xa0\xef\xbf\xbd\x7f\""},
        {"a\xe2\x80\xae"
         "b\xe2\x80\xaa\xe2\x80\xac\xe2\x80\xad",
         14, "\"a\\u202eb\\u202a\\u202c\\u202d\""},
        {"\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9", 12,
         "\"\\u2066\\u2067\\u2068\\u2069\""},
        /* neighbours: U+2029, U+202F, U+2065, U+206A stay verbatim */
        {"\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa", 12,
         "\"\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa\""},
        {"r\x1b[2J\"", 6, "\"r\\u001b[2J\\\"\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *want = cases[i].want;
        size_t want_len = strlen(want);
        char out[96];
        assert_int_equal(sr_json_quote_inert(cases[i].in, cases[i].in_len, NULL, 0), want_len);
        assert_int_equal(sr_json_quote_inert(cases[i].in, cases[i].in_len, out, sizeof out),
                         want_len);
        if (memcmp(out, want, want_len) != 0) fail_msg("case %zu: got %.*s", i, (int)want_len, out);
        sr_json_value v;
        assert_int_equal(sr_json_validate(out, want_len, 1, &v, NULL, NULL), 0);
        if (i == 1) continue; /* repaired, so not the same bytes */
        char dec[64];
        unsigned fl;
        assert_int_equal(sr_json_string_decode(&v, dec, sizeof dec, &fl), (ssize_t)cases[i].in_len);
        assert_memory_equal(dec, cases[i].in, cases[i].in_len);
    }
    /* sr_json_quote itself keeps Node's bytes: U+009B and U+202E verbatim */
    char out[32];
    size_t n = sr_json_quote("\xc2\x9b\xe2\x80\xae", 5, out, sizeof out);
    assert_int_equal(n, 7);
    assert_memory_equal(out, "\"\xc2\x9b\xe2\x80\xae\"", 7);
}

/* Mutated documents from exact-size buffers: no overreads (ASan), and
 * every accepted text's elements are valid JSON on their own. */
static void test_mutations_stay_consistent(void **state) {
    (void)state;
    static const char *seeds[] = {
        "{\"room\":\"chat\",\"data\":{\"t\":\"h\\u00e9\\\"llo\",\"n\":[1,-2.5e3,true,null]},\"id\":\"7\"}",
        "[\"\xe2\x82\xac\",{\"a\":{\"b\":[[],{}]}},\"\\ud83d\\ude00\",0.1,\"x\\\\\"]",
    };
    static const char alphabet[] = "[]{},:\"\\u0e-. tnf\xff\xc3\x80\x01";
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    size_t accepted = 0;
    for (int round = 0; round < 4000; round++) {
        const char *seed = seeds[round % 2];
        size_t n = strlen(seed);
        char buf[160];
        memcpy(buf, seed, n);
        for (int k = 0; k < 1 + round % 3; k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t pos = (size_t)(rng % n);
            char c = alphabet[(rng >> 32) % (sizeof alphabet - 1)];
            if ((rng >> 40) & 1) {
                buf[pos] = c;
            } else if (n > 1) { /* delete */
                memmove(buf + pos, buf + pos + 1, n - pos - 1);
                n--;
            }
        }
        char *b = dup_exact(buf, n);
        sr_json_value v, el, k;
        if (sr_json_validate(b, n, 16, &v, NULL, NULL) == 0) {
            accepted++;
            sr_json_iter it;
            sr_json_iter_begin(&v, &it);
            if (v.type == SR_JSON_ARRAY) {
                while (sr_json_array_next(&it, &el)) {
                    sr_json_value again;
                    assert_int_equal(check(el.p, el.len, 16, NULL), 0);
                    assert_int_equal(sr_json_validate(el.p, el.len, 16, &again, NULL, NULL), 0);
                    assert_int_equal(again.type, el.type);
                }
            } else if (v.type == SR_JSON_OBJECT) {
                while (sr_json_object_next(&it, &k, &el)) {
                    assert_int_equal(check(k.p, k.len, 16, NULL), 0);
                    assert_int_equal(check(el.p, el.len, 16, NULL), 0);
                    char dec[3 * 160 + 1];
                    assert_true(sr_json_string_decode(&k, dec, sizeof dec, NULL) >= 0);
                }
            }
        }
        free(b);
    }
    assert_true(accepted > 0);
}

/* ---- throughput, by hand ----------------------------------------------- */

static int throughput(void) {
    size_t cap = 1100000, n = 0;
    char *doc = malloc(cap + 256);
    if (!doc) return 1;
    n += (size_t)sprintf(doc + n, "[");
    for (int i = 0; n < 1000000; i++) {
        n += (size_t)sprintf(doc + n,
                             "%s{\"room\":\"chat:general\",\"id\":\"%d\",\"event\":\"message\","
                             "\"data\":{\"from\":\"user%d\",\"text\":\"Hello \\\"world\\\" "
                             "caf\xc3\xa9 \xe2\x82\xac %d, this is a longer chat message body.\","
                             "\"ts\":1700000%06d.%03d,\"tags\":[\"a\",\"b\"],\"read\":%s}}",
                             i ? "," : "", i, i % 97, i, i, i % 1000, i & 1 ? "true" : "false");
    }
    n += (size_t)sprintf(doc + n, "]");
    int iters = 200;
    struct timespec t0, t1;
    sr_json_value v;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < iters; i++)
        if (sr_json_validate(doc, n, 64, &v, NULL, NULL) != 0) return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("validate: %zu bytes x %d in %.3f s = %.0f MB/s\n", n, iters, secs,
           (double)n * iters / secs / 1e6);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t found = 0;
    for (int i = 0; i < iters; i++) {
        sr_json_iter it;
        sr_json_value el, got[2];
        const char *keys[] = {"room", "data"};
        sr_json_iter_begin(&v, &it);
        while (sr_json_array_next(&it, &el)) {
            sr_json_object_get(&el, keys, 2, got);
            found += got[1].type == SR_JSON_OBJECT;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("iterate + object_get: %.0f MB/s (%zu members found)\n", (double)n * iters / secs / 1e6,
           found);
    free(doc);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--throughput") == 0) return throughput();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_matches_json_parse),
        cmocka_unit_test(test_data_spans_are_byte_exact),
        cmocka_unit_test(test_json_parse_edge_cases),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_object_get),
        cmocka_unit_test(test_iteration),
        cmocka_unit_test(test_string_decode),
        cmocka_unit_test(test_number_u64),
        cmocka_unit_test(test_utf8_repair),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_quote_inert),
        cmocka_unit_test(test_mutations_stay_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
