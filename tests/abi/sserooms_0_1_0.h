/* SPDX-License-Identifier: MIT */
/*
 * sserooms_0_1_0.h: the public header as an older program knew it, for the
 * "old header, new library" test (old_program.c). Its sr_config, sr_adapter
 * and sr_stats are those of the first release, 0.1.0 (sr_redis_options is
 * 0.1.0's without error_buf, which became the err argument of
 * sr_server_use_redis); the calls are the sized ones of SOVERSION 1, as
 * include/sserooms.h declares them ("ABI" there). Only what the test uses
 * is declared. Compiled with SR_ABI_BEFORE_SIZES, the calls are the unsized
 * ones of SOVERSION 0: that is how a 0.1.0 program called, and against a
 * library of that time ASan reports the stack overrun the test guards
 * against (the library wrote and read its larger structs whole).
 * Never update these structs to the current ones: they are the old layout.
 */
#ifndef SSEROOMS_0_1_0_H
#define SSEROOMS_0_1_0_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct sr_server sr_server;
typedef struct sr_conn sr_conn;

enum { SR_OK = 0, SR_EINVAL = -2, SR_EROOM = -3 };

typedef struct sr_message {
    const char *id;
    const char *event;
    const char *data;
    size_t data_len;
    uint32_t retry;
} sr_message;

typedef struct sr_broadcast_opts {
    int local;
    sr_conn *const *except;
    size_t n_except;
    const char *meta;
    size_t meta_len;
} sr_broadcast_opts;

typedef struct sr_config {
    const char *host;
    int port;
    int backlog;
    uint32_t heartbeat_ms;
    size_t max_queue_bytes;
    size_t max_header_bytes;
    size_t max_body_bytes;
    uint32_t request_timeout_ms;
    uint32_t keepalive_timeout_ms;
    unsigned max_rooms_per_conn;
    size_t max_room_len;
    unsigned max_json_depth;
    size_t max_connections;
    const char *const *cors_origins;
    size_t n_cors_origins;
    const char *publish_key;
    int enable_publish;
    int enable_info;
    const char *sse_path;
} sr_config;

typedef struct sr_adapter {
    void *ctx;
    const char *name;
    int (*subscribe)(void *ctx, const char *room);
    int (*unsubscribe)(void *ctx, const char *room);
    int (*publish)(void *ctx, const char *const *rooms, size_t n_rooms, const sr_message *msg,
                   const char *meta, size_t meta_len);
    void (*close)(void *ctx);
    int (*health)(void *ctx, char *reason, size_t cap);
    size_t (*stats_json)(void *ctx, char *out, size_t cap);
} sr_adapter;

typedef struct sr_stats {
    uint64_t connections;
    uint64_t streams;
    uint64_t rooms;
    uint64_t streams_total;
    uint64_t requests_total;
    uint64_t messages_in;
    uint64_t messages_remote_in;
    uint64_t messages_out;
    uint64_t bytes_out;
    uint64_t heartbeats;
    uint64_t slow_disconnects;
    uint64_t rejected_requests;
    uint64_t adapter_errors;
} sr_stats;

typedef struct sr_redis_options {
    const char *url;
    const char *channel_prefix;
    const char *node_id;
    uint32_t connect_timeout_ms;
    uint32_t ping_interval_ms;
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    size_t outbox_max;
#ifdef SR_ABI_BEFORE_SIZES
    char *error_buf;
    size_t error_buf_len;
#endif
} sr_redis_options;

const char *sr_strerror(int err);
int sr_broadcast(sr_server *srv, const char *const *rooms, size_t n_rooms, const sr_message *msg,
                 const sr_broadcast_opts *opts);
void sr_server_free(sr_server *srv);

#ifndef SR_ABI_BEFORE_SIZES
void sr_config_init_(sr_config *cfg, size_t cfg_size);
#define sr_config_init(cfg) sr_config_init_((cfg), sizeof(sr_config))
int sr_server_new_(sr_server **out, uv_loop_t *loop, const sr_config *cfg, size_t cfg_size);
#define sr_server_new(out, loop, cfg) sr_server_new_((out), (loop), (cfg), sizeof(sr_config))
int sr_server_set_adapter_(sr_server *srv, const sr_adapter *adapter, size_t adapter_size);
#define sr_server_set_adapter(srv, adapter)                                                        \
    sr_server_set_adapter_((srv), (adapter), sizeof(sr_adapter))
void sr_server_stats_(const sr_server *srv, sr_stats *out, size_t out_size);
#define sr_server_stats(srv, out) sr_server_stats_((srv), (out), sizeof(sr_stats))
void sr_redis_options_init_(sr_redis_options *opts, size_t opts_size);
#define sr_redis_options_init(opts) sr_redis_options_init_((opts), sizeof(sr_redis_options))
int sr_server_use_redis_(sr_server *srv, const sr_redis_options *opts, size_t opts_size, char *err,
                         size_t errcap);
#define sr_server_use_redis(srv, opts, err, errcap)                                                \
    sr_server_use_redis_((srv), (opts), sizeof(sr_redis_options), (err), (errcap))
typedef void (*sr_shutdown_fn)(void *ud, sr_server *srv);
void sr_server_shutdown(sr_server *srv, sr_shutdown_fn done, void *ud);
#else
void sr_config_init(sr_config *cfg);
int sr_server_new(sr_server **out, uv_loop_t *loop, const sr_config *cfg);
int sr_server_set_adapter(sr_server *srv, const sr_adapter *adapter);
void sr_server_stats(const sr_server *srv, sr_stats *out);
void sr_redis_options_init(sr_redis_options *opts);
int sr_server_use_redis(sr_server *srv, const sr_redis_options *opts);
void sr_server_shutdown(sr_server *srv, void (*done)(sr_server *, void *), void *ud);
#endif

#endif
