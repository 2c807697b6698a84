/* SPDX-License-Identifier: MIT */
/*
 * test_gap_chaos.c: the scenario of issue #19, scaled to a small machine:
 * two nodes, 60 clients each in 3 of 10 rooms, a publisher numbering every
 * message per room (40 a second, retrying each until it is answered 200),
 * and chaos: Redis killed with SIGKILL and restarted at once (no
 * persistence; three times, the race the issue saw in 3 of 5 runs), Redis
 * frozen for 3 s (SIGSTOP), node B killed with SIGKILL and started again,
 * and in cluster mode masters killed (their replicas promoted).
 *
 * Clients behave as a browser would: a stream that ends is reopened at
 * once, on the other node when one is down, with Last-Event-ID (history
 * on). Every client checks every message of its rooms: per room the
 * numbers come in order, each once (a publisher retry may repeat one: the
 * same number twice in a row is allowed), and a number skipped must be
 * announced by a reset or gap event before it, or by the client's own
 * reconnection when history is off (it knows it was away). A skip without
 * that is a silent gap: the test fails. At the end every client must have
 * the last number of each of its rooms.
 *
 * Per chaos event the time from Redis's return (or the failover) to the
 * last stream filled, reset or told, as the nodes' /stats "recovery"
 * reports it, is printed.
 *
 * Modes: history in Redis, history off, and Redis Cluster (history off:
 * cluster mode has no shared history).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "srt_check.h"
#include "srt_cluster.h"
#include "srt_json.h"
#include "srt_nodes.h"

#define N_ROOMS 10
#define N_CLIENTS 60
#define RATE 40
#define WAIT_MS 20000

typedef enum { MODE_HISTORY, MODE_NO_HISTORY, MODE_CLUSTER } chaos_mode;

static srt_proc nodes[2];
static srt_redis *redis;
static srt_cluster *cluster;

/* ---- the publisher ------------------------------------------------------- */

typedef struct publisher {
    pthread_t thread;
    atomic_int stop;
    atomic_int ports[2];         /* publish to ports[0], else ports[1] (0: down) */
    int alternate;               /* history on: alternate the nodes */
    atomic_llong count[N_ROOMS]; /* numbers answered 200 so far, per room */
    atomic_llong total, retries;
} publisher;

static publisher pub;

static void *publish_loop(void *ud) {
    publisher *p = ud;
    int64_t next = srt_now_ms();
    long long seq = 0;
    while (!atomic_load(&p->stop)) {
        int room = (int)(seq % N_ROOMS);
        long long n = atomic_load(&p->count[room]) + 1;
        char body[128];
        snprintf(body, sizeof body, "{\"room\":\"c%d\",\"data\":{\"r\":%d,\"n\":%lld}}", room, room,
                 n);
        int which = p->alternate ? (int)(seq % 2) : 0;
        for (int attempt = 0; !atomic_load(&p->stop); attempt++) {
            int port = atomic_load(&p->ports[(which + attempt) % 2]);
            srt_response r;
            int ok = port &&
                     srt_http_request_ex(port, "POST", "/publish",
                                         (const char *const[]){"Content-Type: application/json",
                                                               NULL},
                                         body, strlen(body), &r, 5000) == 0;
            int status = ok ? r.status : -1;
            if (ok) srt_response_free(&r);
            if (status == 200) {
                atomic_store(&p->count[room], n);
                atomic_fetch_add(&p->total, 1);
                break;
            }
            atomic_fetch_add(&p->retries, 1);
            srt_sleep_ms(10);
        }
        seq++;
        next += 1000 / RATE;
        int64_t now = srt_now_ms();
        if (next > now) srt_sleep_ms((int)(next - now));
        else next = now; /* fell behind during an outage: no burst */
    }
    return NULL;
}

/* ---- the clients ----------------------------------------------------------- */

typedef struct client {
    int fd;   /* -1: to reopen */
    int node; /* 0 or 1: where it is (or goes) */
    bool head_done;
    srt_buf in;
    int rooms[3];
    long long last[N_ROOMS]; /* per room the last number seen, 0: none yet */
    bool excused[N_ROOMS];   /* a reset/gap/reconnection came since */
    char last_id[64];
    long long frames, dups, resets, gaps, reopens;
} client;

