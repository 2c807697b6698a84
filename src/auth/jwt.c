/* SPDX-License-Identifier: MIT */
/*
 * jwt.c: the JWT verifier: configuration and key loading, the verify
 * pipeline (split, decode, header, signature, claims) and the three
 * signature checks, all on OpenSSL 3's EVP interface.
 *
 * The algorithm is pinned by configuration and checked against the header
 * before any cryptography, so a token cannot choose how it is verified:
 * an HS256 token is only ever checked against an HMAC secret and an RS256
 * one only against an RSA key. Signatures must have exactly the length the
 * algorithm gives; HMACs are compared with CRYPTO_memcmp (constant time);
 * ES256 signatures (raw r||s, RFC 7518 3.4) are turned into the DER
 * ECDSA-Sig-Value that EVP_DigestVerify takes.
 *
 * Every part of the token is decoded (strict base64url) before any check,
 * so a token with bad encoding anywhere is reported as such; the payload
 * JSON is only parsed after the signature has been verified.
 */
#include "auth/jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include "auth/base64url.h"
#include "auth/jwt_internal.h"

#define HS256_LEN 32u
#define ES256_LEN 64u
#define MIN_RSA_BITS 2048
#define MAX_PEM_FILE (64u * 1024u)
#define MAX_TOKEN_CAP (64u * 1024u)
#define MAX_SECRET (64u * 1024u)

const char *sr_jwt_strerror(int code) {
    switch (code) {
    case SR_JWT_OK: return "ok";
    case SR_JWT_EMALFORMED: return "malformed token";
    case SR_JWT_ETOOLONG: return "token too long";
    case SR_JWT_EBASE64: return "token is not valid base64url";
    case SR_JWT_EHEADER: return "bad token header";
    case SR_JWT_EALG: return "token algorithm not accepted";
    case SR_JWT_ESIGNATURE: return "bad token signature";
    case SR_JWT_ECLAIMS: return "bad token claims";
    case SR_JWT_EEXPIRED: return "token expired";
    case SR_JWT_ENOTYET: return "token not yet valid";
    case SR_JWT_EISSUER: return "wrong token issuer";
    case SR_JWT_EAUDIENCE: return "wrong token audience";
    case SR_JWT_ENOMEM: return "out of memory";
    case SR_JWT_ECONFIG: return "bad token verifier configuration";
    default: return "unknown token error";
    }
}

int sr_jwt_alg_parse(const char *name, sr_jwt_alg *out) {
    if (!name || !out) return -1;
    if (strcmp(name, "HS256") == 0) *out = SR_JWT_HS256;
    else if (strcmp(name, "RS256") == 0) *out = SR_JWT_RS256;
    else if (strcmp(name, "ES256") == 0) *out = SR_JWT_ES256;
    else return -1;
    return 0;
}

const char *sr_jwt_alg_name(sr_jwt_alg alg) {
    switch (alg) {
    case SR_JWT_HS256: return "HS256";
    case SR_JWT_RS256: return "RS256";
    case SR_JWT_ES256: return "ES256";
    default: return NULL;
    }
}

/* ---- configuration ---------------------------------------------------- */

static int config_error(char *err, size_t errcap, const char *msg) {
    if (err && errcap > 0) snprintf(err, errcap, "%s", msg);
    return SR_JWT_ECONFIG;
}

static int dup_opt(const char *s, char **out) {
    *out = NULL;
    if (!s) return 0;
    *out = strdup(s);
    return *out ? 0 : -1;
}

/* Reads a PEM file of at most MAX_PEM_FILE bytes; *text is malloc'd. */
static int read_pem_file(const char *path, char **text, size_t *len, char *err, size_t errcap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err && errcap > 0)
            snprintf(err, errcap, "cannot open public key file %s: %s", path, strerror(errno));
        return SR_JWT_ECONFIG;
    }
    char *buf = malloc(MAX_PEM_FILE + 1);
    if (!buf) {
        fclose(f);
        return SR_JWT_ENOMEM;
    }
    size_t n = fread(buf, 1, MAX_PEM_FILE + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > MAX_PEM_FILE) {
        free(buf);
        if (err && errcap > 0)
            snprintf(err, errcap, "public key file %s: %s", path,
                     bad ? "read error" : "larger than 64 KiB");
        return SR_JWT_ECONFIG;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return SR_JWT_OK;
}

/* Decodes a PEM public key (SubjectPublicKeyInfo "PUBLIC KEY", or PKCS#1
 * "RSA PUBLIC KEY") and checks it suits alg. */
