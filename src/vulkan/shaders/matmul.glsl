// matmul.glsl — Y = W·X for a piece of a weight matrix and a batch of tokens; matmul_TYPE.comp defines TYPE_* and
// includes this. One workgroup per row of W (linear workgroup index = row). The row is cut into units (a few elements
// of one block, see below); invocations stride over the units, each dequantizing a unit once per pass and keeping
// TOKENS partial sums (a pass covers tokens [p, p + TOKENS)), which are reduced through shared memory with a tree;
// passes repeat until n_tokens are covered. Weights are dequantized exactly (scale as f32 times the integer level)
// and everything is accumulated in f32.
//
// bindings: 0 = W (uint words; row r starts at byte r·row_bytes — any byte, rows need not be word-aligned except for
//               F32, whose rows are 4·n_in bytes), 1 = X (float; token t's input at X[t·n_in + i]),
//           2 = Y (float; Y[t·y_stride + y_offset + r]).
// push:     uint n_in, n_rows, row_bytes, n_tokens, y_stride, y_offset.
// spec:     0 = WORKGROUP (local_size_x; a power of two, 32..256), 1 = TOKENS (sums held per invocation, 1..8).
// shared:   float partial[WORKGROUP·TOKENS] — WORKGROUP·TOKENS·4 bytes (shaders.h, snug_vk_matmul_shared_bytes).
// n_in must be a multiple of the type's block (32 for Q8_0/Q4_0, 256 for Q4_K/Q6_K); any n_in for F32/F16.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint WORKGROUP = 64;
layout(constant_id = 1) const uint TOKENS = 4;
layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer Weights { uint w[]; };
layout(binding = 1) readonly buffer Input { float x[]; };
layout(binding = 2) writeonly buffer Output { float y[]; };
layout(push_constant) uniform Shape {
    uint n_in;
    uint n_rows;
    uint row_bytes;
    uint n_tokens;
    uint y_stride;
    uint y_offset;
} shape;

shared float partial[WORKGROUP * TOKENS];

SNUG_BYTE_LOADS(w, w)

const uint MAX_TOKENS = 8; // the registers an invocation sets aside; TOKENS ≤ MAX_TOKENS

// A unit is RUNS runs of RUN_LEN consecutive elements; run k starts at element xs[k] of the row and contributes
// scale[k]·Σ q·x − bias[k]·Σ x (bias only for the types with a minimum: HAS_MIN).
#if defined(TYPE_F32)
#define RUNS    1
#define RUN_LEN 1 // one element
#elif defined(TYPE_F16)
#define RUNS    1
#define RUN_LEN 2 // two elements (one word; the last of an odd row alone)
#elif defined(TYPE_Q8_0)
#define RUNS            1
#define RUN_LEN         8  // a quarter block: 8 int8 levels
#define BLOCK_ELEMS     32 // 34 bytes: f16 d, 32 int8 q
#define BLOCK_BYTES     34
#define UNITS_PER_BLOCK 4
#elif defined(TYPE_Q4_0)
#define RUNS            2
#define RUN_LEN         4  // 4 bytes of nibbles: elements 4u..4u+3 (low) and 4u+16..4u+19 (high)
#define BLOCK_ELEMS     32 // 18 bytes: f16 d, 16 bytes of nibbles
#define BLOCK_BYTES     18
#define UNITS_PER_BLOCK 4
#elif defined(TYPE_Q4_K)
#define RUNS            2
#define RUN_LEN         8   // 8 bytes of one 64-element group: low nibbles (sub-block 2c), high (2c + 1)
#define BLOCK_ELEMS     256 // 144 bytes: f16 d, f16 dmin, 12 bytes scales/mins, 128 bytes nibbles
#define BLOCK_BYTES     144
#define UNITS_PER_BLOCK 16
#define HAS_MIN
#elif defined(TYPE_Q6_K)
#define RUNS            4
#define RUN_LEN         4   // elements l0..l0+3 of the four 32-element rows k of one 128-element half n
#define BLOCK_ELEMS     256 // 210 bytes: ql[128], qh[64], int8 scales[16], f16 d
#define BLOCK_BYTES     210
#define UNITS_PER_BLOCK 16
#else
#error "define one TYPE_*"
#endif

