/* runtime.c — a Vulkan device, buffers, kernels and dispatches, every call checked (see runtime.h). */
#include "vulkan/runtime.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define VULKAN_LOADER "libvulkan.so.1"
/* How long a dispatch may take before the device counts as hung: generous for lavapipe on a loaded CPU. */
#define FENCE_TIMEOUT_NS (60ull * 1000 * 1000 * 1000)

/* The entry points used, by name: X(type, name). Instance-level first, then device-level. */
#define INSTANCE_FNS(X)                                                                                                \
    X(PFN_vkDestroyInstance, vkDestroyInstance)                                                                        \
    X(PFN_vkEnumeratePhysicalDevices, vkEnumeratePhysicalDevices)                                                      \
    X(PFN_vkGetPhysicalDeviceProperties, vkGetPhysicalDeviceProperties)                                                \
    X(PFN_vkGetPhysicalDeviceProperties2, vkGetPhysicalDeviceProperties2)                                              \
    X(PFN_vkGetPhysicalDeviceMemoryProperties, vkGetPhysicalDeviceMemoryProperties)                                    \
    X(PFN_vkGetPhysicalDeviceQueueFamilyProperties, vkGetPhysicalDeviceQueueFamilyProperties)                          \
    X(PFN_vkCreateDevice, vkCreateDevice)                                                                              \
    X(PFN_vkGetDeviceProcAddr, vkGetDeviceProcAddr)
#define DEVICE_FNS(X)                                                                                                  \
    X(PFN_vkDestroyDevice, vkDestroyDevice)                                                                            \
    X(PFN_vkGetDeviceQueue, vkGetDeviceQueue)                                                                          \
    X(PFN_vkCreateCommandPool, vkCreateCommandPool)                                                                    \
    X(PFN_vkDestroyCommandPool, vkDestroyCommandPool)                                                                  \
    X(PFN_vkAllocateCommandBuffers, vkAllocateCommandBuffers)                                                          \
    X(PFN_vkFreeCommandBuffers, vkFreeCommandBuffers)                                                                  \
    X(PFN_vkBeginCommandBuffer, vkBeginCommandBuffer)                                                                  \
    X(PFN_vkEndCommandBuffer, vkEndCommandBuffer)                                                                      \
    X(PFN_vkCmdBindPipeline, vkCmdBindPipeline)                                                                        \
    X(PFN_vkCmdBindDescriptorSets, vkCmdBindDescriptorSets)                                                            \
    X(PFN_vkCmdPushConstants, vkCmdPushConstants)                                                                      \
    X(PFN_vkCmdDispatch, vkCmdDispatch)                                                                                \
    X(PFN_vkQueueSubmit, vkQueueSubmit)                                                                                \
    X(PFN_vkCreateFence, vkCreateFence)                                                                                \
    X(PFN_vkDestroyFence, vkDestroyFence)                                                                              \
    X(PFN_vkWaitForFences, vkWaitForFences)                                                                            \
    X(PFN_vkCreateBuffer, vkCreateBuffer)                                                                              \
    X(PFN_vkDestroyBuffer, vkDestroyBuffer)                                                                            \
    X(PFN_vkGetBufferMemoryRequirements, vkGetBufferMemoryRequirements)                                                \
    X(PFN_vkAllocateMemory, vkAllocateMemory)                                                                          \
    X(PFN_vkFreeMemory, vkFreeMemory)                                                                                  \
    X(PFN_vkBindBufferMemory, vkBindBufferMemory)                                                                      \
    X(PFN_vkMapMemory, vkMapMemory)                                                                                    \
    X(PFN_vkCreateShaderModule, vkCreateShaderModule)                                                                  \
    X(PFN_vkDestroyShaderModule, vkDestroyShaderModule)                                                                \
    X(PFN_vkCreateDescriptorSetLayout, vkCreateDescriptorSetLayout)                                                    \
    X(PFN_vkDestroyDescriptorSetLayout, vkDestroyDescriptorSetLayout)                                                  \
    X(PFN_vkCreatePipelineLayout, vkCreatePipelineLayout)                                                              \
    X(PFN_vkDestroyPipelineLayout, vkDestroyPipelineLayout)                                                            \
    X(PFN_vkCreateComputePipelines, vkCreateComputePipelines)                                                          \
    X(PFN_vkDestroyPipeline, vkDestroyPipeline)                                                                        \
    X(PFN_vkCreateDescriptorPool, vkCreateDescriptorPool)                                                              \
    X(PFN_vkDestroyDescriptorPool, vkDestroyDescriptorPool)                                                            \
    X(PFN_vkAllocateDescriptorSets, vkAllocateDescriptorSets)                                                          \
    X(PFN_vkResetDescriptorPool, vkResetDescriptorPool)                                                                \
    X(PFN_vkResetCommandBuffer, vkResetCommandBuffer)                                                                  \
    X(PFN_vkResetFences, vkResetFences)                                                                                \
    X(PFN_vkCmdPipelineBarrier, vkCmdPipelineBarrier)                                                                  \
    X(PFN_vkUpdateDescriptorSets, vkUpdateDescriptorSets)

