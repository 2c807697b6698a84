/* SPDX-License-Identifier: MIT */
/*
 * main.c: the sserooms command. Settings come from the defaults, then the
 * config file (--config / SSEROOMS_CONFIG), then SSEROOMS_* variables, then
 * flags, each overriding the one before (options.c, config_file.c, cli.c).
 * A SSEROOMS_* variable that names no setting is likely a typo that would
 * leave a setting at its default (SSEROOMS_REDIS_ULR: a node without Redis):
 * the server warns about each at start, --check-config refuses them.
 * With --check-config the result is also checked by the library itself
 * (server and Redis URL), printed, and the command exits; otherwise a server
 * runs on its own loop through the public API only, its stdout's first line
 * being `sserooms <version> listening on http://HOST:PORT`, its log lines on
 * stderr (log.c), and it stops gracefully on SIGINT/SIGTERM; SIGHUP re-reads
 * the auth-jwks key set.
 *
 * Exit status: 0 after a clean stop or a successful --check-config, 1 when
 * the server cannot be created or cannot listen, 2 for a usage or
 * configuration error.
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config_file.h"
#include "log.h"
#include "options.h"
#include "sserooms.h"

_Static_assert(sizeof(sr_log_field) == sizeof(app_log_field) &&
                   offsetof(sr_log_field, key) == offsetof(app_log_field, key) &&
                   offsetof(sr_log_field, str) == offsetof(app_log_field, str) &&
                   offsetof(sr_log_field, num) == offsetof(app_log_field, num),
               "app_log_sink_fields takes the library's fields as they are");
_Static_assert((int)SR_LOG_DEBUG == (int)APP_LOG_DEBUG && (int)SR_LOG_INFO == (int)APP_LOG_INFO &&
                   (int)SR_LOG_WARN == (int)APP_LOG_WARN && (int)SR_LOG_ERROR == (int)APP_LOG_ERROR,
               "app_log_sink takes library levels as they are");

typedef struct app {
    sr_server *srv;
    app_logger log;
    uv_signal_t sigint, sigterm, sighup;
} app;

/* Creates the server on its own loop and installs the Redis adapter when a
 * URL is set. 0; or 2 (the library refused the configuration) / 1 (another
 * failure) after writing why to `why`. */
static int create_server(const app_settings *s, const app_server_config *c, sr_server **out,
                         char *why, size_t cap) {
    *out = NULL;
    sr_server *srv = NULL;
    char reason_auth[512];
    int rc = sr_config_check(&c->server, reason_auth, sizeof reason_auth);
    if (rc < 0) {
        /* half-configured authorization, a bad key file...: say which */
        snprintf(why, cap, "sserooms: %s", rc == SR_EINVAL ? reason_auth : sr_strerror(rc));
        return rc == SR_EINVAL ? 2 : 1;
    }
    rc = sr_server_new(&srv, NULL, &c->server);
    if (rc < 0) {
        snprintf(why, cap, "sserooms: cannot create the server: %s", sr_strerror(rc));
        return rc == SR_EINVAL ? 2 : 1;
    }
    if (c->redis_url) {
        char reason[256] = "";
        rc = sr_server_use_redis(srv, &c->redis, reason, sizeof reason);
        if (rc < 0) {
            /* the option the URL came from: --redis, or --redis-cluster seeds */
            const app_value *v = &s->v[c->redis.cluster ? APP_OPT_REDIS_CLUSTER : APP_OPT_REDIS];
            const char *option = c->redis.cluster ? "redis-cluster" : "redis";
            char masked[512];
            app_mask_url(c->redis_url, masked, sizeof masked);
            if (v->source == APP_SRC_FILE)
                snprintf(why, cap, "%s: %s: %s: %s", v->where, option, masked,
                         reason[0] ? reason : sr_strerror(rc));
            else
                snprintf(why, cap, "sserooms: %s: %s: %s", v->where ? v->where : option, masked,
                         reason[0] ? reason : sr_strerror(rc));
            sr_server_shutdown(srv, NULL, NULL);
            sr_server_run(srv);
            sr_server_free(srv);
            return rc == SR_EINVAL ? 2 : 1;
        }
    }
    *out = srv;
    return 0;
}

static int check_config(const app_settings *s, const app_server_config *c, const char *path,
                        const char *path_origin) {
    sr_server *srv;
    char why[1024];
    int rc = create_server(s, c, &srv, why, sizeof why);
    if (rc) {
        fprintf(stderr, "%s\n", why);
        return rc;
    }
    /* never listened: shutting down just closes what was created */
    sr_server_shutdown(srv, NULL, NULL);
    sr_server_run(srv);
    sr_server_free(srv);
    app_cli_print_config(stdout, s, path, path_origin);
    return fflush(stdout) == 0 ? 0 : 1;
}

