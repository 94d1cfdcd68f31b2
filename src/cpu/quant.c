/* quant.c — scalar block encoders and decoders (see quant.h for the layouts).
 *
 * The reference every faster path is tested against: the SIMD activation encoders must match the Q8_0 / Q8_1
 * encoders here bit for bit, and vec_dot kernels must agree with dequantize-then-multiply of these decoders.
 */
#include "cpu/quant.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "cpu/half.h"
#include "snug.h"

/* Nibbles of a 32-element block: byte j holds element j (low) and element j + 16 (high). */
#define HALF_BLOCK 16

static void store_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

static void store_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float load_f16(const uint8_t *p) { return snug_f16_to_f32(snug_load_u16(p)); }

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- decoders ------------------------------------------------------------------------------------------------ */

static void dequantize_q8_0(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK8_0; b++, src += SNUG_Q8_0_BLOCK_BYTES) {
        float d = load_f16(src);
        const int8_t *q = (const int8_t *)(src + 2);
        for (int j = 0; j < SNUG_QK8_0; j++) dst[b * SNUG_QK8_0 + j] = d * (float)q[j];
    }
}

/* Q8_1 decodes like Q8_0; s (at bytes 2..3) is redundant with the quants and not needed to decode. */
static void dequantize_q8_1(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK8_1; b++, src += SNUG_Q8_1_BLOCK_BYTES) {
        float d = load_f16(src);
        const int8_t *q = (const int8_t *)(src + 4);
        for (int j = 0; j < SNUG_QK8_1; j++) dst[b * SNUG_QK8_1 + j] = d * (float)q[j];
    }
}

static void dequantize_q4_0(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK4_0; b++, src += SNUG_Q4_0_BLOCK_BYTES) {
        float d = load_f16(src);
        const uint8_t *q = src + 2;
        float *out = dst + b * SNUG_QK4_0;
        for (int j = 0; j < HALF_BLOCK; j++) {
            out[j] = d * (float)((int)(q[j] & 0x0f) - 8);
            out[j + HALF_BLOCK] = d * (float)((int)(q[j] >> 4) - 8);
        }
    }
}

static void dequantize_q4_1(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK4_1; b++, src += SNUG_Q4_1_BLOCK_BYTES) {
        float d = load_f16(src), m = load_f16(src + 2);
        const uint8_t *q = src + 4;
        float *out = dst + b * SNUG_QK4_1;
        for (int j = 0; j < HALF_BLOCK; j++) {
            out[j] = d * (float)(q[j] & 0x0f) + m;
            out[j + HALF_BLOCK] = d * (float)(q[j] >> 4) + m;
        }
    }
}

static void dequantize_q5_0(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK5_0; b++, src += SNUG_Q5_0_BLOCK_BYTES) {
        float d = load_f16(src);
        uint32_t qh = load_u32(src + 2);
        const uint8_t *q = src + 6;
        float *out = dst + b * SNUG_QK5_0;
        for (int j = 0; j < HALF_BLOCK; j++) {
            int lo = (q[j] & 0x0f) | (int)((qh >> j) & 1u) << 4;
            int hi = (q[j] >> 4) | (int)((qh >> (j + HALF_BLOCK)) & 1u) << 4;
            out[j] = d * (float)(lo - 16);
            out[j + HALF_BLOCK] = d * (float)(hi - 16);
        }
    }
}

static void dequantize_q5_1(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK5_1; b++, src += SNUG_Q5_1_BLOCK_BYTES) {
        float d = load_f16(src), m = load_f16(src + 2);
        uint32_t qh = load_u32(src + 4);
        const uint8_t *q = src + 8;
        float *out = dst + b * SNUG_QK5_1;
        for (int j = 0; j < HALF_BLOCK; j++) {
            int lo = (q[j] & 0x0f) | (int)((qh >> j) & 1u) << 4;
            int hi = (q[j] >> 4) | (int)((qh >> (j + HALF_BLOCK)) & 1u) << 4;
            out[j] = d * (float)lo + m;
            out[j + HALF_BLOCK] = d * (float)hi + m;
        }
    }
}

