/* chat.c — `snug chat`: an interactive conversation in the model's chat template, kept in the KV cache.
 *
 * Each user line becomes one turn: the template lays it out (snug_chat_template_turn), only that new text is
 * tokenized and decoded, and the positions continue from the previous reply. A turn that would not fit in what is
 * left of the planned context is refused with the numbers; nothing is ever truncated. Template markers are tokenized
 * with special-token parsing, the user's text without it, so typing "<|im_start|>" cannot forge a turn.
 *
 * Streams: stdout carries the replies only, each followed by one newline, so a piped session can be compared byte for
 * byte; the prompt ("> ", only when stdin is a terminal), the plan, the template in use and every notice go to
 * stderr. stdin is read one line per turn, from a terminal or a pipe alike.
 *
 * Memory: no allocation after the plan. Token ids go to the context's planned token buffer; a line is read into a
 * fixed buffer of SNUG_DEFAULT_MAX_INPUT_BYTES (what the tokenizer scratch is planned for) and a longer one is
 * refused whole. From a terminal the rest of such a line is skipped (the terminal bounds a line); from anything else
 * (a pipe, a file, /dev/zero) reading stops there with an error, since the line may never end.
 *
 * Output: a failed write to stdout (EPIPE, ENOSPC, EIO) stops the reply at once and ends the session with exit 1.
 *
 * Signals: SIGINT stops the reply being generated; at the prompt, a second Ctrl-C in a row exits (as EOF or /exit).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

/* Longest user line, in bytes: every piece of text is tokenized in scratch planned for the default input size. */
#define CHAT_LINE_BYTES SNUG_DEFAULT_MAX_INPUT_BYTES
/* stdin is read in blocks of this many bytes. */
#define CHAT_READ_BYTES 4096
/* Longest token piece printed at once (pieces are a few bytes; a longer one is cut, as in `snug run`). */
#define CHAT_PIECE_BYTES 256

typedef struct chat_options {
    const char *model_path;
    const char *system;
    const char *template_name; /* NULL: from the model's metadata */
    int64_t n_predict;         /* < 0: until a stop token or a full context */
    snug_sampler_params sampling;
    bool seed_given;
    snug_context_params context;
} chat_options;

static void chat_usage(FILE *out) {
    fprintf(out,
            "usage: snug chat MODEL [options]\n"
            "\n"
            "Talks with MODEL (a GGUF file) in its chat template, one line of stdin per user turn; the replies are\n"
            "streamed to stdout, one line each (a newline follows every reply). The conversation stays in the KV\n"
            "cache: each turn decodes only its own tokens. A turn that does not fit in the rest of the context is\n"
            "refused with the numbers (never truncated); /reset starts over.\n"
            "\n"
            "commands: /reset (clear the conversation and the KV cache), /plan (print the memory plan), /exit.\n"
            "Ctrl-C stops the current reply; at the prompt, Ctrl-C twice (or EOF) exits.\n"
            "\n"
            "options:\n"
            "  -n, --n-predict N      longest reply, in tokens (default: until end of turn or a full context)\n"
            "  --system TEXT          system message (folded into the first user turn where the template has no\n"
            "                         system role)\n"
            "  --template NAME        chat template instead of the one the model names: chatml, llama2, llama3,\n"
            "                         mistral, phi3, zephyr, gemma, deepseek, deepseek2, deepseek3 (docs/chat.md)\n"
            "%s%s"
            "\n"
            "Exit codes: as for 'snug run'; with stdin not a terminal, 2 when some turn was refused.\n",
            cli_sampling_options_help(), cli_plan_options_help());
}

/* Parses argv into o; returns -1 to continue, or an exit code. */
static int parse_chat_options(int argc, char **argv, chat_options *o) {
    o->sampling = snug_sampler_default_params();
    o->n_predict = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            chat_usage(stdout);
            return SNUG_EXIT_OK;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (o->model_path)
                return cli_usage_error("chat", "unexpected argument '%s' (the model is '%s')", a, o->model_path);
            o->model_path = a;
            continue;
        }
        if (!v) return cli_usage_error("chat", "option %s needs a value", a);
        i++;
        if (strcmp(a, "-n") == 0 || strcmp(a, "--n-predict") == 0) {
            if (!cli_parse_i64(v, -1, INT32_MAX, &o->n_predict))
                return cli_usage_error("chat", "-n must be -1 or a count of tokens, got '%s'", v);
        } else if (strcmp(a, "--system") == 0) {
            o->system = v;
        } else if (strcmp(a, "--template") == 0) {
            o->template_name = v;
        } else {
            int code = cli_parse_sampling_option("chat", a, v, &o->sampling, &o->seed_given);
            if (code < 0) code = cli_parse_plan_option("chat", a, v, &o->context);
            if (code < 0) return cli_usage_error("chat", "unknown option '%s'", a);
            if (code != SNUG_EXIT_OK) return code;
        }
    }
    if (!o->model_path) return cli_usage_error("chat", "no model file given");
    if (o->template_name) {
        snug_chat_template t;
        snug_error err = {0};
        if (snug_chat_template_lookup(o->template_name, &t, &err) != SNUG_OK)
            return cli_usage_error("chat", "%s (%s)", err.message, err.hint);
    }
    if (!o->seed_given) o->sampling.seed = (uint64_t)time(NULL);
    return -1;
}

