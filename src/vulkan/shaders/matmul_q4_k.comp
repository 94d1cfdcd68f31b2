// matmul_q4_k.comp — Y = W·X for Q4_K weights (the interface, shared memory and method: matmul.glsl).
#version 450
#define TYPE_Q4_K
#extension GL_GOOGLE_include_directive : require
#include "matmul.glsl"
