/* SPDX-License-Identifier: MIT */
/*
 * history.c: resume history in Redis, shared by every node (docs/resume.md).
 *
 * Keys (one hash tag, so that each script's keys share a slot):
 *   {<prefix>}#seq        hash: epoch, n (the newest counter), ct/cn and
 *                         pt/pn (checkpoints: the counter n had at time ct,
 *                         and at the checkpoint before, pt)
 *   {<prefix>}#h:<room>   list of "<counter>:<ms>:<envelope>", oldest first
 *   {<prefix>}#m:<room>   hash: d (newest counter dropped from the room),
 *                         p (newest counter published to it)
 * '#' cannot appear in a room name, so no room's keys meet another's.
 *
 * Publishing (PUBLISH_SCRIPT) is one Lua script, like sequence.c's: it
 * increments n, formats "<epoch>-<12 digits>", appends the envelope carrying
 * that id to each room's list, trims the list to the count bound and drops
 * entries older than the age bound (remembering the newest dropped counter
 * in d), and PUBLISHes the envelope to each room's channel. Redis runs one
 * script at a time, so ids, history and delivery share one order. When the
 * hash is missing (a new Redis, or Redis lost its data) the script makes a
 * new epoch from Redis's clock (milliseconds) and starts n again at 1: ids
 * of before are then "another epoch", never reused.
 *
 * Age: a list and its m hash get PEXPIRE ttl / max(ttl, 24 h) on each
 * publish to the room; a list that expired while its m hash lives lost
 * everything up to p. A room whose m hash expired (no publish for that
 * long) cannot say what it dropped; the checkpoints bound it: its last
 * counter is at most pn (or cn) when pt (or ct) is less than that long ago,
 * else at most n. Checkpoints move every 12 h or so, so only an id older than
 * about that gets a reset for such a room without a reason to.
 *
 * Fetching (REPLAY_SCRIPT) answers {status, epoch, n, envelopes...}: "epoch"
 * when the id's epoch is not the current one, "unknown" when its counter is
 * past n, "gone" when some room dropped (or aged out) a message after it,
 * else "ok" and the envelopes after it, merged in counter order, each once.
 * A list holds each counter once, in order, so the ones after the id are
 * within its last n - after entries: only those are read (a fill after a
 * short outage reads a few entries, not the whole history).
 * Before the script runs, two PINGs go through the subscriber connection:
 * the first is queued before the end-of-turn flush of the stream's new
 * SUBSCRIBEs (subs.h), the second after it, so its answer means every
 * subscription made before the fetch is active; whatever is published after
 * the script ran then arrives live (see server/history_resume.c). When the
 * publisher is not up at that point (it reconnects after the subscriber:
 * a fill right after a recovery) the script waits for it, and fails with
 * its next failed attempt.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/adapter_int.h"
#include "redis/envelope.h"
#include "redis/history.h"

/* The Lua scripts are kept one line of Lua per line of C, out of
 * clang-format's reach (it would join a line with the macro after it). */
/* clang-format off */
/* Both scripts start the same way, with `ttl` set: the time in ms, how
 * long a room's record is kept, and the epoch (made when Redis has none). */
#define SR_HISTORY_LUA_NOW_AND_EPOCH \
    "local t = redis.call('TIME')\n" \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
    "local keep = ttl\n" \
    "if keep < 86400000 then keep = 86400000 end\n" \
    "local epoch = redis.call('HGET', KEYS[1], 'epoch')\n" \
    "if not epoch then\n" \
    "  epoch = string.format('%d', now)\n" \
    "  redis.call('HSET', KEYS[1], 'epoch', epoch, 'n', 0, 'ct', now, 'cn', 0)\n" \
    "end\n"

