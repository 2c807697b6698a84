/* SPDX-License-Identifier: MIT */
/*
 * hash.h: SipHash-1-3 with a per-process random key, for hash tables whose
 * keys come from clients (room names), so that chosen names cannot pile
 * into one bucket.
 */
#ifndef SR_COMMON_HASH_H
#define SR_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Hash of s[0..len) under the process-wide random key (seeded on first
 * use from getrandom). */
uint64_t sr_hash(const void *s, size_t len);
/* Hash under an explicit 128-bit key (for tests and known-answer checks). */
uint64_t sr_siphash13(const void *s, size_t len, const uint8_t key[16]);
/* Fills buf with n random bytes from the kernel; 0 or -1. */
int sr_random_bytes(void *buf, size_t n);

#endif
