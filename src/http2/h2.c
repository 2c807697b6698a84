/* SPDX-License-Identifier: MIT */
/*
 * h2.c: the HTTP/2 server session of h2.h over nghttp2's callback API.
 *
 * nghttp2 does the protocol (preface, SETTINGS, HPACK, flow control, stream
 * states, GOAWAY); this file keeps, per stream, the request being received
 * (an arena of header fields and the body, freed once the request is
 * delivered, so an open event stream holds only its response queue) and
 * the response queue (a ring of sr_frame references). Output is a list of
 * segments: control bytes and DATA frame headers are copied into a shared
 * arena frame (16 KiB, referenced by the segments that point into it, so
 * consumed arenas go away by themselves), DATA payloads are references to
 * the queued frames (NGHTTP2_DATA_FLAG_NO_COPY + send_data_callback).
 * Every stream is also on a list, so sr_h2_free releases streams that
 * nghttp2_session_del drops without a close callback.
 */
#include "http2/h2.h"

#include <nghttp2/nghttp2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/buf.h"
#include "sserooms.h"

#define ARENA_BYTES 16384

typedef struct h2_field {
    size_t name_off, name_len, value_off, value_len;
} h2_field;

struct sr_h2_stream {
    /* the response, first: a broadcast touches only this cache line */
    sr_frame **q; /* a ring of q_cap (a power of two) */
    uint32_t q_head, q_len, q_cap, q_off;
    size_t q_bytes;
    int32_t id;
    uint8_t delivered : 1;  /* the request went to on_request */
    uint8_t answered : 1;   /* HEADERS submitted */
    uint8_t more : 1;       /* a body follows the HEADERS */
    uint8_t ended : 1;      /* sr_h2_end: END_STREAM after the queue */
    uint8_t deferred : 1;   /* nghttp2 waits for data (ERR_DEFERRED) */
    uint8_t reset_here : 1; /* sr_h2_reset: its RST_STREAM is not the peer's fault */
    void *ud;
    sr_h2_stream *prev, *next; /* every stream of the session */
    /* the request: NUL-terminated names and values in arena */
    sr_buf arena;
    h2_field *fields;
    size_t n_fields, cap_fields;
    size_t pseudo[4]; /* arena offset + 1 of :method, :scheme, :authority, :path */
    size_t head_bytes;
    sr_buf body;
    int error_status;
};

struct sr_h2 {
    nghttp2_session *session;
    sr_h2_config cfg;
    sr_h2_callbacks cb;
    void *ud;
    sr_h2_stream *streams;
    /* output: segs[seg_head..seg_len) */
    sr_h2_seg *segs;
    size_t seg_head, seg_len, seg_cap;
    size_t out_bytes;
    sr_frame *arena; /* the current control-bytes arena (our reference) */
    uint32_t arena_used;
    sr_h2_stats stats;
    int failed; /* out of memory while producing */
    char error[96];
    char last_invalid[64]; /* why the last invalid frame was invalid */
};

static const char *const pseudo_names[4] = {":method", ":scheme", ":authority", ":path"};

/* --- output ------------------------------------------------------------ */

/* Appends len bytes of f at off to the output. give = 1: the caller's
 * reference to f goes to the output (taken only on success), so moving a
 * queued frame out costs no reference count; give = 0: a new one. */
static int push_seg(sr_h2 *h, sr_frame *f, uint32_t off, uint32_t len, int give) {
    if (!len) {
        if (give) sr_frame_unref(f);
        return 0;
    }
    if (h->seg_len > h->seg_head) { /* extends the last segment when contiguous */
        sr_h2_seg *last = &h->segs[h->seg_len - 1];
        if (last->frame == f && last->off + last->len == off) {
            last->len += len;
            h->out_bytes += len;
            if (give) sr_frame_unref(f); /* the segment holds one already */
            return 0;
        }
    }
    if (h->seg_len == h->seg_cap) {
        if (h->seg_head > 0) { /* slide the live segments down */
            memmove(h->segs, h->segs + h->seg_head, (h->seg_len - h->seg_head) * sizeof(*h->segs));
            h->seg_len -= h->seg_head;
            h->seg_head = 0;
        }
        if (h->seg_len == h->seg_cap) {
            size_t cap = h->seg_cap ? h->seg_cap * 2 : 64;
            sr_h2_seg *s = realloc(h->segs, cap * sizeof(*s));
            if (!s) return -1;
            h->segs = s;
            h->seg_cap = cap;
        }
    }
    if (!give) sr_frame_ref(f);
    h->segs[h->seg_len++] = (sr_h2_seg){f, off, len};
    h->out_bytes += len;
    return 0;
}

