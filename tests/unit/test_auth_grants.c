/* SPDX-License-Identifier: MIT */
/*
 * test_auth_grants.c: strict base64url (RFC 4648 vectors, refusal of
 * padding, foreign characters and non-canonical text), room grants read
 * from JWT claims (exact names, "prefix*", "*", refusals of malformed
 * claims, the whole-request rule), and the single-use subscribe ticket
 * store (once only, the 30 s TTL boundary, room binding, wrong secrets,
 * refusal when full, per-subject limits, sweeping, counters). Times are given explicitly,
 * so nothing here sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/base64url.h"
#include "auth/grants.h"
#include "auth/tickets.h"
#include "sserooms.h"

/* ---- base64url ------------------------------------------------------------ */

static void test_b64url_vectors(void **state) {
    (void)state;
    /* RFC 4648 section 10, padding removed. */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *coded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[16];
        size_t n = strlen(plain[i]);
        assert_int_equal(sr_b64url_encode(plain[i], n, out, sizeof out), strlen(coded[i]));
        assert_string_equal(out, coded[i]);
        assert_int_equal(sr_b64url_encoded_len(n), strlen(coded[i]));
        unsigned char back[16];
        assert_int_equal(sr_b64url_decode(coded[i], strlen(coded[i]), back, sizeof back), n);
        assert_memory_equal(back, plain[i], n);
    }
    /* The URL-safe alphabet: 62 is '-', 63 is '_'. */
    const unsigned char high[] = {0xfb, 0xff, 0xbf};
    char out[8];
    assert_int_equal(sr_b64url_encode(high, 3, out, sizeof out), 4);
    assert_string_equal(out, "-_-_");
    /* Too small an output buffer. */
    assert_int_equal(sr_b64url_encode("foo", 3, out, 4), -1);
    unsigned char two[2];
    assert_int_equal(sr_b64url_decode("Zm9v", 4, two, sizeof two), -1);
    /* Round trips of every length 0..64 over all byte values. */
    unsigned char data[64], dec[64];
    char enc[100];
    for (size_t n = 0; n <= 64; n++) {
        for (size_t i = 0; i < n; i++) data[i] = (unsigned char)(i * 37 + n * 11);
        ssize_t e = sr_b64url_encode(data, n, enc, sizeof enc);
        assert_int_equal(e, sr_b64url_encoded_len(n));
        assert_null(memchr(enc, '=', (size_t)e));
        assert_int_equal(sr_b64url_decode(enc, (size_t)e, dec, sizeof dec), n);
        assert_memory_equal(dec, data, n);
    }
}

static void test_b64url_refusals(void **state) {
    (void)state;
    unsigned char out[16];
    const char *bad[] = {
        "Zg==",       "Zm8=", "Z",     "Zm9vY", "Zm+v",
        "Zm/v",       "Zm9 ", "Zm\n9", "Zh", /* unused bits set: Zg is the only text for "f" */
        "Zm9",                               /* 'm','9': last char carries bits past the data */
        "Zm\xc3\xa9", "Zm\0v"};
    const size_t lens[] = {4, 4, 1, 5, 4, 4, 4, 4, 2, 3, 4, 4};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (sr_b64url_decode(bad[i], lens[i], out, sizeof out) != -1)
            fail_msg("accepted bad base64url #%zu", i);
    /* "Zm8" is canonical ("fo"); "Zm9" decodes "fo" too but with a stray
     * bit, checked above. */
    assert_int_equal(sr_b64url_decode("Zm8", 3, out, sizeof out), 2);
}

/* ---- grants ----------------------------------------------------------------- */

static sr_json_value parse(const char *json) {
    sr_json_value v;
    assert_int_equal(sr_json_validate(json, strlen(json), 8, &v, NULL, NULL), 0);
    return v;
}

static int sub(const sr_grants *g, const char *room) {
    return sr_grants_allow(g, SR_GRANT_SUBSCRIBE, room, strlen(room));
}

static int pub(const sr_grants *g, const char *room) {
    return sr_grants_allow(g, SR_GRANT_PUBLISH, room, strlen(room));
}

