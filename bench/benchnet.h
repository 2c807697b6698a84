/* SPDX-License-Identifier: MIT */
/*
 * benchnet.h: small socket and clock helpers shared by the benchmark tools
 * (sseload, ssepub, rawfan): URL splitting, non-blocking connects from a
 * chosen 127.0.0.x source address, the file limit, clocks.
 */
#ifndef BENCH_BENCHNET_H
#define BENCH_BENCHNET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bench_url {
    char scheme[16];
    char host[256];
    int port;
    char path[2048]; /* path and query, "/" when absent */
    struct sockaddr_in addr;
} bench_url;

/* Splits "scheme://host[:port][/path]" and resolves host (IPv4). 0 or -1
 * with a message in err. The default port is 80 for http, 6379 for redis. */
int bench_url_parse(bench_url *u, const char *url, char *err, size_t errcap);

/* A non-blocking TCP socket connecting to dst, bound first to the source
 * address 127.0.0.<src_octet> when src_octet > 0 (port chosen at connect
 * time, so TIME_WAIT ports of loopback can be reused). fd, or -errno. */
int bench_connect(const struct sockaddr_in *dst, int src_octet);

/* Raises RLIMIT_NOFILE to its hard limit; returns the new soft limit. */
long bench_raise_nofile(void);

uint64_t bench_mono_ns(void);
uint64_t bench_real_us(void);

/* Parses "10,50,100" into out (at most cap values); count or -1. */
int bench_parse_list(const char *s, double *out, int cap);

/* Writes text to path atomically (path.tmp, then rename). 0 or -1. */
int bench_write_file_atomic(const char *path, const char *text);

#endif
