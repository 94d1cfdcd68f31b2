/* half_row.c — scalar f16 row conversion and the choice of converter (see half_row.h). */
#include "cpu/half_row.h"

#include "cpu/half.h"

void snug_f16_row_scalar(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = snug_f16_to_f32(src[i]);
}

snug_f16_row_fn snug_f16_row_converter(snug_isa isa) {
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == SNUG_ISA_AVX2 || isa == SNUG_ISA_AVX512 || isa == SNUG_ISA_AVX512_VNNI) return snug_f16_row_avx2;
#endif
    (void)isa;
    return snug_f16_row_scalar;
}
