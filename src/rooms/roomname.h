/* SPDX-License-Identifier: MIT */
/*
 * roomname.h: sr_room_name_check as sserooms.h declares it, repeated here
 * so that roomname.c (and any pure module) has its prototype without
 * <sserooms.h>, which pulls in <uv.h>: the rooms module compiles without
 * libuv. The two declarations must stay the same.
 */
#ifndef SR_ROOMS_ROOMNAME_H
#define SR_ROOMS_ROOMNAME_H

#include <stddef.h>

#include <sserooms/error.h>

SR_API int sr_room_name_check(const char *name, size_t len, size_t max_len);

#endif
