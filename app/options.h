/* SPDX-License-Identifier: MIT */
/*
 * options.h: the settings of the sserooms command, one table for all of
 * them. Each setting has a long flag (--name), an environment variable
 * and a config file key (the flag's name); values are checked
 * when they are set, and every value remembers where it came from (default,
 * file FILE:LINE, env VAR, flag --name) so --check-config can say so.
 *
 * Precedence is applied by the caller setting sources in increasing order:
 * config file, then environment, then flags. A later source overwrites a
 * scalar; for the list settings (trusted-proxy, cors-origin) the first value from a new
 * source replaces the whole list, and values from the same source add up.
 *
 * Environment variables follow one rule: SSEROOMS_ + the key upper-cased,
 * '-' as '_' (redis-outbox: SSEROOMS_REDIS_OUTBOX). One older name is still
 * read as an alias (SSEROOMS_REDIS_URL for redis). Any other SSEROOMS_*
 * variable is a mistake the server cannot act on: app_env_unknown finds
 * them, with the closest known name, so that the server warns at start
 * and --check-config refuses.
 */
#ifndef APP_OPTIONS_H
#define APP_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sserooms.h"
#include "sserooms/redis.h"

typedef enum app_opt_id {
    APP_OPT_HOST,
    APP_OPT_PORT,
    APP_OPT_HEARTBEAT,
    APP_OPT_MAX_QUEUE,
    APP_OPT_MAX_HTTP_BUFFER,
    APP_OPT_MAX_HEADER,
    APP_OPT_MAX_BODY,
    APP_OPT_REQ_TIMEOUT,
    APP_OPT_KEEPALIVE,
    APP_OPT_MAX_ROOMS,
    APP_OPT_MAX_ROOM_LEN,
    APP_OPT_MAX_CONNS,
    APP_OPT_MAX_CONNS_PER_ADDR,
    APP_OPT_IPV6_PREFIX_LEN,
    APP_OPT_MAX_MESSAGE,
    APP_OPT_MAX_PUBLISH,
    APP_OPT_THREADS,
    APP_OPT_SWEEP_SLICE_US,
    APP_OPT_SWEEP_SLICE,
    APP_OPT_TRUSTED_PROXY,
    APP_OPT_PROXY_PROTOCOL,
    APP_OPT_H2C,
    APP_OPT_H2_MAX_STREAMS,
    APP_OPT_TLS_CERT,
    APP_OPT_TLS_KEY,
    APP_OPT_TLS_MIN_VERSION,
    APP_OPT_CORS,
    APP_OPT_PUBLISH_KEY,
    APP_OPT_ADMIN_KEY,
    APP_OPT_ANONYMOUS,
    APP_OPT_AUTH_ALG,
    APP_OPT_AUTH_SECRET,
    APP_OPT_AUTH_SECRET_FILE,
    APP_OPT_AUTH_PUBLIC_KEY,
    APP_OPT_AUTH_JWKS,
    APP_OPT_AUTH_LEEWAY,
    APP_OPT_AUTH_ISSUER,
    APP_OPT_AUTH_AUDIENCE,
    APP_OPT_AUTH_COOKIE,
    APP_OPT_AUTH_EXPIRY_EVENT,
    APP_OPT_TICKET_TTL,
    APP_OPT_TICKET_SECRET,
    APP_OPT_MAX_TICKETS_PER_SUBJECT,
    APP_OPT_TICKET_RATE,
    APP_OPT_HISTORY,
    APP_OPT_HISTORY_TTL,
    APP_OPT_HISTORY_MAX_BYTES,
    APP_OPT_RESET_EVENT,
    APP_OPT_GAP_EVENT,
    APP_OPT_SEQ_MAX_NAMES,
    APP_OPT_SEQ_TTL,
    APP_OPT_REDIS,
    APP_OPT_PREFIX,
    APP_OPT_NODE_ID,
    APP_OPT_REDIS_OUTBOX,
    APP_OPT_REDIS_CLUSTER,
    APP_OPT_REDIS_TLS_CA,
    APP_OPT_REDIS_TLS_CERT,
    APP_OPT_REDIS_TLS_KEY,
    APP_OPT_REDIS_CANARY_INTERVAL,
    APP_OPT_REDIS_CANARY_TIMEOUT,
    APP_OPT_PRESENCE_TTL,
    APP_OPT_PRESENCE_EVENTS,
    APP_OPT_PRESENCE_DEBOUNCE,
    APP_OPT_LOG_FORMAT,
    APP_OPT_LOG_LEVEL,
    APP_OPT_DEMO,
    APP_OPT_WEB_ROOT,
    APP_OPT_COUNT
} app_opt_id;

typedef enum app_opt_kind {
    APP_KIND_STR,  /* text; see APP_OPTF_EMPTY_UNSETS */
    APP_KIND_HOST, /* an IPv4 or IPv6 address literal */
    APP_KIND_NUM,  /* decimal integer in [min, max] */
    APP_KIND_ENUM, /* one of choices[] (stored as its index) */
    APP_KIND_LIST  /* comma-separated items; repeatable */
} app_opt_kind;

