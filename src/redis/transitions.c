/* SPDX-License-Identifier: MIT */
/*
 * transitions.c: the Redis adapter's state changes as log lines, each
 * logged once: in classic mode for the one Redis (one publisher, one
 * subscriber connection), in cluster mode for each shard (its publisher
 * and subscriber), the line then naming the shard ("redis lost: shard
 * 127.0.0.1:7001: subscriber: ..."). One state (sr_redis_logstate) per
 * Redis or shard remembers what was said last.
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
 * The cluster's control connection (reading the slot map) is not logged:
 * it moves between candidates by design, and a map nobody can read shows
 * as the shards' own lines.
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
           strstr(err, "invalid username-password") ||
           strstr(err, "AUTH <password> called without");
}

/* One Redis (classic) or one shard (cluster): shard is NULL for the
 * classic Redis, else "shard <addr>" names it in each line. */
typedef struct unit {
    sr_redis_logstate *st;
    const char *shard;
    sr_rconn *pub, *sub;
    sr_rsubs *subs;
} unit;

static const char *role_of(const unit *u, const sr_rconn *c) {
    return c == u->pub ? "publisher" : "subscriber";
}

static void unit_subscribed(sr_redis_adapter *a, const unit *u) {
    sr_redis_logstate *st = u->st;
    if (!st->resub_pending || !st->up || sr_rsubs_resyncing(u->subs) ||
        sr_rconn_get_state(u->sub) != SR_RCONN_UP)
        return;
    st->resub_pending = 0;
    size_t n = sr_rsubs_confirmed_count(u->subs);
    say(a, SR_LOG_INFO, "redis resubscribed: %s%s%zu channels confirmed again",
        u->shard ? u->shard : "", u->shard ? ": " : "", n);
}

static void unit_up(sr_redis_adapter *a, const unit *u, sr_rconn *c) {
    sr_redis_logstate *st = u->st;
    if (c == u->sub && sr_rconn_up_count(c) > 1) st->resub_pending = 1;
    if (st->up || sr_rconn_get_state(u->pub) != SR_RCONN_UP ||
        sr_rconn_get_state(u->sub) != SR_RCONN_UP)
        return;
    uint64_t now = uv_now(a->loop);
    const char *who = u->shard ? u->shard : sr_rconn_where(c);
    if (st->down_since)
        say(a, SR_LOG_INFO, "redis connected: %s again after %llu ms down", who,
            (unsigned long long)(now - st->down_since));
    else say(a, SR_LOG_INFO, "redis connected: %s", who);
    st->up = 1;
    st->last = SR_REDIS_LOGGED_NOTHING;
    unit_subscribed(a, u);
}

static void unit_down(sr_redis_adapter *a, const unit *u, sr_rconn *c, const char *err) {
    sr_redis_logstate *st = u->st;
    const char *sh = u->shard ? u->shard : "", *sep = u->shard ? ": " : "";
    if (!err) err = "unknown";
    if (st->up) {
        st->up = 0;
        st->down_since = uv_now(a->loop);
        if (!st->down_since) st->down_since = 1;
        st->resub_pending = 0;
        if (strncmp(err, "liveness canary", 15) == 0) {
            say(a, SR_LOG_WARN, "redis canary timeout: %s%s%s; reconnecting the %s", sh, sep, err,
                role_of(u, c));
            st->last = SR_REDIS_LOGGED_LOST;
        } else if (is_auth_error(err)) {
            say(a, SR_LOG_ERROR, "redis auth refused: %s%s%s: %s (check the password in the URL)",
                sh, sep, role_of(u, c), err);
            st->last = SR_REDIS_LOGGED_AUTH;
        } else {
            say(a, SR_LOG_WARN, "redis lost: %s%s%s: %s", sh, sep, role_of(u, c), err);
            st->last = SR_REDIS_LOGGED_LOST;
        }
        return;
    }
    if (is_auth_error(err) && st->last != SR_REDIS_LOGGED_AUTH) {
        say(a, SR_LOG_ERROR, "redis auth refused: %s%s%s: %s (check the password in the URL)", sh,
            sep, role_of(u, c), err);
        st->last = SR_REDIS_LOGGED_AUTH;
    } else if (!is_auth_error(err) && st->last == SR_REDIS_LOGGED_NOTHING) {
        say(a, SR_LOG_WARN, "redis unreachable: %s%s%s: %s; retrying", sh, sep, role_of(u, c), err);
        st->last = SR_REDIS_LOGGED_UNREACHABLE;
    } else {
        /* the same outage going on: only at debug level */
        say(a, SR_LOG_DEBUG, "redis attempt failed: %s%s%s: %s", sh, sep, role_of(u, c), err);
    }
}

static unit classic_unit(sr_redis_adapter *a) {
    return (unit){&a->log_state, NULL, a->pub, a->sub, a->subs};
}

void sr_redis_transition_up(sr_redis_adapter *a, sr_rconn *c) {
    unit u = classic_unit(a);
    unit_up(a, &u, c);
}

void sr_redis_transition_down(sr_redis_adapter *a, sr_rconn *c, const char *err) {
    unit u = classic_unit(a);
    unit_down(a, &u, c, err);
}

void sr_redis_transition_subscribed(sr_redis_adapter *a) {
    unit u = classic_unit(a);
    unit_subscribed(a, &u);
}

void sr_redis_shard_transition_up(sr_redis_adapter *a, sr_redis_logstate *st, const char *addr,
                                  sr_rconn *pub, sr_rconn *sub, sr_rsubs *subs, sr_rconn *c) {
    char name[320];
    snprintf(name, sizeof name, "shard %s", addr);
    unit u = {st, name, pub, sub, subs};
    unit_up(a, &u, c);
}

void sr_redis_shard_transition_down(sr_redis_adapter *a, sr_redis_logstate *st, const char *addr,
                                    sr_rconn *pub, sr_rconn *c, const char *err) {
    char name[320];
    snprintf(name, sizeof name, "shard %s", addr);
    unit u = {st, name, pub, NULL, NULL};
    unit_down(a, &u, c, err);
}

void sr_redis_shard_transition_subscribed(sr_redis_adapter *a, sr_redis_logstate *st,
                                          const char *addr, sr_rconn *sub, sr_rsubs *subs) {
    char name[320];
    snprintf(name, sizeof name, "shard %s", addr);
    unit u = {st, name, NULL, sub, subs};
    unit_subscribed(a, &u);
}
