/* test_kquants.c — the K-quant block formats (Q2_K … Q6_K, Q8_K) and their dot-product kernels.
 *
 * (a) Layout: hand-built super-blocks decode to values worked out by hand from the ggml layout (literal spot
 *     checks), and every element of random blocks matches an independent walk of the layout written here in the
 *     loop order of ggml's reference decoder (not the per-element index arithmetic of src/cpu/quant_k.c).
 * (b) Quantizers: quantize → dequantize relative RMS error on Gaussian and other data, with bounds derived below.
 * (c) Kernels, for every K type on every ISA this CPU runs (snug_kernels_for non-NULL):
 *     - quantize_act is bit-identical across ISAs and matches the Q8_K definition;
 *     - with d = dmin = d_a = 1 and small scales every float step is exact, so each ISA's vec_dot must return the
 *       integer dot product computed here from the layout exactly (the integer sums agree bit for bit);
 *     - with maximal levels, scales and activations (no room for an int16 to saturate) the result matches the exact
 *       integer to float precision;
 *     - on random weights and activations at 256, 512, 256·7, 4096 and 11008 elements, scalar vec_dot agrees with
 *       the double-precision dequantize(w) · dequantize(q8k(x)), and each SIMD vec_dot with the scalar one, within
 *       the float-rounding bound explained at `rounding_bound`.
 *     The ISAs include AVX-512 VNNI where the CPU has it (its Q4_K / Q6_K vec_dot are its own); where a kernel has a
 *     decode layout (kernels.h), it is held to the same bounds and exact sums from the same float activations.
 * (d) Register tiles (dot_tile, where a type has one on an ISA): every shape 1…4 rows × 1…4 tokens agrees with that
 *     ISA's vec_dot within the same bound at the sizes above, returns exact integers in the integer setup, does not
 *     saturate at maximal magnitudes, writes nothing outside its tile and reads nothing outside its rows and tokens
 *     (exact-size allocations, checked under AddressSanitizer).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/half.h"
#include "cpu/kernels.h"
#include "cpu/quant.h"
#include "gguf/types.h"
#include "snug.h"

enum { QK = 256, MAX_N = 11008 };

static const uint32_t k_types[] = {SNUG_TYPE_Q2_K, SNUG_TYPE_Q3_K, SNUG_TYPE_Q4_K, SNUG_TYPE_Q5_K, SNUG_TYPE_Q6_K};
enum { K_TYPE_COUNT = sizeof k_types / sizeof k_types[0] };
static const int64_t sizes[] = {256, 512, 256 * 7, 4096, 11008};

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng_next(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t z = rng_state;
    z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ull;
    return z ^ (z >> 29);
}
static double rng_uniform(void) { /* [0, 1) */
    return (double)(rng_next() >> 11) / 9007199254740992.0;
}
static double rng_gauss(void) {
    double u = rng_uniform(), v = rng_uniform();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static double get_f16(const uint8_t *p) { return (double)snug_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

static uint64_t block_bytes(uint32_t type) { return snug_type_traits_of(type).block_bytes; }

/* ---------------------------------------------------------------- the layouts, walked independently */

/* Every weight element is d · coef − dmin · min_code with integer coef (sub-block scale × signed level) and min_code
 * (the sub-block's min, 0 for types without one). The walks follow ggml's reference decoders' loop structure. */
typedef struct layout {
    double d, dmin;
    int32_t coef[QK];
    int32_t min_code[QK];
} layout;

static void scale_min_k4(const uint8_t *s, int j, int *scale, int *min) {
    if (j < 4) {
        *scale = s[j] & 63;
        *min = s[j + 4] & 63;
    } else {
        *scale = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static void walk_q2_k(const uint8_t *blk, layout *out) {
    const uint8_t *scales = blk, *q = blk + 16;
    out->d = get_f16(blk + 80);
    out->dmin = get_f16(blk + 82);
    int is = 0, e = 0;
    for (int n = 0; n < QK; n += 128, q += 32) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; half++) {
                int sc = scales[is++];
                for (int l = 0; l < 16; l++, e++) {
                    out->coef[e] = (sc & 0xF) * ((q[l + 16 * half] >> shift) & 3);
                    out->min_code[e] = sc >> 4;
                }
            }
        }
    }
}

static void walk_q3_k(const uint8_t *blk, layout *out) {
    const uint8_t *hm = blk, *q = blk + 32, *packed = blk + 96;
    out->d = get_f16(blk + 108);
    out->dmin = 0;
    int scales[16];
    for (int i = 0; i < 16; i++) {
        int low = i < 8 ? packed[i] & 0xF : packed[i - 8] >> 4;
        int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
        scales[i] = (low | high << 4) - 32;
    }
    int is = 0, e = 0;
    uint8_t m = 1;
    for (int n = 0; n < QK; n += 128, q += 32) {
        for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
            for (int half = 0; half < 2; half++) {
                int sc = scales[is++];
                for (int l = 16 * half; l < 16 * half + 16; l++, e++) {
                    int level = ((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4);
                    out->coef[e] = sc * level;
                    out->min_code[e] = 0;
                }
            }
        }
    }
}

static void walk_q4_k(const uint8_t *blk, layout *out) {
    const uint8_t *q = blk + 16;
    out->d = get_f16(blk);
    out->dmin = get_f16(blk + 2);
    int e = 0;
    for (int is = 0; is < 8; is += 2, q += 32) {
        int sc1, m1, sc2, m2;
        scale_min_k4(blk + 4, is, &sc1, &m1);
        scale_min_k4(blk + 4, is + 1, &sc2, &m2);
        for (int l = 0; l < 32; l++, e++) out->coef[e] = sc1 * (q[l] & 0xF), out->min_code[e] = m1;
        for (int l = 0; l < 32; l++, e++) out->coef[e] = sc2 * (q[l] >> 4), out->min_code[e] = m2;
    }
}

static void walk_q5_k(const uint8_t *blk, layout *out) {
    const uint8_t *qh = blk + 16, *ql = blk + 48;
    out->d = get_f16(blk);
    out->dmin = get_f16(blk + 2);
    int e = 0;
    uint8_t u1 = 1, u2 = 2;
    for (int is = 0; is < 8; is += 2, ql += 32, u1 = (uint8_t)(u1 << 2), u2 = (uint8_t)(u2 << 2)) {
        int sc1, m1, sc2, m2;
        scale_min_k4(blk + 4, is, &sc1, &m1);
        scale_min_k4(blk + 4, is + 1, &sc2, &m2);
        for (int l = 0; l < 32; l++, e++) {
            out->coef[e] = sc1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0));
            out->min_code[e] = m1;
        }
        for (int l = 0; l < 32; l++, e++) {
            out->coef[e] = sc2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0));
            out->min_code[e] = m2;
        }
    }
}

static void walk_q6_k(const uint8_t *blk, layout *out) {
    const uint8_t *ql = blk, *qh = blk + 128;
    const int8_t *sc = (const int8_t *)(blk + 192);
    out->d = get_f16(blk + 208);
    out->dmin = 0;
    for (int n = 0; n < QK; n += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            out->coef[n + l] = sc[is] * q1;
            out->coef[n + l + 32] = sc[is + 2] * q2;
            out->coef[n + l + 64] = sc[is + 4] * q3;
            out->coef[n + l + 96] = sc[is + 6] * q4;
        }
    }
    memset(out->min_code, 0, sizeof out->min_code);
}

static void walk(uint32_t type, const uint8_t *blk, layout *out) {
    switch (type) {
    case SNUG_TYPE_Q2_K: walk_q2_k(blk, out); break;
    case SNUG_TYPE_Q3_K: walk_q3_k(blk, out); break;
    case SNUG_TYPE_Q4_K: walk_q4_k(blk, out); break;
    case SNUG_TYPE_Q5_K: walk_q5_k(blk, out); break;
    case SNUG_TYPE_Q6_K: walk_q6_k(blk, out); break;
    default: cr_assert_fail("no walk for type %u", type);
    }
}

