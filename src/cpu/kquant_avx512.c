/* kquant_avx512.c — AVX-512 (F/BW/VL/DQ, no VNNI) dot products of the K-quants (Q2_K … Q6_K) with Q8_K activations.
 *
 * The AVX-512 table starts as a copy of the AVX2 one (dispatch.c); this file overrides every K-quant vec_dot, since
 * 512-bit registers halve the instruction count of these compute-bound loops (measured 20–45% faster on Zen 5). The
 * Q8_K encoder stays AVX2's (it runs once per activation row; 512 bits would not show).
 *
 * Same arithmetic as kquant_avx2.c (vpmaddubsw of unsigned levels with int8 activations, vpmaddwd with int16
 * scales, bsums for the constant parts), but one zmm covers 64 activations, so every instruction does twice the work.
 * The levels are arranged to match 64 *consecutive* activations, so activations are always one plain load:
 *   Q4_K / Q5_K: activations 64c … 64c+63 are the low then the high nibbles of qs[32c … 32c+31]. A broadcast load
 *                puts those 32 bytes in both halves and one merge-masked shift moves the upper half's high nibbles
 *                down: [lo | hi] in one zmm. Sub-block scales change every 32 elements, i.e. every two 128-bit lanes.
 *   Q6_K:        activations 128n … 128n+63 are the low nibbles of ql[64n … 64n+63] with qh bits 0–1 (first 32) and
 *                2–3 (next 32) on top; 128n+64 … 128n+127 the high nibbles with qh bits 4–5 and 6–7. qh is broadcast
 *                into both halves and shifted by a different count per half (vpsllvw / vpsrlvw). Sub-block scales
 *                change every 16 elements, i.e. every 128-bit lane.
 *   Q2_K / Q3_K: see vec_dot_q3_k_avx512.
 * Per-lane scales come from vpshufb of the 8 int16 scales broadcast to every lane. Saturation bounds are those of
 * kquant_avx2.c (the same levels meet the same activations).
 *
 * Q4_K, Q5_K and Q6_K also have dot_tile (prefill, "register tiles" below, building blocks in quant_k.h): the same
 * arithmetic with each row's decoded levels shared by up to 4 tokens. On CPUs with VNNI, kquant_avx512vnni.c
 * replaces them.
 */
#include "cpu/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>

#include "cpu/quant_k.h"

static inline float load_f16(const uint8_t p[2]) { return _cvtsh_ss(snug_load_u16(p)); }

/* Bytes 8·half … 8·half + 7 of v, moved to its low half (the widening that follows reads only those 8 bytes).
 * _mm_srli_si128 takes an immediate: written with the loop variable `8 * half` it compiled only where gcc's optimiser
 * unrolled the loop (not with clang, nor at -O0), so each half names its own constant shift. */
static inline __m128i half_to_low(__m128i v, int half) { return half == 0 ? v : _mm_srli_si128(v, 8); }

static inline float hsum_ps128(__m128 x) {
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

static inline __m512i load512(const void *p) { return _mm512_loadu_si512(p); }

static inline __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* Q4_K / Q5_K minimum term of one super-block: Σ_j min_j · (bsum_2j + bsum_2j+1), as 4 int32. */
static inline __m128i k4_min_sums(__m128i mins16, const snug_block_q8_k *a) {
    __m256i bsums = load256(a->bsums);
    __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
    return _mm_madd_epi16(mins16, pairs);
}

static void vec_dot_q4_k_avx512(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q4_k *b = w;
    const snug_block_q8_k *a = act;
    const __m512i nibble = _mm512_set1_epi8(0x0f);
    const __mmask32 upper_half = 0xffff0000u; /* words 16–31 */
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        float da = snug_load_f32(a->d);
        uint32_t unpacked[4];
        snug_k4_unpack(b->scales, unpacked);
        __m128i bytes = _mm_setr_epi32((int)unpacked[0], (int)unpacked[1], (int)unpacked[2], (int)unpacked[3]);
        __m128i mins16 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(bytes, bytes));
        acc_min = _mm_fmadd_ps(_mm_set1_ps(da * load_f16(b->dmin)), _mm_cvtepi32_ps(k4_min_sums(mins16, a)), acc_min);
        __m512i scales = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(bytes));
        __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m512i q = _mm512_broadcast_i64x4(load256(b->qs + 32 * c));
            q = _mm512_and_si512(_mm512_mask_srli_epi16(q, upper_half, q, 4), nibble);
            __m512i p = _mm512_maddubs_epi16(q, load512(a->qs + 64 * c));
            isum = _mm512_add_epi32(isum, _mm512_madd_epi16(p, snug_pick_halves(scales, 2 * c, 2 * c + 1)));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(da * load_f16(b->d)), _mm512_cvtepi32_ps(isum), acc);
    }
    *s = _mm512_reduce_add_ps(acc) - hsum_ps128(acc_min);
}

