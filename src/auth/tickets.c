/* SPDX-License-Identifier: MIT */
/*
 * tickets.c: the single-use subscribe ticket store (see tickets.h).
 *
 * Each ticket sits in two structures: a chained hash table of
 * power-of-two size keyed by its 8-byte id (bucket = sr_hash of the id),
 * and a doubly-linked list ordered by expiry time. Tickets are inserted
 * into the list from its tail, where the newest (latest-expiring) ones
 * are, so with one TTL for all insertion is O(1); the head is always the
 * ticket closest to expiry, which is what a sweep drops first.
 *
 * Subjects sit in a second chained table (power-of-two size, doubled when
 * it holds more entries than buckets), keyed by the caller's 64-bit
 * subject id: the count of the subject's live tickets and its token bucket
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

#define ID_BYTES 8u
#define SECRET_BYTES 16u
#define RAW_BYTES (ID_BYTES + SECRET_BYTES)
#define ISSUE_ATTEMPTS 4 /* fresh ids drawn before giving up on a collision */

typedef struct subject {
    uint64_t id;
    size_t live;          /* its tickets in the store */
    uint64_t milli;       /* token bucket, in thousandths of a ticket */
    uint64_t refilled_ms; /* when milli was last brought up to date */
    struct subject *next;
} subject;

typedef struct ticket {
    uint64_t id;
    subject *subj;
    size_t room_bytes;
    unsigned char secret[SECRET_BYTES];
    uint64_t expires_ms;
    sr_grant_list rooms;
    struct ticket *hnext; /* bucket chain */
    struct ticket *prev;  /* expiry list */
    struct ticket *next;
} ticket;

struct sr_ticket_store {
    ticket **buckets;
    size_t mask;
    size_t capacity;
    size_t live;
    ticket *head; /* soonest to expire */
    ticket *tail;
    subject **subjects;
    size_t subj_cap; /* buckets (power of two), 0 before the first */
    size_t subj_len;
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
    case SR_TICKET_EQUOTA: return "too many live tickets for this subject: redeem or let some expire";
    case SR_TICKET_EFULL: return "the ticket store is full: try again later";
    default: return "unknown ticket error";
    }
}

sr_ticket_store *sr_ticket_store_new(size_t capacity) {
    if (capacity == 0)
        capacity = SR_TICKET_DEFAULT_CAPACITY;
    if (capacity > SR_TICKET_MAX_CAPACITY)
        capacity = SR_TICKET_MAX_CAPACITY;
    size_t nbuckets = 16;
    while (nbuckets < capacity)
        nbuckets *= 2;
    sr_ticket_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->buckets = calloc(nbuckets, sizeof *s->buckets);
    if (!s->buckets) {
        free(s);
        return NULL;
    }
    s->mask = nbuckets - 1;
    s->capacity = capacity;
    s->stats.capacity = capacity;
    s->limits.max_room_bytes = SR_TICKET_DEFAULT_ROOM_BYTES;
    return s;
}

void sr_ticket_store_set_limits(sr_ticket_store *s, const sr_ticket_limits *limits) {
    if (!s || !limits)
        return;
    s->limits = *limits;
    if (!s->limits.max_room_bytes)
        s->limits.max_room_bytes = SR_TICKET_DEFAULT_ROOM_BYTES;
    if (s->limits.rate_per_s && !s->limits.burst)
        s->limits.burst = s->limits.rate_per_s > UINT32_MAX / 2 ? UINT32_MAX
                                                                 : 2 * s->limits.rate_per_s;
}

/* --- subjects ------------------------------------------------------------ */

static size_t subject_bucket(const sr_ticket_store *s, uint64_t id) {
    return (size_t)(sr_hash(&id, sizeof id) & (s->subj_cap - 1));
}

/* Doubles the subject table (or makes the first one); -1 when out of
 * memory, the table then unchanged. */
static int subjects_grow(sr_ticket_store *s) {
    size_t cap = s->subj_cap ? s->subj_cap * 2 : 64;
    subject **b = calloc(cap, sizeof *b);
    if (!b)
        return -1;
    for (size_t i = 0; i < s->subj_cap; i++) {
        for (subject *e = s->subjects[i], *next; e; e = next) {
            next = e->next;
            size_t k = (size_t)(sr_hash(&e->id, sizeof e->id) & (cap - 1));
            e->next = b[k];
            b[k] = e;
        }
    }
    free(s->subjects);
    s->subjects = b;
    s->subj_cap = cap;
    return 0;
}

/* The subject `id`, made (with a full bucket) when new; NULL when out of
 * memory. */