static sr_frame *new_arena(size_t cap) {
    sr_frame *f = malloc(sizeof(*f) + cap);
    if (!f) return NULL;
    atomic_init(&f->refs, 1);
    f->msgs = 0;
    f->born_ns = 0;
    f->len = (uint32_t)cap;
    return f;
}

/* Copies control bytes into the arena and the output. */
static int out_copy(sr_h2 *h, const uint8_t *p, size_t n) {
    while (n > 0) {
        if (!h->arena || h->arena_used == h->arena->len) {
            sr_frame *a = new_arena(ARENA_BYTES);
            if (!a) return -1;
            sr_frame_unref(h->arena);
            h->arena = a;
            h->arena_used = 0;
        }
        size_t room = h->arena->len - h->arena_used;
        size_t k = n < room ? n : room;
        memcpy(h->arena->bytes + h->arena_used, p, k);
        if (push_seg(h, h->arena, h->arena_used, (uint32_t)k, 0) < 0) return -1;
        h->arena_used += (uint32_t)k;
        p += k;
        n -= k;
    }
    return 0;
}

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud) {
    (void)s;
    (void)flags;
    sr_h2 *h = ud;
    if (h->out_bytes >= h->cfg.max_out_bytes) return NGHTTP2_ERR_WOULDBLOCK;
    if (out_copy(h, data, len) < 0) {
        h->failed = 1;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return (ssize_t)len;
}

/* Moves n queued bytes of st to the output, as references. */
static int out_stream_bytes(sr_h2 *h, sr_h2_stream *st, size_t n) {
    while (n > 0 && st->q_len > 0) {
        sr_frame *f = st->q[st->q_head];
        size_t left = f->len - st->q_off;
        size_t k = n < left ? n : left;
        /* the rest of a frame: the queue's reference moves to the output */
        if (push_seg(h, f, st->q_off, (uint32_t)k, k == left) < 0) return -1;
        n -= k;
        st->q_bytes -= k;
        if (k < left) {
            st->q_off += (uint32_t)k;
        } else {
            st->q_off = 0;
            st->q_head = (st->q_head + 1) & (st->q_cap - 1);
            st->q_len--;
        }
    }
    return 0;
}

static int on_send_data(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *source, void *ud) {
    (void)s;
    sr_h2 *h = ud;
    sr_h2_stream *st = source->ptr;
    if (h->out_bytes >= h->cfg.max_out_bytes) return NGHTTP2_ERR_WOULDBLOCK;
    size_t pad = frame->data.padlen;
    if (out_copy(h, framehd, 9) < 0) goto oom;
    if (pad > 0) {
        uint8_t padlen = (uint8_t)(pad - 1);
        if (out_copy(h, &padlen, 1) < 0) goto oom;
    }
    if (out_stream_bytes(h, st, length) < 0) goto oom;
    if (pad > 1) {
        static const uint8_t zeros[256];
        if (out_copy(h, zeros, pad - 1) < 0) goto oom;
    }
    return 0;
oom:
    h->failed = 1;
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static ssize_t on_read_data(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *source, void *ud) {
    (void)s;
    (void)id;
    (void)buf;
    (void)ud;
    sr_h2_stream *st = source->ptr;
    if (st->q_bytes == 0) {
        if (st->ended) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            return 0;
        }
        st->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = st->q_bytes < length ? st->q_bytes : length;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == st->q_bytes && st->ended) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* --- streams ------------------------------------------------------------ */

static sr_h2_stream *stream_of(const sr_h2 *h, int32_t id) {
    if (id <= 0) return NULL;
    return nghttp2_session_get_stream_user_data(h->session, id);
}

static void stream_free(sr_h2 *h, sr_h2_stream *st) {
    if (st->prev) st->prev->next = st->next;
    else h->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    while (st->q_len > 0) {
        sr_frame_unref(st->q[st->q_head]);
        st->q_head = (st->q_head + 1) & (st->q_cap - 1);
        st->q_len--;
    }
    free(st->q);
    free(st->fields);
    sr_buf_free(&st->arena);
    sr_buf_free(&st->body);
    free(st);
}

/* Drops the request's storage once delivered: an event stream lives long. */
static void stream_forget_request(sr_h2_stream *st) {
    free(st->fields);
    st->fields = NULL;
    st->n_fields = st->cap_fields = 0;
    sr_buf_free(&st->arena);
    sr_buf_free(&st->body);
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *ud) {
    sr_h2 *h = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    sr_h2_stream *st = calloc(1, sizeof(*st));
    if (!st) return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->id = frame->hd.stream_id;
    sr_buf_init(&st->arena);
    sr_buf_init(&st->body);
    st->next = h->streams;
    if (h->streams) h->streams->prev = st;
    h->streams = st;
    if (nghttp2_session_set_stream_user_data(s, st->id, st) != 0) {
        stream_free(h, st);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

/* Appends a NUL-terminated copy; its offset, or (size_t)-1 out of memory. */
static size_t arena_put(sr_buf *b, const uint8_t *p, size_t n) {
    size_t off = b->len;
    sr_buf_append(b, p, n);
    sr_buf_append(b, "", 1);
    return b->oom ? (size_t)-1 : off;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud) {
    (void)flags;
    sr_h2 *h = ud;
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    sr_h2_stream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!st || st->delivered) return 0; /* trailers are not kept */
    st->head_bytes += namelen + valuelen;
    if (st->head_bytes > h->cfg.max_header_bytes) {
        st->error_status = 431;
        return 0;
    }
    if (st->error_status) return 0;
    if (namelen > 0 && name[0] == ':') {
        for (int i = 0; i < 4; i++) {
            if (strlen(pseudo_names[i]) == namelen && memcmp(pseudo_names[i], name, namelen) == 0) {
                size_t off = arena_put(&st->arena, value, valuelen);
                if (off == (size_t)-1) return NGHTTP2_ERR_CALLBACK_FAILURE;
                st->pseudo[i] = off + 1;
            }
        }
        return 0;
    }
    if (st->n_fields == st->cap_fields) {
        size_t cap = st->cap_fields ? st->cap_fields * 2 : 16;
        h2_field *f = realloc(st->fields, cap * sizeof(*f));
        if (!f) return NGHTTP2_ERR_CALLBACK_FAILURE;
        st->fields = f;
        st->cap_fields = cap;
    }
    size_t noff = arena_put(&st->arena, name, namelen);
    size_t voff = arena_put(&st->arena, value, valuelen);
    if (noff == (size_t)-1 || voff == (size_t)-1) return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->fields[st->n_fields++] = (h2_field){noff, namelen, voff, valuelen};
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud) {
    (void)flags;
    sr_h2 *h = ud;
    sr_h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st || st->delivered || st->error_status) return 0;
    if (st->body.len + len > h->cfg.max_body_bytes) {
        st->error_status = 413;
        sr_buf_free(&st->body);
        return 0;
    }
    sr_buf_append(&st->body, data, len);
    return st->body.oom ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static void deliver(sr_h2 *h, sr_h2_stream *st) {
    st->delivered = 1;
    sr_h2_kv *kv = NULL;
    if (st->n_fields && !(kv = malloc(st->n_fields * sizeof(*kv)))) {
        nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    const char *a = st->arena.p;
    for (size_t i = 0; i < st->n_fields; i++) {
        const h2_field *f = &st->fields[i];
        kv[i] = (sr_h2_kv){a + f->name_off, f->name_len, a + f->value_off, f->value_len};
    }
    const char *ps[4];
    for (int i = 0; i < 4; i++) ps[i] = st->pseudo[i] ? a + st->pseudo[i] - 1 : "";
    sr_h2_request req = {
        .stream_id = st->id,
        .error_status = st->error_status,
        .method = ps[0],
        .scheme = ps[1],
        .authority = ps[2],
        .path = ps[3],
        .headers = kv,
        .n_headers = st->n_fields,
        .body = st->body.p ? st->body.p : "",
        .body_len = st->body.len,
    };
    h->stats.requests++;
    if (h->cb.on_request) h->cb.on_request(h->ud, &req);
    free(kv);
    /* the callee may have reset the stream; it is freed only in on_close */
    st = stream_of(h, req.stream_id);
    if (st) stream_forget_request(st);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud) {
    sr_h2 *h = ud;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
    sr_h2_stream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (st && !st->delivered) deliver(h, st);
    return 0;
}

static int on_invalid_frame(nghttp2_session *s, const nghttp2_frame *frame, int err, void *ud) {
    (void)s;
    (void)frame;
    sr_h2 *h = ud; /* counted when nghttp2's answer goes out (on_frame_send) */
    snprintf(h->last_invalid, sizeof(h->last_invalid), "%s", nghttp2_strerror(err));
    return 0;
}

static int on_invalid_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                             size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                             void *ud) {
    (void)s;
    (void)frame;
    (void)name;
    (void)namelen;
    (void)value;
    (void)valuelen;
    (void)flags;
    (void)ud;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream: counted then */
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error, void *ud) {
    sr_h2 *h = ud;
    sr_h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st) return 0;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    void *sud = st->ud;
    stream_free(h, st);
    if (h->cb.on_stream_close) h->cb.on_stream_close(h->ud, id, sud, error);
    return 0;
}

/* Counts the peer's protocol errors as nghttp2 answers them: a GOAWAY
 * with an error code (a connection error), or a RST_STREAM this layer did
 * not ask for (a stream error: bad fields, flow control, too many
 * streams). */
static int on_frame_send(nghttp2_session *s, const nghttp2_frame *frame, void *ud) {
    sr_h2 *h = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
        h->stats.violations++;
        if (!h->error[0])
            snprintf(h->error, sizeof(h->error), "%s",
                     h->last_invalid[0] ? h->last_invalid
                                        : nghttp2_http2_strerror(frame->goaway.error_code));
    } else if (frame->hd.type == NGHTTP2_RST_STREAM) {
        sr_h2_stream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
        if (!st || !st->reset_here) h->stats.violations++;
    }
    return 0;
}

static void produce(sr_h2 *h) {
    if (h->failed || h->out_bytes >= h->cfg.max_out_bytes) return;
    int rc = nghttp2_session_send(h->session);
    if (rc != 0 && !h->error[0]) snprintf(h->error, sizeof(h->error), "%s", nghttp2_strerror(rc));
}

/* --- the session ----------------------------------------------------------- */

sr_h2 *sr_h2_new(const sr_h2_config *cfg, const sr_h2_callbacks *cb, void *ud) {
    sr_h2 *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    h->cfg = *cfg;
    if (!h->cfg.max_out_bytes) h->cfg.max_out_bytes = 65536;
    if (cb) h->cb = *cb;
    h->ud = ud;
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        free(h);
        return NULL;
    }
    nghttp2_session_callbacks_set_send_callback(cbs, on_send);
    nghttp2_session_callbacks_set_send_data_callback(cbs, on_send_data);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
    nghttp2_session_callbacks_set_on_invalid_header_callback(cbs, on_invalid_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    int rc = nghttp2_session_server_new(&h->session, cbs, h);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) {
        free(h);
        return NULL;
    }
    /* NO_RFC7540_PRIORITIES (RFC 9218): nghttp2 then schedules streams by
     * urgency with one queue per level instead of the RFC 7540 dependency
     * tree, where every DATA frame of a stream re-sorted it in its
     * parent's queue (a broadcast to a connection's 100 streams paid
     * four heap operations per stream; now two). Browsers send RFC 9218
     * priority fields, which nghttp2 then honours. */
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->max_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
         (uint32_t)(cfg->max_header_bytes > UINT32_MAX ? UINT32_MAX : cfg->max_header_bytes)},
    };
    if (nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) !=
        0) {
        sr_h2_free(h);
        return NULL;
    }
    h->error[0] = '\0';
    return h;
}

