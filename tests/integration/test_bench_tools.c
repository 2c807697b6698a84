/* SPDX-License-Identifier: MIT */
/*
 * test_bench_tools.c: the benchmark tools (bench/sseload, bench/ssepub)
 * over TLS and HTTP/2 against the real binary with --tls-cert (a CA the
 * test makes), as bench/suite.sh's S1-TLS, S1-H2, S1-seq and handshake
 * scenarios use them:
 *  - sseload over TLS HTTP/1.1 (through the bench's own TLS 1.3 client,
 *    and through OpenSSL's with BENCHTLS_OPENSSL=1) and sseload --h2 (two
 *    HTTP/2 connections of 20 streams) get every message ssepub publishes
 *    over TLS, in order, with one TLS handshake per connection;
 *  - ssepub --inflight 1 uses one connection and reports an answer time
 *    for every request (p50 <= p99 <= max, all above zero);
 *  - sseload --churn --tls-resume resumes every handshake after each
 *    slot's first (sessions kept per slot, and kept resumable), where
 *    plain --churn resumes none; both do their handshakes with the bench's
 *    own TLS 1.3 client (bench/benchtls13.c) against the server;
 *  - a shutdown right after 2 s of 1,000 broadcasts/s to 2,000 HTTP/2
 *    streams on a writer thread exits 0.
 * The tools run as child processes; the test waits for them to exit
 * (sseload --stop-after: a number of deliveries or cycles), never for a
 * time, and reads their JSON reports.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "srt_json.h"
#include "srt_proc.h"
#include "srt_tls.h"
#include "srt_util.h"

#define TOOL_TIMEOUT_MS 120000

static srt_tls_ca ca;
static srt_tls_cert cert;

/* Waits for a spawned tool to exit; its exit status, or -1 (killed) when
 * it is still running after timeout_ms. */
static int tool_wait(pid_t pid, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 || srt_ms_left(deadline) <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        srt_sleep_ms(20);
    }
}

/* Waits until a tool's ready file exists (sseload --ready-file). */
static void wait_file(const char *path, pid_t owner) {
    int64_t deadline = srt_now_ms() + TOOL_TIMEOUT_MS;
    struct stat sb;
    while (stat(path, &sb) != 0) {
        int st;
        assert_int_equal(waitpid(owner, &st, WNOHANG), 0); /* the tool still runs */
        assert_true(srt_ms_left(deadline) > 0);
        srt_sleep_ms(20);
    }
}

/* A top-level integer of a tool's JSON report. */
static long long json_num(const char *path, const char *key) {
    char *text = srt_file_read(path, NULL);
    if (!text) fail_msg("%s was not written", path);
    long long v = -1;
    if (!srt_json_int(text, key, &v)) fail_msg("no integer \"%s\" in %s: %s", key, path, text);
    free(text);
    return v;
}

static int setup(void **state) {
    (void)state;
    if (srt_tls_ca_make(&ca, "sserooms bench test CA") != 0) return -1;
    return srt_tls_cert_make(&ca, "server", "localhost", "DNS:localhost,IP:127.0.0.1", true, &cert);
}

static int teardown(void **state) {
    (void)state;
    srt_tls_ca_remove(&ca);
    return 0;
}

static void start_tls_server(srt_proc *p) {
    assert_int_equal(srt_server_start(p, "--tls-cert", cert.cert, "--tls-key", cert.key,
                                      "--heartbeat-ms", "0", "--max-connections-per-addr", "0",
                                      NULL),
                     0);
}

/* One sseload of the test below: 40 streams to `url`, over HTTP/2 (two
 * connections of 20 streams) when h2, through OpenSSL's client when
 * openssl (BENCHTLS_OPENSSL=1), stopping after 1,200 deliveries; its
 * report goes to <ca.dir>/<name>.json, its ready file to <name>.ready
 * (waited for here). */
typedef struct loader {
    const char *name;
    bool h2, openssl;
    char json[256], ready[256];
    pid_t pid;
} loader;

static void loader_start(loader *l, const char *url) {
    snprintf(l->json, sizeof(l->json), "%s/%s.json", ca.dir, l->name);
    snprintf(l->ready, sizeof(l->ready), "%s/%s.ready", ca.dir, l->name);
    const char *argv[24] = {SR_TEST_SSELOAD,
                            "--url",
                            url,
                            "--conns",
                            "40",
                            "--sources",
                            "0",
                            "--timeout",
                            "60",
                            "--duration",
                            "100000",
                            "--stop-after",
                            "1200",
                            "--json",
                            l->json,
                            "--ready-file",
                            l->ready,
                            "--quiet"};
    int n = 18;
    if (l->h2) {
        argv[n++] = "--h2";
        argv[n++] = "--streams-per-conn";
        argv[n++] = "20";
    }
    argv[n] = NULL;
    if (l->openssl) setenv("BENCHTLS_OPENSSL", "1", 1);
    l->pid = srt_cmd_spawn(argv, "/dev/null");
    unsetenv("BENCHTLS_OPENSSL");
    assert_true(l->pid > 0);
}

