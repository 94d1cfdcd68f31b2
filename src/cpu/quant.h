/* quant.h — block formats of the weight types: encode (quantize) and decode (dequantize) rows, scalar reference.
 *
 * Layouts (ggml / GGUF; every multi-byte field little-endian, blocks packed with no padding):
 *   Q8_0: 32 elements in 34 bytes: f16 scale d, then 32 int8 q;          x = d · q.      d = max|x| / 127.
 *   Q8_1: 32 elements in 36 bytes: f16 d, f16 s = d · Σq, then 32 int8 q; x = d · q.      d = max|x| / 127.
 *         (only an activation encoding: s lets Q4_1 / Q5_1 apply their minimum m as m · s once per block)
 *   Q4_0: 32 elements in 18 bytes: f16 scale d, then 16 bytes of nibbles; byte j holds element j (low nibble) and
 *         element j + 16 (high nibble);                                   x = d · (q − 8). d = (signed max) / −8.
 *   Q4_1: 32 elements in 20 bytes: f16 d, f16 m, then 16 bytes of nibbles as in Q4_0;
 *                                                                         x = d · q + m.  d = (max − min) / 15, m =
 * min. Q5_0: 32 elements in 22 bytes: f16 d, u32 qh, then 16 bytes of nibbles as in Q4_0; bit j of qh is the fifth
 *         (value 16) bit of element j;                                    x = d · (q − 16). d = (signed max) / −16.
 *   Q5_1: 32 elements in 24 bytes: f16 d, f16 m, u32 qh, 16 bytes of nibbles (as Q5_0);
 *                                                                         x = d · q + m.  d = (max − min) / 31, m =
 * min. F16 / BF16: one 16-bit value per element; F32 plain.
 *
 * Rounding of the 8-bit encoders (Q8_0, Q8_1): q = round-half-away-from-zero(x · (1 / d)) computed in f32, d the
 * f32 value max|x| / 127 (the f16 rounding of d happens only when it is stored). The SIMD activation encoders in
 * legacy_*.c reproduce exactly these operations, so their output is bit-identical to these functions.
 * These are the references the fast kernels are tested against (tests/test_quant.c, tests/test_kernels_cpu.c).
 */
#ifndef SNUG_CPU_QUANT_H
#define SNUG_CPU_QUANT_H

#include <stdbool.h>
#include <stdint.h>

/* Block sizes and byte counts from ggml's block structs (ggml-common.h); gguf/types.c holds the same table. */
#define SNUG_QK8_0            32
#define SNUG_Q8_0_BLOCK_BYTES 34
#define SNUG_QK8_1            32
#define SNUG_Q8_1_BLOCK_BYTES 36
#define SNUG_QK4_0            32
#define SNUG_Q4_0_BLOCK_BYTES 18
#define SNUG_QK4_1            32
#define SNUG_Q4_1_BLOCK_BYTES 20
#define SNUG_QK5_0            32
#define SNUG_Q5_0_BLOCK_BYTES 22
#define SNUG_QK5_1            32
#define SNUG_Q5_1_BLOCK_BYTES 24

/* Decodes n elements (n a multiple of the block size) of `type` from src into dst. False for an unsupported type. */
bool snug_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/* Encodes n elements into `type` (F32, F16, BF16, Q8_0, Q8_1, Q4_0, Q4_1, Q5_0, Q5_1). False for an unsupported
 * type. */
bool snug_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

/* The 8-bit encoders on their own (n a multiple of 32): the scalar activation encoders of the legacy kernels. */
void snug_quantize_row_q8_0(const float *src, void *dst, int64_t n);
void snug_quantize_row_q8_1(const float *src, void *dst, int64_t n);

/* The K-quant family (Q2_K … Q6_K, Q8_K) lives in quant_k.c; quant.c hands those types over. */
bool snug_dequantize_row_kquant(uint32_t type, const void *src, float *dst, int64_t n);
bool snug_quantize_row_kquant(uint32_t type, const float *src, void *dst, int64_t n);

#endif
