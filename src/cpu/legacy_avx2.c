/* legacy_avx2.c — Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 with AVX2 + FMA + F16C (see legacy_scalar.c for the math).
 *
 * vec_dot: per 32-element block, widen the weight quants to bytes, multiply them with the int8 activations by
 * vpmaddubsw / vpmaddwd into 8 int32 partial sums (exact; the per-type notes in legacy_x86.h say why no int16
 * saturates), convert to f32 and FMA with the block's d_w · d_a into one of ACCUMULATORS accumulators (so
 * consecutive blocks do not wait on each other's FMA). The f16 scales of 8 blocks are converted and multiplied
 * together, which takes most of the per-block scale work off the vector ports. The _1 types add m_w · s_a per block.
 * quantize_act: the Q8_0 / Q8_1 encoders of quant.c, 32 floats at a time with the same f32 operations, so the
 * output is bit-identical to the scalar one (tests/test_kernels_cpu.c checks it).
 */
#include "cpu/kernels.h"

#if defined(__x86_64__)
#include "cpu/legacy_x86.h"

#define ACCUMULATORS 4 /* independent FMA chains */

typedef __m256i (*block_dot_fn)(const uint8_t *w, const uint8_t *a);

/* Σ over nb blocks of d_w · d_a · isum (+ m_w · s_a when with_min); `block` is inlined per type. Blocks go in groups
 * of LEGACY_GROUP whose scale products are computed in one vector and broadcast from memory (a load, no ALU work);
 * the _1 types' m_w · s_a products come out of the same multiply, interleaved with d_w · d_a. */
LEGACY_INLINE float dot_blocks(int64_t nb, const uint8_t *w, int w_bytes, const uint8_t *a, int a_bytes,
                               block_dot_fn block, bool with_min) {
    __m256 acc[ACCUMULATORS], min_acc = _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + LEGACY_GROUP <= nb; b += LEGACY_GROUP, w += LEGACY_GROUP * w_bytes, a += LEGACY_GROUP * a_bytes) {
        snug_stream_ahead(w, (uint64_t)LEGACY_GROUP * w_bytes);
        float scale[2 * LEGACY_GROUP] __attribute__((aligned(32)));
        int step = 1; /* scale[k · step] is block k's d_w · d_a */
        if (with_min) {
            /* [d0 d_a0, m0 s0, d1 d_a1, m1 s1, …]: even lanes scale the blocks, odd lanes are summed as they are. */
            __m256 lo = _mm256_mul_ps(legacy_f16_pairs4(w, w_bytes), legacy_f16_pairs4(a, a_bytes));
            __m256 hi =
                _mm256_mul_ps(legacy_f16_pairs4(w + 4 * w_bytes, w_bytes), legacy_f16_pairs4(a + 4 * a_bytes, a_bytes));
            _mm256_store_ps(scale, lo);
            _mm256_store_ps(scale + 8, hi);
            min_acc = _mm256_add_ps(min_acc, _mm256_add_ps(lo, hi));
            step = 2;
        } else {
            _mm256_store_ps(scale, _mm256_mul_ps(legacy_f16_scales8(w, w_bytes), legacy_f16_scales8(a, a_bytes)));
        }
#pragma GCC unroll 8
        for (int k = 0; k < LEGACY_GROUP; k++) {
            __m256 p = _mm256_cvtepi32_ps(block(w + k * w_bytes, a + k * a_bytes));
            acc[k % ACCUMULATORS] = _mm256_fmadd_ps(p, _mm256_broadcast_ss(&scale[k * step]), acc[k % ACCUMULATORS]);
        }
    }
    float min_sum = 0.0f;
    if (with_min) { /* the odd lanes of min_acc */
        __m256 odd = _mm256_and_ps(min_acc, _mm256_castsi256_ps(_mm256_set_epi32(-1, 0, -1, 0, -1, 0, -1, 0)));
        min_sum = legacy_hsum(odd);
    }
    for (; b < nb; b++, w += w_bytes, a += a_bytes) {
        __m256 d = _mm256_set1_ps(legacy_load_f16(w) * legacy_load_f16(a));
        acc[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block(w, a)), d, acc[0]);
        if (with_min) min_sum += legacy_load_f16(w + 2) * legacy_load_f16(a + 2);
    }
