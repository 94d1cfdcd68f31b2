/* test_kernels_cpu.c — the CPU kernel tables of the float (F32, F16, BF16) and legacy (Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0) families against their references, on every ISA this machine runs (snug_kernels_for(type, isa) != NULL).
 *
 *   (a) SIMD vs scalar: quantize_act output is bit-identical; vec_dot agrees within SIMD_VS_SCALAR_TOL · Σ|w_i||a_i|
 *       (w, a the decoded values; for Q4_1 / Q5_1 plus Σ|m_w||a_i|, which bounds the two per-block terms d·isum and
 *       m·s that are rounded separately). The per-block integer sums are exact in both, only the f32 accumulation order
 *       differs, whose typical error is ~1e-7 of that sum: the tolerance leaves two orders of magnitude.
 *   (b) scalar vec_dot vs Σ dequant(w)[i] · dequant(quantize_act(x))[i] in double: within the f32 rounding bound
 *       (n_terms + 5) · 2^-24 · Σ|w_i||a_i| (n_terms = blocks, or elements / 8 for the float types), plus, for the
 *       Q8_1 types, the f16 rounding of s: 2^-11 · Σ_blocks |m_w · d_a · Σq_a| (+ 2^-25 · |m_w| per block for an
 *       s in the f16 subnormal range).
 *   (c) quantize → dequantize of Q4_1, Q5_0, Q5_1, Q8_1: every element within the type's step (half a step, one
 *       step where Q5_0 clips its positive end), plus the f16 rounding of d and m.
 *   (d) hand-built Q4_1, Q5_0, Q5_1, Q8_1 blocks decode to the values worked out from the layout by hand.
 *   (e) dot_tile (the register-blocked prefill kernel) against the same ISA's vec_dot, for every tile shape up to
 *       SNUG_TILE_MAX × SNUG_TILE_MAX and row lengths that leave partial groups of blocks and partial vectors: within
 *       SIMD_VS_SCALAR_TOL · Σ|w_i||a_i| of each pair; it writes exactly its n_rows × n_tokens outputs.
 *   (f) snug_matmul: a batch of tokens (prefill, through dot_tile) against the same tokens one at a time (decode,
 *       through vec_dot), within the same tolerance; and bit-identical results for 1 and 2 threads.
 *   (g) the decode layouts (kernels.h, snug_decode_kernels) against the scalar vec_dot, as (a).
 *   And: all-zero blocks give exactly 0; blocks at the extremes of every type's quant range give the exact integer
 *   result on every ISA, through vec_dot and dot_tile (no int16 saturation in vpmaddubsw; see legacy_x86.h for the
 *   bounds); the Q8 activation encoders round halves away from zero.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/half.h"
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "cpu/quant.h"
#include "gguf/types.h"
#include "snug.h"

#define SIMD_VS_SCALAR_TOL 1e-5
#define F32_UNIT           0x1p-24 /* unit roundoff of f32 */
#define F16_HALF_ULP       0x1p-11 /* relative rounding of a normal f16 */
#define QK                 32      /* elements per block of every legacy type */

static const uint32_t float_types[] = {SNUG_TYPE_F32, SNUG_TYPE_F16, SNUG_TYPE_BF16};
static const uint32_t legacy_types[] = {SNUG_TYPE_Q4_0, SNUG_TYPE_Q4_1, SNUG_TYPE_Q5_0, SNUG_TYPE_Q5_1, SNUG_TYPE_Q8_0};
#define N_FLOAT_TYPES  (sizeof float_types / sizeof float_types[0])
#define N_LEGACY_TYPES (sizeof legacy_types / sizeof legacy_types[0])

/* Row lengths: one block, a few, odd block counts, a model-sized row and one past it. Float types also get lengths
 * that are no multiple of any vector width. */
static const int64_t block_sizes[] = {32, 64, 32 * 7, 32 * 9, 32 * 33, 4096, 4096 + 32, 11008};
static const int64_t float_only_sizes[] = {1, 7, 15, 17, 33, 100, 4097};

/* ---- helpers ------------------------------------------------------------------------------------------------- */

static uint64_t rng_state;

static double uniform(void) { /* [0, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Values with a per-block offset and scale (exercises the minimum of Q4_1 / Q5_1), and now and then an outlier. */
static void fill_random(float *x, int64_t n, double offset_scale) {
    double offset = 0, scale = 1;
    for (int64_t i = 0; i < n; i++) {
        if (i % QK == 0) {
            offset = (uniform() * 2 - 1) * offset_scale;
            scale = 0.1 + uniform() * 2;
        }
        double v = offset + (uniform() * 2 - 1) * scale;
        if (uniform() < 0.01) v *= 8;
        x[i] = (float)v;
    }
}

static uint64_t row_bytes(uint32_t type, int64_t n) {
    uint64_t bytes = 0;
    cr_assert(snug_type_row_bytes(type, (uint64_t)n, &bytes), "%s rows of %lld", snug_type_name(type), (long long)n);
    return bytes;
}

static uint32_t expected_act_type(uint32_t type) {
    switch (type) {
    case SNUG_TYPE_Q4_0:
    case SNUG_TYPE_Q5_0:
    case SNUG_TYPE_Q8_0: return SNUG_TYPE_Q8_0;
    case SNUG_TYPE_Q4_1:
    case SNUG_TYPE_Q5_1: return SNUG_TYPE_Q8_1;
    default: return SNUG_TYPE_F32;
    }
}

/* Bytes of n activations in act_type; F32 activations are the floats themselves. */
static uint64_t act_bytes(uint32_t act_type, int64_t n) {
    return act_type == SNUG_TYPE_F32 ? (uint64_t)n * sizeof(float) : snug_act_row_bytes(act_type, n);
}

static float f16_at(const uint8_t *p) { return snug_f16_to_f32(snug_load_u16(p)); }

/* One weight row and one activation row, encoded, with their decoded values and reference sums. */
typedef struct case_data {
    uint32_t type, act_type;
    int64_t n;
    uint8_t *w;        /* the weight row in `type` */
    uint8_t *act;      /* x encoded by the scalar quantize_act */
    float *x;          /* activations before encoding */
    double reference;  /* Σ dequant(w) · dequant(act), double */
    double abs_sum;    /* Σ |dequant(w)| · |dequant(act)|, + Σ |m_w| · |dequant(act)| for Q4_1 / Q5_1 */
    double s_rounding; /* bound of the f16 rounding of the Q8_1 s terms (0 for other act types) */
} case_data;

static case_data make_case(uint32_t type, int64_t n, double w_offset, double x_offset) {
    case_data c = {.type = type, .n = n};
    const snug_type_kernels *scalar = snug_kernels_for(type, SNUG_ISA_SCALAR);
    cr_assert_not_null(scalar, "%s has scalar kernels", snug_type_name(type));
    c.act_type = scalar->act_type;
    float *wf = malloc((size_t)n * sizeof(float));
    c.x = malloc((size_t)n * sizeof(float));
    c.w = malloc(row_bytes(type, n));
    c.act = malloc(act_bytes(c.act_type, n));
    fill_random(wf, n, w_offset);
    fill_random(c.x, n, x_offset);
    cr_assert(snug_quantize_row(type, wf, c.w, n));
    scalar->quantize_act(c.x, c.act, n);

    float *wd = malloc((size_t)n * sizeof(float)), *ad = malloc((size_t)n * sizeof(float));
    cr_assert(snug_dequantize_row(type, c.w, wd, n));
    cr_assert(snug_dequantize_row(c.act_type, c.act, ad, n));
    for (int64_t i = 0; i < n; i++) {
        c.reference += (double)wd[i] * ad[i];
        c.abs_sum += fabs((double)wd[i] * ad[i]);
    }
    if (c.act_type == SNUG_TYPE_Q8_1) {
        /* m_w at bytes 2..3 of Q4_1 and Q5_1 blocks; d_a at bytes 0..1 of Q8_1, quants from byte 4. */
        uint64_t w_block = row_bytes(type, QK);
        for (int64_t b = 0; b < n / QK; b++) {
            const uint8_t *ab = c.act + b * SNUG_Q8_1_BLOCK_BYTES;
            int qsum = 0;
            for (int j = 0; j < QK; j++) qsum += (int8_t)ab[4 + j];
            double m = f16_at(c.w + b * w_block + 2);
            for (int j = 0; j < QK; j++) c.abs_sum += fabs(m) * fabs((double)ad[b * QK + j]);
            c.s_rounding += fabs(m * f16_at(ab) * qsum) * F16_HALF_ULP + fabs(m) * 0x1p-25;
        }
    }
    free(wf);
    free(wd);
    free(ad);
    return c;
}

static void free_case(case_data *c) {
    free(c->w);
    free(c->act);
    free(c->x);
}

/* The sizes a type is tested at; returns the count written into sizes. */
static int sizes_for(uint32_t type, int64_t *sizes) {
    int count = 0;
    for (size_t i = 0; i < sizeof block_sizes / sizeof block_sizes[0]; i++) sizes[count++] = block_sizes[i];
    if (snug_type_traits_of(type).block_elems == 1) {
        for (size_t i = 0; i < sizeof float_only_sizes / sizeof float_only_sizes[0]; i++) {
            sizes[count++] = float_only_sizes[i];
        }
    }
    return count;
}

static int64_t rounding_terms(const case_data *c) {
    int64_t block = snug_type_traits_of(c->type).block_elems;
    return block == 1 ? c->n / 8 : c->n / block; /* scalar float kernels keep 8 interleaved partial sums */
}

/* ---- dispatch ------------------------------------------------------------------------------------------------ */

Test(kernels_cpu, every_type_of_both_families_has_kernels_and_the_right_act_type) {
    int isas_tested = 0;
    for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
        if (!snug_kernels_for(SNUG_TYPE_F32, (snug_isa)isa)) continue;
        isas_tested++;
        for (size_t i = 0; i < N_FLOAT_TYPES + N_LEGACY_TYPES; i++) {
            uint32_t type = i < N_FLOAT_TYPES ? float_types[i] : legacy_types[i - N_FLOAT_TYPES];
            const snug_type_kernels *k = snug_kernels_for(type, (snug_isa)isa);
            cr_assert_not_null(k, "%s on %s", snug_type_name(type), snug_isa_name((snug_isa)isa));
            cr_assert_not_null(k->quantize_act);
            cr_assert_eq(k->act_type, expected_act_type(type), "%s on %s: act type %u", snug_type_name(type),
                         snug_isa_name((snug_isa)isa), k->act_type);
        }
    }
    cr_assert_geq(isas_tested, 1);
#if defined(__x86_64__)
    /* On this project's x86 machines AVX2 is always there; say so if a build lost it. */
    if (snug_isa_best_supported() >= SNUG_ISA_AVX2) cr_assert_not_null(snug_kernels_for(SNUG_TYPE_Q4_0, SNUG_ISA_AVX2));
#endif
}

