/* SPDX-License-Identifier: MIT */
/*
 * fuzz_proxy.c: libFuzzer target for what a proxy in front sends: the
 * PROXY protocol v1/v2 header parser (src/http/proxy_protocol.h) and the
 * client address from X-Forwarded-For / Forwarded (src/http/forwarded.h).
 *
 * Input: byte 0 picks the part (bit 0) and, for the headers, the peer
 * (trusted or not, IPv4 or IPv6); the rest is the bytes a connection
 * begins with, or header lines "Name: value" separated by '\n'.
 *
 * PROXY header: the answer for every prefix of the input must agree with
 * the answer for the whole (a prefix shorter than an accepted header is
 * incomplete; once refused, longer inputs stay refused; an accepted length
 * lies inside the input and within SR_PROXY_MAX_BYTES), a refusal names
 * its reason, and parsing never reads past the bytes given (ASan).
 * Forwarded: the answer is the peer unless the peer is trusted and a
 * header named the address, the call is deterministic, and an address
 * that came from a header formats and parses back to itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "http/forwarded.h"
#include "http/proxy_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_header(const uint8_t *data, size_t size) {
    /* an exact-size copy, so a read past the end is caught */
    uint8_t *copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL, "out of memory");
    if (size) memcpy(copy, data, size);
    sr_proxy_header h;
    const char *why = NULL;
    int whole = sr_proxy_parse(copy, size, &h, &why);
    FUZZ_CHECK(whole >= -1, "answer %d", whole);
    if (whole < 0) FUZZ_CHECK(why != NULL, "refused without a reason");
    if (whole > 0) {
        FUZZ_CHECK((size_t)whole <= size && whole <= SR_PROXY_MAX_BYTES, "length %d of %zu", whole,
                   size);
        FUZZ_CHECK(h.version == 1 || h.version == 2, "version %d", h.version);
        FUZZ_CHECK(h.version == 2 || whole <= SR_PROXY_V1_MAX_BYTES, "v1 of %d bytes", whole);
        FUZZ_CHECK(h.has_addr == 0 || h.has_addr == 1, "has_addr %d", h.has_addr);
    }
    size_t cuts = size < 300 ? size : 300;
    for (size_t cut = 0; cut < cuts; cut++) {
        uint8_t *pre = malloc(cut ? cut : 1);
        FUZZ_CHECK(pre != NULL, "out of memory");
        if (cut) memcpy(pre, copy, cut);
        sr_proxy_header ph;
        int rc = sr_proxy_parse(pre, cut, &ph, NULL);
        free(pre);
        if (whole > 0 && (size_t)whole > cut)
            FUZZ_CHECK(rc == 0, "prefix %zu of a %d-byte header: %d", cut, whole, rc);
        if (whole > 0 && (size_t)whole <= cut)
            FUZZ_CHECK(rc == whole, "prefix %zu: %d, whole %d", cut, rc, whole);
        if (whole == 0) FUZZ_CHECK(rc == 0, "prefix %zu: %d, whole incomplete", cut, rc);
        if (rc < 0) FUZZ_CHECK(whole < 0, "prefix %zu refused, whole %d", cut, whole);
    }
    free(copy);
}

static void fuzz_forwarded(uint8_t sel, const uint8_t *data, size_t size) {
    static const char *const ranges[] = {"127.0.0.0/8", "10.0.0.0/8", "::1", "2001:db8::/32"};
    static const char *const peers[] = {"127.0.0.1",   "10.1.2.3",    "::1",
                                        "192.0.2.1",   "2001:db8::5", "::ffff:127.0.0.1",
                                        "203.0.113.1", "2001:dead::1"};
    sr_cidr trusted[4];
    for (size_t i = 0; i < 4; i++)
        FUZZ_CHECK(sr_cidr_parse(ranges[i], &trusted[i]) == 0, "range %zu", i);
    size_t n_trusted = (sel >> 4) & 3 ? 4 : 1;
    sr_ip peer;
    const char *pt = peers[(sel >> 1) & 7];
    FUZZ_CHECK(sr_ip_parse(pt, strlen(pt), &peer) == 0, "peer");

    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL, "out of memory");
    if (size) memcpy(text, data, size);
    text[size] = '\0';
    sr_http_kv kv[16];
    size_t nk = 0;
    char *line = text, *end = text + size;
    while (line < end && nk < 16) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        char *stop = nl ? nl : end;
        char *colon = memchr(line, ':', (size_t)(stop - line));
        if (colon) {
            kv[nk].name = line;
            kv[nk].name_len = (size_t)(colon - line);
            kv[nk].value = colon + 1;
            kv[nk].value_len = (size_t)(stop - colon - 1);
            nk++;
        }
        line = stop + 1;
    }
    sr_ip client, again;
    int rc = sr_forwarded_client(trusted, n_trusted, &peer, kv, nk, &client);
    int rc2 = sr_forwarded_client(trusted, n_trusted, &peer, kv, nk, &again);
    FUZZ_CHECK(rc == rc2 && sr_ip_equal(&client, &again), "not deterministic");
    FUZZ_CHECK(rc == 0 || rc == 1, "answer %d", rc);
    if (!sr_cidr_match(trusted, n_trusted, &peer))
        FUZZ_CHECK(rc == 0 && sr_ip_equal(&client, &peer), "an untrusted peer's headers were read");
    if (rc == 0) FUZZ_CHECK(sr_ip_equal(&client, &peer), "no header, yet not the peer");
    char buf[SR_IP_TEXT_MAX];
    sr_ip_format(&client, buf, sizeof(buf));
    sr_ip back;
    FUZZ_CHECK(sr_ip_parse(buf, strlen(buf), &back) == 0 && sr_ip_equal(&back, &client),
               "%s does not parse back", buf);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1) fuzz_forwarded(data[0], data + 1, size - 1);
    else fuzz_header(data + 1, size - 1);
    return 0;
}
