/* SPDX-License-Identifier: MIT */
/*
 * config_file.h: reading the sserooms config file.
 *
 * Format (documented in sserooms(1) and README.md): one `key = value` per
 * line, keys being the long option names (`port`, `cors-origin`, ...);
 * blank lines and lines starting with '#' are ignored; an unquoted value
 * runs to the end of the line or to a '#' that follows whitespace, with
 * surrounding whitespace removed; a value in double quotes may hold any
 * character, with \" and \\ as the only escapes. A key may appear once,
 * except cors-origin, whose lines add up.
 */
#ifndef APP_CONFIG_FILE_H
#define APP_CONFIG_FILE_H

#include <stdio.h>

#include "options.h"

/* The largest config file read. */
#define APP_CONFIG_FILE_MAX (1024 * 1024)

/* Parses one line (without its line end). Returns 0 and sets *key / *value
 * (malloc'd, the caller frees both) for a setting, 1 for a blank or comment
 * line (nothing set), or -1 with the reason in err. */
int app_config_parse_line(const char *line, size_t len, char **key, char **value, char *err,
                          size_t errcap);

/* Reads `path` into *s as source "file" (origin "PATH:LINE"). 0, or -1 after
 * printing one "PATH:LINE: reason" line per problem to err_out (line 0 when
 * the file cannot be read at all). */
int app_config_file_load(app_settings *s, const char *path, FILE *err_out);

#endif
