/* SPDX-License-Identifier: MIT */
/*
 * test_tls.c: the TLS engine (src/tls) without sockets: a client and a
 * server session pump their bytes to each other in memory, with a CA and
 * certificates made by the test (tests/support/srt_tls.c). The compact
 * record layer of finished TLS 1.3 server sessions is checked against a
 * plain OpenSSL client: data both ways, records of every size, a KeyUpdate
 * asked by the client, close_notify each way, a tampered record, a
 * flush of many small frames sealed as one record; the cipher suite the
 * server prefers; and what OpenSSL keeps allocated for an idle server
 * session (counted through CRYPTO_set_mem_functions).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "srt_tls.h"
#include "tls/tls.h"

/* --- OpenSSL's live heap bytes ------------------------------------------------ */

static size_t ossl_live; /* bytes OpenSSL holds now (requested sizes) */

typedef union ossl_head {
    size_t n;
    max_align_t align;
} ossl_head;

static void *ossl_malloc(size_t n, const char *file, int line) {
    (void)file;
    (void)line;
    ossl_head *h = malloc(sizeof(*h) + n);
    if (!h) return NULL;
    h->n = n;
    ossl_live += n;
    return h + 1;
}

static void ossl_free(void *p, const char *file, int line) {
    (void)file;
    (void)line;
    if (!p) return;
    ossl_head *h = (ossl_head *)p - 1;
    ossl_live -= h->n;
    free(h);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line) {
    if (!p) return ossl_malloc(n, file, line);
    ossl_head *h = (ossl_head *)p - 1;
    size_t old = h->n;
    ossl_head *g = realloc(h, sizeof(*g) + n);
    if (!g) return NULL;
    g->n = n;
    ossl_live = ossl_live - old + n;
    return g + 1;
}

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
    assert_int_equal(srt_tls_cert_make(&f->ca, "server", "localhost", "DNS:localhost,IP:127.0.0.1",
                                       true, &f->server),
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
    sr_tls_ctx *sc = server_ctx(f, false),
               *cc = client_ctx(f->ca.cert, "localhost", "\x02h2\x08http/1.1");
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
    sr_tls_ctx *sc = server_ctx(f, true),
               *cc = client_ctx(f->ca.cert, "localhost", "\x08http/1.1\x02h2");
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
    const char *cases[][2] = {{f->other.cert, "localhost"},
                              {f->ca.cert, "example.org"},
                              {f->ca.cert, "10.1.2.3"}};
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
    sr_tls_server_opts o = {.cert_file = f->server.cert,
                            .key_file = f->server.key,
                            .keep_tickets_of = sc};
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
    o = (sr_tls_server_opts){.cert_file = f->server.cert,
                             .key_file = f->server.key,
                             .min_version = "1.1"};
    assert_null(sr_tls_server_ctx(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "1.1"));
}

/* --- the compact record layer, against a plain OpenSSL client --------------- */

typedef struct raw_client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out; /* what the server sent / what the client sends */
} raw_client;

static void raw_open(raw_client *c, const char *ca, const char *cipher) {
    c->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(c->ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(c->ctx, ca, NULL), 1);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (cipher) assert_int_equal(SSL_CTX_set_ciphersuites(c->ctx, cipher), 1);
    c->ssl = SSL_new(c->ctx);
    c->in = BIO_new(BIO_s_mem());
    c->out = BIO_new(BIO_s_mem());
    SSL_set_bio(c->ssl, c->in, c->out);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    SSL_set_connect_state(c->ssl);
}

static void raw_close(raw_client *c) {
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
}

/* What the client wrote, into the server; the server's rc. */
static int raw_to_server(raw_client *c, sr_tls *sv, got *g) {
    char *p;
    long n = BIO_get_mem_data(c->out, &p);
    int rc = sr_tls_input(sv, p, (size_t)n, collect, g);
    (void)BIO_reset(c->out);
    return rc;
}

/* What the server holds, into the client (read later with SSL_read). */
static void server_to_raw(sr_tls *sv, raw_client *c) {
    const char *p;
    size_t n = sr_tls_pending(sv, &p);
    if (n) assert_int_equal(BIO_write(c->in, p, (int)n), (int)n);
    sr_tls_sent(sv, n);
}

