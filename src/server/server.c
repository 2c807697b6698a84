/* SPDX-License-Identifier: MIT */
/*
 * server.c: the server object: sr_server_new from a config (the defaults,
 * the copy of the program's strings, each file's state allocated by its
 * owner), its accessors, the program's hooks and adapter, the public
 * counters, and sr_server_free. The rest of the server's life is in
 * listen.c (binding, starting the handles), accept.c (accepting),
 * flush.c (the end-of-turn flush, heartbeats), shutdown.c (the handles'
 * count and the graceful shutdown) and ids.c (the id table).
 *
 * State: sr_server_new allocates each file's group of state through that
 * file's *_new (see internal.h) and sr_server_free frees them, those that
 * hold handles after the loop closed them; server.c's own group is the
 * program's hooks. The static assertion below keeps the rest of the state
 * out of struct sr_server.
 */
#include <stdlib.h>
#include <string.h>

#include "common/abi.h"
#include "server/internal.h"
#include "server/recover.h"
#include "server/tls_server.h"
#include "server/writer.h"
#include "json/json.h"

/* The library's default writer threads (1: none); a build may set another
 * one (-DSR_DEFAULT_THREADS=2 runs the whole test suite threaded). */
#ifndef SR_DEFAULT_THREADS
#define SR_DEFAULT_THREADS 1
#endif

/* The time bound of a slice of a fan-out sweep (batch.c), in microseconds.
 * A request that comes during a slice waits for its end: 2 ms keeps a
 * sequential publisher's answer p99 under 10 ms with room to spare, and
 * whatever a stream costs on the machine (a written stream: 2-20 us, so
 * 100-1000 streams a slice), while the loop turns between slices (an
 * epoll_wait that returns at once) cost well under 1% of the sweep. */
#define SR_DEFAULT_SWEEP_SLICE_US 2000

/* The program's hooks. */
struct sr_hooks {
    sr_accept_fn accept_fn;
    void *accept_ud;
    sr_close_fn close_fn;
    void *close_ud;
    sr_request_fn request_fn;
    void *request_ud;
};

/* What struct sr_server may weigh: its own fields, the config copy, the
 * adapter's table, the public counters and the few handles of server.c.
 * Each subsystem's state is an opaque struct of its file behind a pointer;
 * an array put back inline trips this (test_server_state prints the size). */
#define SR_SERVER_SIZE_MAX 2304
_Static_assert(sizeof(struct sr_server) <= SR_SERVER_SIZE_MAX,
               "struct sr_server holds subsystem state inline: give it an owner's struct");

static void config_defaults(sr_config *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->host = "127.0.0.1";
    cfg->port = 8080;
    cfg->backlog = 511;
    cfg->heartbeat_ms = 30000;
    cfg->max_queue_bytes = 1024 * 1024;
    cfg->max_http_buffer_bytes = 64u * 1024 * 1024;
    cfg->max_header_bytes = 8 * 1024;
    cfg->max_body_bytes = 1024 * 1024;
    cfg->request_timeout_ms = 10000;
    cfg->keepalive_timeout_ms = 5000;
    cfg->max_rooms_per_conn = 64;
    cfg->max_room_len = 128;
    cfg->max_json_depth = 1000;
    cfg->enable_publish = 1;
    cfg->enable_info = 1;
    cfg->enable_metrics = 1;
    cfg->sse_path = "/sse";
    cfg->stats_interval_ms = 1000;
    cfg->auth_leeway_s = 30;
    cfg->auth_cookie = "sserooms_token";
    cfg->auth_expiry_event = "auth-expired";
    cfg->ticket_ttl_ms = 30000;
    cfg->max_tickets_per_subject = 100;
    cfg->ticket_rate = 10;
    cfg->max_connections_per_addr = 256;
    cfg->ipv6_prefix_len = 64;
    cfg->max_message_bytes = 256 * 1024;
    cfg->threads = SR_DEFAULT_THREADS;
    cfg->sequence_max_names = 65536;
    cfg->sequence_ttl_ms = 2592000000u; /* 30 days */
    cfg->max_publish_bytes = 16u * 1024 * 1024;
    cfg->h2_max_streams = 128;
    cfg->presence_debounce_ms = 2000;
    cfg->sweep_slice_us = SR_DEFAULT_SWEEP_SLICE_US;
}

