#!/usr/bin/env bash
# Differential check of the hand-written pre-tokenizers against regex engines
# (scripts/pretok_diff.py). Exits 77 (skip) without python3 + the regex module.
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
python3 -c 'import regex' 2>/dev/null || { echo "SKIP: python3 regex module not installed"; exit 77; }
cc="${CC:-cc}"
command -v "$cc" >/dev/null 2>&1 || { echo "SKIP: no C compiler"; exit 77; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$cc" -std=c17 -O1 -I"$here/src" "$here/scripts/pretok_driver.c" "$here/src/engine/tok_pretok.c" \
  "$here/src/engine/tok_unicode.c" -o "$work/driver" || { echo "FAIL: driver does not build"; exit 1; }
python3 "$here/scripts/pretok_diff.py" "$work/driver" 20000
