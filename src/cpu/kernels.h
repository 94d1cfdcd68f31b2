/* kernels.h — per weight type, per instruction set: how to encode activations and how to dot them with a weight row.
 *
 * A matrix product over a quantized weight first encodes the activations once into the weight type's `act_type`
 * (Q8_0 for the 32-element block types, Q8_1 for those with a minimum (Q4_1, Q5_1), Q8_K for the K-quants, F32 for
 * the float types), then calls vec_dot for every (weight row, activation row) pair. Integer block types then reduce
 * to integer multiply-adds inside each block, which SIMD does fast; the block's scales are applied in float.
 *
 * Every type has a scalar implementation (the reference, ISA SNUG_ISA_SCALAR); AVX2, AVX-512 and NEON versions
 * override it where written. The table for an ISA is the scalar table with that ISA's (and, for AVX-512, AVX2's)
 * entries laid over it. The best ISA is chosen at run time from cpuid; SNUG_ISA=scalar|avx2|avx512 overrides it
 * (tests and benchmarks use this). Correctness contract, checked in tests/test_kernels_cpu.c:
 *   - per-block integer sums of a SIMD vec_dot equal the scalar ones exactly; the float result agrees within a
 *     stated tolerance (the order of float accumulation differs);
 *   - scalar vec_dot agrees with dequantize(w) · dequantize(quantize_act(x)) within float rounding.
 */
#ifndef SNUG_CPU_KERNELS_H
#define SNUG_CPU_KERNELS_H

#include <stdint.h>

#include "cpu/stream.h"
#include "snug.h"

typedef enum snug_isa {
    SNUG_ISA_SCALAR = 0,
    SNUG_ISA_AVX2 = 1,        /* x86-64: AVX2 + FMA + F16C */
    SNUG_ISA_AVX512 = 2,      /* x86-64: AVX-512 F/BW/VL/DQ on top of AVX2 */
    SNUG_ISA_AVX512_VNNI = 3, /* x86-64: AVX-512 with VNNI (vpdpbusd: int8 dot products in one instruction) */
    SNUG_ISA_NEON = 4,        /* arm64 */
    SNUG_ISA_COUNT
} snug_isa;

/* Every dot kernel streams its weights with snug_stream_ahead (stream.h), whose prefetch hint and distance are
 * chosen per CPU at run time. */
/* Encodes n activations (n a multiple of the act type's block size) into `dst` of act_type. */
typedef void (*snug_quantize_act_fn)(const float *x, void *dst, int64_t n);
/* *s = Σ_i w[i] · a[i] over n elements, w one weight row in its GGUF encoding, a one activation row in act_type. */
typedef void (*snug_vec_dot_fn)(int64_t n, float *s, const void *w, const void *a);

/* A register-blocked tile for prefill: y[t · y_stride + r] = Σ_i w_r[i] · a_t[i] for r < n_rows, t < n_tokens
 * (at most the kernel's tile shape), w_r at w + r · w_stride, a_t at a + t · a_stride. Every loaded weight block
 * meets every token of the tile, and every activation block every row, while in registers: prefill becomes bound by
 * arithmetic, not loads. Results must equal vec_dot's within the same tolerance, and an output's value must not
 * depend on which other rows and tokens share its tile. Optional (NULL: vec_dot is used).
 * The shape is SNUG_TILE_MAX × SNUG_TILE_MAX unless the kernel declares a larger one in tile_rows / tile_tokens (at
 * most SNUG_TILE_WIDE_MAX each): with 16 rows an int32 lane can hold a whole output row, where 4 rows leave each row
 * 4 lanes of partial sums and every block's scaling costs 4 times the instructions (legacy_avx512vnni.c). */
#define SNUG_TILE_MAX      4
#define SNUG_TILE_WIDE_MAX 16
typedef void (*snug_dot_tile_fn)(int64_t n, float *y, int64_t y_stride, const void *w, uint64_t w_stride, const void *a,
                                 uint64_t a_stride, int n_rows, int n_tokens);

/* Bytes of n activations in a decode layout (below). */
typedef uint64_t (*snug_act_bytes_fn)(int64_t n);

/* The decode path: one token meets every weight row once, so the activation row is read as many times as there are
 * rows and is worth laying out for the kernel rather than as GGUF blocks (e.g. legacy_avx512vnni.c: Q4_0 with the
 * activations in 4-block chunks, halves grouped so that one 512-bit load feeds 4 blocks, scales pre-widened).
 * Optional: when decode_dot is NULL, one token goes through quantize_act and vec_dot like a batch. decode_act must
 * encode its quants exactly as quantize_act does (same rounding), so decode_dot agrees with vec_dot within the
 * vec_dot tolerance (tests/test_kernels_cpu.c). */
typedef struct snug_decode_kernels {
    snug_quantize_act_fn decode_act; /* x → the layout, decode_act_bytes(n) bytes */
    snug_vec_dot_fn decode_dot;      /* *s = Σ w[i] · a[i], a in the layout */
    snug_act_bytes_fn decode_act_bytes;
} snug_decode_kernels;

