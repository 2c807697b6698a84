/* SPDX-License-Identifier: MIT */
/*
 * srt_nodes.c: the multi-node Redis test harness (see srt_nodes.h).
 *
 * Redis instances and the pacer are remembered in statics so that
 * srt_nodes_teardown can clean up after a test that failed half-way (cmocka
 * longjmps out of the test, skipping its own cleanup). /stats is read with
 * srt_json (independent of the server's JSON code): the "redis" member's
 * text is cut out and read as an object of its own.
 */
#include "srt_nodes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_REDIS 8
#define MAX_PARALLEL 64

static srt_redis *redis_live[MAX_REDIS];
static srt_pacer *pacer_live;

/* ---- Redis and nodes ------------------------------------------------------ */

srt_redis *srt_nodes_redis_start(void) {
    srt_redis *r = srt_redis_start(NULL, 0);
    if (!r) fail_msg("could not start redis-server");
    for (int i = 0; i < MAX_REDIS; i++) {
        if (!redis_live[i]) {
            redis_live[i] = r;
            break;
        }
    }
    return r;
}

void srt_nodes_redis_free(srt_redis *r) {
    for (int i = 0; i < MAX_REDIS; i++) {
        if (redis_live[i] == r) redis_live[i] = NULL;
    }
    srt_redis_free(r);
}

void srt_node_start(srt_proc *p, const char *redis_url, const char *node_id,
                    const char *const *extra) {
    const char *args[32];
    size_t n = 0;
    args[n++] = "--redis";
    args[n++] = redis_url;
    args[n++] = "--node-id";
    args[n++] = node_id;
    for (size_t i = 0; extra && extra[i] && n < 31; i++) args[n++] = extra[i];
    args[n] = NULL;
    srt_proc_opts opts = {.args = args};
    if (srt_proc_start(p, &opts) != 0)
        fail_msg("node %s did not start with --redis %s", node_id, redis_url);
}

int srt_nodes_teardown(void **state) {
    if (pacer_live) srt_pacer_stop(pacer_live);
    srt_teardown_servers(state);
    for (int i = 0; i < MAX_REDIS; i++) {
        if (redis_live[i]) {
            srt_redis_free(redis_live[i]);
            redis_live[i] = NULL;
        }
    }
    return 0;
}

/* ---- /stats, /healthz ------------------------------------------------------- */

/* The text of member `key` of the object in json, malloc'd; NULL if absent. */
static char *member_copy(const char *json, const char *key) {
    const char *v;
    size_t vlen;
    if (!srt_json_member(json, strlen(json), key, &v, &vlen)) return NULL;
    char *out = malloc(vlen + 1);
    if (!out) abort();
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return out;
}

/* The "redis" object of /stats (or of a member of it), malloc'd. */
static char *stats_redis_object(int port, const char *group) {
    srt_response r;
    int rc = srt_http_get(port, "/stats", &r);
    if (rc != 0) {
        srt_response_free(&r);
        fail_msg("GET /stats on port %d failed: %s", port, strerror(-rc));
    }
    srt_check_status(&r, 200);
    char *obj = member_copy(r.body, "redis");
    if (obj && group) {
        char *inner = member_copy(obj, group);
        free(obj);
        obj = inner;
    }
    if (!obj) {
        srt_dump_bytes("  /stats", r.body, r.body_len);
        srt_response_free(&r);
        fail_msg("/stats has no \"redis\"%s%s object", group ? "." : "", group ? group : "");
    }
    srt_response_free(&r);
    return obj;
}

long long srt_node_redis_stat(int port, const char *group, const char *key) {
    char *obj = stats_redis_object(port, group);
    long long v;
    bool ok = srt_json_int(obj, key, &v);
    if (!ok) {
        srt_dump_bytes("  redis stats", obj, strlen(obj));
        free(obj);
        fail_msg("/stats \"redis\" has no integer \"%s\"", key);
    }
    free(obj);
    return v;
}

