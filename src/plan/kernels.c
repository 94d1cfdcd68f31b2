/* kernels.c — on-chip memory formulas of the GPU kernels and the choice of the largest tile that fits (kernels.h).
 *
 * Every formula is a sum of named staging buffers, each computed in saturating 64-bit arithmetic, so an absurd shape
 * can only ever make a kernel "not fit", never wrap around into fitting. Invalid inputs cost UINT64_MAX for the same
 * reason: the planner fails closed. docs/kernels.md derives each term.
 */
#include "plan/kernels.h"

#include <stdio.h>
#include <string.h>

#include "gguf/types.h"
#include "snug.h"

/* Bytes of one f32 value: scores, accumulators, softmax statistics and partial sums are always f32. */
#define F32_BYTES 4u

/* Tile candidates, ascending. Attention decode: T KV positions per workgroup. Prefill: Br = Bc = T; T = 4 is there
 * so that fp32 compute with f32 KV at head_dim 256 still fits a 32 KiB device (it needs 33,088 bytes at T = 8).
 * T = 256 is not offered for prefill: its S tile alone is 256 KiB, beyond every device. Matvec: R rows. */
static const uint32_t decode_tiles[] = {8, 16, 32, 64, 128, 256};
static const uint32_t prefill_tiles[] = {4, 8, 16, 32, 64, 128};
static const uint32_t matvec_tiles[] = {1, 2, 4, 8, 16, 32};

/* Defaults: the tiles a kernel written without a planner would hard-code (common flash-decoding / flash-attention /
 * ggml-style matvec choices); the plan reports what they would need so the overflow is visible. */
enum { DEFAULT_DECODE_TILE = 64, DEFAULT_PREFILL_TILE = 32, DEFAULT_MATVEC_TILE = 8 };

/* ---- saturating arithmetic ------------------------------------------------------------------------------------ */

static uint64_t mul_sat(uint64_t a, uint64_t b) {
    if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX;
    return a * b;
}

