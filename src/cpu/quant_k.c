/* quant_k.c — placeholder until the K-quant block formats land. */
#include "cpu/quant.h"
bool snug_dequantize_row_kquant(uint32_t type, const void *src, float *dst, int64_t n) {
    (void)type, (void)src, (void)dst, (void)n;
    return false;
}
bool snug_quantize_row_kquant(uint32_t type, const float *src, void *dst, int64_t n) {
    (void)type, (void)src, (void)dst, (void)n;
    return false;
}
