/* export.c — turns the raw dump of tools/demo/train.py into the demo model's GGUF, with snug's own GGUF writer.
 *
 *   build/demo-export DUMP OUT.gguf [--type f16|q8_0]
 *
 * The dump (little-endian; tools/demo/README.md documents it too):
 *   "SNUGDMP1"
 *   u32 n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx_train
 *   f32 rms_eps, rope_freq_base
 *   i32 bos, eos, unk
 *   str name, str description                          str = u32 byte count, then the UTF-8 bytes
 *   n_vocab × { str piece, f32 score, i32 token_type } SentencePiece pieces, GGUF token types
 *   u32 n_tensors, then each { str name, u32 n_dims, u64 ne[n_dims] (row length first), f32 data[ne0 × ne1 …] }
 *
 * Matrices are stored as F16 (default) or Q8_0, vectors (the RMSNorm weights) as F32, as snug and llama.cpp expect.
 * The keys are those of a llama.cpp-converted Llama with a SentencePiece vocabulary (see ../shared/models/SOURCES.md
 * for stories260K). Tensor names and shapes are not checked here: snug_model_load checks them when the file is used.
 * The GGUF is written atomically (a temporary file renamed into place when complete; src/gguf/atomic_file.h): an
 * error, Ctrl-C or SIGTERM leaves OUT.gguf as it was.
 * This is a build tool, not library code: it prints and exits.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "cpu/quant.h"
#include "gguf/types.h"
#include "gguf/writer.h"

#define DUMP_MAGIC       "SNUGDMP1"
#define DUMP_MAGIC_BYTES 8
/* GGUF's default alignment (general.alignment absent). */
#define GGUF_ALIGNMENT 32
/* llama.cpp's llama_ftype values for general.file_type. */
#define FILE_TYPE_MOSTLY_F16  1
#define FILE_TYPE_MOSTLY_Q8_0 7
/* ggml's quantization format version, written with quantized files (llama.cpp's GGML_QNT_VERSION). */
#define QUANTIZATION_VERSION 2
/* Largest tensor rank in the dump (GGUF allows four). */
#define MAX_DIMS 4

/* A cursor over the dump, read whole into memory (a few MB). */
typedef struct reader {
    const unsigned char *data;
    size_t size, pos;
    const char *path;
} reader;

static void die(const char *fmt, const char *what, const reader *r) {
    fprintf(stderr, "demo-export: %s: ", r ? r->path : "");
    fprintf(stderr, fmt, what);
    if (r) fprintf(stderr, " (at byte %zu of %zu)", r->pos, r->size);
    fputc('\n', stderr);
    exit(1);
}

static const void *take(reader *r, size_t bytes, const char *what) {
    if (bytes > r->size - r->pos) die("truncated dump while reading %s", what, r);
    const void *p = r->data + r->pos;
    r->pos += bytes;
    return p;
}

static uint32_t read_u32(reader *r, const char *what) {
    uint32_t v;
    memcpy(&v, take(r, sizeof v, what), sizeof v);
    return v;
}

static int32_t read_i32(reader *r, const char *what) {
    int32_t v;
    memcpy(&v, take(r, sizeof v, what), sizeof v);
    return v;
}

static float read_f32(reader *r, const char *what) {
    float v;
    memcpy(&v, take(r, sizeof v, what), sizeof v);
    return v;
}

static uint64_t read_u64(reader *r, const char *what) {
    uint64_t v;
    memcpy(&v, take(r, sizeof v, what), sizeof v);
    return v;
}

/* A NUL-terminated malloc'd copy of the next string. */
static char *read_str(reader *r, const char *what) {
    uint32_t len = read_u32(r, what);
    const char *s = take(r, len, what);
    char *copy = malloc((size_t)len + 1);
    if (!copy) die("out of memory reading %s", what, r);
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

/* The whole dump, from a regular file only: a FIFO or a device could block or never end (O_NONBLOCK keeps even the
 * open from waiting for a FIFO's writer). */
static unsigned char *read_file(const char *path, size_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return NULL;
    struct stat st;
    unsigned char *data = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (data = malloc((size_t)st.st_size + 1)) != NULL) {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
            if (n <= 0) break;
            got += (size_t)n;
        }
        if (got != (size_t)st.st_size) {
            free(data);
            data = NULL;
        }
        *size = got;
    }
    close(fd);
    return data;
}