#define FIELD(type, name) type name;
struct snug_vk_fns {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    PFN_vkCreateInstance vkCreateInstance;
    INSTANCE_FNS(FIELD)
    DEVICE_FNS(FIELD)
};
#undef FIELD

snug_vk_faults snug_vk_test_faults;

/* True when the test hook says that this call must fail (runtime.h, snug_vk_faults). */
static bool injected(int32_t *countdown) {
    if (*countdown <= 0) return false;
    return --*countdown == 0;
}

static snug_status vk_fail(snug_error *err, const char *what, VkResult vr) {
    const snug_status status =
        vr == VK_ERROR_OUT_OF_DEVICE_MEMORY || vr == VK_ERROR_OUT_OF_HOST_MEMORY ? SNUG_E_OUT_OF_MEMORY : SNUG_E_DEVICE;
    snug_fail(err, status, "Vulkan: %s failed (VkResult %d%s)", what, (int)vr,
              vr == VK_ERROR_DEVICE_LOST ? ": the device was lost" : "");
    return status;
}

snug_status snug_vk_open(snug_vk *vk, int index, snug_error *err) {
    memset(vk, 0, sizeof *vk);
    vk->library = dlopen(VULKAN_LOADER, RTLD_NOW | RTLD_LOCAL);
    if (!vk->library) return snug_fail(err, SNUG_E_DEVICE, "no Vulkan loader (%s)", VULKAN_LOADER);
    snug_vk_fns *f = vk->fns = calloc(1, sizeof *vk->fns);
    if (!f) {
        snug_vk_close(vk);
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory for the Vulkan entry points");
    }
    *(void **)&f->vkGetInstanceProcAddr = dlsym(vk->library, "vkGetInstanceProcAddr");
    if (f->vkGetInstanceProcAddr)
        f->vkCreateInstance = (PFN_vkCreateInstance)f->vkGetInstanceProcAddr(NULL, "vkCreateInstance");
    if (!f->vkCreateInstance) {
        snug_vk_close(vk);
        return snug_fail(err, SNUG_E_DEVICE, "%s has no vkCreateInstance", VULKAN_LOADER);
    }
    const VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "snug", .apiVersion = VK_API_VERSION_1_2};
    const VkInstanceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    VkResult vr = f->vkCreateInstance(&info, NULL, &vk->instance);
    if (vr != VK_SUCCESS) {
        snug_vk_close(vk);
        return vk_fail(err, "vkCreateInstance", vr);
    }
#define LOAD_INSTANCE(type, name) f->name = (type)f->vkGetInstanceProcAddr(vk->instance, #name);
    INSTANCE_FNS(LOAD_INSTANCE)
