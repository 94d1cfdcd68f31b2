/* hparams.h — a model's hyper-parameters from GGUF metadata, without binding any tensor (see hparams.c). */
#ifndef SNUG_MODEL_HPARAMS_H
#define SNUG_MODEL_HPARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "model/weights.h"
#include "snug.h"

/* What sets one architecture of the llama family apart: the forward pass (context.c) and the loader (model.c) read
 * these flags instead of keeping a copy of the forward pass per architecture. Tensor names and RoPE styles follow
 * llama.cpp's GGUF conventions (llama-arch.cpp, llama_model_rope_type). */
typedef struct snug_architecture {
    const char *name;         /* general.architecture, also the prefix of its metadata keys */
    snug_rope_mode rope_mode; /* NORMAL: adjacent pairs (llama, mistral); NEOX: (i, i + n_rot/2) (qwen2/3, phi3) */
    bool qkv_bias;            /* blk.N.attn_{q,k,v}.bias, F32, added after the projections (qwen2) */
    bool qk_norm;             /* blk.N.attn_{q,k}_norm.weight, (head_dim) RMSNorm per head before RoPE (qwen3) */
    bool fused_qkv;           /* blk.N.attn_qkv.weight [n_embd, q_dim + 2·kv_dim], rows q, k, v (phi3) */
    bool fused_gate_up;       /* blk.N.ffn_up.weight [n_embd, 2·n_ff], rows gate then up; no ffn_gate (phi3) */
    bool rope_freqs;          /* may carry rope_freqs.weight (Llama 3.1 frequency factors) */
} snug_architecture;

/* The architecture called `name`, or NULL when snug cannot run it (SNUG_SUPPORTED_ARCHITECTURES in model.h). */
const snug_architecture *snug_architecture_find(const char *name);

/* general.architecture into arch (NUL-terminated). */
snug_status snug_architecture_read(const snug_gguf *gguf, char *arch, size_t cap, snug_error *err);

/* Fills the shape fields of desc (n_embd, n_layer, n_ff, heads, head_dim, n_ctx_train, rms_eps, RoPE) and rope
 * (mode from snug_architecture_find; NORMAL for an architecture snug only plans). n_vocab is not set here. */
snug_status snug_hparams_read(const snug_gguf *gguf, const char *arch, snug_model_desc *desc, snug_rope_params *rope,
                              snug_error *err);

#endif