static uint64_t add_sat(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static uint64_t mul3_sat(uint64_t a, uint64_t b, uint64_t c) { return mul_sat(mul_sat(a, b), c); }

/* ---- element sizes -------------------------------------------------------------------------------------------- */

/* Bytes of one compute element, 0 for an unsupported compute type. */
static uint64_t compute_bytes(uint32_t compute_type) {
    switch (compute_type) {
    case SNUG_TYPE_F32: return 4;
    case SNUG_TYPE_F16: return 2;
    default: return 0;
    }
}

/* Bytes of one head's K (or V) row of head_dim elements as staged on chip, 0 for an unsupported KV type. A Q8_0 row
 * is staged as whole blocks (ceil(head_dim / 32) × 34 bytes): the q8_0 KV cache keeps each head's row block-aligned,
 * so a head never shares a block with its neighbour. */
static uint64_t kv_row_bytes(uint32_t kv_type, uint64_t head_dim) {
    switch (kv_type) {
    case SNUG_TYPE_F16:
    case SNUG_TYPE_F32:
    case SNUG_TYPE_Q8_0: {
        snug_type_traits t = snug_type_traits_of(kv_type);
        uint64_t blocks = (head_dim + t.block_elems - 1) / t.block_elems;
        return mul_sat(blocks, t.block_bytes);
    }
    default: return 0;
    }
}

static bool shape_valid(const snug_kernel_shape *s) {
    return s != NULL && s->head_dim > 0 && s->n_head > 0 && s->n_head_kv > 0 && s->n_head % s->n_head_kv == 0 &&
           compute_bytes(s->compute_type) != 0 && kv_row_bytes(s->kv_type, (uint64_t)s->head_dim) != 0;
}

/* ---- the formulas --------------------------------------------------------------------------------------------- */

/* Flash-decoding: one workgroup per (sequence, KV head) over T KV positions. Threads = max(T, 32), one per KV position
 * for QKᵀ, so n_simd = max(1, T / 32) SIMD groups each leave a partial max and sum per query head for the softmax.
 * The output (G × head_dim) accumulates in registers and leaves as a per-tile partial result, not on chip. */
static uint64_t attention_decode_bytes(const snug_kernel_shape *s, uint64_t t) {
    const uint64_t group = (uint64_t)(s->n_head / s->n_head_kv), head_dim = (uint64_t)s->head_dim;
    const uint64_t n_simd = t / SNUG_SIMD_WIDTH > 0 ? t / SNUG_SIMD_WIDTH : 1;
    uint64_t q_rows = mul3_sat(group, head_dim, compute_bytes(s->compute_type));
    uint64_t kv_tiles = mul3_sat(2, t, kv_row_bytes(s->kv_type, head_dim));
    uint64_t scores = mul3_sat(group, t, F32_BYTES);
    uint64_t reduction = mul3_sat(2 * group, n_simd, F32_BYTES);
    return add_sat(add_sat(q_rows, kv_tiles), add_sat(scores, reduction));
}

/* Flash-attention (Br = Bc = T): a workgroup owns T query rows of one head and walks the keys T columns at a time,
 * staging Q, K, V, the score tile S, the f32 output accumulator O and the running row max and sum on chip. */
static uint64_t attention_prefill_bytes(const snug_kernel_shape *s, uint64_t t) {
    const uint64_t head_dim = (uint64_t)s->head_dim;
    uint64_t q_tile = mul3_sat(t, head_dim, compute_bytes(s->compute_type));
    uint64_t kv_tiles = mul3_sat(2, t, kv_row_bytes(s->kv_type, head_dim));
    uint64_t s_tile = mul3_sat(t, t, F32_BYTES);
    uint64_t o_acc = mul3_sat(t, head_dim, F32_BYTES);
    uint64_t row_stats = mul3_sat(2, t, F32_BYTES);
    return add_sat(add_sat(add_sat(q_tile, kv_tiles), add_sat(s_tile, o_acc)), row_stats);
}

/* Matvec: a workgroup computes R output rows over a chunk of K = 256 input elements. It stages the input chunk
 * (shared by all R rows) and the R rows' weight blocks of that chunk — quantized blocks are 18, 34, 144, 210 bytes,
 * not 16-byte aligned, so they are copied in with aligned vector loads and dequantized from on-chip memory — and
 * keeps one partial sum per (row, SIMD group) for the final reduction. */
static uint64_t matvec_bytes(const snug_kernel_shape *s, uint32_t weight_type, uint64_t r) {
    snug_type_traits w = snug_type_traits_of(weight_type);
    if (w.block_elems == 0 || SNUG_MATVEC_CHUNK_ELEMS % w.block_elems != 0) return UINT64_MAX;
    const uint64_t chunk = SNUG_MATVEC_CHUNK_ELEMS;
    uint64_t input = mul_sat(chunk, compute_bytes(s->compute_type));
    uint64_t weights = mul3_sat(r, chunk / w.block_elems, w.block_bytes);
    uint64_t partials = mul3_sat(r, SNUG_MATVEC_SIMD_GROUPS, F32_BYTES);
    return add_sat(add_sat(input, weights), partials);
}

uint64_t snug_kernel_onchip_bytes(snug_kernel_id id, const snug_kernel_shape *s, uint32_t weight_type, uint32_t tile) {
    if (!shape_valid(s) || tile == 0) return UINT64_MAX;
    switch (id) {
    case SNUG_KERNEL_ATTENTION_DECODE: return attention_decode_bytes(s, tile);
    case SNUG_KERNEL_ATTENTION_PREFILL: return attention_prefill_bytes(s, tile);
    case SNUG_KERNEL_MATVEC: return matvec_bytes(s, weight_type, tile);
    default: return UINT64_MAX;
    }
}

const uint32_t *snug_kernel_tile_candidates(snug_kernel_id id, int *count) {
    const uint32_t *tiles = NULL;
    size_t n = 0;
    switch (id) {
    case SNUG_KERNEL_ATTENTION_DECODE: tiles = decode_tiles, n = sizeof decode_tiles / sizeof *decode_tiles; break;
    case SNUG_KERNEL_ATTENTION_PREFILL: tiles = prefill_tiles, n = sizeof prefill_tiles / sizeof *prefill_tiles; break;
    case SNUG_KERNEL_MATVEC: tiles = matvec_tiles, n = sizeof matvec_tiles / sizeof *matvec_tiles; break;
    default: break;
    }
    if (count) *count = (int)n;
    return tiles;
}

uint32_t snug_kernel_default_tile(snug_kernel_id id) {
    switch (id) {
    case SNUG_KERNEL_ATTENTION_DECODE: return DEFAULT_DECODE_TILE;
    case SNUG_KERNEL_ATTENTION_PREFILL: return DEFAULT_PREFILL_TILE;
    case SNUG_KERNEL_MATVEC: return DEFAULT_MATVEC_TILE;
    default: return 0;
    }
}

uint64_t snug_kernel_limit_bytes(const snug_device *d) {
    if (d == NULL) return 0;
    return d->onchip_optin_bytes != 0 ? d->onchip_optin_bytes : d->onchip_default_bytes;
}

/* ---- planning ------------------------------------------------------------------------------------------------- */

static void format_tile(snug_kernel_id id, uint32_t tile, char *text, size_t cap) {
    switch (id) {
    case SNUG_KERNEL_ATTENTION_DECODE: snprintf(text, cap, "T=%u KV positions", tile); break;
    case SNUG_KERNEL_ATTENTION_PREFILL: snprintf(text, cap, "Br=Bc=%u", tile); break;
    case SNUG_KERNEL_MATVEC: snprintf(text, cap, "R=%u rows, K=%d", tile, SNUG_MATVEC_CHUNK_ELEMS); break;
    default: snprintf(text, cap, "%u", tile); break;
    }
}

/* "matvec_q4_k" from "Q4_K"; an id snug does not know becomes "matvec_type<id>" (and never fits). */
static void matvec_name(uint32_t weight_type, char *name, size_t cap) {
    char lower[16];
    snug_type_name_lower(weight_type, lower, sizeof lower);
    snprintf(name, cap, "matvec_%s", lower);
}

/* The largest candidate tile whose need ≤ limit; when none fits, the smallest, marked as not fitting. */
static snug_kernel_plan plan_one(snug_kernel_id id, const snug_device *d, const snug_kernel_shape *s,
                                 uint32_t weight_type) {
    snug_kernel_plan p;
    memset(&p, 0, sizeof p);
    p.id = id;
    p.weight_type = id == SNUG_KERNEL_MATVEC ? weight_type : 0;
    p.limit_bytes = snug_kernel_limit_bytes(d);
    if (id == SNUG_KERNEL_MATVEC)
        matvec_name(weight_type, p.name, sizeof p.name);
    else
        snprintf(p.name, sizeof p.name, "%s",
                 id == SNUG_KERNEL_ATTENTION_DECODE ? "attention_decode" : "attention_prefill");
    int count = 0;
    const uint32_t *tiles = snug_kernel_tile_candidates(id, &count);
    p.tile = tiles[0];
    p.onchip_bytes = snug_kernel_onchip_bytes(id, s, weight_type, tiles[0]);
    for (int i = count - 1; i >= 0; i--) {
        uint64_t need = snug_kernel_onchip_bytes(id, s, weight_type, tiles[i]);
        if (need <= p.limit_bytes) {
            p.tile = tiles[i], p.onchip_bytes = need, p.fits = true;
            break;
        }
    }
    p.needs_optin = p.fits && p.onchip_bytes > d->onchip_default_bytes;
    p.default_tile = snug_kernel_default_tile(id);
    p.default_onchip_bytes = snug_kernel_onchip_bytes(id, s, weight_type, p.default_tile);
    format_tile(id, p.tile, p.tile_text, sizeof p.tile_text);
    return p;
}

size_t snug_kernels_plan(const snug_device *d, const snug_kernel_shape *s, snug_kernel_plan *out, size_t cap) {
    if (d == NULL || s == NULL || d->kind == SNUG_DEVICE_CPU) return 0;
    size_t n = 0;
    const snug_kernel_id attention[] = {SNUG_KERNEL_ATTENTION_DECODE, SNUG_KERNEL_ATTENTION_PREFILL};
    for (size_t i = 0; i < sizeof attention / sizeof *attention; i++, n++)
        if (n < cap) out[n] = plan_one(attention[i], d, s, 0);
    for (int i = 0; i < s->n_weight_types && s->weight_types != NULL; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = s->weight_types[j] == s->weight_types[i];
        if (seen) continue;
        if (n < cap) out[n] = plan_one(SNUG_KERNEL_MATVEC, d, s, s->weight_types[i]);
        n++;
    }
    return n;
}
