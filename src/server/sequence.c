/* SPDX-License-Identifier: MIT */
/*
 * sequence.c: ordered event ids: sr_sequence_next and sr_broadcast_sequenced.
 *
 * An id is "<epoch>-<counter>" with the counter zero-padded to 12 digits, as
 * the reference's createRedisEventIdSequence formats it. Where the counter
 * lives decides the path:
 * - no adapter, or the memory bus: a table name -> counter (the server's, or
 *   the bus's so that its servers share one) and the message is delivered at
 *   once. Everything runs on one thread, so that is a total order. The table
 *   holds at most cfg.sequence_max_names counters: a new name past that
 *   drops the least recently used one (a use list beside the hash table),
 *   so no client can fill it for good; a counter unused for
 *   cfg.sequence_ttl_ms expires. Either starts again at 1. The hash table
 *   is common/table.h's, keyed by the seeded sr_hash of the name.
 * - an adapter with the sequence members (Redis): the call becomes a job
 *   that waits for the adapter's done. A sequenced broadcast is NOT delivered
 *   locally here: it comes back from the adapter like a message of another
 *   node, in the order the ids were assigned (delivering it when the id
 *   arrives could overtake a smaller id of another node still on its way). A
 *   local-only one is delivered as soon as its id arrives.
 * Jobs are listed in the server, so that shutdown can fail the ones the
 * adapter did not complete: such a job is orphaned (srv cleared) and the
 * adapter's late done only frees it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/seqname.h"
#include "server/history.h"
#include "server/internal.h"
#include "json/json.h"

enum seq_job_kind {
    JOB_NEXT = 0, /* sr_sequence_next: only the id */
    JOB_PUBLISH,  /* published; local members get it back from the adapter */
    JOB_LOCAL     /* allocated, then delivered on this node only */
};

struct sr_seq_job {
    sr_server *srv;          /* NULL once orphaned by shutdown */
    sr_seq_job *prev, *next; /* srv->seq->jobs */
    sr_sequence_fn done;
    void *ud;
    int kind;
    char **rooms; /* JOB_PUBLISH, JOB_LOCAL: copies */
    size_t n_rooms;
    sr_msg_parts m; /* JOB_LOCAL: the message, strings in `text` */
    char *text;
};

/* The server's sequence state (srv->seq). */
struct sr_sequence {
    sr_seq_table table; /* counters without Redis */
    sr_seq_job *jobs;   /* sequenced calls waiting for the adapter */
};

int sr_sequence_new(sr_server *srv) {
    srv->seq = calloc(1, sizeof(*srv->seq));
    return srv->seq ? SR_OK : SR_ENOMEM;
}

void sr_sequence_free(sr_server *srv) {
    if (!srv->seq) return;
    sr_sequence_shutdown(srv);
    sr_seq_table_free(&srv->seq->table);
    free(srv->seq);
    srv->seq = NULL;
}

sr_seq_table *sr_sequence_table(sr_server *srv) {
    return &srv->seq->table;
}

/* --- ids ---------------------------------------------------------------- */

int sr_sequence_check(const char *key, const char *epoch) {
    if (!key || sr_seq_name_check(key, strnlen(key, SR_SEQUENCE_KEY_MAX + 1)) < 0) return SR_EINVAL;
    if (!epoch) return SR_OK;
    size_t elen = strnlen(epoch, SR_SEQUENCE_EPOCH_MAX + 1);
    if (elen == 0 || elen > SR_SEQUENCE_EPOCH_MAX) return SR_EINVAL;
    for (size_t i = 0; i < elen; i++)
        if (epoch[i] < '0' || epoch[i] > '9') return SR_EINVAL;
    return SR_OK;
}

int sr_sequence_format(char *out, size_t cap, const char *epoch, uint64_t counter) {
    if (counter < 1 || counter > SR_SEQUENCE_COUNTER_MAX) return SR_ETOOBIG;
    int n = snprintf(out, cap, "%s-%012llu", epoch ? epoch : "0", (unsigned long long)counter);
    if (n < 0 || (size_t)n >= cap) return SR_ETOOBIG;
    return n;
}

