/* SPDX-License-Identifier: MIT */
/*
 * srt_sse.c: SSE stream reader and many-stream fleet for integration tests
 * (see srt_sse.h). A block is everything up to and including the first
 * "\n\n" in the received bytes: the server writes LF line ends only, so
 * a block is exactly one frame (or one heartbeat comment).
 */
#include "srt_sse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Header values a stream response must carry, exactly. */
static const char *const stream_headers[][2] = {
    {"Content-Type", "text/event-stream"},
    {"Cache-Control", "no-cache"},
    {"Connection", "keep-alive"},
    {"X-Accel-Buffering", "no"},
};

static int check_stream_head(const srt_response *r) {
    int bad = 0;
    for (size_t i = 0; i < sizeof stream_headers / sizeof stream_headers[0]; i++) {
        const char *name = stream_headers[i][0], *want = stream_headers[i][1];
        const char *got = srt_response_header(r, name);
        size_t count = srt_response_header_count(r, name);
        if (!got || strcmp(got, want) != 0 || count != 1) {
            fprintf(stderr, "srt: stream header %s: want \"%s\" once, got \"%s\" (%zu times)\n",
                    name, want, got ? got : "(absent)", count);
            bad = 1;
        }
    }
    if (srt_response_header(r, "Content-Length") || srt_response_header(r, "Transfer-Encoding")) {
        fprintf(stderr, "srt: a stream must be close-delimited: no Content-Length or "
                        "Transfer-Encoding\n");
        bad = 1;
    }
    if (bad) srt_dump_bytes("  head", r->raw_head, r->raw_head_len);
    return bad ? -EPROTO : 0;
}

int srt_sse_open_ex(srt_sse *s, int port, const char *path, const char *const *headers,
                    const srt_conn_opts *opts, int timeout_ms) {
    memset(&s->head, 0, sizeof s->head);
    int64_t deadline = srt_now_ms() + timeout_ms;
    int rc = srt_conn_open_ex(&s->conn, port, opts, timeout_ms);
    if (rc < 0) return rc;
    rc = srt_http_send_request(&s->conn, "GET", path, headers, NULL, 0, srt_ms_left(deadline));
    if (rc == 0) rc = srt_http_read_head(&s->conn, &s->head, srt_ms_left(deadline));
    if (rc < 0) return rc;
    if (s->head.status != 200) {
        srt_http_read_body(&s->conn, &s->head, srt_ms_left(deadline));
        return s->head.status;
    }
    return check_stream_head(&s->head);
}

int srt_sse_open(srt_sse *s, int port, const char *path) {
    return srt_sse_open_ex(s, port, path, NULL, NULL, SRT_TIMEOUT_MS);
}

int srt_sse_next(srt_sse *s, char **block, size_t *len, int timeout_ms) {
    *block = NULL;
    if (len) *len = 0;
    int64_t deadline = srt_now_ms() + timeout_ms;
    srt_conn *c = &s->conn;
    for (;;) {
        const char *end = c->in.len ? memmem(c->in.data, c->in.len, "\n\n", 2) : NULL;
        if (end) {
            size_t n = (size_t)(end - c->in.data) + 2;
            char *out = malloc(n + 1);
            if (!out) abort();
            memcpy(out, c->in.data, n);
            out[n] = '\0';
            srt_buf_consume(&c->in, n);
            *block = out;
            if (len) *len = n;
            return 0;
        }
        if (c->eof) return SRT_SSE_EOF;
        int n = srt_conn_fill(c, srt_ms_left(deadline));
        if (n < 0) return n;
    }
}

/* A block made only of comment lines (": ...") carries no event. */
static bool is_comment_block(const char *b) {
    while (*b && *b != '\n') {
        if (*b != ':') return false;
        b = strchr(b, '\n');
        if (!b) return false;
        b++;
    }
    return true;
}

int srt_sse_next_event(srt_sse *s, char **block, size_t *len, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    for (;;) {
        int rc = srt_sse_next(s, block, len, srt_ms_left(deadline));
        if (rc != 0 || !is_comment_block(*block)) return rc;
        free(*block);
        *block = NULL;
    }
}