/* ---- reading lines ------------------------------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void on_sigint(int signal_number) {
    (void)signal_number;
    interrupted = 1;
}

typedef enum line_status { LINE_OK, LINE_TOO_LONG, LINE_EOF, LINE_INTERRUPTED, LINE_ERROR } line_status;

/* Lines from stdin through read(2), so that SIGINT interrupts a wait at the prompt (stdio would retry). */
typedef struct line_reader {
    char block[CHAT_READ_BYTES];
    size_t start, end; /* unread bytes of block */
    char line[CHAT_LINE_BYTES + 1];
    size_t len;
    size_t limit; /* longest line accepted, <= CHAT_LINE_BYTES */
} line_reader;

/* Reads one line. A line longer than r->limit is LINE_TOO_LONG: with skip_long_line the rest of it is read and
 * dropped first, otherwise reading stops right after its first r->limit + 1 bytes. */
static line_status read_line(line_reader *r, bool skip_long_line) {
    r->len = 0;
    bool too_long = false, any = false;
    for (;;) {
        if (r->start == r->end) {
            ssize_t got = read(STDIN_FILENO, r->block, sizeof r->block);
            if (got < 0) return errno == EINTR ? LINE_INTERRUPTED : LINE_ERROR;
            if (got == 0) {
                if (!any) return LINE_EOF;
                break; /* a last line without a newline */
            }
            r->start = 0;
            r->end = (size_t)got;
        }
        char c = r->block[r->start++];
        any = true;
        if (c == '\n') break;
        if (r->len < r->limit) {
            r->line[r->len++] = c;
        } else {
            too_long = true;
            if (!skip_long_line) return LINE_TOO_LONG;
        }
    }
    if (r->len > 0 && r->line[r->len - 1] == '\r') r->len--;
    r->line[r->len] = '\0';
    return too_long ? LINE_TOO_LONG : LINE_OK;
}

/* ---- the conversation ---------------------------------------------------------------------------------------- */

typedef struct chat_session {
    const chat_options *o;
    snug_model *model;
    snug_context *ctx;
    snug_chat_template tmpl;
    snug_token stops[SNUG_CHAT_MAX_STOP_TOKENS];
    size_t n_stops;
    size_t turn_index; /* user turns in the KV cache since the start or the last /reset */
} chat_session;

typedef enum turn_result { TURN_DONE, TURN_REFUSED, TURN_FAILED, TURN_STDOUT_FAILED } turn_result;

static bool is_stop(const chat_session *s, snug_token token) {
    for (size_t i = 0; i < s->n_stops; i++)
        if (s->stops[i] == token) return true;
    return false;
}

