/* test_inject.c — failure injection: an allocation the operating system refuses, reads that come up short, writes
 * that fail half-way. Each must end in a clean error that carries the numbers, with nothing left half-done.
 *
 *   allocation  RLIMIT_AS just above what the process uses: snug_context_create's one arena cannot be mapped
 *               (SNUG_E_OUT_OF_MEMORY naming its bytes, no context, no address space kept, the model still works);
 *               snug_model_load with no room at all fails cleanly too.
 *   short read  /proc/meminfo and cgroup files cut short (src/plan/memory.c); the demo exporter's dump cut at every
 *               field (tools/demo/export.c); `snug chat` reading its stdin from a pipe a byte at a time, and from a
 *               descriptor whose read() fails.
 *   write       RLIMIT_FSIZE below the size of a GGUF file (the writer, its streaming form, snug_quantize_model):
 *               SNUG_E_IO with the path, the reason and numbers, and no partial file at the output path — an
 *               existing file there stays as it was.
 *
 * Limits are set in the test's own process (Criterion runs each test in a child of its own) and restored before any
 * assertion, so that Criterion can report.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "convert/synth.h"
#include "gguf/writer.h"
#include "plan/memory.h"
#include "snug.h"
#include "support/support.h"

/* The bundled demo model (models/README.md): always in the tree, so these tests never skip. */
static const char DEMO_MODEL[] = "models/snug-demo-stories.gguf";
static const char PROMPT[] = "Once upon a time";

/* ---- helpers ---------------------------------------------------------------------------------------------------- */

/* VmSize of this process: its address space, what RLIMIT_AS limits. */
static uint64_t address_space_bytes(void) {
    uint64_t bytes = test_proc_status_bytes("VmSize");
    cr_assert_gt(bytes, 0, "no VmSize in /proc/self/status");
    return bytes;
}

static struct rlimit set_soft_limit(int resource, uint64_t bytes) {
    struct rlimit saved, limited;
    cr_assert_eq(getrlimit(resource, &saved), 0);
    limited = saved;
    limited.rlim_cur = (rlim_t)bytes;
    cr_assert_eq(setrlimit(resource, &limited), 0, "setrlimit: %s", strerror(errno));
    return saved;
}

static void restore_limit(int resource, const struct rlimit *saved) { setrlimit(resource, saved); }

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Whether text holds a decimal digit outside every occurrence of `path` (a temporary path may hold digits). */
static bool has_number_besides(const char *text, const char *path) {
    size_t skip = strlen(path);
    for (const char *p = text; *p;) {
        if (skip > 0 && strncmp(p, path, skip) == 0) {
            p += skip;
        } else if (*p >= '0' && *p <= '9') {
            return true;
        } else {
            p++;
        }
    }
    return false;
}

static bool contains_number(const char *text, uint64_t n) {
    char digits[32];
    snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    return strstr(text, digits) != NULL;
}

/* Greedy logits of PROMPT in a fresh context planned from `params`; malloc'd, n_vocab floats. */
static float *prompt_logits(snug_model *model, const snug_context_params *params) {
    snug_plan *plan;
    snug_error err;
    cr_assert_eq(snug_plan_create(snug_model_gguf(model), params, &plan, &err), SNUG_OK, "%s", err.message);
    float *logits = test_prompt_logits(model, plan, PROMPT);
    snug_plan_free(plan);
    return logits;
}

/* ---- an allocation that fails ------------------------------------------------------------------------------------ */

/* Under AddressSanitizer too: the limit is set relative to VmSize, which already counts ASan's reserved shadow and
 * allocator space, and the refused mapping is snug's own mmap, not an ASan allocation. */
