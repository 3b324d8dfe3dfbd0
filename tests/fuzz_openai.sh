#!/usr/bin/env bash
# Short, bounded libFuzzer run of the OpenAI request parser
# (fuzz/fuzz_openai.c). Usage: tests/fuzz_openai.sh [ecoinfer-binary] [shared-dir]
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
clang "${flags[@]}" "$src/fuzz/fuzz_openai.c" "$src/src/server/openai.c" "$src/src/accounting/wire.c" \
  $(pkg-config --cflags --libs jansson) -lm -o "$work/fuzz_openai"
# Seed corpus: valid and nearly valid requests.
mkdir -p "$work/corpus"
printf '%s' '{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}' >"$work/corpus/chat"
printf '%s' '{"model":"m","prompt":"hi","max_tokens":5,"stop":["a","b"],"temperature":0.5}' >"$work/corpus/cmpl"
printf '%s' '{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"seed":1}' >"$work/corpus/parts"
secs="${FUZZ_SECONDS:-5}"
ASAN_OPTIONS=detect_leaks=1 "$work/fuzz_openai" -max_total_time="$secs" -max_len=4096 \
  -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 "$work/corpus" 2>&1 | tail -n 15
echo "fuzz_openai: no crash in ${secs}s"