static const char publish_script[] =
    "local cap = tonumber(ARGV[1])\n"
    "local ttl = tonumber(ARGV[2])\n"
    SR_HISTORY_LUA_NOW_AND_EPOCH
    "local n = redis.call('HINCRBY', KEYS[1], 'n', 1)\n"
    "if n < 1 or n > 999999999999 then\n"
    "  return redis.error_reply('SRSEQ history counter ' .. string.format('%d', n) .. ' is outside 1..999999999999')\n"
    "end\n"
    "local ck = redis.call('HMGET', KEYS[1], 'ct', 'cn')\n"
    "if now - tonumber(ck[1] or '0') > keep / 2 then\n"
    "  redis.call('HSET', KEYS[1], 'pt', ck[1] or '0', 'pn', ck[2] or '0', 'ct', now, 'cn', n)\n"
    "end\n"
    "local digits = string.format('%d', n)\n"
    "local id = epoch .. '-' .. string.rep('0', 12 - #digits) .. digits\n"
    "local body = ARGV[3] .. id .. ARGV[4]\n"
    "local entry = digits .. ':' .. string.format('%d', now) .. ':' .. body\n"
    "for i = 2, #KEYS, 2 do\n"
    "  local h, m = KEYS[i], KEYS[i + 1]\n"
    "  local len = redis.call('RPUSH', h, entry)\n"
    "  local dropped = 0\n"
    "  if len > cap then\n"
    "    local last = redis.call('LINDEX', h, len - cap - 1)\n"
    "    dropped = tonumber(string.match(last, '^(%d+):'))\n"
    "    redis.call('LTRIM', h, len - cap, -1)\n"
    "  end\n"
    "  if ttl > 0 then\n"
    "    while true do\n"
    "      local head = redis.call('LINDEX', h, 0)\n"
    "      if not head then break end\n"
    "      local c, ts = string.match(head, '^(%d+):(%d+):')\n"
    "      if tonumber(ts) >= now - ttl then break end\n"
    "      redis.call('LPOP', h)\n"
    "      dropped = tonumber(c)\n"
    "    end\n"
    "    redis.call('PEXPIRE', h, ttl)\n"
    "  end\n"
    "  if dropped > 0 then redis.call('HSET', m, 'd', string.format('%d', dropped)) end\n"
    "  redis.call('HSET', m, 'p', digits)\n"
    "  if ttl > 0 then redis.call('PEXPIRE', m, keep) end\n"
    "end\n"
    "for i = 5, #ARGV do redis.call('PUBLISH', ARGV[i], body) end\n"
    "return id\n";

static const char replay_script[] =
    "local ttl = tonumber(ARGV[3])\n"
    SR_HISTORY_LUA_NOW_AND_EPOCH
    "local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')\n"
    "if ARGV[1] ~= epoch then return {'epoch', epoch, n} end\n"
    "local after = tonumber(ARGV[2])\n"
    "if after > n then return {'unknown', epoch, n} end\n"
    "local found, order = {}, {}\n"
    "for i = 2, #KEYS, 2 do\n"
    "  local m = redis.call('HMGET', KEYS[i + 1], 'd', 'p')\n"
    "  if m[2] then\n"
    "    if tonumber(m[1] or '0') > after then return {'gone', epoch, n} end\n"
    "    local items = {}\n"
    "    if n > after then items = redis.call('LRANGE', KEYS[i], after - n, -1) end\n"
    "    if #items == 0 and tonumber(m[2]) > after then return {'gone', epoch, n} end\n"
    "    for j = #items, 1, -1 do\n"
    "      local c, ts, body = string.match(items[j], '^(%d+):(%d+):(.*)$')\n"
    "      c = tonumber(c)\n"
    "      if c <= after then break end\n"
    "      if ttl > 0 and tonumber(ts) < now - ttl then return {'gone', epoch, n} end\n"
    "      if not found[c] then found[c] = body; order[#order + 1] = c end\n"
    "    end\n"
    "  elseif ttl > 0 then\n"
    "    local ck = redis.call('HMGET', KEYS[1], 'pt', 'pn', 'ct', 'cn')\n"
    "    local bound = n\n"
    "    if tonumber(ck[1] or '0') >= now - keep then bound = tonumber(ck[2] or n)\n"
    "    elseif tonumber(ck[3] or '0') >= now - keep then bound = tonumber(ck[4] or n) end\n"
    "    if after < bound then return {'gone', epoch, n} end\n"
    "  end\n"
    "end\n"
    "table.sort(order)\n"
    "local out = {'ok', epoch, n}\n"
    "for k = 1, #order do out[#out + 1] = found[order[k]] end\n"
    "return out\n";
/* clang-format on */

/* --- keys ------------------------------------------------------------------ */

/* "{<prefix>}#<what><room>", malloc'd. */
static char *key_of(const sr_redis_adapter *a, const char *what, const char *room, size_t *len) {
    size_t room_len = room ? strlen(room) : 0, what_len = strlen(what);
    size_t n = a->prefix_len + 3 + what_len + room_len;
    char *k = malloc(n + 1);
    if (!k) return NULL;
    k[0] = '{';
    memcpy(k + 1, a->prefix, a->prefix_len);
    k[1 + a->prefix_len] = '}';
    k[2 + a->prefix_len] = '#';
    memcpy(k + 3 + a->prefix_len, what, what_len);
    if (room_len) memcpy(k + 3 + a->prefix_len + what_len, room, room_len);
    k[n] = '\0';
    *len = n;
    return k;
}

