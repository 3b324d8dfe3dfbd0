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
