/* legacy_avx512vnni.c — Q4_0 and Q8_0 with AVX-512 VNNI (see legacy_scalar.c for the math, legacy_avx512.c for the
 * layout).
 *
 * vpdpbusd multiplies 64 unsigned × signed byte pairs and adds each four into an int32 lane in one instruction, where
 * AVX-512BW needs vpmaddubsw + vpmaddwd; there is no int16 step, so no saturation bound to respect. Signed × signed
 * products need one operand made unsigned:
 *   - vec_dot (decode, two blocks per step as legacy_avx512.c): Q4_0 keeps its nibbles 0…15 unsigned and subtracts
 *     Σ 8·a (a second vpdpbusd); Q8_0 uses the sign trick |w| · (±a).
 *   - dot_tile (prefill, a wide tile of 16 rows × up to 16 tokens, below): the activations become unsigned, a + 128
 *     (one xor, as |a| ≤ 127 from the Q8 encoders), and the weights signed (Q4_0: q − 8); Σ (a + 128) · w =
 *     Σ a·w + 128 Σ w, so the accumulator starts at −128 Σ w, which depends on the weights only and is computed
 *     once per block for the whole tile.
 * Integer sums are exact, so results equal the AVX-512 ones up to the order of f32 accumulation.
 * Compiled with -mavx512vnni (Makefile) and used only where cpuid reports avx512vnni (dispatch.c).
 */
#include "cpu/kernels.h"

#if defined(__x86_64__)
#include "cpu/legacy_x86.h"

/* ---- vec_dot ---- */

/* 16 int32: lanes 0–7 sum to the first block's Σ (q − 8) · a, 8–15 to the second's. */
LEGACY_INLINE __m512i q4_0_pair(const uint8_t *w, int w_bytes, const uint8_t *a, int a_bytes) {
    const __m512i zero = _mm512_setzero_si512();
    __m512i qa = load2x32(a + 2, a + a_bytes + 2);
    __m512i qa_sum8 = _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(8), qa);
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(zero, nibbles2(w + 2, w + w_bytes + 2), qa), qa_sum8);
}

/* |w| · (a negated where w < 0): |w| ≤ 128 fits the unsigned operand, and −a fits int8 as |a| ≤ 127. */
LEGACY_INLINE __m512i q8_0_pair(const uint8_t *w, int w_bytes, const uint8_t *a, int a_bytes) {
    __m512i qw = load2x32(w + 2, w + w_bytes + 2), qa = load2x32(a + 2, a + a_bytes + 2);
    __m512i signed_a = _mm512_mask_sub_epi8(qa, _mm512_movepi8_mask(qw), _mm512_setzero_si512(), qa);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(qw), signed_a);
}

static void vec_dot_q4_0(int64_t n, float *s, const void *w, const void *a) {
    *s = legacy_dot_pairs(n / SNUG_QK4_0, w, SNUG_Q4_0_BLOCK_BYTES, a, SNUG_Q8_0_BLOCK_BYTES, q4_0_pair,
                          legacy_q4_0_block, false);
}

static void vec_dot_q8_0(int64_t n, float *s, const void *w, const void *a) {
    *s = legacy_dot_pairs(n / SNUG_QK8_0, w, SNUG_Q8_0_BLOCK_BYTES, a, SNUG_Q8_0_BLOCK_BYTES, q8_0_pair,
                          legacy_q8_0_block, false);
}

