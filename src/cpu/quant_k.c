/* quant_k.c — the K-quant block formats (Q2_K … Q6_K, Q8_K): scalar decoders and encoders.
 *
 * quant.c hands every K type to snug_dequantize_row_kquant / snug_quantize_row_kquant. The layouts are in
 * quant_k.h; the decoders below are the reference the dot-product kernels (kquant_*.c) and the tests are held to.
 *
 * Bit placement. Every K type stores element e of a super-block (e = 0 … 255) with the scale of its sub-block:
 * 16 elements per scale for Q2_K, Q3_K, Q6_K (scale index e / 16) and 32 per scale/min pair for Q4_K, Q5_K
 * (index e / 32). The low bits are laid out so that one 32-byte load feeds a whole SIMD register:
 *   Q2_K / Q3_K: e = 128·n + 32·j + l (n < 2, j < 4, l < 32): bits 2j, 2j+1 of qs[32n + l]; Q3_K's third bit is
 *                bit 4n + j of hmask[l].
 *   Q4_K / Q5_K: e = 64·c + 32·h + l (c < 4, h < 2, l < 32): nibble h (0 low, 1 high) of qs[32c + l]; Q5_K's fifth
 *                bit is bit 2c + h of qh[l].
 *   Q6_K:        e = 128·n + 32·k + l (n < 2, k < 4, l < 32): low 4 bits in nibble k / 2 of ql[64n + 32·(k % 2) + l],
 *                high 2 bits at bit 2k of qh[32n + l].
 *
 * Encoding (the quantizers behind `snug quantize`). Each sub-block first gets its own float scale (and, for the
 * asymmetric types, min) by a least-squares search; then the super-block's f16 d (and dmin) is chosen so the largest
 * sub-block scale (min) maps to the top of the integer scale range, every sub-block scale is rounded to that grid,
 * and the elements are rounded against the scale actually stored:
 *   1. Asymmetric sub-blocks (Q2_K, Q4_K, Q5_K: x ≈ s·q − m, q ∈ 0..qmax, s ≥ 0, m ≥ 0): the range [min(x, 0),
 *      max(x)] is mapped onto 0..qmax with 21 candidate inverse scales (qmax − 1 + 0.1·k) / range, k = 0 … 20; for
 *      each, q is rounded and (s, −m) refitted by least squares with q fixed (m clamped at 0, as the format has no
 *      positive offset); the pair with the smallest squared error wins.
 *   2. Symmetric sub-blocks (Q3_K, Q6_K: x ≈ s·q, q ∈ −qneg..qpos): the element of largest magnitude is mapped
 *      near either end of the range with 21 candidate inverse scales each; s is the least-squares Σxq / Σq² for the
 *      rounded q; the best pair wins.
 *   3. The sub-block scales (mins) are rounded to d·k, k in the format's range (6 bits for Q3_K/Q4_K/Q5_K, 4 bits for
 *      Q2_K, int8 for Q6_K), d stored as f16. Rounding a small sub-block's scale can cost it much of its precision,
 *      so each sub-block also tries the neighbouring codes k ± 1 (and the neighbouring min codes) and keeps the
 *      combination whose re-rounded elements have the smallest squared error.
 * The error this reaches on Gaussian data is measured in tests/test_kquants.c: relative RMS 0.071 (Q4_K), 0.035
 * (Q5_K), 0.017 (Q6_K), 0.15 (Q3_K), 0.27 (Q2_K) — about halving per extra bit, as a uniform quantizer should.
 * Cost: roughly 15–20 million elements a second per core (21 candidates per sub-block dominate).
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "cpu/quant.h"
#include "cpu/quant_k.h"
#include "snug.h"

/* The candidate grid of steps 1 and 2: inverse scales (qmax + offset) / range, offset = −1, −0.9, …, +1. */
#define FIT_CANDIDATES   21
#define FIT_OFFSET_FIRST (-1.0f)
#define FIT_OFFSET_STEP  0.1f
/* The largest sub-block: 32 elements (Q4_K, Q5_K). */
#define SUB_MAX 32