bool srt_sse_expect(srt_sse *s, const char *expected, int timeout_ms) {
    char *block;
    size_t len;
    int rc = srt_sse_next(s, &block, &len, timeout_ms);
    if (rc != 0) {
        fprintf(stderr, "srt: expected an SSE block but %s\n",
                rc == SRT_SSE_EOF ? "the stream ended" : "none arrived in time");
        srt_dump_bytes("  expected", expected, strlen(expected));
        if (s->conn.in.len) srt_dump_bytes("  partial ", s->conn.in.data, s->conn.in.len);
        return false;
    }
    bool eq = srt_bytes_equal("SSE block", block, len, expected);
    free(block);
    return eq;
}

bool srt_sse_expect_nothing(srt_sse *s, int ms) {
    if (s->conn.in.len) {
        srt_dump_bytes("srt: expected nothing, but already buffered", s->conn.in.data,
                       s->conn.in.len);
        return false;
    }
    int n = srt_conn_fill(&s->conn, ms);
    if (n == -ETIMEDOUT) return true;
    if (n == 0) fprintf(stderr, "srt: expected nothing, but the stream ended\n");
    else srt_dump_bytes("srt: expected nothing, but received", s->conn.in.data, s->conn.in.len);
    return false;
}

int srt_sse_wait_eof(srt_sse *s, size_t *blocks, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    size_t count = 0;
    for (;;) {
        char *block;
        int rc = srt_sse_next(s, &block, NULL, srt_ms_left(deadline));
        if (rc == 0) {
            free(block);
            count++;
            continue;
        }
        if (blocks) *blocks = count;
        return rc == SRT_SSE_EOF ? 0 : rc;
    }
}

void srt_sse_close(srt_sse *s) {
    srt_conn_close(&s->conn);
    srt_response_free(&s->head);
}

/* ---- fleet ------------------------------------------------------------ */

#define FLEET_BATCH 128
#define FLEET_PER_SOURCE 16000

typedef struct fleet_pending {
    size_t idx;
    int state; /* 0 connecting, 1 reading the head, 2 done */
    char head[2048];
    size_t head_len;
} fleet_pending;

/* A connect from 127.0.0.(1 + src) (no bind for 127.0.0.1). */
static int fleet_connect(size_t src, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (src > 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)src);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in da = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    da.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&da, sizeof da) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Drives one batch to completion; 0 or -1. */
static int fleet_batch(srt_fleet *f, fleet_pending *pend, size_t count, int port,
                       const char *request, int64_t deadline) {
    struct pollfd pfd[FLEET_BATCH];
    size_t done = 0;
    while (done < count) {
        for (size_t k = 0; k < count; k++) {
            pfd[k].fd = pend[k].state == 2 ? -1 : f->conns[pend[k].idx].fd;
            pfd[k].events = pend[k].state == 0 ? POLLOUT : POLLIN;
            pfd[k].revents = 0;
        }
        int left = srt_ms_left(deadline);
        if (left == 0 || poll(pfd, count, left) <= 0) {
            fprintf(stderr, "srt: fleet: timed out with %zu of %zu streams of a batch open\n", done,
                    count);
            return -1;
        }
        for (size_t k = 0; k < count; k++) {
            if (pfd[k].fd < 0 || !pfd[k].revents) continue;
            fleet_pending *p = &pend[k];
            int fd = f->conns[p->idx].fd;
            if (p->state == 0) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                size_t rlen = strlen(request);
                if (soerr || send(fd, request, rlen, MSG_NOSIGNAL) != (ssize_t)rlen) {
                    fprintf(stderr, "srt: fleet: stream %zu: connect/send failed: %s\n", p->idx,
                            strerror(soerr ? soerr : errno));
                    return -1;
                }
                p->state = 1;
                continue;
            }
            ssize_t n = recv(fd, p->head + p->head_len, sizeof p->head - 1 - p->head_len, 0);
            if (n <= 0) {
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                fprintf(stderr, "srt: fleet: stream %zu closed before its head: %s\n", p->idx,
                        n == 0 ? "EOF" : strerror(errno));
                return -1;
            }
            p->head_len += (size_t)n;
            p->head[p->head_len] = '\0';
            char *end = strstr(p->head, "\r\n\r\n");
            if (!end) {
                if (p->head_len == sizeof p->head - 1) {
                    fprintf(stderr, "srt: fleet: stream %zu: head too long\n", p->idx);
                    return -1;
                }
                continue;
            }
            if (strncmp(p->head, "HTTP/1.1 200 ", 13) != 0 ||
                !strcasestr(p->head, "\r\nContent-Type: text/event-stream\r\n")) {
                fprintf(stderr, "srt: fleet: stream %zu: not an SSE response\n", p->idx);
                srt_dump_bytes("  head", p->head, p->head_len);
                return -1;
            }
            if ((size_t)(end + 4 - p->head) != p->head_len) {
                fprintf(stderr, "srt: fleet: stream %zu: unexpected bytes after the head\n",
                        p->idx);
                return -1;
            }
            p->state = 2;
            done++;
        }
    }
    return 0;
}

