/* matmul.c — batched weight × activation products through the kernel tables (see matmul.h). */
#include "cpu/matmul.h"

#include <omp.h>

#include "cpu/quant.h"

void snug_matrix_row(const snug_matrix *w, int64_t row, float *out) {
    snug_dequantize_row(w->type, (const uint8_t *)w->data + (uint64_t)row * w->row_bytes, out, w->n_in);
}

uint64_t snug_matmul_act_bytes(const snug_matrix *w, int64_t n_tokens) {
    return snug_kernels_act_bytes(w->kernels, n_tokens, w->n_in);
}

/* One token goes through the kernels' decode layout where they have one (kernels.h). */
static bool decode_path(const snug_type_kernels *k, int64_t n_tokens) { return n_tokens == 1 && k->decode.decode_dot; }

/* Encodes the n_tokens activation rows for w's kernels (in parallel when there are several); returns the encoded
 * rows (x itself for float kernels) and their stride. */
static const uint8_t *encode_activations(const snug_matrix *w, const float *x, int64_t n_tokens, void *act_buffer,
                                         int32_t n_threads, uint64_t *act_row) {
    const snug_type_kernels *k = w->kernels;
    const int64_t n_in = w->n_in;
    if (decode_path(k, n_tokens)) {
        k->decode.decode_act(x, act_buffer, n_in);
        *act_row = k->decode.decode_act_bytes(n_in);
        return act_buffer;
    }
    if (k->act_type == SNUG_TYPE_F32) {
        *act_row = (uint64_t)n_in * sizeof(float);
        return (const uint8_t *)x;
    }
    const uint64_t row = snug_act_row_bytes(k->act_type, n_in);
    uint8_t *encoded = act_buffer;
#pragma omp parallel for num_threads(n_threads) schedule(static) if (n_tokens > 1)
    for (int64_t t = 0; t < n_tokens; t++) k->quantize_act(x + t * n_in, encoded + (uint64_t)t * row, n_in);
    *act_row = row;
    return encoded;
}

static int64_t row_blocks(const snug_matrix *w) {
    return (w->n_out + SNUG_MATMUL_ROW_BLOCK - 1) / SNUG_MATMUL_ROW_BLOCK;
}

/* Row block b of w against every token: y (n_tokens, n_out). One thread, fixed arithmetic per output. */
static void compute_block(const snug_matrix *w, const uint8_t *act, uint64_t act_row, int64_t n_tokens, float *y,
                          int64_t b) {
    const snug_type_kernels *k = w->kernels;
    const int64_t n_in = w->n_in, n_out = w->n_out;
    const uint8_t *weights = w->data;
    const bool tiled = k->dot_tile != NULL && n_tokens > 1;
    const int64_t tile_rows = k->tile_rows ? k->tile_rows : SNUG_TILE_MAX;
    const int64_t tile_tokens = k->tile_tokens ? k->tile_tokens : SNUG_TILE_MAX;
    const int64_t r0 = b * SNUG_MATMUL_ROW_BLOCK;
    const int64_t r1 = r0 + SNUG_MATMUL_ROW_BLOCK < n_out ? r0 + SNUG_MATMUL_ROW_BLOCK : n_out;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += SNUG_MATMUL_TOKEN_TILE) {
        const int64_t t1 = t0 + SNUG_MATMUL_TOKEN_TILE < n_tokens ? t0 + SNUG_MATMUL_TOKEN_TILE : n_tokens;
        if (tiled) {
            /* Register tiles of up to tile_rows × tile_tokens; the tokens of a tile stay in L1 while the block's
             * rows pass them (rows inner: measured best for F16, whose activations are 4 bytes an element, and no
             * worse for the quantized types). */
            for (int64_t t = t0; t < t1; t += tile_tokens) {
                int tokens = (int)(t1 - t < tile_tokens ? t1 - t : tile_tokens);
                for (int64_t r = r0; r < r1; r += tile_rows) {
                    int rows = (int)(r1 - r < tile_rows ? r1 - r : tile_rows);
                    k->dot_tile(n_in, &y[t * n_out + r], n_out, weights + (uint64_t)r * w->row_bytes, w->row_bytes,
                                act + (uint64_t)t * act_row, act_row, rows, tokens);
                }
            }
            continue;
        }
        const snug_vec_dot_fn dot = decode_path(k, n_tokens) ? k->decode.decode_dot : k->vec_dot;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = weights + (uint64_t)r * w->row_bytes;
            for (int64_t t = t0; t < t1; t++) dot(n_in, &y[t * n_out + r], row, act + (uint64_t)t * act_row);
        }
    }
}

void snug_matmul(const snug_matrix *w, const float *x, int64_t n_tokens, float *y, void *act_buffer,
                 int32_t n_threads) {
    uint64_t act_row;
    const uint8_t *act = encode_activations(w, x, n_tokens, act_buffer, n_threads, &act_row);
    const int64_t n_blocks = row_blocks(w);
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t b = 0; b < n_blocks; b++) compute_block(w, act, act_row, n_tokens, y, b);
}

void snug_matmul_group(const snug_matrix *const *ws, float *const *ys, int count, const float *x, int64_t n_tokens,
                       void *act_buffer, int32_t n_threads) {
    /* One encoding serves all only when every matrix takes the same input length through the same encoder. */
    bool shared = count <= SNUG_MATMUL_GROUP_MAX;
    for (int m = 1; m < count && shared; m++) {
        const snug_type_kernels *k = ws[m]->kernels, *k0 = ws[0]->kernels;
        shared = ws[m]->n_in == ws[0]->n_in &&
                 (decode_path(k, n_tokens) ? k->decode.decode_act == k0->decode.decode_act
                                           : k->act_type == k0->act_type && k->quantize_act == k0->quantize_act &&
                                                 !decode_path(k0, n_tokens));
    }
    if (!shared) {
        for (int m = 0; m < count; m++) snug_matmul(ws[m], x, n_tokens, ys[m], act_buffer, n_threads);
        return;
    }
    uint64_t act_row;
    const uint8_t *act = encode_activations(ws[0], x, n_tokens, act_buffer, n_threads, &act_row);
    int64_t first_block[SNUG_MATMUL_GROUP_MAX + 1] = {0};
    for (int m = 0; m < count; m++) first_block[m + 1] = first_block[m] + row_blocks(ws[m]);
    const int64_t n_blocks = first_block[count];
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t g = 0; g < n_blocks; g++) {
        int m = 0;
        while (g >= first_block[m + 1]) m++;
        compute_block(ws[m], act, act_row, n_tokens, ys[m], g - first_block[m]);
    }
}
