/* SPDX-License-Identifier: MIT */
/*
 * remote.c: delivering messages that came from other nodes.
 *
 * A multi-room broadcast is published once per room, so this node may get
 * the same message several times, once per room. A stream in several of
 * the rooms must get it once. Copies are recognised by the envelope's
 * de-duplication key (sserooms publishers give every multi-room publish
 * one, envelope.h) or else by the message id (the reference always sets
 * one); a message with neither is delivered every time, as the reference
 * does. We remember, per node, the last SR_REMOTE_SEEN_CAP such messages
 * with each copy that arrived: its room and its delivery stamp. This costs
 * no memory per connection and is bounded (SR_REMOTE_SEEN_CAP messages,
 * each with at most the rooms this node took it for). The ring is found
 * by key or id through an sr_table (common/table.h, seeded sr_hash) of its
 * entries; an entry leaves the table when the ring reuses its slot.
 *
 * The rule for a later copy (room R): it goes to the members of R that
 * were not members of an earlier copy's room when that copy arrived (the
 * membership's join stamp is older than the copy's stamp). So a stream
 * gets the message once, with the first copy for a room it was in; one
 * that joins a target room between copies gets it from the next copy for
 * a room it is in if no earlier copy reached it, and is skipped if one
 * did. (A stream that left the room of the copy that reached it and is in
 * R when R's copy arrives is not recognised and gets it again: the node
 * keeps no per-stream memory.)
 * A copy arriving again for a room it already arrived for is, with a key,
 * a duplicate (dropped); with only an id, a new publish that reuses the id
 * (delivered, and the copies start over).
 */
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "server/history.h"
#include "server/internal.h"
#include "server/recover.h"

/* One copy of a remote message: the room it came in for and the delivery
 * stamp it had. */
typedef struct sr_remote_copy {
    char *room;
    uint64_t stamp;
} sr_remote_copy;

/* A remote message recently delivered, known by its de-duplication key or
 * else its id, with the copies that arrived. */
typedef struct sr_remote_seen {
    char *id; /* the key (by_key) or the message id */
    bool by_key;
    uint64_t hash;
    sr_remote_copy *copies;
    uint32_t n_copies;
} sr_remote_seen;

#define SR_REMOTE_SEEN_CAP 1024

/* The server's remote state (srv->remote): the last SR_REMOTE_SEEN_CAP
 * messages in a ring, found through a hash table of the ring's entries. */
struct sr_remote {
    sr_remote_seen seen[SR_REMOTE_SEEN_CAP];
    sr_table index; /* the ring's entries (those with an id) by key or id */
    uint32_t next;  /* the ring's next slot to take */
};

int sr_remote_new(sr_server *srv) {
    srv->remote = calloc(1, sizeof(*srv->remote));
    return srv->remote ? SR_OK : SR_ENOMEM;
}

static void copies_clear(sr_remote_seen *e) {
    for (uint32_t i = 0; i < e->n_copies; i++) free(e->copies[i].room);
    e->n_copies = 0;
}

static void seen_clear(sr_remote_seen *e) {
    copies_clear(e);
    free(e->copies);
    free(e->id);
    e->copies = NULL;
    e->id = NULL;
}

/* Called by sr_server_free: also frees the history kept in memory (the
 * messages this node keeps for other streams' resumes). */
void sr_remote_free(sr_server *srv) {
    sr_history_free(srv);
    if (!srv->remote) return;
    for (size_t i = 0; i < SR_REMOTE_SEEN_CAP; i++) seen_clear(&srv->remote->seen[i]);
    sr_table_free(&srv->remote->index);
    free(srv->remote);
    srv->remote = NULL;
}

typedef struct seen_key {
    const char *id;
    bool by_key;
} seen_key;

static bool seen_is(const void *item, const void *key) {
    const sr_remote_seen *e = item;
    const seen_key *k = key;
    return e->by_key == k->by_key && strcmp(e->id, k->id) == 0;
}

static sr_remote_seen *seen_find(sr_server *srv, const char *id, bool by_key, uint64_t h) {
    seen_key k = {id, by_key};
    return sr_table_find(&srv->remote->index, h, seen_is, &k);
}

static int seen_add_copy(sr_remote_seen *e, const char *room, size_t len, uint64_t stamp) {
    char *copy = malloc(len + 1);
    sr_remote_copy *copies = realloc(e->copies, (e->n_copies + 1) * sizeof(*copies));
    if (!copy || !copies) {
        free(copy);
        if (copies) e->copies = copies;
        return -1;
    }
    memcpy(copy, room, len);
    copy[len] = '\0';
    e->copies = copies;
    e->copies[e->n_copies].room = copy;
    e->copies[e->n_copies].stamp = stamp;
    e->n_copies++;
    return 0;
}

