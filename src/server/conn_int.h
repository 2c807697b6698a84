/* SPDX-License-Identifier: MIT */
/*
 * conn_int.h: what the three files of a client connection share among
 * themselves and nobody else: conn.c (its life), conn_read.c (requests
 * in) and sendq.c (its send queue and writes). The rest of the server
 * uses the sr_conn_* calls of internal.h.
 */
#ifndef SR_SERVER_CONN_INT_H
#define SR_SERVER_CONN_INT_H

#include <stdint.h>

#include "server/internal.h"

/* (Re)starts the request / keep-alive timer of a connection that reads
 * requests: ms from now (0: not at all). */
void sr_conn_start_timer(sr_conn *c, uint32_t ms);

/* After a flush of a connection that reads requests: a backlog down to
 * half its limit reads on, and one whose answers are all out is idle from
 * now (its keep-alive timer starts). */
void sr_conn_http_output(sr_conn *c);

/* After a half-close: ends the connection once no request waits any more
 * (for the adapter, for its answers to drain, or for holes). */
void sr_conn_end_after_eof(sr_conn *c);

#endif