/* --- counters in memory ------------------------------------------------- */

void sr_seq_table_free(sr_seq_table *t) {
    sr_seq_counter *c = t->newest;
    while (c) {
        sr_seq_counter *older = c->older;
        free(c);
        c = older;
    }
    sr_table_free(&t->counters);
    memset(t, 0, sizeof(*t));
}

typedef struct counter_key {
    const char *key;
    size_t len;
} counter_key;

static bool counter_is(const void *item, const void *key) {
    const sr_seq_counter *c = item;
    const counter_key *k = key;
    return c->key_len == k->len && memcmp(c->key, k->key, k->len) == 0;
}

static void use_unlink(sr_seq_table *t, sr_seq_counter *c) {
    if (c->newer) c->newer->older = c->older;
    else t->newest = c->older;
    if (c->older) c->older->newer = c->newer;
    else t->oldest = c->newer;
    c->newer = c->older = NULL;
}

static void use_push_newest(sr_seq_table *t, sr_seq_counter *c) {
    c->older = t->newest;
    c->newer = NULL;
    if (t->newest) t->newest->newer = c;
    t->newest = c;
    if (!t->oldest) t->oldest = c;
}

static void table_remove(sr_seq_table *t, sr_seq_counter *c) {
    sr_table_remove_item(&t->counters, c->hash, c);
    use_unlink(t, c);
    free(c);
}

/* The next counter of key: 1 for a new key, and for one unused for ttl_ms.
 * At most max_names counters: past that the least recently used one is
 * dropped, so a new name always gets a counter (a table filled by one
 * client does not refuse everyone after it). */
static int table_next(sr_seq_table *t, const char *key, uint64_t now_ms, uint32_t ttl_ms,
                      unsigned max_names, uint64_t *out, char *why, size_t whycap) {
    size_t len = strlen(key);
    uint64_t h = sr_hash(key, len);
    /* expired counters go first: they are the oldest on the use list */
    while (ttl_ms && t->oldest && now_ms >= t->oldest->used_ms + ttl_ms) table_remove(t, t->oldest);
    counter_key k = {key, len};
    sr_seq_counter *c = sr_table_find(&t->counters, h, counter_is, &k);
    if (!c) {
        if (max_names && t->counters.len >= max_names) {
            table_remove(t, t->oldest);
            t->evicted++;
        }
        if (!(c = malloc(sizeof(*c) + len + 1)) || sr_table_insert(&t->counters, h, c) != 0) {
            free(c);
            snprintf(why, whycap, "out of memory");
            return SR_ENOMEM;
        }
        memcpy(c->key, key, len + 1);
        c->key_len = len;
        c->hash = h;
        c->value = 0;
        c->newer = c->older = NULL;
    } else {
        use_unlink(t, c);
    }
    c->used_ms = now_ms;
    use_push_newest(t, c);
    if (c->value >= SR_SEQUENCE_COUNTER_MAX) {
        snprintf(why, whycap, "sequence exhausted: its counter passed %llu",
                 (unsigned long long)SR_SEQUENCE_COUNTER_MAX);
        return SR_ETOOBIG;
    }
    *out = ++c->value;
    return SR_OK;
}

/* --- jobs waiting for the adapter --------------------------------------- */

static void job_free(sr_seq_job *job) {
    for (size_t i = 0; i < job->n_rooms; i++) free(job->rooms[i]);
    free(job->rooms);
    free(job->text);
    free(job);
}

static void job_unlink(sr_seq_job *job) {
    sr_server *srv = job->srv;
    if (job->prev) job->prev->next = job->next;
    else srv->seq->jobs = job->next;
    if (job->next) job->next->prev = job->prev;
    job->prev = job->next = NULL;
}

