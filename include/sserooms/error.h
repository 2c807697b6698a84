/* SPDX-License-Identifier: MIT */
/*
 * sserooms/error.h: the SR_E* codes, sr_strerror, the version functions
 * and SR_API. It includes nothing from libuv, so the parts of the library
 * that are pure code (rooms, auth, common, the Redis URL and slot parsers)
 * and programs that only need the codes compile without <uv.h>;
 * <sserooms.h> includes it.
 */
#ifndef SSEROOMS_ERROR_H
#define SSEROOMS_ERROR_H

#include <sserooms/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(SR_BUILDING_LIBRARY)
#define SR_API __attribute__((visibility("default")))
#else
#define SR_API
#endif

enum sr_error {
    SR_OK = 0,
    SR_ENOMEM = -1,        /* out of memory */
    SR_EINVAL = -2,        /* invalid argument */
    SR_EROOM = -3,         /* invalid room name (empty, too long, bad characters) */
    SR_ETOOMANYROOMS = -4, /* connection is in the maximum number of rooms */
    SR_EJSON = -5,         /* data or meta is not valid JSON */
    SR_ENEWLINE = -6,      /* id or event contains CR or LF */
    SR_ECLOSED = -7,       /* connection or server is closing / closed */
    SR_EQUEUE = -8,        /* connection send queue over its limit */
    SR_EIO = -9,           /* I/O or listen error (see errno / libuv) */
    SR_EADAPTER = -10,     /* the adapter refused or failed */
    SR_ESTATE = -11,       /* call not valid in the current state */
    SR_ENOTFOUND = -12,    /* no such room / connection */
    SR_EADDRINUSE = -13,   /* listen address already in use */
    SR_ETOOBIG = -14       /* message or value larger than allowed */
};

/* Human-readable text for an SR_E* code; never NULL. */
SR_API const char *sr_strerror(int err);
/* The library's version, "0.1.0" (SR_VERSION_STRING of the library, which
 * may be newer than the header a program was built with). */
SR_API const char *sr_version(void);
/* The same as a number, SR_VERSION_HEX of the library: 0x000100 for 0.1.0. */
SR_API unsigned long sr_version_hex(void);

#ifdef __cplusplus
}
#endif
#endif /* SSEROOMS_ERROR_H */
