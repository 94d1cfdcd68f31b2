/* legacy_avx512.c — Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 vec_dot with AVX-512 F/BW/VL (see legacy_scalar.c for the math).
 *
 * Two blocks per 512-bit register: their weight quants are widened side by side (block 0 in bytes 0–31, block 1 in
 * 32–63), so after vpmaddubsw / vpmaddwd int32 lanes 0–7 hold block 0's partial sums and lanes 8–15 block 1's; each
 * half is scaled by its own d_w · d_a (a vpermps of the group's scale vector). The Q5 fifth bits become a 64-bit
 * mask register, one bit per byte. Only AVX512F/BW instructions: no VNNI (vpdpbusd), so this runs on Skylake-X too;
 * vpmaddubsw + vpmaddwd do what vpdpbusd would, exactly. The int16 bounds of legacy_x86.h hold unchanged.
 * The activation encoders are AVX2's (laid under this table by dispatch.c): they are not on the hot path.
 */
#include "cpu/kernels.h"

#if defined(__x86_64__)
#include "cpu/legacy_x86.h"

#define ACCUMULATORS 4 /* independent FMA chains */

/* The nibbles of two blocks → 64 bytes 0…15: [b0 low, b0 high, b1 low, b1 high] in 128-bit lanes. */
LEGACY_INLINE __m512i nibbles2(const uint8_t *q0, const uint8_t *q1) {
    __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)q0));
    v = _mm512_mask_broadcast_i32x4(v, 0xff00, _mm_loadu_si128((const __m128i *)q1));
    v = _mm512_srlv_epi64(v, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0f));
}

LEGACY_INLINE __m512i load2x32(const uint8_t *p0, const uint8_t *p1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(legacy_load32(p0)), legacy_load32(p1), 1);
}

/* Bit j of the fifth-bit words of two blocks, as one bit per byte of the 64-byte layout above. */
LEGACY_INLINE __mmask64 fifth_bits2(const uint8_t *qh0, const uint8_t *qh1) {
    return _cvtu64_mask64((uint64_t)legacy_load_u32(qh0) | (uint64_t)legacy_load_u32(qh1) << 32);
}

LEGACY_INLINE __m512i sum_pairs2(__m512i p) {
    return _mm512_madd_epi16(p, _mm512_set1_epi16(1));
}

/* Each returns 16 int32: lanes 0–7 sum to block 0's isum, 8–15 to block 1's. Same int16 bounds as legacy_x86.h. */
LEGACY_INLINE __m512i q4_0_pair(const uint8_t *w, int w_bytes, const uint8_t *a, int a_bytes) {
    __m512i qa = load2x32(a + 2, a + a_bytes + 2);
    __m512i p = _mm512_sub_epi16(_mm512_maddubs_epi16(nibbles2(w + 2, w + w_bytes + 2), qa),
                                 _mm512_maddubs_epi16(_mm512_set1_epi8(8), qa));
    return sum_pairs2(p);
}

LEGACY_INLINE __m512i q4_1_pair(const uint8_t *w, int w_bytes, const uint8_t *a, int a_bytes) {
    __m512i qa = load2x32(a + 4, a + a_bytes + 4);
    return sum_pairs2(_mm512_maddubs_epi16(nibbles2(w + 4, w + w_bytes + 4), qa));
}

/* Σ (q − 16) · a = Σ nibble·a − Σ 16·(1 − bit)·a, as in legacy_x86.h. */
LEGACY_INLINE __m512i q5_0_pair(const uint8_t *w, int w_bytes, const uint8_t *a, int a_bytes) {
    __m512i qa = load2x32(a + 2, a + a_bytes + 2);
    __mmask64 clear = _knot_mask64(fifth_bits2(w + 2, w + w_bytes + 2));
    __m512i p = _mm512_sub_epi16(_mm512_maddubs_epi16(nibbles2(w + 6, w + w_bytes + 6), qa),
                                 _mm512_maddubs_epi16(_mm512_maskz_mov_epi8(clear, _mm512_set1_epi8(16)), qa));
    return sum_pairs2(p);
}

LEGACY_INLINE __m512i q5_1_pair(const uint8_t *w, int w_bytes, const uint8_t *a, int a_bytes) {
    __m512i qa = load2x32(a + 4, a + a_bytes + 4);
    __m512i nib = nibbles2(w + 8, w + w_bytes + 8);
    __m512i q = _mm512_mask_add_epi8(nib, fifth_bits2(w + 4, w + w_bytes + 4), nib, _mm512_set1_epi8(16));
    return sum_pairs2(_mm512_maddubs_epi16(q, qa));
}

/* The sign trick without vpsignb (absent from AVX-512): |w| · (a negated where w < 0). */
LEGACY_INLINE __m512i q8_0_pair(const uint8_t *w, int w_bytes, const uint8_t *a, int a_bytes) {
    __m512i qw = load2x32(w + 2, w + w_bytes + 2), qa = load2x32(a + 2, a + a_bytes + 2);
    __m512i signed_a = _mm512_mask_sub_epi8(qa, _mm512_movepi8_mask(qw), _mm512_setzero_si512(), qa);
    return sum_pairs2(_mm512_maddubs_epi16(_mm512_abs_epi8(qw), signed_a));
}

typedef __m512i (*pair_dot_fn)(const uint8_t *w, int w_bytes, const uint8_t *a, int a_bytes);
typedef __m256i (*block_dot_fn)(const uint8_t *w, const uint8_t *a);

