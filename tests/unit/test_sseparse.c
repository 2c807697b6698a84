/* SPDX-License-Identifier: MIT */
/*
 * test_sseparse.c: the benchmark's streaming response + SSE parser
 * (bench/sseparse.c) follows the WHATWG event-stream rules whatever the
 * read boundaries (every split of each input is tried), undoes chunked
 * coding, and the payload scanner and histogram (bench/benchdata.c,
 * bench/hist.c) read and summarise what the publisher writes. The load
 * generator's hot path is covered as it runs: the two-byte scanner
 * (bench/scan.h), events handed over in place, and sseload's accounting
 * (bench/sseload_report.c: deliveries, gaps, reorders, other, steps) fed
 * by the parser at every split of a stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "benchdata.h"
#include "hist.h"
#include "scan.h"
#include "sseload.h"
#include "sseparse.h"

/* What the callbacks saw, as text: "H200;" per head, "E<type>|<data>;" per
 * event, "C<text>;" per comment, "R;" per response end. */
typedef struct record {
    char log[8192];
    size_t len;
    int stop_on_head;
    ssep *p;
} record;

static void logf_(record *r, const char *tag, const char *a, size_t al, const char *b, size_t bl) {
    int n = snprintf(r->log + r->len, sizeof(r->log) - r->len, "%s%.*s%s%.*s;", tag, (int)al, a,
                     b ? "|" : "", (int)bl, b ? b : "");
    assert_true(n > 0 && (size_t)n < sizeof(r->log) - r->len);
    r->len += (size_t)n;
}

static void on_head(void *ud, int status) {
    record *r = ud;
    char s[16];
    snprintf(s, sizeof(s), "%d", status);
    logf_(r, "H", s, strlen(s), NULL, 0);
    if (r->stop_on_head) ssep_stop(r->p);
}

static void on_event(void *ud, const char *type, size_t tl, const char *data, size_t dl) {
    logf_(ud, "E", type, tl, data, dl);
}

static void on_comment(void *ud, const char *text, size_t len) {
    logf_(ud, "C", text, len, NULL, 0);
}

static void on_end(void *ud) {
    logf_(ud, "R", "", 0, NULL, 0);
}

static const ssep_callbacks cbs = {on_head, on_event, on_comment, on_end};

/* Feeds a piece from a heap copy freed at once, as a reused read buffer:
 * ASan reports a parser that keeps a reference into it. */
static int feed_copy(ssep *p, const char *buf, size_t len) {
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, buf, len);
    int rc = ssep_feed(p, copy, len);
    free(copy);
    return rc;
}

/* Parses `in` in one piece and split at every position (and byte by byte),
 * checks every run logs `want`, and returns the last run's feed result. */
static int parse_all_ways_caps(ssep_mode mode, const char *in, size_t len, const char *want,
                               uint32_t line_cap, uint32_t data_cap) {
    int last_rc = 0;
    for (size_t split = 0; split <= len + 1; split++) {
        record r = {0};
        ssep p;
        assert_int_equal(ssep_init(&p, mode, &cbs, &r, line_cap, data_cap), 0);
        r.p = &p;
        int rc = 0;
        if (split <= len) { /* two pieces */
            int a = feed_copy(&p, in, split);
            rc = a < 0 ? a : feed_copy(&p, in + split, len - split);
        } else { /* byte by byte */
            for (size_t i = 0; i < len && rc >= 0; i++) rc = feed_copy(&p, in + i, 1);
        }
        if (strcmp(r.log, want) != 0)
            fail_msg("split at %zu: got \"%s\", want \"%s\"", split, r.log, want);
        last_rc = rc;
        ssep_free(&p);
    }
    return last_rc;
}

static int parse_all_ways(ssep_mode mode, const char *in, size_t len, const char *want,
                          uint32_t caps) {
    return parse_all_ways_caps(mode, in, len, want, caps, caps);
}

#define SSE(in, want) parse_all_ways(SSEP_SSE, in, sizeof(in) - 1, want, 512)

