/* backend.c — the CPU backend (backend/backend.h): its buffers, and the forward pass of the llama family over the
 * paged KV pool.
 *
 * The forward pass reads top to bottom in forward_step: embed → per layer (RMSNorm → Q/K/V [+ bias: qwen2]
 * [→ per-head RMSNorm of Q and K: qwen3] → RoPE (adjacent or NeoX pairs, per architecture) → KV store → attention →
 * output projection → residual → RMSNorm → SwiGLU FFN → residual) → final norm → logits of the tokens that asked.
 * phi3's fused QKV and gate/up tensors arrive here as ordinary matrices (row views, see model.h). A step mixes tokens
 * of any sequences; each weight is read once a step for all of them, and each token's attention reads its own
 * sequence's pages. Every step runs on all threads of the backend's pool (cpu/pool.h): matmuls split rows, the
 * per-token steps (norms, RoPE, KV stores) split the tokens, and the element-wise ones split runs of elements.
 *
 * No silent garbage: the norms, the attention rows and SwiGLU report a non-finite result (cpu/ops.h), each step
 * notes the earliest token that had one, and the step stops there with SNUG_E_NUMERIC naming the layer, the step and
 * the position — before a quantizer or a maximum could turn an infinity or a NaN into plausible text.
 *
 * Memory: every buffer is the plan's (listed by cpu_buffers, carved by the engine from its one arena, in that order);
 * the backend allocates only its thread pool, whose stacks the plan's runtime overhead counts.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "base/error.h"
#include "cpu/attention.h"
#include "cpu/half_row.h"
#include "cpu/matmul.h"
#include "cpu/ops.h"
#include "cpu/pool.h"
#include "gguf/gguf.h"
#include "gguf/types.h"
#include "model/model.h"
#include "plan/plan.h"

struct snug_backend {
    const snug_model *model;
    snug_pool *pool; /* the compute threads: n_threads, the caller included */
    int32_t n_ctx, n_batch, kv_pages;
    /* KV pages: (n_layer, kv_pages, SNUG_KV_PAGE_TOKENS, kv row) each, rows of n_head_kv · head_dim elements. */
    uint32_t kv_type;
    uint64_t kv_row_bytes, kv_page_bytes;
    const snug_type_kernels *key_kernels; /* SIMD q·k for f16 / f32 caches (see attention.h) */
    snug_f16_row_fn f16_row;              /* SIMD f16 → f32 for V rows of an f16 cache */
    uint8_t *k_pages, *v_pages;
    /* Activations for one step. */
    float *x;          /* (n_batch, n_embd) residual stream */
    float *xb;         /* (n_batch, n_embd) normalised input of a sub-layer */
    float *xb2;        /* (n_batch, n_embd) sub-layer output */
    float *q;          /* (n_batch, n_head · head_dim) */
    float *k;          /* (n_batch, n_head_kv · head_dim) */
    float *v;          /* (n_batch, n_head_kv · head_dim) */
    float *att;        /* (n_batch, n_head · head_dim) attention output */
    float *hb;         /* (n_batch, n_ff) gate, then silu(gate) ⊙ up */
    float *hb2;        /* (n_batch, n_ff) up */
    float *scores;     /* (n_threads, n_ctx + 2 · head_dim) attention scores and decoded K/V head rows */
    void *act_encoded; /* (n_batch, largest encoded activation row) matmul inputs in the kernels' activation type */
    const snug_backend_step *step; /* the step being run */
};

static uint8_t *layer_k(const snug_backend *b, int32_t layer) {
    return b->k_pages + (uint64_t)layer * (uint64_t)b->kv_pages * b->kv_page_bytes;
}
static uint8_t *layer_v(const snug_backend *b, int32_t layer) {
    return b->v_pages + (uint64_t)layer * (uint64_t)b->kv_pages * b->kv_page_bytes;
}

/* ---- buffers ---------------------------------------------------------------------------------------------------- */

/* Bytes of one position's keys (or values) for all KV heads of a layer. */
static uint64_t kv_row_bytes(const snug_backend_shape *s) {
    uint64_t bytes = 0;
    snug_type_row_bytes(s->kv_type, (uint64_t)s->model->n_head_kv * (uint64_t)s->model->head_dim, &bytes);
    return bytes;
}