#pragma GCC unroll 8
    for (int i = 1; i < ACCUMULATORS; i++) acc[0] = _mm256_add_ps(acc[0], acc[i]);
    return legacy_hsum(acc[0]) + min_sum;
}

static void vec_dot_q4_0(int64_t n, float *s, const void *w, const void *a) {
    *s = dot_blocks(n / SNUG_QK4_0, w, SNUG_Q4_0_BLOCK_BYTES, a, SNUG_Q8_0_BLOCK_BYTES, legacy_q4_0_block, false);
}

static void vec_dot_q4_1(int64_t n, float *s, const void *w, const void *a) {
    *s = dot_blocks(n / SNUG_QK4_1, w, SNUG_Q4_1_BLOCK_BYTES, a, SNUG_Q8_1_BLOCK_BYTES, legacy_q4_1_block, true);
}

static void vec_dot_q5_0(int64_t n, float *s, const void *w, const void *a) {
    *s = dot_blocks(n / SNUG_QK5_0, w, SNUG_Q5_0_BLOCK_BYTES, a, SNUG_Q8_0_BLOCK_BYTES, legacy_q5_0_block, false);
}

static void vec_dot_q5_1(int64_t n, float *s, const void *w, const void *a) {
    *s = dot_blocks(n / SNUG_QK5_1, w, SNUG_Q5_1_BLOCK_BYTES, a, SNUG_Q8_1_BLOCK_BYTES, legacy_q5_1_block, true);
}

static void vec_dot_q8_0(int64_t n, float *s, const void *w, const void *a) {
    *s = dot_blocks(n / SNUG_QK8_0, w, SNUG_Q8_0_BLOCK_BYTES, a, SNUG_Q8_0_BLOCK_BYTES, legacy_q8_0_block, false);
}

/* ---- dot_tile: the 4 × 4 tile of legacy_x86.h, two rows per ymm ------------------------------------------------ */

#define TILE_PAIRS (TILE_ROWS / 2) /* ymm registers per tile column */

/* One block of two rows (lanes 0 and 1) prepared once per tile: Q4_0 nibbles as they are (0…15); Q8_0 as |w| with
 * the signs kept apart for the sign trick. */
typedef struct pair_weights {
    __m256i lo, hi;           /* elements 0–15 / 16–31 */
    __m256i sign_lo, sign_hi; /* Q8_0: the weights themselves (their signs) */
} pair_weights;

typedef pair_weights (*pair_prep_fn)(const uint8_t *r0, const uint8_t *r1, uint64_t offset);
/* 4 int32 partial sums per lane; `offset16` is a per-token int16 term the type subtracts (Q4_0: Σ 8·a pairs). */
typedef __m256i (*pair_idot_fn)(const pair_weights *w, __m256i a_lo, __m256i a_hi, __m256i offset16);
typedef __m256i (*act_offset_fn)(__m256i a_lo, __m256i a_hi);

LEGACY_INLINE pair_weights pair_prep_q4_0(const uint8_t *r0, const uint8_t *r1, uint64_t offset) {
    const __m256i nibbles = tile_rows2(r0, r1, offset + 2), low4 = _mm256_set1_epi8(0x0f);
    return (pair_weights){.lo = _mm256_and_si256(nibbles, low4),
                          .hi = _mm256_and_si256(_mm256_srli_epi16(nibbles, 4), low4)};
}

/* Σ 8·a over each int16 pair of both halves: at most 2 · 2·8·128 = 4096. */
LEGACY_INLINE __m256i act_offset_q4_0(__m256i a_lo, __m256i a_hi) {
    const __m256i eight = _mm256_set1_epi8(8);
    return _mm256_add_epi16(_mm256_maddubs_epi16(eight, a_lo), _mm256_maddubs_epi16(eight, a_hi));
}

/* Σ (q − 8) · a = Σ q·a − Σ 8·a: |Σ q·a| ≤ 2 · 2·15·128 = 7680 over the two halves, less the offset: below 11776. */
LEGACY_INLINE __m256i pair_idot_q4_0(const pair_weights *w, __m256i a_lo, __m256i a_hi, __m256i offset16) {
    __m256i qa = _mm256_add_epi16(_mm256_maddubs_epi16(w->lo, a_lo), _mm256_maddubs_epi16(w->hi, a_hi));
    return legacy_sum_pairs(_mm256_sub_epi16(qa, offset16));
}

