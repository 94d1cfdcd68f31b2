/* model.c — loading a llama-family model from GGUF: hyper-parameters, tensor binding and validation.
 *
 * Keys follow the GGUF convention "<arch>.<name>" (llama.embedding_length, …). Tensors follow llama.cpp's names
 * (token_embd, blk.N.attn_q, …); the differences between the architectures snug runs (llama, mistral, qwen2,
 * qwen3, phi3) are the flags of snug_architecture (hparams.h), one branch each in bind_attention and
 * bind_feed_forward. Every check names the key or tensor and the numbers, so a broken file says what is
 * wrong with it. See model.h for the invariant this establishes.
 *
 * All of it reads only the header (metadata and tensor table; alignment is checked on file offsets, not pointers),
 * so snug_model_check runs the very same checks on a header-only file for `snug plan`: plan refuses what run would
 * refuse, with the same message.
 */
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/error.h"
#include "gguf/types.h"
#include "model/hparams.h"

typedef struct loader {
    snug_model *model;
    const snug_gguf *gguf;
    const char *arch;
    bool *used; /* (n_tensors) which tensors were bound */
    snug_error *err;
} loader;

static void format_shape(char *buf, size_t cap, const uint64_t *ne, uint32_t n_dims) {
    int n = snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < n_dims && n > 0 && (size_t)n < cap; d++) {
        n += snprintf(buf + n, cap - (size_t)n, d ? ", %llu" : "%llu", (unsigned long long)ne[d]);
    }
    if (n > 0 && (size_t)n < cap) snprintf(buf + n, cap - (size_t)n, "]");
}

/* Finds a tensor, checks its shape (ne0, ne1; ne1 == 0 means a vector) and type class, marks it used. */
static snug_status bind_tensor(loader *ld, const char *name, int64_t ne0, int64_t ne1, bool optional,
                               const snug_tensor_info **out) {
    *out = NULL;
    const snug_gguf *g = ld->gguf;
    const snug_tensor_info *t = NULL;
    for (uint64_t i = 0; i < snug_gguf_tensor_count(g); i++) {
        if (strcmp(snug_gguf_tensor(g, i)->name, name) == 0) {
            t = snug_gguf_tensor(g, i);
            ld->used[i] = true;
            break;
        }
    }
    if (t == NULL) {
        if (optional) return SNUG_OK;
        return snug_fail(ld->err, SNUG_E_FORMAT, "missing tensor '%s' (the %s architecture needs it)", name, ld->arch);
    }
    uint64_t want[2] = {(uint64_t)ne0, (uint64_t)ne1};
    uint32_t want_dims = ne1 ? 2 : 1;
    bool shape_ok =
        t->ne[0] == want[0] && (ne1 ? t->ne[1] == want[1] : t->ne[1] == 1) && t->ne[2] == 1 && t->ne[3] == 1;
    if (!shape_ok) {
        char have_s[96], want_s[96];
        format_shape(have_s, sizeof have_s, t->ne, t->n_dims);
        format_shape(want_s, sizeof want_s, want, want_dims);
        return snug_fail(ld->err, SNUG_E_FORMAT, "tensor '%s' has shape %s, expected %s from the hyper-parameters",
                         name, have_s, want_s);
    }
    *out = t;
    return SNUG_OK;
}

/* An F32 vector (norm weights, biases): `what` names the kind in the type error. */
static snug_status bind_vector(loader *ld, const char *name, int64_t n, const char *what, const float **out) {
    const snug_tensor_info *t;
    snug_status st = bind_tensor(ld, name, n, 0, false, &t);
    if (st != SNUG_OK) return st;
    if (t->type != SNUG_TYPE_F32) {
        return snug_fail(ld->err, SNUG_E_UNSUPPORTED, "tensor '%s' has type %s; snug expects F32 for %s", name,
                         snug_type_name(t->type), what);
    }
    const uint64_t file_offset = snug_gguf_data_offset(ld->gguf) + t->offset; /* the map is page-aligned */
    if (file_offset % sizeof(float) != 0) {
        return snug_fail(ld->err, SNUG_E_FORMAT, "tensor '%s': F32 data at file offset %llu is not 4-byte aligned",
                         name, (unsigned long long)file_offset);
    }
    *out = t->data;
    return SNUG_OK;
}

