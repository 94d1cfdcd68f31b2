/* cli.h — shared pieces of the `snug` command line: exit codes, error reporting, option parsing.
 *
 * Exit codes (documented in the README): 0 ok, 1 anything else, 2 bad input (file, option, prompt), 3 the plan does
 * not fit in memory, 4 device failure. The CLI is the only place that prints or exits.
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

/* Reads the model's weights into memory (snug_model_prefetch) with a progress line on stderr when it is a terminal
 * and the weights are large enough for the wait to show (CLI_PROGRESS_MIN_BYTES). */
#define CLI_PROGRESS_MIN_BYTES (256ull << 20)
void cli_prefetch_weights(const snug_model *model);

int cli_run(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_hw(int argc, char **argv);
int cli_plan(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_quantize(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_chat(int argc, char **argv);

#endif
