/* SPDX-License-Identifier: MIT */
/*
 * memory_bus.c: the in-process bus, an adapter that joins several servers
 * of one process (on one loop thread) as if they were nodes.
 *
 * A publish on one server is delivered, room by room, to every other
 * attached server that has local members in the room, through the same
 * sr_server_deliver_remote path a Redis message takes, so the bus
 * exercises the adapter contract without a network; a multi-room publish
 * gives its copies one de-duplication key, as the Redis adapter does.
 * Subscriptions need no bookkeeping: the receiving server's own room index
 * answers. Sequence counters live in the bus, so its servers share them as
 * Redis nodes do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

struct sr_memory_bus {
    sr_server **servers;
    size_t n, cap;
    sr_seq_table sequences; /* one counter per key for all its servers */
    uint64_t dedup_next;    /* the de-duplication key of multi-room publishes */
};

sr_memory_bus *sr_memory_bus_new(void) {
    return calloc(1, sizeof(sr_memory_bus));
}

void sr_memory_bus_free(sr_memory_bus *bus) {
    if (!bus) return;
    for (size_t i = 0; i < bus->n; i++) bus->servers[i]->bus = NULL;
    free(bus->servers);
    sr_seq_table_free(&bus->sequences);
    free(bus);
}

sr_seq_table *sr_memory_bus_sequences(sr_memory_bus *bus) {
    return &bus->sequences;
}

static int bus_publish(void *ctx, const char *const *rooms, size_t n_rooms, const sr_message *msg,
                       const char *meta, size_t meta_len) {
    (void)meta;
    (void)meta_len;
    sr_server *from = ctx;
    sr_memory_bus *bus = from->bus;
    if (!bus) return SR_ECLOSED;
    char dedup[32] = "";
    if (n_rooms > 1)
        snprintf(dedup, sizeof dedup, "bus:%llu", (unsigned long long)++bus->dedup_next);
    for (size_t i = 0; i < bus->n; i++) {
        sr_server *to = bus->servers[i];
        if (to == from || to->shutting_down) continue;
        for (size_t r = 0; r < n_rooms; r++)
            if (sr_room_count(to, rooms[r]) > 0)
                sr_server_deliver_remote_keyed(to, rooms[r], strlen(rooms[r]), msg, dedup);
    }
    return SR_OK;
}

static void bus_detach(sr_server *srv) {
    sr_memory_bus *bus = srv->bus;
    if (!bus) return;
    for (size_t i = 0; i < bus->n; i++) {
        if (bus->servers[i] == srv) {
            bus->servers[i] = bus->servers[--bus->n];
            break;
        }
    }
    srv->bus = NULL;
}

static void bus_close(void *ctx) {
    bus_detach(ctx);
}

int sr_server_attach_memory_bus(sr_server *srv, sr_memory_bus *bus) {
    if (!srv) return SR_EINVAL;
    if (!bus) {
        if (srv->bus && srv->has_adapter && srv->adapter.ctx == srv) srv->has_adapter = false;
        bus_detach(srv);
        return SR_OK;
    }
    if (srv->shutting_down) return SR_ESTATE;
    if (bus->n == bus->cap) {
        size_t cap = bus->cap ? bus->cap * 2 : 4;
        sr_server **s = realloc(bus->servers, cap * sizeof(*s));
        if (!s) return SR_ENOMEM;
        bus->servers = s;
        bus->cap = cap;
    }
    sr_adapter a = {
        .ctx = srv,
        .name = "memory-bus",
        .publish = bus_publish,
        .close = bus_close,
    };
    int rc = sr_server_set_adapter(srv, &a);
    if (rc < 0) return rc;
    bus->servers[bus->n++] = srv;
    srv->bus = bus;
    return SR_OK;
}