LEGACY_INLINE pair_weights pair_prep_q8_0(const uint8_t *r0, const uint8_t *r1, uint64_t offset) {
    const __m256i lo = tile_rows2(r0, r1, offset + 2), hi = tile_rows2(r0, r1, offset + 2 + 16);
    return (pair_weights){.lo = _mm256_sign_epi8(lo, lo), .hi = _mm256_sign_epi8(hi, hi), .sign_lo = lo, .sign_hi = hi};
}

LEGACY_INLINE __m256i act_offset_none(__m256i a_lo, __m256i a_hi) { return _mm256_setzero_si256(); }

/* The sign trick, |w| · (±a): pairs reach 2·128·127 = 32512, so each half goes to int32 on its own. */
LEGACY_INLINE __m256i pair_idot_q8_0(const pair_weights *w, __m256i a_lo, __m256i a_hi, __m256i offset16) {
    __m256i lo = _mm256_maddubs_epi16(w->lo, _mm256_sign_epi8(a_lo, w->sign_lo));
    __m256i hi = _mm256_maddubs_epi16(w->hi, _mm256_sign_epi8(a_hi, w->sign_hi));
    return _mm256_add_epi32(legacy_sum_pairs(lo), legacy_sum_pairs(hi));
}

/* The scales of rows 2p and 2p + 1 for block k of the group, each over its own lane: [d(2p) ×4, d(2p+1) ×4]. */
LEGACY_INLINE __m256 pair_scale(const float dw[TILE_ROWS][TILE_GROUP], int p, int k) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_broadcast_ss(&dw[2 * p][k])),
                                _mm_broadcast_ss(&dw[2 * p + 1][k]), 1);
}

LEGACY_INLINE void tile_run(int64_t nb, float *y, int64_t y_stride, const uint8_t *w, uint64_t w_stride, int w_bytes,
                            const uint8_t *a, uint64_t a_stride, int n_rows, const int n_tokens, pair_prep_fn prep,
                            act_offset_fn act_offset, pair_idot_fn idot) {
    const uint8_t *row[TILE_ROWS];
    tile_row_pointers(row, w, w_stride, n_rows);
    __m256 acc[TILE_PAIRS][TILE_ROWS];
#pragma GCC unroll 8
    for (int p = 0; p < TILE_PAIRS; p++) {
#pragma GCC unroll 4
        for (int t = 0; t < TILE_ROWS; t++) acc[p][t] = _mm256_setzero_ps();
    }
    float dw[TILE_ROWS][TILE_GROUP] __attribute__((aligned(32)));
    float da[TILE_ROWS][TILE_GROUP] __attribute__((aligned(32)));
    for (int64_t b = 0; b < nb; b += TILE_GROUP) {
        const int count = nb - b < TILE_GROUP ? (int)(nb - b) : TILE_GROUP;
        const uint64_t at = (uint64_t)b * (uint64_t)w_bytes;
        for (int r = 0; r < TILE_ROWS; r++) _mm256_store_ps(dw[r], tile_scales(row[r] + at, w_bytes, count));
        for (int t = 0; t < n_tokens; t++) {
            const uint8_t *ab = a + (uint64_t)t * a_stride + (uint64_t)b * SNUG_Q8_0_BLOCK_BYTES;
            _mm256_store_ps(da[t], tile_scales(ab, SNUG_Q8_0_BLOCK_BYTES, count));
        }
        __asm__("" : "+m"(dw), "+m"(da)); /* broadcast the scales from memory (see legacy_x86.h) */
        for (int k = 0; k < count; k++) {
            const uint64_t wo = (uint64_t)(b + k) * (uint64_t)w_bytes;
            pair_weights pw[TILE_PAIRS];
#pragma GCC unroll 2
            for (int p = 0; p < TILE_PAIRS; p++) pw[p] = prep(row[2 * p], row[2 * p + 1], wo);
#pragma GCC unroll 4
            for (int t = 0; t < n_tokens; t++) {
                const uint8_t *ab = a + (uint64_t)t * a_stride + (uint64_t)(b + k) * SNUG_Q8_0_BLOCK_BYTES + 2;
                const __m256i a_lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)ab));
                const __m256i a_hi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(ab + 16)));
                const __m256i offset16 = act_offset(a_lo, a_hi);
                const __m256 d_a = _mm256_broadcast_ss(&da[t][k]);
