/* float_avx2.c — F32 / F16 / BF16 weights · f32 activations with AVX2 + FMA + F16C (see float_scalar.c).
 *
 * Decode is memory bound: the loop streams the weight row once, widening 8 weights per instruction (F16C
 * vcvtph2ps for f16; a 16-bit shift for bf16, which is the top half of an f32) and keeps UNROLL independent FMA
 * accumulators so the FMA latency never stalls the loads. A tail of fewer than 8 elements runs scalar.
 * dot_tile (prefill) is register-blocked over rows × tokens (below).
 */
#include "cpu/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "cpu/half.h"

#define VEC    8 /* f32 lanes in a __m256 */
#define UNROLL 8 /* independent accumulators: enough FMAs and loads in flight to stream at the memory's speed */
#define INLINE static inline __attribute__((always_inline))

typedef enum weight_kind { WEIGHT_F32, WEIGHT_F16, WEIGHT_BF16 } weight_kind;

INLINE int64_t weight_bytes(weight_kind kind) { return kind == WEIGHT_F32 ? 4 : 2; }

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* VEC weights from element i, widened to f32 (exactly: f16 and bf16 values are all f32 values). */
INLINE __m256 load_weights(weight_kind kind, const void *w, int64_t i) {
    switch (kind) {
    case WEIGHT_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    case WEIGHT_BF16: {
        __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
    }
    default: return _mm256_loadu_ps((const float *)w + i);
    }
}

INLINE float weight_at(weight_kind kind, const void *w, int64_t i) {
    const uint8_t *bytes = w;
    switch (kind) {
    case WEIGHT_F16: return snug_f16_to_f32(snug_load_u16(bytes + 2 * i));
    case WEIGHT_BF16: return snug_bf16_to_f32(snug_load_u16(bytes + 2 * i));
    default: return ((const float *)w)[i];
    }
}

INLINE float dot(weight_kind kind, int64_t n, const void *w, const float *y) {
    __m256 acc[UNROLL];
#pragma GCC unroll 8
    for (int u = 0; u < UNROLL; u++) acc[u] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + UNROLL * VEC <= n; i += UNROLL * VEC) {
        snug_stream_ahead((const uint8_t *)w + i * weight_bytes(kind), UNROLL * VEC * weight_bytes(kind));
#pragma GCC unroll 8
        for (int u = 0; u < UNROLL; u++) {
            acc[u] = _mm256_fmadd_ps(load_weights(kind, w, i + u * VEC), _mm256_loadu_ps(y + i + u * VEC), acc[u]);
        }
    }
    for (; i + VEC <= n; i += VEC) acc[0] = _mm256_fmadd_ps(load_weights(kind, w, i), _mm256_loadu_ps(y + i), acc[0]);
    for (int u = UNROLL - 1; u >= 4; u--) acc[u % 4] = _mm256_add_ps(acc[u % 4], acc[u]);
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) sum += weight_at(kind, w, i) * y[i];
    return sum;
}

/* ---- dot_tile: 4 rows × up to 4 tokens -------------------------------------------------------------------------
 *
 * As float_avx512.c's tile in two passes of 2 rows × the tokens (8 accumulators, 2 widened weight vectors and one
 * activation vector fit AVX2's 16 registers): each weight vector is widened once and meets every token. */
#define TILE      4 /* SNUG_TILE_MAX */
#define PASS_ROWS 2 /* rows per pass */

/* [Σ lanes of v0, Σ v1, Σ v2, Σ v3] */
INLINE __m128 hsum4(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* Token t's activations: a_stride bytes apart (through void *: the rows are floats). */
INLINE const float *token_row(const uint8_t *a, uint64_t a_stride, int t) {
    const void *row = a + (uint64_t)t * a_stride;
    return row;
}

INLINE void tile_run(weight_kind kind, int64_t n, float *y, int64_t y_stride, const uint8_t *w, uint64_t w_stride,
                     const uint8_t *a, uint64_t a_stride, int n_rows, const int n_tokens) {
    float sums[TILE][TILE]; /* [token][row] */
    for (int r0 = 0; r0 < n_rows; r0 += PASS_ROWS) {
        const void *row[PASS_ROWS];
        for (int r = 0; r < PASS_ROWS; r++) row[r] = w + (uint64_t)(r0 + r < n_rows ? r0 + r : n_rows - 1) * w_stride;
        __m256 acc[PASS_ROWS][TILE];
#pragma GCC unroll 8
        for (int k = 0; k < PASS_ROWS * TILE; k++) acc[k / TILE][k % TILE] = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + VEC <= n; i += VEC) {
            const __m256 w0 = load_weights(kind, row[0], i), w1 = load_weights(kind, row[1], i);
#pragma GCC unroll 4
            for (int t = 0; t < n_tokens; t++) {
                __m256 av = _mm256_loadu_ps(token_row(a, a_stride, t) + i);
                __asm__("" : "+x"(av)); /* one load for both rows: loads, not FMAs, would bound this loop */
                acc[0][t] = _mm256_fmadd_ps(w0, av, acc[0][t]);
                acc[1][t] = _mm256_fmadd_ps(w1, av, acc[1][t]);
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < n_tokens; t++) {
            __m128 s = hsum4(acc[0][t], acc[1][t], acc[0][t], acc[1][t]);
            sums[t][r0] = _mm_cvtss_f32(s);
            sums[t][r0 + 1] = _mm_cvtss_f32(_mm_movehdup_ps(s));
            for (int64_t j = i; j < n; j++) { /* the last n mod 8 elements */
                const float x = token_row(a, a_stride, t)[j];
                sums[t][r0] += weight_at(kind, row[0], j) * x;
                sums[t][r0 + 1] += weight_at(kind, row[1], j) * x;
            }
        }
    }
    for (int t = 0; t < n_tokens; t++) {
        for (int r = 0; r < n_rows; r++) y[t * y_stride + r] = sums[t][r];
    }
}

#include "cpu/float_entries.h"

void snug_register_float_avx2(snug_kernel_table t) { register_float_entries(t); }
#endif
