/*
 * sequence.c: ordered event ids through Redis (see adapter.h).
 *
 * One Lua script does all of it: INCRBY the key, refuse a counter outside
 * 1..999999999999 (an error, never a wrong id), format the id as the
 * reference's createRedisEventIdSequence does (<epoch>-<counter zero-padded
 * to 12 digits>), and, when channels are given, PUBLISH the envelope carrying
 * that id (ARGV prefix .. id .. suffix, cut around the id's slot by
 * sr_envelope_encode_id_slot) to each of them. Redis runs one script at a
 * time, so whichever node runs it, every subscriber receives the ids in
 * increasing order. The envelope's "n" is "<node id>/seq": the publishing
 * node has not delivered the message locally (its members get it back from
 * Redis, in order with everyone else's), so no node may drop it as its own
 * echo, and the reply and the echo may arrive in either order without
 * anything to match up.
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

#include "redis/adapter_int.h"
#include "redis/envelope.h"

static const char sequence_script[] =
    "local n = redis.call('INCRBY', KEYS[1], 1)\n"
    "if n < 1 or n > 999999999999 then\n"
    "  return redis.error_reply('SRSEQ counter ' .. tostring(n) .. ' is outside 1..999999999999')\n"
    "end\n"
    "local digits = tostring(n)\n"
    "local id = ARGV[1] .. '-' .. string.rep('0', 12 - #digits) .. digits\n"
    "if #ARGV > 3 then\n"
    "  local body = ARGV[2] .. id .. ARGV[3]\n"
    "  for i = 4, #ARGV do redis.call('PUBLISH', ARGV[i], body) end\n"
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
    if (memcmp(r->str, call->epoch, call->epoch_len) != 0 || r->str[call->epoch_len] != '-') return 0;
    for (size_t i = call->epoch_len + 1; i < (size_t)r->len; i++)
        if (r->str[i] < '0' || r->str[i] > '9') return 0;
    return 1;
}

/* An SR_E* code and a reason for a call that got no id. */
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
    if (strncmp(err, "SRSEQ ", 6) == 0) {
        snprintf(why, cap, "sequence exhausted: %s", err + 6);
        return SR_ETOOBIG;
    }
    if (strstr(err, "would overflow")) {
        snprintf(why, cap, "sequence exhausted: %s", err);
        return SR_ETOOBIG;
    }
    if (strncmp(err, "WRONGTYPE", 9) == 0 || strstr(err, "not an integer")) {
        snprintf(why, cap, "the key does not hold an integer counter (%s)", err);
        return SR_EINVAL;
    }
    snprintf(why, cap, "redis refused: %s", err);
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

/* EVAL script 1 key epoch prefix suffix channel... */
static int run_script(sr_redis_adapter *a, const char *const *rooms, size_t n_rooms,
                      const sr_message *msg, const char *meta, size_t meta_len, const char *key,
                      const char *epoch, sr_sequence_fn done, void *ud) {
    if (a->closed) return SR_ECLOSED;
    size_t epoch_len = 0;
    if (!epoch) epoch = "0";
    if (!key || !*key || !done || !epoch_ok(epoch, &epoch_len) || n_rooms > INT_MAX - 7 ||
        (n_rooms && !msg))
        return SR_EINVAL;
    if (sr_rconn_get_state(a->pub) != SR_RCONN_UP) {
        a->n.sequence_failures++;
        a->n.publish_failures += n_rooms;
        return SR_EADAPTER;
    }
    int rc = SR_ENOMEM;
    size_t argc = 7 + n_rooms;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *lens = calloc(argc, sizeof *lens);
    char **channels = calloc(n_rooms ? n_rooms : 1, sizeof *channels);
    seq_call *call = malloc(sizeof *call);
    char *body = NULL;
    size_t body_len = 0, id_at = 0;
    if (!argv || !lens || !channels || !call) goto out;
    if (n_rooms &&
        !(body = sr_envelope_encode_id_slot(msg, a->seq_node_id, meta, meta_len, &body_len, &id_at)))
        goto out;
    argv[0] = "EVAL";
    argv[1] = sequence_script;
    argv[2] = "1";
    argv[3] = key;
    argv[4] = epoch;
    argv[5] = body ? body : "";
    argv[6] = body ? body + id_at : "";
    lens[0] = 4;
    lens[1] = sizeof sequence_script - 1;
    lens[2] = 1;
    lens[3] = strlen(key);
    lens[4] = epoch_len;
    lens[5] = body ? id_at : 0;
    lens[6] = body ? body_len - id_at : 0;
    for (size_t i = 0; i < n_rooms; i++) {
        if (!(channels[i] = sr_redis_adapter_channel(a, rooms[i], strlen(rooms[i]), NULL, 0,
                                                     &lens[7 + i])))
            goto out;
        argv[7 + i] = channels[i];
    }
    call->a = a;
    call->done = done;
    call->ud = ud;
    call->epoch_len = epoch_len;
    call->n_rooms = n_rooms;
    memcpy(call->epoch, epoch, epoch_len + 1);
    rc = sr_rconn_command(a->pub, (int)argc, argv, lens, on_script_reply, call);
    if (rc == 0) call = NULL; /* on_script_reply frees it */
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
    free(call);
    return rc;
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
