/* kquant_avx2.c — AVX2 dot products of the K-quants (Q2_K … Q6_K) with Q8_K activations, and the Q8_K encoder.
 *
 * The shape every kernel shares: one 256-bit register holds 32 weight levels as unsigned bytes, laid out so that
 * they line up with 32 consecutive int8 activations (see the bit placement in quant_k.c). vpmaddubsw multiplies
 * them and adds neighbouring pairs into 16 int16; vpmaddwd multiplies those by the sub-block scales (int16, one per
 * 128-bit lane for the 16-element sub-blocks, one per register for the 32-element ones) and adds pairs into 8 int32.
 * The int32 sums of a super-block are converted to float once and multiplied by d · d_a; the constant parts of the
 * levels (Q3_K's −4, Q6_K's −32) and the mins (Q2_K, Q4_K, Q5_K) come from the activations' bsums, one vpmaddwd per
 * super-block. So the integer sums equal kquant_scalar.c's exactly; only the float order differs.
 *
 * int16 safety of vpmaddubsw (it saturates): a pair is at most 2 · qmax · 128 with qmax the largest unsigned level:
 * Q2_K 3 → 768, Q3_K 7 → 1792, Q4_K 15 → 3840, Q5_K 31 → 7936, Q6_K 63 → 16128, all below 32767. Hence Q3_K and
 * Q6_K use the unsigned levels (0..7, 0..63) and subtract the offset through the bsums rather than sign tricks.
 *
 * Q4_K and Q6_K also have dot_tile (prefill, see "register tiles" below): the same arithmetic, with each decoded
 * weight register shared by up to 4 tokens.
 */
#include "cpu/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "cpu/quant_k.h"

/* f16 → f32 with F16C (one instruction; the same value as snug_f16_to_f32, exactly). */
static inline float load_f16(const uint8_t p[2]) { return _cvtsh_ss(snug_load_u16(p)); }

static inline float hsum_ps(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

static inline float hsum_ps128(__m128 x) {
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

static inline float hmax_ps(__m256 v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

/* ---------------------------------------------------------------- Q8_K encoder */

/* Bit-identical to snug_quantize_row_q8_k: the same amax (max is exact in any order), the same two divisions, one
 * float product per element, and cvtps2dq rounds half to even like rintf. */
static void quantize_q8_k_avx2(const float *x, void *dst, int64_t n) {
    snug_block_q8_k *b = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i ones8 = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1);
    const __m256i byte_order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, x += SNUG_QK_K) {
        __m256 vmax = _mm256_setzero_ps();
        for (int k = 0; k < SNUG_QK_K; k += 8)
            vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
        float amax = hmax_ps(vmax);
        if (amax < SNUG_Q8_K_TINY) amax = 0.0f;
        float d = amax / 127.0f;
        float inverse = amax != 0.0f ? 127.0f / amax : 0.0f;
        memcpy(b->d, &d, sizeof d);
        const __m256 mul = _mm256_set1_ps(inverse);
        __m256i sums4[8]; /* per 32 levels: 8 int32 sums of 4 neighbours */
        for (int g = 0; g < 8; g++) {
            const float *xg = x + 32 * g;
            __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg), mul));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + 8), mul));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + 16), mul));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + 24), mul));
            /* The packs interleave 128-bit lanes; one dword permute restores element order. */
            __m256i q = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
            q = _mm256_permutevar8x32_epi32(q, byte_order);
            _mm256_storeu_si256((__m256i *)(b->qs + 32 * g), q);
            sums4[g] = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16);
        }
        /* Two rounds of hadd turn four registers of sums of 4 into lane 0: bsums 0, 2, 4, 6 (of those 64 levels'
         * first halves) and lane 1: bsums 1, 3, 5, 7; the packs and unpacks put all 16 in order. */
        __m256i even_odd_lo =
            _mm256_hadd_epi32(_mm256_hadd_epi32(sums4[0], sums4[1]), _mm256_hadd_epi32(sums4[2], sums4[3]));
        __m256i even_odd_hi =
            _mm256_hadd_epi32(_mm256_hadd_epi32(sums4[4], sums4[5]), _mm256_hadd_epi32(sums4[6], sums4[7]));
        __m256i packed = _mm256_packs_epi32(even_odd_lo, even_odd_hi); /* lane 0: even bsums, lane 1: odd */
        __m128i even = _mm256_castsi256_si128(packed), odd = _mm256_extracti128_si256(packed, 1);
        _mm_storeu_si128((__m128i *)b->bsums, _mm_unpacklo_epi16(even, odd));
        _mm_storeu_si128((__m128i *)(b->bsums + 16), _mm_unpackhi_epi16(even, odd));
    }
}

