/* tokenizer_snug.c — the snug side of the tokenizer rows of `make bench`: load time and encode throughput of a
 * vocabulary, through the public API only (snug_vocab_load, snug_vocab_tokenize), as a program that tokenizes would
 * call it. The measurement and its output are bench/tokenizer_common.h's, shared with bench/tokenizer_llama.c.
 */
#include "snug.h"
#include "tokenizer_common.h"

int main(int argc, char **argv) {
    tok_options o;
    int rc = tok_parse(argc, argv, &o);
    if (rc != 0) return rc;
    size_t text_bytes = 0;
    char *text = tok_read_text(o.text_path, &text_bytes);
    if (!text) {
        fprintf(stderr, "tokenizer_snug: cannot read %s\n", o.text_path);
        return 1;
    }
    tok_result r = {0};
    snug_error err = {0};
    snug_vocab *vocab = NULL;
    for (int i = 0; i < o.loads; i++) {
        if (vocab) snug_vocab_free(vocab);
        const double t0 = tok_now_s();
        if (snug_vocab_load(o.vocab_path, &vocab, &err) != SNUG_OK) {
            fprintf(stderr, "tokenizer_snug: %s\n", err.message);
            return 1;
        }
        r.load_ms[i] = (tok_now_s() - t0) * 1e3;
    }
    r.n_vocab = snug_vocab_n_tokens(vocab);
    /* The caller owns the scratch (snug plans every byte): sized for this text once, reused by every encode. */
    const uint64_t scratch_bytes = snug_vocab_scratch_bytes(vocab, text_bytes);
    void *scratch = malloc(scratch_bytes);
    const size_t cap = text_bytes + 2; /* at most a token a byte, plus BOS and the dummy-prefix space */
    snug_token *ids = malloc(cap * sizeof *ids);
    if (!scratch || !ids) {
        fprintf(stderr, "tokenizer_snug: out of memory (%llu bytes of scratch)\n", (unsigned long long)scratch_bytes);
        return 1;
    }
    for (int i = -1; i < o.reps; i++) { /* i = -1: the warm-up */
        const double t0 = tok_now_s();
        if (snug_vocab_tokenize(vocab, text, text_bytes, false, false, scratch, scratch_bytes, ids, cap, &r.n_tokens,
                                &err) != SNUG_OK) {
            fprintf(stderr, "tokenizer_snug: %s\n", err.message);
            return 1;
        }
        if (i >= 0) r.encode_s[i] = tok_now_s() - t0;
    }
    if (o.ids_path && tok_write_ids(o.ids_path, ids, r.n_tokens) != 0) {
        fprintf(stderr, "tokenizer_snug: cannot write %s\n", o.ids_path);
        return 1;
    }
    tok_print("snug", "", &o, &r, text_bytes);
    snug_vocab_free(vocab);
    free(scratch);
    free(ids);
    free(text);
    return 0;
}
