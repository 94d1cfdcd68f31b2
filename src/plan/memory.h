/* memory.h — how much memory this machine can give us right now.
 *
 * Available = MemAvailable from /proc/meminfo, lowered to the cgroup limit minus current usage when the process runs
 * under one (v2 memory.max, v1 memory.limit_in_bytes). The planner checks plans against this before allocating.
 */
#ifndef SNUG_PLAN_MEMORY_H
#define SNUG_PLAN_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct snug_memory_info {
    uint64_t total_bytes;
    uint64_t available_bytes;
    const char *source; /* "meminfo", "cgroup v2", "cgroup v1" */
} snug_memory_info;

/* False if /proc/meminfo cannot be read (then nothing is known). */
bool snug_memory_probe(snug_memory_info *out);

#endif