static void vec_dot_q5_k_avx512(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q5_k *b = w;
    const snug_block_q8_k *a = act;
    const __m512i nibble = _mm512_set1_epi8(0x0f);
    const __m512i bit4 = _mm512_set1_epi8(0x10);
    const __mmask32 upper_half = 0xffff0000u;
    /* The fifth bit of chunk c is bit 2c of qh for the lower half (low nibbles) and bit 2c + 1 for the upper half.
     * qh is shifted right by 2 after every chunk, so those bits are always at 0 and 1: a shift left by 4 (lower
     * half) or 3 (upper half) brings them to bit 4. The bits read stay inside their byte (see kquant_avx2.c). */
    const __m512i to_bit4 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(3), 1);
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        float da = snug_load_f32(a->d);
        uint32_t unpacked[4];
        snug_k4_unpack(b->scales, unpacked);
        __m128i bytes = _mm_setr_epi32((int)unpacked[0], (int)unpacked[1], (int)unpacked[2], (int)unpacked[3]);
        __m128i mins16 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(bytes, bytes));
        acc_min = _mm_fmadd_ps(_mm_set1_ps(da * load_f16(b->dmin)), _mm_cvtepi32_ps(k4_min_sums(mins16, a)), acc_min);
        __m512i scales = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(bytes));
        __m512i qh = _mm512_broadcast_i64x4(load256(b->qh));
        __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m512i q = _mm512_broadcast_i64x4(load256(b->qs + 32 * c));
            q = _mm512_and_si512(_mm512_mask_srli_epi16(q, upper_half, q, 4), nibble);
            __m512i high = _mm512_and_si512(_mm512_sllv_epi16(qh, to_bit4), bit4);
            qh = _mm512_srli_epi16(qh, 2);
            __m512i p = _mm512_maddubs_epi16(_mm512_or_si512(q, high), load512(a->qs + 64 * c));
            isum = _mm512_add_epi32(isum, _mm512_madd_epi16(p, snug_pick_halves(scales, 2 * c, 2 * c + 1)));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(da * load_f16(b->d)), _mm512_cvtepi32_ps(isum), acc);
    }
    *s = _mm512_reduce_add_ps(acc) - hsum_ps128(acc_min);
}

static void vec_dot_q6_k_avx512(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q6_k *b = w;
    const snug_block_q8_k *a = act;
    const __m512i nibble = _mm512_set1_epi8(0x0f);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    /* qh bits 0–1 (lower half) and 2–3 (upper half) to bits 4–5: shift left 4 and 2; bits 4–5 and 6–7: right 0, 2. */
    const __m512i left = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i right = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        __m128i scales8 = _mm_loadu_si128((const __m128i *)b->scales);
        /* Levels are stored as q + 32: start from −32 · Σ_j scale_j · bsum_j. */
        __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(scales8), load256(a->bsums)), 5);
        __m512i isum = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(offset));
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            __m512i scales = _mm512_broadcast_i32x4(_mm_cvtepi8_epi16(half_to_low(scales8, half)));
            __m512i ql = load512(b->ql + 64 * half);
            __m512i qh = _mm512_broadcast_i64x4(load256(b->qh + 32 * half));
            __m512i lo = _mm512_ternarylogic_epi32(_mm512_and_si512(ql, nibble), _mm512_sllv_epi16(qh, left), bits45,
                                                   0xF8); /* a | (b & c) */
            __m512i hi = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(ql, 4), nibble),
                                                   _mm512_srlv_epi16(qh, right), bits45, 0xF8);
            __m512i p_lo = _mm512_maddubs_epi16(lo, load512(a->qs + 128 * half));
            __m512i p_hi = _mm512_maddubs_epi16(hi, load512(a->qs + 128 * half + 64));
            p_lo = _mm512_madd_epi16(p_lo, snug_pick_lanes(scales, 0));
            p_hi = _mm512_madd_epi16(p_hi, snug_pick_lanes(scales, 4));
            isum = _mm512_add_epi32(isum, _mm512_add_epi32(p_lo, p_hi));
        }
        float dd = snug_load_f32(a->d) * load_f16(b->d);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(dd), _mm512_cvtepi32_ps(isum), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* Q3_K and Q2_K: the 32 bytes qs[32n …] hold groups j = 0 … 3 (activations 128n + 32j …) at bits 2j. One zmm takes
 * groups j and j + 1: qs broadcast into both halves and shifted right by 2j (lower) and 2j + 2 (upper). Sub-blocks
 * are 16 elements, one per 128-bit lane. */