/* ---------------------------------------------------------------- scale broadcasting */

/* For the 16-element sub-block types: from 8 int16 scales repeated in both lanes, lane 0 gets scale 2k and lane 1
 * scale 2k + 1 in every int16 (the 32 levels of group k span those two sub-blocks). */
static inline __m256i scale_pair(__m256i scales8x2, int k) {
    const __m256i mask = _mm256_setr_epi8(
        (char)(4 * k), (char)(4 * k + 1), (char)(4 * k), (char)(4 * k + 1), (char)(4 * k), (char)(4 * k + 1),
        (char)(4 * k), (char)(4 * k + 1), (char)(4 * k), (char)(4 * k + 1), (char)(4 * k), (char)(4 * k + 1),
        (char)(4 * k), (char)(4 * k + 1), (char)(4 * k), (char)(4 * k + 1), (char)(4 * k + 2), (char)(4 * k + 3),
        (char)(4 * k + 2), (char)(4 * k + 3), (char)(4 * k + 2), (char)(4 * k + 3), (char)(4 * k + 2),
        (char)(4 * k + 3), (char)(4 * k + 2), (char)(4 * k + 3), (char)(4 * k + 2), (char)(4 * k + 3),
        (char)(4 * k + 2), (char)(4 * k + 3), (char)(4 * k + 2), (char)(4 * k + 3));
    return _mm256_shuffle_epi8(scales8x2, mask);
}

/* For the 32-element sub-block types: scale j of 8 int16 (repeated in both lanes) in every int16. */
static inline __m256i scale_one(__m256i scales8x2, int j) {
    return _mm256_shuffle_epi8(scales8x2, _mm256_set1_epi16((short)((2 * j + 1) << 8 | 2 * j)));
}

/* The packed scales unpacked by quant_k.h into 16 bytes (built from registers: loading 16 bytes just written as
 * four dwords would stall on store forwarding). */
static inline __m128i k4_scales_mins(const uint8_t packed[SNUG_K_SCALE_BYTES]) {
    uint32_t u[4];
    snug_k4_unpack(packed, u);
    return _mm_setr_epi32((int)u[0], (int)u[1], (int)u[2], (int)u[3]);
}

static inline __m128i q3_k_scales(const uint8_t packed[SNUG_K_SCALE_BYTES]) {
    uint32_t u[4];
    snug_q3_k_unpack(packed, u);
    return _mm_setr_epi32((int)u[0], (int)u[1], (int)u[2], (int)u[3]);
}

static inline __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* ---------------------------------------------------------------- dot products */

