/* SPDX-License-Identifier: MIT */
/*
 * abi.h: the library's half of the ABI scheme of sserooms.h: a struct a
 * program passes in or gets filled travels with sizeof as the program's
 * header knew it, and fields are only appended. These copy between the
 * program's struct and the library's own, whatever the two sizes.
 */
#ifndef SR_COMMON_ABI_H
#define SR_COMMON_ABI_H

#include <stddef.h>

/* Reads a program's struct (src, src_size bytes) into the library's (dst,
 * dst_size bytes, already holding the defaults): the fields both know are
 * copied, dst keeps its defaults past src_size. A larger src (a newer
 * header) is taken only when its bytes past dst_size are all zero (fields
 * this library does not know, left unset). 0, or SR_EINVAL: src NULL, or a
 * src_size of 0, or a newer field set. */
int sr_abi_copy_in(void *dst, size_t dst_size, const void *src, size_t src_size);

/* Writes the library's struct (src, src_size bytes) into a program's (dst,
 * dst_size bytes): the fields both know; bytes of dst past src_size (fields
 * of a newer header) are zeroed. */
void sr_abi_copy_out(void *dst, size_t dst_size, const void *src, size_t src_size);

#endif
