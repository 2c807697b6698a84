/* SPDX-License-Identifier: MIT */
/*
 * fuzz_envelope.c: libFuzzer target for the Redis envelope decoder
 * (src/redis/envelope.h), and the encoder through a round trip.
 *
 * The whole input is one payload as received from Redis. On a rejection
 * the status is a known one and nothing is left to release. On success:
 * the spans point into the payload or its repaired copy and are JSON; id
 * and event are absent or non-empty without CR, LF or NUL (they become SSE
 * fields); the node id is a C string of the stated length. Then the
 * message is encoded again (measure == write, exact fit) and decoded: the
 * same fields come back, and encoding that gives the same bytes (the
 * encoding is a fixpoint). The id-slot encoding with a sequence id spliced
 * in equals the plain encoding of that id; a de-duplication key survives
 * its own round trip. A tighter nesting limit may
 * only turn a success into invalid_json, never change it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "redis/envelope.h"
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DEPTH 1000

static int str_eq(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int is_json(const char *p, size_t n) {
    sr_json_value v;
    return sr_json_validate(p, n, DEPTH, &v, NULL, NULL) == 0 && v.p == p && v.len == n;
}

static void check_field(const char *s, const char *what) {
    if (!s) return;
    FUZZ_CHECK(s[0] != '\0', "%s is empty instead of absent", what);
    FUZZ_CHECK(!strchr(s, '\n') && !strchr(s, '\r'), "%s holds CR or LF", what);
}

static void check_decoded(const sr_envelope *env, const char *payload, size_t len) {
    const sr_message *m = &env->msg;
    size_t rlen = env->repaired ? strlen(env->repaired) : 0;
    FUZZ_CHECK(m->data && m->data_len > 0, "no data");
    FUZZ_CHECK(env->repaired ? fuzz_within(m->data, m->data_len, env->repaired, rlen)
                             : fuzz_within(m->data, m->data_len, payload, len),
               "data outside the payload");
    FUZZ_CHECK(is_json(m->data, m->data_len), "data is not one JSON value: %.*s", (int)m->data_len,
               m->data);
    check_field(m->id, "id");
    check_field(m->event, "event");
    check_field(env->dedup, "dedup");
    FUZZ_CHECK(!env->dedup || strlen(env->dedup) == env->dedup_len, "dedup length");
    FUZZ_CHECK(env->node_id && strlen(env->node_id) == env->node_id_len, "node id");
    if (env->meta) {
        FUZZ_CHECK(env->repaired ? fuzz_within(env->meta, env->meta_len, env->repaired, rlen)
                                 : fuzz_within(env->meta, env->meta_len, payload, len),
                   "meta outside the payload");
        FUZZ_CHECK(is_json(env->meta, env->meta_len), "meta is not one JSON value");
    }
}

static char *encode(const sr_envelope *env, size_t *len) {
    size_t need = sr_envelope_encode(&env->msg, env->node_id, env->meta, env->meta_len, NULL, 0);
    char *buf = malloc(need + 1);
    FUZZ_CHECK(buf != NULL, "oom");
    buf[need] = 0x5A;
    FUZZ_CHECK(sr_envelope_encode(&env->msg, env->node_id, env->meta, env->meta_len, buf, need) ==
                   need,
               "encode measure != write");
    FUZZ_CHECK(buf[need] == 0x5A, "encode wrote past its length");
    size_t alen = 0;
    char *alloc = sr_envelope_encode_alloc(&env->msg, env->node_id, env->meta, env->meta_len,
                                           &alen);
    FUZZ_CHECK(alloc && alen == need && memcmp(alloc, buf, need) == 0 && alloc[need] == '\0',
               "encode_alloc");
    free(alloc);
    *len = need;
    return buf;
}

static void check_id_slot(const sr_envelope *env) {
    static const char seq_id[] = "0-000000000042";
    size_t slot_len = 0, id_at = 0;
    char *slot = sr_envelope_encode_id_slot(&env->msg, env->node_id, env->meta, env->meta_len,
                                            &slot_len, &id_at);
    FUZZ_CHECK(slot && id_at <= slot_len && slot[slot_len] == '\0', "id slot encoding");
    sr_message with_id = env->msg;
    with_id.id = seq_id;
    size_t need = sr_envelope_encode(&with_id, env->node_id, env->meta, env->meta_len, NULL, 0);
    char *want = malloc(need);
    FUZZ_CHECK(want != NULL, "oom");
    sr_envelope_encode(&with_id, env->node_id, env->meta, env->meta_len, want, need);
    size_t idl = sizeof seq_id - 1;
    FUZZ_CHECK(slot_len + idl == need && memcmp(want, slot, id_at) == 0 &&
                   memcmp(want + id_at, seq_id, idl) == 0 &&
                   memcmp(want + id_at + idl, slot + id_at, slot_len - id_at) == 0,
               "slot + id != encoding with the id");
    free(want);
    free(slot);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *payload = (const char *)data;
    sr_envelope env;
    sr_envelope_status st = sr_envelope_decode(payload, size, DEPTH, &env);
    FUZZ_CHECK(strcmp(sr_envelope_status_name(st), "unknown") != 0, "status %d", (int)st);

    sr_envelope tight;
    sr_envelope_status st_tight = sr_envelope_decode(payload, size, 2, &tight);
    FUZZ_CHECK(st_tight == st || st_tight == SR_ENVELOPE_INVALID_JSON, "depth 2: %s, depth %d: %s",
               sr_envelope_status_name(st_tight), DEPTH, sr_envelope_status_name(st));
    if (st_tight == SR_ENVELOPE_OK) {
        FUZZ_CHECK(tight.msg.data_len == env.msg.data_len &&
                       memcmp(tight.msg.data, env.msg.data, env.msg.data_len) == 0,
                   "depths give different data");
        sr_envelope_release(&tight);
    }

    if (st != SR_ENVELOPE_OK) {
        static const sr_envelope zero;
        FUZZ_CHECK(memcmp(&env, &zero, sizeof env) == 0, "a rejected envelope left state behind");
        return 0;
    }
    check_decoded(&env, payload, size);

    /* round trip */
    size_t elen = 0;
    char *enc = encode(&env, &elen);
    sr_envelope back;
    st = sr_envelope_decode(enc, elen, DEPTH, &back);
    FUZZ_CHECK(st == SR_ENVELOPE_OK, "re-encoded envelope rejected (%s): %.*s",
               sr_envelope_status_name(st), (int)elen, enc);
    check_decoded(&back, enc, elen);
    FUZZ_CHECK(back.repaired == NULL, "the encoder wrote invalid UTF-8");
    FUZZ_CHECK(back.msg.data_len == env.msg.data_len &&
                   memcmp(back.msg.data, env.msg.data, env.msg.data_len) == 0,
               "data changed");
    FUZZ_CHECK(str_eq(back.msg.id, env.msg.id) && str_eq(back.msg.event, env.msg.event),
               "id/event changed");
    FUZZ_CHECK(back.msg.retry == env.msg.retry, "retry changed");
    FUZZ_CHECK(strcmp(back.node_id, env.node_id) == 0, "node id changed");
    FUZZ_CHECK((!back.meta && !env.meta) ||
                   (back.meta && env.meta && back.meta_len == env.meta_len &&
                    memcmp(back.meta, env.meta, env.meta_len) == 0),
               "meta changed");
    size_t elen2 = 0;
    char *enc2 = encode(&back, &elen2);
    FUZZ_CHECK(elen2 == elen && memcmp(enc2, enc, elen) == 0, "encoding is not a fixpoint");
    check_id_slot(&env);
    /* the key is not part of the plain encoding; with it, it comes back and
     * is the last member of what is otherwise the same envelope */
    FUZZ_CHECK(back.dedup == NULL, "a de-duplication key appeared");
    if (env.dedup) {
        size_t dlen = 0;
        char *denc = sr_envelope_encode_dedup(&env.msg, env.node_id, env.meta, env.meta_len,
                                              env.dedup, &dlen);
        FUZZ_CHECK(denc && dlen > elen && memcmp(denc, enc, elen - 1) == 0 &&
                       memcmp(denc + elen - 1, ",\"dedup\":", 9) == 0,
                   "keyed encoding is not the plain one plus the key");
        sr_envelope dback;
        FUZZ_CHECK(sr_envelope_decode(denc, dlen, DEPTH, &dback) == SR_ENVELOPE_OK && dback.dedup &&
                       strcmp(dback.dedup, env.dedup) == 0,
                   "de-duplication key changed");
        sr_envelope_release(&dback);
        free(denc);
    }
    free(enc2);
    sr_envelope_release(&back);
    free(enc);
    sr_envelope_release(&env);
    return 0;
}
