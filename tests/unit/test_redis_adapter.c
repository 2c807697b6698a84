/* SPDX-License-Identifier: MIT */
/*
 * test_redis_adapter.c: the Redis adapter end to end on a real redis-server,
 * with two adapters standing for two nodes: delivery across nodes, own echo
 * dropped, bad envelopes counted by reason, Redis down (health, failures,
 * outbox), reconnect with resubscription, and the /stats JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "redis/adapter.h"
#include "redis/adapter_int.h" /* sr_redis_adapter_can_publish */
#include "srt_redis.h"
#include "sserooms.h"

#define MAX_GOT 64

typedef struct delivery {
    char room[64];
    char data[256];
    char id[64];
    char event[64];
    char dedup[64]; /* the envelope's de-duplication key, "" when none */
    uint32_t retry;
} delivery;

typedef struct node {
    sr_redis_adapter *a;
    int close_in_deliver; /* close the adapter from inside deliver */
    int n_got;
    delivery got[MAX_GOT];
} node;

typedef struct fixture {
    srt_redis *redis;
    uv_loop_t loop;
    node A, B;
} fixture;

static int deliver(void *ud, const char *room, size_t room_len, const sr_message *msg,
                   const char *dedup) {
    node *n = ud;
    if (n->n_got < MAX_GOT) {
        delivery *d = &n->got[n->n_got];
        snprintf(d->room, sizeof d->room, "%.*s", (int)room_len, room);
        snprintf(d->data, sizeof d->data, "%.*s", (int)msg->data_len, msg->data);
        snprintf(d->id, sizeof d->id, "%s", msg->id ? msg->id : "(none)");
        snprintf(d->event, sizeof d->event, "%s", msg->event ? msg->event : "(none)");
        snprintf(d->dedup, sizeof d->dedup, "%s", dedup ? dedup : "");
        d->retry = msg->retry;
    }
    n->n_got++;
    if (n->close_in_deliver) {
        sr_redis_adapter_close(n->a);
        n->a = NULL;
    }
    return 1;
}

static void base_options(sr_redis_options *o, const char *url, const char *node_id) {
    sr_redis_options_init(o);
    o->url = url;
    o->channel_prefix = "test:";
    o->node_id = node_id;
    o->connect_timeout_ms = 500;
    o->ping_interval_ms = 500;
    o->reconnect_min_ms = 10;
    o->reconnect_max_ms = 100;
}

static void open_node(fixture *f, node *n, const char *node_id, size_t outbox_max) {
    sr_redis_options o;
    base_options(&o, srt_redis_url(f->redis), node_id);
    o.outbox_max = outbox_max;
    char err[256];
    memset(n, 0, sizeof *n);
    assert_int_equal(sr_redis_adapter_new(&n->a, &f->loop, &o, deliver, n, err, sizeof err), 0);
}

static int both_up(void *ud) {
    fixture *f = ud;
    return strcmp(sr_redis_adapter_state(f->A.a), "up") == 0 &&
           strcmp(sr_redis_adapter_state(f->B.a), "up") == 0;
}

static int both_can_publish(void *ud) {
    fixture *f = ud;
    return sr_redis_adapter_can_publish(f->A.a) && sr_redis_adapter_can_publish(f->B.a);
}

static sr_redis_counters counters(node *n);

static int a_can_publish(void *ud) {
    fixture *f = ud;
    return sr_redis_adapter_can_publish(f->A.a) && counters(&f->A).outbox == 0;
}

static uint64_t published_want;

static int enough_published(void *ud) {
    fixture *f = ud;
    return counters(&f->A).published >= published_want;
}

/* A PUBLISH is counted when its reply reaches A, which may come after B
 * (or A's own subscriber) already has the message: wait for the count. */