/* Reads what the client can into g; SSL_get_error's answer at the end. */
static int raw_read(raw_client *c, got *g) {
    for (;;) {
        size_t n = 0;
        if (SSL_read_ex(c->ssl, g->buf + g->len, sizeof(g->buf) - g->len, &n) == 1) {
            g->len += n;
            continue;
        }
        return SSL_get_error(c->ssl, 0);
    }
}

static void raw_handshake(raw_client *c, sr_tls *sv, got *gs) {
    for (int i = 0; i < 10 && !SSL_is_init_finished(c->ssl); i++) {
        SSL_do_handshake(c->ssl);
        assert_int_equal(raw_to_server(c, sv, gs), 0);
        server_to_raw(sv, c);
    }
    assert_true(SSL_is_init_finished(c->ssl));
}

static void compact_record_layer(const char *cipher, void **state) {
    fixture *f = *state;
    f->gs.len = f->gc.len = 0;
    sr_tls_ctx *sc = server_ctx(f, false);
    sr_tls *sv = sr_tls_new(sc);
    raw_client c;
    raw_open(&c, f->ca.cert, cipher);
    raw_handshake(&c, sv, &f->gs);
    /* the client reads the server's tickets; the server is compact by now */
    assert_int_equal(raw_read(&c, &f->gc), SSL_ERROR_WANT_READ);
    assert_true(sr_tls_compact(sv));
    assert_true(sr_tls_handshake_done(sv));
    assert_string_equal(sr_tls_version(sv), "TLSv1.3");
    assert_false(sr_tls_resumed(sv));

    /* a request in, in two halves of a record */
    static const char req[] = "GET /sse?room=a HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(SSL_write(c.ssl, req, sizeof(req) - 1), (int)sizeof(req) - 1);
    char *p;
    long n = BIO_get_mem_data(c.out, &p);
    assert_int_equal(sr_tls_input(sv, p, 7, collect, &f->gs), 0);
    assert_int_equal(f->gs.len, 0);
    assert_int_equal(sr_tls_input(sv, p + 7, (size_t)n - 7, collect, &f->gs), 0);
    (void)BIO_reset(c.out);
    assert_int_equal(f->gs.len, sizeof(req) - 1);
    assert_memory_equal(f->gs.buf, req, sizeof(req) - 1);

    /* answers of every size: an empty iovec, one byte, records past 16 KiB */
    static char big[70000];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = (char)('A' + i % 23);
    struct iovec iov[4] = {{big, 0},
                           {big, 1},
                           {big + 1, 20000},
                           {big + 20001, sizeof(big) - 20001}};
    size_t sent = 0;
    while (sent < sizeof(big)) {
        struct iovec rest = {big + sent, sizeof(big) - sent};
        ssize_t taken = sent ? sr_tls_seal(sv, &rest, 1) : sr_tls_seal(sv, iov, 4);
        assert_true(taken > 0);
        sent += (size_t)taken;
        server_to_raw(sv, &c);
    }
    assert_int_equal(raw_read(&c, &f->gc), SSL_ERROR_WANT_READ);
    assert_int_equal(f->gc.len, sizeof(big));
    assert_memory_equal(f->gc.buf, big, sizeof(big));
    struct iovec none = {big, 0};
    assert_int_equal(sr_tls_seal(sv, &none, 1), 0);

    /* the client asks for a KeyUpdate: both sides move to their next keys */
    assert_int_equal(SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
    assert_int_equal(SSL_write(c.ssl, "after", 5), 5);
    f->gs.len = 0;
    assert_int_equal(raw_to_server(&c, sv, &f->gs), 0);
    assert_int_equal(f->gs.len, 5);
    assert_memory_equal(f->gs.buf, "after", 5);
    struct iovec reply = {(void *)"reply", 5};
    assert_int_equal(sr_tls_seal(sv, &reply, 1), 5);
    server_to_raw(sv, &c);
    f->gc.len = 0;
    assert_int_equal(raw_read(&c, &f->gc), SSL_ERROR_WANT_READ);
    assert_int_equal(f->gc.len, 5);
    assert_memory_equal(f->gc.buf, "reply", 5);
    assert_int_equal(SSL_write(c.ssl, "again", 5), 5); /* the client's next keys too */
    f->gs.len = 0;
    assert_int_equal(raw_to_server(&c, sv, &f->gs), 0);
    assert_memory_equal(f->gs.buf, "again", 5);

    /* close_notify each way */
    sr_tls_close(sv);
    server_to_raw(sv, &c);
    assert_int_equal(raw_read(&c, &f->gc), SSL_ERROR_ZERO_RETURN);
    SSL_shutdown(c.ssl);
    assert_int_equal(raw_to_server(&c, sv, &f->gs), 1);
    sr_tls_free(sv);
    raw_close(&c);

    /* a tampered record fails the session */
    sv = sr_tls_new(sc);
    raw_open(&c, f->ca.cert, cipher);
    raw_handshake(&c, sv, &f->gs);
    assert_int_equal(raw_read(&c, &f->gc), SSL_ERROR_WANT_READ);
    assert_true(sr_tls_compact(sv));
    assert_int_equal(SSL_write(c.ssl, "data", 4), 4);
    n = BIO_get_mem_data(c.out, &p);
    p[n - 1] ^= 1;
    assert_int_equal(sr_tls_input(sv, p, (size_t)n, collect, &f->gs), -1);
    assert_int_equal(sr_tls_failure(sv), SR_TLS_FAIL_PROTOCOL);
    assert_true(strlen(sr_tls_error(sv)) > 0);
    assert_int_equal(sr_tls_seal(sv, &reply, 1), -1);
    sr_tls_free(sv);
    raw_close(&c);
    sr_tls_ctx_unref(sc);
}

static void compact_aes128(void **state) {
    compact_record_layer("TLS_AES_128_GCM_SHA256", state);
}

static void compact_aes256(void **state) {
    compact_record_layer("TLS_AES_256_GCM_SHA384", state);
}

static void compact_chacha20(void **state) {
    compact_record_layer("TLS_CHACHA20_POLY1305_SHA256", state);
}

/* A stream's flush: many small frames become one record (one header, one
 * tag), which OpenSSL opens to the same bytes; two sessions sealing and
 * draining in turn on one thread (the output buffer goes back and forth
 * through the thread's spare) both stay intact. */
static void compact_gathers_frames_into_one_record(void **state) {
    fixture *f = *state;
    sr_tls_ctx *sc = server_ctx(f, false);
    sr_tls *sv[2];
    raw_client c[2];
    got *gc = calloc(2, sizeof(got));
    assert_non_null(gc);
    for (int k = 0; k < 2; k++) {
        f->gs.len = 0;
        sv[k] = sr_tls_new(sc);
        raw_open(&c[k], f->ca.cert, NULL);
        raw_handshake(&c[k], sv[k], &f->gs);
        assert_int_equal(raw_read(&c[k], &gc[k]), SSL_ERROR_WANT_READ);
        assert_true(sr_tls_compact(sv[k]));
    }
    static char frames[16000];
    for (size_t i = 0; i < sizeof(frames); i++) frames[i] = (char)('a' + i % 26);
    enum { N = 200 };
    struct iovec iov[N];
    size_t total = 0;
    for (int i = 0; i < N; i++) { /* 0 to 150 bytes, some empty */
        size_t len = (size_t)(i * 37) % 151;
        iov[i] = (struct iovec){frames + total, len};
        total += len;
    }
    assert_true(total <= 16384);
    /* session k seals the frames from the (50 k)th on */
    size_t want[2] = {0, 0}, plain[2] = {total, 0};
    for (int i = 50; i < N; i++) plain[1] += iov[i].iov_len;
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 2; k++) /* both seal before either drains */
            assert_int_equal(sr_tls_seal(sv[k], iov + 50 * k, N - 50 * (size_t)k),
                             (ssize_t)plain[k]);
        for (int k = 0; k < 2; k++) {
            const char *p;
            assert_int_equal(sr_tls_pending(sv[k], &p), plain[k] + 5 + 1 + 16); /* one record */
            server_to_raw(sv[k], &c[k]);
            assert_int_equal(raw_read(&c[k], &gc[k]), SSL_ERROR_WANT_READ);
            want[k] += plain[k];
            assert_int_equal(gc[k].len, want[k]);
            assert_memory_equal(gc[k].buf + want[k] - plain[k], (const char *)iov[50 * k].iov_base,
                                plain[k]);
        }
    }
    for (int k = 0; k < 2; k++) {
        sr_tls_free(sv[k]);
        raw_close(&c[k]);
    }
    free(gc);
    sr_tls_ctx_unref(sc);
}

