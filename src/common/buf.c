/* SPDX-License-Identifier: MIT */
/*
 * buf.c: the growable byte buffer (see buf.h).
 */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sr_buf_init(sr_buf *b) {
    memset(b, 0, sizeof(*b));
}

void sr_buf_free(sr_buf *b) {
    free(b->p);
    sr_buf_init(b);
}

int sr_buf_reserve(sr_buf *b, size_t n) {
    if (b->oom) return -1;
    if (b->len + n + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void sr_buf_append(sr_buf *b, const void *s, size_t n) {
    if (sr_buf_reserve(b, n) < 0) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sr_buf_puts(sr_buf *b, const char *s) {
    sr_buf_append(b, s, strlen(s));
}

void sr_buf_printf(sr_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof(small)) {
        sr_buf_append(b, small, (size_t)n);
        return;
    }
    if (sr_buf_reserve(b, (size_t)n) < 0) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sr_buf_u64(sr_buf *b, uint64_t v) {
    char tmp[21];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sr_buf_append(b, tmp + i, sizeof(tmp) - i);
}

char *sr_buf_take(sr_buf *b, size_t *len) {
    char *p = b->p;
    if (len) *len = b->len;
    sr_buf_init(b);
    return p;
}
