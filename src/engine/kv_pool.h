/* kv_pool.h — the KV cache as a pool of fixed-size pages, and the sequences that hold them.
 *
 * The plan sizes the pool once: n_parallel × ceil(n_ctx / SNUG_KV_PAGE_TOKENS) pages, each page holding
 * SNUG_KV_PAGE_TOKENS positions of keys and of values for every layer. A sequence owns a page table (page ids by
 * position / SNUG_KV_PAGE_TOKENS); attention reads through it (cpu/attention.h). Pages are counted by reference, so a
 * forked sequence shares its source's pages (a common system prompt is computed once): a shared page that is only
 * partly filled is copied the first time either sequence writes past its fill ("copy on write"), a full one is never
 * written again and stays shared. Nothing here allocates: every array comes from the context's arena.
 *
 * Invariants: a page is free exactly when its reference count is 0, and then its id is on the free stack once;
 * n_free + the pages referenced = n_pages; a sequence of n_tokens positions holds at least ceil(n_tokens / P) pages
 * (more only between a reservation and the batch that fills them).
 */
#ifndef SNUG_ENGINE_KV_POOL_H
#define SNUG_ENGINE_KV_POOL_H

#include <stdbool.h>
#include <stdint.h>

/* Positions per page. 64: a page run is 4 iterations of the AVX-512 score kernel (16 keys each) and half an
 * attention block (SNUG_ATTENTION_BLOCK_KEYS), so reading through the page table costs a few calls per block; a
 * sequence leaves at most 63 positions of its last page unused; a shared prefix is reused in steps of 64 tokens. */
#define SNUG_KV_PAGE_TOKENS 64

typedef struct snug_kv_pool {
    uint8_t *k, *v;     /* (n_layer, n_pages, SNUG_KV_PAGE_TOKENS, row_bytes) each */
    uint64_t row_bytes; /* one position of one layer: n_head_kv × head_dim elements in the KV type */
    int32_t n_layer;
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

/* Binds the pool to its memory and marks every page free. */
void snug_kv_pool_bind(snug_kv_pool *pool, uint8_t *k, uint8_t *v, uint64_t row_bytes, int32_t n_layer, int32_t n_pages,
                       int32_t *free_pages, int32_t *refs);

/* Bytes of one layer's keys (or values) in the pool, and where layer l's start. */
static inline uint64_t snug_kv_page_bytes(const snug_kv_pool *pool) {
    return (uint64_t)SNUG_KV_PAGE_TOKENS * pool->row_bytes;
}
static inline uint8_t *snug_kv_layer_k(const snug_kv_pool *pool, int32_t layer) {
    return pool->k + (uint64_t)layer * (uint64_t)pool->n_pages * snug_kv_page_bytes(pool);
}
static inline uint8_t *snug_kv_layer_v(const snug_kv_pool *pool, int32_t layer) {
    return pool->v + (uint64_t)layer * (uint64_t)pool->n_pages * snug_kv_page_bytes(pool);
}
/* Byte offset of position pos of a sequence within a layer's K (or V). */
static inline uint64_t snug_kv_row_offset(const snug_kv_pool *pool, const snug_kv_seq *seq, int32_t pos) {
    return (uint64_t)seq->pages[pos / SNUG_KV_PAGE_TOKENS] * snug_kv_page_bytes(pool) +
           (uint64_t)(pos % SNUG_KV_PAGE_TOKENS) * pool->row_bytes;
}

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
