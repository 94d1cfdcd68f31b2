/* probe_none.c — snug_vulkan_probe when snug is built without the Vulkan headers (libvulkan-dev): no devices. */
#include <stdio.h>

#include "snug.h"

snug_status snug_vulkan_probe(snug_vulkan_device *out, size_t cap, size_t *n_devices, char *why, size_t why_cap,
                              snug_error *err) {
    (void)out;
    (void)cap;
    (void)err;
    *n_devices = 0;
    if (why && why_cap)
        snprintf(why, why_cap, "snug was built without the Vulkan headers (apt-get install libvulkan-dev)");
    return SNUG_OK;
}