/* The weight types SNUG_SUPPORTED_WEIGHT_TYPES names: those the CPU backend computes (it checks again when it is
 * created; a GPU backend refuses by name the ones it does not). */
static bool weight_type_supported(uint32_t type) {
    static const uint32_t supported[] = {SNUG_TYPE_F32,  SNUG_TYPE_F16,  SNUG_TYPE_BF16, SNUG_TYPE_Q8_0, SNUG_TYPE_Q4_0,
                                         SNUG_TYPE_Q4_1, SNUG_TYPE_Q5_0, SNUG_TYPE_Q5_1, SNUG_TYPE_Q2_K, SNUG_TYPE_Q3_K,
                                         SNUG_TYPE_Q4_K, SNUG_TYPE_Q5_K, SNUG_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof supported / sizeof *supported; i++) {
        if (supported[i] == type) return true;
    }
    return false;
}

static snug_status bind_matrix(loader *ld, const char *name, int64_t n_in, int64_t n_out, bool optional,
                               snug_matrix *out) {
    const snug_tensor_info *t;
    snug_status st = bind_tensor(ld, name, n_in, n_out, optional, &t);
    if (st != SNUG_OK || t == NULL) return st;
    if (!weight_type_supported(t->type)) {
        snug_fail(ld->err, SNUG_E_UNSUPPORTED, "tensor '%s' has type %s, which snug cannot compute yet", name,
                  snug_type_name(t->type));
        snug_hint(ld->err, "supported weight types: %s", SNUG_SUPPORTED_WEIGHT_TYPES);
        return SNUG_E_UNSUPPORTED;
    }
    uint32_t element_align = t->type == SNUG_TYPE_F32 ? 4 : 1;
    const uint64_t file_offset = snug_gguf_data_offset(ld->gguf) + t->offset; /* the map is page-aligned */
    if (file_offset % element_align != 0) {
        return snug_fail(ld->err, SNUG_E_FORMAT, "tensor '%s': %s data at file offset %llu is not %u-byte aligned",
                         name, snug_type_name(t->type), (unsigned long long)file_offset, element_align);
    }
    uint64_t row_bytes = 0;
    snug_type_row_bytes(t->type, t->ne[0], &row_bytes);
    *out = (snug_matrix){t->data, t->type, n_in, n_out, row_bytes};
    return SNUG_OK;
}

static snug_status check_architecture(loader *ld, char *arch, size_t cap) {
    snug_status st = snug_architecture_read(ld->gguf, arch, cap, ld->err);
    if (st != SNUG_OK) return st;
    ld->model->architecture = snug_architecture_find(arch);
    if (ld->model->architecture == NULL) {
        snug_fail(ld->err, SNUG_E_UNSUPPORTED, "unsupported architecture '%s' (snug runs: %s)", arch,
                  SNUG_SUPPORTED_ARCHITECTURES);
        snug_hint(ld->err, "'snug plan' still plans the file's memory");
        return SNUG_E_UNSUPPORTED;
    }
    return SNUG_OK;
}

/* Rows [first, first + count) of a bound matrix, as a matrix of its own (see model.h on fused tensors). */
static snug_matrix matrix_rows(const snug_matrix *m, int64_t first, int64_t count) {
    snug_matrix view = *m;
    view.data = (const uint8_t *)m->data + (uint64_t)first * m->row_bytes;
    view.n_out = count;
    return view;
}

/* LongRoPE (the 128k-context Phi-3 variants) rescales RoPE frequencies with these tensors; snug does not implement
 * it, and running without them would give wrong output, so the file is refused by name. */
static snug_status refuse_long_rope(loader *ld) {
    static const char *const names[] = {"rope_factors_long.weight", "rope_factors_short.weight"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (snug_gguf_find_tensor(ld->gguf, names[i]) == NULL) continue;
        snug_fail(ld->err, SNUG_E_UNSUPPORTED,
                  "tensor '%s': LongRoPE frequency factors (the 128k-context %s variants) are not supported", names[i],
                  ld->arch);
        snug_hint(ld->err, "use a variant without rope_factors tensors (e.g. Phi-3-mini-4k)");
        return SNUG_E_UNSUPPORTED;
    }
    return SNUG_OK;
}

