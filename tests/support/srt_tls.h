/* SPDX-License-Identifier: MIT */
/*
 * srt_tls.h: certificates made at test time: a test CA and certificates it
 * signs (ECDSA P-256), written as PEM files into a fresh temporary
 * directory, made with OpenSSL's API (no openssl command needed); and the
 * TLS clients of the integration tests (curl, openssl s_client) run as
 * child processes.
 */
#ifndef SRT_TLS_H
#define SRT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct srt_tls_ca {
    char dir[64];   /* the temporary directory holding everything */
    char cert[128]; /* the CA certificate (PEM): what clients trust */
    char key[128];
    int serial;
} srt_tls_ca;

typedef struct srt_tls_cert {
    char cert[128]; /* the leaf certificate (PEM) */
    char key[128];
} srt_tls_cert;

/* A test CA named ca_name and a "localhost" server certificate it signs
 * (SAN DNS:localhost, IP:127.0.0.1): what the tests that run an OpenSSL
 * server in process need. 0, or -1. Removed with srt_tls_ca_remove. */
int srt_tls_localhost_make(srt_tls_ca *ca, srt_tls_cert *cert, const char *ca_name);
/* An OpenSSL server context serving cert (an SSL_CTX *, as void * so that
 * this header needs no OpenSSL); NULL on error. */
void *srt_tls_server_ctx(const srt_tls_cert *cert);

/* Makes a CA named cn in a new temporary directory. 0, or -1. */
int srt_tls_ca_make(srt_tls_ca *ca, const char *cn);
/* Makes a certificate signed by ca for cn, valid for the names in san
 * (OpenSSL syntax, "DNS:localhost,IP:127.0.0.1"); name picks its file
 * names in ca->dir. server: serverAuth usage, else clientAuth. 0, or -1. */
int srt_tls_cert_make(const srt_tls_ca *ca, const char *name, const char *cn, const char *san,
                      bool server, srt_tls_cert *out);
/* Removes the directory and everything in it. */
void srt_tls_ca_remove(srt_tls_ca *ca);

/* TLS clients for the integration tests: curl and openssl s_client run as
 * child processes. srt_cmd_run runs argv (looked up in PATH) with
 * stdin_text on its stdin (NULL: /dev/null) and returns its exit status
 * (-1 when it could not run or timed out, then killed); *out gets stdout
 * and stderr together (malloc'd, NUL-terminated; the caller frees it). */
int srt_cmd_run(const char *const *argv, const char *stdin_text, int timeout_ms, char **out);
/* Starts argv in the background with stdout and stderr to out_path; the
 * pid, or -1. The child dies with the test (PR_SET_PDEATHSIG). */
pid_t srt_cmd_spawn(const char *const *argv, const char *out_path);
/* Stops a spawned child (SIGTERM, then reaps it). */
void srt_cmd_stop(pid_t pid);
/* The contents of path (malloc'd, NUL-terminated; NULL when unreadable). */
char *srt_file_read(const char *path, size_t *len);

#endif
