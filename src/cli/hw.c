/* hw.c — `snug hw`: what this machine offers a plan (CPU, caches, memory, CUDA devices), and with --profiles the
 * device profiles a plan can target instead (`snug plan --device NAME`). Text or JSON (jansson).
 *
 * Reads only through the public API (snug_hw_probe, snug_device_*). The JSON keys are stable: tests and scripts
 * read them.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* What the report says about CUDA while the backend is not part of the build. */
#define HW_CUDA_NOT_BUILT "none (the CUDA backend is not built)"

static const char *const cache_names[SNUG_HW_CACHE_LEVELS] = {"L1d", "L2", "L3"};

/* "23.5 GiB", "512.0 MiB", "48 KiB", "0 B": binary units, one decimal from MiB up. */
static const char *bytes_text(uint64_t bytes, char *buf, size_t cap) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u <= 1) {
        snprintf(buf, cap, "%.0f %s", v, units[u]);
    } else {
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    }
    return buf;
}

static json_t *features_json(const char *features) {
    json_t *list = json_array();
    char copy[SNUG_HW_FEATURES_BYTES];
    snprintf(copy, sizeof copy, "%s", features);
    char *save = NULL;
    for (char *name = strtok_r(copy, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
        json_array_append_new(list, json_string(name));
    }
    return list;
}

static int print_json(json_t *root) {
    int failed = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    printf("\n");
    json_decref(root);
    return failed ? SNUG_EXIT_FAILURE : SNUG_EXIT_OK;
}

typedef struct vulkan_list vulkan_list;
static json_t *vulkan_json(const vulkan_list *v);

static int hw_json(const snug_hw_report *r, const vulkan_list *vulkan) {
    json_t *caches = json_array();
    for (int level = 0; level < SNUG_HW_CACHE_LEVELS; level++) {
        if (r->cache_bytes[level] == 0) continue;
        json_array_append_new(caches, json_pack("{s:s, s:I, s:i}", "level", cache_names[level], "bytes",
                                                (json_int_t)r->cache_bytes[level], "count", r->cache_count[level]));
    }
    json_t *root = json_object();
    json_object_set_new(root, "cpu",
                        json_pack("{s:s, s:i, s:i, s:o}", "name", r->cpu_name, "cores", r->cores, "threads", r->threads,
                                  "features", features_json(r->features)));
    json_object_set_new(root, "topology",
                        json_pack("{s:s, s:s}", "source", r->topology_source, "note", r->topology_note));
    json_object_set_new(root, "caches", caches);
    json_object_set_new(root, "kernels",
                        json_pack("{s:s, s:{s:s, s:I, s:s}}", "isa", r->kernel_isa, "stream", "hint", r->stream_hint,
                                  "distance_bytes", (json_int_t)r->stream_distance_bytes, "source", r->stream_source));
    json_t *memory = json_pack("{s:I, s:I, s:s}", "total_bytes", (json_int_t)r->memory_total_bytes, "available_bytes",
                               (json_int_t)r->memory_available_bytes, "source", r->memory_source);
    json_object_set_new(memory, "huge_page_bytes", json_integer((json_int_t)r->huge_page_bytes));
    json_object_set_new(memory, "cgroup_limit_bytes",
                        r->memory_cgroup_limit_bytes ? json_integer((json_int_t)r->memory_cgroup_limit_bytes)
                                                     : json_null());
    json_object_set_new(root, "memory", memory);
    json_object_set_new(root, "cuda",
                        json_pack("{s:b, s:i, s:s}", "built", r->cuda_devices >= 0, "devices",
                                  r->cuda_devices > 0 ? r->cuda_devices : 0, "status",
                                  r->cuda_devices < 0 ? HW_CUDA_NOT_BUILT : "built"));
    json_object_set_new(root, "vulkan", vulkan_json(vulkan));
    return print_json(root);
}

/* The Vulkan devices (snug_vulkan_probe), for the text and the JSON. */
struct vulkan_list {
    snug_vulkan_device devices[SNUG_VULKAN_MAX_DEVICES];
    size_t n;
    char why[160];
};

static json_t *vulkan_json(const vulkan_list *v) {
    json_t *devices = json_array();
    for (size_t i = 0; i < v->n; i++) {
        const snug_vulkan_device *d = &v->devices[i];
        json_t *heaps = json_array();
        for (int32_t h = 0; h < d->n_heaps; h++) {
            const snug_vulkan_heap *hp = &d->heaps[h];
            json_array_append_new(heaps,
                                  json_pack("{s:I, s:o, s:b, s:b, s:b}", "bytes", (json_int_t)hp->bytes, "budget_bytes",
                                            d->has_budget ? json_integer((json_int_t)hp->budget_bytes) : json_null(),
                                            "device_local", hp->device_local, "host_visible", hp->host_visible,
                                            "unified", hp->unified));
        }
        json_t *dev = json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", d->name, "driver", d->driver, "type", d->type,
                                "api_version", "", "heaps", heaps);
        char version[16];
        snprintf(version, sizeof version, "%d.%d", d->api_version_major, d->api_version_minor);
        json_object_set_new(dev, "api_version", json_string(version));
        json_object_set_new(dev, "max_compute_shared_memory_bytes", json_integer(d->max_compute_shared_memory_bytes));
        json_object_set_new(dev, "max_workgroup_invocations", json_integer(d->max_workgroup_invocations));
        json_object_set_new(dev, "max_workgroup_size",
                            json_pack("[i, i, i]", (int)d->max_workgroup_size[0], (int)d->max_workgroup_size[1],
                                      (int)d->max_workgroup_size[2]));
        json_object_set_new(dev, "subgroup_size", json_integer(d->subgroup_size));
        json_object_set_new(dev, "max_storage_buffer_range_bytes", json_integer(d->max_storage_buffer_range_bytes));
        json_object_set_new(dev, "max_allocation_bytes", json_integer((json_int_t)d->max_allocation_bytes));
        json_object_set_new(dev, "storage_16bit", json_boolean(d->storage_16bit));
        json_object_set_new(dev, "storage_8bit", json_boolean(d->storage_8bit));
        json_object_set_new(dev, "float16", json_boolean(d->float16));
        json_object_set_new(dev, "int8", json_boolean(d->int8));
        json_array_append_new(devices, dev);
    }
    return json_pack("{s:o, s:o}", "devices", devices, "status", v->n ? json_string("ok") : json_string(v->why));
}

