/* SPDX-License-Identifier: MIT */
/*
 * error.c: the text of every SR_E* code, and the library version (from the
 * generated sserooms/version.h). Includes only sserooms/error.h: this
 * module compiles without libuv.
 */
#include <sserooms/error.h>

const char *sr_strerror(int err) {
    switch (err) {
    case SR_OK: return "success";
    case SR_ENOMEM: return "out of memory";
    case SR_EINVAL: return "invalid argument";
    case SR_EROOM: return "invalid room name";
    case SR_ETOOMANYROOMS: return "connection is in too many rooms";
    case SR_EJSON: return "invalid JSON";
    case SR_ENEWLINE: return "id or event contains a line break";
    case SR_ECLOSED: return "connection or server is closed";
    case SR_EQUEUE: return "send queue over its limit (slow consumer)";
    case SR_EIO: return "I/O error";
    case SR_EADAPTER: return "adapter error";
    case SR_ESTATE: return "not valid in the current state";
    case SR_ENOTFOUND: return "not found";
    case SR_EADDRINUSE: return "address already in use";
    case SR_ETOOBIG: return "too large";
    default: return "unknown error";
    }
}

const char *sr_version(void) {
    return SR_VERSION_STRING;
}

unsigned long sr_version_hex(void) {
    return SR_VERSION_HEX;
}