/* An argument vector whose strings the vector owns (own[i] != 0). */
typedef struct args {
    const char **v;
    size_t *lens;
    unsigned char *own;
    size_t n, cap;
} args;

static int args_init(args *g, size_t cap) {
    g->v = calloc(cap, sizeof(*g->v));
    g->lens = calloc(cap, sizeof(*g->lens));
    g->own = calloc(cap, 1);
    g->n = 0;
    g->cap = cap;
    return g->v && g->lens && g->own ? 0 : -1;
}

static void args_free(args *g) {
    for (size_t i = 0; g->own && i < g->n; i++)
        if (g->own[i]) free((char *)g->v[i]);
    free(g->v);
    free(g->lens);
    free(g->own);
    memset(g, 0, sizeof(*g));
}

static void args_put(args *g, const char *s, size_t len, int own) {
    g->v[g->n] = s;
    g->lens[g->n] = len;
    g->own[g->n] = (unsigned char)own;
    g->n++;
}

static int args_put_copy(args *g, const char *s, size_t len) {
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = '\0';
    args_put(g, c, len, 1);
    return 0;
}

/* EVAL <script> <1 + 2 n> {p}#seq ({p}#h:room {p}#m:room)... */
static int args_script_keys(args *g, const sr_redis_adapter *a, const char *script,
                            size_t script_len, const char *const *rooms, size_t n_rooms,
                            char *numkeys, size_t numkeys_cap) {
    args_put(g, "EVAL", 4, 0);
    args_put(g, script, script_len, 0);
    int nk = snprintf(numkeys, numkeys_cap, "%zu", 1 + 2 * n_rooms);
    args_put(g, numkeys, (size_t)nk, 0);
    size_t len;
    char *k = key_of(a, "seq", NULL, &len);
    if (!k) return -1;
    args_put(g, k, len, 1);
    for (size_t i = 0; i < n_rooms; i++) {
        if (!(k = key_of(a, "h:", rooms[i], &len))) return -1;
        args_put(g, k, len, 1);
        if (!(k = key_of(a, "m:", rooms[i], &len))) return -1;
        args_put(g, k, len, 1);
    }
    return 0;
}

/* --- publishing ------------------------------------------------------------ */

typedef struct publish_call {
    sr_redis_adapter *a;
    sr_sequence_fn done;
    void *ud;
    size_t n_rooms; /* the script PUBLISHes once per room: counted like PUBLISH */
} publish_call;

static void on_publish_reply(void *ud, redisReply *reply, const char *err) {
    publish_call *call = ud;
    sr_redis_adapter *a = call->a;
    char why[512];
    const char *text = why;
    int rc = 0;
    if (!err && reply && reply->type == REDIS_REPLY_STRING && reply->len > 13 &&
        reply->len < SR_SEQUENCE_ID_MAX) {
        a->n.sequenced++;
        a->n.published += call->n_rooms;
        text = reply->str;
    } else {
        a->n.sequence_failures++;
        a->n.publish_failures += call->n_rooms;
        if (!reply && a->closed) {
            rc = SR_ECLOSED;
            snprintf(why, sizeof why, "the redis adapter closed before redis answered");
        } else if (!reply) {
            rc = SR_EADAPTER;
            snprintf(why, sizeof why, "redis unreachable: %s", err ? err : "no reply");
        } else if (err && strncmp(err, "SRSEQ ", 6) == 0) {
            rc = SR_ETOOBIG;
            snprintf(why, sizeof why, "history exhausted: %s", err + 6);
        } else {
            rc = SR_EADAPTER;
            snprintf(why, sizeof why, "redis refused: %s", err ? err : "unexpected reply");
        }
    }
    sr_sequence_fn done = call->done;
    void *done_ud = call->ud;
    free(call);
    done(done_ud, rc, text); /* last: it may close the adapter */
}

