/* SPDX-License-Identifier: MIT */
/*
 * request.c: incremental HTTP request parsing on top of libhttp-parser.
 *
 * Callbacks copy the URL and header fragments into one growing arena (they
 * may arrive split across reads), the body into its own buffer. Limits are
 * checked as bytes arrive, so an oversized head or body is refused before
 * it is buffered. When a request completes the parser is paused; the caller
 * handles it, then resets and feeds the rest (pipelining).
 *
 * The strict checks (see request.h) sit where the parser is lenient: the
 * head's bytes are scanned for a bare LF before the parser sees them, up to
 * the blank line that ends the head (leading empty lines, which the parser
 * skips, are skipped too); the version, method, Host and Transfer-Encoding
 * are checked once the headers are complete, before any body byte is read.
 */
#include "http/request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static sr_http_request *req_of(http_parser *p) {
    return (sr_http_request *)p->data;
}

static int fail(sr_http_request *r, int status, const char *msg) {
    if (r->state != SR_HTTP_ERROR) {
        r->state = SR_HTTP_ERROR;
        r->status = status;
        r->error = msg;
    }
    return -1;
}

static int head_append(sr_http_request *r, const char *at, size_t len, int status,
                       const char *msg) {
    /* +1 for the NUL that ends each piece */
    if (r->head_len + len + 1 > r->limits.max_header_bytes + 1) return fail(r, status, msg);
    if (r->head_len + len + 1 > r->head_cap) {
        size_t cap = r->head_cap ? r->head_cap : 512;
        while (cap < r->head_len + len + 1) cap *= 2;
        char *n = realloc(r->head, cap);
        if (!n) return fail(r, 503, "out of memory");
        r->head = n;
        r->head_cap = cap;
    }
    memcpy(r->head + r->head_len, at, len);
    r->head_len += len;
    r->head[r->head_len] = '\0';
    return 0;
}

/* Ends the current piece: its NUL becomes part of the arena. */
static void head_terminate(sr_http_request *r) {
    r->head_len++;
}

static int on_message_begin(http_parser *p) {
    (void)p;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
    sr_http_request *r = req_of(p);
    if (head_append(r, at, len, 414, "request URL too long") < 0) return -1;
    r->url_len += len;
    return 0;
}

static int start_piece(sr_http_request *r) {
    /* the previous piece (URL or value) gets its terminating NUL */
    head_terminate(r);
    return 0;
}

/* RFC 9110 token characters; libhttp-parser's lenient build lets spaces
 * and other separators into header names. */
static int is_tchar(unsigned char c) {
    if (c >= 'a' && c <= 'z') return 1;
    if (c >= 'A' && c <= 'Z') return 1;
    if (c >= '0' && c <= '9') return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
    sr_http_request *r = req_of(p);
    /* trailer fields of a chunked body come after the head was indexed:
     * they are not kept (nothing here uses trailers) */
    if (r->headers_done) return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)at[i]))
            return fail(r, 400, "invalid character in a header name");
    if (r->n_headers == 0 || r->in_value) {
        if (r->n_headers >= r->limits.max_headers) return fail(r, 431, "too many header lines");
        if (r->n_headers == r->cap_headers) {
            size_t cap = r->cap_headers ? r->cap_headers * 2 : 16;
            void *n = realloc(r->hdr_offs, cap * sizeof(*r->hdr_offs));
            if (!n) return fail(r, 503, "out of memory");
            r->hdr_offs = n;
            r->cap_headers = cap;
        }
        start_piece(r);
        r->hdr_offs[r->n_headers].name_off = r->head_len;
        r->hdr_offs[r->n_headers].name_len = 0;
        r->hdr_offs[r->n_headers].value_off = 0;
        r->hdr_offs[r->n_headers].value_len = 0;
        r->n_headers++;
        r->in_value = 0;
    }
    if (head_append(r, at, len, 431, "request headers too large") < 0) return -1;
    r->hdr_offs[r->n_headers - 1].name_len += len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
    sr_http_request *r = req_of(p);
    if (r->headers_done) return 0;
    /* libhttp-parser lets any byte through as a value's first byte: control
     * characters (but tab) and DEL are refused, as RFC 9110 allows */
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)at[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return fail(r, 400, "invalid character in a header value");
    }
    if (!r->in_value) {
        start_piece(r);
        r->hdr_offs[r->n_headers - 1].value_off = r->head_len;
        r->in_value = 1;
    }
    if (head_append(r, at, len, 431, "request headers too large") < 0) return -1;
    r->hdr_offs[r->n_headers - 1].value_len += len;
    return 0;
}

/* How many headers are named `name`, and the first one's value. */
static size_t header_count(const sr_http_request *r, const char *name, const char **first) {
    size_t nlen = strlen(name), n = 0;
    *first = NULL;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (r->headers[i].name_len == nlen && strncasecmp(r->headers[i].name, name, nlen) == 0) {
            if (!n++) *first = r->headers[i].value;
        }
    }
    return n;
}

/* The checks of a complete head that libhttp-parser lets through; 0, or
 * -1 after fail(). */
