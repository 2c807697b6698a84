/* SPDX-License-Identifier: MIT */
/*
 * sseparse.c: the streaming response + event-stream parser of sseparse.h.
 *
 * Three layers, each a small state machine fed a byte range: the head
 * (line by line through the line buffer), the transfer coding (identity to
 * close, Content-Length, or chunked), and the event stream. The event-stream
 * layer finds each line end in one pass (scan.h: CR or LF at once) and hands
 * complete lines straight from the caller's buffer; only a line split across
 * reads is copied. An event's first data line, when complete in the
 * caller's buffer, is not copied either: the parser keeps a reference to it
 * (data_ref) and, when the event is dispatched in the same piece (the usual
 * case: one event per read, chunk or DATA frame), hands it to on_event as it
 * is. A second data line, the end of the piece, or a value too long for the
 * data buffer copies it into the data buffer first, so what on_event sees is
 * the same either way.
 */
#include "sseparse.h"

#include "scan.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    ST_HEAD,
    ST_BODY_CLOSE, /* identity body until the connection closes */
    ST_BODY_LEN,   /* Content-Length body */
    ST_CHUNK_SIZE,
    ST_CHUNK_EXT,
    ST_CHUNK_DATA,
    ST_CHUNK_END,
    ST_TRAILER,
    ST_ERROR,
    ST_STOPPED
};

int ssep_init(ssep *p, ssep_mode mode, const ssep_callbacks *cb, void *ud, uint32_t line_cap,
              uint32_t data_cap) {
    memset(p, 0, sizeof(*p));
    p->mode = mode;
    p->cb = cb;
    p->ud = ud;
    p->line_cap = line_cap < 64 ? 64 : line_cap;
    p->data_cap = data_cap < 16 ? 16 : data_cap;
    p->line = malloc(p->line_cap);
    p->data = malloc(p->data_cap);
    if (!p->line || !p->data) {
        ssep_free(p);
        return -1;
    }
    ssep_reset(p);
    return 0;
}

void ssep_free(ssep *p) {
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
}

static void reset_head(ssep *p) {
    p->state = ST_HEAD;
    p->chunked = 0;
    p->saw_status = 0;
    p->status = 0;
    p->content_length = -1;
    p->remaining = 0;
    p->chunk_flag = 0;
    p->line_len = 0;
}

void ssep_reset(ssep *p) {
    reset_head(p);
    p->sse_cr = 0;
    p->bom_seen = 0;
    p->data_any = 0;
    p->data_len = 0;
    p->data_ref = NULL;
    p->data_ref_len = 0;
    p->type_len = 0;
    p->last_id_len = 0;
    p->retry = 0;
}

int ssep_in_body(const ssep *p) {
    return p->state != ST_HEAD && p->state != ST_ERROR && p->state != ST_STOPPED;
}

void ssep_stop(ssep *p) {
    p->state = ST_STOPPED;
}

/* --- event stream ------------------------------------------------------ */

static void dispatch(ssep *p) {
    if (p->data_any) {
        const char *d = p->data;
        size_t n = p->data_len;
        if (p->data_ref) { /* the only data line, still in the caller's buffer */
            d = p->data_ref;
            n = p->data_ref_len;
        } else if (n && d[n - 1] == '\n') {
            n--;
        }
        if (p->cb->on_event) {
            if (p->type_len) p->cb->on_event(p->ud, p->type, p->type_len, d, n);
            else p->cb->on_event(p->ud, "message", 7, d, n);
        }
    }
    p->data_any = 0;
    p->data_len = 0;
    p->data_ref = NULL;
    p->type_len = 0;
}

static void data_append(ssep *p, const char *s, size_t n) {
    size_t room = p->data_cap - p->data_len;
    if (n > room) {
        n = room;
        p->truncated++;
    }
    memcpy(p->data + p->data_len, s, n);
    p->data_len += (uint32_t)n;
}

/* The referenced data line moves into the data buffer (it fits: see
 * data_line), before the caller's buffer goes or another line joins it. */
static void data_own(ssep *p) {
    data_append(p, p->data_ref, p->data_ref_len);
    data_append(p, "\n", 1);
    p->data_ref = NULL;
}

/* in_place: the line lies in the caller's buffer (not the line buffer) */
static void data_line(ssep *p, const char *val, size_t vlen, int in_place) {
    if (p->data_ref) data_own(p);
    if (in_place && !p->data_any && vlen < p->data_cap) {
        p->data_ref = val;
        p->data_ref_len = (uint32_t)vlen;
    } else {
        data_append(p, val, vlen);
        data_append(p, "\n", 1);
    }
    p->data_any = 1;
}

/* The length of a line's field name. The fields every event of a server
 * carries are recognised where their colon must be; other lines search for
 * the colon (none: the whole line is the name). */
