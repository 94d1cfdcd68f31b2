// common.glsl — what every kernel shares: the linear workgroup index, byte-level loads and stores on uint word arrays,
// and the exact f32 → f16 conversion and f32 division the Q8_0 / F16 KV writers need to match the CPU bit for bit.
//
// Only core Vulkan 1.2 GLSL: no 8/16-bit storage, no float16 arithmetic, no int64, no subgroup size. Byte formats are
// read from `uint` words with shifts; a field may start at any byte (a 34-byte Q8_0 block, an 18-byte Q4_0 row), so
// a 32-bit read may straddle two words — the second word is read only when some of the wanted bytes are in it, so no
// read goes past the last byte asked for. Byte offsets are 32-bit: a buffer read through these holds ≤ 4 GiB.

// More than 65535 workgroups are dispatched as rows of a 2D grid (the runtime's command streams); every kernel numbers
// its workgroup linearly and ignores numbers past its work.
uint linear_group() { return gl_WorkGroupID.x + gl_NumWorkGroups.x * gl_WorkGroupID.y; }

// PREFIX_u8/u16/u32(byte offset): little-endian loads from the uint array WORDS at any byte offset.
#define SNUG_BYTE_LOADS(PREFIX, WORDS)                                                                                 \
    uint PREFIX##_u32(uint o) {                                                                                        \
        uint i = o >> 2u, s = (o & 3u) * 8u;                                                                           \
        uint lo = WORDS[i];                                                                                            \
        if (s == 0u) return lo;                                                                                        \
        return (lo >> s) | (WORDS[i + 1u] << (32u - s));                                                               \
    }                                                                                                                  \
    uint PREFIX##_u16(uint o) {                                                                                        \
        uint i = o >> 2u, s = (o & 3u) * 8u;                                                                           \
        uint lo = WORDS[i] >> s;                                                                                       \
        if (s == 24u) lo |= WORDS[i + 1u] << 8u;                                                                       \
        return lo & 0xffffu;                                                                                           \
    }                                                                                                                  \
    uint PREFIX##_u8(uint o) { return (WORDS[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu; }

// An f16 (its 16 bits in the low half of a uint) as f32; exact for every f16, subnormals included.
float half_to_float(uint h) { return unpackHalf2x16(h).x; }

// The byte at position k (0..3) of word w as a signed 8-bit integer.
int byte_s8(uint w, uint k) { return bitfieldExtract(int(w), int(k * 8u), 8); }

// Rounds m / 2^shift to nearest, ties to even (shift ≥ 1; m < 2^31).
uint shift_right_rne(uint m, uint shift) {
    if (shift >= 32u) return 0u;
    uint q = m >> shift;
    uint rem = m & ((1u << shift) - 1u), half_way = 1u << (shift - 1u);
    if (rem > half_way || (rem == half_way && (q & 1u) != 0u)) q++;
    return q;
}

// f32 bits → f16 bits, round to nearest even, in integers: the same results as the CPU's snug_f32_to_f16
// (src/cpu/half.h) for every input — subnormal results, overflow to infinity, NaN kept a quiet NaN (mantissa 0x200).
// Integer arithmetic so that no driver's float conversion mode or denormal flushing can change a bit.
uint float_bits_to_half(uint x) {
    uint sign = (x >> 16u) & 0x8000u;
    uint magnitude = x & 0x7fffffffu;
    if (magnitude >= 0x7f800000u) return sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x200u : 0u);
    if (magnitude >= 0x477ff000u) return sign | 0x7c00u; // ≥ 65520 rounds to infinity
    if (magnitude < 0x38800000u) {                     // below 2^-14: an f16 subnormal or zero
        uint exponent = magnitude >> 23u;
        if (exponent == 0u) return sign; // an f32 subnormal is < 2^-126: rounds to zero
        // value · 2^24 = mantissa24 · 2^(exponent − 126), exponent ≤ 112: a right shift by ≥ 14.
        return sign | shift_right_rne((magnitude & 0x7fffffu) | 0x800000u, 126u - exponent);
    }
    uint half_bits = (((magnitude >> 23u) - 112u) << 10u) | ((magnitude >> 13u) & 0x3ffu);
    uint dropped = magnitude & 0x1fffu;
    if (dropped > 0x1000u || (dropped == 0x1000u && (half_bits & 1u) != 0u)) half_bits++; // a carry may bump the
    return sign | half_bits;                                                                // exponent: right
}

// a / b correctly rounded (to nearest even) for positive normal a and b with a normal quotient: Vulkan's OpFDiv is
// only within 2.5 ulp, and the Q8_0 encoder must reproduce the CPU's IEEE divisions exactly. Long division of the
// 24-bit significands in integers. Outside that range (zero, subnormals, inf, NaN) it is the plain division.
float div_rn(float a, float b) {
    uint ab = floatBitsToUint(a), bb = floatBitsToUint(b);
    uint ea = ab >> 23u, eb = bb >> 23u; // sign bits are 0 for positive inputs
    if (ea == 0u || ea >= 255u || eb == 0u || eb >= 255u) return a / b;
    uint ma = (ab & 0x7fffffu) | 0x800000u, mb = (bb & 0x7fffffu) | 0x800000u;
    int exponent = int(ea) - int(eb) + 127; // the quotient's biased exponent when ma ≥ mb
    if (ma < mb) {
        ma <<= 1u; // now mb ≤ ma < 2 mb: the quotient is in [1, 2)
        exponent--;
    }
    uint q = 1u, r = ma - mb;
    for (int i = 0; i < 23; i++) { // 23 more quotient bits: 24 in all
        r <<= 1u;
        q <<= 1u;
        if (r >= mb) {
            r -= mb;
            q |= 1u;
        }
    }
    r <<= 1u; // r / mb compared with one half
    if (r > mb || (r == mb && (q & 1u) != 0u)) q++;
    if (q == 0x1000000u) { // rounded up to 2.0
        q >>= 1u;
        exponent++;
    }
    if (exponent <= 0 || exponent >= 255) return a / b;
    return uintBitsToFloat((uint(exponent) << 23u) | (q & 0x7fffffu));
}
