/* float_scalar.c — the reference vec_dot of the float weight types (F32, F16, BF16) against f32 activations.
 *
 * The activations stay f32 (quantize_act is a copy), each weight is widened to f32 exactly (f16 and bf16 are
 * subsets of f32), and products are summed in f32 into LANES interleaved partial sums (element i into sum i mod
 * LANES), added together at the end: independent chains a compiler can keep in vector registers on any target, and a
 * smaller rounding error than one long chain. float_avx2.c / float_avx512.c use other accumulator layouts, so their
 * sums differ from these in rounding only (tests/test_kernels_cpu.c).
 */
#include <string.h>

#include "cpu/half.h"
#include "cpu/kernels.h"

#define LANES 8 /* independent partial sums */

static float sum_lanes(const float lane[LANES]) {
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

static void copy_act(const float *x, void *dst, int64_t n) { memcpy(dst, x, (size_t)n * sizeof(float)); }

static void vec_dot_f32(int64_t n, float *s, const void *w, const void *a) {
    const float *x = w, *y = a;
    float lane[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        snug_stream_ahead(x + i, LANES * sizeof *x);
        for (int l = 0; l < LANES; l++) lane[l] += x[i + l] * y[i + l];
    }
    for (; i < n; i++) lane[i % LANES] += x[i] * y[i];
    *s = sum_lanes(lane);
}

static void vec_dot_f16(int64_t n, float *s, const void *w, const void *a) {
    const uint8_t *x = w;
    const float *y = a;
    float lane[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        snug_stream_ahead(x + 2 * i, 2 * LANES);
        for (int l = 0; l < LANES; l++) lane[l] += snug_f16_to_f32(snug_load_u16(x + 2 * (i + l))) * y[i + l];
    }
    for (; i < n; i++) lane[i % LANES] += snug_f16_to_f32(snug_load_u16(x + 2 * i)) * y[i];
    *s = sum_lanes(lane);
}

static void vec_dot_bf16(int64_t n, float *s, const void *w, const void *a) {
    const uint8_t *x = w;
    const float *y = a;
    float lane[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        snug_stream_ahead(x + 2 * i, 2 * LANES);
        for (int l = 0; l < LANES; l++) lane[l] += snug_bf16_to_f32(snug_load_u16(x + 2 * (i + l))) * y[i + l];
    }
    for (; i < n; i++) lane[i % LANES] += snug_bf16_to_f32(snug_load_u16(x + 2 * i)) * y[i];
    *s = sum_lanes(lane);
}

void snug_register_float_scalar(snug_kernel_table t) {
    t[SNUG_TYPE_F32] = (snug_type_kernels){SNUG_TYPE_F32, copy_act, vec_dot_f32};
    t[SNUG_TYPE_F16] = (snug_type_kernels){SNUG_TYPE_F32, copy_act, vec_dot_f16};
    t[SNUG_TYPE_BF16] = (snug_type_kernels){SNUG_TYPE_F32, copy_act, vec_dot_bf16};
}
