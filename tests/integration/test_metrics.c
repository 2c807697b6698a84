/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c: GET /metrics against the real binary.
 *
 * The answer is checked with a strict parser of the Prometheus text
 * exposition format (version 0.0.4) written here: every line is a
 * "# HELP name text", "# TYPE name type" or a sample
 * "name{label="value",...} number"; names and label names match the
 * format's grammar; a metric's TYPE comes before its samples and is given
 * once; counters are never negative; a histogram's buckets rise with `le`,
 * end with le="+Inf", and that bucket equals _count. The Prometheus naming
 * conventions are checked too: counters end in _total, no family is in
 * milliseconds, one unit per family (a unitless family carries no label
 * value naming a unit). Then the counters are checked to move as the test
 * publishes, refuses and streams; with Redis and history on, the build and
 * process samples are there and sserooms_redis_published_total counts; and
 * every query of packaging/grafana-sserooms.json names a metric the
 * server exports. POST /publish answers are timed (histogram, and p50 /
 * p99 in /stats), with one loop and with a writer thread. With
 * authorization on, /metrics (and /rooms, /stats) refuse an anonymous
 * caller and answer the admin key.
 */
#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "srt_check.h"
#include "srt_http.h"
#include "srt_json.h"
#include "srt_proc.h"
#include "srt_redis.h"
#include "srt_sse.h"
#include "srt_util.h"

#define MAX_FAMILIES 128

typedef struct family {
    char name[128];
    char type[16];
    int samples;
    double last_le;
    double last_bucket;
    double inf_bucket;
    int has_inf;
} family;

typedef struct parsed {
    family fam[MAX_FAMILIES];
    int n;
} parsed;

static int name_start(int ch) {
    return isalpha(ch) || ch == '_' || ch == ':';
}

static int name_char(int ch) {
    return isalnum(ch) || ch == '_' || ch == ':';
}

static family *find_family(parsed *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->fam[i].name, name) == 0) return &p->fam[i];
    return NULL;
}

/* The family a sample belongs to: histograms own name_bucket/_sum/_count. */
static family *family_of_sample(parsed *p, const char *sample, const char **suffix) {
    family *f = find_family(p, sample);
    *suffix = "";
    if (f) return f;
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(sample), m = strlen(sfx[i]);
        if (n > m && strcmp(sample + n - m, sfx[i]) == 0) {
            char base[128];
            snprintf(base, sizeof(base), "%.*s", (int)(n - m), sample);
            f = find_family(p, base);
            if (f && strcmp(f->type, "histogram") == 0) {
                *suffix = sfx[i];
                return f;
            }
        }
    }
    return NULL;
}

static double parse_value(const char *s, const char **end) {
    if (strncmp(s, "+Inf", 4) == 0) {
        *end = s + 4;
        return INFINITY;
    }
    if (strncmp(s, "-Inf", 4) == 0) {
        *end = s + 4;
        return -INFINITY;
    }
    if (strncmp(s, "NaN", 3) == 0) {
        *end = s + 3;
        return NAN;
    }
    char *e;
    double v = strtod(s, &e);
    if (e == s) fail_msg("not a number: %.40s", s);
    *end = e;
    return v;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Prometheus naming: counters end in _total, base units (no _ms), and one
 * unit per family: a family whose name ends in no unit carries no sample
 * whose name="..." label ends in one. */
static void check_conventions(const char *text, const parsed *p) {
    for (int i = 0; i < p->n; i++) {
        const family *f = &p->fam[i];
        if (strcmp(f->type, "counter") == 0 && !ends_with(f->name, "_total"))
            fail_msg("counter %s does not end in _total", f->name);
        if (ends_with(f->name, "_ms") || ends_with(f->name, "_milliseconds") ||
            ends_with(f->name, "_us"))
            fail_msg("%s is not in base units (seconds)", f->name);
    }
    static const char *const units[] = {"_bytes\"", "_ms\"", "_seconds\""};
    for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
        const char *brace = strchr(l, '{'), *nl = strchr(l, '\n');
        if (*l != '#' && brace && brace < nl) {
            char fam[128];
            size_t n = (size_t)(brace - l);
            if (n < sizeof fam) {
                memcpy(fam, l, n);
                fam[n] = '\0';
                const char *lab = strstr(l, "name=\"");
                for (size_t u = 0; lab && lab < nl && u < sizeof units / sizeof units[0]; u++) {
                    const char *end = strchr(lab + 6, '"');
                    size_t ul = strlen(units[u]);
                    if (end && end < nl && (size_t)(end + 1 - lab) >= ul &&
                        strncmp(end + 1 - ul, units[u], ul) == 0 && !ends_with(fam, "_bytes") &&
                        !ends_with(fam, "_seconds"))
                        fail_msg("family %s mixes units: %.*s", fam, (int)(nl - l), l);
                }
            }
        }
        if (!nl) break;
    }
}

