/* sampler.c — choosing the next token from one step's logits (see sampler.h for the interface).
 *
 * Chain, in this order (llama.cpp's default order, so a user's settings mean what they expect):
 *   1. Copy the logits into the candidate buffer, failing with SNUG_E_NUMERIC on the first NaN or infinity.
 *   2. Repetition penalty (CTRL paper, as llama.cpp does it): for each distinct token among the last repeat_last_n
 *      accepted ones, a positive logit is divided by repeat_penalty and a negative one multiplied by it, so the token
 *      always becomes less likely. 1 = off. Applied to the candidate copy; the caller's logits are never touched.
 *   3. temperature <= 0: greedy — the highest logit, ties going to the lowest token id. No random draw is used.
 *   4. top-k: keep the k highest logits (ties: lower token id first). k <= 0 or k >= n_vocab: off. k = 1 is greedy.
 *   5. min-p: keep tokens whose probability is at least min_p times the largest one, judged on the penalized logits
 *      before temperature (logit >= max_logit + log(min_p)). 0 = off; the best token always survives.
 *   6. softmax(logit / temperature) over the survivors; candidates now hold probabilities.
 *   7. top-p (nucleus): keep the smallest set of most probable tokens whose cumulative probability reaches top_p.
 *      1 = off (skipped entirely, so the draws are exactly those of the unfiltered distribution). The most probable
 *      token always survives.
 *   8. Draw u uniform in [0, 1) and walk the cumulative distribution of the survivors (scaled by their total mass, so
 *      no renormalization is needed). When nothing sorted the candidates (top-k and top-p off) the walk is in token-id
 *      order; otherwise it is best-first.
 *
 * Invariant: sampling never allocates and touches only the two bound buffers: `candidates` (n_vocab entries) and the
 * `recent` ring (recent_cap entries, of which params.repeat_last_n are used). Ordering is a strict total order
 * (logit, then token id), so the result never depends on the selection algorithm, and the same seed, parameters,
 * history and logits always give the same token.
 *
 * Random numbers: SplitMix64 (Steele, Lea & Flood, "Fast Splittable Pseudorandom Number Generators", OOPSLA 2014; the
 * constants of Vigna's reference splitmix64.c). Its state is a counter, so every seed, 0 included, is a valid start;
 * the state is exactly params.seed after snug_sampler_init. Each non-greedy sample consumes one 64-bit output.
 *
 * Callers: the engine binds a sampler to buffers carved from the context's arena (sized by snug_sampler_bytes at
 * planning time), re-initializes it whenever the user changes parameters, accepts prompt and generated tokens, and
 * samples once per decode step.
 */
#include "engine/sampler.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "base/arena.h"
#include "base/error.h"

/* Defaults of llama.cpp's common_params_sampling (common/common.h), so "no options" behaves as users expect. */
#define DEFAULT_TEMPERATURE    0.8f
#define DEFAULT_TOP_K          40
#define DEFAULT_TOP_P          0.95f
#define DEFAULT_MIN_P          0.05f
#define DEFAULT_REPEAT_PENALTY 1.0f /* off */
#define DEFAULT_REPEAT_LAST_N  64
#define DEFAULT_SEED           0u /* the CLI replaces 0 with a time-based seed; the library uses what it is given */

/* Above this the distribution is uniform to float precision for any real model's logit range: a value this large is
 * a typo (80 for 0.80), not a setting. */
#define MAX_TEMPERATURE 100.0f

/* SplitMix64 increment (2^64 / golden ratio) and output-mixing multipliers, from Vigna's splitmix64.c. */
#define SPLITMIX64_GAMMA 0x9E3779B97F4A7C15u
#define SPLITMIX64_MIX1  0xBF58476D1CE4E5B9u
#define SPLITMIX64_MIX2  0x94D049BB133111EBu

/* A double has a 53-bit significand: the top 53 bits of a 64-bit output, scaled by 2^-53, are uniform in [0, 1). */
#define UNIFORM_BITS  53
#define UNIFORM_SCALE 0x1.0p-53

/* ---- random numbers ------------------------------------------------------------------------------------------- */

static uint64_t splitmix64_next(uint64_t *state) {
    *state += SPLITMIX64_GAMMA;
    uint64_t z = *state;
    z = (z ^ (z >> 30)) * SPLITMIX64_MIX1;
    z = (z ^ (z >> 27)) * SPLITMIX64_MIX2;
    return z ^ (z >> 31);
}

static double uniform_unit(uint64_t *state) {
    return (double)(splitmix64_next(state) >> (64 - UNIFORM_BITS)) * UNIFORM_SCALE;
}

