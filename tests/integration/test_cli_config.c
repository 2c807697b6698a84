/* SPDX-License-Identifier: MIT */
/*
 * test_cli_config.c: the sserooms command's configuration, logs and
 * packaging, on the real binary (tests/support/srt_proc).
 *
 *  - config file, environment and flags: precedence (file < env < flag)
 *    seen in --check-config's report and in behaviour (the port listened on,
 *    the publish key required); the report's format; every kind of bad file
 *    refused with "FILE:LINE: reason" and exit 2; secrets masked everywhere;
 *  - logs: --log-format json lines parse as JSON with ts/level/msg, text
 *    lines have their shape, levels filter, stdout stays one ready line;
 *  - docs: --help, the man page and README.md name every option;
 *  - packaging: `cmake --install` of this build into a temporary DESTDIR,
 *    examples/embed.c compiled with `pkg-config --define-prefix --cflags
 *    --libs sserooms` against the installed files, run, and one SSE event
 *    received from it.
 * Run with the argument "clients" it instead checks
 * examples/clients/node-publish.mjs: the reference adapter publishes through
 * a real redis-server and a sserooms node delivers the event.
 */
#include "srt_check.h"
#include "srt_redis.h"
#include "srt_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SR_TEST_SANITIZE
#define SR_TEST_SANITIZE 0
#endif

/* The settings, in --check-config order. */
static const char *const settings[] = {"host",
                                       "port",
                                       "heartbeat-ms",
                                       "max-queue-bytes",
                                       "max-http-buffer-bytes",
                                       "max-header-bytes",
                                       "max-body-bytes",
                                       "request-timeout-ms",
                                       "keepalive-timeout-ms",
                                       "max-rooms-per-conn",
                                       "max-room-len",
                                       "max-connections",
                                       "max-connections-per-addr",
                                       "ipv6-prefix-len",
                                       "max-message-bytes",
                                       "max-publish-bytes",
                                       "threads",
                                       "sweep-slice-us",
                                       "sweep-slice",
                                       "trusted-proxy",
                                       "proxy-protocol",
                                       "h2c",
                                       "h2-max-streams",
                                       "tls-cert",
                                       "tls-key",
                                       "tls-min-version",
                                       "cors-origin",
                                       "publish-key",
                                       "admin-key",
                                       "anonymous",
                                       "auth-alg",
                                       "auth-secret",
                                       "auth-secret-file",
                                       "auth-public-key",
                                       "auth-jwks",
                                       "auth-leeway-s",
                                       "auth-issuer",
                                       "auth-audience",
                                       "auth-cookie",
                                       "auth-expiry-event",
                                       "ticket-ttl-ms",
                                       "ticket-secret",
                                       "max-tickets-per-subject",
                                       "ticket-rate",
                                       "history",
                                       "history-ttl-ms",
                                       "history-max-bytes",
                                       "reset-event",
                                       "gap-event",
                                       "sequence-max-names",
                                       "sequence-ttl-ms",
                                       "redis",
                                       "channel-prefix",
                                       "node-id",
                                       "redis-outbox",
                                       "redis-cluster",
                                       "redis-tls-ca",
                                       "redis-tls-cert",
                                       "redis-tls-key",
                                       "redis-canary-interval-ms",
                                       "redis-canary-timeout-ms",
                                       "presence-ttl-ms",
                                       "presence-events",
                                       "presence-debounce-ms",
                                       "log-format",
                                       "log-level",
                                       "demo",
                                       "web-root"};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

/* SSEROOMS_ + the name in upper case with '_' for '-' (redis: _REDIS_URL). */
static const char *env_name(const char *setting, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "SSEROOMS_");
    for (const char *c = setting; *c && k + 1 < cap; c++)
        buf[k++] = *c == '-' ? '_' : *c >= 'a' && *c <= 'z' ? (char)(*c - 'a' + 'A') : *c;
    snprintf(buf + k, cap - k, "%s", strcmp(setting, "redis") == 0 ? "_URL" : "");
    return buf;
}

/* ---- files -------------------------------------------------------------- */

static char tmp_dir[512];

static int make_tmp_dir(void **state) {
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "%s/test-cli-XXXXXX", SR_TEST_BINARY_DIR);
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    chmod(path, 0700); /* the unreadable-file case */
    return remove(path);
}