static void wait_published(fixture *f, uint64_t n) {
    published_want = n;
    if (!srt_uv_run_until(&f->loop, enough_published, f, 3000)) {
        sr_redis_counters c = counters(&f->A);
        fail_msg("published %llu, not %llu: publish_failures %llu, outbox %llu",
                 (unsigned long long)c.published, (unsigned long long)n,
                 (unsigned long long)c.publish_failures, (unsigned long long)c.outbox);
    }
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->redis = srt_redis_start(NULL, 0);
    assert_non_null(f->redis);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    open_node(f, &f->A, "node-A", 0);
    open_node(f, &f->B, "node-B", 0);
    assert_true(srt_uv_run_until(&f->loop, both_up, f, 3000));
    /* "up" comes before the subscription set's first resync is over, and
     * until then a publish without an outbox is refused: the tests publish
     * at once, so wait for both to be able to */
    assert_true(srt_uv_run_until(&f->loop, both_can_publish, f, 3000));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    if (f->A.a) sr_redis_adapter_close(f->A.a);
    if (f->B.a) sr_redis_adapter_close(f->B.a);
    assert_int_equal(srt_uv_loop_drain_close(&f->loop), 0);
    srt_redis_free(f->redis);
    free(f);
    return 0;
}

typedef struct wait_sub {
    node *n;
    uint64_t want;
} wait_sub;

static int subscribed_is(void *ud) {
    wait_sub *w = ud;
    sr_redis_counters c;
    sr_redis_adapter_counters(w->n->a, &c);
    return c.subscribed == w->want;
}

static void wait_subscribed(fixture *f, node *n, uint64_t want) {
    wait_sub w = {n, want};
    assert_true(srt_uv_run_until(&f->loop, subscribed_is, &w, 3000));
}

typedef struct wait_got {
    node *n;
    int want;
} wait_got;

static int got_at_least(void *ud) {
    wait_got *w = ud;
    return w->n->n_got >= w->want;
}

static void wait_got_n(fixture *f, node *n, int want) {
    wait_got w = {n, want};
    assert_true(srt_uv_run_until(&f->loop, got_at_least, &w, 3000));
}

static sr_redis_counters counters(node *n) {
    sr_redis_counters c;
    sr_redis_adapter_counters(n->a, &c);
    return c;
}

/* Waits until B has received `want` messages in total (delivered or not). */
typedef struct wait_recv {
    node *n;
    uint64_t want;
} wait_recv;

static int received_at_least(void *ud) {
    wait_recv *w = ud;
    return counters(w->n).received >= w->want;
}

static void test_cross_node_delivery_exact(void **state) {
    fixture *f = *state;
    assert_int_equal(sr_redis_adapter_subscribe(f->B.a, "r1"), 0);
    assert_int_equal(sr_redis_adapter_subscribe(f->B.a, "r2"), 0);
    assert_int_equal(sr_redis_adapter_subscribe(f->A.a, "r1"), 0);
    wait_subscribed(f, &f->B, 2);
    wait_subscribed(f, &f->A, 1);
    const char *rooms[] = {"r1", "r2", "r3"};
    sr_message m = {.id = "7",
                    .event = "chat",
                    .data = "{\"t\":\"h\\u00e9\",\"n\":0.30000000000000004}",
                    .data_len = SIZE_MAX,
                    .retry = 3000};
    assert_int_equal(sr_redis_adapter_publish(f->A.a, rooms, 3, &m, "{\"k\":1}", 7), 0);
    wait_got_n(f, &f->B, 2);
    srt_uv_run_until(&f->loop, NULL, NULL, 50);
    assert_int_equal(f->B.n_got, 2); /* r1 and r2, not r3 */
    for (int i = 0; i < 2; i++) {
        assert_string_equal(f->B.got[i].room, rooms[i]);
        assert_string_equal(f->B.got[i].data, m.data);
        assert_string_equal(f->B.got[i].id, "7");
        assert_string_equal(f->B.got[i].event, "chat");
        assert_int_equal(f->B.got[i].retry, 3000);
    }
    /* both copies carry one de-duplication key: "<16 hex>:<counter>" */
    assert_int_equal(strlen(f->B.got[0].dedup), 18);
    assert_int_equal(f->B.got[0].dedup[16], ':');
    assert_string_equal(f->B.got[1].dedup, f->B.got[0].dedup);
    /* A got its own message back from Redis on r1 and dropped it */
    assert_int_equal(f->A.n_got, 0);
    assert_int_equal(counters(&f->A).own_echo, 1);
    wait_published(f, 3);
    assert_int_equal(counters(&f->A).published, 3);
    assert_int_equal(counters(&f->B).delivered, 2);
    /* the envelope on the wire is the reference's */
    sr_message bare = {.data = "\"[DONE]\"", .data_len = SIZE_MAX};
    assert_int_equal(sr_redis_adapter_publish(f->B.a, rooms, 1, &bare, NULL, 0), 0);
    wait_got_n(f, &f->A, 1);
    assert_string_equal(f->A.got[0].data, "\"[DONE]\"");
    assert_string_equal(f->A.got[0].id, "(none)");
    assert_string_equal(f->A.got[0].event, "(none)");
    assert_string_equal(f->A.got[0].dedup, ""); /* one room: no key */
    assert_int_equal(f->A.got[0].retry, 0);
    /* the next multi-room publish gets another key */
    assert_int_equal(sr_redis_adapter_publish(f->A.a, rooms, 2, &bare, NULL, 0), 0);
    wait_got_n(f, &f->B, 4);
    assert_string_equal(f->B.got[3].dedup, f->B.got[2].dedup);
    assert_string_not_equal(f->B.got[2].dedup, f->B.got[0].dedup);
    assert_memory_equal(f->B.got[2].dedup, f->B.got[0].dedup, 17); /* same adapter */
}

