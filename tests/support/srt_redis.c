/* SPDX-License-Identifier: MIT */
/*
 * srt_redis.c: runs a real redis-server for tests (see srt_redis.h).
 *
 * The port is chosen at random below Linux's ephemeral range (32768 up),
 * so an outgoing connection cannot take it between a kill and a restart,
 * among ports that bind on 127.0.0.1 right now. A cluster node also
 * listens on its bus port, port + 10000, which must be free and below the
 * ephemeral range too: cluster nodes take 20000..22767 (bus 30000..32767)
 * and plain servers 20000..29999, so a plain server never sits on a bus
 * port. If redis-server still fails to start (a race with another
 * process), another port is tried; if every try fails, the end of its log
 * goes to stderr before its directory is removed. Readiness is a blocking
 * PING that gets any reply (NOAUTH counts).
 */
#include "srt_redis.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_EXTRA_ARGS 32

struct srt_redis {
    pid_t pid;
    int port;
    char dir[64];
    char url[64];
    char sock[128];
    int with_socket;
    char *extra[MAX_EXTRA_ARGS + 1];
    char *password;
    int cluster; /* --cluster-enabled: also listens on port + 10000 */
};

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int port_is_free(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    /* as redis-server itself does: a port whose old connections sit in
     * TIME_WAIT (after a kill -9) is free to listen on */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

#define CLUSTER_BUS_OFFSET 10000

static int pick_port(int cluster) {
    static unsigned seed;
    if (!seed) seed = (unsigned)getpid() ^ (unsigned)now_ms();
    int span = cluster ? 2768 : 10000;
    for (int i = 0; i < 400; i++) {
        int port = 20000 + (int)(rand_r(&seed) % (unsigned)span);
        if (port_is_free(port) && (!cluster || port_is_free(port + CLUSTER_BUS_OFFSET)))
            return port;
    }
    return -1;
}

/* The last lines of redis.log on stderr: why redis-server did not start. */
static void print_log_tail(const srt_redis *r) {
    char path[128];
    snprintf(path, sizeof path, "%s/redis.log", r->dir);
    FILE *f = fopen(path, "r");
    if (!f) return;
    char tail[2048];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long)sizeof tail - 1 ? size - (long)sizeof tail + 1 : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(tail, 1, sizeof tail - 1, f);
    fclose(f);
    tail[n] = 0;
    fprintf(stderr, "srt_redis: end of %s:\n%s\n", path, tail);
}

static int spawn(srt_redis *r) {
    char port[16], log[128];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    const char *argv[24 + MAX_EXTRA_ARGS];
    int n = 0;
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    argv[n++] = "--dir";
    argv[n++] = r->dir;
    argv[n++] = "--logfile";
    argv[n++] = log;
    if (r->with_socket) {
        argv[n++] = "--unixsocket";
        argv[n++] = r->sock;
        argv[n++] = "--unixsocketperm";
        argv[n++] = "700";
    }
    for (int i = 0; r->extra[i]; i++) argv[n++] = r->extra[i];
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    return 0;
}

/* Waits until redis answers PING (any reply). 0, or -1 if it exited or
 * did not answer within 10 s. */
static int wait_ready(srt_redis *r) {
    uint64_t deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        int status;
        if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
            r->pid = 0;
            return -1;
        }
        struct timeval tv = {0, 200000};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
        if (c && !c->err) {
            redisReply *rep = redisCommand(c, "PING");
            if (rep) {
                freeReplyObject(rep);
                redisFree(c);
                return 0;
            }
        }
        if (c) redisFree(c);
        sleep_ms(20);
    }
    return -1;
}

static int wait_exit(srt_redis *r, unsigned timeout_ms) {
    uint64_t deadline = now_ms() + timeout_ms;
    while (r->pid > 0) {
        int status;
        pid_t w = waitpid(r->pid, &status, WNOHANG);
        if (w == r->pid || (w < 0 && errno == ECHILD)) {
            r->pid = 0;
            return 0;
        }
        if (now_ms() > deadline) return -1;
        sleep_ms(5);
    }
    return 0;
}

srt_redis *srt_redis_start(const char *const *extra_args, int with_unix_socket) {
    srt_redis *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    snprintf(r->dir, sizeof r->dir, "/tmp/srt-redis-XXXXXX");
    if (!mkdtemp(r->dir)) {
        fprintf(stderr, "srt_redis: mkdtemp: %s\n", strerror(errno));
        free(r);
        return NULL;
    }
    r->with_socket = with_unix_socket;
    snprintf(r->sock, sizeof r->sock, "%s/redis.sock", r->dir);
    for (int i = 0; extra_args && extra_args[i] && i < MAX_EXTRA_ARGS; i++) {
        r->extra[i] = strdup(extra_args[i]);
        r->cluster |= strcmp(extra_args[i], "--cluster-enabled") == 0;
    }
    for (int attempt = 0; attempt < 8; attempt++) {
        r->port = pick_port(r->cluster);
        if (r->port < 0) break;
        snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
        if (spawn(r) != 0) break;
        if (wait_ready(r) == 0) return r;
        if (r->pid > 0) {
            kill(r->pid, SIGKILL);
            wait_exit(r, 5000);
        }
        /* a cluster node that got as far as writing its config would
         * otherwise start the next try with this try's identity */
        char conf[128];
        snprintf(conf, sizeof conf, "%s/nodes.conf", r->dir);
        unlink(conf);
    }
    fprintf(stderr, "srt_redis: could not start redis-server (last port %d)\n", r->port);
    print_log_tail(r);
    srt_redis_free(r);
    return NULL;
}

