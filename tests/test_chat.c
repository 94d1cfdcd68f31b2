/* test_chat.c — chat templates (formatting, detection, special tokens) and `snug chat` end to end.
 *
 * The expected conversations below were written by hand from each family's published format (model cards, the
 * templates shipped in tokenizer_config.json, and llama.cpp's test-chat-template expectations for the same
 * conversation), not produced by snug: the system message S, then "Hello", the reply "Hi there", then "Who are you".
 * The conversation's first BOS is the tokenizer's job (add_bos), so no expected text starts with one.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snug.h"
#include "support/support.h"

#define SYS "You are a helpful assistant"
/* U+FF5C and U+2581, the characters of DeepSeek's special tokens. */
#define BAR "\xEF\xBD\x9C"
#define BLK "\xE2\x96\x81"

static const char *const three[] = {"Hello", "Hi there", "Who are you"};
static const char *const four[] = {"Hello", "Hi there", "Who are you", "I am an assistant"};

typedef struct format_case {
    snug_chat_template tmpl;
    const char *name;
    const char *with_system; /* system + three messages, ending with the generation prompt */
    const char *reply_lead;  /* what comes before a reply in a whole rendering */
    const char *reply_close; /* what closes a reply */
} format_case;

static const format_case cases[] = {
    {SNUG_CHAT_CHATML, "chatml",
     "<|im_start|>system\n" SYS "<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there"
     "<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n",
     "", "<|im_end|>\n"},
    {SNUG_CHAT_LLAMA2, "llama2",
     "[INST] <<SYS>>\n" SYS "\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you [/INST]", " ", " </s>"},
    {SNUG_CHAT_LLAMA3, "llama3",
     "<|start_header_id|>system<|end_header_id|>\n\n" SYS "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
     "Hello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user"
     "<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
     "", "<|eot_id|>"},
    {SNUG_CHAT_MISTRAL, "mistral", "[INST] " SYS "\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]", "", "</s>"},
    {SNUG_CHAT_PHI3, "phi3",
     "<|system|>\n" SYS "<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you"
     "<|end|>\n<|assistant|>\n",
     "", "<|end|>\n"},
    {SNUG_CHAT_ZEPHYR, "zephyr",
     "<|system|>\n" SYS "</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n<|user|>\nWho are you</s>\n"
     "<|assistant|>\n",
     "", "</s>\n"},
    {SNUG_CHAT_GEMMA, "gemma",
     "<start_of_turn>user\n" SYS "\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n"
     "<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n",
     "", "<end_of_turn>\n"},
    {SNUG_CHAT_DEEPSEEK, "deepseek",
     SYS "### Instruction:\nHello\n### Response:\nHi there\n<|EOT|>\n### Instruction:\nWho are you\n### Response:\n",
     "", "\n<|EOT|>\n"},
    {SNUG_CHAT_DEEPSEEK2, "deepseek2",
     SYS "\n\nUser: Hello\n\nAssistant: Hi there<" BAR "end" BLK "of" BLK "sentence" BAR ">User: Who are you\n\n"
         "Assistant:",
     " ", "<" BAR "end" BLK "of" BLK "sentence" BAR ">"},
    {SNUG_CHAT_DEEPSEEK3, "deepseek3",
     SYS "<" BAR "User" BAR ">Hello<" BAR "Assistant" BAR ">Hi there<" BAR "end" BLK "of" BLK "sentence" BAR "><" BAR
         "User" BAR ">Who are you<" BAR "Assistant" BAR ">",
     "", "<" BAR "end" BLK "of" BLK "sentence" BAR ">"},
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

static char *render(snug_chat_template t, const char *system, const char *const *messages, size_t n) {
    size_t need = snug_chat_template_render(t, system, messages, n, NULL, 0);
    char *out = malloc(need + 1);
    cr_assert_not_null(out);
    size_t again = snug_chat_template_render(t, system, messages, n, out, need + 1);
    cr_assert_eq(again, need);
    cr_assert_eq(strlen(out), need);
    return out;
}

/* ---- (1) formatting ------------------------------------------------------------------------------------------ */

Test(chat_format, every_family_renders_system_and_two_turns) {
    cr_assert_eq(N_CASES, SNUG_CHAT_TEMPLATE_COUNT, "a template has no expected rendering");
    for (size_t i = 0; i < N_CASES; i++) {
        char *got = render(cases[i].tmpl, SYS, three, 3);
        cr_expect_str_eq(got, cases[i].with_system, "%s:\n got: %s\nwant: %s", cases[i].name, got,
                         cases[i].with_system);
        free(got);
    }
}

Test(chat_format, a_closed_conversation_ends_with_the_reply_close) {
    for (size_t i = 0; i < N_CASES; i++) {
        char want[1024];
        snprintf(want, sizeof want, "%s%s%s%s", cases[i].with_system, cases[i].reply_lead, "I am an assistant",
                 cases[i].reply_close);
        char *got = render(cases[i].tmpl, SYS, four, 4);
        cr_expect_str_eq(got, want, "%s", cases[i].name);
        free(got);
    }
}

/* Without a system message the folded families start with their plain user turn. */
Test(chat_format, no_system_message) {
    char *l2 = render(SNUG_CHAT_LLAMA2, NULL, three, 3);
    cr_expect_str_eq(l2, "[INST] Hello [/INST] Hi there </s><s>[INST] Who are you [/INST]");
    char *gm = render(SNUG_CHAT_GEMMA, "", three, 3);
    cr_expect_str_eq(gm, "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n"
                         "<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n");
    char *cm = render(SNUG_CHAT_CHATML, NULL, three, 1);
    cr_expect_str_eq(cm, "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
    free(l2);
    free(gm);
    free(cm);
}

/* A short buffer gets a NUL-terminated prefix; the return value is still the whole length. */
Test(chat_format, truncated_rendering) {
    char small[8];
    size_t need = snug_chat_template_render(SNUG_CHAT_CHATML, NULL, three, 1, small, sizeof small);
    cr_assert_eq(need, strlen("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"));
    cr_assert_str_eq(small, "<|im_st"); /* 7 bytes and the NUL */
}

/* The turns the chat decodes one by one, with the model's replies between them, make up the whole rendering; only
 * the system and user text is marked raw (no special-token parsing). */
Test(chat_format, turns_add_up_to_the_rendering) {
    const char *user_text[] = {"Hello", "Who are you"};
    for (size_t i = 0; i < N_CASES; i++) {
        char joined[1024] = "";
        for (size_t k = 0; k < 2; k++) {
            snug_chat_turn turn;
            snug_chat_template_turn(cases[i].tmpl, k, SYS, strlen(SYS), user_text[k], strlen(user_text[k]), &turn);
            cr_assert(turn.n_parts > 0 && turn.n_parts <= SNUG_CHAT_TURN_MAX_PARTS);
            for (size_t p = 0; p < turn.n_parts; p++) {
                const snug_text_part *part = &turn.parts[p];
                bool is_content = part->text == user_text[k] || part->text == (const char *)SYS;
                cr_expect_eq(part->parse_special, !is_content, "%s turn %zu part %zu ('%.*s')", cases[i].name, k, p,
                             (int)part->bytes, part->text);
                strncat(joined, part->text, part->bytes);
            }
            if (k == 0) {
                strcat(joined, cases[i].reply_lead);
                strcat(joined, "Hi there");
            }
        }
        cr_expect_str_eq(joined, cases[i].with_system, "%s", cases[i].name);
    }
}

Test(chat_format, names_round_trip_and_unknown_names_are_refused) {
    for (int t = 0; t < SNUG_CHAT_TEMPLATE_COUNT; t++) {
        snug_chat_template back;
        snug_error err = {0};
        cr_assert_eq(snug_chat_template_lookup(snug_chat_template_name((snug_chat_template)t), &back, &err), SNUG_OK);
        cr_assert_eq((int)back, t);
    }
    cr_assert_str_eq(snug_chat_template_name(SNUG_CHAT_GEMMA), "gemma");
    snug_chat_template t;
    snug_error err = {0};
    cr_assert_eq(snug_chat_template_lookup("vicuna", &t, &err), SNUG_E_ARGUMENT);
    cr_assert_not_null(strstr(err.message, "vicuna"), "%s", err.message);
    cr_assert_not_null(strstr(err.hint, "chatml"), "%s", err.hint);
    cr_assert_not_null(strstr(err.hint, "deepseek3"), "%s", err.hint);
}

Test(chat_format, end_of_turn_markers) {
    cr_assert_str_eq(snug_chat_template_end_of_turn(SNUG_CHAT_CHATML), "<|im_end|>");
    cr_assert_str_eq(snug_chat_template_end_of_turn(SNUG_CHAT_LLAMA3), "<|eot_id|>");
    cr_assert_str_eq(snug_chat_template_end_of_turn(SNUG_CHAT_PHI3), "<|end|>");
    cr_assert_str_eq(snug_chat_template_end_of_turn(SNUG_CHAT_GEMMA), "<end_of_turn>");
    cr_assert_str_eq(snug_chat_template_end_of_turn(SNUG_CHAT_DEEPSEEK), "<|EOT|>");
    cr_assert_null(snug_chat_template_end_of_turn(SNUG_CHAT_LLAMA2)); /* EOS ends the turn */
    cr_assert_null(snug_chat_template_end_of_turn(SNUG_CHAT_ZEPHYR));
}

/* ---- (2) detection -------------------------------------------------------------------------------------------- */

typedef struct detect_case {
    const char *jinja;
    snug_chat_template want;
} detect_case;

/* Short snippets in the style of the templates these families ship (tokenizer_config.json). */
static const detect_case detect_cases[] = {
    {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
     "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
     SNUG_CHAT_CHATML},
    {"{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + messages[0]['content'] + "
     "'\\n<</SYS>>\\n\\n' %}{% endif %}{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ "
     "bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + "
     "content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
     SNUG_CHAT_LLAMA2},
    {"{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
     "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{{ content }}{% endfor "
     "%}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}",
     SNUG_CHAT_LLAMA3},
    {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
     "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + "
     "eos_token}}{% endif %}{% endfor %}",
     SNUG_CHAT_MISTRAL},
    {"{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + "
     "'<|end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}{# <|user|> #}",
     SNUG_CHAT_PHI3},
    {"{% for message in messages %}\\n{% if message['role'] == 'user' %}\\n{{ '<|user|>\\n' + message['content'] + "
     "eos_token }}\\n{% elif message['role'] == 'assistant' %}\\n{{ '<|assistant|>\\n' + message['content'] + "
     "eos_token }}\\n{% endif %}\\n{% endfor %}",
     SNUG_CHAT_ZEPHYR},
    {"{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% "
     "else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | "
     "trim + '<end_of_turn>\\n' }}{% endfor %}",
     SNUG_CHAT_GEMMA},
    {"{%- for message in messages %}{%- if message['role'] == 'user' %}{{'### Instruction:\\n' + message['content'] + "
     "'\\n'}}{%- else %}{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}{%- endif %}{%- endfor %}",
     SNUG_CHAT_DEEPSEEK},
    {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + "
     "'\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}{% endif "
     "%}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}",
     SNUG_CHAT_DEEPSEEK2},
    {"{{ bos_token }}{{ ns.system_prompt }}{%- for message in messages %}{%- if message['role'] == 'user' %}{{'<" BAR
     "User" BAR ">' + message['content']}}{%- endif %}{%- endfor -%}{% if add_generation_prompt %}{{'<" BAR
     "Assistant" BAR ">'}}{% endif %}",
     SNUG_CHAT_DEEPSEEK3},
};

Test(chat_detect, each_family_from_its_markers) {
    for (size_t i = 0; i < sizeof detect_cases / sizeof detect_cases[0]; i++) {
        snug_chat_template got;
        bool ok = snug_chat_template_detect(detect_cases[i].jinja, strlen(detect_cases[i].jinja), &got);
        cr_expect(ok, "case %zu not recognised", i);
        cr_expect_eq(got, detect_cases[i].want, "case %zu: got %s, want %s", i, snug_chat_template_name(got),
                     snug_chat_template_name(detect_cases[i].want));
    }
}

Test(chat_detect, unknown_templates_fall_back_to_chatml) {
    const char *unknown[] = {
        "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}",
        "{%- for message in messages %}{{-'USER: ' + message['content'] + '\\n'-}}{%- endfor -%}",
        "",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        snug_chat_template got = SNUG_CHAT_GEMMA;
        cr_expect_not(snug_chat_template_detect(unknown[i], strlen(unknown[i]), &got), "case %zu", i);
        cr_expect_eq(got, SNUG_CHAT_CHATML, "case %zu", i);
    }
}

/* The real template in llama.cpp's phi-3 vocabulary file, and a file with none. */
Test(chat_detect, from_gguf_metadata) {
    const char *phi3 = test_shared_file("models/ggml-vocab-phi-3.gguf");
    snug_gguf *g = NULL;
    snug_error err = {0};
    cr_assert_eq(snug_gguf_open(phi3, 0, &g, &err), SNUG_OK, "%s", err.message);
    snug_chat_template t;
    cr_expect_eq(snug_chat_template_of_gguf(g, &t), SNUG_CHAT_FROM_METADATA);
    cr_expect_eq(t, SNUG_CHAT_PHI3, "got %s", snug_chat_template_name(t));
    snug_gguf_close(g);

    const char *stories = test_shared_file("models/stories260K.gguf");
    cr_assert_eq(snug_gguf_open(stories, 0, &g, &err), SNUG_OK, "%s", err.message);
    cr_expect_eq(snug_chat_template_of_gguf(g, &t), SNUG_CHAT_NO_METADATA);
    cr_expect_eq(t, SNUG_CHAT_CHATML);
    snug_gguf_close(g);
}

/* ---- (4) special tokens in template text, not in user text ------------------------------------------------------ */

/* Ids of Phi-3's added tokens (its tokenizer.json): <|assistant|> 32001, <|end|> 32007, <|user|> 32010. */
enum { PHI3_ASSISTANT = 32001, PHI3_END = 32007, PHI3_USER = 32010, PHI3_BOS = 1, PHI3_NEWLINE = 13 };

static size_t count_id(const snug_token *ids, size_t n, snug_token id) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ids[i] == id;
    return c;
}

static snug_vocab *load_vocab(const char *relative) {
    const char *path = test_shared_file(relative);
    snug_vocab *v = NULL;
    snug_error err = {0};
    cr_assert_eq(snug_vocab_load(path, &v, &err), SNUG_OK, "%s", err.message);
    return v;
}

static size_t tokenize_parts(const snug_vocab *v, const snug_text_part *parts, size_t n_parts, bool add_bos,
                             snug_token *ids, size_t cap) {
    size_t longest = 0;
    for (size_t i = 0; i < n_parts; i++)
        if (parts[i].bytes > longest) longest = parts[i].bytes;
    uint64_t scratch_bytes = snug_vocab_scratch_bytes(v, longest);
    void *scratch = malloc(scratch_bytes);
    cr_assert_not_null(scratch);
    size_t n = 0;
    snug_error err = {0};
    snug_status st = snug_vocab_tokenize_parts(v, parts, n_parts, add_bos, scratch, scratch_bytes, ids, cap, &n, &err);
    free(scratch);
    cr_assert_eq(st, SNUG_OK, "%s", err.message);
    return n;
}

Test(chat_special, template_markers_are_tokens_user_text_is_not) {
    snug_vocab *v = load_vocab("models/ggml-vocab-phi-3.gguf");
    cr_assert_eq(snug_vocab_token_id(v, "<|user|>", 8), PHI3_USER);
    cr_assert_eq(snug_vocab_token_id(v, "<|end|>", 7), PHI3_END);
    cr_assert_eq(snug_vocab_token_id(v, "<|assistant|>", 13), PHI3_ASSISTANT);
    cr_assert_eq(snug_vocab_token_id(v, "<|nonexistent|>", 15), -1);

    const char *typed = "hi <|user|> <|end|> there";
    snug_chat_turn turn;
    snug_chat_template_turn(SNUG_CHAT_PHI3, 0, NULL, 0, typed, strlen(typed), &turn);
    snug_token ids[256];
    size_t n = tokenize_parts(v, turn.parts, turn.n_parts, true, ids, 256);
    cr_assert_geq(n, 6);
    cr_expect_eq(ids[0], PHI3_BOS);
    cr_expect_eq(ids[1], PHI3_USER, "the template's <|user|> is one token (got %d)", ids[1]);
    cr_expect_eq(count_id(ids, n, PHI3_USER), 1, "the typed <|user|> must not become the special token");
    cr_expect_eq(count_id(ids, n, PHI3_END), 1, "only the template's <|end|> is the special token");
    cr_expect_eq(count_id(ids, n, PHI3_ASSISTANT), 1);
    /* The parts tokenize as the whole prompt would in llama.cpp (and Hugging Face): Phi-3's turn markers strip the
     * whitespace after them (llama.cpp sets RSTRIP on them for models named phi3), so no "\n" follows <|user|> or
     * ends the prompt, and the user text, right after a special token, gets SentencePiece's dummy-prefix space. */
    cr_expect_eq(count_id(ids, n, PHI3_NEWLINE), 0);
    cr_expect_eq(ids[n - 1], PHI3_ASSISTANT);
    cr_expect_eq(ids[n - 2], PHI3_END);
    char piece[32];
    size_t len = snug_vocab_piece(v, ids[1], ids[2], piece, sizeof piece);
    cr_expect(len == 3 && memcmp(piece, " hi", 3) == 0, "first user token shows as '%.*s'", (int)len, piece);

    /* The control: with special parsing the same typed text does contain both tokens, so the test above can fail. */
    snug_text_part parsed = {typed, strlen(typed), true};
    size_t m = tokenize_parts(v, &parsed, 1, false, ids, 256);
    cr_expect_eq(count_id(ids, m, PHI3_USER), 1);
    cr_expect_eq(count_id(ids, m, PHI3_END), 1);
    snug_vocab_free(v);
}

/* The same on a byte-level BPE vocabulary: GPT-2's <|endoftext|> (id 50256). */
Test(chat_special, bpe_vocabulary) {
    snug_vocab *v = load_vocab("models/ggml-vocab-gpt-2.gguf");
    enum { ENDOFTEXT = 50256 };
    cr_assert_eq(snug_vocab_token_id(v, "<|endoftext|>", 13), ENDOFTEXT);
    const char *text = "a<|endoftext|>b";
    snug_text_part parts[] = {{"<|endoftext|>", 13, true}, {text, strlen(text), false}, {"<|endoftext|>", 13, true}};
    snug_token ids[64];
    size_t n = tokenize_parts(v, parts, 3, false, ids, 64);
    cr_assert_geq(n, 4);
    cr_expect_eq(ids[0], ENDOFTEXT);
    cr_expect_eq(ids[n - 1], ENDOFTEXT);
    cr_expect_eq(count_id(ids, n, ENDOFTEXT), 2, "the marker inside the raw text stayed text");
    snug_vocab_free(v);
}

/* More tokens than the buffer holds: refused, not cut silently. */
Test(chat_special, too_many_tokens_is_context_full) {
    snug_vocab *v = load_vocab("models/ggml-vocab-gpt-2.gguf");
    snug_text_part parts[] = {{"one two three four five", 23, false}, {"six seven", 9, false}};
    uint64_t scratch_bytes = snug_vocab_scratch_bytes(v, 23);
    void *scratch = malloc(scratch_bytes);
    snug_token ids[6];
    size_t n = 0;
    snug_error err = {0};
    snug_status st = snug_vocab_tokenize_parts(v, parts, 2, false, scratch, scratch_bytes, ids, 6, &n, &err);
    cr_expect_eq(st, SNUG_E_CONTEXT_FULL, "%s", err.message);
    cr_expect_not_null(strstr(err.message, "more than 6 tokens"), "%s", err.message);
    free(scratch);
    snug_vocab_free(v);
}

/* ---- (3) `snug chat` through the CLI ------------------------------------------------------------------------ */

static test_run_result chat_with_input(const char *input, const char *const *extra) {
    const char *model = test_shared_file("models/stories260K.gguf");
    const char *path = test_tmp_path("chat-input.txt");
    cr_assert_eq(test_write_file(path, input, strlen(input)), 0);
    const char *argv[32] = {test_snug_bin(), "chat", model, "--temp", "0", "-n", "12"};
    size_t argc = 7;
    for (size_t i = 0; extra && extra[i]; i++) argv[argc++] = extra[i];
    argv[argc] = NULL;
    char stdin_path[4096];
    snprintf(stdin_path, sizeof stdin_path, "%s", path);
    return test_run_stdin(argv, stdin_path);
}

static bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }
static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

