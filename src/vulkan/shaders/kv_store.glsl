// kv_store.glsl — writes each token's row of kv_dim floats into the KV pool in the CPU's row layout;
// kv_store_TYPE.comp defines KV_F32, KV_F16 or KV_Q8_0 and includes this.
//   F32:  4 bytes an element, one invocation per element.
//   F16:  IEEE half, round to nearest even, one invocation per pair of elements (kv_dim even). The conversion is done
//         in integers (common.glsl, float_bits_to_half) and is bit-identical to the CPU's snug_f32_to_f16.
//   Q8_0: blocks of 32 in 34 bytes, one invocation per block, bit-identical to the CPU's snug_quantize_row_q8_0
//         (src/cpu/quant.c): amax = max|x|, d = amax / 127 and inv = 1 / d as correctly rounded f32 divisions
//         (div_rn: Vulkan's own division is only within 2.5 ulp), q = round-half-away-from-zero(x · inv) with one f32
//         product, and d stored as its f16 rounded to nearest even. Exact whenever amax is 0 or ≥ 127·2^-126
//         (≈ 1.5e-36) — below that d is an f32 subnormal, which Vulkan lets a driver flush. NaN inputs are not
//         matched (the CPU's fmaxf drops NaN, GLSL's max is undefined for it).
// Rows may start at any byte (DEST), e.g. 34-byte Q8_0 rows back to back, so two invocations — of one token or of two
// neighbouring tokens — can own bytes of one word: words an invocation owns entirely are written plainly, shared
// words with atomicAnd / atomicOr on its own bytes only, which is race-free.
//
// bindings: 0 = SRC (float; token t at SRC[t·kv_dim]), 1 = POOL (uint words),
//           2 = DEST (uint; DEST[t] = byte offset of token t's row in POOL).
// push:     uint kv_dim, uint n_tokens.
// spec:     0 = WORKGROUP (local_size_x). Dispatch ceil(n_tokens · units / WORKGROUP) groups, units = kv_dim (F32),
//           kv_dim / 2 (F16), kv_dim / 32 (Q8_0).
// shared:   none.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint WORKGROUP = 64;
layout(local_size_x_id = 0) in;

// SRC is read as its bits: the F32 and F16 writers never pass a value through float arithmetic (no flushed subnormal,
// no changed NaN).
layout(binding = 0) readonly buffer Source { uint src_bits[]; };
layout(binding = 1) buffer Pool { uint pool[]; };
layout(binding = 2) readonly buffer Destination { uint dest[]; };
layout(push_constant) uniform Shape {
    uint kv_dim;
    uint n_tokens;
} shape;

// Writes the bytes of `value` selected by `mask` into pool word i: plainly when the word is all ours.
void store_masked(uint i, uint value, uint mask) {
    if (mask == 0xffffffffu) {
        pool[i] = value;
    } else if (mask != 0u) {
        atomicAnd(pool[i], ~mask);
        atomicOr(pool[i], value & mask);
    }
}

// Writes `n_words` words of bytes (the last one holding last_bytes of them, 1..4) at byte offset o of the pool.
const uint MAX_WORDS = 9; // a Q8_0 block: 34 bytes
void store_bytes(uint o, uint words[MAX_WORDS], uint n_words, uint last_bytes) {
    const uint first = o >> 2u, shift = (o & 3u) * 8u;
    const uint last_mask = last_bytes == 4u ? 0xffffffffu : (1u << (8u * last_bytes)) - 1u;
    if (shift == 0u) {
        for (uint k = 0u; k + 1u < n_words; k++) pool[first + k] = words[k];
        store_masked(first + n_words - 1u, words[n_words - 1u], last_mask);
        return;
    }
    // Word k of the pool span holds the top bytes of source word k − 1 and the bottom bytes of source word k.
    for (uint k = 0u; k <= n_words; k++) {
        uint below = k > 0u ? words[k - 1u] : 0u, here = k < n_words ? words[k] : 0u;
        uint mask_below = k == 0u ? 0u : (k == n_words ? last_mask : 0xffffffffu);
        uint mask_here = k == n_words ? 0u : (k + 1u == n_words ? last_mask : 0xffffffffu);
        uint value = (here << shift) | (below >> (32u - shift));
        uint mask = (mask_here << shift) | (mask_below >> (32u - shift));
        store_masked(first + k, value, mask);
    }
}

#if defined(KV_F32)
const uint UNIT = 1; // elements an invocation writes
#elif defined(KV_F16)
const uint UNIT = 2;
#elif defined(KV_Q8_0)
const uint UNIT = 32;
const uint BLOCK_BYTES = 34;
#else
#error "define one KV_*"
#endif

void main() {
    const uint units_per_row = shape.kv_dim / UNIT;
    const uint index = linear_group() * WORKGROUP + gl_LocalInvocationID.x;
    if (index >= shape.n_tokens * units_per_row) return;
    const uint t = index / units_per_row, u = index % units_per_row;
    const uint from = t * shape.kv_dim + u * UNIT;
    uint words[MAX_WORDS];
#if defined(KV_F32)
    words[0] = src_bits[from];
    store_bytes(dest[t] + 4u * u, words, 1u, 4u);
#elif defined(KV_F16)
    words[0] = float_bits_to_half(src_bits[from]) | (float_bits_to_half(src_bits[from + 1u]) << 16u);
    store_bytes(dest[t] + 4u * u, words, 1u, 4u);
#else
    float amax = 0.0;
    for (uint j = 0u; j < UNIT; j++) amax = max(amax, abs(uintBitsToFloat(src_bits[from + j])));
    const float d = div_rn(amax, 127.0);
    const float inv = d != 0.0 ? div_rn(1.0, d) : 0.0;
    // Bytes 0–1: d as f16; bytes 2–33: the 32 levels.
    for (uint k = 0u; k < MAX_WORDS; k++) words[k] = 0u;
    words[0] = float_bits_to_half(floatBitsToUint(d));
    for (uint j = 0u; j < UNIT; j++) {
        precise float v = uintBitsToFloat(src_bits[from + j]) * inv;
        float r = trunc(v); // round half away from zero, exactly (v − trunc(v) is exact): lroundf
        if (abs(v - r) >= 0.5) r += sign(v);
        uint byte_pos = j + 2u;
        words[byte_pos / 4u] |= (uint(int(r)) & 0xffu) << (8u * (byte_pos % 4u));
    }
    store_bytes(dest[t] + BLOCK_BYTES * u, words, MAX_WORDS, 2u);
#endif
}