static void test_ten_publishes_and_unsubscribe(void **state) {
    fixture *f = *state;
    assert_int_equal(sr_redis_adapter_subscribe(f->B.a, "room"), 0);
    assert_int_equal(sr_redis_adapter_subscribe(f->B.a, "room"), 0); /* idempotent */
    wait_subscribed(f, &f->B, 1);
    const char *rooms[] = {"room"};
    char data[10][16];
    for (int i = 0; i < 10; i++) {
        snprintf(data[i], sizeof data[i], "%d", i);
        sr_message m = {.data = data[i], .data_len = SIZE_MAX};
        assert_int_equal(sr_redis_adapter_publish(f->A.a, rooms, 1, &m, NULL, 0), 0);
    }
    wait_got_n(f, &f->B, 10);
    for (int i = 0; i < 10; i++) assert_string_equal(f->B.got[i].data, data[i]);
    /* publish, unsubscribe, publish: only the first arrives */
    f->B.n_got = 0;
    sr_message first = {.data = "\"first\"", .data_len = SIZE_MAX};
    sr_message second = {.data = "\"second\"", .data_len = SIZE_MAX};
    assert_int_equal(sr_redis_adapter_publish(f->A.a, rooms, 1, &first, NULL, 0), 0);
    wait_got_n(f, &f->B, 1);
    assert_int_equal(sr_redis_adapter_unsubscribe(f->B.a, "room"), 0);
    wait_subscribed(f, &f->B, 0);
    assert_int_equal(sr_redis_adapter_publish(f->A.a, rooms, 1, &second, NULL, 0), 0);
    srt_uv_run_until(&f->loop, NULL, NULL, 100);
    assert_int_equal(f->B.n_got, 1);
    assert_string_equal(f->B.got[0].data, "\"first\"");
    size_t n = 0;
    char **chans = srt_redis_channels(f->redis, "test:*", &n);
    assert_int_equal(n, 0);
    srt_redis_free_strings(chans, n);
}

