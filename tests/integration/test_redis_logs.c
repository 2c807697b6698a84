/* SPDX-License-Identifier: MIT */
/*
 * test_redis_logs.c: failures that speak (issue #17 point 4), against the
 * real binary with JSON logs and a real redis-server.
 *
 * 1. Redis killed with SIGKILL, retried while down (waited for as debug
 *    "redis attempt failed" lines), restarted on the same port: the JSON
 *    log holds "redis lost" once, "redis connected ... again" once and
 *    "redis resubscribed" once, each a valid JSON line.
 * 2. Redis wedged with CLIENT PAUSE: "redis canary timeout" once.
 * 3. A wrong password (redis-server --requirepass): "redis auth refused"
 *    with Redis's reason, once however many times it retries.
 * 4. RLIMIT_NOFILE lowered for the server (prlimit on its pid): clients
 *    over the limit make accept fail with EMFILE; it is counted in /stats
 *    and /metrics and logged once per rate window (10 s), the connections
 *    waiting are closed (no client hangs) and the server keeps serving.
 * 5. Listen errors name their cause (address not on this host, in use).
 * 6. A refused request's JSON line carries status, method, path, client
 *    (the address a trusted proxy forwarded), conn and ms as fields.
 * 7. Cluster mode (a real 3-master Redis Cluster): each shard's
 *    transitions are logged once each and name the shard: the master
 *    owning a room killed and restarted gives one "redis lost: shard
 *    <addr>", one "connected ... again" and one "resubscribed" for it and
 *    nothing for the others; a wedged master (CLIENT PAUSE) one "redis
 *    canary timeout: shard <addr>". (Auth refused is the same code as in
 *    classic mode, tested in 3.)
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "redis/slot.h"
#include "srt_check.h"
#include "srt_cluster.h"
#include "srt_http.h"
#include "srt_json.h"
#include "srt_proc.h"
#include "srt_redis.h"
#include "srt_sse.h"
#include "srt_util.h"

#define WAIT_MS 15000

static srt_redis *redis;

static srt_cluster *cluster;

static int teardown(void **state) {
    srt_teardown_servers(state);
    if (redis) {
        srt_redis_stop(redis);
        srt_redis_free(redis);
        redis = NULL;
    }
    if (cluster) srt_cluster_free(cluster);
    cluster = NULL;
    return 0;
}

/* Lines of the server's JSON log whose "msg" starts with prefix; every
 * line starting with '{' must be valid JSON. */
static int count_logged(const srt_proc *p, const char *prefix) {
    FILE *f = fopen(p->log_path, "r");
    if (!f) return -1;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] != '{') continue;
        if (!srt_json_valid(line, strlen(line))) fail_msg("not a JSON line: %s", line);
        char *msg = srt_json_string(line, "msg");
        if (msg && strncmp(msg, prefix, strlen(prefix)) == 0) n++;
        free(msg);
    }
    fclose(f);
    return n;
}

/* The first logged line whose msg starts with prefix (malloc'd), or NULL. */
static char *find_logged(const srt_proc *p, const char *prefix) {
    FILE *f = fopen(p->log_path, "r");
    if (!f) return NULL;
    char line[4096];
    char *found = NULL;
    while (!found && fgets(line, sizeof line, f)) {
        if (line[0] != '{') continue;
        char *msg = srt_json_string(line, "msg");
        if (msg && strncmp(msg, prefix, strlen(prefix)) == 0) found = strdup(line);
        free(msg);
    }
    fclose(f);
    return found;
}

static void wait_logged(const srt_proc *p, const char *prefix, int at_least) {
    int64_t deadline = srt_now_ms() + WAIT_MS;
    while (count_logged(p, prefix) < at_least) {
        if (srt_ms_left(deadline) <= 0) {
            srt_proc_dump_log(p, 4000);
            fail_msg("no %d log lines \"%s...\" within %d ms", at_least, prefix, WAIT_MS);
        }
        srt_sleep_ms(20);
    }
}

