/* SPDX-License-Identifier: MIT */
/*
 * log.c: formatting and writing the command's log lines (see log.h).
 *
 * Text:  2025-01-02T03:04:05.678Z info listening host=127.0.0.1 port=8080
 * JSON:  {"ts":"2025-01-02T03:04:05.678Z","level":"info","msg":"listening",
 *         "host":"127.0.0.1","port":8080}
 * A connection id appears as conn=N / "conn":N right after the message.
 * Strings are copied through a UTF-8 check so that any input (a path, a
 * peer's text relayed by the library) still gives one valid line, and with
 * control characters (C0, DEL, C1) and bidi controls escaped, so that it
 * can neither drive the terminal that shows the log nor reorder its text.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct line_buf {
    char *data;
    size_t len, cap;
    int failed;
} line_buf;

static void put(line_buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void puts_(line_buf *b, const char *s) {
    put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) n = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) n = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, min = 0x10000;
    else return 0;
    unsigned cp = c & (0x3f >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

/* The code point of the valid sequence s[0..n) (n >= 2) when a log must
 * not hold it raw: a C1 control (U+0080-U+009F; U+009B is a terminal's
 * CSI) or a bidi embedding, override or isolate (U+202A-U+202E,
 * U+2066-U+2069), which reorder what a reader of the log sees; else 0. */
unsigned app_log_deceptive_cp(const unsigned char *s, size_t n) {
    if (n == 2 && s[0] == 0xc2 && s[1] <= 0x9f) return s[1];
    if (n == 3 && s[0] == 0xe2) {
        unsigned cp = 0x2000u | ((unsigned)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return cp;
    }
    return 0;
}

/* Appends s escaped: JSON string escapes (json) or, for text, the same
 * escapes for control characters (C0, DEL, C1 and the bidi controls as
 * \u escapes), quotes and backslashes. */
static void put_escaped(line_buf *b, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_seq(p);
        if (n == 0) {
            puts_(b, "\xef\xbf\xbd"); /* U+FFFD for a byte that is not UTF-8 */
            p++;
            continue;
        }
        char esc[16];
        unsigned cp = n > 1 ? app_log_deceptive_cp(p, n) : 0;
        if (cp) {
            snprintf(esc, sizeof esc, "\\u%04x", cp & 0xffffu);
            puts_(b, esc);
            p += n;
            continue;
        }
        if (n > 1) {
            put(b, (const char *)p, n);
            p += n;
            continue;
        }
        switch (*p) {
        case '"': puts_(b, "\\\""); break;
        case '\\': puts_(b, "\\\\"); break;
        case '\n': puts_(b, "\\n"); break;
        case '\r': puts_(b, "\\r"); break;
        case '\t': puts_(b, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                puts_(b, esc);
            } else {
                put(b, (const char *)p, 1);
            }
        }
        p++;
    }
}

/* Text values are bare unless empty or holding spaces, quotes, '=' or
 * anything escaped; then they are quoted like JSON strings. */
static void put_text_value(line_buf *b, const char *s) {
    int bare = *s != '\0';
    for (const unsigned char *p = (const unsigned char *)s; *p && bare; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f ||
            app_log_deceptive_cp(p, utf8_seq(p)))
            bare = 0;
    if (bare) {
        put_escaped(b, s); /* still replaces bad UTF-8 */
        return;
    }
    puts_(b, "\"");
    put_escaped(b, s);
    puts_(b, "\"");
}

const char *app_log_level_name(app_log_level level) {
    switch (level) {
    case APP_LOG_DEBUG: return "debug";
    case APP_LOG_INFO: return "info";
    case APP_LOG_WARN: return "warn";
    default: return "error";
    }
}

char *app_log_format_line(app_log_format format, const struct timespec *ts, app_log_level level,
                          uint64_t conn_id, const char *msg, const app_log_field *fields,
                          size_t n_fields, size_t *len_out) {
    char stamp[40], num[32];
    struct tm tm;
    time_t secs = ts->tv_sec;
    gmtime_r(&secs, &tm);
    size_t k = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + k, sizeof stamp - k, ".%03ldZ", (long)(ts->tv_nsec / 1000000));

    line_buf b = {0};
    if (format == APP_LOG_JSON) {
        puts_(&b, "{\"ts\":\"");
        puts_(&b, stamp);
        puts_(&b, "\",\"level\":\"");
        puts_(&b, app_log_level_name(level));
        puts_(&b, "\",\"msg\":\"");
        put_escaped(&b, msg ? msg : "");
        puts_(&b, "\"");
        if (conn_id) {
            snprintf(num, sizeof num, ",\"conn\":%llu", (unsigned long long)conn_id);
            puts_(&b, num);
        }
        for (size_t i = 0; i < n_fields; i++) {
            puts_(&b, ",\"");
            put_escaped(&b, fields[i].key);
            puts_(&b, "\":");
            if (fields[i].str) {
                puts_(&b, "\"");
                put_escaped(&b, fields[i].str);
                puts_(&b, "\"");
            } else {
                snprintf(num, sizeof num, "%lld", fields[i].num);
                puts_(&b, num);
            }
        }
        puts_(&b, "}\n");
    } else {
        puts_(&b, stamp);
        puts_(&b, " ");
        puts_(&b, app_log_level_name(level));
        puts_(&b, " ");
        put_escaped(&b, msg ? msg : "");
        if (conn_id) {
            snprintf(num, sizeof num, " conn=%llu", (unsigned long long)conn_id);
            puts_(&b, num);
        }
        for (size_t i = 0; i < n_fields; i++) {
            puts_(&b, " ");
            put_escaped(&b, fields[i].key);
            puts_(&b, "=");
            if (fields[i].str) {
                put_text_value(&b, fields[i].str);
            } else {
                snprintf(num, sizeof num, "%lld", fields[i].num);
                puts_(&b, num);
            }
        }
        puts_(&b, "\n");
    }
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    if (len_out) *len_out = b.len;
    return b.data;
}

void app_log_write(const app_logger *lg, app_log_level level, uint64_t conn_id, const char *msg,
                   const app_log_field *fields, size_t n_fields) {
    if (level < lg->min_level) return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    size_t len = 0;
    char *line = app_log_format_line(lg->format, &now, level, conn_id, msg, fields, n_fields, &len);
    if (!line) return;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(lg->fd, line + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* nowhere to report a failing log */
        off += (size_t)n;
    }
    free(line);
}

void app_log_sink_fields(void *ud, int level, uint64_t conn_id, const char *msg, const void *fields,
                         size_t n_fields) {
    if (level < APP_LOG_DEBUG) level = APP_LOG_DEBUG;
    if (level > APP_LOG_ERROR) level = APP_LOG_ERROR;
    /* a "conn" field says the connection already: not twice on one line */
    const app_log_field *f = fields;
    for (size_t i = 0; i < n_fields; i++)
        if (strcmp(f[i].key, "conn") == 0) conn_id = 0;
    app_log_write(ud, (app_log_level)level, conn_id, msg, f, n_fields);
}

void app_log_sink(void *ud, int level, uint64_t conn_id, const char *msg) {
    if (level < APP_LOG_DEBUG) level = APP_LOG_DEBUG;
    if (level > APP_LOG_ERROR) level = APP_LOG_ERROR;
    app_log_write(ud, (app_log_level)level, conn_id, msg, NULL, 0);
}
