// add.comp — A[i] += B[i % b_count]: a residual add (b_count = count) or a bias broadcast over rows (b_count = the
// row length). One invocation per element of A.
//
// bindings: 0 = A (float, in/out), 1 = B (float, b_count).
// push:     uint count, uint b_count.
// spec:     0 = WORKGROUP (local_size_x). Dispatch ceil(count / WORKGROUP) groups.
// shared:   none.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint WORKGROUP = 64;
layout(local_size_x_id = 0) in;

layout(binding = 0) buffer Sum { float a[]; };
layout(binding = 1) readonly buffer Addend { float b[]; };
layout(push_constant) uniform Shape {
    uint count;
    uint b_count;
} shape;

void main() {
    const uint i = linear_group() * WORKGROUP + gl_LocalInvocationID.x;
    if (i >= shape.count) return;
    a[i] += b[i % shape.b_count];
}
