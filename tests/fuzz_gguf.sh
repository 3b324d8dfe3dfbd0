#!/usr/bin/env bash
# Bounded libFuzzer run of the GGUF reader (about 30 s). Builds the harness
# with clang -fsanitize=fuzzer; exits 77 (skip) when that is unavailable.
# A crashing input is left in tests/fixtures/gguf/ as a regression case.
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
shared="${2:-$here/../shared}"
secs="${ECO_FUZZ_SECONDS:-30}"
command -v clang >/dev/null 2>&1 || { echo "SKIP: clang not found"; exit 77; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}' >"$work/probe.c"
if ! clang -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" 2>/dev/null; then
  echo "SKIP: clang cannot link libFuzzer"; exit 77
fi
clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -I"$here/src" \
  "$here/fuzz/fuzz_gguf.c" "$here/src/engine/gguf.c" "$here/src/util/status.c" \
  -o "$work/fuzz_gguf" || { echo "FAIL: harness does not build"; exit 1; }
mkdir -p "$work/corpus"
cp "$here"/tests/fixtures/gguf/* "$work/corpus/" 2>/dev/null
# small real files as seeds (the header matters; cut to 64 KiB)
for f in "$shared/models/stories260K-f32.gguf" "$shared/models/test-llama-tok512-q4_k.gguf"; do
  [ -f "$f" ] && head -c 65536 "$f" >"$work/corpus/$(basename "$f").head"
done
"$work/fuzz_gguf" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 \
  -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  tail -40 "$work/log"
  for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [ -f "$a" ] && cp "$a" "$here/tests/fixtures/gguf/" && echo "kept $(basename "$a") in tests/fixtures/gguf/"
  done
  exit 1
fi
grep -E '^Done|#[0-9]+.*DONE' "$work/log" | tail -1
echo "fuzz_gguf: no crash in ${secs}s"
exit 0
