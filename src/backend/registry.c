/* registry.c — which backend runs which device, and the engine's own buffers: the one place that names the
 * implementations (the composition root), so that the planner includes only backend/backend.h. */
#include "backend/backend.h"

#include "cpu/backend.h"
#include "engine/context_buffers.h"
#include "plan/device.h"
#ifdef SNUG_HAVE_VULKAN
#include "vulkan/backend.h"
#endif

const snug_backend_ops *snug_backend_for_device(int device_kind) {
    switch (device_kind) {
    case SNUG_DEVICE_CPU: return &snug_backend_cpu;
#ifdef SNUG_HAVE_VULKAN
    case SNUG_DEVICE_VULKAN: return &snug_backend_vulkan;
#endif
    default: return NULL;
    }
}

size_t snug_engine_buffers(const snug_backend_shape *shape, snug_buffer_need *out, size_t cap) {
    return snug_context_buffers(shape, out, cap);
}
