/*
 * static.c: the files of cfg.web_root (the demo page). GET / answers
 * index.html and GET /NAME the file NAME directly in the folder: names are
 * letters, digits, '.', '-' and '_', never starting with '.', so no path
 * can leave the folder. Files are read whole on each request (they are a
 * few kilobytes; this is a demo server, not a CDN).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/internal.h"

#define SR_STATIC_MAX (4u << 20)

static const char *content_type(const char *name) {
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},  {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json"},          {".svg", "image/svg+xml"},
        {".png", "image/png"},                  {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

static int safe_name(const char *name) {
    if (!*name || *name == '.') return 0;
    for (const char *p = name; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '-' || ch == '_'))
            return 0;
    }
    return strlen(name) < 128;
}

int sr_static_serve(sr_conn *c) {
    const char *path = c->http->req.path;
    if (path[0] != '/') return 0;
    const char *name = path[1] ? path + 1 : "index.html";
    if (!safe_name(name)) return 0;
    char file[4096];
    if ((size_t)snprintf(file, sizeof(file), "%s/%s", c->srv->cfg.web_root, name) >= sizeof(file)) return 0;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > SR_STATIC_MAX) {
        close(fd);
        return 0;
    }
    size_t size = (size_t)st.st_size;
    char *body = malloc(size ? size : 1);
    size_t got = 0;
    while (body && got < size) {
        ssize_t n = read(fd, body + got, size - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (!body || got != size) {
        free(body);
        sr_routes_error(c, 503, "could not read the file", false);
        return 1;
    }
    sr_routes_body(c, 200, content_type(name), body, size,
                   "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n");
    free(body);
    return 1;
}
