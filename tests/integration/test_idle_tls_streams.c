/* SPDX-License-Identifier: MIT */
/*
 * test_idle_tls_streams.c: TLS streams give up their libuv TCP handle
 * once idle (src/server/idle.c), as plain ones do, and keep every
 * behaviour; in process over real sockets, with and without writer
 * threads.
 *
 * The server runs on this thread's loop (turned with UV_RUN_NOWAIT while
 * the test waits) with a certificate of the test's CA
 * (tests/support/srt_tls.c); each client is an OpenSSL TLS 1.3 session on
 * memory BIOs over a socket read without blocking, so the test turns the
 * loop and every client's handshake, request and reads in one thread.
 * Asserted: once the streams are open no TCP handle is left on the loop;
 * a broadcast and the heartbeats reach every stream; a client's
 * close_notify alone ends its stream when the main loop owns the
 * transport (one thread: the idle set opens what it reads, a KeyUpdate
 * too), a client
 * closing its socket ends it in both modes (close hook, /stats); a
 * graceful shutdown ends the other streams and frees everything (ASan
 * checks the rest).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "srt_http.h"
#include "srt_redis.h"
#include "srt_tls.h"
#include "sserooms.h"

#define N_STREAMS 16

static uv_loop_t *loop;
static srt_tls_ca ca;
static srt_tls_cert server_cert;
static SSL_CTX *client_ctx;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- a TLS client driven by the test ------------------------------------ */

typedef struct client {
    int fd; /* -1 once closed by the test */
    SSL *ssl;
    BIO *in, *out; /* wire bytes from and to the server */
    bool sent_request;
    bool eof;  /* the server closed the connection */
    char *buf; /* plaintext received */
    size_t len, cap;
} client;

/* Sends what OpenSSL wrote (small: the socket takes it at once). */
static void client_flush(client *c) {
    char wire[16384];
    int n;
    while ((n = BIO_read(c->out, wire, sizeof(wire))) > 0) {
        ssize_t w = send(c->fd, wire, (size_t)n, MSG_NOSIGNAL);
        if (w != n) fail_msg("client send: %zd of %d (%s)", w, n, strerror(errno));
    }
}

static void client_append(client *c, const char *p, size_t n) {
    if (c->len + n + 1 > c->cap) {
        c->cap = (c->len + n + 1) * 2;
        c->buf = realloc(c->buf, c->cap);
        assert_non_null(c->buf);
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    c->buf[c->len] = '\0';
}

/* Reads what the socket holds, moves the handshake on, sends the request
 * once it is done and reads the plaintext there is. */
static void client_pump(client *c) {
    if (c->fd < 0 || c->eof) return;
    char wire[16384];
    for (;;) {
        ssize_t n = recv(c->fd, wire, sizeof(wire), MSG_DONTWAIT);
        if (n > 0) {
            assert_int_equal(BIO_write(c->in, wire, (int)n), (int)n);
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) c->eof = true;
        break;
    }
    if (!SSL_is_init_finished(c->ssl)) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            assert_int_equal(SSL_get_error(c->ssl, r), SSL_ERROR_WANT_READ);
            client_flush(c);
            return;
        }
    }
    if (!c->sent_request) {
        static const char req[] = "GET /sse?room=idle HTTP/1.1\r\nHost: localhost\r\n\r\n";
        size_t w = 0;
        assert_int_equal(SSL_write_ex(c->ssl, req, sizeof(req) - 1, &w), 1);
        c->sent_request = true;
    }
    client_flush(c);
    for (;;) {
        char plain[16384];
        size_t got = 0;
        if (SSL_read_ex(c->ssl, plain, sizeof(plain), &got) == 1) {
            client_append(c, plain, got);
            continue;
        }
        int e = SSL_get_error(c->ssl, 0);
        if (e != SSL_ERROR_ZERO_RETURN) assert_int_equal(e, SSL_ERROR_WANT_READ);
        break;
    }
    client_flush(c); /* a KeyUpdate's answer, say */
}

static client *client_open(int port) {
    client *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    srt_conn conn;
    assert_int_equal(srt_conn_open(&conn, port, SRT_TIMEOUT_MS), 0);
    c->fd = conn.fd; /* the socket alone: the rest of srt_conn is unused */
    srt_buf_free(&conn.in);
    c->ssl = SSL_new(client_ctx);
    c->in = BIO_new(BIO_s_mem());
    c->out = BIO_new(BIO_s_mem());
    assert_true(c->ssl && c->in && c->out);
    SSL_set_bio(c->ssl, c->in, c->out);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    SSL_set_connect_state(c->ssl);
    client_pump(c); /* the ClientHello */
    return c;
}

/* The client's close_notify, its socket left open. */
static void client_close_notify(client *c) {
    SSL_shutdown(c->ssl);
    client_flush(c);
}

