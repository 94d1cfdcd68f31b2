/* scheduler.c — the engine thread: admission, one batch a step for every running request, sampling and stopping.
 *
 * Each step: requests whose clients went away give their sequence back; waiting requests are admitted in arrival
 * order while a sequence is free and the pool's unreserved pages cover their prompt plus max_tokens (the reservation
 * is what makes "an admitted request never fails for lack of memory" hold); then one batch holds, for
 * each running request, either its next chunk of prompt (at most the plan's n_batch prompt tokens a step over all
 * requests, so a long prompt does not stall the others' tokens) or its last sampled token. After the batch, each
 * request with logits samples with its own sampler; the piece goes into its text, which is cut at a stop string;
 * a stop token, max_tokens or a stop string finishes it. The context is only touched by this thread (tokenizing, in
 * the connection threads, uses the context's scratch under the tokenizer lock and nothing else).
 *
 * Prompt caching: a finished request's sequence keeps its keys and values (its tokens in s->held). A new request
 * goes to the free sequence whose tokens share the longest prefix with its prompt, which keeps that prefix
 * (snug_seq_truncate) and computes only the rest — a chat's earlier turns, a shared system prompt. Kept pages cost
 * nothing extra: every sequence may reach the context, and the pool was planned for all of them at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

int32_t serve_pages_needed(const serve_server *s, const serve_request *r) {
    const int64_t positions = (int64_t)r->n_prompt + r->max_tokens, page = s->pool.page_tokens;
    return (int32_t)((positions + page - 1) / page);
}

bool serve_submit(serve_server *s, serve_request *r) {
    pthread_cond_init(&r->changed, NULL);
    pthread_mutex_lock(&s->lock);
    if (s->n_waiting >= s->options.queue_limit || s->stopping) {
        pthread_mutex_unlock(&s->lock); /* the caller releases the request (and its condition) */
        return false;
    }
    r->state = SERVE_WAITING;
    r->seq = -1;
    r->t_submit = serve_now_s();
    r->created = (int64_t)time(NULL);
    snprintf(r->id, sizeof r->id, "%s-%llu", r->kind == SERVE_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)++s->next_id);
    r->next = NULL;
    if (s->waiting_tail)
        s->waiting_tail->next = r;
    else
        s->waiting_head = r;
    s->waiting_tail = r;
    s->n_waiting++;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    return true;
}

/* Frees a request the engine no longer holds (the connection thread calls it once it has answered), after
 * serve_submit (which initialised its condition), accepted or not. */
void serve_request_release(serve_server *s, serve_request *r) {
    (void)s;
    if (!r) return;
    pthread_cond_destroy(&r->changed);
    free(r->prompt);
    free(r->text);
    free(r);
}

/* Ends a running request: its sequence (with its keys and values, for prompt caching) is free at once. Under the
 * lock. */
static void finish(serve_server *s, serve_request *r, serve_state state, const char *reason) {
    s->running[r->seq] = NULL;
    s->n_running--;
    s->pages_reserved -= r->pages_reserved;
    r->state = state;
    r->finish_reason = reason;
    r->t_done = serve_now_s();
    if (state == SERVE_FINISHED && r->n_generated > 1) {
        serve_histogram_add(&s->metrics.time_per_output_token,
                            (r->t_done - r->t_first_token) / (double)(r->n_generated - 1));
    }
    pthread_cond_broadcast(&r->changed);
}

void serve_snapshot_pool(serve_server *s) {
    snug_context_kv_stats(s->ctx, &s->pool);
    s->pool_pages_running = 0;
    for (snug_seq_id q = 0; q < s->n_seq; q++) {
        if (s->running[q])
            s->pool_pages_running += (snug_seq_length(s->ctx, q) + s->pool.page_tokens - 1) / s->pool.page_tokens;
    }
}

