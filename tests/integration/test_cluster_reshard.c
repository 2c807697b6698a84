/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_reshard.c: a slot range moved by the real
 * `redis-cli --cluster reshard` under sserooms (issue #8), on its own
 * loopback cluster of 3 masters (srt_cluster, no replicas: reshard only
 * involves masters), with two sserooms nodes: A holds the streams, B
 * publishes.
 *
 * redis-cli moves the lowest-numbered slots of the source master, one by
 * one (SETSLOT IMPORTING/MIGRATING, GETKEYSINSLOT, SETSLOT NODE on every
 * master). The test picks a room whose channel hashes into the middle of
 * that range and a control room whose slot stays on the same source master,
 * and keeps publishing to both from B for the whole run of redis-cli (the
 * pacer thread for the moving room, the main thread between waitpid polls
 * for the control room). What docs/cluster.md promises, and is asserted:
 *  - every publish is accepted (a MOVED is followed: no publish failure);
 *  - the control room, whose slot does not move, loses nothing;
 *  - the moving room: whatever of the messages published during the move
 *    arrives, arrives once and in order (Pub/Sub is at-most-once while A
 *    re-subscribes, so loss is allowed there, and counted);
 *  - once A follows the move (its channel SSUBSCRIBEd on the destination
 *    and no longer on the source, PUBSUB SHARDNUMSUB) N more messages reach
 *    both streams, all of them, in order, once.
 * The slot ranges before and after are checked on the cluster itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis/slot.h"
#include "srt_cluster.h"
#include "srt_nodes.h"
#include "srt_util.h"

extern char **environ;

#define WAIT_MS 15000
#define RESHARD_MS 20000 /* redis-cli is killed after this */
#define SLOTS_MOVED 1000 /* redis-cli moves slots 0..999 of the source */
#define PACE_PER_S 200
#define PACE_CAP 8000
#define AFTER_N 50
#define SRC 0 /* node 0 owns slots 0..5460 at start */
#define DST 1

static srt_cluster *cluster;
static srt_proc node_a, node_b;
static srt_pacer pacer;

static const char *const node_args[] = {"--redis-canary-interval-ms", "200",
                                        "--redis-canary-timeout-ms", "2000", NULL};

static int setup(void **state) {
    (void)state;
    int64_t t0 = srt_now_ms();
    cluster = srt_cluster_start(3, 0);
    if (!cluster) return -1;
    fprintf(stderr, "cluster of 3 up in %lld ms\n", (long long)(srt_now_ms() - t0));
    return 0;
}

static int teardown(void **state) {
    srt_nodes_teardown(state); /* stops a pacer a failed test left running */
    srt_pacer_free(&pacer);
    srt_cluster_free(cluster);
    return 0;
}

static unsigned slot_of(const char *channel) {
    return sr_keyslot(channel, strlen(channel));
}

/* The first "<prefix><i>" room whose channel's slot is in [lo, hi). */
static void pick_room(const char *prefix, unsigned lo, unsigned hi, char *room, size_t size) {
    for (int i = 0; i < 1000000; i++) {
        char ch[64];
        snprintf(room, size, "%s%d", prefix, i);
        snprintf(ch, sizeof ch, "sse:room:%s", room);
        unsigned s = slot_of(ch);
        if (s >= lo && s < hi) return;
    }
    fail_msg("no room %s* hashes into [%u, %u)", prefix, lo, hi);
}

/* The next event that is not a gap event: a slot move makes a node tell its
 * streams that messages may have been missed meanwhile (docs/resume.md,
 * "Streams that stay connected"); gaps_seen counts them. */
static int gaps_seen;
static char *next_message(srt_sse *s, int timeout_ms) {
    for (;;) {
        char *block = srt_node_next_event(s, timeout_ms);
        if (strncmp(block, "event: gap\n", 11) != 0) return block;
        gaps_seen++;
        free(block);
    }
}

static long long data_of(const char *block) {
    const char *d = strstr(block, "data: ");
    if (!d) fail_msg("event without data: %s", block);
    return strtoll(d + 6, NULL, 10);
}

/* Polls until PUBSUB SHARDNUMSUB channel on node is n; fails after WAIT_MS. */
static void wait_shardnumsub(size_t node, const char *channel, long long n) {
    int64_t deadline = srt_now_ms() + WAIT_MS;
    long long got;
    while ((got = srt_cluster_shardnumsub(srt_cluster_node(cluster, node), channel)) != n) {
        if (srt_now_ms() > deadline)
            fail_msg("%s: SHARDNUMSUB on node %zu is %lld, want %lld", channel, node, got, n);
        srt_sleep_ms(5);
    }
}

static void expect_owner(unsigned slot, int node, const char *when) {
    int owner = srt_cluster_slot_master(cluster, slot, -1);
    if (owner != node)
        fail_msg("%s: slot %u is on node %d, expected node %d", when, slot, owner, node);
}

static void dump_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) fprintf(stderr, "  redis-cli| %s", line);
    fclose(f);
}

