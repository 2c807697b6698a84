/* SPDX-License-Identifier: MIT */
/*
 * test_auth_http.c: JWT authorization of the real sserooms binary
 * (--auth-alg ...), over sockets. Tokens are built and signed here with
 * OpenSSL (tests/unit/test_auth_tokens.c) from the committed test keys of
 * tests/data/auth/, with real times, so each test states what it sends.
 *
 *  - GET /sse: a valid token streams, from the Authorization header, the
 *    token query parameter or the cookie; refused with 401 (and
 *    WWW-Authenticate: Bearer): no token, a token signed with the wrong
 *    key, alg none, HS256 forged with the RS256 public key PEM as secret,
 *    an expired token; 403 and nothing joined: a token for room a asking
 *    for b (alone, or with a);
 *  - POST /publish: allowed / refused by the publish claim, 401 without a
 *    token, the publish key still works next to JWTs; "sequence" needs the
 *    "sequences" claim (or the publish key);
 *  - POST /tickets: default TTL 30 s in the answer, a ticket works once
 *    and then fails, is bound to its rooms, rooms outside the token are
 *    refused; with --ticket-ttl-ms 1000 a ticket fails after 1.5 s;
 *  - ticket flood (issue #18, finding 3): one subject's 11,000 requests
 *    never make another subject's ticket fail (429 past its rate; with no
 *    per-subject limits, 503 from the full store, nothing evicted); the
 *    live-ticket cap of one subject (429, freed by a redemption);
 *  - /stats and /metrics count the refusals by reason and the tickets;
 *  - tickets across nodes (issue #17): signed, a ticket of node A opens a
 *    stream on node B (shared --ticket-secret, or the HS256 secret), is
 *    single-use on A, and the session cookie it sets (HttpOnly,
 *    SameSite=Strict, Path=/sse) lets the reconnect's replayed URL in on
 *    either node, for the ticket's rooms only; forged cookies and tampered
 *    tickets are refused; without a shared key B refuses A's ticket;
 *  - streams opened by a ticket or its session cookie are the token's
 *    "sub" for presence (issue #15), like a stream opened by the token;
 *  - several keys by kid from --auth-jwks (issue #17): the kid picks the
 *    key, an unknown kid or another key's signature is refused, SIGHUP
 *    adds and retires keys, a bad file keeps the keys in use;
 *  - the admin surface (issue #17): /rooms, /stats, /metrics refuse an
 *    anonymous caller (401), a wrong key (401), a token without
 *    "admin": true (403); the admin key or an admin JWT gets 200;
 *    the probes stay open;
 *  - startup: half-configured authorization exits 2 saying why; an HS256
 *    secret file works; --check-config masks the secret.
 */
#include "srt_check.h"
#include "srt_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test_auth_tokens.h"

#include <signal.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>

#define RSA_PUB DATA "rsa_public.pem"

/* A JSON payload valid for 10 minutes (exp_offset from now), with the
 * given claim texts (NULL: claim absent). Returns static storage. */
static const char *payload(const char *rooms, const char *publish, long exp_offset) {
    static char buf[1024];
    long now = (long)time(NULL);
    int n = snprintf(buf, sizeof buf, "{\"sub\":\"tester\",\"iat\":%ld,\"exp\":%ld", now - 5,
                     now + exp_offset);
    if (rooms) n += snprintf(buf + n, sizeof buf - (size_t)n, ",\"rooms\":%s", rooms);
    if (publish) n += snprintf(buf + n, sizeof buf - (size_t)n, ",\"publish\":%s", publish);
    snprintf(buf + n, sizeof buf - (size_t)n, "}");
    return buf;
}

static char *rs_tok(const char *rooms, const char *publish) {
    return rs_token(payload(rooms, publish, 600));
}

/* GET path with extra headers: the status (200 means a valid stream,
 * which is closed again unless keep is not NULL). */
static int open_stream(int port, const char *path, const char *const *headers, srt_sse *keep) {
    srt_sse s;
    int rc = srt_sse_open_ex(&s, port, path, headers, NULL, SRT_TIMEOUT_MS);
    assert_true(rc >= 0);
    int status = rc == 0 ? 200 : rc;
    if (status != 200 && status != 401 && status != 403)
        fprintf(stderr, "unexpected %d: %s\n", status, s.head.body ? s.head.body : "");
    if (status == 401) {
        const char *www = srt_response_header(&s.head, "WWW-Authenticate");
        assert_non_null(www);
        assert_string_equal(www, "Bearer");
        assert_non_null(strstr(s.head.body, "\"error\":"));
    }
    if (keep && rc == 0) *keep = s;
    else srt_sse_close(&s);
    return status;
}

static int stream_with_bearer(int port, const char *path, const char *tok) {
    char h[4096];
    snprintf(h, sizeof h, "Authorization: Bearer %s", tok);
    return open_stream(port, path, (const char *[]){h, NULL}, NULL);
}

/* POST body to path with a Bearer token (NULL: none); returns the status,
 * the body in *body when not NULL (malloc'd). */
static int post(int port, const char *path, const char *bearer_tok, const char *body, char **out) {
    char h[4096];
    snprintf(h, sizeof h, "Authorization: Bearer %s", bearer_tok ? bearer_tok : "");
    const char *hdrs[] = {"Content-Type: application/json", bearer_tok ? h : NULL, NULL};
    srt_response r;
    assert_int_equal(srt_http_request(port, "POST", path, hdrs, body, &r), 0);
    int status = r.status;
    if (status == 401) assert_non_null(srt_response_header(&r, "WWW-Authenticate"));
    if (out) *out = strdup(r.body ? r.body : "");
    srt_response_free(&r);
    return status;
}

static char *get_body(int port, const char *path) {
    srt_response r;
    assert_int_equal(srt_http_get(port, path, &r), 0);
    srt_check_status(&r, 200);
    char *b = strdup(r.body);
    srt_response_free(&r);
    return b;
}

/* The admin key of start_rs256's servers; srt_http_get (and so the
 * srt_check helpers reading /rooms and /stats) presents it. */
#define ADMIN_KEY "test-admin-key-0123"

