/* plan_options.c — the options every model-loading command shares with `snug plan`: device, memory, context,
 * KV type, parallel sequences, batch, threads. Parsed into a snug_context_params. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

/* Sizes: plain bytes, or a number with a unit. K/M/G/T and KiB/MiB/GiB/TiB are powers of 1024 (as `free -h` shows
 * memory); KB/MB/GB/TB are powers of 1000 (as vendors print VRAM). Fractions are allowed: "1.5GiB". */
bool cli_parse_bytes(const char *text, uint64_t *out) {
    static const struct {
        const char *suffix;
        double scale;
    } units[] = {
        {"", 1.0},
        {"b", 1.0},
        {"k", 1024.0},
        {"kib", 1024.0},
        {"kb", 1e3},
        {"m", 1048576.0},
        {"mib", 1048576.0},
        {"mb", 1e6},
        {"g", 1073741824.0},
        {"gib", 1073741824.0},
        {"gb", 1e9},
        {"t", 1099511627776.0},
        {"tib", 1099511627776.0},
        {"tb", 1e12},
    };
    if (!text || !*text || *text == '-') return false;
    char *end;
    double value = strtod(text, &end);
    if (end == text || !(value >= 0)) return false;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (strcasecmp(end, units[i].suffix) == 0) {
            double bytes = value * units[i].scale;
            if (bytes > 1.8e19) return false;
            *out = (uint64_t)bytes;
            return true;
        }
    }
    return false;
}

int cli_parse_plan_option(const char *command, const char *option, const char *value, snug_context_params *p) {
    int64_t n;
    if (strcmp(option, "--ctx") == 0 || strcmp(option, "-c") == 0) {
        if (strcmp(value, "max") == 0) {
            p->n_ctx = SNUG_CTX_MAX;
        } else if (!cli_parse_i64(value, 1, 1 << 24, &n)) {
            return cli_usage_error(command, "--ctx must be a number of tokens in 1..%d or 'max', got '%s'", 1 << 24,
                                   value);
        } else {
            p->n_ctx = (int32_t)n;
        }
    } else if (strcmp(option, "--kv") == 0) {
        if (strcmp(value, "auto") == 0)
            p->kv_type = SNUG_KV_AUTO;
        else if (strcmp(value, "f16") == 0)
            p->kv_type = SNUG_KV_F16;
        else if (strcmp(value, "q8_0") == 0)
            p->kv_type = SNUG_KV_Q8_0;
        else if (strcmp(value, "f32") == 0)
            p->kv_type = SNUG_KV_F32;
        else
            return cli_usage_error(command, "--kv must be auto, f16, q8_0 or f32, got '%s'", value);
    } else if (strcmp(option, "--weights") == 0) {
        if (strcmp(value, "auto") == 0)
            p->weights = SNUG_WEIGHTS_AUTO;
        else if (strcmp(value, "mmap") == 0)
            p->weights = SNUG_WEIGHTS_MAPPED;
        else if (strcmp(value, "copy") == 0)
            p->weights = SNUG_WEIGHTS_COPIED;
        else
            return cli_usage_error(command, "--weights must be auto, mmap or copy, got '%s'", value);
    } else if (strcmp(option, "--parallel") == 0) {
        if (!cli_parse_i64(value, 1, 256, &n))
            return cli_usage_error(command, "--parallel must be in 1..256, got '%s'", value);
        p->n_parallel = (int32_t)n;
    } else if (strcmp(option, "--batch") == 0 || strcmp(option, "-b") == 0) {
        if (!cli_parse_i64(value, 1, 1 << 16, &n))
            return cli_usage_error(command, "--batch must be in 1..65536, got '%s'", value);
        p->n_batch = (int32_t)n;
    } else if (strcmp(option, "--threads") == 0 || strcmp(option, "-t") == 0) {
        if (!cli_parse_i64(value, 1, 1024, &n))
            return cli_usage_error(command, "--threads must be in 1..1024, got '%s'", value);
        p->n_threads = (int32_t)n;
    } else if (strcmp(option, "--backend") == 0) {
        if (strcmp(value, "auto") == 0)
            p->backend = SNUG_BACKEND_AUTO;
        else if (strcmp(value, "cpu") == 0)
            p->backend = SNUG_BACKEND_CPU;
        else if (strcmp(value, "vulkan") == 0)
            p->backend = SNUG_BACKEND_VULKAN;
        else
            return cli_usage_error(command, "--backend must be auto, cpu or vulkan, got '%s'", value);
    } else if (strcmp(option, "--vulkan-device") == 0) {
        if (!cli_parse_i64(value, 0, SNUG_VULKAN_MAX_DEVICES - 1, &n))
            return cli_usage_error(command, "--vulkan-device must be in 0..%d, got '%s'", SNUG_VULKAN_MAX_DEVICES - 1,
                                   value);
        p->vulkan_device = (int32_t)n;
    } else if (strcmp(option, "--attention-tile") == 0) {
        if (!cli_parse_i64(value, 8, 256, &n) || (n & (n - 1)) != 0)
            return cli_usage_error(command, "--attention-tile must be a power of two in 8..256, got '%s'", value);
        p->attention_tile = (uint32_t)n;
    } else if (strcmp(option, "--device") == 0) {
        p->device = value;
    } else if (strcmp(option, "--mem") == 0) {
        if (!cli_parse_bytes(value, &p->mem_limit_bytes) || p->mem_limit_bytes == 0) {
            return cli_usage_error(command, "--mem must be a size such as 8GiB, 512M or 1000000000, got '%s'", value);
        }
    } else if (strcmp(option, "--headroom") == 0) {
        if (!cli_parse_bytes(value, &p->headroom_bytes)) {
            return cli_usage_error(command, "--headroom must be a size such as 1GiB or 0, got '%s'", value);
        }
        p->headroom_set = true;
    } else {
        return -1;
    }
    return SNUG_EXIT_OK;
}

const char *cli_plan_options_help(void) {
    return "  --ctx N|max            context length: N exactly, or the largest that fits (default: min(trained, 8192)\n"
           "                         if it fits, else the largest multiple of 256 that does)\n"
           "  --kv auto|f16|q8_0|f32 KV cache type (auto: f16, or q8_0 when that reaches the context)\n"
           "  --weights auto|mmap|copy  where the weights live: the mapped file, or a copy in huge pages that streams\n"
           "                         faster (auto: copy when the kernel offers transparent huge pages)\n"
           "  --parallel N           sequences sharing the KV cache (default 1)\n"
           "  --batch N              prompt tokens per forward step (default 256)\n"
           "  --threads N            compute threads (default: the physical cores)\n"
           "  --backend auto|cpu|vulkan  what computes (auto: a Vulkan GPU when the plan fits on it, else the CPU;\n"
           "                         a Vulkan driver on the CPU such as lavapipe only when asked)\n"
           "  --vulkan-device N      which Vulkan device ('snug hw' lists them; default 0)\n"
           "  --attention-tile N     debugging: force the Vulkan attention tile (the plan refuses one that does not "
           "fit)\n"
           "  --device NAME          plan for a device profile instead of this machine ('snug hw --profiles')\n"
           "  --mem SIZE             the plan may use SIZE (e.g. 8GiB, 512M; K/M/G = 1024^n, KB/MB/GB = 1000^n); no\n"
           "                         headroom is taken from it, and it is capped by what the device offers\n"
           "  --headroom SIZE        keep this much free (default for detected memory: max(5% of it, 512 MiB))\n";
}
