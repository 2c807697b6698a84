/* SPDX-License-Identifier: MIT */
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
#include <stdint.h>

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

/* Confirmation and loss (see subs.c's head comment). fn(ud, channel, len,
 * lost_ms) runs when Redis confirms the subscription of a wanted channel
 * that was lost since lost_ms (wall clock ms): messages published to it
 * meanwhile may not have arrived. fn must not change this set. */
typedef void (*sr_rsubs_recovered_fn)(void *ud, const char *channel, size_t len, uint64_t lost_ms);
void sr_rsubs_on_recovered(sr_rsubs *s, sr_rsubs_recovered_fn fn, void *ud);
/* Wanted channels whose subscription Redis has not confirmed (yet). */
size_t sr_rsubs_pending_count(const sr_rsubs *s);
/* 1 from the connection's (re)start until Redis confirmed every channel
 * that was wanted then (or it was left): publishes and readiness wait for
 * that. Channels joined later do not hold it back. */
int sr_rsubs_resyncing(const sr_rsubs *s);
/* Moving a channel between sets (cluster slot moves): the time it was lost
 * in this set, cleared (0: not lost); and marking it lost in the set it
 * moves to (only when wanted there; the earlier of two times is kept). */
uint64_t sr_rsubs_take_lost(sr_rsubs *s, const char *channel, size_t len);
void sr_rsubs_mark_lost(sr_rsubs *s, const char *channel, size_t len, uint64_t since_ms);
/* The time a channel leaving this set counts as lost since: its lost time,
 * now_ms when it is (being) subscribed, 0 when it never was. */
uint64_t sr_rsubs_lost_or_live(const sr_rsubs *s, const char *channel, size_t len, uint64_t now_ms);
/* Wall clock in ms. */
uint64_t sr_rsubs_wall_ms(void);

/* Channels wanted now. */
size_t sr_rsubs_wanted_count(const sr_rsubs *s);
/* The count Redis reported in its last (un)subscribe confirmation on the
 * current connection (0 while down). */
size_t sr_rsubs_confirmed_count(const sr_rsubs *s);
/* SUBSCRIBE / UNSUBSCRIBE commands written since creation. */
unsigned long sr_rsubs_commands_sent(const sr_rsubs *s);

#endif
