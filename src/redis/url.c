/* SPDX-License-Identifier: MIT */
/*
 * url.c: parses redis://, rediss:// and unix:// URLs (see url.h for the forms).
 *
 * The parser walks the text once: scheme, optional userinfo (up to the last
 * '@' before the path, so a password may hold '@' when escaped or not),
 * then host[:port] or the socket path, then /db or ?db=N. Every rejection
 * names what was wrong, since the message ends up in the operator's log.
 */
#include "redis/url.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sserooms/error.h>

#define SR_REDIS_DEFAULT_PORT 6379
#define SR_REDIS_MAX_DB 1000000

static int fail(sr_redis_url *out, char *err, size_t errcap, const char *fmt, ...) {
    sr_redis_url_free(out);
    if (err && errcap) {
        int n = snprintf(err, errcap, "redis URL: ");
        if (n > 0 && (size_t)n < errcap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errcap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return SR_EINVAL;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into a new string; sets *bad on a malformed
 * or NUL-producing escape. NULL only when out of memory. */
static char *pct_decode(const char *s, size_t len, int *bad) {
    char *out = malloc(len + 1);
    size_t o = 0;
    if (!out) return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                *bad = 1;
                break;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Parses a non-negative decimal s[0..len) not above max; -1 when invalid. */
static long parse_uint(const char *s, size_t len, long max) {
    long v = 0;
    if (len == 0 || len > 9) return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

/* userinfo = [user ":"] password; with no ':' it is the password alone,
 * as redis-cli reads it. An empty user means the default user. */
static int parse_userinfo(const char *s, size_t len, sr_redis_url *out, char *err, size_t errcap) {
    const char *colon = memchr(s, ':', len);
    int bad = 0;
    const char *pw = s;
    size_t pw_len = len;
    if (colon) {
        size_t ulen = (size_t)(colon - s);
        if (ulen > 0) {
            out->user = pct_decode(s, ulen, &bad);
            if (!out->user) return SR_ENOMEM;
            if (bad) return fail(out, err, errcap, "bad percent-escape in the user name");
        }
        pw = colon + 1;
        pw_len = len - ulen - 1;
    }
    if (pw_len == 0) {
        if (out->user)
            return fail(out, err, errcap, "a user name needs a password (user:password@)");
        return 0; /* "redis://:@host" or "redis://@host": no AUTH */
    }
    out->password = pct_decode(pw, pw_len, &bad);
    if (!out->password) return SR_ENOMEM;
    if (bad) return fail(out, err, errcap, "bad percent-escape in the password");
    return 0;
}

static int parse_tcp(const char *p, sr_redis_url *out, char *err, size_t errcap) {
    size_t auth_end = strcspn(p, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < auth_end; i++)
        if (p[i] == '@') at = p + i;
    if (at) {
        int rc = parse_userinfo(p, (size_t)(at - p), out, err, errcap);
        if (rc) return rc;
        p = at + 1;
    }
    const char *host = p, *host_end;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end) return fail(out, err, errcap, "unterminated IPv6 address '['");
        if (host_end == host) return fail(out, err, errcap, "empty IPv6 address");
        for (const char *q = host; q < host_end; q++)
            if (!(hexval(*q) >= 0 || *q == ':' || *q == '.'))
                return fail(out, err, errcap, "bad character in IPv6 address");
        p = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/?#");
        for (const char *q = host; q < host_end; q++)
            if ((unsigned char)*q <= ' ' || *q == '@' || *q == '[' || *q == ']' || *q == '%')
                return fail(out, err, errcap, "bad character in host name");
        p = host_end;
    }
    if (host_end == host) return fail(out, err, errcap, "missing host");
    out->port = SR_REDIS_DEFAULT_PORT;
    if (*p == ':') {
        size_t plen = strcspn(p + 1, "/?#");
        long port = parse_uint(p + 1, plen, 65535);
        if (port < 1) return fail(out, err, errcap, "bad port '%.*s' (1..65535)", (int)plen, p + 1);
        out->port = (int)port;
        p += 1 + plen;
    } else if (*p && *p != '/' && *p != '?' && *p != '#') {
        return fail(out, err, errcap, "unexpected text after the host");
    }
    if (*p == '/') {
        size_t dlen = strcspn(p + 1, "?#");
        if (dlen > 0) {
            long db = parse_uint(p + 1, dlen, SR_REDIS_MAX_DB);
            if (db < 0)
                return fail(out, err, errcap, "bad database number '%.*s'", (int)dlen, p + 1);
            out->db = (int)db;
        }
        p += 1 + dlen;
    }
    if (*p) return fail(out, err, errcap, "unexpected '%s' (no query or fragment is supported)", p);
    out->host = strndup(host, (size_t)(host_end - host));
    return out->host ? 0 : SR_ENOMEM;
}

static int parse_unix(const char *p, sr_redis_url *out, char *err, size_t errcap) {
    /* unix:///path or unix://userinfo@/path: the userinfo ends at the
     * first "@/" (escape a '@' followed by '/' in a password as %40). */
    const char *path = p;
    if (*p != '/') {
        const char *at = strstr(p, "@/");
        if (!at) return fail(out, err, errcap, "unix socket path must be absolute (unix:///path)");
        int rc = parse_userinfo(p, (size_t)(at - p), out, err, errcap);
        if (rc) return rc;
        path = at + 1;
    }
    size_t plen = strcspn(path, "?#");
    if (plen <= 1) return fail(out, err, errcap, "missing unix socket path");
    const char *q = path + plen;
    if (*q == '?') {
        q++;
        if (strncmp(q, "db=", 3) != 0)
            return fail(out, err, errcap, "unknown query '%s' (only db=N)", q);
        size_t dlen = strcspn(q + 3, "&#");
        long db = parse_uint(q + 3, dlen, SR_REDIS_MAX_DB);
        if (db < 0) return fail(out, err, errcap, "bad database number '%.*s'", (int)dlen, q + 3);
        out->db = (int)db;
        q += 3 + dlen;
    }
    if (*q) return fail(out, err, errcap, "unexpected '%s' after the socket path", q);
    int bad = 0;
    out->path = pct_decode(path, plen, &bad);
    if (!out->path) return SR_ENOMEM;
    if (bad) return fail(out, err, errcap, "bad percent-escape in the socket path");
    out->is_unix = 1;
    return 0;
}

int sr_redis_url_parse(const char *url, sr_redis_url *out, char *err, size_t errcap) {
    memset(out, 0, sizeof *out);
    if (err && errcap) err[0] = '\0';
    if (!url || !*url) return fail(out, err, errcap, "empty");
    int rc;
    if (strncmp(url, "redis://", 8) == 0) {
        rc = parse_tcp(url + 8, out, err, errcap);
    } else if (strncmp(url, "unix://", 7) == 0) {
        rc = parse_unix(url + 7, out, err, errcap);
    } else if (strncmp(url, "rediss://", 9) == 0) {
        rc = parse_tcp(url + 9, out, err, errcap);
        out->tls = rc == 0;
    } else {
        return fail(out, err, errcap, "'%s' does not start with redis://, rediss:// or unix://",
                    url);
    }
    if (rc == SR_ENOMEM) sr_redis_url_free(out);
    return rc;
}

void sr_redis_url_free(sr_redis_url *u) {
    if (!u) return;
    free(u->host);
    free(u->path);
    free(u->user);
    free(u->password);
    memset(u, 0, sizeof *u);
}

void sr_redis_url_describe(const sr_redis_url *u, char *out, size_t cap) {
    if (!cap) return;
    if (u->is_unix) snprintf(out, cap, "%s", u->path ? u->path : "");
    else if (u->host && strchr(u->host, ':')) snprintf(out, cap, "[%s]:%d", u->host, u->port);
    else snprintf(out, cap, "%s:%d", u->host ? u->host : "", u->port);
}
