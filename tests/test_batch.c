/* test_batch.c — many sequences in one context: batches that mix prompts and next tokens, the paged KV pool, forks
 * that share a prefix, and batches that are refused or fail leaving every sequence as it was.
 *
 * The trained stories260K model (../shared/models) answers: its published greedy text for the prompt "Zoo"
 * (SOURCES.md, B) must come out byte for byte while the "Zoo" sequence runs batched with seven others that start and
 * stop at other times, and every sequence's greedy tokens must equal those of the same prompt run alone.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "support/support.h"

enum { N_SEQ = 8, MAX_TOKENS = 256, GOLDEN_B_GENERATED = 57 };

static const char *const prompts[N_SEQ] = {
    "Once upon a time",       "The cat", "Tom and Sue went to the",  "Zoo",
    "One day, a little bird", "Lily",    "There was a big red ball", "Mom said",
};
#define ZOO_SEQ 3

typedef struct runner {
    snug_model *model;
    snug_context *ctx;
    snug_model_desc desc;
} runner;

static runner open_runner(int32_t n_parallel, int32_t n_ctx) {
    runner r = {0};
    snug_error err = {0};
    const char *path = test_shared_file("models/stories260K.gguf");
    cr_assert_eq(snug_model_load(path, &r.model, &err), SNUG_OK, "%s", err.message);
    snug_context_params cp = {.n_ctx = n_ctx, .n_parallel = n_parallel, .n_threads = 2, .weights = SNUG_WEIGHTS_MAPPED};
    cr_assert_eq(snug_context_create(r.model, &cp, &r.ctx, &err), SNUG_OK, "%s", err.message);
    snug_model_describe(r.model, &r.desc);
    return r;
}

static void close_runner(runner *r) {
    snug_context_free(r->ctx);
    snug_model_free(r->model);
}

static size_t tokenize(runner *r, const char *text, snug_token *out) {
    snug_error err = {0};
    size_t n = 0;
    cr_assert_eq(snug_context_tokenize(r->ctx, text, strlen(text), true, false, out, MAX_TOKENS, &n, &err), SNUG_OK,
                 "%s", err.message);
    return n;
}

static snug_token argmax(const float *logits, int32_t n_vocab) {
    snug_token best = 0;
    for (int32_t i = 1; i < n_vocab; i++) best = logits[i] > logits[best] ? i : best;
    return best;
}

/* Greedy tokens after prompt[0 .. n), alone in a context of one sequence. */
static void generate_alone_tokens(const snug_token *prompt, size_t n, int n_gen, snug_token *out) {
    runner r = open_runner(1, 256);
    snug_error err = {0};
    cr_assert_eq(snug_context_decode(r.ctx, prompt, n, &err), SNUG_OK, "%s", err.message);
    for (int i = 0; i < n_gen; i++) {
        out[i] = argmax(snug_context_logits(r.ctx), r.desc.n_vocab);
        if (i + 1 < n_gen) cr_assert_eq(snug_context_decode(r.ctx, &out[i], 1, &err), SNUG_OK, "%s", err.message);
    }
    close_runner(&r);
}

/* Greedy tokens after `text` (tokenized with BOS), alone. */
static void generate_alone(const char *text, int n_gen, snug_token *out) {
    runner r = open_runner(1, 256);
    snug_token prompt[MAX_TOKENS];
    size_t n = tokenize(&r, text, prompt);
    close_runner(&r);
    generate_alone_tokens(prompt, n, n_gen, out);
}

/* The batch the test builds step by step (its arrays are the test's, as a caller's would be). */
typedef struct test_batch {
    snug_token tokens[N_SEQ * MAX_TOKENS];
    int32_t positions[N_SEQ * MAX_TOKENS];
    snug_seq_id seqs[N_SEQ * MAX_TOKENS];
    bool logits[N_SEQ * MAX_TOKENS];
    size_t n;
} test_batch;

static void batch_add(test_batch *b, snug_token token, int32_t pos, snug_seq_id seq, bool logits) {
    b->tokens[b->n] = token;
    b->positions[b->n] = pos;
    b->seqs[b->n] = seq;
    b->logits[b->n] = logits;
    b->n++;
}

