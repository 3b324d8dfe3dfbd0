#!/bin/sh
# Regenerates tests/fixtures/arch/: one tiny F16 model per architecture
# variant (`bench synth` shapes test-mistral, test-qwen3, test-gemma2,
# test-gemma3, test-phi3, test-phi4), each with llama.cpp's reference
# outputs from our dumper (scripts/llama_ref.c: 6 prompts, 32 greedy steps,
# F32 KV cache, n_ctx 512). tests/test_arch.c compares the engine with them.
#
# Usage: scripts/make-arch-fixtures.sh ECOINFER_BINARY [OUT_DIR]
#   needs the tools of scripts/build-llama-bench.sh (built if missing).
set -eu
eco=$1
root=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$root/tests/fixtures/arch}
bindir=$(dirname "$("$root/scripts/build-llama-bench.sh")")
mkdir -p "$out"
for shape in test-mistral test-qwen3 test-gemma2 test-gemma3 test-phi3 test-phi4; do
  f="$out/$shape-f16.gguf"
  "$eco" bench synth --shape "$shape" --type f16 --seed 7 -o "$f" >/dev/null
  sha=$(sha256sum "$f" | cut -d' ' -f1)
  "$bindir/ecoinfer-llama-ref" --model-sha256 "$sha" "$f" >"$f.json"
  echo "$f"
done
