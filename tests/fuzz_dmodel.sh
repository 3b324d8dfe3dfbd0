#!/usr/bin/env bash
# Short, bounded libFuzzer run of the directive model loader and the
# training-record parser (fuzz/fuzz_dmodel.c), seeded with a real (small)
# model file and training lines. Usage: tests/fuzz_dmodel.sh ecoinfer-binary
# Exit 77 (skip) when clang or its libFuzzer runtime is unavailable.
# FUZZ_SECONDS (default 20) bounds the run. A crashing input is kept in
# tests/fixtures/dmodel/ as a regression case.
set -uo pipefail
bin="${1:?usage: fuzz_dmodel.sh ecoinfer-binary}"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v clang >/dev/null 2>&1 || { echo "SKIP: clang not found"; exit 77; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >"$work/probe.c"
if ! clang -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" >/dev/null 2>&1; then
  echo "SKIP: clang has no libFuzzer runtime (install libclang-rt-dev)"; exit 77
fi
flags=(-std=c17 -D_GNU_SOURCE -I"$src/src" -g -O1
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
d="$src/src/directive"
clang "${flags[@]}" "$src/fuzz/fuzz_dmodel.c" "$d/classify.c" "$d/dmodel.c" "$d/dmodel_io.c" \
  "$d/dtrain.c" "$d/assign.c" "$d/plan.c" "$d/live.c" "$src/src/util/status.c" "$src/src/util/rand.c" \
  "$src/src/util/fs.c" $(pkg-config --cflags --libs jansson libcrypto) -lglpk -lm \
  -o "$work/fuzz_dmodel" || { echo "FAIL: harness does not build"; exit 1; }
mkdir -p "$work/corpus"
# seeds: a tiny real model (2 classes, 2^8 features) and training lines
cat >"$work/train.jsonl" <<'JSONL'
{"prompt":"Which river is the longest?","label":"trivia","preferred":1,"energy_j":[30,10,8],"time_s":[3,1,0.8]}
{"prompt":"Which city hosts the Louvre?","label":"trivia","preferred":2,"energy_j":[20,9,7],"time_s":[2,1,0.7]}
{"prompt":"Tom has 3 apples and eats one. How many are left?","label":"maths","preferred":0,"energy_j":[40,20,9],"time_s":[4,2,0.9]}
{"prompt":"A train goes 60 km in 2 hours. How fast is it?","label":"maths","preferred":0,"energy_j":[50,20,9],"time_s":[5,2,0.9]}
JSONL
"$bin" directive train --input "$work/train.jsonl" --hash-bits 8 --inner-folds 0 \
  --output "$work/seed.ecd" >/dev/null || { echo "FAIL: cannot train the seed model"; exit 1; }
{ printf '\000'; cat "$work/seed.ecd"; } >"$work/corpus/model"
{ printf '\001'; cat "$work/seed.ecd"; } >"$work/corpus/model_resealed"
n=0
while IFS= read -r line; do
  n=$((n + 1)); { printf '\002'; printf '%s' "$line"; } >"$work/corpus/line$n"
done <"$work/train.jsonl"
printf '\002{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"preferred":1}' \
  >"$work/corpus/messages"
for f in "$src"/tests/fixtures/dmodel/*; do [ -f "$f" ] && cp "$f" "$work/corpus/"; done
secs="${FUZZ_SECONDS:-20}"
ASAN_OPTIONS=detect_leaks=1 "$work/fuzz_dmodel" -max_total_time="$secs" -max_len=8192 \
  -timeout=10 -rss_limit_mb=1024 -artifact_prefix="$work/" -print_final_stats=1 \
  "$work/corpus" >"$work/log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  tail -40 "$work/log"
  mkdir -p "$src/tests/fixtures/dmodel"
  for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [ -f "$a" ] && cp "$a" "$src/tests/fixtures/dmodel/" && echo "kept $(basename "$a") in tests/fixtures/dmodel/"
  done
  exit 1
fi
grep -E '^stat::number_of_executed_units|^Done' "$work/log" | tail -2
echo "fuzz_dmodel: no crash in ${secs}s"
exit 0
