/* SPDX-License-Identifier: MIT */
/*
 * srt_http.c: the test HTTP/1.1 client (see srt_http.h). Sockets are
 * non-blocking and every wait goes through poll() with the caller's
 * timeout. Responses are parsed strictly: a status line "HTTP/1.x NNN ...",
 * CRLF line ends, "Name: value" headers, then the body framed by chunked
 * coding, Content-Length, or the end of the connection.
 */
#include "srt_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* A response head larger than this is treated as a protocol error. */
#define MAX_HEAD_BYTES (64 * 1024)

int srt_conn_open_ex(srt_conn *c, int port, const srt_conn_opts *opts, int timeout_ms) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->port = port;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        fprintf(stderr, "srt: socket: %s\n", strerror(e));
        return -e;
    }
    if (opts && opts->rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opts->rcvbuf, sizeof opts->rcvbuf);
    if (opts && opts->src_ip) {
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET};
        inet_pton(AF_INET, opts->src_ip, &src.sin_addr);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
            int e = errno;
            fprintf(stderr, "srt: bind %s: %s\n", opts->src_ip, strerror(e));
            close(fd);
            return -e;
        }
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        int e = errno;
        fprintf(stderr, "srt: connect to port %d: %s\n", port, strerror(e));
        close(fd);
        return -e;
    }
    struct pollfd pfd = {fd, POLLOUT, 0};
    int pr;
    do {
        pr = poll(&pfd, 1, timeout_ms);
    } while (pr < 0 && errno == EINTR);
    if (pr == 0) {
        fprintf(stderr, "srt: connect to port %d timed out\n", port);
        close(fd);
        return -ETIMEDOUT;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr != 0) {
        fprintf(stderr, "srt: connect to port %d: %s\n", port, strerror(soerr));
        close(fd);
        return -soerr;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    return 0;
}

int srt_conn_open(srt_conn *c, int port, int timeout_ms) {
    return srt_conn_open_ex(c, port, NULL, timeout_ms);
}

int srt_http_open_get(int port, const char *path, int rcvbuf) {
    srt_conn c;
    srt_conn_opts opts = {.rcvbuf = rcvbuf};
    int rc = srt_conn_open_ex(&c, port, &opts, SRT_TIMEOUT_MS);
    if (rc < 0) return rc;
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    rc = srt_conn_send_str(&c, req, SRT_TIMEOUT_MS);
    if (rc < 0) {
        srt_conn_close(&c);
        return rc;
    }
    srt_buf_free(&c.in);
    return c.fd;
}

int srt_conn_send(srt_conn *c, const void *data, size_t len, int timeout_ms) {
    const char *p = data;
    int64_t deadline = srt_now_ms() + timeout_ms;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        struct pollfd pfd = {c->fd, POLLOUT, 0};
        int left = srt_ms_left(deadline);
        if (left == 0 || poll(&pfd, 1, left) == 0) return -ETIMEDOUT;
    }
    return 0;
}

/* The rx_queue of the socket in `table` (a /proc/net/tcp file) whose local
 * port is local_port and remote port remote_port; -1 when none is. */
static long rx_queue_in(const char *table, unsigned local_port, unsigned remote_port) {
    FILE *f = fopen(table, "r");
    if (!f) return -1;
    char line[512];
    long found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        char local[64], remote[64];
        unsigned long tx, rx;
        if (sscanf(line, " %*d: %63s %63s %*x %lx:%lx", local, remote, &tx, &rx) != 4)
            continue; /* the heading */
        const char *lp = strrchr(local, ':'), *rp = strrchr(remote, ':');
        if (lp && rp && strtoul(lp + 1, NULL, 16) == local_port &&
            strtoul(rp + 1, NULL, 16) == remote_port)
            found = (long)rx;
    }
    fclose(f);
    return found;
}