/* Q/K/V: three matrices, or row views of phi3's fused attn_qkv; then qwen2's biases and qwen3's per-head norms. */
static snug_status bind_attention(loader *ld, int32_t l, snug_layer_weights *w) {
    const snug_architecture *a = ld->model->architecture;
    const snug_model_desc *d = &ld->model->desc;
    const int64_t E = d->n_embd, hd = d->head_dim;
    const int64_t q_dim = (int64_t)d->n_head * hd, kv_dim = (int64_t)d->n_head_kv * hd;
    char name[96];
    snug_status st = SNUG_OK;
#define LAYER_TENSOR(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
    if (a->fused_qkv) {
        snug_matrix wqkv;
        if ((st = bind_matrix(ld, LAYER_TENSOR("attn_qkv.weight"), E, q_dim + 2 * kv_dim, false, &wqkv)) != SNUG_OK)
            return st;
        w->wq = matrix_rows(&wqkv, 0, q_dim);
        w->wk = matrix_rows(&wqkv, q_dim, kv_dim);
        w->wv = matrix_rows(&wqkv, q_dim + kv_dim, kv_dim);
    } else if ((st = bind_matrix(ld, LAYER_TENSOR("attn_q.weight"), E, q_dim, false, &w->wq)) != SNUG_OK ||
               (st = bind_matrix(ld, LAYER_TENSOR("attn_k.weight"), E, kv_dim, false, &w->wk)) != SNUG_OK ||
               (st = bind_matrix(ld, LAYER_TENSOR("attn_v.weight"), E, kv_dim, false, &w->wv)) != SNUG_OK) {
        return st;
    }
    if (a->qkv_bias && ((st = bind_vector(ld, LAYER_TENSOR("attn_q.bias"), q_dim, "biases", &w->bq)) != SNUG_OK ||
                        (st = bind_vector(ld, LAYER_TENSOR("attn_k.bias"), kv_dim, "biases", &w->bk)) != SNUG_OK ||
                        (st = bind_vector(ld, LAYER_TENSOR("attn_v.bias"), kv_dim, "biases", &w->bv)) != SNUG_OK)) {
        return st;
    }
    if (a->qk_norm &&
        ((st = bind_vector(ld, LAYER_TENSOR("attn_q_norm.weight"), hd, "norm weights", &w->q_norm)) != SNUG_OK ||
         (st = bind_vector(ld, LAYER_TENSOR("attn_k_norm.weight"), hd, "norm weights", &w->k_norm)) != SNUG_OK)) {
        return st;
    }
    return bind_matrix(ld, LAYER_TENSOR("attn_output.weight"), q_dim, E, false, &w->wo);
#undef LAYER_TENSOR
}

/* SwiGLU: gate, up and down, or row views of phi3's fused ffn_up (gate rows first, then up). */
static snug_status bind_feed_forward(loader *ld, int32_t l, snug_layer_weights *w) {
    const snug_model_desc *d = &ld->model->desc;
    const int64_t E = d->n_embd, F = d->n_ff;
    char name[96];
    snug_status st;
#define LAYER_TENSOR(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
    if (ld->model->architecture->fused_gate_up) {
        snug_matrix gate_up;
        if ((st = bind_matrix(ld, LAYER_TENSOR("ffn_up.weight"), E, 2 * F, false, &gate_up)) != SNUG_OK) return st;
        w->w_gate = matrix_rows(&gate_up, 0, F);
        w->w_up = matrix_rows(&gate_up, F, F);
    } else if ((st = bind_matrix(ld, LAYER_TENSOR("ffn_gate.weight"), E, F, false, &w->w_gate)) != SNUG_OK ||
               (st = bind_matrix(ld, LAYER_TENSOR("ffn_up.weight"), E, F, false, &w->w_up)) != SNUG_OK) {
        return st;
    }
    return bind_matrix(ld, LAYER_TENSOR("ffn_down.weight"), F, E, false, &w->w_down);
#undef LAYER_TENSOR
}