/* option flags */
#define APP_OPTF_SECRET 1u       /* never printed: shown as ******** */
#define APP_OPTF_URL_SECRET 2u   /* a URL whose password is masked when shown */
#define APP_OPTF_EMPTY_UNSETS 4u /* an empty value means "not set" */
#define APP_OPTF_SWITCH 8u       /* an on/off enum: the flag alone means "on" */

typedef struct app_opt_def {
    const char *name; /* flag without "--", and config file key */
    const char *env;  /* environment variable: SSEROOMS_ + name, upper case, '_' for '-' */
    app_opt_kind kind;
    unsigned flags;
    const char *arg;            /* placeholder in --help: PORT, MS, N, ... */
    uint64_t min, max;          /* APP_KIND_NUM bounds */
    const char *const *choices; /* APP_KIND_ENUM, NULL-terminated */
    const char *unset_text;     /* what an unset value means, for --help */
    const char *help;
    const char *env_alias; /* an older variable name still read, or NULL */
} app_opt_def;

extern const app_opt_def app_opt_defs[APP_OPT_COUNT];

/* Looks an option up by its long name; -1 when unknown. */
int app_opt_find(const char *name);

typedef enum app_source { APP_SRC_DEFAULT, APP_SRC_FILE, APP_SRC_ENV, APP_SRC_FLAG } app_source;

/* "default", "file", "env", "flag" */
const char *app_source_name(app_source src);

typedef struct app_list_item {
    char *text;  /* one item, trimmed */
    char *where; /* its origin ("FILE:LINE", "SSEROOMS_X", "--x") */
} app_list_item;

typedef struct app_value {
    uint64_t num;         /* APP_KIND_NUM, APP_KIND_ENUM */
    char *str;            /* APP_KIND_STR, APP_KIND_HOST; NULL when unset */
    app_list_item *items; /* APP_KIND_LIST */
    size_t n_items;
    app_source source;
    char *where; /* NULL for defaults */
} app_value;

typedef struct app_settings {
    app_value v[APP_OPT_COUNT];
} app_settings;

/* Fills *s with the library's defaults (sr_config_init,
 * sr_redis_options_init) and the command's own (log format text, level
 * info). */
void app_settings_init(app_settings *s);
void app_settings_free(app_settings *s);

/* Sets option `id` from `text` coming from `source` at `where`. 0, or -1
 * with the reason (without the origin) in err: the value is refused, or
 * (file source) the key was already set in the file. */
int app_settings_set(app_settings *s, app_opt_id id, const char *text, app_source source,
                     const char *where, char *err, size_t errcap);

/* Applies every SSEROOMS_* variable of the table (an alias when the
 * variable itself is unset; both set to different values is an error). 0,
 * or -1 after printing "sserooms: VAR: reason" lines to err_out. */
int app_settings_apply_env(app_settings *s, FILE *err_out);

/* The variable that names the config file (not a setting of the table). */
#define APP_ENV_CONFIG "SSEROOMS_CONFIG"

/* Calls found(var, closest, ud) for every variable of the environment whose
 * name starts with SSEROOMS_ but is no setting's variable, alias or
 * APP_ENV_CONFIG; `var` is the name alone (never the value), `closest` the
 * known variable with the fewest edits from it. Returns how many. */
size_t app_env_unknown(void (*found)(const char *var, const char *closest, void *ud), void *ud);

/* The value of `id` as config file text (numbers in decimal, enums by
 * name, strings as given; secrets masked). For lists, item `index`.
 * Returns buf. */
const char *app_settings_show(const app_settings *s, app_opt_id id, size_t index, char *buf,
                              size_t cap);

/* Copies a URL into buf with the password of its userinfo (if any)
 * replaced by ********. Returns buf. */
const char *app_mask_url(const char *url, char *buf, size_t cap);

/* server_config.c: the library configuration built from the settings;
 * strings point into *s (and origins into *origins_out, which the caller
 * frees). */
typedef struct app_server_config {
    sr_config server;
    sr_redis_options redis;
    const char *redis_url;        /* NULL: in-memory adapter */
    const char **cors_origins;    /* malloc'd array */
    const char **trusted_proxies; /* malloc'd array */
    int log_format;               /* app_log_format */
    int log_level;                /* app_log_level */
    char *web_root_owned;         /* the default demo folder, when found */
} app_server_config;

/* Authorization settings that make no sense together (the library checks
 * the rest, see sr_config_check): --anonymous with an auth option, or a
 * setting of JWT authorization (cookie, leeway, TTL...) without
 * --auth-alg. 0, or -1 with the reason in err. */
int app_settings_check_auth(const app_settings *s, char *err, size_t errcap);

/* 0, or -1 when out of memory. Free with app_server_config_free. */
int app_server_config_build(const app_settings *s, app_server_config *out);
void app_server_config_free(app_server_config *c);
/* The folder --demo serves when --web-root is not given (malloc'd), or NULL. */
char *app_default_web_root(void);

#endif
