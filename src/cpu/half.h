/* half.h — IEEE 754 binary16 (f16) and bfloat16 (bf16) conversions, scalar and exact.
 *
 * f32 → f16 rounds to nearest, ties to even, with subnormals, infinities and NaN handled as IEEE 754 says; this is
 * what the KV cache stores and what Q8_0 / Q4_0 block scales use. bf16 is the top half of an f32.
 */
#ifndef SNUG_CPU_HALF_H
#define SNUG_CPU_HALF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float snug_bits_to_f32(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint32_t snug_f32_to_bits(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

static inline float snug_f16_to_f32(uint16_t h) {
    /* Branchless (so loops over rows vectorize): the exponent and mantissa shifted into f32 position read as a
     * number 2^112 too small — for normal values (exponent bias 127 vs 15) and for subnormals alike (an f16
     * subnormal becomes an f32 subnormal with the same scaling) — so one multiplication by 2^112 is exact.
     * Infinities and NaNs (exponent 31) keep their mantissa with the f32 exponent all ones. */
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t magnitude = (uint32_t)(h & 0x7fffu) << 13;
    float value = snug_bits_to_f32(magnitude) * 0x1p112f;
    uint32_t bits = (h & 0x7c00u) == 0x7c00u ? (magnitude | 0x7f800000u) : snug_f32_to_bits(value);
    return snug_bits_to_f32(sign | bits);
}

static inline uint16_t snug_f32_to_f16(float f) {
    uint32_t x = snug_f32_to_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t magnitude = x & 0x7fffffffu;
    if (magnitude >= 0x7f800000u) { /* inf or NaN (NaN stays a quiet NaN) */
        return (uint16_t)(sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x200u : 0));
    }
    if (magnitude >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* ≥ 65520 rounds to infinity */
    if (magnitude < 0x38800000u) {                                   /* below 2^-14: subnormal or zero */
        float scaled = snug_bits_to_f32(magnitude) * 0x1p24f;        /* exact: a power-of-two scaling */
        return (uint16_t)(sign | (uint16_t)rintf(scaled));           /* rintf rounds half to even */
    }
    uint32_t half = (((magnitude >> 23) - (127 - 15)) << 10) | ((magnitude >> 13) & 0x3ffu);
    uint32_t dropped = magnitude & 0x1fffu;
    if (dropped > 0x1000u || (dropped == 0x1000u && (half & 1u))) half++; /* a carry may bump the exponent: right */
    return (uint16_t)(sign | half);
}

static inline float snug_bf16_to_f32(uint16_t b) { return snug_bits_to_f32((uint32_t)b << 16); }

static inline uint16_t snug_f32_to_bf16(float f) {
    uint32_t x = snug_f32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* keep NaN a NaN */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);                 /* round to nearest even */
}

/* Little-endian 16-bit load from a possibly unaligned address (block scales sit at odd offsets). */
static inline uint16_t snug_load_u16(const void *p) {
    const uint8_t *b = p;
    return (uint16_t)(b[0] | (b[1] << 8));
}

#endif