/* As dot_blocks of legacy_avx2.c, two blocks per step; the blocks after the last full group go one at a time. */
LEGACY_INLINE float dot_blocks(int64_t nb, const uint8_t *w, int w_bytes, const uint8_t *a, int a_bytes,
                               pair_dot_fn pair, block_dot_fn block, bool with_min) {
    __m512 acc[ACCUMULATORS], min_acc = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_setzero_ps();
    const int step = with_min ? 2 : 1; /* lane k · step of the scale vector is block k's d_w · d_a */
    int64_t b = 0;
    for (; b + LEGACY_GROUP <= nb; b += LEGACY_GROUP, w += LEGACY_GROUP * w_bytes, a += LEGACY_GROUP * a_bytes) {
        __m512 scale;
        if (with_min) {
            /* [d0 d_a0, m0 s0, d1 d_a1, m1 s1, …, d7 d_a7, m7 s7]: odd lanes summed as they are. */
            __m256 lo = _mm256_mul_ps(legacy_f16_pairs4(w, w_bytes), legacy_f16_pairs4(a, a_bytes));
            __m256 hi = _mm256_mul_ps(legacy_f16_pairs4(w + 4 * w_bytes, w_bytes),
                                      legacy_f16_pairs4(a + 4 * a_bytes, a_bytes));
            scale = _mm512_castpd_ps(
                _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
            min_acc = _mm512_add_ps(min_acc, scale);
        } else {
            __m256 d = _mm256_mul_ps(legacy_f16_scales8(w, w_bytes), legacy_f16_scales8(a, a_bytes));
            scale = _mm512_castps256_ps512(d);
        }
#pragma GCC unroll 4
        for (int k = 0; k < LEGACY_GROUP; k += 2) {
            /* Lanes 0–7 take block k's scale, lanes 8–15 block k + 1's. */
            __m512i index = _mm512_set_epi32((k + 1) * step, (k + 1) * step, (k + 1) * step, (k + 1) * step,
                                             (k + 1) * step, (k + 1) * step, (k + 1) * step, (k + 1) * step,
                                             k * step, k * step, k * step, k * step, k * step, k * step, k * step,
                                             k * step);
            __m512 p = _mm512_cvtepi32_ps(pair(w + k * w_bytes, w_bytes, a + k * a_bytes, a_bytes));
            acc[(k / 2) % ACCUMULATORS] =
                _mm512_fmadd_ps(p, _mm512_permutexvar_ps(index, scale), acc[(k / 2) % ACCUMULATORS]);
        }
    }
    float sum = 0.0f;
    if (with_min) sum = _mm512_mask_reduce_add_ps(0xaaaa, min_acc);
    __m256 tail = _mm256_setzero_ps();
    for (; b < nb; b++, w += w_bytes, a += a_bytes) {
        __m256 d = _mm256_set1_ps(legacy_load_f16(w) * legacy_load_f16(a));
        tail = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block(w, a)), d, tail);
        if (with_min) sum += legacy_load_f16(w + 2) * legacy_load_f16(a + 2);
    }
#pragma GCC unroll 8
    for (int i = 1; i < ACCUMULATORS; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]) + legacy_hsum(tail) + sum;
}

static void vec_dot_q4_0(int64_t n, float *s, const void *w, const void *a) {
    *s = dot_blocks(n / SNUG_QK4_0, w, SNUG_Q4_0_BLOCK_BYTES, a, SNUG_Q8_0_BLOCK_BYTES, q4_0_pair, legacy_q4_0_block,
                    false);
}

static void vec_dot_q4_1(int64_t n, float *s, const void *w, const void *a) {
    *s = dot_blocks(n / SNUG_QK4_1, w, SNUG_Q4_1_BLOCK_BYTES, a, SNUG_Q8_1_BLOCK_BYTES, q4_1_pair, legacy_q4_1_block,
                    true);
}

static void vec_dot_q5_0(int64_t n, float *s, const void *w, const void *a) {
    *s = dot_blocks(n / SNUG_QK5_0, w, SNUG_Q5_0_BLOCK_BYTES, a, SNUG_Q8_0_BLOCK_BYTES, q5_0_pair, legacy_q5_0_block,
                    false);
}

static void vec_dot_q5_1(int64_t n, float *s, const void *w, const void *a) {
    *s = dot_blocks(n / SNUG_QK5_1, w, SNUG_Q5_1_BLOCK_BYTES, a, SNUG_Q8_1_BLOCK_BYTES, q5_1_pair, legacy_q5_1_block,
                    true);
}

static void vec_dot_q8_0(int64_t n, float *s, const void *w, const void *a) {
    *s = dot_blocks(n / SNUG_QK8_0, w, SNUG_Q8_0_BLOCK_BYTES, a, SNUG_Q8_0_BLOCK_BYTES, q8_0_pair, legacy_q8_0_block,
                    false);
}

/* Only vec_dot changes: act_type and quantize_act stay those of the AVX2 table this one is laid over. */
void snug_register_legacy_avx512(snug_kernel_table t) {
    t[SNUG_TYPE_Q4_0].vec_dot = vec_dot_q4_0;
    t[SNUG_TYPE_Q4_1].vec_dot = vec_dot_q4_1;
    t[SNUG_TYPE_Q5_0].vec_dot = vec_dot_q5_0;
    t[SNUG_TYPE_Q5_1].vec_dot = vec_dot_q5_1;
    t[SNUG_TYPE_Q8_0].vec_dot = vec_dot_q8_0;
}
#endif
