/* stream.c — choosing the streaming policy (stream.h) once per process: the decision table, then SNUG_STREAM.
 *
 * The table (docs/performance.md, "Streaming policy", has the measurements behind each row):
 *
 *   vendor        family            hint   distance   measured on
 *   AuthenticAMD  0x1A and later    nta    12 KiB     Zen 5, 2 vCPUs: in-kernel nta lifted decode 5-9 % over a
 * row-ahead prefetch, one core's Q4_0 stream 31 -> 39 GB/s over none AuthenticAMD  0x17 - 0x19       none   - Zen 4
 * (0x19), 2 vCPUs: none >= nta >= t0 on every type (Q4_0 decode ~10 % ahead of nta); Zen 1-3 not measured, taken as Zen
 * 4 GenuineIntel  any               t0     12 KiB     Sapphire Rapids Xeon, 2 vCPUs: nta halves decode, t0 is the best
 *                                                     (Q4_0 36.7 tok/s, none 30.9, nta 19.2)
 *   anything else                   none   -          not measured: the hardware prefetchers alone, which no measured
 *                                                     CPU lost more than ~20 % to, where a wrong hint lost half
 *
 * A hint that is wrong costs up to half the decode speed, a distance that is off by 2x a few percent, so the table
 * keys on the vendor and the family, not on cache sizes. The choice is made once (pthread_once) and copied into the
 * two variables the kernels read, before dispatch.c hands out any kernel table.
 */
#include "cpu/stream.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

/* AMD's Zen families (cpuid family, AMD PPR "CPUID_Fn00000001_EAX"): 0x17 Zen 1 and 2, 0x19 Zen 3 and 4, 0x1A Zen 5. */
#define AMD_ZEN_FIRST_FAMILY 0x17
#define AMD_ZEN5_FAMILY      0x1A
/* The distance every row of the table uses. On Zen 5 (docs/performance.md) 6, 16, 24, 32, 48 and 96 KiB were tried
 * against it: 24-32 KiB gained 1-3 % in a slow memory regime and lost 3-6 % in the fast one, 48 KiB and more lost in
 * both. The Intel measurement of issue 12 kept it and changed only the hint. */
#define STREAM_DEFAULT_DISTANCE 12288

snug_stream_hint snug_stream_hint_in_force = SNUG_STREAM_NONE;
uint32_t snug_stream_distance_in_force = STREAM_DEFAULT_DISTANCE;

const char *snug_stream_hint_name(snug_stream_hint hint) {
    switch (hint) {
    case SNUG_STREAM_NONE: return "none";
    case SNUG_STREAM_NTA: return "nta";
    case SNUG_STREAM_T0: return "t0";
    }
    return "?";
}

/* Parses "none", "nta" or "t0", optionally followed by ":BYTES" (a multiple of 64 within the bounds). */
static bool parse_env(const char *value, snug_stream_hint *hint, uint32_t *distance) {
    static const snug_stream_hint hints[] = {SNUG_STREAM_NONE, SNUG_STREAM_NTA, SNUG_STREAM_T0};
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        const char *name = snug_stream_hint_name(hints[i]);
        size_t len = strlen(name);
        if (strncmp(value, name, len) != 0) continue;
        const char *rest = value + len;
        if (*rest == '\0') {
            *hint = hints[i];
            return true;
        }
        if (*rest != ':') return false;
        char *end = NULL;
        unsigned long bytes = strtoul(rest + 1, &end, 10);
        if (end == rest + 1 || *end != '\0' || bytes < SNUG_STREAM_DISTANCE_MIN || bytes > SNUG_STREAM_DISTANCE_MAX ||
            bytes % 64 != 0) {
            return false;
        }
        *hint = hints[i];
        *distance = (uint32_t)bytes;
        return true;
    }
    return false;
}

snug_stream_policy snug_stream_policy_choose(const char *vendor, uint32_t family, const char *env_value) {
    snug_stream_policy p = {SNUG_STREAM_NONE, STREAM_DEFAULT_DISTANCE, ""};
    if (strcmp(vendor, "AuthenticAMD") == 0 && family >= AMD_ZEN5_FAMILY) {
        p.hint = SNUG_STREAM_NTA;
        snprintf(p.source, sizeof p.source, "decision table: AMD Zen 5 or later, family 0x%x", family);
    } else if (strcmp(vendor, "AuthenticAMD") == 0 && family >= AMD_ZEN_FIRST_FAMILY) {
        snprintf(p.source, sizeof p.source, "decision table: AMD Zen 1-4, family 0x%x", family);
    } else if (strcmp(vendor, "GenuineIntel") == 0) {
        p.hint = SNUG_STREAM_T0;
        snprintf(p.source, sizeof p.source, "decision table: Intel, family 0x%x", family);
    } else {
        snprintf(p.source, sizeof p.source, "decision table: %s, family 0x%x (not measured)", vendor, family);
    }
    if (env_value && *env_value) {
        snug_stream_hint hint = p.hint;
        uint32_t distance = p.distance_bytes;
        if (parse_env(env_value, &hint, &distance)) {
            p.hint = hint;
            p.distance_bytes = distance;
            snprintf(p.source, sizeof p.source, "SNUG_STREAM=%.40s", env_value);
        } else {
            size_t used = strlen(p.source);
            snprintf(p.source + used, sizeof p.source - used, "; SNUG_STREAM=%.20s ignored", env_value);
        }
    }
    return p;
}

/* The CPU's vendor string (cpuid leaf 0) and family (leaf 1: base family, plus the extended family when the base is
 * 0xF, Intel SDM vol. 2A "CPUID"). Not x86: "arm64" or "other", family 0. */
void snug_cpu_vendor_family(char vendor[13], uint32_t *family) {
    *family = 0;
#if defined(__x86_64__) || defined(_M_X64)
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid(0, &eax, &ebx, &ecx, &edx)) {
        memcpy(vendor, &ebx, 4);
        memcpy(vendor + 4, &edx, 4);
        memcpy(vendor + 8, &ecx, 4);
        vendor[12] = '\0';
    } else {
        snprintf(vendor, 13, "unknown");
    }
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        uint32_t base = (eax >> 8) & 0xF, extended = (eax >> 20) & 0xFF;
        *family = base == 0xF ? base + extended : base;
    }
#elif defined(__aarch64__)
    snprintf(vendor, 13, "arm64");
#else
    snprintf(vendor, 13, "other");
#endif
}

static snug_stream_policy active;
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

static void choose_active(void) {
    char vendor[13];
    uint32_t family;
    snug_cpu_vendor_family(vendor, &family);
    active = snug_stream_policy_choose(vendor, family, getenv("SNUG_STREAM"));
    snug_stream_hint_in_force = active.hint;
    snug_stream_distance_in_force = active.distance_bytes;
}

const snug_stream_policy *snug_stream_policy_active(void) {
    pthread_once(&active_once, choose_active);
    return &active;
}
