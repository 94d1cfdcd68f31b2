/* attention.h — causal grouped-query attention over a paged KV cache of f16, q8_0 or f32 rows, scalar reference.
 *
 * The cache of one layer holds, for every position, one row of keys (n_head_kv × head_dim elements, encoded as
 * kv_type) and separately one row of values. Rows live in pages of page_tokens positions (the engine's KV pool,
 * engine/kv_pool.h): a token reads position j in page pages[j / page_tokens], row j mod page_tokens, page p starting
 * p × page_tokens × row_bytes into the layer's K (and V) memory. Query head h reads KV head h / (n_head / n_head_kv).
 * A token at position p sees positions 0 … p of its own sequence (its own page list). For q8_0 the head size must be a
 * multiple of the 32-element block, so each head's slice is whole blocks.
 *
 * Two implementations: the scalar reference (one vec_dot call per key, libm expf, one decoded V row at a time), and
 * per-ISA kernels (attention_avx2.c, attention_avx512.c) that score 8 / 16 keys per iteration straight from the cache
 * encoding, exponentiate with a polynomial, and accumulate the V rows in registers, with the softmax online over blocks
 * of keys so that the query heads of a GQA group share each block while it is in cache (no scratch beyond a few
 * hundred bytes of stack; the planned per-thread scratch serves the reference). Each (token, head) output row is
 * computed by the same instructions in the same order whichever thread or schedule runs it, so results do not depend
 * on the thread count. tests/test_attention.c holds the kernels to the reference within a stated tolerance.
 */
#ifndef SNUG_CPU_ATTENTION_H
#define SNUG_CPU_ATTENTION_H

#include <stdint.h>

#include "backend/backend.h"
#include "cpu/kernels.h"
#include "cpu/pool.h"

typedef struct snug_attention_shape {
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int64_t n_ctx;      /* the most positions one token sees (sizes the reference path's scratch) */
    uint32_t kv_type;   /* SNUG_TYPE_F16, SNUG_TYPE_Q8_0 or SNUG_TYPE_F32 */
    uint64_t row_bytes; /* bytes of one position's row (all KV heads) */
    /* The cache type's kernels when they take float activations (f16, f32 caches): the scores q·k then run on
     * the SIMD vec_dot. NULL: decode each key row, then a plain dot product (q8_0 caches). */
    const snug_type_kernels *key_kernels;
    /* For f16 caches: the fastest f16 → f32 row conversion of this CPU (V rows); NULL for other types. */
    void (*f16_row)(const uint16_t *src, float *dst, int64_t n);
    /* The kernels to use (snug_attention_kernels_for); NULL: those of snug_isa_active(). */
    const struct snug_attention_kernels *kernels;
    int64_t page_tokens; /* positions a page holds (snug_attention_paged) */
} snug_attention_shape;

/* One ISA's attention kernels, for one (token, query head) row at a time. k / v point at the head's slice of
 * position 0; position j's slice is row_bytes further on per j; kv_type as in the shape. All NULL: the scalar
 * reference path. */
typedef struct snug_attention_kernels {
    /* scores[j] = scale · Σ_d q[d] · k_j[d] for j < n_pos (n_pos >= 1); returns max_j scores[j]. */
    float (*scores)(float *scores, const float *q, const uint8_t *k, uint64_t row_bytes, int64_t n_pos,
                    int32_t head_dim, uint32_t kv_type, float scale);
    /* x[i] = e^(x[i] − shift) for i < n; returns Σ_i of the new x[i]. The exponential is a polynomial after range
     * reduction: within SNUG_ATTENTION_EXP_REL_ERROR of e^x relative for −87.3 <= x <= 88.3 (e^x a normal f32),
     * and within 2^−126 absolute below (0 for −∞). A NaN input gives NaN (and a NaN sum), never a clamped value. */
    float (*exp_sum)(float *x, int64_t n, float shift);
    /* out[d] = out_scale · out[d] + Σ_j p[j] · v_j[d] for d < head_dim; out is not read when out_scale is 0. */
    void (*weighted_sum)(float *out, const float *p, const uint8_t *v, uint64_t row_bytes, int64_t n_pos,
                         int32_t head_dim, uint32_t kv_type, float out_scale);
} snug_attention_kernels;

