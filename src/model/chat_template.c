/* chat_template.c — chat formats: recognising a model's Jinja chat template by its markers, and laying out a
 * conversation turn by turn in one of the known formats.
 *
 * snug has no Jinja interpreter. tokenizer.chat_template is searched for marker strings that identify a family
 * (detect_rules below, most specific first); each family is a table of fixed strings written from its published
 * format (the model cards and the templates themselves; docs/chat.md shows each one rendered). Formatting is a pure
 * function of (family, system, messages): no allocation, no state.
 *
 * Turns are built for a conversation kept in the KV cache: a turn is what gets appended after the previous reply,
 * so it starts by closing that reply (the model's stop token is sampled but never decoded, and a reply cut short by
 * a token limit has no end either). The whole-conversation rendering is the concatenation of those turns and the
 * replies, so the incremental path and the rendering can never disagree.
 *
 * Choices where families vary (docs/chat.md): the conversation's first BOS is left to the tokenizer
 * (tokenizer.ggml.add_bos_token), as llama.cpp does; message text is inserted as given (no trimming); templates
 * without a system role fold the system message into the first user message the way that family's own templates do.
 *
 * Callers: the CLI (src/cli/chat.c) through the public API in snug.h; tests/test_chat.c.
 */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "model/model.h"

/* UTF-8 of the characters DeepSeek's special tokens are spelled with. */
#define FULLWIDTH_BAR "\xEF\xBD\x9C" /* U+FF5C FULLWIDTH VERTICAL LINE */
#define LOWER_BLOCK   "\xE2\x96\x81" /* U+2581 LOWER ONE EIGHTH BLOCK */
#define DEEPSEEK_EOS  "<" FULLWIDTH_BAR "end" LOWER_BLOCK "of" LOWER_BLOCK "sentence" FULLWIDTH_BAR ">"
#define DEEPSEEK_USER "<" FULLWIDTH_BAR "User" FULLWIDTH_BAR ">"
#define DEEPSEEK_ASST "<" FULLWIDTH_BAR "Assistant" FULLWIDTH_BAR ">"

#define KEY_CHAT_TEMPLATE "tokenizer.chat_template"
#define KEY_EOT           "tokenizer.ggml.eot_token_id"

/* One family's strings. A turn is laid out as:
 *   turn 0, system in its own role:  system_open S system_close  first_user_open U user_close
 *   turn 0, system folded:           fold_open S fold_close U user_close
 *   turn 0, no system:               first_user_open U user_close
 *   turn k > 0:                      reply_close  user_open U user_close
 * and in a whole rendering each reply R follows its turn as reply_lead R. user_close ends the user's turn and opens
 * the assistant's (the generation prompt). fold_open == NULL: the family has a system role. */
typedef struct chat_format {
    const char *name;
    const char *system_open, *system_close;
    const char *fold_open, *fold_close;
    const char *first_user_open, *user_open, *user_close;
    const char *reply_lead, *reply_close;
    const char *end_of_turn; /* the end-of-turn token's text; NULL: the model's EOS ends a turn */
} chat_format;

