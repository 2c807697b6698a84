/* SPDX-License-Identifier: MIT */
/*
 * srt_tls.h: certificates made at test time: a test CA and certificates it
 * signs (ECDSA P-256), written as PEM files into a fresh temporary
 * directory, made with OpenSSL's API (no openssl command needed).
 */
#ifndef SRT_TLS_H
#define SRT_TLS_H

#include <stdbool.h>

typedef struct srt_tls_ca {
    char dir[64];      /* the temporary directory holding everything */
    char cert[128];    /* the CA certificate (PEM): what clients trust */
    char key[128];
    int serial;
} srt_tls_ca;

typedef struct srt_tls_cert {
    char cert[128];    /* the leaf certificate (PEM) */
    char key[128];
} srt_tls_cert;

/* Makes a CA named cn in a new temporary directory. 0, or -1. */
int srt_tls_ca_make(srt_tls_ca *ca, const char *cn);
/* Makes a certificate signed by ca for cn, valid for the names in san
 * (OpenSSL syntax, "DNS:localhost,IP:127.0.0.1"); name picks its file
 * names in ca->dir. server: serverAuth usage, else clientAuth. 0, or -1. */
int srt_tls_cert_make(const srt_tls_ca *ca, const char *name, const char *cn, const char *san, bool server,
                      srt_tls_cert *out);
/* Removes the directory and everything in it. */
void srt_tls_ca_remove(srt_tls_ca *ca);

#endif
