/* ops.h — the element-wise and per-vector operations of the transformer, scalar reference versions.
 *
 * Shapes are in comments as (rows, columns). All functions work in place or out of place on float arrays the caller
 * owns (arena buffers); none allocates.
 */
#ifndef SNUG_CPU_OPS_H
#define SNUG_CPU_OPS_H

#include <stdint.h>

/* out = x / sqrt(mean(x²) + eps) ⊙ weight, for one vector of n. */
void snug_rmsnorm(float *out, const float *x, const float *weight, int64_t n, float eps);

typedef enum snug_rope_mode {
    SNUG_ROPE_NORMAL = 0, /* rotates adjacent pairs (x[2i], x[2i+1]): llama GGUF files (Q/K permuted at conversion) */
    SNUG_ROPE_NEOX = 2,   /* rotates (x[i], x[i + n_rot/2]): GPT-NeoX, Qwen, Phi-3 */
} snug_rope_mode;

typedef struct snug_rope_params {
    snug_rope_mode mode;
    int32_t n_rot;             /* rotated dimensions per head (even, <= head_dim); the rest pass through */
    float freq_base;           /* θ = freq_base^(−2i / n_rot) */
    float freq_scale;          /* positions are multiplied by this (linear scaling: 1 / factor) */
    const float *freq_factors; /* (n_rot / 2) divisors of θ, or NULL (Llama 3.1 "rope_freqs") */
} snug_rope_params;

/* Rotates n_heads heads of head_dim each, stored one after another in vec, for token position `pos`. */
void snug_rope(float *vec, int32_t n_heads, int32_t head_dim, int64_t pos, const snug_rope_params *p);
/* The same rotation of a token's Q heads and K heads (k may be NULL), each angle computed once for both. */
void snug_rope_qk(float *q, int32_t n_q_heads, float *k, int32_t n_k_heads, int32_t head_dim, int64_t pos,
                  const snug_rope_params *p);

/* x = softmax(x) over n, computed stably (max subtracted). */
void snug_softmax(float *x, int64_t n);

/* gate = silu(gate) ⊙ up, for n. silu(z) = z / (1 + e^−z). */
void snug_swiglu(float *gate, const float *up, int64_t n);

/* x += y, for n. */
void snug_add(float *x, const float *y, int64_t n);

/* Dot product of two float vectors (8 partial sums: a fixed order, so results do not depend on threading). */
float snug_dot_f32(const float *a, const float *b, int64_t n);

#endif