/* Publishes {"room":room,"data":v} from B and asserts it was accepted. */
static void publish(const char *room, long long v) {
    char body[128];
    snprintf(body, sizeof body, "{\"room\":\"%s\",\"data\":%lld}", room, v);
    srt_check_publish(node_b.port, body);
}

static void test_reshard_with_redis_cli(void **state) {
    (void)state;
    const char *src_id = srt_cluster_node_id(cluster, SRC),
               *dst_id = srt_cluster_node_id(cluster, DST);
    char moving[32], control[32], moving_ch[48], control_ch[48];
    /* the moving room's slot in the first half of the range, so redis-cli
     * still moves ~500 slots after it: A follows while the move goes on */
    pick_room("mv", SLOTS_MOVED / 5, SLOTS_MOVED / 2, moving, sizeof moving);
    pick_room("ctl", SLOTS_MOVED + 100, 5000, control, sizeof control);
    snprintf(moving_ch, sizeof moving_ch, "sse:room:%s", moving);
    snprintf(control_ch, sizeof control_ch, "sse:room:%s", control);
    unsigned moving_slot = slot_of(moving_ch), control_slot = slot_of(control_ch);

    /* the source owns the range and the control slot; the destination none */
    const unsigned before[] = {0, moving_slot, SLOTS_MOVED - 1, SLOTS_MOVED, control_slot};
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++)
        expect_owner(before[i], SRC, "before");

    srt_cluster_node_start(&node_a, srt_cluster_seeds(cluster), "node-a", node_args);
    srt_cluster_node_start(&node_b, srt_cluster_seeds(cluster), "node-b", node_args);
    srt_node_wait_health(node_a.port, 200, WAIT_MS);
    srt_node_wait_health(node_b.port, 200, WAIT_MS);

    srt_sse ms, cs;
    char path[96];
    snprintf(path, sizeof path, "/sse?room=%s", moving);
    srt_check_sse_open(&ms, node_a.port, path);
    snprintf(path, sizeof path, "/sse?room=%s", control);
    srt_check_sse_open(&cs, node_a.port, path);
    wait_shardnumsub(SRC, moving_ch, 1);
    wait_shardnumsub(SRC, control_ch, 1);
    wait_shardnumsub(DST, moving_ch, 0);

    /* the pacer publishes 0, 1, 2, ... to the moving room from B; a few go
     * through before the move starts */
    srt_pacer_start(&pacer, node_b.port, moving, PACE_PER_S, PACE_CAP);
    int64_t deadline = srt_now_ms() + WAIT_MS;
    while (srt_pacer_count(&pacer) < 20) {
        if (srt_now_ms() > deadline) fail_msg("the pacer did not publish");
        srt_sleep_ms(5);
    }
    size_t sent_before_move = srt_pacer_count(&pacer);

    char port_arg[32], slots_arg[16], out_path[] = "/tmp/srt-reshard-XXXXXX";
    snprintf(port_arg, sizeof port_arg, "127.0.0.1:%d",
             srt_redis_port(srt_cluster_node(cluster, SRC)));
    snprintf(slots_arg, sizeof slots_arg, "%d", SLOTS_MOVED);
    int out_fd = mkstemp(out_path);
    assert_true(out_fd >= 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    char *const argv[] = {"redis-cli",       "--cluster",    "reshard",       port_arg,
                          "--cluster-from",  (char *)src_id, "--cluster-to",  (char *)dst_id,
                          "--cluster-slots", slots_arg,      "--cluster-yes", NULL};
    pid_t pid;
    int64_t t_start = srt_now_ms();
    int rc = posix_spawnp(&pid, "redis-cli", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out_fd);
    if (rc != 0) fail_msg("cannot run redis-cli: %s", strerror(rc));

    /* the control room gets one message every few ms while redis-cli runs */
    long long control_sent = 0;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) fail_msg("waitpid: %s", strerror(errno));
        if (srt_now_ms() - t_start > RESHARD_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            dump_file(out_path);
            unlink(out_path);
            fail_msg("redis-cli --cluster reshard still running after %d ms", RESHARD_MS);
        }
        publish(control, control_sent++);
        srt_sleep_ms(5);
    }
    int64_t t_exit = srt_now_ms();
    srt_pacer_stop(&pacer);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        dump_file(out_path);
        unlink(out_path);
        fail_msg("redis-cli --cluster reshard failed (status 0x%x)", status);
    }
    unlink(out_path);
    size_t paced = srt_pacer_count(&pacer);
    int subscribed_at_exit = srt_cluster_shardnumsub(srt_cluster_node(cluster, DST), moving_ch) ==
                             1;

    /* the lowest SLOTS_MOVED slots went to the destination, the rest stayed */
    assert_int_equal(srt_cluster_wait_settled(cluster, WAIT_MS), 0);
    const unsigned moved[] = {0, moving_slot, SLOTS_MOVED - 1};
    for (size_t i = 0; i < sizeof moved / sizeof moved[0]; i++)
        expect_owner(moved[i], DST, "after");
    expect_owner(SLOTS_MOVED, SRC, "after");
    expect_owner(control_slot, SRC, "after");

    /* A follows: the moving room on the destination only, the control room
     * still on the source */
    wait_shardnumsub(DST, moving_ch, 1);
    wait_shardnumsub(SRC, moving_ch, 0);
    int64_t t_followed = srt_now_ms();
    assert_int_equal(srt_cluster_shardnumsub(srt_cluster_node(cluster, SRC), control_ch), 1);
    assert_int_equal(srt_cluster_shardnumsub(srt_cluster_node(cluster, DST), control_ch), 0);

    /* every publish made during the move was accepted */
    for (size_t i = 0; i < paced; i++)
        if (pacer.recs[i].status != 200)
            fail_msg("paced publish %zu answered %d", i, pacer.recs[i].status);
    assert_int_equal(srt_node_redis_stat(node_b.port, NULL, "publish_failures"), 0);

    /* N more to each room, after the move */
    for (int i = 0; i < AFTER_N; i++) {
        publish(moving, 100000 + i);
        publish(control, control_sent + i);
    }

    /* control: everything, in order, once */
    for (long long want = 0; want < control_sent + AFTER_N; want++) {
        char *block = next_message(&cs, WAIT_MS);
        long long v = data_of(block);
        free(block);
        if (v != want) fail_msg("control room %s: expected data %lld, got %lld", control, want, v);
    }
    assert_true(srt_sse_expect_nothing(&cs, 200));

    /* moving: the paced messages that arrive do so in order and once (and
     * none sent before the move is lost), then all N after, in order */
    long long last = -1, received_paced = 0;
    for (;;) {
        char *block = next_message(&ms, WAIT_MS);
        long long v = data_of(block);
        free(block);
        if (last + 1 < (long long)sent_before_move && v != last + 1)
            fail_msg("moving room: message %lld (sent before the move) lost, got %lld", last + 1,
                     v);
        if (v >= 100000) {
            if (v != 100000)
                fail_msg("moving room: first message after the move is %lld, not 100000", v);
            break;
        }
        if (v <= last || v >= (long long)paced)
            fail_msg("moving room: paced message %lld after %lld (%zu sent)", v, last, paced);
        last = v;
        received_paced++;
    }
    for (int i = 1; i < AFTER_N; i++) {
        char *block = next_message(&ms, WAIT_MS);
        long long v = data_of(block);
        free(block);
        if (v != 100000 + i) fail_msg("moving room: expected data %d, got %lld", 100000 + i, v);
    }
    assert_true(srt_sse_expect_nothing(&ms, 200));
    assert_int_equal(srt_node_redis_stat(node_b.port, NULL, "publish_failures"), 0);

    fprintf(
        stderr,
        "reshard of %d slots (room %s in slot %u) took %lld ms; settled and checked %lld ms after redis-cli exited "
        "(A subscribed on the destination at exit: %s); moving room got %lld of %zu paced messages; control room got all "
        "%lld; B followed %lld MOVED; A canary timeouts %lld\n",
        SLOTS_MOVED, moving, moving_slot, (long long)(t_exit - t_start),
        (long long)(t_followed - t_exit), subscribed_at_exit ? "yes" : "no", received_paced, paced,
        control_sent + AFTER_N, srt_metric(node_b.port, "sserooms_redis_cluster_moved_total"),
        srt_metric(node_a.port, "sserooms_redis_canary_timeouts_total"));

    srt_sse_close(&ms);
    srt_sse_close(&cs);
    srt_check_stop(&node_a);
    srt_check_stop(&node_b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshard_with_redis_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