static int strict_head(sr_http_request *r, const http_parser *p) {
    if (p->http_major != 1)
        return fail(r, 505, "HTTP version not supported: send HTTP/1.1 (or HTTP/1.0)");
    if (p->method == HTTP_CONNECT) return fail(r, 405, "CONNECT is not supported");
    const char *v;
    size_t hosts = header_count(r, "host", &v);
    if (hosts > 1) return fail(r, 400, "more than one Host header");
    if (hosts == 0 && r->limits.require_host && p->http_minor >= 1)
        return fail(r, 400, "missing Host header (required in HTTP/1.1)");
    size_t te = header_count(r, "transfer-encoding", &v);
    if (te) {
        if (te > 1) return fail(r, 400, "more than one Transfer-Encoding header");
        while (*v == ' ' || *v == '\t') v++;
        size_t n = strlen(v);
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
        if (n != 7 || strncasecmp(v, "chunked", 7) != 0)
            return fail(r, 501, "Transfer-Encoding other than chunked is not supported");
        if (p->flags & F_CONTENTLENGTH)
            return fail(r, 400, "both Transfer-Encoding and Content-Length");
    }
    return 0;
}

static int on_headers_complete(http_parser *p) {
    sr_http_request *r = req_of(p);
    head_terminate(r);
    r->headers_done = 1;
    r->method = p->method;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > r->limits.max_body_bytes)
        return fail(r, 413, "request body too large");
    /* the arena no longer moves: build the pointer views now */
    r->headers = malloc((r->n_headers ? r->n_headers : 1) * sizeof(*r->headers));
    if (!r->headers) return fail(r, 503, "out of memory");
    for (size_t i = 0; i < r->n_headers; i++) {
        r->headers[i].name = r->head + r->hdr_offs[i].name_off;
        r->headers[i].name_len = r->hdr_offs[i].name_len;
        if (r->hdr_offs[i].value_off) {
            r->headers[i].value = r->head + r->hdr_offs[i].value_off;
            r->headers[i].value_len = r->hdr_offs[i].value_len;
        } else {
            r->headers[i].value = r->head + r->head_len - 1; /* "" */
            r->headers[i].value_len = 0;
        }
    }
    if (strict_head(r, p) < 0) return -1;
    const char *expect = sr_http_header(r, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0) r->expect_continue = 1;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
    sr_http_request *r = req_of(p);
    if (r->body_len + len > r->limits.max_body_bytes) return fail(r, 413, "request body too large");
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + len + 1) cap *= 2;
        char *n = realloc(r->body, cap);
        if (!n) return fail(r, 503, "out of memory");
        r->body = n;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t sr_http_url_decode(const char *s, size_t len, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return o;
}

/* Splits the URL into path and decoded query pairs. */
static int parse_url(sr_http_request *r) {
    const char *url = r->head + r->url_off;
    size_t len = r->url_len;
    const char *hash = memchr(url, '#', len);
    size_t before_fragment = hash ? (size_t)(hash - url) : len;
    /* a '?' inside the fragment starts no query */
    const char *q = memchr(url, '?', before_fragment);
    r->path_len = q ? (size_t)(q - url) : before_fragment;
    if (!q) return 0;
    const char *qs = q + 1;
    size_t qlen = before_fragment - (size_t)(qs - url);
    if (qlen == 0) return 0;
    size_t pairs = 1;
    for (size_t i = 0; i < qlen; i++) pairs += (qs[i] == '&');
    /* decoded text is never longer than the source; 2 NULs per pair */
    r->query_buf = malloc(qlen + 2 * pairs + 1);
    r->query = malloc(pairs * sizeof(*r->query));
    if (!r->query_buf || !r->query) return -1;
    char *o = r->query_buf;
    size_t start = 0;
    for (size_t i = 0; i <= qlen; i++) {
        if (i < qlen && qs[i] != '&') continue;
        const char *item = qs + start;
        size_t ilen = i - start;
        start = i + 1;
        if (ilen == 0) continue;
        const char *eq = memchr(item, '=', ilen);
        size_t nlen = eq ? (size_t)(eq - item) : ilen;
        const char *val = eq ? eq + 1 : item + ilen;
        size_t vlen = eq ? ilen - nlen - 1 : 0;
        sr_http_kv *kv = &r->query[r->n_query++];
        kv->name = o;
        kv->name_len = sr_http_url_decode(item, nlen, o);
        if (strlen(o) != kv->name_len) { /* a %00: keep it undecoded */
            memcpy(o, item, nlen);
            o[nlen] = '\0';
            kv->name_len = nlen;
        }
        o += kv->name_len + 1;
        kv->value = o;
        kv->value_len = sr_http_url_decode(val, vlen, o);
        if (strlen(o) != kv->value_len) {
            memcpy(o, val, vlen);
            o[vlen] = '\0';
            kv->value_len = vlen;
        }
        o += kv->value_len + 1;
    }
    return 0;
}

