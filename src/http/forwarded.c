/* SPDX-License-Identifier: MIT */
/*
 * forwarded.c: IP addresses, CIDR ranges, and the client address of a
 * request behind trusted proxies (see forwarded.h).
 *
 * The forwarding headers are split into hops left to right, keeping the
 * rightmost SR_FORWARDED_MAX_HOPS in a ring, and walked right to left: the
 * rightmost hop was written by our peer (trusted, or the headers are not
 * read at all), each trusted hop vouches for the one on its left, and the
 * first untrusted address is therefore one a trusted proxy saw. A hop is an
 * address, optionally with a port ("192.0.2.1:5000", "[2001:db8::1]:443"),
 * quoted in Forwarded when it has one ("for=\"[2001:db8::1]:443\"").
 */
#include "http/forwarded.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int sr_ip_parse(const char *s, size_t len, sr_ip *out) {
    char buf[SR_IP_TEXT_MAX];
    if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len)) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (memchr(buf, ':', len)) return inet_pton(AF_INET6, buf, out->b) == 1 ? 0 : -1;
    uint8_t v4[4];
    if (inet_pton(AF_INET, buf, v4) != 1) return -1;
    memcpy(out->b, v4_mapped, 12);
    memcpy(out->b + 12, v4, 4);
    return 0;
}

bool sr_ip_is_v4(const sr_ip *ip) {
    return memcmp(ip->b, v4_mapped, sizeof(v4_mapped)) == 0;
}

const char *sr_ip_format(const sr_ip *ip, char *out, size_t cap) {
    if (!cap) return out;
    const char *ok = sr_ip_is_v4(ip) ? inet_ntop(AF_INET, ip->b + 12, out, (socklen_t)cap)
                                     : inet_ntop(AF_INET6, ip->b, out, (socklen_t)cap);
    if (!ok) out[0] = '\0';
    return out;
}

bool sr_ip_equal(const sr_ip *a, const sr_ip *b) {
    return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

static int parse_bits(const char *s, unsigned max, unsigned *out) {
    if (!*s || strlen(s) > 3) return -1;
    unsigned n = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        n = n * 10 + (unsigned)(*s - '0');
    }
    if (n > max) return -1;
    *out = n;
    return 0;
}

int sr_cidr_parse(const char *s, sr_cidr *out) {
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    sr_ip ip;
    if (sr_ip_parse(s, alen, &ip) < 0) return -1;
    bool v4 = memchr(s, ':', alen) == NULL;
    unsigned bits = 128;
    if (slash) {
        if (parse_bits(slash + 1, v4 ? 32 : 128, &bits) < 0) return -1;
        if (v4) bits += 96;
    }
    for (unsigned i = bits; i < 128; i++)
        if (ip.b[i / 8] & (0x80u >> (i % 8))) return -2;
    out->net = ip;
    out->bits = (uint8_t)bits;
    return 0;
}

static bool in_range(const sr_cidr *r, const sr_ip *ip) {
    unsigned full = r->bits / 8, rest = r->bits % 8;
    if (memcmp(r->net.b, ip->b, full) != 0) return false;
    if (!rest) return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (ip->b[full] & mask) == r->net.b[full];
}

bool sr_cidr_match(const sr_cidr *ranges, size_t n, const sr_ip *ip) {
    for (size_t i = 0; i < n; i++)
        if (in_range(&ranges[i], ip)) return true;
    return false;
}

/* --- hops ----------------------------------------------------------------- */

typedef struct hop {
    const char *p; /* NULL: an element that names no address */
    size_t len;
} hop;

typedef struct hop_ring {
    hop h[SR_FORWARDED_MAX_HOPS];
    size_t total; /* hops seen; the last min(total, MAX) are kept */
} hop_ring;

static void push(hop_ring *r, const char *p, size_t len) {
    r->h[r->total % SR_FORWARDED_MAX_HOPS] = (hop){p, len};
    r->total++;
}

static bool ows(char ch) {
    return ch == ' ' || ch == '\t';
}

static bool port_char(char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           ch == '_' || ch == '.' || ch == '-';
}

/* ":port" or nothing (the port, numeric or an RFC 7239 obfuscated one, is
 * not used). */
static bool port_ok(const char *s, size_t len) {
    if (len == 0) return true;
    if (s[0] != ':' || len == 1 || len > 32) return false;
    for (size_t i = 1; i < len; i++)
        if (!port_char(s[i])) return false;
    return true;
}

