/* backend.c — the Vulkan backend (backend/backend.h): its device buffers and kernels for a plan, and the forward pass
 * of the llama family (llama, mistral, qwen2's Q/K/V biases, qwen3's per-head Q/K norms) recorded as one command
 * stream a step.
 *
 * A step, top to bottom: the host embeds the tokens (a row of the mapped embedding table each, into x, which is
 * host-visible) and writes the step's tables (RoPE cos/sin computed exactly as the CPU does, each token's KV row and
 * page list); then one submission runs every layer — RMSNorm → Q/K/V matmuls [+ bias] [→ per-head norm] → RoPE → KV
 * store → paged attention (online softmax over tiles) → output projection → residual → RMSNorm → gate/up → SwiGLU →
 * down → residual; the host checks the residual stream of every token for a non-finite value; a second submission
 * normalises the rows that asked for logits and multiplies them by the output matrix; the host checks the logits and
 * copies them to the engine's rows. A failed submission, a lost device, a timeout or a non-finite value is an error,
 * and no logits row is written then: never garbage.
 *
 * Memory: every allocation is one of the plan's device buffers (vulkan_buffers lists them with the same arithmetic
 * create uses; device_bytes lets the tests compare). Weights are split by rows into pieces no larger than one
 * allocation and one binding may be (maxMemoryAllocationSize, maxStorageBufferRange): the 131 MB F16 output matrix of
 * a TinyLlama-shaped model is two pieces on lavapipe (128 MiB). The KV cache is one buffer per layer for K and one for
 * V. Kernels are created with the tiles the plan chose (shape->kernel_tiles, in vulkan_kernels' order), so each
 * pipeline's shared memory is exactly what the plan reported.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "base/error.h"
#include "cpu/matmul.h"
#include "cpu/ops.h"
#include "gguf/gguf.h"
#include "gguf/types.h"
#include "model/model.h"
#include "vulkan/backend.h"
#include "vulkan/runtime.h"

/* Invocations of every kernel's workgroup: a multiple of every GPU's SIMD width (32 NVIDIA, 32/64 AMD, 32 Apple). */
#define WORKGROUP 64u
/* Tokens a matmul workgroup keeps in registers per pass over a row (its tile candidates: 1, 2, 4, 8). */
static const uint32_t matmul_tiles[] = {1, 2, 4, 8};
/* KV positions an attention workgroup stages per step of its online softmax: 8 … 256; 64 (a page) by default. */
static const uint32_t attention_tiles[] = {8, 16, 32, 64, 128, 256};
#define DEFAULT_ATTENTION_TILE 64u
#define DEFAULT_MATMUL_TILE    8u

/* The weight types with matmul kernels, and each one's kernel. */
static const struct {
    uint32_t type;
    const snug_vk_spirv *spirv;
} matmul_kernels[] = {
    {SNUG_TYPE_F32, &snug_vk_shader_matmul_f32},   {SNUG_TYPE_F16, &snug_vk_shader_matmul_f16},
    {SNUG_TYPE_Q8_0, &snug_vk_shader_matmul_q8_0}, {SNUG_TYPE_Q4_0, &snug_vk_shader_matmul_q4_0},
    {SNUG_TYPE_Q4_K, &snug_vk_shader_matmul_q4_k}, {SNUG_TYPE_Q6_K, &snug_vk_shader_matmul_q6_k},
};
#define N_MATMUL_TYPES (sizeof matmul_kernels / sizeof *matmul_kernels)

static int matmul_index(uint32_t type) {
    for (size_t i = 0; i < N_MATMUL_TYPES; i++)
        if (matmul_kernels[i].type == type) return (int)i;
    return -1;
}

static uint64_t round4(uint64_t bytes) { return (bytes + 3) & ~(uint64_t)3; }

/* A weight matrix on the device: its rows in pieces of at most rows_per_piece rows (as many as the device's buffer
 * limit asks: 2 for a 131 MB matrix on lavapipe's 128 MiB). */
typedef struct device_matrix {
    uint32_t type;
    int64_t n_in, n_out;
    uint64_t row_bytes;
    int64_t rows_per_piece;
    int32_t n_pieces;
    snug_vk_buffer *pieces; /* (n_pieces) */
} device_matrix;

typedef struct device_layer {
    snug_vk_buffer attn_norm, ffn_norm, bq, bk, bv, q_norm, k_norm;
    device_matrix wq, wk, wv, wo, gate, up, down;
    snug_vk_buffer k_cache, v_cache;
} device_layer;

struct snug_backend {
    snug_vk vk;
    snug_vk_stream stream;
    const snug_model *model;
    int32_t n_ctx, n_batch, kv_pages, max_outputs, pages_per_seq;
    uint32_t kv_type;
    uint64_t kv_row_bytes, page_bytes, buffer_limit;
    uint32_t attention_tile, matmul_tile;
    /* Kernels. */
    snug_vk_kernel matmul[N_MATMUL_TYPES]; /* only the model's types are created */
    snug_vk_kernel rmsnorm, rope, swiglu, add, kv_store, attention;
    /* Weights. */
    device_layer *layers;
    device_matrix output;
    snug_vk_buffer output_norm;
    /* Activations and the step's tables. */
    snug_vk_buffer x, xb, xb2, q, k, v, att, hb, hb2; /* (n_batch, …) as the CPU backend's */
    snug_vk_buffer out_x;                             /* (max_outputs, n_embd) rows that asked for logits */
    snug_vk_buffer logits;                            /* (max_outputs, n_vocab) */
    snug_vk_buffer rope_cs;                           /* (n_batch, n_rot / 2, 2) cos, sin */
    snug_vk_buffer token_table;                       /* (n_batch, 2) n_pos, first page-list index */
    snug_vk_buffer page_list;                         /* (n_batch · pages_per_seq) */
    snug_vk_buffer kv_dest;                           /* (n_batch) byte offset of each token's KV row */
    snug_vk_buffer status;                            /* (1) the earliest norm fault of a step (rmsnorm.comp) */
    int64_t *out_tokens;                              /* (max_outputs) the step's token of each logits row (host) */
    /* Device bytes allocated, by plan line. */
    uint64_t weight_bytes_by_type[SNUG_TYPE_ID_LIMIT];
    uint64_t kv_bytes, activation_bytes;
};

/* ---- what the plan counts: buffers and kernels --------------------------------------------------------------------
 */