/* Decodes one user turn and streams the reply. TURN_FAILED leaves the reason in err. */
static turn_result chat_turn(chat_session *s, const char *text, size_t bytes, snug_error *err) {
    const chat_options *o = s->o;
    snug_chat_turn turn;
    snug_chat_template_turn(s->tmpl, s->turn_index, o->system, o->system ? strlen(o->system) : 0, text, bytes, &turn);
    const int32_t n_ctx = snug_context_n_ctx(s->ctx), used = snug_context_n_past(s->ctx);
    size_t cap, n = 0;
    snug_token *tokens = snug_context_token_buffer(s->ctx, &cap);
    snug_status st = snug_context_tokenize_parts(s->ctx, turn.parts, turn.n_parts,
                                                 used == 0 && snug_model_adds_bos(s->model), tokens, cap, &n, err);
    if (st == SNUG_E_CONTEXT_FULL) {
        fprintf(stderr,
                "snug: this turn is more than %zu tokens, longer than the whole context (%d positions, %d used); "
                "nothing was sent. Use a larger --ctx or a shorter message.\n",
                cap, n_ctx, used);
        return TURN_REFUSED;
    }
    if (st != SNUG_OK) return TURN_FAILED;
    /* The reply needs at least one position after the turn. */
    if ((int64_t)used + (int64_t)n >= (int64_t)n_ctx) {
        fprintf(stderr,
                "snug: this turn needs %zu tokens, but %d of the context's %d positions are used (%d left, and the "
                "reply needs at least 1); nothing was sent. Type /reset to start a new conversation%s.\n",
                n, used, n_ctx, n_ctx - used, (int64_t)n < (int64_t)n_ctx ? "" : " (with a larger --ctx)");
        return TURN_REFUSED;
    }
    if (snug_context_decode(s->ctx, tokens, n, err) != SNUG_OK) return TURN_FAILED;
    s->turn_index++;

    snug_token prev = tokens[n - 1];
    int64_t generated = 0;
    while (!interrupted && (o->n_predict < 0 || generated < o->n_predict)) {
        snug_token token;
        if (snug_context_sample(s->ctx, &token, err) != SNUG_OK) return TURN_FAILED;
        if (is_stop(s, token)) break;
        /* Every printed token is decoded, so the KV cache holds the reply as shown; one that cannot be is not shown. */
        if (snug_context_n_past(s->ctx) >= n_ctx) {
            fflush(stdout);
            fprintf(stderr, "\nsnug: the context is full (%d positions); the reply stops here. /reset starts over.\n",
                    n_ctx);
            break;
        }
        char piece[CHAT_PIECE_BYTES];
        size_t len = snug_token_to_piece(s->model, prev, token, piece, sizeof piece);
        fwrite(piece, 1, len, stdout);
        if (!cli_stdout_ok()) return TURN_STDOUT_FAILED; /* nobody can read the rest of the reply */
        if (snug_context_decode(s->ctx, &token, 1, err) != SNUG_OK) return TURN_FAILED;
        prev = token;
        generated++;
    }
    fputc('\n', stdout);
    if (!cli_stdout_ok()) return TURN_STDOUT_FAILED;
    if (interrupted) fprintf(stderr, "snug: reply stopped (Ctrl-C)\n");
    return TURN_DONE;
}

static void print_plan(const chat_session *s) {
    char *text = snug_plan_render_text(snug_context_get_plan(s->ctx));
    if (text) {
        fputs(text, stderr);
        free(text);
    }
    fprintf(stderr, "conversation: %d of %d positions used\n", snug_context_n_past(s->ctx), snug_context_n_ctx(s->ctx));
}

/* Chooses the template: --template, else the model's tokenizer.chat_template, else ChatML; says which on stderr. */
static snug_chat_template choose_template(const chat_options *o, const snug_model *model) {
    snug_chat_template t;
    if (o->template_name) {
        snug_chat_template_lookup(o->template_name, &t, NULL); /* validated while parsing */
        fprintf(stderr, "snug: chat template %s (--template)\n", snug_chat_template_name(t));
        return t;
    }
    switch (snug_chat_template_of_gguf(snug_model_gguf(model), &t)) {
    case SNUG_CHAT_FROM_METADATA:
        fprintf(stderr, "snug: chat template %s (recognised in tokenizer.chat_template)\n", snug_chat_template_name(t));
        break;
    case SNUG_CHAT_NO_METADATA:
        fprintf(stderr, "snug: the model has no chat template (tokenizer.chat_template); falling back to ChatML "
                        "(--template NAME chooses another)\n");
        break;
    case SNUG_CHAT_UNRECOGNISED:
        fprintf(stderr, "snug: the model's chat template is not one snug recognises; falling back to ChatML "
                        "(--template NAME chooses another)\n");
        break;
    }
    return t;
}

