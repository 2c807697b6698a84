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
 * oldest request in flight on that connection: its step, and the time it
 * was queued, which gives the answer time. https targets run the same
 * bytes through a TLS session (benchtls.h); the connection counts as
 * connecting until the handshake is done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "benchdata.h"
#include "ssepub.h"

/* The oldest request in flight on c got its reply (answered = 1) or was
 * lost with its connection (answered = 0: no answer time). */
static void reply(pub *p, pub_conn *c, int ok, int answered) {
    if (!c->inflight) {
        p->late_replies++; /* a reply with no request: count, ignore */
        return;
    }
    uint16_t k = c->ring[c->ring_head];
    uint64_t queued_ns = c->ring_ns[c->ring_head];
    c->ring_head = (c->ring_head + 1) % p->max_inflight;
    c->inflight--;
    if (ok) p->steps[k].ok++;
    else p->steps[k].errors++;
    if (!answered) return;
    uint64_t now = bench_mono_ns();
    uint64_t us = now > queued_ns ? (now - queued_ns) / 1000 : 0;
    hist_record(&p->answer_all, us);
    if (!p->steps[k].answer) p->steps[k].answer = calloc(1, sizeof(hist));
    if (p->steps[k].answer) hist_record(p->steps[k].answer, us);
}

static void on_head(void *ud, int status) {
    pub_conn *c = ud;
    c->status = status;
}

static void on_response_end(void *ud) {
    pub_conn *c = ud;
    reply(c->pub, c, c->status >= 200 && c->status < 300, 1);
}

static const ssep_callbacks http_callbacks = {.on_head = on_head,
                                              .on_response_end = on_response_end};

int pub_conn_open(pub *p, pub_conn *c) {
    c->pub = p;
    if (!c->ring) {
        c->ring = calloc(p->max_inflight, sizeof(*c->ring));
        c->ring_ns = calloc(p->max_inflight, sizeof(*c->ring_ns));
        if (!c->ring || !c->ring_ns) return -1;
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
    if (p->tls && !(c->ssl = benchtls_new(p->tls, fd, p->url.host, NULL))) {
        close(fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    if (epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        benchtls_free(c->ssl);
        c->ssl = NULL;
        close(fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

int pub_conn_connecting(pub *p, pub_conn *c, uint32_t events) {
    (void)p;
    if (!c->ssl) {
        if (events & EPOLLOUT) c->connecting = 0;
        return 0;
    }
    int rc = benchtls_handshake(c->ssl);
    if (rc < 0) return -1;
    if (rc == 1) {
        /* no ALPN answer is fine (HTTP/1.1 is the default); another is not */
        const unsigned char *a = NULL;
        unsigned alen = 0;
        SSL_get0_alpn_selected(c->ssl, &a, &alen);
        if (alen && !benchtls_alpn_is(c->ssl, "http/1.1")) return -1;
        c->connecting = 0;
    }
    return 0;
}

void pub_conn_drop(pub *p, pub_conn *c, uint64_t now_ns) {
    benchtls_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    p->conn_errors++;
    while (c->inflight) reply(p, c, 0, 0);
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
    case PROTO_NCHAN: blen = snprintf(body, sizeof(body), "%.*s", (int)dlen, data); break;
    default:
        blen = snprintf(body, sizeof(body),
                        "{\"v\":1,\"m\":{\"event\":\"message\",\"data\":%.*s},\"n\":\"%s\"}",
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
                     strlen(p->channel_prefix) + strlen(roomname), p->channel_prefix, roomname,
                     blen);
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
    uint32_t slot = (c->ring_head + c->inflight) % p->max_inflight;
    c->ring[slot] = k;
    c->ring_ns[slot] = bench_mono_ns();
    c->inflight++;
}

int pub_conn_flush(pub_conn *c) {
    if (c->fd < 0 || c->connecting) return 0;
    while (c->woff < c->wlen) {
        ssize_t w = benchtls_write(c->ssl, c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (w > 0) {
            c->woff += (size_t)w;
            continue;
        }
        if (w == BENCHTLS_AGAIN) return 0;
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
            reply(p, c, c->redis_type != '-', 1);
            c->redis_type = 0;
        }
    }
    return 0;
}

int pub_conn_read(pub *p, pub_conn *c) {
    char buf[65536];
    for (;;) {
        ssize_t n = benchtls_read(c->ssl, c->fd, buf, sizeof(buf));
        if (n > 0) {
            int rc = p->proto == PROTO_REDIS ? redis_bytes(p, c, buf, (size_t)n)
                                             : ssep_feed(&c->parser, buf, (size_t)n);
            if (rc != 0) return -1;
            /* plain: a short read drained the socket; TLS may hold more */
            if (!c->ssl && (size_t)n < sizeof(buf)) return 0;
            continue;
        }
        if (n == BENCHTLS_AGAIN) return 0;
        return -1;
    }
}
