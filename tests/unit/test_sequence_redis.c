/* SPDX-License-Identifier: MIT */
/*
 * test_sequence_redis.c: ordered event ids in the Redis adapter, on a real
 * redis-server, with adapters standing for nodes (no server): ids as the
 * reference's createRedisEventIdSequence makes them from INCRBY, at the
 * name's key under the adapter's prefix (never the raw name), the counter's
 * limits and wrong keys (refused before any write), the bounded name count
 * and TTL, the exact envelope the script publishes,
 * the publishing node receiving its own sequenced messages, two writers
 * publishing at full speed seen in one increasing order by every node, and
 * failures (Redis down, adapter closed with calls pending).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <cmocka.h>

#include "redis/adapter.h"
#include "redis/envelope.h"
#include "srt_redis.h"
#include "sserooms.h"

#define MAX_GOT 2048

typedef struct delivery {
    char room[32];
    char id[48];
    char event[32];
    char data[64];
    uint32_t retry;
} delivery;

typedef struct node {
    sr_redis_adapter *a;
    int n_got;
    delivery *got;
} node;

typedef struct fixture {
    srt_redis *redis;
    uv_loop_t loop;
    node A, B, C;
} fixture;

/* One completion. */
typedef struct answer {
    int calls;
    int rc;
    char text[800];
} answer;

static void on_answer(void *ud, int rc, const char *text) {
    answer *an = ud;
    an->calls++;
    an->rc = rc;
    snprintf(an->text, sizeof an->text, "%s", text ? text : "(null)");
}

static int deliver(void *ud, const char *room, size_t room_len, const sr_message *msg,
                   const char *dedup) {
    (void)dedup; /* sequenced publishes are told apart by their ids */
    node *n = ud;
    if (n->n_got < MAX_GOT) {
        delivery *d = &n->got[n->n_got];
        snprintf(d->room, sizeof d->room, "%.*s", (int)room_len, room);
        snprintf(d->id, sizeof d->id, "%s", msg->id ? msg->id : "(none)");
        snprintf(d->event, sizeof d->event, "%s", msg->event ? msg->event : "(none)");
        snprintf(d->data, sizeof d->data, "%.*s", (int)msg->data_len, msg->data);
        d->retry = msg->retry;
    }
    n->n_got++;
    return 1;
}

static void open_node(fixture *f, node *n, const char *url, const char *node_id) {
    sr_redis_options o;
    sr_redis_options_init(&o);
    o.url = url;
    o.channel_prefix = "test:";
    o.node_id = node_id;
    o.connect_timeout_ms = 500;
    o.ping_interval_ms = 500;
    o.reconnect_min_ms = 10;
    o.reconnect_max_ms = 100;
    char err[256];
    n->n_got = 0;
    n->got = calloc(MAX_GOT, sizeof *n->got);
    assert_non_null(n->got);
    assert_int_equal(sr_redis_adapter_new(&n->a, &f->loop, &o, deliver, n, err, sizeof err), 0);
}

static void close_node(node *n) {
    if (n->a) sr_redis_adapter_close(n->a);
    n->a = NULL;
    free(n->got);
    n->got = NULL;
}

static int all_up(void *ud) {
    fixture *f = ud;
    return strcmp(sr_redis_adapter_state(f->A.a), "up") == 0 &&
           strcmp(sr_redis_adapter_state(f->B.a), "up") == 0 &&
           strcmp(sr_redis_adapter_state(f->C.a), "up") == 0;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->redis = srt_redis_start(NULL, 0);
    assert_non_null(f->redis);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    open_node(f, &f->A, srt_redis_url(f->redis), "node-A");
    open_node(f, &f->B, srt_redis_url(f->redis), "node-B");
    open_node(f, &f->C, srt_redis_url(f->redis), "node-C");
    assert_true(srt_uv_run_until(&f->loop, all_up, f, 3000));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    close_node(&f->A);
    close_node(&f->B);
    close_node(&f->C);
    assert_int_equal(srt_uv_loop_drain_close(&f->loop), 0);
    srt_redis_free(f->redis);
    free(f);
    return 0;
}

static int answered(void *ud) {
    return ((answer *)ud)->calls > 0;
}