/* Copies what the job needs after the call returns. */
static sr_seq_job *job_new(sr_server *srv, int kind, const char *const *rooms, size_t n_rooms,
                           const sr_msg_parts *m) {
    sr_seq_job *job = calloc(1, sizeof(*job));
    if (!job) return NULL;
    job->kind = kind;
    if (kind != JOB_NEXT) {
        if (!(job->rooms = calloc(n_rooms, sizeof(*job->rooms)))) goto fail;
        for (size_t i = 0; i < n_rooms; i++) {
            if (!(job->rooms[i] = strdup(rooms[i]))) goto fail;
            job->n_rooms++;
        }
    }
    if (kind == JOB_LOCAL) {
        if (!(job->text = malloc(m->event_len + m->data_len + 2))) goto fail;
        job->m = *m;
        memcpy(job->text, m->event, m->event_len);
        job->text[m->event_len] = '\0';
        memcpy(job->text + m->event_len + 1, m->data, m->data_len);
        job->text[m->event_len + 1 + m->data_len] = '\0';
        job->m.event = job->text;
        job->m.data = job->text + m->event_len + 1;
        job->m.id = "";
        job->m.id_len = 0;
    }
    job->srv = srv;
    job->next = srv->seq->jobs;
    if (job->next) job->next->prev = job;
    srv->seq->jobs = job;
    return job;
fail:
    job_free(job);
    return NULL;
}

static void count_member(void *ud, sr_member *m) {
    sr_conn *c = sr_conn_of_member(m);
    if (!sr_conn_is_ending(c)) (*(size_t *)ud)++;
}

/* Local streams in the rooms (each once): those that get the message back
 * from the adapter. */
static int count_local(sr_server *srv, char *const *rooms, size_t n) {
    sr_room *small[16];
    sr_room **found = small;
    if (n > 16 && !(found = malloc(n * sizeof(*found)))) return 0;
    for (size_t i = 0; i < n; i++)
        found[i] = sr_registry_find(srv->reg, rooms[i], strlen(rooms[i]));
    size_t count = 0;
    sr_registry_visit(found, n, NULL, 0, sr_registry_new_stamp(srv->reg), count_member, &count);
    if (found != small) free(found);
    return count > INT32_MAX ? INT32_MAX : (int)count;
}

/* The adapter's done for a job. */
static void on_job_done(void *ud, int rc, const char *text) {
    sr_seq_job *job = ud;
    sr_server *srv = job->srv;
    if (!srv) { /* orphaned: its caller was told at shutdown */
        job_free(job);
        return;
    }
    job_unlink(job);
    if (rc >= 0 && !text) rc = SR_EADAPTER; /* an adapter breaking its contract */
    if (rc >= 0 && job->kind == JOB_PUBLISH) {
        srv->stats.messages_in++;
        rc = count_local(srv, job->rooms, job->n_rooms);
    } else if (rc >= 0 && job->kind == JOB_LOCAL) {
        sr_msg_parts m = job->m;
        m.id = text;
        m.id_len = strlen(text);
        sr_broadcast_opts local = {.local = 1};
        int delivered = srv->shutting_down
                            ? SR_ECLOSED
                            : sr_broadcast_parts(srv, (const char *const *)job->rooms, job->n_rooms,
                                                 &m, &local);
        if (delivered < 0) text = sr_strerror(delivered);
        rc = delivered;
    } else if (rc >= 0) {
        rc = 0;
    } else if (job->kind != JOB_NEXT) {
        srv->stats.adapter_errors++;
    }
    job->done(job->ud, rc, text ? text : sr_strerror(rc));
    job_free(job);
}

void sr_sequence_shutdown(sr_server *srv) {
    sr_history_shutdown(srv); /* replays waiting for the adapter, too */
    while (srv->seq && srv->seq->jobs) {
        sr_seq_job *job = srv->seq->jobs;
        job_unlink(job);
        job->srv = NULL; /* the adapter's done, if it ever comes, frees it */
        job->done(job->ud, SR_ECLOSED, "server is shutting down");
    }
}

