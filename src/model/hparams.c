/* hparams.c — reading a model's hyper-parameters from GGUF metadata ("<arch>.embedding_length", …).
 *
 * Shared by the model loader (which then binds tensors) and the planner (which needs only the shape, and must also
 * work on header-only files and on architectures snug cannot run yet). Every value is range-checked so that sizes
 * computed from it cannot overflow; every error names the key and the value.
 */
#include "model/hparams.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "gguf/gguf.h"

/* Sanity limits on hyper-parameters: far above any released model, low enough that products cannot overflow. */
enum {
    MAX_EMBD = 1 << 20,
    MAX_HEADS = 1 << 14,
    MAX_CTX_TRAIN = 1 << 26,
};

/* The architectures snug runs (keep SNUG_SUPPORTED_ARCHITECTURES in model.h in step). "mistral" is the llama layout
 * under "mistral." keys; llama.cpp's converter writes Mistral 7B as "llama", so both spellings load. */
static const snug_architecture architectures[] = {
    /* name       rope mode         qkv_bias qk_norm fused_qkv fused_gate_up rope_freqs */
    {"llama", SNUG_ROPE_NORMAL, false, false, false, false, true},
    {"mistral", SNUG_ROPE_NORMAL, false, false, false, false, true},
    {"qwen2", SNUG_ROPE_NEOX, true, false, false, false, false},
    {"qwen3", SNUG_ROPE_NEOX, false, true, false, false, false},
    {"phi3", SNUG_ROPE_NEOX, false, false, true, true, false},
};

const snug_architecture *snug_architecture_find(const char *name) {
    for (size_t i = 0; i < sizeof architectures / sizeof *architectures; i++) {
        if (strcmp(architectures[i].name, name) == 0) return &architectures[i];
    }
    return NULL;
}

typedef struct key_reader {
    const snug_gguf *gguf;
    const char *arch;
    snug_model_desc *desc;
    snug_rope_params *rope;
    snug_error *err;
} key_reader;

static bool has_arch_key(const key_reader *ld, const char *name) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", ld->arch, name);
    return snug_gguf_find_key(ld->gguf, key) >= 0;
}

static snug_status get_u32_key(key_reader *ld, const char *name, bool required, int64_t fallback, int64_t max,
                               int32_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", ld->arch, name);
    int64_t idx = snug_gguf_find_key(ld->gguf, key);
    if (idx < 0) {
        if (required) return snug_fail(ld->err, SNUG_E_FORMAT, "missing required metadata key '%s'", key);
        *out = (int32_t)fallback;
        return SNUG_OK;
    }
    int64_t v;
    if (!snug_gguf_kv_get_i64(ld->gguf, (uint64_t)idx, &v)) {
        return snug_fail(ld->err, SNUG_E_FORMAT, "metadata key '%s' has type %s, expected an integer", key,
                         snug_gguf_value_type_name(snug_gguf_kv_type(ld->gguf, (uint64_t)idx)));
    }
    if (v < 1 || v > max) {
        return snug_fail(ld->err, SNUG_E_FORMAT, "metadata key '%s' is %lld, outside 1..%lld", key, (long long)v,
                         (long long)max);
    }
    *out = (int32_t)v;
    return SNUG_OK;
}

static snug_status get_f32_key(key_reader *ld, const char *name, float fallback, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", ld->arch, name);
    int64_t idx = snug_gguf_find_key(ld->gguf, key);
    if (idx < 0) {
        *out = fallback;
        return SNUG_OK;
    }
    double v;
    if (!snug_gguf_kv_get_f64(ld->gguf, (uint64_t)idx, &v)) {
        return snug_fail(ld->err, SNUG_E_FORMAT, "metadata key '%s' has type %s, expected a number", key,
                         snug_gguf_value_type_name(snug_gguf_kv_type(ld->gguf, (uint64_t)idx)));
    }
    if (!(v > 0.0 && v < 1e30)) {
        return snug_fail(ld->err, SNUG_E_FORMAT, "metadata key '%s' is %g, expected a positive finite number", key, v);
    }
    *out = (float)v;
    return SNUG_OK;
}

static snug_status read_rope_scaling(key_reader *ld, float *freq_scale) {
    *freq_scale = 1.0f;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", ld->arch);
    int64_t idx = snug_gguf_find_key(ld->gguf, key);
    if (idx >= 0) {
        const char *s;
        uint64_t len;
        if (!snug_gguf_kv_get_string(ld->gguf, (uint64_t)idx, &s, &len)) {
            return snug_fail(ld->err, SNUG_E_FORMAT, "metadata key '%s' is not a string", key);
        }
        if (len == 4 && memcmp(s, "none", 4) == 0) return SNUG_OK;
        if (!(len == 6 && memcmp(s, "linear", 6) == 0)) {
            return snug_fail(ld->err, SNUG_E_UNSUPPORTED,
                             "unsupported RoPE scaling '%.*s' (snug supports none, linear)", (int)(len < 32 ? len : 32),
                             s);
        }
        float factor;
        snug_status st = get_f32_key(ld, "rope.scaling.factor", 1.0f, &factor);
        if (st != SNUG_OK) return st;
        *freq_scale = 1.0f / factor;
        return SNUG_OK;
    }
    /* The older single key for linear scaling. */
    float factor;
    snug_status st = get_f32_key(ld, "rope.scale_linear", 1.0f, &factor);
    if (st == SNUG_OK) *freq_scale = 1.0f / factor;
    return st;
}

