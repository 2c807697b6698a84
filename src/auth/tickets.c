/* SPDX-License-Identifier: MIT */
/*
 * tickets.c: the single-use subscribe ticket store (see tickets.h).
 *
 * Each ticket sits in two structures: a hash table (common/table.h)
 * keyed by its 8-byte id (hash = sr_hash of the id), and a doubly-linked
 * list ordered by expiry time. Tickets are inserted
 * into the list from its tail, where the newest (latest-expiring) ones
 * are, so with one TTL for all insertion is O(1); the head is always the
 * ticket closest to expiry, which is what a sweep drops first.
 *
 * Subjects sit in a second table, keyed by the caller's 64-bit subject
 * id: the count of the subject's live tickets and its token bucket
 * (milli-tickets, refilled by rate_per_s per 1000 ms up to burst). Each
 * ticket points at its subject, so removing a ticket (redeemed, swept)
 * decrements the count without a lookup. A subject is dropped by a sweep
 * once it holds no ticket and its bucket is full again, so the table only
 * holds subjects that are active.
 */
#include "auth/tickets.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/base64url.h"
#include "common/hash.h"
#include "common/table.h"

#define ID_BYTES 8u
#define SECRET_BYTES 16u
#define RAW_BYTES (ID_BYTES + SECRET_BYTES)
#define ISSUE_ATTEMPTS 4 /* fresh ids drawn before giving up on a collision */

typedef struct subject {
    uint64_t id;
    size_t live;          /* its tickets in the store */
    uint64_t milli;       /* token bucket, in thousandths of a ticket */
    uint64_t refilled_ms; /* when milli was last brought up to date */
} subject;

typedef struct ticket {
    uint64_t id;
    subject *subj;
    size_t room_bytes;
    unsigned char secret[SECRET_BYTES];
    uint64_t expires_ms;
    sr_grant_list rooms;
    struct ticket *prev; /* expiry list */
    struct ticket *next;
} ticket;

struct sr_ticket_store {
    sr_table tickets; /* of ticket, by id */
    size_t capacity;
    size_t live;
    ticket *head; /* soonest to expire */
    ticket *tail;
    sr_table subjects; /* of subject, by id */
    sr_ticket_limits limits;
    size_t room_bytes;
    sr_ticket_stats stats;
};

const char *sr_ticket_strerror(int code) {
    switch (code) {
    case SR_TICKET_OK: return "ok";
    case SR_TICKET_EUNKNOWN: return "unknown or already used ticket";
    case SR_TICKET_EEXPIRED: return "ticket expired";
    case SR_TICKET_EROOMS: return "ticket does not allow these rooms";
    case SR_TICKET_EINVAL: return "invalid ticket request";
    case SR_TICKET_ENOMEM: return "out of memory";
    case SR_TICKET_ERATE: return "too many tickets asked for this subject: slow down";
    case SR_TICKET_EQUOTA:
        return "too many live tickets for this subject: redeem or let some expire";
    case SR_TICKET_EFULL: return "the ticket store is full: try again later";
    default: return "unknown ticket error";
    }
}

sr_ticket_store *sr_ticket_store_new(size_t capacity) {
    if (capacity == 0) capacity = SR_TICKET_DEFAULT_CAPACITY;
    if (capacity > SR_TICKET_MAX_CAPACITY) capacity = SR_TICKET_MAX_CAPACITY;
    sr_ticket_store *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->capacity = capacity;
    s->stats.capacity = capacity;
    s->limits.max_room_bytes = SR_TICKET_DEFAULT_ROOM_BYTES;
    return s;
}

void sr_ticket_store_set_limits(sr_ticket_store *s, const sr_ticket_limits *limits) {
    if (!s || !limits) return;
    s->limits = *limits;
    if (!s->limits.max_room_bytes) s->limits.max_room_bytes = SR_TICKET_DEFAULT_ROOM_BYTES;
    if (s->limits.rate_per_s && !s->limits.burst)
        s->limits.burst = s->limits.rate_per_s > UINT32_MAX / 2 ? UINT32_MAX
                                                                : 2 * s->limits.rate_per_s;
}

/* --- subjects ------------------------------------------------------------ */

static uint64_t id_hash(uint64_t id) {
    return sr_hash(&id, sizeof id);
}

/* Tickets and subjects both start with their uint64_t id. */
static bool id_is(const void *item, const void *key) {
    return *(const uint64_t *)item == *(const uint64_t *)key;
}

/* The subject `id`, made (with a full bucket) when new; NULL when out of
 * memory. */