#pragma GCC unroll 2
                for (int p = 0; p < TILE_PAIRS; p++) {
                    __m256 isum = _mm256_cvtepi32_ps(idot(&pw[p], a_lo, a_hi, offset16));
                    acc[p][t] = _mm256_fmadd_ps(isum, _mm256_mul_ps(pair_scale(dw, p, k), d_a), acc[p][t]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < n_tokens; t++) {
        /* [row 0, row 1, row 0, row 1] and [row 2, row 3, …] → the 4 rows */
        __m128 rows = _mm_movelh_ps(tile_lane_sums2(acc[0][t]), tile_lane_sums2(acc[1][t]));
        float out[TILE_ROWS];
        _mm_storeu_ps(out, rows);
        for (int r = 0; r < n_rows; r++) y[t * y_stride + r] = out[r];
    }
}

LEGACY_INLINE void tile_dispatch(int64_t nb, float *y, int64_t y_stride, const void *w, uint64_t w_stride, int w_bytes,
                                 const void *a, uint64_t a_stride, int n_rows, int n_tokens, pair_prep_fn prep,
                                 act_offset_fn act_offset, pair_idot_fn idot) {
    switch (n_tokens) {
    case 1: tile_run(nb, y, y_stride, w, w_stride, w_bytes, a, a_stride, n_rows, 1, prep, act_offset, idot); break;
    case 2: tile_run(nb, y, y_stride, w, w_stride, w_bytes, a, a_stride, n_rows, 2, prep, act_offset, idot); break;
    case 3: tile_run(nb, y, y_stride, w, w_stride, w_bytes, a, a_stride, n_rows, 3, prep, act_offset, idot); break;
    default: tile_run(nb, y, y_stride, w, w_stride, w_bytes, a, a_stride, n_rows, 4, prep, act_offset, idot); break;
    }
}

static void dot_tile_q4_0(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                          uint64_t a_stride, int n_rows, int n_tokens) {
    tile_dispatch(n / SNUG_QK4_0, y, y_stride, w, w_stride, SNUG_Q4_0_BLOCK_BYTES, a, a_stride, n_rows, n_tokens,
                  pair_prep_q4_0, act_offset_q4_0, pair_idot_q4_0);
}

static void dot_tile_q8_0(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                          uint64_t a_stride, int n_rows, int n_tokens) {
    tile_dispatch(n / SNUG_QK8_0, y, y_stride, w, w_stride, SNUG_Q8_0_BLOCK_BYTES, a, a_stride, n_rows, n_tokens,
                  pair_prep_q8_0, act_offset_none, pair_idot_q8_0);
}

/* ---- activation encoders ------------------------------------------------------------------------------------- */

/* round-half-away-from-zero of f32 values, as lroundf: t = trunc(v), then ±1 where |v − t| ≥ 0.5 (v − t is exact). */
static __m256 round_half_away(__m256 v) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(v, t));
    __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, sign_bit));
    return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
}

/* One 32-float block → 32 int8 at q; returns f32 d and adds Σq to *qsum. Same operations as quant.c's encoder. */
static float encode_block(const float *x, uint8_t *q, int32_t *qsum) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(x + 8 * k);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign_bit, v[0]), _mm256_andnot_ps(sign_bit, v[1])),
                             _mm256_max_ps(_mm256_andnot_ps(sign_bit, v[2]), _mm256_andnot_ps(sign_bit, v[3])));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float d = _mm_cvtss_f32(m4) / 127.0f;
    float inv = d != 0.0f ? 1.0f / d : 0.0f;
    __m256i i[4];
    for (int k = 0; k < 4; k++) i[k] = _mm256_cvtps_epi32(round_half_away(_mm256_mul_ps(v[k], _mm256_set1_ps(inv))));
    /* Packing interleaves the 128-bit lanes; the dword permutation puts the 32 bytes back in element order. */
    __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
    packed = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, packed);
    if (qsum) {
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
        *qsum = _mm_cvtsi128_si32(s4);
    }
    return d;
}

