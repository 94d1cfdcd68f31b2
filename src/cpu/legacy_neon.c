/* legacy_neon.c — placeholder until the NEON kernels land. */
#include "cpu/kernels.h"
#if defined(__aarch64__)
void snug_register_legacy_neon(snug_kernel_table t) { (void)t; }
#endif
