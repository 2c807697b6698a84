/* SPDX-License-Identifier: MIT */
/*
 * fuzz_redis_reply.c: libFuzzer target for the Redis reply handling: the
 * real adapter (src/redis/adapter*.c, sequence.c, subs.c) on real
 * connections (conn.c, which feeds hiredis's reader and routes its
 * replies and pub/sub pushes), talking over a Unix socket to a fake Redis
 * in the same process and on the same libuv loop that answers with the
 * fuzz input.
 *
 * conn.c keeps its reply interpretation (push classification, FIFO
 * matching, subscription confirmations) in static functions behind the
 * socket, so the input goes where a Redis server's bytes go: through the
 * socket, cut into pieces that arrive in separate reads.
 *
 * Input: byte 0 picks the mode, how many pieces (1..8) and whether the
 * adapter is closed from inside its first delivery; bytes 1..4 seed the
 * cuts; the rest is the stream the fake server sends.
 *  - push: the subscriber subscribes rooms a and b; after the real
 *    confirmations the stream follows on that connection (messages,
 *    confirmations, garbage);
 *  - replies: once both connections are up, PUBLISHes and sequence calls
 *    (EVAL) are made; the stream is the publisher's replies to them;
 *  - handshake: AUTH, SELECT and PING are answered by the stream, on both
 *    connections.
 * Outside the stream the fake server answers as Redis would, including the
 * liveness canary's SUBSCRIBE and PUBLISHes (probes that never come back
 * within one input, whose 5 s deadline equals the canary's timeout).
 * After the stream the server half-closes; the client must notice (EOF)
 * and close, which ends the input. Checked: no crash, leak or sanitizer
 * report; every delivered message holds JSON data and id/event without
 * CR/LF; each sequence call completes exactly once with a well-formed id
 * or an error; the drop counters add up to what was received; publishes
 * are acknowledged or failed, never lost; /stats output is JSON; closing
 * leaves no libuv handle behind. A run that does not end in 5 s aborts.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "fuzz_util.h"
#include "redis/adapter.h"
#include "sserooms.h"
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MODE_PUSH = 0, MODE_REPLIES, MODE_HANDSHAKE, N_MODES };

#define NODE_ID "fuzz-node"
#define MAX_PIECES 8
#define MAX_SEQ_CALLS 3
#define DEADLINE_MS 5000

typedef struct fake_client {
    uv_pipe_t pipe;
    uv_timer_t piece_timer;
    redisReader *reader; /* parses the commands the adapter sends */
    int target;          /* gets the fuzz stream */
    size_t piece;        /* next piece to send */
    size_t channels;     /* subscribed so far */
    int shut;            /* write side closed */
    int closing;
    struct fake_client *next;
} fake_client;

typedef struct seq_record {
    int rc_call;    /* what the call returned */
    int done_calls; /* times done ran */
    int rc;         /* rc given to done */
} seq_record;

typedef struct harness {
    uv_loop_t loop;
    uv_pipe_t listener;
    uv_check_t poll_state;
    uv_timer_t deadline;
    char dir[108];
    char path[108];
    int ready;

    /* the current input */
    int mode;
    int close_in_deliver;
    const char *stream;
    size_t len;
    size_t cuts[MAX_PIECES + 1]; /* piece i is stream[cuts[i]..cuts[i+1]) */
    size_t n_pieces;
    sr_redis_adapter *a;
    int commands_issued;
    int targets_started, targets_open;
    fake_client *clients;
    seq_record seq[MAX_SEQ_CALLS];
    int n_seq;
    uint64_t publishes_queued;
} harness;

static harness H;

/* ------------------------------------------------------------ fake server */

