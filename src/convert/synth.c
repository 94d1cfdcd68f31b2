/* synth.c — writing synthetic llama-family GGUF models (see synth.h). */
#include "convert/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cpu/quant.h"
#include "gguf/types.h"
#include "gguf/writer.h"

enum { FIRST_BYTE_TOKEN = 3, N_BYTE_TOKENS = 256 };

snug_synth_params snug_synth_default_params(void) {
    return (snug_synth_params){
        .n_vocab = 320,
        .n_embd = 64,
        .n_layer = 2,
        .n_head = 4,
        .n_head_kv = 2,
        .n_ff = 128,
        .n_ctx_train = 256,
        .weight_type = SNUG_TYPE_F32,
        .embd_type = SNUG_TYPE_F32,
        .seed = 1,
    };
}

/* splitmix64: a small, well-mixed deterministic generator. */
static uint64_t next_u64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Approximately normal(0, 1): the sum of four uniforms, rescaled (variance of one uniform on [-1,1) is 1/3). */
static float next_normal(uint64_t *state) {
    float sum = 0.0f;
    for (int i = 0; i < 4; i++) sum += (float)((next_u64(state) >> 40) * 0x1p-24) * 2.0f - 1.0f;
    return sum * sqrtf(3.0f / 4.0f);
}

typedef struct synth {
    snug_gguf_writer *w;
    uint64_t rng;
    bool header_only;
    const char *omit_tensor;
    float *rows;      /* scratch for one tensor in f32 */
    uint8_t *encoded; /* scratch for one tensor encoded */
} synth;

/* Adds a [n_in, n_out] tensor (n_out == 0: a vector) of random values scaled by `scale` around `mean`. */
static bool add_tensor(synth *s, const char *name, uint32_t type, int64_t n_in, int64_t n_out, float mean,
                       float scale) {
    if (s->omit_tensor && strcmp(name, s->omit_tensor) == 0) return true;
    uint64_t ne[2] = {(uint64_t)n_in, (uint64_t)(n_out ? n_out : 1)};
    uint64_t row_bytes;
    if (!snug_type_row_bytes(type, (uint64_t)n_in, &row_bytes)) return false;
    uint64_t rows = ne[1], bytes = row_bytes * rows;
    if (s->header_only) return snug_gguf_writer_tensor(s->w, name, type, n_out ? 2 : 1, ne, NULL, bytes);
    float *values = realloc(s->rows, (size_t)(n_in * (int64_t)rows) * sizeof *values);
    if (!values) return false;
    s->rows = values;
    uint8_t *encoded = realloc(s->encoded, (size_t)bytes);
    if (!encoded) return false;
    s->encoded = encoded;
    for (uint64_t i = 0; i < (uint64_t)n_in * rows; i++) values[i] = mean + scale * next_normal(&s->rng);
    for (uint64_t r = 0; r < rows; r++) {
        if (!snug_quantize_row(type, values + r * (uint64_t)n_in, encoded + r * row_bytes, n_in)) return false;
    }
    return snug_gguf_writer_tensor(s->w, name, type, n_out ? 2 : 1, ne, encoded, bytes);
}

static bool add_vocabulary(snug_gguf_writer *w, int32_t n_vocab) {
    char **tokens = calloc((size_t)n_vocab, sizeof *tokens);
    float *scores = calloc((size_t)n_vocab, sizeof *scores);
    int32_t *types = calloc((size_t)n_vocab, sizeof *types);
    bool ok = tokens && scores && types;
    for (int32_t i = 0; ok && i < n_vocab; i++) {
        char piece[32];
        if (i == 0) {
            snprintf(piece, sizeof piece, "<unk>");
            types[i] = 2;
        } else if (i == 1 || i == 2) {
            snprintf(piece, sizeof piece, i == 1 ? "<s>" : "</s>");
            types[i] = 3;
        } else if (i < FIRST_BYTE_TOKEN + N_BYTE_TOKENS) {
            snprintf(piece, sizeof piece, "<0x%02X>", i - FIRST_BYTE_TOKEN);
            types[i] = 6;
        } else {
            /* "▁" + a short lowercase word: distinct pieces with made-up scores. */
            int32_t k = i - (FIRST_BYTE_TOKEN + N_BYTE_TOKENS);
            snprintf(piece, sizeof piece, "\xe2\x96\x81%c%c%d", 'a' + k % 26, 'a' + (k / 26) % 26, k / 676);
            types[i] = 1;
            scores[i] = -(float)k;
        }
        tokens[i] = strdup(piece);
        ok = tokens[i] != NULL;
    }
    ok = ok && snug_gguf_writer_string(w, "tokenizer.ggml.model", "llama") &&
         snug_gguf_writer_strings(w, "tokenizer.ggml.tokens", (const char *const *)tokens, (uint64_t)n_vocab) &&
         snug_gguf_writer_f32s(w, "tokenizer.ggml.scores", scores, (uint64_t)n_vocab) &&
         snug_gguf_writer_i32s(w, "tokenizer.ggml.token_type", types, (uint64_t)n_vocab) &&
         snug_gguf_writer_u32(w, "tokenizer.ggml.unknown_token_id", 0) &&
         snug_gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", 1) &&
         snug_gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", 2);
    for (int32_t i = 0; tokens && i < n_vocab; i++) free(tokens[i]);
    free(tokens);
    free(scores);
    free(types);
    return ok;
}

