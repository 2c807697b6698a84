/* SPDX-License-Identifier: MIT */
/*
 * defer.h: run a callback once at the end of the current loop turn.
 *
 * Work requested several times during one turn (commands to write,
 * subscription changes to flush) is coalesced into one call made before
 * the loop next blocks for I/O: from a uv_check handle (right after the
 * I/O callbacks of this turn) or a uv_prepare handle (after timers), both
 * started only while armed so an idle loop can still exit.
 */
#ifndef SR_REDIS_DEFER_H
#define SR_REDIS_DEFER_H

#include <uv.h>

typedef struct sr_defer sr_defer;
typedef void (*sr_defer_fn)(void *ud);

/* NULL when out of memory or the handles cannot be initialised. */
sr_defer *sr_defer_new(uv_loop_t *loop, sr_defer_fn fn, void *ud);
/* Schedules fn (once, however often this is called before it runs). */
void sr_defer_arm(sr_defer *d);
/* Cancels and closes; the memory is freed when libuv has closed the handles. */
void sr_defer_free(sr_defer *d);

#endif