/* One hop's text: an address, maybe with a port, maybe quoted. */
static int parse_node(const char *s, size_t len, sr_ip *out) {
    while (len && ows(*s)) s++, len--;
    while (len && ows(s[len - 1])) len--;
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        s++;
        len -= 2;
        if (memchr(s, '\\', len) || memchr(s, '"', len)) return -1;
    }
    if (len && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || !port_ok(close + 1, len - (size_t)(close + 1 - s))) return -1;
        size_t alen = (size_t)(close - s - 1);
        if (!memchr(s + 1, ':', alen)) return -1; /* brackets hold IPv6 only */
        return sr_ip_parse(s + 1, alen, out);
    }
    const char *colon = memchr(s, ':', len);
    if (colon && !memchr(colon + 1, ':', len - (size_t)(colon + 1 - s))) {
        /* one colon: IPv4 with a port */
        if (!port_ok(colon, len - (size_t)(colon - s))) return -1;
        return sr_ip_parse(s, (size_t)(colon - s), out);
    }
    return sr_ip_parse(s, len, out);
}

/* X-Forwarded-For: comma-separated addresses. */
static void split_xff(hop_ring *r, const char *v, size_t len) {
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && v[i] != ',') continue;
        size_t a = start, b = i;
        while (a < b && ows(v[a])) a++;
        if (a < b) push(r, v + a, b - a); /* empty list elements are allowed */
        start = i + 1;
    }
}

/* Forwarded: elements separated by ',', each pairs "name=value" separated
 * by ';', a value a token or a quoted-string. Each element becomes one hop:
 * its for= value, or no address when it has none or does not parse. */
static void split_forwarded(hop_ring *r, const char *v, size_t len) {
    size_t i = 0;
    while (i < len) {
        const char *for_p = NULL;
        size_t for_len = 0;
        bool bad = false, any = false;
        for (;;) { /* the pairs of one element */
            while (i < len && ows(v[i])) i++;
            size_t name = i;
            while (i < len && v[i] != '=' && v[i] != ';' && v[i] != ',' && !ows(v[i]) &&
                   v[i] != '"')
                i++;
            size_t name_len = i - name;
            if (name_len == 0 && (i >= len || v[i] == ',')) break; /* empty element or pair */
            any = true;
            if (i >= len || v[i] != '=' || name_len == 0) {
                bad = true;
                break;
            }
            i++;
            size_t val = i;
            if (i < len && v[i] == '"') {
                i++;
                while (i < len && v[i] != '"') i += v[i] == '\\' ? 2 : 1;
                if (i >= len) {
                    bad = true;
                    break;
                }
                i++;
            } else {
                while (i < len && v[i] != ';' && v[i] != ',' && !ows(v[i]) && v[i] != '"') i++;
            }
            if (name_len == 3 && strncasecmp(v + name, "for", 3) == 0 && !for_p) {
                for_p = v + val;
                for_len = i - val;
            }
            while (i < len && ows(v[i])) i++;
            if (i < len && v[i] == ';') {
                i++;
                continue;
            }
            if (i < len && v[i] != ',') bad = true;
            break;
        }
        if (bad) {
            while (i < len && v[i] != ',') i++; /* resynchronise at the next element */
            push(r, NULL, 0);
        } else if (any) {
            push(r, for_p, for_len);
        }
        if (i < len && v[i] == ',') i++;
    }
}

static bool named(const sr_http_kv *h, const char *name) {
    size_t n = strlen(name);
    return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

int sr_forwarded_client(const sr_cidr *trusted, size_t n_trusted, const sr_ip *peer,
                        const sr_http_kv *headers, size_t n_headers, sr_ip *client) {
    *client = *peer;
    if (!sr_cidr_match(trusted, n_trusted, peer)) return 0;
    hop_ring ring;
    ring.total = 0;
    bool xff = false;
    for (size_t i = 0; i < n_headers; i++) {
        if (named(&headers[i], "x-forwarded-for")) {
            xff = true;
            split_xff(&ring, headers[i].value, headers[i].value_len);
        }
    }
    if (!xff) {
        for (size_t i = 0; i < n_headers; i++)
            if (named(&headers[i], "forwarded"))
                split_forwarded(&ring, headers[i].value, headers[i].value_len);
    }
    size_t kept = ring.total < SR_FORWARDED_MAX_HOPS ? ring.total : SR_FORWARDED_MAX_HOPS;
    sr_ip cur = *peer;
    int from_header = 0;
    for (size_t k = 0; k < kept; k++) {
        const hop *h = &ring.h[(ring.total - 1 - k) % SR_FORWARDED_MAX_HOPS];
        sr_ip ip;
        if (!h->p || parse_node(h->p, h->len, &ip) < 0) break;
        cur = ip;
        from_header = 1;
        if (!sr_cidr_match(trusted, n_trusted, &ip)) break;
    }
    *client = cur;
    return from_header;
}
