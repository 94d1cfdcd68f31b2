/* http.c — the HTTP side of `snug serve` (libmicrohttpd): routes, the API key, bounded bodies, replies whole or as
 * server-sent events, and one log line per request.
 *
 * One thread per connection (SERVE_MAX_CONNECTIONS at most, SERVE_CONNECTION_TIMEOUT_S of silence, the request line
 * and headers within SERVE_HEADER_MEMORY_BYTES, the body within SERVE_MAX_BODY_BYTES). A generation request waits
 * for its reply on its own condition; meanwhile the connection's socket is watched, and a client that hangs up
 * cancels its request: the engine gives its sequence and pages back at its next step.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "server/server.h"

/* How often a waiting connection looks at its socket and at its request. */
#define WAIT_SLICE_MS 100

typedef struct connection_state {
    char *body;
    size_t len, cap;
    bool too_large;
} connection_state;

/* ---- libmicrohttpd, loaded when the server starts ----------------------------------------------------------------
 * Only `snug serve` needs libmicrohttpd, and linking it would load it — with GnuTLS and its half-dozen libraries — into
 * every snug process: ~1 MiB of resident memory that `snug run`'s plan does not count. It is opened here instead. */
static struct {
    struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc, void *apc_cls,
                                       MHD_AccessHandlerCallback dh, void *dh_cls, ...);
    void (*stop_daemon)(struct MHD_Daemon *daemon);
    const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *daemon, enum MHD_DaemonInfoType info_type, ...);
    struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode);
    struct MHD_Response *(*create_response_from_callback)(uint64_t size, size_t block_size,
                                                          MHD_ContentReaderCallback crc, void *crc_cls,
                                                          MHD_ContentReaderFreeCallback crfc);
    enum MHD_Result (*add_response_header)(struct MHD_Response *response, const char *header, const char *content);
    enum MHD_Result (*queue_response)(struct MHD_Connection *connection, unsigned int status_code,
                                      struct MHD_Response *response);
    void (*destroy_response)(struct MHD_Response *response);
    const char *(*lookup_connection_value)(struct MHD_Connection *connection, enum MHD_ValueKind kind, const char *key);
    const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *connection,
                                                           enum MHD_ConnectionInfoType info_type, ...);
} mhd;

/* The library's soname (Debian's libmicrohttpd12; libmicrohttpd-dev installs it). */
#define MHD_LIBRARY "libmicrohttpd.so.12"

static bool load_libmicrohttpd(void) {
    void *lib = dlopen(MHD_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "snug: error: snug serve needs %s: %s\n", MHD_LIBRARY, dlerror());
        fprintf(stderr, "snug: hint: apt-get install libmicrohttpd12\n");
        return false;
    }
    struct {
        void **slot;
        const char *name;
    } symbols[] = {
        {(void **)&mhd.start_daemon, "MHD_start_daemon"},
        {(void **)&mhd.stop_daemon, "MHD_stop_daemon"},
        {(void **)&mhd.get_daemon_info, "MHD_get_daemon_info"},
        {(void **)&mhd.create_response_from_buffer, "MHD_create_response_from_buffer"},
        {(void **)&mhd.create_response_from_callback, "MHD_create_response_from_callback"},
        {(void **)&mhd.add_response_header, "MHD_add_response_header"},
        {(void **)&mhd.queue_response, "MHD_queue_response"},
        {(void **)&mhd.destroy_response, "MHD_destroy_response"},
        {(void **)&mhd.lookup_connection_value, "MHD_lookup_connection_value"},
        {(void **)&mhd.get_connection_info, "MHD_get_connection_info"},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof *symbols; i++) {
        *symbols[i].slot = dlsym(lib, symbols[i].name);
        if (!*symbols[i].slot) {
            fprintf(stderr, "snug: error: %s has no %s\n", MHD_LIBRARY, symbols[i].name);
            return false;
        }
    }
    return true; /* the library stays loaded for the process's life */
}

