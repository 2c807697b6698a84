/* SPDX-License-Identifier: MIT */
/*
 * addr.c: grouping of client addresses for the per-address connection
 * limit (see addr.h). One host usually holds a whole IPv6 /64 (SLAAC,
 * privacy addresses), so counting each IPv6 address alone would let it
 * open connections without end by changing source address; the prefix is
 * the unit instead. IPv4-mapped addresses (::ffff:0:0/96) are left whole:
 * grouping them by an IPv6 prefix would put every IPv4 client into one.
 */
#include "common/addr.h"

#include <string.h>

void sr_addr_group(const uint8_t addr[16], unsigned prefix_len, uint8_t out[16]) {
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (out != addr) memmove(out, addr, 16);
    if (memcmp(addr, v4mapped, sizeof(v4mapped)) == 0) return;
    if (prefix_len == 0) prefix_len = SR_IPV6_PREFIX_DEFAULT;
    if (prefix_len >= 128) return;
    unsigned whole = prefix_len / 8, bits = prefix_len % 8;
    if (bits) out[whole++] &= (uint8_t)(0xff00u >> bits);
    memset(out + whole, 0, 16 - whole);
}