static snug_status batch_run(runner *r, const test_batch *b, snug_error *err) {
    const snug_batch batch = {b->n, b->tokens, b->positions, b->seqs, b->logits};
    return snug_context_run_batch(r->ctx, &batch, err);
}

static char *detokenize(const snug_model *m, const char *prompt, snug_token prev, const snug_token *tokens, int n) {
    char *text = malloc(4096);
    size_t len = strlen(prompt);
    memcpy(text, prompt, len);
    for (int i = 0; i < n; i++) {
        len += snug_token_to_piece(m, prev, tokens[i], text + len, 4095 - len);
        prev = tokens[i];
    }
    text[len] = '\0';
    return text;
}

/* Eight sequences, staggered (three join after 5 steps, one leaves early and its slot is reused), each step one
 * batch: the "Zoo" sequence still gives SOURCES.md's text, and every sequence the tokens it gives alone. */
Test(batch, eight_sequences_match_alone_and_the_golden_text) {
    const int n_gen[N_SEQ] = {GOLDEN_B_GENERATED, 40, 30, GOLDEN_B_GENERATED, 50, 20, 45, 12};
    const int join_step[N_SEQ] = {0, 0, 0, 0, 0, 5, 5, 5};
    snug_token alone[N_SEQ][MAX_TOKENS];
    for (int s = 0; s < N_SEQ; s++) generate_alone(prompts[s], n_gen[s], alone[s]);

    runner r = open_runner(N_SEQ, 256);
    snug_token prompt[N_SEQ][MAX_TOKENS], got[N_SEQ][MAX_TOKENS];
    size_t prompt_len[N_SEQ];
    int done[N_SEQ] = {0};
    for (int s = 0; s < N_SEQ; s++) prompt_len[s] = tokenize(&r, prompts[s], prompt[s]);
    snug_error err = {0};
    test_batch *b = malloc(sizeof *b);
    size_t index_of[N_SEQ];
    for (int step = 0;; step++) {
        b->n = 0;
        for (int s = 0; s < N_SEQ; s++) {
            if (step < join_step[s] || done[s] == n_gen[s]) continue;
            if (step == join_step[s]) {
                for (size_t i = 0; i < prompt_len[s]; i++)
                    batch_add(b, prompt[s][i], (int32_t)i, s, i + 1 == prompt_len[s]);
            } else {
                batch_add(b, got[s][done[s] - 1], (int32_t)(prompt_len[s] + (size_t)done[s] - 1), s, true);
            }
            index_of[s] = b->n - 1;
        }
        if (b->n == 0) break;
        cr_assert_eq(batch_run(&r, b, &err), SNUG_OK, "step %d: %s", step, err.message);
        for (int s = 0; s < N_SEQ; s++) {
            if (step < join_step[s] || done[s] == n_gen[s]) continue;
            const float *logits = snug_context_batch_logits(r.ctx, index_of[s]);
            cr_assert_not_null(logits, "step %d: no logits for sequence %d", step, s);
            got[s][done[s]++] = argmax(logits, r.desc.n_vocab);
            if (done[s] == n_gen[s]) {
                cr_assert_eq(snug_seq_length(r.ctx, s), (int32_t)(prompt_len[s] + (size_t)n_gen[s] - 1));
                snug_seq_free(r.ctx, s); /* its pages go back at once */
                cr_assert_eq(snug_seq_length(r.ctx, s), 0);
            }
        }
    }
    for (int s = 0; s < N_SEQ; s++) {
        for (int i = 0; i < n_gen[s]; i++) {
            cr_assert_eq(got[s][i], alone[s][i], "sequence %d (\"%s\"), token %d: %d batched, %d alone", s, prompts[s],
                         i, got[s][i], alone[s][i]);
        }
    }
    char *sources = test_read_file(test_shared_file("models/SOURCES.md"), NULL);
    cr_assert_not_null(sources);
    const char *block = strstr(strstr(sources, "B. Prompt `Zoo`"), "```\n") + 4;
    const size_t want_len = (size_t)(strstr(block, "\n```") - block);
    char *text = detokenize(r.model, "Zoo", prompt[ZOO_SEQ][prompt_len[ZOO_SEQ] - 1], got[ZOO_SEQ], n_gen[ZOO_SEQ]);
    cr_assert_eq(strlen(text), want_len, "batched Zoo text: %s", text);
    cr_assert(memcmp(text, block, want_len) == 0, "batched Zoo text differs from SOURCES.md B: %s", text);
    snug_kv_stats kv;
    snug_context_kv_stats(r.ctx, &kv);
    cr_assert_eq(kv.pages_free, kv.pages_total, "every sequence was freed, %d of %d pages are free", kv.pages_free,
                 kv.pages_total);
    free(text);
    free(sources);
    free(b);
    close_runner(&r);
}