/* The most bytes one buffer may have on this device: one allocation, bound whole. */
static uint64_t buffer_limit(const snug_backend_shape *s) { return s->device_max_buffer_bytes; }

/* Pieces of a matrix of n_out rows of row_bytes, and the rows each holds. */
static int64_t rows_per_piece(uint64_t row_bytes, int64_t n_out, uint64_t limit) {
    uint64_t rows = limit / row_bytes;
    if (rows == 0) rows = 1; /* a row beyond the limit: create refuses it */
    return rows < (uint64_t)n_out ? (int64_t)rows : n_out;
}

/* Device bytes of a matrix: its pieces, each rounded up to whole 32-bit words (kernels read words). */
static uint64_t matrix_device_bytes(uint64_t row_bytes, int64_t n_out, uint64_t limit) {
    const int64_t per = rows_per_piece(row_bytes, n_out, limit);
    uint64_t bytes = 0;
    for (int64_t r = 0; r < n_out; r += per) bytes += round4((uint64_t)(n_out - r < per ? n_out - r : per) * row_bytes);
    return bytes;
}

/* Whether the tensor stays on the host: the embedding table (read a row a token) unless the output matrix is tied to
 * it, and Llama 3.1's rope_freqs (the host computes the RoPE angles). */
static bool host_only_tensor(const snug_gguf *g, const snug_tensor_info *t) {
    if (strcmp(t->name, "rope_freqs.weight") == 0) return true;
    return strcmp(t->name, "token_embd.weight") == 0 && snug_gguf_find_tensor(g, "output.weight") != NULL;
}

static uint64_t kv_row_bytes_of(const snug_backend_shape *s) {
    uint64_t bytes = 0;
    snug_type_row_bytes(s->kv_type, (uint64_t)s->model->n_head_kv * (uint64_t)s->model->head_dim, &bytes);
    return bytes;
}

enum {
    VK_X,
    VK_XB,
    VK_XB2,
    VK_Q,
    VK_K,
    VK_V,
    VK_ATT,
    VK_HB,
    VK_HB2,
    VK_OUT_X,
    VK_LOGITS,
    VK_ROPE_CS,
    VK_TOKEN_TABLE,
    VK_PAGE_LIST,
    VK_KV_DEST,
    VK_STATUS,
    VK_ACTIVATION_COUNT
};

/* Activation and table bytes, in the order above. */
static void activation_bytes(const snug_backend_shape *s, uint64_t out[VK_ACTIVATION_COUNT]) {
    const snug_model_desc *d = s->model;
    const uint64_t B = (uint64_t)s->n_batch, E = (uint64_t)d->n_embd, F = (uint64_t)d->n_ff, f = sizeof(float);
    const uint64_t q_dim = (uint64_t)d->n_head * (uint64_t)d->head_dim;
    const uint64_t kv_dim = (uint64_t)d->n_head_kv * (uint64_t)d->head_dim;
    const uint64_t pages_per_seq = ((uint64_t)s->n_ctx + SNUG_KV_PAGE_TOKENS - 1) / SNUG_KV_PAGE_TOKENS;
    out[VK_X] = out[VK_XB] = out[VK_XB2] = B * E * f;
    out[VK_Q] = out[VK_ATT] = B * q_dim * f;
    out[VK_K] = out[VK_V] = B * kv_dim * f;
    out[VK_HB] = out[VK_HB2] = B * F * f;
    out[VK_OUT_X] = (uint64_t)s->max_outputs * E * f;
    out[VK_LOGITS] = (uint64_t)s->max_outputs * (uint64_t)d->n_vocab * f;
    out[VK_ROPE_CS] = B * (uint64_t)(d->head_dim / 2 > 0 ? d->head_dim / 2 : 1) * 2 * f;
    out[VK_TOKEN_TABLE] = B * 2 * sizeof(uint32_t);
    out[VK_PAGE_LIST] = B * pages_per_seq * sizeof(uint32_t);
    out[VK_KV_DEST] = B * sizeof(uint32_t);
    out[VK_STATUS] = sizeof(uint32_t);
}

/* "weights_q4_k": the plan line of a weight type. */
static void weights_line(uint32_t type, char *out, size_t cap) {
    char lower[16];
    snug_type_name_lower(type, lower, sizeof lower);
    snprintf(out, cap, "weights_%s", lower);
}

