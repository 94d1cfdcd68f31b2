/* dispatch.c — building the per-ISA kernel tables and choosing the ISA at run time (see kernels.h). */
#include <pthread.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "cpu/kernels.h"
#include "gguf/types.h"

static snug_kernel_table tables[SNUG_ISA_COUNT];
static bool table_ready[SNUG_ISA_COUNT];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

const char *snug_isa_name(snug_isa isa) {
    static const char *const names[SNUG_ISA_COUNT] = {"scalar", "avx2", "avx512", "avx512vnni", "neon"};
    return (unsigned)isa < SNUG_ISA_COUNT ? names[isa] : "?";
}

snug_isa snug_isa_best_supported(void) {
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    /* F16C from cpuid leaf 1, ECX bit 29 (clang's __builtin_cpu_supports does not know "f16c"); the OS support
     * of the YMM state that it needs is implied by avx2 being reported usable. */
    unsigned eax, ebx, ecx, edx;
    bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    /* DQ too: the AVX-512 files are compiled with -mavx512dq, and gcc emits DQ instructions on its own. */
    bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    bool vnni = avx512 && __builtin_cpu_supports("avx512vnni");
    return vnni ? SNUG_ISA_AVX512_VNNI : avx512 ? SNUG_ISA_AVX512 : avx2 ? SNUG_ISA_AVX2 : SNUG_ISA_SCALAR;
#elif defined(__aarch64__)
    return SNUG_ISA_NEON; /* NEON (Advanced SIMD) is mandatory on arm64 */
#else
    return SNUG_ISA_SCALAR;
#endif
}

snug_isa snug_isa_active(void) {
    snug_isa best = snug_isa_best_supported();
    const char *wanted = getenv("SNUG_ISA");
    if (!wanted || !*wanted) return best;
    for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
        /* Only an ISA at or below the best one (and of the same family) can be forced. */
        if (strcmp(wanted, snug_isa_name((snug_isa)isa)) == 0 && snug_kernels_for(SNUG_TYPE_F32, (snug_isa)isa)) {
            return (snug_isa)isa;
        }
    }
    return best;
}

static void build_tables(void) {
    snug_stream_policy_active(); /* the kernels' prefetch policy is fixed before any of them can run */
    snug_kernel_table scalar;
    memset(scalar, 0, sizeof scalar);
    snug_register_float_scalar(scalar);
    snug_register_legacy_scalar(scalar);
    snug_register_kquant_scalar(scalar);
    memcpy(tables[SNUG_ISA_SCALAR], scalar, sizeof scalar);
    table_ready[SNUG_ISA_SCALAR] = true;
    snug_isa best = snug_isa_best_supported();
#if defined(__x86_64__) || defined(_M_X64)
    if (best >= SNUG_ISA_AVX2) {
        memcpy(tables[SNUG_ISA_AVX2], scalar, sizeof scalar);
        snug_register_float_avx2(tables[SNUG_ISA_AVX2]);
        snug_register_legacy_avx2(tables[SNUG_ISA_AVX2]);
        snug_register_kquant_avx2(tables[SNUG_ISA_AVX2]);
        table_ready[SNUG_ISA_AVX2] = true;
    }
    if (best >= SNUG_ISA_AVX512) {
        memcpy(tables[SNUG_ISA_AVX512], tables[SNUG_ISA_AVX2], sizeof scalar);
        snug_register_float_avx512(tables[SNUG_ISA_AVX512]);
        snug_register_legacy_avx512(tables[SNUG_ISA_AVX512]);
        snug_register_kquant_avx512(tables[SNUG_ISA_AVX512]);
        table_ready[SNUG_ISA_AVX512] = true;
    }
    if (best >= SNUG_ISA_AVX512_VNNI) {
        memcpy(tables[SNUG_ISA_AVX512_VNNI], tables[SNUG_ISA_AVX512], sizeof scalar);
        snug_register_legacy_avx512vnni(tables[SNUG_ISA_AVX512_VNNI]);
        snug_register_kquant_avx512vnni(tables[SNUG_ISA_AVX512_VNNI]);
        table_ready[SNUG_ISA_AVX512_VNNI] = true;
    }
#elif defined(__aarch64__)
    memcpy(tables[SNUG_ISA_NEON], scalar, sizeof scalar);
    snug_register_legacy_neon(tables[SNUG_ISA_NEON]);
    table_ready[SNUG_ISA_NEON] = true;
    (void)best;
#else
    (void)best;
#endif
}