/* Byte offsets of the f16 d and dmin fields (dmin −1: none). */
static int d_offset(uint32_t type) {
    switch (type) {
    case SNUG_TYPE_Q2_K: return 80;
    case SNUG_TYPE_Q3_K: return 108;
    case SNUG_TYPE_Q6_K: return 208;
    default: return 0;
    }
}
static int dmin_offset(uint32_t type) {
    switch (type) {
    case SNUG_TYPE_Q2_K: return 82;
    case SNUG_TYPE_Q4_K:
    case SNUG_TYPE_Q5_K: return 2;
    default: return -1;
    }
}

/* Q8_K fields. */
static float q8k_d(const uint8_t *blk) {
    float d;
    memcpy(&d, blk, 4);
    return d;
}
static int q8k_q(const uint8_t *blk, int e) { return (int8_t)blk[4 + e]; }
static int q8k_bsum(const uint8_t *blk, int j) {
    int16_t v;
    memcpy(&v, blk + 260 + 2 * j, 2);
    return v;
}

/* ---------------------------------------------------------------- (a) hand-built blocks */

static void decode_one(uint32_t type, const uint8_t *blk, float out[QK]) {
    cr_assert(snug_dequantize_row(type, blk, out, QK), "%s decodes", snug_type_name(type));
}

/* Q4_K with d = 0.5, dmin = 0.25; sub-block scales {1, 2, 3, 4, 40, 50, 60, 63}, mins {5, 6, 7, 8, 33, 17, 48, 0};
 * qs[i] = i. The 12 scale bytes packed by hand: bytes 0–3 = scale j | (scale j+4 >> 4) << 6, bytes 4–7 the same
 * for mins, bytes 8–11 = (scale j+4 & 15) | (min j+4 & 15) << 4. */
static const uint8_t k4_packed[12] = {0x81, 0xC2, 0xC3, 0xC4, 0x85, 0x46, 0xC7, 0x08, 0x18, 0x12, 0x0C, 0x0F};
static const int k4_scales[8] = {1, 2, 3, 4, 40, 50, 60, 63}, k4_mins[8] = {5, 6, 7, 8, 33, 17, 48, 0};

Test(layout, q4_k_hand_built_block) {
    uint8_t blk[144];
    put_u16(blk, 0x3800);     /* 0.5 */
    put_u16(blk + 2, 0x3400); /* 0.25 */
    memcpy(blk + 4, k4_packed, 12);
    for (int i = 0; i < 128; i++) blk[16 + i] = (uint8_t)i;
    float y[QK];
    decode_one(SNUG_TYPE_Q4_K, blk, y);
    /* e = 64c + 32h + l reads nibble h of qs[32c + l], sub-block e / 32. */
    cr_assert_eq(y[0], -1.25f);    /* qs[0] low 0, sub 0: 0.5·1·0 − 0.25·5 */
    cr_assert_eq(y[100], 2.0f);    /* c 1, h 1, l 4: qs[36] = 0x24 high 2, sub 3: 0.5·4·2 − 0.25·8 */
    cr_assert_eq(y[150], 111.75f); /* c 2, h 0, l 22: qs[86] = 0x56 low 6, sub 4: 0.5·40·6 − 0.25·33 */
    cr_assert_eq(y[200], 228.0f);  /* c 3, h 0, l 8: qs[104] = 0x68 low 8, sub 6: 0.5·60·8 − 0.25·48 */
    cr_assert_eq(y[255], 220.5f);  /* c 3, h 1, l 31: qs[127] = 0x7F high 7, sub 7: 0.5·63·7 − 0 */
    /* Every element: the scales and mins as listed, the nibbles of qs[i] = i. */
    for (int e = 0; e < QK; e++) {
        int c = e / 64, h = (e / 32) % 2, l = e % 32, sub = e / 32;
        int q = h ? (32 * c + l) >> 4 : (32 * c + l) & 15;
        cr_assert_eq(y[e], 0.5f * (float)(k4_scales[sub] * q) - 0.25f * (float)k4_mins[sub], "element %d", e);
    }
}

Test(layout, q5_k_hand_built_block) {
    uint8_t blk[176];
    put_u16(blk, 0x3800);
    put_u16(blk + 2, 0x3400);
    memcpy(blk + 4, k4_packed, 12);
    memset(blk + 16, 0xAA, 32); /* qh: bit 2c + h set exactly when h = 1, so the high half gets the fifth bit */
    for (int i = 0; i < 128; i++) blk[48 + i] = (uint8_t)i;
    float y[QK];
    decode_one(SNUG_TYPE_Q5_K, blk, y);
    cr_assert_eq(y[200], 228.0f); /* as Q4_K: h = 0, no fifth bit */
    cr_assert_eq(y[255], 724.5f); /* 7 + 16 = 23: 0.5·63·23 */
    cr_assert_eq(y[100], 34.0f);  /* 2 + 16 = 18: 0.5·4·18 − 0.25·8 */
    for (int e = 0; e < QK; e++) {
        int c = e / 64, h = (e / 32) % 2, l = e % 32, sub = e / 32;
        int q = (h ? (32 * c + l) >> 4 : (32 * c + l) & 15) + 16 * h;
        cr_assert_eq(y[e], 0.5f * (float)(k4_scales[sub] * q) - 0.25f * (float)k4_mins[sub], "element %d", e);
    }
}

/* Q6_K with d = 0.5, int8 scales below, ql[i] = i, qh = 0xE4 (bits 2k..2k+1 = k: the high bits of group k are k). */
Test(layout, q6_k_hand_built_block) {
    static const int8_t scales[16] = {1, -2, 3, -4, 5, -6, 7, -8, 127, -128, 10, -10, 20, -20, 64, -64};
    uint8_t blk[210];
    for (int i = 0; i < 128; i++) blk[i] = (uint8_t)i;
    memset(blk + 128, 0xE4, 64);
    memcpy(blk + 192, scales, 16);
    put_u16(blk + 208, 0x3800);
    float y[QK];
    decode_one(SNUG_TYPE_Q6_K, blk, y);
    /* e = 128n + 32k + l: nibble k/2 of ql[64n + 32(k%2) + l], high bits k, level − 32, scale e / 16. */
    cr_assert_eq(y[0], -16.0f);     /* ql[0] = 0, high 0: level −32, scale 1 */
    cr_assert_eq(y[40], -12.0f);    /* k 1, l 8: ql[40] = 0x28 low 8, high 1: 8 + 16 − 32 = −8, scale 3 */
    cr_assert_eq(y[95], -3.0f);     /* k 2, l 31: ql[31] = 0x1F high 1, high 2: 1 + 32 − 32 = 1, scale −6 */
    cr_assert_eq(y[140], -1270.0f); /* n 1, k 0, l 12: ql[76] = 0x4C low 12: −20, scale 127 */
    cr_assert_eq(y[150], 1664.0f);  /* n 1, k 0, l 22: ql[86] = 0x56 low 6: −26, scale −128 */
    cr_assert_eq(y[255], -736.0f);  /* n 1, k 3, l 31: ql[127] = 0x7F high 7, high 3: 7 + 48 − 32 = 23, scale −64 */
    for (int e = 0; e < QK; e++) {
        int n = e / 128, k = (e / 32) % 4, l = e % 32;
        int byte = 64 * n + 32 * (k % 2) + l; /* ql[byte] = byte */
        int level = ((k / 2 ? byte >> 4 : byte & 15) | (k << 4)) - 32;
        cr_assert_eq(y[e], 0.5f * (float)(scales[e / 16] * level), "element %d", e);
    }
}

