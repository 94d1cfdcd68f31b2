// matvec_f32.comp — y = W x for an F32 matrix: one workgroup a row, its invocations striding over the row, their
// partial sums reduced in shared memory. Shared memory: WORKGROUP floats (specialization constant 0), which the
// caller chooses under the device's maxComputeSharedMemorySize (runtime.h, snug_vk_matvec_f32_shared_bytes).
#version 450

layout(constant_id = 0) const uint WORKGROUP = 64;
layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer Weights { float w[]; };
layout(binding = 1) readonly buffer Input { float x[]; };
layout(binding = 2) writeonly buffer Output { float y[]; };
layout(push_constant) uniform Shape {
    uint n_in;
    uint n_out;
} shape;

shared float partial[WORKGROUP];

void main() {
    const uint row = gl_WorkGroupID.x;
    const uint lane = gl_LocalInvocationID.x;
    float sum = 0.0;
    if (row < shape.n_out) {
        for (uint i = lane; i < shape.n_in; i += WORKGROUP) sum += w[row * shape.n_in + i] * x[i];
    }
    partial[lane] = sum;
    barrier();
    // Tree reduction; WORKGROUP is a power of two (the planner's choice).
    for (uint stride = WORKGROUP / 2; stride > 0; stride /= 2) {
        if (lane < stride) partial[lane] += partial[lane + stride];
        barrier();
    }
    if (lane == 0 && row < shape.n_out) y[row] = partial[0];
}
