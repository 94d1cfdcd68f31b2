/* cpu_features.c — which SIMD extensions this CPU and this operating system support, and the CPU's name (hw.h).
 *
 * x86-64: cpuid leaves 1 and 7 (Intel SDM vol. 2A, "CPUID—CPU Identification"), and XCR0 through xgetbv for the
 * OS side: AVX-class features need the OS to save YMM state (XCR0 bits 1–2), AVX-512 also the opmask and ZMM state
 * (bits 5–7); a CPU feature the OS does not enable is not reported. arm64: getauxval(AT_HWCAP/AT_HWCAP2), bit values
 * from Linux's arch/arm64/include/uapi/asm/hwcap.h. Other architectures report no features. Nothing is cached:
 * detection is a handful of cpuid instructions.
 */
#include <stdio.h>
#include <string.h>

#include "plan/hw.h"

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

static const char *const feature_names[SNUG_CPU_FEATURE_COUNT] = {
    "sse2",       "sse3",       "ssse3",   "sse4.1",   "sse4.2",   "avx",      "avx2",     "fma",
    "f16c",       "avxvnni",    "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512vnni",
    "avx512bf16", "avx512fp16", "neon",    "asimddp",  "i8mm",     "sve",
};

#if defined(__x86_64__)

/* XCR0 state components (Intel SDM vol. 1, 13.1 "XSAVE-Supported Features and State-Component Bitmaps"). */
#define XCR0_SSE_AVX_STATE 0x06u /* bit 1 SSE (XMM), bit 2 AVX (upper YMM halves) */
#define XCR0_AVX512_STATE  0xE0u /* bit 5 opmask, bit 6 ZMM_Hi256, bit 7 Hi16_ZMM */

/* cpuid.1:ECX / EDX and cpuid.7.0:EBX / ECX / EDX, cpuid.7.1:EAX bit positions (Intel SDM vol. 2A, CPUID). */
enum {
    CPUID1_ECX_SSE3 = 0,
    CPUID1_ECX_SSSE3 = 9,
    CPUID1_ECX_FMA = 12,
    CPUID1_ECX_SSE41 = 19,
    CPUID1_ECX_SSE42 = 20,
    CPUID1_ECX_OSXSAVE = 27,
    CPUID1_ECX_AVX = 28,
    CPUID1_ECX_F16C = 29,
    CPUID1_EDX_SSE2 = 26,
    CPUID7_EBX_AVX2 = 5,
    CPUID7_EBX_AVX512F = 16,
    CPUID7_EBX_AVX512DQ = 17,
    CPUID7_EBX_AVX512CD = 28,
    CPUID7_EBX_AVX512BW = 30,
    CPUID7_EBX_AVX512VL = 31,
    CPUID7_ECX_AVX512VNNI = 11,
    CPUID7_EDX_AVX512FP16 = 23,
    CPUID7_1_EAX_AVXVNNI = 4,
    CPUID7_1_EAX_AVX512BF16 = 5,
};

static bool bit(uint32_t reg, int position) { return (reg >> position) & 1u; }

static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

uint32_t snug_cpu_features(void) {
    unsigned a, b, c, d;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 1) return 0;
    __cpuid(1, a, b, c, d);
    uint32_t f = 0;
    if (bit(d, CPUID1_EDX_SSE2)) f |= SNUG_CPU_SSE2;
    if (bit(c, CPUID1_ECX_SSE3)) f |= SNUG_CPU_SSE3;
    if (bit(c, CPUID1_ECX_SSSE3)) f |= SNUG_CPU_SSSE3;
    if (bit(c, CPUID1_ECX_SSE41)) f |= SNUG_CPU_SSE41;
    if (bit(c, CPUID1_ECX_SSE42)) f |= SNUG_CPU_SSE42;
    uint64_t xcr0 = bit(c, CPUID1_ECX_OSXSAVE) ? read_xcr0() : 0;
    bool os_avx = (xcr0 & XCR0_SSE_AVX_STATE) == XCR0_SSE_AVX_STATE;
    bool os_avx512 = os_avx && (xcr0 & XCR0_AVX512_STATE) == XCR0_AVX512_STATE;
    if (!os_avx) return f;
    if (bit(c, CPUID1_ECX_AVX)) f |= SNUG_CPU_AVX;
    if (bit(c, CPUID1_ECX_FMA)) f |= SNUG_CPU_FMA;
    if (bit(c, CPUID1_ECX_F16C)) f |= SNUG_CPU_F16C;
    if (max_leaf < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned max_subleaf = a;
    if (bit(b, CPUID7_EBX_AVX2)) f |= SNUG_CPU_AVX2;
    if (os_avx512) {
        if (bit(b, CPUID7_EBX_AVX512F)) f |= SNUG_CPU_AVX512F;
        if (bit(b, CPUID7_EBX_AVX512DQ)) f |= SNUG_CPU_AVX512DQ;
        if (bit(b, CPUID7_EBX_AVX512CD)) f |= SNUG_CPU_AVX512CD;
        if (bit(b, CPUID7_EBX_AVX512BW)) f |= SNUG_CPU_AVX512BW;
        if (bit(b, CPUID7_EBX_AVX512VL)) f |= SNUG_CPU_AVX512VL;
        if (bit(c, CPUID7_ECX_AVX512VNNI)) f |= SNUG_CPU_AVX512VNNI;
        if (bit(d, CPUID7_EDX_AVX512FP16)) f |= SNUG_CPU_AVX512FP16;
    }
    if (max_subleaf >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        if (bit(a, CPUID7_1_EAX_AVXVNNI)) f |= SNUG_CPU_AVXVNNI;
        if (os_avx512 && bit(a, CPUID7_1_EAX_AVX512BF16)) f |= SNUG_CPU_AVX512BF16;
    }
    return f;
}

