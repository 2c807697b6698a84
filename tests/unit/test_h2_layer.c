/* SPDX-License-Identifier: MIT */
/*
 * test_h2_layer.c: the HTTP/2 layer (src/http2) driven by nghttp2's own
 * client side, in process, over memory: requests and their fields and
 * bodies, responses from an HTTP/1.1 head without connection-specific
 * fields, SSE data byte for byte, the shared payload of one frame sent to
 * many streams (segments point into the frame, no copy), max streams,
 * flow control shut => SR_EQUEUE under max_queue_bytes, limits, protocol
 * violations answered with GOAWAY and counted, GOAWAY on shutdown, RFC 9218
 * priorities (SETTINGS_NO_RFC7540_PRIORITIES) and stream handles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "common/buf.h"
#include "http2/h2.h"
#include "sserooms.h"

#define MAX_SID 64

/* What the client saw of one stream. */
typedef struct client_stream {
    int status;
    sr_buf fields; /* "name: value\n" for each response field */
    sr_buf data;
    int closed;
    uint32_t close_error;
} client_stream;

/* What the server side saw. */
typedef struct seen_request {
    int32_t sid;
    int error_status;
    char method[16], path[128], authority[64], scheme[16];
    char accept[64];
    sr_buf body;
} seen_request;

typedef struct pair {
    sr_h2 *srv;
    nghttp2_session *cli;
    client_stream st[MAX_SID];
    seen_request req[MAX_SID];
    int n_req;
    int respond_sse; /* answer every request with an SSE head at once */
    int closed_on_server[MAX_SID];
    uint32_t closed_error[MAX_SID];
    void *closed_ud[MAX_SID];
    int goaway;
    uint32_t goaway_error;
    int32_t goaway_last;
    int srv_failed;
    int frames_written; /* on_frame_written calls */
} pair;

static const char sse_head[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "Connection: keep-alive\r\nX-Accel-Buffering: no\r\nKeep-Alive: timeout=5\r\n"
    "Transfer-Encoding: identity\r\n\r\n";

static void on_request(void *ud, const sr_h2_request *r) {
    pair *p = ud;
    assert_true(r->stream_id > 0 && r->stream_id < MAX_SID);
    seen_request *s = &p->req[p->n_req++];
    s->sid = r->stream_id;
    s->error_status = r->error_status;
    snprintf(s->method, sizeof(s->method), "%s", r->method);
    snprintf(s->path, sizeof(s->path), "%s", r->path);
    snprintf(s->authority, sizeof(s->authority), "%s", r->authority);
    snprintf(s->scheme, sizeof(s->scheme), "%s", r->scheme);
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcmp(r->headers[i].name, "accept") == 0)
            snprintf(s->accept, sizeof(s->accept), "%s", r->headers[i].value);
    sr_buf_init(&s->body);
    sr_buf_append(&s->body, r->body, r->body_len);
    if (p->respond_sse) {
        assert_int_equal(sr_h2_respond_http1(p->srv, r->stream_id, sse_head, sizeof(sse_head) - 1,
                                             1),
                         SR_OK);
        sr_h2_set_stream_ud(p->srv, r->stream_id, &p->req[p->n_req - 1]);
    }
}

static void on_server_close(void *ud, int32_t sid, void *sud, uint32_t error) {
    pair *p = ud;
    assert_true(sid > 0 && sid < MAX_SID);
    p->closed_on_server[sid]++;
    p->closed_error[sid] = error;
    p->closed_ud[sid] = sud;
}

static void on_frame_written(void *ud, const sr_frame *f) {
    pair *p = ud;
    assert_true(f->born_ns != 0);
    p->frames_written++;
}

static int cli_on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                         size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                         void *ud) {
    (void)s;
    (void)flags;
    pair *p = ud;
    client_stream *cs = &p->st[frame->hd.stream_id];
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        cs->status = atoi((const char *)value);
        return 0;
    }
    sr_buf_append(&cs->fields, name, namelen);
    sr_buf_append(&cs->fields, ": ", 2);
    sr_buf_append(&cs->fields, value, valuelen);
    sr_buf_append(&cs->fields, "\n", 1);
    return 0;
}