int sr_redis_history_publish(sr_redis_adapter *a, const char *const *rooms, size_t n_rooms,
                             const sr_message *msg, const char *meta, size_t meta_len,
                             const sr_history_limits *lim, sr_sequence_fn done, void *ud) {
    if (a->closed) return SR_ECLOSED;
    if (!rooms || !n_rooms || !msg || !lim || !lim->max_messages || !done || n_rooms > 100000)
        return SR_EINVAL;
    if (!sr_redis_adapter_can_publish(a)) { /* down, or not resubscribed yet */
        a->n.sequence_failures++;
        a->n.publish_failures += n_rooms;
        return SR_EADAPTER;
    }
    int rc = SR_ENOMEM;
    args g = {0};
    char numkeys[24], cap[24], ttl[24];
    size_t body_len = 0, id_at = 0;
    char *body = NULL;
    publish_call *call = malloc(sizeof(*call));
    if (!call || args_init(&g, 3 + 1 + 2 * n_rooms + 4 + n_rooms) < 0) goto out;
    if (!(body = sr_envelope_encode_id_slot(msg, a->seq_node_id, meta, meta_len, &body_len,
                                            &id_at)))
        goto out;
    if (args_script_keys(&g, a, publish_script, sizeof publish_script - 1, rooms, n_rooms, numkeys,
                         sizeof numkeys) < 0)
        goto out;
    args_put(&g, cap, (size_t)snprintf(cap, sizeof cap, "%u", lim->max_messages), 0);
    args_put(&g, ttl, (size_t)snprintf(ttl, sizeof ttl, "%u", lim->ttl_ms), 0);
    args_put(&g, body, id_at, 0);
    args_put(&g, body + id_at, body_len - id_at, 0);
    for (size_t i = 0; i < n_rooms; i++) {
        size_t len;
        char *ch = sr_redis_adapter_channel(a, rooms[i], strlen(rooms[i]), NULL, 0, &len);
        if (!ch) goto out;
        args_put(&g, ch, len, 1);
    }
    call->a = a;
    call->done = done;
    call->ud = ud;
    call->n_rooms = n_rooms;
    rc = sr_rconn_command(a->pub, (int)g.n, g.v, g.lens, on_publish_reply, call);
    if (rc == 0) call = NULL;
    else if (rc != SR_ENOMEM) rc = SR_EADAPTER;
out:
    if (rc != 0) {
        a->n.sequence_failures++;
        a->n.publish_failures += n_rooms;
    }
    args_free(&g);
    free(body);
    free(call);
    return rc;
}

/* --- fetching -------------------------------------------------------------- */

typedef struct fetch_call {
    sr_redis_adapter *a;
    struct fetch_call *next_waiting; /* in a->fetch_waiting */
    sr_history_fn done;
    void *ud;
    int pongs;
    args g; /* the EVAL, built up front */
    char numkeys[24], after[24], ttl[24];
} fetch_call;

static void fetch_finish(fetch_call *call, const sr_history_reply *r) {
    sr_history_fn done = call->done;
    void *ud = call->ud;
    args_free(&call->g);
    free(call);
    done(ud, r);
}

static void fetch_fail(fetch_call *call, int rc, const char *fmt, const char *detail) {
    char why[512];
    snprintf(why, sizeof why, fmt, detail ? detail : "no reply");
    sr_history_reply r = {.rc = rc, .why = why};
    fetch_finish(call, &r);
}

static void on_replay_reply(void *ud, redisReply *reply, const char *err) {
    fetch_call *call = ud;
    sr_redis_adapter *a = call->a;
    if (err || !reply) {
        fetch_fail(call, !reply && a->closed ? SR_ECLOSED : SR_EADAPTER, "history fetch failed: %s",
                   err);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING ||
        reply->element[2]->type != REDIS_REPLY_INTEGER || reply->element[2]->integer < 0) {
        fetch_fail(call, SR_EADAPTER, "history fetch: %s", "unexpected reply from redis");
        return;
    }
    size_t n = reply->elements - 3;
    sr_envelope *envs = calloc(n ? n : 1, sizeof(*envs));
    sr_message *msgs = calloc(n ? n : 1, sizeof(*msgs));
    size_t decoded = 0;
    int ok = envs && msgs;
    for (size_t i = 0; ok && i < n; i++) {
        const redisReply *e = reply->element[3 + i];
        ok = e->type == REDIS_REPLY_STRING &&
             sr_envelope_decode(e->str, (size_t)e->len, SR_WIRE_JSON_DEPTH, &envs[i]) ==
                 SR_ENVELOPE_OK;
        if (ok) msgs[decoded++] = envs[i].msg;
    }
    if (!ok) {
        for (size_t i = 0; i < decoded; i++) sr_envelope_release(&envs[i]);
        free(envs);
        free(msgs);
        fetch_fail(call, SR_EADAPTER, "history fetch: %s",
                   "a kept message is not a valid envelope");
        return;
    }
    sr_history_reply r = {
        .rc = 0,
        .status = reply->element[0]->str,
        .epoch = reply->element[1]->str,
        .counter = (uint64_t)reply->element[2]->integer,
        .messages = msgs,
        .n_messages = decoded,
    };
    fetch_finish(call, &r);
    for (size_t i = 0; i < decoded; i++) sr_envelope_release(&envs[i]);
    free(envs);
    free(msgs);
}

static void on_sub_pong(void *ud, redisReply *reply, const char *err);

