/* SPDX-License-Identifier: MIT */
/*
 * srt_check.h: cmocka assertions built on the support library, for the
 * integration tests: they fail the running test (with the response or the
 * server log on stderr) instead of returning codes. Include after
 * <cmocka.h>'s prerequisites; this header includes them itself.
 */
#ifndef SRT_CHECK_H
#define SRT_CHECK_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "srt_http.h"
#include "srt_json.h"
#include "srt_proc.h"
#include "srt_sse.h"

/* Stops the server with SIGTERM and asserts it exited with status 0 (which
 * also catches crashes and sanitizer reports at exit). */
void srt_check_stop(srt_proc *p);
/* Asserts the status, dumping the response when it differs. */
void srt_check_status(const srt_response *r, int status);
/* Asserts `status`, a JSON content type, and a body that is a JSON object
 * whose "error" member is a non-empty string; when `keyword` is not NULL the
 * message must contain it (case-insensitive, at the start of a word). */
void srt_check_json_error(const srt_response *r, int status, const char *keyword);
/* POSTs `json` to /publish; asserts 200 and a {"delivered":N} body and
 * returns N. */
long long srt_check_publish(int port, const char *json);
/* Same, asserting N == expected. */
void srt_check_publish_delivered(int port, const char *json, long long expected);
/* GET /healthz answers 200 with "status":"ok". */
void srt_check_healthy(int port);
/* An integer member of GET /stats. */
long long srt_check_stat(int port, const char *key);
/* Polls GET /rooms until `room` has `members` members (0: not listed),
 * failing after timeout_ms. */
void srt_check_room_members(int port, const char *room, long long members, int timeout_ms);
/* Opens a stream and asserts it is a valid SSE response. */
void srt_check_sse_open(srt_sse *s, int port, const char *path);
/* Asserts the next block equals `expected` (SRT_TIMEOUT_MS). */
void srt_check_frame(srt_sse *s, const char *expected);
/* Asserts nothing arrives within ms. */
void srt_check_quiet(srt_sse *s, int ms);

#endif
