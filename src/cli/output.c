/* output.c — checked writes to stdout and stderr (see cli.h).
 *
 * stdio remembers a failed write in the stream's error flag, whichever printf caused it, so the commands write with
 * plain stdio and the checks read the flag: at once where more work would be wasted (each generated token), and for
 * every command when it ends (cli_finish, called by main). The errno of the failure is kept from the first flush
 * that reports it; a write that failed inside an earlier printf is reported as "an earlier write failed" if no later
 * flush repeats the error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int stdout_errno;   /* the first failure's errno; 0 until one is seen (or when it was not known) */
static bool stdout_broken; /* a write to stdout has failed */
static bool stdout_told;   /* the failure was reported on stderr */

void cli_output_init(void) {
    /* A reader that goes away (`snug run … | head`) makes writes fail with EPIPE, reported like any other failure,
     * instead of killing snug with SIGPIPE before it can say so. */
    signal(SIGPIPE, SIG_IGN);
}

bool cli_stdout_ok(void) {
    if (stdout_broken) return false;
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        stdout_broken = true;
        stdout_errno = errno;
        return false;
    }
    return true;
}

int cli_stdout_failed(void) {
    if (!stdout_told) {
        stdout_told = true;
        fprintf(stderr, "snug: error: writing to stdout failed: %s; the output is incomplete\n",
                stdout_errno ? strerror(stdout_errno) : "an earlier write failed");
    }
    return SNUG_EXIT_FAILURE;
}

int cli_finish(int code) {
    bool out_ok = cli_stdout_ok();
    errno = 0;
    if (fclose(stdout) != 0 && out_ok) {
        out_ok = false;
        stdout_broken = true;
        stdout_errno = errno;
    }
    if (!out_ok) {
        cli_stdout_failed();
        if (code == SNUG_EXIT_OK) code = SNUG_EXIT_FAILURE;
    }
    /* stderr is unbuffered: any failed message has set its flag. Nothing can be said about it, but the exit code. */
    if ((fflush(stderr) != 0 || ferror(stderr)) && code == SNUG_EXIT_OK) code = SNUG_EXIT_FAILURE;
    return code;
}
