/* SPDX-License-Identifier: MIT */
/*
 * test_proxy.c: sserooms behind proxies and load balancers, over real
 * sockets against the real binary: the client address from X-Forwarded-For
 * and Forwarded of a trusted proxy (--trusted-proxy), the PROXY protocol
 * v1/v2 (--proxy-protocol) with its malformed, truncated and late headers
 * counted and closed without disturbing a stream, and Debian's nginx with
 * the shipped snippet (packaging/nginx-sserooms.conf) in front: 1,000
 * streams accepted with the default limits, /stats showing the real
 * clients, the per-address limit applied per real client, an
 * X-Forwarded-For from an untrusted peer changing nothing, /tickets
 * proxied and no ?token= in the access log.
 *
 * Clients are told apart by their loopback source address (127.0.0.2,
 * .3, ...); the test itself at 127.0.0.1 plays the trusted proxy where one
 * is needed.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "srt_check.h"
#include "srt_http.h"
#include "srt_json.h"
#include "srt_nginx.h"
#include "srt_proc.h"
#include "srt_sse.h"

/* --- requests with a source address, a PROXY header and extra headers ---- */

/* Opens a connection from src_ip (NULL: 127.0.0.1) and sends `prefix`
 * (plen bytes, may be NULL) before anything else. */
static void conn_from(srt_conn *c, int port, const char *src_ip, const void *prefix, size_t plen) {
    srt_conn_opts o = {.src_ip = src_ip};
    assert_int_equal(srt_conn_open_ex(c, port, &o, SRT_TIMEOUT_MS), 0);
    if (prefix) assert_int_equal(srt_conn_send(c, prefix, plen, SRT_TIMEOUT_MS), 0);
}

/* GET path on c; the response head in *r (a stream: the body stays
 * unread) or the whole response (any other status). */
static int get_on(srt_conn *c, const char *path, const char *const *headers, srt_response *r) {
    assert_int_equal(srt_http_send_request(c, "GET", path, headers, NULL, 0, SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_http_read_head(c, r, SRT_TIMEOUT_MS), 0);
    if (r->status != 200 || !strstr(path, "/sse"))
        assert_int_equal(srt_http_read_body(c, r, SRT_TIMEOUT_MS), 0);
    return r->status;
}

/* A stream from src_ip (after `prefix`) with extra headers; its status. On
 * 200, s is the open stream, else it is closed. */
static int stream_from(srt_sse *s, int port, const char *src_ip, const char *prefix,
                       const char *path, const char *const *headers) {
    memset(s, 0, sizeof *s);
    conn_from(&s->conn, port, src_ip, prefix, prefix ? strlen(prefix) : 0);
    int status = get_on(&s->conn, path, headers, &s->head);
    if (status == 200) {
        const char *ct = srt_response_header(&s->head, "Content-Type");
        assert_non_null(ct);
        assert_string_equal(ct, "text/event-stream");
    } else {
        srt_sse_close(s);
    }
    return status;
}

/* A refused stream: the status and a JSON error naming `keyword`. */
static void expect_refused(int port, const char *src_ip, const char *prefix, const char *path,
                           const char *const *headers, int status, const char *keyword) {
    srt_conn c;
    conn_from(&c, port, src_ip, prefix, prefix ? strlen(prefix) : 0);
    srt_response r;
    get_on(&c, path, headers, &r);
    srt_check_json_error(&r, status, keyword);
    srt_response_free(&r);
    srt_conn_close(&c);
}

/* /stats, as a malloc'd body, over a connection that begins with prefix. */
static char *stats_via(int port, const char *src_ip, const char *prefix,
                       const char *const *headers) {
    srt_conn c;
    conn_from(&c, port, src_ip, prefix, prefix ? strlen(prefix) : 0);
    srt_response r;
    assert_int_equal(get_on(&c, "/stats", headers, &r), 200);
    assert_true(srt_json_valid(r.body, r.body_len));
    char *body = strdup(r.body);
    srt_response_free(&r);
    srt_conn_close(&c);
    return body;
}

/* The open connections /stats "top_clients" shows for addr (0: absent). */
static long long top_count(const char *stats, const char *addr) {
    char needle[128];
    snprintf(needle, sizeof needle, "{\"address\":\"%s\",\"connections\":", addr);
    const char *p = strstr(stats, needle);
    return p ? strtoll(p + strlen(needle), NULL, 10) : 0;
}

/* The integer at obj.key (obj2.key when obj2 is set) in /stats. */
static long long stat_in(const char *stats, const char *obj, const char *obj2, const char *key) {
    const char *val;
    size_t vlen;
    if (!srt_json_member(stats, strlen(stats), obj, &val, &vlen))
        fail_msg("/stats has no %s: %s", obj, stats);
    char *sub = strndup(val, vlen);
    if (obj2) {
        if (!srt_json_member(sub, vlen, obj2, &val, &vlen))
            fail_msg("/stats %s has no %s", obj, obj2);
        char *inner = strndup(val, vlen);
        free(sub);
        sub = inner;
    }
    long long v = -1;
    if (!srt_json_int(sub, key, &v)) fail_msg("/stats %s has no integer %s: %s", obj, key, sub);
    free(sub);
    return v;
}

/* Waits until stat_in(...) == want, reading /stats over connections that
 * begin with prefix. */
static void wait_stat_via(int port, const char *prefix, const char *obj, const char *obj2,
                          const char *key, long long want) {
    int64_t deadline = srt_now_ms() + 5000;
    for (;;) {
        char *s = stats_via(port, NULL, prefix, NULL);
        long long v = stat_in(s, obj, obj2, key);
        free(s);
        if (v == want) return;
        if (srt_ms_left(deadline) == 0)
            fail_msg("%s.%s stayed %lld, expected %lld", obj, key, v, want);
        srt_sleep_ms(20);
    }
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    srt_buf b = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) srt_buf_append(&b, tmp, n);
    fclose(f);
    srt_buf_append(&b, "", 0);
    return b.data;
}

