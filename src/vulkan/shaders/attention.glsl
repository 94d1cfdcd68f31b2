// attention.glsl — causal attention over a paged KV pool, one workgroup per (token t, query head h): linear workgroup
// index = t·n_head + h. attention_TYPE.comp defines KV_F32, KV_F16 or KV_Q8_0 (the pool's element type) and includes
// this. Positions 0 .. n_pos − 1 of the token's sequence are visited in tiles of TILE: the tile's K and V rows are
// staged decoded in shared memory, the scores s_j = scale·(q·k_j) computed (invocations split the positions), then an
// online softmax (Milakov & Gimelshein 2018; FlashAttention) keeps a running max m and sum l:
//   m' = max(m, max_j s_j),  p_j = exp(s_j − m'),  l = l·exp(m − m') + Σ p_j,  acc_d = acc_d·exp(m − m') + Σ p_j·v_j[d]
// and out_d = acc_d / l. Invocation `lane` owns output dims lane, lane + WORKGROUP, … (at most 4). Nothing is clamped:
// a NaN or infinity in q, k or v reaches the output.
//
// bindings: 0 = Q (float; Q[(t·n_head + h)·head_dim + d]), 1 = KPOOL (uint words), 2 = VPOOL (uint words, the same page
//               layout as KPOOL), 3 = TOKENS (uint; TOKENS[2t] = n_pos ≥ 1, TOKENS[2t + 1] = first index in PAGES of
//               the token's page list), 4 = PAGES (uint page ids: position p is in page PAGES[first + p / page_tokens]
//               at slot p % page_tokens), 5 = OUT (float; Q's layout).
//           Position p of KV head g = h / (n_head / n_head_kv) starts at byte
//               page·page_bytes + (p % page_tokens)·kv_row_bytes + g·head_dim·(element bytes; Q8_0: 34 per 32).
// push:     uint n_head, n_head_kv, head_dim, n_tokens, kv_row_bytes, page_bytes, page_tokens; float scale.
// spec:     0 = WORKGROUP (local_size_x, 32..256), 1 = TILE (positions per step, 8..256), 2 = HEAD_DIM (= head_dim,
//           ≤ 4·WORKGROUP; even for F16, a multiple of 32 for Q8_0).
// shared:   K and V tiles (F32, Q8_0: decoded to float, TILE·HEAD_DIM floats each; F16: two halves a uint,
//           TILE·HEAD_DIM/2 uints each), TILE float scores, HEAD_DIM floats of the query:
//           2·TILE·HEAD_DIM·e + 4·TILE + 4·HEAD_DIM bytes, e = 4 (F32, Q8_0) or 2 (F16) (shaders.h,
//           snug_vk_attention_shared_bytes).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint WORKGROUP = 64;
layout(constant_id = 1) const uint TILE = 32;
layout(constant_id = 2) const uint HEAD_DIM = 64;
layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer Query { float q[]; };
layout(binding = 1) readonly buffer KeyPool { uint kpool[]; };
layout(binding = 2) readonly buffer ValuePool { uint vpool[]; };
layout(binding = 3) readonly buffer Tokens { uint tokens[]; };
layout(binding = 4) readonly buffer Pages { uint pages[]; };
layout(binding = 5) buffer Output { float out_[]; };
layout(push_constant) uniform Shape {
    uint n_head;
    uint n_head_kv;
    uint head_dim;
    uint n_tokens;
    uint kv_row_bytes;
    uint page_bytes;
    uint page_tokens;
    float scale;
} shape;

SNUG_BYTE_LOADS(k, kpool)
SNUG_BYTE_LOADS(v, vpool)

const uint MAX_DIMS = 4; // output dims an invocation owns: HEAD_DIM ≤ 4·WORKGROUP

#if defined(KV_F16)
shared uint k_tile[TILE * HEAD_DIM / 2]; // position j, dims 2i and 2i + 1 at [j·HEAD_DIM/2 + i]
shared uint v_tile[TILE * HEAD_DIM / 2];
#elif defined(KV_F32) || defined(KV_Q8_0)
shared float k_tile[TILE * HEAD_DIM]; // position j, dim d at [j·HEAD_DIM + d]
shared float v_tile[TILE * HEAD_DIM];
#else
#error "define one KV_*"
#endif
shared float scores[TILE];
shared float q_row[HEAD_DIM];

#if defined(KV_Q8_0)
const uint Q8_0_BLOCK = 32, Q8_0_BLOCK_BYTES = 34;
#endif

// Byte offset of position p's row (of this token's page list starting at PAGES[first]) in the pools.
uint row_start(uint first, uint p) {
    return pages[first + p / shape.page_tokens] * shape.page_bytes + (p % shape.page_tokens) * shape.kv_row_bytes;
}

