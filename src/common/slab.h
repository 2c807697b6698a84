/* SPDX-License-Identifier: MIT */
/*
 * slab.h: a pool of fixed-size blocks carved from aligned 256 KiB slabs.
 *
 * For objects a server holds by the ten thousand (a stream's sr_conn): no
 * malloc header per block, and no fragmentation from short-lived
 * allocations made between them, which are what an idle stream's memory
 * was mostly made of besides the object itself. A slab is aligned to its
 * size, so a block finds its slab by masking its address. Blocks of a
 * slab not handed out yet are taken in address order (pages are touched
 * only as they are needed); freed ones go on their slab's free list. A
 * slab whose blocks are all free again is returned to the system, except
 * one kept for the next allocation, so an open/close cycle at the edge of
 * a slab does not allocate and free it each time.
 *
 * Pure code, not thread-safe: each pool belongs to one loop. Under
 * AddressSanitizer, free blocks are poisoned: a use after sr_slab_free is
 * reported as it would be after free().
 */
#ifndef SR_COMMON_SLAB_H
#define SR_COMMON_SLAB_H

#include <stddef.h>
#include <stdint.h>

/* A slab is one aligned allocation: big enough that the page the system
 * allocator touches in front of it (its own header) is a small share. */
#define SR_SLAB_BYTES (256u * 1024u)

struct sr_slab;

typedef struct sr_slab_pool {
    size_t block;            /* bytes of a block (a multiple of 8, its alignment) */
    uint32_t per_slab;       /* blocks in one slab */
    struct sr_slab *partial; /* slabs with a free block and one in use */
    struct sr_slab *full;    /* slabs with every block in use */
    struct sr_slab *spare;   /* one slab with no block in use, kept */
    size_t slabs;            /* slabs allocated now (spare included) */
    size_t live;             /* blocks in use */
} sr_slab_pool;

/* A pool of blocks of at least `size` bytes (at most what fits a slab
 * with its header). */
void sr_slab_init(sr_slab_pool *p, size_t size);
/* A zeroed block, or NULL when out of memory. */
void *sr_slab_alloc(sr_slab_pool *p);
/* Gives back a block of p (NULL: nothing). */
void sr_slab_free(sr_slab_pool *p, void *block);
/* Frees every slab; blocks still in use are lost with them. Returns how
 * many were still in use (0 when every block was given back). */
size_t sr_slab_destroy(sr_slab_pool *p);
/* Bytes the pool holds from the system (slabs x SR_SLAB_BYTES). */
size_t sr_slab_bytes(const sr_slab_pool *p);

#endif
