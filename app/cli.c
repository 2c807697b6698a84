/* SPDX-License-Identifier: MIT */
/*
 * cli.c: argv, --help and --check-config for the sserooms command (see
 * cli.h). argv is read with getopt_long into a list of flags that is only
 * applied after the config file and the environment, which is how flags
 * end up winning whatever their position.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum { FLAG_BASE = 1000, FLAG_CONFIG = 2000, FLAG_CHECK_CONFIG };

int app_cli_parse(int argc, char **argv, app_cli *cli, FILE *err_out) {
    memset(cli, 0, sizeof *cli);
    cli->flags = calloc((size_t)(argc > 0 ? argc : 1), sizeof *cli->flags);
    if (!cli->flags) {
        fprintf(err_out, "sserooms: out of memory\n");
        return -1;
    }
    struct option longopts[APP_OPT_COUNT + 5];
    for (int i = 0; i < APP_OPT_COUNT; i++)
        longopts[i] = (struct option){app_opt_defs[i].name,
                                      (app_opt_defs[i].flags & APP_OPTF_SWITCH) ? optional_argument
                                                                                : required_argument,
                                      NULL, FLAG_BASE + i};
    longopts[APP_OPT_COUNT] = (struct option){"config", required_argument, NULL, FLAG_CONFIG};
    longopts[APP_OPT_COUNT + 1] = (struct option){"check-config", no_argument, NULL,
                                                  FLAG_CHECK_CONFIG};
    longopts[APP_OPT_COUNT + 2] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[APP_OPT_COUNT + 3] = (struct option){"version", no_argument, NULL, 'V'};
    longopts[APP_OPT_COUNT + 4] = (struct option){NULL, 0, NULL, 0};
    int ch;
    opterr = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': cli->help = 1; break;
        case 'V': cli->version = 1; break;
        case FLAG_CHECK_CONFIG: cli->check_config = 1; break;
        case FLAG_CONFIG:
            if (!*optarg) {
                fprintf(err_out, "sserooms: --config: empty file name\n");
                return -1;
            }
            cli->config_path = optarg;
            break;
        case '?':
        case ':':
            fprintf(err_out, "sserooms: %s option '%s'\ntry 'sserooms --help'\n",
                    ch == ':' ? "missing value for" : "unknown", argv[optind - 1]);
            return -1;
        default:
            /* a switch given alone (--demo) means on; --demo=off also works */
            cli->flags[cli->n_flags++] = (app_flag){(app_opt_id)(ch - FLAG_BASE),
                                                    optarg ? optarg : "on"};
        }
    }
    if (optind < argc) {
        fprintf(err_out, "sserooms: unexpected argument '%s'\ntry 'sserooms --help'\n",
                argv[optind]);
        return -1;
    }
    return 0;
}

void app_cli_free(app_cli *cli) {
    free(cli->flags);
    memset(cli, 0, sizeof *cli);
}

int app_cli_apply_flags(const app_cli *cli, app_settings *s, FILE *err_out) {
    for (size_t i = 0; i < cli->n_flags; i++) {
        char where[64], err[768];
        snprintf(where, sizeof where, "--%s", app_opt_defs[cli->flags[i].id].name);
        if (app_settings_set(s, cli->flags[i].id, cli->flags[i].value, APP_SRC_FLAG, where, err,
                             sizeof err) < 0) {
            fprintf(err_out, "sserooms: %s: %s\n", where, err);
            return -1;
        }
    }
    return 0;
}

/* Writes text from column 31, wrapped at 79 columns on spaces. */
static void put_wrapped(FILE *out, const char *text) {
    const int width = 79 - 31;
    while (*text) {
        int n = (int)strlen(text);
        if (n > width) {
            n = width;
            while (n > 0 && text[n] != ' ') n--;
            if (n == 0) n = (int)strcspn(text, " "); /* one long word */
        }
        fprintf(out, "%.*s\n", n, text);
        text += n;
        while (*text == ' ') text++;
        if (*text) fprintf(out, "%31s", "");
    }
}

static void usage_entry(FILE *out, const char *left, const char *help, const char *more) {
    if (strlen(left) <= 28) fprintf(out, "  %-28s ", left);
    else fprintf(out, "  %s\n%31s", left, "");
    put_wrapped(out, help);
    if (more) {
        fprintf(out, "%31s", "");
        put_wrapped(out, more);
    }
}

