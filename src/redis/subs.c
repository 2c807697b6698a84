/* SPDX-License-Identifier: MIT */
/*
 * subs.c: the subscription set of the subscriber connection (see subs.h).
 *
 * Channels live in the common hash table (common/table.h), keyed by
 * seeded SipHash: channel names come from room names that clients choose. A channel whose wanted
 * flag changes is put on the dirty list once; the end-of-turn flush walks that list, sends what
 * differs from `sent`, and forgets channels that are neither wanted nor subscribed. An entry is
 * only ever freed by the flush or by the reconnect reset, never while it sits on the dirty list.
 *
 * Confirmation and loss (for readiness and for streams that may have missed
 * messages): `live` is set by Redis's subscribe confirmation of the channel
 * on the current connection and cleared by its unsubscribe confirmation, a
 * forget or the connection's loss; n_pending counts channels wanted but not
 * live. `lost_ms` (wall clock) is set when a wanted channel stops being
 * live without being left (connection lost or an attempt failed, slot moved
 * away), or is wanted while the connection is down after it had been up or
 * an attempt failed; the confirmation that makes such a channel live again
 * is reported to the recovered hook with that time, once. `resync` marks
 * the channels wanted when the connection came up: until Redis confirmed
 * them all, the set is resyncing (publishes and readiness wait).
 */
#include "redis/subs.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/hash.h"
#include "common/table.h"
#include "loop/defer.h"
#include "redis/slot.h"
#include "sserooms.h"

typedef struct channel {
    uint64_t hash;
    unsigned char wanted, sent, dirty;
    unsigned char live;   /* Redis confirmed the subscription (this connection) */
    unsigned char resync; /* wanted when the connection came up, not confirmed yet */
    unsigned short slot;  /* sharded mode: the channel's keyslot */
    uint64_t lost_ms;     /* wall clock ms since it is missing; 0: not lost */
    size_t len;
    char name[];
} channel;

struct sr_rsubs {
    sr_rconn *conn;
    sr_defer *flush;
    sr_table channels; /* of channel */
    size_t n_wanted;
    size_t confirmed;
    size_t n_pending;   /* wanted and not live */
    size_t resync_left; /* channels with `resync` set */
    unsigned long commands;
    sr_rsubs_recovered_fn recovered;
    void *recovered_ud;
    channel **dirty;
    size_t n_dirty, cap_dirty;
    int sharded;
    void (*on_error)(void *ud, const char *err);
    void *error_ud;
};

/* The context of one sharded command: its slot, for an error reply. */
typedef struct slot_command {
    sr_rsubs *s;
    unsigned slot;
} slot_command;

static void flush(void *ud);

uint64_t sr_rsubs_wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

/* Every change of wanted or live goes through here: keeps n_pending. */
static void set_flags(sr_rsubs *s, channel *ch, int wanted, int live) {
    size_t was = ch->wanted && !ch->live;
    ch->wanted = (unsigned char)(wanted ? 1 : 0);
    ch->live = (unsigned char)(live ? 1 : 0);
    size_t now = ch->wanted && !ch->live;
    s->n_pending = s->n_pending + now - was;
    if (!ch->wanted) ch->lost_ms = 0; /* nobody left to tell */
    if (ch->resync && (ch->live || !ch->wanted)) {
        ch->resync = 0;
        s->resync_left--;
    }
}

static void clear_resync(sr_rsubs *s) {
    size_t pos = 0;
    for (channel *ch; (ch = sr_table_next(&s->channels, &pos));) ch->resync = 0;
    s->resync_left = 0;
}

static void mark_lost(channel *ch, uint64_t when) {
    if (ch->wanted && !ch->lost_ms) ch->lost_ms = when ? when : 1;
}

/* The connection is not up, and it has been up before or an attempt
 * failed: Redis is (or was) away, not just being reached for the first
 * time (a room joined then misses what other nodes publish meanwhile). */
static int down_after_up(const sr_rsubs *s) {
    return s->conn && sr_rconn_get_state(s->conn) != SR_RCONN_UP &&
           (sr_rconn_up_count(s->conn) > 0 || *sr_rconn_last_error(s->conn));
}

int sr_rsubs_new(sr_rsubs **out, uv_loop_t *loop, sr_rconn *conn) {
    *out = NULL;
    sr_rsubs *s = calloc(1, sizeof *s);
    if (!s) return SR_ENOMEM;
    s->conn = conn;
    s->flush = sr_defer_new(loop, flush, s);
    if (!s->flush) {
        free(s);
        return SR_ENOMEM;
    }
    *out = s;
    return 0;
}

