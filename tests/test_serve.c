/* test_serve.c — `snug serve` driven by clients no one here wrote, and by bad and heavy traffic.
 *
 * Each test starts `snug serve` with the bundled demo model on a free port, waits for its "listening on" line and for
 * GET /health to answer 200, runs one client and stops the server with SIGTERM, which must end it with exit status 0:
 *   - the official openai npm client (tests/serve/openai_client.mjs): chat and completions, streamed and not, stop
 *     strings, errors mapped to its APIError classes, the API key, models, seeds;
 *   - malformed HTTP and JSON (tests/serve/malformed.py): a 4xx with a message for each, the server still answering;
 *   - prompt caching (tests/serve/cache.py): a conversation's second turn reuses the first's keys and values and
 *     replies exactly as when computed whole;
 *   - load (tests/serve/load.py): 64 clients at once against 4 sequences and a queue of 8 — every request completes,
 *     directly or after 503 + Retry-After; /metrics agrees with the clients; hung-up streams free their pages; the
 *     server's peak RSS stays within its plan and its own stated bound.
 *
 * The openai client needs node and tests/serve/node_modules (`cd tests/serve && npm ci`); without them that test is
 * skipped with a visible message — except under CI (CI=true), where that is a failure.
 *
 * Every child is killed in the .fini cleanup, whatever failed, and dies with the test process (PR_SET_PDEATHSIG) if
 * Criterion kills it on a timeout.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/support.h"

#define DEMO_MODEL     "models/snug-demo-stories.gguf"
#define CLIENT_SCRIPT  "tests/serve/openai_client.mjs"
#define MALFORMED      "tests/serve/malformed.py"
#define LOAD           "tests/serve/load.py"
#define CACHE          "tests/serve/cache.py"
#define LOAD_CLIENTS   "64"
#define CLIENT_MODULE  "tests/serve/node_modules/openai/package.json"
#define API_KEY        "test-key"
#define READY_PREFIX   "snug serve: listening on http://127.0.0.1:"
#define READY_TIMEOUT  60.0
#define HEALTH_TIMEOUT 60.0
#define CLIENT_TIMEOUT 240.0
#define STOP_TIMEOUT   10.0
#define SHOW_BYTES     6000 /* how much of a long output a failure message shows (the end of it) */

/* A growing NUL-terminated byte buffer for a child's output. */
typedef struct text {
    char *data;
    size_t len, cap;
} text;