int cli_chat(int argc, char **argv) {
    chat_options o = {0};
    int code = parse_chat_options(argc, argv, &o);
    if (code >= 0) return code;

    snug_error err = {0};
    chat_session s = {.o = &o};
    if (snug_model_load(o.model_path, &s.model, &err) != SNUG_OK) return cli_report(&err);
    size_t system_bytes = o.system ? strlen(o.system) : 0;
    if (system_bytes > SNUG_DEFAULT_MAX_INPUT_BYTES) o.context.max_input_bytes = system_bytes;
    snug_plan *plan = NULL;
    if (snug_plan_create(snug_model_gguf(s.model), &o.context, &plan, &err) != SNUG_OK) goto fail;
    char summary[512];
    snug_plan_summary(plan, summary, sizeof summary);
    fprintf(stderr, "snug: %s\n", summary);
    snug_status st = snug_plan_refusal(plan, &err);
    if (st == SNUG_OK) st = cli_load_weights(s.model, plan, &err);
    if (st == SNUG_OK) st = snug_context_create_planned(s.model, plan, &s.ctx, &err);
    snug_plan_free(plan);
    if (st != SNUG_OK) goto fail;
    if (snug_context_sampler_init(s.ctx, &o.sampling, &err) != SNUG_OK) goto fail;
    if (!o.seed_given && o.sampling.temperature > 0)
        fprintf(stderr, "snug: seed %llu\n", (unsigned long long)o.sampling.seed);
    s.tmpl = choose_template(&o, s.model);
    s.n_stops = snug_chat_stop_tokens(s.model, s.tmpl, s.stops, SNUG_CHAT_MAX_STOP_TOKENS);

    const bool terminal = isatty(STDIN_FILENO) == 1;
    if (terminal) fprintf(stderr, "snug: one line per turn; /reset, /plan, /exit; Ctrl-C stops a reply\n");
    struct sigaction action = {0};
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; /* no SA_RESTART: a read at the prompt returns EINTR */
    sigaction(SIGINT, &action, NULL);

    static line_reader reader; /* 20 KiB: static rather than on the stack */
    /* A line is bounded by the tokenizer scratch (CHAT_LINE_BYTES) and by what the whole context could ever hold. */
    char limit_what[96];
    snug_model_desc desc;
    snug_model_describe(s.model, &desc);
    cli_input_limit limit = {snug_context_n_ctx(s.ctx), cli_model_token_bytes_max(s.model, desc.n_vocab), limit_what,
                             "use a larger --ctx, or shorter lines"};
    snprintf(limit_what, sizeof limit_what, "the context of %d tokens", limit.n_ctx);
    const bool context_bound = cli_input_limit_bytes(&limit) < CHAT_LINE_BYTES;
    reader.limit = context_bound ? (size_t)cli_input_limit_bytes(&limit) : CHAT_LINE_BYTES;
    size_t refused = 0;
    bool interrupted_at_prompt = false;
    for (;;) {
        if (terminal) {
            fputs("> ", stderr);
            fflush(stderr);
        }
        interrupted = 0;
        line_status ls = read_line(&reader, terminal);
        if (ls == LINE_INTERRUPTED) {
            if (interrupted_at_prompt) {
                fputc('\n', stderr);
                break;
            }
            interrupted_at_prompt = true;
            fprintf(stderr, "\nsnug: Ctrl-C again (or /exit) to quit\n");
            continue;
        }
        interrupted_at_prompt = false;
        if (ls == LINE_EOF) break;
        if (ls == LINE_ERROR) {
            fprintf(stderr, "snug: error reading stdin: %s\n", strerror(errno));
            code = SNUG_EXIT_FAILURE;
            goto done;
        }
        if (ls == LINE_TOO_LONG && !terminal) {
            /* From a pipe or a file the line may never end (/dev/zero): stop, having read limit + 1 bytes of it. */
            if (context_bound) {
                cli_input_too_long("a line of stdin", reader.limit, true, &limit, &err);
                goto fail;
            }
            fprintf(stderr,
                    "snug: error (context-full): a line of stdin is more than %zu bytes, the most one turn may be (the "
                    "tokenizer scratch is planned for %d); stopped reading it\n",
                    reader.limit, CHAT_LINE_BYTES);
            code = SNUG_EXIT_BAD_INPUT;
            goto done;
        }
        if (ls == LINE_TOO_LONG) {
            fprintf(stderr, "snug: the line is longer than %zu bytes, the most one turn may be; nothing was sent\n",
                    reader.limit);
            refused++;
            continue;
        }
        if (reader.line[0] == '/') {
            if (strcmp(reader.line, "/exit") == 0 || strcmp(reader.line, "/quit") == 0) break;
            if (strcmp(reader.line, "/reset") == 0) {
                snug_context_reset(s.ctx);
                s.turn_index = 0;
                fprintf(stderr, "snug: conversation cleared (0 of %d positions used)\n", snug_context_n_ctx(s.ctx));
            } else if (strcmp(reader.line, "/plan") == 0) {
                print_plan(&s);
            } else {
                fprintf(stderr, "snug: unknown command '%s'; commands: /reset, /plan, /exit\n", reader.line);
            }
            continue;
        }
        if (reader.len == 0) continue;
        turn_result r = chat_turn(&s, reader.line, reader.len, &err);
        if (r == TURN_FAILED) goto fail;
        if (r == TURN_STDOUT_FAILED) {
            code = cli_stdout_failed();
            goto done;
        }
        if (r == TURN_REFUSED) refused++;
    }
    code = (!terminal && refused > 0) ? SNUG_EXIT_BAD_INPUT : SNUG_EXIT_OK;
done:
    snug_context_free(s.ctx);
    snug_model_free(s.model);
    return code;
fail:
    fflush(stdout);
    code = cli_report(&err);
    snug_context_free(s.ctx);
    snug_model_free(s.model);
    return code;
}
