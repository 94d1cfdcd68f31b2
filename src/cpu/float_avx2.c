/* float_avx2.c — placeholder until the float family's kernels land. */
#include "cpu/kernels.h"
#if defined(__x86_64__)
void snug_register_float_avx2(snug_kernel_table t) { (void)t; }
#endif