char *srt_node_redis_state(int port) {
    char *obj = stats_redis_object(port, NULL);
    char *state = srt_json_string(obj, "state");
    free(obj);
    if (!state) fail_msg("/stats \"redis\" has no \"state\" string");
    return state;
}

long long srt_node_wait_redis_stat(int port, const char *group, const char *key, long long min,
                                   int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    for (;;) {
        long long v = srt_node_redis_stat(port, group, key);
        if (v >= min) return v;
        if (srt_now_ms() >= deadline)
            fail_msg("port %d: redis %s%s%s stayed at %lld, expected >= %lld within %d ms", port,
                     group ? group : "", group ? "." : "", key, v, min, timeout_ms);
        srt_sleep_ms(5);
    }
}

int srt_node_health(int port, char **body) {
    if (body) *body = NULL;
    srt_response r;
    int rc = srt_http_request_ex(port, "GET", "/healthz", NULL, NULL, 0, &r, 5000);
    int status = rc == 0 ? r.status : -1;
    if (rc == 0 && body && r.body) *body = strdup(r.body);
    srt_response_free(&r);
    return status;
}

int64_t srt_node_wait_health(int port, int status, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    int got;
    while ((got = srt_node_health(port, NULL)) != status) {
        if (srt_now_ms() >= deadline) {
            char *body = NULL;
            srt_node_health(port, &body);
            fprintf(stderr, "  /healthz: %s\n", body ? body : "(no answer)");
            free(body);
            fail_msg("port %d: /healthz answered %d, not %d, for %d ms", port, got, status,
                     timeout_ms);
        }
        srt_sleep_ms(5);
    }
    return srt_nodes_now_us();
}

size_t srt_node_rooms(int port, char ***names, long long **members) {
    srt_response r;
    int rc = srt_http_get(port, "/rooms", &r);
    if (rc != 0) {
        srt_response_free(&r);
        fail_msg("GET /rooms on port %d failed: %s", port, strerror(-rc));
    }
    srt_check_status(&r, 200);
    const char *arr;
    size_t arr_len;
    long long count = srt_rooms_count(r.body);
    if (count < 0 || !srt_json_member(r.body, r.body_len, "rooms", &arr, &arr_len)) {
        srt_dump_bytes("  /rooms", r.body, r.body_len);
        srt_response_free(&r);
        fail_msg("/rooms is not {\"rooms\":[...]}");
    }
    size_t n = (size_t)count;
    *names = calloc(n ? n : 1, sizeof **names);
    *members = calloc(n ? n : 1, sizeof **members);
    if (!*names || !*members) abort();
    for (size_t i = 0; i < n; i++) {
        const char *el;
        size_t el_len;
        bool ok = srt_json_array_elem(arr, arr_len, i, &el, &el_len);
        char *obj = ok ? strndup(el, el_len) : NULL;
        (*names)[i] = obj ? srt_json_string(obj, "name") : NULL;
        ok = obj && (*names)[i] && srt_json_int(obj, "members", &(*members)[i]);
        free(obj);
        if (!ok) {
            srt_dump_bytes("  /rooms", r.body, r.body_len);
            srt_response_free(&r);
            fail_msg("/rooms entry %zu is not {\"name\":..,\"members\":N}", i);
        }
    }
    srt_response_free(&r);
    return n;
}

/* ---- Redis side ----------------------------------------------------------- */

long long srt_nodes_numsub(srt_redis *r, const char *channel) {
    redisReply *rep = srt_redis_command(r, "PUBSUB NUMSUB %s", channel);
    long long n = -1;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[1]->type == REDIS_REPLY_INTEGER)
        n = rep->element[1]->integer;
    if (rep) freeReplyObject(rep);
    return n;
}