/* A flush mixing long frames (broadcast batches, encrypted from where they
 * lie) with short ones (gathered), at odd lengths and across the 16 KiB
 * record boundaries: OpenSSL opens every record to the same bytes, on each
 * of the compact layer's ciphers, and a sealing past SR_TLS_SEAL_MAX takes
 * exactly that much. */
static void compact_seals_long_frames_in_place(const char *cipher, void **state) {
    fixture *f = *state;
    sr_tls_ctx *sc = server_ctx(f, false);
    raw_client c;
    got *gc = calloc(1, sizeof(got));
    assert_non_null(gc);
    f->gs.len = 0;
    sr_tls *sv = sr_tls_new(sc);
    raw_open(&c, f->ca.cert, cipher);
    raw_handshake(&c, sv, &f->gs);
    assert_int_equal(raw_read(&c, gc), SSL_ERROR_WANT_READ);
    assert_true(sr_tls_compact(sv));
    static char frames[120000];
    for (size_t i = 0; i < sizeof(frames); i++) frames[i] = (char)(i * 7 + i / 251);
    /* short, long, exactly the direct threshold and one under, a long one
     * over a record boundary, empty pieces, then past the sealing's limit */
    static const size_t lens[] = {3,   5000, 511, 512, 0,    12001, 17, 16384,
                                  100, 1,    0,   33,  9000, 40000, 7};
    enum { N = sizeof(lens) / sizeof(lens[0]) };
    struct iovec iov[N];
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        iov[i] = (struct iovec){frames + total, lens[i]};
        total += lens[i];
    }
    assert_true(total <= sizeof(frames) && total > 64 * 1024);
    size_t sent = 0;
    int i = 0;
    while (sent < total) { /* the caller's loop: what was taken is skipped */
        ssize_t n = sr_tls_seal(sv, iov + i, (size_t)(N - i));
        assert_true(n > 0 && n <= 64 * 1024);
        if (sent == 0) assert_int_equal(n, 64 * 1024); /* the first sealing is full */
        const char *p;
        size_t records = ((size_t)n + 16383) / 16384;
        assert_int_equal(sr_tls_pending(sv, &p), (size_t)n + records * (5 + 1 + 16));
        server_to_raw(sv, &c);
        assert_int_equal(raw_read(&c, gc), SSL_ERROR_WANT_READ);
        sent += (size_t)n;
        for (size_t left = (size_t)n; left;) { /* skip what was taken */
            size_t take = iov[i].iov_len < left ? iov[i].iov_len : left;
            iov[i].iov_base = (char *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            left -= take;
            if (!iov[i].iov_len) i++;
        }
    }
    assert_int_equal(gc->len, total);
    assert_memory_equal(gc->buf, frames, total);
    sr_tls_free(sv);
    raw_close(&c);
    free(gc);
    sr_tls_ctx_unref(sc);
}

