/* SPDX-License-Identifier: MIT */
/*
 * test_sequence.c: ordered event ids without Redis: the id format, key and
 * epoch checks, the in-memory counters (per server, shared by a memory bus),
 * and the server's side of the adapter contract (jobs completed later, local
 * delivery, shutdown failing what the adapter left pending), driven through
 * a fake adapter. No sockets: servers are created but never listen, so
 * delivery counts are 0 here (tests/integration/test_sequence*.c deliver).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/internal.h"
#include "sserooms.h"

/* --- completions -------------------------------------------------------- */

typedef struct result {
    int calls;
    int rc;
    char text[512];
} result;

static void record(void *ud, int rc, const char *text) {
    result *r = ud;
    r->calls++;
    r->rc = rc;
    snprintf(r->text, sizeof r->text, "%s", text ? text : "(null)");
}

static sr_server *new_server(void) {
    sr_server *srv = NULL;
    assert_int_equal(sr_server_new(&srv, NULL, NULL), SR_OK);
    return srv;
}

/* Allocates synchronously (memory path) and returns the id. */
static const char *next_id(sr_server *srv, const char *key, const char *epoch, result *r) {
    memset(r, 0, sizeof *r);
    assert_int_equal(sr_sequence_next(srv, key, epoch, record, r), 0);
    assert_int_equal(r->calls, 1); /* in memory: before sr_sequence_next returned */
    assert_int_equal(r->rc, 0);
    return r->text;
}

/* --- format and checks -------------------------------------------------- */

static void test_format(void **state) {
    (void)state;
    char buf[SR_SEQUENCE_ID_MAX];
    assert_int_equal(sr_sequence_format(buf, sizeof buf, "0", 1), 14);
    assert_string_equal(buf, "0-000000000001");
    assert_int_equal(sr_sequence_format(buf, sizeof buf, "7", 42), 14);
    assert_string_equal(buf, "7-000000000042");
    assert_int_equal(sr_sequence_format(buf, sizeof buf, NULL, 123456789012ULL), 14);
    assert_string_equal(buf, "0-123456789012");
    assert_int_equal(sr_sequence_format(buf, sizeof buf, "20240101", SR_SEQUENCE_COUNTER_MAX), 21);
    assert_string_equal(buf, "20240101-999999999999");
    /* the longest epoch fits SR_SEQUENCE_ID_MAX with its NUL */
    char epoch[SR_SEQUENCE_EPOCH_MAX + 1];
    memset(epoch, '9', SR_SEQUENCE_EPOCH_MAX);
    epoch[SR_SEQUENCE_EPOCH_MAX] = '\0';
    assert_int_equal(sr_sequence_format(buf, sizeof buf, epoch, 5), SR_SEQUENCE_ID_MAX - 1);
    /* outside 1..999999999999: an error, never a wrong id */
    assert_int_equal(sr_sequence_format(buf, sizeof buf, "0", 0), SR_ETOOBIG);
    assert_int_equal(sr_sequence_format(buf, sizeof buf, "0", SR_SEQUENCE_COUNTER_MAX + 1),
                     SR_ETOOBIG);
    assert_int_equal(sr_sequence_format(buf, 14, "0", 1), SR_ETOOBIG); /* no room for the NUL */
}

