/* SPDX-License-Identifier: MIT */
/*
 * test_history.c: the history kept in memory (src/server/history.c) and its
 * pure parts: id parsing, the configuration checks, epochs, the count bound
 * per room, replays merged in id order with each message once, the byte
 * bound across rooms and what a resume learns about dropped messages. No
 * sockets: servers are created but never listen (tests/integration/
 * test_resume*.c cover streams, Redis and the seam with live messages).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/history.h"
#include "sserooms.h"

static sr_server *new_server(unsigned history, size_t max_bytes) {
    sr_config cfg;
    sr_config_init(&cfg);
    cfg.history = history;
    cfg.history_max_bytes = max_bytes;
    sr_server *srv = NULL;
    assert_int_equal(sr_server_new(&srv, NULL, &cfg), SR_OK);
    return srv;
}

/* Publishes data to the rooms (NULL-terminated); returns the counter. */
static uint64_t publish(sr_server *srv, const char *data, ...) {
    const char *rooms[8];
    size_t n = 0;
    va_list ap;
    va_start(ap, data);
    for (const char *r; n < 8 && (r = va_arg(ap, const char *));) rooms[n++] = r;
    va_end(ap);
    sr_msg_parts m = {.id = "", .event = "", .data = data, .data_len = strlen(data)};
    char id[SR_SEQUENCE_ID_MAX];
    assert_int_equal(sr_history_publish_local(srv, rooms, n, &m, NULL, id, sizeof id), 0);
    char epoch[SR_SEQUENCE_EPOCH_MAX + 1];
    uint64_t counter;
    assert_int_equal(sr_history_parse_id(id, strlen(id), epoch, sizeof epoch, &counter), 0);
    assert_string_equal(epoch, sr_history_epoch(sr_history_get(srv)));
    return counter;
}

/* Collects for the rooms after `after`; expects `reason` and, when none,
 * the frames' data in order (a NULL-terminated list). */
static void expect_collect(sr_server *srv, const char *const *rooms, size_t n_rooms, uint64_t after,
                           sr_reset_reason reason, const char *const *datas) {
    sr_frame **frames = NULL;
    size_t n = 0;
    assert_int_equal(sr_history_collect(sr_history_get(srv), rooms, n_rooms, after, &frames, &n),
                     reason);
    size_t want = 0;
    while (datas && datas[want]) want++;
    assert_int_equal(n, want);
    for (size_t i = 0; i < n; i++) {
        char expect[2048];
        snprintf(expect, sizeof expect, "data: %s\n\n", datas[i]);
        size_t len = strlen(expect);
        assert_true(frames[i]->len >= len);
        assert_memory_equal(frames[i]->bytes + frames[i]->len - len, expect, len);
        sr_frame_unref(frames[i]);
    }
    free(frames);
}

static void test_parse_id(void **state) {
    (void)state;
    char epoch[SR_SEQUENCE_EPOCH_MAX + 1];
    uint64_t c = 0;
    const char *ok = "1795815213135-000000000042";
    assert_int_equal(sr_history_parse_id(ok, strlen(ok), epoch, sizeof epoch, &c), 0);
    assert_string_equal(epoch, "1795815213135");
    assert_int_equal(c, 42);
    assert_int_equal(sr_history_parse_id("0-999999999999", 14, epoch, sizeof epoch, &c), 0);
    assert_int_equal(c, 999999999999ULL);
    static const char *const bad[] = {"",
                                      "-000000000001",
                                      "1-00000000001",
                                      "1-0000000000001",
                                      "1x-000000000001",
                                      "1-00000000000a",
                                      "1000000000001",
                                      "123456789012345678901234567890123-000000000001",
                                      "1-000000000001-",
                                      " 1-000000000001"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sr_history_parse_id(bad[i], strlen(bad[i]), epoch, sizeof epoch, &c), -1);
    /* too small an output buffer for the epoch */
    assert_int_equal(sr_history_parse_id(ok, strlen(ok), epoch, 5, &c), -1);
}

static void test_config_check(void **state) {
    (void)state;
    sr_config cfg;
    char err[256];
    sr_config_init(&cfg);
    assert_int_equal(sr_history_config_check(&cfg, err, sizeof err), 0); /* off */
    cfg.history = 10;
    cfg.history_ttl_ms = 1000;
    snprintf(cfg.reset_event, sizeof cfg.reset_event, "history-reset");
    assert_int_equal(sr_history_config_check(&cfg, err, sizeof err), 0);
    cfg.history = SR_HISTORY_MAX + 1;
    assert_int_equal(sr_history_config_check(&cfg, err, sizeof err), SR_EINVAL);
    assert_non_null(strstr(err, "history"));
    cfg.history = 10;
    static const char *const bad_names[] = {"a b", "a:b", "a\nb", "tab\t"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(cfg.reset_event, sizeof cfg.reset_event, "%s", bad_names[i]);
        assert_int_equal(sr_history_config_check(&cfg, err, sizeof err), SR_EINVAL);
        assert_non_null(strstr(err, "reset-event"));
    }
    memset(cfg.reset_event, 'x', sizeof cfg.reset_event); /* unterminated */
    assert_int_equal(sr_history_config_check(&cfg, err, sizeof err), SR_EINVAL);
    cfg.reset_event[0] = '\0';
    cfg.history_max_bytes = 1000;
    assert_int_equal(sr_history_config_check(&cfg, err, sizeof err), SR_EINVAL);
    assert_non_null(strstr(err, "history-max-bytes"));
    cfg.history = 0;
    cfg.history_max_bytes = 0;
    assert_int_equal(sr_history_config_check(&cfg, err, sizeof err), SR_EINVAL); /* ttl alone */
    /* the public check includes it */
    assert_int_equal(sr_config_check(&cfg, err, sizeof err), SR_EINVAL);
}

