/*
 * tickets.c: the single-use subscribe ticket store (see tickets.h).
 *
 * Each ticket sits in two structures: a chained hash table of
 * power-of-two size keyed by its 8-byte id (bucket = sr_hash of the id),
 * and a doubly-linked list ordered by expiry time. Tickets are inserted
 * into the list from its tail, where the newest (latest-expiring) ones
 * are, so with one TTL for all insertion is O(1); the head is always the
 * ticket closest to expiry, which is both what a sweep drops first and
 * what a full store evicts.
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

typedef struct ticket {
    uint64_t id;
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
    return s;
}

static void ticket_destroy(ticket *t) {
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
}

size_t sr_ticket_sweep(sr_ticket_store *s, uint64_t now_ms) {
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

static uint64_t id_of(const unsigned char *raw) {
    uint64_t id;
    memcpy(&id, raw, sizeof id);
    return id;
}

int sr_ticket_issue(sr_ticket_store *s, const sr_grant_list *rooms, uint64_t ttl_ms,
                    uint64_t now_ms, char out[SR_TICKET_LEN + 1]) {
    if (!s || !rooms || rooms->n == 0 || !out || ttl_ms > SR_TICKET_MAX_TTL_MS)
        return SR_TICKET_EINVAL;
    if (ttl_ms == 0)
        ttl_ms = SR_TICKET_DEFAULT_TTL_MS;
    if (now_ms > UINT64_MAX - ttl_ms)
        return SR_TICKET_EINVAL;
    sr_ticket_sweep(s, now_ms);

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
    sr_b64url_encode(raw, sizeof raw, out, SR_TICKET_LEN + 1);
    OPENSSL_cleanse(raw, sizeof raw);

    if (s->live >= s->capacity) {
        ticket *oldest = s->head;
        unlink_ticket(s, oldest);
        ticket_destroy(oldest);
        s->stats.evicted++;
    }
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
}
