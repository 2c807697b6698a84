/* SPDX-License-Identifier: MIT */
/*
 * seqname.c: sequence names (see seqname.h), checked with a 256-entry table
 * like room names (src/rooms/roomname.c; the check is common/namecheck.c)
 * but from a smaller set: letters, digits and - _ . : only. Whatever a
 * publisher sends, the key built from a name that passed is "<prefix>seq:"
 * followed by those bytes, so it can name no key outside the adapter's
 * sequence namespace (no other application's key, no history key
 * "{<prefix>}#h:<room>") and carries no hash tag.
 */
#include "common/seqname.h"

#include <stdint.h>
#include <string.h>

#include "common/namecheck.h"

/* 1 for each byte allowed in a sequence name: the shared base only. */
static const uint8_t seq_name_byte[256] = {SR_NAME_BYTES_BASE};

int sr_seq_name_check(const char *name, size_t len) {
    return sr_name_bytes_check(seq_name_byte, name, len, SR_SEQ_NAME_MAX);
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