bool snug_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n) {
    const uint8_t *bytes = src;
    switch (type) {
    case SNUG_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return true;
    case SNUG_TYPE_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = snug_f16_to_f32(snug_load_u16(bytes + 2 * i));
        return true;
    case SNUG_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = snug_bf16_to_f32(snug_load_u16(bytes + 2 * i));
        return true;
    case SNUG_TYPE_Q8_0: dequantize_q8_0(bytes, dst, n); return true;
    case SNUG_TYPE_Q8_1: dequantize_q8_1(bytes, dst, n); return true;
    case SNUG_TYPE_Q4_0: dequantize_q4_0(bytes, dst, n); return true;
    case SNUG_TYPE_Q4_1: dequantize_q4_1(bytes, dst, n); return true;
    case SNUG_TYPE_Q5_0: dequantize_q5_0(bytes, dst, n); return true;
    case SNUG_TYPE_Q5_1: dequantize_q5_1(bytes, dst, n); return true;
    default: return snug_dequantize_row_kquant(type, src, dst, n);
    }
}

/* ---- encoders ------------------------------------------------------------------------------------------------ */

/* The 8-bit code of one block: d = max|x| / 127, q = round-half-away(x · (1/d)); returns f32 d (not yet rounded to
 * f16). Every step is one correctly rounded f32 operation, which is what lets SIMD encoders reproduce it exactly. */
static float encode_8bit_block(const float *x, int8_t *q) {
    float amax = 0.0f;
    for (int j = 0; j < SNUG_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float inv = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < SNUG_QK8_0; j++) q[j] = (int8_t)lroundf(x[j] * inv); /* |x · inv| <= 127 (+ rounding) */
    return d;
}

void snug_quantize_row_q8_0(const float *src, void *dst, int64_t n) {
    uint8_t *out = dst;
    for (int64_t b = 0; b < n / SNUG_QK8_0; b++, out += SNUG_Q8_0_BLOCK_BYTES) {
        float d = encode_8bit_block(src + b * SNUG_QK8_0, (int8_t *)(out + 2));
        store_u16(out, snug_f32_to_f16(d));
    }
}

/* s = (d as stored, f16) · Σq, so that m · s is m times the sum of the decoded activations up to s's f16 rounding. */
void snug_quantize_row_q8_1(const float *src, void *dst, int64_t n) {
    uint8_t *out = dst;
    for (int64_t b = 0; b < n / SNUG_QK8_1; b++, out += SNUG_Q8_1_BLOCK_BYTES) {
        const int8_t *q = (const int8_t *)(out + 4);
        uint16_t d = snug_f32_to_f16(encode_8bit_block(src + b * SNUG_QK8_1, (int8_t *)(out + 4)));
        int sum = 0;
        for (int j = 0; j < SNUG_QK8_1; j++) sum += q[j];
        store_u16(out, d);
        store_u16(out + 2, snug_f32_to_f16(snug_f16_to_f32(d) * (float)sum));
    }
}

/* The element of largest magnitude, with its sign (the symmetric types map it to their most negative level). */
static float signed_absmax(const float *x, int count) {
    float amax = 0.0f, signed_max = 0.0f;
    for (int j = 0; j < count; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            signed_max = x[j];
        }
    }
    return signed_max;
}

