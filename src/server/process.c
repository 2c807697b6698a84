/* SPDX-License-Identifier: MIT */
/*
 * process.c: the Prometheus samples about the process and the build, for
 * GET /metrics: sserooms_build_info{version,commit} and the names of the
 * standard process collector (process_resident_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds,
 * process_cpu_seconds_total), the capacity signals of an SSE server, whose
 * streams are each one fd and some memory.
 *
 * Read at each scrape: memory and CPU from libuv (uv_resident_set_memory,
 * uv_getrusage), fds from /proc/self/fd and RLIMIT_NOFILE, the start time
 * from /proc/self/stat (its start in clock ticks after boot) and the boot
 * time in /proc/stat; where /proc cannot be read, a sample is left out
 * rather than made up, except the start time, then the server's creation.
 *
 * The commit is SR_GIT_COMMIT, set by CMake when the source is a git
 * checkout at configure time; "unknown" otherwise.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/internal.h"

#ifndef SR_GIT_COMMIT
#define SR_GIT_COMMIT "unknown"
#endif

/* Entries of /proc/self/fd (the directory's own fd excluded); -1 when it
 * cannot be read. */
static long open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;
}

/* The process's start, Unix seconds, from /proc; 0 when unknown. */
static double start_time_from_proc(void) {
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces and ')': fields count from the last ')' */
    const char *p = strrchr(buf, ')');
    if (!p) return 0;
    unsigned long long start_ticks = 0;
    int field = 2; /* the ')' closes field 2; starttime is field 22 */
    for (p++; *p && field < 22; p++)
        if (*p == ' ') field++;
    if (field != 22 || sscanf(p, "%llu", &start_ticks) != 1) return 0;
    f = fopen("/proc/stat", "r");
    if (!f) return 0;
    unsigned long long btime = 0;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %llu", &btime) == 1) break;
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (!btime || hz <= 0) return 0;
    return (double)btime + (double)start_ticks / (double)hz;
}

void sr_process_metrics(sr_server *srv, sr_buf *b) {
    sr_buf_printf(b,
                  "# HELP sserooms_build_info The running build: version and git commit (1).\n"
                  "# TYPE sserooms_build_info gauge\n"
                  "sserooms_build_info{version=\"%s\",commit=\"%s\"} 1\n",
                  sr_version(), SR_GIT_COMMIT);
    size_t rss = 0;
    if (uv_resident_set_memory(&rss) == 0)
        sr_buf_printf(b,
                      "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                      "# TYPE process_resident_memory_bytes gauge\n"
                      "process_resident_memory_bytes %zu\n",
                      rss);
    uv_rusage_t ru;
    if (uv_getrusage(&ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        sr_buf_printf(b,
                      "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
                      "seconds.\n# TYPE process_cpu_seconds_total counter\n"
                      "process_cpu_seconds_total %.6f\n",
                      cpu);
    }
    long fds = open_fds();
    if (fds >= 0)
        sr_buf_printf(b,
                      "# HELP process_open_fds Number of open file descriptors.\n"
                      "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
                      fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        sr_buf_printf(b,
                      "# HELP process_max_fds Maximum number of open file descriptors.\n"
                      "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
                      (unsigned long long)rl.rlim_cur);
    double start = start_time_from_proc();
    if (start <= 0) start = (double)srv->created_unix_ms / 1000.0;
    sr_buf_printf(b,
                  "# HELP process_start_time_seconds Start time of the process since unix epoch in "
                  "seconds.\n# TYPE process_start_time_seconds gauge\n"
                  "process_start_time_seconds %.3f\n",
                  start);
}
