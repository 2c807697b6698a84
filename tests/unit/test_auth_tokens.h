/* SPDX-License-Identifier: MIT */
/*
 * test_auth_tokens.h: helpers shared by the JWT tests (test_auth.c,
 * test_auth_claims.c): the committed test keys, and tokens built and
 * signed here with OpenSSL so that each test states exactly what it sends.
 */
#ifndef SR_TEST_AUTH_TOKENS_H
#define SR_TEST_AUTH_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "auth/jwt.h"

#define DATA SR_TEST_SOURCE_DIR "/tests/data/auth/"
#define NOW ((int64_t)1700000000)

extern const char hs_secret[]; /* the HS256 secret of verifier(SR_JWT_HS256, ...) */
extern EVP_PKEY *rsa_key, *rsa2_key, *ec_key, *ec2_key; /* private keys */
extern char *rsa_public_pem;                            /* text of rsa_public.pem */

/* cmocka group setup/teardown: load and free the keys above. */
int auth_keys_setup(void **state);
int auth_keys_teardown(void **state);

char *read_text(const char *path, size_t *len);
/* base64url of p[0..n), malloc'd. */
char *b64(const void *p, size_t n);

typedef enum { SIG_EMPTY, SIG_HMAC, SIG_RSA, SIG_EC } sig_kind;
/* header.payload.signature (malloc'd) from two JSON texts; for SIG_HMAC
 * key/key_len is the secret, for SIG_RSA/SIG_EC key is an EVP_PKEY. */
char *token(const char *header, const char *payload, sig_kind kind, const void *key,
            size_t key_len);
char *hs_token(const char *payload); /* {"alg":"HS256","typ":"JWT"}, hs_secret */
char *rs_token(const char *payload); /* {"alg":"RS256","typ":"JWT"}, rsa_key */
char *es_token(const char *payload); /* {"alg":"ES256"}, ec_key */

/* A verifier from cfg; fails the test if refused. */
sr_jwt_verifier *make_verifier(const sr_jwt_config *cfg);
/* A verifier for alg with the committed keys (rsa_public.pem, ec_public.pem). */
sr_jwt_verifier *verifier(sr_jwt_alg alg, unsigned leeway);
/* Verifies a heap copy of exactly len bytes, checks the claims contract,
 * returns the code. */
int verify_n(const sr_jwt_verifier *v, const char *tok, size_t len, int64_t now);
int verify(const sr_jwt_verifier *v, const char *tok, int64_t now);
/* verify, then free tok. */
int check(const sr_jwt_verifier *v, char *tok, int64_t now);

#endif
