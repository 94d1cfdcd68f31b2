/* test_attention.c — snug_attention (causal GQA over an f16 / q8_0 / f32 KV cache) on every ISA this machine runs.
 *
 *   (a) Every path (the scalar reference, SNUG_ISA_SCALAR, and each ISA's kernels, snug_attention_kernels_for)
 *       against a float64 reference computed here from the decoded cache rows: |out − ref| <= OUT_TOL · max|v| for
 *       every output element, max|v| the largest decoded value of the case. The error sources are the f32 rounding
 *       of the scores (~1e-7 relative), of the exponential (SNUG_ATTENTION_EXP_REL_ERROR) and of the f32 sums over up
 *       to 600 positions; the output is a convex combination of V rows, so all of them scale with max|v|. Observed
 *       worst: about 1e-6 (see the log), so OUT_TOL = 1e-5 leaves an order of magnitude.
 *   (b) The same kernels against the scalar reference path, within 2 · OUT_TOL · max|v| (both within OUT_TOL of the
 *       float64 reference).
 *   Cases: head sizes 64, 128, 80 and 100 (f16 / f32; not a multiple of 16 / of 8: masked and padded last chunks),
 *   64, 96, 128 (q8_0: whole 32-element blocks); GQA groups 1, 3, 4 and 8; a batch of 1 and of 37 tokens at
 *   positions from 0 to 599, so 1 … 600 keys (partial and whole groups of 8 / 16 keys, up to 5 online-softmax blocks
 *   of SNUG_ATTENTION_BLOCK_KEYS; a single token over one KV head splits its group, as decode on many threads does).
 *   (c) Causal masking: cache rows after the batch's last position are filled with NaN; no output changes by a bit
 *       (a read past pos0 + t would turn it into NaN).
 *   (d) Results are bit-identical for 1 and 2 threads, on every ISA.
 *   (e) The kernels' exponential: within SNUG_ATTENTION_EXP_REL_ERROR of e^x relative on [−87.3, 88.3] (dense sweep),
 *       within 2^−126 absolute below, 0 for −∞; exp_sum returns the sum of what it wrote.
 *   (f) Scratch: the kernels write nothing past the n_threads · snug_attention_scratch_floats() floats.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/attention.h"
#include "cpu/half_row.h"
#include "cpu/kernels.h"
#include "cpu/quant.h"
#include "gguf/types.h"
#include "snug.h"

#define OUT_TOL         1e-5
#define N_CTX           640 /* cache positions; the cases read up to 600 */
#define SCRATCH_CANARY  12345.678f
#define CANARY_FLOATS   64
#define Q_MAGNITUDE     4.0 /* scores of a few units: softmax neither flat nor one-hot */
#define EXP_SWEEP_STEPS 2000003

static uint64_t rng_state;

static double uniform(void) { /* [0, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

typedef struct attention_case {
    uint32_t kv_type;
    int32_t head_dim, n_head, n_head_kv;
    /* built by make_case */
    uint64_t row_bytes;
    uint8_t *k_cache, *v_cache; /* (N_CTX, row_bytes) */
    float *k_dec, *v_dec;       /* (N_CTX, n_head_kv × head_dim), decoded */
    float max_abs_v;
} attention_case;

static void make_case(attention_case *c) {
    const int64_t kv_dim = (int64_t)c->n_head_kv * c->head_dim;
    cr_assert(snug_type_row_bytes(c->kv_type, (uint64_t)kv_dim, &c->row_bytes));
    c->k_cache = malloc(N_CTX * c->row_bytes);
    c->v_cache = malloc(N_CTX * c->row_bytes);
    c->k_dec = malloc(N_CTX * (size_t)kv_dim * sizeof(float));
    c->v_dec = malloc(N_CTX * (size_t)kv_dim * sizeof(float));
    float *row = malloc((size_t)kv_dim * sizeof(float));
    c->max_abs_v = 0;
    for (int64_t pos = 0; pos < N_CTX; pos++) {
        for (int64_t i = 0; i < kv_dim; i++) row[i] = (float)(uniform() * 2 - 1);
        snug_kv_store(c->kv_type, row, c->k_cache + pos * c->row_bytes, kv_dim);
        for (int64_t i = 0; i < kv_dim; i++) row[i] = (float)((uniform() * 2 - 1) * (1 + pos % 3));
        snug_kv_store(c->kv_type, row, c->v_cache + pos * c->row_bytes, kv_dim);
        cr_assert(snug_dequantize_row(c->kv_type, c->k_cache + pos * c->row_bytes, c->k_dec + pos * kv_dim, kv_dim));
        cr_assert(snug_dequantize_row(c->kv_type, c->v_cache + pos * c->row_bytes, c->v_dec + pos * kv_dim, kv_dim));
        for (int64_t i = 0; i < kv_dim; i++) c->max_abs_v = fmaxf(c->max_abs_v, fabsf(c->v_dec[pos * kv_dim + i]));
    }
    free(row);
}