static void test_restart_logged_once_each(void **state) {
    (void)state;
    redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--redis", srt_redis_url(redis), "--log-format", "json",
                                      "--log-level", "debug", NULL),
                     0);
    wait_logged(&p, "redis connected", 1);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=logs");
    srt_check_room_members(p.port, "logs", 1, WAIT_MS);
    assert_int_equal(srt_redis_kill9(redis), 0);
    wait_logged(&p, "redis lost", 1);
    wait_logged(&p, "redis attempt failed", 3); /* it retried while down */
    assert_int_equal(srt_redis_restart(redis), 0);
    wait_logged(&p, "redis resubscribed", 1);
    assert_int_equal(count_logged(&p, "redis lost"), 1);
    assert_int_equal(count_logged(&p, "redis connected"), 2); /* at start, and again */
    assert_int_equal(count_logged(&p, "redis resubscribed"), 1);
    assert_int_equal(count_logged(&p, "redis unreachable"), 0);
    assert_int_equal(count_logged(&p, "redis auth refused"), 0);
    char *lost = find_logged(&p, "redis lost");
    assert_non_null(strstr(lost, "connection lost")); /* the reason */
    assert_non_null(strstr(lost, "\"level\":\"warn\""));
    free(lost);
    char *resub = find_logged(&p, "redis resubscribed");
    assert_non_null(strstr(resub, "redis resubscribed: 2 channels")); /* the room and the canary */
    free(resub);
    srt_sse_close(&s);
    srt_check_stop(&p);
}

static void test_canary_timeout_logged_once(void **state) {
    (void)state;
    redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--redis", srt_redis_url(redis), "--log-format", "json",
                                      "--redis-canary-interval-ms", "200",
                                      "--redis-canary-timeout-ms", "1000", NULL),
                     0);
    wait_logged(&p, "redis connected", 1);
    /* the canary runs once its channel is subscribed, which "connected"
     * does not wait for: a pause before that stalls the subscription, not
     * a probe. A second probe means the first came back. */
    int64_t deadline = srt_now_ms() + 15000;
    while (srt_metric(p.port, "sserooms_redis_canary_probes_total") < 2) {
        if (srt_now_ms() > deadline) fail_msg("the canary sent no second probe in 15 s");
        srt_sleep_ms(20);
    }
    redisReply *rep = srt_redis_command(redis, "CLIENT PAUSE %d ALL", 3000);
    assert_non_null(rep);
    freeReplyObject(rep);
    wait_logged(&p, "redis canary timeout", 1);
    wait_logged(&p, "redis connected", 2); /* back after the pause */
    assert_int_equal(count_logged(&p, "redis canary timeout"), 1);
    assert_int_equal(count_logged(&p, "redis lost"), 0); /* said as the canary, not twice */
    char *line = find_logged(&p, "redis canary timeout");
    assert_non_null(strstr(line, "no message back within 1000 ms"));
    free(line);
    srt_check_stop(&p);
}

static void test_wrong_password_logged_with_reason(void **state) {
    (void)state;
    const char *const args[] = {"--requirepass", "right-one", NULL};
    redis = srt_redis_start(args, 0);
    assert_non_null(redis);
    char url[256];
    snprintf(url, sizeof url, "redis://:wrong-one@127.0.0.1:%d", srt_redis_port(redis));
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--redis", url, "--log-format", "json", "--log-level",
                                      "debug", NULL),
                     0);
    wait_logged(&p, "redis auth refused", 1);
    wait_logged(&p, "redis attempt failed", 3); /* retried, quietly */
    assert_int_equal(count_logged(&p, "redis auth refused"), 1);
    assert_int_equal(count_logged(&p, "redis connected"), 0);
    char *line = find_logged(&p, "redis auth refused");
    assert_true(strstr(line, "WRONGPASS") || strstr(line, "invalid password"));
    assert_non_null(strstr(line, "\"level\":\"error\""));
    assert_null(strstr(line, "wrong-one")); /* the password is never logged */
    free(line);
    srt_check_stop(&p);
}

/* A TCP connection to port, or -1. */
static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static long long stats_accept_emfile(int port) {
    srt_response r;
    if (srt_http_get(port, "/stats", &r) != 0) return -1;
    long long n = -1;
    const char *v;
    size_t vlen;
    if (r.status == 200 && srt_json_member(r.body, strlen(r.body), "accept_errors", &v, &vlen)) {
        char *obj = strndup(v, vlen);
        if (!srt_json_int(obj, "emfile", &n)) n = -1;
        free(obj);
    }
    srt_response_free(&r);
    return n;
}

