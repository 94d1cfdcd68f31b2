/* kv_pool.h — the KV cache as a pool of fixed-size pages, and the sequences that hold them.
 *
 * The plan sizes the pool once: n_parallel × ceil(n_ctx / SNUG_KV_PAGE_TOKENS) pages, each page holding
 * SNUG_KV_PAGE_TOKENS positions of keys and of values for every layer, in the backend's memory; this file keeps the
 * books (free pages, references, page tables) and asks the backend to copy a page when one must be copied. A sequence
 * owns a page table (page ids by position / SNUG_KV_PAGE_TOKENS); attention reads through it (cpu/attention.h). Pages
 * are counted by reference, so a forked sequence shares its source's pages (a common system prompt is computed once): a
 * shared page that is only partly filled is copied the first time either sequence writes past its fill ("copy on
 * write"), a full one is never written again and stays shared. Nothing here allocates: every array comes from the
 * context's arena.
 *
 * Invariants: a page is free exactly when its reference count is 0, and then its id is on the free stack once;
 * n_free + the pages referenced = n_pages; a sequence of n_tokens positions holds at least ceil(n_tokens / P) pages
 * (more only between a reservation and the batch that fills them).
 */
#ifndef SNUG_ENGINE_KV_POOL_H
#define SNUG_ENGINE_KV_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h" /* SNUG_KV_PAGE_TOKENS */

/* Copies positions 0 … rows − 1 of page `from` into page `to` (the backend's memory: snug_backend_ops.copy_kv). */
typedef void (*snug_kv_copy_fn)(void *context, int32_t from, int32_t to, int32_t rows);

typedef struct snug_kv_pool {
    snug_kv_copy_fn copy; /* the pages' memory is the backend's */
    void *copy_context;
    int32_t n_pages;
    int32_t n_free;
    int32_t *free_pages; /* (n_pages) stack: the first n_free entries are the free page ids */
    int32_t *refs;       /* (n_pages) how many sequences hold each page */
} snug_kv_pool;

typedef struct snug_kv_seq {
    int32_t n_tokens; /* positions 0 … n_tokens − 1 hold keys and values */
    int32_t n_pages;  /* pages held */
    int32_t *pages;   /* (max_pages) page ids by position / SNUG_KV_PAGE_TOKENS */
} snug_kv_seq;

/* Pages a sequence of n_tokens positions needs. */
static inline int32_t snug_kv_pages_for(int64_t n_tokens) {
    return (int32_t)((n_tokens + SNUG_KV_PAGE_TOKENS - 1) / SNUG_KV_PAGE_TOKENS);
}

/* Binds the pool to its bookkeeping arrays and the backend's page copy, and marks every page free. */
void snug_kv_pool_bind(snug_kv_pool *pool, snug_kv_copy_fn copy, void *copy_context, int32_t n_pages,
                       int32_t *free_pages, int32_t *refs);

/* Free pages a sequence must take to grow by n_more positions: new pages past those it holds, plus one when its
 * last page is partly filled and shared (it will be copied before it is written). */
int32_t snug_kv_seq_pages_needed(const snug_kv_pool *pool, const snug_kv_seq *seq, int32_t n_more);

/* Takes those pages (the caller checked snug_kv_seq_pages_needed against pool->n_free) and copies a shared, partly
 * filled last page, so that positions n_tokens … n_tokens + n_more − 1 can be written. n_tokens is unchanged. */
void snug_kv_seq_reserve(snug_kv_pool *pool, snug_kv_seq *seq, int32_t n_more);

/* Keeps positions 0 … n_tokens − 1 (n_tokens ≤ the sequence's) and gives back the pages past them. */
void snug_kv_seq_truncate(snug_kv_pool *pool, snug_kv_seq *seq, int32_t n_tokens);

/* dst (empty) shares src's positions: the same pages, each referenced once more. */
void snug_kv_seq_share(snug_kv_pool *pool, snug_kv_seq *dst, const snug_kv_seq *src);

/* Pages referenced by more than one sequence. */
int32_t snug_kv_pool_shared_pages(const snug_kv_pool *pool);

#endif