static void vec_dot_q4_k_avx2(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q4_k *b = w;
    const snug_block_q8_k *a = act;
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        float da = snug_load_f32(a->d);
        __m256i scales_mins = _mm256_cvtepu8_epi16(k4_scales_mins(b->scales));
        /* Mins: Σ_j min_j · (bsum_2j + bsum_2j+1); a pair of bsums is at most 2 · 16 · 128, an int16. */
        __m256i bsums = load256(a->bsums);
        __m128i bsum_pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
        __m128i msum = _mm_madd_epi16(_mm256_extracti128_si256(scales_mins, 1), bsum_pairs);
        acc_min = _mm_fmadd_ps(_mm_set1_ps(da * load_f16(b->dmin)), _mm_cvtepi32_ps(msum), acc_min);

        __m256i scales = _mm256_permute2x128_si256(scales_mins, scales_mins, 0x00);
        __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m256i q = load256(b->qs + 32 * c);
            __m256i lo = _mm256_and_si256(q, nibble);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), nibble);
            __m256i p_lo = _mm256_maddubs_epi16(lo, load256(a->qs + 64 * c));
            __m256i p_hi = _mm256_maddubs_epi16(hi, load256(a->qs + 64 * c + 32));
            p_lo = _mm256_madd_epi16(p_lo, scale_one(scales, 2 * c));
            p_hi = _mm256_madd_epi16(p_hi, scale_one(scales, 2 * c + 1));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p_lo, p_hi));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(da * load_f16(b->d)), _mm256_cvtepi32_ps(isum), acc);
    }
    *s = hsum_ps(acc) - hsum_ps128(acc_min);
}

static void vec_dot_q5_k_avx2(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q5_k *b = w;
    const snug_block_q8_k *a = act;
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        float da = snug_load_f32(a->d);
        __m256i scales_mins = _mm256_cvtepu8_epi16(k4_scales_mins(b->scales));
        __m256i bsums = load256(a->bsums);
        __m128i bsum_pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
        __m128i msum = _mm_madd_epi16(_mm256_extracti128_si256(scales_mins, 1), bsum_pairs);
        acc_min = _mm_fmadd_ps(_mm_set1_ps(da * load_f16(b->dmin)), _mm_cvtepi32_ps(msum), acc_min);

        __m256i scales = _mm256_permute2x128_si256(scales_mins, scales_mins, 0x00);
        /* Sub-block 2c's fifth bits are bit 2c of qh, sub-block 2c + 1's bit 2c + 1: shift right by 2 per c (a
         * 16-bit shift, but the bits read stay inside their own byte) and move bits 0 and 1 to bit 4. */
        __m256i qh = load256(b->qh);
        __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m256i q = load256(b->qs + 32 * c);
            __m256i lo = _mm256_or_si256(_mm256_and_si256(q, nibble), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4));
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), nibble),
                                         _mm256_and_si256(_mm256_slli_epi16(qh, 3), bit4));
            qh = _mm256_srli_epi16(qh, 2);
            __m256i p_lo = _mm256_maddubs_epi16(lo, load256(a->qs + 64 * c));
            __m256i p_hi = _mm256_maddubs_epi16(hi, load256(a->qs + 64 * c + 32));
            p_lo = _mm256_madd_epi16(p_lo, scale_one(scales, 2 * c));
            p_hi = _mm256_madd_epi16(p_hi, scale_one(scales, 2 * c + 1));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p_lo, p_hi));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(da * load_f16(b->d)), _mm256_cvtepi32_ps(isum), acc);
    }
    *s = hsum_ps(acc) - hsum_ps128(acc_min);
}

