/* SPDX-License-Identifier: MIT */
/*
 * frame.c: the SSE encoder and reference-counted frames.
 *
 * A frame is one malloc holding its header and its bytes, so encoding a
 * broadcast costs one allocation however many connections receive it.
 * Data is split into lines at CR, LF and CRLF: JSON text normally has no
 * raw newline, but JSON whitespace may hold one, and a raw CR would end
 * the field early in every EventSource parser.
 */
#include "sse/frame.h"

#include <stdlib.h>
#include <string.h>

static size_t u32_digits(uint32_t v) {
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Number of lines data splits into (CR, LF and CRLF each end a line). */
static size_t data_lines(const char *data, size_t len) {
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            lines++;
        } else if (data[i] == '\r') {
            lines++;
            if (i + 1 < len && data[i + 1] == '\n') i++;
        }
    }
    return lines;
}

size_t sr_sse_encoded_len(const char *id, size_t id_len, const char *event, size_t event_len,
                          const char *data, size_t data_len, uint32_t retry) {
    (void)id;
    (void)event;
    size_t n = 1; /* final blank line */
    if (id_len) n += 4 + id_len + 1;
    if (event_len) n += 7 + event_len + 1;
    /* each line costs "data: " + "\n"; separators are replaced by those */
    size_t lines = data_lines(data, data_len);
    size_t sep_bytes = 0;
    for (size_t i = 0; i < data_len; i++) {
        if (data[i] == '\n' || data[i] == '\r') sep_bytes++;
    }
    n += lines * 7 + (data_len - sep_bytes);
    if (retry) n += 7 + u32_digits(retry) + 1;
    return n;
}

static char *put(char *o, const char *s, size_t n) {
    memcpy(o, s, n);
    return o + n;
}

size_t sr_sse_encode(char *out, const char *id, size_t id_len, const char *event, size_t event_len,
                     const char *data, size_t data_len, uint32_t retry) {
    char *o = out;
    if (id_len) {
        o = put(o, "id: ", 4);
        o = put(o, id, id_len);
        *o++ = '\n';
    }
    if (event_len) {
        o = put(o, "event: ", 7);
        o = put(o, event, event_len);
        *o++ = '\n';
    }
    size_t start = 0;
    for (size_t i = 0; i <= data_len; i++) {
        if (i == data_len || data[i] == '\n' || data[i] == '\r') {
            o = put(o, "data: ", 6);
            o = put(o, data + start, i - start);
            *o++ = '\n';
            if (i < data_len && data[i] == '\r' && i + 1 < data_len && data[i + 1] == '\n') i++;
            start = i + 1;
        }
    }
    if (retry) {
        char digits[10];
        size_t nd = u32_digits(retry);
        uint32_t v = retry;
        for (size_t k = nd; k-- > 0;) {
            digits[k] = (char)('0' + v % 10);
            v /= 10;
        }
        o = put(o, "retry: ", 7);
        o = put(o, digits, nd);
        *o++ = '\n';
    }
    *o++ = '\n';
    return (size_t)(o - out);
}

sr_frame *sr_frame_encode(const char *id, size_t id_len, const char *event, size_t event_len,
                          const char *data, size_t data_len, uint32_t retry) {
    size_t len = sr_sse_encoded_len(id, id_len, event, event_len, data, data_len, retry);
    if (len > UINT32_MAX) return NULL;
    sr_frame *f = malloc(sizeof(*f) + len);
    if (!f) return NULL;
    atomic_init(&f->refs, 1);
    f->msgs = 1;
    f->hole = 0;
    f->answer = 0;
    f->born_ns = 0;
    f->len = (uint32_t)sr_sse_encode(f->bytes, id, id_len, event, event_len, data, data_len, retry);
    return f;
}

sr_frame *sr_frame_raw(const char *bytes, size_t len) {
    if (len > UINT32_MAX) return NULL;
    sr_frame *f = malloc(sizeof(*f) + len);
    if (!f) return NULL;
    atomic_init(&f->refs, 1);
    f->msgs = 1;
    f->hole = 0;
    f->answer = 0;
    f->born_ns = 0;
    f->len = (uint32_t)len;
    memcpy(f->bytes, bytes, len);
    return f;
}

sr_frame *sr_frame_concat(sr_frame *const *frames, size_t n) {
    size_t len = 0;
    uint64_t msgs = 0;
    for (size_t i = 0; i < n; i++) {
        len += frames[i]->len;
        msgs += frames[i]->msgs;
    }
    if (len > UINT32_MAX || msgs > UINT32_MAX) return NULL;
    sr_frame *f = malloc(sizeof(*f) + len);
    if (!f) return NULL;
    atomic_init(&f->refs, 1);
    f->msgs = (uint32_t)msgs;
    f->hole = 0;
    f->answer = 0;
    f->born_ns = n ? frames[0]->born_ns : 0;
    f->len = (uint32_t)len;
    char *o = f->bytes;
    for (size_t i = 0; i < n; i++) {
        memcpy(o, frames[i]->bytes, frames[i]->len);
        o += frames[i]->len;
    }
    return f;
}

void sr_frame_unref(sr_frame *f) {
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) free(f);
}

int sr_sse_has_newline(const char *s, size_t len) {
    return memchr(s, '\n', len) != NULL || memchr(s, '\r', len) != NULL;
}
