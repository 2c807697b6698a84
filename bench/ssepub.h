/* SPDX-License-Identifier: MIT */
/*
 * ssepub.h: the benchmark publisher's shared state.
 *
 * ssepub.c paces the messages (steps of rates, catch-up timer) and reports;
 * ssepub_proto.c turns one message into the bytes of the chosen protocol
 * (sserooms POST /publish, Nchan POST /pub/{room}, Redis PUBLISH with the
 * reference envelope) and reads the replies, pipelined, on --conns
 * keep-alive connections (plain or TLS, benchtls.h), matching each reply to
 * the step and send time of its request: the answer time (request queued
 * to reply read) goes into the step's histogram.
 */
#ifndef BENCH_SSEPUB_H
#define BENCH_SSEPUB_H

#include <stddef.h>
#include <stdint.h>

#include "benchnet.h"
#include "benchtls.h"
#include "hist.h"
#include "sseparse.h"

typedef enum pub_proto { PROTO_SSEROOMS, PROTO_NCHAN, PROTO_REDIS } pub_proto;

#define PUB_MAX_STEPS 256

typedef struct pub_step {
    double rate;
    uint64_t due, sent, ok, errors;
    uint64_t start_ns, first_ns, last_ns; /* step start, first and last send */
    hist *answer;                         /* answer times in µs of the step's answered requests */
} pub_step;

typedef struct pub_conn {
    int fd;
    int connecting;
    char *wbuf;
    size_t wlen, woff, wcap;
    uint32_t inflight;
    uint16_t *ring;    /* step index of each request in flight, oldest first */
    uint64_t *ring_ns; /* ... and when it was queued (CLOCK_MONOTONIC ns) */
    uint32_t ring_head;
    int status;     /* HTTP: status of the response being read */
    int redis_type; /* Redis: first byte of the reply line being read, 0 at line start */
    uint64_t retry_at_ns;
    ssep parser;
    struct pub *pub;
    SSL *ssl; /* https targets: the TLS session; `connecting` until its handshake ends */
} pub_conn;

typedef struct pub {
    pub_proto proto;
    bench_url url;
    char path_prefix[2048], path_suffix[2048];
    int has_room_marker;
    const char *channel_prefix, *node_id;
    uint32_t rooms;
    uint64_t *seq; /* per room */
    size_t size;
    uint32_t max_inflight;
    int nconns;
    pub_conn *conns;
    int ep;
    pub_step steps[PUB_MAX_STEPS];
    int nsteps;
    uint64_t conn_errors, late_replies;
    SSL_CTX *tls;    /* https targets */
    hist answer_all; /* every answered request's answer time (µs) */
} pub;

/* Opens (or reopens) a connection; 0 or -1. */
int pub_conn_open(pub *p, pub_conn *c);
/* Queues one message of step k for room index `room` with sequence s on c
 * (builds the data with the current time). */
void pub_conn_queue(pub *p, pub_conn *c, uint32_t room, uint64_t s, uint16_t k);
/* A readiness event on a connection still connecting: ends the TCP
 * connect and drives the TLS handshake. 0 (c->connecting says whether it is
 * up), or -1 when it failed. */
int pub_conn_connecting(pub *p, pub_conn *c, uint32_t events);
/* Writes what is queued; 0, or -1 when the connection broke. */
int pub_conn_flush(pub_conn *c);
/* Reads replies; 0, or -1 when the connection broke or spoke nonsense. */
int pub_conn_read(pub *p, pub_conn *c);
/* Drops a broken connection: its requests in flight count as errors. */
void pub_conn_drop(pub *p, pub_conn *c, uint64_t now_ns);

#endif
