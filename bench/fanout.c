/* SPDX-License-Identifier: MIT */
/*
 * fanout.c: idle-stream memory and one-broadcast fan-out time.
 *
 * Opens N SSE streams to a running sserooms (spread over several 127.0.0.x
 * source addresses), reads the server's RSS from /proc before and after,
 * then publishes one message at a time through POST /publish and measures
 * the time from just before the publish request is sent until the last of
 * the N streams has received the whole frame. Runs in its own process so
 * its sockets do not count against the server's file limit.
 *
 *   fanout --port 8080 --pid <server pid> --conns 10000 --rounds 5 [--json]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct stream {
    int fd;
    int state;  /* 0 connecting, 1 head pending, 2 open */
    size_t got; /* bytes of the current round's frame seen */
    char tail[4];
} stream;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long rss_kb(int pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0) v = atol(line + fl + 1);
    fclose(f);
    return v;
}

static int connect_to(int port, int src_octet, int nonblock) {
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)src_octet);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
        close(fd);
        return -1;
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One POST /publish on a fresh connection; returns "delivered" or -1. */
static long publish(int port, const char *room, const char *data) {
    int fd = connect_to(port, 1, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char body[512], req[1024];
    int bl = snprintf(body, sizeof(body), "{\"room\":\"%s\",\"event\":\"bench\",\"data\":%s}", room,
                      data);
    int rl = snprintf(req, sizeof(req),
                      "POST /publish HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                      bl, body);
    if (write(fd, req, (size_t)rl) != rl) {
        close(fd);
        return -1;
    }
    char resp[2048];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(resp) - 1 && (r = read(fd, resp + n, sizeof(resp) - 1 - n)) > 0) {
        n += (size_t)r;
        resp[n] = '\0';
        /* done at the answer: rawfan ignores Connection: close */
        const char *d0 = strstr(resp, "\"delivered\":");
        if (d0 && strchr(d0, '}')) break;
    }
    resp[n] = '\0';
    close(fd);
    const char *d = strstr(resp, "\"delivered\":");
    return d ? atol(d + 12) : -1;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int port = 8080, pid = 0, conns = 10000, rounds = 5, json = 0, sources = 8;
    const char *room = "bench";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pid") && i + 1 < argc) pid = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--conns") && i + 1 < argc) conns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--room") && i + 1 < argc) room = argv[++i];
        else if (!strcmp(argv[i], "--sources") && i + 1 < argc) sources = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else {
            fprintf(
                stderr,
                "usage: fanout --port P --pid PID [--conns N] [--rounds K] [--room R] [--sources S] [--json]\n");
            return 2;
        }
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)conns + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    long rss_before = pid ? rss_kb(pid, "VmRSS:") : -1;

    int ep = epoll_create1(0);
    stream *s = calloc((size_t)conns, sizeof(*s));
    char req[256];
    int reql = snprintf(req, sizeof(req), "GET /sse?room=%s HTTP/1.1\r\nHost: b\r\n\r\n", room);
    uint64_t t_open = now_ns();
    int opened = 0, pending = 0;
    struct epoll_event evs[1024];
    char buf[65536];
    /* connect in waves so the server's accept backlog never overflows */
    for (int i = 0; i < conns || pending > 0;) {
        while (i < conns && pending < 500) {
            s[i].fd = connect_to(port, 2 + i % sources, 1);
            if (s[i].fd < 0) {
                fprintf(stderr, "connect %d failed: %s\n", i, strerror(errno));
                return 1;
            }
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i};
            epoll_ctl(ep, EPOLL_CTL_ADD, s[i].fd, &ev);
            pending++;
            i++;
        }
        int n = epoll_wait(ep, evs, 1024, 5000);
        if (n == 0) {
            fprintf(stderr, "timeout opening streams (%d open)\n", opened);
            return 1;
        }
        for (int k = 0; k < n; k++) {
            stream *st = &s[evs[k].data.u32];
            if (st->state == 0 && (evs[k].events & EPOLLOUT)) {
                if (write(st->fd, req, (size_t)reql) != reql) return 1;
                st->state = 1;
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[k].data.u32};
                epoll_ctl(ep, EPOLL_CTL_MOD, st->fd, &ev);
            } else if (st->state == 1 && (evs[k].events & EPOLLIN)) {
                ssize_t r = read(st->fd, buf, sizeof(buf));
                if (r <= 0 || memmem(buf, (size_t)r, "\r\n\r\n", 4) == NULL ||
                    strncmp(buf, "HTTP/1.1 200", 12)) {
                    fprintf(stderr, "stream %u: bad response\n", evs[k].data.u32);
                    return 1;
                }
                st->state = 2;
                opened++;
                pending--;
            }
        }
    }
    double open_s = (double)(now_ns() - t_open) / 1e9;
    usleep(500000); /* let the server settle */
    long rss_after = pid ? rss_kb(pid, "VmRSS:") : -1;
    long hwm = pid ? rss_kb(pid, "VmHWM:") : -1;

    uint64_t *times = calloc((size_t)rounds, sizeof(*times));
    long delivered = 0;
    for (int r = 0; r < rounds; r++) {
        char data[128];
        snprintf(data, sizeof(data), "{\"round\":%d,\"pad\":\"%040d\"}", r, 0);
        /* expected frame: "event: bench\ndata: <data>\n\n" */
        size_t frame_len = strlen("event: bench\ndata: ") + strlen(data) + 2;
        for (int i = 0; i < conns; i++) s[i].got = 0;
        int done = 0;
        uint64_t t0 = now_ns();
        delivered = publish(port, room, data);
        if (delivered != conns)
            fprintf(stderr, "round %d: delivered %ld of %d\n", r, delivered, conns);
        uint64_t last = t0;
        while (done < conns) {
            int n = epoll_wait(ep, evs, 1024, 5000);
            if (n <= 0) {
                fprintf(stderr, "round %d: timeout, %d of %d received\n", r, done, conns);
                return 1;
            }
            for (int k = 0; k < n; k++) {
                stream *st = &s[evs[k].data.u32];
                ssize_t got = read(st->fd, buf, sizeof(buf));
                if (got <= 0) {
                    fprintf(stderr, "stream closed\n");
                    return 1;
                }
                size_t before = st->got;
                st->got += (size_t)got;
                if (before < frame_len && st->got >= frame_len) {
                    done++;
                    last = now_ns();
                }
            }
        }
        times[r] = last - t0;
        usleep(200000);
    }
    qsort(times, (size_t)rounds, sizeof(*times), cmp_u64);
    double med_ms = (double)times[rounds / 2] / 1e6, min_ms = (double)times[0] / 1e6,
           max_ms = (double)times[rounds - 1] / 1e6;
    double per_stream = (rss_after - rss_before) * 1024.0 / conns;
    if (json) {
        printf("{\"conns\":%d,\"open_seconds\":%.3f,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,"
               "\"peak_rss_kb\":%ld,\"bytes_per_stream\":%.0f,\"fanout_ms_median\":%.3f,"
               "\"fanout_ms_min\":%.3f,\"fanout_ms_max\":%.3f,\"rounds\":%d}\n",
               conns, open_s, rss_before, rss_after, hwm, per_stream, med_ms, min_ms, max_ms,
               rounds);
    } else {
        printf("streams opened:        %d in %.2f s\n", conns, open_s);
        printf("server RSS:            %ld KiB before, %ld KiB with the streams (peak %ld KiB)\n",
               rss_before, rss_after, hwm);
        printf("memory per stream:     %.0f bytes\n", per_stream);
        printf("one broadcast to all:  median %.2f ms, min %.2f ms, max %.2f ms over %d rounds\n",
               med_ms, min_ms, max_ms, rounds);
    }
    for (int i = 0; i < conns; i++) close(s[i].fd);
    free(s);
    free(times);
    return 0;
}