#undef LOAD_INSTANCE
#define CHECK(type, name) ok = ok && f->name != NULL;
    bool ok = true;
    INSTANCE_FNS(CHECK)
    if (!ok) {
        snug_vk_close(vk);
        return snug_fail(err, SNUG_E_DEVICE, "the Vulkan loader lacks a Vulkan 1.2 entry point");
    }
    uint32_t count = 0;
    vr = f->vkEnumeratePhysicalDevices(vk->instance, &count, NULL);
    if (vr != VK_SUCCESS || count == 0 || index < 0 || (uint32_t)index >= count) {
        snug_vk_close(vk);
        if (vr != VK_SUCCESS) return vk_fail(err, "vkEnumeratePhysicalDevices", vr);
        return snug_fail(err, SNUG_E_DEVICE, "no Vulkan device %d (the drivers found %u)", index, count);
    }
    VkPhysicalDevice devices[16];
    if (count > 16) count = 16;
    vr = f->vkEnumeratePhysicalDevices(vk->instance, &count, devices);
    if (vr < 0) {
        snug_vk_close(vk);
        return vk_fail(err, "vkEnumeratePhysicalDevices", vr);
    }
    vk->physical = devices[index];
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    f->vkGetPhysicalDeviceProperties2(vk->physical, &props);
    vk->limits = props.properties.limits;
    vk->max_allocation_bytes = m3.maxMemoryAllocationSize;
    snprintf(vk->name, sizeof vk->name, "%s", props.properties.deviceName);
    f->vkGetPhysicalDeviceMemoryProperties(vk->physical, &vk->memory);

    uint32_t n_families = 0;
    f->vkGetPhysicalDeviceQueueFamilyProperties(vk->physical, &n_families, NULL);
    VkQueueFamilyProperties families[16];
    if (n_families > 16) n_families = 16;
    f->vkGetPhysicalDeviceQueueFamilyProperties(vk->physical, &n_families, families);
    vk->queue_family = UINT32_MAX;
    for (uint32_t q = 0; q < n_families && vk->queue_family == UINT32_MAX; q++) {
        if (families[q].queueFlags & VK_QUEUE_COMPUTE_BIT) vk->queue_family = q;
    }
    if (vk->queue_family == UINT32_MAX) {
        snug_vk_close(vk);
        return snug_fail(err, SNUG_E_DEVICE, "Vulkan device %d (%s) has no compute queue", index, vk->name);
    }
    const float priority = 1.0f;
    const VkDeviceQueueCreateInfo queue = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                           .queueFamilyIndex = vk->queue_family,
                                           .queueCount = 1,
                                           .pQueuePriorities = &priority};
    const VkDeviceCreateInfo device_info = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .queueCreateInfoCount = 1, .pQueueCreateInfos = &queue};
    if ((vr = f->vkCreateDevice(vk->physical, &device_info, NULL, &vk->device)) != VK_SUCCESS) {
        snug_vk_close(vk);
        return vk_fail(err, "vkCreateDevice", vr);
    }
#define LOAD_DEVICE(type, name) f->name = (type)f->vkGetDeviceProcAddr(vk->device, #name);
    DEVICE_FNS(LOAD_DEVICE)
#undef LOAD_DEVICE
    DEVICE_FNS(CHECK)
#undef CHECK
    if (!ok) {
        snug_vk_close(vk);
        return snug_fail(err, SNUG_E_DEVICE, "the Vulkan driver lacks a device entry point");
    }
    f->vkGetDeviceQueue(vk->device, vk->queue_family, 0, &vk->queue);
    const VkCommandPoolCreateInfo pool = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                          .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                          .queueFamilyIndex = vk->queue_family};
    if ((vr = f->vkCreateCommandPool(vk->device, &pool, NULL, &vk->command_pool)) != VK_SUCCESS) {
        snug_vk_close(vk);
        return vk_fail(err, "vkCreateCommandPool", vr);
    }
    return SNUG_OK;
}

void snug_vk_close(snug_vk *vk) {
    snug_vk_fns *f = vk->fns;
    if (f && vk->device) {
        if (vk->command_pool) f->vkDestroyCommandPool(vk->device, vk->command_pool, NULL);
        f->vkDestroyDevice(vk->device, NULL);
    }
    if (f && vk->instance && f->vkDestroyInstance) {
        snug_vk_pin_drivers();
        f->vkDestroyInstance(vk->instance, NULL);
    }
    free(f);
    /* The loader stays open (probe.c: drivers keep what they allocated once). */
    memset(vk, 0, sizeof *vk);
}