/* --- starting ----------------------------------------------------------- */

static void adapter_reason(sr_server *srv, char *out, size_t cap) {
    if (srv->adapter.health && srv->adapter.health(srv->adapter.ctx, out, cap) != 0 && out[0])
        return;
    snprintf(out, cap, "the %s adapter could not sequence",
             srv->adapter.name ? srv->adapter.name : "custom");
}

int sr_sequence_start(sr_server *srv, const char *const *rooms, size_t n_rooms,
                      const sr_msg_parts *m, const sr_broadcast_opts *opts, const char *key,
                      const char *epoch, sr_sequence_fn done, void *ud, int *delivered, char *text,
                      size_t text_cap) {
    *delivered = 0;
    text[0] = '\0';
    if (!epoch) epoch = "0";
    if (srv->shutting_down) {
        snprintf(text, text_cap, "server is shutting down");
        return SR_ECLOSED;
    }
    int local = opts && opts->local;
    if (!srv->has_adapter || srv->bus) {
        sr_seq_table *t = srv->bus ? sr_memory_bus_sequences(srv->bus) : &srv->seq->table;
        uint64_t counter = 0;
        /* the clock, not a loop's cached time: a bus's servers may run
         * different loops */
        int rc = table_next(t, key, uv_hrtime() / 1000000, srv->cfg.sequence_ttl_ms,
                            srv->cfg.sequence_max_names, &counter, text, text_cap);
        if (rc < 0) return rc;
        int len = sr_sequence_format(text, text_cap, epoch, counter);
        if (len < 0) return len; /* not reached: the counter and epoch were checked */
        if (!rooms) return 0;
        sr_msg_parts with_id = *m;
        with_id.id = text;
        with_id.id_len = (size_t)len;
        rc = sr_broadcast_parts(srv, rooms, n_rooms, &with_id, opts);
        if (rc < 0) {
            snprintf(text, text_cap, "%s", sr_strerror(rc));
            return rc;
        }
        *delivered = rc;
        return 0;
    }
    int kind = !rooms ? JOB_NEXT : local ? JOB_LOCAL : JOB_PUBLISH;
    if (kind == JOB_PUBLISH ? !srv->adapter.publish_sequenced : !srv->adapter.sequence_next) {
        snprintf(text, text_cap, "the %s adapter has no shared sequences",
                 srv->adapter.name ? srv->adapter.name : "custom");
        return SR_EADAPTER;
    }
    sr_seq_job *job = job_new(srv, kind, rooms, n_rooms, m);
    if (!job) {
        snprintf(text, text_cap, "out of memory");
        return SR_ENOMEM;
    }
    job->done = done;
    job->ud = ud;
    int rc;
    if (kind == JOB_PUBLISH) {
        sr_message msg = {
            .event = m->event_len ? m->event : NULL,
            .data = m->data,
            .data_len = m->data_len,
            .retry = m->retry,
        };
        rc = srv->adapter.publish_sequenced(srv->adapter.ctx, rooms, n_rooms, &msg,
                                            opts ? opts->meta : NULL, opts ? opts->meta_len : 0,
                                            key, epoch, on_job_done, job);
    } else {
        rc = srv->adapter.sequence_next(srv->adapter.ctx, key, epoch, on_job_done, job);
    }
    if (rc < 0) {
        if (rc == SR_EADAPTER) adapter_reason(srv, text, text_cap);
        else snprintf(text, text_cap, "%s", sr_strerror(rc));
        if (kind != JOB_NEXT) srv->stats.adapter_errors++;
        job_unlink(job);
        job_free(job);
        return rc;
    }
    return 1;
}

/* A history broadcast through the adapter (history_resume.c): a JOB_PUBLISH
 * whose id comes from the adapter's history sequence. */
