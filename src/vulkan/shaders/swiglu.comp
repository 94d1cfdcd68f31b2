// swiglu.comp — G[i] = G[i] / (1 + exp(−G[i])) · U[i] (SiLU of the gate times the up projection), in place in G, as
// the CPU's snug_swiglu. One invocation per element.
//
// bindings: 0 = G (float, in/out), 1 = U (float).
// push:     uint count.
// spec:     0 = WORKGROUP (local_size_x). Dispatch ceil(count / WORKGROUP) groups.
// shared:   none.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint WORKGROUP = 64;
layout(local_size_x_id = 0) in;

layout(binding = 0) buffer Gate { float gate[]; };
layout(binding = 1) readonly buffer Up { float up[]; };
layout(push_constant) uniform Shape { uint count; } shape;

void main() {
    const uint i = linear_group() * WORKGROUP + gl_LocalInvocationID.x;
    if (i >= shape.count) return;
    const float g = gate[i];
    gate[i] = g / (1.0 + exp(-g)) * up[i];
}