void sr_h2_free(sr_h2 *h) {
    if (!h) return;
    nghttp2_session_del(h->session);
    while (h->streams) stream_free(h, h->streams);
    for (size_t i = h->seg_head; i < h->seg_len; i++) sr_frame_unref(h->segs[i].frame);
    free(h->segs);
    sr_frame_unref(h->arena);
    free(h);
}

int sr_h2_recv(sr_h2 *h, const uint8_t *data, size_t len) {
    if (h->error[0]) return -1;
    ssize_t rc = nghttp2_session_mem_recv(h->session, data, len);
    if (rc < 0) {
        snprintf(h->error, sizeof(h->error), "%s", nghttp2_strerror((int)rc));
        if (rc == NGHTTP2_ERR_BAD_CLIENT_MAGIC) { /* answered with GOAWAY, counted when sent */
            nghttp2_session_terminate_session(h->session, NGHTTP2_PROTOCOL_ERROR);
            produce(h);
        } else if (rc != NGHTTP2_ERR_NOMEM && rc != NGHTTP2_ERR_CALLBACK_FAILURE) {
            h->stats.violations++; /* flooding: the session is dropped as it is */
        }
        return -1;
    }
    /* a connection error (a DATA frame on stream 0, a bad SETTINGS...)
     * queued a GOAWAY; once it is produced nothing more is read */
    produce(h);
    if (h->error[0] || !nghttp2_session_want_read(h->session)) {
        if (!h->error[0]) snprintf(h->error, sizeof(h->error), "%s", "the session ended (GOAWAY)");
        return -1;
    }
    return 0;
}