Test(inject, arena_that_cannot_be_mapped_is_out_of_memory_and_leaves_the_model_usable) {
    snug_model *model;
    snug_error err;
    cr_assert_eq(snug_model_load(DEMO_MODEL, &model, &err), SNUG_OK, "%s", err.message);
    /* A context of 2048 positions: an arena of several MiB, so that half of it is far more than the few small
     * allocations planning makes. One thread: no thread pool grows while the limit is on. */
    const snug_context_params params = {.n_ctx = 2048, .n_threads = 1};
    snug_plan *plan;
    cr_assert_eq(snug_plan_create(snug_model_gguf(model), &params, &plan, &err), SNUG_OK, "%s", err.message);
    const uint64_t arena = snug_plan_arena_bytes(plan);
    snug_plan_free(plan);
    cr_assert_gt(arena, 4u << 20, "the arena is only %llu bytes", (unsigned long long)arena);

    float *before = prompt_logits(model, &params); /* also brings up whatever the first context sets up once */

    const uint64_t space = address_space_bytes();
    struct rlimit saved = set_soft_limit(RLIMIT_AS, space + arena / 2);
    snug_context *ctx = (snug_context *)&ctx; /* not NULL: create must clear it */
    snug_status st = snug_context_create(model, &params, &ctx, &err);
    const uint64_t space_after = address_space_bytes();
    restore_limit(RLIMIT_AS, &saved);

    cr_assert_eq(st, SNUG_E_OUT_OF_MEMORY, "status %s: %s", snug_status_name(st), err.message);
    cr_assert_null(ctx, "a failed create handed out a context");
    cr_assert(contains_number(err.message, arena), "the message does not name the arena's %llu bytes: %s",
              (unsigned long long)arena, err.message);
    /* Nothing half-made was kept: the address space is what it was (give or take malloc's bookkeeping). */
    cr_assert_lt(space_after, space + arena / 4, "address space grew from %llu to %llu bytes in a failed create",
                 (unsigned long long)space, (unsigned long long)space_after);

    /* The model is untouched: the same prompt gives the same logits, bit for bit. */
    float *after = prompt_logits(model, &params);
    snug_model_desc d;
    snug_model_describe(model, &d);
    cr_assert_eq(memcmp(before, after, (size_t)d.n_vocab * sizeof *after), 0, "logits changed after a failed create");
    free(before);
    free(after);
    snug_model_free(model);
}

Test(inject, model_load_without_address_space_fails_cleanly) {
    /* Room for nothing the size of the file (9.6 MB): its mapping or its tables must fail, and say so. */
    snug_model *model = (snug_model *)&model;
    snug_error err = {0};
    struct rlimit saved = set_soft_limit(RLIMIT_AS, address_space_bytes() + (64u << 10));
    snug_status st = snug_model_load(DEMO_MODEL, &model, &err);
    restore_limit(RLIMIT_AS, &saved);
    cr_assert(st == SNUG_E_IO || st == SNUG_E_OUT_OF_MEMORY, "status %s: %s", snug_status_name(st), err.message);
    cr_assert_null(model);
    cr_assert_neq(err.message[0], '\0');
    cr_assert_eq(snug_model_load(DEMO_MODEL, &model, &err), SNUG_OK, "after the limit: %s", err.message);
    snug_model_free(model);
}

/* ---- reads that come up short: the memory probe --------------------------------------------------------------- */

static void put(const char *root, const char *relative, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, relative);
    for (char *slash = strchr(path + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(path, 0755);
        *slash = '/';
    }
    cr_assert_eq(test_write_file(path, text, strlen(text)), 0, "cannot write %s", path);
}

static const char *fresh_root(const char *name) {
    static char root[4096];
    snprintf(root, sizeof root, "%s", test_tmp_path(name));
    mkdir(root, 0755);
    return root;
}

static const char FULL_MEMINFO[] =
    "MemTotal:       16777216 kB\nMemFree:         1000 kB\nMemAvailable:   12582912 kB\n";

