/* SPDX-License-Identifier: MIT */
/*
 * registry.h: the room index of one event-loop thread.
 *
 * Rooms are kept in a hash table keyed by name (seeded SipHash, so room
 * names chosen by clients cannot flood one bucket). Each room holds a dense
 * array of member pointers; each member (embedded in a connection) holds its
 * memberships as (room, index-in-room) pairs, so join, leave and leave-all
 * are O(1) per room and a room's members are iterated as an array.
 * A room exists exactly while it has members: the registry calls the
 * room-event callback when a room gets its first member and when it loses
 * its last (this is where the adapter subscribes and unsubscribes).
 *
 * Pure code: no I/O. Not thread-safe; each loop thread owns one registry.
 */
#ifndef SR_ROOMS_REGISTRY_H
#define SR_ROOMS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

typedef struct sr_room sr_room;
typedef struct sr_member sr_member;
typedef struct sr_registry sr_registry;

typedef struct sr_membership {
    sr_room *room;
    uint32_t index;  /* position of the member in room->members */
    uint64_t joined; /* the registry's last stamp when it joined: it was a
                        member when a delivery with stamp s was made iff
                        joined < s (and it has not left and come back) */
} sr_membership;

#define SR_MEMBER_INLINE_ROOMS 2

/* Embedded in each connection; zero-initialise it before use. */
struct sr_member {
    sr_membership *rooms; /* join order; points at inline_rooms or heap */
    uint32_t n_rooms;
    uint32_t cap_rooms;
    uint64_t stamp; /* last delivery stamp that reached this member */
    sr_membership inline_rooms[SR_MEMBER_INLINE_ROOMS];
};

struct sr_room {
    sr_room *next; /* hash chain */
    uint64_t hash;
    sr_member **members;
    uint32_t n_members;
    uint32_t cap_members;
    size_t name_len;
    char name[]; /* NUL-terminated copy */
};

typedef enum sr_room_event {
    SR_ROOM_CREATED = 1, /* first member joined */
    SR_ROOM_EMPTIED = 2, /* last member left; the room is freed after the callback */
    SR_ROOM_JOINED = 3,  /* a member joined (after SR_ROOM_CREATED for the first) */
    SR_ROOM_LEFT = 4     /* a member left (before SR_ROOM_EMPTIED for the last) */
} sr_room_event;

/* Runs inside join / leave / leave-all: it must not join, leave or free
 * through the registry (read-only calls such as sr_registry_find are fine).
 * On SR_ROOM_EMPTIED the room is still linked and room->name readable. */
typedef void (*sr_room_event_fn)(void *ud, sr_room *room, sr_room_event ev);

/* NULL when out of memory. fn may be NULL. */
sr_registry *sr_registry_new(sr_room_event_fn fn, void *ud);
/* Frees every room (without callbacks). Members still in rooms (which must
 * still be alive) are reset to the zeroed state, their heap membership
 * arrays freed. */
void sr_registry_free(sr_registry *reg);

/* 0 joined, 1 already a member, -1 out of memory (or NULL arguments); a
 * failed join changes nothing. The name is copied; it is not validated here
 * (see sr_room_name_check). */
int sr_registry_join(sr_registry *reg, sr_member *m, const char *name, size_t len);
/* 0 left, 1 not a member. */
int sr_registry_leave(sr_registry *reg, sr_member *m, const char *name, size_t len);
/* Leaves the room at membership position i of m (0 <= i < m->n_rooms). */
void sr_registry_leave_at(sr_registry *reg, sr_member *m, uint32_t i);
/* Leaves every room, in reverse join order; frees a heap membership array. */
void sr_registry_leave_all(sr_registry *reg, sr_member *m);
/* 1 if m is in room, else 0. */
/* During SR_ROOM_JOINED / SR_ROOM_LEFT: the member that joined or left. */
sr_member *sr_registry_event_member(const sr_registry *reg);
int sr_registry_is_member(const sr_member *m, const sr_room *room);
/* The `joined` stamp of m's membership of room; UINT64_MAX when m is not
 * a member. */
uint64_t sr_registry_joined(const sr_member *m, const sr_room *room);

sr_room *sr_registry_find(const sr_registry *reg, const char *name, size_t len);
size_t sr_registry_room_count(const sr_registry *reg);
/* Buckets of the hash table (a power of two, at least 16); for tests and
 * statistics. */
size_t sr_registry_bucket_count(const sr_registry *reg);

/* Iteration over rooms in an unspecified order; the registry must not change
 * during it. it starts as NULL-initialised struct. */
typedef struct sr_registry_iter {
    size_t bucket;
    sr_room *room;
} sr_registry_iter;
sr_room *sr_registry_next(const sr_registry *reg, sr_registry_iter *it);

/* A fresh delivery stamp (never 0). */
uint64_t sr_registry_new_stamp(sr_registry *reg);

/* Visits each member of rooms[0..n) once, skipping members listed in
 * except[0..n_except) and members whose stamp equals `stamp` already
 * (they were visited earlier by the same delivery). Sets each visited
 * member's stamp to `stamp`. fn must not change room membership.
 * Returns the number of members visited. rooms may contain NULLs and
 * duplicates. Excluded members are neither visited nor counted nor left
 * with `stamp`. stamp must come from sr_registry_new_stamp (0 visits
 * nothing). */
typedef void (*sr_member_fn)(void *ud, sr_member *m);
size_t sr_registry_visit(sr_room *const *rooms, size_t n, sr_member *const *except, size_t n_except,
                         uint64_t stamp, sr_member_fn fn, void *ud);
/* One slice of a visit of one room, for a delivery spread over several
 * calls: visits members[*next ..] (at most max of them; 0: all the rest)
 * like sr_registry_visit, and moves *next past them. The caller keeps the
 * room's membership unchanged between the calls (indexes move on a leave,
 * a join appends). Returns the number of members visited. */
size_t sr_registry_visit_range(const sr_room *room, uint32_t *next, uint32_t max, uint64_t stamp,
                               sr_member_fn fn, void *ud);

#endif /* SR_ROOMS_REGISTRY_H */
