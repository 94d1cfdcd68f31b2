/* test_sampler.c — the sampler's contract: greedy and its tie rule, each filter's effect and place in the chain,
 * reproducibility from the seed, empirical frequencies against softmax, the repetition penalty, and the errors
 * (non-finite logits, invalid parameters).
 *
 * Statistical tests use fixed seeds, so they are deterministic; their bounds are chi-square critical values at
 * p = 0.001, loose enough for a correct sampler and far below what a wrong distribution produces (one test checks
 * that power explicitly). Logit vectors come from the test's own generator, independent of the sampler's.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/arena.h"
#include "engine/sampler.h"

/* Largest vocabulary and history any test uses; buffers are plain arrays aligned as the arena would align them. */
enum { MAX_TEST_VOCAB = 1024, TEST_RECENT_CAP = 64 };

/* Chi-square critical values at p = 0.001 (standard tables): 1 and 3 degrees of freedom. */
#define CHI_SQUARE_P001_DF1 10.83
#define CHI_SQUARE_P001_DF3 16.27

typedef struct test_sampler {
    snug_sampler sampler;
    _Alignas(SNUG_ARENA_ALIGN) snug_candidate candidates[MAX_TEST_VOCAB];
    _Alignas(SNUG_ARENA_ALIGN) int32_t recent[TEST_RECENT_CAP];
} test_sampler;

/* Every filter off: plain softmax(logits / temperature), no penalty. */
static snug_sampler_params unfiltered_params(float temperature, uint64_t seed) {
    snug_sampler_params p = {
        .temperature = temperature,
        .top_k = 0,
        .top_p = 1.0f,
        .min_p = 0.0f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 0,
        .seed = seed,
    };
    return p;
}

static void setup_sampler(test_sampler *t, int32_t n_vocab, snug_sampler_params params) {
    cr_assert(n_vocab <= MAX_TEST_VOCAB);
    snug_sampler_bind(&t->sampler, n_vocab, t->candidates, t->recent, TEST_RECENT_CAP);
    snug_error err = {0};
    snug_status st = snug_sampler_init(&t->sampler, &params, &err);
    cr_assert_eq(st, SNUG_OK, "init failed: %s", err.message);
}

static int32_t sample_ok(test_sampler *t, const float *logits) {
    snug_error err = {0};
    int32_t token = -1;
    snug_status st = snug_sampler_sample(&t->sampler, logits, &token, &err);
    cr_assert_eq(st, SNUG_OK, "sample failed: %s", err.message);
    cr_assert(token >= 0 && token < t->sampler.n_vocab, "token %d out of range", token);
    return token;
}

/* The test's own generator (xorshift64*), for logit vectors only. */
static uint64_t test_rng_next(uint64_t *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545F4914F6CDD1Du;
}

static double test_rng_unit(uint64_t *state) { return (double)(test_rng_next(state) >> 11) * 0x1.0p-53; }

/* Roughly normal logits (sum of uniforms) with the given spread; `quantize` rounds them to create ties. */
static void random_logits(uint64_t *state, float *logits, int32_t n, double spread, bool quantize) {
    for (int32_t i = 0; i < n; i++) {
        double sum = 0;
        for (int j = 0; j < 4; j++) sum += test_rng_unit(state) - 0.5;
        double v = sum * spread;
        logits[i] = (float)(quantize ? round(v) : v);
    }
}

static int32_t reference_argmax(const float *logits, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++) {
        if (logits[i] > logits[best]) best = i;
    }
    return best;
}

static void reference_softmax(const float *logits, int32_t n, double temperature, double *probs) {
    double max = logits[reference_argmax(logits, n)];
    double sum = 0;
    for (int32_t i = 0; i < n; i++) sum += probs[i] = exp((logits[i] - max) / temperature);
    for (int32_t i = 0; i < n; i++) probs[i] /= sum;
}

static double chi_square(const int32_t *observed, const double *probs, int32_t n, int32_t draws) {
    double chi2 = 0;
    for (int32_t i = 0; i < n; i++) {
        double expected = probs[i] * draws;
        chi2 += (observed[i] - expected) * (observed[i] - expected) / expected;
    }
    return chi2;
}

/* ---- defaults and sizes --------------------------------------------------------------------------------------- */

