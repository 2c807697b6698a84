/* SPDX-License-Identifier: MIT */
/*
 * test_tls_server.c: sserooms with --tls-cert/--tls-key, against curl and
 * openssl s_client with a CA and certificates the test makes
 * (tests/support/srt_tls.c): SSE frames over TLS byte-identical to plain
 * HTTP (with and without writer threads), garbage instead of a
 * ClientHello, a TLS version refused, 2,000 stalled handshakes while a
 * healthy subscriber keeps receiving, a certificate reload on SIGHUP with
 * a stream kept open, session resumption with a ticket, every idle TLS 1.3
 * stream compact (OpenSSL client of the test's own on memory BIOs, its
 * request with or after its Finished); and Redis over
 * TLS (rediss://) with Debian's redis-server and the test's CA.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "srt_http.h"
#include "srt_proc.h"
#include "srt_redis.h"
#include "srt_tls.h"
#include "srt_util.h"

#define WAIT_MS 20000

static srt_tls_ca ca;
static srt_tls_cert server_cert;
static char out_dir[64];

static int group_setup(void **state) {
    (void)state;
    if (srt_tls_ca_make(&ca, "sserooms test CA") != 0) return -1;
    if (srt_tls_cert_make(&ca, "server", "first", "DNS:localhost,IP:127.0.0.1", true,
                          &server_cert) != 0)
        return -1;
    snprintf(out_dir, sizeof(out_dir), "%s", ca.dir); /* curl outputs go there too */
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    srt_tls_ca_remove(&ca);
    return 0;
}

static int start_tls(srt_proc *p, const char *threads, const char *extra1, const char *extra2) {
    return srt_server_start(p, "--tls-cert", server_cert.cert, "--tls-key", server_cert.key,
                            "--threads", threads, "--heartbeat-ms", "0",
                            extra1 ? extra1 : "--heartbeat-ms", extra1 ? extra2 : "0", NULL);
}

static void url_of(char *buf, size_t cap, int tls, int port, const char *path) {
    snprintf(buf, cap, "%s://%s:%d%s", tls ? "https" : "http", tls ? "localhost" : "127.0.0.1",
             port, path);
}

/* GET path with curl; the body (malloc'd). Not inlined: GCC 12 at -O2
 * takes the returned buffer for the address of the local `out` it was
 * read into (-Wdangling-pointer). */
__attribute__((noinline)) static char *get(int tls, int port, const char *path) {
    char url[256];
    url_of(url, sizeof(url), tls, port, path);
    const char *argv[] = {"curl", "-sS", "--cacert", ca.cert, url, NULL};
    char *out;
    int rc = srt_cmd_run(argv, NULL, WAIT_MS, &out);
    if (rc != 0) fail_msg("curl %s: %d: %s", url, rc, out);
    return out;
}

static void publish(int tls, int port, const char *json) {
    char url[256];
    url_of(url, sizeof(url), tls, port, "/publish");
    const char *argv[] = {"curl", "-sS", "--cacert", ca.cert, "-d", json, url, NULL};
    char *out;
    int rc = srt_cmd_run(argv, NULL, WAIT_MS, &out);
    if (rc != 0 || !strstr(out, "\"delivered\":")) fail_msg("publish %s: %d: %s", url, rc, out);
    free(out);
}

/* The number after "key": in the /stats JSON: the first one, or within
 * the TLS part for a key "tls.key". */
static long long stat_of(int tls, int port, const char *key) {
    char *json = get(tls, port, "/stats");
    size_t from = 0;
    if (!strncmp(key, "tls.", 4)) {
        key += 4;
        const char *part = strstr(json, "\"tls\":{");
        from = part ? (size_t)(part - json) : strlen(json);
    }
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json + from, pat);
    long long v = p ? strtoll(p + strlen(pat), NULL, 10) : -1;
    free(json);
    return v;
}