static void free_case(attention_case *c) {
    free(c->k_cache);
    free(c->v_cache);
    free(c->k_dec);
    free(c->v_dec);
}

static snug_attention_shape shape_of(const attention_case *c, const snug_attention_kernels *kernels) {
    const snug_type_kernels *kk = snug_kernels_for(c->kv_type, SNUG_ISA_SCALAR);
    snug_attention_shape s = {c->n_head,
                              c->n_head_kv,
                              c->head_dim,
                              N_CTX,
                              c->kv_type,
                              c->row_bytes,
                              kk && kk->act_type == SNUG_TYPE_F32 ? kk : NULL,
                              c->kv_type == SNUG_TYPE_F16 ? snug_f16_row_scalar : NULL,
                              kernels};
    return s;
}

/* snug_attention with its scratch followed by canary floats that must survive. */
static void run_attention(float *out, const float *q, const attention_case *c, int64_t n_tokens, int64_t pos0,
                          const snug_attention_kernels *kernels, int32_t n_threads) {
    const snug_attention_shape shape = shape_of(c, kernels);
    const int64_t scratch_floats = n_threads * snug_attention_scratch_floats(N_CTX, c->head_dim);
    float *scratch = malloc((size_t)(scratch_floats + CANARY_FLOATS) * sizeof(float));
    for (int64_t i = 0; i < CANARY_FLOATS; i++) scratch[scratch_floats + i] = SCRATCH_CANARY;
    snug_pool *pool;
    cr_assert_eq(snug_pool_create(n_threads, &pool, NULL), SNUG_OK, "a pool of %d threads", n_threads);
    snug_attention(out, q, c->k_cache, c->v_cache, n_tokens, pos0, &shape, scratch, pool);
    snug_pool_destroy(pool);
    for (int64_t i = 0; i < CANARY_FLOATS; i++) {
        cr_assert(scratch[scratch_floats + i] == SCRATCH_CANARY, "scratch overrun at float %lld past the end",
                  (long long)i);
    }
    free(scratch);
}

/* float64 attention from the decoded cache: out (n_tokens, n_head × head_dim). */
static void reference_attention(double *out, const float *q, const attention_case *c, int64_t n_tokens, int64_t pos0) {
    const int32_t d = c->head_dim, group = c->n_head / c->n_head_kv;
    const int64_t q_dim = (int64_t)c->n_head * d, kv_dim = (int64_t)c->n_head_kv * d;
    double *p = malloc(N_CTX * sizeof(double));
    for (int64_t t = 0; t < n_tokens; t++) {
        for (int32_t h = 0; h < c->n_head; h++) {
            const float *qh = q + t * q_dim + (int64_t)h * d;
            const int64_t kv_off = (int64_t)(h / group) * d, n_pos = pos0 + t + 1;
            double max = -INFINITY, sum = 0;
            for (int64_t j = 0; j < n_pos; j++) {
                double s = 0;
                for (int32_t i = 0; i < d; i++) s += (double)qh[i] * c->k_dec[j * kv_dim + kv_off + i];
                p[j] = s / sqrt((double)d);
                max = fmax(max, p[j]);
            }
            for (int64_t j = 0; j < n_pos; j++) sum += p[j] = exp(p[j] - max);
            double *oh = out + t * q_dim + (int64_t)h * d;
            for (int32_t i = 0; i < d; i++) oh[i] = 0;
            for (int64_t j = 0; j < n_pos; j++) {
                for (int32_t i = 0; i < d; i++) oh[i] += p[j] / sum * c->v_dec[j * kv_dim + kv_off + i];
            }
        }
    }
    free(p);
}

