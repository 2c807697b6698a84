/* SPDX-License-Identifier: MIT */
/*
 * test_pipeline_flood.c: one client that pipelines far more POST /publish
 * requests than it reads answers for, on one keep-alive connection.
 *
 * The publisher's socket has a 4 kB SO_RCVBUF and a 536-byte TCP_MAXSEG,
 * so the kernel holds little of what the server writes to it (on loopback
 * the server's send buffer grows to megabytes otherwise) and the answers
 * back up in the server's own queue.
 *
 *  - flood: 10,000 publishes written at once; the client reads nothing for
 *    1.5 s, five keep-alive timeouts (--keepalive-timeout-ms 300), then
 *    reads in small slices. It must get exactly one 200 per request, in
 *    order, on a connection that then still answers; four subscribers
 *    must get every message in order. (The server used to take the
 *    connection for idle once the last request was read, and closed it
 *    with the rest of the answers still queued, silently.)
 *  - stalled reader: a client that writes requests and never reads. The
 *    server must stop reading it (its writes block: TCP backpressure)
 *    instead of queueing answers without bound, and once nothing could be
 *    written to it for --request-timeout-ms, close it and count it in
 *    slow_disconnects, with a warning in the log;
 *  - the same when its last request says "Connection: close" (the
 *    connection ends once the answers are out: they never go out);
 *  - 50 such clients at once stay within --max-http-buffer-bytes together
 *    (the server's own accounting in /stats), not 1 MiB each.
 */
#include "srt_faults.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    SUBSCRIBERS = 4,
    FLOOD = 10000,     /* pipelined publishes */
    PAUSE_MS = 1500,   /* the publisher reads nothing for this long */
    SLICE = 2048,      /* then reads at most this much ... */
    SLICE_EVERY_MS = 1 /* ... this often */
};

#define WAIT_MS SRT_BY_BUILD(30000, 90000)
/* Stalled reader: bytes written before the server must have stopped
 * reading; without backpressure it reads them all. */
#define STALL_WRITE_CAP (64L * 1024 * 1024)
#define STALL_WRITE_BOUND (24L * 1024 * 1024)
#define RSS_BOUND_KB SRT_BY_BUILD(48L * 1024, 192L * 1024)

/* A blocking-connected, then non-blocking, socket to 127.0.0.1:port with a
 * small receive buffer and segment size. */
static int open_small_socket(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int rcvbuf = 4096, mss = 536;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail_msg("connect to port %d: %s", port, strerror(errno));
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    return fd;
}

/* Appends POST /publish of message seq (the pacer's format, pad 0, so
 * srt_seqset checks the frames) to out. */
