/* cli.h — shared pieces of the `snug` command line: exit codes, error reporting, option parsing.
 *
 * Exit codes (documented in the README): 0 ok, 1 anything else (a failed write to stdout or stderr included), 2 bad
 * input (file, option, prompt), 3 the plan does not fit in memory, 4 device failure. The CLI is the only place that
 * prints or exits.
 */
#ifndef SNUG_CLI_CLI_H
#define SNUG_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "snug.h"

enum {
    SNUG_EXIT_OK = 0,
    SNUG_EXIT_FAILURE = 1,
    SNUG_EXIT_BAD_INPUT = 2,
    SNUG_EXIT_DOES_NOT_FIT = 3,
    SNUG_EXIT_DEVICE = 4,
};

int cli_exit_code(snug_status status);
/* Prints "snug: error: …" (and the hint) to stderr; returns the exit code for the status. */
int cli_report(const snug_error *err);
/* Prints a usage error to stderr; returns SNUG_EXIT_BAD_INPUT. */
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing for option values: the whole string must be a number in [min, max]. */
bool cli_parse_i64(const char *text, int64_t min, int64_t max, int64_t *out);
bool cli_parse_u64(const char *text, uint64_t *out);
bool cli_parse_f32(const char *text, float min, float max, float *out);

/* A byte size with an optional unit (see plan_options.c). */
bool cli_parse_bytes(const char *text, uint64_t *out);
/* Parses one of the plan options (--ctx, --kv, --parallel, --batch, --threads, --device, --mem, --headroom) into p.
 * Returns -1 if `option` is not one of them, else an exit code (SNUG_EXIT_OK when parsed). */
int cli_parse_plan_option(const char *command, const char *option, const char *value, snug_context_params *p);
const char *cli_plan_options_help(void);
/* Parses one of the sampling options (--temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --seed)
 * into s (sets *seed_given for --seed). Returns -1 if `option` is not one of them, else an exit code. */
int cli_parse_sampling_option(const char *command, const char *option, const char *value, snug_sampler_params *s,
                              bool *seed_given);
const char *cli_sampling_options_help(void);

/* Monotonic seconds. */
double cli_now_s(void);

/* A "FIELD: N kB" line of this process's /proc/self/status (VmHWM, RssAnon, RssFile) in bytes; 0 when unknown. */
uint64_t cli_proc_status_bytes(const char *field);

/* Brings the model's weights into memory where the plan puts them (snug_model_load_weights: copied, or the mapped
 * pages read) with a progress line on stderr when it is a terminal and the weights are large enough for the wait to
 * show (CLI_PROGRESS_MIN_BYTES). */
#define CLI_PROGRESS_MIN_BYTES (256ull << 20)
snug_status cli_load_weights(snug_model *model, const snug_plan *plan, snug_error *err);

/* ---- checked output (output.c) -------------------------------------------------------------------------------
 * Every write to stdout and stderr is checked: stdio keeps an error flag per stream, and cli_stdout_ok() flushes and
 * reads it wherever a command must stop at once (each generated token); cli_finish() checks both streams when a
 * command ends. SIGPIPE is ignored (cli_output_init), so a closed pipe is an EPIPE error with a message, not a silent
 * death. */
void cli_output_init(void);
/* Flushes stdout; false when this or any earlier write to it failed (the reason is kept for the message). */
bool cli_stdout_ok(void);
/* Says on stderr (once) that writing to stdout failed, and why; returns SNUG_EXIT_FAILURE. */
int cli_stdout_failed(void);
/* The exit code of a command that returned `code`: stdout is flushed and closed, and a failed write to stdout (with
 * a message on stderr) or to stderr turns an exit code of 0 into SNUG_EXIT_FAILURE. */
int cli_finish(int code);

/* ---- bounded input (input.c) ----------------------------------------------------------------------------------
 * A text is bounded by what a context could ever hold: n_ctx tokens × the vocabulary's longest token in bytes. */
typedef struct cli_input_limit {
    int32_t n_ctx;        /* tokens */
    uint64_t token_bytes; /* the vocabulary's longest token, decoded, in bytes */
    const char *what;     /* "a context of 256 tokens", for the message */
    const char *hint;     /* what would fix it, or NULL */
} cli_input_limit;

typedef struct cli_text {
    char *bytes; /* malloc'd, NUL-terminated (the text itself may hold NUL bytes) */
    size_t len;
} cli_text;

/* The longest token of a vocabulary, as text, in bytes (at least 1). */
uint64_t cli_model_token_bytes_max(const snug_model *model, int32_t n_vocab);
uint64_t cli_vocab_token_bytes_max(const snug_vocab *vocab);
uint64_t cli_input_limit_bytes(const cli_input_limit *limit);
/* Fills err (SNUG_E_CONTEXT_FULL) for a text of `bytes` (more: "more than `bytes`") over the limit. */
snug_status cli_input_too_long(const char *what, uint64_t bytes, bool more, const cli_input_limit *limit,
                               snug_error *err);
/* Reads stdin to its end, never more than the limit + 1 byte; drop_newline removes one final '\n'. */
snug_status cli_read_stdin(const cli_input_limit *limit, bool drop_newline, cli_text *out, snug_error *err);
/* Reads a regular file (anything else is refused at once, without blocking), within the limit. */
snug_status cli_read_text_file(const char *path, const cli_input_limit *limit, bool drop_newline, cli_text *out,
                               snug_error *err);
void cli_text_free(cli_text *text);

int cli_run(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_hw(int argc, char **argv);
int cli_plan(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_quantize(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_chat(int argc, char **argv);
int cli_serve(int argc, char **argv);

#endif