static size_t vulkan_buffers(const snug_backend_shape *s, snug_buffer_need *out, size_t cap) {
    size_t n = 0;
    /* On the host, from the arena (create's host_buffers[0]): the step's token of each logits row. */
    if (n < cap) out[n] = (snug_buffer_need){"output_rows", (uint64_t)s->max_outputs * sizeof(int64_t), false, 0};
    n++;
    /* Weights on the device, by type. */
    uint64_t by_type[SNUG_TYPE_ID_LIMIT] = {0};
    for (uint64_t i = 0; i < snug_gguf_tensor_count(s->gguf); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(s->gguf, i);
        if (host_only_tensor(s->gguf, t) || t->type >= SNUG_TYPE_ID_LIMIT) continue;
        uint64_t row_bytes = 0;
        snug_type_row_bytes(t->type, t->ne[0], &row_bytes);
        const int64_t rows = (int64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        by_type[t->type] += row_bytes ? matrix_device_bytes(row_bytes, rows, buffer_limit(s)) : 0;
    }
    for (uint32_t t = 0; t < SNUG_TYPE_ID_LIMIT; t++) {
        if (!by_type[t]) continue;
        if (n < cap) {
            out[n] = (snug_buffer_need){"", by_type[t], true, 0};
            weights_line(t, out[n].line, sizeof out[n].line);
        }
        n++;
    }
    /* The KV pool: K and V of every layer, one buffer each. */
    const uint64_t layer_bytes = (uint64_t)s->kv_pages * SNUG_KV_PAGE_TOKENS * kv_row_bytes_of(s);
    const uint32_t kv_buffers = 2u * (uint32_t)s->model->n_layer;
    if (n < cap) out[n] = (snug_buffer_need){"kv_cache", layer_bytes * kv_buffers, true, kv_buffers};
    n++;
    uint64_t act[VK_ACTIVATION_COUNT];
    activation_bytes(s, act);
    for (int i = 0; i < VK_ACTIVATION_COUNT; i++) {
        if (n < cap) {
            out[n] = (snug_buffer_need){"activations", act[i], true, 1};
            if (i == VK_LOGITS) snprintf(out[n].line, sizeof out[n].line, "logits_device");
        }
        n++;
    }
    return n;
}

/* Bytes of a KV element as the attention kernel stages it: f16 packed as halves, f32 and q8_0 (decoded) as floats. */
static uint32_t kv_element_bytes(uint32_t kv_type) { return kv_type == SNUG_TYPE_F16 ? 2u : 4u; }

/* Shared memory of each kernel at a tile: the formulas of its shader (shaders.h, docs/kernels.md). */
static size_t vulkan_kernels(const snug_backend_shape *s, snug_kernel_need *out, size_t cap) {
    size_t n = 0;
    const snug_model_desc *d = s->model;
    snug_kernel_need k;
    /* Attention: K and V tiles staged decoded, the scores and the query row. */
    memset(&k, 0, sizeof k);
    snprintf(k.name, sizeof k.name, "attention_%s",
             s->kv_type == SNUG_TYPE_F32    ? "f32"
             : s->kv_type == SNUG_TYPE_Q8_0 ? "q8_0"
                                            : "f16");
    snprintf(k.tile_unit, sizeof k.tile_unit, "KV positions");
    for (size_t t = 0; t < sizeof attention_tiles / sizeof *attention_tiles; t++) {
        k.tiles[k.n_tiles] = attention_tiles[t];
        k.onchip_bytes[k.n_tiles++] =
            snug_vk_attention_shared_bytes(kv_element_bytes(s->kv_type), attention_tiles[t], d->head_dim);
    }
    k.default_tile = DEFAULT_ATTENTION_TILE;
    k.default_onchip_bytes =
        snug_vk_attention_shared_bytes(kv_element_bytes(s->kv_type), DEFAULT_ATTENTION_TILE, d->head_dim);
    if (n < cap) out[n] = k;
    n++;
    /* A matmul per weight type of the model's matrices. */
    bool seen[SNUG_TYPE_ID_LIMIT] = {false};
    uint32_t unsupported = UINT32_MAX;
    for (uint64_t i = 0; i < snug_gguf_tensor_count(s->gguf); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(s->gguf, i);
        if (t->n_dims < 2 || t->type >= SNUG_TYPE_ID_LIMIT || seen[t->type] || host_only_tensor(s->gguf, t)) continue;
        seen[t->type] = true;
        if (matmul_index(t->type) < 0) {
            unsupported = t->type;
            continue;
        }
        memset(&k, 0, sizeof k);
        char lower[16];
        snug_type_name_lower(t->type, lower, sizeof lower);
        snprintf(k.name, sizeof k.name, "matmul_%s", lower);
        snprintf(k.tile_unit, sizeof k.tile_unit, "tokens a pass");
        for (size_t m = 0; m < sizeof matmul_tiles / sizeof *matmul_tiles; m++) {
            k.tiles[k.n_tiles] = matmul_tiles[m];
            k.onchip_bytes[k.n_tiles++] = snug_vk_matmul_shared_bytes(WORKGROUP, matmul_tiles[m]);
        }
        k.default_tile = DEFAULT_MATMUL_TILE;
        k.default_onchip_bytes = snug_vk_matmul_shared_bytes(WORKGROUP, DEFAULT_MATMUL_TILE);
        if (n < cap) out[n] = k;
        n++;
    }
    memset(&k, 0, sizeof k);
    snprintf(k.name, sizeof k.name, "rmsnorm");
    snprintf(k.tile_unit, sizeof k.tile_unit, "invocations");
    k.tiles[0] = k.default_tile = WORKGROUP;
    k.onchip_bytes[0] = k.default_onchip_bytes = snug_vk_rmsnorm_shared_bytes(WORKGROUP);
    k.n_tiles = 1;
    if (n < cap) out[n] = k;
    n++;
    /* What this backend cannot run is listed last, with no tiles (the plan says so; create refuses). */
    const snug_architecture *arch = snug_architecture_find(d->architecture ? d->architecture : "");
    memset(&k, 0, sizeof k);
    if (unsupported != UINT32_MAX) {
        snprintf(k.name, sizeof k.name, "for %s weights", snug_type_name(unsupported));
    } else if (arch && (arch->fused_qkv || arch->fused_gate_up)) {
        snprintf(k.name, sizeof k.name, "for %s's fused tensors", arch->name);
    } else if (s->kv_type == SNUG_TYPE_Q8_0 && d->head_dim % 32 != 0) {
        snprintf(k.name, sizeof k.name, "for q8_0 KV at head size %d", d->head_dim);
    }
    if (k.name[0]) {
        if (n < cap) out[n] = k;
        n++;
    }
    return n;
}

static uint64_t vulkan_device_bytes(const snug_backend *b, const char *line) {
    if (strcmp(line, "kv_cache") == 0) return b->kv_bytes;
    if (strcmp(line, "activations") == 0) return b->activation_bytes - b->logits.bytes;
    if (strcmp(line, "logits_device") == 0) return b->logits.bytes;
    for (uint32_t t = 0; t < SNUG_TYPE_ID_LIMIT; t++) {
        char name[24];
        weights_line(t, name, sizeof name);
        if (b->weight_bytes_by_type[t] && strcmp(line, name) == 0) return b->weight_bytes_by_type[t];
    }
    return 0;
}

/* ---- creating: buffers, weights, kernels --------------------------------------------------------------------------
 */

static snug_status new_buffer(snug_backend *b, uint64_t bytes, snug_vk_buffer *out, snug_error *err) {
    return snug_vk_buffer_create(&b->vk, bytes, out, err);
}

/* A float vector of the model (a norm weight, a bias) on the device. */
static snug_status upload_floats(snug_backend *b, const float *data, int64_t n, snug_vk_buffer *out, snug_error *err) {
    if (!data) return SNUG_OK;
    snug_status st = new_buffer(b, (uint64_t)n * sizeof(float), out, err);
    if (st != SNUG_OK) return st;
    memcpy(out->mapped, data, (size_t)n * sizeof(float));
    b->weight_bytes_by_type[SNUG_TYPE_F32] += out->bytes;
    return SNUG_OK;
}

static snug_status upload_matrix(snug_backend *b, const snug_matrix *w, device_matrix *out, snug_error *err) {
    out->type = w->type;
    out->n_in = w->n_in;
    out->n_out = w->n_out;
    out->row_bytes = w->row_bytes;
    if (w->row_bytes > b->buffer_limit)
        return snug_fail(err, SNUG_E_UNSUPPORTED, "a weight row of %llu bytes is larger than one Vulkan buffer",
                         (unsigned long long)w->row_bytes);
    out->rows_per_piece = rows_per_piece(w->row_bytes, w->n_out, b->buffer_limit);
    out->pieces = calloc((size_t)((w->n_out + out->rows_per_piece - 1) / out->rows_per_piece), sizeof *out->pieces);
    if (!out->pieces) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory for the Vulkan backend");
    for (int64_t r = 0; r < w->n_out; r += out->rows_per_piece) {
        const int64_t rows = w->n_out - r < out->rows_per_piece ? w->n_out - r : out->rows_per_piece;
        const uint64_t bytes = (uint64_t)rows * w->row_bytes;
        snug_vk_buffer *piece = &out->pieces[out->n_pieces];
        snug_status st = new_buffer(b, round4(bytes), piece, err);
        if (st != SNUG_OK) return st;
        out->n_pieces++;
        memcpy(piece->mapped, (const uint8_t *)w->data + (uint64_t)r * w->row_bytes, bytes);
        b->weight_bytes_by_type[w->type] += piece->bytes;
    }
    return SNUG_OK;
}

static void destroy_matrix(snug_backend *b, device_matrix *m) {
    for (int32_t i = 0; i < m->n_pieces; i++) snug_vk_buffer_destroy(&b->vk, &m->pieces[i]);
    free(m->pieces);
}

static snug_status upload_weights(snug_backend *b, snug_error *err) {
    const snug_model *m = b->model;
    const snug_model_desc *d = &m->desc;
    snug_status st = SNUG_OK;
    for (int32_t l = 0; l < d->n_layer && st == SNUG_OK; l++) {
        const snug_layer_weights *w = &m->layers[l];
        device_layer *dl = &b->layers[l];
        const int64_t q_dim = (int64_t)d->n_head * d->head_dim, kv_dim = (int64_t)d->n_head_kv * d->head_dim;
        const struct {
            const float *data;
            int64_t n;
            snug_vk_buffer *out;
        } vectors[] = {{w->attn_norm, d->n_embd, &dl->attn_norm},
                       {w->bq, q_dim, &dl->bq},
                       {w->bk, kv_dim, &dl->bk},
                       {w->bv, kv_dim, &dl->bv},
                       {w->q_norm, d->head_dim, &dl->q_norm},
                       {w->k_norm, d->head_dim, &dl->k_norm},
                       {w->ffn_norm, d->n_embd, &dl->ffn_norm}};
        /* In the order the file usually has them; the order only matters for peak memory, not for the bytes. */
        for (size_t i = 0; i < sizeof vectors / sizeof *vectors && st == SNUG_OK; i++)
            st = upload_floats(b, vectors[i].data, vectors[i].n, vectors[i].out, err);
        const struct {
            const snug_matrix *w;
            device_matrix *out;
        } matrices[] = {{&w->wq, &dl->wq},       {&w->wk, &dl->wk},   {&w->wv, &dl->wv},      {&w->wo, &dl->wo},
                        {&w->w_gate, &dl->gate}, {&w->w_up, &dl->up}, {&w->w_down, &dl->down}};
        for (size_t i = 0; i < sizeof matrices / sizeof *matrices && st == SNUG_OK; i++)
            st = upload_matrix(b, matrices[i].w, matrices[i].out, err);
    }
    if (st == SNUG_OK) st = upload_floats(b, m->output_norm, d->n_embd, &b->output_norm, err);
    if (st == SNUG_OK) st = upload_matrix(b, &m->output, &b->output, err);
    return st;
}

/* Kernel `spirv` over n_buffers bindings with push_bytes of push constants and spec constants. */
static snug_status make_kernel(snug_backend *b, const snug_vk_spirv *spirv, uint32_t n_buffers, uint32_t push_bytes,
                               const uint32_t *spec, uint32_t n_spec, snug_vk_kernel *out, snug_error *err) {
    return snug_vk_kernel_create(&b->vk, spirv->words, spirv->bytes, n_buffers, push_bytes, spec, n_spec, out, err);
}

/* Push constant blocks, as the shaders declare them (src/vulkan/shaders/NAME.comp). */
typedef struct matmul_push {
    uint32_t n_in, n_rows, row_bytes, n_tokens, y_stride, y_offset;
} matmul_push;
typedef struct rmsnorm_push {
    uint32_t n, n_rows;
    float eps;
    uint32_t fault_code, rows_per_token;
} rmsnorm_push;
typedef struct rope_push {
    uint32_t n_heads, head_dim, n_rot, mode, n_tokens, row_stride;
} rope_push;
typedef struct count_push {
    uint32_t count, b_count;
} count_push;
typedef struct kv_store_push {
    uint32_t kv_dim, n_tokens;
} kv_store_push;
typedef struct attention_push {
    uint32_t n_head, n_head_kv, head_dim, n_tokens, kv_row_bytes, page_bytes, page_tokens;
    float scale;
} attention_push;

static snug_status make_kernels(snug_backend *b, const snug_backend_shape *s, snug_error *err) {
    const snug_model_desc *d = &b->model->desc;
    snug_status st = SNUG_OK;
    bool used[N_MATMUL_TYPES] = {false};
    for (int32_t l = 0; l < d->n_layer; l++) {
        const device_layer *dl = &b->layers[l];
        const device_matrix *all[] = {&dl->wq, &dl->wk, &dl->wv, &dl->wo, &dl->gate, &dl->up, &dl->down};
        for (size_t i = 0; i < 7; i++) used[matmul_index(all[i]->type)] = true;
    }
    used[matmul_index(b->output.type)] = true;
    const uint32_t matmul_spec[2] = {WORKGROUP, b->matmul_tile};
    for (size_t i = 0; i < N_MATMUL_TYPES && st == SNUG_OK; i++) {
        if (used[i])
            st = make_kernel(b, matmul_kernels[i].spirv, 3, sizeof(matmul_push), matmul_spec, 2, &b->matmul[i], err);
    }
    const uint32_t wg = WORKGROUP;
    if (st == SNUG_OK) st = make_kernel(b, &snug_vk_shader_rmsnorm, 4, sizeof(rmsnorm_push), &wg, 1, &b->rmsnorm, err);
    if (st == SNUG_OK) st = make_kernel(b, &snug_vk_shader_rope, 2, sizeof(rope_push), &wg, 1, &b->rope, err);
    if (st == SNUG_OK) st = make_kernel(b, &snug_vk_shader_swiglu, 2, sizeof(count_push), &wg, 1, &b->swiglu, err);
    if (st == SNUG_OK) st = make_kernel(b, &snug_vk_shader_add, 2, sizeof(count_push), &wg, 1, &b->add, err);
    const snug_vk_spirv *store = s->kv_type == SNUG_TYPE_F32    ? &snug_vk_shader_kv_store_f32
                                 : s->kv_type == SNUG_TYPE_Q8_0 ? &snug_vk_shader_kv_store_q8_0
                                                                : &snug_vk_shader_kv_store_f16;
    const snug_vk_spirv *attention = s->kv_type == SNUG_TYPE_F32    ? &snug_vk_shader_attention_f32
                                     : s->kv_type == SNUG_TYPE_Q8_0 ? &snug_vk_shader_attention_q8_0
                                                                    : &snug_vk_shader_attention_f16;
    if (st == SNUG_OK) st = make_kernel(b, store, 3, sizeof(kv_store_push), &wg, 1, &b->kv_store, err);
    const uint32_t attention_spec[3] = {WORKGROUP, b->attention_tile, (uint32_t)d->head_dim};
    if (st == SNUG_OK) st = make_kernel(b, attention, 6, sizeof(attention_push), attention_spec, 3, &b->attention, err);
    return st;
}

/* Dispatches of the longest step: what the stream's descriptor pool is sized for. */
static uint32_t dispatches_per_step(const snug_backend *b) {
    uint32_t n = 2 + (uint32_t)b->output.n_pieces; /* the output norm and matmul */
    for (int32_t l = 0; l < b->model->desc.n_layer; l++) {
        const device_layer *dl = &b->layers[l];
        n += 16; /* norms, biases, head norms, RoPEs, KV stores, attention, adds, SwiGLU */
        const device_matrix *all[] = {&dl->wq, &dl->wk, &dl->wv, &dl->wo, &dl->gate, &dl->up, &dl->down};
        for (size_t i = 0; i < 7; i++) n += (uint32_t)all[i]->n_pieces;
    }
    return n;
}

static void vulkan_destroy(snug_backend *b) {
    if (!b) return;
    if (b->vk.device) {
        snug_vk_stream_destroy(&b->vk, &b->stream);
        for (size_t i = 0; i < N_MATMUL_TYPES; i++) snug_vk_kernel_destroy(&b->vk, &b->matmul[i]);
        snug_vk_kernel *kernels[] = {&b->rmsnorm, &b->rope, &b->swiglu, &b->add, &b->kv_store, &b->attention};
        for (size_t i = 0; i < sizeof kernels / sizeof *kernels; i++) snug_vk_kernel_destroy(&b->vk, kernels[i]);
        for (int32_t l = 0; b->layers && l < b->model->desc.n_layer; l++) {
            device_layer *dl = &b->layers[l];
            snug_vk_buffer *vectors[] = {&dl->attn_norm, &dl->ffn_norm, &dl->bq,      &dl->bk,     &dl->bv,
                                         &dl->q_norm,    &dl->k_norm,   &dl->k_cache, &dl->v_cache};
            for (size_t i = 0; i < sizeof vectors / sizeof *vectors; i++) snug_vk_buffer_destroy(&b->vk, vectors[i]);
            device_matrix *all[] = {&dl->wq, &dl->wk, &dl->wv, &dl->wo, &dl->gate, &dl->up, &dl->down};
            for (size_t i = 0; i < 7; i++) destroy_matrix(b, all[i]);
        }
        destroy_matrix(b, &b->output);
        snug_vk_buffer *acts[] = {&b->output_norm, &b->x,           &b->xb,        &b->xb2,     &b->q,     &b->k,
                                  &b->v,           &b->att,         &b->hb,        &b->hb2,     &b->out_x, &b->logits,
                                  &b->rope_cs,     &b->token_table, &b->page_list, &b->kv_dest, &b->status};
        for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) snug_vk_buffer_destroy(&b->vk, acts[i]);
        snug_vk_close(&b->vk);
    }
    free(b->layers);
    free(b);
}

