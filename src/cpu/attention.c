/* attention.c — causal GQA attention over an f16 / q8_0 / f32 KV cache (see attention.h). */
#include "cpu/attention.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "cpu/ops.h"
#include "cpu/quant.h"
#include "snug.h"

/* Byte offset of the first element of KV head `kv_head` inside a cache row. */
static uint64_t head_offset_bytes(uint32_t kv_type, int64_t first_element) {
    switch (kv_type) {
    case SNUG_TYPE_Q8_0: return (uint64_t)first_element / SNUG_QK8_0 * SNUG_Q8_0_BLOCK_BYTES;
    case SNUG_TYPE_F32: return (uint64_t)first_element * 4;
    default: return (uint64_t)first_element * 2;
    }
}

void snug_kv_store(uint32_t kv_type, const float *src, uint8_t *dst_row, int64_t n_kv) {
    snug_quantize_row(kv_type, src, dst_row, n_kv);
}

void snug_attention(float *out, const float *q, const uint8_t *k_cache, const uint8_t *v_cache, int64_t n_tokens,
                    int64_t pos0, const snug_attention_shape *shape, float *scratch, int32_t n_threads) {
    const int32_t n_head = shape->n_head, head_dim = shape->head_dim;
    const int32_t group = shape->n_head / shape->n_head_kv;
    const int64_t q_dim = (int64_t)n_head * head_dim;
    const uint64_t row_bytes = shape->row_bytes;
    const int64_t per_thread = snug_attention_scratch_floats(shape->n_ctx, head_dim);
    const float scale = 1.0f / sqrtf((float)head_dim);
    /* Heads outer: a causal batch's token t reads t + 1 positions, so splitting by tokens would leave the thread
     * with the later tokens most of the work; every head has the same. */
#pragma omp parallel for num_threads(n_threads) schedule(static) collapse(2)
    for (int32_t h = 0; h < n_head; h++) {
        for (int64_t t = 0; t < n_tokens; t++) {
            float *scores = scratch + (int64_t)omp_get_thread_num() * per_thread;
            float *k_row = scores + shape->n_ctx, *v_row = k_row + head_dim;
            const float *qh = q + t * q_dim + (int64_t)h * head_dim;
            const uint64_t slice = head_offset_bytes(shape->kv_type, (int64_t)(h / group) * head_dim);
            const int64_t n_pos = pos0 + t + 1;
            if (shape->key_kernels) {
                for (int64_t j = 0; j < n_pos; j++) {
                    shape->key_kernels->vec_dot(head_dim, &scores[j], k_cache + (uint64_t)j * row_bytes + slice, qh);
                    scores[j] *= scale;
                }
            } else {
                for (int64_t j = 0; j < n_pos; j++) {
                    snug_dequantize_row(shape->kv_type, k_cache + (uint64_t)j * row_bytes + slice, k_row, head_dim);
                    scores[j] = snug_dot_f32(qh, k_row, head_dim) * scale;
                }
            }
            snug_softmax(scores, n_pos);
            float *oh = out + t * q_dim + (int64_t)h * head_dim;
            memset(oh, 0, (size_t)head_dim * sizeof *oh);
            for (int64_t j = 0; j < n_pos; j++) {
                const uint8_t *v = v_cache + (uint64_t)j * row_bytes + slice;
                if (shape->f16_row) {
                    shape->f16_row((const uint16_t *)(const void *)v, v_row, head_dim);
                } else {
                    snug_dequantize_row(shape->kv_type, v, v_row, head_dim);
                }
                const float p = scores[j];
#pragma omp simd
                for (int32_t d = 0; d < head_dim; d++) oh[d] += p * v_row[d];
            }
        }
    }
}
