/* SPDX-License-Identifier: MIT */
/*
 * srt_nodes.h: several sserooms nodes sharing one real redis-server, for
 * the Redis integration tests (tests/integration/test_redis_*.c).
 *
 * Starting a Redis and nodes wired to it; reading the nested "redis" object
 * of /stats; waiting on /healthz, on PUBSUB NUMSUB and on counters; reading
 * SSE events while skipping heartbeats; publishing over many connections at
 * once; a raw Redis subscriber (hiredis, blocking) to look at envelopes as
 * they travel; and a paced publisher thread (N sequence-numbered messages a
 * second) that records when each publish started and how it ended.
 *
 * Functions named srt_nodes_check_* / srt_node_* fail the running cmocka
 * test on error; the others return codes. Every wait is bounded.
 * srt_nodes_teardown (a cmocka teardown) stops a pacer left running, kills
 * the servers and frees the Redis instances a failed test left behind.
 */
#ifndef SRT_NODES_H
#define SRT_NODES_H

#include "srt_check.h"
#include "srt_redis.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Redis and nodes ------------------------------------------------------ */

/* Starts a redis-server on a free port (failing the test if it cannot);
 * it is freed by srt_nodes_redis_free or by srt_nodes_teardown. */
srt_redis *srt_nodes_redis_start(void);
void srt_nodes_redis_free(srt_redis *r);

/* Starts `sserooms --redis <url> --node-id <node_id> [extra...]` (extra is
 * NULL-terminated, may be NULL) and waits for its ready line; fails the
 * test when it does not start. p must outlive the test (static storage):
 * srt_teardown_servers keeps a pointer to it. */
void srt_node_start(srt_proc *p, const char *redis_url, const char *node_id,
                    const char *const *extra);

/* Kills every server, stops a running pacer, frees every Redis left. */
int srt_nodes_teardown(void **state);

/* ---- /stats, /healthz ------------------------------------------------------- */

/* An integer member of /stats's "redis" object; with `group` (e.g.
 * "dropped") a member of that object inside it. Fails the test when absent. */
long long srt_node_redis_stat(int port, const char *group, const char *key);
/* /stats "redis"."state" ("up", "connecting", "down"), malloc'd. */
char *srt_node_redis_state(int port);
/* Polls until the counter is >= min; fails after timeout_ms. Returns it. */
long long srt_node_wait_redis_stat(int port, const char *group, const char *key, long long min,
                                   int timeout_ms);
/* GET /healthz: the HTTP status (-1 when the request failed); *body gets
 * the malloc'd body when body is not NULL. */
int srt_node_health(int port, char **body);
/* Polls /healthz every few ms until it answers `status`; fails after
 * timeout_ms. Returns the microsecond clock reading taken right after the
 * matching answer arrived. */
int64_t srt_node_wait_health(int port, int status, int timeout_ms);

/* GET /rooms as a list: *names (malloc'd strings, free with
 * srt_redis_free_strings) and *members (malloc'd); returns the count. Fails
 * the test on a malformed answer. */
size_t srt_node_rooms(int port, char ***names, long long **members);

/* ---- Redis side ----------------------------------------------------------- */

/* PUBSUB NUMSUB channel (-1 on error). */
long long srt_nodes_numsub(srt_redis *r, const char *channel);
/* Polls until PUBSUB NUMSUB channel == n; fails after timeout_ms. */
void srt_nodes_wait_numsub(srt_redis *r, const char *channel, long long n, int timeout_ms);

/* A blocking Redis connection subscribed to one channel. */
typedef struct srt_rawsub {
    redisContext *c;
} srt_rawsub;

/* Subscribes (and waits for the confirmation); fails the test on error. */
void srt_rawsub_open(srt_rawsub *s, srt_redis *r, const char *channel);
/* The payload of the next message (malloc'd, NUL-terminated, length in
 * *len when len is not NULL); fails the test after timeout_ms. */
char *srt_rawsub_next(srt_rawsub *s, size_t *len, int timeout_ms);
void srt_rawsub_close(srt_rawsub *s);

