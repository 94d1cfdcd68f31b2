/* kquant_avx512vnni.c — K-quant dot products with AVX-512 VNNI (vpdpbusd, vpdpwssd): vec_dot for Q4_K and Q6_K,
 * dot_tile for Q4_K, Q5_K and Q6_K.
 *
 * Compiled with -mavx512vnni and used only where cpuid reports it (dispatch.c lays this table over the AVX-512 one, so
 * the other K types keep their AVX-512 kernels). Integer sums are those of kquant_scalar.c exactly; only the order of
 * float additions differs (tests/test_kquants.c).
 *
 * vec_dot (decode: one row meets one token) keeps kquant_avx512.c's arrangement — levels matching 64 consecutive
 * activations — and lets VNNI shorten the multiplying: Q6_K's vpmaddubsw int16 pairs go through vpdpwssd (scales and
 * accumulation in one instruction instead of vpmaddwd + vpaddd); Q4_K sums four products per int32 with vpdpbusd and
 * applies the scales of two such registers, packed to int16, with one vpdpwssd.
 *
 * dot_tile (prefill) regroups the elements so that one vpdpbusd per 64 elements does all the multiplying: unsigned
 * levels × int8 activations, four products summed straight into int32. That needs every int32 lane to stay within
 * one sub-block over a whole super-block, so the sub-block scale can be applied once per lane (vpmulld) after the
 * four vpdpbusd. In natural order a 128-bit lane holds 16 consecutive elements (one Q6_K sub-block, half a Q4_K one)
 * and a register 64; a 4×4 dword transpose inside each 128-bit lane (unpack instructions only) of four such
 * registers makes register k, lane 4q + m hold elements 64m + 16q + 4k … +3: as k runs over 0…3, lane 4q + m sweeps
 * the 16 elements 64m + 16q … +15, one Q8_K bsum group, inside one sub-block. Weights and activations get the same
 * transpose — the weights once per row, the activations once per token, each shared by the whole tile. Per pair and
 * super-block that leaves 4 vpdpbusd and 1 vpmulld, against 4 vpmaddubsw + 4 vpmaddwd (or vpdpwssd) otherwise.
 *
 * Bounds: vpdpbusd adds four products without saturating into int32. Q4_K keeps high nibbles in place (16 × level,
 * ≤ 240) and multiplies those lanes' scales by 1 and the low-nibble lanes' by 16, so its sums are 16 × the true ones:
 * |16 · isum| ≤ 16 · 256 · 15 · 63 · 128 ≈ 5.0e8 < 2^31; the factor 1/16 is exact in float. Q5_K (levels ≤ 31)
 * shifts its high nibbles down: |isum| ≤ 256 · 31 · 63 · 128 ≈ 6.4e7. Q6_K lanes start from −32 · bsum (the level
 * offset) and stay below 16 · 64 · 128 · 128 ≈ 1.7e7 after scaling. The mins are kquant_avx512.c's (quant_k.h).
 */
#include "cpu/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

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

/* ---------------------------------------------------------------- vec_dot */

/* A Q4_K super-block's 8 sub-block scales as int16, broadcast to every 128-bit lane; on the way, its mins term
 * d_a · dmin · Σ_j min_j · bsum_j (bsum_pairs: the activations' sums over the 8 sub-blocks, int16) is added to
 * *acc_min. */
static inline __m512i k4_scales_and_mins(const snug_block_q4_k *b, __m128i bsum_pairs, float da, __m128 *acc_min) {
    __m128i bytes = snug_k4_scale_bytes(b);
    __m128i mins16 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(bytes, bytes));
    __m128i msum = _mm_madd_epi16(mins16, bsum_pairs);
    *acc_min = _mm_fmadd_ps(_mm_set1_ps(da * load_f16(b->dmin)), _mm_cvtepi32_ps(msum), *acc_min);
    return _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(bytes));
}

/* Scale words for a vpackssdw of two chunks' vpdpbusd sums (chunks c0 = 2p, c1 = 2p + 1): per 128-bit lane q, words
 * 0–3 come from chunk c0 (sub-block 2·c0 + q/2), words 4–7 from chunk c1 (sub-block 2·c1 + q/2). */
