#!/usr/bin/env bash
# The router's quality loop (directive.eval) against real nodes: a `serve
# --replay` node generates (the Sprout artifact's recorded answers at every
# level, priced from the recordings), a `serve --replay --replay-judge` node
# judges pairwise from the artifact's labels, and a real `route` with the
# live directive plan samples every chat request, regenerates the other
# levels as an evaluation batch, judges, stores the verdicts and refits its
# model. Checks: every sampled request judged with the artifact's label,
# the verdicts and training lines stored, the regenerations on the router's
# ledger as kind eval, the rates in /admin/directive, the counters in
# /metrics, the model refitted and swapped in, and verdicts kept across a
# restart.
#   tests/router_eval_replay.sh ECOINFER_BINARY SHARED_DIR
set -uo pipefail
bin="${1:?}"; shared="${2:-}"
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
# shellcheck source=tests/helpers/replay_nodes.sh
source "$(dirname "$0")/helpers/replay_nodes.sh"
"$bin" directive train --sprout "$shared/data/sprout" --output "$work/d.model" --inner-folds 0 >"$work/train.log" 2>&1 \
  || fail "directive train"
replay_nodes_wait

cat >"$work/router.yaml" <<EOF
router:
  port: 0
  admin_port: 0
  policy: carbon
  health: {interval: 100ms}
  batch_api: {db: "$work/batch.db", poll: 50ms}
ledger: {path: "$work/ledger.db"}
zones: {GB: 200}
nodes:
  - {id: gen, url: "http://127.0.0.1:$gport", zone: GB, kind: ecoinfer, max_batch: 8}
directive:
  model: "$work/d.model"
  zone: GB
  eval:
    sample: 1
    judge: {url: "http://127.0.0.1:$jport", model: replay-judge, timeout: 10s}
    db: "$work/verdicts.db"
    train_out: "$work/verdicts.jsonl"
    model_out: "$work/refit.model"
    refit_every: 3
    poll: 50ms
EOF
start_router() {  # $1: the log's name (each run keeps its own)
  "$bin" route --config "$work/router.yaml" --log-level info >"$work/$1.log" 2>&1 &
  rpid=$!; pids+=($rpid)
  for _ in $(seq 1 600); do
    line="$(grep -o 'listening on http://127.0.0.1:[0-9]* (admin port [0-9]*' "$work/$1.log" 2>/dev/null)"
    [[ -n "$line" ]] && break; sleep 0.05
  done
  [[ -n "$line" ]] || fail "router did not start ($1)"
  port="$(sed 's/.*127.0.0.1:\([0-9]*\) .*/\1/' <<<"$line")"; admin="$(sed 's/.*admin port \([0-9]*\)/\1/' <<<"$line")"
}
start_router router

# six labelled prompts whose three recorded answers differ (two per dataset)
python3 - "$data" "$work" <<'PY'
import json, sys
d, w = sys.argv[1], sys.argv[2]
q = json.load(open(d + "/quality_summary_2000.json"))
files = {"triviaqa": "triviaqa_5000", "alpaca": "alpaca_5000", "mmlu": "mmlu_5000"}
labels = {}
for ds, f in files.items():
    ans = [json.load(open("%s/responses/%s/%s_%s.json" % (d, ds, f, v))) for v in ("13b", "brief_13b", "brief+_13b")]
    by = [{e["instruction"]: e["output"] for e in a} for a in ans]
    n = 0
    for e in q[ds]:
        t = e["instruction"]
        if n == 2: break
        outs = [b.get(t) for b in by]
        if t in labels or None in outs or len(set(outs)) < 3: continue
        labels[t] = e["assistance_lvl"]; n += 1
json.dump(labels, open(w + "/labels.json", "w"))
with open(w + "/bodies.jsonl", "w") as o:
    for t in labels:
        o.write(json.dumps({"model": "replay-llama-2-13b-chat", "max_tokens": 4096,
                            "messages": [{"role": "user", "content": t}]}) + "\n")
PY
while IFS= read -r body; do
  code="$(curl -s -o "$work/ans.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$body" "http://127.0.0.1:$port/v1/chat/completions")"
  [[ "$code" == 200 ]] || fail "chat: HTTP $code: $(cat "$work/ans.json")"
done <"$work/bodies.jsonl"

