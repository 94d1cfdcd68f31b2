/* kernels.h — the on-chip (shared / threadgroup) memory of every GPU kernel, as a formula of its tile, and the largest
 * tile that fits a device.
 *
 * Why: a runtime shipped an fp32 decode kernel that needed 41,216 bytes of threadgroup memory on Apple GPUs whose
 * limit is 32,768, and nothing checked before dispatch (DESIGN.md, "Why" 1). snug's contract (item 5) is that every
 * kernel fits its device: the planner calls snug_kernels_plan, records one snug_kernel_plan per kernel in the plan,
 * refuses the plan naming the kernel when even its smallest tile does not fit, and the GPU backend (CUDA / Metal)
 * launches exactly the recorded tile with exactly onchip_bytes of shared memory (opting in on CUDA when
 * needs_optin is set).
 *
 * Invariant kept here: for every planned kernel that fits, onchip_bytes(tile) ≤ limit and the next larger candidate
 * tile (if any) needs more than the limit. The formulas (docs/kernels.md has the derivations):
 *
 *   G      = n_head / n_head_kv                       query heads sharing one KV head
 *   c      = compute bytes: 4 (F32) or 2 (F16)         activations / query rows staged on chip
 *   kv_row = bytes of one head's K (or V) row: head_dim × 2 (F16), head_dim × 4 (F32),
 *            ceil(head_dim / 32) × 34 (Q8_0: whole blocks of 32 elements, 2-byte scale + 32 int8)
 *
 *   attention_decode  (T KV positions; one workgroup per (sequence, KV head); n_simd = max(1, T / 32))
 *       G·head_dim·c  +  2·T·kv_row  +  G·T·4  +  2·G·n_simd·4
 *       query rows       K, V tiles     scores    per-SIMD-group partial max and sum
 *   attention_prefill (Br = Bc = T; one workgroup per (sequence, query head, T query rows))
 *       T·head_dim·c  +  2·T·kv_row  +  T·T·4  +  T·head_dim·4  +  2·T·4
 *       Q tile           K, V tiles     S tile    O accumulator    row max and row sum
 *   matvec_<type>     (R rows over a chunk of K = 256 input elements; 4 SIMD groups of 32 lanes)
 *       K·c  +  R·(K / block_elems)·block_bytes  +  R·4·4
 *       input    the R rows' weight blocks          per-(row, SIMD group) partial sums
 *
 * Who calls it: the planner (plan.c) and the plan report; the future CUDA / Metal backends read the tiles back from
 * the plan. Nothing here allocates, prints or knows about GGUF files beyond the type ids.
 */
#ifndef SNUG_PLAN_KERNELS_H
#define SNUG_PLAN_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan/device.h"

typedef enum snug_kernel_id {
    SNUG_KERNEL_ATTENTION_DECODE = 0,  /* "attention_decode": flash-decoding over a tile of T KV positions */
    SNUG_KERNEL_ATTENTION_PREFILL = 1, /* "attention_prefill": flash-attention, Br = Bc = T */
    SNUG_KERNEL_MATVEC = 2,            /* "matvec_<type>": R weight rows × a K-chunk of the input, per weight type */
    SNUG_KERNEL_ID_COUNT
} snug_kernel_id;

enum {
    SNUG_KERNEL_NAME_BYTES = 32,
    SNUG_KERNEL_TILE_TEXT_BYTES = 48,
    /* Matvec input chunk in elements: one K-quant super-block (256) = 8 blocks of the 32-element types, so every
     * weight type's chunk is a whole number of blocks. */
    SNUG_MATVEC_CHUNK_ELEMS = 256,
    /* SIMD groups per matvec workgroup (128 threads of 32 lanes: a Metal SIMD group / a CUDA warp). */
    SNUG_MATVEC_SIMD_GROUPS = 4,
    /* Lanes in a SIMD group (Apple GPUs and NVIDIA both execute 32). */
    SNUG_SIMD_WIDTH = 32,
};

