/* SPDX-License-Identifier: MIT */
/*
 * fuzz_redis_url.c: libFuzzer target for the Redis URL parser
 * (src/redis/url.h).
 *
 * The input, up to its first NUL, is the URL. A rejection is SR_EINVAL
 * with a "redis URL: " message that fits any error buffer, NUL-terminated,
 * and leaves *out zeroed. An acceptance has a consistent shape (a TCP host
 * and port 1..65535, or an absolute socket path; user only with a
 * password; db in range); the URL is then written back from its parts,
 * user, password and path percent-encoded, and must parse to the same
 * parts. sr_redis_url_describe truncates safely at every buffer size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "redis/url.h"
#include "sserooms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int str_eq(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Percent-encodes s, leaving unreserved characters (and keep, if any). */
static void put_encoded(fuzz_bytes *b, const char *s, char keep) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
                    (keep && *p == keep);
        if (plain) {
            fuzz_bytes_put(b, p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            fuzz_bytes_put(b, esc, 3);
        }
    }
}

static void put_str(fuzz_bytes *b, const char *s) {
    fuzz_bytes_put(b, s, strlen(s));
}

/* The URL of u, from its parts. */
static char *rebuild(const sr_redis_url *u) {
    fuzz_bytes b = {0};
    char num[32];
    put_str(&b, u->is_unix ? "unix://" : "redis://");
    if (u->user || u->password) {
        if (u->user) put_encoded(&b, u->user, 0);
        put_str(&b, ":");
        put_encoded(&b, u->password, 0);
        put_str(&b, "@");
    }
    if (u->is_unix) {
        put_encoded(&b, u->path, '/');
        if (u->db) {
            snprintf(num, sizeof num, "?db=%d", u->db);
            put_str(&b, num);
        }
    } else {
        int bracket = strchr(u->host, ':') != NULL;
        if (bracket) put_str(&b, "[");
        put_str(&b, u->host);
        if (bracket) put_str(&b, "]");
        snprintf(num, sizeof num, ":%d/%d", u->port, u->db);
        put_str(&b, num);
    }
    fuzz_bytes_put(&b, "", 1);
    return b.p;
}

static void check_describe(const sr_redis_url *u) {
    char full[4096];
    sr_redis_url_describe(u, full, sizeof full);
    size_t n = strlen(full);
    FUZZ_CHECK(n > 0, "empty description");
    char small[64];
    for (size_t cap = 1; cap <= sizeof small && cap <= n + 2; cap++) {
        memset(small, 0x5A, sizeof small);
        sr_redis_url_describe(u, small, cap);
        size_t m = strnlen(small, cap);
        FUZZ_CHECK(m < cap && memcmp(small, full, m) == 0 && (m == n || m == cap - 1),
                   "describe with cap %zu", cap);
        if (cap < sizeof small)
            FUZZ_CHECK((unsigned char)small[cap] == 0x5A, "describe wrote past cap %zu", cap);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *url = malloc(size + 1);
    FUZZ_CHECK(url != NULL, "oom");
    memcpy(url, data, size);
    url[size] = '\0';

    sr_redis_url u;
    char err[512];
    memset(err, 0x5A, sizeof err);
    int rc = sr_redis_url_parse(url, &u, err, sizeof err);
    /* a short error buffer: same result, message cut and terminated */
    char short_err[24];
    size_t short_cap = 1 + size % sizeof short_err;
    sr_redis_url u2;
    memset(short_err, 0x5A, sizeof short_err);
    int rc2 = sr_redis_url_parse(url, &u2, short_err, short_cap);
    FUZZ_CHECK(rc2 == rc, "rc depends on the error buffer");
    FUZZ_CHECK(strnlen(short_err, short_cap) < short_cap, "short error not terminated");
    if (short_cap < sizeof short_err)
        FUZZ_CHECK((unsigned char)short_err[short_cap] == 0x5A, "error overflow");
    sr_redis_url_free(&u2);
    sr_redis_url u3;
    FUZZ_CHECK(sr_redis_url_parse(url, &u3, NULL, 0) == rc, "rc without an error buffer");
    sr_redis_url_free(&u3);

    if (rc != 0) {
        static const sr_redis_url zero;
        FUZZ_CHECK(rc == SR_EINVAL, "rc %d", rc);
        FUZZ_CHECK(memcmp(&u, &zero, sizeof u) == 0, "rejected URL left parts behind");
        FUZZ_CHECK(strnlen(err, sizeof err) < sizeof err && strncmp(err, "redis URL: ", 11) == 0,
                   "error message '%.40s'", err);
        free(url);
        return 0;
    }
    FUZZ_CHECK(err[0] == '\0', "error message on success");
    if (u.is_unix) {
        FUZZ_CHECK(u.path && u.path[0] == '/' && strlen(u.path) > 1 && !u.host && u.port == 0,
                   "unix parts");
    } else {
        FUZZ_CHECK(u.host && u.host[0] && !u.path && u.port >= 1 && u.port <= 65535, "tcp parts");
    }
    FUZZ_CHECK(!u.user || u.password, "a user without a password");
    FUZZ_CHECK(u.db >= 0 && u.db <= 1000000, "db %d", u.db);
    check_describe(&u);

    char *again = rebuild(&u);
    sr_redis_url v;
    char err2[512];
    FUZZ_CHECK(sr_redis_url_parse(again, &v, err2, sizeof err2) == 0,
               "rebuilt URL '%s' rejected: %s", again, err2);
    FUZZ_CHECK(v.is_unix == u.is_unix && str_eq(v.host, u.host) && v.port == u.port &&
                   str_eq(v.path, u.path) && str_eq(v.user, u.user) &&
                   str_eq(v.password, u.password) && v.db == u.db,
               "'%s' rebuilt as '%s' parses differently", url, again);
    sr_redis_url_free(&v);
    free(again);
    sr_redis_url_free(&u);
    free(url);
    return 0;
}
