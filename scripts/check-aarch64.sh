#!/usr/bin/env bash
# Compiles every library source for aarch64 (Jetson-class targets) with the
# cross compiler, warnings as errors, without linking: the NEON kernels
# (*_neon.c) are included and the x86 ones (*_avx2.c, *_avx512*.c) left out,
# as CMake does on aarch64. Library headers (jansson, curl, libevent, yaml,
# glpk) are architecture-neutral and taken from the host.
# Needs gcc-aarch64-linux-gnu (scripts/install-deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC_AARCH64:-aarch64-linux-gnu-gcc}
command -v "$CC" >/dev/null || { echo "check-aarch64: $CC not installed" >&2; exit 1; }
fail=0; n=0
for f in src/*/*.c; do
  case "$f" in *_avx2.c|*_avx512.c|*_avx512vnni.c) continue ;; esac
  n=$((n + 1))
  if ! "$CC" -std=c17 -O2 -fsyntax-only -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
      -Wformat=2 -Wno-unused-parameter -Wno-format-truncation -Werror -D_GNU_SOURCE \
      -DECO_ARCH_ARM=1 -DECO_VERSION='"check"' -Isrc \
      -idirafter /usr/include -idirafter /usr/include/x86_64-linux-gnu "$f"; then
    fail=$((fail + 1))
  fi
done
if [[ $fail -ne 0 ]]; then echo "check-aarch64: $fail of $n files failed" >&2; exit 1; fi
echo "check-aarch64: $n files compile for aarch64 (NEON kernels included)"
