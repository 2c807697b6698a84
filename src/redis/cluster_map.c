/* SPDX-License-Identifier: MIT */
/*
 * cluster_map.c: the cluster mode's slot map (see cluster.h): the control
 * connection, refreshes, and moving rooms to their new owners.
 *
 * The control connection talks to one candidate at a time: the seeds, then
 * the masters of the last map. When it fails it is closed and, after a
 * short pause, the next candidate is tried, so a dead seed or a master
 * that was just killed is never waited on. A refresh sends CLUSTER SHARDS
 * (CLUSTER SLOTS once a server said it does not know the former); the
 * answer is parsed whole into a new map and applied:
 *   1. a shard per master (kept when the address is the same, else new);
 *   2. every channel a shard holds but no longer owns is unsubscribed
 *      there, and every wanted room channel is subscribed on its owner
 *      (the subscription sets batch both per slot at the end of the turn);
 *   3. channels Redis dropped (MOVED, sunsubscribe) are sent again;
 *   4. each shard's canary moves to a slot it owns;
 *   5. the shards of masters that left are closed.
 * While a slot has no master or a shard is down, refreshes repeat every
 * SR_CLUSTER_REFRESH_GAP_MS; otherwise every SR_CLUSTER_REFRESH_EVERY_MS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/cluster_int.h"

static void open_control(sr_rcluster *cl);
static void on_control_timer(uv_timer_t *h);

/* ------------------------------------------------------------ applying */

typedef struct move_ctx {
    sr_rcluster *cl;
    rshard *shard;
} move_ctx;

/* A room leaving a shard (its slot moved, or the shard is gone) may miss
 * messages until its new owner confirms it: the time it counts as lost
 * from travels in the master list (cl->all) to the new owner's set, whose
 * confirmation then reports the room as recovered (subs.h). */
static void carry_lost(move_ctx *m, const char *ch, size_t len) {
    uint64_t since = sr_rsubs_lost_or_live(m->shard->subs, ch, len, sr_rsubs_wall_ms());
    if (since) sr_rsubs_mark_lost(m->cl->all, ch, len, since);
}

static void drop_if_moved(void *ud, const char *ch, size_t len) {
    move_ctx *m = ud;
    if (sr_canary_is_channel(m->shard->canary, ch, len)) return; /* place_canary decides */
    if (sr_rcluster_owner(m->cl, ch, len) != m->shard) {
        carry_lost(m, ch, len);
        sr_rsubs_set(m->shard->subs, ch, len, 0);
    }
}

static void carry_from_gone(void *ud, const char *ch, size_t len) {
    move_ctx *m = ud;
    if (!sr_canary_is_channel(m->shard->canary, ch, len)) carry_lost(m, ch, len);
}

static void add_to_owner(void *ud, const char *ch, size_t len) {
    move_ctx *m = ud;
    rshard *s = sr_rcluster_owner(m->cl, ch, len);
    uint64_t lost = sr_rsubs_take_lost(m->cl->all, ch, len);
    if (!s) {
        if (lost) sr_rsubs_mark_lost(m->cl->all, ch, len, lost); /* no owner yet: keep it */
        return;
    }
    sr_rsubs_set(s->subs, ch, len, 1);
    if (lost) sr_rsubs_mark_lost(s->subs, ch, len, lost);
}

static int shard_up(const rshard *s) {
    return sr_rconn_get_state(s->pub) == SR_RCONN_UP && sr_rconn_get_state(s->sub) == SR_RCONN_UP;
}

