/* hparams.h — a model's hyper-parameters from GGUF metadata, without binding any tensor (see hparams.c). */
#ifndef SNUG_MODEL_HPARAMS_H
#define SNUG_MODEL_HPARAMS_H

#include <stddef.h>

#include "cpu/ops.h"
#include "snug.h"

/* general.architecture into arch (NUL-terminated). */
snug_status snug_architecture_read(const snug_gguf *gguf, char *arch, size_t cap, snug_error *err);

/* Fills the shape fields of desc (n_embd, n_layer, n_ff, heads, head_dim, n_ctx_train, rms_eps, RoPE) and rope
 * (mode NORMAL; the caller changes it for NeoX-style architectures). n_vocab is not set here. */
snug_status snug_hparams_read(const snug_gguf *gguf, const char *arch, snug_model_desc *desc, snug_rope_params *rope,
                              snug_error *err);

#endif