static void start_rs256(srt_proc *p, const char *const *extra) {
    const char *args[18] = {"--auth-alg", "RS256",       "--auth-public-key",
                            RSA_PUB,      "--admin-key", ADMIN_KEY};
    size_t n = 6;
    srt_http_set_admin_key(ADMIN_KEY);
    for (; extra && *extra && n < 17; extra++) args[n++] = *extra;
    args[n] = NULL;
    srt_proc_opts o = {.args = args};
    assert_int_equal(srt_proc_start(p, &o), 0);
}

/* ---- streams -------------------------------------------------------------- */

static void test_streams(void **state) {
    (void)state;
    srt_proc p;
    start_rs256(&p, NULL);
    char *good = rs_tok("[\"a\",\"chat:*\"]", NULL);

    /* the header, the query and the cookie each carry a token */
    srt_sse s;
    char h[4096];
    snprintf(h, sizeof h, "Authorization: Bearer %s", good);
    assert_int_equal(open_stream(p.port, "/sse?room=a&room=chat:1", (const char *[]){h, NULL}, &s),
                     200);
    srt_check_room_members(p.port, "a", 1, SRT_TIMEOUT_MS);
    srt_check_room_members(p.port, "chat:1", 1, SRT_TIMEOUT_MS);
    char *pub = rs_tok(NULL, "[\"a\"]");
    char *answer = NULL;
    assert_int_equal(post(p.port, "/publish", pub, "{\"room\":\"a\",\"data\":1}", &answer), 200);
    assert_string_equal(answer, "{\"delivered\":1}\n");
    free(answer);
    free(pub);
    assert_true(srt_sse_expect(&s, "data: 1\n\n", SRT_TIMEOUT_MS));
    srt_sse_close(&s);
    srt_check_room_members(p.port, "a", 0, SRT_TIMEOUT_MS);
    char path[4096];
    snprintf(path, sizeof path, "/sse?room=a&token=%s", good);
    assert_int_equal(open_stream(p.port, path, NULL, NULL), 200);
    snprintf(h, sizeof h, "Cookie: theme=dark; sserooms_token=%s; x=y", good);
    assert_int_equal(open_stream(p.port, "/sse?room=a", (const char *[]){h, NULL}, NULL), 200);

    /* refused with 401 */
    assert_int_equal(open_stream(p.port, "/sse?room=a", NULL, NULL), 401);
    char *wrong_key = token("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", payload("[\"a\"]", NULL, 600),
                            SIG_RSA, rsa2_key, 0);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", wrong_key), 401);
    char *none = token("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload("[\"a\"]", NULL, 600),
                       SIG_EMPTY, NULL, 0);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", none), 401);
    char *forged = token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload("[\"a\"]", NULL, 600),
                         SIG_HMAC, rsa_public_pem, strlen(rsa_public_pem));
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", forged), 401);
    char *expired = rs_token(payload("[\"a\"]", NULL, -3600));
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", expired), 401);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", "not.a.token"), 401);
    char *bad_claim = rs_tok("5", NULL); /* rooms must be a string or an array of strings */
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", bad_claim), 401);
    free(bad_claim);

    /* 403, and nothing joined */
    char *only_a = rs_tok("[\"a\"]", NULL);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=b", only_a), 403);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a&room=b", only_a), 403);
    char *rooms = get_body(p.port, "/rooms");
    assert_int_equal(srt_rooms_count(rooms), 0);
    free(rooms);

    /* the counters */
    char *stats = get_body(p.port, "/stats");
    assert_non_null(strstr(stats, "\"failures\":{\"missing\":1,\"invalid\":5,\"expired\":1,"
                                  "\"forbidden\":2,\"ticket_refused\":0}"));
    free(stats);
    char *metrics = get_body(p.port, "/metrics");
    assert_non_null(strstr(metrics, "sserooms_auth_failures_total{reason=\"expired\"} 1\n"));
    assert_non_null(strstr(metrics, "sserooms_auth_failures_total{reason=\"forbidden\"} 2\n"));
    free(metrics);
    /* no token ever reaches the log (read before the clean exit deletes it) */
    char *log = NULL;
    for (int i = 0; i < 50 && !(log && strstr(log, "403")); i++) {
        free(log);
        srt_sleep_ms(20);
        FILE *f = fopen(p.log_path, "rb");
        assert_non_null(f);
        srt_buf b = {0};
        char tmp[4096];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) srt_buf_append(&b, tmp, n);
        fclose(f);
        srt_buf_append(&b, "", 0);
        log = b.data;
    }
    assert_non_null(log);
    assert_null(strstr(log, good));
    assert_null(strstr(log, only_a));
    free(log);
    srt_check_stop(&p);
    free(good), free(wrong_key), free(none), free(forged), free(expired), free(only_a);
}

/* ---- publishing ------------------------------------------------------------- */

static void test_publish(void **state) {
    (void)state;
    srt_proc p;
    start_rs256(&p, (const char *[]){"--publish-key", "the-publish-key", NULL});
    char *pub_a = rs_tok(NULL, "[\"a\",\"news:*\"]");
    char *sub_only = rs_tok("[\"*\"]", NULL);
    assert_int_equal(post(p.port, "/publish", pub_a, "{\"room\":\"a\",\"data\":1}", NULL), 200);
    assert_int_equal(post(p.port, "/publish", pub_a, "{\"rooms\":[\"a\",\"news:x\"],\"data\":1}",
                          NULL),
                     200);
    char *answer = NULL;
    assert_int_equal(post(p.port, "/publish", pub_a, "{\"rooms\":[\"a\",\"b\"],\"data\":1}",
                          &answer),
                     403);
    assert_non_null(strstr(answer, "\\\"b\\\""));
    free(answer);
    assert_int_equal(post(p.port, "/publish", sub_only, "{\"room\":\"a\",\"data\":1}", NULL), 403);
    assert_int_equal(post(p.port, "/publish", NULL, "{\"room\":\"a\",\"data\":1}", NULL), 401);
    assert_int_equal(post(p.port, "/publish", "wrong-key", "{\"room\":\"a\",\"data\":1}", NULL),
                     401);
    /* the publish key still works, for any room */
    assert_int_equal(post(p.port, "/publish", "the-publish-key", "{\"room\":\"b\",\"data\":1}",
                          NULL),
                     200);
    srt_check_stop(&p);
    free(pub_a), free(sub_only);
}

