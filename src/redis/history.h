/* SPDX-License-Identifier: MIT */
/*
 * history.h: resume history kept in Redis, shared by every node (see
 * history.c and docs/resume.md): the sr_adapter members history_publish
 * and history_fetch of the Redis adapter (classic mode only; with Redis
 * Cluster they stay NULL and each node keeps its history in memory).
 */
#ifndef SR_REDIS_HISTORY_H
#define SR_REDIS_HISTORY_H

#include "redis/adapter.h"

/* Sets out->history_publish / history_fetch (NULL in cluster mode). */
void sr_redis_history_vtable(sr_redis_adapter *a, sr_adapter *out);

/* The contracts of the sr_adapter members of the same names. */
int sr_redis_history_publish(sr_redis_adapter *a, const char *const *rooms, size_t n_rooms,
                             const sr_message *msg, const char *meta, size_t meta_len,
                             const sr_history_limits *lim, sr_sequence_fn done, void *ud);
int sr_redis_history_fetch(sr_redis_adapter *a, const char *const *rooms, size_t n_rooms,
                           const char *epoch, uint64_t after, const sr_history_limits *lim,
                           sr_history_fn done, void *ud);

/* The publisher came up (up 1: fetches waiting for it run now) or failed
 * (0, also at close: they fail). */
void sr_redis_history_on_pub(sr_redis_adapter *a, int up);

#endif
