/* SPDX-License-Identifier: MIT */
/*
 * ssepub_proto.c: one publish in each protocol, and reading the replies.
 *
 * Requests are appended to the connection's write buffer (grown by
 * doubling, never shrunk) and written when the socket takes them. HTTP
 * replies go through sseparse in DISCARD mode (status from the head, the
 * end of each response from Content-Length or chunked framing); Redis
 * replies to PUBLISH are single lines (":<n>" or "-ERR ..."), so the reader
 * only looks at the first byte of each line. Each reply is matched to the
 * oldest request in flight on that connection and its step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "benchdata.h"
#include "ssepub.h"

static void reply(pub *p, pub_conn *c, int ok) {
    if (!c->inflight) {
        p->late_replies++; /* a reply with no request: count, ignore */
        return;
    }
    uint16_t k = c->ring[c->ring_head];
    c->ring_head = (c->ring_head + 1) % p->max_inflight;
    c->inflight--;
    if (ok) p->steps[k].ok++;
    else p->steps[k].errors++;
}

static void on_head(void *ud, int status) {
    pub_conn *c = ud;
    c->status = status;
}

static void on_response_end(void *ud) {
    pub_conn *c = ud;
    reply(c->pub, c, c->status >= 200 && c->status < 300);
}

static const ssep_callbacks http_callbacks = {.on_head = on_head,
                                              .on_response_end = on_response_end};

int pub_conn_open(pub *p, pub_conn *c) {
    c->pub = p;
    if (!c->ring) {
        c->ring = calloc(p->max_inflight, sizeof(*c->ring));
        if (!c->ring) return -1;
        if (ssep_init(&c->parser, SSEP_DISCARD, &http_callbacks, c, 8192, 16) < 0) return -1;
    }
    ssep_reset(&c->parser);
    c->wlen = c->woff = 0;
    c->inflight = 0;
    c->ring_head = 0;
    c->redis_type = 0;
    int fd = bench_connect(&p->url.addr, 0);
    if (fd < 0) return -1;
    c->fd = fd;
    c->connecting = 1;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    if (epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

void pub_conn_drop(pub *p, pub_conn *c, uint64_t now_ns) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    p->conn_errors++;
    while (c->inflight) reply(p, c, 0);
    c->wlen = c->woff = 0;
    c->retry_at_ns = now_ns + 100000000ull;
}

static int reserve(pub_conn *c, size_t more) {
    if (c->woff && c->woff == c->wlen) c->wlen = c->woff = 0;
    if (c->wlen + more <= c->wcap) return 0;
    if (c->woff) { /* slide the unwritten tail to the front first */
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
        if (c->wlen + more <= c->wcap) return 0;
    }
    size_t cap = c->wcap ? c->wcap : 65536;
    while (cap < c->wlen + more) cap *= 2;
    char *nb = realloc(c->wbuf, cap);
    if (!nb) return -1;
    c->wbuf = nb;
    c->wcap = cap;
    return 0;
}

void pub_conn_queue(pub *p, pub_conn *c, uint32_t room, uint64_t s, uint16_t k) {
    static char data[1 << 20], body[(1 << 20) + 512];
    size_t dlen = benchdata_format(data, sizeof(data), bench_real_us(), s, k, p->size);
    char roomname[16];
    snprintf(roomname, sizeof(roomname), "r%u", room);
    int blen;
    switch (p->proto) { /* the body (or Redis payload) first, for its length */
    case PROTO_SSEROOMS:
        blen = snprintf(body, sizeof(body), "{\"room\":\"%s\",\"event\":\"message\",\"data\":%.*s}",
                        roomname, (int)dlen, data);
        break;
    case PROTO_NCHAN:
        blen = snprintf(body, sizeof(body), "%.*s", (int)dlen, data);
        break;
    default:
        blen = snprintf(body, sizeof(body), "{\"v\":1,\"m\":{\"event\":\"message\",\"data\":%.*s},\"n\":\"%s\"}",
                        (int)dlen, data, p->node_id);
        break;
    }
    if (!dlen || blen < 0 || (size_t)blen >= sizeof(body) || reserve(c, (size_t)blen + 8192) < 0) {
        p->steps[k].errors++;
        return;
    }
    char *w = c->wbuf + c->wlen;
    size_t cap = c->wcap - c->wlen;
    int n;
    if (p->proto == PROTO_REDIS)
        n = snprintf(w, cap, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s%s\r\n$%d\r\n",
                     strlen(p->channel_prefix) + strlen(roomname), p->channel_prefix, roomname, blen);
    else if (p->proto == PROTO_NCHAN && p->has_room_marker)
        n = snprintf(w, cap,
                     "POST %s%s%s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n",
                     p->path_prefix, roomname, p->path_suffix, p->url.host, p->url.port, blen);
    else
        n = snprintf(w, cap,
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n",
                     p->url.path, p->url.host, p->url.port, blen);
    if (n < 0 || (size_t)n + (size_t)blen + 2 > cap) {
        p->steps[k].errors++;
        return;
    }
    memcpy(w + n, body, (size_t)blen);
    n += blen;
    if (p->proto == PROTO_REDIS) {
        memcpy(w + n, "\r\n", 2);
        n += 2;
    }
    c->wlen += (size_t)n;
    c->ring[(c->ring_head + c->inflight) % p->max_inflight] = k;
    c->inflight++;
}

int pub_conn_flush(pub_conn *c) {
    if (c->fd < 0 || c->connecting) return 0;
    while (c->woff < c->wlen) {
        ssize_t w = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (w > 0) {
            c->woff += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
        return -1;
    }
    c->wlen = c->woff = 0;
    return 0;
}

static int redis_bytes(pub *p, pub_conn *c, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!c->redis_type) {
            c->redis_type = (unsigned char)b[i];
            if (c->redis_type != ':' && c->redis_type != '-' && c->redis_type != '+') return -1;
        } else if (b[i] == '\n') {
            reply(p, c, c->redis_type != '-');
            c->redis_type = 0;
        }
    }
    return 0;
}

int pub_conn_read(pub *p, pub_conn *c) {
    char buf[65536];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n > 0) {
            int rc = p->proto == PROTO_REDIS ? redis_bytes(p, c, buf, (size_t)n)
                                             : ssep_feed(&c->parser, buf, (size_t)n);
            if (rc != 0) return -1;
            if ((size_t)n < sizeof(buf)) return 0;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
        return -1;
    }
}
