/* SPDX-License-Identifier: MIT */
/*
 * srt_http.h: a small blocking HTTP/1.1 client for integration tests.
 *
 * An srt_conn is one TCP connection to 127.0.0.1 with an input buffer; every
 * wait is a poll() with a timeout, so a misbehaving server makes a test fail
 * instead of hang. Requests can go over a new connection (srt_http_request)
 * or an existing, kept-alive one (srt_http_send_request +
 * srt_http_read_response); srt_conn_send writes arbitrary bytes for
 * malformed-request tests. Responses are read by Content-Length, chunked
 * transfer coding, or until EOF, and are parsed strictly (CRLF line ends).
 */
#ifndef SRT_HTTP_H
#define SRT_HTTP_H

#include "srt_util.h"

#include <stdbool.h>
#include <stddef.h>

/* Default timeout of the convenience functions (generous: sanitizer builds
 * are slow). */
#define SRT_TIMEOUT_MS 10000

typedef struct srt_conn {
    int fd;      /* -1 when closed */
    int port;    /* the server port (for the Host header) */
    srt_buf in;  /* received bytes not consumed yet */
    bool eof;    /* the peer closed its side (or reset: see err) */
    int err;     /* errno of a failed read, e.g. ECONNRESET; 0 otherwise */
    size_t sent; /* bytes written by srt_conn_send, ever */
} srt_conn;

typedef struct srt_conn_opts {
    const char *src_ip; /* bind to this local address first (NULL: any) */
    int rcvbuf;         /* SO_RCVBUF to set before connecting (0: default) */
} srt_conn_opts;

/* Connects to 127.0.0.1:port. 0, or a negative errno (diagnostic on stderr). */
int srt_conn_open(srt_conn *c, int port, int timeout_ms);
int srt_conn_open_ex(srt_conn *c, int port, const srt_conn_opts *opts, int timeout_ms);
/* For tests whose server runs on the test's own thread (they cannot block
 * on it): a non-blocking connection to 127.0.0.1:port (SO_RCVBUF rcvbuf
 * when > 0) on which "GET path" was sent. The fd, or a negative errno. */
int srt_http_open_get(int port, const char *path, int rcvbuf);
/* Writes all of data. 0 or a negative errno (-ETIMEDOUT, -EPIPE, ...). */
int srt_conn_send(srt_conn *c, const void *data, size_t len, int timeout_ms);
int srt_conn_send_str(srt_conn *c, const char *s, int timeout_ms);
/* Waits up to timeout_ms for more bytes and appends them to c->in.
 * Returns the byte count (> 0), 0 at EOF (or reset: c->err says which),
 * or -ETIMEDOUT. */
int srt_conn_fill(srt_conn *c, int timeout_ms);
/* Reads and discards until the peer closes. 0 at EOF (a reset counts too;
 * c->err tells), -ETIMEDOUT otherwise. Bytes still arriving are kept in
 * c->in so a caller can inspect them. */
int srt_conn_wait_eof(srt_conn *c, int timeout_ms);
void srt_conn_close(srt_conn *c);
/* Bytes this connection sent that the server has not read yet: the
 * receive queue of the server's end, from /proc/net/tcp{,6} (it is in this
 * network namespace). -1 when that socket is not listed. For waits on what
 * a server has read, e.g. while it holds requests back. */
long srt_conn_unread_by_peer(const srt_conn *c);

#define SRT_MAX_HEADERS 64

typedef struct srt_header {
    const char *name;  /* as sent */
    const char *value; /* without surrounding whitespace */
} srt_header;

typedef struct srt_response {
    int status;
    char *raw_head; /* status line + headers exactly as received */
    size_t raw_head_len;
    srt_header headers[SRT_MAX_HEADERS];
    size_t n_headers;
    char *body; /* NUL-terminated; chunked bodies are decoded */
    size_t body_len;
    bool chunked; /* Transfer-Encoding: chunked was used */
    int interim;  /* 1xx responses skipped before this one */
    char *store_; /* backing store of header names/values */
} srt_response;

/* Writes one request: request line, Host, `headers` (NULL-terminated
 * "Name: value" strings, may be NULL), Content-Length when body != NULL
 * unless `headers` has Content-Length or Transfer-Encoding, then the body. */
int srt_http_send_request(srt_conn *c, const char *method, const char *path,
                          const char *const *headers, const char *body, size_t body_len,
                          int timeout_ms);
/* Reads the status line and headers only (for streams); the bytes after
 * them stay in c->in. 0, -ETIMEDOUT, -ECONNRESET (closed before the head
 * was complete) or -EPROTO (not HTTP/1.x). */
int srt_http_read_head(srt_conn *c, srt_response *r, int timeout_ms);
/* After srt_http_read_head: reads the body the head announces. */
int srt_http_read_body(srt_conn *c, srt_response *r, int timeout_ms);
/* Reads one whole response (skipping 1xx interim responses). Same codes. */
int srt_http_read_response(srt_conn *c, srt_response *r, int timeout_ms);
/* One request over a new connection, closed afterwards. */
int srt_http_request_ex(int port, const char *method, const char *path, const char *const *headers,
                        const char *body, size_t body_len, srt_response *r, int timeout_ms);
/* Same with a NUL-terminated (or NULL) body and SRT_TIMEOUT_MS. */
int srt_http_request(int port, const char *method, const char *path, const char *const *headers,
                     const char *body, srt_response *r);
/* GET path; with an admin key set (srt_http_set_admin_key), it is sent as
 * "Authorization: Bearer KEY", so the helpers reading /rooms, /stats and
 * /metrics (srt_check.c) work against a server with --admin-key. */
int srt_http_get(int port, const char *path, srt_response *r);
void srt_http_set_admin_key(const char *key); /* NULL: send none */
/* POST /publish with Content-Type: application/json. */
int srt_http_publish(int port, const char *json, srt_response *r);

/* First value of header `name` (case-insensitive) or NULL. */
const char *srt_response_header(const srt_response *r, const char *name);
/* How many times header `name` appears. */
size_t srt_response_header_count(const srt_response *r, const char *name);
void srt_response_free(srt_response *r);

#endif