static void text_append(text *t, const char *bytes, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *grown = realloc(t->data, cap);
        if (!grown) cr_assert_fail("out of memory capturing output");
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, bytes, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static const char *text_tail(const text *t) {
    if (!t->data) return "(nothing)";
    return t->len > SHOW_BYTES ? t->data + t->len - SHOW_BYTES : t->data;
}

/* The children and their pipes, for the cleanup that runs whatever failed. */
static pid_t server_pid = -1, client_pid = -1;
static int server_err = -1, client_out = -1;
static text server_log, client_log;

static void kill_child(pid_t *pid) {
    if (*pid <= 0) return;
    kill(*pid, SIGKILL);
    while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR) {
    }
    *pid = -1;
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void cleanup(void) {
    kill_child(&client_pid);
    kill_child(&server_pid);
    close_fd(&client_out);
    close_fd(&server_err);
    free(server_log.data);
    free(client_log.data);
    server_log = (text){0};
    client_log = (text){0};
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Starts argv[0] (a path) with stdin from /dev/null, stdout to `out_fd` (-1: /dev/null), stderr to `err_fd` and no
 * other descriptor; the child is killed when this process dies. */
static pid_t spawn(const char *const argv[], int out_fd, int err_fd) {
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork failed: %s", strerror(errno));
    if (pid > 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null_in = open("/dev/null", O_RDONLY), null_out = open("/dev/null", O_WRONLY);
    dup2(null_in, 0);
    dup2(out_fd >= 0 ? out_fd : null_out, 1);
    dup2(err_fd, 2);
    close_range(3, ~0U, 0);
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Reads what is ready on the server's stderr and the client's output (whichever are open) for up to `timeout_ms`.
 * A pipe at EOF is closed. */
static void pump(int timeout_ms) {
    struct pollfd fds[2] = {{server_err, POLLIN, 0}, {client_out, POLLIN, 0}};
    if (poll(fds, 2, timeout_ms) <= 0) return;
    int *fd[2] = {&server_err, &client_out};
    text *log[2] = {&server_log, &client_log};
    for (int i = 0; i < 2; i++) {
        if (*fd[i] < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[4096];
        ssize_t got = read(*fd[i], buf, sizeof buf);
        if (got > 0)
            text_append(log[i], buf, (size_t)got);
        else if (got == 0 || errno != EINTR)
            close_fd(fd[i]);
    }
}

/* The port of the server's "listening on" line, once it has printed a complete one; 0 before. */
static int ready_port(void) {
    const char *at = server_log.data ? strstr(server_log.data, READY_PREFIX) : NULL;
    if (!at) return 0;
    const char *digits = at + strlen(READY_PREFIX);
    char *end;
    long port = strtol(digits, &end, 10);
    if (end == digits || *end != '\n') return 0;
    cr_assert(port > 0 && port < 65536, "bad port in the server's line: %.80s", at);
    return (int)port;
}

/* Whether the server process has exited; reaps it and stores its wait status in *status then. */
static int server_exited(int *status) {
    if (server_pid <= 0) return 1;
    pid_t got = waitpid(server_pid, status, WNOHANG);
    if (got == server_pid) {
        server_pid = -1;
        return 1;
    }
    return 0;
}

static const char *describe_status(int status, char *buf, size_t size) {
    if (WIFEXITED(status))
        snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, size, "wait status %#x", status);
    return buf;
}

/* GET /health over a plain socket: the status code of the answer's first line, or 0 when there is none yet. */
static int health_status(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int code = 0;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        const char request[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if (send(fd, request, sizeof request - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof request - 1)) {
            char head[256];
            size_t len = 0;
            double deadline = now_seconds() + 5.0;
            /* Only the status line is needed: a server that keeps the connection open is not waited for. */
            while (len < sizeof head - 1 && !memchr(head, '\n', len) && now_seconds() < deadline) {
                struct pollfd p = {fd, POLLIN, 0};
                if (poll(&p, 1, 100) <= 0) continue;
                ssize_t got = recv(fd, head + len, sizeof head - 1 - len, 0);
                if (got <= 0) break;
                len += (size_t)got;
            }
            head[len] = '\0';
            if (strncmp(head, "HTTP/1.", 7) == 0 && len >= 12) code = atoi(head + 9);
        }
    }
    close(fd);
    return code;
}

/* The full path of `program` on PATH, or NULL. Returns a static buffer. */
static const char *find_on_path(const char *program) {
    static char path[4096];
    const char *dirs = getenv("PATH");
    if (!dirs) return NULL;
    while (*dirs) {
        size_t len = strcspn(dirs, ":");
        snprintf(path, sizeof path, "%.*s%s%s", (int)len, dirs, len ? "/" : "./", program);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0) return path;
        dirs += len;
        if (*dirs == ':') dirs++;
    }
    return NULL;
}

/* Skips the test with a visible message, or fails it under CI (CI=true). */
static void missing(const char *fmt, ...) {
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    const char *ci = getenv("CI");
    if (ci != NULL && strcmp(ci, "true") == 0) cr_assert_fail("%s (CI=true: this is a failure)", message);
    cr_skip_test("SKIPPED: %s", message);
}

/* Starts `snug serve DEMO_MODEL --port 0 --api-key API_KEY` with the extra arguments, waits until it listens and
 * GET /health answers 200; returns its port. */
static int start_server(const char *const extra[]) {
    cr_assert(access(DEMO_MODEL, R_OK) == 0, "%s is missing (run the tests from the repository root)", DEMO_MODEL);
    /* The server: stdout to /dev/null, stderr to a pipe read all along (so that its log never fills the pipe). */
    int err_pipe[2];
    cr_assert(pipe2(err_pipe, O_CLOEXEC) == 0, "pipe failed: %s", strerror(errno));
    const char *serve[24] = {test_snug_bin(), "serve", DEMO_MODEL, "--port", "0", "--api-key", API_KEY};
    size_t n = 7;
    for (size_t i = 0; extra[i] && n < 23; i++) serve[n++] = extra[i];
    serve[n] = NULL;
    server_pid = spawn(serve, -1, err_pipe[1]);
    close(err_pipe[1]);
    server_err = err_pipe[0];

    /* Wait for "snug serve: listening on http://127.0.0.1:PORT". */
    int port = 0, status = 0;
    char how[64];
    double deadline = now_seconds() + READY_TIMEOUT;
    while ((port = ready_port()) == 0) {
        if (server_err < 0 || server_exited(&status)) {
            while (server_err >= 0) pump(1000); /* what it printed before it exited */
            cr_assert_fail("snug serve ended (%s) before printing '%sPORT'; its stderr:\n%s",
                           server_pid < 0 ? describe_status(status, how, sizeof how) : "closed stderr", READY_PREFIX,
                           text_tail(&server_log));
        }
        cr_assert(now_seconds() < deadline, "snug serve printed no '%sPORT' line within %.0f s; its stderr:\n%s",
                  READY_PREFIX, READY_TIMEOUT, text_tail(&server_log));
        pump(100);
    }

    /* Wait for GET /health → 200. */
    deadline = now_seconds() + HEALTH_TIMEOUT;
    int code;
    while ((code = health_status(port)) != 200) {
        cr_assert(!server_exited(&status), "snug serve ended (%s) before GET /health answered 200; its stderr:\n%s",
                  describe_status(status, how, sizeof how), text_tail(&server_log));
        cr_assert(now_seconds() < deadline, "GET /health on port %d did not answer 200 within %.0f s (last: %d)", port,
                  HEALTH_TIMEOUT, code);
        pump(100);
    }
    return port;
}

/* Runs a client (argv[0] a path), stdout and stderr together into one pipe; it must exit 0 within CLIENT_TIMEOUT. */
static void run_client(const char *const argv[]) {
    int out_pipe[2];
    char how[64];
    cr_assert(pipe2(out_pipe, O_CLOEXEC) == 0, "pipe failed: %s", strerror(errno));
    client_pid = spawn(argv, out_pipe[1], out_pipe[1]);
    close(out_pipe[1]);
    client_out = out_pipe[0];

    double deadline = now_seconds() + CLIENT_TIMEOUT;
    int client_status = 0;
    for (;;) {
        pid_t got = waitpid(client_pid, &client_status, WNOHANG);
        if (got == client_pid) {
            client_pid = -1;
            break;
        }
        if (now_seconds() >= deadline) {
            kill_child(&client_pid);
            while (client_out >= 0) pump(1000);
            cr_assert_fail("%s did not finish within %.0f s; its output:\n%s\nserver stderr:\n%s", argv[1],
                           CLIENT_TIMEOUT, text_tail(&client_log), text_tail(&server_log));
        }
        pump(100);
    }
    while (client_out >= 0) pump(1000); /* the rest of its output (the pipe closes as it exits) */
    cr_assert(WIFEXITED(client_status) && WEXITSTATUS(client_status) == 0,
              "%s failed (%s); its output:\n%s\nserver stderr:\n%s", argv[1],
              describe_status(client_status, how, sizeof how), text_tail(&client_log), text_tail(&server_log));
    cr_log_info("%s", client_log.data ? client_log.data : "");
}

/* SIGTERM: the server must exit with status 0 within STOP_TIMEOUT. */
static void stop_server(void) {
    int status = 0;
    char how[64];
    cr_assert(!server_exited(&status), "snug serve ended (%s) before it was asked to stop; its stderr:\n%s",
              describe_status(status, how, sizeof how), text_tail(&server_log));
    kill(server_pid, SIGTERM);
    double deadline = now_seconds() + STOP_TIMEOUT;
    while (!server_exited(&status)) {
        if (now_seconds() >= deadline) {
            kill_child(&server_pid);
            cr_assert_fail("snug serve did not exit within %.0f s of SIGTERM (killed); its stderr:\n%s", STOP_TIMEOUT,
                           text_tail(&server_log));
        }
        pump(50);
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "snug serve ended with %s after SIGTERM; its stderr:\n%s",
              describe_status(status, how, sizeof how), text_tail(&server_log));
}

static const char *python3(void) {
    static char path[4096];
    const char *found = find_on_path("python3");
    cr_assert_not_null(found, "python3 is not on PATH (tools/deps.sh installs it)");
    snprintf(path, sizeof path, "%s", found);
    return path;
}

Test(serve, official_openai_client_against_demo_model, .fini = cleanup, .timeout = 300) {
    const char *found = find_on_path("node");
    if (!found) missing("node is not on PATH (the openai client test needs Node.js 18 or later)");
    char node[4096];
    snprintf(node, sizeof node, "%s", found);
    if (access(CLIENT_MODULE, R_OK) != 0)
        missing("%s is missing: run `cd tests/serve && npm ci` (needs the npm registry)", CLIENT_MODULE);
    const char *extra[] = {"--parallel", "4", "--ctx", "512", NULL};
    const int port = start_server(extra);
    char base_url[64];
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d/v1", port);
    const char *client[] = {node, CLIENT_SCRIPT, base_url, API_KEY, NULL};
    run_client(client);
    stop_server();
}

Test(serve, malformed_http_and_json_get_4xx, .fini = cleanup, .timeout = 300) {
    const char *extra[] = {"--parallel", "2", "--ctx", "512", NULL};
    const int port = start_server(extra);
    char base_url[64];
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d/v1", port);
    const char *client[] = {python3(), MALFORMED, base_url, API_KEY, NULL};
    run_client(client);
    stop_server();
}

Test(serve, load_of_64_clients_never_fails_and_stays_in_the_plan, .fini = cleanup, .timeout = 300) {
    const char *extra[] = {"--parallel", "4", "--queue", "8", "--ctx", "512", NULL};
    const int port = start_server(extra);
    char base_url[64], pid[24];
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d/v1", port);
    snprintf(pid, sizeof pid, "%d", (int)server_pid);
    const char *client[] = {python3(), LOAD, base_url, API_KEY, pid, LOAD_CLIENTS, NULL};
    run_client(client);
    stop_server();
}

Test(serve, prompt_cache_reuses_a_conversation_and_replies_the_same, .fini = cleanup, .timeout = 300) {
    const char *extra[] = {"--parallel", "2", "--ctx", "512", NULL};
    const int port = start_server(extra);
    char base_url[64];
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d/v1", port);
    const char *client[] = {python3(), CACHE, base_url, API_KEY, NULL};
    run_client(client);
    stop_server();
}