size_t sr_h2_out_peek(sr_h2 *h, sr_h2_seg *segs, size_t max) {
    produce(h);
    size_t n = 0;
    for (size_t i = h->seg_head; i < h->seg_len && n < max; i++) segs[n++] = h->segs[i];
    return n;
}

size_t sr_h2_out_bytes(const sr_h2 *h) {
    return h->out_bytes;
}

void sr_h2_out_consumed(sr_h2 *h, size_t bytes) {
    while (bytes > 0 && h->seg_head < h->seg_len) {
        sr_h2_seg *s = &h->segs[h->seg_head];
        if (bytes < s->len) {
            s->off += (uint32_t)bytes;
            s->len -= (uint32_t)bytes;
            h->out_bytes -= bytes;
            return;
        }
        bytes -= s->len;
        h->out_bytes -= s->len;
        /* a frame's last byte (control arenas have no born_ns) */
        if (s->frame->born_ns && s->off + s->len == s->frame->len && h->cb.on_frame_written)
            h->cb.on_frame_written(h->ud, s->frame);
        sr_frame_unref(s->frame);
        h->seg_head++;
    }
    if (h->seg_head == h->seg_len) h->seg_head = h->seg_len = 0;
}

int sr_h2_want_close(const sr_h2 *h) {
    if (h->out_bytes > 0) return 0;
    if (h->error[0] || h->failed) return 1;
    return !nghttp2_session_want_read(h->session) && !nghttp2_session_want_write(h->session);
}

