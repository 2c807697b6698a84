/* SPDX-License-Identifier: MIT */
/*
 * srt_faults.c: memory readings, nested /stats counters and
 * the frame-checking stream set of the fault tests (see srt_faults.h).
 *
 * The stream set reads with non-blocking sockets and one poll() over all of
 * them, so a test can interleave reading hundreds of streams with whatever
 * hostile traffic it drives from the same thread. Frames are found by the
 * blank line that ends them (a scan offset makes that linear however the
 * bytes arrive) and compared byte for byte with the frame the pacer's
 * message for that seq must produce.
 */
#include "srt_faults.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
#define OPEN_BATCH 128
#define HEAD_MAX 4096

/* ---- memory and counters --------------------------------------------------- */

srt_mem srt_faults_mem(const srt_proc *p) {
    srt_mem m = {0, 0};
    if (srt_proc_mem(p, &m.rss_kb, &m.hwm_kb) != 0 || m.rss_kb <= 0)
        fail_msg("cannot read the memory of server pid %d", (int)p->pid);
    return m;
}

srt_mem srt_faults_check_mem(const srt_proc *p, const char *label, long bound_kb) {
    srt_mem m = srt_faults_mem(p);
    printf("  %s: server RSS %ld kB, peak %ld kB (bound %ld kB)\n", label, m.rss_kb, m.hwm_kb,
           bound_kb);
    fflush(stdout);
    if (m.hwm_kb > bound_kb)
        fail_msg("%s: server peak RSS %ld kB is over the bound of %ld kB", label, m.hwm_kb,
                 bound_kb);
    return m;
}

long long srt_faults_stat(int port, const char *group, const char *key) {
    srt_response r;
    int rc = srt_http_get(port, "/stats", &r);
    if (rc != 0) {
        srt_response_free(&r);
        fail_msg("GET /stats on port %d failed: %s", port, strerror(-rc));
    }
    srt_check_status(&r, 200);
    const char *obj = r.body;
    char *inner = NULL;
    if (group) {
        const char *v;
        size_t vlen;
        if (srt_json_member(r.body, r.body_len, group, &v, &vlen)) {
            inner = strndup(v, vlen);
            if (!inner) abort();
            obj = inner;
        } else {
            obj = NULL;
        }
    }
    long long val = 0;
    bool ok = obj && srt_json_int(obj, key, &val);
    if (!ok) srt_dump_bytes("  /stats", r.body, r.body_len);
    free(inner);
    srt_response_free(&r);
    if (!ok) fail_msg("/stats has no integer %s%s%s", group ? group : "", group ? "." : "", key);
    return val;
}

void srt_faults_wait_stat(int port, const char *key, long long want, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    long long v;
    while ((v = srt_check_stat(port, key)) != want) {
        if (srt_now_ms() >= deadline)
            fail_msg("/stats %s is %lld, not %lld, after %d ms", key, v, want, timeout_ms);
        srt_sleep_ms(10);
    }
}

void srt_faults_reset_fd(int fd) {
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* ---- srt_seqset: opening ------------------------------------------------- */

static int seq_connect(size_t i, int port, const srt_seq_opts *o) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (o->rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof o->rcvbuf);
    if (o->mss > 0) setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &o->mss, sizeof o->mss);
    int per = o->per_src > 0 ? o->per_src : 200;
    int base = o->src_base > 0 ? o->src_base : 1;
    uint32_t host = (uint32_t)(base + (int)(i / (size_t)per));
    if (host != 1) {
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK - 1 + host);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in da = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    da.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&da, sizeof da) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The head of stream k has arrived in full when it holds CRLF CRLF: checks
 * it and moves what follows into s->in. 1 done, 0 not yet, -1 bad. */
static int take_head(srt_seqstream *s, char *head, size_t len, size_t k) {
    char *end = memmem(head, len, "\r\n\r\n", 4);
    if (!end) return len >= HEAD_MAX - 1 ? -1 : 0;
    if (strncmp(head, "HTTP/1.1 200 ", 13) != 0 ||
        !strcasestr(head, "\r\nContent-Type: text/event-stream\r\n")) {
        fprintf(stderr, "srt: seqset: stream %zu: not an SSE response\n", k);
        srt_dump_bytes("  head", head, len);
        return -1;
    }
    size_t used = (size_t)(end + 4 - head);
    srt_buf_append(&s->in, end + 4, len - used);
    return 1;
}