/* ---- (a) SIMD vs scalar, (b) scalar vs the dequantized reference ---------------------------------------------- */

/* The decode layout (kernels.h) against the scalar vec_dot on the same activations: the same tolerance, since its
 * integer sums are the same; the layout is written in full (no byte left as it was) and nothing past it. */
static void check_decode(const snug_type_kernels *k, const case_data *c, float scalar_dot, snug_isa isa) {
    const uint64_t bytes = k->decode.decode_act_bytes(c->n), guard = 64;
    uint8_t *a = malloc(bytes + guard), *b = malloc(bytes + guard);
    memset(a, 0xa5, bytes + guard);
    memset(b, 0x5a, bytes + guard);
    k->decode.decode_act(c->x, a, c->n);
    k->decode.decode_act(c->x, b, c->n);
    cr_assert(memcmp(a, b, bytes) == 0, "%s on %s n=%lld: decode layout depends on the buffer's old bytes",
              snug_type_name(c->type), snug_isa_name(isa), (long long)c->n);
    for (uint64_t i = bytes; i < bytes + guard; i++) cr_assert_eq(a[i], 0xa5, "decode layout wrote past its size");
    float dot = NAN;
    k->decode.decode_dot(c->n, &dot, c->w, a);
    double tol = SIMD_VS_SCALAR_TOL * c->abs_sum;
    cr_assert(fabs((double)dot - scalar_dot) <= tol, "%s on %s n=%lld: decode %.9g vs scalar %.9g (tol %.3g)",
              snug_type_name(c->type), snug_isa_name(isa), (long long)c->n, (double)dot, (double)scalar_dot, tol);
    free(a);
    free(b);
}

static void check_type(uint32_t type, double w_offset, double x_offset) {
    const snug_type_kernels *scalar = snug_kernels_for(type, SNUG_ISA_SCALAR);
    int64_t sizes[32];
    int n_sizes = sizes_for(type, sizes);
    for (int si = 0; si < n_sizes; si++) {
        case_data c = make_case(type, sizes[si], w_offset, x_offset);
        float scalar_dot = NAN;
        scalar->vec_dot(c.n, &scalar_dot, c.w, c.act);
        double bound = (double)(rounding_terms(&c) + 5) * F32_UNIT * c.abs_sum + c.s_rounding;
        cr_assert(fabs(scalar_dot - c.reference) <= bound, "%s n=%lld: scalar %.9g, reference %.9g (bound %.3g)",
                  snug_type_name(type), (long long)c.n, (double)scalar_dot, c.reference, bound);

        uint64_t abytes = act_bytes(c.act_type, c.n);
        uint8_t *act = malloc(abytes);
        for (int isa = 1; isa < SNUG_ISA_COUNT; isa++) {
            const snug_type_kernels *k = snug_kernels_for(type, (snug_isa)isa);
            if (!k) continue;
            memset(act, 0xa5, abytes);
            k->quantize_act(c.x, act, c.n);
            for (uint64_t i = 0; i < abytes; i++) {
                cr_assert_eq(act[i], c.act[i], "%s on %s n=%lld: activation byte %llu differs from scalar",
                             snug_type_name(type), snug_isa_name((snug_isa)isa), (long long)c.n, (unsigned long long)i);
            }
            float simd_dot = NAN;
            k->vec_dot(c.n, &simd_dot, c.w, act);
            double tol = SIMD_VS_SCALAR_TOL * c.abs_sum;
            cr_assert(fabs((double)simd_dot - scalar_dot) <= tol, "%s on %s n=%lld: %.9g vs scalar %.9g (tol %.3g)",
                      snug_type_name(type), snug_isa_name((snug_isa)isa), (long long)c.n, (double)simd_dot,
                      (double)scalar_dot, tol);
            if (k->decode.decode_dot) check_decode(k, &c, scalar_dot, (snug_isa)isa);
        }
        free(act);
        free_case(&c);
    }
}

