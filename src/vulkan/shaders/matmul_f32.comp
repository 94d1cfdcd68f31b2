// matmul_f32.comp — Y = W·X for F32 weights (the interface, shared memory and method: matmul.glsl).
#version 450
#define TYPE_F32
#extension GL_GOOGLE_include_directive : require
#include "matmul.glsl"