/* Parses the whole exposition; fails the test at the first violation. */
static void parse_exposition(const char *text, parsed *p) {
    memset(p, 0, sizeof(*p));
    const char *line = text;
    int lineno = 0;
    assert_true(strlen(text) > 0);
    assert_true(text[strlen(text) - 1] == '\n');
    while (*line) {
        lineno++;
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        char buf[1024];
        size_t len = (size_t)(nl - line);
        assert_true(len < sizeof(buf));
        memcpy(buf, line, len);
        buf[len] = '\0';
        line = nl + 1;
        if (len == 0) fail_msg("line %d: empty line", lineno);
        if (buf[0] == '#') {
            char kind[8], name[128];
            int off = 0;
            if (sscanf(buf, "# %7s %127s %n", kind, name, &off) < 2)
                fail_msg("line %d: bad comment", lineno);
            if (!name_start((unsigned char)name[0])) fail_msg("line %d: bad name %s", lineno, name);
            for (const char *c = name; *c; c++)
                if (!name_char((unsigned char)*c)) fail_msg("line %d: bad name %s", lineno, name);
            family *f = find_family(p, name);
            if (!f) {
                assert_true(p->n < MAX_FAMILIES);
                f = &p->fam[p->n++];
                snprintf(f->name, sizeof(f->name), "%s", name);
                f->last_le = -INFINITY;
            }
            if (strcmp(kind, "TYPE") == 0) {
                const char *type = buf + off;
                if (f->type[0]) fail_msg("line %d: second TYPE for %s", lineno, name);
                if (f->samples) fail_msg("line %d: TYPE after samples of %s", lineno, name);
                if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "histogram") &&
                    strcmp(type, "summary") && strcmp(type, "untyped"))
                    fail_msg("line %d: unknown type %s", lineno, type);
                snprintf(f->type, sizeof(f->type), "%s", type);
            } else if (strcmp(kind, "HELP") != 0) {
                fail_msg("line %d: unknown comment %s", lineno, kind);
            }
            continue;
        }
        /* a sample */
        const char *c = buf;
        char name[128];
        size_t n = 0;
        if (!name_start((unsigned char)*c)) fail_msg("line %d: bad sample name", lineno);
        while (name_char((unsigned char)*c) && n < sizeof(name) - 1) name[n++] = *c++;
        name[n] = '\0';
        double le = NAN;
        if (*c == '{') {
            c++;
            while (*c != '}') {
                char lname[64];
                size_t ln = 0;
                if (!name_start((unsigned char)*c)) fail_msg("line %d: bad label name", lineno);
                while (name_char((unsigned char)*c) && ln < sizeof(lname) - 1) lname[ln++] = *c++;
                lname[ln] = '\0';
                if (*c++ != '=' || *c++ != '"') fail_msg("line %d: bad label", lineno);
                char lval[128];
                size_t lv = 0;
                while (*c && *c != '"') {
                    if (*c == '\\') {
                        c++;
                        if (*c != '\\' && *c != '"' && *c != 'n')
                            fail_msg("line %d: bad escape", lineno);
                    }
                    if (lv < sizeof(lval) - 1) lval[lv++] = *c;
                    c++;
                }
                lval[lv] = '\0';
                if (*c++ != '"') fail_msg("line %d: unterminated label value", lineno);
                if (strcmp(lname, "le") == 0) {
                    const char *e;
                    le = parse_value(lval, &e);
                    if (*e) fail_msg("line %d: bad le %s", lineno, lval);
                }
                if (*c == ',') c++;
                else if (*c != '}') fail_msg("line %d: bad label list", lineno);
            }
            c++;
        }
        if (*c++ != ' ') fail_msg("line %d: no space before the value", lineno);
        const char *end;
        double v = parse_value(c, &end);
        if (*end && *end != ' ') fail_msg("line %d: trailing text", lineno);
        const char *suffix;
        family *f = family_of_sample(p, name, &suffix);
        if (!f || !f->type[0]) fail_msg("line %d: sample %s has no TYPE before it", lineno, name);
        f->samples++;
        if (strcmp(f->type, "counter") == 0 && !(v >= 0))
            fail_msg("line %d: negative counter", lineno);
        if (strcmp(suffix, "_bucket") == 0) {
            if (isnan(le)) fail_msg("line %d: bucket without le", lineno);
            if (!(le > f->last_le)) fail_msg("line %d: le not rising", lineno);
            if (v < f->last_bucket) fail_msg("line %d: bucket counts fall", lineno);
            f->last_le = le;
            f->last_bucket = v;
            if (isinf(le)) {
                f->has_inf = 1;
                f->inf_bucket = v;
            }
        } else if (strcmp(suffix, "_count") == 0) {
            if (!f->has_inf) fail_msg("line %d: histogram %s without +Inf bucket", lineno, f->name);
            if (v != f->inf_bucket)
                fail_msg("line %d: _count differs from the +Inf bucket", lineno);
        }
    }
    for (int i = 0; i < p->n; i++)
        if (!p->fam[i].type[0] || !p->fam[i].samples)
            fail_msg("%s: no TYPE or no samples", p->fam[i].name);
    check_conventions(text, p);
}