/* sseload over TLS HTTP/1.1 and over HTTP/2 get every message, in order */
static void test_tls_and_h2_streams(void **state) {
    (void)state;
    srt_proc p;
    start_tls_server(&p);
    char url[128], pub[128], pub_json[256];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/sse?room={room}", p.port);
    snprintf(pub, sizeof(pub), "https://127.0.0.1:%d/publish", p.port);
    snprintf(pub_json, sizeof(pub_json), "%s/pub.json", ca.dir);
    /* 40 streams each, 30 messages: 1,200 deliveries each. HTTP/1.1 through
     * the bench's own TLS 1.3 client, and through OpenSSL's, as sseload
     * uses it for a server that benchtls13 cannot complete a handshake
     * with; HTTP/2 through OpenSSL's */
    loader l[3] = {{.name = "h1"}, {.name = "h2", .h2 = true}, {.name = "h1o", .openssl = true}};
    for (int i = 0; i < 3; i++) loader_start(&l[i], url);
    for (int i = 0; i < 3; i++) wait_file(l[i].ready, l[i].pid);
    /* the pipelined window: nothing is missed however slow the machine */
    const char *pubargs[] = {
        SR_TEST_SSEPUB,   "--target", pub,      "--proto", "sserooms", "--rates", "30",
        "--step-seconds", "1",        "--json", pub_json,  "--quiet",  NULL};
    char *out = NULL;
    assert_int_equal(srt_cmd_run(pubargs, NULL, TOOL_TIMEOUT_MS, &out), 0);
    free(out);
    assert_int_equal(json_num(pub_json, "sent"), 30);
    assert_int_equal(json_num(pub_json, "ok"), 30);
    assert_int_equal(json_num(pub_json, "answers"), 30);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tool_wait(l[i].pid, TOOL_TIMEOUT_MS), 0);
        const char *j = l[i].json;
        assert_int_equal(json_num(j, "connected"), 40);
        assert_int_equal(json_num(j, "failed"), 0);
        assert_int_equal(json_num(j, "deliveries"), 1200);
        assert_int_equal(json_num(j, "gaps"), 0);
        assert_int_equal(json_num(j, "reorders"), 0);
        assert_int_equal(json_num(j, "no_h2"), 0);
        /* one handshake per TCP connection: 40 for HTTP/1.1, 2 for HTTP/2;
         * by the bench's own client for HTTP/1.1 unless told otherwise */
        assert_int_equal(json_num(j, "tls_handshakes"), l[i].h2 ? 2 : 40);
        assert_int_equal(json_num(j, "tls_lite_handshakes"), l[i].h2 || l[i].openssl ? 0 : 40);
    }
    srt_server_stop(&p);
}

/* A shutdown while HTTP/2 connections on a writer thread are behind: 2,000
 * streams on 20 TLS connections, 2 s of 1,000 broadcasts/s of 1 KB, then
 * SIGTERM at once. The writer finishes a connection's session (GOAWAY, its
 * streams ended) and lets go of it while the main loop, still ending the
 * other streams, kicks that connection again before it hears: the writer
 * drops such commands. It read the kick (a command without a frame) as an
 * HTTP/1.1 frame once let_go had cleared the slot, and the server crashed
 * (SIGSEGV, every run of this case before the fix). */
static void test_shutdown_with_h2_connections_behind(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--tls-cert", cert.cert, "--tls-key", cert.key,
                                      "--heartbeat-ms", "0", "--max-connections-per-addr", "0",
                                      "--threads", "2", NULL),
                     0);
    char url[128], pub[128], ready[256];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/sse?room={room}", p.port);
    snprintf(pub, sizeof(pub), "https://127.0.0.1:%d/publish", p.port);
    snprintf(ready, sizeof(ready), "%s/behind.ready", ca.dir);
    const char *load[] = {
        SR_TEST_SSELOAD,      "--url", url,         "--conns", "2000",       "--h2",
        "--streams-per-conn", "100",   "--timeout", "60",      "--duration", "100000",
        "--ready-file",       ready,   "--quiet",   NULL};
    pid_t l = srt_cmd_spawn(load, "/dev/null");
    assert_true(l > 0);
    wait_file(ready, l);
    const char *pubargs[] = {
        SR_TEST_SSEPUB,   "--target", pub,      "--proto", "sserooms", "--rates", "1000",
        "--step-seconds", "2",        "--size", "1000",    "--quiet",  NULL};
    char *out = NULL;
    srt_cmd_run(pubargs, NULL, TOOL_TIMEOUT_MS, &out); /* how many got through does not matter */
    free(out);
    assert_true(srt_proc_alive(&p));
    int st = srt_server_stop(&p);
    if (st != 0) srt_proc_dump_log(&p, 4000);
    assert_int_equal(st, 0);
    kill(l, SIGINT);
    tool_wait(l, TOOL_TIMEOUT_MS);
}