/* ---- JSON helpers ---------------------------------------------------------------------------------------------- */

/* A JSON string of text[0 .. n): invalid UTF-8 (a model may emit any bytes) becomes U+FFFD, never a failure. */
static json_t *utf8_string(const char *text, size_t n) {
    json_t *s = json_stringn(text, n);
    if (s) return s;
    char *clean = malloc(3 * n + 1);
    if (!clean) return json_string("");
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char c = (unsigned char)text[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) ok = ((unsigned char)text[i + k] & 0xC0) == 0x80;
        if (ok && json_stringn(text + i, len) == NULL) ok = false; /* overlong, surrogate, > U+10FFFF */
        if (ok) {
            memcpy(clean + out, text + i, len);
            out += len;
            i += len;
        } else {
            memcpy(clean + out, "\xEF\xBF\xBD", 3);
            out += 3;
            i++;
        }
    }
    s = json_stringn(clean, out);
    free(clean);
    return s ? s : json_string("");
}

static json_t *error_json(const serve_http_error *e) {
    return json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", e->message, "type", e->type ? e->type : "",
                     "param", e->param[0] ? json_string(e->param) : json_null(), "code",
                     e->code ? json_string(e->code) : json_null());
}

static enum MHD_Result send_text(serve_server *s, struct MHD_Connection *c, int status, const char *type, char *text,
                                 int retry_after_s) {
    if (!text) return MHD_NO;
    struct MHD_Response *r = mhd.create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    mhd.add_response_header(r, "Content-Type", type);
    if (retry_after_s > 0) {
        char seconds[16];
        snprintf(seconds, sizeof seconds, "%d", retry_after_s);
        mhd.add_response_header(r, "Retry-After", seconds);
    }
    if (status == 401) mhd.add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result result = mhd.queue_response(c, (unsigned)status, r);
    mhd.destroy_response(r);
    serve_count_status(s, status);
    return result;
}

static enum MHD_Result send_json(serve_server *s, struct MHD_Connection *c, int status, json_t *body,
                                 int retry_after_s) {
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return send_text(s, c, status, "application/json", text, retry_after_s);
}

static enum MHD_Result send_error(serve_server *s, struct MHD_Connection *c, const serve_http_error *e) {
    return send_json(s, c, e->status, error_json(e), e->retry_after_s);
}

static enum MHD_Result fail(serve_server *s, struct MHD_Connection *c, int status, const char *type, const char *code,
                            const char *message) {
    serve_http_error e = {.status = status, .type = type, .code = code};
    snprintf(e.message, sizeof e.message, "%s", message);
    return send_error(s, c, &e);
}

/* ---- generation replies ---------------------------------------------------------------------------------------- */

static void log_request(const serve_request *r, int status) {
    const double ttft = r->t_first_token > 0 ? (r->t_first_token - r->t_submit) * 1e3 : -1;
    const double total = ((r->t_done > 0 ? r->t_done : serve_now_s()) - r->t_submit) * 1e3;
    fprintf(stderr, "snug serve: %s %d prompt %d (cached %d) generated %d ttft %.1f ms total %.1f ms%s%s\n", r->id,
            status, r->n_prompt, r->n_cached, r->n_generated, ttft, total, r->finish_reason ? " finish " : "",
            r->finish_reason ? r->finish_reason : "");
}

/* Whether the client hung up (its socket reads end-of-file or an error). */
static bool client_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
    char byte;
    return (p.revents & POLLIN) && recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Waits (under the lock) until the request ends or, with `until_done` false, shows more text than `seen`. Returns
 * false when the client hung up first (the caller then retires the request, which cancels it). */
static bool wait_for_progress(serve_server *s, serve_request *r, size_t seen, bool until_done, int fd) {
    while (r->state == SERVE_WAITING || (r->state == SERVE_RUNNING && (until_done || r->visible_len == seen))) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += WAIT_SLICE_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->changed, &s->lock, &until);
        if ((r->state == SERVE_WAITING || r->state == SERVE_RUNNING) && client_gone(fd)) return false;
    }
    return true;
}