void app_cli_usage(FILE *out) {
    fprintf(out,
            "usage: sserooms [options]\n\n"
            "Server-Sent Events fan-out with rooms. Clients open GET /sse?room=NAME;\n"
            "POST /publish {\"room\":\"NAME\",\"event\":\"message\",\"data\":{...}} delivers to "
            "them.\n\n"
            "Every setting is a flag, an environment variable and a config file key (the\n"
            "flag's name: `port = 9000`). Flags win over the environment, which wins over\n"
            "the config file, which wins over the defaults. A variable is SSEROOMS_ + the\n"
            "key in upper case with '_' for '-'; another SSEROOMS_* variable is warned about\n"
            "at start and refused by --check-config. See sserooms(1).\n\n"
            "settings:\n");
    app_settings defaults;
    app_settings_init(&defaults);
    for (int i = 0; i < APP_OPT_COUNT; i++) {
        const app_opt_def *d = &app_opt_defs[i];
        char left[96], shown[256], more[400];
        snprintf(left, sizeof left, "--%s %s", d->name, d->arg);
        const char *def = app_settings_show(&defaults, (app_opt_id)i, 0, shown, sizeof shown);
        char vars[128];
        if (d->env_alias) snprintf(vars, sizeof vars, "%s (or %s)", d->env, d->env_alias);
        else snprintf(vars, sizeof vars, "%s", d->env);
        if (*def) snprintf(more, sizeof more, "[%s; default %s]", vars, def);
        else
            snprintf(more, sizeof more, "[%s; unset: %s]", vars,
                     d->unset_text ? d->unset_text : "none");
        usage_entry(out, left, d->help, more);
    }
    app_settings_free(&defaults);
    fprintf(out, "\nother options:\n");
    usage_entry(out, "--config FILE", "read settings from FILE (key = value lines)",
                "[SSEROOMS_CONFIG; default: no file]");
    usage_entry(out, "--check-config",
                "check the settings, print them with where each comes from, exit", NULL);
    usage_entry(out, "-h, --help", "show this help", NULL);
    usage_entry(out, "-V, --version", "print the version", NULL);
}

/* A value as config file text: bare when it reads back the same, else in
 * double quotes with " and \ escaped. */
static void put_value(FILE *out, const char *v, int *col) {
    int bare = *v && v[0] != ' ' && v[0] != '\t' && v[strlen(v) - 1] != ' ' &&
               v[strlen(v) - 1] != '\t' && !strpbrk(v, "#\"\\");
    if (bare) {
        *col += fprintf(out, "%s", v);
        return;
    }
    *col += fprintf(out, "\"");
    for (; *v; v++) *col += fprintf(out, *v == '"' || *v == '\\' ? "\\%c" : "%c", *v);
    *col += fprintf(out, "\"");
}

static void put_line(FILE *out, const app_opt_def *d, const char *value, app_source src,
                     const char *where, int masked) {
    int col = fprintf(out, "%s = ", d->name);
    put_value(out, value, &col);
    fprintf(out, "%*s# %s", col < 40 ? 40 - col : 2, "", app_source_name(src));
    if (src != APP_SRC_DEFAULT && where) fprintf(out, " %s", where);
    if (!*value && d->unset_text) fprintf(out, " (unset: %s)", d->unset_text);
    if (masked) fprintf(out, " (masked)");
    fputc('\n', out);
}

void app_cli_print_config(FILE *out, const app_settings *s, const char *config_path,
                          const char *config_origin) {
    fprintf(out, "# sserooms %s: effective configuration\n", sr_version());
    if (config_path)
        fprintf(out, "# config file: %s (from %s)\n", config_path,
                config_origin ? config_origin : "?");
    else fprintf(out, "# config file: none\n");
    fprintf(out, "# precedence: flag > env > file > default\n");
    char shown[1024];
    for (int i = 0; i < APP_OPT_COUNT; i++) {
        const app_opt_def *d = &app_opt_defs[i];
        const app_value *v = &s->v[i];
        if (d->kind == APP_KIND_LIST) {
            if (!v->n_items) put_line(out, d, "", v->source, v->where, 0);
            for (size_t k = 0; k < v->n_items; k++)
                put_line(out, d, v->items[k].text, v->source, v->items[k].where, 0);
            continue;
        }
        app_settings_show(s, (app_opt_id)i, 0, shown, sizeof shown);
        int masked = v->str && ((d->flags & APP_OPTF_SECRET) || strcmp(shown, v->str) != 0);
        put_line(out, d, shown, v->source, v->where, masked);
    }
}