static void client_close_socket(client *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

static void client_free(client *c) {
    client_close_socket(c);
    SSL_free(c->ssl); /* and both BIOs */
    free(c->buf);
    free(c);
}

/* Turns the loop and pumps every client until pred(ud) holds. */
static int wait_for(client **cs, size_t n, int (*pred)(void *), void *ud, unsigned ms) {
    uint64_t end = now_ms() + ms;
    for (;;) {
        uv_run(loop, UV_RUN_NOWAIT);
        for (size_t i = 0; i < n; i++)
            if (cs[i]) client_pump(cs[i]);
        if (pred(ud)) return 1;
        if (now_ms() >= end) return 0;
        usleep(500);
    }
}

typedef struct want_text {
    client **cs;
    size_t n;
    const char *text;
    size_t from[N_STREAMS]; /* look past these many bytes of each client */
} want_text;

static int all_have(void *ud) {
    want_text *w = ud;
    for (size_t i = 0; i < w->n; i++) {
        const client *c = w->cs[i];
        if (!c) continue;
        if (!c->buf || c->len < w->from[i] || !strstr(c->buf + w->from[i], w->text)) return 0;
    }
    return 1;
}

/* Marks what every client received so far: all_have then looks after it. */
static void mark(want_text *w) {
    for (size_t i = 0; i < w->n; i++) w->from[i] = w->cs[i] ? w->cs[i]->len : 0;
}

static int all_ended(void *ud) {
    want_text *w = ud;
    for (size_t i = 0; i < w->n; i++)
        if (w->cs[i] && !w->cs[i]->eof) return 0;
    return 1;
}

/* --- the loop's TCP handles --------------------------------------------- */

static void count_tcp(uv_handle_t *h, void *arg) {
    if (h->type == UV_TCP && !uv_is_closing(h)) (*(int *)arg)++;
}

/* The listener's handle is one of them. */
static int tcp_handles(void) {
    int n = 0;
    uv_walk(loop, count_tcp, &n);
    return n;
}

/* --- the server ---------------------------------------------------------- */

typedef struct fixture {
    sr_server *srv;
    int closed; /* close hook calls */
    int done;   /* shutdown finished */
    int listeners;
} fixture;

static void on_close(void *ud, sr_conn *conn) {
    (void)conn;
    ((fixture *)ud)->closed++;
}

static fixture *start_server(unsigned threads) {
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->listeners = tcp_handles();
    sr_config cfg;
    sr_config_init(&cfg);
    cfg.port = 0;
    cfg.heartbeat_ms = 100;
    cfg.threads = threads;
    cfg.max_connections_per_addr = 0;
    cfg.tls_cert_file = server_cert.cert;
    cfg.tls_key_file = server_cert.key;
    assert_int_equal(sr_server_new(&f->srv, loop, &cfg), 0);
    assert_int_equal(sr_server_listen(f->srv), 0);
    f->listeners = tcp_handles() - f->listeners;
    sr_server_on_close(f->srv, on_close, f);
    return f;
}

static void on_shutdown(void *ud, sr_server *srv) {
    (void)srv;
    ((fixture *)ud)->done = 1;
}

static int shutdown_finished(void *ud) {
    return ((fixture *)ud)->done;
}

static uint64_t streams_open(const fixture *f) {
    sr_stats st;
    sr_server_stats(f->srv, &st);
    return st.streams;
}

typedef struct want_streams {
    fixture *f;
    uint64_t streams;
    int closed;
} want_streams;

static int streams_down_to(void *ud) {
    want_streams *w = ud;
    return streams_open(w->f) == w->streams && w->f->closed == w->closed;
}

/* --- tests ---------------------------------------------------------------- */

static void idle_tls_streams(unsigned threads) {
    fixture *f = start_server(threads);
    int port = sr_server_port(f->srv);
    client *cs[N_STREAMS];
    for (size_t i = 0; i < N_STREAMS; i++) cs[i] = client_open(port);
    want_text w = {.cs = cs, .n = N_STREAMS, .text = "\r\n\r\n"};
    assert_true(wait_for(cs, N_STREAMS, all_have, &w, 20000));
    assert_int_equal(streams_open(f), N_STREAMS);
    for (size_t i = 0; i < N_STREAMS; i++) assert_true(!strncmp(cs[i]->buf, "HTTP/1.1 200", 12));
    /* the last handles close in the turn after the last head went out */
    uv_run(loop, UV_RUN_NOWAIT);
    uv_run(loop, UV_RUN_NOWAIT);
    if (tcp_handles() != f->listeners)
        fail_msg("%d TCP handles on the loop for %d idle TLS streams (listeners: %d)",
                 tcp_handles() - f->listeners, N_STREAMS, f->listeners);

    /* a broadcast reaches every stream */
    const char *rooms[] = {"idle"};
    mark(&w);
    sr_message m = {.id = "7", .event = "e", .data = "{\"n\":7}", .data_len = SIZE_MAX};
    assert_int_equal(sr_broadcast(f->srv, rooms, 1, &m, NULL), N_STREAMS);
    w.text = "id: 7\nevent: e\ndata: {\"n\":7}\n\n";
    assert_true(wait_for(cs, N_STREAMS, all_have, &w, 20000));
    /* and so do the heartbeats */
    mark(&w);
    w.text = ": heartbeat\n\n";
    assert_true(wait_for(cs, N_STREAMS, all_have, &w, 20000));
    assert_int_equal(tcp_handles(), f->listeners);

    /* a quarter of the clients close their socket: noticed in both modes */
    size_t q = N_STREAMS / 4;
    for (size_t i = 0; i < q; i++) client_free(cs[i]), cs[i] = NULL;
    want_streams gone = {f, N_STREAMS - q, (int)q};
    assert_true(wait_for(cs, N_STREAMS, streams_down_to, &gone, 20000));
    size_t left = N_STREAMS - q;
    if (threads == 1) {
        /* a quarter send close_notify and keep their socket: the main loop
         * opens it and ends the stream (its socket closes: EOF) */
        for (size_t i = q; i < 2 * q; i++) client_close_notify(cs[i]);
        gone = (want_streams){f, N_STREAMS - 2 * q, (int)(2 * q)};
        assert_true(wait_for(cs, N_STREAMS, streams_down_to, &gone, 20000));
        want_text ended = {.cs = cs + q, .n = q};
        assert_true(wait_for(cs, N_STREAMS, all_ended, &ended, 20000));
        for (size_t i = q; i < 2 * q; i++) client_free(cs[i]), cs[i] = NULL;
        left -= q;
    }
    assert_int_equal(tcp_handles(), f->listeners);
    if (threads == 1) {
        /* a client asks for a KeyUpdate and sends a record under its next
         * keys: the idle set opens both (a record it could not open would
         * fail the stream) and the server's answer goes out, so what comes
         * next is sealed with the server's next keys */
        client *k = cs[2 * q];
        assert_int_equal(SSL_key_update(k->ssl, SSL_KEY_UPDATE_REQUESTED), 1);
        size_t wrote = 0;
        assert_int_equal(SSL_write_ex(k->ssl, "x", 1, &wrote), 1);
        client_flush(k);
    }
    /* the others still receive */
    mark(&w);
    m.id = "8";
    assert_int_equal(sr_broadcast(f->srv, rooms, 1, &m, NULL), (int)left);
    w.text = "id: 8\n";
    assert_true(wait_for(cs, N_STREAMS, all_have, &w, 20000));

    /* a graceful shutdown ends the others (EOF; a stream with nothing
     * queued is closed without a close_notify, as with a handle) */
    sr_server_shutdown(f->srv, on_shutdown, f);
    assert_true(wait_for(cs, N_STREAMS, shutdown_finished, f, 20000));
    want_text ended = {.cs = cs, .n = N_STREAMS};
    assert_true(wait_for(cs, N_STREAMS, all_ended, &ended, 20000));
    sr_server_free(f->srv);
    free(f);
    for (size_t i = 0; i < N_STREAMS; i++)
        if (cs[i]) client_free(cs[i]);
}

static void test_idle_tls_streams_one_thread(void **state) {
    (void)state;
    idle_tls_streams(1);
}

static void test_idle_tls_streams_writer_threads(void **state) {
    (void)state;
    idle_tls_streams(2);
}

static int group_setup(void **state) {
    (void)state;
    if (srt_tls_ca_make(&ca, "sserooms test CA") != 0) return -1;
    if (srt_tls_cert_make(&ca, "server", "localhost", "DNS:localhost,IP:127.0.0.1", true,
                          &server_cert) != 0)
        return -1;
    client_ctx = SSL_CTX_new(TLS_client_method());
    if (!client_ctx) return -1;
    SSL_CTX_set_min_proto_version(client_ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(client_ctx, ca.cert, NULL) != 1) return -1;
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    SSL_CTX_free(client_ctx);
    srt_tls_ca_remove(&ca);
    return 0;
}

int main(void) {
    uv_loop_t l;
    uv_loop_init(&l);
    loop = &l;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_tls_streams_one_thread),
        cmocka_unit_test(test_idle_tls_streams_writer_threads),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    /* every server was freed: nothing of theirs may stay on the loop */
    if (srt_uv_loop_drain_close(loop) != 0) {
        fprintf(stderr, "uv_loop_close: the loop still had handles after the tests\n");
        rc = 1;
    }
    return rc;
}