/* ssepub --inflight 1: one connection, an answer time for every request */
static void test_sequential_publisher(void **state) {
    (void)state;
    srt_proc p;
    start_tls_server(&p);
    char pub[128], pub_json[256];
    snprintf(pub, sizeof(pub), "https://127.0.0.1:%d/publish", p.port);
    snprintf(pub_json, sizeof(pub_json), "%s/seq.json", ca.dir);
    const char *args[] = {SR_TEST_SSEPUB,
                          "--target",
                          pub,
                          "--proto",
                          "sserooms",
                          "--rooms",
                          "4",
                          "--conns",
                          "4",
                          "--inflight",
                          "1",
                          "--rates",
                          "20",
                          "--step-seconds",
                          "1",
                          "--json",
                          pub_json,
                          "--quiet",
                          NULL};
    char *out = NULL;
    assert_int_equal(srt_cmd_run(args, NULL, TOOL_TIMEOUT_MS, &out), 0);
    free(out);
    assert_int_equal(json_num(pub_json, "conns"), 1); /* --inflight 1 means one connection */
    assert_int_equal(json_num(pub_json, "max_inflight"), 1);
    long long ok = json_num(pub_json, "ok");
    assert_true(ok > 0);
    assert_int_equal(json_num(pub_json, "errors"), 0);
    assert_int_equal(json_num(pub_json, "answers"), ok);
    long long p50 = json_num(pub_json, "answer_p50_us"), p99 = json_num(pub_json, "answer_p99_us"),
              max = json_num(pub_json, "answer_max_us");
    assert_true(p50 > 0);
    assert_true(p50 <= p99);
    assert_true(p99 <= max);
    srt_server_stop(&p);
}

/* sseload --churn over TLS: full handshakes, then resumed ones */
static void churn(int port, bool resume, const char *json) {
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/sse?room=churn", port);
    const char *args[] = {SR_TEST_SSELOAD,
                          "--churn",
                          "--url",
                          url,
                          "--conns",
                          "4",
                          "--sources",
                          "0",
                          "--timeout",
                          "60",
                          "--duration",
                          "100000",
                          "--stop-after",
                          "40",
                          "--json",
                          json,
                          "--quiet",
                          resume ? "--tls-resume" : NULL,
                          NULL};
    char *out = NULL;
    assert_int_equal(srt_cmd_run(args, NULL, TOOL_TIMEOUT_MS, &out), 0);
    free(out);
}

static void test_tls_churn_resumes(void **state) {
    (void)state;
    srt_proc p;
    start_tls_server(&p);
    char full[256], resumed[256];
    snprintf(full, sizeof(full), "%s/full.json", ca.dir);
    snprintf(resumed, sizeof(resumed), "%s/resumed.json", ca.dir);
    churn(p.port, false, full);
    assert_true(json_num(full, "tls_handshakes") >= 40);
    assert_int_equal(json_num(full, "tls_resumed"), 0);
    assert_int_equal(json_num(full, "errors"), 0);
    /* full handshakes by the bench's own TLS 1.3 client (benchtls13.c) */
    assert_int_equal(json_num(full, "tls_lite_handshakes"), json_num(full, "tls_handshakes"));
    churn(p.port, true, resumed);
    long long hs = json_num(resumed, "tls_handshakes"), res = json_num(resumed, "tls_resumed");
    assert_true(hs >= 40);
    assert_int_equal(json_num(resumed, "errors"), 0);
    assert_int_equal(json_num(resumed, "tls_lite_handshakes"), hs); /* resumed by benchtls13 too */
    /* each of the 4 slots starts with a full handshake; every later one resumes */
    if (res < hs - 4)
        fail_msg("%lld of %lld handshakes resumed, want at least %lld", res, hs, hs - 4);
    srt_server_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_tls_and_h2_streams, srt_teardown_servers),
        cmocka_unit_test_teardown(test_sequential_publisher, srt_teardown_servers),
        cmocka_unit_test_teardown(test_tls_churn_resumes, srt_teardown_servers),
        cmocka_unit_test_teardown(test_shutdown_with_h2_connections_behind, srt_teardown_servers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