void srt_nodes_wait_numsub(srt_redis *r, const char *channel, long long n, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    long long got;
    while ((got = srt_nodes_numsub(r, channel)) != n) {
        if (srt_now_ms() >= deadline)
            fail_msg("PUBSUB NUMSUB %s is %lld, expected %lld within %d ms", channel, got, n,
                     timeout_ms);
        srt_sleep_ms(5);
    }
}

void srt_rawsub_open(srt_rawsub *s, srt_redis *r, const char *channel) {
    struct timeval tv = {5, 0};
    s->c = redisConnectWithTimeout("127.0.0.1", srt_redis_port(r), tv);
    if (!s->c || s->c->err) {
        if (s->c) redisFree(s->c);
        s->c = NULL;
        fail_msg("raw subscriber: cannot connect to redis");
    }
    redisSetTimeout(s->c, tv);
    redisReply *rep = redisCommand(s->c, "SUBSCRIBE %s", channel);
    bool ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3;
    if (rep) freeReplyObject(rep);
    if (!ok) {
        srt_rawsub_close(s);
        fail_msg("raw subscriber: SUBSCRIBE %s failed", channel);
    }
}

char *srt_rawsub_next(srt_rawsub *s, size_t *len, int timeout_ms) {
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisSetTimeout(s->c, tv);
    redisReply *rep = NULL;
    if (redisGetReply(s->c, (void **)&rep) != REDIS_OK || !rep)
        fail_msg("raw subscriber: no message within %d ms (%s)", timeout_ms, s->c->errstr);
    bool ok = rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
              rep->element[2]->type == REDIS_REPLY_STRING;
    char *out = NULL;
    if (ok) {
        out = malloc(rep->element[2]->len + 1);
        if (!out) abort();
        memcpy(out, rep->element[2]->str, rep->element[2]->len);
        out[rep->element[2]->len] = '\0';
        if (len) *len = rep->element[2]->len;
    }
    freeReplyObject(rep);
    if (!ok) fail_msg("raw subscriber: unexpected reply shape");
    return out;
}

void srt_rawsub_close(srt_rawsub *s) {
    if (s->c) redisFree(s->c);
    s->c = NULL;
}

/* ---- streams and publishing ------------------------------------------------- */

int64_t srt_nodes_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *srt_node_next_event(srt_sse *s, int timeout_ms) {
    char *block;
    int rc = srt_sse_next_event(s, &block, NULL, timeout_ms);
    if (rc != 0) {
        if (s->conn.in.len) srt_dump_bytes("  partial", s->conn.in.data, s->conn.in.len);
        fail_msg("no SSE event within %d ms (%s)", timeout_ms,
                 rc == SRT_SSE_EOF ? "the stream ended" : "timeout");
    }
    return block;
}

/* Like srt_node_next_event, but a failure says where it was expected. */
static char *next_event_for(srt_sse *s, const char *expected, const char *file, int line) {
    char *block;
    int rc = srt_sse_next_event(s, &block, NULL, SRT_TIMEOUT_MS);
    if (rc != 0) {
        if (s->conn.in.len) srt_dump_bytes("  partial", s->conn.in.data, s->conn.in.len);
        if (expected) srt_dump_bytes("  expected", expected, strlen(expected));
        fail_msg("%s:%d: no SSE event within %d ms (%s)", file, line, SRT_TIMEOUT_MS,
                 rc == SRT_SSE_EOF ? "the stream ended" : "timeout");
    }
    return block;
}

void srt_node_expect_event_at(srt_sse *s, const char *expected, const char *file, int line) {
    char *block = next_event_for(s, expected, file, line);
    bool ok = srt_bytes_equal("SSE event", block, strlen(block), expected);
    free(block);
    if (!ok) fail_msg("%s:%d: SSE event mismatch", file, line);
}

