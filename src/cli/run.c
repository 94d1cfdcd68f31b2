/* run.c — `snug run`: load a model, plan and create a context, prefill the prompt, stream generated text.
 *
 * stdout carries the text only (the prompt as given, then the generated pieces, nothing appended), so it can be
 * piped and compared byte for byte; the plan summary, timings and reasons for stopping go to stderr. A failed write
 * to stdout stops the generation at once (exit 1): no token is computed that nobody can read.
 *
 * The prompt comes from -p TEXT, -p - (stdin) or -f FILE (a regular file). Read from stdin or a file it is bounded
 * before it is read whole (input.c): by the largest context it could be tokenized into — the requested --ctx, else
 * the trained context — × the vocabulary's longest token. Then the tokenizer refuses, counting tokens, a prompt the
 * planned context cannot hold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

typedef struct run_options {
    const char *model_path;
    const char *prompt;      /* -p TEXT */
    bool prompt_from_stdin;  /* -p - */
    const char *prompt_file; /* -f FILE */
    int64_t n_predict;       /* < 0: until end of text or a full context */
    snug_sampler_params sampling;
    bool seed_given;
    bool report_memory;
    snug_context_params context;
} run_options;

static void run_usage(FILE *out) {
    fprintf(out,
            "usage: snug run MODEL [options]\n"
            "\n"
            "Generates text from MODEL (a GGUF file), streaming it to stdout. With no prompt, generation starts from\n"
            "the beginning-of-text token. It stops at end of text, after N tokens, or when the context is full.\n"
            "\n"
            "options:\n"
            "  -p, --prompt TEXT      prompt (printed first, as given); '-' reads it from stdin\n"
            "  -f, --file FILE        prompt from a regular file (a FIFO or device is refused: use -p - < it)\n"
            "                         -p - and -f drop one final newline, as llama.cpp's -f does\n"
            "  -n, --n-predict N      tokens to generate (default: until end of text or a full context)\n"
            "  --temp T               temperature; 0 = greedy (default 0.8)\n"
            "  --top-k K              keep the K most likely tokens; 0 = off (default 40)\n"
            "  --top-p P              nucleus sampling, in (0, 1]; 1 = off (default 0.95)\n"
            "  --min-p P              drop tokens below P × the best one's probability; 0 = off (default 0.05)\n"
            "  --repeat-penalty R     penalise recently seen tokens; 1 = off (default 1.0)\n"
            "  --repeat-last-n N      how many recent tokens the penalty looks at (default 64)\n"
            "  --seed S               random seed (default: from the clock; printed on stderr)\n"
            "  --report-memory        measure the process's anonymous memory (after load, prefill and every token)\n"
            "                         and its peak RSS, and compare them with the plan, on stderr\n"
            "%s"
            "\n"
            "Before loading, snug plans every byte; a plan that does not fit is refused with exit code 3. A prompt\n"
            "longer than the context could ever hold (context × the vocabulary's longest token, in bytes) is refused\n"
            "with exit code 2, without reading more of it than that.\n",
            cli_plan_options_help());
}

