/* quant_k.h — the K-quant block layouts (ggml / GGUF), shared by quant_k.c (scalar encode / decode) and the
 * kquant_*.c dot-product kernels. Private to src/cpu.
 *
 * Every K-quant works on super-blocks of SNUG_QK_K = 256 elements. Multi-byte fields are little-endian and may sit at
 * any alignment (Q6_K blocks are 210 bytes, so a row's blocks are only 2-byte aligned; callers may hand any pointer),
 * so every field is declared as bytes and read with the loaders below — never through a wider pointer.
 *
 *   Q2_K  84 B: scales[16] (low nibble: 4-bit scale, high nibble: 4-bit min, per 16 elements), qs[64] (2 bits each),
 *               f16 d, f16 dmin.            x = d·(sc & 15)·q − dmin·(sc >> 4),  q ∈ 0..3
 *   Q3_K 110 B: hmask[32] (the third bit), qs[64] (low 2 bits), scales[12] (16 6-bit scales, bias 32), f16 d.
 *                                            x = d·(sc − 32)·(q − 4),  q ∈ 0..7  (q = low 2 bits | hmask bit << 2)
 *   Q4_K 144 B: f16 d, f16 dmin, scales[12] (8 6-bit scales + 8 6-bit mins, per 32 elements), qs[128] (nibbles).
 *                                            x = d·sc·q − dmin·m,  q ∈ 0..15
 *   Q5_K 176 B: as Q4_K, then qh[32] (the fifth bit) before qs[128]. x = d·sc·q − dmin·m,  q ∈ 0..31
 *   Q6_K 210 B: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16] (per 16 elements), f16 d.
 *                                            x = d·sc·(q − 32),  q ∈ 0..63
 *   Q8_K 292 B: f32 d, int8 qs[256], int16 bsums[16] (bsums[j] = Σ qs[16j .. 16j+15]).  x = d·q
 *
 * Where each element's bits sit inside qs / qh / hmask and which scale applies is spelled out next to the scalar
 * decoders in quant_k.c (the reference every SIMD kernel is tested against).
 *
 * The second half of this header holds what the SIMD kernel files share: the instantiation of dot_tile per tile
 * shape, and (compiled only where AVX-512 is enabled) the zmm decoders and register-tile building blocks of
 * kquant_avx512.c and kquant_avx512vnni.c.
 */
#ifndef SNUG_CPU_QUANT_K_H
#define SNUG_CPU_QUANT_K_H

#include <stdint.h>
#include <string.h>

#include "cpu/half.h"

#define SNUG_QK_K          256 /* elements per super-block, every K-quant */
#define SNUG_K_SCALE_BYTES 12  /* Q3_K, Q4_K, Q5_K: 16 × 6 or 8 × (6 + 6) bits of packed scales */

typedef struct snug_block_q2_k {
    uint8_t scales[SNUG_QK_K / 16];
    uint8_t qs[SNUG_QK_K / 4];
    uint8_t d[2];
    uint8_t dmin[2];
} snug_block_q2_k;

typedef struct snug_block_q3_k {
    uint8_t hmask[SNUG_QK_K / 8];
    uint8_t qs[SNUG_QK_K / 4];
    uint8_t scales[SNUG_K_SCALE_BYTES];
    uint8_t d[2];
} snug_block_q3_k;

typedef struct snug_block_q4_k {
    uint8_t d[2];
    uint8_t dmin[2];
    uint8_t scales[SNUG_K_SCALE_BYTES];
    uint8_t qs[SNUG_QK_K / 2];
} snug_block_q4_k;

typedef struct snug_block_q5_k {
    uint8_t d[2];
    uint8_t dmin[2];
    uint8_t scales[SNUG_K_SCALE_BYTES];
    uint8_t qh[SNUG_QK_K / 8];
    uint8_t qs[SNUG_QK_K / 2];
} snug_block_q5_k;

typedef struct snug_block_q6_k {
    uint8_t ql[SNUG_QK_K / 2];
    uint8_t qh[SNUG_QK_K / 4];
    int8_t scales[SNUG_QK_K / 16];
    uint8_t d[2];
} snug_block_q6_k;