/* What the kernels' sizes depend on. */
typedef struct snug_kernel_shape {
    int32_t head_dim;             /* elements per attention head */
    int32_t n_head;               /* query heads */
    int32_t n_head_kv;            /* key/value heads (n_head is a multiple of it; equal without GQA) */
    uint32_t kv_type;             /* KV cache element type: SNUG_TYPE_F16, SNUG_TYPE_Q8_0 or SNUG_TYPE_F32 */
    uint32_t compute_type;        /* activations and query rows staged on chip: SNUG_TYPE_F32 or SNUG_TYPE_F16 */
    const uint32_t *weight_types; /* the model's weight types (repeats allowed; one matvec kernel per distinct) */
    int n_weight_types;
} snug_kernel_shape;

/* One kernel's verdict: the tile it launches with and what that tile needs on chip. */
typedef struct snug_kernel_plan {
    char name[SNUG_KERNEL_NAME_BYTES]; /* "attention_decode", "attention_prefill", "matvec_q4_k", … */
    snug_kernel_id id;
    uint32_t weight_type;                        /* matvec: its weight type; attention: unused (0) */
    uint64_t onchip_bytes;                       /* at `tile`; when !fits: the smallest tile's need */
    uint64_t limit_bytes;                        /* the device's limit (opt-in limit where there is one) */
    uint32_t tile;                               /* chosen T (attention) or R (matvec); when !fits: the smallest */
    char tile_text[SNUG_KERNEL_TILE_TEXT_BYTES]; /* "T=32 KV positions", "Br=Bc=16", "R=8 rows, K=256" */
    bool fits;                                   /* false: the planner refuses the plan, naming this kernel */
    bool needs_optin;                            /* onchip_bytes > the device's default: the CUDA backend must opt in */
    uint32_t default_tile;                       /* what a kernel would use without planning (T=64, T=32, R=8) */
    uint64_t default_onchip_bytes; /* and what that tile needs: the number a naive dispatch would overflow */
} snug_kernel_plan;

/* On-chip bytes of kernel `id` at `tile` (T or R) for shape `s`; `weight_type` is used by SNUG_KERNEL_MATVEC only.
 * Returns UINT64_MAX (never fits) for an invalid input: non-positive sizes, n_head not a multiple of n_head_kv, an
 * unsupported KV or compute type, an unknown weight type, tile 0. Saturates instead of overflowing. */
uint64_t snug_kernel_onchip_bytes(snug_kernel_id id, const snug_kernel_shape *s, uint32_t weight_type, uint32_t tile);

/* The candidate tiles of kernel `id`, ascending powers of two; *count receives how many. NULL for an unknown id. */
const uint32_t *snug_kernel_tile_candidates(snug_kernel_id id, int *count);

/* The tile a kernel would launch with if nothing planned it (decode T = 64, prefill T = 32, matvec R = 8). */
uint32_t snug_kernel_default_tile(snug_kernel_id id);

/* The on-chip limit a kernel may be planned against: onchip_optin_bytes (CUDA lets a kernel opt in; on Metal it
 * equals the default), or onchip_default_bytes when a device leaves the opt-in limit 0. */
uint64_t snug_kernel_limit_bytes(const snug_device *d);

/* Plans every GPU kernel of a model on device `d`: attention_decode, attention_prefill, then one matvec_<type> per
 * distinct weight type in order of first appearance. Writes min(count, cap) entries to `out` and returns the count
 * (call with cap 0 to size the array: at most 2 + n_weight_types). Each kernel gets the largest candidate tile whose
 * on-chip bytes ≤ the limit; when even the smallest does not fit, fits = false with the smallest tile's need.
 * A CPU device (kind SNUG_DEVICE_CPU) has no GPU kernels: returns 0. NULL d or s: returns 0. */
size_t snug_kernels_plan(const snug_device *d, const snug_kernel_shape *s, snug_kernel_plan *out, size_t cap);

#endif