static void store_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Round to nearest (ties to even: rintf is inlined, lroundf is a library call). */
static int round_to_int(float v) { return (int)rintf(v); }

/* ---------------------------------------------------------------- decoders */

static void dequantize_q2_k(const snug_block_q2_k *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b++, y += SNUG_QK_K) {
        float d = snug_load_f16(b->d), dmin = snug_load_f16(b->dmin);
        for (int e = 0; e < SNUG_QK_K; e++) {
            int n = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = (b->qs[32 * n + l] >> (2 * j)) & 3;
            uint8_t sc = b->scales[e / 16];
            y[e] = d * (float)(sc & 15) * (float)q - dmin * (float)(sc >> 4);
        }
    }
}

static void dequantize_q3_k(const snug_block_q3_k *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b++, y += SNUG_QK_K) {
        float d = snug_load_f16(b->d);
        int8_t scales[16];
        snug_q3_k_scales(b->scales, scales);
        for (int e = 0; e < SNUG_QK_K; e++) {
            int n = e / 128, j = (e % 128) / 32, l = e % 32;
            int low = (b->qs[32 * n + l] >> (2 * j)) & 3;
            int high = (b->hmask[l] >> (4 * n + j)) & 1;
            y[e] = d * (float)scales[e / 16] * (float)((low | (high << 2)) - 4);
        }
    }
}

static void dequantize_q4_k(const snug_block_q4_k *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b++, y += SNUG_QK_K) {
        float d = snug_load_f16(b->d), dmin = snug_load_f16(b->dmin);
        for (int e = 0; e < SNUG_QK_K; e++) {
            int c = e / 64, h = (e % 64) / 32, l = e % 32;
            int q = (b->qs[32 * c + l] >> (4 * h)) & 15;
            uint8_t sc, m;
            snug_k4_scale_min(b->scales, e / 32, &sc, &m);
            y[e] = d * (float)sc * (float)q - dmin * (float)m;
        }
    }
}

static void dequantize_q5_k(const snug_block_q5_k *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b++, y += SNUG_QK_K) {
        float d = snug_load_f16(b->d), dmin = snug_load_f16(b->dmin);
        for (int e = 0; e < SNUG_QK_K; e++) {
            int c = e / 64, h = (e % 64) / 32, l = e % 32;
            int q = ((b->qs[32 * c + l] >> (4 * h)) & 15) | (((b->qh[l] >> (2 * c + h)) & 1) << 4);
            uint8_t sc, m;
            snug_k4_scale_min(b->scales, e / 32, &sc, &m);
            y[e] = d * (float)sc * (float)q - dmin * (float)m;
        }
    }
}

static void dequantize_q6_k(const snug_block_q6_k *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b++, y += SNUG_QK_K) {
        float d = snug_load_f16(b->d);
        for (int e = 0; e < SNUG_QK_K; e++) {
            int n = e / 128, k = (e % 128) / 32, l = e % 32;
            int low = (b->ql[64 * n + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
            int high = (b->qh[32 * n + l] >> (2 * k)) & 3;
            y[e] = d * (float)b->scales[e / 16] * (float)((low | (high << 4)) - 32);
        }
    }
}

static void dequantize_q8_k(const snug_block_q8_k *b, float *y, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b++, y += SNUG_QK_K) {
        float d = snug_load_f32(b->d);
        for (int e = 0; e < SNUG_QK_K; e++) y[e] = d * (float)b->qs[e];
    }
}