static void vec_dot_q6_k_avx2(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q6_k *b = w;
    const snug_block_q8_k *a = act;
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        __m256i scales = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
        /* Levels are stored as q + 32: start from −32 · Σ_j scale_j · bsum_j. */
        __m256i isum = _mm256_slli_epi32(_mm256_madd_epi16(scales, load256(a->bsums)), 5);
        isum = _mm256_sub_epi32(_mm256_setzero_si256(), isum);
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = b->ql + 64 * half;
            const int8_t *aq = a->qs + 128 * half;
            __m256i sc = half == 0 ? _mm256_permute2x128_si256(scales, scales, 0x00)
                                   : _mm256_permute2x128_si256(scales, scales, 0x11);
            __m256i ql0 = load256(ql), ql1 = load256(ql + 32), qh = load256(b->qh + 32 * half);
            __m256i q0 =
                _mm256_or_si256(_mm256_and_si256(ql0, nibble), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
            __m256i q1 =
                _mm256_or_si256(_mm256_and_si256(ql1, nibble), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
            __m256i q2 =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), nibble), _mm256_and_si256(qh, bits45));
            __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), nibble),
                                         _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
            __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(q0, load256(aq)), scale_pair(sc, 0));
            __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, load256(aq + 32)), scale_pair(sc, 1));
            __m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q2, load256(aq + 64)), scale_pair(sc, 2));
            __m256i p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(q3, load256(aq + 96)), scale_pair(sc, 3));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(_mm256_add_epi32(p0, p1), _mm256_add_epi32(p2, p3)));
        }
        float dd = snug_load_f32(a->d) * load_f16(b->d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(isum), acc);
    }
    *s = hsum_ps(acc);
}

static void vec_dot_q3_k_avx2(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q3_k *b = w;
    const snug_block_q8_k *a = act;
    const __m256i two_bits = _mm256_set1_epi8(0x03);
    const __m256i bit2 = _mm256_set1_epi8(0x04);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        __m256i scales = _mm256_sub_epi16(_mm256_cvtepu8_epi16(q3_k_scales(b->scales)), _mm256_set1_epi16(32));
        /* Levels are stored as q + 4 (low bits | hmask bit << 2): start from −4 · Σ_j scale_j · bsum_j. */
        __m256i isum = _mm256_slli_epi32(_mm256_madd_epi16(scales, load256(a->bsums)), 2);
        isum = _mm256_sub_epi32(_mm256_setzero_si256(), isum);
        __m256i hmask = load256(b->hmask);
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            __m256i sc = half == 0 ? _mm256_permute2x128_si256(scales, scales, 0x00)
                                   : _mm256_permute2x128_si256(scales, scales, 0x11);
            __m256i q = load256(b->qs + 32 * half);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                /* hmask bit 4·half + j to bit 2: a 16-bit shift whose bits read stay inside their byte. */
                int bit = 4 * half + j;
                __m256i high = bit <= 2 ? _mm256_slli_epi16(hmask, 2 - bit) : _mm256_srli_epi16(hmask, bit - 2);
                __m256i level = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * j), two_bits),
                                                _mm256_and_si256(high, bit2));
                __m256i p = _mm256_maddubs_epi16(level, load256(a->qs + 128 * half + 32 * j));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale_pair(sc, j)));
            }
        }
        float dd = snug_load_f32(a->d) * load_f16(b->d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(isum), acc);
    }
    *s = hsum_ps(acc);
}

static void vec_dot_q2_k_avx2(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q2_k *b = w;
    const snug_block_q8_k *a = act;
    const __m256i two_bits = _mm256_set1_epi8(0x03);
    const __m128i nibble = _mm_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        float da = snug_load_f32(a->d);
        __m128i packed = _mm_loadu_si128((const __m128i *)b->scales);
        __m256i scales = _mm256_cvtepu8_epi16(_mm_and_si128(packed, nibble));
        __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), nibble));
        __m256i msum = _mm256_madd_epi16(mins, load256(a->bsums));
        acc_min = _mm256_fmadd_ps(_mm256_set1_ps(da * load_f16(b->dmin)), _mm256_cvtepi32_ps(msum), acc_min);
        __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            __m256i sc = half == 0 ? _mm256_permute2x128_si256(scales, scales, 0x00)
                                   : _mm256_permute2x128_si256(scales, scales, 0x11);
            __m256i q = load256(b->qs + 32 * half);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m256i level = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), two_bits);
                __m256i p = _mm256_maddubs_epi16(level, load256(a->qs + 128 * half + 32 * j));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale_pair(sc, j)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(da * load_f16(b->d)), _mm256_cvtepi32_ps(isum), acc);
    }
    *s = hsum_ps(_mm256_sub_ps(acc, acc_min));
}

