/* float_avx2.c — F32 / F16 / BF16 weights · f32 activations with AVX2 + FMA + F16C (see float_scalar.c).
 *
 * Decode is memory bound: the loop streams the weight row once, widening 8 weights per instruction (F16C
 * vcvtph2ps for f16; a 16-bit shift for bf16, which is the top half of an f32) and keeps UNROLL independent FMA
 * accumulators so the FMA latency never stalls the loads. A tail of fewer than 8 elements runs scalar.
 */
#include "cpu/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "cpu/half.h"

#define VEC 8    /* f32 lanes in a __m256 */
#define UNROLL 4 /* independent accumulators: enough FMAs in flight to cover their latency at load speed */
#define INLINE static inline __attribute__((always_inline))

typedef enum weight_kind { WEIGHT_F32, WEIGHT_F16, WEIGHT_BF16 } weight_kind;

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
#pragma GCC unroll 8
        for (int u = 0; u < UNROLL; u++) {
            acc[u] = _mm256_fmadd_ps(load_weights(kind, w, i + u * VEC), _mm256_loadu_ps(y + i + u * VEC), acc[u]);
        }
    }
    for (; i + VEC <= n; i += VEC) acc[0] = _mm256_fmadd_ps(load_weights(kind, w, i), _mm256_loadu_ps(y + i), acc[0]);
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) sum += weight_at(kind, w, i) * y[i];
    return sum;
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

void snug_register_float_avx2(snug_kernel_table t) {
    t[SNUG_TYPE_F32] = (snug_type_kernels){SNUG_TYPE_F32, copy_act, vec_dot_f32};
    t[SNUG_TYPE_F16] = (snug_type_kernels){SNUG_TYPE_F32, copy_act, vec_dot_f16};
    t[SNUG_TYPE_BF16] = (snug_type_kernels){SNUG_TYPE_F32, copy_act, vec_dot_bf16};
}
#endif
