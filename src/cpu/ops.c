/* ops.c — scalar reference implementations of the per-vector operations (see ops.h). */
#include "cpu/ops.h"

#include <math.h>

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

void snug_rmsnorm(float *out, const float *x, const float *weight, int64_t n, float eps) {
    double sum_squares = 0.0; /* double: n can be 8192 and the values large; the cost is negligible */
    for (int64_t i = 0; i < n; i++) sum_squares += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(sum_squares / (double)n + (double)eps));
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
}

void snug_rope(float *vec, int32_t n_heads, int32_t head_dim, int64_t pos, const snug_rope_params *p) {
    int32_t half = p->n_rot / 2;
    double position = (double)pos * p->freq_scale;
    for (int32_t i = 0; i < half; i++) {
        /* θ_i = base^(−2i/n_rot), computed in double so long contexts keep their precision. */
        double theta = position * pow((double)p->freq_base, -2.0 * i / (double)p->n_rot);
        if (p->freq_factors) theta /= p->freq_factors[i];
        float c = (float)cos(theta), s = (float)sin(theta);
        for (int32_t h = 0; h < n_heads; h++) {
            float *head = vec + (int64_t)h * head_dim;
            int32_t a = p->mode == SNUG_ROPE_NEOX ? i : 2 * i;
            int32_t b = p->mode == SNUG_ROPE_NEOX ? i + half : 2 * i + 1;
            float x0 = head[a], x1 = head[b];
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
        }
    }
}

void snug_softmax(float *x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void snug_swiglu(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void snug_add(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}
