/* download_types.c — a model's bytes as a Q8_0, Q4_K_M or Q4_0 file, from its tensor shapes (download_types.h).
 *
 * Each matrix is re-encoded at the block geometry of the type such a file gives it (gguf/types.h: 34 bytes per 32
 * weights for Q8_0, 18 per 32 for Q4_0, 144 / 210 per 256 for Q4_K / Q6_K); vectors (norms, biases) stay as they
 * are. The types per tensor follow llama.cpp's quantize, as its behaviour is documented and observed (not its code):
 * - the output matrix (output.weight, or token_embd.weight when the output is tied to it) is Q6_K in Q4_K_M and Q4_0
 *   files, Q8_0 in Q8_0 files;
 * - Q4_K_M is Q4_K, with Q6_K for attn_v and ffn_down in the layers where more bits help most (the first and last
 *   eighth of the layers and every third one between) and Q5_K for a fused attn_qkv;
 * - a K-quant needs rows of whole 256-element super-blocks; other rows fall back to a 32-element type of a similar
 *   size (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0), and a row that fits neither keeps its current bytes.
 * Nothing here allocates.
 */
#include "plan/download_types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/types.h"

/* general.file_type values of these file types (llama.cpp's llama_ftype enumeration, written by its converters and
 * quantize). */
enum { FILE_TYPE_Q4_0 = 2, FILE_TYPE_Q8_0 = 7, FILE_TYPE_Q4_K_M = 15 };

static const struct {
    const char *name;
    uint32_t main_type;
    int64_t file_type;
    uint32_t family[5]; /* every matrix type such a file holds; 0-terminated (F32 is never one of them) */
} download_types[SNUG_DOWNLOAD_TYPE_COUNT] = {
    [SNUG_DOWNLOAD_Q8_0] = {"Q8_0", SNUG_TYPE_Q8_0, FILE_TYPE_Q8_0, {SNUG_TYPE_Q8_0}},
    [SNUG_DOWNLOAD_Q4_K_M] = {"Q4_K_M",
                              SNUG_TYPE_Q4_K,
                              FILE_TYPE_Q4_K_M,
                              {SNUG_TYPE_Q4_K, SNUG_TYPE_Q5_K, SNUG_TYPE_Q6_K, SNUG_TYPE_Q5_0, SNUG_TYPE_Q8_0}},
    [SNUG_DOWNLOAD_Q4_0] = {"Q4_0", SNUG_TYPE_Q4_0, FILE_TYPE_Q4_0, {SNUG_TYPE_Q4_0, SNUG_TYPE_Q6_K, SNUG_TYPE_Q8_0}},
};

const char *snug_download_type_name(snug_download_type type) { return download_types[type].name; }

/* "blk.N.<suffix>" → N, when the name has that suffix; -1 otherwise. */
static int64_t layer_of(const char *name, const char *suffix) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    char *end;
    long layer = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || strcmp(end + 1, suffix) != 0) return -1;
    return layer;
}

/* Tensors named blk.N.<suffix>. */
static int64_t count_layers_with(const snug_gguf *g, const char *suffix) {
    int64_t n = 0;
    for (uint64_t i = 0; i < snug_gguf_tensor_count(g); i++) n += layer_of(snug_gguf_tensor(g, i)->name, suffix) >= 0;
    return n;
}

/* The layers of n where Q4_K_M spends more bits: the first and last eighth, and every third layer between. */
static bool more_bits_layer(int64_t layer, int64_t n) {
    return layer < n / 8 || layer >= 7 * n / 8 || (layer - n / 8) % 3 == 2;
}

/* The type a matrix gets in a file of `type`. */
static uint32_t matrix_type(const snug_gguf *g, const snug_tensor_info *t, snug_download_type type) {
    const bool tied = snug_gguf_find_tensor(g, "output.weight") == NULL;
    const bool is_output = strcmp(t->name, "output.weight") == 0 || (tied && strcmp(t->name, "token_embd.weight") == 0);
    if (type == SNUG_DOWNLOAD_Q8_0) return SNUG_TYPE_Q8_0;
    if (is_output) return SNUG_TYPE_Q6_K;
    if (type == SNUG_DOWNLOAD_Q4_0) return SNUG_TYPE_Q4_0;
    int64_t layer;
    if ((layer = layer_of(t->name, "attn_v.weight")) >= 0 &&
        more_bits_layer(layer, count_layers_with(g, "attn_v.weight")))
        return SNUG_TYPE_Q6_K;
    if ((layer = layer_of(t->name, "ffn_down.weight")) >= 0 &&
        more_bits_layer(layer, count_layers_with(g, "ffn_down.weight")))
        return SNUG_TYPE_Q6_K;
    if (layer_of(t->name, "attn_qkv.weight") >= 0) return SNUG_TYPE_Q5_K;
    return SNUG_TYPE_Q4_K;
}

/* A K-quant's 32-element fallback for rows that are not whole super-blocks. */
static uint32_t fallback_type(uint32_t type) {
    switch (type) {
    case SNUG_TYPE_Q4_K: return SNUG_TYPE_Q5_0;
    case SNUG_TYPE_Q5_K: return SNUG_TYPE_Q5_1;
    case SNUG_TYPE_Q6_K: return SNUG_TYPE_Q8_0;
    default: return type;
    }
}

uint64_t snug_download_type_bytes(const snug_gguf *g, snug_download_type type) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < snug_gguf_tensor_count(g); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(g, i);
        const uint64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
        uint64_t row_bytes;
        if (t->n_dims < 2) {
            total += t->bytes;
            continue;
        }
        uint32_t to = matrix_type(g, t, type);
        if (snug_type_row_bytes(to, t->ne[0], &row_bytes) ||
            snug_type_row_bytes(fallback_type(to), t->ne[0], &row_bytes)) {
            total += row_bytes * rows;
        } else {
            total += t->bytes;
        }
    }
    return total;
}

bool snug_download_type_is_file(const snug_gguf *g, snug_download_type type) {
    int64_t key = snug_gguf_find_key(g, "general.file_type"), file_type;
    if (key >= 0 && snug_gguf_kv_get_i64(g, (uint64_t)key, &file_type) && file_type == download_types[type].file_type)
        return true;
    bool has_main = false;
    for (uint64_t i = 0; i < snug_gguf_tensor_count(g); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(g, i);
        if (t->n_dims < 2) continue;
        bool in_family = false;
        for (int k = 0; k < 5 && download_types[type].family[k]; k++)
            in_family |= t->type == download_types[type].family[k];
        if (!in_family) return false;
        has_main |= t->type == download_types[type].main_type;
    }
    return has_main;
}