void srt_seqset_open(srt_seqset *set, int port, const char *path, size_t n, size_t pad,
                     const srt_seq_opts *opts, int timeout_ms) {
    static const srt_seq_opts no_opts = {0};
    if (!opts) opts = &no_opts;
    memset(set, 0, sizeof *set);
    set->pad = pad;
    set->s = calloc(n ? n : 1, sizeof *set->s);
    set->pfd = calloc(n ? n : 1, sizeof *set->pfd);
    set->map = calloc(n ? n : 1, sizeof *set->map);
    set->scratch = malloc(READ_CHUNK);
    if (!set->s || !set->pfd || !set->map || !set->scratch) abort();
    srt_raise_nofile((long)n + 512);
    for (size_t i = 0; i < n; i++) {
        set->s[i].fd = -1;
        set->s[i].last_missing = -1;
    }
    set->n = n;

    srt_buf req = {0};
    srt_buf_appendf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);
    int64_t deadline = srt_now_ms() + timeout_ms;
    static char heads[OPEN_BATCH][HEAD_MAX];
    size_t head_len[OPEN_BATCH];
    int state[OPEN_BATCH]; /* 0 connecting, 1 reading the head, 2 done */
    struct pollfd pfd[OPEN_BATCH];
    for (size_t start = 0; start < n; start += OPEN_BATCH) {
        size_t count = n - start < OPEN_BATCH ? n - start : OPEN_BATCH;
        for (size_t k = 0; k < count; k++) {
            int fd = seq_connect(start + k, port, opts);
            if (fd < 0) fail_msg("seqset: connect %zu failed: %s", start + k, strerror(errno));
            set->s[start + k].fd = fd;
            state[k] = 0;
            head_len[k] = 0;
        }
        size_t done = 0;
        while (done < count) {
            for (size_t k = 0; k < count; k++) {
                pfd[k].fd = state[k] == 2 ? -1 : set->s[start + k].fd;
                pfd[k].events = state[k] == 0 ? POLLOUT : POLLIN;
                pfd[k].revents = 0;
            }
            int left = srt_ms_left(deadline);
            if (left == 0 || poll(pfd, count, left) <= 0)
                fail_msg("seqset: %zu of %zu streams open after %d ms", start + done, n,
                         timeout_ms);
            for (size_t k = 0; k < count; k++) {
                if (pfd[k].fd < 0 || !pfd[k].revents) continue;
                srt_seqstream *s = &set->s[start + k];
                if (state[k] == 0) {
                    int soerr = 0;
                    socklen_t sl = sizeof soerr;
                    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                    if (soerr || send(s->fd, req.data, req.len, MSG_NOSIGNAL) != (ssize_t)req.len)
                        fail_msg("seqset: stream %zu: connect/send failed: %s", start + k,
                                 strerror(soerr ? soerr : errno));
                    state[k] = 1;
                    continue;
                }
                ssize_t got = recv(s->fd, heads[k] + head_len[k], HEAD_MAX - 1 - head_len[k], 0);
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (got <= 0)
                    fail_msg("seqset: stream %zu closed before its head (%s)", start + k,
                             got == 0 ? "EOF" : strerror(errno));
                head_len[k] += (size_t)got;
                heads[k][head_len[k]] = '\0';
                int rc = take_head(s, heads[k], head_len[k], start + k);
                if (rc < 0) fail_msg("seqset: stream %zu: bad response head", start + k);
                if (rc == 1) {
                    state[k] = 2;
                    done++;
                }
            }
        }
    }
    srt_buf_free(&req);
}

/* ---- srt_seqset: checking --------------------------------------------------- */

static void seq_bad(srt_seqstream *s, const char *fmt, long long a, long long b) {
    if (s->bad) return;
    s->bad = true;
    snprintf(s->why, sizeof s->why, fmt, a, b);
}

/* Checks the complete blocks in s->in; consumes them. */
static void seq_consume(srt_seqset *set, srt_seqstream *s) {
    size_t off = 0;
    while (!s->bad) {
        size_t from = s->scan > off + 1 ? s->scan - 1 : off;
        char *end = from < s->in.len ? memmem(s->in.data + from, s->in.len - from, "\n\n", 2)
                                     : NULL;
        if (!end) {
            s->scan = s->in.len;
            break;
        }
        const char *block = s->in.data + off;
        size_t blen = (size_t)(end + 2 - block);
        if (blen > 11 && memcmp(block, "event: gap\n", 11) == 0) {
            s->gap_events++; /* the server says messages may have been missed */
            s->told = true;
        } else if (block[0] != ':') { /* a comment (heartbeat) is skipped */
            long long seq = -1;
            if (blen > 4 && memcmp(block, "id: ", 4) == 0) {
                seq = 0;
                for (size_t i = 4; i < blen && i < 20 && block[i] >= '0' && block[i] <= '9'; i++)
                    seq = seq * 10 + (block[i] - '0');
            }
            if (seq < 0) {
                seq_bad(s, "frame %lld is not a pacer frame (after seq %lld)", s->frames,
                        s->next - 1);
                break;
            }
            if (seq != s->next) {
                if (!set->allow_gaps || seq < s->next) {
                    seq_bad(s, "seq %lld arrived where %lld was due", seq, s->next);
                    break;
                }
                s->missing += seq - s->next;
                s->last_missing = seq - 1;
                if (!s->told) s->silent_missing += seq - s->next;
            }
            srt_pace_frame(&set->want, seq, set->pad);
            if (blen != set->want.len || memcmp(block, set->want.data, blen) != 0) {
                srt_dump_bytes("  got (first 120 bytes)", block, blen < 120 ? blen : 120);
                seq_bad(s, "frame of seq %lld differs from the published message (%lld bytes)", seq,
                        (long long)blen);
                break;
            }
            s->next = seq + 1;
            s->frames++;
            s->told = false;
        }
        off += blen;
        s->scan = off;
    }
    if (off > 0) {
        srt_buf_consume(&s->in, off);
        s->scan = s->scan >= off ? s->scan - off : 0;
    }
}