/* The tile the plan chose for the kernel called `prefix…` (vulkan_kernels' order), or `fallback`. */
static uint32_t planned_tile(const snug_backend_shape *s, size_t index, uint32_t fallback) {
    return (int32_t)index < s->n_kernel_tiles && s->kernel_tiles[index] ? s->kernel_tiles[index] : fallback;
}

static snug_status vulkan_create(const snug_backend_shape *s, const snug_model *m, void *const *host_buffers,
                                 snug_backend **out, snug_error *err) {
    *out = NULL;
    snug_kernel_need needs[SNUG_MAX_KERNEL_NEEDS];
    const size_t n_needs = vulkan_kernels(s, needs, SNUG_MAX_KERNEL_NEEDS);
    if (n_needs > 0 && needs[n_needs - 1].n_tiles == 0) {
        snug_fail(err, SNUG_E_UNSUPPORTED, "the Vulkan backend has no kernel %s", needs[n_needs - 1].name);
        snug_hint(err, "--backend cpu runs it");
        return SNUG_E_UNSUPPORTED;
    }
    snug_backend *b = calloc(1, sizeof *b);
    if (!b) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory for the Vulkan backend");
    b->layers = calloc((size_t)m->desc.n_layer, sizeof *b->layers);
    if (!b->layers) {
        free(b);
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory for the Vulkan backend");
    }
    b->model = m;
    b->out_tokens = host_buffers[0]; /* vulkan_buffers' one host buffer; the others are this backend's to allocate */
    b->n_ctx = s->n_ctx;
    b->n_batch = s->n_batch;
    b->kv_pages = s->kv_pages;
    b->max_outputs = s->max_outputs;
    b->pages_per_seq = (s->n_ctx + SNUG_KV_PAGE_TOKENS - 1) / SNUG_KV_PAGE_TOKENS;
    b->kv_type = s->kv_type;
    b->kv_row_bytes = kv_row_bytes_of(s);
    b->page_bytes = SNUG_KV_PAGE_TOKENS * b->kv_row_bytes;
    b->buffer_limit = buffer_limit(s);
    /* vulkan_kernels' order: attention first, then the matmuls (one tile for all: the plan's first matmul's). */
    b->attention_tile = planned_tile(s, 0, DEFAULT_ATTENTION_TILE);
    b->matmul_tile = planned_tile(s, 1, DEFAULT_MATMUL_TILE);
    snug_status st = snug_vk_open(&b->vk, s->device_index, err);
    if (st == SNUG_OK) st = upload_weights(b, err);
    const uint64_t kv_layer_bytes = (uint64_t)s->kv_pages * b->page_bytes;
    for (int32_t l = 0; l < m->desc.n_layer && st == SNUG_OK; l++) {
        if ((st = new_buffer(b, kv_layer_bytes, &b->layers[l].k_cache, err)) == SNUG_OK)
            st = new_buffer(b, kv_layer_bytes, &b->layers[l].v_cache, err);
        if (st == SNUG_OK) b->kv_bytes += 2 * kv_layer_bytes;
    }
    uint64_t act[VK_ACTIVATION_COUNT];
    activation_bytes(s, act);
    snug_vk_buffer *acts[VK_ACTIVATION_COUNT] = {[VK_X] = &b->x,
                                                 [VK_XB] = &b->xb,
                                                 [VK_XB2] = &b->xb2,
                                                 [VK_Q] = &b->q,
                                                 [VK_K] = &b->k,
                                                 [VK_V] = &b->v,
                                                 [VK_ATT] = &b->att,
                                                 [VK_HB] = &b->hb,
                                                 [VK_HB2] = &b->hb2,
                                                 [VK_OUT_X] = &b->out_x,
                                                 [VK_LOGITS] = &b->logits,
                                                 [VK_ROPE_CS] = &b->rope_cs,
                                                 [VK_TOKEN_TABLE] = &b->token_table,
                                                 [VK_PAGE_LIST] = &b->page_list,
                                                 [VK_KV_DEST] = &b->kv_dest,
                                                 [VK_STATUS] = &b->status};
    for (int i = 0; i < VK_ACTIVATION_COUNT && st == SNUG_OK; i++) {
        if ((st = new_buffer(b, act[i], acts[i], err)) == SNUG_OK) b->activation_bytes += act[i];
    }
    if (st == SNUG_OK) st = make_kernels(b, s, err);
    if (st == SNUG_OK) st = snug_vk_stream_create(&b->vk, dispatches_per_step(b), &b->stream, err);
    if (st != SNUG_OK) {
        vulkan_destroy(b);
        return st;
    }
    *out = b;
    return SNUG_OK;
}

