/* SPDX-License-Identifier: MIT */
/*
 * tls_server.h: TLS for the server's clients (tls_server.c): the context
 * made from --tls-cert/--tls-key, reloaded on request (SIGHUP in the
 * command), the TLS transport of each accepted connection (transport.h),
 * and the handshake counters shown by /stats and /metrics.
 */
#ifndef SR_SERVER_TLS_SERVER_H
#define SR_SERVER_TLS_SERVER_H

#include <stdbool.h>

#include "server/internal.h"
#include "tls/tls.h"

/* True when the HTTP/2 layer is built in (h2_available.c): ALPN offers h2. */
bool sr_h2_available(void);

/* From the configuration: nothing when no certificate is set. */
int sr_tls_server_new(sr_server *srv, const sr_config *cfg, char *err, size_t errlen);
void sr_tls_server_free(sr_server *srv);
bool sr_tls_server_on(const sr_server *srv);
/* Checks the TLS settings as sr_server_new would (sr_config_check). */
int sr_tls_config_check(const sr_config *cfg, char *err, size_t errlen);
/* Gives an accepted connection its TLS transport. 0, or -1 (no memory). */
int sr_tls_server_accept(sr_conn *c);
/* conn_read.c: c's TLS handshake failed: why is an sr_tls_fail (timeout, eof),
 * or -1 for the engine's own reason. Counted once, logged at debug. */
void sr_tls_server_failed(sr_conn *c, int why);
/* True when c's handshake is done and ALPN chose h2 (conn_read.c then expects
 * the HTTP/2 preface, h2conn.c). */
bool sr_tls_conn_alpn_h2(const sr_conn *c);
/* True once c's handshake is done (always for plain TCP). */
bool sr_tls_conn_ready(const sr_conn *c);
/* Queues close_notify on c's TLS transport (if any) before a close. */
void sr_tls_conn_close_notify(sr_conn *c);
/* The encryption path in use: "none", "user" or "kernel". */
const char *sr_tls_server_path(const sr_server *srv);
void sr_tls_stats_json(sr_server *srv, sr_buf *b);
void sr_tls_metrics(sr_server *srv, sr_buf *b);

#endif