// Dequantizes unit u of the row starting at byte row: q (levels, or values for F32/F16), the runs' scales, biases and
// first elements.
void decode(uint row, uint u, out float q[RUNS * RUN_LEN], out float scale[RUNS], out float bias[RUNS],
            out uint xs[RUNS]) {
#if defined(TYPE_F32)
    q[0] = uintBitsToFloat(w[(row >> 2u) + u]);
    scale[0] = 1.0;
    bias[0] = 0.0;
    xs[0] = u;
#elif defined(TYPE_F16)
    if (2u * u + 1u < shape.n_in) {
        vec2 v = unpackHalf2x16(w_u32(row + 4u * u));
        q[0] = v.x;
        q[1] = v.y;
    } else {
        q[0] = half_to_float(w_u16(row + 4u * u));
        q[1] = 0.0;
    }
    scale[0] = 1.0;
    bias[0] = 0.0;
    xs[0] = 2u * u;
#elif defined(TYPE_Q8_0)
    uint block = u / UNITS_PER_BLOCK, part = u % UNITS_PER_BLOCK;
    uint at = row + block * BLOCK_BYTES;
    scale[0] = half_to_float(w_u16(at));
    bias[0] = 0.0;
    uint lo = w_u32(at + 2u + 8u * part), hi = w_u32(at + 6u + 8u * part);
    for (uint k = 0u; k < 4u; k++) {
        q[k] = float(byte_s8(lo, k));
        q[4u + k] = float(byte_s8(hi, k));
    }
    xs[0] = block * BLOCK_ELEMS + 8u * part;
#elif defined(TYPE_Q4_0)
    uint block = u / UNITS_PER_BLOCK, part = u % UNITS_PER_BLOCK;
    uint at = row + block * BLOCK_BYTES;
    float d = half_to_float(w_u16(at));
    uint nibbles = w_u32(at + 2u + 4u * part);
    for (uint k = 0u; k < 4u; k++) {
        q[k] = float(int((nibbles >> (8u * k)) & 15u) - 8);
        q[4u + k] = float(int((nibbles >> (8u * k + 4u)) & 15u) - 8);
    }
    scale[0] = d;
    scale[1] = d;
    bias[0] = 0.0;
    bias[1] = 0.0;
    xs[0] = block * BLOCK_ELEMS + 4u * part;
    xs[1] = xs[0] + 16u;
#elif defined(TYPE_Q4_K)
    uint block = u / UNITS_PER_BLOCK, part = u % UNITS_PER_BLOCK;
    uint group = part / 4u, chunk = part % 4u; // group c: 32 bytes of nibbles for elements 64c .. 64c + 63
    uint at = row + block * BLOCK_BYTES;
    vec2 d_dmin = unpackHalf2x16(w_u32(at));
    // The 12 scale bytes (llama.cpp's get_scale_min_k4): for sub-block j < 4, scale = b[j] & 63, min = b[j+4] & 63;
    // for j ≥ 4, scale = (b[j+4] & 15) | (b[j−4] >> 6) << 4, min = (b[j+4] >> 4) | (b[j] >> 6) << 4.
    uint packed[3] = uint[3](w_u32(at + 4u), w_u32(at + 8u), w_u32(at + 12u));
    for (uint k = 0u; k < 2u; k++) {
        uint j = 2u * group + k;
        uint sc, mn;
        if (j < 4u) {
            sc = (packed[0] >> (8u * j)) & 63u;
            mn = (packed[1] >> (8u * j)) & 63u;
        } else {
            uint b_hi = packed[2] >> (8u * (j - 4u)); // byte j + 4
            sc = (b_hi & 15u) | (((packed[0] >> (8u * (j - 4u) + 6u)) & 3u) << 4u);
            mn = ((b_hi >> 4u) & 15u) | (((packed[1] >> (8u * (j - 4u) + 6u)) & 3u) << 4u);
        }
        scale[k] = d_dmin.x * float(sc);
        bias[k] = d_dmin.y * float(mn);
    }
    uint lo = w_u32(at + 16u + 32u * group + 8u * chunk), hi = w_u32(at + 20u + 32u * group + 8u * chunk);
    for (uint k = 0u; k < 4u; k++) {
        q[k] = float((lo >> (8u * k)) & 15u);
        q[4u + k] = float((hi >> (8u * k)) & 15u);
        q[8u + k] = float((lo >> (8u * k + 4u)) & 15u);
        q[12u + k] = float((hi >> (8u * k + 4u)) & 15u);
    }
    xs[0] = block * BLOCK_ELEMS + 64u * group + 8u * chunk;
    xs[1] = xs[0] + 32u;
#elif defined(TYPE_Q6_K)
    uint block = u / UNITS_PER_BLOCK, part = u % UNITS_PER_BLOCK;
    uint n = part / 8u, l0 = 4u * (part % 8u); // element e = 128n + 32k + l, l in l0 .. l0 + 3
    uint at = row + block * BLOCK_BYTES;
    float d = half_to_float(w_u16(at + 208u));
    // llama.cpp's dequantize_row_q6_K: the low 4 bits of row k come from ql[64n + 32(k % 2) + l] (low nibble for
    // k < 2, high for k ≥ 2), the top 2 bits from qh[32n + l] at bit 2k; level − 32, times d · scales[e / 16].
    uint ql_a = w_u32(at + 64u * n + l0), ql_b = w_u32(at + 64u * n + 32u + l0);
    uint qh = w_u32(at + 128u + 32u * n + l0);
    for (uint k = 0u; k < 4u; k++) {
        uint ql = (k % 2u) == 0u ? ql_a : ql_b;
        for (uint i = 0u; i < 4u; i++) {
            uint low = (ql >> (8u * i + 4u * (k / 2u))) & 15u;
            uint high = (qh >> (8u * i + 2u * k)) & 3u;
            q[4u * k + i] = float(int(low | (high << 4u)) - 32);
        }
        uint sub = 8u * n + 2u * k + l0 / 16u;
        scale[k] = d * float(bitfieldExtract(int(w_u8(at + 192u + sub)), 0, 8));
        bias[k] = 0.0;
        xs[k] = block * BLOCK_ELEMS + 128u * n + 32u * k + l0;
    }
#endif
}