static subject *subject_get(sr_ticket_store *s, uint64_t id, uint64_t now_ms) {
    uint64_t h = id_hash(id);
    subject *e = sr_table_find(&s->subjects, h, id_is, &id);
    if (e) return e;
    e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->id = id;
    e->milli = (uint64_t)s->limits.burst * 1000u;
    e->refilled_ms = now_ms;
    if (sr_table_insert(&s->subjects, h, e) != 0) {
        free(e);
        return NULL;
    }
    return e;
}

/* Brings e's bucket up to now_ms: rate_per_s milli-tickets a millisecond,
 * up to burst tickets. */
static void subject_refill(const sr_ticket_store *s, subject *e, uint64_t now_ms) {
    uint64_t full = (uint64_t)s->limits.burst * 1000u;
    uint64_t rate = s->limits.rate_per_s;
    if (rate && now_ms > e->refilled_ms && e->milli < full) {
        uint64_t elapsed = now_ms - e->refilled_ms, need = full - e->milli;
        e->milli = elapsed > need / rate ? full : e->milli + elapsed * rate;
    }
    if (e->milli > full) e->milli = full;
    e->refilled_ms = now_ms;
}

/* Drops the subjects that hold no ticket and whose bucket is full. */
static void subjects_sweep(sr_ticket_store *s, uint64_t now_ms) {
    size_t pos = 0;
    for (subject *e; (e = sr_table_next(&s->subjects, &pos));) {
        if (e->live == 0 && s->limits.rate_per_s) subject_refill(s, e, now_ms);
        if (e->live == 0 &&
            (!s->limits.rate_per_s || e->milli >= (uint64_t)s->limits.burst * 1000u)) {
            sr_table_remove_item(&s->subjects, id_hash(e->id), e);
            free(e);
        }
    }
}

static void ticket_destroy(ticket *t) {
    if (t->subj) t->subj->live--;
    OPENSSL_cleanse(t->secret, sizeof t->secret);
    sr_grant_list_free(&t->rooms);
    free(t);
}

void sr_ticket_store_free(sr_ticket_store *s) {
    if (!s) return;
    ticket *t = s->head;
    while (t) {
        ticket *next = t->next;
        ticket_destroy(t);
        t = next;
    }
    size_t pos = 0;
    for (subject *e; (e = sr_table_next(&s->subjects, &pos));) free(e);
    sr_table_free(&s->subjects);
    sr_table_free(&s->tickets);
    free(s);
}

static ticket *find(const sr_ticket_store *s, uint64_t id) {
    return sr_table_find(&s->tickets, id_hash(id), id_is, &id);
}

/* Unlinks t from both structures (does not free it). */
static void unlink_ticket(sr_ticket_store *s, ticket *t) {
    sr_table_remove_item(&s->tickets, id_hash(t->id), t);
    if (t->prev) t->prev->next = t->next;
    else s->head = t->next;
    if (t->next) t->next->prev = t->prev;
    else s->tail = t->prev;
    s->live--;
    s->room_bytes -= t->room_bytes;
}

/* Links t into the hash table and, by expiry, into the list; -1 (and
 * nothing linked) when the table cannot grow. */
static int link_ticket(sr_ticket_store *s, ticket *t) {
    if (sr_table_insert(&s->tickets, id_hash(t->id), t) != 0) return -1;
    ticket *after = s->tail;
    while (after && after->expires_ms > t->expires_ms) after = after->prev;
    t->prev = after;
    t->next = after ? after->next : s->head;
    if (t->next) t->next->prev = t;
    else s->tail = t;
    if (after) after->next = t;
    else s->head = t;
    s->live++;
    s->room_bytes += t->room_bytes;
    return 0;
}

/* Drops every ticket expired at now_ms; returns how many. */
static size_t sweep_expired(sr_ticket_store *s, uint64_t now_ms) {
    size_t n = 0;
    while (s && s->head && s->head->expires_ms <= now_ms) {
        ticket *t = s->head;
        unlink_ticket(s, t);
        ticket_destroy(t);
        n++;
    }
    if (s) s->stats.expired += n;
    return n;
}

size_t sr_ticket_sweep(sr_ticket_store *s, uint64_t now_ms) {
    size_t n = sweep_expired(s, now_ms);
    if (s) subjects_sweep(s, now_ms);
    return n;
}

static uint64_t id_of(const unsigned char *raw) {
    uint64_t id;
    memcpy(&id, raw, sizeof id);
    return id;
}

/* Bytes a ticket's room list pins: the names and their slots. */
static size_t rooms_bytes(const sr_grant_list *rooms) {
    size_t n = rooms->n * sizeof(sr_grant);
    for (size_t i = 0; i < rooms->n; i++) n += rooms->items[i].len + 1;
    return n;
}

