/* shaders.c — the embedded SPIR-V of every kernel listed in shaders.h. */
#include "vulkan/shaders.h"

/* One kernel's SPIR-V, as glslc -mfmt=c writes it (an initializer list). */
static const uint32_t matvec_f32_words[] =
#include "shaders/matvec_f32.inc"
    ;
const snug_vk_spirv snug_vk_shader_matvec_f32 = {matvec_f32_words, sizeof matvec_f32_words};