snug_status snug_vk_buffer_create(snug_vk *vk, uint64_t bytes, snug_vk_buffer *out, snug_error *err) {
    snug_vk_fns *f = vk->fns;
    memset(out, 0, sizeof *out);
    if (bytes == 0 || bytes > vk->max_allocation_bytes) {
        return snug_fail(err, SNUG_E_OUT_OF_MEMORY,
                         "Vulkan: a buffer of %llu bytes on %s, whose largest allocation is %llu bytes",
                         (unsigned long long)bytes, vk->name, (unsigned long long)vk->max_allocation_bytes);
    }
    const VkBufferCreateInfo info = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                                     .size = bytes,
                                     .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                                     .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult vr = f->vkCreateBuffer(vk->device, &info, NULL, &out->buffer);
    if (vr != VK_SUCCESS) return vk_fail(err, "vkCreateBuffer", vr);
    VkMemoryRequirements req;
    f->vkGetBufferMemoryRequirements(vk->device, out->buffer, &req);
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t type = UINT32_MAX;
    for (uint32_t t = 0; t < vk->memory.memoryTypeCount && type == UINT32_MAX; t++) {
        if ((req.memoryTypeBits & (1u << t)) && (vk->memory.memoryTypes[t].propertyFlags & want) == want) type = t;
    }
    if (type == UINT32_MAX) {
        snug_vk_buffer_destroy(vk, out);
        return snug_fail(err, SNUG_E_DEVICE, "Vulkan: %s has no host-visible, coherent memory for a buffer", vk->name);
    }
    const VkMemoryAllocateInfo alloc = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size, .memoryTypeIndex = type};
    snug_vk_test_faults.allocations++;
    vr = injected(&snug_vk_test_faults.fail_allocation) ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                                                        : f->vkAllocateMemory(vk->device, &alloc, NULL, &out->memory);
    if (vr != VK_SUCCESS) {
        snug_vk_buffer_destroy(vk, out);
        snug_status st = vk_fail(err, "vkAllocateMemory", vr);
        snug_fail(err, st, "Vulkan: vkAllocateMemory of %llu bytes on %s failed (VkResult %d%s)",
                  (unsigned long long)req.size, vk->name, (int)vr,
                  st == SNUG_E_OUT_OF_MEMORY ? ": out of device memory" : "");
        return st;
    }
    if ((vr = f->vkBindBufferMemory(vk->device, out->buffer, out->memory, 0)) != VK_SUCCESS ||
        (vr = f->vkMapMemory(vk->device, out->memory, 0, VK_WHOLE_SIZE, 0, &out->mapped)) != VK_SUCCESS) {
        snug_vk_buffer_destroy(vk, out);
        return vk_fail(err, "binding or mapping a buffer", vr);
    }
    out->bytes = bytes;
    return SNUG_OK;
}

void snug_vk_buffer_destroy(snug_vk *vk, snug_vk_buffer *b) {
    snug_vk_fns *f = vk->fns;
    if (b->buffer) f->vkDestroyBuffer(vk->device, b->buffer, NULL);
    if (b->memory) f->vkFreeMemory(vk->device, b->memory, NULL); /* unmaps it */
    memset(b, 0, sizeof *b);
}

snug_status snug_vk_kernel_create(snug_vk *vk, const uint32_t *spirv, size_t spirv_bytes, uint32_t n_buffers,
                                  uint32_t push_bytes, const uint32_t *spec, uint32_t n_spec, snug_vk_kernel *out,
                                  snug_error *err) {
    snug_vk_fns *f = vk->fns;
    memset(out, 0, sizeof *out);
    out->n_buffers = n_buffers;
    out->push_bytes = push_bytes;
    enum { MAX_BINDINGS = SNUG_VK_MAX_BINDINGS, MAX_SPEC = 8 };
    if (n_buffers > MAX_BINDINGS || n_spec > MAX_SPEC)
        return snug_fail(err, SNUG_E_ARGUMENT, "a kernel of %u buffers and %u constants", n_buffers, n_spec);
    const VkShaderModuleCreateInfo module = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = spirv_bytes, .pCode = spirv};
    VkResult vr = f->vkCreateShaderModule(vk->device, &module, NULL, &out->module);
    VkDescriptorSetLayoutBinding bindings[MAX_BINDINGS];
    for (uint32_t i = 0; i < n_buffers; i++) {
        bindings[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                                     .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                     .descriptorCount = 1,
                                                     .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    }
    const VkDescriptorSetLayoutCreateInfo set_info = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = n_buffers, .pBindings = bindings};
    if (vr == VK_SUCCESS) vr = f->vkCreateDescriptorSetLayout(vk->device, &set_info, NULL, &out->set_layout);
    const VkPushConstantRange push = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = push_bytes};
    const VkPipelineLayoutCreateInfo layout = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                               .setLayoutCount = 1,
                                               .pSetLayouts = &out->set_layout,
                                               .pushConstantRangeCount = push_bytes ? 1 : 0,
                                               .pPushConstantRanges = &push};
    if (vr == VK_SUCCESS) vr = f->vkCreatePipelineLayout(vk->device, &layout, NULL, &out->layout);
    VkSpecializationMapEntry entries[MAX_SPEC];
    for (uint32_t i = 0; i < n_spec; i++) entries[i] = (VkSpecializationMapEntry){i, i * 4, 4};
    const VkSpecializationInfo specialization = {n_spec, entries, n_spec * 4u, spec};
    const VkComputePipelineCreateInfo pipeline = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = out->module,
                  .pName = "main",
                  .pSpecializationInfo = n_spec ? &specialization : NULL},
        .layout = out->layout};
    if (vr == VK_SUCCESS)
        vr = f->vkCreateComputePipelines(vk->device, VK_NULL_HANDLE, 1, &pipeline, NULL, &out->pipeline);
    if (vr != VK_SUCCESS) {
        snug_vk_kernel_destroy(vk, out);
        return vk_fail(err, "creating a compute pipeline", vr);
    }
    return SNUG_OK;
}

