#!/bin/sh
# Fetches llama.cpp's source tree (no build) from npm's node-llama-cpp package,
# which carries it as a git bundle (llama/gitRelease.bundle): its vocab-only
# GGUF files with test vectors (models/ggml-vocab-*.gguf + .inp/.out) and its
# chat templates (models/templates) are test data for ecoinfer's tokenizer and
# Jinja interpreter. Nothing from it is copied into ecoinfer.
#
# Usage: scripts/fetch-llama-src.sh [DIR]
#   DIR defaults to ~/.cache/ecoinfer/llama.cpp; prints DIR/src. Does nothing
#   when DIR/src exists. NODE_LLAMA_CPP_VERSION picks the package version
#   (default 3.22.1, as scripts/build-llama-bench.sh).
set -eu

version=${NODE_LLAMA_CPP_VERSION:-3.22.1}
dir=${1:-${HOME:-/tmp}/.cache/ecoinfer/llama.cpp}
if [ -d "$dir/src/models" ]; then
  echo "$dir/src"
  exit 0
fi
for tool in npm git tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "fetch-llama-src: $tool is required" >&2; exit 1; }
done
mkdir -p "$dir"
cd "$dir"
tmp=$(mktemp -d "$dir/fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && tgz=$(npm pack --silent "node-llama-cpp@$version") &&
  tar xzf "$tgz" package/llama/gitRelease.bundle) >&2
git -c advice.detachedHead=false clone -q "$tmp/package/llama/gitRelease.bundle" "$tmp/src"
mv "$tmp/src" "$dir/src"
echo "$dir/src"