static size_t field_name_len(const char *line, size_t n) {
    if (n >= 5 && memcmp(line, "data:", 5) == 0) return 4;
    if (n >= 3 && memcmp(line, "id:", 3) == 0) return 2;
    if (n >= 6 && memcmp(line, "event:", 6) == 0) return 5;
    const char *colon = memchr(line, ':', n);
    return colon ? (size_t)(colon - line) : n;
}

static void process_line(ssep *p, const char *line, size_t n, int in_place) {
    if (n == 0) {
        dispatch(p);
        return;
    }
    if (line[0] == ':') {
        if (p->cb->on_comment) p->cb->on_comment(p->ud, line + 1, n - 1);
        return;
    }
    size_t flen = field_name_len(line, n);
    const char *val = flen < n ? line + flen + 1 : line + n;
    size_t vlen = (size_t)(line + n - val);
    if (vlen && *val == ' ') {
        val++;
        vlen--;
    }
    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        data_line(p, val, vlen, in_place);
    } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
        if (vlen > sizeof(p->type)) {
            vlen = sizeof(p->type);
            p->truncated++;
        }
        memcpy(p->type, val, vlen);
        p->type_len = (uint32_t)vlen;
    } else if (flen == 2 && memcmp(line, "id", 2) == 0) {
        for (size_t i = 0; i < vlen; i++)
            if (val[i] == '\0') return; /* ignored per the spec; ids are short */
        if (vlen > sizeof(p->last_id)) {
            vlen = sizeof(p->last_id);
            p->truncated++;
        }
        memcpy(p->last_id, val, vlen);
        p->last_id_len = (uint32_t)vlen;
    } else if (flen == 5 && memcmp(line, "retry", 5) == 0) {
        if (!vlen) return;
        uint64_t r = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (val[i] < '0' || val[i] > '9') return;
            r = r * 10 + (uint64_t)(val[i] - '0');
            if (r > UINT32_MAX) r = UINT32_MAX;
        }
        p->retry = (uint32_t)r;
    }
}

static void line_append(ssep *p, const char *s, size_t n) {
    size_t room = p->line_cap - p->line_len;
    if (n > room) {
        if (room) p->truncated++; /* count the cut once */
        n = room;
    }
    memcpy(p->line + p->line_len, s, n);
    p->line_len += (uint32_t)n;
}

static void sse_feed(ssep *p, const char *buf, size_t len) {
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    const char *end = buf + len;
    while (len) {
        if (p->bom_seen < 3) {
            if ((unsigned char)*buf == bom[p->bom_seen]) {
                p->bom_seen++;
                buf++;
                len--;
                continue;
            }
            /* not a BOM after all: the bytes matched so far are content */
            uint8_t matched = p->bom_seen;
            p->bom_seen = 3;
            if (matched) line_append(p, (const char *)bom, matched);
        }
        if (p->sse_cr) {
            p->sse_cr = 0;
            if (*buf == '\n') {
                buf++;
                len--;
                continue;
            }
        }
        const char *eol = scan_either(buf, end, '\n', '\r');
        if (!eol) {
            line_append(p, buf, len);
            break;
        }
        size_t n = (size_t)(eol - buf);
        if (p->line_len) {
            line_append(p, buf, n);
            process_line(p, p->line, p->line_len, 0);
            p->line_len = 0;
        } else {
            process_line(p, buf, n, 1);
        }
        if (p->state == ST_STOPPED) break;
        size_t skip = n + 1;
        if (*eol == '\r') {
            if (skip < len) {
                if (buf[skip] == '\n') skip++;
            } else {
                p->sse_cr = 1;
            }
        }
        buf += skip;
        len -= skip;
    }
    if (p->data_ref) data_own(p); /* the event goes on in the next piece */
}

/* --- head and transfer coding ----------------------------------------- */

static int head_line(ssep *p, const char *line, size_t n) {
    if (!p->saw_status) {
        if (n == 0) return 0; /* stray CRLF before the status line */
        if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ') return -1;
        int st = 0;
        for (int i = 9; i < 12; i++) {
            if (line[i] < '0' || line[i] > '9') return -1;
            st = st * 10 + (line[i] - '0');
        }
        p->status = st;
        p->saw_status = 1;
        return 0;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon) return -1;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
        for (const char *q = v; q + 7 <= end; q++)
            if (strncasecmp(q, "chunked", 7) == 0) p->chunked = 1;
    } else if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
        int64_t cl = 0;
        if (v == end) return -1;
        for (; v < end && *v != ' ' && *v != '\t'; v++) {
            if (*v < '0' || *v > '9' || cl > (INT64_MAX - 9) / 10) return -1;
            cl = cl * 10 + (*v - '0');
        }
        p->content_length = cl;
    }
    return 0;
}