/* The request leaves the engine (cancelled if it is still there), then is freed. */
static void retire(serve_server *s, serve_request *r) {
    pthread_mutex_lock(&s->lock);
    if (r->state == SERVE_WAITING || r->state == SERVE_RUNNING) {
        r->cancelled = true;
        pthread_cond_signal(&s->work);
        while (r->state == SERVE_WAITING || r->state == SERVE_RUNNING) pthread_cond_wait(&r->changed, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    serve_request_release(s, r);
}

static json_t *usage_json(const serve_request *r) {
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", r->n_prompt, "completion_tokens", r->n_generated,
                     "total_tokens", r->n_prompt + r->n_generated, "prompt_tokens_details", "cached_tokens",
                     r->n_cached);
}

static void failure_of(const serve_request *r, serve_http_error *e) {
    e->status = 500;
    e->type = "server_error";
    e->code = r->error.status == SNUG_E_NUMERIC ? "numeric_error" : "internal_error";
    snprintf(e->message, sizeof e->message, "generation failed: %s", r->error.message);
}

/* A whole reply, sent when the request is done. */
static enum MHD_Result reply_whole(serve_server *s, struct MHD_Connection *c, serve_request *r, int fd) {
    pthread_mutex_lock(&s->lock);
    const bool waited = wait_for_progress(s, r, 0, true, fd);
    const bool failed = r->state == SERVE_FAILED;
    pthread_mutex_unlock(&s->lock);
    if (!waited) {
        log_request(r, 499);
        retire(s, r);
        return MHD_NO; /* the client is gone: close */
    }
    if (failed) {
        serve_http_error e = {0};
        failure_of(r, &e);
        log_request(r, e.status);
        retire(s, r);
        return send_error(s, c, &e);
    }
    json_t *choice;
    if (r->kind == SERVE_CHAT) {
        choice = json_pack("{s:i, s:{s:s, s:o}, s:n, s:s}", "index", 0, "message", "role", "assistant", "content",
                           utf8_string(r->text, r->text_len), "logprobs", "finish_reason", r->finish_reason);
    } else {
        choice = json_pack("{s:o, s:i, s:n, s:s}", "text", utf8_string(r->text, r->text_len), "index", 0, "logprobs",
                           "finish_reason", r->finish_reason);
    }
    json_t *body = json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", r->id, "object",
                             r->kind == SERVE_CHAT ? "chat.completion" : "text_completion", "created",
                             (json_int_t)r->created, "model", s->model_id, "choices", choice, "usage", usage_json(r));
    log_request(r, 200);
    retire(s, r);
    return send_json(s, c, 200, body, 0);
}

/* A streamed reply: the content reader produces server-sent events as the text grows. */
typedef struct stream_state {
    serve_server *server;
    serve_request *request;
    int fd;
    size_t sent;    /* bytes of the request's text already in events */
    bool role_sent; /* chat: the first chunk carries the role */
    bool done;      /* the finish chunk (and usage, [DONE]) are in pending */
    char *pending;  /* formatted events not yet handed to libmicrohttpd */
    size_t pending_len, pending_at;
} stream_state;

static void append_event(stream_state *st, json_t *chunk) {
    char *json = chunk ? json_dumps(chunk, JSON_COMPACT) : NULL;
    json_decref(chunk);
    const char *data = json ? json : "{}";
    const size_t need = strlen(data) + 8;
    char *grown = realloc(st->pending, st->pending_len + need + 1);
    if (grown) {
        st->pending = grown;
        st->pending_len += (size_t)snprintf(grown + st->pending_len, need + 1, "data: %s\n\n", data);
    }
    free(json);
}

