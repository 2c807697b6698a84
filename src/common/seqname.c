/* SPDX-License-Identifier: MIT */
/*
 * seqname.c: sequence names (see seqname.h), checked with a 256-entry table
 * like room names (src/rooms/roomname.c) but from a smaller set: letters,
 * digits and - _ . : only. Whatever a publisher sends, the key built from a
 * name that passed is "<prefix>seq:" followed by those bytes, so it can name
 * no key outside the adapter's sequence namespace (no other application's
 * key, no history key "{<prefix>}#h:<room>") and carries no hash tag.
 */
#include "common/seqname.h"

#include <stdint.h>
#include <string.h>

static const uint8_t seq_name_byte[256] = {
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['-'] = 1, ['_'] = 1,
    ['.'] = 1, [':'] = 1,
};

int sr_seq_name_check(const char *name, size_t len) {
    if (!name || len == 0 || len > SR_SEQ_NAME_MAX) return -1;
    const unsigned char *p = (const unsigned char *)name;
    for (size_t i = 0; i < len; i++)
        if (!seq_name_byte[p[i]]) return -1;
    return 0;
}

/* prefix + middle + tail into out (when it fits), NUL-terminated. */
static size_t join3(const char *prefix, size_t prefix_len, const char *middle, size_t middle_len,
                    const char *tail, size_t tail_len, char *out, size_t cap) {
    size_t n = prefix_len + middle_len + tail_len;
    if (out && n < cap) {
        memcpy(out, prefix, prefix_len);
        memcpy(out + prefix_len, middle, middle_len);
        if (tail_len) memcpy(out + prefix_len + middle_len, tail, tail_len);
        out[n] = '\0';
    }
    return n;
}

size_t sr_seq_key(const char *prefix, size_t prefix_len, const char *name, size_t name_len,
                  char *out, size_t cap) {
    return join3(prefix, prefix_len, "seq:", 4, name, name_len, out, cap);
}

size_t sr_seq_index_key(const char *prefix, size_t prefix_len, char *out, size_t cap) {
    return join3(prefix, prefix_len, "seq#names", 9, NULL, 0, out, cap);
}