Test(inject, meminfo_cut_short_is_unknown_not_a_guess) {
    /* Cut inside the MemAvailable key, right after it, and before its line: never a partial answer. */
    const size_t cuts[] = {strstr(FULL_MEMINFO, "MemAvail") - FULL_MEMINFO + 8,
                           strstr(FULL_MEMINFO, "MemAvailable:") - FULL_MEMINFO + 13,
                           strstr(FULL_MEMINFO, "MemAvailable") - FULL_MEMINFO, 0};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char name[32], text[sizeof FULL_MEMINFO];
        snprintf(name, sizeof name, "meminfo-cut-%zu", i);
        const char *root = fresh_root(name);
        memcpy(text, FULL_MEMINFO, cuts[i]);
        text[cuts[i]] = '\0';
        put(root, "proc/meminfo", text);
        snug_memory_info m;
        cr_expect_not(snug_memory_probe_root(root, &m), "meminfo cut to %zu bytes still gave %llu bytes available",
                      cuts[i], (unsigned long long)m.available_bytes);
    }
    const char *root = fresh_root("meminfo-whole");
    put(root, "proc/meminfo", FULL_MEMINFO);
    snug_memory_info m;
    cr_assert(snug_memory_probe_root(root, &m));
    cr_assert_eq(m.available_bytes, 12582912ull * 1024);
}

/* An empty (zero-byte read) memory.max or memory.current at the process's level is no number: that level does not
 * count — above all it is not a limit of 0 — and the parent's limit, which reads whole, binds. */
Test(inject, empty_cgroup_files_are_not_zero) {
    const char *files[] = {"memory.max", "memory.current"};
    for (size_t i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "cgroup-empty-%zu", i);
        const char *root = fresh_root(name);
        put(root, "proc/meminfo", FULL_MEMINFO);
        put(root, "proc/self/cgroup", "0::/app.slice/run.scope\n");
        put(root, "sys/fs/cgroup/app.slice/memory.max", "4294967296\n");
        put(root, "sys/fs/cgroup/app.slice/memory.current", "1073741824\n");
        put(root, "sys/fs/cgroup/app.slice/run.scope/memory.max", i == 0 ? "" : "2147483648\n");
        put(root, "sys/fs/cgroup/app.slice/run.scope/memory.current", i == 1 ? "" : "536870912\n");
        snug_memory_info m;
        cr_assert(snug_memory_probe_root(root, &m));
        cr_expect_eq(m.available_bytes, 3ull << 30, "%s empty: %llu bytes available", files[i],
                     (unsigned long long)m.available_bytes);
        cr_expect_eq(m.cgroup_limit_bytes, 4ull << 30, "%s empty: limit %llu", files[i],
                     (unsigned long long)m.cgroup_limit_bytes);
    }
}

/* /proc/self/cgroup cut in the middle of the path (no newline): the cut path names no cgroup directory, so the walk
 * falls back to the mount point's files. */
Test(inject, cgroup_path_cut_short_falls_back_to_the_mount) {
    const char *root = fresh_root("cgroup-cut");
    put(root, "proc/meminfo", FULL_MEMINFO);
    put(root, "proc/self/cgroup", "0::/app.slice/run.sc");
    put(root, "sys/fs/cgroup/memory.max", "8589934592\n");
    put(root, "sys/fs/cgroup/memory.current", "1073741824\n");
    put(root, "sys/fs/cgroup/app.slice/run.scope/memory.max", "1073741824\n");
    put(root, "sys/fs/cgroup/app.slice/run.scope/memory.current", "0\n");
    snug_memory_info m;
    cr_assert(snug_memory_probe_root(root, &m));
    cr_assert_eq(m.available_bytes, 7ull << 30, "%llu", (unsigned long long)m.available_bytes);
    cr_assert_str_eq(m.source, "cgroup v2");
}

/* ---- reads that come up short: the demo exporter's dump ------------------------------------------------------- */

typedef struct dump {
    unsigned char *bytes;
    size_t len, cap;
} dump;

static void dump_put(dump *d, const void *p, size_t n) {
    if (d->len + n > d->cap) {
        d->cap = (d->len + n) * 2;
        d->bytes = realloc(d->bytes, d->cap);
        cr_assert_not_null(d->bytes);
    }
    memcpy(d->bytes + d->len, p, n);
    d->len += n;
}
static void dump_u32(dump *d, uint32_t v) { dump_put(d, &v, 4); }
static void dump_str(dump *d, const char *s) {
    dump_u32(d, (uint32_t)strlen(s));
    dump_put(d, s, strlen(s));
}

