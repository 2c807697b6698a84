/* SPDX-License-Identifier: MIT */
/*
 * cli.h: the command line of sserooms: reading argv (the settings' flags
 * plus --config, --check-config, --help, --version), the --help text, and
 * the --check-config report, all generated from the settings table.
 */
#ifndef APP_CLI_H
#define APP_CLI_H

#include <stdio.h>

#include "options.h"

typedef struct app_flag {
    app_opt_id id;
    const char *value; /* points into argv */
} app_flag;

typedef struct app_cli {
    int help, version, check_config;
    const char *config_path; /* --config FILE, or NULL */
    app_flag *flags;         /* setting flags in command-line order */
    size_t n_flags;
} app_cli;

/* Reads argv. 0, or -1 after explaining the usage error on err_out. */
int app_cli_parse(int argc, char **argv, app_cli *cli, FILE *err_out);
void app_cli_free(app_cli *cli);

/* Applies the setting flags as source "flag" (origin "--name"). 0, or -1
 * after printing "sserooms: --name: reason" to err_out. */
int app_cli_apply_flags(const app_cli *cli, app_settings *s, FILE *err_out);

void app_cli_usage(FILE *out);

/* Writes the effective configuration as config file text, one
 * `key = value` line per setting (one per item for lists) followed by
 * `# <source> [origin]`, with secrets masked. config_path and
 * config_origin ("--config", "SSEROOMS_CONFIG") may be NULL. */
void app_cli_print_config(FILE *out, const app_settings *s, const char *config_path,
                          const char *config_origin);

#endif