static client clients[N_CLIENTS];
static long long silent_gaps, reorders;
static char first_error[512];

static int stream_open(client *c, int port, bool with_last_id) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    char req[512], hdr[128] = "";
    if (with_last_id && c->last_id[0])
        snprintf(hdr, sizeof hdr, "Last-Event-ID: %s\r\n", c->last_id);
    int n = snprintf(req, sizeof req,
                     "GET /sse?room=c%d&room=c%d&room=c%d HTTP/1.1\r\nHost: t\r\n%s\r\n",
                     c->rooms[0], c->rooms[1], c->rooms[2], hdr);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void note_error(const char *fmt, ...) {
    if (first_error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(first_error, sizeof first_error, fmt, ap);
    va_end(ap);
}

static void excuse_all(client *c) {
    for (int i = 0; i < 3; i++) c->excused[c->rooms[i]] = true;
}

/* One complete frame (without its blank line). */
static void on_frame(client *c, size_t idx, char *frame) {
    char *id = NULL, *event = NULL, *data = NULL;
    for (char *line = strtok(frame, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "id: ", 4) == 0) id = line + 4;
        else if (strncmp(line, "event: ", 7) == 0) event = line + 7;
        else if (strncmp(line, "data: ", 6) == 0) data = line + 6;
    }
    if (id && strlen(id) < sizeof c->last_id) snprintf(c->last_id, sizeof c->last_id, "%s", id);
    if (event && (strcmp(event, "reset") == 0 || strcmp(event, "gap") == 0)) {
        if (event[0] == 'r') c->resets++;
        else c->gaps++;
        excuse_all(c);
        return;
    }
    if (!data) return; /* a comment (heartbeat) */
    int room;
    long long n;
    if (sscanf(data, "{\"r\":%d,\"n\":%lld}", &room, &n) != 2 || room < 0 || room >= N_ROOMS) {
        note_error("client %zu: unexpected data %s", idx, data);
        reorders++;
        return;
    }
    c->frames++;
    long long last = c->last[room];
    if (last && n == last) {
        c->dups++; /* a publisher retry */
    } else if (last && n < last) {
        reorders++;
        note_error("client %zu room c%d: %lld after %lld", idx, room, n, last);
    } else if (last && n > last + 1 && !c->excused[room]) {
        silent_gaps++;
        note_error("client %zu room c%d: %lld after %lld with no reset or gap event before it", idx,
                   room, n, last);
    }
    if (n > last) c->last[room] = n;
    c->excused[room] = false;
}

static void client_lost(client *c, bool history) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->head_done = false;
    c->in.len = 0;
    if (!history) excuse_all(c); /* it knows it was away */
}

static void client_reopen(client *c, bool history) {
    for (int k = 0; k < 2; k++) {
        int node = (c->node + k) % 2;
        if (!nodes[node].pid || !nodes[node].port) continue;
        int fd = stream_open(c, nodes[node].port, history);
        if (fd >= 0) {
            c->fd = fd;
            c->node = node;
            c->reopens++;
            return;
        }
    }
}

/* Reads what arrived on every stream for up to ms; reopens lost ones. */
static void pump(int ms, bool history) {
    int64_t end = srt_now_ms() + ms;
    do {
        struct pollfd pfd[N_CLIENTS];
        for (int i = 0; i < N_CLIENTS; i++) {
            if (clients[i].fd < 0) client_reopen(&clients[i], history);
            pfd[i] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
        }
        int left = srt_ms_left(end);
        if (poll(pfd, N_CLIENTS, left < 20 ? left : 20) < 0) continue;
        for (int i = 0; i < N_CLIENTS; i++) {
            client *c = &clients[i];
            if (c->fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[16384];
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) {
                client_lost(c, history);
                continue;
            }
            srt_buf_append(&c->in, buf, (size_t)r);
            if (!c->head_done) {
                char *end_head = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
                if (!end_head) continue;
                if (strncmp(c->in.data, "HTTP/1.1 200", 12) != 0) { /* a node shutting down */
                    client_lost(c, history);
                    continue;
                }
                c->head_done = true;
                srt_buf_consume(&c->in, (size_t)(end_head + 4 - c->in.data));
            }
            char *blk;
            while (c->in.len && (blk = memmem(c->in.data, c->in.len, "\n\n", 2))) {
                size_t flen = (size_t)(blk - c->in.data);
                char *frame = strndup(c->in.data, flen);
                srt_buf_consume(&c->in, flen + 2);
                on_frame(c, (size_t)i, frame);
                free(frame);
            }
        }
    } while (srt_now_ms() < end);
}