static void wait_stat(int tls, int port, const char *key, long long want) {
    int64_t deadline = srt_now_ms() + WAIT_MS;
    long long v;
    while ((v = stat_of(tls, port, key)) != want) {
        if (srt_ms_left(deadline) <= 0) fail_msg("/stats %s is %lld, not %lld", key, v, want);
        srt_sleep_ms(50);
    }
}

/* A stream read by curl into a file. */
typedef struct stream {
    pid_t pid;
    char path[128];
} stream;

static void stream_open(stream *s, int tls, int port, const char *room, const char *name) {
    char url[256], path[64];
    snprintf(path, sizeof(path), "/sse?room=%s", room);
    url_of(url, sizeof(url), tls, port, path);
    snprintf(s->path, sizeof(s->path), "%s/%s.out", out_dir, name);
    const char *argv[] = {"curl", "-sSN",  "--http1.1", "--cacert", ca.cert,
                          "-o",   s->path, url,         NULL};
    s->pid = srt_cmd_spawn(argv, "/dev/null");
    assert_true(s->pid > 0);
}

static char *stream_wait_for(stream *s, const char *text) {
    int64_t deadline = srt_now_ms() + WAIT_MS;
    for (;;) {
        char *got = srt_file_read(s->path, NULL);
        if (got && strstr(got, text)) return got;
        if (srt_ms_left(deadline) <= 0)
            fail_msg("stream %s: no '%s' in '%s'", s->path, text, got ? got : "");
        free(got);
        srt_sleep_ms(20);
    }
}

static void stream_close(stream *s) {
    srt_cmd_stop(s->pid);
    unlink(s->path);
}

static const char *const messages[] = {
    "{\"room\":\"a\",\"data\":\"hello\"}",
    "{\"room\":\"a\",\"event\":\"note\",\"id\":\"7\",\"retry\":1500,\"data\":{\"k\":[1,2,3],\"s\":\"x\\ny\"}}",
    "{\"room\":\"a\",\"data\":\"last\"}",
};

/* Everything a stream received for the three messages. */
static char *frames_over(int tls, int port, const char *name) {
    stream s;
    stream_open(&s, tls, port, "a", name);
    wait_stat(tls, port, "streams", 1);
    for (size_t i = 0; i < 3; i++) publish(tls, port, messages[i]);
    char *got = stream_wait_for(&s, "data: \"last\"\n\n");
    stream_close(&s);
    wait_stat(tls, port, "streams", 0);
    return got;
}

static void frames_identical_to_plain_http(void **state) {
    (void)state;
    srt_proc plain, tls1, tls2;
    assert_int_equal(srt_server_start(&plain, "--threads", "1", "--heartbeat-ms", "0", NULL), 0);
    assert_int_equal(start_tls(&tls1, "1", NULL, NULL), 0);
    assert_int_equal(start_tls(&tls2, "2", NULL, NULL), 0); /* a writer thread seals */
    char *want = frames_over(0, plain.port, "plain");
    char *got1 = frames_over(1, tls1.port, "tls1");
    char *got2 = frames_over(1, tls2.port, "tls2");
    assert_true(srt_bytes_equal("TLS, one thread", got1, strlen(got1), want));
    assert_true(srt_bytes_equal("TLS, writer thread", got2, strlen(got2), want));
    /* the path in use is said in /stats and /metrics */
    char *stats = get(1, tls2.port, "/stats");
    assert_non_null(
        strstr(stats,
               "\"tls\":{\"enabled\":true,\"path\":\"user\",\"kernel_tls\":\"unavailable\""));
    char *metrics = get(1, tls2.port, "/metrics");
    assert_non_null(
        strstr(metrics, "sserooms_tls_info{path=\"user\",kernel_tls=\"unavailable\"} 1\n"));
    char *plain_stats = get(0, plain.port, "/stats");
    assert_non_null(strstr(plain_stats, "\"tls\":{\"enabled\":false,\"path\":\"none\""));
    free(stats);
    free(metrics);
    free(plain_stats);
    free(want);
    free(got1);
    free(got2);
    assert_int_equal(srt_server_stop(&plain), 0);
    assert_int_equal(srt_server_stop(&tls1), 0);
    assert_int_equal(srt_server_stop(&tls2), 0);
}

