/* SPDX-License-Identifier: MIT */
/*
 * namecheck.h: the byte-table check behind every name rule (room names,
 * src/rooms/roomname.c; sequence names, seqname.c). A rule is a 256-entry
 * table, 1 for each byte it allows; SR_NAME_BYTES_BASE is the part all
 * rules share (letters, digits and - _ . :), so a rule lists only what it
 * adds to it.
 */
#ifndef SR_COMMON_NAMECHECK_H
#define SR_COMMON_NAMECHECK_H

#include <stddef.h>
#include <stdint.h>

/* The initializers of A-Z a-z 0-9 - _ . : in a table of 256 bytes. */
#define SR_NAME_BYTES_BASE                                                                         \
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,        \
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,        \
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,        \
    ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,        \
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,        \
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,        \
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,        \
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['-'] = 1, ['_'] = 1,        \
    ['.'] = 1, [':'] = 1

/* 0 when name[0..len) is 1..max_len bytes, each one allowed[] has a 1
 * for; -1 otherwise (NULL name, empty, too long, a byte not allowed). */
int sr_name_bytes_check(const uint8_t allowed[256], const char *name, size_t len, size_t max_len);

#endif