static void compact_long_frames_aes128(void **state) {
    compact_seals_long_frames_in_place("TLS_AES_128_GCM_SHA256", state);
}

static void compact_long_frames_chacha20(void **state) {
    compact_seals_long_frames_in_place("TLS_CHACHA20_POLY1305_SHA256", state);
}

/* An idle TLS 1.3 server session keeps nothing of OpenSSL: its SSL object
 * (about 14.5 KB: the structure, cipher and digest contexts, session,
 * key shares, BIOs) goes once the handshake is over, and it holds no
 * cipher context either (about 1.1 KB for AES-GCM): the thread's one is
 * keyed per seal. */
static void idle_server_session_is_small(void **state) {
    fixture *f = *state;
    enum { N = 20 };
    sr_tls_ctx *sc = server_ctx(f, false),
               *cc = client_ctx(f->ca.cert, "localhost", "\x08http/1.1");
    sr_tls *sv[N], *cl[N];
    static const char req[] = "GET /sse?room=a HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
    for (int i = 0; i < N; i++) {
        sv[i] = sr_tls_new(sc);
        cl[i] = sr_tls_new(cc);
        assert_int_equal(sr_tls_start(cl[i]), 0);
        f->gs.len = f->gc.len = 0;
        assert_int_equal(converse(cl[i], sv[i], &f->gc, &f->gs), 0);
        struct iovec r = {(void *)req, sizeof(req) - 1}, h = {(void *)head, sizeof(head) - 1};
        assert_int_equal(sr_tls_seal(cl[i], &r, 1), (ssize_t)r.iov_len);
        assert_int_equal(converse(cl[i], sv[i], &f->gc, &f->gs), 0);
        assert_int_equal(sr_tls_seal(sv[i], &h, 1), (ssize_t)h.iov_len);
        assert_int_equal(converse(cl[i], sv[i], &f->gc, &f->gs), 0);
        assert_int_equal(f->gc.len, h.iov_len);
    }
    for (int i = 0; i < N; i++) sr_tls_free(cl[i]);
    size_t with = ossl_live;
    for (int i = 0; i < N; i++) sr_tls_free(sv[i]);
    size_t each = (with - ossl_live) / N;
    print_message("OpenSSL heap bytes per idle server session: %zu\n", each);
    assert_int_equal(each, 0);
    sr_tls_ctx_unref(sc);
    sr_tls_ctx_unref(cc);
}