static void test_grants_exact_and_prefix(void **state) {
    (void)state;
    sr_json_value p = parse("{\"rooms\":[\"lobby\",\"chat:*\",\"user\\u003a42\"],"
                            "\"publish\":\"news:*\"}");
    sr_grants g;
    sr_grants_init(&g);
    const char *why = NULL;
    assert_int_equal(sr_grants_from_payload(&g, &p, "rooms", "publish", &why), 0);
    assert_string_equal(why, "ok");
    assert_int_equal(g.subscribe.n, 3);
    assert_int_equal(g.publish.n, 1);
    assert_true(sub(&g, "lobby"));
    assert_false(sub(&g, "lobby2"));
    assert_false(sub(&g, "lobb"));
    assert_false(sub(&g, "Lobby"));
    assert_true(sub(&g, "chat:"));
    assert_true(sub(&g, "chat:general"));
    assert_true(sub(&g, "chat:*"));
    assert_false(sub(&g, "chat"));
    assert_false(sub(&g, "chatx"));
    assert_true(sub(&g, "user:42"));
    assert_false(sub(&g, "user:420"));
    assert_false(sub(&g, ""));
    assert_false(sub(&g, "news:1")); /* publish grants do not subscribe */
    assert_true(pub(&g, "news:1"));
    assert_false(pub(&g, "lobby"));
    /* A request is allowed only if every room is. */
    const char *ok[] = {"lobby", "chat:a", "chat:b"};
    const char *mixed[] = {"lobby", "chat:a", "admin"};
    size_t lens[] = {5, 6, 6};
    size_t mixed_lens[] = {5, 6, 5};
    assert_true(sr_grant_list_allows_all(&g.subscribe, ok, lens, 3));
    assert_false(sr_grant_list_allows_all(&g.subscribe, mixed, mixed_lens, 3));
    assert_true(sr_grant_list_allows_all(&g.subscribe, NULL, NULL, 0));
    sr_grants_free(&g);
    sr_grants_free(&g); /* idempotent */
}

static void test_grants_star_missing_empty(void **state) {
    (void)state;
    sr_grants g;
    sr_grants_init(&g);
    sr_json_value p = parse("{\"rooms\":[\"*\"]}");
    assert_int_equal(sr_grants_from_payload(&g, &p, "rooms", "publish", NULL), 0);
    assert_true(sub(&g, "anything"));
    assert_true(sub(&g, "a"));
    assert_false(sub(&g, ""));
    assert_false(pub(&g, "anything")); /* claim absent: nothing */
    p = parse("{\"rooms\":[],\"publish\":[]}");
    assert_int_equal(sr_grants_from_payload(&g, &p, "rooms", "publish", NULL), 0);
    assert_false(sub(&g, "anything"));
    assert_false(pub(&g, "anything"));
    /* Other claim names. */
    p = parse("{\"rooms\":[\"*\"],\"r\":[\"x\"],\"w\":[\"y*\"]}");
    assert_int_equal(sr_grants_from_payload(&g, &p, "r", "w", NULL), 0);
    assert_true(sub(&g, "x"));
    assert_false(sub(&g, "z"));
    assert_true(pub(&g, "y1"));
    sr_grants_free(&g);
}