static void rm_rf(const char *path) {
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int remove_tmp_dir(void **state) {
    srt_teardown_servers(state);
    if (tmp_dir[0]) rm_rf(tmp_dir);
    return 0;
}

/* Writes len bytes (SIZE_MAX: strlen) to tmp_dir/name; returns the path
 * (static storage, one per name slot). */
static const char *write_file_n(const char *name, const char *text, size_t len) {
    static char paths[8][600];
    static unsigned slot;
    char *path = paths[slot++ % 8];
    snprintf(path, 600, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len == SIZE_MAX) len = strlen(text);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static const char *write_file(const char *name, const char *text) {
    return write_file_n(name, text, SIZE_MAX);
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

/* ---- running the binary -------------------------------------------------- */

/* Runs sserooms with args/env; asserts the exit status (dumping both
 * outputs when it differs). The caller frees r. */
static void run_status(const char *const *args, const char *const *env, int status,
                       srt_run_result *r) {
    int st = srt_run(args, env, 15000, r);
    if (st != status) {
        fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", r->out, r->err);
        srt_run_result_free(r);
        fail_msg("expected exit status %d, got %d", status, st);
    }
}

/* One `key = value  # origin` line of a --check-config report. */
typedef struct report_line {
    char key[64];
    char value[512];
    char origin[600];
} report_line;

/* Parses a report, asserting the shape of every line: three '#' header
 * lines, then `key = value`, padding, `# default|file|env|flag ...`. */
static size_t parse_report(const char *out, report_line *lines, size_t cap) {
    size_t n = 0, headers = 0;
    for (const char *p = out; *p;) {
        const char *eol = strchr(p, '\n');
        assert_non_null(eol);
        char line[1200];
        snprintf(line, sizeof line, "%.*s", (int)(eol - p), p);
        p = eol + 1;
        if (line[0] == '#') {
            assert_int_equal(n, 0); /* headers come first */
            headers++;
            continue;
        }
        assert_true(n < cap);
        report_line *l = &lines[n++];
        char *eq = strstr(line, " = ");
        if (!eq) fail_msg("report line without ' = ': %s", line);
        snprintf(l->key, sizeof l->key, "%.*s", (int)(eq - line), line);
        const char *v = eq + 3, *hash;
        if (*v == '"') {
            size_t k = 0;
            for (v++; *v && *v != '"'; v++) {
                if (*v == '\\' && v[1]) v++;
                if (k + 1 < sizeof l->value) l->value[k++] = *v;
            }
            l->value[k] = '\0';
            assert_int_equal(*v, '"');
            hash = strstr(v, "# ");
        } else {
            hash = strstr(v, "# ");
            assert_non_null(hash);
            size_t len = (size_t)(hash - v);
            while (len && v[len - 1] == ' ') len--;
            snprintf(l->value, sizeof l->value, "%.*s", (int)len, v);
        }
        if (!hash) fail_msg("report line without '# origin': %s", line);
        snprintf(l->origin, sizeof l->origin, "%s", hash + 2);
        if (strncmp(l->origin, "default", 7) != 0 && strncmp(l->origin, "file ", 5) != 0 &&
            strncmp(l->origin, "env ", 4) != 0 && strncmp(l->origin, "flag ", 5) != 0)
            fail_msg("origin is not default/file/env/flag: %s", line);
    }
    assert_int_equal(headers, 3);
    return n;
}

/* The nth line for key; fails when absent. */
static const report_line *find_line(const report_line *lines, size_t n, const char *key,
                                    size_t nth) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(lines[i].key, key) == 0 && nth-- == 0) return &lines[i];
    }
    fail_msg("no report line for %s", key);
    return NULL;
}

static size_t count_lines(const report_line *lines, size_t n, const char *key) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += strcmp(lines[i].key, key) == 0;
    return c;
}

static void expect_setting(const report_line *lines, size_t n, const char *key, size_t nth,
                           const char *value, const char *origin_prefix) {
    const report_line *l = find_line(lines, n, key, nth);
    if (strcmp(l->value, value) != 0 || strncmp(l->origin, origin_prefix, strlen(origin_prefix)))
        fail_msg("%s: expected '%s' from '%s', report says '%s' from '%s'", key, value,
                 origin_prefix, l->value, l->origin);
}

/* Runs --check-config (exit 0) and parses its report into lines[]. */
static size_t check_config(const char *const *args, const char *const *env, report_line *lines,
                           size_t cap, srt_run_result *r) {
    const char *argv[32];
    size_t k = 0;
    argv[k++] = "--check-config";
    for (; args && *args && k < 31; args++) argv[k++] = *args;
    argv[k] = NULL;
    run_status(argv, env, 0, r);
    return parse_report(r->out, lines, cap);
}

/* ---- --help, the man page and README.md ---------------------------------- */

static void test_help_and_docs_list_every_option(void **state) {
    (void)state;
    srt_run_result r;
    run_status((const char *[]){"--help", NULL}, NULL, 0, &r);
    char *man = slurp(SR_TEST_SOURCE_DIR "/docs/sserooms.1");
    char *readme = slurp(SR_TEST_SOURCE_DIR "/README.md");
    assert_non_null(man);
    assert_non_null(readme);
    for (size_t i = 0; i < N_SETTINGS + 4; i++) {
        static const char *const others[] = {"config", "check-config", "help", "version"};
        const char *name = i < N_SETTINGS ? settings[i] : others[i - N_SETTINGS];
        char flag[64], man_flag[96];
        snprintf(flag, sizeof flag, "--%s", name);
        if (!strstr(r.out, flag)) fail_msg("--help does not list %s", flag);
        if (!strstr(readme, flag)) fail_msg("README.md does not mention %s", flag);
        char *w = man_flag;
        for (const char *c = flag; *c; c++) {
            if (*c == '-') *w++ = '\\';
            *w++ = *c;
        }
        *w = '\0';
        if (!strstr(man, man_flag)) fail_msg("docs/sserooms.1 does not document %s", flag);
        char env_buf[64];
        const char *env = i < N_SETTINGS    ? env_name(name, env_buf, sizeof env_buf)
                          : i == N_SETTINGS ? "SSEROOMS_CONFIG"
                                            : NULL;
        if (env && (!strstr(r.out, env) || !strstr(man, env) || !strstr(readme, env)))
            fail_msg("%s is missing from --help, the man page or README.md", env);
    }
    free(man);
    free(readme);
    srt_run_result_free(&r);

#ifdef SR_TEST_GROFF
    /* the man page reads without a single groff warning */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' -man -Tutf8 -ww -z '%s/docs/sserooms.1' 2>'%s/groff.err'",
             SR_TEST_GROFF, SR_TEST_SOURCE_DIR, tmp_dir);
    assert_int_equal(system(cmd), 0);
    char *path_err = NULL;
    assert_true(asprintf(&path_err, "%s/groff.err", tmp_dir) > 0);
    char *warnings = slurp(path_err);
    free(path_err);
    assert_non_null(warnings);
    if (*warnings) fail_msg("groff warns about docs/sserooms.1:\n%s", warnings);
    free(warnings);
