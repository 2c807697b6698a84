/* SPDX-License-Identifier: MIT */
/*
 * test_static_files.c: --web-root cannot be left through a link and a
 * FIFO cannot stop the server (issue #18, finding 4).
 *
 * The folder holds index.html, a file, a symbolic link to a file outside
 * it (a stand-in for /etc/passwd), a link to a file inside it and a FIFO.
 * Against the real binary (openat2 on this kernel): the files are served,
 * both links answer 404, and while a client asks for the FIFO (no writer
 * ever opens it) /healthz still answers and the FIFO itself gets 404. The
 * same refusals through sr_static_open directly, once with openat2 and
 * once forced onto the openat + O_NOFOLLOW fallback, so both paths are
 * tested on any kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/internal.h"
#include "srt_check.h"
#include "srt_http.h"
#include "srt_proc.h"

static char root[512], outside[600];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Makes the web root and the secret file next to it (not in it). */
static int make_tree(void **state) {
    (void)state;
    snprintf(root, sizeof root, "%s/test-logs/static-XXXXXX", SR_TEST_BINARY_DIR);
    mkdir(SR_TEST_BINARY_DIR "/test-logs", 0755);
    if (!mkdtemp(root)) return -1;
    char path[1024];
    snprintf(outside, sizeof outside, "%s.secret", root);
    write_file(outside, "root:x:0:0:secret\n");
    snprintf(path, sizeof path, "%s/index.html", root);
    write_file(path, "<p>index</p>\n");
    snprintf(path, sizeof path, "%s/a.txt", root);
    write_file(path, "plain file\n");
    snprintf(path, sizeof path, "%s/passwd.txt", root);
    if (symlink(outside, path) != 0) return -1;
    snprintf(path, sizeof path, "%s/inner.txt", root);
    if (symlink("a.txt", path) != 0) return -1;
    snprintf(path, sizeof path, "%s/pipe.txt", root);
    if (mkfifo(path, 0600) != 0) return -1;
    return 0;
}

static int remove_tree(void **state) {
    srt_teardown_servers(state);
    const char *names[] = {"index.html", "a.txt", "passwd.txt", "inner.txt", "pipe.txt"};
    char path[1024];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", root, names[i]);
        unlink(path);
    }
    rmdir(root);
    unlink(outside);
    return 0;
}

static void expect_get(int port, const char *path, int status, const char *body) {
    srt_response r;
    assert_int_equal(srt_http_get(port, path, &r), 0);
    if (r.status != status) fail_msg("GET %s: %d, expected %d: %s", path, r.status, status, r.body);
    if (body) assert_string_equal(r.body, body);
    assert_null(strstr(r.body, "secret"));
    srt_response_free(&r);
}

static void test_server_refuses_links_and_fifos(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--web-root", root, NULL), 0);
    expect_get(p.port, "/", 200, "<p>index</p>\n");
    expect_get(p.port, "/a.txt", 200, "plain file\n");
    expect_get(p.port, "/passwd.txt", 404, NULL); /* a link out of the folder */
    expect_get(p.port, "/inner.txt", 404, NULL);  /* any link at all */

    /* the FIFO: one client asks for it, another asks /healthz meanwhile */
    srt_conn fifo;
    assert_int_equal(srt_conn_open(&fifo, p.port, SRT_TIMEOUT_MS), 0);
    assert_int_equal(srt_conn_send_str(&fifo, "GET /pipe.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                                       SRT_TIMEOUT_MS),
                     0);
    srt_response r;
    assert_int_equal(srt_http_request_ex(p.port, "GET", "/healthz", NULL, NULL, 0, &r, 3000), 0);
    srt_check_status(&r, 200);
    srt_response_free(&r);
    assert_int_equal(srt_http_read_response(&fifo, &r, 3000), 0);
    srt_check_status(&r, 404);
    srt_response_free(&r);
    srt_conn_close(&fifo);
    srt_check_healthy(p.port);
    srt_check_stop(&p);
}

static void check_open_paths(int no_openat2) {
    struct stat st;
    int fd = sr_static_open(root, "a.txt", no_openat2, &st);
    assert_true(fd >= 0);
    assert_int_equal(st.st_size, 11);
    close(fd);
    errno = 0;
    assert_int_equal(sr_static_open(root, "passwd.txt", no_openat2, &st), -1);
    assert_int_equal(errno, ELOOP);
    assert_int_equal(sr_static_open(root, "inner.txt", no_openat2, &st), -1);
    assert_int_equal(errno, ELOOP);
    /* returns at once (O_NONBLOCK), refused as not a regular file */
    assert_int_equal(sr_static_open(root, "pipe.txt", no_openat2, &st), -1);
    assert_int_equal(errno, EACCES);
    assert_int_equal(sr_static_open(root, "missing.txt", no_openat2, &st), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_open_with_openat2(void **state) {
    (void)state;
    check_open_paths(0);
}

static void test_open_fallback(void **state) {
    (void)state;
    check_open_paths(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_refuses_links_and_fifos),
        cmocka_unit_test(test_open_with_openat2),
        cmocka_unit_test(test_open_fallback),
    };
    return cmocka_run_group_tests(tests, make_tree, remove_tree);
}
