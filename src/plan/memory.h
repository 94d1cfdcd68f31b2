/* memory.h — how much memory this machine can give us right now.
 *
 * Available = MemAvailable from /proc/meminfo, lowered to the cgroup limit minus current usage when the process runs
 * under one (v2 memory.max, v1 memory.limit_in_bytes). The process's own cgroup comes from /proc/self/cgroup, and
 * every ancestor up to the mount point counts too: a limit on a parent slice binds its children. The planner checks
 * plans against this before allocating; `snug hw` reports it.
 */
#ifndef SNUG_PLAN_MEMORY_H
#define SNUG_PLAN_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct snug_memory_info {
    uint64_t total_bytes;        /* MemTotal, lowered to the tightest cgroup limit */
    uint64_t available_bytes;    /* MemAvailable, lowered to the least room left under any cgroup limit */
    const char *source;          /* what set available_bytes: "meminfo", "cgroup v2", "cgroup v1" */
    uint64_t cgroup_limit_bytes; /* the tightest cgroup memory limit found; 0 when there is none */
} snug_memory_info;

/* False if /proc/meminfo cannot be read (then nothing is known). */
bool snug_memory_probe(snug_memory_info *out);

/* The same probe with every path below `root` ("" is the real system): root/proc/meminfo, root/proc/self/cgroup,
 * root/sys/fs/cgroup/…. Tests build a fake tree in a temporary directory and point `root` at it. */
bool snug_memory_probe_root(const char *root, snug_memory_info *out);

/* Transparent huge pages the kernel gives a region that asks for them (madvise MADV_HUGEPAGE): the huge page size
 * (root/sys/kernel/mm/transparent_hugepage/hpage_pmd_size) when root/sys/kernel/mm/transparent_hugepage/enabled
 * selects "[always]" or "[madvise]"; 0 when it selects "[never]", or either file is missing or unreadable. */
uint64_t snug_huge_page_probe_root(const char *root);

#endif
