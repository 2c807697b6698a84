/* SPDX-License-Identifier: MIT */
/*
 * test_faults_slow_readers.c: 500 subscribers that never read next to 500
 * that do, with 200 messages a second published to all of them.
 *
 * The server runs with --max-queue-bytes 65536. The non-readers have a
 * 2 kB SO_RCVBUF and a 536-byte TCP_MAXSEG: on loopback the MSS is ~64 kB
 * and the kernel sizes a connection's send buffer from it (megabytes per
 * socket, which 500 sockets would turn into a gigabyte of kernel memory
 * and minutes of traffic before any queue filled); with a small segment
 * size, as on a slow mobile link, a non-reader backs up after ~100 kB.
 * Checked: every reader receives all 1,000 messages byte for byte and in
 * order; every non-reader is disconnected as a slow consumer
 * (slow_disconnects == 500) and what it did receive is an in-order prefix;
 * each publish answers 200 while the delivered count falls from 1,000 to
 * 500; the server's peak RSS stays under the bound; it still answers
 * /healthz and exits 0 on SIGTERM.
 */
#include "srt_faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    READERS = 500,
    NON_READERS = 500,
    RATE = 200,      /* messages a second */
    MESSAGES = 1000, /* five seconds of them */
    PAD = 400,       /* bytes of padding in each message's data (frames of ~430 bytes) */
};

/* Measured peak: 5.3 MB in a release build, 26 MB with ASan (shadow
 * memory, quarantine); the bounds allow 4.5-5x that. */
#define RSS_BOUND_KB SRT_BY_BUILD(24L * 1024, 128L * 1024)
#define WAIT_MS SRT_BY_BUILD(15000, 45000)

static void test_non_readers_dropped_readers_served(void **state) {
    (void)state;
    static srt_proc p;
    assert_int_equal(srt_server_start(&p, "--max-queue-bytes", "65536", NULL), 0);
    srt_faults_check_mem(&p, "idle", RSS_BOUND_KB);

    /* 200 streams per source address (the per-address limit is 256) */
    srt_seqset readers, idle;
    srt_seq_opts reader_opts = {.src_base = 2};
    srt_seq_opts idle_opts = {.rcvbuf = 2048, .mss = 536, .src_base = 5};
    srt_seqset_open(&readers, p.port, "/sse?room=feed", READERS, PAD, &reader_opts, WAIT_MS);
    srt_seqset_open(&idle, p.port, "/sse?room=feed", NON_READERS, PAD, &idle_opts, WAIT_MS);
    srt_check_room_members(p.port, "feed", READERS + NON_READERS, WAIT_MS);
    srt_mem open = srt_faults_check_mem(&p, "1,000 streams open", RSS_BOUND_KB);

    static srt_pacer feed;
    int64_t t0 = srt_now_ms();
    srt_pacer_start_padded(&feed, p.port, "feed", RATE, PAD, MESSAGES);
    /* read while it publishes: a reader that fell behind would be dropped too */
    int64_t deadline = srt_now_ms() + MESSAGES * 1000 / RATE + WAIT_MS;
    while (srt_pacer_count(&feed) < MESSAGES && srt_now_ms() < deadline)
        srt_seqset_pump(&readers, 20);
    srt_pacer_wait(&feed, MESSAGES, WAIT_MS);
    size_t complete = srt_seqset_wait(&readers, MESSAGES - 1, WAIT_MS);
    int64_t t1 = srt_now_ms();
    srt_pacer_stop(&feed);

    /* the publisher: 200 each time; every stream counted until dropped */
    srt_pacer_check(&feed, "publisher", READERS, READERS + NON_READERS);
    assert_int_equal(feed.recs[0].delivered, READERS + NON_READERS);
    assert_int_equal(feed.recs[MESSAGES - 1].delivered, READERS);
    size_t first_drop = 0;
    for (size_t i = 1; i < MESSAGES; i++) {
        if (feed.recs[i].delivered > feed.recs[i - 1].delivered)
            fail_msg("publish %zu delivered to %lld streams, after %lld", i, feed.recs[i].delivered,
                     feed.recs[i - 1].delivered);
        if (!first_drop && feed.recs[i].delivered < READERS + NON_READERS) first_drop = i;
    }

    /* the readers: everything, in order, byte for byte */
    assert_int_equal(srt_seqset_failures(&readers), 0);
    assert_int_equal(srt_seqset_ended(&readers), 0);
    assert_int_equal(complete, READERS);
    for (size_t i = 0; i < READERS; i++) assert_int_equal(readers.s[i].frames, MESSAGES);

    /* the non-readers: dropped as slow consumers, each having received an
     * in-order prefix of the messages */
    assert_int_equal(srt_check_stat(p.port, "slow_disconnects"), NON_READERS);
    srt_faults_wait_stat(p.port, "streams", READERS, WAIT_MS);
    srt_check_room_members(p.port, "feed", READERS, WAIT_MS);
    assert_int_equal(srt_seqset_wait_eof(&idle, WAIT_MS), NON_READERS);
    assert_int_equal(srt_seqset_failures(&idle), 0);
    long long least = MESSAGES, most = 0;
    for (size_t i = 0; i < NON_READERS; i++) {
        long long got = idle.s[i].frames;
        least = got < least ? got : least;
        most = got > most ? got : most;
    }
    assert_true(most < MESSAGES);
    printf("  %d readers got all %d messages in %lld ms; the first non-reader was dropped "
           "after message %zu; non-readers had received %lld to %lld complete frames\n",
           READERS, MESSAGES, (long long)(t1 - t0), first_drop, least, most);

    srt_mem end = srt_faults_check_mem(&p, "after", RSS_BOUND_KB);
    printf("  growth over 1,000 open streams: %ld kB at the end, %ld kB at the peak\n",
           end.rss_kb - open.rss_kb, end.hwm_kb - open.rss_kb);

    /* still serving */
    srt_check_healthy(p.port);
    srt_check_publish_delivered(p.port, "{\"room\":\"feed\",\"id\":\"1000\",\"data\":\"1000:\"}",
                                READERS);
    readers.pad = 0;
    assert_int_equal(srt_seqset_wait(&readers, MESSAGES, WAIT_MS), READERS);
    assert_int_equal(srt_seqset_failures(&readers), 0);

    srt_pacer_free(&feed);
    srt_seqset_close(&readers);
    srt_seqset_close(&idle);
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_non_readers_dropped_readers_served, srt_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
