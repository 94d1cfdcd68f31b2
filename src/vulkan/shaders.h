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
    X(matmul_f32)                                                                                                      \
    X(matmul_f16)                                                                                                      \
    X(matmul_q8_0)                                                                                                     \
    X(matmul_q4_0)                                                                                                     \
    X(matmul_q4_k)                                                                                                     \
    X(matmul_q6_k)                                                                                                     \
    X(rmsnorm)                                                                                                         \
    X(rope)                                                                                                            \
    X(swiglu)                                                                                                          \
    X(add)                                                                                                             \
    X(kv_store_f32)                                                                                                    \
    X(kv_store_f16)                                                                                                    \
    X(kv_store_q8_0)                                                                                                   \
    X(attention_f32)                                                                                                   \
    X(attention_f16)                                                                                                   \
    X(attention_q8_0)

#define SNUG_VK_DECLARE(name) extern const snug_vk_spirv snug_vk_shader_##name;
SNUG_VK_SHADERS(SNUG_VK_DECLARE)
#undef SNUG_VK_DECLARE

/* Shared memory of the kernels whose workgroup size (and so shared memory) the caller picks through specialization
 * constants; the caller keeps them under the device's maxComputeSharedMemorySize. */

/* matmul_*: float partial[WORKGROUP · TOKENS] — one partial sum per invocation and token of a pass (spec 0, 1). */
static inline uint64_t snug_vk_matmul_shared_bytes(uint32_t workgroup, uint32_t tokens) {
    return (uint64_t)workgroup * tokens * 4u;
}

/* rmsnorm: float sums[WORKGROUP] (spec 0). */
static inline uint64_t snug_vk_rmsnorm_shared_bytes(uint32_t workgroup) { return (uint64_t)workgroup * 4u; }

/* attention_*: the K and V tiles, each TILE · HEAD_DIM elements staged as `kv_element_bytes` each — 4 for F32 and
 * Q8_0 caches (decoded to float), 2 for F16 caches (two halves a uint) — plus TILE float scores and the HEAD_DIM
 * floats of the query row (spec 1 = tile, spec 2 = head_dim). */
static inline uint64_t snug_vk_attention_shared_bytes(uint32_t kv_element_bytes, uint32_t tile, uint32_t head_dim) {
    return 2u * (uint64_t)tile * head_dim * kv_element_bytes + 4u * (uint64_t)tile + 4u * (uint64_t)head_dim;
}

#endif
