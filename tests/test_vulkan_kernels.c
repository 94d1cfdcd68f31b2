/* test_vulkan_kernels.c — the Vulkan backend's compute kernels (src/vulkan/shaders/NAME.comp) on a real driver (Mesa's
 * lavapipe here and in CI) against float64 references computed here from the formulas and GGUF block layouts — the
 * dequantizers, the f16 conversion and the Q8_0 encoder below are written from the layout facts, not taken from
 * snug's C kernels (the Q8_0 and F16 KV writers are additionally compared with the CPU's own encoders, which they must
 * match bit for bit).
 *
 * Tolerances, and why:
 *   matmul_*   |y − ref| ≤ 1e-5 · Σ|w x| + 1e-6 per output: f32 sums of at most a few hundred products (n·ε ≈ 5e-5
 *              relative to Σ|w x| in the worst case, far less in practice). For Q4_K, whose weights are the
 *              difference d·sc·q − dmin·m computed as two sums, Σ|w x| counts both terms: Σ(|d sc q| + |dmin m|)|x|.
 *   rmsnorm    |out − ref| ≤ 2e-5 · |ref| + 1e-7: an f32 sum of n squares (n·ε/2) and a square root and division of a
 *              few ulp.
 *   rope       |x' − ref| ≤ 1e-6 (|x|, |c|, |s| ≤ 1: two rounded products and a sum, possibly fused).
 *   swiglu     |g' − ref| ≤ 1e-5 · |ref| + 1e-7: exp is within 3 + 2|x| ulp in Vulkan (|g| ≤ 8 here: ≤ 19 ulp), a
 *              division within 2.5 ulp.
 *   add        exact: one correctly rounded f32 addition, compared with the same addition here.
 *   kv_store   bit-identical bytes (F32 copied, F16 round to nearest even, Q8_0 the CPU encoder's exact operations);
 *              bytes outside the rows written are unchanged.
 *   attention  |out − ref| ≤ 1e-5 · (1 + S) · V + 1e-7 per output dim, S = max_j scale·Σ_d|q_d k_jd| (a score's
 *              f32 rounding, ≲ head_dim·ε·S, shifts its softmax weight by that much relatively; ≤ 64·6e-8·S here)
 *              and V = max_j |v_jd| (the output is a weighted mean of v_jd); the 1 covers exp's few ulp.
 * Without a Vulkan device the tests are skipped with the reason — under CI (which installs lavapipe) that fails.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/half.h"
#include "cpu/quant.h"
#include "snug.h"
#include "support/support.h"
#include "vulkan/runtime.h"

/* ---- random numbers, the device, buffers, kernels --------------------------------------------------------------- */

static uint64_t rng_state = 1;
static uint32_t random_u32(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 32);
}
/* Uniform in [−1, 1). */
static float uniform(void) { return (float)((double)random_u32() / 4294967296.0 * 2.0 - 1.0); }

/* Opens the first Vulkan device, or skips (fails under CI) with the reason. */
static void open_device(snug_vk *vk) {
    test_require_vulkan();
    snug_error err = {0};
    cr_assert_eq(snug_vk_open(vk, 0, &err), SNUG_OK, "%s", err.message);
}

static snug_vk_buffer make_buffer(snug_vk *vk, uint64_t bytes) {
    snug_error err = {0};
    snug_vk_buffer b;
    cr_assert_eq(snug_vk_buffer_create(vk, bytes, &b, &err), SNUG_OK, "%s", err.message);
    return b;
}

static snug_vk_kernel make_kernel(snug_vk *vk, const snug_vk_spirv *shader, uint32_t n_buffers, uint32_t push_bytes,
                                  const uint32_t *spec, uint32_t n_spec) {
    snug_error err = {0};
    snug_vk_kernel k;
    cr_assert_eq(snug_vk_kernel_create(vk, shader->words, shader->bytes, n_buffers, push_bytes, spec, n_spec, &k, &err),
                 SNUG_OK, "%s", err.message);
    return k;
}

static void run(snug_vk *vk, snug_vk_kernel *k, snug_vk_buffer *const *buffers, const void *push, uint32_t groups) {
    snug_error err = {0};
    cr_assert_eq(snug_vk_run(vk, k, buffers, push, groups, &err), SNUG_OK, "%s", err.message);
}

static uint32_t groups_for(uint64_t invocations, uint32_t workgroup) {
    return (uint32_t)((invocations + workgroup - 1) / workgroup);
}

/* ---- f16 and the block formats, from the layout facts ------------------------------------------------------------ */

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void store_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* IEEE binary16 → double: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
static double half_value(uint16_t h) {
    int sign = h >> 15, exponent = (h >> 10) & 31, mantissa = h & 1023;
    double v;
    if (exponent == 0)
        v = ldexp(mantissa, -24);
    else if (exponent == 31)
        v = mantissa ? NAN : INFINITY;
    else
        v = ldexp(1024 + mantissa, exponent - 25);
    return sign ? -v : v;
}

/* float → binary16, round to nearest even, in double arithmetic (every step exact but the final nearbyint). NaN
 * becomes the quiet NaN 0x7e00 with its sign. */
static uint16_t half_bits(float f) {
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    double v = fabs((double)f);
    if (isnan(f)) return sign | 0x7e00;
    if (v >= 65520.0) return sign | 0x7c00; /* halfway between 65504 and 2^16 rounds to even: infinity */
    if (v < ldexp(1, -14)) return sign | (uint16_t)nearbyint(ldexp(v, 24)); /* subnormal: units of 2^-24 */
    int e;
    frexp(v, &e);                               /* v = m · 2^e, m in [0.5, 1) */
    double units = nearbyint(ldexp(v, 11 - e)); /* 11 significant bits, in [1024, 2048] */
    if (units == 2048) units = 1024, e++;       /* rounded up to the next power of two */
    return sign | (uint16_t)(((e - 1 + 15) << 10) | ((uint32_t)units - 1024));
}

