/* SPDX-License-Identifier: MIT */
/*
 * jwt_internal.h: what jwt.c (keys, signatures, the verify pipeline) and
 * jwt_claims.c (header and claim checks) share. Not for other modules.
 */
#ifndef SR_AUTH_JWT_INTERNAL_H
#define SR_AUTH_JWT_INTERNAL_H

#include <openssl/evp.h>

#include "auth/jwt.h"

struct sr_jwt_verifier {
    sr_jwt_alg alg;
    unsigned char *secret; /* HS256 */
    size_t secret_len;
    EVP_PKEY *pkey; /* RS256 / ES256 */
    size_t sig_len; /* exact signature length the algorithm gives */
    unsigned leeway_s;
    char *issuer;   /* NULL: not checked */
    char *audience; /* NULL: tokens with aud refused */
    int exp_optional;
    char *rooms_claim;
    char *publish_claim;
    size_t max_token_len;
};

/* Checks the decoded header JSON: an object whose alg is exactly the
 * configured algorithm, typ absent or a JWT type, no crit. SR_JWT_OK,
 * SR_JWT_EHEADER, SR_JWT_EALG or SR_JWT_ENOMEM; *detail says which. */
int sr_jwt_check_header(const sr_jwt_verifier *v, const char *json, size_t len,
                        const char **detail);

/* Parses claims->payload as the JSON object of claims and checks exp,
 * nbf, iat, iss and aud at time now. Fills root/has_exp/exp. */
int sr_jwt_check_claims(const sr_jwt_verifier *v, sr_jwt_claims *claims, int64_t now);

/* A NumericDate (JSON number, possibly fractional or with an exponent)
 * as a double; 0, or -1 when num is not a finite number. */
int sr_jwt_numeric_date(const sr_json_value *num, double *out);

/* 1 when the JSON string value decodes to exactly expected (no lone
 * surrogates or invalid UTF-8), 0 when not, -1 when out of memory. */
int sr_jwt_string_equals(const sr_json_value *str, const char *expected);

#endif
