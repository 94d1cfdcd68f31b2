/* test_tokenizer_load.c — loading a vocabulary is linear in its size: the GGUF string index (element i of a string
 * array in O(1)) and the BPE loader that reads every merge rule through it.
 *
 * The guard: a synthetic 200,000-merge vocabulary (src/convert/synth_vocab.h, written fresh by the test) must load
 * within GUARD_TIMEOUT_S. Loading is linear now (~0.1 s here, a few seconds under sanitizers); the quadratic loader
 * it replaced took 12.7 s for gpt-2's 50,000 merges on the same machine, so ~200 s for this file, and even a machine
 * five times faster would need ~40 s. The timeout is a guard against going back to quadratic, not a measurement: it
 * sits far above any linear run and far below any quadratic one. Load times are measured by `make bench`.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/synth_vocab.h"
#include "gguf/gguf.h"
#include "model/tokenizer.h"
#include "support/support.h"
#include "support/vocab.h"

#define GPT2_VOCAB "models/ggml-vocab-gpt-2.gguf"

enum {
    GUARD_MERGES = 200000,
    GUARD_EXTRA_WORDS = 1000,
    GUARD_CONTROL = 2,
    GUARD_TIMEOUT_S = 30,
};

Test(load, a_200k_merge_vocabulary_loads_within_a_generous_guard, .timeout = GUARD_TIMEOUT_S) {
    snug_synth_vocab_params p = snug_synth_vocab_default_params();
    p.n_merges = GUARD_MERGES;
    p.n_extra = GUARD_EXTRA_WORDS;
    p.n_control = GUARD_CONTROL;
    const char *path = test_tmp_path("guard.gguf");
    snug_error err = {0};
    cr_assert_eq(snug_synth_vocab_write(path, &p, &err), SNUG_OK, "%s", err.message);

    snug_gguf *g = NULL;
    cr_assert_eq(snug_gguf_open(path, 0, &g, &err), SNUG_OK, "%s", err.message);
    snug_tokenizer tok;
    cr_assert_eq(snug_tokenizer_load(&tok, g, &err), SNUG_OK, "%s", err.message);
    cr_expect_eq(tok.n_vocab, 256 + GUARD_MERGES + GUARD_EXTRA_WORDS + GUARD_CONTROL);
    /* Every rule of the synthetic vocabulary joins two pieces into a new piece, so every one is live in the hash. */
    uint32_t live = 0;
    for (uint32_t slot = 0; slot < tok.merge_slots; slot++) live += tok.merges[slot].left >= 0;
    cr_expect_eq(live, GUARD_MERGES, "%u of %u merge rules loaded", live, GUARD_MERGES);
    snug_tokenizer_free(&tok);
    snug_gguf_close(g);
    remove(path);
}

/* The index gives each element what a walk from the array's start finds, for every element of every string array. */
typedef struct walk_check {
    const snug_gguf *g;
    uint64_t key;
    uint64_t mismatches;
} walk_check;

static void check_element(void *user, uint64_t elem, const char *str, uint64_t len) {
    walk_check *c = user;
    const char *got = NULL;
    uint64_t got_len = 0;
    if (!snug_gguf_kv_array_string(c->g, c->key, elem, &got, &got_len) || got != str || got_len != len) c->mismatches++;
}

Test(index, every_string_element_is_found_where_a_walk_finds_it) {
    const char *path = test_shared_file(GPT2_VOCAB);
    snug_gguf *g = NULL;
    snug_error err = {0};
    cr_assert_eq(snug_gguf_open(path, 0, &g, &err), SNUG_OK, "%s", err.message);
    uint64_t arrays = 0, strings = 0;
    for (uint64_t k = 0; k < snug_gguf_kv_count(g); k++) {
        snug_gguf_value_type elem_type;
        uint64_t count;
        if (!snug_gguf_kv_get_array(g, k, &elem_type, &count) || elem_type != SNUG_GGUF_STRING) continue;
        walk_check c = {g, k, 0};
        cr_assert(snug_gguf_kv_array_strings(g, k, check_element, &c));
        cr_expect_eq(c.mismatches, 0, "%s: %llu of %llu elements differ", snug_gguf_kv_key(g, k),
                     (unsigned long long)c.mismatches, (unsigned long long)count);
        const char *s;
        uint64_t len;
        cr_expect_not(snug_gguf_kv_array_string(g, k, count, &s, &len), "element %llu is past the end",
                      (unsigned long long)count);
        arrays++;
        strings += count;
    }
    cr_expect_eq(arrays, 2, "tokens and merges");
    cr_expect_eq(strings, 50257 + 50000);
    /* The index lives on the handle's heap, which the plan's model_index line counts through index_bytes. */
    cr_expect_geq(g->index_bytes, strings * SNUG_GGUF_STRING_INDEX_BYTES);
    snug_gguf_close(g);
}
