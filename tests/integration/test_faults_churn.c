/* SPDX-License-Identifier: MIT */
/*
 * test_faults_churn.c: 10,000 stream connects and disconnects in a burst.
 *
 * A non-blocking loop keeps 128 connections in flight (from 127.0.0.2..9,
 * so the per-address limit does not refuse them) and opens 10,000, each
 * ending one of six ways: after its 200 stream head with a FIN, or with a
 * RST, or (joining two rooms) with a FIN; or before any answer: right after
 * its whole request (FIN), in the middle of its request (RST), or right
 * after connecting. Meanwhile a healthy subscriber, read by the same loop,
 * receives 100 messages a second. Checked: every connection that waited
 * got a 200 stream head; afterwards /stats shows only the subscriber, then,
 * once it is closed too, 0 streams and 0 rooms; the server's RSS at the end
 * is within a bound of its RSS before the burst, and its peak under a
 * bound; the subscriber missed nothing; the server still opens streams and
 * delivers to them, answers /healthz and exits 0 on SIGTERM.
 */
#include "srt_faults.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    CONNECTS = 10000,
    IN_FLIGHT = 128,
    SOURCES = 8, /* 127.0.0.2 .. 127.0.0.9 */
    RATE = 100,  /* the healthy subscriber's messages a second */
    ROOMS = 64,  /* the burst spreads over burst-0 .. burst-63 */
};

/* How a burst connection ends. */
enum {
    AFTER_HEAD_FIN,
    AFTER_HEAD_RST,
    AFTER_HEAD_TWO_ROOMS,
    AFTER_REQUEST_FIN,
    MID_REQUEST_RST,
    AFTER_CONNECT_FIN,
    ENDINGS
};

#define WAIT_MS SRT_BY_BUILD(15000, 45000)
/* Measured: peak 4.1 MB and growth 0.35 MB in a release build; peak 38 MB
 * and growth 25 MB with ASan, whose quarantine keeps freed blocks for a
 * while. The bounds allow 4-20x that. */
#define RSS_BOUND_KB SRT_BY_BUILD(24L * 1024, 160L * 1024)
#define GROWTH_BOUND_KB SRT_BY_BUILD(8L * 1024, 96L * 1024)

typedef struct slot {
    int fd;     /* -1: free */
    size_t idx; /* the connection's number */
    int state;  /* 0 connecting, 1 waiting for the head */
    char head[1024];
    size_t head_len;
} slot;

typedef struct burst {
    int port;
    size_t started, finished, heads;
    size_t refused; /* a head other than 200 */
    char first_refusal[200];
} burst;

