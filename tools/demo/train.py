#!/usr/bin/python3
"""train.py — trains snug's bundled demo model: a small Llama on generated children's stories.

Steps (each writes into --work, default build/demo-train/; a finished step is reused when its file exists):
  1. corpus.txt     stories from tools/demo/corpus.py (deterministic, seeded)
  2. tokenizer      a SentencePiece BPE vocabulary trained on the corpus: byte fallback, identity normalisation,
                    dummy-prefix space, unk=0 bos=1 eos=2 (the layout llama.cpp's "llama" tokenizer expects)
  3. tokens.bin     every story encoded as BOS, pieces, EOS (uint16)
  4. training       Llama blocks (RMSNorm, RoPE on adjacent pairs, grouped-query attention, SwiGLU, tied output)
                    with AdamW; progress (step, loss, elapsed, ETA) on stderr
  5. --dump         weights and vocabulary in the raw format tools/demo/export.c reads (tools/demo/README.md)
  6. --golden       torch's own greedy continuation of a fixed prompt, with the weights rounded to F16 as the GGUF
                    stores them, plus tokenizer samples: what tests/test_demo.c compares snug with

The conventions are snug's (and llama.cpp's) for the llama architecture: RoPE rotates the pairs (x[2i], x[2i+1]) by
pos * base^(-2i/head_dim); query head h uses key/value head h / (n_head / n_head_kv); RMSNorm is
x / sqrt(mean(x^2) + eps) * w with the eps written into the GGUF. Linear weights are (out, in) row-major, which is a
GGUF tensor of ne = [in, out] with the same bytes.

Needs Debian's python3-torch and python3-sentencepiece (nothing in snug's build, tests or runtime does). The bundled
model (models/README.md) was made with:
    make build/demo-export
    nice -n 5 /usr/bin/python3 tools/demo/train.py --minutes 25 --dump build/demo-train/demo.bin \
        --golden models/snug-demo-stories.golden
    build/demo-export build/demo-train/demo.bin models/snug-demo-stories.gguf
"""
import argparse
import math
import os
import struct
import sys
import time

# On a machine shared with other work, threads that spin while waiting for each other steal each other's time slices
# (a training step measured 15x slower under load); sleeping waits cost little. Read by libgomp and OpenBLAS when
# torch loads them, so set before the import. torch's own intra-op threads (--threads) do the parallel work.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402

DUMP_MAGIC = b"SNUGDMP1"
# SentencePiece piece kinds → GGUF tokenizer.ggml.token_type values (llama.cpp's LLAMA_TOKEN_TYPE_*).
TYPE_NORMAL, TYPE_UNKNOWN, TYPE_CONTROL, TYPE_UNUSED, TYPE_BYTE = 1, 2, 3, 5, 6
# Strings whose SentencePiece ids the golden file records, so the test can check snug's tokenizer against them.
TOKENIZER_SAMPLES = [
    "Once upon a time",
    "Lily and Tom went to the park.",
    "\"Where is my ball?\" asked Max.",
    "The end.\nOne day, a brave little fox",
    "  two  spaces, tabs\tand 123 digits",
    "Zebras and über-cafés ☕ are not in the corpus",
]
# Where torch's two best logits are closer than this, snug's different arithmetic (f16 KV cache, other summation
# order) may pick the other token: 2 × the logit tolerance of tests/test_demo.c.
NEAR_TIE_LOGIT_GAP = 0.02


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- the model ---------------------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim, n_ctx, base):
    """cos and sin of pos * base^(-2i/head_dim), shape (n_ctx, head_dim / 2)."""
    inv = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(n_ctx, dtype=torch.float64), inv)
    return angles.cos().float(), angles.sin().float()


