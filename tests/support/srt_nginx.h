/* SPDX-License-Identifier: MIT */
/*
 * srt_nginx.h: Debian's nginx in front of a server under test, configured
 * with the shipped snippet packaging/nginx-sserooms.conf.
 *
 * srt_nginx_start copies the snippet with only what a test must change
 * (the upstream's port, the listen address, the log directory), puts the
 * snippet's "#main:" lines (the connection settings its comments give) in
 * the main context of a generated nginx.conf, and runs nginx as a
 * non-daemon child with its own prefix, pid file, logs and temp paths in a
 * fresh directory, on a free 127.0.0.1 port. The child dies with the test
 * process (PR_SET_PDEATHSIG).
 */
#ifndef SRT_NGINX_H
#define SRT_NGINX_H

#include <sys/types.h>

typedef struct srt_nginx {
    pid_t pid;            /* the master; 0 when not running */
    int port;             /* where nginx listens */
    char dir[256];        /* its prefix: nginx.conf, logs, temp paths */
    char access_log[300]; /* the access log of /sse (the snippet's access_log) */
} srt_nginx;

/* Starts nginx in front of 127.0.0.1:upstream_port. 0, or -1 (the reason,
 * and nginx's error log when it ran, on stderr). */
int srt_nginx_start(srt_nginx *n, int upstream_port);
/* Stops it (SIGTERM: nginx's fast shutdown; SIGKILL after 10 s) and
 * removes its directory. */
void srt_nginx_stop(srt_nginx *n);

#endif