/* ---- decode: Q4_0 against activations laid out in 4-block chunks (kernels.h, snug_decode_kernels) ---------------
 *
 * vec_dot above spends most of its instructions getting data into place: two loads and an insert for the
 * activations, a broadcast, a masked broadcast and a shift for the nibbles, a second vpdpbusd and a subtraction for
 * the −8 offset. One token's activations are read once per weight row, so they are laid out once per matvec in the
 * order the weights come out of a plain load. One chunk of 4 blocks (128 elements) is DECODE_CHUNK_BYTES:
 *   bytes   0– 63  elements 0–15 of blocks 0, 1, 2, 3 (16 int8 each): what the low nibbles meet;
 *   bytes  64–127  elements 16–31 of the same blocks: what the high nibbles meet;
 *   bytes 128–191  16 f32, lane l: d_a of block l / 4 (the Q8_0 scale, widened);
 *   bytes 192–255  16 f32, lane l: 2 · d_a · Σ q_a of block l / 4, i.e. the offset term 8 · d_a · Σ q_a spread over
 *                  the block's 4 int32 lanes.
 * The 16 nibble bytes of weight block j go to 128-bit lane j with four 16-byte loads; v & 15 and v >> 4 then meet
 * the first and second half directly, and per chunk the result gains Σ_lanes d_w · (d_a · isum − offset): 2
 * vpdpbusd and 6 other vector operations for 4 blocks where vec_dot needs about 20. A row's last chunk may hold
 * fewer than 4 blocks (same size, unused bytes zero); its blocks are summed one at a time. The quants are Q8_0's,
 * bit for bit (the AVX2 encoder writes them first), so the integer sums equal vec_dot's. */
#define DECODE_BLOCKS      4
#define DECODE_CHUNK_BYTES 256
#define DECODE_HI          64  /* offset of the second halves */
#define DECODE_SCALES      128 /* offset of the d_a lanes */
#define DECODE_OFFSETS     192 /* offset of the offset-term lanes */

static snug_quantize_act_fn q8_0_encode; /* the table's Q8_0 encoder, captured at registration */

static uint64_t decode_act_bytes_q4_0(int64_t n) { return legacy_q4_0_decode_bytes(n, DECODE_BLOCKS); }

static void decode_act_q4_0(const float *x, void *dst, int64_t n) {
    legacy_q4_0_decode_layout(x, dst, n, DECODE_BLOCKS, q8_0_encode);
}

/* acc + Σ_lanes d_w · (d_a · isum − offset) over chunk c (4 whole blocks). */
LEGACY_INLINE __m512 decode_chunk_q4_0(const uint8_t *w, const uint8_t *a, int64_t c, __m512 acc) {
    const uint8_t *wc = w + c * DECODE_BLOCKS * SNUG_Q4_0_BLOCK_BYTES, *ac = a + c * DECODE_CHUNK_BYTES;
    /* Word 9j of the chunk's first 64 bytes is block j's f16 d_w: lane l of the widened result takes block l / 4's. */
    const __m512i scale_words = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 27, 27, 27, 27, 18, 18,
                                                 18, 18, 9, 9, 9, 9, 0, 0, 0, 0);
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    __m512i q = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(wc + 2)));
    q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(wc + 2 + SNUG_Q4_0_BLOCK_BYTES)), 1);
    q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(wc + 2 + 2 * SNUG_Q4_0_BLOCK_BYTES)), 2);
    q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(wc + 2 + 3 * SNUG_Q4_0_BLOCK_BYTES)), 3);
    const __m512 d_w =
        _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(scale_words, _mm512_loadu_si512(wc))));
    const __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
    const __m512i isum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(ac)),
                                             hi, _mm512_loadu_si512(ac + DECODE_HI));
    const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(isum), _mm512_loadu_ps(ac + DECODE_SCALES),
                                     _mm512_loadu_ps(ac + DECODE_OFFSETS));
    return _mm512_fmadd_ps(d_w, t, acc);
}

