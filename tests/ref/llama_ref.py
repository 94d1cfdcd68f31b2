#!/usr/bin/python3
"""Independent float64 numpy reference for the llama-family forward pass over GGUF files
(llama, mistral, qwen2, qwen3, phi3; see ARCHS).

Written from the GGUF format description and the llama architecture, not from the
engine's C sources.  Only numpy and the standard library are used.

Usage:
  llama_ref.py MODEL.gguf --tokens 1,5,9 --steps N --out OUT.bin
               [--no-kv-f16] [--stop-at-bos] [--print-text] [--text-out FILE]
  llama_ref.py --selftest-stories PATH/stories260K.gguf
  llama_ref.py --selftest-format

OUT.bin (little-endian):
  int32 n_vocab, int32 steps, int32 tokens[steps], float64 logits[steps][n_vocab]
tokens[i] is argmax(logits[i]) (ties -> lowest id).  With --stop-at-bos the step
whose pick is BOS is still written (it is the last one); nothing after it.
"""

import argparse
import math
import struct
import sys
import time

import numpy as np

# --------------------------------------------------------------------------
# GGUF parsing
# --------------------------------------------------------------------------

GGUF_MAGIC = b"GGUF"

# metadata value types
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)

_SCALAR_FMT = {
    T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i",
    T_F32: "<f", T_BOOL: "<?", T_U64: "<Q", T_I64: "<q", T_F64: "<d",
}
_SCALAR_NP = {
    T_U8: "<u1", T_I8: "<i1", T_U16: "<u2", T_I16: "<i2", T_U32: "<u4", T_I32: "<i4",
    T_F32: "<f4", T_U64: "<u8", T_I64: "<i8", T_F64: "<f8",
}

# ggml tensor types handled here: type id -> (name, block elements, block bytes)
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1, GGML_Q8_0 = 0, 1, 2, 3, 6, 7, 8
GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, GGML_BF16 = 10, 11, 12, 13, 14, 30
GGML_TYPES = {
    GGML_F32: ("F32", 1, 4),
    GGML_F16: ("F16", 1, 2),
    GGML_Q4_0: ("Q4_0", 32, 18),
    GGML_Q4_1: ("Q4_1", 32, 20),
    GGML_Q5_0: ("Q5_0", 32, 22),
    GGML_Q5_1: ("Q5_1", 32, 24),
    GGML_Q8_0: ("Q8_0", 32, 34),
    GGML_Q2_K: ("Q2_K", 256, 84),
    GGML_Q3_K: ("Q3_K", 256, 110),
    GGML_Q4_K: ("Q4_K", 256, 144),
    GGML_Q5_K: ("Q5_K", 256, 176),
    GGML_Q6_K: ("Q6_K", 256, 210),
    GGML_BF16: ("BF16", 1, 2),
}


class GGUFError(Exception):
    pass


class _Cursor:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError("truncated file: need %d bytes at offset %d, size %d" % (n, self.pos, len(self.buf)))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))[0]

    def string(self):
        n = self.unpack("<Q")
        return bytes(self.take(n)).decode("utf-8", errors="surrogateescape")

    def value(self, vtype, depth=0):
        if vtype in _SCALAR_FMT:
            return self.unpack(_SCALAR_FMT[vtype])
        if vtype == T_STR:
            return self.string()
        if vtype == T_ARR:
            if depth > 8:
                raise GGUFError("arrays nested too deeply")
            etype = self.unpack("<I")
            count = self.unpack("<Q")
            if etype in _SCALAR_NP:
                dt = np.dtype(_SCALAR_NP[etype])
                raw = self.take(count * dt.itemsize)
                return np.frombuffer(raw, dtype=dt, count=count).copy()
            if etype == T_BOOL:
                raw = self.take(count)
                return np.frombuffer(raw, dtype=np.uint8, count=count).astype(bool)
            if etype in (T_STR, T_ARR):
                return [self.value(etype, depth + 1) for _ in range(count)]
            raise GGUFError("bad array element type %d" % etype)
        raise GGUFError("bad metadata value type %d" % vtype)


class TensorInfo:
    __slots__ = ("name", "ne", "type", "offset", "nbytes")

    def __init__(self, name, ne, ttype, offset):
        self.name = name
        self.ne = ne          # ne[0] is the row length (fastest varying)
        self.type = ttype
        self.offset = offset  # relative to the data section
        self.nbytes = None

    @property
    def n_elements(self):
        n = 1
        for d in self.ne:
            n *= d
        return n


class GGUFFile:
    def __init__(self, path):
        self.path = path
        self.mm = np.memmap(path, dtype=np.uint8, mode="r")
        buf = memoryview(self.mm)
        c = _Cursor(buf)
        magic = bytes(c.take(4))
        if magic != GGUF_MAGIC:
            raise GGUFError("not a GGUF file (magic %r)" % magic)
        self.version = c.unpack("<I")
        if self.version not in (2, 3):
            raise GGUFError("unsupported GGUF version %d (need 2 or 3, little-endian)" % self.version)
        n_tensors = c.unpack("<Q")
        n_kv = c.unpack("<Q")
        self.kv = {}
        self.kv_types = {}
        for _ in range(n_kv):
            key = c.string()
            vtype = c.unpack("<I")
            if key in self.kv:
                raise GGUFError("duplicate key %s" % key)
            self.kv[key] = c.value(vtype)
            self.kv_types[key] = vtype
        self.tensors = {}
        self.tensor_order = []
        for _ in range(n_tensors):
            name = c.string()
            n_dims = c.unpack("<I")
            if n_dims < 1 or n_dims > 4:
                raise GGUFError("tensor %s: bad n_dims %d" % (name, n_dims))
            ne = [c.unpack("<Q") for _ in range(n_dims)]
            ttype = c.unpack("<I")
            offset = c.unpack("<Q")
            if name in self.tensors:
                raise GGUFError("duplicate tensor %s" % name)
            self.tensors[name] = TensorInfo(name, ne, ttype, offset)
            self.tensor_order.append(name)
        self.info_end = c.pos
        align = self.kv.get("general.alignment", 32)
        if not isinstance(align, int) or align <= 0 or (align & (align - 1)):
            raise GGUFError("bad general.alignment %r" % (align,))
        self.alignment = align
        self.data_start = (c.pos + align - 1) // align * align
        size = len(self.mm)
        for t in self.tensors.values():
            if t.type in GGML_TYPES:
                _, blk, bsz = GGML_TYPES[t.type]
                if t.ne[0] % blk:
                    raise GGUFError("tensor %s: row length %d not a multiple of block %d" % (t.name, t.ne[0], blk))
                t.nbytes = t.n_elements // blk * bsz
                if t.offset % align:
                    raise GGUFError("tensor %s: offset %d not aligned to %d" % (t.name, t.offset, align))
                if self.data_start + t.offset + t.nbytes > size:
                    raise GGUFError("tensor %s: data past end of file" % t.name)

    def get(self, key, default=None):
        return self.kv.get(key, default)

    def raw(self, name):
        t = self.tensors[name]
        if t.nbytes is None:
            raise GGUFError("tensor %s: unsupported ggml type %d" % (name, t.type))
        a = self.data_start + t.offset
        return self.mm[a:a + t.nbytes]

    def tensor(self, name):
        """Dequantised tensor as float64, numpy shape = reversed(ne) (row-major, ne[0] last)."""
        t = self.tensors[name]
        flat = dequantize(self.raw(name), t.type, t.n_elements)
        return flat.reshape(tuple(reversed(t.ne)))


# --------------------------------------------------------------------------
# Dequantisation (ggml block layouts) -> float64
# --------------------------------------------------------------------------
# Block structs as ggml declares them (all little-endian, packed, f16 = IEEE half):
#   Q8_0 {f16 d; i8 qs[32]}                      x = d*q
#   Q4_0 {f16 d; u8 qs[16]}                      x = d*(q-8)      q[j] = qs[j]&15, q[j+16] = qs[j]>>4
#   Q4_1 {f16 d, m; u8 qs[16]}                   x = d*q + m      (nibbles as Q4_0)
#   Q5_0 {f16 d; u32 qh; u8 qs[16]}              x = d*(q-16)     bit e of qh = bit 4 of q[e]
#   Q5_1 {f16 d, m; u32 qh; u8 qs[16]}           x = d*q + m
# K-quants, super-blocks of 256:
#   Q2_K {u8 scales[16]; u8 qs[64]; f16 d, dmin}        16 sub-blocks of 16, x = d*sc*q - dmin*mn
#   Q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d} 16 sub-blocks of 16, x = d*(sc-32)*(q-4*(1-hbit))
#   Q4_K {f16 d, dmin; u8 scales[12]; u8 qs[128]}        8 sub-blocks of 32,  x = d*sc*q - dmin*mn
#   Q5_K {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}
#   Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}   16 sub-blocks of 16, x = d*sc*(q-32)
# The element orderings are spelled out next to the helpers below.  Everything is computed in float64, where
# these products and differences are exact; ggml's own float32 dequantisation can differ by f32 rounding.

_Q8_0_DT = np.dtype([("d", "<f2"), ("qs", "i1", (32,))])
_Q4_0_DT = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_Q4_1_DT = np.dtype([("d", "<f2"), ("m", "<f2"), ("qs", "u1", (16,))])
_Q5_0_DT = np.dtype([("d", "<f2"), ("qh", "<u4"), ("qs", "u1", (16,))])
_Q5_1_DT = np.dtype([("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", (16,))])
_Q2_K_DT = np.dtype([("scales", "u1", (16,)), ("qs", "u1", (64,)), ("d", "<f2"), ("dmin", "<f2")])
_Q3_K_DT = np.dtype([("hmask", "u1", (32,)), ("qs", "u1", (64,)), ("scales", "u1", (12,)), ("d", "<f2")])
_Q4_K_DT = np.dtype([("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", (12,)), ("qs", "u1", (128,))])
_Q5_K_DT = np.dtype([("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", (12,)), ("qh", "u1", (32,)),
                     ("qs", "u1", (128,))])
_Q6_K_DT = np.dtype([("ql", "u1", (128,)), ("qh", "u1", (64,)), ("scales", "i1", (16,)), ("d", "<f2")])
for _dt, _size in ((_Q8_0_DT, 34), (_Q4_0_DT, 18), (_Q4_1_DT, 20), (_Q5_0_DT, 22), (_Q5_1_DT, 24),
                   (_Q2_K_DT, 84), (_Q3_K_DT, 110), (_Q4_K_DT, 144), (_Q5_K_DT, 176), (_Q6_K_DT, 210)):
    assert _dt.itemsize == _size, (_dt, _size)

_BLOCK_DT = {
    GGML_Q8_0: _Q8_0_DT, GGML_Q4_0: _Q4_0_DT, GGML_Q4_1: _Q4_1_DT, GGML_Q5_0: _Q5_0_DT, GGML_Q5_1: _Q5_1_DT,
    GGML_Q2_K: _Q2_K_DT, GGML_Q3_K: _Q3_K_DT, GGML_Q4_K: _Q4_K_DT, GGML_Q5_K: _Q5_K_DT, GGML_Q6_K: _Q6_K_DT,
}