/* One block's tensors, in the layout of the architecture `arch`. */
static bool add_block(synth *s, const snug_synth_params *p, const char *arch, int32_t l, int64_t head_dim) {
    const int64_t E = p->n_embd, F = p->n_ff;
    const int64_t q_dim = (int64_t)p->n_head * head_dim, kv_dim = (int64_t)p->n_head_kv * head_dim;
    const uint32_t type = p->weight_type;
    /* Scales keep activations O(1): matrices ~ 1/sqrt(n_in), norms around 1. Biases and Q/K norms spread wider,
     * so that leaving them out changes the logits far beyond the reference tests' bounds. */
    const float w_scale = 1.0f / sqrtf((float)E), out_scale = 1.0f / sqrtf((float)q_dim),
                down_scale = 1.0f / sqrtf((float)F);
    const bool fused = strcmp(arch, "phi3") == 0;
    char name[64];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
    bool ok = add_tensor(s, NAME("attn_norm.weight"), SNUG_TYPE_F32, E, 0, 1.0f, 0.1f);
    if (fused) {
        ok = ok && add_tensor(s, NAME("attn_qkv.weight"), type, E, q_dim + 2 * kv_dim, 0.0f, w_scale);
    } else {
        ok = ok && add_tensor(s, NAME("attn_q.weight"), type, E, q_dim, 0.0f, w_scale) &&
             add_tensor(s, NAME("attn_k.weight"), type, E, kv_dim, 0.0f, w_scale) &&
             add_tensor(s, NAME("attn_v.weight"), type, E, kv_dim, 0.0f, w_scale);
    }
    if (strcmp(arch, "qwen2") == 0) {
        ok = ok && add_tensor(s, NAME("attn_q.bias"), SNUG_TYPE_F32, q_dim, 0, 0.0f, 0.5f) &&
             add_tensor(s, NAME("attn_k.bias"), SNUG_TYPE_F32, kv_dim, 0, 0.0f, 0.5f) &&
             add_tensor(s, NAME("attn_v.bias"), SNUG_TYPE_F32, kv_dim, 0, 0.0f, 0.5f);
    }
    if (strcmp(arch, "qwen3") == 0) {
        ok = ok && add_tensor(s, NAME("attn_q_norm.weight"), SNUG_TYPE_F32, head_dim, 0, 1.0f, 0.4f) &&
             add_tensor(s, NAME("attn_k_norm.weight"), SNUG_TYPE_F32, head_dim, 0, 1.0f, 0.4f);
    }
    ok = ok && add_tensor(s, NAME("attn_output.weight"), type, q_dim, E, 0.0f, out_scale) &&
         add_tensor(s, NAME("ffn_norm.weight"), SNUG_TYPE_F32, E, 0, 1.0f, 0.1f);
    if (fused) {
        ok = ok && add_tensor(s, NAME("ffn_up.weight"), type, E, 2 * F, 0.0f, w_scale);
    } else {
        ok = ok && add_tensor(s, NAME("ffn_gate.weight"), type, E, F, 0.0f, w_scale) &&
             add_tensor(s, NAME("ffn_up.weight"), type, E, F, 0.0f, w_scale);
    }
    return ok && add_tensor(s, NAME("ffn_down.weight"), type, F, E, 0.0f, down_scale);
#undef NAME
}