#endif
}

/* ---- the --check-config report ------------------------------------------- */

static void test_report_format_and_round_trip(void **state) {
    (void)state;
    report_line lines[128], again[128];
    srt_run_result r;
    size_t n = check_config(NULL, NULL, lines, 128, &r);
    assert_int_equal(r.err_len, 0);
    assert_non_null(strstr(r.out, "# config file: none\n"));
    assert_int_equal(n, N_SETTINGS); /* one line each, in table order */
    for (size_t i = 0; i < N_SETTINGS; i++) {
        assert_string_equal(lines[i].key, settings[i]);
        assert_int_equal(strncmp(lines[i].origin, "default", 7), 0);
    }
    expect_setting(lines, n, "host", 0, "127.0.0.1", "default");
    expect_setting(lines, n, "port", 0, "8080", "default");
    expect_setting(lines, n, "heartbeat-ms", 0, "30000", "default");
    expect_setting(lines, n, "max-header-bytes", 0, "8192", "default");
    expect_setting(lines, n, "channel-prefix", 0, "sse:room:", "default");
    expect_setting(lines, n, "log-format", 0, "text", "default");
    expect_setting(lines, n, "log-level", 0, "info", "default");
    expect_setting(lines, n, "publish-key", 0, "", "default");
    expect_setting(lines, n, "redis", 0, "", "default");

    /* the report is itself a valid config file giving the same settings */
    const char *path = write_file("report.conf", r.out);
    srt_run_result r2;
    size_t n2 = check_config((const char *[]){"--config", path, NULL}, NULL, again, 128, &r2);
    assert_int_equal(n2, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(again[i].value, lines[i].value);
        char origin[700];
        snprintf(origin, sizeof origin, "file %s:%zu", path, i + 4);
        assert_int_equal(strncmp(again[i].origin, origin, strlen(origin)), 0);
    }
    srt_run_result_free(&r);
    srt_run_result_free(&r2);

    /* syntax: BOM, CRLF, comments, quotes, escapes, inline comments */
    path = write_file("syntax.conf", "\xef\xbb\xbf# a comment\r\n"
                                     "\r\n"
                                     "   # indented comment\n"
                                     "node-id = node-1   # inline comment\r\n"
                                     "channel-prefix = \"  x#y \\\"z\\\\ \"\n"
                                     "cors-origin = a.example,  b.example ,\n"
                                     "cors-origin=c.example\n"
                                     "\tmax-connections\t=\t12\n"
                                     "publish-key = a#b\n");
    n = check_config((const char *[]){"--config", path, NULL}, NULL, lines, 128, &r);
    char where[700];
    snprintf(where, sizeof where, "file %s:4", path);
    expect_setting(lines, n, "node-id", 0, "node-1", where);
    expect_setting(lines, n, "channel-prefix", 0, "  x#y \"z\\ ", "file");
    assert_int_equal(count_lines(lines, n, "cors-origin"), 3);
    expect_setting(lines, n, "cors-origin", 0, "a.example", "file");
    expect_setting(lines, n, "cors-origin", 1, "b.example", "file");
    snprintf(where, sizeof where, "file %s:7", path);
    expect_setting(lines, n, "cors-origin", 2, "c.example", where);
    expect_setting(lines, n, "max-connections", 0, "12", "file");
    expect_setting(lines, n, "publish-key", 0, "********", "file"); /* "a#b": no space before # */
    srt_run_result_free(&r);
}

/* ---- precedence -------------------------------------------------------- */

static void test_precedence_in_report(void **state) {
    (void)state;
    const char *path = write_file("prec.conf", "port = 1111\n"
                                               "heartbeat-ms = 1000\n"
                                               "max-body-bytes = 3000\n"
                                               "max-queue-bytes = 9999\n"
                                               "cors-origin = https://file-a.example\n"
                                               "cors-origin = https://file-b.example\n"
                                               "log-level = warn\n");
    const char *env[] = {"SSEROOMS_HEARTBEAT_MS=2000", "SSEROOMS_MAX_BODY_BYTES=4000",
                         "SSEROOMS_CORS_ORIGIN=https://env.example", NULL};
    report_line lines[128];
    srt_run_result r;
    size_t n = check_config((const char *[]){"--max-body-bytes", "5000", "--config", path, NULL},
                            env, lines, 128, &r);
    char where[700];
    snprintf(where, sizeof where, "file %s:1", path);
    expect_setting(lines, n, "port", 0, "1111", where);
    snprintf(where, sizeof where, "file %s:4", path);
    expect_setting(lines, n, "max-queue-bytes", 0, "9999", where);
    expect_setting(lines, n, "heartbeat-ms", 0, "2000", "env SSEROOMS_HEARTBEAT_MS");
    expect_setting(lines, n, "max-body-bytes", 0, "5000", "flag --max-body-bytes");
    expect_setting(lines, n, "host", 0, "127.0.0.1", "default");
    expect_setting(lines, n, "log-level", 0, "warn", "file");
    /* a list from a stronger source replaces the whole list */
    assert_int_equal(count_lines(lines, n, "cors-origin"), 1);
    expect_setting(lines, n, "cors-origin", 0, "https://env.example", "env SSEROOMS_CORS_ORIGIN");
    srt_run_result_free(&r);

    n = check_config((const char *[]){"--config", path, "--cors-origin", "https://flag-a.example",
                                      "--cors-origin", "https://flag-b.example", NULL},
                     env, lines, 128, &r);
    assert_int_equal(count_lines(lines, n, "cors-origin"), 2);
    expect_setting(lines, n, "cors-origin", 0, "https://flag-a.example", "flag --cors-origin");
    expect_setting(lines, n, "cors-origin", 1, "https://flag-b.example", "flag --cors-origin");
    srt_run_result_free(&r);

    n = check_config((const char *[]){"--config", path, NULL}, NULL, lines, 128, &r);
    snprintf(where, sizeof where, "file %s:6", path);
    expect_setting(lines, n, "cors-origin", 1, "https://file-b.example", where);
    srt_run_result_free(&r);

    /* an empty variable empties the file's list */
    n = check_config((const char *[]){"--config", path, NULL},
                     (const char *[]){"SSEROOMS_CORS_ORIGIN=", NULL}, lines, 128, &r);
    expect_setting(lines, n, "cors-origin", 0, "", "env SSEROOMS_CORS_ORIGIN");
    srt_run_result_free(&r);

    /* the file named by SSEROOMS_CONFIG; --config wins over it */
    char var[700];
    snprintf(var, sizeof var, "SSEROOMS_CONFIG=%s", path);
    n = check_config(NULL, (const char *[]){var, NULL}, lines, 128, &r);
    expect_setting(lines, n, "port", 0, "1111", "file");
    assert_non_null(strstr(r.out, "(from SSEROOMS_CONFIG)"));
    srt_run_result_free(&r);
    const char *other = write_file("other.conf", "port = 2222\n");
    n = check_config((const char *[]){"--config", other, NULL}, (const char *[]){var, NULL}, lines,
                     128, &r);
    expect_setting(lines, n, "port", 0, "2222", "file");
    assert_non_null(strstr(r.out, "(from --config)"));
    srt_run_result_free(&r);
}