static int load_public_key(sr_jwt_verifier *v, const char *pem, size_t len, char *err,
                           size_t errcap) {
    static const char private_marker[] = "PRIVATE KEY-----";
    if (memmem(pem, len, private_marker, sizeof private_marker - 1))
        return config_error(err, errcap,
                            "the public key PEM holds a private key: give the public key only");
    if (len > INT32_MAX) return config_error(err, errcap, "public key PEM too large");
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) return SR_JWT_ENOMEM;
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL,
                                                           EVP_PKEY_PUBLIC_KEY, NULL, NULL);
    int ok = dctx && OSSL_DECODER_from_bio(dctx, bio) == 1 && pkey;
    OSSL_DECODER_CTX_free(dctx);
    BIO_free(bio);
    ERR_clear_error();
    if (!ok) {
        EVP_PKEY_free(pkey);
        return config_error(err, errcap, "the public key is not a PEM public key");
    }
    if (v->alg == SR_JWT_RS256) {
        if (!EVP_PKEY_is_a(pkey, "RSA")) {
            EVP_PKEY_free(pkey);
            return config_error(err, errcap, "RS256 needs an RSA public key");
        }
        if (EVP_PKEY_get_bits(pkey) < MIN_RSA_BITS) {
            EVP_PKEY_free(pkey);
            return config_error(err, errcap, "RS256 needs an RSA key of at least 2048 bits");
        }
        v->sig_len = (size_t)EVP_PKEY_get_size(pkey);
    } else {
        char group[64];
        size_t glen = 0;
        int p256 = EVP_PKEY_is_a(pkey, "EC") &&
                   EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                  sizeof group, &glen) == 1 &&
                   OBJ_txt2nid(group) == NID_X9_62_prime256v1;
        ERR_clear_error();
        if (!p256) {
            EVP_PKEY_free(pkey);
            return config_error(err, errcap, "ES256 needs an EC public key on curve P-256");
        }
        v->sig_len = ES256_LEN;
    }
    v->pkey = pkey;
    return SR_JWT_OK;
}

static int configure_key(sr_jwt_verifier *v, const sr_jwt_config *cfg, char *err, size_t errcap) {
    int has_pem = cfg->public_key_pem != NULL, has_file = cfg->public_key_file != NULL;
    if (cfg->alg == SR_JWT_HS256) {
        if (has_pem || has_file)
            return config_error(err, errcap, "HS256 takes a shared secret, not a public key");
        if (!cfg->secret || cfg->secret_len == 0)
            return config_error(err, errcap, "HS256 needs a shared secret");
        if (cfg->secret_len < SR_JWT_MIN_HMAC_SECRET || cfg->secret_len > MAX_SECRET)
            return config_error(err, errcap, "the HS256 secret must be 32 to 65536 bytes");
        if (memmem(cfg->secret, cfg->secret_len, "-----BEGIN", 10))
            return config_error(err, errcap,
                                "the HS256 secret is a PEM text: a public key must never be "
                                "an HMAC secret (anyone holding it could sign tokens)");
        v->secret = malloc(cfg->secret_len);
        if (!v->secret) return SR_JWT_ENOMEM;
        memcpy(v->secret, cfg->secret, cfg->secret_len);
        v->secret_len = cfg->secret_len;
        v->sig_len = HS256_LEN;
        return SR_JWT_OK;
    }
    if (cfg->secret)
        return config_error(err, errcap, "RS256 and ES256 take a public key, not a secret");
    if (has_pem == has_file)
        return config_error(err, errcap,
                            "give exactly one of a public key PEM text or a public key file");
    if (has_pem) {
        size_t len = cfg->public_key_pem_len ? cfg->public_key_pem_len
                                             : strlen(cfg->public_key_pem);
        return load_public_key(v, cfg->public_key_pem, len, err, errcap);
    }
    char *text = NULL;
    size_t len = 0;
    int rc = read_pem_file(cfg->public_key_file, &text, &len, err, errcap);
    if (rc != SR_JWT_OK) return rc;
    rc = load_public_key(v, text, len, err, errcap);
    free(text);
    return rc;
}