static void decode_dot_q4_0(int64_t n, float *s, const void *wv, const void *av) {
    const uint8_t *w = wv, *a = av;
    const int64_t nb = n / SNUG_QK4_0, whole = nb / DECODE_BLOCKS;
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()}; /* two chains: the FMA latency */
    int64_t c = 0;
    for (; c + 2 <= whole; c += 2) {
        snug_stream_ahead(w + c * DECODE_BLOCKS * SNUG_Q4_0_BLOCK_BYTES, 2 * DECODE_BLOCKS * SNUG_Q4_0_BLOCK_BYTES);
        acc[0] = decode_chunk_q4_0(w, a, c, acc[0]);
        acc[1] = decode_chunk_q4_0(w, a, c + 1, acc[1]);
    }
    if (c < whole) acc[0] = decode_chunk_q4_0(w, a, c, acc[0]);
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
    const uint8_t *chunk = a + whole * DECODE_CHUNK_BYTES;
    for (int j = 0; j < (int)(nb - whole * DECODE_BLOCKS); j++) {
        const uint8_t *block = w + (whole * DECODE_BLOCKS + j) * SNUG_Q4_0_BLOCK_BYTES;
        float d_a;
        memcpy(&d_a, chunk + DECODE_SCALES + 4 * j * sizeof(float), sizeof d_a);
        sum += legacy_load_f16(block) * d_a * (float)legacy_q4_0_decode_block_isum(block, chunk, j, DECODE_BLOCKS);
    }
    *s = sum;
}

/* ---- dot_tile ---- */

/* −128 Σ w per int32 lane: the correction for the activations' + 128. */
LEGACY_INLINE __m512i minus_128_sum(__m512i lo, __m512i hi) {
    const __m512i k128 = _mm512_set1_epi8((char)0x80);
    __m512i sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), k128, lo), k128, hi);
    return _mm512_sub_epi32(_mm512_setzero_si512(), sum);
}

/* a + 128 as unsigned bytes (|a| ≤ 127, so 1…255). */
LEGACY_INLINE __m256i tile_act(__m256i a) { return _mm256_xor_si256(a, _mm256_set1_epi8((char)0x80)); }

/* ---- dot_tile, wide: 16 rows × up to 16 tokens ------------------------------------------------------------------
 *
 * One int32 lane per row: the quants of 16 rows are transposed in registers so that lane i holds the 4 weights of
 * its row that meet activation bytes 4j … 4j + 3, and one vpdpbusd multiplies those 4 activation bytes, broadcast
 * from memory, with all 16 rows. A block's scaling (convert, multiply, FMA) then serves 16 outputs where the 4-row
 * tile's serves 4, and the activations need no shuffles: per block and token, 8 vpdpbusd and 3 float operations
 * for 16 × 32 products. The transposition (per block, shared by up to 16 tokens) is two rounds of 4 × 4 dword
 * unpacks, which leave row 4·(i mod 4) + i / 4 in lane i; the store puts the rows back in order.
 * As in the 4 × 4 tile the activations are made unsigned (+ 128, into a small buffer the broadcasts read) and the
 * weights signed, the accumulator starting at −128 Σ w of each row. */
#define WIDE_ROWS   16 /* SNUG_TILE_WIDE_MAX: one row per int32 lane of a zmm */
#define WIDE_TOKENS 16 /* 16 accumulators + 8 weight vectors + bias, scales and temporaries: the 32 zmm registers */
#define WIDE_DWORDS 8  /* 4-byte groups of a 32-element block */

typedef struct wide_weights {
    __m512i q[WIDE_DWORDS]; /* q[j] lane i: the weights of row(i) for elements 4j … 4j + 3, signed */
    __m512i bias;           /* −128 Σ w of row(i) over the block */
} wide_weights;

/* Where the rows (or the tokens) of a tile are: 4 group pointers (rows 4k …) and the stride, so that every row is
 * an addressing mode away, [group + stride · {0, 1, 2}] or [group + 3 · stride], and the loop advances 4 pointers a
 * block. A tile with fewer than 16 rows repeats its last row through a table of pointers instead (`rows` non-null). */
typedef struct wide_rows {
    const uint8_t *group[4];
    uint64_t stride, stride3;
    const uint8_t *const *rows; /* partial tiles: row r at rows[r] + the group[0] advance */
} wide_rows;

LEGACY_INLINE const uint8_t *wide_row(const wide_rows *w, int r) {
    if (w->rows) return w->rows[r] + (w->group[0] - w->rows[0]);
    const uint8_t *g = w->group[r / 4];
    switch (r % 4) {
    case 0: return g;
    case 1: return g + w->stride;
    case 2: return g + 2 * w->stride;
    default: return g + w->stride3;
    }
}

