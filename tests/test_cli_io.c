/* test_cli_io.c — files, input and output robustness of the `snug` CLI and of the writers (issue 11).
 *
 * Each test is one bad input a user can make, run against the real binary (SNUG_BIN) in a forked child whose stdin,
 * stdout, resource limits and lifetime the test controls:
 *   - quantize whose output is its input (a "q/./in.gguf" path, a symlink, a hard link): refused, input intact;
 *   - quantize interrupted (SIGINT, SIGTERM once its temporary file appears) or past a file-size limit (RLIMIT_FSIZE):
 *     no output, no temporary file, and an existing output byte for byte as it was;
 *   - quantize of a tensor holding a NaN or an infinity: refused with the tensor's name and the element's index;
 *   - stdout on /dev/full for every command, or a pipe nobody reads: exit 1 with a message, never a silent exit;
 *   - a FIFO, a socket, a character device or a directory as the model: refused at once (a timeout turns a hang
 *     into a failure);
 *   - endless stdin (/dev/zero) for tokenize, run -p - and chat: refused with the numbers, in bounded memory
 *     (RLIMIT_AS, so unbounded growth fails differently from the expected refusal);
 *   - run -f FILE and -p - give the same text as -p TEXT.
 * Expected values come from the test's own inputs (the bytes it wrote, the index it poisoned), never from snug.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "convert/synth.h"
#include "gguf/writer.h"
#include "snug.h"
#include "support/support.h"

#define DEMO_MODEL "models/snug-demo-stories.gguf"
/* Every child is killed after this long: a command that should refuse at once but blocks fails instead of hanging. */
#define CHILD_TIMEOUT_S 60
/* Address space for the children reading /dev/zero: far above what they need (about 200 MB measured with one
 * thread), far below what reading an endless stdin into memory would reach before the timeout. */
#define CHILD_ADDRESS_SPACE_BYTES (1ull << 30)
/* A file-size limit below the size of the quantized small model (about 1.4 MB at Q8_0). */
#define CHILD_FILE_SIZE_LIMIT_BYTES (256u << 10)

/* ---- running the CLI in a child ------------------------------------------------------------------------------ */

typedef struct child_options {
    const char *stdin_path;  /* NULL: /dev/null */
    const char *stdout_path; /* NULL: captured; else opened for writing (/dev/full) */
    bool stdout_unread_pipe; /* stdout is a pipe whose read end is already closed */
    const char *stderr_path; /* NULL: captured; else opened for writing (/dev/full) */
    rlim_t address_space;    /* RLIMIT_AS, 0: unchanged */
    rlim_t file_size;        /* RLIMIT_FSIZE, 0: unchanged */
} child_options;

typedef struct child {
    pid_t pid;
    int out_fd, err_fd;
    char *out, *err;
    size_t out_len, err_len;
    int exit_code; /* exit status, or 128 + signal */
    int signal;    /* the signal that ended it, or 0 */
    bool timed_out;
    long max_rss_kib; /* peak resident memory (wait4's ru_maxrss) */
} child;

