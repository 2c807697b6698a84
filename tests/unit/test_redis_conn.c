/* SPDX-License-Identifier: MIT */
/*
 * test_redis_conn.c: the Redis connection layer against a real redis-server:
 * handshake (AUTH password, ACL user, SELECT, Unix socket), pipelining order,
 * refused and silent servers, keepalive PING in subscribed mode, a server
 * that stops answering, and reconnecting after kill -9 + restart.
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

#include "redis/conn.h"
#include "srt_redis.h"
#include "sserooms.h"

typedef struct fixture {
    uv_loop_t loop;
    sr_rconn *c;
    sr_redis_url url;
    int ups, downs;
    char down_err[512];
    /* replies */
    int n_replies;
    long long ints[1100];
    char last_err[256];
    int n_errs;
    /* pushes */
    int n_messages, n_confirms;
    char last_message[128];
    int want; /* replies + errors awaited by got_want */
} fixture;

static void on_up(void *ud, sr_rconn *c) {
    ((fixture *)ud)->ups++;
}

static void on_down(void *ud, sr_rconn *c, const char *err) {
    fixture *f = ud;
    f->downs++;
    snprintf(f->down_err, sizeof f->down_err, "%s", err);
}

static void on_push(void *ud, sr_rconn *c, redisReply *r) {
    fixture *f = ud;
    if (strcmp(r->element[0]->str, "message") == 0) {
        f->n_messages++;
        snprintf(f->last_message, sizeof f->last_message, "%s=%s", r->element[1]->str,
                 r->element[2]->str);
    } else {
        f->n_confirms++;
    }
}

static void on_reply(void *ud, redisReply *r, const char *err) {
    fixture *f = ud;
    if (err) {
        f->n_errs++;
        snprintf(f->last_err, sizeof f->last_err, "%s", err);
        return;
    }
    if (f->n_replies < 1100)
        f->ints[f->n_replies] = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    f->n_replies++;
}

static void open_conn(fixture *f, const char *url, int pubsub, uint32_t ping_ms) {
    memset(f, 0, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    char err[256];
    assert_int_equal(sr_redis_url_parse(url, &f->url, err, sizeof err), 0);
    sr_rconn_options o = {0};
    o.url = &f->url;
    o.name = pubsub ? "subscriber" : "publisher";
    o.pubsub = pubsub;
    o.connect_timeout_ms = 300;
    o.ping_interval_ms = ping_ms;
    o.reconnect_min_ms = 10;
    o.reconnect_max_ms = 50;
    sr_rconn_callbacks cbs = {on_up, on_down, on_push, f};
    assert_int_equal(sr_rconn_new(&f->c, &f->loop, &o, &cbs), 0);
    sr_rconn_start(f->c);
}

static void close_conn(fixture *f) {
    sr_rconn_close(f->c);
    sr_redis_url_free(&f->url);
    assert_int_equal(srt_uv_loop_drain_close(&f->loop), 0);
}

static int is_up(void *ud) {
    return sr_rconn_get_state(((fixture *)ud)->c) == SR_RCONN_UP;
}

static int is_down(void *ud) {
    return sr_rconn_get_state(((fixture *)ud)->c) == SR_RCONN_DOWN;
}

static int has_downs(void *ud) {
    return ((fixture *)ud)->downs > 0;
}

static int got_want(void *ud) {
    fixture *f = ud;
    return f->n_replies + f->n_errs >= f->want;
}

static int cmd(fixture *f, const char *a0, const char *a1, const char *a2) {
    const char *argv[3] = {a0, a1, a2};
    size_t lens[3] = {strlen(a0), a1 ? strlen(a1) : 0, a2 ? strlen(a2) : 0};
    int argc = a2 ? 3 : a1 ? 2 : 1;
    return sr_rconn_command(f->c, argc, argv, lens, on_reply, f);
}

/* A command whose string reply is copied to out. */
typedef struct str_reply {
    char text[4096];
    int done;
} str_reply;

static void on_str(void *ud, redisReply *r, const char *err) {
    str_reply *s = ud;
    s->done = 1;
    if (err) snprintf(s->text, sizeof s->text, "ERR:%s", err);
    else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        snprintf(s->text, sizeof s->text, "%.*s", (int)r->len, r->str);
    else if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->str)
        snprintf(s->text, sizeof s->text, "[%s]", r->element[0]->str);
    else if (r->type == REDIS_REPLY_NIL) snprintf(s->text, sizeof s->text, "(nil)");
}

