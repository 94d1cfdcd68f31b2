/* hw.h — the host's CPU as the planner and the kernels see it: SIMD features, name, topology.
 *
 * cpu_features.c asks the CPU itself (cpuid + xgetbv on x86-64, getauxval(AT_HWCAP) on arm64), so a feature is
 * reported only when both the CPU and the operating system support it (AVX needs the OS to save the YMM registers).
 * hw.c fills the public snug_hw_report: topology and caches from hwloc, falling back to sysconf when hwloc cannot
 * load a topology (the report names the fallback and why), memory from memory.c.
 */
#ifndef SNUG_PLAN_HW_H
#define SNUG_PLAN_HW_H

#include <stddef.h>
#include <stdint.h>

#include "snug.h"

/* One bit per feature; the order is the order of the report string. */
typedef enum snug_cpu_feature {
    SNUG_CPU_SSE2 = 1u << 0,
    SNUG_CPU_SSE3 = 1u << 1,
    SNUG_CPU_SSSE3 = 1u << 2,
    SNUG_CPU_SSE41 = 1u << 3,
    SNUG_CPU_SSE42 = 1u << 4,
    SNUG_CPU_AVX = 1u << 5,
    SNUG_CPU_AVX2 = 1u << 6,
    SNUG_CPU_FMA = 1u << 7,
    SNUG_CPU_F16C = 1u << 8,
    SNUG_CPU_AVXVNNI = 1u << 9,
    SNUG_CPU_AVX512F = 1u << 10,
    SNUG_CPU_AVX512DQ = 1u << 11,
    SNUG_CPU_AVX512CD = 1u << 12,
    SNUG_CPU_AVX512BW = 1u << 13,
    SNUG_CPU_AVX512VL = 1u << 14,
    SNUG_CPU_AVX512VNNI = 1u << 15,
    SNUG_CPU_AVX512BF16 = 1u << 16,
    SNUG_CPU_AVX512FP16 = 1u << 17,
    SNUG_CPU_NEON = 1u << 18,    /* arm64: Advanced SIMD, always present */
    SNUG_CPU_ASIMDDP = 1u << 19, /* arm64: SDOT/UDOT */
    SNUG_CPU_I8MM = 1u << 20,    /* arm64: SMMLA/UMMLA */
    SNUG_CPU_SVE = 1u << 21,
    SNUG_CPU_FEATURE_COUNT = 22
} snug_cpu_feature;

/* The features of the CPU this process runs on (detected once; cheap to call again). */
uint32_t snug_cpu_features(void);

/* Name of one feature bit ("avx2"), or NULL for a bit that is not a feature. */
const char *snug_cpu_feature_name(uint32_t feature_bit);

/* Space-separated names of the features in `features` ("sse2 sse3 … avx2 fma"), truncated to fit `cap`. */
void snug_cpu_features_string(uint32_t features, char *out, size_t cap);

/* The CPU's marketing name: cpuid brand string on x86-64, else /proc/cpuinfo ("model name", "Hardware"), else
 * "unknown CPU". Leading and repeated spaces are removed. */
void snug_cpu_name(char *out, size_t cap);

/* Fills the topology fields of a report (cores, threads, caches) from sysconf alone: the fallback when hwloc cannot
 * load a topology. `why` goes to topology_note. Caches stay 0 (unknown). Exposed so that tests can check it. */
void snug_hw_topology_sysconf(snug_hw_report *out, const char *why);

/* Physical cores of this machine (cached after the first call): the default number of compute threads. */
int32_t snug_physical_cores(void);

#endif
