/* float_avx512.c — F32 / F16 / BF16 weights · f32 activations with AVX-512 F/BW/VL (see float_scalar.c).
 *
 * As float_avx2.c with 16 lanes: vcvtph2ps widens 16 f16 weights at once, bf16 is shifted into the top half of an
 * f32, UNROLL accumulators hide the FMA latency, and the last partial vector uses masked loads (no scalar tail).
 * dot_tile (prefill) is register-blocked over 4 rows × 4 tokens (below).
 * Only AVX512F/BW/VL/DQ instructions: no AVX512-BF16 or -FP16, so it runs on every AVX-512 CPU since Skylake-X.
 */
#include "cpu/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define VEC    16 /* f32 lanes in a __m512 */
#define UNROLL 8  /* independent accumulators: loads in flight to stream at the memory's speed (see below) */
#define INLINE static inline __attribute__((always_inline))

typedef enum weight_kind { WEIGHT_F32, WEIGHT_F16, WEIGHT_BF16 } weight_kind;

INLINE int64_t weight_bytes(weight_kind kind) { return kind == WEIGHT_F32 ? 4 : 2; }

/* The weights at elements i … i+15 selected by `mask` (others 0), widened to f32. */
INLINE __m512 load_weights(weight_kind kind, const void *w, int64_t i, __mmask16 mask) {
    const uint16_t *halves = (const uint16_t *)w + i;
    switch (kind) {
    case WEIGHT_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, halves));
    case WEIGHT_BF16:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, halves)), 16));
    default: return _mm512_maskz_loadu_ps(mask, (const float *)w + i);
    }
}

INLINE float dot(weight_kind kind, int64_t n, const void *w, const float *y) {
    const __mmask16 all = 0xffff;
    __m512 acc[UNROLL];
#pragma GCC unroll 8
    for (int u = 0; u < UNROLL; u++) acc[u] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + UNROLL * VEC <= n; i += UNROLL * VEC) {
        snug_stream_ahead((const uint8_t *)w + i * weight_bytes(kind), UNROLL * VEC * weight_bytes(kind));
#pragma GCC unroll 8
        for (int u = 0; u < UNROLL; u++) {
            acc[u] = _mm512_fmadd_ps(load_weights(kind, w, i + u * VEC, all), _mm512_loadu_ps(y + i + u * VEC), acc[u]);
        }
    }
    for (; i + VEC <= n; i += VEC)
        acc[0] = _mm512_fmadd_ps(load_weights(kind, w, i, all), _mm512_loadu_ps(y + i), acc[0]);
    if (i < n) {
        __mmask16 rest = (__mmask16)((1u << (n - i)) - 1u);
        acc[1] = _mm512_fmadd_ps(load_weights(kind, w, i, rest), _mm512_maskz_loadu_ps(rest, y + i), acc[1]);
    }
    for (int u = UNROLL - 1; u >= 4; u--) acc[u % 4] = _mm512_add_ps(acc[u % 4], acc[u]);
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

/* ---- dot_tile: 4 rows × up to 4 tokens -------------------------------------------------------------------------
 *
 * Per step of 16 elements each weight row is widened once (vcvtph2ps for F16) and each token's 16 activations loaded
 * once, and the 16 products go to 16 accumulators, one per output: 16 FMAs for 8 loads, where vec_dot needs 2 loads
 * an FMA. One accumulator per output keeps the 16 FMA chains independent (4 cycles of latency, 2 FMAs a cycle). */
#define TILE 4 /* SNUG_TILE_MAX */

/* [Σ lanes of v0, Σ v1, Σ v2, Σ v3]: halves added, then two rounds of pairwise adds. */
INLINE __m128 hsum4(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
    __m256 h0 = _mm256_add_ps(_mm512_castps512_ps256(v0), _mm512_extractf32x8_ps(v0, 1));
    __m256 h1 = _mm256_add_ps(_mm512_castps512_ps256(v1), _mm512_extractf32x8_ps(v1, 1));
    __m256 h2 = _mm256_add_ps(_mm512_castps512_ps256(v2), _mm512_extractf32x8_ps(v2, 1));
    __m256 h3 = _mm256_add_ps(_mm512_castps512_ps256(v3), _mm512_extractf32x8_ps(v3, 1));
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(h0, h1), _mm256_hadd_ps(h2, h3));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* Token t's activations: a_stride bytes apart (through void *: the rows are floats). */
INLINE const float *token_row(const uint8_t *a, uint64_t a_stride, int t) {
    const void *row = a + (uint64_t)t * a_stride;
    return row;
}

/* One step of VEC elements (those in `mask`) for every row and token of the tile. */
INLINE void tile_step(weight_kind kind, __m512 acc[TILE][TILE], const void *const row[TILE],
                      const float *const tok[TILE], int64_t i, __mmask16 mask, const int n_tokens) {
    __m512 wv[TILE];
#pragma GCC unroll 4
    for (int r = 0; r < TILE; r++) wv[r] = load_weights(kind, row[r], i, mask);
#pragma GCC unroll 4
    for (int t = 0; t < n_tokens; t++) {
        const __m512 av = _mm512_maskz_loadu_ps(mask, tok[t] + i);
#pragma GCC unroll 4
        for (int r = 0; r < TILE; r++) acc[r][t] = _mm512_fmadd_ps(wv[r], av, acc[r][t]);
    }
}

INLINE void tile_run(weight_kind kind, int64_t n, float *y, int64_t y_stride, const uint8_t *w, uint64_t w_stride,
                     const uint8_t *a, uint64_t a_stride, int n_rows, const int n_tokens) {
    const void *row[TILE];
    const float *tok[TILE];
    for (int r = 0; r < TILE; r++)
        row[r] = w + (uint64_t)(r < n_rows ? r : n_rows - 1) * w_stride; /* repeat the last */
    for (int t = 0; t < TILE; t++) tok[t] = token_row(a, a_stride, t < n_tokens ? t : 0);
    __m512 acc[TILE][TILE];
#pragma GCC unroll 16
    for (int i = 0; i < TILE * TILE; i++) acc[i / TILE][i % TILE] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + VEC <= n; i += VEC) tile_step(kind, acc, row, tok, i, 0xffff, n_tokens);
    if (i < n) tile_step(kind, acc, row, tok, i, (__mmask16)((1u << (n - i)) - 1u), n_tokens);
    const __mmask8 store = (__mmask8)((1u << n_rows) - 1u);
#pragma GCC unroll 4
    for (int t = 0; t < n_tokens; t++) {
        _mm_mask_storeu_ps(y + t * y_stride, store, hsum4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]));
    }
}

#include "cpu/float_entries.h"

void snug_register_float_avx512(snug_kernel_table t) { register_float_entries(t); }
#endif
