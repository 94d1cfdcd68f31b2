/* plan.c — `snug plan`: the memory plan of a model on this machine or a device profile, without loading it.
 *
 * Reads only the GGUF header and tensor table (a header-only file works: "will this fit?" before a download). A file
 * of an architecture snug runs is first checked as `snug run` would load it (snug_model_check): one that run refuses
 * is refused here with the same message and exit code. Exit 0 when the plan fits, 3 when it does not (with the
 * overflowing item and alternatives), 2 for bad input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void plan_usage(FILE *out) {
    fprintf(out,
            "usage: snug plan MODEL [options] [--json]\n"
            "\n"
            "Shows every byte MODEL would use — weights, KV cache, activations, scratch, tables, GPU kernels' on-chip\n"
            "memory — against the memory budget, and whether it fits. Only the file's header is read.\n"
            "\n"
            "options:\n%s"
            "  --json                 the plan as JSON (documented in docs/plan.md)\n"
            "\n"
            "exit codes: 0 fits, 3 does not fit, 2 bad input\n",
            cli_plan_options_help());
}

int cli_plan(int argc, char **argv) {
    const char *path = NULL;
    bool as_json = false;
    snug_context_params params = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            plan_usage(stdout);
            return SNUG_EXIT_OK;
        }
        if (strcmp(a, "--json") == 0) {
            as_json = true;
            continue;
        }
        if (a[0] != '-') {
            if (path) return cli_usage_error("plan", "unexpected argument '%s'", a);
            path = a;
            continue;
        }
        if (i + 1 >= argc) return cli_usage_error("plan", "option %s needs a value", a);
        int code = cli_parse_plan_option("plan", a, argv[++i], &params);
        if (code < 0) return cli_usage_error("plan", "unknown option '%s'", a);
        if (code != SNUG_EXIT_OK) return code;
    }
    if (!path) return cli_usage_error("plan", "no model file given");
    snug_error err = {0};
    snug_gguf *gguf;
    if (snug_gguf_open(path, SNUG_GGUF_ALLOW_MISSING_DATA, &gguf, &err) != SNUG_OK) return cli_report(&err);
    snug_plan *plan;
    if (snug_plan_create(gguf, &params, &plan, &err) != SNUG_OK) {
        snug_gguf_close(gguf);
        return cli_report(&err);
    }
    if (snug_plan_runnable(plan) && snug_model_check(gguf, path, &err) != SNUG_OK) {
        snug_plan_free(plan);
        snug_gguf_close(gguf);
        return cli_report(&err);
    }
    char *report = as_json ? snug_plan_render_json(plan) : snug_plan_render_text(plan);
    int code = SNUG_EXIT_OK;
    if (!report) {
        fprintf(stderr, "snug: error: out of memory rendering the plan\n");
        code = SNUG_EXIT_FAILURE;
    } else {
        fputs(report, stdout);
        if (as_json) fputc('\n', stdout);
        free(report);
    }
    if (code == SNUG_EXIT_OK && !snug_plan_fits(plan)) {
        snug_plan_refusal(plan, &err);
        code = cli_report(&err);
    }
    snug_plan_free(plan);
    snug_gguf_close(gguf);
    return code;
}