snug_status snug_synth_write(const char *path, const snug_synth_params *p, snug_error *err) {
    if (p->n_vocab < FIRST_BYTE_TOKEN + N_BYTE_TOKENS || p->n_embd < 1 || p->n_layer < 1 || p->n_head < 1 ||
        p->n_head_kv < 1 || p->n_ff < 1 || p->head_dim < 0 || p->head_dim % 2 != 0 ||
        (p->head_dim == 0 && p->n_embd % p->n_head != 0) || p->n_head % p->n_head_kv != 0) {
        return snug_fail(err, SNUG_E_ARGUMENT, "invalid synthetic model shape (vocab %d, embd %d, heads %d/%d)",
                         p->n_vocab, p->n_embd, p->n_head, p->n_head_kv);
    }
    synth s = {snug_gguf_writer_create(p->gguf_version ? p->gguf_version : 3, 32),
               p->seed * 0x2545f4914f6cdd1dull + 1,
               p->header_only,
               p->omit_tensor,
               NULL,
               NULL};
    if (!s.w) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory");
    const int64_t E = p->n_embd, F = p->n_ff, hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    snug_gguf_writer *w = s.w;
    const char *arch = p->architecture ? p->architecture : "llama";
    char key[128];
#define ARCH_KEY(name) (snprintf(key, sizeof key, "%s." name, arch), key)
    bool ok = snug_gguf_writer_string(w, "general.architecture", arch) &&
              snug_gguf_writer_string(w, "general.name", "snug synthetic") &&
              snug_gguf_writer_u32(w, ARCH_KEY("context_length"), (uint32_t)p->n_ctx_train) &&
              snug_gguf_writer_u32(w, ARCH_KEY("embedding_length"), (uint32_t)E) &&
              snug_gguf_writer_u32(w, ARCH_KEY("block_count"), (uint32_t)p->n_layer) &&
              snug_gguf_writer_u32(w, ARCH_KEY("feed_forward_length"), (uint32_t)F) &&
              snug_gguf_writer_u32(w, ARCH_KEY("attention.head_count"), (uint32_t)p->n_head) &&
              snug_gguf_writer_u32(w, ARCH_KEY("attention.head_count_kv"), (uint32_t)p->n_head_kv) &&
              snug_gguf_writer_u32(w, ARCH_KEY("rope.dimension_count"), (uint32_t)hd) &&
              snug_gguf_writer_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    if (ok && p->head_dim) {
        ok = snug_gguf_writer_u32(w, ARCH_KEY("attention.key_length"), (uint32_t)hd) &&
             snug_gguf_writer_u32(w, ARCH_KEY("attention.value_length"), (uint32_t)hd);
    }
    if (ok && p->rope_freq_base > 0) ok = snug_gguf_writer_f32(w, ARCH_KEY("rope.freq_base"), p->rope_freq_base);
    if (ok && p->rope_scale_linear > 0) {
        ok = snug_gguf_writer_string(w, ARCH_KEY("rope.scaling.type"), "linear") &&
             snug_gguf_writer_f32(w, ARCH_KEY("rope.scaling.factor"), p->rope_scale_linear);
    }
#undef ARCH_KEY
    ok = ok && add_vocabulary(w, p->n_vocab);
    uint32_t embd_type = p->embd_type;
    ok = ok && add_tensor(&s, "token_embd.weight", embd_type, E, p->n_vocab, 0.0f, 1.0f);
    for (int32_t l = 0; ok && l < p->n_layer; l++) ok = add_block(&s, p, arch, l, hd);
    if (ok && p->long_rope_factors) {
        ok = add_tensor(&s, "rope_factors_long.weight", SNUG_TYPE_F32, hd / 2, 0, 4.0f, 1.0f) &&
             add_tensor(&s, "rope_factors_short.weight", SNUG_TYPE_F32, hd / 2, 0, 1.0f, 0.1f);
    }
    ok = ok && add_tensor(&s, "output_norm.weight", SNUG_TYPE_F32, E, 0, 1.0f, 0.1f);
    if (ok && !p->tied_output) {
        ok = add_tensor(&s, "output.weight", embd_type, E, p->n_vocab, 0.0f, 1.0f / sqrtf((float)E));
    }
    free(s.rows);
    free(s.encoded);
    snug_status st = ok ? snug_gguf_writer_write(w, path, p->header_only, err)
                        : snug_fail(err, SNUG_E_OUT_OF_MEMORY, "%s: could not build the synthetic model", path);
    snug_gguf_writer_free(w);
    return st;
}
