/* SPDX-License-Identifier: MIT */
/*
 * sequence.c: ordered event ids through Redis (see adapter.h).
 *
 * A sequence is a NAME (common/seqname.h), never a Redis key: the counter
 * of name N is the string key "<prefix>seq:N" and the names in use are
 * listed in the sorted set "<prefix>seq#names", scored by last use (ms).
 * No name can give another key: the adapter checks it again here, whatever
 * the caller did.
 *
 * One Lua script does all of it, checks first and writes after, so that a
 * refused call changes nothing: read the counter (a key of another type,
 * or a string that is not an integer, is refused: "SRSEQ type"), refuse a
 * next counter outside 1..999999999999 ("SRSEQ range"), then, when the
 * name count is bounded, drop index entries older than the TTL (their
 * counters expired with them) and, for a new name past the bound, the
 * least recently used names and their counters; then SET the counter with
 * the TTL (PX, renewed on each use), format the id as the reference's
 * createRedisEventIdSequence does (<epoch>-<counter zero-padded to 12
 * digits>), and, when channels are given, PUBLISH the envelope carrying
 * that id (ARGV prefix .. id .. suffix, cut around the id's slot by
 * sr_envelope_encode_id_slot) to each of them. Redis runs one script at a
 * time, so whichever node runs it, every subscriber receives the ids in
 * increasing order; a Node.js writer doing INCRBY on the same key shares
 * the counter. The envelope's "n" is "<node id>/seq": the publishing
 * node has not delivered the message locally (its members get it back from
 * Redis, in order with everyone else's), so no node may drop it as its own
 * echo, and the reply and the echo may arrive in either order without
 * anything to match up.
 *
 * Failures reach done with a reason for the server's log, which may quote
 * Redis's error text; the HTTP layer never shows it to clients.
 *
 * Sent with EVAL, not EVALSHA: there is no script cache to lose (restart,
 * failover, SCRIPT FLUSH) and no NOSCRIPT retry, which would give the retried
 * message an id after those of calls made later. Redis keeps the compiled
 * script by its hash, so the cost is the script's text on each call.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/seqname.h"
#include "redis/adapter_int.h"
#include "redis/envelope.h"

/* KEYS: counter, index. ARGV: epoch, envelope before and after the id,
 * name, ttl ms, max names, "<prefix>seq:", channels... */
static const char sequence_script[] =
    "local ttl = tonumber(ARGV[5])\n"
    "local cap = tonumber(ARGV[6])\n"
    "local cur = redis.pcall('GET', KEYS[1])\n"
    "if type(cur) == 'table' then return redis.error_reply('SRSEQ type') end\n"
    "local n = 1\n"
    "if cur then\n"
    "  if not string.match(cur, '^%-?%d+$') then return redis.error_reply('SRSEQ type') end\n"
    "  n = tonumber(cur) + 1\n"
    "end\n"
    "if n < 1 or n > 999999999999 then return redis.error_reply('SRSEQ range') end\n"
    "if cap > 0 then\n"
    "  local t = redis.call('TIME')\n"
    "  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "  if ttl > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%d', now - ttl)) end\n"
    "  if not redis.call('ZSCORE', KEYS[2], ARGV[4]) then\n"
    "    local over = redis.call('ZCARD', KEYS[2]) - cap + 1\n"
    "    if over > 0 then\n"
    "      local old = redis.call('ZPOPMIN', KEYS[2], over)\n"
    "      for i = 1, #old, 2 do redis.call('DEL', ARGV[7] .. old[i]) end\n"
    "    end\n"
    "  end\n"
    "  redis.call('ZADD', KEYS[2], now, ARGV[4])\n"
    "end\n"
    "local digits = string.format('%d', n)\n"
    "if ttl > 0 then redis.call('SET', KEYS[1], digits, 'PX', ttl)\n"
    "else redis.call('SET', KEYS[1], digits) end\n"
    "local id = ARGV[1] .. '-' .. string.rep('0', 12 - #digits) .. digits\n"
    "if #ARGV > 7 then\n"
    "  local body = ARGV[2] .. id .. ARGV[3]\n"
    "  for i = 8, #ARGV do redis.call('PUBLISH', ARGV[i], body) end\n"
    "end\n"
    "return id\n";

