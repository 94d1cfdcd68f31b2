/* quant.c — scalar block encoders and decoders (see quant.h for the layouts). */
#include "cpu/quant.h"

#include <math.h>
#include <string.h>

#include "cpu/half.h"
#include "snug.h"

static void store_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

static void dequantize_q8_0(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK8_0; b++, src += SNUG_Q8_0_BLOCK_BYTES) {
        float d = snug_f16_to_f32(snug_load_u16(src));
        const int8_t *q = (const int8_t *)(src + 2);
        for (int j = 0; j < SNUG_QK8_0; j++) dst[b * SNUG_QK8_0 + j] = d * (float)q[j];
    }
}

static void dequantize_q4_0(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK4_0; b++, src += SNUG_Q4_0_BLOCK_BYTES) {
        float d = snug_f16_to_f32(snug_load_u16(src));
        const uint8_t *q = src + 2;
        float *out = dst + b * SNUG_QK4_0;
        for (int j = 0; j < SNUG_QK4_0 / 2; j++) {
            out[j] = d * (float)((int)(q[j] & 0x0f) - 8);
            out[j + SNUG_QK4_0 / 2] = d * (float)((int)(q[j] >> 4) - 8);
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
    case SNUG_TYPE_Q4_0: dequantize_q4_0(bytes, dst, n); return true;
    default: return snug_dequantize_row_kquant(type, src, dst, n);
    }
}

static void quantize_q8_0(const float *src, uint8_t *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK8_0; b++, dst += SNUG_Q8_0_BLOCK_BYTES) {
        const float *x = src + b * SNUG_QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < SNUG_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        float inv = d != 0.0f ? 1.0f / d : 0.0f;
        store_u16(dst, snug_f32_to_f16(d));
        for (int j = 0; j < SNUG_QK8_0; j++) dst[2 + j] = (uint8_t)(int8_t)lroundf(x[j] * inv);
    }
}

static void quantize_q4_0(const float *src, uint8_t *dst, int64_t n) {
    for (int64_t b = 0; b < n / SNUG_QK4_0; b++, dst += SNUG_Q4_0_BLOCK_BYTES) {
        const float *x = src + b * SNUG_QK4_0;
        /* The value of largest magnitude maps to −8, so the full signed range [−8, 7] is used. */
        float amax = 0.0f, signed_max = 0.0f;
        for (int j = 0; j < SNUG_QK4_0; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                signed_max = x[j];
            }
        }
        float d = signed_max / -8.0f;
        float inv = d != 0.0f ? 1.0f / d : 0.0f;
        store_u16(dst, snug_f32_to_f16(d));
        for (int j = 0; j < SNUG_QK4_0 / 2; j++) {
            int lo = (int)(x[j] * inv + 8.5f);
            int hi = (int)(x[j + SNUG_QK4_0 / 2] * inv + 8.5f);
            lo = lo < 0 ? 0 : lo > 15 ? 15 : lo;
            hi = hi < 0 ? 0 : hi > 15 ? 15 : hi;
            dst[2 + j] = (uint8_t)(lo | (hi << 4));
        }
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
    case SNUG_TYPE_Q8_0: quantize_q8_0(src, bytes, n); return true;
    case SNUG_TYPE_Q4_0: quantize_q4_0(src, bytes, n); return true;
    default: return snug_quantize_row_kquant(type, src, dst, n);
    }
}
