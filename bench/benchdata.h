/* SPDX-License-Identifier: MIT */
/*
 * benchdata.h: the benchmark's event payload, shared by ssepub (writes it)
 * and sseload (reads it).
 *
 * The data of every benchmark event is the flat JSON object
 *   {"t":<publish time, CLOCK_REALTIME µs>,"s":<per-room sequence>,"k":<step>,"p":"xxx..."}
 * padded with 'x' in "p" to a requested total size.
 */
#ifndef BENCH_BENCHDATA_H
#define BENCH_BENCHDATA_H

#include <stddef.h>
#include <stdint.h>

/* Writes the payload, padded to `size` bytes when size is larger than the
 * unpadded object (else as short as possible). Returns the length written,
 * or 0 when `cap` is too small. Not NUL-terminated. */
size_t benchdata_format(char *out, size_t cap, uint64_t t, uint64_t s, uint64_t k, size_t size);

/* Reads t, s and k from a payload: a JSON object whose top-level members
 * include "t", "s" and "k" as non-negative integers (other members may be
 * strings, numbers, true/false/null; key order free). 0, or -1 when the
 * data is not of that form. */
int benchdata_parse(const char *data, size_t len, uint64_t *t, uint64_t *s, uint64_t *k);

#endif
