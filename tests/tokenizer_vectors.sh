#!/usr/bin/env bash
# The tokenizers against llama.cpp's own test vectors: every vocab-only GGUF in
# llama.cpp's source tree (models/ggml-vocab-*.gguf with .inp texts and .out
# ids, from Hugging Face tokenizers) is loaded and each text encoded
# (scripts/tok_vectors.c). The source tree is fetched from npm's node-llama-cpp
# package when absent (scripts/fetch-llama-src.sh; ECO_NO_FETCH=1 skips that).
# Vocabularies ecoinfer must match are listed below; the ones it does not load
# yet must say so with a reason. Exits 77 (skip) when the vectors are unavailable.
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
src="${ECO_LLAMA_CPP_SRC:-${HOME:-/root}/.cache/ecoinfer/llama.cpp/src}"
if [ ! -d "$src/models" ] && [ -z "${ECO_NO_FETCH:-}" ] && [ -z "${ECO_LLAMA_CPP_SRC:-}" ]; then
  echo "llama.cpp's source is absent: fetching it (scripts/fetch-llama-src.sh)"
  "$here/scripts/fetch-llama-src.sh" >/dev/null || echo "fetch failed"
fi
if ! ls "$src"/models/ggml-vocab-*.gguf.inp >/dev/null 2>&1; then
  echo "SKIP: llama.cpp's vocab test vectors are unavailable ($src/models; npm registry unreachable or ECO_NO_FETCH set)"
  exit 77
fi
cc="${CC:-cc}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
s="$here/src"
rc=0
# every tokenizer file (tokenizer.c, tok_*.c), so a split of them needs no change here
"$cc" -std=c17 -D_GNU_SOURCE -O2 -I"$s" "$here/scripts/tok_vectors.c" "$s"/engine/tok*.c \
  "$s/engine/gguf.c" "$s/util/status.c" "$s/util/strbuf.c" "$s/util/utf8.c" "$s/util/log.c" -lm -o "$work/tv" \
  || { echo "FAIL: driver does not build"; exit 1; }
"$work/tv" "$src"/models/ggml-vocab-*.gguf | tee "$work/out"
# 98 more texts (mixed case, contractions, scripts, emoji, marks, slashes, Unicode spaces,
# random mixes) with llama.cpp's own ids (scripts/llama_tokenize_ref.c), over 8 vocabularies;
# gpt-4o (Phi-4-mini) is llama-bpe's vocabulary with that pre-tokenizer (scripts/gguf_set_pre.py)
fx="$here/tests/fixtures/tokenizer-vectors"
mkdir -p "$work/extra"
for o in "$fx"/*.out; do
  v=$(basename "$o" .out)
  if [ "$v" = gpt-4o ]; then
    python3 "$here/scripts/gguf_set_pre.py" "$src/models/ggml-vocab-llama-bpe.gguf" \
      "$work/extra/extra-$v.gguf" gpt-4o || { echo "FAIL: cannot make the gpt-4o vocabulary"; rc=1; }
  else
    ln -s "$src/models/ggml-vocab-$v.gguf" "$work/extra/extra-$v.gguf"
  fi
  cp "$fx/texts.inp" "$work/extra/extra-$v.gguf.inp"
  cp "$o" "$work/extra/extra-$v.gguf.out"
done
"$work/tv" "$work"/extra/extra-*.gguf | tee -a "$work/out"
# must match id for id (the model families of issue 16 and the other BPE/SPM vocabularies)
required="llama-spm llama-bpe qwen2 phi-3 gpt-2 command-r falcon mpt refact starcoder"
# not supported yet, with the reason printed by the loader
known_unsupported="bert-bge deepseek-coder deepseek-llm gemma-4 qwen35"
grep -q '^FAIL ' "$work/out" && rc=1
for v in $required; do
  grep -q "^ok ggml-vocab-$v.gguf " "$work/out" || { echo "FAIL: ggml-vocab-$v.gguf must match"; rc=1; }
done
for o in "$fx"/*.out; do
  v=$(basename "$o" .out)
  grep -q "^ok extra-$v.gguf " "$work/out" || { echo "FAIL: the extra texts through $v must match"; rc=1; }
done
for v in $(sed -n 's/^UNSUPPORTED ggml-vocab-\(.*\)\.gguf:.*/\1/p' "$work/out"); do
  case " $known_unsupported " in
  *" $v "*) ;;
  *) echo "note: ggml-vocab-$v.gguf is new and not supported" ;;
  esac
done
ok=$(grep -c '^ok ' "$work/out"); bad=$(grep -c '^FAIL ' "$work/out"); uns=$(grep -c '^UNSUPPORTED ' "$work/out")
echo "$ok passed, $bad failed, $uns skipped"
exit $rc
