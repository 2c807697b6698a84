/* SPDX-License-Identifier: MIT */
/*
 * test_benchtls13.c: the bench's minimal TLS 1.3 client (bench/benchtls13.c,
 * sseload's HTTP/1.1 over TLS: churn's handshakes, S1-TLS's streams)
 * against a plain OpenSSL server over socketpairs, with an ECDSA P-256
 * certificate from a test CA (tests/support/srt_tls.c):
 *  - it completes TLS 1.3 with X25519 and TLS_AES_128_GCM_SHA256, data flows
 *    both ways (the server's NewSessionTickets before its data are skipped),
 *    the server's close_notify reads as the end, and a second handshake with
 *    the cached certificate key completes too;
 *  - the server's session tickets resume the following connections (the
 *    server checks the PSK binder), and a ticket from another server gets
 *    a full handshake;
 *  - a streams context reads a server's several records with one read()
 *    and hands each record's data in place, in order;
 *  - a TLS 1.2-only server fails the handshake (sseload then keeps OpenSSL);
 *  - a man in the middle holding the server's handshake traffic secret
 *    (from the server's key log) re-encrypts the server's flight with one
 *    bit flipped in the CertificateVerify signature, or in the Finished:
 *    the client must fail the handshake. Untouched, the same relay's
 *    handshake completes, so the relay itself is sound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchtls.h"
#include "benchtls13.h"
#include "srt_tls.h"

typedef struct fixture {
    srt_tls_ca ca;
    srt_tls_cert cert;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    if (!f || srt_tls_localhost_make(&f->ca, &f->cert, "benchtls13 test CA") != 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    srt_tls_ca_remove(&f->ca);
    free(f);
    return 0;
}

/* the server's handshake traffic secret, from its key log */
static uint8_t s_hs_secret[32];
static int have_secret;

static void keylog(const SSL *ssl, const char *line) {
    (void)ssl;
    static const char tag[] = "SERVER_HANDSHAKE_TRAFFIC_SECRET ";
    if (strncmp(line, tag, sizeof(tag) - 1) != 0) return;
    const char *hex = strchr(line + sizeof(tag) - 1, ' ');
    assert_non_null(hex);
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        assert_int_equal(sscanf(hex + 1 + 2 * i, "%2x", &v), 1);
        s_hs_secret[i] = (uint8_t)v;
    }
    have_secret = 1;
}

static SSL_CTX *server_ctx(const fixture *f) {
    SSL_CTX *ctx = srt_tls_server_ctx(&f->cert);
    assert_non_null(ctx);
    return ctx;
}

static SSL *server_new(const fixture *f, int fd, int max_version, SSL_CTX **out) {
    SSL_CTX *ctx = server_ctx(f);
    if (max_version) assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
    SSL_CTX_set_keylog_callback(ctx, keylog);
    SSL *s = SSL_new(ctx);
    assert_non_null(s);
    SSL_set_fd(s, fd);
    SSL_set_accept_state(s);
    *out = ctx;
    return s;
}

/* --- the relay: client <-> relay <-> server ---------------------------------- */

typedef struct relay {
    int cfd, sfd;       /* its ends of the client's and the server's socketpairs */
    int tamper;         /* the server handshake message type to flip a bit in, 0: none */
    uint8_t buf[65536]; /* the server's bytes not yet relayed */
    size_t len;
    uint64_t seq; /* server records under the handshake keys so far */
    int plain;    /* past the server Finished: pass the rest as it is */
} relay;

static void write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            poll(&(struct pollfd){.fd = fd, .events = POLLOUT}, 1, 100);
            continue;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Decrypts one record under the server's handshake keys, flips the last
 * byte of a message of type r->tamper in it, and encrypts it again. */