static json_t *stream_chunk(const stream_state *st, const char *text, size_t n, const char *finish) {
    const serve_request *r = st->request;
    json_t *choice;
    if (r->kind == SERVE_CHAT) {
        json_t *delta = json_object();
        if (!st->role_sent) json_object_set_new(delta, "role", json_string("assistant"));
        if (n > 0 || (!finish && !st->role_sent)) json_object_set_new(delta, "content", utf8_string(text, n));
        choice = json_pack("{s:i, s:o, s:n, s:o}", "index", 0, "delta", delta, "logprobs", "finish_reason",
                           finish ? json_string(finish) : json_null());
    } else {
        choice = json_pack("{s:o, s:i, s:n, s:o}", "text", utf8_string(text, n), "index", 0, "logprobs",
                           "finish_reason", finish ? json_string(finish) : json_null());
    }
    json_t *chunk = json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", r->id, "object",
                              r->kind == SERVE_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                              (json_int_t)r->created, "model", st->server->model_id, "choices", choice);
    if (r->include_usage) json_object_set_new(chunk, "usage", json_null());
    return chunk;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_state *st = cls;
    serve_server *s = st->server;
    serve_request *r = st->request;
    while (st->pending_at == st->pending_len) {
        st->pending_len = st->pending_at = 0;
        if (st->done) return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&s->lock);
        if (!wait_for_progress(s, r, st->sent, false, st->fd)) {
            pthread_mutex_unlock(&s->lock);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        const size_t visible = r->visible_len;
        const serve_state state = r->state;
        pthread_mutex_unlock(&s->lock);
        /* The engine only appends and only moves visible_len forward; text[sent .. visible) is stable. */
        if (visible > st->sent || (!st->role_sent && r->kind == SERVE_CHAT)) {
            append_event(st, stream_chunk(st, r->text + st->sent, visible - st->sent, NULL));
            st->role_sent = true;
            st->sent = visible;
        }
        if (state == SERVE_FAILED) {
            serve_http_error e = {0};
            failure_of(r, &e);
            append_event(st, error_json(&e));
            log_request(r, e.status);
            st->done = true;
        } else if (state == SERVE_FINISHED && st->sent == r->visible_len) {
            append_event(st, stream_chunk(st, "", 0, r->finish_reason));
            if (r->include_usage) {
                json_t *usage =
                    json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", r->id, "object",
                              r->kind == SERVE_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                              (json_int_t)r->created, "model", s->model_id, "choices", "usage", usage_json(r));
                append_event(st, usage);
            }
            const char done[] = "data: [DONE]\n\n";
            char *grown = realloc(st->pending, st->pending_len + sizeof done);
            if (grown) {
                st->pending = grown;
                memcpy(grown + st->pending_len, done, sizeof done - 1);
                st->pending_len += sizeof done - 1;
            }
            log_request(r, 200);
            st->done = true;
        }
    }
    const size_t n = st->pending_len - st->pending_at < max ? st->pending_len - st->pending_at : max;
    memcpy(buf, st->pending + st->pending_at, n);
    st->pending_at += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    stream_state *st = cls;
    if (!st->done) log_request(st->request, 499);
    retire(st->server, st->request);
    free(st->pending);
    free(st);
}

static enum MHD_Result reply_stream(serve_server *s, struct MHD_Connection *c, serve_request *r, int fd) {
    stream_state *st = calloc(1, sizeof *st);
    if (!st) {
        retire(s, r);
        return fail(s, c, 500, "server_error", NULL, "out of memory for a stream");
    }
    *st = (stream_state){s, r, fd, 0, false, false, NULL, 0, 0};
    struct MHD_Response *resp = mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
    if (!resp) {
        stream_free(st);
        return MHD_NO;
    }
    mhd.add_response_header(resp, "Content-Type", "text/event-stream");
    mhd.add_response_header(resp, "Cache-Control", "no-cache");
    enum MHD_Result result = mhd.queue_response(c, 200, resp);
    mhd.destroy_response(resp);
    serve_count_status(s, 200);
    return result;
}

