/* context.c — a context: the plan, its one arena, the sequences over the paged KV pool, batches and sampling, over
 * one backend (backend/backend.h; the CPU's forward pass is cpu/backend.c).
 *
 * Invariant (DESIGN.md, "The contract"): the arena is allocated with exactly the plan's arena bytes and carved into
 * the plan's buffers in the plan's order — the engine's own (snug_context_buffers), then the backend's — leaving zero
 * bytes over; the model's host tables equal the plan's lines. Both are checked on every create. After create
 * returns, running batches and sampling allocate nothing.
 *
 * A batch (engine/batch.h) is checked whole before anything changes, its pages are reserved, then it goes to the
 * backend in steps of at most n_batch tokens; a failure anywhere puts every sequence back as it was.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "base/arena.h"
#include "base/error.h"
#include "engine/batch.h"
#include "engine/context_buffers.h"
#include "engine/kv_pool.h"
#include "engine/sampler.h"
#include "model/model.h"
#include "plan/plan.h"

struct snug_context {
    snug_model *model;
    snug_plan plan;
    snug_arena arena;
    const snug_backend_ops *ops;
    snug_backend *backend;
    int32_t n_ctx, n_batch;
    int32_t n_seq, max_outputs;

    snug_kv_pool kv;             /* the books of the pool; the pages' memory is the backend's */
    int32_t *page_tables;        /* (n_seq, ceil(n_ctx / SNUG_KV_PAGE_TOKENS)) */
    int32_t *free_pages;         /* (kv_pages) */
    int32_t *page_refs;          /* (kv_pages) */
    snug_seq_state *seqs;        /* (n_seq) */
    snug_sampler *samplers;      /* (n_seq), sharing candidates */
    snug_candidate *candidates;  /* (n_vocab) one sampling step's scratch */
    int32_t *recent;             /* (n_seq, SNUG_MAX_REPEAT_WINDOW) each sampler's history */
    snug_token *step_tokens;     /* (n_batch) the step being run: tokens, */
    int32_t *step_positions;     /* (n_batch) their positions, */
    int32_t *step_sequences;     /* (n_batch) sequences, */
    int32_t *step_out_rows;      /* (n_batch) logits rows (or −1), */
    snug_token_view *step_views; /* (n_batch) and what each attends to */
    size_t *output_index;        /* (max_outputs) the batch index of each logits row */
    int32_t n_outputs;           /* logits rows valid (0 after a failure) */
    float *logits;               /* (max_outputs, n_vocab) of the tokens that asked, in batch order */
    snug_token *token_ids;       /* (n_ctx) for the caller's prompt */
    void *tokenizer_scratch;
    uint64_t tokenizer_scratch_bytes;
};

/* The engine's buffers, in carving order. */
enum {
    CTX_LOGITS,
    CTX_TOKEN_IDS,
    CTX_TOKENIZER_SCRATCH,
    CTX_CANDIDATES,
    CTX_RECENT,
    CTX_SAMPLERS,
    CTX_PAGE_TABLES,
    CTX_FREE_PAGES,
    CTX_PAGE_REFS,
    CTX_SEQS,
    CTX_STEP_TOKENS,
    CTX_STEP_POSITIONS,
    CTX_STEP_SEQUENCES,
    CTX_STEP_OUT_ROWS,
    CTX_STEP_VIEWS,
    CTX_OUTPUT_INDEX,
    CTX_BUFFER_COUNT
};

