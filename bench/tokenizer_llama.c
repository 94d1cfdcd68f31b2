/* tokenizer_llama.c — the llama.cpp side of the tokenizer rows of `make bench`: the same measurement as
 * bench/tokenizer_snug.c (bench/tokenizer_common.h) through llama.cpp's C API: a vocab_only model
 * (llama_model_default_params, vocab_only = true) is the vocabulary, llama_tokenize (add_special and parse_special
 * off) the encoder. Built by bench/run.sh against the prebuilt libraries it installs from npm, like
 * bench/llama_driver.c; llama.cpp is the yardstick, never a dependency.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libgen.h>

#include "ggml-backend.h"
#include "llama.h"
#include "tokenizer_common.h"

static void quiet_log(enum ggml_log_level level, const char *text, void *user_data) {
    (void)level;
    (void)text;
    (void)user_data;
}

/* The CPU backend libraries sit next to libllama (the npm package keeps them together); a vocab_only load needs
 * none of them, but llama.cpp wants a backend registered before it loads a model. */
static void load_backends(void) {
    Dl_info info;
    if (!dladdr((void *)llama_backend_init, &info) || !info.dli_fname) return;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", info.dli_fname);
    ggml_backend_load_all_from_path(dirname(dir));
}

int main(int argc, char **argv) {
    tok_options o;
    int rc = tok_parse(argc, argv, &o);
    if (rc != 0) return rc;
    size_t text_bytes = 0;
    char *text = tok_read_text(o.text_path, &text_bytes);
    if (!text || text_bytes > INT32_MAX) {
        fprintf(stderr, "tokenizer_llama: cannot read %s (or it is over 2 GiB)\n", o.text_path);
        return 1;
    }
    llama_log_set(quiet_log, NULL);
    load_backends();
    llama_backend_init();
    tok_result r = {0};
    struct llama_model *model = NULL;
    for (int i = 0; i < o.loads; i++) {
        if (model) llama_model_free(model);
        struct llama_model_params params = llama_model_default_params();
        params.vocab_only = true;
        const double t0 = tok_now_s();
        model = llama_model_load_from_file(o.vocab_path, params);
        if (!model) {
            fprintf(stderr, "tokenizer_llama: llama.cpp could not load %s\n", o.vocab_path);
            return 1;
        }
        r.load_ms[i] = (tok_now_s() - t0) * 1e3;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    r.n_vocab = llama_vocab_n_tokens(vocab);
    const size_t cap = text_bytes + 2;
    llama_token *ids = malloc(cap * sizeof *ids);
    if (!ids) return 1;
    for (int i = -1; i < o.reps; i++) { /* i = -1: the warm-up */
        const double t0 = tok_now_s();
        const int32_t n = llama_tokenize(vocab, text, (int32_t)text_bytes, ids, (int32_t)cap, false, false);
        if (n < 0) {
            fprintf(stderr, "tokenizer_llama: llama_tokenize needs room for %d tokens\n", -n);
            return 1;
        }
        if (i >= 0) r.encode_s[i] = tok_now_s() - t0;
        r.n_tokens = (size_t)n;
    }
    if (o.ids_path && tok_write_ids(o.ids_path, ids, r.n_tokens) != 0) {
        fprintf(stderr, "tokenizer_llama: cannot write %s\n", o.ids_path);
        return 1;
    }
    tok_print("llama.cpp", llama_version(), &o, &r, text_bytes);
    llama_model_free(model);
    llama_backend_free();
    free(ids);
    free(text);
    return 0;
}