void sr_rsubs_free(sr_rsubs *s) {
    if (!s) return;
    size_t pos = 0;
    for (channel *ch; (ch = sr_table_next(&s->channels, &pos));) free(ch);
    sr_table_free(&s->channels);
    free(s->dirty);
    sr_defer_free(s->flush);
    free(s);
}

typedef struct channel_key {
    const char *name;
    size_t len;
} channel_key;

static bool channel_is(const void *item, const void *key) {
    const channel *ch = item;
    const channel_key *k = key;
    return ch->len == k->len && memcmp(ch->name, k->name, k->len) == 0;
}

static channel *find(const sr_rsubs *s, const char *name, size_t len, uint64_t h) {
    channel_key k = {name, len};
    return sr_table_find(&s->channels, h, channel_is, &k);
}

/* Safe during a walk of the set (the table leaves a tombstone). */
static void unlink_channel(sr_rsubs *s, channel *target) {
    sr_table_remove_item(&s->channels, target->hash, target);
    free(target);
}

static int mark_dirty(sr_rsubs *s, channel *ch) {
    if (ch->dirty) return 0;
    if (s->n_dirty == s->cap_dirty) {
        size_t ncap = s->cap_dirty ? s->cap_dirty * 2 : 64;
        channel **n = realloc(s->dirty, ncap * sizeof *n);
        if (!n) return SR_ENOMEM;
        s->dirty = n;
        s->cap_dirty = ncap;
    }
    s->dirty[s->n_dirty++] = ch;
    ch->dirty = 1;
    sr_defer_arm(s->flush);
    return 0;
}

int sr_rsubs_set(sr_rsubs *s, const char *name, size_t len, int wanted) {
    uint64_t h = sr_hash(name, len);
    channel *ch = find(s, name, len, h);
    wanted = wanted ? 1 : 0;
    if (!ch) {
        if (!wanted) return 0; /* never subscribed: nothing to send */
        ch = calloc(1, sizeof *ch + len + 1);
        if (!ch) return SR_ENOMEM;
        ch->hash = h;
        ch->len = len;
        memcpy(ch->name, name, len);
        if (s->sharded) ch->slot = (unsigned short)sr_keyslot(name, len);
        if (sr_table_insert(&s->channels, h, ch) != 0) {
            free(ch);
            return SR_ENOMEM;
        }
    }
    if (ch->wanted == wanted) return 0;
    /* Reserve the dirty slot first so a failure leaves the state unchanged. */
    int rc = mark_dirty(s, ch);
    if (rc) {
        if (!ch->wanted && !ch->sent && !ch->dirty) unlink_channel(s, ch);
        return rc;
    }
    set_flags(s, ch, wanted, ch->live);
    if (wanted) s->n_wanted++;
    else s->n_wanted--;
    if (wanted && down_after_up(s)) mark_lost(ch, sr_rsubs_wall_ms());
    return 0;
}

int sr_rsubs_is_wanted(const sr_rsubs *s, const char *name, size_t len) {
    const channel *ch = find(s, name, len, sr_hash(name, len));
    return ch && ch->wanted;
}

void sr_rsubs_set_sharded(sr_rsubs *s, void (*on_error)(void *ud, const char *err), void *ud) {
    s->sharded = 1;
    s->on_error = on_error;
    s->error_ud = ud;
}

static void forget_entry(sr_rsubs *s, channel *ch) {
    ch->sent = 0;
    mark_lost(ch, sr_rsubs_wall_ms()); /* Redis dropped it: the slot moved */
    set_flags(s, ch, ch->wanted, 0);
    if (!ch->wanted && !ch->dirty) unlink_channel(s, ch);
}

void sr_rsubs_forget(sr_rsubs *s, const char *name, size_t len) {
    channel *ch = find(s, name, len, sr_hash(name, len));
    if (ch) forget_entry(s, ch);
}

static void forget_slot(sr_rsubs *s, unsigned slot) {
    size_t pos = 0;
    for (channel *ch; (ch = sr_table_next(&s->channels, &pos));)
        if (ch->slot == slot) forget_entry(s, ch);
}

void sr_rsubs_resync(sr_rsubs *s) {
    size_t pos = 0;
    for (channel *ch; (ch = sr_table_next(&s->channels, &pos));)
        if (ch->wanted && !ch->sent && mark_dirty(s, ch) != 0) return;
}

void sr_rsubs_each_wanted(sr_rsubs *s, void (*fn)(void *ud, const char *channel, size_t len),
                          void *ud) {
    size_t pos = 0;
    for (channel *ch; (ch = sr_table_next(&s->channels, &pos));)
        if (ch->wanted) fn(ud, ch->name, ch->len);
}