static void child_exec(const char *const argv[], const child_options *o, int out_pipe[2], int err_pipe[2]) {
    /* The child starts with default dispositions and no blocked signals, whatever Criterion set up. */
    const int defaults[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGXFSZ};
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) signal(defaults[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setenv("MALLOC_ARENA_MAX", "2", 1);
    if (o->address_space) {
        struct rlimit r = {o->address_space, o->address_space};
        setrlimit(RLIMIT_AS, &r);
    }
    if (o->file_size) {
        struct rlimit r = {o->file_size, o->file_size};
        setrlimit(RLIMIT_FSIZE, &r);
    }
    int in = open(o->stdin_path ? o->stdin_path : "/dev/null", O_RDONLY);
    if (in < 0) _exit(126);
    dup2(in, 0);
    if (o->stdout_path) {
        int out = open(o->stdout_path, O_WRONLY);
        if (out < 0) _exit(126);
        dup2(out, 1);
    } else {
        dup2(out_pipe[1], 1);
    }
    if (o->stderr_path) {
        int err = open(o->stderr_path, O_WRONLY);
        if (err < 0) _exit(126);
        dup2(err, 2);
    } else {
        dup2(err_pipe[1], 2);
    }
    close(out_pipe[0]);
    close(err_pipe[0]);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

static child child_start(const char *const argv[], const child_options *o) {
    child c = {.pid = -1, .out_fd = -1, .err_fd = -1};
    int out_pipe[2], err_pipe[2];
    cr_assert_eq(pipe(out_pipe), 0);
    cr_assert_eq(pipe(err_pipe), 0);
    if (o->stdout_unread_pipe) close(out_pipe[0]); /* nobody will ever read stdout */
    c.pid = fork();
    cr_assert_geq(c.pid, 0, "fork failed");
    if (c.pid == 0) child_exec(argv, o, out_pipe, err_pipe);
    close(out_pipe[1]);
    close(err_pipe[1]);
    c.out_fd = o->stdout_unread_pipe ? -1 : out_pipe[0];
    c.err_fd = err_pipe[0];
    return c;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void append(int *fd, char **buf, size_t *len) {
    char block[65536];
    ssize_t got = read(*fd, block, sizeof block);
    if (got <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    *buf = realloc(*buf, *len + (size_t)got + 1);
    cr_assert_not_null(*buf);
    memcpy(*buf + *len, block, (size_t)got);
    *len += (size_t)got;
}

/* Collects the child's output and status; kills it (and says so) if it outlives CHILD_TIMEOUT_S. */
static void child_wait(child *c) {
    const double deadline = now_s() + CHILD_TIMEOUT_S;
    int status = 0;
    struct rusage usage = {0};
    for (;;) {
        struct pollfd fds[2] = {{c->out_fd, POLLIN, 0}, {c->err_fd, POLLIN, 0}};
        if (c->out_fd < 0 && c->err_fd < 0) {
            pid_t done = wait4(c->pid, &status, WNOHANG, &usage);
            if (done == c->pid) break;
            if (now_s() > deadline) {
                kill(c->pid, SIGKILL);
                wait4(c->pid, &status, 0, &usage);
                c->timed_out = true;
                break;
            }
            usleep(1000);
            continue;
        }
        int remaining_ms = (int)((deadline - now_s()) * 1000);
        if (remaining_ms <= 0) {
            kill(c->pid, SIGKILL);
            wait4(c->pid, &status, 0, &usage);
            c->timed_out = true;
            break;
        }
        if (poll(fds, 2, remaining_ms) < 0 && errno != EINTR) break;
        if (c->out_fd >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) append(&c->out_fd, &c->out, &c->out_len);
        if (c->err_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) append(&c->err_fd, &c->err, &c->err_len);
    }
    if (c->out_fd >= 0) close(c->out_fd);
    if (c->err_fd >= 0) close(c->err_fd);
    if (!c->out) c->out = calloc(1, 1);
    if (!c->err) c->err = calloc(1, 1);
    c->out[c->out_len] = '\0';
    c->err[c->err_len] = '\0';
    c->max_rss_kib = usage.ru_maxrss;
    c->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    c->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static child run_child(const char *const argv[], const child_options *o) {
    child c = child_start(argv, o);
    child_wait(&c);
    cr_assert_not(c.timed_out, "%s %s did not finish within %d s (it blocked or read forever)", argv[1],
                  argv[2] ? argv[2] : "", CHILD_TIMEOUT_S);
    return c;
}

static void child_free(child *c) {
    free(c->out);
    free(c->err);
}

/* ---- files --------------------------------------------------------------------------------------------------- */

static char *path_in(const char *dir, const char *name) {
    static char paths[8][4096];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 4096, "%s/%s", dir, name);
    return p;
}

/* A new folder in the test's temporary directory; the path stays valid for the test (test_tmp_path's does not). */
static const char *fresh_dir(const char *name) {
    static char dirs[4][4096];
    static int next;
    char *dir = dirs[next++ % 4];
    snprintf(dir, sizeof dirs[0], "%s", test_tmp_path(name));
    cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s: %s", dir, strerror(errno));
    return dir;
}

/* Entries of a folder other than . and .., as one "a b c" string (sorted by readdir order; tests need counts). */
static int count_entries(const char *dir, char *names, size_t cap) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "opendir %s", dir);
    int n = 0;
    if (names && cap) names[0] = '\0';
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        n++;
        if (names && strlen(names) + strlen(e->d_name) + 2 < cap) {
            strcat(names, " ");
            strcat(names, e->d_name);
        }
    }
    closedir(d);
    return n;
}

static void remove_tree_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        unlink(path_in(dir, e->d_name));
    }
    closedir(d);
    rmdir(dir);
}

/* An F16 model (multiples of 256, so that every K-quant applies); `big` makes a quantization take long enough (a
 * second or more on one thread) for a signal to land while it writes. */
static void write_source_model(const char *path, bool big, uint32_t type) {
    snug_synth_params p = snug_synth_default_params();
    p.n_embd = big ? 768 : 256;
    p.n_ff = big ? 2048 : 512;
    p.n_layer = big ? 4 : 2;
    p.n_vocab = big ? 2048 : 320;
    p.weight_type = type;
    p.embd_type = type;
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(path, &p, &err), SNUG_OK, "%s", err.message);
}