static float *random_queries(const attention_case *c, int64_t n_tokens) {
    const int64_t n = n_tokens * c->n_head * c->head_dim;
    float *q = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) q[i] = (float)((uniform() * 2 - 1) * Q_MAGNITUDE);
    return q;
}

static const attention_case cases[] = {
    {SNUG_TYPE_F16, 64, 8, 2},  {SNUG_TYPE_F16, 128, 8, 1}, {SNUG_TYPE_F16, 80, 4, 4},   {SNUG_TYPE_F16, 100, 6, 2},
    {SNUG_TYPE_F32, 64, 8, 2},  {SNUG_TYPE_F32, 128, 4, 1}, {SNUG_TYPE_F32, 80, 4, 4},   {SNUG_TYPE_F32, 100, 6, 2},
    {SNUG_TYPE_Q8_0, 64, 8, 2}, {SNUG_TYPE_Q8_0, 96, 3, 1}, {SNUG_TYPE_Q8_0, 128, 8, 1},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* (pos0, n_tokens): single tokens around a group of 16 keys and at 600 keys, batches from 0 and ending at 600. */
static const int64_t batches[][2] = {{0, 1}, {15, 1}, {16, 1}, {17, 1}, {599, 1}, {0, 37}, {5, 3}, {563, 37}};
#define N_BATCHES (sizeof batches / sizeof batches[0])

Test(attention, every_path_matches_float64_reference_and_the_scalar_path) {
    rng_state = 1;
    double worst_ref = 0, worst_scalar = 0;
    for (size_t ci = 0; ci < N_CASES; ci++) {
        attention_case c = cases[ci];
        make_case(&c);
        const int64_t q_dim = (int64_t)c.n_head * c.head_dim;
        for (size_t bi = 0; bi < N_BATCHES; bi++) {
            const int64_t pos0 = batches[bi][0], n_tokens = batches[bi][1], n_out = n_tokens * q_dim;
            float *q = random_queries(&c, n_tokens);
            double *ref = malloc((size_t)n_out * sizeof(double));
            float *scalar = malloc((size_t)n_out * sizeof(float)), *out = malloc((size_t)n_out * sizeof(float));
            reference_attention(ref, q, &c, n_tokens, pos0);
            run_attention(scalar, q, &c, n_tokens, pos0, snug_attention_kernels_for(SNUG_ISA_SCALAR), 2);
            for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
                const snug_attention_kernels *k = snug_attention_kernels_for((snug_isa)isa);
                if (!k) continue;
                run_attention(out, q, &c, n_tokens, pos0, k, 2);
                const double tol = OUT_TOL * c.max_abs_v;
                for (int64_t i = 0; i < n_out; i++) {
                    const double e_ref = fabs(out[i] - ref[i]), e_scalar = fabs((double)out[i] - scalar[i]);
                    cr_assert(e_ref <= tol && e_scalar <= 2 * tol,
                              "%s head_dim %d, %d/%d heads, pos0 %lld, %lld tokens, %s: out[%lld] = %.9g, float64 "
                              "%.9g, scalar path %.9g (tolerance %.3g)",
                              snug_type_name(c.kv_type), c.head_dim, c.n_head, c.n_head_kv, (long long)pos0,
                              (long long)n_tokens, snug_isa_name((snug_isa)isa), (long long)i, (double)out[i], ref[i],
                              (double)scalar[i], tol);
                    worst_ref = fmax(worst_ref, e_ref / c.max_abs_v);
                    if (isa != SNUG_ISA_SCALAR) worst_scalar = fmax(worst_scalar, e_scalar / c.max_abs_v);
                }
            }
            free(q);
            free(ref);
            free(scalar);
            free(out);
        }
        free_case(&c);
    }
    cr_log_info("worst |out - float64| = %.3g, |kernels - scalar path| = %.3g of max|v| (tolerance %.3g)", worst_ref,
                worst_scalar, OUT_TOL);
}