/* Q3_K with d = 0.5; biased 6-bit scales s = {0, 1, 2, 31, 32, 33, 63, 47, 16, 48, 5, 60, 10, 20, 40, 50} packed
 * by hand (byte k < 8: s_k & 15 | (s_k+8 & 15) << 4; byte 8 + m: the top 2 bits of s_m, s_m+4, s_m+8, s_m+12 at bits
 * 0, 2, 4, 6); qs[i] = 255 − i; hmask = 0x0F (the third bit set in the first 128 elements only). */
Test(layout, q3_k_hand_built_block) {
    static const uint8_t packed[12] = {0x00, 0x01, 0x52, 0xCF, 0xA0, 0x41, 0x8F, 0x2F, 0x18, 0x78, 0x8C, 0xF9};
    static const int biased[16] = {0, 1, 2, 31, 32, 33, 63, 47, 16, 48, 5, 60, 10, 20, 40, 50};
    uint8_t blk[110];
    memset(blk, 0x0F, 32);
    for (int i = 0; i < 64; i++) blk[32 + i] = (uint8_t)(255 - i);
    memcpy(blk + 96, packed, 12);
    put_u16(blk + 108, 0x3800);
    float y[QK];
    decode_one(SNUG_TYPE_Q3_K, blk, y);
    /* e = 128n + 32j + l: bits 2j of qs[32n + l], third bit = hmask[l] bit 4n + j, level − 4, scale e / 16. */
    cr_assert_eq(y[37], -30.0f); /* qs[5] = 250 → 2, third bit 1: 2, scale 2 − 32 */
    cr_assert_eq(y[100], 46.5f); /* j 3, l 4: qs[4] = 251 → 3, third bit 1: 3, scale 63 − 32 */
    cr_assert_eq(y[130], 24.0f); /* n 1, j 0, l 2: qs[34] = 221 → 1, no third bit: −3, scale 16 − 32 */
    cr_assert_eq(y[200], 33.0f); /* n 1, j 2, l 8: qs[40] = 215 → 1: −3, scale 10 − 32 */
    cr_assert_eq(y[255], -9.0f); /* n 1, j 3, l 31: qs[63] = 192 → 3: −1, scale 50 − 32 */
    for (int e = 0; e < QK; e++) {
        int n = e / 128, j = (e / 32) % 4, l = e % 32;
        int low = ((255 - (32 * n + l)) >> (2 * j)) & 3;
        int level = low + (n == 0 ? 4 : 0) - 4;
        cr_assert_eq(y[e], 0.5f * (float)((biased[e / 16] - 32) * level), "element %d", e);
    }
}

/* Q2_K with d = 0.5, dmin = 0.25; scales[i] = i | (15 − i) << 4 (scale i, min 15 − i); qs[i] = 255 − i. */
Test(layout, q2_k_hand_built_block) {
    uint8_t blk[84];
    for (int i = 0; i < 16; i++) blk[i] = (uint8_t)(i | (15 - i) << 4);
    for (int i = 0; i < 64; i++) blk[16 + i] = (uint8_t)(255 - i);
    put_u16(blk + 80, 0x3800);
    put_u16(blk + 82, 0x3400);
    float y[QK];
    decode_one(SNUG_TYPE_Q2_K, blk, y);
    cr_assert_eq(y[0], -3.75f);  /* qs[0] = 255 → 3, scale 0, min 15 */
    cr_assert_eq(y[37], -1.25f); /* j 1, l 5: qs[5] = 250 → 2, scale 2, min 13 */
    cr_assert_eq(y[200], 5.25f); /* n 1, j 2, l 8: qs[40] = 215 → 1, scale 12, min 3 */
    cr_assert_eq(y[255], 22.5f); /* qs[63] = 192 → 3, scale 15, min 0 */
    for (int e = 0; e < QK; e++) {
        int n = e / 128, j = (e / 32) % 4, l = e % 32, sub = e / 16;
        int q = ((255 - (32 * n + l)) >> (2 * j)) & 3;
        cr_assert_eq(y[e], 0.5f * (float)(sub * q) - 0.25f * (float)(15 - sub), "element %d", e);
    }
}

Test(layout, q8_k_decodes_d_times_q) {
    uint8_t blk[292] = {0};
    float d = 0.375f;
    memcpy(blk, &d, 4);
    for (int e = 0; e < QK; e++) blk[4 + e] = (uint8_t)(int8_t)(e - 128);
    float y[QK];
    cr_assert(snug_dequantize_row(SNUG_TYPE_Q8_K, blk, y, QK));
    for (int e = 0; e < QK; e++) cr_assert_eq(y[e], 0.375f * (float)(e - 128));
}

/* Random bytes (with finite d / dmin): the decoder agrees with the independent walk on every element, to the
 * float rounding of d·scale·q − dmin·min (three roundings of terms of at most |d·coef| + |dmin·min|). */
static void random_block(uint32_t type, uint8_t *blk) {
    for (uint64_t i = 0; i < block_bytes(type); i++) blk[i] = (uint8_t)rng_next();
    float d = (float)ldexp(0.5 + rng_uniform(), -(int)(rng_next() % 12)) * (rng_next() & 1 ? -1.0f : 1.0f);
    put_u16(blk + d_offset(type), snug_f32_to_f16(d));
    if (dmin_offset(type) >= 0) {
        float dmin = (float)ldexp(0.5 + rng_uniform(), -(int)(rng_next() % 12));
        put_u16(blk + dmin_offset(type), snug_f32_to_f16(dmin));
    }
}

Test(layout, random_blocks_match_the_layout_walk) {
    for (int t = 0; t < K_TYPE_COUNT; t++) {
        uint32_t type = k_types[t];
        for (int trial = 0; trial < 200; trial++) {
            uint8_t blk[210];
            random_block(type, blk);
            float y[QK];
            decode_one(type, blk, y);
            layout lay;
            walk(type, blk, &lay);
            for (int e = 0; e < QK; e++) {
                double scale_term = lay.d * lay.coef[e], min_term = lay.dmin * lay.min_code[e];
                double want = scale_term - min_term;
                double tol = 4 * 0x1p-24 * (fabs(scale_term) + fabs(min_term));
                cr_assert(fabs((double)y[e] - want) <= tol, "%s trial %d element %d: %.9g, layout says %.9g",
                          snug_type_name(type), trial, e, (double)y[e], want);
            }
        }
    }
}

Test(layout, rows_must_be_whole_super_blocks) {
    float x[512] = {0};
    uint8_t buf[2 * 292];
    cr_assert(!snug_quantize_row(SNUG_TYPE_Q4_K, x, buf, 128));
    cr_assert(!snug_dequantize_row(SNUG_TYPE_Q6_K, buf, x, 300));
}

/* ---------------------------------------------------------------- (b) quantizers */

static double round_trip_rel_rms(uint32_t type, const float *x, int64_t n) {
    uint8_t *buf = malloc((size_t)(n / QK * block_bytes(type)));
    float *y = malloc((size_t)n * sizeof *y);
    cr_assert(snug_quantize_row(type, x, buf, n), "%s quantizes", snug_type_name(type));
    cr_assert(snug_dequantize_row(type, buf, y, n));
    double err2 = 0, sig2 = 0;
    for (int64_t i = 0; i < n; i++) {
        cr_assert(isfinite(y[i]), "%s element %ld not finite", snug_type_name(type), (long)i);
        err2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        sig2 += (double)x[i] * x[i];
    }
    free(buf);
    free(y);
    return sig2 > 0 ? sqrt(err2 / sig2) : sqrt(err2);
}