/* n distinct free ports on 127.0.0.1 (all held open while choosing). */
static void free_ports(int *ports, int n) {
    int fds[8];
    assert_true(n <= 8);
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(bind(fds[i], (struct sockaddr *)&a, sizeof a), 0);
        socklen_t len = sizeof a;
        assert_int_equal(getsockname(fds[i], (struct sockaddr *)&a, &len), 0);
        ports[i] = ntohs(a.sin_port);
    }
    for (int i = 0; i < n; i++) close(fds[i]);
}

/* POST /publish with an optional bearer key; returns the HTTP status. */
static int publish_with_key(int port, const char *key) {
    char auth[128] = "";
    if (key) snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    const char *headers[] = {"Content-Type: application/json", key ? auth : NULL, NULL};
    srt_response r;
    assert_int_equal(srt_http_request(port, "POST", "/publish", headers,
                                      "{\"room\":\"x\",\"data\":1}", &r),
                     0);
    int status = r.status;
    srt_response_free(&r);
    return status;
}

static void test_precedence_in_behaviour(void **state) {
    (void)state;
    int ports[3];
    free_ports(ports, 3);
    int p1 = ports[0], p2 = ports[1], p3 = ports[2];
    char text[256], env_port[64], flag_port[16];
    snprintf(text, sizeof text, "host = 127.0.0.1\nport = %d\npublish-key = file-key\n", p1);
    const char *path = write_file("behaviour.conf", text);
    snprintf(env_port, sizeof env_port, "SSEROOMS_PORT=%d", p2);
    snprintf(flag_port, sizeof flag_port, "%d", p3);

    srt_proc p;
    srt_proc_opts o = {.no_listen_flags = true, .args = (const char *[]){"--config", path, NULL}};
    assert_int_equal(srt_proc_start(&p, &o), 0);
    assert_int_equal(p.port, p1);
    assert_int_equal(publish_with_key(p.port, NULL), 401);
    assert_int_equal(publish_with_key(p.port, "file-key"), 200);
    srt_check_stop(&p);

    o.env = (const char *[]){env_port, "SSEROOMS_PUBLISH_KEY=env-key", NULL};
    assert_int_equal(srt_proc_start(&p, &o), 0);
    assert_int_equal(p.port, p2);
    assert_int_equal(publish_with_key(p.port, "file-key"), 401);
    assert_int_equal(publish_with_key(p.port, "env-key"), 200);
    srt_check_stop(&p);

    o.args = (const char *[]){"--port",        flag_port,  "--config", path,
                              "--publish-key", "flag-key", NULL};
    assert_int_equal(srt_proc_start(&p, &o), 0);
    assert_int_equal(p.port, p3);
    assert_int_equal(publish_with_key(p.port, "env-key"), 401);
    assert_int_equal(publish_with_key(p.port, "flag-key"), 200);
    srt_check_stop(&p);
}

/* ---- bad files ----------------------------------------------------------- */

/* The file is refused (with or without --check-config): exit 2, nothing on
 * stdout, and stderr's line `n` (from 0) is "PATH:LINE: " + text containing
 * `reason`. */
static void expect_refused(const char *path, int line, const char *reason, size_t n_lines) {
    for (int check = 0; check < 2; check++) {
        srt_run_result r;
        const char *args[] = {"--config", path, check ? "--check-config" : "--port",
                              check ? NULL : "0", NULL};
        run_status(args, NULL, 2, &r);
        assert_int_equal(r.out_len, 0);
        char prefix[700];
        snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
        size_t lines = 0;
        for (const char *p = r.err; *p; p = strchr(p, '\n') + 1) {
            if (!strchr(p, '\n')) fail_msg("stderr does not end with a newline: %s", r.err);
            lines++;
        }
        const char *hit = strstr(r.err, prefix);
        if (lines != n_lines || !hit || (hit != r.err && hit[-1] != '\n') ||
            !strstr(hit + strlen(prefix), reason)) {
            fprintf(stderr, "stderr:\n%s", r.err);
            srt_run_result_free(&r);
            fail_msg("expected %zu line(s) with '%s%s...'", n_lines, prefix, reason);
        }
        srt_run_result_free(&r);
    }
}

