/* synth.h — synthetic llama-family models written with snug's own GGUF writer: random weights of a chosen type and
 * shape, a small SentencePiece-style vocabulary (unk, bos, eos, the 256 byte tokens, then filler pieces). Each
 * architecture snug runs gets its real tensors: qwen2 Q/K/V biases, qwen3 per-head Q/K norms, phi3 fused attn_qkv
 * and gate/up ffn_up (llama.cpp's names and layouts); biases and norms are random and far from 0 and 1, so that an
 * engine that skipped them would compute something else.
 *
 * For tests (the numpy reference checks the engine on them), planning (header-only files of real model shapes) and
 * benchmarks. Deterministic: the same parameters give the same file, byte for byte.
 */
#ifndef SNUG_CONVERT_SYNTH_H
#define SNUG_CONVERT_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "snug.h"

typedef struct snug_synth_params {
    const char *architecture; /* NULL: "llama". llama, mistral, qwen2, qwen3, phi3 get their own tensors; any other
                                 name the llama tensors under "<arch>." keys (for plans and error tests) */
    int32_t n_vocab;          /* at least 259: unk, bos, eos and 256 byte tokens */
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t n_ff;
    int32_t head_dim; /* 0: n_embd / n_head; otherwise also written as attention.key_length / value_length */
    int32_t n_ctx_train;
    uint32_t weight_type;    /* type of every matrix (norms stay F32) */
    uint32_t embd_type;      /* type of token_embd and output.weight */
    bool tied_output;        /* leave out output.weight */
    float rope_freq_base;    /* 0: leave the key out (readers use 10000) */
    float rope_scale_linear; /* 0: no scaling keys */
    uint64_t seed;
    uint32_t gguf_version; /* 0: 3 */
    bool header_only;      /* write no tensor data */
    /* For the loader's error tests: */
    const char *omit_tensor; /* leave out the tensor of this name */
    bool long_rope_factors;  /* add rope_factors_long/short.weight (phi3 LongRoPE, which snug refuses) */
} snug_synth_params;

/* Sensible defaults for a tiny model (vocab 320, embd 64, 2 layers, 4 heads, 2 KV heads, ff 128, F32). */
snug_synth_params snug_synth_default_params(void);

snug_status snug_synth_write(const char *path, const snug_synth_params *p, snug_error *err);

#endif
