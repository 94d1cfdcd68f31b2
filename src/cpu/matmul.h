/* matmul.h — weight matrix × activations for every weight type, through the per-ISA kernels (kernels.h).
 *
 * A weight W of GGUF shape [n_in, n_out] is n_out rows of n_in elements, each row a run of blocks of its type.
 * snug_matmul computes y[t] = W · x[t] for a batch of tokens:
 *   1. the activations are encoded once into the weight type's activation type (Q8_0 / Q8_1 / Q8_K; float types use
 *      them as they are), into a planned buffer;
 *   2. rows are split across the pool's threads in blocks of SNUG_MATMUL_ROW_BLOCK (one contiguous share per
 *      thread; a thread that finishes its share early takes blocks from the back of the others'); each block walks
 *      the batch in tiles of tokens, so a weight row is read from memory once per batch and stays in cache while it
 *      meets every token of the tile (prefill is bound by compute, decode by reading the weights once). A batch goes
 *      through the kernels' register-blocked dot_tile where they have one (a tile of at most the kernel's tile_rows ×
 *      tile_tokens a call), one token through vec_dot, or through the kernels' decode layout where they have one
 *      (kernels.h: the activation row is then encoded for the kernel, as it meets every weight row).
 * Each output is computed by one thread, and its arithmetic does not depend on which other rows or tokens share its
 * tile, so results are identical for any thread count; a token's outputs in a batch and alone (dot_tile vs vec_dot)
 * agree within the kernels' tolerance (tests/test_kernels_cpu.c).
 */
#ifndef SNUG_CPU_MATMUL_H
#define SNUG_CPU_MATMUL_H

#include <stdint.h>

#include "cpu/kernels.h"
#include "cpu/pool.h"
#include "model/weights.h" /* snug_matrix: the model's description; the kernels are looked up by its type */

/* Rows per block handed to a thread, and tokens per tile: a tile's encoded activations (≤ 32 × ~1.1 bytes ×
 * n_in, ~200 KiB at n_in 5632) stay in L2 while the block's rows stream through L1. 32 rows: F16 prefill measured
 * ~15 % faster than with 16 (its weight rows are reused by more register tiles while in L2), the quantized types
 * the same (2 threads, Zen 5, TinyLlama shapes). */
#define SNUG_MATMUL_ROW_BLOCK  32 /* a multiple of SNUG_TILE_WIDE_MAX, so that wide tiles are whole */
#define SNUG_MATMUL_TOKEN_TILE 32

/* Bytes of the encoded activations of n_tokens rows for this matrix (0 when it takes floats as they are). */
uint64_t snug_matmul_act_bytes(const snug_matrix *w, int64_t n_tokens);

/* y (n_tokens, n_out) = x (n_tokens, n_in) · Wᵀ, with the kernels in use for w's type (snug_kernels_in_use). act_buffer
 * holds at least snug_matmul_act_bytes(w, n_tokens). Runs on the pool's threads (NULL: the caller alone). */
void snug_matmul(const snug_matrix *w, const float *x, int64_t n_tokens, float *y, void *act_buffer, snug_pool *pool);

/* The same with a given ISA's kernels for w's type (snug_kernels_for: tests hold every ISA to the reference). */
void snug_matmul_with(const snug_type_kernels *k, const snug_matrix *w, const float *x, int64_t n_tokens, float *y,
                      void *act_buffer, snug_pool *pool);
uint64_t snug_matmul_act_bytes_with(const snug_type_kernels *k, const snug_matrix *w, int64_t n_tokens);

/* Several matrices over the same input (Q, K and V; gate and up) in one pool job, the input encoded once:
 * fewer thread synchronizations per token. Each output is computed exactly as snug_matmul would (same vec_dot or
 * tile call), so results are identical to separate calls. Falls back to separate calls when the matrices differ
 * in input length or activation encoding. */
#define SNUG_MATMUL_GROUP_MAX 4
void snug_matmul_group(const snug_matrix *const *ws, float *const *ys, int count, const float *x, int64_t n_tokens,
                       void *act_buffer, snug_pool *pool);

/* out (n_in) = row `row` of W decoded (an embedding lookup). */
void snug_matrix_row(const snug_matrix *w, int64_t row, float *out);

#endif