static void rewrite_record(relay *r, uint8_t *rec, size_t len) {
    uint8_t key[16], iv[12];
    btls13_expand_label(s_hs_secret, "key", NULL, 0, key, 16);
    btls13_expand_label(s_hs_secret, "iv", NULL, 0, iv, 12);
    for (int i = 0; i < 8; i++) iv[11 - i] ^= (uint8_t)(r->seq >> (8 * i));
    r->seq++;
    size_t cl = len - 5 - 16;
    uint8_t *body = rec + 5, *tag = rec + 5 + cl;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;
    assert_int_equal(EVP_DecryptInit_ex2(c, EVP_aes_128_gcm(), key, iv, NULL), 1);
    assert_int_equal(EVP_DecryptUpdate(c, NULL, &n, rec, 5), 1);
    assert_int_equal(EVP_DecryptUpdate(c, body, &n, body, (int)cl), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag), 1);
    assert_int_equal(EVP_DecryptFinal_ex(c, body + n, &n), 1);
    size_t pl = cl;
    while (pl > 0 && body[pl - 1] == 0) pl--;
    assert_true(pl > 0);
    assert_int_equal(body[pl - 1], 0x16); /* handshake messages */
    for (size_t off = 0; off + 4 <= pl - 1;) {
        size_t ml = 4 + ((size_t)body[off + 1] << 16 | (size_t)body[off + 2] << 8 | body[off + 3]);
        if (off + ml > pl - 1) break; /* continues in the next record */
        if (body[off] == r->tamper) body[off + ml - 1] ^= 1;
        if (body[off] == 20) r->plain = 1;
        off += ml;
    }
    assert_int_equal(EVP_EncryptInit_ex2(c, EVP_aes_128_gcm(), key, iv, NULL), 1);
    assert_int_equal(EVP_EncryptUpdate(c, NULL, &n, rec, 5), 1);
    assert_int_equal(EVP_EncryptUpdate(c, body, &n, body, (int)cl), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, body + n, &n), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
    EVP_CIPHER_CTX_free(c);
}

/* Moves what is there: the client's bytes as they are, the server's whole
 * records, the encrypted handshake ones rewritten. */
static void relay_step(relay *r) {
    uint8_t tmp[65536];
    ssize_t n = read(r->cfd, tmp, sizeof(tmp));
    if (n > 0) write_all(r->sfd, tmp, (size_t)n);
    n = read(r->sfd, r->buf + r->len, sizeof(r->buf) - r->len);
    if (n > 0) r->len += (size_t)n;
    size_t off = 0;
    while (r->len - off >= 5) {
        uint8_t *rec = r->buf + off;
        size_t rl = 5 + ((size_t)rec[3] << 8 | rec[4]);
        if (r->len - off < rl) break;
        if (rec[0] == 0x17 && !r->plain) {
            assert_true(have_secret);
            rewrite_record(r, rec, rl);
        }
        write_all(r->cfd, rec, rl);
        off += rl;
    }
    memmove(r->buf, r->buf + off, r->len - off);
    r->len -= off;
}

static int server_done; /* the server's handshake: 1 done, -1 failed, 0 not yet */

/* Runs the client's and the server's handshakes (through r when not NULL):
 * the client's result (1 done, -1 failed); the server's in server_done. */