/* ---- the nodes' recovery figures --------------------------------------- */

static long long recovery_stat(int port, const char *key) {
    srt_response r;
    if (!port || srt_http_get(port, "/stats", &r) != 0) return -1;
    long long v = -1;
    const char *rec = r.status == 200 ? strstr(r.body, "\"recovery\":") : NULL;
    if (rec) {
        char *obj = strndup(rec + 11, (size_t)(strchr(rec, '}') + 1 - (rec + 11)));
        if (!srt_json_int(obj, key, &v)) v = -1;
        free(obj);
    }
    srt_response_free(&r);
    return v;
}

static int64_t wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Pumps until each live node closed a recovery round after `before`
 * (recoveries counted before the event), then prints the time from
 * back_ms to the last stream done on each. */
static void report_recovery(const char *what, const long long before[2], int64_t back_ms,
                            bool history) {
    int64_t deadline = srt_now_ms() + WAIT_MS;
    long long done_at[2] = {-1, -1};
    for (;;) {
        bool all = true;
        for (int k = 0; k < 2; k++) {
            if (done_at[k] >= 0 || !nodes[k].pid) continue;
            if (recovery_stat(nodes[k].port, "recoveries") > before[k])
                done_at[k] = recovery_stat(nodes[k].port, "last_done_at");
            else all = false;
        }
        if (all || srt_now_ms() > deadline) break;
        pump(50, history);
    }
    printf("  %-34s", what);
    for (int k = 0; k < 2; k++) {
        if (done_at[k] < 0) printf("  node %c: no recovery", 'A' + k);
        else printf("  node %c: last stream done %+lld ms", 'A' + k, done_at[k] - back_ms);
    }
    printf("\n");
}

static void recoveries_now(long long out[2]) {
    for (int k = 0; k < 2; k++)
        out[k] = nodes[k].pid ? recovery_stat(nodes[k].port, "recoveries") : 0;
}

/* ---- the scenario ------------------------------------------------------ */

/* A running node of the cluster, to ask it things. */
static srt_redis *cluster_any(void) {
    for (size_t i = 0; i < srt_cluster_size(cluster); i++)
        if (srt_redis_running(srt_cluster_node(cluster, i))) return srt_cluster_node(cluster, i);
    return NULL;
}

static void start_node(int k, chaos_mode mode) {
    static const char *const hist[] = {"--history", "1000", "--redis-canary-interval-ms", "200",
                                       NULL};
    static const char *const plain[] = {"--redis-canary-interval-ms", "200", NULL};
    const char *id = k ? "chaos-b" : "chaos-a";
    if (mode == MODE_CLUSTER)
        srt_cluster_node_start(&nodes[k], srt_cluster_seeds(cluster), id, plain);
    else srt_node_start(&nodes[k], srt_redis_url(redis), id, mode == MODE_HISTORY ? hist : plain);
    srt_node_wait_health(nodes[k].port, 200, WAIT_MS);
}

static void kill_restart_redis(bool history, int round) {
    long long before[2];
    recoveries_now(before);
    assert_int_equal(srt_redis_kill9(redis), 0);
    assert_int_equal(srt_redis_restart(redis), 0);
    int64_t back = wall_ms();
    char what[64];
    snprintf(what, sizeof what, "redis kill -9 + restart #%d:", round);
    report_recovery(what, before, back, history);
    pump(1500, history);
}