Test(kernels_cpu, f32_simd_matches_scalar_and_scalar_matches_reference) {
    rng_state = 1;
    check_type(SNUG_TYPE_F32, 0.5, 0.5);
}
Test(kernels_cpu, f16_simd_matches_scalar_and_scalar_matches_reference) {
    rng_state = 2;
    check_type(SNUG_TYPE_F16, 0.5, 0.5);
}
Test(kernels_cpu, bf16_simd_matches_scalar_and_scalar_matches_reference) {
    rng_state = 3;
    check_type(SNUG_TYPE_BF16, 0.5, 0.5);
}
Test(kernels_cpu, q4_0_simd_matches_scalar_and_scalar_matches_reference) {
    rng_state = 4;
    check_type(SNUG_TYPE_Q4_0, 0.2, 0.5);
}
Test(kernels_cpu, q4_1_simd_matches_scalar_and_scalar_matches_reference) {
    rng_state = 5;
    check_type(SNUG_TYPE_Q4_1, 2.0, 0.5);
}
Test(kernels_cpu, q5_0_simd_matches_scalar_and_scalar_matches_reference) {
    rng_state = 6;
    check_type(SNUG_TYPE_Q5_0, 0.2, 0.5);
}
Test(kernels_cpu, q5_1_simd_matches_scalar_and_scalar_matches_reference) {
    rng_state = 7;
    check_type(SNUG_TYPE_Q5_1, 2.0, 0.5);
}
Test(kernels_cpu, q8_0_simd_matches_scalar_and_scalar_matches_reference) {
    rng_state = 8;
    check_type(SNUG_TYPE_Q8_0, 0.2, 0.5);
}

/* Activations of very different scales per block (1e-6 … 1e4), including blocks that are entirely zero and blocks
 * whose scale lands in the f16 subnormal range: the encoders must still agree byte for byte. */
Test(kernels_cpu, act_encoders_bit_identical_across_isas_over_scales) {
    rng_state = 9;
    const int64_t n = 32 * 64;
    float x[32 * 64];
    for (int64_t i = 0; i < n; i++) {
        int block = (int)(i / QK);
        double scale = block % 8 == 7 ? 0.0 : pow(10.0, (double)(block % 11) - 6.0);
        if (block % 13 == 5) scale = 1e-6; /* d ≈ 8e-9: an f16 subnormal */
        x[i] = (float)((uniform() * 2 - 1) * scale);
    }
    const uint32_t acts[] = {SNUG_TYPE_Q4_0, SNUG_TYPE_Q4_1}; /* Q8_0 and Q8_1 encoders */
    for (size_t t = 0; t < 2; t++) {
        const snug_type_kernels *scalar = snug_kernels_for(acts[t], SNUG_ISA_SCALAR);
        uint64_t bytes = act_bytes(scalar->act_type, n);
        uint8_t want[32 * 64 / 32 * 36], got[32 * 64 / 32 * 36], direct[32 * 64 / 32 * 36];
        scalar->quantize_act(x, want, n);
        cr_assert(snug_quantize_row(scalar->act_type, x, direct, n));
        cr_assert_arr_eq(want, direct, bytes, "the scalar activation encoder is snug_quantize_row");
        for (int isa = 1; isa < SNUG_ISA_COUNT; isa++) {
            const snug_type_kernels *k = snug_kernels_for(acts[t], (snug_isa)isa);
            if (!k) continue;
            k->quantize_act(x, got, n);
            for (uint64_t i = 0; i < bytes; i++) {
                cr_assert_eq(got[i], want[i], "%s on %s: byte %llu", snug_type_name(scalar->act_type),
                             snug_isa_name((snug_isa)isa), (unsigned long long)i);
            }
        }
    }
}

/* max|x| = 127 makes d = 1 exactly, so x · (1/d) = x: halves must round away from zero (as lroundf), on every ISA. */
Test(kernels_cpu, q8_act_encoders_round_halves_away_from_zero) {
    float x[QK] = {127.0f,       0.5f,   -0.5f,   1.5f,       -1.5f, 2.5f,  -2.5f, 0.49999997f,
                   -0.49999997f, 126.5f, -126.5f, 3.4999998f, 0.0f,  -0.0f, 7.0f,  -7.0f};
    const int8_t want[16] = {127, 1, -1, 2, -2, 3, -3, 0, 0, 127, -127, 3, 0, 0, 7, -7};
    for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
        const snug_type_kernels *k0 = snug_kernels_for(SNUG_TYPE_Q8_0, (snug_isa)isa);
        const snug_type_kernels *k1 = snug_kernels_for(SNUG_TYPE_Q4_1, (snug_isa)isa);
        if (!k0) continue;
        uint8_t b0[SNUG_Q8_0_BLOCK_BYTES], b1[SNUG_Q8_1_BLOCK_BYTES];
        k0->quantize_act(x, b0, QK);
        k1->quantize_act(x, b1, QK);
        cr_assert_eq(snug_load_u16(b0), 0x3c00, "d = 1.0 on %s", snug_isa_name((snug_isa)isa));
        cr_assert_eq(snug_load_u16(b1), 0x3c00);
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            int expect = j < 16 ? want[j] : 0;
            sum += expect;
            cr_assert_eq((int8_t)b0[2 + j], expect, "Q8_0 on %s: element %d = %g", snug_isa_name((snug_isa)isa), j,
                         (double)x[j]);
            cr_assert_eq((int8_t)b1[4 + j], expect, "Q8_1 on %s: element %d", snug_isa_name((snug_isa)isa), j);
        }
        /* s = d · Σq = 1 · 130 = 2^7 · (1 + 16/1024): f16 0x5810. */
        cr_assert_eq(sum, 130);
        cr_assert_eq(snug_load_u16(b1 + 2), 0x5810, "s on %s", snug_isa_name((snug_isa)isa));
    }
}

/* ---- zeros and extremes -------------------------------------------------------------------------------------- */

Test(kernels_cpu, all_zero_blocks_give_exactly_zero) {
    const int64_t n = 32 * 9;
    float zeros[32 * 9] = {0};
    uint8_t w[32 * 9 * 4], act[32 * 9 * 4];
    for (size_t i = 0; i < N_FLOAT_TYPES + N_LEGACY_TYPES; i++) {
        uint32_t type = i < N_FLOAT_TYPES ? float_types[i] : legacy_types[i - N_FLOAT_TYPES];
        cr_assert(snug_quantize_row(type, zeros, w, n));
        for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
            const snug_type_kernels *k = snug_kernels_for(type, (snug_isa)isa);
            if (!k) continue;
            memset(act, 0xff, sizeof act);
            k->quantize_act(zeros, act, n);
            uint64_t abytes = act_bytes(k->act_type, n);
            for (uint64_t b = 0; b < abytes; b++)
                cr_assert_eq(act[b], 0, "%s act byte %llu", snug_type_name(type), (unsigned long long)b);
            float s = NAN;
            k->vec_dot(n, &s, w, act);
            cr_assert(s == 0.0f, "%s on %s: %g", snug_type_name(type), snug_isa_name((snug_isa)isa), (double)s);
        }
    }
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A weight block with every quant at `level` (the raw unsigned code: 0…15, 0…31, or an int8 for Q8_0), d = 1 and
 * m = 0. */
static void extreme_block(uint32_t type, uint8_t *block, int level) {
    switch (type) {
    case SNUG_TYPE_Q4_0:
        put_u16(block, 0x3c00);
        memset(block + 2, level * 0x11, 16);
        break;
    case SNUG_TYPE_Q4_1:
        put_u16(block, 0x3c00);
        put_u16(block + 2, 0);
        memset(block + 4, level * 0x11, 16);
        break;
    case SNUG_TYPE_Q5_0:
        put_u16(block, 0x3c00);
        put_u32(block + 2, level & 16 ? 0xffffffffu : 0);
        memset(block + 6, (level & 15) * 0x11, 16);
        break;
    case SNUG_TYPE_Q5_1:
        put_u16(block, 0x3c00);
        put_u16(block + 2, 0);
        put_u32(block + 4, level & 16 ? 0xffffffffu : 0);
        memset(block + 8, (level & 15) * 0x11, 16);
        break;
    default: /* Q8_0 */
        put_u16(block, 0x3c00);
        memset(block + 2, (uint8_t)(int8_t)level, 32);
        break;
    }
}