static void test_bad_files(void **state) {
    (void)state;
    expect_refused(write_file("unknown.conf", "# ok\nport = 1\nprot = 2\n"), 3,
                   "unknown key 'prot'", 1);
    expect_refused(write_file("underscore.conf", "max_queue_bytes = 5\n"), 1,
                   "did you mean 'max-queue-bytes'", 1);
    expect_refused(write_file("flagonly.conf", "config = /etc/x\n"), 1, "command-line flag only",
                   1);
    expect_refused(write_file("range.conf", "\nport = 70000\n"), 2, "port: invalid value '70000'",
                   1);
    expect_refused(write_file("number.conf", "max-body-bytes = 12abc\n"), 1,
                   "max-body-bytes: invalid", 1);
    expect_refused(write_file("enum.conf", "log-format = xml\n"), 1,
                   "log-format: invalid value 'xml'", 1);
    expect_refused(write_file("host.conf", "host = localhost\n"), 1, "host: invalid value", 1);
    expect_refused(write_file("noeq.conf", "host 127.0.0.1\n"), 1, "syntax error: expected '='", 1);
    expect_refused(write_file("nokey.conf", "= 5\n"), 1, "syntax error", 1);
    expect_refused(write_file("quote.conf", "node-id = \"abc\n"), 1, "syntax error: unterminated",
                   1);
    expect_refused(write_file("after.conf", "node-id = \"a\" b\n"), 1,
                   "syntax error: unexpected text", 1);
    expect_refused(write_file("escape.conf", "node-id = \"a\\nb\"\n"), 1,
                   "syntax error: unknown escape", 1);
    expect_refused(write_file("twice.conf", "port = 1\n\nport = 2\n"), 3,
                   "port: already set on line 1", 1);
    expect_refused(write_file_n("nul.conf", "port = 1\0\n", 10), 1, "syntax error: NUL byte", 1);
    /* the Redis URL is checked by the library, and still reported by line */
    expect_refused(write_file("redis.conf", "\nredis = redis://127.0.0.1:99999\n"), 2,
                   "redis: redis://127.0.0.1:99999: redis URL: bad port", 1);
    /* a cluster seed is labelled by the option it came from */
    expect_refused(write_file("cluster.conf", "redis-cluster = redis://127.0.0.1:1,foo://x\n"), 1,
                   "redis-cluster: redis://127.0.0.1:1,foo://x: redis URL: 'foo://x'", 1);
    /* every problem is reported, not just the first */
    const char *two = write_file("two.conf", "prot = 1\nport = x\nhost = 127.0.0.1\n");
    expect_refused(two, 1, "unknown key", 2);
    expect_refused(two, 2, "port: invalid value 'x'", 2);

    /* unreadable: line 0 */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such.conf", tmp_dir);
    expect_refused(missing, 0, "cannot read the file: No such file or directory", 1);
    expect_refused(tmp_dir, 0, "cannot read the file: it is a directory", 1);
    if (geteuid() != 0) { /* root reads mode 000 files anyway */
        const char *locked = write_file("locked.conf", "port = 1\n");
        assert_int_equal(chmod(locked, 0), 0);
        expect_refused(locked, 0, "cannot read the file: Permission denied", 1);
    }

    /* bad variables and flags are refused the same way */
    srt_run_result r;
    run_status((const char *[]){"--check-config", NULL},
               (const char *[]){"SSEROOMS_LOG_LEVEL=loud", NULL}, 2, &r);
    assert_non_null(strstr(r.err, "sserooms: SSEROOMS_LOG_LEVEL: invalid value 'loud'"));
    srt_run_result_free(&r);
    run_status((const char *[]){"--check-config", "--log-format", "xml", NULL}, NULL, 2, &r);
    assert_non_null(strstr(r.err, "sserooms: --log-format: invalid value 'xml'"));
    srt_run_result_free(&r);
    run_status((const char *[]){"--check-config", "--config", "", NULL}, NULL, 2, &r);
    srt_run_result_free(&r);
    /* a trusted proxy range must be one, without bits past its prefix */
    run_status((const char *[]){"--check-config", "--trusted-proxy", "127.0.0.1/32,10.0.0.1/8",
                                NULL},
               NULL, 2, &r);
    assert_non_null(
        strstr(r.err, "sserooms: trusted-proxy '10.0.0.1/8': bits are set past the prefix"));
    srt_run_result_free(&r);
    run_status((const char *[]){"--check-config", NULL},
               (const char *[]){"SSEROOMS_TRUSTED_PROXY=proxy.lan", NULL}, 2, &r);
    assert_non_null(
        strstr(r.err, "sserooms: trusted-proxy 'proxy.lan': expected an IPv4 or IPv6 address"));
    srt_run_result_free(&r);
}

/* ---- secrets --------------------------------------------------------------- */