typedef struct snug_block_q8_k {
    uint8_t d[4]; /* f32 */
    int8_t qs[SNUG_QK_K];
    uint8_t bsums[SNUG_QK_K / 16 * 2]; /* int16 each */
} snug_block_q8_k;

/* The sizes GGUF fixes (src/gguf/types.c); a struct with padding would silently break every row stride. */
_Static_assert(sizeof(snug_block_q2_k) == 84, "Q2_K block is 84 bytes");
_Static_assert(sizeof(snug_block_q3_k) == 110, "Q3_K block is 110 bytes");
_Static_assert(sizeof(snug_block_q4_k) == 144, "Q4_K block is 144 bytes");
_Static_assert(sizeof(snug_block_q5_k) == 176, "Q5_K block is 176 bytes");
_Static_assert(sizeof(snug_block_q6_k) == 210, "Q6_K block is 210 bytes");
_Static_assert(sizeof(snug_block_q8_k) == 292, "Q8_K block is 292 bytes");

static inline float snug_load_f16(const uint8_t p[2]) { return snug_f16_to_f32(snug_load_u16(p)); }

static inline float snug_load_f32(const uint8_t p[4]) {
    float f;
    memcpy(&f, p, sizeof f);
    return f;
}

static inline int16_t snug_q8_k_bsum(const snug_block_q8_k *b, int j) {
    int16_t v;
    memcpy(&v, b->bsums + 2 * j, sizeof v);
    return v;
}

/* Q4_K / Q5_K: sub-block j's 6-bit scale and min from the 12 packed bytes. Bytes 0–3 hold scales 0–3 (low 6 bits)
 * and the top 2 bits of scales 4–7; bytes 4–7 the same for the mins; bytes 8–11 the low 4 bits of scales 4–7 (low
 * nibble) and mins 4–7 (high nibble). */
static inline void snug_k4_scale_min(const uint8_t packed[SNUG_K_SCALE_BYTES], int j, uint8_t *scale, uint8_t *min) {
    int k = j & 3;
    if (j < 4) {
        *scale = packed[k] & 63;
        *min = packed[k + 4] & 63;
    } else {
        *scale = (uint8_t)((packed[k + 8] & 15) | ((packed[k] >> 6) << 4));
        *min = (uint8_t)((packed[k + 8] >> 4) | ((packed[k + 4] >> 6) << 4));
    }
}

/* Q3_K: the 16 signed scales (already minus the bias 32) from the 12 packed bytes. Scale i has its low 4 bits in
 * byte i % 8 (low nibble for i < 8, high nibble for i ≥ 8) and its top 2 bits in byte 8 + i % 4 at bit 2·(i / 4). */
static inline void snug_q3_k_scales(const uint8_t packed[SNUG_K_SCALE_BYTES], int8_t out[16]) {
    for (int i = 0; i < 16; i++) {
        int low = i < 8 ? packed[i] & 15 : packed[i - 8] >> 4;
        int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (int8_t)((low | (high << 4)) - 32);
    }
}

/* The same two unpackings for every sub-block at once, with 32-bit masks (what the SIMD kernels load):
 * Q4_K / Q5_K: bytes 0–7 of `out` = scales 0–7, bytes 8–15 = mins 0–7. */
