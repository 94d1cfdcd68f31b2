/* prefetch.c — reading a model's weights into memory before the first token (see snug_model_prefetch in snug.h).
 *
 * The weights stay where snug_model_load mapped them; this only touches every page of the tensor data once, a step
 * at a time, after asking the kernel to read the next step ahead (MADV_WILLNEED), so the disk reads overlap the
 * touching. Nothing is copied or allocated: the pages are the file's, shared with the page cache.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "model/model.h"

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