static enum MHD_Result generate(serve_server *s, struct MHD_Connection *c, serve_kind kind,
                                const connection_state *cs) {
    serve_http_error e = {0};
    pthread_mutex_lock(&s->parse_lock);
    serve_request *r = serve_parse_request(s, kind, cs->body ? cs->body : "", cs->len, &e);
    pthread_mutex_unlock(&s->parse_lock);
    if (!r) return send_error(s, c, &e);
    if (!serve_submit(s, r)) {
        serve_request_release(s, r);
        e = (serve_http_error){.status = 503, .type = "server_error", .code = "server_busy", .retry_after_s = 1};
        snprintf(e.message, sizeof e.message,
                 "the server is busy: %d requests are running and the queue of %d is full; retry after a second",
                 s->n_seq, s->options.queue_limit);
        return send_error(s, c, &e);
    }
    const union MHD_ConnectionInfo *info = mhd.get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const int fd = info ? info->connect_fd : -1;
    return r->stream ? reply_stream(s, c, r, fd) : reply_whole(s, c, r, fd);
}

/* ---- routes ------------------------------------------------------------------------------------------------------ */

static bool authorized(const serve_server *s, struct MHD_Connection *c) {
    if (!s->options.api_key) return true;
    const char *header = mhd.lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!header || strncmp(header, "Bearer ", 7) != 0) return false;
    /* Compared in time independent of where they differ. */
    const char *given = header + 7, *key = s->options.api_key;
    const size_t n = strlen(given), m = strlen(key);
    unsigned diff = n != m;
    for (size_t i = 0; i < m; i++) diff |= (unsigned char)key[i] ^ (unsigned char)(i < n ? given[i] : 0);
    return diff == 0;
}

static enum MHD_Result plan_reply(serve_server *s, struct MHD_Connection *c) {
    char *plan_text = snug_plan_render_json(snug_context_get_plan(s->ctx));
    json_t *plan = plan_text ? json_loads(plan_text, 0, NULL) : NULL;
    free(plan_text);
    if (!plan) return fail(s, c, 500, "server_error", NULL, "the plan could not be rendered");
    pthread_mutex_lock(&s->lock);
    const snug_kv_stats kv = s->pool;
    const serve_memory m = serve_memory_bound(s);
    json_object_set_new(plan, "server",
                        json_pack("{s:i, s:I, s:I, s:I}", "connections_max", SERVE_MAX_CONNECTIONS,
                                  "per_connection_bytes", (json_int_t)m.per_connection_bytes, "parse_bytes",
                                  (json_int_t)m.parse_bytes, "bytes", (json_int_t)m.total_bytes));
    const int32_t pages_running = s->pool_pages_running;
    json_object_set_new(plan, "kv_pool",
                        json_pack("{s:i, s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "page_tokens", kv.page_tokens,
                                  "page_bytes", (json_int_t)kv.page_bytes, "pages_total", kv.pages_total, "pages_used",
                                  pages_running, "pages_cached", kv.pages_total - kv.pages_free - pages_running,
                                  "pages_shared", kv.pages_shared, "pages_reserved", s->pages_reserved,
                                  "requests_running", s->n_running, "requests_waiting", s->n_waiting));
    pthread_mutex_unlock(&s->lock);
    return send_json(s, c, 200, plan, 0);
}

