/* SPDX-License-Identifier: MIT */
/*
 * jwt.h: verification of compact JWS tokens (JWT, RFC 7519) with OpenSSL,
 * for the subscribe and publish endpoints.
 *
 * A verifier accepts exactly one algorithm, fixed by configuration:
 * HS256 (shared secret), RS256 (RSA PKCS#1 v1.5 + SHA-256, key of 2048
 * bits or more) or ES256 (ECDSA P-256 + SHA-256). The token's header must
 * name that algorithm, so "alg": "none", a mismatched algorithm and the
 * classic HS256-signed-with-the-RSA-public-key forgery are refused before
 * any signature is computed. Time claims are checked against a `now` the
 * caller passes (Unix seconds), with a leeway for clock skew.
 *
 * A verifier is immutable once made: any thread may verify with it.
 */
#ifndef SR_AUTH_JWT_H
#define SR_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "json/json.h"

typedef enum sr_jwt_alg {
    SR_JWT_ALG_NONE = 0, /* not an accepted value: a config must pick one */
    SR_JWT_HS256,
    SR_JWT_RS256,
    SR_JWT_ES256
} sr_jwt_alg;

/* Why a token or a configuration was refused. Every code but SR_JWT_ENOMEM
 * (and SR_JWT_ECONFIG, which only configuration gives) means "401". */
typedef enum sr_jwt_status {
    SR_JWT_OK = 0,
    SR_JWT_EMALFORMED = -1, /* not three non-empty dot-separated parts */
    SR_JWT_ETOOLONG = -2,   /* longer than the configured cap */
    SR_JWT_EBASE64 = -3,    /* a part is not canonical unpadded base64url */
    SR_JWT_EHEADER = -4,    /* header not a JSON object, bad typ, crit present */
    SR_JWT_EALG = -5,       /* header alg is not the configured algorithm */
    SR_JWT_ESIGNATURE = -6, /* signature wrong length or does not verify */
    SR_JWT_ECLAIMS = -7,    /* payload not an object, a claim of the wrong type,
                               exp missing when required */
    SR_JWT_EEXPIRED = -8,   /* now >= exp + leeway */
    SR_JWT_ENOTYET = -9,    /* now + leeway < nbf, or iat in the future */
    SR_JWT_EISSUER = -10,   /* iss differs from the configured issuer */
    SR_JWT_EAUDIENCE = -11, /* aud does not name the configured audience */
    SR_JWT_ENOMEM = -12,    /* out of memory */
    SR_JWT_ECONFIG = -13    /* verifier configuration refused */
} sr_jwt_status;

/* A static description of an sr_jwt_status; never NULL. */
const char *sr_jwt_strerror(int code);

/* "HS256" / "RS256" / "ES256" (exact, case-sensitive, as in the JWS
 * header) to the enum; 0, or -1 for anything else ("none" included). */
int sr_jwt_alg_parse(const char *name, sr_jwt_alg *out);
/* The JWS name of an algorithm ("HS256"...), or NULL. */
const char *sr_jwt_alg_name(sr_jwt_alg alg);

#define SR_JWT_DEFAULT_MAX_TOKEN 8192u
#define SR_JWT_MIN_HMAC_SECRET 32u /* RFC 7518 3.2: at least the hash size */
#define SR_JWT_MAX_LEEWAY 86400u

/* Verifier configuration. Zero-initialise, then set alg and its key:
 *   HS256: secret/secret_len (>= 32 bytes, and not a PEM text: a public key
 *          pasted here would let anyone who has it sign tokens);
 *   RS256/ES256: exactly one of public_key_pem (PEM text; pem_len 0 means
 *          NUL-terminated) or public_key_file (a path to a PEM file).
 * All strings are copied by sr_jwt_verifier_new. */
typedef struct sr_jwt_config {
    sr_jwt_alg alg;
    const void *secret;
    size_t secret_len;
    const char *public_key_pem;
    size_t public_key_pem_len;
    const char *public_key_file;
    unsigned leeway_s;         /* clock skew allowed on exp/nbf/iat, <= SR_JWT_MAX_LEEWAY */
    const char *issuer;        /* NULL: iss not checked */
    const char *audience;      /* NULL: a token carrying aud is refused (RFC 7519 4.1.3) */
    int exp_optional;          /* 0 (default): a token without exp is refused */
    const char *rooms_claim;   /* subscribe grants; NULL: "rooms" */
    const char *publish_claim; /* publish grants; NULL: "publish" */
    size_t max_token_len;      /* 0: SR_JWT_DEFAULT_MAX_TOKEN */
} sr_jwt_config;

typedef struct sr_jwt_verifier sr_jwt_verifier;

/* Makes a verifier. Returns SR_JWT_OK and *out, or SR_JWT_ECONFIG with a
 * sentence saying why in err (NUL-terminated, truncated to errcap; err may
 * be NULL), or SR_JWT_ENOMEM. */
int sr_jwt_verifier_new(const sr_jwt_config *cfg, sr_jwt_verifier **out, char *err, size_t errcap);
void sr_jwt_verifier_free(sr_jwt_verifier *v);

sr_jwt_alg sr_jwt_verifier_alg(const sr_jwt_verifier *v);
/* The configured claim names (defaults applied). */
const char *sr_jwt_verifier_rooms_claim(const sr_jwt_verifier *v);
const char *sr_jwt_verifier_publish_claim(const sr_jwt_verifier *v);

/* What a verified token says. payload is the decoded payload JSON
 * (malloc'd, NUL-terminated), root the object spanning it, for reading
 * other claims with sr_json_object_get. */
typedef struct sr_jwt_claims {
    char *payload;
    size_t payload_len;
    sr_json_value root;
    int has_exp;
    double exp;         /* NumericDate, may be fractional */
    const char *detail; /* static: which check failed (also set on success: "ok") */
} sr_jwt_claims;

/* Verifies token[0..len) at time now (Unix seconds). On SR_JWT_OK *claims
 * holds the payload (release with sr_jwt_claims_free); on failure nothing
 * is held, claims->detail says what failed, and the code says which check.
 * Checks, in order: length cap, three parts, base64url, header object,
 * alg == the configured one, typ (absent or "JWT"), no crit, signature,
 * payload object, exp/nbf/iat, iss, aud. */
int sr_jwt_verify(const sr_jwt_verifier *v, const char *token, size_t len, int64_t now,
                  sr_jwt_claims *claims);
void sr_jwt_claims_free(sr_jwt_claims *claims);

#endif /* SR_AUTH_JWT_H */