static inline void snug_k4_unpack(const uint8_t packed[SNUG_K_SCALE_BYTES], uint32_t out[4]) {
    uint32_t u[3]; /* three loads, not one 12-byte copy: GCC keeps the latter as a dead stack store */
    memcpy(&u[0], packed, 4);
    memcpy(&u[1], packed + 4, 4);
    memcpy(&u[2], packed + 8, 4);
    out[0] = u[0] & 0x3f3f3f3fu;
    out[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    out[2] = u[1] & 0x3f3f3f3fu;
    out[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
}

/* Q3_K: byte i of `out` = scale i + 32 (biased, 0..63). */
static inline void snug_q3_k_unpack(const uint8_t packed[SNUG_K_SCALE_BYTES], uint32_t out[4]) {
    uint32_t u[3]; /* three loads, not one 12-byte copy: GCC keeps the latter as a dead stack store */
    memcpy(&u[0], packed, 4);
    memcpy(&u[1], packed + 4, 4);
    memcpy(&u[2], packed + 8, 4);
    out[0] = (u[0] & 0x0f0f0f0fu) | ((u[2] & 0x03030303u) << 4);
    out[1] = (u[1] & 0x0f0f0f0fu) | (((u[2] >> 2) & 0x03030303u) << 4);
    out[2] = ((u[0] >> 4) & 0x0f0f0f0fu) | (((u[2] >> 4) & 0x03030303u) << 4);
    out[3] = ((u[1] >> 4) & 0x0f0f0f0fu) | (((u[2] >> 6) & 0x03030303u) << 4);
}

/* Q8_K encoding of one row (n a multiple of 256), the activation type of every K-quant: per super-block
 * d = max|x| / 127 and q = round-half-even(x · (127 / max|x|)), so q ∈ [−127, 127] (never −128); bsums from those q.
 * The SIMD encoders in kquant_*.c compute exactly these float operations, so their output is bit-identical. Inputs must
 * be finite. */
#define SNUG_Q8_K_TINY                                                                                                 \
    1e-30f /* a super-block whose max|x| is below this encodes as zeros (127 / max|x| stays finite) */
void snug_quantize_row_q8_k(const float *x, void *dst, int64_t n);

/* dot_tile kernels (kquant_avx2.c, kquant_avx512*.c) are written for compile-time tile shapes R × T, so that their
 * per-row and per-token arrays live in registers; the dispatcher instantiates one per shape (matmul's edge tiles
 * have fewer rows or tokens than SNUG_TILE_MAX): body(R, T). */
#define SNUG_TILE_SHAPES(n_rows, n_tokens, body)                                                                       \
    switch ((n_rows)*8 + (n_tokens)) {                                                                                 \
    case 1 * 8 + 1: body(1, 1); break;                                                                                 \
    case 1 * 8 + 2: body(1, 2); break;                                                                                 \
    case 1 * 8 + 3: body(1, 3); break;                                                                                 \
    case 1 * 8 + 4: body(1, 4); break;                                                                                 \
    case 2 * 8 + 1: body(2, 1); break;                                                                                 \
    case 2 * 8 + 2: body(2, 2); break;                                                                                 \
    case 2 * 8 + 3: body(2, 3); break;                                                                                 \
    case 2 * 8 + 4: body(2, 4); break;                                                                                 \
    case 3 * 8 + 1: body(3, 1); break;                                                                                 \
    case 3 * 8 + 2: body(3, 2); break;                                                                                 \
    case 3 * 8 + 3: body(3, 3); break;                                                                                 \
    case 3 * 8 + 4: body(3, 4); break;                                                                                 \
    case 4 * 8 + 1: body(4, 1); break;                                                                                 \
    case 4 * 8 + 2: body(4, 2); break;                                                                                 \
    case 4 * 8 + 3: body(4, 3); break;                                                                                 \
    case 4 * 8 + 4: body(4, 4); break;                                                                                 \
    default: break;                                                                                                    \
    }

/* ---------------------------------------------------------------- AVX-512 register tiles
 *
 * Building blocks of the dot_tile kernels in kquant_avx512.c and kquant_avx512vnni.c (compiled only where the
 * including file has AVX-512 F/BW/VL/DQ enabled). A tile is R ≤ 4 weight rows × T ≤ 4 tokens; per super-block each
 * (row r, token t) pair ends as 16 int32 partial sums of its integer dot product (`isum`, already multiplied by the
 * sub-block scales). Those are folded into one vector whose lane 4r + t holds pair (r, t)'s whole integer sum, so
 * the float work of a super-block (conversion, d · d_a, the mins) is one vector operation for all 16 pairs and the
 * tile's 16 results accumulate in a single register. Absent pairs (r ≥ R or t ≥ T) enter as zeros.
 */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include <immintrin.h>

#define SNUG_TILE_INLINE static inline __attribute__((always_inline))

/* Token t's Q8_K block i, rows of activations a_stride bytes apart. */
SNUG_TILE_INLINE const snug_block_q8_k *snug_tile_act(const void *a, uint64_t a_stride, int t, int64_t i) {
    return (const snug_block_q8_k *)((const uint8_t *)a + (uint64_t)t * a_stride) + i;
}

/* One row's four pairs: 128-bit lane q of the result holds, in dword t, the sum of lanes 4q … 4q+3 of isum[t]
 * (in-lane unpacks only: cheap on every x86 core). */
SNUG_TILE_INLINE __m512i snug_tile_fold_row(const __m512i isum[4]) {
    __m512i p01 = _mm512_add_epi32(_mm512_unpacklo_epi32(isum[0], isum[1]), _mm512_unpackhi_epi32(isum[0], isum[1]));
    __m512i p23 = _mm512_add_epi32(_mm512_unpacklo_epi32(isum[2], isum[3]), _mm512_unpackhi_epi32(isum[2], isum[3]));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(p01, p23), _mm512_unpackhi_epi64(p01, p23));
}

/* Four rows folded by snug_tile_fold_row → lane 4r + t = pair (r, t)'s total. */
SNUG_TILE_INLINE __m512i snug_tile_fold_rows(const __m512i rows[4]) {
    enum { LANES_0_2 = 0x88, LANES_1_3 = 0xdd }; /* _mm512_shuffle_i64x2 picks 128-bit lanes (0, 2) or (1, 3) */
    __m512i v01 = _mm512_add_epi32(_mm512_shuffle_i64x2(rows[0], rows[1], LANES_0_2),
                                   _mm512_shuffle_i64x2(rows[0], rows[1], LANES_1_3));
    __m512i v23 = _mm512_add_epi32(_mm512_shuffle_i64x2(rows[2], rows[3], LANES_0_2),
                                   _mm512_shuffle_i64x2(rows[2], rows[3], LANES_1_3));
    return _mm512_add_epi32(_mm512_shuffle_i64x2(v01, v23, LANES_0_2), _mm512_shuffle_i64x2(v01, v23, LANES_1_3));
}

/* Lane 4r + t = row_scale[r] · token_scale[t]. */
SNUG_TILE_INLINE __m512 snug_tile_outer(__m128 row_scale, __m128 token_scale) {
    const __m512i row_of_lane = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    return _mm512_mul_ps(_mm512_permutexvar_ps(row_of_lane, _mm512_castps128_ps512(row_scale)),
                         _mm512_broadcast_f32x4(token_scale));
}

/* The f16 at byte `offset` of block i of each of the R rows (block_bytes per block; zero past R), as floats. */
SNUG_TILE_INLINE __m128 snug_tile_f16_column(const void *w, uint64_t w_stride, uint64_t block_bytes, uint64_t offset,
                                             int64_t i, const int R) {
    const uint8_t *p = (const uint8_t *)w + (uint64_t)i * block_bytes + offset;
    return _mm_cvtph_ps(_mm_setr_epi16((short)snug_load_u16(p), R > 1 ? (short)snug_load_u16(p + w_stride) : 0,
                                       R > 2 ? (short)snug_load_u16(p + 2 * w_stride) : 0,
                                       R > 3 ? (short)snug_load_u16(p + 3 * w_stride) : 0, 0, 0, 0, 0));
}

/* The Q8_K d of up to 4 tokens' block i (zero past T). */
SNUG_TILE_INLINE __m128 snug_tile_act_d(const void *a, uint64_t a_stride, int64_t i, const int T) {
    return _mm_setr_ps(snug_load_f32(snug_tile_act(a, a_stride, 0, i)->d),
                       T > 1 ? snug_load_f32(snug_tile_act(a, a_stride, 1, i)->d) : 0.0f,
                       T > 2 ? snug_load_f32(snug_tile_act(a, a_stride, 2, i)->d) : 0.0f,
                       T > 3 ? snug_load_f32(snug_tile_act(a, a_stride, 3, i)->d) : 0.0f);
}

/* ---- Q4_K / Q5_K tile headers: d, dmin and the packed scales of four rows in one register */

/* The first 16 bytes of each row's block (as bytes of a Q4_K block: d, dmin, scales[12]; Q5_K starts the same), row
 * r in 128-bit lane r, zeros past R. One load per row feeds the scales, the mins and both float factors. */
SNUG_TILE_INLINE __m512i snug_tile_k4_heads(const void *w, uint64_t w_stride, int64_t block_bytes, int64_t i,
                                            const int R) {
    const uint8_t *row0 = (const uint8_t *)w + i * block_bytes;
    __m512i heads = _mm512_zextsi128_si512(_mm_loadu_si128((const __m128i *)row0));
    if (R > 1) heads = _mm512_inserti32x4(heads, _mm_loadu_si128((const __m128i *)(row0 + w_stride)), 1);
    if (R > 2) heads = _mm512_inserti32x4(heads, _mm_loadu_si128((const __m128i *)(row0 + 2 * w_stride)), 2);
    if (R > 3) heads = _mm512_inserti32x4(heads, _mm_loadu_si128((const __m128i *)(row0 + 3 * w_stride)), 3);
    return heads;
}

/* snug_k4_unpack for four rows at once: per 128-bit lane, bytes 0–7 the 8 scales and 8–15 the 8 mins. Scale / min
 * j < 4 is the low 6 bits of packed byte j / j + 4; j ≥ 4 takes its low 4 bits from a nibble of packed byte j + 4 (low
 * for scales, high for mins) and its top 2 bits from the top of packed byte j − 4 / j. Packed byte x is head byte
 * 4 + x. */
SNUG_TILE_INLINE __m512i snug_tile_k4_unpack(__m512i heads) {
    const __m512i low_source =
        _mm512_broadcast_i32x4(_mm_setr_epi8(4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m512i top_source =
        _mm512_broadcast_i32x4(_mm_setr_epi8(-1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11));
    const __m512i low_bits =
        _mm512_broadcast_i32x4(_mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15));
    const __mmask32 min_high_nibbles = 0xc0c0c0c0u; /* words 6–7 of each lane: bytes 12–15 take the high nibble */
    enum { A_OR_B_AND_C = 0xF8 };                   /* vpternlogd truth table of a | (b & c) */
    __m512i low = _mm512_shuffle_epi8(heads, low_source);
    low = _mm512_and_si512(_mm512_mask_srli_epi16(low, min_high_nibbles, low, 4), low_bits);
    /* Bits 6–7 of the source byte to bits 4–5: a 16-bit shift by 2, the neighbouring byte's bits masked off. */
    __m512i top = _mm512_srli_epi16(_mm512_shuffle_epi8(heads, top_source), 2);
    return _mm512_ternarylogic_epi32(low, top, _mm512_set1_epi8(0x30), A_OR_B_AND_C);
}

/* Q4_K / Q5_K scales and mins of one block in a vector: bytes 0–7 the 8 scales, 8–15 the 8 mins (snug_k4_unpack's
 * values), from the block's first 16 bytes (f16 d, f16 dmin, the 12 packed scale bytes; the same for both types)
 * through snug_tile_k4_unpack's shuffles. In the VNNI Q4_K kernels, unpacking in general registers and assembling
 * the vector with inserts took ~30 % of the time (decode, one thread, rows in L2: 38 → 55 GB/s without any
 * unpacking); with the shuffles 46 GB/s. The AVX2 kernels keep the general-register unpack: a 128-bit version of
 * these shuffles measured 3 % slower there, where the vector shuffle ports are the busy ones (AVX-512 without VNNI:
 * no difference). */
SNUG_TILE_INLINE __m128i snug_k4_scale_bytes(const void *block) {
    const __m128i head = _mm_loadu_si128((const __m128i *)block);
    return _mm512_castsi512_si128(snug_tile_k4_unpack(_mm512_castsi128_si512(head)));
}

/* Row r's 128-bit lane of v in every lane. */
SNUG_TILE_INLINE __m512i snug_tile_row_lane(__m512i v, int r) {
    switch (r) {
    case 1: return _mm512_shuffle_i32x4(v, v, 0x55);
    case 2: return _mm512_shuffle_i32x4(v, v, 0xaa);
    case 3: return _mm512_shuffle_i32x4(v, v, 0xff);
    default: return _mm512_shuffle_i32x4(v, v, 0x00);
    }
}

/* From the heads: *d (lane 4r + t) = d_r · da_t · d_factor and *dmin = dmin_r · da_t. */
SNUG_TILE_INLINE void snug_tile_k4_scales(__m512i heads, __m128 da, float d_factor, __m512 *d, __m512 *dmin) {
    static const int16_t d_words[32] = {0, 8, 16, 24, 1, 9, 17, 25}; /* heads words 8r (d_r), 8r + 1 (dmin_r) */
    static const int32_t row_of_lane[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
    __m512 rows = _mm512_castps256_ps512(
        _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi16(_mm512_loadu_si512(d_words), heads))));
    __m512i lane_row = _mm512_loadu_si512(row_of_lane);
    __m512 tokens = _mm512_broadcast_f32x4(da);
    *d = _mm512_mul_ps(_mm512_permutexvar_ps(lane_row, rows), _mm512_mul_ps(tokens, _mm512_set1_ps(d_factor)));
    *dmin = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_add_epi32(lane_row, _mm512_set1_epi32(4)), rows), tokens);
}

