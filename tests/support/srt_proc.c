/* SPDX-License-Identifier: MIT */
/*
 * srt_proc.c: spawning the sserooms binary for integration tests (see
 * srt_proc.h). fork + execve with stdout/stderr on a log file; readiness is
 * detected by polling the log for the "listening on" line, which avoids a
 * pipe that would have to be drained for the child's whole life.
 */
#include "srt_proc.h"
#include "srt_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SR_TEST_SERVER_BIN
#error "SR_TEST_SERVER_BIN must be defined (path of the sserooms binary)"
#endif
#ifndef SR_TEST_BINARY_DIR
#error "SR_TEST_BINARY_DIR must be defined"
#endif

extern char **environ;

#define MAX_LIVE 32
#define MAX_ARGV 128
#define MAX_ENV 1024

/* Servers started and not yet reaped, for srt_teardown_servers. */
static srt_proc *live[MAX_LIVE];
static unsigned log_seq;

const char *srt_server_bin(void) {
    const char *env = getenv("SR_TEST_SERVER_BIN");
    return env && *env ? env : SR_TEST_SERVER_BIN;
}

static void live_add(srt_proc *p) {
    for (int i = 0; i < MAX_LIVE; i++) {
        if (!live[i]) {
            live[i] = p;
            return;
        }
    }
}

static void live_remove(srt_proc *p) {
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i] == p) live[i] = NULL;
    }
}

static int decode_status(int wstatus) {
    if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
    return SRT_PROC_ERROR;
}

/* The parent's environment without SSEROOMS_* entries, then `extra`.
 * Entries point into environ / extra; the array is malloc'd. */
static char **build_env(const char *const *extra) {
    size_t n = 0;
    for (char **e = environ; *e; e++) n++;
    if (extra) {
        for (const char *const *e = extra; *e; e++) n++;
    }
    char **env = calloc(n + 1, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "SSEROOMS_", 9) != 0) env[k++] = *e;
    }
    if (extra) {
        for (const char *const *e = extra; *e; e++) env[k++] = (char *)*e;
    }
    env[k] = NULL;
    return env;
}

/* fork + exec of the binary with argv/envp and the given fds for 0, 1, 2.
 * Returns the pid or -1. Runs only async-signal-safe calls in the child. */
static pid_t spawn(char *const *argv, char *const *envp, int in_fd, int out_fd, int err_fd) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    /* the test process may hold many sockets: close everything else */
    close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(argv[0], argv, envp);
    static const char msg[] = "srt: execve of the server binary failed\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    _exit(127);
}

/* Finds the ready line in the log text; returns the port or 0. */
static int parse_ready_line(const char *text) {
    const char *marker = strstr(text, " listening on http://");
    if (!marker) marker = strstr(text, " listening on https://"); /* with --tls-cert */
    if (!marker) return 0;
    const char *eol = strchr(marker, '\n');
    if (!eol) return 0; /* line not complete yet */
    const char *colon = NULL;
    for (const char *q = marker; q < eol; q++) {
        if (*q == ':') colon = q;
    }
    if (!colon) return 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || port <= 0 || port > 65535) return 0;
    return (int)port;
}

/* True when the test names the writer-thread count itself (an argument
 * --threads / --threads=N, or SSEROOMS_THREADS in its environment). */
static bool test_names_threads(const srt_proc_opts *opts) {
    for (const char *const *a = opts->args; a && *a; a++) {
        if (strcmp(*a, "--threads") == 0 || strncmp(*a, "--threads=", 10) == 0) return true;
    }
    for (const char *const *e = opts->env; e && *e; e++) {
        if (strncmp(*e, "SSEROOMS_THREADS=", 17) == 0) return true;
    }
    return false;
}

static char *read_file(const char *path, size_t *len_out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    srt_buf b = {0};
    char tmp[4096];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof tmp)) > 0) srt_buf_append(&b, tmp, (size_t)n);
    close(fd);
    srt_buf_append(&b, "", 0);
    if (len_out) *len_out = b.len;
    return b.data;
}

void srt_proc_dump_log(const srt_proc *p, size_t max_bytes) {
    size_t len = 0;
    char *text = read_file(p->log_path, &len);
    if (!text) {
        fprintf(stderr, "srt: (no log at %s)\n", p->log_path);
        return;
    }
    size_t from = len > max_bytes ? len - max_bytes : 0;
    fprintf(stderr, "---- server log %s%s ----\n%s\n---- end of log ----\n", p->log_path,
            from ? " (tail)" : "", text + from);
    free(text);
}