/* Bounds. A uniform quantizer with step Δ has RMS error Δ/√12. For Gaussian data (σ = 1) a 32-element sub-block
 * spans about ±2.1σ, so Q4_K's 15 steps give Δ ≈ 4.2/15 ≈ 0.28 and Δ/√12 ≈ 0.081; Q5_K half that (0.04); Q6_K's
 * 16-element sub-blocks span about ±1.8σ over 63 steps: 0.016; Q3_K (7 steps over 16) ≈ 0.15, Q2_K (3 steps) ≈ 0.3.
 * The least-squares fits land somewhat below the plain min-max step, the 6-bit scales and f16 d add a little; the
 * bounds below are those estimates with ~15% headroom, and the measured values (printed on failure) sit below. */
static const struct {
    uint32_t type;
    double gauss_bound;
} rms_bounds[] = {
    {SNUG_TYPE_Q2_K, 0.34},  {SNUG_TYPE_Q3_K, 0.18}, {SNUG_TYPE_Q4_K, 0.085},
    {SNUG_TYPE_Q5_K, 0.043}, {SNUG_TYPE_Q6_K, 0.02},
};

Test(quantize, gaussian_round_trip_error) {
    enum { N = QK * 64 };
    static float x[N];
    rng_state = 7;
    for (int i = 0; i < N; i++) x[i] = (float)rng_gauss();
    for (size_t t = 0; t < sizeof rms_bounds / sizeof rms_bounds[0]; t++) {
        double err = round_trip_rel_rms(rms_bounds[t].type, x, N);
        cr_log_info("%s gaussian relative RMS %.4f (bound %.3f)", snug_type_name(rms_bounds[t].type), err,
                    rms_bounds[t].gauss_bound);
        cr_assert(err <= rms_bounds[t].gauss_bound, "%s relative RMS %.4f > %.3f", snug_type_name(rms_bounds[t].type),
                  err, rms_bounds[t].gauss_bound);
    }
}

/* Rows that stress the scale search: each super-block at its own magnitude (10^-3 … 10^4: the f16 d must neither
 * overflow nor lose the small ones; much below 10^-3 the f16 d itself runs out of precision, as in ggml), an
 * all-positive offset row (mins clamp at 0), heavy tails (one outlier per sub-block), and a few sub-blocks far below
 * the rest (their 6-bit scale codes round towards 0). The bound is the Gaussian one doubled: these are harder than
 * i.i.d. data but must stay in the same regime. */
Test(quantize, hard_rows_stay_in_regime) {
    enum { N = QK * 16 };
    static float x[N];
    rng_state = 11;
    for (size_t t = 0; t < sizeof rms_bounds / sizeof rms_bounds[0]; t++) {
        uint32_t type = rms_bounds[t].type;
        for (int variant = 0; variant < 4; variant++) {
            for (int i = 0; i < N; i++) {
                double g = rng_gauss();
                switch (variant) {
                case 0: x[i] = (float)(g * pow(10.0, -3 + (i / QK) % 8)); break;
                case 1: x[i] = (float)(5.0 + g); break;
                case 2: x[i] = (float)(i % 16 == 3 ? 12.0 * g : g); break;
                default: x[i] = (float)((i / 32) % 8 == 5 ? 0.02 * g : g); break;
                }
            }
            double err;
            if (variant == 0) { /* relative error per super-block: the row's RMS is dominated by its largest block */
                err = 0;
                for (int b = 0; b < N / QK; b++) err = fmax(err, round_trip_rel_rms(type, x + b * QK, QK));
            } else {
                err = round_trip_rel_rms(type, x, N);
            }
            double bound = 2 * rms_bounds[t].gauss_bound;
            if (variant == 1) bound = rms_bounds[t].gauss_bound; /* σ 1 on top of 5: relative to the larger signal */
            cr_log_info("%s hard row %d: relative RMS %.4f (bound %.3f)", snug_type_name(type), variant, err, bound);
            cr_assert(err <= bound, "%s variant %d: relative RMS %.4f > %.3f", snug_type_name(type), variant, err,
                      bound);
        }
    }
}

/* The small sub-blocks of variant 3 on their own (σ 0.02 next to σ 1). Their 6-bit scale codes would be about
 * 63 · 0.02 ≈ 1.3 (Q6_K: int8, 127 · 0.02 ≈ 2.5), so a plain rounding of the scales loses most of their precision;
 * the neighbouring-code search and the 6-bit mins keep them usable. Measured 0.11 (Q4_K), 0.063 (Q5_K), 0.024
 * (Q6_K); bounds with ~40% headroom. (Q2_K's 4-bit scales cannot represent them at all: a format limit.) */
Test(quantize, small_sub_blocks_keep_their_precision) {
    static const struct {
        uint32_t type;
        double bound;
    } cases[] = {{SNUG_TYPE_Q4_K, 0.16}, {SNUG_TYPE_Q5_K, 0.09}, {SNUG_TYPE_Q6_K, 0.035}};
    enum { N = QK * 64 };
    static float x[N], y[N];
    static uint8_t buf[N];
    rng_state = 13;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        for (int i = 0; i < N; i++) x[i] = (float)((i / 32) % 8 == 5 ? 0.02 * rng_gauss() : rng_gauss());
        cr_assert(snug_quantize_row(cases[t].type, x, buf, N));
        cr_assert(snug_dequantize_row(cases[t].type, buf, y, N));
        double err2 = 0, sig2 = 0;
        for (int i = 0; i < N; i++) {
            if ((i / 32) % 8 != 5) continue;
            err2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
            sig2 += (double)x[i] * x[i];
        }
        double err = sqrt(err2 / sig2);
        cr_log_info("%s small sub-blocks: relative RMS %.4f (bound %.3f)", snug_type_name(cases[t].type), err,
                    cases[t].bound);
        cr_assert(err <= cases[t].bound, "%s small sub-blocks: relative RMS %.4f > %.3f", snug_type_name(cases[t].type),
                  err, cases[t].bound);
    }
}

Test(quantize, zeros_and_constants) {
    static float x[QK * 2];
    for (size_t t = 0; t < sizeof rms_bounds / sizeof rms_bounds[0]; t++) {
        uint32_t type = rms_bounds[t].type;
        memset(x, 0, sizeof x);
        cr_assert_eq(round_trip_rel_rms(type, x, QK * 2), 0.0, "%s zeros stay zeros", snug_type_name(type));
        for (int i = 0; i < QK * 2; i++) x[i] = i < QK ? -3.0f : 0.7f;
        double err = round_trip_rel_rms(type, x, QK * 2);
        cr_assert(err <= 0.01, "%s constant rows: relative RMS %.4f", snug_type_name(type), err);
    }
}

/* ---------------------------------------------------------------- (c) kernels */

static const snug_type_kernels *kernels_or_null(uint32_t type, snug_isa isa) { return snug_kernels_for(type, isa); }

static void fill_activations(float *x, int64_t n, int style) {
    for (int64_t i = 0; i < n; i++) {
        double scale = pow(2.0, (double)((i / QK) % 9) - 4); /* each super-block its own magnitude */
        x[i] = (float)(style == 0 ? rng_gauss() * scale : (rng_uniform() * 2 - 1) * scale);
    }
    if (n >= 2 * QK) memset(x + QK, 0, QK * sizeof *x); /* one all-zero super-block */
}

Test(kernels, every_k_type_has_a_scalar_kernel_on_q8_k) {
    for (int t = 0; t < K_TYPE_COUNT; t++) {
        const snug_type_kernels *k = kernels_or_null(k_types[t], SNUG_ISA_SCALAR);
        cr_assert_not_null(k, "%s has no scalar kernel", snug_type_name(k_types[t]));
        cr_assert_eq(k->act_type, SNUG_TYPE_Q8_K);
        cr_assert_not_null(k->quantize_act);
        for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
            const snug_type_kernels *ki = kernels_or_null(k_types[t], (snug_isa)isa);
            if (ki)
                cr_assert_eq(ki->act_type, SNUG_TYPE_Q8_K, "%s on %s", snug_type_name(k_types[t]),
                             snug_isa_name((snug_isa)isa));
        }
    }
}

