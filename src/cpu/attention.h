/* attention.h — causal grouped-query attention over a KV cache of f16, q8_0 or f32 rows, scalar reference.
 *
 * The cache of one layer holds, for every position, one row of keys (n_head_kv × head_dim elements, encoded as
 * kv_type) and separately one row of values. Query head h reads KV head h / (n_head / n_head_kv). Token t of the
 * batch sits at position pos0 + t and sees positions 0 … pos0 + t. For q8_0 the head size must be a multiple of the
 * 32-element block, so each head's slice is whole blocks.
 */
#ifndef SNUG_CPU_ATTENTION_H
#define SNUG_CPU_ATTENTION_H

#include <stdint.h>

#include "cpu/kernels.h"

typedef struct snug_attention_shape {
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int64_t n_ctx;      /* positions in the cache */
    uint32_t kv_type;   /* SNUG_TYPE_F16, SNUG_TYPE_Q8_0 or SNUG_TYPE_F32 */
    uint64_t row_bytes; /* bytes of one position's row (all KV heads) */
    /* The cache type's kernels when they take float activations (f16, f32 caches): the scores q·k then run on
     * the SIMD vec_dot. NULL: decode each key row, then a plain dot product (q8_0 caches). */
    const snug_type_kernels *key_kernels;
    /* For f16 caches: the fastest f16 → f32 row conversion of this CPU (V rows); NULL for other types. */
    void (*f16_row)(const uint16_t *src, float *dst, int64_t n);
} snug_attention_shape;

/* Floats of per-thread scratch snug_attention needs: scores over the context plus one decoded K and V head row. */
static inline int64_t snug_attention_scratch_floats(int64_t n_ctx, int32_t head_dim) {
    return n_ctx + 2 * (int64_t)head_dim;
}

/* out (n_tokens, n_head × head_dim) from q (n_tokens, n_head × head_dim) and the layer's cache rows.
 * scratch holds n_threads × snug_attention_scratch_floats() floats. */
void snug_attention(float *out, const float *q, const uint8_t *k_cache, const uint8_t *v_cache, int64_t n_tokens,
                    int64_t pos0, const snug_attention_shape *shape, float *scratch, int32_t n_threads);

/* Encodes one position's row of n_kv floats into the cache's type. */
void snug_kv_store(uint32_t kv_type, const float *src, uint8_t *dst_row, int64_t n_kv);

#endif
