#!/usr/bin/env python3
"""tokenizer_text.py — the text of the tokenizer benchmark (`make bench`, bench/run.sh): a few MB of deterministic,
varied text, so encode throughput is measured on what tokenizers meet: English prose, source code with indentation,
numbers and dates, runs of spaces, tabs and blank lines, and non-ASCII text (accented Latin, Greek, Cyrillic, CJK,
emoji). The same arguments give the same bytes (Python's Mersenne Twister with a fixed seed).

usage: tokenizer_text.py OUT BYTES
"""
import random
import sys

SEED = 11

WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her she there would their we him been has when who will more no if out so said what up its about into "
    "than them can only other new some could time these two may then do first any my now such like our over man me "
    "even most made after also did many before must through back years where much your way well down should because "
    "each just those people how too little state good very make world still own see men work long get here between "
    "both life being under never day same another know while last might us great old year off come since against go "
    "came right used take three states himself few house use during without again place american around however home "
    "small found thought went say part once general high upon school every does got united left number course war "
    "until always away something fact though water less public put think almost hand enough far took head yet "
    "government system better set told nothing night end why called didn't eyes find going look asked later knew "
    "point next program city business give group toward young let room president side social given present several "
    "order national possible rather second face per among form important often things looked early white case john "
    "become large big need four within felt along children saw best church ever least power development light"
).split()

IDENTIFIERS = (
    "buffer count index value result offset length token tokens scratch plan context model vocab merges piece "
    "pieces error status bytes total slot hash key entry node next prev left right score rank id ids text"
).split()

NON_ASCII = [
    "café", "naïve", "Über", "façade", "jalapeño", "coöperate", "résumé", "Ærøskøbing", "São Paulo", "Kraków",
    "Привет, как дела?", "Москва — столица России.", "Καλημέρα κόσμε", "Η γλώσσα είναι όμορφη.",
    "你好，世界！", "我们今天去公园散步。", "東京は日本の首都です。", "안녕하세요, 반갑습니다.",
    "שלום עולם", "مرحبا بالعالم", "नमस्ते दुनिया", "🙂", "🚀 launch", "👍🏽", "✓ done", "€12,50", "½ cup", "±3 °C",
]


def sentence(rng):
    n = rng.randint(5, 18)
    words = [rng.choice(WORDS) for _ in range(n)]
    words[0] = words[0].capitalize()
    if rng.random() < 0.15:
        words.insert(rng.randrange(1, n), rng.choice(NON_ASCII))
    if rng.random() < 0.2:
        words.insert(rng.randrange(1, n), str(rng.randint(2, 2024)))
    text = " ".join(words)
    if rng.random() < 0.2:
        i = text.rfind(" ", 0, len(text) // 2)
        if i > 0:
            text = text[:i] + "," + text[i:]
    return text + rng.choice([".", ".", ".", "?", "!", ":", ";"])


def prose(rng):
    return " ".join(sentence(rng) for _ in range(rng.randint(2, 7))) + "\n\n"


def code(rng):
    lines = []
    name = rng.choice(IDENTIFIERS) + "_" + rng.choice(IDENTIFIERS)
    args = ", ".join(f"int {rng.choice(IDENTIFIERS)}" for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.5:
        lines.append(f"static int {name}({args}) {{")
        for _ in range(rng.randint(2, 8)):
            depth = rng.randint(1, 3)
            a, b = rng.choice(IDENTIFIERS), rng.choice(IDENTIFIERS)
            stmt = rng.choice(
                [
                    f"{a} += {b} * {rng.randint(0, 255)};",
                    f"if ({a} > {b}) return -{rng.randint(1, 9)};",
                    f"for (int i = 0; i < {a}; i++) {b}[i] = 0x{rng.randint(0, 65535):04x};",
                    f'snprintf(buf, sizeof buf, "%d: %s\\n", {a}, "{rng.choice(WORDS)}");',
                    f"/* {sentence(rng)} */",
                ]
            )
            lines.append("    " * depth + stmt)
        lines.append("}")
    else:
        lines.append(f"def {name}(self, {', '.join(rng.sample(IDENTIFIERS, 2))}):")
        lines.append(f'    """{sentence(rng)}"""')
        for _ in range(rng.randint(2, 8)):
            depth = rng.randint(1, 3)
            a, b = rng.choice(IDENTIFIERS), rng.choice(IDENTIFIERS)
            stmt = rng.choice(
                [
                    f"{a} = [{b} for {b} in range({rng.randint(1, 100)})]",
                    f"if {a} is None:",
                    f"return {{'{a}': {b}, 'n': {rng.random():.4f}}}",
                    f"# {sentence(rng)}",
                    f"{a}.append(f'{{{b}!r}}')",
                ]
            )
            lines.append("    " * depth + stmt)
    return "\n".join(lines) + "\n\n"


def numbers(rng):
    items = []
    for _ in range(rng.randint(4, 12)):
        items.append(
            rng.choice(
                [
                    f"{rng.randint(1900, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    f"{rng.uniform(-1000, 1000):.3f}",
                    f"{rng.randint(0, 10**12):,}",
                    f"+1 ({rng.randint(200, 999)}) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
                    f"0x{rng.getrandbits(32):08X}",
                    f"{rng.randint(0, 100)}%",
                    f"v{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
                ]
            )
        )
    sep = rng.choice([", ", " | ", "\t", "  ", "\n"])
    return sep.join(items) + "\n"


def whitespace(rng):
    parts = []
    for _ in range(rng.randint(3, 8)):
        parts.append(" " * rng.randint(2, 24) + rng.choice(WORDS))
        parts.append(rng.choice(["\n", "\n\n\n", "\t\t", "\r\n", "   \n", "\t \t"]))
    return "".join(parts)


def foreign(rng):
    return " ".join(rng.choice(NON_ASCII) for _ in range(rng.randint(3, 10))) + "\n"


KINDS = [(prose, 50), (code, 25), (numbers, 10), (foreign, 10), (whitespace, 5)]


def generate(size):
    rng = random.Random(SEED)
    makers = [k for k, w in KINDS for _ in range(w)]
    out, n = [], 0
    while n < size:
        block = rng.choice(makers)(rng).encode("utf-8")
        out.append(block)
        n += len(block)
    # Cut at `size` bytes; a character the cut splits is dropped (the text stays valid UTF-8).
    return b"".join(out)[:size].decode("utf-8", "ignore").encode("utf-8")


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    data = generate(int(sys.argv[2]))
    with open(sys.argv[1], "wb") as f:
        f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