int srt_proc_start(srt_proc *p, const srt_proc_opts *opts) {
    static const srt_proc_opts no_opts = {0};
    if (!opts) opts = &no_opts;
    memset(p, 0, sizeof *p);
    p->status = SRT_PROC_TIMEOUT;

    char dir[400];
    snprintf(dir, sizeof dir, "%s/test-logs", SR_TEST_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(p->log_path, sizeof p->log_path, "%s/%s-%d-%u.log", dir, program_invocation_short_name,
             (int)getpid(), ++log_seq);
    int log_fd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "srt: cannot create %s: %s\n", p->log_path, strerror(errno));
        return -1;
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    char *argv[MAX_ARGV];
    size_t argc = 0;
    argv[argc++] = (char *)srt_server_bin();
    if (!opts->no_listen_flags) {
        argv[argc++] = "--host";
        argv[argc++] = "127.0.0.1";
        argv[argc++] = "--port";
        argv[argc++] = "0";
        /* the ctest variants pin the writer threads (SR_TEST_THREADS), so
         * the suite tests the same write path on every machine */
        const char *threads = getenv("SR_TEST_THREADS");
        if (threads && *threads && !test_names_threads(opts)) {
            argv[argc++] = "--threads";
            argv[argc++] = (char *)threads;
        }
    }
    if (opts->args) {
        for (const char *const *a = opts->args; *a && argc < MAX_ARGV - 1; a++)
            argv[argc++] = (char *)*a;
    }
    argv[argc] = NULL;

    /* the child inherits our limit: allow a server with many streams */
    srt_raise_nofile(65536);

    char **envp = build_env(opts->env);
    p->pid = envp ? spawn(argv, envp, null_fd, log_fd, log_fd) : -1;
    free(envp);
    close(log_fd);
    close(null_fd);
    if (p->pid < 0) {
        fprintf(stderr, "srt: fork failed: %s\n", strerror(errno));
        p->pid = 0;
        return -1;
    }
    live_add(p);

    int timeout = opts->ready_timeout_ms > 0 ? opts->ready_timeout_ms : 10000;
    int64_t deadline = srt_now_ms() + timeout;
    for (;;) {
        char *text = read_file(p->log_path, NULL);
        p->port = text ? parse_ready_line(text) : 0;
        free(text);
        if (p->port > 0) return 0;
        if (!srt_proc_alive(p)) {
            fprintf(stderr, "srt: server exited (status %d) before it was ready\n", p->status);
            srt_proc_dump_log(p, 4000);
            return -1;
        }
        if (srt_now_ms() >= deadline) break;
        srt_sleep_ms(5);
    }
    fprintf(stderr, "srt: server printed no ready line within %d ms\n", timeout);
    srt_proc_stop(p, SIGKILL, 5000);
    srt_proc_dump_log(p, 4000);
    return -1;
}

int srt_server_start(srt_proc *p, ...) {
    const char *args[MAX_ARGV];
    size_t n = 0;
    va_list ap;
    va_start(ap, p);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < MAX_ARGV - 1) args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    srt_proc_opts opts = {.args = args};
    return srt_proc_start(p, &opts);
}

int srt_proc_signal(srt_proc *p, int sig) {
    if (p->pid <= 0) return -1;
    return kill(p->pid, sig);
}

bool srt_proc_alive(srt_proc *p) {
    if (p->pid <= 0) return false;
    int ws;
    pid_t r = waitpid(p->pid, &ws, WNOHANG);
    if (r == 0) return true;
    p->status = r == p->pid ? decode_status(ws) : SRT_PROC_ERROR;
    p->pid = 0;
    live_remove(p);
    return false;
}

int srt_proc_wait(srt_proc *p, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    while (srt_proc_alive(p)) {
        if (srt_now_ms() >= deadline) return SRT_PROC_TIMEOUT;
        srt_sleep_ms(2);
    }
    if (p->status == 0 && p->log_path[0])
        unlink(p->log_path); /* keep only the logs of servers that failed */
    return p->status;
}