/* The cost of sealing one SSE frame as one record on a compact session,
 * printed (ns per record; no timed assertion): a session holds its keys,
 * not a keyed cipher context, so each seal call sets its key schedule on
 * the thread's context. Every record must still open at the client. */
static void seal_cost_per_record(void **state) {
    fixture *f = *state;
    enum { RECORDS = 20000, FRAME = 128 };
    f->gs.len = f->gc.len = 0;
    sr_tls_ctx *sc = server_ctx(f, false);
    const char *suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"};
    for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
        sr_tls *sv = sr_tls_new(sc);
        raw_client c;
        raw_open(&c, f->ca.cert, suites[s]);
        raw_handshake(&c, sv, &f->gs);
        assert_int_equal(raw_read(&c, &f->gc), SSL_ERROR_WANT_READ);
        assert_true(sr_tls_compact(sv));
        char frame[FRAME];
        memset(frame, 'x', sizeof(frame));
        struct iovec v = {frame, sizeof(frame)};
        size_t cap = (size_t)RECORDS * (FRAME + 64), wire_len = 0;
        char *wire = malloc(cap);
        assert_non_null(wire);
        struct timespec t0, t1; /* CPU time: the machine may be busy */
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        for (int i = 0; i < RECORDS; i++) {
            assert_int_equal(sr_tls_seal(sv, &v, 1), FRAME);
            const char *p;
            size_t n = sr_tls_pending(sv, &p);
            assert_true(wire_len + n <= cap);
            memcpy(wire + wire_len, p, n); /* as a socket would take it */
            wire_len += n;
            sr_tls_sent(sv, n);
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
        print_message("%s: %.0f ns CPU per %d-byte record sealed\n", suites[s], ns / RECORDS,
                      FRAME);
        assert_int_equal(BIO_write(c.in, wire, (int)wire_len), (int)wire_len);
        free(wire);
        /* every record opens at the client, in order */
        size_t total = 0, got1 = 0;
        while (SSL_read_ex(c.ssl, f->gc.buf, FRAME, &got1) == 1) {
            assert_int_equal(got1, FRAME);
            assert_memory_equal(f->gc.buf, frame, FRAME);
            total += got1;
        }
        assert_int_equal(SSL_get_error(c.ssl, 0), SSL_ERROR_WANT_READ);
        assert_int_equal(total, (size_t)RECORDS * FRAME);
        sr_tls_free(sv);
        raw_close(&c);
    }
    sr_tls_ctx_unref(sc);
}

/* TLS 1.2 sessions keep their SSL object and work as before. */
static void tls12_stays_on_openssl(void **state) {
    fixture *f = *state;
    f->gs.len = f->gc.len = 0;
    sr_tls_ctx *sc = server_ctx(f, false);
    sr_tls *sv = sr_tls_new(sc);
    raw_client c;
    raw_open(&c, f->ca.cert, NULL);
    SSL_set_max_proto_version(c.ssl, TLS1_2_VERSION);
    raw_handshake(&c, sv, &f->gs);
    assert_int_equal(SSL_write(c.ssl, "hello", 5), 5);
    assert_int_equal(raw_to_server(&c, sv, &f->gs), 0);
    assert_memory_equal(f->gs.buf, "hello", 5);
    assert_false(sr_tls_compact(sv));
    assert_string_equal(sr_tls_version(sv), "TLSv1.2");
    struct iovec reply = {(void *)"reply", 5};
    assert_int_equal(sr_tls_seal(sv, &reply, 1), 5);
    server_to_raw(sv, &c);
    assert_int_equal(raw_read(&c, &f->gc), SSL_ERROR_WANT_READ);
    assert_memory_equal(f->gc.buf, "reply", 5);
    sr_tls_free(sv);
    raw_close(&c);
    sr_tls_ctx_unref(sc);
}