static snug_status read_hparams(key_reader *ld) {
    snug_model_desc *d = ld->desc;
    snug_status st;
    if ((st = get_u32_key(ld, "embedding_length", true, 0, MAX_EMBD, &d->n_embd)) != SNUG_OK ||
        (st = get_u32_key(ld, "block_count", true, 0, (int64_t)snug_gguf_tensor_count(ld->gguf), &d->n_layer)) !=
            SNUG_OK ||
        (st = get_u32_key(ld, "feed_forward_length", true, 0, MAX_EMBD * 8, &d->n_ff)) != SNUG_OK ||
        (st = get_u32_key(ld, "attention.head_count", true, 0, MAX_HEADS, &d->n_head)) != SNUG_OK ||
        (st = get_u32_key(ld, "attention.head_count_kv", false, d->n_head, MAX_HEADS, &d->n_head_kv)) != SNUG_OK ||
        (st = get_u32_key(ld, "context_length", true, 0, MAX_CTX_TRAIN, &d->n_ctx_train)) != SNUG_OK) {
        if (st == SNUG_E_FORMAT && strstr(ld->err->message, "outside 1..") && strstr(ld->err->message, "block_count")) {
            snug_hint(ld->err, "a model with N blocks has at least 6 tensors per block (9 for llama)");
        }
        return st;
    }
    if (d->n_embd % d->n_head != 0 && !has_arch_key(ld, "attention.key_length")) {
        return snug_fail(ld->err, SNUG_E_FORMAT, "attention.head_count %d does not divide embedding_length %d",
                         d->n_head, d->n_embd);
    }
    int32_t head_dim;
    if ((st = get_u32_key(ld, "attention.key_length", false, d->n_embd / d->n_head, MAX_EMBD, &head_dim)) != SNUG_OK) {
        return st;
    }
    int32_t value_dim;
    if ((st = get_u32_key(ld, "attention.value_length", false, head_dim, MAX_EMBD, &value_dim)) != SNUG_OK) return st;
    if (value_dim != head_dim) {
        return snug_fail(ld->err, SNUG_E_UNSUPPORTED, "attention.key_length %d differs from attention.value_length %d",
                         head_dim, value_dim);
    }
    d->head_dim = head_dim;
    if (d->n_head % d->n_head_kv != 0) {
        return snug_fail(ld->err, SNUG_E_FORMAT, "attention.head_count_kv %d does not divide attention.head_count %d",
                         d->n_head_kv, d->n_head);
    }
    int32_t n_rot;
    if ((st = get_u32_key(ld, "rope.dimension_count", false, head_dim, MAX_EMBD, &n_rot)) != SNUG_OK) return st;
    if (n_rot > head_dim || n_rot % 2 != 0) {
        return snug_fail(ld->err, SNUG_E_FORMAT, "rope.dimension_count %d must be even and at most the head size %d",
                         n_rot, head_dim);
    }
    float eps;
    if ((st = get_f32_key(ld, "attention.layer_norm_rms_epsilon", 1e-5f, &eps)) != SNUG_OK) return st;
    d->rms_eps = eps;
    if ((st = get_f32_key(ld, "rope.freq_base", 10000.0f, &d->rope_freq_base)) != SNUG_OK) return st;
    if ((st = read_rope_scaling(ld, &d->rope_freq_scale)) != SNUG_OK) return st;
    const snug_architecture *arch = snug_architecture_find(ld->arch);
    snug_rope_mode mode = arch ? arch->rope_mode : SNUG_ROPE_NORMAL;
    *ld->rope = (snug_rope_params){mode, n_rot, d->rope_freq_base, d->rope_freq_scale, NULL};
    return SNUG_OK;
}

snug_status snug_architecture_read(const snug_gguf *gguf, char *arch, size_t cap, snug_error *err) {
    int64_t idx = snug_gguf_find_key(gguf, "general.architecture");
    if (idx < 0) return snug_fail(err, SNUG_E_FORMAT, "missing required metadata key 'general.architecture'");
    const char *s;
    uint64_t len;
    if (!snug_gguf_kv_get_string(gguf, (uint64_t)idx, &s, &len)) {
        return snug_fail(err, SNUG_E_FORMAT, "metadata key 'general.architecture' is not a string");
    }
    if (len == 0 || len >= cap || memchr(s, '\0', (size_t)len) != NULL) {
        return snug_fail(err, SNUG_E_FORMAT, "metadata key 'general.architecture' has an invalid length %llu",
                         (unsigned long long)len);
    }
    memcpy(arch, s, len);
    arch[len] = '\0';
    return SNUG_OK;
}

snug_status snug_hparams_read(const snug_gguf *gguf, const char *arch, snug_model_desc *desc, snug_rope_params *rope,
                              snug_error *err) {
    key_reader ld = {gguf, arch, desc, rope, err};
    return read_hparams(&ld);
}