static void test_grants_refusals(void **state) {
    (void)state;
    const char *bad[] = {
        "{\"rooms\":[\"a*b\"]}",
        "{\"rooms\":[\"**\"]}",
        "{\"rooms\":[\"*a\"]}",
        "{\"rooms\":[\"\"]}",
        "{\"rooms\":[1]}",
        "{\"rooms\":[null]}",
        "{\"rooms\":[[\"a\"]]}",
        "{\"rooms\":{\"a\":1}}",
        "{\"rooms\":null}",
        "{\"rooms\":true}",
        "{\"rooms\":7}",
        "{\"rooms\":[\"a\\u0000\"]}",
        "{\"rooms\":[\"a\\nb\"]}",
        "{\"rooms\":[\"\\ud800\"]}",
        "{\"rooms\":[\"ok\"],\"publish\":[2]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sr_grants g;
        sr_grants_init(&g);
        sr_json_value p = parse(bad[i]);
        const char *why = NULL;
        if (sr_grants_from_payload(&g, &p, "rooms", "publish", &why) != SR_EINVAL)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(why);
        assert_int_equal(g.subscribe.n + g.publish.n, 0); /* left empty */
        assert_false(sub(&g, "ok"));
        sr_grants_free(&g);
    }
    sr_grants g;
    sr_grants_init(&g);
    sr_json_value arr = parse("[1]");
    assert_int_equal(sr_grants_from_payload(&g, &arr, "rooms", "publish", NULL), SR_EINVAL);
    /* Pattern length: SR_GRANT_MAX_PATTERN bytes pass, one more does not. */
    sr_grant_list l;
    sr_grant_list_init(&l);
    char *longp = malloc(SR_GRANT_MAX_PATTERN + 2);
    memset(longp, 'r', SR_GRANT_MAX_PATTERN + 1);
    assert_int_equal(sr_grant_list_add(&l, longp, SR_GRANT_MAX_PATTERN), 0);
    assert_int_equal(sr_grant_list_add(&l, longp, SR_GRANT_MAX_PATTERN + 1), SR_EINVAL);
    assert_true(sr_grant_list_allows(&l, longp, SR_GRANT_MAX_PATTERN));
    free(longp);
    assert_int_equal(sr_grant_list_add(&l, "a\x01", 2), SR_EINVAL);
    assert_int_equal(sr_grant_list_add(&l, NULL, 0), SR_EINVAL);
    sr_grant_list_free(&l);
    /* Entry count: SR_GRANT_MAX_ENTRIES pass, one more does not. */
    size_t cap = 16 + (SR_GRANT_MAX_ENTRIES + 1) * 8;
    char *json = malloc(cap);
    size_t n = (size_t)snprintf(json, cap, "{\"rooms\":[");
    for (unsigned i = 0; i < SR_GRANT_MAX_ENTRIES + 1; i++)
        n += (size_t)snprintf(json + n, cap - n, "%s\"r%u\"", i ? "," : "", i);
    snprintf(json + n, cap - n, "]}");
    sr_json_value p = parse(json);
    const char *why = NULL;
    assert_int_equal(sr_grants_from_payload(&g, &p, "rooms", "publish", &why), SR_EINVAL);
    assert_string_equal(why, "too many room patterns");
    char *last_comma = strrchr(json, ',');
    strcpy(last_comma, "]}");
    p = parse(json);
    assert_int_equal(sr_grants_from_payload(&g, &p, "rooms", "publish", NULL), 0);
    assert_int_equal(g.subscribe.n, SR_GRANT_MAX_ENTRIES);
    assert_true(sub(&g, "r4095"));
    assert_false(sub(&g, "r4096"));
    free(json);
    sr_grants_free(&g);
}

/* ---- tickets -------------------------------------------------------------- */

static sr_grant_list rooms_of(const char *a, const char *b) {
    sr_grant_list l;
    sr_grant_list_init(&l);
    assert_int_equal(sr_grant_list_add(&l, a, strlen(a)), 0);
    if (b) assert_int_equal(sr_grant_list_add(&l, b, strlen(b)), 0);
    return l;
}

static int redeem1(sr_ticket_store *s, const char *t, const char *room, uint64_t now) {
    size_t len = strlen(room);
    return sr_ticket_redeem(s, t, strlen(t), &room, &len, 1, now, NULL);
}

static void test_ticket_once(void **state) {
    (void)state;
    sr_ticket_store *s = sr_ticket_store_new(0);
    sr_grant_list l = rooms_of("lobby", "chat:*");
    char t[SR_TICKET_LEN + 1];
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 1000, t), SR_TICKET_OK);
    assert_int_equal(strlen(t), SR_TICKET_LEN);
    assert_int_equal(strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     SR_TICKET_LEN);
    const char *rooms[] = {"lobby", "chat:a"};
    size_t lens[] = {5, 6};
    sr_grant_list granted;
    sr_grant_list_init(&granted);
    assert_int_equal(sr_ticket_redeem(s, t, strlen(t), rooms, lens, 2, 2000, &granted),
                     SR_TICKET_OK);
    /* The bound list goes to the caller for later joins. */
    assert_int_equal(granted.n, 2);
    assert_true(sr_grant_list_allows(&granted, "chat:zzz", 8));
    sr_grant_list_free(&granted);
    /* Second use, with the same or other rooms: unknown. */
    assert_int_equal(sr_ticket_redeem(s, t, strlen(t), rooms, lens, 2, 2001, NULL),
                     SR_TICKET_EUNKNOWN);
    assert_int_equal(redeem1(s, t, "lobby", 2002), SR_TICKET_EUNKNOWN);
    /* The caller's list is copied: freeing it does not affect tickets. */
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 3000, t), SR_TICKET_OK);
    sr_grant_list_free(&l);
    assert_int_equal(redeem1(s, t, "chat:x", 3001), SR_TICKET_OK);
    sr_ticket_stats st;
    sr_ticket_stats_get(s, &st);
    assert_int_equal(st.issued, 2);
    assert_int_equal(st.redeemed, 2);
    assert_int_equal(st.refused, 2);
    assert_int_equal(st.live, 0);
    sr_ticket_store_free(s);
}