#define K4_PAIR_WORDS(j0, j1) SNUG_WORD_PICK(j0), SNUG_WORD_PICK(j0), SNUG_WORD_PICK(j1), SNUG_WORD_PICK(j1)
#define K4_PAIR_PICK(p)                                                                                                \
    {                                                                                                                  \
        K4_PAIR_WORDS(4 * (p), 4 * (p) + 2), K4_PAIR_WORDS(4 * (p), 4 * (p) + 2),                                      \
            K4_PAIR_WORDS(4 * (p) + 1, 4 * (p) + 3), K4_PAIR_WORDS(4 * (p) + 1, 4 * (p) + 3)                           \
    }
static const int32_t k4_pair_pick[2][16] = {K4_PAIR_PICK(0), K4_PAIR_PICK(1)};
#undef K4_PAIR_PICK
#undef K4_PAIR_WORDS

/* Per chunk one vpdpbusd into int32 (|sum of 4| ≤ 4 · 15 · 128 = 7680, so two chunks pack into int16 exactly), then
 * one vpdpwssd per two chunks applies the sub-block scales: 6 multiplies a super-block instead of 8. */
static void vec_dot_q4_k_vnni(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q4_k *b = w;
    const snug_block_q8_k *a = act;
    const __m512i pick01 = _mm512_loadu_si512(k4_pair_pick[0]), pick23 = _mm512_loadu_si512(k4_pair_pick[1]);
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        float da = snug_load_f32(a->d);
        __m512i scales = k4_scales_and_mins(b, snug_tile_bsum_pairs(a), da, &acc_min);
        __m512i levels[4], chunk[4];
        snug_q4_k_levels512(b, levels);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            chunk[c] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), levels[c], _mm512_loadu_si512(a->qs + 64 * c));
        __m512i isum = _mm512_madd_epi16(_mm512_packs_epi32(chunk[0], chunk[1]), _mm512_shuffle_epi8(scales, pick01));
        isum = _mm512_dpwssd_epi32(isum, _mm512_packs_epi32(chunk[2], chunk[3]), _mm512_shuffle_epi8(scales, pick23));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(da * load_f16(b->d)), _mm512_cvtepi32_ps(isum), acc);
    }
    *s = _mm512_reduce_add_ps(acc) - hsum_ps128(acc_min);
}

static void vec_dot_q6_k_vnni(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q6_k *b = w;
    const snug_block_q8_k *a = act;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        __m128i scales8 = _mm_loadu_si128((const __m128i *)b->scales);
        /* Levels are stored as q + 32: start from −32 · Σ_j scale_j · bsum_j. */
        __m256i minus32_scales = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(scales8), _mm256_set1_epi16(-32));
        __m512i isum =
            _mm512_zextsi256_si512(_mm256_madd_epi16(minus32_scales, _mm256_loadu_si256((const __m256i *)a->bsums)));
        __m512i levels[4];
        snug_q6_k_levels512(b, levels);
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            __m512i sc = _mm512_broadcast_i32x4(_mm_cvtepi8_epi16(half_to_low(scales8, half)));
            __m512i p_lo = _mm512_maddubs_epi16(levels[2 * half], _mm512_loadu_si512(a->qs + 128 * half));
            __m512i p_hi = _mm512_maddubs_epi16(levels[2 * half + 1], _mm512_loadu_si512(a->qs + 128 * half + 64));
            isum = _mm512_dpwssd_epi32(isum, p_lo, snug_pick_lanes(sc, 0));
            isum = _mm512_dpwssd_epi32(isum, p_hi, snug_pick_lanes(sc, 4));
        }
        float dd = snug_load_f32(a->d) * load_f16(b->d);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(dd), _mm512_cvtepi32_ps(isum), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* ---------------------------------------------------------------- decode layout (Q4_K) */

/* One token's activations meet every weight row, so for Q4_K they are laid out once per matvec (kernels.h,
 * snug_decode_kernels) in the order a plain 64-byte load of the weights' nibbles produces: qs bytes 0–63 hold, as
 * low nibbles, elements 0–31 and 64–95 and, as high nibbles, 32–63 and 96–127 (bytes 64–127: the same + 128).
 * v & 15 and v >> 4 then meet 64 activation bytes each, with no broadcast or masked shift (vec_dot above needs 3
 * operations for every 64 elements, this 3 for every 128). The mins' activation sums per 32-element sub-block come
 * ready too. One super-block of the layout, K4_DECODE_BYTES:
 *   bytes   0–255  the quants in the order [0–31, 64–95], [32–63, 96–127], [128–159, 192–223], [160–191, 224–255];
 *   bytes 256–271  8 int16: Σ q_a over sub-block j (elements 32j … 32j + 31);
 *   bytes 272–275  d_a (f32); the rest zero.
 * The quants and d_a are the Q8_K encoder's, bit for bit, so the integer sums equal vec_dot's. */
