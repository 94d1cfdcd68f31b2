/* context.c — a context: the plan, its one arena, the KV cache, and the forward pass of the llama family.
 *
 * Invariant (DESIGN.md, "The contract"): the arena is allocated with exactly the plan's arena bytes and carved into
 * the plan's buffers in the plan's order, leaving zero bytes over; the model's host tables equal the plan's lines.
 * Both are checked on every create. After create returns, prefill, decode and sampling allocate nothing.
 *
 * The forward pass reads top to bottom in forward_batch: embed → per layer (RMSNorm → Q/K/V [+ bias: qwen2]
 * [→ per-head RMSNorm of Q and K: qwen3] → RoPE (adjacent or NeoX pairs, per architecture) → KV store → attention →
 * output projection → residual → RMSNorm → SwiGLU FFN → residual) → final norm → logits of the last token. phi3's
 * fused QKV and gate/up tensors arrive here as ordinary matrices (row views, see model.h). A prompt goes through as
 * batches of n_batch tokens, so each weight is read once per batch. Every step runs on all threads of the context's
 * pool (cpu/pool.h): matmuls split rows, the per-token steps (norms, RoPE, KV stores) split the tokens of a batch,
 * and the element-wise ones split runs of elements (a step left to one thread costs the others its time).
 *
 * No silent garbage: the norms, the attention rows and SwiGLU report a non-finite result (cpu/ops.h), each step
 * notes the earliest token that had one, and the batch stops there with SNUG_E_NUMERIC naming the layer, the step
 * and the position — before a quantizer or a maximum could turn an infinity or a NaN into plausible text.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/error.h"
#include "cpu/attention.h"
#include "cpu/half_row.h"
#include "cpu/pool.h"
#include "engine/sampler.h"
#include "gguf/types.h"
#include "model/model.h"
#include "plan/plan.h"

struct snug_context {
    snug_model *model;
    snug_plan plan;
    snug_arena arena;
    snug_pool *pool; /* the compute threads: plan.n_threads, the caller included */
    int32_t n_ctx, n_batch, n_threads;
    int32_t n_past;

    /* KV cache: (n_layer, n_ctx, kv row) each, rows of n_head_kv · head_dim elements encoded as kv_type. */
    uint32_t kv_type;
    uint64_t kv_row_bytes;
    const snug_type_kernels *key_kernels; /* SIMD q·k for f16 / f32 caches (see attention.h) */
    snug_f16_row_fn f16_row;              /* SIMD f16 → f32 for V rows of an f16 cache */
    uint8_t *k_cache;
    uint8_t *v_cache;
    /* Activations for one batch. */
    float *x;              /* (n_batch, n_embd) residual stream */
    float *xb;             /* (n_batch, n_embd) normalised input of a sub-layer */
    float *xb2;            /* (n_batch, n_embd) sub-layer output */
    float *q;              /* (n_batch, n_head · head_dim) */
    float *k;              /* (n_batch, n_head_kv · head_dim) */
    float *v;              /* (n_batch, n_head_kv · head_dim) */
    float *att;            /* (n_batch, n_head · head_dim) attention output */
    float *hb;             /* (n_batch, n_ff) gate, then silu(gate) ⊙ up */
    float *hb2;            /* (n_batch, n_ff) up */
    float *scores;         /* (n_threads, n_ctx + 2 · head_dim) attention scores and decoded K/V head rows */
    void *act_encoded;     /* (n_batch, largest encoded activation row) matmul inputs in the kernels' activation type */
    float *logits;         /* (n_vocab) of the last token */
    snug_token *token_ids; /* (n_ctx) for the caller's prompt */
    void *tokenizer_scratch;
    uint64_t tokenizer_scratch_bytes;
    snug_sampler sampler;
    bool logits_valid;
};