/* Waits until the server's log holds `text`. */
static void expect_log(const srt_proc *p, const char *text) {
    int64_t deadline = srt_now_ms() + 5000;
    for (;;) {
        char *log = slurp(p->log_path);
        bool found = log && strstr(log, text);
        free(log);
        if (found) return;
        if (srt_ms_left(deadline) == 0) {
            srt_proc_dump_log(p, 4000);
            fail_msg("the log never said: %s", text);
        }
        srt_sleep_ms(20);
    }
}

static void publish_and_check(int port, const char *prefix, srt_sse *witness) {
    srt_conn c;
    conn_from(&c, port, NULL, prefix, prefix ? strlen(prefix) : 0);
    const char *body = "{\"room\":\"w\",\"data\":\"still here\"}";
    assert_int_equal(srt_http_send_request(&c, "POST", "/publish",
                                           (const char *const[]){"Content-Type: application/json",
                                                                 NULL},
                                           body, strlen(body), SRT_TIMEOUT_MS),
                     0);
    srt_response r;
    assert_int_equal(srt_http_read_response(&c, &r, SRT_TIMEOUT_MS), 0);
    srt_check_status(&r, 200);
    assert_non_null(strstr(r.body, "\"delivered\":1"));
    srt_response_free(&r);
    srt_conn_close(&c);
    srt_check_frame(witness, "data: \"still here\"\n\n");
}

/* --- X-Forwarded-For / Forwarded from a trusted proxy -------------------- */

#define XFF(v) ((const char *const[]){"X-Forwarded-For: " v, NULL})

