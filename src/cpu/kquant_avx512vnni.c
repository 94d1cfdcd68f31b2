/* kquant_avx512vnni.c — placeholder: no VNNI kernels yet (the AVX-512 ones are used). */
#include "cpu/kernels.h"
#if defined(__x86_64__)
void snug_register_kquant_avx512vnni(snug_kernel_table t) { (void)t; }
#endif