/* The kernels' path runs the softmax online (Milakov & Gimelshein 2018) over blocks of SNUG_ATTENTION_BLOCK_KEYS
 * positions starting at multiples of it from position 0: per row a running maximum and sum, the output rescaled by
 * e^(old max − new max) when the maximum grows, normalised at the end. The query heads of one GQA group (at most
 * SNUG_ATTENTION_GROUP_MAX_ROWS of them in a call) take a block one after another, so its keys and values are read
 * from L1 / L2 by all but the first. 128 keys (32 KiB of f16 K and V at head size 64) measured best of 32 … 256:
 * per-block work (maximum, rescaling) is amortised, and the block still stays near the core. */
#define SNUG_ATTENTION_BLOCK_KEYS     128
#define SNUG_ATTENTION_GROUP_MAX_ROWS 16

/* The kernels' exponential against e^x: max relative error over [−87.3, 88.3] (tests/test_attention.c, a dense sweep
 * of 2M points: 1.18e-7 measured, i.e. ~1 ulp of f32; the bound leaves a 2.5× margin). */
#define SNUG_ATTENTION_EXP_REL_ERROR 3e-7

/* The kernels for an ISA: the all-NULL reference table for SNUG_ISA_SCALAR (and ISAs without kernels of their own,
 * which use the closest one below), NULL where the ISA is not supported by this CPU / this build. */
const snug_attention_kernels *snug_attention_kernels_for(snug_isa isa);
#if defined(__x86_64__) || defined(_M_X64)
extern const snug_attention_kernels snug_attention_kernels_avx2;
extern const snug_attention_kernels snug_attention_kernels_avx512;
#endif

/* What one token of a batch sees: positions 0 … n_pos − 1, in the pages listed (the backend interface's view). */
typedef snug_token_view snug_attention_token;

/* Floats of per-thread scratch snug_attention needs: scores over the context plus one decoded K and V head row. */
static inline int64_t snug_attention_scratch_floats(int64_t n_ctx, int32_t head_dim) {
    return n_ctx + 2 * (int64_t)head_dim;
}

/* out (n_tokens, n_head × head_dim) from q (n_tokens, n_head × head_dim) and the layer's pages (k_pages, v_pages:
 * page p at p × page_tokens × row_bytes), token t seeing tokens[t], on the pool's threads (NULL: the caller alone).
 * scratch holds snug_pool_threads(pool) × snug_attention_scratch_floats() floats. Returns −1, or the first row
 * (token × n_head + head) that broke down: its scores' maximum not finite (an infinite q·k), their exponentials' sum
 * not a positive finite number (a NaN score), or an output not finite (an infinite or NaN value row). Checked once
 * per row and block of keys, and by a bit test per output element (ops.h). A row's arithmetic depends on its
 * positions' page boundaries (j mod page_tokens), never on which pages hold them or on other tokens of the batch. */
int64_t snug_attention_paged(float *out, const float *q, const uint8_t *k_pages, const uint8_t *v_pages,
                             const snug_attention_token *tokens, int64_t n_tokens, const snug_attention_shape *shape,
                             float *scratch, snug_pool *pool);

/* The same over one contiguous cache (a single page of shape->n_ctx positions; shape->page_tokens is ignored):
 * token t of the batch sits at position pos0 + t and sees positions 0 … pos0 + t. */
int64_t snug_attention(float *out, const float *q, const uint8_t *k_cache, const uint8_t *v_cache, int64_t n_tokens,
                       int64_t pos0, const snug_attention_shape *shape, float *scratch, snug_pool *pool);

/* Encodes one position's row of n_kv floats into the cache's type. */
void snug_kv_store(uint32_t kv_type, const float *src, uint8_t *dst_row, int64_t n_kv);

#endif
