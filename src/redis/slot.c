/* SPDX-License-Identifier: MIT */
/*
 * slot.c: keyslots, the slot map from CLUSTER SHARDS / CLUSTER SLOTS, and
 * MOVED/ASK parsing (see slot.h).
 *
 * The replies are walked defensively: any element of an unexpected type
 * makes the whole reply refused (SR_EINVAL) rather than half-applied, so
 * a map is either complete as Redis described it or not built at all.
 */
#include "redis/slot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sserooms/error.h>

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as in Redis's
 * crc16.c. Bitwise: channel names are short. */
uint16_t sr_crc16(const char *buf, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned sr_keyslot(const char *key, size_t len) {
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t start = (size_t)(open - key) + 1;
        const char *close = memchr(key + start, '}', len - start);
        if (close && close > key + start) /* "{}" : the whole key is hashed */
            return sr_crc16(key + start, (size_t)(close - (key + start))) & (SR_SLOTS - 1);
    }
    return sr_crc16(key, len) & (SR_SLOTS - 1);
}

void sr_slot_map_free(sr_slot_map *m) {
    for (size_t i = 0; i < m->n_masters; i++) free(m->masters[i].host);
    free(m->masters);
    m->masters = NULL;
    m->n_masters = 0;
    m->covered = 0;
    for (size_t i = 0; i < SR_SLOTS; i++) m->owner[i] = SR_SLOT_NONE;
}

int sr_slot_map_find(const sr_slot_map *m, const char *host, int port) {
    for (size_t i = 0; i < m->n_masters; i++)
        if (m->masters[i].port == port && strcmp(m->masters[i].host, host) == 0) return (int)i;
    return -1;
}

static int is_str(const redisReply *r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static int str_eq(const redisReply *r, const char *s) {
    return is_str(r) && r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

/* A number sent as an integer or as text (CLUSTER SHARDS has both forms
 * across versions); -1 when neither. */
static long long as_number(const redisReply *r) {
    if (!r) return -1;
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    if (!is_str(r) || r->len == 0 || r->len > 18) return -1;
    long long v = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9') return -1;
        v = v * 10 + (r->str[i] - '0');
    }
    return v;
}

/* Adds (or finds) master host:port; its index, or a negative code. */
static int add_master(sr_slot_map *m, const char *host, size_t host_len, int port) {
    for (size_t i = 0; i < m->n_masters; i++)
        if (m->masters[i].port == port && strlen(m->masters[i].host) == host_len &&
            memcmp(m->masters[i].host, host, host_len) == 0)
            return (int)i;
    if (m->n_masters >= SR_SLOT_NONE) return SR_EINVAL;
    sr_slot_master *n = realloc(m->masters, (m->n_masters + 1) * sizeof *n);
    if (!n) return SR_ENOMEM;
    m->masters = n;
    char *h = strndup(host, host_len);
    if (!h) return SR_ENOMEM;
    m->masters[m->n_masters].host = h;
    m->masters[m->n_masters].port = port;
    m->masters[m->n_masters].n_slots = 0;
    return (int)m->n_masters++;
}

static int assign(sr_slot_map *m, long long lo, long long hi, int master) {
    if (lo < 0 || hi < lo || hi >= SR_SLOTS) return SR_EINVAL;
    for (long long s = lo; s <= hi; s++) {
        if (m->owner[s] == SR_SLOT_NONE) m->covered++;
        else m->masters[m->owner[s]].n_slots--;
        m->owner[s] = (uint16_t)master;
        m->masters[master].n_slots++;
    }
    return 0;
}

static void start(sr_slot_map *m) {
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < SR_SLOTS; i++) m->owner[i] = SR_SLOT_NONE;
}

static int refuse(sr_slot_map *m, int rc, char *err, size_t errcap, const char *what) {
    if (err && errcap) snprintf(err, errcap, "%s", rc == SR_ENOMEM ? "out of memory" : what);
    sr_slot_map_free(m);
    return rc;
}

/* Picks host and port out of one CLUSTER SHARDS node (a flat field/value
 * array); 1 when it is the shard's online master, 0 otherwise. */
static int shards_master(const redisReply *node, const char *default_host, const char **host,
                         size_t *host_len, int *port) {
    if (!node || node->type != REDIS_REPLY_ARRAY || node->elements % 2) return -1;
    const redisReply *ip = NULL, *endpoint = NULL, *role = NULL, *health = NULL;
    long long p = -1;
    for (size_t i = 0; i + 1 < node->elements; i += 2) {
        const redisReply *k = node->element[i], *v = node->element[i + 1];
        if (str_eq(k, "port")) p = as_number(v);
        else if (str_eq(k, "ip") && is_str(v)) ip = v;
        else if (str_eq(k, "endpoint") && is_str(v)) endpoint = v;
        else if (str_eq(k, "role")) role = v;
        else if (str_eq(k, "health")) health = v;
    }
    if (!str_eq(role, "master")) return 0;
    if (health && !str_eq(health, "online")) return 0;
    const redisReply *addr = endpoint && endpoint->len && !str_eq(endpoint, "?") ? endpoint : ip;
    if (p <= 0 || p > 65535) return -1;
    if (addr && addr->len && !str_eq(addr, "?")) {
        *host = addr->str;
        *host_len = addr->len;
    } else {
        *host = default_host;
        *host_len = strlen(default_host);
    }
    *port = (int)p;
    return 1;
}