/* ---------------------------------------------------------------- register tiles (prefill)
 *
 * dot_tile for Q4_K and Q6_K (kernels.h): R ≤ 4 rows × T ≤ 4 tokens, compile-time constants once inlined. Per
 * super-block and row, each 32-level register and its scales are decoded once and meet the T tokens (the T int32
 * accumulators stay in registers: 16 ymm leave no room for a whole row's levels). The integer sums are vec_dot's;
 * each row's T pair sums are folded with unpacks into one xmm (dword t), the rows' into two ymm (lane 4r + t within
 * rows 0–1 and 2–3), which take the float scaling for all pairs at once. */
#define TILE_INLINE static inline __attribute__((always_inline))

TILE_INLINE const snug_block_q8_k *tile_act(const void *a, uint64_t a_stride, int t, int64_t i) {
    return (const snug_block_q8_k *)((const uint8_t *)a + (uint64_t)t * a_stride) + i;
}

/* Per 128-bit lane: dword t = the sum of that lane's 4 dwords of v[t]. */
TILE_INLINE __m256i fold_lanes(const __m256i v[4]) {
    __m256i p01 = _mm256_add_epi32(_mm256_unpacklo_epi32(v[0], v[1]), _mm256_unpackhi_epi32(v[0], v[1]));
    __m256i p23 = _mm256_add_epi32(_mm256_unpacklo_epi32(v[2], v[3]), _mm256_unpackhi_epi32(v[2], v[3]));
    return _mm256_add_epi32(_mm256_unpacklo_epi64(p01, p23), _mm256_unpackhi_epi64(p01, p23));
}

/* Four pairs' 8 int32 partial sums → dword t = pair t's total. */
TILE_INLINE __m128i fold_pairs(const __m256i isum[4]) {
    __m256i q = fold_lanes(isum);
    return _mm_add_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
}

/* Two rows' results side by side: lanes 0–3 row r0's tokens, 4–7 row r1's. */
TILE_INLINE __m256i row_pair(__m128i r0, __m128i r1) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(r0), r1, 1);
}

/* Lane 4r' + t of a row pair's float factor: row_scale[r'] · token_scale[t]. */
TILE_INLINE __m256 pair_outer(float s0, float s1, __m128 token_scale) {
    return _mm256_mul_ps(_mm256_setr_m128(_mm_set1_ps(s0), _mm_set1_ps(s1)),
                         _mm256_setr_m128(token_scale, token_scale));
}

TILE_INLINE __m128 tile_act_d(const void *a, uint64_t a_stride, int64_t i, const int T) {
    return _mm_setr_ps(snug_load_f32(tile_act(a, a_stride, 0, i)->d),
                       T > 1 ? snug_load_f32(tile_act(a, a_stride, 1, i)->d) : 0.0f,
                       T > 2 ? snug_load_f32(tile_act(a, a_stride, 2, i)->d) : 0.0f,
                       T > 3 ? snug_load_f32(tile_act(a, a_stride, 3, i)->d) : 0.0f);
}

/* y[t · y_stride + r] from acc01 (rows 0–1) and acc23 (rows 2–3), lane 4(r mod 2) + t. */
TILE_INLINE void tile_store(float *y, int64_t y_stride, __m256 acc01, __m256 acc23, const int R, const int T) {
    float lanes[16];
    _mm256_storeu_ps(lanes, acc01);
    _mm256_storeu_ps(lanes + 8, acc23);
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[t * y_stride + r] = lanes[4 * r + t];
}

