/* SPDX-License-Identifier: MIT */
/*
 * srt_proxy.h: a TCP proxy on loopback between a server under test and its
 * Redis, for faults that a real Redis cannot be told to make: it forwards
 * both directions byte for byte, and can hold what clients send after
 * their first bytes (a connection whose handshake passes but whose next
 * commands, SUBSCRIBE say, do not reach Redis until released), or cut
 * every connection. One thread, poll(); every call is thread-safe.
 */
#ifndef SRT_PROXY_H
#define SRT_PROXY_H

#include <stddef.h>

typedef struct srt_proxy srt_proxy;

/* Listens on a free 127.0.0.1 port and forwards to 127.0.0.1:upstream_port.
 * NULL on failure (reason on stderr). */
srt_proxy *srt_proxy_start(int upstream_port);
int srt_proxy_port(const srt_proxy *p);
/* Connections accepted from now on forward their first `bytes` client
 * bytes and hold the rest (until srt_proxy_release). */
void srt_proxy_hold_after(srt_proxy *p, size_t bytes);
/* Sends everything held and stops holding. */
void srt_proxy_release(srt_proxy *p);
/* Closes every proxied connection (both sides). */
void srt_proxy_cut(srt_proxy *p);
/* Connections accepted so far. */
size_t srt_proxy_accepted(srt_proxy *p);
void srt_proxy_free(srt_proxy *p);

#endif