static void test_forwarded_for(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--trusted-proxy", "127.0.0.1/32",
                                      "--max-connections-per-addr", "2", NULL),
                     0);
    srt_sse witness;
    assert_int_equal(stream_from(&witness, p.port, "127.0.0.3", NULL, "/sse?room=w", NULL), 200);

    /* from the trusted proxy, the header names the client */
    srt_sse s[4];
    assert_int_equal(stream_from(&s[0], p.port, NULL, NULL, "/sse?room=a", XFF("10.0.0.5")), 200);
    assert_int_equal(stream_from(&s[1], p.port, NULL, NULL, "/sse?room=a", XFF("10.0.0.5")), 200);
    expect_refused(p.port, NULL, NULL, "/sse?room=a", XFF("10.0.0.5"), 429, "connections");
    /* what the client wrote itself, left of the address the proxy saw, is not believed */
    assert_int_equal(stream_from(&s[2], p.port, NULL, NULL, "/sse?room=a",
                                 XFF("10.0.0.5, 10.0.0.6")),
                     200);
    char *st = stats_via(p.port, NULL, NULL, NULL);
    assert_int_equal(top_count(st, "10.0.0.5"), 2);
    assert_int_equal(top_count(st, "10.0.0.6"), 1);
    assert_int_equal(stat_in(st, "refused", NULL, "connections_per_addr"), 1);
    assert_int_equal(stat_in(st, "proxy", NULL, "forwarded_requests"), 4);
    assert_int_equal(stat_in(st, "proxy", NULL, "trusted_proxies"), 1);
    free(st);
    expect_log(&p, "request refused: too many connections from this address status=429 method=GET "
                   "path=/sse client=10.0.0.5 conn=");

    /* an untrusted peer's header changes nothing: it is counted as itself */
    srt_sse u[2];
    assert_int_equal(stream_from(&u[0], p.port, "127.0.0.2", NULL, "/sse?room=a", XFF("10.0.0.7")),
                     200);
    assert_int_equal(stream_from(&u[1], p.port, "127.0.0.2", NULL, "/sse?room=a", XFF("10.0.0.8")),
                     200);
    expect_refused(p.port, "127.0.0.2", NULL, "/sse?room=a", XFF("10.0.0.99"), 429, "connections");
    st = stats_via(p.port, NULL, NULL, NULL);
    assert_int_equal(top_count(st, "127.0.0.2"), 2);
    assert_int_equal(top_count(st, "10.0.0.7"), 0);
    assert_int_equal(top_count(st, "10.0.0.99"), 0);
    assert_int_equal(stat_in(st, "refused", NULL, "connections_per_addr"), 2);
    assert_int_equal(stat_in(st, "proxy", NULL, "forwarded_requests"), 4);
    free(st);

    /* one keep-alive connection of the proxy carries one client, then another */
    srt_conn k;
    conn_from(&k, p.port, NULL, NULL, 0);
    srt_response r;
    assert_int_equal(get_on(&k, "/healthz", XFF("192.0.2.8"), &r), 200);
    srt_response_free(&r);
    assert_int_equal(get_on(&k, "/stats", XFF("192.0.2.8"), &r), 200);
    assert_int_equal(top_count(r.body, "192.0.2.8"), 1);
    srt_response_free(&r);
    assert_int_equal(get_on(&k, "/stats", XFF("192.0.2.9"), &r), 200);
    assert_int_equal(top_count(r.body, "192.0.2.9"), 1);
    assert_int_equal(top_count(r.body, "192.0.2.8"), 0);
    srt_response_free(&r);
    /* Forwarded (RFC 7239) when there is no X-Forwarded-For */
    assert_int_equal(
        get_on(&k, "/stats",
               (const char *const[]){"Forwarded: for=\"[2001:db8::1]:4711\";proto=http", NULL}, &r),
        200);
    assert_int_equal(top_count(r.body, "2001:db8::/64"), 1); /* counted per /64 */
    srt_response_free(&r);
    srt_conn_close(&k);

    publish_and_check(p.port, NULL, &witness);
    for (int i = 0; i < 3; i++) srt_sse_close(&s[i]);
    for (int i = 0; i < 2; i++) srt_sse_close(&u[i]);
    srt_sse_close(&witness);
    srt_check_stop(&p);
}

/* --- PROXY protocol ------------------------------------------------------ */

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

#define PP1(src) "PROXY TCP4 " src " 127.0.0.1 40000 8080\r\n"
#define PP_STATS PP1("127.0.0.9")

/* A stream after a binary header (n bytes). */
static int stream_after_v2(srt_sse *s, int port, const uint8_t *hdr, size_t n, const char *path) {
    memset(s, 0, sizeof *s);
    conn_from(&s->conn, port, NULL, hdr, n);
    int status = get_on(&s->conn, path, NULL, &s->head);
    if (status != 200) srt_sse_close(s);
    return status;
}

/* Sends bytes, then expects the server to close without answering. */
static void expect_closed_silently(int port, const void *bytes, size_t n) {
    srt_conn c;
    conn_from(&c, port, NULL, bytes, n);
    assert_int_equal(srt_conn_wait_eof(&c, SRT_TIMEOUT_MS), 0);
    assert_int_equal(c.in.len, 0);
    srt_conn_close(&c);
}

