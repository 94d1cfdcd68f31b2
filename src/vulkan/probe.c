/* probe.c — the Vulkan devices of this machine, as the planner will need them (snug_vulkan_probe, include/snug.h).
 *
 * libvulkan (the loader) is opened with dlopen when a probe runs, never linked: creating an instance loads every
 * installed driver — lavapipe brings LLVM — and a `snug run` on the CPU must not carry those pages in its resident
 * memory (the plan counts what the process holds). Every Vulkan call's result is checked; a machine without the
 * loader, without a driver or without a device is "no Vulkan device", with the reason, never an error of the
 * program. What is read for each device: its name, driver, type, heaps (size, flags; the budget from
 * VK_EXT_memory_budget when the driver has it), maxComputeSharedMemorySize, workgroup limits, subgroup size,
 * maxStorageBufferRange, maxMemoryAllocationSize, 16- and 8-bit storage, float16 and int8 arithmetic.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vulkan.h>

#include "base/error.h"
#include "snug.h"
#include "vulkan/runtime.h"

/* The loader's soname (Debian's libvulkan1). */
#define VULKAN_LOADER "libvulkan.so.1"

typedef struct loader_fns {
    PFN_vkGetInstanceProcAddr get_instance_proc;
    PFN_vkCreateInstance create_instance;
    PFN_vkEnumerateInstanceVersion instance_version;
    PFN_vkDestroyInstance destroy_instance;
    PFN_vkEnumeratePhysicalDevices enumerate_devices;
    PFN_vkGetPhysicalDeviceProperties2 properties2;
    PFN_vkGetPhysicalDeviceMemoryProperties2 memory_properties2;
    PFN_vkGetPhysicalDeviceFeatures2 features2;
    PFN_vkEnumerateDeviceExtensionProperties device_extensions;
} loader_fns;

static const char *type_name(VkPhysicalDeviceType type) {
    switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

static bool has_extension(const loader_fns *f, VkPhysicalDevice device, const char *name) {
    uint32_t n = 0;
    if (f->device_extensions(device, NULL, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties *all = calloc(n, sizeof *all);
    if (!all) return false;
    bool found = false;
    if (f->device_extensions(device, NULL, &n, all) == VK_SUCCESS) {
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(all[i].extensionName, name) == 0;
    }
    free(all);
    return found;
}

static void describe_device(const loader_fns *f, VkPhysicalDevice device, snug_vulkan_device *out) {
    memset(out, 0, sizeof *out);
    VkPhysicalDeviceSubgroupProperties subgroup = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceDriverProperties driver = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
                                               .pNext = &subgroup};
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &driver};
    f->properties2(device, &props);
    const VkPhysicalDeviceLimits *l = &props.properties.limits;
    snprintf(out->name, sizeof out->name, "%s", props.properties.deviceName);
    snprintf(out->driver, sizeof out->driver, "%.120s %.190s", driver.driverName, driver.driverInfo);
    out->type = type_name(props.properties.deviceType);
    out->api_version_major = (int32_t)VK_API_VERSION_MAJOR(props.properties.apiVersion);
    out->api_version_minor = (int32_t)VK_API_VERSION_MINOR(props.properties.apiVersion);
    out->max_compute_shared_memory_bytes = l->maxComputeSharedMemorySize;
    out->max_workgroup_invocations = l->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) out->max_workgroup_size[i] = l->maxComputeWorkGroupSize[i];
    out->subgroup_size = subgroup.subgroupSize;
    out->max_storage_buffer_range_bytes = l->maxStorageBufferRange;

    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 props_m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    f->properties2(device, &props_m3);
    out->max_allocation_bytes = m3.maxMemoryAllocationSize;

    VkPhysicalDevice8BitStorageFeatures storage8 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
    VkPhysicalDevice16BitStorageFeatures storage16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
                                                      .pNext = &storage8};
    VkPhysicalDeviceShaderFloat16Int8Features arith = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES, .pNext = &storage16};
    VkPhysicalDeviceFeatures2 features = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &arith};
    f->features2(device, &features);
    out->storage_16bit = storage16.storageBuffer16BitAccess == VK_TRUE;
    out->storage_8bit = storage8.storageBuffer8BitAccess == VK_TRUE;
    out->float16 = arith.shaderFloat16 == VK_TRUE;
    out->int8 = arith.shaderInt8 == VK_TRUE;

    const bool budget = has_extension(f, device, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budgets = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 memory = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
                                                .pNext = budget ? &budgets : NULL};
    f->memory_properties2(device, &memory);
    const VkPhysicalDeviceMemoryProperties *mp = &memory.memoryProperties;
    out->n_heaps = mp->memoryHeapCount < SNUG_VULKAN_MAX_HEAPS ? (int32_t)mp->memoryHeapCount : SNUG_VULKAN_MAX_HEAPS;
    out->has_budget = budget;
    for (int32_t h = 0; h < out->n_heaps; h++) {
        snug_vulkan_heap *heap = &out->heaps[h];
        heap->bytes = mp->memoryHeaps[h].size;
        heap->device_local = (mp->memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
        heap->budget_bytes = budget ? budgets.heapBudget[h] : 0;
        /* Host-visible when a memory type of this heap is: a device-local heap the host sees is unified memory. */
        for (uint32_t t = 0; t < mp->memoryTypeCount; t++) {
            if (mp->memoryTypes[t].heapIndex != (uint32_t)h) continue;
            heap->host_visible |= (mp->memoryTypes[t].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) != 0;
        }
        heap->unified = heap->device_local && heap->host_visible;
    }
}