static void vulkan_text(const vulkan_list *v) {
    char a[32], b[32];
    if (v->n == 0) {
        printf("vulkan     no device: %s\n", v->why);
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        const snug_vulkan_device *d = &v->devices[i];
        printf("vulkan     %s (%s, Vulkan %d.%d; %s)\n", d->name, d->type, d->api_version_major, d->api_version_minor,
               d->driver);
        for (int32_t h = 0; h < d->n_heaps; h++) {
            const snug_vulkan_heap *hp = &d->heaps[h];
            printf("           heap %d: %s%s%s%s", h, bytes_text(hp->bytes, a, sizeof a),
                   hp->device_local ? ", device-local" : "", hp->host_visible ? ", host-visible" : "",
                   hp->unified ? " (unified memory)" : "");
            if (d->has_budget) printf(", budget %s", bytes_text(hp->budget_bytes, b, sizeof b));
            printf("\n");
        }
        printf("           shared memory %u bytes a workgroup; workgroups of %u invocations (%u × %u × %u); "
               "subgroup %u\n",
               d->max_compute_shared_memory_bytes, d->max_workgroup_invocations, d->max_workgroup_size[0],
               d->max_workgroup_size[1], d->max_workgroup_size[2], d->subgroup_size);
        printf("           storage buffer range %s, allocation %s; 16-bit storage %s, 8-bit %s; float16 %s, int8 %s\n",
               bytes_text(d->max_storage_buffer_range_bytes, a, sizeof a),
               bytes_text(d->max_allocation_bytes, b, sizeof b), d->storage_16bit ? "yes" : "no",
               d->storage_8bit ? "yes" : "no", d->float16 ? "yes" : "no", d->int8 ? "yes" : "no");
    }
}

static void hw_text(const snug_hw_report *r) {
    char a[32], b[32];
    printf("cpu        %s\n", r->cpu_name);
    printf("cores      %d physical, %d logical (%s)\n", r->cores, r->threads, r->topology_source);
    if (r->topology_note[0]) printf("           %s\n", r->topology_note);
    printf("features   %s\n", r->features[0] ? r->features : "(none detected)");
    printf("caches    ");
    bool any = false;
    for (int level = 0; level < SNUG_HW_CACHE_LEVELS; level++) {
        if (r->cache_bytes[level] == 0) continue;
        printf("%s %s %s × %d", any ? "," : "", cache_names[level], bytes_text(r->cache_bytes[level], a, sizeof a),
               r->cache_count[level]);
        any = true;
    }
    printf("%s\n", any ? "" : " unknown");
    if (strcmp(r->stream_hint, "none") == 0) {
        printf("kernels    %s; stream: no software prefetch (%s)\n", r->kernel_isa, r->stream_source);
    } else {
        printf("kernels    %s; stream: %s prefetch, %u bytes ahead (%s)\n", r->kernel_isa, r->stream_hint,
               r->stream_distance_bytes, r->stream_source);
    }
    printf("memory     %s total, %s available (%s)\n", bytes_text(r->memory_total_bytes, a, sizeof a),
           bytes_text(r->memory_available_bytes, b, sizeof b), r->memory_source);
    if (r->huge_page_bytes) {
        printf("pages      transparent huge pages of %s on request: the weights are copied into them (--weights)\n",
               bytes_text(r->huge_page_bytes, a, sizeof a));
    } else {
        printf("pages      no transparent huge pages on request: the weights stay in the mapped file (--weights)\n");
    }
    if (r->memory_cgroup_limit_bytes) {
        printf("cgroup     memory limit %s\n", bytes_text(r->memory_cgroup_limit_bytes, a, sizeof a));
    } else {
        printf("cgroup     no memory limit\n");
    }
    if (r->cuda_devices < 0) {
        printf("cuda       %s\n", HW_CUDA_NOT_BUILT);
    } else {
        printf("cuda       %d device(s)\n", r->cuda_devices);
    }
}