/* The pipe closes first, then the timer, then c is freed. */
static void on_timer_closed(uv_handle_t *h) {
    fake_client *c = h->data;
    for (fake_client **pp = &H.clients; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    if (c->target) H.targets_open--;
    redisReaderFree(c->reader);
    free(c);
}

static void on_pipe_closed(uv_handle_t *h) {
    fake_client *c = h->data;
    uv_close((uv_handle_t *)&c->piece_timer, on_timer_closed);
}

static void close_client(fake_client *c) {
    if (c->closing) return;
    c->closing = 1;
    uv_timer_stop(&c->piece_timer);
    uv_close((uv_handle_t *)&c->pipe, on_pipe_closed);
}

typedef struct write_req {
    uv_write_t req;
    fake_client *c;
    int is_piece;
    char data[];
} write_req;

static void send_next_piece(uv_timer_t *t);

static void on_written(uv_write_t *req, int status) {
    write_req *w = (write_req *)req;
    fake_client *c = w->c;
    int is_piece = w->is_piece;
    free(w);
    if (c->closing) return;
    if (status < 0) { /* the client closed first (EPIPE): it is done */
        close_client(c);
        return;
    }
    if (is_piece) uv_timer_start(&c->piece_timer, send_next_piece, 0, 0);
}

static void send_bytes(fake_client *c, const char *p, size_t n, int is_piece) {
    write_req *w = malloc(sizeof *w + (n ? n : 1));
    FUZZ_CHECK(w != NULL, "oom");
    w->c = c;
    w->is_piece = is_piece;
    memcpy(w->data, p, n);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_written) != 0) {
        free(w);
        close_client(c);
    }
}

static void send_str(fake_client *c, const char *s) {
    send_bytes(c, s, strlen(s), 0);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    free(req);
}

/* One piece per loop turn, so the client reads them separately; after the
 * last one the write side is closed and the client's EOF is awaited. */
static void send_next_piece(uv_timer_t *t) {
    fake_client *c = t->data;
    if (c->closing || c->shut) return;
    if (c->piece < H.n_pieces) {
        size_t from = H.cuts[c->piece], to = H.cuts[c->piece + 1];
        c->piece++;
        if (to > from) {
            send_bytes(c, H.stream + from, to - from, 1);
            return;
        }
        uv_timer_start(&c->piece_timer, send_next_piece, 0, 0);
        return;
    }
    c->shut = 1;
    uv_shutdown_t *req = malloc(sizeof *req);
    FUZZ_CHECK(req != NULL, "oom");
    if (uv_shutdown(req, (uv_stream_t *)&c->pipe, on_shutdown) != 0) {
        free(req);
        close_client(c);
    }
}

static void start_stream(fake_client *c) {
    if (c->target) return;
    c->target = 1;
    H.targets_started++;
    H.targets_open++;
    uv_timer_start(&c->piece_timer, send_next_piece, 0, 0);
}

static int arg_is(const redisReply *r, const char *w) {
    return r->type == REDIS_REPLY_STRING && (size_t)r->len == strlen(w) &&
           strncasecmp(r->str, w, r->len) == 0;
}

/* What a real Redis would answer, except where the stream takes over. */
static void on_command(fake_client *c, const redisReply *cmd) {
    FUZZ_CHECK(cmd->type == REDIS_REPLY_ARRAY && cmd->elements >= 1,
               "the adapter sent a non-command");
    for (size_t i = 0; i < cmd->elements; i++)
        FUZZ_CHECK(cmd->element[i]->type == REDIS_REPLY_STRING,
                   "a command argument is not a string");
    const redisReply *verb = cmd->element[0];
    if (c->target) return; /* the stream answers everything now */
    if (H.mode == MODE_HANDSHAKE) {
        start_stream(c);
        return;
    }
    if (arg_is(verb, "PING")) {
        send_str(c, "+PONG\r\n");
    } else if (arg_is(verb, "AUTH") || arg_is(verb, "SELECT")) {
        send_str(c, "+OK\r\n");
    } else if (arg_is(verb, "SUBSCRIBE")) {
        /* rooms in push mode; the liveness canary's channel in every mode */
        for (size_t i = 1; i < cmd->elements; i++) {
            const redisReply *ch = cmd->element[i];
            char head[64];
            int n = snprintf(head, sizeof head, "*3\r\n$9\r\nsubscribe\r\n$%zu\r\n",
                             (size_t)ch->len);
            send_bytes(c, head, (size_t)n, 0);
            send_bytes(c, ch->str, (size_t)ch->len, 0);
            n = snprintf(head, sizeof head, "\r\n:%zu\r\n", ++c->channels);
            send_bytes(c, head, (size_t)n, 0);
        }
        if (H.mode == MODE_PUSH) start_stream(c);
    } else if (arg_is(verb, "PUBLISH") && H.mode == MODE_PUSH) {
        send_str(c, ":0\r\n"); /* a canary probe: nobody hears it */
    } else if (H.mode == MODE_REPLIES && (arg_is(verb, "PUBLISH") || arg_is(verb, "EVAL"))) {
        start_stream(c);
    } else if (arg_is(verb, "SET") && cmd->elements >= 3) {
        /* presence's liveness key (presence.c): SET key incarnation PX ttl
         * [GET]; with GET it answers the key's value: this incarnation, so
         * the node does not re-assert */
        if (arg_is(cmd->element[cmd->elements - 1], "GET")) {
            const redisReply *v = cmd->element[2];
            char head[32];
            int n = snprintf(head, sizeof head, "$%zu\r\n", (size_t)v->len);
            send_bytes(c, head, (size_t)n, 0);
            send_bytes(c, v->str, (size_t)v->len, 0);
            send_str(c, "\r\n");
        } else {
            send_str(c, "+OK\r\n");
        }
    } else if (arg_is(verb, "DEL") || arg_is(verb, "PEXPIRE")) {
        send_str(c, ":0\r\n"); /* presence's room index (presence.c, presence_write.c): none here */
    } else if (arg_is(verb, "EVAL")) {
        send_str(c, ":1\r\n"); /* presence's node registry and room index scripts */
    } else {
        FUZZ_CHECK(0, "unexpected command %.*s in mode %d", (int)verb->len, verb->str, H.mode);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    static char rbuf[65536];
    *buf = uv_buf_init(rbuf, sizeof rbuf);
}

static void on_server_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    fake_client *c = s->data;
    if (c->closing) return;
    if (nread < 0) { /* the client closed: the input is done for it */
        close_client(c);
        return;
    }
    FUZZ_CHECK(redisReaderFeed(c->reader, buf->base, (size_t)nread) == REDIS_OK, "feed");
    for (;;) {
        void *reply = NULL;
        FUZZ_CHECK(redisReaderGetReply(c->reader, &reply) == REDIS_OK, "the adapter sent bad RESP");
        if (!reply) break;
        on_command(c, reply);
        freeReplyObject(reply);
        if (c->closing) break;
    }
}