int srt_redis_port(const srt_redis *r) {
    return r->port;
}

const char *srt_redis_url(const srt_redis *r) {
    return r->url;
}

const char *srt_redis_socket(const srt_redis *r) {
    return r->with_socket ? r->sock : NULL;
}

int srt_redis_running(const srt_redis *r) {
    return r->pid > 0;
}

int srt_redis_pid(const srt_redis *r) {
    return r->pid > 0 ? (int)r->pid : 0;
}

int srt_redis_stop(srt_redis *r) {
    if (r->pid <= 0) return 0;
    kill(r->pid, SIGTERM);
    kill(r->pid, SIGCONT); /* in case a test left it stopped */
    if (wait_exit(r, 10000) == 0) return 0;
    kill(r->pid, SIGKILL);
    return wait_exit(r, 5000);
}

int srt_redis_kill9(srt_redis *r) {
    if (r->pid <= 0) return 0;
    kill(r->pid, SIGKILL);
    return wait_exit(r, 5000);
}

int srt_redis_restart(srt_redis *r) {
    if (r->pid > 0) return -1;
    /* The old listener may take a moment to release the port. */
    for (int i = 0; i < 100 && !port_is_free(r->port); i++) sleep_ms(20);
    for (int i = 0; r->cluster && i < 100 && !port_is_free(r->port + CLUSTER_BUS_OFFSET); i++)
        sleep_ms(20);
    if (spawn(r) != 0) return -1;
    return wait_ready(r);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

void srt_redis_free(srt_redis *r) {
    if (!r) return;
    srt_redis_stop(r);
    for (int i = 0; r->extra[i]; i++) free(r->extra[i]);
    free(r->password);
    /* everything redis-server wrote: its log, socket, dump.rdb, a cluster
     * node's nodes.conf, an AOF test's appendonlydir */
    nftw(r->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(r);
}

void srt_redis_set_password(srt_redis *r, const char *password) {
    free(r->password);
    r->password = password ? strdup(password) : NULL;
}

static redisContext *connect_blocking(srt_redis *r) {
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (r->password) {
        redisReply *rep = redisCommand(c, "AUTH %s", r->password);
        if (rep) freeReplyObject(rep);
    }
    return c;
}

redisReply *srt_redis_command(srt_redis *r, const char *fmt, ...) {
    redisContext *c = connect_blocking(r);
    if (!c) return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return rep;
}

redisReply *srt_redis_command_argv(srt_redis *r, int argc, const char **argv, const size_t *lens) {
    redisContext *c = connect_blocking(r);
    if (!c) return NULL;
    redisReply *rep = redisCommandArgv(c, argc, argv, lens);
    redisFree(c);
    return rep;
}

long long srt_redis_publish(srt_redis *r, const char *channel, const char *payload, size_t len) {
    const char *argv[3] = {"PUBLISH", channel, payload};
    size_t lens[3] = {7, strlen(channel), len};
    redisReply *rep = srt_redis_command_argv(r, 3, argv, lens);
    long long n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    if (rep) freeReplyObject(rep);
    return n;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **srt_redis_channels(srt_redis *r, const char *pattern, size_t *n) {
    *n = 0;
    redisReply *rep = srt_redis_command(r, "PUBSUB CHANNELS %s", pattern);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
        if (rep) freeReplyObject(rep);
        return NULL;
    }
    char **out = calloc(rep->elements, sizeof *out);
    for (size_t i = 0; out && i < rep->elements; i++) out[i] = strdup(rep->element[i]->str);
    if (out) {
        *n = rep->elements;
        qsort(out, *n, sizeof *out, cmp_str);
    }
    freeReplyObject(rep);
    return out;
}

void srt_redis_free_strings(char **s, size_t n) {
    for (size_t i = 0; s && i < n; i++) free(s[i]);
    free(s);
}

/* ------------------------------------------------------------ libuv helpers */

static void on_tick(uv_timer_t *t) {
    (void)t;
}

int srt_uv_run_until(uv_loop_t *loop, int (*pred)(void *ud), void *ud, uint32_t timeout_ms) {
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    uint64_t deadline = now_ms() + timeout_ms;
    int ok = pred ? pred(ud) : 0;
    while (!ok && now_ms() < deadline) {
        uv_run(loop, UV_RUN_ONCE);
        ok = pred ? pred(ud) : 0;
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static void close_walk(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

int srt_uv_loop_drain_close(uv_loop_t *loop) {
    /* Give closing handles and thread-pool work (getaddrinfo) up to 2 s.
     * A handle still open after that was left by the code under test (or
     * the test): it is listed, closed so the loop can go, and the answer is
     * UV_EBUSY, so the test's check of uv_loop_close fails. */
    uint64_t start = now_ms();
    while (now_ms() - start < 2000) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (uv_loop_close(loop) == 0) return 0;
        sleep_ms(1);
    }
    fprintf(stderr, "srt: handles still open on the loop after 2 s:\n");
    uv_print_all_handles(loop, stderr);
    uv_walk(loop, close_walk, NULL);
    for (int i = 0; i < 1000 && uv_loop_close(loop) != 0; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        sleep_ms(1);
    }
    return UV_EBUSY;
}
