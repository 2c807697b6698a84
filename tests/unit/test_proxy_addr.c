/* SPDX-License-Identifier: MIT */
/*
 * test_proxy_addr.c: the pure parts of running behind proxies (pure; no
 * sockets): address and CIDR parsing and matching, the client address of a
 * request from X-Forwarded-For / Forwarded behind trusted proxies
 * (src/http/forwarded.c), and the PROXY protocol v1/v2 header parser
 * (src/http/proxy_protocol.c), whole and cut at every byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/forwarded.h"
#include "http/proxy_protocol.h"

static sr_ip ip_of(const char *text) {
    sr_ip ip;
    if (sr_ip_parse(text, strlen(text), &ip) != 0) fail_msg("cannot parse %s", text);
    return ip;
}

static void assert_ip(const sr_ip *ip, const char *want) {
    char buf[SR_IP_TEXT_MAX];
    sr_ip_format(ip, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void test_ip_parse_format(void **state) {
    (void)state;
    sr_ip ip;
    static const char *const good[][2] = {
        {"192.0.2.1", "192.0.2.1"},      {"::1", "::1"}, {"2001:db8:0:0:0:0:0:1", "2001:db8::1"},
        {"::ffff:10.1.2.3", "10.1.2.3"}, /* mapped IPv6 is the IPv4 client */
        {"0.0.0.0", "0.0.0.0"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(sr_ip_parse(good[i][0], strlen(good[i][0]), &ip), 0);
        assert_ip(&ip, good[i][1]);
    }
    static const char *const bad[] = {"",         "1.2.3",    "1.2.3.4.5",   "256.1.1.1",
                                      "01.2.3.4", "[::1]",    "1.2.3.4:80",  "::g",
                                      "unknown",  "1.2.3.4 ", "fe80::1%eth0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sr_ip_parse(bad[i], strlen(bad[i]), &ip), -1);
    /* exactly len bytes: a NUL inside is not a shorter address */
    assert_int_equal(sr_ip_parse("1.2.3.4\0", 8, &ip), -1);
    assert_int_equal(sr_ip_parse("1.2.3.45", 7, &ip), 0);
    assert_ip(&ip, "1.2.3.4");
    sr_ip a = ip_of("10.0.0.1"), b = ip_of("::ffff:10.0.0.1");
    assert_true(sr_ip_equal(&a, &b));
}

static void test_cidr(void **state) {
    (void)state;
    sr_cidr r[4];
    assert_int_equal(sr_cidr_parse("10.0.0.0/8", &r[0]), 0);
    assert_int_equal(r[0].bits, 96 + 8);
    assert_int_equal(sr_cidr_parse("127.0.0.1", &r[1]), 0); /* one host */
    assert_int_equal(r[1].bits, 128);
    assert_int_equal(sr_cidr_parse("2001:db8::/32", &r[2]), 0);
    assert_int_equal(sr_cidr_parse("0.0.0.0/0", &r[3]), 0);
    assert_int_equal(r[3].bits, 96); /* all of IPv4, not all of IPv6 */

    sr_ip ip = ip_of("10.200.3.4");
    assert_true(sr_cidr_match(r, 1, &ip));
    ip = ip_of("11.0.0.1");
    assert_false(sr_cidr_match(r, 2, &ip));
    ip = ip_of("127.0.0.1");
    assert_true(sr_cidr_match(r, 2, &ip));
    ip = ip_of("127.0.0.2");
    assert_false(sr_cidr_match(r, 2, &ip));
    ip = ip_of("2001:db8:ffff::1");
    assert_true(sr_cidr_match(r, 3, &ip));
    ip = ip_of("2001:db9::1");
    assert_false(sr_cidr_match(r, 3, &ip));
    ip = ip_of("2001:db9::1");
    assert_false(sr_cidr_match(&r[3], 1, &ip)); /* 0.0.0.0/0 holds no IPv6 */
    ip = ip_of("203.0.113.9");
    assert_true(sr_cidr_match(&r[3], 1, &ip));
    assert_false(sr_cidr_match(r, 0, &ip));

    sr_cidr odd;
    assert_int_equal(sr_cidr_parse("10.0.0.0/15", &odd), 0);
    ip = ip_of("10.1.255.255");
    assert_true(sr_cidr_match(&odd, 1, &ip));
    ip = ip_of("10.2.0.0");
    assert_false(sr_cidr_match(&odd, 1, &ip));
    assert_int_equal(sr_cidr_parse("::/0", &odd), 0);
    ip = ip_of("1.2.3.4");
    assert_true(sr_cidr_match(&odd, 1, &ip));

    static const char *const bad[] = {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8",
                                      "::/129",      "/8",        "x/8",         "10.0.0.0/0x8",
                                      "10.0.0.0/ 8", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sr_cidr_parse(bad[i], &odd), -1);
    assert_int_equal(sr_cidr_parse("10.0.0.1/8", &odd), -2); /* host bits set */
    assert_int_equal(sr_cidr_parse("10.1.0.0/15", &odd), -2);
    assert_int_equal(sr_cidr_parse("2001:db8::1/64", &odd), -2);
}

