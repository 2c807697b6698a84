/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http2.c: libFuzzer target for the HTTP/2 layer (src/http2/h2.h):
 * whatever a client sends, as the server session reads it.
 *
 * Input: byte 0 holds choices (bit 0: prepend the client preface, so the
 * fuzzer spends its time on frames; bit 1: a small output bound, so the
 * WOULDBLOCK paths run); the rest is the client's bytes, fed in chunks
 * whose sizes come from a generator seeded by the input. Every complete
 * request is answered the way the server answers: an event stream (an
 * HTTP/1.1 head, a shared frame, the end on every other stream) or a
 * header-only error; output is taken in pieces between feeds.
 *
 * Invariants: segments lie inside their frames and add up to the bytes
 * said to be waiting; the output is a whole sequence of HTTP/2 frames
 * beginning with the server's SETTINGS, none longer than 16,384 bytes;
 * once the session refused input it keeps refusing; nothing leaks or is
 * read out of bounds (ASan), including the shared frame's references.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "http2/h2.h"
#include "sserooms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_ctx {
    sr_h2 *h;
    sr_frame *shared;
    fuzz_bytes out;
    unsigned requests;
} fuzz_ctx;

static const char sse_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n";

static void on_request(void *ud, const sr_h2_request *r) {
    fuzz_ctx *c = ud;
    c->requests++;
    FUZZ_CHECK(r->method && r->path && r->scheme && r->authority, "a missing pseudo-field");
    FUZZ_CHECK(r->error_status == 0 || r->error_status == 413 || r->error_status == 431,
               "error status %d", r->error_status);
    for (size_t i = 0; i < r->n_headers; i++)
        FUZZ_CHECK(strlen(r->headers[i].name) <= r->headers[i].name_len, "name length");
    if (r->error_status || strcmp(r->method, "GET") != 0) {
        sr_h2_respond(c->h, r->stream_id, r->error_status ? r->error_status : 404, NULL, 0, 0);
        return;
    }
    int rc = sr_h2_respond_http1(c->h, r->stream_id, sse_head, sizeof(sse_head) - 1, 1);
    FUZZ_CHECK(rc == SR_OK, "respond: %d", rc);
    rc = sr_h2_send(c->h, r->stream_id, c->shared);
    FUZZ_CHECK(rc == SR_OK || rc == SR_EQUEUE, "send: %d", rc);
    if (r->stream_id % 4 == 1) sr_h2_end(c->h, r->stream_id);
}

static void on_close(void *ud, int32_t sid, void *sud, uint32_t error) {
    (void)ud;
    (void)error;
    FUZZ_CHECK(sid > 0 && sud == NULL, "stream %d", sid);
}

/* Takes up to `room` bytes of output into c->out. */
static void drain(fuzz_ctx *c, size_t room) {
    sr_h2_seg segs[64];
    size_t n = sr_h2_out_peek(c->h, segs, 64);
    size_t waiting = sr_h2_out_bytes(c->h), listed = 0, took = 0;
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(segs[i].len > 0 && (uint64_t)segs[i].off + segs[i].len <= segs[i].frame->len,
                   "segment %u+%u of %u", segs[i].off, segs[i].len, segs[i].frame->len);
        listed += segs[i].len;
        size_t k = segs[i].len < room - took ? segs[i].len : room - took;
        fuzz_bytes_put(&c->out, segs[i].frame->bytes + segs[i].off, k);
        took += k;
    }
    FUZZ_CHECK(n == 64 ? listed <= waiting : listed == waiting, "%zu listed, %zu waiting", listed,
               waiting);
    sr_h2_out_consumed(c->h, took);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t opts = data[0];
    data++;
    size--;
    fuzz_rng rng;
    fuzz_rng_seed(&rng, data, size < 16 ? size : 16);
    fuzz_ctx c = {0};
    sr_h2_config cfg = {
        .max_streams = 8,
        .max_header_bytes = 2048,
        .max_body_bytes = 512,
        .max_queue_bytes = 256,
        .max_out_bytes = (opts & 2) ? 64 : 65536,
    };
    sr_h2_callbacks cb = {.on_request = on_request, .on_stream_close = on_close};
    c.h = sr_h2_new(&cfg, &cb, &c);
    FUZZ_CHECK(c.h != NULL, "out of memory");
    c.shared = sr_frame_encode("7", 1, "message", 7, "{\"x\":1}", 7, 0);
    FUZZ_CHECK(c.shared != NULL, "out of memory");

    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    int refused = 0;
    if (opts & 1) refused = sr_h2_recv(c.h, (const uint8_t *)preface, sizeof(preface) - 1) < 0;
    size_t off = 0;
    while (off < size) {
        size_t k = fuzz_rng_upto(&rng, size - off);
        int rc = sr_h2_recv(c.h, data + off, k);
        FUZZ_CHECK(!refused || rc < 0, "input taken after a refusal");
        if (rc < 0) refused = 1;
        off += k;
        drain(&c, fuzz_rng_upto(&rng, 4096));
    }
    for (int i = 0; i < 10000 && sr_h2_out_bytes(c.h) + 1 > 1; i++) drain(&c, 1 << 20);
    drain(&c, 1 << 20);
    /* the output: frames, SETTINGS first */
    size_t pos = 0;
    int first = 1;
    while (pos < c.out.len) {
        FUZZ_CHECK(c.out.len - pos >= 9, "a cut frame header at %zu of %zu", pos, c.out.len);
        const uint8_t *f = (const uint8_t *)c.out.p + pos;
        size_t len = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
        FUZZ_CHECK(len <= 16384, "frame of %zu bytes", len);
        if (first) FUZZ_CHECK(f[3] == 4 && (f[4] & 1) == 0, "first frame type %u", f[3]);
        first = 0;
        pos += 9 + len;
    }
    FUZZ_CHECK(pos == c.out.len, "a cut frame: %zu of %zu", pos, c.out.len);
    sr_h2_free(c.h);
    FUZZ_CHECK(c.shared->refs == 1, "the shared frame keeps %u references",
               (unsigned)c.shared->refs);
    sr_frame_unref(c.shared);
    free(c.out.p);
    return 0;
}