static const chat_format formats[SNUG_CHAT_TEMPLATE_COUNT] = {
    [SNUG_CHAT_CHATML] =
        {
            .name = "chatml",
            .system_open = "<|im_start|>system\n",
            .system_close = "<|im_end|>\n",
            .first_user_open = "<|im_start|>user\n",
            .user_open = "<|im_start|>user\n",
            .user_close = "<|im_end|>\n<|im_start|>assistant\n",
            .reply_lead = "",
            .reply_close = "<|im_end|>\n",
            .end_of_turn = "<|im_end|>",
        },
    /* Meta's reference: every exchange is "<s>[INST] U [/INST] R </s>", the system wrapped in <<SYS>> inside the
     * first [INST]. */
    [SNUG_CHAT_LLAMA2] =
        {
            .name = "llama2",
            .fold_open = "[INST] <<SYS>>\n",
            .fold_close = "\n<</SYS>>\n\n",
            .first_user_open = "[INST] ",
            .user_open = "<s>[INST] ",
            .user_close = " [/INST]",
            .reply_lead = " ",
            .reply_close = " </s>",
        },
    [SNUG_CHAT_LLAMA3] =
        {
            .name = "llama3",
            .system_open = "<|start_header_id|>system<|end_header_id|>\n\n",
            .system_close = "<|eot_id|>",
            .first_user_open = "<|start_header_id|>user<|end_header_id|>\n\n",
            .user_open = "<|start_header_id|>user<|end_header_id|>\n\n",
            .user_close = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            .reply_lead = "",
            .reply_close = "<|eot_id|>",
            .end_of_turn = "<|eot_id|>",
        },
    /* Mistral-7B-Instruct: "[INST] U [/INST]R</s>"; Mistral's own templates put a system message before the user's
     * text, separated by a blank line. */
    [SNUG_CHAT_MISTRAL] =
        {
            .name = "mistral",
            .fold_open = "[INST] ",
            .fold_close = "\n\n",
            .first_user_open = "[INST] ",
            .user_open = "[INST] ",
            .user_close = " [/INST]",
            .reply_lead = "",
            .reply_close = "</s>",
        },
    [SNUG_CHAT_PHI3] =
        {
            .name = "phi3",
            .system_open = "<|system|>\n",
            .system_close = "<|end|>\n",
            .first_user_open = "<|user|>\n",
            .user_open = "<|user|>\n",
            .user_close = "<|end|>\n<|assistant|>\n",
            .reply_lead = "",
            .reply_close = "<|end|>\n",
            .end_of_turn = "<|end|>",
        },
    [SNUG_CHAT_ZEPHYR] =
        {
            .name = "zephyr",
            .system_open = "<|system|>\n",
            .system_close = "</s>\n",
            .first_user_open = "<|user|>\n",
            .user_open = "<|user|>\n",
            .user_close = "</s>\n<|assistant|>\n",
            .reply_lead = "",
            .reply_close = "</s>\n",
        },
    /* Gemma has no system role; Gemma's own templates prefix the first user message with it and a blank line. */
    [SNUG_CHAT_GEMMA] =
        {
            .name = "gemma",
            .fold_open = "<start_of_turn>user\n",
            .fold_close = "\n\n",
            .first_user_open = "<start_of_turn>user\n",
            .user_open = "<start_of_turn>user\n",
            .user_close = "<end_of_turn>\n<start_of_turn>model\n",
            .reply_lead = "",
            .reply_close = "<end_of_turn>\n",
            .end_of_turn = "<end_of_turn>",
        },
    /* DeepSeek Coder Instruct: the system text as is, then "### Instruction:\nU\n### Response:\nR\n<|EOT|>\n". */
    [SNUG_CHAT_DEEPSEEK] =
        {
            .name = "deepseek",
            .system_open = "",
            .system_close = "",
            .first_user_open = "### Instruction:\n",
            .user_open = "### Instruction:\n",
            .user_close = "\n### Response:\n",
            .reply_lead = "",
            .reply_close = "\n<|EOT|>\n",
            .end_of_turn = "<|EOT|>",
        },
    /* DeepSeek LLM Chat and V2: "S\n\nUser: U\n\nAssistant: R<eos>". */
    [SNUG_CHAT_DEEPSEEK2] =
        {
            .name = "deepseek2",
            .system_open = "",
            .system_close = "\n\n",
            .first_user_open = "User: ",
            .user_open = "User: ",
            .user_close = "\n\nAssistant:",
            .reply_lead = " ",
            .reply_close = DEEPSEEK_EOS,
        },
    /* DeepSeek V3 and R1: "S<｜User｜>U<｜Assistant｜>R<｜end▁of▁sentence｜>". */
    [SNUG_CHAT_DEEPSEEK3] =
        {
            .name = "deepseek3",
            .system_open = "",
            .system_close = "",
            .first_user_open = DEEPSEEK_USER,
            .user_open = DEEPSEEK_USER,
            .user_close = DEEPSEEK_ASST,
            .reply_lead = "",
            .reply_close = DEEPSEEK_EOS,
        },
};