/* Where each planned buffer goes (same order as snug_buffer_id). */
static void **buffer_slot(snug_context *ctx, snug_buffer_id id) {
    switch (id) {
    case SNUG_BUF_K_CACHE: return (void **)&ctx->k_cache;
    case SNUG_BUF_V_CACHE: return (void **)&ctx->v_cache;
    case SNUG_BUF_X: return (void **)&ctx->x;
    case SNUG_BUF_XB: return (void **)&ctx->xb;
    case SNUG_BUF_XB2: return (void **)&ctx->xb2;
    case SNUG_BUF_Q: return (void **)&ctx->q;
    case SNUG_BUF_K: return (void **)&ctx->k;
    case SNUG_BUF_V: return (void **)&ctx->v;
    case SNUG_BUF_ATT: return (void **)&ctx->att;
    case SNUG_BUF_HB: return (void **)&ctx->hb;
    case SNUG_BUF_HB2: return (void **)&ctx->hb2;
    case SNUG_BUF_SCORES: return (void **)&ctx->scores;
    case SNUG_BUF_ACT_ENCODED: return &ctx->act_encoded;
    case SNUG_BUF_LOGITS: return (void **)&ctx->logits;
    case SNUG_BUF_TOKEN_IDS: return (void **)&ctx->token_ids;
    case SNUG_BUF_TOKENIZER_SCRATCH: return &ctx->tokenizer_scratch;
    case SNUG_BUF_SAMPLER_CANDIDATES: return (void **)&ctx->sampler.candidates;
    case SNUG_BUF_SAMPLER_RECENT: return (void **)&ctx->sampler.recent;
    default: return NULL;
    }
}

/* The plan must be for this machine's CPU, fit, and describe this very model. */
static snug_status check_plan(const snug_model *m, const snug_plan *plan, snug_error *err) {
    if (plan->device.kind != SNUG_DEVICE_CPU) {
        return snug_fail(err, SNUG_E_ARGUMENT, "the plan is for device '%s'; snug runs on the CPU only so far",
                         plan->device.name);
    }
    if (!plan->fits) return snug_plan_refusal(plan, err);
    const snug_model_desc *d = &m->desc, *s = &plan->shape;
    if (d->n_vocab != s->n_vocab || d->n_embd != s->n_embd || d->n_layer != s->n_layer || d->n_ff != s->n_ff ||
        d->n_head != s->n_head || d->n_head_kv != s->n_head_kv || d->head_dim != s->head_dim) {
        return snug_fail(err, SNUG_E_ARGUMENT, "the plan was made for a different model shape");
    }
    uint64_t tokenizer_planned = snug_plan_item_bytes(plan, "tokenizer_tables");
    uint64_t index_planned = snug_plan_item_bytes(plan, "model_index");
    if (m->tokenizer.table_bytes != tokenizer_planned || m->host_bytes - m->tokenizer.table_bytes != index_planned) {
        return snug_fail(
            err, SNUG_E_INTERNAL,
            "the model holds %llu bytes of tokenizer tables and %llu of index; the plan says %llu and %llu",
            (unsigned long long)m->tokenizer.table_bytes,
            (unsigned long long)(m->host_bytes - m->tokenizer.table_bytes), (unsigned long long)tokenizer_planned,
            (unsigned long long)index_planned);
    }
    return SNUG_OK;
}

