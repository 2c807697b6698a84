/* SPDX-License-Identifier: MIT */
/*
 * namecheck.c: the one loop that checks a name against a rule's byte table
 * (namecheck.h): a bound on the length, then one table look-up a byte.
 */
#include "common/namecheck.h"

int sr_name_bytes_check(const uint8_t allowed[256], const char *name, size_t len, size_t max_len) {
    if (!name || len == 0 || len > max_len) return -1;
    const unsigned char *p = (const unsigned char *)name;
    for (size_t i = 0; i < len; i++)
        if (!allowed[p[i]]) return -1;
    return 0;
}