LEGACY_INLINE wide_rows wide_rows_at(const uint8_t *p, uint64_t stride, const uint8_t *const *rows) {
    return (wide_rows){{p, p + 4 * stride, p + 8 * stride, p + 12 * stride}, stride, 3 * stride, rows};
}

LEGACY_INLINE void wide_rows_advance(wide_rows *w, uint64_t bytes) {
    for (int k = 0; k < 4; k++) w->group[k] += bytes;
}

typedef wide_weights (*wide_prep_fn)(const wide_rows *rows, uint64_t offset);

/* The row held by lane i after wide_transpose, and (the same map) the lane holding row r. */
LEGACY_INLINE int wide_row_of_lane(int i) { return 4 * (i % 4) + i / 4; }

/* z[k]: rows 4k … 4k + 3 in 128-bit lanes, 4 dwords each → out[j]: dword j of every row, one per lane. */
LEGACY_INLINE void wide_transpose(const __m512i z[4], __m512i out[4]) {
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    out[0] = _mm512_unpacklo_epi64(t0, t2);
    out[1] = _mm512_unpackhi_epi64(t0, t2);
    out[2] = _mm512_unpacklo_epi64(t1, t3);
    out[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* The 16-byte runs at offset of rows 0–15 → 4 dword columns (wide_transpose). */
LEGACY_INLINE void wide_columns(const wide_rows *rows, uint64_t offset, __m512i out[4]) {
    __m512i z[4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(wide_row(rows, 4 * k) + offset)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(wide_row(rows, 4 * k + 1) + offset)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(wide_row(rows, 4 * k + 2) + offset)), 2);
        z[k] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(wide_row(rows, 4 * k + 3) + offset)), 3);
    }
    wide_transpose(z, out);
}

LEGACY_INLINE wide_weights wide_prep_q4_0(const wide_rows *rows, uint64_t offset) {
    const __m512i low4 = _mm512_set1_epi8(0x0f), eight = _mm512_set1_epi8(8);
    __m512i nibbles[4];
    wide_columns(rows, offset + 2, nibbles);
    wide_weights ww;
    __m512i sum = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) { /* low nibbles: elements 4j …; high nibbles: elements 16 + 4j … */
        ww.q[j] = _mm512_sub_epi8(_mm512_and_si512(nibbles[j], low4), eight);
        ww.q[4 + j] = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(nibbles[j], 4), low4), eight);
        sum = _mm512_add_epi8(sum, _mm512_add_epi8(ww.q[j], ww.q[4 + j])); /* |Σ| ≤ 8 · 8: no int8 overflow */
    }
    ww.bias = minus_128_sum(sum, _mm512_setzero_si512());
    return ww;
}

LEGACY_INLINE wide_weights wide_prep_q8_0(const wide_rows *rows, uint64_t offset) {
    wide_weights ww;
    wide_columns(rows, offset + 2, ww.q);
    wide_columns(rows, offset + 2 + 16, ww.q + 4);
    /* |w| ≤ 128: the 8 columns are summed by vpdpbusd, two chains */
    const __m512i k128 = _mm512_set1_epi8((char)0x80);
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        s0 = _mm512_dpbusd_epi32(s0, k128, ww.q[j]);
        s1 = _mm512_dpbusd_epi32(s1, k128, ww.q[4 + j]);
    }
    ww.bias = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_add_epi32(s0, s1));
    return ww;
}

/* The f16 scales at the start of the current block of `count` rows (in lane order when `lanes`), 0 past count.
 * Scalar loads packed four to a 64-bit register: the vector ports and the two vector loads a cycle are the loop's
 * bottleneck, the integer ones are idle (as legacy_f16_scales8). */