/* A random finite half with exponent field in [lo, hi] and a random sign (when `signed_`). */
static uint16_t random_half(int lo, int hi, int signed_) {
    uint32_t r = random_u32();
    uint16_t exponent = (uint16_t)(lo + (int)(r % (uint32_t)(hi - lo + 1)));
    uint16_t sign = signed_ && (r & 0x80000000u) ? 0x8000 : 0;
    return sign | (uint16_t)(exponent << 10) | (uint16_t)((r >> 8) & 1023);
}

/* The weight types: bytes per block of `elements`, and a decoder of one row to w (and |terms|, see the header). */
typedef void decode_fn(const uint8_t *row, int n, double *w, double *magnitude);

static void decode_f32(const uint8_t *row, int n, double *w, double *mag) {
    for (int i = 0; i < n; i++) {
        float f;
        memcpy(&f, row + 4 * i, 4);
        w[i] = f;
        mag[i] = fabs(w[i]);
    }
}

static void decode_f16(const uint8_t *row, int n, double *w, double *mag) {
    for (int i = 0; i < n; i++) w[i] = half_value(load_u16(row + 2 * i)), mag[i] = fabs(w[i]);
}

/* Q8_0: 34 bytes per 32: f16 d, 32 int8 q; x = d·q. */
static void decode_q8_0(const uint8_t *row, int n, double *w, double *mag) {
    for (int b = 0; b < n / 32; b++) {
        const uint8_t *block = row + 34 * b;
        double d = half_value(load_u16(block));
        for (int j = 0; j < 32; j++) w[32 * b + j] = d * (int8_t)block[2 + j], mag[32 * b + j] = fabs(w[32 * b + j]);
    }
}

/* Q4_0: 18 bytes per 32: f16 d, 16 bytes; element j < 16 = (qs[j] & 15) − 8, element j + 16 = (qs[j] >> 4) − 8. */
static void decode_q4_0(const uint8_t *row, int n, double *w, double *mag) {
    for (int b = 0; b < n / 32; b++) {
        const uint8_t *block = row + 18 * b;
        double d = half_value(load_u16(block));
        for (int j = 0; j < 16; j++) {
            w[32 * b + j] = d * ((block[2 + j] & 15) - 8);
            w[32 * b + j + 16] = d * ((block[2 + j] >> 4) - 8);
        }
    }
    for (int i = 0; i < n; i++) mag[i] = fabs(w[i]);
}

/* Q4_K: 144 bytes per 256: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins for 8 sub-blocks of 32 (llama.cpp's
 * get_scale_min_k4), 128 bytes of nibbles (64-element group c: 32 bytes, low nibbles the first 32 elements, high
 * nibbles the next 32); x = d·sc·q − dmin·m. */
static void decode_q4_k(const uint8_t *row, int n, double *w, double *mag) {
    for (int b = 0; b < n / 256; b++) {
        const uint8_t *block = row + 144 * b, *s = block + 4, *qs = block + 16;
        double d = half_value(load_u16(block)), dmin = half_value(load_u16(block + 2));
        for (int sub = 0; sub < 8; sub++) {
            int sc, m;
            if (sub < 4) {
                sc = s[sub] & 63;
                m = s[sub + 4] & 63;
            } else {
                sc = (s[sub + 4] & 15) | ((s[sub - 4] >> 6) << 4);
                m = (s[sub + 4] >> 4) | ((s[sub] >> 6) << 4);
            }
            for (int l = 0; l < 32; l++) {
                int q = (qs[32 * (sub / 2) + l] >> (4 * (sub % 2))) & 15;
                int e = 256 * b + 32 * sub + l;
                w[e] = d * sc * q - dmin * m;
                mag[e] = fabs(d * sc * q) + fabs(dmin * m);
            }
        }
    }
}

/* Q6_K: 210 bytes per 256: ql[128], qh[64], int8 scales[16], f16 d (llama.cpp's dequantize_row_q6_K): for each half
 * n of 128 elements and l < 32, the four elements 128n + l + 32k take their low nibbles from ql[64n + l] (k = 0: low,
 * k = 2: high) and ql[64n + 32 + l] (k = 1: low, k = 3: high), their top two bits from qh[32n + l] at bit 2k; level
 * − 32, times d·scales[8n + l/16 + 2k]. */
static void decode_q6_k(const uint8_t *row, int n, double *w, double *mag) {
    for (int b = 0; b < n / 256; b++) {
        const uint8_t *block = row + 210 * b;
        double d = half_value(load_u16(block + 208));
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = block + 64 * half, *qh = block + 128 + 32 * half;
            const int8_t *sc = (const int8_t *)(block + 192 + 8 * half);
            for (int l = 0; l < 32; l++) {
                int levels[4] = {(ql[l] & 15) | ((qh[l] & 3) << 4), (ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4),
                                 (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                                 (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)};
                for (int k = 0; k < 4; k++)
                    w[256 * b + 128 * half + l + 32 * k] = d * sc[l / 16 + 2 * k] * (levels[k] - 32);
            }
        }
    }
    for (int i = 0; i < n; i++) mag[i] = fabs(w[i]);
}

typedef struct weight_type {
    const char *name;
    const snug_vk_spirv *shader;
    int block_elements, block_bytes;
    int row_pad; /* extra bytes between rows: moves rows off word boundaries (any byte for the block types) */
    int n_in;    /* the test shape's row length */
    decode_fn *decode;
} weight_type;

