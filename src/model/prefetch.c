/* prefetch.c — bringing a model's weights into memory before the first token, where the plan says they live
 * (snug_model_prefetch and snug_model_load_weights in snug.h).
 *
 * Mapped: the weights stay where snug_model_load mapped them; prefetching touches every page of the tensor data once,
 * a step at a time, after asking the kernel to read the next step ahead (MADV_WILLNEED), so the disk reads overlap
 * the touching. Nothing is copied or allocated: the pages are the file's, shared with the page cache.
 *
 * Copied: the tensor data is read with pread (by the plan's threads, a share each) into one anonymous region of the
 * plan's size, aligned to and asking for huge pages, made read-only, and the model is bound again to it (the same
 * binding code as at load). The mapping's data pages are never touched, so what is resident is the plan's copy, not the
 * copy and the file.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

/* One reader's share of a copy: file bytes [offset, offset + bytes) into dst. The copy is split between the plan's
 * threads (a fault that zeroes and maps a huge page, and the copy into it, run on every core at once; on the KVM guest
 * of docs/performance.md the first touch of guest memory is the slow part of a copy). Shares are whole pages, so no
 * two readers fault the same huge page. */
typedef struct copy_share {
    int fd;
    uint8_t *dst;
    uint64_t offset, bytes;
    _Atomic uint64_t *done; /* bytes read by every reader, for progress */
    uint64_t *reported;     /* the last progress value reported (only the caller's thread reports) */
    snug_status status;
    snug_error err;
} copy_share;

/* Reads a share through the file descriptor, never the mapping: a file that shrank since it was opened is an error
 * here, where a mapping would raise SIGBUS. The first reader (the caller's thread) reports progress after each step;
 * the others report through `done`. */
static snug_status read_share(copy_share *c, uint64_t total, snug_progress_fn progress, void *user) {
    for (uint64_t got = 0; got < c->bytes;) {
        const uint64_t want = c->bytes - got < SNUG_PREFETCH_STEP_BYTES ? c->bytes - got : SNUG_PREFETCH_STEP_BYTES;
        ssize_t n = pread(c->fd, c->dst + got, (size_t)want, (off_t)(c->offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            return snug_fail(&c->err, SNUG_E_IO, "cannot read the weights at byte %llu: %s",
                             (unsigned long long)(c->offset + got), strerror(errno));
        }
        if (n == 0) { /* past the end: say where the file ends now, which may be before this share */
            struct stat now;
            const unsigned long long end = fstat(c->fd, &now) == 0 ? (unsigned long long)now.st_size : c->offset + got;
            return snug_fail(&c->err, SNUG_E_IO,
                             "the file ends at byte %llu, before its weights do (it shrank after it was opened)", end);
        }
        got += (uint64_t)n;
        const uint64_t done = atomic_fetch_add(c->done, (uint64_t)n) + (uint64_t)n;
        if (progress) {
            *c->reported = done;
            progress(done, total, user);
        }
    }
    return SNUG_OK;
}

static void *reader_main(void *arg) {
    copy_share *c = arg;
    c->status = read_share(c, 0, NULL, NULL);
    return NULL;
}

/* Reads file bytes [offset, offset + bytes) into dst with up to `threads` readers (shares of whole `page`s, at least
 * COPY_SHARE_MIN_BYTES each). A reader that cannot be started is run by the caller's thread after its own share. */
#define COPY_READERS_MAX        16
#define COPY_SHARE_MIN_BYTES    ((uint64_t)SNUG_PREFETCH_STEP_BYTES)
#define COPY_READER_STACK_BYTES (64u << 10)
static snug_status read_span(int fd, uint8_t *dst, uint64_t offset, uint64_t bytes, uint64_t page, int threads,
                             snug_progress_fn progress, void *user, snug_error *err) {
    uint64_t n = threads < 1 ? 1 : threads > COPY_READERS_MAX ? COPY_READERS_MAX : (uint64_t)threads;
    if (n > bytes / COPY_SHARE_MIN_BYTES) n = bytes / COPY_SHARE_MIN_BYTES > 0 ? bytes / COPY_SHARE_MIN_BYTES : 1;
    const uint64_t per = (bytes / n + page - 1) / page * page;
    _Atomic uint64_t done = 0;
    uint64_t reported = 0;
    copy_share shares[COPY_READERS_MAX];
    pthread_t readers[COPY_READERS_MAX];
    bool started[COPY_READERS_MAX] = {false};
    int count = 0;
    for (uint64_t at = 0; at < bytes && count < COPY_READERS_MAX; at += per, count++) {
        shares[count] = (copy_share){fd,    dst + at,  offset + at, bytes - at < per ? bytes - at : per,
                                     &done, &reported, SNUG_OK,     {0}};
    }
    /* A reader only calls pread: a small stack, so that the one the C library keeps for reuse after the join holds
     * next to nothing (the default is 8 MiB of address space). */
    pthread_attr_t attr;
    const bool attr_ok = pthread_attr_init(&attr) == 0;
    if (attr_ok) (void)pthread_attr_setstacksize(&attr, COPY_READER_STACK_BYTES);
    for (int i = 1; i < count; i++)
        started[i] = pthread_create(&readers[i], attr_ok ? &attr : NULL, reader_main, &shares[i]) == 0;
    if (attr_ok) pthread_attr_destroy(&attr);
    shares[0].status = read_share(&shares[0], bytes, progress, user);
    for (int i = 1; i < count; i++) {
        if (started[i])
            pthread_join(readers[i], NULL);
        else
            shares[i].status = read_share(&shares[i], bytes, progress, user);
    }
    for (int i = 0; i < count; i++) {
        if (shares[i].status != SNUG_OK) {
            *err = shares[i].err;
            return shares[i].status;
        }
    }
    if (progress && reported < bytes) progress(bytes, bytes, user); /* the others' last steps, after the first's */
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
    snug_status st = read_span(g->fd, copy, start, span, page, plan->n_threads, progress, user, err);
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
