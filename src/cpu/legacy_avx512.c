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

LEGACY_INLINE __m512i sum_pairs2(__m512i p) { return _mm512_madd_epi16(p, _mm512_set1_epi16(1)); }

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

static void vec_dot_q4_0(int64_t n, float *s, const void *w, const void *a) {
    *s = legacy_dot_pairs(n / SNUG_QK4_0, w, SNUG_Q4_0_BLOCK_BYTES, a, SNUG_Q8_0_BLOCK_BYTES, q4_0_pair,
                          legacy_q4_0_block, false);
}

static void vec_dot_q4_1(int64_t n, float *s, const void *w, const void *a) {
    *s = legacy_dot_pairs(n / SNUG_QK4_1, w, SNUG_Q4_1_BLOCK_BYTES, a, SNUG_Q8_1_BLOCK_BYTES, q4_1_pair,
                          legacy_q4_1_block, true);
}

static void vec_dot_q5_0(int64_t n, float *s, const void *w, const void *a) {
    *s = legacy_dot_pairs(n / SNUG_QK5_0, w, SNUG_Q5_0_BLOCK_BYTES, a, SNUG_Q8_0_BLOCK_BYTES, q5_0_pair,
                          legacy_q5_0_block, false);
}

static void vec_dot_q5_1(int64_t n, float *s, const void *w, const void *a) {
    *s = legacy_dot_pairs(n / SNUG_QK5_1, w, SNUG_Q5_1_BLOCK_BYTES, a, SNUG_Q8_1_BLOCK_BYTES, q5_1_pair,
                          legacy_q5_1_block, true);
}

static void vec_dot_q8_0(int64_t n, float *s, const void *w, const void *a) {
    *s = legacy_dot_pairs(n / SNUG_QK8_0, w, SNUG_Q8_0_BLOCK_BYTES, a, SNUG_Q8_0_BLOCK_BYTES, q8_0_pair,
                          legacy_q8_0_block, false);
}

/* ---- dot_tile: the 4 × 4 tile of legacy_x86.h with vpmaddubsw + vpmaddwd ---- */

/* Q4_0: the nibbles as they are (0…15, the unsigned operand); the −8 is applied per token (tile_idot_q4_0). */
LEGACY_INLINE tile_weights tile_prep_q4_0(const uint8_t *const row[TILE_ROWS], uint64_t offset) {
    const __m512i nibbles = tile_rows4(row, offset + 2), low4 = _mm512_set1_epi8(0x0f);
    return (tile_weights){.lo = _mm512_and_si512(nibbles, low4),
                          .hi = _mm512_and_si512(_mm512_srli_epi16(nibbles, 4), low4)};
}

/* Σ (q − 8) · a = Σ q·a − Σ 8·a in int16 pairs: |Σ q·a| ≤ 2 · 2·15·128 = 7680 over the two halves, |Σ 8·a| ≤
 * 2 · 2·8·128 = 4096, the difference below 11776 (legacy_x86.h's bound, for the two halves added). */
LEGACY_INLINE __m512i tile_idot_q4_0(const tile_weights *w, __m512i a_lo, __m512i a_hi) {
    const __m512i eight = _mm512_set1_epi8(8);
    __m512i qa = _mm512_add_epi16(_mm512_maddubs_epi16(w->lo, a_lo), _mm512_maddubs_epi16(w->hi, a_hi));
    __m512i offset = _mm512_add_epi16(_mm512_maddubs_epi16(eight, a_lo), _mm512_maddubs_epi16(eight, a_hi));
    return sum_pairs2(_mm512_sub_epi16(qa, offset));
}

/* Q8_0: the sign trick, |w| · (a negated where w < 0); the masks and |w| once per block. */
LEGACY_INLINE tile_weights tile_prep_q8_0(const uint8_t *const row[TILE_ROWS], uint64_t offset) {
    const __m512i lo = tile_rows4(row, offset + 2), hi = tile_rows4(row, offset + 2 + 16);
    return (tile_weights){.lo = _mm512_abs_epi8(lo),
                          .hi = _mm512_abs_epi8(hi),
                          .neg_lo = _mm512_movepi8_mask(lo),
                          .neg_hi = _mm512_movepi8_mask(hi)};
}

/* Pairs reach 2·128·127 = 32512: each half goes to int32 on its own (two int16 halves could overflow). */
LEGACY_INLINE __m512i tile_idot_q8_0(const tile_weights *w, __m512i a_lo, __m512i a_hi) {
    const __m512i zero = _mm512_setzero_si512();
    __m512i lo = _mm512_maddubs_epi16(w->lo, _mm512_mask_sub_epi8(a_lo, w->neg_lo, zero, a_lo));
    __m512i hi = _mm512_maddubs_epi16(w->hi, _mm512_mask_sub_epi8(a_hi, w->neg_hi, zero, a_hi));
    return _mm512_add_epi32(sum_pairs2(lo), sum_pairs2(hi));
}

LEGACY_INLINE __m256i tile_act(__m256i a) { return a; }

static void dot_tile_q4_0(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                          uint64_t a_stride, int n_rows, int n_tokens) {
    tile_dispatch(n / SNUG_QK4_0, y, y_stride, w, w_stride, SNUG_Q4_0_BLOCK_BYTES, a, a_stride, n_rows, n_tokens,
                  tile_prep_q4_0, tile_act, tile_idot_q4_0);
}

static void dot_tile_q8_0(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                          uint64_t a_stride, int n_rows, int n_tokens) {
    tile_dispatch(n / SNUG_QK8_0, y, y_stride, w, w_stride, SNUG_Q8_0_BLOCK_BYTES, a, a_stride, n_rows, n_tokens,
                  tile_prep_q8_0, tile_act, tile_idot_q8_0);
}

/* Only the kernels change: act_type and quantize_act stay those of the AVX2 table this one is laid over. */
void snug_register_legacy_avx512(snug_kernel_table t) {
    t[SNUG_TYPE_Q4_0].vec_dot = vec_dot_q4_0;
    t[SNUG_TYPE_Q4_1].vec_dot = vec_dot_q4_1;
    t[SNUG_TYPE_Q5_0].vec_dot = vec_dot_q5_0;
    t[SNUG_TYPE_Q5_1].vec_dot = vec_dot_q5_1;
    t[SNUG_TYPE_Q8_0].vec_dot = vec_dot_q8_0;
    t[SNUG_TYPE_Q4_0].dot_tile = dot_tile_q4_0;
    t[SNUG_TYPE_Q8_0].dot_tile = dot_tile_q8_0;
}
#endif