/* ---- ordering and selection ----------------------------------------------------------------------------------- */

/* The one ordering every stage uses: higher value first, ties to the lower token id. Being a strict total order, it
 * makes selection deterministic whatever algorithm does it. */
static bool ranks_above(snug_candidate a, snug_candidate b) {
    return a.logit > b.logit || (a.logit == b.logit && a.token < b.token);
}

static void swap_candidates(snug_candidate *a, snug_candidate *b) {
    snug_candidate t = *a;
    *a = *b;
    *b = t;
}

/* Binary heap over `heap[0..count)`. best_on_top: the root is the best candidate (for extracting in order);
 * otherwise the root is the worst (a bounded "keep the best k" heap). */
static bool heap_above(snug_candidate a, snug_candidate b, bool best_on_top) {
    return best_on_top ? ranks_above(a, b) : ranks_above(b, a);
}

static void heap_sift_down(snug_candidate *heap, size_t count, size_t root, bool best_on_top) {
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= count) return;
        if (child + 1 < count && heap_above(heap[child + 1], heap[child], best_on_top)) child++;
        if (!heap_above(heap[child], heap[root], best_on_top)) return;
        swap_candidates(&heap[root], &heap[child]);
        root = child;
    }
}

static void heap_build(snug_candidate *heap, size_t count, bool best_on_top) {
    for (size_t i = count / 2; i-- > 0;) heap_sift_down(heap, count, i, best_on_top);
}

/* Moves the best k of c[0..n) to c[0..k), best first, in O(n log k): only k entries are ever ordered, so a small
 * top-k never pays for sorting the whole vocabulary. Requires 0 < k <= n. */
static void select_best_sorted(snug_candidate *c, size_t n, size_t k) {
    heap_build(c, k, false);
    for (size_t i = k; i < n; i++) {
        if (ranks_above(c[i], c[0])) {
            swap_candidates(&c[i], &c[0]);
            heap_sift_down(c, k, 0, false);
        }
    }
    /* Heap sort: the worst goes to the end each time, leaving c[0..k) best first. */
    for (size_t end = k; end > 1; end--) {
        swap_candidates(&c[0], &c[end - 1]);
        heap_sift_down(c, end - 1, 0, false);
    }
}

/* ---- chain stages --------------------------------------------------------------------------------------------- */

static const char *non_finite_name(float value) {
    if (isnan(value)) return "nan";
    return value > 0 ? "inf" : "-inf";
}

/* Penalizes each distinct token of the history once. Candidates are still in token-id order (c[t].token == t), so a
 * token is found by index; a visited token's id is temporarily stored as -1 - t to mark it (no extra memory), then
 * restored. Tokens outside the vocabulary (a caller's sentinel) are ignored. */
static void apply_repeat_penalty(snug_sampler *s) {
    const float penalty = s->params.repeat_penalty;
    if (penalty == 1.0f || s->recent_count == 0) return;
    for (int32_t i = 0; i < s->recent_count; i++) {
        int32_t t = s->recent[i];
        if (t < 0 || t >= s->n_vocab || s->candidates[t].token < 0) continue;
        float logit = s->candidates[t].logit;
        float penalized = logit > 0 ? logit / penalty : logit * penalty;
        /* An extreme (but valid) penalty could overflow; clamp so later stages never meet an infinity. */
        if (penalized > FLT_MAX) penalized = FLT_MAX;
        if (penalized < -FLT_MAX) penalized = -FLT_MAX;
        s->candidates[t].logit = penalized;
        s->candidates[t].token = -1 - t;
    }
    for (int32_t i = 0; i < s->recent_count; i++) {
        int32_t t = s->recent[i];
        if (t >= 0 && t < s->n_vocab) s->candidates[t].token = t;
    }
}

static int32_t argmax_token(const snug_candidate *c, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++) {
        if (ranks_above(c[i], c[best])) best = i;
    }
    return c[best].token;
}

/* Keeps candidates with logit >= max_logit + log(min_p), preserving their order. Returns the new count (>= 1: the
 * best always passes since log(min_p) <= 0). */
static size_t keep_min_p(snug_candidate *c, size_t n, bool sorted, float min_p) {
    float max_logit = c[0].logit;
    if (!sorted) {
        for (size_t i = 1; i < n; i++) {
            if (c[i].logit > max_logit) max_logit = c[i].logit;
        }
    }
    const double threshold = (double)max_logit + log((double)min_p);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if ((double)c[i].logit >= threshold) {
            c[kept++] = c[i];
        } else if (sorted) {
            break; /* everything after is lower still */
        }
    }
    return kept;
}