/* Fills an encoded row with random bytes and valid f16 scale fields (no infinities or NaNs). */
static void fill_row(const weight_type *t, uint8_t *row) {
    int bytes = t->n_in / t->block_elements * t->block_bytes;
    for (int i = 0; i < bytes; i++) row[i] = (uint8_t)random_u32();
    if (strcmp(t->name, "f32") == 0) {
        for (int i = 0; i < t->n_in; i++) {
            float f = uniform();
            memcpy(row + 4 * i, &f, 4);
        }
    } else if (strcmp(t->name, "f16") == 0) {
        for (int i = 0; i < t->n_in; i++) store_u16(row + 2 * i, random_half(9, 15, 1));
    } else {
        for (int b = 0; b < t->n_in / t->block_elements; b++) {
            uint8_t *block = row + b * t->block_bytes;
            if (strcmp(t->name, "q6_k") == 0)
                store_u16(block + 208, random_half(3, 8, 1));
            else
                store_u16(block, random_half(5, 10, 1));
            if (strcmp(t->name, "q4_k") == 0) store_u16(block + 2, random_half(3, 8, 0));
        }
    }
}

/* ---- matmul ------------------------------------------------------------------------------------------------------ */

Test(vulkan_kernels, matmul_every_type_matches_float64) {
    snug_vk vk;
    open_device(&vk);
    /* Shapes: odd element counts (F32, F16: a half-word tail), odd block counts (Q8_0, Q4_0, Q6_K rows not a
     * multiple of 4 bytes), and a pad byte that puts rows at every byte alignment. */
    const weight_type types[] = {
        {"f32", &snug_vk_shader_matmul_f32, 1, 4, 0, 45, decode_f32},
        {"f16", &snug_vk_shader_matmul_f16, 1, 2, 1, 37, decode_f16},
        {"q8_0", &snug_vk_shader_matmul_q8_0, 32, 34, 1, 96, decode_q8_0},
        {"q4_0", &snug_vk_shader_matmul_q4_0, 32, 18, 1, 160, decode_q4_0},
        {"q4_k", &snug_vk_shader_matmul_q4_k, 256, 144, 1, 512, decode_q4_k},
        {"q6_k", &snug_vk_shader_matmul_q6_k, 256, 210, 1, 768, decode_q6_k},
    };
    /* (WORKGROUP, TOKENS): the required 32 and 64 with passes of 4, and the extremes 1 and 8. */
    const uint32_t configs[][2] = {{32, 4}, {64, 4}, {128, 1}, {256, 8}};
    const uint32_t token_counts[] = {1, 3, 9};
    const uint32_t n_rows = 11, y_offset = 5, y_stride = n_rows + 7;
    const uint32_t max_tokens = 9;
    const float sentinel = -12345.0f;
    double worst = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        const weight_type *t = &types[ti];
        const uint32_t n_in = (uint32_t)t->n_in;
        const uint32_t row_bytes = n_in / t->block_elements * t->block_bytes + t->row_pad;
        snug_vk_buffer wb = make_buffer(&vk, (uint64_t)n_rows * row_bytes + 4);
        snug_vk_buffer xb = make_buffer(&vk, (uint64_t)max_tokens * n_in * 4);
        snug_vk_buffer yb = make_buffer(&vk, (uint64_t)max_tokens * y_stride * 4);
        uint8_t *wbytes = wb.mapped;
        memset(wbytes, 0, wb.bytes);
        double *w = malloc(sizeof(double) * n_rows * n_in), *mag = malloc(sizeof(double) * n_rows * n_in);
        for (uint32_t r = 0; r < n_rows; r++) {
            fill_row(t, wbytes + (uint64_t)r * row_bytes);
            t->decode(wbytes + (uint64_t)r * row_bytes, (int)n_in, w + (uint64_t)r * n_in, mag + (uint64_t)r * n_in);
        }
        float *x = xb.mapped, *y = yb.mapped;
        for (uint32_t i = 0; i < max_tokens * n_in; i++) x[i] = uniform();
        for (size_t c = 0; c < sizeof configs / sizeof *configs; c++) {
            const uint32_t spec[2] = {configs[c][0], configs[c][1]};
            cr_assert_leq(snug_vk_matmul_shared_bytes(spec[0], spec[1]), vk.limits.maxComputeSharedMemorySize);
            snug_vk_kernel k = make_kernel(&vk, t->shader, 3, 24, spec, 2);
            for (size_t tc = 0; tc < sizeof token_counts / sizeof *token_counts; tc++) {
                const uint32_t n_tokens = token_counts[tc];
                for (uint32_t i = 0; i < max_tokens * y_stride; i++) y[i] = sentinel;
                const uint32_t push[6] = {n_in, n_rows, row_bytes, n_tokens, y_stride, y_offset};
                snug_vk_buffer *bufs[3] = {&wb, &xb, &yb};
                run(&vk, &k, bufs, push, n_rows);
                for (uint32_t tok = 0; tok < max_tokens; tok++) {
                    for (uint32_t j = 0; j < y_stride; j++) {
                        const float got = y[tok * y_stride + j];
                        if (tok >= n_tokens || j < y_offset || j >= y_offset + n_rows) {
                            cr_assert(got == sentinel, "%s: Y[%u][%u] outside the output was written", t->name, tok, j);
                            continue;
                        }
                        const uint32_t r = j - y_offset;
                        double ref = 0, m = 0;
                        for (uint32_t i = 0; i < n_in; i++) {
                            ref += w[(uint64_t)r * n_in + i] * x[tok * n_in + i];
                            m += mag[(uint64_t)r * n_in + i] * fabs(x[tok * n_in + i]);
                        }
                        const double e = fabs(got - ref);
                        cr_assert(e <= 1e-5 * m + 1e-6, "%s, workgroup %u, tokens %u/%u, token %u row %u: %.9g vs %.9g",
                                  t->name, spec[0], spec[1], n_tokens, tok, r, (double)got, ref);
                        if (m > 0) worst = fmax(worst, e / m);
                    }
                }
            }
            snug_vk_kernel_destroy(&vk, &k);
        }
        free(w);
        free(mag);
        snug_vk_buffer_destroy(&vk, &wb);
        snug_vk_buffer_destroy(&vk, &xb);
        snug_vk_buffer_destroy(&vk, &yb);
    }
    cr_log_info("%s: matmul worst |y - float64| = %.3g of sum |w x|", vk.name, worst);
    snug_vk_close(&vk);
}

