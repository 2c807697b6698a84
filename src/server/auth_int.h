/* SPDX-License-Identifier: MIT */
/*
 * auth_int.h: what the three files of the server's authorization share
 * among themselves: the state (struct sr_auth, built by auth.c) and the
 * calls auth_token.c and auth_tickets.c make of each other. The rest of
 * the server uses the sr_auth_* calls of internal.h.
 */
#ifndef SR_SERVER_AUTH_INT_H
#define SR_SERVER_AUTH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "auth/grants.h"
#include "auth/jwks.h"
#include "auth/jwt.h"
#include "auth/signed.h"
#include "auth/tickets.h"
#include "server/internal.h"

struct sr_auth {
    sr_jwt_verifier *verifier; /* one key; NULL with a key set (jwks) */
    sr_jwks *jwks;             /* --auth-jwks: keys by kid, replaced on reload */
    char *jwks_path;
    sr_jwt_config base; /* what a reloaded key set is built with */
    char *base_issuer, *base_audience;
    sr_ticket_store *tickets;
    char *cookie;
    uint32_t ttl_ms;
    uv_timer_t sweep_timer;
    uv_timer_t expiry_timer; /* ends streams whose token ran out (revoke.c) */
    int timer_started;
    char *expiry_event;
    char *session_cookie; /* the cookie a redeemed ticket sets (docs/security.md) */
    unsigned char ticket_key[SR_SIGNED_KEY_LEN]; /* signs tickets and sessions */
    char instance[17];                           /* this process, in the tickets it issues (hex) */
    uint64_t fail_missing, fail_invalid, fail_expired, fail_forbidden, fail_ticket;
    uint64_t ended_expired, ended_disconnected;
    uint64_t ticket_replays;   /* refused: Redis says another redemption came first */
    uint64_t ticket_unchecked; /* refused 503: Redis could not say (fails closed) */
};

/* What a verified token says about its holder, for tickets and sessions. */
typedef struct tok_info {
    uint64_t subject; /* token_subject */
    int64_t exp_s;    /* "exp", 0 without */
    char sub[520];    /* "sub" decoded, "" without */
} tok_info;

/* The value of cookie `name` in the Cookie header, or NULL; *len its
 * length. */
const char *sr_auth_cookie_value(const sr_http_request *req, const char *name, size_t *len);

/* A token's "sub" as the stream's user for presence (malloc'd), or NULL:
 * none, or not a plain string of 1..256 bytes without control characters. */
char *sr_auth_sub_user(const char *sub);

/* Answers 403: `what` room "room". */
void sr_auth_refuse_room(sr_conn *c, const char *what, const char *room);

/* The Bearer token's grants and what it says of its holder (info may be
 * NULL); 0, or -1 after answering. */
int sr_auth_bearer_info(sr_conn *c, sr_grants *g, tok_info *info);

/* A valid session cookie covering every room: 0 (the stream is let in),
 * else -1 and nothing answered. */
int sr_auth_session_stream(sr_conn *c, const char **rooms, const size_t *lens, size_t n);

/* Redeems ?ticket= for rooms: 0 (let in), -1 (answered), 1 (waits for
 * its claim in Redis). */
int sr_auth_redeem_ticket(sr_conn *c, const char *ticket, const char **rooms, const size_t *lens,
                          size_t n);

#endif
