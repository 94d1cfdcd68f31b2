/* make_vocab.c — writes a synthetic byte-level BPE vocabulary with snug's own GGUF writer (src/convert/synth_vocab.h):
 * by default Llama 3-sized (280,000 merges, 300,256 tokens, the llama-bpe pre-tokenizer), for the tokenizer rows of
 * `make bench`; with ADDED, that many added (USER_DEFINED) tokens too, as GPT-NeoX and DeepSeek vocabularies have. The
 * same arguments give the same file, byte for byte. Tool code: links build/libsnug.a.
 */
#include <stdio.h>
#include <stdlib.h>

#include "convert/synth_vocab.h"

int main(int argc, char **argv) {
    if (argc < 2 || argc > 6) {
        fprintf(stderr, "usage: make_vocab OUT.gguf [MERGES [EXTRA_WORDS [ADDED [PRE]]]]   (defaults: a Llama 3-sized "
                        "vocabulary, no added tokens, llama-bpe)\n");
        return 2;
    }
    snug_synth_vocab_params p = snug_synth_vocab_default_params();
    if (argc > 2) p.n_merges = (uint32_t)strtoul(argv[2], NULL, 10);
    if (argc > 3) p.n_extra = (uint32_t)strtoul(argv[3], NULL, 10);
    if (argc > 4) p.n_user = (uint32_t)strtoul(argv[4], NULL, 10);
    if (argc > 5) p.pre = argv[5];
    snug_error err = {0};
    if (snug_synth_vocab_write(argv[1], &p, &err) != SNUG_OK) {
        fprintf(stderr, "make_vocab: %s\n", err.message);
        return 1;
    }
    return 0;
}
