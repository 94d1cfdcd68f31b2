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
#define LEGACY_GROUP  8 /* blocks whose scales are converted together */

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

LEGACY_INLINE float legacy_load_f16(const uint8_t *p) { return _cvtsh_ss(legacy_load_u16(p)); }

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
LEGACY_INLINE __m256i legacy_sum_pairs(__m256i p) { return _mm256_madd_epi16(p, _mm256_set1_epi16(1)); }

LEGACY_INLINE __m256i legacy_load32(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

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
    __m256i q =
        _mm256_or_si256(legacy_nibbles(w + 8), _mm256_and_si256(legacy_fifth_bits(w + 4), _mm256_set1_epi8(16)));
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

/* ---- the Q4_0 decode layouts (legacy_avx2.c: 2 blocks a chunk; legacy_avx512vnni.c: 4) -------------------------
 *
 * One token's activations laid out in chunks of `blocks` Q8_0 blocks, 64 · blocks bytes each: elements 0–15 of each
 * block (16 int8 at 16 · j), then elements 16–31 (at 16 · blocks + 16 · j), then 4 · blocks f32 d_a (lane l: block
 * l / 4's), then 4 · blocks f32 offset terms 2 · d_a · Σ q_a (the −8 of Q4_0 times the block's Σ a, spread over its 4
 * int32 lanes). The quants are `encode`'s (the ISA's Q8_0 encoder), bit for bit. The unused blocks of a partial last
 * chunk are zero, whatever the buffer held. Each file says why its kernel wants this order. */
#define LEGACY_DECODE_MAX_BLOCKS 4

static inline uint64_t legacy_q4_0_decode_bytes(int64_t n, int blocks) {
    return (uint64_t)((n / SNUG_QK4_0 + blocks - 1) / blocks) * (uint64_t)(64 * blocks);
}

static inline void legacy_q4_0_decode_layout(const float *x, void *dst, int64_t n, int blocks,
                                             snug_quantize_act_fn encode) {
    const int64_t nb = n / SNUG_QK4_0;
    const int chunk_bytes = 64 * blocks, hi = 16 * blocks, scales_at = 32 * blocks, offsets_at = 48 * blocks;
    uint8_t *out = dst;
    if (nb % blocks) memset(out + (nb / blocks) * chunk_bytes, 0, (size_t)chunk_bytes);
    for (int64_t b0 = 0; b0 < nb; b0 += blocks) {
        const int count = (int)(nb - b0 < blocks ? nb - b0 : blocks);
        uint8_t q8[LEGACY_DECODE_MAX_BLOCKS * SNUG_Q8_0_BLOCK_BYTES];
        encode(x + b0 * SNUG_QK4_0, q8, (int64_t)count * SNUG_QK4_0);
        uint8_t *chunk = out + (b0 / blocks) * chunk_bytes;
        float scales[4 * LEGACY_DECODE_MAX_BLOCKS] = {0}, offsets[4 * LEGACY_DECODE_MAX_BLOCKS] = {0};
        for (int j = 0; j < count; j++) {
            const uint8_t *block = q8 + j * SNUG_Q8_0_BLOCK_BYTES;
            const int8_t *q = (const int8_t *)(block + 2);
            int32_t sum = 0;
            for (int i = 0; i < SNUG_QK4_0; i++) sum += q[i];
            memcpy(chunk + 16 * j, q, 16);
            memcpy(chunk + hi + 16 * j, q + 16, 16);
            const float d = legacy_load_f16(block);
            for (int lane = 0; lane < 4; lane++) {
                scales[4 * j + lane] = d;
                offsets[4 * j + lane] = 2.0f * d * (float)sum;
            }
        }
        memcpy(chunk + scales_at, scales, 4 * sizeof(float) * (size_t)blocks);
        memcpy(chunk + offsets_at, offsets, 4 * sizeof(float) * (size_t)blocks);
    }
}

/* Σ (q − 8) · a of block j of a decode chunk, element by element (the blocks of a partial last chunk). */
static inline int32_t legacy_q4_0_decode_block_isum(const uint8_t *w, const uint8_t *chunk, int j, int blocks) {
    const int8_t *lo = (const int8_t *)(chunk + 16 * j), *hi = (const int8_t *)(chunk + 16 * blocks + 16 * j);
    int32_t isum = 0;
    for (int i = 0; i < 16; i++) isum += ((w[2 + i] & 0x0f) - 8) * lo[i] + ((w[2 + i] >> 4) - 8) * hi[i];
    return isum;
}

/* ---- the AVX2 prefill tile (legacy_avx2.c) ---------------------------------------------------------------------
 *
 * dot_tile computes up to 4 rows × 4 tokens. Two weight rows share a ymm, row 2p in the lower 128-bit lane and row
 * 2p + 1 in the upper one, 16 quants each (a block's elements 0–15 in one ymm, 16–31 in another); an activation's
 * 16 quants are broadcast to both lanes. vpmaddubsw + vpmaddwd then leave in each lane 4 int32 partial sums of its own
 * row, so the block scale d_w(row) · d_a(token) is constant across a lane: one convert, one multiply and one FMA
 * scale two rows at once, and each int32 lane belongs to exactly one output until the 4 partial sums of a row are
 * added at the end. Each weight block is loaded once per tile and meets the 4 tokens; each activation block is
 * loaded once and meets the 4 rows. Rows past n_rows repeat the last row (their sums are computed, not stored). */
#define TILE_ROWS  4 /* SNUG_TILE_MAX */
#define TILE_GROUP 8 /* blocks whose f16 scales are widened together (one vcvtph2ps per row and per token) */

/* The f16 scales of `count` blocks (≤ TILE_GROUP) at p, p + stride, …, widened; lanes past count are 0. Only the
 * count scales are read (the last group of a row must not read past its end). */
LEGACY_INLINE __m256 tile_scales(const uint8_t *p, int stride, int count) {
    if (count == TILE_GROUP) return legacy_f16_scales8(p, stride);
    uint16_t h[TILE_GROUP] = {0};
    for (int k = 0; k < count; k++) h[k] = legacy_load_u16(p + k * stride);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

/* Rows past n_rows point at the last row. */
LEGACY_INLINE void tile_row_pointers(const uint8_t *row[TILE_ROWS], const uint8_t *w, uint64_t w_stride, int n_rows) {
    for (int r = 0; r < TILE_ROWS; r++) row[r] = w + (uint64_t)(r < n_rows ? r : n_rows - 1) * w_stride;
}

/* The two 16-byte runs at r0 + offset and r1 + offset, in the lower and upper lane. */
LEGACY_INLINE __m256i tile_rows2(const uint8_t *r0, const uint8_t *r1, uint64_t offset) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(r0 + offset))),
                                   _mm_loadu_si128((const __m128i *)(r1 + offset)), 1);
}

