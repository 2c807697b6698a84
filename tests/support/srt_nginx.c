/* SPDX-License-Identifier: MIT */
/*
 * srt_nginx.c: nginx in front of a server under test (see srt_nginx.h).
 */
#include "srt_nginx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "srt_util.h"

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

/* Replaces the one occurrence of `from` in *text; -1 when it is not there
 * exactly once (the snippet changed: the test must follow). */
static int replace_once(char **text, const char *from, const char *to) {
    char *at = strstr(*text, from);
    if (!at || strstr(at + 1, from)) {
        fprintf(stderr, "srt: nginx: the snippet has %s '%s'\n", at ? "more than one" : "no", from);
        return -1;
    }
    srt_buf b = {0};
    srt_buf_append(&b, *text, (size_t)(at - *text));
    srt_buf_appendf(&b, "%s%s", to, at + strlen(from));
    free(*text);
    *text = b.data;
    return 0;
}

/* A port nobody listens on now (the kernel's pick). */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int accepts(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static void dump_error_log(const srt_nginx *n) {
    char path[320];
    snprintf(path, sizeof path, "%s/error.log", n->dir);
    char *text = slurp(path);
    fprintf(stderr, "---- nginx error log ----\n%s\n---- end ----\n", text ? text : "(none)");
    free(text);
}

/* The generated configuration; 0 or -1. */
static int write_config(srt_nginx *n, int upstream_port) {
    char *snippet = slurp(SR_TEST_SOURCE_DIR "/packaging/nginx-sserooms.conf");
    if (!snippet) {
        fprintf(stderr, "srt: nginx: cannot read packaging/nginx-sserooms.conf\n");
        return -1;
    }
    char upstream[64], listen[64], logdir[300];
    snprintf(upstream, sizeof upstream, "server 127.0.0.1:%d;", upstream_port);
    snprintf(listen, sizeof listen, "listen 127.0.0.1:%d;", n->port);
    snprintf(logdir, sizeof logdir, "%s/", n->dir);
    if (replace_once(&snippet, "server 127.0.0.1:8080;", upstream) < 0 ||
        replace_once(&snippet, "listen 80;", listen) < 0 ||
        replace_once(&snippet, "/var/log/nginx/", logdir) < 0) {
        free(snippet);
        return -1;
    }
    snprintf(n->access_log, sizeof n->access_log, "%s/sserooms-sse.log", n->dir);
    srt_buf main_lines = {0};
    for (const char *p = snippet; (p = strstr(p, "\n#main:")); p++) {
        const char *eol = strchr(p + 1, '\n');
        size_t skip = strlen("\n#main:");
        srt_buf_append(&main_lines, p + skip, (size_t)((eol ? eol : p + strlen(p)) - p - skip));
        srt_buf_append(&main_lines, "\n", 1);
    }
    char path[320];
    snprintf(path, sizeof path, "%s/sserooms.conf", n->dir);
    FILE *f = fopen(path, "w");
    int ok = f && fputs(snippet, f) >= 0;
    if (f) ok = fclose(f) == 0 && ok;
    free(snippet);
    snprintf(path, sizeof path, "%s/nginx.conf", n->dir);
    f = ok ? fopen(path, "w") : NULL;
    if (f) {
        /* as root the workers would switch to an unprivileged user that
         * cannot enter the test's private directory */
        fprintf(f,
                "%s"
                "pid %s/nginx.pid;\n"
                "error_log %s/error.log warn;\n"
                "worker_processes 1;\n"
                "%s"
                "http {\n"
                "    client_body_temp_path %s/client_body;\n"
                "    proxy_temp_path %s/proxy;\n"
                "    fastcgi_temp_path %s/fastcgi;\n"
                "    uwsgi_temp_path %s/uwsgi;\n"
                "    scgi_temp_path %s/scgi;\n"
                "    access_log %s/access.log;\n"
                "    include %s/sserooms.conf;\n"
                "}\n",
                geteuid() == 0 ? "user root;\n" : "", n->dir, n->dir,
                main_lines.data ? main_lines.data : "", n->dir, n->dir, n->dir, n->dir, n->dir,
                n->dir, n->dir);
        ok = fclose(f) == 0;
    } else {
        ok = 0;
    }
    srt_buf_free(&main_lines);
    if (!ok) fprintf(stderr, "srt: nginx: cannot write the configuration in %s\n", n->dir);
    return ok ? 0 : -1;
}

static pid_t spawn(const srt_nginx *n) {
    const char *bin = access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : "nginx";
    char conf[320], errlog[320];
    snprintf(conf, sizeof conf, "%s/nginx.conf", n->dir);
    snprintf(errlog, sizeof errlog, "%s/error.log", n->dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int devnull = open("/dev/null", O_RDWR);
    int log = open(errlog, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (devnull >= 0) dup2(devnull, 0);
    if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
    }
    close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execlp(bin, bin, "-p", n->dir, "-c", conf, "-e", errlog, "-g", "daemon off;", (char *)NULL);
    _exit(127);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

int srt_nginx_start(srt_nginx *n, int upstream_port) {
    memset(n, 0, sizeof *n);
    snprintf(n->dir, sizeof n->dir, "%s/test-logs", SR_TEST_BINARY_DIR);
    mkdir(n->dir, 0755);
    snprintf(n->dir, sizeof n->dir, "%s/test-logs/nginx-XXXXXX", SR_TEST_BINARY_DIR);
    if (!mkdtemp(n->dir)) {
        fprintf(stderr, "srt: nginx: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    /* a port picked now may be taken before nginx binds it: try again then */
    for (int attempt = 0; attempt < 5; attempt++) {
        n->port = free_port();
        if (n->port <= 0 || write_config(n, upstream_port) < 0) return -1;
        n->pid = spawn(n);
        if (n->pid < 0) {
            n->pid = 0;
            fprintf(stderr, "srt: nginx: fork: %s\n", strerror(errno));
            return -1;
        }
        int64_t deadline = srt_now_ms() + 10000;
        while (srt_ms_left(deadline) > 0) {
            int status;
            if (waitpid(n->pid, &status, WNOHANG) == n->pid) {
                n->pid = 0;
                break;
            }
            if (accepts(n->port)) return 0;
            srt_sleep_ms(20);
        }
        if (n->pid) {
            kill(n->pid, SIGKILL);
            waitpid(n->pid, NULL, 0);
            n->pid = 0;
        }
        char path[320];
        snprintf(path, sizeof path, "%s/error.log", n->dir);
        char *text = slurp(path);
        int busy = text && strstr(text, "Address already in use");
        free(text);
        if (!busy) break;
        remove(path);
    }
    fprintf(stderr, "srt: nginx did not start (is it installed? scripts/deps.sh test)\n");
    dump_error_log(n);
    return -1;
}

void srt_nginx_stop(srt_nginx *n) {
    if (n->pid > 0) {
        kill(n->pid, SIGTERM);
        int64_t deadline = srt_now_ms() + 10000;
        while (waitpid(n->pid, NULL, WNOHANG) != n->pid) {
            if (srt_ms_left(deadline) == 0) {
                kill(n->pid, SIGKILL);
                waitpid(n->pid, NULL, 0);
                break;
            }
            srt_sleep_ms(20);
        }
        n->pid = 0;
    }
    if (n->dir[0]) nftw(n->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    n->dir[0] = '\0';
}
