/* SPDX-License-Identifier: MIT */
/*
 * test_slot.c: keyslots (against values CLUSTER KEYSLOT gave on Redis
 * 7.0.15), the slot map from CLUSTER SHARDS / CLUSTER SLOTS replies (fed as
 * RESP through hiredis's reader), and MOVED / ASK parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "redis/slot.h"
#include <sserooms/error.h>

static void test_crc16_vector(void **state) {
    assert_int_equal(sr_crc16("123456789", 9), 0x31C3); /* Redis's crc16.c test vector */
    assert_int_equal(sr_crc16("", 0), 0);
}

static void test_keyslot_known(void **state) {
    static const struct {
        const char *key;
        unsigned slot;
    } known[] = {
        {"foo", 12182},
        {"bar", 5061},
        {"hello", 866},
        {"{user1000}.following", 3443},
        {"{user1000}.followers", 3443},
        {"foo{}{bar}", 8363},    /* empty tag: the whole key */
        {"foo{{bar}}zap", 4015}, /* tag "{bar" */
        {"foo{bar}{zap}", 5061}, /* first tag only: "bar" */
        {"{}", 15257},
        {"", 0},
        {"sse:room:chat", 7327},
        {"a{b", 13340}, /* no closing brace */
        {"a}b{c}", 7365},
        {"sserooms:canary:A:{0}", 13907},
        {"sserooms:canary:A:{1}", 9842},
        {"sserooms:canary:A:{3}", 1584},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        unsigned got = sr_keyslot(known[i].key, strlen(known[i].key));
        if (got != known[i].slot)
            fail_msg("keyslot(\"%s\") = %u, Redis says %u", known[i].key, got, known[i].slot);
    }
    /* binary-safe: a NUL inside the key counts */
    assert_int_not_equal(sr_keyslot("a\0b", 3), sr_keyslot("a", 1));
}

static redisReply *parse_resp(const char *text) {
    redisReader *r = redisReaderCreate();
    assert_non_null(r);
    assert_int_equal(redisReaderFeed(r, text, strlen(text)), REDIS_OK);
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(r);
    return reply;
}

/* Two shards: A (slots 0-99, 200-16383; a replica listed first) and B
 * (100-199, endpoint "?" so the default host is used); a third shard has
 * no slots (a failed old master). */
static const char shards_resp[] =
    "*3\r\n"
    "*4\r\n$5\r\nslots\r\n*4\r\n:0\r\n:99\r\n:200\r\n:16383\r\n"
    "$5\r\nnodes\r\n*2\r\n"
    "*12\r\n$2\r\nid\r\n$3\r\nr-a\r\n$4\r\nport\r\n:7004\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
    "$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    "*12\r\n$2\r\nid\r\n$3\r\nm-a\r\n$4\r\nport\r\n:7001\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
    "$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    "*4\r\n$5\r\nslots\r\n*2\r\n:100\r\n:199\r\n"
    "$5\r\nnodes\r\n*1\r\n"
    "*10\r\n$2\r\nid\r\n$3\r\nm-b\r\n$4\r\nport\r\n:7002\r\n$8\r\nendpoint\r\n$1\r\n?\r\n"
    "$4\r\nrole\r\n$6\r\nmaster\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    "*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n"
    "*10\r\n$2\r\nid\r\n$3\r\nold\r\n$4\r\nport\r\n:7003\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
    "$4\r\nrole\r\n$6\r\nmaster\r\n$6\r\nhealth\r\n$6\r\nfailed\r\n";

static void test_map_from_shards(void **state) {
    redisReply *r = parse_resp(shards_resp);
    sr_slot_map m;
    char err[128];
    assert_int_equal(sr_slot_map_from_shards(r, "10.0.0.9", &m, err, sizeof err), 0);
    assert_int_equal(m.n_masters, 2);
    assert_int_equal(m.covered, SR_SLOTS);
    int a = sr_slot_map_find(&m, "127.0.0.1", 7001), b = sr_slot_map_find(&m, "10.0.0.9", 7002);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(m.owner[0], a);
    assert_int_equal(m.owner[99], a);
    assert_int_equal(m.owner[100], b);
    assert_int_equal(m.owner[199], b);
    assert_int_equal(m.owner[16383], a);
    assert_int_equal(m.masters[a].n_slots, SR_SLOTS - 100);
    assert_int_equal(m.masters[b].n_slots, 100);
    assert_int_equal(sr_slot_map_find(&m, "127.0.0.1", 7003), -1);
    sr_slot_map_free(&m);
    freeReplyObject(r);
}

