/* SPDX-License-Identifier: MIT */
/*
 * test_tls.c: the TLS engine (src/tls) without sockets: a client and a
 * server session pump their bytes to each other in memory, with a CA and
 * certificates made by the test (tests/support/srt_tls.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "srt_tls.h"
#include "tls/tls.h"

typedef struct got {
    char buf[300000];
    size_t len;
} got;

static int collect(void *ud, const char *p, size_t len) {
    got *g = ud;
    assert_true(g->len + len <= sizeof(g->buf));
    memcpy(g->buf + g->len, p, len);
    g->len += len;
    return 0;
}

/* Moves what `from` holds into `to`; returns to's sr_tls_input result. */
static int pump(sr_tls *from, sr_tls *to, got *g) {
    const char *p;
    size_t n = sr_tls_pending(from, &p);
    int rc = sr_tls_input(to, p, n, collect, g);
    sr_tls_sent(from, n);
    return rc;
}

/* Pumps both ways until neither has anything to send or one fails. */
static int converse(sr_tls *cl, sr_tls *sv, got *gc, got *gs) {
    const char *p;
    for (int i = 0; i < 20; i++) {
        if (!sr_tls_pending(cl, &p) && !sr_tls_pending(sv, &p)) return 0;
        int rc = pump(cl, sv, gs);
        if (rc != 0) return rc;
        rc = pump(sv, cl, gc);
        if (rc != 0) return rc;
    }
    return 0;
}