static void test_proxy_protocol(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--proxy-protocol", "--max-connections-per-addr", "1",
                                      "--request-timeout-ms", "1000", NULL),
                     0);
    srt_sse witness;
    assert_int_equal(stream_from(&witness, p.port, NULL, PP1("192.0.2.50"), "/sse?room=w", NULL),
                     200);

    /* v1: the header's source is the client */
    srt_sse s[3];
    assert_int_equal(stream_from(&s[0], p.port, NULL, PP1("192.0.2.1"), "/sse?room=a", NULL), 200);
    expect_refused(p.port, NULL, PP1("192.0.2.1"), "/sse?room=a", NULL, 429, "connections");
    assert_int_equal(stream_from(&s[1], p.port, NULL, PP1("192.0.2.2"), "/sse?room=a", NULL), 200);
    /* v2 over IPv6, its header and the request in one write */
    uint8_t v2[16 + 36];
    memcpy(v2, v2_sig, 12);
    v2[12] = 0x21;
    v2[13] = 0x21;
    v2[14] = 0;
    v2[15] = 36;
    static const uint8_t addrs[36] = {
        0x20, 0x01, 0x0d,     0xb8,        [15] = 1, [16] = 0x20, 0x01,
        0x0d, 0xb8, [31] = 2, [32] = 0x9c, 0x40,     0x1f,        0x90};
    memcpy(v2 + 16, addrs, 36);
    assert_int_equal(stream_after_v2(&s[2], p.port, v2, sizeof v2, "/sse?room=a"), 200);
    /* v2 LOCAL (a balancer's health check): the balancer itself is the peer */
    uint8_t local[16];
    memcpy(local, v2_sig, 12);
    local[12] = 0x20;
    local[13] = local[14] = local[15] = 0;
    srt_conn c;
    conn_from(&c, p.port, "127.0.0.4", local, sizeof local);
    srt_response r;
    assert_int_equal(get_on(&c, "/stats", NULL, &r), 200);
    assert_int_equal(top_count(r.body, "127.0.0.4"), 1);
    srt_response_free(&r);
    srt_conn_close(&c);

    char *st = stats_via(p.port, NULL, PP_STATS, NULL);
    assert_int_equal(top_count(st, "192.0.2.1"), 1);
    assert_int_equal(top_count(st, "192.0.2.2"), 1);
    assert_int_equal(top_count(st, "2001:db8::/64"), 1);
    assert_int_equal(top_count(st, "192.0.2.50"), 1);
    assert_int_equal(top_count(st, "127.0.0.9"), 1); /* this request */
    assert_int_equal(top_count(st, "127.0.0.1"), 0);
    assert_int_equal(stat_in(st, "refused", NULL, "connections_per_addr"), 1);
    /* witness, 192.0.2.1 twice, .2, v2, LOCAL, these stats */
    assert_int_equal(stat_in(st, "proxy", NULL, "proxy_headers"), 7);
    free(st);

    /* no header: closed without an answer, counted */
    const char *plain = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    expect_closed_silently(p.port, plain, strlen(plain));
    uint8_t bad[16];
    memcpy(bad, local, sizeof bad);
    bad[12] = 0x11; /* version 1 in a binary header */
    expect_closed_silently(p.port, bad, sizeof bad);
    const char *too_long =
        "PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n";
    expect_closed_silently(p.port, too_long, strlen(too_long));
    wait_stat_via(p.port, PP_STATS, "proxy", "proxy_header_errors", "malformed", 3);
    /* cut short by the peer */
    conn_from(&c, p.port, NULL, "PROXY TCP4 192.0", 16);
    srt_conn_close(&c);
    wait_stat_via(p.port, PP_STATS, "proxy", "proxy_header_errors", "truncated", 1);
    /* never completed: closed after the request timeout */
    conn_from(&c, p.port, NULL, "PROXY TCP4 ", 11);
    assert_int_equal(srt_conn_wait_eof(&c, SRT_TIMEOUT_MS), 0);
    assert_int_equal(c.in.len, 0);
    srt_conn_close(&c);
    wait_stat_via(p.port, PP_STATS, "proxy", "proxy_header_errors", "timeout", 1);
    expect_log(&p, "PROXY header malformed: not a PROXY header, closed");

    srt_response m;
    srt_conn mc;
    conn_from(&mc, p.port, NULL, PP_STATS, strlen(PP_STATS));
    assert_int_equal(get_on(&mc, "/metrics", NULL, &m), 200);
    assert_non_null(
        strstr(m.body, "\nsserooms_proxy_header_errors_total{reason=\"malformed\"} 3\n"));
    assert_non_null(strstr(m.body, "\nsserooms_proxy_header_errors_total{reason=\"timeout\"} 1\n"));
    srt_response_free(&m);
    srt_conn_close(&mc);

    /* nobody was disturbed */
    publish_and_check(p.port, PP_STATS, &witness);
    for (int i = 0; i < 3; i++) srt_sse_close(&s[i]);
    srt_sse_close(&witness);
    srt_check_stop(&p);
}