bool snug_dequantize_row_kquant(uint32_t type, const void *src, float *dst, int64_t n) {
    if (n % SNUG_QK_K != 0) return false;
    int64_t blocks = n / SNUG_QK_K;
    switch (type) {
    case SNUG_TYPE_Q2_K: dequantize_q2_k(src, dst, blocks); return true;
    case SNUG_TYPE_Q3_K: dequantize_q3_k(src, dst, blocks); return true;
    case SNUG_TYPE_Q4_K: dequantize_q4_k(src, dst, blocks); return true;
    case SNUG_TYPE_Q5_K: dequantize_q5_k(src, dst, blocks); return true;
    case SNUG_TYPE_Q6_K: dequantize_q6_k(src, dst, blocks); return true;
    case SNUG_TYPE_Q8_K: dequantize_q8_k(src, dst, blocks); return true;
    default: return false;
    }
}

/* ---------------------------------------------------------------- Q8_K (activations) */

void snug_quantize_row_q8_k(const float *x, void *dst, int64_t n) {
    snug_block_q8_k *b = dst;
    for (int64_t i = 0; i < n / SNUG_QK_K; i++, b++, x += SNUG_QK_K) {
        float amax = 0.0f;
        for (int e = 0; e < SNUG_QK_K; e++) amax = fmaxf(amax, fabsf(x[e]));
        /* The same three float operations as the SIMD encoders: one division each, one product per element, then
         * round-half-even (rintf, the default rounding mode, like cvtps2dq). */
        if (amax < SNUG_Q8_K_TINY) amax = 0.0f;
        float d = amax / 127.0f;
        float inverse = amax != 0.0f ? 127.0f / amax : 0.0f;
        memcpy(b->d, &d, sizeof d);
        for (int j = 0; j < SNUG_QK_K / 16; j++) {
            int sum = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                int q = (int)rintf(x[e] * inverse);
                b->qs[e] = (int8_t)q;
                sum += q;
            }
            int16_t bsum = (int16_t)sum; /* |sum| ≤ 16 · 127 */
            memcpy(b->bsums + 2 * j, &bsum, sizeof bsum);
        }
    }
}

/* ---------------------------------------------------------------- sub-block fits (steps 1 and 2) */

/* Step 1: x ≈ scale·q − min with q ∈ 0..qmax, scale ≥ 0, min ≥ 0, least squared error over the candidate grid. */
static void fit_asymmetric(const float *x, int n, int qmax, float *scale, float *min) {
    float lo = 0.0f, hi = -FLT_MAX;
    for (int i = 0; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    *scale = 0.0f;
    *min = -lo;
    if (!(hi > lo)) return; /* every element equals lo (≤ 0): the min alone represents them */
    double sum_x = 0, sum_xx = 0;
    for (int i = 0; i < n; i++) {
        sum_x += x[i];
        sum_xx += (double)x[i] * x[i];
    }
    double best_error = DBL_MAX;
    for (int k = 0; k < FIT_CANDIDATES; k++) {
        float inverse = ((float)qmax + FIT_OFFSET_FIRST + FIT_OFFSET_STEP * (float)k) / (hi - lo);
        int sum_q = 0, sum_qq = 0; /* ≤ 32 · 31²: exact in int */
        double sum_qx = 0;
        for (int i = 0; i < n; i++) {
            int q = clamp_int(round_to_int(inverse * (x[i] - lo)), 0, qmax);
            sum_q += q;
            sum_qq += q * q;
            sum_qx += (double)q * x[i];
        }
        if (sum_qq == 0) continue;
        /* Least squares for x ≈ s·q + b; the format needs b ≤ 0 (a min ≥ 0), else b = 0 and s alone. */
        double det = (double)n * sum_qq - (double)sum_q * sum_q;
        double s, b;
        if (det > 0) {
            s = (n * sum_qx - sum_q * sum_x) / det;
            b = (sum_qq * sum_x - sum_q * sum_qx) / det;
        } else { /* every q equal (a constant sub-block): no offset is determined; use none */
            b = 1;
        }
        if (b > 0) {
            b = 0;
            s = sum_qx / sum_qq;
        }
        if (s <= 0) continue;
        /* Σ (s·q + b − x)² expanded over the sums already at hand. */
        double error = s * s * sum_qq + 2 * s * b * sum_q + n * b * b - 2 * s * sum_qx - 2 * b * sum_x + sum_xx;
        if (error < best_error) {
            best_error = error;
            *scale = (float)s;
            *min = (float)-b;
        }
    }
}

/* Step 2: x ≈ scale·q with q ∈ −qneg..qpos, least squared error over the candidate grid (scale may be negative). */
static float fit_symmetric(const float *x, int n, int qneg, int qpos) {
    float amax = 0.0f, extreme = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            extreme = x[i];
        }
    }
    if (amax == 0.0f) return 0.0f;
    float best_scale = 0.0f, best_fit = -1.0f;
    for (int end = 0; end < 2; end++) {
        /* Map the extreme element near −qneg (end 0) or near +qpos (end 1). */
        float target = end == 0 ? -(float)qneg : (float)qpos;
        for (int k = 0; k < FIT_CANDIDATES; k++) {
            float magnitude = fabsf(target) + FIT_OFFSET_FIRST + FIT_OFFSET_STEP * (float)k;
            float inverse = copysignf(magnitude, target) / extreme;
            int sum_qq = 0; /* ≤ 16 · 32²: exact in int */
            double sum_qx = 0;
            for (int i = 0; i < n; i++) {
                int q = clamp_int(round_to_int(inverse * x[i]), -qneg, qpos);
                sum_qq += q * q;
                sum_qx += (double)q * x[i];
            }
            if (sum_qq == 0) continue;
            /* With s = Σqx/Σq², the squared error is Σx² − (Σqx)²/Σq²: maximize the second term. */
            double fit = sum_qx * sum_qx / sum_qq;
            if (fit > best_fit) {
                best_fit = (float)fit;
                best_scale = (float)(sum_qx / sum_qq);
            }
        }
    }
    return best_scale;
}