static int sub_ping(fetch_call *call) {
    static const char *const argv[] = {"PING"};
    static const size_t lens[] = {4};
    return sr_rconn_command(call->a->sub, 1, argv, lens, on_sub_pong, call);
}

static void on_sub_pong(void *ud, redisReply *reply, const char *err) {
    fetch_call *call = ud;
    sr_redis_adapter *a = call->a;
    if (err || !reply || a->closed) {
        fetch_fail(call, a->closed ? SR_ECLOSED : SR_EADAPTER, "redis subscriber unavailable: %s",
                   err);
        return;
    }
    if (call->pongs + 1 >= 2 && sr_rconn_get_state(a->pub) != SR_RCONN_UP) {
        /* the subscriber came back before the publisher (a fill right after
         * a recovery): the script runs once the publisher is up again */
        call->pongs++;
        call->next_waiting = a->fetch_waiting;
        a->fetch_waiting = call;
        return;
    }
    int rc = ++call->pongs < 2 ? sub_ping(call)
                               : sr_rconn_command(a->pub, (int)call->g.n, call->g.v, call->g.lens,
                                                  on_replay_reply, call);
    if (rc < 0) fetch_fail(call, SR_EADAPTER, "redis unavailable: %s", sr_strerror(rc));
}

void sr_redis_history_on_pub(sr_redis_adapter *a, int up) {
    fetch_call *list = a->fetch_waiting, *rev = NULL;
    a->fetch_waiting = NULL;
    while (list) { /* oldest first */
        fetch_call *next = list->next_waiting;
        list->next_waiting = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        fetch_call *call = rev;
        rev = rev->next_waiting;
        int rc = up && !a->closed ? sr_rconn_command(a->pub, (int)call->g.n, call->g.v,
                                                     call->g.lens, on_replay_reply, call)
                                  : SR_EADAPTER;
        if (rc < 0)
            fetch_fail(call, a->closed ? SR_ECLOSED : SR_EADAPTER,
                       "redis publisher unavailable: %s", sr_rconn_last_error(a->pub));
    }
}

int sr_redis_history_fetch(sr_redis_adapter *a, const char *const *rooms, size_t n_rooms,
                           const char *epoch, uint64_t after, const sr_history_limits *lim,
                           sr_history_fn done, void *ud) {
    if (a->closed) return SR_ECLOSED;
    if (!rooms || !n_rooms || !epoch || !lim || !done || n_rooms > 100000) return SR_EINVAL;
    if (!a->pub || !a->sub || sr_rconn_get_state(a->sub) != SR_RCONN_UP) return SR_EADAPTER;
    fetch_call *call = calloc(1, sizeof(*call));
    if (!call) return SR_ENOMEM;
    call->a = a;
    call->done = done;
    call->ud = ud;
    args *g = &call->g;
    if (args_init(g, 3 + 1 + 2 * n_rooms + 3) < 0 ||
        args_script_keys(g, a, replay_script, sizeof replay_script - 1, rooms, n_rooms,
                         call->numkeys, sizeof call->numkeys) < 0 ||
        args_put_copy(g, epoch, strlen(epoch)) < 0) {
        args_free(g);
        free(call);
        return SR_ENOMEM;
    }
    args_put(g, call->after,
             (size_t)snprintf(call->after, sizeof call->after, "%llu", (unsigned long long)after),
             0);
    args_put(g, call->ttl, (size_t)snprintf(call->ttl, sizeof call->ttl, "%u", lim->ttl_ms), 0);
    int rc = sub_ping(call);
    if (rc < 0) {
        args_free(g);
        free(call);
        return rc == SR_ENOMEM ? SR_ENOMEM : SR_EADAPTER;
    }
    return 0;
}

/* --- vtable ---------------------------------------------------------------- */

static int vt_history_publish(void *ctx, const char *const *rooms, size_t n_rooms,
                              const sr_message *msg, const char *meta, size_t meta_len,
                              const sr_history_limits *lim, sr_sequence_fn done, void *ud) {
    return sr_redis_history_publish(ctx, rooms, n_rooms, msg, meta, meta_len, lim, done, ud);
}

static int vt_history_fetch(void *ctx, const char *const *rooms, size_t n_rooms, const char *epoch,
                            uint64_t after, const sr_history_limits *lim, sr_history_fn done,
                            void *ud) {
    return sr_redis_history_fetch(ctx, rooms, n_rooms, epoch, after, lim, done, ud);
}

void sr_redis_history_vtable(sr_redis_adapter *a, sr_adapter *out) {
    out->history_publish = a->cluster ? NULL : vt_history_publish;
    out->history_fetch = a->cluster ? NULL : vt_history_fetch;
}
