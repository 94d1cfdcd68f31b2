/* prefetch.c — bringing a model's weights into memory before the first token, where the plan says they live
 * (snug_model_prefetch and snug_model_load_weights in snug.h).
 *
 * Mapped: the weights stay where snug_model_load mapped them; prefetching touches every page of the tensor data once,
 * a step at a time, after asking the kernel to read the next step ahead (MADV_WILLNEED), so the disk reads overlap
 * the touching. Nothing is copied or allocated: the pages are the file's, shared with the page cache.
 *
 * Copied: the tensor data is read with pread into one anonymous region of the plan's size, aligned to and asking for
 * huge pages, made read-only, and the model is bound again to it (the same binding code as at load). The mapping's
 * data pages are never touched, so what is resident is the plan's copy, not the copy and the file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/error.h"
#include "base/units.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "plan/plan.h"

void snug_model_prefetch(const snug_model *m, snug_progress_fn progress, void *user) {
    const snug_gguf *g = m->gguf;
    if (!g->data_complete || g->data_offset >= g->file_bytes) return;
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    const uint8_t *data = g->map + g->data_offset;
    const uint64_t total = g->file_bytes - g->data_offset;
    volatile uint8_t sink = 0; /* keeps the reads */
    for (uint64_t done = 0; done < total;) {
        const uint64_t step = total - done < SNUG_PREFETCH_STEP_BYTES ? total - done : SNUG_PREFETCH_STEP_BYTES;
        const uint64_t next = done + step;
        if (next < total) {
            /* madvise wants a page-aligned start: round the next step's start down to its page. */
            const uintptr_t start = (uintptr_t)(data + next) & ~(uintptr_t)(page - 1);
            const uint64_t ahead = total - next < SNUG_PREFETCH_STEP_BYTES ? total - next : SNUG_PREFETCH_STEP_BYTES;
            madvise((void *)start, (size_t)(ahead + ((uintptr_t)(data + next) - start)), MADV_WILLNEED);
        }
        for (uint64_t off = done; off < next; off += page) sink ^= data[off];
        sink ^= data[next - 1];
        done = next;
        if (progress) progress(done, total, user);
    }
    (void)sink;
}

/* ---- a copy of the weights ------------------------------------------------------------------------------------ */

/* Reads file bytes [offset, offset + bytes) into dst through the file descriptor, never the mapping: a file that
 * shrank since it was opened is an error here, where a mapping would raise SIGBUS. */
