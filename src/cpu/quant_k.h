/* quant_k.h — the K-quant block layouts (ggml / GGUF), shared by quant_k.c (scalar encode / decode) and the
 * kquant_*.c dot-product kernels. Private to src/cpu.
 *
 * Every K-quant works on super-blocks of SNUG_QK_K = 256 elements. Multi-byte fields are little-endian and may sit at
 * any alignment (Q6_K blocks are 210 bytes, so a row's blocks are only 2-byte aligned; callers may hand any pointer),
 * so every field is declared as bytes and read with the loaders below — never through a wider pointer.
 *
 *   Q2_K  84 B: scales[16] (low nibble: 4-bit scale, high nibble: 4-bit min, per 16 elements), qs[64] (2 bits each),
 *               f16 d, f16 dmin.            x = d·(sc & 15)·q − dmin·(sc >> 4),  q ∈ 0..3
 *   Q3_K 110 B: hmask[32] (the third bit), qs[64] (low 2 bits), scales[12] (16 6-bit scales, bias 32), f16 d.
 *                                            x = d·(sc − 32)·(q − 4),  q ∈ 0..7  (q = low 2 bits | hmask bit << 2)
 *   Q4_K 144 B: f16 d, f16 dmin, scales[12] (8 6-bit scales + 8 6-bit mins, per 32 elements), qs[128] (nibbles).
 *                                            x = d·sc·q − dmin·m,  q ∈ 0..15
 *   Q5_K 176 B: as Q4_K, then qh[32] (the fifth bit) before qs[128]. x = d·sc·q − dmin·m,  q ∈ 0..31
 *   Q6_K 210 B: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16] (per 16 elements), f16 d.
 *                                            x = d·sc·(q − 32),  q ∈ 0..63
 *   Q8_K 292 B: f32 d, int8 qs[256], int16 bsums[16] (bsums[j] = Σ qs[16j .. 16j+15]).  x = d·q
 *
 * Where each element's bits sit inside qs / qh / hmask and which scale applies is spelled out next to the scalar
 * decoders in quant_k.c (the reference every SIMD kernel is tested against).
 */
#ifndef SNUG_CPU_QUANT_K_H
#define SNUG_CPU_QUANT_K_H

#include <stdint.h>
#include <string.h>

#include "cpu/half.h"

#define SNUG_QK_K 256         /* elements per super-block, every K-quant */
#define SNUG_K_SCALE_BYTES 12 /* Q3_K, Q4_K, Q5_K: 16 × 6 or 8 × (6 + 6) bits of packed scales */

typedef struct snug_block_q2_k {
    uint8_t scales[SNUG_QK_K / 16];
    uint8_t qs[SNUG_QK_K / 4];
    uint8_t d[2];
    uint8_t dmin[2];
} snug_block_q2_k;

typedef struct snug_block_q3_k {
    uint8_t hmask[SNUG_QK_K / 8];
    uint8_t qs[SNUG_QK_K / 4];
    uint8_t scales[SNUG_K_SCALE_BYTES];
    uint8_t d[2];
} snug_block_q3_k;

typedef struct snug_block_q4_k {
    uint8_t d[2];
    uint8_t dmin[2];
    uint8_t scales[SNUG_K_SCALE_BYTES];
    uint8_t qs[SNUG_QK_K / 2];
} snug_block_q4_k;

typedef struct snug_block_q5_k {
    uint8_t d[2];
    uint8_t dmin[2];
    uint8_t scales[SNUG_K_SCALE_BYTES];
    uint8_t qh[SNUG_QK_K / 8];
    uint8_t qs[SNUG_QK_K / 2];
} snug_block_q5_k;

typedef struct snug_block_q6_k {
    uint8_t ql[SNUG_QK_K / 2];
    uint8_t qh[SNUG_QK_K / 4];
    int8_t scales[SNUG_QK_K / 16];
    uint8_t d[2];
} snug_block_q6_k;

typedef struct snug_block_q8_k {
    uint8_t d[4]; /* f32 */
    int8_t qs[SNUG_QK_K];
    uint8_t bsums[SNUG_QK_K / 16 * 2]; /* int16 each */
} snug_block_q8_k;

/* The sizes GGUF fixes (src/gguf/types.c); a struct with padding would silently break every row stride. */
_Static_assert(sizeof(snug_block_q2_k) == 84, "Q2_K block is 84 bytes");
_Static_assert(sizeof(snug_block_q3_k) == 110, "Q3_K block is 110 bytes");
_Static_assert(sizeof(snug_block_q4_k) == 144, "Q4_K block is 144 bytes");
_Static_assert(sizeof(snug_block_q5_k) == 176, "Q5_K block is 176 bytes");
_Static_assert(sizeof(snug_block_q6_k) == 210, "Q6_K block is 210 bytes");
_Static_assert(sizeof(snug_block_q8_k) == 292, "Q8_K block is 292 bytes");