void main() {
    const uint row = linear_group();
    const uint lane = gl_LocalInvocationID.x;
    // The whole workgroup leaves together (the row is the workgroup's): no barrier is left waiting.
    if (row >= shape.n_rows) return;
    const uint row_start = row * shape.row_bytes;
#if defined(TYPE_F32)
    const uint units = shape.n_in;
#elif defined(TYPE_F16)
    const uint units = (shape.n_in + 1u) / 2u;
#else
    const uint units = shape.n_in / BLOCK_ELEMS * UNITS_PER_BLOCK;
#endif
    for (uint pass = 0u; pass < shape.n_tokens; pass += TOKENS) {
        float acc[MAX_TOKENS];
        for (uint t = 0u; t < TOKENS; t++) acc[t] = 0.0;
        for (uint u = lane; u < units; u += WORKGROUP) {
            float q[RUNS * RUN_LEN], scale[RUNS], bias[RUNS];
            uint xs[RUNS];
            decode(row_start, u, q, scale, bias, xs);
            for (uint t = 0u; t < TOKENS; t++) {
                if (pass + t >= shape.n_tokens) break;
                const uint xo = (pass + t) * shape.n_in;
                float sum = 0.0;
                for (uint k = 0u; k < RUNS; k++) {
                    float dot = 0.0, sum_x = 0.0;
                    for (uint i = 0u; i < RUN_LEN; i++) {
#if defined(TYPE_F16)
                        if (xs[k] + i >= shape.n_in) break; // the odd row's last unit has one element
#endif
                        float xv = x[xo + xs[k] + i];
                        dot += q[k * RUN_LEN + i] * xv;
                        sum_x += xv;
                    }
#if defined(HAS_MIN)
                    sum += scale[k] * dot - bias[k] * sum_x;
#else
                    sum += scale[k] * dot;
#endif
                }
                acc[t] += sum;
            }
        }
        for (uint t = 0u; t < TOKENS; t++) partial[t * WORKGROUP + lane] = acc[t];
        barrier();
        // Tree reduction; WORKGROUP is a power of two.
        for (uint stride = WORKGROUP / 2u; stride > 0u; stride /= 2u) {
            if (lane < stride) {
                for (uint t = 0u; t < TOKENS; t++) partial[t * WORKGROUP + lane] += partial[t * WORKGROUP + lane + stride];
            }
            barrier();
        }
        if (lane < TOKENS && pass + lane < shape.n_tokens) {
            y[(pass + lane) * shape.y_stride + shape.y_offset + row] = partial[lane * WORKGROUP];
        }
        barrier(); // partial is read above before the next pass writes it
    }
}
