/* device.c — the detected host as a device, usable memory, and the public device API (device.h, snug.h).
 *
 * The profile table lives in profiles.c; this file turns a snug_device (internal) into a snug_device_info (public)
 * and resolves names, with "host" meaning the machine we run on, probed at the time of the call.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "plan/device.h"
#include "plan/hw.h"
#include "plan/memory.h"

/* How many similar names an "unknown device" error suggests, and how alike a name must be to be suggested
 * (characters of common prefix: "apple-m" alone is not a reason to suggest every Mac). */
#define SUGGEST_MAX        4
#define SUGGEST_MIN_PREFIX 8

uint64_t snug_device_usable_bytes(const snug_device *d) {
    if (d->gpu_working_set_fraction >= 1.0) return d->available_bytes;
    if (!(d->gpu_working_set_fraction > 0.0)) return 0;
    return (uint64_t)((double)d->available_bytes * d->gpu_working_set_fraction);
}

uint64_t snug_device_max_buffer_bytes(const snug_device *d) {
    return d->max_allocation_bytes < d->max_binding_bytes ? d->max_allocation_bytes : d->max_binding_bytes;
}

const char *snug_device_kind_name(snug_device_kind kind) {
    switch (kind) {
    case SNUG_DEVICE_CPU: return "cpu";
    case SNUG_DEVICE_METAL: return "metal";
    case SNUG_DEVICE_CUDA: return "cuda";
    case SNUG_DEVICE_VULKAN: return "vulkan";
    }
    return "?";
}

bool snug_device_host(snug_device *out) {
    snug_memory_info mem;
    if (!snug_memory_probe(&mem)) return false;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "host");
    char cpu[SNUG_HW_CPU_NAME_BYTES];
    snug_cpu_name(cpu, sizeof cpu);
    snprintf(out->description, sizeof out->description, "this machine: %.80s", cpu);
    out->kind = SNUG_DEVICE_CPU;
    out->memory_bytes = mem.total_bytes;
    out->available_bytes = mem.available_bytes;
    out->memory_source = mem.source;
    out->gpu_working_set_fraction = 1.0;
    out->onchip_default_bytes = 0;
    out->onchip_optin_bytes = 0;
    out->huge_page_bytes = snug_huge_page_probe_root("");
    return true;
}

/* The Vulkan devices, probed once per process: a probe opens the loader and every driver (milliseconds), and plans
 * are made often (a context search builds hundreds). */
static struct {
    pthread_once_t once;
    snug_vulkan_device devices[SNUG_VULKAN_MAX_DEVICES];
    size_t count;
    char why[160];
} vulkan_probe = {PTHREAD_ONCE_INIT};

static void probe_vulkan_once(void) {
    snug_error err = {0};
    if (snug_vulkan_probe(vulkan_probe.devices, SNUG_VULKAN_MAX_DEVICES, &vulkan_probe.count, vulkan_probe.why,
                          sizeof vulkan_probe.why, &err) != SNUG_OK) {
        vulkan_probe.count = 0;
        snprintf(vulkan_probe.why, sizeof vulkan_probe.why, "%.150s", err.message);
    }
}

uint64_t snug_device_test_binding_limit_bytes;
bool snug_device_test_assume_gpu;

bool snug_device_vulkan(int32_t index, snug_device *out, char *why, size_t why_cap) {
    pthread_once(&vulkan_probe.once, probe_vulkan_once);
    if (index < 0 || (size_t)index >= vulkan_probe.count) {
        if (vulkan_probe.count == 0)
            snprintf(why, why_cap, "no Vulkan device: %s", vulkan_probe.why[0] ? vulkan_probe.why : "none found");
        else
            snprintf(why, why_cap, "no Vulkan device %d (this machine has %zu)", index, vulkan_probe.count);
        return false;
    }
    const snug_vulkan_device *v = &vulkan_probe.devices[index];
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "vulkan%d", index);
    snprintf(out->description, sizeof out->description, "%.60s (Vulkan, %s)", v->name, v->type);
    out->kind = SNUG_DEVICE_VULKAN;
    /* The largest device-local heap is where the backend's buffers go. */
    const snug_vulkan_heap *heap = NULL;
    for (int32_t h = 0; h < v->n_heaps; h++) {
        if (v->heaps[h].device_local && (!heap || v->heaps[h].bytes > heap->bytes)) heap = &v->heaps[h];
    }
    if (!heap) {
        snprintf(why, why_cap, "Vulkan device %d (%s) has no device-local heap", index, v->name);
        return false;
    }
    out->memory_bytes = heap->bytes;
    out->available_bytes =
        heap->budget_bytes > 0 && heap->budget_bytes < heap->bytes ? heap->budget_bytes : heap->bytes;
    out->memory_source = heap->budget_bytes > 0 ? "VK_EXT_memory_budget" : "Vulkan heap";
    out->gpu_working_set_fraction = 1.0;
    out->onchip_default_bytes = out->onchip_optin_bytes = v->max_compute_shared_memory_bytes;
    out->vulkan_index = index;
    out->max_allocation_bytes = v->max_allocation_bytes;
    out->max_binding_bytes = v->max_storage_buffer_range_bytes;
    if (snug_device_test_binding_limit_bytes && snug_device_test_binding_limit_bytes < out->max_binding_bytes)
        out->max_binding_bytes = snug_device_test_binding_limit_bytes;
    out->unified = heap->unified;
    out->cpu_driver = strcmp(v->type, "cpu") == 0 && !snug_device_test_assume_gpu;
    return true;
}

