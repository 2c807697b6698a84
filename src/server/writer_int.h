/* SPDX-License-Identifier: MIT */
/*
 * writer_int.h: the records shared by the two halves of the writer threads:
 * writer_feed.c (the main loop's side: slots, batches, hand-over, start and
 * stop) and writer.c (the threads' side: queues, writes, the heartbeat
 * wheel). See writer.h for the design.
 */
#ifndef SR_SERVER_WRITER_INT_H
#define SR_SERVER_WRITER_INT_H

#include <stdatomic.h>

#include "server/transport.h"
#include "server/writer.h"

#define SR_WRITER_IOV 1024 /* IOV_MAX, as SR_MAX_IOV in sendq.c */
#define SR_WHEEL_BUCKETS 16
#define SR_MAX_WRITERS 64
#define SR_SLOT_CHUNK 1024
/* a stream's queue limit in a writer: max_queue_bytes is capped at this */
#define SR_WRITER_MAX_QUEUE (UINT32_MAX / 2)

enum { CMD_ATTACH = 0, CMD_FRAME = 1, CMD_END = 2, CMD_DETACH = 3 };
enum { SLOT_FREE = 0, SLOT_LIVE = 1, SLOT_ENDING = 2 };

typedef struct sr_wcmd {
    uint32_t slot;
    int32_t op_fd; /* op in the low 2 bits; attach: fd << 2 */
    void *ptr;     /* frame (CMD_FRAME) or connection (CMD_ATTACH) */
} sr_wcmd;

typedef struct sr_wcmds {
    sr_wcmd *v;
    size_t len, cap;
} sr_wcmds;

typedef struct sr_wgone {
    sr_conn *conn;
    uint32_t slot;
    uint16_t writer;
    uint16_t reason;
} sr_wgone;

typedef struct sr_wgones {
    sr_wgone *v;
    size_t len, cap;
} sr_wgones;

typedef struct sr_writer sr_writer;

typedef struct sr_wpoll {
    uv_poll_t poll;
    sr_writer *w;
    uint32_t slot;
} sr_wpoll;

/* One stream as its writer sees it (at most 64 bytes). */
typedef struct sr_wstream {
    sr_conn *conn;          /* opaque here: handed back in "gone" */
    sr_sendq *q;            /* its send queue (sse/sendq.h), a block of the
                               writer's qpool made only while frames wait: an
                               idle stream holds none */
    uint32_t last_write_ms; /* writer loop time of the last write (low 32
                               bits: only differences are used) */
    sr_wpoll *poll;         /* made at the first EAGAIN */
    sr_transport *xport;    /* its transport (transport.h): NULL is plain
                               TCP; this writer owns it while attached */
    int fd;
    uint8_t state;   /* SLOT_* */
    uint8_t dirty;   /* in the writer's to-flush list */
    uint8_t waiting; /* poll for writable active */
    uint8_t h2;      /* an HTTP/2 connection: its session's output, no queue */
} sr_wstream;

/* Released frame references, summed per frame before the atomic op. */
typedef struct sr_wrelease {
    sr_frame *f[8];
    uint32_t n[8];
    uint32_t len;
} sr_wrelease;

struct sr_writer {
    struct sr_writers *set;
    uint16_t ix;
    uv_thread_t thread;
    bool thread_started;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t wheel_timer;

    /* main loop side */
    sr_wcmds pend;
    sr_frame *ref_frame; /* references taken in one run (see take_ref) */
    uint32_t ref_count;
    uint32_t *free_slots;
    size_t n_free, cap_free;
    uint32_t next_slot;
    uint32_t live; /* streams attached and not yet gone */

    /* shared, under lock */
    uv_mutex_t lock;
    sr_wcmds inbox;
    bool stop;

    /* writer side */
    sr_wcmds work;
    sr_wstream **chunks; /* slot i: chunks[i / SR_SLOT_CHUNK][i % SR_SLOT_CHUNK];
                            chunks never move, so growing copies nothing
                            and leaves no freed copy behind */
    uint32_t n_chunks;
    uint32_t n_slots; /* slots in use so far (the main loop numbers
                         them from 0 up, freed ones first) */
    uint32_t *dirty;
    size_t n_dirty, cap_dirty;
    sr_wgones gone; /* to hand back at the end of a callback */
    sr_wrelease rel;
    sr_conn *h2_held;   /* the HTTP/2 connection whose session lock a run of
                           its commands holds (sr_h2c_wlock), or NULL */
    uint32_t h2_slot;   /* its slot */
    sr_h2c_wctx h2_ctx; /* what the run accounts for */
    sr_slab_pool qpool; /* its streams' send queues while frames wait */
    uint32_t wheel_bucket;
    uint64_t heartbeat_ms, tick_ms;
    sr_frame *heartbeat_frame;
    size_t max_queue_bytes;

    /* counters: written by this writer only */
    atomic_uint_fast64_t bytes_out, heartbeats, slow, latency_sum_us;
    atomic_uint_fast64_t latency[SR_LATENCY_BUCKETS + 1];
    /* odd from just before a sendmsg until what it wrote is counted: a
     * client can read those bytes before the counters move, so a reader
     * that finds it odd waits for the next change (writer_feed.c) */
    atomic_uint_fast64_t sending;
};

struct sr_writers {
    sr_server *srv;
    unsigned n;
    sr_writer *w;
    bool pending; /* main: some pend array is non-empty */
    bool stopped;
    uv_async_t back_async; /* on the main loop: "gone" answers */
    bool back_ready;
    uv_mutex_t back_lock;
    sr_wgones back, back_work;
};

_Static_assert(sizeof(sr_wstream) <= 64, "a stream's writer record stays small");

static inline sr_wstream *slot_at(sr_writer *w, uint32_t i) {
    return &w->chunks[i / SR_SLOT_CHUNK][i % SR_SLOT_CHUNK];
}

/* writer.c: the writer thread's callbacks and entry point */
void sr_writer_on_wake(uv_async_t *a);
void sr_writer_on_wheel_tick(uv_timer_t *t);
void sr_writer_thread_main(void *arg);

#endif