def _nibbles32(qs):
    """(nb, 16) bytes -> (nb, 32) values: element j is the low nibble of byte j, element j+16 the high one."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1)


def _bits32(qh):
    """(nb,) uint32 -> (nb, 32) bits: bit j of qh belongs to element j."""
    return (qh[:, None] >> np.arange(32, dtype=np.uint32)[None, :]) & 1


def _crumbs256(qs):
    """K-quant 2-bit packing, (nb, 64) bytes -> (nb, 256) values.  Element e lies in half h = e // 128,
    j = (e % 128) // 32, l = e % 32: bits 2j..2j+1 of byte 32*h + l."""
    q = qs.reshape(-1, 2, 1, 32) >> (2 * np.arange(4, dtype=np.uint8)).reshape(1, 1, 4, 1)  # (nb, h, j, l)
    return (q & 3).reshape(-1, 256)


def _nibbles256(qs):
    """Q4_K/Q5_K 4-bit packing, (nb, 128) bytes -> (nb, 256) values.  Element e lies in group g = e // 64,
    byte 32*g + e % 32; the low nibble when e % 64 < 32, else the high nibble."""
    q = qs.reshape(-1, 4, 1, 32)
    return np.concatenate([q & 0x0F, q >> 4], axis=2).reshape(-1, 256)  # (nb, g, low/high, l)


