/* SPDX-License-Identifier: MIT */
/*
 * h2_available.c: whether this build serves HTTP/2. TLS (tls_server.c)
 * asks it to decide whether ALPN offers "h2" before "http/1.1". The
 * HTTP/2 layer (src/http2, h2conn.c) is built in: it answers true, and a
 * connection whose ALPN is h2 speaks HTTP/2 from its first bytes.
 */
#include "server/tls_server.h"

bool sr_h2_available(void) {
    return true; /* src/http2 over libnghttp2, wired in h2conn.c */
}