Test(chat_cli, replies_on_stdout_chatml_fallback_on_stderr) {
    test_run_result r = chat_with_input("Hello\n", NULL);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    cr_expect_gt(r.out_len, 1, "no reply");
    cr_expect(ends_with(r.out, "\n"), "the reply ends with a newline");
    cr_expect_not_null(strstr(r.err, "falling back to ChatML"), "%s", r.err);
    cr_expect_null(strstr(r.out, "snug"), "diagnostics on stdout: %s", r.out);
    cr_expect_null(strstr(r.out, "> "), "a prompt on stdout: %s", r.out);
    test_run_free(&r);
}

/* Greedy: after /reset the same line gives the same reply as the first turn; /plan prints the plan on stderr. */
Test(chat_cli, reset_repeats_the_first_reply_and_plan_goes_to_stderr) {
    test_run_result one = chat_with_input("Hello\n", NULL);
    cr_assert_eq(one.exit_code, 0, "%s", one.err);
    test_run_result r = chat_with_input("Hello\nHello\n/reset\nHello\n/plan\n", NULL);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    cr_expect(starts_with(r.out, one.out), "first reply differs:\n%s\nvs\n%s", r.out, one.out);
    cr_expect(ends_with(r.out, one.out), "the reply after /reset differs from the first:\n%s\nvs\n%s", r.out, one.out);
    cr_expect_gt(r.out_len, 2 * one.out_len, "the second turn has no reply: %s", r.out);
    cr_expect_not_null(strstr(r.err, "conversation cleared"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "kv_cache"), "/plan printed no plan table: %s", r.err);
    cr_expect_not_null(strstr(r.err, "verdict"), "%s", r.err);
    cr_expect_null(strstr(r.out, "kv_cache"), "the plan leaked into stdout");
    test_run_free(&one);
    test_run_free(&r);
}