static void test_ticket_ttl(void **state) {
    (void)state;
    sr_ticket_store *s = sr_ticket_store_new(0);
    sr_grant_list l = rooms_of("lobby", NULL);
    char a[SR_TICKET_LEN + 1], b[SR_TICKET_LEN + 1];
    const uint64_t t0 = 5000000;
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, t0, a), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, t0, b), SR_TICKET_OK);
    /* Default 30 s: valid at t0 + 29.999 s, not at t0 + 30 s. */
    assert_int_equal(redeem1(s, a, "lobby", t0 + SR_TICKET_DEFAULT_TTL_MS - 1), SR_TICKET_OK);
    assert_int_equal(redeem1(s, b, "lobby", t0 + SR_TICKET_DEFAULT_TTL_MS), SR_TICKET_EEXPIRED);
    assert_int_equal(redeem1(s, b, "lobby", t0 + SR_TICKET_DEFAULT_TTL_MS - 1),
                     SR_TICKET_EUNKNOWN); /* used up by the late attempt */
    /* An explicit TTL; the maximum; over the maximum. */
    assert_int_equal(sr_ticket_issue(s, 1, &l, 500, t0, a), SR_TICKET_OK);
    assert_int_equal(redeem1(s, a, "lobby", t0 + 500), SR_TICKET_EEXPIRED);
    assert_int_equal(sr_ticket_issue(s, 1, &l, SR_TICKET_MAX_TTL_MS, t0, a), SR_TICKET_OK);
    assert_int_equal(redeem1(s, a, "lobby", t0 + SR_TICKET_MAX_TTL_MS - 1), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 1, &l, SR_TICKET_MAX_TTL_MS + 1, t0, a), SR_TICKET_EINVAL);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 1000, UINT64_MAX - 10, a), SR_TICKET_EINVAL);
    sr_grant_list empty;
    sr_grant_list_init(&empty);
    assert_int_equal(sr_ticket_issue(s, 1, &empty, 0, t0, a), SR_TICKET_EINVAL);
    assert_int_equal(sr_ticket_issue(s, 1, NULL, 0, t0, a), SR_TICKET_EINVAL);
    sr_ticket_stats st;
    sr_ticket_stats_get(s, &st);
    assert_int_equal(st.expired, 2);
    sr_grant_list_free(&l);
    sr_ticket_store_free(s);
}

static void test_ticket_rooms_and_forgery(void **state) {
    (void)state;
    sr_ticket_store *s = sr_ticket_store_new(0);
    sr_grant_list l = rooms_of("a", "p:*");
    char t[SR_TICKET_LEN + 1];
    /* A room outside the binding refuses the ticket and uses it up. */
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 0, t), SR_TICKET_OK);
    const char *rooms[] = {"a", "b"};
    size_t lens[] = {1, 1};
    assert_int_equal(sr_ticket_redeem(s, t, strlen(t), rooms, lens, 2, 1, NULL), SR_TICKET_EROOMS);
    assert_int_equal(redeem1(s, t, "a", 2), SR_TICKET_EUNKNOWN);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 0, t), SR_TICKET_OK);
    assert_int_equal(redeem1(s, t, "p", 1), SR_TICKET_EROOMS); /* "p:*" is not "p" */
    /* A wrong secret (same id) is unknown and does not use the ticket up;
     * neither do malformed tickets. */
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 0, t), SR_TICKET_OK);
    char forged[SR_TICKET_LEN + 1];
    for (size_t pos = 12; pos < SR_TICKET_LEN; pos += 5) { /* past the 8-byte id */
        memcpy(forged, t, sizeof forged);
        forged[pos] = forged[pos] == 'A' ? 'B' : 'A';
        assert_int_equal(redeem1(s, forged, "a", 1), SR_TICKET_EUNKNOWN);
    }
    const char *junk[] = {"", "short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
        assert_int_equal(redeem1(s, junk[i], "a", 1), SR_TICKET_EUNKNOWN);
    assert_int_equal(sr_ticket_redeem(s, NULL, 0, NULL, NULL, 0, 1, NULL), SR_TICKET_EUNKNOWN);
    const char *pr[] = {"p:1", "a", "p:2"};
    size_t pl[] = {3, 1, 3};
    assert_int_equal(sr_ticket_redeem(s, t, strlen(t), pr, pl, 3, 1, NULL), SR_TICKET_OK);
    /* Tickets are distinct. */
    char seen[200][SR_TICKET_LEN + 1];
    for (int i = 0; i < 200; i++) {
        assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 10, seen[i]), SR_TICKET_OK);
        for (int j = 0; j < i; j++) assert_string_not_equal(seen[i], seen[j]);
    }
    sr_grant_list_free(&l);
    sr_ticket_store_free(s);
}