static void append_publish(srt_buf *out, const char *room, long long seq) {
    char body[128];
    int n = snprintf(body, sizeof body, "{\"room\":\"%s\",\"id\":\"%lld\",\"data\":\"%lld:\"}",
                     room, seq, seq);
    srt_buf_appendf(out,
                    "POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                    n, body);
}

/* Takes the complete responses at the start of in: each must be a 200
 * whose body is {"delivered":<want>}. Returns how many, or fails. */
static size_t take_responses(srt_buf *in, size_t done, long long want) {
    size_t n = 0;
    for (;;) {
        const char *p = in->data;
        const char *end = in->len ? memmem(p, in->len, "\r\n\r\n", 4) : NULL;
        if (!end) return n;
        size_t head_len = (size_t)(end - p) + 4;
        const char *cl = memmem(p, head_len, "Content-Length: ", 16);
        if (!cl) fail_msg("response %zu has no Content-Length: %.*s", done + n, (int)head_len, p);
        size_t body_len = strtoul(cl + 16, NULL, 10);
        if (in->len < head_len + body_len) return n;
        if (strncmp(p, "HTTP/1.1 200 ", 13) != 0)
            fail_msg("response %zu is not a 200: %.*s", done + n, (int)(head_len + body_len), p);
        char want_body[64];
        snprintf(want_body, sizeof want_body, "{\"delivered\":%lld}\n", want);
        if (body_len != strlen(want_body) || memcmp(p + head_len, want_body, body_len) != 0)
            fail_msg("response %zu: body %.*s, expected %s", done + n, (int)body_len, p + head_len,
                     want_body);
        srt_buf_consume(in, head_len + body_len);
        n++;
    }
}

static void test_flood_answered_in_order(void **state) {
    (void)state;
    static srt_proc p;
    assert_int_equal(srt_server_start(&p, "--keepalive-timeout-ms", "300", NULL), 0);
    srt_seqset subs;
    srt_seqset_open(&subs, p.port, "/sse?room=flood", SUBSCRIBERS, 0, NULL, WAIT_MS);
    srt_check_room_members(p.port, "flood", SUBSCRIBERS, WAIT_MS);

    srt_buf out = {0};
    for (long long seq = 0; seq < FLOOD; seq++) append_publish(&out, "flood", seq);
    int fd = open_small_socket(p.port);
    size_t sent = 0, answered = 0;
    srt_buf in = {0};
    char slice[SLICE];
    bool eof = false;
    int err = 0;
    int64_t t0 = srt_now_ms(), read_from = t0 + PAUSE_MS, deadline = t0 + WAIT_MS;
    while (answered < FLOOD && !eof && srt_now_ms() < deadline) {
        int64_t now = srt_now_ms();
        bool reading = now >= read_from;
        if (reading) read_from = now + SLICE_EVERY_MS;
        struct pollfd pfd = {.fd = fd,
                             .events = (short)((sent < out.len ? POLLOUT : 0) |
                                               (reading ? POLLIN : 0))};
        poll(&pfd, 1, reading ? 0 : SLICE_EVERY_MS);
        if (sent < out.len) {
            ssize_t w = send(fd, out.data + sent, out.len - sent, MSG_NOSIGNAL);
            if (w > 0) sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                fail_msg("send after %zu of %zu bytes: %s", sent, out.len, strerror(errno));
        }
        if (reading) {
            ssize_t r = recv(fd, slice, sizeof slice, 0);
            if (r > 0) {
                srt_buf_append(&in, slice, (size_t)r);
                answered += take_responses(&in, answered, SUBSCRIBERS);
            } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                eof = true;
                err = r == 0 ? 0 : errno;
            }
        }
        srt_seqset_pump(&subs, 0);
    }
    int64_t t1 = srt_now_ms();
    if (answered != FLOOD)
        fail_msg("%zu of %d pipelined publishes answered (%zu of %zu request bytes sent) "
                 "when the connection %s after %lld ms",
                 answered, FLOOD, sent, out.len,
                 eof ? (err ? strerror(err) : "was closed by the server") : "timed out",
                 (long long)(t1 - t0));
    assert_int_equal(in.len, 0);
    printf("  %d pipelined publishes: all answered 200 in order in %lld ms (reading paused "
           "for the first %d ms)\n",
           FLOOD, (long long)(t1 - t0), PAUSE_MS);

    /* the connection still answers: at once, since its keep-alive (300 ms)
     * counts from when the last answer was written */
    srt_buf_consume(&out, out.len);
    append_publish(&out, "flood", FLOOD);
    sent = 0;
    answered = 0;
    while (answered < 1 && srt_now_ms() < deadline) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN | (sent < out.len ? POLLOUT : 0)};
        poll(&pfd, 1, 100);
        if (sent < out.len) {
            ssize_t w = send(fd, out.data + sent, out.len - sent, MSG_NOSIGNAL);
            if (w > 0) sent += (size_t)w;
        }
        ssize_t r = recv(fd, slice, sizeof slice, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            fail_msg("the connection closed after the flood was answered");
        if (r > 0) {
            srt_buf_append(&in, slice, (size_t)r);
            answered += take_responses(&in, 0, SUBSCRIBERS);
        }
    }
    assert_int_equal(answered, 1);

    /* every subscriber got every message (the flood and the one after), in
     * order, byte for byte */
    assert_int_equal(srt_seqset_wait(&subs, FLOOD, WAIT_MS), SUBSCRIBERS);
    assert_int_equal(srt_seqset_failures(&subs), 0);
    assert_int_equal(srt_seqset_ended(&subs), 0);
    for (size_t i = 0; i < SUBSCRIBERS; i++) assert_int_equal(subs.s[i].frames, FLOOD + 1);

    assert_int_equal(srt_check_stat(p.port, "slow_disconnects"), 0);
    assert_int_equal(srt_check_stat(p.port, "rejected_requests"), 0);
    close(fd);
    srt_buf_free(&in);
    srt_buf_free(&out);
    srt_seqset_close(&subs);
    srt_check_stop(&p);
}