static void on_shutdown_done(void *ud, sr_server *srv) {
    (void)srv;
    app *a = ud;
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sighup, NULL);
}

/* SIGHUP: the TLS certificate and key, and the key set (auth-jwks), are read
 * again; open streams stay, and a bad file keeps what is in use. */
static void on_sighup(uv_signal_t *h, int signum) {
    (void)signum;
    app *a = h->data;
    char why[512] = "";
    /* TLS success and failure are logged by the library */
    int tls = sr_server_reload_tls(a->srv, why, sizeof why);
    int rc = sr_server_reload_auth(a->srv, why, sizeof why);
    if (rc >= 0) APP_LOG(&a->log, APP_LOG_INFO, "auth keys reloaded", APP_LOG_NUM("keys", rc));
    else if (rc != SR_ESTATE)
        APP_LOG(&a->log, APP_LOG_ERROR, "auth keys not reloaded", APP_LOG_STR("error", why));
    if (tls == SR_ESTATE && rc == SR_ESTATE)
        APP_LOG0(&a->log, APP_LOG_INFO, "SIGHUP ignored: neither TLS nor auth-jwks is on");
}

static void on_signal(uv_signal_t *h, int signum) {
    app *a = h->data;
    APP_LOG(&a->log, APP_LOG_INFO, "shutting down",
            APP_LOG_STR("signal", signum == SIGINT ? "SIGINT" : "SIGTERM"));
    sr_server_shutdown(a->srv, on_shutdown_done, a);
}

static void print_unknown_env(const char *var, const char *closest, void *ud) {
    fprintf((FILE *)ud,
            "sserooms: %s: unknown variable, no setting has this name (did you mean %s?)\n", var,
            closest);
}

static void log_unknown_env(const char *var, const char *closest, void *ud) {
    APP_LOG((const app_logger *)ud, APP_LOG_WARN, "unknown environment variable ignored",
            APP_LOG_STR("variable", var), APP_LOG_STR("did_you_mean", closest));
}

