/* request.c — an OpenAI request body (chat or completion) checked field by field into a serve_request.
 *
 * Every field is either honoured, or refused with a 400 whose `param` names it; none is ignored silently. Accepted:
 * model (any: the server has one), messages / prompt, max_tokens (max_completion_tokens), temperature, top_p, top_k,
 * min_p, seed, stop, stream, stream_options.include_usage, n = 1, presence_penalty / frequency_penalty = 0,
 * repeat_penalty (snug's sampler), logprobs = false, user. The chat's messages go through the model's chat template
 * as `snug chat` lays them out: template markers may be special tokens, what users wrote never is.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

static serve_request *bad(serve_http_error *e, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static serve_request *bad(serve_http_error *e, const char *param, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    e->status = 400;
    e->type = "invalid_request_error";
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    e->code = code;
    return NULL;
}

/* A number field within [min, max]; absent or null leaves *out. */
static bool number_field(json_t *root, const char *name, double min, double max, double *out, serve_http_error *e) {
    json_t *v = json_object_get(root, name);
    if (!v || json_is_null(v)) return true;
    if (!json_is_number(v)) {
        bad(e, name, NULL, "'%s' must be a number", name);
        return false;
    }
    const double x = json_number_value(v);
    if (!(x >= min && x <= max)) {
        bad(e, name, NULL, "'%s' is %g; it must be in [%g, %g]", name, x, min, max);
        return false;
    }
    *out = x;
    return true;
}

static bool integer_field(json_t *root, const char *name, int64_t min, int64_t max, int64_t *out, serve_http_error *e) {
    json_t *v = json_object_get(root, name);
    if (!v || json_is_null(v)) return true;
    if (!json_is_integer(v)) {
        bad(e, name, NULL, "'%s' must be an integer", name);
        return false;
    }
    const json_int_t x = json_integer_value(v);
    if (x < min || x > max) {
        bad(e, name, NULL, "'%s' is %lld; it must be in [%lld, %lld]", name, (long long)x, (long long)min,
            (long long)max);
        return false;
    }
    *out = x;
    return true;
}

