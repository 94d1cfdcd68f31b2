#!/usr/bin/python3
"""Independent float64 numpy reference for the llama forward pass over GGUF files.

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
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0, GGML_BF16 = 0, 1, 2, 8, 30
GGML_TYPES = {
    GGML_F32: ("F32", 1, 4),
    GGML_F16: ("F16", 1, 2),
    GGML_Q4_0: ("Q4_0", 32, 18),
    GGML_Q8_0: ("Q8_0", 32, 34),
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

_Q8_0_DT = np.dtype([("d", "<f2"), ("qs", "i1", (32,))])
_Q4_0_DT = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
assert _Q8_0_DT.itemsize == 34 and _Q4_0_DT.itemsize == 18


def dequantize(raw, ttype, n):
    raw = np.asarray(raw, dtype=np.uint8)
    if ttype == GGML_F32:
        return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float64)
    if ttype == GGML_F16:
        return np.frombuffer(raw, dtype="<f2", count=n).astype(np.float64)
    if ttype == GGML_BF16:
        u = np.frombuffer(raw, dtype="<u2", count=n).astype(np.uint32) << 16
        return u.view(np.float32).astype(np.float64)
    if ttype == GGML_Q8_0:
        b = np.frombuffer(raw, dtype=_Q8_0_DT, count=n // 32)
        d = b["d"].astype(np.float64)[:, None]
        return (d * b["qs"].astype(np.float64)).reshape(-1)
    if ttype == GGML_Q4_0:
        b = np.frombuffer(raw, dtype=_Q4_0_DT, count=n // 32)
        d = b["d"].astype(np.float64)[:, None]
        qs = b["qs"]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float64)  # elements 0..15, 16..31
        return (d * (q - 8.0)).reshape(-1)
    raise GGUFError("unsupported ggml type %d" % ttype)


# --------------------------------------------------------------------------
# llama model
# --------------------------------------------------------------------------

class LlamaRef:
    def __init__(self, path, kv_f16=True):
        g = GGUFFile(path)
        self.g = g
        self.kv_f16 = kv_f16
        arch = g.get("general.architecture")
        if arch != "llama":
            raise GGUFError("general.architecture is %r, not 'llama'" % (arch,))
        p = "llama."

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
            self.layers.append(dict(
                attn_norm=W(b + "attn_norm.weight", [E]),
                wq=W(b + "attn_q.weight", [E, H * D]),
                wk=W(b + "attn_k.weight", [E, KV * D]),
                wv=W(b + "attn_v.weight", [E, KV * D]),
                wo=W(b + "attn_output.weight", [H * D, E]),
                ffn_norm=W(b + "ffn_norm.weight", [E]),
                w_gate=W(b + "ffn_gate.weight", [E, F]),
                w_up=W(b + "ffn_up.weight", [E, F]),
                w_down=W(b + "ffn_down.weight", [F, E]),
            ))
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
        """x: (T, heads, head_dim); pos: (T,) ints.  GGML mode 0 (adjacent pairs)."""
        theta = (pos.astype(np.float64) * self.freq_scale)[:, None] * self.inv_freq[None, :]  # (T, n_rot/2)
        c = np.cos(theta)[:, None, :]
        s = np.sin(theta)[:, None, :]
        out = x.copy()
        x0 = x[:, :, 0:self.n_rot:2]
        x1 = x[:, :, 1:self.n_rot:2]
        out[:, :, 0:self.n_rot:2] = x0 * c - x1 * s
        out[:, :, 1:self.n_rot:2] = x0 * s + x1 * c
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
            q = (h @ ly["wq"].T).reshape(T, H, D)
            k = (h @ ly["wk"].T).reshape(T, KV, D)
            v = (h @ ly["wv"].T).reshape(T, KV, D)
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
    with tempfile.TemporaryDirectory() as td:
        ok = _selftest_synthetic_llama(td, check) and ok
    print("selftest-format:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def _selftest_synthetic_llama(td, check):
    """A tiny random llama GGUF (mixed weight types, GQA, partial rope, linear rope scaling,
    tied output) run through LlamaRef and through a plain loop implementation."""
    import os
    rng = np.random.default_rng(7)
    E, H, KV, D, F, NL, NV, NROT = 32, 4, 2, 8, 40, 2, 50, 6
    base, factor, eps = 5000.0, 2.0, 1e-6
    tensors, dense = [], {}

    def add(name, ne, tt):
        n = int(np.prod(ne))
        if tt == GGML_Q8_0:
            d = (rng.random(n // 32) * 0.02 + 0.005).astype("<f2")
            q = rng.integers(-127, 128, size=(n // 32, 32)).astype(np.int8)
            data = b"".join(_f16_bytes(d[i]) + q[i].tobytes() for i in range(n // 32))
            val = (d.astype(np.float64)[:, None] * q).reshape(-1)
        elif tt == GGML_Q4_0:
            d = (rng.random(n // 32) * 0.05 + 0.01).astype("<f2")
            q = rng.integers(0, 16, size=(n // 32, 32)).astype(np.uint8)
            data = b"".join(_f16_bytes(d[i]) + (q[i, :16] | (q[i, 16:] << 4)).astype(np.uint8).tobytes()
                            for i in range(n // 32))
            val = (d.astype(np.float64)[:, None] * (q.astype(np.float64) - 8)).reshape(-1)
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

    add("token_embd.weight", [E, NV], GGML_Q8_0)
    add("output_norm.weight", [E], GGML_F32)
    wtypes = [GGML_Q8_0, GGML_Q4_0, GGML_F16, GGML_BF16]
    for i in range(NL):
        b = "blk.%d." % i
        add(b + "attn_norm.weight", [E], GGML_F32)
        add(b + "attn_q.weight", [E, H * D], wtypes[(i + 0) % 4])
        add(b + "attn_k.weight", [E, KV * D], wtypes[(i + 1) % 4])
        add(b + "attn_v.weight", [E, KV * D], wtypes[(i + 2) % 4])
        add(b + "attn_output.weight", [H * D, E], wtypes[(i + 3) % 4])
        add(b + "ffn_norm.weight", [E], GGML_F32)
        add(b + "ffn_gate.weight", [E, F], GGML_Q4_0)
        add(b + "ffn_up.weight", [E, F], GGML_F16)
        add(b + "ffn_down.weight", [F, E], GGML_F32)
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
    path = os.path.join(td, "tiny_llama.gguf")
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
            res.append(dense["token_embd.weight"] @ x)  # tied output
        return np.array(res)

    toks = [3, 17, 17, 49, 0, 8, 25, 11, 40, 2]
    ok = True
    for kv_f16 in (True, False):
        m = LlamaRef(path, kv_f16=kv_f16)
        ok = check("tiny llama: tied output detected", m.tied) and ok
        want = naive(toks, kv_f16)
        got_batch = np.concatenate([m.forward(toks[:4]), m.forward(toks[4:5]), m.forward(toks[5:])])
        m.reset()
        got_one = np.concatenate([m.forward([t]) for t in toks])
        e1 = float(np.max(np.abs(got_batch - want)))
        e2 = float(np.max(np.abs(got_one - want)))
        ok = check("tiny llama kv_f16=%s vs loops (%.1e, %.1e)" % (kv_f16, e1, e2), e1 < 1e-9 and e2 < 1e-9) and ok
    # an unknown tensor must be refused
    p2 = os.path.join(td, "tiny_llama_extra.gguf")
    _write_gguf(p2, 3, kvs, tensors + [("blk.0.attn_q.bias", [H * D], GGML_F32, b"\0" * (4 * H * D))])
    try:
        LlamaRef(p2)
        refused = False
    except GGUFError:
        refused = True
    ok = check("tiny llama: unknown tensor refused", refused) and ok
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