static char *read_all(const char *path, size_t *bytes) {
    char *data = test_read_file(path, bytes);
    cr_assert_not_null(data, "cannot read %s", path);
    return data;
}

static void assert_file_is(const char *path, const char *expected, size_t expected_bytes) {
    size_t bytes;
    char *data = read_all(path, &bytes);
    cr_assert_eq(bytes, expected_bytes, "%s: %zu bytes, expected %zu (it was changed)", path, bytes, expected_bytes);
    cr_assert(memcmp(data, expected, bytes) == 0, "%s: its bytes were changed", path);
    free(data);
}

/* ---- quantize: the output is the input ------------------------------------------------------------------------ */

/* Quantizes q/in.gguf to `out` (a name for the same file) and checks it is refused, the input intact. */
static void check_same_file_refused(const char *dir, const char *in, const char *out) {
    size_t bytes;
    char *before = read_all(in, &bytes);
    const char *argv[] = {test_snug_bin(), "quantize", in, out, "Q8_0", NULL};
    child_options o = {0};
    child c = run_child(argv, &o);
    cr_expect_eq(c.exit_code, 2, "quantize %s → %s: exit %d, expected 2 (refused); stderr: %s", in, out, c.exit_code,
                 c.err);
    cr_expect(strstr(c.err, "same file") != NULL, "the refusal says why; stderr: %s", c.err);
    assert_file_is(in, before, bytes);
    free(before);
    child_free(&c);
    remove_tree_files(dir);
}

Test(cli_io, quantize_refuses_output_that_is_the_input_by_dot_path) {
    const char *dir = fresh_dir("q");
    const char *in = path_in(dir, "in.gguf");
    write_source_model(in, false, SNUG_TYPE_F16);
    check_same_file_refused(dir, in, path_in(dir, "./in.gguf"));
}

Test(cli_io, quantize_refuses_output_that_is_the_input_by_symlink) {
    const char *dir = fresh_dir("q");
    const char *in = path_in(dir, "in.gguf");
    write_source_model(in, false, SNUG_TYPE_F16);
    const char *link = path_in(dir, "link.gguf");
    cr_assert_eq(symlink("in.gguf", link), 0);
    check_same_file_refused(dir, in, link);
}

Test(cli_io, quantize_refuses_output_that_is_the_input_by_hard_link) {
    const char *dir = fresh_dir("q");
    const char *in = path_in(dir, "in.gguf");
    write_source_model(in, false, SNUG_TYPE_F16);
    const char *hard = path_in(dir, "hard.gguf");
    cr_assert_eq(link(in, hard), 0);
    check_same_file_refused(dir, in, hard);
}

/* ---- quantize: interrupted or limited ---------------------------------------------------------------------- */

#define PREVIOUS_OUTPUT "an earlier output that must survive\n"

/* Starts a quantization of a big model into out/model.gguf (an existing one when `existing`), sends `sig` once it
 * writes (a new file appears in out/, or the existing one changes), and checks that out/ holds exactly what it held
 * before. */
static void check_signal_leaves_nothing(int sig, bool existing) {
    const char *src_dir = fresh_dir("src");
    const char *out_dir = fresh_dir("out");
    const char *in = path_in(src_dir, "in.gguf");
    write_source_model(in, true, SNUG_TYPE_F16);
    const char *out = path_in(out_dir, "model.gguf");
    if (existing) cr_assert_eq(test_write_file(out, PREVIOUS_OUTPUT, strlen(PREVIOUS_OUTPUT)), 0);
    const int entries_before = existing ? 1 : 0;

    const char *argv[] = {test_snug_bin(), "quantize", in, out, "Q4_K_M", "--threads", "1", NULL};
    child_options o = {.stdout_path = "/dev/null"};
    child c = child_start(argv, &o);
    /* Wait until it writes: the temporary file (or, in a writer that writes in place, the output itself). */
    const double deadline = now_s() + CHILD_TIMEOUT_S;
    bool writing = false;
    while (!writing && now_s() < deadline) {
        struct stat st;
        writing = count_entries(out_dir, NULL, 0) > entries_before ||
                  (existing && stat(out, &st) == 0 && (size_t)st.st_size != strlen(PREVIOUS_OUTPUT));
        if (!writing && waitpid(c.pid, NULL, WNOHANG) == c.pid) cr_assert_fail("quantize ended before it wrote");
        if (!writing) usleep(500);
    }
    cr_assert(writing, "quantize wrote nothing within %d s", CHILD_TIMEOUT_S);
    kill(c.pid, sig);
    child_wait(&c);
    cr_assert_not(c.timed_out);
    cr_expect_neq(c.exit_code, 0, "an interrupted quantize must not report success");

    char names[1024];
    int n = count_entries(out_dir, names, sizeof names);
    cr_expect_eq(n, entries_before, "after %s the output folder holds:%s (expected %s)", strsignal(sig), names,
                 existing ? "the earlier output only" : "nothing");
    if (existing) assert_file_is(out, PREVIOUS_OUTPUT, strlen(PREVIOUS_OUTPUT));
    child_free(&c);
    remove_tree_files(src_dir);
    remove_tree_files(out_dir);
}