static inline float snug_load_f16(const uint8_t p[2]) {
    return snug_f16_to_f32(snug_load_u16(p));
}

static inline float snug_load_f32(const uint8_t p[4]) {
    float f;
    memcpy(&f, p, sizeof f);
    return f;
}

static inline int16_t snug_q8_k_bsum(const snug_block_q8_k *b, int j) {
    int16_t v;
    memcpy(&v, b->bsums + 2 * j, sizeof v);
    return v;
}

/* Q4_K / Q5_K: sub-block j's 6-bit scale and min from the 12 packed bytes. Bytes 0–3 hold scales 0–3 (low 6 bits)
 * and the top 2 bits of scales 4–7; bytes 4–7 the same for the mins; bytes 8–11 the low 4 bits of scales 4–7 (low
 * nibble) and mins 4–7 (high nibble). */
static inline void snug_k4_scale_min(const uint8_t packed[SNUG_K_SCALE_BYTES], int j, uint8_t *scale, uint8_t *min) {
    int k = j & 3;
    if (j < 4) {
        *scale = packed[k] & 63;
        *min = packed[k + 4] & 63;
    } else {
        *scale = (uint8_t)((packed[k + 8] & 15) | ((packed[k] >> 6) << 4));
        *min = (uint8_t)((packed[k + 8] >> 4) | ((packed[k + 4] >> 6) << 4));
    }
}

/* Q3_K: the 16 signed scales (already minus the bias 32) from the 12 packed bytes. Scale i has its low 4 bits in
 * byte i % 8 (low nibble for i < 8, high nibble for i ≥ 8) and its top 2 bits in byte 8 + i % 4 at bit 2·(i / 4). */
static inline void snug_q3_k_scales(const uint8_t packed[SNUG_K_SCALE_BYTES], int8_t out[16]) {
    for (int i = 0; i < 16; i++) {
        int low = i < 8 ? packed[i] & 15 : packed[i - 8] >> 4;
        int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (int8_t)((low | (high << 4)) - 32);
    }
}

/* The same two unpackings for every sub-block at once, with 32-bit masks (what the SIMD kernels load):
 * Q4_K / Q5_K: bytes 0–7 of `out` = scales 0–7, bytes 8–15 = mins 0–7. */
static inline void snug_k4_unpack(const uint8_t packed[SNUG_K_SCALE_BYTES], uint32_t out[4]) {
    uint32_t u[3]; /* three loads, not one 12-byte copy: GCC keeps the latter as a dead stack store */
    memcpy(&u[0], packed, 4);
    memcpy(&u[1], packed + 4, 4);
    memcpy(&u[2], packed + 8, 4);
    out[0] = u[0] & 0x3f3f3f3fu;
    out[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    out[2] = u[1] & 0x3f3f3f3fu;
    out[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
}

/* Q3_K: byte i of `out` = scale i + 32 (biased, 0..63). */
static inline void snug_q3_k_unpack(const uint8_t packed[SNUG_K_SCALE_BYTES], uint32_t out[4]) {
    uint32_t u[3]; /* three loads, not one 12-byte copy: GCC keeps the latter as a dead stack store */
    memcpy(&u[0], packed, 4);
    memcpy(&u[1], packed + 4, 4);
    memcpy(&u[2], packed + 8, 4);
    out[0] = (u[0] & 0x0f0f0f0fu) | ((u[2] & 0x03030303u) << 4);
    out[1] = (u[1] & 0x0f0f0f0fu) | (((u[2] >> 2) & 0x03030303u) << 4);
    out[2] = ((u[0] >> 4) & 0x0f0f0f0fu) | (((u[2] >> 4) & 0x03030303u) << 4);
    out[3] = ((u[1] >> 4) & 0x0f0f0f0fu) | (((u[2] >> 6) & 0x03030303u) << 4);
}

/* Q8_K encoding of one row (n a multiple of 256), the activation type of every K-quant: per super-block
 * d = max|x| / 127 and q = round-half-even(x · (127 / max|x|)), so q ∈ [−127, 127] (never −128); bsums from those q.
 * The SIMD encoders in kquant_*.c compute exactly these float operations, so their output is bit-identical. Inputs must
 * be finite. */
#define SNUG_Q8_K_TINY                                                                                                 \
    1e-30f /* a super-block whose max|x| is below this encodes as zeros (127 / max|x| stays finite) */
void snug_quantize_row_q8_k(const float *x, void *dst, int64_t n);

#endif