/* sequence_next on node n, waited for. */
static answer next_on(fixture *f, node *n, const char *key, const char *epoch) {
    answer an = {0};
    assert_int_equal(sr_redis_adapter_sequence_next(n->a, key, epoch, on_answer, &an), 0);
    assert_int_equal(an.calls, 0); /* never before returning */
    assert_true(srt_uv_run_until(&f->loop, answered, &an, 3000));
    assert_int_equal(an.calls, 1);
    return an;
}

static char *get_key(fixture *f, const char *key) {
    redisReply *r = srt_redis_command(f->redis, "GET %s", key);
    assert_non_null(r);
    char *s = r->type == REDIS_REPLY_STRING ? strdup(r->str) : strdup("(not a string)");
    freeReplyObject(r);
    return s;
}

static void redis_ok(fixture *f, const char *fmt, const char *key, const char *value) {
    redisReply *r = srt_redis_command(f->redis, fmt, key, value);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

typedef struct wait_subs {
    node *nodes[3];
    uint64_t want;
} wait_subs;

static int subscribed(void *ud) {
    wait_subs *w = ud;
    for (int i = 0; i < 3 && w->nodes[i]; i++) {
        sr_redis_counters c;
        sr_redis_adapter_counters(w->nodes[i]->a, &c);
        if (c.subscribed != w->want) return 0;
    }
    return 1;
}

static void subscribe_all(fixture *f, const char *room) {
    node *nodes[3] = {&f->A, &f->B, &f->C};
    sr_redis_counters c;
    sr_redis_adapter_counters(f->A.a, &c);
    for (int i = 0; i < 3; i++) assert_int_equal(sr_redis_adapter_subscribe(nodes[i]->a, room), 0);
    wait_subs w = {{&f->A, &f->B, &f->C}, c.subscribed + 1};
    assert_true(srt_uv_run_until(&f->loop, subscribed, &w, 3000));
}

/* --- ids ---------------------------------------------------------------- */

/* What createRedisEventIdSequence({key}) gives: INCRBY key 1, formatted; a
 * Node writer incrementing the same key shares the sequence. */
static void test_ids_like_the_reference(void **state) {
    fixture *f = *state;
    answer an = next_on(f, &f->A, "seq:k", NULL);
    assert_int_equal(an.rc, 0);
    assert_string_equal(an.text, "0-000000000001");
    an = next_on(f, &f->B, "seq:k", "0");
    assert_string_equal(an.text, "0-000000000002");
    an = next_on(f, &f->A, "seq:k", "7");
    assert_string_equal(an.text, "7-000000000003");
    char *v = get_key(f, "test:seq:seq:k"); /* the name under the adapter's prefix */
    assert_string_equal(v, "3");            /* a plain integer counter, as INCRBY leaves it */
    free(v);
    redisReply *r = srt_redis_command(f->redis, "EXISTS seq:k"); /* never the raw name */
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    r = srt_redis_command(f->redis, "INCRBY test:seq:seq:k 1"); /* a reference writer */
    assert_non_null(r);
    assert_int_equal(r->integer, 4);
    freeReplyObject(r);
    an = next_on(f, &f->A, "seq:k", "20240101");
    assert_string_equal(an.text, "20240101-000000000005");
    an = next_on(f, &f->A, "seq:other", NULL);
    assert_string_equal(an.text, "0-000000000001");
    sr_redis_counters c;
    sr_redis_adapter_counters(f->A.a, &c);
    assert_int_equal(c.sequenced, 4);
    assert_int_equal(c.sequence_failures, 0);
    char stats[2048];
    assert_true(sr_redis_adapter_stats_json(f->A.a, stats, sizeof stats) > 0);
    assert_non_null(strstr(stats, "\"sequenced\":4,\"sequence_failures\":0,"));
}

static void test_counter_limits_and_wrong_keys(void **state) {
    fixture *f = *state;
    redis_ok(f, "SET %s %s", "test:seq:seq:max", "999999999998");
    answer an = next_on(f, &f->A, "seq:max", NULL);
    assert_int_equal(an.rc, 0);
    assert_string_equal(an.text, "0-999999999999");
    an = next_on(f, &f->A, "seq:max", NULL);
    assert_int_equal(an.rc, SR_ETOOBIG);
    assert_non_null(strstr(an.text, "exhausted"));
    an = next_on(f, &f->A, "seq:max", NULL); /* stays an error: never a wrong id */
    assert_int_equal(an.rc, SR_ETOOBIG);
    char *v = get_key(f, "test:seq:seq:max"); /* checked before any write: not incremented */
    assert_string_equal(v, "999999999999");
    free(v);

    redis_ok(f, "SET %s %s", "test:seq:seq:neg", "-5");
    an = next_on(f, &f->A, "seq:neg", NULL);
    assert_int_equal(an.rc, SR_ETOOBIG);
    v = get_key(f, "test:seq:seq:neg");
    assert_string_equal(v, "-5");
    free(v);
    redis_ok(f, "SET %s %s", "test:seq:seq:huge", "9223372036854775807");
    an = next_on(f, &f->A, "seq:huge", NULL);
    assert_int_equal(an.rc, SR_ETOOBIG);
    redis_ok(f, "SET %s %s", "test:seq:seq:text", "abc");
    an = next_on(f, &f->A, "seq:text", NULL);
    assert_int_equal(an.rc, SR_EINVAL);
    assert_non_null(strstr(an.text, "integer"));
    redis_ok(f, "LPUSH %s %s", "test:seq:seq:list", "x");
    an = next_on(f, &f->A, "seq:list", NULL);
    assert_int_equal(an.rc, SR_EINVAL);
    assert_null(strstr(an.text, "WRONGTYPE")); /* our words; Redis's are for no one */

    /* an exhausted counter publishes nothing */
    subscribe_all(f, "limits");
    const char *rooms[] = {"limits"};
    sr_message msg = {.data = "1", .data_len = 1};
    an.calls = 0;
    assert_int_equal(sr_redis_adapter_publish_sequenced(f->A.a, rooms, 1, &msg, NULL, 0, "seq:max",
                                                        NULL, on_answer, &an),
                     0);
    assert_true(srt_uv_run_until(&f->loop, answered, &an, 3000));
    assert_int_equal(an.rc, SR_ETOOBIG);
    srt_uv_run_until(&f->loop, NULL, NULL, 100);
    assert_int_equal(f->A.n_got + f->B.n_got + f->C.n_got, 0);

    /* arguments the server would have refused */
    assert_int_equal(sr_redis_adapter_sequence_next(f->A.a, "", NULL, on_answer, &an), SR_EINVAL);
    assert_int_equal(sr_redis_adapter_sequence_next(f->A.a, "k", "1x", on_answer, &an), SR_EINVAL);
    /* names that could leave the namespace, refused by the adapter itself */
    assert_int_equal(sr_redis_adapter_sequence_next(f->A.a, "{test:}#h:r", NULL, on_answer, &an),
                     SR_EINVAL);
    assert_int_equal(sr_redis_adapter_sequence_next(f->A.a, "a b", NULL, on_answer, &an),
                     SR_EINVAL);
    assert_int_equal(sr_redis_adapter_sequence_next(f->A.a, "a*", NULL, on_answer, &an), SR_EINVAL);
    assert_int_equal(sr_redis_adapter_publish_sequenced(f->A.a, rooms, 0, &msg, NULL, 0, "k", NULL,
                                                        on_answer, &an),
                     SR_EINVAL);
    sr_redis_counters c;
    sr_redis_adapter_counters(f->A.a, &c);
    assert_int_equal(c.sequence_failures, 7);
}

/* A bounded number of names: past it the least recently used name and its
 * counter are dropped (a new name always works); every counter carries the
 * TTL, renewed on each use. */
static void test_bounded_names_and_ttl(void **state) {
    fixture *f = *state;
    sr_redis_adapter_sequence_limits(f->A.a, 60000, 3);
    answer an = next_on(f, &f->A, "kept", NULL);
    assert_string_equal(an.text, "0-000000000001");
    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof name, "flood%d", i);
        an = next_on(f, &f->A, name, NULL);
        assert_string_equal(an.text, "0-000000000001");
        an = next_on(f, &f->A, "kept", NULL); /* used again: never the least recent */
    }
    assert_string_equal(an.text, "0-000000000011");
    redisReply *r = srt_redis_command(f->redis, "ZCARD test:seq#names");
    assert_int_equal(r->integer, 3);
    freeReplyObject(r);
    r = srt_redis_command(f->redis, "EXISTS test:seq:flood0 test:seq:flood7");
    assert_int_equal(r->integer, 0); /* dropped with their names */
    freeReplyObject(r);
    r = srt_redis_command(f->redis, "EXISTS test:seq:flood9 test:seq:kept");
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
    r = srt_redis_command(f->redis, "PTTL test:seq:kept");
    assert_true(r->integer > 50000 && r->integer <= 60000);
    freeReplyObject(r);
    an = next_on(f, &f->A, "newcomer", NULL);
    assert_string_equal(an.text, "0-000000000001");
    /* no bound, no TTL: a plain persistent counter, as the reference keeps it */
    sr_redis_adapter_sequence_limits(f->A.a, 0, 0);
    an = next_on(f, &f->A, "plain", NULL);
    assert_string_equal(an.text, "0-000000000001");
    r = srt_redis_command(f->redis, "PTTL test:seq:plain");
    assert_int_equal(r->integer, -1);
    freeReplyObject(r);
}

