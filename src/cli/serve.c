/* serve.c — `snug serve`: options, then the server (src/server) until SIGINT or SIGTERM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

static void serve_usage(FILE *out) {
    fprintf(
        out,
        "usage: snug serve MODEL [options]\n"
        "\n"
        "Serves MODEL (a GGUF file) over an OpenAI-compatible HTTP API: POST /v1/chat/completions and\n"
        "/v1/completions (stream: true for server-sent events), GET /v1/models, /v1/plan (the memory plan and the\n"
        "KV pool's live use), /health and /metrics (Prometheus). Requests run together in one batch a step; one is\n"
        "admitted only when the KV pool can hold its prompt and max_tokens, so a reply never dies half-way; the\n"
        "others wait in a bounded queue, and past it get 503 with Retry-After. Stops on SIGINT or SIGTERM.\n"
        "\n"
        "options:\n"
        "  --host ADDR            IPv4 address to listen on (default 127.0.0.1: this machine only)\n"
        "  --port N               TCP port (default 8080; 0 picks a free one, printed on stderr)\n"
        "  --api-key KEY          require 'Authorization: Bearer KEY' on /v1/* (/health and /metrics stay open)\n"
        "  --queue N              requests that may wait for a sequence (default %d)\n"
        "  --template NAME        chat template instead of the model's (chatml, llama2, llama3, …)\n"
        "%s"
        "\n"
        "--parallel N is how many requests run at once (default 4), each with up to --ctx tokens.\n",
        SERVE_DEFAULT_QUEUE, cli_plan_options_help());
}

int cli_serve(int argc, char **argv) {
    serve_server *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "snug: error: out of memory\n");
        return SNUG_EXIT_FAILURE;
    }
    serve_options *o = &s->options;
    o->host = "127.0.0.1";
    o->port = 8080;
    o->queue_limit = SERVE_DEFAULT_QUEUE;
    int code = -1;
    for (int i = 1; i < argc && code < 0; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            serve_usage(stdout);
            code = SNUG_EXIT_OK;
        } else if (a[0] != '-') {
            if (o->model_path)
                code = cli_usage_error("serve", "unexpected argument '%s' (the model is '%s')", a, o->model_path);
            o->model_path = a;
        } else if (!v) {
            code = cli_usage_error("serve", "option %s needs a value", a);
        } else if (strcmp(a, "--host") == 0) {
            o->host = argv[++i];
        } else if (strcmp(a, "--port") == 0) {
            if (!cli_parse_i64(argv[++i], 0, 65535, &n)) code = cli_usage_error("serve", "--port must be in 0..65535");
            o->port = (int)n;
        } else if (strcmp(a, "--api-key") == 0) {
            o->api_key = argv[++i];
            if (!o->api_key[0]) code = cli_usage_error("serve", "--api-key must not be empty");
        } else if (strcmp(a, "--queue") == 0) {
            if (!cli_parse_i64(argv[++i], 0, 65536, &n)) code = cli_usage_error("serve", "--queue must be in 0..65536");
            o->queue_limit = (int32_t)n;
        } else if (strcmp(a, "--template") == 0) {
            o->template_name = argv[++i];
            snug_chat_template t;
            snug_error err = {0};
            if (snug_chat_template_lookup(o->template_name, &t, &err) != SNUG_OK) code = cli_report(&err);
        } else {
            int parsed = cli_parse_plan_option("serve", a, v, &o->context);
            if (parsed < 0) {
                code = cli_usage_error("serve", "unknown option '%s'", a);
            } else if (parsed != SNUG_EXIT_OK) {
                code = parsed;
            }
            i++;
        }
    }
    if (code < 0 && !o->model_path) code = cli_usage_error("serve", "no model file given");
    if (code >= 0) {
        free(s);
        return code;
    }
    if (o->context.n_parallel == 0) o->context.n_parallel = 4;
    const char *base = strrchr(o->model_path, '/');
    snprintf(s->model_id, sizeof s->model_id, "%s", base ? base + 1 : o->model_path);
    const size_t len = strlen(s->model_id);
    if (len > 5 && strcmp(s->model_id + len - 5, ".gguf") == 0) s->model_id[len - 5] = '\0';
    code = serve_run(s);
    free(s);
    return code;
}