TILE_INLINE void q4_k_tile(int64_t nb, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                           uint64_t a_stride, const int R, const int T) {
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    __m256 acc01 = _mm256_setzero_ps(), acc23 = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m128i rows[SNUG_TILE_MAX], mins[SNUG_TILE_MAX], pairs[SNUG_TILE_MAX];
        float d[SNUG_TILE_MAX], dmin[SNUG_TILE_MAX];
#pragma GCC unroll 4
        for (int r = 0; r < SNUG_TILE_MAX; r++) {
            rows[r] = mins[r] = pairs[r] = _mm_setzero_si128();
            d[r] = dmin[r] = 0.0f;
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            __m256i bsums = load256(tile_act(a, a_stride, t, i)->bsums);
            pairs[t] = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const snug_block_q4_k *b = (const snug_block_q4_k *)((const uint8_t *)w + (uint64_t)r * w_stride) + i;
            d[r] = load_f16(b->d);
            dmin[r] = load_f16(b->dmin);
            __m128i bytes = k4_scales_mins(b->scales);
            mins[r] = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(bytes, bytes));
            __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(bytes));
            __m256i isum[SNUG_TILE_MAX];
#pragma GCC unroll 4
            for (int t = 0; t < SNUG_TILE_MAX; t++) isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 1
            for (int c = 0; c < 4; c++) { /* not unrolled: unrolled, GCC hoists every product and spills */
                __m256i q = load256(b->qs + 32 * c);
                __m256i lo = _mm256_and_si256(q, nibble), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), nibble);
                __m256i s_lo = scale_one(scales, 2 * c), s_hi = scale_one(scales, 2 * c + 1);
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) {
                    const int8_t *aq = tile_act(a, a_stride, t, i)->qs + 64 * c;
                    __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(aq)), s_lo);
                    __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(aq + 32)), s_hi);
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(p_lo, p_hi));
                }
            }
            rows[r] = fold_pairs(isum);
        }
        /* Mins: rows 0–1 (2–3) side by side meet each token's bsum pairs; folding the tokens gives lane 4r' + t. */
        __m256i m01[SNUG_TILE_MAX], m23[SNUG_TILE_MAX];
        __m256i mins01 = row_pair(mins[0], mins[1]), mins23 = row_pair(mins[2], mins[3]);
#pragma GCC unroll 4
        for (int t = 0; t < SNUG_TILE_MAX; t++) {
            __m256i p = _mm256_broadcastsi128_si256(pairs[t]);
            m01[t] = _mm256_madd_epi16(mins01, p);
            m23[t] = _mm256_madd_epi16(mins23, p);
        }
        __m128 da = tile_act_d(a, a_stride, i, T);
        acc01 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(row_pair(rows[0], rows[1])), pair_outer(d[0], d[1], da), acc01);
        acc01 = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(fold_lanes(m01)), pair_outer(dmin[0], dmin[1], da), acc01);
        if (R > 2) {
            acc23 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(row_pair(rows[2], rows[3])), pair_outer(d[2], d[3], da), acc23);
            acc23 = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(fold_lanes(m23)), pair_outer(dmin[2], dmin[3], da), acc23);
        }
    }
    tile_store(y, y_stride, acc01, acc23, R, T);
}