enum { DUMP_VOCAB = 260, DUMP_EMBD = 32, DUMP_FF = 32, DUMP_HEADS = 2, DUMP_CTX = 64 };

/* Offsets where one field of the dump starts, for cutting: 0 magic, 1 hyper-parameters, 2 model name, 3 first
 * piece, 4 tensor count, 5 first tensor name, 6 its dimensions, 7 its data. */
typedef struct dump_marks {
    size_t at[8];
} dump_marks;

static void dump_tensor(dump *d, dump_marks *marks, const char *name, uint64_t ne0, uint64_t ne1) {
    if (marks->at[5] == 0) marks->at[5] = d->len;
    dump_str(d, name);
    if (marks->at[6] == 0) marks->at[6] = d->len;
    dump_u32(d, ne1 ? 2 : 1);
    dump_put(d, &ne0, 8);
    if (ne1) dump_put(d, &ne1, 8);
    if (marks->at[7] == 0) marks->at[7] = d->len;
    for (uint64_t i = 0; i < ne0 * (ne1 ? ne1 : 1); i++) {
        float v = ne1 ? (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f : 1.0f;
        dump_put(d, &v, 4);
    }
}

/* A whole dump of a 1-layer llama in the format tools/demo/export.c documents. */
static dump make_dump(dump_marks *marks) {
    dump d = {0};
    memset(marks, 0, sizeof *marks);
    dump_put(&d, "SNUGDMP1", 8);
    marks->at[1] = d.len;
    const uint32_t shape[] = {DUMP_VOCAB, DUMP_EMBD, 1, DUMP_HEADS, DUMP_HEADS, DUMP_FF, DUMP_CTX};
    for (size_t i = 0; i < 7; i++) dump_u32(&d, shape[i]);
    const float eps = 1e-5f, base = 10000.0f;
    dump_put(&d, &eps, 4);
    dump_put(&d, &base, 4);
    const int32_t bos = 1, eos = 2, unk = 0;
    dump_put(&d, &bos, 4);
    dump_put(&d, &eos, 4);
    dump_put(&d, &unk, 4);
    marks->at[2] = d.len;
    dump_str(&d, "inject test");
    dump_str(&d, "a dump for test_inject.c");
    marks->at[3] = d.len;
    for (int i = 0; i < DUMP_VOCAB; i++) {
        char piece[16];
        int32_t type = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
        if (i == 0)
            snprintf(piece, sizeof piece, "<unk>");
        else if (i < 3)
            snprintf(piece, sizeof piece, i == 1 ? "<s>" : "</s>");
        else if (i < 259)
            snprintf(piece, sizeof piece, "<0x%02X>", i - 3);
        else
            snprintf(piece, sizeof piece,
                     "\xe2\x96\x81"
                     "a");
        dump_str(&d, piece);
        float score = -(float)i;
        dump_put(&d, &score, 4);
        dump_put(&d, &type, 4);
    }
    marks->at[4] = d.len;
    static const char *const matrices[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                           "ffn_gate", "ffn_up", "ffn_down"};
    dump_u32(&d, 4 + 7);
    dump_tensor(&d, marks, "token_embd.weight", DUMP_EMBD, DUMP_VOCAB);
    dump_tensor(&d, marks, "blk.0.attn_norm.weight", DUMP_EMBD, 0);
    dump_tensor(&d, marks, "blk.0.ffn_norm.weight", DUMP_EMBD, 0);
    for (size_t m = 0; m < 7; m++) {
        char name[64];
        snprintf(name, sizeof name, "blk.0.%s.weight", matrices[m]);
        dump_tensor(&d, marks, name, DUMP_EMBD, DUMP_EMBD);
    }
    dump_tensor(&d, marks, "output_norm.weight", DUMP_EMBD, 0);
    return d;
}

static const char *export_bin(void) {
    static char path[4096];
    const char *build = getenv("SNUG_BUILD");
    snprintf(path, sizeof path, "%s/demo-export", build && *build ? build : "build");
    return path;
}

Test(inject, export_of_a_dump_cut_anywhere_fails_with_the_position_and_writes_nothing) {
    if (access(export_bin(), X_OK) != 0) cr_assert_fail("%s is missing (make check builds it)", export_bin());
    dump_marks marks;
    dump d = make_dump(&marks);
    char out[4096], dump_path[4096];
    snprintf(out, sizeof out, "%s", test_tmp_path("export-out.gguf"));
    snprintf(dump_path, sizeof dump_path, "%s", test_tmp_path("export.dump"));

    /* The whole dump converts and loads: the cuts below fail because of the cut alone. */
    cr_assert_eq(test_write_file(dump_path, d.bytes, d.len), 0);
    const char *argv[] = {export_bin(), dump_path, out, NULL};
    test_run_result r = test_run(argv);
    cr_assert_eq(r.exit_code, 0, "the whole dump: exit %d: %s", r.exit_code, r.err);
    test_run_free(&r);
    snug_model *model;
    snug_error err;
    cr_assert_eq(snug_model_load(out, &model, &err), SNUG_OK, "%s", err.message);
    snug_model_free(model);
    remove(out);

    /* One byte into each field, the first byte of each field, the middle of the tensor data, one byte short. */
    size_t cuts[2 * 8 + 2], n_cuts = 0;
    for (int m = 0; m < 8; m++) {
        cuts[n_cuts++] = marks.at[m];
        cuts[n_cuts++] = marks.at[m] + 1;
    }
    cuts[n_cuts++] = marks.at[7] + (d.len - marks.at[7]) / 2;
    cuts[n_cuts++] = d.len - 1;
    for (size_t c = 0; c < n_cuts; c++) {
        cr_assert_eq(test_write_file(dump_path, d.bytes, cuts[c]), 0);
        r = test_run(argv);
        char where[64];
        snprintf(where, sizeof where, " of %zu)", cuts[c]);
        cr_expect_eq(r.exit_code, 1, "cut at %zu: exit %d", cuts[c], r.exit_code);
        cr_expect(strstr(r.err, "truncated dump while reading") || (cuts[c] < 8 && strstr(r.err, "not a demo dump")) ||
                      (cuts[c] == 0 && strstr(r.err, "cannot read")),
                  "cut at %zu: %s", cuts[c], r.err);
        cr_expect(cuts[c] == 0 || strstr(r.err, where), "cut at %zu: the message lacks the size: %s", cuts[c], r.err);
        cr_expect_not(file_exists(out), "cut at %zu: %s was written", cuts[c], out);
        remove(out);
        test_run_free(&r);
    }
    free(d.bytes);
}

/* ---- reads that come up short: snug chat's stdin ------------------------------------------------------------- */

static test_run_result chat(const char *stdin_path) {
    const char *argv[] = {test_snug_bin(), "chat", DEMO_MODEL, "--temp", "0", "-n", "8", "--ctx", "256", NULL};
    return test_run_stdin(argv, stdin_path);
}

/* A writer that delivers text into a FIFO one byte at a time, so that each read() of the reader gets one byte (or
 * a few) — a line arrives in many short reads. Returns the writer's pid. */
static pid_t trickle(const char *fifo, const char *text) {
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fd = open(fifo, O_WRONLY);
        if (fd < 0) _exit(1);
        for (const char *p = text; *p; p++) {
            if (write(fd, p, 1) != 1) _exit(1);
            usleep(500); /* lets the reader drain the byte before the next (not a timing assertion) */
        }
        close(fd);
        _exit(0);
    }
    return pid;
}