/* Every quant at the end of its range against activations of ±127 (the encoder's extremes): the integer products
 * reach 32·128·127 = 130048 per block for Q8_0, pairs up to 2·128·127 = 32512 in vpmaddubsw (just below the int16
 * limit 32767). The result must be exact on every ISA: 33 blocks keep every f32 partial sum an integer below 2^24. */
Test(kernels_cpu, extreme_quants_do_not_saturate) {
    enum { BLOCKS = 33, N = 32 * 33 };
    struct {
        uint32_t type;
        int level; /* raw code */
        int value; /* the weight it decodes to with d = 1, m = 0 */
    } cases[] = {
        {SNUG_TYPE_Q4_0, 0, -8},      {SNUG_TYPE_Q4_0, 15, 7},      {SNUG_TYPE_Q4_1, 15, 15},
        {SNUG_TYPE_Q4_1, 0, 0},       {SNUG_TYPE_Q5_0, 0, -16},     {SNUG_TYPE_Q5_0, 31, 15},
        {SNUG_TYPE_Q5_1, 31, 31},     {SNUG_TYPE_Q8_0, -128, -128}, {SNUG_TYPE_Q8_0, 127, 127},
        {SNUG_TYPE_Q8_0, -127, -127},
    };
    static float x_pos[N], x_neg[N], x_alt[N];
    for (int i = 0; i < N; i++) {
        x_pos[i] = 127.0f;
        x_neg[i] = -127.0f;
        x_alt[i] = i % 2 ? 127.0f : -127.0f;
    }
    const float *xs[3] = {x_pos, x_neg, x_alt};
    const double act_sum_per_block[3] = {32 * 127.0, -32 * 127.0, 0};
    static uint8_t w[BLOCKS * 34], act[BLOCKS * 36];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint64_t wb = row_bytes(cases[c].type, QK);
        for (int b = 0; b < BLOCKS; b++) extreme_block(cases[c].type, w + b * wb, cases[c].level);
        for (int xi = 0; xi < 3; xi++) {
            double want = (double)cases[c].value * act_sum_per_block[xi] * BLOCKS;
            for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
                const snug_type_kernels *k = snug_kernels_for(cases[c].type, (snug_isa)isa);
                if (!k) continue;
                k->quantize_act(xs[xi], act, N);
                float s = NAN;
                k->vec_dot(N, &s, w, act);
                cr_assert_eq((double)s, want, "%s code %d, activations %d, on %s: %.1f, want %.1f",
                             snug_type_name(cases[c].type), cases[c].level, xi, snug_isa_name((snug_isa)isa), (double)s,
                             want);
                if (k->decode.decode_dot) {
                    static uint8_t layout[N * 4];
                    cr_assert_leq(k->decode.decode_act_bytes(N), sizeof layout);
                    k->decode.decode_act(xs[xi], layout, N);
                    k->decode.decode_dot(N, &s, w, layout);
                    cr_assert_eq((double)s, want, "%s code %d, activations %d, on %s (decode): %.1f, want %.1f",
                                 snug_type_name(cases[c].type), cases[c].level, xi, snug_isa_name((snug_isa)isa),
                                 (double)s, want);
                }
            }
        }
    }
}

/* Large but finite weights and activations (|w|, |x| up to 60000) in the float types: no overflow, agreement. */
Test(kernels_cpu, float_types_at_large_magnitudes) {
    rng_state = 10;
    enum { N = 1000 };
    float wf[N], x[N];
    for (int i = 0; i < N; i++) {
        wf[i] = (float)((uniform() * 2 - 1) * 60000.0);
        x[i] = (float)((uniform() * 2 - 1) * 60000.0);
    }
    for (size_t t = 0; t < N_FLOAT_TYPES; t++) {
        uint8_t w[N * 4];
        float wd[N];
        cr_assert(snug_quantize_row(float_types[t], wf, w, N));
        cr_assert(snug_dequantize_row(float_types[t], w, wd, N));
        double ref = 0, abs_sum = 0;
        for (int i = 0; i < N; i++) {
            ref += (double)wd[i] * x[i];
            abs_sum += fabs((double)wd[i] * x[i]);
        }
        for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
            const snug_type_kernels *k = snug_kernels_for(float_types[t], (snug_isa)isa);
            if (!k) continue;
            float s = NAN;
            k->vec_dot(N, &s, w, x);
            cr_assert(isfinite(s) && fabs(s - ref) <= (N / 8 + 5) * F32_UNIT * abs_sum, "%s on %s: %g vs %g",
                      snug_type_name(float_types[t]), snug_isa_name((snug_isa)isa), (double)s, ref);
        }
    }
}

/* ---- (c) round trips of the new block types ------------------------------------------------------------------ */

/* x̂ = f16(d)·q + f16(m): the step d/2 of rounding (1·d where Q5_0 clips), plus q_max·|d − f16(d)| and |m − f16(m)|,
 * plus f32 rounding of the decode (a few ulps of |x|). */
static void check_round_trip(uint32_t type) {
    rng_state = 11 + type;
    enum { N = 32 * 256 };
    static float x[N], y[N];
    static uint8_t buf[N / 32 * 36];
    fill_random(x, N, 1.5);
    cr_assert(snug_quantize_row(type, x, buf, N));
    cr_assert(snug_dequantize_row(type, buf, y, N));
    double err2 = 0, sig2 = 0;
    for (int b = 0; b < N / QK; b++) {
        const float *xb = x + b * QK;
        double min = xb[0], max = xb[0], amax = 0, signed_max = 0;
        for (int j = 0; j < QK; j++) {
            min = fmin(min, xb[j]);
            max = fmax(max, xb[j]);
            if (fabs(xb[j]) > amax) amax = fabs(xb[j]), signed_max = xb[j];
        }
        double d, q_max, m_err;
        switch (type) {
        case SNUG_TYPE_Q4_1: d = (max - min) / 15, q_max = 15, m_err = fabs(min) * F16_HALF_ULP; break;
        case SNUG_TYPE_Q5_1: d = (max - min) / 31, q_max = 31, m_err = fabs(min) * F16_HALF_ULP; break;
        case SNUG_TYPE_Q5_0: d = signed_max / -16, q_max = 16, m_err = 0; break;
        default: d = amax / 127, q_max = 127, m_err = 0; break; /* Q8_1 */
        }
        for (int j = 0; j < QK; j++) {
            int i = b * QK + j;
            double steps = 0.5;
            if (type == SNUG_TYPE_Q5_0 && xb[j] / d + 16 > 31.5) steps = 1.0; /* the clipped positive end */
            double bound = fabs(d) * (steps * (1 + 1e-5) + q_max * F16_HALF_ULP) + m_err + 4 * F32_UNIT * fabs(xb[j]);
            cr_assert(fabs((double)x[i] - y[i]) <= bound, "%s element %d: %.9g → %.9g (step %g, bound %g)",
                      snug_type_name(type), i, (double)x[i], (double)y[i], d, bound);
            err2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
            sig2 += (double)x[i] * x[i];
        }
    }
    cr_log_info("%s round trip: relative RMS error %.4g", snug_type_name(type), sqrt(err2 / sig2));
}

Test(blocks_legacy, q4_1_round_trip_within_half_step) { check_round_trip(SNUG_TYPE_Q4_1); }
Test(blocks_legacy, q5_0_round_trip_within_half_step_one_where_clipped) { check_round_trip(SNUG_TYPE_Q5_0); }
Test(blocks_legacy, q5_1_round_trip_within_half_step) { check_round_trip(SNUG_TYPE_Q5_1); }
Test(blocks_legacy, q8_1_round_trip_within_half_step) { check_round_trip(SNUG_TYPE_Q8_1); }