static void vec_dot_q3_k_avx512(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q3_k *b = w;
    const snug_block_q8_k *a = act;
    const __m512i two_bits = _mm512_set1_epi8(0x03);
    const __m512i four = _mm512_set1_epi8(4);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        uint32_t unpacked[4];
        snug_q3_k_unpack(b->scales, unpacked);
        __m128i biased = _mm_setr_epi32((int)unpacked[0], (int)unpacked[1], (int)unpacked[2], (int)unpacked[3]);
        __m128i bias = _mm_set1_epi8(32);
        __m128i scales8 = _mm_sub_epi8(biased, bias); /* −32 … 31 */
        /* Levels are stored as q + 4 (low bits | hmask bit << 2): start from −4 · Σ_j scale_j · bsum_j. */
        __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(scales8), load256(a->bsums)), 2);
        __m512i isum = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(offset));
        __m512i hmask = _mm512_broadcast_i64x4(load256(b->hmask));
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            __m512i scales = _mm512_broadcast_i32x4(_mm_cvtepi8_epi16(half_to_low(scales8, half)));
            __m512i q = _mm512_broadcast_i64x4(load256(b->qs + 32 * half));
#pragma GCC unroll 2
            for (int j = 0; j < 4; j += 2) {
                const __m512i counts =
                    _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * j)), _mm256_set1_epi16((short)(2 * j + 2)), 1);
                /* The third bit of group j is bit 4·half + j of hmask[l]: test it per byte, add 4 where set. */
                const __m512i bits = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (4 * half + j))),
                                                        _mm256_set1_epi8((char)(1 << (4 * half + j + 1))), 1);
                __m512i level = _mm512_and_si512(_mm512_srlv_epi16(q, counts), two_bits);
                level = _mm512_mask_add_epi8(level, _mm512_test_epi8_mask(hmask, bits), level, four);
                __m512i p = _mm512_maddubs_epi16(level, load512(a->qs + 128 * half + 32 * j));
                isum = _mm512_add_epi32(isum, _mm512_madd_epi16(p, snug_pick_lanes(scales, 2 * j)));
            }
        }
        float dd = snug_load_f32(a->d) * load_f16(b->d);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(dd), _mm512_cvtepi32_ps(isum), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

static void vec_dot_q2_k_avx512(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q2_k *b = w;
    const snug_block_q8_k *a = act;
    const __m512i two_bits = _mm512_set1_epi8(0x03);
    const __m128i nibble = _mm_set1_epi8(0x0f);
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        float da = snug_load_f32(a->d);
        __m128i packed = _mm_loadu_si128((const __m128i *)b->scales);
        __m128i scales8 = _mm_and_si128(packed, nibble);
        __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), nibble));
        __m256i msum = _mm256_madd_epi16(mins, load256(a->bsums));
        acc_min = _mm256_fmadd_ps(_mm256_set1_ps(da * load_f16(b->dmin)), _mm256_cvtepi32_ps(msum), acc_min);
        __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            __m512i scales = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(half_to_low(scales8, half)));
            __m512i q = _mm512_broadcast_i64x4(load256(b->qs + 32 * half));
#pragma GCC unroll 2
            for (int j = 0; j < 4; j += 2) {
                const __m512i counts =
                    _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * j)), _mm256_set1_epi16((short)(2 * j + 2)), 1);
                __m512i level = _mm512_and_si512(_mm512_srlv_epi16(q, counts), two_bits);
                __m512i p = _mm512_maddubs_epi16(level, load512(a->qs + 128 * half + 32 * j));
                isum = _mm512_add_epi32(isum, _mm512_madd_epi16(p, snug_pick_lanes(scales, 2 * j)));
            }
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(da * load_f16(b->d)), _mm512_cvtepi32_ps(isum), acc);
    }
    __m256 min_total = acc_min;
    __m128 m = _mm_add_ps(_mm256_castps256_ps128(min_total), _mm256_extractf128_ps(min_total, 1));
    *s = _mm512_reduce_add_ps(acc) - hsum_ps128(m);
}

