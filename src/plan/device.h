/* device.h — what a machine offers a plan: memory, on-chip memory per GPU workgroup, CPU features.
 *
 * A device is either the detected host (hw.c: hwloc topology, /proc/meminfo, cgroup limits, cpuid) or a profile of a
 * machine we cannot touch (profiles.c; every number documented with its source in docs/devices.md). The planner
 * (plan.c) budgets against `usable memory` = memory_bytes × gpu_working_set_fraction (unified memory) and sizes GPU
 * kernel tiles against onchip_limit_bytes (kernels.c).
 */
#ifndef SNUG_PLAN_DEVICE_H
#define SNUG_PLAN_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum snug_device_kind {
    SNUG_DEVICE_CPU = 0,    /* the host: weights and buffers in system memory, no GPU kernels */
    SNUG_DEVICE_METAL = 1,  /* Apple silicon: unified memory, Metal threadgroup memory */
    SNUG_DEVICE_CUDA = 2,   /* NVIDIA: dedicated VRAM, CUDA shared memory per block */
    SNUG_DEVICE_VULKAN = 3, /* a Vulkan device of this machine, probed (the Vulkan backend runs on it) */
} snug_device_kind;

typedef struct snug_device {
    char name[64];        /* profile name ("apple-m2-16g", "nvidia-rtx-4090", "host") */
    char description[96]; /* "Apple M2, 16 GB unified memory" */
    snug_device_kind kind;
    uint64_t memory_bytes;           /* RAM (unified) or VRAM */
    uint64_t available_bytes;        /* what can be used now: detected for the host, = memory_bytes for a profile */
    const char *memory_source;       /* "meminfo", "cgroup v2", "cgroup v1", "profile" */
    double gpu_working_set_fraction; /* Metal: recommendedMaxWorkingSetSize / RAM; 1 otherwise */
    uint32_t onchip_default_bytes;   /* shared / threadgroup memory a kernel gets without opting in (0: no GPU) */
    uint32_t onchip_optin_bytes;     /* the most a kernel can opt in to (CUDA); = default where there is no opt-in */
    uint64_t huge_page_bytes;        /* host: transparent huge pages on request (memory.h); 0 none, and for profiles */
    /* Vulkan devices only (0 elsewhere). */
    int32_t vulkan_index;          /* snug_vulkan_probe's order */
    uint64_t max_allocation_bytes; /* maxMemoryAllocationSize: no device allocation may be larger */
    uint64_t max_binding_bytes;    /* maxStorageBufferRange: no buffer a kernel binds may be larger */
    bool unified;                  /* the heap is device-local and host-visible (lavapipe, integrated GPUs) */
    bool cpu_driver;               /* a driver that computes on the CPU (lavapipe): --backend auto passes it by */
} snug_device;

/* The largest buffer a GPU backend may allocate and bind whole: min(max_allocation_bytes, max_binding_bytes). */
uint64_t snug_device_max_buffer_bytes(const snug_device *d);

/* The usable bytes before headroom: available × working-set fraction. */
uint64_t snug_device_usable_bytes(const snug_device *d);

/* Profiles: a fixed table (profiles.c). Returns NULL past the end; names are lowercase, lookups ignore case. */
const snug_device *snug_device_profile_at(int index);
/* NULL for an unknown name and for "host": the host is detected, not a table entry (a static copy refreshed by
 * every call would race between threads). Callers that accept "host" use snug_device_resolve. */
const snug_device *snug_device_profile_find(const char *name);

/* The detected host (memory now available, limits applied). False if /proc/meminfo cannot be read. */
bool snug_device_host(snug_device *out);

/* "host" → snug_device_host; a profile name → a copy of the profile. False for an unknown name or when the host's
 * memory cannot be read (the caller tells the two apart by the name). */
bool snug_device_resolve(const char *name, snug_device *out);

/* Vulkan device `index` of this machine as a device: its largest device-local heap (the budget VK_EXT_memory_budget
 * gives, when there is one), maxComputeSharedMemorySize, maxMemoryAllocationSize, maxStorageBufferRange. False with
 * the reason in `why` when there is no such device (no loader, no driver, built without Vulkan). Probed once per
 * process. */
bool snug_device_vulkan(int32_t index, snug_device *out, char *why, size_t why_cap);

/* For tests: when non-zero, a smaller maxStorageBufferRange than the Vulkan device's, so that small models take the
 * paths of large ones (weights bound in pieces). */
extern uint64_t snug_device_test_binding_limit_bytes;
/* For tests: when true, --backend auto treats a CPU Vulkan driver (lavapipe) as a GPU and does not look for a GPU's
 * device node, so that CI can check what auto chooses. */
extern bool snug_device_test_assume_gpu;

/* "cpu", "metal", "cuda", "vulkan". */
const char *snug_device_kind_name(snug_device_kind kind);

#endif
