#!/usr/bin/env bash
# A short libFuzzer run, in the test suite, of the harness this script is
# named after (tests/fuzz_NAME.sh runs fuzz/fuzz_NAME.c) for FUZZ_SECONDS
# (default 20) through scripts/fuzz.sh; `make fuzz` runs every harness for
# 10 minutes. Exit 77 (SKIP) without clang's libFuzzer.
#   tests/fuzz_NAME.sh ECOINFER_BINARY [SHARED_DIR]
name="$(basename "$0" .sh)"
exec bash "$(dirname "$0")/../scripts/fuzz.sh" -t "${FUZZ_SECONDS:-${ECO_FUZZ_SECONDS:-20}}" \
  -b "$(dirname "${1:?usage: $0 ECOINFER_BINARY [SHARED_DIR]}")" -s "${2:-}" "$name"