/* Q8_1's s is d (as stored) · Σq, rounded to f16. */
Test(blocks_legacy, q8_1_s_is_d_times_sum_of_quants) {
    rng_state = 12;
    enum { N = 32 * 64 };
    float x[N];
    uint8_t buf[N / 32 * 36];
    fill_random(x, N, 1.0);
    cr_assert(snug_quantize_row(SNUG_TYPE_Q8_1, x, buf, N));
    for (int b = 0; b < N / QK; b++) {
        const uint8_t *blk = buf + b * SNUG_Q8_1_BLOCK_BYTES;
        int sum = 0;
        for (int j = 0; j < QK; j++) sum += (int8_t)blk[4 + j];
        double want = (double)f16_at(blk) * sum, got = f16_at(blk + 2);
        cr_assert(fabs(got - want) <= fabs(want) * F16_HALF_ULP + 0x1p-25, "block %d: s %g, d·Σq %g", b, got, want);
    }
}

/* ---- (d) hand-built blocks ----------------------------------------------------------------------------------- */

/* Nibble bytes j = j (low: element j) | (15 − j) << 4 (high: element j + 16). */
static void ramp_nibbles(uint8_t *q) {
    for (int j = 0; j < 16; j++) q[j] = (uint8_t)(j | (15 - j) << 4);
}

Test(blocks_legacy, q4_1_block_decodes_per_layout) {
    uint8_t block[SNUG_Q4_1_BLOCK_BYTES];
    put_u16(block, 0x3800);     /* d = 0.5 */
    put_u16(block + 2, 0xbc00); /* m = −1.0 */
    ramp_nibbles(block + 4);
    /* x = 0.5 · q − 1: elements 0…15 have q = 0…15, elements 16…31 have q = 15…0. */
    const float want[32] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f,  3.5f, 4.0f,
                            4.5f,  5.0f,  5.5f, 6.0f, 6.5f, 6.5f, 6.0f, 5.5f, 5.0f,  4.5f, 4.0f,
                            3.5f,  3.0f,  2.5f, 2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f};
    float out[32];
    cr_assert(snug_dequantize_row(SNUG_TYPE_Q4_1, block, out, 32));
    for (int j = 0; j < 32; j++)
        cr_assert_eq(out[j], want[j], "element %d: %g, want %g", j, (double)out[j], (double)want[j]);
}

Test(blocks_legacy, q5_0_block_decodes_per_layout) {
    uint8_t blocks[2 * SNUG_Q5_0_BLOCK_BYTES];
    /* Block 0: d = 0.25, qh = 0x0000ffff (elements 0…15 have the fifth bit), ramp nibbles. Element j < 16: q = 16 + j,
     * x = 0.25 · j; element 16 + j: q = 15 − j, x = 0.25 · (−1 − j). */
    put_u16(blocks, 0x3400);
    put_u32(blocks + 2, 0x0000ffffu);
    ramp_nibbles(blocks + 6);
    /* Block 1: d = 2.0, qh = 0x80000001 (elements 0 and 31), nibbles 0: elements 0 and 31 are q = 16 → 0, all others
     * q = 0 → −32. */
    uint8_t *b1 = blocks + SNUG_Q5_0_BLOCK_BYTES;
    put_u16(b1, 0x4000);
    put_u32(b1 + 2, 0x80000001u);
    memset(b1 + 6, 0, 16);
    const float want0[32] = {0.0f,   0.25f, 0.5f,   0.75f, 1.0f,   1.25f,  1.5f,   1.75f,  2.0f,   2.25f,  2.5f,
                             2.75f,  3.0f,  3.25f,  3.5f,  3.75f,  -0.25f, -0.5f,  -0.75f, -1.0f,  -1.25f, -1.5f,
                             -1.75f, -2.0f, -2.25f, -2.5f, -2.75f, -3.0f,  -3.25f, -3.5f,  -3.75f, -4.0f};
    float out[64];
    cr_assert(snug_dequantize_row(SNUG_TYPE_Q5_0, blocks, out, 64));
    for (int j = 0; j < 32; j++) cr_assert_eq(out[j], want0[j], "block 0 element %d: %g", j, (double)out[j]);
    for (int j = 0; j < 32; j++) {
        float want = (j == 0 || j == 31) ? 0.0f : -32.0f;
        cr_assert_eq(out[32 + j], want, "block 1 element %d: %g", j, (double)out[32 + j]);
    }
}

Test(blocks_legacy, q5_1_block_decodes_per_layout) {
    uint8_t block[SNUG_Q5_1_BLOCK_BYTES];
    put_u16(block, 0x3800);          /* d = 0.5 */
    put_u16(block + 2, 0x3c00);      /* m = 1.0 */
    put_u32(block + 4, 0xffff0000u); /* elements 16…31 have the fifth bit */
    ramp_nibbles(block + 8);
    /* x = 0.5 · q + 1: element j < 16: q = j; element 16 + j: q = 16 + 15 − j = 31 − j. */
    const float want[32] = {1.0f,  1.5f,  2.0f,  2.5f,  3.0f,  3.5f,  4.0f,  4.5f,  5.0f,  5.5f,  6.0f,
                            6.5f,  7.0f,  7.5f,  8.0f,  8.5f,  16.5f, 16.0f, 15.5f, 15.0f, 14.5f, 14.0f,
                            13.5f, 13.0f, 12.5f, 12.0f, 11.5f, 11.0f, 10.5f, 10.0f, 9.5f,  9.0f};
    float out[32];
    cr_assert(snug_dequantize_row(SNUG_TYPE_Q5_1, block, out, 32));
    for (int j = 0; j < 32; j++)
        cr_assert_eq(out[j], want[j], "element %d: %g, want %g", j, (double)out[j], (double)want[j]);
}

Test(blocks_legacy, q8_1_block_decodes_per_layout) {
    uint8_t block[SNUG_Q8_1_BLOCK_BYTES];
    put_u16(block, 0xb400);     /* d = −0.25 */
    put_u16(block + 2, 0x7bff); /* s (not used to decode) */
    for (int j = 0; j < 32; j++) block[4 + j] = (uint8_t)(int8_t)(2 * j - 31);
    float out[32];
    cr_assert(snug_dequantize_row(SNUG_TYPE_Q8_1, block, out, 32));
    cr_assert_eq(out[0], 7.75f);  /* −0.25 · −31 */
    cr_assert_eq(out[15], 0.25f); /* −0.25 · −1 */
    cr_assert_eq(out[31], -7.75f);
    for (int j = 0; j < 32; j++) cr_assert_eq(out[j], -0.25f * (float)(2 * j - 31), "element %d", j);
}

/* Quantizing a hand-picked block: Q4_1 of 0, 1, …, 15 (twice) is d = 1, m = 0, q = x; Q5_0 of −16 … 15 has d = 1. */
Test(blocks_legacy, encoders_reproduce_exact_grids) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j % 16);
    uint8_t b41[SNUG_Q4_1_BLOCK_BYTES];
    cr_assert(snug_quantize_row(SNUG_TYPE_Q4_1, x, b41, 32));
    cr_assert_eq(snug_load_u16(b41), 0x3c00, "d = 1");
    cr_assert_eq(snug_load_u16(b41 + 2), 0x0000, "m = 0");
    for (int j = 0; j < 16; j++) cr_assert_eq(b41[4 + j], (uint8_t)(j | j << 4), "byte %d", j);

    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16);
    uint8_t b50[SNUG_Q5_0_BLOCK_BYTES];
    cr_assert(snug_quantize_row(SNUG_TYPE_Q5_0, x, b50, 32));
    cr_assert_eq(snug_load_u16(b50), 0x3c00, "d = −16 / −16 = 1");
    /* q = x + 16 = j: elements 16…31 have the fifth bit; nibbles: low j, high (j + 16) & 15 = j. */
    cr_assert_eq(snug_load_u16(b50 + 2) | (uint32_t)snug_load_u16(b50 + 4) << 16, 0xffff0000u);
    for (int j = 0; j < 16; j++) cr_assert_eq(b50[6 + j], (uint8_t)(j | j << 4), "byte %d", j);

    for (int j = 0; j < 32; j++) x[j] = (float)j * 0.5f + 3.0f;
    uint8_t b51[SNUG_Q5_1_BLOCK_BYTES];
    cr_assert(snug_quantize_row(SNUG_TYPE_Q5_1, x, b51, 32));
    cr_assert_eq(snug_load_u16(b51), 0x3800, "d = 15.5 / 31 = 0.5");
    cr_assert_eq(snug_load_u16(b51 + 2), 0x4200, "m = 3");
    cr_assert_eq(snug_load_u16(b51 + 4) | (uint32_t)snug_load_u16(b51 + 6) << 16, 0xffff0000u);
    for (int j = 0; j < 16; j++) cr_assert_eq(b51[8 + j], (uint8_t)(j | j << 4), "byte %d", j);
}