int srt_proc_stop(srt_proc *p, int sig, int timeout_ms) {
    if (p->pid <= 0) return p->status;
    kill(p->pid, sig);
    int st = srt_proc_wait(p, timeout_ms);
    if (st == SRT_PROC_TIMEOUT) {
        fprintf(stderr, "srt: server pid %d still running %d ms after signal %d: killing it\n",
                (int)p->pid, timeout_ms, sig);
        kill(p->pid, SIGKILL);
        srt_proc_wait(p, 5000);
        p->status = SRT_PROC_TIMEOUT;
        srt_proc_dump_log(p, 4000);
        return SRT_PROC_TIMEOUT;
    }
    if (st != 0 && !(sig == SIGKILL && st == 128 + SIGKILL)) {
        fprintf(stderr, "srt: server exited with status %d\n", st);
        srt_proc_dump_log(p, 8000);
    }
    return st;
}

int srt_server_stop(srt_proc *p) {
    return srt_proc_stop(p, SIGTERM, 10000);
}

int srt_proc_mem(const srt_proc *p, long *rss_kb, long *hwm_kb) {
    if (p->pid <= 0) return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)p->pid);
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    char line[256];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        long v;
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1) {
            if (rss_kb) *rss_kb = v;
            found |= 1;
        } else if (sscanf(line, "VmHWM: %ld kB", &v) == 1) {
            if (hwm_kb) *hwm_kb = v;
            found |= 2;
        }
    }
    fclose(f);
    return found == 3 ? 0 : -1;
}

int srt_teardown_servers(void **state) {
    (void)state;
    for (int i = 0; i < MAX_LIVE; i++) {
        srt_proc *p = live[i];
        if (p && p->pid > 0) {
            fprintf(stderr, "srt: teardown kills server pid %d left running\n", (int)p->pid);
            kill(p->pid, SIGKILL);
            srt_proc_wait(p, 5000);
        }
        live[i] = NULL;
    }
    return 0;
}

int srt_run(const char *const *args, const char *const *env, int timeout_ms, srt_run_result *r) {
    memset(r, 0, sizeof *r);
    r->status = SRT_PROC_ERROR;
    char *argv[MAX_ARGV];
    size_t argc = 0;
    argv[argc++] = (char *)srt_server_bin();
    if (args) {
        for (const char *const *a = args; *a && argc < MAX_ARGV - 1; a++) argv[argc++] = (char *)*a;
    }
    argv[argc] = NULL;

    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0) return r->status;
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        close(out_pipe[0]);
        close(out_pipe[1]);
        return r->status;
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char **envp = build_env(env);
    pid_t pid = envp ? spawn(argv, envp, null_fd, out_pipe[1], err_pipe[1]) : -1;
    free(envp);
    close(null_fd);
    close(out_pipe[1]);
    close(err_pipe[1]);

    srt_buf out = {0}, err = {0};
    srt_buf_append(&out, "", 0);
    srt_buf_append(&err, "", 0);
    int64_t deadline = srt_now_ms() + timeout_ms;
    bool out_open = true, err_open = true, timed_out = false;
    while (pid > 0 && (out_open || err_open)) {
        struct pollfd pfd[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
        if (!out_open) pfd[0].fd = -1;
        if (!err_open) pfd[1].fd = -1;
        int left = srt_ms_left(deadline);
        if (left == 0) {
            timed_out = true;
            break;
        }
        if (poll(pfd, 2, left) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents) continue;
            char tmp[4096];
            ssize_t n = read(pfd[i].fd, tmp, sizeof tmp);
            if (n > 0) srt_buf_append(i == 0 ? &out : &err, tmp, (size_t)n);
            else if (n == 0 || errno != EINTR) {
                if (i == 0) out_open = false;
                else err_open = false;
            }
        }
    }
    close(out_pipe[0]);
    close(err_pipe[0]);
    if (pid > 0) {
        srt_proc p = {.pid = pid, .status = SRT_PROC_TIMEOUT};
        int st = timed_out ? SRT_PROC_TIMEOUT : srt_proc_wait(&p, srt_ms_left(deadline) + 1);
        if (st == SRT_PROC_TIMEOUT) {
            kill(pid, SIGKILL);
            srt_proc_wait(&p, 5000);
        }
        r->status = st;
    }
    r->out = out.data;
    r->out_len = out.len;
    r->err = err.data;
    r->err_len = err.len;
    return r->status;
}

void srt_run_result_free(srt_run_result *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
    r->out_len = r->err_len = 0;
}
