/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http.c: libFuzzer target for the HTTP request parser
 * (src/http/request.h).
 *
 * Input: byte 0 picks the limits (small ones, so 413/414/431 are reached
 * with short inputs) and whether the peer closes at the end; bytes 1..4
 * seed where the stream is cut; the rest is what one connection sends.
 * The stream is parsed twice: in one piece, and cut into random-sized
 * pieces as a socket would deliver it. Each run parses pipelined requests
 * (reset after DONE, go on with the rest) and records a transcript of what
 * it saw; the two transcripts must be equal, since how bytes arrive must
 * not change what a request means.
 *
 * Checked on the way: bytes are never silently dropped (PARTIAL consumed
 * everything), nothing is consumed after ERROR, the status is one of the
 * documented ones, and on DONE the path, headers, query pairs and body are
 * NUL-terminated, inside their buffers, within the limits, and found again
 * by sr_http_header / sr_http_query.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fuzz_util.h"
#include "http/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER_BYTES_CHOICES 4
static const size_t header_bytes_choices[HEADER_BYTES_CHOICES] = {48, 200, 1024, 8192};
static const size_t body_bytes_choices[4] = {0, 8, 100, 65536};
static const size_t max_headers_choices[4] = {0 /* the default, 100 */, 1, 4, 100};

/* Checks one complete request and appends it to the transcript. */
static void check_done(const sr_http_request *r, fuzz_bytes *t) {
    const sr_http_limits *lim = &r->limits;
    size_t max_headers = lim->max_headers ? lim->max_headers : 100;
    const char *method = http_method_str((enum http_method)r->method);
    FUZZ_CHECK(strcmp(method, "<unknown>") != 0, "method %d", r->method);

    FUZZ_CHECK(r->path != NULL, "no path");
    FUZZ_CHECK(fuzz_within(r->path, r->path_len + 1, r->head, r->head_len),
               "path outside the arena");
    FUZZ_CHECK(r->path[r->path_len] == '\0', "path not NUL-terminated");
    FUZZ_CHECK(strlen(r->path) == r->path_len, "NUL inside the path");
    FUZZ_CHECK(r->path_len <= r->url_len, "path longer than the URL");
    FUZZ_CHECK(r->url_len <= lim->max_header_bytes, "URL over the head limit");

    /* the path decodes into len+1 bytes and never grows */
    char *decoded = malloc(r->path_len + 1);
    FUZZ_CHECK(decoded != NULL, "oom");
    size_t dlen = sr_http_url_decode(r->path, r->path_len, decoded);
    FUZZ_CHECK(dlen <= r->path_len && decoded[dlen] == '\0', "url_decode grew");
    free(decoded);

    fuzz_bytes_field(t, method, strlen(method));
    fuzz_bytes_field(t, r->path, r->path_len);

    FUZZ_CHECK(r->n_headers <= max_headers, "%zu headers over the limit %zu", r->n_headers,
               max_headers);
    FUZZ_CHECK(r->n_headers == 0 || r->headers != NULL, "no header array");
    fuzz_bytes_int(t, (long long)r->n_headers);
    for (size_t i = 0; i < r->n_headers; i++) {
        const sr_http_kv *h = &r->headers[i];
        FUZZ_CHECK(fuzz_within(h->name, h->name_len + 1, r->head, r->head_len),
                   "header name outside");
        FUZZ_CHECK(fuzz_within(h->value, h->value_len + 1, r->head, r->head_len),
                   "header value outside");
        FUZZ_CHECK(h->name[h->name_len] == '\0' && strlen(h->name) == h->name_len,
                   "header name %zu", i);
        FUZZ_CHECK(h->value[h->value_len] == '\0' && strlen(h->value) == h->value_len,
                   "header value %zu", i);
        FUZZ_CHECK(h->name_len > 0, "empty header name %zu", i);
        /* sr_http_header returns the first header of that name, any case */
        size_t first = 0;
        while (strcasecmp(r->headers[first].name, h->name) != 0) first++;
        FUZZ_CHECK(sr_http_header(r, h->name) == r->headers[first].value, "header lookup of %s",
                   h->name);
        fuzz_bytes_field(t, h->name, h->name_len);
        fuzz_bytes_field(t, h->value, h->value_len);
    }
    /* header names are tokens: one with a space is never found */
    FUZZ_CHECK(sr_http_header(r, "no such") == NULL, "found a header that cannot exist");

    fuzz_bytes_int(t, (long long)r->n_query);
    for (size_t i = 0; i < r->n_query; i++) {
        const sr_http_kv *q = &r->query[i];
        FUZZ_CHECK(q->name[q->name_len] == '\0' && strlen(q->name) == q->name_len, "query name %zu",
                   i);
        FUZZ_CHECK(q->value[q->value_len] == '\0' && strlen(q->value) == q->value_len,
                   "query value %zu", i);
        FUZZ_CHECK(q->name_len + q->value_len <= r->url_len, "query pair longer than the URL");
        /* the k-th occurrence of the name is this pair */
        size_t k = 0;
        for (size_t j = 0; j < i; j++)
            if (r->query[j].name_len == q->name_len &&
                memcmp(r->query[j].name, q->name, q->name_len) == 0)
                k++;
        FUZZ_CHECK(sr_http_query(r, q->name, k) == q->value, "query lookup of %s #%zu", q->name, k);
        fuzz_bytes_field(t, q->name, q->name_len);
        fuzz_bytes_field(t, q->value, q->value_len);
    }

    FUZZ_CHECK(r->body_len <= lim->max_body_bytes, "body %zu over the limit", r->body_len);
    if (r->body_len) FUZZ_CHECK(r->body && r->body[r->body_len] == '\0', "body not NUL-terminated");
    fuzz_bytes_field(t, r->body, r->body_len);
    fuzz_bytes_int(t, r->keep_alive);
    fuzz_bytes_int(t, r->expect_continue);
}