long srt_conn_unread_by_peer(const srt_conn *c) {
    struct sockaddr_storage me, peer;
    socklen_t ml = sizeof me, pl = sizeof peer;
    if (c->fd < 0 || getsockname(c->fd, (struct sockaddr *)&me, &ml) != 0 ||
        getpeername(c->fd, (struct sockaddr *)&peer, &pl) != 0)
        return -1;
    unsigned my_port = ntohs(me.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&me)->sin6_port
                                                      : ((struct sockaddr_in *)&me)->sin_port);
    unsigned peer_port = ntohs(peer.ss_family == AF_INET6
                                   ? ((struct sockaddr_in6 *)&peer)->sin6_port
                                   : ((struct sockaddr_in *)&peer)->sin_port);
    /* the server's end: its local port is our peer's, its remote ours */
    long rx = rx_queue_in("/proc/net/tcp", peer_port, my_port);
    return rx >= 0 ? rx : rx_queue_in("/proc/net/tcp6", peer_port, my_port);
}

int srt_conn_send_str(srt_conn *c, const char *s, int timeout_ms) {
    return srt_conn_send(c, s, strlen(s), timeout_ms);
}

int srt_conn_fill(srt_conn *c, int timeout_ms) {
    if (c->eof) return 0;
    int64_t deadline = srt_now_ms() + timeout_ms;
    for (;;) {
        char tmp[65536];
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n > 0) {
            srt_buf_append(&c->in, tmp, (size_t)n);
            return (int)n;
        }
        if (n == 0) {
            c->eof = true;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            c->err = errno;
            c->eof = true;
            return 0;
        }
        struct pollfd pfd = {c->fd, POLLIN, 0};
        int left = srt_ms_left(deadline);
        if (left == 0) return -ETIMEDOUT;
        int pr = poll(&pfd, 1, left);
        if (pr == 0) return -ETIMEDOUT;
    }
}

int srt_conn_wait_eof(srt_conn *c, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    while (!c->eof) {
        int n = srt_conn_fill(c, srt_ms_left(deadline));
        if (n < 0) return n;
        /* keep only a bounded tail of what arrived */
        if (c->in.len > (1u << 20)) srt_buf_consume(&c->in, c->in.len - (1u << 16));
    }
    return 0;
}

void srt_conn_close(srt_conn *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    srt_buf_free(&c->in);
}

int srt_http_send_request(srt_conn *c, const char *method, const char *path,
                          const char *const *headers, const char *body, size_t body_len,
                          int timeout_ms) {
    srt_buf req = {0};
    srt_buf_appendf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", method, path, c->port);
    bool framed = false;
    if (headers) {
        for (const char *const *h = headers; *h; h++) {
            srt_buf_appendf(&req, "%s\r\n", *h);
            if (strncasecmp(*h, "Content-Length:", 15) == 0 ||
                strncasecmp(*h, "Transfer-Encoding:", 18) == 0)
                framed = true;
        }
    }
    if (body && !framed) srt_buf_appendf(&req, "Content-Length: %zu\r\n", body_len);
    srt_buf_append(&req, "\r\n", 2);
    if (body) srt_buf_append(&req, body, body_len);
    int rc = srt_conn_send(c, req.data, req.len, timeout_ms);
    srt_buf_free(&req);
    return rc;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    return s;
}

/* Parses the head in c->in[0..head_len) (ending in CRLF CRLF) into r. */
static int parse_head(srt_response *r, const char *head, size_t head_len) {
    r->raw_head = malloc(head_len + 1);
    r->store_ = malloc(head_len + 1);
    if (!r->raw_head || !r->store_) abort();
    memcpy(r->raw_head, head, head_len);
    r->raw_head[head_len] = '\0';
    r->raw_head_len = head_len;
    memcpy(r->store_, head, head_len);
    r->store_[head_len] = '\0';

    char *line = r->store_;
    char *eol = strstr(line, "\r\n");
    *eol = '\0';
    int minor, status;
    char sp;
    if (sscanf(line, "HTTP/1.%d %3d%c", &minor, &status, &sp) < 2 || status < 100 || status > 599) {
        fprintf(stderr, "srt: bad status line\n");
        srt_dump_bytes("  head", head, head_len);
        return -EPROTO;
    }
    r->status = status;
    line = eol + 2;
    while (*line) {
        eol = strstr(line, "\r\n");
        *eol = '\0';
        if (*line == '\0') break;
        char *colon = strchr(line, ':');
        if (!colon || colon == line || r->n_headers == SRT_MAX_HEADERS) {
            fprintf(stderr, "srt: bad header line \"%s\"\n", line);
            return -EPROTO;
        }
        for (char *q = line; q < colon; q++) {
            if (*q == ' ' || *q == '\t' || (unsigned char)*q < 0x21) {
                fprintf(stderr, "srt: bad header name \"%s\"\n", line);
                return -EPROTO;
            }
        }
        *colon = '\0';
        r->headers[r->n_headers].name = line;
        r->headers[r->n_headers].value = trim(colon + 1);
        r->n_headers++;
        line = eol + 2;
    }
    return 0;
}

