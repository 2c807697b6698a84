/* SPDX-License-Identifier: MIT */
/*
 * base64url.c: strict unpadded base64url (see base64url.h).
 *
 * A 256-entry table maps each byte to its 6-bit value or 0xff. Four
 * characters give three bytes; a tail of two or three characters gives
 * one or two bytes, and the bits of the last character that fall beyond
 * the data must be zero (RFC 4648 section 3.5: otherwise many texts would
 * decode to the same bytes, and a token could be altered without changing
 * what it means).
 */
#include "auth/base64url.h"

#include <stdint.h>

static const char b64url_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 6-bit value of each character, 0xff for bytes outside the alphabet. */
static const uint8_t b64url_value[256] = {
#define X 0xff
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0x00 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0x10 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  62, X,  X,  /* 0x20: '-' */
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X,  X,  X,  X,  X,  X,  /* '0'..'9' */
    X,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, /* 'A'.. */
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X,  X,  X,  X,  63, /* ..'Z', '_' */
    X,  26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, /* 'a'.. */
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X,  X,  X,  X,  X,  /* ..'z' */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0x80.. */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X, X, X, X,
#undef X
};

size_t sr_b64url_encoded_len(size_t n) {
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t sr_b64url_decoded_max(size_t len) {
    return len / 4 * 3 + (len % 4 > 1 ? len % 4 - 1 : 0);
}

ssize_t sr_b64url_encode(const void *src, size_t n, char *out, size_t cap) {
    const uint8_t *in = src;
    size_t need = sr_b64url_encoded_len(n);
    if (!out || cap < need + 1 || (n > 0 && !in)) return -1;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return (ssize_t)o;
}

ssize_t sr_b64url_decode(const char *s, size_t len, void *out, size_t cap) {
    const uint8_t *p = (const uint8_t *)s;
    uint8_t *o = out;
    if (len % 4 == 1 || cap < sr_b64url_decoded_max(len) || (len > 0 && (!s || !out))) return -1;
    size_t n = 0, i = 0;
    for (; i + 4 <= len; i += 4) {
        uint8_t a = b64url_value[p[i]], b = b64url_value[p[i + 1]];
        uint8_t c = b64url_value[p[i + 2]], d = b64url_value[p[i + 3]];
        if ((a | b | c | d) & 0xc0) return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
        o[n++] = (uint8_t)(v >> 16);
        o[n++] = (uint8_t)(v >> 8);
        o[n++] = (uint8_t)v;
    }
    size_t rest = len - i;
    if (rest == 2) {
        uint8_t a = b64url_value[p[i]], b = b64url_value[p[i + 1]];
        if (((a | b) & 0xc0) || (b & 0x0f)) return -1;
        o[n++] = (uint8_t)(a << 2 | b >> 4);
    } else if (rest == 3) {
        uint8_t a = b64url_value[p[i]], b = b64url_value[p[i + 1]], c = b64url_value[p[i + 2]];
        if (((a | b | c) & 0xc0) || (c & 0x03)) return -1;
        o[n++] = (uint8_t)(a << 2 | b >> 4);
        o[n++] = (uint8_t)(b << 4 | c >> 2);
    }
    return (ssize_t)n;
}