Test(sampler, default_params_match_llama_cpp) {
    snug_sampler_params p = snug_sampler_default_params();
    cr_expect_float_eq(p.temperature, 0.8f, 1e-7f);
    cr_expect_eq(p.top_k, 40);
    cr_expect_float_eq(p.top_p, 0.95f, 1e-7f);
    cr_expect_float_eq(p.min_p, 0.05f, 1e-7f);
    cr_expect_eq(p.repeat_penalty, 1.0f);
    cr_expect_eq(p.repeat_last_n, 64);
    cr_expect_eq(p.seed, 0u);
    /* The defaults must themselves be valid. */
    test_sampler t;
    setup_sampler(&t, 100, p);
}

Test(sampler, bytes_equal_rounded_buffer_sum) {
    const int32_t cases[][2] = {{32000, 64}, {3, 5}, {1, 0}, {151936, 256}, {17, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t n_vocab = cases[i][0], last_n = cases[i][1];
        uint64_t expected = snug_arena_reserve((uint64_t)n_vocab * sizeof(snug_candidate)) +
                            snug_arena_reserve((uint64_t)last_n * sizeof(int32_t));
        cr_expect_eq(snug_sampler_bytes(n_vocab, last_n), expected, "n_vocab %d, last_n %d", n_vocab, last_n);
    }
    /* Concrete numbers, so a change in the arena's rounding shows up here too. */
    cr_expect_eq(snug_sampler_bytes(3, 5), 64u + 64u);
    cr_expect_eq(snug_sampler_bytes(32000, 64), 256000u + 256u);
    cr_expect_eq(snug_sampler_bytes(1, 0), 64u);
}

/* ---- greedy --------------------------------------------------------------------------------------------------- */

Test(sampler, greedy_picks_argmax) {
    enum { N_VOCAB = 500, TRIALS = 200 };
    float logits[N_VOCAB];
    uint64_t rng = 12345;
    const float greedy_temperatures[] = {0.0f, -1.0f};
    for (size_t k = 0; k < 2; k++) {
        test_sampler t;
        setup_sampler(&t, N_VOCAB, unfiltered_params(greedy_temperatures[k], 7));
        for (int trial = 0; trial < TRIALS; trial++) {
            random_logits(&rng, logits, N_VOCAB, 10.0, false);
            cr_assert_eq(sample_ok(&t, logits), reference_argmax(logits, N_VOCAB), "trial %d", trial);
        }
    }
}

Test(sampler, greedy_ties_pick_lowest_id) {
    const float logits[] = {0.5f, 2.0f, -1.0f, 2.0f, 2.0f, 1.0f};
    test_sampler t;
    setup_sampler(&t, 6, unfiltered_params(0.0f, 1));
    cr_assert_eq(sample_ok(&t, logits), 1);
    const float all_equal[] = {3.0f, 3.0f, 3.0f};
    setup_sampler(&t, 3, unfiltered_params(0.0f, 1));
    cr_assert_eq(sample_ok(&t, all_equal), 0);
}

Test(sampler, top_k_one_equals_greedy) {
    enum { N_VOCAB = 1000, TRIALS = 300 };
    float logits[N_VOCAB];
    uint64_t rng = 99;
    const float temperatures[] = {0.1f, 0.8f, 1.0f, 3.0f, 100.0f};
    for (size_t k = 0; k < sizeof temperatures / sizeof temperatures[0]; k++) {
        snug_sampler_params p = snug_sampler_default_params();
        p.temperature = temperatures[k];
        p.top_k = 1;
        p.seed = 42 + k;
        test_sampler t;
        setup_sampler(&t, N_VOCAB, p);
        for (int trial = 0; trial < TRIALS; trial++) {
            /* Quantized logits in half the trials, so ties at the top are common. */
            random_logits(&rng, logits, N_VOCAB, 8.0, trial % 2 == 0);
            cr_assert_eq(sample_ok(&t, logits), reference_argmax(logits, N_VOCAB), "T %g, trial %d",
                         (double)temperatures[k], trial);
        }
    }
}

/* ---- reproducibility ------------------------------------------------------------------------------------------ */

static void sample_sequence(snug_sampler_params p, const float *logits, int32_t n_vocab, int32_t *out, int count) {
    test_sampler t;
    setup_sampler(&t, n_vocab, p);
    for (int i = 0; i < count; i++) out[i] = sample_ok(&t, logits);
}

/* The documented generator (SplitMix64) and draw (u in [0,1) from the top 53 bits, cumulative walk in token-id order
 * when no filter is on), written out independently: top_p = 1 must give exactly these tokens. */
static uint64_t reference_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

Test(sampler, top_p_one_matches_unfiltered_reference) {
    enum { N_VOCAB = 50, DRAWS = 500 };
    float logits[N_VOCAB];
    double probs[N_VOCAB];
    uint64_t rng = 2024;
    random_logits(&rng, logits, N_VOCAB, 4.0, false);
    reference_softmax(logits, N_VOCAB, 1.0, probs);

    int32_t tokens[DRAWS];
    snug_sampler_params p = unfiltered_params(1.0f, 777);
    cr_assert_eq(p.top_p, 1.0f);
    sample_sequence(p, logits, N_VOCAB, tokens, DRAWS);

    uint64_t state = 777;
    int mismatches = 0;
    for (int i = 0; i < DRAWS; i++) {
        double u = (double)(reference_splitmix64(&state) >> 11) * 0x1.0p-53;
        double cumulative = 0;
        int32_t expected = N_VOCAB - 1;
        for (int32_t j = 0; j < N_VOCAB; j++) {
            cumulative += probs[j];
            if (cumulative > u) {
                expected = j;
                break;
            }
        }
        /* The reference sums in double, the sampler rounds probabilities to float: a draw landing within rounding
         * of a boundary may legitimately differ. Allow none but a vanishing few. */
        if (tokens[i] != expected) mismatches++;
    }
    cr_assert_leq(mismatches, 1, "%d of %d draws differ from the unfiltered distribution", mismatches, DRAWS);
}

Test(sampler, top_k_at_or_above_vocab_is_off) {
    enum { N_VOCAB = 40, DRAWS = 200 };
    float logits[N_VOCAB];
    uint64_t rng = 5;
    random_logits(&rng, logits, N_VOCAB, 3.0, false);
    int32_t off[DRAWS], at_vocab[DRAWS], above_vocab[DRAWS];
    snug_sampler_params p = unfiltered_params(1.0f, 31337);
    sample_sequence(p, logits, N_VOCAB, off, DRAWS);
    p.top_k = N_VOCAB;
    sample_sequence(p, logits, N_VOCAB, at_vocab, DRAWS);
    p.top_k = N_VOCAB + 100;
    sample_sequence(p, logits, N_VOCAB, above_vocab, DRAWS);
    cr_assert_arr_eq(off, at_vocab, sizeof off);
    cr_assert_arr_eq(off, above_vocab, sizeof off);
}

Test(sampler, same_seed_same_sequence) {
    enum { N_VOCAB = 64, DRAWS = 200 };
    float logits[N_VOCAB];
    uint64_t rng = 77;
    random_logits(&rng, logits, N_VOCAB, 2.0, false);
    snug_sampler_params p = snug_sampler_default_params();
    p.seed = 0xC0FFEE;
    int32_t first[DRAWS], second[DRAWS];
    sample_sequence(p, logits, N_VOCAB, first, DRAWS);
    sample_sequence(p, logits, N_VOCAB, second, DRAWS);
    cr_assert_arr_eq(first, second, sizeof first);

    /* Re-initializing the same sampler restarts the sequence too. */
    test_sampler t;
    setup_sampler(&t, N_VOCAB, p);
    for (int i = 0; i < DRAWS; i++) (void)sample_ok(&t, logits);
    snug_error err = {0};
    cr_assert_eq(snug_sampler_init(&t.sampler, &p, &err), SNUG_OK);
    for (int i = 0; i < DRAWS; i++) cr_assert_eq(sample_ok(&t, logits), first[i], "draw %d after re-init", i);
}

Test(sampler, different_seeds_different_sequences) {
    enum { N_VOCAB = 64, DRAWS = 200 };
    float logits[N_VOCAB];
    uint64_t rng = 78;
    random_logits(&rng, logits, N_VOCAB, 1.0, false);
    const uint64_t seeds[] = {0, 1, 2, 0xFFFFFFFFFFFFFFFFu};
    int32_t sequences[4][DRAWS];
    for (int s = 0; s < 4; s++) {
        sample_sequence(unfiltered_params(1.0f, seeds[s]), logits, N_VOCAB, sequences[s], DRAWS);
        /* No seed (0 included) may be degenerate: a near-flat distribution must yield many distinct tokens. */
        bool seen[N_VOCAB] = {false};
        int distinct = 0;
        for (int i = 0; i < DRAWS; i++) {
            if (!seen[sequences[s][i]]) distinct++;
            seen[sequences[s][i]] = true;
        }
        cr_expect_geq(distinct, N_VOCAB / 2, "seed %llu: only %d distinct tokens", (unsigned long long)seeds[s],
                      distinct);
    }
    for (int a = 0; a < 4; a++) {
        for (int b = a + 1; b < 4; b++) {
            int equal = 0;
            for (int i = 0; i < DRAWS; i++) equal += sequences[a][i] == sequences[b][i];
            /* Independent draws agree with probability about 1/64; far from all 200. */
            cr_expect_lt(equal, DRAWS / 4, "seeds %llu and %llu agree on %d of %d draws",
                         (unsigned long long)seeds[a], (unsigned long long)seeds[b], equal, DRAWS);
        }
    }
}

/* ---- filters -------------------------------------------------------------------------------------------------- */

/* Ranks of tokens by logit (ties: lower id ranks higher). rank[i] = 0 for the best. */
static void reference_ranks(const float *logits, int32_t n, int32_t *rank) {
    for (int32_t i = 0; i < n; i++) {
        rank[i] = 0;
        for (int32_t j = 0; j < n; j++) {
            if (logits[j] > logits[i] || (j < i && logits[j] == logits[i])) rank[i]++;
        }
    }
}

Test(sampler, top_k_restricts_draws_to_k_best) {
    enum { N_VOCAB = 300, TOP_K = 5, DRAWS = 5000 };
    float logits[N_VOCAB];
    int32_t rank[N_VOCAB];
    uint64_t rng = 4242;
    random_logits(&rng, logits, N_VOCAB, 2.0, false);
    reference_ranks(logits, N_VOCAB, rank);
    snug_sampler_params p = unfiltered_params(5.0f, 8); /* hot: without top-k, most draws would fall outside */
    p.top_k = TOP_K;
    test_sampler t;
    setup_sampler(&t, N_VOCAB, p);
    int32_t count_by_rank[TOP_K] = {0};
    for (int i = 0; i < DRAWS; i++) {
        int32_t token = sample_ok(&t, logits);
        cr_assert_lt(rank[token], TOP_K, "draw %d: token %d has rank %d", i, token, rank[token]);
        count_by_rank[rank[token]]++;
    }
    /* And not narrower than k: every one of the k best is drawn. */
    for (int r = 0; r < TOP_K; r++) cr_expect_gt(count_by_rank[r], 0, "rank %d never drawn", r);
}

Test(sampler, top_k_ties_at_the_boundary_go_to_lowest_id) {
    const float logits[] = {1.0f, 3.0f, 1.0f, 1.0f, 1.0f, 0.0f};
    snug_sampler_params p = unfiltered_params(1.0f, 3);
    p.top_k = 3; /* token 1, then two of the four tied at 1.0: tokens 0 and 2 */
    test_sampler t;
    setup_sampler(&t, 6, p);
    int32_t counts[6] = {0};
    for (int i = 0; i < 3000; i++) counts[sample_ok(&t, logits)]++;
    cr_expect_gt(counts[0], 0);
    cr_expect_gt(counts[1], 0);
    cr_expect_gt(counts[2], 0);
    cr_expect_eq(counts[3] + counts[4] + counts[5], 0, "tokens 3-5 drawn %d, %d, %d times", counts[3], counts[4],
                 counts[5]);
}

Test(sampler, tiny_top_p_picks_argmax) {
    /* With 64 tokens the best has probability >= 1/64 > 0.01, so top-p 0.01 keeps it alone. */
    enum { N_VOCAB = 64, TRIALS = 400 };
    float logits[N_VOCAB];
    uint64_t rng = 31;
    const float temperatures[] = {0.5f, 1.0f, 4.0f};
    for (size_t k = 0; k < 3; k++) {
        snug_sampler_params p = unfiltered_params(temperatures[k], 100 + k);
        p.top_p = 0.01f;
        test_sampler t;
        setup_sampler(&t, N_VOCAB, p);
        for (int trial = 0; trial < TRIALS; trial++) {
            random_logits(&rng, logits, N_VOCAB, 3.0, false);
            cr_assert_eq(sample_ok(&t, logits), reference_argmax(logits, N_VOCAB), "T %g, trial %d",
                         (double)temperatures[k], trial);
        }
    }
}

/* Reference nucleus: sort probabilities (ties by id), keep the smallest prefix reaching top_p. */
static void reference_nucleus(const double *probs, int32_t n, double top_p, bool *in_nucleus) {
    float as_logits[MAX_TEST_VOCAB];
    int32_t rank[MAX_TEST_VOCAB];
    for (int32_t i = 0; i < n; i++) as_logits[i] = (float)probs[i];
    reference_ranks(as_logits, n, rank);
    double cumulative = 0;
    int32_t kept = 0;
    while (kept < n && cumulative < top_p) {
        for (int32_t i = 0; i < n; i++) {
            if (rank[i] == kept) cumulative += probs[i];
        }
        kept++;
    }
    for (int32_t i = 0; i < n; i++) in_nucleus[i] = rank[i] < kept;
}

Test(sampler, top_p_draws_stay_in_nucleus) {
    enum { N_VOCAB = 200, DRAWS = 4000 };
    const float top_p = 0.6f;
    float logits[N_VOCAB];
    double probs[N_VOCAB];
    bool in_nucleus[N_VOCAB];
    uint64_t rng = 606;
    random_logits(&rng, logits, N_VOCAB, 6.0, false);
    reference_softmax(logits, N_VOCAB, 1.0, probs);
    reference_nucleus(probs, N_VOCAB, top_p, in_nucleus);
    int nucleus_size = 0;
    for (int i = 0; i < N_VOCAB; i++) nucleus_size += in_nucleus[i];
    cr_assert(nucleus_size >= 3 && nucleus_size < N_VOCAB / 2, "test logits give a nucleus of %d", nucleus_size);

    /* Both paths: unsorted candidates (top-k off, heap extraction) and sorted ones (top-k on but wider). */
    const int32_t top_ks[] = {0, N_VOCAB - 1};
    for (int k = 0; k < 2; k++) {
        snug_sampler_params p = unfiltered_params(1.0f, 55);
        p.top_p = top_p;
        p.top_k = top_ks[k];
        test_sampler t;
        setup_sampler(&t, N_VOCAB, p);
        bool seen[N_VOCAB] = {false};
        for (int i = 0; i < DRAWS; i++) {
            int32_t token = sample_ok(&t, logits);
            cr_assert(in_nucleus[token], "top-k %d: token %d (p = %g) is outside the nucleus", top_ks[k], token,
                      probs[token]);
            seen[token] = true;
        }
        for (int i = 0; i < N_VOCAB; i++) {
            if (in_nucleus[i]) cr_expect(seen[i], "top-k %d: nucleus token %d (p = %g) never drawn", top_ks[k], i,
                                         probs[i]);
        }
    }
}

Test(sampler, top_p_renormalizes_within_nucleus) {
    /* Probabilities 0.5, 0.3, 0.15, 0.05; top-p 0.75 keeps {0, 1} (0.5 < 0.75 <= 0.8), drawn 5 : 3. */
    enum { DRAWS = 20000 };
    const float logits[] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    snug_sampler_params p = unfiltered_params(1.0f, 9);
    p.top_p = 0.75f;
    test_sampler t;
    setup_sampler(&t, 4, p);
    int32_t counts[4] = {0};
    for (int i = 0; i < DRAWS; i++) counts[sample_ok(&t, logits)]++;
    cr_assert_eq(counts[2] + counts[3], 0, "tokens outside the nucleus drawn %d, %d times", counts[2], counts[3]);
    const double renormalized[2] = {0.5 / 0.8, 0.3 / 0.8};
    double chi2 = chi_square(counts, renormalized, 2, DRAWS);
    cr_expect_lt(chi2, CHI_SQUARE_P001_DF1, "counts %d, %d: chi-square %g", counts[0], counts[1], chi2);
}

Test(sampler, top_p_applies_after_temperature) {
    /* At T = 1 the probabilities are ~0.705, 0.259, 0.035, 0.00003: top-p 0.9 keeps tokens 0 and 1. At T = 100 they
     * are nearly uniform, so the nucleus holds all four. */
    const float logits[] = {0.0f, -1.0f, -3.0f, -10.0f};
    const float temperatures[] = {1.0f, 100.0f};
    int32_t counts[2][4] = {{0}};
    for (int k = 0; k < 2; k++) {
        snug_sampler_params p = unfiltered_params(temperatures[k], 11);
        p.top_p = 0.9f;
        test_sampler t;
        setup_sampler(&t, 4, p);
        for (int i = 0; i < 4000; i++) counts[k][sample_ok(&t, logits)]++;
    }
    cr_expect_eq(counts[0][2] + counts[0][3], 0, "T 1: tokens 2, 3 drawn %d, %d times", counts[0][2], counts[0][3]);
    for (int i = 0; i < 4; i++) cr_expect_gt(counts[1][i], 500, "T 100: token %d drawn %d times", i, counts[1][i]);
}

Test(sampler, min_p_one_picks_argmax) {
    enum { N_VOCAB = 300, TRIALS = 200 };
    float logits[N_VOCAB];
    uint64_t rng = 1;
    snug_sampler_params p = unfiltered_params(2.0f, 21);
    p.min_p = 1.0f;
    test_sampler t;
    setup_sampler(&t, N_VOCAB, p);
    for (int trial = 0; trial < TRIALS; trial++) {
        random_logits(&rng, logits, N_VOCAB, 5.0, false);
        cr_assert_eq(sample_ok(&t, logits), reference_argmax(logits, N_VOCAB), "trial %d", trial);
    }
    /* Ties at the top all survive min-p 1 (each has probability = the maximum): both are drawn, nothing else. */
    const float tied[] = {0.0f, 4.0f, 1.0f, 4.0f, 3.9f};
    setup_sampler(&t, 5, p);
    int32_t counts[5] = {0};
    for (int i = 0; i < 2000; i++) counts[sample_ok(&t, tied)]++;
    cr_expect_gt(counts[1], 0);
    cr_expect_gt(counts[3], 0);
    cr_expect_eq(counts[0] + counts[2] + counts[4], 0, "non-maximal tokens drawn %d, %d, %d times", counts[0],
                 counts[2], counts[4]);
}

Test(sampler, min_p_uses_pre_temperature_logits) {
    /* min-p 0.2: threshold log(0.2) ~ -1.61 below the best keeps tokens 0 and 1 whatever the temperature. Judged
     * after a temperature of 10, token 2 (relative probability exp(-0.3) ~ 0.74) would survive. */
    const float logits[] = {0.0f, -1.0f, -3.0f, -10.0f};
    snug_sampler_params p = unfiltered_params(10.0f, 12);
    p.min_p = 0.2f;
    test_sampler t;
    setup_sampler(&t, 4, p);
    int32_t counts[4] = {0};
    for (int i = 0; i < 4000; i++) counts[sample_ok(&t, logits)]++;
    cr_expect_gt(counts[0], 0);
    cr_expect_gt(counts[1], 0);
    cr_expect_eq(counts[2] + counts[3], 0, "tokens 2, 3 drawn %d, %d times", counts[2], counts[3]);
}

/* ---- distribution --------------------------------------------------------------------------------------------- */

Test(sampler, frequencies_match_softmax) {
    enum { N_VOCAB = 4, DRAWS = 20000 };
    const float logits[N_VOCAB] = {1.0f, 0.5f, -0.5f, 0.0f};
    const float temperatures[] = {1.0f, 0.5f, 2.0f};
    for (size_t k = 0; k < 3; k++) {
        test_sampler t;
        setup_sampler(&t, N_VOCAB, unfiltered_params(temperatures[k], 2718 + k));
        int32_t counts[N_VOCAB] = {0};
        for (int i = 0; i < DRAWS; i++) counts[sample_ok(&t, logits)]++;
        double probs[N_VOCAB];
        reference_softmax(logits, N_VOCAB, temperatures[k], probs);
        double chi2 = chi_square(counts, probs, N_VOCAB, DRAWS);
        cr_expect_lt(chi2, CHI_SQUARE_P001_DF3, "T %g: counts %d %d %d %d, chi-square %g", (double)temperatures[k],
                     counts[0], counts[1], counts[2], counts[3], chi2);

        /* The bound has power: the same counts are far from the distribution at the wrong temperature. */
        double wrong[N_VOCAB];
        reference_softmax(logits, N_VOCAB, temperatures[k] * 1.5, wrong);
        cr_expect_gt(chi_square(counts, wrong, N_VOCAB, DRAWS), 10 * CHI_SQUARE_P001_DF3, "T %g",
                     (double)temperatures[k]);
    }
}

/* ---- repetition penalty --------------------------------------------------------------------------------------- */

static snug_sampler_params greedy_with_penalty(float penalty, int32_t last_n) {
    snug_sampler_params p = unfiltered_params(0.0f, 1);
    p.repeat_penalty = penalty;
    p.repeat_last_n = last_n;
    return p;
}

Test(sampler, repeat_penalty_changes_greedy_choice) {
    const float logits[] = {2.0f, 1.9f, -1.0f};
    test_sampler t;
    setup_sampler(&t, 3, greedy_with_penalty(1.1f, 8));
    cr_assert_eq(sample_ok(&t, logits), 0);
    snug_sampler_accept(&t.sampler, 0); /* 2.0 / 1.1 = 1.82 < 1.9 */
    cr_assert_eq(sample_ok(&t, logits), 1);

    /* Penalty 1 is off: the same history changes nothing. */
    setup_sampler(&t, 3, greedy_with_penalty(1.0f, 8));
    snug_sampler_accept(&t.sampler, 0);
    cr_assert_eq(sample_ok(&t, logits), 0);
}

Test(sampler, repeat_penalty_multiplies_negative_logits) {
    const float logits[] = {-1.0f, -1.05f, -5.0f};
    test_sampler t;
    setup_sampler(&t, 3, greedy_with_penalty(1.1f, 8));
    snug_sampler_accept(&t.sampler, 0); /* -1.0 * 1.1 = -1.1 < -1.05; dividing would have raised it */
    cr_assert_eq(sample_ok(&t, logits), 1);
}

Test(sampler, repeat_penalty_counts_each_token_once) {
    /* Once: 2.0 / 1.1 = 1.82 > 1.6 keeps token 0. Three times would give 1.50 < 1.6. */
    const float logits[] = {2.0f, 1.6f};
    test_sampler t;
    setup_sampler(&t, 2, greedy_with_penalty(1.1f, 8));
    for (int i = 0; i < 3; i++) snug_sampler_accept(&t.sampler, 0);
    cr_assert_eq(sample_ok(&t, logits), 0);
    /* And the marking leaves later steps intact: the same call twice gives the same answer. */
    cr_assert_eq(sample_ok(&t, logits), 0);
}

Test(sampler, repeat_penalty_forgets_tokens_outside_window) {
    const float logits[] = {2.0f, 1.9f, -3.0f, -3.0f, -3.0f};
    test_sampler t;
    setup_sampler(&t, 5, greedy_with_penalty(1.5f, 2));
    snug_sampler_accept(&t.sampler, 0);
    snug_sampler_accept(&t.sampler, 3);
    cr_assert_eq(sample_ok(&t, logits), 1, "token 0 is in the last 2");
    snug_sampler_accept(&t.sampler, 4); /* window now {3, 4} */
    cr_assert_eq(sample_ok(&t, logits), 0, "token 0 fell out of the last 2");
    /* Out-of-vocabulary history entries are ignored, not indexed. */
    snug_sampler_accept(&t.sampler, -1);
    snug_sampler_accept(&t.sampler, 999);
    cr_assert_eq(sample_ok(&t, logits), 0);
}

Test(sampler, init_clears_history) {
    const float logits[] = {2.0f, 1.9f};
    test_sampler t;
    snug_sampler_params p = greedy_with_penalty(1.5f, 4);
    setup_sampler(&t, 2, p);
    snug_sampler_accept(&t.sampler, 0);
    cr_assert_eq(sample_ok(&t, logits), 1);
    snug_error err = {0};
    cr_assert_eq(snug_sampler_init(&t.sampler, &p, &err), SNUG_OK);
    cr_assert_eq(sample_ok(&t, logits), 0);
}

Test(sampler, repeat_penalty_leaves_caller_logits_untouched) {
    enum { N_VOCAB = 100 };
    float logits[N_VOCAB], before[N_VOCAB];
    uint64_t rng = 3;
    random_logits(&rng, logits, N_VOCAB, 4.0, false);
    memcpy(before, logits, sizeof logits);
    snug_sampler_params p = snug_sampler_default_params();
    p.repeat_penalty = 1.3f;
    test_sampler t;
    setup_sampler(&t, N_VOCAB, p);
    for (int32_t i = 0; i < 64; i++) snug_sampler_accept(&t.sampler, i);
    for (int i = 0; i < 50; i++) (void)sample_ok(&t, logits);
    cr_assert_arr_eq(logits, before, sizeof logits);
}

/* ---- errors --------------------------------------------------------------------------------------------------- */

Test(sampler, non_finite_logits_fail) {
    enum { N_VOCAB = 32 };
    const float bad_values[] = {NAN, INFINITY, -INFINITY};
    const char *names[] = {"is nan", "is inf", "is -inf"};
    const float temperatures[] = {0.0f, 1.0f}; /* greedy must check too */
    for (int b = 0; b < 3; b++) {
        for (int k = 0; k < 2; k++) {
            float logits[N_VOCAB] = {0};
            logits[17] = bad_values[b];
            logits[20] = NAN; /* only the first is reported */
            test_sampler t;
            setup_sampler(&t, N_VOCAB, unfiltered_params(temperatures[k], 1));
            snug_error err = {0};
            int32_t token = -12345;
            snug_status st = snug_sampler_sample(&t.sampler, logits, &token, &err);
            cr_expect_eq(st, SNUG_E_NUMERIC, "%s: status %d", names[b], st);
            cr_expect_eq(err.status, SNUG_E_NUMERIC);
            cr_expect_eq(token, -12345, "no token on failure");
            cr_expect(strstr(err.message, "token 17") != NULL, "message: %s", err.message);
            cr_expect(strstr(err.message, names[b]) != NULL, "message: %s", err.message);
        }
    }
}

typedef struct invalid_case {
    const char *what;
    snug_sampler_params params;
    const char *message_part; /* the option's name and the offending value */
} invalid_case;

Test(sampler, invalid_params_rejected) {
    const snug_sampler_params d = snug_sampler_default_params();
    invalid_case cases[] = {
        {"temperature nan", d, "temperature"},     {"temperature -inf", d, "got -inf"},
        {"temperature 101", d, "got 101"},          {"temperature +inf", d, "temperature"},
        {"top-k -1", d, "top-k must be >= 0 (0 means off), got -1"},
        {"top-p 1.5", d, "top-p must be in (0, 1], got 1.5"},
        {"top-p 0", d, "top-p must be in (0, 1], got 0"},
        {"top-p nan", d, "top-p"},                 {"min-p -0.1", d, "min-p must be in [0, 1], got -0.1"},
        {"min-p 1.01", d, "min-p"},                {"min-p nan", d, "min-p"},
        {"repeat-penalty 0", d, "repeat-penalty must be finite and > 0, got 0"},
        {"repeat-penalty -1", d, "repeat-penalty"}, {"repeat-penalty inf", d, "repeat-penalty"},
        {"repeat-penalty nan", d, "repeat-penalty"}, {"repeat-last-n -1", d, "repeat-last-n must be >= 0, got -1"},
        {"repeat-last-n above capacity", d, "repeat-last-n of 65 exceeds the planned history of 64 tokens"},
    };
    size_t i = 0;
    cases[i++].params.temperature = NAN;
    cases[i++].params.temperature = -INFINITY;
    cases[i++].params.temperature = 101.0f;
    cases[i++].params.temperature = INFINITY;
    cases[i++].params.top_k = -1;
    cases[i++].params.top_p = 1.5f;
    cases[i++].params.top_p = 0.0f;
    cases[i++].params.top_p = NAN;
    cases[i++].params.min_p = -0.1f;
    cases[i++].params.min_p = 1.01f;
    cases[i++].params.min_p = NAN;
    cases[i++].params.repeat_penalty = 0.0f;
    cases[i++].params.repeat_penalty = -1.0f;
    cases[i++].params.repeat_penalty = INFINITY;
    cases[i++].params.repeat_penalty = NAN;
    cases[i++].params.repeat_last_n = -1;
    cases[i++].params.repeat_last_n = TEST_RECENT_CAP + 1;
    cr_assert_eq(i, sizeof cases / sizeof cases[0]);

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_sampler t;
        setup_sampler(&t, 10, d);
        snug_error err = {0};
        snug_status st = snug_sampler_init(&t.sampler, &cases[i].params, &err);
        cr_expect_eq(st, SNUG_E_ARGUMENT, "%s: status %d", cases[i].what, st);
        cr_expect_eq(err.status, SNUG_E_ARGUMENT, "%s", cases[i].what);
        cr_expect(strstr(err.message, cases[i].message_part) != NULL, "%s: message \"%s\"", cases[i].what,
                  err.message);
        /* A rejected init leaves the previous parameters in force. */
        cr_expect_eq(t.sampler.params.temperature, d.temperature, "%s", cases[i].what);
        cr_expect_eq(t.sampler.params.repeat_last_n, d.repeat_last_n, "%s", cases[i].what);
    }
}

Test(sampler, boundary_params_accepted) {
    snug_sampler_params p = unfiltered_params(100.0f, 0); /* the largest temperature */
    p.top_p = 1.0f;
    p.min_p = 1.0f;
    p.repeat_last_n = TEST_RECENT_CAP;
    p.repeat_penalty = 1e-3f;
    test_sampler t;
    setup_sampler(&t, 10, p);
    p.temperature = -5.0f; /* negative: greedy, not an error */
    p.min_p = 0.0f;
    p.top_p = 1e-6f;
    p.repeat_last_n = 0;
    setup_sampler(&t, 10, p);
}

Test(sampler, empty_vocab_rejected) {
    test_sampler t;
    snug_sampler_bind(&t.sampler, 0, t.candidates, t.recent, TEST_RECENT_CAP);
    snug_sampler_params p = snug_sampler_default_params();
    snug_error err = {0};
    cr_assert_eq(snug_sampler_init(&t.sampler, &p, &err), SNUG_E_ARGUMENT);
    cr_expect(strstr(err.message, "got 0") != NULL, "message: %s", err.message);
}
