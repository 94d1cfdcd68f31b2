/* fuzz_request.c — harness (d): the HTTP server's request parser, serve_parse_request (src/server/request.c).
 *
 * Byte 0 picks the endpoint (bit 0: 0 chat, 1 completion: the serve_kind values); the rest is the request body, in a
 * buffer of exactly its size with no NUL after it (libmicrohttpd hands the parser the bytes it received, no more).
 * The server is set up once per process as `snug serve` sets it up (src/server/http.c), over the bundled demo model
 * (models/snug-demo-stories.gguf, relative to the repository root, where the tests and fuzzers run): one sequence of
 * 256 tokens, one thread, mapped weights; no engine thread and no HTTP daemon, since parsing touches neither.
 *
 * Invariants: the answer is a request or an error, never neither. A request has a prompt of 1 … n_ctx − 1 tokens
 * inside the vocabulary, 1 ≤ max_tokens ≤ n_ctx − n_prompt, a reply buffer of max_tokens × max_piece_bytes + 1
 * bytes (the engine thread never allocates), at most SERVE_MAX_STOPS stop strings each of 1 … SERVE_MAX_STOP_BYTES
 * bytes and terminated, stop tokens inside the vocabulary, sampling parameters inside the ranges the parser checks,
 * include_usage only with stream, and no error recorded. An error has status 400, 413 or 500, a non-empty terminated
 * message, a type and a terminated param. The request is freed as the parser's own failure path frees it (prompt,
 * text, the request): serve_request_release also destroys the request's condition variable, which only
 * serve_submit initialises.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/common.h"
#include "server/server.h"

#define DEMO_MODEL "models/snug-demo-stories.gguf"

enum { FUZZ_REQUEST_CTX = 256 };

/* The server, once per process; kept for the process's life (still reachable: no leak report). */
static serve_server *fuzz_server(void) {
    static serve_server *s;
    if (s) return s;
    if (access(DEMO_MODEL, R_OK) != 0)
        snug_fuzz_fail("cannot read %s: run from the repository root (the demo model is checked in there)", DEMO_MODEL);
    s = calloc(1, sizeof *s);
    if (!s) snug_fuzz_fail("out of memory for the server");
    s->options.model_path = DEMO_MODEL;
    s->options.queue_limit = SERVE_DEFAULT_QUEUE;
    s->options.context.n_ctx = FUZZ_REQUEST_CTX;
    s->options.context.n_parallel = 1;
    s->options.context.n_threads = 1;
    s->options.context.weights = SNUG_WEIGHTS_MAPPED;
    snprintf(s->model_id, sizeof s->model_id, "snug-demo-stories");
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->parse_lock, NULL);
    pthread_cond_init(&s->work, NULL);

    snug_error err = snug_fuzz_error();
    snug_status st = snug_model_load(DEMO_MODEL, &s->model, &err);
    if (st != SNUG_OK) snug_fuzz_fail("loading %s: %s", DEMO_MODEL, err.message);
    snug_model_desc d;
    snug_model_describe(s->model, &d);
    s->max_piece_bytes = 1;
    char piece[1024];
    for (snug_token t = 0; t < d.n_vocab; t++) {
        const size_t n = snug_token_to_piece(s->model, -1, t, piece, sizeof piece);
        if (n > s->max_piece_bytes) s->max_piece_bytes = n;
    }
    /* As http.c's load: the tokenizer takes the longest text that could still fit the context, and the parser
     * refuses a longer part untokenized. */
    const uint64_t input = (uint64_t)FUZZ_REQUEST_CTX * s->max_piece_bytes;
    s->options.context.max_input_bytes = input < SERVE_MAX_BODY_BYTES ? input : SERVE_MAX_BODY_BYTES;
    s->max_input_bytes = s->options.context.max_input_bytes;
    err = snug_fuzz_error();
    st = snug_context_create(s->model, &s->options.context, &s->ctx, &err);
    if (st != SNUG_OK) snug_fuzz_fail("a context of %d tokens for %s: %s", FUZZ_REQUEST_CTX, DEMO_MODEL, err.message);
    s->n_ctx = snug_context_n_ctx(s->ctx);
    s->n_seq = snug_context_n_seq_max(s->ctx);
    s->n_vocab = d.n_vocab;
    snug_chat_template_of_gguf(snug_model_gguf(s->model), &s->tmpl);
    s->running = calloc((size_t)s->n_seq, sizeof *s->running);
    if (!s->running) snug_fuzz_fail("out of memory for %d sequences", s->n_seq);
    if (s->n_ctx != FUZZ_REQUEST_CTX || s->n_seq != 1 || s->n_vocab <= 0)
        snug_fuzz_fail("the demo context has n_ctx %d, %d sequences, %d tokens", s->n_ctx, s->n_seq, s->n_vocab);
    s->ready = true;
    return s;
}