static int cli_on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data,
                       size_t len, void *ud) {
    (void)s;
    (void)flags;
    pair *p = ud;
    sr_buf_append(&p->st[sid].data, data, len);
    return 0;
}

static int cli_on_close(nghttp2_session *s, int32_t sid, uint32_t error, void *ud) {
    (void)s;
    pair *p = ud;
    p->st[sid].closed = 1;
    p->st[sid].close_error = error;
    return 0;
}

static int cli_on_frame(nghttp2_session *s, const nghttp2_frame *frame, void *ud) {
    (void)s;
    pair *p = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        p->goaway = 1;
        p->goaway_error = frame->goaway.error_code;
        p->goaway_last = frame->goaway.last_stream_id;
    }
    return 0;
}

static const sr_h2_config default_cfg = {
    .max_streams = 128,
    .max_header_bytes = 8192,
    .max_body_bytes = 1024,
    .max_queue_bytes = 4096,
    .max_out_bytes = 65536,
};

/* window: the client's SETTINGS_INITIAL_WINDOW_SIZE (0: default, and the
 * client consumes and updates windows itself). */
static pair *pair_new(const sr_h2_config *cfg, uint32_t window) {
    pair *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    for (int i = 0; i < MAX_SID; i++) {
        sr_buf_init(&p->st[i].fields);
        sr_buf_init(&p->st[i].data);
    }
    sr_h2_callbacks cb = {.on_request = on_request,
                          .on_stream_close = on_server_close,
                          .on_frame_written = on_frame_written};
    p->srv = sr_h2_new(cfg ? cfg : &default_cfg, &cb, p);
    assert_non_null(p->srv);
    nghttp2_session_callbacks *cbs;
    assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_on_header_callback(cbs, cli_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cli_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cli_on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cli_on_frame);
    nghttp2_option *opt;
    assert_int_equal(nghttp2_option_new(&opt), 0);
    if (window) nghttp2_option_set_no_auto_window_update(opt, 1);
    assert_int_equal(nghttp2_session_client_new2(&p->cli, cbs, p, opt), 0);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window ? window : 65535}};
    assert_int_equal(nghttp2_submit_settings(p->cli, NGHTTP2_FLAG_NONE, iv, 1), 0);
    return p;
}

static void pair_free(pair *p) {
    sr_h2_free(p->srv);
    nghttp2_session_del(p->cli);
    for (int i = 0; i < MAX_SID; i++) {
        sr_buf_free(&p->st[i].fields);
        sr_buf_free(&p->st[i].data);
    }
    for (int i = 0; i < p->n_req; i++) sr_buf_free(&p->req[i].body);
    free(p);
}

/* Moves the server's output to the client; the bytes moved. */
static size_t server_to_client(pair *p) {
    sr_h2_seg segs[256];
    size_t total = 0;
    for (;;) {
        size_t n = sr_h2_out_peek(p->srv, segs, 256);
        if (n == 0) break;
        size_t bytes = 0;
        for (size_t i = 0; i < n; i++) {
            ssize_t rc = nghttp2_session_mem_recv(
                p->cli, (const uint8_t *)segs[i].frame->bytes + segs[i].off, segs[i].len);
            assert_true(rc == (ssize_t)segs[i].len);
            bytes += segs[i].len;
        }
        sr_h2_out_consumed(p->srv, bytes);
        total += bytes;
    }
    return total;
}

/* Runs both sides until neither has anything to say. */
static void pump(pair *p) {
    for (int round = 0; round < 100; round++) {
        size_t moved = 0;
        const uint8_t *data;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(p->cli, &data)) > 0) {
            if (sr_h2_recv(p->srv, data, (size_t)n) < 0) p->srv_failed = 1;
            moved += (size_t)n;
        }
        moved += server_to_client(p);
        if (!moved) return;
    }
    fail_msg("the sessions kept talking");
}

static int32_t get(pair *p, const char *path) {
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":authority", (uint8_t *)"example.test", 10, 12, 0},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
        {(uint8_t *)"accept", (uint8_t *)"text/event-stream", 6, 17, 0},
    };
    int32_t sid = nghttp2_submit_request(p->cli, NULL, nv, 5, NULL, NULL);
    assert_true(sid > 0 && sid < MAX_SID);
    return sid;
}