static snug_status read_span(int fd, uint8_t *dst, uint64_t offset, uint64_t bytes, uint64_t *done, uint64_t total,
                             snug_progress_fn progress, void *user, snug_error *err) {
    for (uint64_t got = 0; got < bytes;) {
        const uint64_t want = bytes - got < SNUG_PREFETCH_STEP_BYTES ? bytes - got : SNUG_PREFETCH_STEP_BYTES;
        ssize_t n = pread(fd, dst + got, (size_t)want, (off_t)(offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            return snug_fail(err, SNUG_E_IO, "cannot read the weights at byte %llu: %s",
                             (unsigned long long)(offset + got), strerror(errno));
        }
        if (n == 0) {
            return snug_fail(err, SNUG_E_IO,
                             "the file ends at byte %llu, before its weights do (it shrank after opening)",
                             (unsigned long long)(offset + got));
        }
        got += (uint64_t)n;
        *done += (uint64_t)n;
        if (progress) progress(*done, total, user);
    }
    return SNUG_OK;
}

/* An anonymous region of `bytes` (a multiple of `page`) starting on a `page` boundary, so that every huge page of it
 * can be one: mapped `page` larger, then trimmed at both ends. NULL when the system refuses. */
static uint8_t *map_aligned(uint64_t bytes, uint64_t page) {
    const uint64_t over = bytes + page;
    uint8_t *raw = mmap(NULL, (size_t)over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uint8_t *start = (uint8_t *)(((uintptr_t)raw + page - 1) & ~(uintptr_t)(page - 1));
    if (start > raw) munmap(raw, (size_t)(start - raw));
    uint8_t *end = start + bytes;
    if (raw + over > end) munmap(end, (size_t)(raw + over - end));
    return start;
}

/* Points every tensor of the table at `base` (the copy of the file from byte `start`), or back at the mapping when
 * base is NULL. */
static void point_tensors(snug_gguf *g, const uint8_t *base, uint64_t start) {
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        snug_tensor_info *t = &g->tensors[i];
        const uint64_t file_offset = g->data_offset + t->offset;
        t->data = base ? base + (file_offset - start) : g->map + file_offset;
    }
}

static snug_status copy_weights(snug_model *m, const snug_plan *plan, snug_progress_fn progress, void *user,
                                snug_error *err) {
    snug_gguf *g = m->gguf;
    uint64_t start, span;
    snug_gguf_data_span(g, &start, &span);
    const uint64_t page = plan->weights_page_bytes, bytes = plan->weights_copy_bytes;
    if (page == 0 || bytes % page != 0 || bytes < span || bytes - span >= page || g->fd < 0 || !g->data_complete) {
        return snug_fail(
            err, SNUG_E_ARGUMENT,
            "the plan copies %llu bytes of weights; this model's file needs %llu (a plan of another file?)",
            (unsigned long long)bytes, (unsigned long long)span);
    }
    bool *used = calloc(g->n_tensors + 1, sizeof *used); /* before the copy: rebinding must not fail for memory */
    uint8_t *copy = used ? map_aligned(bytes, page) : NULL;
    if (!copy) {
        free(used);
        char size[32];
        snug_format_bytes(size, sizeof size, bytes);
        snug_fail(err, SNUG_E_OUT_OF_MEMORY, "cannot allocate the planned %s copy of the weights", size);
        snug_hint(err, "--weights mmap runs from the mapped file instead");
        return SNUG_E_OUT_OF_MEMORY;
    }
    /* Asked before the first touch, so the faults take huge pages; refused (EINVAL) where the kernel has none, which
     * only costs speed. */
    if (page > SNUG_GGUF_COPY_ALIGN) (void)madvise(copy, (size_t)bytes, MADV_HUGEPAGE);
    uint64_t done = 0;
    snug_status st = read_span(g->fd, copy, start, span, &done, span, progress, user, err);
    if (st == SNUG_OK && mprotect(copy, (size_t)bytes, PROT_READ) != 0) {
        st = snug_fail(err, SNUG_E_INTERNAL, "cannot make the weights' copy read-only: %s", strerror(errno));
    }
    if (st == SNUG_OK) {
        point_tensors(g, copy, start);
        st = snug_model_bind_weights(m, used, err);
        if (st != SNUG_OK) { /* cannot happen: the same table bound at load; back to the mapping, as it was */
            point_tensors(g, NULL, 0);
            snug_error ignored = {0};
            (void)snug_model_bind_weights(m, used, &ignored);
        }
    }
    free(used);
    if (st != SNUG_OK) {
        munmap(copy, (size_t)bytes);
        return st;
    }
    m->weights_copy = copy;
    m->weights_copy_bytes = bytes;
    return SNUG_OK;
}

snug_status snug_model_load_weights(snug_model *m, const snug_plan *plan, snug_progress_fn progress, void *user,
                                    snug_error *err) {
    char have[32], want[32];
    snug_format_bytes(have, sizeof have, m->weights_copy_bytes);
    snug_format_bytes(want, sizeof want, plan->weights_copy_bytes);
    if (m->weights_copy && !plan->weights_copied) {
        snug_fail(err, SNUG_E_ARGUMENT, "the weights were copied (%s) but this plan maps them", have);
        snug_hint(err, "plan with --weights copy, or load the model again");
        return SNUG_E_ARGUMENT;
    }
    if (m->weights_copy) {
        if (m->weights_copy_bytes == plan->weights_copy_bytes) return SNUG_OK;
        return snug_fail(err, SNUG_E_ARGUMENT, "the weights were copied into %s, this plan counts %s", have, want);
    }
    if (!plan->weights_copied) {
        snug_model_prefetch(m, progress, user);
        return SNUG_OK;
    }
    return copy_weights(m, plan, progress, user, err);
}

uint64_t snug_model_weights_copy_bytes(const snug_model *m) { return m->weights_copy_bytes; }