/* The value of the sample line that starts with `prefix` + " ". */
static double sample_value(const char *text, const char *prefix) {
    size_t n = strlen(prefix);
    for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
        if (strncmp(l, prefix, n) == 0 && l[n] == ' ') return strtod(l + n + 1, NULL);
        if (!strchr(l, '\n')) break;
    }
    fail_msg("no sample %s", prefix);
    return -1;
}

static char *get_metrics(int port) {
    srt_response r;
    assert_int_equal(srt_http_get(port, "/metrics", &r), 0);
    srt_check_status(&r, 200);
    const char *ct = srt_response_header(&r, "content-type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "text/plain"));
    assert_non_null(strstr(ct, "version=0.0.4"));
    char *body = strdup(r.body);
    srt_response_free(&r);
    parsed p;
    parse_exposition(body, &p);
    return body;
}

static void test_metrics_parse_and_move(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--heartbeat-ms", "0", NULL), 0);
    char *before = get_metrics(p.port);
    assert_true(sample_value(before, "sserooms_streams") == 0);

    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=m");
    srt_check_publish_delivered(p.port, "{\"room\":\"m\",\"data\":{\"n\":1}}", 1);
    srt_check_frame(&s, "data: {\"n\":1}\n\n");
    srt_check_publish_delivered(p.port, "{\"room\":\"m\",\"data\":2}", 1);
    srt_check_frame(&s, "data: 2\n\n");
    srt_response r;
    assert_int_equal(srt_http_publish(p.port, "{\"room\":\"m\"}", &r), 0); /* 400: no data */
    srt_response_free(&r);
    assert_int_equal(srt_http_get(p.port, "/nope", &r), 0); /* 404 */
    srt_response_free(&r);

    char *after = get_metrics(p.port);
    assert_true(sample_value(after, "sserooms_streams") == 1);
    assert_true(sample_value(after, "sserooms_rooms") == 1);
    assert_true(sample_value(after, "sserooms_messages_received_total") ==
                sample_value(before, "sserooms_messages_received_total") + 2);
    assert_true(sample_value(after, "sserooms_messages_delivered_total") ==
                sample_value(before, "sserooms_messages_delivered_total") + 2);
    assert_true(sample_value(after, "sserooms_rejected_requests_total{reason=\"bad_request\"}") ==
                1);
    assert_true(sample_value(after, "sserooms_rejected_requests_total{reason=\"not_found\"}") == 1);
    /* both frames were written, so both were timed */
    assert_true(sample_value(after, "sserooms_delivery_latency_seconds_count") == 2);
    assert_true(sample_value(after, "sserooms_bytes_out_total") >
                sample_value(before, "sserooms_bytes_out_total"));
    free(before);
    free(after);
    srt_sse_close(&s);
    srt_check_stop(&p);
}

/* A frame a client has read is counted in the latency histogram by the
 * time the client asks /metrics, also when a writer thread wrote it: the
 * thread's sendmsg puts the bytes in the client's socket before it counts
 * them, and the /metrics reader used to look in between (test_metrics
 * failed once). Many rounds of publish, read, look: each must count one
 * more. With --threads 2 the stream is on a writer thread. */
static void test_latency_counted_before_read(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--heartbeat-ms", "0", "--threads", "2", NULL), 0);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=lat");
    char *m = get_metrics(p.port);
    double base = sample_value(m, "sserooms_delivery_latency_seconds_count");
    free(m);
    enum { ROUNDS = 2000 };
    for (int i = 1; i <= ROUNDS; i++) {
        char body[64], frame[64];
        snprintf(body, sizeof body, "{\"room\":\"lat\",\"data\":%d}", i);
        snprintf(frame, sizeof frame, "data: %d\n\n", i);
        srt_check_publish_delivered(p.port, body, 1);
        srt_check_frame(&s, frame);
        m = get_metrics(p.port);
        double got = sample_value(m, "sserooms_delivery_latency_seconds_count");
        free(m);
        if (got != base + i)
            fail_msg("round %d: %g frames timed after the client read %d", i, got - base, i);
    }
    srt_sse_close(&s);
    srt_check_stop(&p);
}