/* Admits waiting requests in order while a sequence and their pages are free. Under the lock. */
static void admit(serve_server *s) {
    snug_kv_stats kv;
    snug_context_kv_stats(s->ctx, &kv);
    while (s->waiting_head) {
        serve_request *r = s->waiting_head;
        if (r->cancelled) { /* gone before it started */
            s->waiting_head = r->next;
            if (!s->waiting_head) s->waiting_tail = NULL;
            s->n_waiting--;
            r->state = SERVE_FAILED;
            snprintf(r->error.message, sizeof r->error.message, "the client went away");
            pthread_cond_broadcast(&r->changed);
            continue;
        }
        const int32_t pages = serve_pages_needed(s, r);
        /* The free sequence whose held tokens share the longest prefix with the prompt. */
        snug_seq_id seq = -1;
        int32_t common = -1;
        for (snug_seq_id i = 0; i < s->n_seq; i++) {
            if (s->running[i]) continue;
            const snug_token *held = s->held + (int64_t)i * s->n_ctx;
            const int32_t length = snug_seq_length(s->ctx, i);
            int32_t c = 0;
            while (c < length && c < r->n_prompt && held[c] == r->prompt[c]) c++;
            if (c > common) {
                common = c;
                seq = i;
            }
        }
        if (seq < 0 || s->pages_reserved + pages > kv.pages_total) break;
        s->waiting_head = r->next;
        if (!s->waiting_head) s->waiting_tail = NULL;
        s->n_waiting--;
        /* Keep the shared prefix, less the prompt's last token at least (its logits are needed). */
        const int32_t keep = common < r->n_prompt - 1 ? common : r->n_prompt - 1;
        snug_error err = {0};
        snug_seq_truncate(s->ctx, seq, keep, NULL); /* 0 ≤ keep ≤ its length: cannot fail */
        memcpy(s->held + (int64_t)seq * s->n_ctx, r->prompt, (size_t)r->n_prompt * sizeof *r->prompt);
        if (snug_seq_sampler_init(s->ctx, seq, &r->sampling, &err) != SNUG_OK ||
            snug_seq_accept(s->ctx, seq, r->prompt, (size_t)keep, &err) != SNUG_OK) {
            r->state = SERVE_FAILED;
            r->error = err;
            pthread_cond_broadcast(&r->changed);
            continue;
        }
        r->seq = seq;
        r->n_prefilled = r->n_cached = keep;
        s->metrics.prompt_tokens_cached += (uint64_t)keep;
        r->pages_reserved = pages;
        s->pages_reserved += pages;
        s->running[seq] = r;
        s->n_running++;
        r->state = SERVE_RUNNING;
        pthread_cond_broadcast(&r->changed);
    }
}

/* The longest suffix of text that is a proper prefix of a stop string: bytes that must wait for the next piece. */
static size_t stop_holdback(const serve_request *r) {
    size_t hold = 0;
    for (int i = 0; i < r->n_stops; i++) {
        const size_t len = strlen(r->stops[i]);
        for (size_t k = len - 1; k > hold; k--) {
            if (k <= r->text_len && memcmp(r->text + r->text_len - k, r->stops[i], k) == 0) {
                hold = k;
                break;
            }
        }
    }
    return hold;
}