int sr_sequence_start_history(sr_server *srv, const char *const *rooms, size_t n_rooms,
                              const sr_msg_parts *m, const sr_broadcast_opts *opts,
                              sr_sequence_fn done, void *ud, int *local_members, char *text,
                              size_t text_cap) {
    *local_members = 0;
    sr_seq_job *job = job_new(srv, JOB_PUBLISH, rooms, n_rooms, m);
    if (!job) {
        snprintf(text, text_cap, "out of memory");
        return SR_ENOMEM;
    }
    job->done = done;
    job->ud = ud;
    sr_message msg = {
        .event = m->event_len ? m->event : NULL,
        .data = m->data,
        .data_len = m->data_len,
        .retry = m->retry,
    };
    sr_history_limits lim = {.max_messages = srv->cfg.history, .ttl_ms = srv->cfg.history_ttl_ms};
    int rc = srv->adapter.history_publish(srv->adapter.ctx, rooms, n_rooms, &msg,
                                          opts ? opts->meta : NULL, opts ? opts->meta_len : 0, &lim,
                                          on_job_done, job);
    if (rc < 0) {
        if (rc == SR_EADAPTER) adapter_reason(srv, text, text_cap);
        else snprintf(text, text_cap, "%s", sr_strerror(rc));
        srv->stats.adapter_errors++;
        job_unlink(job);
        job_free(job);
        return rc;
    }
    *local_members = count_local(srv, job->rooms, job->n_rooms);
    return 1;
}

/* --- public API --------------------------------------------------------- */

int sr_sequence_next(sr_server *srv, const char *key, const char *epoch, sr_sequence_fn done,
                     void *ud) {
    if (!srv || !done || sr_sequence_check(key, epoch) < 0) return SR_EINVAL;
    int delivered;
    char text[256];
    int rc = sr_sequence_start(srv, NULL, 0, NULL, NULL, key, epoch, done, ud, &delivered, text,
                               sizeof(text));
    if (rc == 0) done(ud, 0, text);
    return rc < 0 ? rc : 0;
}

int sr_broadcast_sequenced(sr_server *srv, const char *const *rooms, size_t n_rooms,
                           const sr_message *msg, const sr_broadcast_opts *opts, const char *key,
                           const char *epoch, sr_sequence_fn done, void *ud) {
    if (!srv || !rooms || n_rooms == 0 || !msg || !done) return SR_EINVAL;
    if (sr_sequence_check(key, epoch) < 0) return SR_EINVAL;
    if (opts && opts->n_except) return SR_EINVAL;
    if (srv->shutting_down) return SR_ECLOSED;
    for (size_t i = 0; i < n_rooms; i++) {
        if (!rooms[i]) return SR_EINVAL;
        int rc = sr_room_name_check(rooms[i], strlen(rooms[i]), srv->cfg.max_room_len);
        if (rc < 0) return rc;
    }
    sr_message no_id = *msg;
    no_id.id = NULL;
    sr_msg_parts m;
    unsigned depth = sr_limit_data_depth(srv);
    int rc = sr_msg_parts_from(&no_id, depth, &m);
    if (rc < 0) return rc;
    rc = sr_limit_message(srv, m.data_len);
    if (rc < 0) return rc;
    if (opts && opts->meta && opts->meta_len) {
        sr_json_value v;
        if (sr_json_validate(opts->meta, opts->meta_len, depth + 1, &v, NULL, NULL) != 0)
            return SR_EJSON;
    }
    rc = sr_limit_publish(srv, sr_publish_cost(srv, n_rooms, &m, opts ? opts->meta_len : 0,
                                               opts && opts->local));
    if (rc < 0) return rc;
    int delivered;
    char text[256];
    rc = sr_sequence_start(srv, rooms, n_rooms, &m, opts, key, epoch, done, ud, &delivered, text,
                           sizeof(text));
    if (rc == 0) done(ud, delivered, text);
    return rc < 0 ? rc : 0;
}