static void store_f16(uint8_t *p, float f) {
    uint16_t h = _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); /* IEEE round to nearest even, as snug_f32_to_f16 */
    memcpy(p, &h, sizeof h);
}

static void quantize_act_q8_0(const float *x, void *dst, int64_t n) {
    uint8_t *out = dst;
    for (int64_t b = 0; b < n / SNUG_QK8_0; b++, out += SNUG_Q8_0_BLOCK_BYTES) {
        store_f16(out, encode_block(x + b * SNUG_QK8_0, out + 2, NULL));
    }
}

static void quantize_act_q8_1(const float *x, void *dst, int64_t n) {
    uint8_t *out = dst;
    for (int64_t b = 0; b < n / SNUG_QK8_1; b++, out += SNUG_Q8_1_BLOCK_BYTES) {
        int32_t qsum = 0;
        store_f16(out, encode_block(x + b * SNUG_QK8_1, out + 4, &qsum));
        store_f16(out + 2, legacy_load_f16(out) * (float)qsum); /* s = (d as stored) · Σq */
    }
}

/* ---- decode: Q4_0 against activations laid out in 2-block chunks (kernels.h, snug_decode_kernels) ---------------
 *
 * The AVX2 counterpart of legacy_avx512vnni.c's decode layout. vec_dot above spends half its work per block on the
 * activations and the −8 offset (a second vpmaddubsw and a subtraction); one token's activations are read once per
 * weight row, so they are laid out once per matvec as a plain 32-byte load of two weight blocks needs them. One chunk
 * of 2 blocks (64 elements) is DECODE_CHUNK_BYTES:
 *   bytes  0– 31  elements 0–15 of blocks 0 and 1 (16 int8 each): what the low nibbles meet;
 *   bytes 32– 63  elements 16–31 of the same blocks: what the high nibbles meet;
 *   bytes 64– 95  8 f32, lane l: d_a of block l / 4 (the Q8_0 scale, widened);
 *   bytes 96–127  8 f32, lane l: 2 · d_a · Σ q_a of block l / 4, the offset term 8 · d_a · Σ q_a spread over the
 *                 block's 4 int32 lanes.
 * The 16 nibble bytes of weight block j go to 128-bit lane j; v & 15 and v >> 4 meet the two halves directly, the two
 * vpmaddubsw products add as int16 (each pair at most 2 · 15 · 127 = 3810, their sum 7620: no saturation) and one
 * vpmaddwd makes 4 int32 a block; per chunk the result gains Σ_lanes d_w · (d_a · isum − offset). The f16 d_w of 8
 * blocks are widened together (legacy_f16_scales8) and each chunk takes its two with one permute. A row's last chunk
 * may hold one block (same size, unused bytes zero); it is summed on its own. The quants are Q8_0's, bit for bit
 * (quantize_act_q8_0 writes them first), so the integer sums equal vec_dot's. */
#define DECODE_BLOCKS      2
#define DECODE_CHUNK_BYTES 128
#define DECODE_HI          32                             /* offset of the second halves */
#define DECODE_SCALES      64                             /* offset of the d_a lanes */
#define DECODE_OFFSETS     96                             /* offset of the offset-term lanes */
#define DECODE_GROUP       (LEGACY_GROUP / DECODE_BLOCKS) /* chunks whose d_w are widened together */

static void quantize_act_q8_0(const float *x, void *dst, int64_t n);

static uint64_t decode_act_bytes_q4_0(int64_t n) { return legacy_q4_0_decode_bytes(n, DECODE_BLOCKS); }

static void decode_act_q4_0(const float *x, void *dst, int64_t n) {
    legacy_q4_0_decode_layout(x, dst, n, DECODE_BLOCKS, quantize_act_q8_0);
}

/* acc + Σ_lanes d_w · (d_a · isum − offset) over chunk c (2 whole blocks); d_w holds block 2c's scale in lanes 0–3
 * and block 2c + 1's in lanes 4–7. */