/* The largest encoded activation row of any weight matrix: matmuls encode their input once per step into the
 * kernels' activation type (none for float types), or one token into the kernels' decode layout; the larger per
 * token is reserved. */
static uint64_t act_row_bytes(const snug_gguf *g) {
    uint64_t largest = 0;
    for (uint64_t i = 0; i < snug_gguf_tensor_count(g); i++) {
        const snug_tensor_info *t = snug_gguf_tensor(g, i);
        if (t->n_dims < 2) continue;
        const snug_type_kernels *kernels = snug_kernels_in_use(t->type);
        if (!kernels) continue;
        const uint64_t act = snug_kernels_act_row_bytes_max(kernels, (int64_t)t->ne[0]);
        if (act > largest) largest = act;
    }
    return largest;
}

enum {
    CPU_K_PAGES,
    CPU_V_PAGES,
    CPU_X,
    CPU_XB,
    CPU_XB2,
    CPU_Q,
    CPU_K,
    CPU_V,
    CPU_ATT,
    CPU_HB,
    CPU_HB2,
    CPU_SCORES,
    CPU_ACT_ENCODED,
    CPU_BUFFER_COUNT
};

static size_t cpu_buffers(const snug_backend_shape *s, snug_buffer_need *out, size_t cap) {
    const snug_model_desc *d = s->model;
    const uint64_t E = (uint64_t)d->n_embd, F = (uint64_t)d->n_ff, B = (uint64_t)s->n_batch, f = sizeof(float);
    const uint64_t q_dim = (uint64_t)d->n_head * (uint64_t)d->head_dim;
    const uint64_t kv_dim = (uint64_t)d->n_head_kv * (uint64_t)d->head_dim;
    const uint64_t kv_half = (uint64_t)d->n_layer * (uint64_t)s->kv_pages * SNUG_KV_PAGE_TOKENS * kv_row_bytes(s);
    const snug_buffer_need needs[CPU_BUFFER_COUNT] = {
        [CPU_K_PAGES] = {"kv_cache", kv_half},
        [CPU_V_PAGES] = {"kv_cache", kv_half},
        [CPU_X] = {"activations", B * E * f},
        [CPU_XB] = {"activations", B * E * f},
        [CPU_XB2] = {"activations", B * E * f},
        [CPU_Q] = {"activations", B * q_dim * f},
        [CPU_K] = {"activations", B * kv_dim * f},
        [CPU_V] = {"activations", B * kv_dim * f},
        [CPU_ATT] = {"activations", B * q_dim * f},
        [CPU_HB] = {"activations", B * F * f},
        [CPU_HB2] = {"activations", B * F * f},
        /* Per thread: the scores of one head over the context, and one decoded K and V head row (quantized caches). */
        [CPU_SCORES] = {"attention_scratch",
                        (uint64_t)s->n_threads * (uint64_t)snug_attention_scratch_floats(s->n_ctx, d->head_dim) * f},
        [CPU_ACT_ENCODED] = {"matmul_scratch", B * act_row_bytes(s->gguf)},
    };
    for (size_t i = 0; i < CPU_BUFFER_COUNT && i < cap; i++) out[i] = needs[i];
    return CPU_BUFFER_COUNT;
}

/* ---- the forward pass ------------------------------------------------------------------------------------------ */

/* Element-wise steps split across the threads in runs of ELEMENTWISE_RUN, when there are enough elements to pay
 * for waking them (a decode step's SwiGLU over n_ff ≈ 5632 does: its expf costs ~5 ns an element). Each element is
 * computed the same way whichever thread takes it. */
#define ELEMENTWISE_RUN 1024

/* Tokens of a batch per pool task in the per-token steps: a norm or a RoPE of one token takes about a microsecond,
 * claiming a task ~0.1 µs. The split does not change any token's arithmetic. */
#define TOKENS_PER_TASK 4

/* a[i] = op(a[i], b[i]) for i < count, in runs of ELEMENTWISE_RUN split across the threads when there are more than
 * min_runs of them (snug_swiglu has this shape; add_run wraps snug_add). op returns false for a run with a
 * non-finite result; returns the index of the first element of the first such run, or −1. */