void snug_vk_kernel_destroy(snug_vk *vk, snug_vk_kernel *k) {
    snug_vk_fns *f = vk->fns;
    if (k->pipeline) f->vkDestroyPipeline(vk->device, k->pipeline, NULL);
    if (k->layout) f->vkDestroyPipelineLayout(vk->device, k->layout, NULL);
    if (k->set_layout) f->vkDestroyDescriptorSetLayout(vk->device, k->set_layout, NULL);
    if (k->module) f->vkDestroyShaderModule(vk->device, k->module, NULL);
    memset(k, 0, sizeof *k);
}

/* ---- streams: many dispatches, one submission ---------------------------------------------------------------- */

snug_status snug_vk_stream_create(snug_vk *vk, uint32_t max_dispatches, snug_vk_stream *out, snug_error *err) {
    snug_vk_fns *f = vk->fns;
    memset(out, 0, sizeof *out);
    out->max_dispatches = max_dispatches;
    const VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, max_dispatches * SNUG_VK_MAX_BINDINGS};
    const VkDescriptorPoolCreateInfo pool = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                             .maxSets = max_dispatches,
                                             .poolSizeCount = 1,
                                             .pPoolSizes = &size};
    VkResult vr = f->vkCreateDescriptorPool(vk->device, &pool, NULL, &out->pool);
    const VkCommandBufferAllocateInfo alloc = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                               .commandPool = vk->command_pool,
                                               .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                               .commandBufferCount = 1};
    if (vr == VK_SUCCESS) vr = f->vkAllocateCommandBuffers(vk->device, &alloc, &out->cmd);
    const VkFenceCreateInfo fence_info = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (vr == VK_SUCCESS) vr = f->vkCreateFence(vk->device, &fence_info, NULL, &out->fence);
    if (vr != VK_SUCCESS) {
        snug_vk_stream_destroy(vk, out);
        return vk_fail(err, "creating a command stream", vr);
    }
    return SNUG_OK;
}

void snug_vk_stream_destroy(snug_vk *vk, snug_vk_stream *s) {
    snug_vk_fns *f = vk->fns;
    if (!s->hung) {
        if (s->fence) f->vkDestroyFence(vk->device, s->fence, NULL);
        if (s->cmd) f->vkFreeCommandBuffers(vk->device, vk->command_pool, 1, &s->cmd);
        if (s->pool) f->vkDestroyDescriptorPool(vk->device, s->pool, NULL);
    } /* else: the device may still run the work; what it uses goes with the device (snug_vk_close) */
    memset(s, 0, sizeof *s);
}

snug_status snug_vk_stream_begin(snug_vk *vk, snug_vk_stream *s, snug_error *err) {
    snug_vk_fns *f = vk->fns;
    if (s->hung) return snug_fail(err, SNUG_E_DEVICE, "Vulkan: %s did not finish earlier work", vk->name);
    s->n_dispatches = 0;
    VkResult vr = f->vkResetDescriptorPool(vk->device, s->pool, 0);
    const VkCommandBufferBeginInfo begin = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                            .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if (vr == VK_SUCCESS) vr = f->vkResetCommandBuffer(s->cmd, 0);
    if (vr == VK_SUCCESS) vr = f->vkBeginCommandBuffer(s->cmd, &begin);
    if (vr != VK_SUCCESS) return vk_fail(err, "starting a command buffer", vr);
    s->recording = true;
    return SNUG_OK;
}