/* Q4_K / Q5_K min sums of the tile: lane 4r + t = Σ_j min_rj · (bsum_t,2j + bsum_t,2j+1), from the unpacked heads.
 * The tokens' bsum pairs, packed to int16 four tokens to a register, meet the rows' int16 mins in four vpmaddwd. */
SNUG_TILE_INLINE __m512i snug_tile_k4_min_sums(__m512i unpacked, const void *a, uint64_t a_stride, int64_t i,
                                               const int T) {
    /* Dword i of token t's pairs (pairs 2i, 2i + 1) sits at 8(t mod 2) + 2(t / 2) + (i mod 2) + 4(i / 2) after the
     * pack below; column[i] brings it to every lane 4r + t. */
#define SNUG_PAIR_POS(t, i) (8 * ((t) % 2) + 2 * ((t) / 2) + (i) % 2 + 4 * ((i) / 2))
#define SNUG_PAIR_TOKENS(i) SNUG_PAIR_POS(0, i), SNUG_PAIR_POS(1, i), SNUG_PAIR_POS(2, i), SNUG_PAIR_POS(3, i)
#define SNUG_PAIR_COLUMN(i)                                                                                            \
    { SNUG_PAIR_TOKENS(i), SNUG_PAIR_TOKENS(i), SNUG_PAIR_TOKENS(i), SNUG_PAIR_TOKENS(i) }
    static const int32_t column[4][16] = {SNUG_PAIR_COLUMN(0), SNUG_PAIR_COLUMN(1), SNUG_PAIR_COLUMN(2),
                                          SNUG_PAIR_COLUMN(3)};
#undef SNUG_PAIR_COLUMN
#undef SNUG_PAIR_TOKENS
#undef SNUG_PAIR_POS
    const __m512i ones = _mm512_set1_epi16(1);
    /* Row r's mins as int16 in lane r: bytes 8–15 zero-extended. */
    const __m512i min_words =
        _mm512_broadcast_i32x4(_mm_setr_epi8(8, -1, 9, -1, 10, -1, 11, -1, 12, -1, 13, -1, 14, -1, 15, -1));
    __m512i mins = _mm512_shuffle_epi8(unpacked, min_words);
#define SNUG_BSUMS(t) _mm256_loadu_si256((const __m256i *)snug_tile_act(a, a_stride, t, i)->bsums)
    __m512i bsums01 = _mm512_zextsi256_si512(SNUG_BSUMS(0)), bsums23 = _mm512_setzero_si512();
    if (T > 1) bsums01 = _mm512_inserti64x4(bsums01, SNUG_BSUMS(1), 1);
    if (T > 2) bsums23 = _mm512_zextsi256_si512(SNUG_BSUMS(2));
    if (T > 3) bsums23 = _mm512_inserti64x4(bsums23, SNUG_BSUMS(3), 1);
#undef SNUG_BSUMS
    /* Pairs as int32, then int16 (|pair| ≤ 2 · 16 · 128): lanes [t0 pairs 0–3, t2 0–3], [t0 4–7, t2 4–7], [t1 0–3,
     * t3 0–3], [t1 4–7, t3 4–7]. */
    __m512i pairs = _mm512_packs_epi32(_mm512_madd_epi16(bsums01, ones), _mm512_madd_epi16(bsums23, ones));
    __m512i sum = _mm512_madd_epi16(_mm512_shuffle_epi32(mins, _MM_PERM_AAAA),
                                    _mm512_permutexvar_epi32(_mm512_loadu_si512(column[0]), pairs));
    sum = _mm512_add_epi32(sum, _mm512_madd_epi16(_mm512_shuffle_epi32(mins, _MM_PERM_BBBB),
                                                  _mm512_permutexvar_epi32(_mm512_loadu_si512(column[1]), pairs)));
    sum = _mm512_add_epi32(sum, _mm512_madd_epi16(_mm512_shuffle_epi32(mins, _MM_PERM_CCCC),
                                                  _mm512_permutexvar_epi32(_mm512_loadu_si512(column[2]), pairs)));
    return _mm512_add_epi32(sum, _mm512_madd_epi16(_mm512_shuffle_epi32(mins, _MM_PERM_DDDD),
                                                   _mm512_permutexvar_epi32(_mm512_loadu_si512(column[3]), pairs)));
}

