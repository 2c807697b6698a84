/* SPDX-License-Identifier: MIT */
/*
 * static.c: the files of cfg.web_root (the demo page). GET / answers
 * index.html and GET /NAME the file NAME directly in the folder: names are
 * letters, digits, '.', '-' and '_', never starting with '.', so no path
 * can leave the folder by name. Nor by link (issue #18, finding 4): the
 * file is opened relative to the folder with openat2 and
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it, else
 * (ENOSYS) with openat and O_NOFOLLOW, which covers the one component a
 * name has; a symbolic link in the folder is a 404, whatever it points at.
 * O_NONBLOCK makes opening a FIFO (or a device) return at once instead of
 * stopping the loop until a writer comes, and only a regular file is
 * served. The folder itself may be a link: the operator chose it. Files
 * are read whole on each request (they are a few kilobytes; this is a demo
 * server, not a CDN).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
#endif

#include "server/internal.h"

#define SR_STATIC_MAX (4u << 20)

static const char *content_type(const char *name) {
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
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
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == '_'))
            return 0;
    }
    return strlen(name) < 128;
}

/* openat2 beneath dirfd without any symlink; -1 with errno ENOSYS when the
 * kernel (or these headers) have no openat2. */
static int open_beneath(int dirfd, const char *name, int flags) {
#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
    struct open_how how = {
        .flags = (uint64_t)flags,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
    };
    return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
#else
    (void)dirfd, (void)name, (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

int sr_static_open(const char *root, const char *name, int no_openat2, struct stat *st) {
    int dirfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return -1;
    const int flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    int fd = no_openat2 ? -1 : open_beneath(dirfd, name, flags);
    if (no_openat2 || (fd < 0 && errno == ENOSYS)) fd = openat(dirfd, name, flags | O_NOFOLLOW);
    int saved = errno;
    close(dirfd);
    if (fd < 0) {
        errno = saved;
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        errno = EACCES;
        return -1;
    }
    return fd;
}

int sr_static_serve(sr_conn *c) {
    const char *path = c->http->req.path;
    if (path[0] != '/') return 0;
    const char *name = path[1] ? path + 1 : "index.html";
    if (!safe_name(name)) return 0;
    struct stat st;
    int fd = sr_static_open(c->srv->cfg.web_root, name, 0, &st);
    if (fd < 0) return 0;
    if (st.st_size > SR_STATIC_MAX) {
        close(fd);
        return 0;
    }
    size_t size = (size_t)st.st_size;
    char *body = malloc(size ? size : 1);
    size_t got = 0;
    while (body && got < size) {
        ssize_t n = read(fd, body + got, size - got);
        if (n < 0 && errno == EINTR) continue;
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