snug_status snug_context_create_planned(snug_model *m, const snug_plan *plan, snug_context **out, snug_error *err) {
    *out = NULL;
    snug_status st = check_plan(m, plan, err);
    if (st != SNUG_OK) return st;
    /* Weights the plan copies are copied now unless the caller did it (with progress); a model copied for another
     * plan is refused there. Mapped weights stay where they are: snug_model_prefetch is the caller's to call. */
    if ((plan->weights_copied || m->weights_copy) &&
        (st = snug_model_load_weights(m, plan, NULL, NULL, err)) != SNUG_OK)
        return st;
    snug_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory for a context");
    ctx->plan = *plan;
    if ((st = snug_arena_create(&ctx->arena, plan->arena_bytes, err)) != SNUG_OK) {
        free(ctx);
        return st;
    }
    for (int b = 0; b < SNUG_BUF_COUNT; b++)
        *buffer_slot(ctx, (snug_buffer_id)b) = snug_arena_take(&ctx->arena, plan->buffers[b]);
    if (ctx->arena.used_bytes != plan->arena_bytes) {
        uint64_t used = ctx->arena.used_bytes;
        snug_context_free(ctx);
        return snug_fail(err, SNUG_E_INTERNAL, "carved %llu bytes from an arena planned at %llu",
                         (unsigned long long)used, (unsigned long long)plan->arena_bytes);
    }
    ctx->model = m;
    ctx->n_ctx = plan->n_ctx;
    ctx->n_batch = plan->n_batch;
    ctx->n_threads = plan->n_threads;
    /* The workers' stacks are the per-thread part of the plan's runtime overhead (pool.h). */
    _Static_assert(SNUG_POOL_WORKER_RESIDENT_BYTES <= SNUG_RUNTIME_OVERHEAD_PER_THREAD_BYTES,
                   "the plan's runtime overhead must cover each worker thread's resident memory");
    if ((st = snug_pool_create(plan->n_threads, &ctx->pool, err)) != SNUG_OK) {
        snug_context_free(ctx);
        return st;
    }
    ctx->kv_type = plan->kv_type;
    snug_type_row_bytes(plan->kv_type, (uint64_t)m->desc.n_head_kv * (uint64_t)m->desc.head_dim, &ctx->kv_row_bytes);
    ctx->tokenizer_scratch_bytes = plan->buffers[SNUG_BUF_TOKENIZER_SCRATCH];
    const snug_type_kernels *kk = snug_kernels_in_use(plan->kv_type);
    ctx->key_kernels = kk && kk->act_type == SNUG_TYPE_F32 ? kk : NULL;
    ctx->f16_row = plan->kv_type == SNUG_TYPE_F16 ? snug_f16_row_converter(snug_isa_active()) : NULL;
    snug_sampler_bind(&ctx->sampler, m->desc.n_vocab, ctx->sampler.candidates, ctx->sampler.recent,
                      SNUG_MAX_REPEAT_WINDOW);
    snug_sampler_params greedy = snug_sampler_default_params();
    greedy.temperature = 0.0f;
    if ((st = snug_sampler_init(&ctx->sampler, &greedy, err)) != SNUG_OK) {
        snug_context_free(ctx);
        return st;
    }
    *out = ctx;
    return SNUG_OK;
}

snug_status snug_context_create(snug_model *m, const snug_context_params *params, snug_context **out, snug_error *err) {
    *out = NULL;
    snug_plan *plan;
    snug_status st = snug_plan_create(m->gguf, params, &plan, err);
    if (st != SNUG_OK) return st;
    st = snug_context_create_planned(m, plan, out, err);
    snug_plan_free(plan);
    return st;
}

void snug_context_free(snug_context *ctx) {
    if (!ctx) return;
    snug_pool_destroy(ctx->pool);
    snug_arena_destroy(&ctx->arena);
    free(ctx);
}

const snug_plan *snug_context_get_plan(const snug_context *ctx) { return &ctx->plan; }
int32_t snug_context_n_ctx(const snug_context *ctx) { return ctx->n_ctx; }
int32_t snug_context_n_past(const snug_context *ctx) { return ctx->n_past; }
uint64_t snug_context_arena_bytes(const snug_context *ctx) { return ctx->plan.arena_bytes; }
uint64_t snug_context_arena_used_bytes(const snug_context *ctx) { return ctx->arena.used_bytes; }

snug_token *snug_context_token_buffer(snug_context *ctx, size_t *capacity) {
    *capacity = (size_t)ctx->n_ctx;
    return ctx->token_ids;
}