Test(cli_io, quantize_interrupted_by_sigint_leaves_no_output) { check_signal_leaves_nothing(SIGINT, false); }

Test(cli_io, quantize_interrupted_by_sigterm_leaves_no_output) { check_signal_leaves_nothing(SIGTERM, false); }

Test(cli_io, quantize_interrupted_by_sigint_keeps_an_existing_output) { check_signal_leaves_nothing(SIGINT, true); }

Test(cli_io, quantize_interrupted_by_sigterm_keeps_an_existing_output) { check_signal_leaves_nothing(SIGTERM, true); }

Test(cli_io, quantize_past_a_file_size_limit_leaves_nothing) {
    const char *src_dir = fresh_dir("src");
    const char *out_dir = fresh_dir("out");
    const char *in = path_in(src_dir, "in.gguf");
    write_source_model(in, false, SNUG_TYPE_F16);
    const char *out = path_in(out_dir, "model.gguf");
    cr_assert_eq(test_write_file(out, PREVIOUS_OUTPUT, strlen(PREVIOUS_OUTPUT)), 0);
    const char *argv[] = {test_snug_bin(), "quantize", in, out, "Q8_0", NULL};
    child_options o = {.stdout_path = "/dev/null", .file_size = CHILD_FILE_SIZE_LIMIT_BYTES};
    child c = run_child(argv, &o);
    cr_expect_neq(c.exit_code, 0, "a quantize past the file-size limit must fail");
    cr_expect_eq(c.signal, 0, "it must fail with a message, not die of %s", strsignal(c.signal));
    cr_expect(strstr(c.err, "File too large") != NULL, "stderr names the error: %s", c.err);
    char names[1024];
    cr_expect_eq(count_entries(out_dir, names, sizeof names), 1, "the output folder holds:%s", names);
    assert_file_is(out, PREVIOUS_OUTPUT, strlen(PREVIOUS_OUTPUT));
    child_free(&c);
    remove_tree_files(src_dir);
    remove_tree_files(out_dir);
}

/* ---- quantize: non-finite input ------------------------------------------------------------------------------ */

/* Writes an F32 model with `value` at element `index` of tensor `name`, via the file's own tensor table. */
static void write_poisoned_model(const char *path, const char *name, uint64_t index, float value) {
    write_source_model(path, false, SNUG_TYPE_F32);
    snug_gguf *g;
    snug_error err = {0};
    cr_assert_eq(snug_gguf_open(path, 0, &g, &err), SNUG_OK, "%s", err.message);
    const snug_tensor_info *t = snug_gguf_find_tensor(g, name);
    cr_assert_not_null(t, "no tensor %s", name);
    cr_assert_eq(t->type, SNUG_TYPE_F32);
    uint64_t at = snug_gguf_data_offset(g) + t->offset + index * sizeof(float);
    snug_gguf_close(g);
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, &value, sizeof value, (off_t)at), (ssize_t)sizeof value);
    close(fd);
}

static void check_non_finite_refused(const char *name, uint64_t index, float value) {
    const char *dir = fresh_dir("nan");
    const char *in = path_in(dir, "in.gguf"), *out = path_in(dir, "out.gguf");
    write_poisoned_model(in, name, index, value);
    const char *argv[] = {test_snug_bin(), "quantize", in, out, "Q4_K_M", NULL};
    child_options o = {.stdout_path = "/dev/null"};
    child c = run_child(argv, &o);
    char element[64];
    snprintf(element, sizeof element, "element %llu", (unsigned long long)index);
    cr_expect_eq(c.exit_code, 2, "a non-finite weight must be refused (exit %d); stderr: %s", c.exit_code, c.err);
    cr_expect(strstr(c.err, name) != NULL, "the message names the tensor %s: %s", name, c.err);
    cr_expect(strstr(c.err, element) != NULL, "the message names %s: %s", element, c.err);
    cr_expect_neq(access(out, F_OK), 0, "no output is written");
    child_free(&c);
    remove_tree_files(dir);
}