/* True when the log of p contains needle. */
static bool log_has(const srt_proc *p, const char *needle) {
    FILE *f = fopen(p->log_path, "r");
    if (!f) return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static void test_stalled_reader_backpressured_then_closed(void **state) {
    (void)state;
    static srt_proc p;
    assert_int_equal(srt_server_start(&p, "--keepalive-timeout-ms", "300", "--request-timeout-ms",
                                      "1500", "--max-queue-bytes", "65536", NULL),
                     0);
    srt_mem idle = srt_faults_check_mem(&p, "idle", RSS_BOUND_KB);

    /* 1 MB of pipelined publishes (to an empty room), written over and over */
    srt_buf chunk = {0};
    for (long long seq = 0; chunk.len < 1024 * 1024; seq++) append_publish(&chunk, "nobody", seq);
    int fd = open_small_socket(p.port);
    long written = 0;
    size_t off = 0;
    int64_t t0 = srt_now_ms(), deadline = t0 + WAIT_MS;
    bool blocked = false;
    while (written < STALL_WRITE_CAP && srt_now_ms() < deadline) {
        ssize_t w = send(fd, chunk.data + off, chunk.len - off, MSG_NOSIGNAL);
        if (w > 0) {
            written += w;
            off = (off + (size_t)w) % chunk.len;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            fail_msg("send after %ld bytes: %s", written, strerror(errno));
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, 500) == 0) { /* half a second without room: held back */
            blocked = true;
            break;
        }
    }
    srt_mem held = srt_faults_check_mem(&p, "client not reading", RSS_BOUND_KB);
    printf("  the client could write %ld kB of requests before the server stopped reading; "
           "server growth %ld kB\n",
           written / 1024, held.hwm_kb - idle.rss_kb);
    if (!blocked || written > STALL_WRITE_BOUND)
        fail_msg("the server kept reading a client that reads no answers: %ld kB written%s",
                 written / 1024, blocked ? "" : " without ever blocking");

    /* nothing goes out to it for 1.5 s: closed, counted, logged */
    srt_faults_wait_stat(p.port, "slow_disconnects", 1, WAIT_MS);
    srt_faults_wait_stat(p.port, "connections", 1, WAIT_MS); /* /stats itself */
    assert_true(log_has(&p, "not read by the client"));
    int64_t t1 = srt_now_ms();
    printf("  closed as a stalled reader %lld ms after the flood began\n", (long long)(t1 - t0));
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, WAIT_MS), 1); /* the reset (or FIN) arrived */

    srt_check_healthy(p.port);
    close(fd);
    srt_buf_free(&chunk);
    srt_check_stop(&p);
}

/* The same with "Connection: close" on the last request: the connection
 * ends once its answers are written, and a client that reads none of them
 * must not keep it open forever either. */
