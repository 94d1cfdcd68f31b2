/* context.c — a context: the plan, its one arena, the sequences over the paged KV pool, batches, and the forward
 * pass of the llama family.
 *
 * Invariant (DESIGN.md, "The contract"): the arena is allocated with exactly the plan's arena bytes and carved into
 * the plan's buffers in the plan's order, leaving zero bytes over; the model's host tables equal the plan's lines.
 * Both are checked on every create. After create returns, prefill, decode and sampling allocate nothing.
 *
 * The forward pass reads top to bottom in forward_batch: embed → per layer (RMSNorm → Q/K/V [+ bias: qwen2]
 * [→ per-head RMSNorm of Q and K: qwen3] → RoPE (adjacent or NeoX pairs, per architecture) → KV store → attention →
 * output projection → residual → RMSNorm → SwiGLU FFN → residual) → final norm → logits of the tokens that asked.
 * phi3's fused QKV and gate/up tensors arrive here as ordinary matrices (row views, see model.h). A batch mixes
 * tokens of any sequences (engine/batch.h); it goes through in steps of n_batch tokens, so each weight is read once
 * per step for all of them, and each token's attention reads its own sequence's pages (engine/kv_pool.h). Every step
 * runs on all threads of the context's pool (cpu/pool.h): matmuls split rows, the per-token steps (norms, RoPE, KV
 * stores) split the tokens of a batch, and the element-wise ones split runs of elements (a step left to one thread
 * costs the others its time).
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
#include "engine/batch.h"
#include "engine/kv_pool.h"
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
    int32_t n_seq, max_outputs;

    /* KV pool: pages of SNUG_KV_PAGE_TOKENS positions, rows of n_head_kv · head_dim elements encoded as kv_type. */
    uint32_t kv_type;
    uint64_t kv_row_bytes;
    const snug_type_kernels *key_kernels; /* SIMD q·k for f16 / f32 caches (see attention.h) */
    snug_f16_row_fn f16_row;              /* SIMD f16 → f32 for V rows of an f16 cache */
    snug_kv_pool kv;
    uint8_t *k_pages;            /* (n_layer, kv_pages, SNUG_KV_PAGE_TOKENS, kv row) */
    uint8_t *v_pages;            /* (n_layer, kv_pages, SNUG_KV_PAGE_TOKENS, kv row) */
    int32_t *page_tables;        /* (n_seq, ceil(n_ctx / SNUG_KV_PAGE_TOKENS)) */
    int32_t *free_pages;         /* (kv_pages) */
    int32_t *page_refs;          /* (kv_pages) */
    snug_seq_state *seqs;        /* (n_seq) */
    snug_sampler *samplers;      /* (n_seq), sharing candidates */
    snug_candidate *candidates;  /* (n_vocab) one sampling step's scratch */
    int32_t *recent;             /* (n_seq, SNUG_MAX_REPEAT_WINDOW) each sampler's history */
    snug_batch_slot *slots;      /* (n_batch) the tokens of the running step */
    snug_attention_token *views; /* (n_batch) what each of them attends to */
    size_t *output_index;        /* (max_outputs) the batch index of each logits row */
    int32_t n_outputs;           /* logits rows valid (0 after a failure) */
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
    float *logits;         /* (max_outputs, n_vocab) of the tokens that asked, in batch order */
    snug_token *token_ids; /* (n_ctx) for the caller's prompt */
    void *tokenizer_scratch;
    uint64_t tokenizer_scratch_bytes;
};

