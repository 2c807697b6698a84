/* SPDX-License-Identifier: MIT */
/*
 * base64url.h: the URL-safe base64 alphabet of RFC 4648 section 5 without
 * padding, as JWS (RFC 7515) and the subscribe tickets use it.
 *
 * Decoding is strict so that one byte string has exactly one accepted
 * text: padding '=', characters outside [A-Za-z0-9_-], a length of 1 mod 4
 * and non-zero unused bits in the last character are all refused.
 */
#ifndef SR_AUTH_BASE64URL_H
#define SR_AUTH_BASE64URL_H

#include <stddef.h>
#include <sys/types.h>

/* Characters needed to encode n bytes (no padding, no NUL). */
size_t sr_b64url_encoded_len(size_t n);
/* Largest decoded size of a text of len characters. */
size_t sr_b64url_decoded_max(size_t len);

/* Encodes src[0..n) at out and NUL-terminates it; needs
 * cap >= sr_b64url_encoded_len(n) + 1. Returns the text length, or -1 when
 * cap is too small. */
ssize_t sr_b64url_encode(const void *src, size_t n, char *out, size_t cap);

/* Decodes s[0..len) into out; needs cap >= sr_b64url_decoded_max(len).
 * Returns the decoded length, or -1 for a text that is not canonical
 * unpadded base64url (or when cap is too small). */
ssize_t sr_b64url_decode(const char *s, size_t len, void *out, size_t cap);

#endif
