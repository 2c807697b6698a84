/* SPDX-License-Identifier: MIT */
/*
 * roomname.c: sr_room_name_check, the one rule for room names used by the
 * HTTP query parser, the publish endpoint and the C API.
 *
 * Names are 1..max_len bytes from a fixed set of URL-safe printable ASCII
 * characters (see sserooms.h), checked with a 256-entry table; everything
 * else (spaces, controls, '%', '&', '?', '#', quotes, non-ASCII) is
 * refused, so a name can be used in a query string, a Redis channel name
 * and a JSON string without escaping.
 */
#include "rooms/roomname.h"

#include <stdint.h>

/* 1 for each byte allowed in a room name. */
static const uint8_t room_name_byte[256] = {
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['-'] = 1, ['_'] = 1,
    ['.'] = 1, [':'] = 1, ['@'] = 1, ['/'] = 1, ['='] = 1, ['+'] = 1, ['~'] = 1, ['!'] = 1,
    ['$'] = 1, ['*'] = 1, [','] = 1, [';'] = 1,
};

SR_API int sr_room_name_check(const char *name, size_t len, size_t max_len) {
    if (!name || len == 0 || len > max_len) return SR_EROOM;
    const unsigned char *p = (const unsigned char *)name;
    for (size_t i = 0; i < len; i++)
        if (!room_name_byte[p[i]]) return SR_EROOM;
    return 0;
}