/* --- publishing ----------------------------------------------------------- */

static void test_id_slot_matches_encode(void **state) {
    (void)state;
    sr_message msgs[] = {
        {.data = "1", .data_len = 1},
        {.event = "tick", .data = "{\"a\":\"\\u00e9\"}", .data_len = SIZE_MAX, .retry = 250},
        {.event = "x\"y", .id = "ignored", .data = "[null]", .data_len = SIZE_MAX},
    };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        for (int with_meta = 0; with_meta < 2; with_meta++) {
            const char *meta = with_meta ? "{\"tenant\":7}" : NULL;
            size_t meta_len = meta ? strlen(meta) : 0;
            size_t len = 0, at = 0;
            char *slot = sr_envelope_encode_id_slot(&msgs[i], "n/seq", meta, meta_len, &len, &at);
            assert_non_null(slot);
            sr_message with_id = msgs[i];
            with_id.id = "12-000000000345";
            size_t elen = 0;
            char *expect = sr_envelope_encode_alloc(&with_id, "n/seq", meta, meta_len, &elen);
            char joined[512];
            snprintf(joined, sizeof joined, "%.*s%s%s", (int)at, slot, with_id.id, slot + at);
            assert_string_equal(joined, expect);
            assert_int_equal(len + strlen(with_id.id), elen);
            free(slot);
            free(expect);
        }
    }
}

