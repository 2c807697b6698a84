/* SPDX-License-Identifier: MIT */
/*
 * grants.c: room grant lists (see grants.h): building them from JWT claim
 * values with the project's JSON scanner, and matching room names.
 *
 * Lists are plain arrays scanned linearly: a token is capped at a few KiB,
 * so a list holds at most a few hundred patterns, and a request names few
 * rooms. Patterns are validated when added, so matching is a length check
 * and a memcmp.
 */
#include "auth/grants.h"

#include <stdlib.h>
#include <string.h>

#include <sserooms/error.h>

void sr_grant_list_init(sr_grant_list *l) {
    memset(l, 0, sizeof *l);
}

void sr_grant_list_free(sr_grant_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->items[i].text);
    free(l->items);
    sr_grant_list_init(l);
}

/* 0 when pattern[0..len) is a valid pattern; *prefix_len receives the
 * length without the final '*' and *is_prefix whether there was one. */
static int pattern_check(const char *pattern, size_t len, size_t *prefix_len, int *is_prefix) {
    if (!pattern || len == 0 || len > SR_GRANT_MAX_PATTERN) return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pattern[i];
        if (c < 0x20 || c == 0x7f) return -1;
        if (c == '*' && i + 1 != len) return -1;
    }
    *is_prefix = pattern[len - 1] == '*';
    *prefix_len = *is_prefix ? len - 1 : len;
    return 0;
}

static int list_push(sr_grant_list *l, const char *text, size_t len, int is_prefix) {
    if (l->n >= SR_GRANT_MAX_ENTRIES) return SR_EINVAL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        sr_grant *items = realloc(l->items, cap * sizeof *items);
        if (!items) return SR_ENOMEM;
        l->items = items;
        l->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return SR_ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    l->items[l->n++] = (sr_grant){.text = copy, .len = len, .prefix = is_prefix};
    return 0;
}

int sr_grant_list_add(sr_grant_list *l, const char *pattern, size_t len) {
    size_t plen;
    int is_prefix;
    if (!l || pattern_check(pattern, len, &plen, &is_prefix) < 0) return SR_EINVAL;
    return list_push(l, pattern, plen, is_prefix);
}

int sr_grant_list_copy(sr_grant_list *dst, const sr_grant_list *src) {
    if (!dst || !src) return SR_EINVAL;
    for (size_t i = 0; i < src->n; i++) {
        int rc = list_push(dst, src->items[i].text, src->items[i].len, src->items[i].prefix);
        if (rc < 0) return rc;
    }
    return 0;
}

/* Adds the pattern held by a JSON string value. */
static int add_json_string(sr_grant_list *l, const sr_json_value *str, const char **why) {
    if (str->len - 2 > SR_GRANT_MAX_PATTERN * 6) {
        *why = "a room pattern is too long";
        return SR_EINVAL;
    }
    size_t cap = 3 * str->len + 1;
    char *buf = malloc(cap);
    if (!buf) return SR_ENOMEM;
    unsigned flags = 0;
    ssize_t n = sr_json_string_decode(str, buf, cap, &flags);
    int rc;
    if (n < 0 || (flags & (SR_JSON_S_NUL | SR_JSON_S_LONE_SURROGATE | SR_JSON_S_INVALID_UTF8 |
                           SR_JSON_S_CONTROL))) {
        *why = "a room pattern holds invalid characters";
        rc = SR_EINVAL;
    } else {
        rc = sr_grant_list_add(l, buf, (size_t)n);
        if (rc == SR_EINVAL)
            *why = l->n >= SR_GRANT_MAX_ENTRIES ? "too many room patterns"
                                                : "a room pattern is empty, too long, or has "
                                                  "'*' before its end";
    }
    free(buf);
    return rc;
}

int sr_grant_list_from_json(sr_grant_list *l, const sr_json_value *claim, const char **why) {
    const char *ignored;
    if (!why) why = &ignored;
    *why = "ok";
    if (!l || !claim) return SR_EINVAL;
    sr_grant_list_free(l);
    int rc = 0;
    if (claim->type == SR_JSON_NONE) {
        return 0;
    } else if (claim->type == SR_JSON_STRING) {
        rc = add_json_string(l, claim, why);
    } else if (claim->type == SR_JSON_ARRAY) {
        sr_json_iter it;
        sr_json_value item;
        sr_json_iter_begin(claim, &it);
        while (rc == 0 && sr_json_array_next(&it, &item)) {
            if (item.type != SR_JSON_STRING) {
                *why = "a room pattern is not a string";
                rc = SR_EINVAL;
            } else {
                rc = add_json_string(l, &item, why);
            }
        }
    } else {
        *why = "the room claim is not a string or an array of strings";
        rc = SR_EINVAL;
    }
    if (rc < 0) {
        if (rc == SR_ENOMEM) *why = "out of memory";
        sr_grant_list_free(l);
    }
    return rc;
}

int sr_grant_list_allows(const sr_grant_list *l, const char *room, size_t len) {
    if (!l || !room || len == 0) return 0;
    for (size_t i = 0; i < l->n; i++) {
        const sr_grant *g = &l->items[i];
        if (g->prefix ? len >= g->len && memcmp(room, g->text, g->len) == 0
                      : len == g->len && memcmp(room, g->text, len) == 0)
            return 1;
    }
    return 0;
}

int sr_grant_list_allows_all(const sr_grant_list *l, const char *const *rooms, const size_t *lens,
                             size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!sr_grant_list_allows(l, rooms[i], lens[i])) return 0;
    return 1;
}

void sr_grants_init(sr_grants *g) {
    sr_grant_list_init(&g->subscribe);
    sr_grant_list_init(&g->publish);
    sr_grant_list_init(&g->sequences);
}

void sr_grants_free(sr_grants *g) {
    if (!g) return;
    sr_grant_list_free(&g->subscribe);
    sr_grant_list_free(&g->publish);
    sr_grant_list_free(&g->sequences);
}

int sr_grants_from_payload(sr_grants *g, const sr_json_value *payload, const char *rooms_claim,
                           const char *publish_claim, const char **why) {
    const char *ignored;
    if (!why) why = &ignored;
    if (!g || !payload || payload->type != SR_JSON_OBJECT || !rooms_claim || !publish_claim) {
        *why = "no payload object";
        return SR_EINVAL;
    }
    sr_grants_free(g);
    const char *const keys[] = {rooms_claim, publish_claim, SR_GRANT_SEQUENCES_CLAIM};
    sr_json_value vals[3];
    sr_json_object_get(payload, keys, 3, vals);
    int rc = sr_grant_list_from_json(&g->subscribe, &vals[0], why);
    if (rc == 0) rc = sr_grant_list_from_json(&g->publish, &vals[1], why);
    if (rc == 0) rc = sr_grant_list_from_json(&g->sequences, &vals[2], why);
    if (rc < 0) sr_grants_free(g);
    return rc;
}

int sr_grants_allow(const sr_grants *g, sr_grant_kind kind, const char *room, size_t len) {
    if (!g) return 0;
    const sr_grant_list *l = kind == SR_GRANT_PUBLISH    ? &g->publish
                             : kind == SR_GRANT_SEQUENCE ? &g->sequences
                                                         : &g->subscribe;
    return sr_grant_list_allows(l, room, len);
}