/* Applies a parsed map (taken over). 0 or SR_ENOMEM (nothing changed). */
static int apply_map(sr_rcluster *cl, sr_slot_map *map) {
    rshard **next = calloc(map->n_masters ? map->n_masters : 1, sizeof *next);
    if (!next) return SR_ENOMEM;
    size_t n_old = cl->n_shards;
    rshard **old = cl->shards;
    unsigned char *kept = calloc(n_old ? n_old : 1, 1);
    if (!kept) {
        free(next);
        return SR_ENOMEM;
    }
    for (size_t i = 0; i < map->n_masters; i++) {
        for (size_t j = 0; j < n_old && !next[i]; j++)
            if (!kept[j] && old[j]->port == map->masters[i].port &&
                strcmp(old[j]->host, map->masters[i].host) == 0) {
                next[i] = old[j];
                kept[j] = 1;
            }
        if (!next[i] &&
            !(next[i] = sr_rcluster_shard_new(cl, map->masters[i].host, map->masters[i].port))) {
            for (size_t k = 0; k < i; k++) {
                int was_old = 0;
                for (size_t j = 0; j < n_old; j++) was_old |= old[j] == next[k];
                if (!was_old) sr_rcluster_shard_free(next[k]);
            }
            free(next);
            free(kept);
            return SR_ENOMEM;
        }
        next[i]->n_slots = map->masters[i].n_slots;
    }
    sr_slot_map_free(&cl->map);
    cl->map = *map;
    cl->shards = next;
    cl->n_shards = map->n_masters;
    cl->have_map = 1;
    move_ctx m = {cl, NULL};
    for (size_t i = 0; i < cl->n_shards; i++) {
        m.shard = cl->shards[i];
        sr_rsubs_each_wanted(m.shard->subs, drop_if_moved, &m);
    }
    for (size_t j = 0; j < n_old; j++)
        if (!kept[j]) {
            m.shard = old[j];
            sr_rsubs_each_wanted(old[j]->subs, carry_from_gone, &m);
        }
    sr_rsubs_each_wanted(cl->all, add_to_owner, &m);
    for (size_t i = 0; i < cl->n_shards; i++) {
        sr_rsubs_resync(cl->shards[i]->subs);
        sr_rcluster_place_canary(cl, cl->shards[i]);
    }
    for (size_t j = 0; j < n_old; j++)
        if (!kept[j]) sr_rcluster_shard_free(old[j]);
    free(old);
    free(kept);
    return 0;
}

/* ------------------------------------------------------------ refreshing */

static void on_refresh_timer(uv_timer_t *h);

static void send_refresh(sr_rcluster *cl);

static int settled(const sr_rcluster *cl) {
    if (!cl->have_map || cl->map.covered < SR_SLOTS) return 0;
    for (size_t i = 0; i < cl->n_shards; i++)
        if (!shard_up(cl->shards[i])) return 0;
    return 1;
}

static void schedule(sr_rcluster *cl, uint64_t delay_ms) {
    uint64_t due = uv_now(cl->loop) + delay_ms;
    if (uv_is_active((uv_handle_t *)&cl->refresh_timer) && cl->refresh_due <= due) return;
    cl->refresh_due = due;
    uv_timer_start(&cl->refresh_timer, on_refresh_timer, delay_ms, 0);
}

void sr_rcluster_request_refresh(sr_rcluster *cl, uint32_t delay_ms) {
    if (cl->closed) return;
    if (cl->refresh_in_flight) {
        cl->refresh_again = 1;
        return;
    }
    schedule(cl, delay_ms);
}

static void refresh_done(sr_rcluster *cl, int ok) {
    cl->refresh_in_flight = 0;
    if (cl->closed) return;
    uint64_t delay = SR_CLUSTER_REFRESH_EVERY_MS;
    if (!ok || cl->refresh_again || !settled(cl)) delay = SR_CLUSTER_REFRESH_GAP_MS;
    cl->refresh_again = 0;
    uv_timer_stop(&cl->refresh_timer);
    schedule(cl, delay);
}

static void next_control(sr_rcluster *cl, const char *why) {
    snprintf(cl->last_error, sizeof cl->last_error, "%s", why);
    if (cl->control) {
        sr_rconn_close(cl->control);
        cl->control = NULL;
    }
    cl->control_index++;
    cl->refresh_in_flight = 0;
    cl->refresh_again = 1;
    /* the next candidate at once; after a whole round that failed, a pause */
    size_t n = cl->n_seeds + cl->map.n_masters;
    uv_timer_start(&cl->control_timer, on_control_timer, cl->control_index % n ? 20 : 500, 0);
}

static void on_map_reply(void *ud, redisReply *reply, const char *err) {
    sr_rcluster *cl = ud;
    if (cl->closed) {
        cl->refresh_in_flight = 0;
        return;
    }
    if (!reply) { /* the control connection failed: its on_down moves on */
        cl->refresh_in_flight = 0;
        return;
    }
    if (err) {
        cl->refresh_failures++;
        if (!cl->use_cluster_slots &&
            (strstr(err, "nknown subcommand") || strstr(err, "nknown command"))) {
            cl->use_cluster_slots = 1; /* Redis < 7: ask again with CLUSTER SLOTS */
            cl->refresh_in_flight = 0;
            send_refresh(cl);
            return;
        }
        char why[600];
        snprintf(why, sizeof why, "%s: %s", cl->control_where, err);
        next_control(cl, why);
        refresh_done(cl, 0);
        return;
    }
    sr_slot_map map;
    char perr[200];
    const char *host = cl->control_host;
    int rc = cl->use_cluster_slots ? sr_slot_map_from_slots(reply, host, &map, perr, sizeof perr)
                                   : sr_slot_map_from_shards(reply, host, &map, perr, sizeof perr);
    if (rc == 0 && (rc = apply_map(cl, &map)) != 0) sr_slot_map_free(&map);
    if (rc) {
        cl->refresh_failures++;
        snprintf(cl->last_error, sizeof cl->last_error, "%s: %s", cl->control_where,
                 rc == SR_ENOMEM ? "out of memory" : perr);
    } else {
        cl->refreshes++;
        cl->last_error[0] = '\0';
    }
    refresh_done(cl, rc == 0);
}