/* "sequence" takes ids from a shared counter: with JWT on that needs the
 * token's "sequences" claim (names or prefix* patterns), or the publish key;
 * a publish grant for the room alone is not enough. */
static void test_publish_sequence_grant(void **state) {
    (void)state;
    srt_proc p;
    start_rs256(&p, (const char *[]){"--publish-key", "the-publish-key", NULL});
    char *no_seq = rs_tok(NULL, "[\"a\"]");
    long now = (long)time(NULL);
    char claims[256];
    snprintf(claims, sizeof claims,
             "{\"sub\":\"tester\",\"iat\":%ld,\"exp\":%ld,\"publish\":[\"a\"],"
             "\"sequences\":[\"orders\",\"job:*\"]}",
             now - 5, now + 600);
    char *with_seq = rs_token(claims);
    char *answer = NULL;
    assert_int_equal(post(p.port, "/publish", no_seq,
                          "{\"room\":\"a\",\"data\":1,\"sequence\":\"orders\"}", &answer),
                     403);
    assert_non_null(strstr(answer, "sequences"));
    free(answer);
    assert_int_equal(post(p.port, "/publish", with_seq,
                          "{\"room\":\"a\",\"data\":1,\"sequence\":\"orders\"}", &answer),
                     200);
    assert_non_null(strstr(answer, "\"id\":\"0-000000000001\""));
    free(answer);
    assert_int_equal(post(p.port, "/publish", with_seq,
                          "{\"room\":\"a\",\"data\":1,\"sequence\":\"job:7\"}", NULL),
                     200);
    assert_int_equal(post(p.port, "/publish", with_seq,
                          "{\"room\":\"a\",\"data\":1,\"sequence\":\"other\"}", NULL),
                     403);
    /* refused publishes used no id */
    assert_int_equal(post(p.port, "/publish", with_seq,
                          "{\"room\":\"a\",\"data\":1,\"sequence\":\"orders\"}", &answer),
                     200);
    assert_non_null(strstr(answer, "\"id\":\"0-000000000002\""));
    free(answer);
    /* the publish key may use any sequence */
    assert_int_equal(post(p.port, "/publish", "the-publish-key",
                          "{\"room\":\"b\",\"data\":1,\"sequence\":\"other\"}", NULL),
                     200);
    srt_check_stop(&p);
    free(no_seq), free(with_seq);
}

/* ---- tickets ---------------------------------------------------------------- */

/* POST /tickets; returns the status and the ticket (malloc'd) on 200. */
static int ask_ticket(int port, const char *tok, const char *body, char **ticket, long long *ttl) {
    char *answer = NULL;
    int status = post(port, "/tickets", tok, body, &answer);
    if (status == 200) {
        *ticket = srt_json_string(answer, "ticket");
        assert_non_null(*ticket);
        /* signed: base64url(payload) "." base64url(MAC), URL-safe as it is */
        assert_non_null(strchr(*ticket, '.'));
        assert_int_equal(strspn(*ticket, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                         "0123456789-_."),
                         strlen(*ticket));
        assert_true(srt_json_int(answer, "expires_in_ms", ttl));
    }
    free(answer);
    return status;
}

