/* SPDX-License-Identifier: MIT */
/*
 * config_file.c: the sserooms config file (format in config_file.h).
 *
 * The whole file is read first (at most APP_CONFIG_FILE_MAX bytes), then cut
 * into lines (LF or CRLF); each line is parsed on its own and its setting
 * goes through app_settings_set like a flag or a variable would, so a value
 * is checked the same way wherever it comes from. Every problem is reported
 * (up to a limit) as "PATH:LINE: reason" before the file is refused, so one
 * run shows everything to fix.
 */
#include "config_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REPORTED 20

static int is_space(char c) {
    return c == ' ' || c == '\t';
}

static int is_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* Up to 40 bytes of s[0..n) for a message, control characters as '?'. */
static const char *excerpt(const char *s, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && i < 40 && k + 1 < cap; i++)
        buf[k++] = (unsigned char)s[i] < ' ' || s[i] == 0x7f ? '?' : s[i];
    buf[k] = '\0';
    return buf;
}

/* The quoted value starting after the opening quote at line[i]; on success
 * *value is malloc'd and *next indexes the byte after the closing quote. */
static int parse_quoted(const char *line, size_t len, size_t i, char **value, size_t *next,
                        char *err, size_t errcap) {
    char *out = malloc(len - i + 1);
    if (!out) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    size_t n = 0;
    for (; i < len; i++) {
        char c = line[i];
        if (c == '"') {
            out[n] = '\0';
            *value = out;
            *next = i + 1;
            return 0;
        }
        if (c == '\\') {
            if (i + 1 >= len) break;
            char e = line[++i];
            if (e != '"' && e != '\\') {
                free(out);
                snprintf(err, errcap,
                         "syntax error: unknown escape '\\%c' in a quoted value (only \\\" and "
                         "\\\\ are escapes)",
                         (unsigned char)e >= ' ' && e != 0x7f ? e : '?');
                return -1;
            }
            c = e;
        }
        out[n++] = c;
    }
    free(out);
    snprintf(err, errcap, "syntax error: unterminated quoted value (missing closing \")");
    return -1;
}

