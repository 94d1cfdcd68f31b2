// matmul_q8_0.comp — Y = W·X for Q8_0 weights (the interface, shared memory and method: matmul.glsl).
#version 450
#define TYPE_Q8_0
#extension GL_GOOGLE_include_directive : require
#include "matmul.glsl"
