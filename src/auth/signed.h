/* SPDX-License-Identifier: MIT */
/*
 * signed.h: short HMAC-signed texts, the form of the tickets and session
 * cookies that every node of a cluster can check on its own.
 *
 * A signed text is base64url(payload) "." base64url(HMAC-SHA256(key,
 * payload)), payload being any bytes (server/auth_tickets.c puts JSON there). Checking
 * compares the MAC in constant time and hands back the payload; whether
 * the payload is still valid (its expiry, its rooms) is the caller's
 * business. The key is shared by the nodes (--ticket-secret, or derived
 * from the HS256 secret with sr_signed_derive_key).
 */
#ifndef SR_AUTH_SIGNED_H
#define SR_AUTH_SIGNED_H

#include <stddef.h>
#include <sys/types.h>

#define SR_SIGNED_KEY_LEN 32u
#define SR_SIGNED_MAX_PAYLOAD 4096u

/* The ticket key of an HS256 secret: HMAC-SHA256(secret, label), so the
 * secret itself never signs tickets. 0, or -1 when OpenSSL fails. */
int sr_signed_derive_key(const void *secret, size_t len, const char *label,
                         unsigned char out[SR_SIGNED_KEY_LEN]);

/* Writes the signed text of payload[0..n) (NUL-terminated) to out, which
 * needs sr_signed_len(n) + 1 bytes. Returns its length, or -1. */
size_t sr_signed_len(size_t n);
ssize_t sr_signed_make(const unsigned char key[SR_SIGNED_KEY_LEN], const void *payload, size_t n,
                       char *out, size_t cap);

/* Checks text[0..len) and, when the MAC is right, writes the payload to
 * out (cap >= len is always enough) and NUL-terminates it. Returns the
 * payload length, or -1 (malformed, wrong MAC, too long). */
ssize_t sr_signed_open(const unsigned char key[SR_SIGNED_KEY_LEN], const char *text, size_t len,
                       char *out, size_t cap);

#endif
