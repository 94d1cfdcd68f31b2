/* synth_vocab.h — synthetic byte-level BPE vocabularies (tokenizer.ggml.model = "gpt2") of real sizes, written with
 * snug's own GGUF writer: for the load-time regression test and the tokenizer benchmark, where a Llama 3-sized
 * vocabulary (128k tokens, 280k merges) is needed but no such file may be shipped.
 *
 * What the file holds, in token-id order (as converters write it):
 *   - the 256 byte-level characters (GPT-2's bytes_to_unicode), one token each;
 *   - one token per merge rule, in rank order: the rule's result. The first rules build runs of spaces, newlines and
 *     tabs, every 2- and 3-digit number, and some multi-byte UTF-8 characters (accented Latin, Greek, Cyrillic, CJK)
 *     from their bytes; the rest join two earlier pieces drawn with English-like letter frequencies, short pieces
 *     more often than long ones. A space only ever starts a piece (as GPT-2-style pre-tokenizers leave it), every
 *     part and result is a piece, and no result repeats, so every rule is live;
 *   - n_extra whole-word tokens no rule makes (real vocabularies have such pieces; ignore_merges emits them whole);
 *   - n_user added tokens (USER_DEFINED, raw text): runs of 2-24 spaces, 2-8 tabs, a newline and 2-16 spaces (as
 *     GPT-NeoX-style vocabularies add them), HTML tags, then DeepSeek-style "<｜place▁holder▁no▁N｜>";
 *   - n_control CONTROL tokens "<|reserved_special_token_N|>"; BOS and EOS are the first two of them.
 * Deterministic: the same parameters give the same file, byte for byte. Tool code: it allocates as it goes.
 */
#ifndef SNUG_CONVERT_SYNTH_VOCAB_H
#define SNUG_CONVERT_SYNTH_VOCAB_H

#include <stdint.h>

#include "snug.h"

typedef struct snug_synth_vocab_params {
    uint32_t n_merges;  /* merge rules (at least the ~1,500 fixed ones; fewer is an argument error) */
    uint32_t n_extra;   /* whole-word tokens that no merge produces */
    uint32_t n_user;    /* added (USER_DEFINED) tokens */
    uint32_t n_control; /* control tokens at the end (at least 2: BOS and EOS) */
    const char *pre;    /* tokenizer.ggml.pre; NULL: "llama-bpe" */
    uint64_t seed;
} snug_synth_vocab_params;

/* Llama 3-sized: 280,000 merges and 300,256 tokens in all (256 bytes + 280,000 + 19,744 words + 256 control). */
snug_synth_vocab_params snug_synth_vocab_default_params(void);

snug_status snug_synth_vocab_write(const char *path, const snug_synth_vocab_params *p, snug_error *err);

#endif