static void test_bad_envelopes_counted(void **state) {
    fixture *f = *state;
    assert_int_equal(sr_redis_adapter_subscribe(f->B.a, "bad"), 0);
    wait_subscribed(f, &f->B, 1);
    struct {
        const char *payload;
        size_t len;
    } cases[] = {
        {"not json", 0},
        {"{\"v\":1,", 0},
        {"\xff\xfe", 2},
        {"[1,2]", 0},
        {"\"str\"", 0},
        {"{\"v\":\"1\",\"m\":{\"data\":1},\"n\":\"x\"}", 0},
        {"{\"v\":2,\"m\":{\"data\":1},\"n\":\"x\"}", 0},
        {"{\"m\":{\"data\":1},\"n\":\"x\"}", 0},
        {"{\"v\":1,\"m\":{},\"n\":\"x\"}", 0},
        {"{\"v\":1,\"m\":{\"data\":1}}", 0},
        {"{\"v\":1,\"m\":{\"data\":1,\"id\":\"a\\nb\"},\"n\":\"x\"}", 0},
        {"{\"v\":1,\"m\":{\"data\":1,\"retry\":-5},\"n\":\"x\"}", 0},
        {"", 0},
        {"{\"v\":1,\"m\":{\"data\":\"ok\"},\"n\":\"node-B\"}", 0},  /* B's own id: echo */
        {"{\"v\":1,\"m\":{\"data\":\"ok\"},\"n\":\"someone\"}", 0}, /* good */
    };
    size_t n = sizeof cases / sizeof *cases;
    for (size_t i = 0; i < n; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].payload);
        assert_int_equal(srt_redis_publish(f->redis, "test:bad", cases[i].payload, len), 1);
    }
    wait_recv w = {&f->B, n};
    assert_true(srt_uv_run_until(&f->loop, received_at_least, &w, 3000));
    sr_redis_counters c = counters(&f->B);
    assert_int_equal(c.received, n);
    assert_int_equal(c.invalid_json, 4);
    assert_int_equal(c.not_object, 2);
    assert_int_equal(c.bad_version, 3);
    assert_int_equal(c.bad_fields, 4);
    assert_int_equal(c.own_echo, 1);
    assert_int_equal(c.delivered, 1);
    assert_int_equal(f->B.n_got, 1);
    assert_string_equal(f->B.got[0].data, "\"ok\"");
    assert_string_equal(sr_redis_adapter_state(f->B.a), "up");

    char stats[1024];
    size_t len = sr_redis_adapter_stats_json(f->B.a, stats, sizeof stats);
    assert_int_equal(len, strlen(stats));
    assert_string_equal(
        stats, ",\"redis\":{\"state\":\"up\",\"published\":0,\"publish_failures\":0,"
               "\"received\":15,\"delivered\":1,\"dropped\":{\"invalid_json\":4,"
               "\"not_object\":2,\"bad_version\":3,\"bad_fields\":4,\"foreign_channel\":0},"
               "\"own_echo\":1,\"reconnects\":0,\"subscribed\":1,\"outbox\":0,"
               "\"node_id\":\"node-B\"}");
    /* too small a buffer: nothing rather than broken JSON, and the size needed */
    assert_int_equal(sr_redis_adapter_stats_json(f->B.a, stats, 20), len + 1);
    assert_string_equal(stats, "");
    assert_int_equal(sr_redis_adapter_stats_json(f->B.a, stats, len + 1), len);
    char reason[64];
    assert_int_equal(sr_redis_adapter_health(f->B.a, reason, sizeof reason), 0);
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static int is_down(void *ud) {
    return strcmp(sr_redis_adapter_state(ud), "down") == 0;
}