Test(cli_io, quantize_refuses_a_nan_weight_with_its_tensor_and_index) {
    check_non_finite_refused("blk.1.ffn_up.weight", 12345, NAN);
}

Test(cli_io, quantize_refuses_an_infinite_norm_with_its_tensor_and_index) {
    /* A vector copied unchanged: it would go into the output as it is. */
    check_non_finite_refused("output_norm.weight", 77, -INFINITY);
}

/* ---- checked writes to stdout --------------------------------------------------------------------------------- */

/* Runs a command with stdout on /dev/full (ENOSPC on every write): exit 1 and a message, never 0. */
static void check_full_stdout(const char *const argv[], const char *stdin_path) {
    child_options o = {.stdin_path = stdin_path, .stdout_path = "/dev/full"};
    child c = run_child(argv, &o);
    cr_expect_eq(c.exit_code, 1, "snug %s with stdout on /dev/full: exit %d, expected 1; stderr: %s", argv[1],
                 c.exit_code, c.err);
    cr_expect(strstr(c.err, "writing to stdout failed") != NULL, "snug %s says so on stderr: %s", argv[1], c.err);
    child_free(&c);
}

Test(cli_io, full_stdout_fails_run_and_stops_the_generation) {
    const char *argv[] = {test_snug_bin(), "run", DEMO_MODEL, "-p", "Once", "-n", "64", "--temp", "0", NULL};
    check_full_stdout(argv, NULL);
    /* The closing summary ("… generated N tokens …") is printed only by a generation that ran to its end. */
    child_options o = {.stdout_path = "/dev/full"};
    child c = run_child(argv, &o);
    cr_expect(strstr(c.err, "generated") == NULL, "the generation went on after stdout failed: %s", c.err);
    child_free(&c);
}

Test(cli_io, full_stdout_fails_info) {
    const char *argv[] = {test_snug_bin(), "info", DEMO_MODEL, NULL};
    check_full_stdout(argv, NULL);
    const char *json[] = {test_snug_bin(), "info", DEMO_MODEL, "--json", NULL};
    check_full_stdout(json, NULL);
}

Test(cli_io, full_stdout_fails_plan) {
    const char *argv[] = {test_snug_bin(), "plan", DEMO_MODEL, NULL};
    check_full_stdout(argv, NULL);
    const char *json[] = {test_snug_bin(), "plan", DEMO_MODEL, "--json", NULL};
    check_full_stdout(json, NULL);
}

Test(cli_io, full_stdout_fails_tokenize) {
    const char *argv[] = {test_snug_bin(), "tokenize", DEMO_MODEL, "Once upon a time", NULL};
    check_full_stdout(argv, NULL);
}

Test(cli_io, full_stdout_fails_chat) {
    const char *input = test_tmp_path("chat-input.txt");
    cr_assert_eq(test_write_file(input, "Hello there\n", 12), 0);
    const char *argv[] = {test_snug_bin(), "chat", DEMO_MODEL, "-n", "8", "--temp", "0", NULL};
    check_full_stdout(argv, input);
}

Test(cli_io, full_stdout_fails_hw) {
    const char *argv[] = {test_snug_bin(), "hw", NULL};
    check_full_stdout(argv, NULL);
    const char *json[] = {test_snug_bin(), "hw", "--json", NULL};
    check_full_stdout(json, NULL);
}

Test(cli_io, full_stdout_fails_bench) {
    const char *argv[] = {test_snug_bin(), "bench", DEMO_MODEL, "-p", "4", "-n", "2", "--reps", "1", "--json", NULL};
    check_full_stdout(argv, NULL);
}

Test(cli_io, full_stdout_fails_quantize_and_writes_no_output) {
    const char *dir = fresh_dir("q");
    const char *in = path_in(dir, "in.gguf"), *out = path_in(dir, "out.gguf");
    write_source_model(in, false, SNUG_TYPE_F16);
    const char *argv[] = {test_snug_bin(), "quantize", in, out, "Q8_0", NULL};
    check_full_stdout(argv, NULL);
    cr_expect_eq(count_entries(dir, NULL, 0), 1, "a quantize whose report was lost leaves no output");
    remove_tree_files(dir);
}

Test(cli_io, full_stderr_fails_the_command) {
    /* Nothing can be said about it, but the exit code: 1, where it was 0. */
    const char *argv[] = {test_snug_bin(), "run", DEMO_MODEL, "-p", "Once", "-n", "4", "--temp", "0", NULL};
    child_options o = {.stdout_path = "/dev/null", .stderr_path = "/dev/full"};
    child c = run_child(argv, &o);
    cr_expect_eq(c.exit_code, 1, "snug run with stderr on /dev/full: exit %d, expected 1", c.exit_code);
    child_free(&c);
}