#define K4_DECODE_BYTES  320
#define K4_DECODE_BSUMS  256
#define K4_DECODE_SCALE  272
#define K4_DECODE_GROUPS 4 /* 64-byte groups of quants */

static snug_quantize_act_fn q8_k_encode; /* the table's Q8_K encoder, captured at registration */

static uint64_t decode_act_bytes_q4_k(int64_t n) { return (uint64_t)(n / SNUG_QK_K) * K4_DECODE_BYTES; }

static void decode_act_q4_k(const float *x, void *dst, int64_t n) {
    static const int source_half[K4_DECODE_GROUPS][2] = {{0, 2}, {1, 3}, {4, 6}, {5, 7}}; /* 32-element runs */
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, out += K4_DECODE_BYTES) {
        snug_block_q8_k block;
        q8_k_encode(x + i * SNUG_QK_K, &block, SNUG_QK_K);
        for (int g = 0; g < K4_DECODE_GROUPS; g++) {
            memcpy(out + 64 * g, block.qs + 32 * source_half[g][0], 32);
            memcpy(out + 64 * g + 32, block.qs + 32 * source_half[g][1], 32);
        }
        int16_t sums[8];
        for (int j = 0; j < 8; j++) {
            int16_t lo, hi;
            memcpy(&lo, block.bsums + 4 * j, 2);
            memcpy(&hi, block.bsums + 4 * j + 2, 2);
            sums[j] = (int16_t)(lo + hi); /* |Σ| ≤ 32 · 127 */
        }
        memset(out + K4_DECODE_BSUMS, 0, K4_DECODE_BYTES - K4_DECODE_BSUMS);
        memcpy(out + K4_DECODE_BSUMS, sums, sizeof sums);
        memcpy(out + K4_DECODE_SCALE, block.d, 4);
    }
}

/* As vec_dot_q4_k_vnni: a vpdpbusd per 64 elements, two such results packed to int16 and scaled by one vpmaddwd /
 * vpdpwssd. Lanes of the packed pair (group 2p, 2p + 1): in 128-bit lane q < 2, words 0–3 belong to sub-block 4p and
 * words 4–7 to 4p + 1; in q ≥ 2 to 4p + 2 and 4p + 3. */
#define K4D_WORDS(j0, j1) SNUG_WORD_PICK(j0), SNUG_WORD_PICK(j0), SNUG_WORD_PICK(j1), SNUG_WORD_PICK(j1)
#define K4D_PICK(p)                                                                                                    \
    {                                                                                                                  \
        K4D_WORDS(4 * (p), 4 * (p) + 1), K4D_WORDS(4 * (p), 4 * (p) + 1), K4D_WORDS(4 * (p) + 2, 4 * (p) + 3),         \
            K4D_WORDS(4 * (p) + 2, 4 * (p) + 3)                                                                        \
    }
static const int32_t k4_decode_pick[2][16] = {K4D_PICK(0), K4D_PICK(1)};
#undef K4D_PICK
#undef K4D_WORDS

static void decode_dot_q4_k(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q4_k *b = w;
    const uint8_t *a = act;
    const __m512i pick0 = _mm512_loadu_si512(k4_decode_pick[0]), pick1 = _mm512_loadu_si512(k4_decode_pick[1]);
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a += K4_DECODE_BYTES) {
        snug_stream_ahead(b, sizeof *b);
        float da;
        memcpy(&da, a + K4_DECODE_SCALE, sizeof da);
        __m512i scales = k4_scales_and_mins(b, _mm_loadu_si128((const __m128i *)(a + K4_DECODE_BSUMS)), da, &acc_min);
        __m512i sum[4];
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m512i v = _mm512_loadu_si512(b->qs + 64 * h);
            const __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
            sum[2 * h] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(a + 128 * h));
            sum[2 * h + 1] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, _mm512_loadu_si512(a + 128 * h + 64));
        }
        __m512i isum = _mm512_madd_epi16(_mm512_packs_epi32(sum[0], sum[1]), _mm512_shuffle_epi8(scales, pick0));
        isum = _mm512_dpwssd_epi32(isum, _mm512_packs_epi32(sum[2], sum[3]), _mm512_shuffle_epi8(scales, pick1));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(da * load_f16(b->d)), _mm512_cvtepi32_ps(isum), acc);
    }
    *s = _mm512_reduce_add_ps(acc) - hsum_ps128(acc_min);
}