LEGACY_INLINE __m256i wide_scales(const wide_rows *rows, const int count, bool lanes) {
    uint64_t packed[4] = {0, 0, 0, 0};
#pragma GCC unroll 16
    for (int i = 0; i < count; i++) {
        const int r = lanes ? wide_row_of_lane(i) : i;
        packed[i / 4] |= (uint64_t)legacy_load_u16(wide_row(rows, r)) << (16 * (i % 4));
    }
    __asm__("" : "+r"(packed[0]), "+r"(packed[1]), "+r"(packed[2]), "+r"(packed[3]));
    return _mm256_set_epi64x((long long)packed[3], (long long)packed[2], (long long)packed[1], (long long)packed[0]);
}

/* rows: the tile's weight rows (wide_rows_at); tokens: its activation rows, always n_tokens of them. */
LEGACY_INLINE void wide_run(int64_t nb, float *y, int64_t y_stride, wide_rows rows, int w_bytes, wide_rows tokens,
                            int n_rows, const int n_tokens, wide_prep_fn prep) {
    __m512 acc[WIDE_TOKENS];
#pragma GCC unroll 16
    for (int t = 0; t < n_tokens; t++) acc[t] = _mm512_setzero_ps();
    int32_t act[WIDE_TOKENS][WIDE_DWORDS] __attribute__((aligned(64))); /* + 128, as unsigned bytes */
    float da[WIDE_TOKENS] __attribute__((aligned(64)));
    for (int64_t b = 0; b < nb; b++) {
        const wide_weights ww = prep(&rows, 0);
        const __m512 dw = _mm512_cvtph_ps(wide_scales(&rows, WIDE_ROWS, true));
        _mm512_store_ps(da, _mm512_cvtph_ps(wide_scales(&tokens, n_tokens, false)));
        __asm__("" : "+m"(da)); /* broadcast da from memory (free in the load pipes), not out of a register */
#pragma GCC unroll 16
        for (int t = 0; t < n_tokens; t++) {
            /* Half the broadcasts are vpermd from the register (a shuffle port), half read the copy in memory (the
             * load pipes, two a cycle): either alone would bound the loop. */
            const __m256i q = tile_act(legacy_load32(wide_row(&tokens, t) + 2));
            _mm256_store_si256((__m256i *)act[t], q);
            __asm__("" : "+m"(act[t]));
            const __m512i reg = _mm512_castsi256_si512(q);
            __m512i sum = ww.bias;
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                sum = _mm512_dpbusd_epi32(sum, _mm512_permutexvar_epi32(_mm512_set1_epi32(j), reg), ww.q[j]);
            }
#pragma GCC unroll 4
            for (int j = 4; j < WIDE_DWORDS; j++) sum = _mm512_dpbusd_epi32(sum, _mm512_set1_epi32(act[t][j]), ww.q[j]);
            const __m512 isum = _mm512_cvtepi32_ps(sum);
            acc[t] = _mm512_fmadd_ps(isum, _mm512_mul_ps(dw, _mm512_set1_ps(da[t])), acc[t]);
        }
        wide_rows_advance(&rows, (uint64_t)w_bytes);
        wide_rows_advance(&tokens, SNUG_Q8_0_BLOCK_BYTES);
    }
    /* lane wide_row_of_lane(r) → row r */
    const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    const __mmask16 store = (__mmask16)((1u << n_rows) - 1u);
#pragma GCC unroll 16
    for (int t = 0; t < n_tokens; t++) {
        _mm512_mask_storeu_ps(y + t * y_stride, store, _mm512_permutexvar_ps(order, acc[t]));
    }
}

/* Tokens in chunks of 16, 8, 4, 2, 1, each a constant of its inlined loop (an output's arithmetic is the same in
 * every chunk size, so it does not depend on how many tokens share its tile). */