static void on_slot_command_done(void *ud, redisReply *reply, const char *err) {
    slot_command *cmd = ud;
    sr_rsubs *s = cmd->s;
    unsigned slot = cmd->slot;
    free(cmd);
    /* Without a reply the connection failed: its on_down resets all. */
    if (!err || !reply) return;
    forget_slot(s, slot);
    if (s->on_error) s->on_error(s->error_ud, err);
}

static void on_command_done(void *ud, redisReply *reply, const char *err) {
    sr_rsubs *s = ud;
    /* An error reply (an ACL refusal, say) leaves the server's state unlike
     * `sent`: start over on a fresh connection, which resubscribes. */
    if (err && reply) sr_rconn_drop(s->conn, err);
}

/* Sends `verb` for names[0..n) in batches. 0, or a negative code (then the
 * connection is dropped: what was sent is no longer known). */
typedef struct slotted {
    unsigned slot;
    const char *name;
    size_t len;
} slotted;

static int by_slot(const void *x, const void *y) {
    const slotted *a = x, *b = y;
    return a->slot < b->slot ? -1 : a->slot > b->slot;
}

/* Sharded: one command per slot (and per SR_RSUBS_BATCH channels). */
static int send_slot_batches(sr_rsubs *s, const char *verb, const char **names, const size_t *lens,
                             size_t n) {
    if (!n) return 0;
    slotted *v = malloc(n * sizeof *v);
    const char **run = malloc(n * sizeof *run);
    size_t *run_len = malloc(n * sizeof *run_len);
    int rc = v && run && run_len ? 0 : SR_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        v[i].slot = sr_keyslot(names[i], lens[i]);
        v[i].name = names[i];
        v[i].len = lens[i];
    }
    if (rc == 0) qsort(v, n, sizeof *v, by_slot);
    for (size_t i = 0; i < n && rc == 0;) {
        size_t k = 0;
        unsigned slot = v[i].slot;
        while (i < n && v[i].slot == slot && k < SR_RSUBS_BATCH) {
            run[k] = v[i].name;
            run_len[k++] = v[i++].len;
        }
        slot_command *cmd = malloc(sizeof *cmd);
        if (!cmd) {
            rc = SR_ENOMEM;
            break;
        }
        cmd->s = s;
        cmd->slot = slot;
        rc = sr_rconn_pubsub_command(s->conn, verb, k, run, run_len, on_slot_command_done, cmd);
        if (rc) free(cmd);
        else s->commands++;
    }
    free(v);
    free(run);
    free(run_len);
    return rc;
}

static int send_batches(sr_rsubs *s, const char *verb, const char **names, const size_t *lens,
                        size_t n) {
    if (s->sharded) return send_slot_batches(s, verb, names, lens, n);
    for (size_t i = 0; i < n; i += SR_RSUBS_BATCH) {
        size_t k = n - i < SR_RSUBS_BATCH ? n - i : SR_RSUBS_BATCH;
        int rc = sr_rconn_pubsub_command(s->conn, verb, k, names + i, lens + i, on_command_done, s);
        if (rc) return rc;
        s->commands++;
    }
    return 0;
}

static void flush(void *ud) {
    sr_rsubs *s = ud;
    size_t n = s->n_dirty;
    if (!n) return;
    int up = s->conn && sr_rconn_get_state(s->conn) == SR_RCONN_UP;
    const char **sub = NULL, **unsub = NULL;
    size_t *sub_len = NULL, *unsub_len = NULL, n_sub = 0, n_unsub = 0;
    int rc = 0;
    if (up) {
        sub = malloc(n * sizeof *sub);
        unsub = malloc(n * sizeof *unsub);
        sub_len = malloc(n * sizeof *sub_len);
        unsub_len = malloc(n * sizeof *unsub_len);
        if (!sub || !unsub || !sub_len || !unsub_len) rc = SR_ENOMEM;
    }
    for (size_t i = 0; i < n && up && rc == 0; i++) {
        channel *ch = s->dirty[i];
        if (ch->wanted && !ch->sent) {
            sub[n_sub] = ch->name;
            sub_len[n_sub++] = ch->len;
        } else if (!ch->wanted && ch->sent) {
            unsub[n_unsub] = ch->name;
            unsub_len[n_unsub++] = ch->len;
        }
    }
    if (up && rc == 0)
        rc = send_batches(s, s->sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE", unsub, unsub_len,
                          n_unsub);
    if (up && rc == 0)
        rc = send_batches(s, s->sharded ? "SSUBSCRIBE" : "SUBSCRIBE", sub, sub_len, n_sub);
    free(sub);
    free(unsub);
    free(sub_len);
    free(unsub_len);
    /* The dirty list is taken now: dropping the connection below calls
     * sr_rsubs_on_down, which must not see these entries twice. */
    s->n_dirty = 0;
    for (size_t i = 0; i < n; i++) {
        channel *ch = s->dirty[i];
        ch->dirty = 0;
        ch->sent = up && rc == 0 ? ch->wanted : 0;
        if (!ch->wanted && !ch->sent) unlink_channel(s, ch);
    }
    if (up && rc != 0) {
        /* Part of the batch may be queued: resynchronise from scratch. */
        sr_rconn_drop(s->conn, "could not queue SUBSCRIBE/UNSUBSCRIBE");
    }
}