/* POST /publish is timed from the read of the request to its answer's
 * last byte written: sserooms_publish_answer_seconds counts each answer
 * (a refusal too) and no other request's, and /stats gives the count, p50
 * and p99; the fan-out sweep's slices are counted there and in /metrics.
 * With one loop and with a writer thread (the publisher's connection
 * stays on the main loop either way). */
static void test_publish_answer_latency(void **state) {
    (void)state;
    static const char *const threads[] = {"1", "2"};
    for (size_t t = 0; t < 2; t++) {
        srt_proc p;
        assert_int_equal(srt_server_start(&p, "--heartbeat-ms", "0", "--threads", threads[t], NULL),
                         0);
        srt_sse s;
        srt_check_sse_open(&s, p.port, "/sse?room=pa");
        char *m = get_metrics(p.port);
        assert_true(sample_value(m, "sserooms_publish_answer_seconds_count") == 0);
        free(m);
        enum { K = 40 };
        srt_conn c; /* one keep-alive connection, one request in flight */
        assert_int_equal(srt_conn_open(&c, p.port, 3000), 0);
        static const char *const json[] = {"Content-Type: application/json", NULL};
        for (int i = 0; i < K; i++) {
            char body[64];
            int n = snprintf(body, sizeof body, "{\"room\":\"pa\",\"data\":%d}", i);
            assert_int_equal(srt_http_send_request(&c, "POST", "/publish", json, body, (size_t)n,
                                                   3000),
                             0);
            srt_response r;
            assert_int_equal(srt_http_read_response(&c, &r, 3000), 0);
            srt_check_status(&r, 200);
            srt_response_free(&r);
            char frame[32];
            snprintf(frame, sizeof frame, "data: %d\n\n", i);
            srt_check_frame(&s, frame);
        }
        srt_conn_close(&c);
        srt_response r;
        assert_int_equal(srt_http_publish(p.port, "{\"room\":\"pa\"}", &r), 0); /* 400: no data */
        assert_int_equal(r.status, 400);
        srt_response_free(&r);

        m = get_metrics(p.port);
        assert_true(sample_value(m, "sserooms_publish_answer_seconds_count") == K + 1);
        assert_true(sample_value(m, "sserooms_publish_answer_seconds_bucket{le=\"+Inf\"}") ==
                    K + 1);
        assert_true(sample_value(m, "sserooms_publish_answer_seconds_sum") > 0);
        assert_true(sample_value(m, "sserooms_sweep_slices_total") >= K);
        assert_true(sample_value(m, "sserooms_sweeps_total") >= K);
        assert_true(sample_value(m, "sserooms_sweep_slice_seconds_total") > 0);
        free(m);
        assert_int_equal(srt_http_get(p.port, "/stats", &r), 0);
        srt_check_status(&r, 200);
        const char *v;
        size_t vlen;
        assert_true(srt_json_member(r.body, r.body_len, "publish_answer_us", &v, &vlen));
        char *pa = strndup(v, vlen);
        long long count = 0, p50 = 0, p99 = 0;
        assert_true(srt_json_int(pa, "count", &count));
        assert_true(srt_json_int(pa, "p50", &p50));
        assert_true(srt_json_int(pa, "p99", &p99));
        assert_int_equal(count, K + 1);
        assert_true(p50 > 0 && p50 <= p99);
        free(pa);
        assert_true(srt_json_member(r.body, r.body_len, "sweep", &v, &vlen));
        char *sw = strndup(v, vlen);
        long long slice = 0;
        assert_true(srt_json_int(sw, "slice_us", &slice));
        assert_int_equal(slice, 2000);
        free(sw);
        srt_response_free(&r);
        srt_sse_close(&s);
        srt_check_stop(&p);
    }
}