/* ---- rmsnorm, rope, swiglu, add ---------------------------------------------------------------------------------- */

Test(vulkan_kernels, rmsnorm_in_place_and_not) {
    snug_vk vk;
    open_device(&vk);
    const uint32_t lengths[] = {100, 8}, workgroups[] = {32, 64}, n_rows = 6;
    const float eps = 1e-5f;
    for (size_t wi = 0; wi < 2; wi++) {
        const uint32_t wg = workgroups[wi];
        cr_assert_leq(snug_vk_rmsnorm_shared_bytes(wg), vk.limits.maxComputeSharedMemorySize);
        snug_vk_kernel k = make_kernel(&vk, &snug_vk_shader_rmsnorm, 4, 20, &wg, 1);
        snug_vk_buffer sb = make_buffer(&vk, 4);
        uint32_t *status = sb.mapped;
        for (size_t li = 0; li < 2; li++) {
            for (int in_place = 0; in_place < 2; in_place++) {
                const uint32_t n = lengths[li];
                snug_vk_buffer xb = make_buffer(&vk, (uint64_t)n * n_rows * 4), wb = make_buffer(&vk, n * 4),
                               ob = make_buffer(&vk, (uint64_t)n * n_rows * 4);
                float *x = xb.mapped, *wv = wb.mapped, *o = in_place ? xb.mapped : ob.mapped;
                float *x0 = malloc(sizeof(float) * n * n_rows);
                for (uint32_t i = 0; i < n * n_rows; i++) x0[i] = x[i] = 3.0f * uniform();
                /* Row 4 (token 2 at two rows a token) is all 3e38: its sum of squares is infinite in f32. */
                for (uint32_t i = 0; i < n; i++) x0[4 * n + i] = x[4 * n + i] = 3e38f;
                *status = UINT32_MAX;
                for (uint32_t i = 0; i < n; i++) wv[i] = uniform();
                union {
                    uint32_t u[5];
                    float f[5];
                } push = {{n, n_rows, 0, 7u << 16, 2}};
                push.f[2] = eps;
                snug_vk_buffer *bufs[4] = {&xb, &wb, in_place ? &xb : &ob, &sb};
                run(&vk, &k, bufs, push.u, n_rows);
                cr_assert_eq(*status, (7u << 16) + 2, "the fault of token 2 is reported: %#x", *status);
                for (uint32_t r = 0; r < n_rows; r++) {
                    if (r == 4) continue;
                    double ss = 0;
                    for (uint32_t i = 0; i < n; i++) ss += (double)x0[r * n + i] * x0[r * n + i];
                    const double inv = 1.0 / sqrt(ss / n + eps);
                    for (uint32_t i = 0; i < n; i++) {
                        const double ref = x0[r * n + i] * inv * wv[i];
                        cr_assert(fabs(o[r * n + i] - ref) <= 2e-5 * fabs(ref) + 1e-7,
                                  "workgroup %u, n %u, in place %d, row %u, %u: %.9g vs %.9g", wg, n, in_place, r, i,
                                  (double)o[r * n + i], ref);
                    }
                }
                free(x0);
                snug_vk_buffer_destroy(&vk, &xb);
                snug_vk_buffer_destroy(&vk, &wb);
                snug_vk_buffer_destroy(&vk, &ob);
            }
        }
        snug_vk_kernel_destroy(&vk, &k);
        snug_vk_buffer_destroy(&vk, &sb);
    }
    snug_vk_close(&vk);
}

Test(vulkan_kernels, rope_both_modes_with_partial_rotation) {
    snug_vk vk;
    open_device(&vk);
    const uint32_t n_tokens = 3, n_heads = 3, head_dim = 16, n_rot = 10, row_stride = n_heads * head_dim + 5;
    const uint32_t half = n_rot / 2, wg = 32, total = n_tokens * n_heads * half;
    snug_vk_kernel k = make_kernel(&vk, &snug_vk_shader_rope, 2, 24, &wg, 1);
    snug_vk_buffer db = make_buffer(&vk, (uint64_t)n_tokens * row_stride * 4);
    snug_vk_buffer cb = make_buffer(&vk, (uint64_t)n_tokens * half * 2 * 4);
    float *data = db.mapped, *cs = cb.mapped;
    float before[3 * 53];
    for (uint32_t i = 0; i < n_tokens * half; i++) {
        const double angle = 3.0 * uniform();
        cs[2 * i] = (float)cos(angle);
        cs[2 * i + 1] = (float)sin(angle);
    }
    const uint32_t modes[] = {0, 2};
    for (size_t mi = 0; mi < 2; mi++) {
        for (uint32_t i = 0; i < n_tokens * row_stride; i++) before[i] = data[i] = uniform();
        const uint32_t push[6] = {n_heads, head_dim, n_rot, modes[mi], n_tokens, row_stride};
        snug_vk_buffer *bufs[2] = {&db, &cb};
        run(&vk, &k, bufs, push, groups_for(total, wg));
        float expect[3 * 53];
        memcpy(expect, before, sizeof expect);
        for (uint32_t t = 0; t < n_tokens; t++) {
            for (uint32_t h = 0; h < n_heads; h++) {
                for (uint32_t i = 0; i < half; i++) {
                    const uint32_t base = t * row_stride + h * head_dim;
                    const uint32_t a = base + (modes[mi] == 2 ? i : 2 * i),
                                   b = base + (modes[mi] == 2 ? i + half : 2 * i + 1);
                    const double c = cs[2 * (t * half + i)], s = cs[2 * (t * half + i) + 1];
                    expect[a] = (float)(before[a] * c - before[b] * s);
                    expect[b] = (float)(before[a] * s + before[b] * c);
                }
            }
        }
        for (uint32_t i = 0; i < n_tokens * row_stride; i++) {
            const int untouched = expect[i] == before[i];
            cr_assert(untouched ? data[i] == before[i] : fabsf(data[i] - expect[i]) <= 1e-6f,
                      "mode %u, element %u: %.9g vs %.9g", modes[mi], i, (double)data[i], (double)expect[i]);
        }
    }
    snug_vk_buffer_destroy(&vk, &db);
    snug_vk_buffer_destroy(&vk, &cb);
    snug_vk_kernel_destroy(&vk, &k);
    snug_vk_close(&vk);
}

