/* SPDX-License-Identifier: MIT */
/*
 * addr.h: the key under which a client address is counted for the
 * per-address connection limit.
 */
#ifndef SR_COMMON_ADDR_H
#define SR_COMMON_ADDR_H

#include <stdint.h>

#define SR_IPV6_PREFIX_DEFAULT 64u

/* The group of addr (16 bytes: IPv6, or IPv4 as its IPv4-mapped form
 * ::ffff:a.b.c.d) into out (may be addr itself): an IPv6 address keeps its
 * first prefix_len bits and has the rest zeroed, so every address of one
 * /prefix_len is one key; an IPv4-mapped address is kept whole (an IPv4
 * client is one address). prefix_len 0 means SR_IPV6_PREFIX_DEFAULT; more
 * than 128 is 128. Pure: the same address gives the same key wherever it
 * came from (the socket peer, or a trusted proxy's header). */
void sr_addr_group(const uint8_t addr[16], unsigned prefix_len, uint8_t out[16]);

#endif