static enum MHD_Result route(serve_server *s, struct MHD_Connection *c, const char *url, const char *method,
                             const connection_state *cs) {
    const bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/health") == 0) {
        if (!get) return fail(s, c, 405, "invalid_request_error", NULL, "use GET /health");
        return send_json(s, c, s->ready ? 200 : 503, json_pack("{s:s}", "status", s->ready ? "ok" : "loading"),
                         s->ready ? 0 : 1);
    }
    if (strcmp(url, "/metrics") == 0) {
        if (!get) return fail(s, c, 405, "invalid_request_error", NULL, "use GET /metrics");
        return send_text(s, c, 200, "text/plain; version=0.0.4", serve_render_metrics(s), 0);
    }
    if (strncmp(url, "/v1/", 4) != 0) return fail(s, c, 404, "invalid_request_error", NULL, "no such endpoint");
    if (!authorized(s, c)) {
        return fail(s, c, 401, "invalid_request_error", "invalid_api_key",
                    "Incorrect API key provided: send 'Authorization: Bearer KEY' with the server's --api-key");
    }
    if (cs->too_large) {
        char message[128];
        snprintf(message, sizeof message, "the request body is larger than %d bytes", SERVE_MAX_BODY_BYTES);
        return fail(s, c, 413, "invalid_request_error", "request_too_large", message);
    }
    if (!s->ready) {
        serve_http_error e = {.status = 503, .type = "server_error", .code = "loading", .retry_after_s = 1};
        snprintf(e.message, sizeof e.message, "the model is still loading");
        return send_error(s, c, &e);
    }
    if (strcmp(url, "/v1/models") == 0) {
        if (!get) return fail(s, c, 405, "invalid_request_error", NULL, "use GET /v1/models");
        return send_json(s, c, 200,
                         json_pack("{s:s, s:[{s:s, s:s, s:I, s:s}]}", "object", "list", "data", "id", s->model_id,
                                   "object", "model", "created", (json_int_t)time(NULL), "owned_by", "snug"),
                         0);
    }
    if (strcmp(url, "/v1/plan") == 0) {
        if (!get) return fail(s, c, 405, "invalid_request_error", NULL, "use GET /v1/plan");
        return plan_reply(s, c);
    }
    const bool chat = strcmp(url, "/v1/chat/completions") == 0, completion = strcmp(url, "/v1/completions") == 0;
    if (!chat && !completion) return fail(s, c, 404, "invalid_request_error", NULL, "no such endpoint");
    if (!post) return fail(s, c, 405, "invalid_request_error", NULL, "use POST");
    return generate(s, c, chat ? SERVE_CHAT : SERVE_COMPLETION, cs);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_bytes, void **con_cls) {
    (void)version;
    serve_server *s = cls;
    connection_state *cs = *con_cls;
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_bytes > 0) {
        if (!cs->too_large && cs->len + *upload_bytes > SERVE_MAX_BODY_BYTES) {
            cs->too_large = true;
            free(cs->body);
            cs->body = NULL;
            cs->len = cs->cap = 0;
        }
        if (!cs->too_large) {
            if (cs->len + *upload_bytes + 1 > cs->cap) {
                size_t cap = cs->cap ? cs->cap : 4096;
                while (cap < cs->len + *upload_bytes + 1) cap *= 2;
                if (cap > SERVE_MAX_BODY_BYTES + 1) cap = SERVE_MAX_BODY_BYTES + 1; /* the bound the plan counts */
                char *grown = realloc(cs->body, cap);
                if (!grown) return MHD_NO;
                cs->body = grown;
                cs->cap = cap;
            }
            memcpy(cs->body + cs->len, upload, *upload_bytes);
            cs->len += *upload_bytes;
            cs->body[cs->len] = '\0';
        }
        *upload_bytes = 0;
        return MHD_YES;
    }
    return route(s, c, url, method, cs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    connection_state *cs = *con_cls;
    if (!cs) return;
    free(cs->body);
    free(cs);
    *con_cls = NULL;
}

/* ---- the process ------------------------------------------------------------------------------------------------ */