static void test_map_from_slots(void **state) {
    redisReply *r = parse_resp(
        "*2\r\n"
        "*4\r\n:0\r\n:8191\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$3\r\nm-a\r\n"
        "*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$3\r\nr-a\r\n"
        "*3\r\n:8192\r\n:16000\r\n*3\r\n$0\r\n\r\n:7002\r\n$3\r\nm-b\r\n");
    sr_slot_map m;
    char err[128];
    assert_int_equal(sr_slot_map_from_slots(r, "h", &m, err, sizeof err), 0);
    assert_int_equal(m.n_masters, 2);
    assert_int_equal(m.covered, 16001);
    assert_int_equal(m.owner[16001], SR_SLOT_NONE);
    assert_int_equal(m.owner[8192], sr_slot_map_find(&m, "h", 7002));
    assert_int_equal(m.owner[0], sr_slot_map_find(&m, "127.0.0.1", 7001));
    sr_slot_map_free(&m);
    freeReplyObject(r);
}

static void test_map_refuses_garbage(void **state) {
    static const char *const bad[] = {
        "+OK\r\n",
        "*1\r\n:5\r\n",
        "*1\r\n*3\r\n:0\r\n:99999\r\n*2\r\n$1\r\nh\r\n:1\r\n", /* slot out of range */
        "*1\r\n*3\r\n:10\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n",    /* end before start */
        "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n:0\r\n",     /* port 0 */
        "*1\r\n*2\r\n:0\r\n:5\r\n",                            /* no master */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        redisReply *r = parse_resp(bad[i]);
        sr_slot_map m;
        char err[128] = "";
        assert_int_equal(sr_slot_map_from_slots(r, "h", &m, err, sizeof err), SR_EINVAL);
        assert_true(err[0] != '\0');
        assert_int_equal(m.n_masters, 0);
        assert_null(m.masters);
        sr_slot_map m2;
        assert_int_equal(sr_slot_map_from_shards(r, "h", &m2, err, sizeof err), SR_EINVAL);
        freeReplyObject(r);
    }
    sr_slot_map m;
    assert_int_equal(sr_slot_map_from_shards(NULL, "h", &m, NULL, 0), SR_EINVAL);
}

static void test_redirects(void **state) {
    int ask = -1, port = 0;
    unsigned slot = 0;
    char host[64];
    assert_int_equal(sr_slot_parse_redirect("MOVED 3999 127.0.0.1:6381", &ask, &slot, host,
                                            sizeof host, &port),
                     1);
    assert_int_equal(ask, 0);
    assert_int_equal(slot, 3999);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6381);
    assert_int_equal(sr_slot_parse_redirect("ASK 1 [::1]:7000", &ask, &slot, host, sizeof host,
                                            &port),
                     1);
    assert_int_equal(ask, 1);
    assert_string_equal(host, "::1");
    assert_int_equal(sr_slot_parse_redirect("MOVED 5 :7000", &ask, &slot, host, sizeof host, &port),
                     1);
    assert_string_equal(host, "");
    static const char *const bad[] = {"ERR x",       "MOVED",       "MOVED 16384 h:1",
                                      "MOVED 1 h",   "MOVED 1 h:0", "MOVED 1 h:70000",
                                      "MOVED x h:1", "ASK 1 h:1x",  NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(sr_slot_parse_redirect(bad[i], &ask, &slot, host, sizeof host, &port), 0);
    char tiny[4];
    assert_int_equal(sr_slot_parse_redirect("MOVED 1 longhost:1", &ask, &slot, tiny, sizeof tiny,
                                            &port),
                     0);
    assert_int_equal(sr_slot_parse_redirect(NULL, &ask, &slot, host, sizeof host, &port), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_vector),        cmocka_unit_test(test_keyslot_known),
        cmocka_unit_test(test_map_from_shards),     cmocka_unit_test(test_map_from_slots),
        cmocka_unit_test(test_map_refuses_garbage), cmocka_unit_test(test_redirects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