TILE_INLINE void q6_k_tile(int64_t nb, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                           uint64_t a_stride, const int R, const int T) {
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    __m256 acc01 = _mm256_setzero_ps(), acc23 = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m128i rows[SNUG_TILE_MAX];
        float d[SNUG_TILE_MAX];
#pragma GCC unroll 4
        for (int r = 0; r < SNUG_TILE_MAX; r++) {
            rows[r] = _mm_setzero_si128();
            d[r] = 0.0f;
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const snug_block_q6_k *b = (const snug_block_q6_k *)((const uint8_t *)w + (uint64_t)r * w_stride) + i;
            d[r] = load_f16(b->d);
            __m256i scales = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
            /* Levels are stored as q + 32: each pair starts from −32 · Σ_j scale_j · bsum_j. */
            __m256i minus32_scales = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(scales, 5));
            __m256i isum[SNUG_TILE_MAX];
#pragma GCC unroll 4
            for (int t = 0; t < SNUG_TILE_MAX; t++)
                isum[t] = t < T ? _mm256_madd_epi16(minus32_scales, load256(tile_act(a, a_stride, t, i)->bsums))
                                : _mm256_setzero_si256();
#pragma GCC unroll 2
            for (int half = 0; half < 2; half++) {
                __m256i sc = half == 0 ? _mm256_permute2x128_si256(scales, scales, 0x00)
                                       : _mm256_permute2x128_si256(scales, scales, 0x11);
                __m256i ql0 = load256(b->ql + 64 * half), ql1 = load256(b->ql + 64 * half + 32);
                __m256i qh = load256(b->qh + 32 * half);
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++) {
                    /* Group k: low (k < 2) or high nibbles of ql0 / ql1, qh bits 2k … 2k + 1 moved to bits 4–5. */
                    __m256i ql = k % 2 == 0 ? ql0 : ql1;
                    __m256i low =
                        k < 2 ? _mm256_and_si256(ql, nibble) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), nibble);
                    __m256i high = k == 0   ? _mm256_slli_epi16(qh, 4)
                                   : k == 1 ? _mm256_slli_epi16(qh, 2)
                                   : k == 2 ? qh
                                            : _mm256_srli_epi16(qh, 2);
                    __m256i level = _mm256_or_si256(low, _mm256_and_si256(high, bits45));
                    __m256i s = scale_pair(sc, k);
#pragma GCC unroll 4
                    for (int t = 0; t < T; t++) {
                        const int8_t *aq = tile_act(a, a_stride, t, i)->qs + 128 * half + 32 * k;
                        isum[t] =
                            _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(level, load256(aq)), s));
                    }
                }
            }
            rows[r] = fold_pairs(isum);
        }
        __m128 da = tile_act_d(a, a_stride, i, T);
        acc01 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(row_pair(rows[0], rows[1])), pair_outer(d[0], d[1], da), acc01);
        if (R > 2)
            acc23 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(row_pair(rows[2], rows[3])), pair_outer(d[2], d[3], da), acc23);
    }
    tile_store(y, y_stride, acc01, acc23, R, T);
}

static void dot_tile_q4_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                               uint64_t a_stride, int n_rows, int n_tokens) {
#define Q4_K_TILE(R, T) q4_k_tile(n / SNUG_QK_K, y, y_stride, w, w_stride, a, a_stride, R, T)
    SNUG_TILE_SHAPES(n_rows, n_tokens, Q4_K_TILE)
#undef Q4_K_TILE
}

static void dot_tile_q6_k_avx2(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                               uint64_t a_stride, int n_rows, int n_tokens) {
#define Q6_K_TILE(R, T) q6_k_tile(n / SNUG_QK_K, y, y_stride, w, w_stride, a, a_stride, R, T)
    SNUG_TILE_SHAPES(n_rows, n_tokens, Q6_K_TILE)
#undef Q6_K_TILE
}

void snug_register_kquant_avx2(snug_kernel_table t) {
    t[SNUG_TYPE_Q2_K] = (snug_type_kernels){SNUG_TYPE_Q8_K, quantize_q8_k_avx2, vec_dot_q2_k_avx2};
    t[SNUG_TYPE_Q3_K] = (snug_type_kernels){SNUG_TYPE_Q8_K, quantize_q8_k_avx2, vec_dot_q3_k_avx2};
    t[SNUG_TYPE_Q4_K] = (snug_type_kernels){SNUG_TYPE_Q8_K, quantize_q8_k_avx2, vec_dot_q4_k_avx2, dot_tile_q4_k_avx2};
    t[SNUG_TYPE_Q5_K] = (snug_type_kernels){SNUG_TYPE_Q8_K, quantize_q8_k_avx2, vec_dot_q5_k_avx2};
    t[SNUG_TYPE_Q6_K] = (snug_type_kernels){SNUG_TYPE_Q8_K, quantize_q8_k_avx2, vec_dot_q6_k_avx2, dot_tile_q6_k_avx2};
}
#endif