/* A reader that went away: snug must not die of SIGPIPE without a word. */
static void check_unread_pipe(const char *const argv[]) {
    child_options o = {.stdout_unread_pipe = true};
    child c = run_child(argv, &o);
    cr_expect_eq(c.signal, 0, "snug %s died of %s", argv[1], strsignal(c.signal));
    cr_expect_eq(c.exit_code, 1, "snug %s into a closed pipe: exit %d, expected 1; stderr: %s", argv[1], c.exit_code,
                 c.err);
    cr_expect(strstr(c.err, "Broken pipe") != NULL, "the message names EPIPE: %s", c.err);
    child_free(&c);
}

Test(cli_io, closed_pipe_on_stdout_is_an_error_not_a_silent_death) {
    const char *run[] = {test_snug_bin(), "run", DEMO_MODEL, "-p", "Once", "-n", "8", "--temp", "0", NULL};
    check_unread_pipe(run);
    const char *info[] = {test_snug_bin(), "info", DEMO_MODEL, NULL};
    check_unread_pipe(info);
}

/* ---- models that are not regular files ------------------------------------------------------------------------ */

static void check_model_refused(const char *path, const char *kind) {
    const char *commands[] = {"run", "info", "tokenize"};
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        const char *argv[] = {test_snug_bin(), commands[i], path, "hello", NULL};
        if (strcmp(commands[i], "tokenize") != 0) argv[3] = NULL;
        child_options o = {0};
        child c = run_child(argv, &o);
        cr_expect_eq(c.exit_code, 2, "snug %s on %s (%s): exit %d, expected 2; stderr: %s", commands[i], path, kind,
                     c.exit_code, c.err);
        cr_expect(strstr(c.err, kind) != NULL, "snug %s names what %s is (%s): %s", commands[i], path, kind, c.err);
        child_free(&c);
    }
}

Test(cli_io, fifo_as_model_is_refused_at_once) {
    const char *fifo = test_tmp_path("model.fifo");
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    check_model_refused(fifo, "FIFO");
}

Test(cli_io, socket_as_model_is_refused_at_once) {
    const char *path = test_tmp_path("model.sock");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0, "bind %s: %s", path, strerror(errno));
    cr_assert_eq(listen(fd, 1), 0);
    check_model_refused(path, "socket");
    close(fd);
}

Test(cli_io, character_device_as_model_is_refused_at_once) { check_model_refused("/dev/null", "character device"); }

Test(cli_io, directory_as_model_is_refused_at_once) { check_model_refused(test_tmp_path(""), "directory"); }

/* ---- bounded input ------------------------------------------------------------------------------------------- */

/* A command fed /dev/zero: refused with exit 2 and both numbers, within the address-space limit. An AddressSanitizer
 * build (make check SANITIZE=1) cannot start under RLIMIT_AS (it reserves terabytes of shadow); it runs without it,
 * and the peak resident memory is checked instead. */
static void check_endless_stdin(const char *const argv[]) {
    child_options o = {.stdin_path = "/dev/zero", .address_space = CHILD_ADDRESS_SPACE_BYTES};
    child c = run_child(argv, &o);
    if (c.exit_code != 2 && strstr(c.err, "ReserveShadowMemoryRange") != NULL) {
        child_free(&c);
        o.address_space = 0;
        c = run_child(argv, &o);
    }
    cr_expect_eq(c.exit_code, 2, "snug %s < /dev/zero: exit %d, expected 2; stderr: %s", argv[1], c.exit_code, c.err);
    /* The demo model: trained context 256 tokens (models/README.md); the numbers are in the message. */
    cr_expect(strstr(c.err, "256 tokens") != NULL, "the message gives the context: %s", c.err);
    cr_expect(strstr(c.err, "bytes") != NULL, "the message gives the bytes: %s", c.err);
    cr_expect_lt((unsigned long long)c.max_rss_kib * 1024, CHILD_ADDRESS_SPACE_BYTES, "peak RSS %ld KiB",
                 c.max_rss_kib);
    child_free(&c);
}

Test(cli_io, endless_stdin_is_refused_by_tokenize) {
    const char *argv[] = {test_snug_bin(), "tokenize", DEMO_MODEL, "-", NULL};
    check_endless_stdin(argv);
}

Test(cli_io, endless_stdin_is_refused_by_run) {
    const char *argv[] = {test_snug_bin(), "run", DEMO_MODEL, "-p", "-", "-n", "4", NULL};
    check_endless_stdin(argv);
}