void srt_node_expect_events_any_order_at(srt_sse *s, const char *const *expected, size_t n,
                                         const char *file, int line) {
    bool *used = calloc(n ? n : 1, sizeof *used);
    if (!used) abort();
    for (size_t i = 0; i < n; i++) {
        size_t first_unused = 0;
        while (first_unused < n && used[first_unused]) first_unused++;
        char *block = next_event_for(s, expected[first_unused], file, line);
        size_t j = 0;
        while (j < n && (used[j] || strcmp(expected[j], block) != 0)) j++;
        if (j == n) {
            srt_dump_bytes("  unexpected event", block, strlen(block));
            for (size_t k = 0; k < n; k++)
                if (!used[k]) srt_dump_bytes("  still expected", expected[k], strlen(expected[k]));
            free(block);
            free(used);
            fail_msg("%s:%d: event %zu of %zu is not one of those expected (or a duplicate)", file,
                     line, i + 1, n);
        }
        used[j] = true;
        free(block);
    }
    free(used);
}

void srt_nodes_publish_parallel(int port, const char *const *bodies, size_t n,
                                long long *delivered) {
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    srt_conn conns[MAX_PARALLEL];
    if (n > MAX_PARALLEL) fail_msg("at most %d parallel publishes", MAX_PARALLEL);
    for (size_t i = 0; i < n; i++) {
        int rc = srt_conn_open(&conns[i], port, SRT_TIMEOUT_MS);
        if (rc != 0) fail_msg("publish connection %zu: %s", i, strerror(-rc));
    }
    for (size_t i = 0; i < n; i++) {
        int rc = srt_http_send_request(&conns[i], "POST", "/publish", headers, bodies[i],
                                       strlen(bodies[i]), SRT_TIMEOUT_MS);
        if (rc != 0) fail_msg("publish %zu: sending failed: %s", i, strerror(-rc));
    }
    for (size_t i = 0; i < n; i++) {
        srt_response r;
        int rc = srt_http_read_response(&conns[i], &r, SRT_TIMEOUT_MS);
        if (rc != 0) {
            srt_response_free(&r);
            fail_msg("publish %zu: no answer: %s", i, strerror(-rc));
        }
        srt_check_status(&r, 200);
        long long d = -1;
        if (!srt_json_int(r.body, "delivered", &d)) {
            srt_dump_bytes("  body", r.body, r.body_len);
            srt_response_free(&r);
            fail_msg("publish %zu: answer is not {\"delivered\":N}", i);
        }
        if (delivered) delivered[i] = d;
        srt_response_free(&r);
        srt_conn_close(&conns[i]);
    }
}

/* ---- paced publisher ------------------------------------------------------- */

