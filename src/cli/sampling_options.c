/* sampling_options.c — the sampling options of the generating commands (--temp, --top-k, --top-p, --min-p,
 * --repeat-penalty, --repeat-last-n, --seed), parsed into a snug_sampler_params. Used by `snug chat`; the ranges and
 * messages are the ones `snug run` accepts. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cli_parse_sampling_option(const char *command, const char *option, const char *value, snug_sampler_params *s,
                              bool *seed_given) {
    int64_t n;
    if (strcmp(option, "--temp") == 0) {
        if (!cli_parse_f32(value, 0.0f, 100.0f, &s->temperature))
            return cli_usage_error(command, "--temp must be in [0, 100], got '%s'", value);
    } else if (strcmp(option, "--top-k") == 0) {
        if (!cli_parse_i64(value, 0, INT32_MAX, &n))
            return cli_usage_error(command, "--top-k must be a count >= 0, got '%s'", value);
        s->top_k = (int32_t)n;
    } else if (strcmp(option, "--top-p") == 0) {
        if (!cli_parse_f32(value, 0.0f, 1.0f, &s->top_p) || s->top_p == 0.0f)
            return cli_usage_error(command, "--top-p must be in (0, 1], got '%s'", value);
    } else if (strcmp(option, "--min-p") == 0) {
        if (!cli_parse_f32(value, 0.0f, 1.0f, &s->min_p))
            return cli_usage_error(command, "--min-p must be in [0, 1], got '%s'", value);
    } else if (strcmp(option, "--repeat-penalty") == 0) {
        if (!cli_parse_f32(value, 1e-3f, 1e3f, &s->repeat_penalty))
            return cli_usage_error(command, "--repeat-penalty must be in [0.001, 1000], got '%s'", value);
    } else if (strcmp(option, "--repeat-last-n") == 0) {
        if (!cli_parse_i64(value, 0, SNUG_MAX_REPEAT_WINDOW, &n))
            return cli_usage_error(command, "--repeat-last-n must be in 0..%d, got '%s'", SNUG_MAX_REPEAT_WINDOW,
                                   value);
        s->repeat_last_n = (int32_t)n;
    } else if (strcmp(option, "--seed") == 0) {
        if (!cli_parse_u64(value, &s->seed))
            return cli_usage_error(command, "--seed must be a non-negative integer, got '%s'", value);
        *seed_given = true;
    } else {
        return -1;
    }
    return SNUG_EXIT_OK;
}

const char *cli_sampling_options_help(void) {
    return "  --temp T               temperature; 0 = greedy (default 0.8)\n"
           "  --top-k K              keep the K most likely tokens; 0 = off (default 40)\n"
           "  --top-p P              nucleus sampling, in (0, 1]; 1 = off (default 0.95)\n"
           "  --min-p P              drop tokens below P × the best one's probability; 0 = off (default 0.05)\n"
           "  --repeat-penalty R     penalise recently seen tokens; 1 = off (default 1.0)\n"
           "  --repeat-last-n N      how many recent tokens the penalty looks at (default 64)\n"
           "  --seed S               random seed (default: from the clock; printed on stderr)\n";
}
