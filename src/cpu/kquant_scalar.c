/* kquant_scalar.c — the reference dot products of the K-quants (Q2_K … Q6_K) with Q8_K activations.
 *
 * Per super-block of 256 the work is integer: isum = Σ_sub scale · Σ_i q_i · a_i (q the signed level, a the int8
 * activation) and, for the types with a min (Q2_K, Q4_K, Q5_K), msum = Σ_sub min · Σ_i a_i, the inner sums read from
 * the Q8_K block's bsums (sums of 16 activations). The floats come last:
 *     s += d_a · (d · isum − dmin · msum).
 * The SIMD kernels (kquant_avx2.c, kquant_avx512.c) compute the same integer sums in another order and apply the
 * scales per super-block in float; tests/test_kquants.c holds them to these functions.
 * Magnitudes: |isum| ≤ 256 · 32 · 128 · 128 ≈ 1.3e8 < 2^31 (Q6_K: level, activation and scale magnitudes), so
 * int32 never overflows.
 */
#include "cpu/kernels.h"
#include "cpu/quant_k.h"

/* Σ of the activations of the 32-element sub-block j (Q4_K, Q5_K) from two 16-element bsums. */
static int bsum32(const snug_block_q8_k *a, int j) { return snug_q8_k_bsum(a, 2 * j) + snug_q8_k_bsum(a, 2 * j + 1); }

static void vec_dot_q2_k(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q2_k *b = w;
    const snug_block_q8_k *a = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        int32_t isum = 0, msum = 0;
        /* Sub-block = 16 elements e = 128·nn + 32·j + 16·half + l' (see the bit placement in quant_k.c). */
        for (int sub = 0; sub < 16; sub++) {
            int nn = sub / 8, j = (sub % 8) / 2, first = 16 * (sub % 2);
            const uint8_t *qs = b->qs + 32 * nn;
            const int8_t *aq = a->qs + 16 * sub;
            int32_t dot = 0;
            for (int l = 0; l < 16; l++) dot += ((qs[first + l] >> (2 * j)) & 3) * aq[l];
            isum += (b->scales[sub] & 15) * dot;
            msum += (b->scales[sub] >> 4) * snug_q8_k_bsum(a, sub);
        }
        float d = snug_load_f16(b->d), dmin = snug_load_f16(b->dmin);
        sum += snug_load_f32(a->d) * (d * (float)isum - dmin * (float)msum);
    }
    *s = sum;
}

static void vec_dot_q3_k(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q3_k *b = w;
    const snug_block_q8_k *a = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        int8_t scales[16];
        snug_q3_k_scales(b->scales, scales);
        int32_t isum = 0;
        for (int sub = 0; sub < 16; sub++) {
            int nn = sub / 8, j = (sub % 8) / 2, first = 16 * (sub % 2);
            const uint8_t *qs = b->qs + 32 * nn;
            const int8_t *aq = a->qs + 16 * sub;
            int32_t dot = 0;
            for (int l = 0; l < 16; l++) {
                int low = (qs[first + l] >> (2 * j)) & 3;
                int high = (b->hmask[first + l] >> (4 * nn + j)) & 1;
                dot += ((low | (high << 2)) - 4) * aq[l];
            }
            isum += scales[sub] * dot;
        }
        sum += snug_load_f32(a->d) * (snug_load_f16(b->d) * (float)isum);
    }
    *s = sum;
}

static void vec_dot_q4_k(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q4_k *b = w;
    const snug_block_q8_k *a = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        int32_t isum = 0, msum = 0;
        for (int sub = 0; sub < 8; sub++) {
            uint8_t scale, min;
            snug_k4_scale_min(b->scales, sub, &scale, &min);
            int c = sub / 2, h = sub % 2;
            int32_t dot = 0;
            for (int l = 0; l < 32; l++) dot += ((b->qs[32 * c + l] >> (4 * h)) & 15) * a->qs[32 * sub + l];
            isum += scale * dot;
            msum += min * bsum32(a, sub);
        }
        float d = snug_load_f16(b->d), dmin = snug_load_f16(b->dmin);
        sum += snug_load_f32(a->d) * (d * (float)isum - dmin * (float)msum);
    }
    *s = sum;
}

static void vec_dot_q5_k(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q5_k *b = w;
    const snug_block_q8_k *a = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        int32_t isum = 0, msum = 0;
        for (int sub = 0; sub < 8; sub++) {
            uint8_t scale, min;
            snug_k4_scale_min(b->scales, sub, &scale, &min);
            int c = sub / 2, h = sub % 2;
            int32_t dot = 0;
            for (int l = 0; l < 32; l++) {
                int q = ((b->qs[32 * c + l] >> (4 * h)) & 15) | (((b->qh[l] >> sub) & 1) << 4);
                dot += q * a->qs[32 * sub + l];
            }
            isum += scale * dot;
            msum += min * bsum32(a, sub);
        }
        float d = snug_load_f16(b->d), dmin = snug_load_f16(b->dmin);
        sum += snug_load_f32(a->d) * (d * (float)isum - dmin * (float)msum);
    }
    *s = sum;
}

static void vec_dot_q6_k(int64_t n, float *s, const void *w, const void *act) {
    const snug_block_q6_k *b = w;
    const snug_block_q8_k *a = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, a++) {
        snug_stream_ahead(b, sizeof *b);
        int32_t isum = 0;
        /* Sub-block = 16 elements e = 128·nn + 32·k + 16·half + l' (see the bit placement in quant_k.c). */
        for (int sub = 0; sub < 16; sub++) {
            int nn = sub / 8, k = (sub % 8) / 2, first = 16 * (sub % 2);
            const uint8_t *ql = b->ql + 64 * nn + 32 * (k % 2) + first;
            const uint8_t *qh = b->qh + 32 * nn + first;
            const int8_t *aq = a->qs + 16 * sub;
            int32_t dot = 0;
            for (int l = 0; l < 16; l++) {
                int low = (ql[l] >> (4 * (k / 2))) & 15;
                int high = (qh[l] >> (2 * k)) & 3;
                dot += ((low | (high << 4)) - 32) * aq[l];
            }
            isum += b->scales[sub] * dot;
        }
        sum += snug_load_f32(a->d) * (snug_load_f16(b->d) * (float)isum);
    }
    *s = sum;
}

void snug_register_kquant_scalar(snug_kernel_table t) {
    t[SNUG_TYPE_Q2_K] = (snug_type_kernels){SNUG_TYPE_Q8_K, snug_quantize_row_q8_k, vec_dot_q2_k};
    t[SNUG_TYPE_Q3_K] = (snug_type_kernels){SNUG_TYPE_Q8_K, snug_quantize_row_q8_k, vec_dot_q3_k};
    t[SNUG_TYPE_Q4_K] = (snug_type_kernels){SNUG_TYPE_Q8_K, snug_quantize_row_q8_k, vec_dot_q4_k};
    t[SNUG_TYPE_Q5_K] = (snug_type_kernels){SNUG_TYPE_Q8_K, snug_quantize_row_q8_k, vec_dot_q5_k};
    t[SNUG_TYPE_Q6_K] = (snug_type_kernels){SNUG_TYPE_Q8_K, snug_quantize_row_q8_k, vec_dot_q6_k};
}