int sr_h2_connection_specific(const char *name, size_t len) {
    static const char *const names[] = {"connection", "keep-alive", "proxy-connection",
                                        "transfer-encoding", "upgrade"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0) return 1;
    return 0;
}

int sr_h2_respond(sr_h2 *h, int32_t id, int status, const sr_h2_kv *fields, size_t n, int more) {
    sr_h2_stream *st = stream_of(h, id);
    if (!st || st->answered || status < 100 || status > 999) return SR_ESTATE;
    nghttp2_nv *nv = malloc((n + 1) * sizeof(*nv));
    if (!nv) return SR_ENOMEM;
    char code[4] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), 0};
    size_t k = 0;
    nv[k++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < n; i++) {
        if (sr_h2_connection_specific(fields[i].name, fields[i].name_len)) continue;
        nv[k++] = (nghttp2_nv){(uint8_t *)fields[i].name, (uint8_t *)fields[i].value,
                               fields[i].name_len, fields[i].value_len, NGHTTP2_NV_FLAG_NONE};
    }
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = on_read_data};
    int rc = nghttp2_submit_response(h->session, id, nv, k, more ? &prd : NULL);
    free(nv);
    if (rc != 0) return rc == NGHTTP2_ERR_NOMEM ? SR_ENOMEM : SR_ESTATE;
    st->answered = 1;
    st->more = more ? 1 : 0;
    return SR_OK;
}