static void quantize_q4_0(const float *src, uint8_t *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK4_0; b++, dst += SNUG_Q4_0_BLOCK_BYTES) {
        const float *x = src + b * SNUG_QK4_0;
        /* The value of largest magnitude maps to −8, so the full signed range [−8, 7] is used. */
        float d = signed_absmax(x, SNUG_QK4_0) / -8.0f;
        float inv = d != 0.0f ? 1.0f / d : 0.0f;
        store_u16(dst, snug_f32_to_f16(d));
        for (int j = 0; j < HALF_BLOCK; j++) {
            int lo = clamp_int((int)(x[j] * inv + 8.5f), 0, 15);
            int hi = clamp_int((int)(x[j + HALF_BLOCK] * inv + 8.5f), 0, 15);
            dst[2 + j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

static void quantize_q5_0(const float *src, uint8_t *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK5_0; b++, dst += SNUG_Q5_0_BLOCK_BYTES) {
        const float *x = src + b * SNUG_QK5_0;
        /* As Q4_0 with five bits: the largest magnitude maps to −16 of [−16, 15]. */
        float d = signed_absmax(x, SNUG_QK5_0) / -16.0f;
        float inv = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t qh = 0;
        for (int j = 0; j < HALF_BLOCK; j++) {
            int lo = clamp_int((int)(x[j] * inv + 16.5f), 0, 31);
            int hi = clamp_int((int)(x[j + HALF_BLOCK] * inv + 16.5f), 0, 31);
            dst[6 + j] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
            qh |= (uint32_t)(lo >> 4) << j | (uint32_t)(hi >> 4) << (j + HALF_BLOCK);
        }
        store_u16(dst, snug_f32_to_f16(d));
        store_u32(dst + 2, qh);
    }
}

/* Min/max schemes: m = min, d = (max − min) / levels, q = round((x − min) / d) clamped to [0, levels]. */
static void min_max(const float *x, int count, float *min, float *max) {
    *min = FLT_MAX;
    *max = -FLT_MAX;
    for (int j = 0; j < count; j++) {
        *min = fminf(*min, x[j]);
        *max = fmaxf(*max, x[j]);
    }
}

static void quantize_q4_1(const float *src, uint8_t *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK4_1; b++, dst += SNUG_Q4_1_BLOCK_BYTES) {
        const float *x = src + b * SNUG_QK4_1;
        float min, max;
        min_max(x, SNUG_QK4_1, &min, &max);
        float d = (max - min) / 15.0f;
        float inv = d != 0.0f ? 1.0f / d : 0.0f;
        store_u16(dst, snug_f32_to_f16(d));
        store_u16(dst + 2, snug_f32_to_f16(min));
        for (int j = 0; j < HALF_BLOCK; j++) {
            int lo = clamp_int((int)((x[j] - min) * inv + 0.5f), 0, 15);
            int hi = clamp_int((int)((x[j + HALF_BLOCK] - min) * inv + 0.5f), 0, 15);
            dst[4 + j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

static void quantize_q5_1(const float *src, uint8_t *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK5_1; b++, dst += SNUG_Q5_1_BLOCK_BYTES) {
        const float *x = src + b * SNUG_QK5_1;
        float min, max;
        min_max(x, SNUG_QK5_1, &min, &max);
        float d = (max - min) / 31.0f;
        float inv = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t qh = 0;
        for (int j = 0; j < HALF_BLOCK; j++) {
            int lo = clamp_int((int)((x[j] - min) * inv + 0.5f), 0, 31);
            int hi = clamp_int((int)((x[j + HALF_BLOCK] - min) * inv + 0.5f), 0, 31);
            dst[8 + j] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
            qh |= (uint32_t)(lo >> 4) << j | (uint32_t)(hi >> 4) << (j + HALF_BLOCK);
        }
        store_u16(dst, snug_f32_to_f16(d));
        store_u16(dst + 2, snug_f32_to_f16(min));
        store_u32(dst + 4, qh);
    }
}

bool snug_quantize_row(uint32_t type, const float *src, void *dst, int64_t n) {
    uint8_t *bytes = dst;
    switch (type) {
    case SNUG_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return true;
    case SNUG_TYPE_F16:
        for (int64_t i = 0; i < n; i++) store_u16(bytes + 2 * i, snug_f32_to_f16(src[i]));
        return true;
    case SNUG_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) store_u16(bytes + 2 * i, snug_f32_to_bf16(src[i]));
        return true;
    case SNUG_TYPE_Q8_0: snug_quantize_row_q8_0(src, dst, n); return true;
    case SNUG_TYPE_Q8_1: snug_quantize_row_q8_1(src, dst, n); return true;
    case SNUG_TYPE_Q4_0: quantize_q4_0(src, bytes, n); return true;
    case SNUG_TYPE_Q4_1: quantize_q4_1(src, bytes, n); return true;
    case SNUG_TYPE_Q5_0: quantize_q5_0(src, bytes, n); return true;
    case SNUG_TYPE_Q5_1: quantize_q5_1(src, bytes, n); return true;
    default: return snug_quantize_row_kquant(type, src, dst, n);
    }
}
