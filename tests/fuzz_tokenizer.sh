#!/usr/bin/env bash
# Bounded libFuzzer run of the tokenizers and chat templates (about 20 s).
# Builds the harness with clang -fsanitize=fuzzer; exits 77 (skip) when that
# is unavailable. Real vocabularies come from the shared folder when present.
# A crashing input is kept in tests/fixtures/tokenizer/ as a regression case.
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
clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -I"$src" \
  "$here/fuzz/fuzz_tokenizer.c" "$src/engine/tokenizer.c" "$src/engine/tok_load.c" \
  "$src/engine/tok_pretok.c" "$src/engine/tok_unicode.c" "$src/engine/chat.c" \
  "$src/engine/chat_jinja.c" "$src"/jinja/*.c \
  "$src/engine/gguf.c" "$src/util/status.c" "$src/util/strbuf.c" "$src/util/utf8.c" "$src/util/log.c" \
  -ljansson -lm -o "$work/fuzz_tokenizer" || { echo "FAIL: harness does not build"; exit 1; }
mkdir -p "$work/corpus"
cp "$here"/tests/fixtures/tokenizer/* "$work/corpus/" 2>/dev/null
# seeds: the upstream test strings, with a few selector bytes in front
if [ -f "$shared/models/ggml-vocab-gpt-2.gguf.inp" ]; then
  i=0
  for sel in 00 01 09 11 19 21 02 03 04 f0; do
    { printf "\\x$sel"; head -c 1500 "$shared/models/ggml-vocab-gpt-2.gguf.inp"; } >"$work/corpus/seed$i"
    i=$((i + 1))
  done
fi
printf '\x00Hello world' >"$work/corpus/hello"
[ -d "$shared/models" ] && export ECO_FUZZ_SHARED="$shared"
"$work/fuzz_tokenizer" -max_total_time="$secs" -max_len=1024 -rss_limit_mb=2048 \
  -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  tail -40 "$work/log"
  mkdir -p "$here/tests/fixtures/tokenizer"
  for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [ -f "$a" ] && cp "$a" "$here/tests/fixtures/tokenizer/" && echo "kept $(basename "$a") in tests/fixtures/tokenizer/"
  done
  exit 1
fi
grep -E '^Done|#[0-9]+.*DONE' "$work/log" | tail -1
echo "fuzz_tokenizer: no crash in ${secs}s"
exit 0
