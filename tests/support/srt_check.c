/* SPDX-License-Identifier: MIT */
/*
 * srt_check.c: assertion helpers for the integration tests (see
 * srt_check.h). Each prints what it saw before failing, so a failed run
 * explains itself without re-running under a debugger.
 */
#include "srt_check.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void srt_check_stop(srt_proc *p) {
    int st = srt_server_stop(p);
    if (st != 0) fail_msg("server exited with status %d (log: %s)", st, p->log_path);
}

static void dump_response(const srt_response *r) {
    if (r->raw_head) srt_dump_bytes("  response head", r->raw_head, r->raw_head_len);
    if (r->body) srt_dump_bytes("  response body", r->body, r->body_len);
}

void srt_check_status(const srt_response *r, int status) {
    if (r->status != status) {
        dump_response(r);
        fail_msg("expected HTTP status %d, got %d", status, r->status);
    }
}

/* True when `word` starts a word of `text` (case-insensitive), so that
 * "id" is found in "id must not contain CR or LF" but not in "invalid". */
static bool mentions(const char *text, const char *word) {
    for (const char *p = text; (p = strcasestr(p, word)) != NULL; p++) {
        if (p == text || !isalnum((unsigned char)p[-1])) return true;
    }
    return false;
}

void srt_check_json_error(const srt_response *r, int status, const char *keyword) {
    srt_check_status(r, status);
    const char *ct = srt_response_header(r, "Content-Type");
    if (!ct || strncmp(ct, "application/json", 16) != 0) {
        dump_response(r);
        fail_msg("error response without Content-Type: application/json");
    }
    char *msg = r->body ? srt_json_string(r->body, "error") : NULL;
    if (!msg || !*msg) {
        dump_response(r);
        free(msg);
        fail_msg("error body is not {\"error\":\"<message>\"}");
    }
    if (keyword && !mentions(msg, keyword)) {
        dump_response(r);
        fprintf(stderr, "  error message \"%s\" does not mention \"%s\"\n", msg, keyword);
        free(msg);
        fail_msg("unclear error message");
    }
    free(msg);
}

long long srt_check_publish(int port, const char *json) {
    srt_response r;
    int rc = srt_http_publish(port, json, &r);
    if (rc != 0) {
        srt_response_free(&r);
        fail_msg("POST /publish failed: %s", strerror(-rc));
    }
    if (r.status != 200) srt_dump_bytes("  published", json, strlen(json));
    srt_check_status(&r, 200);
    long long n = -1;
    if (!srt_json_int(r.body, "delivered", &n)) {
        dump_response(&r);
        srt_response_free(&r);
        fail_msg("publish answer is not {\"delivered\":N}");
    }
    srt_response_free(&r);
    return n;
}

void srt_check_publish_delivered(int port, const char *json, long long expected) {
    long long n = srt_check_publish(port, json);
    if (n != expected) {
        srt_dump_bytes("  published", json, strlen(json));
        fail_msg("expected delivered %lld, got %lld", expected, n);
    }
}

void srt_check_healthy(int port) {
    srt_response r;
    int rc = srt_http_get(port, "/healthz", &r);
    if (rc != 0) {
        srt_response_free(&r);
        fail_msg("GET /healthz failed: %s", strerror(-rc));
    }
    srt_check_status(&r, 200);
    char *status = srt_json_string(r.body, "status");
    bool ok = status && strcmp(status, "ok") == 0;
    free(status);
    if (!ok) {
        dump_response(&r);
        srt_response_free(&r);
        fail_msg("/healthz body has no \"status\":\"ok\"");
    }
    srt_response_free(&r);
}

long long srt_check_stat(int port, const char *key) {
    srt_response r;
    int rc = srt_http_get(port, "/stats", &r);
    if (rc != 0) {
        srt_response_free(&r);
        fail_msg("GET /stats failed: %s", strerror(-rc));
    }
    srt_check_status(&r, 200);
    long long v;
    if (!srt_json_int(r.body, key, &v)) {
        dump_response(&r);
        srt_response_free(&r);
        fail_msg("/stats has no integer \"%s\"", key);
    }
    srt_response_free(&r);
    return v;
}

void srt_check_room_members(int port, const char *room, long long members, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    for (;;) {
        srt_response r;
        int rc = srt_http_get(port, "/rooms", &r);
        if (rc != 0) {
            srt_response_free(&r);
            fail_msg("GET /rooms failed: %s", strerror(-rc));
        }
        srt_check_status(&r, 200);
        long long got = srt_rooms_members(r.body, room);
        if (got < 0) {
            dump_response(&r);
            srt_response_free(&r);
            fail_msg("/rooms body is not {\"rooms\":[{\"name\":..,\"members\":N},...]}");
        }
        if (got == members) {
            srt_response_free(&r);
            return;
        }
        if (srt_now_ms() >= deadline) {
            dump_response(&r);
            srt_response_free(&r);
            fail_msg("room \"%s\": expected %lld members, /rooms says %lld", room, members, got);
        }
        srt_response_free(&r);
        srt_sleep_ms(10);
    }
}

void srt_check_sse_open(srt_sse *s, int port, const char *path) {
    int rc = srt_sse_open(s, port, path);
    if (rc != 0) {
        if (rc > 0) dump_response(&s->head);
        srt_sse_close(s);
        fail_msg("GET %s: not a valid SSE stream (%d)", path, rc);
    }
}

void srt_check_frame(srt_sse *s, const char *expected) {
    if (!srt_sse_expect(s, expected, SRT_TIMEOUT_MS)) fail_msg("SSE frame mismatch");
}

void srt_check_quiet(srt_sse *s, int ms) {
    if (!srt_sse_expect_nothing(s, ms)) fail_msg("unexpected bytes on the stream");
}
