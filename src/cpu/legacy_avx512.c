/* legacy_avx512.c — placeholder until the legacy family's kernels land. */
#include "cpu/kernels.h"
#if defined(__x86_64__)
void snug_register_legacy_avx512(snug_kernel_table t) { (void)t; }
#endif
