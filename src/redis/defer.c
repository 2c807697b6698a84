/* SPDX-License-Identifier: MIT */
/*
 * defer.c: end-of-turn callbacks on a uv_check + uv_prepare pair (see defer.h).
 */
#include "redis/defer.h"

#include <stdlib.h>

struct sr_defer {
    uv_check_t check;
    uv_prepare_t prepare;
    sr_defer_fn fn;
    void *ud;
    int armed;
    int open_handles;
};

static void fire(sr_defer *d) {
    if (!d->armed) return;
    d->armed = 0;
    uv_check_stop(&d->check);
    uv_prepare_stop(&d->prepare);
    d->fn(d->ud); /* may re-arm */
}

static void on_check(uv_check_t *h) {
    fire(h->data);
}

static void on_prepare(uv_prepare_t *h) {
    fire(h->data);
}

sr_defer *sr_defer_new(uv_loop_t *loop, sr_defer_fn fn, void *ud) {
    sr_defer *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->fn = fn;
    d->ud = ud;
    uv_check_init(loop, &d->check);
    uv_prepare_init(loop, &d->prepare);
    d->check.data = d;
    d->prepare.data = d;
    d->open_handles = 2;
    return d;
}

void sr_defer_arm(sr_defer *d) {
    if (d->armed) return;
    d->armed = 1;
    uv_check_start(&d->check, on_check);
    uv_prepare_start(&d->prepare, on_prepare);
}

static void on_closed(uv_handle_t *h) {
    sr_defer *d = h->data;
    if (--d->open_handles == 0) free(d);
}

void sr_defer_free(sr_defer *d) {
    if (!d) return;
    d->armed = 0;
    uv_close((uv_handle_t *)&d->check, on_closed);
    uv_close((uv_handle_t *)&d->prepare, on_closed);
}