static void test_sse_stream_byte_for_byte(void **state) {
    (void)state;
    pair *p = pair_new(NULL, 0);
    p->respond_sse = 1;
    int32_t sid = get(p, "/sse?rooms=a");
    pump(p);
    assert_int_equal(p->n_req, 1);
    assert_string_equal(p->req[0].method, "GET");
    assert_string_equal(p->req[0].path, "/sse?rooms=a");
    assert_string_equal(p->req[0].authority, "example.test");
    assert_string_equal(p->req[0].scheme, "http");
    assert_string_equal(p->req[0].accept, "text/event-stream");
    assert_int_equal(p->st[sid].status, 200);
    sr_buf_append(&p->st[sid].fields, "", 1);
    /* RFC 9113 §8.2.2: no connection-specific fields */
    assert_string_equal(p->st[sid].fields.p,
                        "content-type: text/event-stream\ncache-control: no-cache\n"
                        "x-accel-buffering: no\n");
    sr_frame *f1 = sr_frame_encode("1", 1, "message", 7, "{\"a\":1}", 7, 0);
    sr_frame *f2 = sr_frame_raw(": heartbeat\n\n", 13);
    assert_int_equal(sr_h2_send(p->srv, sid, f1), SR_OK);
    assert_int_equal(sr_h2_send(p->srv, sid, f2), SR_OK);
    pump(p);
    sr_buf_append(&p->st[sid].data, "", 1);
    assert_string_equal(p->st[sid].data.p,
                        "id: 1\nevent: message\ndata: {\"a\":1}\n\n: heartbeat\n\n");
    assert_false(p->st[sid].closed);
    assert_int_equal(sr_h2_end(p->srv, sid), SR_OK);
    pump(p);
    assert_true(p->st[sid].closed);
    assert_int_equal(p->st[sid].close_error, NGHTTP2_NO_ERROR);
    assert_int_equal(p->closed_on_server[sid], 1);
    assert_ptr_equal(p->closed_ud[sid], &p->req[0]);
    assert_int_equal(sr_h2_stats_of(p->srv)->violations, 0);
    sr_frame_unref(f1);
    sr_frame_unref(f2);
    pair_free(p);
}

/* One frame to 12 streams: every stream's DATA payload is a segment
 * pointing into that frame, and each has its own 9-byte header. */
static void test_shared_payload_not_copied(void **state) {
    (void)state;
    pair *p = pair_new(NULL, 0);
    p->respond_sse = 1;
    int32_t sids[12];
    for (int i = 0; i < 12; i++) sids[i] = get(p, "/sse?rooms=r");
    pump(p);
    assert_int_equal(p->n_req, 12);
    sr_frame *f = sr_frame_encode("", 0, "", 0, "\"shared payload\"", 16, 0);
    f->born_ns = 1; /* a message frame: its writes count for latency */
    for (int i = 0; i < 12; i++) assert_int_equal(sr_h2_send(p->srv, sids[i], f), SR_OK);
    sr_h2_seg segs[256];
    size_t n = sr_h2_out_peek(p->srv, segs, 256);
    int refs_to_f = 0;
    size_t headers = 0;
    for (size_t i = 0; i < n; i++) {
        if (segs[i].frame == f) {
            assert_int_equal(segs[i].off, 0);
            assert_int_equal(segs[i].len, f->len);
            refs_to_f++;
        } else {
            headers += segs[i].len;
        }
    }
    assert_int_equal(refs_to_f, 12);
    assert_int_equal(headers, 12 * 9); /* only frame headers were copied */
    assert_int_equal(atomic_load(&f->refs), 1 + 12);
    assert_int_equal(p->frames_written, 0);
    server_to_client(p);
    assert_int_equal(atomic_load(&f->refs), 1);
    assert_int_equal(p->frames_written, 12); /* each stream's copy, once */
    for (int i = 0; i < 12; i++) {
        sr_buf_append(&p->st[sids[i]].data, "", 1);
        assert_string_equal(p->st[sids[i]].data.p, "data: \"shared payload\"\n\n");
    }
    sr_frame_unref(f);
    pair_free(p);
}

