/* types.c — the table of GGUF tensor types (see types.h). */
#include "gguf/types.h"

#include <stddef.h>
#include <stdio.h>

/* Sizes from the ggml block structs: e.g. block_q4_0 = f16 scale + 16 bytes of nibbles for 32 elements. */
static const snug_type_traits type_table[SNUG_TYPE_ID_LIMIT] = {
    [SNUG_TYPE_F32] = {"F32", 1, 4},
    [SNUG_TYPE_F16] = {"F16", 1, 2},
    [SNUG_TYPE_Q4_0] = {"Q4_0", 32, 18},
    [SNUG_TYPE_Q4_1] = {"Q4_1", 32, 20},
    [SNUG_TYPE_Q5_0] = {"Q5_0", 32, 22},
    [SNUG_TYPE_Q5_1] = {"Q5_1", 32, 24},
    [SNUG_TYPE_Q8_0] = {"Q8_0", 32, 34},
    [SNUG_TYPE_Q8_1] = {"Q8_1", 32, 36},
    [SNUG_TYPE_Q2_K] = {"Q2_K", 256, 84},
    [SNUG_TYPE_Q3_K] = {"Q3_K", 256, 110},
    [SNUG_TYPE_Q4_K] = {"Q4_K", 256, 144},
    [SNUG_TYPE_Q5_K] = {"Q5_K", 256, 176},
    [SNUG_TYPE_Q6_K] = {"Q6_K", 256, 210},
    [SNUG_TYPE_Q8_K] = {"Q8_K", 256, 292},
    [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74},
    [18] = {"IQ3_XXS", 256, 98},
    [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},
    [21] = {"IQ3_S", 256, 110},
    [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136},
    [SNUG_TYPE_I8] = {"I8", 1, 1},
    [SNUG_TYPE_I16] = {"I16", 1, 2},
    [SNUG_TYPE_I32] = {"I32", 1, 4},
    [SNUG_TYPE_I64] = {"I64", 1, 8},
    [SNUG_TYPE_F64] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},
    [SNUG_TYPE_BF16] = {"BF16", 1, 2},
};

snug_type_traits snug_type_traits_of(uint32_t type) {
    if (type >= SNUG_TYPE_ID_LIMIT) return (snug_type_traits){NULL, 0, 0};
    return type_table[type];
}

const char *snug_type_name(uint32_t type) { return snug_type_traits_of(type).name; }

void snug_type_name_lower(uint32_t type, char *out, size_t cap) {
    const char *name = snug_type_name(type);
    if (!name) {
        snprintf(out, cap, "type%u", type);
        return;
    }
    snprintf(out, cap, "%s", name);
    for (char *c = out; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
}

bool snug_type_is_supported(uint32_t type) {
    switch (type) {
    case SNUG_TYPE_F32:
    case SNUG_TYPE_F16:
    case SNUG_TYPE_BF16:
    case SNUG_TYPE_Q8_0:
    case SNUG_TYPE_Q4_0:
    case SNUG_TYPE_Q4_1:
    case SNUG_TYPE_Q5_0:
    case SNUG_TYPE_Q5_1:
    case SNUG_TYPE_Q2_K:
    case SNUG_TYPE_Q3_K:
    case SNUG_TYPE_Q4_K:
    case SNUG_TYPE_Q5_K:
    case SNUG_TYPE_Q6_K: return true;
    default: return false;
    }
}

bool snug_type_row_bytes(uint32_t type, uint64_t row_elems, uint64_t *out_bytes) {
    snug_type_traits t = snug_type_traits_of(type);
    if (t.block_elems == 0 || row_elems % t.block_elems != 0) return false;
    uint64_t blocks = row_elems / t.block_elems;
    if (blocks > UINT64_MAX / t.block_bytes) return false;
    *out_bytes = blocks * t.block_bytes;
    return true;
}
