#!/usr/bin/env bash
# `ecoinfer replay` end to end, short: two arms of real `serve --replay`
# nodes behind real routers (directives vs greedy without), six trace hours
# of GB on a compressed clock, held-out fold 0 of sim sprout's split. Checks
# that every request got an answer with a receipt on the ledger, that every
# answer was priced at its own hour's intensity, that the directive arm used
# the brief levels and cost less, and that bad settings fail with a message.
#   tests/replay_cli.sh ECOINFER_BINARY SHARED_DIR
set -uo pipefail
bin="${1:?}"; shared="${2:-}"
data="$shared/data/sprout"
[[ -f "$data/quality_summary_2000.json" ]] || { echo "SKIP: $data absent (the Sprout artifact)"; exit 77; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# bad settings: exit 2 with a message, nothing started
out="$("$bin" replay --data "$work/none" 2>&1)"; rc=$?
[[ $rc -eq 2 && "$out" == *"no Sprout artifact"* ]] || fail "missing data: rc $rc: $out"
out="$("$bin" replay --data "$data" --fold 5 --folds 5 2>&1)"; rc=$?
[[ $rc -eq 2 && "$out" == *"--fold"* ]] || fail "bad fold: rc $rc: $out"
out="$("$bin" replay --data "$data" --policy nope 2>&1)"; rc=$?
[[ $rc -eq 2 && "$out" == *"unknown --policy"* ]] || fail "bad policy: rc $rc: $out"

# --inner-folds 0: in-sample group statistics (quicker fits), in the model and the sim alike
"$bin" replay --data "$data" --region GB --hours 6 --per-hour 4 --hour-s 0.4 --nodes 1 \
  --inner-folds 0 --warmup 25 --work "$work/run" --summary "$work/sum.json" >"$work/out.txt" 2>"$work/err.txt"
rc=$?
cat "$work/out.txt"
[[ $rc -eq 0 ]] || { cat "$work/err.txt"; for f in "$work"/run/*/*.log; do echo "== $f"; tail -5 "$f"; done; fail "replay exit $rc"; }
python3 - "$work/sum.json" <<'PY' || fail "summary checks"
import json, sys
s = json.load(open(sys.argv[1]))
pol, base = s["arms"]
for a in (pol, base):
    assert a["sent"] == 24 and a["ok"] == 24 and a["failed"] == 0, a
    assert a["ledger_rows"] == 24, a            # every answer has its receipt on the ledger
    assert a["intensity_mismatches"] == 0, a    # priced at its own trace hour
    assert abs(a["ledger_total_g"] - a["answers_total_g"]) < 1e-9 * max(1, a["ledger_total_g"]), a
assert base["level_shares"][0] == 1.0, base     # greedy, no directives: level 0 only
assert pol["level_shares"][0] < 1.0, pol        # the router's plan used the brief levels
assert 0 < s["reduction_pct"] < 100, s
assert abs(s["reduction_pct"] - 100 * (1 - pol["ledger_total_g"] / base["ledger_total_g"])) < 1e-6
print("replay ok: reduction %.2f %% (sim lp on the fold %.2f %%)" % (s["reduction_pct"], s["sim_reduction_pct"]))
PY
grep -q "reduction vs greedy" "$work/out.txt" || fail "no reduction line"
# the receipts name the replay backend
if command -v sqlite3 >/dev/null; then
  src="$(sqlite3 "$work/run/policy/node0.db" 'select distinct energy_source from receipts' 2>/dev/null)"
  [[ "$src" == "replay:sprout-a100" ]] || fail "energy source in the ledger: $src"
fi
echo "PASS"