const snug_type_kernels *snug_kernels_for(uint32_t weight_type, snug_isa isa) {
    pthread_once(&tables_once, build_tables);
    if ((unsigned)isa >= SNUG_ISA_COUNT || !table_ready[isa] || weight_type >= SNUG_TYPE_ID_LIMIT) return NULL;
    const snug_type_kernels *k = &tables[isa][weight_type];
    return k->vec_dot ? k : NULL;
}

/* Decode layouts chosen per microarchitecture (docs/performance.md, "On the Zen 4 guest"):
 *
 *   CPU                          type   layout used under avx512vnni   measured
 *   AMD family 0x19 (Zen 3/4)    Q4_0   the AVX2 one (2 blocks/chunk)  Zen 4, 2 threads: 49.4 vs 45.5 tok/s decode
 *
 * Zen 4 executes a 512-bit operation as two 256-bit halves, so the 4-block chunk buys nothing and its gather (128-bit
 * inserts and a word permute) costs; Zen 5 and Intel keep the VNNI layout. Only the decode kernels change; vec_dot
 * and the prefill tiles stay the active ISA's. */
#define AMD_ZEN3_ZEN4_FAMILY 0x19

static snug_type_kernels in_use[SNUG_TYPE_ID_LIMIT];
static bool in_use_ready[SNUG_TYPE_ID_LIMIT];
static pthread_once_t in_use_once = PTHREAD_ONCE_INIT;

static void build_in_use(void) {
    snug_isa isa = snug_isa_active();
    char vendor[13];
    uint32_t family;
    snug_cpu_vendor_family(vendor, &family);
    bool half_width_512 = strcmp(vendor, "AuthenticAMD") == 0 && family == AMD_ZEN3_ZEN4_FAMILY;
    for (uint32_t type = 0; type < SNUG_TYPE_ID_LIMIT; type++) {
        const snug_type_kernels *k = snug_kernels_for(type, isa);
        if (!k) continue;
        in_use[type] = *k;
        in_use_ready[type] = true;
    }
    const snug_type_kernels *avx2_q4_0 = snug_kernels_for(SNUG_TYPE_Q4_0, SNUG_ISA_AVX2);
    if (half_width_512 && isa == SNUG_ISA_AVX512_VNNI && avx2_q4_0 && avx2_q4_0->decode.decode_dot &&
        in_use[SNUG_TYPE_Q4_0].act_type == avx2_q4_0->act_type) {
        in_use[SNUG_TYPE_Q4_0].decode = avx2_q4_0->decode;
    }
}

const snug_type_kernels *snug_kernels_in_use(uint32_t weight_type) {
    pthread_once(&in_use_once, build_in_use);
    return weight_type < SNUG_TYPE_ID_LIMIT && in_use_ready[weight_type] ? &in_use[weight_type] : NULL;
}

uint64_t snug_act_row_bytes(uint32_t act_type, int64_t n) {
    uint64_t bytes = 0;
    snug_type_row_bytes(act_type, (uint64_t)n, &bytes);
    return bytes;
}

uint64_t snug_kernels_act_bytes(const snug_type_kernels *k, int64_t n_tokens, int64_t n) {
    if (snug_kernels_decode(k, n_tokens)) return (uint64_t)n_tokens * k->decode.decode_act_bytes(n);
    if (k->act_type == SNUG_TYPE_F32) return 0;
    return (uint64_t)n_tokens * snug_act_row_bytes(k->act_type, n);
}

uint64_t snug_kernels_act_row_bytes_max(const snug_type_kernels *k, int64_t n) {
    /* A batch of tokens is encoded per token, in the decode layout for as many as go there: the larger of the two. */
    uint64_t batch = (uint64_t)snug_act_row_bytes(k->act_type, n), one = snug_kernels_act_bytes(k, 1, n);
    if (k->act_type == SNUG_TYPE_F32) batch = 0;
    return batch > one ? batch : one;
}
