/* SPDX-License-Identifier: MIT */
/*
 * request.h: one HTTP/1.1 request, parsed incrementally with limits.
 *
 * Wraps libhttp-parser behind a small interface: bytes are fed as they
 * arrive; the request line, headers and body are copied into buffers owned
 * by the request; when one request is complete the parser pauses, so
 * pipelined bytes after it are left for the next request. Limits on header
 * and body bytes turn into the right status (414, 431, 413) instead of
 * memory growth. Pure code: no I/O.
 *
 * Stricter than libhttp-parser where a lenient reading could let a proxy
 * in front and this server see different requests (issue #18, finding 8;
 * docs/security.md): a bare LF ending a line of the head, more than one
 * Transfer-Encoding or one other than "chunked" (501), a version other
 * than HTTP/1.x (505, so no HTTP/0.9), CONNECT (405), several Host
 * headers, and with require_host an HTTP/1.1 request without Host, are
 * refused. An Upgrade request is answered as plain HTTP, then the
 * connection closes (keep_alive 0): what follows it is not read as HTTP.
 */
#ifndef SR_HTTP_REQUEST_H
#define SR_HTTP_REQUEST_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sr_http_state {
    SR_HTTP_PARTIAL = 0, /* needs more bytes */
    SR_HTTP_DONE = 1,    /* one complete request; feed paused */
    SR_HTTP_ERROR = 2    /* malformed or over a limit: see status/error */
} sr_http_state;

typedef struct sr_http_limits {
    size_t max_header_bytes; /* request line + headers */
    size_t max_body_bytes;
    size_t max_headers; /* number of header lines */
    int require_host;   /* HTTP/1.1 without Host: 400 (RFC 9112 3.2) */
} sr_http_limits;

typedef struct sr_http_kv {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} sr_http_kv;

typedef struct sr_http_request {
    http_parser parser;
    sr_http_limits limits;
    sr_http_state state;
    int status;        /* with SR_HTTP_ERROR: 400, 413, 414, 431 */
    const char *error; /* with SR_HTTP_ERROR: a static message */

    /* head arena: url, then header names and values, each NUL-terminated;
     * offsets, because the arena may move while it grows */
    char *head;
    size_t head_len, head_cap;
    size_t url_off, url_len;
    struct {
        size_t name_off, name_len, value_off, value_len;
    } * hdr_offs;
    size_t n_headers, cap_headers;
    int in_value; /* last header callback was a value */

    char *body;
    size_t body_len, body_cap;

    unsigned headers_done : 1;
    unsigned expect_continue : 1; /* client sent Expect: 100-continue */
    unsigned continue_sent : 1;   /* the caller answered it */
    unsigned keep_alive : 1;
    unsigned head_scanned : 1; /* the scan for bare LFs reached the blank line */
    unsigned head_line_started : 1;
    unsigned head_any_line : 1; /* a non-empty line was seen (leading CRLFs skipped) */
    unsigned char head_prev;    /* last byte the scan saw */

    /* filled when the request is complete */
    int method;       /* enum http_method */
    const char *path; /* NUL-terminated, not decoded */
    size_t path_len;
    sr_http_kv *headers; /* n_headers entries */
    sr_http_kv *query;   /* decoded ?name=value pairs */
    size_t n_query;
    char *query_buf;
} sr_http_request;

void sr_http_request_init(sr_http_request *r, const sr_http_limits *limits);
/* Parses up to len bytes; returns how many were consumed. Stops after one
 * complete request (state DONE) or at an error (state ERROR). */
size_t sr_http_request_feed(sr_http_request *r, const char *data, size_t len);
/* Signals that the peer closed its side: a request cut short becomes an
 * error. */
void sr_http_request_eof(sr_http_request *r);
/* Forgets the request (keeping the buffers) to parse the next one on the
 * same connection. */
void sr_http_request_reset(sr_http_request *r);
/* Frees the buffers. */
void sr_http_request_release(sr_http_request *r);

/* A header value by case-insensitive name (first occurrence), NUL-terminated;
 * NULL when absent. Valid in state DONE. */
const char *sr_http_header(const sr_http_request *r, const char *name);
/* The n-th value of query parameter `name` (decoded, NUL-terminated), or
 * NULL. A value whose decoding would hold a NUL byte is kept undecoded. */
const char *sr_http_query(const sr_http_request *r, const char *name, size_t n);
/* Bytes consumed by the head so far (for limits and timeouts). */
int sr_http_request_started(const sr_http_request *r);

/* Percent-decodes s[0..len) into out (at least len+1 bytes), '+' as space;
 * invalid escapes are copied as they are. Returns the decoded length. */
size_t sr_http_url_decode(const char *s, size_t len, char *out);

#endif