Test(cli_io, endless_line_stops_chat) {
    const char *argv[] = {test_snug_bin(), "chat", DEMO_MODEL, "-n", "4", NULL};
    check_endless_stdin(argv);
}

Test(cli_io, prompt_from_file_or_stdin_gives_the_same_text_as_from_the_command_line) {
    const char *prompt = "Once upon a time, there was a little dog";
    const char *file = test_tmp_path("prompt.txt");
    char with_newline[128];
    snprintf(with_newline, sizeof with_newline, "%s\n", prompt); /* one final newline is dropped, as llama.cpp does */
    cr_assert_eq(test_write_file(file, with_newline, strlen(with_newline)), 0);
    child_options o = {0};
    const char *from_arg[] = {test_snug_bin(), "run", DEMO_MODEL, "-p", prompt, "-n", "24", "--temp", "0", NULL};
    child a = run_child(from_arg, &o);
    cr_assert_eq(a.exit_code, 0, "%s", a.err);
    cr_assert(strncmp(a.out, prompt, strlen(prompt)) == 0, "the text starts with the prompt: %s", a.out);
    cr_assert_gt(a.out_len, strlen(prompt), "something was generated");

    const char *from_file[] = {test_snug_bin(), "run", DEMO_MODEL, "-f", file, "-n", "24", "--temp", "0", NULL};
    child b = run_child(from_file, &o);
    cr_expect_eq(b.exit_code, 0, "%s", b.err);
    cr_expect_str_eq(b.out, a.out, "-f FILE and -p TEXT differ");

    const char *from_stdin[] = {test_snug_bin(), "run", DEMO_MODEL, "-p", "-", "-n", "24", "--temp", "0", NULL};
    child_options with_stdin = {.stdin_path = file};
    child s = run_child(from_stdin, &with_stdin);
    cr_expect_eq(s.exit_code, 0, "%s", s.err);
    cr_expect_str_eq(s.out, a.out, "-p - and -p TEXT differ");
    child_free(&a);
    child_free(&b);
    child_free(&s);
}

Test(cli_io, prompt_file_that_could_block_is_refused_at_once) {
    const char *fifo = test_tmp_path("prompt.fifo");
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    const char *argv[] = {test_snug_bin(), "run", DEMO_MODEL, "-f", fifo, NULL};
    child_options o = {0};
    child c = run_child(argv, &o);
    cr_expect_eq(c.exit_code, 2, "exit %d; stderr: %s", c.exit_code, c.err);
    cr_expect(strstr(c.err, "FIFO") != NULL, "%s", c.err);
    child_free(&c);
}

/* ---- the writers (library) ------------------------------------------------------------------------------------- */

