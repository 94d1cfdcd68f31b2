/* ops.c — scalar reference implementations of the per-vector operations (see ops.h). */
#include "cpu/ops.h"

#include <float.h>
#include <math.h>
#include <stddef.h>

float snug_dot_f32(const float *a, const float *b, int64_t n) {
    enum { LANES = 8 };
    float partial[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        for (int l = 0; l < LANES; l++) partial[l] += a[i + l] * b[i + l];
    }
    float sum = 0.0f;
    for (; i < n; i++) sum += a[i] * b[i];
    for (int l = 0; l < LANES; l++) sum += partial[l];
    return sum;
}

bool snug_rmsnorm(float *out, const float *x, const float *weight, int64_t n, float eps) {
    /* double: n can be 8192 and the values large. Four partial sums: one chain of dependent double additions made
     * this the longest step a decode token runs on one thread. */
    double partial[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        for (int l = 0; l < 4; l++) partial[l] += (double)x[i + l] * x[i + l];
    }
    for (; i < n; i++) partial[0] += (double)x[i] * x[i];
    const double sum_squares = (partial[0] + partial[1]) + (partial[2] + partial[3]);
    float scale = (float)(1.0 / sqrt(sum_squares / (double)n + (double)eps));
    for (i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
    return sum_squares <= (double)FLT_MAX && !snug_any_nonfinite(out, n); /* false for a NaN sum too */
}

/* Rotates pair i of every head of vec by (c, s). */
static void rotate_heads(float *vec, int32_t n_heads, int32_t head_dim, int32_t i, float c, float s,
                         const snug_rope_params *p) {
    const int32_t half = p->n_rot / 2;
    const int32_t a = p->mode == SNUG_ROPE_NEOX ? i : 2 * i;
    const int32_t b = p->mode == SNUG_ROPE_NEOX ? i + half : 2 * i + 1;
    for (int32_t h = 0; h < n_heads; h++) {
        float *head = vec + (int64_t)h * head_dim;
        float x0 = head[a], x1 = head[b];
        head[a] = x0 * c - x1 * s;
        head[b] = x0 * s + x1 * c;
    }
}

void snug_rope_angle(const snug_rope_params *p, int64_t pos, int32_t i, float *c, float *s) {
    /* θ_i = pos · scale · base^(−2i/n_rot), computed in double so long contexts keep their precision. */
    double theta = (double)pos * p->freq_scale * pow((double)p->freq_base, -2.0 * i / (double)p->n_rot);
    if (p->freq_factors) theta /= p->freq_factors[i];
    *c = (float)cos(theta);
    *s = (float)sin(theta);
}

void snug_rope_qk(float *q, int32_t n_q_heads, float *k, int32_t n_k_heads, int32_t head_dim, int64_t pos,
                  const snug_rope_params *p) {
    int32_t half = p->n_rot / 2;
    for (int32_t i = 0; i < half; i++) {
        float c, s; /* once for Q and K */
        snug_rope_angle(p, pos, i, &c, &s);
        rotate_heads(q, n_q_heads, head_dim, i, c, s, p);
        if (k) rotate_heads(k, n_k_heads, head_dim, i, c, s, p);
    }
}

void snug_rope(float *vec, int32_t n_heads, int32_t head_dim, int64_t pos, const snug_rope_params *p) {
    snug_rope_qk(vec, n_heads, NULL, 0, head_dim, pos, p);
}

bool snug_softmax(float *x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max); /* a NaN score gives NaN here, and a NaN sum */
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
    return isfinite(max) && sum > 0.0 && isfinite(sum);
}

bool snug_swiglu(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
    return !snug_any_nonfinite(gate, n);
}

void snug_add(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}
