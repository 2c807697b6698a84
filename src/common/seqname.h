/* SPDX-License-Identifier: MIT */
/*
 * seqname.h: the one rule for sequence names ("sequence" of POST /publish,
 * the key of sr_sequence_next / sr_broadcast_sequenced) and the Redis key a
 * name lives at. A name is never a Redis key: the Redis adapter stores the
 * counter of name N at "<prefix>seq:N" (prefix: the adapter's channel
 * prefix), and the name's characters cannot leave that namespace.
 */
#ifndef SR_COMMON_SEQNAME_H
#define SR_COMMON_SEQNAME_H

#include <stddef.h>

/* Bytes in a sequence name (the public SR_SEQUENCE_KEY_MAX). */
#define SR_SEQ_NAME_MAX 128

/* 0 when name[0..len) is a sequence name: 1..SR_SEQ_NAME_MAX bytes of
 * A-Z a-z 0-9 and - _ . : (no '{', '}', '#', '*', spaces, controls or
 * non-ASCII, so no hash tag, glob or other namespace), else -1. */
int sr_seq_name_check(const char *name, size_t len);

/* Writes "<prefix>seq:<name>" (NUL-terminated) into out when it fits in cap;
 * returns the key's length without the NUL either way. The name must have
 * passed sr_seq_name_check. */
size_t sr_seq_key(const char *prefix, size_t prefix_len, const char *name, size_t name_len,
                  char *out, size_t cap);

/* Writes "<prefix>seq#names" the same way: the Redis index of the sequence
 * names in use (a sorted set scored by last use), a key no name can give
 * because '#' is not allowed in names. */
size_t sr_seq_index_key(const char *prefix, size_t prefix_len, char *out, size_t cap);

#endif