static subject *subject_get(sr_ticket_store *s, uint64_t id, uint64_t now_ms) {
    if (s->subj_cap) {
        for (subject *e = s->subjects[subject_bucket(s, id)]; e; e = e->next)
            if (e->id == id)
                return e;
    }
    if ((!s->subj_cap || s->subj_len >= s->subj_cap) && subjects_grow(s) != 0 && !s->subj_cap)
        return NULL;
    subject *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->id = id;
    e->milli = (uint64_t)s->limits.burst * 1000u;
    e->refilled_ms = now_ms;
    size_t k = subject_bucket(s, id);
    e->next = s->subjects[k];
    s->subjects[k] = e;
    s->subj_len++;
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
    if (e->milli > full)
        e->milli = full;
    e->refilled_ms = now_ms;
}

/* Drops the subjects that hold no ticket and whose bucket is full. */
static void subjects_sweep(sr_ticket_store *s, uint64_t now_ms) {
    for (size_t i = 0; i < s->subj_cap; i++) {
        subject **link = &s->subjects[i];
        while (*link) {
            subject *e = *link;
            if (e->live == 0 && s->limits.rate_per_s)
                subject_refill(s, e, now_ms);
            if (e->live == 0 && (!s->limits.rate_per_s ||
                                 e->milli >= (uint64_t)s->limits.burst * 1000u)) {
                *link = e->next;
                free(e);
                s->subj_len--;
            } else {
                link = &e->next;
            }
        }
    }
}

static void ticket_destroy(ticket *t) {
    if (t->subj)
        t->subj->live--;
    OPENSSL_cleanse(t->secret, sizeof t->secret);
    sr_grant_list_free(&t->rooms);
    free(t);
}

void sr_ticket_store_free(sr_ticket_store *s) {
    if (!s)
        return;
    ticket *t = s->head;
    while (t) {
        ticket *next = t->next;
        ticket_destroy(t);
        t = next;
    }
    for (size_t i = 0; i < s->subj_cap; i++) {
        for (subject *e = s->subjects[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(s->subjects);
    free(s->buckets);
    free(s);
}

static size_t bucket_of(const sr_ticket_store *s, uint64_t id) {
    return (size_t)(sr_hash(&id, sizeof id) & s->mask);
}

static ticket *find(const sr_ticket_store *s, uint64_t id) {
    for (ticket *t = s->buckets[bucket_of(s, id)]; t; t = t->hnext)
        if (t->id == id)
            return t;
    return NULL;
}

/* Unlinks t from both structures (does not free it). */
static void unlink_ticket(sr_ticket_store *s, ticket *t) {
    ticket **pp = &s->buckets[bucket_of(s, t->id)];
    while (*pp != t)
        pp = &(*pp)->hnext;
    *pp = t->hnext;
    if (t->prev)
        t->prev->next = t->next;
    else
        s->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        s->tail = t->prev;
    s->live--;
    s->room_bytes -= t->room_bytes;
}

/* Links t into the hash table and, by expiry, into the list. */
static void link_ticket(sr_ticket_store *s, ticket *t) {
    size_t b = bucket_of(s, t->id);
    t->hnext = s->buckets[b];
    s->buckets[b] = t;
    ticket *after = s->tail;
    while (after && after->expires_ms > t->expires_ms)
        after = after->prev;
    t->prev = after;
    t->next = after ? after->next : s->head;
    if (t->next)
        t->next->prev = t;
    else
        s->tail = t;
    if (after)
        after->next = t;
    else
        s->head = t;
    s->live++;
    s->room_bytes += t->room_bytes;
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
    if (s)
        s->stats.expired += n;
    return n;
}

size_t sr_ticket_sweep(sr_ticket_store *s, uint64_t now_ms) {
    size_t n = sweep_expired(s, now_ms);
    if (s)
        subjects_sweep(s, now_ms);
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
    for (size_t i = 0; i < rooms->n; i++)
        n += rooms->items[i].len + 1;
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
    if (ttl_ms == 0)
        ttl_ms = SR_TICKET_DEFAULT_TTL_MS;
    if (now_ms > UINT64_MAX - ttl_ms)
        return SR_TICKET_EINVAL;
    sweep_expired(s, now_ms); /* subjects wait for sr_ticket_sweep: it walks them all */
    subject *e = subject_get(s, subject_id, now_ms);
    if (!e)
        return SR_TICKET_ENOMEM;
    size_t bytes = rooms_bytes(rooms);
    int refused = issue_refusal(s, e, bytes, now_ms);
    if (refused)
        return refused;

    ticket *t = calloc(1, sizeof *t);
    if (!t)
        return SR_TICKET_ENOMEM;
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

    t->subj = e;
    e->live++;
    if (s->limits.rate_per_s)
        e->milli -= 1000u;
    link_ticket(s, t);
    s->stats.issued++;
    return SR_TICKET_OK;
}

int sr_ticket_redeem(sr_ticket_store *s, const char *text, size_t len,
                     const char *const *rooms, const size_t *lens, size_t n, uint64_t now_ms,
                     sr_grant_list *granted) {
    if (!s)
        return SR_TICKET_EUNKNOWN;
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
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    *out = s->stats;
    out->live = s->live;
    out->subjects = s->subj_len;
    out->room_bytes = s->room_bytes;
}
