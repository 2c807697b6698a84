/* SPDX-License-Identifier: MIT */
/*
 * abi.c: copies between a program's struct and the library's one of
 * another size (abi.h; the scheme is "ABI" in sserooms.h). Never touches a
 * byte past either size: a program built against an older header has a
 * smaller object, on its stack as often as not.
 */
#include "common/abi.h"

#include <string.h>

#include <sserooms/error.h>

int sr_abi_copy_in(void *dst, size_t dst_size, const void *src, size_t src_size) {
    if (!dst || !src || src_size == 0) return SR_EINVAL;
    if (src_size > dst_size) {
        const unsigned char *newer = (const unsigned char *)src + dst_size;
        for (size_t i = 0; i < src_size - dst_size; i++)
            if (newer[i]) return SR_EINVAL;
    }
    memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
    return SR_OK;
}

void sr_abi_copy_out(void *dst, size_t dst_size, const void *src, size_t src_size) {
    if (!dst || dst_size == 0) return;
    size_t n = src_size < dst_size ? src_size : dst_size;
    memcpy(dst, src, n);
    if (dst_size > n) memset((unsigned char *)dst + n, 0, dst_size - n);
}
