/* SPDX-License-Identifier: MIT */
/*
 * test_resume_storm.c: 100 streams reconnect at once, to the other node,
 * while messages keep coming at 500 a second (history in a real Redis).
 *
 * A publisher thread POSTs {"room":"storm","data":<n>} to node A on a fixed
 * schedule (n = 0, 1, 2, ...; the ids are the server's). 100 streams on
 * node A read for a while, are all closed at once, and all reopen on node B
 * with the id of the last message each got. Every stream must see the data
 * values go up by exactly one from its first message to the last one
 * published: nothing missed at the seam between replay and live, nothing
 * twice, no reset.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "srt_check.h"
#include "srt_nodes.h"

/* A node with history answers a publish only once its Redis connection is
 * up (503 "redis connecting" before): wait for /healthz, which is 200 only
 * after Redis confirmed the subscriptions, so no publish races the start. */
static void node_start_ready(srt_proc *p, const char *url, const char *id,
                             const char *const *extra) {
    srt_node_start(p, url, id, extra);
    srt_node_wait_health(p->port, 200, SRT_TIMEOUT_MS);
}

#define CLIENTS 100
#define RATE 500          /* messages a second */
#define TOTAL 2500        /* messages published: 5 s */
#define SWITCH_AFTER 1500 /* ms of reading on node A before the reconnect */

typedef struct publisher {
    pthread_t thread;
    int port;
    atomic_int sent;   /* answered 200 */
    atomic_int failed; /* anything else */
} publisher;

static void *publish_loop(void *arg) {
    publisher *p = arg;
    srt_conn c;
    if (srt_conn_open(&c, p->port, SRT_TIMEOUT_MS) != 0) {
        atomic_fetch_add(&p->failed, TOTAL);
        return NULL;
    }
    int64_t start = srt_now_ms();
    for (int n = 0; n < TOTAL; n++) {
        int64_t due = start + (int64_t)n * 1000 / RATE;
        int64_t now = srt_now_ms();
        if (due > now) srt_sleep_ms((int)(due - now));
        char body[96];
        int len = snprintf(body, sizeof body, "{\"room\":\"storm\",\"data\":%d}", n);
        const char *headers[] = {"Content-Type: application/json", NULL};
        srt_response r;
        if (srt_http_send_request(&c, "POST", "/publish", headers, body, (size_t)len,
                                  SRT_TIMEOUT_MS) != 0 ||
            srt_http_read_response(&c, &r, SRT_TIMEOUT_MS) != 0) {
            atomic_fetch_add(&p->failed, TOTAL - n);
            break;
        }
        if (r.status == 200) atomic_fetch_add(&p->sent, 1);
        else atomic_fetch_add(&p->failed, 1);
        srt_response_free(&r);
    }
    srt_conn_close(&c);
    return NULL;
}

typedef struct client {
    srt_sse s;
    char last_id[64]; /* "" before the first message */
    int first, last;  /* data values; last -1 before the first */
    int received;
    char error[160]; /* the first thing that went wrong */
} client;

static client clients[CLIENTS];

static void client_open(client *cl, int port) {
    char header[96];
    snprintf(header, sizeof header, "Last-Event-ID: %s", cl->last_id);
    const char *headers[] = {header, NULL};
    int rc = srt_sse_open_ex(&cl->s, port, "/sse?room=storm", cl->last_id[0] ? headers : NULL, NULL,
                             SRT_TIMEOUT_MS);
    assert_int_equal(rc, 0);
}

/* One event block: "id: <id>\ndata: <n>\n\n" with n = last + 1. */
static void client_take(client *cl, const char *block) {
    if (block[0] == ':') return; /* heartbeat */
    char id[64];
    int n;
    if (sscanf(block, "id: %63[^\n]\ndata: %d\n\n", id, &n) != 2) {
        if (!cl->error[0]) snprintf(cl->error, sizeof cl->error, "unexpected block: %.100s", block);
        return;
    }
    if (cl->last >= 0 && n != cl->last + 1 && !cl->error[0])
        snprintf(cl->error, sizeof cl->error, "got %d after %d (%s)", n, cl->last,
                 n <= cl->last ? "duplicate" : "gap");
    if (cl->last < 0) cl->first = n;
    cl->last = n;
    cl->received++;
    snprintf(cl->last_id, sizeof cl->last_id, "%s", id);
}