/* ---- streams and publishing ------------------------------------------------- */

/* Microseconds on the monotonic clock. */
int64_t srt_nodes_now_us(void);
/* The next event block (heartbeat comments skipped), malloc'd; fails the
 * test when none arrives within timeout_ms. */
char *srt_node_next_event(srt_sse *s, int timeout_ms);
/* Asserts the next event block equals `expected`, byte for byte. A failure
 * names the caller's file and line (the macros pass them). */
#define srt_node_expect_event(s, expected)                                                         \
    srt_node_expect_event_at((s), (expected), __FILE__, __LINE__)
void srt_node_expect_event_at(srt_sse *s, const char *expected, const char *file, int line);
/* Reads n event blocks and asserts they are, in some order, exactly the n
 * `expected` ones (for messages whose relative order is not defined). */
#define srt_node_expect_events_any_order(s, expected, n)                                           \
    srt_node_expect_events_any_order_at((s), (expected), (n), __FILE__, __LINE__)
void srt_node_expect_events_any_order_at(srt_sse *s, const char *const *expected, size_t n,
                                         const char *file, int line);
/* POSTs the n bodies to /publish over n connections at once (all requests
 * written before any answer is read); asserts each answered 200 and stores
 * each {"delivered":N} in delivered[i] (when delivered is not NULL). */
void srt_nodes_publish_parallel(int port, const char *const *bodies, size_t n,
                                long long *delivered);

/* ---- paced publisher ------------------------------------------------------- */

/* One publish made by the pacer. */
typedef struct srt_pace_rec {
    int64_t start_us;    /* when the request started */
    int64_t end_us;      /* when its answer arrived (or it failed) */
    int status;          /* HTTP status; negative errno when the request failed */
    long long delivered; /* the answer's count, -1 when none */
} srt_pace_rec;

/* A thread that POSTs {"room":<room>,"data":<seq>,"id":"<seq>"} to /publish
 * (a new connection each time, so no keep-alive timing can lose one),
 * seq = 0, 1, 2, ..., `per_second` times a second on a fixed schedule (a
 * slow answer does not lower the rate: late publishes catch up), until
 * stopped or `cap` messages are sent. With a pad (srt_pacer_start_padded)
 * the data is the string "<seq>:<pad bytes of 'x'>" instead. It never calls
 * cmocka. */
typedef struct srt_pacer {
    pthread_t thread;
    bool running;
    int port;
    char room[64];
    int period_us;
    size_t cap;
    long pad;           /* < 0: the data is the number seq */
    srt_pace_rec *recs; /* cap entries */
    size_t sent;        /* records complete so far (atomic, release/acquire) */
    int stop;           /* atomic */
} srt_pacer;

/* Starts the thread; fails the test if it cannot. One pacer at a time. */
void srt_pacer_start(srt_pacer *p, int port, const char *room, int per_second, size_t cap);
/* The same with the data "<seq>:<pad x's>" (a string of a chosen size). */
void srt_pacer_start_padded(srt_pacer *p, int port, const char *room, int per_second, size_t pad,
                            size_t cap);
/* Number of publishes whose record is complete. */
size_t srt_pacer_count(srt_pacer *p);
/* Stops and joins the thread (idempotent); the records stay readable
 * until srt_pacer_free. */
/* Waits until `n` publishes are complete; fails the test after timeout_ms. */
void srt_pacer_wait(srt_pacer *p, size_t n, int timeout_ms);
/* Fails the test unless every complete publish answered 200 with a
 * delivered count in [min_delivered, max_delivered]; prints the count and
 * the slowest answer, and returns the slowest answer in ms. */
long srt_pacer_check(srt_pacer *p, const char *who, long long min_delivered,
                     long long max_delivered);
/* The frame a stream gets for padded message seq:
 * "id: <seq>\ndata: \"<seq>:<pad x's>\"\n\n". */
void srt_pace_frame(srt_buf *out, long long seq, size_t pad);
void srt_pacer_stop(srt_pacer *p);
void srt_pacer_free(srt_pacer *p);

#endif