snug_status snug_vk_dispatch(snug_vk *vk, snug_vk_stream *s, const snug_vk_kernel *k,
                             const snug_vk_buffer *const *buffers, const void *push, uint64_t groups, snug_error *err) {
    snug_vk_fns *f = vk->fns;
    if (!s->recording || s->n_dispatches == s->max_dispatches) {
        return snug_fail(err, SNUG_E_INTERNAL, "Vulkan: dispatch %u of a stream planned for %u", s->n_dispatches + 1,
                         s->max_dispatches);
    }
    /* Past maxComputeWorkGroupCount[0] the groups go in rows of that many (the kernels read their linear index as
     * x + width · y: shaders.h). */
    const uint64_t width_limit = vk->limits.maxComputeWorkGroupCount[0];
    const uint64_t width = groups < width_limit ? groups : width_limit, height = (groups + width - 1) / width;
    if (groups == 0 || height > vk->limits.maxComputeWorkGroupCount[1]) {
        return snug_fail(err, SNUG_E_INTERNAL, "Vulkan: a dispatch of %llu workgroups", (unsigned long long)groups);
    }
    VkDescriptorSet set = VK_NULL_HANDLE;
    const VkDescriptorSetAllocateInfo alloc = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                               .descriptorPool = s->pool,
                                               .descriptorSetCount = 1,
                                               .pSetLayouts = &k->set_layout};
    VkResult vr = f->vkAllocateDescriptorSets(vk->device, &alloc, &set);
    if (vr != VK_SUCCESS) return vk_fail(err, "allocating a descriptor set", vr);
    VkDescriptorBufferInfo infos[SNUG_VK_MAX_BINDINGS];
    VkWriteDescriptorSet writes[SNUG_VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < k->n_buffers; i++) {
        infos[i] = (VkDescriptorBufferInfo){buffers[i]->buffer, 0, VK_WHOLE_SIZE};
        writes[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                           .dstSet = set,
                                           .dstBinding = i,
                                           .descriptorCount = 1,
                                           .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                           .pBufferInfo = &infos[i]};
    }
    f->vkUpdateDescriptorSets(vk->device, k->n_buffers, writes, 0, NULL);
    f->vkCmdBindPipeline(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->pipeline);
    f->vkCmdBindDescriptorSets(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1, &set, 0, NULL);
    if (k->push_bytes) f->vkCmdPushConstants(s->cmd, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, k->push_bytes, push);
    f->vkCmdDispatch(s->cmd, (uint32_t)width, (uint32_t)height, 1);
    /* Every dispatch reads what the previous ones wrote: a full compute-to-compute (and host) barrier after each. */
    const VkMemoryBarrier barrier = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                                     .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                                     .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                                      VK_ACCESS_HOST_READ_BIT};
    f->vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0, NULL,
                            0, NULL);
    s->n_dispatches++;
    return SNUG_OK;
}

snug_status snug_vk_stream_submit(snug_vk *vk, snug_vk_stream *s, snug_error *err) {
    snug_vk_fns *f = vk->fns;
    if (!s->recording) return snug_fail(err, SNUG_E_INTERNAL, "Vulkan: submitting a stream that records nothing");
    s->recording = false;
    VkResult vr = f->vkEndCommandBuffer(s->cmd);
    if (vr != VK_SUCCESS) return vk_fail(err, "recording dispatches", vr);
    const VkSubmitInfo submit = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &s->cmd};
    if ((vr = f->vkResetFences(vk->device, 1, &s->fence)) != VK_SUCCESS) return vk_fail(err, "vkResetFences", vr);
    vr = injected(&snug_vk_test_faults.fail_submit) ? VK_ERROR_DEVICE_LOST
                                                    : f->vkQueueSubmit(vk->queue, 1, &submit, s->fence);
    if (vr != VK_SUCCESS) return vk_fail(err, "vkQueueSubmit", vr);
    vr = f->vkWaitForFences(vk->device, 1, &s->fence, VK_TRUE, FENCE_TIMEOUT_NS);
    if (vr == VK_TIMEOUT) {
        s->hung = true;
        return snug_fail(err, SNUG_E_DEVICE, "Vulkan: work on %s did not finish within %llu s", vk->name,
                         (unsigned long long)(FENCE_TIMEOUT_NS / 1000000000ull));
    }
    return vr == VK_SUCCESS ? SNUG_OK : vk_fail(err, "waiting for the device (vkWaitForFences)", vr);
}

snug_status snug_vk_run(snug_vk *vk, snug_vk_kernel *k, snug_vk_buffer *const *buffers, const void *push,
                        uint32_t groups_x, snug_error *err) {
    snug_vk_stream s;
    snug_status st = snug_vk_stream_create(vk, 1, &s, err);
    if (st != SNUG_OK) return st;
    if ((st = snug_vk_stream_begin(vk, &s, err)) == SNUG_OK &&
        (st = snug_vk_dispatch(vk, &s, k, (const snug_vk_buffer *const *)buffers, push, groups_x, err)) == SNUG_OK)
        st = snug_vk_stream_submit(vk, &s, err);
    snug_vk_stream_destroy(vk, &s);
    return st;
}