/* Squared error of x against scale·q − min with each q rounded to the nearest level in qlo..qhi; the q are stored. */
static float round_sub_block(const float *x, int n, float scale, float min, int qlo, int qhi, int8_t *q) {
    float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
    float error = 0.0f;
    for (int i = 0; i < n; i++) {
        q[i] = (int8_t)clamp_int(round_to_int((x[i] + min) * inverse), qlo, qhi);
        float diff = scale * (float)q[i] - min - x[i];
        error += diff * diff;
    }
    return error;
}

/* ---------------------------------------------------------------- super-blocks (step 3) */

/* An asymmetric super-block: `subs` sub-blocks of `n` elements, q ∈ 0..qmax, scale and min codes in 0..code_max.
 * Outputs the f16 d and dmin, the codes and the quantized elements. */
static void quantize_asymmetric(const float *x, int subs, int n, int qmax, int code_max, uint16_t *d_out,
                                uint16_t *dmin_out, uint8_t *scale_codes, uint8_t *min_codes, uint8_t *q) {
    float scales[SNUG_QK_K / 16], mins[SNUG_QK_K / 16];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < subs; j++) {
        fit_asymmetric(x + j * n, n, qmax, &scales[j], &mins[j]);
        max_scale = fmaxf(max_scale, scales[j]);
        max_min = fmaxf(max_min, mins[j]);
    }
    *d_out = snug_f32_to_f16(max_scale / (float)code_max);
    *dmin_out = snug_f32_to_f16(max_min / (float)code_max);
    float d = snug_f16_to_f32(*d_out), dmin = snug_f16_to_f32(*dmin_out);
    for (int j = 0; j < subs; j++) {
        int scale_code = d > 0.0f ? clamp_int(round_to_int(scales[j] / d), 0, code_max) : 0;
        int min_code = dmin > 0.0f ? clamp_int(round_to_int(mins[j] / dmin), 0, code_max) : 0;
        float best_error = FLT_MAX;
        int8_t trial[SUB_MAX];
        for (int ds = -1; ds <= 1; ds++) {
            for (int dm = -1; dm <= 1; dm++) {
                int sc = scale_code + ds, m = min_code + dm;
                if (sc < 0 || sc > code_max || m < 0 || m > code_max) continue;
                float error = round_sub_block(x + j * n, n, d * (float)sc, dmin * (float)m, 0, qmax, trial);
                if (error < best_error) {
                    best_error = error;
                    scale_codes[j] = (uint8_t)sc;
                    min_codes[j] = (uint8_t)m;
                    for (int i = 0; i < n; i++) q[j * n + i] = (uint8_t)trial[i];
                }
            }
        }
    }
}

