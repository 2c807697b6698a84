/* SPDX-License-Identifier: MIT */
/*
 * jwt_claims.c: the checks on a token's decoded header and payload: the
 * pinned alg, typ and crit in the header; exp, nbf, iat, iss and aud in
 * the payload. JSON is read with the project's scanner (src/json), so the
 * header and the claims mean what JSON.parse would make of them (the last
 * of duplicate members wins).
 *
 * Times are NumericDates (RFC 7519 2): JSON numbers of seconds, possibly
 * fractional. They are read with strtod_l in the C locale, so a process
 * that set a locale with a decimal comma still reads "1.5" as 1.5, and
 * compared as doubles with the caller's integer `now` (exact for any date
 * before the year 285 million):
 *   expired       now >= exp + leeway   (RFC 7519 4.1.4: valid before exp)
 *   not yet valid now + leeway < nbf    (valid on or after nbf)
 *   issued later  now + leeway < iat
 */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/jwt_internal.h"

#define HEADER_DEPTH 8u /* room for jwk / x5c members, which are ignored */
#define PAYLOAD_DEPTH 32u
#define MAX_NUMBER_TEXT 64u
#define MAX_TYP_TEXT 64u

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_numeric_locale;

static void c_locale_init(void) {
    c_numeric_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

int sr_jwt_numeric_date(const sr_json_value *num, double *out) {
    if (!num || num->type != SR_JSON_NUMBER || num->len == 0) return -1;
    pthread_once(&c_locale_once, c_locale_init);
    if (c_numeric_locale == (locale_t)0) return -1;
    /* strtod_l needs a NUL-terminated copy; numbers are short, but JSON
     * allows any number of digits. */
    char small[MAX_NUMBER_TEXT];
    char *text = num->len < sizeof small ? small : malloc(num->len + 1);
    if (!text) return -1;
    memcpy(text, num->p, num->len);
    text[num->len] = '\0';
    char *end = NULL;
    double d = strtod_l(text, &end, c_numeric_locale);
    int ok = end == text + num->len && isfinite(d);
    if (text != small) free(text);
    if (!ok) return -1;
    *out = d;
    return 0;
}

int sr_jwt_string_equals(const sr_json_value *str, const char *expected) {
    if (!str || str->type != SR_JSON_STRING || str->len < 2 || !expected) return 0;
    size_t elen = strlen(expected);
    /* Every decoded byte comes from at most six bytes of text ("\u0041"),
     * so a longer literal cannot decode to expected: skip the work. */
    if (str->len - 2 > 6 * elen) return 0;
    char small[256];
    size_t cap = 3 * str->len + 1;
    char *buf = cap <= sizeof small ? small : malloc(cap);
    if (!buf) return -1;
    unsigned flags = 0;
    ssize_t n = sr_json_string_decode(str, buf, cap, &flags);
    int eq = n >= 0 && (size_t)n == elen &&
             !(flags & (SR_JSON_S_LONE_SURROGATE | SR_JSON_S_INVALID_UTF8)) &&
             memcmp(buf, expected, elen) == 0;
    if (buf != small) free(buf);
    return eq;
}

/* typ (RFC 7515 4.1.9, RFC 7519 5.1): a media type, case-insensitive,
 * "application/" optional. JWT and the OAuth access-token type at+jwt
 * (RFC 9068) are accepted; other types (dpop+jwt, secevent+jwt...) are
 * tokens made for something else and are refused. */
static int typ_accepted(const sr_json_value *typ) {
    if (typ->type != SR_JSON_STRING || typ->len > MAX_TYP_TEXT) return 0;
    char buf[3 * MAX_TYP_TEXT + 1];
    unsigned flags = 0;
    ssize_t n = sr_json_string_decode(typ, buf, sizeof buf, &flags);
    if (n < 0 || (size_t)n != strlen(buf)) return 0; /* a NUL inside */
    const char *t = buf;
    if (strncasecmp(t, "application/", 12) == 0) t += 12;
    return strcasecmp(t, "JWT") == 0 || strcasecmp(t, "at+jwt") == 0;
}

int sr_jwt_check_header(const sr_jwt_verifier *v, const char *json, size_t len,
                        const char **detail) {
    sr_json_value root;
    if (sr_json_validate(json, len, HEADER_DEPTH, &root, NULL, NULL) < 0 ||
        root.type != SR_JSON_OBJECT) {
        *detail = "header is not a JSON object";
        return SR_JWT_EHEADER;
    }
    static const char *const keys[] = {"alg", "typ", "crit"};
    sr_json_value f[3];
    sr_json_object_get(&root, keys, 3, f);
    if (f[0].type != SR_JSON_STRING) {
        *detail = f[0].type == SR_JSON_NONE ? "header has no alg" : "header alg is not a string";
        return SR_JWT_EHEADER;
    }
    int eq = sr_jwt_string_equals(&f[0], sr_jwt_alg_name(v->alg));
    if (eq < 0) {
        *detail = "out of memory";
        return SR_JWT_ENOMEM;
    }
    if (!eq) {
        *detail = "header alg is not the configured algorithm";
        return SR_JWT_EALG;
    }
    if (f[1].type != SR_JSON_NONE && !typ_accepted(&f[1])) {
        *detail = "header typ is not JWT";
        return SR_JWT_EHEADER;
    }
    if (f[2].type != SR_JSON_NONE) {
        /* RFC 7515 4.1.11: extensions listed in crit must be understood,
         * and this verifier understands none. */
        *detail = "header crit extensions are not supported";
        return SR_JWT_EHEADER;
    }
    *detail = "ok";
    return SR_JWT_OK;
}

static int claims_fail(sr_jwt_claims *c, int rc, const char *detail) {
    c->detail = detail;
    return rc;
}

/* A NumericDate claim: 1 present (value in *t), 0 absent, -1 wrong type. */
static int time_claim(const sr_json_value *val, double *t) {
    if (val->type == SR_JSON_NONE) return 0;
    return sr_jwt_numeric_date(val, t) == 0 ? 1 : -1;
}

/* aud: a string or an array of strings; with an audience configured, one
 * of them must be it; without one, a token that names an audience was
 * made for someone else (RFC 7519 4.1.3). */
static int check_audience(const sr_jwt_verifier *v, const sr_json_value *aud, sr_jwt_claims *c) {
    if (aud->type == SR_JSON_NONE) {
        if (v->audience) return claims_fail(c, SR_JWT_EAUDIENCE, "token has no aud");
        return SR_JWT_OK;
    }
    int matched = 0;
    if (aud->type == SR_JSON_STRING) {
        if (v->audience && (matched = sr_jwt_string_equals(aud, v->audience)) < 0)
            return claims_fail(c, SR_JWT_ENOMEM, "out of memory");
    } else if (aud->type == SR_JSON_ARRAY) {
        sr_json_iter it;
        sr_json_value item;
        sr_json_iter_begin(aud, &it);
        while (sr_json_array_next(&it, &item)) {
            if (item.type != SR_JSON_STRING)
                return claims_fail(c, SR_JWT_ECLAIMS, "aud holds a value that is not a string");
            if (v->audience && !matched && (matched = sr_jwt_string_equals(&item, v->audience)) < 0)
                return claims_fail(c, SR_JWT_ENOMEM, "out of memory");
        }
    } else {
        return claims_fail(c, SR_JWT_ECLAIMS, "aud is not a string or an array of strings");
    }
    if (!v->audience)
        return claims_fail(c, SR_JWT_EAUDIENCE,
                           "token names an audience but no audience is configured");
    if (!matched)
        return claims_fail(c, SR_JWT_EAUDIENCE, "aud does not name the configured audience");
    return SR_JWT_OK;
}

int sr_jwt_check_claims(const sr_jwt_verifier *v, sr_jwt_claims *c, int64_t now) {
    sr_json_value root;
    if (sr_json_validate(c->payload, c->payload_len, PAYLOAD_DEPTH, &root, NULL, NULL) < 0)
        return claims_fail(c, SR_JWT_ECLAIMS, "payload is not JSON");
    if (root.type != SR_JSON_OBJECT)
        return claims_fail(c, SR_JWT_ECLAIMS, "payload is not a JSON object");
    c->root = root;

    static const char *const keys[] = {"exp", "nbf", "iat", "iss", "aud"};
    sr_json_value f[5];
    sr_json_object_get(&root, keys, 5, f);
    double t = (double)now, leeway = (double)v->leeway_s;
    double exp = 0, nbf = 0, iat = 0;

    int has = time_claim(&f[0], &exp);
    if (has < 0) return claims_fail(c, SR_JWT_ECLAIMS, "exp is not a NumericDate");
    if (!has && !v->exp_optional) return claims_fail(c, SR_JWT_ECLAIMS, "token has no exp");
    c->has_exp = has;
    c->exp = exp;
    if (has && t >= exp + leeway) return claims_fail(c, SR_JWT_EEXPIRED, "token expired (exp)");

    has = time_claim(&f[1], &nbf);
    if (has < 0) return claims_fail(c, SR_JWT_ECLAIMS, "nbf is not a NumericDate");
    if (has && t + leeway < nbf) return claims_fail(c, SR_JWT_ENOTYET, "token not valid yet (nbf)");

    has = time_claim(&f[2], &iat);
    if (has < 0) return claims_fail(c, SR_JWT_ECLAIMS, "iat is not a NumericDate");
    if (has && t + leeway < iat)
        return claims_fail(c, SR_JWT_ENOTYET, "token issued in the future (iat)");

    if (f[3].type != SR_JSON_NONE && f[3].type != SR_JSON_STRING)
        return claims_fail(c, SR_JWT_ECLAIMS, "iss is not a string");
    if (v->issuer) {
        if (f[3].type == SR_JSON_NONE) return claims_fail(c, SR_JWT_EISSUER, "token has no iss");
        int eq = sr_jwt_string_equals(&f[3], v->issuer);
        if (eq < 0) return claims_fail(c, SR_JWT_ENOMEM, "out of memory");
        if (!eq) return claims_fail(c, SR_JWT_EISSUER, "iss is not the configured issuer");
    }
    return check_audience(v, &f[4], c);
}
