/* test_quant.c — the block formats and half-precision conversions against their definitions.
 *
 * f16: every one of the 65536 bit patterns is decoded and compared with the IEEE 754 binary16 formula evaluated
 * with ldexp; encoding is checked to pick the nearest representable value (ties to even). Q8_0 / Q4_0: hand-built
 * blocks decode to the values the ggml layout defines, and quantize → dequantize stays within the format's step.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu/half.h"
#include "cpu/quant.h"
#include "snug.h"

/* binary16: (−1)^s × 2^(e−15) × (1 + m/1024), subnormal 2^−14 × m/1024, e = 31: inf / NaN. */
static double f16_by_definition(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp((double)m / 1024.0, -14);
    else v = ldexp(1.0 + (double)m / 1024.0, e - 15);
    return s ? -v : v;
}

Test(half, f16_decode_matches_definition_for_all_patterns) {
    for (uint32_t h = 0; h < 65536; h++) {
        double want = f16_by_definition((uint16_t)h);
        float got = snug_f16_to_f32((uint16_t)h);
        if (isnan(want)) {
            cr_assert(isnan(got), "0x%04x should be NaN", h);
        } else {
            cr_assert_eq((double)got, want, "0x%04x: %g != %g", h, (double)got, want);
            cr_assert_eq(signbit(got) != 0, (h >> 15) != 0, "0x%04x sign", h);
        }
    }
}

Test(half, f16_round_trip_is_exact) {
    for (uint32_t h = 0; h < 65536; h++) {
        if (((h >> 10) & 31) == 31 && (h & 1023)) continue; /* NaN payloads need not survive */
        cr_assert_eq(snug_f32_to_f16(snug_f16_to_f32((uint16_t)h)), h, "0x%04x", h);
    }
}

/* Encoding picks the nearest f16 (checked against both neighbours), ties to the even mantissa. */
Test(half, f16_encode_rounds_to_nearest_even) {
    uint64_t state = 12345;
    for (int i = 0; i < 200000; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        /* Magnitudes from 2^-26 to 2^17: subnormals, normals and overflow. */
        float x = (float)ldexp((double)(state >> 11) / 9007199254740992.0 + 0.5, (int)((state >> 3) % 44) - 26);
        if (state & 4) x = -x;
        uint16_t h = snug_f32_to_f16(x);
        double got = f16_by_definition(h);
        if (fabs((double)x) >= 65520.0) {
            cr_assert(isinf(got), "%g should overflow to inf", (double)x);
            continue;
        }
        uint16_t up = (uint16_t)(h + 1), down = (uint16_t)(h - 1);
        double err = fabs(got - x);
        if ((h & 0x7fff) != 0x7bff) cr_assert(err <= fabs(f16_by_definition(up) - x), "%g → 0x%04x", (double)x, h);
        if ((h & 0x7fff) != 0) cr_assert(err <= fabs(f16_by_definition(down) - x), "%g → 0x%04x", (double)x, h);
        if (err == fabs(f16_by_definition(up) - x) || ((h & 0x7fff) && err == fabs(f16_by_definition(down) - x))) {
            cr_assert((h & 1) == 0, "tie %g must round to even, got 0x%04x", (double)x, h);
        }
    }
    cr_assert_eq(snug_f32_to_f16(1.0f + 0x1p-11f), 0x3c00, "1 + half an ulp ties to even (down)");
    cr_assert_eq(snug_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02, "1 + 1.5 ulp ties to even (up)");
}