int app_config_parse_line(const char *line, size_t len, char **key, char **value, char *err,
                          size_t errcap) {
    *key = *value = NULL;
    if (memchr(line, '\0', len)) {
        snprintf(err, errcap, "syntax error: NUL byte in the line (not a text file?)");
        return -1;
    }
    size_t i = 0;
    while (i < len && is_space(line[i])) i++;
    if (i == len || line[i] == '#') return 1;

    size_t key_start = i;
    while (i < len && is_key_char(line[i])) i++;
    size_t key_end = i;
    while (i < len && is_space(line[i])) i++;
    if (key_end == key_start) {
        char ex[48];
        snprintf(err, errcap, "syntax error: expected 'key = value', found '%s'",
                 excerpt(line + key_start, len - key_start, ex, sizeof ex));
        return -1;
    }
    if (i == len || line[i] != '=') {
        snprintf(err, errcap, "syntax error: expected '=' after '%.*s'", (int)(key_end - key_start),
                 line + key_start);
        return -1;
    }
    i++;
    while (i < len && is_space(line[i])) i++;

    char *val = NULL;
    if (i < len && line[i] == '"') {
        size_t next;
        if (parse_quoted(line, len, i + 1, &val, &next, err, errcap) < 0) return -1;
        while (next < len && is_space(line[next])) next++;
        if (next < len && line[next] != '#') {
            free(val);
            char ex[48];
            snprintf(err, errcap, "syntax error: unexpected text after the closing quote: '%s'",
                     excerpt(line + next, len - next, ex, sizeof ex));
            return -1;
        }
    } else {
        /* a '#' starts a comment at the value's start or after whitespace */
        size_t end = i;
        while (end < len && !(line[end] == '#' && (end == i || is_space(line[end - 1])))) end++;
        while (end > i && is_space(line[end - 1])) end--;
        val = strndup(line + i, end - i);
    }
    *key = strndup(line + key_start, key_end - key_start);
    *value = val;
    if (!*key || !*value) {
        free(*key);
        free(*value);
        *key = *value = NULL;
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

/* Why an unknown key is refused, with a hint for the likely mistakes. */
static void unknown_key(const char *key, char *err, size_t errcap) {
    if (strcmp(key, "config") == 0 || strcmp(key, "check-config") == 0 ||
        strcmp(key, "help") == 0 || strcmp(key, "version") == 0) {
        snprintf(err, errcap, "'%s' is a command-line flag only, not a config file key", key);
        return;
    }
    char dashed[128];
    size_t n = 0;
    for (const char *p = key; *p && n + 1 < sizeof dashed; p++)
        dashed[n++] = *p == '_' ? '-' : (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
    dashed[n] = '\0';
    if (app_opt_find(dashed) >= 0)
        snprintf(err, errcap, "unknown key '%.100s' (did you mean '%s'?)", key, dashed);
    else snprintf(err, errcap, "unknown key '%.100s'", key);
}

/* Reads at most APP_CONFIG_FILE_MAX bytes; NULL with the reason in err. */
static char *read_all(const char *path, size_t *len_out, char *err, size_t errcap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errcap, "cannot read the file: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        snprintf(err, errcap, "cannot read the file: it is a directory");
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            close(fd);
            snprintf(err, errcap, "out of memory");
            return NULL;
        }
        if (len == cap) {
            if (cap > APP_CONFIG_FILE_MAX) {
                free(buf);
                close(fd);
                snprintf(err, errcap, "the file is larger than %d bytes", APP_CONFIG_FILE_MAX);
                return NULL;
            }
            char *grown = realloc(buf, cap * 2);
            if (!grown) free(buf);
            buf = grown;
            cap *= 2;
            continue;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            snprintf(err, errcap, "cannot read the file: %s", strerror(e));
            return NULL;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    close(fd);
    if (len > APP_CONFIG_FILE_MAX) {
        free(buf);
        snprintf(err, errcap, "the file is larger than %d bytes", APP_CONFIG_FILE_MAX);
        return NULL;
    }
    *len_out = len;
    return buf;
}

int app_config_file_load(app_settings *s, const char *path, FILE *err_out) {
    char err[768];
    size_t len = 0;
    char *text = read_all(path, &len, err, sizeof err);
    if (!text) {
        fprintf(err_out, "%s:0: %s\n", path, err);
        return -1;
    }
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) pos = 3; /* UTF-8 byte order mark */
    int reported = 0;
    size_t where_cap = strlen(path) + 32;
    char *where = malloc(where_cap);
    if (!where) {
        free(text);
        fprintf(err_out, "%s:0: out of memory\n", path);
        return -1;
    }
    for (unsigned line_no = 1; pos < len && reported < MAX_REPORTED; line_no++) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - line) : len - pos;
        pos += line_len + (nl ? 1 : 0);
        if (line_len && line[line_len - 1] == '\r') line_len--;

        char *key, *value;
        int rc = app_config_parse_line(line, line_len, &key, &value, err, sizeof err);
        if (rc == 1) continue;
        if (rc == 0) {
            int id = app_opt_find(key);
            snprintf(where, where_cap, "%s:%u", path, line_no);
            if (id < 0) {
                unknown_key(key, err, sizeof err);
                rc = -1;
            } else {
                char why[700];
                rc = app_settings_set(s, (app_opt_id)id, value, APP_SRC_FILE, where, why,
                                      sizeof why);
                if (rc < 0) snprintf(err, sizeof err, "%s: %s", key, why);
            }
            free(key);
            free(value);
        }
        if (rc < 0) {
            fprintf(err_out, "%s:%u: %s\n", path, line_no, err);
            reported++;
        }
    }
    if (reported >= MAX_REPORTED && pos < len)
        fprintf(err_out, "%s: too many errors, the rest of the file was not checked\n", path);
    free(where);
    free(text);
    return reported ? -1 : 0;
}