static int burst_connect(size_t i, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + (uint32_t)(i % SOURCES));
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0 ||
        (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void slot_end(burst *b, slot *s, bool reset) {
    if (reset) srt_faults_reset_fd(s->fd);
    else close(s->fd);
    s->fd = -1;
    b->finished++;
}

/* The socket is connected: send (some of) the request, or end at once. */
static void slot_connected(burst *b, slot *s) {
    int ending = (int)(s->idx % ENDINGS);
    if (ending == AFTER_CONNECT_FIN) {
        slot_end(b, s, false);
        return;
    }
    char req[160];
    int len = snprintf(req, sizeof req,
                       "GET /sse?room=burst-%zu%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                       s->idx % ROOMS, ending == AFTER_HEAD_TWO_ROOMS ? "&room=shared" : "");
    if (ending == MID_REQUEST_RST) len /= 2;
    if (send(s->fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
        slot_end(b, s, false); /* counted as finished; a 200 head was not awaited */
        return;
    }
    if (ending == AFTER_REQUEST_FIN || ending == MID_REQUEST_RST) {
        slot_end(b, s, ending == MID_REQUEST_RST);
        return;
    }
    s->state = 1;
}

static void slot_readable(burst *b, slot *s) {
    ssize_t n = recv(s->fd, s->head + s->head_len, sizeof s->head - 1 - s->head_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n > 0) {
        s->head_len += (size_t)n;
        s->head[s->head_len] = '\0';
        if (!strstr(s->head, "\r\n\r\n") && s->head_len < sizeof s->head - 1) return;
    }
    if (strncmp(s->head, "HTTP/1.1 200 ", 13) == 0 && strstr(s->head, "\r\n\r\n")) {
        b->heads++;
    } else {
        if (!b->refused++)
            snprintf(b->first_refusal, sizeof b->first_refusal, "connection %zu: %.120s%s", s->idx,
                     s->head_len ? s->head : "closed without an answer", n < 0 ? " (reset)" : "");
    }
    slot_end(b, s, s->idx % ENDINGS == AFTER_HEAD_RST);
}

/* Runs the burst, pumping `sub` between polls. Fails the test on a connect
 * error or when it does not finish within timeout_ms. */
static void run_burst(burst *b, srt_seqset *sub, int timeout_ms) {
    static slot slots[IN_FLIGHT];
    struct pollfd pfd[IN_FLIGHT];
    for (size_t k = 0; k < IN_FLIGHT; k++) slots[k].fd = -1;
    int64_t deadline = srt_now_ms() + timeout_ms;
    while (b->finished < CONNECTS) {
        for (size_t k = 0; k < IN_FLIGHT; k++) {
            slot *s = &slots[k];
            if (s->fd < 0 && b->started < CONNECTS) {
                memset(s, 0, sizeof *s);
                s->idx = b->started++;
                s->fd = burst_connect(s->idx, b->port);
                if (s->fd < 0) fail_msg("burst connection %zu: %s", s->idx, strerror(errno));
            }
            pfd[k].fd = s->fd;
            pfd[k].events = s->state == 0 ? POLLOUT : POLLIN;
            pfd[k].revents = 0;
        }
        if (srt_now_ms() >= deadline)
            fail_msg("the burst finished %zu of %d connections in %d ms", b->finished, CONNECTS,
                     timeout_ms);
        if (poll(pfd, IN_FLIGHT, 100) > 0) {
            for (size_t k = 0; k < IN_FLIGHT; k++) {
                slot *s = &slots[k];
                if (s->fd < 0 || !pfd[k].revents) continue;
                if (s->state == 0) {
                    int soerr = 0;
                    socklen_t sl = sizeof soerr;
                    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                    if (soerr) fail_msg("burst connection %zu: %s", s->idx, strerror(soerr));
                    slot_connected(b, s);
                } else {
                    slot_readable(b, s);
                }
            }
        }
        srt_seqset_pump(sub, 0);
    }
}

static void test_connect_disconnect_burst(void **state) {
    (void)state;
    static srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_raise_nofile(IN_FLIGHT + 512);

    srt_seqset sub;
    srt_seqset_open(&sub, p.port, "/sse?room=steady", 1, 0, NULL, WAIT_MS);
    static srt_pacer feed;
    srt_pacer_start_padded(&feed, p.port, "steady", RATE, 0, 100000);
    /* a moment of steady traffic, so the baseline includes serving it */
    int64_t warm = srt_now_ms() + 300;
    while (srt_now_ms() < warm) srt_seqset_pump(&sub, 20);
    srt_mem base = srt_faults_check_mem(&p, "before the burst", RSS_BOUND_KB);

    burst b = {.port = p.port};
    int64_t t0 = srt_now_ms();
    run_burst(&b, &sub, WAIT_MS * 4);
    int64_t t1 = srt_now_ms();
    size_t waited = 0;
    for (size_t i = 0; i < CONNECTS; i++) waited += i % ENDINGS <= AFTER_HEAD_TWO_ROOMS;
    printf("  %d connects and disconnects in %lld ms (%.0f a second); %zu of the %zu that "
           "waited for it got a 200 stream head\n",
           CONNECTS, (long long)(t1 - t0), CONNECTS * 1000.0 / (double)(t1 - t0 + 1), b.heads,
           waited);
    if (b.refused)
        fail_msg("%zu burst connections were not answered 200: %s", b.refused, b.first_refusal);
    assert_int_equal(b.heads, waited);

    /* the server let go of all of them; only the subscriber is left */
    srt_faults_wait_stat(p.port, "streams", 1, WAIT_MS);
    srt_faults_wait_stat(p.port, "rooms", 1, WAIT_MS);
    long long total = srt_check_stat(p.port, "streams_total");
    printf("  streams opened in all: %lld\n", total);
    assert_true(total >= (long long)waited + 1);

    /* the subscriber missed nothing */
    int64_t more = srt_now_ms() + 300;
    while (srt_now_ms() < more) srt_seqset_pump(&sub, 20);
    srt_pacer_stop(&feed);
    size_t published = srt_pacer_count(&feed);
    srt_pacer_check(&feed, "publisher", 1, 1);
    assert_int_equal(srt_seqset_wait(&sub, (long long)published - 1, WAIT_MS), 1);
    assert_int_equal(srt_seqset_failures(&sub), 0);
    assert_int_equal(sub.s[0].frames, (long long)published);
    printf("  the subscriber received all %zu messages in order\n", published);
    srt_seqset_close(&sub);
    srt_faults_wait_stat(p.port, "streams", 0, WAIT_MS);
    srt_faults_wait_stat(p.port, "rooms", 0, WAIT_MS);
    srt_faults_wait_stat(p.port, "connections", 1, WAIT_MS); /* this request's */

    srt_mem end = srt_faults_check_mem(&p, "after the burst", RSS_BOUND_KB);
    printf("  RSS growth over the burst: %ld kB (bound %ld kB)\n", end.rss_kb - base.rss_kb,
           GROWTH_BOUND_KB);
    assert_true(end.rss_kb - base.rss_kb <= GROWTH_BOUND_KB);

    /* still serving */
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=burst-7&room=shared");
    srt_check_publish_delivered(p.port, "{\"rooms\":[\"burst-7\",\"shared\"],\"data\":\"after\"}",
                                1);
    srt_check_frame(&s, "data: \"after\"\n\n");
    srt_sse_close(&s);
    srt_check_healthy(p.port);
    srt_pacer_free(&feed);
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_connect_disconnect_burst, srt_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