/* ---------------------------------------------------------------- register tiles (prefill)
 *
 * dot_tile for Q4_K and Q6_K: R ≤ 4 rows × T ≤ 4 tokens (compile-time constants once inlined: every array below
 * lives in registers). Per super-block each row's levels and per-lane scales are decoded once and meet the T tokens'
 * activations: per pair 4 × (vpmaddubsw, vpmaddwd, vpaddd), the integer sums of vec_dot exactly. The 16 pairs' sums
 * are then folded into one vector (quant_k.h) and scaled in float together, so the float results equal vec_dot's up
 * to the order of additions. */
#define TILE_INLINE SNUG_TILE_INLINE

TILE_INLINE const snug_block_q6_k *q6_k_block(const void *w, uint64_t w_stride, int r, int64_t i) {
    return (const snug_block_q6_k *)((const uint8_t *)w + (uint64_t)r * w_stride) + i;
}

/* Row r's scale words for chunk c (activations 64c … 64c+63): scale 2c in the lower 256 bits, 2c + 1 in the upper,
 * zero-extended from the unpacked heads' bytes. */
TILE_INLINE __m512i q4_k_chunk_scales(__m512i row_lane, int c) {
#define SCALE_WORD(j) ((int)(0xff00ff00u | (uint32_t)(j) << 16 | (uint32_t)(j)))
    const __m512i pick =
        _mm512_inserti64x4(_mm512_set1_epi32(SCALE_WORD(2 * c)), _mm256_set1_epi32(SCALE_WORD(2 * c + 1)), 1);
#undef SCALE_WORD
    return _mm512_shuffle_epi8(row_lane, pick);
}

/* Q4_K (bits 4) and Q5_K (bits 5): the same scales, mins and arithmetic; only the levels' decoding differs. */
TILE_INLINE void k4_tile(int64_t nb, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                         uint64_t a_stride, const int R, const int T, const int bits) {
    const uint64_t block_bytes = bits == 5 ? sizeof(snug_block_q5_k) : sizeof(snug_block_q4_k);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m512i rows[SNUG_TILE_MAX];
#pragma GCC unroll 4
        for (int r = 0; r < SNUG_TILE_MAX; r++) rows[r] = _mm512_setzero_si512();
        __m512i heads = snug_tile_k4_heads(w, w_stride, block_bytes, i, R);
        __m512i unpacked = snug_tile_k4_unpack(heads);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const uint8_t *block = (const uint8_t *)w + (uint64_t)r * w_stride + (uint64_t)i * block_bytes;
            __m512i levels[4], scales[4];
            if (bits == 5)
                snug_q5_k_levels512((const snug_block_q5_k *)block, levels);
            else
                snug_q4_k_levels512((const snug_block_q4_k *)block, levels);
            __m512i row_lane = snug_tile_row_lane(unpacked, r);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) scales[c] = q4_k_chunk_scales(row_lane, c);
            __m512i isum[SNUG_TILE_MAX];
#pragma GCC unroll 4
            for (int t = 0; t < SNUG_TILE_MAX; t++) {
                isum[t] = _mm512_setzero_si512();
                if (t >= T) continue;
                const int8_t *aq = snug_tile_act(a, a_stride, t, i)->qs;
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++)
                    isum[t] = _mm512_add_epi32(
                        isum[t], _mm512_madd_epi16(_mm512_maddubs_epi16(levels[c], load512(aq + 64 * c)), scales[c]));
            }
            rows[r] = snug_tile_fold_row(isum);
        }
        __m512 d, dmin;
        snug_tile_k4_scales(heads, snug_tile_act_d(a, a_stride, i, T), 1.0f, &d, &dmin);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(snug_tile_fold_rows(rows)), d, acc);
        acc = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(snug_tile_k4_min_sums(unpacked, a, a_stride, i, T)), dmin, acc);
    }
    snug_tile_store(y, y_stride, acc, R, T);
}

