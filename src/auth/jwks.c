/* SPDX-License-Identifier: MIT */
/*
 * jwks.c: a JSON Web Key Set file as verifiers by "kid" (jwks.h).
 *
 * RSA keys (n, e) and EC P-256 keys (x, y) are turned into an OpenSSL
 * public key (EVP_PKEY_fromdata) and written as a PEM, which the ordinary
 * verifier constructor then checks like a --auth-public-key file; oct keys
 * (k) are HS256 secrets and get the constructor's length check. The key
 * set is immutable once loaded: a reload (SIGHUP) builds a new one and the
 * caller swaps them, so a bad file never leaves the server without keys.
 */
#include "auth/jwks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "auth/base64url.h"
#include "json/json.h"

typedef struct jwks_key {
    char kid[128];
    sr_jwt_verifier *v;
} jwks_key;

struct sr_jwks {
    jwks_key keys[SR_JWKS_MAX_KEYS];
    size_t n;
};

static int fail(char *err, size_t cap, const char *fmt, const char *a) {
    if (err && cap) snprintf(err, cap, fmt, a);
    return SR_JWT_ECONFIG;
}

/* A string member decoded into out; 0, or -1 (absent, not a string, too long). */
static int member_text(const sr_json_value *obj, const char *name, char *out, size_t cap) {
    const char *const keys[] = {name};
    sr_json_value v;
    unsigned flags = 0;
    if (sr_json_object_get(obj, keys, 1, &v) != 0 || v.type != SR_JSON_STRING) return -1;
    ssize_t n = sr_json_string_decode(&v, out, cap - 1, &flags);
    if (n < 0 || (flags & SR_JSON_S_NUL)) return -1;
    out[n] = '\0';
    return (int)n;
}

/* A base64url member's bytes (malloc'd, *len), or NULL. */
static unsigned char *member_bytes(const sr_json_value *obj, const char *name, size_t *len) {
    char text[2048];
    int n = member_text(obj, name, text, sizeof(text));
    if (n <= 0) return NULL;
    unsigned char *out = malloc(sr_b64url_decoded_max((size_t)n) + 1);
    ssize_t got = out ? sr_b64url_decode(text, (size_t)n, out, sr_b64url_decoded_max((size_t)n) + 1)
                      : -1;
    if (got <= 0) {
        free(out);
        return NULL;
    }
    *len = (size_t)got;
    return out;
}

/* The PEM of a public key given by its parameters (malloc'd), or NULL. */
static char *pem_from_params(const char *type, OSSL_PARAM *params) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;
    char *pem = NULL;
    if (ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data = NULL;
        long len;
        if (bio && PEM_write_bio_PUBKEY(bio, pkey) == 1 &&
            (len = BIO_get_mem_data(bio, &data)) > 0 && (pem = malloc((size_t)len + 1))) {
            memcpy(pem, data, (size_t)len);
            pem[len] = '\0';
        }
        BIO_free(bio);
    }
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return pem;
}

static char *rsa_pem(const sr_json_value *key) {
    size_t nl = 0, el = 0;
    unsigned char *n = member_bytes(key, "n", &nl), *e = member_bytes(key, "e", &el);
    BIGNUM *bn = n ? BN_bin2bn(n, (int)nl, NULL) : NULL,
           *be = e ? BN_bin2bn(e, (int)el, NULL) : NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    char *pem = NULL;
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1 &&
        (params = OSSL_PARAM_BLD_to_param(bld)))
        pem = pem_from_params("RSA", params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return pem;
}

static char *ec_pem(const sr_json_value *key) {
    char crv[16];
    if (member_text(key, "crv", crv, sizeof(crv)) < 0 || strcmp(crv, "P-256") != 0) return NULL;
    size_t xl = 0, yl = 0;
    unsigned char *x = member_bytes(key, "x", &xl), *y = member_bytes(key, "y", &yl);
    char *pem = NULL;
    if (x && y && xl == 32 && yl == 32) {
        unsigned char point[65];
        point[0] = 0x04; /* uncompressed */
        memcpy(point + 1, x, 32);
        memcpy(point + 33, y, 32);
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                                (char *)"prime256v1", 0),
                               OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point,
                                                                 sizeof(point)),
                               OSSL_PARAM_construct_end()};
        pem = pem_from_params("EC", params);
    }
    free(x);
    free(y);
    return pem;
}

/* Adds key (an object) to k when it suits base->alg; 0 (added or
 * skipped) or an SR_JWT_* code with the reason in err. */
