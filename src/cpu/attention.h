/* attention.h — causal grouped-query attention over an f16 KV cache, scalar reference.
 *
 * The cache of one layer holds, for every position, the keys (n_head_kv × head_dim) and separately the values. Query
 * head h reads KV head h / (n_head / n_head_kv). Token t of the batch sits at position pos0 + t and sees positions
 * 0 … pos0 + t.
 */
#ifndef SNUG_CPU_ATTENTION_H
#define SNUG_CPU_ATTENTION_H

#include <stdint.h>

typedef struct snug_attention_shape {
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int64_t n_ctx; /* positions in the cache (stride of the scores scratch) */
} snug_attention_shape;

/* out (n_tokens, n_head × head_dim) from q (n_tokens, n_head × head_dim) and the layer's cache
 * k_cache, v_cache (n_ctx, n_head_kv × head_dim) f16. scores_scratch holds n_threads × n_ctx floats. */
void snug_attention(float *out, const float *q, const uint16_t *k_cache, const uint16_t *v_cache, int64_t n_tokens,
                    int64_t pos0, const snug_attention_shape *shape, float *scores_scratch, int32_t n_threads);

#endif