static void response_reset(srt_response *r) {
    free(r->raw_head);
    free(r->store_);
    free(r->body);
    int interim = r->interim;
    memset(r, 0, sizeof *r);
    r->interim = interim;
}

int srt_http_read_head(srt_conn *c, srt_response *r, int timeout_ms) {
    memset(r, 0, sizeof *r);
    int64_t deadline = srt_now_ms() + timeout_ms;
    for (;;) {
        const char *end = c->in.data ? memmem(c->in.data, c->in.len, "\r\n\r\n", 4) : NULL;
        if (end) {
            size_t head_len = (size_t)(end - c->in.data) + 4;
            int rc = parse_head(r, c->in.data, head_len);
            srt_buf_consume(&c->in, head_len);
            return rc;
        }
        if (c->in.len > MAX_HEAD_BYTES) {
            fprintf(stderr, "srt: response head over %d bytes\n", MAX_HEAD_BYTES);
            return -EPROTO;
        }
        if (c->eof) {
            fprintf(stderr, "srt: connection %s before the response head was complete\n",
                    c->err ? strerror(c->err) : "closed");
            if (c->in.len) srt_dump_bytes("  received", c->in.data, c->in.len);
            return -ECONNRESET;
        }
        int n = srt_conn_fill(c, srt_ms_left(deadline));
        if (n < 0) {
            fprintf(stderr, "srt: timed out waiting for a response head\n");
            return n;
        }
    }
}

/* Makes sure c->in holds at least `need` bytes. */
static int need_bytes(srt_conn *c, size_t need, int64_t deadline) {
    while (c->in.len < need) {
        if (c->eof) return -ECONNRESET;
        int n = srt_conn_fill(c, srt_ms_left(deadline));
        if (n < 0) return n;
    }
    return 0;
}

/* Reads a chunked body into `body`. */
static int read_chunked(srt_conn *c, srt_buf *body, int64_t deadline) {
    for (;;) {
        const char *eol;
        while (!(eol = c->in.data ? memmem(c->in.data, c->in.len, "\r\n", 2) : NULL)) {
            if (c->eof) return -ECONNRESET;
            int n = srt_conn_fill(c, srt_ms_left(deadline));
            if (n < 0) return n;
        }
        char *end;
        unsigned long long size = strtoull(c->in.data, &end, 16);
        if (end == c->in.data || (*end != '\r' && *end != ';')) {
            fprintf(stderr, "srt: bad chunk size line\n");
            return -EPROTO;
        }
        size_t line_len = (size_t)(eol - c->in.data) + 2;
        srt_buf_consume(&c->in, line_len);
        if (size == 0) {
            /* trailers, then the final empty line */
            for (;;) {
                while (!(eol = c->in.data ? memmem(c->in.data, c->in.len, "\r\n", 2) : NULL)) {
                    if (c->eof) return -ECONNRESET;
                    int n = srt_conn_fill(c, srt_ms_left(deadline));
                    if (n < 0) return n;
                }
                size_t tl = (size_t)(eol - c->in.data) + 2;
                srt_buf_consume(&c->in, tl);
                if (tl == 2) return 0;
            }
        }
        int rc = need_bytes(c, (size_t)size + 2, deadline);
        if (rc < 0) return rc;
        if (memcmp(c->in.data + size, "\r\n", 2) != 0) {
            fprintf(stderr, "srt: chunk not followed by CRLF\n");
            return -EPROTO;
        }
        srt_buf_append(body, c->in.data, (size_t)size);
        srt_buf_consume(&c->in, (size_t)size + 2);
    }
}