static snug_status bind_weights(loader *ld) {
    snug_model *m = ld->model;
    snug_model_desc *d = &m->desc;
    const int64_t E = d->n_embd, V = d->n_vocab;
    snug_status st;
    if ((st = refuse_long_rope(ld)) != SNUG_OK) return st;
    if ((st = bind_matrix(ld, "token_embd.weight", E, V, false, &m->token_embd)) != SNUG_OK) return st;
    if ((st = bind_vector(ld, "output_norm.weight", E, "norm weights", &m->output_norm)) != SNUG_OK) return st;
    if ((st = bind_matrix(ld, "output.weight", E, V, true, &m->output)) != SNUG_OK) return st;
    d->tied_output = m->output.data == NULL;
    if (d->tied_output) m->output = m->token_embd;

    if (m->architecture->rope_freqs) {
        const snug_tensor_info *freqs;
        if ((st = bind_tensor(ld, "rope_freqs.weight", m->rope.n_rot / 2, 0, true, &freqs)) != SNUG_OK) return st;
        if (freqs) {
            if (freqs->type != SNUG_TYPE_F32 ||
                (snug_gguf_data_offset(ld->gguf) + freqs->offset) % sizeof(float) != 0) {
                return snug_fail(ld->err, SNUG_E_UNSUPPORTED,
                                 "tensor 'rope_freqs.weight' must be aligned F32, it is %s",
                                 snug_type_name(freqs->type));
            }
            m->rope.freq_factors = freqs->data;
        }
    }

    for (int32_t l = 0; l < d->n_layer; l++) {
        snug_layer_weights *w = &m->layers[l];
        char name[96];
#define LAYER_TENSOR(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
        if ((st = bind_vector(ld, LAYER_TENSOR("attn_norm.weight"), E, "norm weights", &w->attn_norm)) != SNUG_OK ||
            (st = bind_attention(ld, l, w)) != SNUG_OK ||
            (st = bind_vector(ld, LAYER_TENSOR("ffn_norm.weight"), E, "norm weights", &w->ffn_norm)) != SNUG_OK ||
            (st = bind_feed_forward(ld, l, w)) != SNUG_OK) {
            return st;
        }
#undef LAYER_TENSOR
    }
    for (uint64_t i = 0; i < snug_gguf_tensor_count(ld->gguf); i++) {
        if (!ld->used[i]) {
            return snug_fail(ld->err, SNUG_E_UNSUPPORTED,
                             "tensor '%s' is not part of the %s architecture with %d blocks (refusing to ignore it)",
                             snug_gguf_tensor(ld->gguf, i)->name, ld->arch, d->n_layer);
        }
    }
    return SNUG_OK;
}

/* A file whose tensor table is complete but which holds no tensor data at all is a header-only file (for planning),
 * not a damaged one: say so instead of naming the first tensor past the end. Leaves err alone otherwise. */
static void explain_header_only(const char *path, snug_error *err) {
    snug_gguf *g;
    if (snug_gguf_open(path, SNUG_GGUF_ALLOW_MISSING_DATA, &g, NULL) != SNUG_OK) return;
    bool any_data = false;
    for (uint64_t i = 0; i < snug_gguf_tensor_count(g); i++) any_data |= snug_gguf_tensor(g, i)->data != NULL;
    if (!any_data && snug_gguf_tensor_count(g) > 0) {
        snug_fail(err, SNUG_E_FORMAT,
                  "%s: a header-only GGUF file: it lists %llu tensors but holds none of their data (the file ends at "
                  "byte %llu)",
                  path, (unsigned long long)snug_gguf_tensor_count(g), (unsigned long long)snug_gguf_file_bytes(g));
        snug_hint(err, "'snug plan' works on it; to run the model, download the complete file");
    }
    snug_gguf_close(g);
}

/* Reads and validates everything of the file m->gguf into m: architecture, hyper-parameters, the tokenizer, the
 * vocabulary size, every tensor (model.h's invariant, for all but the data's presence). Frees nothing on failure. */
