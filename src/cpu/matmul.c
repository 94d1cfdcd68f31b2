/* matmul.c — batched weight × activation products over every weight type (see matmul.h). */
#include "cpu/matmul.h"

#include <omp.h>

#include "cpu/ops.h"
#include "cpu/quant.h"
#include "snug.h"

void snug_matrix_row(const snug_matrix *w, int64_t row, float *out) {
    snug_dequantize_row(w->type, (const uint8_t *)w->data + (uint64_t)row * w->row_bytes, out, w->n_in);
}

void snug_matmul(const snug_matrix *w, const float *x, int64_t n_tokens, float *y, float *row_scratch,
                 int32_t n_threads) {
    const int64_t n_in = w->n_in, n_out = w->n_out;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t r = 0; r < n_out; r++) {
        const uint8_t *src = (const uint8_t *)w->data + (uint64_t)r * w->row_bytes;
        const float *row;
        if (w->type == SNUG_TYPE_F32) {
            row = (const float *)src; /* the model checked F32 data is 4-byte aligned */
        } else {
            float *decoded = row_scratch + (int64_t)omp_get_thread_num() * n_in;
            snug_dequantize_row(w->type, src, decoded, n_in);
            row = decoded;
        }
        for (int64_t t = 0; t < n_tokens; t++) y[t * n_out + r] = snug_dot_f32(row, x + t * n_in, n_in);
    }
}