/* ---- a step -------------------------------------------------------------------------------------------------------
 */

/* Records Y (rows of n_out per token) = W · X for n tokens, a dispatch per piece of W. */
static snug_status record_matmul(snug_backend *b, const device_matrix *w, const snug_vk_buffer *x,
                                 const snug_vk_buffer *y, int64_t n, snug_error *err) {
    const snug_vk_kernel *kernel = &b->matmul[matmul_index(w->type)];
    for (int32_t p = 0; p < w->n_pieces; p++) {
        const int64_t first = (int64_t)p * w->rows_per_piece;
        const int64_t rows = w->n_out - first < w->rows_per_piece ? w->n_out - first : w->rows_per_piece;
        const matmul_push push = {(uint32_t)w->n_in, (uint32_t)rows,     (uint32_t)w->row_bytes,
                                  (uint32_t)n,       (uint32_t)w->n_out, (uint32_t)first};
        const snug_vk_buffer *bind[] = {&w->pieces[p], x, y};
        snug_status st = snug_vk_dispatch(&b->vk, &b->stream, kernel, bind, &push, (uint64_t)rows, err);
        if (st != SNUG_OK) return st;
    }
    return SNUG_OK;
}

/* The norms of a step, for the fault a norm reports (rmsnorm.comp: a sum of squares beyond f32 would scale its row
 * by 0 — finite, and garbage): stage = layer · NORM_STAGES + kind, the output norm after the last layer. */
