/* attention_avx2.c — the attention kernels of attention.h on AVX2 + FMA + F16C.
 *
 * The structure of attention_avx512.c at 8 lanes: scores of 8 keys per iteration folded into one register by a
 * transpose of adds (21 shuffles and adds); e^x by the same range reduction and polynomial, with 2^n built in the
 * exponent bits (no vscalefps), so inputs are clamped to [−87.34, 88.38] where 2^n is a normal f32 and the lanes
 * below give 0; the output row accumulated in registers 4 chunks at a time. A head size that is no multiple of 8
 * reads its last partial chunk through a zero-padded copy (AVX2 has no masked 16-bit loads).
 */
#include "cpu/attention.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <string.h>

#include "cpu/half.h"
#include "cpu/quant.h"
#include "snug.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

enum {
    LANES = 8, /* floats in a register */
    KEYS = 8,  /* keys scored per iteration: one register of scores */
    SLAB = 4,  /* value chunks accumulated in registers at a time (2 sets: 8 of the 16 registers) */
};

/* Chunk c (elements 8c … 8c + 7) of one head slice as f32, n_valid (1 … 8) of them read, the others 0. */
ALWAYS_INLINE __m256 load_chunk(const uint8_t *row, int32_t c, int32_t n_valid, uint32_t kv_type) {
    switch (kv_type) {
    case SNUG_TYPE_F16: {
        const uint8_t *src = row + (size_t)c * LANES * 2;
        if (n_valid == LANES) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)src));
        uint16_t padded[LANES] = {0};
        memcpy(padded, src, (size_t)n_valid * sizeof padded[0]);
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)padded));
    }
    case SNUG_TYPE_F32: {
        const float *src = (const float *)(const void *)row + (size_t)c * LANES;
        if (n_valid == LANES) return _mm256_loadu_ps(src);
        float padded[LANES] = {0};
        memcpy(padded, src, (size_t)n_valid * sizeof padded[0]);
        return _mm256_loadu_ps(padded);
    }
    default: { /* Q8_0: chunk c is quarter c % 4 of block c / 4 (head sizes are whole blocks: n_valid is 8) */
        const uint8_t *block = row + (size_t)(c / 4) * SNUG_Q8_0_BLOCK_BYTES;
        uint16_t d_bits;
        memcpy(&d_bits, block, sizeof d_bits);
        __m128i qs = _mm_loadl_epi64((const __m128i *)(const void *)(block + 2 + (c % 4) * LANES));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(qs)), _mm256_set1_ps(snug_f16_to_f32(d_bits)));
    }
    }
}

/* Lane p of the result = the sum of the 8 lanes of a[p]. */
ALWAYS_INLINE __m256 sum_each_of_8(const __m256 *a) {
    __m256 pairs[4], quads[2];
#pragma GCC unroll 16
    for (int i = 0; i < 4; i++) { /* per 128-bit lane: [a0 + a2, b0 + b2, a1 + a3, b1 + b3] */
        pairs[i] =
            _mm256_add_ps(_mm256_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm256_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    }
#pragma GCC unroll 16
    for (int i = 0; i < 2; i++) { /* per 128-bit lane: that lane's sums of 4 keys */
        __m256d x = _mm256_castps_pd(pairs[2 * i]), y = _mm256_castps_pd(pairs[2 * i + 1]);
        quads[i] =
            _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(x, y)), _mm256_castpd_ps(_mm256_unpackhi_pd(x, y)));
    }
    return _mm256_add_ps(_mm256_permute2f128_ps(quads[0], quads[1], 0x20),
                         _mm256_permute2f128_ps(quads[0], quads[1], 0x31));
}