LEGACY_INLINE __m256 decode_chunk_q4_0(const uint8_t *w, const uint8_t *a, int64_t c, __m256 d_w, __m256 acc) {
    const uint8_t *wc = w + c * DECODE_BLOCKS * SNUG_Q4_0_BLOCK_BYTES, *ac = a + c * DECODE_CHUNK_BYTES;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    __m256i q = _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(wc + 2)));
    q = _mm256_inserti128_si256(q, _mm_loadu_si128((const __m128i *)(wc + 2 + SNUG_Q4_0_BLOCK_BYTES)), 1);
    const __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    const __m256i pairs =
        _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)ac)),
                         _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(ac + DECODE_HI))));
    const __m256i isum = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
    const __m256 t = _mm256_fmsub_ps(_mm256_cvtepi32_ps(isum),
                                     _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(ac + DECODE_SCALES))),
                                     _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(ac + DECODE_OFFSETS))));
    return _mm256_fmadd_ps(d_w, t, acc);
}

/* The d_w lanes of chunk c on their own: block 2c's scale in lanes 0–3, block 2c + 1's in lanes 4–7. */
static __m256 decode_chunk_scales(const uint8_t *w, int64_t c) {
    const uint8_t *wc = w + c * DECODE_BLOCKS * SNUG_Q4_0_BLOCK_BYTES;
    return _mm256_set_m128(_mm_set1_ps(legacy_load_f16(wc + SNUG_Q4_0_BLOCK_BYTES)), _mm_set1_ps(legacy_load_f16(wc)));
}

static void decode_dot_q4_0(int64_t n, float *s, const void *wv, const void *av) {
    const uint8_t *w = wv, *a = av;
    const int64_t nb = n / SNUG_QK4_0, whole = nb / DECODE_BLOCKS;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}; /* two chains: the FMA latency */
    int64_t c = 0;
    for (; c + DECODE_GROUP <= whole; c += DECODE_GROUP) {
        const uint8_t *wg = w + c * DECODE_BLOCKS * SNUG_Q4_0_BLOCK_BYTES;
        snug_stream_ahead(wg, (uint64_t)LEGACY_GROUP * SNUG_Q4_0_BLOCK_BYTES);
        const __m256 d8 = legacy_f16_scales8(wg, SNUG_Q4_0_BLOCK_BYTES); /* d_w of the group's 8 blocks */
#pragma GCC unroll 4
        for (int k = 0; k < DECODE_GROUP; k++) {
            const __m256i pick =
                _mm256_setr_epi32(2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1);
            acc[k % 2] = decode_chunk_q4_0(w, a, c + k, _mm256_permutevar8x32_ps(d8, pick), acc[k % 2]);
        }
    }
    for (; c < whole; c++) acc[0] = decode_chunk_q4_0(w, a, c, decode_chunk_scales(w, c), acc[0]);
    float sum = legacy_hsum(_mm256_add_ps(acc[0], acc[1]));
    if (nb % DECODE_BLOCKS) { /* the last block, alone in its chunk */
        const uint8_t *block = w + whole * DECODE_BLOCKS * SNUG_Q4_0_BLOCK_BYTES;
        const uint8_t *chunk = a + whole * DECODE_CHUNK_BYTES;
        float d_a;
        memcpy(&d_a, chunk + DECODE_SCALES, sizeof d_a);
        sum += legacy_load_f16(block) * d_a * (float)legacy_q4_0_decode_block_isum(block, chunk, 0, DECODE_BLOCKS);
    }
    *s = sum;
}

void snug_register_legacy_avx2(snug_kernel_table t) {
    t[SNUG_TYPE_Q4_0] = (snug_type_kernels){SNUG_TYPE_Q8_0, quantize_act_q8_0, vec_dot_q4_0, dot_tile_q4_0};
    t[SNUG_TYPE_Q4_0].decode = (snug_decode_kernels){decode_act_q4_0, decode_dot_q4_0, decode_act_bytes_q4_0};
    t[SNUG_TYPE_Q4_1] = (snug_type_kernels){SNUG_TYPE_Q8_1, quantize_act_q8_1, vec_dot_q4_1};
    t[SNUG_TYPE_Q5_0] = (snug_type_kernels){SNUG_TYPE_Q8_0, quantize_act_q8_0, vec_dot_q5_0};
    t[SNUG_TYPE_Q5_1] = (snug_type_kernels){SNUG_TYPE_Q8_1, quantize_act_q8_1, vec_dot_q5_1};
    t[SNUG_TYPE_Q8_0] = (snug_type_kernels){SNUG_TYPE_Q8_0, quantize_act_q8_0, vec_dot_q8_0, dot_tile_q8_0};
}
#endif