static void on_connection(uv_stream_t *listener, int status) {
    FUZZ_CHECK(status == 0, "listen: %s", uv_strerror(status));
    fake_client *c = calloc(1, sizeof *c);
    FUZZ_CHECK(c != NULL, "oom");
    c->reader = redisReaderCreate();
    FUZZ_CHECK(c->reader != NULL, "oom");
    uv_pipe_init(&H.loop, &c->pipe, 0);
    uv_timer_init(&H.loop, &c->piece_timer);
    c->pipe.data = c;
    c->piece_timer.data = c;
    FUZZ_CHECK(uv_accept(listener, (uv_stream_t *)&c->pipe) == 0, "accept");
    c->next = H.clients;
    H.clients = c;
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_server_read);
}

/* ------------------------------------------------------------ the adapter side */

static void check_message(const char *room, size_t room_len, const sr_message *m) {
    volatile char sink = 0;
    for (size_t i = 0; i < room_len; i++) sink ^= room[i]; /* readable */
    (void)sink;
    sr_json_value v;
    FUZZ_CHECK(m->data && sr_json_validate(m->data, m->data_len, 1000, &v, NULL, NULL) == 0 &&
                   v.len == m->data_len,
               "delivered data is not JSON");
    const char *fields[2] = {m->id, m->event};
    for (int i = 0; i < 2; i++)
        if (fields[i])
            FUZZ_CHECK(fields[i][0] && !strpbrk(fields[i], "\r\n"), "delivered id/event");
}

static int on_deliver(void *ud, const char *room, size_t room_len, const sr_message *msg,
                      const char *dedup) {
    (void)dedup;
    check_message(room, room_len, msg);
    if (H.close_in_deliver && H.a) {
        sr_redis_adapter_close(H.a); /* freed once this returns */
        H.a = NULL;
    }
    return 1;
}

static void on_sequence(void *ud, int rc, const char *text) {
    seq_record *r = ud;
    r->done_calls++;
    r->rc = rc;
    FUZZ_CHECK(text != NULL, "sequence text");
    if (rc == 0) {
        size_t n = strlen(text);
        FUZZ_CHECK(n == 14 && text[0] == '7' && text[1] == '-' &&
                       strspn(text + 2, "0123456789") == 12,
                   "sequence id '%s'", text);
    } else {
        FUZZ_CHECK(rc < 0 && text[0], "sequence error %d '%s'", rc, text);
    }
}