static void garbage_and_old_versions_are_refused(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(start_tls(&p, "2", "--tls-min-version", "1.3"), 0);
    stream healthy;
    stream_open(&healthy, 1, p.port, "h", "healthy-garbage");
    wait_stat(1, p.port, "streams", 1);

    /* plain HTTP to the TLS port: closed, and no plaintext answer */
    srt_conn c;
    assert_int_equal(srt_conn_open(&c, p.port, WAIT_MS), 0);
    assert_int_equal(srt_conn_send_str(&c, "GET /sse?room=h HTTP/1.1\r\nHost: x\r\n\r\n", WAIT_MS),
                     0);
    assert_int_equal(srt_conn_wait_eof(&c, WAIT_MS), 0);
    srt_buf_append(&c.in, "", 1);
    assert_null(strstr(c.in.data, "HTTP/1.1"));
    srt_conn_close(&c);
    wait_stat(1, p.port, "tls.protocol", 1);

    /* a TLS 1.2-only client against --tls-min-version 1.3 */
    char url[128];
    url_of(url, sizeof(url), 1, p.port, "/healthz");
    const char *argv[] = {"curl", "-sS", "--tls-max", "1.2", "--cacert", ca.cert, url, NULL};
    char *out;
    assert_int_not_equal(srt_cmd_run(argv, NULL, WAIT_MS, &out), 0);
    free(out);
    wait_stat(1, p.port, "tls.version", 1);

    publish(1, p.port, "{\"room\":\"h\",\"data\":\"still here\"}");
    free(stream_wait_for(&healthy, "data: \"still here\"\n\n"));
    stream_close(&healthy);
    assert_int_equal(srt_server_stop(&p), 0);
}

#define STALLED 2000

static void stalled_handshakes_disturb_nobody(void **state) {
    (void)state;
    assert_true(srt_raise_nofile(STALLED + 1000) >= STALLED + 500);
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--tls-cert", server_cert.cert, "--tls-key",
                                      server_cert.key, "--threads", "2", "--heartbeat-ms", "0",
                                      "--request-timeout-ms", "4000", "--max-connections-per-addr",
                                      "0", NULL),
                     0);
    stream healthy;
    stream_open(&healthy, 1, p.port, "h", "healthy-stalled");
    wait_stat(1, p.port, "streams", 1);
    srt_conn *stalled = calloc(STALLED, sizeof(*stalled));
    for (int i = 0; i < STALLED; i++) {
        assert_int_equal(srt_conn_open(&stalled[i], p.port, WAIT_MS), 0);
        /* half begin a record and never finish it, half send nothing */
        if (i % 2) assert_int_equal(srt_conn_send(&stalled[i], "\x16\x03\x01\x02", 4, WAIT_MS), 0);
    }
    publish(1, p.port, "{\"room\":\"h\",\"data\":\"during\"}");
    free(stream_wait_for(&healthy, "data: \"during\"\n\n"));
    for (int i = 0; i < STALLED; i++) {
        assert_int_equal(srt_conn_wait_eof(&stalled[i], WAIT_MS), 0);
        srt_conn_close(&stalled[i]);
    }
    free(stalled);
    wait_stat(1, p.port, "tls.timeout", STALLED);
    publish(1, p.port, "{\"room\":\"h\",\"data\":\"after\"}");
    free(stream_wait_for(&healthy, "data: \"after\"\n\n"));
    assert_int_equal(stat_of(1, p.port, "streams"), 1);
    stream_close(&healthy);
    assert_int_equal(srt_server_stop(&p), 0);
}