serve_memory serve_memory_bound(const serve_server *s) {
    const uint64_t text = (uint64_t)s->n_ctx * s->max_piece_bytes + 1;
    const uint64_t request = sizeof(serve_request) + (uint64_t)s->n_ctx * sizeof(snug_token) + text +
                             SERVE_JSON_ESCAPE_FACTOR * text; /* the reply as JSON, whole or in pending events */
    serve_memory m;
    m.per_connection_bytes = SERVE_THREAD_STACK_BYTES + SERVE_HEADER_MEMORY_BYTES + SERVE_MAX_BODY_BYTES + 1 +
                             sizeof(connection_state) + request;
    m.parse_bytes = (uint64_t)SERVE_JSON_BYTES_PER_BODY_BYTE * SERVE_MAX_BODY_BYTES;
    m.total_bytes = (uint64_t)SERVE_MAX_CONNECTIONS * m.per_connection_bytes + m.parse_bytes +
                    (uint64_t)s->n_seq * (uint64_t)s->n_ctx * sizeof(snug_token); /* the held tokens */
    return m;
}

/* The longest piece a token decodes to: sizes each reply's text, and the longest prompt worth tokenizing. */
static uint64_t longest_piece_bytes(const snug_model *m, int32_t n_vocab) {
    uint64_t longest = 1;
    char piece[1024];
    for (snug_token t = 0; t < n_vocab; t++) {
        const size_t n = snug_token_to_piece(m, -1, t, piece, sizeof piece);
        if (n > longest) longest = n;
    }
    return longest;
}

static snug_status load(serve_server *s, snug_error *err) {
    snug_status st = snug_model_load(s->options.model_path, &s->model, err);
    if (st != SNUG_OK) return st;
    snug_model_desc desc;
    snug_model_describe(s->model, &desc);
    s->max_piece_bytes = longest_piece_bytes(s->model, desc.n_vocab);
    /* Planned twice: the first plan resolves the context; the tokenizer's scratch is then sized for the longest text
     * that could still fit it (every token at its longest piece), so any prompt within the context can be tokenized
     * and any longer text is refused as too long without tokenizing it. */
    snug_plan *plan;
    if ((st = snug_plan_create(snug_model_gguf(s->model), &s->options.context, &plan, err)) != SNUG_OK) return st;
    if (snug_plan_fits(plan)) {
        uint64_t input = (uint64_t)snug_plan_n_ctx(plan) * s->max_piece_bytes;
        s->options.context.max_input_bytes = input < SERVE_MAX_BODY_BYTES ? input : SERVE_MAX_BODY_BYTES;
        snug_plan_free(plan);
        if ((st = snug_plan_create(snug_model_gguf(s->model), &s->options.context, &plan, err)) != SNUG_OK) return st;
    }
    if (!snug_plan_fits(plan)) {
        st = snug_plan_refusal(plan, err);
        snug_plan_free(plan);
        return st == SNUG_OK ? SNUG_E_DOES_NOT_FIT : st;
    }
    s->max_input_bytes = s->options.context.max_input_bytes;
    char summary[256];
    snug_plan_summary(plan, summary, sizeof summary);
    fprintf(stderr, "snug serve: %s\n", summary);
    st = snug_context_create_planned(s->model, plan, &s->ctx, err);
    snug_plan_free(plan);
    if (st != SNUG_OK) return st;
    snug_model_desc d;
    snug_model_describe(s->model, &d);
    s->n_ctx = snug_context_n_ctx(s->ctx);
    s->n_seq = snug_context_n_seq_max(s->ctx);
    s->n_vocab = d.n_vocab;
    if (!s->options.template_name || snug_chat_template_lookup(s->options.template_name, &s->tmpl, err) != SNUG_OK)
        snug_chat_template_of_gguf(snug_model_gguf(s->model), &s->tmpl);
    /* The server's own memory must fit beside the plan, or nothing starts. */
    const serve_memory m = serve_memory_bound(s);
    const snug_plan *p = snug_context_get_plan(s->ctx);
    s->memory_bytes = m.total_bytes;
    if (snug_plan_total_bytes(p) + m.total_bytes > snug_plan_budget_bytes(p)) {
        err->status = SNUG_E_DOES_NOT_FIT;
        snprintf(err->message, sizeof err->message,
                 "the server needs up to %.1f MiB (%d connections × %.1f MiB, and %.1f MiB to parse a body) beside the "
                 "plan's %.1f MiB; the budget is %.1f MiB",
                 m.total_bytes / 1048576.0, SERVE_MAX_CONNECTIONS, m.per_connection_bytes / 1048576.0,
                 m.parse_bytes / 1048576.0, snug_plan_total_bytes(p) / 1048576.0,
                 snug_plan_budget_bytes(p) / 1048576.0);
        snprintf(err->hint, sizeof err->hint, "use a smaller --ctx or --parallel, or give the server more memory");
        return err->status;
    }
    fprintf(stderr,
            "snug serve: server memory up to %.1f MiB beside the plan (%d connections × %.1f MiB, parsing "
            "%.1f MiB)\n",
            m.total_bytes / 1048576.0, SERVE_MAX_CONNECTIONS, m.per_connection_bytes / 1048576.0,
            m.parse_bytes / 1048576.0);
    s->running = calloc((size_t)s->n_seq, sizeof *s->running);
    s->held = calloc((size_t)s->n_seq * (size_t)s->n_ctx, sizeof *s->held);
    if (!s->running || !s->held) {
        err->status = SNUG_E_OUT_OF_MEMORY;
        snprintf(err->message, sizeof err->message, "out of memory for the server's table of %d sequences", s->n_seq);
        return err->status;
    }
    return SNUG_OK;
}