/* The Q8_K definition: d = max|x| / 127, q = round-half-even(x · 127 / max|x|) ∈ [−127, 127], bsums = Σ of 16. */
static void check_q8_k_definition(const float *x, const uint8_t *row, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++) {
        const uint8_t *blk = row + b * 292;
        const float *xb = x + b * QK;
        float amax = 0;
        for (int e = 0; e < QK; e++) amax = fmaxf(amax, fabsf(xb[e]));
        cr_assert_eq(q8k_d(blk), amax / 127.0f, "block %ld d", (long)b);
        float inverse = amax != 0 ? 127.0f / amax : 0.0f;
        for (int e = 0; e < QK; e++) {
            int q = q8k_q(blk, e);
            cr_assert(q >= -127 && q <= 127);
            float v = xb[e] * inverse;
            cr_assert(fabsf(v - (float)q) <= 0.5f, "block %ld element %d: %g → %d", (long)b, e, (double)v, q);
            if (fabsf(v - (float)q) == 0.5f) cr_assert_eq(q % 2, 0, "tie %g must round to even, got %d", (double)v, q);
        }
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) sum += q8k_q(blk, e);
            cr_assert_eq(q8k_bsum(blk, j), sum, "block %ld bsum %d", (long)b, j);
        }
    }
}

Test(kernels, quantize_act_is_bit_identical_across_isas) {
    static float x[MAX_N];
    static uint8_t want[MAX_N / QK * 292], got[MAX_N / QK * 292 + 8];
    rng_state = 3;
    for (int style = 0; style < 3; style++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t n = sizes[s];
            fill_activations(x, n, style == 2 ? 0 : style);
            if (style == 2) { /* half-integers times 1 (max|x| = 127): every product is a tie */
                for (int64_t i = 0; i < n; i++) x[i] = (float)((int)(rng_next() % 254) - 127) + 0.5f;
                for (int64_t b = 0; b < n / QK; b++) x[b * QK + 7] = 127.0f;
            }
            const snug_type_kernels *ref = kernels_or_null(SNUG_TYPE_Q4_K, SNUG_ISA_SCALAR);
            ref->quantize_act(x, want, n);
            check_q8_k_definition(x, want, n);
            for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
                for (int t = 0; t < K_TYPE_COUNT; t++) {
                    const snug_type_kernels *k = kernels_or_null(k_types[t], (snug_isa)isa);
                    if (!k) continue;
                    /* Into a misaligned buffer: rows of activations need no alignment. */
                    memset(got, 0xA5, sizeof got);
                    k->quantize_act(x, got + 1, n);
                    cr_assert(memcmp(got + 1, want, (size_t)(n / QK * 292)) == 0,
                              "%s quantize_act on %s differs from scalar (n %ld, style %d)", snug_type_name(k_types[t]),
                              snug_isa_name((snug_isa)isa), (long)n, style);
                    cr_assert_eq(got[1 + n / QK * 292], 0xA5, "wrote past the row");
                }
            }
        }
    }
}

/* Σ over a weight row's elements of d·coef·a and dmin·min·a, exactly from the layout (activation levels q_a and
 * scale d_a from the Q8_K bytes), and the magnitude M = Σ (|d·coef| + |dmin·min|)·|d_a·q_a| the rounding is
 * measured against. */
typedef struct reference {
    double exact; /* Σ (d·coef − dmin·min) · d_a·q_a, in double (exact for the inputs of these tests' sizes) */
    double magnitude;
    double abs_terms_int; /* Σ |coef·q_a| + |min·q_a|: below 2^24 every partial sum of an integer test is exact */
} reference;

static reference reference_dot(uint32_t type, const uint8_t *w, const uint8_t *act, int64_t n) {
    reference r = {0, 0, 0};
    for (int64_t b = 0; b < n / QK; b++) {
        layout lay;
        walk(type, w + b * block_bytes(type), &lay);
        const uint8_t *ab = act + b * 292;
        double da = q8k_d(ab);
        for (int e = 0; e < QK; e++) {
            double a = da * q8k_q(ab, e);
            double scale_term = lay.d * lay.coef[e], min_term = lay.dmin * lay.min_code[e];
            r.exact += (scale_term - min_term) * a;
            r.magnitude += (fabs(scale_term) + fabs(min_term)) * fabs(a);
            r.abs_terms_int += fabs((double)lay.coef[e] * q8k_q(ab, e)) + fabs((double)lay.min_code[e] * q8k_q(ab, e));
        }
    }
    return r;
}

/* The float-rounding bound. Per super-block, the scalar kernel's integer sums are exact; converting them to float,
 * multiplying by d and d_a and subtracting the min term are four roundings, each at most 2^-24 of a quantity bounded
 * by the block's share of M; adding the super-blocks serially costs at most (blocks − 1) more. The double reference
 * built from dequantize() output carries three roundings per weight and one per activation. A SIMD kernel reorders
 * the same operations (per-lane conversions, 8 partial sums, a horizontal sum: fewer sequential steps, not more).
 * Hence |scalar − reference| ≤ (8 + blocks)·2^-24·M, and SIMD vs scalar twice that; the tests allow 2× again. */
static double rounding_bound(int64_t n, double magnitude) {
    return 2.0 * (8.0 + (double)(n / QK)) * 0x1p-24 * magnitude + 1e-30;
}

/* A weight row: random bytes (any bit pattern is a valid level / scale) with finite random d / dmin, or a row
 * quantized by snug_quantize_row from Gaussian data (the realistic case). */
static void make_weights(uint32_t type, uint8_t *w, int64_t n, bool quantized) {
    if (quantized) {
        static float x[MAX_N];
        for (int64_t i = 0; i < n; i++) x[i] = (float)(0.02 * rng_gauss());
        cr_assert(snug_quantize_row(type, x, w, n));
    } else {
        for (int64_t b = 0; b < n / QK; b++) random_block(type, w + b * block_bytes(type));
    }
}