/* Feeds stream[0..len) cut into pieces (max_piece 0: one piece), with
 * pipelining; records every request and the final state in *t, and the
 * final status in *status. */
static void run(const char *stream, size_t len, const sr_http_limits *lim, uint32_t seed,
                size_t max_piece, int eof, fuzz_bytes *t, int *status) {
    sr_http_request r;
    sr_http_request_init(&r, lim);
    fuzz_rng rng = {seed ? seed : 1};
    size_t off = 0;
    *status = 0;
    FUZZ_CHECK(!sr_http_request_started(&r), "started before any byte");
    while (off < len && r.state != SR_HTTP_ERROR) {
        size_t piece = max_piece ? fuzz_rng_upto(&rng, max_piece) : len - off;
        if (piece > len - off) piece = len - off;
        size_t used = 0;
        /* one piece may hold the end of a request and the next ones */
        while (used < piece) {
            size_t avail = piece - used;
            size_t n = sr_http_request_feed(&r, stream + off + used, avail);
            FUZZ_CHECK(n <= avail, "consumed %zu of %zu", n, avail);
            used += n;
            if (r.state == SR_HTTP_PARTIAL) {
                FUZZ_CHECK(n == avail, "PARTIAL but only %zu of %zu bytes consumed", n, avail);
                FUZZ_CHECK(sr_http_request_started(&r), "bytes consumed, not started");
                break;
            }
            if (r.state == SR_HTTP_ERROR) break;
            /* DONE: the request, then the next one from the same bytes */
            FUZZ_CHECK(sr_http_request_feed(&r, stream, len) == 0, "DONE request consumed more");
            check_done(&r, t);
            sr_http_request_reset(&r);
            FUZZ_CHECK(!sr_http_request_started(&r) && r.state == SR_HTTP_PARTIAL, "reset");
        }
        off += used;
        if (r.state == SR_HTTP_ERROR) break;
    }
    if (eof && r.state == SR_HTTP_PARTIAL) {
        int started = sr_http_request_started(&r);
        sr_http_request_eof(&r);
        FUZZ_CHECK(r.state == (started ? SR_HTTP_ERROR : SR_HTTP_PARTIAL), "eof: state %d",
                   r.state);
    }
    if (r.state == SR_HTTP_ERROR) {
        FUZZ_CHECK(r.status == 400 || r.status == 405 || r.status == 413 || r.status == 414 ||
                       r.status == 431 || r.status == 501 || r.status == 503 || r.status == 505,
                   "status %d", r.status);
        FUZZ_CHECK(r.error != NULL && r.error[0] != '\0', "no error message");
        /* after an error nothing more is consumed */
        FUZZ_CHECK(sr_http_request_feed(&r, "GET / HTTP/1.1\r\n\r\n", 18) == 0, "fed after ERROR");
        FUZZ_CHECK(r.state == SR_HTTP_ERROR, "ERROR left");
        *status = r.status;
    }
    fuzz_bytes_int(t, r.state);
    sr_http_request_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5) return 0;
    uint8_t sel = data[0];
    sr_http_limits lim = {
        .max_header_bytes = header_bytes_choices[sel & 3],
        .max_body_bytes = body_bytes_choices[(sel >> 2) & 3],
        .max_headers = max_headers_choices[(sel >> 4) & 3],
    };
    int eof = (sel >> 6) & 1;
    /* bit 7: short pieces (1..8 bytes) instead of 1..64 */
    size_t max_piece = (sel & 0x80) ? 8 : 64;
    uint32_t seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
                    (uint32_t)data[4] << 24;
    const char *stream = (const char *)data + 5;
    size_t len = size - 5;

    fuzz_bytes whole = {0}, pieces = {0};
    int st_whole, st_pieces;
    run(stream, len, &lim, seed, 0, eof, &whole, &st_whole);
    run(stream, len, &lim, seed, max_piece, eof, &pieces, &st_pieces);
    FUZZ_CHECK(whole.len == pieces.len && memcmp(whole.p, pieces.p, whole.len) == 0,
               "the requests depend on how the bytes were cut (statuses %d / %d)", st_whole,
               st_pieces);
    /* a limit is checked as bytes arrive and http-parser's syntax checks
     * when a token ends, so which fires first may depend on the cuts:
     * 400 against a limit status is allowed, two different limits are not */
    FUZZ_CHECK(st_whole == st_pieces || st_whole == 400 || st_pieces == 400,
               "status %d in one piece, %d in pieces", st_whole, st_pieces);
    fuzz_bytes_free(&whole);
    fuzz_bytes_free(&pieces);
    return 0;
}