/* Reads every stream until `until` returns true or the deadline. */
static int read_all(int (*until)(void *), void *ud, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    struct pollfd pfd[CLIENTS];
    while (!until(ud)) {
        if (srt_now_ms() > deadline) return -1;
        for (int i = 0; i < CLIENTS; i++) pfd[i] = (struct pollfd){clients[i].s.conn.fd, POLLIN, 0};
        /* blocks already buffered (the head's read may have taken some) */
        for (int i = 0; i < CLIENTS; i++) {
            char *block;
            while (clients[i].s.conn.in.len &&
                   memmem(clients[i].s.conn.in.data, clients[i].s.conn.in.len, "\n\n", 2) &&
                   srt_sse_next(&clients[i].s, &block, NULL, 0) == 0) {
                client_take(&clients[i], block);
                free(block);
            }
        }
        if (poll(pfd, CLIENTS, 20) <= 0) continue;
        for (int i = 0; i < CLIENTS; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char *block;
            int rc;
            while ((rc = srt_sse_next(&clients[i].s, &block, NULL, 0)) == 0) {
                client_take(&clients[i], block);
                free(block);
            }
            if (rc == SRT_SSE_EOF && !clients[i].error[0])
                snprintf(clients[i].error, sizeof clients[i].error, "the stream ended");
        }
    }
    return 0;
}

static int elapsed(void *ud) {
    return srt_now_ms() >= *(int64_t *)ud;
}

static int all_done(void *ud) {
    (void)ud;
    for (int i = 0; i < CLIENTS; i++)
        if (clients[i].last != TOTAL - 1 && !clients[i].error[0]) return 0;
    return 1;
}

static void test_storm(void **state) {
    (void)state;
    static srt_proc a, b;
    srt_redis *r = srt_nodes_redis_start();
    const char *extra[] = {"--history", "5000", "--history-ttl-ms", "120000", NULL};
    node_start_ready(&a, srt_redis_url(r), "node-a", extra);
    node_start_ready(&b, srt_redis_url(r), "node-b", extra);
    for (int i = 0; i < CLIENTS; i++) {
        memset(&clients[i], 0, sizeof clients[i]);
        clients[i].last = -1;
        client_open(&clients[i], a.port);
    }
    srt_nodes_wait_numsub(r, "sse:room:storm", 1, SRT_TIMEOUT_MS);

    publisher pub = {.port = a.port};
    assert_int_equal(pthread_create(&pub.thread, NULL, publish_loop, &pub), 0);
    int64_t until = srt_now_ms() + SWITCH_AFTER;
    read_all(elapsed, &until, SWITCH_AFTER + 1000);
    for (int i = 0; i < CLIENTS; i++) srt_sse_close(&clients[i].s); /* all at once */
    int64_t t0 = srt_now_ms();
    for (int i = 0; i < CLIENTS; i++) client_open(&clients[i], b.port);
    fprintf(stderr, "storm: 100 streams reopened on node B in %lld ms, at message ~%d\n",
            (long long)(srt_now_ms() - t0), atomic_load(&pub.sent));
    int rc = read_all(all_done, NULL, 60000);
    pthread_join(pub.thread, NULL);
    assert_int_equal(atomic_load(&pub.failed), 0);
    assert_int_equal(atomic_load(&pub.sent), TOTAL);
    int bad = 0;
    for (int i = 0; i < CLIENTS; i++) {
        client *cl = &clients[i];
        if (cl->error[0] || cl->last != TOTAL - 1 || cl->received != TOTAL - cl->first) {
            if (bad++ < 5)
                fprintf(stderr, "client %d: %s; messages %d..%d, %d received\n", i,
                        cl->error[0] ? cl->error : "incomplete", cl->first, cl->last, cl->received);
        }
    }
    assert_int_equal(rc, 0);
    assert_int_equal(bad, 0);
    for (int i = 0; i < CLIENTS; i++) srt_sse_close(&clients[i].s);
    srt_check_stop(&a);
    srt_check_stop(&b);
    srt_nodes_redis_free(r);
}

int main(void) {
    srt_raise_nofile(4096);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_storm, srt_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