static const chat_format *format_of(snug_chat_template tmpl) {
    return (unsigned)tmpl < SNUG_CHAT_TEMPLATE_COUNT ? &formats[tmpl] : &formats[SNUG_CHAT_CHATML];
}

const char *snug_chat_template_name(snug_chat_template tmpl) {
    return (unsigned)tmpl < SNUG_CHAT_TEMPLATE_COUNT ? formats[tmpl].name : NULL;
}

snug_status snug_chat_template_lookup(const char *name, snug_chat_template *out, snug_error *err) {
    for (int t = 0; t < SNUG_CHAT_TEMPLATE_COUNT; t++) {
        if (name && strcmp(name, formats[t].name) == 0) {
            *out = (snug_chat_template)t;
            return SNUG_OK;
        }
    }
    char names[256] = "";
    size_t used = 0;
    for (int t = 0; t < SNUG_CHAT_TEMPLATE_COUNT && used < sizeof names; t++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", t ? ", " : "", formats[t].name);
    snug_fail(err, SNUG_E_ARGUMENT, "unknown chat template '%s'", name ? name : "(null)");
    snug_hint(err, "templates: %s", names);
    return SNUG_E_ARGUMENT;
}

const char *snug_chat_template_end_of_turn(snug_chat_template tmpl) { return format_of(tmpl)->end_of_turn; }

/* ---- detection -------------------------------------------------------------------------------------------------- */

/* A family is recognised when its template contains `marker` (and `also`, when set). The rules are tried in order: a
 * marker that several families share comes after the rules that tell them apart. */
typedef struct detect_rule {
    const char *marker, *also;
    snug_chat_template tmpl;
} detect_rule;

static const detect_rule detect_rules[] = {
    {"<|im_start|>", NULL, SNUG_CHAT_CHATML},
    {"<|start_header_id|>", NULL, SNUG_CHAT_LLAMA3},
    {"<|eot_id|>", NULL, SNUG_CHAT_LLAMA3},
    {"<start_of_turn>", NULL, SNUG_CHAT_GEMMA},
    {DEEPSEEK_USER, NULL, SNUG_CHAT_DEEPSEEK3},
    {DEEPSEEK_ASST, NULL, SNUG_CHAT_DEEPSEEK3},
    {"### Instruction:", NULL, SNUG_CHAT_DEEPSEEK},
    {"[INST]", "<<SYS>>", SNUG_CHAT_LLAMA2},
    {"[INST]", NULL, SNUG_CHAT_MISTRAL},
    {"<|user|>", "<|end|>", SNUG_CHAT_PHI3},
    {"<|user|>", NULL, SNUG_CHAT_ZEPHYR},
    {"User:", "Assistant:", SNUG_CHAT_DEEPSEEK2},
};

static bool contains(const char *text, size_t bytes, const char *needle) {
    return needle == NULL || memmem(text, bytes, needle, strlen(needle)) != NULL;
}

bool snug_chat_template_detect(const char *jinja, size_t bytes, snug_chat_template *out) {
    *out = SNUG_CHAT_CHATML;
    if (jinja == NULL) return false;
    for (size_t r = 0; r < sizeof detect_rules / sizeof detect_rules[0]; r++) {
        const detect_rule *rule = &detect_rules[r];
        if (contains(jinja, bytes, rule->marker) && contains(jinja, bytes, rule->also)) {
            *out = rule->tmpl;
            return true;
        }
    }
    return false;
}

snug_chat_template_source snug_chat_template_of_gguf(const snug_gguf *gguf, snug_chat_template *out) {
    *out = SNUG_CHAT_CHATML;
    int64_t key = snug_gguf_find_key(gguf, KEY_CHAT_TEMPLATE);
    const char *text;
    uint64_t bytes;
    if (key < 0 || !snug_gguf_kv_get_string(gguf, (uint64_t)key, &text, &bytes)) return SNUG_CHAT_NO_METADATA;
    return snug_chat_template_detect(text, (size_t)bytes, out) ? SNUG_CHAT_FROM_METADATA : SNUG_CHAT_UNRECOGNISED;
}

/* ---- formatting ------------------------------------------------------------------------------------------------- */

static void add_part(snug_chat_turn *turn, const char *text, size_t bytes, bool parse_special) {
    if (text == NULL || bytes == 0 || turn->n_parts == SNUG_CHAT_TURN_MAX_PARTS) return;
    turn->parts[turn->n_parts++] = (snug_text_part){text, bytes, parse_special};
}

static void add_marker(snug_chat_turn *turn, const char *text) {
    if (text) add_part(turn, text, strlen(text), true);
}

void snug_chat_template_turn(snug_chat_template tmpl, size_t turn_index, const char *system, size_t system_bytes,
                             const char *user, size_t user_bytes, snug_chat_turn *out) {
    const chat_format *f = format_of(tmpl);
    out->n_parts = 0;
    const bool with_system = turn_index == 0 && system != NULL && system_bytes > 0;
    if (turn_index > 0) {
        add_marker(out, f->reply_close);
        add_marker(out, f->user_open);
    } else if (with_system && f->fold_open != NULL) {
        add_marker(out, f->fold_open);
        add_part(out, system, system_bytes, false);
        add_marker(out, f->fold_close);
    } else {
        if (with_system) {
            add_marker(out, f->system_open);
            add_part(out, system, system_bytes, false);
            add_marker(out, f->system_close);
        }
        add_marker(out, f->first_user_open);
    }
    add_part(out, user, user_bytes, false);
    add_marker(out, f->user_close);
}

/* Appends bytes to out[0 .. cap - 1) as far as they fit; counts them all. */
static void append(char *out, size_t cap, size_t *len, const char *text, size_t bytes) {
    if (*len < cap) {
        size_t room = cap - 1 - *len, n = bytes < room ? bytes : room;
        if (n > 0) memcpy(out + *len, text, n);
    }
    *len += bytes;
}

size_t snug_chat_template_render(snug_chat_template tmpl, const char *system, const char *const *messages,
                                 size_t n_messages, char *out, size_t cap) {
    const chat_format *f = format_of(tmpl);
    size_t len = 0;
    for (size_t i = 0; i < n_messages; i++) {
        const char *text = messages[i] ? messages[i] : "";
        if (i % 2 == 0) {
            snug_chat_turn turn;
            snug_chat_template_turn(tmpl, i / 2, system, system ? strlen(system) : 0, text, strlen(text), &turn);
            for (size_t p = 0; p < turn.n_parts; p++) append(out, cap, &len, turn.parts[p].text, turn.parts[p].bytes);
        } else {
            append(out, cap, &len, f->reply_lead, strlen(f->reply_lead));
            append(out, cap, &len, text, strlen(text));
        }
    }
    if (n_messages > 0 && n_messages % 2 == 0) append(out, cap, &len, f->reply_close, strlen(f->reply_close));
    if (cap > 0) out[len < cap ? len : cap - 1] = '\0';
    return len;
}

/* ---- stop tokens ------------------------------------------------------------------------------------------------ */

static void add_stop(snug_token *out, size_t cap, size_t *n, snug_token id) {
    if (id < 0) return;
    for (size_t i = 0; i < *n; i++)
        if (out[i] == id) return;
    if (*n < cap) out[(*n)++] = id;
}

size_t snug_chat_stop_tokens(const snug_model *model, snug_chat_template tmpl, snug_token *out, size_t cap) {
    const snug_tokenizer *tok = &model->tokenizer;
    size_t n = 0;
    add_stop(out, cap, &n, tok->eos);
    /* A BOS inside a reply can only start a new document (TinyStories-style models end a story with it). */
    add_stop(out, cap, &n, tok->bos);
    int64_t key = snug_gguf_find_key(model->gguf, KEY_EOT), eot;
    if (key >= 0 && snug_gguf_kv_get_i64(model->gguf, (uint64_t)key, &eot) && eot >= 0 && eot < tok->n_vocab)
        add_stop(out, cap, &n, (snug_token)eot);
    const char *end = format_of(tmpl)->end_of_turn;
    if (end) add_stop(out, cap, &n, snug_tokenizer_find(tok, end, strlen(end)));
    return n;
}
