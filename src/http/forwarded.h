/* SPDX-License-Identifier: MIT */
/*
 * forwarded.h: client addresses behind proxies: IP addresses and CIDR
 * ranges, and the client address of a request from its peer and its
 * X-Forwarded-For / Forwarded (RFC 7239) headers. Pure code, no I/O and no
 * transport: the peer may be the TCP peer or a PROXY protocol source, the
 * headers may come from HTTP/1.1 or any other framing.
 */
#ifndef SR_HTTP_FORWARDED_H
#define SR_HTTP_FORWARDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/request.h"

/* An IP address: IPv6, or IPv4 as its IPv4-mapped IPv6 form (::ffff:a.b.c.d),
 * so that one client reaching a dual-stack listener either way is one
 * address. */
typedef struct sr_ip {
    uint8_t b[16];
} sr_ip;

/* A CIDR range over sr_ip: an IPv4 /n is stored as /(96 + n) of its mapped
 * form. */
typedef struct sr_cidr {
    sr_ip net;    /* host bits zero */
    uint8_t bits; /* 0..128 */
} sr_cidr;

/* Longest address text sr_ip_format writes, with its NUL. */
#define SR_IP_TEXT_MAX 46

/* Parses an address literal of exactly len bytes ("192.0.2.1", "::1",
 * "2001:db8::1"; no brackets, port or zone). 0, or -1. */
int sr_ip_parse(const char *s, size_t len, sr_ip *out);
/* IPv4-mapped addresses as dotted IPv4, others as RFC 5952 IPv6. Returns
 * out (cap >= SR_IP_TEXT_MAX). */
const char *sr_ip_format(const sr_ip *ip, char *out, size_t cap);
bool sr_ip_equal(const sr_ip *a, const sr_ip *b);
/* True for an IPv4-mapped address (an IPv4 client). */
bool sr_ip_is_v4(const sr_ip *ip);

/* Parses "ADDR/BITS" or a lone ADDR (a single host). 0; -1 when it is not a
 * range; -2 when bits are set past the prefix (a typo such as 10.0.0.1/8). */
int sr_cidr_parse(const char *s, sr_cidr *out);
/* True when ip is in one of the n ranges. */
bool sr_cidr_match(const sr_cidr *ranges, size_t n, const sr_ip *ip);

/* Most addresses of a forwarding chain looked at (the rightmost ones). */
#define SR_FORWARDED_MAX_HOPS 32

/* The client address of a request that arrived from `peer`. Unless the
 * peer is in `trusted`, it is the peer itself: untrusted peers cannot
 * choose their address. From a trusted peer the chain of X-Forwarded-For
 * (all its header lines, in order; or, when there is none, the for=
 * parameters of Forwarded) is read from the right, each proxy having
 * appended the address it was reached from: the first address that is not
 * trusted is the client. When every address is trusted the leftmost is;
 * when an entry is not an address (garbage, "unknown", an obfuscated
 * identifier) the walk stops at the trusted hop after it, so a chain with
 * garbage never yields an address a client wrote. Returns 1 when the
 * address came from a header, else 0 (*client = *peer). */
int sr_forwarded_client(const sr_cidr *trusted, size_t n_trusted, const sr_ip *peer,
                        const sr_http_kv *headers, size_t n_headers, sr_ip *client);

#endif
