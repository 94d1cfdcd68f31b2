/* report.c — a plan as an aligned text table and as the stable JSON documented in docs/plan.md.
 *
 * Both are rendered into malloc'd strings (library code never prints); the CLI decides where they go.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/units.h"
#include "plan/plan.h"

/* A growing string for the text report. */
typedef struct text_buffer {
    char *data;
    size_t len, cap;
    bool failed;
} text_buffer;

static void append(text_buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(text_buffer *b, const char *fmt, ...) {
    if (b->failed) return;
    va_list args;
    va_start(args, fmt);
    int need = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (need < 0) {
        b->failed = true;
        return;
    }
    if (b->len + (size_t)need + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap : 1024);
        while (cap < b->len + (size_t)need + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    va_start(args, fmt);
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, args);
    va_end(args);
    b->len += (size_t)need;
}

static const char *kv_label(uint32_t type) {
    return type == SNUG_TYPE_Q8_0 ? "q8_0" : type == SNUG_TYPE_F32 ? "f32" : "f16";
}

/* Where the budget comes from: detected memory less its headroom, or --mem (which carries no default headroom). */
static void append_budget(text_buffer *b, const snug_plan *p) {
    char memory[32], headroom[32], budget[32], detected[32];
    snug_format_bytes(memory, sizeof memory, p->memory_bytes);
    snug_format_bytes(headroom, sizeof headroom, p->headroom_bytes);
    snug_format_bytes(budget, sizeof budget, p->budget_bytes);
    snug_format_bytes(detected, sizeof detected, snug_device_usable_bytes(&p->device));
    const char *working_set = p->device.gpu_working_set_fraction < 1.0 ? ", GPU working set" : "";
    if (p->mem_limit_bytes == 0) {
        append(b, "budget   %s usable (%s%s) − %s headroom = %s\n", memory, p->device.memory_source, working_set,
               headroom, budget);
    } else if (p->mem_capped) {
        char detected_headroom[32];
        snug_format_bytes(detected_headroom, sizeof detected_headroom,
                          snug_device_usable_bytes(&p->device) - p->detected_budget_bytes);
        append(b, "budget   %s usable (%s%s) − %s headroom = %s: --mem %s is more than that\n", detected,
               p->device.memory_source, working_set, detected_headroom, budget, memory);
    } else if (p->headroom_bytes > 0) {
        append(b, "budget   %s (--mem) − %s headroom (--headroom) = %s\n", memory, headroom, budget);
    } else {
        append(b, "budget   %s (--mem: the plan may use all of it; the default headroom applies to detected memory)\n",
               budget);
    }
}

static const char *residency_label(snug_residency r) {
    return r == SNUG_RESIDENCY_MMAP ? "mmap" : r == SNUG_RESIDENCY_DEVICE ? "device" : "anon";
}

char *snug_plan_render_text(const snug_plan *p) {
    text_buffer b = {0};
    char s1[32], s2[32], s3[32];
    append(
        &b,
        "model    %s, %d layers, embedding %d, %d heads (%d KV, head size %d), vocabulary %d, trained context %d%s\n",
        p->architecture, p->shape.n_layer, p->shape.n_embd, p->shape.n_head, p->shape.n_head_kv, p->shape.head_dim,
        p->shape.n_vocab, p->shape.n_ctx_train,
        p->runnable ? "" : " (snug plans this architecture but cannot run it yet)");
    snug_format_bytes(s1, sizeof s1, p->device.memory_bytes);
    append(&b, "device   %s: %s, %s memory\n", p->device.name, p->device.description, s1);
    append_budget(&b, p);
    append(&b, "context  %d tokens × %d sequence%s, KV %s, batch %d, %d threads — %s\n", p->n_ctx, p->n_parallel,
           p->n_parallel == 1 ? "" : "s", kv_label(p->kv_type), p->n_batch, p->n_threads, p->context_reason);
    if (p->kv_reason[0]) append(&b, "kv       %s\n", p->kv_reason);
    append(&b, "weights  %s\n", p->weights_reason);
    append(&b, "backend  %s — %s\n", snug_plan_backend_name(p), p->backend_reason);
    if (p->backend_unsupported[0]) append(&b, "         cannot run: %s\n", p->backend_unsupported);
    append(&b, "\n  %-22s %-6s %-9s %14s\n", "item", "device", "residency", "bytes");
    for (int i = 0; i < p->n_lines; i++) {
        const snug_plan_line *l = &p->lines[i];
        snug_format_bytes(s1, sizeof s1, l->bytes);
        append(&b, "  %-22s %-6s %-9s %14s%s\n", l->name, l->device, residency_label(l->residency), s1,
               l->counted ? "" : "  (host, not in the device budget)");
    }
    snug_format_bytes(s1, sizeof s1, p->total_bytes);
    snug_format_bytes(s2, sizeof s2, p->anon_bytes);
    snug_format_bytes(s3, sizeof s3, p->mmap_bytes);
    if (p->device_bytes > 0) {
        char s4[32];
        snug_format_bytes(s4, sizeof s4, p->device_bytes);
        append(&b, "  %-22s %-6s %-9s %14s  (device %s; host: anonymous %s, mapped %s)\n", "total", "", "", s1, s4, s2,
               s3);
    } else {
        append(&b, "  %-22s %-6s %-9s %14s  (anonymous %s, mapped %s)\n", "total", "", "", s1, s2, s3);
    }
    if (p->n_kernels > 0) {
        append(&b, "\n  %-22s %-22s %12s %12s  %s\n", "gpu kernel", "tile", "on-chip", "limit",
               "unplanned default: tile, on-chip");
        for (int k = 0; k < p->n_kernels; k++) {
            const snug_kernel_plan *kp = &p->kernels[k];
            append(&b, "  %-22s %-22s %12llu %12llu  %u, %llu%s%s\n", kp->name, kp->tile_text,
                   (unsigned long long)kp->onchip_bytes, (unsigned long long)kp->limit_bytes, kp->default_tile,
                   (unsigned long long)kp->default_onchip_bytes,
                   kp->default_onchip_bytes > kp->limit_bytes ? " (over the limit)" : "",
                   kp->fits ? "" : "  DOES NOT FIT");
        }
    }
    snug_format_bytes(s1, sizeof s1, p->total_bytes);
    snug_format_bytes(s2, sizeof s2, p->budget_bytes);
    if (p->fits) {
        append(&b, "\nverdict  fits: %s of %s\n", s1, s2);
    } else {
        char need[32], have[32];
        bool kernel = !p->overflow_is_binding &&
                      (strncmp(p->overflow_item, "attention", 9) == 0 || strncmp(p->overflow_item, "matvec_", 7) == 0 ||
                       strncmp(p->overflow_item, "matmul_", 7) == 0);
        snug_format_bytes(need, sizeof need, p->overflow_needed_bytes);
        snug_format_bytes(have, sizeof have, p->overflow_available_bytes);
        append(&b, "\nverdict  DOES NOT FIT: %s needs %s, %s is available%s (total %s, budget %s)\n", p->overflow_item,
               need, have,
               kernel                   ? " on chip"
               : p->overflow_is_binding ? " in one device buffer"
                                        : "",
               s1, s2);
        if (p->n_alternatives == 0) append(&b, "         nothing smaller fits\n");
        for (int a = 0; a < p->n_alternatives; a++) append(&b, "  %d. %s\n", a + 1, p->alternatives[a].text);
    }
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

char *snug_plan_render_json(const snug_plan *p) {
    json_t *root = json_object();
    json_object_set_new(root, "fits", json_boolean(p->fits));
    json_object_set_new(root, "context", json_integer(p->n_ctx));
    json_object_set_new(root, "context_reason", json_string(p->context_reason));
    json_object_set_new(root, "kv_type", json_string(kv_label(p->kv_type)));
    json_object_set_new(root, "kv_reason", json_string(p->kv_reason));
    json_object_set_new(root, "weights", json_string(p->weights_copied ? "copied" : "mapped"));
    json_object_set_new(root, "weights_reason", json_string(p->weights_reason));
    json_object_set_new(root, "weights_page_bytes", json_integer((json_int_t)p->weights_page_bytes));
    json_object_set_new(root, "parallel", json_integer(p->n_parallel));
    json_object_set_new(root, "batch", json_integer(p->n_batch));
    json_object_set_new(root, "threads", json_integer(p->n_threads));
    json_object_set_new(root, "budget_bytes", json_integer((json_int_t)p->budget_bytes));
    json_object_set_new(root, "total_bytes", json_integer((json_int_t)p->total_bytes));
    json_object_set_new(root, "anon_bytes", json_integer((json_int_t)p->anon_bytes));
    json_object_set_new(root, "mmap_bytes", json_integer((json_int_t)p->mmap_bytes));
    json_object_set_new(root, "arena_bytes", json_integer((json_int_t)p->arena_bytes));
    json_object_set_new(root, "headroom_bytes", json_integer((json_int_t)p->headroom_bytes));
    json_object_set_new(root, "budget_source",
                        json_string(p->mem_limit_bytes == 0 ? "detected"
                                    : p->mem_capped         ? "detected (--mem capped)"
                                                            : "--mem"));
    json_object_set_new(root, "mem_limit_bytes", json_integer((json_int_t)p->mem_limit_bytes));
    json_object_set_new(root, "context_above_trained", json_boolean(p->context_above_trained));
    json_t *device = json_pack("{s:s, s:s, s:I, s:I, s:s, s:f}", "name", p->device.name, "description",
                               p->device.description, "memory_bytes", (json_int_t)p->device.memory_bytes,
                               "available_bytes", (json_int_t)p->device.available_bytes, "memory_source",
                               p->device.memory_source, "gpu_working_set_fraction", p->device.gpu_working_set_fraction);
    json_object_set_new(root, "device", device);
    json_object_set_new(root, "backend",
                        json_pack("{s:s, s:s, s:s?}", "name", snug_plan_backend_name(p), "reason", p->backend_reason,
                                  "unsupported", p->backend_unsupported[0] ? p->backend_unsupported : NULL));
    json_t *model = json_pack(
        "{s:s, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:b}", "architecture", p->architecture, "runnable",
        p->runnable, "n_layer", p->shape.n_layer, "n_embd", p->shape.n_embd, "n_head", p->shape.n_head, "n_head_kv",
        p->shape.n_head_kv, "head_dim", p->shape.head_dim, "n_ff", p->shape.n_ff, "n_vocab", p->shape.n_vocab,
        "n_ctx_train", p->shape.n_ctx_train, "n_params", (json_int_t)p->n_params, "data_complete", p->data_complete);
    json_object_set_new(root, "model", model);
    json_t *items = json_array();
    for (int i = 0; i < p->n_lines; i++) {
        const snug_plan_line *l = &p->lines[i];
        json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:I, s:b}", "name", l->name, "device", l->device,
                                               "residency", residency_label(l->residency), "bytes",
                                               (json_int_t)l->bytes, "counted", l->counted));
    }
    json_object_set_new(root, "items", items);
    json_t *kernels = json_array();
    for (int k = 0; k < p->n_kernels; k++) {
        const snug_kernel_plan *kp = &p->kernels[k];
        json_array_append_new(kernels, json_pack("{s:s, s:I, s:I, s:s, s:i, s:b, s:i, s:I}", "name", kp->name,
                                                 "onchip_bytes", (json_int_t)kp->onchip_bytes, "limit_bytes",
                                                 (json_int_t)kp->limit_bytes, "tile", kp->tile_text, "tile_size",
                                                 (int)kp->tile, "fits", kp->fits, "default_tile", (int)kp->default_tile,
                                                 "default_onchip_bytes", (json_int_t)kp->default_onchip_bytes));
    }
    json_object_set_new(root, "kernels", kernels);
    if (!p->fits) {
        json_object_set_new(root, "overflow",
                            json_pack("{s:s, s:I, s:I}", "item", p->overflow_item, "needed_bytes",
                                      (json_int_t)p->overflow_needed_bytes, "available_bytes",
                                      (json_int_t)p->overflow_available_bytes));
    } else {
        json_object_set_new(root, "overflow", json_null());
    }
    json_t *alternatives = json_array();
    for (int a = 0; a < p->n_alternatives; a++) {
        const snug_plan_alternative *alt = &p->alternatives[a];
        json_array_append_new(alternatives,
                              json_pack("{s:s, s:i, s:s, s:i, s:I, s:b}", "text", alt->text, "context", alt->n_ctx,
                                        "kv_type", kv_label(alt->kv_type), "parallel", alt->n_parallel, "total_bytes",
                                        (json_int_t)alt->total_bytes, "above_trained", alt->above_trained));
    }
    json_object_set_new(root, "alternatives", alternatives);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(root);
    return text;
}
