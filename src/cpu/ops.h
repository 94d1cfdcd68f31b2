/* ops.h — the element-wise and per-vector operations of the transformer, scalar reference versions.
 *
 * Shapes are in comments as (rows, columns). All functions work in place or out of place on float arrays the caller
 * owns (arena buffers); none allocates.
 *
 * No silent garbage (DESIGN.md, contract item 4): the operations whose results feed a quantizer or a maximum —
 * where an infinity or a NaN would turn into finite nonsense — return false when what they computed is not finite,
 * and the forward pass (engine/context.c) turns that into SNUG_E_NUMERIC naming the layer, step and position. The
 * checks are a comparison per vector or a bit test per element, never a branch per element.
 */
#ifndef SNUG_CPU_OPS_H
#define SNUG_CPU_OPS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "model/weights.h" /* snug_rope_params */

/* 1 when x is an infinity or a NaN (its exponent bits are all ones), else 0: no branch, so a loop can OR it up. */
static inline uint32_t snug_nonfinite_bit(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return (bits & 0x7f800000u) == 0x7f800000u;
}

/* 1 when any of x[0 .. n) is an infinity or a NaN. A separate pass over data just written (it is in L1), so that it
 * vectorises (omp simd: a bit test per element, no branch) where the loop that wrote it does not. */
static inline uint32_t snug_any_nonfinite(const float *x, int64_t n) {
    uint32_t nonfinite = 0;
#pragma omp simd reduction(| : nonfinite)
    for (int64_t i = 0; i < n; i++) nonfinite |= snug_nonfinite_bit(x[i]);
    return nonfinite;
}

/* Lowers *first to value if value is smaller, atomically: threads that find a fault each report it, the smallest
 * (the earliest token) wins. */
static inline void snug_note_first(int64_t *first, int64_t value) {
    int64_t seen = __atomic_load_n(first, __ATOMIC_RELAXED);
    while (value < seen &&
           !__atomic_compare_exchange_n(first, &seen, value, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/* out = x / sqrt(mean(x²) + eps) ⊙ weight, for one vector of n. The sum of squares is kept in double, so it is
 * exact enough and never overflows; but the model computes in f32, where that sum must be finite too: false when it
 * is beyond FLT_MAX (an activation of RMS above ~1.8e19 / sqrt(n) — f32 engines then normalise to 0 — or an inf or
 * NaN in x), or when an output is not finite (a weight that is). out is then meaningless. */
bool snug_rmsnorm(float *out, const float *x, const float *weight, int64_t n, float eps);

/* Rotates n_heads heads of head_dim each, stored one after another in vec, for token position `pos`. */
/* cos θ_i and sin θ_i of pair i at position pos: what snug_rope_qk rotates by (the Vulkan backend's RoPE table). */
void snug_rope_angle(const snug_rope_params *p, int64_t pos, int32_t i, float *c, float *s);
void snug_rope(float *vec, int32_t n_heads, int32_t head_dim, int64_t pos, const snug_rope_params *p);
/* The same rotation of a token's Q heads and K heads (k may be NULL), each angle computed once for both. */
void snug_rope_qk(float *q, int32_t n_q_heads, float *k, int32_t n_k_heads, int32_t head_dim, int64_t pos,
                  const snug_rope_params *p);

/* x = softmax(x) over n, computed stably (max subtracted). False when the maximum is not finite (an infinite score,
 * or every score −∞) or the sum of the exponentials is not a positive finite number (a NaN score): x is then
 * meaningless. */
bool snug_softmax(float *x, int64_t n);

/* gate = silu(gate) ⊙ up, for n. silu(z) = z / (1 + e^−z). False when a result is not finite. */
bool snug_swiglu(float *gate, const float *up, int64_t n);

/* x += y, for n. */
void snug_add(float *x, const float *y, int64_t n);

/* Dot product of two float vectors (8 partial sums: a fixed order, so results do not depend on threading). */
float snug_dot_f32(const float *a, const float *b, int64_t n);

#endif