Test(vulkan_kernels, swiglu_and_add) {
    snug_vk vk;
    open_device(&vk);
    const uint32_t wg = 64, count = 1000, b_count = 96, room = 1024;
    snug_vk_buffer gb = make_buffer(&vk, room * 4), ub = make_buffer(&vk, room * 4);
    float *g = gb.mapped, *u = ub.mapped;
    float g0[1024];
    for (uint32_t i = 0; i < room; i++) g0[i] = g[i] = 8.0f * uniform(), u[i] = uniform();
    snug_vk_kernel swiglu = make_kernel(&vk, &snug_vk_shader_swiglu, 2, 4, &wg, 1);
    snug_vk_buffer *bufs[2] = {&gb, &ub};
    run(&vk, &swiglu, bufs, &count, groups_for(count, wg));
    for (uint32_t i = 0; i < room; i++) {
        const double ref = i < count ? g0[i] / (1.0 + exp(-(double)g0[i])) * u[i] : g0[i];
        cr_assert(fabs(g[i] - ref) <= 1e-5 * fabs(ref) + 1e-7, "swiglu %u: %.9g vs %.9g", i, (double)g[i], ref);
    }
    snug_vk_kernel_destroy(&vk, &swiglu);

    for (uint32_t i = 0; i < room; i++) g0[i] = g[i] = uniform();
    snug_vk_kernel add = make_kernel(&vk, &snug_vk_shader_add, 2, 8, &wg, 1);
    const uint32_t push[2] = {count, b_count};
    run(&vk, &add, bufs, push, groups_for(count, wg));
    for (uint32_t i = 0; i < room; i++) {
        const float ref = i < count ? g0[i] + u[i % b_count] : g0[i];
        cr_assert(g[i] == ref, "add %u: %.9g vs %.9g", i, (double)g[i], (double)ref);
    }
    snug_vk_kernel_destroy(&vk, &add);
    snug_vk_buffer_destroy(&vk, &gb);
    snug_vk_buffer_destroy(&vk, &ub);
    snug_vk_close(&vk);
}

/* ---- kv_store ---------------------------------------------------------------------------------------------------- */

/* The Q8_0 encoder as the CPU documents it (src/cpu/quant.h): amax = max|x|, d = amax / 127 and inv = 1 / d in f32,
 * q = round-half-away-from-zero(x · inv) (one f32 product), d stored as its f16 rounded to nearest even. */
static void reference_q8_0(const float *x, int n, uint8_t *out) {
    for (int b = 0; b < n / 32; b++, x += 32, out += 34) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f, inv = d != 0.0f ? 1.0f / d : 0.0f;
        store_u16(out, half_bits(d));
        for (int j = 0; j < 32; j++) out[2 + j] = (uint8_t)(int8_t)lroundf(x[j] * inv);
    }
}

/* KV values worth checking: per 32-element block a magnitude from tiny (f16-subnormal d) to large, plus one block of
 * exact ties (amax 127: d = 1, x·inv = x) and one of zeros; special f16 inputs for the F16 writer. */
static void fill_kv_source(float *src, uint32_t n, int for_f16) {
    static const float scales[] = {1e-3f, 0.02f, 1.0f, 37.0f, 900.0f};
    float s = 1.0f;
    for (uint32_t i = 0; i < n; i++) {
        if (i % 32 == 0) s = scales[random_u32() % 5];
        src[i] = s * uniform();
    }
    if (n >= 96) {
        static const float ties[] = {127.0f, 2.5f, -3.5f, 0.5f, -0.5f, 1.5f, -126.5f, 64.5f};
        for (uint32_t j = 0; j < 32; j++) src[32 + j] = ties[j % 8];
        for (uint32_t j = 0; j < 32; j++) src[64 + j] = 0.0f;
    }
    if (for_f16) {
        static const float specials[] = {
            1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 0x1p-20f, -0x1.8p-24f, 0x1p-25f,    65519.0f, 65520.0f, -1e6f, -0.0f,
            INFINITY,        -INFINITY,           NAN,      6.0e-8f,     0x1.ffcp-15f};
        for (uint32_t i = 0; i < sizeof specials / sizeof *specials && i < n; i++) src[i] = specials[i];
    }
}