/* Mode replies: once both connections are up, queue what the stream answers. */
static void on_poll_state(uv_check_t *h) {
    if (H.commands_issued || !H.a || strcmp(sr_redis_adapter_state(H.a), "up") != 0) return;
    H.commands_issued = 1;
    static const char *const rooms[] = {"a", "b"};
    sr_message msg = {
        .id = "1", .event = "message", .data = "{\"k\":1}", .data_len = SIZE_MAX, .retry = 0};
    /* each room is acknowledged or counted as failed, even when the call
     * itself fails */
    for (int i = 0; i < 2; i++) {
        sr_redis_adapter_publish(H.a, rooms, 2, &msg, NULL, 0);
        H.publishes_queued += 2;
    }
    for (int i = 0; i < MAX_SEQ_CALLS; i++) {
        seq_record *r = &H.seq[H.n_seq++];
        r->rc_call = i == 1 ? sr_redis_adapter_publish_sequenced(H.a, rooms, 1, &msg, "{}", 2, "k",
                                                                 "7", on_sequence, r)
                            : sr_redis_adapter_sequence_next(H.a, "k", "7", on_sequence, r);
        if (i == 1) H.publishes_queued += 1; /* its script's PUBLISH to one room counts too */
    }
}

static void on_deadline(uv_timer_t *t) {
    FUZZ_CHECK(0, "mode %d did not finish within %d ms (targets %d started, %d open)", H.mode,
               DEADLINE_MS, H.targets_started, H.targets_open);
}

static void cleanup_dir(void) {
    unlink(H.path);
    rmdir(H.dir);
}

static void setup(void) {
    signal(SIGPIPE, SIG_IGN);
    FUZZ_CHECK(uv_loop_init(&H.loop) == 0, "loop");
    /* under $TMPDIR when the socket path still fits (fuzz.sh points it at
     * the run directory, so a crashed run leaves nothing in /tmp) */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) + 40 > sizeof H.path) tmp = "/tmp";
    snprintf(H.dir, sizeof H.dir, "%s/sr-fuzz-redis-XXXXXX", tmp);
    FUZZ_CHECK(mkdtemp(H.dir) != NULL, "mkdtemp");
    int n = snprintf(H.path, sizeof H.path, "%s/redis.sock", H.dir);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof H.path, "socket path too long");
    atexit(cleanup_dir);
    uv_pipe_init(&H.loop, &H.listener, 0);
    FUZZ_CHECK(uv_pipe_bind(&H.listener, H.path) == 0, "bind %s", H.path);
    FUZZ_CHECK(uv_listen((uv_stream_t *)&H.listener, 16, on_connection) == 0, "listen");
    uv_check_init(&H.loop, &H.poll_state);
    uv_timer_init(&H.loop, &H.deadline);
    H.ready = 1;
}

static void count_handle(uv_handle_t *h, void *arg) {
    ++*(int *)arg;
}