Test(kernels, vec_dot_matches_the_reference_on_every_isa) {
    static uint8_t w[MAX_N / QK * 210 + 1], act[MAX_N / QK * 292 + 1], decode_layout[MAX_N / QK * 512];
    static float x[MAX_N], wf[MAX_N], af[MAX_N];
    rng_state = 5;
    for (int t = 0; t < K_TYPE_COUNT; t++) {
        uint32_t type = k_types[t];
        const snug_type_kernels *scalar = kernels_or_null(type, SNUG_ISA_SCALAR);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t n = sizes[s];
            for (int trial = 0; trial < 6; trial++) {
                make_weights(type, w, n, trial % 2 == 1);
                fill_activations(x, n, trial / 2 % 2);
                scalar->quantize_act(x, act, n);
                /* dequantize(w) · dequantize(q8k(x)) in double. */
                cr_assert(snug_dequantize_row(type, w, wf, n));
                cr_assert(snug_dequantize_row(SNUG_TYPE_Q8_K, act, af, n));
                double via_dequantize = 0;
                for (int64_t i = 0; i < n; i++) via_dequantize += (double)wf[i] * (double)af[i];
                reference ref = reference_dot(type, w, act, n);
                double bound = rounding_bound(n, ref.magnitude);
                cr_assert(fabs(via_dequantize - ref.exact) <= bound, "%s n %ld: dequantize disagrees with layout",
                          snug_type_name(type), (long)n);
                float s_scalar;
                scalar->vec_dot(n, &s_scalar, w, act);
                cr_assert(fabs((double)s_scalar - via_dequantize) <= bound,
                          "%s n %ld trial %d: scalar %.9g vs dequantized %.9g (bound %.3g, magnitude %.3g)",
                          snug_type_name(type), (long)n, trial, (double)s_scalar, via_dequantize, bound, ref.magnitude);
                for (int isa = SNUG_ISA_SCALAR + 1; isa < SNUG_ISA_COUNT; isa++) {
                    const snug_type_kernels *k = kernels_or_null(type, (snug_isa)isa);
                    if (!k) continue;
                    float s_isa;
                    k->vec_dot(n, &s_isa, w, act);
                    cr_assert(fabs((double)s_isa - (double)s_scalar) <= 2 * bound,
                              "%s n %ld trial %d: %s %.9g vs scalar %.9g (bound %.3g)", snug_type_name(type), (long)n,
                              trial, snug_isa_name((snug_isa)isa), (double)s_isa, (double)s_scalar, 2 * bound);
                    /* Misaligned rows (Q6_K rows are only 2-byte aligned in a file) give the very same result. */
                    memmove(w + 1, w, (size_t)(n / QK * block_bytes(type)));
                    memmove(act + 1, act, (size_t)(n / QK * 292));
                    float s_shifted;
                    k->vec_dot(n, &s_shifted, w + 1, act + 1);
                    memmove(w, w + 1, (size_t)(n / QK * block_bytes(type)));
                    memmove(act, act + 1, (size_t)(n / QK * 292));
                    cr_assert_eq(s_shifted, s_isa, "%s on %s: misaligned rows differ", snug_type_name(type),
                                 snug_isa_name((snug_isa)isa));
                    if (k->decode.decode_dot) {
                        /* The decode layout (kernels.h): same quants, same bound. */
                        float s_decode = NAN;
                        cr_assert_leq(k->decode.decode_act_bytes(n), sizeof decode_layout);
                        k->decode.decode_act(x, decode_layout, n);
                        k->decode.decode_dot(n, &s_decode, w, decode_layout);
                        cr_assert(fabs((double)s_decode - (double)s_scalar) <= 2 * bound,
                                  "%s n %ld trial %d: %s decode %.9g vs scalar %.9g (bound %.3g)", snug_type_name(type),
                                  (long)n, trial, snug_isa_name((snug_isa)isa), (double)s_decode, (double)s_scalar,
                                  2 * bound);
                    }
                }
            }
        }
    }
}

/* Sets d (and dmin) of every block of a row to 1.0. */
static void set_unit_scales(uint32_t type, uint8_t *w, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++) {
        uint8_t *blk = w + b * block_bytes(type);
        put_u16(blk + d_offset(type), 0x3C00);
        if (dmin_offset(type) >= 0) put_u16(blk + dmin_offset(type), 0x3C00);
    }
}

/* Integer-exact: d = dmin = 1, activations already integers in [−127, 127] with a ±127 in every block (so d_a = 1
 * and q_a = x), and scales kept small (bytes masked) so every partial sum in any order is an integer below 2^24.
 * Every ISA must then return the exact integer dot product from the layout: the integer sums agree bit for bit. */
static void limit_scales(uint32_t type, uint8_t *blk) {
    switch (type) {
    case SNUG_TYPE_Q2_K: break; /* 4-bit scale and min: already small */
    case SNUG_TYPE_Q3_K: break; /* |scale| ≤ 32, levels ≤ 4 */
    case SNUG_TYPE_Q4_K:
    case SNUG_TYPE_Q5_K:
        for (int i = 4; i < 12; i++) blk[i] &= 0x07;  /* scales and mins 0–3 ≤ 7, no top bits for 4–7 */
        for (int i = 12; i < 16; i++) blk[i] &= 0x77; /* scales and mins 4–7 ≤ 7 */
        break;
    case SNUG_TYPE_Q6_K:
        for (int i = 192; i < 208; i++) blk[i] = (uint8_t)((int8_t)blk[i] >> 4); /* |scale| ≤ 8 */
        break;
    default: break;
    }
}

Test(kernels, integer_sums_are_exact_on_every_isa) {
    static uint8_t w[2 * 210], act[2 * 292];
    static float x[2 * QK];
    rng_state = 17;
    for (int t = 0; t < K_TYPE_COUNT; t++) {
        uint32_t type = k_types[t];
        for (int trial = 0; trial < 50; trial++) {
            int64_t n = trial % 2 ? 2 * QK : QK;
            for (int64_t b = 0; b < n / QK; b++) {
                random_block(type, w + b * block_bytes(type));
                limit_scales(type, w + b * block_bytes(type));
            }
            set_unit_scales(type, w, n);
            for (int64_t i = 0; i < n; i++) x[i] = (float)((int)(rng_next() % 255) - 127);
            for (int64_t b = 0; b < n / QK; b++) x[b * QK + (int)(rng_next() % QK)] = rng_next() & 1 ? 127.0f : -127.0f;
            kernels_or_null(type, SNUG_ISA_SCALAR)->quantize_act(x, act, n);
            cr_assert_eq(q8k_d(act), 1.0f);
            reference ref = reference_dot(type, w, act, n);
            cr_assert(ref.abs_terms_int < 0x1p24, "%s: test setup leaves the exact range (%g)", snug_type_name(type),
                      ref.abs_terms_int);
            for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
                const snug_type_kernels *k = kernels_or_null(type, (snug_isa)isa);
                if (!k) continue;
                float s;
                k->vec_dot(n, &s, w, act);
                cr_assert_eq((double)s, ref.exact, "%s on %s trial %d: %.1f, exact %.1f", snug_type_name(type),
                             snug_isa_name((snug_isa)isa), trial, (double)s, ref.exact);
                if (k->decode.decode_dot) {
                    static uint8_t decoded[2 * 512];
                    cr_assert_leq(k->decode.decode_act_bytes(n), sizeof decoded);
                    k->decode.decode_act(x, decoded, n);
                    k->decode.decode_dot(n, &s, w, decoded);
                    cr_assert_eq((double)s, ref.exact, "%s on %s trial %d (decode): %.1f, exact %.1f",
                                 snug_type_name(type), snug_isa_name((snug_isa)isa), trial, (double)s, ref.exact);
                }
            }
        }
    }
}

/* Maximal magnitudes: every level at its extreme, every scale at its extreme, activations ±127 (and −128, which the
 * Q8_K format allows though our encoder never writes it). Why no int16 can overflow: vpmaddubsw adds two products
 * level·a with the level unsigned — Q2_K 2·3·128 = 768, Q3_K 2·7·128 = 1792 (levels stored as q + 4), Q4_K 2·15·128
 * = 3840, Q5_K 2·31·128 = 7936, Q6_K 2·63·128 = 16128 (levels stored as q + 32) — all < 32767; a pair of bsums
 * (Q4_K / Q5_K) is at most 2·16·128 = 4096; scales enter as int16 into vpmaddwd, which sums into int32; the largest
 * super-block sum (Q6_K: 256·32·128·128 ≈ 1.3e8) is far below 2^31. A saturating kernel would be off by thousands. */
static void fill_extreme_block(uint32_t type, uint8_t *blk, int variant) {
    memset(blk, 0xFF, block_bytes(type)); /* every level and scale bit set */
    switch (type) {
    case SNUG_TYPE_Q3_K:
        if (variant & 1) memset(blk + 96, 0x00, 12); /* biased scale 0: −32, the largest magnitude */
        break;
    case SNUG_TYPE_Q6_K:
        memset(blk + 192, variant & 1 ? 0x80 : 0x7F, 16); /* −128 or 127 */
        if (variant & 2) memset(blk + 128, 0x00, 64);     /* levels 0..15 − 32: the most negative level −32 */
        break;
    case SNUG_TYPE_Q4_K:
    case SNUG_TYPE_Q5_K:
    case SNUG_TYPE_Q2_K:
        if (variant & 1) { /* levels 0: only the min term, at its largest */
            if (type == SNUG_TYPE_Q2_K)
                memset(blk + 16, 0, 64);
            else if (type == SNUG_TYPE_Q4_K)
                memset(blk + 16, 0, 128);
            else
                memset(blk + 16, 0, 160);
        }
        break;
    default: break;
    }
    put_u16(blk + d_offset(type), 0x3C00);
    if (dmin_offset(type) >= 0) put_u16(blk + dmin_offset(type), 0x3C00);
}