static void test_ended_stalled_reader_closed(void **state) {
    (void)state;
    static srt_proc p;
    assert_int_equal(srt_server_start(&p, "--request-timeout-ms", "1000", "--max-queue-bytes",
                                      "67108864", NULL),
                     0);
    srt_buf out = {0};
    for (long long seq = 0; seq < 2 * FLOOD; seq++) append_publish(&out, "nobody", seq);
    srt_buf_appendf(&out, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    int fd = open_small_socket(p.port);
    size_t sent = 0;
    int64_t deadline = srt_now_ms() + WAIT_MS;
    while (sent < out.len && srt_now_ms() < deadline) {
        ssize_t w = send(fd, out.data + sent, out.len - sent, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            fail_msg("send after %zu of %zu bytes: %s", sent, out.len, strerror(errno));
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        poll(&pfd, 1, 100);
    }
    assert_int_equal(sent, out.len);
    int64_t t0 = srt_now_ms();
    srt_faults_wait_stat(p.port, "slow_disconnects", 1, WAIT_MS);
    srt_faults_wait_stat(p.port, "connections", 1, WAIT_MS); /* /stats itself */
    assert_true(log_has(&p, "not read by the client"));
    printf("  an ended connection whose client reads nothing closed %lld ms after its last "
           "request was sent\n",
           (long long)(srt_now_ms() - t0));
    srt_check_healthy(p.port);
    close(fd);
    srt_buf_free(&out);
    srt_check_stop(&p);
}

/* The integer member `key` of the /stats object member `obj`. */
static long long stats_in(int port, const char *obj, const char *key) {
    srt_response r;
    assert_int_equal(srt_http_get(port, "/stats", &r), 0);
    srt_check_status(&r, 200);
    const char *val;
    size_t vlen;
    assert_true(srt_json_member(r.body, r.body_len, obj, &val, &vlen));
    char *sub = strndup(val, vlen);
    long long v = -1;
    assert_true(sub && srt_json_int(sub, key, &v));
    free(sub);
    srt_response_free(&r);
    return v;
}

enum { STALLED = 50, STALLED_REQUESTS = 2000, BUDGET = 1024 * 1024 };

/* Issue #18, finding 6: many clients that pipeline GET /stats and never
 * read. Each may queue up to --max-queue-bytes (1 MiB) of answers, so 50
 * of them used to pin 50 MiB; with --max-http-buffer-bytes 1 MiB they stop
 * together near the budget: the server's own accounting (/stats
 * limits.http_buffer_peak_bytes) stays under the budget plus, per
 * connection, one answer and one read held (64 KiB). Meanwhile other
 * clients are served; once the stalled readers are closed the accounting
 * is back at 0. */
static void test_stalled_readers_share_one_budget(void **state) {
    (void)state;
    static srt_proc p;
    char budget[32];
    snprintf(budget, sizeof budget, "%d", BUDGET);
    assert_int_equal(srt_server_start(&p, "--max-http-buffer-bytes", budget, "--request-timeout-ms",
                                      "3000", NULL),
                     0);
    srt_mem idle = srt_faults_mem(&p);
    srt_buf chunk = {0};
    for (int i = 0; i < STALLED_REQUESTS; i++)
        srt_buf_appendf(&chunk, "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n");
    int fds[STALLED];
    size_t sent[STALLED] = {0};
    for (int k = 0; k < STALLED; k++) fds[k] = open_small_socket(p.port);
    /* write until every client is done or held back (no room for 500 ms) */
    int64_t deadline = srt_now_ms() + WAIT_MS;
    for (bool progress = true; progress && srt_now_ms() < deadline;) {
        progress = false;
        for (int k = 0; k < STALLED; k++) {
            if (sent[k] == chunk.len) continue;
            ssize_t w = send(fds[k], chunk.data + sent[k], chunk.len - sent[k], MSG_NOSIGNAL);
            if (w > 0) {
                sent[k] += (size_t)w;
                progress = true;
            } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                fail_msg("send: %s", strerror(errno));
            }
        }
        if (!progress) { /* wait for room on any of them */
            struct pollfd pfd[STALLED];
            int n = 0;
            for (int k = 0; k < STALLED; k++)
                if (sent[k] < chunk.len)
                    pfd[n++] = (struct pollfd){.fd = fds[k], .events = POLLOUT};
            progress = n > 0 && poll(pfd, (nfds_t)n, 500) > 0;
        }
    }
    /* the server held them back, yet answers a newcomer */
    srt_check_healthy(p.port);
    srt_mem held = srt_faults_mem(&p);
    long long pinned = stats_in(p.port, "limits", "http_buffer_bytes");
    long long refused = stats_in(p.port, "refused", "http_buffer");
    /* the stalled readers are closed after the request timeout */
    srt_faults_wait_stat(p.port, "slow_disconnects", STALLED, WAIT_MS);
    srt_faults_wait_stat(p.port, "connections", 1, WAIT_MS);
    long long peak = stats_in(p.port, "limits", "http_buffer_peak_bytes");
    long long after = stats_in(p.port, "limits", "http_buffer_bytes");
    printf("  %d stalled readers: %lld bytes pinned while held (peak %lld, budget %d), held back "
           "%lld times; server RSS %ld -> %ld kB\n",
           STALLED, pinned, peak, BUDGET, refused, idle.rss_kb, held.rss_kb);
    long long bound = BUDGET + (long long)STALLED * (64 * 1024 + 16 * 1024);
    if (peak > bound)
        fail_msg("HTTP connections pinned %lld bytes, over the budget's bound %lld", peak, bound);
    assert_true(refused > 0);
    assert_true(peak > BUDGET); /* the budget was reached: the test did test it */
    assert_int_equal(after, 0);
    for (int k = 0; k < STALLED; k++) close(fds[k]);
    srt_buf_free(&chunk);
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_flood_answered_in_order, srt_teardown_servers),
        cmocka_unit_test_teardown(test_stalled_reader_backpressured_then_closed,
                                  srt_teardown_servers),
        cmocka_unit_test_teardown(test_ended_stalled_reader_closed, srt_teardown_servers),
        cmocka_unit_test_teardown(test_stalled_readers_share_one_budget, srt_teardown_servers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