static void test_secrets_are_masked(void **state) {
    (void)state;
    const char *path = write_file("secret.conf", "publish-key = file-secret-AAA\n");
    report_line lines[128];
    srt_run_result r;
    size_t n = check_config(
        (const char *[]){"--config", path, NULL},
        (const char *[]){"SSEROOMS_REDIS_URL=redis://admin:env-secret-BBB@127.0.0.1:1/3", NULL},
        lines, 128, &r);
    assert_null(strstr(r.out, "secret-AAA"));
    assert_null(strstr(r.out, "secret-BBB"));
    expect_setting(lines, n, "publish-key", 0, "********", "file");
    assert_non_null(strstr(find_line(lines, n, "publish-key", 0)->origin, "(masked)"));
    expect_setting(lines, n, "redis", 0, "redis://admin:********@127.0.0.1:1/3",
                   "env SSEROOMS_REDIS_URL");
    srt_run_result_free(&r);

    static const char *const urls[][2] = {
        {"redis://:pw-secret-CCC@127.0.0.1:6379", "redis://:********@127.0.0.1:6379"},
        {"redis://pw-secret-DDD@127.0.0.1", "redis://********@127.0.0.1"},
        {"unix://u:pw-secret-EEE@/tmp/r.sock?db=2", "unix://u:********@/tmp/r.sock?db=2"},
        {"redis://127.0.0.1:6380/1", "redis://127.0.0.1:6380/1"},
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        n = check_config((const char *[]){"--redis", urls[i][0], NULL}, NULL, lines, 128, &r);
        assert_null(strstr(r.out, "pw-secret"));
        expect_setting(lines, n, "redis", 0, urls[i][1], "flag --redis");
        srt_run_result_free(&r);
    }
    /* refused values do not show the secret either */
    run_status((const char *[]){"--check-config", "--redis", "redis://u:pw-secret-FFF@h:99999",
                                NULL},
               NULL, 2, &r);
    assert_null(strstr(r.err, "pw-secret"));
    assert_non_null(strstr(r.err, "--redis"));
    srt_run_result_free(&r);
    /* a bad cluster seed is reported under the option that gave it */
    run_status((const char *[]){"--check-config", "--redis-cluster", "redis://127.0.0.1:1,http://x",
                                NULL},
               NULL, 2, &r);
    assert_non_null(
        strstr(r.err, "sserooms: --redis-cluster: redis://127.0.0.1:1,http://x: redis URL:"));
    srt_run_result_free(&r);
    run_status((const char *[]){"--check-config", NULL},
               (const char *[]){"SSEROOMS_REDIS_CLUSTER=http://x", NULL}, 2, &r);
    assert_non_null(strstr(r.err, "sserooms: SSEROOMS_REDIS_CLUSTER: http://x: redis URL:"));
    srt_run_result_free(&r);
    run_status((const char *[]){"--check-config", NULL},
               (const char *[]){"SSEROOMS_PUBLISH_KEY=key-secret-GGG\x01", NULL}, 2, &r);
    assert_null(strstr(r.err, "secret-GGG"));
    assert_non_null(strstr(r.err, "SSEROOMS_PUBLISH_KEY"));
    srt_run_result_free(&r);
}

/* ---- logs ------------------------------------------------------------------ */

/* Starts a server, makes a 404 request (a library log line with a
 * connection id), stops it with SIGTERM and returns its whole output
 * (stdout's ready line + stderr's log), malloc'd. */
static char *run_and_collect(srt_proc_opts *o, int *port_out) {
    srt_proc p;
    assert_int_equal(srt_proc_start(&p, o), 0);
    srt_response r;
    assert_int_equal(srt_http_get(p.port, "/no-such-path", &r), 0);
    assert_int_equal(r.status, 404);
    srt_response_free(&r);
    assert_int_equal(srt_proc_signal(&p, SIGTERM), 0);
    int64_t deadline = srt_now_ms() + 15000;
    while (srt_proc_alive(&p) && srt_now_ms() < deadline) srt_sleep_ms(5);
    if (srt_proc_alive(&p)) fail_msg("server still running 15 s after SIGTERM");
    assert_int_equal(p.status, 0);
    char *text = slurp(p.log_path);
    assert_non_null(text);
    unlink(p.log_path);
    *port_out = p.port;
    return text;
}

static bool is_timestamp(const char *s, size_t len) {
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (len != sizeof shape - 1) return false;
    for (size_t i = 0; i < len; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i]) return false;
    }
    return true;
}

