/* kquant_scalar.c — placeholder until the kquant family's kernels land. */
#include "cpu/kernels.h"
void snug_register_kquant_scalar(snug_kernel_table t) { (void)t; }
