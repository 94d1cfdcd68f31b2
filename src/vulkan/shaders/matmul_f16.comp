// matmul_f16.comp — Y = W·X for F16 weights (the interface, shared memory and method: matmul.glsl).
#version 450
#define TYPE_F16
#extension GL_GOOGLE_include_directive : require
#include "matmul.glsl"
