#!/bin/sh
# Regenerates tests/fixtures/llama/: small F16 models of the `bench synth`
# shapes test-256 (every row width a multiple of 256) and test-128 (widths
# that are not: llama.cpp's quantizer falls back to 32-element blocks),
# quantized by llama.cpp's own llama-quantize into the mixes people
# download, each with llama.cpp's reference outputs and dequantization from
# our dumper (scripts/llama_ref.c). The F16 files are not kept.
#
# Usage: scripts/make-llama-fixtures.sh ECOINFER_BINARY [OUT_DIR]
#   needs the tools of scripts/build-llama-bench.sh (built if missing).
set -eu
eco=$1
root=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$root/tests/fixtures/llama}
bindir=$(dirname "$("$root/scripts/build-llama-bench.sh")")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
for shape in test-256 test-128; do
  "$eco" bench synth --shape "$shape" --type f16 --seed 7 -o "$tmp/$shape-f16.gguf" >/dev/null
  for mix in Q4_K_M Q5_K_M Q3_K_M Q2_K IQ4_XS IQ4_NL Q5_0 Q5_1 Q6_K Q8_0 Q4_0; do
    lower=$(echo "$mix" | tr 'A-Z' 'a-z')
    f="$out/$shape-$lower.gguf"
    "$bindir/llama-quantize" "$tmp/$shape-f16.gguf" "$f" "$mix" 1 >"$tmp/quantize.log" 2>&1 ||
      { cat "$tmp/quantize.log" >&2; exit 1; }
    sha=$(sha256sum "$f" | cut -d' ' -f1)
    "$bindir/ecoinfer-llama-ref" --dequant --dequant-values 8 --model-sha256 "$sha" "$f" >"$f.json"
    echo "$f"
  done
done

# mixes.json: the type llama-quantize (--dry-run) picks for every tensor of
# the real shapes in every mix, which tests/test_synth_mix.c compares with
# `bench synth`'s choice.
py=$(command -v python3) || { echo "make-llama-fixtures: python3 is required" >&2; exit 1; }
for shape in smollm2-135m qwen2.5-0.5b llama3.2-1b tinyllama-1.1b; do
  "$eco" bench synth --shape "$shape" --type f16 -o "$tmp/$shape-f16.gguf" >/dev/null
  for mix in Q4_K_M Q5_K_M Q3_K_M Q2_K IQ4_XS IQ4_NL Q5_0 Q5_1 Q6_K Q8_0 Q4_0; do
    echo "== $shape $mix"
    "$bindir/llama-quantize" --dry-run "$tmp/$shape-f16.gguf" "$mix" 1 2>&1 | grep '^\['
  done
  rm -f "$tmp/$shape-f16.gguf"
done >"$tmp/dry-run.txt"
"$py" - "$tmp/dry-run.txt" "$out/mixes.json" <<'PY'
import json, re, sys
mixes, cur = {}, None
for line in open(sys.argv[1]):
    if line.startswith('== '):
        shape, mix = line.split()[1:3]
        cur = mixes.setdefault(shape, {}).setdefault(mix.lower(), {})
        continue
    m = re.match(r'\[\s*\d+/\s*\d+\]\s+(\S+)\s+- \[.*?\], type =\s+(\S+), size = .*?(?:\((\w+)\))?\s*$', line)
    if m:
        cur[m.group(1)] = (m.group(3) or m.group(2)).upper()
json.dump({"generator": "llama-quantize --dry-run on `ecoinfer bench synth --type f16` files "
           "(scripts/make-llama-fixtures.sh)", "mixes": mixes}, open(sys.argv[2], 'w'), separators=(',', ':'),
          sort_keys=True)
PY
echo "$out/mixes.json"