/* A full store refuses the issuer and keeps every ticket it holds (issue
 * #18, finding 3: it used to evict the ticket closest to expiry, so any
 * issuer could push out everyone's). Sweeping drops expired ones. */
static void test_ticket_full_and_sweep(void **state) {
    (void)state;
    sr_ticket_store *s = sr_ticket_store_new(4);
    sr_grant_list l = rooms_of("r", NULL);
    char t[6][SR_TICKET_LEN + 1];
    for (int i = 0; i < 4; i++)
        assert_int_equal(sr_ticket_issue(s, (uint64_t)i, &l, 0, (uint64_t)i, t[i]), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 9, &l, 0, 4, t[4]), SR_TICKET_EFULL);
    sr_ticket_stats st;
    sr_ticket_stats_get(s, &st);
    assert_int_equal(st.full, 1);
    assert_int_equal(st.live, 4);
    assert_int_equal(st.capacity, 4);
    for (int i = 0; i < 4; i++) /* all still there */
        assert_int_equal(redeem1(s, t[i], "r", 10), SR_TICKET_OK);

    /* Sweeping drops by expiry, not by issue order. */
    assert_int_equal(sr_ticket_issue(s, 1, &l, 60000, 0, t[0]), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 1000, 0, t[1]), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 5000, 0, t[2]), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 2000, 0, t[3]), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 30000, 0, t[4]), SR_TICKET_EFULL);
    assert_int_equal(sr_ticket_sweep(s, 999), 0);
    assert_int_equal(sr_ticket_sweep(s, 2000), 2); /* the 1 s and 2 s ones */
    sr_ticket_stats_get(s, &st);
    assert_int_equal(st.live, 2);
    assert_int_equal(redeem1(s, t[1], "r", 1), SR_TICKET_EUNKNOWN);
    assert_int_equal(redeem1(s, t[3], "r", 1), SR_TICKET_EUNKNOWN);
    /* Issuing sweeps too. */
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 5000, t[5]), SR_TICKET_OK);
    sr_ticket_stats_get(s, &st);
    assert_int_equal(st.live, 2); /* 5 s one swept, new one added */
    assert_int_equal(redeem1(s, t[0], "r", 5000), SR_TICKET_OK);
    assert_int_equal(redeem1(s, t[5], "r", 5000), SR_TICKET_OK);
    sr_ticket_stats_get(s, &st);
    assert_int_equal(st.live, 0);
    assert_int_equal(st.full, 2);
    assert_int_equal(st.expired, 3);
    assert_int_equal(st.room_bytes, 0);
    /* no ticket, no limits: the sweep forgets the subjects */
    assert_true(st.subjects > 0);
    sr_ticket_sweep(s, 6000);
    sr_ticket_stats_get(s, &st);
    assert_int_equal(st.subjects, 0);

    /* One issuer asking 11,000 times cannot push out a victim's ticket. */
    sr_ticket_store *big = sr_ticket_store_new(100);
    char victim[SR_TICKET_LEN + 1], last[SR_TICKET_LEN + 1];
    assert_int_equal(sr_ticket_issue(big, 7, &l, 0, 0, victim), SR_TICKET_OK);
    int ok = 0, full = 0;
    for (int i = 0; i < 11000; i++) {
        int rc = sr_ticket_issue(big, 1, &l, 0, (uint64_t)i / 10, last);
        ok += rc == SR_TICKET_OK;
        full += rc == SR_TICKET_EFULL;
    }
    assert_int_equal(ok, 99);
    assert_int_equal(full, 11000 - 99);
    assert_int_equal(redeem1(big, victim, "r", 1100), SR_TICKET_OK);
    assert_int_equal(sr_ticket_sweep(big, UINT64_MAX), 99);
    sr_ticket_store_free(big);
    sr_grant_list_free(&l);
    sr_ticket_store_free(s);
    sr_ticket_store_free(NULL);
    for (int code = 0; code >= -9; code--) assert_non_null(sr_ticket_strerror(code));
}