/* A stream whose window stays shut keeps its bytes queued; past
 * max_queue_bytes a send is refused (a slow consumer), and the other
 * streams go on once their windows open. */
static void test_window_shut_is_slow_consumer(void **state) {
    (void)state;
    pair *p = pair_new(NULL, 100);
    p->respond_sse = 1;
    int32_t a = get(p, "/sse?rooms=a");
    int32_t b = get(p, "/sse?rooms=b");
    pump(p);
    char big[1000];
    memset(big, 'x', sizeof(big));
    sr_frame *f = sr_frame_raw(big, sizeof(big));
    int rc = SR_OK, sent = 0;
    while ((rc = sr_h2_send(p->srv, a, f)) == SR_OK) {
        sent++;
        pump(p);
        assert_true(sent < 100);
    }
    assert_int_equal(rc, SR_EQUEUE);
    assert_true(sr_h2_queued(p->srv, a) + f->len > default_cfg.max_queue_bytes);
    assert_int_equal(p->st[a].data.len, 100); /* the window's worth */
    assert_int_equal(sr_h2_stats_of(p->srv)->slow_streams, 1);
    /* the caller resets the slow stream; b is not disturbed */
    assert_int_equal(sr_h2_reset(p->srv, a, NGHTTP2_CANCEL), SR_OK);
    /* reset here: it takes nothing more, before its RST_STREAM is out too
     * (a writer thread that holds more frames for it counts it slow once) */
    assert_int_equal(sr_h2_send(p->srv, a, f), SR_ESTATE);
    assert_int_equal(sr_h2_stats_of(p->srv)->slow_streams, 1);
    /* the caller's pointer of a stream (h2conn.c's writer path reads it) */
    assert_ptr_equal(sr_h2_stream_ud(p->srv, a), &p->req[0]);
    assert_ptr_equal(sr_h2_stream_ud(p->srv, b), &p->req[1]);
    assert_null(sr_h2_stream_ud(p->srv, 9999));
    assert_int_equal(sr_h2_send(p->srv, b, f), SR_OK);
    nghttp2_session_consume(p->cli, b, 0);
    pump(p);
    assert_true(p->st[a].closed);
    assert_int_equal(p->st[a].close_error, NGHTTP2_CANCEL);
    assert_int_equal(p->closed_on_server[a], 1);
    assert_int_equal(p->st[b].data.len, 100);
    assert_int_equal(nghttp2_session_consume(p->cli, b, 100), 0);
    assert_int_equal(nghttp2_session_consume_connection(p->cli, 100), 0);
    pump(p);
    for (int i = 0; i < 20 && p->st[b].data.len < 1000; i++) {
        nghttp2_session_consume(p->cli, b, 100);
        nghttp2_session_consume_connection(p->cli, 100);
        pump(p);
    }
    assert_int_equal(p->st[b].data.len, 1000);
    assert_false(p->st[b].closed);
    sr_frame_unref(f);
    pair_free(p);
}

/* The body a POST sends: body_src[body_off..body_len). */
static const char *body_src;
static size_t body_len, body_off;