/* ---------------------------------------------------------------- dot_tile */

#define TILE_INLINE SNUG_TILE_INLINE

/* In each 128-bit lane, the 4×4 dwords of v[0…3] transposed: v[k] lane q dword m ← v[m] lane q dword k. */
TILE_INLINE void transpose_dwords(__m512i v[4]) {
    __m512i lo01 = _mm512_unpacklo_epi32(v[0], v[1]), hi01 = _mm512_unpackhi_epi32(v[0], v[1]);
    __m512i lo23 = _mm512_unpacklo_epi32(v[2], v[3]), hi23 = _mm512_unpackhi_epi32(v[2], v[3]);
    v[0] = _mm512_unpacklo_epi64(lo01, lo23);
    v[1] = _mm512_unpackhi_epi64(lo01, lo23);
    v[2] = _mm512_unpacklo_epi64(hi01, hi23);
    v[3] = _mm512_unpackhi_epi64(hi01, hi23);
}

/* Token t's 256 activations of block i, transposed (see the file comment). */
TILE_INLINE void lane_activations(const snug_block_q8_k *a, __m512i out[4]) {
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) out[m] = _mm512_loadu_si512(a->qs + 64 * m);
    transpose_dwords(out);
}

/* Lane 4q + m of the transposed layout covers elements 64m + 16q … +15: Q8_K bsum group 4m + q, i.e. Q6_K sub-block
 * 4m + q and Q4_K sub-block 2m + q/2. */
static const int32_t group_of_lane[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};

TILE_INLINE const snug_block_q6_k *q6_k_block(const void *w, uint64_t w_stride, int r, int64_t i) {
    return (const snug_block_q6_k *)((const uint8_t *)w + (uint64_t)r * w_stride) + i;
}

/* Q4_K: lane 4q + m of register k needs elements 64m + 16q + 4k … +3, the nibbles (low for q < 2, high for q ≥ 2)
 * of qs dword 8m + 4(q mod 2) + k; one two-register permute per k gathers them from the 128 bytes of qs. */
static const int32_t k4_qs_dword_of_lane[4][16] = {
    {0, 8, 16, 24, 4, 12, 20, 28, 0, 8, 16, 24, 4, 12, 20, 28},
    {1, 9, 17, 25, 5, 13, 21, 29, 1, 9, 17, 25, 5, 13, 21, 29},
    {2, 10, 18, 26, 6, 14, 22, 30, 2, 10, 18, 26, 6, 14, 22, 30},
    {3, 11, 19, 27, 7, 15, 23, 31, 3, 11, 19, 27, 7, 15, 23, 31},
};

TILE_INLINE void q4_k_lane_levels(const snug_block_q4_k *b, __m512i out[4]) {
    const __m512i nibble_of_lane = _mm512_inserti64x4(_mm512_set1_epi8(0x0f), _mm256_set1_epi8((char)0xf0), 1);
    __m512i lo = _mm512_loadu_si512(b->qs), hi = _mm512_loadu_si512(b->qs + 64);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++)
        out[k] = _mm512_and_si512(_mm512_permutex2var_epi32(lo, _mm512_loadu_si512(k4_qs_dword_of_lane[k]), hi),
                                  nibble_of_lane);
}

/* Q5_K: the nibbles as for Q4_K but shifted down (levels up to 31 leave no room for Q4_K's 16 ×), plus the fifth
 * bit: bit 2m + q/2 of qh bytes 16(q mod 2) + 4k … +3 (qh dword 4(q mod 2) + k), rotated within its dword to bit 4
 * of its byte (the other bits are masked off). */
#define K5_QH_DWORD(k)                                                                                                 \
    { (k), (k), (k), (k), 4 + (k), 4 + (k), 4 + (k), 4 + (k), (k), (k), (k), (k), 4 + (k), 4 + (k), 4 + (k), 4 + (k) }
static const int32_t k5_qh_dword_of_lane[4][16] = {K5_QH_DWORD(0), K5_QH_DWORD(1), K5_QH_DWORD(2), K5_QH_DWORD(3)};
#undef K5_QH_DWORD
/* (4 − bit) mod 32 for lane 4q + m, bit 2m + q/2. */
static const int32_t k5_qh_rotation[16] = {4, 2, 0, 30, 4, 2, 0, 30, 3, 1, 31, 29, 3, 1, 31, 29};