static void run_chaos(chaos_mode mode) {
    bool history = mode == MODE_HISTORY;
    if (mode == MODE_CLUSTER) {
        cluster = srt_cluster_start(3, 1);
        assert_non_null(cluster);
    } else {
        redis = srt_nodes_redis_start();
    }
    start_node(0, mode);
    start_node(1, mode);
    memset(clients, 0, sizeof clients);
    silent_gaps = reorders = 0;
    first_error[0] = '\0';
    for (int i = 0; i < N_CLIENTS; i++) {
        clients[i].fd = -1;
        clients[i].node = i % 2;
        clients[i].rooms[0] = i % N_ROOMS;
        clients[i].rooms[1] = (i + 3) % N_ROOMS;
        clients[i].rooms[2] = (i + 7) % N_ROOMS;
    }
    int64_t open_by = srt_now_ms() + WAIT_MS;
    for (int open = 0; open < N_CLIENTS && srt_now_ms() < open_by;) {
        pump(50, history);
        open = 0;
        for (int i = 0; i < N_CLIENTS; i++) open += clients[i].head_done;
    }
    for (int r = 0; r < N_ROOMS; r++) { /* every room subscribed by both nodes */
        char ch[32];
        snprintf(ch, sizeof ch, "sse:room:c%d", r);
        if (mode == MODE_CLUSTER) {
            redisReply *slot = srt_redis_command(cluster_any(), "CLUSTER KEYSLOT %s", ch);
            assert_non_null(slot);
            int m = srt_cluster_slot_master(cluster, (unsigned)slot->integer, -1);
            freeReplyObject(slot);
            int64_t by = srt_now_ms() + WAIT_MS;
            while (srt_cluster_shardnumsub(srt_cluster_node(cluster, (size_t)m), ch) != 2 &&
                   srt_now_ms() < by)
                pump(20, history);
        } else {
            srt_nodes_wait_numsub(redis, ch, 2, WAIT_MS);
        }
    }

    memset(&pub, 0, sizeof pub);
    pub.alternate = history;
    atomic_store(&pub.ports[0], nodes[0].port);
    atomic_store(&pub.ports[1], nodes[1].port);
    assert_int_equal(pthread_create(&pub.thread, NULL, publish_loop, &pub), 0);
    pump(1500, history);

    if (mode == MODE_CLUSTER) {
        for (int round = 1; round <= 2; round++) {
            long long before[2];
            recoveries_now(before);
            /* the master of a room channel's slot (rooms spread over all) */
            char ch[32];
            snprintf(ch, sizeof ch, "sse:room:c%d", round * 3);
            redisReply *slot = srt_redis_command(cluster_any(), "CLUSTER KEYSLOT %s", ch);
            assert_non_null(slot);
            int m = srt_cluster_slot_master(cluster, (unsigned)slot->integer, -1);
            freeReplyObject(slot);
            assert_true(m >= 0);
            assert_int_equal(srt_redis_kill9(srt_cluster_node(cluster, (size_t)m)), 0);
            assert_int_equal(srt_cluster_wait_settled(cluster, WAIT_MS), 0);
            int64_t back = wall_ms(); /* the replica is master: "Redis is back" */
            char what[64];
            snprintf(what, sizeof what, "cluster master killed #%d:", round);
            report_recovery(what, before, back, history);
            pump(1500, history);
        }
    } else {
        for (int round = 1; round <= 3; round++) kill_restart_redis(history, round);
        /* Redis frozen for 3 s: nothing is lost, publishes wait */
        long long before[2];
        recoveries_now(before);
        assert_int_equal(kill(srt_redis_pid(redis), SIGSTOP), 0);
        pump(3000, history);
        assert_int_equal(kill(srt_redis_pid(redis), SIGCONT), 0);
        int64_t back = wall_ms();
        pump(1500, history);
        long long after[2];
        recoveries_now(after);
        printf("  %-34s  %s\n", "redis SIGSTOP 3 s:",
               after[0] == before[0] && after[1] == before[1]
                   ? "no connection lost, nothing to recover"
                   : "a connection was rebuilt (canary)");
        if (after[0] != before[0] || after[1] != before[1])
            report_recovery("redis SIGSTOP 3 s:", before, back, history);
        /* node B killed, its clients go to A, B starts again */
        atomic_store(&pub.ports[1], 0);
        assert_int_equal(srt_proc_signal(&nodes[1], SIGKILL), 0);
        srt_proc_wait(&nodes[1], WAIT_MS);
        nodes[1].pid = 0;
        pump(1000, history);
        start_node(1, mode);
        atomic_store(&pub.ports[1], nodes[1].port);
        printf("  %-34s  clients reopened on A, B back on port %d\n",
               "node B kill -9:", nodes[1].port);
        /* the load balancer sends B's clients back to it */
        for (int i = 1; i < N_CLIENTS; i += 2) {
            client_lost(&clients[i], history);
            clients[i].node = 1;
        }
        pump(1000, history);
        /* the race again, with clients on both nodes */
        kill_restart_redis(history, 4);
    }
    pump(1000, history);
    atomic_store(&pub.stop, 1);
    pthread_join(pub.thread, NULL);
    pub.thread = 0;

    /* every client ends with the last number of each of its rooms */
    int64_t deadline = srt_now_ms() + WAIT_MS;
    int behind;
    do {
        pump(100, history);
        behind = 0;
        for (int i = 0; i < N_CLIENTS; i++)
            for (int j = 0; j < 3; j++)
                if (clients[i].last[clients[i].rooms[j]] <
                    atomic_load(&pub.count[clients[i].rooms[j]]))
                    behind++;
    } while (behind && srt_now_ms() < deadline);

    long long frames = 0, dups = 0, resets = 0, gaps = 0, reopens = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        frames += clients[i].frames;
        dups += clients[i].dups;
        resets += clients[i].resets;
        gaps += clients[i].gaps;
        reopens += clients[i].reopens - 1;
    }
    printf("  published %lld (%lld retries); clients got %lld messages, %lld repeated by a retry, "
           "%lld resets, %lld gap events, %lld reopens; silent gaps %lld, out of order %lld, "
           "behind at the end %d\n",
           (long long)atomic_load(&pub.total), (long long)atomic_load(&pub.retries), frames, dups,
           resets, gaps, reopens, silent_gaps, reorders, behind);
    if (first_error[0]) printf("  first error: %s\n", first_error);
    assert_int_equal(silent_gaps, 0);
    assert_int_equal(reorders, 0);
    assert_int_equal(behind, 0);
    if (history) assert_true(resets > 0); /* Redis lost its data: the epochs changed */
    else assert_true(gaps > 0);

    for (int i = 0; i < N_CLIENTS; i++) {
        if (clients[i].fd >= 0) close(clients[i].fd);
        srt_buf_free(&clients[i].in);
    }
    srt_check_stop(&nodes[0]);
    srt_check_stop(&nodes[1]);
    if (redis) srt_nodes_redis_free(redis);
    redis = NULL;
    srt_cluster_free(cluster);
    cluster = NULL;
}

static void test_chaos_history(void **state) {
    (void)state;
    run_chaos(MODE_HISTORY);
}

static void test_chaos_no_history(void **state) {
    (void)state;
    run_chaos(MODE_NO_HISTORY);
}

static void test_chaos_cluster(void **state) {
    (void)state;
    run_chaos(MODE_CLUSTER);
}

static int teardown(void **state) {
    if (pub.thread) {
        atomic_store(&pub.stop, 1);
        pthread_join(pub.thread, NULL);
        pub.thread = 0;
    }
    for (int i = 0; i < N_CLIENTS; i++) {
        if (clients[i].fd >= 0) close(clients[i].fd);
        clients[i].fd = -1;
        srt_buf_free(&clients[i].in);
    }
    int rc = srt_nodes_teardown(state);
    redis = NULL;
    srt_cluster_free(cluster);
    cluster = NULL;
    return rc;
}

int main(void) {
    srt_raise_nofile(4096);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_chaos_history, teardown),
        cmocka_unit_test_teardown(test_chaos_no_history, teardown),
        cmocka_unit_test_teardown(test_chaos_cluster, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