/* The certificate a new connection is shown (curl -v names its subject). */
static int serves_subject(int port, const char *cn) {
    char url[128], want[64];
    url_of(url, sizeof(url), 1, port, "/healthz");
    snprintf(want, sizeof(want), "CN=%s", cn);
    const char *argv[] = {"curl", "-sSv", "--cacert", ca.cert, url, NULL};
    char *out;
    int rc = srt_cmd_run(argv, NULL, WAIT_MS, &out);
    int ok = rc == 0 && strstr(out, want) != NULL;
    if (!ok) fprintf(stderr, "curl said: %s\n", out);
    free(out);
    return ok;
}

static void sighup_reloads_the_certificate_and_keeps_streams(void **state) {
    (void)state;
    srt_tls_cert first;
    assert_int_equal(srt_tls_cert_make(&ca, "reload", "first", "DNS:localhost", true, &first), 0);
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--tls-cert", first.cert, "--tls-key", first.key,
                                      "--threads", "2", "--heartbeat-ms", "0", NULL),
                     0);
    assert_true(serves_subject(p.port, "first"));
    stream s;
    stream_open(&s, 1, p.port, "r", "reload");
    wait_stat(1, p.port, "streams", 1);

    srt_tls_cert second; /* the same file names, new contents */
    assert_int_equal(srt_tls_cert_make(&ca, "reload", "second", "DNS:localhost", true, &second), 0);
    assert_int_equal(srt_proc_signal(&p, SIGHUP), 0);
    wait_stat(1, p.port, "reloads", 1);
    assert_true(serves_subject(p.port, "second"));
    publish(1, p.port, "{\"room\":\"r\",\"data\":\"after reload\"}");
    free(stream_wait_for(&s, "data: \"after reload\"\n\n"));
    assert_int_equal(stat_of(1, p.port, "streams"), 1);

    /* a broken key: refused, counted, and the last good certificate stays */
    FILE *f = fopen(second.key, "w");
    assert_non_null(f);
    fputs("not a key\n", f);
    fclose(f);
    assert_int_equal(srt_proc_signal(&p, SIGHUP), 0);
    wait_stat(1, p.port, "reload_failures", 1);
    assert_true(serves_subject(p.port, "second"));
    stream_close(&s);
    assert_int_equal(srt_server_stop(&p), 0);
}

static void sessions_resume_with_tickets(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(start_tls(&p, "2", NULL, NULL), 0);
    char connect[64], sess[128];
    snprintf(connect, sizeof(connect), "127.0.0.1:%d", p.port);
    snprintf(sess, sizeof(sess), "%s/session.pem", out_dir);
    static const char req[] =
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    const char *first[] = {"openssl",     "s_client",  "-connect", connect,
                           "-servername", "localhost", "-CAfile",  ca.cert,
                           "-ign_eof",    "-sess_out", sess,       NULL};
    char *out;
    assert_int_equal(srt_cmd_run(first, req, WAIT_MS, &out), 0);
    assert_non_null(strstr(out, "New, TLSv1.3"));
    free(out);
    const char *again[] = {"openssl",     "s_client",  "-connect", connect,
                           "-servername", "localhost", "-CAfile",  ca.cert,
                           "-ign_eof",    "-sess_in",  sess,       NULL};
    assert_int_equal(srt_cmd_run(again, req, WAIT_MS, &out), 0);
    if (!strstr(out, "Reused, TLSv1.3")) fail_msg("not resumed: %s", out);
    free(out);
    assert_int_equal(stat_of(1, p.port, "resumed"), 1);
    /* both TLS 1.3 sessions went on without their SSL object (the /stats
     * request's own session is counted once it answered) */
    assert_true(stat_of(1, p.port, "compact_sessions") >= 2);
    char *metrics = get(1, p.port, "/metrics");
    const char *sample = strstr(metrics, "\nsserooms_tls_compact_sessions_total ");
    assert_non_null(sample);
    assert_true(strtoll(sample + strlen("\nsserooms_tls_compact_sessions_total "), NULL, 10) >= 2);
    free(metrics);
    assert_int_equal(srt_server_stop(&p), 0);
}