/* ---- (e) dot_tile against vec_dot ------------------------------------------------------------------------------ */

/* Block-type lengths: one block, a group of 8 and one past it, odd counts, two groups and a partial third; float types
 * also get lengths that end in a partial vector. */
static const int64_t tile_block_sizes[] = {32, 32 * 7, 32 * 8, 32 * 9, 32 * 17, 32 * 23, 2048};
static const int64_t tile_float_sizes[] = {1, 7, 16, 33, 100, 257};
#define TILE_Y_STRIDE (SNUG_TILE_WIDE_MAX + 3) /* outputs the tile must leave alone lie between its rows */
#define TILE_LIMIT    SNUG_TILE_WIDE_MAX

/* TILE_LIMIT weight rows and tokens of one type, encoded for one ISA, with the per-pair tolerance. */
typedef struct tile_case {
    int64_t n;
    uint64_t w_row, a_row; /* bytes of one weight row / one encoded activation row */
    uint8_t *w, *act;
    double abs_sum[TILE_LIMIT][TILE_LIMIT]; /* [token][row] Σ |w_i| |a_i| of the decoded values */
} tile_case;

static tile_case make_tile_case(uint32_t type, const snug_type_kernels *k, int64_t n) {
    tile_case c = {.n = n, .w_row = row_bytes(type, n), .a_row = act_bytes(k->act_type, n)};
    c.w = malloc(c.w_row * TILE_LIMIT);
    c.act = malloc(c.a_row * TILE_LIMIT);
    float *x = malloc((size_t)n * sizeof(float)), *wd = malloc((size_t)n * TILE_LIMIT * sizeof(float));
    float *ad = malloc((size_t)n * sizeof(float));
    for (int r = 0; r < TILE_LIMIT; r++) {
        fill_random(x, n, 0.3);
        cr_assert(snug_quantize_row(type, x, c.w + r * c.w_row, n));
        cr_assert(snug_dequantize_row(type, c.w + r * c.w_row, wd + r * n, n));
    }
    for (int t = 0; t < TILE_LIMIT; t++) {
        fill_random(x, n, 0.5);
        k->quantize_act(x, c.act + t * c.a_row, n);
        cr_assert(k->act_type == SNUG_TYPE_F32 || snug_dequantize_row(k->act_type, c.act + t * c.a_row, ad, n));
        const float *av = k->act_type == SNUG_TYPE_F32 ? (const float *)(c.act + t * c.a_row) : ad;
        for (int r = 0; r < TILE_LIMIT; r++) {
            double sum = 0;
            for (int64_t i = 0; i < n; i++) sum += fabs((double)wd[r * n + i] * av[i]);
            c.abs_sum[t][r] = sum;
        }
    }
    free(x);
    free(wd);
    free(ad);
    return c;
}

static void check_tile_type(uint32_t type) {
    int isas_with_tiles = 0;
    for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
        const snug_type_kernels *k = snug_kernels_for(type, (snug_isa)isa);
        if (!k || !k->dot_tile) continue;
        isas_with_tiles++;
        const bool blocks = snug_type_traits_of(type).block_elems > 1;
        const int64_t *sizes = blocks ? tile_block_sizes : tile_float_sizes;
        const size_t n_sizes = blocks ? sizeof tile_block_sizes / sizeof tile_block_sizes[0]
                                      : sizeof tile_float_sizes / sizeof tile_float_sizes[0];
        for (size_t si = 0; si < n_sizes + (blocks ? 0 : 3); si++) {
            /* float types: their sizes, then the block sizes 32, 32·9, 2048 */
            int64_t n = si < n_sizes ? sizes[si] : tile_block_sizes[si == n_sizes ? 0 : si == n_sizes + 1 ? 3 : 6];
            tile_case c = make_tile_case(type, k, n);
            const int max_rows = k->tile_rows ? k->tile_rows : SNUG_TILE_MAX;
            const int max_tokens = k->tile_tokens ? k->tile_tokens : SNUG_TILE_MAX;
            cr_assert(max_rows <= TILE_LIMIT && max_tokens <= TILE_LIMIT);
            float want[TILE_LIMIT][TILE_LIMIT];
            for (int t = 0; t < max_tokens; t++) {
                for (int r = 0; r < max_rows; r++) k->vec_dot(n, &want[t][r], c.w + r * c.w_row, c.act + t * c.a_row);
            }
            for (int rows = 1; rows <= max_rows; rows++) {
                for (int tokens = 1; tokens <= max_tokens; tokens++) {
                    /* Exactly `rows` rows and `tokens` tokens of memory, so a read past them is an ASan error. */
                    uint8_t *w = malloc(c.w_row * (uint64_t)rows), *act = malloc(c.a_row * (uint64_t)tokens);
                    memcpy(w, c.w, c.w_row * (uint64_t)rows);
                    memcpy(act, c.act, c.a_row * (uint64_t)tokens);
                    float y[TILE_LIMIT * TILE_Y_STRIDE];
                    for (int i = 0; i < TILE_LIMIT * TILE_Y_STRIDE; i++) y[i] = NAN;
                    k->dot_tile(n, y, TILE_Y_STRIDE, w, c.w_row, act, c.a_row, rows, tokens);
                    for (int t = 0; t < TILE_LIMIT; t++) {
                        for (int r = 0; r < TILE_Y_STRIDE; r++) {
                            float got = y[t * TILE_Y_STRIDE + r];
                            if (t >= tokens || r >= rows) {
                                cr_assert(isnan(got), "%s on %s n=%lld tile %dx%d: wrote y[%d][%d] outside the tile",
                                          snug_type_name(type), snug_isa_name((snug_isa)isa), (long long)n, rows,
                                          tokens, t, r);
                                continue;
                            }
                            double tol = SIMD_VS_SCALAR_TOL * c.abs_sum[t][r];
                            cr_assert(
                                fabs((double)got - want[t][r]) <= tol,
                                "%s on %s n=%lld tile %d rows x %d tokens: y[%d][%d] = %.9g, vec_dot %.9g (tol %.3g)",
                                snug_type_name(type), snug_isa_name((snug_isa)isa), (long long)n, rows, tokens, t, r,
                                (double)got, (double)want[t][r], tol);
                        }
                    }
                    free(w);
                    free(act);
                }
            }
            free(c.w);
            free(c.act);
        }
    }
#if defined(__x86_64__)
    /* Every x86 ISA from AVX2 up has tiles for these types; say so if a table lost them. */
    if (snug_isa_best_supported() >= SNUG_ISA_AVX2)
        cr_assert_geq(isas_with_tiles, 1, "%s: no dot_tile", snug_type_name(type));