/* The 4 int32 partial sums in each lane → one float per lane: ((p0 + p1) + (p2 + p3)), in lane order. */
LEGACY_INLINE __m128 tile_lane_sums2(__m256 s) {
    s = _mm256_add_ps(s, _mm256_permute_ps(s, _MM_SHUFFLE(2, 3, 0, 1)));
    s = _mm256_add_ps(s, _mm256_permute_ps(s, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_unpacklo_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)); /* [row 2p, row 2p + 1, …] */
}

/* ---- the AVX-512 prefill tile (legacy_avx512.c, legacy_avx512vnni.c) ----------------------------------------------
 *
 * As the AVX2 tile with four 128-bit lanes: all 4 rows of a tile share one zmm (row r in lane r), so per block and
 * token one convert, one multiply and one FMA scale the whole tile column. The ISA files supply the integer part:
 * how a block's weights are prepared once per tile (tile_prep_fn) and how they meet one token's broadcast
 * activations (tile_idot_fn, 4 int32 partial sums per row, exact). */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)

/* ---- AVX-512 vec_dot (legacy_avx512.c, legacy_avx512vnni.c) ---- */

#define LEGACY_ACCUMULATORS512 4 /* independent FMA chains */

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

typedef __m512i (*pair_dot_fn)(const uint8_t *w, int w_bytes, const uint8_t *a, int a_bytes);
typedef __m256i (*block_dot_fn)(const uint8_t *w, const uint8_t *a);

/* vec_dot over nb blocks as dot_blocks of legacy_avx2.c, two blocks per 512-bit step (`pair` returns 16 int32: lanes
 * 0–7 sum to the first block's isum, 8–15 to the second's); the blocks after the last full group go one at a time
 * through the AVX2 `block`. */