Test(attention, no_read_past_the_causal_mask) {
    rng_state = 2;
    for (size_t ci = 0; ci < N_CASES; ci++) {
        attention_case c = cases[ci];
        make_case(&c);
        const int64_t pos0 = 40, n_tokens = 21, n_out = n_tokens * c.n_head * c.head_dim;
        float *q = random_queries(&c, n_tokens);
        float *before = malloc((size_t)n_out * sizeof(float)), *after = malloc((size_t)n_out * sizeof(float));
        for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
            const snug_attention_kernels *k = snug_attention_kernels_for((snug_isa)isa);
            if (!k) continue;
            attention_case poisoned = c;
            poisoned.k_cache = malloc(N_CTX * c.row_bytes);
            poisoned.v_cache = malloc(N_CTX * c.row_bytes);
            memcpy(poisoned.k_cache, c.k_cache, N_CTX * c.row_bytes);
            memcpy(poisoned.v_cache, c.v_cache, N_CTX * c.row_bytes);
            const int64_t kv_dim = (int64_t)c.n_head_kv * c.head_dim;
            float *nan_row = malloc((size_t)kv_dim * sizeof(float));
            for (int64_t i = 0; i < kv_dim; i++) nan_row[i] = NAN;
            for (int64_t pos = pos0 + n_tokens; pos < N_CTX; pos++) {
                snug_kv_store(c.kv_type, nan_row, poisoned.k_cache + pos * c.row_bytes, kv_dim);
                snug_kv_store(c.kv_type, nan_row, poisoned.v_cache + pos * c.row_bytes, kv_dim);
            }
            run_attention(before, q, &c, n_tokens, pos0, k, 2);
            run_attention(after, q, &poisoned, n_tokens, pos0, k, 2);
            cr_assert(memcmp(before, after, (size_t)n_out * sizeof(float)) == 0, "%s head_dim %d on %s",
                      snug_type_name(c.kv_type), c.head_dim, snug_isa_name((snug_isa)isa));
            for (int64_t i = 0; i < n_out; i++) cr_assert(isfinite(after[i]));
            free(nan_row);
            free(poisoned.k_cache);
            free(poisoned.v_cache);
        }
        free(q);
        free(before);
        free(after);
        free_case(&c);
    }
}

Test(attention, query_heads_of_a_group_share_their_kv_head) {
    /* 8 query heads over 2 KV heads: heads 0-3 read KV head 0, 4-7 KV head 1. The same query in every head gives
     * equal outputs within a group and different ones across groups. */
    rng_state = 3;
    attention_case c = {SNUG_TYPE_F16, 64, 8, 2};
    make_case(&c);
    const int64_t n_tokens = 5, pos0 = 30, q_dim = (int64_t)c.n_head * c.head_dim;
    float *q = random_queries(&c, n_tokens), *out = malloc((size_t)(n_tokens * q_dim) * sizeof(float));
    for (int64_t t = 0; t < n_tokens; t++) {
        for (int32_t h = 1; h < c.n_head; h++) memcpy(q + t * q_dim + h * 64, q + t * q_dim, 64 * sizeof(float));
    }
    for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
        const snug_attention_kernels *k = snug_attention_kernels_for((snug_isa)isa);
        if (!k) continue;
        run_attention(out, q, &c, n_tokens, pos0, k, 2);
        for (int64_t t = 0; t < n_tokens; t++) {
            const float *o = out + t * q_dim;
            for (int32_t h = 0; h < c.n_head; h++) {
                const float *same = o + (h / 4) * 4 * 64;
                cr_assert(memcmp(o + h * 64, same, 64 * sizeof(float)) == 0, "head %d on %s", h,
                          snug_isa_name((snug_isa)isa));
            }
            cr_assert(memcmp(o, o + 4 * 64, 64 * sizeof(float)) != 0, "groups differ on %s",
                      snug_isa_name((snug_isa)isa));
        }
    }
    free(q);
    free(out);
    free_case(&c);
}

Test(attention, one_and_two_threads_give_identical_bits) {
    rng_state = 4;
    for (size_t ci = 0; ci < N_CASES; ci++) {
        attention_case c = cases[ci];
        make_case(&c);
        for (size_t bi = 0; bi < N_BATCHES; bi++) {
            const int64_t pos0 = batches[bi][0], n_tokens = batches[bi][1];
            const int64_t n_out = n_tokens * c.n_head * c.head_dim;
            float *q = random_queries(&c, n_tokens);
            float *one = malloc((size_t)n_out * sizeof(float)), *two = malloc((size_t)n_out * sizeof(float));
            for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
                const snug_attention_kernels *k = snug_attention_kernels_for((snug_isa)isa);
                if (!k) continue;
                run_attention(one, q, &c, n_tokens, pos0, k, 1);
                run_attention(two, q, &c, n_tokens, pos0, k, 2);
                cr_assert(memcmp(one, two, (size_t)n_out * sizeof(float)) == 0,
                          "%s head_dim %d, pos0 %lld, %lld tokens on %s", snug_type_name(c.kv_type), c.head_dim,
                          (long long)pos0, (long long)n_tokens, snug_isa_name((snug_isa)isa));
            }
            free(q);
            free(one);
            free(two);
        }
        free_case(&c);
    }
}