/* A whole sealing (SR_TLS_SEAL_MAX of plaintext, in four records) fits an
 * output buffer under glibc's default mmap threshold (128 KiB), on the
 * compact record layer and on OpenSSL's (TLS 1.2): doubling took it to
 * 128 KiB, a block malloc maps and unmaps at each flush of a stream that
 * fell behind (page faults, TLB flushes). */
static void a_sealing_stays_under_the_mmap_threshold(void **state) {
    fixture *f = *state;
    sr_tls_ctx *sc = server_ctx(f, false);
    static char plain[64 * 1024];
    for (size_t i = 0; i < sizeof(plain); i++) plain[i] = (char)('a' + i % 26);
    for (int tls12 = 0; tls12 < 2; tls12++) {
        f->gs.len = f->gc.len = 0;
        sr_tls *sv = sr_tls_new(sc);
        raw_client c;
        raw_open(&c, f->ca.cert, NULL);
        if (tls12) SSL_set_max_proto_version(c.ssl, TLS1_2_VERSION);
        raw_handshake(&c, sv, &f->gs);
        assert_int_equal(raw_read(&c, &f->gc), SSL_ERROR_WANT_READ);
        assert_int_equal(sr_tls_compact(sv), !tls12);
        struct iovec v = {plain, sizeof(plain)};
        assert_int_equal(sr_tls_seal(sv, &v, 1), (ssize_t)sizeof(plain));
        const char *p;
        size_t wire = sr_tls_pending(sv, &p);
        assert_true(wire > sizeof(plain));
        assert_true(sr_tls_out_capacity(sv) >= wire);
        assert_true(sr_tls_out_capacity(sv) < 128 * 1024);
        server_to_raw(sv, &c);
        assert_int_equal(sr_tls_out_capacity(sv), 0); /* drained: none held */
        f->gc.len = 0;
        assert_int_equal(raw_read(&c, &f->gc), SSL_ERROR_WANT_READ);
        assert_int_equal(f->gc.len, sizeof(plain));
        assert_memory_equal(f->gc.buf, plain, sizeof(plain));
        sr_tls_free(sv);
        raw_close(&c);
    }
    sr_tls_ctx_unref(sc);
}

/* The suite the server picks for a client offering `offer` (NULL: OpenSSL's
 * default list, AES-256-GCM first). */
static void suite_for(fixture *f, const char *offer, const char *want) {
    sr_tls_ctx *sc = server_ctx(f, false);
    sr_tls *sv = sr_tls_new(sc);
    raw_client c;
    raw_open(&c, f->ca.cert, offer);
    raw_handshake(&c, sv, &f->gs);
    assert_string_equal(SSL_CIPHER_get_name(SSL_get_current_cipher(c.ssl)), want);
    sr_tls_free(sv);
    raw_close(&c);
    sr_tls_ctx_unref(sc);
}

/* TLS 1.3 prefers AES-128-GCM/SHA-256 (cheaper handshakes and records than
 * OpenSSL's default AES-256-GCM/SHA-384), ChaCha20 for clients putting it
 * first, and takes what a client offers alone */
static void tls13_suite_choice(void **state) {
    fixture *f = *state;
    suite_for(f, NULL, "TLS_AES_128_GCM_SHA256");
    suite_for(f, "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256");
    suite_for(f, "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
              "TLS_CHACHA20_POLY1305_SHA256");
    suite_for(f, "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384");
}

int main(void) {
    /* before OpenSSL allocates anything */
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_alpn_and_data),
        cmocka_unit_test(alpn_h2_when_built_in),
        cmocka_unit_test(garbage_is_a_protocol_failure),
        cmocka_unit_test(wrong_ca_and_wrong_name_are_refused),
        cmocka_unit_test(resumption_with_tickets),
        cmocka_unit_test(bad_files_are_reported),
        cmocka_unit_test(compact_aes128),
        cmocka_unit_test(compact_aes256),
        cmocka_unit_test(compact_chacha20),
        cmocka_unit_test(compact_gathers_frames_into_one_record),
        cmocka_unit_test(compact_long_frames_aes128),
        cmocka_unit_test(compact_long_frames_chacha20),
        cmocka_unit_test(tls13_suite_choice),
        cmocka_unit_test(tls12_stays_on_openssl),
        cmocka_unit_test(a_sealing_stays_under_the_mmap_threshold),
        cmocka_unit_test(idle_server_session_is_small),
        cmocka_unit_test(seal_cost_per_record),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
