/* kv_pool.c — pages of the KV cache: a free stack, reference counts, and copy on write (see kv_pool.h). */
#include "engine/kv_pool.h"

void snug_kv_pool_bind(snug_kv_pool *pool, snug_kv_copy_fn copy, void *copy_context, int32_t n_pages,
                       int32_t *free_pages, int32_t *refs) {
    *pool = (snug_kv_pool){copy, copy_context, n_pages, n_pages, free_pages, refs};
    /* Page 0 on top: a fresh pool hands pages out in address order. */
    for (int32_t i = 0; i < n_pages; i++) {
        free_pages[i] = n_pages - 1 - i;
        refs[i] = 0;
    }
}

static int32_t take_page(snug_kv_pool *pool) {
    const int32_t page = pool->free_pages[--pool->n_free];
    pool->refs[page] = 1;
    return page;
}

static void drop_page(snug_kv_pool *pool, int32_t page) {
    if (--pool->refs[page] == 0) pool->free_pages[pool->n_free++] = page;
}

/* Whether the sequence's last page is partly filled and held by another sequence too. */
static bool last_page_shared_partial(const snug_kv_pool *pool, const snug_kv_seq *seq) {
    const int32_t fill = seq->n_tokens % SNUG_KV_PAGE_TOKENS;
    return fill != 0 && pool->refs[seq->pages[seq->n_tokens / SNUG_KV_PAGE_TOKENS]] > 1;
}

int32_t snug_kv_seq_pages_needed(const snug_kv_pool *pool, const snug_kv_seq *seq, int32_t n_more) {
    if (n_more <= 0) return 0;
    const int32_t want = snug_kv_pages_for((int64_t)seq->n_tokens + n_more);
    const int32_t fresh = want > seq->n_pages ? want - seq->n_pages : 0;
    return fresh + (last_page_shared_partial(pool, seq) ? 1 : 0);
}

void snug_kv_seq_reserve(snug_kv_pool *pool, snug_kv_seq *seq, int32_t n_more) {
    if (n_more <= 0) return;
    if (last_page_shared_partial(pool, seq)) {
        /* Copy the filled rows of every layer into a page of its own; the other holders keep the original. */
        const int32_t index = seq->n_tokens / SNUG_KV_PAGE_TOKENS, old = seq->pages[index], copy = take_page(pool);
        pool->copy(pool->copy_context, old, copy, seq->n_tokens % SNUG_KV_PAGE_TOKENS);
        drop_page(pool, old);
        seq->pages[index] = copy;
    }
    const int32_t want = snug_kv_pages_for((int64_t)seq->n_tokens + n_more);
    while (seq->n_pages < want) seq->pages[seq->n_pages++] = take_page(pool);
}

void snug_kv_seq_truncate(snug_kv_pool *pool, snug_kv_seq *seq, int32_t n_tokens) {
    const int32_t keep = snug_kv_pages_for(n_tokens);
    while (seq->n_pages > keep) drop_page(pool, seq->pages[--seq->n_pages]);
    seq->n_tokens = n_tokens;
}

void snug_kv_seq_share(snug_kv_pool *pool, snug_kv_seq *dst, const snug_kv_seq *src) {
    const int32_t n = snug_kv_pages_for(src->n_tokens);
    for (int32_t i = 0; i < n; i++) {
        dst->pages[i] = src->pages[i];
        pool->refs[src->pages[i]]++;
    }
    dst->n_pages = n;
    dst->n_tokens = src->n_tokens;
}

int32_t snug_kv_pool_shared_pages(const snug_kv_pool *pool) {
    int32_t shared = 0;
    for (int32_t i = 0; i < pool->n_pages; i++) shared += pool->refs[i] > 1;
    return shared;
}
