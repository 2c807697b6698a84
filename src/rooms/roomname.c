/* SPDX-License-Identifier: MIT */
/*
 * roomname.c: sr_room_name_check, the one rule for room names used by the
 * HTTP query parser, the publish endpoint and the C API.
 *
 * Names are 1..max_len bytes from a fixed set of URL-safe printable ASCII
 * characters (see sserooms.h), checked with a 256-entry table (the check,
 * and the characters shared with sequence names, are common/namecheck.h);
 * everything else (spaces, controls, '%', '&', '?', '#', quotes,
 * non-ASCII) is refused, so a name can be used in a query string, a Redis
 * channel name and a JSON string without escaping.
 */
#include "rooms/roomname.h"

#include <stdint.h>

#include "common/namecheck.h"

/* 1 for each byte allowed in a room name: the shared base and ten more.
 * (clang-format would lay the list out in columns under the macro.) */
/* clang-format off */
static const uint8_t room_name_byte[256] = {
    SR_NAME_BYTES_BASE,
    ['@'] = 1, ['/'] = 1, ['='] = 1, ['+'] = 1, ['~'] = 1, ['!'] = 1, ['$'] = 1, ['*'] = 1,
    [','] = 1, [';'] = 1,
};
/* clang-format on */

SR_API int sr_room_name_check(const char *name, size_t len, size_t max_len) {
    return sr_name_bytes_check(room_name_byte, name, len, max_len) == 0 ? 0 : SR_EROOM;
}