Test(inject, chat_reads_lines_that_arrive_a_byte_at_a_time) {
    /* Two turns, the last without a newline: a reader must join the bytes of a line, whatever each read() gets. */
    static const char input[] = "Once upon a time\nThe little dog";
    const char *file = test_tmp_path("chat-whole.txt");
    cr_assert_eq(test_write_file(file, input, strlen(input)), 0);
    test_run_result whole = chat(file);
    cr_assert_eq(whole.exit_code, 0, "%s", whole.err);

    char fifo[4096];
    snprintf(fifo, sizeof fifo, "%s", test_tmp_path("chat-trickle.fifo"));
    cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo: %s", strerror(errno));
    pid_t writer = trickle(fifo, input);
    test_run_result pieces = chat(fifo);
    int status;
    waitpid(writer, &status, 0);
    cr_assert_eq(pieces.exit_code, 0, "%s", pieces.err);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the trickling writer failed");
    cr_assert_str_eq(pieces.out, whole.out, "replies differ when stdin comes a byte at a time");
    cr_assert_gt(whole.out_len, 2, "no replies: %s", whole.err);
    test_run_free(&whole);
    test_run_free(&pieces);
}

Test(inject, chat_stdin_that_cannot_be_read_is_an_error) {
    /* A directory opens for reading, but read() fails (EISDIR): an error and exit 1, not an endless loop or a quiet
     * end of input. */
    const char *dir = fresh_root("chat-stdin-dir");
    test_run_result r = chat(dir);
    cr_assert_eq(r.exit_code, 1, "exit %d: %s", r.exit_code, r.err);
    cr_assert_not_null(strstr(r.err, "stdin"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, strerror(EISDIR)), "the reason is missing: %s", r.err);
    test_run_free(&r);
}