typedef bool (*elementwise_fn)(float *a, const float *b, int64_t n);

typedef struct elementwise_job {
    elementwise_fn op;
    float *a;
    const float *b;
    int64_t count;
    int64_t first_bad; /* the first element of the first run whose result was not finite; INT64_MAX: none */
} elementwise_job;

static void elementwise_run(void *context, int64_t r, int32_t thread) {
    elementwise_job *job = context;
    const int64_t i = r * ELEMENTWISE_RUN, len = job->count - i < ELEMENTWISE_RUN ? job->count - i : ELEMENTWISE_RUN;
    if (!job->op(job->a + i, job->b + i, len)) snug_note_first(&job->first_bad, i);
}

static int64_t elementwise_parallel(elementwise_fn op, float *a, const float *b, int64_t count, int64_t min_runs,
                                    snug_pool *pool) {
    const int64_t runs = (count + ELEMENTWISE_RUN - 1) / ELEMENTWISE_RUN;
    elementwise_job job = {op, a, b, count, INT64_MAX};
    snug_pool_run(runs > min_runs ? pool : NULL, elementwise_run, &job, runs);
    return job.first_bad == INT64_MAX ? -1 : job.first_bad;
}

/* The residual adds are not checked here: the next norm sees what they left (its sum of squares). */
static bool add_run(float *a, const float *b, int64_t n) {
    snug_add(a, b, n);
    return true;
}

/* The first token of a batch whose step broke down; NO_FAULT: none. */
#define NO_FAULT INT64_MAX

/* SNUG_E_NUMERIC for a step that produced a non-finite value (cpu/ops.h): which layer (−1: after the last), which
 * step, which token (its position, and its sequence when the context has several), and what went wrong. */
static snug_status numeric_fault(const snug_backend *b, snug_error *err, int32_t layer, const char *step, int64_t t,
                                 const char *what) {
    char where[64] = "";
    if (b->step->several_sequences) snprintf(where, sizeof where, " of sequence %d", b->step->sequences[t]);
    if (layer >= 0) {
        snug_fail(err, SNUG_E_NUMERIC, "the computation broke down in layer %d, %s, at position %d%s: %s", layer, step,
                  b->step->positions[t], where, what);
    } else {
        snug_fail(err, SNUG_E_NUMERIC, "the computation broke down after the last layer, %s, at position %d%s: %s",
                  step, b->step->positions[t], where, what);
    }
    snug_hint(err, "the model's weights or activations leave the f32 range; check the file (snug info) or get it "
                   "again");
    return SNUG_E_NUMERIC;
}

/* What a norm that reported a fault (snug_rmsnorm) saw, for the message: its input x and output out, n long. Runs
 * only after a fault, so it may take its time. */
static const char *norm_fault_detail(char *buf, size_t cap, const float *x, const float *out, int64_t n) {
    double sum_squares = 0.0;
    for (int64_t i = 0; i < n; i++) sum_squares += (double)x[i] * x[i];
    snprintf(buf, cap, "an output is not finite");
    if (!(sum_squares <= (double)FLT_MAX)) {
        snprintf(buf, cap, "the sum of squares of its input is %g, beyond f32 (at most %g)", sum_squares,
                 (double)FLT_MAX);
        return buf;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(out[i])) {
            snprintf(buf, cap, "output %lld is %f: a norm weight is not finite, or too large", (long long)i,
                     (double)out[i]);
            break;
        }
    }
    return buf;
}

/* SwiGLU pays for waking the threads from a few runs on (expf), a residual add (a few loads) only for a batch. */
#define SWIGLU_MIN_RUNS 2
#define ADD_MIN_RUNS    8

/* A per-token step of forward_step: the step's tokens [0, n) (b->step), of layer w (NULL for the embedding). */
typedef struct token_step {
    snug_backend *b;
    const snug_layer_weights *w;
    const float *norm; /* the RMSNorm weights of norm_token */
    int64_t n;
    int32_t layer;
    int64_t bad; /* the first token whose step had a non-finite result; NO_FAULT: none */
} token_step;

typedef void (*token_fn)(token_step *step, int64_t t);

typedef struct token_job {
    token_step *step;
    token_fn fn;
} token_job;