static void test_tickets(void **state) {
    (void)state;
    srt_proc p;
    start_rs256(&p, NULL);
    char *tok = rs_tok("[\"a\",\"b\",\"chat:*\"]", NULL);
    char *ticket = NULL, *answer = NULL;
    long long ttl = 0;
    assert_int_equal(post(p.port, "/tickets", tok, "{\"rooms\":[\"a\",\"chat:1\"]}", &answer), 200);
    assert_non_null(strstr(answer, "\"expires_in_ms\":30000,\"rooms\":[\"a\",\"chat:1\"]}"));
    free(answer);
    assert_int_equal(ask_ticket(p.port, tok, "{\"rooms\":[\"a\"]}", &ticket, &ttl), 200);
    assert_int_equal(ttl, 30000);
    char path[256];
    snprintf(path, sizeof path, "/sse?room=a&ticket=%s", ticket);
    srt_sse s;
    assert_int_equal(open_stream(p.port, path, NULL, &s), 200);
    srt_check_room_members(p.port, "a", 1, SRT_TIMEOUT_MS);
    srt_sse_close(&s);
    assert_int_equal(open_stream(p.port, path, NULL, NULL), 401); /* used up */
    free(ticket);

    /* bound to its rooms: b is in the token, not in the ticket */
    assert_int_equal(ask_ticket(p.port, tok, "{\"rooms\":[\"a\"]}", &ticket, &ttl), 200);
    snprintf(path, sizeof path, "/sse?room=b&ticket=%s", ticket);
    assert_int_equal(open_stream(p.port, path, NULL, NULL), 403);
    free(ticket);
    assert_int_equal(open_stream(p.port, "/sse?room=a&ticket=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                 NULL, NULL),
                     401);

    /* refused tickets */
    assert_int_equal(post(p.port, "/tickets", tok, "{\"rooms\":[\"c\"]}", NULL), 403);
    assert_int_equal(post(p.port, "/tickets", NULL, "{\"rooms\":[\"a\"]}", NULL), 401);
    assert_int_equal(post(p.port, "/tickets", tok, "{\"rooms\":[]}", NULL), 400);
    assert_int_equal(post(p.port, "/tickets", tok, "[1]", NULL), 400);
    char *stats = get_body(p.port, "/stats");
    assert_non_null(strstr(stats, "\"ticket_refused\":3}"));
    assert_non_null(strstr(stats, "\"tickets_issued\":3,\"tickets_redeemed\":1"));
    free(stats);
    char *metrics = get_body(p.port, "/metrics");
    assert_non_null(strstr(metrics, "sserooms_tickets_issued_total 3\n"));
    assert_non_null(strstr(metrics, "sserooms_tickets_redeemed_total 1\n"));
    free(metrics);
    srt_check_stop(&p);

    /* a short TTL: the ticket fails after it */
    start_rs256(&p, (const char *[]){"--ticket-ttl-ms", "1000", NULL});
    assert_int_equal(ask_ticket(p.port, tok, "{\"rooms\":[\"a\"]}", &ticket, &ttl), 200);
    assert_int_equal(ttl, 1000);
    srt_sleep_ms(1500);
    snprintf(path, sizeof path, "/sse?room=a&ticket=%s", ticket);
    assert_int_equal(open_stream(p.port, path, NULL, NULL), 401);
    free(ticket);
    srt_check_stop(&p);
    free(tok);
}

/* A token of subject `sub` for rooms "a" (RS256), malloc'd. */
static char *subject_tok(const char *sub) {
    char buf[256];
    long now = (long)time(NULL);
    snprintf(buf, sizeof buf, "{\"sub\":\"%s\",\"iat\":%ld,\"exp\":%ld,\"rooms\":[\"a\"]}", sub,
             now - 5, now + 600);
    return rs_token(buf);
}

/* n_conns connections each sending `per_conn` POST /tickets with tok,
 * `window` at a time pipelined (all rounds of all connections written
 * before their answers are read); counts the statuses. A 503 (the store is
 * full) closes its connection, as every 5xx does, so a run that expects
 * one uses a window of 1: the server never closes with requests unread
 * (which would reset the connection and lose answers already sent). */
static void ticket_flood(int port, const char *tok, int n_conns, int per_conn, int window, long *ok,
                         long *limited, long *full) {
    static const char body[] = "{\"rooms\":[\"a\"]}";
    srt_buf req = {0};
    for (int i = 0; i < window; i++)
        srt_buf_appendf(&req,
                        "POST /tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                        tok, sizeof body - 1, body);
    srt_conn *c = calloc((size_t)n_conns, sizeof *c);
    int *open_ = calloc((size_t)n_conns, sizeof *open_);
    assert_non_null(c);
    assert_non_null(open_);
    for (int k = 0; k < n_conns; k++) {
        assert_int_equal(srt_conn_open(&c[k], port, SRT_TIMEOUT_MS), 0);
        open_[k] = 1;
    }
    *ok = *limited = *full = 0;
    for (int sent = 0; sent < per_conn; sent += window) {
        for (int k = 0; k < n_conns; k++)
            if (open_[k]) assert_int_equal(srt_conn_send(&c[k], req.data, req.len, 60000), 0);
        for (int k = 0; k < n_conns; k++) {
            for (int i = 0; i < window && open_[k]; i++) {
                srt_response r;
                assert_int_equal(srt_http_read_response(&c[k], &r, 60000), 0);
                if (r.status == 200) (*ok)++;
                else if (r.status == 429) (*limited)++;
                else if (r.status == 503) (*full)++;
                else fail_msg("POST /tickets: %d %s", r.status, r.body);
                if (r.status != 200 && !strstr(r.body, "ticket refused: "))
                    fail_msg("no reason in %s", r.body);
                if (r.status == 503) {
                    assert_int_equal(srt_conn_wait_eof(&c[k], SRT_TIMEOUT_MS), 0);
                    open_[k] = 0;
                }
                srt_response_free(&r);
            }
        }
    }
    for (int k = 0; k < n_conns; k++) srt_conn_close(&c[k]);
    free(open_);
    free(c);
    srt_buf_free(&req);
}

/* Issue #18, finding 3: one subject asking for 11,000 tickets (11
 * pipelining connections) cannot make a victim's valid ticket fail: with
 * the default limits it is refused 429 past its rate, and with no limits
 * the full store refuses it 503 instead of evicting the victim's ticket. */
static void test_ticket_flood(void **state) {
    (void)state;
    char *victim = subject_tok("victim"), *attacker = subject_tok("attacker");
    static const char *const defaults[] = {NULL};
    static const char *const unlimited[] = {"--ticket-rate", "0", "--max-tickets-per-subject", "0",
                                            NULL};
    const char *const *configs[2] = {defaults, unlimited};
    for (int run = 0; run < 2; run++) {
        srt_proc p;
        start_rs256(&p, configs[run]);
        char *ticket = NULL;
        long long ttl;
        assert_int_equal(ask_ticket(p.port, victim, "{\"rooms\":[\"a\"]}", &ticket, &ttl), 200);
        long ok, limited, full;
        ticket_flood(p.port, attacker, 11, 1000, run == 0 ? 1000 : 1, &ok, &limited, &full);
        fprintf(stderr, "  run %d: 200 x %ld, 429 x %ld, 503 x %ld\n", run, ok, limited, full);
        char path[256];
        snprintf(path, sizeof path, "/sse?room=a&ticket=%s", ticket);
        assert_int_equal(open_stream(p.port, path, NULL, NULL), 200); /* the victim's ticket */
        free(ticket);
        if (run == 0) {
            assert_true(ok >= 20 && ok <= 100); /* the burst, at most the subject's cap */
            assert_int_equal(limited, 11000 - ok);
            assert_int_equal(full, 0);
        } else {
            assert_int_equal(ok, 9999); /* the store holds 10,000: the victim's and these */
            assert_int_equal(full, 11); /* each connection once, then it is closed */
        }
        /* the victim's subject still gets tickets */
        assert_int_equal(ask_ticket(p.port, victim, "{\"rooms\":[\"a\"]}", &ticket, &ttl), 200);
        free(ticket);
        /* A slow run (a loaded machine) refills the rate bucket more, so up
         * to the subject's cap of 100 live tickets can be handed out; past it
         * a 429 is a subject_cap refusal, not a rate one. Either way every
         * 429 the client saw is counted under one of the two reasons. */
        char *stats = get_body(p.port, "/stats");
        const char *tr = strstr(stats, "\"tickets_refused\":{");
        long rate = -1, cap = -1, full_seen = -1;
        if (!tr || sscanf(tr, "\"tickets_refused\":{\"rate\":%ld,\"subject_cap\":%ld,\"full\":%ld}",
                          &rate, &cap, &full_seen) != 3)
            fail_msg("/stats has no tickets_refused object: %s", stats);
        free(stats);
        if (rate + cap != limited || full_seen != full)
            fail_msg("/stats tickets_refused rate %ld + subject_cap %ld + full %ld does not match "
                     "the client's 429 x %ld, 503 x %ld",
                     rate, cap, full_seen, limited, full);
        if (run == 0 && cap > 0) assert_int_equal(ok, 100); /* cap refusals only once it is full */
        char *metrics = get_body(p.port, "/metrics");
        char want[128];
        snprintf(want, sizeof want, "sserooms_ticket_refusals_total{reason=\"%s\"} %ld\n",
                 run == 0 ? "rate" : "full", run == 0 ? rate : full);
        if (!strstr(metrics, want)) fail_msg("/metrics has no %s", want);
        free(metrics);
        srt_check_stop(&p);
    }

    /* the live-ticket cap of one subject: the 4th is refused until one is
     * redeemed; another subject is not affected */
    srt_proc p;
    start_rs256(&p, (const char *[]){"--ticket-rate", "0", "--max-tickets-per-subject", "3", NULL});
    char *t[4];
    long long ttl;
    for (int i = 0; i < 3; i++)
        assert_int_equal(ask_ticket(p.port, attacker, "{\"rooms\":[\"a\"]}", &t[i], &ttl), 200);
    char *answer = NULL;
    assert_int_equal(post(p.port, "/tickets", attacker, "{\"rooms\":[\"a\"]}", &answer), 429);
    assert_non_null(strstr(answer, "already holds 3 live tickets"));
    free(answer);
    assert_int_equal(ask_ticket(p.port, victim, "{\"rooms\":[\"a\"]}", &t[3], &ttl), 200);
    free(t[3]);
    char path[256];
    snprintf(path, sizeof path, "/sse?room=a&ticket=%s", t[0]);
    assert_int_equal(open_stream(p.port, path, NULL, NULL), 200);
    assert_int_equal(ask_ticket(p.port, attacker, "{\"rooms\":[\"a\"]}", &t[3], &ttl), 200);
    for (int i = 0; i < 4; i++) free(t[i]);
    char *stats = get_body(p.port, "/stats");
    assert_non_null(strstr(stats, "\"tickets_refused\":{\"rate\":0,\"subject_cap\":1,\"full\":0}"));
    free(stats);
    srt_check_stop(&p);
    free(victim);
    free(attacker);
}

/* ---- configuration ---------------------------------------------------------- */

static void expect_refused(const char *const *args, const char *reason) {
    srt_run_result r;
    int st = srt_run(args, NULL, 15000, &r);
    if (st != 2 || !strstr(r.err, reason))
        fail_msg("expected exit 2 with '%s'; got %d, stderr: %s", reason, st, r.err);
    srt_run_result_free(&r);
}

static void test_configuration(void **state) {
    (void)state;
    expect_refused((const char *[]){"--auth-alg", "HS256", NULL}, "needs auth-secret");
    expect_refused((const char *[]){"--auth-alg", "RS256", NULL}, "needs auth-public-key");
    expect_refused((const char *[]){"--auth-public-key", RSA_PUB, NULL}, "auth-alg is not");
    expect_refused((const char *[]){"--auth-secret", hs_secret, NULL}, "auth-alg is not");
    expect_refused((const char *[]){"--auth-cookie", "c", NULL}, "auth-alg is not");
    expect_refused((const char *[]){"--auth-alg", "HS256", "--auth-secret", "too-short", NULL},
                   "32");
    expect_refused((const char *[]){"--auth-alg", "none", "--auth-secret", hs_secret, NULL},
                   "expected HS256, RS256 or ES256");
    expect_refused((const char *[]){"--auth-alg", "RS256", "--auth-public-key", "/nonexistent.pem",
                                    NULL},
                   "/nonexistent.pem");
    expect_refused((const char *[]){"--auth-alg", "ES256", "--auth-public-key", RSA_PUB, NULL},
                   "ES256");
    expect_refused((const char *[]){"--auth-alg", "RS256", "--auth-public-key", RSA_PUB,
                                    "--anonymous", NULL},
                   "anonymous");
    expect_refused((const char *[]){"--auth-alg", "RS256", "--auth-public-key", RSA_PUB,
                                    "--auth-secret", hs_secret, NULL},
                   "HS256");

    /* --check-config never shows the secret */
    srt_run_result r;
    assert_int_equal(srt_run((const char *[]){"--auth-alg", "HS256", "--auth-secret", hs_secret,
                                              "--check-config", NULL},
                             NULL, 15000, &r),
                     0);
    assert_non_null(strstr(r.out, "auth-secret = ********"));
    assert_null(strstr(r.out, hs_secret));
    assert_null(strstr(r.err, hs_secret));
    srt_run_result_free(&r);

    /* an HS256 secret file (with its newline) works; anonymous is refused */
    char path[600];
    snprintf(path, sizeof path, "%s/test-auth-secret-%d", SR_TEST_BINARY_DIR, (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", hs_secret);
    fclose(f);
    srt_proc p;
    srt_proc_opts o = {
        .args = (const char *[]){"--auth-alg", "HS256", "--auth-secret-file", path, NULL}};
    assert_int_equal(srt_proc_start(&p, &o), 0);
    char *hs = hs_token(payload("[\"a\"]", "[\"a\"]", 600));
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", hs), 200);
    assert_int_equal(open_stream(p.port, "/sse?room=a", NULL, NULL), 401);
    char *rs = rs_tok("[\"a\"]", NULL);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", rs), 401); /* alg pinned */
    srt_check_stop(&p);
    free(hs), free(rs);
    unlink(path);

    /* ES256 */
    o = (srt_proc_opts){.args = (const char *[]){"--auth-alg", "ES256", "--auth-public-key",
                                                 DATA "ec_public.pem", NULL}};
    assert_int_equal(srt_proc_start(&p, &o), 0);
    char *es = es_token(payload("[\"room-*\"]", NULL, 600));
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=room-1", es), 200);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=other", es), 403);
    rs = rs_tok("[\"room-1\"]", NULL);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=room-1", rs), 401);
    srt_check_stop(&p);
    free(es), free(rs);

    /* no auth option: anonymous as before, and --anonymous says so */
    o = (srt_proc_opts){.args = (const char *[]){"--anonymous", NULL}};
    assert_int_equal(srt_proc_start(&p, &o), 0);
    assert_int_equal(open_stream(p.port, "/sse?room=a", NULL, NULL), 200);
    assert_int_equal(post(p.port, "/publish", NULL, "{\"room\":\"a\",\"data\":1}", NULL), 200);
    assert_int_equal(post(p.port, "/tickets", NULL, "{\"rooms\":[\"a\"]}", NULL), 404);
    srt_check_stop(&p);
}

/* ---- tickets across nodes and reconnects (issue #17) ------------------------ */

/* Opens path on port with extra headers; the status, and on 200 the
 * Set-Cookie value (malloc'd, NULL when none) in *cookie. */
static int open_for_cookie(int port, const char *path, const char *cookie_hdr, char **cookie) {
    srt_sse s;
    const char *hdrs[] = {cookie_hdr, NULL};
    int rc = srt_sse_open_ex(&s, port, path, cookie_hdr ? hdrs : NULL, NULL, SRT_TIMEOUT_MS);
    assert_true(rc >= 0);
    if (cookie) {
        const char *sc = rc == 0 ? srt_response_header(&s.head, "Set-Cookie") : NULL;
        *cookie = sc ? strdup(sc) : NULL;
    }
    srt_sse_close(&s);
    return rc == 0 ? 200 : rc;
}

static void test_tickets_across_nodes(void **state) {
    (void)state;
    /* RS256 with a shared --ticket-secret: node A's ticket opens a stream on B */
    srt_proc a, b;
    const char *const shared[] = {"--ticket-secret", "a ticket secret of 32 bytes or more", NULL};
    start_rs256(&a, shared);
    start_rs256(&b, shared);
    char *tok = rs_token("{\"sub\":\"alice\",\"exp\":9999999999,\"rooms\":[\"a\",\"chat:*\"]}");
    char *ticket = NULL;
    long long ttl = 0;
    assert_int_equal(ask_ticket(a.port, tok, "{\"rooms\":[\"a\",\"chat:*\"]}", &ticket, &ttl), 200);
    char path[2048];
    snprintf(path, sizeof path, "/sse?room=a&room=chat:1&ticket=%s", ticket);
    char *cookie = NULL;
    assert_int_equal(open_for_cookie(b.port, path, NULL, &cookie), 200);
    /* the session for reconnects: HttpOnly, SameSite, scoped to the stream */
    assert_non_null(cookie);
    assert_true(strncmp(cookie, "sserooms_token_session=", 23) == 0);
    assert_non_null(strstr(cookie, "; Path=/sse;"));
    assert_non_null(strstr(cookie, "; HttpOnly"));
    assert_non_null(strstr(cookie, "; SameSite=Strict"));
    assert_non_null(strstr(cookie, "; Max-Age="));
    /* single-use on the node that issued it */
    assert_int_equal(open_for_cookie(a.port, path, NULL, NULL), 200);
    assert_int_equal(open_for_cookie(a.port, path, NULL, NULL), 401);
    /* the reconnect: the same URL (a used ticket) and the cookie, on either node */
    char hdr[4096];
    snprintf(hdr, sizeof hdr, "Cookie: %.*s", (int)strcspn(cookie, ";"), cookie);
    assert_int_equal(open_for_cookie(a.port, path, hdr, NULL), 200);
    assert_int_equal(open_for_cookie(b.port, path, hdr, NULL), 200);
    /* the session covers the ticket's rooms only */
    snprintf(path, sizeof path, "/sse?room=b&ticket=%s", ticket);
    assert_int_equal(open_for_cookie(a.port, path, hdr, NULL), 403); /* b: in neither */
    /* a forged session (another key) is ignored */
    char forged[4096];
    snprintf(forged, sizeof forged, "%s", hdr);
    char *dot = strrchr(forged, '.');
    assert_non_null(dot);
    dot[1] = dot[1] == 'A' ? 'B' : 'A';
    assert_int_equal(open_for_cookie(a.port, "/sse?room=a", forged, NULL), 401);
    /* a tampered ticket is refused */
    char bad[2048];
    snprintf(bad, sizeof bad, "/sse?room=a&ticket=%s", ticket);
    bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'A' ? 'B' : 'A';
    assert_int_equal(open_for_cookie(b.port, bad, NULL, NULL), 401);
    free(ticket), free(cookie);
    srt_check_stop(&a);
    srt_check_stop(&b);

    /* without a shared secret (RS256), each node signs with its own key */
    start_rs256(&a, NULL);
    start_rs256(&b, NULL);
    assert_int_equal(ask_ticket(a.port, tok, "{\"rooms\":[\"a\"]}", &ticket, &ttl), 200);
    snprintf(path, sizeof path, "/sse?room=a&ticket=%s", ticket);
    assert_int_equal(open_for_cookie(b.port, path, NULL, NULL), 401);
    assert_int_equal(open_for_cookie(a.port, path, NULL, NULL), 200);
    free(ticket);
    srt_check_stop(&a);
    srt_check_stop(&b);
    free(tok);

    /* HS256: the key is derived from the shared secret, no extra option */
    const char *hs[] = {"--auth-alg", "HS256", "--auth-secret", hs_secret, NULL};
    srt_proc_opts o = {.args = hs};
    assert_int_equal(srt_proc_start(&a, &o), 0);
    assert_int_equal(srt_proc_start(&b, &o), 0);
    char *htok = hs_token("{\"sub\":\"bob\",\"exp\":9999999999,\"rooms\":[\"a\"]}");
    assert_int_equal(ask_ticket(a.port, htok, "{\"rooms\":[\"a\"]}", &ticket, &ttl), 200);
    snprintf(path, sizeof path, "/sse?room=a&ticket=%s", ticket);
    assert_int_equal(open_for_cookie(b.port, path, NULL, NULL), 200);
    free(ticket), free(htok);
    srt_check_stop(&a);
    srt_check_stop(&b);
}

/* Issue #15: a stream opened by a ticket, and one let in by the ticket's
 * session cookie, are the token's "sub" for presence, like a stream opened
 * with the token itself (they were anonymous: the ticket's subject hash
 * reached the connection, its "sub" did not). */
static void test_ticket_streams_carry_user(void **state) {
    (void)state;
    srt_proc p;
    start_rs256(&p, NULL); /* /presence is an admin endpoint: srt_http_get sends the key */
    char *alice = rs_token("{\"sub\":\"alice\",\"exp\":9999999999,\"rooms\":[\"a\"]}");
    char *ticket = NULL;
    long long ttl = 0;
    assert_int_equal(ask_ticket(p.port, alice, "{\"rooms\":[\"a\"]}", &ticket, &ttl), 200);
    char path[2048];
    snprintf(path, sizeof path, "/sse?room=a&ticket=%s", ticket);
    srt_sse by_ticket, by_session, by_token;
    assert_int_equal(open_stream(p.port, path, NULL, &by_ticket), 200);
    const char *sc = srt_response_header(&by_ticket.head, "Set-Cookie");
    assert_non_null(sc);
    char hdr[4096];
    snprintf(hdr, sizeof hdr, "Cookie: %.*s", (int)strcspn(sc, ";"), sc);
    assert_int_equal(open_stream(p.port, path, (const char *[]){hdr, NULL}, &by_session), 200);
    char bearer_hdr[4096];
    snprintf(bearer_hdr, sizeof bearer_hdr, "Authorization: Bearer %s", alice);
    assert_int_equal(open_stream(p.port, "/sse?room=a", (const char *[]){bearer_hdr, NULL},
                                 &by_token),
                     200);
    char *body = get_body(p.port, "/presence?room=a&members=1");
    if (!strstr(body, "\"connections\":3,\"users\":1") ||
        !strstr(body, "{\"user\":\"alice\",\"connections\":3}"))
        fail_msg("presence of the ticket, session and token streams of alice: %s", body);
    free(body);
    srt_sse_close(&by_ticket);
    srt_sse_close(&by_session);
    srt_sse_close(&by_token);
    free(ticket), free(alice);
    srt_check_stop(&p);
}

/* ---- several keys by kid from a JWKS file, reloaded on SIGHUP (issue #17) --- */

/* The public JWK of an RSA key, malloc'd. */
static char *jwk_rsa(EVP_PKEY *key, const char *kid) {
    BIGNUM *n = NULL, *e = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e), 1);
    unsigned char nb[1024], eb[16];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char *n64 = b64(nb, (size_t)nl), *e64 = b64(eb, (size_t)el);
    char *out = malloc(strlen(n64) + strlen(e64) + 256);
    assert_non_null(out);
    sprintf(out,
            "{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\",\"kid\":\"%s\",\"n\":\"%s\","
            "\"e\":\"%s\"}",
            kid, n64, e64);
    free(n64), free(e64);
    BN_free(n), BN_free(e);
    return out;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Polls until a stream with tok gets want (the reload is asynchronous). */
static void wait_stream_status(int port, const char *tok, int want) {
    int got = 0;
    for (int i = 0; i < 250 && (got = stream_with_bearer(port, "/sse?room=a", tok)) != want; i++)
        srt_sleep_ms(20);
    if (got != want) fail_msg("stream: %d, not %d, after the reload", got, want);
}

static void test_jwks_rotation(void **state) {
    (void)state;
    char path[600], text[8192];
    snprintf(path, sizeof path, "%s/test-jwks-%d.json", SR_TEST_BINARY_DIR, (int)getpid());
    char *k1 = jwk_rsa(rsa_key, "k1"), *k2 = jwk_rsa(rsa2_key, "k2");
    snprintf(text, sizeof text, "{\"keys\":[%s,{\"kty\":\"EC\",\"kid\":\"other\"}]}", k1);
    write_text(path, text); /* the EC key does not suit RS256: skipped */
    srt_proc p;
    srt_proc_opts o = {.args = (const char *[]){"--auth-alg", "RS256", "--auth-jwks", path, NULL}};
    assert_int_equal(srt_proc_start(&p, &o), 0);
    const char *pl = payload("[\"a\"]", NULL, 600);
    char *t1 = token("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", pl, SIG_RSA, rsa_key, 0);
    char *t2 = token("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k2\"}", pl, SIG_RSA, rsa2_key,
                     0);
    char *t2_as_k1 = token("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", pl, SIG_RSA,
                           rsa2_key, 0);
    char *no_kid = rs_token(pl);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", t1), 200);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", t2), 401);       /* unknown kid */
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", t2_as_k1), 401); /* k1's key */
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", no_kid), 200);   /* one key */

    /* rotation: k2 added, SIGHUP */
    snprintf(text, sizeof text, "{\"keys\":[%s,%s]}", k1, k2);
    write_text(path, text);
    assert_int_equal(kill(p.pid, SIGHUP), 0);
    wait_stream_status(p.port, t2, 200);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", t1), 200);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", no_kid), 401); /* which key? */

    /* a bad file keeps the keys in use */
    write_text(path, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k9\",\"n\":\"AA\",\"e\":\"AQAB\"}]}");
    assert_int_equal(kill(p.pid, SIGHUP), 0);
    char *log = NULL;
    for (int i = 0; i < 250 && !(log && strstr(log, "auth keys not reloaded")); i++) {
        free(log);
        srt_sleep_ms(20);
        size_t len = 0;
        log = read_text(p.log_path, &len);
    }
    assert_non_null(log);
    assert_non_null(strstr(log, "auth keys not reloaded"));
    free(log);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", t2), 200);

    /* k1 retired */
    snprintf(text, sizeof text, "{\"keys\":[%s]}", k2);
    write_text(path, text);
    assert_int_equal(kill(p.pid, SIGHUP), 0);
    wait_stream_status(p.port, t1, 401);
    assert_int_equal(stream_with_bearer(p.port, "/sse?room=a", t2), 200);
    srt_check_stop(&p);
    unlink(path);
    free(k1), free(k2), free(t1), free(t2), free(t2_as_k1), free(no_kid);
}

