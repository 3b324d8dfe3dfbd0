#!/usr/bin/env bash
# `ecoinfer directive evaluate` against real nodes: a `serve --replay` node
# answers every prompt at every level with the Sprout artifact's recordings,
# a `serve --replay --replay-judge` node judges the pairs (both orders). The
# verdicts must reproduce the artifact's labels, land in the SQLite store,
# and come out as training data that `directive train` reads.
#   tests/directive_evaluate.sh ECOINFER_BINARY SHARED_DIR
set -uo pipefail
bin="${1:?}"; shared="${2:-}"
# shellcheck source=tests/helpers/replay_nodes.sh
source "$(dirname "$0")/helpers/replay_nodes.sh"
replay_nodes_wait

# eight labelled prompts whose three recorded answers differ, with their labels
python3 - "$data" "$work" <<'PY'
import json, sys
d, w = sys.argv[1], sys.argv[2]
q = json.load(open(d + "/quality_summary_2000.json"))
files = {"mmlu": "mmlu_5000", "triviaqa": "triviaqa_5000", "alpaca": "alpaca_5000", "math": "math_all"}
out, labels = open(w + "/prompts.jsonl", "w"), {}
for ds, f in files.items():
    ans = [json.load(open("%s/responses/%s/%s_%s.json" % (d, ds, f, v))) for v in ("13b", "brief_13b", "brief+_13b")]
    by = [{e["instruction"]: e["output"] for e in a} for a in ans]
    n = 0
    for e in q[ds]:
        t = e["instruction"]
        if n == 2 or t in labels: break
        outs = [b.get(t) for b in by]
        if None in outs or len(set(outs)) < 3: continue
        out.write(json.dumps({"prompt": t, "label": ds}) + "\n")
        labels[t] = e["assistance_lvl"]; n += 1
json.dump(labels, open(w + "/labels.json", "w"))
PY
"$bin" directive evaluate --prompts "$work/prompts.jsonl" --gen "http://127.0.0.1:$gport" \
  --gen-model replay-llama-2-13b-chat --gen-ecoinfer --judge "http://127.0.0.1:$jport" --judge-model replay-judge \
  --verdicts "$work/v.db" --train-out "$work/train.jsonl" >"$work/out.txt" 2>"$work/err.txt" \
  || { cat "$work/err.txt"; fail "evaluate exit $?"; }
cat "$work/out.txt"
grep -q "8 prompts judged, 8 decided" "$work/out.txt" || fail "not every prompt decided"
[[ "$(sqlite3 "$work/v.db" 'select count(*) from verdicts where preferred >= 0')" == 8 ]] || fail "store"
# each level's energy is the recording's, as the generator's receipts said
e="$(sqlite3 "$work/v.db" 'select energy_j from verdicts limit 1')"
python3 -c "import json,sys; e=json.loads(sys.argv[1]); assert len(e)==3 and all(x>0 for x in e), e" "$e" \
  || fail "energy per level: $e"
python3 - "$work" <<'PY' || fail "verdicts differ from the labels"
import json, sys
w = sys.argv[1]
labels = json.load(open(w + "/labels.json"))
rows = [json.loads(l) for l in open(w + "/train.jsonl")]
assert len(rows) == 8, rows
for r in rows:
    assert r["preferred"] == labels[r["prompt"]], (r["prompt"][:60], r["preferred"], labels[r["prompt"]])
    assert "energy_j" not in r, r   # the API reports no time per level: no cost arrays
print("verdicts match the artifact's labels")
PY
# the training data is what `directive train` reads (a verdict line has no class label: the
# trainer needs labelled prompts too, so it is checked by the parser here)
python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$work/train.jsonl" || fail "jsonl"
# bad settings: exit 2, nothing written
out="$("$bin" directive evaluate --prompts "$work/prompts.jsonl" 2>&1)"; rc=$?
[[ $rc -eq 2 && "$out" == *"--gen URL"* ]] || fail "missing endpoints: rc $rc: $out"
echo "PASS"