static const char *const long_prefix =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. "
    "One day, she saw a big red ball under a tree. She wanted to play with it, so she ran to her mom and asked her "
    "to come and see. Her mom smiled and said they could go to the park after lunch. Lily was so happy that she saw a";

/* A prefix computed once and forked into three sequences: its full pages are shared, not copied; the partly filled
 * last page is copied when a fork writes past it; each continuation equals the whole text run alone. */
Test(batch, forked_prefix_shares_pages_and_matches_alone) {
    const char *suffixes[3] = {" dog", " tree", " cake"};
    enum { N_FORK = 3, N_GEN = 16 };
    runner r = open_runner(4, 256);
    snug_token prefix[MAX_TOKENS];
    const size_t n_prefix = tokenize(&r, long_prefix, prefix);
    cr_assert_gt(n_prefix, 64, "the prefix must fill a page: %zu tokens", n_prefix);
    cr_assert_lt(n_prefix % 64, 64 - 8, "and leave room in its last page");
    snug_error err = {0};
    cr_assert_eq(snug_context_decode(r.ctx, prefix, n_prefix, &err), SNUG_OK, "%s", err.message);
    snug_kv_stats kv;
    snug_context_kv_stats(r.ctx, &kv);
    cr_assert_eq(kv.page_tokens, 64);
    const int32_t prefix_pages = (int32_t)((n_prefix + 63) / 64), full_pages = (int32_t)(n_prefix / 64);
    cr_assert_eq(kv.pages_total - kv.pages_free, prefix_pages);
    for (snug_seq_id s = 1; s <= N_FORK; s++)
        cr_assert_eq(snug_seq_fork(r.ctx, 0, s, &err), SNUG_OK, "%s", err.message);
    snug_context_kv_stats(r.ctx, &kv);
    cr_assert_eq(kv.pages_total - kv.pages_free, prefix_pages, "forks take no pages");
    cr_assert_eq(kv.pages_shared, prefix_pages);
    cr_assert_eq(snug_seq_length(r.ctx, 2), (int32_t)n_prefix);
    /* Sequence 0 is left as the cached prefix; 1..3 continue with their suffixes (tokenized without BOS). */
    snug_token got[N_FORK][N_GEN], suffix[N_FORK][16];
    size_t suffix_len[N_FORK];
    test_batch *b = malloc(sizeof *b);
    b->n = 0;
    for (int f = 0; f < N_FORK; f++) {
        cr_assert_eq(snug_context_tokenize(r.ctx, suffixes[f], strlen(suffixes[f]), false, false, suffix[f], 16,
                                           &suffix_len[f], &err),
                     SNUG_OK, "%s", err.message);
        for (size_t i = 0; i < suffix_len[f]; i++)
            batch_add(b, suffix[f][i], (int32_t)(n_prefix + i), f + 1, i + 1 == suffix_len[f]);
    }
    size_t last[N_FORK];
    for (int f = 0, at = 0; f < N_FORK; f++) last[f] = (size_t)(at += (int)suffix_len[f]) - 1;
    cr_assert_eq(batch_run(&r, b, &err), SNUG_OK, "%s", err.message);
    for (int i = 0; i < N_GEN; i++) {
        for (int f = 0; f < N_FORK; f++)
            got[f][i] = argmax(snug_context_batch_logits(r.ctx, b->n == N_FORK ? (size_t)f : last[f]), r.desc.n_vocab);
        if (i + 1 == N_GEN) break;
        b->n = 0;
        for (int f = 0; f < N_FORK; f++)
            batch_add(b, got[f][i], (int32_t)(n_prefix + suffix_len[f] + (size_t)i), f + 1, true);
        cr_assert_eq(batch_run(&r, b, &err), SNUG_OK, "%s", err.message);
    }
    /* Pages now: the prefix's full pages still shared by all four; its partly filled page kept by sequence 0; each
     * fork its own copy of that page and whatever it grew into. */
    snug_context_kv_stats(r.ctx, &kv);
    int32_t used = prefix_pages;
    for (int f = 0; f < N_FORK; f++) {
        const int32_t length = snug_seq_length(r.ctx, f + 1);
        cr_assert_eq(length, (int32_t)(n_prefix + suffix_len[f] + N_GEN - 1));
        used += (length + 63) / 64 - full_pages;
    }
    cr_assert_eq(kv.pages_total - kv.pages_free, used, "pages in use: %d, expected %d", kv.pages_total - kv.pages_free,
                 used);
    cr_assert_eq(kv.pages_shared, full_pages);
    for (int f = 0; f < N_FORK; f++) {
        snug_token whole[MAX_TOKENS], want[N_GEN];
        memcpy(whole, prefix, n_prefix * sizeof *whole);
        memcpy(whole + n_prefix, suffix[f], suffix_len[f] * sizeof *whole);
        generate_alone_tokens(whole, n_prefix + suffix_len[f], N_GEN, want);
        for (int i = 0; i < N_GEN; i++)
            cr_assert_eq(got[f][i], want[i], "fork %d token %d: %d forked, %d alone", f + 1, i, got[f][i], want[i]);
    }
    for (snug_seq_id s = 0; s <= N_FORK; s++) snug_seq_free(r.ctx, s);
    snug_context_kv_stats(r.ctx, &kv);
    cr_assert_eq(kv.pages_free, kv.pages_total);
    cr_assert_eq(kv.pages_shared, 0);
    free(b);
    close_runner(&r);
}