static ssize_t read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud) {
    (void)s;
    (void)sid;
    (void)src;
    (void)ud;
    size_t n = body_len - body_off < length ? body_len - body_off : length;
    memcpy(buf, body_src + body_off, n);
    body_off += n;
    if (body_off == body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int32_t post(pair *p, const char *path, const char *body, size_t len) {
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0},
        {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
        {(uint8_t *)":authority", (uint8_t *)"h", 10, 1, 0},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
        {(uint8_t *)"content-type", (uint8_t *)"application/json", 12, 16, 0},
    };
    body_src = body;
    body_len = len;
    body_off = 0;
    nghttp2_data_provider prd = {.read_callback = read_body};
    int32_t sid = nghttp2_submit_request(p->cli, NULL, nv, 5, &prd, NULL);
    assert_true(sid > 0 && sid < MAX_SID);
    return sid;
}

/* A POST's body arrives whole; a response with a body and END_STREAM. */
static void test_post_body_and_response(void **state) {
    (void)state;
    pair *p = pair_new(NULL, 0);
    static const char body[] = "{\"rooms\":[\"a\"],\"data\":1}";
    int32_t sid = post(p, "/publish", body, sizeof(body) - 1);
    pump(p);
    assert_int_equal(p->n_req, 1);
    assert_string_equal(p->req[0].method, "POST");
    assert_string_equal(p->req[0].scheme, "https");
    assert_int_equal(p->req[0].error_status, 0);
    assert_int_equal(p->req[0].body.len, sizeof(body) - 1);
    assert_memory_equal(p->req[0].body.p, body, sizeof(body) - 1);
    static const char head[] = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                               "Content-Length: 11\r\nConnection: close\r\n\r\n";
    assert_int_equal(sr_h2_respond_http1(p->srv, sid, head, sizeof(head) - 1, 1), SR_OK);
    sr_frame *f = sr_frame_raw("{\"ok\":true}", 11);
    assert_int_equal(sr_h2_send(p->srv, sid, f), SR_OK);
    assert_int_equal(sr_h2_end(p->srv, sid), SR_OK);
    assert_int_equal(sr_h2_send(p->srv, sid, f), SR_ESTATE); /* ended */
    pump(p);
    assert_int_equal(p->st[sid].status, 202);
    sr_buf_append(&p->st[sid].fields, "", 1);
    assert_string_equal(p->st[sid].fields.p,
                        "content-type: application/json\ncontent-length: 11\n");
    sr_buf_append(&p->st[sid].data, "", 1);
    assert_string_equal(p->st[sid].data.p, "{\"ok\":true}");
    assert_true(p->st[sid].closed);
    assert_int_equal(p->closed_on_server[sid], 1);
    sr_frame_unref(f);
    pair_free(p);
}

/* A body over max_body_bytes and a header block over max_header_bytes are
 * delivered with the status to answer; a header-only answer ends the
 * stream. */
static void test_request_limits(void **state) {
    (void)state;
    pair *p = pair_new(NULL, 0);
    char big[2000];
    memset(big, 'b', sizeof(big));
    int32_t s1 = post(p, "/publish", big, sizeof(big));
    pump(p);
    char longpath[9000];
    memset(longpath, 'p', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    int32_t s2 = get(p, longpath);
    pump(p);
    assert_int_equal(p->n_req, 2);
    assert_int_equal(p->req[0].sid, s1);
    assert_int_equal(p->req[0].error_status, 413);
    assert_int_equal(p->req[0].body.len, 0);
    assert_int_equal(p->req[1].sid, s2);
    assert_int_equal(p->req[1].error_status, 431);
    assert_int_equal(sr_h2_respond(p->srv, s1, 413, NULL, 0, 0), SR_OK);
    assert_int_equal(sr_h2_respond(p->srv, s1, 413, NULL, 0, 0), SR_ESTATE); /* answered */
    sr_h2_kv kv[] = {{"connection", 10, "close", 5}, {"x-why", 5, "big", 3}};
    assert_int_equal(sr_h2_respond(p->srv, s2, 431, kv, 2, 0), SR_OK);
    pump(p);
    assert_int_equal(p->st[s1].status, 413);
    assert_true(p->st[s1].closed);
    assert_int_equal(p->st[s2].status, 431);
    sr_buf_append(&p->st[s2].fields, "", 1);
    assert_string_equal(p->st[s2].fields.p, "x-why: big\n");
    assert_int_equal(sr_h2_respond_http1(p->srv, 99, "nonsense", 8, 0), SR_EINVAL);
    pair_free(p);
}

/* SETTINGS_MAX_CONCURRENT_STREAMS is max_streams: the client holds the
 * third request back until a stream ends. */
static void test_max_streams(void **state) {
    (void)state;
    sr_h2_config cfg = default_cfg;
    cfg.max_streams = 2;
    pair *p = pair_new(&cfg, 0);
    p->respond_sse = 1;
    pump(p);
    assert_int_equal(nghttp2_session_get_remote_settings(p->cli,
                                                         NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
                     2);
    int32_t a = get(p, "/sse?rooms=1");
    get(p, "/sse?rooms=2");
    get(p, "/sse?rooms=3");
    pump(p);
    assert_int_equal(p->n_req, 2);
    assert_int_equal(sr_h2_end(p->srv, a), SR_OK);
    pump(p);
    assert_int_equal(p->n_req, 3);
    pair_free(p);
}

/* A peer that breaks the protocol gets GOAWAY(PROTOCOL_ERROR), is counted,
 * and the session wants to close once that is written. */
static void test_violation_goaway(void **state) {
    (void)state;
    pair *p = pair_new(NULL, 0);
    p->respond_sse = 1;
    get(p, "/sse?rooms=a");
    pump(p);
    assert_false(sr_h2_want_close(p->srv));
    /* a DATA frame on stream 0 is a connection error (RFC 9113 §6.1) */
    static const uint8_t bad[] = {0, 0, 1, 0 /* DATA */, 0, 0, 0, 0, 0, 'x'};
    assert_int_equal(sr_h2_recv(p->srv, bad, sizeof(bad)), -1);
    assert_int_equal(sr_h2_stats_of(p->srv)->violations, 1);
    assert_true(strlen(sr_h2_error(p->srv)) > 0);
    assert_int_equal(sr_h2_recv(p->srv, bad, sizeof(bad)), -1); /* stays over */
    assert_false(sr_h2_want_close(p->srv)); /* the GOAWAY is still to be written */
    server_to_client(p);
    assert_true(p->goaway);
    assert_int_equal(p->goaway_error, NGHTTP2_PROTOCOL_ERROR);
    assert_true(sr_h2_want_close(p->srv));
    pair_free(p);

    /* not the client preface at all (an HTTP/1.1 request) */
    sr_h2_callbacks cb = {0};
    sr_h2 *h = sr_h2_new(&default_cfg, &cb, NULL);
    static const char h1[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(sr_h2_recv(h, (const uint8_t *)h1, sizeof(h1) - 1), -1);
    assert_int_equal(sr_h2_stats_of(h)->violations, 1);
    sr_h2_seg segs[16];
    size_t n = sr_h2_out_peek(h, segs, 16);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) bytes += segs[i].len;
    sr_h2_out_consumed(h, bytes);
    assert_true(sr_h2_want_close(h));
    sr_h2_free(h);
}

/* Shutdown: GOAWAY(NO_ERROR) names the last stream; open streams go on. */
static void test_goaway_on_shutdown(void **state) {
    (void)state;
    pair *p = pair_new(NULL, 0);
    p->respond_sse = 1;
    int32_t a = get(p, "/sse?rooms=a");
    int32_t b = get(p, "/sse?rooms=b");
    pump(p);
    sr_h2_goaway(p->srv);
    pump(p);
    assert_true(p->goaway);
    assert_int_equal(p->goaway_error, NGHTTP2_NO_ERROR);
    assert_int_equal(p->goaway_last, b);
    sr_frame *f = sr_frame_raw(": bye\n\n", 7);
    assert_int_equal(sr_h2_send(p->srv, a, f), SR_OK);
    assert_int_equal(sr_h2_end(p->srv, a), SR_OK);
    assert_int_equal(sr_h2_end(p->srv, b), SR_OK);
    pump(p);
    sr_buf_append(&p->st[a].data, "", 1);
    assert_string_equal(p->st[a].data.p, ": bye\n\n");
    assert_true(p->st[a].closed && p->st[b].closed);
    sr_frame_unref(f);
    pair_free(p);
}

/* A client reset reaches the caller with the stream's pointer; frames
 * still queued on it are released (ASan checks the references). */
static void test_client_reset(void **state) {
    (void)state;
    pair *p = pair_new(NULL, 100);
    p->respond_sse = 1;
    int32_t a = get(p, "/sse?rooms=a");
    pump(p);
    char big[1000];
    memset(big, 'y', sizeof(big));
    sr_frame *f = sr_frame_raw(big, sizeof(big));
    assert_int_equal(sr_h2_send(p->srv, a, f), SR_OK);
    pump(p);
    assert_int_equal(atomic_load(&f->refs), 2); /* 900 bytes wait for the window */
    assert_int_equal(nghttp2_submit_rst_stream(p->cli, NGHTTP2_FLAG_NONE, a, NGHTTP2_CANCEL), 0);
    pump(p);
    assert_int_equal(p->closed_on_server[a], 1);
    assert_int_equal(p->closed_error[a], NGHTTP2_CANCEL);
    assert_ptr_equal(p->closed_ud[a], &p->req[0]);
    assert_int_equal(atomic_load(&f->refs), 1);
    assert_int_equal(sr_h2_send(p->srv, a, f), SR_ESTATE);
    sr_frame_unref(f);
    pair_free(p);
}

/* A request with RFC 9218 priority fields (what browsers send). */
static int32_t get_with_priority(pair *p, const char *path, const char *priority) {
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":authority", (uint8_t *)"example.test", 10, 12, 0},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
        {(uint8_t *)"priority", (uint8_t *)priority, 8, strlen(priority), 0},
    };
    int32_t sid = nghttp2_submit_request(p->cli, NULL, nv, 5, NULL, NULL);
    assert_true(sid > 0 && sid < MAX_SID);
    return sid;
}

/* The server announces SETTINGS_NO_RFC7540_PRIORITIES (nghttp2 schedules
 * by RFC 9218 urgency, not the RFC 7540 tree); streams of every urgency,
 * incremental or not, get all their bytes in order. A stream's handle
 * sends like its id, and is gone once the stream is. */
static void test_priorities_and_stream_handles(void **state) {
    (void)state;
    pair *p = pair_new(NULL, 0);
    p->respond_sse = 1;
    int32_t sids[4] = {get_with_priority(p, "/sse?rooms=r", "u=0, i"),
                       get_with_priority(p, "/sse?rooms=r", "u=7"),
                       get_with_priority(p, "/sse?rooms=r", "u=3, i"), get(p, "/sse?rooms=r")};
    pump(p);
    assert_int_equal(p->n_req, 4);
    assert_int_equal(nghttp2_session_get_remote_settings(p->cli,
                                                         NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES),
                     1);
    sr_h2_stream *hs[4];
    for (int i = 0; i < 4; i++) assert_non_null(hs[i] = sr_h2_stream_of(p->srv, sids[i]));
    assert_null(sr_h2_stream_of(p->srv, 0));
    assert_null(sr_h2_stream_of(p->srv, 99));
    assert_int_equal(sr_h2_send_on(p->srv, NULL, NULL), SR_ESTATE);
    sr_buf want;
    sr_buf_init(&want);
    for (int m = 0; m < 50; m++) { /* 50 events, half by id, half by handle */
        char data[32];
        int n = snprintf(data, sizeof(data), "{\"n\":%d}", m);
        sr_frame *f = sr_frame_encode("", 0, "", 0, data, (size_t)n, 0);
        for (int i = 0; i < 4; i++)
            assert_int_equal(m % 2 ? sr_h2_send_on(p->srv, hs[i], f)
                                   : sr_h2_send(p->srv, sids[i], f),
                             SR_OK);
        sr_buf_append(&want, f->bytes, f->len);
        sr_frame_unref(f);
        if (m % 7 == 0) pump(p); /* some events framed alone, some together */
    }
    pump(p);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(p->st[sids[i]].data.len, want.len);
        assert_memory_equal(p->st[sids[i]].data.p, want.p, want.len);
    }
    assert_int_equal(nghttp2_submit_rst_stream(p->cli, NGHTTP2_FLAG_NONE, sids[1], NGHTTP2_CANCEL),
                     0);
    pump(p);
    assert_int_equal(p->closed_on_server[sids[1]], 1);
    assert_null(sr_h2_stream_of(p->srv, sids[1]));
    assert_ptr_equal(sr_h2_stream_of(p->srv, sids[0]), hs[0]);
    assert_int_equal(sr_h2_stats_of(p->srv)->violations, 0);
    sr_buf_free(&want);
    pair_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_stream_byte_for_byte),
        cmocka_unit_test(test_shared_payload_not_copied),
        cmocka_unit_test(test_window_shut_is_slow_consumer),
        cmocka_unit_test(test_post_body_and_response),
        cmocka_unit_test(test_request_limits),
        cmocka_unit_test(test_max_streams),
        cmocka_unit_test(test_violation_goaway),
        cmocka_unit_test(test_goaway_on_shutdown),
        cmocka_unit_test(test_client_reset),
        cmocka_unit_test(test_priorities_and_stream_handles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