/* The client of a request from `peer` with the given header lines. */
static const char *client_of(const char *trusted_list, const char *peer, const char *const *hdrs,
                             int *from_header) {
    sr_cidr trusted[8];
    size_t n = 0;
    char list[256];
    strcpy(list, trusted_list);
    for (char *save = NULL, *t = strtok_r(list, " ", &save); t; t = strtok_r(NULL, " ", &save))
        assert_int_equal(sr_cidr_parse(t, &trusted[n++]), 0);
    sr_http_kv kv[8];
    size_t nk = 0;
    for (; hdrs && hdrs[nk]; nk++) {
        const char *colon = strchr(hdrs[nk], ':');
        kv[nk].name = hdrs[nk];
        kv[nk].name_len = (size_t)(colon - hdrs[nk]);
        kv[nk].value = colon + 2;
        kv[nk].value_len = strlen(colon + 2);
    }
    sr_ip p = ip_of(peer), c;
    int rc = sr_forwarded_client(trusted, n, &p, kv, nk, &c);
    if (from_header) *from_header = rc;
    static char buf[SR_IP_TEXT_MAX];
    return sr_ip_format(&c, buf, sizeof(buf));
}

#define CLIENT(trusted, peer, ...)                                                                 \
    client_of(trusted, peer, (const char *const[]){__VA_ARGS__, NULL}, NULL)

