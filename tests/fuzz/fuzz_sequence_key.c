/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sequence_key.c: libFuzzer target for the sequence-name path
 * (src/common/seqname.h), the way POST /publish takes "sequence": the input
 * is the raw text between the quotes of a JSON string, validated and
 * decoded with the project's scanner, then checked as a name.
 *
 * Invariants: the check agrees with an independent statement of the rule
 * (1..128 bytes of A-Z a-z 0-9 - _ . :); an accepted name gives exactly
 * "<prefix>seq:<name>" for every prefix tried, measured and written alike
 * and truncated safely at every buffer size, with no byte of the name part
 * able to open a hash tag or another namespace ('{', '}', '#', '*'); and
 * no accepted name ever gives the names index "<prefix>seq#names" or a
 * history key "{<prefix>}#...".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/seqname.h"
#include "fuzz_util.h"
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int rule(const char *s, size_t n) {
    if (n == 0 || n > 128) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

static void check_key(const char *prefix, const char *name, size_t len) {
    size_t plen = strlen(prefix);
    size_t need = sr_seq_key(prefix, plen, name, len, NULL, 0);
    FUZZ_CHECK(need == plen + 4 + len, "key length %zu", need);
    char *key = malloc(need + 1);
    FUZZ_CHECK(key != NULL, "oom");
    FUZZ_CHECK(sr_seq_key(prefix, plen, name, len, key, need + 1) == need, "written length");
    FUZZ_CHECK(key[need] == '\0', "not terminated");
    FUZZ_CHECK(memcmp(key, prefix, plen) == 0 && memcmp(key + plen, "seq:", 4) == 0 &&
                   memcmp(key + plen + 4, name, len) == 0,
               "key is not <prefix>seq:<name>");
    for (size_t i = plen; i < need; i++)
        FUZZ_CHECK(key[i] != '{' && key[i] != '}' && key[i] != '#' && key[i] != '*',
                   "namespace byte 0x%02x in the name part", (unsigned char)key[i]);
    char index[64];
    size_t ilen = sr_seq_index_key(prefix, plen, index, sizeof index);
    FUZZ_CHECK(ilen >= sizeof index || ilen != need || memcmp(index, key, need) != 0,
               "a name gave the index key");
    FUZZ_CHECK(key[0] != '{' || prefix[0] == '{', "a name gave a hash-tagged key");
    /* too small a buffer: nothing written past it, nothing claimed */
    for (size_t cap = 0; cap <= need && cap < 8; cap++) {
        char small[8] = {'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'};
        FUZZ_CHECK(sr_seq_key(prefix, plen, name, len, small, cap) == need, "measure");
        for (size_t i = 0; i < sizeof small; i++)
            FUZZ_CHECK(small[i] == 'x', "wrote into a short buffer");
    }
    free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *text = malloc(size + 3);
    if (!text) return 0;
    text[0] = '"';
    memcpy(text + 1, data, size);
    text[size + 1] = '"';
    text[size + 2] = '\0';
    sr_json_value v;
    unsigned flags = 0;
    if (sr_json_validate(text, size + 2, 8, &v, &flags, NULL) == 0 && v.type == SR_JSON_STRING) {
        size_t cap = 3 * v.len + 1;
        char *name = malloc(cap);
        unsigned sflags = 0;
        ssize_t n = name ? sr_json_string_decode(&v, name, cap, &sflags) : -1;
        if (n >= 0 && !(sflags & SR_JSON_S_NUL)) {
            size_t len = (size_t)n;
            int ok = sr_seq_name_check(name, len) == 0;
            FUZZ_CHECK(ok == rule(name, len), "check %d, rule %d for %zu bytes", ok,
                       rule(name, len), len);
            if (ok) {
                check_key("sse:room:", name, len);
                check_key("", name, len);
                check_key("{app}:", name, len);
            }
        }
        free(name);
    }
    /* the raw bytes as a name, too (the C API takes them without JSON) */
    int ok = sr_seq_name_check((const char *)data, size) == 0;
    FUZZ_CHECK(ok == rule((const char *)data, size), "raw check %d", ok);
    if (ok) check_key("sse:room:", (const char *)data, size);
    free(text);
    return 0;
}
