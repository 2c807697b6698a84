/* SPDX-License-Identifier: MIT */
/*
 * transitions.c: the Redis adapter's state changes as log lines, each
 * logged once (classic mode: one publisher, one subscriber connection).
 *
 *   redis connected      both connections up (again: with how long it was
 *                        down)
 *   redis lost           the first connection to fail while both were up,
 *                        with its reason ("connection lost: closed by ...")
 *   redis canary timeout the same, when the liveness canary dropped the
 *                        subscriber (it never came back through Redis)
 *   redis auth refused   a handshake refused by AUTH (wrong password or
 *                        user); said again only after another outcome
 *   redis unreachable    the first connection attempts failing from start
 *   redis resubscribed   after a reconnect, every wanted channel confirmed
 *                        again, with how many
 *
 * Retries failing the same way stay quiet (debug level: "redis attempt
 * failed"): a Redis down for an hour is one
 * "lost" line and one "connected" line, not one per back-off. The lines go
 * to the hook set with sr_redis_adapter_on_log (the server's log).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "redis/adapter_int.h"
#include "redis/subs.h"

void sr_redis_adapter_on_log(sr_redis_adapter *a, sr_redis_log_fn fn, void *ud) {
    a->log = fn;
    a->log_ud = ud;
}

static void say(sr_redis_adapter *a, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(sr_redis_adapter *a, int level, const char *fmt, ...) {
    if (!a->log) return;
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    a->log(a->log_ud, level, line);
}

/* Redis's answers to a refused AUTH (6.x/7.x: WRONGPASS; older: "ERR
 * invalid password"; NOAUTH when a password is needed and none was sent). */
static int is_auth_error(const char *err) {
    return strstr(err, "WRONGPASS") || strstr(err, "NOAUTH") || strstr(err, "invalid password") ||
           strstr(err, "invalid username-password") || strstr(err, "AUTH <password> called without");
}

static const char *role_of(const sr_redis_adapter *a, const sr_rconn *c) {
    return c == a->pub ? "publisher" : "subscriber";
}

void sr_redis_transition_up(sr_redis_adapter *a, sr_rconn *c) {
    if (c == a->sub && sr_rconn_up_count(c) > 1) a->log_resub_pending = 1;
    if (a->log_up || sr_rconn_get_state(a->pub) != SR_RCONN_UP ||
        sr_rconn_get_state(a->sub) != SR_RCONN_UP)
        return;
    uint64_t now = uv_now(a->loop);
    if (a->log_down_since)
        say(a, SR_LOG_INFO, "redis connected: %s again after %llu ms down", sr_rconn_where(c),
            (unsigned long long)(now - a->log_down_since));
    else
        say(a, SR_LOG_INFO, "redis connected: %s", sr_rconn_where(c));
    a->log_up = 1;
    a->log_last = SR_REDIS_LOGGED_NOTHING;
    sr_redis_transition_subscribed(a);
}

void sr_redis_transition_down(sr_redis_adapter *a, sr_rconn *c, const char *err) {
    if (!err) err = "unknown";
    if (a->log_up) {
        a->log_up = 0;
        a->log_down_since = uv_now(a->loop);
        if (!a->log_down_since) a->log_down_since = 1;
        a->log_resub_pending = 0;
        if (strncmp(err, "liveness canary", 15) == 0) {
            say(a, SR_LOG_WARN, "redis canary timeout: %s; reconnecting the %s", err, role_of(a, c));
            a->log_last = SR_REDIS_LOGGED_LOST;
        } else if (is_auth_error(err)) {
            say(a, SR_LOG_ERROR, "redis auth refused: %s: %s (check the password in the URL)",
                role_of(a, c), err);
            a->log_last = SR_REDIS_LOGGED_AUTH;
        } else {
            say(a, SR_LOG_WARN, "redis lost: %s: %s", role_of(a, c), err);
            a->log_last = SR_REDIS_LOGGED_LOST;
        }
        return;
    }
    if (is_auth_error(err) && a->log_last != SR_REDIS_LOGGED_AUTH) {
        say(a, SR_LOG_ERROR, "redis auth refused: %s: %s (check the password in the URL)",
            role_of(a, c), err);
        a->log_last = SR_REDIS_LOGGED_AUTH;
    } else if (!is_auth_error(err) && a->log_last == SR_REDIS_LOGGED_NOTHING) {
        say(a, SR_LOG_WARN, "redis unreachable: %s: %s; retrying", role_of(a, c), err);
        a->log_last = SR_REDIS_LOGGED_UNREACHABLE;
    } else {
        /* the same outage going on: only at debug level */
        say(a, SR_LOG_DEBUG, "redis attempt failed: %s: %s", role_of(a, c), err);
    }
}

void sr_redis_transition_subscribed(sr_redis_adapter *a) {
    if (!a->log_resub_pending || !a->log_up || sr_rsubs_resyncing(a->subs) ||
        sr_rconn_get_state(a->sub) != SR_RCONN_UP)
        return;
    a->log_resub_pending = 0;
    size_t n = sr_rsubs_confirmed_count(a->subs);
    say(a, SR_LOG_INFO, "redis resubscribed: %zu channels confirmed again", n);
}