static void test_proxy_protocol_trusted_only(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--proxy-protocol", "--trusted-proxy", "127.0.0.1", NULL),
                     0);
    /* an untrusted peer is a plain client: no header needed, and one it sends is not believed */
    char *st = stats_via(p.port, "127.0.0.2", NULL, NULL);
    assert_int_equal(top_count(st, "127.0.0.2"), 1);
    free(st);
    expect_refused(p.port, "127.0.0.2", PP1("192.0.2.1"), "/stats", NULL, 400, "");
    /* the trusted balancer must send one */
    expect_closed_silently(p.port, "GET /stats HTTP/1.1\r\n\r\n", 23);
    /* its source is the peer: a trusted one's X-Forwarded-For is read, another's not */
    st = stats_via(p.port, NULL, PP1("127.0.0.1"), XFF("10.1.1.1"));
    assert_int_equal(top_count(st, "10.1.1.1"), 1);
    free(st);
    st = stats_via(p.port, NULL, PP1("198.51.100.7"), XFF("10.1.1.1"));
    assert_int_equal(top_count(st, "198.51.100.7"), 1);
    assert_int_equal(top_count(st, "10.1.1.1"), 0);
    assert_int_equal(stat_in(st, "proxy", NULL, "proxy_headers"), 2);
    assert_int_equal(stat_in(st, "proxy", "proxy_header_errors", "malformed"), 1);
    free(st);
    srt_check_stop(&p);
}

/* --- behind nginx with the shipped snippet -------------------------------- */

/* Reads every stream of f until `needle` arrived on it (nginx re-frames the
 * body, so bytes are searched, not compared); how many got it. */
static size_t fleet_expect_text(srt_fleet *f, const char *needle, int timeout_ms) {
    srt_buf *got = calloc(f->n, sizeof *got);
    bool *done = calloc(f->n, sizeof *done);
    struct pollfd *pfd = calloc(f->n, sizeof *pfd);
    assert_true(got && done && pfd);
    size_t n_done = 0;
    int64_t deadline = srt_now_ms() + timeout_ms;
    while (n_done < f->n && srt_ms_left(deadline) > 0) {
        for (size_t i = 0; i < f->n; i++) {
            pfd[i].fd = done[i] ? -1 : f->conns[i].fd;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
        }
        if (poll(pfd, f->n, srt_ms_left(deadline)) <= 0) break;
        for (size_t i = 0; i < f->n; i++) {
            if (!pfd[i].revents) continue;
            char tmp[4096];
            ssize_t n = recv(f->conns[i].fd, tmp, sizeof tmp, MSG_DONTWAIT);
            if (n <= 0) {
                done[i] = true; /* closed: counted as not received */
                continue;
            }
            srt_buf_append(&got[i], tmp, (size_t)n);
            if (strstr(got[i].data, needle)) {
                done[i] = true;
                n_done++;
            }
        }
    }
    size_t ok = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (got[i].data && strstr(got[i].data, needle)) ok++;
        srt_buf_free(&got[i]);
    }
    free(got);
    free(done);
    free(pfd);
    return ok;
}