/* The 48-byte brand string of cpuid leaves 0x80000002–0x80000004; false when the CPU has none. */
static bool cpuid_brand(char *out, size_t cap) {
    unsigned regs[12];
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) < 0x80000004u) return false;
    for (unsigned i = 0; i < 3; i++) {
        __cpuid(0x80000002u + i, regs[4 * i], regs[4 * i + 1], regs[4 * i + 2], regs[4 * i + 3]);
    }
    char brand[sizeof regs + 1];
    memcpy(brand, regs, sizeof regs);
    brand[sizeof regs] = '\0';
    snprintf(out, cap, "%s", brand);
    return out[0] != '\0';
}

#elif defined(__aarch64__) && defined(__linux__)

/* Linux arm64 hwcap bits (arch/arm64/include/uapi/asm/hwcap.h), for C libraries whose headers predate them. */
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1ul << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20)
#endif
#ifndef HWCAP_SVE
#define HWCAP_SVE (1ul << 22)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1ul << 13)
#endif

uint32_t snug_cpu_features(void) {
    unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
    uint32_t f = SNUG_CPU_NEON; /* Advanced SIMD is mandatory in ARMv8-A */
    if (hwcap & HWCAP_ASIMDDP) f |= SNUG_CPU_ASIMDDP;
    if (hwcap2 & HWCAP2_I8MM) f |= SNUG_CPU_I8MM;
    if (hwcap & HWCAP_SVE) f |= SNUG_CPU_SVE;
    return f;
}

static bool cpuid_brand(char *out, size_t cap) { return false; }

#else

uint32_t snug_cpu_features(void) {
#if defined(__aarch64__)
    return SNUG_CPU_NEON;
#else
    return 0;
#endif
}

static bool cpuid_brand(char *out, size_t cap) { return false; }

#endif

const char *snug_cpu_feature_name(uint32_t feature_bit) {
    for (int i = 0; i < SNUG_CPU_FEATURE_COUNT; i++) {
        if (feature_bit == (1u << i)) return feature_names[i];
    }
    return NULL;
}

void snug_cpu_features_string(uint32_t features, char *out, size_t cap) {
    if (cap == 0) return;
    out[0] = '\0';
    size_t len = 0;
    for (int i = 0; i < SNUG_CPU_FEATURE_COUNT; i++) {
        if (!(features & (1u << i))) continue;
        size_t name_len = strlen(feature_names[i]);
        size_t need = name_len + (len ? 1 : 0);
        if (len + need + 1 > cap) break; /* whole names only */
        if (len) out[len++] = ' ';
        memcpy(out + len, feature_names[i], name_len + 1);
        len += name_len;
    }
}

/* Copies `text` without leading, trailing or repeated spaces (brand strings are padded). */
static void squeeze_spaces(const char *text, char *out, size_t cap) {
    size_t len = 0;
    bool space = false;
    for (const char *p = text; *p && len + 1 < cap; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n') {
            space = len > 0;
            continue;
        }
        if (space && len + 2 < cap) out[len++] = ' ';
        space = false;
        out[len++] = *p;
    }
    out[len] = '\0';
}

/* The value of the first "key<spaces>: value" line of /proc/cpuinfo among `keys`. */
static bool cpuinfo_value(const char *const *keys, size_t n_keys, char *out, size_t cap) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        size_t key_len = (size_t)(colon - line);
        while (key_len > 0 && (line[key_len - 1] == ' ' || line[key_len - 1] == '\t')) key_len--;
        for (size_t k = 0; k < n_keys && !found; k++) {
            if (strlen(keys[k]) == key_len && strncmp(line, keys[k], key_len) == 0) {
                squeeze_spaces(colon + 1, out, cap);
                found = out[0] != '\0';
            }
        }
    }
    fclose(f);
    return found;
}

void snug_cpu_name(char *out, size_t cap) {
    if (cap == 0) return;
    char raw[128];
    if (cpuid_brand(raw, sizeof raw)) {
        squeeze_spaces(raw, out, cap);
        if (out[0]) return;
    }
    static const char *const keys[] = {"model name", "Hardware", "Processor", "cpu model"};
    if (cpuinfo_value(keys, sizeof keys / sizeof *keys, out, cap)) return;
    snprintf(out, cap, "unknown CPU");
}