static void test_forwarded_for(void **state) {
    (void)state;
    int from = -1;
    /* an untrusted peer's headers are ignored */
    assert_string_equal(client_of("127.0.0.1", "127.0.0.5",
                                  (const char *const[]){"X-Forwarded-For: 10.9.9.9", NULL}, &from),
                        "127.0.0.5");
    assert_int_equal(from, 0);
    assert_string_equal(CLIENT("", "127.0.0.1", "X-Forwarded-For: 10.9.9.9"), "127.0.0.1");
    /* a trusted peer's */
    assert_string_equal(client_of("127.0.0.1", "127.0.0.1",
                                  (const char *const[]){"X-Forwarded-For: 10.9.9.9", NULL}, &from),
                        "10.9.9.9");
    assert_int_equal(from, 1);
    /* no header: the peer */
    assert_string_equal(client_of("127.0.0.1", "127.0.0.1", (const char *const[]){NULL}, &from),
                        "127.0.0.1");
    assert_int_equal(from, 0);
    /* the rightmost untrusted one: what the client wrote itself is left of it */
    assert_string_equal(CLIENT("127.0.0.1", "127.0.0.1", "x-forwarded-for: 6.6.6.6, 203.0.113.7"),
                        "203.0.113.7");
    assert_string_equal(CLIENT("127.0.0.1 10.0.0.0/8", "127.0.0.1",
                               "X-Forwarded-For: 6.6.6.6,203.0.113.7 , 10.1.1.1,10.2.2.2"),
                        "203.0.113.7");
    /* several header lines are one list, in order */
    assert_string_equal(CLIENT("127.0.0.1 10.0.0.0/8", "127.0.0.1", "X-Forwarded-For: 6.6.6.6",
                               "X-Forwarded-For: 198.51.100.1, 10.0.0.3"),
                        "198.51.100.1");
    /* every hop trusted: the leftmost */
    assert_string_equal(CLIENT("127.0.0.0/8", "127.0.0.1", "X-Forwarded-For: 127.0.0.9, 127.0.0.3"),
                        "127.0.0.9");
    /* garbage stops the walk at the trusted hop after it */
    assert_string_equal(CLIENT("127.0.0.1 10.0.0.0/8", "127.0.0.1",
                               "X-Forwarded-For: 6.6.6.6, garbage, 10.0.0.7"),
                        "10.0.0.7");
    assert_string_equal(client_of("127.0.0.1", "127.0.0.1",
                                  (const char *const[]){"X-Forwarded-For: unknown", NULL}, &from),
                        "127.0.0.1");
    assert_int_equal(from, 0);
    /* ports and brackets, IPv6 */
    assert_string_equal(CLIENT("::1", "::1", "X-Forwarded-For: 192.0.2.1:5050"), "192.0.2.1");
    assert_string_equal(CLIENT("::1", "::1", "X-Forwarded-For: [2001:db8::7]:443"), "2001:db8::7");
    assert_string_equal(CLIENT("::1", "::1", "X-Forwarded-For: 2001:db8::8"), "2001:db8::8");
    assert_string_equal(CLIENT("::1", "::1", "X-Forwarded-For: 2001:db8::8, [::1]"), "2001:db8::8");
    assert_string_equal(CLIENT("::1", "::1", "X-Forwarded-For: [1.2.3.4]"), "::1"); /* v6 only */
    /* empty list elements are skipped */
    assert_string_equal(CLIENT("::1", "::1", "X-Forwarded-For: , 192.0.2.3 ,,"), "192.0.2.3");
    /* IPv4 trusted ranges match an IPv4 peer seen on a dual-stack socket */
    assert_string_equal(CLIENT("127.0.0.1", "::ffff:127.0.0.1", "X-Forwarded-For: 192.0.2.4"),
                        "192.0.2.4");
}

static void test_forwarded_header(void **state) {
    (void)state;
    assert_string_equal(CLIENT("127.0.0.1", "127.0.0.1",
                               "Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43"),
                        "192.0.2.60");
    assert_string_equal(CLIENT("127.0.0.1", "127.0.0.1",
                               "Forwarded: For=\"[2001:db8:cafe::17]:4711\""),
                        "2001:db8:cafe::17");
    assert_string_equal(CLIENT("127.0.0.1 10.0.0.0/8", "127.0.0.1",
                               "Forwarded: for=6.6.6.6, for=198.51.100.17;by=x, for=10.0.0.2"),
                        "198.51.100.17");
    assert_string_equal(CLIENT("127.0.0.1", "127.0.0.1",
                               "Forwarded: proto=https;for=\"192.0.2.9:80\""),
                        "192.0.2.9");
    /* an element without for=, or for=unknown / an obfuscated node, stops the walk */
    assert_string_equal(CLIENT("127.0.0.1", "127.0.0.1", "Forwarded: for=6.6.6.6, proto=http"),
                        "127.0.0.1");
    assert_string_equal(CLIENT("127.0.0.1", "127.0.0.1", "Forwarded: for=unknown"), "127.0.0.1");
    assert_string_equal(CLIENT("127.0.0.1", "127.0.0.1", "Forwarded: for=_hidden"), "127.0.0.1");
    /* malformed elements: an unterminated quote, a pair without '=' */
    assert_string_equal(CLIENT("127.0.0.1", "127.0.0.1", "Forwarded: for=\"192.0.2.1"),
                        "127.0.0.1");
    assert_string_equal(CLIENT("127.0.0.1", "127.0.0.1", "Forwarded: for=6.6.6.6, for"),
                        "127.0.0.1");
    assert_string_equal(CLIENT("127.0.0.1", "127.0.0.1", "Forwarded: for=6.6.6.6 x, for=192.0.2.5"),
                        "192.0.2.5");
    /* a quoted comma is not a separator */
    assert_string_equal(CLIENT("127.0.0.1", "127.0.0.1", "Forwarded: for=192.0.2.8;ext=\"a,b\""),
                        "192.0.2.8");
    /* X-Forwarded-For, when present, is the one read */
    assert_string_equal(CLIENT("127.0.0.1", "127.0.0.1", "Forwarded: for=6.6.6.6",
                               "X-Forwarded-For: 192.0.2.44"),
                        "192.0.2.44");
}