static const char HEAD[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";

static void check_body(const char *body, const char *want_events) {
    char in[4096], want[4096];
    snprintf(in, sizeof(in), "%s%s", HEAD, body);
    snprintf(want, sizeof(want), "H200;%s", want_events);
    assert_int_equal(parse_all_ways(SSEP_SSE, in, strlen(in), want, 512), 0);
}

static void test_line_endings(void **state) {
    (void)state;
    check_body("data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\r\n\n",
               "Emessage|a;Emessage|b;Emessage|c;Emessage|d;");
    /* CR then LF in the next read is one line end, not an empty line */
    check_body("data: x\r\ndata: y\r\n\r\n", "Emessage|x\ny;");
}

static void test_fields(void **state) {
    (void)state;
    check_body("data:nospace\n\n", "Emessage|nospace;");
    check_body("data:  two spaces\n\n", "Emessage| two spaces;");
    check_body("data: 1\ndata: 2\ndata\n\n", "Emessage|1\n2\n;");
    check_body("event: tick\ndata: {}\n\n", "Etick|{};");
    check_body("event: tick\n\ndata: z\n\n", "Emessage|z;"); /* no data: nothing, type reset */
    check_body(": heartbeat\n\n", "C heartbeat;");
    check_body("data:\n\n", "Emessage|;");
    check_body("id: 7\nretry: 3000\nfoo: bar\ndata: q\n\n", "Emessage|q;");
    check_body("data: no end", ""); /* never dispatched without the empty line */
    check_body("data: a:b:c\n\n", "Emessage|a:b:c;");
}

static void test_bom(void **state) {
    (void)state;
    check_body("\xEF\xBB\xBF"
               "data: bom\n\n",
               "Emessage|bom;");
    /* a partial BOM is content: "\xEF" + "data" is an unknown field name */
    check_body("\xEF"
               "data: x\n\ndata: y\n\n",
               "Emessage|y;");
    /* a BOM later in the stream is not skipped */
    check_body("data: 1\n\n\xEF\xBB\xBF"
               "data: 2\n\n",
               "Emessage|1;");
}

static void test_id_and_retry_kept(void **state) {
    (void)state;
    record r = {0};
    ssep p;
    assert_int_equal(ssep_init(&p, SSEP_SSE, &cbs, &r, 256, 256), 0);
    const char in[] = "HTTP/1.1 200 OK\r\n\r\nid: abc\nretry: 1500\nretry: 12x\ndata: d\n\n";
    assert_int_equal(ssep_feed(&p, in, sizeof(in) - 1), 0);
    assert_int_equal(p.last_id_len, 3);
    assert_memory_equal(p.last_id, "abc", 3);
    assert_int_equal(p.retry, 1500);
    assert_true(ssep_in_body(&p));
    ssep_free(&p);
}

static void test_chunked(void **state) {
    (void)state;
    /* chunk boundaries inside a field, between CR and LF, inside "data" */
    const char in[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\ndata:\r\n"
                      "3;ext=1\r\n a\r\r\n"
                      "0A\r\n\n\ndata: bc\r\n"
                      "2\r\nd\r\r\n"
                      "3\r\n\n\r\n\r\n"
                      "0\r\nX-Trailer: 1\r\n\r\n";
    assert_int_equal(SSE(in, "H200;Emessage|a;Emessage|bcd;R;"), 0);
}

static void test_chunked_keepalive_discard(void **state) {
    (void)state;
    const char in[] = "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello"
                      "HTTP/1.1 202 Accepted\r\ntransfer-encoding: Chunked\r\n\r\n"
                      "4\r\nabcd\r\n0\r\n\r\n"
                      "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"
                      "HTTP/1.1 204 No Content\r\n\r\n";
    assert_int_equal(parse_all_ways(SSEP_DISCARD, in, sizeof(in) - 1,
                                    "H201;R;H202;R;H503;R;H204;R;", 512),
                     0);
}

static void test_bad_input(void **state) {
    (void)state;
    assert_int_equal(SSE("SSH-2.0-OpenSSH\r\n\r\n", ""), -1);
    assert_int_equal(SSE("HTTP/1.1 2x0 OK\r\n\r\n", ""), -1);
    assert_int_equal(SSE("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", ""), -1);
    assert_int_equal(SSE("HTTP/1.1 200 OK\r\nContent-Length: 9x\r\n\r\n", ""), -1);
    assert_int_equal(SSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "H200;"),
                     -1);
    assert_int_equal(SSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
                         "H200;"),
                     -1);
    assert_int_equal(
        SSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", "H200;"),
        -1);
    /* a head line longer than the line buffer is refused, not overflowed */
    char big[400];
    memset(big, 'a', sizeof(big));
    char in[600];
    int n = snprintf(in, sizeof(in), "HTTP/1.1 200 OK\r\nX: %.*s\r\n\r\n", (int)sizeof(big), big);
    assert_int_equal(parse_all_ways(SSEP_SSE, in, (size_t)n, "", 128), -1);
}