/* A sequence truncated to a prefix and continued gives the greedy tokens of that prefix and continuation computed
 * from scratch (prompt caching in the server), and its pages past the prefix go back to the pool. */
Test(batch, truncated_sequence_continues_like_a_fresh_one) {
    enum { N_GEN = 12 };
    runner r = open_runner(2, 256);
    snug_token prefix[MAX_TOKENS], other[MAX_TOKENS];
    const size_t n_prefix = tokenize(&r, long_prefix, prefix);
    const size_t n_other = tokenize(&r, "The cat sat on the mat and looked at the bird in the tree", other);
    snug_error err = {0};
    /* Sequence 0 holds the prefix and then something else after its first 70 positions. */
    const size_t keep = 70;
    cr_assert_gt(n_prefix, keep);
    snug_token mixed[MAX_TOKENS];
    memcpy(mixed, prefix, keep * sizeof *mixed);
    size_t n_mixed = keep;
    while (n_mixed + n_other <= 160) { /* past two pages, so that truncation gives one back */
        memcpy(mixed + n_mixed, other, n_other * sizeof *mixed);
        n_mixed += n_other;
    }
    cr_assert_eq(snug_context_decode(r.ctx, mixed, n_mixed, &err), SNUG_OK, "%s", err.message);
    snug_kv_stats before, after;
    snug_context_kv_stats(r.ctx, &before);
    cr_assert_eq(snug_seq_truncate(r.ctx, 0, (int32_t)keep, &err), SNUG_OK, "%s", err.message);
    snug_context_kv_stats(r.ctx, &after);
    cr_assert_eq(after.pages_total - after.pages_free, (int32_t)((keep + 63) / 64), "pages past the prefix go back");
    cr_assert_lt(after.pages_total - after.pages_free, before.pages_total - before.pages_free);
    /* Continue with the rest of the prefix, then generate. */
    cr_assert_eq(snug_context_decode(r.ctx, prefix + keep, n_prefix - keep, &err), SNUG_OK, "%s", err.message);
    snug_token got[N_GEN], want[N_GEN];
    for (int i = 0; i < N_GEN; i++) {
        got[i] = argmax(snug_context_logits(r.ctx), r.desc.n_vocab);
        cr_assert_eq(snug_context_decode(r.ctx, &got[i], 1, &err), SNUG_OK, "%s", err.message);
    }
    close_runner(&r);
    generate_alone_tokens(prefix, n_prefix, N_GEN, want);
    for (int i = 0; i < N_GEN; i++)
        cr_assert_eq(got[i], want[i], "token %d: %d after truncation, %d fresh", i, got[i], want[i]);
}