/* Per-subject limits: live tickets, the rate (token bucket) and the room
 * bytes of the store; a refusal changes nothing, other subjects are not
 * touched. */
static void test_ticket_subject_limits(void **state) {
    (void)state;
    sr_ticket_store *s = sr_ticket_store_new(1000);
    sr_ticket_limits lim = {.per_subject = 3, .rate_per_s = 2, .burst = 5};
    sr_ticket_store_set_limits(s, &lim);
    sr_grant_list l = rooms_of("r", NULL);
    char t[8][SR_TICKET_LEN + 1];
    /* cap: the 4th live ticket of subject 1 is refused; subject 2 is not */
    for (int i = 0; i < 3; i++)
        assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 0, t[i]), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 0, t[3]), SR_TICKET_EQUOTA);
    assert_int_equal(sr_ticket_issue(s, 2, &l, 0, 0, t[4]), SR_TICKET_OK);
    /* a redemption frees a place */
    assert_int_equal(redeem1(s, t[0], "r", 1), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 1, t[0]), SR_TICKET_OK);
    /* rate: subject 1 has used 4 of its burst of 5 */
    assert_int_equal(redeem1(s, t[0], "r", 1), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 1, t[0]), SR_TICKET_OK);
    assert_int_equal(redeem1(s, t[0], "r", 1), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 1, t[0]), SR_TICKET_ERATE);
    /* 2 a second: one more after 500 ms, not before */
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 499, t[0]), SR_TICKET_ERATE);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 501, t[0]), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 1, &l, 0, 502, t[5]), SR_TICKET_ERATE);
    sr_ticket_stats st;
    sr_ticket_stats_get(s, &st);
    assert_int_equal(st.subject_capped, 1);
    assert_int_equal(st.rate_limited, 3);
    assert_int_equal(st.live, 4);
    assert_int_equal(st.subjects, 2);
    /* after a long pause the bucket is full (burst 5), not more */
    for (int i = 0; i < 3; i++) redeem1(s, t[i], "r", 600);
    redeem1(s, t[0], "r", 600);
    int ok = 0;
    for (int i = 0; i < 10; i++) {
        char x[SR_TICKET_LEN + 1];
        if (sr_ticket_issue(s, 1, &l, 0, 100000000, x) == SR_TICKET_OK) {
            ok++;
            assert_int_equal(redeem1(s, x, "r", 100000000), SR_TICKET_OK);
        }
    }
    assert_int_equal(ok, 5);
    /* the room bytes of the store are bounded: a big ticket is refused */
    sr_ticket_limits small = {.max_room_bytes = 300}; /* one of these, not two */
    sr_ticket_store_set_limits(s, &small);
    sr_grant_list big =
        rooms_of("rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr",
                 "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq*");
    assert_int_equal(sr_ticket_issue(s, 3, &big, 0, 100000001, t[6]), SR_TICKET_OK);
    assert_int_equal(sr_ticket_issue(s, 3, &big, 0, 100000001, t[7]), SR_TICKET_EFULL);
    assert_int_equal(redeem1(s, t[6], "r", 100000002), SR_TICKET_EROOMS);
    assert_int_equal(sr_ticket_issue(s, 3, &big, 0, 100000003, t[7]), SR_TICKET_OK);
    sr_grant_list_free(&big);
    sr_grant_list_free(&l);
    sr_ticket_store_free(s); /* frees subjects and the live ticket */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_vectors),
        cmocka_unit_test(test_b64url_refusals),
        cmocka_unit_test(test_grants_exact_and_prefix),
        cmocka_unit_test(test_grants_star_missing_empty),
        cmocka_unit_test(test_grants_refusals),
        cmocka_unit_test(test_ticket_once),
        cmocka_unit_test(test_ticket_ttl),
        cmocka_unit_test(test_ticket_rooms_and_forgery),
        cmocka_unit_test(test_ticket_full_and_sweep),
        cmocka_unit_test(test_ticket_subject_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