static int str_done(void *ud) {
    return ((str_reply *)ud)->done;
}

static const char *str_cmd(fixture *f, str_reply *s, int argc, const char **argv) {
    memset(s, 0, sizeof *s);
    size_t lens[8];
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    assert_int_equal(sr_rconn_command(f->c, argc, argv, lens, on_str, s), 0);
    assert_true(srt_uv_run_until(&f->loop, str_done, s, 3000));
    return s->text;
}

/* ------------------------------------------------------------ tests */

static void test_connect_and_pipeline_order(void **state) {
    srt_redis *r = srt_redis_start(NULL, 0);
    assert_non_null(r);
    fixture f;
    open_conn(&f, srt_redis_url(r), 0, 1000);
    assert_int_equal(cmd(&f, "PING", NULL, NULL), SR_ESTATE); /* not up yet */
    assert_true(srt_uv_run_until(&f.loop, is_up, &f, 3000));
    assert_int_equal(f.ups, 1);
    assert_int_equal(sr_rconn_up_count(f.c), 1);
    assert_string_equal(sr_rconn_last_error(f.c), "");
    /* 1000 commands queued in one turn: one write, replies in order */
    for (int i = 0; i < 1000; i++) assert_int_equal(cmd(&f, "INCR", "counter", NULL), 0);
    f.want = 1000;
    assert_true(srt_uv_run_until(&f.loop, got_want, &f, 5000));
    assert_int_equal(f.n_errs, 0);
    for (int i = 0; i < 1000; i++) assert_int_equal(f.ints[i], i + 1);
    /* error replies go to the right callback and do not break the stream */
    f.n_replies = 0;
    assert_int_equal(cmd(&f, "SET", "s", "x"), 0);
    assert_int_equal(cmd(&f, "INCR", "s", NULL), 0);
    assert_int_equal(cmd(&f, "INCR", "counter", NULL), 0);
    f.want = 3;
    assert_true(srt_uv_run_until(&f.loop, got_want, &f, 3000));
    assert_int_equal(f.n_errs, 1);
    assert_non_null(strstr(f.last_err, "not an integer"));
    assert_int_equal(f.n_replies, 2);
    assert_int_equal(f.ints[1], 1001);
    assert_int_equal(sr_rconn_get_state(f.c), SR_RCONN_UP);
    close_conn(&f);
    srt_redis_free(r);
}

static void test_auth_password(void **state) {
    const char *args[] = {"--requirepass", "s3cr@t", NULL};
    srt_redis *r = srt_redis_start(args, 0);
    assert_non_null(r);
    char url[128];
    fixture f;
    snprintf(url, sizeof url, "redis://:s3cr%%40t@127.0.0.1:%d", srt_redis_port(r));
    open_conn(&f, url, 0, 1000);
    assert_true(srt_uv_run_until(&f.loop, is_up, &f, 3000));
    close_conn(&f);

    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d", srt_redis_port(r));
    open_conn(&f, url, 0, 1000);
    assert_true(srt_uv_run_until(&f.loop, has_downs, &f, 3000));
    assert_non_null(strstr(f.down_err, "handshake"));
    assert_true(strstr(f.down_err, "WRONGPASS") || strstr(f.down_err, "invalid"));
    assert_int_equal(f.ups, 0);
    close_conn(&f);

    /* no password at all: the handshake PING is refused with NOAUTH */
    open_conn(&f, srt_redis_url(r), 0, 1000);
    assert_true(srt_uv_run_until(&f.loop, has_downs, &f, 3000));
    assert_non_null(strstr(f.down_err, "NOAUTH"));
    close_conn(&f);
    srt_redis_free(r);
}