LEGACY_INLINE float legacy_dot_pairs(int64_t nb, const uint8_t *w, int w_bytes, const uint8_t *a, int a_bytes,
                                     pair_dot_fn pair, block_dot_fn block, bool with_min) {
    __m512 acc[LEGACY_ACCUMULATORS512], min_acc = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < LEGACY_ACCUMULATORS512; i++) acc[i] = _mm512_setzero_ps();
    const int step = with_min ? 2 : 1; /* lane k · step of the scale vector is block k's d_w · d_a */
    int64_t b = 0;
    for (; b + LEGACY_GROUP <= nb; b += LEGACY_GROUP, w += LEGACY_GROUP * w_bytes, a += LEGACY_GROUP * a_bytes) {
        snug_stream_ahead(w, (uint64_t)LEGACY_GROUP * w_bytes);
        __m512 scale;
        if (with_min) {
            /* [d0 d_a0, m0 s0, d1 d_a1, m1 s1, …, d7 d_a7, m7 s7]: odd lanes summed as they are. */
            __m256 lo = _mm256_mul_ps(legacy_f16_pairs4(w, w_bytes), legacy_f16_pairs4(a, a_bytes));
            __m256 hi =
                _mm256_mul_ps(legacy_f16_pairs4(w + 4 * w_bytes, w_bytes), legacy_f16_pairs4(a + 4 * a_bytes, a_bytes));
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
                                             (k + 1) * step, (k + 1) * step, (k + 1) * step, (k + 1) * step, k * step,
                                             k * step, k * step, k * step, k * step, k * step, k * step, k * step);
            __m512 p = _mm512_cvtepi32_ps(pair(w + k * w_bytes, w_bytes, a + k * a_bytes, a_bytes));
            acc[(k / 2) % LEGACY_ACCUMULATORS512] =
                _mm512_fmadd_ps(p, _mm512_permutexvar_ps(index, scale), acc[(k / 2) % LEGACY_ACCUMULATORS512]);
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
    for (int i = 1; i < LEGACY_ACCUMULATORS512; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]) + legacy_hsum(tail) + sum;
}

/* ---- the tile ---- */

typedef struct tile_weights {
    __m512i lo, hi;           /* elements 0–15 and 16–31 of the block, row r in lane r */
    __m512i bias;             /* an int32 term the ISA adds per lane (an offset correction), or unused */
    __mmask64 neg_lo, neg_hi; /* negative weights (the sign trick), or unused */
} tile_weights;

typedef tile_weights (*tile_prep_fn)(const uint8_t *const row[TILE_ROWS], uint64_t offset);
/* The 32 activation quants of one block as the ISA wants them (VNNI: + 128), before they are broadcast. */
typedef __m256i (*tile_act_fn)(__m256i a);
/* a_lo / a_hi: the activation's elements 0–15 / 16–31 in every 128-bit lane. */
typedef __m512i (*tile_idot_fn)(const tile_weights *w, __m512i a_lo, __m512i a_hi);

/* The 16-byte runs at row[r] + offset, row r in lane r. */
LEGACY_INLINE __m512i tile_rows4(const uint8_t *const row[TILE_ROWS], uint64_t offset) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(row[0] + offset)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(row[1] + offset)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(row[2] + offset)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(row[3] + offset)), 3);
}

LEGACY_INLINE __m512i tile_broadcast16(const uint8_t *p) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p));
}

/* The f16 scales of TILE_GROUP consecutive blocks of `stride` bytes at p, as 8 words in the low 128 bits: two 64-byte
 * loads and a word permute (vpermt2w picks from 128 bytes) where the group's scales lie within 128 bytes (Q4_0), four
 * loads and two permutes otherwise (blocks 4–7 from the second 128 bytes). Reads only the group's own bytes. */