/* ---- writes that fail half-way ---------------------------------------------------------------------------------- */

enum { TENSOR_FLOATS = 16384 }; /* a 64 KiB tensor: far past the file-size limit below */
static const uint64_t FILE_LIMIT_BYTES = 16384;
static const char OLD_CONTENT[] = "an older file that a failed write must leave alone\n";

static snug_gguf_writer *big_writer(void) {
    snug_gguf_writer *w = snug_gguf_writer_create(3, 32);
    cr_assert_not_null(w);
    cr_assert(snug_gguf_writer_string(w, "general.architecture", "llama"));
    static float values[TENSOR_FLOATS];
    for (int i = 0; i < TENSOR_FLOATS; i++) values[i] = (float)i;
    const uint64_t ne[2] = {128, TENSOR_FLOATS / 128};
    cr_assert(snug_gguf_writer_tensor(w, "big.weight", SNUG_TYPE_F32, 2, ne, values, sizeof values));
    return w;
}

/* The file a complete write makes (to know its size, and that the writer works without the limit). */
static uint64_t complete_size(const snug_gguf_writer *w) {
    const char *path = test_tmp_path("complete.gguf");
    snug_error err;
    cr_assert_eq(snug_gguf_writer_write(w, path, false, &err), SNUG_OK, "%s", err.message);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    remove(path);
    return (uint64_t)st.st_size;
}

/* What every failed write must leave: SNUG_E_IO naming the path, the reason and numbers (how far it got); the output
 * path as it was before (absent, or the older file whole). */
static void check_failed_write(snug_status st, const snug_error *err, const char *path, bool had_old) {
    cr_expect_eq(st, SNUG_E_IO, "status %s: %s", snug_status_name(st), err->message);
    cr_expect_not_null(strstr(err->message, path), "the message lacks the path: %s", err->message);
    cr_expect_not_null(strstr(err->message, strerror(EFBIG)), "the message lacks the reason: %s", err->message);
    cr_expect(has_number_besides(err->message, path), "the message has no numbers (how far it got): %s", err->message);
    if (had_old) {
        size_t bytes;
        char *now = test_read_file(path, &bytes);
        cr_expect(now && bytes == strlen(OLD_CONTENT) && memcmp(now, OLD_CONTENT, bytes) == 0,
                  "the older file at %s was changed (%zu bytes now)", path, now ? bytes : 0);
        free(now);
    } else {
        struct stat s;
        cr_expect_neq(stat(path, &s), 0, "a partial file of %lld bytes is left at %s", (long long)s.st_size, path);
    }
}

/* Under RLIMIT_FSIZE a write past the limit fails with EFBIG once SIGXFSZ (which would kill the process) is
 * ignored. */
