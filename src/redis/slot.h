/* SPDX-License-Identifier: MIT */
/*
 * slot.h: Redis Cluster keyslots and the slot map.
 *
 * sr_keyslot computes the slot of a key (or a sharded Pub/Sub channel)
 * exactly as Redis does: CRC16-XMODEM of the key, or of its hash tag (the
 * bytes between the first '{' and the first '}' after it, when not empty),
 * modulo 16384. The slot map says which master owns each slot; it is built
 * from a CLUSTER SHARDS reply (Redis 7) or a CLUSTER SLOTS reply (older
 * servers). MOVED / ASK error texts are parsed here too. Pure code: no I/O.
 */
#ifndef SR_REDIS_SLOT_H
#define SR_REDIS_SLOT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define SR_SLOTS 16384
#define SR_SLOT_NONE 0xffffu

uint16_t sr_crc16(const char *buf, size_t len);
unsigned sr_keyslot(const char *key, size_t len);

typedef struct sr_slot_master {
    char *host; /* "127.0.0.1" (malloc'd) */
    int port;
    unsigned n_slots; /* slots it owns */
} sr_slot_master;

typedef struct sr_slot_map {
    sr_slot_master *masters;
    size_t n_masters;
    uint16_t owner[SR_SLOTS]; /* index into masters, or SR_SLOT_NONE */
    unsigned covered;         /* slots with an owner */
} sr_slot_map;

/* Builds *out (which must be freshly zeroed or freed) from a reply.
 * default_host replaces an endpoint Redis reports as "" or "?" (the
 * address the reply came from). 0, SR_EINVAL with a reason in err when the
 * reply is not what the command returns, SR_ENOMEM. */
int sr_slot_map_from_shards(const redisReply *r, const char *default_host, sr_slot_map *out,
                            char *err, size_t errcap);
int sr_slot_map_from_slots(const redisReply *r, const char *default_host, sr_slot_map *out,
                           char *err, size_t errcap);
void sr_slot_map_free(sr_slot_map *m);
/* Index of master host:port in m, or -1. */
int sr_slot_map_find(const sr_slot_map *m, const char *host, int port);

/* "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381": 1 and the
 * fields (*ask 1 for ASK); 0 when err is neither. host is cut to hostcap. */
int sr_slot_parse_redirect(const char *err, int *ask, unsigned *slot, char *host, size_t hostcap,
                           int *port);

#endif
