/* half_row.h — converting rows of f16 to f32 fast (the attention's V rows), with F16C where the CPU has it.
 *
 * Exact: f16 → f32 has no rounding, so every implementation returns the same bits as snug_f16_to_f32.
 */
#ifndef SNUG_CPU_HALF_ROW_H
#define SNUG_CPU_HALF_ROW_H

#include <stdint.h>

#include "cpu/kernels.h"

typedef void (*snug_f16_row_fn)(const uint16_t *src, float *dst, int64_t n);

/* The converter for an ISA (F16C from AVX2 up; the scalar loop otherwise). */
snug_f16_row_fn snug_f16_row_converter(snug_isa isa);

void snug_f16_row_scalar(const uint16_t *src, float *dst, int64_t n);
#if defined(__x86_64__) || defined(_M_X64)
void snug_f16_row_avx2(const uint16_t *src, float *dst, int64_t n);
#endif

#endif
