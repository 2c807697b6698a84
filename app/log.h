/* SPDX-License-Identifier: MIT */
/*
 * log.h: the sserooms command's log lines on stderr, as text or as JSON
 * lines ({"ts":...,"level":...,"msg":...,<fields>}), filtered by level.
 *
 * Every line may carry a connection id (0 = none), so the library's log
 * hook (an sr_log_fn(void *ud, int level, uint64_t conn_id, const char *msg)
 * style callback) can be pointed at app_log_sink with the logger as ud.
 * A line is formatted whole and written with one write(2), so lines from
 * several sources never interleave.
 */
#ifndef APP_LOG_H
#define APP_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum app_log_level {
    APP_LOG_DEBUG = 0,
    APP_LOG_INFO = 1,
    APP_LOG_WARN = 2,
    APP_LOG_ERROR = 3
} app_log_level;

typedef enum app_log_format { APP_LOG_TEXT = 0, APP_LOG_JSON = 1 } app_log_format;

/* One key/value field of a line: a string (str != NULL) or an integer. */
typedef struct app_log_field {
    const char *key;
    const char *str;
    long long num;
} app_log_field;

static inline app_log_field app_log_str(const char *key, const char *value) {
    return (app_log_field){key, value ? value : "", 0};
}
#define APP_LOG_STR(k, v) app_log_str((k), (v))
#define APP_LOG_NUM(k, v) ((app_log_field){(k), NULL, (long long)(v)})

typedef struct app_logger {
    int fd; /* 2 */
    app_log_format format;
    app_log_level min_level; /* lines below it are dropped */
} app_logger;

/* The code point of the valid UTF-8 sequence s[0..n) when logs escape it
 * although it is printable UTF-8 (C1 controls, bidi controls); else 0. */
unsigned app_log_deceptive_cp(const unsigned char *s, size_t n);

/* "debug", "info", "warn", "error" */
const char *app_log_level_name(app_log_level level);

/* Formats one line, '\n' included, into a malloc'd NUL-terminated buffer
 * (*len_out its length). conn_id 0 means no connection. Strings that are not
 * valid UTF-8 get U+FFFD in place of the bad bytes; control characters (C0,
 * DEL, C1) and the bidi controls U+202A-U+202E and U+2066-U+2069 are
 * escaped (\u009b), so a line is always one line, in JSON one valid value,
 * and cannot drive a terminal or reorder what its reader sees.
 * NULL when out of memory. */
char *app_log_format_line(app_log_format format, const struct timespec *ts, app_log_level level,
                          uint64_t conn_id, const char *msg, const app_log_field *fields,
                          size_t n_fields, size_t *len_out);

/* Writes a line stamped with the current time when level >= min_level. */
void app_log_write(const app_logger *lg, app_log_level level, uint64_t conn_id, const char *msg,
                   const app_log_field *fields, size_t n_fields);

/* app_log_write without fields / with a compound-literal field list:
 *   APP_LOG(lg, APP_LOG_INFO, "listening", APP_LOG_NUM("port", port)); */
#define APP_LOG0(lg, level, msg) app_log_write((lg), (level), 0, (msg), NULL, 0)
#define APP_LOG(lg, level, msg, ...)                                                               \
    app_log_write((lg), (level), 0, (msg), (const app_log_field[]){__VA_ARGS__},                   \
                  sizeof((const app_log_field[]){__VA_ARGS__}) / sizeof(app_log_field))

/* An sr_log_fn-shaped sink: ud is an app_logger *, level an app_log_level. */
void app_log_sink(void *ud, int level, uint64_t conn_id, const char *msg);
/* An sr_log_fields_fn-shaped sink: the library's fields (laid out like
 * app_log_field: key, str, num) become the line's own fields. */
void app_log_sink_fields(void *ud, int level, uint64_t conn_id, const char *msg, const void *fields,
                         size_t n_fields);

#endif
