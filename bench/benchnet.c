/* SPDX-License-Identifier: MIT */
/*
 * benchnet.c: the helpers of benchnet.h.
 */
#include "benchnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int bench_url_parse(bench_url *u, const char *url, char *err, size_t errcap) {
    memset(u, 0, sizeof(*u));
    const char *sep = strstr(url, "://");
    if (!sep || (size_t)(sep - url) >= sizeof(u->scheme)) {
        snprintf(err, errcap, "not a URL (scheme://host:port/path): %s", url);
        return -1;
    }
    memcpy(u->scheme, url, (size_t)(sep - url));
    const char *h = sep + 3;
    const char *slash = strchr(h, '/');
    const char *hend = slash ? slash : h + strlen(h);
    const char *colon = memchr(h, ':', (size_t)(hend - h));
    const char *host_end = colon ? colon : hend;
    if (host_end == h || (size_t)(host_end - h) >= sizeof(u->host)) {
        snprintf(err, errcap, "bad host in %s", url);
        return -1;
    }
    memcpy(u->host, h, (size_t)(host_end - h));
    if (colon) {
        char *e;
        long port = strtol(colon + 1, &e, 10);
        if (e != hend || port <= 0 || port > 65535) {
            snprintf(err, errcap, "bad port in %s", url);
            return -1;
        }
        u->port = (int)port;
    } else {
        u->port = strcmp(u->scheme, "redis") == 0 ? 6379 : 80;
    }
    const char *path = slash ? slash : "/";
    if (strlen(path) >= sizeof(u->path)) {
        snprintf(err, errcap, "path too long in %s", url);
        return -1;
    }
    strcpy(u->path, path);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(u->host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errcap, "cannot resolve %s: %s", u->host, gai_strerror(rc));
        return -1;
    }
    memcpy(&u->addr, res->ai_addr, sizeof(u->addr));
    u->addr.sin_port = htons((uint16_t)u->port);
    freeaddrinfo(res);
    return 0;
}

int bench_connect(const struct sockaddr_in *dst, int src_octet) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (src_octet > 0) {
#ifdef IP_BIND_ADDRESS_NO_PORT
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)src_octet);
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

long bench_raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

uint64_t bench_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bench_real_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

int bench_parse_list(const char *s, double *out, int cap) {
    int n = 0;
    while (*s) {
        char *e;
        double v = strtod(s, &e);
        if (e == s || v <= 0 || n >= cap) return -1;
        out[n++] = v;
        if (*e == ',') e++;
        else if (*e) return -1;
        s = e;
    }
    return n ? n : -1;
}

int bench_write_file_atomic(const char *path, const char *text) {
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) return -1;
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    int ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}
