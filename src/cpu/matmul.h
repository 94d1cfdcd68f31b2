/* matmul.h — weight matrix × activations for every weight type, scalar reference.
 *
 * A weight W of GGUF shape [n_in, n_out] is n_out rows of n_in elements, each row a run of blocks of its type.
 * snug_matmul computes y[t] = W · x[t] for a batch of tokens: each row is decoded once into a per-thread scratch
 * row and dotted with every token of the batch (prefill reads the weights once per batch, not once per token).
 * Rows are split across threads; each output is computed by one thread in a fixed order, so results are identical
 * for any thread count.
 */
#ifndef SNUG_CPU_MATMUL_H
#define SNUG_CPU_MATMUL_H

#include <stdint.h>

typedef struct snug_matrix {
    const void *data;   /* n_out rows of row_bytes, in the mapped file */
    uint32_t type;
    int64_t n_in;       /* row length (GGUF ne[0]) */
    int64_t n_out;      /* rows (GGUF ne[1]) */
    uint64_t row_bytes;
} snug_matrix;

/* y (n_tokens, n_out) = x (n_tokens, n_in) · Wᵀ. row_scratch holds n_threads × w->n_in floats. */
void snug_matmul(const snug_matrix *w, const float *x, int64_t n_tokens, float *y, float *row_scratch,
                 int32_t n_threads);

/* out (n_in) = row `row` of W decoded (an embedding lookup). */
void snug_matrix_row(const snug_matrix *w, int64_t row, float *out);

#endif
