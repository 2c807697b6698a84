/* SPDX-License-Identifier: MIT */
/*
 * test_benchtls.c: the bench tools' TLS client context (bench/benchtls.c)
 * does no work a full handshake does not need (issue #12's handshake rate):
 * a benchtls client and a plain OpenSSL server handshake over a socketpair,
 * with a certificate from a CA the client does not know (made by the test,
 * tests/support/srt_tls.c), and the test looks at what the client did:
 *  - no chain was built or checked (the verify result is X509_V_OK, where
 *    OpenSSL's own check gives "unable to get local issuer certificate");
 *  - the server's EC key was decoded by OpenSSL's legacy EC code, not by
 *    3.0's decoders (the key belongs to no provider);
 *  - the ClientHello listed X25519 and P-256 (which a TLS 1.2 server with
 *    a P-256 certificate needs to see) and X25519 was used;
 *  - it also completes against a TLS 1.2-only server (nginx 1.22's default
 *    protocols).
 *  - data still flows both ways, through benchtls_read/benchtls_write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchtls.h"
#include "srt_tls.h"

typedef struct fixture {
    srt_tls_ca ca;
    srt_tls_cert cert;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    if (!f || srt_tls_localhost_make(&f->ca, &f->cert, "benchtls test CA") != 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    srt_tls_ca_remove(&f->ca);
    free(f);
    return 0;
}

static SSL_CTX *server_ctx(const fixture *f) {
    SSL_CTX *ctx = srt_tls_server_ctx(&f->cert);
    assert_non_null(ctx);
    return ctx;
}

/* Runs both handshakes over the nonblocking socketpair to the end. */
static void handshake(SSL *client, SSL *server, int cfd, int sfd) {
    int cdone = 0, sdone = 0;
    for (int round = 0; round < 200 && !(cdone && sdone); round++) {
        if (!cdone) {
            int rc = benchtls_handshake(client);
            assert_true(rc >= 0);
            cdone = rc == 1;
        }
        if (!sdone) {
            int rc = SSL_do_handshake(server);
            int e = SSL_get_error(server, rc);
            assert_true(rc == 1 || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
            sdone = rc == 1;
        }
        struct pollfd p[2] = {{.fd = cfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        poll(p, 2, 100);
    }
    assert_true(cdone && sdone);
}

static void full_handshake_does_only_what_it_needs(void **state) {
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    SSL_CTX *sctx = server_ctx(f);
    SSL *server = SSL_new(sctx);
    assert_non_null(server);
    SSL_set_fd(server, sv[1]);
    SSL_set_accept_state(server);
    SSL_CTX *cctx = benchtls_client_ctx("http/1.1", 0);
    assert_non_null(cctx);
    SSL *client = benchtls_new(cctx, sv[0], "localhost", NULL);
    assert_non_null(client);

    handshake(client, server, sv[0], sv[1]);

    /* the CA is unknown to the client: a chain check would have failed */
    assert_int_equal(SSL_get_verify_result(client), X509_V_OK);
    X509 *peer = SSL_get0_peer_certificate(client);
    assert_non_null(peer);
    EVP_PKEY *key = X509_get0_pubkey(peer);
    assert_non_null(key);
    assert_true(EVP_PKEY_is_a(key, "EC"));
    assert_null(EVP_PKEY_get0_provider(key)); /* decoded by the legacy EC code */
    /* the server sees the client's groups: X25519, then P-256 */
    assert_int_equal(SSL_get1_groups(server, NULL), 2);
    assert_int_equal(SSL_get_negotiated_group(client), NID_X25519);

    /* data both ways */
    char buf[64];
    assert_int_equal(benchtls_write(client, sv[0], "ping", 4), 4);
    int got = -1;
    for (int round = 0; round < 100 && got <= 0; round++) {
        got = SSL_read(server, buf, sizeof(buf));
        if (got <= 0) poll(&(struct pollfd){.fd = sv[1], .events = POLLIN}, 1, 100);
    }
    assert_int_equal(got, 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(SSL_write(server, "pong", 4), 4);
    ssize_t n = BENCHTLS_AGAIN;
    for (int round = 0; round < 100 && n == BENCHTLS_AGAIN; round++) {
        n = benchtls_read(client, sv[0], buf, sizeof(buf));
        if (n == BENCHTLS_AGAIN) poll(&(struct pollfd){.fd = sv[0], .events = POLLIN}, 1, 100);
    }
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "pong", 4);

    benchtls_free(client);
    SSL_free(server);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    close(sv[0]);
    close(sv[1]);
}

/* a TLS 1.2-only server with a P-256 certificate (nginx 1.22's default
 * protocols, as bench/suite.sh's nchan-tls runs it) */
static void tls12_server_with_p256_certificate(void **state) {
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    SSL_CTX *sctx = server_ctx(f);
    assert_int_equal(SSL_CTX_set_max_proto_version(sctx, TLS1_2_VERSION), 1);
    SSL *server = SSL_new(sctx);
    assert_non_null(server);
    SSL_set_fd(server, sv[1]);
    SSL_set_accept_state(server);
    SSL_CTX *cctx = benchtls_client_ctx("http/1.1", 0);
    assert_non_null(cctx);
    SSL *client = benchtls_new(cctx, sv[0], "localhost", NULL);
    assert_non_null(client);

    handshake(client, server, sv[0], sv[1]);
    assert_string_equal(SSL_get_version(client), "TLSv1.2");
    assert_int_equal(SSL_get_negotiated_group(client), NID_X25519);

    benchtls_free(client);
    SSL_free(server);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    close(sv[0]);
    close(sv[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_handshake_does_only_what_it_needs),
        cmocka_unit_test(tls12_server_with_p256_certificate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