/* Polls /metrics until the sample reaches `want` (10 s). */
static double wait_sample(int port, const char *prefix, double want) {
    int64_t deadline = srt_now_ms() + 10000;
    double got = -1;
    do {
        char *m = get_metrics(port);
        got = sample_value(m, prefix);
        free(m);
        if (got >= want) return got;
        srt_sleep_ms(20);
    } while (srt_ms_left(deadline) > 0);
    return got;
}

/* With Redis and history on: the build and process samples are there, the
 * canary lag is in seconds, and a publish to two rooms counts two room
 * publishes in sserooms_redis_published_total (it stayed 0 in history
 * mode, where the publish is a script's PUBLISH). */
static void test_build_process_and_redis_samples(void **state) {
    (void)state;
    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--heartbeat-ms", "0", "--redis", srt_redis_url(redis),
                                      "--history", "50", NULL),
                     0);
    assert_true(wait_sample(p.port, "sserooms_redis_up", 1) == 1);
    char *m = get_metrics(p.port);
    assert_non_null(strstr(m, "\nsserooms_build_info{version=\""));
    assert_non_null(strstr(m, ",commit=\""));
    assert_true(sample_value(m, "process_resident_memory_bytes") > 1e6);
    assert_true(sample_value(m, "process_open_fds") > 3);
    assert_true(sample_value(m, "process_max_fds") >= sample_value(m, "process_open_fds"));
    double start = sample_value(m, "process_start_time_seconds");
    assert_true(start > 1.6e9 && start <= (double)time(NULL) + 1);
    assert_true(sample_value(m, "process_cpu_seconds_total") >= 0);
    assert_true(sample_value(m, "sserooms_redis_canary_lag_seconds") < 60);
    assert_null(strstr(m, "canary_lag_ms"));
    assert_true(sample_value(m, "sserooms_redis_published_total") == 0);
    free(m);
    srt_sse s;
    srt_check_sse_open(&s, p.port, "/sse?room=h1");
    srt_response r;
    assert_int_equal(srt_http_publish(p.port, "{\"rooms\":[\"h1\",\"h2\"],\"data\":1}", &r), 0);
    srt_check_status(&r, 200);
    srt_response_free(&r);
    char *block = NULL;
    size_t block_len = 0;
    assert_int_equal(srt_sse_next_event(&s, &block, &block_len, 5000), 0);
    assert_non_null(strstr(block, "data: 1"));
    free(block);
    assert_true(wait_sample(p.port, "sserooms_redis_published_total", 2) == 2);
    srt_sse_close(&s);
    srt_check_stop(&p);
    srt_redis_stop(redis);
    srt_redis_free(redis);
}

