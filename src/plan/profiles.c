/* profiles.c — machines snug cannot touch, as data: memory, GPU working-set share, on-chip memory per workgroup.
 *
 * Every number is documented with its source in docs/devices.md; change the two together. Rules that keep the
 * table consistent:
 *   - Apple unified memory is binary: "16 GB" is 16 GiB (what sysctl hw.memsize reports).
 *   - NVIDIA VRAM is the total nvidia-smi reports for the card (MiB × 2^20), not the marketing GB: the planner's
 *     headroom covers what the driver reserves and the CUDA context on top of it.
 *   - available_bytes = memory_bytes and memory_source = "profile": a profile describes an idle machine.
 * The host is not in the table (it is detected: snug_device_host); lookups by name ignore case.
 */
#include <stddef.h>
#include <strings.h>

#include "plan/device.h"

#define GIB (UINT64_C(1) << 30)
#define MIB (UINT64_C(1) << 20)

/* Threadgroup memory of every Apple-silicon GPU (MTLDevice.maxThreadgroupMemoryLength; Metal Feature Set Tables,
 * "Maximum total threadgroup memory allocation", 32 KB for Apple7–Apple9). There is no opt-in above it. */
#define APPLE_THREADGROUP_BYTES 32768u

/* Metal's recommendedMaxWorkingSetSize as a share of RAM, as macOS 13–14 report it (llama.cpp logs it at start-up;
 * docs/devices.md lists the measurements): 2/3 of RAM up to 32 GB, 3/4 from 36 GB up. Newer macOS releases report
 * somewhat more (0.78–0.84); the older, smaller share is kept so that a plan never promises more than Metal gives. */
#define APPLE_WORKING_SET_SMALL    (2.0 / 3.0)
#define APPLE_WORKING_SET_LARGE    0.75
#define APPLE_LARGE_MEMORY_MIN_GIB 36

/* CUDA shared memory per block (CUDA C++ Programming Guide, "Technical Specifications per Compute Capability"):
 * 48 KiB without opting in on every architecture; the opt-in maximum (cudaFuncAttributeMaxDynamicSharedMemorySize)
 * is the shared memory of an SM minus the 1 KiB the driver reserves per block from sm_80 on. */
#define CUDA_SHARED_DEFAULT_BYTES (48u * 1024)
#define CUDA_SHARED_OPTIN_SM80    (163u * 1024) /* A100: 164 KiB per SM − 1 KiB */
#define CUDA_SHARED_OPTIN_SM86_89 (99u * 1024)  /* RTX 30xx (sm_86), RTX 40xx (sm_89): 100 KiB − 1 KiB */
#define CUDA_SHARED_OPTIN_SM90    (227u * 1024) /* H100, H200: 228 KiB − 1 KiB */

/* Vulkan's limits on these machines (docs/devices.md, "Vulkan devices", has the sources), for a plan that binds
 * buffers there: one binding is at most 2^32 − 1 bytes everywhere (a uint32_t: NVIDIA reports exactly that, MoltenVK
 * min(Metal's maxBufferLength, 2^32 − 1)). One allocation: MoltenVK passes Metal's maxBufferLength through, measured at
 * half of RAM on an 8 GB Mac and at 56% on 48 and 64 GB ones — half of RAM is kept, the smallest share seen; NVIDIA's
 * 4 GiB is a soft limit (larger allocations succeed), kept as stated. */
#define VULKAN_BINDING_BYTES    UINT64_C(4294967295)
#define NVIDIA_ALLOCATION_BYTES (4 * GIB)

