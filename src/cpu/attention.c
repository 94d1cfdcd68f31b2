/* attention.c — causal GQA attention over the f16 KV cache (see attention.h). */
#include "cpu/attention.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "cpu/half.h"
#include "cpu/ops.h"

void snug_attention(float *out, const float *q, const uint16_t *k_cache, const uint16_t *v_cache, int64_t n_tokens,
                    int64_t pos0, const snug_attention_shape *shape, float *scores_scratch, int32_t n_threads) {
    const int32_t n_head = shape->n_head, head_dim = shape->head_dim;
    const int32_t group = shape->n_head / shape->n_head_kv;
    const int64_t kv_dim = (int64_t)shape->n_head_kv * head_dim;
    const int64_t q_dim = (int64_t)n_head * head_dim;
    const float scale = 1.0f / sqrtf((float)head_dim);
#pragma omp parallel for num_threads(n_threads) schedule(static) collapse(2)
    for (int64_t t = 0; t < n_tokens; t++) {
        for (int32_t h = 0; h < n_head; h++) {
            float *scores = scores_scratch + (int64_t)omp_get_thread_num() * shape->n_ctx;
            const float *qh = q + t * q_dim + (int64_t)h * head_dim;
            const int64_t kv_offset = (int64_t)(h / group) * head_dim;
            const int64_t n_pos = pos0 + t + 1;
            for (int64_t j = 0; j < n_pos; j++) {
                const uint16_t *k = k_cache + j * kv_dim + kv_offset;
                float dot = 0.0f;
                for (int32_t d = 0; d < head_dim; d++) dot += qh[d] * snug_f16_to_f32(k[d]);
                scores[j] = dot * scale;
            }
            snug_softmax(scores, n_pos);
            float *oh = out + t * q_dim + (int64_t)h * head_dim;
            memset(oh, 0, (size_t)head_dim * sizeof *oh);
            for (int64_t j = 0; j < n_pos; j++) {
                const uint16_t *v = v_cache + j * kv_dim + kv_offset;
                const float p = scores[j];
                for (int32_t d = 0; d < head_dim; d++) oh[d] += p * snug_f16_to_f32(v[d]);
            }
        }
    }
}
