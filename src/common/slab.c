/* SPDX-License-Identifier: MIT */
/*
 * slab.c: fixed-size blocks from aligned slabs (see slab.h).
 *
 * A slab is SR_SLAB_BYTES aligned to SR_SLAB_BYTES: its header, then
 * per_slab blocks. `fresh` counts the blocks handed out at least once
 * (those after it were never touched); `free` chains the blocks given
 * back, through their first word. A slab is on the pool's partial list
 * while it has a free or fresh block and some in use; with none in use it
 * is the pool's spare (one at most) or is freed; with every block in use
 * it is on the full list, so that the pool can always free all its slabs.
 */
#include "common/slab.h"

#include <stdlib.h>
#include <string.h>

#include "common/assert.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SLAB_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define SLAB_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define SLAB_POISON(p, n) ((void)(p), (void)(n))
#define SLAB_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

typedef struct sr_slab {
    sr_slab_pool *pool;
    struct sr_slab *prev, *next; /* the partial or the full list */
    void *free;                  /* blocks given back */
    uint32_t used;               /* blocks in use */
    uint32_t fresh;              /* blocks handed out at least once */
    uint8_t list;                /* LIST_* */
} sr_slab;

enum { LIST_NONE = 0, LIST_PARTIAL = 1, LIST_FULL = 2 };

/* the first block starts a cache line after the header */
#define SLAB_HEAD ((sizeof(sr_slab) + 63u) & ~(size_t)63u)

static char *block_at(sr_slab *s, uint32_t i) {
    return (char *)s + SLAB_HEAD + (size_t)i * s->pool->block;
}

static sr_slab *slab_of(const void *block) {
    return (sr_slab *)((uintptr_t)block & ~(uintptr_t)(SR_SLAB_BYTES - 1));
}

void sr_slab_init(sr_slab_pool *p, size_t size) {
    memset(p, 0, sizeof(*p));
    if (size < sizeof(void *)) size = sizeof(void *);
    p->block = (size + 7u) & ~(size_t)7u;
    SR_ASSERT(p->block <= SR_SLAB_BYTES - SLAB_HEAD);
    p->per_slab = (uint32_t)((SR_SLAB_BYTES - SLAB_HEAD) / p->block);
}

static sr_slab **list_head(sr_slab_pool *p, int list) {
    return list == LIST_PARTIAL ? &p->partial : &p->full;
}

static void list_add(sr_slab_pool *p, sr_slab *s, int list) {
    sr_slab **head = list_head(p, list);
    s->prev = NULL;
    s->next = *head;
    if (s->next) s->next->prev = s;
    *head = s;
    s->list = (uint8_t)list;
}

static void list_remove(sr_slab_pool *p, sr_slab *s) {
    if (s->list == LIST_NONE) return;
    if (s->prev) s->prev->next = s->next;
    else *list_head(p, s->list) = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->list = LIST_NONE;
}

static sr_slab *slab_new(sr_slab_pool *p) {
    sr_slab *s = aligned_alloc(SR_SLAB_BYTES, SR_SLAB_BYTES);
    if (!s) return NULL;
    memset(s, 0, sizeof(*s));
    s->pool = p;
    SLAB_POISON((char *)s + SLAB_HEAD, SR_SLAB_BYTES - SLAB_HEAD);
    p->slabs++;
    return s;
}

static void slab_release(sr_slab_pool *p, sr_slab *s) {
    SLAB_UNPOISON((char *)s + SLAB_HEAD, SR_SLAB_BYTES - SLAB_HEAD);
    p->slabs--;
    free(s);
}

void *sr_slab_alloc(sr_slab_pool *p) {
    sr_slab *s = p->partial;
    if (!s) {
        if (p->spare) {
            s = p->spare;
            p->spare = NULL;
        } else if (!(s = slab_new(p))) {
            return NULL;
        }
        list_add(p, s, LIST_PARTIAL);
    }
    char *b;
    if (s->free) {
        b = s->free;
        SLAB_UNPOISON(b, p->block);
        memcpy(&s->free, b, sizeof(void *));
    } else {
        SR_ASSERT(s->fresh < p->per_slab);
        b = block_at(s, s->fresh++);
        SLAB_UNPOISON(b, p->block);
    }
    s->used++;
    p->live++;
    if (!s->free && s->fresh == p->per_slab) { /* full */
        list_remove(p, s);
        list_add(p, s, LIST_FULL);
    }
    memset(b, 0, p->block);
    return b;
}

void sr_slab_free(sr_slab_pool *p, void *block) {
    if (!block) return;
    sr_slab *s = slab_of(block);
    SR_ASSERT(s->pool == p && s->used > 0);
    memcpy(block, &s->free, sizeof(void *));
    s->free = block;
    SLAB_POISON(block, p->block);
    s->used--;
    p->live--;
    if (s->used > 0) {
        if (s->list == LIST_FULL) { /* it has a free block now */
            list_remove(p, s);
            list_add(p, s, LIST_PARTIAL);
        }
        return;
    }
    /* none in use: the spare, or back to the system */
    list_remove(p, s);
    if (!p->spare) {
        /* its blocks start over as fresh ones, in address order */
        s->free = NULL;
        s->fresh = 0;
        p->spare = s;
    } else {
        slab_release(p, s);
    }
}

size_t sr_slab_destroy(sr_slab_pool *p) {
    size_t live = p->live;
    while (p->partial || p->full) {
        sr_slab *s = p->partial ? p->partial : p->full;
        list_remove(p, s);
        slab_release(p, s);
    }
    if (p->spare) slab_release(p, p->spare);
    p->spare = NULL;
    p->live = 0;
    return live;
}

size_t sr_slab_bytes(const sr_slab_pool *p) {
    return p->slabs * (size_t)SR_SLAB_BYTES;
}