#endif
    cr_log_info("%s: dot_tile checked on %d ISAs", snug_type_name(type), isas_with_tiles);
}

Test(kernels_cpu, q4_0_dot_tile_matches_vec_dot_for_every_tile_shape) {
    rng_state = 20;
    check_tile_type(SNUG_TYPE_Q4_0);
}
Test(kernels_cpu, q8_0_dot_tile_matches_vec_dot_for_every_tile_shape) {
    rng_state = 21;
    check_tile_type(SNUG_TYPE_Q8_0);
}
Test(kernels_cpu, f16_dot_tile_matches_vec_dot_for_every_tile_shape) {
    rng_state = 22;
    check_tile_type(SNUG_TYPE_F16);
}
Test(kernels_cpu, f32_dot_tile_matches_vec_dot_for_every_tile_shape) {
    rng_state = 23;
    check_tile_type(SNUG_TYPE_F32);
}
Test(kernels_cpu, bf16_dot_tile_matches_vec_dot_for_every_tile_shape) {
    rng_state = 24;
    check_tile_type(SNUG_TYPE_BF16);
}

/* The extremes of extreme_quants_do_not_saturate through dot_tile: every weight at the end of its range against ±127
 * activations, all 4 × 4 outputs exact (the same integer sums; 33 blocks keep every f32 partial sum exact). */
Test(kernels_cpu, dot_tile_extreme_quants_are_exact) {
    enum { BLOCKS = 33, N = 32 * 33 };
    const struct {
        uint32_t type;
        int level, value;
    } cases[] = {{SNUG_TYPE_Q4_0, 0, -8},
                 {SNUG_TYPE_Q4_0, 15, 7},
                 {SNUG_TYPE_Q8_0, -128, -128},
                 {SNUG_TYPE_Q8_0, 127, 127},
                 {SNUG_TYPE_Q8_0, -127, -127}};
    static float x[TILE_LIMIT][N];
    static uint8_t w[TILE_LIMIT][BLOCKS * 34], act[TILE_LIMIT][BLOCKS * 34];
    double act_sum_per_block[TILE_LIMIT];
    for (int t = 0; t < TILE_LIMIT; t++) {
        for (int i = 0; i < N; i++)
            x[t][i] = t % 4 == 0 ? 127.0f : t % 4 == 1 ? -127.0f : (i + t) % 2 ? 127.0f : -127.0f;
        act_sum_per_block[t] = t % 4 == 0 ? 32 * 127.0 : t % 4 == 1 ? -32 * 127.0 : 0;
    }
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint64_t wb = row_bytes(cases[c].type, QK);
        for (int r = 0; r < TILE_LIMIT; r++) {
            for (int b = 0; b < BLOCKS; b++) extreme_block(cases[c].type, w[r] + b * wb, cases[c].level);
        }
        for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
            const snug_type_kernels *k = snug_kernels_for(cases[c].type, (snug_isa)isa);
            if (!k || !k->dot_tile) continue;
            const int rows = k->tile_rows ? k->tile_rows : SNUG_TILE_MAX;
            const int tokens = k->tile_tokens ? k->tile_tokens : SNUG_TILE_MAX;
            for (int t = 0; t < tokens; t++) k->quantize_act(x[t], act[t], N);
            float y[TILE_LIMIT * TILE_LIMIT];
            k->dot_tile(N, y, TILE_LIMIT, w, sizeof w[0], act, sizeof act[0], rows, tokens);
            for (int t = 0; t < tokens; t++) {
                double want = (double)cases[c].value * act_sum_per_block[t] * BLOCKS;
                for (int r = 0; r < rows; r++) {
                    cr_assert_eq((double)y[t * TILE_LIMIT + r], want, "%s code %d on %s: y[%d][%d] = %.1f, want %.1f",
                                 snug_type_name(cases[c].type), cases[c].level, snug_isa_name((snug_isa)isa), t, r,
                                 (double)y[t * TILE_LIMIT + r], want);
                }
            }
        }
    }
}

/* The AVX-512 VNNI level has its own Q4_0 / Q8_0 kernels where the CPU has VNNI (checked against scalar by the
 * *_simd_matches_scalar tests, which run every ISA). */
Test(kernels_cpu, vnni_level_has_its_own_q4_0_and_q8_0_kernels) {
    const snug_type_kernels *vnni = snug_kernels_for(SNUG_TYPE_Q4_0, SNUG_ISA_AVX512_VNNI);
    if (!vnni) {
        cr_log_info("no AVX-512 VNNI on this CPU: nothing to check");
        return;
    }
    const uint32_t types[] = {SNUG_TYPE_Q4_0, SNUG_TYPE_Q8_0};
    for (size_t i = 0; i < 2; i++) {
        const snug_type_kernels *v = snug_kernels_for(types[i], SNUG_ISA_AVX512_VNNI);
        const snug_type_kernels *p = snug_kernels_for(types[i], SNUG_ISA_AVX512);
        cr_assert(v->vec_dot != p->vec_dot && v->dot_tile && v->dot_tile != p->dot_tile, "%s: VNNI kernels",
                  snug_type_name(types[i]));
        cr_assert_eq(v->tile_rows, SNUG_TILE_WIDE_MAX, "%s: the VNNI tile is the wide one", snug_type_name(types[i]));
    }
}

/* ---- (f) snug_matmul: prefill (tiled) against decode (one token at a time) -------------------------------------- */

/* snug_matmul on a pool of n_threads threads (created for the call). */
static void matmul_threads(const snug_type_kernels *k, const snug_matrix *m, const float *x, int64_t n_tokens, float *y,
                           void *act, int32_t n_threads) {
    snug_pool *pool;
    cr_assert_eq(snug_pool_create(n_threads, &pool, NULL), SNUG_OK, "a pool of %d threads", n_threads);
    snug_matmul_with(k, m, x, n_tokens, y, act, pool);
    snug_pool_destroy(pool);
}

static void check_matmul_batch_vs_single(uint32_t type, int64_t n_in, int64_t n_out, int64_t n_tokens) {
    float *wf = malloc((size_t)(n_in * n_out) * sizeof(float)), *x = malloc((size_t)(n_in * n_tokens) * sizeof(float));
    float *wd = malloc((size_t)(n_in * n_out) * sizeof(float));
    fill_random(wf, n_in * n_out, 0.3);
    fill_random(x, n_in * n_tokens, 0.5);
    const uint64_t rb = row_bytes(type, n_in);
    uint8_t *w = malloc(rb * (uint64_t)n_out);
    for (int64_t r = 0; r < n_out; r++) {
        cr_assert(snug_quantize_row(type, wf + r * n_in, w + r * rb, n_in));
        cr_assert(snug_dequantize_row(type, w + r * rb, wd + r * n_in, n_in));
    }
    float *batch = malloc((size_t)(n_out * n_tokens) * sizeof(float)),
          *batch1 = malloc((size_t)(n_out * n_tokens) * sizeof(float));
    float *single = malloc((size_t)n_out * sizeof(float));
    for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
        const snug_type_kernels *k = snug_kernels_for(type, (snug_isa)isa);
        if (!k) continue;
        snug_matrix m = {.data = w, .type = type, .n_in = n_in, .n_out = n_out, .row_bytes = rb};
        uint8_t *act = malloc(snug_matmul_act_bytes_with(k, &m, n_tokens) + 1);
        matmul_threads(k, &m, x, n_tokens, batch, act, 2);
        matmul_threads(k, &m, x, n_tokens, batch1, act, 1);
        cr_assert_arr_eq(batch, batch1, (size_t)(n_out * n_tokens) * sizeof(float),
                         "%s on %s: 1 and 2 threads give different results", snug_type_name(type),
                         snug_isa_name((snug_isa)isa));
        for (int64_t t = 0; t < n_tokens; t++) {
            matmul_threads(k, &m, x + t * n_in, 1, single, act, 2);
            for (int64_t r = 0; r < n_out; r++) {
                double abs_sum = 0;
                for (int64_t i = 0; i < n_in; i++) abs_sum += fabs((double)wd[r * n_in + i] * x[t * n_in + i]);
                /* the activations are quantized too (|x − x̂| ≤ half a Q8 step), which Σ|w||x| bounds within 1 % */
                double tol = SIMD_VS_SCALAR_TOL * 1.01 * abs_sum;
                cr_assert(fabs((double)batch[t * n_out + r] - single[r]) <= tol,
                          "%s on %s: token %lld row %lld: batch %.9g, single %.9g (tol %.3g)", snug_type_name(type),
                          snug_isa_name((snug_isa)isa), (long long)t, (long long)r, (double)batch[t * n_out + r],
                          (double)single[r], tol);
            }
        }
        free(act);
    }
    free(wf);
    free(x);
    free(wd);
    free(w);
    free(batch);
    free(batch1);
    free(single);
}