bool snug_device_resolve(const char *name, snug_device *out) {
    if (name && strcasecmp(name, "host") == 0) return snug_device_host(out);
    const snug_device *profile = snug_device_profile_find(name);
    if (!profile) return false;
    *out = *profile;
    return true;
}

static void to_info(const snug_device *d, snug_device_info *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", d->name);
    snprintf(out->description, sizeof out->description, "%s", d->description);
    out->kind = snug_device_kind_name(d->kind);
    out->memory_bytes = d->memory_bytes;
    out->available_bytes = d->available_bytes;
    out->memory_source = d->memory_source;
    out->working_set_fraction = d->gpu_working_set_fraction;
    out->usable_bytes = snug_device_usable_bytes(d);
    out->max_allocation_bytes = d->max_allocation_bytes;
    out->max_binding_bytes = d->max_binding_bytes;
    out->onchip_default_bytes = d->onchip_default_bytes;
    out->onchip_optin_bytes = d->onchip_optin_bytes;
}

size_t snug_device_profile_count(void) {
    size_t n = 0;
    while (snug_device_profile_at((int)n)) n++;
    return n;
}

bool snug_device_profile_get(size_t index, snug_device_info *out) {
    const snug_device *d = index < snug_device_profile_count() ? snug_device_profile_at((int)index) : NULL;
    if (!d) return false;
    to_info(d, out);
    return true;
}

static size_t common_prefix(const char *a, const char *b) {
    size_t n = 0;
    while (a[n] && b[n] && tolower((unsigned char)a[n]) == tolower((unsigned char)b[n])) n++;
    return n;
}

/* How much a profile name looks like what the user typed: containing it beats any shared prefix. */
static size_t likeness(const char *candidate, const char *typed) {
    if (strcasestr(candidate, typed)) return strlen(typed) + SUGGEST_MIN_PREFIX;
    return common_prefix(candidate, typed);
}

/* Writes up to SUGGEST_MAX of the profile names most like `typed`, comma-separated; empty when none is close. */
static void suggest_names(const char *typed, char *out, size_t cap) {
    out[0] = '\0';
    size_t best = 0;
    for (int i = 0; snug_device_profile_at(i); i++) {
        size_t score = likeness(snug_device_profile_at(i)->name, typed);
        if (score > best) best = score;
    }
    if (best < SUGGEST_MIN_PREFIX) return;
    size_t len = 0;
    int shown = 0;
    for (int i = 0; snug_device_profile_at(i) && shown < SUGGEST_MAX; i++) {
        const char *candidate = snug_device_profile_at(i)->name;
        if (likeness(candidate, typed) != best) continue;
        int w = snprintf(out + len, cap - len, "%s%s", shown ? ", " : "", candidate);
        if (w < 0 || (size_t)w >= cap - len) break;
        len += (size_t)w;
        shown++;
    }
}

snug_status snug_device_lookup(const char *name, snug_device_info *out, snug_error *err) {
    if (!name || !name[0]) return snug_fail(err, SNUG_E_ARGUMENT, "no device name given");
    snug_device d;
    if (strcasecmp(name, "host") == 0) {
        if (!snug_device_host(&d)) {
            return snug_fail(err, SNUG_E_IO, "cannot read /proc/meminfo: the host's memory is unknown");
        }
    } else if (!snug_device_resolve(name, &d)) {
        snug_fail(err, SNUG_E_ARGUMENT, "unknown device '%.64s' (%zu profiles and 'host' are known)", name,
                  snug_device_profile_count());
        char similar[160];
        suggest_names(name, similar, sizeof similar);
        if (similar[0]) {
            snug_hint(err, "did you mean %s? 'snug hw --profiles' lists them all", similar);
        } else {
            snug_hint(err, "'snug hw --profiles' lists the known devices");
        }
        return SNUG_E_ARGUMENT;
    }
    to_info(&d, out);
    return SNUG_OK;
}
