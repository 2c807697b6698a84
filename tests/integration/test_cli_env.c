/* SPDX-License-Identifier: MIT */
/*
 * test_cli_env.c: the sserooms command's environment variables, on the
 * real binary (tests/support/srt_proc; the harness removes inherited
 * SSEROOMS_* variables, so only what a test sets applies).
 *
 *  - one naming rule: for every setting of the --check-config report,
 *    SSEROOMS_ + its key upper-cased with '_' for '-' is read (a control
 *    character in it is refused naming that variable) and is what --help
 *    shows;
 *  - SSEROOMS_REDIS_URL, redis's name before the rule, is still read; with
 *    SSEROOMS_REDIS it must agree, else both are named and refused, their
 *    values never printed;
 *  - an unknown SSEROOMS_* variable is refused by --check-config, naming the
 *    closest known variable and never the value, and warned about (JSON log
 *    line with the variable and the suggestion) by a server that still
 *    starts.
 */
#include "srt_check.h"
#include "srt_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SSEROOMS_ + key upper-cased with '_' for '-': the rule under test. */
static const char *rule_name(const char *key, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "SSEROOMS_");
    for (const char *c = key; *c && k + 1 < cap; c++)
        buf[k++] = *c == '-' ? '_' : (*c >= 'a' && *c <= 'z') ? (char)(*c - 'a' + 'A') : *c;
    buf[k] = '\0';
    return buf;
}

/* Runs sserooms; asserts the exit status, dumping both outputs when it
 * differs. The caller frees r. */
static void run_expect(const char *const *args, const char *const *env, int status,
                       srt_run_result *r) {
    int st = srt_run(args, env, 15000, r);
    if (st != status) {
        fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", r->out, r->err);
        srt_run_result_free(r);
        fail_msg("expected exit status %d, got %d", status, st);
    }
}

static const char *const check_config[] = {"--check-config", NULL};

/* The keys of a --check-config report, in order, each once. */
static size_t report_keys(const char *out, char keys[][64], size_t cap) {
    size_t n = 0;
    for (const char *p = out; *p;) {
        const char *eol = strchr(p, '\n');
        assert_non_null(eol);
        const char *eq = strstr(p, " = ");
        if (*p != '#' && eq && eq < eol) {
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
            if (n == 0 || strcmp(keys[n - 1], key) != 0) { /* a list: one line per item */
                assert_true(n < cap);
                memcpy(keys[n++], key, sizeof key);
            }
        }
        p = eol + 1;
    }
    return n;
}

/* The origin comment of `key`'s line in a report ("env SSEROOMS_X ..."). */
static const char *origin_of(const char *out, const char *key, char *buf, size_t cap) {
    char head[80];
    snprintf(head, sizeof head, "\n%s = ", key);
    const char *line = strstr(out, head);
    if (!line) fail_msg("no '%s' line in the report:\n%s", key, out);
    const char *eol = strchr(line + 1, '\n');
    const char *hash = strstr(line, "# ");
    assert_true(hash && eol && hash < eol);
    snprintf(buf, cap, "%.*s", (int)(eol - hash - 2), hash + 2);
    return buf;
}

/* ---- one rule ------------------------------------------------------------ */

static void test_every_setting_reads_its_rule_variable(void **state) {
    (void)state;
    srt_run_result r, help;
    run_expect(check_config, NULL, 0, &r);
    char keys[96][64];
    size_t n = report_keys(r.out, keys, 96);
    srt_run_result_free(&r);
    assert_true(n >= 40); /* every setting of the table */
    run_expect((const char *[]){"--help", NULL}, NULL, 0, &help);
    for (size_t i = 0; i < n; i++) {
        char var[96], env[160], want[128], shown[112], shown_alias[112];
        rule_name(keys[i], var, sizeof var);
        /* a control character is refused by every kind of setting */
        snprintf(env, sizeof env, "%s=bad\001value", var);
        int st = srt_run(check_config, (const char *[]){env, NULL}, 15000, &r);
        snprintf(want, sizeof want, "sserooms: %s: invalid value", var);
        if (st != 2 || strncmp(r.err, want, strlen(want)) != 0)
            fail_msg("setting '%s': %s is not read (status %d, stderr '%s')", keys[i], var, st,
                     r.err);
        srt_run_result_free(&r);
        snprintf(shown, sizeof shown, "[%s;", var);
        snprintf(shown_alias, sizeof shown_alias, "[%s (or ", var);
        if (!strstr(help.out, shown) && !strstr(help.out, shown_alias))
            fail_msg("--help does not show %s for --%s", var, keys[i]);
    }
    srt_run_result_free(&help);
}

/* ---- the alias ----------------------------------------------------------- */

