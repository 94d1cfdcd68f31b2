/* legacy_scalar.c — placeholder until the legacy family's kernels land. */
#include "cpu/kernels.h"
void snug_register_legacy_scalar(snug_kernel_table t) { (void)t; }
