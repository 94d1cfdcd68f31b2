/* attention_avx512.c — the attention kernels of attention.h on AVX-512 (F/BW/VL/DQ, with F16C).
 *
 * Scores: 16 keys per iteration, each with its own register of partial sums over the head's 16-element chunks
 * (f16 keys converted with vcvtph2ps, q8_0 keys widened and scaled as snug_dequantize_row does), the 16 registers
 * then folded into one register of 16 scores by a transpose of adds (45 shuffles and adds, where 16 horizontal
 * reductions take ~130). A last partial group of keys repeats the last key and stores only the valid lanes, so every
 * score comes out of the same instructions wherever it falls. A head size that is no multiple of 16 reads its last
 * chunk through a mask (masked loads do not fault beyond the row).
 * Softmax: e^x by Cephes' range reduction (x = n·ln2 + r, |r| <= ln2/2, ln2 split in two so n·ln2 is exact) and
 * degree-7 polynomial, then vscalefps for the 2^n (which also gives subnormals and 0 correctly).
 * Values: the output row lives in registers, 4 chunks at a time, over a block of positions, two per iteration
 * into two sets of accumulators, reading f16 / f32 / q8_0 values directly.
 */
#include "cpu/attention.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "cpu/half.h"
#include "cpu/quant.h"
#include "snug.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

enum {
    LANES = 16, /* floats in a register */
    KEYS = 16,  /* keys scored per iteration: one register of scores */
    SLAB = 4,   /* value chunks accumulated in registers at a time (2 sets: 8 of the 32 registers) */
};
#define FULL_MASK ((__mmask16)0xFFFF)

/* Chunk c (elements 16c … 16c + 15) of one head slice as f32; only the lanes in `mask` are read (others are 0). */
ALWAYS_INLINE __m512 load_chunk(const uint8_t *row, int32_t c, __mmask16 mask, uint32_t kv_type) {
    switch (kv_type) {
    case SNUG_TYPE_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, row + (size_t)c * LANES * 2));
    case SNUG_TYPE_F32: return _mm512_maskz_loadu_ps(mask, row + (size_t)c * LANES * 4);
    default: { /* Q8_0: chunk c is half c % 2 of block c / 2 (head sizes are whole blocks: mask is full) */
        const uint8_t *block = row + (size_t)(c / 2) * SNUG_Q8_0_BLOCK_BYTES;
        uint16_t d_bits;
        memcpy(&d_bits, block, sizeof d_bits);
        __m128i qs = _mm_loadu_si128((const __m128i *)(const void *)(block + 2 + (c % 2) * LANES));
        return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(qs)), _mm512_set1_ps(snug_f16_to_f32(d_bits)));
    }
    }
}

