/*
 * subs.h: the channel subscriptions of the subscriber connection, kept
 * exactly equal to the set of wanted channels.
 *
 * Per channel it keeps `wanted` (the room has local members) and `sent`
 * (the last of SUBSCRIBE / UNSUBSCRIBE written for it on this connection).
 * Redis runs one connection's commands in order, so the channel's final
 * state on the server is `sent`; a join/leave/join while a command is in
 * flight therefore needs no reply tracking: whenever wanted != sent after a
 * loop turn, the missing command is sent. Changes made in one turn are
 * flushed together as batched SUBSCRIBE a b c ... / UNSUBSCRIBE ... (at
 * most SR_RSUBS_BATCH channels per command). On reconnect `sent` resets and
 * every wanted channel is subscribed again, in batches.
 *
 * Sharded mode (Redis Cluster, cluster.c) uses SSUBSCRIBE / SUNSUBSCRIBE,
 * whose channels must all hash to one slot: a flush then sends one command
 * per slot (pipelined in one write). An error reply there (MOVED: the slot
 * moved) marks that slot's channels unsubscribed and goes to the owner's
 * hook instead of dropping the connection. A set created without a
 * connection only keeps the wanted channels (the cluster's master list).
 */
#ifndef SR_REDIS_SUBS_H
#define SR_REDIS_SUBS_H

#include <stddef.h>

#include "redis/conn.h"

#define SR_RSUBS_BATCH 1000

typedef struct sr_rsubs sr_rsubs;

/* conn NULL: a set that sends nothing. */
int sr_rsubs_new(sr_rsubs **out, uv_loop_t *loop, sr_rconn *conn);
/* Switches to SSUBSCRIBE / SUNSUBSCRIBE (call it before the first
 * sr_rsubs_set); on_error(ud, err) gets the error
 * replies to them (after their slot's channels were marked unsent). */
void sr_rsubs_set_sharded(sr_rsubs *s, void (*on_error)(void *ud, const char *err), void *ud);
/* Frees at once (the flush handle is freed once libuv closes it). */
void sr_rsubs_free(sr_rsubs *s);

/* Marks channel[0..len) wanted or not; sent at the end of the loop turn.
 * 0 or SR_ENOMEM. */
int sr_rsubs_set(sr_rsubs *s, const char *channel, size_t len, int wanted);
int sr_rsubs_is_wanted(const sr_rsubs *s, const char *channel, size_t len);

/* Wire these to the connection's callbacks. */
void sr_rsubs_on_up(sr_rsubs *s);
void sr_rsubs_on_down(sr_rsubs *s);
void sr_rsubs_on_push(sr_rsubs *s, const redisReply *push);

/* The server dropped channel[0..len) on its own (a sunsubscribe push
 * nobody asked for: its slot moved): it is no longer subscribed. */
void sr_rsubs_forget(sr_rsubs *s, const char *channel, size_t len);
/* Sends at the end of the turn what wanted channels are missing (after the
 * owner moved channels away from a slot's old owner, say). */
void sr_rsubs_resync(sr_rsubs *s);
/* Calls fn for every wanted channel. fn may call sr_rsubs_set(s, ..., 0)
 * on s itself (that never frees or moves an entry) and anything on other
 * sets. */
void sr_rsubs_each_wanted(sr_rsubs *s, void (*fn)(void *ud, const char *channel, size_t len),
                          void *ud);

/* Channels wanted now. */
size_t sr_rsubs_wanted_count(const sr_rsubs *s);
/* The count Redis reported in its last (un)subscribe confirmation on the
 * current connection (0 while down). */
size_t sr_rsubs_confirmed_count(const sr_rsubs *s);
/* SUBSCRIBE / UNSUBSCRIBE commands written since creation. */
unsigned long sr_rsubs_commands_sent(const sr_rsubs *s);

#endif