/* The second turn does not fit in 64 positions: refused with the numbers, nothing truncated, nothing on stdout. */
Test(chat_cli, a_turn_that_does_not_fit_is_refused_with_numbers) {
    const char *ctx[] = {"--ctx", "64", NULL};
    test_run_result one = chat_with_input("Hello\n", ctx);
    cr_assert_eq(one.exit_code, 0, "%s", one.err);
    test_run_result r = chat_with_input("Hello\nHello again\n", ctx);
    cr_expect_eq(r.exit_code, 2, "a refused turn with piped stdin exits 2 (got %d): %s", r.exit_code, r.err);
    cr_expect_str_eq(r.out, one.out, "only the first reply belongs on stdout");
    const char *at = strstr(r.err, "this turn needs ");
    cr_assert_not_null(at, "%s", r.err);
    unsigned long needed = 0, used = 0, n_ctx = 0;
    cr_assert_eq(sscanf(at, "this turn needs %lu tokens, but %lu of the context's %lu positions are used", &needed,
                        &used, &n_ctx),
                 3, "%s", at);
    cr_expect_eq(n_ctx, 64);
    cr_expect(used > 12 && used < 64, "used %lu: the first turn and its 12-token reply", used);
    cr_expect_geq(used + needed, 64, "refused although %lu + %lu fit in 64", used, needed);
    cr_expect_not_null(strstr(r.err, "/reset"), "%s", r.err);
    test_run_free(&one);
    test_run_free(&r);
}