static struct rlimit limit_file_size(void) {
    signal(SIGXFSZ, SIG_IGN);
    return set_soft_limit(RLIMIT_FSIZE, FILE_LIMIT_BYTES);
}

Test(inject, gguf_write_past_a_file_size_limit_is_an_io_error_and_leaves_no_partial_file) {
    snug_gguf_writer *w = big_writer();
    const uint64_t size = complete_size(w);
    cr_assert_gt(size, FILE_LIMIT_BYTES);
    for (int had_old = 0; had_old < 2; had_old++) {
        const char *path = test_tmp_path(had_old ? "over-old.gguf" : "over.gguf");
        if (had_old) cr_assert_eq(test_write_file(path, OLD_CONTENT, strlen(OLD_CONTENT)), 0);
        snug_error err = {0};
        struct rlimit saved = limit_file_size();
        snug_status st = snug_gguf_writer_write(w, path, false, &err);
        restore_limit(RLIMIT_FSIZE, &saved);
        check_failed_write(st, &err, path, had_old);
    }
    snug_gguf_writer_free(w);
}

Test(inject, gguf_stream_past_a_file_size_limit_is_an_io_error_and_leaves_no_partial_file) {
    snug_gguf_writer *w = snug_gguf_writer_create(3, 32);
    cr_assert(snug_gguf_writer_string(w, "general.architecture", "llama"));
    static float values[TENSOR_FLOATS];
    const uint64_t ne[2] = {128, TENSOR_FLOATS / 128};
    cr_assert(snug_gguf_writer_tensor(w, "big.weight", SNUG_TYPE_F32, 2, ne, NULL, sizeof values));
    cr_assert_gt(complete_size(w), FILE_LIMIT_BYTES);
    const char *path = test_tmp_path("stream-over.gguf");
    snug_error err = {0};
    struct rlimit saved = limit_file_size();
    snug_gguf_stream *s;
    snug_status st = snug_gguf_stream_open(w, path, &s, &err);
    if (st == SNUG_OK) {
        st = snug_gguf_stream_tensor(s, values, sizeof values, &err);
        snug_error close_err = {0};
        snug_status close_st = snug_gguf_stream_close(s, &close_err);
        if (st == SNUG_OK) {
            st = close_st;
            err = close_err;
        }
    }
    restore_limit(RLIMIT_FSIZE, &saved);
    check_failed_write(st, &err, path, false);
    snug_gguf_writer_free(w);
}

Test(inject, quantize_past_a_file_size_limit_is_an_io_error_and_leaves_no_partial_file) {
    snug_synth_params p = snug_synth_default_params(); /* F32 weights, ~0.5 MB: the Q8_0 output is ~140 KB */
    const char *in = test_tmp_path("quantize-in.gguf");
    char in_path[4096];
    snprintf(in_path, sizeof in_path, "%s", in);
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(in_path, &p, &err), SNUG_OK, "%s", err.message);
    char out[4096];
    snprintf(out, sizeof out, "%s", test_tmp_path("quantize-complete.gguf"));
    cr_assert_eq(snug_quantize_model(in_path, out, "Q8_0", 1, NULL, NULL, &err), SNUG_OK, "%s", err.message);
    struct stat st_complete;
    cr_assert_eq(stat(out, &st_complete), 0);
    cr_assert_gt((uint64_t)st_complete.st_size, FILE_LIMIT_BYTES);

    snprintf(out, sizeof out, "%s", test_tmp_path("quantize-over.gguf"));
    struct rlimit saved = limit_file_size();
    snug_status st = snug_quantize_model(in_path, out, "Q8_0", 1, NULL, NULL, &err);
    restore_limit(RLIMIT_FSIZE, &saved);
    check_failed_write(st, &err, out, false);
    /* The input is read-only to quantize: still whole. */
    snug_gguf *g;
    cr_assert_eq(snug_gguf_open(in_path, 0, &g, &err), SNUG_OK, "the input was damaged: %s", err.message);
    snug_gguf_close(g);
}
