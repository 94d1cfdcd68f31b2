/* hw.c — the hardware report of the host (snug_hw_probe in snug.h): CPU, topology, caches, memory.
 *
 * Topology comes from hwloc (Debian libhwloc-dev, hwloc 2.x API): physical cores and hardware threads that this
 * process may run on (its CPU binding, within the cgroup's cpuset, which hwloc already applies), and the size of the
 * first L1d / L2 / L3 cache object. When hwloc cannot load a topology the report falls back to sysconf and the
 * process's affinity mask, and says so (topology_source "sysconf", topology_note why). Memory comes from memory.c.
 */
#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "cpu/kernels.h"
#include "plan/hw.h"
#include "plan/memory.h"

/* Logical processors this process may run on: its affinity mask, else the online count, at least 1. */
static int32_t affinity_threads(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int32_t)online : 1;
}

void snug_hw_topology_sysconf(snug_hw_report *out, const char *why) {
    out->threads = affinity_threads();
    out->cores = out->threads; /* sysconf cannot tell cores from SMT siblings */
    for (int level = 0; level < SNUG_HW_CACHE_LEVELS; level++) {
        out->cache_bytes[level] = 0;
        out->cache_count[level] = 0;
    }
    out->topology_source = "sysconf";
    snprintf(out->topology_note, sizeof out->topology_note,
             "%.120s; cores counted as logical processors, cache sizes unknown", why);
}

/* Objects of `type` whose processors intersect `allowed`. */
static int32_t count_intersecting(hwloc_topology_t topo, hwloc_obj_type_t type, hwloc_const_cpuset_t allowed) {
    int32_t n = 0;
    for (hwloc_obj_t obj = hwloc_get_next_obj_by_type(topo, type, NULL); obj;
         obj = hwloc_get_next_obj_by_type(topo, type, obj)) {
        if (obj->cpuset && hwloc_bitmap_intersects(obj->cpuset, allowed)) n++;
    }
    return n;
}

/* Size and count of the data (or unified) caches at one level; instruction caches are skipped. */
static void cache_level(hwloc_topology_t topo, hwloc_obj_type_t type, uint64_t *bytes, int32_t *count) {
    *bytes = 0;
    *count = 0;
    for (hwloc_obj_t obj = hwloc_get_next_obj_by_type(topo, type, NULL); obj;
         obj = hwloc_get_next_obj_by_type(topo, type, obj)) {
        if (obj->attr->cache.type == HWLOC_OBJ_CACHE_INSTRUCTION) continue;
        if (*count == 0) *bytes = obj->attr->cache.size;
        (*count)++;
    }
}

/* Fills cores, threads and caches from hwloc; false (with the reason in `why`) when hwloc cannot. */
static bool topology_hwloc(snug_hw_report *out, char *why, size_t why_cap) {
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) {
        snprintf(why, why_cap, "hwloc_topology_init failed (%s)", strerror(errno));
        return false;
    }
    /* Only CPUs, memory and caches are needed: leave out PCI and OS devices (slow to scan, never used here). */
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    if (hwloc_topology_load(topo) != 0) {
        snprintf(why, why_cap, "hwloc could not load the topology (%s)", strerror(errno));
        hwloc_topology_destroy(topo);
        return false;
    }
    hwloc_bitmap_t allowed = hwloc_bitmap_alloc();
    if (!allowed) {
        snprintf(why, why_cap, "hwloc could not allocate a CPU set");
        hwloc_topology_destroy(topo);
        return false;
    }
    /* The process's binding (taskset, a container's cpuset), else every processor of the topology. */
    if (hwloc_get_cpubind(topo, allowed, HWLOC_CPUBIND_PROCESS) != 0 || hwloc_bitmap_iszero(allowed)) {
        hwloc_bitmap_copy(allowed, hwloc_topology_get_topology_cpuset(topo));
    }
    int32_t threads = count_intersecting(topo, HWLOC_OBJ_PU, allowed);
    int32_t cores = count_intersecting(topo, HWLOC_OBJ_CORE, allowed);
    hwloc_bitmap_free(allowed);
    if (threads < 1) {
        snprintf(why, why_cap, "hwloc found no processing unit this process may run on");
        hwloc_topology_destroy(topo);
        return false;
    }
    out->threads = threads;
    out->cores = cores >= 1 ? cores : threads; /* a topology without a core level: one core a PU */
    static const hwloc_obj_type_t cache_types[SNUG_HW_CACHE_LEVELS] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE,
                                                                       HWLOC_OBJ_L3CACHE};
    for (int level = 0; level < SNUG_HW_CACHE_LEVELS; level++) {
        cache_level(topo, cache_types[level], &out->cache_bytes[level], &out->cache_count[level]);
    }
    /* cpuid and /proc/cpuinfo know no name on some arm64 machines; hwloc may (from the device tree). */
    hwloc_obj_t package = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
    const char *model = package ? hwloc_obj_get_info_by_name(package, "CPUModel") : NULL;
    if (model && model[0] && strcmp(out->cpu_name, "unknown CPU") == 0) {
        snprintf(out->cpu_name, sizeof out->cpu_name, "%s", model);
    }
    hwloc_topology_destroy(topo);
    out->topology_source = "hwloc";
    out->topology_note[0] = '\0';
    return true;
}

snug_status snug_hw_probe(snug_hw_report *out, snug_error *err) {
    memset(out, 0, sizeof *out);
    snug_memory_info mem;
    if (!snug_memory_probe(&mem)) {
        return snug_fail(err, SNUG_E_IO,
                         "cannot read MemTotal and MemAvailable from /proc/meminfo: this machine's memory is unknown");
    }
    snug_cpu_name(out->cpu_name, sizeof out->cpu_name);
    snug_cpu_features_string(snug_cpu_features(), out->features, sizeof out->features);
    char why[SNUG_HW_NOTE_BYTES];
    if (!topology_hwloc(out, why, sizeof why)) snug_hw_topology_sysconf(out, why);
    out->memory_total_bytes = mem.total_bytes;
    out->memory_available_bytes = mem.available_bytes;
    out->memory_cgroup_limit_bytes = mem.cgroup_limit_bytes;
    out->memory_source = mem.source;
    out->cuda_devices = -1; /* the CUDA backend is not built; it reports its devices when it is */
    out->kernel_isa = snug_isa_name(snug_isa_active());
    const snug_stream_policy *stream = snug_stream_policy_active();
    out->stream_hint = snug_stream_hint_name(stream->hint);
    out->stream_distance_bytes = stream->distance_bytes;
    snprintf(out->stream_source, sizeof out->stream_source, "%s", stream->source);
    out->huge_page_bytes = snug_huge_page_probe_root("");
    return SNUG_OK;
}

/* Physical cores, detected once per process (hwloc; logical processors when hwloc cannot tell). The default
 * thread count: decode is bound by memory bandwidth, and SMT siblings only compete for the same core's caches. */
static int32_t physical_cores_cached;
static pthread_once_t physical_cores_once = PTHREAD_ONCE_INIT;

static void detect_physical_cores(void) {
    snug_hw_report report;
    memset(&report, 0, sizeof report);
    char why[160];
    if (!topology_hwloc(&report, why, sizeof why)) snug_hw_topology_sysconf(&report, why);
    physical_cores_cached = report.cores >= 1 ? report.cores : 1;
}

int32_t snug_physical_cores(void) {
    pthread_once(&physical_cores_once, detect_physical_cores);
    return physical_cores_cached;
}