/* The program's sr_config may be older (smaller) or newer than ours: the
 * defaults are made whole here and copied out at the program's size. */
void sr_config_init_(sr_config *cfg, size_t cfg_size) {
    sr_config full;
    config_defaults(&full);
    sr_abi_copy_out(cfg, cfg_size, &full, sizeof full);
}

static const char *keep_string(sr_server *srv, const char *s) {
    if (!s) return NULL;
    char *copy = strdup(s);
    char **grown = realloc(srv->strings, (srv->n_strings + 1) * sizeof(*grown));
    if (!copy || !grown) {
        free(copy);
        if (grown) srv->strings = grown;
        return NULL;
    }
    srv->strings = grown;
    srv->strings[srv->n_strings++] = copy;
    return copy;
}

static void on_room_event(void *ud, sr_room *room, sr_room_event ev) {
    sr_server *srv = ud;
    /* batch.c's rules: a membership change is a barrier, and never made
     * while members are iterated */
    SR_ASSERT(!sr_batch_pending(srv));
    SR_ASSERT(srv->fanout_depth == 0);
    if (!srv->has_adapter) return;
    if (ev == SR_ROOM_JOINED || ev == SR_ROOM_LEFT) {
        sr_presence_room_changed(srv, room, sr_registry_event_member(srv->reg),
                                 ev == SR_ROOM_JOINED);
        return;
    }
    if (ev == SR_ROOM_CREATED && srv->adapter.subscribe)
        srv->adapter.subscribe(srv->adapter.ctx, room->name);
    else if (ev == SR_ROOM_EMPTIED && srv->adapter.unsubscribe)
        srv->adapter.unsubscribe(srv->adapter.ctx, room->name);
}

static int copy_config(sr_server *srv, const sr_config *in) {
    srv->cfg = *in;
    sr_config *c = &srv->cfg;
    c->host = keep_string(srv, in->host ? in->host : "127.0.0.1");
    c->sse_path = keep_string(srv, in->sse_path ? in->sse_path : "/sse");
    if (!c->host || !c->sse_path) return SR_ENOMEM;
    if (in->publish_key && !(c->publish_key = keep_string(srv, in->publish_key))) return SR_ENOMEM;
    if (in->admin_key && !(c->admin_key = keep_string(srv, in->admin_key))) return SR_ENOMEM;
    if (in->web_root && !(c->web_root = keep_string(srv, in->web_root))) return SR_ENOMEM;
    if (in->stats_room && !(c->stats_room = keep_string(srv, in->stats_room))) return SR_ENOMEM;
    if (c->stats_room &&
        sr_room_name_check(c->stats_room, strlen(c->stats_room), c->max_room_len) < 0)
        return SR_EROOM;
    if (in->n_cors_origins) {
        const char **origins = calloc(in->n_cors_origins, sizeof(*origins));
        if (!origins) return SR_ENOMEM;
        for (size_t i = 0; i < in->n_cors_origins; i++) {
            origins[i] = keep_string(srv, in->cors_origins[i]);
            if (!origins[i]) {
                free(origins);
                return SR_ENOMEM;
            }
        }
        /* the array itself is kept as a string slot so it is freed with them */
        char **grown = realloc(srv->strings, (srv->n_strings + 1) * sizeof(*grown));
        if (!grown) {
            free(origins);
            return SR_ENOMEM;
        }
        srv->strings = grown;
        srv->strings[srv->n_strings++] = (char *)origins;
        c->cors_origins = origins;
    } else {
        c->cors_origins = NULL;
    }
    if (c->max_room_len == 0 || c->max_rooms_per_conn == 0 || c->max_header_bytes < 64 ||
        c->max_queue_bytes == 0 || c->max_json_depth == 0 || c->port < 0 || c->port > 65535)
        return SR_EINVAL;
    return SR_OK;
}

