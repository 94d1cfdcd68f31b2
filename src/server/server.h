/* server.h — `snug serve`: an OpenAI-compatible HTTP server over one context of many sequences.
 *
 * Threads: libmicrohttpd runs one thread per connection (bounded by SERVE_MAX_CONNECTIONS); it parses and checks a
 * request (request.c), tokenizes it under the server's tokenizer lock, and submits it to the one engine thread
 * (scheduler.c), which owns the context: it admits waiting requests, runs one batch a step holding every running
 * request's next tokens (a prompt in chunks, or the last sampled token), samples, detokenizes and stops. The
 * connection thread waits on its request's condition and writes the reply, whole or as server-sent events.
 *
 * Admission control (the contract "a reply never dies half-way"): a request is admitted when a sequence is free and
 * the KV pool can hold its prompt plus its max_tokens (clamped to the context) — reserved up front, so an admitted
 * request never fails for lack of memory. Others wait in a queue of at most --queue requests; past it the answer is
 * 503 with Retry-After. All shared state is under serve_server.lock.
 */
#ifndef SNUG_SERVER_SERVER_H
#define SNUG_SERVER_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snug.h"

enum {
    SERVE_MAX_BODY_BYTES = 1 << 20,    /* a request body past this is 413 */
    SERVE_MAX_CONNECTIONS = 256,       /* libmicrohttpd refuses more at accept */
    SERVE_CONNECTION_TIMEOUT_S = 60,   /* a client silent this long is dropped */
    SERVE_HEADER_MEMORY_BYTES = 32768, /* per connection, for the request line and headers */
    SERVE_MAX_STOPS = 4,               /* OpenAI's limit on `stop` strings */
    SERVE_MAX_STOP_BYTES = 256,
    SERVE_DEFAULT_QUEUE = 64,
    SERVE_THREAD_STACK_BYTES = 256 << 10, /* each connection thread's stack (libmicrohttpd's default is 8 MiB) */
    /* A parsed body's JSON tree, per byte of body: a jansson value is ~24-32 bytes with its allocation, and the
     * densest body ("[1,1,…") has one value per 2 bytes; bodies are parsed one at a time (the parse lock). */
    SERVE_JSON_BYTES_PER_BODY_BYTE = 24,
    SERVE_JSON_ESCAPE_FACTOR = 6, /* a byte of text is at most 6 in a JSON string ("\u00XX") */
    SERVE_MAX_STOP_TOKENS = SNUG_CHAT_MAX_STOP_TOKENS,
};

typedef enum serve_kind { SERVE_CHAT, SERVE_COMPLETION } serve_kind;

typedef enum serve_state {
    SERVE_WAITING,  /* in the queue */
    SERVE_RUNNING,  /* holds a sequence */
    SERVE_FINISHED, /* done: finish_reason set */
    SERVE_FAILED,   /* error set; nothing more comes */
} serve_state;

typedef struct serve_request {
    /* Set by the connection thread before submission, read-only afterwards. */
    serve_kind kind;
    char id[48];
    int64_t created; /* Unix seconds */
    bool stream, include_usage;
    int32_t max_tokens; /* after clamping to the context */
    snug_sampler_params sampling;
    char stops[SERVE_MAX_STOPS][SERVE_MAX_STOP_BYTES + 1];
    int n_stops;
    snug_token stop_tokens[SERVE_MAX_STOP_TOKENS];
    size_t n_stop_tokens;
    snug_token *prompt; /* (n_prompt) */
    int32_t n_prompt;
    int32_t pages_reserved;
    double t_submit;

    /* Under the server lock. */
    serve_state state;
    bool cancelled; /* the client went away: the engine frees the sequence at its next step */
    snug_seq_id seq;
    int32_t n_prefilled; /* prompt tokens in the KV cache */
    int32_t n_cached;    /* of which were already there: a prefix another request left (prompt caching) */
    int32_t n_generated;
    snug_token last; /* the token to run next (the last one sampled) */
    char *text;      /* (text_cap) the reply so far, stop strings cut */
    size_t text_len, text_cap;
    size_t visible_len; /* bytes that may be sent: whole UTF-8 characters, no possible start of a stop string */
    const char *finish_reason;
    snug_error error;
    double t_first_token, t_done;
    pthread_cond_t changed;
    struct serve_request *next; /* queue / running list */
} serve_request;