/* --- TLS streams of the test's own (OpenSSL on memory BIOs) ------------------ */

/* A TLS client whose every byte goes through the test: the handshake and
 * the request can leave in one send (the client Finished and the GET in
 * one segment, as sseload sends them) or in two. */
typedef struct tls_stream {
    srt_conn conn;
    SSL *ssl;
    BIO *in, *out; /* wire bytes from and to the server */
} tls_stream;

/* Sends what OpenSSL wrote. */
static void tls_stream_flush(tls_stream *s) {
    char buf[16384];
    int n;
    while ((n = BIO_read(s->out, buf, sizeof(buf))) > 0)
        assert_int_equal(srt_conn_send(&s->conn, buf, (size_t)n, WAIT_MS), 0);
}

/* Moves received wire bytes into OpenSSL (waits for some). */
static void tls_stream_fill(tls_stream *s) {
    if (!s->conn.in.len) assert_true(srt_conn_fill(&s->conn, WAIT_MS) > 0);
    assert_int_equal(BIO_write(s->in, s->conn.in.data, (int)s->conn.in.len), (int)s->conn.in.len);
    srt_buf_consume(&s->conn.in, s->conn.in.len);
}

/* Opens GET /sse?room=room over TLS 1.3 and reads the response head;
 * together: the client Finished and the request in one send. */
static void tls_stream_open(tls_stream *s, SSL_CTX *ctx, int port, const char *room,
                            bool together) {
    assert_int_equal(srt_conn_open(&s->conn, port, WAIT_MS), 0);
    s->ssl = SSL_new(ctx);
    s->in = BIO_new(BIO_s_mem());
    s->out = BIO_new(BIO_s_mem());
    assert_true(s->ssl && s->in && s->out);
    SSL_set_bio(s->ssl, s->in, s->out);
    SSL_set_tlsext_host_name(s->ssl, "localhost");
    SSL_set_connect_state(s->ssl);
    int r;
    while ((r = SSL_do_handshake(s->ssl)) != 1) {
        assert_int_equal(SSL_get_error(s->ssl, r), SSL_ERROR_WANT_READ);
        tls_stream_flush(s);
        tls_stream_fill(s);
    }
    if (!together) tls_stream_flush(s); /* the Finished alone */
    char req[128];
    int len = snprintf(req, sizeof(req), "GET /sse?room=%s HTTP/1.1\r\nHost: localhost\r\n\r\n",
                       room);
    size_t w = 0;
    assert_int_equal(SSL_write_ex(s->ssl, req, (size_t)len, &w), 1);
    tls_stream_flush(s);
    srt_buf head = {0};
    while (!head.len || !strstr(head.data, "\r\n\r\n")) {
        char buf[4096];
        size_t got = 0;
        if (SSL_read_ex(s->ssl, buf, sizeof(buf) - 1, &got) == 1) {
            srt_buf_append(&head, buf, got);
            continue;
        }
        assert_int_equal(SSL_get_error(s->ssl, 0), SSL_ERROR_WANT_READ);
        tls_stream_fill(s);
    }
    assert_true(!strncmp(head.data, "HTTP/1.1 200", 12));
    srt_buf_free(&head);
}

static void tls_stream_close(tls_stream *s) {
    SSL_free(s->ssl); /* and both BIOs */
    srt_conn_close(&s->conn);
}

#define IDLE_TLS_STREAMS 24

/* Every TLS 1.3 stream drops its SSL object once idle (tls.h: compact),
 * whether its request came with the handshake's last flight or after it;
 * the sessions were compact only when the request came alone, since an
 * SSE stream reads nothing more after its request. */
