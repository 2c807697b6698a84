/* SPDX-License-Identifier: MIT */
/*
 * transport.c: sr_transport_send, the one write primitive of every send
 * queue owner (sendq.c on the main loop, writer.c on a writer thread); see
 * transport.h for the seam. Plain TCP writes the frames themselves with
 * one sendmsg; a sealing transport (TLS) first writes the wire bytes it
 * still holds, then seals more plaintext and writes that, so it never
 * holds more than one sealing's worth of wire bytes per connection.
 */
#include "server/transport.h"

#include <errno.h>
#include <sys/socket.h>

/* One sendmsg; bytes written, 0 when the socket is full, -1 on error. */
static ssize_t send_iov(int fd, const struct iovec *iov, size_t n) {
    struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
    for (;;) {
        ssize_t r = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -1;
    }
}

/* Writes what t holds; 1 when all of it went, 0 when the socket is full,
 * -1 on error. */
static int drain(sr_transport *t, int fd) {
    const char *p;
    size_t len;
    while ((len = t->vt->pending(t, &p)) > 0) {
        struct iovec one = {.iov_base = (void *)p, .iov_len = len};
        ssize_t r = send_iov(fd, &one, 1);
        if (r < 0) return -1;
        if (r == 0) return 0;
        t->vt->sent(t, (size_t)r);
        if ((size_t)r < len) return 0;
    }
    return 1;
}

ssize_t sr_transport_send(sr_transport *t, int fd, const struct iovec *iov, size_t n,
                          bool *blocked) {
    *blocked = false;
    if (!t) {
        size_t total = 0;
        for (size_t i = 0; i < n; i++) total += iov[i].iov_len;
        if (total == 0) return 0;
        ssize_t r = send_iov(fd, iov, n);
        if (r >= 0 && (size_t)r < total) *blocked = true;
        return r;
    }
    int d = drain(t, fd);
    if (d <= 0) {
        *blocked = d == 0;
        return d < 0 ? -1 : 0;
    }
    if (n == 0) return 0;
    ssize_t taken = t->vt->seal(t, iov, n);
    if (taken < 0) return -1;
    d = drain(t, fd);
    if (d < 0) return -1;
    *blocked = d == 0;
    return taken;
}
