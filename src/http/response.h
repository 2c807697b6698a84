/* SPDX-License-Identifier: MIT */
/*
 * response.h: writing HTTP/1.1 response heads.
 */
#ifndef SR_HTTP_RESPONSE_H
#define SR_HTTP_RESPONSE_H

#include <stddef.h>

#include "common/buf.h"

/* "OK", "Bad Request", ...; "Unknown" for codes it does not name. */
const char *sr_http_reason(int status);

/* Appends a status line and the standard headers: Content-Type (when
 * content_type is not NULL), Content-Length (when content_length >= 0),
 * Connection: keep-alive|close, then `extra` (zero or more complete
 * "Name: value\r\n" lines, may be NULL), then the blank line. */
void sr_http_response_head(sr_buf *b, int status, int keep_alive, const char *content_type,
                           long long content_length, const char *extra);

#endif