/* Turns logits into probabilities of softmax(logit / temperature), subtracting the maximum first so exp never
 * overflows. Done in double: a tiny temperature makes (logit - max) / T huge, which must underflow to 0, not NaN. */
static void softmax_with_temperature(snug_candidate *c, size_t n, bool sorted, float temperature) {
    float max_logit = c[0].logit;
    if (!sorted) {
        for (size_t i = 1; i < n; i++) {
            if (c[i].logit > max_logit) max_logit = c[i].logit;
        }
    }
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double weight = exp(((double)c[i].logit - (double)max_logit) / (double)temperature);
        c[i].logit = (float)weight;
        sum += weight; /* >= 1: the maximum contributes exp(0) */
    }
    for (size_t i = 0; i < n; i++) c[i].logit = (float)((double)c[i].logit / sum);
}

/* Keeps the smallest best-first prefix whose cumulative probability reaches top_p, and leaves it at c[0..kept),
 * best first. Unsorted input is turned into a max-heap and popped only until the mass is reached: O(n + kept log n)
 * rather than a full sort. Returns kept (>= 1). */
static size_t keep_top_p(snug_candidate *c, size_t n, bool sorted, float top_p) {
    double cumulative = 0.0;
    if (sorted) {
        size_t kept = 0;
        while (kept < n) {
            cumulative += (double)c[kept++].logit;
            if (cumulative >= (double)top_p) break;
        }
        return kept;
    }
    heap_build(c, n, true);
    size_t end = n; /* popped entries collect at c[end..n), the best at c[n - 1] */
    while (end > 0) {
        swap_candidates(&c[0], &c[end - 1]);
        end--;
        heap_sift_down(c, end, 0, true);
        cumulative += (double)c[end].logit;
        if (cumulative >= (double)top_p) break;
    }
    size_t kept = n - end;
    for (size_t lo = end, hi = n - 1; lo < hi; lo++, hi--) swap_candidates(&c[lo], &c[hi]);
    memmove(c, c + end, kept * sizeof *c);
    return kept;
}

/* Walks the cumulative distribution of c[0..n) (probabilities, possibly not summing to 1 after filtering). */
static int32_t draw_token(const snug_candidate *c, size_t n, uint64_t *rng_state) {
    double mass = 0.0;
    for (size_t i = 0; i < n; i++) mass += (double)c[i].logit;
    const double target = uniform_unit(rng_state) * mass;
    double cumulative = 0.0;
    size_t last_possible = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].logit <= 0.0f) continue;
        cumulative += (double)c[i].logit;
        last_possible = i;
        if (cumulative > target) return c[i].token;
    }
    /* Reached only when u * mass rounds up to mass: the last token with non-zero probability. */
    return c[last_possible].token;
}

/* ---- public ----------------------------------------------------------------------------------------------------- */

snug_sampler_params snug_sampler_default_params(void) {
    snug_sampler_params params = {
        .temperature = DEFAULT_TEMPERATURE,
        .top_k = DEFAULT_TOP_K,
        .top_p = DEFAULT_TOP_P,
        .min_p = DEFAULT_MIN_P,
        .repeat_penalty = DEFAULT_REPEAT_PENALTY,
        .repeat_last_n = DEFAULT_REPEAT_LAST_N,
        .seed = DEFAULT_SEED,
    };
    return params;
}

uint64_t snug_sampler_bytes(int32_t n_vocab, int32_t repeat_last_n) {
    /* Negative sizes plan nothing; snug_sampler_init rejects them later with a message. */
    uint64_t vocab = n_vocab > 0 ? (uint64_t)n_vocab : 0;
    uint64_t window = repeat_last_n > 0 ? (uint64_t)repeat_last_n : 0;
    return snug_arena_reserve(vocab * sizeof(snug_candidate)) + snug_arena_reserve(window * sizeof(int32_t));
}

void snug_sampler_bind(snug_sampler *s, int32_t n_vocab, snug_candidate *candidates, int32_t *recent,
                       int32_t recent_cap) {
    /* Until snug_sampler_init: greedy, no history, so a bound sampler is already safe to call. */
    *s = (snug_sampler){
        .params = {.temperature = 0.0f, .top_p = 1.0f, .repeat_penalty = 1.0f},
        .n_vocab = n_vocab,
        .candidates = candidates,
        .recent = recent,
        .recent_cap = recent_cap,
    };
}

