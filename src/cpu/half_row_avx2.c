/* half_row_avx2.c — f16 rows to f32 with F16C (vcvtph2ps), 8 values an instruction (see half_row.h). */
#include "cpu/half_row.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "cpu/half.h"

void snug_f16_row_avx2(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++) dst[i] = snug_f16_to_f32(src[i]);
}
#endif