int sr_slot_map_from_shards(const redisReply *r, const char *default_host, sr_slot_map *out,
                            char *err, size_t errcap) {
    start(out);
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return refuse(out, SR_EINVAL, err, errcap, "CLUSTER SHARDS: not an array");
    for (size_t s = 0; s < r->elements; s++) {
        const redisReply *shard = r->element[s], *slots = NULL, *nodes = NULL;
        if (!shard || shard->type != REDIS_REPLY_ARRAY || shard->elements % 2)
            return refuse(out, SR_EINVAL, err, errcap, "CLUSTER SHARDS: a shard is not a map");
        for (size_t i = 0; i + 1 < shard->elements; i += 2) {
            if (str_eq(shard->element[i], "slots")) slots = shard->element[i + 1];
            else if (str_eq(shard->element[i], "nodes")) nodes = shard->element[i + 1];
        }
        if (!slots || !nodes || slots->type != REDIS_REPLY_ARRAY ||
            nodes->type != REDIS_REPLY_ARRAY || slots->elements % 2)
            return refuse(out, SR_EINVAL, err, errcap,
                          "CLUSTER SHARDS: a shard lacks slots or nodes");
        if (slots->elements == 0) continue; /* an empty master, or a failed one */
        int master = -1;
        for (size_t n = 0; n < nodes->elements && master < 0; n++) {
            const char *host = NULL;
            size_t host_len = 0;
            int port = 0;
            int k = shards_master(nodes->element[n], default_host, &host, &host_len, &port);
            if (k < 0)
                return refuse(out, SR_EINVAL, err, errcap, "CLUSTER SHARDS: a node is malformed");
            if (k == 1 && (master = add_master(out, host, host_len, port)) < 0)
                return refuse(out, master, err, errcap, "CLUSTER SHARDS: too many masters");
        }
        if (master < 0) continue; /* no online master: its slots stay unowned */
        for (size_t i = 0; i < slots->elements; i += 2) {
            int rc = assign(out, as_number(slots->element[i]), as_number(slots->element[i + 1]),
                            master);
            if (rc)
                return refuse(out, rc, err, errcap, "CLUSTER SHARDS: a slot range is malformed");
        }
    }
    return 0;
}

int sr_slot_map_from_slots(const redisReply *r, const char *default_host, sr_slot_map *out,
                           char *err, size_t errcap) {
    start(out);
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return refuse(out, SR_EINVAL, err, errcap, "CLUSTER SLOTS: not an array");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *range = r->element[i];
        if (!range || range->type != REDIS_REPLY_ARRAY || range->elements < 3)
            return refuse(out, SR_EINVAL, err, errcap, "CLUSTER SLOTS: a range is malformed");
        const redisReply *node = range->element[2];
        if (!node || node->type != REDIS_REPLY_ARRAY || node->elements < 2 ||
            !is_str(node->element[0]))
            return refuse(out, SR_EINVAL, err, errcap, "CLUSTER SLOTS: a master is malformed");
        long long port = as_number(node->element[1]);
        if (port <= 0 || port > 65535)
            return refuse(out, SR_EINVAL, err, errcap, "CLUSTER SLOTS: a port is malformed");
        const redisReply *h = node->element[0];
        const char *host = h->str;
        size_t host_len = h->len;
        if (host_len == 0 || str_eq(h, "?")) {
            host = default_host;
            host_len = strlen(default_host);
        }
        int master = add_master(out, host, host_len, (int)port);
        if (master < 0) return refuse(out, master, err, errcap, "CLUSTER SLOTS: too many masters");
        int rc = assign(out, as_number(range->element[0]), as_number(range->element[1]), master);
        if (rc) return refuse(out, rc, err, errcap, "CLUSTER SLOTS: a slot range is malformed");
    }
    return 0;
}

int sr_slot_parse_redirect(const char *err, int *ask, unsigned *slot, char *host, size_t hostcap,
                           int *port) {
    if (!err) return 0;
    const char *p;
    if (strncmp(err, "MOVED ", 6) == 0) {
        *ask = 0;
        p = err + 6;
    } else if (strncmp(err, "ASK ", 4) == 0) {
        *ask = 1;
        p = err + 4;
    } else {
        return 0;
    }
    char *end = NULL;
    unsigned long s = strtoul(p, &end, 10);
    if (end == p || *end != ' ' || s >= SR_SLOTS) return 0;
    const char *addr = end + 1;
    const char *colon = strrchr(addr, ':');
    if (!colon) return 0; /* ":6381": Redis does not know the host */
    unsigned long pt = strtoul(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || pt == 0 || pt > 65535) return 0;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        addr++;
        hl -= 2;
    }
    if (hl + 1 > hostcap) return 0;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    *slot = (unsigned)s;
    *port = (int)pt;
    return 1;
}