/* Token t's 16 bsums added in neighbouring pairs: the sums over Q4_K / Q5_K's 32-element sub-blocks. */
SNUG_TILE_INLINE __m128i snug_tile_bsum_pairs(const snug_block_q8_k *a) {
    __m256i bsums = _mm256_loadu_si256((const __m256i *)a->bsums);
    return _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
}

/* y[t · y_stride + r] = lane 4r + t of acc, for r < R, t < T. */
SNUG_TILE_INLINE void snug_tile_store(float *y, int64_t y_stride, __m512 acc, const int R, const int T) {
    float lanes[16];
    _mm512_storeu_ps(lanes, acc);
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[t * y_stride + r] = lanes[4 * r + t];
}

/* ---- decoding one super-block into zmm registers (shared by the vec_dot and dot_tile kernels) */

/* vpshufb control selecting int16 j in every word: bytes 2j, 2j + 1. As a dword: two such words. */
#define SNUG_WORD_PICK(j) ((int)(((2 * (j) + 1) << 24) | ((2 * (j)) << 16) | ((2 * (j) + 1) << 8) | (2 * (j))))

/* From 8 int16 scales in every 128-bit lane: lanes 0–1 take int16 j0, lanes 2–3 int16 j1 (a 32-element sub-block
 * per 256-bit half: Q4_K / Q5_K). */