typedef struct snug_type_kernels {
    uint32_t act_type; /* SNUG_TYPE_F32, SNUG_TYPE_Q8_0, SNUG_TYPE_Q8_1 or SNUG_TYPE_Q8_K */
    snug_quantize_act_fn quantize_act;
    snug_vec_dot_fn vec_dot;
    snug_dot_tile_fn dot_tile;      /* optional */
    uint8_t tile_rows, tile_tokens; /* dot_tile's largest tile; 0: SNUG_TILE_MAX */
    /* The fewest tokens dot_tile is used for (0: 2). Fewer go token by token, through the decode layout where there
     * is one, else vec_dot, every weight row read from memory once and met by each token while it is in L1: a tile
     * unpacks its weights once per block for all its tokens, which a handful of tokens does not pay for. Set where
     * measured (Zen 4, 2 threads, TinyLlama shapes, snug bench --parallel 2 … 4): Q4_0 and Q8_0 4, Q4_K 5. */
    uint8_t tile_min_tokens;
    snug_decode_kernels decode; /* optional: a few tokens' own layout (fewer than tile_min_tokens) */
} snug_type_kernels;

/* One table per ISA, indexed by weight type id; an entry with vec_dot == NULL is unsupported. */
typedef snug_type_kernels snug_kernel_table[SNUG_TYPE_ID_LIMIT];

/* Each family of types fills in its entries for one ISA (files *_scalar.c, *_avx2.c, *_avx512.c, *_neon.c). */
void snug_register_float_scalar(snug_kernel_table t);  /* F32, F16, BF16 */
void snug_register_legacy_scalar(snug_kernel_table t); /* Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 */
void snug_register_kquant_scalar(snug_kernel_table t); /* Q2_K, Q3_K, Q4_K, Q5_K, Q6_K */
#if defined(__x86_64__) || defined(_M_X64)
void snug_register_float_avx2(snug_kernel_table t);
void snug_register_legacy_avx2(snug_kernel_table t);
void snug_register_kquant_avx2(snug_kernel_table t);
void snug_register_float_avx512(snug_kernel_table t);
void snug_register_legacy_avx512(snug_kernel_table t);
void snug_register_kquant_avx512(snug_kernel_table t);
void snug_register_legacy_avx512vnni(snug_kernel_table t);
void snug_register_kquant_avx512vnni(snug_kernel_table t);
#endif
#if defined(__aarch64__)
void snug_register_legacy_neon(snug_kernel_table t);
#endif

/* The best ISA this CPU supports (cpuid), lowered by the SNUG_ISA environment variable if set. */
snug_isa snug_isa_active(void);
snug_isa snug_isa_best_supported(void);
const char *snug_isa_name(snug_isa isa);

/* The kernels of a weight type on an ISA (the scalar ones where that ISA has none). NULL: type unsupported, or the
 * ISA is not supported by this CPU / this build. */
const snug_type_kernels *snug_kernels_for(uint32_t weight_type, snug_isa isa);

/* The kernels the engine runs for a weight type: those of snug_isa_active(), with the decode layout chosen per
 * microarchitecture where measurements say another ISA's layout is faster (dispatch.c's table: on AMD Zen 4 the AVX2
 * Q4_0 layout replaces the VNNI one). The model, the plan and the context all take their kernels from here, so the
 * plan sizes the layout that runs; tests reach every ISA's own kernels through snug_kernels_for. NULL as there. */
const snug_type_kernels *snug_kernels_in_use(uint32_t weight_type);

/* Whether n_tokens go through dot_tile (else token by token: tile_min_tokens). */
static inline bool snug_kernels_tiled(const snug_type_kernels *k, int64_t n_tokens) {
    const int64_t min = k->tile_min_tokens > 2 ? k->tile_min_tokens : 2;
    return k->dot_tile != NULL && n_tokens >= min;
}
/* Whether n_tokens go through the decode layout: one token, or too few for a tile, where the kernels have one. */
static inline bool snug_kernels_decode(const snug_type_kernels *k, int64_t n_tokens) {
    return k->decode.decode_dot != NULL && (n_tokens == 1 || (k->dot_tile != NULL && !snug_kernels_tiled(k, n_tokens)));
}

/* Bytes of n activations encoded as act_type. */
uint64_t snug_act_row_bytes(uint32_t act_type, int64_t n);

/* Bytes the kernels' activation encoding of n_tokens rows of n elements takes (the decode layout for the tokens
 * snug_kernels_decode sends there; 0 for float kernels, which read the activations as they are). */
uint64_t snug_kernels_act_bytes(const snug_type_kernels *k, int64_t n_tokens, int64_t n);

/* The largest per-token encoding of a row of n, batch or decode: what a plan reserves per batch row. */
uint64_t snug_kernels_act_row_bytes_max(const snug_type_kernels *k, int64_t n);

#endif