/* Lane p of the result = the sum of the 16 lanes of a[p]. */
ALWAYS_INLINE __m512 sum_each_of_16(const __m512 *a) {
    __m512 pairs[8], quads[4], halves[2];
#pragma GCC unroll 16
    for (int i = 0; i < 8; i++) { /* per 128-bit lane: [a0 + a2, b0 + b2, a1 + a3, b1 + b3] */
        pairs[i] =
            _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    }
#pragma GCC unroll 16
    for (int i = 0; i < 4; i++) { /* per 128-bit lane: that lane's sums of 4 keys */
        __m512d x = _mm512_castps_pd(pairs[2 * i]), y = _mm512_castps_pd(pairs[2 * i + 1]);
        quads[i] =
            _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
#pragma GCC unroll 16
    for (int i = 0; i < 2; i++) { /* 128-bit lanes: [keys 0-3 of quads[2i], lanes 0+1; lanes 2+3; same for 2i+1] */
        halves[i] = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2 * i], quads[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                                  _mm512_shuffle_f32x4(quads[2 * i], quads[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    }
    return _mm512_add_ps(_mm512_shuffle_f32x4(halves[0], halves[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(halves[0], halves[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

ALWAYS_INLINE __mmask16 chunk_mask(int32_t c, int32_t n_chunks, int32_t head_dim) {
    const int32_t rest = head_dim % LANES;
    return c == n_chunks - 1 && rest ? (__mmask16)((1u << rest) - 1) : FULL_MASK;
}

ALWAYS_INLINE float scores_body(float *scores, const float *q, const uint8_t *k, uint64_t row_bytes, int64_t n_pos,
                                int32_t head_dim, uint32_t kv_type, float scale) {
    const int32_t n_chunks = (head_dim + LANES - 1) / LANES;
    const __m512 scale_v = _mm512_set1_ps(scale);
    __m512 max_v = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n_pos; j += KEYS) {
        const uint8_t *rows[KEYS];
#pragma GCC unroll 16
        for (int p = 0; p < KEYS; p++) rows[p] = k + (uint64_t)(j + p < n_pos ? j + p : n_pos - 1) * row_bytes;
        __m512 acc[KEYS];
#pragma GCC unroll 16
        for (int p = 0; p < KEYS; p++) acc[p] = _mm512_setzero_ps();
        for (int32_t c = 0; c < n_chunks; c++) {
            const __mmask16 mask = chunk_mask(c, n_chunks, head_dim);
            const __m512 qc = _mm512_maskz_loadu_ps(mask, q + (int64_t)c * LANES);
#pragma GCC unroll 16
            for (int p = 0; p < KEYS; p++) acc[p] = _mm512_fmadd_ps(qc, load_chunk(rows[p], c, mask, kv_type), acc[p]);
        }
        const __m512 s = _mm512_mul_ps(sum_each_of_16(acc), scale_v);
        const __mmask16 valid = n_pos - j >= KEYS ? FULL_MASK : (__mmask16)((1u << (n_pos - j)) - 1);
        _mm512_mask_storeu_ps(scores + j, valid, s);
        max_v = _mm512_mask_max_ps(max_v, valid, max_v, s);
    }
    return _mm512_reduce_max_ps(max_v);
}

static float scores_avx512(float *scores, const float *q, const uint8_t *k, uint64_t row_bytes, int64_t n_pos,
                           int32_t head_dim, uint32_t kv_type, float scale) {
    switch (kv_type) {
    case SNUG_TYPE_F16: return scores_body(scores, q, k, row_bytes, n_pos, head_dim, SNUG_TYPE_F16, scale);
    case SNUG_TYPE_F32: return scores_body(scores, q, k, row_bytes, n_pos, head_dim, SNUG_TYPE_F32, scale);
    default: return scores_body(scores, q, k, row_bytes, n_pos, head_dim, SNUG_TYPE_Q8_0, scale);
    }
}

/* e^x (attention.h: SNUG_ATTENTION_EXP_REL_ERROR). Cephes expf's constants: ln2 = EXP_LN2_HI + EXP_LN2_LO with
 * EXP_LN2_HI exact in 9 bits, so n · EXP_LN2_HI is exact for |n| < 2^15; the polynomial is Cephes' minimax fit of
 * (e^r − 1 − r) / r² on [−ln2/2, ln2/2]. Inputs below EXP_INPUT_MIN give 0 (e^−104 is below the smallest subnormal),
 * above EXP_INPUT_MAX +∞. */
#define EXP_INPUT_MIN -104.0f
#define EXP_INPUT_MAX 88.7228394f
#define EXP_LOG2E     1.44269504088896341f
#define EXP_LN2_HI    0.693359375f
#define EXP_LN2_LO    -2.12194440e-4f
ALWAYS_INLINE __m512 exp16(__m512 x) {
    /* max/min return their second operand when either is NaN: x goes second, so a NaN passes through the clamp
     * (and the result is NaN) instead of becoming EXP_INPUT_MIN. */
    x = _mm512_min_ps(_mm512_set1_ps(EXP_INPUT_MAX), _mm512_max_ps(_mm512_set1_ps(EXP_INPUT_MIN), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(EXP_LOG2E)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(EXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(EXP_LN2_LO), r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

static float exp_sum_avx512(float *x, int64_t n, float shift) {
    const __m512 shift_v = _mm512_set1_ps(shift);
    __m512 sum = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), shift_v));
        _mm512_storeu_ps(x + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (i < n) {
        const __mmask16 valid = (__mmask16)((1u << (n - i)) - 1);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(valid, x + i), shift_v));
        _mm512_mask_storeu_ps(x + i, valid, e);
        sum = _mm512_mask_add_ps(sum, valid, sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

/* out chunks c0 … c0 + nc − 1 (nc <= SLAB, a constant once inlined) = out_scale · out + Σ_j p[j] · v_j (out not
 * read when out_scale is 0). */
ALWAYS_INLINE void weighted_slab(float *out, const float *p, const uint8_t *v, uint64_t row_bytes, int64_t n_pos,
                                 int32_t c0, int nc, int32_t n_chunks, int32_t head_dim, uint32_t kv_type,
                                 float out_scale) {
    __m512 even[SLAB], odd[SLAB];
    __mmask16 mask[SLAB];
#pragma GCC unroll 16
    for (int c = 0; c < nc; c++) {
        mask[c] = chunk_mask(c0 + c, n_chunks, head_dim);
        odd[c] = _mm512_setzero_ps();
        even[c] = out_scale == 0.0f ? _mm512_setzero_ps()
                                    : _mm512_mul_ps(_mm512_maskz_loadu_ps(mask[c], out + (int64_t)(c0 + c) * LANES),
                                                    _mm512_set1_ps(out_scale));
    }
    int64_t j = 0;
    for (; j + 2 <= n_pos; j += 2) {
        const uint8_t *v0 = v + (uint64_t)j * row_bytes, *v1 = v0 + row_bytes;
        const __m512 p0 = _mm512_set1_ps(p[j]), p1 = _mm512_set1_ps(p[j + 1]);
#pragma GCC unroll 16
        for (int c = 0; c < nc; c++) {
            even[c] = _mm512_fmadd_ps(p0, load_chunk(v0, c0 + c, mask[c], kv_type), even[c]);
            odd[c] = _mm512_fmadd_ps(p1, load_chunk(v1, c0 + c, mask[c], kv_type), odd[c]);
        }
    }
    if (j < n_pos) {
        const uint8_t *v0 = v + (uint64_t)j * row_bytes;
        const __m512 p0 = _mm512_set1_ps(p[j]);
#pragma GCC unroll 16
        for (int c = 0; c < nc; c++) even[c] = _mm512_fmadd_ps(p0, load_chunk(v0, c0 + c, mask[c], kv_type), even[c]);
    }
#pragma GCC unroll 16
    for (int c = 0; c < nc; c++) {
        _mm512_mask_storeu_ps(out + (int64_t)(c0 + c) * LANES, mask[c], _mm512_add_ps(even[c], odd[c]));
    }
}

ALWAYS_INLINE void weighted_body(float *out, const float *p, const uint8_t *v, uint64_t row_bytes, int64_t n_pos,
                                 int32_t head_dim, uint32_t kv_type, float out_scale) {
    const int32_t n_chunks = (head_dim + LANES - 1) / LANES;
    int32_t c0 = 0;
    for (; c0 + SLAB <= n_chunks; c0 += SLAB) {
        weighted_slab(out, p, v, row_bytes, n_pos, c0, SLAB, n_chunks, head_dim, kv_type, out_scale);
    }
    switch (n_chunks - c0) {
    case 1: weighted_slab(out, p, v, row_bytes, n_pos, c0, 1, n_chunks, head_dim, kv_type, out_scale); break;
    case 2: weighted_slab(out, p, v, row_bytes, n_pos, c0, 2, n_chunks, head_dim, kv_type, out_scale); break;
    case 3: weighted_slab(out, p, v, row_bytes, n_pos, c0, 3, n_chunks, head_dim, kv_type, out_scale); break;
    default: break;
    }
}

static void weighted_sum_avx512(float *out, const float *p, const uint8_t *v, uint64_t row_bytes, int64_t n_pos,
                                int32_t head_dim, uint32_t kv_type, float out_scale) {
    switch (kv_type) {
    case SNUG_TYPE_F16: weighted_body(out, p, v, row_bytes, n_pos, head_dim, SNUG_TYPE_F16, out_scale); break;
    case SNUG_TYPE_F32: weighted_body(out, p, v, row_bytes, n_pos, head_dim, SNUG_TYPE_F32, out_scale); break;
    default: weighted_body(out, p, v, row_bytes, n_pos, head_dim, SNUG_TYPE_Q8_0, out_scale); break;
    }
}

const snug_attention_kernels snug_attention_kernels_avx512 = {scores_avx512, exp_sum_avx512, weighted_sum_avx512};
#endif
