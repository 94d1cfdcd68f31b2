// rmsnorm.comp — out = x · (1 / sqrt(mean(x²) + eps)) · w for each row of n floats. One workgroup per row (linear
// workgroup index = row): the invocations stride over the row summing squares in f32, reduce the sums through shared
// memory with a tree, then scale their own elements.
//
// bindings: 0 = X (float; row r at X[r·n]), 1 = W (float, n: one weight vector for every row),
//           2 = OUT (float; same layout as X). OUT may be the same buffer as X (in place, e.g. per-head norms): no
//           `restrict`, and each element is read and then written by the one invocation that owns it, all reads of the
//           sum pass finished (barrier) before any write.
//           3 = STATUS (uint): a row whose sum of squares is not finite in f32 (its output would be 0·x: finite, and
//           garbage) sets STATUS[0] = min(STATUS[0], fault_code + row / rows_per_token): the host names the stage
//           and the token of the earliest fault (vulkan/backend.c).
// push:     uint n, uint n_rows, float eps, uint fault_code, uint rows_per_token.
// spec:     0 = WORKGROUP (local_size_x; a power of two, 32..256).
// shared:   float sums[WORKGROUP] — WORKGROUP·4 bytes (shaders.h, snug_vk_rmsnorm_shared_bytes).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint WORKGROUP = 64;
layout(local_size_x_id = 0) in;

layout(binding = 0) buffer Input { float x[]; };
layout(binding = 1) readonly buffer Weight { float weight[]; };
layout(binding = 2) buffer Output { float out_[]; };
layout(binding = 3) buffer Status { uint status[]; };
layout(push_constant) uniform Shape {
    uint n;
    uint n_rows;
    float eps;
    uint fault_code;
    uint rows_per_token;
} shape;

shared float sums[WORKGROUP];

void main() {
    const uint row = linear_group();
    const uint lane = gl_LocalInvocationID.x;
    if (row >= shape.n_rows) return; // the whole workgroup: no barrier is left waiting
    const uint start = row * shape.n;
    float sum = 0.0;
    for (uint i = lane; i < shape.n; i += WORKGROUP) {
        float v = x[start + i];
        sum += v * v;
    }
    sums[lane] = sum;
    barrier();
    for (uint stride = WORKGROUP / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) sums[lane] += sums[lane + stride];
        barrier();
    }
    if (lane == 0u && (isinf(sums[0]) || isnan(sums[0])))
        atomicMin(status[0], shape.fault_code + row / shape.rows_per_token);
    const float inv_rms = 1.0 / sqrt(sums[0] / float(shape.n) + shape.eps);
    for (uint i = lane; i < shape.n; i += WORKGROUP) out_[start + i] = x[start + i] * inv_rms * weight[i];
}
