#!/usr/bin/env bash
# Bounded libFuzzer run of the Jinja interpreter (about 20 s), seeded with the
# real chat templates (../shared/templates) and the feature templates. Builds
# the harness with clang -fsanitize=fuzzer; exits 77 (skip) when that is
# unavailable. A crashing input is kept in tests/fixtures/jinja-crash/.
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
shared="${2:-$here/../shared}"
secs="${ECO_FUZZ_SECONDS:-20}"
command -v clang >/dev/null 2>&1 || { echo "SKIP: clang not found"; exit 77; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}' >"$work/probe.c"
if ! clang -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" 2>/dev/null; then
  echo "SKIP: clang cannot link libFuzzer"; exit 77
fi
src="$here/src"
clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$src" \
  "$here/fuzz/fuzz_jinja.c" "$src"/jinja/*.c "$src/util/status.c" "$src/util/strbuf.c" \
  -ljansson -lm -o "$work/fuzz_jinja" || { echo "FAIL: harness does not build"; exit 1; }
mkdir -p "$work/corpus"
cp "$here"/tests/fixtures/jinja/*.jinja "$work/corpus/" 2>/dev/null
cp "$here"/tests/fixtures/jinja-crash/* "$work/corpus/" 2>/dev/null
if [ -d "$shared/templates" ]; then
  cp "$shared"/templates/*.jinja "$work/corpus/"
else
  echo "note: $shared/templates is absent; seeding with the feature templates only"
fi
printf '{{ messages[0].content }}' >"$work/corpus/simple"
"$work/fuzz_jinja" -max_total_time="$secs" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  tail -40 "$work/log"
  mkdir -p "$here/tests/fixtures/jinja-crash"
  for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [ -f "$a" ] && cp "$a" "$here/tests/fixtures/jinja-crash/" && echo "kept $(basename "$a") in tests/fixtures/jinja-crash/"
  done
  exit 1
fi
grep -E '^Done|#[0-9]+.*DONE' "$work/log" | tail -1
echo "fuzz_jinja: no crash in ${secs}s"
exit 0