static void token_chunk(void *context, int64_t chunk, int32_t thread) {
    const token_job *job = context;
    const int64_t t0 = chunk * TOKENS_PER_TASK, n = job->step->n;
    const int64_t t1 = t0 + TOKENS_PER_TASK < n ? t0 + TOKENS_PER_TASK : n;
    for (int64_t t = t0; t < t1; t++) job->fn(job->step, t);
}

/* fn for every token of the step, split across the pool's threads. */
static void for_each_token(snug_pool *pool, token_step *step, token_fn fn) {
    token_job job = {step, fn};
    snug_pool_run(pool, token_chunk, &job, (step->n + TOKENS_PER_TASK - 1) / TOKENS_PER_TASK);
}

static void embed_token(token_step *s, int64_t t) {
    const snug_model *m = s->b->model;
    snug_matrix_row(&m->token_embd, s->b->step->tokens[t], s->b->x + t * m->desc.n_embd);
}

static void norm_token(token_step *s, int64_t t) {
    const snug_model_desc *d = &s->b->model->desc;
    const int64_t E = d->n_embd;
    if (!snug_rmsnorm(s->b->xb + t * E, s->b->x + t * E, s->norm, E, d->rms_eps)) snug_note_first(&s->bad, t);
}

/* Q, K and V of token t after their matmuls: bias, per-head norm, RoPE; K and V into its sequence's page. */
static void qkv_token(token_step *s, int64_t t) {
    snug_backend *b = s->b;
    const snug_model *m = b->model;
    const snug_model_desc *d = &m->desc;
    const snug_architecture *arch = m->architecture;
    const snug_layer_weights *w = s->w;
    const int32_t pos = b->step->positions[t];
    const int64_t q_dim = (int64_t)d->n_head * d->head_dim, kv_dim = (int64_t)d->n_head_kv * d->head_dim;
    float *q = b->q + t * q_dim, *k = b->k + t * kv_dim, *v = b->v + t * kv_dim;
    if (arch->qkv_bias) { /* qwen2 */
        snug_add(q, w->bq, q_dim);
        snug_add(k, w->bk, kv_dim);
        snug_add(v, w->bv, kv_dim);
    }
    if (arch->qk_norm) { /* qwen3: each head normalised on its own, before RoPE */
        bool ok = true;
        for (int32_t h = 0; h < d->n_head; h++) {
            float *head = q + (int64_t)h * d->head_dim;
            ok &= snug_rmsnorm(head, head, w->q_norm, d->head_dim, d->rms_eps);
        }
        for (int32_t h = 0; h < d->n_head_kv; h++) {
            float *head = k + (int64_t)h * d->head_dim;
            ok &= snug_rmsnorm(head, head, w->k_norm, d->head_dim, d->rms_eps);
        }
        if (!ok) snug_note_first(&s->bad, t);
    }
    snug_rope_qk(q, d->n_head, k, d->n_head_kv, d->head_dim, pos, &m->rope);
    const uint64_t row = (uint64_t)b->step->views[t].pages[pos / SNUG_KV_PAGE_TOKENS] * b->kv_page_bytes +
                         (uint64_t)(pos % SNUG_KV_PAGE_TOKENS) * b->kv_row_bytes;
    snug_kv_store(b->kv_type, k, layer_k(b, s->layer) + row, kv_dim);
    snug_kv_store(b->kv_type, v, layer_v(b, s->layer) + row, kv_dim);
}

/* Runs the step's tokens (their pages reserved by the engine) through every layer; the logits of those with an out
 * row go to their rows. SNUG_E_NUMERIC when a step's result is not finite. */