/* The refusals, checked before anything changes: 0 or a status. */
static int issue_refusal(sr_ticket_store *s, subject *e, size_t bytes, uint64_t now_ms) {
    if (s->limits.rate_per_s) {
        subject_refill(s, e, now_ms);
        if (e->milli < 1000u) {
            s->stats.rate_limited++;
            return SR_TICKET_ERATE;
        }
    }
    if (s->limits.per_subject && e->live >= s->limits.per_subject) {
        s->stats.subject_capped++;
        return SR_TICKET_EQUOTA;
    }
    if (s->live >= s->capacity || bytes > s->limits.max_room_bytes - s->room_bytes) {
        s->stats.full++;
        return SR_TICKET_EFULL;
    }
    return 0;
}

int sr_ticket_issue(sr_ticket_store *s, uint64_t subject_id, const sr_grant_list *rooms,
                    uint64_t ttl_ms, uint64_t now_ms, char out[SR_TICKET_LEN + 1]) {
    if (!s || !rooms || rooms->n == 0 || !out || ttl_ms > SR_TICKET_MAX_TTL_MS)
        return SR_TICKET_EINVAL;
    if (ttl_ms == 0) ttl_ms = SR_TICKET_DEFAULT_TTL_MS;
    if (now_ms > UINT64_MAX - ttl_ms) return SR_TICKET_EINVAL;
    sweep_expired(s, now_ms); /* subjects wait for sr_ticket_sweep: it walks them all */
    subject *e = subject_get(s, subject_id, now_ms);
    if (!e) return SR_TICKET_ENOMEM;
    size_t bytes = rooms_bytes(rooms);
    int refused = issue_refusal(s, e, bytes, now_ms);
    if (refused) return refused;

    ticket *t = calloc(1, sizeof *t);
    if (!t) return SR_TICKET_ENOMEM;
    sr_grant_list_init(&t->rooms);
    if (sr_grant_list_copy(&t->rooms, rooms) < 0) {
        ticket_destroy(t);
        return SR_TICKET_ENOMEM;
    }
    unsigned char raw[RAW_BYTES];
    int attempts = 0;
    do {
        if (++attempts > ISSUE_ATTEMPTS || sr_random_bytes(raw, sizeof raw) < 0) {
            OPENSSL_cleanse(raw, sizeof raw);
            ticket_destroy(t);
            return SR_TICKET_ENOMEM;
        }
    } while (find(s, id_of(raw)));
    t->id = id_of(raw);
    memcpy(t->secret, raw + ID_BYTES, SECRET_BYTES);
    t->expires_ms = now_ms + ttl_ms;
    t->room_bytes = bytes;
    sr_b64url_encode(raw, sizeof raw, out, SR_TICKET_LEN + 1);
    OPENSSL_cleanse(raw, sizeof raw);

    if (link_ticket(s, t) != 0) {
        ticket_destroy(t);
        return SR_TICKET_ENOMEM;
    }
    t->subj = e;
    e->live++;
    if (s->limits.rate_per_s) e->milli -= 1000u;
    s->stats.issued++;
    return SR_TICKET_OK;
}

int sr_ticket_redeem(sr_ticket_store *s, const char *text, size_t len, const char *const *rooms,
                     const size_t *lens, size_t n, uint64_t now_ms, sr_grant_list *granted) {
    if (!s) return SR_TICKET_EUNKNOWN;
    unsigned char raw[RAW_BYTES];
    ticket *t = NULL;
    if (text && len == SR_TICKET_LEN &&
        sr_b64url_decode(text, len, raw, sizeof raw) == (ssize_t)RAW_BYTES)
        t = find(s, id_of(raw));
    int match = t && CRYPTO_memcmp(t->secret, raw + ID_BYTES, SECRET_BYTES) == 0;
    OPENSSL_cleanse(raw, sizeof raw);
    if (!match) {
        s->stats.refused++;
        return SR_TICKET_EUNKNOWN;
    }
    unlink_ticket(s, t);
    int rc = SR_TICKET_OK;
    if (now_ms >= t->expires_ms) {
        s->stats.expired++;
        rc = SR_TICKET_EEXPIRED;
    } else if (n > 0 && (!rooms || !lens || !sr_grant_list_allows_all(&t->rooms, rooms, lens, n))) {
        rc = SR_TICKET_EROOMS;
    }
    if (rc == SR_TICKET_OK) {
        s->stats.redeemed++;
        if (granted) {
            sr_grant_list_free(granted);
            *granted = t->rooms;
            sr_grant_list_init(&t->rooms);
        }
    } else {
        s->stats.refused++;
    }
    ticket_destroy(t);
    return rc;
}

void sr_ticket_stats_get(const sr_ticket_store *s, sr_ticket_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!s) return;
    *out = s->stats;
    out->live = s->live;
    out->subjects = s->subjects.len;
    out->room_bytes = s->room_bytes;
}