/* Parses argv into opts; returns -1 to continue, or an exit code. */
static int parse_run_options(int argc, char **argv, run_options *o) {
    o->sampling = snug_sampler_default_params();
    o->n_predict = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            run_usage(stdout);
            return SNUG_EXIT_OK;
        }
        if (strcmp(a, "--report-memory") == 0) {
            o->report_memory = true;
            continue;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (o->model_path)
                return cli_usage_error("run", "unexpected argument '%s' (the model is '%s')", a, o->model_path);
            o->model_path = a;
            continue;
        }
        if (!v) return cli_usage_error("run", "option %s needs a value", a);
        i++;
        if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0 || strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) {
            if (o->prompt || o->prompt_from_stdin || o->prompt_file)
                return cli_usage_error("run", "give the prompt once: -p TEXT, -p - (stdin) or -f FILE");
            if (a[1] == 'f' || strcmp(a, "--file") == 0) {
                o->prompt_file = v;
            } else if (strcmp(v, "-") == 0) {
                o->prompt_from_stdin = true;
            } else {
                o->prompt = v;
            }
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--n-predict") == 0) {
            if (!cli_parse_i64(v, -1, INT32_MAX, &o->n_predict))
                return cli_usage_error("run", "-n must be -1 or a count of tokens, got '%s'", v);
        } else if (strcmp(a, "--temp") == 0) {
            if (!cli_parse_f32(v, 0.0f, 100.0f, &o->sampling.temperature))
                return cli_usage_error("run", "--temp must be in [0, 100], got '%s'", v);
        } else if (strcmp(a, "--top-k") == 0) {
            if (!cli_parse_i64(v, 0, INT32_MAX, &n))
                return cli_usage_error("run", "--top-k must be a count >= 0, got '%s'", v);
            o->sampling.top_k = (int32_t)n;
        } else if (strcmp(a, "--top-p") == 0) {
            if (!cli_parse_f32(v, 0.0f, 1.0f, &o->sampling.top_p) || o->sampling.top_p == 0.0f)
                return cli_usage_error("run", "--top-p must be in (0, 1], got '%s'", v);
        } else if (strcmp(a, "--min-p") == 0) {
            if (!cli_parse_f32(v, 0.0f, 1.0f, &o->sampling.min_p))
                return cli_usage_error("run", "--min-p must be in [0, 1], got '%s'", v);
        } else if (strcmp(a, "--repeat-penalty") == 0) {
            if (!cli_parse_f32(v, 1e-3f, 1e3f, &o->sampling.repeat_penalty))
                return cli_usage_error("run", "--repeat-penalty must be in [0.001, 1000], got '%s'", v);
        } else if (strcmp(a, "--repeat-last-n") == 0) {
            if (!cli_parse_i64(v, 0, SNUG_MAX_REPEAT_WINDOW, &n))
                return cli_usage_error("run", "--repeat-last-n must be in 0..%d, got '%s'", SNUG_MAX_REPEAT_WINDOW, v);
            o->sampling.repeat_last_n = (int32_t)n;
        } else if (strcmp(a, "--seed") == 0) {
            if (!cli_parse_u64(v, &o->sampling.seed))
                return cli_usage_error("run", "--seed must be a non-negative integer, got '%s'", v);
            o->seed_given = true;
        } else {
            int code = cli_parse_plan_option("run", a, v, &o->context);
            if (code < 0) return cli_usage_error("run", "unknown option '%s'", a);
            if (code != SNUG_EXIT_OK) return code;
        }
    }
    if (!o->model_path) return cli_usage_error("run", "no model file given");
    if (!o->seed_given) o->sampling.seed = (uint64_t)time(NULL);
    return -1;
}

static void sample_memory(const run_options *o, uint64_t *peak) {
    if (!o->report_memory) return;
    uint64_t now = cli_proc_status_bytes("RssAnon");
    if (now > *peak) *peak = now;
}

/* Reads the prompt from where the options say, bounded by `limit`. -p TEXT is already in memory, and the kernel bounds
 * one argument (MAX_ARG_STRLEN, 128 KiB on Linux): it is left to the tokenizer, whose refusal counts tokens. */
static snug_status read_prompt(const run_options *o, const cli_input_limit *limit, cli_text *prompt, snug_error *err) {
    if (o->prompt_from_stdin) return cli_read_stdin(limit, true, prompt, err);
    if (o->prompt_file) return cli_read_text_file(o->prompt_file, limit, true, prompt, err);
    const char *text = o->prompt ? o->prompt : "";
    prompt->len = strlen(text);
    prompt->bytes = strdup(text);
    if (!prompt->bytes) {
        err->status = SNUG_E_OUT_OF_MEMORY;
        snprintf(err->message, sizeof err->message, "out of memory copying the prompt (%zu bytes)", prompt->len);
        return SNUG_E_OUT_OF_MEMORY;
    }
    return SNUG_OK;
}