Test(cli_io, writer_refuses_to_replace_what_is_not_a_regular_file) {
    snug_gguf_writer *w = snug_gguf_writer_create(3, 32);
    cr_assert_not_null(w);
    snug_error err = {0};
    const char *dir = fresh_dir("a-folder");
    cr_expect_eq(snug_gguf_writer_write(w, dir, false, &err), SNUG_E_ARGUMENT, "writing over a folder");
    cr_expect(strstr(err.message, "directory") != NULL, "%s", err.message);
    char link[4096];
    snprintf(link, sizeof link, "%s", test_tmp_path("link-to-a-folder"));
    cr_assert_eq(symlink(dir, link), 0);
    cr_expect_eq(snug_gguf_writer_write(w, link, false, &err), SNUG_E_ARGUMENT, "writing over a link to a folder");
    struct stat st;
    cr_expect(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link is still a link");
    cr_expect_eq(count_entries(dir, NULL, 0), 0, "nothing was written into the folder");
    snug_gguf_writer_free(w);
    unlink(link);
    rmdir(dir);
}

Test(cli_io, writer_replaces_the_target_of_a_symlink_and_keeps_the_link) {
    const char *dir = fresh_dir("linked");
    const char *target = path_in(dir, "target.gguf"), *link = path_in(dir, "link.gguf");
    cr_assert_eq(test_write_file(target, PREVIOUS_OUTPUT, strlen(PREVIOUS_OUTPUT)), 0);
    cr_assert_eq(symlink("target.gguf", link), 0);
    snug_gguf_writer *w = snug_gguf_writer_create(3, 32);
    cr_assert(snug_gguf_writer_u32(w, "test.value", 7));
    snug_error err = {0};
    cr_expect_eq(snug_gguf_writer_write(w, link, false, &err), SNUG_OK, "%s", err.message);
    struct stat st;
    cr_expect(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link is still a link");
    snug_gguf *g;
    cr_expect_eq(snug_gguf_open(target, 0, &g, &err), SNUG_OK, "the target holds the new file: %s", err.message);
    snug_gguf_close(g);
    cr_expect_eq(count_entries(dir, NULL, 0), 2, "target and link, no temporary file");
    snug_gguf_writer_free(w);
    remove_tree_files(dir);
}

Test(cli_io, stream_abort_and_signal_cleanup_leave_the_destination_as_it_was) {
    const char *dir = fresh_dir("stream");
    const char *out = path_in(dir, "out.gguf");
    cr_assert_eq(test_write_file(out, PREVIOUS_OUTPUT, strlen(PREVIOUS_OUTPUT)), 0);
    snug_gguf_writer *w = snug_gguf_writer_create(3, 32);
    uint64_t ne[1] = {64};
    cr_assert(snug_gguf_writer_tensor(w, "x", SNUG_TYPE_F32, 1, ne, NULL, 256));
    snug_error err = {0};

    /* Given up half-way: the temporary file goes, the destination stays. */
    snug_gguf_stream *s;
    cr_assert_eq(snug_gguf_stream_open(w, out, &s, &err), SNUG_OK, "%s", err.message);
    cr_expect_eq(count_entries(dir, NULL, 0), 2, "the stream writes a temporary file next to the destination");
    assert_file_is(out, PREVIOUS_OUTPUT, strlen(PREVIOUS_OUTPUT));
    snug_gguf_stream_abort(s);
    cr_expect_eq(count_entries(dir, NULL, 0), 1);
    assert_file_is(out, PREVIOUS_OUTPUT, strlen(PREVIOUS_OUTPUT));

    /* What a signal handler calls: the temporary file of a stream in progress goes, and it cannot be committed. */
    cr_assert_eq(snug_gguf_stream_open(w, out, &s, &err), SNUG_OK, "%s", err.message);
    snug_remove_temporary_files();
    cr_expect_eq(count_entries(dir, NULL, 0), 1);
    float data[64] = {0};
    cr_expect_eq(snug_gguf_stream_tensor(s, data, sizeof data, &err), SNUG_OK);
    cr_expect_neq(snug_gguf_stream_close(s, &err), SNUG_OK, "a removed temporary file cannot be renamed into place");
    assert_file_is(out, PREVIOUS_OUTPUT, strlen(PREVIOUS_OUTPUT));

    /* Completed: the destination is replaced whole, and nothing else is left. */
    cr_assert_eq(snug_gguf_stream_open(w, out, &s, &err), SNUG_OK, "%s", err.message);
    cr_expect_eq(snug_gguf_stream_tensor(s, data, sizeof data, &err), SNUG_OK);
    cr_expect_eq(snug_gguf_stream_close(s, &err), SNUG_OK, "%s", err.message);
    cr_expect_eq(count_entries(dir, NULL, 0), 1);
    snug_gguf *g;
    cr_expect_eq(snug_gguf_open(out, 0, &g, &err), SNUG_OK, "%s", err.message);
    snug_gguf_close(g);
    snug_gguf_writer_free(w);
    remove_tree_files(dir);
}

/* A callback that stops the quantization: the output path is left as it was. */
static snug_status stop_at_second_tensor(void *user, const snug_quantize_tensor_report *r, snug_error *err) {
    int *seen = user;
    if (++*seen < 2) return SNUG_OK;
    err->status = SNUG_E_IO;
    snprintf(err->message, sizeof err->message, "stopped by the test after %s", r->name);
    return SNUG_E_IO;
}

Test(cli_io, quantize_stopped_by_its_callback_leaves_the_output_as_it_was) {
    const char *dir = fresh_dir("q");
    const char *in = path_in(dir, "in.gguf"), *out = path_in(dir, "out.gguf");
    write_source_model(in, false, SNUG_TYPE_F16);
    cr_assert_eq(test_write_file(out, PREVIOUS_OUTPUT, strlen(PREVIOUS_OUTPUT)), 0);
    int seen = 0;
    snug_error err = {0};
    cr_expect_eq(snug_quantize_model(in, out, "Q8_0", 1, stop_at_second_tensor, &seen, &err), SNUG_E_IO);
    cr_expect(strstr(err.message, "stopped by the test") != NULL, "the callback's error comes back: %s", err.message);
    cr_expect_eq(seen, 2);
    cr_expect_eq(count_entries(dir, NULL, 0), 2, "input and the earlier output only");
    assert_file_is(out, PREVIOUS_OUTPUT, strlen(PREVIOUS_OUTPUT));
    remove_tree_files(dir);
}