/* ---- the admin surface (issue #17) ----------------------------------------- */

/* GET path with an optional Bearer token (NULL: none): the status. */
static int get_status(int port, const char *path, const char *bearer_tok) {
    char h[4096];
    snprintf(h, sizeof h, "Authorization: Bearer %s", bearer_tok ? bearer_tok : "");
    const char *hdrs[] = {bearer_tok ? h : NULL, NULL};
    srt_response r;
    assert_int_equal(srt_http_request(port, "GET", path, hdrs, NULL, &r), 0);
    int status = r.status;
    if (status == 401) assert_non_null(srt_response_header(&r, "WWW-Authenticate"));
    if (status == 401 || status == 403) assert_null(strstr(r.body, "user:alice"));
    srt_response_free(&r);
    return status;
}

/* GET path with a Bearer token refused 401: whether the answer's error
 * says text (the prefix and wording of each refusal, auth_token.c). */
static int refusal_says(int port, const char *path, const char *bearer_tok, const char *text) {
    char h[4096];
    snprintf(h, sizeof h, "Authorization: Bearer %s", bearer_tok);
    srt_response r;
    assert_int_equal(srt_http_request(port, "GET", path, (const char *[]){h, NULL}, NULL, &r), 0);
    int says = r.status == 401 && r.body && strstr(r.body, text) != NULL;
    if (!says) fprintf(stderr, "# %s: %d %s\n", path, r.status, r.body ? r.body : "");
    srt_response_free(&r);
    return says;
}