static void test_json_logs(void **state) {
    (void)state;
    /* a file name with a quote, a control character and a byte that is not
     * UTF-8 ends up in the "starting" line: it must stay valid JSON */
    const char *path = write_file("we\"ird\x01\xff.conf",
                                  "log-format = json\npublish-key = log-secret-HHH\n");
    srt_proc_opts o = {.args = (const char *[]){"--config", path, NULL},
                       .env = (const char *[]){"SSEROOMS_LOG_LEVEL=debug", NULL}};
    int port;
    char *text = run_and_collect(&o, &port);
    assert_null(strstr(text, "log-secret"));
    char ready[128];
    snprintf(ready, sizeof ready, "sserooms 0.1.0 listening on http://127.0.0.1:%d", port);
    int seen_ready = 0, with_conn = 0;
    const char *wanted[] = {"starting", "setting", "listening", "shutting down", "stopped"};
    int found[5] = {0};
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "sserooms ", 9) == 0) {
            assert_string_equal(line, ready);
            seen_ready++;
            continue;
        }
        if (!srt_json_valid(line, strlen(line)) || line[0] != '{' || strchr(line, '\xff'))
            fail_msg("log line is not a JSON object in UTF-8: %s", line);
        const char *ts;
        size_t ts_len;
        assert_true(srt_json_member(line, strlen(line), "ts", &ts, &ts_len));
        if (ts_len < 2 || !is_timestamp(ts + 1, ts_len - 2)) fail_msg("bad ts in %s", line);
        char *level = srt_json_string(line, "level");
        char *msg = srt_json_string(line, "msg");
        assert_non_null(level);
        assert_non_null(msg);
        assert_true(strcmp(level, "debug") == 0 || strcmp(level, "info") == 0 ||
                    strcmp(level, "warn") == 0 || strcmp(level, "error") == 0);
        for (int i = 0; i < 5; i++) found[i] |= strcmp(msg, wanted[i]) == 0;
        if (strcmp(msg, "starting") == 0 && !strstr(line, "we\\\"ird\\u0001\xef\xbf\xbd.conf\""))
            fail_msg("the config file name is not escaped as expected: %s", line);
        long long conn;
        if (srt_json_int(line, "conn", &conn) && conn > 0) with_conn++;
        if (strcmp(msg, "listening") == 0) {
            long long lp;
            assert_true(srt_json_int(line, "port", &lp));
            assert_int_equal(lp, port);
        }
        free(level);
        free(msg);
    }
    assert_int_equal(seen_ready, 1);
    for (int i = 0; i < 5; i++)
        if (!found[i]) fail_msg("no '%s' log line", wanted[i]);
    assert_true(with_conn > 0); /* the 404, from the library, with its connection */
    free(text);

    /* stdout is exactly the ready line, whatever the log format */
    srt_run_result r;
    assert_int_equal(srt_run((const char *[]){"--port", "0", "--log-format", "json", NULL}, NULL,
                             4000, &r),
                     SRT_PROC_TIMEOUT);
    assert_int_equal(strncmp(r.out, "sserooms 0.1.0 listening on http://127.0.0.1:", 45), 0);
    assert_non_null(strchr(r.out, '\n'));
    assert_int_equal(strchr(r.out, '\n') - r.out + 1, (long)r.out_len);
    assert_int_equal(r.err[0], '{');
    srt_run_result_free(&r);
}

static void test_text_logs_and_levels(void **state) {
    (void)state;
    srt_proc_opts o = {0};
    int port;
    char *text = run_and_collect(&o, &port);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "sserooms ", 9) == 0) continue;
        char *sp = strchr(line, ' ');
        if (!sp || !is_timestamp(line, (size_t)(sp - line)) ||
            (strncmp(sp, " info ", 6) != 0 && strncmp(sp, " warn ", 6) != 0 &&
             strncmp(sp, " error ", 7) != 0))
            fail_msg("not a text log line at info level or above: %s", line);
        lines++;
    }
    assert_true(lines >= 4); /* starting, listening, shutting down, stopped */
    free(text);

    /* warn: nothing at info or debug is written */
    o.env = (const char *[]){"SSEROOMS_LOG_LEVEL=warn", NULL};
    text = run_and_collect(&o, &port);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "sserooms ", 9) != 0 && !strstr(line, " warn ") &&
            !strstr(line, " error "))
            fail_msg("line below warn: %s", line);
    free(text);

    /* an error as a JSON line: the port is taken */
    srt_proc busy;
    assert_int_equal(srt_server_start(&busy, NULL), 0);
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", busy.port);
    srt_run_result r;
    run_status((const char *[]){"--port", port_text, "--log-format", "json", "--log-level", "error",
                                NULL},
               NULL, 1, &r);
    assert_int_equal(r.out_len, 0);
    assert_true(srt_json_valid(r.err, r.err_len));
    char *level = srt_json_string(r.err, "level"), *msg = srt_json_string(r.err, "msg");
    assert_string_equal(level, "error");
    assert_string_equal(msg, "cannot listen");
    free(level);
    free(msg);
    srt_run_result_free(&r);
    srt_check_stop(&busy);
}

/* ---- make install + pkg-config -------------------------------------------- */

/* Runs a shell script (written to tmp_dir), output in tmp_dir/<name>.log;
 * fails with that log on a non-zero status. */
static void run_script(const char *name, const char *script) {
    char path[700], log[700], cmd[1600];
    snprintf(path, sizeof path, "%s.sh", name);
    const char *script_path = write_file(path, script);
    snprintf(log, sizeof log, "%s/%s.log", tmp_dir, name);
    snprintf(cmd, sizeof cmd, "timeout 300 sh -e '%s' >'%s' 2>&1", script_path, log);
    int st = system(cmd);
    if (st != 0) {
        char *text = slurp(log);
        fprintf(stderr, "---- %s ----\n%s\n%s\n", name, script, text ? text : "(no output)");
        free(text);
        fail_msg("%s failed (status %d)", name, st);
    }
}

