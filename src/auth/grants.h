/* SPDX-License-Identifier: MIT */
/*
 * grants.h: which rooms a token lets its holder subscribe to and publish
 * to, read from two claims of a verified JWT payload (by default "rooms"
 * and "publish"), plus the sequence names of the "sequences" claim, and
 * the test of a requested room (or sequence name) against them.
 *
 * A claim is an array of patterns (a single string counts as a one-item
 * array). A pattern is an exact room name, or a prefix followed by one
 * '*' at the very end: "chat:*" allows every room whose name starts with
 * "chat:", "*" alone allows every room. A '*' anywhere else makes the
 * claim invalid (room names may contain '*', so "a*" also allows the
 * room literally named "a*", as a prefix match). A missing claim grants
 * nothing. A request naming any room not allowed is refused as a whole
 * (the caller answers 403 and joins nothing).
 */
#ifndef SR_AUTH_GRANTS_H
#define SR_AUTH_GRANTS_H

#include <stddef.h>

#include "json/json.h"

#define SR_GRANT_MAX_PATTERN 1024u /* bytes in one pattern */
#define SR_GRANT_MAX_ENTRIES 4096u /* patterns in one list */

typedef struct sr_grant {
    char *text; /* the name, or the prefix without its '*'; NUL-terminated */
    size_t len;
    int prefix; /* 1: matches every room starting with text */
} sr_grant;

typedef struct sr_grant_list {
    sr_grant *items;
    size_t n;
    size_t cap;
} sr_grant_list;

void sr_grant_list_init(sr_grant_list *l);
void sr_grant_list_free(sr_grant_list *l);
/* Adds one pattern. 0, SR_EINVAL (empty, too long, control bytes, a '*'
 * before the end, or the list is full) or SR_ENOMEM. */
int sr_grant_list_add(sr_grant_list *l, const char *pattern, size_t len);
/* dst (initialised, may hold patterns) receives a copy of every pattern
 * of src. 0 or SR_ENOMEM / SR_EINVAL (dst would be over the cap). */
int sr_grant_list_copy(sr_grant_list *dst, const sr_grant_list *src);
/* Replaces l's content by the patterns of a claim value: NONE (absent)
 * gives an empty list; a string or an array of strings gives its
 * patterns. 0, SR_EINVAL (*why says what is wrong; l is left empty) or
 * SR_ENOMEM. why may be NULL. */
int sr_grant_list_from_json(sr_grant_list *l, const sr_json_value *claim, const char **why);
/* 1 when a pattern of l allows room[0..len), else 0 (always 0 for an
 * empty name). */
int sr_grant_list_allows(const sr_grant_list *l, const char *room, size_t len);
/* 1 when every one of the n rooms is allowed (n == 0: 1), else 0. */
int sr_grant_list_allows_all(const sr_grant_list *l, const char *const *rooms, const size_t *lens,
                             size_t n);

typedef enum sr_grant_kind {
    SR_GRANT_SUBSCRIBE = 0,
    SR_GRANT_PUBLISH = 1,
    SR_GRANT_SEQUENCE = 2 /* sequence names a publish may take ids from */
} sr_grant_kind;

/* The claim listing the sequence names (same patterns as rooms) a token's
 * holder may use with "sequence" in POST /publish. */
#define SR_GRANT_SEQUENCES_CLAIM "sequences"

typedef struct sr_grants {
    sr_grant_list subscribe;
    sr_grant_list publish;
    sr_grant_list sequences;
} sr_grants;

void sr_grants_init(sr_grants *g);
void sr_grants_free(sr_grants *g);
/* Reads the room claims from a verified payload object (sr_jwt_claims.root,
 * with the names from sr_jwt_verifier_rooms_claim / _publish_claim), and the
 * SR_GRANT_SEQUENCES_CLAIM claim.
 * 0, SR_EINVAL (a claim is malformed: refuse the token, 401) or
 * SR_ENOMEM; on failure g is left empty. */
int sr_grants_from_payload(sr_grants *g, const sr_json_value *payload, const char *rooms_claim,
                           const char *publish_claim, const char **why);
/* 1 when the token allows room[0..len) for kind, else 0. */
int sr_grants_allow(const sr_grants *g, sr_grant_kind kind, const char *room, size_t len);

#endif