Test(vulkan_kernels, kv_store_every_type_is_bit_identical) {
    snug_vk vk;
    open_device(&vk);
    typedef struct {
        const char *name;
        const snug_vk_spirv *shader;
        uint32_t kv_dim, unit, base; /* elements a row, elements an invocation writes, first row's byte offset */
    } kv_case;
    /* Rows back to back from `base`: F16 rows of 44 bytes at offsets 2 mod 4 (neighbours share a word), Q8_0 rows of
     * 34 and 102 bytes at every alignment. */
    const kv_case cases[] = {
        {"f32", &snug_vk_shader_kv_store_f32, 24, 1, 8},    {"f16", &snug_vk_shader_kv_store_f16, 22, 2, 2},
        {"f16", &snug_vk_shader_kv_store_f16, 96, 2, 0},    {"q8_0", &snug_vk_shader_kv_store_q8_0, 32, 32, 0},
        {"q8_0", &snug_vk_shader_kv_store_q8_0, 96, 32, 3}, {"q8_0", &snug_vk_shader_kv_store_q8_0, 32, 32, 1},
    };
    const uint32_t n_tokens = 7, slots[7] = {3, 0, 6, 1, 5, 2, 4}, wg = 32, pool_bytes = 2048;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const kv_case *c = &cases[ci];
        const int is_q8 = c->unit == 32, is_f16 = c->unit == 2;
        const uint32_t row_bytes = is_q8 ? c->kv_dim / 32 * 34 : c->kv_dim * (is_f16 ? 2 : 4);
        snug_vk_buffer sb = make_buffer(&vk, (uint64_t)n_tokens * c->kv_dim * 4), pb = make_buffer(&vk, pool_bytes),
                       db = make_buffer(&vk, n_tokens * 4);
        float *src = sb.mapped;
        uint32_t *dest = db.mapped;
        uint8_t *pool = pb.mapped, expect[2048], cpu[2048];
        cr_assert_leq(c->base + n_tokens * row_bytes, pool_bytes);
        memset(pool, 0xa5, pool_bytes);
        memcpy(expect, pool, pool_bytes);
        memcpy(cpu, pool, pool_bytes);
        for (uint32_t t = 0; t < n_tokens; t++) {
            fill_kv_source(src + t * c->kv_dim, c->kv_dim, is_f16 && t == 0);
            dest[t] = c->base + slots[t] * row_bytes;
            uint8_t *row = expect + dest[t], *cpu_row = cpu + dest[t];
            const float *x = src + t * c->kv_dim;
            if (is_q8) {
                reference_q8_0(x, (int)c->kv_dim, row);
                snug_quantize_row_q8_0(x, cpu_row, c->kv_dim);
            } else if (is_f16) {
                for (uint32_t i = 0; i < c->kv_dim; i++) {
                    store_u16(row + 2 * i, half_bits(x[i]));
                    store_u16(cpu_row + 2 * i, snug_f32_to_f16(x[i]));
                }
            } else {
                memcpy(row, x, row_bytes);
                memcpy(cpu_row, x, row_bytes);
            }
        }
        /* The test's reference and the CPU encoder agree, so the kernel is compared with both at once. */
        for (uint32_t i = 0; i < pool_bytes; i++) {
            cr_assert_eq(expect[i], cpu[i], "%s kv_dim %u: the reference and the CPU differ at byte %u", c->name,
                         c->kv_dim, i);
        }
        snug_vk_kernel k = make_kernel(&vk, c->shader, 3, 8, &wg, 1);
        const uint32_t push[2] = {c->kv_dim, n_tokens};
        snug_vk_buffer *bufs[3] = {&sb, &pb, &db};
        run(&vk, &k, bufs, push, groups_for((uint64_t)n_tokens * (c->kv_dim / c->unit), wg));
        for (uint32_t i = 0; i < pool_bytes; i++) {
            cr_assert_eq(pool[i], expect[i], "%s kv_dim %u base %u: byte %u (row %u, byte %u of it) is %#x, not %#x",
                         c->name, c->kv_dim, c->base, i, (i - c->base) / row_bytes, (i - c->base) % row_bytes, pool[i],
                         expect[i]);
        }
        snug_vk_kernel_destroy(&vk, &k);
        snug_vk_buffer_destroy(&vk, &sb);
        snug_vk_buffer_destroy(&vk, &pb);
        snug_vk_buffer_destroy(&vk, &db);
    }
    snug_vk_close(&vk);
}

/* ---- attention --------------------------------------------------------------------------------------------------- */

enum { KV_F32, KV_F16, KV_Q8_0 };
enum { PAGE_TOKENS = 16, N_PAGES = 16, N_HEAD = 4, N_HEAD_KV = 2, ATT_TOKENS = 5 };

/* Two sequences in a paged pool: A of 130 positions (9 pages), B of 65 (5 pages), their pages a shuffled permutation
 * of the pool's 16 (the 2 left over, and the padding at each page's end, hold 0xff bytes: NaN in every KV type, so a
 * stray read shows). Tokens: (A, 1), (A, 63), (B, 64), (B, 65), (A, 130) positions attended. */
typedef struct attention_setup {
    int kv_type;
    uint32_t head_dim, kv_dim, kv_row_bytes, page_bytes;
    uint32_t pages[14], tokens[2 * ATT_TOKENS];
    float *k, *v; /* the values before encoding, [seq][pos][kv_dim] (A then B) */
    snug_vk_buffer qb, kb, vb, tb, pb, ob;
} attention_setup;

static const uint32_t SEQ_LEN[2] = {130, 65}, SEQ_FIRST_PAGE[2] = {0, 9};
static const uint32_t TOKEN_SEQ[ATT_TOKENS] = {0, 0, 1, 1, 0}, TOKEN_N_POS[ATT_TOKENS] = {1, 63, 64, 65, 130};

static uint32_t kv_byte(const attention_setup *s, uint32_t seq, uint32_t pos) {
    return s->pages[SEQ_FIRST_PAGE[seq] + pos / PAGE_TOKENS] * s->page_bytes + (pos % PAGE_TOKENS) * s->kv_row_bytes;
}

static void encode_kv_row(int kv_type, const float *x, uint32_t n, uint8_t *out) {
    if (kv_type == KV_F32)
        memcpy(out, x, n * 4);
    else if (kv_type == KV_F16)
        for (uint32_t i = 0; i < n; i++) store_u16(out + 2 * i, half_bits(x[i]));
    else
        reference_q8_0(x, (int)n, out);
}

