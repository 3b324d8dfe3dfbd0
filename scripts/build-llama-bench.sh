#!/bin/sh
# Builds llama.cpp's `llama-bench` (CPU only, -march=native) as the peer that
# `ecoinfer bench engine` compares against (ECO_PEER_LLAMA_BENCH).
#
# The development machines reach only Debian's and npm's registries. npm's
# node-llama-cpp package carries the llama.cpp source it was built from as a
# git bundle (llama/gitRelease.bundle), so this script takes the source from
# there; nothing from it is copied into ecoinfer.
#
# Usage: scripts/build-llama-bench.sh [DIR]
#   DIR defaults to ~/.cache/ecoinfer/llama.cpp; prints the llama-bench path.
#   NODE_LLAMA_CPP_VERSION picks the package version (default 3.22.1, whose
#   bundle is llama.cpp's "v0.5.0" release, ggml 0.25.1).
set -eu

version=${NODE_LLAMA_CPP_VERSION:-3.22.1}
dir=${1:-${HOME:-/tmp}/.cache/ecoinfer/llama.cpp}
bin="$dir/src/build/bin/llama-bench"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
for tool in npm git cmake c++; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-llama-bench: $tool is required" >&2; exit 1; }
done

mkdir -p "$dir"
cd "$dir"
if [ ! -d src ]; then
  tgz=$(npm pack --silent "node-llama-cpp@$version")
  tar xzf "$tgz" package/llama/gitRelease.bundle
  git -c advice.detachedHead=false clone -q package/llama/gitRelease.bundle src
  rm -rf package "$tgz"
fi
cmake -S src -B src/build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
cmake --build src/build --target llama-bench -j "$(nproc)" >/dev/null
echo "$bin"
