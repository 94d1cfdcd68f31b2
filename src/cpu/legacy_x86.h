/* legacy_x86.h — AVX2 building blocks shared by legacy_avx2.c and legacy_avx512.c (which compiles them with its
 * AVX-512 flags for the blocks its 2-block loop leaves over). Included only by those two files.
 *
 * Each legacy_*_block function returns one block's integer dot product Σ q_w · q_a as 8 int32 partial sums (their
 * total is the scalar reference's isum, exactly). Weights enter vpmaddubsw as the unsigned operand and activations
 * as the signed one; the note at each type says why no int16 pair sum can saturate. Activations come from the Q8
 * encoders, so |q_a| ≤ 127 (q = round(x / d) with d = max|x| / 127); the bounds below allow 128 where they can.
 */
#ifndef SNUG_CPU_LEGACY_X86_H
#define SNUG_CPU_LEGACY_X86_H

#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "cpu/quant.h"

#define LEGACY_INLINE static inline __attribute__((always_inline))
#define LEGACY_GROUP 8 /* blocks whose scales are converted together */

LEGACY_INLINE uint16_t legacy_load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v); /* x86 is little-endian, as the format */
    return v;
}

LEGACY_INLINE uint32_t legacy_load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

LEGACY_INLINE float legacy_load_f16(const uint8_t *p) {
    return _cvtsh_ss(legacy_load_u16(p));
}

/* The f16 scales of LEGACY_GROUP blocks (at p, p + stride, …), widened to f32 with one vcvtph2ps. They are packed
 * four to a 64-bit integer register first: the integer ALUs are idle in these loops, the vector ones are not. */
LEGACY_INLINE __m256 legacy_f16_scales8(const uint8_t *p, int stride) {
    uint64_t lo = 0, hi = 0;
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        lo |= (uint64_t)legacy_load_u16(p + k * stride) << (16 * k);
        hi |= (uint64_t)legacy_load_u16(p + (k + 4) * stride) << (16 * k);
    }
    __asm__("" : "+r"(lo), "+r"(hi)); /* keep the packing in integer registers (not re-vectorized by the compiler) */
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)hi, (long long)lo));
}

/* The f16 pairs (d, m) or (d, s) at the start of 4 blocks, widened: [d0, m0, d1, m1, d2, m2, d3, m3]. */
LEGACY_INLINE __m256 legacy_f16_pairs4(const uint8_t *p, int stride) {
    uint64_t lo = legacy_load_u32(p) | (uint64_t)legacy_load_u32(p + stride) << 32;
    uint64_t hi = legacy_load_u32(p + 2 * stride) | (uint64_t)legacy_load_u32(p + 3 * stride) << 32;
    __asm__("" : "+r"(lo), "+r"(hi));
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)hi, (long long)lo));
}

/* 16 bytes of nibbles → 32 bytes 0…15 in element order (low nibbles are elements 0–15, high ones 16–31): the same
 * 16 bytes in both lanes, the upper lane shifted right by 4 (bits shifted in from the next byte are masked off). */
LEGACY_INLINE __m256i legacy_nibbles(const uint8_t *q) {
    __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q));
    both = _mm256_srlv_epi64(both, _mm256_set_epi64x(4, 4, 0, 0));
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

/* The fifth bits of a Q5 block as bytes: 0xff where bit j of qh is set, else 0. Byte j takes byte j / 8 of qh (both
 * 128-bit lanes hold qh; lane 1 picks bytes 2 and 3), then tests bit j % 8. */
LEGACY_INLINE __m256i legacy_fifth_bits(const uint8_t *qh) {
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i bit = _mm256_set1_epi64x((int64_t)0x8040201008040201ull);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int32_t)legacy_load_u32(qh)), spread);
    return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
}

/* Pairs of int16 → 8 int32 sums. */
LEGACY_INLINE __m256i legacy_sum_pairs(__m256i p) {
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

LEGACY_INLINE __m256i legacy_load32(const uint8_t *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}

/* Q4_0 · Q8_0: Σ (q − 8) · a = Σ q·a − Σ 8·a, both through vpmaddubsw with q in 0…15: pairs at most 2·15·128 = 3840
 * and 2·8·128 = 2048, their difference at most 5888 in magnitude. */
LEGACY_INLINE __m256i legacy_q4_0_block(const uint8_t *w, const uint8_t *a) {
    __m256i qa = legacy_load32(a + 2);
    __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(legacy_nibbles(w + 2), qa),
                                 _mm256_maddubs_epi16(_mm256_set1_epi8(8), qa));
    return legacy_sum_pairs(p);
}

/* Q4_1 · Q8_1: q in 0…15 times a: pairs at most 2·15·128 = 3840. */
LEGACY_INLINE __m256i legacy_q4_1_block(const uint8_t *w, const uint8_t *a) {
    return legacy_sum_pairs(_mm256_maddubs_epi16(legacy_nibbles(w + 4), legacy_load32(a + 4)));
}

/* Q5_0 · Q8_0: with q = nibble + 16·bit, Σ (q − 16) · a = Σ nibble·a − Σ 16·(1 − bit)·a: pairs at most 3840 and
 * 2·16·128 = 4096, the difference at most 7936. */
LEGACY_INLINE __m256i legacy_q5_0_block(const uint8_t *w, const uint8_t *a) {
    __m256i qa = legacy_load32(a + 2);
    __m256i sixteen_where_clear = _mm256_andnot_si256(legacy_fifth_bits(w + 2), _mm256_set1_epi8(16));
    __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(legacy_nibbles(w + 6), qa),
                                 _mm256_maddubs_epi16(sixteen_where_clear, qa));
    return legacy_sum_pairs(p);
}

/* Q5_1 · Q8_1: q = nibble | 16·bit in 0…31 times a: pairs at most 2·31·128 = 7936. */
LEGACY_INLINE __m256i legacy_q5_1_block(const uint8_t *w, const uint8_t *a) {
    __m256i q = _mm256_or_si256(legacy_nibbles(w + 8),
                                _mm256_and_si256(legacy_fifth_bits(w + 4), _mm256_set1_epi8(16)));
    return legacy_sum_pairs(_mm256_maddubs_epi16(q, legacy_load32(a + 4)));
}

/* Q8_0 · Q8_0, both signed: the sign trick moves w's sign onto a, |w| · (±a). |w| ≤ 128 (−128 reads as the unsigned
 * byte 128) and |a| ≤ 127, so a pair is at most 2·128·127 = 32512 < 32767. (a = −128 would break the sign flip, and
 * the Q8 encoders never produce it.) */
LEGACY_INLINE __m256i legacy_q8_0_block(const uint8_t *w, const uint8_t *a) {
    __m256i qw = legacy_load32(w + 2), qa = legacy_load32(a + 2);
    return legacy_sum_pairs(_mm256_maddubs_epi16(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qa, qw)));
}

LEGACY_INLINE float legacy_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#endif
#endif