static void test_auth_acl_user_and_select(void **state) {
    srt_redis *r = srt_redis_start(NULL, 0);
    assert_non_null(r);
    redisReply *rep = srt_redis_command(r, "ACL SETUSER alice on >w%%nder ~* &* +@all");
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    char url[128];
    snprintf(url, sizeof url, "redis://alice:w%%25nder@127.0.0.1:%d/4", srt_redis_port(r));
    fixture f;
    open_conn(&f, url, 0, 1000);
    assert_true(srt_uv_run_until(&f.loop, is_up, &f, 3000));
    str_reply s;
    const char *whoami[] = {"ACL", "WHOAMI"};
    assert_string_equal(str_cmd(&f, &s, 2, whoami), "alice");
    const char *info[] = {"CLIENT", "INFO"};
    assert_non_null(strstr(str_cmd(&f, &s, 2, info), " db=4 "));
    close_conn(&f);

    snprintf(url, sizeof url, "redis://alice:nope@127.0.0.1:%d", srt_redis_port(r));
    open_conn(&f, url, 0, 1000);
    assert_true(srt_uv_run_until(&f.loop, has_downs, &f, 3000));
    assert_non_null(strstr(f.down_err, "WRONGPASS"));
    close_conn(&f);
    srt_redis_free(r);
}

