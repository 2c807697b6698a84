/* SPDX-License-Identifier: MIT */
/*
 * srt_util.c: clock, buffer, fd-limit and byte-dump helpers for the
 * integration-test support library (see srt_util.h). Allocation failures
 * abort: a test process that cannot allocate has nothing useful to report.
 */
#include "srt_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

int64_t srt_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void srt_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int srt_ms_left(int64_t deadline) {
    int64_t left = deadline - srt_now_ms();
    return left > 0 ? (int)left : 0;
}

static void buf_reserve(srt_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        fprintf(stderr, "srt: out of memory\n");
        abort();
    }
    b->data = p;
    b->cap = cap;
}

void srt_buf_append(srt_buf *b, const void *p, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void srt_buf_appendf(srt_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void srt_buf_consume(srt_buf *b, size_t n) {
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data) b->data[b->len] = '\0';
}

void srt_buf_free(srt_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

long srt_raise_nofile(long want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if ((long)rl.rlim_cur < want) {
        rlim_t target = (rlim_t)want;
        if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max) target = rl.rlim_max;
        rl.rlim_cur = target;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long)rl.rlim_cur;
}

void srt_dump_bytes(const char *label, const char *p, size_t n) {
    fprintf(stderr, "%s (%zu bytes): \"", label, n);
    size_t shown = n > 2048 ? 2048 : n;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n') fputs("\\n", stderr);
        else if (c == '\r') fputs("\\r", stderr);
        else if (c == '\t') fputs("\\t", stderr);
        else if (c == '"' || c == '\\') fprintf(stderr, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
    }
    fprintf(stderr, "\"%s\n", shown < n ? "..." : "");
}

bool srt_bytes_equal(const char *what, const char *a, size_t alen, const char *expected) {
    size_t elen = strlen(expected);
    if (alen == elen && memcmp(a, expected, elen) == 0) return true;
    fprintf(stderr, "srt: %s: bytes differ\n", what);
    srt_dump_bytes("  expected", expected, elen);
    srt_dump_bytes("  actual  ", a ? a : "", a ? alen : 0);
    return false;
}