ALWAYS_INLINE float scores_body(float *scores, const float *q, const uint8_t *k, uint64_t row_bytes, int64_t n_pos,
                                int32_t head_dim, uint32_t kv_type, float scale) {
    const int32_t n_chunks = (head_dim + LANES - 1) / LANES, last_valid = head_dim - (n_chunks - 1) * LANES;
    const __m256 scale_v = _mm256_set1_ps(scale);
    __m256 max_v = _mm256_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n_pos; j += KEYS) {
        /* A last partial group repeats the last key: its lanes are not stored, and do not change the maximum. */
        const uint8_t *rows[KEYS];
#pragma GCC unroll 16
        for (int p = 0; p < KEYS; p++) rows[p] = k + (uint64_t)(j + p < n_pos ? j + p : n_pos - 1) * row_bytes;
        __m256 acc[KEYS];
#pragma GCC unroll 16
        for (int p = 0; p < KEYS; p++) acc[p] = _mm256_setzero_ps();
        int32_t c = 0;
        for (; c < n_chunks - 1 || (c < n_chunks && last_valid == LANES); c++) {
            const __m256 qc = _mm256_loadu_ps(q + (int64_t)c * LANES);
#pragma GCC unroll 8
            for (int p = 0; p < KEYS; p++) acc[p] = _mm256_fmadd_ps(qc, load_chunk(rows[p], c, LANES, kv_type), acc[p]);
        }
        if (c < n_chunks) {
            float q_padded[LANES] = {0};
            memcpy(q_padded, q + (int64_t)c * LANES, (size_t)last_valid * sizeof q_padded[0]);
            const __m256 qc = _mm256_loadu_ps(q_padded);
#pragma GCC unroll 16
            for (int p = 0; p < KEYS; p++) {
                acc[p] = _mm256_fmadd_ps(qc, load_chunk(rows[p], c, last_valid, kv_type), acc[p]);
            }
        }
        const __m256 s = _mm256_mul_ps(sum_each_of_8(acc), scale_v);
        max_v = _mm256_max_ps(max_v, s);
        if (n_pos - j >= KEYS) {
            _mm256_storeu_ps(scores + j, s);
        } else {
            float tail[KEYS];
            _mm256_storeu_ps(tail, s);
            memcpy(scores + j, tail, (size_t)(n_pos - j) * sizeof tail[0]);
        }
    }
    float lanes[LANES], max = -INFINITY;
    _mm256_storeu_ps(lanes, max_v);
#pragma GCC unroll 16
    for (int l = 0; l < LANES; l++) max = lanes[l] > max ? lanes[l] : max;
    return max;
}

static float scores_avx2(float *scores, const float *q, const uint8_t *k, uint64_t row_bytes, int64_t n_pos,
                         int32_t head_dim, uint32_t kv_type, float scale) {
    switch (kv_type) {
    case SNUG_TYPE_F16: return scores_body(scores, q, k, row_bytes, n_pos, head_dim, SNUG_TYPE_F16, scale);
    case SNUG_TYPE_F32: return scores_body(scores, q, k, row_bytes, n_pos, head_dim, SNUG_TYPE_F32, scale);
    default: return scores_body(scores, q, k, row_bytes, n_pos, head_dim, SNUG_TYPE_Q8_0, scale);
    }
}

/* e^x: the constants and polynomial of attention_avx512.c (Cephes expf). 2^n is built as the f32 with exponent
 * n + 127, so x is clamped to where n stays in the normal range [−126, 127]; below EXP_INPUT_MIN the result is 0
 * (e^x < 2^−126 there), above EXP_INPUT_MAX it saturates at e^EXP_INPUT_MAX (softmax inputs are <= 0). */
#define EXP_INPUT_MIN -87.3365447505531f /* ln 2^−126 */
#define EXP_INPUT_MAX 88.3762626647949f
#define EXP_LOG2E     1.44269504088896341f
#define EXP_LN2_HI    0.693359375f
#define EXP_LN2_LO    -2.12194440e-4f
#define F32_EXP_BIAS  127
#define F32_MANT_BITS 23
ALWAYS_INLINE __m256 exp8(__m256 x) {
    const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_INPUT_MIN), _CMP_LT_OQ);
    /* max/min return their second operand when either is NaN: x goes second, so a NaN passes through the clamp
     * (and the result is NaN) instead of becoming EXP_INPUT_MIN. */
    x = _mm256_min_ps(_mm256_set1_ps(EXP_INPUT_MAX), _mm256_max_ps(_mm256_set1_ps(EXP_INPUT_MIN), x));
    const __m256 n =
        _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(EXP_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2_LO), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(F32_EXP_BIAS));
    const __m256 pow2n = _mm256_castsi256_ps(_mm256_slli_epi32(biased, F32_MANT_BITS));
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(y, pow2n));
}

static float exp_sum_avx2(float *x, int64_t n, float shift) {
    const __m256 shift_v = _mm256_set1_ps(shift);
    __m256 sum = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), shift_v));
        _mm256_storeu_ps(x + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    float lanes[LANES], total = 0.0f;
    if (i < n) { /* the tail through a padded copy; its unused lanes are masked out of the sum */
        float tail[LANES] = {0};
        memcpy(tail, x + i, (size_t)(n - i) * sizeof tail[0]);
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(tail), shift_v));
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256 valid = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), lane));
        sum = _mm256_add_ps(sum, _mm256_and_ps(e, valid));
        _mm256_storeu_ps(tail, e);
        memcpy(x + i, tail, (size_t)(n - i) * sizeof tail[0]);
    }
    _mm256_storeu_ps(lanes, sum);
