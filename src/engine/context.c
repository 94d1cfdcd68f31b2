/* context.c — a context: the plan, its one arena, the KV cache, and the forward pass of the llama architecture.
 *
 * Invariant (DESIGN.md, "The contract"): snug_context_plan and snug_context_create walk the same buffer list
 * (plan_buffers), so the arena is exactly the planned size and carving it leaves zero bytes over — checked on every
 * create. After create returns, prefill, decode and sampling allocate nothing.
 *
 * The forward pass reads top to bottom in forward_batch: embed → per layer (RMSNorm → Q/K/V → RoPE → KV store →
 * attention → output projection → residual → RMSNorm → SwiGLU FFN → residual) → final norm → logits of the last
 * token. A prompt goes through as batches of n_batch tokens, so each weight is read once per batch.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/error.h"
#include "cpu/attention.h"
#include "cpu/half.h"
#include "engine/sampler.h"
#include "model/model.h"
#include "plan/memory.h"

/* The largest context snug accepts from a caller: beyond any trained model, small enough for 32-bit positions. */
#define SNUG_MAX_CTX (1 << 24)
#define SNUG_MAX_THREADS 1024
#define SNUG_MAX_INPUT_BYTES_LIMIT (1ull << 30)
/* Contexts shrink in steps of this many tokens when suggesting one that fits (DESIGN.md, context policy). */
#define SNUG_CTX_STEP 256

struct snug_context {
    snug_model *model;
    int32_t n_ctx, n_batch, n_threads;
    uint64_t max_input_bytes;
    snug_arena arena;
    uint64_t planned_bytes;
    int32_t n_past;

    /* KV cache, f16: (n_layer, n_ctx, n_head_kv · head_dim) each. */
    uint16_t *k_cache;
    uint16_t *v_cache;
    /* Activations for one batch. */
    float *x;    /* (n_batch, n_embd) residual stream */
    float *xb;   /* (n_batch, n_embd) normalised input of a sub-layer */
    float *xb2;  /* (n_batch, n_embd) sub-layer output */
    float *q;    /* (n_batch, n_head · head_dim) */
    float *k;    /* (n_batch, n_head_kv · head_dim) */
    float *v;    /* (n_batch, n_head_kv · head_dim) */
    float *att;  /* (n_batch, n_head · head_dim) attention output */
    float *hb;   /* (n_batch, n_ff) gate, then silu(gate) ⊙ up */
    float *hb2;  /* (n_batch, n_ff) up */
    float *scores;      /* (n_threads, n_ctx) attention scores */
    float *row_scratch; /* (n_threads, max row length) decoded weight rows */
    float *logits;      /* (n_vocab) of the last token */
    snug_token *token_ids; /* (n_ctx) for the caller's prompt */
    void *tokenizer_scratch;
    uint64_t tokenizer_scratch_bytes;
    snug_sampler sampler;
    bool logits_valid;
};

/* ---- the plan --------------------------------------------------------------------------------------------------- */

typedef struct buffer_spec {
    const char *item; /* plan line item it belongs to */
    uint64_t bytes;
    void **dest;      /* where the carved pointer goes (NULL while only planning) */
} buffer_spec;

enum { MAX_BUFFERS = 24 };

typedef struct resolved_params {
    int32_t n_ctx, n_batch, n_threads;
    uint64_t max_input_bytes;
} resolved_params;