static void check_request(const serve_server *s, serve_kind kind, const serve_request *r, const serve_http_error *e) {
    if (e->status != 0) snug_fuzz_fail("a request came back with error status %d recorded", e->status);
    if (r->kind != kind) snug_fuzz_fail("a request of kind %d came back as kind %d", (int)kind, (int)r->kind);
    if (r->prompt == NULL || r->n_prompt < 1 || r->n_prompt >= s->n_ctx)
        snug_fuzz_fail("a prompt of %d tokens in a context of %d", r->n_prompt, s->n_ctx);
    for (int32_t i = 0; i < r->n_prompt; i++) {
        if (r->prompt[i] < 0 || r->prompt[i] >= s->n_vocab)
            snug_fuzz_fail("prompt token %d is %d, outside the vocabulary of %d", i, r->prompt[i], s->n_vocab);
    }
    if (r->max_tokens < 1 || (int64_t)r->n_prompt + r->max_tokens > s->n_ctx)
        snug_fuzz_fail("max_tokens %d after a prompt of %d tokens in a context of %d", r->max_tokens, r->n_prompt,
                       s->n_ctx);
    if (r->text == NULL || r->text_cap < (size_t)r->max_tokens * s->max_piece_bytes + 1)
        snug_fuzz_fail("a reply buffer of %zu bytes for %d tokens of up to %llu bytes", r->text_cap, r->max_tokens,
                       (unsigned long long)s->max_piece_bytes);
    if (r->text[0] != '\0' || r->text_len != 0 || r->visible_len != 0)
        snug_fuzz_fail("a new request's reply is not empty");
    r->text[r->text_cap - 1] = '\0'; /* the whole buffer exists (ASan) */
    if (r->n_stops < 0 || r->n_stops > SERVE_MAX_STOPS)
        snug_fuzz_fail("%d stop strings (at most %d)", r->n_stops, SERVE_MAX_STOPS);
    for (int i = 0; i < r->n_stops; i++) {
        const size_t n = strnlen(r->stops[i], sizeof r->stops[i]);
        if (n == 0 || n > SERVE_MAX_STOP_BYTES)
            snug_fuzz_fail("stop string %d is %zu bytes (1 to %d, terminated)", i, n, SERVE_MAX_STOP_BYTES);
    }
    if (r->n_stop_tokens > SERVE_MAX_STOP_TOKENS)
        snug_fuzz_fail("%zu stop tokens (at most %d)", r->n_stop_tokens, SERVE_MAX_STOP_TOKENS);
    for (size_t i = 0; i < r->n_stop_tokens; i++) {
        if (r->stop_tokens[i] < 0 || r->stop_tokens[i] >= s->n_vocab)
            snug_fuzz_fail("stop token %zu is %d, outside the vocabulary of %d", i, r->stop_tokens[i], s->n_vocab);
    }
    const snug_sampler_params *p = &r->sampling;
    if (!(p->temperature >= 0 && p->temperature <= 2) || !(p->top_p > 0 && p->top_p <= 1) ||
        !(p->min_p >= 0 && p->min_p <= 1) || !(p->repeat_penalty >= 1e-3f && p->repeat_penalty <= 10) || p->top_k < 0)
        snug_fuzz_fail("sampling out of range: temperature %g, top_p %g, min_p %g, repeat_penalty %g, top_k %d",
                       (double)p->temperature, (double)p->top_p, (double)p->min_p, (double)p->repeat_penalty,
                       (int)p->top_k);
    if (r->include_usage && !r->stream) snug_fuzz_fail("include_usage without stream");
}

static void check_error(const serve_http_error *e) {
    if (e->status != 400 && e->status != 413 && e->status != 500)
        snug_fuzz_fail("no request, and error status %d (400, 413 or 500 expected)", e->status);
    const size_t message = strnlen(e->message, sizeof e->message);
    if (message == 0 || message == sizeof e->message)
        snug_fuzz_fail("error %d with an empty or unterminated message", e->status);
    if (e->type == NULL || e->type[0] == '\0') snug_fuzz_fail("error %d (%s) without a type", e->status, e->message);
    if (strnlen(e->param, sizeof e->param) == sizeof e->param)
        snug_fuzz_fail("error %d (%s) with an unterminated param", e->status, e->message);
    if (e->code) (void)snug_fuzz_touch(e->code, strlen(e->code));
    if (e->retry_after_s < 0) snug_fuzz_fail("error %d with Retry-After %d", e->status, e->retry_after_s);
}

void snug_fuzz_request(const uint8_t *data, size_t size) {
    if (size == 0) return;
    serve_server *s = fuzz_server();
    const serve_kind kind = (data[0] & 1) ? SERVE_COMPLETION : SERVE_CHAT;
    /* The body alone in a buffer of its size (one byte for an empty one), so that a read past it is a report. */
    const size_t bytes = size - 1;
    char *body = malloc(bytes ? bytes : 1);
    if (!body) snug_fuzz_fail("out of memory for a body of %zu bytes", bytes);
    if (bytes) memcpy(body, data + 1, bytes);

    serve_http_error e;
    memset(&e, 0, sizeof e); /* as http.c hands it over */
    serve_request *r = serve_parse_request(s, kind, body, bytes, &e);
    if (r) {
        check_request(s, kind, r, &e);
        free(r->prompt);
        free(r->text);
        free(r);
    } else {
        check_error(&e);
    }
    free(body);
}

#ifdef SNUG_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    snug_fuzz_request(data, size);
    return 0;
}
#endif
