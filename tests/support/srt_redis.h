/* SPDX-License-Identifier: MIT */
/*
 * srt_redis.h: a real redis-server for tests.
 *
 * srt_redis_start runs `redis-server` on a free 127.0.0.1 high port (and,
 * if asked, a Unix socket) with persistence off, in a private temporary
 * directory, and returns once it answers PING. It can be stopped, killed
 * with SIGKILL and restarted on the same port. The child dies with the
 * test process (PR_SET_PDEATHSIG). A small blocking command helper (hiredis
 * blocking API) lets tests inspect or poke Redis: PUBSUB CHANNELS, PUBLISH.
 * Also a helper that runs a libuv loop until a condition holds.
 */
#ifndef SRT_REDIS_H
#define SRT_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <uv.h>

typedef struct srt_redis srt_redis;

/* extra_args: NULL-terminated extra redis-server arguments (may be NULL),
 * e.g. {"--requirepass", "s3cret", NULL}. with_unix_socket: also listen on
 * a socket in the temp dir. NULL on failure (reason on stderr). */
srt_redis *srt_redis_start(const char *const *extra_args, int with_unix_socket);
int srt_redis_port(const srt_redis *r);
/* "redis://127.0.0.1:<port>" */
const char *srt_redis_url(const srt_redis *r);
/* The Unix socket path, or NULL. */
const char *srt_redis_socket(const srt_redis *r);
/* SIGTERM and wait; 0 or -1. */
int srt_redis_stop(srt_redis *r);
/* SIGKILL and wait; 0 or -1. */
int srt_redis_kill9(srt_redis *r);
/* Starts it again on the same port (and socket), waits for PING; 0 or -1. */
int srt_redis_restart(srt_redis *r);
int srt_redis_running(const srt_redis *r);
/* The redis-server process id (0 when not running): tests SIGSTOP it to
 * simulate a server that stops answering. */
int srt_redis_pid(const srt_redis *r);
/* Stops it if running, removes the temp dir, frees. */
void srt_redis_free(srt_redis *r);

/* Runs one command (hiredis printf-like format) on a fresh blocking
 * connection, authenticating with `password` when the server was started
 * with --requirepass (set with srt_redis_set_password). Returns the reply
 * (freeReplyObject it) or NULL on a connection error. */
redisReply *srt_redis_command(srt_redis *r, const char *fmt, ...);
/* The same with an argv (binary-safe). */
redisReply *srt_redis_command_argv(srt_redis *r, int argc, const char **argv, const size_t *lens);
void srt_redis_set_password(srt_redis *r, const char *password);
/* PUBLISH channel payload[0..len); the receiver count or -1. */
long long srt_redis_publish(srt_redis *r, const char *channel, const char *payload, size_t len);
/* PUBSUB CHANNELS <pattern>, sorted, as a malloc'd array of malloc'd
 * strings; *n the count; NULL with *n = 0 when empty or on error. */
char **srt_redis_channels(srt_redis *r, const char *pattern, size_t *n);
void srt_redis_free_strings(char **s, size_t n);

/* Runs `loop` (UV_RUN_ONCE, with a 5 ms wake-up timer) until pred(ud)
 * returns nonzero or timeout_ms pass; returns pred's last value. pred NULL:
 * just runs the loop for timeout_ms. */
int srt_uv_run_until(uv_loop_t *loop, int (*pred)(void *ud), void *ud, uint32_t timeout_ms);
/* Runs the loop until every handle has closed and closes it: 0. Handles
 * still open after 2 s are listed on stderr and closed, and the result is
 * UV_EBUSY (code under test that leaves a handle open fails its test). */
int srt_uv_loop_drain_close(uv_loop_t *loop);

#endif