static void test_check(void **state) {
    (void)state;
    assert_int_equal(sr_sequence_check("k", NULL), 0);
    assert_int_equal(sr_sequence_check("sse:seq:job:42", "0"), 0);
    assert_int_equal(sr_sequence_check("k", "0123456789"), 0);
    assert_int_equal(sr_sequence_check(NULL, "0"), SR_EINVAL);
    assert_int_equal(sr_sequence_check("", "0"), SR_EINVAL);
    assert_int_equal(sr_sequence_check("k", ""), SR_EINVAL);
    assert_int_equal(sr_sequence_check("k", "1a"), SR_EINVAL);
    assert_int_equal(sr_sequence_check("k", "-1"), SR_EINVAL);
    assert_int_equal(sr_sequence_check("k", " 1"), SR_EINVAL);
    assert_int_equal(sr_sequence_check("k", "\xd9\xa1"), SR_EINVAL); /* Arabic-Indic one */
    /* a name, not a Redis key: nothing that could leave the sequence namespace */
    assert_int_equal(sr_sequence_check("app:balance-42_v1.2", NULL), 0);
    static const char *const not_names[] = {
        "{sse:room:}#h:victim",
        "a{b}",
        "a#b",
        "a*",
        "a b",
        "a\tb",
        "a/b",
        "a\"b",
        "\xc3\xa9",
        "a\r\nb",
        "a?",
        "a[b]",
        "a%b",
    };
    for (size_t i = 0; i < sizeof not_names / sizeof not_names[0]; i++)
        if (sr_sequence_check(not_names[i], NULL) != SR_EINVAL)
            fail_msg("\"%s\" accepted", not_names[i]);
    char key[SR_SEQUENCE_KEY_MAX + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    assert_int_equal(sr_sequence_check(key, NULL), SR_EINVAL);
    key[SR_SEQUENCE_KEY_MAX] = '\0';
    assert_int_equal(sr_sequence_check(key, NULL), 0);
    char epoch[SR_SEQUENCE_EPOCH_MAX + 2];
    memset(epoch, '1', sizeof epoch - 1);
    epoch[sizeof epoch - 1] = '\0';
    assert_int_equal(sr_sequence_check("k", epoch), SR_EINVAL);
    epoch[SR_SEQUENCE_EPOCH_MAX] = '\0';
    assert_int_equal(sr_sequence_check("k", epoch), 0);
}

/* --- counters in memory ------------------------------------------------- */

static void test_memory_counters(void **state) {
    (void)state;
    sr_server *srv = new_server();
    result r;
    assert_string_equal(next_id(srv, "a", NULL, &r), "0-000000000001");
    assert_string_equal(next_id(srv, "a", NULL, &r), "0-000000000002");
    assert_string_equal(next_id(srv, "b", "0", &r), "0-000000000001"); /* keys are independent */
    assert_string_equal(next_id(srv, "a", "7", &r), "7-000000000003"); /* the epoch only labels */
    for (int i = 0; i < 200; i++) next_id(srv, "key-many", NULL, &r);  /* the table grows */
    assert_string_equal(r.text, "0-000000000200");
    for (int i = 0; i < 100; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", i);
        assert_string_equal(next_id(srv, key, NULL, &r), "0-000000000001");
    }
    assert_string_equal(next_id(srv, "a", NULL, &r), "0-000000000004");
    assert_string_equal(next_id(srv, "key-many", NULL, &r), "0-000000000201");

    /* a broadcast takes the next id too, and is delivered at once */
    sr_message msg = {.event = "e", .id = "ignored", .data = "{\"x\":1}", .data_len = SIZE_MAX};
    const char *rooms[] = {"room"};
    memset(&r, 0, sizeof r);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 1, &msg, NULL, "a", NULL, record, &r), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.rc, 0); /* no members */
    assert_string_equal(r.text, "0-000000000005");

    /* the counter at its maximum: an error from then on, not a wrong id */
    sr_seq_counter *found = NULL;
    sr_seq_table *t = sr_sequence_table(srv);
    size_t pos = 0;
    for (sr_seq_counter *c; (c = sr_table_next(&t->counters, &pos));)
        if (strcmp(c->key, "a") == 0) found = c;
    assert_non_null(found);
    found->value = SR_SEQUENCE_COUNTER_MAX - 1;
    assert_string_equal(next_id(srv, "a", NULL, &r), "0-999999999999");
    memset(&r, 0, sizeof r);
    assert_int_equal(sr_sequence_next(srv, "a", NULL, record, &r), SR_ETOOBIG);
    assert_int_equal(r.calls, 0);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 1, &msg, NULL, "a", NULL, record, &r),
                     SR_ETOOBIG);
    assert_int_equal(r.calls, 0);
    assert_string_equal(next_id(srv, "b", NULL, &r), "0-000000000002");
    sr_server_free(srv);
}

/* The table holds at most sequence_max_names counters: past that the least
 * recently used is dropped, so one client filling it does not refuse every
 * new name after it; and a counter unused for sequence_ttl_ms starts again. */
