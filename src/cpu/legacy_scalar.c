/* legacy_scalar.c — the reference vec_dot of the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0).
 *
 * Activations are encoded once per matmul: Q8_0 for the symmetric types (x = d · q), Q8_1 for the types with a
 * minimum (x = d · q + m), whose Σ w·a per block is d_w · d_a · Σ q_w·q_a + m · (d_a · Σ q_a) = … + m · s_a.
 * Per block the quants multiply as integers (exact); the block's scales are applied in f32, blocks summed in order.
 * The SIMD files (legacy_avx2.c, legacy_avx512.c, legacy_neon.c) compute the same integer sums and are tested
 * against these functions (tests/test_kernels_cpu.c).
 */
#include "cpu/half.h"
#include "cpu/kernels.h"
#include "cpu/quant.h"

#define HALF_BLOCK 16 /* byte j of the nibbles holds element j (low nibble) and j + 16 (high nibble) */

static float load_f16(const uint8_t *p) { return snug_f16_to_f32(snug_load_u16(p)); }

static uint32_t load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void vec_dot_q4_0_q8_0(int64_t n, float *s, const void *w, const void *a) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / SNUG_QK4_0; b++, x += SNUG_Q4_0_BLOCK_BYTES, y += SNUG_Q8_0_BLOCK_BYTES) {
        snug_stream_ahead(x, SNUG_Q4_0_BLOCK_BYTES);
        const uint8_t *qw = x + 2;
        const int8_t *qa = (const int8_t *)(y + 2);
        int isum = 0;
        for (int j = 0; j < HALF_BLOCK; j++) {
            isum += ((qw[j] & 0x0f) - 8) * qa[j] + ((qw[j] >> 4) - 8) * qa[j + HALF_BLOCK];
        }
        sum += (float)isum * (load_f16(x) * load_f16(y));
    }
    *s = sum;
}

static void vec_dot_q4_1_q8_1(int64_t n, float *s, const void *w, const void *a) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / SNUG_QK4_1; b++, x += SNUG_Q4_1_BLOCK_BYTES, y += SNUG_Q8_1_BLOCK_BYTES) {
        snug_stream_ahead(x, SNUG_Q4_1_BLOCK_BYTES);
        const uint8_t *qw = x + 4;
        const int8_t *qa = (const int8_t *)(y + 4);
        int isum = 0;
        for (int j = 0; j < HALF_BLOCK; j++) isum += (qw[j] & 0x0f) * qa[j] + (qw[j] >> 4) * qa[j + HALF_BLOCK];
        sum += (float)isum * (load_f16(x) * load_f16(y)) + load_f16(x + 2) * load_f16(y + 2);
    }
    *s = sum;
}

static void vec_dot_q5_0_q8_0(int64_t n, float *s, const void *w, const void *a) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / SNUG_QK5_0; b++, x += SNUG_Q5_0_BLOCK_BYTES, y += SNUG_Q8_0_BLOCK_BYTES) {
        snug_stream_ahead(x, SNUG_Q5_0_BLOCK_BYTES);
        uint32_t qh = load_u32(x + 2);
        const uint8_t *qw = x + 6;
        const int8_t *qa = (const int8_t *)(y + 2);
        int isum = 0;
        for (int j = 0; j < HALF_BLOCK; j++) {
            int lo = (qw[j] & 0x0f) | (int)((qh >> j) & 1u) << 4;
            int hi = (qw[j] >> 4) | (int)((qh >> (j + HALF_BLOCK)) & 1u) << 4;
            isum += (lo - 16) * qa[j] + (hi - 16) * qa[j + HALF_BLOCK];
        }
        sum += (float)isum * (load_f16(x) * load_f16(y));
    }
    *s = sum;
}

static void vec_dot_q5_1_q8_1(int64_t n, float *s, const void *w, const void *a) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / SNUG_QK5_1; b++, x += SNUG_Q5_1_BLOCK_BYTES, y += SNUG_Q8_1_BLOCK_BYTES) {
        snug_stream_ahead(x, SNUG_Q5_1_BLOCK_BYTES);
        uint32_t qh = load_u32(x + 4);
        const uint8_t *qw = x + 8;
        const int8_t *qa = (const int8_t *)(y + 4);
        int isum = 0;
        for (int j = 0; j < HALF_BLOCK; j++) {
            int lo = (qw[j] & 0x0f) | (int)((qh >> j) & 1u) << 4;
            int hi = (qw[j] >> 4) | (int)((qh >> (j + HALF_BLOCK)) & 1u) << 4;
            isum += lo * qa[j] + hi * qa[j + HALF_BLOCK];
        }
        sum += (float)isum * (load_f16(x) * load_f16(y)) + load_f16(x + 2) * load_f16(y + 2);
    }
    *s = sum;
}

static void vec_dot_q8_0_q8_0(int64_t n, float *s, const void *w, const void *a) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / SNUG_QK8_0; b++, x += SNUG_Q8_0_BLOCK_BYTES, y += SNUG_Q8_0_BLOCK_BYTES) {
        snug_stream_ahead(x, SNUG_Q8_0_BLOCK_BYTES);
        const int8_t *qw = (const int8_t *)(x + 2), *qa = (const int8_t *)(y + 2);
        int isum = 0;
        for (int j = 0; j < SNUG_QK8_0; j++) isum += qw[j] * qa[j];
        sum += (float)isum * (load_f16(x) * load_f16(y));
    }
    *s = sum;
}

void snug_register_legacy_scalar(snug_kernel_table t) {
    t[SNUG_TYPE_Q4_0] = (snug_type_kernels){SNUG_TYPE_Q8_0, snug_quantize_row_q8_0, vec_dot_q4_0_q8_0};
    t[SNUG_TYPE_Q4_1] = (snug_type_kernels){SNUG_TYPE_Q8_1, snug_quantize_row_q8_1, vec_dot_q4_1_q8_1};
    t[SNUG_TYPE_Q5_0] = (snug_type_kernels){SNUG_TYPE_Q8_0, snug_quantize_row_q8_0, vec_dot_q5_0_q8_0};
    t[SNUG_TYPE_Q5_1] = (snug_type_kernels){SNUG_TYPE_Q8_1, snug_quantize_row_q8_1, vec_dot_q5_1_q8_1};
    t[SNUG_TYPE_Q8_0] = (snug_type_kernels){SNUG_TYPE_Q8_0, snug_quantize_row_q8_0, vec_dot_q8_0_q8_0};
}
