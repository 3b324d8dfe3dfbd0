#!/usr/bin/env python3
"""Differential check of the hand-written pre-tokenizers (src/engine/tok_pretok.c)
against regular-expression engines, on random strings.

* GPT-2, Llama-3 and Qwen2: Python's `regex` module with the exact regexes
  llama.cpp uses (true Unicode categories, as llama.cpp's dedicated matchers
  and Hugging Face tokenizers).

Usage: pretok_diff.py DRIVER [N]  (DRIVER = compiled scripts/pretok_driver.c)
Exit 0 = no mismatch, 1 = mismatch, 77 = the `regex` module is missing.
"""
import random
import subprocess
import sys
import unicodedata

try:
    import regex
except ImportError:
    print("SKIP: python3 regex module not installed")
    sys.exit(77)

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|"
          r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|"
         r"\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
WS = set([0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000] + list(range(0x2000, 0x200B)))


def collapse(ch):
    c = ord(ch)
    if c < 128:
        return ch
    if c in WS:
        return "\x0b"
    cat = unicodedata.category(ch)[0]
    return {"N": "\u00d1", "L": "\u00d0", "P": "\u00d2"}.get(cat, "\u00d0")


def split(compiled, s, orig):
    out, gap = [], 0
    for m in compiled.finditer(s):
        if m.start() > gap:
            out.append(orig[gap:m.start()])
        out.append(orig[m.start():m.end()])
        gap = m.end()
    if gap < len(s):
        out.append(orig[gap:])
    return out


def main():
    driver = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    alphabet = list("aZ\u00e9 \u00df\u0416\u4e2d\u00a0\u3000 \t\n\r'sStTrReEvVlLmMdD0123456789"
                    "\u0663\u00bd\u216b.,!?$+<=>^~|`-_()[]{}\"#@\U0001F600\u0301\u200d\u3001\u3002")
    rng = random.Random(12345)
    cases = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))) for _ in range(n)]
    checks = [("gpt2", 2, regex.compile(GPT2), False), ("llama3", 3, regex.compile(LLAMA3), False),
              ("qwen2", 4, regex.compile(QWEN2), False)]
    failed = False
    for name, pre, pat, collapsed in checks:
        inp = "\n".join(c.encode().hex() for c in cases) + "\n"
        out = subprocess.run([driver, str(pre)], input=inp, capture_output=True, text=True,
                             check=True).stdout.split("\n")
        bad = 0
        for c, r in zip(cases, out):
            mine = [bytes.fromhex(p).decode() for p in r.split("|")] if r else []
            s = "".join(collapse(ch) for ch in c) if collapsed else c
            ref = split(pat, s, c)
            if mine != ref:
                bad += 1
                if bad <= 3:
                    print(f"{name}: {c!r}\n  ours  {mine}\n  regex {ref}")
        print(f"{name}: {len(cases)} random strings, {bad} mismatches")
        failed = failed or bad > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
