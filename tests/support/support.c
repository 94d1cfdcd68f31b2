/* support.c — test helpers (see support.h). */
#include "support/support.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "convert/synth.h"

const char *test_shared_file(const char *relative) {
    static char path[4096];
    const char *root = getenv("SNUG_SHARED");
    if (root == NULL || root[0] == '\0') root = "../shared";
    snprintf(path, sizeof path, "%s/%s", root, relative);
    if (access(path, R_OK) == 0) return path;
    const char *ci = getenv("CI");
    if (ci != NULL && strcmp(ci, "true") == 0) {
        cr_assert_fail("shared test file %s is missing (CI=true: a missing file is a failure)", path);
        return NULL;
    }
    cr_skip_test("SKIPPED: shared test file %s is missing (set SNUG_SHARED to the folder holding models/)", path);
    return NULL;
}

void test_require_vulkan(void) {
    snug_vulkan_device devices[4];
    size_t n = 0;
    char why[200] = "";
    snug_error err = {0};
    if (snug_vulkan_probe(devices, 4, &n, why, sizeof why, &err) == SNUG_OK && n > 0) return;
    const char *ci = getenv("CI");
    if (ci != NULL && strcmp(ci, "true") == 0) {
        cr_assert_fail("CI installs lavapipe (mesa-vulkan-drivers), but there is no Vulkan device: %s %s", why,
                       err.message);
        return;
    }
    cr_skip_test("SKIPPED: no Vulkan device (%s%s): apt-get install mesa-vulkan-drivers", why, err.message);
}

const char *test_snug_bin(void) {
    const char *bin = getenv("SNUG_BIN");
    return (bin != NULL && bin[0] != '\0') ? bin : "build/snug";
}

char *test_read_file(const char *path, size_t *bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            char *grown = realloc(buf, cap + 1);
            if (!grown) {
                free(buf);
                buf = NULL;
            }
            buf = grown;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[len] = '\0';
    if (bytes) *bytes = len;
    return buf;
}

int test_write_file(const char *path, const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t put = fwrite(data, 1, bytes, f);
    int closed = fclose(f);
    return (put == bytes && closed == 0) ? 0 : -1;
}

/* The test process's scratch folder, removed with everything in it when that process exits (not when a forked child
 * of it does: the folder is still in use then). */
static char tmp_dir[256];
static pid_t tmp_dir_owner;

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tmp_dir(void) {
    if (tmp_dir[0] != '\0' && getpid() == tmp_dir_owner) nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_tmp_path(const char *name) {
    static char path[4096];
    const char *dir = tmp_dir;
    if (tmp_dir[0] == '\0') {
        snprintf(tmp_dir, sizeof tmp_dir, "/tmp/snug-test-XXXXXX");
        if (!mkdtemp(tmp_dir)) cr_assert_fail("mkdtemp failed: %s", strerror(errno));
        tmp_dir_owner = getpid();
        atexit(remove_tmp_dir);
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* Appends what is readable on fd to *buf. Returns 0 at EOF. */
static int drain(int fd, char **buf, size_t *len, size_t *cap) {
    if (*len + 4096 + 1 > *cap) {
        *cap = (*cap + 4096) * 2;
        *buf = realloc(*buf, *cap);
        if (!*buf) cr_assert_fail("out of memory capturing output");
    }
    ssize_t got = read(fd, *buf + *len, *cap - *len - 1);
    if (got <= 0) return 0;
    *len += (size_t)got;
    return 1;
}

test_run_result test_run(const char *const argv[]) { return test_run_stdin(argv, NULL); }

test_run_result test_run_stdin(const char *const argv[], const char *stdin_path) {
    test_run_result r = {0};
    int out_pipe[2], err_pipe[2];
    if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) cr_assert_fail("pipe failed");
    pid_t pid = fork();
    if (pid < 0) cr_assert_fail("fork failed");
    if (pid == 0) {
        int input = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        if (input < 0) {
            fprintf(stderr, "open %s: %s\n", stdin_path, strerror(errno));
            _exit(127);
        }
        dup2(input, 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        close(out_pipe[0]);
        close(err_pipe[0]);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    size_t out_cap = 0, err_cap = 0;
    struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            int more = i == 0 ? drain(fds[i].fd, &r.out, &r.out_len, &out_cap)
                              : drain(fds[i].fd, &r.err, &r.err_len, &err_cap);
            if (!more) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (!r.out) r.out = calloc(1, 1);
    if (!r.err) r.err = calloc(1, 1);
    r.out[r.out_len] = '\0';
    r.err[r.err_len] = '\0';
    return r;
}

void test_run_free(test_run_result *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

uint64_t test_proc_status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    size_t len = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && sscanf(line + len, ": %llu kB", &kib) == 1) break;
    }
    fclose(f);
    return (uint64_t)kib * 1024;
}

const char *test_write_model_40mib(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s", test_tmp_path(name));
    snug_synth_params p = snug_synth_default_params();
    p.n_vocab = 4096;
    p.n_embd = 512;
    p.n_ff = 1536;
    p.n_layer = 4;
    p.n_head = 8;
    p.n_head_kv = 4;
    snug_error err = {0};
    cr_assert_eq(snug_synth_write(path, &p, &err), SNUG_OK, "%s", err.message);
    return path;
}

float *test_prompt_logits(snug_model *model, const snug_plan *plan, const char *prompt) {
    snug_context *ctx;
    snug_error err;
    cr_assert_eq(snug_context_create_planned(model, plan, &ctx, &err), SNUG_OK, "%s", err.message);
    size_t cap, n;
    snug_token *ids = snug_context_token_buffer(ctx, &cap);
    cr_assert_eq(snug_context_tokenize(ctx, prompt, strlen(prompt), true, false, ids, cap, &n, &err), SNUG_OK, "%s",
                 err.message);
    cr_assert_eq(snug_context_decode(ctx, ids, n, &err), SNUG_OK, "%s", err.message);
    snug_model_desc d;
    snug_model_describe(model, &d);
    float *logits = malloc((size_t)d.n_vocab * sizeof *logits);
    cr_assert_not_null(logits);
    memcpy(logits, snug_context_logits(ctx), (size_t)d.n_vocab * sizeof *logits);
    snug_context_free(ctx);
    return logits;
}
