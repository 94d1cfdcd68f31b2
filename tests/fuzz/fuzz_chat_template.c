/* fuzz_chat_template.c — harness (c): chat-template detection and rendering.
 *
 * The whole input is a Jinja template for snug_chat_template_detect. Byte 0 also picks the template to render with
 * (mod SNUG_CHAT_TEMPLATE_COUNT + 1; the last value means "the detected one"); the rest, split at NUL bytes, is the
 * system message and then the conversation (user, assistant, user, …; at most MAX_MESSAGES).
 *
 * Invariants: detection is a pure function of the text (same answer twice, a known template, ChatML when nothing
 * matched); every template's name looks it up again; snug_chat_template_render returns the full length whatever the
 * capacity and writes a NUL-terminated prefix of the full rendering into any smaller buffer; the first k messages
 * render to a prefix of all of them, and a user message adds exactly the parts of its snug_chat_template_turn; the
 * parts are the caller's text (never parsing special tokens) or markers (always parsing them).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/common.h"

enum { MAX_MESSAGES = 16 };

static void check_turn(const snug_chat_turn *turn, const char *system, size_t system_bytes, const char *user,
                       size_t user_bytes) {
    if (turn->n_parts > SNUG_CHAT_TURN_MAX_PARTS) snug_fuzz_fail("a turn has %zu parts", turn->n_parts);
    for (size_t p = 0; p < turn->n_parts; p++) {
        const snug_text_part *part = &turn->parts[p];
        bool in_system = system && part->text >= system && part->text + part->bytes <= system + system_bytes;
        bool in_user = user && part->text >= user && part->text + part->bytes <= user + user_bytes;
        if ((in_system || in_user) && part->parse_special)
            snug_fuzz_fail("part %zu of a turn is the caller's text but parses special tokens", p);
        if (!in_system && !in_user && !part->parse_special)
            snug_fuzz_fail("part %zu of a turn is neither the caller's text nor a marker", p);
        (void)snug_fuzz_touch(part->text, part->bytes);
    }
}

void snug_fuzz_chat_template(const uint8_t *data, size_t size) {
    snug_chat_template detected, again;
    bool found = snug_chat_template_detect((const char *)data, size, &detected);
    bool found_again = snug_chat_template_detect((const char *)data, size, &again);
    if (found != found_again || detected != again) snug_fuzz_fail("detection gave two answers for one text");
    if ((unsigned)detected >= SNUG_CHAT_TEMPLATE_COUNT) snug_fuzz_fail("detected template %d", (int)detected);
    if (!found && detected != SNUG_CHAT_CHATML) snug_fuzz_fail("nothing detected, yet template %d", (int)detected);
    if (size == 0) return;

    unsigned pick = data[0] % (SNUG_CHAT_TEMPLATE_COUNT + 1);
    snug_chat_template tmpl = pick == SNUG_CHAT_TEMPLATE_COUNT ? detected : (snug_chat_template)pick;
    const char *name = snug_chat_template_name(tmpl);
    snug_chat_template looked_up;
    snug_error err = snug_fuzz_error();
    if (name == NULL || snug_chat_template_lookup(name, &looked_up, &err) != SNUG_OK || looked_up != tmpl)
        snug_fuzz_fail("template %d does not look up by its name", (int)tmpl);
    const char *eot = snug_chat_template_end_of_turn(tmpl);
    if (eot) (void)snug_fuzz_touch(eot, strlen(eot));

    /* A NUL-terminated copy of the rest, cut into strings at its NULs: system, then the messages. */
    char *rest = malloc(size);
    memcpy(rest, data + 1, size - 1);
    rest[size - 1] = '\0';
    const char *strings[MAX_MESSAGES + 1];
    size_t n_strings = 0;
    for (size_t at = 0; at < size && n_strings < MAX_MESSAGES + 1; at += strlen(rest + at) + 1)
        strings[n_strings++] = rest + at;
    const char *system = strings[0];
    const char *const *messages = strings + 1;
    size_t n_messages = n_strings - 1;

    size_t len = snug_chat_template_render(tmpl, system, messages, n_messages, NULL, 0);
    char *full = malloc(len + 1);
    if (snug_chat_template_render(tmpl, system, messages, n_messages, full, len + 1) != len || strlen(full) > len)
        snug_fuzz_fail("rendering into %zu bytes gave another length", len + 1);
    /* Messages hold no NUL, nor do the markers: the rendering is exactly len characters. */
    if (strlen(full) != len) snug_fuzz_fail("a rendering of %zu bytes holds a NUL at %zu", len, strlen(full));
    size_t small_cap = (size_t)(data[0] >> 3) % (len + 1);
    char *small = malloc(small_cap + 1);
    if (snug_chat_template_render(tmpl, system, messages, n_messages, small, small_cap) != len)
        snug_fuzz_fail("rendering into %zu bytes gave another length", small_cap);
    if (small_cap > 0 && (strlen(small) != small_cap - 1 || memcmp(small, full, small_cap - 1) != 0))
        snug_fuzz_fail("rendering into %zu bytes is not the %zu-byte prefix of the whole", small_cap, small_cap - 1);

    /* Conversations grow by appending: the first k messages render to a prefix of the whole; a user message adds
     * exactly its turn's parts (snug_chat_template_turn), and the first turn is the whole of a one-message rendering.
     */
    for (size_t k = 1; k <= n_messages; k++) {
        size_t k_len = snug_chat_template_render(tmpl, system, messages, k, NULL, 0);
        char *k_text = malloc(k_len + 1);
        snug_chat_template_render(tmpl, system, messages, k, k_text, k_len + 1);
        if (k_len > len || memcmp(k_text, full, k_len) != 0)
            snug_fuzz_fail("the first %zu of %zu messages do not render to a prefix of the whole", k, n_messages);
        if (k % 2 == 1) {
            snug_chat_turn turn;
            const char *user = messages[k - 1];
            snug_chat_template_turn(tmpl, k / 2, system, strlen(system), user, strlen(user), &turn);
            check_turn(&turn, system, strlen(system), user, strlen(user));
            size_t turn_len = 0;
            for (size_t p = 0; p < turn.n_parts; p++) turn_len += turn.parts[p].bytes;
            if (turn_len > k_len || (k == 1 && turn_len != k_len))
                snug_fuzz_fail("turn %zu is %zu bytes, the rendering up to it %zu", k / 2, turn_len, k_len);
            size_t at = k_len - turn_len;
            for (size_t p = 0; p < turn.n_parts; p++) {
                if (memcmp(k_text + at, turn.parts[p].text, turn.parts[p].bytes) != 0)
                    snug_fuzz_fail("part %zu of turn %zu is not where the rendering has it", p, k / 2);
                at += turn.parts[p].bytes;
            }
        }
        free(k_text);
    }
    free(small);
    free(full);
    free(rest);
}

#ifdef SNUG_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    snug_fuzz_chat_template(data, size);
    return 0;
}
#endif