TILE_INLINE void q5_k_lane_levels(const snug_block_q5_k *b, __m512i out[4]) {
    const __m512i nibble = _mm512_set1_epi8(0x0f);
    const __mmask32 high_nibble_lanes = 0xffff0000u; /* words 16–31: lanes 8–15 */
    enum { A_OR_B_AND_C = 0xF8 };
    __m512i lo = _mm512_loadu_si512(b->qs), hi = _mm512_loadu_si512(b->qs + 64);
    __m512i qh = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)b->qh));
    __m512i rotation = _mm512_loadu_si512(k5_qh_rotation);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m512i q = _mm512_permutex2var_epi32(lo, _mm512_loadu_si512(k4_qs_dword_of_lane[k]), hi);
        q = _mm512_and_si512(_mm512_mask_srli_epi16(q, high_nibble_lanes, q, 4), nibble);
        __m512i fifth =
            _mm512_rolv_epi32(_mm512_permutexvar_epi32(_mm512_loadu_si512(k5_qh_dword_of_lane[k]), qh), rotation);
        out[k] = _mm512_ternarylogic_epi32(q, fifth, _mm512_set1_epi8(0x10), A_OR_B_AND_C);
    }
}

/* Row r's scales in the transposed lanes (lane 4q + m: sub-block 2m + q/2) as int32; for Q4_K × 16 in the
 * low-nibble lanes 0–7 (its high nibbles stay 16 × their level). */
TILE_INLINE __m512i k4_lane_scales(__m512i unpacked, int r, const int bits) {
#define SUB_BYTE(s) ((int)(0xffffff00u | (s))) /* dword = byte s of the lane, zero-extended (vpshufb −1 → 0) */
    const __m512i pick = _mm512_setr_epi32(SUB_BYTE(0), SUB_BYTE(2), SUB_BYTE(4), SUB_BYTE(6), SUB_BYTE(0), SUB_BYTE(2),
                                           SUB_BYTE(4), SUB_BYTE(6), SUB_BYTE(1), SUB_BYTE(3), SUB_BYTE(5), SUB_BYTE(7),
                                           SUB_BYTE(1), SUB_BYTE(3), SUB_BYTE(5), SUB_BYTE(7));
#undef SUB_BYTE
    __m512i s = _mm512_shuffle_epi8(snug_tile_row_lane(unpacked, r), pick);
    return bits == 4 ? _mm512_mask_slli_epi32(s, 0x00ff, s, 4) : s;
}

/* Q4_K (bits 4) and Q5_K (bits 5): the same scales, mins and arithmetic; only the levels' decoding differs. */
TILE_INLINE void k4_tile(int64_t nb, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                         uint64_t a_stride, const int R, const int T, const int bits) {
    const uint64_t block_bytes = bits == 5 ? sizeof(snug_block_q5_k) : sizeof(snug_block_q4_k);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m512i act[SNUG_TILE_MAX][4];
        __m512i rows[SNUG_TILE_MAX];
#pragma GCC unroll 4
        for (int r = 0; r < SNUG_TILE_MAX; r++) rows[r] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) lane_activations(snug_tile_act(a, a_stride, t, i), act[t]);
        __m512i heads = snug_tile_k4_heads(w, w_stride, block_bytes, i, R);
        __m512i unpacked = snug_tile_k4_unpack(heads);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const uint8_t *block = (const uint8_t *)w + (uint64_t)r * w_stride + (uint64_t)i * block_bytes;
            __m512i levels[4];
            if (bits == 5)
                q5_k_lane_levels((const snug_block_q5_k *)block, levels);
            else
                q4_k_lane_levels((const snug_block_q4_k *)block, levels);
            __m512i scales = k4_lane_scales(unpacked, r, bits);
            __m512i isum[SNUG_TILE_MAX];
#pragma GCC unroll 4
            for (int t = 0; t < SNUG_TILE_MAX; t++) {
                isum[t] = _mm512_setzero_si512();
                if (t >= T) continue;
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++) isum[t] = _mm512_dpbusd_epi32(isum[t], levels[k], act[t][k]);
                isum[t] = _mm512_mullo_epi32(isum[t], scales);
            }
            rows[r] = snug_tile_fold_row(isum);
        }
        __m512 d, dmin;
        snug_tile_k4_scales(heads, snug_tile_act_d(a, a_stride, i, T), bits == 4 ? 1.0f / 16 : 1.0f, &d, &dmin);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(snug_tile_fold_rows(rows)), d, acc);
        acc = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(snug_tile_k4_min_sums(unpacked, a, a_stride, i, T)), dmin, acc);
    }
    snug_tile_store(y, y_stride, acc, R, T);
}

