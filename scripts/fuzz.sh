#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses (fuzz/fuzz_*.c) for a set time each
# and reports crashes.
#
#   scripts/fuzz.sh [-t SECONDS] [-b BUILD_DIR] [-s SHARED_DIR] [NAME...]
#
#   -t  seconds per harness (default: $FUZZ_SECONDS, else 600)
#   -b  a built tree (make build): its libecoinfer_core.a supplies what a
#       harness does not compile itself (default: build)
#   -s  the shared data folder, for seeds (default: ../shared)
#   NAME  harnesses to run, e.g. fuzz_config (default: all of fuzz/)
#
# Each harness names, in its header comment, the sources it exercises
# ("fuzz-sources:"); those are compiled with clang's libFuzzer, ASan and
# UBSan instrumentation, everything else is linked from the library. Seeds
# come from tests/fixtures/fuzz/NAME (without the fuzz_ prefix), from the
# folders on "fuzz-seeds:" lines, and from shared files or folders given
# there as shared:PATH[:BYTES]. "fuzz-flags:" adds libFuzzer options,
# "fuzz-env:" names variables set to the shared folder. A crash, leak,
# timeout (10 s per input) or out-of-memory input is copied into
# tests/fixtures/fuzz/NAME/ (or the "fuzz-keep:" folder) so that it becomes
# a regression seed, and the run fails.
#
# Exit status: 0 no crash, 1 a crash or a harness that does not build,
# 77 clang or its libFuzzer runtime is missing (SKIP).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${FUZZ_SECONDS:-${ECO_FUZZ_SECONDS:-600}}"
build="$root/build"
shared="$root/../shared"
while getopts "t:b:s:" o; do
  case "$o" in
  t) secs="$OPTARG" ;;
  b) build="$OPTARG" ;;
  s) [ -n "$OPTARG" ] && shared="$OPTARG" ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$root"/fuzz/fuzz_*.c; do names+=("$(basename "$f" .c)"); done
fi

command -v clang >/dev/null 2>&1 || { echo "SKIP: clang not found"; exit 77; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}' \
  >"$work/probe.c"
if ! clang -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" >/dev/null 2>&1; then
  echo "SKIP: clang has no libFuzzer runtime (install libclang-rt-dev)"; exit 77
fi
lib="$build/libecoinfer_core.a"
[ -f "$lib" ] || { echo "FAIL: $lib missing: run 'make build' first"; exit 1; }
libs="$(pkg-config --libs jansson libcurl libcrypto sqlite3 libevent libevent_pthreads yaml-0.1) -lglpk -lm -ldl -lpthread"

# "key: a b c" lines of a harness's header comment, joined.
annot() { sed -n "s/^ \* $2: //p" "$1" | tr '\n' ' '; }

total_crashes=0
for name in "${names[@]}"; do
  h="$root/fuzz/$name.c"
  [ -f "$h" ] || { echo "FAIL: no harness fuzz/$name.c"; exit 1; }
  short="${name#fuzz_}"
  keep_rel="$(annot "$h" fuzz-keep | awk '{print $1}')"
  keep="$root/${keep_rel:-tests/fixtures/fuzz/$short}"
  srcs=()
  for s in $(annot "$h" fuzz-sources); do
    for g in $root/$s; do srcs+=("$g"); done # a pattern names several files
  done
  # shellcheck disable=SC2086
  if ! clang -std=c17 -D_GNU_SOURCE -DECO_VERSION='"fuzz"' -I"$root/src" -g -O1 \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "$h" "${srcs[@]}" "$lib" $libs -o "$work/$name" 2>"$work/$name.build"; then
    tail -20 "$work/$name.build"
    echo "FAIL: $name does not build"
    exit 1
  fi
  corpus="$work/$name.corpus"
  mkdir -p "$corpus"
  [ -d "$root/tests/fixtures/fuzz/$short" ] && cp "$root/tests/fixtures/fuzz/$short"/* "$corpus/" 2>/dev/null
  [ -d "$keep" ] && cp "$keep"/* "$corpus/" 2>/dev/null
  for s in $(annot "$h" fuzz-seeds); do
    case "$s" in
    shared:*)
      spec="${s#shared:}"
      f="$shared/${spec%%:*}"
      bytes="${spec#*:}"
      [ "$bytes" = "$spec" ] && bytes=""
      if [ -d "$f" ]; then
        cp "$f"/* "$corpus/" 2>/dev/null
      elif [ -f "$f" ]; then
        if [ -n "$bytes" ]; then head -c "$bytes" "$f" >"$corpus/$(basename "$f").head"; else cp "$f" "$corpus/"; fi
      fi
      ;;
    *) [ -d "$root/$s" ] && cp "$root/$s"/* "$corpus/" 2>/dev/null ;;
    esac
  done
  for v in $(annot "$h" fuzz-env); do [ -d "$shared" ] && export "$v=$shared"; done
  # shellcheck disable=SC2046
  ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" \
    "$work/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/$name-" $(annot "$h" fuzz-flags) "$corpus" >"$work/$name.log" 2>&1
  rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log" | tail -1)"
  found=0
  for a in "$work/$name"-crash-* "$work/$name"-leak-* "$work/$name"-timeout-* "$work/$name"-oom-*; do
    [ -f "$a" ] || continue
    found=$((found + 1))
    mkdir -p "$keep"
    cp "$a" "$keep/${a#"$work/$name"-}"
    echo "$name: kept ${a#"$work/$name"-} in ${keep#"$root"/}/"
  done
  if [ $rc -ne 0 ] || [ $found -gt 0 ]; then
    grep -E "ERROR|SUMMARY|==[0-9]+==|#[0-9]+ " "$work/$name.log" | tail -25
    echo "$name: CRASH after ${execs:-?} inputs (exit $rc)"
    total_crashes=$((total_crashes + (found > 0 ? found : 1)))
  else
    echo "$name: 0 crashes in ${secs}s, ${execs:-?} inputs"
  fi
done
echo "fuzz: ${#names[@]} harness(es), $total_crashes crash(es)"
[ $total_crashes -eq 0 ]
