/* SPDX-License-Identifier: MIT */
/*
 * srt_proxy.c: the loopback TCP proxy of srt_proxy.h.
 *
 * One thread polls the listening socket, a wake-up pipe and both sockets
 * of every pair. Client bytes past a pair's `pass` budget are appended to
 * its held buffer instead of being written upstream while holding is on;
 * a release writes the held bytes first. Writes are blocking (loopback,
 * small amounts): simple, and the order of bytes is kept.
 */
#include "srt_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PAIRS 64

typedef struct pair {
    int cfd, ufd; /* -1: unused */
    size_t pass;  /* client bytes still forwarded while holding */
    bool holding;
    char *held;
    size_t held_len;
} pair;

struct srt_proxy {
    pthread_t thread;
    pthread_mutex_t mu;
    int lfd, wake[2];
    int port, upstream;
    bool stop, cut, release;
    bool hold;
    size_t hold_after;
    size_t accepted;
    pair pairs[MAX_PAIRS];
};

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

static void pair_close(pair *q) {
    if (q->cfd >= 0) close(q->cfd);
    if (q->ufd >= 0) close(q->ufd);
    free(q->held);
    memset(q, 0, sizeof *q);
    q->cfd = q->ufd = -1;
}

static int connect_upstream(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void do_accept(srt_proxy *p) {
    int cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0) return;
    int ufd = connect_upstream(p->upstream);
    pair *q = NULL;
    for (int i = 0; i < MAX_PAIRS && !q; i++)
        if (p->pairs[i].cfd < 0) q = &p->pairs[i];
    if (ufd < 0 || !q) {
        close(cfd);
        if (ufd >= 0) close(ufd);
        return;
    }
    q->cfd = cfd;
    q->ufd = ufd;
    pthread_mutex_lock(&p->mu);
    q->holding = p->hold;
    q->pass = p->hold_after;
    p->accepted++;
    pthread_mutex_unlock(&p->mu);
}

/* Client bytes: forwarded, or held past the pass budget. */
static void from_client(pair *q, const char *buf, size_t n) {
    size_t fwd = n;
    if (q->holding) fwd = n < q->pass ? n : q->pass;
    if (fwd) {
        write_all(q->ufd, buf, fwd);
        if (q->holding) q->pass -= fwd;
    }
    if (fwd < n) {
        char *h = realloc(q->held, q->held_len + (n - fwd));
        if (!h) return;
        memcpy(h + q->held_len, buf + fwd, n - fwd);
        q->held = h;
        q->held_len += n - fwd;
    }
}

static void *run(void *ud) {
    srt_proxy *p = ud;
    struct pollfd pfd[2 + 2 * MAX_PAIRS];
    int who[2 + 2 * MAX_PAIRS];
    char buf[65536];
    for (;;) {
        pthread_mutex_lock(&p->mu);
        bool stop = p->stop, cut = p->cut, release = p->release;
        p->cut = p->release = false;
        if (release) p->hold = false;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        for (int i = 0; i < MAX_PAIRS; i++) {
            pair *q = &p->pairs[i];
            if (q->cfd < 0) continue;
            if (cut) {
                pair_close(q);
                continue;
            }
            if (release) {
                if (q->held_len) write_all(q->ufd, q->held, q->held_len);
                free(q->held);
                q->held = NULL;
                q->held_len = 0;
                q->holding = false;
            }
        }
        int n = 0;
        pfd[n] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        who[n++] = -1;
        pfd[n] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        who[n++] = -2;
        for (int i = 0; i < MAX_PAIRS; i++) {
            if (p->pairs[i].cfd < 0) continue;
            pfd[n] = (struct pollfd){.fd = p->pairs[i].cfd, .events = POLLIN};
            who[n++] = 2 * i;
            pfd[n] = (struct pollfd){.fd = p->pairs[i].ufd, .events = POLLIN};
            who[n++] = 2 * i + 1;
        }
        if (poll(pfd, (nfds_t)n, 1000) < 0 && errno != EINTR) break;
        for (int k = 0; k < n; k++) {
            if (!pfd[k].revents) continue;
            if (who[k] == -1) {
                do_accept(p);
            } else if (who[k] == -2) {
                ssize_t ignored = read(p->wake[0], buf, sizeof buf);
                (void)ignored;
            } else {
                pair *q = &p->pairs[who[k] / 2];
                if (q->cfd < 0) continue;
                int from_up = who[k] % 2;
                ssize_t r = read(from_up ? q->ufd : q->cfd, buf, sizeof buf);
                if (r <= 0) {
                    pair_close(q);
                    continue;
                }
                if (from_up) write_all(q->cfd, buf, (size_t)r);
                else from_client(q, buf, (size_t)r);
            }
        }
    }
    for (int i = 0; i < MAX_PAIRS; i++)
        if (p->pairs[i].cfd >= 0) pair_close(&p->pairs[i]);
    return NULL;
}

srt_proxy *srt_proxy_start(int upstream_port) {
    srt_proxy *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    for (int i = 0; i < MAX_PAIRS; i++) p->pairs[i].cfd = p->pairs[i].ufd = -1;
    p->upstream = upstream_port;
    pthread_mutex_init(&p->mu, NULL);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(p->lfd, 64) != 0 || getsockname(p->lfd, (struct sockaddr *)&a, &alen) != 0 ||
        pipe2(p->wake, O_CLOEXEC) != 0) {
        fprintf(stderr, "srt_proxy: %s\n", strerror(errno));
        if (p->lfd >= 0) close(p->lfd);
        free(p);
        return NULL;
    }
    p->port = ntohs(a.sin_port);
    if (pthread_create(&p->thread, NULL, run, p) != 0) {
        close(p->lfd);
        close(p->wake[0]);
        close(p->wake[1]);
        free(p);
        return NULL;
    }
    return p;
}

int srt_proxy_port(const srt_proxy *p) {
    return p->port;
}

static void wake(srt_proxy *p) {
    ssize_t ignored = write(p->wake[1], "x", 1);
    (void)ignored;
}

void srt_proxy_hold_after(srt_proxy *p, size_t bytes) {
    pthread_mutex_lock(&p->mu);
    p->hold = true;
    p->hold_after = bytes;
    pthread_mutex_unlock(&p->mu);
}

void srt_proxy_release(srt_proxy *p) {
    pthread_mutex_lock(&p->mu);
    p->release = true;
    pthread_mutex_unlock(&p->mu);
    wake(p);
}

void srt_proxy_cut(srt_proxy *p) {
    pthread_mutex_lock(&p->mu);
    p->cut = true;
    pthread_mutex_unlock(&p->mu);
    wake(p);
}

size_t srt_proxy_accepted(srt_proxy *p) {
    pthread_mutex_lock(&p->mu);
    size_t n = p->accepted;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void srt_proxy_free(srt_proxy *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_mutex_unlock(&p->mu);
    wake(p);
    pthread_join(p->thread, NULL);
    close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
