/* SPDX-License-Identifier: MIT */
/*
 * defer.h: run a callback at the end of the current loop turn, the one
 * end-of-turn scheduler of the library (the server's flush of dirty
 * connections and fan-out sweep slices, a Redis connection's command
 * write, the Redis subscription flush).
 *
 * Work requested several times during one turn is coalesced into one call
 * made in the loop's check phase, right after this turn's I/O callbacks.
 * While a call is wanted an idle handle is active, which makes the loop's
 * poll return at once instead of blocking: work armed from a timer, from
 * another check or prepare callback, or from the callback itself (a sweep
 * with slices left) runs in the next turn without waiting for I/O, and the
 * requests that arrived meanwhile are read first.
 *
 * Two modes:
 *  - armed (sr_defer_new): the callback runs once per sr_defer_arm; the
 *    handles are active only while armed, and keep the loop alive until
 *    the call is made, so an idle loop can still exit.
 *  - every turn (sr_defer_every_turn): the callback also runs at the end
 *    of every turn that saw any I/O or timer, armed or not, without
 *    keeping the loop alive; arming only keeps the next poll from
 *    blocking. The server uses it, so that work it finds without being
 *    told (connections doomed during a fan-out) is still done this turn.
 */
#ifndef SR_LOOP_DEFER_H
#define SR_LOOP_DEFER_H

#include <uv.h>

typedef struct sr_defer sr_defer;
typedef void (*sr_defer_fn)(void *ud);

/* NULL when out of memory. */
sr_defer *sr_defer_new(uv_loop_t *loop, sr_defer_fn fn, void *ud);
/* Switches d to the every-turn mode (once, right after sr_defer_new). */
void sr_defer_every_turn(sr_defer *d);
/* Schedules fn (once, however often this is called before it runs). */
void sr_defer_arm(sr_defer *d);
/* Takes back an arm not yet run (the every-turn call still happens). */
void sr_defer_cancel(sr_defer *d);
/* Cancels and closes; closed(ud), when not NULL, is called once libuv has
 * closed the handles, right before the memory is freed (at once when d was
 * never armed nor switched to every turn: it has no handles yet). fn is
 * not called again after this. */
void sr_defer_close(sr_defer *d, sr_defer_fn closed);
/* sr_defer_close(d, NULL); NULL is ignored. */
void sr_defer_free(sr_defer *d);

#endif