static void test_epochs(void **state) {
    (void)state;
    sr_server *a = new_server(5, 0), *b = new_server(5, 0), *off = new_server(0, 0);
    assert_null(sr_history_get(off));
    const char *ea = sr_history_epoch(sr_history_get(a));
    const char *eb = sr_history_epoch(sr_history_get(b));
    assert_true(strtoull(eb, NULL, 10) > strtoull(ea, NULL, 10)); /* never the same twice */
    assert_int_equal(publish(a, "1", "r", NULL), 1);
    assert_int_equal(publish(a, "2", "r", NULL), 2);
    assert_int_equal(publish(b, "1", "r", NULL), 1);
    assert_string_equal(sr_history_reset_event(sr_history_get(a)), "reset");
    sr_server_free(a);
    sr_server_free(b);
    sr_server_free(off);
}

static void test_replay_order_and_bounds(void **state) {
    (void)state;
    sr_server *srv = new_server(3, 0);
    uint64_t c1 = publish(srv, "1", "a", NULL);
    publish(srv, "2", "b", NULL);
    publish(srv, "3", "a", "b", "a", NULL); /* listed twice: kept once */
    publish(srv, "4", "elsewhere", NULL);
    uint64_t c5 = publish(srv, "5", "b", NULL);
    const char *ab[] = {"a", "b"};
    expect_collect(srv, ab, 2, c1, SR_RESET_NONE, (const char *[]){"2", "3", "5", NULL});
    expect_collect(srv, ab, 2, 0, SR_RESET_NONE, (const char *[]){"1", "2", "3", "5", NULL});
    expect_collect(srv, ab, 2, c5, SR_RESET_NONE, NULL);
    expect_collect(srv, ab, 2, c5 + 1, SR_RESET_UNKNOWN, NULL);
    /* b keeps 3: 2, 3, 5 -> after 6 and 7, message 3 is gone from b */
    publish(srv, "6", "b", NULL);
    uint64_t c7 = publish(srv, "7", "b", NULL);
    expect_collect(srv, ab, 2, c1, SR_RESET_GONE, NULL);
    const char *a_only[] = {"a"};
    expect_collect(srv, a_only, 1, c1, SR_RESET_NONE, (const char *[]){"3", NULL});
    const char *b_only[] = {"b"};
    expect_collect(srv, b_only, 1, c5, SR_RESET_NONE, (const char *[]){"6", "7", NULL});
    expect_collect(srv, b_only, 1, c7, SR_RESET_NONE, NULL);
    /* a room never published to has lost nothing */
    const char *none[] = {"quiet"};
    expect_collect(srv, none, 1, 1, SR_RESET_NONE, NULL);
    size_t entries, rooms, bytes;
    sr_history_usage(sr_history_get(srv), &entries, &rooms, &bytes);
    assert_int_equal(rooms, 3);   /* a, b, elsewhere */
    assert_int_equal(entries, 6); /* 1, 3 (a); 5, 6, 7 (b); 4 (elsewhere); 2 was freed */
    sr_server_free(srv);
}

static void test_byte_bound(void **state) {
    (void)state;
    size_t bound = 65536;
    sr_server *srv = new_server(100, bound);
    char data[1100];
    memset(data, 'x', sizeof data);
    data[0] = '"';
    data[1023] = '"';
    data[1024] = '\0';
    uint64_t first = publish(srv, data, "room-0", NULL);
    uint64_t last = first;
    for (int i = 1; i < 2000; i++) {
        char room[32];
        snprintf(room, sizeof room, "room-%d", i);
        last = publish(srv, data, room, NULL);
        size_t entries, rooms, bytes;
        sr_history_usage(sr_history_get(srv), &entries, &rooms, &bytes);
        assert_true(bytes <= bound);
    }
    size_t entries, rooms, bytes;
    sr_history_usage(sr_history_get(srv), &entries, &rooms, &bytes);
    assert_true(entries > 10 && entries < 64); /* what fits in 64 KiB */
    assert_int_equal(rooms, entries);          /* each room holds its one message */
    /* room-0 was forgotten: a resume there from before its message is gone;
     * from the newest id nothing was missed */
    const char *r0[] = {"room-0"};
    expect_collect(srv, r0, 1, first - 1, SR_RESET_GONE, NULL);
    expect_collect(srv, r0, 1, last, SR_RESET_NONE, NULL);
    char newest[32];
    snprintf(newest, sizeof newest, "room-%d", 1999);
    const char *rn[] = {newest};
    expect_collect(srv, rn, 1, last - 1, SR_RESET_NONE, (const char *[]){data, NULL});
    sr_server_free(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_id),   cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_epochs),     cmocka_unit_test(test_replay_order_and_bounds),
        cmocka_unit_test(test_byte_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