Test(chat_cli, template_option_and_commands) {
    const char *llama3[] = {"--template", "llama3", NULL};
    test_run_result r = chat_with_input("/bogus\n\n/exit\nHello\n", llama3);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_not_null(strstr(r.err, "chat template llama3 (--template)"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "unknown command '/bogus'"), "%s", r.err);
    cr_expect_str_eq(r.out, "", "nothing after /exit is answered, and commands print nothing on stdout");
    test_run_free(&r);

    const char *bad[] = {"--template", "vicuna", NULL};
    r = chat_with_input("Hello\n", bad);
    cr_expect_eq(r.exit_code, 2);
    cr_expect_not_null(strstr(r.err, "unknown chat template 'vicuna'"), "%s", r.err);
    cr_expect_str_eq(r.out, "");
    test_run_free(&r);
}

/* A system message is part of the first turn: it changes the first greedy reply's context. */
Test(chat_cli, system_message_is_used) {
    const char *sys[] = {"--system", "Tell a story about a dog.", NULL};
    test_run_result plain = chat_with_input("Hello\n", NULL);
    test_run_result with = chat_with_input("Hello\n", sys);
    cr_assert_eq(with.exit_code, 0, "%s", with.err);
    cr_expect_str_neq(plain.out, with.out, "the system message made no difference");
    test_run_free(&plain);
    test_run_free(&with);
}

Test(chat_cli, help_lists_chat) {
    const char *argv[] = {test_snug_bin(), "--help", NULL};
    test_run_result r = test_run(argv);
    cr_expect_not_null(strstr(r.out, "chat MODEL"), "%s", r.out);
    test_run_free(&r);
    const char *chat_help[] = {test_snug_bin(), "chat", "--help", NULL};
    r = test_run(chat_help);
    cr_expect_eq(r.exit_code, 0);
    cr_expect_not_null(strstr(r.out, "/reset"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "--template"), "%s", r.out);
    test_run_free(&r);
}