static void idle_tls_streams_compact(const char *threads) {
    srt_proc p;
    assert_int_equal(start_tls(&p, threads, NULL, NULL), 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca.cert, NULL), 1);
    tls_stream *s = calloc(IDLE_TLS_STREAMS, sizeof(*s));
    assert_non_null(s);
    for (int i = 0; i < IDLE_TLS_STREAMS; i++)
        tls_stream_open(&s[i], ctx, p.port, "idle", i % 3 != 0);
    wait_stat(1, p.port, "streams", IDLE_TLS_STREAMS);
    /* every session but the /stats request's own (compact only after its
     * answer when its request came with its Finished) */
    char *json = get(1, p.port, "/stats");
    const char *tls = strstr(json, "\"tls\":{");
    assert_non_null(tls);
    long long handshakes = strtoll(strstr(tls, "\"handshakes\":") + 13, NULL, 10);
    long long compact = strtoll(strstr(tls, "\"compact_sessions\":") + 19, NULL, 10);
    if (compact < handshakes - 1 || compact < IDLE_TLS_STREAMS)
        fail_msg("compact_sessions %lld of %lld handshakes (%d idle streams)", compact, handshakes,
                 IDLE_TLS_STREAMS);
    free(json);
    /* and compact streams still receive */
    publish(1, p.port, "{\"room\":\"idle\",\"data\":\"to all\"}");
    for (int i = 0; i < IDLE_TLS_STREAMS; i++) {
        srt_buf got = {0};
        while (!got.len || !strstr(got.data, "data: \"to all\"\n\n")) {
            char buf[4096];
            size_t n = 0;
            if (SSL_read_ex(s[i].ssl, buf, sizeof(buf), &n) == 1) {
                srt_buf_append(&got, buf, n);
                continue;
            }
            assert_int_equal(SSL_get_error(s[i].ssl, 0), SSL_ERROR_WANT_READ);
            tls_stream_fill(&s[i]);
        }
        srt_buf_free(&got);
        tls_stream_close(&s[i]);
    }
    free(s);
    SSL_CTX_free(ctx);
    assert_int_equal(srt_server_stop(&p), 0);
}

static void idle_tls_streams_all_go_compact(void **state) {
    (void)state;
    idle_tls_streams_compact("1"); /* the main loop writes */
    idle_tls_streams_compact("2"); /* handed to a writer thread */
}

/* A free loopback port (for redis-server's --tls-port). */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int log_has(const srt_proc *p, const char *text) {
    char *log = srt_file_read(p->log_path, NULL);
    int found = log && strstr(log, text);
    free(log);
    return found;
}

/* Debian's redis-server over TLS only (its plain port is srt_redis's own
 * health check), asking clients for a certificate: two nodes on rediss://
 * share a room through it; a node trusting another CA is refused, says
 * why and counts it. */