typedef struct fixture {
    srt_tls_ca ca;
    srt_tls_cert server;
    srt_tls_ca other; /* a CA nobody trusts */
    got gc, gs;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    assert_int_equal(srt_tls_ca_make(&f->ca, "sserooms test CA"), 0);
    assert_int_equal(srt_tls_cert_make(&f->ca, "server", "localhost", "DNS:localhost,IP:127.0.0.1", true,
                                       &f->server),
                     0);
    assert_int_equal(srt_tls_ca_make(&f->other, "another CA"), 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    srt_tls_ca_remove(&f->ca);
    srt_tls_ca_remove(&f->other);
    free(f);
    return 0;
}

static sr_tls_ctx *server_ctx(fixture *f, bool h2) {
    char err[256] = "";
    sr_tls_server_opts o = {.cert_file = f->server.cert, .key_file = f->server.key, .offer_h2 = h2};
    sr_tls_ctx *ctx = sr_tls_server_ctx(&o, err, sizeof(err));
    if (!ctx) fail_msg("%s", err);
    return ctx;
}

static sr_tls_ctx *client_ctx(const char *ca, const char *name, const char *alpn) {
    char err[256] = "";
    sr_tls_client_opts o = {.ca_file = ca, .server_name = name, .alpn = alpn};
    sr_tls_ctx *ctx = sr_tls_client_ctx(&o, err, sizeof(err));
    if (!ctx) fail_msg("%s", err);
    return ctx;
}

static void handshake_alpn_and_data(void **state) {
    fixture *f = *state;
    sr_tls_ctx *sc = server_ctx(f, false), *cc = client_ctx(f->ca.cert, "localhost", "\x02h2\x08http/1.1");
    sr_tls *sv = sr_tls_new(sc), *cl = sr_tls_new(cc);
    assert_int_equal(sr_tls_start(cl), 0);
    assert_int_equal(converse(cl, sv, &f->gc, &f->gs), 0);
    assert_true(sr_tls_handshake_done(sv));
    assert_true(sr_tls_handshake_done(cl));
    assert_string_equal(sr_tls_alpn(sv), "http/1.1"); /* h2 not built in: not chosen */
    assert_string_equal(sr_tls_version(sv), "TLSv1.3");

    /* many small frames and a big one, sealed by the server, opened by the client */
    static char big[100000];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = (char)('a' + i % 26);
    char small[50][32];
    struct iovec iov[51];
    size_t total = 0;
    for (int i = 0; i < 50; i++) {
        int n = snprintf(small[i], sizeof(small[i]), "data: %d\n\n", i);
        iov[i] = (struct iovec){small[i], (size_t)n};
        total += (size_t)n;
    }
    iov[50] = (struct iovec){big, sizeof(big)};
    total += sizeof(big);
    size_t sent = 0;
    int guard = 0;
    while (sent < total && guard++ < 100) { /* the caller's queue: drop what was taken */
        struct iovec rest[51];
        size_t n = 0, skip = sent;
        for (int i = 0; i < 51; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            rest[n++] = (struct iovec){(char *)iov[i].iov_base + skip, iov[i].iov_len - skip};
            skip = 0;
        }
        ssize_t taken = sr_tls_seal(sv, rest, n);
        assert_true(taken > 0);
        sent += (size_t)taken;
        assert_int_equal(pump(sv, cl, &f->gc), 0);
    }
    assert_int_equal(f->gc.len, total);
    size_t off = 0;
    for (int i = 0; i < 50; i++) {
        assert_memory_equal(f->gc.buf + off, small[i], iov[i].iov_len);
        off += iov[i].iov_len;
    }
    assert_memory_equal(f->gc.buf + off, big, sizeof(big));

    /* a drained session holds no output buffer */
    const char *p;
    assert_int_equal(sr_tls_pending(sv, &p), 0);

    /* close_notify ends the session cleanly */
    sr_tls_close(cl);
    assert_int_equal(pump(cl, sv, &f->gs), 1);
    sr_tls_free(sv);
    sr_tls_free(cl);
    sr_tls_ctx_unref(sc);
    sr_tls_ctx_unref(cc);
}

static void alpn_h2_when_built_in(void **state) {
    fixture *f = *state;
    sr_tls_ctx *sc = server_ctx(f, true), *cc = client_ctx(f->ca.cert, "localhost", "\x08http/1.1\x02h2");
    sr_tls *sv = sr_tls_new(sc), *cl = sr_tls_new(cc);
    assert_int_equal(sr_tls_start(cl), 0);
    assert_int_equal(converse(cl, sv, &f->gc, &f->gs), 0);
    assert_string_equal(sr_tls_alpn(sv), "h2"); /* the server's preference */
    sr_tls_free(sv);
    sr_tls_free(cl);
    sr_tls_ctx_unref(cc);
    /* a client offering neither goes on without ALPN */
    cc = client_ctx(f->ca.cert, "localhost", "\x06spdy/3");
    sv = sr_tls_new(sc);
    cl = sr_tls_new(cc);
    assert_int_equal(sr_tls_start(cl), 0);
    assert_int_equal(converse(cl, sv, &f->gc, &f->gs), 0);
    assert_true(sr_tls_handshake_done(sv));
    assert_string_equal(sr_tls_alpn(sv), "");
    sr_tls_free(sv);
    sr_tls_free(cl);
    sr_tls_ctx_unref(sc);
    sr_tls_ctx_unref(cc);
}

static void garbage_is_a_protocol_failure(void **state) {
    fixture *f = *state;
    sr_tls_ctx *sc = server_ctx(f, false);
    sr_tls *sv = sr_tls_new(sc);
    static const char req[] = "GET /sse?room=a HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(sr_tls_input(sv, req, sizeof(req) - 1, collect, &f->gs), -1);
    assert_int_equal(sr_tls_failure(sv), SR_TLS_FAIL_PROTOCOL);
    assert_true(strlen(sr_tls_error(sv)) > 0);
    assert_int_equal(f->gs.len, 0);
    assert_int_equal(sr_tls_input(sv, "x", 1, collect, &f->gs), -1); /* stays failed */
    /* nothing is sealed by a failed session */
    struct iovec one = {(void *)"data", 4};
    assert_int_equal(sr_tls_seal(sv, &one, 1), -1);
    sr_tls_free(sv);
    sr_tls_ctx_unref(sc);
}

static void wrong_ca_and_wrong_name_are_refused(void **state) {
    fixture *f = *state;
    sr_tls_ctx *sc = server_ctx(f, false);
    const char *cases[][2] = {{f->other.cert, "localhost"}, {f->ca.cert, "example.org"}, {f->ca.cert, "10.1.2.3"}};
    for (size_t i = 0; i < 3; i++) {
        sr_tls_ctx *cc = client_ctx(cases[i][0], cases[i][1], NULL);
        sr_tls *sv = sr_tls_new(sc), *cl = sr_tls_new(cc);
    assert_int_equal(sr_tls_start(cl), 0);
        assert_int_equal(converse(cl, sv, &f->gc, &f->gs), -1);
        assert_false(sr_tls_handshake_done(cl));
        assert_int_equal(sr_tls_failure(cl), SR_TLS_FAIL_CERT);
        assert_non_null(strstr(sr_tls_error(cl), "certificate verify failed"));
        sr_tls_free(sv);
        sr_tls_free(cl);
        sr_tls_ctx_unref(cc);
    }
    /* the IP address it names is accepted */
    sr_tls_ctx *cc = client_ctx(f->ca.cert, "127.0.0.1", NULL);
    sr_tls *sv = sr_tls_new(sc), *cl = sr_tls_new(cc);
    assert_int_equal(sr_tls_start(cl), 0);
    assert_int_equal(converse(cl, sv, &f->gc, &f->gs), 0);
    assert_true(sr_tls_handshake_done(cl));
    sr_tls_free(sv);
    sr_tls_free(cl);
    sr_tls_ctx_unref(cc);
    sr_tls_ctx_unref(sc);
}

/* A session resumes with its ticket, also on a context made by a reload. */
static void resumption_with_tickets(void **state) {
    fixture *f = *state;
    sr_tls_ctx *sc = server_ctx(f, false), *cc = client_ctx(f->ca.cert, "localhost", NULL);
    sr_tls *sv = sr_tls_new(sc), *cl = sr_tls_new(cc);
    assert_int_equal(sr_tls_start(cl), 0);
    assert_int_equal(converse(cl, sv, &f->gc, &f->gs), 0);
    assert_false(sr_tls_resumed(sv));
    void *session = sr_tls_get_session(cl);
    assert_non_null(session);
    /* a session that ends without close_notify is not resumed (OpenSSL
     * treats it as broken) */
    sr_tls_close(cl);
    sr_tls_free(sv);
    sr_tls_free(cl);

    char err[256];
    sr_tls_server_opts o = {.cert_file = f->server.cert, .key_file = f->server.key, .keep_tickets_of = sc};
    sr_tls_ctx *reloaded = sr_tls_server_ctx(&o, err, sizeof(err));
    assert_non_null(reloaded);
    sr_tls_ctx *both[2] = {sc, reloaded};
    for (int i = 0; i < 2; i++) {
        sv = sr_tls_new(both[i]);
        cl = sr_tls_new(cc);
        assert_int_equal(sr_tls_set_session(cl, session), 0);
        assert_int_equal(sr_tls_start(cl), 0);
        assert_int_equal(converse(cl, sv, &f->gc, &f->gs), 0);
        assert_true(sr_tls_handshake_done(sv));
        assert_true(sr_tls_resumed(sv));
        assert_true(sr_tls_resumed(cl));
        sr_tls_free(cl);
        sr_tls_free(sv);
    }
    sr_tls_session_free(session);
    sr_tls_ctx_unref(reloaded);
    sr_tls_ctx_unref(sc);
    sr_tls_ctx_unref(cc);
}

static void bad_files_are_reported(void **state) {
    fixture *f = *state;
    char err[256] = "";
    sr_tls_server_opts o = {.cert_file = "/nonexistent.pem", .key_file = f->server.key};
    assert_null(sr_tls_server_ctx(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot load the certificate /nonexistent.pem"));
    o = (sr_tls_server_opts){.cert_file = f->server.cert, .key_file = f->ca.key};
    assert_null(sr_tls_server_ctx(&o, err, sizeof(err)));
    if (!strstr(err, "does not match") && !strstr(err, "mismatch")) fail_msg("%s", err);
    o = (sr_tls_server_opts){.cert_file = f->server.cert, .key_file = f->server.key, .min_version = "1.1"};
    assert_null(sr_tls_server_ctx(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "1.1"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_alpn_and_data),
        cmocka_unit_test(alpn_h2_when_built_in),
        cmocka_unit_test(garbage_is_a_protocol_failure),
        cmocka_unit_test(wrong_ca_and_wrong_name_are_refused),
        cmocka_unit_test(resumption_with_tickets),
        cmocka_unit_test(bad_files_are_reported),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
