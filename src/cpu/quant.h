/* quant.h — block formats of the weight types: encode (quantize) and decode (dequantize) rows, scalar reference.
 *
 * Layouts (ggml / GGUF):
 *   Q8_0: 32 elements in 34 bytes: f16 scale d, then 32 int8 q;          x = d · q.      d = max|x| / 127.
 *   Q4_0: 32 elements in 18 bytes: f16 scale d, then 16 bytes of nibbles; byte j holds element j (low nibble) and
 *         element j + 16 (high nibble);                                   x = d · (q − 8). d = (signed max) / −8.
 *   F16 / BF16: one 16-bit value per element; F32 plain.
 * These are the references the fast kernels of a later issue are tested against.
 */
#ifndef SNUG_CPU_QUANT_H
#define SNUG_CPU_QUANT_H

#include <stdbool.h>
#include <stdint.h>

#define SNUG_QK8_0 32
#define SNUG_Q8_0_BLOCK_BYTES 34
#define SNUG_QK4_0 32
#define SNUG_Q4_0_BLOCK_BYTES 18

/* Decodes n elements (n a multiple of the block size) of `type` from src into dst. False for an unsupported type. */
bool snug_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/* Encodes n elements into `type` (F32, F16, BF16, Q8_0, Q4_0). False for an unsupported type. */
bool snug_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

/* The K-quant family (Q2_K … Q6_K, Q8_K) lives in quant_k.c; quant.c hands those types over. */
bool snug_dequantize_row_kquant(uint32_t type, const void *src, float *dst, int64_t n);
bool snug_quantize_row_kquant(uint32_t type, const float *src, void *dst, int64_t n);

#endif
