/* SPDX-License-Identifier: MIT */
/*
 * srt_util.h: small helpers shared by the integration-test support library:
 * a monotonic clock, sleeping, a growable byte buffer, raising the open-file
 * limit for many-connection tests, and printing byte strings readably when
 * an assertion is about to fail.
 */
#ifndef SRT_UTIL_H
#define SRT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock. */
int64_t srt_now_ms(void);
void srt_sleep_ms(int ms);
/* Milliseconds left until `deadline` (never negative). */
int srt_ms_left(int64_t deadline);

/* A growable byte buffer, always NUL-terminated after `len` bytes. */
typedef struct srt_buf {
    char *data;
    size_t len, cap;
} srt_buf;

void srt_buf_append(srt_buf *b, const void *p, size_t n);
void srt_buf_appendf(srt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes. */
void srt_buf_consume(srt_buf *b, size_t n);
void srt_buf_free(srt_buf *b);

/* Raises the soft RLIMIT_NOFILE to at least `want` (up to the hard limit);
 * returns the resulting soft limit. */
long srt_raise_nofile(long want);

/* Writes `label: "<bytes>"` to stderr with control bytes escaped. */
void srt_dump_bytes(const char *label, const char *p, size_t n);
/* True when a[0..alen) equals the NUL-terminated `expected`; when not, both
 * are dumped to stderr (with `what` as a heading) before returning false. */
bool srt_bytes_equal(const char *what, const char *a, size_t alen, const char *expected);

#endif