/* The JSON string value that starts at *pp (after its opening quote),
 * unescaped into out; *pp moves past the closing quote. */
static void json_string_at(const char **pp, char *out, size_t cap) {
    const char *c = *pp;
    size_t n = 0;
    while (*c && *c != '"') {
        char ch = *c++;
        if (ch == '\\') {
            ch = *c++;
            if (ch == 'n') ch = '\n';
            else if (ch == 't') ch = '\t';
            else if (ch == 'u') fail_msg("\\u escape in a dashboard query");
        }
        if (n + 1 >= cap) fail_msg("dashboard query too long");
        out[n++] = ch;
    }
    if (*c != '"') fail_msg("unterminated string in the dashboard");
    out[n] = '\0';
    *pp = c + 1;
}

/* Each sserooms_* / process_* name in expr must be an exported family, or
 * a histogram family's _bucket/_sum/_count; returns how many it names. */
static int check_query_names(const char *expr, const parsed *p) {
    int names = 0;
    for (const char *c = expr; *c;) {
        if (!name_start((unsigned char)*c)) {
            c++;
            continue;
        }
        const char *start = c;
        while (name_char((unsigned char)*c)) c++;
        char tok[128];
        size_t n = (size_t)(c - start);
        if (n >= sizeof tok ||
            (start > expr && (isalnum((unsigned char)start[-1]) || start[-1] == '$')))
            continue;
        memcpy(tok, start, n);
        tok[n] = '\0';
        if (strncmp(tok, "sserooms_", 9) != 0 && strncmp(tok, "process_", 8) != 0) continue;
        names++;
        if (find_family((parsed *)p, tok)) continue;
        static const char *const parts[] = {"_bucket", "_sum", "_count"};
        int ok = 0;
        for (size_t i = 0; i < 3 && !ok; i++) {
            if (!ends_with(tok, parts[i])) continue;
            tok[n - strlen(parts[i])] = '\0';
            const family *f = find_family((parsed *)p, tok);
            ok = f && strcmp(f->type, "histogram") == 0;
            tok[n - strlen(parts[i])] = parts[i][0];
        }
        if (!ok)
            fail_msg("the dashboard query \"%s\" names %s, which /metrics does not export", expr,
                     tok);
    }
    return names;
}

static void test_grafana_dashboard_names_exported_metrics(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/packaging/grafana-sserooms.json", SR_TEST_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char dash[256 * 1024];
    size_t len = fread(dash, 1, sizeof dash - 1, f);
    fclose(f);
    dash[len] = '\0';
    assert_true(srt_json_valid(dash, len));

    /* a server with Redis, so that the Redis families are exported too */
    srt_redis *redis = srt_redis_start(NULL, 0);
    assert_non_null(redis);
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--redis", srt_redis_url(redis), NULL), 0);
    assert_true(wait_sample(p.port, "sserooms_redis_up", 1) == 1);
    char *m = get_metrics(p.port);
    static parsed fams;
    parse_exposition(m, &fams);

    int exprs = 0, queries = 0;
    static const char *const keys[] = {"\"expr\"", "\"query\""};
    for (size_t k = 0; k < 2; k++) {
        for (const char *c = strstr(dash, keys[k]); c; c = strstr(c, keys[k])) {
            c += strlen(keys[k]);
            while (*c == ' ' || *c == ':' || *c == '\n') c++;
            if (*c != '"') continue; /* not a string (an object) */
            c++;
            char expr[2048];
            json_string_at(&c, expr, sizeof expr);
            int named = check_query_names(expr, &fams);
            if (k == 0) {
                if (named == 0)
                    fail_msg("the dashboard query \"%s\" names no sserooms metric", expr);
                exprs++;
            } else if (named) {
                queries++;
            }
        }
    }
    assert_true(exprs >= 15);  /* the panels' queries were found */
    assert_true(queries >= 1); /* and the variables' label_values */
    free(m);
    srt_check_stop(&p);
    srt_redis_stop(redis);
    srt_redis_free(redis);
}

