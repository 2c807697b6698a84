/* SPDX-License-Identifier: MIT */
/*
 * buf.h: a growable byte buffer for building responses and JSON.
 *
 * Appends never fail loudly: on out-of-memory the buffer remembers it
 * (oom = 1) and later appends do nothing, so a builder checks once at the
 * end instead of after every call.
 */
#ifndef SR_COMMON_BUF_H
#define SR_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct sr_buf {
    char *p;
    size_t len;
    size_t cap;
    int oom;
} sr_buf;

void sr_buf_init(sr_buf *b);
void sr_buf_free(sr_buf *b);
/* Makes room for n more bytes; 0 or -1 (and oom set). */
int sr_buf_reserve(sr_buf *b, size_t n);
void sr_buf_append(sr_buf *b, const void *s, size_t n);
void sr_buf_puts(sr_buf *b, const char *s);
void sr_buf_printf(sr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sr_buf_u64(sr_buf *b, uint64_t v);
/* Hands the bytes over (caller frees); the buffer is left empty. */
char *sr_buf_take(sr_buf *b, size_t *len);

#endif