/* Reads one pub/sub message from a blocking hiredis subscriber. */
static char *read_message(redisContext *sub) {
    redisReply *r = NULL;
    if (redisGetReply(sub, (void **)&r) != REDIS_OK || !r) return NULL;
    char *payload = NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[2]->type == REDIS_REPLY_STRING)
        payload = strdup(r->element[2]->str);
    freeReplyObject(r);
    return payload;
}

static void test_exact_envelope_and_own_delivery(void **state) {
    fixture *f = *state;
    subscribe_all(f, "env");
    redisContext *raw = redisConnect("127.0.0.1", srt_redis_port(f->redis));
    assert_true(raw && !raw->err);
    struct timeval tv = {3, 0};
    redisSetTimeout(raw, tv);
    redisReply *r = redisCommand(raw, "SUBSCRIBE test:env");
    assert_non_null(r);
    freeReplyObject(r);

    const char *rooms[] = {"env"};
    sr_message msg = {.event = "update",
                      .id = "dropped",
                      .data = "{\"v\":[1,2.50,\"\\u2028\"]}",
                      .data_len = SIZE_MAX,
                      .retry = 3000};
    const char *meta = "{\"tenant\":\"t1\"}";
    answer an = {0};
    assert_int_equal(sr_redis_adapter_publish_sequenced(f->A.a, rooms, 1, &msg, meta, strlen(meta),
                                                        "seq:env", "3", on_answer, &an),
                     0);
    assert_true(srt_uv_run_until(&f->loop, answered, &an, 3000));
    assert_int_equal(an.rc, 0);
    assert_string_equal(an.text, "3-000000000001");

    char *payload = read_message(raw);
    assert_non_null(payload);
    assert_string_equal(payload, "{\"v\":1,\"m\":{\"event\":\"update\",\"data\":{\"v\":[1,2.50,"
                                 "\"\\u2028\"]},\"id\":\"3-000000000001\",\"retry\":3000},"
                                 "\"n\":\"node-A/seq\",\"meta\":{\"tenant\":\"t1\"}}");
    free(payload);
    redisFree(raw);

    /* every node delivers it, the publishing one included */
    for (int tries = 0; tries < 300 && (f->A.n_got < 1 || f->B.n_got < 1 || f->C.n_got < 1);
         tries++)
        srt_uv_run_until(&f->loop, NULL, NULL, 10);
    node *nodes[] = {&f->A, &f->B, &f->C};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nodes[i]->n_got, 1);
        delivery *d = &nodes[i]->got[0];
        assert_string_equal(d->room, "env");
        assert_string_equal(d->id, "3-000000000001");
        assert_string_equal(d->event, "update");
        assert_string_equal(d->data, "{\"v\":[1,2.50,\"\\u2028\"]}");
        assert_int_equal(d->retry, 3000);
    }
    sr_redis_counters c;
    sr_redis_adapter_counters(f->A.a, &c);
    assert_int_equal(c.own_echo, 0);

    /* an ordinary publish of A is still dropped by A as its own echo */
    assert_int_equal(sr_redis_adapter_publish(f->A.a, rooms, 1, &msg, NULL, 0), 0);
    for (int tries = 0; tries < 300 && (f->B.n_got < 2 || c.own_echo < 1); tries++) {
        srt_uv_run_until(&f->loop, NULL, NULL, 10);
        sr_redis_adapter_counters(f->A.a, &c);
    }
    assert_int_equal(c.own_echo, 1);
    assert_int_equal(f->A.n_got, 1);
    assert_int_equal(f->B.n_got, 2);
}