int cli_run(int argc, char **argv) {
    run_options o = {0};
    int code = parse_run_options(argc, argv, &o);
    if (code >= 0) return code;

    snug_error err = {0};
    snug_model *model = NULL;
    snug_context *ctx = NULL;
    cli_text prompt = {0};
    double t_start = cli_now_s();
    if (snug_model_load(o.model_path, &model, &err) != SNUG_OK) return cli_report(&err);
    snug_model_desc desc;
    snug_model_describe(model, &desc);

    /* The context is not planned yet: bound by the largest it may be (an explicit --ctx, else the trained one, which
     * the default and --ctx max never exceed). */
    char limit_what[128], limit_hint[160];
    cli_input_limit limit = {o.context.n_ctx > 0 ? o.context.n_ctx : desc.n_ctx_train,
                             cli_model_token_bytes_max(model, desc.n_vocab), limit_what, limit_hint};
    if (limit.n_ctx <= 0) limit.n_ctx = SNUG_DEFAULT_CTX;
    snprintf(limit_what, sizeof limit_what, "a context of %d tokens%s", limit.n_ctx,
             o.context.n_ctx > 0 ? " (--ctx)" : " (the model's trained context)");
    snprintf(limit_hint, sizeof limit_hint,
             "shorten the prompt, or allow a longer one with --ctx N (the model was "
             "trained with %d)",
             desc.n_ctx_train);
    if (read_prompt(&o, &limit, &prompt, &err) != SNUG_OK) goto fail;

    if (prompt.len > SNUG_DEFAULT_MAX_INPUT_BYTES) o.context.max_input_bytes = prompt.len;
    snug_plan *plan = NULL;
    if (snug_plan_create(snug_model_gguf(model), &o.context, &plan, &err) != SNUG_OK) goto fail;
    char summary[512];
    snug_plan_summary(plan, summary, sizeof summary);
    fprintf(stderr, "snug: %s\n", summary);
    snug_status st = snug_plan_refusal(plan, &err);
    if (st == SNUG_OK) st = cli_load_weights(model, plan, &err);
    if (st == SNUG_OK) st = snug_context_create_planned(model, plan, &ctx, &err);
    snug_plan_free(plan);
    if (st != SNUG_OK) goto fail;

    double t_loaded = cli_now_s();
    uint64_t peak_anon = 0;
    sample_memory(&o, &peak_anon);
    if (snug_context_sampler_init(ctx, &o.sampling, &err) != SNUG_OK) goto fail;
    if (!o.seed_given && o.sampling.temperature > 0)
        fprintf(stderr, "snug: seed %llu\n", (unsigned long long)o.sampling.seed);

    size_t cap, n_prompt = 0;
    snug_token *prompt_tokens = snug_context_token_buffer(ctx, &cap);
    if (snug_context_tokenize(ctx, prompt.bytes, prompt.len, true, false, prompt_tokens, cap, &n_prompt, &err) !=
        SNUG_OK) {
        if (err.status == SNUG_E_CONTEXT_FULL) {
            snprintf(err.hint, sizeof err.hint,
                     "the prompt must fit in the context (--ctx %d); the model was trained with %d",
                     snug_context_n_ctx(ctx), desc.n_ctx_train);
        }
        goto fail;
    }
    if (n_prompt == 0) {
        err.status = SNUG_E_ARGUMENT;
        snprintf(err.message, sizeof err.message, "the prompt is empty and the model has no BOS token to start from");
        snprintf(err.hint, sizeof err.hint, "give a prompt with -p");
        goto fail;
    }
    if (n_prompt >= (size_t)snug_context_n_ctx(ctx)) {
        err.status = SNUG_E_CONTEXT_FULL;
        snprintf(err.message, sizeof err.message,
                 "the prompt is %zu tokens; the context holds %d, leaving no room to generate", n_prompt,
                 snug_context_n_ctx(ctx));
        snprintf(err.hint, sizeof err.hint, "use --ctx %zu or more (%s the model's trained context of %d)",
                 n_prompt + 1, n_prompt + 1 > (size_t)desc.n_ctx_train ? "above" : "within", desc.n_ctx_train);
        goto fail;
    }

    fwrite(prompt.bytes, 1, prompt.len, stdout);
    if (!cli_stdout_ok()) goto stdout_failed;
    double t_prefill = cli_now_s();
    if (snug_context_decode(ctx, prompt_tokens, n_prompt, &err) != SNUG_OK) goto fail;
    double t_decode = cli_now_s();
    sample_memory(&o, &peak_anon);

    snug_token prev = prompt_tokens[n_prompt - 1];
    int64_t generated = 0, decoded = 0;
    const char *stop_reason = "token limit";
    while (o.n_predict < 0 || generated < o.n_predict) {
        snug_token token;
        if (snug_context_sample(ctx, &token, &err) != SNUG_OK) goto fail;
        /* End of text; TinyStories-style models also end a story with BOS. */
        if (token == desc.eos || token == desc.bos) {
            stop_reason = "end of text";
            break;
        }
        char piece[256];
        size_t len = snug_token_to_piece(model, prev, token, piece, sizeof piece);
        fwrite(piece, 1, len, stdout);
        if (!cli_stdout_ok()) goto stdout_failed; /* nobody can read what would come next */
        generated++;
        prev = token;
        if (o.n_predict >= 0 && generated == o.n_predict) break; /* no need to run the last token */
        if (snug_context_n_past(ctx) >= snug_context_n_ctx(ctx)) {
            stop_reason = "context full";
            fprintf(stderr, "\nsnug: the context is full (%d tokens); stopping. Use --ctx to allow more.\n",
                    snug_context_n_ctx(ctx));
            break;
        }
        if (snug_context_decode(ctx, &token, 1, &err) != SNUG_OK) goto fail;
        decoded++;
        sample_memory(&o, &peak_anon);
    }
    double t_end = cli_now_s();
    double prefill_s = t_decode - t_prefill, decode_s = t_end - t_decode;
    fprintf(stderr,
            "\nsnug: load %.0f ms; prefill %zu tokens in %.0f ms (%.1f tok/s); generated %lld tokens in %.0f ms "
            "(%.1f tok/s); stopped: %s\n",
            (t_loaded - t_start) * 1e3, n_prompt, prefill_s * 1e3, prefill_s > 0 ? (double)n_prompt / prefill_s : 0.0,
            (long long)generated, decode_s * 1e3, decode_s > 0 && decoded > 0 ? (double)decoded / decode_s : 0.0,
            stop_reason);
    if (o.report_memory) {
        uint64_t planned = snug_plan_anon_bytes(snug_context_get_plan(ctx));
        fprintf(stderr, "snug: memory: peak anonymous RSS %llu bytes, plan %llu bytes anonymous (%+.2f%%)\n",
                (unsigned long long)peak_anon, (unsigned long long)planned,
                planned ? 100.0 * ((double)peak_anon - (double)planned) / (double)planned : 0.0);
        /* VmHWM: the peak of all resident pages (mapped weights, program code, anonymous memory) so far. */
        uint64_t peak_rss = cli_proc_status_bytes("VmHWM");
        uint64_t total = snug_plan_total_bytes(snug_context_get_plan(ctx));
        fprintf(stderr, "snug: memory: peak RSS %llu bytes, plan total %llu bytes (%+.2f%%)\n",
                (unsigned long long)peak_rss, (unsigned long long)total,
                total ? 100.0 * ((double)peak_rss - (double)total) / (double)total : 0.0);
    }
    cli_text_free(&prompt);
    snug_context_free(ctx);
    snug_model_free(model);
    return SNUG_EXIT_OK;
stdout_failed:
    code = cli_stdout_failed();
    cli_text_free(&prompt);
    snug_context_free(ctx);
    snug_model_free(model);
    return code;
fail:
    fflush(stdout);
    code = cli_report(&err);
    cli_text_free(&prompt);
    snug_context_free(ctx);
    snug_model_free(model);
    return code;
}