SNUG_TILE_INLINE __m512i snug_pick_halves(__m512i scales, int j0, int j1) {
    const __m512i control =
        _mm512_setr_epi32(SNUG_WORD_PICK(j0), SNUG_WORD_PICK(j0), SNUG_WORD_PICK(j0), SNUG_WORD_PICK(j0),
                          SNUG_WORD_PICK(j0), SNUG_WORD_PICK(j0), SNUG_WORD_PICK(j0), SNUG_WORD_PICK(j0),
                          SNUG_WORD_PICK(j1), SNUG_WORD_PICK(j1), SNUG_WORD_PICK(j1), SNUG_WORD_PICK(j1),
                          SNUG_WORD_PICK(j1), SNUG_WORD_PICK(j1), SNUG_WORD_PICK(j1), SNUG_WORD_PICK(j1));
    return _mm512_shuffle_epi8(scales, control);
}

/* Lane k takes int16 j + k (a 16-element sub-block per 128-bit lane: Q6_K, Q3_K, Q2_K). */
SNUG_TILE_INLINE __m512i snug_pick_lanes(__m512i scales, int j) {
    const __m512i control =
        _mm512_setr_epi32(SNUG_WORD_PICK(j), SNUG_WORD_PICK(j), SNUG_WORD_PICK(j), SNUG_WORD_PICK(j),
                          SNUG_WORD_PICK(j + 1), SNUG_WORD_PICK(j + 1), SNUG_WORD_PICK(j + 1), SNUG_WORD_PICK(j + 1),
                          SNUG_WORD_PICK(j + 2), SNUG_WORD_PICK(j + 2), SNUG_WORD_PICK(j + 2), SNUG_WORD_PICK(j + 2),
                          SNUG_WORD_PICK(j + 3), SNUG_WORD_PICK(j + 3), SNUG_WORD_PICK(j + 3), SNUG_WORD_PICK(j + 3));
    return _mm512_shuffle_epi8(scales, control);
}