// Stages positions base .. base + count − 1 of KV head byte offset `head` into k_tile / v_tile, decoded.
void stage(uint first, uint head, uint base, uint count) {
#if defined(KV_F32)
    for (uint e = gl_LocalInvocationID.x; e < count * HEAD_DIM; e += WORKGROUP) {
        const uint j = e / HEAD_DIM, d = e % HEAD_DIM;
        const uint at = row_start(first, base + j) + head + 4u * d;
        k_tile[e] = uintBitsToFloat(k_u32(at));
        v_tile[e] = uintBitsToFloat(v_u32(at));
    }
#elif defined(KV_F16)
    for (uint e = gl_LocalInvocationID.x; e < count * HEAD_DIM / 2u; e += WORKGROUP) {
        const uint j = e / (HEAD_DIM / 2u), i = e % (HEAD_DIM / 2u);
        const uint at = row_start(first, base + j) + head + 4u * i;
        k_tile[e] = k_u32(at);
        v_tile[e] = v_u32(at);
    }
#else
    // Four levels (one word) per step: block b of the head, word w of its 32 levels.
    for (uint e = gl_LocalInvocationID.x; e < count * HEAD_DIM / 4u; e += WORKGROUP) {
        const uint j = e / (HEAD_DIM / 4u), quad = e % (HEAD_DIM / 4u);
        const uint at = row_start(first, base + j) + head + (quad / 8u) * Q8_0_BLOCK_BYTES;
        const float dk = half_to_float(k_u16(at)), dv = half_to_float(v_u16(at));
        const uint kw = k_u32(at + 2u + 4u * (quad % 8u)), vw = v_u32(at + 2u + 4u * (quad % 8u));
        for (uint i = 0u; i < 4u; i++) {
            k_tile[j * HEAD_DIM + 4u * quad + i] = dk * float(byte_s8(kw, i));
            v_tile[j * HEAD_DIM + 4u * quad + i] = dv * float(byte_s8(vw, i));
        }
    }
#endif
}

// q · k_j for staged position j. Each invocation starts at a different dim (rotated by j) so that invocations reading
// neighbouring positions hit different shared-memory banks.
float dot_key(uint j) {
    float sum = 0.0;
#if defined(KV_F16)
    const uint pairs = HEAD_DIM / 2u;
    uint i = j % pairs;
    for (uint n = 0u; n < pairs; n++) {
        const vec2 kv = unpackHalf2x16(k_tile[j * pairs + i]);
        sum += q_row[2u * i] * kv.x + q_row[2u * i + 1u] * kv.y;
        i = i + 1u == pairs ? 0u : i + 1u;
    }
#else
    uint d = j % HEAD_DIM;
    for (uint n = 0u; n < HEAD_DIM; n++) {
        sum += q_row[d] * k_tile[j * HEAD_DIM + d];
        d = d + 1u == HEAD_DIM ? 0u : d + 1u;
    }
#endif
    return sum;
}

float value_at(uint j, uint d) {
#if defined(KV_F16)
    const vec2 pair = unpackHalf2x16(v_tile[j * (HEAD_DIM / 2u) + d / 2u]);
    return (d & 1u) == 0u ? pair.x : pair.y;
#else
    return v_tile[j * HEAD_DIM + d];
#endif
}

void main() {
    const uint item = linear_group(); // t·n_head + h
    const uint lane = gl_LocalInvocationID.x;
    if (item >= shape.n_tokens * shape.n_head) return; // the whole workgroup: no barrier is left waiting
    const uint t = item / shape.n_head, h = item % shape.n_head;
    const uint g = h / (shape.n_head / shape.n_head_kv);
    const uint n_pos = tokens[2u * t], first = tokens[2u * t + 1u];
#if defined(KV_F32)
    const uint head = g * HEAD_DIM * 4u;
#elif defined(KV_F16)
    const uint head = g * HEAD_DIM * 2u;
#else
    const uint head = g * (HEAD_DIM / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
#endif
    for (uint d = lane; d < HEAD_DIM; d += WORKGROUP) q_row[d] = q[item * HEAD_DIM + d];

    float m = uintBitsToFloat(0xff800000u); // −infinity: exp(m − m') = 0 at the first tile
    float l = 0.0;
    float acc[MAX_DIMS];
    for (uint k = 0u; k < MAX_DIMS; k++) acc[k] = 0.0;
    for (uint base = 0u; base < n_pos; base += TILE) {
        const uint count = min(TILE, n_pos - base);
        stage(first, head, base, count);
        barrier(); // the tiles (and, the first time, q_row) are written
        for (uint j = lane; j < count; j += WORKGROUP) scores[j] = shape.scale * dot_key(j);
        barrier(); // every score is written
        float m_new = m;
        for (uint j = 0u; j < count; j++) m_new = max(m_new, scores[j]);
        barrier(); // every invocation has read the scores before they are overwritten with p_j
        for (uint j = lane; j < count; j += WORKGROUP) scores[j] = exp(scores[j] - m_new);
        barrier(); // every p_j is written
        const float correction = exp(m - m_new);
        float p_sum = 0.0;
        float tile_acc[MAX_DIMS];
        for (uint k = 0u; k < MAX_DIMS; k++) tile_acc[k] = 0.0;
        for (uint j = 0u; j < count; j++) {
            const float p = scores[j];
            p_sum += p;
            for (uint k = 0u; k < MAX_DIMS; k++) {
                const uint d = lane + k * WORKGROUP;
                if (d < HEAD_DIM) tile_acc[k] += p * value_at(j, d);
            }
        }
        l = l * correction + p_sum;
        for (uint k = 0u; k < MAX_DIMS; k++) acc[k] = acc[k] * correction + tile_acc[k];
        m = m_new;
        barrier(); // the tiles and p_j are read before the next tile overwrites them
    }
    for (uint k = 0u; k < MAX_DIMS; k++) {
        const uint d = lane + k * WORKGROUP;
        if (d < HEAD_DIM) out_[item * HEAD_DIM + d] = acc[k] / l;
    }
}