static void test_forwarded_many_hops(void **state) {
    (void)state;
    /* more hops than are kept: only the rightmost SR_FORWARDED_MAX_HOPS count */
    char value[4096] = "X-Forwarded-For: 6.6.6.6";
    for (int i = 0; i < SR_FORWARDED_MAX_HOPS + 5; i++) strcat(value, ", 10.0.0.1");
    assert_string_equal(CLIENT("127.0.0.1 10.0.0.0/8", "127.0.0.1", value), "10.0.0.1");
    strcpy(value, "X-Forwarded-For: 6.6.6.6");
    for (int i = 0; i < SR_FORWARDED_MAX_HOPS - 1; i++) strcat(value, ", 10.0.0.1");
    assert_string_equal(CLIENT("127.0.0.1 10.0.0.0/8", "127.0.0.1", value), "6.6.6.6");
}

/* --- PROXY protocol ------------------------------------------------------ */

/* Parses buf whole, and every prefix of it: a prefix is incomplete (0) or,
 * for a bad header, refused no later than the whole. */
static int parse_all_ways(const uint8_t *buf, size_t len, sr_proxy_header *h, const char **why) {
    int whole = sr_proxy_parse(buf, len, h, why);
    for (size_t cut = 0; cut < len; cut++) {
        sr_proxy_header tmp;
        int rc = sr_proxy_parse(buf, cut, &tmp, NULL);
        if (whole > 0 && (size_t)whole > cut) assert_int_equal(rc, 0);
        if (whole < 0 && rc < 0) break; /* refused early: fine */
        if (whole < 0) assert_int_equal(rc, 0);
    }
    return whole;
}

static int parse_text(const char *s, sr_proxy_header *h, const char **why) {
    return parse_all_ways((const uint8_t *)s, strlen(s), h, why);
}