static void test_install_and_pkg_config(void **state) {
    (void)state;
    char dest[600], prefix[800], script[4096], bin[700], relocate[900];
    snprintf(dest, sizeof dest, "%s/destdir", tmp_dir);
    snprintf(prefix, sizeof prefix, "%s%s", dest, SR_TEST_INSTALL_PREFIX);
    /* pkg-config --define-prefix takes the prefix two levels above the .pc
     * file: right for a one-level libdir (lib), not for Debian's multiarch
     * lib/x86_64-linux-gnu, where the prefix is given explicitly instead */
    if (strchr(SR_TEST_INSTALL_LIBDIR, '/'))
        snprintf(relocate, sizeof relocate, "--define-variable=prefix=%s", prefix);
    else snprintf(relocate, sizeof relocate, "--define-prefix");
    snprintf(bin, sizeof bin, "%s/embed", tmp_dir);
    snprintf(
        script, sizeof script,
        "DESTDIR='%s' '%s' --install '%s'\n"
        "P='%s'\n"
        "for f in bin/sserooms include/sserooms.h include/sserooms/redis.h "
        "include/sserooms/error.h include/sserooms/version.h %s/libsserooms.a %s/libsserooms.so "
        "%s/pkgconfig/sserooms.pc %s/man1/sserooms.1; do test -f \"$P/$f\" || "
        "{ echo \"missing $f\"; exit 1; }; done\n"
        "\"$P/bin/sserooms\" --version | grep -qx 'sserooms 0.1.0'\n"
        "export PKG_CONFIG_PATH=\"$P/%s/pkgconfig\"\n"
        "FLAGS=$('%s' '%s' --cflags --libs sserooms)\n"
        "echo \"pkg-config: $FLAGS\"\n"
        "case \"$FLAGS\" in *\"-I$P/include\"*) ;; *) echo 'Cflags miss the install'; exit 1;; esac\n"
        "'%s' -Wall -Werror %s -o '%s' '%s/examples/embed.c' $FLAGS\n",
        dest, SR_TEST_CMAKE, SR_TEST_BINARY_DIR, prefix, SR_TEST_INSTALL_LIBDIR,
        SR_TEST_INSTALL_LIBDIR, SR_TEST_INSTALL_LIBDIR, SR_TEST_INSTALL_MANDIR,
        SR_TEST_INSTALL_LIBDIR, SR_TEST_PKG_CONFIG, relocate, SR_TEST_CC,
        SR_TEST_SANITIZE ? "-fsanitize=address,undefined" : "", bin, SR_TEST_SOURCE_DIR);
    run_script("install", script);

    /* the program built against the installed files runs and serves */
    char libpath[900];
    snprintf(libpath, sizeof libpath, "LD_LIBRARY_PATH=%s/%s", prefix, SR_TEST_INSTALL_LIBDIR);
    setenv("SR_TEST_SERVER_BIN", bin, 1);
    srt_proc p;
    srt_proc_opts o = {.no_listen_flags = true,
                       .args = (const char *[]){"0", NULL},
                       .env = (const char *[]){libpath, NULL}};
    int rc = srt_proc_start(&p, &o);
    unsetenv("SR_TEST_SERVER_BIN");
    assert_int_equal(rc, 0);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?user=installed&room=clock");
    char *block = NULL;
    assert_int_equal(srt_sse_next_event(&s, &block, NULL, 10000), 0);
    if (strncmp(block, "event: tick\ndata: {\"now\":", 25) != 0)
        fail_msg("unexpected event from the installed build: %s", block);
    free(block);
    srt_sse_close(&s);
    assert_int_equal(srt_proc_stop(&p, SIGKILL, 5000), 128 + SIGKILL);
    unlink(p.log_path);
}

/* ---- examples/clients/node-publish.mjs ------------------------------------- */

static void test_node_snippet_publishes(void **state) {
    (void)state;
    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--redis", srt_redis_url(redis), NULL), 0);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=chat&room=billing");
    /* both rooms subscribed on Redis before publishing */
    size_t n = 0;
    for (int64_t end = srt_now_ms() + 10000; n < 2 && srt_now_ms() < end; srt_sleep_ms(20)) {
        char **ch = srt_redis_channels(redis, "sse:room:*", &n);
        srt_redis_free_strings(ch, n);
    }
    assert_int_equal(n, 2);

    /* the snippet as a user would run it: next to its node_modules */
    const char *node = getenv("SR_TEST_NODE");
    char script[3000];
    snprintf(script, sizeof script,
             "D='%s/node-client'\nmkdir -p \"$D\"\n"
             "cp '%s/examples/clients/node-publish.mjs' \"$D/\"\n"
             "test -d '%s/tests/interop/node_modules/@opinionated-machine/sse-rooms-redis' || "
             "{ echo 'run ctest -R interop.npm_ci first'; exit 1; }\n"
             "ln -sfn '%s/tests/interop/node_modules' \"$D/node_modules\"\n"
             "REDIS_URL='%s' '%s' \"$D/node-publish.mjs\" chat,billing "
             "'{\"from\":\"billing\",\"amount\":1.50}' invoice inv-42\n",
             tmp_dir, SR_TEST_SOURCE_DIR, SR_TEST_SOURCE_DIR, SR_TEST_SOURCE_DIR,
             srt_redis_url(redis), node && *node ? node : "node");
    run_script("node-publish", script);
    /* once, though published to both rooms: same id */
    srt_check_frame(&s,
                    "id: inv-42\nevent: invoice\ndata: {\"from\":\"billing\",\"amount\":1.5}\n\n");
    srt_check_quiet(&s, 500);
    srt_sse_close(&s);
    srt_check_stop(&p);
    srt_redis_free(redis);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "clients") == 0) {
        const struct CMUnitTest clients[] = {
            cmocka_unit_test_teardown(test_node_snippet_publishes, srt_teardown_servers),
        };
        return cmocka_run_group_tests_name("clients", clients, make_tmp_dir, remove_tmp_dir);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_docs_list_every_option),
        cmocka_unit_test(test_report_format_and_round_trip),
        cmocka_unit_test(test_precedence_in_report),
        cmocka_unit_test_teardown(test_precedence_in_behaviour, srt_teardown_servers),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_secrets_are_masked),
        cmocka_unit_test_teardown(test_json_logs, srt_teardown_servers),
        cmocka_unit_test_teardown(test_text_logs_and_levels, srt_teardown_servers),
        cmocka_unit_test_teardown(test_install_and_pkg_config, srt_teardown_servers),
    };
    return cmocka_run_group_tests_name("cli_config", tests, make_tmp_dir, remove_tmp_dir);
}