static void seq_read(srt_seqset *set, srt_seqstream *s) {
    ssize_t got = recv(s->fd, set->scratch, READ_CHUNK, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (got <= 0) {
        s->eof = true;
        s->err = got < 0 ? errno : 0;
        return;
    }
    srt_buf_append(&s->in, set->scratch, (size_t)got);
    seq_consume(set, s);
}

int srt_seqset_pump(srt_seqset *set, int timeout_ms) {
    size_t np = 0;
    for (size_t i = 0; i < set->n; i++) {
        srt_seqstream *s = &set->s[i];
        if (s->in.len > s->scan && !s->bad) /* bytes kept from the head */
            seq_consume(set, s);
        if (s->fd >= 0 && !s->eof && !s->bad) {
            set->pfd[np].fd = s->fd;
            set->pfd[np].events = POLLIN;
            set->pfd[np].revents = 0;
            set->map[np++] = i;
        }
    }
    if (np == 0) {
        if (timeout_ms > 0) srt_sleep_ms(timeout_ms);
        return 0;
    }
    int rc = poll(set->pfd, np, timeout_ms);
    if (rc <= 0) return 0;
    int active = 0;
    for (size_t k = 0; k < np; k++) {
        if (!set->pfd[k].revents) continue;
        active++;
        seq_read(set, &set->s[set->map[k]]);
    }
    return active;
}

static bool seq_settled(const srt_seqstream *s, long long last) {
    return s->next > last || s->eof || s->bad || s->fd < 0;
}

size_t srt_seqset_wait(srt_seqset *set, long long last, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    for (;;) {
        size_t settled = 0, got = 0;
        for (size_t i = 0; i < set->n; i++) {
            settled += seq_settled(&set->s[i], last);
            got += set->s[i].next > last;
        }
        int left = srt_ms_left(deadline);
        if (settled == set->n || left == 0) return got;
        srt_seqset_pump(set, left < 50 ? left : 50);
    }
}

size_t srt_seqset_wait_eof(srt_seqset *set, int timeout_ms) {
    int64_t deadline = srt_now_ms() + timeout_ms;
    for (;;) {
        size_t ended = 0, open = 0;
        for (size_t i = 0; i < set->n; i++) {
            ended += set->s[i].eof;
            open += set->s[i].fd >= 0 && !set->s[i].eof;
        }
        int left = srt_ms_left(deadline);
        if (open == 0 || left == 0) return ended;
        /* a stream that went bad still has to be drained to its end */
        for (size_t i = 0; i < set->n; i++) {
            srt_seqstream *s = &set->s[i];
            if (s->bad && s->fd >= 0 && !s->eof) {
                srt_buf_consume(&s->in, s->in.len);
                s->scan = 0;
                seq_read(set, s);
            }
        }
        srt_seqset_pump(set, left < 50 ? left : 50);
    }
}

size_t srt_seqset_failures(const srt_seqset *set) {
    size_t bad = 0;
    for (size_t i = 0; i < set->n; i++) {
        if (!set->s[i].bad) continue;
        if (bad < 5) fprintf(stderr, "  stream %zu: %s\n", i, set->s[i].why);
        bad++;
    }
    return bad;
}

size_t srt_seqset_ended(const srt_seqset *set) {
    size_t n = 0;
    for (size_t i = 0; i < set->n; i++) n += set->s[i].eof;
    return n;
}

void srt_seqset_reset(srt_seqset *set, size_t i) {
    srt_seqstream *s = &set->s[i];
    if (s->fd < 0) return;
    srt_faults_reset_fd(s->fd);
    s->fd = -1;
}

void srt_seqset_close(srt_seqset *set) {
    for (size_t i = 0; i < set->n; i++) {
        if (set->s[i].fd >= 0) close(set->s[i].fd);
        srt_buf_free(&set->s[i].in);
    }
    free(set->s);
    free(set->pfd);
    free(set->map);
    free(set->scratch);
    srt_buf_free(&set->want);
    memset(set, 0, sizeof *set);
}