typedef struct seq_call {
    sr_redis_adapter *a;
    sr_sequence_fn done;
    void *ud;
    size_t epoch_len;
    size_t n_rooms; /* the script PUBLISHes once per room: counted like PUBLISH */
    char epoch[SR_SEQUENCE_EPOCH_MAX + 1];
} seq_call;

static int epoch_ok(const char *epoch, size_t *len) {
    size_t n = strnlen(epoch, SR_SEQUENCE_EPOCH_MAX + 1);
    if (n == 0 || n > SR_SEQUENCE_EPOCH_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (epoch[i] < '0' || epoch[i] > '9') return 0;
    *len = n;
    return 1;
}

/* The script's answer is "<epoch>-<12 digits>" for our epoch. */
static int reply_is_id(const seq_call *call, const redisReply *r) {
    if (!r || r->type != REDIS_REPLY_STRING || (size_t)r->len != call->epoch_len + 13) return 0;
    if (memcmp(r->str, call->epoch, call->epoch_len) != 0 || r->str[call->epoch_len] != '-')
        return 0;
    for (size_t i = call->epoch_len + 1; i < (size_t)r->len; i++)
        if (r->str[i] < '0' || r->str[i] > '9') return 0;
    return 1;
}

/* An SR_E* code and a reason (for the server's log) for a call that got no
 * id. */
static int classify(const sr_redis_adapter *a, const redisReply *r, const char *err, char *why,
                    size_t cap) {
    if (!r && a->closed) {
        snprintf(why, cap, "the redis adapter closed before redis answered");
        return SR_ECLOSED;
    }
    if (!r) {
        snprintf(why, cap, "redis unreachable: %s", err ? err : "no reply");
        return SR_EADAPTER;
    }
    if (r->type != REDIS_REPLY_ERROR) {
        snprintf(why, cap, "unexpected reply from redis (type %d)", r->type);
        return SR_EADAPTER;
    }
    if (strcmp(err, "SRSEQ range") == 0) {
        snprintf(why, cap, "sequence exhausted: the next counter is outside 1..999999999999");
        return SR_ETOOBIG;
    }
    if (strcmp(err, "SRSEQ type") == 0) {
        snprintf(why, cap, "the sequence's key does not hold an integer counter");
        return SR_EINVAL;
    }
    snprintf(why, cap, "redis refused the sequence script: %.400s", err);
    return SR_EADAPTER;
}

static void on_script_reply(void *ud, redisReply *reply, const char *err) {
    seq_call *call = ud;
    sr_redis_adapter *a = call->a;
    char why[768];
    const char *text = why;
    int rc = 0;
    if (!err && reply_is_id(call, reply)) {
        a->n.sequenced++;
        a->n.published += call->n_rooms;
        text = reply->str;
    } else {
        a->n.sequence_failures++;
        a->n.publish_failures += call->n_rooms;
        rc = classify(a, reply, err, why, sizeof why);
    }
    sr_sequence_fn done = call->done;
    void *done_ud = call->ud;
    free(call);
    done(done_ud, rc, text); /* last: it may close the adapter */
}

/* EVAL script 2 counter index epoch prefix suffix name ttl cap keyprefix channel... */
static int run_script(sr_redis_adapter *a, const char *const *rooms, size_t n_rooms,
                      const sr_message *msg, const char *meta, size_t meta_len, const char *key,
                      const char *epoch, sr_sequence_fn done, void *ud) {
    if (a->closed) return SR_ECLOSED;
    size_t epoch_len = 0;
    if (!epoch) epoch = "0";
    size_t name_len = key ? strnlen(key, SR_SEQ_NAME_MAX + 1) : 0;
    if (!key || sr_seq_name_check(key, name_len) < 0 || !done || !epoch_ok(epoch, &epoch_len) ||
        n_rooms > INT_MAX - 12 || (n_rooms && !msg))
        return SR_EINVAL;
    if (sr_rconn_get_state(a->pub) != SR_RCONN_UP) {
        a->n.sequence_failures++;
        a->n.publish_failures += n_rooms;
        return SR_EADAPTER;
    }
    int rc = SR_ENOMEM;
    enum { FIXED = 12 }; /* EVAL script 2 key index epoch prefix suffix name ttl cap keyprefix */
    size_t argc = FIXED + n_rooms;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *lens = calloc(argc, sizeof *lens);
    char **channels = calloc(n_rooms ? n_rooms : 1, sizeof *channels);
    seq_call *call = malloc(sizeof *call);
    char *body = NULL, *counter_key = NULL, *index_key = NULL;
    size_t body_len = 0, id_at = 0;
    size_t counter_len = sr_seq_key(a->prefix, a->prefix_len, key, name_len, NULL, 0);
    size_t index_len = sr_seq_index_key(a->prefix, a->prefix_len, NULL, 0);
    char ttl[24], cap[24];
    if (!argv || !lens || !channels || !call || !(counter_key = malloc(counter_len + 1)) ||
        !(index_key = malloc(index_len + 1)))
        goto out;
    sr_seq_key(a->prefix, a->prefix_len, key, name_len, counter_key, counter_len + 1);
    sr_seq_index_key(a->prefix, a->prefix_len, index_key, index_len + 1);
    if (n_rooms && !(body = sr_envelope_encode_id_slot(msg, a->seq_node_id, meta, meta_len,
                                                       &body_len, &id_at)))
        goto out;
    argv[0] = "EVAL";
    argv[1] = sequence_script;
    argv[2] = "2";
    argv[3] = counter_key;
    argv[4] = index_key;
    argv[5] = epoch;
    argv[6] = body ? body : "";
    argv[7] = body ? body + id_at : "";
    argv[8] = key;
    argv[9] = ttl;
    argv[10] = cap;
    lens[0] = 4;
    lens[1] = sizeof sequence_script - 1;
    lens[2] = 1;
    lens[3] = counter_len;
    lens[4] = index_len;
    lens[5] = epoch_len;
    lens[6] = body ? id_at : 0;
    lens[7] = body ? body_len - id_at : 0;
    lens[8] = name_len;
    lens[9] = (size_t)snprintf(ttl, sizeof ttl, "%u", a->seq_ttl_ms);
    lens[10] = (size_t)snprintf(cap, sizeof cap, "%u", a->seq_max_names);
    argv[11] = counter_key; /* its "<prefix>seq:" part: dropping a name drops its counter */
    lens[11] = counter_len - name_len;
    for (size_t i = 0; i < n_rooms; i++) {
        if (!(channels[i] = sr_redis_adapter_channel(a, rooms[i], strlen(rooms[i]), NULL, 0,
                                                     &lens[FIXED + i])))
            goto out;
        argv[FIXED + i] = channels[i];
    }
    call->a = a;
    call->done = done;
    call->ud = ud;
    call->epoch_len = epoch_len;
    call->n_rooms = n_rooms;
    memcpy(call->epoch, epoch, epoch_len + 1);
    rc = sr_rconn_command(a->pub, (int)argc, argv, lens, on_script_reply, call);
    if (rc == 0) call = NULL;                   /* on_script_reply frees it */
    else if (rc != SR_ENOMEM) rc = SR_EADAPTER; /* not up, or too much output waiting */
out:
    if (rc != 0) {
        a->n.sequence_failures++;
        a->n.publish_failures += n_rooms;
    }
    for (size_t i = 0; channels && i < n_rooms; i++) free(channels[i]);
    free(channels);
    free(argv);
    free(lens);
    free(body);
    free(counter_key);
    free(index_key);
    free(call);
    return rc;
}

void sr_redis_adapter_sequence_limits(sr_redis_adapter *a, uint32_t ttl_ms, unsigned max_names) {
    a->seq_ttl_ms = ttl_ms;
    a->seq_max_names = max_names;
}

int sr_redis_adapter_sequence_next(sr_redis_adapter *a, const char *key, const char *epoch,
                                   sr_sequence_fn done, void *ud) {
    return run_script(a, NULL, 0, NULL, NULL, 0, key, epoch, done, ud);
}

int sr_redis_adapter_publish_sequenced(sr_redis_adapter *a, const char *const *rooms,
                                       size_t n_rooms, const sr_message *msg, const char *meta,
                                       size_t meta_len, const char *key, const char *epoch,
                                       sr_sequence_fn done, void *ud) {
    if (n_rooms == 0) return SR_EINVAL;
    return run_script(a, rooms, n_rooms, msg, meta, meta_len, key, epoch, done, ud);
}