int srt_fleet_open(srt_fleet *f, int port, const char *path, size_t n, int timeout_ms) {
    return srt_fleet_open_from(f, port, path, n, 1, FLEET_PER_SOURCE, timeout_ms);
}

int srt_fleet_open_from(srt_fleet *f, int port, const char *path, size_t n, unsigned first_source,
                        size_t per_source, int timeout_ms) {
    f->n = 0;
    f->conns = calloc(n ? n : 1, sizeof *f->conns);
    if (!f->conns) abort();
    srt_raise_nofile((long)n + 256);
    for (size_t i = 0; i < n; i++) f->conns[i].fd = -1;

    srt_buf req = {0};
    srt_buf_appendf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);
    int64_t deadline = srt_now_ms() + timeout_ms;
    fleet_pending *pend = calloc(FLEET_BATCH, sizeof *pend);
    if (!pend) abort();
    int rc = 0;
    for (size_t start = 0; start < n && rc == 0; start += FLEET_BATCH) {
        size_t count = n - start < FLEET_BATCH ? n - start : FLEET_BATCH;
        for (size_t k = 0; k < count; k++) {
            memset(&pend[k], 0, sizeof pend[k]);
            pend[k].idx = start + k;
            int fd = fleet_connect(first_source - 1 + (start + k) / per_source, port);
            if (fd < 0) {
                fprintf(stderr, "srt: fleet: connect %zu failed: %s\n", start + k, strerror(errno));
                rc = -1;
                break;
            }
            f->conns[start + k].fd = fd;
            f->n = start + k + 1;
        }
        if (rc == 0) rc = fleet_batch(f, pend, count, port, req.data, deadline);
    }
    free(pend);
    srt_buf_free(&req);
    if (rc != 0) {
        srt_fleet_close(f);
        return -1;
    }
    return 0;
}

size_t srt_fleet_expect_all(srt_fleet *f, const char *expected, int timeout_ms) {
    size_t elen = strlen(expected);
    size_t pending = 0;
    for (size_t i = 0; i < f->n; i++) {
        f->conns[i].have = 0;
        f->conns[i].ok = true;
        pending++;
    }
    struct pollfd *pfd = calloc(f->n ? f->n : 1, sizeof *pfd);
    size_t *map = calloc(f->n ? f->n : 1, sizeof *map);
    char *tmp = malloc(elen + 1);
    if (!pfd || !map || !tmp) abort();
    int64_t deadline = srt_now_ms() + timeout_ms;
    while (pending > 0) {
        size_t np = 0;
        for (size_t i = 0; i < f->n; i++) {
            srt_fleet_conn *c = &f->conns[i];
            if (c->ok && c->have < elen) {
                pfd[np].fd = c->fd;
                pfd[np].events = POLLIN;
                pfd[np].revents = 0;
                map[np++] = i;
            }
        }
        int left = srt_ms_left(deadline);
        if (np == 0 || left == 0 || poll(pfd, np, left) <= 0) break;
        for (size_t k = 0; k < np; k++) {
            if (!pfd[k].revents) continue;
            srt_fleet_conn *c = &f->conns[map[k]];
            /* read no further than the expected block: later bytes stay */
            ssize_t n = recv(c->fd, tmp, elen - c->have, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (n <= 0 || memcmp(tmp, expected + c->have, (size_t)n) != 0) {
                c->ok = false;
                pending--;
                continue;
            }
            c->have += (size_t)n;
            if (c->have == elen) pending--;
        }
    }
    size_t matched = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->conns[i].ok && f->conns[i].have == elen) matched++;
    }
    free(pfd);
    free(map);
    free(tmp);
    return matched;
}

void srt_fleet_close(srt_fleet *f) {
    for (size_t i = 0; i < f->n; i++) {
        if (f->conns[i].fd >= 0) close(f->conns[i].fd);
    }
    free(f->conns);
    f->conns = NULL;
    f->n = 0;
}