static void test_unix_socket(void **state) {
    srt_redis *r = srt_redis_start(NULL, 1);
    assert_non_null(r);
    char url[256];
    snprintf(url, sizeof url, "unix://%s?db=2", srt_redis_socket(r));
    fixture f;
    open_conn(&f, url, 0, 1000);
    assert_true(srt_uv_run_until(&f.loop, is_up, &f, 3000));
    str_reply s;
    const char *info[] = {"CLIENT", "INFO"};
    const char *text = str_cmd(&f, &s, 2, info);
    assert_non_null(strstr(text, " db=2 "));
    assert_non_null(strstr(text, "addr=/")); /* a unix socket peer */
    close_conn(&f);

    snprintf(url, sizeof url, "unix://%s.missing", srt_redis_socket(r));
    open_conn(&f, url, 0, 1000);
    assert_true(srt_uv_run_until(&f.loop, has_downs, &f, 3000));
    assert_non_null(strstr(f.down_err, "connect ENOENT"));
    close_conn(&f);
    srt_redis_free(r);
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

static void test_refused_does_not_hang(void **state) {
    int port = free_port();
    char url[64], want[96];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    fixture f;
    uint64_t t0 = uv_hrtime();
    open_conn(&f, url, 0, 1000);
    assert_true(srt_uv_run_until(&f.loop, has_downs, &f, 2000));
    assert_true((uv_hrtime() - t0) / 1000000 < 250); /* well within the 300 ms connect timeout */
    snprintf(want, sizeof want, "connect ECONNREFUSED 127.0.0.1:%d", port);
    assert_string_equal(f.down_err, want);
    assert_string_equal(sr_rconn_last_error(f.c), want);
    assert_int_equal(cmd(&f, "PING", NULL, NULL), SR_ESTATE);
    /* it keeps retrying with back-off (10..50 ms here) */
    f.downs = 0;
    assert_true(srt_uv_run_until(&f.loop, NULL, NULL, 300) == 0);
    assert_true(f.downs >= 3);
    assert_true(is_down(&f) || sr_rconn_get_state(f.c) == SR_RCONN_CONNECTING);
    close_conn(&f);
}

static void test_unknown_host(void **state) {
    fixture f;
    open_conn(&f, "redis://no-such-host.invalid:6379", 0, 1000);
    assert_true(srt_uv_run_until(&f.loop, has_downs, &f, 3000));
    assert_true(strstr(f.down_err, "getaddrinfo") != NULL);
    assert_non_null(strstr(f.down_err, "no-such-host.invalid"));
    close_conn(&f);
}

static void test_silent_server_times_out(void **state) {
    /* A listener that never accepts: the TCP connect completes from the
     * backlog, the handshake gets no answer. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", ntohs(sa.sin_port));
    fixture f;
    uint64_t t0 = uv_hrtime();
    open_conn(&f, url, 0, 1000);
    assert_true(srt_uv_run_until(&f.loop, has_downs, &f, 3000));
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    assert_true(ms >= 290 && ms < 1500);
    assert_non_null(strstr(f.down_err, "timed out after 300 ms"));
    assert_true(sr_rconn_retry_in_ms(f.c) >= 0 || sr_rconn_get_state(f.c) == SR_RCONN_CONNECTING);
    close_conn(&f);
    close(fd);
}

static long long ping_calls(srt_redis *r) {
    redisReply *rep = srt_redis_command(r, "INFO commandstats");
    long long n = 0;
    if (rep && rep->type == REDIS_REPLY_STRING) {
        const char *p = strstr(rep->str, "cmdstat_ping:calls=");
        if (p) n = atoll(p + strlen("cmdstat_ping:calls="));
    }
    if (rep) freeReplyObject(rep);
    return n;
}

static int two_confirms(void *ud) {
    return ((fixture *)ud)->n_confirms >= 2;
}

static int one_message(void *ud) {
    return ((fixture *)ud)->n_messages >= 1;
}

static void test_pubsub_keepalive(void **state) {
    srt_redis *r = srt_redis_start(NULL, 0);
    assert_non_null(r);
    fixture f;
    open_conn(&f, srt_redis_url(r), 1, 40);
    assert_true(srt_uv_run_until(&f.loop, is_up, &f, 3000));
    const char *chans[] = {"ch:a", "ch:b"};
    size_t lens[] = {4, 4};
    str_reply s = {0};
    assert_int_equal(sr_rconn_pubsub_command(f.c, "SUBSCRIBE", 2, chans, lens, on_str, &s), 0);
    assert_true(srt_uv_run_until(&f.loop, two_confirms, &f, 3000));
    assert_true(s.done);
    assert_string_equal(s.text, "[subscribe]");
    /* PING while subscribed is answered ["pong", ""]: matched, not a push */
    str_reply p = {0};
    const char *ping[] = {"PING"};
    size_t plen[] = {4};
    assert_int_equal(sr_rconn_command(f.c, 1, ping, plen, on_str, &p), 0);
    assert_true(srt_uv_run_until(&f.loop, str_done, &p, 3000));
    assert_string_equal(p.text, "[pong]");
    /* the keepalive PINGs flow while subscribed and the connection stays up */
    long long before = ping_calls(r);
    srt_uv_run_until(&f.loop, NULL, NULL, 400);
    long long after = ping_calls(r);
    assert_true(after - before >= 5);
    assert_int_equal(f.downs, 0);
    assert_int_equal(sr_rconn_get_state(f.c), SR_RCONN_UP);
    /* messages reach the push callback */
    assert_int_equal(srt_redis_publish(r, "ch:b", "hello", 5), 1);
    assert_true(srt_uv_run_until(&f.loop, one_message, &f, 3000));
    assert_string_equal(f.last_message, "ch:b=hello");
    /* unsubscribing everything leaves subscribed mode: PING is +PONG again */
    f.n_confirms = 0;
    assert_int_equal(sr_rconn_pubsub_command(f.c, "UNSUBSCRIBE", 2, chans, lens, NULL, NULL), 0);
    assert_true(srt_uv_run_until(&f.loop, two_confirms, &f, 3000));
    memset(&p, 0, sizeof p);
    assert_int_equal(sr_rconn_command(f.c, 1, ping, plen, on_str, &p), 0);
    assert_true(srt_uv_run_until(&f.loop, str_done, &p, 3000));
    assert_string_equal(p.text, "PONG");
    srt_uv_run_until(&f.loop, NULL, NULL, 150);
    assert_int_equal(f.downs, 0);
    close_conn(&f);
    srt_redis_free(r);
}

static void test_unanswered_ping_is_dead(void **state) {
    srt_redis *r = srt_redis_start(NULL, 0);
    assert_non_null(r);
    fixture f;
    open_conn(&f, srt_redis_url(r), 1, 50);
    assert_true(srt_uv_run_until(&f.loop, is_up, &f, 3000));
    kill(srt_redis_pid(r), SIGSTOP);
    uint64_t t0 = uv_hrtime();
    assert_true(srt_uv_run_until(&f.loop, has_downs, &f, 2000));
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    assert_true(ms <= 200);
    assert_non_null(strstr(f.down_err, "no PING reply within 50 ms"));
    kill(srt_redis_pid(r), SIGCONT);
    assert_true(srt_uv_run_until(&f.loop, is_up, &f, 3000));
    assert_int_equal(sr_rconn_up_count(f.c), 2);
    close_conn(&f);
    srt_redis_free(r);
}

static void test_reconnect_after_kill9(void **state) {
    srt_redis *r = srt_redis_start(NULL, 0);
    assert_non_null(r);
    fixture f;
    open_conn(&f, srt_redis_url(r), 0, 1000);
    assert_true(srt_uv_run_until(&f.loop, is_up, &f, 3000));
    assert_int_equal(srt_redis_kill9(r), 0);
    /* a command queued as the server dies fails with the loss */
    int rc = cmd(&f, "INCR", "x", NULL);
    assert_true(srt_uv_run_until(&f.loop, has_downs, &f, 3000));
    if (rc == 0) {
        assert_int_equal(f.n_errs, 1);
        assert_non_null(strstr(f.last_err, "connection lost"));
    }
    assert_non_null(strstr(f.down_err, "127.0.0.1"));
    /* while it is down, retries fail with ECONNREFUSED */
    srt_uv_run_until(&f.loop, NULL, NULL, 100);
    assert_non_null(strstr(sr_rconn_last_error(f.c), "ECONNREFUSED"));
    assert_int_equal(srt_redis_restart(r), 0);
    assert_true(srt_uv_run_until(&f.loop, is_up, &f, 3000));
    assert_int_equal(sr_rconn_up_count(f.c), 2);
    f.n_replies = f.n_errs = 0;
    assert_int_equal(cmd(&f, "INCR", "x", NULL), 0);
    f.want = 1;
    assert_true(srt_uv_run_until(&f.loop, got_want, &f, 3000));
    assert_int_equal(f.ints[0], 1);
    close_conn(&f);
    srt_redis_free(r);
}

static void test_close_fails_pending(void **state) {
    srt_redis *r = srt_redis_start(NULL, 0);
    assert_non_null(r);
    fixture f;
    open_conn(&f, srt_redis_url(r), 0, 1000);
    assert_true(srt_uv_run_until(&f.loop, is_up, &f, 3000));
    for (int i = 0; i < 10; i++) assert_int_equal(cmd(&f, "INCR", "y", NULL), 0);
    sr_rconn_close(f.c);
    assert_int_equal(f.n_errs, 10);
    assert_string_equal(f.last_err, "connection closed");
    assert_int_equal(f.downs, 0);
    sr_redis_url_free(&f.url);
    assert_int_equal(srt_uv_loop_drain_close(&f.loop), 0);
    /* and closing while still connecting is clean too */
    open_conn(&f, srt_redis_url(r), 0, 1000);
    close_conn(&f);
    open_conn(&f, "redis://localhost:1", 0, 1000); /* mid-getaddrinfo or connect */
    close_conn(&f);
    srt_redis_free(r);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_and_pipeline_order),
        cmocka_unit_test(test_auth_password),
        cmocka_unit_test(test_auth_acl_user_and_select),
        cmocka_unit_test(test_unix_socket),
        cmocka_unit_test(test_refused_does_not_hang),
        cmocka_unit_test(test_unknown_host),
        cmocka_unit_test(test_silent_server_times_out),
        cmocka_unit_test(test_pubsub_keepalive),
        cmocka_unit_test(test_unanswered_ping_is_dead),
        cmocka_unit_test(test_reconnect_after_kill9),
        cmocka_unit_test(test_close_fails_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