LEGACY_INLINE __m128i tile_scale_words(const uint8_t *p, int stride) {
    const __m512i step = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 6,
                                          5, 4, 3, 2, 1, 0);
    if (7 * stride + 2 <= 128) {
        __m512i pick = _mm512_mullo_epi16(step, _mm512_set1_epi16((short)(stride / 2)));
        __m512i words = _mm512_permutex2var_epi16(_mm512_loadu_si512(p), pick, _mm512_loadu_si512(p + 64));
        return _mm512_castsi512_si128(words);
    }
    /* blocks k < 4 at word k · stride / 2 of p; blocks k ≥ 4 at word (k − 4) · stride / 2 of p + 4 · stride */
    __m512i pick =
        _mm512_mullo_epi16(_mm512_and_si512(step, _mm512_set1_epi16(3)), _mm512_set1_epi16((short)(stride / 2)));
    const uint8_t *q = p + 4 * stride;
    __m512i first = _mm512_permutex2var_epi16(_mm512_loadu_si512(p), pick, _mm512_loadu_si512(p + 64));
    __m512i second = _mm512_permutex2var_epi16(_mm512_loadu_si512(q), pick, _mm512_loadu_si512(q + 64));
    return _mm512_castsi512_si128(_mm512_mask_mov_epi16(first, 0xf0, second));
}

/* The scales of a full group for two rows (or tokens) at p0 and p1: lanes 0–7 p0's, 8–15 p1's. */
LEGACY_INLINE __m512 tile_scales16(const uint8_t *p0, const uint8_t *p1, int stride) {
    __m256i words =
        _mm256_inserti128_si256(_mm256_castsi128_si256(tile_scale_words(p0, stride)), tile_scale_words(p1, stride), 1);
    return _mm512_cvtph_ps(words);
}

/* `count` blocks starting at block b: weights prepared once, then every token of the tile. dw01 / dw23 hold the
 * weight scales of rows 0–1 / 2–3 for the group (8 lanes a row); da[t][k] the activation scales. */
LEGACY_INLINE void tile_group(__m512 acc[TILE_ROWS], const uint8_t *const row[TILE_ROWS], int w_bytes, const uint8_t *a,
                              uint64_t a_stride, int64_t b, int count, const int n_tokens, __m512 dw01, __m512 dw23,
                              const float da[TILE_ROWS][TILE_GROUP], tile_prep_fn prep, tile_act_fn act,
                              tile_idot_fn idot) {
#pragma GCC unroll 8
    for (int k = 0; k < count; k++) {
        const tile_weights tw = prep(row, (uint64_t)(b + k) * (uint64_t)w_bytes);
        /* Lane 4r + g: row r's scale of block k (dw01 lanes 0–7 row 0, 8–15 row 1; dw23 likewise, indices + 16). */
        const __m512i pick = _mm512_add_epi32(_mm512_set_epi32(24, 24, 24, 24, 16, 16, 16, 16, 8, 8, 8, 8, 0, 0, 0, 0),
                                              _mm512_set1_epi32(k));
        const __m512 dw = _mm512_permutex2var_ps(dw01, pick, dw23);
#pragma GCC unroll 4
        for (int t = 0; t < n_tokens; t++) {
            const uint8_t *ab = a + (uint64_t)t * a_stride + (uint64_t)(b + k) * SNUG_Q8_0_BLOCK_BYTES + 2;
            /* One 32-byte load, lanes broadcast in registers: loads, not ALU ports, bound this loop. */
            const __m512i q = _mm512_castsi256_si512(act(legacy_load32(ab)));
            __m512i isum = idot(&tw, _mm512_shuffle_i32x4(q, q, 0x00), _mm512_shuffle_i32x4(q, q, 0x55));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, _mm512_set1_ps(da[t][k])), acc[t]);
        }
    }
}

/* y[t · y_stride + r] = Σ_blocks d_w · d_a · isum over nb blocks, for r < n_rows and t < n_tokens (a compile-time
 * constant after inlining). Activations are Q8_0. */