static int add_key(sr_jwks *k, const sr_json_value *key, const sr_jwt_config *base, char *err,
                   size_t cap) {
    static const char *const kty_of[] = {
        [SR_JWT_HS256] = "oct", [SR_JWT_RS256] = "RSA", [SR_JWT_ES256] = "EC"};
    char kty[16], alg[16], use[16], kid[128];
    if (key->type != SR_JSON_OBJECT || member_text(key, "kty", kty, sizeof(kty)) < 0)
        return fail(err, cap, "a key%s has no \"kty\"", "");
    if (strcmp(kty, kty_of[base->alg]) != 0) return 0;
    if (member_text(key, "alg", alg, sizeof(alg)) >= 0 &&
        strcmp(alg, sr_jwt_alg_name(base->alg)) != 0)
        return 0;
    if (member_text(key, "use", use, sizeof(use)) >= 0 && strcmp(use, "sig") != 0) return 0;
    if (member_text(key, "kid", kid, sizeof(kid)) <= 0)
        return fail(err, cap, "a %s key has no \"kid\" (needed to pick it)", kty);
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->keys[i].kid, kid) == 0)
            return fail(err, cap, "kid \"%.64s\" given twice", kid);
    if (k->n >= SR_JWKS_MAX_KEYS) return fail(err, cap, "more than %s usable keys", "64");
    sr_jwt_config c = *base;
    c.secret = NULL;
    c.secret_len = 0;
    c.public_key_file = NULL;
    c.public_key_pem = NULL;
    unsigned char *secret = NULL;
    char *pem = NULL;
    if (base->alg == SR_JWT_HS256) {
        secret = member_bytes(key, "k", &c.secret_len);
        c.secret = secret;
    } else {
        pem = base->alg == SR_JWT_RS256 ? rsa_pem(key) : ec_pem(key);
        c.public_key_pem = pem;
    }
    char why[200] = "";
    int rc = (c.secret || c.public_key_pem)
                 ? sr_jwt_verifier_new(&c, &k->keys[k->n].v, why, sizeof(why))
                 : SR_JWT_ECONFIG;
    if (secret) {
        OPENSSL_cleanse(secret, c.secret_len);
        free(secret);
    }
    free(pem);
    if (rc == SR_JWT_ENOMEM) return rc;
    if (rc != SR_JWT_OK) {
        if (err && cap)
            snprintf(err, cap, "key \"%.64s\": %s", kid, *why ? why : "malformed key parameters");
        return SR_JWT_ECONFIG;
    }
    snprintf(k->keys[k->n].kid, sizeof(k->keys[k->n].kid), "%s", kid);
    k->n++;
    return SR_JWT_OK;
}

int sr_jwks_load(const char *path, const sr_jwt_config *base, sr_jwks **out, char *err,
                 size_t errcap) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errcap, "auth-jwks '%s': cannot be read", path);
    char *text = malloc(SR_JWKS_MAX_FILE + 1);
    size_t n = text ? fread(text, 1, SR_JWKS_MAX_FILE + 1, f) : 0;
    int bad = !text || ferror(f) || n > SR_JWKS_MAX_FILE;
    fclose(f);
    if (bad) {
        free(text);
        return text ? fail(err, errcap, "auth-jwks '%s': unreadable or larger than 1 MiB", path)
                    : SR_JWT_ENOMEM;
    }
    sr_json_value top, keys, key;
    sr_json_error jerr = {0};
    unsigned flags = 0;
    static const char *const name[] = {"keys"};
    sr_jwks *k = calloc(1, sizeof(*k));
    int rc = k ? SR_JWT_OK : SR_JWT_ENOMEM;
    if (rc == SR_JWT_OK &&
        (sr_json_validate(text, n, 16, &top, &flags, &jerr) != 0 || top.type != SR_JSON_OBJECT ||
         sr_json_object_get(&top, name, 1, &keys) != 0 || keys.type != SR_JSON_ARRAY))
        rc = fail(err, errcap, "auth-jwks '%s': not a key set {\"keys\":[...]}", path);
    if (rc == SR_JWT_OK) {
        sr_json_iter it;
        sr_json_iter_begin(&keys, &it);
        while (rc == SR_JWT_OK && sr_json_array_next(&it, &key))
            rc = add_key(k, &key, base, err, errcap);
    }
    if (rc == SR_JWT_OK && k->n == 0)
        rc = fail(err, errcap, "auth-jwks: no key for %s (kty, alg and use must suit it)",
                  sr_jwt_alg_name(base->alg));
    OPENSSL_cleanse(text, n);
    free(text);
    if (rc != SR_JWT_OK) {
        sr_jwks_free(k);
        return rc;
    }
    *out = k;
    return SR_JWT_OK;
}

const sr_jwt_verifier *sr_jwks_pick(const sr_jwks *k, const char *token, size_t len,
                                    const char **why) {
    const char *dot = memchr(token, '.', len);
    size_t hl = dot ? (size_t)(dot - token) : 0;
    char header[1024];
    ssize_t n = hl && sr_b64url_decoded_max(hl) < sizeof(header)
                    ? sr_b64url_decode(token, hl, header, sizeof(header) - 1)
                    : -1;
    sr_json_value top;
    sr_json_error jerr = {0};
    unsigned flags = 0;
    if (n <= 0 || sr_json_validate(header, (size_t)n, 4, &top, &flags, &jerr) != 0 ||
        top.type != SR_JSON_OBJECT) {
        *why = "malformed header";
        return NULL;
    }
    char kid[128];
    if (member_text(&top, "kid", kid, sizeof(kid)) < 0) {
        if (k->n == 1) return k->keys[0].v;
        *why = "no \"kid\" in the header, and the key set has several keys";
        return NULL;
    }
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->keys[i].kid, kid) == 0) return k->keys[i].v;
    *why = "unknown \"kid\"";
    return NULL;
}

size_t sr_jwks_count(const sr_jwks *k) {
    return k ? k->n : 0;
}

const sr_jwt_verifier *sr_jwks_first(const sr_jwks *k) {
    return k && k->n ? k->keys[0].v : NULL;
}

void sr_jwks_free(sr_jwks *k) {
    if (!k) return;
    for (size_t i = 0; i < k->n; i++) sr_jwt_verifier_free(k->keys[i].v);
    free(k);
}