judged=0
for _ in $(seq 1 2400); do
  curl -s "http://127.0.0.1:$admin/admin/directive" >"$work/admin.json"
  judged="$(grep -o '"judged": *[0-9]*' "$work/admin.json" | grep -o '[0-9]*$' || echo 0)"
  [[ "$judged" -ge 6 ]] && break; sleep 0.05
done
[[ "$judged" -ge 6 ]] || fail "judged $judged of 6: $(cat "$work/admin.json")"
for _ in $(seq 1 400); do  # the last refit's swap
  curl -s "http://127.0.0.1:$admin/admin/directive" >"$work/admin.json"
  [[ "$(grep -o '"swaps": *[0-9]*' "$work/admin.json" | grep -o '[0-9]*$')" -ge 2 ]] 2>/dev/null && break
  sleep 0.05
done
python3 - "$work" <<'PY' || fail "the loop's state"
import json, sys
w = sys.argv[1]
e = json.load(open(w + "/admin.json"))["eval"]
print("eval:", {k: e[k] for k in ("sampled", "submitted", "judged", "decided", "failed", "refits", "swaps")})
assert e["sampled"] == 6 and e["judged"] == 6 and e["failed"] == 0, e
assert e["decided"] == 6, e                 # the replay judge decides every pair
assert e["refits"] >= 2 and e["swaps"] >= 2, e   # refit_every 3: after verdicts 3 and 6
assert e["last_refit"] is not None, e
assert len(e["rates"]) >= 1 and all(r["verdicts"] >= 1 for r in e["rates"].values()), e["rates"]
labels = json.load(open(w + "/labels.json"))
rows = [json.loads(l) for l in open(w + "/verdicts.jsonl")]
assert len(rows) == 6, rows
for r in rows:
    assert r["preferred"] == labels[r["prompt"]], (r["prompt"][:60], r["preferred"], labels[r["prompt"]])
print("verdicts match the artifact's labels")
PY
[[ "$(sqlite3 "$work/verdicts.db" 'select count(*) from verdicts where preferred >= 0')" == 6 ]] || fail "verdict store"
curl -s "http://127.0.0.1:$port/metrics" >"$work/metrics.txt"
grep -q '^ecoinfer_router_eval_judged_total 6$' "$work/metrics.txt" || fail "metrics: $(grep eval "$work/metrics.txt")"
"$bin" directive info "$work/refit.model" >"$work/info.txt" 2>&1 || fail "refitted model unreadable: $(cat "$work/info.txt")"
kill "$rpid"; wait "$rpid" 2>/dev/null
! grep -q "Sanitizer\|runtime error" "$work/router.log" || fail "sanitizer report in the router's log"
# the ledger: six interactive rows; as evaluation overhead, two regenerations per sample and
# the judge's requests of each sample (the judge node's receipts)
nreq="$(sqlite3 "$work/ledger.db" "select count(*) from receipts where kind = 'request'")"
neval="$(sqlite3 "$work/ledger.db" "select count(*) from receipts where kind = 'eval' and policy <> 'eval-judge'")"
njudge="$(sqlite3 "$work/ledger.db" "select count(*) from receipts where kind = 'eval' and policy = 'eval-judge' and energy_j > 0")"
[[ "$nreq" == 6 && "$neval" == 12 && "$njudge" == 6 ]] || fail "ledger: $nreq request rows, $neval regenerations, $njudge judge rows"
"$bin" report --ledger "$work/ledger.db" --by kind >"$work/report.txt" 2>&1 || fail "report: $(cat "$work/report.txt")"
grep -qi "eval" "$work/report.txt" || fail "report has no eval overhead: $(cat "$work/report.txt")"

# a restart keeps the verdicts: the model is refitted from them at once
start_router router-restart
ok=0
for _ in $(seq 1 400); do
  curl -s "http://127.0.0.1:$admin/admin/directive" >"$work/admin.json"
  [[ "$(grep -o '"swaps": *[0-9]*' "$work/admin.json" | grep -o '[0-9]*$')" -ge 1 ]] 2>/dev/null && { ok=1; break; }
  sleep 0.05
done
[[ $ok == 1 ]] || fail "no refit from the stored verdicts after a restart: $(cat "$work/admin.json")"
python3 -c "import json,sys; e=json.load(open(sys.argv[1]))['eval']; assert len(e['rates'])>=1, e" "$work/admin.json" \
  || fail "no rates after a restart"
echo "PASS"