static int64_t max3(int64_t a, int64_t b, int64_t c) {
    int64_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* The buffer list, in carving order. `ctx` may be NULL when only sizes are wanted. */
static size_t plan_buffers(const snug_model *m, const resolved_params *p, snug_context *ctx, buffer_spec *out) {
    const snug_model_desc *d = &m->desc;
    const uint64_t E = (uint64_t)d->n_embd, F = (uint64_t)d->n_ff, B = (uint64_t)p->n_batch;
    const uint64_t q_dim = (uint64_t)d->n_head * (uint64_t)d->head_dim;
    const uint64_t kv_dim = (uint64_t)d->n_head_kv * (uint64_t)d->head_dim;
    const uint64_t kv_half = (uint64_t)d->n_layer * (uint64_t)p->n_ctx * kv_dim * sizeof(uint16_t);
    const uint64_t f = sizeof(float);
    const uint64_t max_row = (uint64_t)max3(d->n_embd, (int64_t)q_dim, d->n_ff);
    size_t n = 0;
#define BUF(item_name, size, field) out[n++] = (buffer_spec){item_name, (size), ctx ? (void **)&ctx->field : NULL}
    BUF("kv_cache", kv_half, k_cache);
    BUF("kv_cache", kv_half, v_cache);
    BUF("activations", B * E * f, x);
    BUF("activations", B * E * f, xb);
    BUF("activations", B * E * f, xb2);
    BUF("activations", B * q_dim * f, q);
    BUF("activations", B * kv_dim * f, k);
    BUF("activations", B * kv_dim * f, v);
    BUF("activations", B * q_dim * f, att);
    BUF("activations", B * F * f, hb);
    BUF("activations", B * F * f, hb2);
    BUF("attention_scratch", (uint64_t)p->n_threads * (uint64_t)p->n_ctx * f, scores);
    BUF("matmul_scratch", (uint64_t)p->n_threads * max_row * f, row_scratch);
    BUF("logits", (uint64_t)d->n_vocab * f, logits);
    BUF("token_ids", (uint64_t)p->n_ctx * sizeof(snug_token), token_ids);
    BUF("tokenizer_scratch", snug_tokenizer_scratch_bytes(&m->tokenizer, p->max_input_bytes), tokenizer_scratch);
    BUF("sampler", (uint64_t)d->n_vocab * sizeof(snug_candidate), sampler.candidates);
    BUF("sampler", (uint64_t)SNUG_MAX_REPEAT_WINDOW * sizeof(int32_t), sampler.recent);
#undef BUF
    return n;
}

static snug_status resolve_params(const snug_model *m, const snug_context_params *in, resolved_params *out,
                                  snug_error *err) {
    snug_context_params p = in ? *in : (snug_context_params){0};
    if (p.n_ctx < 0 || p.n_ctx > SNUG_MAX_CTX) {
        return snug_fail(err, SNUG_E_ARGUMENT, "context length %d is outside 1..%d", p.n_ctx, SNUG_MAX_CTX);
    }
    out->n_ctx = p.n_ctx ? p.n_ctx
                         : (m->desc.n_ctx_train < SNUG_DEFAULT_CTX ? m->desc.n_ctx_train : SNUG_DEFAULT_CTX);
    if (p.n_batch < 0) return snug_fail(err, SNUG_E_ARGUMENT, "batch size %d is negative", p.n_batch);
    out->n_batch = p.n_batch ? p.n_batch : SNUG_DEFAULT_BATCH;
    if (out->n_batch > out->n_ctx) out->n_batch = out->n_ctx;
    if (p.n_threads < 0 || p.n_threads > SNUG_MAX_THREADS) {
        return snug_fail(err, SNUG_E_ARGUMENT, "thread count %d is outside 1..%d", p.n_threads, SNUG_MAX_THREADS);
    }
    out->n_threads = p.n_threads ? p.n_threads : omp_get_num_procs();
    if (p.max_input_bytes > SNUG_MAX_INPUT_BYTES_LIMIT) {
        return snug_fail(err, SNUG_E_ARGUMENT, "maximum input of %llu bytes exceeds the limit of %llu",
                         (unsigned long long)p.max_input_bytes, (unsigned long long)SNUG_MAX_INPUT_BYTES_LIMIT);
    }
    out->max_input_bytes = p.max_input_bytes ? p.max_input_bytes : SNUG_DEFAULT_MAX_INPUT_BYTES;
    return SNUG_OK;
}

/* Sums the buffers into line items (in first-appearance order; at most MAX_BUFFERS). Returns the arena total. */
static uint64_t sum_items(const buffer_spec *bufs, size_t n_bufs, snug_plan_item items[MAX_BUFFERS], size_t *n_items) {
    uint64_t total = 0;
    size_t count = 0;
    for (size_t i = 0; i < n_bufs; i++) {
        uint64_t bytes = snug_arena_reserve(bufs[i].bytes);
        total += bytes;
        size_t j = 0;
        while (j < count && strcmp(items[j].name, bufs[i].item) != 0) j++;
        if (j == count) items[count++] = (snug_plan_item){bufs[i].item, 0};
        items[j].bytes += bytes;
    }
    *n_items = count;
    return total;
}

snug_status snug_context_plan(const snug_model *m, const snug_context_params *params, snug_plan_item *items,
                              size_t cap, size_t *n_items, uint64_t *total_bytes, snug_error *err) {
    resolved_params p;
    snug_status st = resolve_params(m, params, &p, err);
    if (st != SNUG_OK) return st;
    buffer_spec bufs[MAX_BUFFERS];
    size_t n = plan_buffers(m, &p, NULL, bufs);
    snug_plan_item all[MAX_BUFFERS];
    *total_bytes = sum_items(bufs, n, all, n_items);
    for (size_t i = 0; items && i < *n_items && i < cap; i++) items[i] = all[i];
    return SNUG_OK;
}

/* Arena bytes of the plan at another context length (for suggesting one that fits). */
static uint64_t plan_total_at(const snug_model *m, resolved_params p, int32_t n_ctx) {
    p.n_ctx = n_ctx;
    if (p.n_batch > n_ctx) p.n_batch = n_ctx;
    buffer_spec bufs[MAX_BUFFERS];
    size_t n = plan_buffers(m, &p, NULL, bufs), n_items;
    snug_plan_item items[MAX_BUFFERS];
    return sum_items(bufs, n, items, &n_items);
}

static snug_status check_budget(const snug_model *m, const resolved_params *p, uint64_t total, snug_error *err) {
    snug_memory_info mem;
    if (!snug_memory_probe(&mem) || total <= mem.available_bytes) return SNUG_OK;
    snug_fail(err, SNUG_E_DOES_NOT_FIT,
              "context %d needs %.1f MiB of memory (KV cache, activations, scratch); %.1f MiB is available (%s)",
              p->n_ctx, (double)total / (1 << 20), (double)mem.available_bytes / (1 << 20), mem.source);
    int32_t fits = 0;
    for (int32_t c = p->n_ctx / SNUG_CTX_STEP * SNUG_CTX_STEP; c >= SNUG_CTX_STEP; c -= SNUG_CTX_STEP) {
        if (plan_total_at(m, *p, c) <= mem.available_bytes) {
            fits = c;
            break;
        }
    }
    if (fits) snug_hint(err, "--ctx %d fits (%.1f MiB)", fits, (double)plan_total_at(m, *p, fits) / (1 << 20));
    return SNUG_E_DOES_NOT_FIT;
}

snug_status snug_context_create(snug_model *m, const snug_context_params *params, snug_context **out,
                                snug_error *err) {
    *out = NULL;
    resolved_params p;
    snug_status st = resolve_params(m, params, &p, err);
    if (st != SNUG_OK) return st;
    buffer_spec bufs[MAX_BUFFERS];
    snug_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "out of memory for a context");
    size_t n = plan_buffers(m, &p, ctx, bufs), n_items;
    snug_plan_item items[MAX_BUFFERS];
    uint64_t total = sum_items(bufs, n, items, &n_items);
    if ((st = check_budget(m, &p, total, err)) != SNUG_OK || (st = snug_arena_create(&ctx->arena, total, err)) != SNUG_OK) {
        free(ctx);
        return st;
    }
    for (size_t i = 0; i < n; i++) *bufs[i].dest = snug_arena_take(&ctx->arena, bufs[i].bytes);
    if (ctx->arena.used_bytes != total) {
        uint64_t used = ctx->arena.used_bytes;
        snug_context_free(ctx);
        return snug_fail(err, SNUG_E_INTERNAL, "carved %llu bytes from an arena planned at %llu",
                         (unsigned long long)used, (unsigned long long)total);
    }
    ctx->model = m;
    ctx->n_ctx = p.n_ctx;
    ctx->n_batch = p.n_batch;
    ctx->n_threads = p.n_threads;
    ctx->max_input_bytes = p.max_input_bytes;
    ctx->planned_bytes = total;
    ctx->tokenizer_scratch_bytes = snug_tokenizer_scratch_bytes(&m->tokenizer, p.max_input_bytes);
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

void snug_context_free(snug_context *ctx) {
    if (!ctx) return;
    snug_arena_destroy(&ctx->arena);
    free(ctx);
}

int32_t snug_context_n_ctx(const snug_context *ctx) { return ctx->n_ctx; }
int32_t snug_context_n_past(const snug_context *ctx) { return ctx->n_past; }
uint64_t snug_context_arena_bytes(const snug_context *ctx) { return ctx->planned_bytes; }
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

/* ---- the forward pass ------------------------------------------------------------------------------------------ */

/* Runs tokens[0 .. n) at positions pos0 … pos0 + n − 1 through every layer; fills logits from the last one. */
static void forward_batch(snug_context *ctx, const snug_token *tokens, int64_t n, int64_t pos0) {
    const snug_model *m = ctx->model;
    const snug_model_desc *d = &m->desc;
    const int64_t E = d->n_embd, F = d->n_ff;
    const int64_t q_dim = (int64_t)d->n_head * d->head_dim, kv_dim = (int64_t)d->n_head_kv * d->head_dim;
    const int32_t threads = ctx->n_threads;
    const snug_attention_shape shape = {d->n_head, d->n_head_kv, d->head_dim, ctx->n_ctx};

    for (int64_t t = 0; t < n; t++) snug_matrix_row(&m->token_embd, tokens[t], ctx->x + t * E);

    for (int32_t l = 0; l < d->n_layer; l++) {
        const snug_layer_weights *w = &m->layers[l];
        uint16_t *k_cache = ctx->k_cache + (int64_t)l * ctx->n_ctx * kv_dim;
        uint16_t *v_cache = ctx->v_cache + (int64_t)l * ctx->n_ctx * kv_dim;

        /* Attention block. */
        for (int64_t t = 0; t < n; t++) snug_rmsnorm(ctx->xb + t * E, ctx->x + t * E, w->attn_norm, E, d->rms_eps);
        snug_matmul(&w->wq, ctx->xb, n, ctx->q, ctx->row_scratch, threads);
        snug_matmul(&w->wk, ctx->xb, n, ctx->k, ctx->row_scratch, threads);
        snug_matmul(&w->wv, ctx->xb, n, ctx->v, ctx->row_scratch, threads);
        for (int64_t t = 0; t < n; t++) {
            snug_rope(ctx->q + t * q_dim, d->n_head, d->head_dim, pos0 + t, &m->rope);
            snug_rope(ctx->k + t * kv_dim, d->n_head_kv, d->head_dim, pos0 + t, &m->rope);
            uint16_t *k_row = k_cache + (pos0 + t) * kv_dim, *v_row = v_cache + (pos0 + t) * kv_dim;
            for (int64_t i = 0; i < kv_dim; i++) {
                k_row[i] = snug_f32_to_f16(ctx->k[t * kv_dim + i]);
                v_row[i] = snug_f32_to_f16(ctx->v[t * kv_dim + i]);
            }
        }
        snug_attention(ctx->att, ctx->q, k_cache, v_cache, n, pos0, &shape, ctx->scores, threads);
        snug_matmul(&w->wo, ctx->att, n, ctx->xb2, ctx->row_scratch, threads);
        snug_add(ctx->x, ctx->xb2, n * E);

        /* Feed-forward block (SwiGLU). */
        for (int64_t t = 0; t < n; t++) snug_rmsnorm(ctx->xb + t * E, ctx->x + t * E, w->ffn_norm, E, d->rms_eps);
        snug_matmul(&w->w_gate, ctx->xb, n, ctx->hb, ctx->row_scratch, threads);
        snug_matmul(&w->w_up, ctx->xb, n, ctx->hb2, ctx->row_scratch, threads);
        snug_swiglu(ctx->hb, ctx->hb2, n * F);
        snug_matmul(&w->w_down, ctx->hb, n, ctx->xb2, ctx->row_scratch, threads);
        snug_add(ctx->x, ctx->xb2, n * E);
    }

    snug_rmsnorm(ctx->xb, ctx->x + (n - 1) * E, m->output_norm, E, d->rms_eps);
    snug_matmul(&m->output, ctx->xb, 1, ctx->logits, ctx->row_scratch, threads);
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
        forward_batch(ctx, tokens + start, (int64_t)n, ctx->n_past);
        ctx->n_past += (int32_t)n;
    }
    for (size_t i = 0; i < n_tokens; i++) snug_sampler_accept(&ctx->sampler, tokens[i]);
    for (int32_t i = 0; i < d->n_vocab; i++) {
        if (!isfinite(ctx->logits[i])) {
            return snug_fail(err, SNUG_E_NUMERIC, "logit of token %d is %f after position %d: the computation broke down",
                             i, (double)ctx->logits[i], ctx->n_past - 1);
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