Test(half, bf16_is_the_top_half_rounded) {
    cr_assert_eq(snug_f32_to_bf16(1.0f), 0x3f80);
    cr_assert_eq(snug_bf16_to_f32(0x3f80), 1.0f);
    cr_assert_eq(snug_bf16_to_f32(0xc049), -3.140625f); /* −(1 + 73/128) × 2 */
    cr_assert_eq(snug_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80, "a tie rounds to even");
    cr_assert_eq(snug_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81, "above the tie rounds up");
    cr_assert(isnan(snug_bf16_to_f32(snug_f32_to_bf16(NAN))));
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

Test(blocks, q8_0_block_decodes_per_layout) {
    uint8_t block[SNUG_Q8_0_BLOCK_BYTES];
    put_u16(block, 0x3400); /* 0.25 */
    for (int j = 0; j < 32; j++) block[2 + j] = (uint8_t)(int8_t)(j - 16);
    float out[32];
    cr_assert(snug_dequantize_row(SNUG_TYPE_Q8_0, block, out, 32));
    for (int j = 0; j < 32; j++) cr_assert_eq(out[j], 0.25f * (float)(j - 16), "element %d", j);
}

Test(blocks, q4_0_block_decodes_per_layout) {
    uint8_t block[SNUG_Q4_0_BLOCK_BYTES];
    put_u16(block, 0x3800); /* 0.5 */
    for (int j = 0; j < 16; j++) block[2 + j] = (uint8_t)((j & 15) | (((15 - j) & 15) << 4));
    float out[32];
    cr_assert(snug_dequantize_row(SNUG_TYPE_Q4_0, block, out, 32));
    for (int j = 0; j < 16; j++) {
        cr_assert_eq(out[j], 0.5f * (float)(j - 8), "low nibble, element %d", j);
        cr_assert_eq(out[j + 16], 0.5f * (float)(15 - j - 8), "high nibble, element %d", j + 16);
    }
}

/* Quantize → dequantize: each element within the block's step (Q8_0: half a step plus the f16 rounding of the
 * scale; Q4_0: one step, since the positive end of [−8, 7] can clip). */
static void check_round_trip(uint32_t type, double max_steps, double rms_bound) {
    uint64_t state = 99;
    enum { N = 32 * 64 };
    float x[N], y[N];
    uint8_t buf[N / 32 * 34];
    for (int i = 0; i < N; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(state >> 11) / 9007199254740992.0 * 2.0 - 1.0) * (float)(1 + i / 256);
    }
    cr_assert(snug_quantize_row(type, x, buf, N));
    cr_assert(snug_dequantize_row(type, buf, y, N));
    double err2 = 0, sig2 = 0;
    for (int b = 0; b < N / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        double q_max = type == SNUG_TYPE_Q8_0 ? 127.0 : 8.0;
        double step = amax / q_max;
        /* The scale is stored as f16 (relative error <= 2^-11), which moves the largest level by q_max · that. */
        double bound = max_steps * step + q_max * step * 0x1p-11 + 1e-7;
        for (int j = 0; j < 32; j++) {
            int i = b * 32 + j;
            cr_assert(fabs((double)x[i] - y[i]) <= bound, "%s element %d: %g → %g (step %g)",
                      snug_type_name(type), i, (double)x[i], (double)y[i], step);
            err2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
            sig2 += (double)x[i] * x[i];
        }
    }
    cr_assert(sqrt(err2 / sig2) <= rms_bound, "%s relative RMS error %g", snug_type_name(type), sqrt(err2 / sig2));
}

Test(blocks, q8_0_round_trip_within_half_step) { check_round_trip(SNUG_TYPE_Q8_0, 0.5, 0.01); }
Test(blocks, q4_0_round_trip_within_one_step) { check_round_trip(SNUG_TYPE_Q4_0, 1.0, 0.12); }

Test(blocks, f16_and_bf16_rows_round_trip) {
    float x[64], y[64];
    uint16_t buf[64];
    for (int i = 0; i < 64; i++) x[i] = (float)(i - 32) * 0.37f;
    cr_assert(snug_quantize_row(SNUG_TYPE_F16, x, buf, 64));
    cr_assert(snug_dequantize_row(SNUG_TYPE_F16, buf, y, 64));
    for (int i = 0; i < 64; i++) cr_assert(fabsf(x[i] - y[i]) <= fabsf(x[i]) * 0x1p-11f, "f16 %d", i);
    cr_assert(snug_quantize_row(SNUG_TYPE_BF16, x, buf, 64));
    cr_assert(snug_dequantize_row(SNUG_TYPE_BF16, buf, y, 64));
    for (int i = 0; i < 64; i++) cr_assert(fabsf(x[i] - y[i]) <= fabsf(x[i]) * 0x1p-8f, "bf16 %d", i);
}

Test(blocks, unsupported_types_are_refused) {
    float x[256] = {0};
    uint8_t buf[1024];
    cr_assert(!snug_quantize_row(20 /* IQ4_NL */, x, buf, 256));
    cr_assert(!snug_dequantize_row(16 /* IQ2_XXS */, buf, x, 256));
}
