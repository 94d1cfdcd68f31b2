/* shaders.c — the embedded SPIR-V of every kernel listed in shaders.h. */
#include "vulkan/shaders.h"

/* One kernel's SPIR-V, as glslc -mfmt=c writes it (an initializer list). */

static const uint32_t matmul_f32_words[] =
#include "shaders/matmul_f32.inc"
    ;
const snug_vk_spirv snug_vk_shader_matmul_f32 = {matmul_f32_words, sizeof matmul_f32_words};

static const uint32_t matmul_f16_words[] =
#include "shaders/matmul_f16.inc"
    ;
const snug_vk_spirv snug_vk_shader_matmul_f16 = {matmul_f16_words, sizeof matmul_f16_words};

static const uint32_t matmul_q8_0_words[] =
#include "shaders/matmul_q8_0.inc"
    ;
const snug_vk_spirv snug_vk_shader_matmul_q8_0 = {matmul_q8_0_words, sizeof matmul_q8_0_words};

static const uint32_t matmul_q4_0_words[] =
#include "shaders/matmul_q4_0.inc"
    ;
const snug_vk_spirv snug_vk_shader_matmul_q4_0 = {matmul_q4_0_words, sizeof matmul_q4_0_words};

static const uint32_t matmul_q4_k_words[] =
#include "shaders/matmul_q4_k.inc"
    ;
const snug_vk_spirv snug_vk_shader_matmul_q4_k = {matmul_q4_k_words, sizeof matmul_q4_k_words};

static const uint32_t matmul_q6_k_words[] =
#include "shaders/matmul_q6_k.inc"
    ;
const snug_vk_spirv snug_vk_shader_matmul_q6_k = {matmul_q6_k_words, sizeof matmul_q6_k_words};

static const uint32_t rmsnorm_words[] =
#include "shaders/rmsnorm.inc"
    ;
const snug_vk_spirv snug_vk_shader_rmsnorm = {rmsnorm_words, sizeof rmsnorm_words};

static const uint32_t rope_words[] =
#include "shaders/rope.inc"
    ;
const snug_vk_spirv snug_vk_shader_rope = {rope_words, sizeof rope_words};

static const uint32_t swiglu_words[] =
#include "shaders/swiglu.inc"
    ;
const snug_vk_spirv snug_vk_shader_swiglu = {swiglu_words, sizeof swiglu_words};

static const uint32_t add_words[] =
#include "shaders/add.inc"
    ;
const snug_vk_spirv snug_vk_shader_add = {add_words, sizeof add_words};

static const uint32_t kv_store_f32_words[] =
#include "shaders/kv_store_f32.inc"
    ;
const snug_vk_spirv snug_vk_shader_kv_store_f32 = {kv_store_f32_words, sizeof kv_store_f32_words};

static const uint32_t kv_store_f16_words[] =
#include "shaders/kv_store_f16.inc"
    ;
const snug_vk_spirv snug_vk_shader_kv_store_f16 = {kv_store_f16_words, sizeof kv_store_f16_words};

static const uint32_t kv_store_q8_0_words[] =
#include "shaders/kv_store_q8_0.inc"
    ;
const snug_vk_spirv snug_vk_shader_kv_store_q8_0 = {kv_store_q8_0_words, sizeof kv_store_q8_0_words};

static const uint32_t attention_f32_words[] =
#include "shaders/attention_f32.inc"
    ;
const snug_vk_spirv snug_vk_shader_attention_f32 = {attention_f32_words, sizeof attention_f32_words};

static const uint32_t attention_f16_words[] =
#include "shaders/attention_f16.inc"
    ;
const snug_vk_spirv snug_vk_shader_attention_f16 = {attention_f16_words, sizeof attention_f16_words};

static const uint32_t attention_q8_0_words[] =
#include "shaders/attention_q8_0.inc"
    ;
const snug_vk_spirv snug_vk_shader_attention_q8_0 = {attention_q8_0_words, sizeof attention_q8_0_words};
