/* SPDX-License-Identifier: MIT */
/*
 * srt_tls.c: a test CA and the certificates it signs (see srt_tls.h). Keys
 * are ECDSA P-256 (EVP_EC_gen); certificates X.509 v3 with the usual
 * extensions, so OpenSSL's and curl's default verification accept them.
 */
#include "srt_tls.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static int add_ext(X509 *x, X509V3_CTX *v, int nid, const char *value) {
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v, nid, value);
    if (!e) return -1;
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* A certificate for key named cn, signed by issuer (NULL: self-signed). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       long serial, const char *san, int kind /* 0 CA, 1 server, 2 client */) {
    X509 *x = X509_new();
    if (!x) return NULL;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509V3_CTX v;
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, issuer ? issuer : x, x, NULL, NULL, 0);
    int bad = 0;
    if (kind == 0) {
        bad |= add_ext(x, &v, NID_basic_constraints, "critical,CA:TRUE");
        bad |= add_ext(x, &v, NID_key_usage, "critical,keyCertSign,cRLSign");
        bad |= add_ext(x, &v, NID_subject_key_identifier, "hash");
    } else {
        bad |= add_ext(x, &v, NID_basic_constraints, "CA:FALSE");
        bad |= add_ext(x, &v, NID_key_usage, "critical,digitalSignature");
        bad |= add_ext(x, &v, NID_ext_key_usage, kind == 1 ? "serverAuth" : "clientAuth");
        bad |= add_ext(x, &v, NID_subject_key_identifier, "hash");
        bad |= add_ext(x, &v, NID_authority_key_identifier, "keyid");
        if (san && *san) bad |= add_ext(x, &v, NID_subject_alt_name, san);
    }
    if (bad || !X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int write_pem(const char *path, X509 *x, EVP_PKEY *key) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int ok = x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok ? 0 : -1;
}

static EVP_PKEY *read_key(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

static X509 *read_cert(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return x;
}

int srt_tls_ca_make(srt_tls_ca *ca, const char *cn) {
    memset(ca, 0, sizeof(*ca));
    snprintf(ca->dir, sizeof(ca->dir), "/tmp/srt-tls-XXXXXX");
    if (!mkdtemp(ca->dir)) return -1;
    snprintf(ca->cert, sizeof(ca->cert), "%s/ca.pem", ca->dir);
    snprintf(ca->key, sizeof(ca->key), "%s/ca.key", ca->dir);
    ca->serial = 1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = key ? make_cert(key, cn, NULL, NULL, ca->serial, NULL, 0) : NULL;
    int rc = x && write_pem(ca->cert, x, NULL) == 0 && write_pem(ca->key, NULL, key) == 0 ? 0 : -1;
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int srt_tls_cert_make(const srt_tls_ca *ca, const char *name, const char *cn, const char *san,
                      bool server, srt_tls_cert *out) {
    snprintf(out->cert, sizeof(out->cert), "%s/%s.pem", ca->dir, name);
    snprintf(out->key, sizeof(out->key), "%s/%s.key", ca->dir, name);
    static long serial = 100;
    EVP_PKEY *ca_key = read_key(ca->key);
    X509 *ca_cert = read_cert(ca->cert);
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = ca_key && ca_cert && key
                  ? make_cert(key, cn, ca_cert, ca_key, serial++, san, server ? 1 : 2)
                  : NULL;
    int rc = x && write_pem(out->cert, x, NULL) == 0 && write_pem(out->key, NULL, key) == 0 ? 0
                                                                                            : -1;
    X509_free(x);
    EVP_PKEY_free(key);
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
    return rc;
}

void srt_tls_ca_remove(srt_tls_ca *ca) {
    if (!ca->dir[0]) return;
    DIR *d = opendir(ca->dir);
    if (d) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof(path), "%s/%s", ca->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(ca->dir);
    ca->dir[0] = 0;
}

/* --- client commands --------------------------------------------------------- */

static pid_t spawn(const char *const *argv, int in_fd, int out_fd) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (in_fd >= 0) dup2(in_fd, 0);
    else {
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) dup2(nul, 0);
    }
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
}

int srt_cmd_run(const char *const *argv, const char *stdin_text, int timeout_ms, char **out) {
    *out = NULL;
    char path[] = "/tmp/srt-cmd-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    int in[2] = {-1, -1};
    if (stdin_text && pipe(in) != 0) {
        close(fd);
        unlink(path);
        return -1;
    }
    pid_t pid = spawn(argv, in[0], fd);
    close(fd);
    if (in[0] >= 0) {
        close(in[0]);
        size_t len = strlen(stdin_text), off = 0;
        while (off < len) {
            ssize_t w = write(in[1], stdin_text + off, len - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
        close(in[1]);
    }
    int status = -1;
    for (int waited = 0; pid > 0; waited += 10) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (waited >= timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        usleep(10000);
    }
    *out = srt_file_read(path, NULL);
    unlink(path);
    if (!*out) *out = strdup("");
    return status;
}

pid_t srt_cmd_spawn(const char *const *argv, const char *out_path) {
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    pid_t pid = spawn(argv, -1, fd);
    close(fd);
    return pid;
}

void srt_cmd_stop(pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
}

char *srt_file_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    size_t r;
    while (p && (r = fread(p + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *q = realloc(p, cap * 2);
            if (!q) {
                free(p);
                p = NULL;
                break;
            }
            p = q;
            cap *= 2;
        }
    }
    fclose(f);
    if (!p) return NULL;
    p[n] = 0;
    if (len) *len = n;
    return p;
}

int srt_tls_localhost_make(srt_tls_ca *ca, srt_tls_cert *cert, const char *ca_name) {
    if (srt_tls_ca_make(ca, ca_name) != 0) return -1;
    return srt_tls_cert_make(ca, "server", "localhost", "DNS:localhost,IP:127.0.0.1", true, cert);
}

void *srt_tls_server_ctx(const srt_tls_cert *cert) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx && (SSL_CTX_use_certificate_chain_file(ctx, cert->cert) != 1 ||
                SSL_CTX_use_PrivateKey_file(ctx, cert->key, SSL_FILETYPE_PEM) != 1)) {
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}