static void test_emfile_counted_and_rate_limited(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--log-format", "json", "--max-connections-per-addr", "0",
                                      NULL),
                     0);
    /* the server's fd limit: what it has open now plus a few */
    struct rlimit rl;
    char fd_dir[64];
    snprintf(fd_dir, sizeof fd_dir, "/proc/%d/fd", (int)p.pid);
    int open_now = 0;
    FILE *ls = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ls %s | wc -l", fd_dir);
    ls = popen(cmd, "r");
    assert_non_null(ls);
    assert_int_equal(fscanf(ls, "%d", &open_now), 1);
    pclose(ls);
    rl.rlim_cur = rl.rlim_max = (rlim_t)open_now + 6;
    assert_int_equal(prlimit(p.pid, RLIMIT_NOFILE, &rl, NULL), 0);

    enum { CLIENTS = 40 };
    int fds[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) fds[i] = connect_to(p.port);
    /* each one over the limit is accepted and closed, or refused: none hangs */
    int64_t deadline = srt_now_ms() + WAIT_MS;
    while (count_logged(&p, "accept failed") < 1 && srt_ms_left(deadline) > 0) srt_sleep_ms(20);
    /* more errors within the window: counted, not logged */
    int more[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) more[i] = connect_to(p.port);
    for (int i = 0; i < CLIENTS; i++) {
        if (fds[i] >= 0) close(fds[i]);
        if (more[i] >= 0) close(more[i]);
    }
    /* the clients are gone: fds free again, the server answers */
    long long emfile = -1;
    deadline = srt_now_ms() + WAIT_MS;
    while ((emfile = stats_accept_emfile(p.port)) < 2 && srt_ms_left(deadline) > 0)
        srt_sleep_ms(50);
    if (emfile < 2) srt_proc_dump_log(&p, 4000);
    assert_true(emfile >= 2);
    assert_int_equal(count_logged(&p, "accept failed"), 1);
    char *line = find_logged(&p, "accept failed");
    assert_non_null(strstr(line, "EMFILE") ? line : strstr(line, "emfile"));
    assert_non_null(strstr(line, "out of file descriptors"));
    free(line);
    srt_response r;
    assert_int_equal(srt_http_get(p.port, "/metrics", &r), 0);
    srt_check_status(&r, 200);
    char want[96];
    snprintf(want, sizeof want, "sserooms_accept_errors_total{reason=\"emfile\"} %lld", emfile);
    const char *at = strstr(r.body, "sserooms_accept_errors_total{reason=\"emfile\"} ");
    assert_non_null(at);
    assert_true(atoll(at + strlen("sserooms_accept_errors_total{reason=\"emfile\"} ")) >= emfile);
    srt_response_free(&r);
    srt_check_stop(&p);
}

static void test_listen_errors_name_the_cause(void **state) {
    (void)state;
    srt_run_result r;
    const char *const not_here[] = {"--host", "10.255.255.1", "--port", "0", NULL};
    srt_run(not_here, NULL, 10000, &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "is not on any interface of this host"));
    srt_run_result_free(&r);

    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", p.port);
    const char *const in_use[] = {"--host", "127.0.0.1", "--port", port, NULL};
    srt_run(in_use, NULL, 10000, &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "address in use"));
    assert_null(strstr(r.err, "I/O error"));
    srt_run_result_free(&r);
    srt_check_stop(&p);
}

static void test_refused_request_json_fields(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--log-format", "json", "--trusted-proxy", "127.0.0.1",
                                      NULL),
                     0);
    const char *const headers[] = {"X-Forwarded-For: 192.0.2.44", NULL};
    srt_response r;
    assert_int_equal(srt_http_request(p.port, "DELETE", "/nope?x=1", headers, NULL, &r), 0);
    srt_check_status(&r, 404);
    srt_response_free(&r);
    wait_logged(&p, "request refused", 1);
    char *line = find_logged(&p, "request refused");
    long long status = 0, conn = 0, ms = -1;
    assert_true(srt_json_int(line, "status", &status));
    assert_int_equal(status, 404);
    assert_true(srt_json_int(line, "conn", &conn));
    assert_true(conn > 0);
    assert_true(srt_json_int(line, "ms", &ms));
    assert_true(ms >= 0);
    char *method = srt_json_string(line, "method"), *path = srt_json_string(line, "path"),
         *client = srt_json_string(line, "client"), *msg = srt_json_string(line, "msg");
    assert_string_equal(method, "DELETE");
    assert_string_equal(path, "/nope");
    assert_string_equal(client, "192.0.2.44");
    assert_string_equal(msg, "request refused: not found"); /* the fields are not in the text */
    free(method);
    free(path);
    free(client);
    free(msg);
    free(line);
    srt_check_stop(&p);
}

/* ---- cluster mode: per shard ---------------------------------------------- */

/* The master owning room's channel: its index in the cluster, and its
 * address as the log lines name it ("127.0.0.1:<port>") in addr. */
static int owner_of_room(const char *room, char *addr, size_t cap) {
    char channel[128];
    snprintf(channel, sizeof channel, "sse:room:%s", room);
    int owner = srt_cluster_slot_master(cluster, sr_keyslot(channel, strlen(channel)), -1);
    assert_true(owner >= 0);
    snprintf(addr, cap, "127.0.0.1:%d", srt_redis_port(srt_cluster_node(cluster, (size_t)owner)));
    return owner;
}