static void test_memory_bound_and_ttl(void **state) {
    (void)state;
    sr_config cfg;
    sr_config_init(&cfg);
    cfg.sequence_max_names = 64;
    cfg.sequence_ttl_ms = 0;
    sr_server *srv = NULL;
    assert_int_equal(sr_server_new(&srv, NULL, &cfg), SR_OK);
    result r;
    assert_string_equal(next_id(srv, "kept", NULL, &r), "0-000000000001");
    char key[32];
    for (int i = 0; i < 1000; i++) { /* an anonymous flood of new names */
        snprintf(key, sizeof key, "flood%d", i);
        assert_string_equal(next_id(srv, key, NULL, &r), "0-000000000001");
        if (i % 8 == 0) next_id(srv, "kept", NULL, &r); /* in use: never the least recent */
        assert_true(sr_sequence_table(srv)->counters.len <= 64);
    }
    assert_int_equal(sr_sequence_table(srv)->counters.len, 64);
    assert_true(sr_sequence_table(srv)->evicted >= 1000 - 64);
    assert_string_equal(next_id(srv, "kept", NULL, &r), "0-000000000127");
    assert_string_equal(next_id(srv, "newcomer", NULL, &r), "0-000000000001"); /* still works */
    assert_string_equal(next_id(srv, "flood0", NULL, &r), "0-000000000001"); /* dropped long ago */
    assert_string_equal(next_id(srv, "flood999", NULL, &r), "0-000000000002"); /* still there */
    /* every counter is still found after all the removals (probe chains whole) */
    size_t pos = 0;
    for (sr_seq_counter *c; (c = sr_table_next(&sr_sequence_table(srv)->counters, &pos));) {
        uint64_t before = c->value;
        char name[SR_SEQUENCE_KEY_MAX + 1];
        snprintf(name, sizeof name, "%s", c->key);
        next_id(srv, name, NULL, &r);
        assert_int_equal(c->value, before + 1);
    }
    sr_server_free(srv);

    /* idle counters expire (ttl 20 ms); a use in time renews the counter
     * (asserted only when the machine was quick enough to use it in time) */
    cfg.sequence_max_names = 0;
    cfg.sequence_ttl_ms = 20;
    assert_int_equal(sr_server_new(&srv, NULL, &cfg), SR_OK);
    uint64_t t0 = uv_hrtime();
    assert_string_equal(next_id(srv, "idle", NULL, &r), "0-000000000001");
    const char *second = next_id(srv, "idle", NULL, &r);
    if (uv_hrtime() - t0 < 20 * 1000000ull) assert_string_equal(second, "0-000000000002");
    uint64_t t1 = uv_hrtime();
    while (uv_hrtime() < t1 + 21 * 1000000ull) continue; /* longer than the ttl */
    assert_string_equal(next_id(srv, "idle", NULL, &r), "0-000000000001");
    assert_int_equal(sr_sequence_table(srv)->counters.len, 1);
    sr_server_free(srv);
}

static void test_argument_errors(void **state) {
    (void)state;
    sr_server *srv = new_server();
    result r = {0};
    sr_message msg = {.data = "1", .data_len = SIZE_MAX};
    sr_message bad_json = {.data = "{", .data_len = SIZE_MAX};
    sr_message bad_event = {.event = "a\nb", .data = "1", .data_len = SIZE_MAX};
    const char *rooms[] = {"room"};
    const char *bad_rooms[] = {"bad room"};
    sr_conn *fake = (sr_conn *)&r;
    sr_broadcast_opts except = {.except = &fake, .n_except = 1};
    sr_broadcast_opts bad_meta = {.meta = "{x", .meta_len = 2};

    assert_int_equal(sr_sequence_next(NULL, "k", NULL, record, &r), SR_EINVAL);
    assert_int_equal(sr_sequence_next(srv, "", NULL, record, &r), SR_EINVAL);
    assert_int_equal(sr_sequence_next(srv, "k", "x", record, &r), SR_EINVAL);
    assert_int_equal(sr_sequence_next(srv, "k", NULL, NULL, &r), SR_EINVAL);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 0, &msg, NULL, "k", NULL, record, &r),
                     SR_EINVAL);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 1, NULL, NULL, "k", NULL, record, &r),
                     SR_EINVAL);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 1, &msg, NULL, NULL, NULL, record, &r),
                     SR_EINVAL);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 1, &msg, NULL, "k", "1.5", record, &r),
                     SR_EINVAL);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 1, &msg, &except, "k", NULL, record, &r),
                     SR_EINVAL);
    assert_int_equal(sr_broadcast_sequenced(srv, bad_rooms, 1, &msg, NULL, "k", NULL, record, &r),
                     SR_EROOM);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 1, &bad_json, NULL, "k", NULL, record, &r),
                     SR_EJSON);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 1, &bad_event, NULL, "k", NULL, record, &r),
                     SR_ENEWLINE);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 1, &msg, &bad_meta, "k", NULL, record, &r),
                     SR_EJSON);
    assert_int_equal(r.calls, 0);
    /* none of the refused calls used an id */
    assert_string_equal(next_id(srv, "k", NULL, &r), "0-000000000001");
    sr_server_free(srv);
}

