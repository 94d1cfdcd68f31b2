/* merge_heap.h — the binary heap both tokenizers merge with (tokenizer_spm.c: best score first; tokenizer_bpe.c:
 * lowest merge rank first), kept in the tokenizer's planned scratch.
 *
 * SNUG_MERGE_HEAP(pair_type, above) defines, in the including file, merge_heap_push and merge_heap_pop over an
 * array of pair_type and its count; above(a, b) says a comes out before b (ties broken by the leftmost pair, as
 * llama.cpp's bigram queues do). The pairs stay each tokenizer's own type, so the heap is as fast as written out.
 * The caller checks the capacity before pushing.
 */
#ifndef SNUG_MODEL_MERGE_HEAP_H
#define SNUG_MODEL_MERGE_HEAP_H

#include <stdbool.h>
#include <stdint.h>

#define SNUG_MERGE_HEAP(pair_type, above)                                                                              \
    static void merge_heap_push(pair_type *heap, uint32_t *count, pair_type pair) {                                    \
        uint32_t i = (*count)++;                                                                                       \
        while (i > 0) {                                                                                                \
            uint32_t parent = (i - 1) / 2;                                                                             \
            if (!above(&pair, &heap[parent])) break;                                                                   \
            heap[i] = heap[parent];                                                                                    \
            i = parent;                                                                                                \
        }                                                                                                              \
        heap[i] = pair;                                                                                                \
    }                                                                                                                  \
                                                                                                                       \
    static pair_type merge_heap_pop(pair_type *heap, uint32_t *count) {                                                \
        pair_type top = heap[0];                                                                                       \
        pair_type last = heap[--(*count)];                                                                             \
        uint32_t i = 0;                                                                                                \
        for (;;) {                                                                                                     \
            uint32_t child = 2 * i + 1;                                                                                \
            if (child >= *count) break;                                                                                \
            if (child + 1 < *count && above(&heap[child + 1], &heap[child])) child++;                                  \
            if (!above(&heap[child], &last)) break;                                                                    \
            heap[i] = heap[child];                                                                                     \
            i = child;                                                                                                 \
        }                                                                                                              \
        if (*count > 0) heap[i] = last;                                                                                \
        return top;                                                                                                    \
    }

#endif
