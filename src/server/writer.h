/* SPDX-License-Identifier: MIT */
/*
 * writer.h: writer threads (sr_config.threads >= 2, or 0 = one per core).
 *
 * The caller's loop keeps accepting, HTTP, rooms, fan-out and the adapter;
 * once a connection is an SSE stream it is handed to one writer thread,
 * which owns its send queue and does every write to its socket. The main
 * loop appends (stream slot, frame reference) commands to the writer's
 * pending batch during a loop turn and hands each non-empty batch over at
 * the end of the turn (one mutex swap + uv_async_send). The writer answers
 * "gone" once it let go of a stream (closed by the main loop, ended after
 * its queue drained, slow consumer, write error); only then does the main
 * loop close the socket, so a writer never writes to a closed or reused fd.
 * An HTTP/2 connection is handed over whole once its session runs (see
 * sr_writer_h2 and h2conn.c); its streams stay on the main loop.
 * With threads = 1 none of this exists and sendq.c writes as before.
 */
#ifndef SR_SERVER_WRITER_H
#define SR_SERVER_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "server/internal.h"

/* Why a writer let go of a stream (sr_conn_writer_gone's reason). */
typedef enum sr_gone_reason {
    SR_GONE_ASKED = 0, /* detach or end asked by the main loop */
    SR_GONE_SLOW = 1,  /* queued bytes passed max_queue_bytes */
    SR_GONE_ERROR = 2, /* the socket failed (peer reset, ...) */
    /* not a let-go: streams of an HTTP/2 connection on the writer closed
     * (sr_h2c_reap closes them on the main loop); the slot stays */
    SR_GONE_H2_STREAMS = 3
} sr_gone_reason;

/* Number of writer threads cfg asks for: threads - 1 (threads counts the
 * caller's loop; 0: one thread per core), so 0 when threads is 1 or on a
 * single core; at most 64. */
unsigned sr_writers_wanted(const sr_config *cfg);
/* Starts n writer threads (at listen). 0, or SR_ENOMEM / SR_EIO. */
int sr_writers_start(sr_server *srv, unsigned n);
/* Stops and joins the threads; streams they still held come back as gone
 * (and are closed). Idempotent. */
void sr_writers_stop(sr_server *srv);
/* Frees what is left (after the main loop closed the wake-up handle). */
void sr_writers_free(sr_server *srv);
/* Hands c (a new stream) to a writer, with what is already queued for it.
 * -1: it stays on the main loop (a write in flight, or no fd). */
int sr_writer_attach(sr_conn *c);
void sr_writer_frame(sr_conn *c, sr_frame *f); /* takes a new reference */
void sr_writer_end(sr_conn *c);                /* close once what is queued is written */
void sr_writer_detach(sr_conn *c);             /* drop what is queued; close */
/* An HTTP/2 connection on a writer (h2conn.c attaches the connection
 * itself with sr_writer_attach): what its streams do travels as commands
 * naming the stream, in the order the main loop did it, and the writer
 * applies them to the session (sr_h2c_wcommand) and writes its output.
 * SR_WH2_FRAME: f (takes a new reference) on the stream h2conn.c numbered
 * `sid` (its writer-side number, not the stream id: see h2conn.c's
 * h2_entry); SR_WH2_END: END_STREAM on stream id `sid` after what is
 * queued; SR_WH2_RESET: RST_STREAM with `error`; SR_WH2_KICK (sid 0): write
 * what the session has. 0 < sid < SR_WH2_MAX_SID. */
enum { SR_WH2_KICK = 0, SR_WH2_FRAME, SR_WH2_END, SR_WH2_RESET };
#define SR_WH2_MAX_SID ((int32_t)1 << 29)
void sr_writer_h2(sr_conn *parent, int what, int32_t sid, sr_frame *f, uint32_t error);
/* End of a loop turn: hands every non-empty batch to its writer. */
void sr_writers_handover(sr_server *srv);
bool sr_writers_pending(const sr_server *srv);
/* Adds the writers' counters (bytes_out, heartbeats, slow_disconnects). */
void sr_writers_add_stats(const sr_server *srv, sr_stats *out);
/* Adds the writers' publish-to-write latency histogram. */
void sr_writers_add_latency(const sr_server *srv, uint64_t *counts, uint64_t *sum_us);

/* conn.c: c's transport (NULL: plain TCP), read by its writer at attach. */
struct sr_transport *sr_conn_transport(const sr_conn *c);
/* conn.c: true when c is an HTTP/2 connection (read by its writer at attach). */
bool sr_conn_is_h2(const sr_conn *c);
/* conn.c: the writer let go of c; the main loop closes it now. */
void sr_conn_writer_gone(sr_conn *c, sr_gone_reason why);

#endif