#define APPLE(profile_name, chip, gib)                                                                                 \
    {                                                                                                                  \
        .name = profile_name, .description = "Apple " chip ", " #gib " GB unified memory", .kind = SNUG_DEVICE_METAL,  \
        .memory_bytes = (gib)*GIB, .available_bytes = (gib)*GIB, .memory_source = "profile",                           \
        .gpu_working_set_fraction =                                                                                    \
            (gib) >= APPLE_LARGE_MEMORY_MIN_GIB ? APPLE_WORKING_SET_LARGE : APPLE_WORKING_SET_SMALL,                   \
        .onchip_default_bytes = APPLE_THREADGROUP_BYTES, .onchip_optin_bytes = APPLE_THREADGROUP_BYTES,                \
        .max_allocation_bytes = (gib)*GIB / 2, .max_binding_bytes = VULKAN_BINDING_BYTES,                              \
    }

#define NVIDIA(profile_name, card, vram_mib, optin_bytes)                                                              \
    {                                                                                                                  \
        .name = profile_name, .description = "NVIDIA " card, .kind = SNUG_DEVICE_CUDA, .memory_bytes = (vram_mib)*MIB, \
        .available_bytes = (vram_mib)*MIB, .memory_source = "profile", .gpu_working_set_fraction = 1.0,                \
        .onchip_default_bytes = CUDA_SHARED_DEFAULT_BYTES, .onchip_optin_bytes = (optin_bytes),                        \
        .max_allocation_bytes = NVIDIA_ALLOCATION_BYTES, .max_binding_bytes = VULKAN_BINDING_BYTES,                    \
    }

static const snug_device profiles[] = {
    APPLE("apple-m1-8g", "M1", 8),
    APPLE("apple-m1-16g", "M1", 16),
    APPLE("apple-m2-8g", "M2", 8),
    APPLE("apple-m2-16g", "M2", 16),
    APPLE("apple-m2-24g", "M2", 24),
    APPLE("apple-m3-pro-18g", "M3 Pro", 18),
    APPLE("apple-m3-pro-36g", "M3 Pro", 36),
    APPLE("apple-m3-max-64g", "M3 Max", 64),
    APPLE("apple-m3-max-128g", "M3 Max", 128),
    APPLE("apple-m4-16g", "M4", 16),
    APPLE("apple-m4-32g", "M4", 32),
    APPLE("apple-m4-pro-24g", "M4 Pro", 24),
    APPLE("apple-m4-pro-48g", "M4 Pro", 48),
    NVIDIA("nvidia-rtx-3060-12g", "GeForce RTX 3060, 12 GB GDDR6 (sm_86)", 12288, CUDA_SHARED_OPTIN_SM86_89),
    NVIDIA("nvidia-rtx-4060", "GeForce RTX 4060, 8 GB GDDR6 (sm_89)", 8188, CUDA_SHARED_OPTIN_SM86_89),
    NVIDIA("nvidia-rtx-4090", "GeForce RTX 4090, 24 GB GDDR6X (sm_89)", 24564, CUDA_SHARED_OPTIN_SM86_89),
    NVIDIA("nvidia-a100-40g", "A100, 40 GB HBM2 (sm_80)", 40960, CUDA_SHARED_OPTIN_SM80),
    NVIDIA("nvidia-a100-80g", "A100, 80 GB HBM2e (sm_80)", 81920, CUDA_SHARED_OPTIN_SM80),
    NVIDIA("nvidia-h100", "H100, 80 GB HBM3 / HBM2e (sm_90)", 81559, CUDA_SHARED_OPTIN_SM90),
    NVIDIA("nvidia-h200", "H200, 141 GB HBM3e (sm_90)", 143771, CUDA_SHARED_OPTIN_SM90),
};

enum { PROFILE_COUNT = (int)(sizeof profiles / sizeof *profiles) };

const snug_device *snug_device_profile_at(int index) {
    return index >= 0 && index < PROFILE_COUNT ? &profiles[index] : NULL;
}

const snug_device *snug_device_profile_find(const char *name) {
    for (int i = 0; name && i < PROFILE_COUNT; i++) {
        if (strcasecmp(profiles[i].name, name) == 0) return &profiles[i];
    }
    return NULL;
}