enum { NORM_ATTENTION, NORM_FEED_FORWARD, NORM_HEADS, NORM_STAGES };
static const char *const norm_names[NORM_STAGES] = {"attention norm", "feed-forward norm", "Q/K head norm"};
#define NO_NORM_FAULT UINT32_MAX

/* RMSNorm of `rows` rows of n, rows_per_token rows a token (per-head norms: the heads), as norm `stage`. */
static snug_status record_rmsnorm(snug_backend *b, const snug_vk_buffer *x, const snug_vk_buffer *w,
                                  const snug_vk_buffer *out, int64_t n, int64_t rows, int64_t rows_per_token,
                                  uint32_t stage, snug_error *err) {
    const rmsnorm_push push = {(uint32_t)n, (uint32_t)rows, b->model->desc.rms_eps, stage << 16,
                               (uint32_t)rows_per_token};
    const snug_vk_buffer *bind[] = {x, w, out, &b->status};
    return snug_vk_dispatch(&b->vk, &b->stream, &b->rmsnorm, bind, &push, (uint64_t)rows, err);
}

static snug_status record_add(snug_backend *b, const snug_vk_buffer *a, const snug_vk_buffer *v, int64_t count,
                              int64_t b_count, snug_error *err) {
    const count_push push = {(uint32_t)count, (uint32_t)b_count};
    const snug_vk_buffer *bind[] = {a, v};
    return snug_vk_dispatch(&b->vk, &b->stream, &b->add, bind, &push, ((uint64_t)count + WORKGROUP - 1) / WORKGROUP,
                            err);
}

static snug_status record_rope(snug_backend *b, const snug_vk_buffer *data, int32_t n_heads, int64_t n,
                               snug_error *err) {
    const snug_model *m = b->model;
    const rope_push push = {(uint32_t)n_heads,
                            (uint32_t)m->desc.head_dim,
                            (uint32_t)m->rope.n_rot,
                            (uint32_t)m->rope.mode,
                            (uint32_t)n,
                            (uint32_t)(n_heads * m->desc.head_dim)};
    const snug_vk_buffer *bind[] = {data, &b->rope_cs};
    const uint64_t total = (uint64_t)n * (uint64_t)n_heads * (uint64_t)(m->rope.n_rot / 2);
    return snug_vk_dispatch(&b->vk, &b->stream, &b->rope, bind, &push, (total + WORKGROUP - 1) / WORKGROUP, err);
}

