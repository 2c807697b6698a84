/* SPDX-License-Identifier: MIT */
/*
 * srt_h2.c: the blocking HTTP/2 test client of srt_h2.h (nghttp2's client
 * session; the socket and the waits are srt_http's).
 */
#include "srt_h2.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static srt_h2_stream *stream_of(srt_h2 *h, int32_t sid) {
    for (int i = 0; i < h->n; i++)
        if (h->st[i].sid == sid) return &h->st[i];
    return NULL;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud) {
    (void)s;
    (void)flags;
    srt_h2_stream *st = stream_of(ud, frame->hd.stream_id);
    if (!st) return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        st->status = atoi((const char *)value);
        return 0;
    }
    srt_buf_append(&st->fields, name, namelen);
    srt_buf_append(&st->fields, ": ", 2);
    srt_buf_append(&st->fields, value, valuelen);
    srt_buf_append(&st->fields, "\n", 1);
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len,
                   void *ud) {
    (void)s;
    (void)flags;
    srt_h2_stream *st = stream_of(ud, sid);
    if (st) srt_buf_append(&st->data, data, len);
    return 0;
}

static int on_close(nghttp2_session *s, int32_t sid, uint32_t error, void *ud) {
    (void)s;
    srt_h2_stream *st = stream_of(ud, sid);
    if (st) {
        st->closed = true;
        st->error = error;
    }
    return 0;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *frame, void *ud) {
    (void)s;
    srt_h2 *h = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        h->goaway = true;
        h->goaway_error = frame->goaway.error_code;
        h->goaway_last = frame->goaway.last_stream_id;
    }
    return 0;
}

static int flush_out(srt_h2 *h) {
    const uint8_t *p;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(h->session, &p)) > 0)
        if (srt_conn_send(&h->conn, p, (size_t)n, SRT_TIMEOUT_MS) != 0) return -1;
    return n < 0 ? -1 : 0;
}

int srt_h2_open(srt_h2 *h, int port, uint32_t window) {
    return srt_h2_open_from(h, port, window, NULL);
}

int srt_h2_open_from(srt_h2 *h, int port, uint32_t window, const char *src_ip) {
    memset(h, 0, sizeof(*h));
    srt_conn_opts opts = {.src_ip = src_ip};
    if (srt_conn_open_ex(&h->conn, port, &opts, SRT_TIMEOUT_MS) != 0) return -1;
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return -1;
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame);
    nghttp2_option_new(&opt);
    if (window) nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_session *s = NULL;
    int rc = nghttp2_session_client_new2(&s, cbs, h, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) return -1;
    h->session = s;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window ? window : 1 << 20}};
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 1);
    return flush_out(h);
}

static ssize_t read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud) {
    (void)s;
    (void)sid;
    (void)ud;
    srt_h2_stream *st = src->ptr;
    size_t n = st->body.len - st->body_off;
    if (n > length) n = length;
    memcpy(buf, st->body.data + st->body_off, n);
    st->body_off += n;
    if (st->body_off == st->body.len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

int srt_h2_request(srt_h2 *h, const char *method, const char *path, const char *body,
                   const char *const *headers) {
    if (h->n == SRT_H2_MAX) return -1;
    nghttp2_nv nv[16];
    size_t n = 0;
#define NV(k, v) nv[n++] = (nghttp2_nv){(uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), 0}
    NV(":method", method);
    NV(":scheme", "http");
    NV(":authority", "127.0.0.1");
    NV(":path", path);
    if (body) NV("content-type", "application/json");
    for (size_t i = 0; headers && headers[i] && headers[i + 1] && n < 16; i += 2)
        NV(headers[i], headers[i + 1]);
#undef NV
    srt_h2_stream *st = &h->st[h->n];
    memset(st, 0, sizeof(*st));
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_body};
    if (body) srt_buf_append(&st->body, body, strlen(body));
    int32_t sid = nghttp2_submit_request(h->session, NULL, nv, n, body ? &prd : NULL, NULL);
    if (sid < 0) return -1;
    st->sid = sid;
    h->n++;
    return flush_out(h) == 0 ? h->n - 1 : -1;
}

int srt_h2_pump(srt_h2 *h, int timeout_ms) {
    if (flush_out(h) != 0) return -1;
    if (h->conn.eof) return -1;
    size_t before = h->conn.in.len;
    int n = srt_conn_fill(&h->conn, timeout_ms);
    if (n == -ETIMEDOUT) return 0;
    if (h->conn.in.len > before) {
        ssize_t rc = nghttp2_session_mem_recv(h->session, (const uint8_t *)h->conn.in.data,
                                              h->conn.in.len);
        srt_buf_consume(&h->conn.in, h->conn.in.len);
        if (rc < 0) return -1;
        if (flush_out(h) != 0) return -1;
    }
    return h->conn.eof ? -1 : 0;
}

/* Pumps until done(h, i, arg) or the deadline. */
static bool pump_until(srt_h2 *h, int i, const char *arg, int timeout_ms,
                       bool (*done)(srt_h2 *, int, const char *)) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    while (!done(h, i, arg)) {
        int left = srt_ms_left(deadline);
        if (left == 0) return false;
        if (srt_h2_pump(h, left < 100 ? left : 100) != 0) return done(h, i, arg);
    }
    return true;
}

static bool has_data(srt_h2 *h, int i, const char *text) {
    return h->st[i].data.len && strstr(h->st[i].data.data, text) != NULL;
}

static bool has_status(srt_h2 *h, int i, const char *unused) {
    (void)unused;
    return h->st[i].status != 0;
}

static bool is_closed(srt_h2 *h, int i, const char *unused) {
    (void)unused;
    return h->st[i].closed;
}

bool srt_h2_wait_data(srt_h2 *h, int i, const char *text, int timeout_ms) {
    return pump_until(h, i, text, timeout_ms, has_data);
}

bool srt_h2_wait_status(srt_h2 *h, int i, int timeout_ms) {
    return pump_until(h, i, NULL, timeout_ms, has_status);
}

bool srt_h2_wait_closed(srt_h2 *h, int i, int timeout_ms) {
    return pump_until(h, i, NULL, timeout_ms, is_closed);
}

bool srt_h2_wait_eof(srt_h2 *h, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    while (!h->conn.eof) {
        int left = srt_ms_left(deadline);
        if (left == 0) return false;
        if (srt_h2_pump(h, left < 100 ? left : 100) != 0 && !h->conn.eof) {
            /* the session failed: read raw until the server closes */
            return srt_conn_wait_eof(&h->conn, srt_ms_left(deadline)) == 0;
        }
    }
    return true;
}

void srt_h2_reset(srt_h2 *h, int i) {
    nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, h->st[i].sid, NGHTTP2_CANCEL);
    flush_out(h);
}

void srt_h2_consume(srt_h2 *h, int i, size_t n) {
    nghttp2_session_consume(h->session, h->st[i].sid, n);
    flush_out(h);
}

void srt_h2_close(srt_h2 *h) {
    for (int i = 0; i < h->n; i++) {
        srt_buf_free(&h->st[i].fields);
        srt_buf_free(&h->st[i].data);
        srt_buf_free(&h->st[i].body);
    }
    if (h->session) nghttp2_session_del(h->session);
    h->session = NULL;
    srt_conn_close(&h->conn);
}
