# Sourced by the shell tests that need the Sprout artifact's replay nodes
# (tests/directive_evaluate.sh, tests/router_eval_replay.sh). Expects $bin (the
# ecoinfer binary) and $shared (../shared); sets $data, $work, pids, the
# cleanup trap and fail(), starts a `serve --replay` generator and a
# `serve --replay --replay-judge` judge, and sets $gport and $jport.
# SKIPs (exit 77) without the artifact or sqlite3. KEEP=1 keeps $work.
data="$shared/data/sprout"
[[ -f "$data/quality_summary_2000.json" ]] || { echo "SKIP: $data absent (the Sprout artifact)"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 missing"; exit 77; }
work="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; [[ -n "${KEEP:-}" ]] && { echo "kept $work"; return; }; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "== $f"; tail -8 "$f"; done; exit 1; }

"$bin" serve --replay "$data" --port 0 --port-file "$work/gen.ports" --no-ledger --log-level warn \
  2>"$work/gen.log" &
pids+=($!)
"$bin" serve --replay "$data" --replay-judge --port 0 --port-file "$work/judge.ports" --no-ledger \
  --log-level warn 2>"$work/judge.log" &
pids+=($!)
# wait for both ports (started above, so this overlaps with the caller's next step)
replay_nodes_wait() {
  for _ in $(seq 1 1200); do [[ -s "$work/gen.ports" && -s "$work/judge.ports" ]] && break; sleep 0.05; done
  read -r gport _ <"$work/gen.ports" || fail "generator did not start"
  read -r jport _ <"$work/judge.ports" || fail "judge did not start"
}