static void test_parser_grammar_helpers(void **state) {
    (void)state;
    /* the parser itself must be able to fail: expect_assert_failure cannot
     * catch fail_msg, so check the grammar helpers directly */
    assert_true(name_start('a') && name_start('_') && !name_start('1') && !name_start('-'));
    assert_true(name_char('1') && !name_char('-') && !name_char('{'));
    const char *end;
    assert_true(isinf(parse_value("+Inf", &end)));
    assert_true(parse_value("1e3 ", &end) == 1000 && *end == ' ');
}

static void test_metrics_disabled_path_and_method(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, NULL), 0);
    srt_response r;
    assert_int_equal(srt_http_request(p.port, "POST", "/metrics", NULL, "", &r), 0);
    srt_check_status(&r, 405);
    srt_response_free(&r);
    srt_check_stop(&p);
}

/* Issue #17: with authorization on, the admin endpoints refuse an
 * anonymous caller (room names such as user:alice must not leak), and
 * Prometheus, configured with the admin key as its bearer credentials
 * (README, "Protecting the admin endpoints"), still scrapes text this
 * parser accepts. The probes stay open for load balancers. */
static void test_admin_endpoints_need_the_key(void **state) {
    (void)state;
    srt_proc p;
    assert_int_equal(srt_server_start(&p, "--auth-alg", "HS256", "--auth-secret",
                                      "0123456789abcdef0123456789abcdef", "--admin-key",
                                      "scrape-key-123", NULL),
                     0);
    static const char *const admin[] = {"/rooms", "/stats", "/metrics"};
    srt_response r;
    for (size_t i = 0; i < sizeof admin / sizeof admin[0]; i++) {
        assert_int_equal(srt_http_get(p.port, admin[i], &r), 0);
        if (r.status != 401) fail_msg("anonymous GET %s: %d, not 401", admin[i], r.status);
        assert_null(strstr(r.body, "sserooms_"));
        srt_response_free(&r);
        const char *wrong[] = {"Authorization: Bearer not-the-key", NULL};
        assert_int_equal(srt_http_request(p.port, "GET", admin[i], wrong, NULL, &r), 0);
        if (r.status != 401) fail_msg("GET %s with a wrong key: %d, not 401", admin[i], r.status);
        srt_response_free(&r);
    }
    static const char *const probes[] = {"/healthz", "/livez"};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        assert_int_equal(srt_http_get(p.port, probes[i], &r), 0);
        srt_check_status(&r, 200);
        srt_response_free(&r);
    }
    srt_http_set_admin_key("scrape-key-123");
    char *text = get_metrics(p.port); /* 200, and parsed */
    assert_true(sample_value(text, "sserooms_streams") == 0);
    free(text);
    assert_int_equal(srt_http_get(p.port, "/rooms", &r), 0);
    srt_check_status(&r, 200);
    srt_response_free(&r);
    srt_http_set_admin_key(NULL);
    srt_check_stop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_metrics_parse_and_move, srt_teardown_servers),
        cmocka_unit_test_teardown(test_latency_counted_before_read, srt_teardown_servers),
        cmocka_unit_test_teardown(test_publish_answer_latency, srt_teardown_servers),
        cmocka_unit_test(test_parser_grammar_helpers),
        cmocka_unit_test_teardown(test_build_process_and_redis_samples, srt_teardown_servers),
        cmocka_unit_test_teardown(test_grafana_dashboard_names_exported_metrics,
                                  srt_teardown_servers),
        cmocka_unit_test_teardown(test_metrics_disabled_path_and_method, srt_teardown_servers),
        cmocka_unit_test_teardown(test_admin_endpoints_need_the_key, srt_teardown_servers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