static void test_proxy_v1(void **state) {
    (void)state;
    sr_proxy_header h;
    const char *why = NULL;
    const char *line = "PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n";
    assert_int_equal(parse_text(line, &h, &why), 46);
    assert_int_equal(h.version, 1);
    assert_int_equal(h.has_addr, 1);
    assert_ip(&h.src, "192.0.2.10");
    assert_ip(&h.dst, "198.51.100.1");
    assert_int_equal(h.src_port, 56324);
    assert_int_equal(h.dst_port, 443);

    line = "PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n";
    assert_int_equal(parse_text(line, &h, &why), (int)strlen(line));
    assert_ip(&h.src, "2001:db8::1");
    assert_int_equal(h.src_port, 65535);
    assert_int_equal(h.dst_port, 0);

    line = "PROXY UNKNOWN\r\n";
    assert_int_equal(parse_text(line, &h, &why), (int)strlen(line));
    assert_int_equal(h.has_addr, 0);
    line = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
    assert_int_equal(parse_text(line, &h, &why), (int)strlen(line));
    assert_int_equal(h.has_addr, 0);

    /* the longest possible line, 107 bytes, is fine; 108 is not */
    char longest[128] =
        "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_int_equal(strlen(longest), 104);
    assert_int_equal(parse_text(longest, &h, &why), 104);
    char too_long[160] = "PROXY UNKNOWN ";
    while (strlen(too_long) < 106) strcat(too_long, "x");
    strcat(too_long, "\r\n");
    assert_int_equal(parse_text(too_long, &h, &why), -1);
    assert_string_equal(why, "v1 line longer than 107 bytes");
    too_long[105] = '\0';
    strcat(too_long, "\r\n"); /* 107 */
    assert_int_equal(parse_text(too_long, &h, &why), 107);

    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\n",
        "PROXY TCP4 192.0.2.10 198.51.100.1 56324\r\n",
        "PROXY TCP4 192.0.2.10 198.51.100.1 56324 443 7\r\n",
        "PROXY TCP4 192.0.2.10 198.51.100.1 56324 443 \r\n",
        "PROXY TCP4 192.0.2.10  198.51.100.1 56324 443\r\n",
        "PROXY TCP4 192.0.2.10 198.51.100.1 65536 443\r\n",
        "PROXY TCP4 192.0.2.10 198.51.100.1 056 443\r\n",
        "PROXY TCP4 192.0.2.10 198.51.100.1 -1 443\r\n",
        "PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",
        "PROXY TCP6 192.0.2.10 2001:db8::1 1 2\r\n",
        "PROXY TCP4 192.0.2.256 198.51.100.1 1 2\r\n",
        "PROXY UDP4 192.0.2.10 198.51.100.1 1 2\r\n",
        "PROXY TCP4 192.0.2.10 198.51.100.1 1 2\t\r\n",
        "PROXY\r\n",
        "proxy TCP4 192.0.2.10 198.51.100.1 1 2\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        if (parse_text(bad[i], &h, &why) != -1) fail_msg("accepted: %s", bad[i]);
        assert_non_null(why);
    }
    /* plain HTTP is refused at its first byte, without waiting for more */
    assert_int_equal(sr_proxy_parse((const uint8_t *)"G", 1, &h, NULL), -1);
    assert_int_equal(sr_proxy_parse((const uint8_t *)"PROXX", 5, &h, NULL), -1);
    assert_int_equal(sr_proxy_parse((const uint8_t *)"PROX", 4, &h, NULL), 0);
    assert_int_equal(sr_proxy_parse((const uint8_t *)"", 0, &h, NULL), 0);
}

static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *block, size_t n,
                 size_t declared) {
    static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(declared >> 8);
    out[15] = (uint8_t)declared;
    if (n) memcpy(out + 16, block, n);
    return 16 + n;
}