/* Q4_K levels 0..15: levels[c] holds those of activations 64c … 64c+63 in order. Bytes 32c … 32c+31 of qs carry
 * them as low nibbles (first 32) and high nibbles (next 32): broadcast to both halves, the upper half shifted. */
SNUG_TILE_INLINE void snug_q4_k_levels512(const snug_block_q4_k *b, __m512i levels[4]) {
    const __m512i nibble = _mm512_set1_epi8(0x0f);
    const __mmask32 upper_half = 0xffff0000u; /* words 16–31 */
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * c)));
        levels[c] = _mm512_and_si512(_mm512_mask_srli_epi16(q, upper_half, q, 4), nibble);
    }
}

/* Q5_K levels 0..31: as Q4_K, plus the fifth bit of activation 64c + 32h + l, bit 2c + h of qh[l]. qh (broadcast to
 * both halves) is shifted right by 2 per chunk, so those bits sit at 0 (lower half) and 1 (upper half): a 16-bit
 * shift left by 4 or 3 brings them to bit 4; the bits read stay inside their byte. */
SNUG_TILE_INLINE void snug_q5_k_levels512(const snug_block_q5_k *b, __m512i levels[4]) {
    const __m512i nibble = _mm512_set1_epi8(0x0f);
    const __m512i to_bit4 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(3), 1);
    const __mmask32 upper_half = 0xffff0000u;
    enum { A_OR_B_AND_C = 0xF8 };
    __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)b->qh));
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * c)));
        q = _mm512_and_si512(_mm512_mask_srli_epi16(q, upper_half, q, 4), nibble);
        levels[c] = _mm512_ternarylogic_epi32(q, _mm512_sllv_epi16(qh, to_bit4), _mm512_set1_epi8(0x10), A_OR_B_AND_C);
        qh = _mm512_srli_epi16(qh, 2);
    }
}

