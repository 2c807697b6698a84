/*
 * remote.c: delivering messages that came from other nodes.
 *
 * A multi-room broadcast is published once per room, so this node may get
 * the same message several times, once per room. The reference remembers
 * the last 1000 message ids per connection; we remember, per node, the last
 * SR_REMOTE_SEEN_CAP ids with the rooms each already arrived for, and skip
 * members of those rooms (they were served by an earlier copy). This costs
 * no memory per connection. A copy arriving again for a room it already
 * arrived for is a new publish that reuses the id, and is delivered.
 * Messages without an id are delivered every time, as in the reference.
 */
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "server/history.h"
#include "server/internal.h"
#include "server/recover.h"

static void seen_clear(sr_remote_seen *e) {
    for (uint32_t i = 0; i < e->n_rooms; i++) free(e->rooms[i]);
    free(e->rooms);
    free(e->id);
    e->rooms = NULL;
    e->n_rooms = 0;
    e->id = NULL;
}

/* Called by sr_server_free: also frees the history kept in memory (the
 * messages this node keeps for other streams' resumes). */
void sr_remote_seen_free(sr_server *srv) {
    sr_history_free(srv);
    for (size_t i = 0; i < SR_REMOTE_SEEN_CAP; i++) seen_clear(&srv->remote_seen[i]);
}

static int32_t seen_find(sr_server *srv, const char *id, uint64_t h) {
    int32_t i = srv->remote_buckets[h % SR_REMOTE_SEEN_CAP];
    while (i >= 0) {
        sr_remote_seen *e = &srv->remote_seen[i];
        if (e->hash == h && strcmp(e->id, id) == 0) return i;
        i = e->next_in_bucket;
    }
    return -1;
}

static void seen_unlink(sr_server *srv, int32_t idx) {
    sr_remote_seen *e = &srv->remote_seen[idx];
    int32_t *link = &srv->remote_buckets[e->hash % SR_REMOTE_SEEN_CAP];
    while (*link >= 0 && *link != idx) link = &srv->remote_seen[*link].next_in_bucket;
    if (*link == idx) *link = e->next_in_bucket;
}

static int seen_add_room(sr_remote_seen *e, const char *room, size_t len) {
    char *copy = malloc(len + 1);
    char **rooms = realloc(e->rooms, (e->n_rooms + 1) * sizeof(*rooms));
    if (!copy || !rooms) {
        free(copy);
        if (rooms) e->rooms = rooms;
        return -1;
    }
    memcpy(copy, room, len);
    copy[len] = '\0';
    e->rooms = rooms;
    e->rooms[e->n_rooms++] = copy;
    return 0;
}

static int32_t seen_insert(sr_server *srv, const char *id, uint64_t h) {
    int32_t idx = (int32_t)srv->remote_next;
    srv->remote_next = (srv->remote_next + 1) % SR_REMOTE_SEEN_CAP;
    sr_remote_seen *e = &srv->remote_seen[idx];
    if (e->id) {
        seen_unlink(srv, idx);
        seen_clear(e);
    }
    e->id = strdup(id);
    if (!e->id) return -1;
    e->hash = h;
    e->next_in_bucket = srv->remote_buckets[h % SR_REMOTE_SEEN_CAP];
    srv->remote_buckets[h % SR_REMOTE_SEEN_CAP] = idx;
    return idx;
}

static void mark_only(void *ud, sr_member *m) {
    (void)ud;
    (void)m;
}

int sr_server_deliver_remote(sr_server *srv, const char *room, size_t room_len,
                             const sr_message *msg) {
    if (!srv || !room || !msg || !msg->data) return SR_EINVAL;
    if (srv->shutting_down) return SR_ECLOSED;
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
    if (m.id_len == 0) return r ? sr_fanout(srv, &r, 1, &m, NULL, 0, stamp, true) : 0;

    uint64_t h = sr_hash(m.id, m.id_len);
    int32_t idx = seen_find(srv, m.id, h);
    if (idx < 0) {
        idx = seen_insert(srv, m.id, h);
        if (idx >= 0) seen_add_room(&srv->remote_seen[idx], room, room_len);
        return r ? sr_fanout(srv, &r, 1, &m, NULL, 0, stamp, true) : 0;
    }
    sr_remote_seen *e = &srv->remote_seen[idx];
    int repeat = 0;
    for (uint32_t i = 0; i < e->n_rooms; i++)
        if (strlen(e->rooms[i]) == room_len && memcmp(e->rooms[i], room, room_len) == 0) repeat = 1;
    if (repeat) {
        /* the same id again in the same room: a new message */
        for (uint32_t i = 0; i < e->n_rooms; i++) free(e->rooms[i]);
        e->n_rooms = 0;
        seen_add_room(e, room, room_len);
        return r ? sr_fanout(srv, &r, 1, &m, NULL, 0, stamp, true) : 0;
    }
    int delivered = 0;
    if (r) {
        /* stamp the members of the rooms it already reached, then deliver to
         * the members of this room that carry no stamp: at once, and after
         * the pending batch, whose delivery would overwrite the stamps */
        sr_batch_barrier(srv);
        sr_room *small[8];
        sr_room **prev = small;
        if (e->n_rooms > 8 && !(prev = malloc(e->n_rooms * sizeof(*prev)))) return SR_ENOMEM;
        for (uint32_t i = 0; i < e->n_rooms; i++)
            prev[i] = sr_registry_find(srv->reg, e->rooms[i], strlen(e->rooms[i]));
        sr_registry_visit(prev, e->n_rooms, NULL, 0, stamp, mark_only, NULL);
        if (prev != small) free(prev);
        delivered = sr_fanout(srv, &r, 1, &m, NULL, 0, stamp, false);
    }
    seen_add_room(e, room, room_len);
    return delivered;
}