typedef struct race {
    fixture *f;
    int want;
    answer *answers;
    int n_answers;
} race;

static int race_done(void *ud) {
    race *r = ud;
    for (int i = 0; i < r->n_answers; i++)
        if (r->answers[i].calls == 0) return 0;
    return r->f->A.n_got >= r->want && r->f->B.n_got >= r->want && r->f->C.n_got >= r->want;
}

static uint64_t counter_of(const char *id) {
    const char *dash = strchr(id, '-');
    assert_non_null(dash);
    assert_int_equal(strlen(dash + 1), 12);
    return strtoull(dash + 1, NULL, 10);
}

/* Two writers publish as fast as they can (everything pipelined at once) to
 * two rooms; every node, both writers included, sees one sequence: every id
 * once per room, increasing. */
static void test_two_writers_one_order(void **state) {
    fixture *f = *state;
    subscribe_all(f, "race");
    enum { PER_WRITER = 400 };
    answer *answers = calloc(2 * PER_WRITER, sizeof *answers);
    const char *rooms[] = {"race"};
    for (int i = 0; i < PER_WRITER; i++) {
        char data[32];
        for (int w = 0; w < 2; w++) {
            snprintf(data, sizeof data, "{\"w\":%d,\"i\":%d}", w, i);
            sr_message msg = {.event = "e", .data = data, .data_len = SIZE_MAX};
            node *n = w ? &f->B : &f->A;
            assert_int_equal(sr_redis_adapter_publish_sequenced(n->a, rooms, 1, &msg, NULL, 0,
                                                                "seq:race", NULL, on_answer,
                                                                &answers[2 * i + w]),
                             0);
        }
    }
    race r = {f, 2 * PER_WRITER, answers, 2 * PER_WRITER};
    assert_true(srt_uv_run_until(&f->loop, race_done, &r, 20000));
    srt_uv_run_until(&f->loop, NULL, NULL, 50); /* nothing more arrives */

    /* each writer's own calls were answered in the order it made them */
    uint64_t last[2] = {0, 0};
    char *seen = calloc(2 * PER_WRITER + 1, 1);
    for (int i = 0; i < 2 * PER_WRITER; i++) {
        assert_int_equal(answers[i].rc, 0);
        uint64_t c = counter_of(answers[i].text);
        assert_true(c >= 1 && c <= 2 * PER_WRITER);
        assert_true(c > last[i % 2]);
        last[i % 2] = c;
        assert_int_equal(seen[c], 0);
        seen[c] = 1;
    }
    node *nodes[] = {&f->A, &f->B, &f->C};
    for (int k = 0; k < 3; k++) {
        node *n = nodes[k];
        assert_int_equal(n->n_got, 2 * PER_WRITER);
        for (int i = 0; i < n->n_got; i++) {
            /* exactly 1, 2, 3, ...: increasing, none missing, none twice */
            if (counter_of(n->got[i].id) != (uint64_t)i + 1)
                fail_msg("node %d: message %d has id %s", k, i, n->got[i].id);
            assert_string_equal(n->got[i].room, "race");
        }
    }
    free(seen);
    free(answers);
}