static void test_truncation(void **state) {
    (void)state;
    record r = {0};
    ssep p;
    assert_int_equal(ssep_init(&p, SSEP_SSE, &cbs, &r, 64, 64), 0);
    assert_int_equal(ssep_feed(&p, HEAD, sizeof(HEAD) - 1), 0);
    char line[300];
    memset(line, 'y', sizeof(line));
    assert_int_equal(ssep_feed(&p, "data: ", 6), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(ssep_feed(&p, line, sizeof(line)), 0);
    assert_int_equal(ssep_feed(&p, "\n\ndata: ok\n\n", 12), 0);
    assert_true(p.truncated > 0);
    /* the first 63 bytes of the long event survive, then the next event is intact */
    const char *e2 = strstr(r.log, "Emessage|ok;");
    assert_non_null(e2);
    assert_int_equal(strncmp(r.log, "H200;Emessage|yyyy", 18), 0);
    ssep_free(&p);
}

static void test_stop(void **state) {
    (void)state;
    record r = {.stop_on_head = 1};
    ssep p;
    assert_int_equal(ssep_init(&p, SSEP_SSE, &cbs, &r, 256, 256), 0);
    r.p = &p;
    const char in[] = "HTTP/1.1 200 OK\r\n\r\ndata: x\n\n";
    assert_int_equal(ssep_feed(&p, in, sizeof(in) - 1), 1);
    assert_int_equal(ssep_feed(&p, "data: y\n\n", 9), 1);
    assert_string_equal(r.log, "H200;");
    ssep_reset(&p);
    r.stop_on_head = 0;
    assert_int_equal(ssep_feed(&p, in, sizeof(in) - 1), 0);
    assert_string_equal(r.log, "H200;H200;Emessage|x;");
    ssep_free(&p);
}

/* Random bytes after a valid head, and random heads, in random pieces:
 * the parser keeps its buffers within their bounds (ASan checks the rest). */
static void test_random_input(void **state) {
    (void)state;
    static const char alphabet[] =
        "data: event:id:retry:\r\n\n\n:0123456789abcdefABCDEF;\xEF\xBB\xBF x";
    unsigned seed = 12345;
    char in[2048];
    for (int round = 0; round < 3000; round++) {
        size_t len = 0;
        if (round % 3 == 0) {
            const char *h = round % 2 ? HEAD
                                      : "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
            len = strlen(h);
            memcpy(in, h, len);
        }
        size_t n = (seed = seed * 1103515245u + 12345u) % 1500;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in[len++] = round % 5 == 4 ? (char)(seed >> 16)
                                       : alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        uint64_t t, s, k; /* the payload scanner never reads past len either */
        for (size_t cut = 0; cut < len; cut += 1 + cut / 3)
            benchdata_parse(in + cut, len - cut, &t, &s, &k);
        record r = {0};
        ssep p;
        assert_int_equal(ssep_init(&p, round % 7 ? SSEP_SSE : SSEP_DISCARD, &cbs, &r, 64, 64), 0);
        for (size_t off = 0; off < len;) {
            seed = seed * 1103515245u + 12345u;
            size_t piece = 1 + (seed >> 16) % 97;
            if (piece > len - off) piece = len - off;
            r.len = 0; /* keep only the last piece's log */
            r.log[0] = 0;
            if (ssep_feed(&p, in + off, piece) < 0) break;
            assert_true(p.line_len <= p.line_cap);
            assert_true(p.data_len <= p.data_cap);
            assert_true(p.type_len <= sizeof(p.type) && p.last_id_len <= sizeof(p.last_id));
            off += piece;
        }
        ssep_free(&p);
    }
}

/* --- the load generator's hot path ------------------------------------ */

static void test_scan_either(void **state) {
    (void)state;
    for (size_t len = 0; len <= 80; len++) {
        char *buf = malloc(len ? len : 1); /* exact size: ASan sees a read past the end */
        assert_non_null(buf);
        /* the first match wins, whichever of the two it is, wherever it is */
        for (size_t i = 0; i <= len; i++) {
            for (int which = 0; which < 2; which++) {
                memset(buf, 'x', len);
                if (i < len) buf[i] = which ? '\r' : '\n';
                if (i + 1 < len) buf[len - 1] = which ? '\n' : '\r';
                const char *got = scan_either(buf, buf + len, '\n', '\r');
                if (i < len) assert_ptr_equal(got, buf + i);
                else assert_null(got);
            }
        }
        /* bytes before the start are never reported, also where the last
         * 16-byte block overlaps them */
        for (size_t off = 0; off <= len; off++) {
            memset(buf, '"', len);
            if (len) buf[len - 1] = 'x';
            for (size_t j = off; j + 1 < len; j++) buf[j] = 'x';
            assert_null(scan_either(buf + off, buf + len, '"', '\\'));
            if (off < len) {
                buf[len - 1] = '\\';
                assert_ptr_equal(scan_either(buf + off, buf + len, '"', '\\'), buf + len - 1);
            }
        }
        free(buf);
    }
}

static const char *seen_data;
static size_t seen_len;
static int seen_events;

static void on_event_ref(void *ud, const char *type, size_t tl, const char *data, size_t dl) {
    (void)ud;
    (void)type;
    (void)tl;
    seen_data = data;
    seen_len = dl;
    seen_events++;
}

static const ssep_callbacks ref_cbs = {NULL, on_event_ref, NULL, NULL};

/* An event complete in the piece fed reaches on_event without a copy; one
 * cut by the end of a piece is copied, so the caller may reuse its buffer. */
static void test_event_in_place(void **state) {
    (void)state;
    ssep p;
    assert_int_equal(ssep_init(&p, SSEP_SSE, &ref_cbs, NULL, 512, 512), 0);
    seen_events = 0;
    assert_int_equal(ssep_feed(&p, HEAD, sizeof(HEAD) - 1), 0);
    char payload[128], ev[256];
    size_t plen = benchdata_format(payload, sizeof(payload), 1700000000000000ull, 9, 0, 100);
    int n = snprintf(ev, sizeof(ev), "id: 9\nevent: message\ndata: %.*s\n\n", (int)plen, payload);
    assert_int_equal(ssep_feed(&p, ev, (size_t)n), 0);
    assert_int_equal(seen_events, 1);
    assert_true(seen_data >= ev && seen_data + seen_len <= ev + n); /* in place */
    assert_int_equal(seen_len, plen);
    assert_memory_equal(seen_data, payload, plen);
    /* the same event without its last byte, then the buffer is overwritten */
    assert_int_equal(ssep_feed(&p, ev, (size_t)n - 1), 0);
    assert_int_equal(seen_events, 1);
    memset(ev, 'Z', sizeof(ev));
    assert_int_equal(ssep_feed(&p, "\n", 1), 0);
    assert_int_equal(seen_events, 2);
    assert_int_equal(seen_len, plen);
    assert_memory_equal(seen_data, payload, plen);
    ssep_free(&p);
}

/* Event shapes around the in-place hand-over, at every split: line ends,
 * comments between data lines, multi-line data, data at the buffer size. */
static void test_event_shapes(void **state) {
    (void)state;
    check_body("id: 1\r\nevent: message\r\ndata: {\"a\":1}\r\n\r\n"
               "id: 2\revent: tick\rdata: abc\r\r"
               ": hb\n\n"
               "data: l1\ndata: l2\r\ndata: l3\rdata\n\n"
               "data: first\r\n: between\r\ndata: second\r\n\r\n"
               "event: x\ndata\n\n"
               "data: last\n\n",
               "Emessage|{\"a\":1};Etick|abc;C hb;Emessage|l1\nl2\nl3\n;C between;"
               "Emessage|first\nsecond;Ex|;Emessage|last;");
    /* a data buffer of 16 bytes: 15 fit with their line feed, 16 are cut */
    static const char in[] = "HTTP/1.1 200 OK\r\n\r\n"
                             "data: abcdefghijklmno\n\n"
                             "data: abcdefghijklmnop\n\n"
                             "data: abcdefghijklmnopq\r\n\r\n"
                             "data: 0123456789\ndata: abcdef\n\n";
    assert_int_equal(parse_all_ways_caps(SSEP_SSE, in, sizeof(in) - 1,
                                         "H200;Emessage|abcdefghijklmno;Emessage|abcdefghijklmnop;"
                                         "Emessage|abcdefghijklmnop;Emessage|0123456789\nabcde;",
                                         512, 16),
                     0);
}

/* sseload's accounting of one stream (load_event): what each message adds */
static void test_load_accounting(void **state) {
    (void)state;
    load_stats *st = calloc(1, sizeof(*st));
    assert_non_null(st);
    char d[128];
    uint64_t last_s = 0, recv_us = 5000000;
#define EV(t, s, k)                                                                                \
    load_event(st, &last_s, d, benchdata_format(d, sizeof(d), t, s, k, 100), recv_us * 1000,       \
               recv_us)
    EV(recv_us - 100, 1, 0);
    EV(recv_us - 200, 2, 0);
    EV(recv_us - 300, 5, 0); /* 3 and 4 missing: two gaps in step 0 */
    EV(recv_us - 400, 4, 1); /* late: a reorder, still a delivery of step 1 */
    EV(recv_us - 500, 6, 1);
    EV(recv_us - 600, 6, 1); /* a repeat: a reorder */
    EV(recv_us + 999, 8, 2); /* stamped in the future: latency 0; one gap in step 2 */
    EV(recv_us - 700, 9, SSELOAD_MAX_STEPS); /* no step record, still in the total */
#undef EV
    load_event(st, &last_s, "\"[DONE]\"", 8, 0, recv_us);
    load_event(st, &last_s, "{\"t\":1,\"s\":2}", 13, 0, recv_us);
    assert_int_equal(st->deliveries, 8);
    assert_int_equal(st->gaps, 3);
    assert_int_equal(st->reorders, 2);
    assert_int_equal(st->other, 2);
    assert_int_equal(last_s, 9);
    assert_int_equal(st->max_step, 3);
    assert_int_equal(st->steps[0]->deliveries, 3);
    assert_int_equal(st->steps[0]->gaps, 2);
    assert_int_equal(st->steps[1]->deliveries, 3);
    assert_int_equal(st->steps[1]->gaps, 0);
    assert_int_equal(st->steps[2]->deliveries, 1);
    assert_int_equal(st->steps[2]->gaps, 1);
    assert_int_equal(st->steps[0]->h.count, 3);
    assert_int_equal(st->steps[0]->h.min, 100);
    assert_int_equal(st->steps[0]->h.max, 300);
    assert_int_equal(st->steps[1]->h.max, 600);
    assert_int_equal(st->steps[2]->h.max, 0);
    /* the run's histogram, as the progress line and the report read it */
    load_tick(st);
    assert_int_equal(st->total.count, 8);
    assert_int_equal(st->total.min, 0);
    assert_int_equal(st->total.max, 700);
    uint64_t p50 = hist_quantile(&st->total, 0.5); /* the 4th of 8: 300, within a bucket */
    assert_true(p50 >= 300 && p50 <= 300 + 300 / 64 + 1);
    assert_int_equal(st->sec_deliveries, 0);
    assert_int_equal(st->sec_base.count, 8);
    char d2[128];
    size_t n2 = benchdata_format(d2, sizeof(d2), recv_us - 50, 10, 0, 100);
    load_event(st, &last_s, d2, n2, recv_us * 1000, recv_us);
    load_tick(st);
    assert_int_equal(st->total.count, 9);
    assert_int_equal(st->total.min, 0);
    assert_int_equal(st->steps[0]->h.min, 50);
    load_stats_free(st);
    free(st);
}

typedef struct counted_stream {
    load_stats *st;
    uint64_t last_s;
    uint64_t comments;
} counted_stream;

static void on_event_count(void *ud, const char *type, size_t tl, const char *data, size_t dl) {
    counted_stream *cs = ud;
    (void)type;
    (void)tl;
    load_event(cs->st, &cs->last_s, data, dl, 1, 1000000);
}

static void on_comment_count(void *ud, const char *text, size_t len) {
    (void)text;
    (void)len;
    ((counted_stream *)ud)->comments++;
}

static const ssep_callbacks count_cbs = {NULL, on_event_count, on_comment_count, NULL};

/* A chunked stream of benchmark events, split at every byte position: the
 * counts sseload reports come out the same whatever the read boundaries. */
static void test_stream_counts_all_splits(void **state) {
    (void)state;
    static const struct {
        uint64_t s, k;
        const char *eol;
    } msgs[] = {{1, 0, "\n"}, {2, 0, "\r\n"}, {4, 0, "\r"},
                {3, 1, "\n"}, {5, 1, "\r\n"}, {5, 1, "\n"}};
    char in[4096];
    size_t len = (size_t)snprintf(in, sizeof(in),
                                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        char d[128], ev[256];
        size_t dl = benchdata_format(d, sizeof(d), 999000 - i, msgs[i].s, msgs[i].k, 100);
        const char *e = msgs[i].eol;
        int n = snprintf(ev, sizeof(ev), "id: %zu%sevent: message%sdata: %.*s%s%s", i, e, e,
                         (int)dl, d, e, e);
        len += (size_t)snprintf(in + len, sizeof(in) - len, "%x\r\n%s\r\n", n, ev);
    }
    len += (size_t)snprintf(in + len, sizeof(in) - len,
                            "6\r\n: hb\n\n\r\n11\r\ndata: \"[DONE]\"\n\n\r\n0\r\n\r\n");
    assert_true(len < sizeof(in));
    for (size_t split = 0; split <= len; split++) {
        counted_stream cs = {.st = calloc(1, sizeof(load_stats))};
        assert_non_null(cs.st);
        ssep p;
        assert_int_equal(ssep_init(&p, SSEP_SSE, &count_cbs, &cs, 512, 512), 0);
        assert_int_equal(feed_copy(&p, in, split), 0);
        assert_int_equal(feed_copy(&p, in + split, len - split), 0);
        if (cs.st->deliveries != 6 || cs.st->gaps != 1 || cs.st->reorders != 2 ||
            cs.st->other != 1 || cs.comments != 1)
            fail_msg("split at %zu: deliveries %llu gaps %llu reorders %llu other %llu "
                     "comments %llu",
                     split, (unsigned long long)cs.st->deliveries, (unsigned long long)cs.st->gaps,
                     (unsigned long long)cs.st->reorders, (unsigned long long)cs.st->other,
                     (unsigned long long)cs.comments);
        assert_int_equal(cs.st->steps[0]->deliveries, 3);
        assert_int_equal(cs.st->steps[0]->gaps, 1);
        assert_int_equal(cs.st->steps[1]->deliveries, 3);
        assert_int_equal(cs.st->steps[1]->h.min, 1000000 - 999000 + 3);
        assert_int_equal(cs.st->steps[1]->h.max, 1000000 - 999000 + 5);
        ssep_free(&p);
        load_stats_free(cs.st);
        free(cs.st);
    }
}

/* --- benchdata ------------------------------------------------------------ */

static void test_benchdata_roundtrip(void **state) {
    (void)state;
    char buf[512];
    uint64_t t, s, k;
    for (size_t size = 0; size < 300; size += 7) {
        size_t n = benchdata_format(buf, sizeof(buf), 1700000000123456ull, 42, 3, size);
        assert_true(n > 0);
        if (size >= 48) assert_int_equal(n, size);
        assert_int_equal(benchdata_parse(buf, n, &t, &s, &k), 0);
        assert_true(t == 1700000000123456ull && s == 42 && k == 3);
    }
    assert_int_equal(benchdata_format(buf, 20, 1, 1, 1, 100), 0);
}

static void test_benchdata_shapes(void **state) {
    (void)state;
    uint64_t t, s, k;
#define P(str) benchdata_parse(str, strlen(str), &t, &s, &k)
    assert_int_equal(P("{ \"k\" : 9 , \"p\":\"a\\\"}\", \"s\":2,\"t\":5, \"x\":[1], \"n\":null}"),
                     -1);
    assert_int_equal(P("{ \"k\" : 9 , \"p\":\"a\\\"}\", \"s\":2,\"t\":5, \"n\":null,\"b\":true}"),
                     0);
    assert_true(t == 5 && s == 2 && k == 9);
    assert_int_equal(P("{\"t\":1,\"s\":2}"), -1);
    assert_int_equal(P("{\"t\":1.5,\"s\":2,\"k\":0}"), -1);
    assert_int_equal(P("{\"t\":\"1\",\"s\":2,\"k\":0}"), -1);
    assert_int_equal(P("{\"t\":-1,\"s\":2,\"k\":0}"), -1);
    assert_int_equal(P("{\"t\":1,\"s\":2,\"k\":0,\"f\":-2.5e3}"), 0);
    assert_int_equal(P("{\"t\":1,\"s\":2,\"k\":0"), -1);
    assert_int_equal(P("{\"t\":1,\"s\":2,\"k\":0}x"), -1);
    assert_int_equal(P("{\"t\":99999999999999999999,\"s\":2,\"k\":0}"), -1);
    /* the publisher's layout (fast path) and its near misses */
    assert_int_equal(P("{\"t\":11,\"s\":22,\"k\":33,\"p\":\"a\\\"b\"}"), 0);
    assert_true(t == 11 && s == 22 && k == 33);
    assert_int_equal(P("{\"t\":1,\"s\":2,\"k\":3,\"p\":\"a\"b\"}"), -1);
    assert_int_equal(P("{\"t\":1,\"s\":2,\"k\":3,\"p\":\"ab\"}x"), -1);
    assert_int_equal(P("{\"t\":1,\"s\":2,\"k\":3,\"p\":\"\"}"), 0);
    assert_int_equal(P("{\"t\":,\"s\":2,\"k\":3,\"p\":\"\"}"), -1);
    assert_int_equal(P("{\"t\":1,\"s\":2,\"k\":3,\"p\":\"xx}"), -1);
    assert_int_equal(P("\"[DONE]\""), -1);
    assert_int_equal(P(""), -1);
    assert_int_equal(P("{}"), -1);
#undef P
}

/* Numbers of every length 1..20 in each of t, s and k, on the publisher's
 * layout and as a general object: read as the digit loop reads them (a
 * value past (UINT64_MAX - 9) / 10 before its last digit is refused). */
static void test_benchdata_numbers(void **state) {
    (void)state;
    uint64_t vals[200];
    size_t nv = 0;
    for (uint64_t p10 = 1;; p10 *= 10) {
        vals[nv++] = p10 - 1;
        vals[nv++] = p10;
        vals[nv++] = p10 + 1;
        vals[nv++] = p10 * 5 + 3;
        if (p10 > UINT64_MAX / 10) break;
    }
    vals[nv++] = UINT64_MAX;
    vals[nv++] = UINT64_MAX / 10 * 10 - 1;
    vals[nv++] = 1700000000123456ull;
    uint64_t seed = 42;
    while (nv < sizeof(vals) / sizeof(vals[0])) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        vals[nv++] = seed >> (seed % 61);
    }
    for (size_t i = 0; i < nv; i++) {
        char digits[32], in[160];
        snprintf(digits, sizeof(digits), "%llu", (unsigned long long)vals[i]);
        /* the digit loop's verdict */
        uint64_t want = 0;
        int ok = 1;
        for (const char *d = digits; *d; d++) {
            if (want > (UINT64_MAX - 9) / 10) ok = 0;
            want = want * 10 + (uint64_t)(*d - '0');
        }
        for (int field = 0; field < 3; field++) {
            for (int general = 0; general < 2; general++) {
                snprintf(in, sizeof(in), "%s\"t\":%s,\"s\":%s,\"k\":%s,\"p\":\"xxxxxxxx\"}",
                         general ? "{ " : "{", field == 0 ? digits : "7", field == 1 ? digits : "8",
                         field == 2 ? digits : "9");
                uint64_t t = 0, s = 0, k = 0;
                int rc = benchdata_parse(in, strlen(in), &t, &s, &k);
                if (rc != (ok ? 0 : -1)) fail_msg("%s: rc %d", in, rc);
                if (!ok) continue;
                uint64_t got = field == 0 ? t : field == 1 ? s : k;
                if (got != want) fail_msg("%s: got %llu", in, (unsigned long long)got);
                assert_true((field == 0 || t == 7) && (field == 1 || s == 8) &&
                            (field == 2 || k == 9));
            }
        }
    }
    /* a non-digit inside the first eight bytes of a number */
    uint64_t t, s, k;
    static const char *bad[] = {"{\"t\":1234567x,\"s\":1,\"k\":1,\"p\":\"\"}",
                                "{\"t\":12345678/,\"s\":1,\"k\":1,\"p\":\"\"}",
                                "{\"t\":1234567:8,\"s\":1,\"k\":1,\"p\":\"\"}",
                                "{\"t\":123456789012345:,\"s\":1,\"k\":1,\"p\":\"\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(benchdata_parse(bad[i], strlen(bad[i]), &t, &s, &k), -1);
    static const char eight[] = "{\"t\":12345678,\"s\":1,\"k\":1,\"p\":\"\"}";
    assert_int_equal(benchdata_parse(eight, sizeof(eight) - 1, &t, &s, &k), 0);
    assert_true(t == 12345678 && s == 1 && k == 1);
}

/* --- hist ------------------------------------------------------------------- */

static void test_hist(void **state) {
    (void)state;
    hist *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    assert_int_equal(hist_quantile(h, 0.5), 0);
    for (uint64_t v = 1; v <= 100000; v++) hist_record(h, v);
    assert_int_equal(h->count, 100000);
    assert_int_equal(h->max, 100000);
    uint64_t qs[] = {50000, 90000, 99000, 99900};
    double q[] = {0.5, 0.9, 0.99, 0.999};
    for (int i = 0; i < 4; i++) {
        uint64_t got = hist_quantile(h, q[i]);
        assert_true(got >= qs[i] && got <= qs[i] + qs[i] / 64 + 1);
    }
    assert_int_equal(hist_quantile(h, 1.0), 100000);
    /* exact below 128, buckets ordered and covering each value */
    for (uint64_t v = 0; v < (1ull << 36); v = v * 3 / 2 + 1) {
        unsigned b = hist_bucket_of(v);
        assert_true(b < HIST_BUCKETS);
        assert_true(hist_bucket_top(b) >= v);
        if (b) assert_true(hist_bucket_top(b - 1) < v);
        if (v < 128) assert_int_equal(hist_bucket_top(b), v);
    }
    assert_int_equal(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
    /* the quantiles of what came after a snapshot (the progress line) */
    hist *base = malloc(sizeof(*base));
    assert_non_null(base);
    *base = *h;
    assert_int_equal(hist_quantile_since(h, base, 0.5), 0);
    for (int i = 0; i < 99; i++) hist_record(h, 1000);
    hist_record(h, 5000);
    uint64_t p50 = hist_quantile_since(h, base, 0.5), p99 = hist_quantile_since(h, base, 0.99);
    assert_true(p50 >= 1000 && p50 <= 1000 + 1000 / 64 + 1);
    assert_true(p99 >= 1000 && p99 <= 1000 + 1000 / 64 + 1);
    assert_true(hist_quantile_since(h, base, 1.0) >= 5000);
    free(base);
    hist *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    hist_record(g, 7);
    hist_merge(g, h);
    assert_int_equal(g->count, 100101);
    assert_int_equal(g->min, 1);
    hist_reset(g);
    assert_int_equal(g->count, 0);
    free(g);
    free(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_id_and_retry_kept),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_chunked_keepalive_discard),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_random_input),
        cmocka_unit_test(test_scan_either),
        cmocka_unit_test(test_event_in_place),
        cmocka_unit_test(test_event_shapes),
        cmocka_unit_test(test_load_accounting),
        cmocka_unit_test(test_stream_counts_all_splits),
        cmocka_unit_test(test_benchdata_roundtrip),
        cmocka_unit_test(test_benchdata_shapes),
        cmocka_unit_test(test_benchdata_numbers),
        cmocka_unit_test(test_hist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