def rope(x, cos, sin):
    """x: (batch, time, heads, head_dim); rotates adjacent pairs (llama.cpp's "normal" mode for llama)."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.n_head, self.n_head_kv, self.head_dim = a.heads, a.kv_heads, a.dim // a.heads
        self.attn_norm = RMSNorm(a.dim, a.eps)
        self.wq = nn.Linear(a.dim, a.heads * self.head_dim, bias=False)
        self.wk = nn.Linear(a.dim, a.kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(a.dim, a.kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(a.heads * self.head_dim, a.dim, bias=False)
        self.ffn_norm = RMSNorm(a.dim, a.eps)
        self.w_gate = nn.Linear(a.dim, a.ff, bias=False)
        self.w_up = nn.Linear(a.dim, a.ff, bias=False)
        self.w_down = nn.Linear(a.ff, a.dim, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.attn_norm(x)
        q = rope(self.wq(h).view(b, t, self.n_head, self.head_dim), cos, sin).transpose(1, 2)
        k = rope(self.wk(h).view(b, t, self.n_head_kv, self.head_dim), cos, sin).transpose(1, 2)
        v = self.wv(h).view(b, t, self.n_head_kv, self.head_dim).transpose(1, 2)
        group = self.n_head // self.n_head_kv
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim)) + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, -1)
        x = x + self.wo(y)
        h = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))


class Llama(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.tok_embd = nn.Embedding(a.vocab, a.dim)
        self.blocks = nn.ModuleList([Block(a) for _ in range(a.layers)])
        self.norm = RMSNorm(a.dim, a.eps)
        cos, sin = rope_tables(a.dim // a.heads, a.ctx, a.rope_base)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.register_buffer("mask", torch.full((a.ctx, a.ctx), float("-inf")).triu(1), persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                # GPT-2 style: N(0, 0.02), residual projections scaled down by the depth.
                std = 0.02 / math.sqrt(2 * a.layers) if name.endswith(("wo.weight", "w_down.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok_embd(idx)
        for blk in self.blocks:
            x = blk(x, self.cos[:t], self.sin[:t], self.mask[:t, :t])
        return self.norm(x) @ self.tok_embd.weight.t()  # tied output


# ---- data --------------------------------------------------------------------------------------------------------

def make_corpus(a, path):
    if os.path.exists(path):
        return
    import random
    rng = random.Random(a.seed)
    t0 = time.time()
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for i in range(a.stories):
            f.write(corpus.story(rng) + "\n\n")
    os.replace(path + ".tmp", path)
    log(f"corpus: {a.stories} stories, {os.path.getsize(path)} bytes in {time.time() - t0:.1f} s")


def make_tokenizer(a, corpus_path, prefix):
    import sentencepiece as spm
    if not os.path.exists(prefix + ".model"):
        t0 = time.time()
        spm.SentencePieceTrainer.train(
            input=corpus_path, model_prefix=prefix, model_type="bpe", vocab_size=a.vocab,
            character_coverage=1.0, byte_fallback=True, normalization_rule_name="identity",
            add_dummy_prefix=True, remove_extra_whitespaces=False, split_digits=True,
            allow_whitespace_only_pieces=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
            input_sentence_size=200000, shuffle_input_sentence=True, seed_sentencepiece_size=200000,
            num_threads=a.threads, minloglevel=2)
        log(f"tokenizer: {a.vocab} pieces in {time.time() - t0:.1f} s")
    return spm.SentencePieceProcessor(model_file=prefix + ".model")


def make_tokens(a, sp, corpus_path, path):
    if not os.path.exists(path):
        t0 = time.time()
        with open(corpus_path, encoding="utf-8") as f:
            stories = f.read().split("\n\n")
        ids = []
        for ids_one in sp.encode([s.strip("\n") for s in stories if s.strip()]):
            ids.append(sp.bos_id())
            ids.extend(ids_one)
            ids.append(sp.eos_id())
        torch.tensor(ids, dtype=torch.int16).numpy().tofile(path + ".tmp")
        os.replace(path + ".tmp", path)
        log(f"tokens: {len(ids)} ({os.path.getsize(corpus_path) / len(ids):.2f} bytes a token) in "
            f"{time.time() - t0:.1f} s")
    import numpy as np
    return torch.from_numpy(np.fromfile(path, dtype=np.int16).astype(np.int64))


# ---- training ----------------------------------------------------------------------------------------------------

def lr_at(a, step, progress):
    """Linear warm-up over --warmup steps, then a cosine from --lr down to --min-lr-frac of it as progress goes 0 → 1."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    progress = min(1.0, progress)
    return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def batch(data, a, gen):
    starts = torch.randint(0, len(data) - a.ctx - 1, (a.batch,), generator=gen)
    x = torch.stack([data[s:s + a.ctx] for s in starts])
    y = torch.stack([data[s + 1:s + a.ctx + 1] for s in starts])
    return x, y


@torch.no_grad()
def evaluate(model, data, a, n_batches=8):
    gen = torch.Generator().manual_seed(1234)
    model.eval()
    losses = []
    for _ in range(n_batches):
        x, y = batch(data, a, gen)
        losses.append(F.cross_entropy(model(x).view(-1, a.vocab), y.view(-1)).item())
    model.train()
    return sum(losses) / len(losses)


def fmt_time(s):
    s = int(s)
    return f"{s // 60}:{s % 60:02d}"