static void test_proxy_v2(void **state) {
    (void)state;
    uint8_t buf[SR_PROXY_MAX_BYTES + 64];
    sr_proxy_header h;
    const char *why = NULL;
    /* PROXY, TCP over IPv4, with a TLV after the addresses and payload after it */
    const uint8_t v4[] = {
        192,  0,    2,    10,   198,  51,   100, 1,  0xdc,
        0x04, 0x01, 0xbb, 0x04, 0x00, 0x02, 'h', 'i'}; /* TLV type 4 (NOOP), length 2 */
    size_t n = v2(buf, 0x21, 0x11, v4, sizeof v4, sizeof v4);
    memcpy(buf + n, "GET", 3);
    assert_int_equal(parse_all_ways(buf, n + 3, &h, &why), (int)n);
    assert_int_equal(h.version, 2);
    assert_int_equal(h.has_addr, 1);
    assert_ip(&h.src, "192.0.2.10");
    assert_ip(&h.dst, "198.51.100.1");
    assert_int_equal(h.src_port, 56324);
    assert_int_equal(h.dst_port, 443);

    /* TCP over IPv6 */
    uint8_t v6[36] = {0x20, 0x01, 0x0d,     0xb8,     [15] = 1, [16] = 0x20, 0x01,
                      0x0d, 0xb8, [31] = 2, [32] = 0, 80,       0,           81};
    n = v2(buf, 0x21, 0x21, v6, sizeof v6, sizeof v6);
    assert_int_equal(parse_all_ways(buf, n, &h, &why), (int)n);
    assert_ip(&h.src, "2001:db8::1");
    assert_ip(&h.dst, "2001:db8::2");
    assert_int_equal(h.src_port, 80);
    assert_int_equal(h.dst_port, 81);

    /* LOCAL (a health check): addresses ignored, even an empty block */
    n = v2(buf, 0x20, 0x00, NULL, 0, 0);
    assert_int_equal(parse_all_ways(buf, n, &h, &why), 16);
    assert_int_equal(h.has_addr, 0);
    n = v2(buf, 0x20, 0x11, v4, 12, 12);
    assert_int_equal(parse_all_ways(buf, n, &h, &why), 28);
    assert_int_equal(h.has_addr, 0);
    /* PROXY over UDP, UNSPEC or a unix socket: the peer stands */
    n = v2(buf, 0x21, 0x12, v4, 12, 12);
    assert_int_equal(parse_all_ways(buf, n, &h, &why), 28);
    assert_int_equal(h.has_addr, 0);
    n = v2(buf, 0x21, 0x00, NULL, 0, 0);
    assert_int_equal(parse_all_ways(buf, n, &h, &why), 16);
    assert_int_equal(h.has_addr, 0);
    uint8_t unix_block[216] = {0};
    n = v2(buf, 0x21, 0x31, unix_block, sizeof unix_block, sizeof unix_block);
    assert_int_equal(parse_all_ways(buf, n, &h, &why), (int)n);
    assert_int_equal(h.has_addr, 0);

    /* the longest accepted header, and one byte more */
    static uint8_t big[SR_PROXY_MAX_BYTES];
    memcpy(big, v4, 12);
    n = v2(buf, 0x21, 0x11, big, SR_PROXY_MAX_BYTES - 16, SR_PROXY_MAX_BYTES - 16);
    assert_int_equal(sr_proxy_parse(buf, n, &h, &why), SR_PROXY_MAX_BYTES);
    assert_int_equal(sr_proxy_parse(buf, n - 1, &h, &why), 0);
    v2(buf, 0x21, 0x11, big, 0, SR_PROXY_MAX_BYTES - 15);
    assert_int_equal(sr_proxy_parse(buf, 16, &h, &why), -1);
    assert_string_equal(why, "v2 header longer than 4096 bytes");
    v2(buf, 0x21, 0x11, big, 0, 0xffff);
    assert_int_equal(sr_proxy_parse(buf, 16, &h, &why), -1);

    struct {
        uint8_t ver_cmd, fam;
        size_t n;
        const char *why;
    } bad[] = {
        {0x11, 0x11, 12, "v2 version not 2"},
        {0x31, 0x11, 12, "v2 version not 2"},
        {0x22, 0x11, 12, "v2 command not LOCAL or PROXY"},
        {0x21, 0x41, 12, "v2 family or transport unknown"},
        {0x21, 0x13, 12, "v2 family or transport unknown"},
        {0x21, 0x11, 11, "v2 block too short for its addresses"},
        {0x21, 0x21, 12, "v2 block too short for its addresses"},
        {0x21, 0x31, 100, "v2 block too short for its addresses"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = v2(buf, bad[i].ver_cmd, bad[i].fam, big, bad[i].n, bad[i].n);
        why = NULL;
        assert_int_equal(parse_all_ways(buf, n, &h, &why), -1);
        assert_string_equal(why, bad[i].why);
    }
    /* a wrong signature byte anywhere is refused as soon as it is seen */
    n = v2(buf, 0x21, 0x11, v4, 12, 12);
    for (size_t i = 1; i < 12; i++) {
        uint8_t copy[64];
        memcpy(copy, buf, n);
        copy[i] ^= 0x40;
        assert_int_equal(sr_proxy_parse(copy, i + 1, &h, NULL), -1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_parse_format),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_forwarded_for),
        cmocka_unit_test(test_forwarded_header),
        cmocka_unit_test(test_forwarded_many_hops),
        cmocka_unit_test(test_proxy_v1),
        cmocka_unit_test(test_proxy_v2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
