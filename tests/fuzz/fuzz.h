/* fuzz.h — the four fuzz harnesses (docs/fuzzing.md), shared by the libFuzzer binaries and by `make check`.
 *
 * Each harness is one function from bytes to nothing: it drives a part of the public API with the input, checks the
 * invariants that must hold for any input, and abort()s with a message on stderr when one does not (sanitizers
 * report memory errors themselves). Built with -DSNUG_LIBFUZZER each file also defines LLVMFuzzerTestOneInput
 * (build-fuzz/fuzz/fuzz_NAME, `make fuzz`); built without it, tests/test_fuzz_replay.c replays the checked-in seed
 * corpora and every input a fuzzer ever found (tests/fuzz/regress/NAME/) through the very same function.
 *
 * This is test code: it prints to stderr and aborts, which library code never does.
 */
#ifndef SNUG_TESTS_FUZZ_H
#define SNUG_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* (a) The input is a GGUF file: opened with and without SNUG_GGUF_ALLOW_MISSING_DATA and walked through every
 * accessor, planned, loaded as a model (then a small context decodes a few tokens) and as a vocabulary (then some
 * texts are tokenized with it). */
void snug_fuzz_gguf(const uint8_t *data, size_t size);

/* (b) Byte 0 picks a shared vocabulary (mod 3: gpt-2, llama-spm, phi-3) and options (bit 2: add BOS; bit 3: also
 * tokenize as parts split at 0x01 bytes); the rest is text, encoded with and without special-token parsing and
 * decoded back. The vocabularies are loaded once per process, from $SNUG_SHARED/models (default ../shared). */
void snug_fuzz_tokenizer(const uint8_t *data, size_t size);

/* (c) The whole input is a Jinja chat template to detect; byte 0 also picks the template to render (mod
 * SNUG_CHAT_TEMPLATE_COUNT + 1, the last meaning "the detected one") and the rest, split at NUL bytes, is the system
 * message and then the conversation. */
void snug_fuzz_chat_template(const uint8_t *data, size_t size);

/* (d) Byte 0 picks the endpoint (bit 0: 0 chat, 1 completion); the rest is an HTTP request body for the server's
 * parser, serve_parse_request (src/server/request.c), over a server set up once per process on the demo model
 * (models/snug-demo-stories.gguf, from the repository root; a 256-token context of one sequence). */
void snug_fuzz_request(const uint8_t *data, size_t size);

/* Where a harness gives up on an invariant: prints "fuzz: <what>" and aborts. */
void snug_fuzz_fail(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
