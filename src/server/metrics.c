/* metrics.c — /metrics in the Prometheus text format: requests running and waiting, KV pages, token counters,
 * replies by HTTP status, and histograms of time to first token and time per output token. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

/* Upper bounds in seconds: from a few milliseconds (a token of a small model) to a minute (a long prompt queued). */
static const double bucket_bounds[SERVE_HISTOGRAM_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                              0.5,   1,    2.5,   5,    10,  60};

double serve_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void serve_histogram_add(serve_histogram *h, double seconds) {
    int b = 0;
    while (b < SERVE_HISTOGRAM_BUCKETS && seconds > bucket_bounds[b]) b++;
    h->counts[b]++;
    h->sum += seconds;
    h->count++;
}

static const int status_codes[6] = {200, 400, 401, 404, 503, 500};

void serve_count_status(serve_server *s, int status) {
    int slot = 5;
    if (status == 200)
        slot = 0;
    else if (status == 400)
        slot = 1;
    else if (status == 401)
        slot = 2;
    else if (status == 404 || status == 405 || status == 413)
        slot = 3;
    else if (status == 503)
        slot = 4;
    pthread_mutex_lock(&s->lock);
    s->metrics.requests_by_status[slot]++;
    pthread_mutex_unlock(&s->lock);
}

typedef struct text_buffer {
    char *data;
    size_t len, cap;
} text_buffer;

static void put(text_buffer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_buffer *t, const char *fmt, ...) {
    if (!t->data) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        char *bigger = realloc(t->data, t->cap * 2 + (size_t)n);
        if (!bigger) {
            free(t->data);
            t->data = NULL;
            return;
        }
        t->data = bigger;
        t->cap = t->cap * 2 + (size_t)n;
    }
}

static void put_histogram(text_buffer *t, const char *name, const char *help, const serve_histogram *h) {
    put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cumulative = 0;
    for (int b = 0; b < SERVE_HISTOGRAM_BUCKETS; b++) {
        cumulative += h->counts[b];
        put(t, "%s_bucket{le=\"%g\"} %llu\n", name, bucket_bounds[b], (unsigned long long)cumulative);
    }
    cumulative += h->counts[SERVE_HISTOGRAM_BUCKETS];
    put(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)cumulative, name,
        h->sum, name, (unsigned long long)h->count);
}

char *serve_render_metrics(serve_server *s) {
    text_buffer t = {malloc(4096), 0, 4096};
    pthread_mutex_lock(&s->lock);
    const snug_kv_stats kv = s->pool; /* the engine thread's last snapshot (zeros while loading) */
    const int32_t pages_running = s->pool_pages_running;
    put(&t,
        "# HELP snug_requests_running Requests holding a sequence.\n# TYPE snug_requests_running gauge\n"
        "snug_requests_running %d\n",
        s->n_running);
    put(&t,
        "# HELP snug_requests_waiting Requests in the admission queue.\n# TYPE snug_requests_waiting gauge\n"
        "snug_requests_waiting %d\n",
        s->n_waiting);
    put(&t,
        "# HELP snug_kv_pages_used KV pool pages held by running requests.\n# TYPE snug_kv_pages_used gauge\n"
        "snug_kv_pages_used %d\n",
        pages_running);
    put(&t,
        "# HELP snug_kv_pages_cached KV pool pages finished requests left for prompt caching.\n"
        "# TYPE snug_kv_pages_cached gauge\nsnug_kv_pages_cached %d\n",
        kv.pages_total - kv.pages_free - pages_running);
    put(&t,
        "# HELP snug_kv_pages_reserved KV pool pages reserved by admitted requests.\n"
        "# TYPE snug_kv_pages_reserved gauge\nsnug_kv_pages_reserved %d\n",
        s->pages_reserved);
    put(&t,
        "# HELP snug_kv_pages_total KV pool pages planned.\n# TYPE snug_kv_pages_total gauge\n"
        "snug_kv_pages_total %d\n",
        kv.pages_total);
    put(&t,
        "# HELP snug_prompt_tokens_total Prompt tokens computed.\n# TYPE snug_prompt_tokens_total counter\n"
        "snug_prompt_tokens_total %llu\n",
        (unsigned long long)s->metrics.prompt_tokens);
    put(&t,
        "# HELP snug_prompt_tokens_cached_total Prompt tokens not computed: kept from an earlier request.\n"
        "# TYPE snug_prompt_tokens_cached_total counter\nsnug_prompt_tokens_cached_total %llu\n",
        (unsigned long long)s->metrics.prompt_tokens_cached);
    put(&t,
        "# HELP snug_generated_tokens_total Tokens generated.\n# TYPE snug_generated_tokens_total counter\n"
        "snug_generated_tokens_total %llu\n",
        (unsigned long long)s->metrics.generated_tokens);
    put(&t, "# HELP snug_http_requests_total Requests answered, by status (404 counts 404, 405 and 413).\n"
            "# TYPE snug_http_requests_total counter\n");
    for (int i = 0; i < 6; i++) {
        put(&t, "snug_http_requests_total{status=\"%d\"} %llu\n", status_codes[i],
            (unsigned long long)s->metrics.requests_by_status[i]);
    }
    put_histogram(&t, "snug_time_to_first_token_seconds", "From a request's arrival to its first token.",
                  &s->metrics.time_to_first_token);
    put_histogram(&t, "snug_time_per_output_token_seconds", "Per request: (last token − first token) / (tokens − 1).",
                  &s->metrics.time_per_output_token);
    pthread_mutex_unlock(&s->lock);
    return t.data;
}