static json_t *device_json(const snug_device_info *d) {
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:f, s:I, s:i, s:i, s:I, s:I}", "name", d->name, "kind", d->kind,
                     "description", d->description, "memory_bytes", (json_int_t)d->memory_bytes, "available_bytes",
                     (json_int_t)d->available_bytes, "memory_source", d->memory_source, "working_set_fraction",
                     d->working_set_fraction, "usable_bytes", (json_int_t)d->usable_bytes, "onchip_default_bytes",
                     (int)d->onchip_default_bytes, "onchip_optin_bytes", (int)d->onchip_optin_bytes,
                     "vulkan_max_allocation_bytes", (json_int_t)d->max_allocation_bytes, "vulkan_max_binding_bytes",
                     (json_int_t)d->max_binding_bytes);
}

static void device_text(const snug_device_info *d) {
    char memory[32], usable[32], onchip[48], dflt[16], optin[16];
    if (d->onchip_default_bytes == 0) {
        snprintf(onchip, sizeof onchip, "-");
    } else {
        snprintf(onchip, sizeof onchip, "%s / %s", bytes_text(d->onchip_default_bytes, dflt, sizeof dflt),
                 bytes_text(d->onchip_optin_bytes, optin, sizeof optin));
    }
    printf("%-20s %-6s %10s %6.3f %10s  %-18s %s\n", d->name, d->kind,
           bytes_text(d->memory_bytes, memory, sizeof memory), d->working_set_fraction,
           bytes_text(d->usable_bytes, usable, sizeof usable), onchip, d->description);
}

/* The host first (when its memory can be read), then the table. */
static int profiles(bool as_json) {
    snug_device_info host;
    snug_error err = {0};
    bool have_host = snug_device_lookup("host", &host, &err) == SNUG_OK;
    size_t n = snug_device_profile_count();
    if (as_json) {
        json_t *list = json_array();
        if (have_host) json_array_append_new(list, device_json(&host));
        for (size_t i = 0; i < n; i++) {
            snug_device_info d;
            if (snug_device_profile_get(i, &d)) json_array_append_new(list, device_json(&d));
        }
        return print_json(json_pack("{s:o}", "profiles", list));
    }
    printf("%-20s %-6s %10s %6s %10s  %-18s %s\n", "name", "kind", "memory", "w.set", "usable", "on-chip dflt/max",
           "description");
    if (have_host) device_text(&host);
    for (size_t i = 0; i < n; i++) {
        snug_device_info d;
        if (snug_device_profile_get(i, &d)) device_text(&d);
    }
    printf("\nusable = available × working set (Metal's recommendedMaxWorkingSetSize share of unified memory); the\n"
           "planner keeps its headroom below that. Sources of every number: docs/devices.md.\n");
    if (!have_host) fprintf(stderr, "snug hw: host left out: %s\n", err.message);
    return SNUG_EXIT_OK;
}

static void hw_usage(FILE *out) {
    fprintf(out, "usage: snug hw [--profiles] [--json]\n"
                 "\n"
                 "Shows what this machine offers a plan: CPU (cores, SIMD features), caches, the memory this\n"
                 "process may use now (the smaller of /proc/meminfo and the cgroup limit), CUDA devices and Vulkan\n"
                 "devices (heaps, shared memory a workgroup, workgroup and buffer limits, 16/8-bit support).\n"
                 "\n"
                 "options:\n"
                 "  --profiles   list the device profiles 'snug plan --device NAME' accepts, 'host' first\n"
                 "  --json       the same as JSON\n");
}

int cli_hw(int argc, char **argv) {
    bool as_json = false, list_profiles = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (strcmp(argv[i], "--profiles") == 0) {
            list_profiles = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            hw_usage(stdout);
            return SNUG_EXIT_OK;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("hw", "unknown option '%s'", argv[i]);
        } else {
            return cli_usage_error("hw", "unexpected argument '%s'", argv[i]);
        }
    }
    if (list_profiles) return profiles(as_json);
    snug_hw_report report;
    snug_error err = {0};
    if (snug_hw_probe(&report, &err) != SNUG_OK) return cli_report(&err);
    vulkan_list *vulkan = calloc(1, sizeof *vulkan);
    if (!vulkan) {
        fprintf(stderr, "snug: error: out of memory\n");
        return SNUG_EXIT_FAILURE;
    }
    if (snug_vulkan_probe(vulkan->devices, SNUG_VULKAN_MAX_DEVICES, &vulkan->n, vulkan->why, sizeof vulkan->why,
                          &err) != SNUG_OK) {
        free(vulkan);
        return cli_report(&err);
    }
    int code = SNUG_EXIT_OK;
    if (as_json) {
        code = hw_json(&report, vulkan);
    } else {
        hw_text(&report);
        vulkan_text(vulkan);
    }
    free(vulkan);
    return code;
}