static void test_redis_url_alias(void **state) {
    (void)state;
    srt_run_result r;
    char origin[256];
    run_expect(check_config, (const char *[]){"SSEROOMS_REDIS_URL=redis://127.0.0.1:1/2", NULL}, 0,
               &r);
    assert_non_null(strstr(r.out, "\nredis = redis://127.0.0.1:1/2 "));
    assert_string_equal(origin_of(r.out, "redis", origin, sizeof origin), "env SSEROOMS_REDIS_URL");
    assert_int_equal(r.err_len, 0); /* an alias is no unknown variable */
    srt_run_result_free(&r);

    run_expect(check_config, (const char *[]){"SSEROOMS_REDIS=redis://127.0.0.1:1/3", NULL}, 0, &r);
    assert_string_equal(origin_of(r.out, "redis", origin, sizeof origin), "env SSEROOMS_REDIS");
    srt_run_result_free(&r);

    /* the same value under both names: fine, the rule's name is shown */
    run_expect(check_config,
               (const char *[]){"SSEROOMS_REDIS=redis://127.0.0.1:1/4",
                                "SSEROOMS_REDIS_URL=redis://127.0.0.1:1/4", NULL},
               0, &r);
    assert_string_equal(origin_of(r.out, "redis", origin, sizeof origin), "env SSEROOMS_REDIS");
    srt_run_result_free(&r);

    /* two different values: which one was meant cannot be guessed */
    static const char *const both[] = {"SSEROOMS_REDIS=redis://:pw-one-AAA@127.0.0.1:1/5",
                                       "SSEROOMS_REDIS_URL=redis://:pw-two-BBB@127.0.0.1:1/6",
                                       NULL};
    run_expect(check_config, both, 2, &r);
    assert_non_null(strstr(r.err, "SSEROOMS_REDIS and SSEROOMS_REDIS_URL are both set"));
    assert_null(strstr(r.err, "pw-one-AAA"));
    assert_null(strstr(r.err, "pw-two-BBB"));
    assert_int_equal(r.out_len, 0);
    srt_run_result_free(&r);
    /* a server refuses to start the same way */
    run_expect((const char *[]){"--port", "0", NULL}, both, 2, &r);
    assert_non_null(strstr(r.err, "SSEROOMS_REDIS and SSEROOMS_REDIS_URL are both set"));
    srt_run_result_free(&r);
}

/* ---- unknown variables --------------------------------------------------- */

static void test_unknown_variable_refused_by_check_config(void **state) {
    (void)state;
    srt_run_result r;
    run_expect(check_config,
               (const char *[]){"SSEROOMS_REDIS_ULR=redis://:secret-CCC@10.0.0.1:6379",
                                "SSEROOMS_HEARTBEAT=15000", "SSEROOMS_PROT=9000",
                                "SSEROOMS_CONFIG=", /* known: the config file's variable */
                                NULL},
               2, &r);
    assert_non_null(strstr(r.err, "sserooms: SSEROOMS_REDIS_ULR: unknown variable, no setting has "
                                  "this name (did you mean SSEROOMS_REDIS?)\n"));
    assert_non_null(strstr(r.err, "sserooms: SSEROOMS_HEARTBEAT: unknown variable, no setting has "
                                  "this name (did you mean SSEROOMS_HEARTBEAT_MS?)\n"));
    assert_non_null(strstr(r.err, "sserooms: SSEROOMS_PROT: unknown variable, no setting has this "
                                  "name (did you mean SSEROOMS_PORT?)\n"));
    assert_null(strstr(r.err, "SSEROOMS_CONFIG"));
    assert_null(strstr(r.err, "secret-CCC"));
    assert_int_equal(r.out_len, 0); /* no report: the configuration is refused */
    srt_run_result_free(&r);

    /* known names only: accepted */
    run_expect(check_config,
               (const char *[]){"SSEROOMS_HEARTBEAT_MS=15000", "SSEROOMS_CONFIG=", NULL}, 0, &r);
    assert_int_equal(r.err_len, 0);
    srt_run_result_free(&r);
}

static void test_unknown_variable_warned_at_start(void **state) {
    (void)state;
    srt_proc p;
    srt_proc_opts o = {
        .args = (const char *const[]){"--log-format", "json", NULL},
        .env = (const char *const[]){"SSEROOMS_REDIS_ULR=redis://:secret-DDD@10.0.0.1:6379", NULL},
    };
    assert_int_equal(srt_proc_start(&p, &o), 0);
    /* it still serves: a warning, not a refusal */
    srt_check_healthy(p.port);
    /* logged before the ready line, so already in the log */
    FILE *f = fopen(p.log_path, "r");
    assert_non_null(f);
    char line[2048];
    int warned = 0;
    while (fgets(line, sizeof line, f)) {
        assert_null(strstr(line, "secret-DDD"));
        if (!strstr(line, "\"msg\":\"unknown environment variable ignored\"")) continue;
        warned++;
        assert_non_null(strstr(line, "\"level\":\"warn\""));
        assert_non_null(strstr(line, "\"variable\":\"SSEROOMS_REDIS_ULR\""));
        assert_non_null(strstr(line, "\"did_you_mean\":\"SSEROOMS_REDIS\""));
    }
    fclose(f);
    if (warned != 1) {
        srt_proc_dump_log(&p, 4096);
        fail_msg("expected one warning line about SSEROOMS_REDIS_ULR, found %d", warned);
    }
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_every_setting_reads_its_rule_variable, srt_teardown_servers),
        cmocka_unit_test_teardown(test_redis_url_alias, srt_teardown_servers),
        cmocka_unit_test_teardown(test_unknown_variable_refused_by_check_config,
                                  srt_teardown_servers),
        cmocka_unit_test_teardown(test_unknown_variable_warned_at_start, srt_teardown_servers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