static bool bool_field(json_t *root, const char *name, bool *out, serve_http_error *e) {
    json_t *v = json_object_get(root, name);
    if (!v || json_is_null(v)) return true;
    if (!json_is_boolean(v)) {
        bad(e, name, NULL, "'%s' must be true or false", name);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* The fields a body may hold; any other is refused by name. Both endpoints take the shared ones. */
static const char *const shared_fields[] = {"model",
                                            "max_tokens",
                                            "temperature",
                                            "top_p",
                                            "top_k",
                                            "min_p",
                                            "seed",
                                            "stop",
                                            "stream",
                                            "stream_options",
                                            "n",
                                            "presence_penalty",
                                            "frequency_penalty",
                                            "repeat_penalty",
                                            "logprobs",
                                            "user",
                                            NULL};
static const char *const chat_fields[] = {"messages", "max_completion_tokens", "top_logprobs", NULL};
static const char *const completion_fields[] = {"prompt", "echo", NULL};

static bool known_field(const char *const *fields, const char *key) {
    for (; *fields; fields++) {
        if (strcmp(*fields, key) == 0) return true;
    }
    return false;
}

/* The text of a message's content: a string, or an array of {"type": "text", "text": …} parts joined. */
static bool message_text(json_t *content, char **out, size_t *bytes, serve_http_error *e) {
    if (json_is_string(content)) {
        *bytes = json_string_length(content);
        *out = malloc(*bytes + 1);
        if (!*out) {
            bad(e, "messages", NULL, "out of memory for a message of %zu bytes", *bytes);
            e->status = 500;
            return false;
        }
        memcpy(*out, json_string_value(content), *bytes + 1);
        return true;
    }
    if (!json_is_array(content)) {
        bad(e, "messages", NULL, "a message's content must be a string or an array of text parts");
        return false;
    }
    size_t total = 0, i;
    json_t *part;
    json_array_foreach(content, i, part) {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") != 0 || !json_is_string(text)) {
            bad(e, "messages", NULL,
                "content part %zu is not {\"type\": \"text\", \"text\": …}; only text is supported", i);
            return false;
        }
        total += json_string_length(text);
    }
    *out = malloc(total + 1);
    if (!*out) {
        bad(e, "messages", NULL, "out of memory for a message of %zu bytes", total);
        e->status = 500;
        return false;
    }
    *bytes = 0;
    json_array_foreach(content, i, part) {
        json_t *text = json_object_get(part, "text");
        memcpy(*out + *bytes, json_string_value(text), json_string_length(text));
        *bytes += json_string_length(text);
    }
    (*out)[*bytes] = '\0';
    return true;
}

/* Chat messages → template parts: [system] user (assistant user)*, ending with a user message. Each user turn is
 * laid out by snug_chat_template_turn; an assistant reply goes between turns as plain text. */
typedef struct chat_parts {
    snug_text_part *parts;
    size_t n_parts;
    char **texts; /* the message texts the parts point into */
    size_t n_texts;
} chat_parts;

static void free_chat_parts(chat_parts *c) {
    for (size_t i = 0; i < c->n_texts; i++) free(c->texts[i]);
    free(c->texts);
    free(c->parts);
}

static bool chat_to_parts(const serve_server *s, json_t *messages, chat_parts *c, serve_http_error *e) {
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        bad(e, "messages", NULL, "'messages' must be a non-empty array");
        return false;
    }
    const size_t n = json_array_size(messages);
    c->texts = calloc(n, sizeof *c->texts);
    c->parts = calloc(n * SNUG_CHAT_TURN_MAX_PARTS, sizeof *c->parts);
    if (!c->texts || !c->parts) {
        bad(e, NULL, NULL, "out of memory for %zu messages", n);
        e->status = 500;
        return false;
    }
    size_t *bytes = calloc(n, sizeof *bytes);
    const char **roles = calloc(n, sizeof *roles);
    if (!bytes || !roles) {
        free(bytes);
        free(roles);
        bad(e, NULL, NULL, "out of memory for %zu messages", n);
        e->status = 500;
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        json_t *m = json_array_get(messages, i), *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role)) {
            ok = false;
            bad(e, "messages", NULL, "message %zu has no 'role' string", i);
            break;
        }
        roles[i] = json_string_value(role);
        if (strcmp(roles[i], "system") != 0 && strcmp(roles[i], "developer") != 0 && strcmp(roles[i], "user") != 0 &&
            strcmp(roles[i], "assistant") != 0) {
            ok = false;
            bad(e, "messages", NULL, "message %zu has role '%.40s'; supported: system, user, assistant", i, roles[i]);
            break;
        }
        ok = message_text(json_object_get(m, "content"), &c->texts[i], &bytes[i], e);
        if (ok) c->n_texts = i + 1;
    }
    /* Order: an optional system message first, then user and assistant alternating, ending with user. */
    size_t first = 0;
    const char *system = NULL;
    size_t system_bytes = 0;
    if (ok && (strcmp(roles[0], "system") == 0 || strcmp(roles[0], "developer") == 0)) {
        system = c->texts[0];
        system_bytes = bytes[0];
        first = 1;
    }
    for (size_t i = first; ok && i < n; i++) {
        const char *want = (i - first) % 2 == 0 ? "user" : "assistant";
        if (strcmp(roles[i], want) != 0) {
            ok = false;
            bad(e, "messages", NULL,
                "message %zu is '%s' where '%s' was expected: after an optional system message, user and assistant "
                "messages alternate, ending with user",
                i, roles[i], want);
        }
    }
    if (ok && (n - first) % 2 == 0) {
        ok = false;
        bad(e, "messages", NULL, "the last message must be from the user");
    }
    for (size_t i = first, turn = 0; ok && i < n; i += 2, turn++) {
        snug_chat_turn t;
        snug_chat_template_turn(s->tmpl, turn, system, system_bytes, c->texts[i], bytes[i], &t);
        memcpy(c->parts + c->n_parts, t.parts, t.n_parts * sizeof *t.parts);
        c->n_parts += t.n_parts;
        if (i + 1 < n) c->parts[c->n_parts++] = (snug_text_part){c->texts[i + 1], bytes[i + 1], false};
    }
    free(bytes);
    free(roles);
    return ok;
}