/* Ctrl-C or SIGTERM while the GGUF is written: remove the temporary file, then end by the same signal. */
static void on_fatal_signal(int signal_number) {
    snug_remove_temporary_files();
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

typedef struct hparams {
    uint32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx_train;
    float rms_eps, rope_freq_base;
    int32_t bos, eos, unk;
} hparams;

static void add_metadata(snug_gguf_writer *w, const hparams *h, const char *name, const char *description,
                         uint32_t weight_type) {
    bool ok = snug_gguf_writer_string(w, "general.architecture", "llama") &&
              snug_gguf_writer_string(w, "general.name", name) &&
              snug_gguf_writer_string(w, "general.description", description) &&
              snug_gguf_writer_string(w, "general.license", "CC0-1.0") &&
              snug_gguf_writer_u32(w, "general.file_type",
                                   weight_type == SNUG_TYPE_Q8_0 ? FILE_TYPE_MOSTLY_Q8_0 : FILE_TYPE_MOSTLY_F16) &&
              snug_gguf_writer_u32(w, "llama.vocab_size", h->n_vocab) &&
              snug_gguf_writer_u32(w, "llama.context_length", h->n_ctx_train) &&
              snug_gguf_writer_u32(w, "llama.embedding_length", h->n_embd) &&
              snug_gguf_writer_u32(w, "llama.block_count", h->n_layer) &&
              snug_gguf_writer_u32(w, "llama.feed_forward_length", h->n_ff) &&
              snug_gguf_writer_u32(w, "llama.attention.head_count", h->n_head) &&
              snug_gguf_writer_u32(w, "llama.attention.head_count_kv", h->n_head_kv) &&
              snug_gguf_writer_u32(w, "llama.rope.dimension_count", h->n_embd / h->n_head) &&
              snug_gguf_writer_f32(w, "llama.rope.freq_base", h->rope_freq_base) &&
              snug_gguf_writer_f32(w, "llama.attention.layer_norm_rms_epsilon", h->rms_eps);
    if (ok && weight_type != SNUG_TYPE_F16) {
        ok = snug_gguf_writer_u32(w, "general.quantization_version", QUANTIZATION_VERSION);
    }
    if (!ok) die("out of memory%s", "", NULL);
}

static void add_vocabulary(snug_gguf_writer *w, reader *r, const hparams *h) {
    char **pieces = calloc(h->n_vocab, sizeof *pieces);
    float *scores = calloc(h->n_vocab, sizeof *scores);
    int32_t *types = calloc(h->n_vocab, sizeof *types);
    if (!pieces || !scores || !types) die("out of memory for %s", "the vocabulary", r);
    for (uint32_t i = 0; i < h->n_vocab; i++) {
        pieces[i] = read_str(r, "a vocabulary piece");
        scores[i] = read_f32(r, "a vocabulary score");
        types[i] = read_i32(r, "a vocabulary token type");
    }
    bool ok = snug_gguf_writer_string(w, "tokenizer.ggml.model", "llama") &&
              snug_gguf_writer_strings(w, "tokenizer.ggml.tokens", (const char *const *)pieces, h->n_vocab) &&
              snug_gguf_writer_f32s(w, "tokenizer.ggml.scores", scores, h->n_vocab) &&
              snug_gguf_writer_i32s(w, "tokenizer.ggml.token_type", types, h->n_vocab) &&
              snug_gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)h->bos) &&
              snug_gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)h->eos) &&
              snug_gguf_writer_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)h->unk) &&
              snug_gguf_writer_bool(w, "tokenizer.ggml.add_bos_token", true) &&
              snug_gguf_writer_bool(w, "tokenizer.ggml.add_eos_token", false) &&
              snug_gguf_writer_bool(w, "tokenizer.ggml.add_space_prefix", true);
    if (!ok) die("out of memory for %s", "the vocabulary", r);
    for (uint32_t i = 0; i < h->n_vocab; i++) free(pieces[i]);
    free(pieces);
    free(scores);
    free(types);
}