TILE_INLINE void q6_k_tile(int64_t nb, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                           uint64_t a_stride, const int R, const int T) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m512i rows[SNUG_TILE_MAX];
#pragma GCC unroll 4
        for (int r = 0; r < SNUG_TILE_MAX; r++) rows[r] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const snug_block_q6_k *b = q6_k_block(w, w_stride, r, i);
            __m512i levels[4], scales[4];
            snug_q6_k_levels512(b, levels);
            __m128i scales8 = _mm_loadu_si128((const __m128i *)b->scales);
#pragma GCC unroll 2
            for (int half = 0; half < 2; half++) {
                __m512i s = _mm512_broadcast_i32x4(_mm_cvtepi8_epi16(half_to_low(scales8, half)));
                scales[2 * half] = snug_pick_lanes(s, 0);
                scales[2 * half + 1] = snug_pick_lanes(s, 4);
            }
            /* Levels are stored as q + 32: each pair starts from −32 · Σ_j scale_j · bsum_j. */
            __m256i minus32_scales = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(scales8), _mm256_set1_epi16(-32));
            __m512i isum[SNUG_TILE_MAX];
#pragma GCC unroll 4
            for (int t = 0; t < SNUG_TILE_MAX; t++) {
                isum[t] = _mm512_setzero_si512();
                if (t >= T) continue;
                const snug_block_q8_k *at = snug_tile_act(a, a_stride, t, i);
                isum[t] = _mm512_zextsi256_si512(_mm256_madd_epi16(minus32_scales, load256(at->bsums)));
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++)
                    isum[t] = _mm512_add_epi32(
                        isum[t],
                        _mm512_madd_epi16(_mm512_maddubs_epi16(levels[k], load512(at->qs + 64 * k)), scales[k]));
            }
            rows[r] = snug_tile_fold_row(isum);
        }
        __m128 d_rows = snug_tile_f16_column(w, w_stride, sizeof(snug_block_q6_k), offsetof(snug_block_q6_k, d), i, R);
        __m512 d = snug_tile_outer(d_rows, snug_tile_act_d(a, a_stride, i, T));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(snug_tile_fold_rows(rows)), d, acc);
    }
    snug_tile_store(y, y_stride, acc, R, T);
}

static void dot_tile_q4_k_avx512(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                                 uint64_t a_stride, int n_rows, int n_tokens) {
#define Q4_K_TILE(R, T) k4_tile(n / SNUG_QK_K, y, y_stride, w, w_stride, a, a_stride, R, T, 4)
    SNUG_TILE_SHAPES(n_rows, n_tokens, Q4_K_TILE)
#undef Q4_K_TILE
}

static void dot_tile_q5_k_avx512(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                                 uint64_t a_stride, int n_rows, int n_tokens) {
#define Q5_K_TILE(R, T) k4_tile(n / SNUG_QK_K, y, y_stride, w, w_stride, a, a_stride, R, T, 5)
    SNUG_TILE_SHAPES(n_rows, n_tokens, Q5_K_TILE)
#undef Q5_K_TILE
}

static void dot_tile_q6_k_avx512(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                                 uint64_t a_stride, int n_rows, int n_tokens) {
#define Q6_K_TILE(R, T) q6_k_tile(n / SNUG_QK_K, y, y_stride, w, w_stride, a, a_stride, R, T)
    SNUG_TILE_SHAPES(n_rows, n_tokens, Q6_K_TILE)
#undef Q6_K_TILE
}

void snug_register_kquant_avx512(snug_kernel_table t) {
    /* quantize_act and act_type stay those of the AVX2 table this one was copied from. */
    t[SNUG_TYPE_Q2_K].vec_dot = vec_dot_q2_k_avx512;
    t[SNUG_TYPE_Q3_K].vec_dot = vec_dot_q3_k_avx512;
    t[SNUG_TYPE_Q4_K].vec_dot = vec_dot_q4_k_avx512;
    t[SNUG_TYPE_Q5_K].vec_dot = vec_dot_q5_k_avx512;
    t[SNUG_TYPE_Q6_K].vec_dot = vec_dot_q6_k_avx512;
    t[SNUG_TYPE_Q4_K].dot_tile = dot_tile_q4_k_avx512;
    t[SNUG_TYPE_Q5_K].dot_tile = dot_tile_q5_k_avx512;
    t[SNUG_TYPE_Q6_K].dot_tile = dot_tile_q6_k_avx512;
}
#endif
