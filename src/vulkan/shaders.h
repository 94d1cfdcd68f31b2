/* shaders.h — the embedded compute kernels: SPIR-V compiled by glslc at build time from src/vulkan/shaders/NAME.comp
 * into build/shaders/NAME.inc (a C initializer of 32-bit words) and defined in shaders.c. Each kernel's bindings, push
 * constants, specialization constants and shared memory are described at the top of its .comp file. */
#ifndef SNUG_VULKAN_SHADERS_H
#define SNUG_VULKAN_SHADERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct snug_vk_spirv {
    const uint32_t *words;
    size_t bytes;
} snug_vk_spirv;

/* X(name) for every embedded kernel. */
#define SNUG_VK_SHADERS(X)                                                                                             \
    X(matvec_f32)

#define SNUG_VK_DECLARE(name) extern const snug_vk_spirv snug_vk_shader_##name;
SNUG_VK_SHADERS(SNUG_VK_DECLARE)
#undef SNUG_VK_DECLARE

#endif