/* Reads one tensor and adds it, encoded: matrices as weight_type, vectors as F32. Returns its element count. */
static uint64_t add_tensor(snug_gguf_writer *w, reader *r, uint32_t weight_type) {
    char *name = read_str(r, "a tensor name");
    uint32_t n_dims = read_u32(r, "a tensor rank");
    if (n_dims < 1 || n_dims > MAX_DIMS) die("tensor '%s' has an unsupported rank", name, r);
    uint64_t ne[MAX_DIMS], elements = 1, rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        ne[d] = read_u64(r, "a tensor dimension");
        if (ne[d] == 0 || ne[d] > ((uint64_t)1 << 31)) die("tensor '%s' has an absurd dimension", name, r);
        elements *= ne[d];
        if (d > 0) rows *= ne[d];
    }
    if (elements > (uint64_t)1 << 31) die("tensor '%s' is too large for a demo model", name, r);
    const float *values = take(r, (size_t)elements * sizeof(float), name);
    uint32_t type = n_dims == 1 ? SNUG_TYPE_F32 : weight_type;
    uint64_t row_bytes;
    if (!snug_type_row_bytes(type, ne[0], &row_bytes)) {
        die("tensor '%s': its rows are not a whole number of blocks of the chosen type", name, r);
    }
    unsigned char *encoded = malloc((size_t)(row_bytes * rows));
    float *row = malloc((size_t)ne[0] * sizeof *row);
    if (!encoded || !row) die("out of memory encoding '%s'", name, r);
    for (uint64_t i = 0; i < rows; i++) {
        memcpy(row, values + i * ne[0], (size_t)ne[0] * sizeof *row); /* the dump's floats may be unaligned */
        if (!snug_quantize_row(type, row, encoded + i * row_bytes, (int64_t)ne[0])) {
            die("cannot encode '%s'", name, r);
        }
    }
    if (!snug_gguf_writer_tensor(w, name, type, n_dims, ne, encoded, row_bytes * rows)) {
        die("out of memory adding '%s'", name, r);
    }
    free(row);
    free(encoded);
    free(name);
    return elements;
}

int main(int argc, char **argv) {
    if (argc != 3 && !(argc == 5 && strcmp(argv[3], "--type") == 0)) {
        fprintf(stderr, "usage: %s DUMP OUT.gguf [--type f16|q8_0]\n", argv[0]);
        return 2;
    }
    uint32_t weight_type = SNUG_TYPE_F16;
    if (argc == 5) {
        if (strcmp(argv[4], "q8_0") == 0) {
            weight_type = SNUG_TYPE_Q8_0;
        } else if (strcmp(argv[4], "f16") != 0) {
            fprintf(stderr, "demo-export: --type must be f16 or q8_0, not '%s'\n", argv[4]);
            return 2;
        }
    }
    reader r = {NULL, 0, 0, argv[1]};
    unsigned char *data = read_file(argv[1], &r.size);
    if (!data) die("cannot read the dump%s", "", &r);
    r.data = data;
    if (memcmp(take(&r, DUMP_MAGIC_BYTES, "the magic"), DUMP_MAGIC, DUMP_MAGIC_BYTES) != 0) {
        die("not a demo dump (the file does not start with %s)", DUMP_MAGIC, &r);
    }
    hparams h = {0};
    uint32_t *shape[] = {&h.n_vocab, &h.n_embd, &h.n_layer, &h.n_head, &h.n_head_kv, &h.n_ff, &h.n_ctx_train};
    for (size_t i = 0; i < sizeof shape / sizeof shape[0]; i++) *shape[i] = read_u32(&r, "the hyper-parameters");
    h.rms_eps = read_f32(&r, "rms_eps");
    h.rope_freq_base = read_f32(&r, "rope_freq_base");
    h.bos = read_i32(&r, "bos");
    h.eos = read_i32(&r, "eos");
    h.unk = read_i32(&r, "unk");
    if (h.n_head == 0 || h.n_embd % h.n_head != 0 || h.n_vocab == 0) die("inconsistent %s", "hyper-parameters", &r);
    char *name = read_str(&r, "the model name");
    char *description = read_str(&r, "the description");

    snug_gguf_writer *w = snug_gguf_writer_create(3, GGUF_ALIGNMENT);
    if (!w) die("out of memory%s", "", &r);
    add_metadata(w, &h, name, description, weight_type);
    add_vocabulary(w, &r, &h);
    uint32_t n_tensors = read_u32(&r, "the tensor count");
    uint64_t parameters = 0;
    for (uint32_t i = 0; i < n_tensors; i++) parameters += add_tensor(w, &r, weight_type);
    if (r.pos != r.size) die("%s", "trailing bytes after the last tensor", &r);

    snug_error err = {0};
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit fails the write (EFBIG): the writer removes its temporary file */
    snug_status st = snug_gguf_writer_write(w, argv[2], false, &err);
    snug_gguf_writer_free(w);
    free(name);
    free(description);
    free(data);
    if (st != SNUG_OK) {
        fprintf(stderr, "demo-export: %s\n", err.message);
        return 1;
    }
    fprintf(stderr, "demo-export: %s: %u tensors, %llu parameters, vocabulary %u, matrices %s\n", argv[2], n_tensors,
            (unsigned long long)parameters, h.n_vocab, snug_type_name(weight_type));
    return 0;
}