static void send_refresh(sr_rcluster *cl) {
    if (cl->closed || cl->refresh_in_flight) return;
    if (!cl->control || sr_rconn_get_state(cl->control) != SR_RCONN_UP) {
        cl->refresh_again = 1; /* sent when the control connection is up */
        return;
    }
    static const char *const shards[2] = {"CLUSTER", "SHARDS"};
    static const char *const slots[2] = {"CLUSTER", "SLOTS"};
    static const size_t lens_shards[2] = {7, 6}, lens_slots[2] = {7, 5};
    int rc = cl->use_cluster_slots
                 ? sr_rconn_command(cl->control, 2, slots, lens_slots, on_map_reply, cl)
                 : sr_rconn_command(cl->control, 2, shards, lens_shards, on_map_reply, cl);
    if (rc == 0) cl->refresh_in_flight = 1;
    else schedule(cl, SR_CLUSTER_REFRESH_GAP_MS);
}

static void on_refresh_timer(uv_timer_t *h) {
    send_refresh(h->data);
}

/* ------------------------------------------------------------ control connection */

static void on_control_up(void *ud, sr_rconn *c) {
    sr_rcluster *cl = ud;
    cl->refresh_again = 0;
    send_refresh(cl);
}

static void on_control_down(void *ud, sr_rconn *c, const char *err) {
    sr_rcluster *cl = ud;
    if (cl->closed) return;
    next_control(cl, err);
}

/* Candidate i: the seeds, then the masters of the current map. */
static void open_control(sr_rcluster *cl) {
    if (cl->closed || cl->control) return;
    size_t n = cl->n_seeds + cl->map.n_masters;
    size_t i = cl->control_index % n;
    sr_redis_url u = cl->seeds[0];
    if (i < cl->n_seeds) {
        u = cl->seeds[i];
    } else {
        u.host = cl->map.masters[i - cl->n_seeds].host;
        u.port = cl->map.masters[i - cl->n_seeds].port;
    }
    sr_redis_url_describe(&u, cl->control_where, sizeof cl->control_where);
    snprintf(cl->control_host, sizeof cl->control_host, "%s", u.host ? u.host : "");
    sr_rconn_options co = cl->co;
    co.url = &u;
    co.name = "cluster control";
    co.pubsub = 0;
    co.reconnect_min_ms = co.reconnect_max_ms = 60000; /* never: a failure moves on */
    sr_rconn_callbacks cbs = {on_control_up, on_control_down, NULL, cl};
    if (sr_rconn_new(&cl->control, cl->loop, &co, &cbs) != 0) {
        cl->control = NULL;
        uv_timer_start(&cl->control_timer, on_control_timer, 500, 0);
        return;
    }
    sr_rconn_start(cl->control);
}

static void on_control_timer(uv_timer_t *h) {
    open_control(h->data);
}

int sr_rcluster_map_init(sr_rcluster *cl) {
    uv_timer_init(cl->loop, &cl->refresh_timer);
    uv_timer_init(cl->loop, &cl->control_timer);
    cl->refresh_timer.data = cl->control_timer.data = cl;
    cl->open_handles = 2;
    uv_timer_start(&cl->control_timer, on_control_timer, 0, 0);
    return 0;
}

static void on_timer_closed(uv_handle_t *h) {
    sr_rcluster *cl = h->data;
    if (--cl->open_handles == 0 && cl->freed) free(cl); /* sr_rcluster_free ran first */
}

void sr_rcluster_map_close(sr_rcluster *cl) {
    if (cl->control) {
        sr_rconn_close(cl->control);
        cl->control = NULL;
    }
    if (cl->open_handles) {
        uv_close((uv_handle_t *)&cl->refresh_timer, on_timer_closed);
        uv_close((uv_handle_t *)&cl->control_timer, on_timer_closed);
    }
}