Test(attention, kernel_exponential_within_stated_error) {
    int isas = 0;
    float *x = malloc(EXP_SWEEP_STEPS * sizeof(float));
    for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
        const snug_attention_kernels *k = snug_attention_kernels_for((snug_isa)isa);
        if (!k || !k->exp_sum) continue;
        isas++;
        /* A dense sweep over the normal range, in a length that leaves a partial vector. */
        const double lo = -87.3, hi = 88.3;
        for (int64_t i = 0; i < EXP_SWEEP_STEPS; i++)
            x[i] = (float)(lo + (hi - lo) * (double)i / (EXP_SWEEP_STEPS - 1));
        float *in = malloc(EXP_SWEEP_STEPS * sizeof(float));
        memcpy(in, x, EXP_SWEEP_STEPS * sizeof(float));
        const float shift = 0.0f;
        (void)k->exp_sum(x, EXP_SWEEP_STEPS, shift);
        double worst = 0;
        for (int64_t i = 0; i < EXP_SWEEP_STEPS; i++) {
            const double e = exp((double)in[i]), rel = fabs(x[i] - e) / e;
            cr_assert(rel <= SNUG_ATTENTION_EXP_REL_ERROR, "%s: e^%.9g = %.9g, exp() %.9g (rel %.3g)",
                      snug_isa_name((snug_isa)isa), (double)in[i], (double)x[i], e, rel);
            worst = fmax(worst, rel);
        }
        cr_log_info("%s: worst relative error of e^x on [%g, %g]: %.3g", snug_isa_name((snug_isa)isa), lo, hi, worst);
        /* Below the normal range, −∞ and the sum. */
        float low[] = {-87.4f, -90.0f, -100.0f, -103.9f, -104.0f, -200.0f, -1e30f, -INFINITY, 0.0f, -1.0f, -0.5f};
        const int n_low = (int)(sizeof low / sizeof low[0]);
        float copy[sizeof low / sizeof low[0]];
        memcpy(copy, low, sizeof low);
        const float sum = k->exp_sum(low, n_low, shift);
        double expected_sum = 0;
        for (int i = 0; i < n_low; i++) {
            const double e = exp((double)copy[i]);
            if (copy[i] < -87.3f) {
                cr_assert(low[i] >= 0 && low[i] <= 0x1p-126, "%s: e^%g = %g", snug_isa_name((snug_isa)isa),
                          (double)copy[i], (double)low[i]);
            } else {
                cr_assert(fabs(low[i] - e) <= SNUG_ATTENTION_EXP_REL_ERROR * e);
            }
            expected_sum += low[i];
        }
        cr_assert(low[7] == 0.0f, "e^-inf = %g", (double)low[7]);
        cr_assert(fabs(sum - expected_sum) <= 1e-6 * expected_sum, "sum %g, expected %g", (double)sum, expected_sum);
        free(in);
    }
    free(x);
    if (snug_isa_best_supported() >= SNUG_ISA_AVX2) cr_assert_geq(isas, 1);
}

/* (g) Paged caches (snug_attention_paged): the case's rows laid out in pages of 64 positions placed in shuffled
 * order, with several tokens of different sequences in one call, each seeing its own positions. Every path gives
 * the float64 reference within OUT_TOL · max|v|, and the same bits whichever pages hold the rows (a row's arithmetic
 * depends on page boundaries, never on page ids). */
#define PAGE_TOKENS 64
#define N_PAGES     (N_CTX / PAGE_TOKENS)

/* The case's cache copied into pages: position j of the sequence goes to page pages[j / 64], row j mod 64. */
static void page_cache(const attention_case *c, const int32_t *pages, uint8_t *k_pages, uint8_t *v_pages) {
    const uint64_t page_bytes = PAGE_TOKENS * c->row_bytes;
    for (int64_t j = 0; j < N_CTX; j++) {
        const uint64_t at = (uint64_t)pages[j / PAGE_TOKENS] * page_bytes + (uint64_t)(j % PAGE_TOKENS) * c->row_bytes;
        memcpy(k_pages + at, c->k_cache + j * c->row_bytes, c->row_bytes);
        memcpy(v_pages + at, c->v_cache + j * c->row_bytes, c->row_bytes);
    }
}

