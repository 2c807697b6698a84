/* SPDX-License-Identifier: MIT */
/*
 * routes_int.h: what routes.c (dispatch), respond.c (responses) and
 * publish.c (POST /publish) share among themselves. The responses every
 * endpoint writes are declared in internal.h (sr_routes_body,
 * sr_routes_json, sr_routes_error).
 */
#ifndef SR_SERVER_ROUTES_INT_H
#define SR_SERVER_ROUTES_INT_H

#include "server/internal.h"

/* POST /publish: authorizes, validates and publishes the body; answers
 * now, or later for a publish that waits for the adapter. */
void sr_publish_http(sr_conn *c);

/* OPTIONS: the CORS preflight's 204, with the lines of an allowed Origin. */
void sr_routes_preflight(sr_conn *c);

/* Appends the CORS lines for the current request's Origin to b. */
void sr_routes_cors_headers(sr_conn *c, sr_buf *b);

/* Whether the current request's connection stays open after its answer:
 * the client asked for keep-alive and the server is not shutting down. */
int sr_routes_keep_alive(sr_conn *c);

#endif