static void test_multi_room_one_id(void **state) {
    fixture *f = *state;
    subscribe_all(f, "m1");
    subscribe_all(f, "m2");
    const char *rooms[] = {"m1", "m2", "m3"};
    sr_message msg = {.data = "\"x\"", .data_len = SIZE_MAX};
    answer an = {0};
    assert_int_equal(sr_redis_adapter_publish_sequenced(f->B.a, rooms, 3, &msg, NULL, 0, "seq:m",
                                                        NULL, on_answer, &an),
                     0);
    assert_true(srt_uv_run_until(&f->loop, answered, &an, 3000));
    for (int tries = 0; tries < 300 && f->C.n_got < 2; tries++)
        srt_uv_run_until(&f->loop, NULL, NULL, 10);
    srt_uv_run_until(&f->loop, NULL, NULL, 50);
    /* one copy per subscribed room, all with the one id (the server de-duplicates) */
    assert_int_equal(f->C.n_got, 2);
    assert_string_equal(f->C.got[0].room, "m1");
    assert_string_equal(f->C.got[1].room, "m2");
    assert_string_equal(f->C.got[0].id, "0-000000000001");
    assert_string_equal(f->C.got[1].id, "0-000000000001");
    assert_int_equal(f->B.n_got, 2);
}

/* --- failures ------------------------------------------------------------ */

static void test_redis_down_and_close(void **state) {
    fixture *f = *state;
    /* calls pending when the adapter closes are answered from close */
    answer pending = {0};
    assert_int_equal(sr_redis_adapter_sequence_next(f->C.a, "seq:c", NULL, on_answer, &pending), 0);
    sr_redis_adapter_close(f->C.a);
    f->C.a = NULL;
    assert_int_equal(pending.calls, 1);
    assert_int_equal(pending.rc, SR_ECLOSED);

    /* Redis gone: refused at once, counted, done not called */
    assert_int_equal(srt_redis_stop(f->redis), 0);
    srt_uv_run_until(&f->loop, NULL, NULL, 200);
    answer an = {0};
    const char *rooms[] = {"r"};
    sr_message msg = {.data = "1", .data_len = 1};
    assert_int_equal(sr_redis_adapter_sequence_next(f->A.a, "seq:d", NULL, on_answer, &an),
                     SR_EADAPTER);
    assert_int_equal(sr_redis_adapter_publish_sequenced(f->A.a, rooms, 1, &msg, NULL, 0, "seq:d",
                                                        NULL, on_answer, &an),
                     SR_EADAPTER);
    assert_int_equal(an.calls, 0);
    sr_redis_counters c;
    sr_redis_adapter_counters(f->A.a, &c);
    assert_int_equal(c.sequence_failures, 2);

    /* back: it works again (persistence is off here: the counter starts over) */
    assert_int_equal(srt_redis_restart(f->redis), 0);
    for (int tries = 0; tries < 300 && strcmp(sr_redis_adapter_state(f->A.a), "up") != 0; tries++)
        srt_uv_run_until(&f->loop, NULL, NULL, 10);
    an = next_on(f, &f->A, "seq:d", NULL);
    assert_int_equal(an.rc, 0);
    assert_string_equal(an.text, "0-000000000001");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ids_like_the_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_limits_and_wrong_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_names_and_ttl, setup, teardown),
        cmocka_unit_test(test_id_slot_matches_encode),
        cmocka_unit_test_setup_teardown(test_exact_envelope_and_own_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_writers_one_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_room_one_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_down_and_close, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