/* Takes the ring's next slot (forgetting the oldest message) for this
 * message; NULL when out of memory (the message is then not remembered). */
static sr_remote_seen *seen_insert(sr_server *srv, const char *id, bool by_key, uint64_t h) {
    sr_remote_seen *e = &srv->remote->seen[srv->remote->next];
    srv->remote->next = (srv->remote->next + 1) % SR_REMOTE_SEEN_CAP;
    if (e->id) {
        sr_table_remove_item(&srv->remote->index, e->hash, e);
        seen_clear(e);
    }
    e->id = strdup(id);
    if (!e->id) return NULL;
    e->by_key = by_key;
    e->hash = h;
    if (sr_table_insert(&srv->remote->index, h, e) != 0) {
        seen_clear(e);
        return NULL;
    }
    return e;
}

/* Gives `stamp` to the members of earlier copies' rooms that were members
 * when that copy arrived, so the fan-out of this copy skips them. */
static void mark_served(sr_server *srv, const sr_remote_seen *e, uint64_t stamp) {
    for (uint32_t i = 0; i < e->n_copies; i++) {
        const sr_remote_copy *c = &e->copies[i];
        sr_room *r = sr_registry_find(srv->reg, c->room, strlen(c->room));
        if (!r) continue;
        for (uint32_t j = 0; j < r->n_members; j++) {
            sr_member *m = r->members[j];
            if (sr_registry_joined(m, r) < c->stamp) m->stamp = stamp;
        }
    }
}

int sr_server_deliver_remote(sr_server *srv, const char *room, size_t room_len,
                             const sr_message *msg) {
    return sr_server_deliver_remote_keyed(srv, room, room_len, msg, NULL);
}

int sr_server_deliver_remote_keyed(sr_server *srv, const char *room, size_t room_len,
                                   const sr_message *msg, const char *dedup) {
    if (!srv || !room || !msg || !msg->data) return SR_EINVAL;
    if (srv->shutting_down) return SR_ECLOSED;
    if (room_len == sizeof(SR_CONTROL_ROOM) - 1 && memcmp(room, SR_CONTROL_ROOM, room_len) == 0)
        return sr_revoke_control(srv, msg); /* the control channel (revoke.c), no room */
    sr_msg_parts m = {0};
    m.id = msg->id ? msg->id : "";
    m.id_len = strlen(m.id);
    m.event = msg->event ? msg->event : "";
    m.event_len = strlen(m.event);
    if (sr_sse_has_newline(m.id, m.id_len) || sr_sse_has_newline(m.event, m.event_len))
        return SR_ENEWLINE;
    m.data = msg->data;
    m.data_len = msg->data_len == SIZE_MAX ? strlen(msg->data) : msg->data_len;
    m.retry = msg->retry;
    /* larger than this node lets its own publishers send: dropped, counted */
    int too_big = sr_limit_message(srv, m.data_len);
    if (too_big < 0) return too_big;

    sr_room *r = sr_registry_find(srv->reg, room, room_len);
    srv->stats.messages_remote_in++;
    if (srv->cfg.history) sr_recover_note_live(srv, m.id, m.id_len); /* recover.c's watermark */
    uint64_t stamp = sr_registry_new_stamp(srv->reg);
    bool by_key = dedup && *dedup;
    const char *ident = by_key ? dedup : m.id;
    if (!*ident) return r ? sr_fanout(srv, &r, 1, &m, NULL, 0, stamp, true) : 0;

    uint64_t h = sr_hash(ident, strlen(ident));
    sr_remote_seen *e = seen_find(srv, ident, by_key, h);
    if (!e) {
        e = seen_insert(srv, ident, by_key, h);
        if (e) seen_add_copy(e, room, room_len, stamp);
        return r ? sr_fanout(srv, &r, 1, &m, NULL, 0, stamp, true) : 0;
    }
    int repeat = 0;
    for (uint32_t i = 0; i < e->n_copies; i++)
        if (strlen(e->copies[i].room) == room_len && memcmp(e->copies[i].room, room, room_len) == 0)
            repeat = 1;
    if (repeat && by_key) return 0; /* the same publish again: already delivered */
    if (repeat) {
        /* the same id again in the same room: a new message */
        copies_clear(e);
        seen_add_copy(e, room, room_len, stamp);
        return r ? sr_fanout(srv, &r, 1, &m, NULL, 0, stamp, true) : 0;
    }
    int delivered = 0;
    if (r) {
        /* stamp the members the earlier copies reached, then deliver to the
         * members of this room that carry no stamp: at once, and after the
         * pending batch, whose delivery would overwrite the stamps */
        sr_batch_barrier(srv);
        mark_served(srv, e, stamp);
        delivered = sr_fanout(srv, &r, 1, &m, NULL, 0, stamp, false);
    }
    seen_add_copy(e, room, room_len, stamp);
    return delivered;
}