TILE_INLINE void q6_k_tile(int64_t nb, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                           uint64_t a_stride, const int R, const int T) {
    const __m512i lane_order = _mm512_loadu_si512(group_of_lane);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m512i act[SNUG_TILE_MAX][4], offset[SNUG_TILE_MAX];
        __m512i rows[SNUG_TILE_MAX];
#pragma GCC unroll 4
        for (int r = 0; r < SNUG_TILE_MAX; r++) rows[r] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const snug_block_q8_k *at = snug_tile_act(a, a_stride, t, i);
            lane_activations(at, act[t]);
            /* Levels are stored as q + 32: every lane starts from −32 · (the bsum of its 16 activations). */
            __m512i bsums = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)at->bsums));
            offset[t] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                         _mm512_slli_epi32(_mm512_permutexvar_epi32(lane_order, bsums), 5));
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const snug_block_q6_k *b = q6_k_block(w, w_stride, r, i);
            __m512i levels[4];
            snug_q6_k_levels512(b, levels);
            transpose_dwords(levels);
            __m512i scales =
                _mm512_permutexvar_epi32(lane_order, _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->scales)));
            __m512i isum[SNUG_TILE_MAX];
#pragma GCC unroll 4
            for (int t = 0; t < SNUG_TILE_MAX; t++) {
                isum[t] = _mm512_setzero_si512();
                if (t >= T) continue;
                isum[t] = offset[t];
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++) isum[t] = _mm512_dpbusd_epi32(isum[t], levels[k], act[t][k]);
                isum[t] = _mm512_mullo_epi32(isum[t], scales);
            }
            rows[r] = snug_tile_fold_row(isum);
        }
        __m128 d_rows = snug_tile_f16_column(w, w_stride, sizeof(snug_block_q6_k), offsetof(snug_block_q6_k, d), i, R);
        __m512 d = snug_tile_outer(d_rows, snug_tile_act_d(a, a_stride, i, T));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(snug_tile_fold_rows(rows)), d, acc);
    }
    snug_tile_store(y, y_stride, acc, R, T);
}

static void dot_tile_q4_k_vnni(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                               uint64_t a_stride, int n_rows, int n_tokens) {
#define Q4_K_TILE(R, T) k4_tile(n / SNUG_QK_K, y, y_stride, w, w_stride, a, a_stride, R, T, 4)
    SNUG_TILE_SHAPES(n_rows, n_tokens, Q4_K_TILE)
#undef Q4_K_TILE
}

static void dot_tile_q5_k_vnni(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                               uint64_t a_stride, int n_rows, int n_tokens) {
#define Q5_K_TILE(R, T) k4_tile(n / SNUG_QK_K, y, y_stride, w, w_stride, a, a_stride, R, T, 5)
    SNUG_TILE_SHAPES(n_rows, n_tokens, Q5_K_TILE)
#undef Q5_K_TILE
}

static void dot_tile_q6_k_vnni(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                               uint64_t a_stride, int n_rows, int n_tokens) {
#define Q6_K_TILE(R, T) q6_k_tile(n / SNUG_QK_K, y, y_stride, w, w_stride, a, a_stride, R, T)
    SNUG_TILE_SHAPES(n_rows, n_tokens, Q6_K_TILE)
#undef Q6_K_TILE
}

void snug_register_kquant_avx512vnni(snug_kernel_table t) {
    /* act_type and quantize_act stay those of the AVX-512 table this one was copied from (the AVX2 Q8_K encoder). */
    t[SNUG_TYPE_Q4_K].vec_dot = vec_dot_q4_k_vnni;
    q8_k_encode = t[SNUG_TYPE_Q4_K].quantize_act;
    t[SNUG_TYPE_Q4_K].decode = (snug_decode_kernels){decode_act_q4_k, decode_dot_q4_k, decode_act_bytes_q4_k};
    t[SNUG_TYPE_Q4_K].tile_min_tokens = 5; /* below, the decode layout token by token is faster (kernels.h) */
    t[SNUG_TYPE_Q4_K].dot_tile = dot_tile_q4_k_vnni;
    t[SNUG_TYPE_Q5_K].dot_tile = dot_tile_q5_k_vnni;
    t[SNUG_TYPE_Q6_K].vec_dot = vec_dot_q6_k_vnni;
    t[SNUG_TYPE_Q6_K].dot_tile = dot_tile_q6_k_vnni;
}
#endif