/* Q6_K levels 0..63 (q + 32): levels[k] holds those of activations 64k … 64k+63 in order. Activations 128n …
 * 128n+63 are the low nibbles of ql[64n … 64n+63] with qh bits 0–1 (first 32) and 2–3 (next 32) on top; 128n+64 …
 * 128n+127 the high nibbles with qh bits 4–5 and 6–7. qh is broadcast into both halves and shifted per half. */
SNUG_TILE_INLINE void snug_q6_k_levels512(const snug_block_q6_k *b, __m512i levels[4]) {
    const __m512i nibble = _mm512_set1_epi8(0x0f);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    const __m512i left = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i right = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    enum { A_OR_B_AND_C = 0xF8 }; /* vpternlogd truth table of a | (b & c) */
#pragma GCC unroll 2
    for (int half = 0; half < 2; half++) {
        __m512i ql = _mm512_loadu_si512(b->ql + 64 * half);
        __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * half)));
        levels[2 * half] =
            _mm512_ternarylogic_epi32(_mm512_and_si512(ql, nibble), _mm512_sllv_epi16(qh, left), bits45, A_OR_B_AND_C);
        levels[2 * half + 1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(ql, 4), nibble),
                                                         _mm512_srlv_epi16(qh, right), bits45, A_OR_B_AND_C);
    }
}

#endif

#endif