/* One layer of the step's n tokens (file comment). */
static snug_status record_layer(snug_backend *b, int32_t l, int64_t n, snug_error *err) {
    const snug_model_desc *d = &b->model->desc;
    const snug_architecture *arch = b->model->architecture;
    const device_layer *w = &b->layers[l];
    const int64_t E = d->n_embd, F = d->n_ff;
    const int64_t q_dim = (int64_t)d->n_head * d->head_dim, kv_dim = (int64_t)d->n_head_kv * d->head_dim;
    const uint32_t stage = (uint32_t)l * NORM_STAGES;
    snug_status st = record_rmsnorm(b, &b->x, &w->attn_norm, &b->xb, E, n, 1, stage + NORM_ATTENTION, err);
    if (st == SNUG_OK) st = record_matmul(b, &w->wq, &b->xb, &b->q, n, err);
    if (st == SNUG_OK) st = record_matmul(b, &w->wk, &b->xb, &b->k, n, err);
    if (st == SNUG_OK) st = record_matmul(b, &w->wv, &b->xb, &b->v, n, err);
    if (st == SNUG_OK && arch->qkv_bias) {
        if ((st = record_add(b, &b->q, &w->bq, n * q_dim, q_dim, err)) == SNUG_OK &&
            (st = record_add(b, &b->k, &w->bk, n * kv_dim, kv_dim, err)) == SNUG_OK)
            st = record_add(b, &b->v, &w->bv, n * kv_dim, kv_dim, err);
    }
    if (st == SNUG_OK && arch->qk_norm) { /* each head on its own, in place */
        if ((st = record_rmsnorm(b, &b->q, &w->q_norm, &b->q, d->head_dim, n * d->n_head, d->n_head, stage + NORM_HEADS,
                                 err)) == SNUG_OK)
            st = record_rmsnorm(b, &b->k, &w->k_norm, &b->k, d->head_dim, n * d->n_head_kv, d->n_head_kv,
                                stage + NORM_HEADS, err);
    }
    if (st == SNUG_OK) st = record_rope(b, &b->q, d->n_head, n, err);
    if (st == SNUG_OK) st = record_rope(b, &b->k, d->n_head_kv, n, err);
    const kv_store_push store = {(uint32_t)kv_dim, (uint32_t)n};
    const snug_vk_buffer *store_k[] = {&b->k, &w->k_cache, &b->kv_dest}, *store_v[] = {&b->v, &w->v_cache, &b->kv_dest};
    /* One invocation per element (f32), pair (f16) or block of 32 (q8_0) of every token's row (kv_store.glsl). */
    const uint64_t store_unit = b->kv_type == SNUG_TYPE_F32 ? 1 : b->kv_type == SNUG_TYPE_F16 ? 2 : 32;
    const uint64_t store_groups = ((uint64_t)n * (uint64_t)kv_dim / store_unit + WORKGROUP - 1) / WORKGROUP;
    if (st == SNUG_OK) st = snug_vk_dispatch(&b->vk, &b->stream, &b->kv_store, store_k, &store, store_groups, err);
    if (st == SNUG_OK) st = snug_vk_dispatch(&b->vk, &b->stream, &b->kv_store, store_v, &store, store_groups, err);
    const attention_push attention = {(uint32_t)d->n_head, (uint32_t)d->n_head_kv,          (uint32_t)d->head_dim,
                                      (uint32_t)n,         (uint32_t)b->kv_row_bytes,       (uint32_t)b->page_bytes,
                                      SNUG_KV_PAGE_TOKENS, 1.0f / sqrtf((float)d->head_dim)};
    const snug_vk_buffer *att[] = {&b->q, &w->k_cache, &w->v_cache, &b->token_table, &b->page_list, &b->att};
    if (st == SNUG_OK)
        st = snug_vk_dispatch(&b->vk, &b->stream, &b->attention, att, &attention, (uint64_t)n * (uint64_t)d->n_head,
                              err);
    if (st == SNUG_OK) st = record_matmul(b, &w->wo, &b->att, &b->xb2, n, err);
    if (st == SNUG_OK) st = record_add(b, &b->x, &b->xb2, n * E, n * E, err);
    if (st == SNUG_OK) st = record_rmsnorm(b, &b->x, &w->ffn_norm, &b->xb, E, n, 1, stage + NORM_FEED_FORWARD, err);
    if (st == SNUG_OK) st = record_matmul(b, &w->gate, &b->xb, &b->hb, n, err);
    if (st == SNUG_OK) st = record_matmul(b, &w->up, &b->xb, &b->hb2, n, err);
    const count_push swiglu = {(uint32_t)(n * F), (uint32_t)(n * F)};
    const snug_vk_buffer *sw[] = {&b->hb, &b->hb2};
    if (st == SNUG_OK)
        st = snug_vk_dispatch(&b->vk, &b->stream, &b->swiglu, sw, &swiglu,
                              ((uint64_t)(n * F) + WORKGROUP - 1) / WORKGROUP, err);
    if (st == SNUG_OK) st = record_matmul(b, &w->down, &b->hb, &b->xb2, n, err);
    if (st == SNUG_OK) st = record_add(b, &b->x, &b->xb2, n * E, n * E, err);
    return st;
}

/* The host's part before a step: embeddings into x, RoPE's cos/sin, each token's KV row and page list. */
static void write_step_inputs(snug_backend *b, const snug_backend_step *step) {
    const snug_model *m = b->model;
    const int64_t E = m->desc.n_embd, half = m->rope.n_rot / 2;
    float *x = b->x.mapped, *cs = b->rope_cs.mapped;
    uint32_t *table = b->token_table.mapped, *pages = b->page_list.mapped, *dest = b->kv_dest.mapped;
    uint32_t listed = 0;
    for (int64_t t = 0; t < step->n_tokens; t++) {
        snug_matrix_row(&m->token_embd, step->tokens[t], x + t * E);
        const int32_t pos = step->positions[t];
        for (int64_t i = 0; i < half; i++)
            snug_rope_angle(&m->rope, pos, (int32_t)i, &cs[(t * half + i) * 2], &cs[(t * half + i) * 2 + 1]);
        const snug_token_view *view = &step->views[t];
        const int64_t n_pages = (view->n_pos + SNUG_KV_PAGE_TOKENS - 1) / SNUG_KV_PAGE_TOKENS;
        table[2 * t] = (uint32_t)view->n_pos;
        table[2 * t + 1] = listed;
        for (int64_t p = 0; p < n_pages; p++) pages[listed++] = (uint32_t)view->pages[p];
        dest[t] = (uint32_t)((uint64_t)view->pages[pos / SNUG_KV_PAGE_TOKENS] * b->page_bytes +
                             (uint64_t)(pos % SNUG_KV_PAGE_TOKENS) * b->kv_row_bytes);
    }
}