#pragma GCC unroll 16
    for (int l = 0; l < LANES; l++) total += lanes[l];
    return total;
}

/* out chunks c0 … c0 + nc − 1 (full chunks; nc <= SLAB, a constant once inlined) = out_scale · out + Σ_j p[j] · v_j
 * (out not read when out_scale is 0). */
ALWAYS_INLINE void weighted_slab(float *out, const float *p, const uint8_t *v, uint64_t row_bytes, int64_t n_pos,
                                 int32_t c0, int nc, uint32_t kv_type, float out_scale) {
    __m256 even[SLAB], odd[SLAB];
#pragma GCC unroll 16
    for (int c = 0; c < nc; c++) {
        odd[c] = _mm256_setzero_ps();
        even[c] = out_scale == 0.0f
                      ? _mm256_setzero_ps()
                      : _mm256_mul_ps(_mm256_loadu_ps(out + (int64_t)(c0 + c) * LANES), _mm256_set1_ps(out_scale));
    }
    int64_t j = 0;
    for (; j + 2 <= n_pos; j += 2) {
        const uint8_t *v0 = v + (uint64_t)j * row_bytes, *v1 = v0 + row_bytes;
        const __m256 p0 = _mm256_set1_ps(p[j]), p1 = _mm256_set1_ps(p[j + 1]);
#pragma GCC unroll 16
        for (int c = 0; c < nc; c++) {
            even[c] = _mm256_fmadd_ps(p0, load_chunk(v0, c0 + c, LANES, kv_type), even[c]);
            odd[c] = _mm256_fmadd_ps(p1, load_chunk(v1, c0 + c, LANES, kv_type), odd[c]);
        }
    }
    if (j < n_pos) {
        const uint8_t *v0 = v + (uint64_t)j * row_bytes;
        const __m256 p0 = _mm256_set1_ps(p[j]);
#pragma GCC unroll 16
        for (int c = 0; c < nc; c++) even[c] = _mm256_fmadd_ps(p0, load_chunk(v0, c0 + c, LANES, kv_type), even[c]);
    }
#pragma GCC unroll 16
    for (int c = 0; c < nc; c++) {
        _mm256_storeu_ps(out + (int64_t)(c0 + c) * LANES, _mm256_add_ps(even[c], odd[c]));
    }
}

ALWAYS_INLINE void weighted_body(float *out, const float *p, const uint8_t *v, uint64_t row_bytes, int64_t n_pos,
                                 int32_t head_dim, uint32_t kv_type, float out_scale) {
    const int32_t full = head_dim / LANES;
    int32_t c0 = 0;
    for (; c0 + SLAB <= full; c0 += SLAB) weighted_slab(out, p, v, row_bytes, n_pos, c0, SLAB, kv_type, out_scale);
    switch (full - c0) {
    case 1: weighted_slab(out, p, v, row_bytes, n_pos, c0, 1, kv_type, out_scale); break;
    case 2: weighted_slab(out, p, v, row_bytes, n_pos, c0, 2, kv_type, out_scale); break;
    case 3: weighted_slab(out, p, v, row_bytes, n_pos, c0, 3, kv_type, out_scale); break;
    default: break;
    }
    if (full * LANES < head_dim) { /* the last partial chunk (f16 / f32 head sizes that are no multiple of 8) */
        const int32_t n_valid = head_dim - full * LANES;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t j = 0; j < n_pos; j++) {
            acc = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), load_chunk(v + (uint64_t)j * row_bytes, full, n_valid, kv_type),
                                  acc);
        }
        float lanes[LANES];
        _mm256_storeu_ps(lanes, acc);
        for (int32_t i = 0; i < n_valid; i++) {
            float *o = out + (int64_t)full * LANES + i;
            *o = out_scale == 0.0f ? lanes[i] : out_scale * *o + lanes[i];
        }
    }
}

static void weighted_sum_avx2(float *out, const float *p, const uint8_t *v, uint64_t row_bytes, int64_t n_pos,
                              int32_t head_dim, uint32_t kv_type, float out_scale) {
    switch (kv_type) {
    case SNUG_TYPE_F16: weighted_body(out, p, v, row_bytes, n_pos, head_dim, SNUG_TYPE_F16, out_scale); break;
    case SNUG_TYPE_F32: weighted_body(out, p, v, row_bytes, n_pos, head_dim, SNUG_TYPE_F32, out_scale); break;
    default: weighted_body(out, p, v, row_bytes, n_pos, head_dim, SNUG_TYPE_Q8_0, out_scale); break;
    }
}

const snug_attention_kernels snug_attention_kernels_avx2 = {scores_avx2, exp_sum_avx2, weighted_sum_avx2};
#endif