def train(a, model, train_data, val_data):
    """--steps steps, or with --minutes as many as fit in that wall time (the schedule follows the elapsed fraction of
    it, so the run ends on schedule however busy the machine is). Returns (seconds, steps, [(step, loss, val)])."""
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(a.seed)
    budget = a.minutes * 60 if a.minutes else None
    t0 = time.time()
    smooth = None
    history = []
    step = 0
    while True:
        elapsed = time.time() - t0
        if (budget and elapsed >= budget) or (not budget and step >= a.steps):
            break
        lr = lr_at(a, step, (elapsed / budget) if budget else (step - a.warmup) / max(1, a.steps - a.warmup))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch(train_data, a, gen)
        loss = F.cross_entropy(model(x).view(-1, a.vocab), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        smooth = loss.item() if smooth is None else 0.9 * smooth + 0.1 * loss.item()
        step += 1
        elapsed = time.time() - t0
        last = (budget and elapsed >= budget) or (not budget and step == a.steps)
        if step % a.log_every == 0 or last:
            eta = max(0.0, budget - elapsed) if budget else elapsed / step * (a.steps - step)
            total = f"{step:5d}" if budget else f"{step:5d}/{a.steps}"
            line = (f"step {total}  loss {smooth:.4f}  lr {lr:.2e}  elapsed {fmt_time(elapsed)}  "
                    f"ETA {fmt_time(eta)}  {step * a.batch * a.ctx / elapsed:.0f} tok/s")
            if step % a.eval_every == 0 or last:
                val = evaluate(model, val_data, a)
                history.append((step, smooth, val))
                line += f"  val {val:.4f}"
            log(line)
    return time.time() - t0, step, history


# ---- outputs -----------------------------------------------------------------------------------------------------

def vocab_entries(sp):
    for i in range(sp.get_piece_size()):
        if sp.is_unknown(i):
            kind = TYPE_UNKNOWN
        elif sp.is_control(i):
            kind = TYPE_CONTROL
        elif sp.is_byte(i):
            kind = TYPE_BYTE
        elif sp.is_unused(i):
            kind = TYPE_UNUSED
        else:
            kind = TYPE_NORMAL
        yield sp.id_to_piece(i).encode("utf-8"), sp.get_score(i), kind


def gguf_tensors(model, a):
    """(GGUF name, tensor) in the order the exporter writes them."""
    yield "token_embd.weight", model.tok_embd.weight
    for l, b in enumerate(model.blocks):
        for name, t in [("attn_norm", b.attn_norm.weight), ("attn_q", b.wq.weight), ("attn_k", b.wk.weight),
                        ("attn_v", b.wv.weight), ("attn_output", b.wo.weight), ("ffn_norm", b.ffn_norm.weight),
                        ("ffn_gate", b.w_gate.weight), ("ffn_up", b.w_up.weight), ("ffn_down", b.w_down.weight)]:
            yield f"blk.{l}.{name}.weight", t
    yield "output_norm.weight", model.norm.weight


def write_dump(path, a, model, sp, description):
    def string(f, b):
        f.write(struct.pack("<I", len(b)))
        f.write(b)

    with open(path + ".tmp", "wb") as f:
        f.write(DUMP_MAGIC)
        f.write(struct.pack("<7I", a.vocab, a.dim, a.layers, a.heads, a.kv_heads, a.ff, a.ctx))
        f.write(struct.pack("<2f", a.eps, a.rope_base))
        f.write(struct.pack("<3i", sp.bos_id(), sp.eos_id(), sp.unk_id()))
        string(f, a.name.encode("utf-8"))
        string(f, description.encode("utf-8"))
        for piece, score, kind in vocab_entries(sp):
            string(f, piece)
            f.write(struct.pack("<fi", score, kind))
        tensors = list(gguf_tensors(model, a))
        f.write(struct.pack("<I", len(tensors)))
        for name, t in tensors:
            t = t.detach().float().contiguous()
            string(f, name.encode("ascii"))
            ne = list(reversed(t.shape))  # GGUF order: the row length first
            f.write(struct.pack("<I", len(ne)))
            f.write(struct.pack(f"<{len(ne)}Q", *ne))
            f.write(t.numpy().astype("<f4").tobytes())
    os.replace(path + ".tmp", path)
    log(f"dump: {path} ({os.path.getsize(path)} bytes)")


def escape(s):
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


@torch.no_grad()
def write_golden(path, a, model, sp):
    """Greedy decode by torch with every matrix rounded to F16 (norm weights stay F32, as in the GGUF)."""
    model.eval()
    for p in model.parameters():
        if p.dim() == 2:
            p.copy_(p.half().float())
    prompt_ids = [sp.bos_id()] + sp.encode(a.prompt)
    ids = list(prompt_ids)
    gaps, tops, first_logits = [], [], None
    for _ in range(a.golden_tokens):
        logits = model(torch.tensor([ids[-a.ctx:]]))[0, -1]
        if first_logits is None:
            first_logits = logits.clone()
        top = torch.topk(logits, 2)
        gaps.append(float(top.values[0] - top.values[1]))
        tops.append(float(top.values[0]))
        ids.append(int(top.indices[0]))
        if ids[-1] in (sp.eos_id(), sp.bos_id()):  # where snug run stops too
            break
    generated = ids[len(prompt_ids):]
    text = sp.decode(prompt_ids[1:] + generated)
    # The tokens before the first near tie: where snug must agree with torch token for token (tests/test_demo.c).
    safe = next((i for i, g in enumerate(gaps) if g < NEAR_TIE_LOGIT_GAP), len(gaps))
    with open(path, "w", encoding="utf-8") as f:
        f.write("# snug demo model golden file, written by tools/demo/train.py (torch + sentencepiece), read by\n"
                "# tests/test_demo.c. Greedy decode by torch, float32 math, every matrix rounded to F16 as the GGUF\n"
                "# stores it. gaps: top-1 minus top-2 logit at each generated step; top_logits: the top-1 logit there;\n"
                "# logits: all of them after the prompt.\n")
        f.write(f"prompt\t{a.prompt}\n")
        f.write("prompt_ids\t" + " ".join(map(str, prompt_ids)) + "\n")
        f.write("generated_ids\t" + " ".join(map(str, generated)) + "\n")
        f.write("gaps\t" + " ".join(f"{g:.4f}" for g in gaps) + "\n")
        f.write("top_logits\t" + " ".join(f"{v:.4f}" for v in tops) + "\n")
        f.write("logits\t" + " ".join(f"{v:.4f}" for v in first_logits.tolist()) + "\n")
        for s in TOKENIZER_SAMPLES:
            f.write("tokenize\t" + escape(s) + "\t" + " ".join(map(str, sp.encode(s))) + "\n")
        f.write(f"near_tie\t{NEAR_TIE_LOGIT_GAP}\n")
        f.write(f"tokens_until_near_tie\t{safe}\n")
        f.write("text_until_near_tie\t" + escape(sp.decode(prompt_ids[1:] + generated[:safe])) + "\n")
        f.write("text\t" + escape(text) + "\n")
    log(f"golden: {path}; greedy text:\n{text}\nsmallest top-2 gap {min(gaps):.4f}")


def main():
    ap = argparse.ArgumentParser(description="Train snug's demo model (see the file's header).")
    ap.add_argument("--work", default="build/demo-train", help="folder for corpus, tokenizer, tokens, checkpoint")
    ap.add_argument("--stories", type=int, default=40000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ff", type=int, default=704)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--rope-base", type=float, default=10000.0)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--minutes", type=float, help="train for this wall time instead of --steps")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--name", default="snug demo stories")
    ap.add_argument("--dump", help="write weights + vocabulary for tools/demo/export.c here")
    ap.add_argument("--golden", help="write torch's greedy continuation and tokenizer samples here")
    ap.add_argument("--prompt", default="Once upon a time")
    ap.add_argument("--golden-tokens", type=int, default=64)
    ap.add_argument("--no-train", action="store_true", help="load --work/model.pt instead of training (same flags)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.work, exist_ok=True)
    corpus_path = os.path.join(a.work, "corpus.txt")
    make_corpus(a, corpus_path)
    sp = make_tokenizer(a, corpus_path, os.path.join(a.work, f"spm{a.vocab}"))
    data = make_tokens(a, sp, corpus_path, os.path.join(a.work, f"tokens{a.vocab}.bin"))
    n_val = len(data) // 50
    train_data, val_data = data[:-n_val], data[-n_val:]

    model = Llama(a)
    n_params = sum(p.numel() for p in model.parameters())
    checkpoint = os.path.join(a.work, "model.pt")
    if a.no_train:
        saved = torch.load(checkpoint)
        model.load_state_dict(saved["model"])
        seconds, steps, history = saved["seconds"], saved["steps"], saved["history"]
        log(f"model: {n_params} parameters from {checkpoint}")
    else:
        length = f"{a.minutes} minutes" if a.minutes else f"{a.steps} steps"
        log(f"model: vocab {a.vocab}, dim {a.dim}, {a.layers} layers, {a.heads} heads ({a.kv_heads} KV), ff {a.ff}, "
            f"ctx {a.ctx}: {n_params} parameters; {length} of {a.batch}x{a.ctx} tokens on {a.threads} threads")
        seconds, steps, history = train(a, model, train_data, val_data)
        torch.save({"model": model.state_dict(), "seconds": seconds, "steps": steps, "history": history}, checkpoint)
    final_train, final_val = history[-1][1], history[-1][2]
    log(f"trained {steps} steps in {fmt_time(seconds)}: loss {final_train:.4f}, validation loss {final_val:.4f}")
    description = (f"snug demo: Llama trained from scratch by tools/demo/train.py on {a.stories} generated stories "
                   f"(seed {a.seed}); {steps} steps of {a.batch}x{a.ctx} tokens; train loss {final_train:.3f}, "
                   f"validation loss {final_val:.3f}")
    if a.dump:
        write_dump(a.dump, a, model, sp, description)
    if a.golden:
        write_golden(a.golden, a, model, sp)

if __name__ == "__main__":
    main()