static void redis_over_tls(void **state) {
    (void)state;
    srt_tls_cert redis_cert, client_cert;
    assert_int_equal(srt_tls_cert_make(&ca, "redis", "localhost", "DNS:localhost,IP:127.0.0.1",
                                       true, &redis_cert),
                     0);
    assert_int_equal(srt_tls_cert_make(&ca, "client", "sserooms", NULL, false, &client_cert), 0);
    srt_tls_ca other;
    assert_int_equal(srt_tls_ca_make(&other, "another CA"), 0);
    char tls_port[16];
    snprintf(tls_port, sizeof(tls_port), "%d", free_port());
    const char *args[] = {"--tls-port",
                          tls_port,
                          "--tls-cert-file",
                          redis_cert.cert,
                          "--tls-key-file",
                          redis_cert.key,
                          "--tls-ca-cert-file",
                          ca.cert,
                          "--tls-auth-clients",
                          "yes",
                          NULL};
    srt_redis *r = srt_redis_start(args, 0);
    assert_non_null(r);
    char url[96];
    /* the address, checked against the certificate's IP name: a minimal
     * root (debootstrap) has no /etc/hosts, so "localhost" may not resolve
     * there (the names are checked in unit.test_tls) */
    snprintf(url, sizeof(url), "rediss://127.0.0.1:%s", tls_port);
    srt_proc a, b, wrong;
    assert_int_equal(srt_server_start(&a, "--redis", url, "--redis-tls-ca", ca.cert,
                                      "--redis-tls-cert", client_cert.cert, "--redis-tls-key",
                                      client_cert.key, "--threads", "1", "--heartbeat-ms", "0",
                                      NULL),
                     0);
    assert_int_equal(srt_server_start(&b, "--redis", url, "--redis-tls-ca", ca.cert,
                                      "--redis-tls-cert", client_cert.cert, "--redis-tls-key",
                                      client_cert.key, "--threads", "2", "--heartbeat-ms", "0",
                                      NULL),
                     0);
    stream s;
    stream_open(&s, 0, b.port, "shared", "redis-tls");
    wait_stat(0, b.port, "streams", 1);
    /* b's subscription is confirmed over TLS before a publishes */
    int64_t deadline = srt_now_ms() + WAIT_MS;
    while (stat_of(0, b.port, "subscribed") < 1 && srt_ms_left(deadline) > 0) srt_sleep_ms(50);
    assert_true(stat_of(0, b.port, "subscribed") >= 1);
    publish(0, a.port, "{\"room\":\"shared\",\"data\":\"through rediss\"}");
    free(stream_wait_for(&s, "data: \"through rediss\"\n\n"));
    stream_close(&s);
    assert_int_equal(stat_of(0, a.port, "tls_failures"), 0);

    assert_int_equal(srt_server_start(&wrong, "--redis", url, "--redis-tls-ca", other.cert,
                                      "--redis-tls-cert", client_cert.cert, "--redis-tls-key",
                                      client_cert.key, "--heartbeat-ms", "0", NULL),
                     0);
    deadline = srt_now_ms() + WAIT_MS;
    while (stat_of(0, wrong.port, "tls_failures") < 1 && srt_ms_left(deadline) > 0)
        srt_sleep_ms(50);
    assert_true(stat_of(0, wrong.port, "tls_failures") >= 1);
    char *metrics = get(0, wrong.port, "/metrics");
    assert_null(strstr(metrics, "sserooms_redis_tls_failures_total 0\n"));
    assert_non_null(strstr(metrics, "sserooms_redis_tls_failures_total "));
    free(metrics);
    deadline = srt_now_ms() + WAIT_MS;
    while (!log_has(&wrong, "redis: TLS handshake with localhost") && srt_ms_left(deadline) > 0)
        srt_sleep_ms(50);
    if (!log_has(&wrong, "certificate verify failed")) {
        srt_proc_dump_log(&wrong, 4000);
        fail_msg("no 'certificate verify failed' in the log");
    }
    assert_int_equal(srt_server_stop(&wrong), 0);
    assert_int_equal(srt_server_stop(&a), 0);
    assert_int_equal(srt_server_stop(&b), 0);
    srt_redis_free(r);
    srt_tls_ca_remove(&other);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(frames_identical_to_plain_http, srt_teardown_servers),
        cmocka_unit_test_teardown(garbage_and_old_versions_are_refused, srt_teardown_servers),
        cmocka_unit_test_teardown(stalled_handshakes_disturb_nobody, srt_teardown_servers),
        cmocka_unit_test_teardown(sighup_reloads_the_certificate_and_keeps_streams,
                                  srt_teardown_servers),
        cmocka_unit_test_teardown(sessions_resume_with_tickets, srt_teardown_servers),
        cmocka_unit_test_teardown(idle_tls_streams_all_go_compact, srt_teardown_servers),
        cmocka_unit_test_teardown(redis_over_tls, srt_teardown_servers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