/* Fixed histogram buckets (seconds) for /metrics. */
#define SERVE_HISTOGRAM_BUCKETS 12
typedef struct serve_histogram {
    uint64_t counts[SERVE_HISTOGRAM_BUCKETS + 1]; /* the last: +Inf */
    double sum;
    uint64_t count;
} serve_histogram;

typedef struct serve_metrics {
    uint64_t requests_by_status[6]; /* 200, 400, 401, 404/405/413, 503, 500 and others */
    uint64_t prompt_tokens, generated_tokens;
    uint64_t prompt_tokens_cached; /* prompt tokens not computed: their keys and values were kept from before */
    serve_histogram time_to_first_token, time_per_output_token;
} serve_metrics;

typedef struct serve_options {
    const char *model_path;
    const char *host;
    int port;
    const char *api_key;
    int32_t queue_limit;
    snug_context_params context;
    const char *template_name; /* NULL: the model's */
} serve_options;

typedef struct serve_server {
    serve_options options;
    char model_id[128];
    snug_model *model;
    snug_context *ctx;
    snug_chat_template tmpl;
    int32_t n_ctx, n_seq, n_vocab;
    uint64_t max_piece_bytes;
    uint64_t max_input_bytes; /* a text part longer than this cannot fit the context (it is refused untokenized) */
    bool ready;               /* the model is loaded: /health is 200 */
    bool stopping;            /* SIGTERM / SIGINT */

    pthread_mutex_t lock;
    pthread_cond_t work;        /* the engine thread waits here for requests */
    pthread_mutex_t parse_lock; /* one body parsed (and tokenized) at a time: bounds the JSON trees in memory, and
                                   the tokenizer's scratch is the context's, one */
    uint64_t memory_bytes;      /* serve_memory_bytes, checked against the plan's budget at start */
    serve_request *waiting_head, *waiting_tail;
    int32_t n_waiting;
    serve_request **running; /* (n_seq) by sequence; NULL: free */
    /* (n_seq, n_ctx) the tokens whose keys and values each sequence holds: a finished request's sequence keeps them,
     * and the next request that shares a prefix with them continues from there (prompt caching). */
    snug_token *held;
    int32_t n_running;
    int32_t pages_reserved; /* by running requests */
    uint64_t next_id;
    serve_metrics metrics;
    /* The KV pool as the engine thread last saw it (it alone touches the context; readers take this, under the lock).
     */
    snug_kv_stats pool;
    int32_t pool_pages_running; /* of the pages in use, those running requests hold; the rest are kept for caching */
    pthread_t engine_thread;
} serve_server;

/* The server's own memory at most, beside the plan (which it is checked with at start): per connection its thread's
 * stack, its header memory, its body, and its request (prompt tokens and the reply's text, raw and as JSON); plus one
 * body's JSON tree. */
typedef struct serve_memory {
    uint64_t per_connection_bytes;
    uint64_t parse_bytes;
    uint64_t total_bytes; /* SERVE_MAX_CONNECTIONS × per_connection_bytes + parse_bytes */
} serve_memory;
serve_memory serve_memory_bound(const serve_server *s);

/* scheduler.c */
void *serve_engine_main(void *server);
/* Queues a request (SERVE_WAITING), or returns false when the queue is full (503). Under no lock. */
bool serve_submit(serve_server *s, serve_request *r);
/* Whether the request could ever be admitted (pages for its prompt and max_tokens exist at all). */
int32_t serve_pages_needed(const serve_server *s, const serve_request *r);
void serve_request_release(serve_server *s, serve_request *r);

/* request.c: a parsed body → a request, or a 400 with the field named. */
typedef struct serve_http_error {
    int status;
    char message[1024];
    const char *type;  /* "invalid_request_error", "server_error", … */
    char param[64];    /* "" for null */
    const char *code;  /* NULL for null */
    int retry_after_s; /* > 0: a Retry-After header */
} serve_http_error;
serve_request *serve_parse_request(serve_server *s, serve_kind kind, const char *body, size_t bytes,
                                   serve_http_error *e);

/* scheduler.c: refreshes s->pool from the context (the engine thread, under the lock; or before it starts). */
void serve_snapshot_pool(serve_server *s);

/* http.c */
int serve_run(serve_server *s);

/* metrics.c */
void serve_histogram_add(serve_histogram *h, double seconds);
char *serve_render_metrics(serve_server *s); /* malloc'd; takes the lock */
void serve_count_status(serve_server *s, int status);

double serve_now_s(void);

#endif