int sr_jwt_verifier_new(const sr_jwt_config *cfg, sr_jwt_verifier **out, char *err, size_t errcap) {
    if (err && errcap > 0) err[0] = '\0';
    if (!out) return config_error(err, errcap, "no place for the verifier");
    *out = NULL;
    if (!cfg) return config_error(err, errcap, "no configuration");
    if (!sr_jwt_alg_name(cfg->alg))
        return config_error(err, errcap, "the algorithm must be HS256, RS256 or ES256");
    if (cfg->leeway_s > SR_JWT_MAX_LEEWAY)
        return config_error(err, errcap, "the leeway must be at most 86400 seconds");
    if (cfg->max_token_len > MAX_TOKEN_CAP)
        return config_error(err, errcap, "the token length cap must be at most 65536 bytes");
    if ((cfg->issuer && !cfg->issuer[0]) || (cfg->audience && !cfg->audience[0]))
        return config_error(err, errcap, "an expected issuer or audience must not be empty");
    if ((cfg->rooms_claim && !cfg->rooms_claim[0]) ||
        (cfg->publish_claim && !cfg->publish_claim[0]))
        return config_error(err, errcap, "a grant claim name must not be empty");

    sr_jwt_verifier *v = calloc(1, sizeof *v);
    if (!v) {
        if (err && errcap > 0) snprintf(err, errcap, "out of memory");
        return SR_JWT_ENOMEM;
    }
    v->alg = cfg->alg;
    v->leeway_s = cfg->leeway_s;
    v->exp_optional = cfg->exp_optional != 0;
    v->max_token_len = cfg->max_token_len ? cfg->max_token_len : SR_JWT_DEFAULT_MAX_TOKEN;
    int rc = configure_key(v, cfg, err, errcap);
    if (rc == SR_JWT_OK &&
        (dup_opt(cfg->issuer, &v->issuer) < 0 || dup_opt(cfg->audience, &v->audience) < 0 ||
         dup_opt(cfg->rooms_claim ? cfg->rooms_claim : "rooms", &v->rooms_claim) < 0 ||
         dup_opt(cfg->publish_claim ? cfg->publish_claim : "publish", &v->publish_claim) < 0))
        rc = SR_JWT_ENOMEM;
    if (rc != SR_JWT_OK) {
        sr_jwt_verifier_free(v);
        if (rc == SR_JWT_ENOMEM && err && errcap > 0) snprintf(err, errcap, "out of memory");
        return rc;
    }
    *out = v;
    return SR_JWT_OK;
}

void sr_jwt_verifier_free(sr_jwt_verifier *v) {
    if (!v) return;
    if (v->secret) {
        OPENSSL_cleanse(v->secret, v->secret_len);
        free(v->secret);
    }
    EVP_PKEY_free(v->pkey);
    free(v->issuer);
    free(v->audience);
    free(v->rooms_claim);
    free(v->publish_claim);
    free(v);
}

sr_jwt_alg sr_jwt_verifier_alg(const sr_jwt_verifier *v) {
    return v ? v->alg : SR_JWT_ALG_NONE;
}

const char *sr_jwt_verifier_rooms_claim(const sr_jwt_verifier *v) {
    return v ? v->rooms_claim : NULL;
}

const char *sr_jwt_verifier_publish_claim(const sr_jwt_verifier *v) {
    return v ? v->publish_claim : NULL;
}

/* ---- signatures ------------------------------------------------------- */

static int verify_hs256(const sr_jwt_verifier *v, const char *input, size_t input_len,
                        const unsigned char *sig) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), v->secret, (int)v->secret_len, (const unsigned char *)input, input_len,
              mac, &mac_len) ||
        mac_len != HS256_LEN) {
        ERR_clear_error();
        return SR_JWT_ENOMEM;
    }
    int same = CRYPTO_memcmp(mac, sig, HS256_LEN) == 0;
    OPENSSL_cleanse(mac, sizeof mac);
    return same ? SR_JWT_OK : SR_JWT_ESIGNATURE;
}

/* EVP_DigestVerify with SHA-256 over input; sig is DER for ECDSA, the raw
 * PKCS#1 v1.5 block for RSA. */
static int evp_verify(const sr_jwt_verifier *v, const char *input, size_t input_len,
                      const unsigned char *sig, size_t sig_len) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return SR_JWT_ENOMEM;
    EVP_PKEY_CTX *pctx = NULL;
    int rc = SR_JWT_ESIGNATURE;
    if (EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, v->pkey) == 1 &&
        (v->alg != SR_JWT_RS256 || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1) &&
        EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, input_len) == 1)
        rc = SR_JWT_OK;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

/* Raw r||s (32 bytes each, big-endian) to a DER ECDSA-Sig-Value. */
static int verify_es256(const sr_jwt_verifier *v, const char *input, size_t input_len,
                        const unsigned char *sig) {
    ECDSA_SIG *esig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, ES256_LEN / 2, NULL);
    BIGNUM *s = BN_bin2bn(sig + ES256_LEN / 2, ES256_LEN / 2, NULL);
    if (!esig || !r || !s || ECDSA_SIG_set0(esig, r, s) != 1) {
        ECDSA_SIG_free(esig);
        BN_free(r);
        BN_free(s);
        ERR_clear_error();
        return SR_JWT_ENOMEM;
    }
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG(esig, &der);
    ECDSA_SIG_free(esig); /* owns r and s now */
    if (der_len <= 0) {
        ERR_clear_error();
        return SR_JWT_ENOMEM;
    }
    int rc = evp_verify(v, input, input_len, der, (size_t)der_len);
    OPENSSL_free(der);
    return rc;
}

