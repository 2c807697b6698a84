/* SPDX-License-Identifier: MIT */
/*
 * srt_json.h: just enough JSON reading for integration tests to check the
 * server's JSON answers ({"delivered":N}, {"error":"..."}, /rooms, /stats)
 * without string matching. Independent of the server's own scanner on
 * purpose: the tests must not share the code they check. Strict RFC 8259
 * syntax; nesting limited to 64 levels.
 */
#ifndef SRT_JSON_H
#define SRT_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is exactly one JSON value with optional whitespace. */
bool srt_json_valid(const char *s, size_t len);
/* The value text of member `key` of the top-level object in NUL-terminated
 * `json` (keys are compared as raw text); false when absent or invalid. */
bool srt_json_member(const char *json, size_t len, const char *key, const char **val, size_t *vlen);
/* The member as an integer (a JSON number without fraction or exponent). */
bool srt_json_int(const char *json, const char *key, long long *out);
/* The member as a string, unescaped (\uXXXX outside ASCII becomes '?'),
 * malloc'd; NULL when absent or not a string. */
char *srt_json_string(const char *json, const char *key);
/* The idx-th element of the array val[0..vlen); false past the end. */
bool srt_json_array_elem(const char *val, size_t vlen, size_t idx, const char **elem, size_t *elen);
/* In a /rooms answer {"rooms":[{"name":..,"members":N},...]}: the members
 * of `room`, 0 when it is not listed, -1 when the answer is malformed. */
long long srt_rooms_members(const char *rooms_json, const char *room);
/* How many rooms a /rooms answer lists, -1 when malformed. */
long long srt_rooms_count(const char *rooms_json);

#endif
