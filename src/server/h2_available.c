/* SPDX-License-Identifier: MIT */
/*
 * h2_available.c: whether this build serves HTTP/2. TLS (tls_server.c)
 * asks it to decide whether ALPN offers "h2" before "http/1.1". The
 * HTTP/2 layer (issue #12 point 2), when it is built in, answers true
 * here; until then connections speak HTTP/1.1 only.
 */
#include "server/tls_server.h"

bool sr_h2_available(void) {
    return false;
}