size_t snug_context_buffers(const snug_backend_shape *s, snug_buffer_need *out, size_t cap) {
    const uint64_t seqs = (uint64_t)s->n_seq, B = (uint64_t)s->n_batch, vocab = (uint64_t)s->model->n_vocab;
    const uint64_t pages_per_seq = (uint64_t)snug_kv_pages_for(s->n_ctx), pages = (uint64_t)s->kv_pages;
    const snug_buffer_need needs[CTX_BUFFER_COUNT] = {
        /* One row per sequence: a decode step of all of them. */
        [CTX_LOGITS] = {"logits", (uint64_t)s->max_outputs * vocab * sizeof(float)},
        [CTX_TOKEN_IDS] = {"token_ids", (uint64_t)s->n_ctx * sizeof(snug_token)},
        [CTX_TOKENIZER_SCRATCH] = {"tokenizer_scratch", snug_tokenizer_scratch_bytes(NULL, s->max_input_bytes)},
        [CTX_CANDIDATES] = {"sampler", vocab * sizeof(snug_candidate)},
        [CTX_RECENT] = {"sampler", seqs * (uint64_t)SNUG_MAX_REPEAT_WINDOW * sizeof(int32_t)},
        [CTX_SAMPLERS] = {"sampler", seqs * sizeof(snug_sampler)},
        [CTX_PAGE_TABLES] = {"sequences", seqs * pages_per_seq * sizeof(int32_t)},
        [CTX_FREE_PAGES] = {"sequences", pages * sizeof(int32_t)},
        [CTX_PAGE_REFS] = {"sequences", pages * sizeof(int32_t)},
        [CTX_SEQS] = {"sequences", seqs * sizeof(snug_seq_state)},
        [CTX_STEP_TOKENS] = {"sequences", B * sizeof(snug_token)},
        [CTX_STEP_POSITIONS] = {"sequences", B * sizeof(int32_t)},
        [CTX_STEP_SEQUENCES] = {"sequences", B * sizeof(int32_t)},
        [CTX_STEP_OUT_ROWS] = {"sequences", B * sizeof(int32_t)},
        [CTX_STEP_VIEWS] = {"sequences", B * sizeof(snug_token_view)},
        [CTX_OUTPUT_INDEX] = {"sequences", (uint64_t)s->max_outputs * sizeof(size_t)},
    };
    for (size_t i = 0; i < CTX_BUFFER_COUNT && i < cap; i++) out[i] = needs[i];
    return CTX_BUFFER_COUNT;
}

static void copy_kv_page(void *context, int32_t from, int32_t to, int32_t rows) {
    snug_context *ctx = context;
    ctx->ops->copy_kv(ctx->backend, from, to, rows);
}

/* The plan must be for this machine's CPU, fit, and describe this very model. */
static snug_status check_plan(const snug_model *m, const snug_plan *plan, snug_error *err) {
    if (!snug_backend_for_device(plan->device.kind)) {
        return snug_fail(err, SNUG_E_ARGUMENT, "the plan is for device '%s', which snug plans but cannot run on",
                         plan->device.name);
    }
    if (!plan->fits) return snug_plan_refusal(plan, err);
    if (plan->backend_unsupported[0]) {
        snug_fail(err, SNUG_E_UNSUPPORTED, "%s", plan->backend_unsupported);
        snug_hint(err, "--backend cpu runs every weight type");
        return SNUG_E_UNSUPPORTED;
    }
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
    ctx->model = m;
    ctx->ops = snug_backend_for_device(plan->device.kind);
    if ((st = snug_arena_create(&ctx->arena, plan->arena_bytes, err)) != SNUG_OK) {
        free(ctx);
        return st;
    }
    void *buffers[SNUG_PLAN_MAX_BUFFERS];
    /* Host buffers come from the arena; a GPU backend allocates its device buffers (NULL here) itself. */
    for (int i = 0; i < plan->n_buffers; i++)
        buffers[i] = plan->buffers[i].device ? NULL : snug_arena_take(&ctx->arena, plan->buffers[i].bytes);
    if (ctx->arena.used_bytes != plan->arena_bytes || plan->n_engine_buffers != CTX_BUFFER_COUNT) {
        uint64_t used = ctx->arena.used_bytes;
        snug_context_free(ctx);
        return snug_fail(err, SNUG_E_INTERNAL, "carved %llu bytes from an arena planned at %llu",
                         (unsigned long long)used, (unsigned long long)plan->arena_bytes);
    }
    ctx->logits = buffers[CTX_LOGITS];
    ctx->token_ids = buffers[CTX_TOKEN_IDS];
    ctx->tokenizer_scratch = buffers[CTX_TOKENIZER_SCRATCH];
    ctx->tokenizer_scratch_bytes = plan->buffers[CTX_TOKENIZER_SCRATCH].bytes;
    ctx->candidates = buffers[CTX_CANDIDATES];
    ctx->recent = buffers[CTX_RECENT];
    ctx->samplers = buffers[CTX_SAMPLERS];
    ctx->page_tables = buffers[CTX_PAGE_TABLES];
    ctx->free_pages = buffers[CTX_FREE_PAGES];
    ctx->page_refs = buffers[CTX_PAGE_REFS];
    ctx->seqs = buffers[CTX_SEQS];
    ctx->step_tokens = buffers[CTX_STEP_TOKENS];
    ctx->step_positions = buffers[CTX_STEP_POSITIONS];
    ctx->step_sequences = buffers[CTX_STEP_SEQUENCES];
    ctx->step_out_rows = buffers[CTX_STEP_OUT_ROWS];
    ctx->step_views = buffers[CTX_STEP_VIEWS];
    ctx->output_index = buffers[CTX_OUTPUT_INDEX];
    ctx->n_ctx = plan->n_ctx;
    ctx->n_batch = plan->n_batch;
    ctx->n_seq = plan->n_parallel;
    ctx->max_outputs = plan->max_outputs;
    const snug_backend_shape shape = snug_plan_backend_shape(plan, m->gguf);
    if ((st = ctx->ops->create(&shape, m, buffers + plan->n_engine_buffers, &ctx->backend, err)) != SNUG_OK) {
        snug_context_free(ctx);
        return st;
    }
    snug_kv_pool_bind(&ctx->kv, copy_kv_page, ctx, plan->kv_pages, ctx->free_pages, ctx->page_refs);
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
    if (ctx->backend) ctx->ops->destroy(ctx->backend);
    snug_arena_destroy(&ctx->arena);
    free(ctx);
}