void sr_rsubs_on_up(sr_rsubs *s) {
    s->confirmed = 0;
    clear_resync(s);
    size_t pos = 0;
    for (channel *ch; (ch = sr_table_next(&s->channels, &pos));) {
        ch->sent = 0;
        set_flags(s, ch, ch->wanted, 0);
        if (ch->wanted) {
            ch->resync = 1;
            s->resync_left++;
        }
        if (ch->wanted && mark_dirty(s, ch) != 0) {
            if (s->conn) sr_rconn_drop(s->conn, "out of memory resubscribing");
            return;
        }
    }
}

void sr_rsubs_on_down(sr_rsubs *s) {
    s->confirmed = 0;
    clear_resync(s);
    uint64_t now = sr_rsubs_wall_ms();
    size_t pos = 0;
    for (channel *ch; (ch = sr_table_next(&s->channels, &pos));) {
        ch->sent = 0;
        mark_lost(ch, now);
        set_flags(s, ch, ch->wanted, 0);
        if (!ch->wanted && !ch->dirty) unlink_channel(s, ch);
    }
}

void sr_rsubs_on_push(sr_rsubs *s, const redisReply *push) {
    if (push->type != REDIS_REPLY_ARRAY || push->elements < 3) return;
    const redisReply *kind = push->element[0], *name = push->element[1], *count = push->element[2];
    if (kind->type != REDIS_REPLY_STRING || count->type != REDIS_REPLY_INTEGER) return;
    int sub = (kind->len == 9 && memcmp(kind->str, "subscribe", 9) == 0) ||
              (kind->len == 10 && memcmp(kind->str, "ssubscribe", 10) == 0);
    int unsub = (kind->len == 11 && memcmp(kind->str, "unsubscribe", 11) == 0) ||
                (kind->len == 12 && memcmp(kind->str, "sunsubscribe", 12) == 0);
    if (!sub && !unsub) return;
    s->confirmed = count->integer > 0 ? (size_t)count->integer : 0;
    channel *ch = name->type == REDIS_REPLY_STRING
                      ? find(s, name->str, (size_t)name->len, sr_hash(name->str, (size_t)name->len))
                      : NULL;
    uint64_t lost = 0;
    if (ch) {
        if (sub && ch->wanted) {
            lost = ch->lost_ms;
            ch->lost_ms = 0;
        }
        set_flags(s, ch, ch->wanted, sub);
    }
    /* last: the hook may deliver messages, but never changes this set */
    if (lost && s->recovered) s->recovered(s->recovered_ud, ch->name, ch->len, lost);
}

void sr_rsubs_on_recovered(sr_rsubs *s, sr_rsubs_recovered_fn fn, void *ud) {
    s->recovered = fn;
    s->recovered_ud = ud;
}

size_t sr_rsubs_pending_count(const sr_rsubs *s) {
    return s->n_pending;
}

int sr_rsubs_resyncing(const sr_rsubs *s) {
    return s->resync_left > 0;
}

uint64_t sr_rsubs_take_lost(sr_rsubs *s, const char *name, size_t len) {
    channel *ch = find(s, name, len, sr_hash(name, len));
    if (!ch) return 0;
    uint64_t t = ch->lost_ms;
    ch->lost_ms = 0;
    return t;
}

void sr_rsubs_mark_lost(sr_rsubs *s, const char *name, size_t len, uint64_t since_ms) {
    channel *ch = find(s, name, len, sr_hash(name, len));
    if (!ch || !ch->wanted || !since_ms) return;
    if (!ch->lost_ms || since_ms < ch->lost_ms) ch->lost_ms = since_ms;
}

uint64_t sr_rsubs_lost_or_live(const sr_rsubs *s, const char *name, size_t len, uint64_t now_ms) {
    const channel *ch = find(s, name, len, sr_hash(name, len));
    if (!ch) return 0;
    if (ch->lost_ms) return ch->lost_ms;
    return ch->live || ch->sent ? now_ms : 0;
}

size_t sr_rsubs_wanted_count(const sr_rsubs *s) {
    return s->n_wanted;
}

size_t sr_rsubs_confirmed_count(const sr_rsubs *s) {
    return s->confirmed;
}

unsigned long sr_rsubs_commands_sent(const sr_rsubs *s) {
    return s->commands;
}
