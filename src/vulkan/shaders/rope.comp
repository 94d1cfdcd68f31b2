// rope.comp — rotary position embedding, in place, with the cos/sin table computed by the host. One invocation per
// (token t, head h, pair i < n_rot/2); dimensions at and past n_rot are left as they are. The rotation is the CPU's
// (src/cpu/ops.c, rotate_heads): x0' = x0·c − x1·s, x1' = x0·s + x1·c.
//
// bindings: 0 = DATA (float; token t, head h at DATA[t·row_stride + h·head_dim]),
//           1 = CS (float; token t, pair i: cos at CS[(t·(n_rot/2) + i)·2], sin at the next float).
// push:     uint n_heads, head_dim, n_rot, mode (0: pairs (2i, 2i + 1); 2: NeoX, pairs (i, i + n_rot/2)), n_tokens,
//           row_stride.
// spec:     0 = WORKGROUP (local_size_x). Dispatch ceil(n_tokens·n_heads·n_rot/2 / WORKGROUP) groups.
// shared:   none.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint WORKGROUP = 64;
layout(local_size_x_id = 0) in;

layout(binding = 0) buffer Data { float data[]; };
layout(binding = 1) readonly buffer CosSin { float cs[]; };
layout(push_constant) uniform Shape {
    uint n_heads;
    uint head_dim;
    uint n_rot;
    uint mode;
    uint n_tokens;
    uint row_stride;
} shape;

const uint ROPE_NEOX = 2u; // the mode number llama.cpp (and snug_rope_params) give NeoX-style rotation

void main() {
    const uint half_rot = shape.n_rot / 2u;
    const uint index = linear_group() * WORKGROUP + gl_LocalInvocationID.x;
    if (index >= shape.n_tokens * shape.n_heads * half_rot) return;
    const uint i = index % half_rot;
    const uint h = (index / half_rot) % shape.n_heads;
    const uint t = index / (half_rot * shape.n_heads);
    const uint head = t * shape.row_stride + h * shape.head_dim;
    const uint a = head + (shape.mode == ROPE_NEOX ? i : 2u * i);
    const uint b = head + (shape.mode == ROPE_NEOX ? i + half_rot : 2u * i + 1u);
    const float c = cs[(t * half_rot + i) * 2u], s = cs[(t * half_rot + i) * 2u + 1u];
    const float x0 = data[a], x1 = data[b];
    data[a] = x0 * c - x1 * s;
    data[b] = x0 * s + x1 * c;
}
