/* SPDX-License-Identifier: MIT */
/*
 * proxy_protocol.h: the PROXY protocol header (HAProxy's "PROXY protocol"
 * versions 1 and 2) that load balancers put in front of a connection's
 * first bytes to say which client it carries. Pure code: parses bytes, no
 * I/O.
 */
#ifndef SR_HTTP_PROXY_PROTOCOL_H
#define SR_HTTP_PROXY_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "http/forwarded.h"

/* The longest header accepted (a version 2 header with its TLVs); a longer
 * one is refused. Version 1 headers are at most 107 bytes by definition. */
#define SR_PROXY_MAX_BYTES 4096
#define SR_PROXY_V1_MAX_BYTES 107

typedef struct sr_proxy_header {
    int version;  /* 1 or 2 */
    int has_addr; /* 1: src/dst are the client's TCP connection (IPv4 or
                     IPv6); 0: a v2 LOCAL command (the balancer's own
                     health check), v1 UNKNOWN, or a v2 family or
                     transport other than TCP: the connection's own
                     peer stands */
    sr_ip src, dst;
    uint16_t src_port, dst_port;
} sr_proxy_header;

/* Parses the header at the start of data[0..len). Returns its length (> 0:
 * bytes to skip before the payload), 0 when more bytes are needed, or -1
 * when the bytes are not a valid header, with a static reason in *why (may
 * be NULL). Bytes that cannot begin a header are refused at once, so a
 * client that sends plain HTTP is told without waiting. */
int sr_proxy_parse(const uint8_t *data, size_t len, sr_proxy_header *out, const char **why);

#endif