/* Where each planned buffer goes (same order as snug_buffer_id). */
static void **buffer_slot(snug_context *ctx, snug_buffer_id id) {
    switch (id) {
    case SNUG_BUF_K_CACHE: return (void **)&ctx->k_pages;
    case SNUG_BUF_V_CACHE: return (void **)&ctx->v_pages;
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
    case SNUG_BUF_SAMPLER_CANDIDATES: return (void **)&ctx->candidates;
    case SNUG_BUF_SAMPLER_RECENT: return (void **)&ctx->recent;
    case SNUG_BUF_SAMPLERS: return (void **)&ctx->samplers;
    case SNUG_BUF_KV_PAGE_TABLES: return (void **)&ctx->page_tables;
    case SNUG_BUF_KV_FREE_PAGES: return (void **)&ctx->free_pages;
    case SNUG_BUF_KV_PAGE_REFS: return (void **)&ctx->page_refs;
    case SNUG_BUF_SEQUENCES: return (void **)&ctx->seqs;
    case SNUG_BUF_BATCH_INDEX: return (void **)&ctx->slots;
    case SNUG_BUF_BATCH_VIEWS: return (void **)&ctx->views;
    case SNUG_BUF_OUTPUT_INDEX: return (void **)&ctx->output_index;
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
    ctx->n_seq = plan->n_parallel;
    ctx->max_outputs = plan->max_outputs;
    snug_kv_pool_bind(&ctx->kv, ctx->k_pages, ctx->v_pages, ctx->kv_row_bytes, m->desc.n_layer, plan->kv_pages,
                      ctx->free_pages, ctx->page_refs);
    const int32_t pages_per_seq = snug_kv_pages_for(plan->n_ctx);
    snug_sampler_params greedy = snug_sampler_default_params();
    greedy.temperature = 0.0f;
    for (int32_t s = 0; s < ctx->n_seq; s++) {
        ctx->seqs[s] = (snug_seq_state){{0, 0, ctx->page_tables + (int64_t)s * pages_per_seq}, 0, 0};
        snug_sampler_bind(&ctx->samplers[s], m->desc.n_vocab, ctx->candidates,
                          ctx->recent + (int64_t)s * SNUG_MAX_REPEAT_WINDOW, SNUG_MAX_REPEAT_WINDOW);
        if ((st = snug_sampler_init(&ctx->samplers[s], &greedy, err)) != SNUG_OK) {
            snug_context_free(ctx);
            return st;
        }
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
int32_t snug_context_n_past(const snug_context *ctx) { return ctx->seqs[0].kv.n_tokens; }
uint64_t snug_context_arena_bytes(const snug_context *ctx) { return ctx->plan.arena_bytes; }
uint64_t snug_context_arena_used_bytes(const snug_context *ctx) { return ctx->arena.used_bytes; }

snug_token *snug_context_token_buffer(snug_context *ctx, size_t *capacity) {
    *capacity = (size_t)ctx->n_ctx;
    return ctx->token_ids;
}

void snug_context_reset(snug_context *ctx) {
    for (snug_seq_id s = 0; s < ctx->n_seq; s++) snug_seq_free(ctx, s);
    ctx->n_outputs = 0;
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
 * step, which token (its position, and its sequence when the context has several), and what went wrong. */
static snug_status numeric_fault(const snug_context *ctx, snug_error *err, int32_t layer, const char *step,
                                 const snug_batch_slot *slot, const char *what) {
    char where[64] = "";
    if (ctx->n_seq > 1) snprintf(where, sizeof where, " of sequence %d", slot->seq);
    if (layer >= 0) {
        snug_fail(err, SNUG_E_NUMERIC, "the computation broke down in layer %d, %s, at position %d%s: %s", layer, step,
                  slot->pos, where, what);
    } else {
        snug_fail(err, SNUG_E_NUMERIC, "the computation broke down after the last layer, %s, at position %d%s: %s",
                  step, slot->pos, where, what);
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

/* A per-token step of forward_step: the step's tokens [0, n) (ctx->slots), of layer w (NULL for the embedding). */
typedef struct token_step {
    snug_context *ctx;
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
    const snug_model *m = s->ctx->model;
    snug_matrix_row(&m->token_embd, s->ctx->slots[t].token, s->ctx->x + t * m->desc.n_embd);
}

static void norm_token(token_step *s, int64_t t) {
    const snug_model_desc *d = &s->ctx->model->desc;
    const int64_t E = d->n_embd;
    if (!snug_rmsnorm(s->ctx->xb + t * E, s->ctx->x + t * E, s->norm, E, d->rms_eps)) snug_note_first(&s->bad, t);
}

/* Q, K and V of token t after their matmuls: bias, per-head norm, RoPE; K and V into its sequence's page. */
static void qkv_token(token_step *s, int64_t t) {
    snug_context *ctx = s->ctx;
    const snug_model *m = ctx->model;
    const snug_model_desc *d = &m->desc;
    const snug_architecture *arch = m->architecture;
    const snug_layer_weights *w = s->w;
    const snug_batch_slot *slot = &ctx->slots[t];
    const int64_t q_dim = (int64_t)d->n_head * d->head_dim, kv_dim = (int64_t)d->n_head_kv * d->head_dim;
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
    snug_rope_qk(q, d->n_head, k, d->n_head_kv, d->head_dim, slot->pos, &m->rope);
    const uint64_t row = snug_kv_row_offset(&ctx->kv, &ctx->seqs[slot->seq].kv, slot->pos);
    snug_kv_store(ctx->kv_type, k, snug_kv_layer_k(&ctx->kv, s->layer) + row, kv_dim);
    snug_kv_store(ctx->kv_type, v, snug_kv_layer_v(&ctx->kv, s->layer) + row, kv_dim);
}

/* Runs the step's n tokens (ctx->slots, their attention views in ctx->views, their pages reserved) through every
 * layer; the logits of those with an out_row go to their rows. SNUG_E_NUMERIC when a step's result is not finite. */
static snug_status forward_step(snug_context *ctx, int64_t n, snug_error *err) {
    const snug_model *m = ctx->model;
    const snug_model_desc *d = &m->desc;
    const int64_t E = d->n_embd, F = d->n_ff;
    snug_pool *pool = ctx->pool;
    const snug_batch_slot *slots = ctx->slots;
    const snug_attention_shape shape = {d->n_head,    d->n_head_kv,       d->head_dim,      ctx->n_ctx,
                                        ctx->kv_type, ctx->kv_row_bytes,  ctx->key_kernels, ctx->f16_row,
                                        NULL,         SNUG_KV_PAGE_TOKENS};
    token_step step = {ctx, NULL, NULL, n, 0, NO_FAULT};
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
            norm_fault_detail(what, sizeof what, ctx->x + step.bad * E, ctx->xb + step.bad * E, E);
            return numeric_fault(ctx, err, l, "attention norm", &slots[step.bad], what);
        }
        const snug_matrix *qkv[] = {&w->wq, &w->wk, &w->wv};
        float *qkv_out[] = {ctx->q, ctx->k, ctx->v};
        snug_matmul_group(qkv, qkv_out, 3, ctx->xb, n, ctx->act_encoded, pool);
        for_each_token(pool, &step, qkv_token);
        if (step.bad != NO_FAULT) {
            return numeric_fault(ctx, err, l, "Q/K head norm", &slots[step.bad],
                                 "a head's sum of squares is not finite in f32, or an output is not");
        }
        const int64_t bad_row =
            snug_attention_paged(ctx->att, ctx->q, snug_kv_layer_k(&ctx->kv, l), snug_kv_layer_v(&ctx->kv, l),
                                 ctx->views, n, &shape, ctx->scores, pool);
        if (bad_row >= 0) {
            snprintf(what, sizeof what,
                     "head %d: the maximum of its scores, the sum of their exponentials or an output is not finite",
                     (int)(bad_row % d->n_head));
            return numeric_fault(ctx, err, l, "attention", &slots[bad_row / d->n_head], what);
        }
        snug_matmul(&w->wo, ctx->att, n, ctx->xb2, ctx->act_encoded, pool);
        elementwise_parallel(add_run, ctx->x, ctx->xb2, n * E, ADD_MIN_RUNS, pool);

        /* Feed-forward block (SwiGLU). */
        step.norm = w->ffn_norm;
        for_each_token(pool, &step, norm_token);
        if (step.bad != NO_FAULT) {
            norm_fault_detail(what, sizeof what, ctx->x + step.bad * E, ctx->xb + step.bad * E, E);
            return numeric_fault(ctx, err, l, "feed-forward norm", &slots[step.bad], what);
        }
        const snug_matrix *gate_up[] = {&w->w_gate, &w->w_up};
        float *gate_up_out[] = {ctx->hb, ctx->hb2};
        snug_matmul_group(gate_up, gate_up_out, 2, ctx->xb, n, ctx->act_encoded, pool);
        const int64_t bad_element = elementwise_parallel(snug_swiglu, ctx->hb, ctx->hb2, n * F, SWIGLU_MIN_RUNS, pool);
        if (bad_element >= 0) {
            return numeric_fault(ctx, err, l, "feed-forward (SwiGLU)", &slots[bad_element / F],
                                 "silu(gate) × up is not finite");
        }
        snug_matmul(&w->w_down, ctx->hb, n, ctx->xb2, ctx->act_encoded, pool);
        elementwise_parallel(add_run, ctx->x, ctx->xb2, n * E, ADD_MIN_RUNS, pool);
    }

    /* The final norm of the tokens that asked for logits, packed into xb in their row order (rows of one step are
     * consecutive), then one matmul for all of them. */
    int64_t n_out = 0, first_row = -1;
    for (int64_t t = 0; t < n; t++) {
        if (slots[t].out_row < 0) continue;
        if (first_row < 0) first_row = slots[t].out_row;
        if (!snug_rmsnorm(ctx->xb + n_out * E, ctx->x + t * E, m->output_norm, E, d->rms_eps)) {
            norm_fault_detail(what, sizeof what, ctx->x + t * E, ctx->xb + n_out * E, E);
            return numeric_fault(ctx, err, -1, "output norm", &slots[t], what);
        }
        n_out++;
    }
    if (n_out > 0)
        snug_matmul(&m->output, ctx->xb, n_out, ctx->logits + first_row * d->n_vocab, ctx->act_encoded, pool);
    return SNUG_OK;
}

/* ---- batches and sequences ------------------------------------------------------------------------------------ */

static bool seq_valid(const snug_context *ctx, snug_seq_id seq) { return seq >= 0 && seq < ctx->n_seq; }

/* Token i's sequence (seq_ids NULL: sequence 0). */
static snug_seq_id batch_seq(const snug_batch *batch, size_t i) { return batch->seq_ids ? batch->seq_ids[i] : 0; }

/* Checks the whole batch before anything changes: ids, tokens, positions (each sequence's next), the context, the
 * number of logits rows and the free pages. Leaves each sequence's next_pos at its length after the batch. */
static snug_status check_batch(snug_context *ctx, const snug_batch *batch, int32_t *n_outputs, snug_error *err) {
    const snug_model_desc *d = &ctx->model->desc;
    if (!batch || batch->n_tokens == 0) return snug_fail(err, SNUG_E_ARGUMENT, "no tokens to decode");
    if (!batch->tokens) return snug_fail(err, SNUG_E_ARGUMENT, "the batch has no tokens");
    for (snug_seq_id s = 0; s < ctx->n_seq; s++) ctx->seqs[s].next_pos = ctx->seqs[s].kv.n_tokens;
    int64_t outputs = 0;
    for (size_t i = 0; i < batch->n_tokens; i++) {
        const snug_seq_id seq = batch_seq(batch, i);
        if (!seq_valid(ctx, seq)) {
            return snug_fail(err, SNUG_E_ARGUMENT, "token %zu of the batch is for sequence %d; the context has 0..%d",
                             i, seq, ctx->n_seq - 1);
        }
        if (batch->tokens[i] < 0 || batch->tokens[i] >= d->n_vocab) {
            return snug_fail(err, SNUG_E_ARGUMENT, "token %d at index %zu is outside the vocabulary (0..%d)",
                             batch->tokens[i], i, d->n_vocab - 1);
        }
        snug_seq_state *st = &ctx->seqs[seq];
        if (st->next_pos >= ctx->n_ctx) {
            snug_fail(err, SNUG_E_CONTEXT_FULL,
                      "sequence %d would pass the context: %d of its %d positions are used and the batch adds %lld",
                      seq, st->kv.n_tokens, ctx->n_ctx, (long long)(st->next_pos - st->kv.n_tokens + 1));
            snug_hint(err, "use a larger --ctx (the model was trained with %d) or a shorter input", d->n_ctx_train);
            return SNUG_E_CONTEXT_FULL;
        }
        if (batch->positions && batch->positions[i] != st->next_pos) {
            return snug_fail(err, SNUG_E_ARGUMENT,
                             "token %zu of the batch is at position %d of sequence %d, which is at position %d", i,
                             batch->positions[i], seq, st->next_pos);
        }
        st->next_pos++;
        outputs += batch->logits ? batch->logits[i] : i + 1 == batch->n_tokens;
    }
    if (outputs > ctx->max_outputs) {
        return snug_fail(err, SNUG_E_ARGUMENT, "the batch asks for %lld rows of logits; a batch may ask for %d",
                         (long long)outputs, ctx->max_outputs);
    }
    int64_t pages = 0;
    for (snug_seq_id s = 0; s < ctx->n_seq; s++) {
        const snug_seq_state *st = &ctx->seqs[s];
        pages += snug_kv_seq_pages_needed(&ctx->kv, &st->kv, st->next_pos - st->kv.n_tokens);
    }
    if (pages > ctx->kv.n_free) {
        snug_fail(err, SNUG_E_CONTEXT_FULL, "the batch needs %lld more KV pages of %d positions; %d of %d are free",
                  (long long)pages, SNUG_KV_PAGE_TOKENS, ctx->kv.n_free, ctx->kv.n_pages);
        snug_hint(err, "free finished sequences (snug_seq_free) or run fewer at once");
        return SNUG_E_CONTEXT_FULL;
    }
    *n_outputs = (int32_t)outputs;
    return SNUG_OK;
}

/* Batch token i's position, from its sequence's length before the batch (for messages after a step). */
static int32_t batch_position(const snug_context *ctx, const snug_batch *batch, size_t i) {
    const snug_seq_id seq = batch_seq(batch, i);
    int32_t pos = ctx->seqs[seq].start_tokens;
    for (size_t j = 0; j < i; j++) pos += batch_seq(batch, j) == seq;
    return pos;
}

/* Every sequence of a failed batch back to where it was: pages reserved for it given back. */
static void roll_back(snug_context *ctx) {
    for (snug_seq_id s = 0; s < ctx->n_seq; s++) {
        snug_seq_state *st = &ctx->seqs[s];
        snug_kv_seq_truncate(&ctx->kv, &st->kv, st->start_tokens);
    }
    ctx->n_outputs = 0;
}

snug_status snug_context_run_batch(snug_context *ctx, const snug_batch *batch, snug_error *err) {
    const snug_model_desc *d = &ctx->model->desc;
    int32_t n_outputs = 0;
    ctx->n_outputs = 0;
    snug_status st = check_batch(ctx, batch, &n_outputs, err);
    if (st != SNUG_OK) return st;
    for (snug_seq_id s = 0; s < ctx->n_seq; s++) {
        snug_seq_state *seq = &ctx->seqs[s];
        seq->start_tokens = seq->kv.n_tokens;
        snug_kv_seq_reserve(&ctx->kv, &seq->kv, seq->next_pos - seq->kv.n_tokens);
    }
    /* Positions again, as check_batch counted them (the caller's, or each sequence's next). */
    for (snug_seq_id s = 0; s < ctx->n_seq; s++) ctx->seqs[s].next_pos = ctx->seqs[s].kv.n_tokens;
    int32_t row = 0;
    for (size_t start = 0; start < batch->n_tokens; start += (size_t)ctx->n_batch) {
        const size_t n =
            batch->n_tokens - start < (size_t)ctx->n_batch ? batch->n_tokens - start : (size_t)ctx->n_batch;
        for (size_t t = 0; t < n; t++) {
            const size_t i = start + t;
            const bool wanted = batch->logits ? batch->logits[i] : i + 1 == batch->n_tokens;
            snug_batch_slot *slot = &ctx->slots[t];
            const snug_seq_id seq = batch_seq(batch, i);
            *slot = (snug_batch_slot){batch->tokens[i], ctx->seqs[seq].next_pos++, seq, wanted ? row : -1};
            if (wanted) ctx->output_index[row++] = i;
            ctx->views[t] = (snug_attention_token){ctx->seqs[slot->seq].kv.pages, (int64_t)slot->pos + 1};
        }
        if ((st = forward_step(ctx, (int64_t)n, err)) != SNUG_OK) {
            roll_back(ctx);
            return st;
        }
    }
    for (int32_t r = 0; r < n_outputs; r++) {
        const float *logits = ctx->logits + (int64_t)r * d->n_vocab;
        for (int32_t i = 0; i < d->n_vocab; i++) {
            if (isfinite(logits[i])) continue;
            const size_t at = ctx->output_index[r];
            const snug_seq_id seq = batch_seq(batch, at);
            char where[48] = "";
            if (ctx->n_seq > 1) snprintf(where, sizeof where, " of sequence %d", seq);
            snug_fail(err, SNUG_E_NUMERIC, "logit of token %d is %f after position %d%s: the computation broke down", i,
                      (double)logits[i], batch_position(ctx, batch, at), where);
            roll_back(ctx);
            return SNUG_E_NUMERIC;
        }
    }
    for (snug_seq_id s = 0; s < ctx->n_seq; s++) ctx->seqs[s].kv.n_tokens = ctx->seqs[s].next_pos;
    for (size_t i = 0; i < batch->n_tokens; i++)
        snug_sampler_accept(&ctx->samplers[batch_seq(batch, i)], batch->tokens[i]);
    ctx->n_outputs = n_outputs;
    return SNUG_OK;
}

const float *snug_context_batch_logits(const snug_context *ctx, size_t index) {
    for (int32_t r = 0; r < ctx->n_outputs; r++) {
        if (ctx->output_index[r] == index) return ctx->logits + (int64_t)r * ctx->model->desc.n_vocab;
    }
    return NULL;
}

int32_t snug_context_n_seq_max(const snug_context *ctx) { return ctx->n_seq; }
int32_t snug_context_max_outputs(const snug_context *ctx) { return ctx->max_outputs; }

int32_t snug_seq_length(const snug_context *ctx, snug_seq_id seq) {
    return seq_valid(ctx, seq) ? ctx->seqs[seq].kv.n_tokens : -1;
}

void snug_seq_free(snug_context *ctx, snug_seq_id seq) {
    if (!seq_valid(ctx, seq)) return;
    snug_kv_seq_truncate(&ctx->kv, &ctx->seqs[seq].kv, 0);
    const snug_sampler_params params = ctx->samplers[seq].params;
    snug_sampler_init(&ctx->samplers[seq], &params, NULL); /* the same, already-validated parameters: cannot fail */
}

snug_status snug_seq_fork(snug_context *ctx, snug_seq_id src, snug_seq_id dst, snug_error *err) {
    if (!seq_valid(ctx, src) || !seq_valid(ctx, dst)) {
        return snug_fail(err, SNUG_E_ARGUMENT, "sequence %d or %d is outside 0..%d", src, dst, ctx->n_seq - 1);
    }
    if (src == dst || ctx->seqs[dst].kv.n_tokens != 0) {
        return snug_fail(err, SNUG_E_ARGUMENT, "sequence %d holds %d positions; a fork needs an empty one", dst,
                         ctx->seqs[dst].kv.n_tokens);
    }
    snug_kv_seq_share(&ctx->kv, &ctx->seqs[dst].kv, &ctx->seqs[src].kv);
    /* The sampler: its parameters, history and generator state; the ring is the destination's own. */
    snug_sampler *to = &ctx->samplers[dst];
    const snug_sampler *from = &ctx->samplers[src];
    memcpy(to->recent, from->recent, (size_t)from->recent_cap * sizeof *to->recent);
    int32_t *ring = to->recent;
    *to = *from;
    to->recent = ring;
    return SNUG_OK;
}

snug_status snug_seq_sampler_init(snug_context *ctx, snug_seq_id seq, const snug_sampler_params *params,
                                  snug_error *err) {
    if (!seq_valid(ctx, seq))
        return snug_fail(err, SNUG_E_ARGUMENT, "sequence %d is outside 0..%d", seq, ctx->n_seq - 1);
    return snug_sampler_init(&ctx->samplers[seq], params, err);
}

snug_status snug_seq_sample(snug_context *ctx, snug_seq_id seq, const float *logits, snug_token *out, snug_error *err) {
    if (!seq_valid(ctx, seq))
        return snug_fail(err, SNUG_E_ARGUMENT, "sequence %d is outside 0..%d", seq, ctx->n_seq - 1);
    if (!logits) return snug_fail(err, SNUG_E_ARGUMENT, "no logits to sample from: run a batch that asks for them");
    return snug_sampler_sample(&ctx->samplers[seq], logits, out, err);
}

void snug_context_kv_stats(const snug_context *ctx, snug_kv_stats *out) {
    *out = (snug_kv_stats){SNUG_KV_PAGE_TOKENS, ctx->kv.n_pages, ctx->kv.n_free, snug_kv_pool_shared_pages(&ctx->kv),
                           2 * (uint64_t)ctx->kv.n_layer * snug_kv_page_bytes(&ctx->kv)};
}

int32_t snug_seq_pages_needed(const snug_context *ctx, snug_seq_id seq, int32_t n_more) {
    return seq_valid(ctx, seq) ? snug_kv_seq_pages_needed(&ctx->kv, &ctx->seqs[seq].kv, n_more) : -1;
}

/* ---- one sequence (sequence 0) ------------------------------------------------------------------------------- */

snug_status snug_context_decode(snug_context *ctx, const snug_token *tokens, size_t n_tokens, snug_error *err) {
    const snug_model_desc *d = &ctx->model->desc;
    const int32_t n_past = ctx->seqs[0].kv.n_tokens;
    ctx->n_outputs = 0;
    if (n_tokens == 0) return snug_fail(err, SNUG_E_ARGUMENT, "no tokens to decode");
    if (n_tokens > (size_t)(ctx->n_ctx - n_past)) {
        snug_fail(err, SNUG_E_CONTEXT_FULL, "%zu tokens do not fit: %d of the context's %d positions are used",
                  n_tokens, n_past, ctx->n_ctx);
        snug_hint(err, "use a larger --ctx (the model was trained with %d) or a shorter input", d->n_ctx_train);
        return SNUG_E_CONTEXT_FULL;
    }
    const snug_batch batch = {n_tokens, tokens, NULL, NULL, NULL};
    return snug_context_run_batch(ctx, &batch, err);
}

const float *snug_context_logits(const snug_context *ctx) {
    return ctx->n_outputs > 0 ? ctx->logits + (int64_t)(ctx->n_outputs - 1) * ctx->model->desc.n_vocab : NULL;
}

snug_status snug_context_sampler_init(snug_context *ctx, const snug_sampler_params *params, snug_error *err) {
    return snug_sampler_init(&ctx->samplers[0], params, err);
}

snug_status snug_context_sample(snug_context *ctx, snug_token *out, snug_error *err) {
    const float *logits = snug_context_logits(ctx);
    if (!logits) return snug_fail(err, SNUG_E_ARGUMENT, "no logits to sample from: decode tokens first");
    return snug_sampler_sample(&ctx->samplers[0], logits, out, err);
}
