/* vocab.c — the public snug_vocab: a GGUF file's tokenizer without its weights, for `snug tokenize` and callers that
 * only tokenize. Owns the mapped file (the pieces point into it) and the tokenizer's tables; nothing else.
 * Also the public vocabulary lookups of a loaded model (token id by text, whether BOS starts a text), which chat
 * templates need.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "model/tokenizer.h"

struct snug_vocab {
    snug_gguf *gguf;
    snug_tokenizer tok;
};

snug_status snug_vocab_load(const char *path, snug_vocab **out, snug_error *err) {
    *out = NULL;
    snug_vocab *vocab = calloc(1, sizeof *vocab);
    if (vocab == NULL) return snug_fail(err, SNUG_E_OUT_OF_MEMORY, "could not allocate %zu bytes", sizeof *vocab);
    snug_status st = snug_gguf_open(path, 0, &vocab->gguf, err);
    if (st == SNUG_OK) st = snug_tokenizer_load(&vocab->tok, vocab->gguf, err);
    if (st != SNUG_OK) {
        if (vocab->gguf != NULL) snug_gguf_close(vocab->gguf);
        free(vocab);
        return st;
    }
    *out = vocab;
    return SNUG_OK;
}

void snug_vocab_free(snug_vocab *vocab) {
    if (vocab == NULL) return;
    snug_tokenizer_free(&vocab->tok);
    snug_gguf_close(vocab->gguf);
    free(vocab);
}

int32_t snug_vocab_n_tokens(const snug_vocab *vocab) { return vocab->tok.n_vocab; }

uint64_t snug_vocab_table_bytes(const snug_vocab *vocab) { return vocab->tok.table_bytes; }

uint64_t snug_vocab_scratch_bytes(const snug_vocab *vocab, uint64_t max_text_bytes) {
    return snug_tokenizer_scratch_bytes(&vocab->tok, max_text_bytes);
}

snug_status snug_vocab_tokenize(const snug_vocab *vocab, const char *text, size_t text_bytes, bool add_bos,
                                bool parse_special, void *scratch, uint64_t scratch_bytes, snug_token *tokens,
                                size_t cap, size_t *n_tokens, snug_error *err) {
    return snug_tokenizer_encode(&vocab->tok, text, text_bytes, add_bos, parse_special, scratch, scratch_bytes, tokens,
                                 cap, n_tokens, err);
}

size_t snug_vocab_piece(const snug_vocab *vocab, snug_token prev, snug_token token, char *out, size_t cap) {
    return snug_tokenizer_piece_text(&vocab->tok, prev, token, out, cap);
}

snug_status snug_vocab_tokenize_parts(const snug_vocab *vocab, const snug_text_part *parts, size_t n_parts,
                                      bool add_bos, void *scratch, uint64_t scratch_bytes, snug_token *tokens,
                                      size_t cap, size_t *n_tokens, snug_error *err) {
    return snug_tokenizer_encode_parts(&vocab->tok, parts, n_parts, add_bos, scratch, scratch_bytes, tokens, cap,
                                       n_tokens, err);
}

snug_token snug_vocab_token_id(const snug_vocab *vocab, const char *text, size_t bytes) {
    return snug_tokenizer_find(&vocab->tok, text, bytes);
}

/* ---- a loaded model's vocabulary (the tokenizer inside snug_model) -------------------------------------------- */

snug_token snug_model_token_id(const snug_model *model, const char *text, size_t bytes) {
    return snug_tokenizer_find(&model->tokenizer, text, bytes);
}

bool snug_model_adds_bos(const snug_model *model) { return model->tokenizer.add_bos && model->tokenizer.bos >= 0; }