/* Bytes at the end of text[0 .. len) that are an unfinished UTF-8 character. */
static size_t utf8_incomplete_tail(const char *text, size_t len) {
    for (size_t back = 1; back <= 4 && back <= len; back++) {
        const unsigned char c = (unsigned char)text[len - back];
        if ((c & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

/* Appends a sampled token's piece; cuts the text at a stop string. Returns true when a stop string ended it. Under
 * the lock. */
static bool append_piece(serve_server *s, serve_request *r, snug_token prev, snug_token token) {
    char piece[1024];
    size_t n = snug_token_to_piece(s->model, prev, token, piece, sizeof piece);
    if (r->text_len + n + 1 > r->text_cap) n = r->text_cap - r->text_len - 1; /* cannot happen: sized at admission */
    memcpy(r->text + r->text_len, piece, n);
    r->text_len += n;
    r->text[r->text_len] = '\0';
    for (int i = 0; i < r->n_stops; i++) {
        const size_t len = strlen(r->stops[i]);
        /* Only a match that involves the new bytes is new. */
        const size_t from = r->text_len - n >= len ? r->text_len - n - len + 1 : 0;
        const char *hit = strstr(r->text + from, r->stops[i]);
        if (hit) {
            r->text_len = (size_t)(hit - r->text);
            r->text[r->text_len] = '\0';
            r->visible_len = r->text_len - utf8_incomplete_tail(r->text, r->text_len);
            return true;
        }
    }
    const size_t hold = stop_holdback(r);
    const size_t safe = r->text_len - hold;
    r->visible_len = safe - utf8_incomplete_tail(r->text, safe);
    return false;
}

/* The batch arrays of one step, the engine thread's own (n_seq × n_batch entries at most). */
typedef struct step_batch {
    snug_token *tokens;
    int32_t *positions;
    snug_seq_id *seqs;
    bool *logits;
    size_t n, cap;
    serve_request **owner; /* (n_seq) the request of each sequence with logits in this step, by batch index */
    size_t *logits_index;  /* (n_seq) */
} step_batch;

static void add_token(step_batch *b, snug_token token, int32_t pos, snug_seq_id seq, bool logits) {
    b->tokens[b->n] = token;
    b->positions[b->n] = pos;
    b->seqs[b->n] = seq;
    b->logits[b->n] = logits;
    b->n++;
}

/* Fills the step's batch from the running requests. Under the lock. */
static void build_step(serve_server *s, step_batch *b, int32_t prompt_budget) {
    b->n = 0;
    for (snug_seq_id q = 0; q < s->n_seq; q++) {
        serve_request *r = s->running[q];
        b->owner[q] = NULL;
        if (!r) continue;
        if (r->cancelled) {
            /* The client went away: its pages go back to the pool now (what it computed is not kept for caching). */
            snug_seq_free(s->ctx, q);
            finish(s, r, SERVE_FAILED, NULL);
            snprintf(r->error.message, sizeof r->error.message, "the client went away");
            continue;
        }
        if (r->n_prefilled < r->n_prompt) {
            if (prompt_budget <= 0) continue;
            int32_t chunk = r->n_prompt - r->n_prefilled;
            if (chunk > prompt_budget) chunk = prompt_budget;
            prompt_budget -= chunk;
            for (int32_t i = 0; i < chunk; i++) {
                const int32_t pos = r->n_prefilled + i;
                add_token(b, r->prompt[pos], pos, q, pos + 1 == r->n_prompt);
            }
            r->n_prefilled += chunk;
            if (r->n_prefilled < r->n_prompt) continue; /* no logits yet */
        } else {
            add_token(b, r->last, r->n_prompt + r->n_generated - 1, q, true);
        }
        b->owner[q] = r;
        b->logits_index[q] = b->n - 1;
    }
}

/* After a successful step: sample, append, stop. Under the lock. */
static void after_step(serve_server *s, step_batch *b) {
    for (snug_seq_id q = 0; q < s->n_seq; q++) {
        serve_request *r = b->owner[q];
        if (!r || s->running[q] != r) continue;
        snug_error err = {0};
        snug_token token;
        const float *logits = snug_context_batch_logits(s->ctx, b->logits_index[q]);
        if (snug_seq_sample(s->ctx, q, logits, &token, &err) != SNUG_OK) {
            r->error = err;
            finish(s, r, SERVE_FAILED, NULL);
            continue;
        }
        if (r->n_generated == 0) {
            r->t_first_token = serve_now_s();
            serve_histogram_add(&s->metrics.time_to_first_token, r->t_first_token - r->t_submit);
        }
        const snug_token prev = r->n_generated == 0 ? r->prompt[r->n_prompt - 1] : r->last;
        r->n_generated++;
        s->metrics.generated_tokens++;
        bool stop_token = false;
        for (size_t i = 0; i < r->n_stop_tokens; i++) stop_token |= token == r->stop_tokens[i];
        if (stop_token) {
            r->visible_len = r->text_len - utf8_incomplete_tail(r->text, r->text_len);
            finish(s, r, SERVE_FINISHED, "stop");
            continue;
        }
        r->last = token;
        s->held[(int64_t)q * s->n_ctx + r->n_prompt + r->n_generated - 1] = token; /* where the next step runs it */
        if (append_piece(s, r, prev, token)) {
            finish(s, r, SERVE_FINISHED, "stop");
        } else if (r->n_generated >= r->max_tokens) {
            r->visible_len = r->text_len - utf8_incomplete_tail(r->text, r->text_len);
            finish(s, r, SERVE_FINISHED, "length");
        } else {
            pthread_cond_broadcast(&r->changed);
        }
    }
}

/* A failed step (never for lack of memory: pages are reserved): every request in it fails with the error. */
static void fail_step(serve_server *s, step_batch *b, const snug_error *err) {
    for (snug_seq_id q = 0; q < s->n_seq; q++) {
        serve_request *r = s->running[q];
        if (!r) continue;
        bool in_step = false;
        for (size_t i = 0; i < b->n; i++) in_step |= b->seqs[i] == q;
        if (!in_step) continue;
        r->error = *err;
        finish(s, r, SERVE_FAILED, NULL);
    }
}

void *serve_engine_main(void *server) {
    serve_server *s = server;
    const snug_plan *plan = snug_context_get_plan(s->ctx);
    (void)plan;
    const int32_t prompt_budget = s->options.context.n_batch > 0 ? s->options.context.n_batch : SNUG_DEFAULT_BATCH;
    step_batch b = {0};
    b.cap = (size_t)s->n_seq + (size_t)prompt_budget;
    b.tokens = malloc(b.cap * sizeof *b.tokens);
    b.positions = malloc(b.cap * sizeof *b.positions);
    b.seqs = malloc(b.cap * sizeof *b.seqs);
    b.logits = malloc(b.cap * sizeof *b.logits);
    b.owner = calloc((size_t)s->n_seq, sizeof *b.owner);
    b.logits_index = calloc((size_t)s->n_seq, sizeof *b.logits_index);
    if (!b.tokens || !b.positions || !b.seqs || !b.logits || !b.owner || !b.logits_index) {
        fprintf(stderr, "snug serve: error: out of memory for the engine's batch\n");
        abort();
    }
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        admit(s);
        build_step(s, &b, prompt_budget);
        serve_snapshot_pool(s);
        if (b.n == 0) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 100 * 1000 * 1000; /* wake now and then to notice cancelled waiters */
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&s->work, &s->lock, &until);
            continue;
        }
        for (size_t i = 0; i < b.n; i++) {
            serve_request *r = s->running[b.seqs[i]];
            if (r && b.positions[i] < r->n_prompt) s->metrics.prompt_tokens++;
        }
        pthread_mutex_unlock(&s->lock);
        snug_error err = {0};
        const snug_batch batch = {b.n, b.tokens, b.positions, b.seqs, b.logits};
        const snug_status st = snug_context_run_batch(s->ctx, &batch, &err);
        pthread_mutex_lock(&s->lock);
        if (st == SNUG_OK)
            after_step(s, &b);
        else
            fail_step(s, &b, &err);
        serve_snapshot_pool(s);
    }
    /* Stopping: everything still queued or running ends now. */
    for (snug_seq_id q = 0; q < s->n_seq; q++) {
        serve_request *r = s->running[q];
        if (!r) continue;
        snprintf(r->error.message, sizeof r->error.message, "the server is shutting down");
        r->error.status = SNUG_E_ARGUMENT;
        finish(s, r, SERVE_FAILED, NULL);
    }
    for (serve_request *r = s->waiting_head; r; r = r->next) {
        r->state = SERVE_FAILED;
        snprintf(r->error.message, sizeof r->error.message, "the server is shutting down");
        pthread_cond_broadcast(&r->changed);
    }
    s->waiting_head = s->waiting_tail = NULL;
    s->n_waiting = 0;
    pthread_mutex_unlock(&s->lock);
    free(b.tokens);
    free(b.positions);
    free(b.seqs);
    free(b.logits);
    free(b.owner);
    free(b.logits_index);
    return NULL;
}