static snug_status forward_step(snug_backend *b, snug_error *err) {
    const int64_t n = b->step->n_tokens;
    const snug_model *m = b->model;
    const snug_model_desc *d = &m->desc;
    const int64_t E = d->n_embd, F = d->n_ff;
    snug_pool *pool = b->pool;
    const int32_t *out_rows = b->step->out_rows;
    const snug_attention_shape shape = {d->n_head,       d->n_head_kv,   d->head_dim, b->n_ctx, b->kv_type,
                                        b->kv_row_bytes, b->key_kernels, b->f16_row,  NULL,     SNUG_KV_PAGE_TOKENS};
    token_step step = {b, NULL, NULL, n, 0, NO_FAULT};
    char what[160];

    for_each_token(pool, &step, embed_token);

    for (int32_t l = 0; l < d->n_layer; l++) {
        const snug_layer_weights *w = &m->layers[l];
        step.w = w;
        step.layer = l;

        /* Attention block. */
        step.norm = w->attn_norm;
        for_each_token(pool, &step, norm_token);
        if (step.bad != NO_FAULT) {
            norm_fault_detail(what, sizeof what, b->x + step.bad * E, b->xb + step.bad * E, E);
            return numeric_fault(b, err, l, "attention norm", step.bad, what);
        }
        const snug_matrix *qkv[] = {&w->wq, &w->wk, &w->wv};
        float *qkv_out[] = {b->q, b->k, b->v};
        snug_matmul_group(qkv, qkv_out, 3, b->xb, n, b->act_encoded, pool);
        for_each_token(pool, &step, qkv_token);
        if (step.bad != NO_FAULT) {
            return numeric_fault(b, err, l, "Q/K head norm", step.bad,
                                 "a head's sum of squares is not finite in f32, or an output is not");
        }
        const int64_t bad_row = snug_attention_paged(b->att, b->q, layer_k(b, l), layer_v(b, l), b->step->views, n,
                                                     &shape, b->scores, pool);
        if (bad_row >= 0) {
            snprintf(what, sizeof what,
                     "head %d: the maximum of its scores, the sum of their exponentials or an output is not finite",
                     (int)(bad_row % d->n_head));
            return numeric_fault(b, err, l, "attention", bad_row / d->n_head, what);
        }
        snug_matmul(&w->wo, b->att, n, b->xb2, b->act_encoded, pool);
        elementwise_parallel(add_run, b->x, b->xb2, n * E, ADD_MIN_RUNS, pool);

        /* Feed-forward block (SwiGLU). */
        step.norm = w->ffn_norm;
        for_each_token(pool, &step, norm_token);
        if (step.bad != NO_FAULT) {
            norm_fault_detail(what, sizeof what, b->x + step.bad * E, b->xb + step.bad * E, E);
            return numeric_fault(b, err, l, "feed-forward norm", step.bad, what);
        }
        const snug_matrix *gate_up[] = {&w->w_gate, &w->w_up};
        float *gate_up_out[] = {b->hb, b->hb2};
        snug_matmul_group(gate_up, gate_up_out, 2, b->xb, n, b->act_encoded, pool);
        const int64_t bad_element = elementwise_parallel(snug_swiglu, b->hb, b->hb2, n * F, SWIGLU_MIN_RUNS, pool);
        if (bad_element >= 0) {
            return numeric_fault(b, err, l, "feed-forward (SwiGLU)", bad_element / F, "silu(gate) × up is not finite");
        }
        snug_matmul(&w->w_down, b->hb, n, b->xb2, b->act_encoded, pool);
        elementwise_parallel(add_run, b->x, b->xb2, n * E, ADD_MIN_RUNS, pool);
    }

    /* The final norm of the tokens that asked for logits, packed into xb in their row order (rows of one step are
     * consecutive), then one matmul for all of them. */
    int64_t n_out = 0, first_row = -1;
    for (int64_t t = 0; t < n; t++) {
        if (out_rows[t] < 0) continue;
        if (first_row < 0) first_row = out_rows[t];
        if (!snug_rmsnorm(b->xb + n_out * E, b->x + t * E, m->output_norm, E, d->rms_eps)) {
            norm_fault_detail(what, sizeof what, b->x + t * E, b->xb + n_out * E, E);
            return numeric_fault(b, err, -1, "output norm", t, what);
        }
        n_out++;
    }
    if (n_out > 0)
        snug_matmul(&m->output, b->xb, n_out, b->step->logits + first_row * d->n_vocab, b->act_encoded, pool);
    return SNUG_OK;
}

/* ---- the backend's entry points ---------------------------------------------------------------------------------- */

static snug_status cpu_run(snug_backend *b, const snug_backend_step *step, snug_error *err) {
    b->step = step;
    const snug_status st = forward_step(b, err);
    b->step = NULL;
    return st;
}