static void test_behind_nginx(void **state) {
    (void)state;
    /* the server and nginx inherit it: 1,258 streams are 2,516 sockets in
     * nginx, more than a usual soft limit of 1,024 */
    if (srt_raise_nofile(8192) < 4096) fail_msg("cannot raise the open-file limit to 4096");
    srt_proc p;
    /* the defaults (256 connections per address) and what the snippet documents */
    assert_int_equal(srt_server_start(&p, "--trusted-proxy", "127.0.0.1/32", NULL), 0);
    srt_nginx ng;
    assert_int_equal(srt_nginx_start(&ng, p.port), 0);

    /* 1,000 users on four addresses, 250 each, all accepted */
    srt_fleet crowd;
    assert_int_equal(srt_fleet_open_from(&crowd, ng.port, "/sse?room=crowd", 1000, 2, 250, 120000),
                     0);
    srt_check_room_members(p.port, "crowd", 1000, 10000);
    char *st = stats_via(p.port, NULL, NULL, NULL);
    for (int i = 2; i <= 5; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.%d", i);
        assert_int_equal(top_count(st, addr), 250);
    }
    assert_int_equal(stat_in(st, "refused", NULL, "connections_per_addr"), 0);
    assert_int_equal(stat_in(st, "limits", NULL, "max_connections_per_addr"), 256);
    free(st);

    /* a publish through nginx reaches every one of them */
    srt_response r;
    const char *msg = "{\"room\":\"crowd\",\"data\":\"hello crowd\"}";
    assert_int_equal(srt_http_request_ex(ng.port, "POST", "/publish",
                                         (const char *const[]){"Content-Type: application/json",
                                                               NULL},
                                         msg, strlen(msg), &r, SRT_TIMEOUT_MS),
                     0);
    srt_check_status(&r, 200);
    assert_non_null(strstr(r.body, "\"delivered\":1000"));
    srt_response_free(&r);
    assert_int_equal(fleet_expect_text(&crowd, "data: \"hello crowd\"\n\n", 60000), 1000);

    /* the per-address limit applies per real client: the 257th of one user */
    srt_fleet heavy;
    assert_int_equal(srt_fleet_open_from(&heavy, ng.port, "/sse?room=heavy", 256, 6, 256, 120000),
                     0);
    expect_refused(ng.port, "127.0.0.6", NULL, "/sse?room=heavy", NULL, 429, "connections");
    /* an X-Forwarded-For the user wrote changes nothing: nginx appends the
     * address it saw, and that one counts */
    srt_sse other;
    assert_int_equal(stream_from(&other, ng.port, "127.0.0.7", NULL, "/sse?room=heavy",
                                 XFF("127.0.0.6")),
                     200);
    /* nor does one sent straight to sserooms from an untrusted address */
    srt_sse direct;
    assert_int_equal(stream_from(&direct, p.port, "127.0.0.8", NULL, "/sse?room=heavy",
                                 XFF("127.0.0.6")),
                     200);
    st = stats_via(p.port, NULL, NULL, NULL);
    assert_int_equal(top_count(st, "127.0.0.6"), 256);
    assert_int_equal(top_count(st, "127.0.0.7"), 1);
    assert_int_equal(top_count(st, "127.0.0.8"), 1);
    assert_int_equal(stat_in(st, "refused", NULL, "connections_per_addr"), 1);
    free(st);
    assert_int_equal(srt_check_stat(p.port, "streams"), 1000 + 256 + 2);

    /* POST /tickets goes through to sserooms (here without auth: its JSON 404) */
    assert_int_equal(srt_http_request_ex(ng.port, "POST", "/tickets", NULL, "", 0, &r,
                                         SRT_TIMEOUT_MS),
                     0);
    srt_check_json_error(&r, 404, "not found");
    srt_response_free(&r);

    /* a token in the stream's URL stays out of the access log */
    srt_sse tok;
    assert_int_equal(stream_from(&tok, ng.port, "127.0.0.9", NULL, "/sse?room=t&token=SECRETTOKEN",
                                 NULL),
                     200);
    srt_sse_close(&tok);
    int64_t deadline = srt_now_ms() + 5000;
    char *log = NULL;
    while (!(log = slurp(ng.access_log)) || !strstr(log, "\"GET /sse HTTP/1.1\"")) {
        free(log);
        log = NULL;
        if (srt_ms_left(deadline) == 0) fail_msg("no /sse line in %s", ng.access_log);
        srt_sleep_ms(20);
    }
    assert_null(strstr(log, "SECRETTOKEN"));
    assert_null(strstr(log, "token="));
    free(log);

    srt_sse_close(&other);
    srt_sse_close(&direct);
    srt_fleet_close(&heavy);
    srt_fleet_close(&crowd);
    srt_nginx_stop(&ng);
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_forwarded_for, srt_teardown_servers),
        cmocka_unit_test_teardown(test_proxy_protocol, srt_teardown_servers),
        cmocka_unit_test_teardown(test_proxy_protocol_trusted_only, srt_teardown_servers),
        cmocka_unit_test_teardown(test_behind_nginx, srt_teardown_servers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