/* Element `d` of the row at `row` (the test's own decoders). */
static double decode_kv(int kv_type, const uint8_t *row, uint32_t d) {
    if (kv_type == KV_F32) {
        float f;
        memcpy(&f, row + 4 * d, 4);
        return f;
    }
    if (kv_type == KV_F16) return half_value(load_u16(row + 2 * d));
    const uint8_t *block = row + d / 32 * 34;
    return half_value(load_u16(block)) * (int8_t)block[2 + d % 32];
}

static void attention_setup_make(snug_vk *vk, attention_setup *s, int kv_type, uint32_t head_dim) {
    memset(s, 0, sizeof *s);
    s->kv_type = kv_type;
    s->head_dim = head_dim;
    s->kv_dim = N_HEAD_KV * head_dim;
    s->kv_row_bytes = kv_type == KV_F32 ? 4 * s->kv_dim : kv_type == KV_F16 ? 2 * s->kv_dim : s->kv_dim / 32 * 34;
    s->page_bytes = PAGE_TOKENS * s->kv_row_bytes + (kv_type == KV_F32 ? 4 : 2); /* padding: pages off alignment */
    uint32_t perm[N_PAGES];
    for (uint32_t i = 0; i < N_PAGES; i++) perm[i] = i;
    for (uint32_t i = N_PAGES - 1; i > 0; i--) {
        uint32_t j = random_u32() % (i + 1), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    memcpy(s->pages, perm, sizeof s->pages);
    for (uint32_t t = 0; t < ATT_TOKENS; t++) {
        s->tokens[2 * t] = TOKEN_N_POS[t];
        s->tokens[2 * t + 1] = SEQ_FIRST_PAGE[TOKEN_SEQ[t]];
    }
    const uint64_t pool_bytes = (uint64_t)N_PAGES * s->page_bytes + 4;
    s->qb = make_buffer(vk, (uint64_t)ATT_TOKENS * N_HEAD * head_dim * 4);
    s->kb = make_buffer(vk, pool_bytes);
    s->vb = make_buffer(vk, pool_bytes);
    s->tb = make_buffer(vk, sizeof s->tokens);
    s->pb = make_buffer(vk, sizeof s->pages);
    s->ob = make_buffer(vk, (uint64_t)ATT_TOKENS * N_HEAD * head_dim * 4);
    memcpy(s->tb.mapped, s->tokens, sizeof s->tokens);
    memcpy(s->pb.mapped, s->pages, sizeof s->pages);
    memset(s->kb.mapped, 0xff, pool_bytes);
    memset(s->vb.mapped, 0xff, pool_bytes);
    float *q = s->qb.mapped;
    for (uint32_t i = 0; i < ATT_TOKENS * N_HEAD * head_dim; i++) q[i] = 3.0f * uniform();
    s->k = malloc(sizeof(float) * (SEQ_LEN[0] + SEQ_LEN[1]) * s->kv_dim);
    s->v = malloc(sizeof(float) * (SEQ_LEN[0] + SEQ_LEN[1]) * s->kv_dim);
    for (uint32_t seq = 0; seq < 2; seq++) {
        for (uint32_t pos = 0; pos < SEQ_LEN[seq]; pos++) {
            float *kr = s->k + (seq * SEQ_LEN[0] + pos) * s->kv_dim, *vr = s->v + (seq * SEQ_LEN[0] + pos) * s->kv_dim;
            for (uint32_t i = 0; i < s->kv_dim; i++) kr[i] = uniform(), vr[i] = uniform();
            encode_kv_row(kv_type, kr, s->kv_dim, (uint8_t *)s->kb.mapped + kv_byte(s, seq, pos));
            encode_kv_row(kv_type, vr, s->kv_dim, (uint8_t *)s->vb.mapped + kv_byte(s, seq, pos));
        }
    }
}

static void attention_setup_free(snug_vk *vk, attention_setup *s) {
    free(s->k);
    free(s->v);
    snug_vk_buffer *bufs[6] = {&s->qb, &s->kb, &s->vb, &s->tb, &s->pb, &s->ob};
    for (int i = 0; i < 6; i++) snug_vk_buffer_destroy(vk, bufs[i]);
}

/* Runs attention_TYPE with (workgroup, tile) over the setup's tokens. */
static void attention_run(snug_vk *vk, attention_setup *s, uint32_t workgroup, uint32_t tile) {
    static const snug_vk_spirv *const shaders[3] = {&snug_vk_shader_attention_f32, &snug_vk_shader_attention_f16,
                                                    &snug_vk_shader_attention_q8_0};
    const uint32_t spec[3] = {workgroup, tile, s->head_dim};
    snug_vk_kernel k = make_kernel(vk, shaders[s->kv_type], 6, 32, spec, 3);
    union {
        uint32_t u[8];
        float f[8];
    } push = {{N_HEAD, N_HEAD_KV, s->head_dim, ATT_TOKENS, s->kv_row_bytes, s->page_bytes, PAGE_TOKENS, 0}};
    push.f[7] = 1.0f / sqrtf((float)s->head_dim);
    float *out = s->ob.mapped;
    for (uint32_t i = 0; i < ATT_TOKENS * N_HEAD * s->head_dim; i++) out[i] = NAN;
    snug_vk_buffer *bufs[6] = {&s->qb, &s->kb, &s->vb, &s->tb, &s->pb, &s->ob};
    run(vk, &k, bufs, push.u, ATT_TOKENS * N_HEAD);
    snug_vk_kernel_destroy(vk, &k);
}

/* Compares the output with a float64 softmax attention over the decoded pool; returns the worst error / bound. */
static double attention_check(const attention_setup *s, const char *what) {
    const float scale = 1.0f / sqrtf((float)s->head_dim);
    const float *q = s->qb.mapped, *out = s->ob.mapped;
    const uint8_t *kpool = s->kb.mapped, *vpool = s->vb.mapped;
    const uint32_t hd = s->head_dim;
    double worst = 0;
    double *score = malloc(sizeof(double) * 130), *magnitude = malloc(sizeof(double) * 130);
    for (uint32_t t = 0; t < ATT_TOKENS; t++) {
        const uint32_t seq = TOKEN_SEQ[t], n_pos = TOKEN_N_POS[t];
        for (uint32_t h = 0; h < N_HEAD; h++) {
            const uint32_t g = h / (N_HEAD / N_HEAD_KV);
            const float *qr = q + (t * N_HEAD + h) * hd;
            double m = -INFINITY, s_max = 0;
            for (uint32_t p = 0; p < n_pos; p++) {
                double dot = 0, mag = 0;
                for (uint32_t d = 0; d < hd; d++) {
                    const double kv = decode_kv(s->kv_type, kpool + kv_byte(s, seq, p), g * hd + d);
                    dot += qr[d] * kv;
                    mag += fabs(qr[d] * kv);
                }
                score[p] = scale * dot;
                magnitude[p] = scale * mag;
                m = fmax(m, score[p]);
                s_max = fmax(s_max, magnitude[p]);
            }
            for (uint32_t d = 0; d < hd; d++) {
                double num = 0, den = 0, v_max = 0;
                for (uint32_t p = 0; p < n_pos; p++) {
                    const double v = decode_kv(s->kv_type, vpool + kv_byte(s, seq, p), g * hd + d);
                    const double w = exp(score[p] - m);
                    num += w * v;
                    den += w;
                    v_max = fmax(v_max, fabs(v));
                }
                const double ref = num / den, got = out[(t * N_HEAD + h) * hd + d];
                const double bound = 1e-5 * (1 + s_max) * v_max + 1e-7;
                cr_assert(fabs(got - ref) <= bound, "%s: token %u (n_pos %u) head %u dim %u: %.9g vs %.9g", what, t,
                          n_pos, h, d, got, ref);
                worst = fmax(worst, fabs(got - ref) / bound);
            }
        }
    }
    free(score);
    free(magnitude);
    return worst;
}

Test(vulkan_kernels, attention_every_kv_type_matches_float64_softmax) {
    snug_vk vk;
    open_device(&vk);
    const struct {
        int kv_type;
        uint32_t head_dim;
        const char *name;
    } cases[] = {
        {KV_F32, 8, "f32"}, {KV_F16, 8, "f16"}, {KV_F32, 64, "f32"}, {KV_F16, 64, "f16"}, {KV_Q8_0, 64, "q8_0"}};
    const uint32_t configs[][2] = {{32, 8}, {64, 32}, {32, 64}, {64, 64}}; /* (WORKGROUP, TILE) */
    double worst = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        attention_setup s;
        attention_setup_make(&vk, &s, cases[ci].kv_type, cases[ci].head_dim);
        for (size_t k = 0; k < sizeof configs / sizeof *configs; k++) {
            const uint32_t wg = configs[k][0], tile = configs[k][1];
            const uint64_t shared =
                snug_vk_attention_shared_bytes(cases[ci].kv_type == KV_F16 ? 2 : 4, tile, cases[ci].head_dim);
            if (shared > vk.limits.maxComputeSharedMemorySize) {
                cr_log_info("attention %s head_dim %u tile %u: %llu bytes of shared memory, above the device's %u",
                            cases[ci].name, cases[ci].head_dim, tile, (unsigned long long)shared,
                            vk.limits.maxComputeSharedMemorySize);
                continue;
            }
            attention_run(&vk, &s, wg, tile);
            char what[96];
            snprintf(what, sizeof what, "%s head_dim %u workgroup %u tile %u", cases[ci].name, cases[ci].head_dim, wg,
                     tile);
            worst = fmax(worst, attention_check(&s, what));
        }
        attention_setup_free(&vk, &s);
    }
    cr_log_info("%s: attention worst error = %.3g of the bound", vk.name, worst);
    snug_vk_close(&vk);
}

