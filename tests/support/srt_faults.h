/* SPDX-License-Identifier: MIT */
/*
 * srt_faults.h: support for the fault tests (tests/integration/test_faults_*.c),
 * which put the real sserooms binary under hostile or broken clients and
 * check three things each time: the server stays up, its memory stays
 * under a stated bound, and healthy clients miss nothing.
 *
 *  - Build-dependent figures: bounds and timeouts are stated per build,
 *    SRT_BY_BUILD(plain, sanitized), because an ASan+UBSan server is a few
 *    times slower and its resident set is several times larger (shadow
 *    memory, the quarantine of freed blocks).
 *  - Memory: the server's RSS and peak RSS (VmHWM: the peak over its whole
 *    life, so a short spike between two readings is not missed), printed
 *    and checked against a bound.
 *  - the paced publisher is srt_nodes's srt_pacer (srt_pacer_start_padded
 *    for messages of a chosen size, srt_pace_frame for their frames).
 *  - srt_seqset: many streams opened at once (non-blocking connects, with
 *    per-socket source address, SO_RCVBUF and TCP_MAXSEG), read without
 *    blocking from the test's own loop and checked frame by frame: every
 *    stream must receive the pacer's frames byte for byte, in order, with
 *    nothing missing (or, for a stream allowed gaps, nothing reordered or
 *    repeated, the gaps being recorded).
 *
 * Functions that "check" fail the running cmocka test; every wait is bounded.
 */
#ifndef SRT_FAULTS_H
#define SRT_FAULTS_H

#include "srt_nodes.h"

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- build-dependent figures --------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define SRT_FAULTS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SRT_FAULTS_SANITIZED 1
#endif
#endif
#ifndef SRT_FAULTS_SANITIZED
#define SRT_FAULTS_SANITIZED 0
#endif

/* `plain` in an ordinary build, `sanitized` in an ASan build (where the
 * server under test is the ASan binary of the same build). */
#define SRT_BY_BUILD(plain, sanitized) (SRT_FAULTS_SANITIZED ? (sanitized) : (plain))

/* ---- memory and counters --------------------------------------------------- */

typedef struct srt_mem {
    long rss_kb; /* resident set now */
    long hwm_kb; /* peak resident set so far */
} srt_mem;

/* Reads the server's RSS and peak; fails the test when it cannot. */
srt_mem srt_faults_mem(const srt_proc *p);
/* Prints "<label>: RSS .. kB, peak .. kB (bound .. kB)" and fails the test
 * when the peak is over bound_kb. Returns the reading. */
srt_mem srt_faults_check_mem(const srt_proc *p, const char *label, long bound_kb);
/* An integer member of GET /stats, or with `group` of the object member
 * `group` (e.g. "refused", "request_time"); fails the test when absent. */
long long srt_faults_stat(int port, const char *group, const char *key);
/* Polls /stats until member key equals want; fails after timeout_ms. */
void srt_faults_wait_stat(int port, const char *key, long long want, int timeout_ms);
/* Closes fd with SO_LINGER {1, 0}: the kernel sends RST, not FIN. */
void srt_faults_reset_fd(int fd);

/* ---- srt_seqset: many streams checked frame by frame ----------------------- */

typedef struct srt_seq_opts {
    int rcvbuf;   /* SO_RCVBUF before connecting (0: default) */
    int mss;      /* TCP_MAXSEG before connecting (0: default) */
    int src_base; /* source address 127.0.0.<src_base + i / per_src>; 0: 127.0.0.1 */
    int per_src;  /* streams per source address (0: 200) */
} srt_seq_opts;

typedef struct srt_seqstream {
    int fd;                   /* -1 once closed by the test */
    srt_buf in;               /* bytes not yet consumed */
    size_t scan;              /* in.data[0..scan) holds no block end */
    long long next;           /* the seq expected next */
    long long frames;         /* frames received and checked */
    long long missing;        /* seqs skipped (streams allowed gaps) */
    long long last_missing;   /* the last seq skipped, -1 when none */
    long long gap_events;     /* gap events received (skipped, not frames) */
    long long silent_missing; /* seqs skipped with no gap event before them */
    bool told;                /* a gap event came since the last frame */
    bool eof;                 /* the server ended the stream (err: how) */
    int err;                  /* errno of a failed read (ECONNRESET), else 0 */
    bool bad;                 /* a frame was wrong: see why */
    char why[200];
} srt_seqstream;

typedef struct srt_seqset {
    srt_seqstream *s;
    size_t n;
    size_t pad;      /* the feed's padding */
    bool allow_gaps; /* skipped seqs are recorded, not a failure */
    struct pollfd *pfd;
    size_t *map;
    char *scratch; /* one read */
    srt_buf want;  /* the expected frame being compared */
} srt_seqset;

/* Opens n streams on `path` (128 connects in flight at a time), checks each
 * answered 200 text/event-stream, and keeps any bytes after the head for
 * the checks. Fails the test when one does not open. */
void srt_seqset_open(srt_seqset *set, int port, const char *path, size_t n, size_t pad,
                     const srt_seq_opts *opts, int timeout_ms);
/* One poll over the set's open streams, waiting up to timeout_ms for the
 * first bytes, then reads what arrived (up to 64 kB a stream) and checks
 * the complete frames. Heartbeat comments are skipped. Returns how many
 * streams had input. */
int srt_seqset_pump(srt_seqset *set, int timeout_ms);
/* Pumps until every stream has received seq `last` (or ended, or went
 * bad); returns how many did receive it. Bounded by timeout_ms. */
size_t srt_seqset_wait(srt_seqset *set, long long last, int timeout_ms);
/* Pumps until every stream has ended; returns how many did. */
size_t srt_seqset_wait_eof(srt_seqset *set, int timeout_ms);
/* Streams that went bad (the first few reasons go to stderr). */
size_t srt_seqset_failures(const srt_seqset *set);
/* Streams the server ended. */
size_t srt_seqset_ended(const srt_seqset *set);
/* Abortive close (RST) of stream i. */
void srt_seqset_reset(srt_seqset *set, size_t i);
void srt_seqset_close(srt_seqset *set);

#endif