LEGACY_INLINE void wide_chunks(int64_t nb, float *y, int64_t y_stride, wide_rows rows, int w_bytes, const uint8_t *a,
                               uint64_t a_stride, int n_rows, int n_tokens, wide_prep_fn prep) {
    while (n_tokens > 0) {
        const wide_rows tokens = wide_rows_at(a, a_stride, NULL);
        int chunk;
        if (n_tokens >= 16) {
            wide_run(nb, y, y_stride, rows, w_bytes, tokens, n_rows, chunk = 16, prep);
        } else if (n_tokens >= 8) {
            wide_run(nb, y, y_stride, rows, w_bytes, tokens, n_rows, chunk = 8, prep);
        } else if (n_tokens >= 4) {
            wide_run(nb, y, y_stride, rows, w_bytes, tokens, n_rows, chunk = 4, prep);
        } else if (n_tokens >= 2) {
            wide_run(nb, y, y_stride, rows, w_bytes, tokens, n_rows, chunk = 2, prep);
        } else {
            wide_run(nb, y, y_stride, rows, w_bytes, tokens, n_rows, chunk = 1, prep);
        }
        y += chunk * y_stride;
        a += (uint64_t)chunk * a_stride;
        n_tokens -= chunk;
    }
}

/* A full tile addresses its rows by group pointers and stride; a partial one repeats its last row. */
LEGACY_INLINE void wide_dispatch(int64_t n, float *y, int64_t y_stride, const uint8_t *w, uint64_t w_stride,
                                 int w_bytes, const uint8_t *a, uint64_t a_stride, int n_rows, int n_tokens,
                                 wide_prep_fn prep) {
    const int64_t nb = n / SNUG_QK8_0;
    if (n_rows == WIDE_ROWS) {
        wide_chunks(nb, y, y_stride, wide_rows_at(w, w_stride, NULL), w_bytes, a, a_stride, n_rows, n_tokens, prep);
        return;
    }
    const uint8_t *row[WIDE_ROWS];
    for (int r = 0; r < WIDE_ROWS; r++) row[r] = w + (uint64_t)(r < n_rows ? r : n_rows - 1) * w_stride;
    wide_chunks(nb, y, y_stride, wide_rows_at(w, w_stride, row), w_bytes, a, a_stride, n_rows, n_tokens, prep);
}

static void dot_tile_wide_q4_0(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                               uint64_t a_stride, int n_rows, int n_tokens) {
    wide_dispatch(n, y, y_stride, w, w_stride, SNUG_Q4_0_BLOCK_BYTES, a, a_stride, n_rows, n_tokens, wide_prep_q4_0);
}

static void dot_tile_wide_q8_0(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                               uint64_t a_stride, int n_rows, int n_tokens) {
    wide_dispatch(n, y, y_stride, w, w_stride, SNUG_Q8_0_BLOCK_BYTES, a, a_stride, n_rows, n_tokens, wide_prep_q8_0);
}

/* Laid over the AVX-512 table: act_type and quantize_act stay AVX2's, the other types AVX-512's. */
void snug_register_legacy_avx512vnni(snug_kernel_table t) {
    q8_0_encode = t[SNUG_TYPE_Q4_0].quantize_act;
    t[SNUG_TYPE_Q4_0].decode = (snug_decode_kernels){decode_act_q4_0, decode_dot_q4_0, decode_act_bytes_q4_0};
    t[SNUG_TYPE_Q4_0].vec_dot = vec_dot_q4_0;
    t[SNUG_TYPE_Q8_0].vec_dot = vec_dot_q8_0;
    t[SNUG_TYPE_Q4_0].dot_tile = dot_tile_wide_q4_0;
    t[SNUG_TYPE_Q8_0].dot_tile = dot_tile_wide_q8_0;
    t[SNUG_TYPE_Q4_0].tile_rows = t[SNUG_TYPE_Q4_0].tile_tokens = WIDE_ROWS;
    t[SNUG_TYPE_Q8_0].tile_rows = t[SNUG_TYPE_Q8_0].tile_tokens = WIDE_ROWS;
    /* The wide tile unpacks 16 rows a block: below 4 tokens one token at a time is faster (kernels.h). */
    t[SNUG_TYPE_Q4_0].tile_min_tokens = t[SNUG_TYPE_Q8_0].tile_min_tokens = 4;
}
#endif
