/* runtime.h — the Vulkan backend's runtime: a device and its queue, buffers, compute kernels, one dispatch at a time.
 *
 * The first piece of the Vulkan backend (issue 14): what every kernel needs, checked at every call. The loader is
 * opened with dlopen (probe.c says why); every Vulkan call's result is checked and turned into a `device` or
 * `out-of-memory` error with the numbers; nothing is left allocated by a call that fails; a dispatch waits on a fence
 * with a timeout, so a lost or hung device is an error, never a hang. Kernels are SPIR-V compiled from GLSL by glslc at
 * build time (src/vulkan/shaders/NAME.comp, embedded as C arrays) with specialization constants: the workgroup size and
 * the shared memory it implies are chosen by the caller (the planner), and the pipeline is created with exactly them.
 */
#ifndef SNUG_VULKAN_RUNTIME_H
#define SNUG_VULKAN_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

#include "snug.h"
#include "vulkan/shaders.h"

typedef struct snug_vk_fns snug_vk_fns; /* the loaded entry points (runtime.c) */

typedef struct snug_vk {
    void *library;
    snug_vk_fns *fns;
    VkInstance instance;
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    VkCommandPool command_pool;
    VkPhysicalDeviceMemoryProperties memory;
    VkPhysicalDeviceLimits limits;
    uint64_t max_allocation_bytes;
    char name[256];
} snug_vk;

/* A buffer in host-visible, coherent memory (lavapipe's and unified devices' only kind), mapped for its life. */
typedef struct snug_vk_buffer {
    VkBuffer buffer;
    VkDeviceMemory memory;
    void *mapped;
    uint64_t bytes;
} snug_vk_buffer;

/* A compute kernel: a pipeline over n_buffers storage buffers (bindings 0 …) and push_bytes of push constants. */
typedef struct snug_vk_kernel {
    VkShaderModule module;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
    uint32_t n_buffers, push_bytes;
} snug_vk_kernel;

/* Most storage buffers a kernel binds. */
#define SNUG_VK_MAX_BINDINGS 8

/* A command stream: dispatches recorded into one command buffer, each followed by a barrier, submitted together and
 * waited for with a fence timeout. Its descriptor sets come from a pool sized for max_dispatches (the backend counts
 * the dispatches of its longest step when it creates the stream), reset at every begin. */
typedef struct snug_vk_stream {
    VkCommandBuffer cmd;
    VkFence fence;
    VkDescriptorPool pool;
    uint32_t max_dispatches, n_dispatches;
    bool recording;
    bool hung; /* a wait timed out: the device may still use what the stream holds, so nothing is reused */
} snug_vk_stream;

/* Opens Vulkan device `index` (as snug_vulkan_probe numbers them) with one compute queue. SNUG_E_DEVICE with the
 * reason when there is no loader, driver, device or compute queue. */
snug_status snug_vk_open(snug_vk *vk, int index, snug_error *err);
void snug_vk_close(snug_vk *vk);

/* A storage buffer of `bytes`. SNUG_E_OUT_OF_MEMORY with both numbers when the device refuses the allocation (or it is
 * above maxMemoryAllocationSize); nothing is left allocated then. */
snug_status snug_vk_buffer_create(snug_vk *vk, uint64_t bytes, snug_vk_buffer *out, snug_error *err);
void snug_vk_buffer_destroy(snug_vk *vk, snug_vk_buffer *b);

/* A kernel from SPIR-V words with its specialization constants (constant_id 0 … n_spec − 1, 32-bit each). */
snug_status snug_vk_kernel_create(snug_vk *vk, const uint32_t *spirv, size_t spirv_bytes, uint32_t n_buffers,
                                  uint32_t push_bytes, const uint32_t *spec, uint32_t n_spec, snug_vk_kernel *out,
                                  snug_error *err);
void snug_vk_kernel_destroy(snug_vk *vk, snug_vk_kernel *k);

snug_status snug_vk_stream_create(snug_vk *vk, uint32_t max_dispatches, snug_vk_stream *out, snug_error *err);
void snug_vk_stream_destroy(snug_vk *vk, snug_vk_stream *s);
snug_status snug_vk_stream_begin(snug_vk *vk, snug_vk_stream *s, snug_error *err);
/* Records kernel k over `buffers` (k->n_buffers of them, bindings 0 …) with its push constants, `groups` workgroups
 * (in rows of maxComputeWorkGroupCount[0] when there are more), then a barrier. */
snug_status snug_vk_dispatch(snug_vk *vk, snug_vk_stream *s, const snug_vk_kernel *k,
                             const snug_vk_buffer *const *buffers, const void *push, uint64_t groups, snug_error *err);
/* Submits what was recorded and waits for it: SNUG_E_DEVICE for a failed submission, a lost device or a timeout. */
snug_status snug_vk_stream_submit(snug_vk *vk, snug_vk_stream *s, snug_error *err);

/* Failure injection for tests: when a countdown is set to n > 0, the n-th following vkAllocateMemory (or
 * vkQueueSubmit) of the process fails as the driver would (VK_ERROR_OUT_OF_DEVICE_MEMORY, VK_ERROR_DEVICE_LOST);
 * 0 leaves the calls alone. Not thread-safe; for tests only. */
typedef struct snug_vk_faults {
    int32_t fail_allocation;
    int32_t fail_submit;
    int64_t allocations; /* vkAllocateMemory calls made (counted always; tests reset it) */
} snug_vk_faults;
extern snug_vk_faults snug_vk_test_faults;

/* Binds the buffers, records one dispatch of groups_x workgroups, submits it and waits for it (a timeout or a lost
 * device is SNUG_E_DEVICE). */
snug_status snug_vk_run(snug_vk *vk, snug_vk_kernel *k, snug_vk_buffer *const *buffers, const void *push,
                        uint32_t groups_x, snug_error *err);

/* Keeps every shared object now loaded — the Vulkan drivers among them — for the process's life (probe.c says why). */
void snug_vk_pin_drivers(void);

/* The embedded kernels: shaders.h. */

#endif