static void sleep_until_us(int64_t t) {
    int64_t now = srt_nodes_now_us();
    if (t <= now) return;
    struct timespec ts = {(t - now) / 1000000, ((t - now) % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void append_pad(srt_buf *b, size_t pad) {
    char xs[256];
    memset(xs, 'x', sizeof xs);
    while (pad > 0) {
        size_t k = pad < sizeof xs ? pad : sizeof xs;
        srt_buf_append(b, xs, k);
        pad -= k;
    }
}

void srt_pace_frame(srt_buf *out, long long seq, size_t pad) {
    srt_buf_consume(out, out->len);
    srt_buf_appendf(out, "id: %lld\ndata: \"%lld:", seq, seq);
    append_pad(out, pad);
    srt_buf_append(out, "\"\n\n", 3);
}

static void *pacer_main(void *arg) {
    srt_pacer *p = arg;
    srt_buf body = {0};
    int64_t t0 = srt_nodes_now_us();
    for (size_t seq = 0; seq < p->cap && !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE); seq++) {
        sleep_until_us(t0 + (int64_t)seq * p->period_us);
        srt_buf_consume(&body, body.len);
        srt_buf_appendf(&body, "{\"room\":\"%s\",\"id\":\"%zu\",\"data\":", p->room, seq);
        if (p->pad < 0) {
            srt_buf_appendf(&body, "%zu}", seq);
        } else {
            srt_buf_appendf(&body, "\"%zu:", seq);
            append_pad(&body, (size_t)p->pad);
            srt_buf_append(&body, "\"}", 2);
        }
        srt_pace_rec *rec = &p->recs[seq];
        rec->start_us = srt_nodes_now_us();
        static const char *const json[] = {"Content-Type: application/json", NULL};
        srt_response r;
        int rc = srt_http_request_ex(p->port, "POST", "/publish", json, body.data, body.len, &r,
                                     SRT_TIMEOUT_MS);
        rec->status = rc == 0 ? r.status : rc;
        rec->delivered = -1;
        if (rc == 0 && r.body) srt_json_int(r.body, "delivered", &rec->delivered);
        srt_response_free(&r);
        rec->end_us = srt_nodes_now_us();
        __atomic_store_n(&p->sent, seq + 1, __ATOMIC_RELEASE);
    }
    srt_buf_free(&body);
    return NULL;
}

static void pacer_start(srt_pacer *p, int port, const char *room, int per_second, long pad,
                        size_t cap) {
    memset(p, 0, sizeof *p);
    p->pad = pad;
    if (pacer_live) fail_msg("only one pacer at a time");
    p->port = port;
    snprintf(p->room, sizeof p->room, "%s", room);
    p->period_us = 1000000 / (per_second > 0 ? per_second : 1);
    p->cap = cap;
    p->recs = calloc(cap ? cap : 1, sizeof *p->recs);
    if (!p->recs) abort();
    int rc = pthread_create(&p->thread, NULL, pacer_main, p);
    if (rc != 0) {
        free(p->recs);
        p->recs = NULL;
        fail_msg("pthread_create: %s", strerror(rc));
    }
    p->running = true;
    pacer_live = p;
}

void srt_pacer_start(srt_pacer *p, int port, const char *room, int per_second, size_t cap) {
    pacer_start(p, port, room, per_second, -1, cap);
}

void srt_pacer_start_padded(srt_pacer *p, int port, const char *room, int per_second, size_t pad,
                            size_t cap) {
    pacer_start(p, port, room, per_second, (long)pad, cap);
}

size_t srt_pacer_count(srt_pacer *p) {
    return __atomic_load_n(&p->sent, __ATOMIC_ACQUIRE);
}

void srt_pacer_wait(srt_pacer *f, size_t n, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    while (srt_pacer_count(f) < n) {
        if (srt_now_ms() >= deadline)
            fail_msg("the pacer completed %zu of %zu publishes in %d ms", srt_pacer_count(f), n,
                     timeout_ms);
        srt_sleep_ms(5);
    }
}

long srt_pacer_check(srt_pacer *f, const char *who, long long min_delivered,
                     long long max_delivered) {
    size_t n = srt_pacer_count(f);
    int64_t slowest = 0;
    for (size_t i = 0; i < n; i++) {
        const srt_pace_rec *r = &f->recs[i];
        if (r->status != 200 || r->delivered < min_delivered || r->delivered > max_delivered)
            fail_msg("%s: publish %zu answered %d {\"delivered\":%lld} (expected 200, %lld..%lld)",
                     who, i, r->status, r->delivered, min_delivered, max_delivered);
        if (r->end_us - r->start_us > slowest) slowest = r->end_us - r->start_us;
    }
    printf("  %s: %zu publishes, all 200; slowest answer %.1f ms\n", who, n, slowest / 1000.0);
    fflush(stdout);
    return (long)(slowest / 1000);
}

void srt_pacer_stop(srt_pacer *p) {
    if (!p->running) return;
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
    pthread_join(p->thread, NULL);
    p->running = false;
    if (pacer_live == p) pacer_live = NULL;
}

void srt_pacer_free(srt_pacer *p) {
    srt_pacer_stop(p);
    free(p->recs);
    p->recs = NULL;
}
