/* SPDX-License-Identifier: MIT */
/*
 * presence_int.h: the Redis presence object's state, shared by the files
 * that make it up: presence.c (the object, liveness, events),
 * presence_keys.c (key names, routing, command arguments), presence_write.c
 * (the coalesced writes), presence_read.c (reads that reap dead nodes,
 * member pages) and presence_rooms.c (the cluster-wide room list). The
 * pure ledger is presence_ledger.c (presence.h). Not for other modules.
 */
#ifndef SR_REDIS_PRESENCE_INT_H
#define SR_REDIS_PRESENCE_INT_H

#include "redis/cluster_int.h"
#include "redis/presence.h"

/* sr_rpresence.live: whether Redis confirmed this incarnation */
enum { LIVE_UNKNOWN = 0, LIVE_SETTING, LIVE_OK };

struct sr_rpresence {
    sr_redis_adapter *a;
    uv_timer_t flush_timer; /* data: this */
    uv_timer_t beat_timer;
    uint32_t ttl_ms;
    int events;
    int closing;
    int handles_open;
    int live; /* LIVE_* */
    int beat_inflight;
    int ever_live; /* LIVE_OK was reached once: a loss is a reassert */
    char inc[17];  /* this incarnation, random hex */
    sr_pledger ledger;
    char *live_key; /* <prefix>presence:node:{<id>} */
    sr_rpresence_counters n;
    sr_rpresence_event_fn event_fn;
    void *event_ud;
    char *idx_key; /* <prefix>presence:rooms:{<id>}: this node's rooms */
    char *reg_key; /* <prefix>presence:nodes: node -> expiry (ms) */
    char **known;  /* nodes seen in rooms: reads GET their liveness */
    size_t n_known, cap_known;
};

/* presence_keys.c */
/* <prefix>{<room>}<suffix>[<node>], its length in *out_len; NULL: no memory */
char *sr_rpresence_room_key(const sr_redis_adapter *a, const char *room, size_t len,
                            const char *suffix, const char *node, size_t *out_len);
/* <prefix>presence:node:{<node>}: the node's liveness key */
char *sr_rpresence_live_key(const sr_redis_adapter *a, const char *node, size_t nlen,
                            size_t *out_len);
/* <prefix>presence:rooms:{<node>}: the node's room index */
char *sr_rpresence_index_key(const sr_redis_adapter *a, const char *node, size_t nlen,
                             size_t *out_len);
/* The connection that takes commands for key; NULL when not up. */
sr_rconn *sr_rpresence_route(const sr_rpresence *p, const char *key, size_t len);
/* Asks the cluster for a new slot map when err says the map is stale. */
void sr_rpresence_maybe_refresh(sr_rpresence *p, const char *err);
/* The command that publishes join/leave events ("" when they are off). */
const char *sr_rpresence_pub_verb(const sr_rpresence *p);

/* The arguments of one command, built up piece by piece; a failed
 * allocation sets oom (the command is then not sent). */
typedef struct argvec {
    const char **v;
    size_t *l;
    size_t n, cap;
    char **owned;
    size_t n_owned, cap_owned;
    int oom;
} argvec;

void sr_rpresence_av_push(argvec *av, const char *s, size_t len);
/* Pushes s and frees it with the vector. */
void sr_rpresence_av_own(argvec *av, char *s, size_t len);
/* av_own for a key whose length sr_rpresence_room_key wrote into *len
 * (read only after the call: argument evaluation order is unspecified). */
void sr_rpresence_av_key(argvec *av, char *key, const size_t *len);
void sr_rpresence_av_num(argvec *av, uint64_t v);
void sr_rpresence_av_free(argvec *av);

/* presence_write.c */
/* Sends every dirty room of the ledger (while this incarnation is live). */
void sr_rpresence_send_write(sr_rpresence *p);
/* Sends the dirty rooms within SR_PRESENCE_FLUSH_MS. */
void sr_rpresence_arm_flush(sr_rpresence *p);

/* presence_read.c */
/* Remembers node, so the next reads GET its liveness key with the script. */
void sr_rpresence_known_add(sr_rpresence *p, const char *node);

#endif