/* A symmetric super-block of 16 sub-blocks of 16: q ∈ −qneg..qpos, scale codes in −code_max..code_max. */
static void quantize_symmetric(const float *x, int qneg, int qpos, int code_max, uint16_t *d_out, int8_t *codes,
                               int8_t *q) {
    enum { SUBS = SNUG_QK_K / 16, N = 16 };
    float scales[SUBS], max_abs = 0.0f;
    for (int j = 0; j < SUBS; j++) {
        scales[j] = fit_symmetric(x + j * N, N, qneg, qpos);
        max_abs = fmaxf(max_abs, fabsf(scales[j]));
    }
    *d_out = snug_f32_to_f16(max_abs / (float)code_max);
    float d = snug_f16_to_f32(*d_out);
    for (int j = 0; j < SUBS; j++) {
        int code = d > 0.0f ? clamp_int(round_to_int(scales[j] / d), -code_max, code_max) : 0;
        float best_error = FLT_MAX;
        int8_t trial[N];
        for (int dc = -1; dc <= 1; dc++) {
            int c = code + dc;
            if (c < -code_max || c > code_max) continue;
            float error = round_sub_block(x + j * N, N, d * (float)c, 0.0f, -qneg, qpos, trial);
            if (error < best_error) {
                best_error = error;
                codes[j] = (int8_t)c;
                memcpy(q + j * N, trial, N);
            }
        }
    }
}

static void quantize_q2_k(const float *x, snug_block_q2_k *b, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b++, x += SNUG_QK_K) {
        uint16_t d, dmin;
        uint8_t scale_codes[16], min_codes[16], q[SNUG_QK_K];
        quantize_asymmetric(x, 16, 16, 3, 15, &d, &dmin, scale_codes, min_codes, q);
        memset(b, 0, sizeof *b);
        store_u16(b->d, d);
        store_u16(b->dmin, dmin);
        for (int j = 0; j < 16; j++) b->scales[j] = (uint8_t)(scale_codes[j] | (min_codes[j] << 4));
        for (int e = 0; e < SNUG_QK_K; e++) {
            int n = e / 128, j = (e % 128) / 32, l = e % 32;
            b->qs[32 * n + l] |= (uint8_t)(q[e] << (2 * j));
        }
    }
}

static void quantize_q3_k(const float *x, snug_block_q3_k *b, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b++, x += SNUG_QK_K) {
        uint16_t d;
        int8_t codes[16], q[SNUG_QK_K];
        quantize_symmetric(x, 4, 3, 31, &d, codes, q);
        memset(b, 0, sizeof *b);
        store_u16(b->d, d);
        for (int s = 0; s < 16; s++) {
            int biased = codes[s] + 32; /* 1 … 63 */
            b->scales[s % 8] |= (uint8_t)((biased & 15) << (s < 8 ? 0 : 4));
            b->scales[8 + s % 4] |= (uint8_t)((biased >> 4) << (2 * (s / 4)));
        }
        for (int e = 0; e < SNUG_QK_K; e++) {
            int n = e / 128, j = (e % 128) / 32, l = e % 32;
            int biased = q[e] + 4; /* 0 … 7 */
            b->qs[32 * n + l] |= (uint8_t)((biased & 3) << (2 * j));
            b->hmask[l] |= (uint8_t)((biased >> 2) << (4 * n + j));
        }
    }
}