snug_status snug_sampler_init(snug_sampler *s, const snug_sampler_params *params, snug_error *err) {
    if (s->n_vocab < 1) {
        return snug_fail(err, SNUG_E_ARGUMENT, "the sampler's vocabulary must have at least 1 token, got %d",
                         (int)s->n_vocab);
    }
    if (s->candidates == NULL || (s->recent_cap > 0 && s->recent == NULL)) {
        return snug_fail(err, SNUG_E_INTERNAL, "sampler initialized before its buffers were bound");
    }
    const snug_sampler_params p = *params;
    if (isnan(p.temperature) || p.temperature == -INFINITY || p.temperature > MAX_TEMPERATURE) {
        snug_fail(err, SNUG_E_ARGUMENT, "temperature must be a number <= %g (0 or less means greedy), got %g",
                  (double)MAX_TEMPERATURE, (double)p.temperature);
        snug_hint(err, "typical values are 0.2 to 1.5");
        return SNUG_E_ARGUMENT;
    }
    if (p.top_k < 0) {
        return snug_fail(err, SNUG_E_ARGUMENT, "top-k must be >= 0 (0 means off), got %d", (int)p.top_k);
    }
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
        snug_fail(err, SNUG_E_ARGUMENT, "top-p must be in (0, 1], got %g", (double)p.top_p);
        snug_hint(err, "use 1 to turn top-p off");
        return SNUG_E_ARGUMENT;
    }
    if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) {
        snug_fail(err, SNUG_E_ARGUMENT, "min-p must be in [0, 1], got %g", (double)p.min_p);
        snug_hint(err, "use 0 to turn min-p off");
        return SNUG_E_ARGUMENT;
    }
    if (!(p.repeat_penalty > 0.0f && isfinite(p.repeat_penalty))) {
        snug_fail(err, SNUG_E_ARGUMENT, "repeat-penalty must be finite and > 0, got %g", (double)p.repeat_penalty);
        snug_hint(err, "use 1 to turn the repetition penalty off");
        return SNUG_E_ARGUMENT;
    }
    if (p.repeat_last_n < 0) {
        return snug_fail(err, SNUG_E_ARGUMENT, "repeat-last-n must be >= 0, got %d", (int)p.repeat_last_n);
    }
    if (p.repeat_last_n > s->recent_cap) {
        snug_fail(err, SNUG_E_ARGUMENT, "repeat-last-n of %d exceeds the planned history of %d tokens",
                  (int)p.repeat_last_n, (int)s->recent_cap);
        snug_hint(err, "lower repeat-last-n to at most %d, or plan the context with a longer history",
                  (int)s->recent_cap);
        return SNUG_E_ARGUMENT;
    }
    s->params = p;
    s->recent_count = 0;
    s->recent_head = 0;
    s->rng_state = p.seed;
    return SNUG_OK;
}

snug_status snug_sampler_sample(snug_sampler *s, const float *logits, int32_t *out_token, snug_error *err) {
    if (logits == NULL || out_token == NULL) {
        return snug_fail(err, SNUG_E_ARGUMENT, "sampling needs logits and a place for the token (got NULL)");
    }
    if (s->candidates == NULL || s->n_vocab < 1) {
        return snug_fail(err, SNUG_E_INTERNAL, "sampling with an unbound sampler (vocabulary of %d)", (int)s->n_vocab);
    }
    snug_candidate *c = s->candidates;
    size_t n = (size_t)s->n_vocab;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(logits[i])) {
            snug_fail(err, SNUG_E_NUMERIC, "logit of token %zu is %s", i, non_finite_name(logits[i]));
            snug_hint(err, "the forward pass produced a non-finite value; the model or its quantization is broken");
            return SNUG_E_NUMERIC;
        }
        c[i].token = (int32_t)i;
        c[i].logit = logits[i];
    }

    apply_repeat_penalty(s);

    const snug_sampler_params *p = &s->params;
    if (p->temperature <= 0.0f) {
        *out_token = argmax_token(c, n);
        return SNUG_OK;
    }

    bool sorted = false; /* c[0..n) best first */
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        select_best_sorted(c, n, (size_t)p->top_k);
        n = (size_t)p->top_k;
        sorted = true;
    }
    if (p->min_p > 0.0f) n = keep_min_p(c, n, sorted, p->min_p);
    softmax_with_temperature(c, n, sorted, p->temperature);
    if (p->top_p < 1.0f) n = keep_top_p(c, n, sorted, p->top_p);
    *out_token = draw_token(c, n, &s->rng_state);
    return SNUG_OK;
}

void snug_sampler_accept(snug_sampler *s, int32_t token) {
    const int32_t window = s->params.repeat_last_n;
    if (window <= 0) return;
    s->recent[s->recent_head] = token;
    s->recent_head = (s->recent_head + 1) % window;
    if (s->recent_count < window) s->recent_count++;
}