/* A refused batch changes nothing: the lengths, the free pages, and the logits a later batch gives. */
Test(batch, refused_batches_leave_every_sequence_as_it_was) {
    runner r = open_runner(2, 128);
    snug_error err = {0};
    snug_token p0[MAX_TOKENS], p1[MAX_TOKENS];
    const size_t n0 = tokenize(&r, "The cat", p0), n1 = tokenize(&r, "Lily", p1);
    test_batch *b = malloc(sizeof *b);
    b->n = 0;
    for (size_t i = 0; i < n0; i++) batch_add(b, p0[i], (int32_t)i, 0, i + 1 == n0);
    cr_assert_eq(batch_run(&r, b, &err), SNUG_OK, "%s", err.message);
    snug_kv_stats before;
    snug_context_kv_stats(r.ctx, &before);

    struct {
        const char *what;
        snug_status status;
        const char *message_part;
    } cases[] = {
        {"a wrong position", SNUG_E_ARGUMENT, "which is at position"},
        {"a sequence id out of range", SNUG_E_ARGUMENT, "the context has 0..1"},
        {"a token outside the vocabulary", SNUG_E_ARGUMENT, "outside the vocabulary"},
        {"more logits rows than planned", SNUG_E_ARGUMENT, "a batch may ask for 2"},
        {"a sequence past the context", SNUG_E_CONTEXT_FULL, "would pass the context"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        /* Each starts as a valid batch (sequence 1's prompt, sequence 0's next token) and is spoiled one way. */
        b->n = 0;
        for (size_t i = 0; i < n1; i++) batch_add(b, p1[i], (int32_t)i, 1, i + 1 == n1);
        batch_add(b, 42, (int32_t)n0, 0, true);
        switch (c) {
        case 0: b->positions[b->n - 1] = (int32_t)n0 + 1; break;
        case 1: b->seqs[0] = 2; break;
        case 2: b->tokens[1] = r.desc.n_vocab; break;
        case 3: b->logits[0] = true; break;
        case 4:
            for (int32_t pos = (int32_t)n0 + 1; pos <= 128; pos++) batch_add(b, 42, pos, 0, false);
            break;
        }
        snug_status st = batch_run(&r, b, &err);
        cr_assert_eq(st, cases[c].status, "%s: status %d (%s)", cases[c].what, st, err.message);
        cr_assert_not_null(strstr(err.message, cases[c].message_part), "%s: %s", cases[c].what, err.message);
        cr_assert_eq(snug_seq_length(r.ctx, 0), (int32_t)n0, "%s changed sequence 0", cases[c].what);
        cr_assert_eq(snug_seq_length(r.ctx, 1), 0, "%s changed sequence 1", cases[c].what);
        cr_assert_null(snug_context_batch_logits(r.ctx, 0), "%s left logits", cases[c].what);
        snug_kv_stats now;
        snug_context_kv_stats(r.ctx, &now);
        cr_assert_eq(now.pages_free, before.pages_free, "%s took pages", cases[c].what);
    }
    /* Truncation past a sequence's length, or of a sequence that does not exist, is refused and changes nothing. */
    cr_assert_eq(snug_seq_truncate(r.ctx, 0, (int32_t)n0 + 1, &err), SNUG_E_ARGUMENT);
    cr_assert_eq(snug_seq_truncate(r.ctx, 0, -1, &err), SNUG_E_ARGUMENT);
    cr_assert_eq(snug_seq_truncate(r.ctx, 2, 0, &err), SNUG_E_ARGUMENT);
    cr_assert_eq(snug_seq_length(r.ctx, 0), (int32_t)n0);
    /* The valid batch now gives what it gives in a context that never saw the refused ones. */
    b->n = 0;
    for (size_t i = 0; i < n1; i++) batch_add(b, p1[i], (int32_t)i, 1, i + 1 == n1);
    batch_add(b, 42, (int32_t)n0, 0, true);
    cr_assert_eq(batch_run(&r, b, &err), SNUG_OK, "%s", err.message);
    float *after_refusals = malloc((size_t)r.desc.n_vocab * sizeof(float));
    memcpy(after_refusals, snug_context_batch_logits(r.ctx, b->n - 1), (size_t)r.desc.n_vocab * sizeof(float));
    runner fresh = open_runner(2, 128);
    test_batch *first = malloc(sizeof *first);
    first->n = 0;
    for (size_t i = 0; i < n0; i++) batch_add(first, p0[i], (int32_t)i, 0, i + 1 == n0);
    cr_assert_eq(batch_run(&fresh, first, &err), SNUG_OK, "%s", err.message);
    cr_assert_eq(batch_run(&fresh, b, &err), SNUG_OK, "%s", err.message);
    cr_assert(memcmp(after_refusals, snug_context_batch_logits(fresh.ctx, b->n - 1),
                     (size_t)r.desc.n_vocab * sizeof(float)) == 0,
              "the refused batches changed what a later batch computes");
    free(after_refusals);
    free(first);
    free(b);
    close_runner(&fresh);
    close_runner(&r);
}

/* The pool is planned in whole pages for every sequence, and the context carves exactly the plan. The KV bytes are
 * computed here from the model's shape: 2 × layers × sequences × ceil(ctx / 64) × 64 × KV heads × head dim × 2. */
Test(batch, pool_is_planned_in_pages_and_allocated_exactly) {
    snug_error err = {0};
    snug_model *m;
    cr_assert_eq(snug_model_load(test_shared_file("models/stories260K.gguf"), &m, &err), SNUG_OK, "%s", err.message);
    snug_model_desc d;
    snug_model_describe(m, &d);
    const int32_t cases[][2] = {{1, 256}, {4, 100}, {8, 65}, {3, 64}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        snug_context_params cp = {
            .n_parallel = cases[c][0], .n_ctx = cases[c][1], .n_threads = 1, .kv_type = SNUG_KV_F16};
        snug_plan *plan;
        cr_assert_eq(snug_plan_create(snug_model_gguf(m), &cp, &plan, &err), SNUG_OK, "%s", err.message);
        const uint64_t pages = (uint64_t)cases[c][0] * (uint64_t)((cases[c][1] + 63) / 64);
        const uint64_t want =
            2ull * (uint64_t)d.n_layer * pages * 64 * (uint64_t)d.n_head_kv * (uint64_t)d.head_dim * 2;
        cr_assert_eq(snug_plan_item_bytes(plan, "kv_cache"), want, "parallel %d, ctx %d: kv_cache %llu, want %llu",
                     cases[c][0], cases[c][1], (unsigned long long)snug_plan_item_bytes(plan, "kv_cache"),
                     (unsigned long long)want);
        snug_context *ctx;
        cr_assert_eq(snug_context_create_planned(m, plan, &ctx, &err), SNUG_OK, "%s", err.message);
        cr_assert_eq(snug_context_arena_used_bytes(ctx), snug_plan_arena_bytes(plan));
        cr_assert_eq(snug_context_n_seq_max(ctx), cases[c][0]);
        snug_kv_stats kv;
        snug_context_kv_stats(ctx, &kv);
        cr_assert_eq((uint64_t)kv.pages_total, pages);
        cr_assert_eq(kv.page_bytes * pages, want);
        snug_context_free(ctx);
        snug_plan_free(plan);
    }
    snug_model_free(m);
}
