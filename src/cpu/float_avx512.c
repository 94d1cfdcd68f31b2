/* float_avx512.c — F32 / F16 / BF16 weights · f32 activations with AVX-512 F/BW/VL (see float_scalar.c).
 *
 * As float_avx2.c with 16 lanes: vcvtph2ps widens 16 f16 weights at once, bf16 is shifted into the top half of an
 * f32, UNROLL accumulators hide the FMA latency, and the last partial vector uses masked loads (no scalar tail).
 * Only AVX512F/BW/VL instructions: no AVX512-BF16 or -FP16, so it runs on every AVX-512 CPU since Skylake-X.
 */
#include "cpu/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define VEC 16   /* f32 lanes in a __m512 */
#define UNROLL 4 /* independent accumulators */
#define INLINE static inline __attribute__((always_inline))

typedef enum weight_kind { WEIGHT_F32, WEIGHT_F16, WEIGHT_BF16 } weight_kind;

/* The weights at elements i … i+15 selected by `mask` (others 0), widened to f32. */
INLINE __m512 load_weights(weight_kind kind, const void *w, int64_t i, __mmask16 mask) {
    const uint16_t *halves = (const uint16_t *)w + i;
    switch (kind) {
    case WEIGHT_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, halves));
    case WEIGHT_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, halves)), 16));
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
#pragma GCC unroll 8
        for (int u = 0; u < UNROLL; u++) {
            acc[u] = _mm512_fmadd_ps(load_weights(kind, w, i + u * VEC, all), _mm512_loadu_ps(y + i + u * VEC), acc[u]);
        }
    }
    for (; i + VEC <= n; i += VEC) acc[0] = _mm512_fmadd_ps(load_weights(kind, w, i, all), _mm512_loadu_ps(y + i), acc[0]);
    if (i < n) {
        __mmask16 rest = (__mmask16)((1u << (n - i)) - 1u);
        acc[1] = _mm512_fmadd_ps(load_weights(kind, w, i, rest), _mm512_maskz_loadu_ps(rest, y + i), acc[1]);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

static void copy_act(const float *x, void *dst, int64_t n) {
    memcpy(dst, x, (size_t)n * sizeof(float));
}

static void vec_dot_f32(int64_t n, float *s, const void *w, const void *a) {
    *s = dot(WEIGHT_F32, n, w, a);
}

static void vec_dot_f16(int64_t n, float *s, const void *w, const void *a) {
    *s = dot(WEIGHT_F16, n, w, a);
}

static void vec_dot_bf16(int64_t n, float *s, const void *w, const void *a) {
    *s = dot(WEIGHT_BF16, n, w, a);
}

void snug_register_float_avx512(snug_kernel_table t) {
    t[SNUG_TYPE_F32] = (snug_type_kernels){SNUG_TYPE_F32, copy_act, vec_dot_f32};
    t[SNUG_TYPE_F16] = (snug_type_kernels){SNUG_TYPE_F32, copy_act, vec_dot_f16};
    t[SNUG_TYPE_BF16] = (snug_type_kernels){SNUG_TYPE_F32, copy_act, vec_dot_bf16};
}
#endif
