#!/bin/sh
# Builds llama.cpp's tools that ecoinfer measures and checks itself against
# (CPU only, -march=native):
#   llama-bench          the peer of `ecoinfer bench engine` (ECO_PEER_LLAMA_BENCH)
#   llama-quantize       makes the real quantization mixes (Q4_K_M, IQ4_XS, ...)
#   llama-server         the peer of `ecoinfer serve` in bench_serving, and the
#                        engine a `kind: llama-cpp` router node fronts in
#                        tests/llama_server_node.sh (built without its web UI,
#                        which would be downloaded)
#   ecoinfer-llama-ref   our reference dumper (scripts/llama_ref.c) linked against
#                        libllama: llama.cpp's logits, greedy tokens and
#                        dequantization as JSON (schema: shared/reference/README.md)
#
# The development machines reach only Debian's and npm's registries. npm's
# node-llama-cpp package carries the llama.cpp source it was built from as a
# git bundle (llama/gitRelease.bundle), so this script takes the source from
# there; nothing from it is copied into ecoinfer.
#
# Usage: scripts/build-llama-bench.sh [DIR]
#   DIR defaults to ~/.cache/ecoinfer/llama.cpp; prints the llama-bench path
#   (the other tools are in the same directory). NODE_LLAMA_CPP_VERSION picks
#   the package version (default 3.22.1, whose bundle is llama.cpp's "v0.5.0"
#   release, ggml 0.25.1). Rebuilds only what is missing or out of date.
set -eu

version=${NODE_LLAMA_CPP_VERSION:-3.22.1}
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${HOME:-/tmp}/.cache/ecoinfer/llama.cpp}
bindir="$dir/src/build/bin"
ref_src="$here/llama_ref.c"
ref_bin="$bindir/ecoinfer-llama-ref"

up_to_date() {
  [ -x "$bindir/llama-bench" ] && [ -x "$bindir/llama-quantize" ] &&
    [ -x "$bindir/llama-server" ] && [ -x "$ref_bin" ] && [ ! "$ref_src" -nt "$ref_bin" ]
}
if up_to_date; then
  echo "$bindir/llama-bench"
  exit 0
fi
for tool in npm git cmake c++ cc; do
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
if [ ! -x "$bindir/llama-bench" ] || [ ! -x "$bindir/llama-quantize" ] ||
  [ ! -x "$bindir/llama-server" ] || [ ! -e "$bindir/libllama.so" ]; then
  cmake -S src -B src/build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >/dev/null
  cmake --build src/build --target llama-bench llama-quantize llama-server llama \
    -j "$(nproc)" >/dev/null
fi
commit=$(git -C src rev-parse --short HEAD 2>/dev/null || echo unknown)
cc -std=c11 -O2 -Wall -Wextra -DLLAMA_REF_COMMIT="\"$commit\"" \
  -Isrc/include -Isrc/ggml/include "$ref_src" -o "$ref_bin" \
  -L"$bindir" -lllama -lggml -lggml-base -Wl,-rpath,"$bindir"
echo "$bindir/llama-bench"