static bool parse_stops(json_t *stop, serve_request *r, serve_http_error *e) {
    if (!stop || json_is_null(stop)) return true;
    json_t *one = stop;
    size_t n = 1;
    if (json_is_array(stop)) {
        n = json_array_size(stop);
        if (n > SERVE_MAX_STOPS) {
            bad(e, "stop", NULL, "'stop' has %zu strings; at most %d", n, SERVE_MAX_STOPS);
            return false;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (json_is_array(stop)) one = json_array_get(stop, i);
        if (!json_is_string(one) || json_string_length(one) == 0 || json_string_length(one) > SERVE_MAX_STOP_BYTES) {
            bad(e, "stop", NULL, "'stop' must be a string or an array of strings of 1 to %d bytes",
                SERVE_MAX_STOP_BYTES);
            return false;
        }
        memcpy(r->stops[r->n_stops], json_string_value(one), json_string_length(one) + 1);
        r->n_stops++;
    }
    return true;
}

/* Tokenizes the prompt in the context's planned scratch: the caller holds the parse lock, so one request tokenizes
 * at a time (the engine thread never tokenizes). A prompt that does not fit the context is 400 context_length_exceeded
 * with the numbers. */
static bool tokenize_prompt(serve_server *s, serve_request *r, const snug_text_part *parts, size_t n_parts,
                            serve_http_error *e) {
    uint64_t total = 0;
    for (size_t i = 0; i < n_parts; i++) total += parts[i].bytes;
    for (size_t i = 0; i < n_parts; i++) {
        if (parts[i].bytes <= s->max_input_bytes && total <= (uint64_t)s->n_ctx * s->max_piece_bytes) continue;
        bad(e, r->kind == SERVE_CHAT ? "messages" : "prompt", "context_length_exceeded",
            "This model's maximum context length is %d tokens; the prompt's %llu bytes are more than that many tokens "
            "can hold (%llu bytes at most). Shorten it, or start the server with a larger --ctx.",
            s->n_ctx, (unsigned long long)total, (unsigned long long)((uint64_t)s->n_ctx * s->max_piece_bytes));
        return false;
    }
    r->prompt = malloc((size_t)s->n_ctx * sizeof *r->prompt);
    if (!r->prompt) {
        bad(e, NULL, NULL, "out of memory for a prompt of %d tokens", s->n_ctx);
        e->status = 500;
        return false;
    }
    snug_error err = {0};
    size_t n = 0;
    snug_status st = snug_context_tokenize_parts(s->ctx, parts, n_parts, snug_model_adds_bos(s->model), r->prompt,
                                                 (size_t)s->n_ctx, &n, &err);
    if (st == SNUG_E_CONTEXT_FULL || (st == SNUG_OK && n >= (size_t)s->n_ctx)) {
        bad(e, r->kind == SERVE_CHAT ? "messages" : "prompt", "context_length_exceeded",
            "This model's maximum context length is %d tokens; the prompt needs more (%s). Shorten it, or start the "
            "server with a larger --ctx.",
            s->n_ctx, st == SNUG_OK ? "no room is left for the reply" : err.message);
        return false;
    }
    if (st != SNUG_OK) {
        bad(e, r->kind == SERVE_CHAT ? "messages" : "prompt", NULL, "the prompt cannot be tokenized: %s", err.message);
        return false;
    }
    if (n == 0) {
        bad(e, r->kind == SERVE_CHAT ? "messages" : "prompt", NULL,
            "the prompt is empty and the model adds no BOS token");
        return false;
    }
    r->n_prompt = (int32_t)n;
    return true;
}

serve_request *serve_parse_request(serve_server *s, serve_kind kind, const char *body, size_t bytes,
                                   serve_http_error *e) {
    json_error_t jerr;
    json_t *root = json_loadb(body, bytes, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return bad(e, NULL, NULL, "the body is not valid JSON: %s (at byte %d)", jerr.text, jerr.position);
    serve_request *r = NULL;
    chat_parts chat = {0};
    if (!json_is_object(root)) {
        bad(e, NULL, NULL, "the body must be a JSON object");
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (!known_field(shared_fields, key) &&
            !known_field(kind == SERVE_CHAT ? chat_fields : completion_fields, key)) {
            bad(e, key, "unsupported_parameter", "'%.60s' is not supported by snug serve", key);
            goto done;
        }
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        bad(e, NULL, NULL, "out of memory for a request");
        e->status = 500;
        goto done;
    }
    r->kind = kind;
    r->sampling = snug_sampler_default_params();
    r->sampling.seed = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)r << 16);
    double number;
    int64_t integer;
    bool flag;
    json_t *model = json_object_get(root, "model");
    if (model && !json_is_string(model)) {
        bad(e, "model", NULL, "'model' must be a string");
        goto fail;
    }
    int64_t max_tokens = -1;
    if (!integer_field(root, "max_tokens", 1, INT32_MAX, &max_tokens, e) ||
        !integer_field(root, "max_completion_tokens", 1, INT32_MAX, &max_tokens, e))
        goto fail;
    number = r->sampling.temperature;
    if (!number_field(root, "temperature", 0, 2, &number, e)) goto fail;
    r->sampling.temperature = (float)number;
    number = r->sampling.top_p;
    if (!number_field(root, "top_p", 0, 1, &number, e)) goto fail;
    if ((float)number == 0) number = 1e-6; /* OpenAI accepts 0 (the most likely token); so is what rounds to 0 */
    r->sampling.top_p = (float)number;
    integer = r->sampling.top_k;
    if (!integer_field(root, "top_k", 0, INT32_MAX, &integer, e)) goto fail;
    r->sampling.top_k = (int32_t)integer;
    number = r->sampling.min_p;
    if (!number_field(root, "min_p", 0, 1, &number, e)) goto fail;
    r->sampling.min_p = (float)number;
    number = r->sampling.repeat_penalty;
    if (!number_field(root, "repeat_penalty", 1e-3, 10, &number, e)) goto fail;
    r->sampling.repeat_penalty = (float)number;
    integer = (int64_t)(r->sampling.seed & INT64_MAX);
    if (!integer_field(root, "seed", INT64_MIN, INT64_MAX, &integer, e)) goto fail;
    r->sampling.seed = (uint64_t)integer;
    integer = 1;
    if (!integer_field(root, "n", 1, 128, &integer, e)) goto fail;
    if (integer != 1) {
        bad(e, "n", NULL, "'n' is %lld; snug serve returns one choice a request (n = 1)", (long long)integer);
        goto fail;
    }
    static const char *const penalties[] = {"presence_penalty", "frequency_penalty"};
    for (int i = 0; i < 2; i++) {
        number = 0;
        if (!number_field(root, penalties[i], -2, 2, &number, e)) goto fail;
        if (number != 0) {
            bad(e, penalties[i], NULL, "'%s' is not supported (snug's sampler has repeat_penalty); leave it at 0",
                penalties[i]);
            goto fail;
        }
    }
    flag = false;
    json_t *logprobs = json_object_get(root, "logprobs");
    if (kind == SERVE_COMPLETION && json_is_integer(logprobs))
        flag = json_integer_value(logprobs) != 0;
    else if (!bool_field(root, "logprobs", &flag, e))
        goto fail;
    integer = 0;
    if (flag || (kind == SERVE_CHAT && (!integer_field(root, "top_logprobs", 0, 20, &integer, e) || integer != 0))) {
        if (e->status == 0) bad(e, flag ? "logprobs" : "top_logprobs", NULL, "log probabilities are not supported yet");
        goto fail;
    }
    flag = false;
    if (kind == SERVE_COMPLETION && (!bool_field(root, "echo", &flag, e) || flag)) {
        if (e->status == 0) bad(e, "echo", NULL, "'echo' is not supported");
        goto fail;
    }
    if (!bool_field(root, "stream", &r->stream, e)) goto fail;
    json_t *stream_options = json_object_get(root, "stream_options");
    if (stream_options && !json_is_null(stream_options)) {
        if (!json_is_object(stream_options) || !r->stream) {
            bad(e, "stream_options", NULL, "'stream_options' must be an object, and only with stream: true");
            goto fail;
        }
        json_object_foreach(stream_options, key, value) {
            if (strcmp(key, "include_usage") != 0) {
                bad(e, "stream_options", "unsupported_parameter", "stream_options.%.60s is not supported", key);
                goto fail;
            }
        }
        if (!bool_field(stream_options, "include_usage", &r->include_usage, e)) goto fail;
    }
    json_t *user = json_object_get(root, "user");
    if (user && !json_is_string(user)) {
        bad(e, "user", NULL, "'user' must be a string");
        goto fail;
    }
    if (!parse_stops(json_object_get(root, "stop"), r, e)) goto fail;

    if (kind == SERVE_CHAT) {
        if (!chat_to_parts(s, json_object_get(root, "messages"), &chat, e)) goto fail;
        if (!tokenize_prompt(s, r, chat.parts, chat.n_parts, e)) goto fail;
        r->n_stop_tokens = snug_chat_stop_tokens(s->model, s->tmpl, r->stop_tokens, SERVE_MAX_STOP_TOKENS);
    } else {
        json_t *prompt = json_object_get(root, "prompt");
        if (json_is_array(prompt) && json_array_size(prompt) == 1) prompt = json_array_get(prompt, 0);
        if (!json_is_string(prompt)) {
            bad(e, "prompt", NULL, "'prompt' must be a string (or an array of one string)");
            goto fail;
        }
        const snug_text_part part = {json_string_value(prompt), json_string_length(prompt), false};
        if (!tokenize_prompt(s, r, &part, 1, e)) goto fail;
        snug_model_desc d;
        snug_model_describe(s->model, &d);
        r->stop_tokens[r->n_stop_tokens++] = d.eos;
    }
    /* max_tokens: what is asked, clamped to the room the context leaves; by default all of that room. */
    const int32_t room = s->n_ctx - r->n_prompt;
    r->max_tokens = max_tokens < 0 || max_tokens > room ? room : (int32_t)max_tokens;
    /* The reply's text, sized once: every token's piece at its longest (the engine thread never allocates). */
    r->text_cap = (size_t)r->max_tokens * s->max_piece_bytes + 1;
    r->text = malloc(r->text_cap);
    if (!r->text) {
        bad(e, "max_tokens", NULL, "out of memory for a reply of %d tokens", r->max_tokens);
        e->status = 500;
        goto fail;
    }
    r->text[0] = '\0';
    goto done;
fail:
    free(r->prompt);
    free(r->text);
    free(r);
    r = NULL;
done:
    free_chat_parts(&chat);
    json_decref(root);
    return r;
}