static void test_admin_surface(void **state) {
    (void)state;
    static const char *const admin[] = {"/rooms", "/stats", "/metrics"};
    srt_proc p;
    start_rs256(&p, NULL);
    char *alice = rs_tok("[\"user:alice\"]", NULL);
    srt_sse s;
    char h[4096];
    snprintf(h, sizeof h, "Authorization: Bearer %s", alice);
    assert_int_equal(open_stream(p.port, "/sse?room=user:alice", (const char *[]){h, NULL}, &s),
                     200);
    srt_check_room_members(p.port, "user:alice", 1, SRT_TIMEOUT_MS); /* with the admin key */
    char *not_admin = rs_token("{\"sub\":\"eve\",\"exp\":9999999999,\"admin\":\"yes\"}");
    char *is_admin = rs_token("{\"sub\":\"ops\",\"exp\":9999999999,\"admin\":true}");
    char *expired_admin = rs_token("{\"sub\":\"ops\",\"exp\":1000,\"admin\":true}");
    for (size_t i = 0; i < sizeof admin / sizeof admin[0]; i++) {
        assert_int_equal(get_status(p.port, admin[i], NULL), 401);
        assert_int_equal(get_status(p.port, admin[i], "wrong-key"), 401);
        assert_int_equal(get_status(p.port, admin[i], alice), 403); /* a valid token, no admin */
        assert_int_equal(get_status(p.port, admin[i], not_admin), 403); /* only true counts */
        assert_int_equal(get_status(p.port, admin[i], expired_admin), 401);
        assert_int_equal(get_status(p.port, admin[i], is_admin), 200);
        assert_int_equal(get_status(p.port, admin[i], ADMIN_KEY), 200);
    }
    /* what the refusals say: the admin prefix, and the same checks as a
     * stream's token (auth_token.c's one verification) */
    assert_true(refusal_says(p.port, "/stats", expired_admin, "admin endpoint: token expired: "));
    assert_true(refusal_says(p.port, "/stats", "wrong-key",
                             "admin endpoint: neither the admin key nor a valid token: "));
    char *expired_alice = rs_token(payload("[\"user:alice\"]", NULL, -3600));
    char *answer = NULL;
    assert_int_equal(post(p.port, "/publish", expired_alice, "{\"room\":\"user:alice\",\"data\":1}",
                          &answer),
                     401);
    assert_non_null(strstr(answer, "\"token expired: "));
    free(answer);
    answer = NULL;
    assert_int_equal(post(p.port, "/publish", "not-a-jwt", "{\"room\":\"user:alice\",\"data\":1}",
                          &answer),
                     401);
    assert_non_null(strstr(answer, "\"invalid token: "));
    free(answer);
    free(expired_alice);
    assert_int_equal(get_status(p.port, "/healthz", NULL), 200); /* probes stay open */
    assert_int_equal(get_status(p.port, "/readyz", NULL), 200);
    srt_sse_close(&s);
    srt_check_stop(&p);

    /* auth on and no admin key: only an admin JWT */
    const char *args[] = {"--auth-alg", "RS256", "--auth-public-key", RSA_PUB, NULL};
    srt_proc_opts o = {.args = args};
    assert_int_equal(srt_proc_start(&p, &o), 0);
    for (size_t i = 0; i < sizeof admin / sizeof admin[0]; i++) {
        assert_int_equal(get_status(p.port, admin[i], NULL), 401);
        assert_int_equal(get_status(p.port, admin[i], ADMIN_KEY), 401);
        assert_int_equal(get_status(p.port, admin[i], is_admin), 200);
    }
    srt_check_stop(&p);

    /* no auth, an admin key: the key alone guards them */
    srt_http_set_admin_key(NULL);
    assert_int_equal(srt_server_start(&p, "--admin-key", ADMIN_KEY, NULL), 0);
    assert_int_equal(get_status(p.port, "/stats", NULL), 401);
    assert_int_equal(get_status(p.port, "/stats", "wrong-key"), 401);
    assert_int_equal(get_status(p.port, "/stats", ADMIN_KEY), 200);
    srt_check_stop(&p);
    /* neither: open, as before */
    assert_int_equal(srt_server_start(&p, NULL), 0);
    assert_int_equal(get_status(p.port, "/stats", NULL), 200);
    srt_check_stop(&p);
    free(alice), free(not_admin), free(is_admin), free(expired_admin);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_streams, srt_teardown_servers),
        cmocka_unit_test_teardown(test_publish, srt_teardown_servers),
        cmocka_unit_test_teardown(test_publish_sequence_grant, srt_teardown_servers),
        cmocka_unit_test_teardown(test_tickets, srt_teardown_servers),
        cmocka_unit_test_teardown(test_ticket_flood, srt_teardown_servers),
        cmocka_unit_test_teardown(test_configuration, srt_teardown_servers),
        cmocka_unit_test_teardown(test_admin_surface, srt_teardown_servers),
        cmocka_unit_test_teardown(test_tickets_across_nodes, srt_teardown_servers),
        cmocka_unit_test_teardown(test_ticket_streams_carry_user, srt_teardown_servers),
        cmocka_unit_test_teardown(test_jwks_rotation, srt_teardown_servers),
    };
    return cmocka_run_group_tests(tests, auth_keys_setup, auth_keys_teardown);
}