static void test_bus_shares_counters(void **state) {
    (void)state;
    sr_memory_bus *bus = sr_memory_bus_new();
    sr_server *a = new_server(), *b = new_server(), *alone = new_server();
    assert_int_equal(sr_server_attach_memory_bus(a, bus), 0);
    assert_int_equal(sr_server_attach_memory_bus(b, bus), 0);
    result r;
    assert_string_equal(next_id(a, "k", NULL, &r), "0-000000000001");
    assert_string_equal(next_id(b, "k", NULL, &r), "0-000000000002");
    assert_string_equal(next_id(a, "k", NULL, &r), "0-000000000003");
    assert_string_equal(next_id(alone, "k", NULL, &r), "0-000000000001");
    sr_server_free(a);
    assert_string_equal(next_id(b, "k", NULL, &r), "0-000000000004");
    sr_server_free(b);
    sr_server_free(alone);
    sr_memory_bus_free(bus);
}

/* --- an adapter that answers later -------------------------------------- */

typedef struct fake_call {
    sr_sequence_fn done;
    void *ud;
    int published; /* publish_sequenced (else sequence_next) */
    char key[64], epoch[40], rooms[128], event[32], data[64];
    int n_rooms;
} fake_call;

typedef struct fake_adapter {
    fake_call calls[16];
    int n;
    int refuse; /* return this from the next call when non-zero */
    int closed;
    uint64_t counter;
} fake_adapter;

static int fake_next(void *ctx, const char *key, const char *epoch, sr_sequence_fn done, void *ud) {
    fake_adapter *f = ctx;
    if (f->refuse) return f->refuse;
    fake_call *c = &f->calls[f->n++];
    memset(c, 0, sizeof *c);
    c->done = done;
    c->ud = ud;
    snprintf(c->key, sizeof c->key, "%s", key);
    snprintf(c->epoch, sizeof c->epoch, "%s", epoch);
    return 0;
}

static int fake_publish(void *ctx, const char *const *rooms, size_t n_rooms, const sr_message *msg,
                        const char *meta, size_t meta_len, const char *key, const char *epoch,
                        sr_sequence_fn done, void *ud) {
    fake_adapter *f = ctx;
    int rc = fake_next(ctx, key, epoch, done, ud);
    if (rc) return rc;
    fake_call *c = &f->calls[f->n - 1];
    c->published = 1;
    c->n_rooms = (int)n_rooms;
    for (size_t i = 0; i < n_rooms; i++) {
        strncat(c->rooms, rooms[i], sizeof c->rooms - strlen(c->rooms) - 2);
        strcat(c->rooms, ",");
    }
    snprintf(c->event, sizeof c->event, "%s", msg->event ? msg->event : "");
    snprintf(c->data, sizeof c->data, "%.*s", (int)msg->data_len, msg->data);
    assert_null(msg->id);
    (void)meta;
    (void)meta_len;
    return 0;
}

/* Completes call i with the next id (or with rc when negative). */
static void fake_complete(fake_adapter *f, int i, int rc) {
    char id[80];
    if (rc < 0) {
        f->calls[i].done(f->calls[i].ud, rc, "fake failure");
        return;
    }
    snprintf(id, sizeof id, "%s-%012llu", f->calls[i].epoch, (unsigned long long)++f->counter);
    f->calls[i].done(f->calls[i].ud, 0, id);
}

static void fake_close(void *ctx) {
    fake_adapter *f = ctx;
    f->closed = 1;
}

static sr_adapter fake_vtable(fake_adapter *f, int with_sequences) {
    sr_adapter a = {.ctx = f, .name = "fake", .close = fake_close};
    if (with_sequences) {
        a.sequence_next = fake_next;
        a.publish_sequenced = fake_publish;
    }
    return a;
}

static void test_adapter_without_sequences(void **state) {
    (void)state;
    sr_server *srv = new_server();
    fake_adapter f = {0};
    sr_adapter a = fake_vtable(&f, 0);
    assert_int_equal(sr_server_set_adapter(srv, &a), 0);
    result r = {0};
    const char *rooms[] = {"room"};
    sr_message msg = {.data = "1", .data_len = SIZE_MAX};
    assert_int_equal(sr_sequence_next(srv, "k", NULL, record, &r), SR_EADAPTER);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 1, &msg, NULL, "k", NULL, record, &r),
                     SR_EADAPTER);
    assert_int_equal(r.calls, 0);
    sr_server_free(srv);
}

