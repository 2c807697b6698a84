/* SPDX-License-Identifier: MIT */
/*
 * defer.c: end-of-turn callbacks on a uv_check + uv_idle pair (see
 * defer.h). The check handle makes the call; the idle handle, active while
 * a call is wanted, only makes the loop's poll not block before it. The
 * handles are made on first use, so a defer that never ran is freed at
 * once, without a loop turn (the server's listen can fail after making
 * its defer and leave nothing on the loop).
 */
#include "loop/defer.h"

#include <stdbool.h>
#include <stdlib.h>

struct sr_defer {
    uv_check_t check;
    uv_idle_t idle;
    uv_loop_t *loop;
    sr_defer_fn fn;
    sr_defer_fn closed;
    void *ud;
    bool armed;
    bool every_turn;
    bool closing;
    bool has_handles;
    int open_handles;
};

static void on_check(uv_check_t *h) {
    sr_defer *d = h->data;
    if (!d->armed && !d->every_turn) return;
    sr_defer_cancel(d);
    d->fn(d->ud); /* may arm again */
}

static void on_idle(uv_idle_t *h) {
    (void)h; /* only there so that poll does not block while a call waits */
}

sr_defer *sr_defer_new(uv_loop_t *loop, sr_defer_fn fn, void *ud) {
    sr_defer *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->loop = loop;
    d->fn = fn;
    d->ud = ud;
    return d;
}

static void make_handles(sr_defer *d) {
    if (d->has_handles) return;
    d->has_handles = true;
    uv_check_init(d->loop, &d->check);
    uv_idle_init(d->loop, &d->idle);
    d->check.data = d;
    d->idle.data = d;
    d->open_handles = 2;
}

void sr_defer_every_turn(sr_defer *d) {
    make_handles(d);
    d->every_turn = true;
    uv_unref((uv_handle_t *)&d->check);
    uv_unref((uv_handle_t *)&d->idle);
    uv_check_start(&d->check, on_check);
}

void sr_defer_arm(sr_defer *d) {
    if (d->armed || d->closing) return;
    make_handles(d);
    d->armed = true;
    if (!d->every_turn) uv_check_start(&d->check, on_check);
    uv_idle_start(&d->idle, on_idle);
}

void sr_defer_cancel(sr_defer *d) {
    if (!d->armed) return;
    d->armed = false;
    if (!d->every_turn) uv_check_stop(&d->check);
    uv_idle_stop(&d->idle);
}

static void on_closed(uv_handle_t *h) {
    sr_defer *d = h->data;
    if (--d->open_handles > 0) return;
    if (d->closed) d->closed(d->ud);
    free(d);
}

void sr_defer_close(sr_defer *d, sr_defer_fn closed) {
    d->armed = false;
    d->every_turn = false;
    d->closing = true;
    d->closed = closed;
    if (!d->has_handles) {
        if (closed) closed(d->ud);
        free(d);
        return;
    }
    uv_close((uv_handle_t *)&d->check, on_closed);
    uv_close((uv_handle_t *)&d->idle, on_closed);
}

void sr_defer_free(sr_defer *d) {
    if (d) sr_defer_close(d, NULL);
}
