/* SPDX-License-Identifier: MIT */
/*
 * sseload_h2.c: the HTTP/2 client connection of sseload_h2.h.
 */
#include "sseload_h2.h"

#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

struct sseload_h2 {
    int fd;
    SSL *ssl;
    nghttp2_session *session;
    const sseload_h2_hooks *hooks;
    uint8_t *out; /* session output the socket did not take yet */
    size_t out_len, out_off, out_cap;
};

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud) {
    (void)flags;
    sseload_h2 *h = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_RESPONSE) return 0;
    if (namelen != 7 || memcmp(name, ":status", 7) != 0) return 0;
    void *stream = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!stream) return 0;
    int status = 0;
    for (size_t i = 0; i < valuelen && value[i] >= '0' && value[i] <= '9'; i++)
        status = status * 10 + (value[i] - '0');
    h->hooks->on_status(stream, status);
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *ud) {
    (void)flags;
    sseload_h2 *h = ud;
    void *stream = nghttp2_session_get_stream_user_data(s, stream_id);
    if (stream) h->hooks->on_data(stream, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud) {
    (void)error_code;
    sseload_h2 *h = ud;
    void *stream = nghttp2_session_get_stream_user_data(s, stream_id);
    if (stream) h->hooks->on_close(stream);
    return 0;
}

sseload_h2 *sseload_h2_new(int fd, SSL *ssl, const sseload_h2_hooks *hooks) {
    sseload_h2 *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    h->fd = fd;
    h->ssl = ssl;
    h->hooks = hooks;
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        free(h);
        return NULL;
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    int rc = nghttp2_session_client_new(&h->session, cbs, h);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) {
        free(h);
        return NULL;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };
    if (nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
        nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0, 1 << 24) != 0) {
        sseload_h2_free(h);
        return NULL;
    }
    return h;
}

#define NV(n, v)                                                                                   \
    { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NO_COPY_NAME }

int sseload_h2_get(sseload_h2 *h, const char *scheme, const char *authority, const char *path,
                   void *stream) {
    nghttp2_nv nva[] = {
        NV(":method", "GET"),
        NV(":scheme", scheme),
        NV(":authority", authority),
        NV(":path", path),
        NV("accept", "text/event-stream"),
        NV("cache-control", "no-cache"),
    };
    int32_t id = nghttp2_submit_request(h->session, NULL, nva, sizeof(nva) / sizeof(nva[0]), NULL,
                                        stream);
    return id > 0 ? 0 : -1;
}

/* Writes the pending output, then whatever the session produces: 0 when
 * all went out or the socket is full (the rest waits in h->out), -1 on
 * error. */
static int flush(sseload_h2 *h) {
    for (;;) {
        while (h->out_off < h->out_len) {
            ssize_t w = benchtls_write(h->ssl, h->fd, h->out + h->out_off, h->out_len - h->out_off);
            if (w > 0) {
                h->out_off += (size_t)w;
                continue;
            }
            return w == BENCHTLS_AGAIN ? 0 : -1;
        }
        h->out_len = h->out_off = 0;
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->session, &data);
        if (n < 0) return -1;
        if (n == 0) return 0;
        if ((size_t)n > h->out_cap) {
            size_t cap = h->out_cap ? h->out_cap : 16384;
            while (cap < (size_t)n) cap *= 2;
            uint8_t *nb = realloc(h->out, cap);
            if (!nb) return -1;
            h->out = nb;
            h->out_cap = cap;
        }
        memcpy(h->out, data, (size_t)n); /* data is valid only until the next call */
        h->out_len = (size_t)n;
    }
}

int sseload_h2_io(sseload_h2 *h) {
    static uint8_t buf[256 * 1024];
    for (;;) {
        ssize_t n = benchtls_read(h->ssl, h->fd, buf, sizeof(buf));
        if (n == BENCHTLS_AGAIN) break;
        if (n <= 0) return -1;
        h->hooks->on_read();
        ssize_t used = nghttp2_session_mem_recv(h->session, buf, (size_t)n);
        if (used < 0) return -1;
        /* the window updates of what was just consumed go out at once */
        if (flush(h) < 0) return -1;
    }
    if (flush(h) < 0) return -1;
    if (!nghttp2_session_want_read(h->session) && !nghttp2_session_want_write(h->session))
        return -1;
    return 0;
}

void sseload_h2_free(sseload_h2 *h) {
    if (!h) return;
    nghttp2_session_del(h->session);
    free(h->out);
    free(h);
}
