/* model.h — a loaded model: hyper-parameters, the weights bound to their tensors, and the tokenizer.
 *
 * Invariant: after snug_model_load succeeds, every weight the forward pass reads exists, has a supported type and
 * exactly the shape the hyper-parameters imply, its data lies inside the mapped file and is aligned for its type,
 * and every tensor of the file is used (an unknown tensor, e.g. a bias the architecture does not have, is an error
 * rather than something silently ignored). Weights are views into the mapped file; nothing is copied.
 *
 * Fused tensors (phi3's attn_qkv and gate/up ffn_up) are bound as row views: a GGUF matrix is n_out rows of n_in
 * elements, so rows [a, b) of it are themselves a matrix at data + a · row_bytes. wq/wk/wv and w_gate/w_up then look
 * the same for every architecture and the forward pass needs no scratch for the fused outputs.
 */
#ifndef SNUG_MODEL_MODEL_H
#define SNUG_MODEL_MODEL_H

#include "gguf/gguf.h"
#include "model/hparams.h"
#include "model/tokenizer.h"
#include "model/weights.h"
#include "snug.h"

typedef struct snug_layer_weights {
    const float *attn_norm; /* (n_embd) */
    snug_matrix wq;         /* [n_embd, n_head·head_dim] */
    snug_matrix wk;         /* [n_embd, n_head_kv·head_dim] */
    snug_matrix wv;         /* [n_embd, n_head_kv·head_dim] */
    snug_matrix wo;         /* [n_head·head_dim, n_embd] */
    const float *bq;        /* (n_head·head_dim) Q bias, or NULL (architecture->qkv_bias) */
    const float *bk;        /* (n_head_kv·head_dim) */
    const float *bv;        /* (n_head_kv·head_dim) */
    const float *q_norm;    /* (head_dim) RMSNorm weight of every Q head, or NULL (architecture->qk_norm) */
    const float *k_norm;    /* (head_dim) of every K head */
    const float *ffn_norm;  /* (n_embd) */
    snug_matrix w_gate;     /* [n_embd, n_ff] */
    snug_matrix w_up;       /* [n_embd, n_ff] */
    snug_matrix w_down;     /* [n_ff, n_embd] */
} snug_layer_weights;

struct snug_model {
    snug_gguf *gguf;
    snug_model_desc desc;
    const snug_architecture *architecture; /* which optional pieces the forward pass runs */
    snug_rope_params rope;
    snug_matrix token_embd;     /* [n_embd, n_vocab] */
    const float *output_norm;   /* (n_embd) */
    snug_matrix output;         /* [n_embd, n_vocab]; token_embd when tied */
    snug_layer_weights *layers; /* (n_layer) */
    snug_tokenizer tokenizer;
    uint64_t host_bytes;   /* heap bytes the model holds: GGUF index, layer table, tokenizer tables */
    uint8_t *weights_copy; /* the weights' own region (snug_model_load_weights), or NULL: they are in the mapping */
    uint64_t weights_copy_bytes;
};

/* Binds every weight again from the tensor table's data pointers (after snug_model_load_weights moved them).
 * `used` holds a bool per tensor (the caller allocates it, so this cannot fail for memory). */
snug_status snug_model_bind_weights(snug_model *m, bool *used, snug_error *err);

/* Names of the architectures snug can run, for error messages (the table is in hparams.c). */
#define SNUG_SUPPORTED_ARCHITECTURES "llama, mistral, qwen2, qwen3, phi3"
#define SNUG_SUPPORTED_WEIGHT_TYPES  "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K"

#endif