def _scale_min_k4(s):
    """Q4_K/Q5_K 12 scale bytes -> (scales, mins), each (nb, 8) 6-bit values for the 8 sub-blocks of 32.
    Sub-block j < 4: scale = low 6 bits of byte j, min = low 6 bits of byte j+4.  j >= 4: scale = low nibble
    of byte j+4 | (top 2 bits of byte j-4) << 4, min = high nibble of byte j+4 | (top 2 bits of byte j) << 4."""
    sc = np.empty((s.shape[0], 8), dtype=np.uint8)
    mn = np.empty((s.shape[0], 8), dtype=np.uint8)
    sc[:, :4] = s[:, 0:4] & 63
    mn[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def _q3_k_scales(s):
    """Q3_K 12 scale bytes -> (nb, 16) signed scales for the 16 sub-blocks of 16.  Scale j: low 4 bits are
    the low nibble of byte j (j < 8) or the high nibble of byte j-8 (j >= 8); bits 4..5 are bits
    2*(j//4)..2*(j//4)+1 of byte 8 + j%4; the 6-bit value minus 32."""
    j = np.arange(16)
    low = np.concatenate([s[:, 0:8] & 0x0F, s[:, 0:8] >> 4], axis=1)
    high = (s[:, 8 + j % 4] >> (2 * (j // 4)).astype(np.uint8)) & 3
    return (low | (high << 4)).astype(np.int64) - 32


def dequantize(raw, ttype, n):
    raw = np.asarray(raw, dtype=np.uint8)
    if ttype == GGML_F32:
        return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float64)
    if ttype == GGML_F16:
        return np.frombuffer(raw, dtype="<f2", count=n).astype(np.float64)
    if ttype == GGML_BF16:
        u = np.frombuffer(raw, dtype="<u2", count=n).astype(np.uint32) << 16
        return u.view(np.float32).astype(np.float64)
    if ttype not in _BLOCK_DT:
        raise GGUFError("unsupported ggml type %d" % ttype)
    blk = GGML_TYPES[ttype][1]
    b = np.frombuffer(raw, dtype=_BLOCK_DT[ttype], count=n // blk)
    f = np.float64
    if ttype == GGML_Q8_0:
        x = b["d"].astype(f)[:, None] * b["qs"].astype(f)
    elif ttype == GGML_Q4_0:
        x = b["d"].astype(f)[:, None] * (_nibbles32(b["qs"]).astype(f) - 8.0)
    elif ttype == GGML_Q4_1:
        x = b["d"].astype(f)[:, None] * _nibbles32(b["qs"]).astype(f) + b["m"].astype(f)[:, None]
    elif ttype in (GGML_Q5_0, GGML_Q5_1):
        q = (_nibbles32(b["qs"]) | (_bits32(b["qh"]) << 4).astype(np.uint8)).astype(f)
        if ttype == GGML_Q5_0:
            x = b["d"].astype(f)[:, None] * (q - 16.0)
        else:
            x = b["d"].astype(f)[:, None] * q + b["m"].astype(f)[:, None]
    elif ttype == GGML_Q2_K:
        # 16 sub-blocks of 16: byte j = scale (low nibble) | min (high nibble) of sub-block j
        sc = np.repeat((b["scales"] & 0x0F).astype(f), 16, axis=1)
        mn = np.repeat((b["scales"] >> 4).astype(f), 16, axis=1)
        q = _crumbs256(b["qs"]).astype(f)
        x = b["d"].astype(f)[:, None] * sc * q - b["dmin"].astype(f)[:, None] * mn
    elif ttype == GGML_Q3_K:
        sc = np.repeat(_q3_k_scales(b["scales"]).astype(f), 16, axis=1)
        # high bit of element e: bit e // 32 of hmask[e % 32]; a clear bit subtracts 4
        hb = (b["hmask"][:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1  # (nb, e//32, e%32)
        q = _crumbs256(b["qs"]).astype(f) - 4.0 * (1 - hb.reshape(-1, 256)).astype(f)
        x = b["d"].astype(f)[:, None] * sc * q
    elif ttype in (GGML_Q4_K, GGML_Q5_K):
        sc, mn = _scale_min_k4(b["scales"])
        sc = np.repeat(sc.astype(f), 32, axis=1)
        mn = np.repeat(mn.astype(f), 32, axis=1)
        q = _nibbles256(b["qs"]).astype(f)
        if ttype == GGML_Q5_K:
            # 5th bit of element e: bit e // 32 of qh[e % 32]
            hb = (b["qh"][:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1
            q = q + 16.0 * hb.reshape(-1, 256).astype(f)
        x = b["d"].astype(f)[:, None] * sc * q - b["dmin"].astype(f)[:, None] * mn
    elif ttype == GGML_Q6_K:
        # element e: half h = e // 128, k = (e % 128) // 32, l = e % 32.
        # low 4 bits: byte 64*h + 32*(k & 1) + l of ql, low nibble for k < 2, high nibble for k >= 2;
        # high 2 bits: bits 2k..2k+1 of byte 32*h + l of qh.  Value minus 32; 16 int8 scales, sub-block e // 16.
        ql = b["ql"].reshape(-1, 2, 1, 2, 32)                                   # (nb, h, -, k&1, l)
        low = np.concatenate([ql & 0x0F, ql >> 4], axis=2).reshape(-1, 2, 4, 32)  # (nb, h, k, l)
        qh = b["qh"].reshape(-1, 2, 1, 32) >> (2 * np.arange(4, dtype=np.uint8)).reshape(1, 1, 4, 1)
        q = (low | ((qh & 3) << 4)).reshape(-1, 256).astype(f) - 32.0
        sc = np.repeat(b["scales"].astype(f), 16, axis=1)
        x = b["d"].astype(f)[:, None] * sc * q
    return x.reshape(-1)


# --------------------------------------------------------------------------
# llama model
# --------------------------------------------------------------------------

# Architectures of the llama family, as llama.cpp's GGUF files describe them (tensor names from its
# llama-arch.cpp tables, RoPE style from llama_model_rope_type):
#   llama, mistral: attn_q/k/v, ffn_gate/up/down; RoPE rotates adjacent pairs (x[2i], x[2i+1]) ("normal").
#   qwen2:  as llama plus F32 biases attn_q.bias / attn_k.bias / attn_v.bias added to the projections; NeoX RoPE,
#           which rotates (x[i], x[i + n_rot/2]).
#   qwen3:  as llama plus attn_q_norm.weight / attn_k_norm.weight (head_dim): RMSNorm of every Q and K head (same
#           epsilon) before RoPE; head_dim from attention.key_length, may differ from n_embd / n_head; NeoX RoPE.
#   phi3:   attn_qkv.weight [E, q_dim + 2 kv_dim] whose output rows are Q, then K, then V; ffn_up.weight [E, 2 F]
#           whose first F outputs are the gate and the next F the up projection (no ffn_gate); NeoX RoPE.
#           rope_factors_long/short (LongRoPE, the 128k variants) are not modelled here and are refused.
ARCHS = {
    #          neox   qkv_bias qk_norm fused
    "llama":   (False, False, False, False),
    "mistral": (False, False, False, False),
    "qwen2":   (True, True, False, False),
    "qwen3":   (True, False, True, False),
    "phi3":    (True, False, False, True),
}


class LlamaRef:
    def __init__(self, path, kv_f16=True):
        g = GGUFFile(path)
        self.g = g
        self.kv_f16 = kv_f16
        arch = g.get("general.architecture")
        if arch not in ARCHS:
            raise GGUFError("general.architecture is %r, not one of %s" % (arch, ", ".join(ARCHS)))
        self.arch = arch
        self.neox, self.qkv_bias, self.qk_norm, self.fused = ARCHS[arch]
        p = arch + "."

        def need(key):
            if p + key not in g.kv:
                raise GGUFError("missing key %s%s" % (p, key))
            return g.kv[p + key]

        self.n_embd = int(need("embedding_length"))
        self.n_layer = int(need("block_count"))
        self.n_ff = int(need("feed_forward_length"))
        self.n_head = int(need("attention.head_count"))
        self.n_head_kv = int(g.get(p + "attention.head_count_kv", self.n_head))
        self.eps = float(need("attention.layer_norm_rms_epsilon"))
        self.freq_base = float(g.get(p + "rope.freq_base", 10000.0))
        self.head_dim = int(g.get(p + "attention.key_length", self.n_embd // self.n_head))
        vdim = int(g.get(p + "attention.value_length", self.head_dim))
        if vdim != self.head_dim:
            raise GGUFError("key_length != value_length not supported")
        self.n_rot = int(g.get(p + "rope.dimension_count", self.head_dim))
        self.n_ctx_train = int(g.get(p + "context_length", 0))
        if self.n_head % self.n_head_kv:
            raise GGUFError("head_count %d not a multiple of head_count_kv %d" % (self.n_head, self.n_head_kv))
        if self.n_rot % 2 or self.n_rot > self.head_dim:
            raise GGUFError("bad rope.dimension_count %d" % self.n_rot)
        scaling_type = g.get(p + "rope.scaling.type", None)
        self.freq_scale = 1.0
        if scaling_type in (None, "none"):
            # old-style key, if present
            lin = g.get(p + "rope.scale_linear", None)
            if lin is not None and float(lin) != 0.0:
                self.freq_scale = 1.0 / float(lin)
        elif scaling_type == "linear":
            factor = float(g.get(p + "rope.scaling.factor", 1.0))
            if factor != 0.0:
                self.freq_scale = 1.0 / factor
        else:
            raise GGUFError("rope.scaling.type %r not supported" % (scaling_type,))
        if "rope_freqs.weight" in g.tensors:
            raise GGUFError("rope_freqs.weight (llama3 rope factors) not supported")
        for name in ("rope_factors_long.weight", "rope_factors_short.weight"):
            if name in g.tensors:
                raise GGUFError("%s (LongRoPE) not supported" % name)

        used = set()

        def W(name, shape_ne):
            if name not in g.tensors:
                raise GGUFError("missing tensor %s" % name)
            t = g.tensors[name]
            if list(t.ne) != list(shape_ne):
                raise GGUFError("tensor %s: ne %s, expected %s" % (name, t.ne, shape_ne))
            used.add(name)
            return g.tensor(name)

        E, F, H, KV, D = self.n_embd, self.n_ff, self.n_head, self.n_head_kv, self.head_dim
        te = g.tensors.get("token_embd.weight")
        if te is None:
            raise GGUFError("missing tensor token_embd.weight")
        self.n_vocab = int(te.ne[1])
        self.tok_embd = W("token_embd.weight", [E, self.n_vocab])
        self.out_norm = W("output_norm.weight", [E])
        if "output.weight" in g.tensors:
            self.output = W("output.weight", [E, self.n_vocab])
            self.tied = False
        else:
            self.output = self.tok_embd
            self.tied = True
        self.layers = []
        for i in range(self.n_layer):
            b = "blk.%d." % i
            ly = dict(attn_norm=W(b + "attn_norm.weight", [E]),
                      wo=W(b + "attn_output.weight", [H * D, E]),
                      ffn_norm=W(b + "ffn_norm.weight", [E]),
                      w_down=W(b + "ffn_down.weight", [F, E]))
            if self.fused:
                # numpy shape (out rows, E): rows [0, H*D) are Q, the next KV*D K, the last KV*D V
                wqkv = W(b + "attn_qkv.weight", [E, H * D + 2 * KV * D])
                ly["wq"], ly["wk"], ly["wv"] = wqkv[:H * D], wqkv[H * D:H * D + KV * D], wqkv[H * D + KV * D:]
                gate_up = W(b + "ffn_up.weight", [E, 2 * F])
                ly["w_gate"], ly["w_up"] = gate_up[:F], gate_up[F:]
            else:
                ly["wq"] = W(b + "attn_q.weight", [E, H * D])
                ly["wk"] = W(b + "attn_k.weight", [E, KV * D])
                ly["wv"] = W(b + "attn_v.weight", [E, KV * D])
                ly["w_gate"] = W(b + "ffn_gate.weight", [E, F])
                ly["w_up"] = W(b + "ffn_up.weight", [E, F])
            if self.qkv_bias:
                ly["bq"] = W(b + "attn_q.bias", [H * D])
                ly["bk"] = W(b + "attn_k.bias", [KV * D])
                ly["bv"] = W(b + "attn_v.bias", [KV * D])
            if self.qk_norm:
                ly["q_norm"] = W(b + "attn_q_norm.weight", [D])
                ly["k_norm"] = W(b + "attn_k_norm.weight", [D])
            self.layers.append(ly)
        unused = [n for n in g.tensor_order if n not in used]
        if unused:
            raise GGUFError("tensors not understood by this reference: %s" % ", ".join(unused[:8]))
        # rope inverse frequencies: freq_base^(-2i/n_rot)
        i = np.arange(self.n_rot // 2, dtype=np.float64)
        self.inv_freq = self.freq_base ** (-2.0 * i / self.n_rot)
        self.reset()

    def reset(self):
        self.k_cache = [np.zeros((self.n_head_kv, 0, self.head_dim)) for _ in range(self.n_layer)]
        self.v_cache = [np.zeros((self.n_head_kv, 0, self.head_dim)) for _ in range(self.n_layer)]
        self.n_past = 0

    def rmsnorm(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def rope(self, x, pos):
        """x: (T, heads, head_dim); pos: (T,) ints.  Rotation i (angle pos * inv_freq[i]) turns the pair
        (x[2i], x[2i+1]) (GGML mode 0, llama) or, NeoX-style (mode 2), (x[i], x[i + n_rot/2]); dims >= n_rot pass."""
        theta = (pos.astype(np.float64) * self.freq_scale)[:, None] * self.inv_freq[None, :]  # (T, n_rot/2)
        c = np.cos(theta)[:, None, :]
        s = np.sin(theta)[:, None, :]
        out = x.copy()
        half = self.n_rot // 2
        if self.neox:
            first, second = slice(0, half), slice(half, self.n_rot)
        else:
            first, second = slice(0, self.n_rot, 2), slice(1, self.n_rot, 2)
        x0 = x[:, :, first]
        x1 = x[:, :, second]
        out[:, :, first] = x0 * c - x1 * s
        out[:, :, second] = x0 * s + x1 * c
        return out

    def forward(self, tokens):
        """Feed tokens at positions n_past.. ; return logits (T, n_vocab) float64."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 1 or len(tokens) == 0:
            raise ValueError("need a non-empty 1-D token list")
        if tokens.min() < 0 or tokens.max() >= self.n_vocab:
            raise ValueError("token id out of range [0, %d)" % self.n_vocab)
        T = len(tokens)
        H, KV, D = self.n_head, self.n_head_kv, self.head_dim
        G = H // KV
        pos = np.arange(self.n_past, self.n_past + T)
        L = self.n_past + T
        # causal mask: query at pos[t] sees keys 0..pos[t]
        mask = np.arange(L)[None, :] > pos[:, None]  # (T, L) True = hidden
        x = self.tok_embd[tokens].copy()  # (T, E)
        scale = 1.0 / math.sqrt(D)
        for li, ly in enumerate(self.layers):
            h = self.rmsnorm(x, ly["attn_norm"])
            q = h @ ly["wq"].T
            k = h @ ly["wk"].T
            v = h @ ly["wv"].T
            if self.qkv_bias:
                q, k, v = q + ly["bq"], k + ly["bk"], v + ly["bv"]
            q = q.reshape(T, H, D)
            k = k.reshape(T, KV, D)
            v = v.reshape(T, KV, D)
            if self.qk_norm:  # every head on its own, over its D values
                q = self.rmsnorm(q, ly["q_norm"])
                k = self.rmsnorm(k, ly["k_norm"])
            q = self.rope(q, pos)
            k = self.rope(k, pos)
            if self.kv_f16:
                k = k.astype(np.float16).astype(np.float64)
                v = v.astype(np.float16).astype(np.float64)
            self.k_cache[li] = np.concatenate([self.k_cache[li], k.transpose(1, 0, 2)], axis=1)  # (KV, L, D)
            self.v_cache[li] = np.concatenate([self.v_cache[li], v.transpose(1, 0, 2)], axis=1)
            K = self.k_cache[li]
            V = self.v_cache[li]
            # query head h = kv*G + g uses kv head h // G
            qg = q.transpose(1, 0, 2).reshape(KV, G, T, D)
            sc = np.einsum("kgtd,kld->kgtl", qg, K) * scale  # (KV, G, T, L)
            sc = np.where(mask[None, None], -np.inf, sc)
            sc = sc - sc.max(axis=-1, keepdims=True)
            p = np.exp(sc)
            p /= p.sum(axis=-1, keepdims=True)
            o = np.einsum("kgtl,kld->kgtd", p, V)  # (KV, G, T, D)
            o = o.reshape(H, T, D).transpose(1, 0, 2).reshape(T, H * D)
            x = x + o @ ly["wo"].T
            h = self.rmsnorm(x, ly["ffn_norm"])
            gt = h @ ly["w_gate"].T
            up = h @ ly["w_up"].T
            act = gt / (1.0 + np.exp(-gt)) * up  # silu(gate) * up
            x = x + act @ ly["w_down"].T
        self.n_past = L
        x = self.rmsnorm(x, self.out_norm)
        return x @ self.output.T

    def generate(self, prompt, steps, stop_at_bos=False):
        """Greedy.  Returns (picks list, logits array (n, n_vocab))."""
        self.reset()
        bos = self.bos_id()
        picks, rows = [], []
        logits = self.forward(prompt)[-1]
        for i in range(steps):
            t = int(np.argmax(logits))  # first maximum -> lowest id on ties
            picks.append(t)
            rows.append(logits)
            if stop_at_bos and bos is not None and t == bos:
                break
            if i + 1 < steps:
                logits = self.forward([t])[-1]
        arr = np.array(rows, dtype=np.float64).reshape(len(rows), self.n_vocab)
        return picks, arr

    def bos_id(self):
        b = self.g.get("tokenizer.ggml.bos_token_id")
        return None if b is None else int(b)


# --------------------------------------------------------------------------
# Detokenisation (SentencePiece-style vocab), for checking by eye
# --------------------------------------------------------------------------

def detokenize(g, ids):
    """Bytes for ids.  Control tokens (type 3) and BOS/EOS give nothing; the leading
    space of the piece right after BOS is dropped."""
    toks = g.get("tokenizer.ggml.tokens")
    if toks is None:
        raise GGUFError("no tokenizer.ggml.tokens")
    types = g.get("tokenizer.ggml.token_type")
    bos = g.get("tokenizer.ggml.bos_token_id")
    eos = g.get("tokenizer.ggml.eos_token_id")
    out = bytearray()
    prev = None
    for t in ids:
        t = int(t)
        piece = toks[t]
        ttype = int(types[t]) if types is not None else 1
        if ttype == 3 or t == bos or t == eos:
            prev = t
            continue
        if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
            try:
                b = bytes([int(piece[3:5], 16)])
            except ValueError:
                b = piece.replace("\u2581", " ").encode("utf-8", errors="surrogateescape")
        else:
            b = piece.replace("\u2581", " ").encode("utf-8", errors="surrogateescape")
        if prev is not None and prev == bos and b.startswith(b" "):
            b = b[1:]
        out += b
        prev = t
    return bytes(out)


# --------------------------------------------------------------------------
# Output file
# --------------------------------------------------------------------------

def write_out(path, n_vocab, picks, logits):
    with open(path, "wb") as f:
        f.write(struct.pack("<ii", n_vocab, len(picks)))
        f.write(np.asarray(picks, dtype="<i4").tobytes())
        f.write(np.ascontiguousarray(logits, dtype="<f8").tobytes())


def read_out(path):
    data = open(path, "rb").read()
    n_vocab, steps = struct.unpack_from("<ii", data, 0)
    toks = np.frombuffer(data, dtype="<i4", count=steps, offset=8)
    logits = np.frombuffer(data, dtype="<f8", count=steps * n_vocab, offset=8 + 4 * steps).reshape(steps, n_vocab)
    return n_vocab, toks, logits


# --------------------------------------------------------------------------
# Self-tests
# --------------------------------------------------------------------------

GOLDEN_A = (
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
    "One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. "
    "She said, \"I want to play with your ball, but I can't find it.\"\n"
    "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
    "Lily didn't want to help her mom, so she"
)
GOLDEN_B = (
    "Zoo was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, "
    "red ball. She wanted to play with it, but she didn't want to play with"
)
# Step counts (number of greedy picks) that reproduce the golden texts; see README.md.
GOLDEN_A_STEPS = 200   # BOS + 200 picks: positions 0..199 fed; no BOS is picked
GOLDEN_B_PROMPT = [1, 410, 469, 347]
GOLDEN_B_STEPS = 57    # prompt (4) + 57 picks: positions 0..59 fed (the last pick is not fed)


def selftest_stories(path):
    ok = True
    assert len(GOLDEN_A.encode()) == 464
    for kv_f16 in (True, False):
        m = LlamaRef(path, kv_f16=kv_f16)
        tag = "kv-f16" if kv_f16 else "no-kv-f16"
        t0 = time.time()
        picks, logits = m.generate([1], 200, stop_at_bos=True)
        dt = time.time() - t0
        bos = m.bos_id()
        gen = picks[:-1] if picks and picks[-1] == bos else picks
        text = detokenize(m.g, [1] + gen)
        good = text == GOLDEN_A.encode() and len(gen) == GOLDEN_A_STEPS
        print("[%s] A: %d picks (%s), %d bytes, %.2fs: %s" % (
            tag, len(picks), "stopped at BOS" if len(gen) < len(picks) else "no BOS",
            len(text), dt, "MATCH" if good else "MISMATCH"))
        if not good:
            print("  got: %r" % text.decode("utf-8", "replace"))
            ok = False
        picks, logits = m.generate(GOLDEN_B_PROMPT, GOLDEN_B_STEPS, stop_at_bos=True)
        text = detokenize(m.g, GOLDEN_B_PROMPT + picks)
        good = text == GOLDEN_B.encode() and len(picks) == GOLDEN_B_STEPS
        print("[%s] B: %d picks, %d bytes: %s" % (tag, len(picks), len(text), "MATCH" if good else "MISMATCH"))
        if not good:
            print("  got: %r" % text.decode("utf-8", "replace"))
            ok = False
        prompt_text = detokenize(m.g, GOLDEN_B_PROMPT)
        if prompt_text != b"Zoo":
            print("  prompt decodes to %r, expected 'Zoo'" % prompt_text)
            ok = False
    # the batched prompt path and the one-token path must agree
    m = LlamaRef(path, kv_f16=True)
    seq = [1, 410, 469, 347, 5, 77, 300]
    a = m.forward(seq)
    m.reset()
    b = np.concatenate([m.forward([t]) for t in seq])
    err = float(np.max(np.abs(a - b)))
    print("batch vs token-by-token max |diff| = %.3g: %s" % (err, "OK" if err < 1e-9 else "FAIL"))
    ok = ok and err < 1e-9
    print("selftest-stories:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def _f16_bytes(x):
    return np.asarray(x, dtype="<f2").tobytes()


# ---- test-only block packers, written element by element from the ggml block layouts ----
# Each takes the field values of ONE block and returns its bytes.  They are deliberately plain loops over
# elements (not the reshapes used by dequantize()), so the self-test compares two independent readings.

def _u16le(v):
    return struct.pack("<H", v)


def _pack_q4_1(d, m, q):
    """q: 32 values 0..15.  Byte j = q[j] | q[j+16] << 4."""
    qs = bytearray(16)
    for e in range(32):
        qs[e % 16] |= int(q[e]) << (4 * (e // 16))
    return _f16_bytes(d) + _f16_bytes(m) + bytes(qs)


def _pack_q5(d, m, q):
    """Q5_0 (m None; q 0..31, value d*(q-16)) or Q5_1 (value d*q+m).  Bit e of the u32 qh = bit 4 of q[e]."""
    qs = bytearray(16)
    qh = 0
    for e in range(32):
        qs[e % 16] |= (int(q[e]) & 15) << (4 * (e // 16))
        qh |= ((int(q[e]) >> 4) & 1) << e
    head = _f16_bytes(d) + (b"" if m is None else _f16_bytes(m))
    return head + struct.pack("<I", qh) + bytes(qs)


def _pack_crumbs256(q):
    """2-bit K-quant packing of 256 values 0..3: element e -> byte 32*(e//128) + e%32, bits 2*((e%128)//32)."""
    qs = bytearray(64)
    for e in range(256):
        qs[32 * (e // 128) + e % 32] |= (int(q[e]) & 3) << (2 * ((e % 128) // 32))
    return qs


def _pack_q2_k(d, dmin, sc, mn, q):
    """sc, mn: 16 values 0..15 (sub-blocks of 16); q: 256 values 0..3; value d*sc*q - dmin*mn."""
    scales = bytes([int(sc[j]) | (int(mn[j]) << 4) for j in range(16)])
    return scales + bytes(_pack_crumbs256(q)) + _f16_bytes(d) + _f16_bytes(dmin)


def _pack_q3_k(d, sc, q):
    """sc: 16 values -32..31; q: 256 values -4..3; value d*sc*q.  Stored: u = q+4, low 2 bits like Q2_K,
    bit 2 in hmask[e%32] bit e//32; 6-bit scale+32: low nibble in byte j (j<8) / high nibble of byte j-8,
    top 2 bits in byte 8 + j%4 at bit 2*(j//4)."""
    u = [int(v) + 4 for v in q]
    hmask = bytearray(32)
    for e in range(256):
        hmask[e % 32] |= (u[e] >> 2) << (e // 32)
    s = bytearray(12)
    for j in range(16):
        r = int(sc[j]) + 32
        if j < 8:
            s[j] |= r & 15
        else:
            s[j - 8] |= (r & 15) << 4
        s[8 + j % 4] |= (r >> 4) << (2 * (j // 4))
    return bytes(hmask) + bytes(_pack_crumbs256([v & 3 for v in u])) + bytes(s) + _f16_bytes(d)


def _pack_scale_min_k4(sc, mn):
    """8 scales and 8 mins (0..63) -> the 12 bytes of Q4_K/Q5_K."""
    s = bytearray(12)
    for j in range(8):
        if j < 4:
            s[j] |= int(sc[j])
            s[j + 4] |= int(mn[j])
        else:
            s[j + 4] |= (int(sc[j]) & 15) | ((int(mn[j]) & 15) << 4)
            s[j - 4] |= (int(sc[j]) >> 4) << 6
            s[j] |= (int(mn[j]) >> 4) << 6
    return bytes(s)


def _pack_q4_k(d, dmin, sc, mn, q):
    """sc, mn: 8 values 0..63 (sub-blocks of 32); q: 256 values 0..15; value d*sc*q - dmin*mn.
    Element e -> byte 32*(e//64) + e%32 of qs, low nibble if e%64 < 32 else high nibble."""
    qs = bytearray(128)
    for e in range(256):
        qs[32 * (e // 64) + e % 32] |= (int(q[e]) & 15) << (4 * ((e % 64) // 32))
    return _f16_bytes(d) + _f16_bytes(dmin) + _pack_scale_min_k4(sc, mn) + bytes(qs)


def _pack_q5_k(d, dmin, sc, mn, q):
    """As Q4_K with q 0..31; bit 4 of q[e] in qh[e%32] bit e//32."""
    qs = bytearray(128)
    qh = bytearray(32)
    for e in range(256):
        qs[32 * (e // 64) + e % 32] |= (int(q[e]) & 15) << (4 * ((e % 64) // 32))
        qh[e % 32] |= (int(q[e]) >> 4) << (e // 32)
    return _f16_bytes(d) + _f16_bytes(dmin) + _pack_scale_min_k4(sc, mn) + bytes(qh) + bytes(qs)


def _pack_q6_k(d, sc, q):
    """sc: 16 int8 (sub-blocks of 16); q: 256 values -32..31; value d*sc*q.  u = q+32; element e: h = e//128,
    k = (e%128)//32, l = e%32; low 4 bits in ql[64h + 32*(k%2) + l] (low nibble for k<2, high for k>=2),
    top 2 bits in qh[32h + l] at bit 2k."""
    ql = bytearray(128)
    qh = bytearray(64)
    for e in range(256):
        u = int(q[e]) + 32
        h, k, l = e // 128, (e % 128) // 32, e % 32
        ql[64 * h + 32 * (k % 2) + l] |= (u & 15) << (4 * (k // 2))
        qh[32 * h + l] |= (u >> 4) << (2 * k)
    return bytes(ql) + bytes(qh) + np.asarray(sc, dtype=np.int8).tobytes() + _f16_bytes(d)


def _rand_quant(ttype, n, rng, mag=1.0):
    """Random blocks of a quantised type: (bytes, float64 values from the per-element formula).
    mag: rough magnitude of the values."""
    blk = GGML_TYPES[ttype][1]
    data, vals = [], []
    f16 = lambda v: float(np.float16(v))  # noqa: E731  (the value the f16 field will hold)
    for _ in range(n // blk):
        if ttype == GGML_Q8_0:
            d = f16(mag / 127 * (0.5 + rng.random()))
            q = rng.integers(-128, 128, 32)
            data.append(_f16_bytes(d) + q.astype(np.int8).tobytes())
            vals += [d * v for v in q]
        elif ttype == GGML_Q4_0:
            d = f16(mag / 8 * (0.5 + rng.random()))
            q = rng.integers(0, 16, 32)
            qs = bytes([int(q[j]) | (int(q[j + 16]) << 4) for j in range(16)])
            data.append(_f16_bytes(d) + qs)
            vals += [d * (v - 8) for v in q]
        elif ttype == GGML_Q4_1:
            d, m = f16(mag / 8 * (0.5 + rng.random())), f16(-mag * rng.random())
            q = rng.integers(0, 16, 32)
            data.append(_pack_q4_1(d, m, q))
            vals += [d * v + m for v in q]
        elif ttype == GGML_Q5_0:
            d = f16(mag / 16 * (0.5 + rng.random()))
            q = rng.integers(0, 32, 32)
            data.append(_pack_q5(d, None, q))
            vals += [d * (v - 16) for v in q]
        elif ttype == GGML_Q5_1:
            d, m = f16(mag / 16 * (0.5 + rng.random())), f16(-mag * rng.random())
            q = rng.integers(0, 32, 32)
            data.append(_pack_q5(d, m, q))
            vals += [d * v + m for v in q]
        elif ttype == GGML_Q2_K:
            d, dmin = f16(mag / 30 * (0.5 + rng.random())), f16(mag / 15 * rng.random())
            sc, mn, q = rng.integers(0, 16, 16), rng.integers(0, 16, 16), rng.integers(0, 4, 256)
            data.append(_pack_q2_k(d, dmin, sc, mn, q))
            vals += [d * sc[e // 16] * q[e] - dmin * mn[e // 16] for e in range(256)]
        elif ttype == GGML_Q3_K:
            d = f16(mag / 100 * (0.5 + rng.random()))
            sc, q = rng.integers(-32, 32, 16), rng.integers(-4, 4, 256)
            data.append(_pack_q3_k(d, sc, q))
            vals += [d * sc[e // 16] * q[e] for e in range(256)]
        elif ttype in (GGML_Q4_K, GGML_Q5_K):
            top = 16 if ttype == GGML_Q4_K else 32
            d, dmin = f16(mag / (63 * top) * (0.5 + rng.random())), f16(mag / 63 * rng.random())
            sc, mn, q = rng.integers(0, 64, 8), rng.integers(0, 64, 8), rng.integers(0, top, 256)
            pack = _pack_q4_k if ttype == GGML_Q4_K else _pack_q5_k
            data.append(pack(d, dmin, sc, mn, q))
            vals += [d * sc[e // 32] * q[e] - dmin * mn[e // 32] for e in range(256)]
        elif ttype == GGML_Q6_K:
            d = f16(mag / 4000 * (0.5 + rng.random()))
            sc, q = rng.integers(-128, 128, 16), rng.integers(-32, 32, 256)
            data.append(_pack_q6_k(d, sc, q))
            vals += [d * float(sc[e // 16]) * q[e] for e in range(256)]
        else:
            raise ValueError(ttype)
    return b"".join(data), np.array(vals, dtype=np.float64)


def _hand_block(size, fields):
    """A block of `size` zero bytes with fields put at byte offsets: {offset: int byte | ('f16', value)}."""
    b = bytearray(size)
    for off, v in fields.items():
        if isinstance(v, tuple):
            b[off:off + 2] = _f16_bytes(v[1])
        else:
            b[off] = v
    return bytes(b)


def _hand_cases():
    """(name, type, block bytes, expected 32/256 values) with every number worked out by hand from the
    layouts; the comments give the reasoning.  Offsets are byte offsets inside one block."""
    cases = []
    # Q4_1 {f16 d @0, f16 m @2, qs[16] @4}: x = d*q + m.
    # qs[3] = 0x59: element 3 gets the low nibble 9 -> 2*9 + 0.5; element 19 the high nibble 5 -> 2*5 + 0.5;
    # every other element has q = 0 -> m = 0.5.
    exp = np.full(32, 0.5)
    exp[3], exp[19] = 18.5, 10.5
    cases.append(("Q4_1", GGML_Q4_1, _hand_block(20, {0: ("f16", 2.0), 2: ("f16", 0.5), 4 + 3: 0x59}), exp))
    # Q5_0 {f16 d @0, u32 qh @2, qs[16] @6}: x = d*(q - 16), d = 1.  All-zero quants -> -16.
    # qs[2] = 0x37: element 2 low nibble 7, element 18 high nibble 3.  qh byte 0 = 0x04 -> bit 2 -> element 2
    # gets +16 -> 7 + 16 - 16 = 7; element 18 -> 3 - 16 = -13.  qh byte 2 = 0x01 -> bit 16 -> element 16: 0.
    exp = np.full(32, -16.0)
    exp[2], exp[18], exp[16] = 7, -13, 0
    cases.append(("Q5_0", GGML_Q5_0, _hand_block(22, {0: ("f16", 1.0), 2: 0x04, 4: 0x01, 6 + 2: 0x37}), exp))
    # Q5_1 {f16 d @0, f16 m @2, u32 qh @4, qs[16] @8}: x = d*q + m, d = 0.5, m = -1.
    # qs[15] = 0xF3: element 15 low 3 -> 0.5; element 31 high 15.  qh byte 3 = 0x80 -> bit 31 -> element 31
    # q = 31 -> 14.5.  qh byte 1 = 0x40 -> bit 14 -> element 14 q = 16 -> 7.  Others q = 0 -> -1.
    exp = np.full(32, -1.0)
    exp[15], exp[31], exp[14] = 0.5, 14.5, 7
    cases.append(("Q5_1", GGML_Q5_1, _hand_block(24, {0: ("f16", 0.5), 2: ("f16", -1.0), 5: 0x40, 7: 0x80,
                                                      8 + 15: 0xF3}), exp))
    # Q2_K {scales[16] @0, qs[64] @16, f16 d @80, f16 dmin @82}: x = d*sc*q - dmin*mn, d = dmin = 1.
    # scales[5] = 0x23: sub-block 5 (elements 80..95) scale 3, min 2 -> q = 0 gives -2.
    # element 85: half 0, (85 % 128) // 32 = 2 -> bits 4..5, byte 85 % 32 = 21: qs[21] = 0x30 -> q = 3 -> 7.
    # scales[12] = 0x15: elements 192..207 scale 5, min 1 -> -1.  element 200: half 1, (72 // 32) = 2 ->
    # bits 4..5 of byte 32 + 8 = 40: qs[40] = 0x20 -> q = 2 -> 9.  (Bytes 21 and 40 hold other elements in
    # their other bit pairs, whose sub-blocks have scale and min 0.)
    exp = np.zeros(256)
    exp[80:96], exp[85] = -2, 7
    exp[192:208], exp[200] = -1, 9
    cases.append(("Q2_K", GGML_Q2_K, _hand_block(84, {5: 0x23, 12: 0x15, 16 + 21: 0x30, 16 + 40: 0x20,
                                                      80: ("f16", 1.0), 82: ("f16", 1.0)}), exp))
    # Q3_K {hmask[32] @0, qs[64] @32, scales[12] @96, f16 d @108}: x = d*(sc - 32)*q3, d = 1,
    # q3 = low 2 bits - (4 if the hmask bit is clear else 0).
    # All scales stored as 32 (-> 0): low nibbles 0 (bytes 0..7 = 0), top bits 0b10 everywhere
    # (bytes 8..11 = 0xAA).  So the base block decodes to all zeros.
    # Scale 13 = 37 - 32 = 5: low nibble 5 goes to the high nibble of byte 13 - 8 = 5 (0x50); its top bits
    # (byte 8 + 13 % 4 = 9, bits 2*(13 // 4) = 6..7) stay 0b10.  Elements 208..223: q3 = 0 - 4 -> -20.
    # Element 210: hmask[210 % 32 = 18] bit 210 // 32 = 6 (0x40) -> q3 = 0 -> 0.
    # Element 215: low bits 3 in byte 32 + 23 = 55 (half 1, (87 // 32) = 2 -> bits 4..5: 0x30) and
    # hmask[23] bit 6 (0x40) -> q3 = 3 -> 15.
    # Scale 2 = 25 - 32 = -7 (25 = 0b01_1001): low nibble 9 in byte 2; top bits 0b01 in byte 10 bits 0..1
    # -> byte 10 = 0xA9.  Elements 32..47: q3 = -4 -> 28.  Element 40: half 0, (40 // 32) = 1 -> bits 2..3
    # of byte 8: qs[8] = 0x04 -> low 1, hmask clear -> q3 = -3 -> 21.
    exp = np.zeros(256)
    exp[208:224], exp[210], exp[215] = -20, 0, 15
    exp[32:48], exp[40] = 28, 21
    f = {96 + 8: 0xAA, 96 + 9: 0xAA, 96 + 10: 0xA9, 96 + 11: 0xAA, 96 + 5: 0x50, 96 + 2: 0x09,
         18: 0x40, 23: 0x40, 32 + 55: 0x30, 32 + 8: 0x04, 108: ("f16", 1.0)}
    cases.append(("Q3_K", GGML_Q3_K, _hand_block(110, f), exp))
    # Q4_K {f16 d @0, f16 dmin @2, scales[12] @4, qs[128] @16}: x = d*sc*q - dmin*mn, d = 1, dmin = 0.5.
    # Sub-block 1 (elements 32..63): scale = byte 1 & 63 = 7, min = byte 5 & 63 = 4 -> q = 0 gives -2.
    # Element 33: group 0, 33 % 64 >= 32 -> high nibble of qs[1] = 0xA0 -> q = 10 -> 70 - 2 = 68.
    # Sub-block 6 (elements 192..223): scale = (byte 10 & 15) | (byte 2 >> 6) << 4 = 3 | 2 << 4 = 35
    # (byte 10 = 0x13, byte 2 = 0x80); min = (byte 10 >> 4) | (byte 6 >> 6) << 4 = 1 | 1 << 4 = 17
    # (byte 6 = 0x40) -> q = 0 gives -8.5.  (Bytes 2 and 6 have low 6 bits 0: sub-block 2 stays 0.)
    # Element 200: group 3, 200 % 64 = 8 < 32 -> low nibble of qs[96 + 8] = 0x0F -> 35*15 - 8.5 = 516.5.
    exp = np.zeros(256)
    exp[32:64], exp[33] = -2, 68
    exp[192:224], exp[200] = -8.5, 516.5
    cases.append(("Q4_K", GGML_Q4_K, _hand_block(144, {0: ("f16", 1.0), 2: ("f16", 0.5), 4 + 1: 7, 4 + 5: 4,
                                                       4 + 10: 0x13, 4 + 2: 0x80, 4 + 6: 0x40,
                                                       16 + 1: 0xA0, 16 + 104: 0x0F}), exp))
    # Q5_K {f16 d @0, f16 dmin @2, scales[12] @4, qh[32] @16, qs[128] @48}: d = dmin = 1.
    # Sub-block 3 (96..127): scale = byte 3 & 63 = 2, min = byte 7 & 63 = 3 -> -3.
    # Element 100: group 1, 100 % 64 = 36 >= 32 -> high nibble of qs[32 + 4] = 0x50 (5); its 5th bit is
    # qh[100 % 32 = 4] bit 100 // 32 = 3 (0x08) -> q = 21 -> 42 - 3 = 39.  Element 101: only qh[5] bit 3
    # -> q = 16 -> 29.
    # Sub-block 5 (160..191): scale = (byte 9 & 15) | (byte 1 >> 6) << 4 = 1 | 3 << 4 = 49 (byte 9 = 0x21,
    # byte 1 = 0xC0); min = (byte 9 >> 4) | (byte 5 >> 6) << 4 = 2 -> -2.  Element 191: group 2,
    # 191 % 64 = 63 -> high nibble of qs[64 + 31] = 0xF0, qh[31] bit 5 (0x20) -> q = 31 -> 49*31 - 2 = 1517.
    exp = np.zeros(256)
    exp[96:128], exp[100], exp[101] = -3, 39, 29
    exp[160:192], exp[191] = -2, 1517
    cases.append(("Q5_K", GGML_Q5_K, _hand_block(176, {0: ("f16", 1.0), 2: ("f16", 1.0), 4 + 3: 2, 4 + 7: 3,
                                                       4 + 9: 0x21, 4 + 1: 0xC0, 16 + 4: 0x08, 16 + 5: 0x08,
                                                       16 + 31: 0x20, 48 + 36: 0x50, 48 + 95: 0xF0}), exp))
    # Q6_K {ql[128] @0, qh[64] @128, int8 scales[16] @192, f16 d @208}: x = d*sc*(u - 32), d = 1.
    # Element 33 (half 0, k = 1, l = 1): low 4 bits in ql[32 + 1] low nibble (0x01), top 2 bits in qh[1]
    # bits 2..3 (0x0C -> 3) -> u = 49, q = 17; scale 33 // 16 = 2 set to 2 -> 34; the rest of 32..47: -64.
    # Element 70 (half 0, k = 2, l = 6): ql[6] high nibble (0x70 -> 7), qh[6] bits 4..5 (0x10 -> 1)
    # -> u = 23, q = -9; scale 4 = 1 -> -9; rest of 64..79: -32.
    # Element 150 (half 1, k = 0, l = 22): ql[64 + 22] low nibble (0x05), qh[32 + 22] bits 0..1 (0x02)
    # -> u = 37, q = 5; scale 9 = -3 (0xFD) -> -15; rest of 144..159: 96.
    # Element 250 (half 1, k = 3, l = 26): ql[64 + 32 + 26] high nibble (0xC0 -> 12), qh[32 + 26] bits 6..7
    # (0xC0 -> 3) -> u = 60, q = 28; scale 15 = 100 -> 2800; rest of 240..255: -3200.
    exp = np.zeros(256)
    exp[32:48], exp[33] = -64, 34
    exp[64:80], exp[70] = -32, -9
    exp[144:160], exp[150] = 96, -15
    exp[240:256], exp[250] = -3200, 2800
    cases.append(("Q6_K", GGML_Q6_K, _hand_block(210, {33: 0x01, 128 + 1: 0x0C, 192 + 2: 2,
                                                       6: 0x70, 128 + 6: 0x10, 192 + 4: 1,
                                                       86: 0x05, 128 + 54: 0x02, 192 + 9: 0xFD,
                                                       122: 0xC0, 128 + 58: 0xC0, 192 + 15: 100,
                                                       208: ("f16", 1.0)}), exp))
    return cases


def _write_gguf(path, version, kvs, tensors, alignment=None):
    """Tiny GGUF writer used only by --selftest-format.
    kvs: list of (key, vtype, value[, elem type for arrays]); tensors: list of (name, ne, type, bytes)."""
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b

    def val(vt, v, et=None):
        if vt in _SCALAR_FMT:
            return struct.pack(_SCALAR_FMT[vt], v)
        if vt == T_STR:
            return s(v)
        if vt == T_ARR:
            et, items = v
            out = struct.pack("<IQ", et, len(items))
            for it in items:
                out += val(et, it)
            return out
        raise ValueError(vt)

    align = alignment or 32
    out = bytearray(b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)))
    for key, vt, v in kvs:
        out += s(key) + struct.pack("<I", vt) + val(vt, v)
    offs, off = [], 0
    for name, ne, tt, data in tensors:
        offs.append(off)
        off = (off + len(data) + align - 1) // align * align
    for (name, ne, tt, data), o in zip(tensors, offs):
        out += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", tt, o)
    out += b"\0" * ((-len(out)) % align)
    for (name, ne, tt, data), o in zip(tensors, offs):
        assert len(out) % align == 0
        out += data
        out += b"\0" * ((-len(out)) % align)
    open(path, "wb").write(bytes(out))


def selftest_format():
    """Checks the parser and the dequantisers against hand-built blocks."""
    import os
    import tempfile
    ok = True

    def check(name, cond):
        nonlocal ok
        print("%-40s %s" % (name, "OK" if cond else "FAIL"))
        ok = ok and bool(cond)
        return bool(cond)

    rng = np.random.default_rng(1)
    # F32 2x3 (ne = [3, 2])
    f32 = np.arange(6, dtype="<f4") * 0.5 - 1
    # F16
    f16 = rng.standard_normal(64).astype("<f2")
    # BF16: take float32 values exactly representable in bf16
    bf_vals = (rng.standard_normal(32).astype(np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)
    bf16 = (bf_vals.view(np.uint32) >> 16).astype("<u2")
    # Q8_0: 2 blocks
    q8_d = np.array([0.5, -0.25], dtype="<f2")
    q8_q = rng.integers(-128, 128, size=(2, 32)).astype(np.int8)
    q8 = b"".join(_f16_bytes(q8_d[i]) + q8_q[i].tobytes() for i in range(2))
    q8_expect = (q8_d.astype(np.float64)[:, None] * q8_q).reshape(-1)
    # Q4_0: 2 blocks, element e has nibble q[e]; byte j = q[j] | q[j+16] << 4
    q4_d = np.array([0.125, 3.0], dtype="<f2")
    q4_q = rng.integers(0, 16, size=(2, 32)).astype(np.uint8)
    q4 = b"".join(_f16_bytes(q4_d[i]) + (q4_q[i, :16] | (q4_q[i, 16:] << 4)).astype(np.uint8).tobytes()
                  for i in range(2))
    q4_expect = (q4_d.astype(np.float64)[:, None] * (q4_q.astype(np.float64) - 8)).reshape(-1)
    # explicit single-block Q4_0 check, independent of the generator above
    blk = _f16_bytes(np.float16(1.0)) + bytes([(j & 0xF) | (((15 - j) & 0xF) << 4) for j in range(16)])
    one = dequantize(np.frombuffer(blk, np.uint8), GGML_Q4_0, 32)
    check("Q4_0 nibble order", np.array_equal(one, np.array(list(range(16)) + [15 - j for j in range(16)], float) - 8))
    # hand-built blocks, expectations worked out by hand (see _hand_cases)
    for name, tt, blk, exp in _hand_cases():
        got = dequantize(np.frombuffer(blk, np.uint8), tt, len(exp))
        if not check("%s hand-built block" % name, np.array_equal(got, exp)):
            bad = np.nonzero(got != exp)[0]
            print("  differing elements %s: got %s want %s" % (bad[:8], got[bad[:8]], exp[bad[:8]]))
    # one quant / one scale at a time: for each element e (sampled), a block whose only non-zero quant is at e
    # must decode to zero everywhere except e (types whose zero quant decodes to 0 with min 0)
    single_ok = {}
    for tt in (GGML_Q4_1, GGML_Q5_1, GGML_Q2_K, GGML_Q4_K, GGML_Q5_K):
        good = True
        nel = GGML_TYPES[tt][1]
        for e in range(nel):
            q = np.zeros(nel, dtype=np.int64)
            qmax = {GGML_Q4_1: 15, GGML_Q5_1: 31, GGML_Q2_K: 3, GGML_Q4_K: 15, GGML_Q5_K: 31}[tt]
            q[e] = 1 + (e * 7) % qmax
            if tt == GGML_Q4_1:
                blk, want = _pack_q4_1(1.0, 0.0, q), q.astype(float)
            elif tt == GGML_Q5_1:
                blk, want = _pack_q5(1.0, 0.0, q), q.astype(float)
            elif tt == GGML_Q2_K:
                sc = np.arange(16) % 15 + 1
                blk = _pack_q2_k(1.0, 0.0, sc, np.zeros(16, int), q)
                want = q * np.repeat(sc, 16).astype(float)
            else:
                sc = np.arange(8) * 9 % 63 + 1
                pack = _pack_q4_k if tt == GGML_Q4_K else _pack_q5_k
                blk = pack(1.0, 0.0, sc, np.zeros(8, int), q)
                want = q * np.repeat(sc, 32).astype(float)
            got = dequantize(np.frombuffer(blk, np.uint8), tt, nel)
            good = good and np.array_equal(got, want) and np.count_nonzero(got) == 1
        single_ok[tt] = check("%s one quant at a time (all %d)" % (GGML_TYPES[tt][0], nel), good)
    # a scale / min at a time for the K-quants: only its sub-block changes
    good = True
    for j in range(16):
        for is_min in (False, True):
            sc, mn = np.zeros(16, int), np.zeros(16, int)
            (mn if is_min else sc)[j] = 1 + j % 15
            got = dequantize(np.frombuffer(_pack_q2_k(1.0, 1.0, sc, mn, np.ones(256, int)), np.uint8), GGML_Q2_K, 256)
            want = np.zeros(256)
            want[16 * j:16 * j + 16] = -(1 + j % 15) if is_min else (1 + j % 15)
            good = good and np.array_equal(got, want)
    check("Q2_K one scale/min at a time", good)
    for tt, pack in ((GGML_Q4_K, _pack_q4_k), (GGML_Q5_K, _pack_q5_k)):
        good = True
        for j in range(8):
            for is_min in (False, True):
                for v in (1, 17, 42, 63):  # 6-bit values with different top bits
                    sc, mn = np.zeros(8, int), np.zeros(8, int)
                    (mn if is_min else sc)[j] = v
                    got = dequantize(np.frombuffer(pack(1.0, 1.0, sc, mn, np.ones(256, int)), np.uint8), tt, 256)
                    want = np.zeros(256)
                    want[32 * j:32 * j + 32] = -v if is_min else v
                    good = good and np.array_equal(got, want)
        check("%s one scale/min at a time" % GGML_TYPES[tt][0], good)
    good = True
    for j in range(16):
        for v in (-32, -17, -1, 1, 15, 16, 31):
            sc = np.zeros(16, int)
            sc[j] = v
            got = dequantize(np.frombuffer(_pack_q3_k(1.0, sc, np.ones(256, int)), np.uint8), GGML_Q3_K, 256)
            want = np.zeros(256)
            want[16 * j:16 * j + 16] = v
            good = good and np.array_equal(got, want)
    check("Q3_K one scale at a time", good)
    good = True
    for j in range(16):
        for v in (-128, -5, 1, 127):
            sc = np.zeros(16, int)
            sc[j] = v
            got = dequantize(np.frombuffer(_pack_q6_k(1.0, sc, np.ones(256, int)), np.uint8), GGML_Q6_K, 256)
            want = np.zeros(256)
            want[16 * j:16 * j + 16] = v
            good = good and np.array_equal(got, want)
    check("Q6_K one scale at a time", good)
    # one quant at a time for the signed-offset types: a block of "zero" quants plus one at e
    for tt, nel, zero, top in ((GGML_Q5_0, 32, 16, 32), (GGML_Q3_K, 256, 0, 4), (GGML_Q6_K, 256, 0, 32)):
        good = True
        for e in range(nel):
            q = np.full(nel, zero)
            q[e] = (zero + 1 + e * 5) % top if tt == GGML_Q5_0 else ((e * 5) % (2 * top)) - top
            if tt == GGML_Q5_0:
                blk, want = _pack_q5(1.0, None, q), (q - 16).astype(float)
            elif tt == GGML_Q3_K:
                blk, want = _pack_q3_k(1.0, np.ones(16, int), q), q.astype(float)
            else:
                blk, want = _pack_q6_k(1.0, np.ones(16, int), q), q.astype(float)
            got = dequantize(np.frombuffer(blk, np.uint8), tt, nel)
            good = good and np.array_equal(got, want)
        check("%s one quant at a time (all %d)" % (GGML_TYPES[tt][0], nel), good)
    # random multi-block round trip through the element-wise packers, every type
    for tt in (GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1,
               GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K):
        nel = GGML_TYPES[tt][1] * 5
        data, want = _rand_quant(tt, nel, rng)
        got = dequantize(np.frombuffer(data, np.uint8), tt, nel)
        check("%s random 5 blocks vs packer" % GGML_TYPES[tt][0], len(data) == 5 * GGML_TYPES[tt][2]
              and np.array_equal(got, want))

    kvs = [
        ("general.architecture", T_STR, "test"),
        ("general.alignment", T_U32, 64),
        ("k.u8", T_U8, 250), ("k.i8", T_I8, -5), ("k.u16", T_U16, 65000), ("k.i16", T_I16, -300),
        ("k.u32", T_U32, 4000000000), ("k.i32", T_I32, -7), ("k.f32", T_F32, 1.5), ("k.bool", T_BOOL, True),
        ("k.u64", T_U64, 2 ** 63 + 5), ("k.i64", T_I64, -2 ** 40), ("k.f64", T_F64, 0.1),
        ("k.str", T_STR, "h\u00e9llo \u2581"),
        ("k.arr_i32", T_ARR, (T_I32, [1, -2, 3])),
        ("k.arr_str", T_ARR, (T_STR, ["a", "", "\u2581b"])),
        ("k.arr_nested", T_ARR, (T_ARR, [(T_U8, [1, 2]), (T_STR, ["x"])])),
        ("k.arr_empty", T_ARR, (T_F32, [])),
    ]
    tensors = [
        ("a.f32", [3, 2], GGML_F32, f32.tobytes()),
        ("b.f16", [32, 2], GGML_F16, f16.tobytes()),
        ("c.bf16", [32], GGML_BF16, bf16.tobytes()),
        ("d.q8", [32, 2], GGML_Q8_0, q8),
        ("e.q4", [64], GGML_Q4_0, q4),
    ]
    qexpect = {}
    for i, tt in enumerate((GGML_Q4_1, GGML_Q5_0, GGML_Q5_1, GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K)):
        blk = GGML_TYPES[tt][1]
        ne = [2 * blk, 3]  # 3 rows of 2 blocks
        data, want = _rand_quant(tt, 6 * blk, rng)
        name = "q%d.%s" % (i, GGML_TYPES[tt][0].lower())
        tensors.append((name, ne, tt, data))
        qexpect[name] = want.reshape(3, 2 * blk)
    tensors.append(("z.unsupported", [32], 20, b"\0" * 18))  # IQ4_NL: not handled here
    with tempfile.TemporaryDirectory() as td:
        for version in (2, 3):
            p = os.path.join(td, "t%d.gguf" % version)
            _write_gguf(p, version, kvs, tensors, alignment=64)
            g = GGUFFile(p)
            check("v%d version" % version, g.version == version)
            check("v%d data start aligned" % version, g.data_start % 64 == 0 and g.data_start >= g.info_end)
            check("v%d scalars" % version, g.kv["k.u8"] == 250 and g.kv["k.i8"] == -5 and g.kv["k.u16"] == 65000
                  and g.kv["k.i16"] == -300 and g.kv["k.u32"] == 4000000000 and g.kv["k.i32"] == -7
                  and g.kv["k.f32"] == 1.5 and g.kv["k.bool"] is True and g.kv["k.u64"] == 2 ** 63 + 5
                  and g.kv["k.i64"] == -2 ** 40 and g.kv["k.f64"] == 0.1)
            check("v%d string" % version, g.kv["k.str"] == "h\u00e9llo \u2581")
            check("v%d arrays" % version, list(g.kv["k.arr_i32"]) == [1, -2, 3]
                  and g.kv["k.arr_str"] == ["a", "", "\u2581b"]
                  and list(g.kv["k.arr_nested"][0]) == [1, 2] and g.kv["k.arr_nested"][1] == ["x"]
                  and len(g.kv["k.arr_empty"]) == 0)
            check("v%d F32 shape/values" % version, g.tensor("a.f32").shape == (2, 3)
                  and np.array_equal(g.tensor("a.f32").reshape(-1), f32.astype(float)))
            check("v%d F16" % version, np.array_equal(g.tensor("b.f16").reshape(-1), f16.astype(float)))
            check("v%d BF16" % version, np.array_equal(g.tensor("c.bf16"), bf_vals.astype(float)))
            check("v%d Q8_0" % version, np.array_equal(g.tensor("d.q8").reshape(-1), q8_expect))
            check("v%d Q4_0" % version, np.array_equal(g.tensor("e.q4"), q4_expect))
            for name, want in qexpect.items():
                t = g.tensors[name]
                check("v%d %s (%d bytes)" % (version, GGML_TYPES[t.type][0], t.nbytes),
                      t.nbytes == 6 * GGML_TYPES[t.type][2] and np.array_equal(g.tensor(name), want))
            try:
                g.tensor("z.unsupported")
                refused = False
            except GGUFError:
                refused = True
            check("v%d unsupported type refused" % version, refused)
    with tempfile.TemporaryDirectory() as td:
        ok = _selftest_synthetic_llama(td, check, kquants=False) and ok
        ok = _selftest_synthetic_llama(td, check, kquants=True) and ok
        for arch in ("qwen2", "qwen3", "phi3"):
            ok = _selftest_synthetic_arch(td, check, arch) and ok
    print("selftest-format:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def _selftest_synthetic_llama(td, check, kquants=False):
    """A tiny random llama GGUF (mixed weight types, GQA, partial rope, linear rope scaling) run through
    LlamaRef and through a plain loop implementation.  kquants=False: row length 32, F32/F16/BF16/Q8_0/Q4_0,
    tied output.  kquants=True: row length 256, every other quantised type (Q4_1 .. Q6_K), output.weight."""
    import os
    rng = np.random.default_rng(7)
    if kquants:
        E, H, KV, D, F, NL, NV, NROT = 256, 4, 2, 64, 256, 2, 50, 48
        mag = 0.06
    else:
        E, H, KV, D, F, NL, NV, NROT = 32, 4, 2, 8, 40, 2, 50, 6
        mag = 0.3
    base, factor, eps = 5000.0, 2.0, 1e-6
    tensors, dense = [], {}
    tag = "tiny llama%s" % (" (k-quants)" if kquants else "")

    def add(name, ne, tt):
        n = int(np.prod(ne))
        if GGML_TYPES[tt][1] > 1:
            data, val = _rand_quant(tt, n, rng, mag)
        elif tt == GGML_F16:
            v = (rng.standard_normal(n) * 0.2).astype("<f2")
            data, val = v.tobytes(), v.astype(np.float64)
        elif tt == GGML_BF16:
            v32 = (rng.standard_normal(n) * 0.2).astype(np.float32)
            u = (v32.view(np.uint32) >> 16).astype("<u2")
            data, val = u.tobytes(), (u.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            v = (1.0 + rng.standard_normal(n) * 0.1).astype("<f4")
            data, val = v.tobytes(), v.astype(np.float64)
        tensors.append((name, ne, tt, data))
        dense[name] = val.reshape(tuple(reversed(ne)))

    if kquants:
        add("token_embd.weight", [E, NV], GGML_Q4_K)
        add("output.weight", [E, NV], GGML_Q6_K)
        # 14 matrices over 8 types: every type appears at least once
        qt = [GGML_Q4_1, GGML_Q5_0, GGML_Q5_1, GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K]
        mtypes = [[qt[(7 * i + m) % 8] for m in range(7)] for i in range(NL)]
    else:
        add("token_embd.weight", [E, NV], GGML_Q8_0)
        wtypes = [GGML_Q8_0, GGML_Q4_0, GGML_F16, GGML_BF16]
        mtypes = [[wtypes[(i + m) % 4] for m in range(4)] + [GGML_Q4_0, GGML_F16, GGML_F32] for i in range(NL)]
    add("output_norm.weight", [E], GGML_F32)
    for i in range(NL):
        b = "blk.%d." % i
        mt = mtypes[i]
        add(b + "attn_norm.weight", [E], GGML_F32)
        add(b + "attn_q.weight", [E, H * D], mt[0])
        add(b + "attn_k.weight", [E, KV * D], mt[1])
        add(b + "attn_v.weight", [E, KV * D], mt[2])
        add(b + "attn_output.weight", [H * D, E], mt[3])
        add(b + "ffn_norm.weight", [E], GGML_F32)
        add(b + "ffn_gate.weight", [E, F], mt[4])
        add(b + "ffn_up.weight", [E, F], mt[5])
        add(b + "ffn_down.weight", [F, E], mt[6])
    kvs = [
        ("general.architecture", T_STR, "llama"),
        ("llama.embedding_length", T_U32, E), ("llama.block_count", T_U32, NL),
        ("llama.feed_forward_length", T_U32, F), ("llama.attention.head_count", T_U32, H),
        ("llama.attention.head_count_kv", T_U32, KV), ("llama.attention.layer_norm_rms_epsilon", T_F32, eps),
        ("llama.rope.freq_base", T_F32, base), ("llama.rope.dimension_count", T_U32, NROT),
        ("llama.rope.scaling.type", T_STR, "linear"), ("llama.rope.scaling.factor", T_F32, factor),
        ("llama.context_length", T_U32, 64),
    ]
    eps32 = float(np.float32(eps))
    base32 = float(np.float32(base))
    path = os.path.join(td, "tiny_llama%s.gguf" % ("_k" if kquants else ""))
    _write_gguf(path, 3, kvs, tensors)

    # plain loop implementation
    def naive(tokens, kv_f16):
        def rms(x, w):
            return x / math.sqrt(sum(v * v for v in x) / len(x) + eps32) * w

        def rope(vec, p):
            out = vec.copy()
            for i in range(NROT // 2):
                th = p / factor * base32 ** (-2.0 * i / NROT)
                a, b2 = vec[2 * i], vec[2 * i + 1]
                out[2 * i] = a * math.cos(th) - b2 * math.sin(th)
                out[2 * i + 1] = a * math.sin(th) + b2 * math.cos(th)
            return out

        rnd = (lambda v: float(np.float16(v))) if kv_f16 else (lambda v: v)
        kc = [[[] for _ in range(KV)] for _ in range(NL)]
        vc = [[[] for _ in range(KV)] for _ in range(NL)]
        res = []
        for p, tok in enumerate(tokens):
            x = dense["token_embd.weight"][tok].copy()
            for li in range(NL):
                b = "blk.%d." % li
                h = rms(x, dense[b + "attn_norm.weight"])
                q = dense[b + "attn_q.weight"] @ h
                k = dense[b + "attn_k.weight"] @ h
                v = dense[b + "attn_v.weight"] @ h
                for j in range(KV):
                    kj = rope(k[j * D:(j + 1) * D], p)
                    kc[li][j].append(np.array([rnd(t) for t in kj]))
                    vc[li][j].append(np.array([rnd(t) for t in v[j * D:(j + 1) * D]]))
                att = np.zeros(H * D)
                for hh in range(H):
                    j = hh // (H // KV)
                    qh = rope(q[hh * D:(hh + 1) * D], p)
                    sc = [float(qh @ kc[li][j][t]) / math.sqrt(D) for t in range(p + 1)]
                    mx = max(sc)
                    ex = [math.exp(s_ - mx) for s_ in sc]
                    z = sum(ex)
                    for t in range(p + 1):
                        att[hh * D:(hh + 1) * D] += ex[t] / z * vc[li][j][t]
                x = x + dense[b + "attn_output.weight"] @ att
                h = rms(x, dense[b + "ffn_norm.weight"])
                gt = dense[b + "ffn_gate.weight"] @ h
                up = dense[b + "ffn_up.weight"] @ h
                x = x + dense[b + "ffn_down.weight"] @ (gt / (1 + np.exp(-gt)) * up)
            x = rms(x, dense["output_norm.weight"])
            res.append(dense["output.weight" if kquants else "token_embd.weight"] @ x)
        return np.array(res)

    toks = [3, 17, 17, 49, 0, 8, 25, 11, 40, 2]
    ok = True
    for kv_f16 in (True, False):
        m = LlamaRef(path, kv_f16=kv_f16)
        ok = check("%s: %s output detected" % (tag, "separate" if kquants else "tied"), m.tied != kquants) and ok
        want = naive(toks, kv_f16)
        got_batch = np.concatenate([m.forward(toks[:4]), m.forward(toks[4:5]), m.forward(toks[5:])])
        m.reset()
        got_one = np.concatenate([m.forward([t]) for t in toks])
        e1 = float(np.max(np.abs(got_batch - want)))
        e2 = float(np.max(np.abs(got_one - want)))
        scale = float(np.max(np.abs(want)))
        ok = check("%s kv_f16=%s vs loops (%.1e, %.1e; max |logit| %.2g)" % (tag, kv_f16, e1, e2, scale),
                   e1 < 1e-9 * max(1.0, scale) and e2 < 1e-9 * max(1.0, scale)) and ok
    # an unknown tensor must be refused
    if kquants:
        return ok
    p2 = os.path.join(td, "tiny_llama_extra.gguf")
    _write_gguf(p2, 3, kvs, tensors + [("blk.0.attn_q.bias", [H * D], GGML_F32, b"\0" * (4 * H * D))])
    try:
        LlamaRef(p2)
        refused = False
    except GGUFError:
        refused = True
    ok = check("%s: unknown tensor refused" % tag, refused) and ok
    return ok


def _selftest_synthetic_arch(td, check, arch):
    """A tiny random qwen2 / qwen3 / phi3 GGUF (F32 and Q8_0 weights, GQA, partial rope) run through LlamaRef and
    through plain loops that spell out each architecture's difference element by element: bias added per output,
    RMSNorm of each head over its own D values, the NeoX pairs (i, i + n_rot/2), and the fused rows of phi3 picked
    by index (Q rows 0..HD-1, K rows HD.., V rows HD+KD..; gate rows 0..F-1, up rows F..2F-1).  Also checks that
    the file with its extra tensor removed (a bias, a norm) or with a LongRoPE tensor added is refused."""
    import os
    rng = np.random.default_rng({"qwen2": 21, "qwen3": 22, "phi3": 23}[arch])
    E, H, KV, F, NL, NV = 32, 4, 2, 64, 2, 50
    D = 16 if arch == "qwen3" else E // H  # qwen3: q_dim 64 != E
    NROT = D - 2  # partial rotary: the last two dims of each head pass through
    base, eps = 10000.0, 1e-6
    tensors, dense = [], {}

    def add(name, ne, tt, mean=0.0, sd=0.3):
        n = int(np.prod(ne))
        if tt == GGML_Q8_0:
            data, val = _rand_quant(tt, n, rng, 0.3)
        else:
            v = (mean + rng.standard_normal(n) * sd).astype("<f4")
            data, val = v.tobytes(), v.astype(np.float64)
        tensors.append((name, ne, tt, data))
        dense[name] = val.reshape(tuple(reversed(ne)))

    add("token_embd.weight", [E, NV], GGML_F32, 0.0, 1.0)
    add("output_norm.weight", [E], GGML_F32, 1.0, 0.1)
    for i in range(NL):
        b = "blk.%d." % i
        mt = GGML_Q8_0 if i == 1 else GGML_F32
        add(b + "attn_norm.weight", [E], GGML_F32, 1.0, 0.1)
        if arch == "phi3":
            add(b + "attn_qkv.weight", [E, H * D + 2 * KV * D], mt)
            add(b + "ffn_up.weight", [E, 2 * F], mt)
        else:
            add(b + "attn_q.weight", [E, H * D], mt)
            add(b + "attn_k.weight", [E, KV * D], mt)
            add(b + "attn_v.weight", [E, KV * D], mt)
            add(b + "ffn_gate.weight", [E, F], mt)
            add(b + "ffn_up.weight", [E, F], mt)
        if arch == "qwen2":
            add(b + "attn_q.bias", [H * D], GGML_F32, 0.0, 0.5)
            add(b + "attn_k.bias", [KV * D], GGML_F32, 0.0, 0.5)
            add(b + "attn_v.bias", [KV * D], GGML_F32, 0.0, 0.5)
        if arch == "qwen3":
            add(b + "attn_q_norm.weight", [D], GGML_F32, 1.0, 0.4)
            add(b + "attn_k_norm.weight", [D], GGML_F32, 1.0, 0.4)
        add(b + "attn_output.weight", [H * D, E], mt)
        add(b + "ffn_norm.weight", [E], GGML_F32, 1.0, 0.1)
        add(b + "ffn_down.weight", [F, E], mt)
    p = arch + "."
    kvs = [
        ("general.architecture", T_STR, arch),
        (p + "embedding_length", T_U32, E), (p + "block_count", T_U32, NL),
        (p + "feed_forward_length", T_U32, F), (p + "attention.head_count", T_U32, H),
        (p + "attention.head_count_kv", T_U32, KV), (p + "attention.layer_norm_rms_epsilon", T_F32, eps),
        (p + "rope.freq_base", T_F32, base), (p + "rope.dimension_count", T_U32, NROT),
        (p + "attention.key_length", T_U32, D), (p + "attention.value_length", T_U32, D),
        (p + "context_length", T_U32, 64),
    ]
    eps32 = float(np.float32(eps))
    path = os.path.join(td, "tiny_%s.gguf" % arch)
    _write_gguf(path, 3, kvs, tensors)

    def naive(tokens, kv_f16):
        def rms(x, w):
            return x / math.sqrt(sum(v * v for v in x) / len(x) + eps32) * w

        def rope(vec, pos):
            out = vec.copy()
            for i in range(NROT // 2):
                th = pos * base ** (-2.0 * i / NROT)
                a, b2 = vec[i], vec[i + NROT // 2]  # NeoX pairs
                out[i] = a * math.cos(th) - b2 * math.sin(th)
                out[i + NROT // 2] = a * math.sin(th) + b2 * math.cos(th)
            return out

        def proj(name, x, first, count):
            w = dense[name]
            return np.array([sum(w[first + r][c] * x[c] for c in range(len(x))) for r in range(count)])

        rnd = (lambda v: float(np.float16(v))) if kv_f16 else (lambda v: v)
        kc = [[[] for _ in range(KV)] for _ in range(NL)]
        vc = [[[] for _ in range(KV)] for _ in range(NL)]
        res = []
        for pos, tok in enumerate(tokens):
            x = dense["token_embd.weight"][tok].copy()
            for li in range(NL):
                b = "blk.%d." % li
                h = rms(x, dense[b + "attn_norm.weight"])
                if arch == "phi3":
                    q = proj(b + "attn_qkv.weight", h, 0, H * D)
                    k = proj(b + "attn_qkv.weight", h, H * D, KV * D)
                    v = proj(b + "attn_qkv.weight", h, H * D + KV * D, KV * D)
                else:
                    q = proj(b + "attn_q.weight", h, 0, H * D)
                    k = proj(b + "attn_k.weight", h, 0, KV * D)
                    v = proj(b + "attn_v.weight", h, 0, KV * D)
                if arch == "qwen2":
                    q = np.array([q[r] + dense[b + "attn_q.bias"][r] for r in range(H * D)])
                    k = np.array([k[r] + dense[b + "attn_k.bias"][r] for r in range(KV * D)])
                    v = np.array([v[r] + dense[b + "attn_v.bias"][r] for r in range(KV * D)])
                heads_q = [q[hh * D:(hh + 1) * D] for hh in range(H)]
                heads_k = [k[j * D:(j + 1) * D] for j in range(KV)]
                if arch == "qwen3":
                    heads_q = [rms(t, dense[b + "attn_q_norm.weight"]) for t in heads_q]
                    heads_k = [rms(t, dense[b + "attn_k_norm.weight"]) for t in heads_k]
                for j in range(KV):
                    kc[li][j].append(np.array([rnd(t) for t in rope(heads_k[j], pos)]))
                    vc[li][j].append(np.array([rnd(t) for t in v[j * D:(j + 1) * D]]))
                att = np.zeros(H * D)
                for hh in range(H):
                    j = hh // (H // KV)
                    qh = rope(heads_q[hh], pos)
                    sc = [float(qh @ kc[li][j][t]) / math.sqrt(D) for t in range(pos + 1)]
                    mx = max(sc)
                    ex = [math.exp(s_ - mx) for s_ in sc]
                    z = sum(ex)
                    for t in range(pos + 1):
                        att[hh * D:(hh + 1) * D] += ex[t] / z * vc[li][j][t]
                x = x + proj(b + "attn_output.weight", att, 0, E)
                h = rms(x, dense[b + "ffn_norm.weight"])
                if arch == "phi3":
                    gt = proj(b + "ffn_up.weight", h, 0, F)
                    up = proj(b + "ffn_up.weight", h, F, F)
                else:
                    gt = proj(b + "ffn_gate.weight", h, 0, F)
                    up = proj(b + "ffn_up.weight", h, 0, F)
                x = x + proj(b + "ffn_down.weight", gt / (1 + np.exp(-gt)) * up, 0, E)
            x = rms(x, dense["output_norm.weight"])
            res.append(dense["token_embd.weight"] @ x)
        return np.array(res)

    toks = [3, 17, 17, 49, 0, 8, 25]
    ok = True
    for kv_f16 in (True, False):
        m = LlamaRef(path, kv_f16=kv_f16)
        want = naive(toks, kv_f16)
        got = np.concatenate([m.forward(toks[:3]), m.forward(toks[3:4]), m.forward(toks[4:])])
        err = float(np.max(np.abs(got - want)))
        scale = float(np.max(np.abs(want)))
        ok = check("tiny %s kv_f16=%s vs loops (%.1e; max |logit| %.2g)" % (arch, kv_f16, err, scale),
                   err < 1e-9 * max(1.0, scale)) and ok
    # a missing architecture tensor and a LongRoPE tensor must be refused
    drop = {"qwen2": "blk.1.attn_k.bias", "qwen3": "blk.0.attn_q_norm.weight", "phi3": "blk.1.attn_qkv.weight"}[arch]
    variants = [("without %s" % drop, [t for t in tensors if t[0] != drop])]
    variants.append(("with rope_factors_long", tensors + [("rope_factors_long.weight", [NROT // 2], GGML_F32,
                                                           np.ones(NROT // 2, "<f4").tobytes())]))
    for label, ts in variants:
        p2 = os.path.join(td, "tiny_%s_bad.gguf" % arch)
        _write_gguf(p2, 3, kvs, ts)
        try:
            LlamaRef(p2)
            refused = False
        except GGUFError:
            refused = True
        ok = check("tiny %s %s refused" % (arch, label), refused) and ok
    return ok


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description="numpy float64 llama reference over GGUF")
    ap.add_argument("model", nargs="?")
    ap.add_argument("--tokens", help="comma-separated prompt token ids, e.g. 1,5,9")
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--out", help="output file (n_vocab, steps, tokens, logits)")
    ap.add_argument("--kv-f16", dest="kv_f16", action="store_true", default=True,
                    help="round K (after RoPE) and V to f16 before caching (default)")
    ap.add_argument("--no-kv-f16", dest="kv_f16", action="store_false")
    ap.add_argument("--stop-at-bos", action="store_true",
                    help="stop after the step whose pick is BOS (that step is written)")
    ap.add_argument("--print-text", action="store_true",
                    help="print prompt + continuation decoded with the GGUF vocab (BOS pick excluded)")
    ap.add_argument("--text-out", help="write the --print-text bytes to this file exactly")
    ap.add_argument("--selftest-stories", metavar="PATH")
    ap.add_argument("--selftest-format", action="store_true")
    a = ap.parse_args(argv)

    if a.selftest_format:
        return selftest_format()
    if a.selftest_stories:
        return selftest_stories(a.selftest_stories)
    if not a.model or not a.tokens:
        ap.error("MODEL and --tokens are required")
    prompt = [int(t) for t in a.tokens.split(",") if t.strip() != ""]
    if a.steps < 0:
        ap.error("--steps must be >= 0")
    t0 = time.time()
    try:
        m = LlamaRef(a.model, kv_f16=a.kv_f16)
        t1 = time.time()
        if m.n_ctx_train and len(prompt) + a.steps > m.n_ctx_train:
            print("warning: %d positions exceed context_length %d" % (len(prompt) + a.steps, m.n_ctx_train),
                  file=sys.stderr)
        picks, logits = m.generate(prompt, a.steps, stop_at_bos=a.stop_at_bos)
    except (GGUFError, ValueError, OSError) as e:
        print("llama_ref: error: %s" % e, file=sys.stderr)
        return 2
    t2 = time.time()
    if a.out:
        write_out(a.out, m.n_vocab, picks, logits)
    print("load %.2fs, generate %.2fs, %d steps" % (t1 - t0, t2 - t1, len(picks)), file=sys.stderr)
    if a.print_text or a.text_out:
        bos = m.bos_id()
        gen = picks[:-1] if a.stop_at_bos and picks and picks[-1] == bos else picks
        text = detokenize(m.g, prompt + gen)
        if a.text_out:
            open(a.text_out, "wb").write(text)
        if a.print_text:
            sys.stdout.buffer.write(text + b"\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