static void fill_extreme_act(uint8_t *blk, int variant) {
    float one = 1.0f;
    memset(blk, 0, 292);
    memcpy(blk, &one, 4);
    for (int e = 0; e < QK; e++) {
        int q = variant == 0 ? 127 : variant == 1 ? -127 : variant == 2 ? (e % 2 ? 127 : -127) : -128;
        blk[4 + e] = (uint8_t)(int8_t)q;
    }
    for (int j = 0; j < 16; j++) {
        int16_t sum = 0;
        for (int e = 16 * j; e < 16 * j + 16; e++) sum = (int16_t)(sum + (int8_t)blk[4 + e]);
        memcpy(blk + 260 + 2 * j, &sum, 2);
    }
}

Test(kernels, maximal_magnitudes_do_not_saturate) {
    enum { BLOCKS = 3 };
    static uint8_t w[BLOCKS * 210], act[BLOCKS * 292];
    for (int t = 0; t < K_TYPE_COUNT; t++) {
        uint32_t type = k_types[t];
        for (int wv = 0; wv < 4; wv++) {
            for (int av = 0; av < 4; av++) {
                for (int b = 0; b < BLOCKS; b++) {
                    fill_extreme_block(type, w + b * block_bytes(type), wv);
                    fill_extreme_act(act + b * 292, av);
                }
                reference ref = reference_dot(type, w, act, BLOCKS * QK);
                for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
                    const snug_type_kernels *k = kernels_or_null(type, (snug_isa)isa);
                    if (!k) continue;
                    float s;
                    k->vec_dot(BLOCKS * QK, &s, w, act);
                    /* Exact integers up to ~1e8: only the final float roundings (a few ulps) may differ. */
                    double tol = 16 * 0x1p-24 * ref.magnitude;
                    cr_assert(fabs((double)s - ref.exact) <= tol, "%s on %s, weights %d acts %d: %.1f, exact %.1f",
                              snug_type_name(type), snug_isa_name((snug_isa)isa), wv, av, (double)s, ref.exact);
                    if (k->decode.decode_dot && av < 3) { /* the encoder writes ±127, never −128 */
                        static float xs[BLOCKS * QK];
                        static uint8_t decoded[BLOCKS * 512];
                        for (int e = 0; e < BLOCKS * QK; e++) xs[e] = (float)(int8_t)act[(e / QK) * 292 + 4 + e % QK];
                        k->decode.decode_act(xs, decoded, BLOCKS * QK);
                        k->decode.decode_dot(BLOCKS * QK, &s, w, decoded);
                        cr_assert(fabs((double)s - ref.exact) <= tol, "%s on %s (decode), weights %d acts %d: %.1f",
                                  snug_type_name(type), snug_isa_name((snug_isa)isa), wv, av, (double)s);
                    }
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- (d) register tiles */

/* dot_tile (kernels.h: optional, R ≤ 4 rows × T ≤ 4 tokens at once) is held to the same ISA's vec_dot: every
 * shape 1…4 × 1…4, the outputs at y[t · y_stride + r] and nothing written elsewhere. Rows and activation rows sit
 * TILE_PAD bytes further apart than their length, from an odd address: strides and rows need no alignment. */
enum { TILE = SNUG_TILE_MAX, TILE_PAD = 3, Y_STRIDE = TILE + 3 };
static const float y_untouched = -12345.0f;

/* The rows and tokens of one tile test: rows at w + r · w_stride, tokens at act + t · a_stride. */
typedef struct tile_case {
    uint32_t type;
    int64_t n;
    const uint8_t *w, *act;
    uint64_t w_stride, a_stride;
} tile_case;

/* Runs dot_tile over every shape; output (r, t) must be within tol[t][r] of want[t][r] (tol 0: equal). */
static void check_tile_shapes(const snug_type_kernels *k, snug_isa isa, const tile_case *c,
                              const double want[TILE][TILE], const double tol[TILE][TILE], const char *what) {
    for (int rows = 1; rows <= TILE; rows++) {
        for (int tokens = 1; tokens <= TILE; tokens++) {
            float y[TILE * Y_STRIDE];
            for (int i = 0; i < TILE * Y_STRIDE; i++) y[i] = y_untouched;
            k->dot_tile(c->n, y, Y_STRIDE, c->w, c->w_stride, c->act, c->a_stride, rows, tokens);
            for (int t = 0; t < TILE; t++) {
                for (int r = 0; r < Y_STRIDE; r++) {
                    float got = y[t * Y_STRIDE + r];
                    if (t >= tokens || r >= rows) {
                        cr_assert_eq(got, y_untouched, "%s %s on %s, tile %d×%d wrote output (%d, %d)", what,
                                     snug_type_name(c->type), snug_isa_name(isa), rows, tokens, r, t);
                        continue;
                    }
                    cr_assert(fabs((double)got - want[t][r]) <= tol[t][r],
                              "%s %s on %s n %ld, tile %d×%d, row %d token %d: %.9g, want %.9g (tol %.3g)", what,
                              snug_type_name(c->type), snug_isa_name(isa), (long)c->n, rows, tokens, r, t, (double)got,
                              want[t][r], tol[t][r]);
                }
            }
        }
    }
}

/* Storage for a tile case of up to MAX_N elements; returns the case with rows and tokens laid out as above. */
static tile_case tile_storage(uint32_t type, int64_t n) {
    static uint8_t w[TILE * (MAX_N / QK * 210 + TILE_PAD) + 1], act[TILE * (MAX_N / QK * 292 + TILE_PAD) + 1];
    tile_case c = {type,
                   n,
                   w + 1,
                   act + 1,
                   (uint64_t)(n / QK) * block_bytes(type) + TILE_PAD,
                   (uint64_t)(n / QK) * 292 + TILE_PAD};
    return c;
}

static uint8_t *tile_row(const tile_case *c, int r) { return (uint8_t *)c->w + (uint64_t)r * c->w_stride; }
static uint8_t *tile_token(const tile_case *c, int t) { return (uint8_t *)c->act + (uint64_t)t * c->a_stride; }

/* On a CPU with AVX-512 these must have tiles (prefill speed depends on them); elsewhere the test covers what is. */
static bool tile_expected(uint32_t type, snug_isa isa) {
    return (type == SNUG_TYPE_Q4_K || type == SNUG_TYPE_Q5_K || type == SNUG_TYPE_Q6_K) &&
           (isa == SNUG_ISA_AVX512 || isa == SNUG_ISA_AVX512_VNNI);
}

/* With VNNI the Q4_K and Q6_K kernels are the VNNI file's own, not the AVX-512 ones it was laid over: otherwise the
 * tests above would pass without ever running them. */
Test(tiles, vnni_kernels_are_used_where_the_cpu_has_them) {
    if (snug_isa_best_supported() != SNUG_ISA_AVX512_VNNI) return;
    const uint32_t types[] = {SNUG_TYPE_Q4_K, SNUG_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const snug_type_kernels *vnni = kernels_or_null(types[i], SNUG_ISA_AVX512_VNNI);
        const snug_type_kernels *avx512 = kernels_or_null(types[i], SNUG_ISA_AVX512);
        cr_assert(vnni && avx512);
        cr_assert(vnni->vec_dot != avx512->vec_dot, "%s: no VNNI vec_dot", snug_type_name(types[i]));
        cr_assert(vnni->dot_tile && vnni->dot_tile != avx512->dot_tile, "%s: no VNNI dot_tile",
                  snug_type_name(types[i]));
    }
}

Test(tiles, dot_tile_matches_vec_dot_on_every_isa) {
    static float x[MAX_N];
    rng_state = 19;
    int tested = 0;
    for (int t = 0; t < K_TYPE_COUNT; t++) {
        uint32_t type = k_types[t];
        for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
            const snug_type_kernels *k = kernels_or_null(type, (snug_isa)isa);
            if (!k) continue;
            if (tile_expected(type, (snug_isa)isa))
                cr_assert_not_null(k->dot_tile, "%s on %s has no dot_tile", snug_type_name(type),
                                   snug_isa_name((snug_isa)isa));
            if (!k->dot_tile) continue;
            tested++;
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                tile_case c = tile_storage(type, sizes[s]);
                for (int trial = 0; trial < 2; trial++) {
                    for (int r = 0; r < TILE; r++) make_weights(type, tile_row(&c, r), c.n, (trial + r) % 2 == 1);
                    for (int tok = 0; tok < TILE; tok++) {
                        fill_activations(x, c.n, (trial + tok) % 2);
                        k->quantize_act(x, tile_token(&c, tok), c.n);
                    }
                    double want[TILE][TILE], tol[TILE][TILE];
                    for (int tok = 0; tok < TILE; tok++) {
                        for (int r = 0; r < TILE; r++) {
                            float s_vec;
                            k->vec_dot(c.n, &s_vec, tile_row(&c, r), tile_token(&c, tok));
                            want[tok][r] = s_vec;
                            tol[tok][r] =
                                2 * rounding_bound(
                                        c.n, reference_dot(type, tile_row(&c, r), tile_token(&c, tok), c.n).magnitude);
                        }
                    }
                    check_tile_shapes(k, (snug_isa)isa, &c, want, tol, "random");
                }
            }
        }
    }
    cr_log_info("dot_tile checked for %d (type, ISA) pairs", tested);
}

/* As integer_sums_are_exact_on_every_isa: d = dmin = d_a = 1, small scales, so every tile output is the exact integer
 * dot product. Each row and each token is different. */
Test(tiles, dot_tile_integer_sums_are_exact) {
    rng_state = 23;
    static float x[2 * QK];
    for (int t = 0; t < K_TYPE_COUNT; t++) {
        uint32_t type = k_types[t];
        for (int trial = 0; trial < 8; trial++) {
            tile_case c = tile_storage(type, trial % 2 ? 2 * QK : QK);
            for (int r = 0; r < TILE; r++) {
                for (int64_t b = 0; b < c.n / QK; b++) {
                    random_block(type, tile_row(&c, r) + b * block_bytes(type));
                    limit_scales(type, tile_row(&c, r) + b * block_bytes(type));
                }
                set_unit_scales(type, tile_row(&c, r), c.n);
            }
            for (int tok = 0; tok < TILE; tok++) {
                for (int64_t i = 0; i < c.n; i++) x[i] = (float)((int)(rng_next() % 255) - 127);
                for (int64_t b = 0; b < c.n / QK; b++) x[b * QK + (int)(rng_next() % QK)] = 127.0f;
                kernels_or_null(type, SNUG_ISA_SCALAR)->quantize_act(x, tile_token(&c, tok), c.n);
            }
            double want[TILE][TILE], zero[TILE][TILE] = {{0}};
            for (int tok = 0; tok < TILE; tok++) {
                for (int r = 0; r < TILE; r++) {
                    reference ref = reference_dot(type, tile_row(&c, r), tile_token(&c, tok), c.n);
                    cr_assert(ref.abs_terms_int < 0x1p24, "%s: test setup leaves the exact range",
                              snug_type_name(type));
                    want[tok][r] = ref.exact;
                }
            }
            for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
                const snug_type_kernels *k = kernels_or_null(type, (snug_isa)isa);
                if (k && k->dot_tile) check_tile_shapes(k, (snug_isa)isa, &c, want, zero, "integer");
            }
        }
    }
}

/* As maximal_magnitudes_do_not_saturate, with every row and token of a tile at a different extreme. */
Test(tiles, dot_tile_maximal_magnitudes_do_not_saturate) {
    enum { BLOCKS = 3 };
    for (int t = 0; t < K_TYPE_COUNT; t++) {
        uint32_t type = k_types[t];
        tile_case c = tile_storage(type, BLOCKS * QK);
        for (int variant = 0; variant < 4; variant++) {
            for (int i = 0; i < TILE; i++) {
                for (int b = 0; b < BLOCKS; b++) {
                    fill_extreme_block(type, tile_row(&c, i) + b * block_bytes(type), (variant + i) % 4);
                    fill_extreme_act(tile_token(&c, i) + b * 292, (variant + 3 * i) % 4);
                }
            }
            double want[TILE][TILE], tol[TILE][TILE];
            for (int tok = 0; tok < TILE; tok++) {
                for (int r = 0; r < TILE; r++) {
                    reference ref = reference_dot(type, tile_row(&c, r), tile_token(&c, tok), c.n);
                    want[tok][r] = ref.exact;
                    tol[tok][r] = 16 * 0x1p-24 * ref.magnitude;
                }
            }
            for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
                const snug_type_kernels *k = kernels_or_null(type, (snug_isa)isa);
                if (k && k->dot_tile) check_tile_shapes(k, (snug_isa)isa, &c, want, tol, "extreme");
            }
        }
    }
}