/* A NaN in one key reaches every output that attends to it (through the softmax's sum), an infinity in one value
 * the outputs of that dim; nothing else changes. */
Test(vulkan_kernels, attention_propagates_nan_and_infinity) {
    snug_vk vk;
    open_device(&vk);
    attention_setup s;
    attention_setup_make(&vk, &s, KV_F32, 8);
    const float nan = NAN, inf = INFINITY;
    memcpy((uint8_t *)s.kb.mapped + kv_byte(&s, 0, 40) + 4 * 3, &nan, 4);       /* A, position 40, KV head 0 */
    memcpy((uint8_t *)s.vb.mapped + kv_byte(&s, 1, 10) + 4 * (8 + 5), &inf, 4); /* B, position 10, KV head 1, dim 5 */
    attention_run(&vk, &s, 32, 8);
    const float *out = s.ob.mapped;
    for (uint32_t t = 0; t < ATT_TOKENS; t++) {
        for (uint32_t h = 0; h < N_HEAD; h++) {
            for (uint32_t d = 0; d < 8; d++) {
                const float o = out[(t * N_HEAD + h) * 8 + d];
                const int nan_key = TOKEN_SEQ[t] == 0 && TOKEN_N_POS[t] > 40 && h < 2;
                const int inf_value = TOKEN_SEQ[t] == 1 && h >= 2 && d == 5;
                if (nan_key)
                    cr_assert(isnan(o), "token %u head %u dim %u: %g, not NaN", t, h, d, (double)o);
                else if (inf_value)
                    cr_assert(!isfinite(o), "token %u head %u dim %u: %g is finite", t, h, d, (double)o);
                else
                    cr_assert(isfinite(o), "token %u head %u dim %u: %g", t, h, d, (double)o);
            }
        }
    }
    attention_setup_free(&vk, &s);
    snug_vk_close(&vk);
}