const snug_plan *snug_context_get_plan(const snug_context *ctx) { return &ctx->plan; }
int32_t snug_context_n_ctx(const snug_context *ctx) { return ctx->n_ctx; }
int32_t snug_context_n_past(const snug_context *ctx) { return ctx->seqs[0].kv.n_tokens; }
uint64_t snug_context_arena_bytes(const snug_context *ctx) { return ctx->plan.arena_bytes; }
uint64_t snug_context_arena_used_bytes(const snug_context *ctx) { return ctx->arena.used_bytes; }
const char *snug_context_backend_name(const snug_context *ctx) { return ctx->ops->name; }
uint64_t snug_context_device_bytes(const snug_context *ctx, const char *line) {
    return ctx->ops->device_bytes ? ctx->ops->device_bytes(ctx->backend, line) : 0;
}

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
            const snug_seq_id seq = batch_seq(batch, i);
            const int32_t pos = ctx->seqs[seq].next_pos++;
            ctx->step_tokens[t] = batch->tokens[i];
            ctx->step_positions[t] = pos;
            ctx->step_sequences[t] = seq;
            ctx->step_out_rows[t] = wanted ? row : -1;
            ctx->step_views[t] = (snug_token_view){ctx->seqs[seq].kv.pages, (int64_t)pos + 1};
            if (wanted) ctx->output_index[row++] = i;
        }
        const snug_backend_step step = {(int64_t)n,      ctx->step_tokens,   ctx->step_positions, ctx->step_sequences,
                                        ctx->step_views, ctx->step_out_rows, ctx->logits,         ctx->n_seq > 1};
        if ((st = ctx->ops->run(ctx->backend, &step, err)) != SNUG_OK) {
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

snug_status snug_seq_truncate(snug_context *ctx, snug_seq_id seq, int32_t n_keep, snug_error *err) {
    if (!seq_valid(ctx, seq))
        return snug_fail(err, SNUG_E_ARGUMENT, "sequence %d is outside 0..%d", seq, ctx->n_seq - 1);
    const int32_t length = ctx->seqs[seq].kv.n_tokens;
    if (n_keep < 0 || n_keep > length) {
        return snug_fail(err, SNUG_E_ARGUMENT, "sequence %d holds %d positions; it cannot keep %d", seq, length,
                         n_keep);
    }
    snug_kv_seq_truncate(&ctx->kv, &ctx->seqs[seq].kv, n_keep);
    ctx->n_outputs = 0; /* logits of positions that may be gone */
    return SNUG_OK;
}

snug_status snug_seq_accept(snug_context *ctx, snug_seq_id seq, const snug_token *tokens, size_t n_tokens,
                            snug_error *err) {
    if (!seq_valid(ctx, seq))
        return snug_fail(err, SNUG_E_ARGUMENT, "sequence %d is outside 0..%d", seq, ctx->n_seq - 1);
    for (size_t i = 0; i < n_tokens; i++) snug_sampler_accept(&ctx->samplers[seq], tokens[i]);
    return SNUG_OK;
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
                           snug_plan_item_bytes(&ctx->plan, "kv_cache") / (uint64_t)ctx->kv.n_pages};
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