static sr_frame *make_sse_head(void) {
    static const char head[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\n"
                               "Connection: keep-alive\r\n"
                               "X-Accel-Buffering: no\r\n"
                               "\r\n";
    return sr_frame_raw(head, sizeof(head) - 1);
}

int sr_server_new_(sr_server **out, uv_loop_t *loop, const sr_config *in, size_t cfg_size) {
    if (!out) return SR_EINVAL;
    *out = NULL;
    /* the program's fields over the defaults of those it does not have */
    sr_config full;
    config_defaults(&full);
    if (in && sr_abi_copy_in(&full, sizeof full, in, cfg_size) < 0) return SR_EINVAL;
    const sr_config *cfg = &full;
    sr_server *srv = calloc(1, sizeof(*srv));
    if (!srv) return SR_ENOMEM;
    srv->listen_fd = srv->reserve_fd = -1;
    sr_slab_init(&srv->conn_pool, sizeof(sr_conn));
    sr_slab_init(&srv->sendq_pool, sizeof(sr_sendq));
    uv_timeval64_t now;
    if (uv_gettimeofday(&now) == 0)
        srv->created_unix_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_usec / 1000;
    /* each file's state, allocated by its owner */
    int rc = SR_ENOMEM;
    srv->hooks = calloc(1, sizeof(*srv->hooks));
    srv->scratch = malloc(SR_SCRATCH_SIZE);
    if (!srv->hooks || !srv->scratch) goto fail;
    if ((rc = sr_accept_new(srv)) < 0 || (rc = sr_ids_new(srv)) < 0 ||
        (rc = sr_remote_new(srv)) < 0 || (rc = sr_sequence_new(srv)) < 0 ||
        (rc = sr_limits_new(srv)) < 0 || (rc = sr_observe_new(srv)) < 0 ||
        (rc = sr_batch_new(srv)) < 0 || (rc = sr_presence_new(srv)) < 0 ||
        (rc = sr_idle_new(srv)) < 0 || (rc = sr_h2c_counters_new(srv)) < 0 ||
        (rc = sr_recover_new(srv)) < 0)
        goto fail;
    rc = copy_config(srv, cfg);
    if (rc == SR_OK) rc = sr_clients_new(srv, cfg);
    if (rc == SR_OK) rc = sr_auth_new(srv, cfg);
    if (rc == SR_OK) rc = sr_tls_server_new(srv, cfg, NULL, 0);
    if (rc < 0) goto fail;
    if (loop) {
        srv->loop = loop;
    } else {
        uv_loop_t *own = malloc(sizeof(*own));
        if (!own || uv_loop_init(own) != 0) {
            free(own);
            rc = own ? SR_EIO : SR_ENOMEM;
            goto fail;
        }
        srv->loop = srv->own_loop = own;
    }
    srv->reg = sr_registry_new(on_room_event, srv);
    srv->heartbeat_frame = sr_frame_raw(": heartbeat\n\n", 13);
    srv->sse_head_frame = make_sse_head();
    if (!srv->reg || !srv->heartbeat_frame || !srv->sse_head_frame) {
        rc = SR_ENOMEM;
        goto fail;
    }
    srv->next_conn_id = 1;
    *out = srv;
    return SR_OK;
fail:
    sr_server_free(srv);
    return rc;
}

void sr_server_get_config_(const sr_server *srv, sr_config *out, size_t out_size) {
    sr_abi_copy_out(out, out_size, &srv->cfg, sizeof srv->cfg);
}

void sr_server_log(sr_server *srv, int level, const char *msg) {
    sr_log(srv, level, 0, "%s", msg);
}

void sr_server_presence_event(sr_server *srv, const char *room, size_t room_len, const char *user,
                              size_t user_len, int joined) {
    sr_presence_event(srv, room, room_len, user, user_len, joined);
}

uv_loop_t *sr_server_loop(sr_server *srv) {
    return srv->loop;
}

int sr_server_run(sr_server *srv) {
    if (!srv->own_loop) return SR_ESTATE;
    uv_run(srv->loop, UV_RUN_DEFAULT);
    return SR_OK;
}

void sr_server_free(sr_server *srv) {
    if (!srv) return;
    sr_writers_stop(srv); /* before the frames the threads may hold */
    sr_flush_free(srv);
    if (srv->has_adapter && srv->adapter.close) srv->adapter.close(srv->adapter.ctx);
    srv->has_adapter = false;
    if (srv->bus) sr_server_attach_memory_bus(srv, NULL);
    sr_sequence_free(srv);
    sr_batch_free(srv); /* before the rooms it points at */
    if (srv->reg) sr_registry_free(srv->reg);
    sr_frame_unref(srv->heartbeat_frame);
    sr_frame_unref(srv->sse_head_frame);
    while (srv->free_writes) {
        sr_write *w = srv->free_writes;
        srv->free_writes = w->next_free;
        free(w);
    }
    sr_remote_free(srv);
    sr_tls_server_free(srv);
    if (srv->own_loop) {
        uv_run(srv->loop, UV_RUN_NOWAIT);
        uv_loop_close(srv->loop);
        free(srv->own_loop);
    }
    /* the groups that hold handles, once those closed */
    sr_auth_free(srv);
    sr_recover_free(srv);
    sr_presence_free(srv);
    sr_observe_free(srv);
    sr_idle_free(srv);
    sr_writers_free(srv);
    sr_limits_free(srv); /* after the last connection closed */
    sr_clients_free(srv);
    sr_h2c_counters_free(srv);
    sr_ids_free(srv);
    free(srv->hooks);
    sr_accept_free(srv);
    free(srv->scratch);
    for (size_t i = 0; i < srv->n_strings; i++) free(srv->strings[i]);
    free(srv->strings);
    sr_slab_destroy(&srv->conn_pool); /* the connections were freed above */
    sr_slab_destroy(&srv->sendq_pool);
    free(srv);
}

void sr_server_on_accept(sr_server *srv, sr_accept_fn fn, void *ud) {
    srv->hooks->accept_fn = fn;
    srv->hooks->accept_ud = ud;
}

void sr_server_on_close(sr_server *srv, sr_close_fn fn, void *ud) {
    srv->hooks->close_fn = fn;
    srv->hooks->close_ud = ud;
}

void sr_server_on_request(sr_server *srv, sr_request_fn fn, void *ud) {
    srv->hooks->request_fn = fn;
    srv->hooks->request_ud = ud;
}

sr_accept_fn sr_server_accept_hook(const sr_server *srv, void **ud) {
    *ud = srv->hooks->accept_ud;
    return srv->hooks->accept_fn;
}

sr_close_fn sr_server_close_hook(const sr_server *srv, void **ud) {
    *ud = srv->hooks->close_ud;
    return srv->hooks->close_fn;
}

sr_request_fn sr_server_request_hook(const sr_server *srv, void **ud) {
    *ud = srv->hooks->request_ud;
    return srv->hooks->request_fn;
}

void sr_server_set_ticket_claim(sr_server *srv, sr_claim_fn claim, void *ctx) {
    if (!srv) return;
    srv->ticket_claim = claim;
    srv->ticket_claim_ctx = claim ? ctx : NULL;
}

int sr_server_set_adapter_(sr_server *srv, const sr_adapter *in, size_t adapter_size) {
    if (!srv || srv->shutting_down) return SR_ESTATE;
    /* the program's members; those of a newer sr_adapter must be unset */
    sr_adapter full = {0};
    if (in && sr_abi_copy_in(&full, sizeof full, in, adapter_size) < 0) return SR_EINVAL;
    const sr_adapter *adapter = in ? &full : NULL;
    if (srv->has_adapter && srv->adapter.close) srv->adapter.close(srv->adapter.ctx);
    srv->has_adapter = false;
    srv->ticket_claim = NULL; /* the Redis adapter's (use.c sets it again) */
    srv->ticket_claim_ctx = NULL;
    if (!adapter) return SR_OK;
    srv->adapter = *adapter;
    srv->has_adapter = true;
    if (adapter->subscribe) {
        sr_registry_iter it = {0};
        sr_room *room;
        while ((room = sr_registry_next(srv->reg, &it)))
            adapter->subscribe(adapter->ctx, room->name);
        /* POST /disconnect reaches the other nodes there (revoke.c) */
        if (sr_revoke_wanted(srv)) adapter->subscribe(adapter->ctx, SR_CONTROL_ROOM);
    }
    if (adapter->presence_set) {
        sr_registry_iter it = {0};
        sr_room *room;
        while ((room = sr_registry_next(srv->reg, &it)))
            for (uint32_t i = 0; i < room->n_members; i++)
                sr_presence_room_changed(srv, room, room->members[i], 1);
    }
    return SR_OK;
}

void sr_server_stats_(const sr_server *srv, sr_stats *out, size_t out_size) {
    sr_stats full = srv->stats;
    full.rooms = sr_registry_room_count(srv->reg);
    sr_writers_add_stats(srv, &full);
    sr_abi_copy_out(out, out_size, &full, sizeof full);
}