Test(kernels_cpu, matmul_prefill_batch_matches_one_token_at_a_time_q4_0) {
    rng_state = 30;
    check_matmul_batch_vs_single(SNUG_TYPE_Q4_0, 32 * 9, 64, 7);
}
Test(kernels_cpu, matmul_prefill_batch_matches_one_token_at_a_time_other_types) {
    rng_state = 31;
    check_matmul_batch_vs_single(SNUG_TYPE_Q8_0, 32 * 9, 64, 7);
    check_matmul_batch_vs_single(SNUG_TYPE_F16, 32 * 9 + 16, 37, 7); /* rows and tokens not multiples of the tile */
    check_matmul_batch_vs_single(SNUG_TYPE_Q4_0, 32 * 17, 70, 37);   /* token tiles past SNUG_MATMUL_TOKEN_TILE */
    check_matmul_batch_vs_single(SNUG_TYPE_Q8_0, 32 * 9, 83, 29);    /* partial wide tiles of rows and tokens */
}

/* Decode splits a matmul's row blocks into one share per thread and lets a thread that finishes early take blocks
 * from the back of the others' shares (matmul.c): every output is written exactly once, by the same arithmetic,
 * whatever the thread count, including counts that do not divide the blocks and more threads than blocks. */
Test(kernels_cpu, decode_matmul_is_identical_for_any_thread_count) {
    rng_state = 32;
    const uint32_t types[] = {SNUG_TYPE_Q4_0, SNUG_TYPE_Q4_K, SNUG_TYPE_F16};
    const int32_t thread_counts[] = {2, 3, 5, 16, 64, 65};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const uint32_t type = types[ti];
        const int64_t n_in = 512, n_out = SNUG_MATMUL_ROW_BLOCK * 13 + 5; /* 14 blocks, the last partial */
        const uint64_t rb = row_bytes(type, n_in);
        float *wf = malloc((size_t)n_in * sizeof(float)), *x = malloc((size_t)n_in * sizeof(float));
        uint8_t *w = malloc(rb * (uint64_t)n_out);
        for (int64_t r = 0; r < n_out; r++) {
            fill_random(wf, n_in, 0.3);
            cr_assert(snug_quantize_row(type, wf, w + r * rb, n_in));
        }
        fill_random(x, n_in, 0.5);
        const snug_type_kernels *k = snug_kernels_for(type, snug_isa_active());
        snug_matrix m = {.data = w, .type = type, .n_in = n_in, .n_out = n_out, .row_bytes = rb};
        uint8_t *act = malloc(snug_matmul_act_bytes_with(k, &m, 1) + 1);
        float *one = malloc((size_t)n_out * sizeof(float)), *many = malloc((size_t)n_out * sizeof(float));
        matmul_threads(k, &m, x, 1, one, act, 1);
        for (size_t c = 0; c < sizeof thread_counts / sizeof thread_counts[0]; c++) {
            for (int64_t r = 0; r < n_out; r++) many[r] = NAN;
            matmul_threads(k, &m, x, 1, many, act, thread_counts[c]);
            cr_assert_arr_eq(one, many, (size_t)n_out * sizeof(float),
                             "%s: %d threads differ from 1 (or left an output)", snug_type_name(type),
                             thread_counts[c]);
        }
        free(wf);
        free(x);
        free(w);
        free(act);
        free(one);
        free(many);
    }
}

/* Batches too small for a register tile (kernels.h, tile_min_tokens) go token by token through the same kernel a
 * token alone uses (the decode layout, or vec_dot): each token's outputs are then bit-identical to its outputs alone,
 * for every type with a minimum, on the kernels in use; and a batch of tile_min_tokens goes through the tile. */
Test(kernels_cpu, batches_below_the_tile_minimum_equal_each_token_alone) {
    rng_state = 33;
    const uint32_t types[] = {SNUG_TYPE_Q4_0, SNUG_TYPE_Q8_0, SNUG_TYPE_Q4_K, SNUG_TYPE_Q6_K, SNUG_TYPE_F16};
    int checked = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const uint32_t type = types[ti];
        const snug_type_kernels *k = snug_kernels_in_use(type);
        cr_assert_not_null(k);
        if (k->tile_min_tokens <= 2) continue; /* tiles from 2 tokens on: nothing goes token by token */
        const int64_t n_in = 512, n_out = SNUG_MATMUL_ROW_BLOCK * 3 + 7, max_tokens = k->tile_min_tokens - 1;
        const uint64_t rb = row_bytes(type, n_in);
        float *wf = malloc((size_t)n_in * sizeof(float)), *x = malloc((size_t)(n_in * max_tokens) * sizeof(float));
        uint8_t *w = malloc(rb * (uint64_t)n_out);
        for (int64_t r = 0; r < n_out; r++) {
            fill_random(wf, n_in, 0.3);
            cr_assert(snug_quantize_row(type, wf, w + r * rb, n_in));
        }
        fill_random(x, n_in * max_tokens, 0.5);
        snug_matrix m = {.data = w, .type = type, .n_in = n_in, .n_out = n_out, .row_bytes = rb};
        uint8_t *act = malloc(snug_matmul_act_bytes_with(k, &m, max_tokens) + 1);
        float *alone = malloc((size_t)n_out * sizeof(float));
        float *batch = malloc((size_t)(n_out * max_tokens) * sizeof(float));
        cr_assert_not(snug_kernels_tiled(k, max_tokens), "%s: %lld tokens should not be tiled", snug_type_name(type),
                      (long long)max_tokens);
        cr_assert(snug_kernels_tiled(k, k->tile_min_tokens), "%s: %d tokens should be tiled", snug_type_name(type),
                  k->tile_min_tokens);
        for (int64_t n = 2; n <= max_tokens; n++) {
            matmul_threads(k, &m, x, n, batch, act, 2);
            for (int64_t t = 0; t < n; t++) {
                matmul_threads(k, &m, x + t * n_in, 1, alone, act, 2);
                cr_assert_arr_eq(batch + t * n_out, alone, (size_t)n_out * sizeof(float),
                                 "%s: token %lld of a batch of %lld differs from the token alone", snug_type_name(type),
                                 (long long)t, (long long)n);
            }
            checked++;
        }
        free(wf);
        free(x);
        free(w);
        free(act);
        free(alone);
        free(batch);
    }
    cr_log_info("%d (type, batch size) pairs below their tile minimum checked", checked);
    /* The AVX-512 VNNI tables set minimums (Q4_0, Q8_0, Q4_K); elsewhere none may be set, and nothing is checked. */
    if (snug_isa_active() == SNUG_ISA_AVX512_VNNI) cr_assert_gt(checked, 0, "no kernel in use has a tile minimum");
}
