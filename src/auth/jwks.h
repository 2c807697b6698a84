/* SPDX-License-Identifier: MIT */
/*
 * jwks.h: several verification keys told apart by "kid", read from a JSON
 * Web Key Set file (RFC 7517: {"keys":[{...},...]}), for key rotation.
 *
 * Each usable key becomes one sr_jwt_verifier built from a base
 * configuration (algorithm, leeway, issuer, audience): "kty" must suit the
 * algorithm (RSA for RS256, EC P-256 for ES256, oct for HS256), "alg" and
 * "use" when present must be the algorithm and "sig", and "kid" is
 * required; other keys are skipped. A token picks its key by the "kid" of
 * its header; without a kid, only a set of exactly one key answers.
 */
#ifndef SR_AUTH_JWKS_H
#define SR_AUTH_JWKS_H

#include <stddef.h>

#include "auth/jwt.h"

#define SR_JWKS_MAX_FILE (1024u * 1024u)
#define SR_JWKS_MAX_KEYS 64u

typedef struct sr_jwks sr_jwks;

/* Reads path and builds its keys. SR_JWT_OK and *out, SR_JWT_ECONFIG with
 * the reason in err (unreadable, not a key set, no usable key, a bad key),
 * or SR_JWT_ENOMEM. base's key fields are ignored. */
int sr_jwks_load(const char *path, const sr_jwt_config *base, sr_jwks **out, char *err,
                 size_t errcap);
/* The verifier for token[0..len) (its header's kid), or NULL; *why then
 * says why (static text). */
const sr_jwt_verifier *sr_jwks_pick(const sr_jwks *k, const char *token, size_t len,
                                    const char **why);
size_t sr_jwks_count(const sr_jwks *k);
/* Any one of its verifiers (they share claim names and algorithm). */
const sr_jwt_verifier *sr_jwks_first(const sr_jwks *k);
void sr_jwks_free(sr_jwks *k);

#endif
