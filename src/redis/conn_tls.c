/* SPDX-License-Identifier: MIT */
/*
 * conn_tls.c: the TLS layer of a Redis connection (rediss://, opts.tls;
 * conn.c is the connection itself). The transport gets an engine session
 * (src/tls) once connected; its ClientHello goes out first and the Redis
 * handshake (AUTH, SELECT, PING) only once the TLS handshake is done, all
 * within the connect timeout. Reads are opened by the session before the
 * reply reader sees them; a turn's commands are sealed together and the
 * records written with one uv_write. A refused handshake (a certificate
 * from another CA, a name that does not match) fails the attempt with
 * OpenSSL's reason and is counted (opts.tls_failures).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "redis/conn_int.h"

/* Writes the records the TLS session holds (a copy: the session's buffer
 * moves on). 0, or -1 after failing the connection. */
static int send_records(sr_rconn *c) {
    const char *p;
    size_t n = sr_tls_pending(c->t->tls, &p);
    if (!n) return 0;
    write_req *w = malloc(sizeof *w + sizeof(uv_buf_t));
    char *copy = malloc(n);
    if (!w || !copy) {
        free(w);
        free(copy);
        sr_rconn_fail(c, "out of memory writing to %s", c->where);
        return -1;
    }
    memcpy(copy, p, n);
    sr_tls_sent(c->t->tls, n);
    w->t = c->t;
    w->nbufs = 1;
    w->bufs[0] = uv_buf_init(copy, (unsigned)n);
    int rc = uv_write(&w->req, &c->t->u.stream, w->bufs, 1, sr_rconn_on_write);
    if (rc < 0) {
        free(copy);
        free(w);
        sr_rconn_fail(c, "write error %s (%s)", uv_err_name(rc), c->where);
        return -1;
    }
    return 0;
}

/* Starts the session on a connected transport: its ClientHello goes out
 * first; the Redis handshake once the TLS one is done (sr_rconn_tls_read). */
void sr_rconn_tls_start(sr_rconn *c, transport *t) {
    t->tls = sr_tls_new(c->opts.tls);
    if (!t->tls || sr_tls_set_server_name(t->tls, c->url.host) < 0 || sr_tls_start(t->tls) < 0) {
        sr_rconn_fail(c, "TLS with %s failed: %s", c->where,
                      t->tls ? sr_tls_error(t->tls) : "out of memory");
        return;
    }
    send_records(c);
}

/* TLS: seals the queued commands into records and writes them. */
void sr_rconn_tls_flush(sr_rconn *c) {
    if (!sr_tls_handshake_done(c->t->tls)) return; /* they wait for it */
    struct iovec iov[64];
    unsigned done = 0;
    while (done < c->n_out) {
        unsigned n = 0;
        for (unsigned i = done; i < c->n_out && n < 64; i++, n++)
            iov[n] = (struct iovec){c->out[i].base, c->out[i].len};
        size_t want = 0;
        for (unsigned i = 0; i < n; i++) want += iov[i].iov_len;
        size_t took = 0;
        while (took < want) { /* the session seals a bounded amount per call */
            struct iovec rest[64];
            unsigned m = 0;
            size_t skip = took;
            for (unsigned i = 0; i < n; i++) {
                if (skip >= iov[i].iov_len) {
                    skip -= iov[i].iov_len;
                    continue;
                }
                rest[m++] = (struct iovec){(char *)iov[i].iov_base + skip, iov[i].iov_len - skip};
                skip = 0;
            }
            ssize_t r = sr_tls_seal(c->t->tls, rest, m);
            if (r <= 0) {
                sr_rconn_fail(c, "TLS with %s failed: %s", c->where, sr_tls_error(c->t->tls));
                return;
            }
            took += (size_t)r;
            if (send_records(c) < 0) return;
        }
        done += n;
    }
    sr_rconn_free_out(c);
}

static int feed_reader(void *ud, const char *p, size_t len) {
    transport *t = ud;
    if (redisReaderFeed(t->reader, p, len) != REDIS_OK) {
        t->feed_failed = 1;
        return 1;
    }
    return 0;
}

/* TLS bytes read: opened into the reply reader; the Redis handshake starts
 * once the TLS one is done. 0, or -1 after failing the connection. */
int sr_rconn_tls_read(sr_rconn *c, transport *t, const char *in, size_t len) {
    bool was_ready = sr_tls_handshake_done(t->tls);
    int rc = sr_tls_input(t->tls, in, len, feed_reader, t);
    if (t->feed_failed) {
        sr_rconn_fail(c, "protocol error: %s (%s)", t->reader->errstr, c->where);
        return -1;
    }
    if (rc < 0) {
        char why[600];
        snprintf(why, sizeof why, "TLS %s with %s failed: %s", was_ready ? "session" : "handshake",
                 c->where, sr_tls_error(t->tls));
        if (!was_ready && c->opts.tls_failures) (*c->opts.tls_failures)++;
        if (!was_ready && c->opts.on_tls_failure)
            c->opts.on_tls_failure(c->opts.tls_failure_ud, why);
        sr_rconn_fail(c, "%s", why);
        return -1;
    }
    if (rc == 1) {
        sr_rconn_fail(c, "connection lost: TLS closed by %s", c->where);
        return -1;
    }
    if (send_records(c) < 0) return -1;
    if (!was_ready && sr_tls_handshake_done(t->tls)) sr_rconn_send_handshake(c);
    return 0;
}