/* Stops listening (connection threads finish their replies first) and frees the model and the context. */
static void unload(serve_server *s, struct MHD_Daemon *daemon) {
    mhd.stop_daemon(daemon);
    snug_context_free(s->ctx);
    snug_model_free(s->model);
    free(s->running);
    free(s->held);
}

int serve_run(serve_server *s) {
    if (!load_libmicrohttpd()) return 1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->parse_lock, NULL);
    pthread_cond_init(&s->work, NULL);
    /* SIGINT and SIGTERM are taken by sigwait below, in no other thread. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->options.port)};
    const char *host = strcmp(s->options.host, "localhost") == 0 ? "127.0.0.1" : s->options.host;
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "snug: error: --host '%s' is not an IPv4 address\n", s->options.host);
        return 2;
    }
    struct MHD_Daemon *daemon = mhd.start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVE_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVE_CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)SERVE_HEADER_MEMORY_BYTES, MHD_OPTION_THREAD_STACK_SIZE, (size_t)SERVE_THREAD_STACK_BYTES,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "snug: error: cannot listen on %s:%d (in use, or not an address of this machine)\n",
                s->options.host, s->options.port);
        return 1;
    }
    const union MHD_DaemonInfo *bound = mhd.get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "snug serve: listening on http://%s:%u\n", host, bound ? bound->port : (unsigned)s->options.port);

    snug_error err = {0};
    int code = 0;
    if (load(s, &err) != SNUG_OK) {
        fprintf(stderr, "snug: error: %s\n", err.message);
        if (err.hint[0]) fprintf(stderr, "snug: hint: %s\n", err.hint);
        code = err.status == SNUG_E_DOES_NOT_FIT ? 3 : err.status == SNUG_E_IO || err.status == SNUG_E_FORMAT ? 2 : 1;
        unload(s, daemon);
        return code;
    }
    serve_snapshot_pool(s);
    if (pthread_create(&s->engine_thread, NULL, serve_engine_main, s) != 0) {
        fprintf(stderr, "snug: error: cannot start the engine thread\n");
        unload(s, daemon);
        return 1;
    }
    pthread_mutex_lock(&s->lock);
    s->ready = true;
    pthread_mutex_unlock(&s->lock);
    fprintf(stderr, "snug serve: ready: %s, %d sequences of up to %d tokens, queue %d\n", s->model_id, s->n_seq,
            s->n_ctx, s->options.queue_limit);

    int signal_number = 0;
    sigwait(&signals, &signal_number);
    fprintf(stderr, "snug serve: %s: stopping\n", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->engine_thread, NULL);
    unload(s, daemon);
    return code;
}