/* Every shape on rows and tokens allocated to their exact size (row stride = row length): a kernel that reads past
 * its R rows, its T tokens or a block's end fails under AddressSanitizer (make check SANITIZE=1). */
Test(tiles, dot_tile_reads_only_its_rows_and_tokens) {
    static float x[2 * QK];
    rng_state = 29;
    for (int t = 0; t < K_TYPE_COUNT; t++) {
        uint32_t type = k_types[t];
        for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
            const snug_type_kernels *k = kernels_or_null(type, (snug_isa)isa);
            if (!k || !k->dot_tile) continue;
            for (int64_t n = QK; n <= 2 * QK; n += QK) {
                uint64_t w_row = (uint64_t)(n / QK) * block_bytes(type), a_row = (uint64_t)(n / QK) * 292;
                for (int rows = 1; rows <= TILE; rows++) {
                    for (int tokens = 1; tokens <= TILE; tokens++) {
                        uint8_t *w = malloc(rows * w_row), *act = malloc(tokens * a_row);
                        cr_assert(w && act);
                        for (int r = 0; r < rows; r++) make_weights(type, w + r * w_row, n, false);
                        for (int tok = 0; tok < tokens; tok++) {
                            fill_activations(x, n, 0);
                            k->quantize_act(x, act + tok * a_row, n);
                        }
                        float y[TILE * TILE];
                        k->dot_tile(n, y, TILE, w, w_row, act, a_row, rows, tokens);
                        for (int tok = 0; tok < tokens; tok++) {
                            for (int r = 0; r < rows; r++) {
                                float want;
                                k->vec_dot(n, &want, w + r * w_row, act + tok * a_row);
                                double bound =
                                    2 * rounding_bound(
                                            n, reference_dot(type, w + r * w_row, act + tok * a_row, n).magnitude);
                                cr_assert(fabs((double)y[tok * TILE + r] - want) <= bound,
                                          "%s on %s, tile %d×%d: row %d token %d", snug_type_name(type),
                                          snug_isa_name((snug_isa)isa), rows, tokens, r, tok);
                            }
                        }
                        free(w);
                        free(act);
                    }
                }
            }
        }
    }
}