LEGACY_INLINE void tile_run(int64_t nb, float *y, int64_t y_stride, const uint8_t *w, uint64_t w_stride, int w_bytes,
                            const uint8_t *a, uint64_t a_stride, int n_rows, const int n_tokens, tile_prep_fn prep,
                            tile_act_fn act, tile_idot_fn idot) {
    const uint8_t *row[TILE_ROWS];
    tile_row_pointers(row, w, w_stride, n_rows);
    __m512 acc[TILE_ROWS];
#pragma GCC unroll 4
    for (int t = 0; t < TILE_ROWS; t++) acc[t] = _mm512_setzero_ps();
    float da[TILE_ROWS][TILE_GROUP] __attribute__((aligned(32)));
    for (int64_t b = 0; b < nb; b += TILE_GROUP) {
        const int count = nb - b < TILE_GROUP ? (int)(nb - b) : TILE_GROUP;
        const uint64_t at = (uint64_t)b * (uint64_t)w_bytes;
        const uint8_t *a0 = a + (uint64_t)b * SNUG_Q8_0_BLOCK_BYTES;
        __m512 dw01, dw23;
        if (count == TILE_GROUP) {
            dw01 = tile_scales16(row[0] + at, row[1] + at, w_bytes);
            dw23 = tile_scales16(row[2] + at, row[3] + at, w_bytes);
#pragma GCC unroll 4
            for (int t = 0; t < n_tokens; t += 2) {
                const uint8_t *p0 = a0 + (uint64_t)t * a_stride, *p1 = t + 1 < n_tokens ? p0 + a_stride : p0;
                __m512 both = tile_scales16(p0, p1, SNUG_Q8_0_BLOCK_BYTES);
                _mm256_store_ps(da[t], _mm512_castps512_ps256(both));
                if (t + 1 < n_tokens) _mm256_store_ps(da[t + 1], _mm512_extractf32x8_ps(both, 1));
            }
        } else {
            dw01 = _mm512_insertf32x8(_mm512_castps256_ps512(tile_scales(row[0] + at, w_bytes, count)),
                                      tile_scales(row[1] + at, w_bytes, count), 1);
            dw23 = _mm512_insertf32x8(_mm512_castps256_ps512(tile_scales(row[2] + at, w_bytes, count)),
                                      tile_scales(row[3] + at, w_bytes, count), 1);
            for (int t = 0; t < n_tokens; t++) {
                _mm256_store_ps(da[t], tile_scales(a0 + (uint64_t)t * a_stride, SNUG_Q8_0_BLOCK_BYTES, count));
            }
        }
        /* Read da back from memory: the multiply then broadcasts it from its memory operand for free, where the
         * compiler would otherwise shuffle each value out of the register it just stored. */
        __asm__("" : "+m"(da));
        if (count == TILE_GROUP) {
            tile_group(acc, row, w_bytes, a, a_stride, b, TILE_GROUP, n_tokens, dw01, dw23, da, prep, act, idot);
        } else {
            tile_group(acc, row, w_bytes, a, a_stride, b, count, n_tokens, dw01, dw23, da, prep, act, idot);
        }
    }
    /* Lane 4r + g → row r: ((g0 + g1) + (g2 + g3)), then lanes 0, 4, 8, 12 to the 4 rows. */
    const __mmask8 store = (__mmask8)((1u << n_rows) - 1u);
#pragma GCC unroll 4
    for (int t = 0; t < n_tokens; t++) {
        __m512 s = acc[t];
        s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(2, 3, 0, 1)));
        s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(1, 0, 3, 2)));
        __m128 rows = _mm512_castps512_ps128(
            _mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), s));
        _mm_mask_storeu_ps(y + t * y_stride, store, rows);
    }
}

/* The dot_tile entry point of one type: the token count becomes a constant of the inlined loop. */
LEGACY_INLINE void tile_dispatch(int64_t nb, float *y, int64_t y_stride, const void *w, uint64_t w_stride, int w_bytes,
                                 const void *a, uint64_t a_stride, int n_rows, int n_tokens, tile_prep_fn prep,
                                 tile_act_fn act, tile_idot_fn idot) {
    switch (n_tokens) {
    case 1: tile_run(nb, y, y_stride, w, w_stride, w_bytes, a, a_stride, n_rows, 1, prep, act, idot); break;
    case 2: tile_run(nb, y, y_stride, w, w_stride, w_bytes, a, a_stride, n_rows, 2, prep, act, idot); break;
    case 3: tile_run(nb, y, y_stride, w, w_stride, w_bytes, a, a_stride, n_rows, 3, prep, act, idot); break;
    default: tile_run(nb, y, y_stride, w, w_stride, w_bytes, a, a_stride, n_rows, 4, prep, act, idot); break;
    }
}

#endif
#endif
#endif
