/* legacy_neon.c — Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 vec_dot with arm64 Advanced SIMD (see legacy_scalar.c for the math).
 *
 * Per 32-element block the weight quants are widened to 2 × 16 signed bytes, multiplied with the activation bytes
 * by vmull_s8 / vmlal_s8 (two products per int16 lane: at most 2·128·127 = 32512 for Q8_0, far less for the 4- and
 * 5-bit types, so no overflow) and accumulated pairwise into int32 by vpadalq_s16: the block's integer sum is exactly
 * the scalar reference's. Scales are applied in f32 in block order, as in legacy_scalar.c. The activation encoders
 * stay the scalar ones (laid under this table by dispatch.c): they run once per matmul.
 * Written to be simple rather than fastest (no vdotq_s32, which needs the optional dot-product extension).
 */
#include "cpu/kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include "cpu/half.h"
#include "cpu/quant.h"

static float load_f16(const uint8_t *p) { return snug_f16_to_f32(snug_load_u16(p)); }

static uint32_t load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Σ w·a over 32 bytes each (elements 0–15 in lo, 16–31 in hi). */
static int32_t dot32(int8x16_t w_lo, int8x16_t w_hi, const int8_t *a) {
    int8x16_t a_lo = vld1q_s8(a), a_hi = vld1q_s8(a + 16);
    int16x8_t p_lo = vmlal_s8(vmull_s8(vget_low_s8(w_lo), vget_low_s8(a_lo)), vget_high_s8(w_lo), vget_high_s8(a_lo));
    int16x8_t p_hi = vmlal_s8(vmull_s8(vget_low_s8(w_hi), vget_low_s8(a_hi)), vget_high_s8(w_hi), vget_high_s8(a_hi));
    int32x4_t acc = vpadalq_s16(vpaddlq_s16(p_lo), p_hi);
    return vaddvq_s32(acc);
}

/* The fifth bits of 16 elements: byte j = 16 where bit j of bits16 is set. */
static uint8x16_t fifth_bits16(uint32_t bits16) {
    static const uint8_t bit_of_byte[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x16_t bytes = vcombine_u8(vdup_n_u8((uint8_t)bits16), vdup_n_u8((uint8_t)(bits16 >> 8)));
    return vandq_u8(vtstq_u8(bytes, vld1q_u8(bit_of_byte)), vdupq_n_u8(16));
}

static void vec_dot_q4_0(int64_t n, float *s, const void *w, const void *a) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / SNUG_QK4_0; b++, x += SNUG_Q4_0_BLOCK_BYTES, y += SNUG_Q8_0_BLOCK_BYTES) {
        snug_stream_ahead(x, SNUG_Q4_0_BLOCK_BYTES);
        uint8x16_t q = vld1q_u8(x + 2);
        int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), vdupq_n_s8(8));
        int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
        sum += (float)dot32(lo, hi, (const int8_t *)(y + 2)) * (load_f16(x) * load_f16(y));
    }
    *s = sum;
}

static void vec_dot_q4_1(int64_t n, float *s, const void *w, const void *a) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / SNUG_QK4_1; b++, x += SNUG_Q4_1_BLOCK_BYTES, y += SNUG_Q8_1_BLOCK_BYTES) {
        snug_stream_ahead(x, SNUG_Q4_1_BLOCK_BYTES);
        uint8x16_t q = vld1q_u8(x + 4);
        int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f)));
        int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
        sum += (float)dot32(lo, hi, (const int8_t *)(y + 4)) * (load_f16(x) * load_f16(y)) +
               load_f16(x + 2) * load_f16(y + 2);
    }
    *s = sum;
}

static void vec_dot_q5_0(int64_t n, float *s, const void *w, const void *a) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / SNUG_QK5_0; b++, x += SNUG_Q5_0_BLOCK_BYTES, y += SNUG_Q8_0_BLOCK_BYTES) {
        snug_stream_ahead(x, SNUG_Q5_0_BLOCK_BYTES);
        uint32_t qh = load_u32(x + 2);
        uint8x16_t q = vld1q_u8(x + 6);
        uint8x16_t lo = vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0f)), fifth_bits16(qh & 0xffffu));
        uint8x16_t hi = vorrq_u8(vshrq_n_u8(q, 4), fifth_bits16(qh >> 16));
        int8x16_t lo_s = vsubq_s8(vreinterpretq_s8_u8(lo), vdupq_n_s8(16));
        int8x16_t hi_s = vsubq_s8(vreinterpretq_s8_u8(hi), vdupq_n_s8(16));
        sum += (float)dot32(lo_s, hi_s, (const int8_t *)(y + 2)) * (load_f16(x) * load_f16(y));
    }
    *s = sum;
}

static void vec_dot_q5_1(int64_t n, float *s, const void *w, const void *a) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / SNUG_QK5_1; b++, x += SNUG_Q5_1_BLOCK_BYTES, y += SNUG_Q8_1_BLOCK_BYTES) {
        snug_stream_ahead(x, SNUG_Q5_1_BLOCK_BYTES);
        uint32_t qh = load_u32(x + 4);
        uint8x16_t q = vld1q_u8(x + 8);
        uint8x16_t lo = vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0f)), fifth_bits16(qh & 0xffffu));
        uint8x16_t hi = vorrq_u8(vshrq_n_u8(q, 4), fifth_bits16(qh >> 16));
        sum += (float)dot32(vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi), (const int8_t *)(y + 4)) *
                   (load_f16(x) * load_f16(y)) +
               load_f16(x + 2) * load_f16(y + 2);
    }
    *s = sum;
}

static void vec_dot_q8_0(int64_t n, float *s, const void *w, const void *a) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / SNUG_QK8_0; b++, x += SNUG_Q8_0_BLOCK_BYTES, y += SNUG_Q8_0_BLOCK_BYTES) {
        snug_stream_ahead(x, SNUG_Q8_0_BLOCK_BYTES);
        const int8_t *q = (const int8_t *)(x + 2);
        sum += (float)dot32(vld1q_s8(q), vld1q_s8(q + 16), (const int8_t *)(y + 2)) * (load_f16(x) * load_f16(y));
    }
    *s = sum;
}

/* Only vec_dot changes: act_type and quantize_act stay the scalar table's. */
void snug_register_legacy_neon(snug_kernel_table t) {
    t[SNUG_TYPE_Q4_0].vec_dot = vec_dot_q4_0;
    t[SNUG_TYPE_Q4_1].vec_dot = vec_dot_q4_1;
    t[SNUG_TYPE_Q5_0].vec_dot = vec_dot_q5_0;
    t[SNUG_TYPE_Q5_1].vec_dot = vec_dot_q5_1;
    t[SNUG_TYPE_Q8_0].vec_dot = vec_dot_q8_0;
}
#endif
