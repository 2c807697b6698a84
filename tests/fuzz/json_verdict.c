/* SPDX-License-Identifier: MIT */
/*
 * json_verdict.c: the C side of the differential test against Node's
 * JSON.parse (tests/fuzz/json_differential.mjs drives it).
 *
 * Reads file paths, one per line, on stdin and prints one line per file,
 * tab-separated, the path last:
 *
 *   accept <type> <top> <data> <repair> <path>
 *   reject <offset>:<message> - - <repair> <path>
 *
 * <top> is the hex of the top-level value's span and <data> the hex of the
 * span sr_json_object_get finds for "data" ("-" when the value is not an
 * object or has no such member). Both are taken from the UTF-8-repaired
 * text when a string held invalid UTF-8, since that is what the server
 * forwards. <repair> is "=" when sr_json_utf8_repair leaves the file as it
 * is, else the hex of the repaired bytes (Node compares it with
 * Buffer.from(buf.toString())). The nesting limit is far above anything
 * in the corpus, as JSON.parse has none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"

#define MAX_DEPTH 100000000u

static const char *type_name(sr_json_type t) {
    switch (t) {
    case SR_JSON_NULL: return "null";
    case SR_JSON_FALSE:
    case SR_JSON_TRUE: return "boolean";
    case SR_JSON_NUMBER: return "number";
    case SR_JSON_STRING: return "string";
    case SR_JSON_ARRAY: return "array";
    case SR_JSON_OBJECT: return "object";
    default: return "none";
    }
}

static void put_hex(const char *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        putchar(digits[c >> 4]);
        putchar(digits[c & 15]);
    }
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Prints the verdict line of one file; 0, or -1 when it cannot be read. */
static int verdict(const char *path) {
    size_t len = 0;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "json_verdict: cannot read %s\n", path);
        return -1;
    }
    size_t rlen = 0;
    char *repaired = sr_json_utf8_repair(text, len, &rlen);
    if (!repaired) {
        fprintf(stderr, "json_verdict: out of memory\n");
        exit(2);
    }
    sr_json_value v;
    sr_json_error err = {0};
    unsigned flags = 0;
    if (sr_json_validate(text, len, MAX_DEPTH, &v, &flags, &err) != 0) {
        printf("reject\t%zu:%s\t-\t-\t", err.offset, err.msg);
    } else {
        /* JSON.parse sees the repaired text: so does the server */
        if ((flags & SR_JSON_F_INVALID_UTF8) &&
            sr_json_validate(repaired, rlen, MAX_DEPTH, &v, &flags, &err) != 0) {
            fprintf(stderr, "json_verdict: %s: repaired text rejected: %s\n", path, err.msg);
            exit(2);
        }
        printf("accept\t%s\t", type_name(v.type));
        put_hex(v.p, v.len);
        putchar('\t');
        static const char *const data_key[] = {"data"};
        sr_json_value data;
        if (v.type == SR_JSON_OBJECT && sr_json_object_get(&v, data_key, 1, &data) == 0 &&
            data.type != SR_JSON_NONE)
            put_hex(data.p, data.len);
        else putchar('-');
        putchar('\t');
    }
    if (rlen == len && memcmp(repaired, text, len) == 0) putchar('=');
    else put_hex(repaired, rlen);
    printf("\t%s\n", path);
    free(repaired);
    free(text);
    return 0;
}

int main(void) {
    char line[4096];
    int status = 0;
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        if (n == 0) continue;
        if (verdict(line) != 0) status = 1;
    }
    return status;
}
