/* SPDX-License-Identifier: MIT */
/*
 * test_faults_resets.c: clients vanishing mid-write. 200 streams share a
 * room; 16 kB messages are published to it 200 times a second; half of the
 * streams never read and are closed abortively (SO_LINGER 0: RST) one by
 * one while the broadcasts go on.
 *
 * The vanishing streams have a 2 kB SO_RCVBUF and a 536-byte TCP_MAXSEG,
 * so their socket buffers fill after a few frames and the server has a
 * write in flight and a queue for each of them when the reset arrives. The
 * queue limit (--max-queue-bytes 8 MB) is far above what they can back up
 * in the test, so each of them can only leave by its reset: slow_disconnects
 * stays 0. Checked: the other 100 streams receive all 200 messages byte
 * for byte and in order; every publish answers 200 with a delivered count
 * falling from 200 to 100; /stats and /rooms drop to the 100 readers; the
 * server's peak RSS stays under the bound; it answers /healthz and exits 0
 * on SIGTERM (no crash, no sanitizer report).
 */
#include "srt_faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    READERS = 100,
    VICTIMS = 100,
    RATE = 200,
    MESSAGES = 200,
    PAD = 16 * 1024,
    FIRST_RESET = 10, /* the first victim vanishes after this many messages */
    LAST_RESET = 190, /* ... and the last after this many */
};

#define WAIT_MS SRT_BY_BUILD(15000, 45000)
/* Measured peak: 6.9 MB in a release build, 24.7 MB with ASan; the
 * bounds allow 4-5x that. Messages a vanished stream still had queued are
 * freed with it, so the figure does not grow with the number of victims. */
#define RSS_BOUND_KB SRT_BY_BUILD(28L * 1024, 128L * 1024)

static void test_resets_during_broadcasts(void **state) {
    (void)state;
    static srt_proc p;
    assert_int_equal(srt_server_start(&p, "--max-queue-bytes", "8388608", NULL), 0);
    srt_faults_check_mem(&p, "idle", RSS_BOUND_KB);

    srt_seqset readers, victims;
    srt_seq_opts reader_opts = {.src_base = 2};
    srt_seq_opts victim_opts = {.rcvbuf = 2048, .mss = 536, .src_base = 3};
    srt_seqset_open(&readers, p.port, "/sse?room=wide", READERS, PAD, &reader_opts, WAIT_MS);
    srt_seqset_open(&victims, p.port, "/sse?room=wide", VICTIMS, PAD, &victim_opts, WAIT_MS);
    srt_check_room_members(p.port, "wide", READERS + VICTIMS, WAIT_MS);

    static srt_pacer feed;
    srt_pacer_start_padded(&feed, p.port, "wide", RATE, PAD, MESSAGES);
    size_t reset = 0;
    int64_t deadline = srt_now_ms() + MESSAGES * 1000 / RATE + WAIT_MS;
    while (srt_pacer_count(&feed) < MESSAGES && srt_now_ms() < deadline) {
        srt_seqset_pump(&readers, 5);
        size_t sent = srt_pacer_count(&feed);
        /* victim k vanishes once FIRST_RESET + k * (LAST - FIRST) / VICTIMS went out */
        while (reset < VICTIMS &&
               sent >= FIRST_RESET + reset * (LAST_RESET - FIRST_RESET) / VICTIMS)
            srt_seqset_reset(&victims, reset++);
    }
    srt_pacer_wait(&feed, MESSAGES, WAIT_MS);
    while (reset < VICTIMS) srt_seqset_reset(&victims, reset++);
    size_t complete = srt_seqset_wait(&readers, MESSAGES - 1, WAIT_MS);
    srt_pacer_stop(&feed);

    assert_int_equal(srt_seqset_failures(&readers), 0);
    assert_int_equal(srt_seqset_ended(&readers), 0);
    assert_int_equal(complete, READERS);
    srt_pacer_check(&feed, "publisher", READERS, READERS + VICTIMS);
    assert_int_equal(feed.recs[0].delivered, READERS + VICTIMS);
    for (size_t i = 1; i < MESSAGES; i++) {
        if (feed.recs[i].delivered > feed.recs[i - 1].delivered)
            fail_msg("publish %zu delivered to %lld streams, after %lld", i, feed.recs[i].delivered,
                     feed.recs[i - 1].delivered);
    }
    printf("  %d readers received all %d messages of %d kB in order; %d streams reset "
           "between messages %d and %d (the last publish reached %lld streams)\n",
           READERS, MESSAGES, PAD / 1024, VICTIMS, FIRST_RESET, LAST_RESET,
           feed.recs[MESSAGES - 1].delivered);

    /* the vanished streams are gone, by their reset, not as slow consumers */
    srt_faults_wait_stat(p.port, "streams", READERS, WAIT_MS);
    srt_check_room_members(p.port, "wide", READERS, WAIT_MS);
    assert_int_equal(srt_check_stat(p.port, "slow_disconnects"), 0);
    srt_faults_check_mem(&p, "after", RSS_BOUND_KB);

    /* still serving, the readers included */
    srt_check_healthy(p.port);
    srt_check_publish_delivered(p.port, "{\"room\":\"wide\",\"id\":\"200\",\"data\":\"200:\"}",
                                READERS);
    readers.pad = 0;
    assert_int_equal(srt_seqset_wait(&readers, MESSAGES, WAIT_MS), READERS);
    assert_int_equal(srt_seqset_failures(&readers), 0);

    srt_pacer_free(&feed);
    srt_seqset_close(&readers);
    srt_seqset_close(&victims);
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_resets_during_broadcasts, srt_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
