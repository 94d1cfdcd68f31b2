/* stream.h — how the dot kernels ask for the weights they will read next: the streaming policy, chosen at run time.
 *
 * Decode reads every weight row from memory once a token. One core's stream is limited by the cache-line misses it
 * has in flight, and the hardware prefetchers stop at every 4 KiB page of a mapped file, so every dot kernel
 * (vec_dot, decode_dot, the float kernels) asks, as it goes, for the weights `distance` bytes past those it is about
 * to read: one prefetch per 64 bytes consumed, spread over the loop. Rows lie one after another, so the stream runs on
 * into the next row and the next matrix; a prefetch never faults, also past the end of a mapping. Prefetches change
 * no arithmetic, only speed.
 *
 * Which hint pays depends on the microarchitecture, and by a factor of two (docs/performance.md, "Streaming policy"):
 * the non-temporal hint (prefetchnta) is the fastest on AMD Zen and halves the stream on Intel Xeon (Sapphire Rapids),
 * where the ordinary hint (prefetcht0) is the fastest. So the policy is data, chosen once per process from the CPU's
 * vendor and family (stream.c's decision table), and SNUG_STREAM=none|nta|t0[:BYTES] overrides it (benchmarks and
 * a CPU the table gets wrong). `snug hw` and `snug bench --json` show the policy in force and where it came from.
 */
#ifndef SNUG_CPU_STREAM_H
#define SNUG_CPU_STREAM_H

#include <stdint.h>

typedef enum snug_stream_hint {
    SNUG_STREAM_NONE = 0, /* no software prefetch: the hardware prefetchers alone */
    SNUG_STREAM_NTA = 1,  /* prefetchnta (__builtin_prefetch locality 0): non-temporal, bypasses most of the caches */
    SNUG_STREAM_T0 = 2,   /* prefetcht0 (locality 3): into every cache level, as an ordinary load would */
} snug_stream_hint;

/* The bounds of a distance SNUG_STREAM may set: at least one cache line, at most 1 MiB (an L2's worth). */
#define SNUG_STREAM_DISTANCE_MIN 64
#define SNUG_STREAM_DISTANCE_MAX (1 << 20)

typedef struct snug_stream_policy {
    snug_stream_hint hint;
    uint32_t distance_bytes; /* how far ahead of the bytes being read the prefetch asks; a multiple of 64 */
    char source[96];         /* why: "decision table: AMD family 0x19" or "SNUG_STREAM=t0:8192" */
} snug_stream_policy;

/* The policy in force (chosen on first use, then fixed for the process). Safe from any thread. */
const snug_stream_policy *snug_stream_policy_active(void);

/* The policy the decision table gives this CPU, and whether the environment (SNUG_STREAM) overrode it; a value of
 * SNUG_STREAM that does not parse is ignored and said in `source`. Exposed for tests. */
snug_stream_policy snug_stream_policy_choose(const char *vendor, uint32_t family, const char *env_value);

const char *snug_stream_hint_name(snug_stream_hint hint);

/* The CPU's cpuid vendor string ("AuthenticAMD", "GenuineIntel"; "arm64" or "other" off x86) and family (base plus
 * extended family); the keys of the decision tables (this one, and dispatch.c's choice of decode layout). */
void snug_cpu_vendor_family(char vendor[13], uint32_t *family);

/* What the kernels read in their inner loops: copies of the active policy's two fields, set before any kernel table
 * is handed out (dispatch.c calls snug_stream_policy_active when it builds the tables). */
extern snug_stream_hint snug_stream_hint_in_force;
extern uint32_t snug_stream_distance_in_force;

/* Asks for the `bytes` bytes that lie the policy's distance past `next`. The switch is on a value fixed for the
 * process, so the branch predicts perfectly; the hints must be constants, hence one loop per hint. */
static inline void snug_stream_ahead(const void *next, uint64_t bytes) {
    const char *ahead = (const char *)next + snug_stream_distance_in_force;
    switch (snug_stream_hint_in_force) {
    case SNUG_STREAM_NTA:
        for (uint64_t o = 0; o < bytes; o += 64) __builtin_prefetch(ahead + o, 0, 0);
        break;
    case SNUG_STREAM_T0:
        for (uint64_t o = 0; o < bytes; o += 64) __builtin_prefetch(ahead + o, 0, 3);
        break;
    case SNUG_STREAM_NONE: break;
    }
}

#endif
