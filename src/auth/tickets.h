/* SPDX-License-Identifier: MIT */
/*
 * tickets.h: single-use subscribe tickets.
 *
 * Browsers' EventSource cannot send an Authorization header, and a
 * long-lived token in a URL ends up in logs. So a client that holds a
 * token asks for a ticket (POST /tickets), and puts the ticket in the
 * EventSource URL instead: it is random, bound to a list of room patterns,
 * valid for a short time (30 s by default) and good for one redemption.
 *
 * A ticket is 32 base64url characters of 24 random bytes: an 8-byte id
 * that locates it in a hash table (hashed with the process's SipHash key)
 * and a 16-byte secret compared with CRYPTO_memcmp, so response times can
 * only tell an attacker whether an id exists (ids are random too), never
 * how much of a secret was right.
 *
 * Each ticket is issued to a subject (an id the caller derives from the
 * token: its "sub", else the token itself), and the store never lets one
 * subject crowd out another (issue #18, finding 3): a subject may hold at
 * most per_subject live tickets and ask for at most rate_per_s a second
 * (a token bucket of burst tickets), and a full store refuses the issuer
 * (SR_TICKET_EFULL) instead of evicting anybody's ticket. The room names
 * all live tickets pin together are bounded too (max_room_bytes). Expired
 * tickets are swept on each issue and by sr_ticket_sweep, which also drops
 * subjects that hold nothing and whose bucket is full again. Not
 * thread-safe: use it from one thread (the loop). Times are milliseconds
 * on any monotonic clock (e.g. uv_now).
 */
#ifndef SR_AUTH_TICKETS_H
#define SR_AUTH_TICKETS_H

#include <stddef.h>
#include <stdint.h>

#include "auth/grants.h"

#define SR_TICKET_LEN 32u /* characters, without NUL */
#define SR_TICKET_DEFAULT_TTL_MS 30000u
#define SR_TICKET_MAX_TTL_MS (3600u * 1000u)
#define SR_TICKET_DEFAULT_CAPACITY 10000u
#define SR_TICKET_MAX_CAPACITY (1u << 20)
#define SR_TICKET_DEFAULT_ROOM_BYTES (16u << 20) /* room text of all live tickets */

typedef enum sr_ticket_status {
    SR_TICKET_OK = 0,
    SR_TICKET_EUNKNOWN = -1, /* malformed, never issued, already used, swept or evicted */
    SR_TICKET_EEXPIRED = -2, /* past its TTL (now used up) */
    SR_TICKET_EROOMS = -3,   /* a requested room is outside the bound list (now used up) */
    SR_TICKET_EINVAL = -4,   /* bad argument to issue (no rooms, TTL over the maximum) */
    SR_TICKET_ENOMEM = -5,   /* out of memory, or no randomness from the kernel */
    SR_TICKET_ERATE = -6,    /* the subject asks faster than rate_per_s */
    SR_TICKET_EQUOTA = -7,   /* the subject holds per_subject live tickets */
    SR_TICKET_EFULL = -8,    /* the store (or its room bytes) is full; nothing evicted */
} sr_ticket_status;

/* Per-subject limits; 0 turns one off. */
typedef struct sr_ticket_limits {
    size_t per_subject;    /* live tickets of one subject */
    uint32_t rate_per_s;   /* tickets issued to one subject per second... */
    uint32_t burst;        /* ...with up to this many at once (0: 2 s worth) */
    size_t max_room_bytes; /* room names of all live tickets (0: default) */
} sr_ticket_limits;

typedef struct sr_ticket_stats {
    uint64_t issued;
    uint64_t redeemed;       /* successful redemptions */
    uint64_t expired;        /* swept, or presented after their TTL */
    uint64_t refused;        /* redemptions refused: unknown, expired or wrong rooms */
    uint64_t rate_limited;   /* issues refused: SR_TICKET_ERATE */
    uint64_t subject_capped; /* issues refused: SR_TICKET_EQUOTA */
    uint64_t full;           /* issues refused: SR_TICKET_EFULL */
    size_t subjects;         /* subjects tracked now */
    size_t room_bytes;       /* room text pinned by live tickets */
    size_t live;             /* tickets held now */
    size_t capacity;
} sr_ticket_stats;

typedef struct sr_ticket_store sr_ticket_store;

/* capacity 0: SR_TICKET_DEFAULT_CAPACITY; more than SR_TICKET_MAX_CAPACITY
 * is clamped. NULL when out of memory. */
sr_ticket_store *sr_ticket_store_new(size_t capacity);
void sr_ticket_store_free(sr_ticket_store *s);

/* Sets the per-subject limits (a new store has none, and the default room
 * bytes). */
void sr_ticket_store_set_limits(sr_ticket_store *s, const sr_ticket_limits *limits);

/* Issues to `subject` a ticket bound to a copy of rooms (patterns, see
 * grants.h; at least one), valid while now_ms < issue time + ttl_ms (0:
 * 30 s). Writes the NUL-terminated ticket to out. SR_TICKET_OK,
 * SR_TICKET_EINVAL, SR_TICKET_ENOMEM, or a refusal that leaves every
 * ticket as it was: SR_TICKET_ERATE, SR_TICKET_EQUOTA, SR_TICKET_EFULL. */
int sr_ticket_issue(sr_ticket_store *s, uint64_t subject, const sr_grant_list *rooms,
                    uint64_t ttl_ms, uint64_t now_ms, char out[SR_TICKET_LEN + 1]);

/* Redeems ticket[0..len) for the n requested rooms. A ticket whose id and
 * secret match is used up by this call whatever the outcome; it succeeds
 * only within its TTL and when every requested room is allowed by its
 * list. On SR_TICKET_OK, when granted is not NULL (it must have been
 * initialised with sr_grant_list_init; what it held is freed), the bound
 * list is moved into *granted, for later joins; free it with
 * sr_grant_list_free. */
int sr_ticket_redeem(sr_ticket_store *s, const char *ticket, size_t len, const char *const *rooms,
                     const size_t *lens, size_t n, uint64_t now_ms, sr_grant_list *granted);

/* Drops every ticket expired at now_ms (returns how many), and the
 * subjects that hold no ticket and whose bucket is full again. */
size_t sr_ticket_sweep(sr_ticket_store *s, uint64_t now_ms);

void sr_ticket_stats_get(const sr_ticket_store *s, sr_ticket_stats *out);

/* A static description of an sr_ticket_status; never NULL. */
const char *sr_ticket_strerror(int code);

#endif