int srt_http_read_body(srt_conn *c, srt_response *r, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    int rc;
    srt_buf body = {0};
    srt_buf_append(&body, "", 0);
    const char *te = srt_response_header(r, "Transfer-Encoding");
    const char *cl = srt_response_header(r, "Content-Length");
    if (te && strcasecmp(te, "chunked") == 0) {
        r->chunked = true;
        rc = read_chunked(c, &body, deadline);
    } else if (cl) {
        char *end;
        unsigned long long len = strtoull(cl, &end, 10);
        if (end == cl || *end) {
            fprintf(stderr, "srt: bad Content-Length \"%s\"\n", cl);
            rc = -EPROTO;
        } else {
            rc = need_bytes(c, (size_t)len, deadline);
            if (rc == 0) {
                srt_buf_append(&body, c->in.data, (size_t)len);
                srt_buf_consume(&c->in, (size_t)len);
            }
        }
    } else if (r->status == 204 || r->status == 304) {
        rc = 0;
    } else {
        rc = srt_conn_wait_eof(c, srt_ms_left(deadline));
        srt_buf_append(&body, c->in.data ? c->in.data : "", c->in.len);
        srt_buf_consume(&c->in, c->in.len);
    }
    free(r->body);
    r->body = body.data;
    r->body_len = body.len;
    if (rc < 0)
        fprintf(stderr, "srt: reading the body of a %d response failed: %s\n", r->status,
                strerror(-rc));
    return rc;
}

int srt_http_read_response(srt_conn *c, srt_response *r, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    int interim = 0;
    for (;;) {
        int rc = srt_http_read_head(c, r, srt_ms_left(deadline));
        if (rc < 0) return rc;
        if (r->status >= 200) break;
        interim++;
        response_reset(r);
    }
    r->interim = interim;
    return srt_http_read_body(c, r, srt_ms_left(deadline));
}

int srt_http_request_ex(int port, const char *method, const char *path, const char *const *headers,
                        const char *body, size_t body_len, srt_response *r, int timeout_ms) {
    memset(r, 0, sizeof *r);
    int64_t deadline = srt_now_ms() + timeout_ms;
    srt_conn c;
    int rc = srt_conn_open(&c, port, timeout_ms);
    if (rc < 0) return rc;
    rc = srt_http_send_request(&c, method, path, headers, body, body_len, srt_ms_left(deadline));
    if (rc == 0) rc = srt_http_read_response(&c, r, srt_ms_left(deadline));
    srt_conn_close(&c);
    return rc;
}

int srt_http_request(int port, const char *method, const char *path, const char *const *headers,
                     const char *body, srt_response *r) {
    return srt_http_request_ex(port, method, path, headers, body, body ? strlen(body) : 0, r,
                               SRT_TIMEOUT_MS);
}

static char srt_admin_header[512];

void srt_http_set_admin_key(const char *key) {
    if (key) snprintf(srt_admin_header, sizeof srt_admin_header, "Authorization: Bearer %s", key);
    else srt_admin_header[0] = '\0';
}

int srt_http_get(int port, const char *path, srt_response *r) {
    const char *hdrs[] = {srt_admin_header, NULL};
    return srt_http_request(port, "GET", path, srt_admin_header[0] ? hdrs : NULL, NULL, r);
}

int srt_http_publish(int port, const char *json, srt_response *r) {
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    return srt_http_request(port, "POST", "/publish", hdrs, json, r);
}

const char *srt_response_header(const srt_response *r, const char *name) {
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
    }
    return NULL;
}

size_t srt_response_header_count(const srt_response *r, const char *name) {
    size_t n = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0) n++;
    }
    return n;
}

void srt_response_free(srt_response *r) {
    free(r->raw_head);
    free(r->store_);
    free(r->body);
    memset(r, 0, sizeof *r);
}
