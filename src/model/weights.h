/* weights.h — how the model describes its weights to a backend: where a matrix's rows are, their type, shape and
 * bytes, and the rotary embedding's parameters. Data only: which kernels compute them is each backend's business
 * (the CPU's: cpu/kernels.h, looked up by type when a matmul runs). */
#ifndef SNUG_MODEL_WEIGHTS_H
#define SNUG_MODEL_WEIGHTS_H

#include <stdint.h>

typedef struct snug_matrix {
    const void *data; /* n_out rows of row_bytes: in the mapped file, or in the model's copy of its weights */
    uint32_t type;    /* a GGUF tensor type (gguf/types.h) */
    int64_t n_in;     /* row length (GGUF ne[0]) */
    int64_t n_out;    /* rows (GGUF ne[1]) */
    uint64_t row_bytes;
} snug_matrix;

typedef enum snug_rope_mode {
    SNUG_ROPE_NORMAL = 0, /* rotates adjacent pairs (x[2i], x[2i+1]): llama GGUF files (Q/K permuted at conversion) */
    SNUG_ROPE_NEOX = 2,   /* rotates (x[i], x[i + n_rot/2]): GPT-NeoX, Qwen, Phi-3 */
} snug_rope_mode;

typedef struct snug_rope_params {
    snug_rope_mode mode;
    int32_t n_rot;             /* rotated dimensions per head (even, <= head_dim); the rest pass through */
    float freq_base;           /* θ = freq_base^(−2i / n_rot) */
    float freq_scale;          /* positions are multiplied by this (linear scaling: 1 / factor) */
    const float *freq_factors; /* (n_rot / 2) divisors of θ, or NULL (Llama 3.1 "rope_freqs") */
} snug_rope_params;

#endif