static int verify_signature(const sr_jwt_verifier *v, const char *input, size_t input_len,
                            const unsigned char *sig, size_t sig_len, const char **detail) {
    if (sig_len != v->sig_len) {
        *detail = "signature has the wrong length for the algorithm";
        return SR_JWT_ESIGNATURE;
    }
    int rc;
    switch (v->alg) {
    case SR_JWT_HS256: rc = verify_hs256(v, input, input_len, sig); break;
    case SR_JWT_RS256: rc = evp_verify(v, input, input_len, sig, sig_len); break;
    case SR_JWT_ES256: rc = verify_es256(v, input, input_len, sig); break;
    default: rc = SR_JWT_ESIGNATURE; break;
    }
    *detail = rc == SR_JWT_OK       ? "ok"
              : rc == SR_JWT_ENOMEM ? "out of memory"
                                    : "signature does not verify";
    return rc;
}

/* ---- the pipeline ----------------------------------------------------- */

static int fail(sr_jwt_claims *claims, int rc, const char *detail) {
    claims->detail = detail;
    return rc;
}

int sr_jwt_verify(const sr_jwt_verifier *v, const char *token, size_t len, int64_t now,
                  sr_jwt_claims *claims) {
    if (!claims) return SR_JWT_EMALFORMED;
    memset(claims, 0, sizeof *claims);
    if (!v || !token || len == 0) return fail(claims, SR_JWT_EMALFORMED, "empty token");
    if (len > v->max_token_len)
        return fail(claims, SR_JWT_ETOOLONG, "token longer than the configured cap");

    /* header.payload.signature: exactly two dots; header and payload
     * non-empty. The signature may be empty here so that an unsigned
     * "alg":"none" token is reported as an algorithm refusal. */
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return fail(claims, SR_JWT_EMALFORMED, "a token has exactly three dot-separated parts");
    size_t h_len = (size_t)(dot1 - token), p_len = (size_t)(dot2 - dot1 - 1);
    size_t s_len = len - (size_t)(dot2 + 1 - token);
    if (h_len == 0 || p_len == 0) return fail(claims, SR_JWT_EMALFORMED, "empty header or payload");

    size_t h_max = sr_b64url_decoded_max(h_len), s_max = sr_b64url_decoded_max(s_len);
    size_t p_max = sr_b64url_decoded_max(p_len);
    unsigned char *scratch = malloc(h_max + 1 + s_max + 1);
    char *payload = malloc(p_max + 1);
    if (!scratch || !payload) {
        free(scratch);
        free(payload);
        return fail(claims, SR_JWT_ENOMEM, "out of memory");
    }
    char *header = (char *)scratch;
    unsigned char *sig = scratch + h_max + 1;
    ssize_t hn = sr_b64url_decode(token, h_len, header, h_max);
    ssize_t pn = sr_b64url_decode(dot1 + 1, p_len, payload, p_max);
    ssize_t sn = sr_b64url_decode(dot2 + 1, s_len, sig, s_max);
    int rc = SR_JWT_OK;
    const char *detail = "ok";
    if (hn < 0 || pn < 0 || sn < 0) {
        rc = SR_JWT_EBASE64;
        detail = hn < 0   ? "header is not base64url"
                 : pn < 0 ? "payload is not base64url"
                          : "signature is not base64url";
    }
    if (rc == SR_JWT_OK) rc = sr_jwt_check_header(v, header, (size_t)hn, &detail);
    if (rc == SR_JWT_OK)
        rc = verify_signature(v, token, (size_t)(dot2 - token), sig, (size_t)sn, &detail);
    free(scratch);
    if (rc != SR_JWT_OK) {
        free(payload);
        return fail(claims, rc, detail);
    }
    payload[pn] = '\0';
    claims->payload = payload;
    claims->payload_len = (size_t)pn;
    rc = sr_jwt_check_claims(v, claims, now);
    if (rc != SR_JWT_OK) {
        const char *why = claims->detail;
        sr_jwt_claims_free(claims);
        return fail(claims, rc, why);
    }
    claims->detail = "ok";
    return SR_JWT_OK;
}

void sr_jwt_claims_free(sr_jwt_claims *claims) {
    if (!claims) return;
    free(claims->payload);
    memset(claims, 0, sizeof *claims);
}