static int handshake(btls13 *client, SSL *server, int cfd, int sfd, relay *r) {
    int cdone = 0, sdone = 0, crc = 0;
    for (int round = 0; round < 200 && !(cdone && (sdone || crc < 0)); round++) {
        if (!cdone) {
            crc = btls13_handshake(client);
            cdone = crc != 0;
        }
        if (r) relay_step(r);
        if (!sdone) {
            int rc = SSL_do_handshake(server);
            sdone = rc == 1;
            int e = SSL_get_error(server, rc);
            if (rc != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) sdone = -1;
        }
        if (r) relay_step(r);
        struct pollfd p[2] = {{.fd = cfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        poll(p, 2, cdone && crc < 0 ? 0 : 20);
    }
    assert_true(cdone);
    server_done = sdone;
    return crc;
}

/* btls13_read (buf set) or btls13_read_in_place (*p set) until it returns
 * something other than "try again". */
static ssize_t client_read_either(btls13 *client, int cfd, char *buf, size_t cap, const char **p) {
    ssize_t n = BENCHTLS_AGAIN;
    for (int i = 0; i < 100 && n == BENCHTLS_AGAIN; i++) {
        n = buf ? btls13_read(client, buf, cap) : btls13_read_in_place(client, p);
        if (n == BENCHTLS_AGAIN) poll(&(struct pollfd){.fd = cfd, .events = POLLIN}, 1, 100);
    }
    return n;
}

static ssize_t client_read(btls13 *client, int cfd, char *buf, size_t cap) {
    return client_read_either(client, cfd, buf, cap, NULL);
}

static ssize_t client_read_in_place(btls13 *client, int cfd, const char **p) {
    return client_read_either(client, cfd, NULL, 0, p);
}

/* The client sends a request, the server answers: the client reads the
 * answer (after the server's session tickets). */
static void request_answer(btls13 *client, SSL *server, int cfd, int sfd) {
    static const char req[] = "GET /sse HTTP/1.1\r\n\r\n";
    assert_int_equal(btls13_write(client, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    char buf[256];
    int got = -1;
    for (int i = 0; i < 100 && got <= 0; i++) {
        got = SSL_read(server, buf, sizeof(buf));
        if (got <= 0) poll(&(struct pollfd){.fd = sfd, .events = POLLIN}, 1, 100);
    }
    assert_int_equal(got, (int)sizeof(req) - 1);
    assert_memory_equal(buf, req, sizeof(req) - 1);
    assert_int_equal(SSL_write(server, "HTTP/1.1 200 OK", 15), 15);
    assert_int_equal(client_read(client, cfd, buf, sizeof(buf)), 15);
    assert_memory_equal(buf, "HTTP/1.1 200 OK", 15);
}

/* A test's client and server, their contexts and their socketpair, gone. */
static void pair_free(btls13 *client, btls13_ctx *cctx, SSL *server, SSL_CTX *sctx, int sv[2]) {
    btls13_free(client);
    btls13_ctx_free(cctx);
    SSL_free(server);
    SSL_CTX_free(sctx);
    close(sv[0]);
    close(sv[1]);
}

/* --- tests ------------------------------------------------------------------- */

static void handshake_and_data_against_openssl(void **state) {
    fixture *f = *state;
    for (int round = 0; round < 2; round++) { /* the second reuses the decoded key */
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        SSL_CTX *sctx;
        SSL *server = server_new(f, sv[1], 0, &sctx);
        static btls13_ctx *cctx;
        if (!cctx) cctx = btls13_ctx_new("http/1.1");
        assert_non_null(cctx);
        btls13 *client = btls13_new(cctx, sv[0], "localhost", NULL);
        assert_non_null(client);

        assert_int_equal(handshake(client, server, sv[0], sv[1], NULL), 1);
        assert_int_equal(server_done, 1);
        assert_string_equal(SSL_get_version(server), "TLSv1.3");
        assert_string_equal(SSL_get_cipher_name(server), "TLS_AES_128_GCM_SHA256");
        assert_int_equal(SSL_get_negotiated_group(server), NID_X25519);

        /* the server has sent its session tickets by now: they come first */
        request_answer(client, server, sv[0], sv[1]);
        /* close_notify: the end */
        SSL_shutdown(server);
        char buf[16];
        assert_int_equal(client_read(client, sv[0], buf, sizeof(buf)), 0);

        btls13_free(client);
        SSL_free(server);
        SSL_CTX_free(sctx);
        close(sv[0]);
        close(sv[1]);
        if (round == 1) {
            btls13_ctx_free(cctx);
            cctx = NULL;
        }
    }
}

/* A streams context (sseload's TLS streams) takes a server's write of
 * several records with one read(), and hands each record's data where it
 * was decrypted, in order, through the connection's own cipher context; a
 * default context's buffer holds one record, so the second is not whole
 * after the first read. */
static void reads_several_records_in_place(void **state) {
    fixture *f = *state;
    for (int streams = 0; streams < 2; streams++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        SSL_CTX *sctx;
        SSL *server = server_new(f, sv[1], 0, &sctx);
        btls13_ctx *cctx = btls13_ctx_new("http/1.1");
        assert_non_null(cctx);
        if (streams) btls13_ctx_for_streams(cctx);
        btls13 *client = btls13_new(cctx, sv[0], "localhost", NULL);
        assert_non_null(client);
        assert_int_equal(handshake(client, server, sv[0], sv[1], NULL), 1);
        request_answer(client, server, sv[0], sv[1]);
        assert_int_equal(btls13_has_record(client), 0);

        enum { RECORDS = 5, SIZE = 10000 };
        static char sent[RECORDS][SIZE];
        for (int round = 0; round < 3; round++) { /* the sequence numbers go on */
            for (int r = 0; r < RECORDS; r++) {
                for (int i = 0; i < SIZE; i++) sent[r][i] = (char)(round * 31 + r * 7 + i);
                assert_int_equal(SSL_write(server, sent[r], SIZE), SIZE); /* one record each */
            }
            for (int r = 0; r < RECORDS; r++) {
                const char *p = NULL;
                assert_int_equal(client_read_in_place(client, sv[0], &p), SIZE);
                assert_memory_equal(p, sent[r], SIZE);
                if (r == 0) /* the first read() brought the rest along, or not */
                    assert_int_equal(btls13_has_record(client), streams);
            }
            assert_int_equal(btls13_has_record(client), 0);
            const char *p;
            assert_int_equal(btls13_read_in_place(client, &p), BENCHTLS_AGAIN);
        }
        SSL_shutdown(server);
        const char *p;
        assert_int_equal(client_read_in_place(client, sv[0], &p), 0); /* close_notify */
        pair_free(client, cctx, server, sctx, sv);
    }
}

/* One connection to a server of sctx offering sess: whether it resumed
 * (client and server agree); sess becomes the newest ticket. */
static int resume_round(SSL_CTX *sctx, btls13_ctx *cctx, btls13_session **sess) {
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    SSL *server = SSL_new(sctx);
    assert_non_null(server);
    SSL_set_fd(server, sv[1]);
    SSL_set_accept_state(server);
    btls13 *client = btls13_new(cctx, sv[0], "localhost", *sess);
    assert_non_null(client);
    assert_int_equal(handshake(client, server, sv[0], sv[1], NULL), 1);
    assert_int_equal(server_done, 1);
    int resumed = btls13_resumed(client);
    assert_int_equal(SSL_session_reused(server), resumed);
    request_answer(client, server, sv[0], sv[1]);
    btls13_session *newest = btls13_session_take(client, *sess);
    assert_ptr_not_equal(newest, *sess); /* a new ticket came */
    *sess = newest;
    btls13_free(client);
    SSL_free(server);
    close(sv[0]);
    close(sv[1]);
    return resumed;
}

/* The server's ticket resumes the next connection (the server checks the
 * PSK binder), and so on; a ticket another server issued gets a full
 * handshake. */
static void resumes_with_the_servers_tickets(void **state) {
    fixture *f = *state;
    SSL_CTX *sctx = server_ctx(f), *other = server_ctx(f);
    btls13_ctx *cctx = btls13_ctx_new("http/1.1");
    assert_non_null(cctx);
    btls13_session *sess = NULL;
    assert_int_equal(resume_round(sctx, cctx, &sess), 0);
    assert_int_equal(resume_round(sctx, cctx, &sess), 1);
    assert_int_equal(resume_round(sctx, cctx, &sess), 1);
    assert_int_equal(resume_round(other, cctx, &sess), 0);
    btls13_session_free(sess);
    btls13_ctx_free(cctx);
    SSL_CTX_free(sctx);
    SSL_CTX_free(other);
}

static void tls12_server_fails(void **state) {
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    SSL_CTX *sctx;
    SSL *server = server_new(f, sv[1], TLS1_2_VERSION, &sctx);
    btls13_ctx *cctx = btls13_ctx_new("http/1.1");
    assert_non_null(cctx);
    btls13 *client = btls13_new(cctx, sv[0], "localhost", NULL);
    assert_non_null(client);
    assert_int_equal(handshake(client, server, sv[0], sv[1], NULL), -1);
    pair_free(client, cctx, server, sctx, sv);
}

/* The client's handshake result with the server's message `tamper` (0:
 * none) changed in transit by one bit. */
static int handshake_through_relay(const fixture *f, int tamper) {
    int cs[2], ss[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cs), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, ss), 0);
    relay *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->cfd = cs[1];
    r->sfd = ss[0];
    r->tamper = tamper;
    have_secret = 0;
    SSL_CTX *sctx;
    SSL *server = server_new(f, ss[1], 0, &sctx);
    btls13_ctx *cctx = btls13_ctx_new("http/1.1");
    assert_non_null(cctx);
    btls13 *client = btls13_new(cctx, cs[0], "localhost", NULL);
    assert_non_null(client);
    int rc = handshake(client, server, cs[0], ss[1], r);
    assert_true(r->plain); /* the relay saw (and passed) the server Finished */
    pair_free(client, cctx, server, sctx, cs);
    free(r);
    close(ss[0]);
    close(ss[1]);
    return rc;
}

static void relay_untouched_completes(void **state) {
    assert_int_equal(handshake_through_relay(*state, 0), 1);
    assert_int_equal(server_done, 1);
}

static void wrong_certificate_verify_signature_fails(void **state) {
    assert_int_equal(handshake_through_relay(*state, 15), -1);
}

static void wrong_server_finished_fails(void **state) {
    assert_int_equal(handshake_through_relay(*state, 20), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_and_data_against_openssl),
        cmocka_unit_test(reads_several_records_in_place),
        cmocka_unit_test(resumes_with_the_servers_tickets),
        cmocka_unit_test(tls12_server_fails),
        cmocka_unit_test(relay_untouched_completes),
        cmocka_unit_test(wrong_certificate_verify_signature_fails),
        cmocka_unit_test(wrong_server_finished_fails),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