static void check_counters(void) {
    sr_redis_counters n;
    sr_redis_adapter_counters(H.a, &n);
    uint64_t dropped = n.invalid_json + n.not_object + n.bad_version + n.bad_fields +
                       n.foreign_channel;
    FUZZ_CHECK(n.received == n.delivered + dropped + n.own_echo + n.presence_events,
               "received %llu != delivered %llu + dropped %llu + echo %llu + presence %llu",
               (unsigned long long)n.received, (unsigned long long)n.delivered,
               (unsigned long long)dropped, (unsigned long long)n.own_echo,
               (unsigned long long)n.presence_events);
    FUZZ_CHECK(n.published + n.publish_failures == H.publishes_queued,
               "publishes: %llu ok + %llu failed != %llu", (unsigned long long)n.published,
               (unsigned long long)n.publish_failures, (unsigned long long)H.publishes_queued);
    FUZZ_CHECK(n.sequenced + n.sequence_failures == (uint64_t)H.n_seq, "sequence counters");
    uint64_t ids = 0;
    for (int i = 0; i < H.n_seq; i++) ids += H.seq[i].done_calls == 1 && H.seq[i].rc == 0;
    FUZZ_CHECK(ids == n.sequenced, "%llu ids handed out, %llu counted", (unsigned long long)ids,
               (unsigned long long)n.sequenced);
    char stats[4096];
    size_t sl = sr_redis_adapter_stats_json(H.a, stats, sizeof stats);
    FUZZ_CHECK(sl > 2 && stats[0] == ',', "stats");
    stats[0] = '{';
    FUZZ_CHECK(sl + 1 < sizeof stats, "stats size");
    stats[sl] = '}';
    sr_json_value v;
    FUZZ_CHECK(sr_json_validate(stats, sl + 1, 8, &v, NULL, NULL) == 0, "stats are not JSON: %.*s",
               (int)sl, stats);
    if (getenv("SR_FUZZ_VERBOSE"))
        fprintf(
            stderr,
            "mode %d: received %llu delivered %llu echo %llu dropped %llu published %llu/%llu sequenced %llu/%d\n",
            H.mode, (unsigned long long)n.received, (unsigned long long)n.delivered,
            (unsigned long long)n.own_echo, (unsigned long long)dropped,
            (unsigned long long)n.published, (unsigned long long)H.publishes_queued,
            (unsigned long long)n.sequenced, H.n_seq);
    char reason[256];
    int down = sr_redis_adapter_health(H.a, reason, sizeof reason);
    FUZZ_CHECK((down == 0 && reason[0] == '\0') || (down == 1 && reason[0]), "health");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5) return 0;
    if (!H.ready) setup();
    H.mode = (data[0] & 3) % N_MODES;
    H.close_in_deliver = (data[0] >> 2) & 1;
    H.n_pieces = 1 + ((data[0] >> 3) & 7);
    H.stream = (const char *)data + 5;
    H.len = size - 5;
    fuzz_rng rng;
    fuzz_rng_seed(&rng, data + 1, 4);
    H.cuts[0] = 0;
    for (size_t i = 1; i < H.n_pieces; i++)
        H.cuts[i] = H.len ? fuzz_rng_next(&rng) % (H.len + 1) : 0;
    H.cuts[H.n_pieces] = H.len;
    /* sorted cuts: pieces in stream order */
    for (size_t i = 1; i < H.n_pieces; i++)
        for (size_t j = i; j > 0 && H.cuts[j] < H.cuts[j - 1]; j--) {
            size_t t = H.cuts[j];
            H.cuts[j] = H.cuts[j - 1];
            H.cuts[j - 1] = t;
        }
    H.a = NULL;
    H.commands_issued = 0;
    H.targets_started = H.targets_open = 0;
    H.n_seq = 0;
    H.publishes_queued = 0;
    memset(H.seq, 0, sizeof H.seq);

    char url[160];
    if (H.mode == MODE_HANDSHAKE) snprintf(url, sizeof url, "unix://fuzz:secret@%s?db=3", H.path);
    else snprintf(url, sizeof url, "unix://%s", H.path);
    sr_redis_options opts;
    sr_redis_options_init(&opts);
    opts.url = url;
    opts.node_id = NODE_ID;
    opts.ping_interval_ms = 0;
    opts.connect_timeout_ms = 60000;
    opts.reconnect_min_ms = opts.reconnect_max_ms = 60000; /* no retry within one input */
    char err[256];
    FUZZ_CHECK(sr_redis_adapter_new(&H.a, &H.loop, &opts, on_deliver, NULL, err, sizeof err) == 0,
               "adapter: %s", err);
    if (H.mode == MODE_PUSH) {
        FUZZ_CHECK(sr_redis_adapter_subscribe(H.a, "a") == 0 &&
                       sr_redis_adapter_subscribe(H.a, "b") == 0,
                   "subscribe");
    }
    if (H.mode == MODE_REPLIES) uv_check_start(&H.poll_state, on_poll_state);
    uv_timer_start(&H.deadline, on_deadline, DEADLINE_MS, 0);

    while (H.targets_started == 0 || H.targets_open > 0) uv_run(&H.loop, UV_RUN_ONCE);

    uv_check_stop(&H.poll_state);
    if (H.a) {
        check_counters();
        sr_redis_adapter_close(H.a);
        H.a = NULL;
    }
    for (fake_client *c = H.clients; c; c = c->next) close_client(c);
    /* everything closes within a few turns: only the harness's own
     * listener, check and deadline handles may be left */
    int handles = 0;
    for (int turn = 0; turn < 100; turn++) {
        uv_run(&H.loop, UV_RUN_NOWAIT);
        handles = 0;
        uv_walk(&H.loop, count_handle, &handles);
        if (handles == 3 && !H.clients) break;
    }
    uv_timer_stop(&H.deadline);
    FUZZ_CHECK(handles == 3 && !H.clients, "%d libuv handles left after closing everything",
               handles);
    /* every sequence call completed exactly once */
    for (int i = 0; i < H.n_seq; i++) {
        const seq_record *r = &H.seq[i];
        FUZZ_CHECK(r->done_calls == (r->rc_call == 0 ? 1 : 0),
                   "sequence call %d: returned %d, done ran %d times", i, r->rc_call,
                   r->done_calls);
    }
    return 0;
}