static void test_adapter_jobs(void **state) {
    (void)state;
    sr_server *srv = new_server();
    fake_adapter f = {0};
    sr_adapter a = fake_vtable(&f, 1);
    assert_int_equal(sr_server_set_adapter(srv, &a), 0);
    result r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
    const char *rooms[] = {"r1", "r2"};
    sr_message msg = {.event = "ev",
                      .id = "dropped",
                      .data = " {\"a\":[1,2]} ",
                      .data_len = SIZE_MAX};
    sr_broadcast_opts local = {.local = 1};

    assert_int_equal(sr_sequence_next(srv, "k", "3", record, &r1), 0);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 2, &msg, NULL, "k", NULL, record, &r2), 0);
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 1, &msg, &local, "k", "9", record, &r3), 0);
    assert_int_equal(f.n, 3);
    assert_int_equal(r1.calls + r2.calls + r3.calls, 0); /* nothing completes before the adapter */
    /* what the adapter was given */
    assert_false(f.calls[0].published);
    assert_string_equal(f.calls[0].epoch, "3");
    assert_true(f.calls[1].published);
    assert_string_equal(f.calls[1].key, "k");
    assert_string_equal(f.calls[1].epoch, "0"); /* NULL means "0" */
    assert_string_equal(f.calls[1].rooms, "r1,r2,");
    assert_string_equal(f.calls[1].event, "ev");
    assert_string_equal(f.calls[1].data, "{\"a\":[1,2]}"); /* the JSON value, without spaces */
    assert_false(f.calls[2].published); /* local: only an id from the shared counter */
    assert_string_equal(f.calls[2].epoch, "9");

    /* completions in any order */
    fake_complete(&f, 1, 0);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(r2.rc, 0); /* members of r1, r2 here: none */
    assert_string_equal(r2.text, "0-000000000001");
    fake_complete(&f, 0, 0);
    assert_int_equal(r1.calls, 1);
    assert_int_equal(r1.rc, 0);
    assert_string_equal(r1.text, "3-000000000002");
    fake_complete(&f, 2, 0);
    assert_int_equal(r3.calls, 1);
    assert_int_equal(r3.rc, 0); /* delivered locally to no one */
    assert_string_equal(r3.text, "9-000000000003");
    sr_stats st;
    sr_server_stats(srv, &st);
    assert_int_equal(st.messages_in, 2);
    assert_int_equal(st.adapter_errors, 0);

    /* failures reach done with the adapter's reason */
    assert_int_equal(sr_broadcast_sequenced(srv, rooms, 2, &msg, NULL, "k", NULL, record, &r3), 0);
    fake_complete(&f, 3, SR_EADAPTER);
    assert_int_equal(r3.calls, 2);
    assert_int_equal(r3.rc, SR_EADAPTER);
    assert_string_equal(r3.text, "fake failure");
    sr_server_stats(srv, &st);
    assert_int_equal(st.messages_in, 2);
    assert_int_equal(st.adapter_errors, 1);

    /* a refusal is returned, done is not called */
    f.refuse = SR_EADAPTER;
    assert_int_equal(sr_sequence_next(srv, "k", NULL, record, &r4), SR_EADAPTER);
    assert_int_equal(r4.calls, 0);
    f.refuse = 0;

    /* shutdown fails what the adapter left pending; its late answer is harmless */
    assert_int_equal(sr_sequence_next(srv, "k", NULL, record, &r4), 0);
    sr_server_shutdown(srv, NULL, NULL);
    assert_true(f.closed);
    assert_int_equal(r4.calls, 1);
    assert_int_equal(r4.rc, SR_ECLOSED);
    fake_complete(&f, 4, 0); /* frees the orphaned job, calls nothing */
    assert_int_equal(r4.calls, 1);
    assert_int_equal(sr_sequence_next(srv, "k", NULL, record, &r4), SR_ECLOSED);
    sr_server_free(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_memory_counters),
        cmocka_unit_test(test_memory_bound_and_ttl),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_bus_shares_counters),
        cmocka_unit_test(test_adapter_without_sequences),
        cmocka_unit_test(test_adapter_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
