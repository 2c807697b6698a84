/* SPDX-License-Identifier: MIT */
/*
 * response.c: HTTP/1.1 status lines and response heads.
 */
#include "http/response.h"

const char *sr_http_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

void sr_http_response_head(sr_buf *b, int status, int keep_alive, const char *content_type,
                           long long content_length, const char *extra) {
    sr_buf_printf(b, "HTTP/1.1 %d %s\r\n", status, sr_http_reason(status));
    if (content_type) sr_buf_printf(b, "Content-Type: %s\r\n", content_type);
    if (content_length >= 0) sr_buf_printf(b, "Content-Length: %lld\r\n", content_length);
    sr_buf_puts(b, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    if (extra) sr_buf_puts(b, extra);
    sr_buf_puts(b, "\r\n");
}