/* Pins every shared object now loaded (the drivers the loader opened among them) for the process's life: a driver
 * the loader unloads at vkDestroyInstance strands what it allocated once — lavapipe allocates a table in a
 * pthread_once during vkEnumeratePhysicalDevices, 128 bytes that LeakSanitizer then reports from an unloaded module —
 * and a backend would load the same drivers again. */
static int pin_object(struct dl_phdr_info *info, size_t size, void *unused) {
    (void)size;
    (void)unused;
    if (info->dlpi_name && info->dlpi_name[0]) (void)dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    return 0;
}

void snug_vk_pin_drivers(void) { dl_iterate_phdr(pin_object, NULL); }

snug_status snug_vulkan_probe(snug_vulkan_device *out, size_t cap, size_t *n_devices, char *why, size_t why_cap,
                              snug_error *err) {
    *n_devices = 0;
    if (why && why_cap) why[0] = '\0';
    void *lib = dlopen(VULKAN_LOADER, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        if (why) snprintf(why, why_cap, "no Vulkan loader (%s: apt-get install libvulkan1)", VULKAN_LOADER);
        return SNUG_OK;
    }
    loader_fns f = {0};
    *(void **)&f.get_instance_proc = dlsym(lib, "vkGetInstanceProcAddr");
    if (!f.get_instance_proc) {
        if (why) snprintf(why, why_cap, "%s has no vkGetInstanceProcAddr", VULKAN_LOADER);
        dlclose(lib);
        return SNUG_OK;
    }
    f.create_instance = (PFN_vkCreateInstance)f.get_instance_proc(NULL, "vkCreateInstance");
    f.instance_version = (PFN_vkEnumerateInstanceVersion)f.get_instance_proc(NULL, "vkEnumerateInstanceVersion");
    uint32_t version = VK_API_VERSION_1_0;
    if (f.instance_version && f.instance_version(&version) != VK_SUCCESS) version = VK_API_VERSION_1_0;
    if (!f.create_instance || version < VK_API_VERSION_1_2) {
        if (why) snprintf(why, why_cap, "the Vulkan loader is older than 1.2");
        dlclose(lib);
        return SNUG_OK;
    }
    const VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "snug", .apiVersion = VK_API_VERSION_1_2};
    const VkInstanceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    VkInstance instance;
    VkResult vr = f.create_instance(&info, NULL, &instance);
    if (vr != VK_SUCCESS) {
        if (why) snprintf(why, why_cap, "vkCreateInstance failed (VkResult %d): no Vulkan driver", (int)vr);
        dlclose(lib);
        return SNUG_OK;
    }
#define LOAD(field, name) *(void **)&f.field = (void *)f.get_instance_proc(instance, name)
    LOAD(destroy_instance, "vkDestroyInstance");
    LOAD(enumerate_devices, "vkEnumeratePhysicalDevices");
    LOAD(properties2, "vkGetPhysicalDeviceProperties2");
    LOAD(memory_properties2, "vkGetPhysicalDeviceMemoryProperties2");
    LOAD(features2, "vkGetPhysicalDeviceFeatures2");
    LOAD(device_extensions, "vkEnumerateDeviceExtensionProperties");
#undef LOAD
    snug_status st = SNUG_OK;
    if (!f.destroy_instance || !f.enumerate_devices || !f.properties2 || !f.memory_properties2 || !f.features2 ||
        !f.device_extensions) {
        if (why) snprintf(why, why_cap, "the Vulkan loader lacks a Vulkan 1.2 entry point");
    } else {
        uint32_t count = 0;
        vr = f.enumerate_devices(instance, &count, NULL);
        VkPhysicalDevice *devices = vr == VK_SUCCESS && count ? calloc(count, sizeof *devices) : NULL;
        if (vr != VK_SUCCESS) {
            if (why) snprintf(why, why_cap, "vkEnumeratePhysicalDevices failed (VkResult %d)", (int)vr);
        } else if (count == 0) {
            if (why) snprintf(why, why_cap, "the Vulkan drivers found no device");
        } else if (!devices) {
            st = snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory for %u Vulkan devices", count);
        } else if ((vr = f.enumerate_devices(instance, &count, devices)) < 0) {
            if (why) snprintf(why, why_cap, "vkEnumeratePhysicalDevices failed (VkResult %d)", (int)vr);
        } else {
            for (uint32_t i = 0; i < count && *n_devices < cap; i++)
                describe_device(&f, devices[i], &out[(*n_devices)++]);
        }
        free(devices);
    }
    snug_vk_pin_drivers();
    if (f.destroy_instance) f.destroy_instance(instance, NULL);
    /* The loader stays open: drivers may keep threads or atexit handlers that point into it. */
    return st;
}