/* SNUG_E_NUMERIC for the earliest norm fault of a step (status, from rmsnorm.comp); `tokens` maps the norm's token
 * index to the step's (the output norm runs on the rows that asked for logits), or NULL. */
static snug_status norm_fault(const snug_backend *b, const snug_backend_step *step, uint32_t status,
                              const int64_t *tokens, snug_error *err) {
    const uint32_t stage = status >> 16;
    const int64_t t = tokens ? tokens[status & 0xffffu] : (int64_t)(status & 0xffffu);
    char where[64] = "";
    if (step->several_sequences) snprintf(where, sizeof where, " of sequence %d", step->sequences[t]);
    const char *what = "the sum of squares of its input is beyond f32 (on the Vulkan device)";
    if (stage / NORM_STAGES >= (uint32_t)b->model->desc.n_layer) {
        snug_fail(err, SNUG_E_NUMERIC,
                  "the computation broke down after the last layer, output norm, at position %d%s: %s",
                  step->positions[t], where, what);
    } else {
        snug_fail(err, SNUG_E_NUMERIC, "the computation broke down in layer %u, %s, at position %d%s: %s",
                  stage / NORM_STAGES, norm_names[stage % NORM_STAGES], step->positions[t], where, what);
    }
    snug_hint(err, "the model's weights or activations leave the f32 range; check the file (snug info) or get it "
                   "again");
    return SNUG_E_NUMERIC;
}

static snug_status numeric_fault(const snug_backend_step *step, int64_t t, const char *what, snug_error *err) {
    char where[64] = "";
    if (step->several_sequences) snprintf(where, sizeof where, " of sequence %d", step->sequences[t]);
    snug_fail(err, SNUG_E_NUMERIC, "the computation broke down on the Vulkan device at position %d%s: %s",
              step->positions[t], where, what);
    snug_hint(err, "the model's weights or activations leave the f32 range; check the file (snug info), or compare "
                   "with --backend cpu, which names the layer");
    return SNUG_E_NUMERIC;
}

static bool all_finite(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

static snug_status vulkan_run(snug_backend *b, const snug_backend_step *step, snug_error *err) {
    const snug_model *m = b->model;
    const int64_t n = step->n_tokens, E = m->desc.n_embd, V = m->desc.n_vocab;
    write_step_inputs(b, step);
    uint32_t *status = b->status.mapped;
    *status = NO_NORM_FAULT;
    snug_status st = snug_vk_stream_begin(&b->vk, &b->stream, err);
    for (int32_t l = 0; l < m->desc.n_layer && st == SNUG_OK; l++) st = record_layer(b, l, n, err);
    if (st == SNUG_OK) st = snug_vk_stream_submit(&b->vk, &b->stream, err);
    if (st != SNUG_OK) return st;
    /* Every token's residual stream, before its keys and values are trusted (they are in the pool already; a failed
     * step leaves its positions unaccepted, so the engine never attends to them). */
    if (*status != NO_NORM_FAULT) return norm_fault(b, step, *status, NULL, err);
    const float *x = b->x.mapped;
    for (int64_t t = 0; t < n; t++) {
        if (!all_finite(x + t * E, E))
            return numeric_fault(step, t, "a value of the residual stream is not finite", err);
    }
    /* The rows that asked for logits: the final norm and the output matrix. */
    int64_t n_out = 0, first_row = -1;
    float *out_x = b->out_x.mapped;
    int64_t *out_tokens = b->out_tokens;
    for (int64_t t = 0; t < n; t++) {
        if (step->out_rows[t] < 0) continue;
        if (first_row < 0) first_row = step->out_rows[t];
        memcpy(out_x + n_out * E, x + t * E, (size_t)E * sizeof(float));
        out_tokens[n_out++] = t;
    }
    if (n_out == 0) return SNUG_OK;
    if ((st = snug_vk_stream_begin(&b->vk, &b->stream, err)) == SNUG_OK &&
        (st = record_rmsnorm(b, &b->out_x, &b->output_norm, &b->out_x, E, n_out, 1,
                             (uint32_t)m->desc.n_layer * NORM_STAGES, err)) == SNUG_OK &&
        (st = record_matmul(b, &b->output, &b->out_x, &b->logits, n_out, err)) == SNUG_OK)
        st = snug_vk_stream_submit(&b->vk, &b->stream, err);
    if (st != SNUG_OK) return st;
    if (*status != NO_NORM_FAULT) return norm_fault(b, step, *status, out_tokens, err);
    const float *logits = b->logits.mapped;
    for (int64_t r = 0; r < n_out; r++) {
        if (!all_finite(logits + r * V, V)) return numeric_fault(step, out_tokens[r], "a logit is not finite", err);
    }
    memcpy(step->logits + first_row * V, logits, (size_t)(n_out * V) * sizeof(float));
    return SNUG_OK;
}

/* Copy on write of a shared page: the host writes the device's memory (host-visible) directly; no step runs then. */
static void vulkan_copy_kv(snug_backend *b, int32_t from, int32_t to, int32_t rows) {
    const uint64_t bytes = (uint64_t)rows * b->kv_row_bytes;
    for (int32_t l = 0; l < b->model->desc.n_layer; l++) {
        uint8_t *k = b->layers[l].k_cache.mapped, *v = b->layers[l].v_cache.mapped;
        memcpy(k + (uint64_t)to * b->page_bytes, k + (uint64_t)from * b->page_bytes, bytes);
        memcpy(v + (uint64_t)to * b->page_bytes, v + (uint64_t)from * b->page_bytes, bytes);
    }
}

const snug_backend_ops snug_backend_vulkan = {"vulkan",   vulkan_buffers, vulkan_create,  vulkan_destroy,
                                              vulkan_run, vulkan_copy_kv, vulkan_kernels, vulkan_device_bytes};