static void test_unreachable_health_and_failures(void **state) {
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int port = free_port();
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    sr_redis_options o;
    base_options(&o, url, NULL);
    o.reconnect_min_ms = 200;
    o.reconnect_max_ms = 400;
    node n;
    memset(&n, 0, sizeof n);
    char err[256];
    assert_int_equal(sr_redis_adapter_new(&n.a, &loop, &o, deliver, &n, err, sizeof err), 0);
    /* a random v4 UUID */
    const char *id = sr_redis_adapter_node_id(n.a);
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[14], '4');
    assert_non_null(strchr("89ab", id[19]));
    assert_true(srt_uv_run_until(&loop, is_down, n.a, 2000));
    char reason[256], want[128];
    assert_int_equal(sr_redis_adapter_health(n.a, reason, sizeof reason), 1);
    snprintf(want, sizeof want, "redis unreachable: connect ECONNREFUSED 127.0.0.1:%d (retry in ",
             port);
    if (strncmp(reason, want, strlen(want)) != 0) fail_msg("reason: %s", reason);
    assert_non_null(strstr(reason, " ms)"));
    /* subscribing works offline (applied on connect); publishing fails, counted */
    assert_int_equal(sr_redis_adapter_subscribe(n.a, "x"), 0);
    const char *rooms[] = {"x", "y"};
    sr_message m = {.data = "1", .data_len = SIZE_MAX};
    assert_int_equal(sr_redis_adapter_publish(n.a, rooms, 2, &m, NULL, 0), SR_EADAPTER);
    assert_int_equal(counters(&n).publish_failures, 2);
    char stats[1024];
    assert_true(sr_redis_adapter_stats_json(n.a, stats, sizeof stats) > 0);
    assert_non_null(strstr(stats, "\"publish_failures\":2"));
    assert_true(strstr(stats, "\"state\":\"down\"") || strstr(stats, "\"state\":\"connecting\""));
    sr_redis_adapter_close(n.a);
    assert_int_equal(srt_uv_loop_drain_close(&loop), 0);

    /* bad options */
    base_options(&o, "redis://h:99999", NULL);
    assert_int_equal(sr_redis_adapter_new(&n.a, &loop, &o, deliver, &n, err, sizeof err),
                     SR_EINVAL);
    assert_non_null(strstr(err, "bad port"));
}

static void test_reconnect_resubscribe_and_outbox(void **state) {
    fixture *f = *state;
    /* replace A with an adapter holding up to 3 publishes while down */
    sr_redis_adapter_close(f->A.a);
    open_node(f, &f->A, "node-A", 3);
    assert_true(srt_uv_run_until(&f->loop, both_up, f, 3000));
    assert_int_equal(sr_redis_adapter_subscribe(f->B.a, "live"), 0);
    wait_subscribed(f, &f->B, 1);

    assert_int_equal(srt_redis_kill9(f->redis), 0);
    assert_true(srt_uv_run_until(&f->loop, is_down, f->A.a, 3000));
    char reason[256];
    assert_int_equal(sr_redis_adapter_health(f->B.a, reason, sizeof reason), 1);
    assert_non_null(strstr(reason, "redis unreachable: "));
    const char *rooms[] = {"live"};
    char data[5][8];
    for (int i = 0; i < 5; i++) {
        snprintf(data[i], sizeof data[i], "%d", i);
        sr_message m = {.data = data[i], .data_len = SIZE_MAX};
        assert_int_equal(sr_redis_adapter_publish(f->A.a, rooms, 1, &m, NULL, 0), 0);
    }
    sr_redis_counters c = counters(&f->A);
    assert_int_equal(c.outbox, 3);
    assert_int_equal(c.publish_failures, 2); /* the two oldest were pushed out */

    assert_int_equal(srt_redis_restart(f->redis), 0);
    assert_true(srt_uv_run_until(&f->loop, both_up, f, 3000));
    wait_subscribed(f, &f->B, 1);
    /* the outbox replays once A's publisher and subscriber are back and
     * resubscribed, so B may get the replayed ones ("2".."4") before or
     * after it resubscribed; what matters from here on is that a publish
     * made after both are up arrives, after any replayed ones */
    /* A replays its outbox once Redis confirmed its own resubscribe too;
     * a publish made before that would join the full outbox and push the
     * oldest held one out (counted, as with any full outbox) */
    assert_true(srt_uv_run_until(&f->loop, a_can_publish, f, 3000));
    f->B.n_got = 0;
    sr_message after = {.data = "\"after\"", .data_len = SIZE_MAX};
    assert_int_equal(sr_redis_adapter_publish(f->A.a, rooms, 1, &after, NULL, 0), 0);
    int seen_after = 0;
    for (int k = 1; k <= 4 && !seen_after; k++) {
        wait_got_n(f, &f->B, k);
        seen_after = strcmp(f->B.got[k - 1].data, "\"after\"") == 0;
    }
    assert_true(seen_after);
    assert_true(counters(&f->A).reconnects >= 2);
    assert_true(counters(&f->B).reconnects >= 2);
    assert_int_equal(counters(&f->A).outbox, 0);
    wait_published(f, 4);
    assert_int_equal(counters(&f->A).published, 4); /* 3 replayed + 1 */
    char reason2[64];
    assert_int_equal(sr_redis_adapter_health(f->B.a, reason2, sizeof reason2), 0);
}