static int count_shard(const srt_proc *p, const char *what, const char *addr) {
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s: shard %s", what, addr);
    return count_logged(p, prefix);
}

static void wait_shard(const srt_proc *p, const char *what, const char *addr, int at_least) {
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s: shard %s", what, addr);
    wait_logged(p, prefix, at_least);
}

static void test_cluster_restart_logged_per_shard(void **state) {
    (void)state;
    cluster = srt_cluster_start(3, 0);
    assert_non_null(cluster);
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--redis-cluster", srt_cluster_seeds(cluster),
                                      "--log-format", "json", "--log-level", "debug", NULL),
                     0);
    wait_logged(&p, "redis connected: shard ", 3); /* one per master */
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=logs");
    srt_check_room_members(p.port, "logs", 1, WAIT_MS);
    char addr[64];
    int owner = owner_of_room("logs", addr, sizeof addr);
    srt_redis *victim = srt_cluster_node(cluster, (size_t)owner);
    assert_int_equal(srt_redis_kill9(victim), 0);
    wait_shard(&p, "redis lost", addr, 1);
    wait_shard(&p, "redis attempt failed", addr, 3); /* it retried while down, quietly */
    assert_int_equal(srt_redis_restart(victim), 0);
    wait_shard(&p, "redis resubscribed", addr, 1);
    assert_int_equal(count_shard(&p, "redis lost", addr), 1);
    assert_int_equal(count_shard(&p, "redis connected", addr), 2); /* at start, and again */
    assert_int_equal(count_shard(&p, "redis resubscribed", addr), 1);
    assert_int_equal(count_logged(&p, "redis lost"), 1); /* the other shards said nothing */
    assert_int_equal(count_logged(&p, "redis connected"), 4);
    assert_int_equal(count_logged(&p, "redis unreachable"), 0);
    assert_int_equal(count_logged(&p, "redis auth refused"), 0);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "redis lost: shard %s: ", addr);
    char *line = find_logged(&p, prefix);
    assert_non_null(strstr(line, "connection lost")); /* the reason */
    assert_non_null(strstr(line, "\"level\":\"warn\""));
    free(line);
    snprintf(prefix, sizeof prefix, "redis connected: shard %s again after ", addr);
    assert_int_equal(count_logged(&p, prefix), 1);
    snprintf(prefix, sizeof prefix, "redis resubscribed: shard %s: 2 channels", addr);
    assert_int_equal(count_logged(&p, prefix), 1); /* the room and the shard's canary */
    srt_sse_close(&s);
    srt_check_stop(&p);
}

static void test_cluster_canary_timeout_logged_per_shard(void **state) {
    (void)state;
    cluster = srt_cluster_start(3, 0);
    assert_non_null(cluster);
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--redis-cluster", srt_cluster_seeds(cluster),
                                      "--log-format", "json", "--redis-canary-interval-ms", "200",
                                      "--redis-canary-timeout-ms", "1000", NULL),
                     0);
    wait_logged(&p, "redis connected: shard ", 3);
    char addr[64];
    int owner = owner_of_room("anything", addr, sizeof addr);
    redisReply *rep = srt_redis_command(srt_cluster_node(cluster, (size_t)owner),
                                        "CLIENT PAUSE %d ALL", 3000);
    assert_non_null(rep);
    freeReplyObject(rep);
    wait_shard(&p, "redis canary timeout", addr, 1);
    wait_shard(&p, "redis connected", addr, 2); /* back after the pause */
    assert_int_equal(count_shard(&p, "redis canary timeout", addr), 1);
    assert_int_equal(count_logged(&p, "redis canary timeout"), 1); /* that shard only */
    assert_int_equal(count_logged(&p, "redis lost"), 0); /* said as the canary, not twice */
    char prefix[128];
    snprintf(prefix, sizeof prefix, "redis canary timeout: shard %s", addr);
    char *line = find_logged(&p, prefix);
    assert_non_null(strstr(line, "no message back within 1000 ms"));
    free(line);
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_restart_logged_once_each, teardown),
        cmocka_unit_test_teardown(test_canary_timeout_logged_once, teardown),
        cmocka_unit_test_teardown(test_wrong_password_logged_with_reason, teardown),
        cmocka_unit_test_teardown(test_emfile_counted_and_rate_limited, teardown),
        cmocka_unit_test_teardown(test_listen_errors_name_the_cause, teardown),
        cmocka_unit_test_teardown(test_refused_request_json_fields, teardown),
        cmocka_unit_test_teardown(test_cluster_restart_logged_per_shard, teardown),
        cmocka_unit_test_teardown(test_cluster_canary_timeout_logged_per_shard, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