static int on_message_complete(http_parser *p) {
    sr_http_request *r = req_of(p);
    r->path = r->head + r->url_off;
    if (parse_url(r) < 0) return fail(r, 503, "out of memory");
    /* the path ends where the query starts: give it its own NUL */
    r->head[r->url_off + r->path_len] = '\0';
    /* after an Upgrade the client may send another protocol: never read it as HTTP */
    r->keep_alive = http_should_keep_alive(p) && !p->upgrade ? 1 : 0;
    r->state = SR_HTTP_DONE;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void sr_http_request_init(sr_http_request *r, const sr_http_limits *limits) {
    memset(r, 0, sizeof(*r));
    r->limits = *limits;
    if (r->limits.max_headers == 0) r->limits.max_headers = 100;
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
}

static void clear_parsed(sr_http_request *r) {
    free(r->headers);
    free(r->query);
    free(r->query_buf);
    r->headers = NULL;
    r->query = NULL;
    r->query_buf = NULL;
    r->n_query = 0;
}

/* Scans head bytes for a line ended by a bare LF, up to the blank line
 * that ends the head: the offset of that LF, or len when there is none. */
static size_t scan_head(sr_http_request *r, const char *data, size_t len) {
    for (size_t i = 0; i < len && !r->head_scanned; i++) {
        unsigned char ch = (unsigned char)data[i];
        if (ch == '\n') {
            if (r->head_prev != '\r') return i;
            if (!r->head_line_started && r->head_any_line) r->head_scanned = 1;
            r->head_line_started = 0;
        } else if (ch != '\r') {
            r->head_line_started = 1;
            r->head_any_line = 1;
        }
        r->head_prev = ch;
    }
    return len;
}

size_t sr_http_request_feed(sr_http_request *r, const char *data, size_t len) {
    if (r->state != SR_HTTP_PARTIAL || len == 0) return 0;
    /* the parser sees the bytes before a bare LF only: whatever it finds
     * wrong in them comes first, as it would had they arrived apart */
    size_t upto = r->head_scanned ? len : scan_head(r, data, len);
    size_t n = upto ? http_parser_execute(&r->parser, &settings, data, upto) : 0;
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (r->state == SR_HTTP_DONE) {
        /* paused right after the message; n counts the bytes it used */
        return n;
    }
    if (r->state == SR_HTTP_ERROR) return n;
    if (e != HPE_OK) {
        fail(r, 400, http_errno_description(e));
        return n;
    }
    /* libhttp-parser marks an upgrade when the head ends; it stops short
     * of the bytes only once the message is over (after its body), which
     * on_message_complete turns into DONE above. Stopping short otherwise
     * is a protocol switch we do not follow; a body still arriving is not. */
    if (r->parser.upgrade && n < upto) {
        fail(r, 400, "protocol upgrade not supported");
        return n;
    }
    if (upto < len) fail(r, 400, "bare LF in the request head: lines must end with CRLF");
    return n;
}

void sr_http_request_eof(sr_http_request *r) {
    if (r->state == SR_HTTP_PARTIAL && r->parser.nread + r->head_len > 0)
        fail(r, 400, "connection closed before the request was complete");
}

void sr_http_request_reset(sr_http_request *r) {
    clear_parsed(r);
    char *head = r->head, *body = r->body;
    void *offs = r->hdr_offs;
    size_t head_cap = r->head_cap, body_cap = r->body_cap, cap_headers = r->cap_headers;
    /* a keep-alive connection whose last request was large gives the memory back */
    if (head_cap > 4096) {
        free(head);
        head = NULL;
        head_cap = 0;
    }
    if (body_cap > 16384) {
        free(body);
        body = NULL;
        body_cap = 0;
    }
    sr_http_limits limits = r->limits;
    memset(r, 0, sizeof(*r));
    r->limits = limits;
    r->head = head;
    r->head_cap = head_cap;
    r->body = body;
    r->body_cap = body_cap;
    r->hdr_offs = offs;
    r->cap_headers = cap_headers;
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
}

void sr_http_request_release(sr_http_request *r) {
    clear_parsed(r);
    free(r->head);
    free(r->body);
    free(r->hdr_offs);
    r->head = r->body = NULL;
    r->hdr_offs = NULL;
    r->head_cap = r->body_cap = r->cap_headers = 0;
}

const char *sr_http_header(const sr_http_request *r, const char *name) {
    if (!r->headers) return NULL;
    size_t nlen = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++) {
        if (r->headers[i].name_len == nlen && strncasecmp(r->headers[i].name, name, nlen) == 0)
            return r->headers[i].value;
    }
    return NULL;
}

const char *sr_http_query(const sr_http_request *r, const char *name, size_t n) {
    size_t nlen = strlen(name);
    for (size_t i = 0; i < r->n_query; i++) {
        if (r->query[i].name_len == nlen && memcmp(r->query[i].name, name, nlen) == 0) {
            if (n == 0) return r->query[i].value;
            n--;
        }
    }
    return NULL;
}

int sr_http_request_started(const sr_http_request *r) {
    return r->head_len > 0 || r->parser.nread > 0 || r->state != SR_HTTP_PARTIAL;
}