static void acl(fixture *f, const char *cmd) {
    redisReply *rep = srt_redis_command(f->redis, cmd);
    assert_non_null(rep);
    if (rep->type == REDIS_REPLY_ERROR) fail_msg("%s: %s", cmd, rep->str);
    freeReplyObject(rep);
}

static void test_outbox_replays_in_order(void **state) {
    fixture *f = *state;
    /* A logs in as ACL user "pub"; changing its password and killing its
     * connections keeps A down (WRONGPASS on every retry) while B stays up */
    acl(f, "ACL SETUSER pub on >pw ~* &* +@all");
    sr_redis_adapter_close(f->A.a);
    char url[128];
    snprintf(url, sizeof url, "redis://pub:pw@127.0.0.1:%d", srt_redis_port(f->redis));
    sr_redis_options o;
    base_options(&o, url, "node-A");
    o.outbox_max = 10;
    memset(&f->A, 0, sizeof f->A);
    assert_int_equal(sr_redis_adapter_new(&f->A.a, &f->loop, &o, deliver, &f->A, NULL, 0), 0);
    assert_true(srt_uv_run_until(&f->loop, both_up, f, 3000));
    assert_int_equal(sr_redis_adapter_subscribe(f->B.a, "ob"), 0);
    wait_subscribed(f, &f->B, 1);

    acl(f, "ACL SETUSER pub resetpass >other");
    acl(f, "CLIENT KILL USER pub");
    assert_true(srt_uv_run_until(&f->loop, is_down, f->A.a, 3000));
    srt_uv_run_until(&f->loop, NULL, NULL, 50);
    char reason[256];
    assert_int_equal(sr_redis_adapter_health(f->A.a, reason, sizeof reason), 1);
    assert_non_null(strstr(reason, "WRONGPASS"));
    const char *rooms[] = {"ob"};
    char data[4][8];
    for (int i = 0; i < 4; i++) {
        snprintf(data[i], sizeof data[i], "%d", i);
        sr_message m = {.data = data[i], .data_len = SIZE_MAX};
        assert_int_equal(sr_redis_adapter_publish(f->A.a, rooms, 1, &m, NULL, 0), 0);
    }
    assert_int_equal(counters(&f->A).outbox, 4);
    assert_int_equal(counters(&f->A).publish_failures, 0);
    srt_uv_run_until(&f->loop, NULL, NULL, 100);
    assert_int_equal(f->B.n_got, 0);

    acl(f, "ACL SETUSER pub >pw");
    wait_got_n(f, &f->B, 4);
    for (int i = 0; i < 4; i++) assert_string_equal(f->B.got[i].data, data[i]);
    assert_int_equal(counters(&f->A).outbox, 0);
    wait_published(f, 4);
    assert_int_equal(counters(&f->A).published, 4);
}

static void test_close_from_deliver(void **state) {
    fixture *f = *state;
    assert_int_equal(sr_redis_adapter_subscribe(f->B.a, "c"), 0);
    wait_subscribed(f, &f->B, 1);
    f->B.close_in_deliver = 1;
    const char *rooms[] = {"c"};
    sr_message m = {.data = "1", .data_len = SIZE_MAX};
    /* three messages, most likely read in one go: the rest are dropped */
    for (int i = 0; i < 3; i++)
        assert_int_equal(sr_redis_adapter_publish(f->A.a, rooms, 1, &m, NULL, 0), 0);
    wait_got_n(f, &f->B, 1);
    srt_uv_run_until(&f->loop, NULL, NULL, 100);
    assert_int_equal(f->B.n_got, 1);
    assert_null(f->B.a);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cross_node_delivery_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ten_publishes_and_unsubscribe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_envelopes_counted, setup, teardown),
        cmocka_unit_test(test_unreachable_health_and_failures),
        cmocka_unit_test_setup_teardown(test_reconnect_resubscribe_and_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_replays_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_deliver, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