Test(attention, paged_cache_matches_reference_and_ignores_page_placement) {
    rng_state = 7;
    /* Positions each token sees: page boundaries (64, 65, 128), one block and more (129, 300), the whole cache. */
    const int64_t n_pos[] = {1, 63, 64, 65, 128, 129, 300, 600};
    enum { N_TOKENS = sizeof n_pos / sizeof *n_pos };
    int32_t in_order[N_PAGES], shuffled[N_PAGES];
    for (int32_t i = 0; i < N_PAGES; i++) in_order[i] = i;
    for (int32_t i = 0; i < N_PAGES; i++) shuffled[i] = (i * 7 + 3) % N_PAGES; /* 7 is prime to 10 pages */
    for (size_t ci = 0; ci < N_CASES; ci++) {
        attention_case c = cases[ci];
        make_case(&c);
        const int64_t q_dim = (int64_t)c.n_head * c.head_dim, n_out = N_TOKENS * q_dim;
        uint8_t *k_a = malloc(N_CTX * c.row_bytes), *v_a = malloc(N_CTX * c.row_bytes);
        uint8_t *k_b = malloc(N_CTX * c.row_bytes), *v_b = malloc(N_CTX * c.row_bytes);
        page_cache(&c, in_order, k_a, v_a);
        page_cache(&c, shuffled, k_b, v_b);
        float *q = random_queries(&c, N_TOKENS);
        double *ref = malloc((size_t)n_out * sizeof(double));
        for (int64_t t = 0; t < N_TOKENS; t++) reference_attention(ref + t * q_dim, q + t * q_dim, &c, 1, n_pos[t] - 1);
        snug_attention_token views_a[N_TOKENS], views_b[N_TOKENS];
        for (int64_t t = 0; t < N_TOKENS; t++) {
            views_a[t] = (snug_attention_token){in_order, n_pos[t]};
            views_b[t] = (snug_attention_token){shuffled, n_pos[t]};
        }
        float *out_a = malloc((size_t)n_out * sizeof(float)), *out_b = malloc((size_t)n_out * sizeof(float));
        float *scratch = malloc(2 * (size_t)snug_attention_scratch_floats(N_CTX, c.head_dim) * sizeof(float));
        snug_pool *pool;
        cr_assert_eq(snug_pool_create(2, &pool, NULL), SNUG_OK);
        for (int isa = 0; isa < SNUG_ISA_COUNT; isa++) {
            const snug_attention_kernels *k = snug_attention_kernels_for((snug_isa)isa);
            if (!k) continue;
            snug_attention_shape shape = shape_of(&c, k);
            shape.page_tokens = PAGE_TOKENS;
            cr_assert_eq(snug_attention_paged(out_a, q, k_a, v_a, views_a, N_TOKENS, &shape, scratch, pool), -1);
            cr_assert_eq(snug_attention_paged(out_b, q, k_b, v_b, views_b, N_TOKENS, &shape, scratch, pool), -1);
            cr_assert(memcmp(out_a, out_b, (size_t)n_out * sizeof(float)) == 0,
                      "%s head_dim %d on %s: the result depends on which pages hold the rows",
                      snug_type_name(c.kv_type), c.head_dim, snug_isa_name((snug_isa)isa));
            const double tol = OUT_TOL * c.max_abs_v;
            for (int64_t i = 0; i < n_out; i++) {
                cr_assert(fabs(out_a[i] - ref[i]) <= tol,
                          "%s head_dim %d on %s, token %lld (%lld positions): %.9g vs %.9g", snug_type_name(c.kv_type),
                          c.head_dim, snug_isa_name((snug_isa)isa), (long long)(i / q_dim), (long long)n_pos[i / q_dim],
                          (double)out_a[i], ref[i]);
            }
        }
        snug_pool_destroy(pool);
        free(scratch);
        free(out_a);
        free(out_b);
        free(ref);
        free(q);
        free(k_a);
        free(v_a);
        free(k_b);
        free(v_b);
        free_case(&c);
    }
}
