#!/usr/bin/env bash
# `make demo` end to end, short: no network (the synthetic model of `bench synth`), every
# lever (routing, directives per request, batching, a deferred Batch API job), the
# dashboard URL, and the ledger's table of carbon per request by lever at the end.
#   tests/demo_smoke.sh ECOINFER_BINARY [SHARED_DIR]
set -euo pipefail
BIN=$1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for t in curl jq; do
  command -v "$t" >/dev/null || { echo "SKIP: demo_smoke needs $t"; exit 77; }
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
out="$tmp/demo.out"
unset ECOINFER_MODEL ECOINFER_CONFIG ECOINFER_CARBON_PROVIDER
if ! XDG_CACHE_HOME="$tmp/cache" XDG_DATA_HOME="$tmp/data" ECOINFER_MODEL_DIR="$tmp/models" \
  ECOINFER_DEMO_OFFLINE=1 ECOINFER_DEMO_ROUNDS=2 TMPDIR="$tmp" \
  bash "$ROOT/scripts/demo.sh" "$BIN" >"$out" 2>&1; then
  cat "$out"
  echo "FAIL: scripts/demo.sh exited non-zero"
  exit 1
fi
cat "$out"
for want in "GIBBERISH" "bench synth" "dashboard (live while the demo runs): http://127.0.0.1:" \
  "== 1. routing" "== 2. directives" "== 3. batching" "== 4. shifting" "completed after" \
  "savings by lever" "baseline (greedy, no directive)" "saved by routing" "saved by directives" \
  "saved by shifting" "net saved"; do
  grep -qF -- "$want" "$out" || { echo "FAIL: the demo's output lacks '$want'"; exit 1; }
done
# the lever table is the last table, and every request carries the router's facts
tail -n 12 "$out" | grep -q "savings by lever" || { echo "FAIL: the lever table is not last"; exit 1; }
grep -E '^\(([0-9]+) of \1 requests carry' "$out" >/dev/null ||
  { echo "FAIL: some requests lack the router's facts"; exit 1; }
echo "demo_smoke: ok"