/* Q4_K and Q5_K share the scale packing (see snug_k4_scale_min). */
static void pack_k4_scales(const uint8_t scales[8], const uint8_t mins[8], uint8_t packed[SNUG_K_SCALE_BYTES]) {
    for (int j = 0; j < 4; j++) {
        packed[j] = (uint8_t)(scales[j] | ((scales[j + 4] >> 4) << 6));
        packed[j + 4] = (uint8_t)(mins[j] | ((mins[j + 4] >> 4) << 6));
        packed[j + 8] = (uint8_t)((scales[j + 4] & 15) | ((mins[j + 4] & 15) << 4));
    }
}

static void quantize_q4_k(const float *x, snug_block_q4_k *b, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b++, x += SNUG_QK_K) {
        uint16_t d, dmin;
        uint8_t scale_codes[8], min_codes[8], q[SNUG_QK_K];
        quantize_asymmetric(x, 8, 32, 15, 63, &d, &dmin, scale_codes, min_codes, q);
        store_u16(b->d, d);
        store_u16(b->dmin, dmin);
        pack_k4_scales(scale_codes, min_codes, b->scales);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) b->qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
        }
    }
}

static void quantize_q5_k(const float *x, snug_block_q5_k *b, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b++, x += SNUG_QK_K) {
        uint16_t d, dmin;
        uint8_t scale_codes[8], min_codes[8], q[SNUG_QK_K];
        quantize_asymmetric(x, 8, 32, 31, 63, &d, &dmin, scale_codes, min_codes, q);
        store_u16(b->d, d);
        store_u16(b->dmin, dmin);
        pack_k4_scales(scale_codes, min_codes, b->scales);
        memset(b->qh, 0, sizeof b->qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                uint8_t lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                b->qs[32 * c + l] = (uint8_t)((lo & 15) | ((hi & 15) << 4));
                b->qh[l] |= (uint8_t)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
            }
        }
    }
}

static void quantize_q6_k(const float *x, snug_block_q6_k *b, int64_t blocks) {
    for (int64_t i = 0; i < blocks; i++, b++, x += SNUG_QK_K) {
        uint16_t d;
        int8_t q[SNUG_QK_K];
        quantize_symmetric(x, 32, 31, 127, &d, b->scales, q);
        store_u16(b->d, d);
        memset(b->ql, 0, sizeof b->ql);
        memset(b->qh, 0, sizeof b->qh);
        for (int e = 0; e < SNUG_QK_K; e++) {
            int n = e / 128, k = (e % 128) / 32, l = e % 32;
            int biased = q[e] + 32; /* 0 … 63 */
            b->ql[64 * n + 32 * (k % 2) + l] |= (uint8_t)((biased & 15) << (4 * (k / 2)));
            b->qh[32 * n + l] |= (uint8_t)((biased >> 4) << (2 * k));
        }
    }
}

bool snug_quantize_row_kquant(uint32_t type, const float *src, void *dst, int64_t n) {
    if (n % SNUG_QK_K != 0) return false;
    int64_t blocks = n / SNUG_QK_K;
    switch (type) {
    case SNUG_TYPE_Q2_K: quantize_q2_k(src, dst, blocks); return true;
    case SNUG_TYPE_Q3_K: quantize_q3_k(src, dst, blocks); return true;
    case SNUG_TYPE_Q4_K: quantize_q4_k(src, dst, blocks); return true;
    case SNUG_TYPE_Q5_K: quantize_q5_k(src, dst, blocks); return true;
    case SNUG_TYPE_Q6_K: quantize_q6_k(src, dst, blocks); return true;
    case SNUG_TYPE_Q8_K: snug_quantize_row_q8_k(src, dst, n); return true;
    default: return false;
    }
}
