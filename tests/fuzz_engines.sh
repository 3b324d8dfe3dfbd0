#!/usr/bin/env bash
# Short, bounded libFuzzer run of the parsers of foreign engines' and agents' answers
# (fuzz/fuzz_engines.c). Usage: tests/fuzz_engines.sh [ecoinfer-binary] [shared-dir]
# Exit 77 (skip) when clang or its libFuzzer runtime is unavailable.
# FUZZ_SECONDS (default 5) bounds the run.
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v clang >/dev/null 2>&1 || { echo "SKIP: clang not found"; exit 77; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >"$work/probe.c"
if ! clang -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" >/dev/null 2>&1; then
  echo "SKIP: clang has no libFuzzer runtime (install libclang-rt-dev)"; exit 77
fi
flags=(-std=c17 -D_GNU_SOURCE -DECO_VERSION='"fuzz"' -I"$src/src" -g -O1
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
clang "${flags[@]}" "$src/fuzz/fuzz_engines.c" "$src/src/router/engines.c" \
  "$src/src/router/agent_pick.c" "$src/src/util/promtext.c" "$src/src/accounting/wire.c" \
  $(pkg-config --cflags --libs jansson) -lm -o "$work/fuzz_engines"
# Seed corpus: the recorded answers (first byte: which parser).
mkdir -p "$work/corpus"
fx="$src/tests/fixtures/engines"
seed() { { printf "\\$(printf '%03o' "$1")"; cat "$2"; } >"$work/corpus/$3"; }
seed 0 "$fx/vllm-metrics.txt" prom
seed 1 "$fx/llama-cpp-slots-busy.json" slots
seed 2 "$fx/llama-cpp-metrics.txt" lmetrics
seed 3 "$fx/vllm-v0-metrics.txt" vmetrics
seed 4 "$fx/ollama-ps.json" ps
seed 5 "$fx/llama-cpp-chat.json" usage
seed 5 "$fx/ollama-chat-native.json" native
secs="${FUZZ_SECONDS:-5}"
ASAN_OPTIONS=detect_leaks=1 "$work/fuzz_engines" -max_total_time="$secs" -max_len=4096 \
  -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 "$work/corpus" 2>&1 | tail -n 15
echo "fuzz_engines: no crash in ${secs}s"
