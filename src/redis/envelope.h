/* SPDX-License-Identifier: MIT */
/*
 * envelope.h: the JSON envelope a message travels in through Redis,
 * byte-compatible with the Node.js reference (wire-format.md section 2):
 *
 *   {"v":1,"m":{"event":E,"data":<data>,"id":I,"retry":N},"n":"<node id>","meta":<meta>,
 *    "dedup":"<key>"}
 *
 * "dedup" is sserooms's own: the key every copy of one multi-room broadcast
 * carries (it is published once per room), so a receiving node delivers it
 * once to a stream in several of the rooms even without an id. The
 * reference reads only v, m, n and meta, so the extra member changes
 * nothing there; it is absent from one-room publishes, whose envelopes stay
 * the reference's bytes.
 *
 * Pure code: no I/O.
 */
#ifndef SR_REDIS_ENVELOPE_H
#define SR_REDIS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "sserooms.h"

/* Writes the envelope of msg (data and meta are JSON text, copied
 * verbatim; meta NULL or meta_len 0 means absent; event/id only when
 * non-empty, retry only when > 0). Returns the length the envelope needs;
 * writes it only when it fits in cap (cap 0 measures). */
size_t sr_envelope_encode(const sr_message *msg, const char *node_id, const char *meta,
                          size_t meta_len, char *out, size_t cap);
/* The same into a malloc'd NUL-terminated buffer; NULL when out of memory. */
char *sr_envelope_encode_alloc(const sr_message *msg, const char *node_id, const char *meta,
                               size_t meta_len, size_t *out_len);

/* The same with the de-duplication key `dedup` (NULL or "": none) as the
 * last member. */
char *sr_envelope_encode_dedup(const sr_message *msg, const char *node_id, const char *meta,
                               size_t meta_len, const char *dedup, size_t *out_len);

/* The envelope with an empty slot for the id, for ids assigned later by
 * Redis (sequence.c): msg->id is ignored and the envelope is
 * buf[0..*id_at) + <id> + buf[*id_at..*out_len), byte for byte what
 * sr_envelope_encode writes for that id when the id needs no JSON escaping
 * (sequence ids are digits and '-'). malloc'd and NUL-terminated; NULL when
 * out of memory. */
char *sr_envelope_encode_id_slot(const sr_message *msg, const char *node_id, const char *meta,
                                 size_t meta_len, size_t *out_len, size_t *id_at);

/* Why a received payload was dropped. */
typedef enum sr_envelope_status {
    SR_ENVELOPE_OK = 0,
    SR_ENVELOPE_INVALID_JSON, /* not JSON that JSON.parse accepts */
    SR_ENVELOPE_NOT_OBJECT,   /* JSON, but not an object */
    SR_ENVELOPE_BAD_VERSION,  /* "v" missing or not the number 1 */
    SR_ENVELOPE_BAD_FIELDS,   /* "m"/"m.data"/"n" missing or mistyped, bad
                                 retry, id/event neither string nor number,
                                 CR/LF or NUL in id/event */
    SR_ENVELOPE_NOMEM
} sr_envelope_status;

/* A decoded envelope. msg.data points at the original text of "data" (or
 * at its UTF-8-repaired copy); msg.id / msg.event are decoded NUL-terminated
 * strings (NULL when absent or empty); a number there becomes the text
 * JavaScript's String() gives it ("id":5 is the id "5"), as the reference
 * writes it. Valid until sr_envelope_release. */
typedef struct sr_envelope {
    sr_message msg;
    const char *node_id; /* decoded, NUL-terminated */
    size_t node_id_len;
    const char *meta; /* JSON text of "meta"; NULL when absent */
    size_t meta_len;
    const char *dedup; /* decoded "dedup" key; NULL when absent, not a
                          string, empty or holding CR/LF/NUL */
    size_t dedup_len;
    char *repaired; /* owned: the payload with invalid UTF-8 replaced */
    char *strings;  /* owned: decoded id, event and node id */
} sr_envelope;

/* Decodes payload[0..len); max_depth bounds JSON nesting. On any status
 * other than SR_ENVELOPE_OK nothing needs releasing. */
sr_envelope_status sr_envelope_decode(const char *payload, size_t len, unsigned max_depth,
                                      sr_envelope *out);
void sr_envelope_release(sr_envelope *env);

/* "invalid_json", "not_object", ... (the /stats key of a status). */
const char *sr_envelope_status_name(sr_envelope_status st);

#endif
