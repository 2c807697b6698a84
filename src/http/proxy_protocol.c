/* SPDX-License-Identifier: MIT */
/*
 * proxy_protocol.c: the PROXY protocol header, versions 1 and 2
 * (https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt).
 *
 * Version 1 is one text line, "PROXY TCP4|TCP6 <src> <dst> <sport>
 * <dport>\r\n" or "PROXY UNKNOWN ...\r\n", at most 107 bytes; version 2 is
 * a 12-byte signature, a version/command byte, a family/transport byte, a
 * 16-bit big-endian length, then the addresses and optional TLVs, which
 * are skipped. Parsing is strict: single spaces, addresses valid for their
 * family, ports 0-65535 without leading zeros, the v2 block long enough for
 * its addresses, the version and command nibbles known. Each call looks at
 * the whole prefix again: the caller keeps the bytes until the header is
 * complete (at most SR_PROXY_MAX_BYTES).
 */
#include "http/proxy_protocol.h"

#include <string.h>

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int fail(const char **why, const char *reason) {
    if (why) *why = reason;
    return -1;
}

/* A decimal port without leading zeros; -1 when not one. */
static int parse_port(const char *s, size_t len) {
    if (len == 0 || len > 5 || (len > 1 && s[0] == '0')) return -1;
    unsigned n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        n = n * 10 + (unsigned)(s[i] - '0');
    }
    return n > 65535 ? -1 : (int)n;
}

/* The next space-separated field of line[*pos..end); its length, or 0. */
static size_t field(const char *line, size_t end, size_t *pos, const char **start) {
    size_t i = *pos;
    *start = line + i;
    while (i < end && line[i] != ' ') i++;
    size_t n = i - *pos;
    *pos = i < end ? i + 1 : i; /* past one separating space */
    return n;
}

static int parse_v1(const uint8_t *data, size_t len, sr_proxy_header *out, const char **why) {
    static const char prefix[] = "PROXY ";
    size_t plen = sizeof(prefix) - 1;
    if (memcmp(data, prefix, len < plen ? len : plen) != 0) return fail(why, "not a PROXY header");
    size_t scan = len < SR_PROXY_V1_MAX_BYTES ? len : SR_PROXY_V1_MAX_BYTES;
    const uint8_t *lf = memchr(data, '\n', scan);
    if (!lf) {
        if (len >= SR_PROXY_V1_MAX_BYTES) return fail(why, "v1 line longer than 107 bytes");
        return 0;
    }
    size_t total = (size_t)(lf - data) + 1;
    if (total < plen + 2 || lf[-1] != '\r') return fail(why, "v1 line not ended by CRLF");
    const char *line = (const char *)data;
    size_t end = total - 2; /* before the CRLF */
    for (size_t i = 0; i < end; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch < 0x20 || ch > 0x7e) return fail(why, "v1 line holds a control byte");
    }
    size_t pos = plen;
    const char *f;
    size_t n = field(line, end, &pos, &f);
    memset(out, 0, sizeof(*out));
    out->version = 1;
    if (n == 7 && memcmp(f, "UNKNOWN", 7) == 0) return (int)total; /* the rest is ignored */
    int v6;
    if (n == 4 && memcmp(f, "TCP4", 4) == 0) v6 = 0;
    else if (n == 4 && memcmp(f, "TCP6", 4) == 0) v6 = 1;
    else return fail(why, "v1 protocol not TCP4, TCP6 or UNKNOWN");
    const char *fs[4];
    size_t ns[4];
    for (int k = 0; k < 4; k++) {
        ns[k] = field(line, end, &pos, &fs[k]);
        if (ns[k] == 0) return fail(why, "v1 line misses a field or has two spaces");
    }
    if (pos != end || line[end - 1] == ' ') return fail(why, "v1 line has more than the ports");
    for (int k = 0; k < 2; k++) {
        sr_ip *ip = k ? &out->dst : &out->src;
        bool has_colon = memchr(fs[k], ':', ns[k]) != NULL;
        if (has_colon != (v6 == 1) || sr_ip_parse(fs[k], ns[k], ip) < 0)
            return fail(why, v6 ? "v1 address not IPv6" : "v1 address not IPv4");
        /* TCP6 names IPv6 peers: an IPv4-mapped one is the same IPv4 client */
    }
    int sp = parse_port(fs[2], ns[2]), dp = parse_port(fs[3], ns[3]);
    if (sp < 0 || dp < 0) return fail(why, "v1 port not a number from 0 to 65535");
    out->src_port = (uint16_t)sp;
    out->dst_port = (uint16_t)dp;
    out->has_addr = 1;
    return (int)total;
}

static int parse_v2(const uint8_t *data, size_t len, sr_proxy_header *out, const char **why) {
    if (memcmp(data, v2_sig, len < 12 ? len : 12) != 0) return fail(why, "not a PROXY header");
    if (len < 16) {
        if (len > 12 && (data[12] >> 4) != 2) return fail(why, "v2 version not 2");
        return 0;
    }
    uint8_t ver_cmd = data[12], fam = data[13];
    size_t block = ((size_t)data[14] << 8) | data[15];
    if ((ver_cmd >> 4) != 2) return fail(why, "v2 version not 2");
    unsigned cmd = ver_cmd & 0x0f, af = fam >> 4, proto = fam & 0x0f;
    if (cmd > 1) return fail(why, "v2 command not LOCAL or PROXY");
    if (af > 3 || proto > 2) return fail(why, "v2 family or transport unknown");
    if (16 + block > SR_PROXY_MAX_BYTES) return fail(why, "v2 header longer than 4096 bytes");
    static const size_t addr_len[4] = {0, 12, 36, 216};
    if (cmd == 1 && block < addr_len[af]) return fail(why, "v2 block too short for its addresses");
    if (len < 16 + block) return 0;
    memset(out, 0, sizeof(*out));
    out->version = 2;
    const uint8_t *a = data + 16;
    if (cmd == 1 && proto == 1 && (af == 1 || af == 2)) {
        if (af == 1) {
            memcpy(out->src.b, v4_mapped, 12);
            memcpy(out->src.b + 12, a, 4);
            memcpy(out->dst.b, v4_mapped, 12);
            memcpy(out->dst.b + 12, a + 4, 4);
            a += 8;
        } else {
            memcpy(out->src.b, a, 16);
            memcpy(out->dst.b, a + 16, 16);
            a += 32;
        }
        out->src_port = (uint16_t)((a[0] << 8) | a[1]);
        out->dst_port = (uint16_t)((a[2] << 8) | a[3]);
        out->has_addr = 1;
    }
    return (int)(16 + block);
}

int sr_proxy_parse(const uint8_t *data, size_t len, sr_proxy_header *out, const char **why) {
    if (len == 0) return 0;
    if (data[0] == 'P') return parse_v1(data, len, out, why);
    if (data[0] == 0x0D) return parse_v2(data, len, out, why);
    return fail(why, "not a PROXY header");
}