static void cpu_copy_kv(snug_backend *b, int32_t from, int32_t to, int32_t rows) {
    const uint64_t bytes = (uint64_t)rows * b->kv_row_bytes;
    for (int32_t l = 0; l < b->model->desc.n_layer; l++) {
        memcpy(layer_k(b, l) + (uint64_t)to * b->kv_page_bytes, layer_k(b, l) + (uint64_t)from * b->kv_page_bytes,
               bytes);
        memcpy(layer_v(b, l) + (uint64_t)to * b->kv_page_bytes, layer_v(b, l) + (uint64_t)from * b->kv_page_bytes,
               bytes);
    }
}

static void cpu_destroy(snug_backend *b) {
    if (!b) return;
    snug_pool_destroy(b->pool);
    free(b);
}

/* Every weight matrix of the model has kernels on this CPU (the loader checked the types; this is the backend's own
 * word on it). */
static snug_status check_weights(const snug_model *m, snug_error *err) {
    const snug_matrix *all[7]; /* a layer's matrices, or the embedding and the output */
    for (int32_t l = -1; l < m->desc.n_layer; l++) {
        size_t n = 0;
        if (l < 0) {
            all[n++] = &m->token_embd;
            all[n++] = &m->output;
        } else {
            const snug_layer_weights *w = &m->layers[l];
            const snug_matrix *layer[] = {&w->wq, &w->wk, &w->wv, &w->wo, &w->w_gate, &w->w_up, &w->w_down};
            for (size_t i = 0; i < 7; i++) all[n++] = layer[i];
        }
        for (size_t i = 0; i < n; i++) {
            if (snug_kernels_in_use(all[i]->type)) continue;
            return snug_fail(err, SNUG_E_UNSUPPORTED, "the CPU backend has no kernels for weight type %s",
                             snug_type_name(all[i]->type));
        }
    }
    return SNUG_OK;
}

static snug_status cpu_create(const snug_backend_shape *s, const snug_model *m, void *const *buffers,
                              snug_backend **out, snug_error *err) {
    *out = NULL;
    snug_status st = check_weights(m, err);
    if (st != SNUG_OK) return st;
    snug_backend *b = calloc(1, sizeof *b);
    if (!b) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory for the CPU backend");
    b->model = m;
    b->n_ctx = s->n_ctx;
    b->n_batch = s->n_batch;
    b->kv_pages = s->kv_pages;
    b->kv_type = s->kv_type;
    b->kv_row_bytes = kv_row_bytes(s);
    b->kv_page_bytes = (uint64_t)SNUG_KV_PAGE_TOKENS * b->kv_row_bytes;
    const snug_type_kernels *kk = snug_kernels_in_use(s->kv_type);
    b->key_kernels = kk && kk->act_type == SNUG_TYPE_F32 ? kk : NULL;
    b->f16_row = s->kv_type == SNUG_TYPE_F16 ? snug_f16_row_converter(snug_isa_active()) : NULL;
    b->k_pages = buffers[CPU_K_PAGES];
    b->v_pages = buffers[CPU_V_PAGES];
    b->x = buffers[CPU_X];
    b->xb = buffers[CPU_XB];
    b->xb2 = buffers[CPU_XB2];
    b->q = buffers[CPU_Q];
    b->k = buffers[CPU_K];
    b->v = buffers[CPU_V];
    b->att = buffers[CPU_ATT];
    b->hb = buffers[CPU_HB];
    b->hb2 = buffers[CPU_HB2];
    b->scores = buffers[CPU_SCORES];
    b->act_encoded = buffers[CPU_ACT_ENCODED];
    /* The workers' stacks are the per-thread part of the plan's runtime overhead (pool.h). */
    _Static_assert(SNUG_POOL_WORKER_RESIDENT_BYTES <= SNUG_RUNTIME_OVERHEAD_PER_THREAD_BYTES,
                   "the plan's runtime overhead must cover each worker thread's resident memory");
    if ((st = snug_pool_create(s->n_threads, &b->pool, err)) != SNUG_OK) {
        free(b);
        return st;
    }
    *out = b;
    return SNUG_OK;
}

const snug_backend_ops snug_backend_cpu = {"cpu",   cpu_buffers, cpu_create, cpu_destroy,
                                           cpu_run, cpu_copy_kv, NULL,       NULL};
