/* SPDX-License-Identifier: MIT */
/*
 * url.h: the Redis server address given as a URL.
 *
 *   redis://[[user]:password@]host[:port][/db]     (port 6379, db 0)
 *   redis://password@host                         (no colon: a password, as redis-cli)
 *   redis://user:password@[::1]:6380/2            (IPv6 literal in brackets)
 *   rediss://...                                  (the same, over TLS)
 *   unix:///path/to/redis.sock[?db=N]
 *   unix://[user]:password@/path/to/redis.sock[?db=N]
 *
 * User and password are percent-decoded. Pure code: no I/O.
 */
#ifndef SR_REDIS_URL_H
#define SR_REDIS_URL_H

#include <stddef.h>

typedef struct sr_redis_url {
    int is_unix;    /* 1: path is a Unix socket; 0: host:port over TCP */
    char *host;     /* TCP host (IPv6 without brackets); NULL for unix */
    int port;       /* 1..65535; 0 for unix */
    char *path;     /* Unix socket path; NULL for TCP */
    char *user;     /* ACL user; NULL when absent (AUTH <password>) */
    char *password; /* NULL when no AUTH is needed */
    int db;         /* SELECT db when nonzero */
    int tls;        /* 1: rediss:// (TLS; the host is the name checked) */
} sr_redis_url;

/* Parses `url` into *out (strings malloc'd; free with sr_redis_url_free).
 * Returns 0, SR_EINVAL with a message in err[0..errcap) ("redis URL: ..."),
 * or SR_ENOMEM. *out is zeroed on failure. */
int sr_redis_url_parse(const char *url, sr_redis_url *out, char *err, size_t errcap);
void sr_redis_url_free(sr_redis_url *u);

/* "127.0.0.1:6379", "[::1]:6380" or "/path/to/sock", for messages. */
void sr_redis_url_describe(const sr_redis_url *u, char *out, size_t cap);

#endif