static void response_end(ssep *p) {
    if (p->cb->on_response_end) p->cb->on_response_end(p->ud);
    if (p->state != ST_STOPPED) reset_head(p);
}

static void head_done(ssep *p) {
    p->line_len = 0;
    if (p->chunked) {
        p->state = ST_CHUNK_SIZE;
        p->remaining = 0;
        p->chunk_flag = 0;
    } else if (p->content_length >= 0) {
        p->state = ST_BODY_LEN;
        p->remaining = (uint64_t)p->content_length;
    } else if (p->status == 204 || p->status == 304 || (p->status >= 100 && p->status < 200)) {
        p->state = ST_BODY_LEN;
        p->remaining = 0;
    } else {
        p->state = ST_BODY_CLOSE;
    }
    int st = p->status;
    if (p->cb->on_head) p->cb->on_head(p->ud, st);
    if (p->state == ST_STOPPED) return;
    if (p->state == ST_BODY_LEN && p->remaining == 0) response_end(p);
}

static void body(ssep *p, const char *buf, size_t n) {
    if (p->mode == SSEP_SSE && n) sse_feed(p, buf, n);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int ssep_feed(ssep *p, const char *buf, size_t len) {
    while (len) {
        switch (p->state) {
        case ST_HEAD: {
            const char *lf = memchr(buf, '\n', len);
            size_t n = lf ? (size_t)(lf - buf) : len;
            if (p->line_len + n > p->line_cap) {
                p->state = ST_ERROR; /* a head line longer than the buffer */
                return -1;
            }
            memcpy(p->line + p->line_len, buf, n);
            p->line_len += (uint32_t)n;
            if (!lf) return 0;
            buf += n + 1;
            len -= n + 1;
            size_t ll = p->line_len;
            if (ll && p->line[ll - 1] == '\r') ll--;
            p->line_len = 0;
            if (ll == 0 && p->saw_status) {
                head_done(p);
            } else if (head_line(p, p->line, ll) < 0) {
                p->state = ST_ERROR;
                return -1;
            }
            break;
        }
        case ST_BODY_CLOSE: body(p, buf, len); return p->state == ST_STOPPED ? 1 : 0;
        case ST_BODY_LEN: {
            size_t n = len < p->remaining ? len : (size_t)p->remaining;
            body(p, buf, n);
            buf += n;
            len -= n;
            p->remaining -= n;
            if (p->state == ST_STOPPED) return 1;
            if (p->remaining == 0) response_end(p);
            break;
        }
        case ST_CHUNK_SIZE: {
            char c = *buf++;
            len--;
            int h = hexval(c);
            if (h >= 0) {
                if (p->remaining >> 56) {
                    p->state = ST_ERROR;
                    return -1;
                }
                p->remaining = p->remaining * 16 + (uint64_t)h;
                p->chunk_flag = 1; /* a digit was seen */
            } else if (c == '\n') {
                if (!p->chunk_flag) {
                    p->state = ST_ERROR;
                    return -1;
                }
                p->chunk_flag = 0;
                p->state = p->remaining ? ST_CHUNK_DATA : ST_TRAILER;
            } else if (c == ';' || c == ' ' || c == '\t') {
                p->state = ST_CHUNK_EXT;
            } else if (c != '\r') {
                p->state = ST_ERROR;
                return -1;
            }
            break;
        }
        case ST_CHUNK_EXT: {
            const char *lf = memchr(buf, '\n', len);
            if (!lf) return 0;
            len -= (size_t)(lf - buf) + 1;
            buf = lf + 1;
            if (!p->chunk_flag) {
                p->state = ST_ERROR;
                return -1;
            }
            p->chunk_flag = 0;
            p->state = p->remaining ? ST_CHUNK_DATA : ST_TRAILER;
            break;
        }
        case ST_CHUNK_DATA: {
            size_t n = len < p->remaining ? len : (size_t)p->remaining;
            body(p, buf, n);
            buf += n;
            len -= n;
            p->remaining -= n;
            if (p->state == ST_STOPPED) return 1;
            if (p->remaining == 0) p->state = ST_CHUNK_END;
            break;
        }
        case ST_CHUNK_END: {
            char c = *buf++;
            len--;
            if (c == '\n') p->state = ST_CHUNK_SIZE;
            else if (c != '\r') {
                p->state = ST_ERROR;
                return -1;
            }
            break;
        }
        case ST_TRAILER: {
            /* chunk_flag: the current trailer line has content */
            char c = *buf++;
            len--;
            if (c == '\n') {
                if (!p->chunk_flag) response_end(p);
                else p->chunk_flag = 0;
            } else if (c != '\r') {
                p->chunk_flag = 1;
            }
            break;
        }
        case ST_STOPPED: return 1;
        default: return -1;
        }
    }
    return p->state == ST_STOPPED ? 1 : 0;
}