int sr_h2_respond_http1(sr_h2 *h, int32_t id, const char *head, size_t len, int more) {
    /* "HTTP/1.x NNN reason\r\n" */
    if (len < 14 || memcmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ') return SR_EINVAL;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (head[i] < '0' || head[i] > '9') return SR_EINVAL;
        status = status * 10 + (head[i] - '0');
    }
    const char *p = memchr(head, '\n', len);
    if (!p) return SR_EINVAL;
    p++;
    const char *end = head + len;
    char *copy = malloc(len + 1); /* names lower-cased, each name and value NUL-terminated */
    size_t cap = 16, n = 0;
    sr_h2_kv *kv = malloc(cap * sizeof(*kv));
    int rc = SR_ENOMEM;
    if (!copy || !kv) goto out;
    rc = SR_EINVAL;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) goto out;
        size_t line = (size_t)(eol - p);
        if (line > 0 && p[line - 1] == '\r') line--;
        if (line == 0) break; /* the blank line */
        const char *colon = memchr(p, ':', line);
        if (!colon || colon == p) goto out;
        if (n == cap) {
            cap *= 2;
            sr_h2_kv *m = realloc(kv, cap * sizeof(*kv));
            if (!m) {
                rc = SR_ENOMEM;
                goto out;
            }
            kv = m;
        }
        char *name = copy + (p - head);
        size_t name_len = (size_t)(colon - p);
        for (size_t i = 0; i < name_len; i++) {
            char ch = p[i];
            name[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        const char *v = colon + 1;
        const char *vend = p + line;
        while (v < vend && (*v == ' ' || *v == '\t')) v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t')) vend--;
        char *value = copy + (v - head);
        memcpy(value, v, (size_t)(vend - v));
        name[name_len] = '\0';  /* the colon's place */
        value[vend - v] = '\0'; /* a CR, LF or blank at the latest */
        kv[n++] = (sr_h2_kv){name, name_len, value, (size_t)(vend - v)};
        p = eol + 1;
    }
    rc = sr_h2_respond(h, id, status, kv, n, more);
out:
    free(copy);
    free(kv);
    return rc;
}

sr_h2_stream *sr_h2_stream_of(sr_h2 *h, int32_t id) {
    return stream_of(h, id);
}

int sr_h2_send(sr_h2 *h, int32_t id, sr_frame *f) {
    return sr_h2_send_on(h, stream_of(h, id), f);
}

int sr_h2_send_on(sr_h2 *h, sr_h2_stream *st, sr_frame *f) {
    /* a stream this side reset takes nothing more (its RST_STREAM may wait
     * behind a full socket, and a slow consumer is reported once) */
    if (!st || !st->answered || !st->more || st->ended || st->reset_here) return SR_ESTATE;
    if (f->len == 0) return SR_OK;
    if (st->q_bytes + f->len > h->cfg.max_queue_bytes) {
        h->stats.slow_streams++;
        return SR_EQUEUE;
    }
    if (st->q_len == st->q_cap) {
        uint32_t cap = st->q_cap ? st->q_cap * 2 : 4;
        sr_frame **q = malloc(cap * sizeof(*q));
        if (!q) return SR_ENOMEM;
        for (uint32_t i = 0; i < st->q_len; i++) q[i] = st->q[(st->q_head + i) & (st->q_cap - 1)];
        free(st->q);
        st->q = q;
        st->q_cap = cap;
        st->q_head = 0;
    }
    sr_frame_ref(f);
    st->q[(st->q_head + st->q_len) & (st->q_cap - 1)] = f;
    st->q_len++;
    st->q_bytes += f->len;
    if (st->deferred) {
        st->deferred = 0;
        nghttp2_session_resume_data(h->session, st->id);
    }
    return SR_OK;
}

int sr_h2_end(sr_h2 *h, int32_t id) {
    sr_h2_stream *st = stream_of(h, id);
    if (!st || !st->answered) return SR_ESTATE;
    if (!st->more || st->ended) return SR_OK;
    st->ended = 1;
    if (st->deferred) {
        st->deferred = 0;
        nghttp2_session_resume_data(h->session, id);
    }
    return SR_OK;
}

int sr_h2_reset(sr_h2 *h, int32_t id, uint32_t error) {
    sr_h2_stream *st = stream_of(h, id);
    if (!st) return SR_ESTATE;
    st->reset_here = 1;
    return nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, id, error) == 0 ? SR_OK
                                                                                    : SR_ENOMEM;
}

size_t sr_h2_queued(const sr_h2 *h, int32_t id) {
    sr_h2_stream *st = stream_of(h, id);
    return st ? st->q_bytes : 0;
}

void *sr_h2_stream_ud(const sr_h2 *h, int32_t id) {
    sr_h2_stream *st = stream_of((sr_h2 *)h, id);
    return st ? st->ud : NULL;
}

int sr_h2_set_stream_ud(sr_h2 *h, int32_t id, void *sud) {
    sr_h2_stream *st = stream_of(h, id);
    if (!st) return SR_ESTATE;
    st->ud = sud;
    return SR_OK;
}

void sr_h2_goaway(sr_h2 *h) {
    nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h->session), NGHTTP2_NO_ERROR,
                          NULL, 0);
}

const sr_h2_stats *sr_h2_stats_of(const sr_h2 *h) {
    return &h->stats;
}

const char *sr_h2_error(const sr_h2 *h) {
    return h->error;
}
