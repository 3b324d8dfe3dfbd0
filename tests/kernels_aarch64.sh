#!/usr/bin/env bash
# Runs the NEON kernels: cross-compiles tests/kernel_selfcheck.c with the
# engine's kernel sources for aarch64 (static) and runs it under qemu user
# emulation, which compares every NEON kernel with the scalar reference on
# random data (tests/helpers/kernel_checks.c). Emulation checks results, not
# speed. Skips (77) when the cross compiler or qemu-aarch64 is missing
# (scripts/install-deps.sh installs both).
# Usage: kernels_aarch64.sh [ECOINFER_BINARY] [SHARED_DIR]   (both unused)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CC=${CC_AARCH64:-aarch64-linux-gnu-gcc}
QEMU=${QEMU_AARCH64:-qemu-aarch64}
for tool in "$CC" "$QEMU"; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool not installed"
    exit 77
  fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$CC" -std=c17 -O2 -static -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation -D_GNU_SOURCE \
  -DECO_ARCH_ARM=1 -I"$root/src" -I"$root/tests/helpers" \
  "$root/tests/kernel_selfcheck.c" "$root/tests/helpers/kernel_checks.c" \
  "$root"/src/engine/{kernels,kernels_neon,kernels_x8_neon,quant,quant_k,pack,pack_x8,gguf}.c "$root"/src/util/{cpu,status}.c \
  -lm -o "$tmp/kernel_selfcheck"
# qemu's CPU has the dot-product extension: the sdot kernels are chosen;
# then the baseline NEON kernels, with the extension switched off
for dp in "" 1; do
  out=$(ECOINFER_NO_DOTPROD=$dp "$QEMU" "$tmp/kernel_selfcheck")
  echo "${dp:+without dotprod: }$out"
  grep -q "neon kernels agree" <<<"$out" || { echo "FAIL: the NEON level was not checked"; exit 1; }
done