static int is_loopback(const char *host) {
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/* Debug lines: every setting that is not a default, and where it came from. */
static void log_setting(const app_logger *lg, app_opt_id id, const char *shown, app_source src,
                        const char *where) {
    APP_LOG(lg, APP_LOG_DEBUG, "setting", APP_LOG_STR("key", app_opt_defs[id].name),
            APP_LOG_STR("value", shown), APP_LOG_STR("source", app_source_name(src)),
            APP_LOG_STR("origin", where));
}

static void log_settings(const app_logger *lg, const app_settings *s) {
    char shown[1024];
    for (int i = 0; i < APP_OPT_COUNT; i++) {
        const app_value *v = &s->v[i];
        if (v->source == APP_SRC_DEFAULT) continue;
        if (app_opt_defs[i].kind == APP_KIND_LIST && v->n_items) {
            for (size_t k = 0; k < v->n_items; k++)
                log_setting(lg, (app_opt_id)i, v->items[k].text, v->source, v->items[k].where);
        } else {
            app_settings_show(s, (app_opt_id)i, 0, shown, sizeof shown);
            log_setting(lg, (app_opt_id)i, shown, v->source, v->where);
        }
    }
}

static void log_fields_sink(void *ud, int level, uint64_t conn_id, const char *msg,
                            const sr_log_field *fields, size_t n_fields) {
    app_log_sink_fields(ud, level, conn_id, msg, fields, n_fields);
}

static int run_server(const app_settings *s, const app_server_config *c, const char *path) {
    app a;
    memset(&a, 0, sizeof a);
    a.log = (app_logger){.fd = 2,
                         .format = (app_log_format)c->log_format,
                         .min_level = (app_log_level)c->log_level};
    char why[1024];
    int rc = create_server(s, c, &a.srv, why, sizeof why);
    if (rc == 2) {
        /* refused settings are reported like the other configuration errors */
        fprintf(stderr, "%s\n", why);
        return rc;
    }
    if (rc) {
        APP_LOG(&a.log, APP_LOG_ERROR, "cannot start", APP_LOG_STR("error", why));
        return rc;
    }
    char masked[512] = "";
    if (c->redis_url) app_mask_url(c->redis_url, masked, sizeof masked);
    app_log_field start[6];
    size_t n_start = 0;
    start[n_start++] = APP_LOG_STR("version", sr_version());
    start[n_start++] = APP_LOG_NUM("pid", getpid());
    start[n_start++] = APP_LOG_STR("adapter", c->redis_url ? "redis" : "memory");
    start[n_start++] = APP_LOG_STR("auth", c->server.auth_alg ? c->server.auth_alg : "anonymous");
    if (c->redis_url) start[n_start++] = APP_LOG_STR("redis", masked);
    if (path) start[n_start++] = APP_LOG_STR("config", path);
    app_log_write(&a.log, APP_LOG_INFO, 0, "starting", start, n_start);
    app_env_unknown(log_unknown_env, &a.log);
    log_settings(&a.log, s);

    /* the library's own events (requests refused, slow consumers, Redis
     * state), with their connection and request ids, in the same format */
    sr_server_on_log_fields(a.srv, log_fields_sink, &a.log, (int)a.log.min_level);
    const char *host = c->server.host;
    rc = sr_server_listen(a.srv);
    if (rc < 0) {
        const char *why_listen = sr_server_listen_error(a.srv);
        APP_LOG(&a.log, APP_LOG_ERROR, "cannot listen", APP_LOG_STR("host", host),
                APP_LOG_NUM("port", c->server.port),
                APP_LOG_STR("error", why_listen[0] ? why_listen : sr_strerror(rc)));
        sr_server_shutdown(a.srv, NULL, NULL);
        sr_server_run(a.srv);
        sr_server_free(a.srv);
        return 1;
    }
    uv_loop_t *loop = sr_server_loop(a.srv);
    uv_signal_init(loop, &a.sigint);
    uv_signal_init(loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &a.sighup);
    a.sighup.data = &a;
    uv_signal_start(&a.sighup, on_sighup, SIGHUP);

    int port = sr_server_port(a.srv);
    int v6 = strchr(host, ':') != NULL;
    char url[128];
    const char *tls_path = sr_server_tls_path(a.srv);
    int tls = strcmp(tls_path, "none") != 0;
    snprintf(url, sizeof url, "%s://%s%s%s:%d", tls ? "https" : "http", v6 ? "[" : "", host,
             v6 ? "]" : "", port);
    printf("sserooms %s listening on %s\n", sr_version(), url);
    fflush(stdout);
    APP_LOG(&a.log, APP_LOG_INFO, "listening", APP_LOG_STR("url", url), APP_LOG_STR("host", host),
            APP_LOG_NUM("port", port));
    if (tls)
        APP_LOG(&a.log, APP_LOG_INFO, "TLS on", APP_LOG_STR("path", tls_path),
                APP_LOG_STR("kernel_tls",
                            sr_server_tls_kernel_offered(a.srv)
                                ? "offered by the kernel, not used (OpenSSL works on memory)"
                                : "unavailable (the kernel has no tls module)"),
                APP_LOG_STR("cert", c->server.tls_cert_file));
    if (!is_loopback(host) && !c->server.publish_key && !c->server.auth_alg)
        APP_LOG(&a.log, APP_LOG_WARN,
                "POST /publish is open to anyone who can reach this address: set publish-key",
                APP_LOG_STR("host", host));

    sr_server_run(a.srv);
    sr_server_free(a.srv);
    APP_LOG0(&a.log, APP_LOG_INFO, "stopped");
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    app_cli cli;
    if (app_cli_parse(argc, argv, &cli, stderr) < 0) {
        app_cli_free(&cli);
        return 2;
    }
    if (cli.help || cli.version) {
        if (cli.help) app_cli_usage(stdout);
        else printf("sserooms %s\n", sr_version());
        app_cli_free(&cli);
        return 0;
    }

    const char *path = cli.config_path, *path_origin = "--config";
    if (!path) {
        const char *env = getenv(APP_ENV_CONFIG);
        if (env && *env) {
            path = env;
            path_origin = APP_ENV_CONFIG;
        }
    }
    app_settings s;
    app_settings_init(&s);
    app_server_config conf = {0};
    int rc = 2;
    if (path && app_config_file_load(&s, path, stderr) < 0) goto out;
    if (app_settings_apply_env(&s, stderr) < 0) goto out;
    if (cli.check_config && app_env_unknown(print_unknown_env, stderr) > 0) goto out;
    if (app_cli_apply_flags(&cli, &s, stderr) < 0) goto out;
    char auth_err[768];
    if (app_settings_check_auth(&s, auth_err, sizeof auth_err) < 0) {
        fprintf(stderr, "sserooms: %s\n", auth_err);
        goto out;
    }
    if (app_server_config_build(&s, &conf) < 0) {
        fprintf(stderr, "sserooms: out of memory\n");
        rc = 1;
        goto out;
    }
    rc = cli.check_config ? check_config(&s, &conf, path, path_origin)
                          : run_server(&s, &conf, path);
out:
    app_server_config_free(&conf);
    app_settings_free(&s);
    app_cli_free(&cli);
    return rc;
}