static snug_status bind_model(snug_model *m, snug_error *err) {
    char arch[64];
    loader ld = {m, m->gguf, arch, NULL, err};
    snug_model_desc *d = &m->desc;
    snug_status st;
    if ((st = check_architecture(&ld, arch, sizeof arch)) != SNUG_OK) return st;
    d->architecture = m->architecture->name;
    if ((st = snug_hparams_read(m->gguf, arch, d, &m->rope, err)) != SNUG_OK) return st;
    if ((st = snug_tokenizer_load(&m->tokenizer, m->gguf, err)) != SNUG_OK) return st;
    d->n_vocab = m->tokenizer.n_vocab;
    d->bos = m->tokenizer.bos;
    d->eos = m->tokenizer.eos;
    d->unk = m->tokenizer.unk;
    char vocab_name[96];
    snprintf(vocab_name, sizeof vocab_name, "%s.vocab_size", arch);
    int64_t vocab_key = snug_gguf_find_key(m->gguf, vocab_name);
    int64_t vocab_size;
    if (vocab_key >= 0 && snug_gguf_kv_get_i64(m->gguf, (uint64_t)vocab_key, &vocab_size) && vocab_size != d->n_vocab) {
        return snug_fail(err, SNUG_E_FORMAT, "%s is %lld but tokenizer.ggml.tokens has %d entries", vocab_name,
                         (long long)vocab_size, d->n_vocab);
    }
    m->layers = calloc((size_t)d->n_layer, sizeof *m->layers);
    ld.used = calloc(snug_gguf_tensor_count(m->gguf) + 1, sizeof *ld.used);
    if (!m->layers || !ld.used) {
        free(ld.used);
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory binding %d layers", d->n_layer);
    }
    st = bind_weights(&ld);
    free(ld.used);
    if (st != SNUG_OK) return st;
    for (uint64_t i = 0; i < snug_gguf_tensor_count(m->gguf); i++)
        d->weight_bytes += snug_gguf_tensor(m->gguf, i)->bytes;
    m->host_bytes = m->gguf->index_bytes + (uint64_t)d->n_layer * sizeof *m->layers + m->tokenizer.table_bytes;
    return SNUG_OK;
}

snug_status snug_model_load(const char *path, snug_model **out, snug_error *err) {
    *out = NULL;
    snug_model *m = calloc(1, sizeof *m);
    if (!m) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "%s: out of memory", path);
    snug_status st = snug_gguf_open(path, 0, &m->gguf, err);
    if (st != SNUG_OK) {
        explain_header_only(path, err);
        free(m);
        return st;
    }
    if ((st = bind_model(m, err)) != SNUG_OK) {
        snug_error_prefix(err, "%s: ", path);
        snug_model_free(m);
        return st;
    }
    *out = m;
    return SNUG_OK;
}

snug_status snug_model_check(const snug_gguf *gguf, const char *name, snug_error *err) {
    snug_model *m = calloc(1, sizeof *m);
    if (!m) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "%s: out of memory", name ? name : "model");
    /* Borrowed, never written: bind_model only reads the file, and m->gguf is not closed below. */
    m->gguf = (snug_gguf *)(uintptr_t)gguf;
    snug_status st = bind_model(m, err);
    if (st != SNUG_OK && name) snug_error_prefix(err, "%s: ", name);
    snug_tokenizer_free(&m->tokenizer);
    free(m->layers);
    free(m);
    return st;
}

snug_status snug_model_bind_weights(snug_model *m, bool *used, snug_error *err) {
    char arch[64];
    snprintf(arch, sizeof arch, "%s", m->architecture->name);
    memset(used, 0, (snug_gguf_tensor_count(m->gguf) + 1) * sizeof *used);
    loader ld = {m, m->gguf, arch, used, err};
    return bind_weights(&ld);
}

void snug_model_free(snug_model *m) {
    if (!m) return;
    if (m->weights_copy) munmap(m->weights_copy, (size_t)m->weights_copy_bytes);
    snug_tokenizer_free(&m->tokenizer);
    free(m->layers);
    snug_gguf_close(m->gguf);
    free(m);
}

const snug_gguf *snug_model_gguf(const snug_model *m) { return m->gguf; }

void snug_model_describe(const snug_model *m, snug_model_desc *out) { *out = m->desc; }

size_t snug_token_to_piece(const snug_model *m, snug_token prev, snug_token token, char *out, size_t cap) {
    return snug_tokenizer_piece_text(&m->tokenizer, prev, token, out, cap);
}
