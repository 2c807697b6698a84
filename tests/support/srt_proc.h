/* SPDX-License-Identifier: MIT */
/*
 * srt_proc.h: starting and stopping the real sserooms binary in tests.
 *
 * A server is started with `--host 127.0.0.1 --port 0` plus the test's own
 * arguments; its stdout and stderr go to a log file under
 * SR_TEST_BINARY_DIR/test-logs (so the child can never block on a full
 * pipe), and the port is learnt from the line
 * `sserooms <version> listening on http(s)://<host>:<port>` it prints when
 * ready. Inherited SSEROOMS_* variables are removed from the child's
 * environment so only what a test sets applies. When SR_TEST_THREADS is set
 * (the `.threads1` / `.threads2` ctest variants, tests/CMakeLists.txt) the
 * server also gets `--threads $SR_TEST_THREADS`, unless the test names
 * --threads (or SSEROOMS_THREADS) itself or passes no_listen_flags. Children die with the test
 * process (PR_SET_PDEATHSIG), and srt_teardown_servers (a cmocka teardown)
 * kills any a failed test left running.
 */
#ifndef SRT_PROC_H
#define SRT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Exit status codes returned by the wait/stop/run functions: the exit code
 * (0..255), 128 + the signal number when the child died of a signal, or one
 * of these. */
#define SRT_PROC_TIMEOUT (-1) /* still running when the timeout passed */
#define SRT_PROC_ERROR (-2)   /* could not start / wait */

typedef struct srt_proc {
    pid_t pid;          /* 0 when not running */
    int port;           /* the port the server listens on */
    int status;         /* exit status once reaped, else SRT_PROC_TIMEOUT */
    char log_path[512]; /* stdout + stderr of the child */
} srt_proc;

typedef struct srt_proc_opts {
    const char *const *args; /* extra arguments, NULL-terminated; may be NULL */
    const char *const *env;  /* extra NAME=VALUE entries, NULL-terminated */
    bool no_listen_flags;    /* do not add --host 127.0.0.1 --port 0 */
    int ready_timeout_ms;    /* 0 means 10000 */
} srt_proc_opts;

/* The binary under test: $SR_TEST_SERVER_BIN if set, else the build's. */
const char *srt_server_bin(void);

/* Starts the server and waits for its ready line. 0 on success (p->port
 * set); -1 on failure (the reason and the log's tail are on stderr, and the
 * child, if any, is killed). */
int srt_proc_start(srt_proc *p, const srt_proc_opts *opts);
/* Convenience: srt_proc_start with a NULL-terminated list of extra
 * arguments, e.g. srt_server_start(&p, "--heartbeat-ms", "200", NULL). */
int srt_server_start(srt_proc *p, ...) __attribute__((sentinel));

int srt_proc_signal(srt_proc *p, int sig);
/* True while the child has not exited (reaps it when it has). */
bool srt_proc_alive(srt_proc *p);
/* Waits up to timeout_ms for the child to exit; returns its exit status
 * (see above) or SRT_PROC_TIMEOUT. A clean exit (0) deletes the log. */
int srt_proc_wait(srt_proc *p, int timeout_ms);
/* Sends `sig` and waits up to timeout_ms; if the child is still running it
 * is SIGKILLed and SRT_PROC_TIMEOUT is returned. A non-zero status also
 * prints the log's tail to stderr. */
int srt_proc_stop(srt_proc *p, int sig, int timeout_ms);
/* Stop with SIGTERM and a 10 s timeout. */
int srt_server_stop(srt_proc *p);

/* Resident set size and its peak (kB) from /proc/<pid>/status; 0 or -1. */
int srt_proc_mem(const srt_proc *p, long *rss_kb, long *hwm_kb);
/* Prints up to the last max_bytes of the child's log to stderr. */
void srt_proc_dump_log(const srt_proc *p, size_t max_bytes);

/* Kills (SIGKILL) and reaps every server this process started that is
 * still running. Usable as a cmocka setup/teardown: always returns 0. */
int srt_teardown_servers(void **state);

/* Output of a run-to-completion invocation of the binary. */
typedef struct srt_run_result {
    int status; /* exit status as above */
    char *out;  /* stdout, NUL-terminated (malloc'd) */
    size_t out_len;
    char *err; /* stderr, NUL-terminated (malloc'd) */
    size_t err_len;
} srt_run_result;

/* Runs the binary with exactly `args` (NULL-terminated, without argv[0])
 * and extra environment `env`, stdin from /dev/null, capturing its output;
 * SIGKILL after timeout_ms (status SRT_PROC_TIMEOUT). Returns r->status. */
int srt_run(const char *const *args, const char *const *env, int timeout_ms, srt_run_result *r);
void srt_run_result_free(srt_run_result *r);

#endif