void snug_context_reset(snug_context *ctx) {
    ctx->n_past = 0;
    ctx->logits_valid = false;
    snug_sampler_params params = ctx->sampler.params;
    snug_sampler_init(&ctx->sampler, &params, NULL); /* the same, already-validated parameters: cannot fail */
}

snug_status snug_context_tokenize(snug_context *ctx, const char *text, size_t text_bytes, bool add_bos,
                                  bool parse_special, snug_token *tokens, size_t cap, size_t *n_tokens,
                                  snug_error *err) {
    return snug_tokenizer_encode(&ctx->model->tokenizer, text, text_bytes, add_bos, parse_special,
                                 ctx->tokenizer_scratch, ctx->tokenizer_scratch_bytes, tokens, cap, n_tokens, err);
}

/* For chat (src/cli/chat.c): template markers and user text tokenized apart, in the same planned scratch. */
snug_status snug_context_tokenize_parts(snug_context *ctx, const snug_text_part *parts, size_t n_parts, bool add_bos,
                                        snug_token *tokens, size_t cap, size_t *n_tokens, snug_error *err) {
    return snug_tokenizer_encode_parts(&ctx->model->tokenizer, parts, n_parts, add_bos, ctx->tokenizer_scratch,
                                       ctx->tokenizer_scratch_bytes, tokens, cap, n_tokens, err);
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
 * step, which position, and what went wrong. */
static snug_status numeric_fault(snug_error *err, int32_t layer, const char *step, int64_t position, const char *what) {
    if (layer >= 0) {
        snug_fail(err, SNUG_E_NUMERIC, "the computation broke down in layer %d, %s, at position %lld: %s", layer, step,
                  (long long)position, what);
    } else {
        snug_fail(err, SNUG_E_NUMERIC, "the computation broke down after the last layer, %s, at position %lld: %s",
                  step, (long long)position, what);
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

/* A per-token step of forward_batch: tokens [0, n) at positions pos0 …, of layer w (NULL for the embedding). */
typedef struct token_step {
    snug_context *ctx;
    const snug_layer_weights *w;
    const snug_token *tokens;
    const float *norm; /* the RMSNorm weights of norm_token */
    int64_t n, pos0;
    uint8_t *k_cache, *v_cache; /* the layer's */
    int64_t bad;                /* the first token whose step had a non-finite result; NO_FAULT: none */
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
    const snug_model *m = s->ctx->model;
    snug_matrix_row(&m->token_embd, s->tokens[t], s->ctx->x + t * m->desc.n_embd);
}

static void norm_token(token_step *s, int64_t t) {
    const snug_model_desc *d = &s->ctx->model->desc;
    const int64_t E = d->n_embd;
    if (!snug_rmsnorm(s->ctx->xb + t * E, s->ctx->x + t * E, s->norm, E, d->rms_eps)) snug_note_first(&s->bad, t);
}

/* Q, K and V of token t after their matmuls: bias, per-head norm, RoPE; K and V into the cache. */
static void qkv_token(token_step *s, int64_t t) {
    snug_context *ctx = s->ctx;
    const snug_model *m = ctx->model;
    const snug_model_desc *d = &m->desc;
    const snug_architecture *arch = m->architecture;
    const snug_layer_weights *w = s->w;
    const int64_t q_dim = (int64_t)d->n_head * d->head_dim, kv_dim = (int64_t)d->n_head_kv * d->head_dim;
    const int64_t pos0 = s->pos0;
    uint8_t *k_cache = s->k_cache, *v_cache = s->v_cache;
    float *q = ctx->q + t * q_dim, *k = ctx->k + t * kv_dim, *v = ctx->v + t * kv_dim;
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
    snug_rope_qk(q, d->n_head, k, d->n_head_kv, d->head_dim, pos0 + t, &m->rope);
    const uint64_t row = (uint64_t)(pos0 + t) * ctx->kv_row_bytes;
    snug_kv_store(ctx->kv_type, k, k_cache + row, kv_dim);
    snug_kv_store(ctx->kv_type, v, v_cache + row, kv_dim);
}

/* Runs tokens[0 .. n) at positions pos0 … pos0 + n − 1 through every layer; fills logits from the last one.
 * SNUG_E_NUMERIC when a step's result is not finite (then the logits are not valid). */
static snug_status forward_batch(snug_context *ctx, const snug_token *tokens, int64_t n, int64_t pos0,
                                 snug_error *err) {
    const snug_model *m = ctx->model;
    const snug_model_desc *d = &m->desc;
    const int64_t E = d->n_embd, F = d->n_ff;
    snug_pool *pool = ctx->pool;
    const snug_attention_shape shape = {d->n_head,    d->n_head_kv,      d->head_dim,      ctx->n_ctx,
                                        ctx->kv_type, ctx->kv_row_bytes, ctx->key_kernels, ctx->f16_row};
    token_step step = {ctx, NULL, tokens, NULL, n, pos0, NULL, NULL, NO_FAULT};
    char what[160];

    for_each_token(pool, &step, embed_token);

    for (int32_t l = 0; l < d->n_layer; l++) {
        const snug_layer_weights *w = &m->layers[l];
        uint8_t *k_cache = ctx->k_cache + (uint64_t)l * (uint64_t)ctx->n_ctx * ctx->kv_row_bytes;
        uint8_t *v_cache = ctx->v_cache + (uint64_t)l * (uint64_t)ctx->n_ctx * ctx->kv_row_bytes;
        step.w = w;
        step.k_cache = k_cache;
        step.v_cache = v_cache;

        /* Attention block. */
        step.norm = w->attn_norm;
        for_each_token(pool, &step, norm_token);
        if (step.bad != NO_FAULT) {
            norm_fault_detail(what, sizeof what, ctx->x + step.bad * E, ctx->xb + step.bad * E, E);
            return numeric_fault(err, l, "attention norm", pos0 + step.bad, what);
        }
        const snug_matrix *qkv[] = {&w->wq, &w->wk, &w->wv};
        float *qkv_out[] = {ctx->q, ctx->k, ctx->v};
        snug_matmul_group(qkv, qkv_out, 3, ctx->xb, n, ctx->act_encoded, pool);
        for_each_token(pool, &step, qkv_token);
        if (step.bad != NO_FAULT) {
            return numeric_fault(err, l, "Q/K head norm", pos0 + step.bad,
                                 "a head's sum of squares is not finite in f32, or an output is not");
        }
        const int64_t bad_row = snug_attention(ctx->att, ctx->q, k_cache, v_cache, n, pos0, &shape, ctx->scores, pool);
        if (bad_row >= 0) {
            snprintf(what, sizeof what,
                     "head %d: the maximum of its scores, the sum of their exponentials or an output is not finite",
                     (int)(bad_row % d->n_head));
            return numeric_fault(err, l, "attention", pos0 + bad_row / d->n_head, what);
        }
        snug_matmul(&w->wo, ctx->att, n, ctx->xb2, ctx->act_encoded, pool);
        elementwise_parallel(add_run, ctx->x, ctx->xb2, n * E, ADD_MIN_RUNS, pool);

        /* Feed-forward block (SwiGLU). */
        step.norm = w->ffn_norm;
        for_each_token(pool, &step, norm_token);
        if (step.bad != NO_FAULT) {
            norm_fault_detail(what, sizeof what, ctx->x + step.bad * E, ctx->xb + step.bad * E, E);
            return numeric_fault(err, l, "feed-forward norm", pos0 + step.bad, what);
        }
        const snug_matrix *gate_up[] = {&w->w_gate, &w->w_up};
        float *gate_up_out[] = {ctx->hb, ctx->hb2};
        snug_matmul_group(gate_up, gate_up_out, 2, ctx->xb, n, ctx->act_encoded, pool);
        const int64_t bad_element = elementwise_parallel(snug_swiglu, ctx->hb, ctx->hb2, n * F, SWIGLU_MIN_RUNS, pool);
        if (bad_element >= 0) {
            return numeric_fault(err, l, "feed-forward (SwiGLU)", pos0 + bad_element / F,
                                 "silu(gate) × up is not finite");
        }
        snug_matmul(&w->w_down, ctx->hb, n, ctx->xb2, ctx->act_encoded, pool);
        elementwise_parallel(add_run, ctx->x, ctx->xb2, n * E, ADD_MIN_RUNS, pool);
    }

    if (!snug_rmsnorm(ctx->xb, ctx->x + (n - 1) * E, m->output_norm, E, d->rms_eps)) {
        norm_fault_detail(what, sizeof what, ctx->x + (n - 1) * E, ctx->xb, E);
        return numeric_fault(err, -1, "output norm", pos0 + n - 1, what);
    }
    snug_matmul(&m->output, ctx->xb, 1, ctx->logits, ctx->act_encoded, pool);
    return SNUG_OK;
}

snug_status snug_context_decode(snug_context *ctx, const snug_token *tokens, size_t n_tokens, snug_error *err) {
    const snug_model_desc *d = &ctx->model->desc;
    if (n_tokens == 0) return snug_fail(err, SNUG_E_ARGUMENT, "no tokens to decode");
    if (n_tokens > (size_t)(ctx->n_ctx - ctx->n_past)) {
        snug_fail(err, SNUG_E_CONTEXT_FULL, "%zu tokens do not fit: %d of the context's %d positions are used",
                  n_tokens, ctx->n_past, ctx->n_ctx);
        snug_hint(err, "use a larger --ctx (the model was trained with %d) or a shorter input", d->n_ctx_train);
        return SNUG_E_CONTEXT_FULL;
    }
    for (size_t i = 0; i < n_tokens; i++) {
        if (tokens[i] < 0 || tokens[i] >= d->n_vocab) {
            return snug_fail(err, SNUG_E_ARGUMENT, "token %d at index %zu is outside the vocabulary (0..%d)", tokens[i],
                             i, d->n_vocab - 1);
        }
    }
    ctx->logits_valid = false;
    for (size_t start = 0; start < n_tokens; start += (size_t)ctx->n_batch) {
        size_t n = n_tokens - start < (size_t)ctx->n_batch ? n_tokens - start : (size_t)ctx->n_batch;
        snug_status st = forward_batch(ctx, tokens + start, (int64_t)n, ctx->n_past, err);
        if (st != SNUG_OK) return st;
        ctx->n_past += (int32_t)n;
    }
    for (size_t i = 0; i < n_tokens; i++) snug_sampler_accept(&ctx->sampler, tokens[i]);
    for (int32_t i = 0; i < d->n_vocab; i++) {
        if (!isfinite(ctx->logits[i])) {
            return snug_fail(err, SNUG_E_NUMERIC,
                             "logit of token %d is %f after position %d: the computation broke down", i,
                             (double)ctx->logits[i], ctx->n_past - 1);
        }
    }
    ctx->logits_valid = true;
    return SNUG_OK;
}

const float *snug_context_logits(const snug_context *ctx) { return ctx->logits_valid ? ctx->logits : NULL; }

snug_status snug_context_sampler_init(snug_context *ctx, const snug_sampler_params *params, snug_error *err) {
    return snug_sampler_init(&ctx->sampler, params, err);
}

snug_status snug_context_sample(snug_context *ctx, snug_token *out, snug_error *err) {
    if (!ctx->logits_valid) return snug_fail(err, SNUG_E_ARGUMENT, "no logits to sample from: decode tokens first");
    return snug_sampler_sample(&ctx->sampler, ctx->logits, out, err);
}
