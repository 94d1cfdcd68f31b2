/* main.c — the `snug` command: dispatches to one file per subcommand, then checks that its output was written. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *out) {
    fprintf(out,
            "snug — run GGUF language models locally; every byte planned before it is allocated\n"
            "\n"
            "usage: snug COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  run MODEL [-p PROMPT] [-n N] …   generate text (streamed to stdout)\n"
            "  chat MODEL [--system TEXT] …    interactive chat with the model's chat template\n"
            "  serve MODEL [--port N] …        OpenAI-compatible HTTP server for many users at once\n"
            "  info MODEL [--json]             metadata and tensor table of a GGUF file\n"
            "  hw [--profiles] [--json]        this machine (CPU, caches, memory) or the device profiles\n"
            "  plan MODEL [--ctx N|max] …      will it fit? every byte, before loading anything\n"
            "  bench MODEL [-p N] [-n N] …     prefill/decode tokens/s, peak RSS, %% of the bandwidth roofline\n"
            "  quantize IN OUT TYPE            quantize an F32/F16/BF16 model (Q8_0 … Q4_K_M, Q5_K_M)\n"
            "  tokenize MODEL TEXT [--ids|--pieces]   text → token ids with the model's vocabulary\n"
            "\n"
            "'snug COMMAND --help' describes a command's options.\n"
            "exit codes: 0 ok, 1 failure (a failed write to stdout included), 2 bad input, 3 does not fit in memory,\n"
            "            4 device failure\n");
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return SNUG_EXIT_BAD_INPUT;
    }
    const char *command = argv[1];
    if (strcmp(command, "run") == 0) return cli_run(argc - 1, argv + 1);
    if (strcmp(command, "chat") == 0) return cli_chat(argc - 1, argv + 1);
    if (strcmp(command, "serve") == 0) return cli_serve(argc - 1, argv + 1);
    if (strcmp(command, "info") == 0) return cli_info(argc - 1, argv + 1);
    if (strcmp(command, "hw") == 0) return cli_hw(argc - 1, argv + 1);
    if (strcmp(command, "plan") == 0) return cli_plan(argc - 1, argv + 1);
    if (strcmp(command, "bench") == 0) return cli_bench(argc - 1, argv + 1);
    if (strcmp(command, "quantize") == 0) return cli_quantize(argc - 1, argv + 1);
    if (strcmp(command, "tokenize") == 0) return cli_tokenize(argc - 1, argv + 1);
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 || strcmp(command, "help") == 0) {
        usage(stdout);
        return SNUG_EXIT_OK;
    }
    fprintf(stderr, "snug: unknown command '%s'\n\n", command);
    usage(stderr);
    return SNUG_EXIT_BAD_INPUT;
}

int main(int argc, char **argv) {
    cli_output_init();
    /* Every command's output is checked when it ends: a failed write to stdout or stderr is exit code 1. */
    return cli_finish(dispatch(argc, argv));
}
