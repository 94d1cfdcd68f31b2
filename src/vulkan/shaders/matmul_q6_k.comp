// matmul_q6_k.comp — Y = W·X for Q6_K weights (the interface, shared memory and method: matmul.glsl).
#version 450
#define TYPE_Q6_K
#extension GL_GOOGLE_include_directive : require
#include "matmul.glsl"
