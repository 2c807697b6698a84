/* SPDX-License-Identifier: MIT */
/*
 * cmake/no_uv/uv.h: put first on the include path of the pure modules
 * (common, json, rooms, auth, and src/redis/url.c + slot.c) by CMakeLists.txt, so
 * that one of them including <uv.h> (directly, or through <sserooms.h>)
 * fails the build instead of quietly depending on libuv again.
 */
#error "a pure module (common, json, rooms, auth, redis url/slot) must not include <uv.h>; include <sserooms/error.h> for the SR_E* codes"
